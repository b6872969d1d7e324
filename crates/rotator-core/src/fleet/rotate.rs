//! `rotator rotate`: starts a rotation now (`RotateSecret`) and follows the secret's version
//! stages until `AWSCURRENT` moves to the new version or the rotation fails.
//!
//! Secrets Manager reports a failed rotation nowhere that a reader of the secret can see,
//! besides its events: the new version keeps `AWSPENDING` while the service retries. So the
//! follower decides by the stages: done when `AWSCURRENT` is on the new version; failed when
//! `AWSPENDING` leaves the new version before that (the rotation was cancelled, abandoned, or
//! another rotation replaced it); otherwise it gives up at its timeout, naming where
//! `AWSPENDING` still is.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::fleet::FleetError;
use crate::ports::{SecretMetadata, VersionRef};
use crate::rotation::{AWSCURRENT, AWSPENDING, Ports};
use crate::secret_value::SecretValue;
use crate::types::{AccessKeyId, SecretId};

/// Why a rotation was not started. Nothing was changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Call(#[from] FleetError),
    #[error(
        "rotation is not enabled on {secret}: give it a rotation function and schedule first (the deployment does)"
    )]
    NotEnabled { secret: String },
    #[error(
        "a rotation of {secret} is already in progress (AWSPENDING is on version {version}): wait for it, or cancel it with `aws secretsmanager cancel-rotate-secret --secret-id {secret}`"
    )]
    InProgress { secret: String, version: String },
    #[error("Secrets Manager started a rotation of {secret} but labelled no version AWSPENDING")]
    NoPendingVersion { secret: String },
}

/// A rotation that was started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Started {
    /// The secret's name.
    pub secret: String,
    /// The new version, labelled `AWSPENDING`.
    pub version: String,
    /// The version stages before the rotation started, for the follower's first change.
    pub stages_before: BTreeMap<String, Vec<String>>,
}

/// Starts a rotation of `secret` now, unless its rotation is disabled or one is already in
/// progress (then nothing is changed).
pub async fn start(ports: &Ports, secret: &SecretId) -> Result<Started, StartError> {
    let metadata = describe(ports, secret).await?;
    if !metadata.rotation_enabled {
        return Err(StartError::NotEnabled {
            secret: metadata.name,
        });
    }
    let current = metadata.version_with_stage(AWSCURRENT);
    if let Some(pending) = metadata
        .version_with_stage(AWSPENDING)
        .filter(|pending| Some(*pending) != current)
    {
        return Err(StartError::InProgress {
            version: pending.to_owned(),
            secret: metadata.name,
        });
    }
    let version = ports
        .secrets
        .start_rotation(secret)
        .await
        .map_err(FleetError::of("RotateSecret", metadata.name.as_str()))?;
    let version = match version {
        Some(version) => version,
        None => describe(ports, secret)
            .await?
            .version_with_stage(AWSPENDING)
            .filter(|pending| Some(*pending) != current)
            .map(str::to_owned)
            .ok_or_else(|| StartError::NoPendingVersion {
                secret: metadata.name.clone(),
            })?,
    };
    Ok(Started {
        secret: metadata.name,
        version,
        stages_before: metadata.versions,
    })
}

/// One version whose labels changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StageChange {
    pub version: String,
    pub before: Vec<String>,
    pub after: Vec<String>,
}

/// What the follower saw happen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Versions whose labels changed since the last look.
    Stages(Vec<StageChange>),
    /// createSecret stored the new version's value, with this key.
    PendingKey(AccessKeyId),
}

/// How the rotation ended, as far as the follower saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// `AWSCURRENT` is on the new version, which holds this key.
    Completed {
        key: Option<AccessKeyId>,
        elapsed: Duration,
    },
    /// `AWSPENDING` left the new version before `AWSCURRENT` reached it.
    Failed { reason: String },
    /// Neither happened within the timeout.
    TimedOut {
        waited: Duration,
        /// The version that still holds `AWSPENDING`, if one does.
        pending: Option<String>,
    },
}

