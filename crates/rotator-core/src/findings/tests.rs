//! The findings' tests: one finding per problem state with its severity, stable ids, the
//! resolution of problems gone, batches of 100, the field limits, no secret in any field, and
//! a refused import that leaves the sweep's retirements alone; on the in-memory world, with an
//! in-memory hub that keeps findings as Security Hub documents it.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;

use super::asff::{ARCHIVED, MAX_DESCRIPTION, MAX_ID, MAX_TITLE, RESOLVED};
use super::*;
use crate::config::{OldKeyPolicy, Settings};
use crate::fleet::status::{CurrentKey, Pending};
use crate::ports::{KeyStatus, PortError, PortErrorKind};
use crate::rotation::{AWSCURRENT, AWSPREVIOUS, Rotator};
use crate::sweep::{Mode, Sweeper};
use crate::testing::{World, settings};
use crate::types::{AccessKeyId, Step};

const HOUR: u64 = 3600;
const DAY: u64 = 86_400;
const CENTRAL: &str = "111111111111";

fn target() -> HubTarget {
    HubTarget {
        partition: "aws".into(),
        region: "eu-west-1".into(),
        account: CENTRAL.into(),
    }
}

/// Security Hub's findings as `BatchImportFindings` keeps them: by `Id` (within one product),
/// a later import replacing the earlier one except `Workflow`, which an import no longer changes
/// once the finding exists (API_BatchImportFindings).
#[derive(Debug, Default)]
struct Hub {
    findings: Mutex<BTreeMap<String, Finding>>,
    /// The size of every import request.
    batches: Mutex<Vec<usize>>,
    /// Every finding sent, in order.
    sent: Mutex<Vec<Finding>>,
    refuse: Mutex<Option<PortError>>,
    fail: Mutex<BTreeSet<String>>,
}

impl Hub {
    fn stored(&self) -> BTreeMap<String, Finding> {
        self.findings.lock().expect("hub").clone()
    }

    fn active(&self) -> Vec<Finding> {
        self.stored()
            .into_values()
            .filter(|f| f.record_state == ACTIVE)
            .collect()
    }
}

#[async_trait]
impl SecurityHub for Hub {
    async fn target(&self) -> PortResult<HubTarget> {
        Ok(target())
    }

    async fn active_findings(&self, product: &str, generator: &str) -> PortResult<Vec<Finding>> {
        if let Some(error) = self.refuse.lock().expect("hub").clone() {
            return Err(error);
        }
        Ok(self
            .active()
            .into_iter()
            .filter(|f| f.product_arn == product && f.generator_id.starts_with(generator))
            .collect())
    }

    async fn import(&self, findings: &[Finding]) -> PortResult<Vec<FailedFinding>> {
        if let Some(error) = self.refuse.lock().expect("hub").clone() {
            return Err(error);
        }
        assert!(findings.len() <= MAX_FINDINGS_PER_IMPORT);
        self.batches.lock().expect("hub").push(findings.len());
        self.sent
            .lock()
            .expect("hub")
            .extend(findings.iter().cloned());
        let fail = self.fail.lock().expect("hub").clone();
        let mut stored = self.findings.lock().expect("hub");
        let mut failed = Vec::new();
        for finding in findings {
            if fail.contains(&finding.id) {
                failed.push(FailedFinding {
                    id: finding.id.clone(),
                    code: "InvalidInput".into(),
                    message: "refused".into(),
                });
                continue;
            }
            let mut kept = finding.clone();
            if let Some(earlier) = stored.get(&finding.id) {
                kept.workflow = earlier.workflow.clone();
            }
            stored.insert(finding.id.clone(), kept);
        }
        Ok(failed)
    }
}

// The findings of each problem state, from status rows.

fn row(states: &[State], reasons: &[&str]) -> StatusRow {
    StatusRow {
        secret: "IamKeyRotator/222222222222/alice".into(),
        arn: "arn:aws:secretsmanager:eu-west-1:111111111111:secret:IamKeyRotator/222222222222/alice-AbCdEf".into(),
        user: "alice".into(),
        account: Some("222222222222".into()),
        key: Some(CurrentKey {
            id: AccessKeyId::new("AKIACURRENT000000001").expect("key id"),
            created: Some(1000),
            status: Some(KeyStatus::Active),
        }),
        rotation_enabled: true,
        last_rotated: Some(1000),
        next_rotation: Some(5000),
        pending: Some(Pending {
            version: "v".into(),
            age_secs: Some(2 * DAY),
        }),
        state: states[0],
        states: states.to_vec(),
        reasons: reasons.iter().map(|r| (*r).to_owned()).collect(),
        adopted: None,
    }
}

