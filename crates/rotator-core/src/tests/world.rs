//! An in-memory world that implements every port with the services' rules, for scenario and
//! property tests: IAM's two-key limit and tags, Secrets Manager's versions and staging labels,
//! STS authentication, a notifier that records, a clock that never waits, and a fault plan
//! that can fail any call or end the "process" right after it.
//!
//! The world decides what every guarantee the tests check means, so each behaviour it keeps
//! comes from AWS's reference, not from moto nor from the rotator's own beliefs:
//!
//! | state or behaviour | what the world does | AWS's page |
//! | --- | --- | --- |
//! | `LastRotatedDate` | stamped when a rotation *completes* (the finish's last label change, AWSPENDING off the AWSCURRENT version); not when AWSCURRENT moves, nor by a `PutSecretValue` by hand. (It stamped the move until issue 25.) | [SecretListEntry](https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_SecretListEntry.html), `LastRotatedDate`: "the most recent date and time that the Secrets Manager rotation process was successfully completed" |
//! | `NextRotationDate` | the later of the last completed rotation and the last `PutSecretValue` that moved AWSCURRENT, plus the interval. (It ignored values put by hand until issue 25.) | [RotationRulesType](https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_RotationRulesType.html): manually updating the value "is considered a valid rotation" |
//! | `LastChangedDate` | not kept: no code reads it | [DescribeSecret](https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_DescribeSecret.html) |
//! | a version's `CreatedDate` | when `PutSecretValue` or `RotateSecret` made the version | [SecretVersionsListEntry](https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_SecretVersionsListEntry.html) |
//! | a version's `LastAccessedDate` | not kept: a date rounded to the day, which no code reads | SecretVersionsListEntry |
//! | label moves | a label sits on one version; moving AWSCURRENT puts AWSPREVIOUS on the version it left; a move of a label attached elsewhere is refused unless `RemoveFromVersionId` names that version; a version without labels is not listed | [UpdateSecretVersionStage](https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_UpdateSecretVersionStage.html), [ListSecretVersionIds](https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_ListSecretVersionIds.html) |
//! | `PutSecretValue` | without stages it moves AWSCURRENT (the old version becomes AWSPREVIOUS); with `AWSPENDING` it moves AWSPENDING; the same token with the same value is accepted again, with another value refused | [PutSecretValue](https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_PutSecretValue.html) |
//! | `RotateSecret` (the port) | refused while AWSPENDING stands on a version other than AWSCURRENT's; else a new empty version labelled AWSPENDING. (It started over a stuck rotation until issue 25.) The tests' `World::start_rotation` also starts over a stuck rotation: a superset of AWS's sequences, which the invariants must survive | [RotateSecret](https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_RotateSecret.html) |
//! | `CancelRotateSecret` | not a port call: it only turns rotation off and leaves AWSPENDING; `World::abandon_rotation` is the `UpdateSecretVersionStage` that removes AWSPENDING (a person's, or the recover action's) | [CancelRotateSecret](https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_CancelRotateSecret.html) |
//! | `GetAccessKeyLastUsed` | the key's owner (`UserName`) and last use; `NoSuchEntity` for a key that no longer exists. The reference documents no error of its own for a missing key, so the rotator takes only `NoSuchEntity` for "gone" and anything else for "cannot tell" | [GetAccessKeyLastUsed](https://docs.aws.amazon.com/IAM/latest/APIReference/API_GetAccessKeyLastUsed.html) |
//! | IAM's limits | two keys per user (inactive ones count), 50 tags per user, tag keys of 128 and values of 256 characters | [IAM and AWS STS quotas](https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html) |
//! | IAM's eventual consistency | a new key is missing from `ListAccessKeys` for `listing_lag_secs` and authenticates after `propagation_secs` | [IAM troubleshooting: changes not always immediately visible](https://docs.aws.amazon.com/IAM/latest/UserGuide/troubleshoot_general.html#troubleshoot_general_eventual-consistency) |

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;

use crate::config::{OldKeyPolicy, Settings};
use crate::ports::{
    AccessKeyInfo, Clock, CredentialCheck, CredentialReportRow, DeploymentReader, EmailIdentity,
    EpochSecs, FunctionConfig, Iam, KeyLastUsed, KeyStatus, MemberAccounts, NewAccessKey, Notice,
    Notifier, PortError, PortErrorKind, PortResult, ReportedKey, ScheduleInfo, SecretMetadata,
    SecretStore, Tag, TopicSubscription, UserInfo, VersionInfo, VersionRef,
};
use crate::rotation::{AWSCURRENT, AWSPENDING, AWSPREVIOUS, NOTIFY_EMAIL_TAG, Ports};
use crate::secret_value::{KeyPair, SecretAccessKey, SecretString};
use crate::types::{AccessKeyId, ClientRequestToken, RotationToken, SecretId, UserName};

pub const ACCOUNT: &str = "123456789012";

/// A fault to inject at one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The call fails with this kind of error and has no effect.
    Fail(PortErrorKind),
    /// The call takes effect, then the process dies: every later call of this invocation fails
    /// and has no effect.
    CrashAfter,
    /// The call takes effect, but its answer is lost: the caller sees this kind of error (a
    /// timeout after the service acted).
    FailAfter(PortErrorKind),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key {
    pub id: String,
    pub secret: String,
    pub status: KeyStatus,
    pub created: EpochSecs,
    /// Its last successful authentication, as `GetAccessKeyLastUsed` reports it.
    pub last_used: KeyLastUsed,
}

