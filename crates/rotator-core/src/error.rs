//! The rotation's errors. Messages name the secret, the step and what is wrong, and never
//! hold secret material: no variant carries a secret value or a secret access key.

use crate::ports::{PortError, PortErrorKind};
use crate::secret_value::SecretValueError;
use crate::types::{AccessKeyId, AccountId, ClientRequestToken, SecretId, Step, UserName};

/// Why a step failed, without the step's context (see [`StepError`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RotationError {
    #[error("rotation is not enabled on the secret")]
    RotationNotEnabled,
    #[error("version {0} is not a version of the secret: no stage for rotation")]
    NoStageForRotation(ClientRequestToken),
    #[error("version {token} is not AWSPENDING (its stages: {stages})")]
    NotPending {
        token: ClientRequestToken,
        stages: String,
    },
    #[error("the secret has no AWSCURRENT version")]
    NoCurrentVersion,
    #[error("the {stage} value of the secret holds no value")]
    MissingValue { stage: &'static str },
    #[error("the {stage} value of the secret is invalid: {source}")]
    InvalidValue {
        stage: &'static str,
        #[source]
        source: SecretValueError,
    },
    #[error("the IAM user {0} does not exist")]
    UnknownUser(UserName),
    #[error(
        "user {user} already has two access keys and none may be deleted to make room: {keys}. \
         The rotator never deletes the AWSCURRENT key nor an active key the secret does not know; \
         delete or deactivate the unknown key, then retry"
    )]
    NoRoomForKey { user: UserName, keys: String },
    #[error(
        "the secret {secret} is bound by its name to IAM user {bound}, but its {stage} value names user {named}"
    )]
    NotBoundToUser {
        secret: String,
        bound: String,
        named: UserName,
        stage: &'static str,
    },
    #[error(
        "the secret {secret} is bound by its name to account {bound}, but its {stage} value names account {named}"
    )]
    NotBoundToAccount {
        secret: String,
        bound: String,
        named: String,
        stage: &'static str,
    },
    #[error(
        "user {user}'s previous key {key} is still in its grace (rotated {rotated}, last used {last_use}): \
         a new rotation would delete it while programs may still use it. Nothing was changed"
    )]
    PreviousKeyInGrace {
        user: UserName,
        key: AccessKeyId,
        rotated: String,
        last_use: String,
    },
    #[error("the secret's AdoptAccessKeyId {key} cannot be adopted: {reason}. Nothing was changed")]
    AdoptionRefused { key: AccessKeyId, reason: String },
    #[error(
        "user {user}'s key {key} in the secret's AWSPREVIOUS has no record in the secret's ledger: \
         someone removed its record (the tag rotator:key:{key} on user {user}), or wrote a value naming \
         a key the rotator did not make. The rotator never retires a key on the word of the secret's \
         value alone, so the key stays as it is and leaves no room for a new one. If the key is the \
         secret's, hand it back with `rotator adopt {secret} --key {key}`. Nothing was changed"
    )]
    PreviousRecordRemoved {
        user: UserName,
        key: AccessKeyId,
        secret: String,
    },
    #[error("{problem}: it binds no IAM user, and no step acts on it")]
    NameNotManaged { problem: String },
    #[error(
        "the role {role} in account {account} cannot be assumed: {reason}. Nothing was changed"
    )]
    MemberRoleNotAssumable {
        role: String,
        account: AccountId,
        reason: String,
    },
    #[error(
        "user {user} has {tags} tags and the rotator needs room for {needed} more: IAM's tag quota is 50 tags per user"
    )]
    TagQuotaExceeded {
        user: UserName,
        tags: usize,
        needed: usize,
    },
    #[error(
        "another secret's rotation of user {user} (token {token}) may have created a key whose answer was lost; \
         this secret creates no key until {until_text} (epoch {until}), so that neither ledger takes the other's key",
        until_text = crate::types::rfc3339(*until)
    )]
    OtherSecretInDoubt {
        user: UserName,
        token: String,
        until: u64,
    },
    #[error(
        "the pending value holds no access key, but AWSCURRENT holds {current}: finishing would leave AWSCURRENT without a key"
    )]
    PendingHoldsNoKey { current: AccessKeyId },
    #[error(
        "the pending key {key} did not authenticate as {user} within {secs} s{cut} (last error: {last_error})",
        cut = if *cut_by_deadline { ", stopped before the invocation's deadline" } else { "" }
    )]
    PendingKeyRejected {
        key: AccessKeyId,
        user: UserName,
        secs: u64,
        cut_by_deadline: bool,
        last_error: String,
    },
    #[error("the pending key {key} authenticates as {arn}, not as user {user}")]
    WrongIdentity {
        key: AccessKeyId,
        user: UserName,
        arn: String,
    },
    #[error("{operation} failed: {source}")]
    Port {
        operation: &'static str,
        #[source]
        source: PortError,
    },
}

