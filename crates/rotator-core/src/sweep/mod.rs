//! The sweep (contract §9): retires the previous keys that the `grace` policy left active once
//! nothing has used them since the rotation, names the stragglers in one alert, and counts the
//! fleet's health for the metrics. `rule.rs` holds the pure rule (`decide`) with its tests,
//! `report.rs` what the sweep reports, and this file the `Sweeper` that walks the secrets, with
//! the walk's tests on the in-memory world.

mod report;
pub mod rule;

pub use report::{Action, LastUse, SecretReport, SweepSummary};
pub use rule::{Decision, Facts, PreviousKey, SkipReason, Windows, decide, may_go_now, rotated_at};

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use tracing::{info, warn};

use crate::accounts::{iam_for_secret, name_shape_problem};
use crate::config::{OldKeyPolicy, Settings, format_duration, parse_addresses};
use crate::findings::{self, Finding, HubTarget, Observation, Problem, SecurityHub, SeverityLabel};
use crate::fleet::status::{self, State, StatusOptions};
use crate::fleet::{self, FleetError, StagedValue};
use crate::notice::{self, Straggler, StragglerFate};
use crate::ports::{
    AccessKeyInfo, EpochSecs, Iam, KeyLastUsed, KeyStatus, PortErrorKind, SecretMetadata,
    VersionInfo,
};
use crate::recover::{Conditions, Recovery, RecoverySummary};
use crate::rotation::{AWSCURRENT, AWSPENDING, AWSPREVIOUS, NOTIFY_EMAIL_TAG, Ports, Rotator};
use crate::types::{AccessKeyId, SecretId, UserName};

/// How long before the invocation's deadline the sweep begins no more secrets: room for the
/// 16 inspections under way (each a few calls with their retries), the alert and the emails.
pub const DEADLINE_MARGIN_MS: u64 = 20_000;

// The walk, on the fleet's inspection (`crate::fleet`), which `rotator status` shares.

/// How the sweep runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Deactivate, alert and email (the `grace` policy's scheduled sweep).
    Retire,
    /// Decide and report, change nothing, send nothing (`rotator sweep --dry-run`).
    DryRun,
    /// Count the fleet's health only: another old-key policy is configured, so previous keys
    /// are not the sweep's to retire.
    CountOnly,
}

impl Mode {
    /// The function's sweep: it retires only under the `grace` policy.
    pub fn for_policy(policy: OldKeyPolicy) -> Self {
        if policy == OldKeyPolicy::Grace {
            Mode::Retire
        } else {
            Mode::CountOnly
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Retire => "retire",
            Mode::DryRun => "dry-run",
            Mode::CountOnly => "count-only",
        }
    }
}

