//! Security Hub findings (contract §12): what the sweep observed of each secret's problems,
//! turned into ASFF findings (`asff.rs`), imported with `BatchImportFindings` 100 at a time
//! through the [`SecurityHub`] port, and resolved by the next sweep once the problem is gone.
//!
//! How a sweep knows what it imported before: `GetFindings` filtered by the deployment's
//! `ProductArn`, its `GeneratorId` prefix and `RecordState` `ACTIVE` (the filters are
//! `StringFilter`s: <https://docs.aws.amazon.com/securityhub/1.0/APIReference/API_GetFindings.html>,
//! `API_AwsSecurityFindingFilters.html`). The results are filtered again here, so that a
//! hub that ignores a filter (moto ignores all of them) cannot make the sweep resolve another
//! deployment's findings. A finding whose secret the sweep did not reach (the deadline) stays
//! as it is; one whose secret is gone, or was reached without the problem, is resolved.

pub mod asff;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};

use async_trait::async_trait;
use serde::Serialize;
use tracing::{info, warn};

pub use asff::{FailedFinding, Finding, HubTarget};

use crate::fleet::status::{State, StatusRow, duration};
use crate::ports::{Clock, EpochSecs, KeyLastUsed, Notice, Notifier, PortResult};
use crate::types::rfc3339;
use asff::{
    ACTIVE, FIELD_ACCESS_KEY_ID, FIELD_PROBLEM, FIELD_SECRET, FIELD_SECRET_ARN, FIELD_USER,
    FIELD_USER_ACCOUNT, FINDING_TYPE, MAX_DESCRIPTION, MAX_FINDINGS_PER_IMPORT, MAX_RECOMMENDATION,
    MAX_TITLE, NEW, Recommendation, Remediation, Resource, SCHEMA_VERSION, Severity, Workflow,
    finding_id, generator_prefix, timestamp_millis, truncate,
};

/// How long a rotation must have stood stuck to count as failing for days: a day.
pub const FAILING_FOR_DAYS_SECS: u64 = 86_400;

/// Before the invocation's deadline, the findings pass sends no request later than this: one
/// call's operation timeout (20 s) must still fit before the deadline.
pub const FINDINGS_DEADLINE_MARGIN_MS: u64 = 21_000;

/// Security Hub, limited to the rotator's own findings.
#[cfg_attr(test, mockall::automock)]
#[async_trait]
pub trait SecurityHub: Send + Sync {
    /// The account and region the findings go to (the caller's: `sts:GetCallerIdentity` and
    /// the client's region).
    async fn target(&self) -> PortResult<HubTarget>;
    /// The findings of `product_arn` whose `GeneratorId` begins with `generator_prefix` and
    /// whose `RecordState` is `ACTIVE` (`GetFindings`, every page).
    async fn active_findings(
        &self,
        product_arn: &str,
        generator_prefix: &str,
    ) -> PortResult<Vec<Finding>>;
    /// Imports at most 100 findings (`BatchImportFindings`); answers the ones refused.
    async fn import(&self, findings: &[Finding]) -> PortResult<Vec<FailedFinding>>;
}

impl std::fmt::Debug for dyn SecurityHub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecurityHub")
    }
}

/// A problem the rotator knows about a secret, one finding each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Problem {
    /// `AWSCURRENT` does not work (status `broken`).
    BrokenCurrent,
    /// The secret's reads keep failing (status `unreadable`).
    Unreadable,
    /// A rotation stands unfinished (status `stuck`).
    Stuck,
    /// An unknown active key leaves the next rotation no room (status `blocked`).
    Blocked,
    /// The previous key is still used past the grace (the sweep's stragglers).
    OldKeyInUse,
    /// Secrets Manager does not rotate the secret (status `rotation-disabled`).
    RotationDisabled,
    /// The rotation is overdue (status `overdue`).
    Overdue,
}