impl RotationError {
    /// Wraps a port error with the operation that failed.
    pub fn port(operation: &'static str) -> impl FnOnce(PortError) -> RotationError {
        move |source| RotationError::Port { operation, source }
    }

    /// A one-line hint for whoever reads the alert.
    pub fn remediation(&self) -> &'static str {
        match self {
            RotationError::RotationNotEnabled => {
                "Enable rotation on the secret (RotateSecret with this function), or remove the schedule that invokes the function."
            }
            RotationError::NoStageForRotation(_) | RotationError::NotPending { .. } => {
                "A rotation was probably cancelled or superseded. Check the secret's versions; starting a new rotation (RotateSecret) is safe."
            }
            RotationError::NoCurrentVersion | RotationError::MissingValue { .. } => {
                "Put a valid value in the secret (at least {\"UserName\": \"...\"}), then rotate again."
            }
            RotationError::InvalidValue { .. } => {
                "Fix the secret's JSON: an object with UserName, and AccessKeyId with SecretAccessKey either both present or both absent. Then rotate again."
            }
            RotationError::UnknownUser(_) => {
                "Create the IAM user or correct UserName in the secret, then rotate again."
            }
            RotationError::NoRoomForKey { .. } => {
                "The user's second key is not known to the secret. Find who uses it; delete or deactivate it, then rotate again."
            }
            RotationError::NotBoundToUser { .. } => {
                "Someone wrote a value naming another user into this secret. Restore UserName to the user the secret's name ends with (and check who can PutSecretValue on it); end a rotation in progress with `rotator recover SECRET` (CancelRotateSecret only turns rotation off and leaves AWSPENDING)."
            }
            RotationError::NotBoundToAccount { .. } => {
                "Someone wrote a value naming another account into this secret. Restore AccountId to the account in the secret's name (or remove it for the function's own account), and check who can PutSecretValue on it; end a rotation in progress with `rotator recover SECRET` (CancelRotateSecret only turns rotation off and leaves AWSPENDING)."
            }
            RotationError::PreviousKeyInGrace { .. } => {
                "The rotation came early (by hand, or a schedule change): wait until the sweep retires the previous key, once unused for ROTATOR_GRACE + ROTATOR_USAGE_LAG. For an emergency (a leaked key), deactivate it first (rotator rotate --retire-previous SECRET), then rotate."
            }
            RotationError::PreviousRecordRemoved { .. } => {
                "Check who removed the rotator: tag (CloudTrail UntagUser); if the key is the secret's previous key, run the rotator adopt command the error names, then rotate again. Protect the rotator: tags with a permission boundary or SCP (see the guarantees page)."
            }
            RotationError::AdoptionRefused { .. } => {
                "Correct AdoptAccessKeyId in the secret's value (rotator adopt SECRET lists the keys that can be adopted), or remove it; then rotate again."
            }
            RotationError::NameNotManaged { .. } => {
                "Name the secret <prefix><user> (or <prefix><12-digit account>/<user>) with the deployment's ROTATOR_SECRET_PREFIX, and check who may create secrets under the prefix and point their rotation at this function."
            }
            RotationError::MemberRoleNotAssumable { .. } => {
                "Deploy the member role in that account (the member stack or the StackSet), trusting the function's role with the configured external id; then rotate again."
            }
            RotationError::TagQuotaExceeded { .. } => {
                "Remove at least two tags the user does not need (IAM allows 50 per user; the rotator needs two while it rotates), then rotate again."
            }
            RotationError::OtherSecretInDoubt { .. } => {
                "Two secrets manage this user. Secrets Manager retries; once the other secret's rotation is retried or its window has passed, this one proceeds. Prefer one secret per user."
            }
            RotationError::PendingHoldsNoKey { .. } => {
                "The pending value was changed by hand. End the rotation with `rotator recover SECRET`, then start a new one."
            }
            RotationError::PendingKeyRejected { .. } | RotationError::WrongIdentity { .. } => {
                "The new key does not work. Secrets Manager will retry; if it keeps failing, check the pending value and the user's keys."
            }
            RotationError::Port { source, .. } => match source.kind {
                PortErrorKind::AccessDenied => {
                    "The function's role lacks a permission: grant the action named above on this user or secret."
                }
                PortErrorKind::Throttled | PortErrorKind::Service => {
                    "A transient AWS error. Secrets Manager retries the step; no action is needed unless it repeats."
                }
                _ => "Check the named call's error; Secrets Manager retries the step.",
            },
        }
    }
}

