//! The Lambda entry point: logging, configuration and SDK clients once, then one invocation
//! after another.

use lambda_runtime::{LambdaEvent, service_fn};
use rotator_aws::RequestCounter;
use rotator_core::Settings;
use rotator_core::config::format_duration;
use rotator_lambda::handler::{Service, handle};
use rotator_lambda::metrics::Metrics;
use serde_json::Value;
use tracing_subscriber::filter::LevelFilter;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    init_logging();
    let settings = Settings::from_lookup(|name| std::env::var(name).ok()).inspect_err(|error| {
        tracing::error!(%error, "invalid configuration: the function cannot start");
    })?;
    tracing::info!(
        old_key_policy = settings.old_key_policy.as_str(),
        test_timeout_secs = settings.test_timeout.as_secs(),
        grace = format_duration(settings.grace),
        grace_max = format_duration(settings.grace_max),
        usage_lag = format_duration(settings.usage_lag),
        secret_prefix = settings.secret_prefix,
        alerts = settings.alert_topic_arn.is_some(),
        emails = settings.sender_email.is_some(),
        findings = settings.findings,
        "rotator starting"
    );
    let config = rotator_aws::sdk_config().await;
    let requests = RequestCounter::default();
    // Contract §12: the sweep imports Security Hub findings only with ROTATOR_FINDINGS=on.
    let findings = settings
        .findings
        .then(|| rotator_aws::security_hub(&config, &requests));
    let rotator = rotator_aws::rotator(&config, settings, &requests);
    let mut service = Service::new(rotator, requests, Metrics::from_env());
    if let Some(hub) = findings {
        service = service.with_findings(hub);
    }
    tracing::info!("ready for events");
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| {
        handle(&service, event)
    }))
    .await
}

/// JSON log lines for CloudWatch. The level comes from `AWS_LAMBDA_LOG_LEVEL` or `RUST_LOG`
/// (a plain level such as `debug`), `info` by default.
fn init_logging() {
    let level = ["AWS_LAMBDA_LOG_LEVEL", "RUST_LOG"]
        .iter()
        .find_map(|name| {
            std::env::var(name)
                .ok()?
                .to_lowercase()
                .parse::<LevelFilter>()
                .ok()
        })
        .unwrap_or(LevelFilter::INFO);
    tracing_subscriber::fmt()
        .json()
        .with_max_level(level)
        .with_target(false)
        .with_current_span(false)
        .with_span_list(false)
        .init();
}