impl Problem {
    pub const ALL: [Problem; 7] = [
        Problem::BrokenCurrent,
        Problem::Unreadable,
        Problem::Stuck,
        Problem::Blocked,
        Problem::OldKeyInUse,
        Problem::RotationDisabled,
        Problem::Overdue,
    ];

    /// The problem's name in ids and `ProductFields`.
    pub fn as_str(self) -> &'static str {
        match self {
            Problem::BrokenCurrent => "broken-current",
            Problem::Unreadable => "unreadable",
            Problem::Stuck => "stuck",
            Problem::Blocked => "blocked",
            Problem::OldKeyInUse => "old-key-in-use",
            Problem::RotationDisabled => "rotation-disabled",
            Problem::Overdue => "overdue",
        }
    }

    /// The status state it comes from (`None`: the sweep's own observation).
    fn of_state(state: State) -> Option<Problem> {
        match state {
            State::Broken => Some(Problem::BrokenCurrent),
            State::Unreadable => Some(Problem::Unreadable),
            State::Stuck => Some(Problem::Stuck),
            State::Blocked => Some(Problem::Blocked),
            State::OldKeyInUse => Some(Problem::OldKeyInUse),
            State::RotationDisabled => Some(Problem::RotationDisabled),
            State::Overdue => Some(Problem::Overdue),
            State::InProgress | State::Ok => None,
        }
    }

    fn title(self) -> &'static str {
        match self {
            Problem::BrokenCurrent => "The secret's current access key does not work",
            Problem::Unreadable => "The rotator cannot read the secret's state",
            Problem::Stuck => "The secret's rotation is stuck",
            Problem::Blocked => "A key nobody manages blocks the secret's next rotation",
            Problem::OldKeyInUse => "The previous access key is still in use after the rotation",
            Problem::RotationDisabled => "Rotation is turned off for the secret",
            Problem::Overdue => "The secret's rotation is overdue",
        }
    }

    /// The `rotator` command (or step) that fixes it.
    fn remedy(self, secret: &str, user: &str, key: Option<&str>) -> String {
        let key = key.unwrap_or("the key");
        match self {
            Problem::BrokenCurrent => format!(
                "Run `rotator status --prefix <prefix>` to see why, restore the IAM user {user} if it is gone, then run `rotator rotate {secret} --wait` to store a new working key."
            ),
            Problem::Unreadable => "Run `rotator status` once the throttling or refusal it names has passed; `rotator doctor` checks the function's and the caller's permissions.".to_owned(),
            Problem::Stuck => format!(
                "Run `rotator recover {secret}` (it ends the stuck rotation as the sole writer), then `rotator rotate {secret} --wait`."
            ),
            Problem::Blocked => format!(
                "Run `rotator adopt {secret}` if programs use the unknown key of {user}; otherwise deactivate and delete it in IAM. Then `rotator rotate {secret} --wait`."
            ),
            Problem::OldKeyInUse => format!(
                "Give the programs still using {key} the secret's current value; to cut them off now, run `rotator rotate {secret} --retire-previous`."
            ),
            Problem::RotationDisabled => format!(
                "Turn rotation on for {secret} (the deployment's infra does), then run `rotator rotate {secret} --wait`."
            ),
            Problem::Overdue => format!(
                "Run `rotator rotate {secret} --wait`; `rotator status` names why the scheduled rotation did not happen."
            ),
        }
    }
}

/// ASFF's severity labels the rotator uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SeverityLabel {
    Informational,
    Medium,
    High,
}

impl SeverityLabel {
    pub fn as_str(self) -> &'static str {
        match self {
            SeverityLabel::Informational => "INFORMATIONAL",
            SeverityLabel::Medium => "MEDIUM",
            SeverityLabel::High => "HIGH",
        }
    }
}

/// One problem of one secret, as the sweep observed it: everything a finding says, from ids,
/// names and times only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Observation {
    pub secret: String,
    pub secret_arn: String,
    pub user: String,
    /// The user's account when the secret's name gives one (`None`: the function's own).
    pub account: Option<String>,
    /// The access key concerned, when there is one.
    pub access_key_id: Option<String>,
    pub problem: Problem,
    /// The problem in one sentence.
    pub reason: String,
    /// When the problem began, when it is known.
    pub since: Option<EpochSecs>,
    pub severity: SeverityLabel,
}

