//! The four-step rotation state machine: the protocol checks, then createSecret, setSecret,
//! testSecret and finishSecret as the rotation contract describes them.

use std::sync::Arc;
use std::time::Duration;

use tracing::{info, warn};

use crate::config::{OldKeyPolicy, Settings, parse_addresses};
use crate::error::{RotationError, StepError};
use crate::ledger::{self, Ledger};
use crate::notice::{self, Success};
use crate::ports::{
    AccessKeyInfo, Clock, CredentialCheck, Iam, KeyStatus, Notifier, PortErrorKind, SecretMetadata,
    SecretStore, VersionRef,
};
use crate::secret_value::{KeyPair, SecretString, SecretValue};
use crate::types::{AccessKeyId, RotationEvent, Step, UserName};

pub const AWSCURRENT: &str = "AWSCURRENT";
pub const AWSPENDING: &str = "AWSPENDING";
pub const AWSPREVIOUS: &str = "AWSPREVIOUS";

/// The secret tag that names who receives the success email.
pub const NOTIFY_EMAIL_TAG: &str = "NotifyEmail";

/// IAM allows two access keys per user.
const MAX_KEYS_PER_USER: usize = 2;

/// The first and the longest pause between two attempts of testSecret.
const FIRST_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(8);

/// The outside world, as the rotation sees it.
#[derive(Clone)]
pub struct Ports {
    pub iam: Arc<dyn Iam>,
    pub secrets: Arc<dyn SecretStore>,
    pub credentials: Arc<dyn CredentialCheck>,
    pub notifier: Arc<dyn Notifier>,
    pub clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for Ports {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Ports")
    }
}

/// What a successful step did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The token is already AWSCURRENT: the step had nothing to do.
    AlreadyCurrent,
    /// createSecret found the pending value already stored.
    PendingExists,
    /// createSecret created this key and stored it as AWSPENDING.
    KeyCreated(AccessKeyId),
    /// setSecret: an IAM key is live from creation.
    NothingToSet,
    /// testSecret authenticated with this key as the secret's user.
    Tested(AccessKeyId),
    /// testSecret found no key in the pending value.
    NothingToTest,
    /// finishSecret made the token AWSCURRENT and applied the old-key policy.
    Finished {
        new_key: Option<AccessKeyId>,
        old_key: Option<AccessKeyId>,
    },
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Outcome::AlreadyCurrent => {
                f.write_str("the version is already AWSCURRENT: nothing to do")
            }
            Outcome::PendingExists => {
                f.write_str("the pending value is already stored: nothing to do")
            }
            Outcome::KeyCreated(key) => {
                write!(f, "created access key {key} and stored it as AWSPENDING")
            }
            Outcome::NothingToSet => {
                f.write_str("nothing to set: an IAM key is live from creation")
            }
            Outcome::Tested(key) => write!(f, "access key {key} authenticates as the user"),
            Outcome::NothingToTest => {
                f.write_str("the pending value holds no key: nothing to test")
            }
            Outcome::Finished { new_key, old_key } => {
                match new_key {
                    Some(key) => write!(f, "AWSCURRENT now holds access key {key}")?,
                    None => f.write_str("AWSCURRENT moved to the new version")?,
                }
                match old_key {
                    Some(key) => write!(f, "; the old-key policy was applied to {key}"),
                    None => Ok(()),
                }
            }
        }
    }
}

/// Runs rotation steps against the ports.
#[derive(Debug, Clone)]
pub struct Rotator {
    ports: Ports,
    settings: Settings,
}

/// What a failing step had learnt by the time it failed, for the alert.
#[derive(Default)]
struct Learnt {
    user: Option<UserName>,
    secret_name: Option<String>,
}

impl Rotator {
    pub fn new(ports: Ports, settings: Settings) -> Self {
        Self { ports, settings }
    }

    /// Runs one step. On failure it sends one alert and returns the error, so that Secrets
    /// Manager records the failure and retries.
    pub async fn handle(&self, event: &RotationEvent) -> Result<Outcome, StepError> {
        let mut learnt = Learnt::default();
        info!(step = %event.step, secret = %event.secret_id, token = %event.token, "step started");
        match self.run(event, &mut learnt).await {
            Ok(outcome) => {
                info!(step = %event.step, secret = %event.secret_id, token = %event.token, %outcome, "step succeeded");
                Ok(outcome)
            }
            Err(error) => {
                let failure = StepError {
                    step: event.step,
                    secret: event.secret_id.clone(),
                    token: event.token.clone(),
                    user: learnt.user,
                    error,
                };
                tracing::error!(error = %failure, kind = failure.kind(), "step failed");
                let alert = notice::failure_alert(&failure, learnt.secret_name.as_deref());
                if let Err(alert_error) = self.ports.notifier.alert(&alert).await {
                    warn!(error = %alert_error, "the failure alert could not be sent");
                }
                Err(failure)
            }
        }
    }

