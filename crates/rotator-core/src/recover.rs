//! Ends a stuck rotation (contract §11): completes a finish that moved `AWSCURRENT`, or abandons
//! a rotation stuck before its finish, deleting its pending key only when nothing used it.
//!
//! Secrets Manager starts no new rotation while `AWSPENDING` stands on a version other than
//! `AWSCURRENT`'s, and under the sole-writer resource policy only the function may move the
//! label. The function runs this on `{"Action": "recover", "SecretId": S}` (`rotator recover`)
//! and the sweep runs it for every rotation stuck longer than `ROTATOR_STUCK_AFTER`.
//!
//! A recovery first decides everything from reads, then acts in an order that a crash at any
//! point leaves repeatable: it deletes the pending key (deactivated first), then withdraws the
//! token's ledger records, then removes `AWSPENDING`. A retry after a crash finds the key gone
//! (its record is withdrawn then), or the records gone (the label is removed then), or nothing
//! stuck (and says so). No key of the rotator's is ever left unrecorded: the records go only
//! after their keys.

use serde::Serialize;
use serde_json::Value;
use tracing::{info, warn};

use crate::accounts::{bound_account, iam_for_secret, name_shape_problem, partition_and_account};
use crate::config::{Settings, format_duration};
use crate::ledger::{self, Ledger, SecretDigest};
use crate::notice::{describe_last_use, rfc3339};
use crate::ports::{
    AccessKeyInfo, EpochSecs, KeyStatus, Notice, PortError, PortErrorKind, SecretMetadata,
    VersionRef,
};
use crate::rotation::{AWSCURRENT, AWSPENDING, Outcome, Ports, Rotator, bound_user};
use crate::secret_value::SecretValue;
use crate::types::{
    AccessKeyId, ClientRequestToken, EventError, RotationEvent, SecretId, Step, UserName, json_kind,
};

/// The `Action` of a recover event.
pub const RECOVER_ACTION: &str = "recover";

/// A recover event: `{"Action": "recover", "SecretId": S}`, with `"DryRun": true` to only say
/// what it would do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecoverRequest {
    pub secret_id: SecretId,
    pub dry_run: bool,
}

impl RecoverRequest {
    /// Parses a recover event. Every refusal names the field and the problem.
    pub fn from_value(value: &Value) -> Result<Self, EventError> {
        let object = value
            .as_object()
            .ok_or(EventError::NotAnObject(json_kind(value)))?;
        match object.get("Action") {
            Some(Value::String(action)) if action == RECOVER_ACTION => {}
            Some(Value::String(other)) => {
                return Err(EventError::InvalidField {
                    field: "Action",
                    problem: format!("is {other:?}, not {RECOVER_ACTION:?}"),
                });
            }
            Some(other) => {
                return Err(EventError::NotAString {
                    field: "Action",
                    found: json_kind(other),
                });
            }
            None => return Err(EventError::MissingField("Action")),
        }
        if object.contains_key("Step") || object.contains_key("ClientRequestToken") {
            return Err(EventError::InvalidField {
                field: "Action",
                problem: "cannot come with a Step or a ClientRequestToken: a recover event names only the SecretId".into(),
            });
        }
        let secret_id = match object.get("SecretId") {
            None | Some(Value::Null) => return Err(EventError::MissingField("SecretId")),
            Some(Value::String(id)) => SecretId::new(id.as_str())?,
            Some(other) => {
                return Err(EventError::NotAString {
                    field: "SecretId",
                    found: json_kind(other),
                });
            }
        };
        let dry_run = match object.get("DryRun") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(dry_run)) => *dry_run,
            Some(other) => {
                return Err(EventError::InvalidField {
                    field: "DryRun",
                    problem: format!("must be true or false, not {}", json_kind(other)),
                });
            }
        };
        if let Some(unknown) = object
            .keys()
            .find(|key| !["Action", "SecretId", "DryRun"].contains(&key.as_str()))
        {
            return Err(EventError::InvalidField {
                field: "Action",
                problem: format!("recover takes only SecretId and DryRun, not {unknown:?}"),
            });
        }
        Ok(Self { secret_id, dry_run })
    }
}

