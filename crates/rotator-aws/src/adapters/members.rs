//! IAM in other accounts on `aws-sdk-sts` and `aws-sdk-iam`: the member role's credentials from
//! `AssumeRole`, cached per role inside the process for their lifetime; one `AssumeRole` per role
//! however many secrets of its account are read at once, and a refusal (never a throttle, a
//! timeout or a 5xx) remembered briefly ([`RefusalMemory`]).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use aws_config::SdkConfig;
use aws_sdk_iam::config::Credentials;
use rotator_core::accounts::RefusalMemory;
use rotator_core::ports::{Iam, MemberAccounts, PortError, PortErrorKind, PortResult};

use super::{IamAdapter, port_error};
use crate::RequestCounter;

/// The session name that CloudTrail shows for the rotator's calls in a member account.
const SESSION_NAME: &str = "iam-key-rotator";

/// Credentials are renewed this long before they expire, so that no step runs out mid-way.
const RENEW_BEFORE: Duration = Duration::from_secs(300);

/// Assumes member roles with the function's own credentials and hands out IAM clients that
/// sign with the role's.
#[derive(Debug)]
pub struct AssumedRoleIam {
    sts: aws_sdk_sts::Client,
    config: SdkConfig,
    requests: RequestCounter,
    /// The IAM client for each role ARN, with when its credentials expire.
    cache: Mutex<HashMap<String, (Arc<IamAdapter>, SystemTime)>>,
    /// One lock per role ARN: the first caller assumes the role, the others wait for its answer.
    flights: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// Roles that refused to be assumed, with the error and when it was seen.
    refused: RefusalMemory,
}

impl AssumedRoleIam {
    pub fn new(sts: aws_sdk_sts::Client, config: SdkConfig, requests: RequestCounter) -> Self {
        Self {
            sts,
            config,
            requests,
            cache: Mutex::new(HashMap::new()),
            flights: Mutex::new(HashMap::new()),
            refused: RefusalMemory::default(),
        }
    }

    /// The lock that lets one caller at a time assume `role_arn`.
    fn flight(&self, role_arn: &str) -> Arc<tokio::sync::Mutex<()>> {
        self.flights
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(role_arn.to_owned())
            .or_default()
            .clone()
    }

    fn cached(&self, role_arn: &str) -> Option<Arc<IamAdapter>> {
        let cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        let (iam, expires) = cache.get(role_arn)?;
        (SystemTime::now() + RENEW_BEFORE < *expires).then(|| iam.clone())
    }
}

#[async_trait]
impl MemberAccounts for AssumedRoleIam {
    async fn iam_as<'a>(
        &self,
        role_arn: &str,
        external_id: Option<&'a str>,
    ) -> PortResult<Arc<dyn Iam>> {
        if let Some(iam) = self.cached(role_arn) {
            return Ok(iam);
        }
        // Single flight: concurrent readers of one account's secrets wait for the first one's
        // AssumeRole instead of each sending their own.
        let flight = self.flight(role_arn);
        let _turn = flight.lock().await;
        if let Some(iam) = self.cached(role_arn) {
            return Ok(iam);
        }
        if let Some(error) = self.refused.recall(role_arn, SystemTime::now()) {
            return Err(error);
        }
        let assumed = self.assume(role_arn, external_id).await;
        if let Err(error) = &assumed {
            self.refused.remember(role_arn, error, SystemTime::now());
        }
        assumed
    }
}

impl AssumedRoleIam {
    /// One `AssumeRole`, and the IAM client that signs with its credentials, cached.
    async fn assume(&self, role_arn: &str, external_id: Option<&str>) -> PortResult<Arc<dyn Iam>> {
        let output = self
            .sts
            .assume_role()
            .role_arn(role_arn)
            .role_session_name(SESSION_NAME)
            .set_external_id(external_id.map(str::to_owned))
            .send()
            .await
            .map_err(port_error)?;
        let issued = output.credentials().ok_or_else(|| {
            PortError::new(PortErrorKind::Service, "AssumeRole returned no credentials")
        })?;
        let expires = SystemTime::try_from(*issued.expiration())
            .unwrap_or_else(|_| SystemTime::now() + Duration::from_secs(900));
        let credentials = Credentials::new(
            issued.access_key_id(),
            issued.secret_access_key(),
            Some(issued.session_token().to_owned()),
            Some(expires),
            "rotator-member-role",
        );
        let config = aws_sdk_iam::config::Builder::from(&self.config)
            .credentials_provider(credentials)
            .interceptor(self.requests.for_service("iam"))
            .build();
        let iam = Arc::new(IamAdapter::new(aws_sdk_iam::Client::from_conf(config)));
        self.cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(role_arn.to_owned(), (iam.clone(), expires));
        Ok(iam)
    }
}