impl Key {
    /// The key as `ListAccessKeys` describes it.
    pub fn info(&self) -> AccessKeyInfo {
        AccessKeyInfo {
            id: AccessKeyId::new(self.id.as_str()).expect("valid id"),
            status: self.status,
            created: Some(self.created),
        }
    }
}

/// The settings the tests rotate with: a sender, the old-key policy, a 30 s testSecret budget,
/// and no automatic recovery of stuck rotations (`ROTATOR_STUCK_AFTER=0s`): the suites that
/// leave a rotation stuck for days test what else happens meanwhile; the recovery's own tests
/// turn it on.
pub fn settings(policy: OldKeyPolicy) -> Settings {
    Settings {
        sender_email: Some("rotator@example.com".into()),
        old_key_policy: policy,
        test_timeout: Duration::from_secs(30),
        stuck_after: Duration::ZERO,
        ..Settings::default()
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct User {
    pub keys: Vec<Key>,
    pub tags: BTreeMap<String, String>,
    /// The user's IAM path; empty means `/`.
    pub path: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Version {
    pub value: Option<String>,
    pub stages: Vec<String>,
    pub created: EpochSecs,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Secret {
    pub rotation_enabled: bool,
    /// The rotation schedule, in days, when the secret has one.
    pub rotation_interval_days: Option<u64>,
    /// When a rotation last completed (`LastRotatedDate`).
    pub last_rotated: Option<EpochSecs>,
    /// When a `PutSecretValue` last moved AWSCURRENT to a new value: the schedule counts it as
    /// a rotation (RotationRulesType), `LastRotatedDate` does not.
    pub value_put: Option<EpochSecs>,
    pub versions: BTreeMap<String, Version>,
    pub tags: BTreeMap<String, String>,
    /// The rotation function's ARN (`RotationLambdaARN`), when the secret has one.
    pub rotation_function: Option<String>,
}

impl Secret {
    pub fn version_with(&self, stage: &str) -> Option<(&String, &Version)> {
        self.versions
            .iter()
            .find(|(_, v)| v.stages.iter().any(|s| s == stage))
    }

    /// `PutSecretValue` without staging labels: `value` becomes the new AWSCURRENT version
    /// `version`, and the version it replaces AWSPREVIOUS.
    fn put_current(&mut self, version: String, value: &str, now: EpochSecs) {
        self.value_put = Some(now);
        let replaced = self.version_with(AWSCURRENT).map(|(id, _)| id.clone());
        self.strip_stage(AWSCURRENT);
        if let Some(replaced) = replaced {
            self.strip_stage(AWSPREVIOUS);
            if let Some(old) = self.versions.get_mut(&replaced) {
                old.stages.push(AWSPREVIOUS.into());
            }
        }
        self.versions.insert(
            version,
            Version {
                value: Some(value.into()),
                stages: vec![AWSCURRENT.into()],
                created: now,
            },
        );
    }

    fn strip_stage(&mut self, stage: &str) {
        for version in self.versions.values_mut() {
            version.stages.retain(|s| s != stage);
        }
    }
}

/// Everything the world holds.
#[derive(Debug, Default)]
pub struct State {
    pub now: EpochSecs,
    pub users: BTreeMap<String, User>,
    pub secrets: BTreeMap<String, Secret>,
    pub alerts: Vec<Notice>,
    pub alert_attempts: usize,
    pub emails: Vec<(Vec<String>, Notice)>,
    /// The name of every port call, in order.
    pub calls: Vec<&'static str>,
    /// Faults by the index of the call they hit (counted across invocations).
    pub faults: BTreeMap<usize, Fault>,
    /// Faults that hit the next call of the named operation.
    pub named_faults: Vec<(&'static str, Fault)>,
    pub crashed: bool,
    /// The secret of every access key ever created in this world, deleted ones included.
    pub issued_secrets: Vec<String>,
    /// Seconds before a new key authenticates (IAM's eventual consistency).
    pub propagation_secs: EpochSecs,
    /// Seconds during which a new key is missing from `ListAccessKeys` (IAM's eventual
    /// consistency: a key exists, counts against the limit, but is not listed yet).
    pub listing_lag_secs: EpochSecs,
    /// This world's account (`ACCOUNT` when unset): member worlds have their own.
    pub account: Option<String>,
    /// Other accounts' worlds by the ARN of their member role, with the external id it needs.
    pub members: BTreeMap<String, (World, Option<String>)>,
    /// Lambda functions by ARN, for `rotator doctor`.
    pub functions: BTreeMap<String, FunctionConfig>,
    /// SNS topics by ARN, with their subscriptions.
    pub topics: BTreeMap<String, Vec<TopicSubscription>>,
    /// SES identities (addresses and domains).
    pub identities: BTreeMap<String, EmailIdentity>,
    /// Whether SES has production access (else the sandbox).
    pub ses_production: bool,
    /// EventBridge Scheduler schedules.
    pub schedules: Vec<ScheduleInfo>,
    next_key: u32,
    next_version: u32,
}

/// The shared in-memory world.
#[derive(Debug, Clone, Default)]
pub struct World(Arc<Mutex<State>>);

impl World {
    pub fn new() -> Self {
        let world = Self::default();
        world.state().now = 1_790_000_000;
        world
    }

    pub fn state(&self) -> MutexGuard<'_, State> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The ports, all served by this world.
    pub fn ports(&self) -> Ports {
        Ports {
            iam: Arc::new(self.clone()),
            members: Arc::new(self.clone()),
            secrets: Arc::new(self.clone()),
            credentials: Arc::new(self.clone()),
            notifier: Arc::new(self.clone()),
            clock: Arc::new(self.clone()),
        }
    }

    /// A world with one user and one secret for it: the secret's AWSCURRENT value is `value`
    /// and its `NotifyEmail` tag `notify`.
    pub fn with_user_and_secret(user: &str, secret: &str, value: &str, notify: &str) -> Self {
        let world = Self::new();
        world.add_user(user);
        world.add_secret(secret, value);
        world
            .state()
            .secrets
            .get_mut(secret)
            .expect("the secret was just added")
            .tags
            .insert(NOTIFY_EMAIL_TAG.into(), notify.into());
        world
    }

    /// Adds another account with a member role the function may assume (with `external_id`,
    /// when given), and returns its world: its users, keys and tags are its own.
    pub fn add_member_account(&self, account: &str, external_id: Option<&str>) -> World {
        let member = World::new();
        {
            let mut state = member.state();
            state.account = Some(account.to_owned());
            state.now = self.state().now;
            // Access key ids are unique across AWS: each account numbers its keys apart.
            state.next_key = 100_000 * (self.state().members.len() as u32 + 1);
        }
        let role = format!("arn:aws:iam::{account}:role/IamKeyRotatorMember");
        self.state()
            .members
            .insert(role, (member.clone(), external_id.map(str::to_owned)));
        member
    }

    pub fn add_user(&self, name: &str) {
        self.state().users.entry(name.into()).or_default();
    }

    /// Gives `user` a key made outside the rotator and returns it.
    pub fn add_key(&self, user: &str, status: KeyStatus) -> (String, String) {
        let mut state = self.state();
        let key = state.new_key(status);
        let pair = (key.id.clone(), key.secret.clone());
        state.users.entry(user.into()).or_default().keys.push(key);
        pair
    }

    /// Creates a secret whose AWSCURRENT version holds `value`.
    pub fn add_secret(&self, name: &str, value: &str) {
        let mut state = self.state();
        let state_now = state.now;
        let version = state.new_version_id();
        let secret = state.secrets.entry(name.into()).or_default();
        secret.versions.insert(
            version,
            Version {
                value: Some(value.into()),
                stages: vec![AWSCURRENT.into()],
                created: state_now,
            },
        );
    }

    /// A person's `PutSecretValue` without staging labels: `value` becomes a new AWSCURRENT
    /// version and the version it replaces becomes AWSPREVIOUS.
    pub fn put_current(&self, name: &str, value: &str) {
        let mut state = self.state();
        let now = state.now;
        let version = state.new_version_id();
        let secret = state.secrets.get_mut(name).expect("the secret exists");
        secret.put_current(version, value, now);
    }

    /// What `RotateSecret` does before it invokes the function: enables rotation and labels a
    /// new, empty version `token` AWSPENDING.
    pub fn start_rotation(&self, secret: &str, token: &str) {
        let mut state = self.state();
        let now = state.now;
        let secret = state.secrets.get_mut(secret).expect("the secret exists");
        secret.rotation_enabled = true;
        secret.strip_stage(AWSPENDING);
        secret.versions.insert(
            token.into(),
            Version {
                value: None,
                stages: vec![AWSPENDING.into()],
                created: now,
            },
        );
    }

    /// What Secrets Manager does to an abandoned rotation: AWSPENDING is taken away.
    pub fn abandon_rotation(&self, secret: &str) {
        let mut state = self.state();
        if let Some(secret) = state.secrets.get_mut(secret) {
            secret.strip_stage(AWSPENDING);
        }
    }

    pub fn current_value(&self, secret: &str) -> Option<String> {
        let state = self.state();
        let (_, version) = state.secrets.get(secret)?.version_with(AWSCURRENT)?;
        version.value.clone()
    }

    /// Makes the next call of `operation` suffer `fault`.
    pub fn inject(&self, operation: &'static str, fault: Fault) {
        self.state().named_faults.push((operation, fault));
    }

    /// Gives `user` `count` tags of its own (`team0`, `team1`, ...).
    pub fn add_user_tags(&self, user: &str, count: usize) {
        let mut state = self.state();
        let tags = &mut state.users.entry(user.into()).or_default().tags;
        for n in 0..count {
            tags.insert(format!("team{n}"), format!("value {n}"));
        }
    }

    /// Writes the ledger record by which `secret`'s rotations know `key` as their own, as
    /// createSecret does right after `CreateAccessKey` (for a key a test set up by hand).
    pub fn record_key(&self, user: &str, secret: &str, key: &str) {
        let digest = crate::ledger::SecretDigest::of(&secret_arn(secret));
        let mut state = self.state();
        let tags = &mut state.users.entry(user.into()).or_default().tags;
        tags.insert(
            format!("rotator:key:{key}"),
            format!("{}/set-up-by-the-test", digest.as_str()),
        );
    }

    /// A person removes the ledger record of `key` from `user` (its `rotator:key:` tag), as an
    /// `UntagUser` by hand would.
    pub fn remove_record(&self, user: &str, key: &str) {
        if let Some(found) = self.state().users.get_mut(user) {
            found.tags.remove(&format!("rotator:key:{key}"));
        }
    }

    /// Someone with `PutSecretValue` on the secret writes `value` into the AWSPENDING version
    /// `token` (a hostile or mistaken edit in the middle of a rotation). Secrets Manager itself
    /// refuses to change a version's stored value, so a function instance that already read or
    /// wrote this version goes on seeing its first value: the steps that are to read this one
    /// must run on another instance (a new `Rotator`).
    pub fn overwrite_pending(&self, secret: &str, token: &str, value: &str) {
        let mut state = self.state();
        let secret = state.secrets.get_mut(secret).expect("the secret exists");
        let version = secret.versions.entry(token.into()).or_default();
        version.value = Some(value.into());
        if !version.stages.iter().any(|s| s == AWSPENDING) {
            version.stages.push(AWSPENDING.into());
        }
    }

    /// Lets a new invocation start after a simulated crash.
    pub fn restart(&self) {
        self.state().crashed = false;
    }

    /// Runs `effect` as one port call, subject to the fault plan.
    fn call<T>(
        &self,
        name: &'static str,
        effect: impl FnOnce(&mut State) -> PortResult<T>,
    ) -> PortResult<T> {
        let mut state = self.state();
        if state.crashed {
            return Err(crashed());
        }
        let index = state.calls.len();
        state.calls.push(name);
        let named = state
            .named_faults
            .iter()
            .position(|(op, _)| *op == name)
            .map(|i| state.named_faults.remove(i).1);
        match state.faults.remove(&index).or(named) {
            Some(Fault::Fail(kind)) => {
                Err(PortError::new(kind, format!("injected {kind:?} in {name}")))
            }
            Some(Fault::CrashAfter) => {
                let _ = effect(&mut state);
                state.crashed = true;
                Err(crashed())
            }
            Some(Fault::FailAfter(kind)) => {
                let _ = effect(&mut state);
                Err(PortError::new(
                    kind,
                    format!("injected {kind:?} in {name} after it took effect"),
                ))
            }
            None => effect(&mut state),
        }
    }
}

/// The ARN the world gives the secret `name`.
pub fn secret_arn(name: &str) -> String {
    format!("arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:{name}-AbCdEf")
}

fn crashed() -> PortError {
    PortError::new(PortErrorKind::Service, "the process ended")
}

fn not_found(what: impl std::fmt::Display) -> PortError {
    PortError::new(PortErrorKind::NotFound, format!("{what} not found"))
}

impl State {
    fn new_key(&mut self, status: KeyStatus) -> Key {
        self.next_key += 1;
        let key = Key {
            id: format!("AKIAMEMORY{:010}", self.next_key),
            secret: format!("memory-secret-{:04}-wJalrXUtnFEMIK7MDENG", self.next_key),
            status,
            created: self.now,
            last_used: KeyLastUsed::default(),
        };
        self.issued_secrets.push(key.secret.clone());
        key
    }

    fn new_version_id(&mut self) -> String {
        self.next_version += 1;
        format!("00000000-0000-4000-8000-{:012}", self.next_version)
    }

    /// The user, found as IAM finds it: without regard to case.
    fn user(&mut self, name: &UserName) -> PortResult<&mut User> {
        self.users
            .iter_mut()
            .find(|(known, _)| known.eq_ignore_ascii_case(name.as_str()))
            .map(|(_, user)| user)
            .ok_or_else(|| not_found(format!("user {name}")))
    }

    fn secret(&mut self, id: &SecretId) -> PortResult<&mut Secret> {
        self.secrets
            .get_mut(id.as_str())
            .ok_or_else(|| not_found(format!("secret {id}")))
    }
}

#[async_trait]
impl Iam for World {
    async fn list_access_keys(&self, user: &UserName) -> PortResult<Vec<AccessKeyInfo>> {
        self.call("iam:ListAccessKeys", |s| {
            let now = s.now;
            let lag = s.listing_lag_secs;
            Ok(s.user(user)?
                .keys
                .iter()
                .filter(|k| now >= k.created + lag)
                .map(Key::info)
                .collect())
        })
    }

    async fn create_access_key(&self, user: &UserName) -> PortResult<NewAccessKey> {
        self.call("iam:CreateAccessKey", |s| {
            if s.user(user)?.keys.len() >= 2 {
                return Err(PortError::new(
                    PortErrorKind::LimitExceeded,
                    "Cannot exceed quota for AccessKeysPerUser: 2",
                ));
            }
            let key = s.new_key(KeyStatus::Active);
            let created = NewAccessKey {
                id: AccessKeyId::new(key.id.as_str()).expect("valid id"),
                secret: SecretAccessKey::new(key.secret.as_str()),
                created: Some(key.created),
            };
            s.user(user)?.keys.push(key);
            Ok(created)
        })
    }

    async fn set_access_key_status(
        &self,
        user: &UserName,
        key: &AccessKeyId,
        status: KeyStatus,
    ) -> PortResult<()> {
        self.call("iam:UpdateAccessKey", |s| {
            let found = s
                .user(user)?
                .keys
                .iter_mut()
                .find(|k| k.id == key.as_str())
                .ok_or_else(|| not_found(format!("access key {key}")))?;
            found.status = status;
            Ok(())
        })
    }

    async fn delete_access_key(&self, user: &UserName, key: &AccessKeyId) -> PortResult<()> {
        self.call("iam:DeleteAccessKey", |s| {
            let keys = &mut s.user(user)?.keys;
            let before = keys.len();
            keys.retain(|k| k.id != key.as_str());
            if keys.len() == before {
                return Err(not_found(format!("access key {key}")));
            }
            Ok(())
        })
    }

    async fn list_user_tags(&self, user: &UserName) -> PortResult<Vec<Tag>> {
        self.call("iam:ListUserTags", |s| {
            Ok(s.user(user)?
                .tags
                .iter()
                .map(|(key, value)| Tag {
                    key: key.clone(),
                    value: value.clone(),
                })
                .collect())
        })
    }

    async fn tag_user(&self, user: &UserName, tags: &[Tag]) -> PortResult<()> {
        self.call("iam:TagUser", |s| {
            let existing = &mut s.user(user)?.tags;
            let mut updated = existing.clone();
            for tag in tags {
                if tag.key.len() > 128 || tag.value.len() > 256 {
                    return Err(PortError::new(
                        PortErrorKind::InvalidRequest,
                        "tag too long",
                    ));
                }
                updated.insert(tag.key.clone(), tag.value.clone());
            }
            if updated.len() > 50 {
                return Err(PortError::new(
                    PortErrorKind::LimitExceeded,
                    "a user can have at most 50 tags",
                ));
            }
            *existing = updated;
            Ok(())
        })
    }

    async fn untag_user(&self, user: &UserName, keys: &[String]) -> PortResult<()> {
        self.call("iam:UntagUser", |s| {
            let tags = &mut s.user(user)?.tags;
            for key in keys {
                tags.remove(key);
            }
            Ok(())
        })
    }

    async fn access_key_last_used(&self, key: &AccessKeyId) -> PortResult<KeyLastUsed> {
        self.call("iam:GetAccessKeyLastUsed", |s| {
            s.users
                .iter()
                .find_map(|(name, user)| {
                    let found = user.keys.iter().find(|k| k.id == key.as_str())?;
                    Some(KeyLastUsed {
                        owner: Some(name.clone()),
                        ..found.last_used.clone()
                    })
                })
                .ok_or_else(|| not_found(format!("access key {key}")))
        })
    }

    async fn get_user(&self, user: &UserName) -> PortResult<UserInfo> {
        self.call("iam:GetUser", |s| {
            let account = s.account.clone().unwrap_or_else(|| ACCOUNT.to_owned());
            let found = s.user(user)?;
            let path = if found.path.is_empty() {
                "/".to_owned()
            } else {
                found.path.clone()
            };
            Ok(UserInfo {
                arn: format!("arn:aws:iam::{account}:user{path}{user}"),
                path,
            })
        })
    }

    async fn credential_report(&self) -> PortResult<Vec<CredentialReportRow>> {
        self.call("iam:GetCredentialReport", |s| {
            let account = s.account.clone().unwrap_or_else(|| ACCOUNT.to_owned());
            Ok(s.users
                .iter()
                .map(|(name, user)| CredentialReportRow {
                    user: name.clone(),
                    arn: format!("arn:aws:iam::{account}:user/{name}"),
                    keys: user
                        .keys
                        .iter()
                        .map(|k| ReportedKey {
                            active: k.status == KeyStatus::Active,
                            last_rotated: Some(k.created),
                            last_used: k.last_used.when,
                            last_used_service: k.last_used.service.clone(),
                            last_used_region: k.last_used.region.clone(),
                        })
                        .collect(),
                })
                .collect())
        })
    }
}

impl World {
    /// Records a use of `key` now, with `service`, as IAM's last-used data would show it.
    #[allow(dead_code)] // The fleet and sweep tests use it.
    pub fn use_key(&self, key: &str, service: &str) {
        let mut state = self.state();
        let now = state.now;
        if let Some(found) = state
            .users
            .values_mut()
            .flat_map(|user| user.keys.iter_mut())
            .find(|k| k.id == key)
        {
            found.last_used = KeyLastUsed {
                when: Some(now),
                service: Some(service.to_owned()),
                region: Some("us-east-1".to_owned()),
                owner: None,
            };
        }
    }
}

#[async_trait]
impl SecretStore for World {
    async fn describe(&self, secret: &SecretId) -> PortResult<SecretMetadata> {
        self.call("secretsmanager:DescribeSecret", |s| {
            let found = s.secret(secret)?;
            Ok(metadata(secret.as_str(), found))
        })
    }

    async fn get_value<'a>(
        &self,
        secret: &SecretId,
        version: VersionRef<'a>,
    ) -> PortResult<Option<SecretString>> {
        self.call("secretsmanager:GetSecretValue", |s| {
            let found = s.secret(secret)?;
            let chosen = match version.version_id {
                Some(id) => found
                    .versions
                    .get(id)
                    .filter(|v| v.stages.iter().any(|st| st == version.stage)),
                None => found.version_with(version.stage).map(|(_, v)| v),
            };
            Ok(chosen.and_then(|v| v.value.clone()).map(SecretString::new))
        })
    }

    async fn put_pending<'a>(
        &self,
        secret: &SecretId,
        token: &ClientRequestToken,
        value: &SecretString,
        _rotation_token: Option<&'a RotationToken>,
    ) -> PortResult<()> {
        self.call("secretsmanager:PutSecretValue", |s| {
            let now = s.now;
            let found = s.secret(secret)?;
            if let Some(existing) = found.versions.get(token.as_str())
                && let Some(stored) = &existing.value
            {
                if stored == value.expose() {
                    return Ok(());
                }
                return Err(PortError::new(
                    PortErrorKind::InvalidRequest,
                    "ResourceExistsException: a version with this token already holds another value",
                ));
            }
            found.strip_stage(AWSPENDING);
            let version = found.versions.entry(token.as_str().into()).or_default();
            version.created = now;
            version.value = Some(value.expose().into());
            version.stages.push(AWSPENDING.into());
            Ok(())
        })
    }

    async fn put_current<'a>(
        &self,
        secret: &SecretId,
        token: &ClientRequestToken,
        value: &SecretString,
    ) -> PortResult<()> {
        self.call("secretsmanager:PutSecretValue", |s| {
            let now = s.now;
            let found = s.secret(secret)?;
            if let Some(existing) = found.versions.get(token.as_str()) {
                if existing.value.as_deref() == Some(value.expose()) {
                    return Ok(());
                }
                return Err(PortError::new(
                    PortErrorKind::InvalidRequest,
                    "ResourceExistsException: a version with this token already holds another value",
                ));
            }
            found.put_current(token.as_str().into(), value.expose(), now);
            Ok(())
        })
    }

    async fn update_stage<'a>(
        &self,
        secret: &SecretId,
        stage: &str,
        move_to: Option<&'a str>,
        remove_from: Option<&'a str>,
    ) -> PortResult<()> {
        self.call("secretsmanager:UpdateSecretVersionStage", |s| {
            let now = s.now;
            let found = s.secret(secret)?;
            let holder = found.version_with(stage).map(|(id, _)| id.clone());
            if holder.is_some() && holder.as_deref() != remove_from && move_to.is_some() {
                return Err(PortError::new(
                    PortErrorKind::InvalidRequest,
                    format!("{stage} is attached to {holder:?}, not to {remove_from:?}"),
                ));
            }
            if let Some(from) = remove_from {
                let version = found
                    .versions
                    .get_mut(from)
                    .filter(|v| v.stages.iter().any(|st| st == stage))
                    .ok_or_else(|| {
                        PortError::new(
                            PortErrorKind::InvalidRequest,
                            format!("{stage} is not attached to {from}"),
                        )
                    })?;
                version.stages.retain(|st| st != stage);
                // AWS stamps `LastRotatedDate` when a rotation completes ("the most recent
                // date and time that the Secrets Manager rotation process was successfully
                // completed", SecretListEntry), not when AWSCURRENT moves: the world stamps it
                // at a finish's last label change, AWSPENDING taken off the AWSCURRENT version.
                if stage == AWSPENDING
                    && move_to.is_none()
                    && version.stages.iter().any(|st| st == AWSCURRENT)
                {
                    found.last_rotated = Some(now);
                }
            }
            if let Some(to) = move_to {
                let version = found
                    .versions
                    .get_mut(to)
                    .ok_or_else(|| not_found(format!("version {to}")))?;
                version.stages.push(stage.into());
                if stage == AWSCURRENT
                    && let Some(from) = remove_from
                    && from != to
                {
                    found.strip_stage(AWSPREVIOUS);
                    if let Some(old) = found.versions.get_mut(from) {
                        old.stages.push(AWSPREVIOUS.into());
                    }
                }
            }
            Ok(())
        })
    }

    async fn list_secrets(&self, name_prefix: &str) -> PortResult<Vec<SecretMetadata>> {
        self.call("secretsmanager:ListSecrets", |s| {
            Ok(s.secrets
                .iter()
                .filter(|(name, _)| name.starts_with(name_prefix))
                .map(|(name, found)| metadata(name, found))
                .collect())
        })
    }

    async fn list_versions(&self, secret: &SecretId) -> PortResult<Vec<VersionInfo>> {
        self.call("secretsmanager:ListSecretVersionIds", |s| {
            let found = s.secret(secret)?;
            Ok(found
                .versions
                .iter()
                .filter(|(_, v)| !v.stages.is_empty())
                .map(|(id, v)| VersionInfo {
                    id: id.clone(),
                    stages: v.stages.clone(),
                    created: Some(v.created),
                })
                .collect())
        })
    }

    /// Labels a new empty version AWSPENDING, as `RotateSecret` does before it invokes the
    /// function; the test then drives the steps itself. Like Secrets Manager it refuses while
    /// AWSPENDING stands on a version other than AWSCURRENT's: "If the AWSPENDING staging
    /// label is present but not attached to the same version as AWSCURRENT, then any later
    /// invocation of RotateSecret assumes that a previous rotation request is still in
    /// progress and returns an error" (Secrets Manager API reference, RotateSecret).
    async fn start_rotation(&self, secret: &SecretId) -> PortResult<Option<String>> {
        self.call("secretsmanager:RotateSecret", |s| {
            let now = s.now;
            let found = s.secret(secret)?;
            let pending = found.version_with(AWSPENDING).map(|(id, _)| id.clone());
            if pending.is_some()
                && pending != found.version_with(AWSCURRENT).map(|(id, _)| id.clone())
            {
                return Err(PortError::new(
                    PortErrorKind::InvalidRequest,
                    "InvalidRequestException: A previous rotation isn't complete. That rotation will be reattempted.",
                ));
            }
            let token = s.new_version_id();
            let found = s.secret(secret)?;
            // RotateSecret refuses while AWSPENDING stands on a version other than
            // AWSCURRENT's: "a previous rotation isn't complete" (RotateSecret API reference).
            let pending = found.version_with(AWSPENDING).map(|(id, _)| id.clone());
            let current = found.version_with(AWSCURRENT).map(|(id, _)| id.clone());
            if pending.is_some() && pending != current {
                return Err(PortError::new(
                    PortErrorKind::InvalidRequest,
                    "InvalidRequestException: A previous rotation isn't complete. That rotation will be reattempted.",
                ));
            }
            found.rotation_enabled = true;
            found.strip_stage(AWSPENDING);
            found.versions.insert(
                token.clone(),
                Version {
                    value: None,
                    stages: vec![AWSPENDING.into()],
                    created: now,
                },
            );
            Ok(Some(token))
        })
    }
}

/// A secret's metadata as `DescribeSecret` and `ListSecrets` give it.
fn metadata(name: &str, found: &Secret) -> SecretMetadata {
    SecretMetadata {
        arn: secret_arn(name),
        name: name.to_owned(),
        rotation_enabled: found.rotation_enabled,
        rotation_function: found.rotation_function.clone(),
        rotation_interval_days: found.rotation_interval_days,
        last_rotated: found.last_rotated,
        next_rotation: found
            .rotation_interval_days
            .filter(|_| found.rotation_enabled)
            .map(|days| found.last_rotated.max(found.value_put).unwrap_or(0) + days * 86_400),
        versions: found
            .versions
            .iter()
            .filter(|(_, v)| !v.stages.is_empty())
            .map(|(id, v)| (id.clone(), v.stages.clone()))
            .collect(),
        tags: found.tags.clone(),
    }
}

#[async_trait]
impl CredentialCheck for World {
    async fn caller_arn(&self, key: &KeyPair) -> PortResult<String> {
        let (members, now): (Vec<World>, EpochSecs) = {
            let state = self.state();
            (
                state.members.values().map(|(w, _)| w.clone()).collect(),
                state.now,
            )
        };
        for member in members {
            // STS is global: a member account's key authenticates as that account's user.
            if let Ok(arn) = member.authenticate(key, now) {
                return self.call("sts:GetCallerIdentity", |_| Ok(arn));
            }
        }
        self.call("sts:GetCallerIdentity", |s| {
            let now = s.now;
            s.authenticate(key, now).ok_or_else(|| {
                PortError::new(
                    PortErrorKind::InvalidCredentials,
                    "InvalidClientTokenId: The security token included in the request is invalid.",
                )
            })
        })
    }
}

impl World {
    /// This account's answer to a key pair at `now`, without recording a call.
    fn authenticate(&self, key: &KeyPair, now: EpochSecs) -> PortResult<String> {
        self.state()
            .authenticate(key, now)
            .ok_or_else(|| not_found("key"))
    }
}

impl State {
    /// The ARN a key pair of this account authenticates as at `now`, recording the use as
    /// IAM's last-used data would; `None` when no active, propagated key matches.
    fn authenticate(&mut self, key: &KeyPair, now: EpochSecs) -> Option<String> {
        let delay = self.propagation_secs;
        let account = self.account.clone().unwrap_or_else(|| ACCOUNT.to_owned());
        self.users.iter_mut().find_map(|(name, user)| {
            let found = user.keys.iter_mut().find(|k| {
                k.id == key.access_key_id.as_str()
                    && k.secret == key.secret_access_key.expose()
                    && k.status == KeyStatus::Active
                    && now >= k.created + delay
            })?;
            found.last_used = KeyLastUsed {
                when: Some(now),
                service: Some("sts".to_owned()),
                region: Some("us-east-1".to_owned()),
                owner: None,
            };
            Some(format!("arn:aws:iam::{account}:user/{name}"))
        })
    }
}

#[async_trait]
impl MemberAccounts for World {
    async fn iam_as<'a>(
        &self,
        role_arn: &str,
        external_id: Option<&'a str>,
    ) -> PortResult<Arc<dyn Iam>> {
        self.call("sts:AssumeRole", |s| match s.members.get(role_arn) {
            Some((member, wanted)) if wanted.as_deref() == external_id => {
                member.state().now = s.now;
                Ok(Arc::new(member.clone()) as Arc<dyn Iam>)
            }
            _ => Err(PortError::new(
                PortErrorKind::AccessDenied,
                format!("AccessDenied: not authorized to perform sts:AssumeRole on {role_arn}"),
            )),
        })
    }
}