/// What the sweep requires of a rotation before it recovers it; an operator's recovery
/// requires nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Conditions {
    /// The version the sweep saw holding `AWSPENDING`: a rotation that began since is not
    /// the one it found stuck, and is left alone.
    pub pending_version: Option<String>,
    /// How long the pending version must have existed (its `CreatedDate`), in seconds.
    pub stuck_for_at_least: Option<u64>,
}

/// What a recovery did (or, in a dry run, would do).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RecoveryOutcome {
    /// No rotation stands unfinished: nothing changed.
    NotStuck,
    /// The rotation is younger than the sweep's `ROTATOR_STUCK_AFTER`, or not the one it saw.
    NotYetStuck,
    /// A createSecret of the rotation may still be running: nothing changed, try later.
    StepMayBeRunning,
    /// A finish that had moved `AWSCURRENT` was completed, as a redelivered finishSecret would.
    FinishCompleted,
    /// The rotation stuck before its finish was abandoned: its unused pending key deleted,
    /// `AWSPENDING` removed, its ledger records withdrawn.
    Abandoned,
    /// The pending key was used (or may have been): kept, and the rotation not abandoned.
    PendingKeyKept,
}

impl RecoveryOutcome {
    /// Whether the recovery ended the stuck rotation (or, in a dry run, would).
    pub fn recovered(self) -> bool {
        matches!(
            self,
            RecoveryOutcome::FinishCompleted | RecoveryOutcome::Abandoned
        )
    }
}

/// A pending key that the recovery kept, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KeptKey {
    pub key: String,
    pub reason: String,
}

/// The JSON summary of one recovery: what the function returns and `rotator recover` prints.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RecoverySummary {
    pub action: &'static str,
    pub secret: String,
    pub user: Option<String>,
    /// The version (the rotation's token) that held `AWSPENDING`.
    pub token: Option<String>,
    pub dry_run: bool,
    pub outcome: RecoveryOutcome,
    /// Pending keys deleted (in a dry run: that it would delete).
    pub deleted_keys: Vec<String>,
    pub kept_keys: Vec<KeptKey>,
    /// What happened, in sentences.
    pub detail: String,
    /// Whether its notice was sent.
    pub notice_sent: bool,
}

/// Why a recovery was refused or failed. Nothing changed when it was refused; after a failure
/// on the way, the next recovery carries on (see the module's documentation).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecoverError {
    #[error("the secret is not one the rotator manages: {problem}; nothing changed")]
    NotManaged { problem: String },
    #[error("{operation} failed: {error}")]
    Port {
        operation: &'static str,
        error: PortError,
    },
    #[error("the {stage} value of {secret} {problem}: refused, nothing changed")]
    Value {
        secret: String,
        stage: &'static str,
        problem: String,
    },
    #[error(
        "the member role {role} of account {account} could not be assumed: {reason}; nothing changed"
    )]
    MemberRole {
        role: String,
        account: String,
        reason: String,
    },
    #[error("completing the finish failed: {0}")]
    Finish(String),
}

impl RecoverError {
    fn port(operation: &'static str) -> impl FnOnce(PortError) -> Self {
        move |error| RecoverError::Port { operation, error }
    }

    /// A short name for the kind of failure (the function's `errorType`).
    pub fn kind(&self) -> &'static str {
        match self {
            RecoverError::NotManaged { .. } => "SecretNameNotManaged",
            RecoverError::Port { .. } => "RecoverFailed",
            RecoverError::Value { .. } => "SecretValueRefused",
            RecoverError::MemberRole { .. } => "MemberRoleNotAssumable",
            RecoverError::Finish(_) => "FinishFailed",
        }
    }
}

/// Ends stuck rotations, with the rotator's ports and settings (the finish it completes is the
/// rotator's own finishSecret).
#[derive(Debug, Clone)]
pub struct Recovery {
    rotator: Rotator,
}

/// What the reads found, before anything changes.
struct Plan {
    user: UserName,
    deleted: Vec<AccessKeyId>,
    kept: Vec<KeptKey>,
    /// The token's ledger tags present on the user, to withdraw.
    withdrawn_tags: Vec<String>,
    notes: Vec<String>,
}

