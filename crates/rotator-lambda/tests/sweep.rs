//! End to end: the `grace` policy and the sweep, with the built function under the Lambda
//! Runtime API emulator and moto, whose authentication records each key's last use at once
//! (IAM reports it up to hours late: `ROTATOR_USAGE_LAG` is `0s` here, and the core's tests
//! cover the lag). Graces are seconds long, so the tests wait seconds. moto dates rotations
//! and uses in whole seconds, and a busy machine may take seconds for a rotation or between a
//! use and the sweep that must see it: each grace leaves room for that, and the waits count
//! from the moment that matters (the rotation's end, the last use), not from whenever the
//! previous assertion finished.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Result;
use rotator_harness::grace::metric_lines;
use rotator_harness::{World, WorldOptions};
use serde_json::{Value, json};

const USER: &str = "alice";
const SECRET: &str = "IamKeyRotator/alice";
const OWNER: &str = "owner@example.com";

fn binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_rotator-lambda"))
}

/// A world whose function rotates with `grace`, and alice's secret rotated twice: her first
/// key is AWSPREVIOUS and still active. Returns (world, old key, new key, when the second
/// rotation ended).
async fn rotated_twice(grace: &str, grace_max: &str) -> Result<(World, String, String, Instant)> {
    let world = World::start(
        binary(),
        WorldOptions::default()
            .setting("ROTATOR_OLD_KEY", "grace")
            .setting("ROTATOR_GRACE", grace)
            .setting("ROTATOR_GRACE_MAX", grace_max)
            .setting("ROTATOR_USAGE_LAG", "0s")
            .setting("ROTATOR_SECRET_PREFIX", "IamKeyRotator/"),
    )
    .await?;
    world.fx.create_user(USER).await?;
    world
        .fx
        .create_secret(SECRET, r#"{"UserName":"alice"}"#, Some(OWNER))
        .await?;
    world.rotate_ok(SECRET).await?;
    world.rotate_ok(SECRET).await?;
    let rotated = Instant::now();
    let old = world.key_in(SECRET, "AWSPREVIOUS").await?.expect("old key");
    let new = world.key_in(SECRET, "AWSCURRENT").await?.expect("new key");
    assert_ne!(old, new);
    Ok((world, old, new, rotated))
}

/// The summary's entry for alice's secret.
fn entry(summary: &Value) -> &Value {
    summary["secrets"]
        .as_array()
        .and_then(|secrets| secrets.iter().find(|s| s["secret"] == SECRET))
        .unwrap_or(&Value::Null)
}

/// Waits until `secs` seconds have passed since `since` (at once if they have).
async fn wait_until(since: Instant, secs: u64) {
    tokio::time::sleep_until((since + Duration::from_secs(secs)).into()).await;
}

#[tokio::test]
async fn a_straggler_is_named_then_its_key_retired_once_unused_and_deleted_by_the_next_rotation()
-> Result<()> {
    // A grace that a rotation and a sweep fit in, on a busy machine too.
    let (world, old, new, rotated) = rotated_twice("6s", "1h").await?;
    let fx = &world.fx;
    assert_eq!(fx.key_status(USER, &old).await?.as_deref(), Some("Active"));
    let emails = world.moto.ses_emails()?;
    assert!(
        emails[1].2.contains("still active for the grace period"),
        "{}",
        emails[1].2
    );

    // Within the grace: the key stays, nothing is said.
    let summary = fx.sweep(&world.function)?;
    assert_eq!(entry(&summary)["action"], "within-grace", "{summary}");
    assert!(world.alerts()?.is_empty());

    // A program keeps using the old key past the grace: the sweep names it, and leaves it.
    wait_until(rotated, 7).await;
    assert_eq!(
        fx.use_key_in(&world.moto, SECRET, "AWSPREVIOUS").await?,
        old
    );
    let used = Instant::now();
    let summary = fx.sweep(&world.function)?;
    assert_eq!(entry(&summary)["action"], "in-use", "{summary}");
    assert_eq!(entry(&summary)["lastUsed"]["service"], "sts");
    assert_eq!(summary["oldKeysInUse"], 1);
    assert_eq!(fx.key_status(USER, &old).await?.as_deref(), Some("Active"));
    let alerts = world.alerts()?;
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    let (subject, body) = &alerts[0];
    assert!(subject.contains("still in use"), "{subject}");
    for needle in [
        old.as_str(),
        SECRET,
        USER,
        "service sts",
        "region us-east-1",
    ] {
        assert!(body.contains(needle), "{needle}: {body}");
    }
    let emails = world.moto.ses_emails()?;
    assert_eq!(
        emails.len(),
        3,
        "two success emails and the owner's straggler email"
    );
    assert_eq!(emails[2].0, [OWNER.to_owned()]);
    assert!(emails[2].2.contains(&old), "{}", emails[2].2);

    // The program stops; once the grace has passed since its last use, the key goes.
    wait_until(used, 7).await;
    let summary = fx.sweep(&world.function)?;
    assert_eq!(entry(&summary)["action"], "deactivated", "{summary}");
    assert_eq!(summary["oldKeysRetired"], 1);
    assert_eq!(
        fx.key_status(USER, &old).await?.as_deref(),
        Some("Inactive")
    );
    assert_eq!(fx.key_status(USER, &new).await?.as_deref(), Some("Active"));
    assert_eq!(world.alerts()?.len(), 1, "no alert without a straggler");

    // Idempotent: a second sweep has nothing to do.
    let summary = fx.sweep(&world.function)?;
    assert_eq!(summary["oldKeysRetired"], 0);
    assert_eq!(entry(&summary), &Value::Null, "{summary}");

    // The next rotation deletes the inactive AWSPREVIOUS key to make room.
    world.rotate_ok(SECRET).await?;
    assert_eq!(fx.key_status(USER, &old).await?, None);
    assert_eq!(
        world.key_in(SECRET, "AWSPREVIOUS").await?.as_deref(),
        Some(new.as_str())
    );
    world
        .assert_current_authenticates(rotator_harness::Bound {
            secret: SECRET,
            user: USER,
        })
        .await?;

    // The metric lines parse back: one per step, one per sweep.
    let lines = metric_lines(&world.function);
    let steps: Vec<&Value> = lines.iter().filter(|l| l.get("Step").is_some()).collect();
    assert_eq!(steps.len(), 12, "three rotations of four steps");
    assert!(steps.iter().all(|l| l["RotationStepSucceeded"] == 1
        && l["RotationStepFailed"] == 0
        && l["StepDuration"].as_f64().is_some()
        && l["Deployment"] == "_"));
    let sweeps: Vec<&Value> = lines
        .iter()
        .filter(|l| l.get("ManagedSecrets").is_some())
        .collect();
    assert_eq!(sweeps.len(), 4);
    let series = |name: &str| sweeps.iter().map(|l| l[name].as_u64()).collect::<Vec<_>>();
    assert_eq!(series("OldKeysInUse"), [Some(0), Some(1), Some(0), Some(0)]);
    assert_eq!(
        series("OldKeysRetired"),
        [Some(0), Some(0), Some(1), Some(0)]
    );
    assert_eq!(series("ManagedSecrets"), [Some(1); 4]);
    assert_eq!(series("SweepErrors"), [Some(0); 4]);
    for line in &sweeps {
        assert_eq!(
            line["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            json!([["Deployment"]])
        );
        assert_eq!(
            line["_aws"]["CloudWatchMetrics"][0]["Namespace"],
            "IamKeyRotator"
        );
    }
    world.assert_no_secret_leaked(&[SECRET], &[]).await
}

#[tokio::test]
async fn past_the_hard_limit_a_key_in_use_is_deactivated_with_an_alert() -> Result<()> {
    // Past the grace the key is in use, long before the hard limit; past the limit it goes.
    let (world, old, _, rotated) = rotated_twice("3s", "12s").await?;
    let fx = &world.fx;
    wait_until(rotated, 4).await;
    fx.use_key_in(&world.moto, SECRET, "AWSPREVIOUS").await?;
    let summary = fx.sweep(&world.function)?;
    assert_eq!(entry(&summary)["action"], "in-use", "{summary}");
    wait_until(rotated, 13).await;
    fx.use_key_in(&world.moto, SECRET, "AWSPREVIOUS").await?;
    let summary = fx.sweep(&world.function)?;
    assert_eq!(
        entry(&summary)["action"],
        "deactivated-past-max",
        "{summary}"
    );
    assert_eq!(summary["oldKeysRetired"], 1);
    assert_eq!(
        fx.key_status(USER, &old).await?.as_deref(),
        Some("Inactive")
    );
    let alerts = world.alerts()?;
    assert_eq!(alerts.len(), 2, "one alert per sweep with a straggler");
    let (subject, body) = &alerts[1];
    assert!(subject.contains("deactivated while in use"), "{subject}");
    assert!(
        body.contains(&old) && body.contains("ROTATOR_GRACE_MAX"),
        "{body}"
    );
    world.assert_no_secret_leaked(&[SECRET], &[]).await
}

#[tokio::test]
async fn a_failed_step_has_its_error_kind_and_other_actions_are_refused() -> Result<()> {
    let world = World::start(binary(), WorldOptions::default()).await?;
    world.fx.create_user(USER).await?;
    world
        .fx
        .create_secret(SECRET, r#"{"UserName":"alice"}"#, Some(OWNER))
        .await?;
    // A person's two keys leave no room: createSecret fails with NoRoomForKey.
    world.fx.create_key(USER).await?;
    world.fx.create_key(USER).await?;
    let rotation = world.rotate(SECRET).await?;
    assert_eq!(
        rotation.failure().map(|(step, _)| step),
        Some("createSecret")
    );

    for (event, problem) in [
        (
            json!({"Action": "rotateAll"}),
            "the only Action is \"sweep\"",
        ),
        (json!({"Action": 7}), "must be a string"),
        (
            json!({"Action": "sweep", "Step": "createSecret", "SecretId": SECRET, "ClientRequestToken": "x"}),
            "either a rotation step or a sweep",
        ),
    ] {
        let answer = world.function.invoke_direct(&event)?;
        assert_eq!(
            answer.error_type().as_deref(),
            Some("InvalidEvent"),
            "{event}"
        );
        assert!(
            answer.error_message().contains(problem),
            "{}",
            answer.error_message()
        );
    }
    // Under another policy the sweep only counts the fleet.
    let summary = world.fx.sweep(&world.function)?;
    assert_eq!(summary["mode"], "count-only");
    assert_eq!(summary["managedSecrets"], 1);

    let lines = metric_lines(&world.function);
    let failed = lines
        .iter()
        .find(|l| l["RotationStepFailed"] == 1)
        .expect("a failed step's line");
    assert_eq!(failed["Step"], "createSecret");
    assert_eq!(failed["ErrorKind"], "NoRoomForKey");
    assert_eq!(
        failed["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
        json!([
            ["Deployment"],
            ["Deployment", "Step"],
            ["Deployment", "Step", "ErrorKind"]
        ])
    );
    assert_eq!(
        lines
            .iter()
            .filter(|l| l.get("ManagedSecrets").is_some())
            .count(),
        1,
        "refused events emit no metric"
    );
    Ok(())
}

#[tokio::test]
async fn a_duration_without_a_unit_stops_start_up_naming_the_variable() -> Result<()> {
    let moto = rotator_harness::Moto::start().await?;
    for (variable, value) in [
        ("ROTATOR_GRACE", "24"),
        ("ROTATOR_USAGE_LAG", "soon"),
        ("ROTATOR_GRACE_MAX", "1h"),
        ("ROTATOR_SECRET_PREFIX", "IamKeyRotator"),
    ] {
        let mut function =
            rotator_harness::Function::start(binary(), &moto, &[(variable, value.to_owned())])?;
        let status = function.wait_exit(Duration::from_secs(10))?;
        assert!(
            status.is_some_and(|s| !s.success()),
            "{variable}={value} did not stop start-up"
        );
        let logs = function.logs().join("\n");
        assert!(logs.contains(variable), "{variable}: {logs}");
    }
    Ok(())
}