/// Why a sweep could not run at all: the managed secrets could not be listed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(transparent)]
pub struct SweepError(#[from] pub FleetError);

/// What the sweep did with one secret.
#[derive(Debug, Clone)]
struct Swept {
    report: SecretReport,
    key_older_than_interval: bool,
    overdue: bool,
    stuck: bool,
    /// A straggler to name in the alert, with the secret's email recipients.
    straggler: Option<(Straggler, Vec<String>)>,
    /// Whether the summary lists the secret: not when there is simply no old key to consider.
    noteworthy: bool,
    /// The secret's problems, for Security Hub's findings (contract §12).
    observations: Vec<Observation>,
    /// Whether the secret was examined, so that its earlier findings may be resolved.
    examined: bool,
    /// The recovery of a rotation stuck longer than `ROTATOR_STUCK_AFTER` (contract §11):
    /// its summary, or why it failed.
    recovery: Option<Result<RecoverySummary, String>>,
}

/// The walk over the fleet, before anything is said about it.
struct Walk {
    secrets: Vec<SecretMetadata>,
    swept: Vec<Swept>,
    not_reached: usize,
    /// The invocation's deadline (milliseconds since the epoch), if any.
    deadline_ms: Option<u64>,
}

/// Runs the sweep over the ports.
#[derive(Debug, Clone)]
pub struct Sweeper {
    ports: Ports,
    settings: Settings,
    /// Where the findings go (`ROTATOR_FINDINGS=on`); `None`: no findings.
    findings: Option<Arc<dyn SecurityHub>>,
}

impl Sweeper {
    pub fn new(ports: Ports, settings: Settings) -> Self {
        Self {
            ports,
            settings,
            findings: None,
        }
    }

    /// The same sweep, importing its findings into `hub` after its retirements (contract §12).
    /// A dry run imports nothing.
    pub fn with_findings(mut self, hub: Arc<dyn SecurityHub>) -> Self {
        self.findings = Some(hub);
        self
    }

    /// The findings a sweep would import into `target` now (as new findings: nothing is read
    /// from Security Hub), walking the fleet as the function's sweep does but changing nothing
    /// and sending nothing: `rotator status --findings`.
    pub async fn would_import(&self, target: &HubTarget) -> Result<Vec<Finding>, SweepError> {
        let mode = match Mode::for_policy(self.settings.old_key_policy) {
            Mode::Retire => Mode::DryRun,
            other => other,
        };
        let walk = self.walk(mode, None).await?;
        let observations: Vec<Observation> = walk
            .swept
            .into_iter()
            .flat_map(|s| s.observations)
            .collect();
        Ok(findings::preview(
            &observations,
            target,
            &self.settings.secret_prefix,
            self.ports.clock.now_millis(),
        ))
    }

    /// Walks every secret under `ROTATOR_SECRET_PREFIX` with the fleet's bounded concurrency,
    /// then sends one alert (and one email per set of owners) naming the stragglers.
    pub async fn run(&self, mode: Mode) -> Result<SweepSummary, SweepError> {
        self.run_until(mode, None).await
    }

    /// [`Sweeper::run`] within an invocation that must answer by `deadline_ms` (milliseconds
    /// since the epoch: Lambda's `Lambda-Runtime-Deadline-Ms`). No secret is begun later than
    /// [`DEADLINE_MARGIN_MS`] before it, so that the secrets under way, the alert and the
    /// summary still fit; the summary says how many secrets were not reached, and the next
    /// sweep, which begins elsewhere in the fleet, carries on.
    pub async fn run_until(
        &self,
        mode: Mode,
        deadline_ms: Option<u64>,
    ) -> Result<SweepSummary, SweepError> {
        let Walk {
            secrets,
            mut swept,
            not_reached,
            deadline_ms,
        } = self.walk(mode, deadline_ms).await?;
        let prefix = self.settings.secret_prefix.clone();
        let count = |action: Action| swept.iter().filter(|s| s.report.action == action).count();
        let mut summary = SweepSummary {
            mode: mode.as_str(),
            prefix,
            managed_secrets: secrets.len(),
            keys_older_than_interval: swept.iter().filter(|s| s.key_older_than_interval).count(),
            overdue_rotations: swept.iter().filter(|s| s.overdue).count(),
            stuck_rotations: swept.iter().filter(|s| s.stuck).count(),
            old_keys_in_use: count(Action::InUse),
            old_keys_retired: count(Action::Deactivated) + count(Action::DeactivatedPastMax),
            sweep_errors: count(Action::Error),
            secrets_not_reached: not_reached,
            rotations_recovered: swept
                .iter()
                .filter_map(|s| s.recovery.as_ref()?.as_ref().ok())
                .filter(|r| r.outcome.recovered())
                .count(),
            recoveries_failed: swept
                .iter()
                .filter(|s| {
                    s.recovery.as_ref().is_some_and(|r| {
                        r.as_ref().map_or(true, |r| {
                            r.outcome == crate::recover::RecoveryOutcome::PendingKeyKept
                        })
                    })
                })
                .count(),
            recoveries: swept
                .iter()
                .filter_map(|s| s.recovery.as_ref()?.as_ref().ok().cloned())
                .filter(|r| r.outcome != crate::recover::RecoveryOutcome::NotStuck)
                .collect(),
            recovery_errors: swept
                .iter()
                .filter_map(|s| s.recovery.as_ref()?.as_ref().err().cloned())
                .collect(),
            alerts_sent: 0,
            emails_sent: 0,
            findings: None,
            secrets: Vec::new(),
        };
        let stragglers: Vec<(Straggler, Vec<String>)> = swept
            .iter_mut()
            .filter_map(|s| s.straggler.take())
            .collect();
        if mode == Mode::Retire && !stragglers.is_empty() {
            self.tell(&stragglers, &mut summary).await;
        }
        // Contract §12: after the retirements and their alert, never in a dry run.
        if let Some(hub) = self.findings.as_deref()
            && mode != Mode::DryRun
        {
            let report = self
                .publish_findings(hub, &secrets, &mut swept, deadline_ms)
                .await;
            summary.alerts_sent += usize::from(report.alert_sent);
            summary.findings = Some(report);
        }
        summary.secrets = swept
            .into_iter()
            .filter(|s| s.noteworthy)
            .map(|s| s.report)
            .collect();
        info!(
            managed_secrets = summary.managed_secrets,
            old_keys_in_use = summary.old_keys_in_use,
            old_keys_retired = summary.old_keys_retired,
            sweep_errors = summary.sweep_errors,
            "sweep finished"
        );
        Ok(summary)
    }

    /// Imports the walk's findings and resolves the earlier ones whose problem is gone.
    async fn publish_findings(
        &self,
        hub: &dyn SecurityHub,
        secrets: &[SecretMetadata],
        swept: &mut [Swept],
        deadline_ms: Option<u64>,
    ) -> findings::FindingsReport {
        let arn_of: BTreeMap<&str, &str> = secrets
            .iter()
            .map(|m| (m.name.as_str(), m.arn.as_str()))
            .collect();
        let examined = swept
            .iter()
            .filter(|s| s.examined)
            .filter_map(|s| {
                arn_of
                    .get(s.report.secret.as_str())
                    .map(|arn| (*arn).to_owned())
            })
            .collect();
        let observations = swept
            .iter_mut()
            .flat_map(|s| std::mem::take(&mut s.observations))
            .collect();
        findings::publish(
            hub,
            self.ports.notifier.as_ref(),
            self.ports.clock.as_ref(),
            findings::SweepObservations {
                secret_prefix: &self.settings.secret_prefix,
                observations,
                examined,
                listed: secrets.iter().map(|m| m.arn.clone()).collect(),
                deadline_ms,
            },
        )
        .await
    }

    /// Walks the secrets with the fleet's bounded concurrency until the cutoff.
    async fn walk(&self, mode: Mode, deadline_ms: Option<u64>) -> Result<Walk, SweepError> {
        let prefix = self.settings.secret_prefix.clone();
        let mut secrets = fleet::managed_secrets(&self.ports, &prefix).await?;
        let now = self.ports.clock.now();
        // Each sweep begins at another place (by the hour), so that sweeps cut short by the
        // deadline reach every secret in turn rather than the first ones again and again.
        if !secrets.is_empty() {
            let start = (now / 3600).wrapping_mul(2_654_435_761) % secrets.len() as u64;
            secrets.rotate_left(usize::try_from(start).unwrap_or(0));
        }
        let cutoff = deadline_ms.map(|deadline| deadline.saturating_sub(DEADLINE_MARGIN_MS));
        info!(
            secrets = secrets.len(),
            prefix,
            mode = mode.as_str(),
            "sweep started"
        );
        // A secret's failure is its own report: the walk never stops for one.
        let swept = fleet::bounded(&secrets, |metadata| async move {
            if cutoff.is_some_and(|cutoff| self.ports.clock.now_millis() >= cutoff) {
                return Ok(None);
            }
            Ok(Some(self.sweep_secret(metadata, now, mode).await))
        })
        .await?;
        let not_reached = swept.iter().filter(|s| s.is_none()).count();
        if not_reached > 0 {
            warn!(
                not_reached,
                "the sweep stopped before the invocation's deadline; the next sweep carries on"
            );
        }
        let mut swept: Vec<Swept> = swept.into_iter().flatten().collect();
        swept.sort_by(|a, b| a.report.secret.cmp(&b.report.secret));
        Ok(Walk {
            secrets,
            swept,
            not_reached,
            deadline_ms,
        })
    }

    /// Inspects one secret and applies the rule; never fails: an error is the secret's report.
    async fn sweep_secret(&self, metadata: &SecretMetadata, now: EpochSecs, mode: Mode) -> Swept {
        let mut swept = Swept {
            report: SecretReport {
                secret: metadata.name.clone(),
                user: None,
                previous_key: None,
                action: Action::Skipped,
                detail: String::new(),
                rotated_at: metadata.last_rotated.map(notice::rfc3339),
                last_used: None,
            },
            key_older_than_interval: false,
            overdue: false,
            stuck: false,
            straggler: None,
            noteworthy: true,
            observations: Vec::new(),
            examined: false,
            recovery: None,
        };
        // Contract §3: a name of another shape binds nobody, and the sweep leaves it alone.
        if let Some(problem) = name_shape_problem(&metadata.name, &self.settings.secret_prefix) {
            swept.report.detail = format!("{problem}: left alone");
            // `rotator status` reports it broken: so does its finding.
            swept.examined = true;
            swept.observations.push(listing_observation(
                metadata,
                Problem::BrokenCurrent,
                format!("{problem}: every step refuses it and the sweep leaves it alone"),
            ));
            return swept;
        }
        if let Err(problem) = self.sweep_inspected(metadata, now, mode, &mut swept).await {
            warn!(secret = %metadata.name, problem, "the sweep could not handle the secret");
            swept.report.action = Action::Error;
            swept.report.detail = problem;
            swept.noteworthy = true;
        }
        // After the retirement, whose check that nothing changed the recovery would upset.
        swept.recovery = self.recover_stuck(metadata, mode).await;
        swept
    }

    /// Ends the secret's rotation when it has stood unfinished longer than
    /// `ROTATOR_STUCK_AFTER` (contract §11), as `{"Action": "recover"}` does; in a dry run,
    /// says what it would do. `None` when no rotation stands unfinished, when a younger one
    /// does, or when `ROTATOR_STUCK_AFTER` is `0s`.
    async fn recover_stuck(
        &self,
        metadata: &SecretMetadata,
        mode: Mode,
    ) -> Option<Result<RecoverySummary, String>> {
        let stuck_after = self.settings.stuck_after.as_secs();
        let pending = metadata.version_with_stage(AWSPENDING)?;
        if stuck_after == 0 {
            return None;
        }
        let secret = match SecretId::new(metadata.name.as_str()) {
            Ok(secret) => secret,
            Err(error) => return Some(Err(error.to_string())),
        };
        let conditions = Conditions {
            pending_version: Some(pending.to_owned()),
            stuck_for_at_least: Some(stuck_after),
        };
        let recovery = Recovery::new(Rotator::new(self.ports.clone(), self.settings.clone()));
        match recovery
            .recover_when(&secret, &conditions, mode == Mode::DryRun)
            .await
        {
            Ok(summary) if summary.outcome == crate::recover::RecoveryOutcome::NotYetStuck => None,
            Ok(summary) => Some(Ok(summary)),
            Err(error) => {
                warn!(secret = %metadata.name, %error, "the sweep could not recover the stuck rotation");
                Some(Err(format!(
                    "{}: the recovery failed: {error}",
                    metadata.name
                )))
            }
        }
    }

    async fn sweep_inspected(
        &self,
        metadata: &SecretMetadata,
        now: EpochSecs,
        mode: Mode,
        swept: &mut Swept,
    ) -> Result<(), String> {
        let inspection = match fleet::inspect_as(&self.ports, metadata, &self.settings.member_role)
            .await
        {
            Ok(inspection) => inspection,
            Err(error) => {
                // As `rotator status` reports it: an account out of reach is broken, any
                // other failed read unreadable.
                swept.examined = true;
                let (problem, reason) = if error.operation == "AssumeRole" {
                    (
                        Problem::BrokenCurrent,
                        format!(
                            "the user's account cannot be read, and the function cannot rotate it either: {error}"
                        ),
                    )
                } else {
                    (
                        Problem::Unreadable,
                        format!("the secret's state is unknown: {error}"),
                    )
                };
                swept
                    .observations
                    .push(listing_observation(metadata, problem, reason));
                return Err(error.to_string());
            }
        };
        swept.report.user = Some(inspection.user.clone());
        let row = status::evaluate(&inspection, now, &StatusOptions::default());
        swept.examined = true;
        swept.observations = findings::observations(&row, now, mode == Mode::CountOnly);
        swept.stuck = row.states.contains(&State::Stuck);
        swept.overdue = row.states.contains(&State::Overdue);
        swept.key_older_than_interval = match (
            inspection.rotation_interval_days,
            inspection.current_key_info().and_then(|key| key.created),
        ) {
            (Some(days), Some(created)) => {
                now.saturating_sub(created) > days.saturating_mul(86_400)
            }
            _ => false,
        };
        if mode == Mode::CountOnly {
            swept.noteworthy = false;
            return Ok(());
        }
        // A value that is not the bound user's says nothing the sweep may act on.
        for (stage, staged) in [
            (AWSCURRENT, inspection.current.as_ref()),
            (AWSPREVIOUS, inspection.previous.as_ref()),
        ] {
            if let Some(problem) = staged
                .and_then(|s| s.value.as_ref())
                .and_then(|value| unusable(value, &inspection))
            {
                return Err(format!("the {stage} value {problem}: left alone"));
            }
        }
        let current_key = inspection.current_key();
        let previous_key = inspection.previous_key();
        swept.report.previous_key = previous_key.map(ToString::to_string);
        let listed = inspection.previous_key_info();
        let last_use = inspection.previous_last_used.clone().unwrap_or_default();
        swept.report.last_used = last_use.when.map(|at| LastUse {
            at: notice::rfc3339(at),
            service: last_use.service.clone(),
            region: last_use.region.clone(),
        });
        let in_progress = metadata.version_with_stage(AWSPENDING).is_some();
        let previous = match (previous_key, listed) {
            (None, _) => PreviousKey::Absent,
            (Some(id), _) if Some(id) == current_key => PreviousKey::SameAsCurrent,
            (Some(_), None) => PreviousKey::NotListed,
            (Some(_), Some(_)) if !inspection.previous_owned() => PreviousKey::NotOwned,
            (Some(_), Some(key)) => PreviousKey::Listed {
                status: key.status,
                last_used: last_use.when,
            },
        };
        // When AWSCURRENT moved matters only for an active old key: only then are the
        // versions' creation times read. A rotation in progress (stuck, perhaps) changes
        // nothing: `LastRotatedDate` is the last completed rotation's (see `rotated_at`).
        let mut rotated = metadata.last_rotated;
        let mut versions = Vec::new();
        if matches!(
            previous,
            PreviousKey::Listed {
                status: KeyStatus::Active,
                ..
            }
        ) {
            let secret = SecretId::new(metadata.name.as_str()).map_err(|e| e.to_string())?;
            versions = self
                .ports
                .secrets
                .list_versions(&secret)
                .await
                .map_err(|e| format!("ListSecretVersionIds for {} failed: {e}", metadata.name))?;
            rotated = rotated_at(metadata, &versions);
        }
        swept.report.rotated_at = rotated.map(notice::rfc3339);
        let finish_incomplete = in_progress
            && metadata.version_with_stage(AWSPENDING) == metadata.version_with_stage(AWSCURRENT);
        let facts = Facts {
            now,
            rotation_in_progress: in_progress,
            finish_incomplete,
            rotated_at: rotated,
            previous,
            current_usable: inspection.current_usable(),
        };
        let decision = decide(&facts, &Windows::from_settings(&self.settings));
        if decision == Decision::Skip(SkipReason::CurrentNotUsable) {
            // Contract §9: never the last working key; the secret is reported instead.
            return Err(format!(
                "{}: the AWSPREVIOUS key {} stays active",
                SkipReason::CurrentNotUsable.describe(),
                previous_key.map_or_else(String::new, ToString::to_string)
            ));
        }
        let (Some(key), Some(rotated)) = (listed, rotated) else {
            // `decide` skips every secret without a listed previous key or a rotation time.
            swept.skip(match decision {
                Decision::Skip(reason) => reason,
                _ => SkipReason::UnknownRotationTime,
            });
            return Ok(());
        };
        let quiet = format_duration(Duration::from_secs(
            Windows::from_settings(&self.settings).quiet(),
        ));
        match decision {
            Decision::Skip(reason) => swept.skip(reason),
            Decision::Leave { retire_after } => {
                swept.report.action = Action::WithinGrace;
                swept.report.detail = format!(
                    "within the grace: stays active until at least {}",
                    notice::rfc3339(retire_after)
                );
            }
            Decision::AlertInUse { forced_at } => {
                swept.report.action = Action::InUse;
                swept.report.detail = format!(
                    "used within the last {quiet}: stays active, deactivated anyway at {} ({} after the rotation)",
                    notice::rfc3339(forced_at),
                    format_duration(self.settings.grace_max),
                );
                swept.straggler = Some(self.straggler(
                    metadata,
                    &inspection.user,
                    key,
                    rotated,
                    &last_use,
                    StragglerFate::LeftActive { until: forced_at },
                ));
                swept.observations.push(findings::old_key_in_use(
                    &row,
                    key.id.as_str(),
                    rotated,
                    &last_use,
                    forced_at,
                ));
            }
            Decision::Deactivate | Decision::DeactivatePastMax => {
                let past_max = decision == Decision::DeactivatePastMax;
                if mode == Mode::Retire {
                    self.deactivate(metadata, &versions, &inspection.user, &key.id)
                        .await?;
                }
                let verb = if mode == Mode::Retire {
                    "deactivated"
                } else {
                    "would deactivate"
                };
                swept.report.action = if past_max {
                    Action::DeactivatedPastMax
                } else {
                    Action::Deactivated
                };
                swept.report.detail = if past_max {
                    format!(
                        "{verb}: still in use, but the rotation is older than ROTATOR_GRACE_MAX ({})",
                        format_duration(self.settings.grace_max)
                    )
                } else {
                    format!("{verb}: neither rotated nor used within the last {quiet}")
                };
                if past_max {
                    swept.straggler = Some(self.straggler(
                        metadata,
                        &inspection.user,
                        key,
                        rotated,
                        &last_use,
                        StragglerFate::Deactivated,
                    ));
                }
            }
        }
        Ok(())
    }

    /// Deactivates the previous key, once the secret's labels are seen unchanged since the
    /// listing and the versions' read: a version's value never changes, so the same AWSCURRENT
    /// and AWSPREVIOUS versions with no AWSPENDING mean the same keys, and no rotation has
    /// started meanwhile.
    async fn deactivate(
        &self,
        listed: &SecretMetadata,
        versions: &[VersionInfo],
        user: &str,
        key: &AccessKeyId,
    ) -> Result<(), String> {
        let secret = SecretId::new(listed.name.as_str()).map_err(|e| e.to_string())?;
        let user =
            UserName::new(user).map_err(|e| format!("the bound user is not a user name: {e}"))?;
        let now = self
            .ports
            .secrets
            .describe(&secret)
            .await
            .map_err(|e| format!("DescribeSecret of {} failed: {e}", listed.name))?;
        let in_versions = |stage: &str| {
            versions
                .iter()
                .find(|v| v.stages.iter().any(|s| s == stage))
                .map(|v| v.id.as_str())
        };
        // A rotation stuck since the listing may still be there (GRACE_MAX does not wait for
        // it), but not a new one.
        let unchanged = now.version_with_stage(AWSPENDING) == listed.version_with_stage(AWSPENDING)
            && [AWSCURRENT, AWSPREVIOUS].iter().all(|stage| {
                now.version_with_stage(stage) == listed.version_with_stage(stage)
                    && in_versions(stage) == listed.version_with_stage(stage)
            });
        if !unchanged {
            return Err(format!(
                "the secret's versions changed during the sweep (a rotation started?): {key} left active for the next sweep"
            ));
        }
        let iam = self.iam_for(listed).await?;
        match iam
            .set_access_key_status(&user, key, KeyStatus::Inactive)
            .await
        {
            Ok(()) => {
                info!(user = %user, key = %key, "the sweep deactivated the previous key");
                Ok(())
            }
            Err(e) if e.kind == PortErrorKind::NotFound => {
                info!(user = %user, key = %key, "the previous key is gone already");
                Ok(())
            }
            Err(e) => Err(format!("UpdateAccessKey of {key} failed: {e}")),
        }
    }

    /// IAM of the account the secret's name binds: the function's own, or the member
    /// account's through the member role (as the rotation steps and the inspection do).
    async fn iam_for(&self, metadata: &SecretMetadata) -> Result<Arc<dyn Iam>, String> {
        iam_for_secret(&self.ports, metadata, &self.settings.member_role)
            .await
            .map_err(|failed| {
                format!(
                    "the member role {} of account {} could not be assumed: {}",
                    failed.role_arn, failed.account, failed.error
                )
            })
    }

    fn straggler(
        &self,
        metadata: &SecretMetadata,
        user: &str,
        key: &AccessKeyInfo,
        rotated_at: EpochSecs,
        last_use: &KeyLastUsed,
        fate: StragglerFate,
    ) -> (Straggler, Vec<String>) {
        let recipients = match metadata.tags.get(NOTIFY_EMAIL_TAG) {
            Some(list) => {
                parse_addresses(list).unwrap_or_else(|_| self.settings.default_notify_email.clone())
            }
            None => self.settings.default_notify_email.clone(),
        };
        (
            Straggler {
                secret: metadata.name.clone(),
                user: user.to_owned(),
                key: key.id.clone(),
                rotated_at,
                last_used: last_use.clone(),
                fate,
            },
            recipients,
        )
    }

    /// One alert naming every straggler, and one email to each set of owners naming theirs.
    /// A failure is logged: what the sweep did stands.
    async fn tell(&self, stragglers: &[(Straggler, Vec<String>)], summary: &mut SweepSummary) {
        let all: Vec<Straggler> = stragglers.iter().map(|(s, _)| s.clone()).collect();
        let alert = notice::straggler_alert(&all, &self.settings);
        match self.ports.notifier.alert(&alert).await {
            Ok(()) => summary.alerts_sent += 1,
            Err(error) => warn!(error = %error, "the sweep's alert could not be sent"),
        }
        if self.settings.sender_email.is_none() {
            return;
        }
        let mut by_owner: BTreeMap<&[String], Vec<Straggler>> = BTreeMap::new();
        for (straggler, recipients) in stragglers {
            if !recipients.is_empty() {
                by_owner
                    .entry(recipients.as_slice())
                    .or_default()
                    .push(straggler.clone());
            }
        }
        for (recipients, theirs) in by_owner {
            let email = notice::straggler_alert(&theirs, &self.settings);
            match self.ports.notifier.email(recipients, &email).await {
                Ok(()) => summary.emails_sent += 1,
                Err(error) => warn!(error = %error, "the sweep's email could not be sent"),
            }
        }
    }
}

impl Swept {
    fn skip(&mut self, reason: SkipReason) {
        self.report.action = Action::Skipped;
        self.report.detail = reason.describe().into();
        self.noteworthy = !matches!(
            reason,
            SkipReason::NoPreviousKey
                | SkipReason::PreviousInactive
                | SkipReason::PreviousNotListed
        );
    }
}

/// A problem known from the secret's listing alone (its name, or a failed read).
fn listing_observation(metadata: &SecretMetadata, problem: Problem, reason: String) -> Observation {
    Observation {
        secret: metadata.name.clone(),
        secret_arn: metadata.arn.clone(),
        user: crate::rotation::bound_user(&metadata.name).to_owned(),
        account: fleet::account_of(&metadata.name),
        access_key_id: None,
        problem,
        reason,
        since: None,
        severity: if problem == Problem::BrokenCurrent {
            SeverityLabel::High
        } else {
            SeverityLabel::Informational
        },
    }
}

/// Why a staged value may not be acted on, if it may not: it is not a rotator secret, or it
/// names another user or account than the secret's name binds (contract §3).
fn unusable(value: &StagedValue, inspection: &fleet::Inspection) -> Option<String> {
    match value {
        StagedValue::NoKey | StagedValue::Key(_) => None,
        StagedValue::Invalid(problem) => Some(format!("is not a rotator secret ({problem})")),
        StagedValue::OtherUser(named) => Some(format!(
            "names the user {named}, but the secret's name binds {}",
            inspection.user
        )),
        StagedValue::OtherAccount(named) => Some(format!(
            "names the account {named}, but the secret's name binds {}",
            inspection
                .account
                .as_deref()
                .unwrap_or("the function's own")
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rotation::Rotator;
    use crate::testing::{World, settings};
    use crate::types::{ClientRequestToken, RotationEvent, Step};

    const HOUR: u64 = 3600;
    const SECRET: &str = "IamKeyRotator/alice";
    const USER: &str = "alice";
    const OWNER: &str = "owner@example.com";

    // The walk, against the in-memory world.

    /// A world with alice and her secret, rotated by a `grace` rotator; the clock is the world's.
    struct Fleet {
        world: World,
        rotator: Rotator,
        settings: Settings,
        rotations: u32,
    }

    impl Fleet {
        fn new(policy: OldKeyPolicy) -> Self {
            let world = World::with_user_and_secret(
                USER,
                SECRET,
                &format!(r#"{{"UserName":"{USER}"}}"#),
                OWNER,
            );
            let settings = Settings {
                secret_prefix: "IamKeyRotator/".into(),
                ..settings(policy)
            };
            let rotator = Rotator::new(world.ports(), settings.clone());
            Self {
                world,
                rotator,
                settings,
                rotations: 0,
            }
        }

        async fn rotate(&mut self) {
            self.rotations += 1;
            let token = format!("5e1a9a52-0000-4000-8000-{:012}", self.rotations);
            self.world.start_rotation(SECRET, &token);
            for step in Step::ALL {
                self.world.restart();
                let event = RotationEvent {
                    step,
                    secret_id: SecretId::new(SECRET).expect("id"),
                    token: ClientRequestToken::new(token.as_str()).expect("token"),
                    rotation_token: None,
                };
                self.rotator
                    .handle(&event)
                    .await
                    .expect("the step succeeds");
            }
        }

        async fn sweep_with(&self, mode: Mode) -> SweepSummary {
            let sweeper = Sweeper::new(self.world.ports(), self.settings.clone());
            sweeper.run(mode).await.expect("the sweep runs")
        }

        async fn sweep(&self) -> SweepSummary {
            self.sweep_with(Mode::Retire).await
        }

        fn advance(&self, secs: u64) {
            self.world.state().now += secs;
        }

        fn key_in(&self, stage: &str) -> Option<String> {
            let state = self.world.state();
            let (_, version) = state.secrets[SECRET].version_with(stage)?;
            let value: serde_json::Value =
                serde_json::from_str(version.value.as_deref()?).expect("json");
            value["AccessKeyId"].as_str().map(str::to_owned)
        }

        fn status_of(&self, key: &str) -> Option<KeyStatus> {
            self.world.state().users[USER]
                .keys
                .iter()
                .find(|k| k.id == key)
                .map(|k| k.status)
        }

        /// Two grace rotations: the first key is AWSPREVIOUS, still active.
        async fn rotated_twice() -> (Self, String, String) {
            let mut fleet = Self::new(OldKeyPolicy::Grace);
            fleet.rotate().await;
            fleet.advance(HOUR);
            fleet.rotate().await;
            let old = fleet.key_in(AWSPREVIOUS).expect("previous key");
            let new = fleet.key_in(AWSCURRENT).expect("current key");
            (fleet, old, new)
        }
    }

    #[tokio::test]
    async fn grace_leaves_the_old_key_until_it_goes_unused_and_the_next_rotation_deletes_it() {
        let (mut fleet, old, new) = Fleet::rotated_twice().await;
        assert_eq!(fleet.status_of(&old), Some(KeyStatus::Active));
        let emails = fleet.world.state().emails.clone();
        assert!(
            emails[1]
                .1
                .body
                .contains("still active for the grace period"),
            "{}",
            emails[1].1.body
        );

        // Within the grace: the key stays, and nothing is said.
        fleet.world.use_key(&old, "s3");
        fleet.advance(20 * HOUR);
        let summary = fleet.sweep().await;
        assert_eq!(summary.secrets[0].action, Action::WithinGrace);
        assert_eq!((summary.old_keys_in_use, summary.old_keys_retired), (0, 0));
        assert_eq!(fleet.status_of(&old), Some(KeyStatus::Active));
        assert!(fleet.world.state().alerts.is_empty());

        // Past grace and lag, but used 2 hours ago: one alert and one email name it.
        fleet.advance(10 * HOUR);
        fleet.world.use_key(&old, "s3");
        fleet.advance(2 * HOUR);
        let summary = fleet.sweep().await;
        assert_eq!(summary.secrets[0].action, Action::InUse);
        assert_eq!(summary.old_keys_in_use, 1);
        assert_eq!((summary.alerts_sent, summary.emails_sent), (1, 1));
        assert_eq!(fleet.status_of(&old), Some(KeyStatus::Active));
        {
            let state = fleet.world.state();
            assert_eq!(state.alerts.len(), 1);
            let alert = &state.alerts[0];
            for needle in [old.as_str(), SECRET, USER, "s3", "us-east-1"] {
                assert!(alert.body.contains(needle), "{needle}: {}", alert.body);
            }
            assert!(!alert.body.contains(&new), "{}", alert.body);
            let (to, email) = state.emails.last().expect("email");
            assert_eq!(to, &[OWNER.to_owned()]);
            assert!(email.body.contains(&old));
            for secret in &state.issued_secrets {
                assert!(
                    !alert.body.contains(secret.as_str()) && !email.body.contains(secret.as_str())
                );
            }
        }

        // Unused for grace and lag: deactivated, once; the next sweep has nothing to do.
        fleet.advance(28 * HOUR + 1);
        let summary = fleet.sweep().await;
        assert_eq!(summary.secrets[0].action, Action::Deactivated);
        assert_eq!(summary.old_keys_retired, 1);
        assert_eq!(fleet.status_of(&old), Some(KeyStatus::Inactive));
        assert_eq!(fleet.status_of(&new), Some(KeyStatus::Active));
        let alerts = fleet.world.state().alerts.len();
        let again = fleet.sweep().await;
        assert_eq!((again.old_keys_retired, again.old_keys_in_use), (0, 0));
        assert!(again.secrets.is_empty(), "{:?}", again.secrets);
        assert_eq!(fleet.world.state().alerts.len(), alerts);

        // The next rotation deletes the inactive AWSPREVIOUS key to make room.
        fleet.rotate().await;
        assert_eq!(fleet.status_of(&old), None);
        assert_eq!(fleet.key_in(AWSPREVIOUS), Some(new.clone()));
        assert_eq!(fleet.status_of(&new), Some(KeyStatus::Active));
    }

    #[tokio::test]
    async fn past_the_hard_limit_a_key_in_use_is_deactivated_with_an_alert() {
        let (fleet, old, _) = Fleet::rotated_twice().await;
        fleet.advance(7 * 24 * HOUR - 60);
        fleet.world.use_key(&old, "ec2");
        fleet.advance(30);
        assert_eq!(fleet.sweep().await.old_keys_in_use, 1);
        assert_eq!(fleet.status_of(&old), Some(KeyStatus::Active));
        fleet.advance(30);
        let summary = fleet.sweep().await;
        assert_eq!(summary.secrets[0].action, Action::DeactivatedPastMax);
        assert_eq!((summary.old_keys_retired, summary.old_keys_in_use), (1, 0));
        assert_eq!(fleet.status_of(&old), Some(KeyStatus::Inactive));
        let state = fleet.world.state();
        assert_eq!(state.alerts.len(), 2, "one alert per sweep");
        let alert = &state.alerts[1];
        assert!(alert.subject.contains("deactivated"), "{}", alert.subject);
        assert!(alert.body.contains("ROTATOR_GRACE_MAX") && alert.body.contains("ec2"));
    }

    #[tokio::test]
    async fn a_rotation_in_progress_is_left_alone_and_counted_as_stuck_after_an_hour() {
        let (fleet, old, _) = Fleet::rotated_twice().await;
        fleet.advance(30 * HOUR);
        fleet
            .world
            .start_rotation(SECRET, "5e1a9a52-0000-4000-8000-0000000000ff");
        let summary = fleet.sweep().await;
        assert_eq!(summary.secrets[0].action, Action::Skipped);
        assert_eq!(summary.stuck_rotations, 0);
        assert_eq!(fleet.status_of(&old), Some(KeyStatus::Active));
        fleet.advance(crate::fleet::status::DEFAULT_STUCK_AFTER_SECS + 1);
        let summary = fleet.sweep().await;
        assert_eq!(summary.stuck_rotations, 1);
        assert_eq!(summary.old_keys_retired, 0);
        assert_eq!(fleet.status_of(&old), Some(KeyStatus::Active));
        assert!(
            !fleet.world.state().calls.contains(&"iam:UpdateAccessKey"),
            "no key was touched"
        );
    }

    #[tokio::test]
    async fn keys_the_secret_does_not_know_are_never_touched() {
        let (fleet, old, new) = Fleet::rotated_twice().await;
        // Someone rewrites AWSCURRENT by hand with the current key: AWSPREVIOUS now holds the
        // current key too, and the old key is unknown to the secret.
        let value = fleet.world.current_value(SECRET).expect("value");
        fleet.world.put_current(SECRET, &value);
        fleet.advance(30 * 24 * HOUR);
        let summary = fleet.sweep().await;
        assert_eq!(summary.old_keys_retired, 0);
        assert_eq!(summary.secrets[0].action, Action::Skipped, "{summary:?}");
        assert_eq!(fleet.status_of(&old), Some(KeyStatus::Active));
        assert_eq!(fleet.status_of(&new), Some(KeyStatus::Active));

        // An AWSPREVIOUS key that is not the user's (another user's key) is not touched either.
        fleet.world.add_user("bob");
        let (bobs, bobs_secret) = fleet.world.add_key("bob", KeyStatus::Active);
        let foreign = format!(
            r#"{{"UserName":"{USER}","AccessKeyId":"{bobs}","SecretAccessKey":"{bobs_secret}"}}"#
        );
        fleet.world.put_current(SECRET, &foreign);
        fleet.world.put_current(SECRET, &value);
        fleet.advance(30 * 24 * HOUR);
        let summary = fleet.sweep().await;
        assert_eq!(summary.old_keys_retired, 0, "{summary:?}");
        let state = fleet.world.state();
        assert!(
            state.users["bob"]
                .keys
                .iter()
                .all(|k| k.status == KeyStatus::Active)
        );
        assert!(!state.calls.contains(&"iam:UpdateAccessKey"));
    }

    #[tokio::test]
    async fn a_value_that_names_another_user_is_an_error_and_changes_nothing() {
        let (fleet, old, _) = Fleet::rotated_twice().await;
        let value = fleet.world.current_value(SECRET).expect("value");
        fleet.world.put_current(
            SECRET,
            &value.replace(r#""UserName":"alice""#, r#""UserName":"mallory""#),
        );
        fleet.advance(30 * 24 * HOUR);
        let summary = fleet.sweep().await;
        assert_eq!(summary.sweep_errors, 1);
        assert_eq!(summary.secrets[0].action, Action::Error);
        assert!(summary.secrets[0].detail.contains("mallory"), "{summary:?}");
        assert_eq!(fleet.status_of(&old), Some(KeyStatus::Active));
    }

    #[tokio::test]
    async fn a_manual_put_restarts_the_grace() {
        let (fleet, old, current) = Fleet::rotated_twice().await;
        fleet.world.use_key(&current, "s3");
        fleet.advance(30 * HOUR);
        // A person retires the old key, makes a key by hand and stores it as AWSCURRENT: the
        // key the programs used until now is AWSPREVIOUS, and its grace counts from this put,
        // not from the last rotation (`LastRotatedDate` does not move).
        fleet
            .world
            .state()
            .users
            .get_mut(USER)
            .expect("alice")
            .keys
            .retain(|k| k.id != old);
        let (manual, manual_secret) = fleet.world.add_key(USER, KeyStatus::Active);
        fleet.world.put_current(
            SECRET,
            &format!(r#"{{"UserName":"{USER}","AccessKeyId":"{manual}","SecretAccessKey":"{manual_secret}"}}"#),
        );
        let summary = fleet.sweep().await;
        assert_eq!(
            summary.secrets[0].previous_key.as_deref(),
            Some(current.as_str())
        );
        assert_eq!(
            summary.secrets[0].action,
            Action::WithinGrace,
            "{summary:?}"
        );
        assert_eq!(fleet.status_of(&current), Some(KeyStatus::Active));
        fleet.advance(28 * HOUR + 1);
        assert_eq!(fleet.sweep().await.old_keys_retired, 1);
        assert_eq!(fleet.status_of(&current), Some(KeyStatus::Inactive));
        assert_eq!(fleet.status_of(&manual), Some(KeyStatus::Active));
    }

    #[tokio::test]
    async fn a_dry_run_changes_nothing_and_sends_nothing() {
        let (fleet, old, _) = Fleet::rotated_twice().await;
        fleet.advance(29 * HOUR);
        let calls_before = fleet.world.state().calls.len();
        let summary = fleet.sweep_with(Mode::DryRun).await;
        assert_eq!(summary.mode, "dry-run");
        assert_eq!(summary.old_keys_retired, 1);
        assert!(summary.secrets[0].detail.starts_with("would deactivate"));
        assert_eq!(fleet.status_of(&old), Some(KeyStatus::Active));
        let state = fleet.world.state();
        let writes = state.calls[calls_before..]
            .iter()
            .filter(|c| !c.contains(":List") && !c.contains(":Get") && !c.contains(":Describe"))
            .count();
        assert_eq!(writes, 0, "{:?}", &state.calls[calls_before..]);
    }

    #[tokio::test]
    async fn another_policy_only_counts_the_fleet() {
        let mut fleet = Fleet::new(OldKeyPolicy::Keep);
        fleet.rotate().await;
        fleet.rotate().await;
        let old = fleet.key_in(AWSPREVIOUS).expect("previous");
        {
            let mut state = fleet.world.state();
            let secret = state.secrets.get_mut(SECRET).expect("secret");
            secret.rotation_interval_days = Some(1);
        }
        fleet.advance(30 * 24 * HOUR);
        let summary = fleet.sweep_with(Mode::for_policy(OldKeyPolicy::Keep)).await;
        assert_eq!(summary.mode, "count-only");
        assert_eq!(summary.managed_secrets, 1);
        assert_eq!(summary.overdue_rotations, 1);
        assert_eq!(summary.keys_older_than_interval, 1);
        assert_eq!(summary.old_keys_retired, 0);
        assert_eq!(fleet.status_of(&old), Some(KeyStatus::Active));
    }

    #[tokio::test]
    async fn many_secrets_are_swept_with_bounded_concurrency_and_only_under_the_prefix() {
        let (fleet, old, _) = Fleet::rotated_twice().await;
        for n in 0..30 {
            let user = format!("user{n}");
            fleet.world.add_user(&user);
            fleet.world.add_secret(
                &format!("IamKeyRotator/{user}"),
                &format!(r#"{{"UserName":"{user}"}}"#),
            );
        }
        fleet
            .world
            .add_secret("Other/alice", r#"{"UserName":"alice"}"#);
        fleet.advance(29 * HOUR);
        let summary = fleet.sweep().await;
        assert_eq!(summary.managed_secrets, 31);
        assert_eq!(summary.old_keys_retired, 1);
        assert_eq!(summary.sweep_errors, 0, "{summary:?}");
        assert_eq!(fleet.status_of(&old), Some(KeyStatus::Inactive));
        let json = serde_json::to_value(&summary).expect("json");
        assert_eq!(json["managedSecrets"], 31);
        assert_eq!(json["secrets"][0]["action"], "deactivated");
        assert_eq!(json["secrets"][0]["previousKey"], old.as_str());
    }

    #[tokio::test]
    async fn a_secret_that_cannot_be_read_counts_as_an_error_and_the_rest_go_on() {
        let (fleet, old, _) = Fleet::rotated_twice().await;
        fleet.world.inject(
            "iam:ListAccessKeys",
            crate::testing::Fault::Fail(PortErrorKind::Throttled),
        );
        fleet.advance(29 * HOUR);
        let summary = fleet.sweep().await;
        assert_eq!(summary.sweep_errors, 1);
        assert!(summary.secrets[0].detail.contains("ListAccessKeys"));
        assert_eq!(fleet.status_of(&old), Some(KeyStatus::Active));
        let summary = fleet.sweep().await;
        assert_eq!((summary.sweep_errors, summary.old_keys_retired), (0, 1));
    }
}

#[cfg(test)]
mod member_accounts {
    //! A user of another account: the sweep reaches its keys through the member role.

    use super::*;
    use crate::rotation::Rotator;
    use crate::testing::{World, settings};
    use crate::types::{ClientRequestToken, RotationEvent, Step};

    const SECRET: &str = "IamKeyRotator/111122223333/alice";

    #[tokio::test]
    async fn a_member_accounts_old_key_is_retired_through_the_member_role() {
        let central = World::new();
        central.add_user("alice");
        let (central_key, _) = central.add_key("alice", KeyStatus::Active);
        let member = central.add_member_account("111122223333", None);
        member.add_user("alice");
        central.add_secret(SECRET, r#"{"UserName":"alice","AccountId":"111122223333"}"#);
        let settings = settings(OldKeyPolicy::Grace);
        let rotator = Rotator::new(central.ports(), settings.clone());
        for n in 1..=2 {
            let token = format!("7c1e0f42-0000-4000-8000-{n:012}");
            central.start_rotation(SECRET, &token);
            for step in Step::ALL {
                let event = RotationEvent {
                    step,
                    secret_id: SecretId::new(SECRET).expect("id"),
                    token: ClientRequestToken::new(token.as_str()).expect("token"),
                    rotation_token: None,
                };
                rotator.handle(&event).await.expect("step");
            }
        }
        central.state().now += 29 * 3600;
        let summary = Sweeper::new(central.ports(), settings)
            .run(Mode::for_policy(OldKeyPolicy::Grace))
            .await
            .expect("sweep");
        assert_eq!(
            (summary.old_keys_retired, summary.sweep_errors),
            (1, 0),
            "{summary:?}"
        );
        let statuses: Vec<KeyStatus> = member.state().users["alice"]
            .keys
            .iter()
            .map(|k| k.status)
            .collect();
        assert_eq!(statuses, [KeyStatus::Inactive, KeyStatus::Active]);
        // The central account's alice, a different user, is untouched.
        let state = central.state();
        assert_eq!(state.users["alice"].keys.len(), 1);
        assert_eq!(state.users["alice"].keys[0].id, central_key);
        assert_eq!(state.users["alice"].keys[0].status, KeyStatus::Active);
    }
}

#[cfg(test)]
mod concurrent {
    //! A rotation that starts while the sweep runs: the store below starts one right before
    //! the sweep's last look at the secret.

    use std::sync::Arc;

    use async_trait::async_trait;

    use super::*;
    use crate::ports::{PortResult, SecretStore, VersionRef};
    use crate::secret_value::SecretString;
    use crate::testing::{World, settings};
    use crate::types::{ClientRequestToken, RotationToken};

    struct RotationStartsMidSweep(World);

    #[async_trait]
    impl SecretStore for RotationStartsMidSweep {
        async fn describe(&self, secret: &SecretId) -> PortResult<SecretMetadata> {
            self.0
                .start_rotation(secret.as_str(), "5e1a9a52-0000-4000-8000-00000000beef");
            self.0.describe(secret).await
        }
        async fn get_value<'a>(
            &self,
            secret: &SecretId,
            version: VersionRef<'a>,
        ) -> PortResult<Option<SecretString>> {
            self.0.get_value(secret, version).await
        }
        async fn put_pending<'a>(
            &self,
            secret: &SecretId,
            token: &ClientRequestToken,
            value: &SecretString,
            rotation_token: Option<&'a RotationToken>,
        ) -> PortResult<()> {
            self.0
                .put_pending(secret, token, value, rotation_token)
                .await
        }
        async fn update_stage<'a>(
            &self,
            secret: &SecretId,
            stage: &str,
            move_to: Option<&'a str>,
            remove_from: Option<&'a str>,
        ) -> PortResult<()> {
            self.0
                .update_stage(secret, stage, move_to, remove_from)
                .await
        }
        async fn list_secrets(&self, name_prefix: &str) -> PortResult<Vec<SecretMetadata>> {
            self.0.list_secrets(name_prefix).await
        }
        async fn list_versions(&self, secret: &SecretId) -> PortResult<Vec<VersionInfo>> {
            self.0.list_versions(secret).await
        }
        async fn start_rotation(&self, secret: &SecretId) -> PortResult<Option<String>> {
            SecretStore::start_rotation(&self.0, secret).await
        }
    }

    #[tokio::test]
    async fn a_rotation_that_starts_during_the_sweep_keeps_the_key() {
        let world = World::with_user_and_secret(
            "alice",
            "IamKeyRotator/alice",
            r#"{"UserName":"alice"}"#,
            "owner@example.com",
        );
        let (old, old_secret) = world.add_key("alice", KeyStatus::Active);
        let (new, new_secret) = world.add_key("alice", KeyStatus::Active);
        let value = |id: &str, secret: &str| {
            format!(r#"{{"UserName":"alice","AccessKeyId":"{id}","SecretAccessKey":"{secret}"}}"#)
        };
        world.put_current("IamKeyRotator/alice", &value(&old, &old_secret));
        world.put_current("IamKeyRotator/alice", &value(&new, &new_secret));
        world.record_key("alice", "IamKeyRotator/alice", &old);
        world.state().now += 30 * 86_400;
        let mut ports = world.ports();
        ports.secrets = Arc::new(RotationStartsMidSweep(world.clone()));
        let sweeper = Sweeper::new(ports, settings(OldKeyPolicy::Grace));
        let summary = sweeper
            .run(Mode::for_policy(OldKeyPolicy::Grace))
            .await
            .expect("sweep");
        assert_eq!(summary.old_keys_retired, 0, "{summary:?}");
        assert!(
            summary.secrets[0]
                .detail
                .contains("changed during the sweep")
        );
        assert!(
            world.state().users["alice"]
                .keys
                .iter()
                .all(|k| k.status == KeyStatus::Active)
        );
    }
}