impl Recovery {
    pub fn new(rotator: Rotator) -> Self {
        Self { rotator }
    }

    fn ports(&self) -> &Ports {
        self.rotator.ports()
    }

    fn settings(&self) -> &Settings {
        self.rotator.settings()
    }

    /// An operator's recovery (`rotator recover`): ends whatever rotation of the secret stands
    /// unfinished, however young.
    pub async fn recover(&self, request: &RecoverRequest) -> Result<RecoverySummary, RecoverError> {
        self.recover_when(&request.secret_id, &Conditions::default(), request.dry_run)
            .await
    }

    /// Ends the secret's unfinished rotation if it meets `conditions`; with `dry_run`, changes
    /// nothing, sends nothing, and says what it would do.
    pub async fn recover_when(
        &self,
        secret_id: &SecretId,
        conditions: &Conditions,
        dry_run: bool,
    ) -> Result<RecoverySummary, RecoverError> {
        let metadata = self
            .ports()
            .secrets
            .describe(secret_id)
            .await
            .map_err(RecoverError::port("DescribeSecret"))?;
        // Contract §3: only the two managed shapes of a name bind a user.
        if let Some(problem) = name_shape_problem(&metadata.name, &self.settings().secret_prefix) {
            return Err(RecoverError::NotManaged { problem });
        }
        let mut summary = RecoverySummary {
            action: RECOVER_ACTION,
            secret: metadata.name.clone(),
            user: Some(bound_user(&metadata.name).to_owned()),
            token: None,
            dry_run,
            outcome: RecoveryOutcome::NotStuck,
            deleted_keys: Vec::new(),
            kept_keys: Vec::new(),
            detail: String::new(),
            notice_sent: false,
        };
        let current = metadata.version_with_stage(AWSCURRENT).map(str::to_owned);
        let Some(pending) = metadata.version_with_stage(AWSPENDING).map(str::to_owned) else {
            summary.detail =
                "no version holds AWSPENDING: no rotation is unfinished, nothing changed".into();
            info!(secret = %metadata.name, "recover: not stuck");
            return Ok(summary);
        };
        summary.token = Some(pending.clone());
        if let Some(seen) = &conditions.pending_version
            && seen != &pending
        {
            summary.outcome = RecoveryOutcome::NotYetStuck;
            summary.detail = format!(
                "AWSPENDING moved from {seen} to {pending} since the sweep listed the secret: a new rotation, left alone"
            );
            return Ok(summary);
        }
        if let Some(at_least) = conditions.stuck_for_at_least
            && let Some(problem) = self.too_young(secret_id, &pending, at_least).await?
        {
            summary.outcome = RecoveryOutcome::NotYetStuck;
            summary.detail = problem;
            return Ok(summary);
        }
        let Ok(token) = ClientRequestToken::new(pending.as_str()) else {
            return Err(RecoverError::Value {
                secret: metadata.name.clone(),
                stage: AWSPENDING,
                problem: format!("is on the version {pending}, which is not a rotation token"),
            });
        };
        if current.as_deref() == Some(pending.as_str()) {
            return self
                .complete_finish(secret_id, &metadata, token, summary)
                .await;
        }
        self.abandon(secret_id, &metadata, &token, summary).await
    }

    /// Why the pending version is not yet stuck for `at_least` seconds, if it is not: its
    /// `CreatedDate` (`ListSecretVersionIds`) is when the rotation began, since `RotateSecret`
    /// creates the version as it starts the rotation.
    async fn too_young(
        &self,
        secret_id: &SecretId,
        pending: &str,
        at_least: u64,
    ) -> Result<Option<String>, RecoverError> {
        let versions = self
            .ports()
            .secrets
            .list_versions(secret_id)
            .await
            .map_err(RecoverError::port("ListSecretVersionIds"))?;
        let now = self.ports().clock.now();
        let created = versions
            .iter()
            .find(|version| version.id == pending)
            .and_then(|version| version.created);
        Ok(match created {
            None => Some(format!(
                "Secrets Manager gives no creation date for the AWSPENDING version {pending}: its age is unknown, left alone"
            )),
            Some(created) if now.saturating_sub(created) < at_least => Some(format!(
                "the rotation began at {} ({} ago), less than ROTATOR_STUCK_AFTER ({}) ago: left alone",
                rfc3339(created),
                format_duration(std::time::Duration::from_secs(now.saturating_sub(created))),
                format_duration(std::time::Duration::from_secs(at_least)),
            )),
            Some(_) => None,
        })
    }

