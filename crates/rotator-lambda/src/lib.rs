//! The rotator's Lambda function: the AWS SDK adapters and the invocation handler.
//!
//! `main.rs` reads the configuration, builds the clients once and serves invocations;
//! everything it wires together lives here so that the emulator tests can use it too.

pub mod adapters;
pub mod handler;

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use aws_config::SdkConfig;
use rotator_core::ports::{Clock, EpochSecs};
use rotator_core::{Ports, Rotator, Settings};

use adapters::{IamAdapter, NotifierAdapter, SecretsManagerAdapter, StsCredentialCheck};

/// The wall clock, and tokio's sleep.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

#[async_trait]
impl Clock for SystemClock {
    fn now(&self) -> EpochSecs {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.as_secs())
    }

    async fn sleep(&self, duration: Duration) {
        tokio::time::sleep(duration).await;
    }
}

/// Builds the rotator with one client per service, all from `config`.
pub fn rotator(config: &SdkConfig, settings: Settings) -> Rotator {
    let ports = Ports {
        iam: Arc::new(IamAdapter::new(aws_sdk_iam::Client::new(config))),
        secrets: Arc::new(SecretsManagerAdapter::new(
            aws_sdk_secretsmanager::Client::new(config),
        )),
        credentials: Arc::new(StsCredentialCheck::new(config.clone())),
        notifier: Arc::new(NotifierAdapter::new(
            aws_sdk_sns::Client::new(config),
            aws_sdk_sesv2::Client::new(config),
            settings.alert_topic_arn.clone(),
            settings.sender_email.clone(),
        )),
        clock: Arc::new(SystemClock),
    };
    Rotator::new(ports, settings)
}