#[test]
fn each_problem_state_is_one_finding_with_its_severity_and_its_fix() {
    let now = 10 * DAY;
    let cases = [
        (
            State::Broken,
            Problem::BrokenCurrent,
            "HIGH",
            "rotator rotate",
        ),
        (
            State::Unreadable,
            Problem::Unreadable,
            "INFORMATIONAL",
            "rotator status",
        ),
        (State::Stuck, Problem::Stuck, "HIGH", "rotator recover"),
        (
            State::Blocked,
            Problem::Blocked,
            "INFORMATIONAL",
            "rotator adopt",
        ),
        (
            State::RotationDisabled,
            Problem::RotationDisabled,
            "INFORMATIONAL",
            "rotator rotate",
        ),
        (State::Overdue, Problem::Overdue, "MEDIUM", "rotator rotate"),
    ];
    for (state, problem, severity, command) in cases {
        let row = row(&[state], &["what went wrong"]);
        let found = observations(&row, now, false);
        assert_eq!(found.len(), 1, "{state}");
        assert_eq!(found[0].problem, problem);
        let finding = build(
            &found[0],
            &target(),
            "iam-key-rotator/IamKeyRotator/",
            now * 1000,
            None,
        );
        assert_eq!(finding.severity.label, severity, "{state}");
        assert_eq!(finding.schema_version, "2018-10-08");
        assert_eq!(
            finding.product_arn,
            "arn:aws:securityhub:eu-west-1:111111111111:product/111111111111/default"
        );
        // The default product takes only the caller's own account (API_BatchImportFindings):
        // the user's account is named in the fields and the resources.
        assert_eq!(finding.aws_account_id, CENTRAL);
        assert_eq!(
            finding.product_fields[asff::FIELD_USER_ACCOUNT],
            "222222222222"
        );
        assert_eq!(finding.product_fields[asff::FIELD_USER], "alice");
        assert_eq!(
            finding.product_fields[asff::FIELD_PROBLEM],
            problem.as_str()
        );
        assert_eq!(
            finding.product_fields[asff::FIELD_ACCESS_KEY_ID],
            "AKIACURRENT000000001"
        );
        assert!(finding.title.contains("IamKeyRotator/222222222222/alice"));
        assert!(
            finding.description.starts_with("What went wrong."),
            "{}",
            finding.description
        );
        for needle in ["alice", "222222222222", "AKIACURRENT000000001"] {
            assert!(
                finding.description.contains(needle),
                "{needle}: {}",
                finding.description
            );
        }
        let fix = &finding
            .remediation
            .as_ref()
            .expect("remediation")
            .recommendation
            .text;
        assert!(fix.contains(command), "{state}: {fix}");
        assert_eq!(finding.record_state, ACTIVE);
        assert_eq!(finding.types, [asff::FINDING_TYPE]);
        assert_eq!(finding.resources[0].kind, "AwsSecretsManagerSecret");
        assert_eq!(finding.resources[0].id, row.arn);
    }
    // A rotation stuck for less than a day is not yet failing for days.
    let mut young = row(&[State::Stuck], &["stuck"]);
    young.pending = Some(Pending {
        version: "v".into(),
        age_secs: Some(2 * HOUR),
    });
    let found = observations(&young, now, false);
    assert_eq!(found[0].severity, SeverityLabel::Informational);
    assert_eq!(
        found[0].since,
        Some(now - 2 * HOUR),
        "it began when the rotation did"
    );
    // Overdue since its due date.
    let found = observations(&row(&[State::Overdue], &["late"]), now, false);
    assert_eq!(found[0].since, Some(5000));
    let finding = build(&found[0], &target(), "g/", now * 1000, None);
    assert_eq!(
        finding.first_observed_at.as_deref(),
        Some("1970-01-01T01:23:20Z")
    );
    // Nothing to say of a healthy or a rotating secret.
    assert!(observations(&row(&[State::Ok], &[]), now, false).is_empty());
    assert!(observations(&row(&[State::InProgress], &["rotating"]), now, false).is_empty());
    // The status's old-key-in-use counts only without the grace policy's sweep.
    let in_use = row(&[State::OldKeyInUse, State::Overdue], &["used", "late"]);
    assert_eq!(observations(&in_use, now, false).len(), 1);
    let both = observations(&in_use, now, true);
    assert_eq!(both.len(), 2);
    assert_eq!(both[0].severity, SeverityLabel::High);
}