    /// A finish that moved `AWSCURRENT` and stopped before it took `AWSPENDING` off: the
    /// rotator's own finishSecret completes it, as a redelivery would (contract §2, point 3).
    async fn complete_finish(
        &self,
        secret_id: &SecretId,
        metadata: &SecretMetadata,
        token: ClientRequestToken,
        mut summary: RecoverySummary,
    ) -> Result<RecoverySummary, RecoverError> {
        summary.outcome = RecoveryOutcome::FinishCompleted;
        if summary.dry_run {
            summary.detail = format!(
                "would complete the finish of rotation {token}, which moved AWSCURRENT and stopped before it took AWSPENDING off: the old-key policy ({}) is applied to the previous key, and AWSPENDING taken off",
                self.settings().old_key_policy.as_str()
            );
            return Ok(summary);
        }
        let event = RotationEvent {
            step: Step::FinishSecret,
            secret_id: secret_id.clone(),
            token: token.clone(),
            rotation_token: None,
        };
        let outcome = self
            .rotator
            .handle(&event)
            .await
            .map_err(|failure| RecoverError::Finish(failure.to_string()))?;
        summary.detail = match &outcome {
            Outcome::Finished { new_key, old_key } => format!(
                "completed the finish of rotation {token}, which had moved AWSCURRENT{}{}",
                new_key
                    .as_ref()
                    .map_or(String::new(), |key| format!(" (to access key {key})")),
                old_key.as_ref().map_or(String::new(), |key| format!(
                    "; the old-key policy ({}) was applied to {key}",
                    self.settings().old_key_policy.as_str()
                )),
            ),
            other => format!("finishSecret of rotation {token}: {other}"),
        };
        info!(secret = %metadata.name, token = %token, detail = summary.detail, "recover: finish completed");
        self.tell(metadata, &mut summary).await;
        Ok(summary)
    }

