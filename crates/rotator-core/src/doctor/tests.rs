//! The doctor's tests against the in-memory world: a healthy deployment has no finding and is
//! only read; each problem is found, named and given its fix.

use std::collections::BTreeMap;

use crate::accounts::MemberRole;
use crate::config::OldKeyPolicy;
use crate::doctor::checks::{
    self, AddressStatus, LAMBDA_MAX_TIMEOUT_SECS, name_problem, same_function, sweep_seconds,
};
use crate::doctor::{Check, DoctorOptions, Finding, Report, Severity, deployment_function, doctor};
use crate::ports::{
    EmailIdentity, FunctionConfig, KeyStatus, PortErrorKind, ScheduleInfo, SecretMetadata,
    TopicSubscription,
};
use crate::rotation::NOTIFY_EMAIL_TAG;
use crate::testing::World;

const FUNCTION: &str = "arn:aws:lambda:us-east-1:123456789012:function:IamKeyRotator-Function";
const OTHER_FUNCTION: &str = "arn:aws:lambda:us-east-1:123456789012:function:someone-elses";
const TOPIC: &str = "arn:aws:sns:us-east-1:123456789012:IamKeyRotator-Alerts";
const SENDER: &str = "rotator@example.com";
const OWNER: &str = "owner@example.com";
const PATH: &str = "/rotated/IamKeyRotator/";
const MEMBER: &str = "111122223333";

fn verified() -> EmailIdentity {
    EmailIdentity {
        verified_for_sending: true,
        status: Some("SUCCESS".into()),
    }
}