#[async_trait]
impl DeploymentReader for World {
    async fn function(&self, function: &str) -> PortResult<FunctionConfig> {
        self.call("lambda:GetFunctionConfiguration", |s| {
            s.functions
                .values()
                .find(|f| f.arn == function || f.name == function)
                .cloned()
                .ok_or_else(|| not_found(format!("function {function}")))
        })
    }

    async fn subscriptions(&self, topic_arn: &str) -> PortResult<Vec<TopicSubscription>> {
        self.call("sns:ListSubscriptionsByTopic", |s| {
            s.topics
                .get(topic_arn)
                .cloned()
                .ok_or_else(|| not_found(format!("topic {topic_arn}")))
        })
    }

    async fn email_identity(&self, identity: &str) -> PortResult<EmailIdentity> {
        self.call("sesv2:GetEmailIdentity", |s| {
            s.identities
                .get(identity)
                .cloned()
                .ok_or_else(|| not_found(format!("identity {identity}")))
        })
    }

    async fn email_production_access(&self) -> PortResult<bool> {
        self.call("sesv2:GetAccount", |s| Ok(s.ses_production))
    }

    async fn schedules_for(&self, function_arn: &str) -> PortResult<Vec<ScheduleInfo>> {
        self.call("scheduler:ListSchedules", |s| {
            Ok(s.schedules
                .iter()
                .filter(|schedule| {
                    schedule.target_arn == function_arn
                        || schedule
                            .target_arn
                            .strip_prefix(function_arn)
                            .is_some_and(|rest| rest.starts_with(':'))
                })
                .cloned()
                .collect())
        })
    }
}