    /// A rotation stuck before its finish: its unused pending key goes, then its records, then
    /// `AWSPENDING`. A used pending key stops it.
    async fn abandon(
        &self,
        secret_id: &SecretId,
        metadata: &SecretMetadata,
        token: &ClientRequestToken,
        mut summary: RecoverySummary,
    ) -> Result<RecoverySummary, RecoverError> {
        let Some(plan) = self.plan(secret_id, metadata, token, &mut summary).await? else {
            return Ok(summary);
        };
        summary.user = Some(plan.user.to_string());
        summary.deleted_keys = plan.deleted.iter().map(ToString::to_string).collect();
        summary.kept_keys = plan.kept.clone();
        let notes = if plan.notes.is_empty() {
            String::new()
        } else {
            format!(" {}", plan.notes.join(" "))
        };
        if !plan.kept.is_empty() {
            summary.outcome = RecoveryOutcome::PendingKeyKept;
            let kept: Vec<String> = plan
                .kept
                .iter()
                .map(|kept| format!("{} ({})", kept.key, kept.reason))
                .collect();
            summary.detail = format!(
                "the pending key {} kept active, and the rotation {token} not abandoned: nothing changed. Find what uses the key; once nothing does, delete it (aws iam delete-access-key) and recover again.{notes}",
                kept.join(" and ")
            );
            warn!(secret = %metadata.name, token = %token, detail = summary.detail, "recover: a pending key was used");
            if !summary.dry_run {
                self.tell(metadata, &mut summary).await;
            }
            return Ok(summary);
        }
        summary.outcome = RecoveryOutcome::Abandoned;
        let deleted = if plan.deleted.is_empty() {
            "no pending key to delete".to_owned()
        } else {
            let ids: Vec<&str> = plan.deleted.iter().map(AccessKeyId::as_str).collect();
            format!(
                "the unused pending key {} deactivated and deleted",
                ids.join(" and ")
            )
        };
        if summary.dry_run {
            summary.detail = format!(
                "would abandon the rotation {token}, stuck before its finish: {}, AWSPENDING removed from its version and its ledger records withdrawn; AWSCURRENT stays as it is.{notes}",
                deleted.replacen(
                    "deactivated and deleted",
                    "would be deactivated and deleted",
                    1
                )
            );
            return Ok(summary);
        }
        let iam = self.iam(metadata).await?;
        for key in &plan.deleted {
            ignore_not_found(
                iam.set_access_key_status(&plan.user, key, KeyStatus::Inactive)
                    .await,
            )
            .map_err(RecoverError::port("UpdateAccessKey"))?;
            ignore_not_found(iam.delete_access_key(&plan.user, key).await)
                .map_err(RecoverError::port("DeleteAccessKey"))?;
            info!(secret = %metadata.name, key = %key, "recover: deleted the unused pending key");
        }
        if !plan.withdrawn_tags.is_empty() {
            iam.untag_user(&plan.user, &plan.withdrawn_tags)
                .await
                .map_err(RecoverError::port("UntagUser"))?;
        }
        // `RemoveFromVersionId` names the stuck version: should a new rotation have moved
        // AWSPENDING meanwhile, Secrets Manager refuses, and the new rotation stands.
        if let Err(error) = self
            .ports()
            .secrets
            .update_stage(secret_id, AWSPENDING, None, Some(token.as_str()))
            .await
        {
            let now = self
                .ports()
                .secrets
                .describe(secret_id)
                .await
                .map_err(RecoverError::port("DescribeSecret"))?;
            if now
                .stages_of(token.as_str())
                .iter()
                .any(|s| s == AWSPENDING)
            {
                return Err(RecoverError::port("UpdateSecretVersionStage")(error));
            }
            info!(error = %error, "UpdateSecretVersionStage failed, but AWSPENDING is off the version");
        }
        summary.detail = format!(
            "abandoned the rotation {token}, stuck before its finish: {deleted}, AWSPENDING removed from its version and its ledger records withdrawn; AWSCURRENT is unchanged, and the next rotation starts afresh.{notes}"
        );
        info!(secret = %metadata.name, token = %token, detail = summary.detail, "recover: rotation abandoned");
        self.tell(metadata, &mut summary).await;
        Ok(summary)
    }

