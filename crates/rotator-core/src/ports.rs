//! The ports: what the rotation needs from IAM, the secret store, STS, the notifier and time.
//!
//! The Lambda crate implements them with the AWS SDK; tests implement them in memory or with
//! mockall. No AWS type crosses these traits.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use crate::secret_value::{KeyPair, SecretAccessKey, SecretString};
use crate::types::{AccessKeyId, ClientRequestToken, RotationToken, SecretId, UserName};

/// Seconds since the Unix epoch.
pub type EpochSecs = u64;

/// What went wrong in a call to the outside world.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PortErrorKind {
    /// The thing asked for does not exist (IAM `NoSuchEntity`, `ResourceNotFoundException`).
    NotFound,
    /// The credentials were refused (unknown, deleted or inactive key).
    InvalidCredentials,
    /// The caller lacks a permission.
    AccessDenied,
    /// A service limit was hit (for example a third access key).
    LimitExceeded,
    /// The call was throttled.
    Throttled,
    /// The request was refused as malformed.
    InvalidRequest,
    /// Anything else: a service error, a timeout, a network failure.
    Service,
}

/// An error from a port. Its message comes from the service and never holds secret material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct PortError {
    pub kind: PortErrorKind,
    pub message: String,
}

impl PortError {
    pub fn new(kind: PortErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }
}

pub type PortResult<T> = Result<T, PortError>;

/// Whether an access key can be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyStatus {
    Active,
    Inactive,
}

impl fmt::Display for KeyStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            KeyStatus::Active => "Active",
            KeyStatus::Inactive => "Inactive",
        })
    }
}

/// One access key of a user, as `ListAccessKeys` describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessKeyInfo {
    pub id: AccessKeyId,
    pub status: KeyStatus,
    pub created: Option<EpochSecs>,
}

/// A freshly created key: the only moment IAM reveals its secret.
#[derive(Debug, Clone)]
pub struct NewAccessKey {
    pub id: AccessKeyId,
    pub secret: SecretAccessKey,
    /// When IAM created it, by IAM's clock.
    pub created: Option<EpochSecs>,
}

/// One IAM user tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tag {
    pub key: String,
    pub value: String,
}

/// IAM, limited to a user's access keys and tags.
#[cfg_attr(test, mockall::automock)]
#[async_trait]
pub trait Iam: Send + Sync {
    async fn list_access_keys(&self, user: &UserName) -> PortResult<Vec<AccessKeyInfo>>;
    async fn create_access_key(&self, user: &UserName) -> PortResult<NewAccessKey>;
    async fn set_access_key_status(
        &self,
        user: &UserName,
        key: &AccessKeyId,
        status: KeyStatus,
    ) -> PortResult<()>;
    async fn delete_access_key(&self, user: &UserName, key: &AccessKeyId) -> PortResult<()>;
    async fn list_user_tags(&self, user: &UserName) -> PortResult<Vec<Tag>>;
    async fn tag_user(&self, user: &UserName, tags: &[Tag]) -> PortResult<()>;
    async fn untag_user(&self, user: &UserName, keys: &[String]) -> PortResult<()>;
    /// When and where a key was last used (`GetAccessKeyLastUsed`). IAM reports a use up to
    /// about four hours late.
    async fn access_key_last_used(&self, key: &AccessKeyId) -> PortResult<KeyLastUsed>;
    /// The account's credential report (`GenerateCredentialReport`, then `GetCredentialReport`
    /// once it is ready): one row per IAM user, for an account of any size.
    async fn credential_report(&self) -> PortResult<Vec<CredentialReportRow>>;
    /// The user's ARN and IAM path (`GetUser`); `NotFound` when IAM has no such user. Only
    /// `rotator doctor` reads it.
    async fn get_user(&self, user: &UserName) -> PortResult<UserInfo>;
}

/// An IAM user as `GetUser` describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserInfo {
    pub arn: String,
    /// The user's IAM path, such as `/rotated/IamKeyRotator/`; `/` for a user created without one.
    pub path: String,
}

/// A key's last use, as `GetAccessKeyLastUsed` reports it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyLastUsed {
    /// When it was last used; `None` when it never was (or not since IAM began tracking).
    pub when: Option<EpochSecs>,
    /// The service it was last used with (`sts`, `s3`, ...), when IAM knows it.
    pub service: Option<String>,
    /// The region it was last used in, when IAM knows it.
    pub region: Option<String>,
    /// The IAM user that owns the key (`UserName` of the answer).
    pub owner: Option<String>,
}

/// One access key slot of a credential report row (IAM reports two per user, without ids).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReportedKey {
    pub active: bool,
    /// When the key was created or last rotated.
    pub last_rotated: Option<EpochSecs>,
    pub last_used: Option<EpochSecs>,
    pub last_used_service: Option<String>,
    pub last_used_region: Option<String>,
}