fn variables(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// A deployment with nothing wrong: the function (grace, 120 s), a topic with a confirmed
/// subscription, a verified sender and recipient, SES in the sandbox, an enabled sweep schedule,
/// and one user `healthy` under the deployment's path with a managed secret.
fn healthy() -> World {
    let world = World::new();
    {
        let mut state = world.state();
        state.functions.insert(
            FUNCTION.into(),
            FunctionConfig {
                arn: FUNCTION.into(),
                name: "IamKeyRotator-Function".into(),
                timeout_secs: 120,
                variables: variables(&[
                    ("ROTATOR_ALERT_TOPIC_ARN", TOPIC),
                    ("ROTATOR_SENDER_EMAIL", SENDER),
                    ("ROTATOR_OLD_KEY", "grace"),
                    ("ROTATOR_SECRET_PREFIX", "IamKeyRotator/"),
                ]),
            },
        );
        state.topics.insert(
            TOPIC.into(),
            vec![TopicSubscription {
                protocol: "email".into(),
                endpoint: "oncall@example.com".into(),
                confirmed: true,
            }],
        );
        state.identities.insert(SENDER.into(), verified());
        state.identities.insert(OWNER.into(), verified());
        state.ses_production = false;
        state.schedules.push(ScheduleInfo {
            group: "default".into(),
            name: "IamKeyRotator-Sweep".into(),
            enabled: true,
            target_arn: FUNCTION.into(),
            input: Some(r#"{"Action": "sweep"}"#.into()),
        });
    }
    add_managed(&world, "healthy");
    world
}

/// A user under the deployment's path and its secret, rotated by the deployment's function.
fn add_managed(world: &World, user: &str) -> String {
    world.add_user(user);
    world.state().users.get_mut(user).expect("added").path = PATH.into();
    let name = format!("IamKeyRotator/{user}");
    world.add_secret(&name, &format!(r#"{{"UserName": "{user}"}}"#));
    world.schedule(&name, 90);
    let mut state = world.state();
    let secret = state.secrets.get_mut(&name).expect("added");
    secret.rotation_function = Some(FUNCTION.into());
    secret.tags.insert(NOTIFY_EMAIL_TAG.into(), OWNER.into());
    name
}

fn options() -> DoctorOptions {
    DoctorOptions {
        prefix: "IamKeyRotator/".into(),
        user_path: DoctorOptions::default_user_path("IamKeyRotator/"),
        member_role: MemberRole::default(),
    }
}

async fn run(world: &World) -> Report {
    doctor(&world.ports(), world, &options(), &|_| {})
        .await
        .expect("the doctor reads the world")
}

fn only(report: &Report, check: Check) -> Vec<&Finding> {
    report
        .findings
        .iter()
        .filter(|f| f.check == check)
        .collect()
}

#[tokio::test]
async fn a_healthy_deployment_has_no_finding_and_is_only_read() {
    let world = healthy();
    let report = run(&world).await;
    assert!(report.findings.is_empty(), "{:#?}", report.findings);
    assert_eq!(report.secrets, 1);
    let function = report.function.expect("the function");
    assert_eq!(function.arn, FUNCTION);
    assert_eq!(function.old_key_policy, Some("grace"));
    let calls = world.calls_from(0);
    for expected in [
        "secretsmanager:ListSecrets",
        "secretsmanager:GetSecretValue",
        "iam:ListAccessKeys",
        "iam:GetUser",
        "iam:ListUserTags",
        "lambda:GetFunctionConfiguration",
        "sns:ListSubscriptionsByTopic",
        "sesv2:GetEmailIdentity",
        "sesv2:GetAccount",
        "scheduler:ListSchedules",
    ] {
        assert!(calls.contains(&expected), "{expected} in {calls:?}");
    }
    let writes = [
        "Create", "Delete", "Update", "Tag", "Untag", "Put", "Rotate", "Publish", "Send",
    ];
    for call in &calls {
        let operation = call.split(':').nth(1).unwrap_or_default();
        assert!(
            !writes.iter().any(|w| operation.starts_with(w)),
            "the doctor wrote: {call}"
        );
    }
}

#[tokio::test]
async fn each_user_problem_is_found_named_and_given_its_fix() {
    let world = healthy();
    // A user created at `/`, outside the deployment's path.
    add_managed(&world, "at-root");
    world.state().users.get_mut("at-root").expect("added").path = "/".into();
    // A user holding two keys the secret does not know.
    add_managed(&world, "two-keys");
    let (first, _) = world.add_key("two-keys", KeyStatus::Active);
    let (second, _) = world.add_key("two-keys", KeyStatus::Active);
    // A user holding one unknown active key (and an inactive one, which a rotation may delete).
    add_managed(&world, "unknown-key");
    let (unknown, _) = world.add_key("unknown-key", KeyStatus::Active);
    world.add_key("unknown-key", KeyStatus::Inactive);
    // A user with 49 of IAM's 50 tags.
    add_managed(&world, "tag-full");
    world.state().users.get_mut("tag-full").expect("added").tags = (0..49)
        .map(|n| (format!("team:{n}"), "x".to_owned()))
        .collect();
    // A secret whose user does not exist.
    add_managed(&world, "nobody");
    world.state().users.remove("nobody");
    // A secret whose value names another user.
    add_managed(&world, "impostor");
    world.put_current("IamKeyRotator/impostor", r#"{"UserName": "healthy"}"#);

    let report = run(&world).await;
    let subjects = |check| -> Vec<String> {
        only(&report, check)
            .iter()
            .map(|f| f.subject.clone())
            .collect()
    };
    assert!(
        report
            .findings
            .iter()
            .all(|f| f.subject != "IamKeyRotator/healthy"),
        "the healthy user is not named: {:#?}",
        report.findings
    );
    assert_eq!(subjects(Check::UserPath), ["IamKeyRotator/at-root"]);
    let path = only(&report, Check::UserPath)[0];
    assert!(path.problem.contains("the path /,"), "{}", path.problem);
    assert_eq!(
        path.fix,
        format!("aws iam update-user --user-name at-root --new-path {PATH}")
    );
    assert_eq!(
        subjects(Check::UserNoRoom),
        ["IamKeyRotator/two-keys", "IamKeyRotator/unknown-key"]
    );
    let two = only(&report, Check::UserNoRoom)[0];
    assert!(two.problem.contains("no room"), "{}", two.problem);
    assert!(
        two.fix.contains(&format!(
            "rotator adopt IamKeyRotator/two-keys --key {first}"
        )) && two.fix.contains(&format!(
            "aws iam delete-access-key --user-name two-keys --access-key-id {second}"
        )),
        "{}",
        two.fix
    );
    let one = only(&report, Check::UserNoRoom)[1];
    assert!(one.problem.contains("first rotation"), "{}", one.problem);
    assert!(
        one.fix.contains(&format!(
            "rotator adopt IamKeyRotator/unknown-key --key {unknown}"
        )),
        "{}",
        one.fix
    );
    assert_eq!(subjects(Check::UserTags), ["IamKeyRotator/tag-full"]);
    assert!(
        only(&report, Check::UserTags)[0]
            .problem
            .contains("49 of IAM's 50")
    );
    assert_eq!(subjects(Check::UserMissing), ["IamKeyRotator/nobody"]);
    assert_eq!(
        only(&report, Check::UserMissing)[0].fix,
        format!("aws iam create-user --path {PATH} --user-name nobody")
    );
    assert_eq!(subjects(Check::SecretValue), ["IamKeyRotator/impostor"]);
    assert!(
        only(&report, Check::SecretValue)[0]
            .fix
            .contains("put-secret-value")
    );
    assert!(
        report
            .findings
            .iter()
            .all(|f| f.severity == Severity::Error)
    );
}

#[tokio::test]
async fn each_secret_problem_is_found_with_its_fix() {
    let world = healthy();
    let elsewhere = add_managed(&world, "elsewhere");
    world
        .state()
        .secrets
        .get_mut(&elsewhere)
        .expect("added")
        .rotation_function = Some(OTHER_FUNCTION.into());
    let disabled = add_managed(&world, "disabled");
    world
        .state()
        .secrets
        .get_mut(&disabled)
        .expect("added")
        .rotation_enabled = false;
    world.add_secret("IamKeyRotator/team/alice", r#"{"UserName": "alice"}"#);

    let report = run(&world).await;
    let function = only(&report, Check::RotationFunction);
    assert_eq!(function.len(), 1, "{:#?}", report.findings);
    assert_eq!(function[0].subject, elsewhere);
    assert!(function[0].problem.contains(OTHER_FUNCTION));
    assert_eq!(
        function[0].fix,
        format!(
            "aws secretsmanager rotate-secret --secret-id {elsewhere} --rotation-lambda-arn {FUNCTION} --no-rotate-immediately"
        )
    );
    let rotation = only(&report, Check::RotationDisabled);
    assert_eq!(rotation.len(), 1);
    assert_eq!(rotation[0].subject, disabled);
    assert!(rotation[0].fix.contains(FUNCTION));
    let name = only(&report, Check::SecretName);
    assert_eq!(name.len(), 1);
    assert_eq!(name[0].subject, "IamKeyRotator/team/alice");
    assert!(name[0].problem.contains("12-digit"), "{}", name[0].problem);
}

#[tokio::test]
async fn the_function_is_checked_as_the_function_reads_itself() {
    let world = healthy();
    world
        .state()
        .functions
        .get_mut(FUNCTION)
        .expect("the function")
        .variables
        .insert("ROTATOR_GRACE".into(), "a day".into());
    let report = run(&world).await;
    let settings = only(&report, Check::FunctionSettings);
    assert_eq!(settings.len(), 1, "{:#?}", report.findings);
    assert!(
        settings[0].problem.contains("invalid ROTATOR_GRACE"),
        "{}",
        settings[0].problem
    );
    assert!(settings[0].fix.contains("ROTATOR_GRACE"));
    // Nothing it names can be checked: no topic, sender or schedule finding follows.
    assert_eq!(report.findings.len(), 1);

    world.state().functions.clear();
    let report = run(&world).await;
    let missing = only(&report, Check::FunctionMissing);
    assert_eq!(missing.len(), 1);
    assert_eq!(missing[0].subject, FUNCTION);
}

#[test]
fn the_prefix_and_the_timeout_must_suit_the_fleet() {
    let config = |timeout_secs, pairs: &[(&str, &str)]| FunctionConfig {
        arn: FUNCTION.into(),
        name: "IamKeyRotator-Function".into(),
        timeout_secs,
        variables: variables(pairs),
    };
    let grace = [("ROTATOR_OLD_KEY", "grace")];
    let (findings, settings) = checks::check_function(&config(120, &grace), "IamKeyRotator/", 100);
    assert!(findings.is_empty(), "{findings:#?}");
    assert_eq!(
        settings.expect("parsed").old_key_policy,
        OldKeyPolicy::Grace
    );

    let (findings, _) = checks::check_function(&config(120, &grace), "Other/", 1);
    assert_eq!(findings[0].check, Check::FunctionPrefix);
    assert!(findings[0].problem.contains("IamKeyRotator/"));

    // 5,000 secrets take about 260 s; under grace a cut-off sweep leaves old keys active.
    assert_eq!(sweep_seconds(5000), 260);
    let (findings, _) = checks::check_function(&config(120, &grace), "IamKeyRotator/", 5000);
    assert_eq!(findings.len(), 1, "{findings:#?}");
    assert_eq!(findings[0].severity, Severity::Error);
    assert_eq!(findings[0].check, Check::FunctionTimeout);
    assert!(
        findings[0].fix.contains("--timeout 260"),
        "{}",
        findings[0].fix
    );
    let (findings, _) = checks::check_function(&config(120, &[]), "IamKeyRotator/", 5000);
    assert_eq!(
        findings[0].severity,
        Severity::Warning,
        "delete: only metrics are lost"
    );
    // Beyond Lambda's 900 s the only fix is more deployments.
    assert!(sweep_seconds(20_000) > LAMBDA_MAX_TIMEOUT_SECS);
    let (findings, _) = checks::check_function(&config(900, &grace), "IamKeyRotator/", 20_000);
    assert!(
        findings[0].fix.starts_with("split the fleet"),
        "{}",
        findings[0].fix
    );
    // testSecret's budget must fit in the invocation.
    let (findings, _) = checks::check_function(
        &config(30, &[("ROTATOR_TEST_TIMEOUT_SECS", "60")]),
        "IamKeyRotator/",
        1,
    );
    assert_eq!(findings[0].check, Check::FunctionTimeout);
    assert!(
        findings[0].problem.contains("testSecret"),
        "{}",
        findings[0].problem
    );
}

#[tokio::test]
async fn alerts_need_a_topic_with_a_confirmed_subscription() {
    let world = healthy();
    world.state().topics.get_mut(TOPIC).expect("the topic")[0].confirmed = false;
    let report = run(&world).await;
    let found = only(&report, Check::AlertSubscription);
    assert_eq!(found.len(), 1, "{:#?}", report.findings);
    assert_eq!(found[0].severity, Severity::Error);
    assert!(
        found[0].problem.contains("email oncall@example.com"),
        "{}",
        found[0].problem
    );
    assert!(found[0].fix.contains("Subscription Confirmation"));

    world.state().topics.clear();
    let report = run(&world).await;
    assert_eq!(
        only(&report, Check::AlertTopic)[0].severity,
        Severity::Error
    );

    world
        .state()
        .functions
        .get_mut(FUNCTION)
        .expect("the function")
        .variables
        .remove("ROTATOR_ALERT_TOPIC_ARN");
    let report = run(&world).await;
    let found = only(&report, Check::AlertTopic);
    assert_eq!(found[0].severity, Severity::Warning);
    assert!(found[0].problem.contains("only logged"));

    let pending_beside_confirmed = [
        TopicSubscription {
            protocol: "sqs".into(),
            endpoint: "arn:aws:sqs:us-east-1:123456789012:q".into(),
            confirmed: true,
        },
        TopicSubscription {
            protocol: "email".into(),
            endpoint: "late@example.com".into(),
            confirmed: false,
        },
    ];
    let found = checks::check_alerts(Some(TOPIC), Some(Ok(&pending_beside_confirmed)));
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].severity, Severity::Warning);
}

#[tokio::test]
async fn the_sender_must_be_verified_and_so_must_sandbox_recipients() {
    let world = healthy();
    world.state().identities.insert(
        SENDER.into(),
        EmailIdentity {
            verified_for_sending: false,
            status: Some("PENDING".into()),
        },
    );
    world.state().identities.remove(OWNER);
    let report = run(&world).await;
    let sender = only(&report, Check::Sender);
    assert_eq!(sender.len(), 1, "{:#?}", report.findings);
    assert!(
        sender[0].problem.contains("status PENDING"),
        "{}",
        sender[0].problem
    );
    assert!(
        sender[0]
            .fix
            .contains(&format!("verify-email-identity --email-address {SENDER}"))
    );
    let recipient = only(&report, Check::SandboxRecipient);
    assert_eq!(recipient.len(), 1);
    assert_eq!(recipient[0].subject, OWNER);
    assert!(recipient[0].problem.contains("IamKeyRotator/healthy"));

    // A verified domain covers its addresses; production access lifts the sandbox.
    world.state().identities.remove(SENDER);
    world
        .state()
        .identities
        .insert("example.com".into(), verified());
    let report = run(&world).await;
    assert!(report.findings.is_empty(), "{:#?}", report.findings);
    world.state().identities.clear();
    world.state().ses_production = true;
    let report = run(&world).await;
    let sender = only(&report, Check::Sender);
    assert!(
        sender[0].problem.contains("nor its domain"),
        "{}",
        sender[0].problem
    );
    assert!(only(&report, Check::SandboxRecipient).is_empty());
    assert_eq!(
        AddressStatus::of(None, None, "a@example.org"),
        AddressStatus::Missing
    );
}

#[tokio::test]
async fn the_sweep_needs_an_enabled_schedule_that_targets_the_function() {
    let world = healthy();
    world.state().schedules[0].enabled = false;
    let report = run(&world).await;
    let found = only(&report, Check::SweepSchedule);
    assert_eq!(found.len(), 1, "{:#?}", report.findings);
    assert_eq!(found[0].severity, Severity::Error);
    assert_eq!(found[0].subject, "default/IamKeyRotator-Sweep");
    assert!(found[0].fix.contains("--state ENABLED"), "{}", found[0].fix);

    // A schedule of another function, or with another input, is not the sweep's.
    {
        let mut state = world.state();
        state.schedules[0].enabled = true;
        state.schedules[0].input = Some(r#"{"Action": "count"}"#.into());
    }
    let report = run(&world).await;
    assert!(
        only(&report, Check::SweepSchedule)[0]
            .problem
            .contains("no EventBridge Scheduler schedule")
    );
    let schedule = |target: &str| ScheduleInfo {
        group: "default".into(),
        name: "s".into(),
        enabled: true,
        target_arn: target.into(),
        input: Some(r#"{"Action":"sweep"}"#.into()),
    };
    let function = FunctionConfig {
        arn: FUNCTION.into(),
        name: "IamKeyRotator-Function".into(),
        ..FunctionConfig::default()
    };
    assert!(
        checks::check_sweep_schedule(&function, OldKeyPolicy::Grace, &[schedule(OTHER_FUNCTION)])
            .len()
            == 1
    );
    assert!(
        checks::check_sweep_schedule(
            &function,
            OldKeyPolicy::Grace,
            &[schedule(&format!("{FUNCTION}:live"))]
        )
        .is_empty()
    );
    let missing = checks::check_sweep_schedule(&function, OldKeyPolicy::Delete, &[]);
    assert_eq!(missing[0].severity, Severity::Warning);
}

#[tokio::test]
async fn member_accounts_are_reached_through_the_member_role() {
    let world = healthy();
    let member = world.add_member_account(MEMBER, None);
    member.add_user("bob");
    member.state().users.get_mut("bob").expect("added").path = "/".into();
    let bob = format!("IamKeyRotator/{MEMBER}/bob");
    world.add_secret(
        &bob,
        &format!(r#"{{"UserName": "bob", "AccountId": "{MEMBER}"}}"#),
    );
    world.schedule(&bob, 90);
    world
        .state()
        .secrets
        .get_mut(&bob)
        .expect("added")
        .rotation_function = Some(FUNCTION.into());

    let report = run(&world).await;
    assert_eq!(report.accounts, [MEMBER]);
    let path = only(&report, Check::UserPath);
    assert_eq!(path.len(), 1, "{:#?}", report.findings);
    assert_eq!(path[0].account.as_deref(), Some(MEMBER));
    assert!(
        path[0]
            .fix
            .ends_with(&format!("with credentials for account {MEMBER}")),
        "{}",
        path[0].fix
    );

    // The same account through a role that cannot be assumed: one finding for the account.
    let mut options = options();
    options.member_role = MemberRole {
        name: "NoSuchRole".into(),
        external_id: None,
    };
    let report = doctor(&world.ports(), &world, &options, &|_| {})
        .await
        .expect("the doctor reads the world");
    let role = only(&report, Check::MemberRole);
    assert_eq!(role.len(), 1, "{:#?}", report.findings);
    assert_eq!(
        role[0].subject,
        format!("arn:aws:iam::{MEMBER}:role/NoSuchRole")
    );
    assert!(role[0].problem.contains(&bob), "{}", role[0].problem);
    assert!(only(&report, Check::UserPath).is_empty());
}

#[tokio::test]
async fn a_refused_read_of_the_callers_own_is_an_error_not_a_finding() {
    let world = healthy();
    world.state().named_faults.push((
        "iam:GetUser",
        crate::testing::Fault::Fail(PortErrorKind::AccessDenied),
    ));
    let error = doctor(&world.ports(), &world, &options(), &|_| {})
        .await
        .expect_err("the caller may not read the user");
    assert_eq!(error.operation, "GetUser");
    assert!(error.to_string().contains("healthy"), "{error}");
}

#[tokio::test]
async fn users_all_under_another_path_suggest_the_user_path_option() {
    let world = healthy();
    add_managed(&world, "second");
    for user in ["healthy", "second"] {
        world.state().users.get_mut(user).expect("added").path = "/custom/IamKeyRotator/".into();
    }
    let report = run(&world).await;
    let path = only(&report, Check::UserPath);
    assert_eq!(path.len(), 3, "{:#?}", report.findings);
    let hint = path
        .iter()
        .find(|f| f.subject == "--user-path")
        .expect("the hint");
    assert_eq!(hint.severity, Severity::Warning);
    assert!(
        hint.fix.contains("--user-path /custom/IamKeyRotator/"),
        "{}",
        hint.fix
    );
    // One user elsewhere among users at the path gives no hint.
    world.state().users.get_mut("healthy").expect("added").path = PATH.into();
    let report = run(&world).await;
    assert!(
        only(&report, Check::UserPath)
            .iter()
            .all(|f| f.subject != "--user-path"),
        "{:#?}",
        report.findings
    );
}

#[tokio::test]
async fn a_prefix_that_names_no_secret_is_a_finding() {
    let world = healthy();
    let mut options = options();
    options.prefix = "Elsewhere/".into();
    let report = doctor(&world.ports(), &world, &options, &|_| {})
        .await
        .expect("the doctor reads the world");
    assert_eq!(report.secrets, 0);
    assert_eq!(report.function, None);
    let found = only(&report, Check::NoSecrets);
    assert_eq!(found.len(), 1, "{:#?}", report.findings);
    assert_eq!(found[0].subject, "Elsewhere/*");
}

#[test]
fn names_take_the_contracts_shape() {
    let prefix = "IamKeyRotator/";
    assert_eq!(name_problem("IamKeyRotator/alice", prefix), None);
    assert_eq!(
        name_problem("IamKeyRotator/111122223333/alice", prefix),
        None
    );
    for bad in [
        "Other/alice",
        "IamKeyRotator/x/alice",
        "IamKeyRotator/1/2/alice",
        "IamKeyRotator/",
        "IamKeyRotator/al ice",
    ] {
        assert!(name_problem(bad, prefix).is_some(), "{bad}");
    }
    assert!(same_function(FUNCTION, &format!("{FUNCTION}:3")));
    assert!(!same_function(FUNCTION, OTHER_FUNCTION));
    assert_eq!(
        DoctorOptions::default_user_path("IamKeyRotator/"),
        "/rotated/IamKeyRotator/"
    );
}

#[test]
fn the_deployments_function_is_the_one_most_secrets_name() {
    let secret = |name: &str, function: Option<&str>| SecretMetadata {
        name: name.into(),
        rotation_function: function.map(str::to_owned),
        ..SecretMetadata::default()
    };
    let secrets = [
        secret("a", Some(OTHER_FUNCTION)),
        secret("b", Some(FUNCTION)),
        secret("c", Some(FUNCTION)),
        secret("d", None),
    ];
    assert_eq!(deployment_function(&secrets).as_deref(), Some(FUNCTION));
    // On a tie, the function of the first secret by name.
    assert_eq!(
        deployment_function(&secrets[..2]).as_deref(),
        Some(OTHER_FUNCTION)
    );
    assert_eq!(deployment_function(&secrets[3..]), None);
}

/// Contract §5 (issue 25, point 8): a previous key whose ledger record a person removed is a
/// finding, with `rotator adopt SECRET --key ID` as its fix.
#[tokio::test]
async fn a_previous_key_whose_record_was_removed_is_named_with_rotator_adopt() {
    let world = healthy();
    let rotator = crate::Rotator::new(world.ports(), crate::testing::settings(OldKeyPolicy::Keep));
    for n in 1..=2 {
        world
            .rotate_with(
                &rotator,
                "IamKeyRotator/healthy",
                &format!("d0c70400-0000-4000-8000-{n:012}"),
            )
            .await
            .expect("a rotation");
    }
    let previous = world
        .key_in("IamKeyRotator/healthy", crate::AWSPREVIOUS)
        .expect("a previous key");
    assert!(
        !run(&world)
            .await
            .findings
            .iter()
            .any(|f| f.check == Check::PreviousUnrecorded),
        "recorded: no finding"
    );
    world.remove_record("healthy", &previous);
    let report = run(&world).await;
    let found: Vec<&Finding> = report
        .findings
        .iter()
        .filter(|f| f.check == Check::PreviousUnrecorded)
        .collect();
    assert_eq!(found.len(), 1, "{:?}", report.findings);
    assert!(found[0].problem.contains(&previous), "{:?}", found[0]);
    assert_eq!(
        found[0].fix,
        format!("rotator adopt IamKeyRotator/healthy --key {previous}")
    );
}
