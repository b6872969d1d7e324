//! End to end: `rotator doctor` against moto, on two deployments seeded before their first
//! rotation: one with a healthy user beside one of each problem moto can represent, each of
//! which must be found, named and given its fix (and the healthy user not named), and one with
//! nothing wrong (exit 0).
//!
//! Where moto differs from AWS (see `crates/rotator-harness/moto_server.py`, patches 5 to 7):
//! - moto confirms every SNS subscription at once; the patched moto lists an email
//!   subscription as `PendingConfirmation`, as AWS does until its owner follows the link, and an
//!   SQS one as confirmed;
//! - moto's SES has no pending identity: an identity it has counts as verified (the patched
//!   `GetEmailIdentity` says `VerifiedForSendingStatus: true`, where moto says `false` for all),
//!   so the unverified sender here is one SES has no identity for; the core's tests cover a
//!   pending one (`doctor/tests.rs`);
//! - moto has no SES `GetAccount`; the patched one answers as for a new account, in the
//!   sandbox, so the recipients are checked too;
//! - moto lets anyone assume any role (see `crates/rotator-harness/src/members.rs`) and keeps
//!   no 50-tag quota (49 tags are what is checked here), so a member role that cannot be
//!   assumed is covered by the core's tests only; the member account's user here is read
//!   through the member role as on AWS, `GetUser` included (which the function's own member
//!   role does not grant).

use std::path::Path;

use anyhow::Result;
use rotator_harness::fleet::{CliRun, rotator_command, rotator_command_at, run_cli};
use rotator_harness::moto::free_port;
use rotator_harness::{Fixture, Moto};
use serde_json::Value;

fn cli() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_rotator"))
}

const SWEEP: &str = r#"{"Action": "sweep"}"#;
const MEMBER: &str = "111122223333";

/// Seeds a deployment named `stack` (secrets `<stack>/<user>`, users under
/// `/rotated/<stack>/`): its function with the variables the CDK app sets (under `grace`, a
/// 120 s timeout), its alert topic and its sweep schedule. Returns the function's ARN and the
/// topic's.
async fn deployment(
    fx: &Fixture,
    stack: &str,
    sender: &str,
    default_notify: &str,
    schedule_enabled: bool,
) -> Result<(String, String)> {
    let topic = fx.create_topic(&format!("{stack}-Alerts")).await?;
    let prefix = format!("{stack}/");
    let function = fx
        .create_function(
            &format!("{stack}-Function"),
            &[
                ("ROTATOR_ALERT_TOPIC_ARN", &topic),
                ("ROTATOR_SENDER_EMAIL", sender),
                ("ROTATOR_DEFAULT_NOTIFY_EMAIL", default_notify),
                ("ROTATOR_OLD_KEY", "grace"),
                ("ROTATOR_SECRET_PREFIX", &prefix),
            ],
            120,
        )
        .await?;
    fx.create_schedule(
        &format!("{stack}-Sweep"),
        &function,
        SWEEP,
        schedule_enabled,
    )
    .await?;
    Ok((function, topic))
}

/// A user (under `path`, or at `/` when `None`) and its secret `<stack>/<user>` holding
/// `{"UserName": user}`, rotated by `function`.
async fn user(
    fx: &Fixture,
    stack: &str,
    name: &str,
    path: Option<&str>,
    function: &str,
    notify: Option<&str>,
) -> Result<String> {
    match path {
        Some(path) => fx.create_user_at(name, path).await?,
        None => fx.create_user(name).await?,
    }
    let secret = format!("{stack}/{name}");
    fx.create_secret(&secret, &format!(r#"{{"UserName": "{name}"}}"#), notify)
        .await?;
    fx.configure_rotation(&secret, function).await?;
    Ok(secret)
}

fn findings<'a>(document: &'a Value, check: &str) -> Vec<&'a Value> {
    document["findings"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|f| f["check"] == check)
        .collect()
}