/// One user of the credential report, with the slots of the keys it has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialReportRow {
    pub user: String,
    pub arn: String,
    /// Only the slots that hold a key (a user has at most two).
    pub keys: Vec<ReportedKey>,
}

/// IAM of other accounts, through a role assumed there (`sts:AssumeRole`).
#[cfg_attr(test, mockall::automock)]
#[async_trait]
pub trait MemberAccounts: Send + Sync {
    /// IAM with the credentials of `role_arn`, assumed with `external_id` when given. The
    /// credentials are cached, per role, for their lifetime.
    async fn iam_as<'a>(
        &self,
        role_arn: &str,
        external_id: Option<&'a str>,
    ) -> PortResult<Arc<dyn Iam>>;
}

/// The secret's metadata, as `DescribeSecret` gives it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SecretMetadata {
    /// The secret's ARN: it marks the secret's own records in the user's tags.
    pub arn: String,
    /// The secret's name: its last segment names the IAM user it is bound to.
    pub name: String,
    pub rotation_enabled: bool,
    /// The ARN of the secret's rotation function (`RotationLambdaARN`), when it has one.
    pub rotation_function: Option<String>,
    /// The schedule's interval in days, when rotation has one (`AutomaticallyAfterDays`).
    pub rotation_interval_days: Option<u64>,
    /// When the last rotation completed (`LastRotatedDate`).
    pub last_rotated: Option<EpochSecs>,
    /// When Secrets Manager will rotate next (`NextRotationDate`).
    pub next_rotation: Option<EpochSecs>,
    /// Every version that carries a staging label, with its labels.
    pub versions: BTreeMap<String, Vec<String>>,
    pub tags: BTreeMap<String, String>,
}

impl SecretMetadata {
    /// The version that holds `stage`, if any.
    pub fn version_with_stage(&self, stage: &str) -> Option<&str> {
        self.versions
            .iter()
            .find(|(_, stages)| stages.iter().any(|s| s == stage))
            .map(|(version, _)| version.as_str())
    }

    /// The labels on `version` (empty when it is not a staged version).
    pub fn stages_of(&self, version: &str) -> &[String] {
        self.versions.get(version).map_or(&[], Vec::as_slice)
    }
}

/// One version of a secret, as `ListSecretVersionIds` gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionInfo {
    pub id: String,
    pub stages: Vec<String>,
    pub created: Option<EpochSecs>,
}

/// Which version of a secret to read: always by stage, optionally pinned to a version id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VersionRef<'a> {
    pub version_id: Option<&'a str>,
    pub stage: &'a str,
}

/// Secrets Manager, limited to what a rotation function may do.
#[cfg_attr(test, mockall::automock)]
#[async_trait]
pub trait SecretStore: Send + Sync {
    async fn describe(&self, secret: &SecretId) -> PortResult<SecretMetadata>;
    /// Reads one version. `Ok(None)` when the version holds no value yet. (Secrets Manager
    /// answers a missing secret the same way; the rotator always describes the secret first.)
    async fn get_value<'a>(
        &self,
        secret: &SecretId,
        version: VersionRef<'a>,
    ) -> PortResult<Option<SecretString>>;
    /// Stores `value` as the version `token`, labelled AWSPENDING.
    async fn put_pending<'a>(
        &self,
        secret: &SecretId,
        token: &ClientRequestToken,
        value: &SecretString,
        rotation_token: Option<&'a RotationToken>,
    ) -> PortResult<()>;
    /// Stores `value` as a new version `token` labelled AWSCURRENT (`PutSecretValue` without
    /// stages: the version that held AWSCURRENT becomes AWSPREVIOUS). Only `rotator adopt`
    /// writes a current value; a store that does not serve it (a test's wrapper) refuses.
    async fn put_current<'a>(
        &self,
        secret: &SecretId,
        token: &ClientRequestToken,
        value: &SecretString,
    ) -> PortResult<()> {
        let _ = (secret, token, value);
        Err(PortError::new(
            PortErrorKind::InvalidRequest,
            "this secret store does not write current values",
        ))
    }
    /// Moves or removes a staging label (`UpdateSecretVersionStage`).
    async fn update_stage<'a>(
        &self,
        secret: &SecretId,
        stage: &str,
        move_to: Option<&'a str>,
        remove_from: Option<&'a str>,
    ) -> PortResult<()>;
    /// Every secret whose name starts with `name_prefix`, all pages, with the same metadata as
    /// `describe` (`ListSecrets` with a `name` filter).
    async fn list_secrets(&self, name_prefix: &str) -> PortResult<Vec<SecretMetadata>>;
    /// Every version of a secret that carries a label, with when it was created.
    async fn list_versions(&self, secret: &SecretId) -> PortResult<Vec<VersionInfo>>;
    /// Starts a rotation now (`RotateSecret`); returns the new version's id when AWS gives it.
    async fn start_rotation(&self, secret: &SecretId) -> PortResult<Option<String>>;
}

