//! End to end, black-box: a rotation stuck on a user at its key limit (a person's extra key
//! leaves no room, so createSecret fails and AWSPENDING stays on the new version), ended by
//! `rotator recover` through the real function's recover action, and by the function's sweep
//! once it is older than `ROTATOR_STUCK_AFTER`; then, once the person's key is gone, a rotation
//! completes.
//!
//! The CLI invokes the function through the Lambda Runtime API emulator's Invoke API
//! (`AWS_ENDPOINT_URL_LAMBDA`), which serves it under the name `_`: hence `--function _`.
//!
//! moto differences that matter here: moto's `RotateSecret` does not refuse while a previous
//! rotation is stuck (it moves AWSPENDING to the new version; AWS answers "a previous rotation
//! isn't complete", which the core's world models and its recovery tests cover), so this test
//! checks the labels rather than a refused `RotateSecret`. moto dates versions in whole seconds
//! (`CreatedDate`, reported through the harness's `moto_server.py`), so the sweep's
//! stuck-after time is a few seconds.

use std::path::Path;
use std::time::Duration;

use anyhow::Result;
use rotator_harness::fleet::{CliRun, rotator_command, run_cli};
use rotator_harness::grace::metric_lines;
use rotator_harness::{World, WorldOptions, function_binary};
use serde_json::json;

fn cli() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_rotator"))
}

/// Runs `rotator recover` against moto, the function reached through the emulator.
fn recover(world: &World, args: &[&str]) -> Result<CliRun> {
    let mut command = rotator_command(cli(), &world.moto);
    command
        .env("AWS_ENDPOINT_URL_LAMBDA", world.function.invoke_endpoint())
        .arg("recover")
        .args(args)
        .args(["--function", "_"]);
    run_cli(&mut command)
}

