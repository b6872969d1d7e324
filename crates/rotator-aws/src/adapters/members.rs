//! IAM in other accounts on `aws-sdk-sts` and `aws-sdk-iam`: the member role's credentials from
//! `AssumeRole`, cached per role inside the process for their lifetime.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use aws_config::SdkConfig;
use aws_sdk_iam::config::Credentials;
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
}

impl AssumedRoleIam {
    pub fn new(sts: aws_sdk_sts::Client, config: SdkConfig, requests: RequestCounter) -> Self {
        Self {
            sts,
            config,
            requests,
            cache: Mutex::new(HashMap::new()),
        }
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
