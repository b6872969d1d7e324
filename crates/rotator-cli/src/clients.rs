//! The core's ports over the AWS SDK for the CLI: IAM (other accounts' through the member role)
//! and Secrets Manager from the standard configuration with the function's time limits, and the
//! doctor's deployment reader, every request counted.

use std::sync::Arc;

use anyhow::{Result, bail};
use async_trait::async_trait;
use rotator_aws::adapters::{
    AssumedRoleIam, DeploymentAdapter, IamAdapter, SecretsManagerAdapter, StsCredentialCheck,
};
use rotator_aws::{RequestCounter, SystemClock};
use rotator_core::Ports;
use rotator_core::ports::{Notice, Notifier, PortError, PortErrorKind, PortResult};

/// The ports from the environment's SDK configuration (`AWS_PROFILE`, `AWS_REGION`,
/// `AWS_ENDPOINT_URL`, ...), with `rotator_aws::sdk_config`'s timeouts so that an unreachable
/// endpoint fails within seconds.
pub async fn ports(requests: &RequestCounter) -> Result<Ports> {
    let config = rotator_aws::sdk_config().await;
    if config.region().is_none() {
        bail!("no AWS region is configured: set AWS_REGION (or a region in the AWS profile)");
    }
    let iam = aws_sdk_iam::config::Builder::from(&config)
        .interceptor(requests.for_service("iam"))
        .build();
    let secrets = aws_sdk_secretsmanager::config::Builder::from(&config)
        .interceptor(requests.for_service("secretsmanager"))
        .build();
    let sts = aws_sdk_sts::config::Builder::from(&config)
        .interceptor(requests.for_service("sts"))
        .build();
    Ok(Ports {
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
    })
}

/// What `rotator doctor` reads beside the ports: Lambda, SNS, SES and EventBridge Scheduler,
/// from the same configuration, every request counted.
pub async fn deployment(requests: &RequestCounter) -> Result<DeploymentAdapter> {
    let config = rotator_aws::sdk_config().await;
    let lambda = aws_sdk_lambda::config::Builder::from(&config)
        .interceptor(requests.for_service("lambda"))
        .build();
    let sns = aws_sdk_sns::config::Builder::from(&config)
        .interceptor(requests.for_service("sns"))
        .build();
    let ses = aws_sdk_sesv2::config::Builder::from(&config)
        .interceptor(requests.for_service("sesv2"))
        .build();
    let scheduler = aws_sdk_scheduler::config::Builder::from(&config)
        .interceptor(requests.for_service("scheduler"))
        .build();
    Ok(DeploymentAdapter::new(
        aws_sdk_lambda::Client::from_conf(lambda),
        aws_sdk_sns::Client::from_conf(sns),
        aws_sdk_sesv2::Client::from_conf(ses),
        aws_sdk_scheduler::Client::from_conf(scheduler),
    ))
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