fn subjects(document: &Value, check: &str) -> Vec<String> {
    findings(document, check)
        .iter()
        .map(|f| f["subject"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[tokio::test]
async fn doctor_names_every_problem_with_its_fix_and_passes_a_healthy_deployment() -> Result<()> {
    let moto = Moto::start().await?;
    let fx = Fixture::new(&moto).await;
    let path = "/rotated/IamKeyRotator/";
    let sender = "rotator@example.com";
    // The sender has no SES identity: unverified. The owner of the healthy user's secret is
    // verified; the default recipient of the others is not (SES is in the sandbox).
    fx.verify_sender("owner@example.com").await?;
    let (function, topic) =
        deployment(&fx, "IamKeyRotator", sender, "team@example.net", false).await?;
    // The only subscription is an email one nobody confirmed.
    fx.subscribe(&topic, "email", "oncall@example.com").await?;

    let healthy = user(
        &fx,
        "IamKeyRotator",
        "healthy",
        Some(path),
        &function,
        Some("owner@example.com"),
    )
    .await?;
    let at_root = user(&fx, "IamKeyRotator", "at-root", None, &function, None).await?;
    let two_keys = user(
        &fx,
        "IamKeyRotator",
        "two-keys",
        Some(path),
        &function,
        None,
    )
    .await?;
    let (first, _) = fx.create_key("two-keys").await?;
    let (second, _) = fx.create_key("two-keys").await?;
    let unknown_key = user(
        &fx,
        "IamKeyRotator",
        "unknown-key",
        Some(path),
        &function,
        None,
    )
    .await?;
    let (unknown, _) = fx.create_key("unknown-key").await?;
    let tag_full = user(
        &fx,
        "IamKeyRotator",
        "tag-full",
        Some(path),
        &function,
        None,
    )
    .await?;
    let tags: Vec<(String, String)> = (0..49)
        .map(|n| (format!("team:{n}"), "x".to_owned()))
        .collect();
    fx.tag_user("tag-full", &tags).await?;
    // This secret is rotated by another function: the harness's placeholder.
    let elsewhere = user(
        &fx,
        "IamKeyRotator",
        "elsewhere",
        Some(path),
        &moto.function_arn,
        None,
    )
    .await?;

    // A user of a member account, created at `/` there, read through the member role.
    moto.create_member_role(MEMBER, "IamKeyRotatorMember")
        .await?;
    // The doctor reads member accounts through the operators' read-only reader role.
    moto.create_member_role(MEMBER, "IamKeyRotatorReader")
        .await?;
    let member = Fixture::in_member_account(&moto, MEMBER, "IamKeyRotatorMember").await?;
    member.create_user("legacy-batch").await?;
    let legacy = format!("IamKeyRotator/{MEMBER}/legacy-batch");
    fx.create_secret(
        &legacy,
        &format!(r#"{{"UserName": "legacy-batch", "AccountId": "{MEMBER}"}}"#),
        None,
    )
    .await?;
    fx.configure_rotation(&legacy, &function).await?;

    let json = run_cli(rotator_command(cli(), &moto).args(["doctor", "--json"]))?;
    assert_eq!(json.code, Some(1), "{json:?}");
    let document = json.json()?;
    assert_eq!(document["prefix"], "IamKeyRotator/");
    assert_eq!(document["user_path"], path);
    assert_eq!(document["secrets"], 7);
    assert_eq!(document["function"]["arn"], function.as_str());
    assert_eq!(document["function"]["timeout_seconds"], 120);
    assert_eq!(document["function"]["old_key_policy"], "grace");
    assert_eq!(document["needs_attention"], true);
    let every = document["findings"].as_array().cloned().unwrap_or_default();
    assert!(
        every
            .iter()
            .all(|f| f["secret"] != healthy.as_str() && f["user"] != "healthy"),
        "the healthy user is named: {every:#?}"
    );
    // A user at `/`: the fix moves it under the deployment's path; in a member account, with
    // that account's credentials.
    assert_eq!(
        subjects(&document, "user-path"),
        [legacy.as_str(), at_root.as_str()]
    );
    let moved = findings(&document, "user-path");
    assert_eq!(moved[0]["account"], MEMBER);
    assert_eq!(
        moved[0]["fix"],
        format!(
            "aws iam update-user --user-name legacy-batch --new-path {path} with credentials for account {MEMBER}"
        )
    );
    assert_eq!(moved[1]["account"], Value::Null);
    assert_eq!(
        moved[1]["fix"],
        format!("aws iam update-user --user-name at-root --new-path {path}")
    );
    assert_eq!(document["accounts"], serde_json::json!([MEMBER]));
    // Two keys, and one unknown key: the fixes adopt one and remove the other.
    assert_eq!(
        subjects(&document, "user-no-room"),
        [two_keys.as_str(), unknown_key.as_str()]
    );
    let no_room = findings(&document, "user-no-room");
    let fix = no_room[0]["fix"].as_str().unwrap_or_default();
    let (kept, removed) = if fix.contains(&format!("--key {first}")) {
        (&first, &second)
    } else {
        (&second, &first)
    };
    assert!(
        fix.contains(&format!("rotator adopt {two_keys} --key {kept}"))
            && fix.contains(&format!(
                "aws iam delete-access-key --user-name two-keys --access-key-id {removed}"
            )),
        "{fix}"
    );
    assert!(
        no_room[1]["fix"]
            .as_str()
            .unwrap_or_default()
            .contains(&format!("rotator adopt {unknown_key} --key {unknown}")),
        "{:?}",
        no_room[1]
    );
    // A tag-full user.
    assert_eq!(subjects(&document, "user-tags"), [tag_full.as_str()]);
    assert!(
        findings(&document, "user-tags")[0]["problem"]
            .as_str()
            .unwrap_or_default()
            .contains("49 of IAM's 50")
    );
    // A secret pointing at another function.
    assert_eq!(
        subjects(&document, "rotation-function"),
        [elsewhere.as_str()]
    );
    assert_eq!(
        findings(&document, "rotation-function")[0]["fix"],
        format!(
            "aws secretsmanager rotate-secret --secret-id {elsewhere} --rotation-lambda-arn {function} --no-rotate-immediately"
        )
    );
    // An unconfirmed subscription.
    assert_eq!(subjects(&document, "alert-subscription"), [topic.as_str()]);
    assert!(
        findings(&document, "alert-subscription")[0]["problem"]
            .as_str()
            .unwrap_or_default()
            .contains("email oncall@example.com")
    );
    // An unverified sender.
    assert_eq!(subjects(&document, "sender"), [sender]);
    assert!(
        findings(&document, "sender")[0]["fix"]
            .as_str()
            .unwrap_or_default()
            .contains(&format!(
                "aws sesv2 create-email-identity --email-identity {sender}"
            ))
    );
    // An unverified recipient in the sandbox, named with the secrets that mail it.
    assert_eq!(
        subjects(&document, "sandbox-recipient"),
        ["team@example.net"]
    );
    assert!(
        findings(&document, "sandbox-recipient")[0]["problem"]
            .as_str()
            .unwrap_or_default()
            .contains(&at_root)
    );
    // A disabled schedule.
    assert_eq!(
        subjects(&document, "sweep-schedule"),
        ["default/IamKeyRotator-Sweep"]
    );
    assert!(
        findings(&document, "sweep-schedule")[0]["fix"]
            .as_str()
            .unwrap_or_default()
            .contains("--state ENABLED")
    );
    // Nothing else: every finding above is an error, and there is no other.
    assert_eq!(document["counts"]["error"], every.len());
    assert_eq!(every.len(), 10, "{every:#?}");
    for finding in &every {
        for field in ["severity", "check", "subject", "problem", "fix"] {
            assert!(finding[field].is_string(), "{field} of {finding}");
        }
    }

    // The same, for people: one line per finding with its fix, and the summary.
    let human = run_cli(rotator_command(cli(), &moto).args(["doctor"]))?;
    assert_eq!(human.code, Some(1), "{human:?}");
    let lines: Vec<&str> = human.stdout.lines().collect();
    assert_eq!(lines.len(), every.len() + 2, "{}", human.stdout);
    assert!(
        lines
            .iter()
            .take(every.len())
            .all(|line| line.starts_with("error") && line.contains("; fix: ")),
        "{}",
        human.stdout
    );
    assert!(
        lines.last().is_some_and(|l| l.starts_with(
            "7 secrets under IamKeyRotator/ (users in 1 member account), function IamKeyRotator-Function: 10 errors, 0 warnings"
        )),
        "{}",
        human.stdout
    );
    assert!(!human.stdout.contains("healthy"), "{}", human.stdout);

    // A second deployment with nothing wrong: exit 0. Its subscription is an SQS queue's
    // (confirmed at once), its sender and recipient verified, its schedule enabled.
    fx.verify_sender("sender@healthy.example").await?;
    let (function, topic) = deployment(
        &fx,
        "Healthy",
        "sender@healthy.example",
        "owner@example.com",
        true,
    )
    .await?;
    fx.subscribe(&topic, "sqs", "arn:aws:sqs:us-east-1:123456789012:alerts")
        .await?;
    user(
        &fx,
        "Healthy",
        "fine",
        Some("/rotated/Healthy/"),
        &function,
        None,
    )
    .await?;
    let ready = run_cli(rotator_command(cli(), &moto).args(["doctor", "--prefix", "Healthy/"]))?;
    assert_eq!(ready.code, Some(0), "{ready:?}");
    assert_eq!(
        ready.stdout.trim(),
        "1 secret under Healthy/, function Healthy-Function: nothing wrong, the deployment is ready for its first rotation"
    );
    let ready: CliRun =
        run_cli(rotator_command(cli(), &moto).args(["doctor", "--prefix", "Healthy/", "--json"]))?;
    assert_eq!(ready.json()?["findings"], Value::Array(Vec::new()));
    Ok(())
}

#[tokio::test]
async fn doctor_reports_an_unreachable_endpoint_and_a_bad_path_as_errors() -> Result<()> {
    let moto = Moto::start().await?;
    let closed = format!("http://127.0.0.1:{}", free_port()?);
    let unreachable = run_cli(rotator_command_at(cli(), &moto, &closed).args(["doctor"]))?;
    assert_eq!(unreachable.code, Some(2), "{unreachable:?}");
    assert!(unreachable.stdout.is_empty(), "{unreachable:?}");
    assert!(
        unreachable
            .stderr
            .starts_with("rotator: error: ListSecrets for the secrets named IamKeyRotator/*"),
        "{unreachable:?}"
    );
    assert_eq!(unreachable.stderr.lines().count(), 1, "{unreachable:?}");
    let bad = run_cli(rotator_command(cli(), &moto).args(["doctor", "--user-path", "rotated"]))?;
    assert_eq!(bad.code, Some(2), "{bad:?}");
    assert!(bad.stderr.contains("is not an IAM path"), "{bad:?}");
    Ok(())
}