    async fn run(
        &self,
        event: &RotationEvent,
        learnt: &mut Learnt,
    ) -> Result<Outcome, RotationError> {
        let metadata = self
            .ports
            .secrets
            .describe(&event.secret_id)
            .await
            .map_err(RotationError::port("DescribeSecret"))?;
        learnt.secret_name = Some(metadata.name.clone());
        if !metadata.rotation_enabled {
            return Err(RotationError::RotationNotEnabled);
        }
        let Some(stages) = metadata.versions.get(event.token.as_str()) else {
            return Err(RotationError::NoStageForRotation(event.token.clone()));
        };
        if stages.iter().any(|s| s == AWSCURRENT) {
            // finishSecret takes AWSPENDING off last: a token that holds both is one whose
            // finishSecret moved AWSCURRENT and then failed, with the old key not yet retired.
            if event.step == Step::FinishSecret && stages.iter().any(|s| s == AWSPENDING) {
                info!(token = %event.token, "finishSecret moved AWSCURRENT earlier, then failed: completing it");
                return self.resume_finish(event, &metadata, learnt).await;
            }
            info!(token = %event.token, "the version is already AWSCURRENT: nothing to do");
            return Ok(Outcome::AlreadyCurrent);
        }
        if !stages.iter().any(|s| s == AWSPENDING) {
            return Err(RotationError::NotPending {
                token: event.token.clone(),
                stages: if stages.is_empty() {
                    "none".into()
                } else {
                    stages.join(", ")
                },
            });
        }
        match event.step {
            Step::CreateSecret => self.create_secret(event, &metadata, learnt).await,
            Step::SetSecret => Ok(Outcome::NothingToSet),
            Step::TestSecret => self.test_secret(event, learnt).await,
            Step::FinishSecret => self.finish_secret(event, &metadata, learnt).await,
        }
    }

    /// Fetches one version's text, by stage and optionally pinned to the token; `Ok(None)`
    /// when it holds no value.
    async fn fetch(
        &self,
        event: &RotationEvent,
        stage: &'static str,
        pinned_to_token: bool,
    ) -> Result<Option<SecretString>, RotationError> {
        let version = VersionRef {
            version_id: pinned_to_token.then_some(event.token.as_str()),
            stage,
        };
        self.ports
            .secrets
            .get_value(&event.secret_id, version)
            .await
            .map_err(RotationError::port("GetSecretValue"))
    }

    /// Reads and parses one version; `Ok(None)` when it holds no value.
    async fn read(
        &self,
        event: &RotationEvent,
        stage: &'static str,
        pinned_to_token: bool,
    ) -> Result<Option<SecretValue>, RotationError> {
        let Some(text) = self.fetch(event, stage, pinned_to_token).await? else {
            return Ok(None);
        };
        SecretValue::parse(&text)
            .map(Some)
            .map_err(|source| RotationError::InvalidValue { stage, source })
    }

    async fn read_current(&self, event: &RotationEvent) -> Result<SecretValue, RotationError> {
        self.read(event, AWSCURRENT, false)
            .await?
            .ok_or(RotationError::MissingValue { stage: AWSCURRENT })
    }

    async fn read_pending(&self, event: &RotationEvent) -> Result<SecretValue, RotationError> {
        self.read(event, AWSPENDING, true)
            .await?
            .ok_or(RotationError::MissingValue { stage: AWSPENDING })
    }