/// The observations of a status row, one per problem state. The row's `old-key-in-use` is
/// taken only when `old_key_from_status` (no grace policy: the sweep decides nothing about
/// previous keys); under `grace` the sweep's own stragglers give it ([`old_key_in_use`]).
pub fn observations(
    row: &StatusRow,
    now: EpochSecs,
    old_key_from_status: bool,
) -> Vec<Observation> {
    row.states
        .iter()
        .zip(row.reasons.iter())
        .filter_map(|(state, reason)| {
            let problem = Problem::of_state(*state)?;
            if problem == Problem::OldKeyInUse && !old_key_from_status {
                return None;
            }
            let (since, severity) = match problem {
                Problem::BrokenCurrent => (None, SeverityLabel::High),
                Problem::OldKeyInUse => (row.last_rotated, SeverityLabel::High),
                Problem::Stuck => {
                    let age = row.pending.as_ref().and_then(|p| p.age_secs);
                    // A rotation failing for days is HIGH (issue 29); a younger one is
                    // informational: the schedule has room, and the sweep recovers it.
                    let severity = if age.is_some_and(|age| age >= FAILING_FOR_DAYS_SECS) {
                        SeverityLabel::High
                    } else {
                        SeverityLabel::Informational
                    };
                    (age.map(|age| now.saturating_sub(age)), severity)
                }
                // The next rotation will fail, but nothing is at stake yet: informational,
                // until the key ages into `overdue` (MEDIUM).
                Problem::Blocked => (None, SeverityLabel::Informational),
                Problem::Overdue => (
                    row.next_rotation.filter(|due| *due < now),
                    SeverityLabel::Medium,
                ),
                Problem::Unreadable | Problem::RotationDisabled => {
                    (None, SeverityLabel::Informational)
                }
            };
            let access_key_id = if problem == Problem::OldKeyInUse {
                None
            } else {
                row.key.as_ref().map(|key| key.id.to_string())
            };
            Some(Observation {
                secret: row.secret.clone(),
                secret_arn: row.arn.clone(),
                user: row.user.clone(),
                account: row.account.clone(),
                access_key_id,
                problem,
                reason: reason.clone(),
                since,
                severity,
            })
        })
        .collect()
}

/// The observation of a previous key that the sweep names as still in use past the grace:
/// when and where it was last used, and when the sweep deactivates it anyway.
pub fn old_key_in_use(
    row: &StatusRow,
    key: &str,
    rotated_at: EpochSecs,
    last_used: &KeyLastUsed,
    forced_at: EpochSecs,
) -> Observation {
    let place: Vec<&str> = [last_used.service.as_deref(), last_used.region.as_deref()]
        .into_iter()
        .flatten()
        .collect();
    let used = match last_used.when {
        Some(when) if place.is_empty() => format!("last used at {}", rfc3339(when)),
        Some(when) => format!("last used at {} ({})", rfc3339(when), place.join(", ")),
        None => "its last use is not known".to_owned(),
    };
    Observation {
        secret: row.secret.clone(),
        secret_arn: row.arn.clone(),
        user: row.user.clone(),
        account: row.account.clone(),
        access_key_id: Some(key.to_owned()),
        problem: Problem::OldKeyInUse,
        reason: format!(
            "the AWSPREVIOUS key {key} is still in use past the grace after the rotation at {}: {used}; the sweep deactivates it anyway at {}",
            rfc3339(rotated_at),
            rfc3339(forced_at)
        ),
        since: Some(rotated_at),
        severity: SeverityLabel::High,
    }
}

