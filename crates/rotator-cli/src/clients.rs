//! The core's ports over the AWS SDK for the CLI: the SDK configuration (the global flags, else
//! the standard sources, with the function's time limits, credentials checked first), IAM (other
//! accounts' through an assumed role), Secrets Manager, and the deployment reader of `doctor`
//! and `sweep`, every request counted.

use std::error::Error;
use std::sync::Arc;

use anyhow::{Result, bail};
use async_trait::async_trait;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_sts::config::{ProvideCredentials, SharedCredentialsProvider};
use rotator_aws::adapters::{
    AssumedRoleIam, DeploymentAdapter, IamAdapter, SecretsManagerAdapter, StsCredentialCheck,
};
use rotator_aws::{RequestCounter, SystemClock};
use rotator_core::Ports;
use rotator_core::ports::{Notice, Notifier, PortError, PortErrorKind, PortResult};

use crate::cli::AwsArgs;

/// The SDK configuration: `--profile`, `--region` and `--endpoint-url` when given, else the
/// standard sources (`AWS_PROFILE`, `AWS_REGION`, `AWS_ENDPOINT_URL`, `~/.aws/config`, ...),
/// with `rotator_aws::timeouts` so that an unreachable endpoint fails within seconds. It
/// resolves the credentials once first, so that a missing profile or no credentials at all is
/// one error that says how to give them, rather than each request's failure to reach the EC2
/// instance metadata service.
pub async fn sdk_config(aws: &AwsArgs) -> Result<SdkConfig> {
    let mut loader =
        aws_config::defaults(BehaviorVersion::latest()).timeout_config(rotator_aws::timeouts());
    if let Some(profile) = &aws.profile {
        loader = loader.profile_name(profile);
    }
    if let Some(region) = &aws.region {
        loader = loader.region(Region::new(region.clone()));
    }
    if let Some(url) = &aws.endpoint_url {
        loader = loader.endpoint_url(url);
    }
    let config = loader.load().await;
    let profile = aws
        .profile
        .clone()
        .or_else(|| std::env::var("AWS_PROFILE").ok().filter(|p| !p.is_empty()));
    let Some(provider) = config.credentials_provider() else {
        bail!("{}", no_credentials(profile.as_deref(), None));
    };
    let credentials = match provider.provide_credentials().await {
        Ok(credentials) => credentials,
        // `CredentialsError::CredentialsNotLoaded`: no source of the chain had any (its
        // message lists each, down to the instance metadata service).
        Err(error) if error.to_string() == "the credential provider was not enabled" => {
            bail!("{}", no_credentials(profile.as_deref(), None))
        }
        Err(error) => bail!(
            "{}",
            no_credentials(profile.as_deref(), Some(&causes(&error)))
        ),
    };
    if config.region().is_none() {
        bail!(
            "no AWS region is configured: pass --region (such as --region eu-west-1), set \
             AWS_REGION, or give the profile a region (aws configure set region eu-west-1)"
        );
    }
    // Credentials that never expire are kept as they are; others are resolved again by the
    // clients, which refresh them before they expire.
    if credentials.expiry().is_none() {
        return Ok(config
            .to_builder()
            .credentials_provider(SharedCredentialsProvider::new(credentials))
            .build());
    }
    Ok(config)
}

/// The error when no credentials could be resolved: none found (`reason` `None`), or the
/// reason why the ones configured could not be loaded; then how to give them.
pub fn no_credentials(profile: Option<&str>, reason: Option<&str>) -> String {
    let problem = match (profile, reason) {
        (None, None) => "no AWS credentials found".to_owned(),
        (Some(profile), None) => format!(
            "no AWS credentials found for the profile {profile:?}: it is not in ~/.aws/config or \
             ~/.aws/credentials (AWS_CONFIG_FILE, AWS_SHARED_CREDENTIALS_FILE), or gives no \
             credentials (aws configure list-profiles lists them)"
        ),
        (None, Some(reason)) => format!("the AWS credentials could not be loaded ({reason})"),
        (Some(profile), Some(reason)) => {
            format!("the AWS credentials of the profile {profile:?} could not be loaded ({reason})")
        }
    };
    format!(
        "{problem}: pass --profile NAME with a profile of ~/.aws/config (aws configure; or aws \
         configure sso, then aws sso login), or set AWS_PROFILE, or AWS_ACCESS_KEY_ID and \
         AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN); aws sts get-caller-identity shows \
         whether the AWS CLI finds them"
    )
}

/// An error and its sources, each said once, joined by `: `.
fn causes(error: &(dyn Error + 'static)) -> String {
    let mut said: Vec<String> = Vec::new();
    let mut next = Some(error);
    while let Some(error) = next {
        let text = error.to_string();
        if !said.iter().any(|earlier| earlier.contains(&text)) {
            said.push(text);
        }
        next = error.source();
    }
    said.join(": ")
}

/// The ports from `config`, every request counted.
pub fn ports(config: &SdkConfig, requests: &RequestCounter) -> Ports {
    let iam = aws_sdk_iam::config::Builder::from(config)
        .interceptor(requests.for_service("iam"))
        .build();
    let secrets = aws_sdk_secretsmanager::config::Builder::from(config)
        .interceptor(requests.for_service("secretsmanager"))
        .build();
    let sts = aws_sdk_sts::config::Builder::from(config)
        .interceptor(requests.for_service("sts"))
        .build();
    Ports {
        iam: Arc::new(IamAdapter::new(aws_sdk_iam::Client::from_conf(iam))),
        members: Arc::new(AssumedRoleIam::new(
            aws_sdk_sts::Client::from_conf(sts),
            config.clone(),
            requests.clone(),
        )),
        secrets: Arc::new(SecretsManagerAdapter::new(
            aws_sdk_secretsmanager::Client::from_conf(secrets),
        )),
        credentials: Arc::new(StsCredentialCheck::new(
            config.clone(),
            requests.for_service("sts"),
        )),
        notifier: Arc::new(NoNotices),
        clock: Arc::new(SystemClock),
    }
}

/// What `rotator doctor` and `rotator sweep` read beside the ports: Lambda, SNS, SES and
/// EventBridge Scheduler, from the same configuration, every request counted.
pub fn deployment(config: &SdkConfig, requests: &RequestCounter) -> DeploymentAdapter {
    let lambda = aws_sdk_lambda::config::Builder::from(config)
        .interceptor(requests.for_service("lambda"))
        .build();
    let sns = aws_sdk_sns::config::Builder::from(config)
        .interceptor(requests.for_service("sns"))
        .build();
    let ses = aws_sdk_sesv2::config::Builder::from(config)
        .interceptor(requests.for_service("sesv2"))
        .build();
    let scheduler = aws_sdk_scheduler::config::Builder::from(config)
        .interceptor(requests.for_service("scheduler"))
        .build();
    DeploymentAdapter::new(
        aws_sdk_lambda::Client::from_conf(lambda),
        aws_sdk_sns::Client::from_conf(sns),
        aws_sdk_sesv2::Client::from_conf(ses),
        aws_sdk_scheduler::Client::from_conf(scheduler),
    )
}

/// The CLI reports on its terminal; it sends no alerts or emails.
#[derive(Debug)]
struct NoNotices;

#[async_trait]
impl Notifier for NoNotices {
    async fn alert(&self, _notice: &Notice) -> PortResult<()> {
        Err(refused())
    }

    async fn email(&self, _to: &[String], _notice: &Notice) -> PortResult<()> {
        Err(refused())
    }
}

fn refused() -> PortError {
    PortError::new(
        PortErrorKind::InvalidRequest,
        "the rotator CLI sends no notices",
    )
}