    /// Reads what the abandonment needs and decides it; `None` when it must wait (the summary
    /// says why).
    async fn plan(
        &self,
        secret_id: &SecretId,
        metadata: &SecretMetadata,
        token: &ClientRequestToken,
        summary: &mut RecoverySummary,
    ) -> Result<Option<Plan>, RecoverError> {
        let current = self
            .read_bound(secret_id, metadata, AWSCURRENT, None)
            .await?;
        let pending = self
            .read_bound(secret_id, metadata, AWSPENDING, Some(token.as_str()))
            .await?;
        let current_key = current
            .as_ref()
            .and_then(SecretValue::access_key_id)
            .cloned();
        let pending_key = pending
            .as_ref()
            .and_then(SecretValue::access_key_id)
            .cloned();
        let user = UserName::new(bound_user(&metadata.name)).map_err(|problem| {
            RecoverError::NotManaged {
                problem: format!("the secret's name binds no IAM user: {problem}"),
            }
        })?;
        let iam = self.iam(metadata).await?;
        let tags = iam
            .list_user_tags(&user)
            .await
            .map_err(RecoverError::port("ListUserTags"))?;
        let ledger = Ledger::from_tags(&tags, &SecretDigest::of(&metadata.arn));
        let now = self.ports().clock.now();
        if let Some(intent) = ledger.intents.get(token.as_str())
            && intent.until.is_none()
            && intent.window_open(now)
        {
            summary.outcome = RecoveryOutcome::StepMayBeRunning;
            summary.detail = format!(
                "createSecret of rotation {token} recorded its intent to create a key at {} and may still be running: nothing changed; recover again after {}",
                rfc3339(intent.at),
                rfc3339(intent.at + ledger::WINDOW_SECS + 1)
            );
            return Ok(None);
        }
        let keys: Vec<AccessKeyInfo> = match iam.list_access_keys(&user).await {
            Ok(keys) => keys,
            Err(error) if error.kind == PortErrorKind::NotFound => Vec::new(),
            Err(error) => return Err(RecoverError::port("ListAccessKeys")(error)),
        };
        let mut plan = Plan {
            user,
            deleted: Vec::new(),
            kept: Vec::new(),
            withdrawn_tags: Vec::new(),
            notes: Vec::new(),
        };
        // The token's keys: recorded against it, or created within its intent's window. Never
        // the AWSCURRENT key, whatever a tag says.
        let owned: Vec<&AccessKeyInfo> = keys
            .iter()
            .filter(|key| Some(&key.id) != current_key.as_ref())
            .filter(|key| ledger.owner_of(key) == Some(token.as_str()))
            .collect();
        for key in &owned {
            match self.use_of(&iam, key, now).await? {
                Some(reason) => plan.kept.push(KeptKey {
                    key: key.id.to_string(),
                    reason,
                }),
                None => plan.deleted.push(key.id.clone()),
            }
        }
        for (key, owner) in &ledger.records {
            if owner == token.as_str() && !keys.iter().any(|held| &held.id == key) {
                plan.notes.push(format!(
                    "The pending key {key} that the ledger recorded is gone already (deleted by a person?): only its record is withdrawn."
                ));
            }
        }
        if let Some(key) = &pending_key
            && !owned.iter().any(|held| &held.id == key)
            && keys.iter().any(|held| &held.id == key)
            && Some(key) != current_key.as_ref()
        {
            plan.notes.push(format!(
                "The AWSPENDING value names the key {key}, which the rotation's ledger does not record: not the rotator's, left alone."
            ));
        }
        plan.withdrawn_tags = tags
            .iter()
            .map(|tag| tag.key.clone())
            .filter(|tag| {
                *tag == ledger::intent_tag_key(token.as_str())
                    || ledger.records.iter().any(|(key, owner)| {
                        owner == token.as_str() && *tag == ledger::record_tag_key(key)
                    })
            })
            .collect();
        Ok(Some(plan))
    }

    /// Why a pending key must be kept, if it must: IAM reports a use of it, or it is younger
    /// than `ROTATOR_USAGE_LAG`, within which IAM may not report a use yet.
    async fn use_of(
        &self,
        iam: &std::sync::Arc<dyn crate::ports::Iam>,
        key: &AccessKeyInfo,
        now: EpochSecs,
    ) -> Result<Option<String>, RecoverError> {
        let used = iam
            .access_key_last_used(&key.id)
            .await
            .map_err(RecoverError::port("GetAccessKeyLastUsed"))?;
        if used.when.is_some() {
            return Ok(Some(format!(
                "it was used: last {}",
                describe_last_use(&used)
            )));
        }
        let lag = self.settings().usage_lag.as_secs();
        if let Some(created) = key.created
            && now < created.saturating_add(lag)
        {
            return Ok(Some(format!(
                "created at {}, less than ROTATOR_USAGE_LAG ({}) ago: IAM may not report a use yet; recover again after {}",
                rfc3339(created),
                format_duration(self.settings().usage_lag),
                rfc3339(created + lag)
            )));
        }
        Ok(None)
    }

