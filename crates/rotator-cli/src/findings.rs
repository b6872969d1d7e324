//! `rotator status --findings`: the Security Hub findings that the sweep would import now
//! (contract §12), printed as JSON in `BatchImportFindings`' request shape, without importing
//! them: for teams without Security Hub, and to see what the sweep will say.

use anyhow::{Context, Result};
use aws_config::SdkConfig;
use rotator_aws::RequestCounter;
use rotator_core::Ports;
use rotator_core::config::{OldKeyPolicy, Settings};
use rotator_core::findings::Finding;
use rotator_core::sweep::Sweeper;
use serde::Serialize;

use crate::cli::StatusArgs;
use crate::render::Spinner;

/// The document printed: what `aws securityhub batch-import-findings --cli-input-json` takes.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct Document {
    findings: Vec<Finding>,
}

/// Prints the findings; returns whether there is any (a problem needs attention).
///
/// The fleet is walked as the function's sweep walks it, under the `grace` policy's default
/// windows (`ROTATOR_GRACE` 24h, `ROTATOR_GRACE_MAX` 7d, `ROTATOR_USAGE_LAG` 4h), reading other
/// accounts through the reader role; nothing is changed and nothing is sent. The findings'
/// account and region are the caller's (`sts:GetCallerIdentity`, the configured region).
pub async fn run(
    ports: &Ports,
    config: &SdkConfig,
    args: &StatusArgs,
    requests: &RequestCounter,
) -> Result<bool> {
    let hub = rotator_aws::security_hub(config, requests);
    let target = hub
        .target()
        .await
        .context("the caller's account could not be read (sts:GetCallerIdentity)")?;
    let settings = Settings {
        secret_prefix: args.fleet.prefix.clone(),
        old_key_policy: OldKeyPolicy::Grace,
        member_role: args.member.role(),
        ..Settings::default()
    };
    let spinner = Spinner::new("inspecting the secrets");
    let findings = Sweeper::new(ports.clone(), settings)
        .would_import(&target)
        .await;
    spinner.finish();
    let findings = findings?;
    let attention = !findings.is_empty();
    println!("{}", serde_json::to_string_pretty(&Document { findings })?);
    Ok(attention)
}
