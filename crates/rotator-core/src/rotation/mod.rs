//! The four-step rotation state machine: the `Rotator`, the protocol checks every step makes
//! first, and the name binding. Each step lives in its own file beside this one.

mod create_secret;
mod finish_secret;
mod test_secret;
mod warm;

use tracing::{info, warn};

use crate::accounts::{
    account_of_arn, bound_account, iam_for_secret, member_account, name_shape_problem,
    partition_and_account,
};
use crate::config::Settings;
use crate::error::{CurrentStage, RotationError, StepError};
use crate::notice;
pub use crate::ports::Ports;
use crate::ports::{EpochSecs, PortErrorKind, PortResult, SecretMetadata, VersionRef};
use crate::secret_value::{SecretString, SecretValue};
use crate::types::{AccessKeyId, AccountId, RotationEvent, Step, UserName};
use warm::WarmMemory;

pub use crate::types::{AWSCURRENT, AWSPENDING, AWSPREVIOUS};

/// The secret tag that names who receives the success email.
pub const NOTIFY_EMAIL_TAG: &str = "NotifyEmail";

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
    /// What this process remembers between steps; shared by the clones.
    memory: WarmMemory,
}

/// What a failing step had learnt by the time it failed, for the alert.
#[derive(Default)]
struct Learnt {
    user: Option<UserName>,
    secret_name: Option<String>,
    current: CurrentStage,
}

/// One step to run: the event, and when the invocation must have answered.
struct Job<'a> {
    event: &'a RotationEvent,
    /// The invocation's deadline in milliseconds since the epoch, when Lambda gave one.
    deadline_ms: Option<u64>,
}

impl Rotator {
    pub fn new(ports: Ports, settings: Settings) -> Self {
        Self {
            ports,
            settings,
            memory: WarmMemory::default(),
        }
    }

    /// The ports it runs on (the sweep shares them).
    pub fn ports(&self) -> &Ports {
        &self.ports
    }

    /// Its settings.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Runs one step with no deadline but the settings' own budgets.
    pub async fn handle(&self, event: &RotationEvent) -> Result<Outcome, StepError> {
        self.handle_until(event, None).await
    }