#[test]
fn ids_are_stable_per_secret_and_problem_and_within_asff_limits() {
    let arn = "arn:aws:secretsmanager:eu-west-1:111111111111:secret:IamKeyRotator/alice-AbCdEf";
    assert_eq!(finding_id(arn, "stuck"), finding_id(arn, "stuck"));
    assert_ne!(finding_id(arn, "stuck"), finding_id(arn, "overdue"));
    assert_ne!(
        finding_id(arn, "stuck"),
        finding_id(&arn.replace("alice", "bob"), "stuck")
    );
    let long = format!("{arn}{}", "x".repeat(600));
    let id = finding_id(&long, "stuck");
    assert!(id.chars().count() <= MAX_ID, "{id}");
    assert_eq!(id, finding_id(&long, "stuck"));

    let mut row = row(&[State::Broken], &[&"a very long reason ".repeat(200)]);
    row.secret = format!("IamKeyRotator/{}", "n".repeat(400));
    let found = observations(&row, 10 * DAY, false);
    let finding = build(&found[0], &target(), "g/", 0, None);
    assert!(finding.title.chars().count() <= MAX_TITLE);
    assert!(finding.description.chars().count() <= MAX_DESCRIPTION);
    assert!(
        finding
            .remediation
            .as_ref()
            .expect("remediation")
            .recommendation
            .text
            .chars()
            .count()
            <= asff::MAX_RECOMMENDATION
    );
}

fn observation(n: usize) -> Observation {
    Observation {
        secret: format!("IamKeyRotator/user{n}"),
        secret_arn: format!(
            "arn:aws:secretsmanager:eu-west-1:111111111111:secret:IamKeyRotator/user{n}-AbCdEf"
        ),
        user: format!("user{n}"),
        account: None,
        access_key_id: None,
        problem: Problem::Overdue,
        reason: "the rotation due at 1970-01-01T00:00:00Z has not happened".into(),
        since: None,
        severity: SeverityLabel::Medium,
    }
}

fn sweep_of(
    observations: Vec<Observation>,
    examined: &[usize],
    listed: &[usize],
) -> SweepObservations<'static> {
    let arn = |n: &usize| observation(*n).secret_arn;
    SweepObservations {
        secret_prefix: "IamKeyRotator/",
        observations,
        examined: examined.iter().map(arn).collect(),
        listed: listed.iter().map(arn).collect(),
        deadline_ms: None,
    }
}

#[tokio::test]
async fn findings_go_in_batches_of_100_and_a_second_pass_updates_them_without_duplicates() {
    let world = World::new();
    let ports = world.ports();
    let hub = Hub::default();
    let all: Vec<usize> = (0..250).collect();
    let report = publish(
        &hub,
        ports.notifier.as_ref(),
        ports.clock.as_ref(),
        sweep_of(all.iter().map(|n| observation(*n)).collect(), &all, &all),
    )
    .await;
    assert_eq!(*hub.batches.lock().expect("hub"), [100, 100, 50]);
    assert_eq!(
        (report.imported, report.resolved, report.not_imported),
        (250, 0, 0)
    );
    assert_eq!(report.problem, None);
    let first = hub.stored();
    assert_eq!(first.len(), 250);

    world.advance(HOUR);
    hub.batches.lock().expect("hub").clear();
    publish(
        &hub,
        ports.notifier.as_ref(),
        ports.clock.as_ref(),
        sweep_of(all.iter().map(|n| observation(*n)).collect(), &all, &all),
    )
    .await;
    let second = hub.stored();
    assert_eq!(second.len(), 250, "updated, not added");
    for (id, finding) in &second {
        let earlier = &first[id];
        assert_eq!(finding.created_at, earlier.created_at, "CreatedAt stays");
        assert_eq!(finding.first_observed_at, earlier.first_observed_at);
        assert!(
            finding.updated_at > earlier.updated_at,
            "UpdatedAt moves on"
        );
    }
    assert!(world.state().alerts.is_empty());
}

