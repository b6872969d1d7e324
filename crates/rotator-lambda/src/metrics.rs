//! Fleet health as CloudWatch metrics: one Embedded Metric Format line per rotation step and per
//! sweep, written to stdout (Lambda's log), formatted by awslabs' `metrique`.

use std::time::{Duration, SystemTime};

use metrique::emf::Emf;
use metrique::unit::{Count, Millisecond};
use metrique::unit_of_work::metrics;
use metrique::writer::format::Format;
use metrique::{CloseValue, InflectableEntry, RootEntry};
use rotator_core::Step;
use rotator_core::recover::RecoverySummary;
use rotator_core::sweep::SweepSummary;

/// The CloudWatch namespace of every metric.
pub const NAMESPACE: &str = "IamKeyRotator";

/// The `Deployment` dimension when the function's name is unknown (outside Lambda).
pub const LOCAL_DEPLOYMENT: &str = "local";

/// A step that succeeded.
#[metrics(
    emf::dimension_sets = [["Deployment"], ["Deployment", "Step"]],
    rename_all = "PascalCase"
)]
struct StepSucceeded {
    #[metrics(timestamp)]
    timestamp: SystemTime,
    deployment: String,
    step: &'static str,
    #[metrics(unit = Count)]
    rotation_step_succeeded: u64,
    #[metrics(unit = Count)]
    rotation_step_failed: u64,
    #[metrics(unit = Millisecond)]
    step_duration: Duration,
}

/// A step that failed, with the step error's kind as a dimension of its own.
#[metrics(
    emf::dimension_sets = [["Deployment"], ["Deployment", "Step"], ["Deployment", "Step", "ErrorKind"]],
    rename_all = "PascalCase"
)]
struct StepFailed {
    #[metrics(timestamp)]
    timestamp: SystemTime,
    deployment: String,
    step: &'static str,
    error_kind: &'static str,
    #[metrics(unit = Count)]
    rotation_step_succeeded: u64,
    #[metrics(unit = Count)]
    rotation_step_failed: u64,
    #[metrics(unit = Millisecond)]
    step_duration: Duration,
}

/// One sweep's counts.
#[metrics(emf::dimension_sets = [["Deployment"]], rename_all = "PascalCase")]
struct Sweep {
    #[metrics(timestamp)]
    timestamp: SystemTime,
    deployment: String,
    #[metrics(unit = Count)]
    managed_secrets: u64,
    #[metrics(unit = Count)]
    keys_older_than_interval: u64,
    #[metrics(unit = Count)]
    overdue_rotations: u64,
    #[metrics(unit = Count)]
    stuck_rotations: u64,
    #[metrics(unit = Count)]
    old_keys_in_use: u64,
    #[metrics(unit = Count)]
    old_keys_retired: u64,
    #[metrics(unit = Count)]
    sweep_errors: u64,
    /// Security Hub findings imported (new or updated) and resolved; zero with findings off.
    #[metrics(unit = Count)]
    findings_imported: u64,
    #[metrics(unit = Count)]
    findings_resolved: u64,
    /// Findings that Security Hub refused, or that were not sent after a refusal.
    #[metrics(unit = Count)]
    findings_not_imported: u64,
    /// Stuck rotations the sweep ended (contract §11).
    #[metrics(unit = Count)]
    rotations_recovered: u64,
    /// Stuck rotations it could not end (a used pending key, or a failure).
    #[metrics(unit = Count)]
    recoveries_failed: u64,
}

/// One recover action (`{"Action": "recover"}`): whether it ended a stuck rotation, or could
/// not (a used pending key kept, or an error).
#[metrics(emf::dimension_sets = [["Deployment"]], rename_all = "PascalCase")]
struct Recover {
    #[metrics(timestamp)]
    timestamp: SystemTime,
    deployment: String,
    #[metrics(unit = Count)]
    rotations_recovered: u64,
    #[metrics(unit = Count)]
    recoveries_failed: u64,
}

/// Formats the metric lines of one deployment.
#[derive(Debug, Clone)]
pub struct Metrics {
    deployment: String,
}

impl Metrics {
    /// The deployment is the function's name (`AWS_LAMBDA_FUNCTION_NAME`), `local` without one.
    pub fn from_env() -> Self {
        Self::for_deployment(
            std::env::var("AWS_LAMBDA_FUNCTION_NAME")
                .ok()
                .filter(|name| !name.trim().is_empty())
                .as_deref()
                .unwrap_or(LOCAL_DEPLOYMENT),
        )
    }

    pub fn for_deployment(deployment: &str) -> Self {
        Self {
            deployment: deployment.to_owned(),
        }
    }