    /// Reads a staged value and refuses one that names another user or account than the
    /// secret's name binds (contract §3); `None` when the version holds no value (or, for
    /// the pending version, a value that is not a rotator secret: it names no key).
    async fn read_bound(
        &self,
        secret_id: &SecretId,
        metadata: &SecretMetadata,
        stage: &'static str,
        version_id: Option<&str>,
    ) -> Result<Option<SecretValue>, RecoverError> {
        let text = self
            .ports()
            .secrets
            .get_value(secret_id, VersionRef { version_id, stage })
            .await
            .map_err(RecoverError::port("GetSecretValue"))?;
        let refuse = |problem: String| RecoverError::Value {
            secret: metadata.name.clone(),
            stage,
            problem,
        };
        let Some(text) = text else {
            return Ok(None);
        };
        let value = match SecretValue::parse(&text) {
            Ok(value) => value,
            Err(_) if stage == AWSPENDING => return Ok(None),
            Err(problem) => return Err(refuse(format!("is not a rotator secret ({problem})"))),
        };
        let bound = bound_user(&metadata.name);
        if !value.user_name.as_str().eq_ignore_ascii_case(bound) {
            return Err(refuse(format!(
                "names the user {}, but the secret's name binds {bound}",
                value.user_name
            )));
        }
        let own = partition_and_account(&metadata.arn).map(|(_, account)| account);
        let expected = bound_account(&metadata.name).or_else(|| own.clone());
        if value.account.clone().or(own) != expected {
            return Err(refuse(format!(
                "names the account {}, but the secret's name binds {}",
                value
                    .account
                    .as_ref()
                    .map_or("of the function", |a| a.as_str()),
                expected
                    .as_ref()
                    .map_or("the function's own", |a| a.as_str())
            )));
        }
        Ok(Some(value))
    }

    /// IAM of the account the secret's name binds, as every step reaches it.
    async fn iam(
        &self,
        metadata: &SecretMetadata,
    ) -> Result<std::sync::Arc<dyn crate::ports::Iam>, RecoverError> {
        iam_for_secret(self.ports(), metadata, &self.settings().member_role)
            .await
            .map_err(|failed| RecoverError::MemberRole {
                role: failed.role_arn,
                account: failed.account.to_string(),
                reason: failed.error.to_string(),
            })
    }

    /// The one notice of a recovery. Its failure is logged: what the recovery did stands.
    async fn tell(&self, metadata: &SecretMetadata, summary: &mut RecoverySummary) {
        let notice = recovery_notice(&metadata.name, summary);
        match self.ports().notifier.alert(&notice).await {
            Ok(()) => summary.notice_sent = true,
            Err(error) => warn!(error = %error, "the recovery's notice could not be sent"),
        }
    }
}

/// The notice of a recovery: the secret, the token, and the keys deleted or kept and why.
pub fn recovery_notice(secret: &str, summary: &RecoverySummary) -> Notice {
    let headline = match summary.outcome {
        RecoveryOutcome::FinishCompleted => "finish completed",
        RecoveryOutcome::Abandoned => "stuck rotation abandoned",
        RecoveryOutcome::PendingKeyKept => "pending key in use, rotation NOT abandoned",
        RecoveryOutcome::NotStuck
        | RecoveryOutcome::NotYetStuck
        | RecoveryOutcome::StepMayBeRunning => "nothing changed",
    };
    let deleted = if summary.deleted_keys.is_empty() {
        "none".to_owned()
    } else {
        summary.deleted_keys.join(", ")
    };
    let kept = if summary.kept_keys.is_empty() {
        "none".to_owned()
    } else {
        summary
            .kept_keys
            .iter()
            .map(|kept| format!("{} ({})", kept.key, kept.reason))
            .collect::<Vec<_>>()
            .join("; ")
    };
    let opening = if summary.outcome.recovered() {
        "A stuck rotation was ended."
    } else {
        "A stuck rotation could NOT be ended: it still blocks every later rotation."
    };
    Notice {
        subject: format!("IAM key rotation recovery: {secret}: {headline}"),
        body: format!(
            "{opening}\n\n\
             Secret: {secret}\n\
             User: {}\n\
             Token: {}\n\
             Pending keys deleted: {deleted}\n\
             Pending keys kept: {kept}\n\n\
             {}\n",
            summary.user.as_deref().unwrap_or("unknown"),
            summary.token.as_deref().unwrap_or("none"),
            summary.detail,
        ),
    }
}

fn ignore_not_found(result: Result<(), PortError>) -> Result<(), PortError> {
    match result {
        Err(error) if error.kind == PortErrorKind::NotFound => Ok(()),
        other => other,
    }
}