/// The finding of one observation, first imported or updated at `now_millis`. `previous` is
/// the finding an earlier sweep imported with the same `Id`: its `CreatedAt` and
/// `FirstObservedAt` stay, so the finding says when the problem was first seen.
pub fn build(
    observation: &Observation,
    target: &HubTarget,
    generator_prefix: &str,
    now_millis: u64,
    previous: Option<&Finding>,
) -> Finding {
    let now = timestamp_millis(now_millis);
    let first_observed = previous
        .and_then(|p| p.first_observed_at.clone())
        .or_else(|| observation.since.map(rfc3339))
        .unwrap_or_else(|| now.clone());
    let created = previous.map_or_else(|| now.clone(), |p| p.created_at.clone());
    let problem = observation.problem;
    let account = observation.account.as_deref().unwrap_or(&target.account);
    let key = observation.access_key_id.as_deref();
    let mut about = format!(
        "Secret {} of IAM user {} in account {account}",
        observation.secret, observation.user
    );
    if let Some(key) = key {
        about.push_str(&format!(", access key {key}"));
    }
    if let Some(since) = observation.since {
        let age = (now_millis / 1000).saturating_sub(since);
        about.push_str(&format!(
            ", since {} ({} ago)",
            rfc3339(since),
            duration(age)
        ));
    }
    let description = format!("{} {about}.", sentence(&observation.reason));
    let mut fields = BTreeMap::from([
        (FIELD_SECRET.to_owned(), observation.secret.clone()),
        (FIELD_SECRET_ARN.to_owned(), observation.secret_arn.clone()),
        (FIELD_USER.to_owned(), observation.user.clone()),
        (FIELD_USER_ACCOUNT.to_owned(), account.to_owned()),
        (FIELD_PROBLEM.to_owned(), problem.as_str().to_owned()),
    ]);
    let mut resources = vec![Resource {
        kind: "AwsSecretsManagerSecret".to_owned(),
        id: observation.secret_arn.clone(),
        partition: Some(target.partition.clone()),
        region: Some(target.region.clone()),
    }];
    if let Some(key) = key {
        fields.insert(FIELD_ACCESS_KEY_ID.to_owned(), key.to_owned());
        resources.push(Resource {
            kind: "AwsIamAccessKey".to_owned(),
            id: key.to_owned(),
            partition: Some(target.partition.clone()),
            region: Some(target.region.clone()),
        });
    }
    Finding {
        schema_version: SCHEMA_VERSION.to_owned(),
        id: finding_id(&observation.secret_arn, problem.as_str()),
        product_arn: target.product_arn(),
        generator_id: format!("{generator_prefix}{}", problem.as_str()),
        aws_account_id: target.account.clone(),
        types: vec![FINDING_TYPE.to_owned()],
        first_observed_at: Some(first_observed),
        last_observed_at: Some(now.clone()),
        created_at: created,
        updated_at: now,
        severity: Severity {
            label: observation.severity.as_str().to_owned(),
        },
        title: truncate(
            &format!("{}: {}", problem.title(), observation.secret),
            MAX_TITLE,
        ),
        description: truncate(&description, MAX_DESCRIPTION),
        remediation: Some(Remediation {
            recommendation: Recommendation {
                text: truncate(
                    &problem.remedy(&observation.secret, &observation.user, key),
                    MAX_RECOMMENDATION,
                ),
            },
        }),
        product_fields: fields,
        resources,
        workflow: Some(Workflow {
            status: NEW.to_owned(),
        }),
        record_state: ACTIVE.to_owned(),
    }
}

/// A reason as a sentence: a capital first letter and a full stop.
fn sentence(reason: &str) -> String {
    let reason = reason.trim().trim_end_matches('.');
    let mut chars = reason.chars();
    match chars.next() {
        Some(first) => format!("{}{}.", first.to_uppercase(), chars.as_str()),
        None => String::new(),
    }
}

/// What the findings pass did, for the sweep's summary.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FindingsReport {
    /// Findings of current problems that Security Hub took (new or updated).
    pub imported: usize,
    /// Findings of problems gone since an earlier sweep that Security Hub took, archived.
    pub resolved: usize,
    /// Findings that were not imported (refused, or not sent after a refusal or the deadline).
    pub not_imported: usize,
    /// Why findings were not imported, in one line; `None` when all went in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
    /// Whether the refusal's alert was sent.
    pub alert_sent: bool,
}