/// A failed step, with the context an operator needs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{step} failed for secret {secret} (token {token}{user}): {error}", user = match user {
    Some(user) => format!(", user {user}"),
    None => String::new(),
})]
pub struct StepError {
    pub step: Step,
    pub secret: SecretId,
    pub token: ClientRequestToken,
    pub user: Option<UserName>,
    /// Where AWSCURRENT stood when the step failed, for the alert.
    pub current: CurrentStage,
    #[source]
    pub error: RotationError,
}

/// Where AWSCURRENT stands after a failed step.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum CurrentStage {
    /// The step failed before it moved AWSCURRENT: the working key is the one it was.
    #[default]
    Unchanged,
    /// AWSCURRENT is on the rotation's version already, holding this key.
    Moved(Option<AccessKeyId>),
}

impl StepError {
    /// A short name of the failure, for the Lambda's `errorType`.
    pub fn kind(&self) -> &'static str {
        match &self.error {
            RotationError::RotationNotEnabled => "RotationNotEnabled",
            RotationError::NoStageForRotation(_) => "NoStageForRotation",
            RotationError::NotPending { .. } => "NotPending",
            RotationError::NoCurrentVersion => "NoCurrentVersion",
            RotationError::MissingValue { .. } => "MissingValue",
            RotationError::InvalidValue { .. } => "InvalidSecretValue",
            RotationError::UnknownUser(_) => "UnknownUser",
            RotationError::NoRoomForKey { .. } => "NoRoomForKey",
            RotationError::NotBoundToUser { .. } => "SecretNotBoundToUser",
            RotationError::NotBoundToAccount { .. } => "SecretNotBoundToAccount",
            RotationError::NameNotManaged { .. } => "SecretNameNotManaged",
            RotationError::AdoptionRefused { .. } => "AdoptedKeyRefused",
            RotationError::PreviousRecordRemoved { .. } => "PreviousRecordRemoved",
            RotationError::PreviousKeyInGrace { .. } => "PreviousKeyInGrace",
            RotationError::MemberRoleNotAssumable { .. } => "MemberRoleNotAssumable",
            RotationError::TagQuotaExceeded { .. } => "TagQuotaExceeded",
            RotationError::PendingHoldsNoKey { .. } => "PendingHoldsNoKey",
            RotationError::OtherSecretInDoubt { .. } => "OtherSecretInDoubt",
            RotationError::PendingKeyRejected { .. } => "PendingKeyRejected",
            RotationError::WrongIdentity { .. } => "WrongIdentity",
            RotationError::Port { .. } => "AwsCallFailed",
        }
    }
}
