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
        "a rotation of {secret} is already in progress (AWSPENDING is on version {version}): wait for it, or end it with `rotator recover {secret}` (CancelRotateSecret only turns rotation off and leaves AWSPENDING)"
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

/// How one secret of a batch ([`rotate_all`]) ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BatchResult {
    /// The rotation was started and followed to this outcome.
    Finished(Outcome),
    /// No rotation was started, for this reason (rotation disabled, one already in progress);
    /// nothing was changed.
    Skipped(String),
    /// A call failed: the rotation was not started, or could no longer be followed.
    Error(String),
}

/// One secret of a batch and how it ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchEntry {
    pub secret: String,
    pub result: BatchResult,
}

/// What [`rotate_all`] tells its caller as it goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BatchEvent {
    /// A rotation was started; it is one of the rotations in flight.
    Started(Started),
    /// A secret is done with (finished, skipped or failed).
    Ended(BatchEntry),
}

/// Rotates many secrets with at most `max_in_flight` rotations in progress at a time: it starts
/// rotations until that many are in flight, then looks at each every `poll` and starts another
/// only when one has completed, failed or passed `timeout` (which counts from its own start).
/// Secrets are taken in the given order; one whose rotation is disabled or already in progress
/// is skipped and changes nothing. A rotation still in progress at its timeout counts as
/// [`Outcome::TimedOut`] and its slot is freed: Secrets Manager may still be retrying it.
/// Returns one entry per secret, in the order of `secrets`.
pub async fn rotate_all(
    ports: &Ports,
    secrets: &[SecretMetadata],
    max_in_flight: usize,
    timeout: Duration,
    poll: Duration,
    on_event: &mut (dyn FnMut(&BatchEvent) + Send),
) -> Vec<BatchEntry> {
    let max_in_flight = max_in_flight.max(1);
    let mut queue = secrets.iter();
    let mut in_flight: Vec<(Started, u64)> = Vec::new();
    let mut done: Vec<BatchEntry> = Vec::new();
    let end = |entry: BatchEntry,
               done: &mut Vec<BatchEntry>,
               on_event: &mut (dyn FnMut(&BatchEvent) + Send)| {
        on_event(&BatchEvent::Ended(entry.clone()));
        done.push(entry);
    };
    loop {
        // Fill the free slots.
        while in_flight.len() < max_in_flight {
            let Some(metadata) = queue.next() else { break };
            let secret = metadata.name.clone();
            if !metadata.rotation_enabled {
                let reason = StartError::NotEnabled {
                    secret: secret.clone(),
                }
                .to_string();
                end(
                    BatchEntry {
                        secret,
                        result: BatchResult::Skipped(reason),
                    },
                    &mut done,
                    on_event,
                );
                continue;
            }
            let id = match SecretId::new(secret.as_str()) {
                Ok(id) => id,
                Err(problem) => {
                    end(
                        BatchEntry {
                            secret,
                            result: BatchResult::Error(problem.to_string()),
                        },
                        &mut done,
                        on_event,
                    );
                    continue;
                }
            };
            match start(ports, &id).await {
                Ok(started) => {
                    // The event is sent before the rotation joins the flight: a caller may count them.
                    on_event(&BatchEvent::Started(started.clone()));
                    in_flight.push((started, ports.clock.now_millis()));
                }
                Err(error @ (StartError::NotEnabled { .. } | StartError::InProgress { .. })) => {
                    end(
                        BatchEntry {
                            secret,
                            result: BatchResult::Skipped(error.to_string()),
                        },
                        &mut done,
                        on_event,
                    );
                }
                Err(error) => end(
                    BatchEntry {
                        secret,
                        result: BatchResult::Error(error.to_string()),
                    },
                    &mut done,
                    on_event,
                ),
            }
        }
        if in_flight.is_empty() {
            break;
        }
        // Look at each rotation in flight once.
        let mut still = Vec::with_capacity(in_flight.len());
        let before = in_flight.len();
        for (started, began) in in_flight {
            let elapsed = Duration::from_millis(ports.clock.now_millis().saturating_sub(began));
            let secret = started.secret.clone();
            match look(ports, &started, elapsed).await {
                Ok(Some(outcome)) => end(
                    BatchEntry {
                        secret,
                        result: BatchResult::Finished(outcome),
                    },
                    &mut done,
                    on_event,
                ),
                Ok(None) if elapsed >= timeout => {
                    let pending = Some(started.version.clone());
                    let outcome = Outcome::TimedOut {
                        waited: elapsed,
                        pending,
                    };
                    end(
                        BatchEntry {
                            secret,
                            result: BatchResult::Finished(outcome),
                        },
                        &mut done,
                        on_event,
                    );
                }
                Ok(None) => still.push((started, began)),
                Err(error) => end(
                    BatchEntry {
                        secret,
                        result: BatchResult::Error(error.to_string()),
                    },
                    &mut done,
                    on_event,
                ),
            }
        }
        in_flight = still;
        // Nothing ended: wait before looking again. Something did: fill its slot at once.
        if in_flight.len() == before {
            ports.clock.sleep(poll).await;
        }
    }
    let order: BTreeMap<&str, usize> = secrets
        .iter()
        .enumerate()
        .map(|(index, metadata)| (metadata.name.as_str(), index))
        .collect();
    done.sort_by_key(|entry| {
        order
            .get(entry.secret.as_str())
            .copied()
            .unwrap_or(usize::MAX)
    });
    done
}