    async fn create_secret(
        &self,
        event: &RotationEvent,
        metadata: &SecretMetadata,
        learnt: &mut Learnt,
    ) -> Result<Outcome, RotationError> {
        let current = self.read_current(event).await?;
        let user = current.user_name.clone();
        learnt.user = Some(user.clone());
        // Whatever the pending value holds, its existence is enough: it is not parsed here.
        if self.fetch(event, AWSPENDING, true).await?.is_some() {
            info!(token = %event.token, "the pending value is already stored: nothing to do");
            return Ok(Outcome::PendingExists);
        }
        let iam = &self.ports.iam;
        let keys = iam.list_access_keys(&user).await.map_err(|e| {
            if e.kind == PortErrorKind::NotFound {
                RotationError::UnknownUser(user.clone())
            } else {
                RotationError::port("ListAccessKeys")(e)
            }
        })?;
        let tags = iam
            .list_user_tags(&user)
            .await
            .map_err(RotationError::port("ListUserTags"))?;
        let ledger = Ledger::from_tags(&tags);
        // Which key AWSPREVIOUS holds matters only when the user has a key besides AWSCURRENT's.
        let has_other_keys = keys
            .iter()
            .any(|key| Some(&key.id) != current.access_key_id());
        let previous_key = if has_other_keys {
            self.previous_key(event, metadata).await?
        } else {
            None
        };
        let doomed = plan_room(
            &user,
            &keys,
            &ledger,
            current.access_key_id(),
            previous_key.as_ref(),
        )?;

        for (key, reason) in &doomed {
            info!(user = %user, key = %key, reason, "deleting access key to make room");
            ignore_not_found(iam.delete_access_key(&user, key).await)
                .map_err(RotationError::port("DeleteAccessKey"))?;
        }
        // The records are removed only after their keys are gone, so no key is ever unrecorded.
        let stale: Vec<String> = ledger
            .intents
            .keys()
            .map(|token| ledger::intent_tag_key(token))
            .chain(ledger.records.keys().map(|key| key.as_str().to_owned()))
            .collect();
        if !stale.is_empty() {
            iam.untag_user(&user, &stale)
                .await
                .map_err(RotationError::port("UntagUser"))?;
        }
        let kept: Vec<AccessKeyId> = keys
            .iter()
            .map(|k| k.id.clone())
            .filter(|id| !doomed.iter().any(|(gone, _)| gone == id))
            .collect();
        let intent = ledger::intent_tag(&event.token, self.ports.clock.now(), &kept);
        iam.tag_user(&user, &[intent])
            .await
            .map_err(RotationError::port("TagUser"))?;
        let new_key = iam.create_access_key(&user).await.map_err(|e| {
            if e.kind == PortErrorKind::LimitExceeded {
                RotationError::NoRoomForKey {
                    user: user.clone(),
                    keys: format!("IAM refused a new key ({e})"),
                }
            } else {
                RotationError::port("CreateAccessKey")(e)
            }
        })?;
        info!(user = %user, key = %new_key.id, "created access key");
        iam.tag_user(&user, &[ledger::record_tag(&event.token, &new_key.id)])
            .await
            .map_err(RotationError::port("TagUser"))?;
        let pending = current.with_key(KeyPair {
            access_key_id: new_key.id.clone(),
            secret_access_key: new_key.secret,
        });
        self.ports
            .secrets
            .put_pending(
                &event.secret_id,
                &event.token,
                &pending.to_secret_string(),
                event.rotation_token.as_ref(),
            )
            .await
            .map_err(RotationError::port("PutSecretValue"))?;
        info!(key = %new_key.id, token = %event.token, "stored the new key as AWSPENDING");
        Ok(Outcome::KeyCreated(new_key.id))
    }

    /// The key in AWSPREVIOUS. A previous value that no longer parses names no key: the
    /// rotator then simply does not count it as deletable.
    async fn previous_key(
        &self,
        event: &RotationEvent,
        metadata: &SecretMetadata,
    ) -> Result<Option<AccessKeyId>, RotationError> {
        if metadata.version_with_stage(AWSPREVIOUS).is_none() {
            return Ok(None);
        }
        match self.read(event, AWSPREVIOUS, false).await {
            Ok(value) => Ok(value.and_then(|v| v.access_key_id().cloned())),
            Err(RotationError::InvalidValue { source, .. }) => {
                warn!(error = %source, "the AWSPREVIOUS value is invalid; its key is not considered");
                Ok(None)
            }
            Err(other) => Err(other),
        }
    }

