//! End to end: the sweep's Security Hub findings (contract §12), with the built function under
//! the Lambda Runtime API emulator and moto.
//!
//! What moto 5.2.5 does differently from Security Hub, and where the real behaviour is tested:
//! - moto takes `BatchImportFindings` and `GetFindings` without `EnableSecurityHub` first;
//!   Security Hub refuses both in an account where it is not enabled (`InvalidAccessException`).
//!   Here the refusal is an IAM deny of `securityhub:*`, which moto's authentication enforces;
//!   the core's tests cover `InvalidAccessException` and `FailedFindings`.
//! - moto's `GetFindings` ignores `Filters` and answers every finding: the core filters the
//!   answer again by product, generator and record state.
//! - moto lets an import change `Workflow`; Security Hub keeps the workflow of an existing
//!   finding (API_BatchImportFindings), so the tests look at `RecordState` to tell a resolved
//!   finding, and the core's in-memory hub keeps the workflow as Security Hub does.
//! - A rotation stuck for an hour and a rotation overdue by a day cannot be waited for here:
//!   the core's tests cover those findings.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use aws_sdk_securityhub::types::AwsSecurityFinding;
use rotator_harness::{World, WorldOptions};
use serde_json::{Value, json};

fn binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_rotator-lambda"))
}

fn secret(user: &str) -> String {
    format!("IamKeyRotator/{user}")
}

async fn world() -> Result<World> {
    World::start(
        binary(),
        WorldOptions::default()
            .setting("ROTATOR_OLD_KEY", "grace")
            .setting("ROTATOR_GRACE", "6s")
            .setting("ROTATOR_GRACE_MAX", "1h")
            .setting("ROTATOR_USAGE_LAG", "0s")
            .setting("ROTATOR_SECRET_PREFIX", "IamKeyRotator/")
            .setting("ROTATOR_FINDINGS", "on"),
    )
    .await
}