/// Follows `started` until it completes, fails or `timeout` runs out, looking every `poll`
/// (one `DescribeSecret`, and a `GetSecretValue` of the new version until it holds a key) and
/// telling `on_event` each change.
pub async fn follow(
    ports: &Ports,
    started: &Started,
    timeout: Duration,
    poll: Duration,
    on_event: &mut (dyn FnMut(&Event) + Send),
) -> Result<Outcome, FleetError> {
    let secret = SecretId::new(started.secret.as_str()).map_err(|problem| FleetError {
        operation: "DescribeSecret",
        subject: started.secret.clone(),
        error: crate::ports::PortError::new(
            crate::ports::PortErrorKind::InvalidRequest,
            problem.to_string(),
        ),
    })?;
    let began = ports.clock.now_millis();
    let mut seen = started.stages_before.clone();
    let mut pending_key = None;
    // A read of the new version's value that failed, kept until the stages are read again.
    let mut failed_read: Option<FleetError> = None;
    loop {
        let metadata = describe(ports, &secret).await?;
        let changes = stage_changes(&seen, &metadata.versions);
        if !changes.is_empty() {
            on_event(&Event::Stages(changes));
            seen = metadata.versions.clone();
        }
        let elapsed = Duration::from_millis(ports.clock.now_millis().saturating_sub(began));
        let stages = metadata.stages_of(&started.version);
        if stages.iter().any(|s| s == AWSCURRENT) {
            let key = match pending_key {
                Some(key) => Some(key),
                None => read_key(ports, &secret, &started.version, AWSCURRENT).await?,
            };
            return Ok(Outcome::Completed { key, elapsed });
        }
        if !stages.iter().any(|s| s == AWSPENDING) {
            let reason = match metadata.version_with_stage(AWSPENDING) {
                Some(other) => format!(
                    "another rotation took over: AWSPENDING moved to version {other} before version {} became AWSCURRENT",
                    started.version
                ),
                None => format!(
                    "AWSPENDING was taken off version {} before it became AWSCURRENT: the rotation was cancelled or abandoned (see the function's alert)",
                    started.version
                ),
            };
            return Ok(Outcome::Failed { reason });
        }
        // The stages were read again since the read failed, and still hold AWSPENDING on the
        // new version: the failure was not the label moving away, it is an error.
        if let Some(error) = failed_read.take() {
            return Err(error);
        }
        if pending_key.is_none() {
            match read_key(ports, &secret, &started.version, AWSPENDING).await {
                Ok(Some(key)) => {
                    on_event(&Event::PendingKey(key.clone()));
                    pending_key = Some(key);
                }
                Ok(None) => {}
                // AWSPENDING may have left the version between the DescribeSecret and this
                // read (GetSecretValue with a VersionId and a VersionStage that no longer
                // match fails: AWS documents that both must refer to the same version;
                // moto answers InvalidRequestException). The rotation then completed, failed
                // or moved on: read the stages again at once, and let them tell.
                Err(error) => {
                    failed_read = Some(error);
                    continue;
                }
            }
        }
        if elapsed >= timeout {
            return Ok(Outcome::TimedOut {
                waited: elapsed,
                pending: metadata.version_with_stage(AWSPENDING).map(str::to_owned),
            });
        }
        ports.clock.sleep(poll).await;
    }
}

async fn describe(ports: &Ports, secret: &SecretId) -> Result<SecretMetadata, FleetError> {
    ports
        .secrets
        .describe(secret)
        .await
        .map_err(FleetError::of("DescribeSecret", secret.as_str()))
}

/// The key id that `version` holds at `stage`, when it holds one.
async fn read_key(
    ports: &Ports,
    secret: &SecretId,
    version: &str,
    stage: &'static str,
) -> Result<Option<AccessKeyId>, FleetError> {
    let text = ports
        .secrets
        .get_value(
            secret,
            VersionRef {
                version_id: Some(version),
                stage,
            },
        )
        .await
        .map_err(FleetError::of("GetSecretValue", secret.as_str()))?;
    Ok(text
        .and_then(|text| SecretValue::parse(&text).ok())
        .and_then(|value| value.access_key_id().cloned()))
}

/// The versions whose labels differ between `before` and `after`, in version order.
pub fn stage_changes(
    before: &BTreeMap<String, Vec<String>>,
    after: &BTreeMap<String, Vec<String>>,
) -> Vec<StageChange> {
    let sorted = |stages: Option<&Vec<String>>| {
        let mut stages = stages.cloned().unwrap_or_default();
        stages.sort();
        stages
    };
    let mut versions: Vec<&String> = before.keys().chain(after.keys()).collect();
    versions.sort();
    versions.dedup();
    versions
        .into_iter()
        .filter_map(|version| {
            let (was, now) = (sorted(before.get(version)), sorted(after.get(version)));
            (was != now).then(|| StageChange {
                version: version.clone(),
                before: was,
                after: now,
            })
        })
        .collect()
}