/// Checks whether a key pair authenticates, and as whom (`sts:GetCallerIdentity`).
#[cfg_attr(test, mockall::automock)]
#[async_trait]
pub trait CredentialCheck: Send + Sync {
    /// The ARN the key pair authenticates as.
    async fn caller_arn(&self, key: &KeyPair) -> PortResult<String>;
}

/// A message for people: a failure alert or a success email. It holds no secret material.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub subject: String,
    pub body: String,
}

/// Sends alerts (SNS) and success emails (SES).
#[cfg_attr(test, mockall::automock)]
#[async_trait]
pub trait Notifier: Send + Sync {
    async fn alert(&self, notice: &Notice) -> PortResult<()>;
    async fn email(&self, to: &[String], notice: &Notice) -> PortResult<()>;
}

/// The function's configuration, as `lambda:GetFunctionConfiguration` gives it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FunctionConfig {
    pub arn: String,
    pub name: String,
    /// How long an invocation may run, in seconds (Lambda allows at most 900).
    pub timeout_secs: u64,
    /// Its environment variables (`ROTATOR_*` among them).
    pub variables: BTreeMap<String, String>,
}

/// One subscription of an SNS topic (`ListSubscriptionsByTopic`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicSubscription {
    /// `email`, `sqs`, `https`, ...
    pub protocol: String,
    /// The address, queue or URL that receives the messages.
    pub endpoint: String,
    /// Whether its owner confirmed it: SNS lists an unconfirmed subscription with the ARN
    /// `PendingConfirmation`, and delivers nothing to it.
    pub confirmed: bool,
}

/// An SES identity (address or domain) as `sesv2:GetEmailIdentity` describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailIdentity {
    /// `VerifiedForSendingStatus`: whether SES sends from (and, in the sandbox, to) it.
    pub verified_for_sending: bool,
    /// `VerificationStatus` (`PENDING`, `SUCCESS`, `FAILED`, ...), when SES gives it.
    pub status: Option<String>,
}

/// An EventBridge Scheduler schedule (`ListSchedules`, then `GetSchedule` for its input).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduleInfo {
    pub group: String,
    pub name: String,
    pub enabled: bool,
    /// The ARN the schedule invokes.
    pub target_arn: String,
    /// The input it sends, when it sends one.
    pub input: Option<String>,
}

/// What `rotator doctor` reads of a deployment beside its secrets and users: the function,
/// the alert topic, SES and the sweep's schedule. Every listing is read to its last page.
#[cfg_attr(test, mockall::automock)]
#[async_trait]
pub trait DeploymentReader: Send + Sync {
    /// The function's configuration (`GetFunctionConfiguration`), by name or ARN; `NotFound`
    /// when there is no such function.
    async fn function(&self, function: &str) -> PortResult<FunctionConfig>;
    /// Every subscription of the topic (`ListSubscriptionsByTopic`, all pages); `NotFound`
    /// when there is no such topic.
    async fn subscriptions(&self, topic_arn: &str) -> PortResult<Vec<TopicSubscription>>;
    /// An SES identity (`GetEmailIdentity`); `NotFound` when SES has no such identity.
    async fn email_identity(&self, identity: &str) -> PortResult<EmailIdentity>;
    /// Whether the SES account has production access in this region (`GetAccount`'s
    /// `ProductionAccessEnabled`): without it, it is in the sandbox.
    async fn email_production_access(&self) -> PortResult<bool>;
    /// Every schedule of every group whose target is `function_arn` (or a version or alias of
    /// it), with its input (`ListSchedules`, all pages, then `GetSchedule` for each match).
    async fn schedules_for(&self, function_arn: &str) -> PortResult<Vec<ScheduleInfo>>;
}

/// Time, so that back-off and key ages are testable without waiting.
#[cfg_attr(test, mockall::automock)]
#[async_trait]
pub trait Clock: Send + Sync {
    fn now(&self) -> EpochSecs;
    /// Milliseconds since the Unix epoch, for the invocation's deadline and for jitter.
    fn now_millis(&self) -> u64 {
        self.now() * 1000
    }
    async fn sleep(&self, duration: Duration);
}

/// The outside world, as the rotation sees it.
#[derive(Clone)]
pub struct Ports {
    /// IAM of the function's own account.
    pub iam: Arc<dyn Iam>,
    /// IAM of other accounts, through the member role.
    pub members: Arc<dyn MemberAccounts>,
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