    async fn test_secret(
        &self,
        event: &RotationEvent,
        learnt: &mut Learnt,
    ) -> Result<Outcome, RotationError> {
        let pending = self.read_pending(event).await?;
        let user = pending.user_name.clone();
        learnt.user = Some(user.clone());
        let Some(key) = pending.key else {
            info!("the pending value holds no key yet: nothing to test");
            return Ok(Outcome::NothingToTest);
        };
        let clock = &self.ports.clock;
        let budget = self.settings.test_timeout.as_secs();
        let deadline = clock.now() + budget;
        let mut backoff = FIRST_BACKOFF;
        loop {
            match self.ports.credentials.caller_arn(&key).await {
                Ok(arn) if arn_names_user(&arn, &user) => {
                    info!(key = %key.access_key_id, arn, "the pending key authenticates");
                    return Ok(Outcome::Tested(key.access_key_id));
                }
                Ok(arn) => {
                    return Err(RotationError::WrongIdentity {
                        key: key.access_key_id,
                        user,
                        arn,
                    });
                }
                Err(error) => {
                    let now = clock.now();
                    if now >= deadline {
                        return Err(RotationError::PendingKeyRejected {
                            key: key.access_key_id,
                            user,
                            secs: budget,
                            last_error: error.to_string(),
                        });
                    }
                    info!(key = %key.access_key_id, error = %error, "the pending key does not authenticate yet; retrying");
                    clock
                        .sleep(backoff.min(Duration::from_secs(deadline - now)))
                        .await;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        }
    }

    async fn finish_secret(
        &self,
        event: &RotationEvent,
        metadata: &SecretMetadata,
        learnt: &mut Learnt,
    ) -> Result<Outcome, RotationError> {
        let current_version = metadata
            .version_with_stage(AWSCURRENT)
            .ok_or(RotationError::NoCurrentVersion)?;
        let pending = self.read_pending(event).await?;
        learnt.user = Some(pending.user_name.clone());
        let current = self.read_current(event).await?;
        if current.user_name != pending.user_name {
            return Err(RotationError::UserMismatch {
                current: current.user_name,
                pending: pending.user_name,
            });
        }
        let user = &pending.user_name;
        let secrets = &self.ports.secrets;
        secrets
            .update_stage(
                &event.secret_id,
                AWSCURRENT,
                Some(event.token.as_str()),
                Some(current_version),
            )
            .await
            .map_err(RotationError::port("UpdateSecretVersionStage"))?;
        info!(token = %event.token, "the new version is AWSCURRENT");
        let new_key = pending.access_key_id().cloned();
        let old_key = current
            .access_key_id()
            .filter(|old| Some(*old) != new_key.as_ref())
            .cloned();
        self.complete_finish(event, metadata, user, new_key, old_key)
            .await
    }

    /// finishSecret delivered again after an earlier delivery moved AWSCURRENT to the token and
    /// then failed: the key that was current, now in AWSPREVIOUS, still awaits the old-key
    /// policy, and the token its clean-up.
    async fn resume_finish(
        &self,
        event: &RotationEvent,
        metadata: &SecretMetadata,
        learnt: &mut Learnt,
    ) -> Result<Outcome, RotationError> {
        let current = self.read_current(event).await?;
        learnt.user = Some(current.user_name.clone());
        let new_key = current.access_key_id().cloned();
        let old_key = self
            .previous_key(event, metadata)
            .await?
            .filter(|old| Some(old) != new_key.as_ref());
        self.complete_finish(event, metadata, &current.user_name, new_key, old_key)
            .await
    }

    /// What finishSecret does once AWSCURRENT is on the token: applies the old-key policy,
    /// removes the rotation's tags, and only then takes AWSPENDING off the token, so that a
    /// failure on the way leaves a mark that the next delivery completes (see [`Self::run`]).
    async fn complete_finish(
        &self,
        event: &RotationEvent,
        metadata: &SecretMetadata,
        user: &UserName,
        new_key: Option<AccessKeyId>,
        old_key: Option<AccessKeyId>,
    ) -> Result<Outcome, RotationError> {
        if let Some(old) = &old_key {
            self.retire(user, old).await?;
        }
        // The rotation is complete: its intent and its key record go (IAM ignores absent keys).
        let mut own_tags = vec![ledger::intent_tag_key(event.token.as_str())];
        own_tags.extend(new_key.iter().map(|key| key.as_str().to_owned()));
        self.ports
            .iam
            .untag_user(user, &own_tags)
            .await
            .map_err(RotationError::port("UntagUser"))?;
        self.ports
            .secrets
            .update_stage(
                &event.secret_id,
                AWSPENDING,
                None,
                Some(event.token.as_str()),
            )
            .await
            .map_err(RotationError::port("UpdateSecretVersionStage"))?;
        if let Some(key) = &new_key {
            self.send_success_email(event, metadata, user, key, old_key.as_ref())
                .await;
        }
        Ok(Outcome::Finished { new_key, old_key })
    }

    /// Applies the old-key policy to the key that was current.
    async fn retire(&self, user: &UserName, old: &AccessKeyId) -> Result<(), RotationError> {
        let iam = &self.ports.iam;
        let policy = self.settings.old_key_policy;
        if policy == OldKeyPolicy::Keep {
            info!(key = %old, "keeping the previous key active until the next rotation needs room");
            return Ok(());
        }
        ignore_not_found(
            iam.set_access_key_status(user, old, KeyStatus::Inactive)
                .await,
        )
        .map_err(RotationError::port("UpdateAccessKey"))?;
        info!(key = %old, "deactivated the previous key");
        if policy == OldKeyPolicy::Delete {
            ignore_not_found(iam.delete_access_key(user, old).await)
                .map_err(RotationError::port("DeleteAccessKey"))?;
            info!(key = %old, "deleted the previous key");
        }
        Ok(())
    }

    /// Sends the success email. Its failure is logged: the rotation has already succeeded.
    async fn send_success_email(
        &self,
        event: &RotationEvent,
        metadata: &SecretMetadata,
        user: &UserName,
        new_key: &AccessKeyId,
        old_key: Option<&AccessKeyId>,
    ) {
        if self.settings.sender_email.is_none() {
            info!("no sender configured: no success email");
            return;
        }
        let recipients = match metadata.tags.get(NOTIFY_EMAIL_TAG) {
            Some(list) => parse_addresses(list).unwrap_or_else(|problem| {
                warn!(
                    problem,
                    "the NotifyEmail tag is invalid; using the default recipient"
                );
                self.settings.default_notify_email.clone()
            }),
            None => self.settings.default_notify_email.clone(),
        };
        if recipients.is_empty() {
            info!("no recipient for the success email");
            return;
        }
        let old_key = old_key.map(|key| (key, self.settings.old_key_policy.outcome()));
        let email = notice::success_email(&Success {
            secret: &event.secret_id,
            secret_name: &metadata.name,
            user,
            new_key,
            token: &event.token,
            at: self.ports.clock.now(),
            old_key,
        });
        match self.ports.notifier.email(&recipients, &email).await {
            Ok(()) => info!(recipients = recipients.len(), "sent the success email"),
            Err(error) => warn!(error = %error, "the success email could not be sent"),
        }
    }
}

impl OldKeyPolicy {
    /// What became of the previous key, in words for the email.
    fn outcome(self) -> &'static str {
        match self {
            OldKeyPolicy::Delete => "deleted",
            OldKeyPolicy::Deactivate => "deactivated; deleted at the next rotation",
            OldKeyPolicy::Keep => "still active until the next rotation",
        }
    }
}

/// Whether an STS caller ARN (`arn:aws:iam::ACCOUNT:user/PATH/NAME`) is the user's.
fn arn_names_user(arn: &str, user: &UserName) -> bool {
    arn.split(':')
        .nth(5)
        .and_then(|resource| resource.strip_prefix("user/"))
        .and_then(|path_and_name| path_and_name.rsplit('/').next())
        .is_some_and(|name| name == user.as_str())
}

fn ignore_not_found(result: crate::ports::PortResult<()>) -> Result<(), crate::ports::PortError> {
    match result {
        Err(e) if e.kind == PortErrorKind::NotFound => Ok(()),
        other => other,
    }
}

/// Chooses the keys to delete before a new key is created: every key the rotator made for a
/// token whose value was never used, then, while the user is at IAM's limit, the AWSPREVIOUS key,
/// then an inactive key that is not AWSCURRENT. Fails, having changed nothing, when only the
/// AWSCURRENT key and unknown active keys remain.
fn plan_room(
    user: &UserName,
    keys: &[AccessKeyInfo],
    ledger: &Ledger,
    current: Option<&AccessKeyId>,
    previous: Option<&AccessKeyId>,
) -> Result<Vec<(AccessKeyId, &'static str)>, RotationError> {
    let mut doomed = Vec::new();
    let mut remaining = Vec::new();
    for key in keys {
        let is_current = Some(&key.id) == current;
        let is_previous = Some(&key.id) == previous;
        if !is_current && !is_previous && ledger.owner_of(key).is_some() {
            doomed.push((
                key.id.clone(),
                "created by the rotator for a value never used",
            ));
        } else {
            remaining.push(key);
        }
    }
    while remaining.len() >= MAX_KEYS_PER_USER {
        let choice = remaining
            .iter()
            .position(|k| Some(&k.id) == previous && Some(&k.id) != current)
            .map(|i| (i, "the AWSPREVIOUS key"))
            .or_else(|| {
                remaining
                    .iter()
                    .position(|k| k.status == KeyStatus::Inactive && Some(&k.id) != current)
                    .map(|i| (i, "an inactive key that is not AWSCURRENT"))
            });
        let Some((index, reason)) = choice else {
            let described: Vec<String> = remaining
                .iter()
                .map(|k| {
                    let role = if Some(&k.id) == current {
                        "AWSCURRENT"
                    } else {
                        "unknown to the secret"
                    };
                    format!("{} ({}, {role})", k.id, k.status)
                })
                .collect();
            return Err(RotationError::NoRoomForKey {
                user: user.clone(),
                keys: described.join(" and "),
            });
        };
        doomed.push((remaining.remove(index).id.clone(), reason));
    }
    Ok(doomed)
}
