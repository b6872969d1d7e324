//! The credential check on `aws-sdk-sts`: `GetCallerIdentity` signed with the key under test.

use async_trait::async_trait;
use aws_config::SdkConfig;
use aws_sdk_sts::Client;
use aws_sdk_sts::config::Credentials;
use rotator_core::KeyPair;
use rotator_core::ports::{CredentialCheck, PortError, PortErrorKind, PortResult};

use super::port_error;
use crate::RequestCounter;

/// Builds, for each check, an STS client that signs with the key pair under test and
/// otherwise shares the function's configuration (region, endpoint, retries).
#[derive(Debug, Clone)]
pub struct StsCredentialCheck {
    config: SdkConfig,
    requests: RequestCounter,
}

impl StsCredentialCheck {
    pub fn new(config: SdkConfig, requests: RequestCounter) -> Self {
        Self { config, requests }
    }
}

#[async_trait]
impl CredentialCheck for StsCredentialCheck {
    async fn caller_arn(&self, key: &KeyPair) -> PortResult<String> {
        let credentials = Credentials::new(
            key.access_key_id.as_str(),
            key.secret_access_key.expose(),
            None,
            None,
            "rotator-pending-key",
        );
        let config = aws_sdk_sts::config::Builder::from(&self.config)
            .credentials_provider(credentials)
            .interceptor(self.requests.clone())
            .build();
        let output = Client::from_conf(config)
            .get_caller_identity()
            .send()
            .await
            .map_err(port_error)?;
        output.arn().map(str::to_owned).ok_or_else(|| {
            PortError::new(PortErrorKind::Service, "GetCallerIdentity returned no ARN")
        })
    }
}