#[tokio::test]
async fn a_problem_gone_is_resolved_but_not_the_findings_of_secrets_the_sweep_did_not_reach() {
    let world = World::new();
    let ports = world.ports();
    let hub = Hub::default();
    let all = [0, 1, 2, 3];
    publish(
        &hub,
        ports.notifier.as_ref(),
        ports.clock.as_ref(),
        sweep_of(all.iter().map(|n| observation(*n)).collect(), &all, &all),
    )
    .await;
    world.advance(HOUR);
    // 0 still has its problem; 1 was examined without it; 2 was not reached (the deadline);
    // 3's secret is gone.
    let report = publish(
        &hub,
        ports.notifier.as_ref(),
        ports.clock.as_ref(),
        sweep_of(vec![observation(0)], &[0, 1], &[0, 1, 2]),
    )
    .await;
    assert_eq!((report.imported, report.resolved), (1, 2));
    let stored = hub.stored();
    let state = |n: usize| {
        let id = finding_id(&observation(n).secret_arn, "overdue");
        stored[&id].record_state.clone()
    };
    assert_eq!(state(0), ACTIVE);
    assert_eq!(state(1), ARCHIVED);
    assert_eq!(state(2), ACTIVE, "not reached: left as it was");
    assert_eq!(state(3), ARCHIVED, "its secret is gone");
    let sent = hub.sent.lock().expect("hub").clone();
    let resolution = sent
        .iter()
        .rev()
        .find(|f| f.record_state == ARCHIVED)
        .expect("a resolution was sent");
    assert_eq!(
        resolution.workflow.as_ref().expect("workflow").status,
        RESOLVED
    );

    // Another deployment's findings (another generator) and foreign products are never touched.
    let mut foreign = build(
        &observation(9),
        &target(),
        "iam-key-rotator/Other/",
        0,
        None,
    );
    foreign.id = "foreign".into();
    hub.findings
        .lock()
        .expect("hub")
        .insert("foreign".into(), foreign);
    world.advance(HOUR);
    let report = publish(
        &hub,
        ports.notifier.as_ref(),
        ports.clock.as_ref(),
        sweep_of(vec![], &[], &[]),
    )
    .await;
    assert_eq!(report.resolved, 2, "0 and 2, whose secrets are gone now");
    assert_eq!(hub.stored()["foreign"].record_state, ACTIVE);
}

#[tokio::test]
async fn a_refused_import_is_one_alert_and_a_line_in_the_report() {
    for (refusal, failed_ids) in [
        (
            Some(PortError::new(
                PortErrorKind::AccessDenied,
                "InvalidAccessException: Account is not subscribed to AWS Security Hub",
            )),
            false,
        ),
        (
            Some(PortError::new(
                PortErrorKind::Throttled,
                "TooManyRequestsException: slow down",
            )),
            false,
        ),
        (None, true),
    ] {
        let world = World::new();
        let ports = world.ports();
        let hub = Hub::default();
        *hub.refuse.lock().expect("hub") = refusal;
        if failed_ids {
            let id = finding_id(&observation(1).secret_arn, "overdue");
            hub.fail.lock().expect("hub").insert(id);
        }
        let all: Vec<usize> = (0..3).collect();
        let report = publish(
            &hub,
            ports.notifier.as_ref(),
            ports.clock.as_ref(),
            sweep_of(all.iter().map(|n| observation(*n)).collect(), &all, &all),
        )
        .await;
        let problem = report.problem.clone().expect("the refusal is reported");
        assert!(report.alert_sent);
        assert!(report.not_imported >= 1, "{report:?}");
        let alerts = world.state().alerts.clone();
        assert_eq!(alerts.len(), 1, "one alert");
        assert!(alerts[0].body.contains(&problem), "{}", alerts[0].body);
        assert!(alerts[0].body.contains("ROTATOR_FINDINGS=off"));
    }
}

#[tokio::test]
async fn nothing_is_sent_once_the_deadline_is_near() {
    let world = World::new();
    let ports = world.ports();
    let hub = Hub::default();
    let mut sweep = sweep_of(vec![observation(0)], &[0], &[0]);
    sweep.deadline_ms = Some(ports.clock.now_millis() + 1000);
    let report = publish(&hub, ports.notifier.as_ref(), ports.clock.as_ref(), sweep).await;
    assert!(hub.sent.lock().expect("hub").is_empty());
    assert_eq!(report.not_imported, 1);
    assert!(report.problem.expect("said").contains("deadline"));
    assert!(!report.alert_sent);
    assert!(
        world.state().alerts.is_empty(),
        "the next sweep carries on: no alert"
    );
}

// The sweep's findings pass, on the in-memory world.

const TOKEN: &str = "7a1b2c3d-0000-4000-8000-";