/// Alice's secret rotated once by the function, then a person's key beside the rotator's: the
/// next rotation's createSecret finds no room and fails, and the rotation is stuck. Returns
/// the stuck token, the AWSCURRENT key and the person's key.
async fn stuck_at_the_key_limit(world: &World, user: &str) -> Result<(String, String, String)> {
    let fx = &world.fx;
    let secret = format!("IamKeyRotator/{user}");
    fx.create_user(user).await?;
    fx.create_secret(&secret, &format!(r#"{{"UserName":"{user}"}}"#), None)
        .await?;
    world.rotate_ok(&secret).await?;
    let current = world.key_in(&secret, "AWSCURRENT").await?.expect("a key");
    let (persons, _) = fx.create_key(user).await?;
    let stuck = world.rotate(&secret).await?;
    let (step, output) = stuck.failure().expect("no room");
    assert_eq!(step, "createSecret", "{output}");
    assert!(
        output.contains(&persons),
        "names the person's key: {output}"
    );
    assert_pending_on(world, &secret, Some(&stuck.token)).await?;
    Ok((stuck.token, current, persons))
}

/// Asserts which version holds AWSPENDING.
async fn assert_pending_on(world: &World, secret: &str, token: Option<&str>) -> Result<()> {
    let stages = world.fx.stages(secret).await?;
    let pending = stages
        .iter()
        .find(|(_, stages)| stages.iter().any(|s| s == "AWSPENDING"))
        .map(|(version, _)| version.as_str());
    assert_eq!(pending, token, "{stages:?}");
    Ok(())
}

async fn key_ids(world: &World, user: &str) -> Result<Vec<String>> {
    Ok(world
        .fx
        .keys(user)
        .await?
        .into_iter()
        .map(|(id, _)| id)
        .collect())
}

async fn remove_persons_key(world: &World, user: &str, key: &str) -> Result<()> {
    world
        .fx
        .iam
        .delete_access_key()
        .user_name(user)
        .access_key_id(key)
        .send()
        .await?;
    Ok(())
}

#[tokio::test]
async fn rotator_recover_ends_a_rotation_stuck_at_the_key_limit_then_it_rotates() -> Result<()> {
    let world = World::start(&function_binary(), WorldOptions::default()).await?;
    let user = "full";
    let secret = "IamKeyRotator/full";
    let (token, current, persons) = stuck_at_the_key_limit(&world, user).await?;
    let keys_before = key_ids(&world, user).await?;

    // A dry run says what it would do, and changes nothing.
    let dry = recover(&world, &[secret, "--dry-run", "--json"])?;
    assert_eq!(dry.code, Some(0), "{dry:?}");
    let summary = dry.json()?;
    assert_eq!(summary["outcome"], "abandoned", "{summary}");
    assert_eq!(summary["dryRun"], true);
    assert_eq!(summary["token"], token.as_str());
    assert_pending_on(&world, secret, Some(&token)).await?;

    let run = recover(&world, &[secret])?;
    assert_eq!(run.code, Some(0), "{run:?}");
    assert!(
        run.stdout
            .contains("IamKeyRotator/full: abandoned the stuck rotation")
            && run.stdout.contains(&token),
        "{run:?}"
    );
    assert_pending_on(&world, secret, None).await?;
    assert_eq!(
        world.key_in(secret, "AWSCURRENT").await?.as_deref(),
        Some(current.as_str()),
        "AWSCURRENT is unchanged"
    );
    assert_eq!(
        key_ids(&world, user).await?,
        keys_before,
        "the person's key and the working key are untouched"
    );
    let alerts = world.alerts()?;
    assert!(
        alerts.iter().any(
            |(subject, body)| subject.contains("stuck rotation abandoned")
                && body.contains(secret)
                && body.contains(&token)
        ),
        "one notice names the secret and the token: {alerts:?}"
    );

    // Idempotent: nothing is stuck any more.
    let again = recover(&world, &[secret, "--json"])?;
    assert_eq!(again.code, Some(0), "{again:?}");
    assert_eq!(again.json()?["outcome"], "not-stuck");

    // A secret outside the prefix is refused, with nothing changed.
    world
        .fx
        .create_secret("Elsewhere/full", r#"{"UserName":"full"}"#, None)
        .await?;
    let refused = recover(&world, &["Elsewhere/full"])?;
    assert_eq!(refused.code, Some(2), "{refused:?}");
    assert!(
        refused.stderr.contains("SecretNameNotManaged")
            && refused
                .stderr
                .contains("does not start with IamKeyRotator/"),
        "{refused:?}"
    );

    // A malformed recover event is refused by the function, naming the field.
    for (event, field) in [
        (json!({"Action": "recover"}), "SecretId"),
        (
            json!({"Action": "recover", "SecretId": secret, "DryRun": "yes"}),
            "DryRun",
        ),
    ] {
        let answer = world.function.invoke_direct(&event)?;
        assert_eq!(
            answer.error_type().as_deref(),
            Some("InvalidEvent"),
            "{event}"
        );
        assert!(
            answer.error_message().contains(field),
            "{}",
            answer.error_message()
        );
    }

    // Once the person's key is gone, the next rotation completes.
    remove_persons_key(&world, user, &persons).await?;
    world.rotate_ok(secret).await?;
    assert_ne!(
        world.key_in(secret, "AWSCURRENT").await?.as_deref(),
        Some(current.as_str())
    );
    world.assert_no_secret_leaked(&[secret], &[]).await
}

#[tokio::test]
async fn the_sweep_ends_a_rotation_stuck_longer_than_the_stuck_after_time() -> Result<()> {
    let world = World::start(
        &function_binary(),
        WorldOptions::default().setting("ROTATOR_STUCK_AFTER", "2s"),
    )
    .await?;
    let user = "crowded";
    let secret = "IamKeyRotator/crowded";
    let (token, current, persons) = stuck_at_the_key_limit(&world, user).await?;

    // Past the stuck-after time (moto's whole seconds included).
    tokio::time::sleep(Duration::from_secs(4)).await;
    let summary = world.fx.sweep(&world.function)?;
    assert_eq!(summary["rotationsRecovered"], 1, "{summary}");
    assert_eq!(summary["recoveriesFailed"], 0, "{summary}");
    let recovery = &summary["recoveries"][0];
    assert_eq!(recovery["secret"], secret);
    assert_eq!(recovery["outcome"], "abandoned");
    assert_eq!(recovery["token"], token.as_str());
    assert_pending_on(&world, secret, None).await?;
    assert_eq!(
        world.key_in(secret, "AWSCURRENT").await?.as_deref(),
        Some(current.as_str())
    );
    assert!(key_ids(&world, user).await?.contains(&persons));
    let metrics = metric_lines(&world.function);
    assert!(
        metrics
            .iter()
            .any(|line| line["RotationsRecovered"] == 1 && line["ManagedSecrets"].is_number()),
        "the sweep's metric line counts the recovery: {metrics:?}"
    );

    // The next sweep finds nothing stuck.
    let summary = world.fx.sweep(&world.function)?;
    assert_eq!(summary["rotationsRecovered"], 0, "{summary}");

    remove_persons_key(&world, user, &persons).await?;
    world.rotate_ok(secret).await?;
    Ok(())
}