#[async_trait]
impl Notifier for World {
    async fn alert(&self, notice: &Notice) -> PortResult<()> {
        {
            let mut state = self.state();
            if state.crashed {
                return Err(crashed());
            }
            state.alert_attempts += 1;
        }
        self.call("sns:Publish", |s| {
            s.alerts.push(notice.clone());
            Ok(())
        })
    }

    async fn email(&self, to: &[String], notice: &Notice) -> PortResult<()> {
        self.call("sesv2:SendEmail", |s| {
            s.emails.push((to.to_vec(), notice.clone()));
            Ok(())
        })
    }
}

#[async_trait]
impl Clock for World {
    fn now(&self) -> EpochSecs {
        self.state().now
    }

    async fn sleep(&self, duration: Duration) {
        self.state().now += duration.as_secs().max(1);
    }
}

// ------------------------------------------------------------------------------------------
// Helpers for the fleet's tests (`crate::fleet`): schedules, rotations driven through a
// `Rotator`, time and the calls made.
// ------------------------------------------------------------------------------------------

impl World {
    /// Gives `secret` a rotation schedule of `days` days, enabled.
    pub fn schedule(&self, secret: &str, days: u64) {
        let mut state = self.state();
        let found = state.secrets.get_mut(secret).expect("the secret exists");
        found.rotation_enabled = true;
        found.rotation_interval_days = Some(days);
    }