/// One look at a started rotation: its outcome when it has completed or failed, `None` while it
/// is still in progress.
async fn look(
    ports: &Ports,
    started: &Started,
    elapsed: Duration,
) -> Result<Option<Outcome>, FleetError> {
    let secret = SecretId::new(started.secret.as_str()).map_err(|problem| FleetError {
        operation: "DescribeSecret",
        subject: started.secret.clone(),
        error: crate::ports::PortError::new(
            crate::ports::PortErrorKind::InvalidRequest,
            problem.to_string(),
        ),
    })?;
    let metadata = describe(ports, &secret).await?;
    let stages = metadata.stages_of(&started.version);
    if stages.iter().any(|s| s == AWSCURRENT) {
        let key = read_key(ports, &secret, &started.version, AWSCURRENT).await?;
        return Ok(Some(Outcome::Completed { key, elapsed }));
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
        return Ok(Some(Outcome::Failed { reason }));
    }
    Ok(None)
}

#[cfg(test)]
mod batch_tests {
    //! `rotate_all` on the in-memory world: a clock whose every wait completes the oldest
    //! rotation in progress (as the function would), and counts the rotations in flight.

    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use async_trait::async_trait;

    use super::{BatchEvent, BatchResult, Outcome, rotate_all};
    use crate::config::OldKeyPolicy;
    use crate::fleet::managed_secrets;
    use crate::ports::{Clock, EpochSecs, SecretMetadata};
    use crate::rotation::{AWSCURRENT, AWSPENDING, Ports, Rotator};
    use crate::testing::{World, settings};

    /// Completes one rotation in progress per wait (the oldest started, unless it is `stuck`'s),
    /// and records the most rotations seen in progress at once.
    struct Completing {
        world: World,
        rotator: Rotator,
        started: Arc<Mutex<Vec<String>>>,
        most_in_flight: Mutex<usize>,
    }

    #[async_trait]
    impl Clock for Completing {
        fn now(&self) -> EpochSecs {
            self.world.state().now
        }

        async fn sleep(&self, duration: Duration) {
            let pending: Vec<(String, String)> = {
                let state = self.world.state();
                self.started
                    .lock()
                    .expect("started")
                    .iter()
                    .filter_map(|name| {
                        let secret = state.secrets.get(name)?;
                        let (token, version) = secret.version_with(AWSPENDING)?;
                        (!version.stages.iter().any(|s| s == AWSCURRENT))
                            .then(|| (name.clone(), token.clone()))
                    })
                    .collect()
            };
            {
                let mut most = self.most_in_flight.lock().expect("most");
                *most = (*most).max(pending.len());
            }
            if let Some((name, token)) = pending
                .into_iter()
                .find(|(name, _)| !name.ends_with("/stuck"))
            {
                for step in crate::Step::ALL {
                    self.world
                        .step_with(&self.rotator, &name, &token, step)
                        .await
                        .expect("the step succeeds");
                }
            }
            self.world.advance(duration.as_secs().max(1));
        }
    }