/// What the sweep hands the findings pass.
#[derive(Debug, Clone)]
pub struct SweepObservations<'a> {
    /// The deployment's secret prefix (the `GeneratorId`s' scope).
    pub secret_prefix: &'a str,
    /// Every problem observed.
    pub observations: Vec<Observation>,
    /// The ARNs of the secrets the sweep examined: their earlier findings may be resolved.
    pub examined: BTreeSet<String>,
    /// The ARNs of every secret listed: a finding of a secret not listed any more is resolved.
    pub listed: BTreeSet<String>,
    /// The invocation's deadline (milliseconds since the epoch): no request is sent later than
    /// [`FINDINGS_DEADLINE_MARGIN_MS`] before it.
    pub deadline_ms: Option<u64>,
}

/// Every finding the sweep would import for `observations` (new ones: nothing is read from
/// Security Hub), for `rotator status --findings`.
pub fn preview(
    observations: &[Observation],
    target: &HubTarget,
    secret_prefix: &str,
    now_millis: u64,
) -> Vec<Finding> {
    let generator = generator_prefix(secret_prefix);
    let mut findings: Vec<Finding> = observations
        .iter()
        .map(|o| build(o, target, &generator, now_millis, None))
        .collect();
    findings.sort_by(|a, b| a.id.cmp(&b.id));
    findings.dedup_by(|a, b| a.id == b.id);
    findings
}

/// The findings pass: imports the current problems' findings and resolves the earlier ones
/// whose problem is gone. It never fails: a refusal is the report's `problem`, and one alert.
pub async fn publish(
    hub: &dyn SecurityHub,
    notifier: &dyn Notifier,
    clock: &dyn Clock,
    sweep: SweepObservations<'_>,
) -> FindingsReport {
    let mut report = FindingsReport::default();
    match import_all(hub, clock, &sweep, &mut report).await {
        Ok(()) => {}
        // Like the walk itself, a pass cut short by the deadline is logged, not alerted: the
        // next sweep carries on.
        Err(Stopped::Deadline(problem)) => {
            warn!(
                problem,
                "the findings pass stopped for the invocation's deadline"
            );
            report.problem = Some(problem);
        }
        Err(Stopped::Refused(problem)) => {
            warn!(problem, "Security Hub did not take the sweep's findings");
            let notice = refusal_notice(&problem, &report);
            report.problem = Some(problem);
            match notifier.alert(&notice).await {
                Ok(()) => report.alert_sent = true,
                Err(error) => warn!(%error, "the findings alert could not be sent"),
            }
        }
    }
    info!(
        imported = report.imported,
        resolved = report.resolved,
        not_imported = report.not_imported,
        "findings pass finished"
    );
    report
}

/// Why the findings pass stopped before it imported everything.
enum Stopped {
    /// Security Hub (or STS) refused: one alert.
    Refused(String),
    /// The invocation's deadline was near: the next sweep carries on.
    Deadline(String),
}

