//! The rotator's Lambda function: the AWS SDK adapters and the invocation handler.
//!
//! `main.rs` reads the configuration, builds the clients once and serves invocations;
//! everything it wires together lives here so that the emulator tests can use it too.

pub mod adapters;
pub mod handler;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use aws_config::SdkConfig;
use aws_sdk_iam::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_iam::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_iam::error::BoxError;
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

/// Counts the HTTP requests that the function's AWS clients send, retries included: each
/// invocation logs how many it made (`aws_requests`).
#[derive(Debug, Clone, Default)]
pub struct RequestCounter(Arc<AtomicU64>);

impl RequestCounter {
    /// The requests sent so far.
    pub fn count(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

impl Intercept for RequestCounter {
    fn name(&self) -> &'static str {
        "RequestCounter"
    }

    fn read_before_transmit(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        self.0.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

/// Builds the rotator with one client per service, all from `config`, all counted by `requests`.
pub fn rotator(config: &SdkConfig, settings: Settings, requests: &RequestCounter) -> Rotator {
    let iam = aws_sdk_iam::config::Builder::from(config).interceptor(requests.clone());
    let secrets =
        aws_sdk_secretsmanager::config::Builder::from(config).interceptor(requests.clone());
    let sns = aws_sdk_sns::config::Builder::from(config).interceptor(requests.clone());
    let ses = aws_sdk_sesv2::config::Builder::from(config).interceptor(requests.clone());
    let ports = Ports {
        iam: Arc::new(IamAdapter::new(aws_sdk_iam::Client::from_conf(iam.build()))),
        secrets: Arc::new(SecretsManagerAdapter::new(
            aws_sdk_secretsmanager::Client::from_conf(secrets.build()),
        )),
        credentials: Arc::new(StsCredentialCheck::new(config.clone(), requests.clone())),
        notifier: Arc::new(NotifierAdapter::new(
            aws_sdk_sns::Client::from_conf(sns.build()),
            aws_sdk_sesv2::Client::from_conf(ses.build()),
            settings.alert_topic_arn.clone(),
            settings.sender_email.clone(),
        )),
        clock: Arc::new(SystemClock),
    };
    Rotator::new(ports, settings)
}