    /// Runs one step that must answer by `deadline_ms` (milliseconds since the epoch: Lambda's
    /// `Lambda-Runtime-Deadline-Ms`). On failure it sends one alert and returns the error, so
    /// that Secrets Manager records the failure and retries.
    pub async fn handle_until(
        &self,
        event: &RotationEvent,
        deadline_ms: Option<u64>,
    ) -> Result<Outcome, StepError> {
        let mut learnt = Learnt::default();
        info!(step = %event.step, secret = %event.secret_id, token = %event.token, "step started");
        let job = Job { event, deadline_ms };
        match self.run(&job, &mut learnt).await {
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
                    current: learnt.current,
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

    /// The protocol checks of contract §2, then the step.
    async fn run(&self, job: &Job<'_>, learnt: &mut Learnt) -> Result<Outcome, RotationError> {
        let event = job.event;
        let metadata = self.describe(event).await?;
        learnt.secret_name = Some(metadata.name.clone());
        // Contract §3: only the two managed shapes of a name bind a user, before any IAM call.
        if let Some(problem) = name_shape_problem(&metadata.name, &self.settings.secret_prefix) {
            return Err(RotationError::NameNotManaged { problem });
        }
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
                let rotator = self.in_bound_account(event, &metadata, learnt).await?;
                return rotator.resume_finish(event, &metadata, learnt).await;
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
            Step::CreateSecret => {
                let rotator = self.in_bound_account(event, &metadata, learnt).await?;
                rotator.create_secret(event, &metadata, learnt).await
            }
            Step::SetSecret => self.set_secret(event, &metadata, learnt).await,
            Step::TestSecret => self.test_secret(job, &metadata, learnt).await,
            Step::FinishSecret => {
                let rotator = self.in_bound_account(event, &metadata, learnt).await?;
                rotator.finish_secret(event, &metadata, learnt).await
            }
        }
    }

    /// This rotator, with the IAM of the account the secret's name binds: its own for a secret
    /// of the function's account, else IAM through the member role assumed there. Only the
    /// steps that call IAM ask for it; testSecret signs with the new key itself. The current
    /// value's binding is checked first, so that a value naming another account assumes no
    /// role (the step checks the pending value's before its first IAM call).
    async fn in_bound_account(
        &self,
        event: &RotationEvent,
        metadata: &SecretMetadata,
        learnt: &mut Learnt,
    ) -> Result<Rotator, RotationError> {
        let Some(account) = member_account(metadata) else {
            return Ok(self.clone());
        };
        self.read_bound(event, metadata, AWSCURRENT, learnt).await?;
        let iam = iam_for_secret(&self.ports, metadata, &self.settings.member_role)
            .await
            .map_err(|failed| RotationError::MemberRoleNotAssumable {
                role: failed.role_arn,
                account: failed.account,
                reason: failed.error.to_string(),
            })?;
        info!(%account, role = %self.settings.member_role.name, "acting in the member account");
        let mut rotator = self.clone();
        rotator.ports.iam = iam;
        Ok(rotator)
    }

    async fn describe(&self, event: &RotationEvent) -> Result<SecretMetadata, RotationError> {
        self.ports
            .secrets
            .describe(&event.secret_id)
            .await
            .map_err(RotationError::port("DescribeSecret"))
    }

    /// Fetches one version's text, by stage and optionally pinned to the token; `Ok(None)`
    /// when it holds no value. The version is the one that the step's `DescribeSecret` shows
    /// with the stage, and the request names it with the stage, so the text read is that
    /// version's: a value this process already read or wrote is taken from its memory.
    async fn fetch(
        &self,
        event: &RotationEvent,
        metadata: &SecretMetadata,
        stage: &'static str,
        pinned_to_token: bool,
    ) -> Result<Option<SecretString>, RotationError> {
        let version_id = if pinned_to_token {
            Some(event.token.as_str())
        } else {
            metadata.version_with_stage(stage)
        };
        let staged = version_id.filter(|id| metadata.stages_of(id).iter().any(|s| s == stage));
        if let Some(id) = staged
            && let Some(text) = self.memory.value(&metadata.arn, id)
        {
            return Ok(Some(text));
        }
        let text = self
            .ports
            .secrets
            .get_value(&event.secret_id, VersionRef { version_id, stage })
            .await
            .map_err(RotationError::port("GetSecretValue"))?;
        if let (Some(id), Some(text)) = (version_id, &text) {
            self.memory.keep_value(&metadata.arn, id, text);
        }
        Ok(text)
    }

    /// Reads and parses one version; `Ok(None)` when it holds no value.
    async fn read(
        &self,
        event: &RotationEvent,
        metadata: &SecretMetadata,
        stage: &'static str,
        pinned_to_token: bool,
    ) -> Result<Option<SecretValue>, RotationError> {
        let Some(text) = self.fetch(event, metadata, stage, pinned_to_token).await? else {
            return Ok(None);
        };
        SecretValue::parse(&text)
            .map(Some)
            .map_err(|source| RotationError::InvalidValue { stage, source })
    }

    /// Reads one version that must exist, and refuses it unless it names the bound user.
    async fn read_bound(
        &self,
        event: &RotationEvent,
        metadata: &SecretMetadata,
        stage: &'static str,
        learnt: &mut Learnt,
    ) -> Result<SecretValue, RotationError> {
        let value = self
            .read(event, metadata, stage, stage == AWSPENDING)
            .await?
            .ok_or(RotationError::MissingValue { stage })?;
        check_binding(metadata, &value, stage)?;
        learnt.user = Some(value.user_name.clone());
        Ok(value)
    }

    /// setSecret: an IAM key is live from creation, so there is nothing to set; a pending value
    /// that names another user is refused all the same, as by every step.
    async fn set_secret(
        &self,
        event: &RotationEvent,
        metadata: &SecretMetadata,
        learnt: &mut Learnt,
    ) -> Result<Outcome, RotationError> {
        for (stage, pinned) in [(AWSCURRENT, false), (AWSPENDING, true)] {
            if let Some(value) = self.read(event, metadata, stage, pinned).await? {
                check_binding(metadata, &value, stage)?;
                learnt.user = Some(value.user_name);
            }
        }
        Ok(Outcome::NothingToSet)
    }

    /// Moves or removes a staging label. A retry of `UpdateSecretVersionStage` after a lost
    /// answer is refused by Secrets Manager (the label is no longer where `RemoveFromVersionId`
    /// says), so an error is checked against the secret's stages: when they already are as
    /// `done` wants them, the call took effect.
    async fn update_stage(
        &self,
        event: &RotationEvent,
        stage: &str,
        move_to: Option<&str>,
        remove_from: Option<&str>,
        done: impl Fn(&SecretMetadata) -> bool,
    ) -> Result<(), RotationError> {
        let Err(error) = self
            .ports
            .secrets
            .update_stage(&event.secret_id, stage, move_to, remove_from)
            .await
        else {
            return Ok(());
        };
        match self.describe(event).await {
            Ok(metadata) if done(&metadata) => {
                info!(stage, error = %error, "UpdateSecretVersionStage failed, but the stages show it took effect");
                Ok(())
            }
            _ => Err(RotationError::port("UpdateSecretVersionStage")(error)),
        }
    }
}

/// The IAM user a secret is bound to: the last `/`-separated segment of its name.
pub fn bound_user(secret_name: &str) -> &str {
    secret_name.rsplit('/').next().unwrap_or(secret_name)
}

/// Refuses a value that names any user or account but the ones the secret's name binds
/// (contract §3). IAM compares user names without regard to case, and so does the binding.
/// A name without an account segment binds the secret's own account, and so does a value
/// without `AccountId`.
fn check_binding(
    metadata: &SecretMetadata,
    value: &SecretValue,
    stage: &'static str,
) -> Result<(), RotationError> {
    let bound = bound_user(&metadata.name);
    if !value.user_name.as_str().eq_ignore_ascii_case(bound) {
        return Err(RotationError::NotBoundToUser {
            secret: metadata.name.clone(),
            bound: bound.to_owned(),
            named: value.user_name.clone(),
            stage,
        });
    }
    let own = partition_and_account(&metadata.arn).map(|(_, account)| account);
    let named = value.account.clone().or_else(|| own.clone());
    if expected_account(metadata) == named {
        return Ok(());
    }
    let describe = |account: Option<AccountId>| match (account, &own) {
        (Some(account), _) => account.to_string(),
        (None, Some(own)) => format!("{own} (the function's own)"),
        (None, None) => "the function's own".to_owned(),
    };
    Err(RotationError::NotBoundToAccount {
        secret: metadata.name.clone(),
        bound: describe(bound_account(&metadata.name)),
        named: describe(value.account.clone()),
        stage,
    })
}

/// Whether an STS caller ARN is the secret's bound user, of the account the secret binds:
/// what testSecret requires of a new key, and `rotator adopt --with-secret` of an adopted one.
pub fn caller_is_bound_user(metadata: &SecretMetadata, value: &SecretValue, arn: &str) -> bool {
    arn_names_user(arn, &value.user_name)
        && arn_in_account(arn, expected_account(metadata).as_ref())
}

/// The account whose user the secret holds: the one its name binds, or the secret's own.
fn expected_account(metadata: &SecretMetadata) -> Option<AccountId> {
    bound_account(&metadata.name)
        .or_else(|| partition_and_account(&metadata.arn).map(|(_, account)| account))
}

/// Whether an STS caller ARN belongs to `account` (when it is known).
fn arn_in_account(arn: &str, account: Option<&AccountId>) -> bool {
    account.is_none_or(|account| account_of_arn(arn) == Some(account.as_str()))
}

/// Whether an STS caller ARN (`arn:aws:iam::ACCOUNT:user/PATH/NAME`) is the user's. IAM user
/// names compare without regard to case.
fn arn_names_user(arn: &str, user: &UserName) -> bool {
    arn.split(':')
        .nth(5)
        .and_then(|resource| resource.strip_prefix("user/"))
        .and_then(|path_and_name| path_and_name.rsplit('/').next())
        .is_some_and(|name| name.eq_ignore_ascii_case(user.as_str()))
}

fn ignore_not_found(result: PortResult<()>) -> PortResult<()> {
    match result {
        Err(e) if e.kind == PortErrorKind::NotFound => Ok(()),
        other => other,
    }
}

/// Seconds since the epoch of a deadline in milliseconds, rounded down.
fn secs(millis: u64) -> EpochSecs {
    millis / 1000
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_segment_of_the_name_binds_the_user() {
        assert_eq!(bound_user("IamKeyRotator/alice"), "alice");
        assert_eq!(bound_user("IamKeyRotator/111122223333/alice"), "alice");
        assert_eq!(bound_user("alice"), "alice");
        assert_eq!(bound_user("team/"), "");
    }

    #[test]
    fn caller_arns_name_users_without_regard_to_case() {
        let alice = UserName::new("alice").expect("name");
        assert!(arn_names_user(
            "arn:aws:iam::123456789012:user/Alice",
            &alice
        ));
        assert!(arn_names_user(
            "arn:aws:iam::123456789012:user/rotated/ALICE",
            &alice
        ));
        assert!(!arn_names_user(
            "arn:aws:iam::123456789012:user/alice2",
            &alice
        ));
        assert!(!arn_names_user(
            "arn:aws:sts::123456789012:assumed-role/alice/x",
            &alice
        ));
    }
}