async fn import_all(
    hub: &dyn SecurityHub,
    clock: &dyn Clock,
    sweep: &SweepObservations<'_>,
    report: &mut FindingsReport,
) -> Result<(), Stopped> {
    let unsent = sweep.observations.len();
    let too_late = |clock: &dyn Clock| {
        sweep.deadline_ms.is_some_and(|deadline| {
            clock.now_millis() >= deadline.saturating_sub(FINDINGS_DEADLINE_MARGIN_MS)
        })
    };
    let refused = |report: &mut FindingsReport, what: String| {
        report.not_imported = unsent;
        Err(Stopped::Refused(what))
    };
    if too_late(clock) {
        report.not_imported = unsent;
        return Err(Stopped::Deadline(
            "the invocation's deadline came before the findings could be imported; the next sweep imports them".into(),
        ));
    }
    let target = match hub.target().await {
        Ok(target) => target,
        Err(e) => {
            return refused(
                report,
                format!("the caller's account could not be read (sts:GetCallerIdentity): {e}"),
            );
        }
    };
    let product = target.product_arn();
    let generator = generator_prefix(sweep.secret_prefix);
    let earlier = match hub.active_findings(&product, &generator).await {
        Ok(found) => found,
        Err(e) => return refused(report, format!("GetFindings refused ({:?}): {e}", e.kind)),
    };
    // The hub's filters are checked again: only this deployment's own active findings.
    let earlier: BTreeMap<String, Finding> = earlier
        .into_iter()
        .filter(|f| {
            f.product_arn == product
                && f.generator_id.starts_with(&generator)
                && f.record_state == ACTIVE
        })
        .map(|f| (f.id.clone(), f))
        .collect();
    let now_millis = clock.now_millis();
    let now = timestamp_millis(now_millis);
    let mut current: BTreeMap<String, Finding> = BTreeMap::new();
    for observation in &sweep.observations {
        let id = finding_id(&observation.secret_arn, observation.problem.as_str());
        let finding = build(
            observation,
            &target,
            &generator,
            now_millis,
            earlier.get(&id),
        );
        current.entry(finding.id.clone()).or_insert(finding);
    }
    let resolved: Vec<Finding> = earlier
        .values()
        .filter(|f| !current.contains_key(&f.id))
        .filter(|f| match f.secret_arn() {
            Some(arn) => sweep.examined.contains(arn) || !sweep.listed.contains(arn),
            None => false,
        })
        .map(|f| f.resolved(&now))
        .collect();
    let to_resolve: BTreeSet<String> = resolved.iter().map(|f| f.id.clone()).collect();
    let all: Vec<Finding> = current.into_values().chain(resolved).collect();
    let total = all.len();
    let mut sent = 0;
    for batch in all.chunks(MAX_FINDINGS_PER_IMPORT) {
        if too_late(clock) {
            report.not_imported = total - sent;
            return Err(Stopped::Deadline(format!(
                "the invocation's deadline came after {sent} of {total} findings; the next sweep imports the rest"
            )));
        }
        match hub.import(batch).await {
            Ok(failed) => {
                let failed_ids: BTreeSet<&str> = failed.iter().map(|f| f.id.as_str()).collect();
                for finding in batch.iter().filter(|f| !failed_ids.contains(f.id.as_str())) {
                    if to_resolve.contains(&finding.id) {
                        report.resolved += 1;
                    } else {
                        report.imported += 1;
                    }
                }
                sent += batch.len();
                if let Some(first) = failed.first() {
                    report.not_imported = failed.len() + (total - sent);
                    return Err(Stopped::Refused(format!(
                        "BatchImportFindings refused {} finding(s), the first {} with {}: {}",
                        failed.len(),
                        first.id,
                        first.code,
                        first.message
                    )));
                }
            }
            Err(e) => {
                report.not_imported = total - sent;
                return Err(Stopped::Refused(format!(
                    "BatchImportFindings refused ({:?}): {e}",
                    e.kind
                )));
            }
        }
    }
    Ok(())
}

/// The one alert of a sweep whose findings Security Hub did not take.
fn refusal_notice(problem: &str, report: &FindingsReport) -> Notice {
    Notice {
        subject: "IAM key rotator: Security Hub did not take the sweep's findings".to_owned(),
        body: format!(
            "The sweep's retirements went on; only its findings are missing.\n\n\
             Problem: {problem}\n\
             Imported: {}, resolved: {}, not imported: {}.\n\n\
             Fix: enable Security Hub in the function's account and region, and grant the \
             function securityhub:BatchImportFindings and securityhub:GetFindings on its \
             default product (the infra's securityHubFindings switch does both); or set \
             ROTATOR_FINDINGS=off. `rotator status --findings` prints the findings the sweep \
             would import.",
            report.imported, report.resolved, report.not_imported
        ),
    }
}