    /// Moves the clock `secs` seconds on.
    pub fn advance(&self, secs: EpochSecs) {
        self.state().now += secs;
    }

    /// How many port calls were made so far (an index for `calls_from`).
    pub fn call_count(&self) -> usize {
        self.state().calls.len()
    }

    /// The port calls made since `from`, in order.
    pub fn calls_from(&self, from: usize) -> Vec<&'static str> {
        self.state().calls[from..].to_vec()
    }

    /// Runs every step of one rotation of `secret` with `token` through `rotator`.
    pub async fn rotate_with(
        &self,
        rotator: &crate::Rotator,
        secret: &str,
        token: &str,
    ) -> Result<(), crate::StepError> {
        self.start_rotation(secret, token);
        for step in crate::Step::ALL {
            self.step_with(rotator, secret, token, step).await?;
        }
        Ok(())
    }

    /// Runs one step of `secret`'s rotation `token` through `rotator`.
    pub async fn step_with(
        &self,
        rotator: &crate::Rotator,
        secret: &str,
        token: &str,
        step: crate::Step,
    ) -> Result<crate::Outcome, crate::StepError> {
        let event = crate::RotationEvent {
            step,
            secret_id: SecretId::new(secret).expect("a valid secret id"),
            token: ClientRequestToken::new(token).expect("a valid token"),
            rotation_token: None,
        };
        rotator.handle(&event).await
    }

    /// The status of `user`'s key `key`; `None` when the user has no such key (deleted).
    pub fn key_status(&self, user: &str, key: &str) -> Option<KeyStatus> {
        self.state()
            .users
            .get(user)?
            .keys
            .iter()
            .find(|k| k.id == key)
            .map(|k| k.status)
    }

    /// The access key id that `stage` of `secret` holds.
    pub fn key_in(&self, secret: &str, stage: &str) -> Option<String> {
        let state = self.state();
        let (_, version) = state.secrets.get(secret)?.version_with(stage)?;
        let value: serde_json::Value = serde_json::from_str(version.value.as_deref()?).ok()?;
        value["AccessKeyId"].as_str().map(str::to_owned)
    }
}