    /// The line of one rotation step; `failure` is the step error's kind.
    pub fn step_line(
        &self,
        step: Step,
        duration: Duration,
        failure: Option<&'static str>,
    ) -> String {
        let timestamp = SystemTime::now();
        let deployment = self.deployment.clone();
        let step = step.as_str();
        match failure {
            None => format_line(StepSucceeded {
                timestamp,
                deployment,
                step,
                rotation_step_succeeded: 1,
                rotation_step_failed: 0,
                step_duration: duration,
            }),
            Some(error_kind) => format_line(StepFailed {
                timestamp,
                deployment,
                step,
                error_kind,
                rotation_step_succeeded: 0,
                rotation_step_failed: 1,
                step_duration: duration,
            }),
        }
    }

    /// The line of one sweep.
    pub fn sweep_line(&self, summary: &SweepSummary) -> String {
        let count = |n: usize| n as u64;
        format_line(Sweep {
            timestamp: SystemTime::now(),
            deployment: self.deployment.clone(),
            managed_secrets: count(summary.managed_secrets),
            keys_older_than_interval: count(summary.keys_older_than_interval),
            overdue_rotations: count(summary.overdue_rotations),
            stuck_rotations: count(summary.stuck_rotations),
            old_keys_in_use: count(summary.old_keys_in_use),
            old_keys_retired: count(summary.old_keys_retired),
            sweep_errors: count(summary.sweep_errors),
            findings_imported: count(summary.findings.as_ref().map_or(0, |f| f.imported)),
            findings_resolved: count(summary.findings.as_ref().map_or(0, |f| f.resolved)),
            findings_not_imported: count(summary.findings.as_ref().map_or(0, |f| f.not_imported)),
            rotations_recovered: count(summary.rotations_recovered),
            recoveries_failed: count(summary.recoveries_failed),
        })
    }

    /// The line of one recover action: `None` when it failed with an error, else its summary.
    /// A dry run changes nothing and counts nothing.
    pub fn recover_line(&self, summary: Option<&RecoverySummary>) -> Option<String> {
        let (recovered, failed) = match summary {
            Some(summary) if summary.dry_run => return None,
            Some(summary) if summary.outcome.recovered() => (1, 0),
            Some(summary)
                if summary.outcome == rotator_core::recover::RecoveryOutcome::PendingKeyKept =>
            {
                (0, 1)
            }
            Some(_) => (0, 0),
            None => (0, 1),
        };
        Some(format_line(Recover {
            timestamp: SystemTime::now(),
            deployment: self.deployment.clone(),
            rotations_recovered: recovered,
            recoveries_failed: failed,
        }))
    }
}

/// Writes a metric line to stdout, where Lambda's log picks it up, at once: a line still
/// buffered when the invocation returns could be lost when Lambda freezes the process.
pub fn emit(line: &str) {
    println!("{line}");
}