    fn world_with(users: &[&str]) -> (World, Rotator) {
        let world = World::new();
        for user in users {
            let name = format!("IamKeyRotator/{user}");
            world.add_user(user);
            world.add_secret(&name, &format!(r#"{{"UserName":"{user}"}}"#));
            world.schedule(&name, 81);
        }
        let rotator = Rotator::new(world.ports(), settings(OldKeyPolicy::Delete));
        (world, rotator)
    }

    /// The world's ports with a `Completing` clock over `rotator`, and the managed secrets.
    async fn completing(
        world: &World,
        rotator: Rotator,
    ) -> (Arc<Completing>, Ports, Vec<SecretMetadata>) {
        let clock = Arc::new(Completing {
            world: world.clone(),
            rotator,
            started: Arc::new(Mutex::new(Vec::new())),
            most_in_flight: Mutex::new(0),
        });
        let ports = Ports {
            clock: clock.clone(),
            ..world.ports()
        };
        let secrets = managed_secrets(&ports, "IamKeyRotator/")
            .await
            .expect("lists");
        (clock, ports, secrets)
    }

    #[tokio::test]
    async fn starts_at_most_the_bound_and_each_next_only_when_one_has_finished() {
        let users = ["u1", "u2", "u3", "u4", "u5", "u6", "u7"];
        let (world, rotator) = world_with(&users);
        let (clock, ports, secrets) = completing(&world, rotator).await;
        let started = clock.started.clone();
        let mut events = Vec::new();
        let entries = rotate_all(
            &ports,
            &secrets,
            2,
            Duration::from_secs(600),
            Duration::from_secs(1),
            &mut |event| {
                if let BatchEvent::Started(s) = event {
                    // Counted as the caller sees them: before this start, fewer than two were in flight.
                    started.lock().expect("started").push(s.secret.clone());
                }
                events.push(event.clone());
            },
        )
        .await;
        assert_eq!(entries.len(), users.len());
        for (user, entry) in users.iter().zip(&entries) {
            assert_eq!(entry.secret, format!("IamKeyRotator/{user}"));
            let key = world.key_in(&entry.secret, AWSCURRENT).expect("a key");
            assert!(
                matches!(&entry.result, BatchResult::Finished(Outcome::Completed { key: Some(k), .. }) if k.as_str() == key),
                "{entry:?}"
            );
        }
        assert_eq!(
            *clock.most_in_flight.lock().expect("most"),
            2,
            "never more than two at once, and two used"
        );
        // Every start after the first two follows an end: the flight never grows past the bound.
        let mut in_flight = 0usize;
        for event in &events {
            match event {
                BatchEvent::Started(_) => in_flight += 1,
                BatchEvent::Ended(_) => in_flight -= 1,
            }
            assert!(in_flight <= 2, "{events:?}");
        }
    }

    #[tokio::test]
    async fn skips_disabled_and_busy_secrets_and_frees_the_slot_of_one_that_times_out() {
        let (world, rotator) = world_with(&["busy", "manual", "ok", "stuck"]);
        world
            .state()
            .secrets
            .get_mut("IamKeyRotator/manual")
            .expect("secret")
            .rotation_enabled = false;
        world.start_rotation("IamKeyRotator/busy", "5e1f0c3a-0000-4000-8000-000000000077");
        let (clock, ports, secrets) = completing(&world, rotator).await;
        let started = clock.started.clone();
        let before = world.key_in("IamKeyRotator/busy", AWSCURRENT);
        let entries = rotate_all(
            &ports,
            &secrets,
            1,
            Duration::from_secs(30),
            Duration::from_secs(5),
            &mut |event| {
                if let BatchEvent::Started(s) = event {
                    started.lock().expect("started").push(s.secret.clone());
                }
            },
        )
        .await;
        let results: Vec<&BatchResult> = entries.iter().map(|e| &e.result).collect();
        assert!(
            matches!(results[0], BatchResult::Skipped(reason) if reason.contains("already in progress")),
            "{results:?}"
        );
        assert!(
            matches!(results[1], BatchResult::Skipped(reason) if reason.contains("rotation is not enabled")),
            "{results:?}"
        );
        assert!(
            matches!(results[2], BatchResult::Finished(Outcome::Completed { .. })),
            "{results:?}"
        );
        assert!(
            matches!(results[3], BatchResult::Finished(Outcome::TimedOut { waited, pending: Some(_) }) if *waited >= Duration::from_secs(30)),
            "{results:?}"
        );
        assert_eq!(
            world.key_in("IamKeyRotator/busy", AWSCURRENT),
            before,
            "the busy secret is left alone"
        );
        assert_eq!(
            *started.lock().expect("started"),
            ["IamKeyRotator/ok", "IamKeyRotator/stuck"]
        );
    }
}