/// A user and its secret, rotated once by the function.
async fn managed(world: &World, user: &str) -> Result<String> {
    world.fx.create_user(user).await?;
    world
        .fx
        .create_secret(&secret(user), &format!(r#"{{"UserName":"{user}"}}"#), None)
        .await?;
    world.rotate_ok(&secret(user)).await?;
    Ok(secret(user))
}

/// Every finding in moto's hub, by secret and problem.
async fn findings(world: &World) -> Result<BTreeMap<(String, String), AwsSecurityFinding>> {
    let hub = aws_sdk_securityhub::Client::new(&world.fx.config);
    let mut all = BTreeMap::new();
    let mut token = None;
    loop {
        let page = hub
            .get_findings()
            .max_results(100)
            .set_next_token(token.take())
            .send()
            .await?;
        for finding in page.findings() {
            let fields = finding.product_fields().context("product fields")?;
            let key = (
                fields["rotator/Secret"].clone(),
                fields["rotator/Problem"].clone(),
            );
            assert!(
                all.insert(key.clone(), finding.clone()).is_none(),
                "a duplicate finding for {key:?}"
            );
        }
        match page.next_token() {
            Some(next) if !next.is_empty() => token = Some(next.to_owned()),
            _ => break,
        }
    }
    Ok(all)
}

fn record_state(finding: &AwsSecurityFinding) -> &str {
    finding.record_state().map_or("", |s| s.as_str())
}

fn pair(secret: &str, problem: &str) -> (String, String) {
    (secret.to_owned(), problem.to_owned())
}

#[test]
fn a_sweep_imports_one_finding_per_problem_and_the_next_resolves_the_two_fixed() -> Result<()> {
    // In a debug build, the SDK's reading of a `GetFindings` answer (ASFF's hundreds of nested
    // types) needs more stack than a test thread's 2 MiB: the test runs on a thread of 64 MiB.
    std::thread::Builder::new()
        .stack_size(64 << 20)
        .spawn(|| {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?
                .block_on(one_finding_per_problem_then_two_resolved())
        })?
        .join()
        .map_err(|_| anyhow::anyhow!("the test's thread panicked"))?
}

async fn one_finding_per_problem_then_two_resolved() -> Result<()> {
    let world = world().await?;
    let fx = &world.fx;
    managed(&world, "otto").await?; // ok
    let bob = managed(&world, "bob").await?;
    let (by_hand, by_hand_secret) = fx.create_key("bob").await?; // blocked
    let bea = managed(&world, "bea").await?;
    let beas = world
        .key_in(&bea, "AWSCURRENT")
        .await?
        .context("bea's key")?;
    fx.iam
        .update_access_key()
        .user_name("bea")
        .access_key_id(&beas)
        .status(aws_sdk_iam::types::StatusType::Inactive)
        .send()
        .await?; // broken
    let rita = managed(&world, "rita").await?;
    fx.secrets
        .cancel_rotate_secret()
        .secret_id(&rita)
        .send()
        .await?; // rotation-disabled
    let ivan = managed(&world, "ivan").await?;
    world.rotate_ok(&ivan).await?;
    let rotated = Instant::now();
    let ivans_old = world
        .key_in(&ivan, "AWSPREVIOUS")
        .await?
        .context("old key")?;
    // Past the grace, a program still uses ivan's old key.
    tokio::time::sleep_until((rotated + Duration::from_secs(7)).into()).await;
    fx.use_key_in(&world.moto, &ivan, "AWSPREVIOUS").await?;

    let summary = fx.sweep(&world.function)?;
    assert_eq!(summary["findings"]["imported"], 4, "{summary}");
    assert_eq!(summary["findings"]["resolved"], 0, "{summary}");
    assert!(summary["findings"].get("problem").is_none(), "{summary}");
    let first = findings(&world).await?;
    let expected = [
        (pair(&bob, "blocked"), "INFORMATIONAL"),
        (pair(&bea, "broken-current"), "HIGH"),
        (pair(&rita, "rotation-disabled"), "INFORMATIONAL"),
        (pair(&ivan, "old-key-in-use"), "HIGH"),
    ];
    assert_eq!(
        first.keys().cloned().collect::<Vec<_>>(),
        {
            let mut keys: Vec<_> = expected.iter().map(|(k, _)| k.clone()).collect();
            keys.sort();
            keys
        },
        "one finding per problem, none for the healthy secret"
    );
    for (key, severity) in &expected {
        let finding = &first[key];
        assert_eq!(
            finding
                .severity()
                .and_then(|s| s.label())
                .map(|l| l.as_str()),
            Some(*severity),
            "{key:?}"
        );
        assert_eq!(record_state(finding), "ACTIVE");
        assert_eq!(finding.schema_version(), Some("2018-10-08"));
        assert_eq!(
            finding.product_arn(),
            Some("arn:aws:securityhub:us-east-1:123456789012:product/123456789012/default")
        );
        assert_eq!(finding.aws_account_id(), Some("123456789012"));
        let fix = finding
            .remediation()
            .and_then(|r| r.recommendation())
            .and_then(|r| r.text())
            .unwrap_or_default();
        assert!(fix.contains("rotator "), "{key:?}: {fix}");
    }
    let ivans = &first[&pair(&ivan, "old-key-in-use")];
    assert_eq!(
        ivans.product_fields().context("fields")?["rotator/AccessKeyId"],
        ivans_old
    );
    let blocking = &first[&pair(&bob, "blocked")];
    assert!(
        blocking
            .description()
            .unwrap_or_default()
            .contains(&by_hand),
        "{:?}",
        blocking.description()
    );

    // Fix two: bob's key made by hand goes, rita's rotation is turned on again.
    fx.iam
        .delete_access_key()
        .user_name("bob")
        .access_key_id(&by_hand)
        .send()
        .await?;
    world.rotate_ok(&rita).await?;
    fx.use_key_in(&world.moto, &ivan, "AWSPREVIOUS").await?;
    let summary = fx.sweep(&world.function)?;
    assert_eq!(summary["findings"]["imported"], 2, "{summary}");
    assert_eq!(summary["findings"]["resolved"], 2, "{summary}");
    let second = findings(&world).await?;
    assert_eq!(second.len(), 4, "updated, not added");
    for (key, finding) in &second {
        let earlier = &first[key];
        let resolved = *key == pair(&bob, "blocked") || *key == pair(&rita, "rotation-disabled");
        assert_eq!(
            record_state(finding),
            if resolved { "ARCHIVED" } else { "ACTIVE" },
            "{key:?}"
        );
        assert_eq!(finding.id(), earlier.id());
        assert_eq!(finding.created_at(), earlier.created_at(), "{key:?}");
        assert!(finding.updated_at() > earlier.updated_at(), "{key:?}");
    }
    assert!(
        world
            .alerts()?
            .iter()
            .all(|(subject, _)| !subject.contains("Security Hub")),
        "no findings alert"
    );

    // No secret access key in any field of any finding (the hand-made key's included).
    let mut keys = secret_keys(&world, &[&bob, &bea, &rita, &ivan, &secret("otto")]).await?;
    keys.push(by_hand_secret);
    let everything = format!("{:?}", second.values().collect::<Vec<_>>());
    for key in &keys {
        assert!(
            !everything.contains(key.as_str()),
            "a secret access key is in a finding"
        );
    }
    world
        .assert_no_secret_leaked(&[&bob, &bea, &rita, &ivan, &secret("otto")], &keys)
        .await
}

/// The secret access key of every version of `secrets`.
async fn secret_keys(world: &World, secrets: &[&str]) -> Result<Vec<String>> {
    let mut keys = Vec::new();
    for secret in secrets {
        let versions = world
            .fx
            .secrets
            .list_secret_version_ids()
            .secret_id(*secret)
            .include_deprecated(true)
            .send()
            .await?;
        for version in versions.versions() {
            let Some(id) = version.version_id() else {
                continue;
            };
            let value = world
                .fx
                .secrets
                .get_secret_value()
                .secret_id(*secret)
                .version_id(id)
                .send()
                .await?;
            if let Some(text) = value.secret_string()
                && let Ok(value) = serde_json::from_str::<Value>(text)
                && let Some(key) = value["SecretAccessKey"].as_str()
            {
                keys.push(key.to_owned());
            }
        }
    }
    assert!(!keys.is_empty(), "the scan needs secrets to look for");
    Ok(keys)
}

#[tokio::test]
async fn a_refused_import_is_one_alert_and_the_sweep_still_retires() -> Result<()> {
    let world = world().await?;
    let fx = &world.fx;
    let alice = managed(&world, "alice").await?;
    world.rotate_ok(&alice).await?;
    let rotated = Instant::now();
    let old = world
        .key_in(&alice, "AWSPREVIOUS")
        .await?
        .context("old key")?;
    managed(&world, "bob").await?;
    fx.create_key("bob").await?; // blocked: one finding that is not imported
    // The function's credentials may no longer call Security Hub.
    fx.iam
        .put_user_policy()
        .user_name("admin")
        .policy_name("no-security-hub")
        .policy_document(
            json!({"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "securityhub:*", "Resource": "*"}]})
                .to_string(),
        )
        .send()
        .await?;
    tokio::time::sleep_until((rotated + Duration::from_secs(7)).into()).await;
    let summary = fx.sweep(&world.function)?;
    assert_eq!(summary["oldKeysRetired"], 1, "{summary}");
    assert_eq!(
        fx.key_status("alice", &old).await?.as_deref(),
        Some("Inactive")
    );
    let problem = summary["findings"]["problem"].as_str().unwrap_or_default();
    assert!(problem.contains("AccessDenied"), "{summary}");
    assert_eq!(
        summary["findings"]["notImported"], 1,
        "bob's blocked secret: {summary}"
    );
    let alerts = world.alerts()?;
    let about_findings: Vec<&(String, String)> = alerts
        .iter()
        .filter(|(subject, _)| subject.contains("Security Hub"))
        .collect();
    assert_eq!(about_findings.len(), 1, "{alerts:?}");
    assert!(
        about_findings[0]
            .1
            .contains("securityhub:BatchImportFindings")
    );
    Ok(())
}
