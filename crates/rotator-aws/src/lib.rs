//! The core's ports over the AWS SDK for Rust: the adapters, the clients' configuration and the
//! request counter, shared by the Lambda function and the `rotator` CLI.

pub mod adapters;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, SdkConfig};
use aws_sdk_iam::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_iam::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_iam::error::BoxError;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use rotator_core::ports::{Clock, EpochSecs};
use rotator_core::{Ports, Rotator, Settings};

use adapters::{
    AssumedRoleIam, IamAdapter, NotifierAdapter, SecretsManagerAdapter, SecurityHubAdapter,
    StsCredentialCheck,
};
use rotator_core::findings::SecurityHub;

/// The wall clock, and tokio's sleep.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

#[async_trait]
impl Clock for SystemClock {
    fn now(&self) -> EpochSecs {
        self.now_millis() / 1000
    }

    fn now_millis(&self) -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.as_millis() as u64)
    }

    async fn sleep(&self, duration: Duration) {
        tokio::time::sleep(duration).await;
    }
}

/// Counts the HTTP requests that the function's AWS clients send, retries included, and notes
/// which operations they were: each invocation logs both (`aws_requests`, `aws_operations`),
/// and the end-to-end tests compare the operations with what the deployed role grants.
#[derive(Debug, Clone, Default)]
pub struct RequestCounter {
    sent: Arc<AtomicU64>,
    operations: Arc<Mutex<BTreeSet<String>>>,
    /// The service whose client this copy is attached to (`iam`, `secretsmanager`, ...).
    service: &'static str,
}

impl RequestCounter {
    /// A copy that counts into the same totals and names its operations `service:Operation`.
    pub fn for_service(&self, service: &'static str) -> Self {
        Self {
            service,
            ..self.clone()
        }
    }

    /// The requests sent so far.
    pub fn count(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }

    /// The operations called since the last take, as `service:Operation`, sorted.
    pub fn take_operations(&self) -> Vec<String> {
        let mut operations = self.operations.lock().unwrap_or_else(|p| p.into_inner());
        std::mem::take(&mut *operations).into_iter().collect()
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
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        self.sent.fetch_add(1, Ordering::Relaxed);
        if let Some(metadata) = cfg.load::<Metadata>() {
            let operation = format!("{}:{}", self.service, metadata.name());
            self.operations
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(operation);
        }
        Ok(())
    }
}

/// Every AWS call's time limits, well inside the function's timeout: a connection within 3 s,
/// an attempt within 5 s, and the call with its retries within 20 s. A call that runs out
/// fails the step, which sends its alert while the invocation still has time.
pub fn timeouts() -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(3))
        .operation_attempt_timeout(Duration::from_secs(5))
        .operation_timeout(Duration::from_secs(20))
        .build()
}

/// The SDK configuration from the environment (region, credentials, endpoints), with the
/// function's time limits.
pub async fn sdk_config() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .timeout_config(timeouts())
        .load()
        .await
}

/// Builds the rotator with one client per service, all from `config`, all counted by `requests`.
pub fn rotator(config: &SdkConfig, settings: Settings, requests: &RequestCounter) -> Rotator {
    let iam = aws_sdk_iam::config::Builder::from(config).interceptor(requests.for_service("iam"));
    let secrets = aws_sdk_secretsmanager::config::Builder::from(config)
        .interceptor(requests.for_service("secretsmanager"));
    let sns = aws_sdk_sns::config::Builder::from(config).interceptor(requests.for_service("sns"));
    let ses =
        aws_sdk_sesv2::config::Builder::from(config).interceptor(requests.for_service("sesv2"));
    let sts = aws_sdk_sts::config::Builder::from(config).interceptor(requests.for_service("sts"));
    let ports = Ports {
        iam: Arc::new(IamAdapter::new(aws_sdk_iam::Client::from_conf(iam.build()))),
        members: Arc::new(AssumedRoleIam::new(
            aws_sdk_sts::Client::from_conf(sts.build()),
            config.clone(),
            requests.clone(),
        )),
        secrets: Arc::new(SecretsManagerAdapter::new(
            aws_sdk_secretsmanager::Client::from_conf(secrets.build()),
        )),
        credentials: Arc::new(StsCredentialCheck::new(
            config.clone(),
            requests.for_service("sts"),
        )),
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

/// Security Hub of the caller's account and region, for the sweep's findings (contract §12),
/// counted by `requests` (`securityhub:BatchImportFindings`, `securityhub:GetFindings`, and
/// `sts:GetCallerIdentity` once, for the account).
pub fn security_hub(config: &SdkConfig, requests: &RequestCounter) -> Arc<dyn SecurityHub> {
    let hub = aws_sdk_securityhub::config::Builder::from(config)
        .interceptor(requests.for_service("securityhub"));
    let sts = aws_sdk_sts::config::Builder::from(config).interceptor(requests.for_service("sts"));
    Arc::new(SecurityHubAdapter::new(
        aws_sdk_securityhub::Client::from_conf(hub.build()),
        aws_sdk_sts::Client::from_conf(sts.build()),
    ))
}