/// Formats one entry as a single EMF line. Formatting an entry of these fixed shapes cannot
/// fail; if it ever did, the metric is dropped with a log line, never the invocation.
fn format_line<E: CloseValue>(entry: E) -> String
where
    E::Closed: InflectableEntry,
{
    let mut emf = Emf::all_validations(NAMESPACE.to_owned(), vec![vec![]]);
    let mut line = Vec::new();
    if let Err(error) = emf.format(&RootEntry::new(entry.close()), &mut line) {
        tracing::warn!(%error, "a metric line could not be formatted");
        return String::new();
    }
    String::from_utf8_lossy(&line).trim_end().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn parse(line: &str) -> Value {
        assert!(!line.contains('\n'), "one line: {line}");
        serde_json::from_str(line).expect("an EMF line is JSON")
    }

    /// The metric names and units of the line's one directive, and its dimension sets.
    fn directive(line: &Value) -> (Vec<(String, String)>, Vec<Vec<String>>) {
        let aws = &line["_aws"];
        assert!(
            aws["Timestamp"]
                .as_u64()
                .is_some_and(|t| t > 1_700_000_000_000),
            "{line}"
        );
        let directives = aws["CloudWatchMetrics"].as_array().expect("directives");
        assert_eq!(directives.len(), 1, "{line}");
        assert_eq!(directives[0]["Namespace"], NAMESPACE);
        let metrics = directives[0]["Metrics"]
            .as_array()
            .expect("metrics")
            .iter()
            .map(|m| {
                (
                    m["Name"].as_str().expect("name").to_owned(),
                    m["Unit"].as_str().unwrap_or("None").to_owned(),
                )
            })
            .collect();
        let dimensions = serde_json::from_value(directives[0]["Dimensions"].clone()).expect("sets");
        (metrics, dimensions)
    }

    fn sets(sets: &[&[&str]]) -> Vec<Vec<String>> {
        sets.iter()
            .map(|set| set.iter().map(|d| (*d).to_owned()).collect())
            .collect()
    }

    #[test]
    fn a_step_line_carries_success_failure_and_duration_by_step() {
        let metrics = Metrics::for_deployment("rotator-prod");
        let line = parse(&metrics.step_line(Step::TestSecret, Duration::from_millis(1234), None));
        let (names, dimensions) = directive(&line);
        assert_eq!(
            names,
            [
                ("RotationStepSucceeded".to_owned(), "Count".to_owned()),
                ("RotationStepFailed".to_owned(), "Count".to_owned()),
                ("StepDuration".to_owned(), "Milliseconds".to_owned()),
            ]
        );
        assert_eq!(
            dimensions,
            sets(&[&["Deployment"], &["Deployment", "Step"]])
        );
        assert_eq!(line["Deployment"], "rotator-prod");
        assert_eq!(line["Step"], "testSecret");
        assert_eq!(line["RotationStepSucceeded"], 1);
        assert_eq!(line["RotationStepFailed"], 0);
        assert_eq!(line["StepDuration"], 1234);
        assert!(line.get("ErrorKind").is_none());
    }

    #[test]
    fn a_failed_step_adds_its_error_kind_as_a_dimension() {
        let metrics = Metrics::for_deployment("rotator-prod");
        let line = parse(&metrics.step_line(
            Step::CreateSecret,
            Duration::from_millis(80),
            Some("NoRoomForKey"),
        ));
        let (_, dimensions) = directive(&line);
        assert_eq!(
            dimensions,
            sets(&[
                &["Deployment"],
                &["Deployment", "Step"],
                &["Deployment", "Step", "ErrorKind"]
            ])
        );
        assert_eq!(line["ErrorKind"], "NoRoomForKey");
        assert_eq!(
            (
                line["RotationStepSucceeded"].as_u64(),
                line["RotationStepFailed"].as_u64()
            ),
            (Some(0), Some(1))
        );
    }

    #[test]
    fn a_sweep_line_carries_every_fleet_count() {
        let summary = SweepSummary {
            mode: "retire",
            prefix: "IamKeyRotator/".into(),
            managed_secrets: 12,
            keys_older_than_interval: 1,
            overdue_rotations: 2,
            stuck_rotations: 3,
            old_keys_in_use: 4,
            old_keys_retired: 5,
            sweep_errors: 6,
            secrets_not_reached: 0,
            rotations_recovered: 10,
            recoveries_failed: 11,
            recoveries: Vec::new(),
            recovery_errors: Vec::new(),
            alerts_sent: 1,
            emails_sent: 1,
            findings: Some(rotator_core::findings::FindingsReport {
                imported: 7,
                resolved: 8,
                not_imported: 9,
                problem: None,
                alert_sent: false,
            }),
            secrets: Vec::new(),
        };
        let line = parse(&Metrics::for_deployment(LOCAL_DEPLOYMENT).sweep_line(&summary));
        let (names, dimensions) = directive(&line);
        assert_eq!(dimensions, sets(&[&["Deployment"]]));
        let expected = [
            ("ManagedSecrets", 12),
            ("KeysOlderThanInterval", 1),
            ("OverdueRotations", 2),
            ("StuckRotations", 3),
            ("OldKeysInUse", 4),
            ("OldKeysRetired", 5),
            ("SweepErrors", 6),
            ("FindingsImported", 7),
            ("FindingsResolved", 8),
            ("FindingsNotImported", 9),
            ("RotationsRecovered", 10),
            ("RecoveriesFailed", 11),
        ];
        assert_eq!(
            names,
            expected
                .iter()
                .map(|(name, _)| ((*name).to_owned(), "Count".to_owned()))
                .collect::<Vec<_>>()
        );
        for (name, value) in expected {
            assert_eq!(line[name], value, "{name}");
        }
        assert_eq!(line["Deployment"], "local");
    }

    #[test]
    fn a_recover_line_counts_a_recovery_or_its_failure_and_a_dry_run_nothing() {
        let mut summary = RecoverySummary {
            action: "recover",
            secret: "IamKeyRotator/alice".into(),
            user: Some("alice".into()),
            token: Some("t".into()),
            dry_run: false,
            outcome: rotator_core::recover::RecoveryOutcome::Abandoned,
            deleted_keys: Vec::new(),
            kept_keys: Vec::new(),
            detail: String::new(),
            notice_sent: true,
        };
        let metrics = Metrics::for_deployment("rotator-prod");
        let line = parse(&metrics.recover_line(Some(&summary)).expect("a line"));
        let (names, dimensions) = directive(&line);
        assert_eq!(dimensions, sets(&[&["Deployment"]]));
        assert_eq!(
            names,
            [
                ("RotationsRecovered".to_owned(), "Count".to_owned()),
                ("RecoveriesFailed".to_owned(), "Count".to_owned()),
            ]
        );
        assert_eq!(
            (
                line["RotationsRecovered"].as_u64(),
                line["RecoveriesFailed"].as_u64()
            ),
            (Some(1), Some(0))
        );
        let failed = parse(&metrics.recover_line(None).expect("a line"));
        assert_eq!(failed["RecoveriesFailed"], 1);
        summary.outcome = rotator_core::recover::RecoveryOutcome::PendingKeyKept;
        let kept = parse(&metrics.recover_line(Some(&summary)).expect("a line"));
        assert_eq!(kept["RecoveriesFailed"], 1);
        summary.dry_run = true;
        assert_eq!(metrics.recover_line(Some(&summary)), None);
    }
}