struct Fleet {
    world: World,
    rotator: Rotator,
    settings: Settings,
    hub: Arc<Hub>,
    tokens: std::cell::Cell<u32>,
}

impl Fleet {
    fn new() -> Self {
        let world = World::new();
        let settings = Settings {
            findings: true,
            ..settings(OldKeyPolicy::Grace)
        };
        Self {
            rotator: Rotator::new(world.ports(), settings.clone()),
            world,
            settings,
            hub: Arc::new(Hub::default()),
            tokens: std::cell::Cell::new(0),
        }
    }

    fn token(&self) -> String {
        self.tokens.set(self.tokens.get() + 1);
        format!("{TOKEN}{:012}", self.tokens.get())
    }

    async fn managed(&self, user: &str) -> String {
        let name = format!("IamKeyRotator/{user}");
        self.world.add_user(user);
        self.world
            .add_secret(&name, &format!(r#"{{"UserName":"{user}"}}"#));
        self.rotate(&name).await;
        name
    }

    async fn rotate(&self, name: &str) {
        self.world
            .rotate_with(&self.rotator, name, &self.token())
            .await
            .expect("the rotation completes");
    }

    fn sweeper(&self) -> Sweeper {
        Sweeper::new(self.world.ports(), self.settings.clone()).with_findings(self.hub.clone())
    }

    fn set_status(&self, user: &str, key: &str, status: KeyStatus) {
        let mut state = self.world.state();
        let keys = &mut state.users.get_mut(user).expect("user").keys;
        keys.iter_mut().find(|k| k.id == key).expect("key").status = status;
    }

    fn problems(&self) -> BTreeMap<String, (String, String)> {
        self.hub
            .active()
            .into_iter()
            .map(|f| {
                (
                    f.product_fields[asff::FIELD_SECRET].clone(),
                    (
                        f.product_fields[asff::FIELD_PROBLEM].clone(),
                        f.severity.label,
                    ),
                )
            })
            .collect()
    }
}

fn pair(problem: &str, severity: &str) -> (String, String) {
    (problem.to_owned(), severity.to_owned())
}

#[tokio::test]
async fn a_sweep_imports_one_finding_per_problem_and_resolves_exactly_the_ones_fixed() {
    let fleet = Fleet::new();
    fleet.managed("otto").await; // ok
    let bob = fleet.managed("bob").await;
    let (by_hand, _) = fleet.world.add_key("bob", KeyStatus::Active); // blocked
    let bea = fleet.managed("bea").await;
    let beas = fleet.world.key_in(&bea, AWSCURRENT).expect("key");
    fleet.set_status("bea", &beas, KeyStatus::Inactive); // broken
    let rita = fleet.managed("rita").await;
    fleet
        .world
        .state()
        .secrets
        .get_mut(&rita)
        .expect("rita")
        .rotation_enabled = false;
    let olga = fleet.managed("olga").await;
    fleet.world.schedule(&olga, 1); // overdue after a day
    let ivan = fleet.managed("ivan").await;
    let sam = fleet.managed("sam").await;
    fleet.world.advance(HOUR);
    fleet.rotate(&ivan).await;
    let ivans_old = fleet.world.key_in(&ivan, AWSPREVIOUS).expect("previous");
    let stuck = fleet.token();
    fleet.world.start_rotation(&sam, &stuck);
    fleet
        .world
        .step_with(&fleet.rotator, &sam, &stuck, Step::CreateSecret)
        .await
        .expect("createSecret");
    fleet.world.advance(30 * HOUR);
    fleet.world.use_key(&ivans_old, "s3"); // in use past the grace
    fleet.world.advance(HOUR);

    let summary = fleet.sweeper().run(Mode::Retire).await.expect("sweeps");
    let report = summary.findings.clone().expect("the findings pass ran");
    assert_eq!(
        (report.imported, report.resolved, report.problem.clone()),
        (6, 0, None)
    );
    let expected = BTreeMap::from([
        (bob.clone(), pair("blocked", "INFORMATIONAL")),
        (bea.clone(), pair("broken-current", "HIGH")),
        (rita.clone(), pair("rotation-disabled", "INFORMATIONAL")),
        (olga.clone(), pair("overdue", "MEDIUM")),
        (ivan.clone(), pair("old-key-in-use", "HIGH")),
        (sam.clone(), pair("stuck", "HIGH")),
    ]);
    assert_eq!(fleet.problems(), expected);
    let ivans = fleet
        .hub
        .active()
        .into_iter()
        .find(|f| f.product_fields[asff::FIELD_SECRET] == ivan)
        .expect("ivan's finding");
    assert_eq!(ivans.product_fields[asff::FIELD_ACCESS_KEY_ID], ivans_old);
    assert!(ivans.description.contains("s3"), "{}", ivans.description);
    let first = fleet.hub.stored();

    // No secret access key in any field of any finding.
    let serialized = serde_json::to_string(&*fleet.hub.sent.lock().expect("hub")).expect("json");
    let issued = fleet.world.state().issued_secrets.clone();
    assert!(!issued.is_empty());
    for secret in &issued {
        assert!(
            !serialized.contains(secret.as_str()),
            "a secret access key is in a finding"
        );
    }
    assert!(!serialized.contains("SecretAccessKey"));

    // Fix two: bob's unknown key goes, olga is rotated.
    fleet.set_status("bob", &by_hand, KeyStatus::Inactive);
    fleet.rotate(&olga).await;
    fleet.world.advance(HOUR);
    let summary = fleet.sweeper().run(Mode::Retire).await.expect("sweeps");
    let report = summary.findings.expect("the findings pass ran");
    assert_eq!((report.imported, report.resolved), (4, 2));
    let mut still = expected.clone();
    still.remove(&bob);
    still.remove(&olga);
    assert_eq!(fleet.problems(), still);
    let second = fleet.hub.stored();
    assert_eq!(second.len(), 6, "no duplicates");
    for (id, finding) in &second {
        assert!(finding.updated_at > first[id].updated_at, "{id}");
        assert_eq!(finding.created_at, first[id].created_at, "{id}");
    }
    let archived: BTreeSet<&str> = second
        .values()
        .filter(|f| f.record_state == ARCHIVED)
        .map(|f| f.product_fields[asff::FIELD_SECRET].as_str())
        .collect();
    assert_eq!(archived, BTreeSet::from([bob.as_str(), olga.as_str()]));

    // A dry run imports nothing; the preview shows what a sweep would import.
    let sent = fleet.hub.sent.lock().expect("hub").len();
    let dry = fleet.sweeper().run(Mode::DryRun).await.expect("sweeps");
    assert_eq!(dry.findings, None);
    assert_eq!(fleet.hub.sent.lock().expect("hub").len(), sent);
    let preview = fleet
        .sweeper()
        .would_import(&target())
        .await
        .expect("previews");
    let previewed: BTreeSet<&str> = preview
        .iter()
        .map(|f| f.product_fields[asff::FIELD_SECRET].as_str())
        .collect();
    let expected_now: BTreeSet<&str> = still.keys().map(String::as_str).collect();
    assert_eq!(previewed, expected_now);
    assert_eq!(
        fleet.hub.sent.lock().expect("hub").len(),
        sent,
        "the preview sends nothing"
    );
}

#[tokio::test]
async fn a_refused_import_never_stops_the_retirements() {
    let fleet = Fleet::new();
    let alice = fleet.managed("alice").await;
    fleet.world.advance(HOUR);
    fleet.rotate(&alice).await;
    let old = fleet.world.key_in(&alice, AWSPREVIOUS).expect("previous");
    fleet.world.schedule(&alice, 1);
    fleet.world.advance(2 * DAY); // unused past the grace, and overdue
    *fleet.hub.refuse.lock().expect("hub") = Some(PortError::new(
        PortErrorKind::AccessDenied,
        "InvalidAccessException: Account is not subscribed to AWS Security Hub",
    ));
    let summary = fleet.sweeper().run(Mode::Retire).await.expect("sweeps");
    assert_eq!(summary.old_keys_retired, 1);
    let status = fleet.world.state().users["alice"]
        .keys
        .iter()
        .find(|k| k.id == old)
        .map(|k| k.status);
    assert_eq!(status, Some(KeyStatus::Inactive), "the key was retired");
    let report = summary.findings.expect("the pass ran");
    assert!(report.problem.expect("refused").contains("not subscribed"));
    assert_eq!(summary.alerts_sent, 1);
    assert_eq!(fleet.world.state().alerts.len(), 1, "one alert");
    let without_hub = Sweeper::new(fleet.world.ports(), fleet.settings.clone())
        .run(Mode::Retire)
        .await
        .expect("sweeps");
    let json = serde_json::to_value(&without_hub).expect("json");
    assert!(
        json.get("findings").is_none(),
        "without a hub the summary has no findings line"
    );
}
