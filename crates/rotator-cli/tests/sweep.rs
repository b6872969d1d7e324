//! End to end: `rotator sweep [--dry-run]` against moto, on secrets that the real function
//! binary rotated with the `grace` policy. moto records a key's last use at once, so the
//! grace is seconds long and the usage lag `0s`.

use std::path::Path;
use std::time::Duration;

use anyhow::Result;
use rotator_harness::fleet::{CliRun, rotator_command, run_cli};
use rotator_harness::{World, WorldOptions, function_binary};
use serde_json::Value;

fn cli() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_rotator"))
}

const GRACE: [&str; 4] = ["--grace", "2s", "--usage-lag", "0s"];

fn sweep(world: &World, extra: &[&str]) -> Result<CliRun> {
    let mut args = vec!["sweep"];
    args.extend(GRACE);
    args.extend(extra);
    run_cli(rotator_command(cli(), &world.moto).args(&args))
}

fn entry<'a>(summary: &'a Value, secret: &str) -> &'a Value {
    summary["secrets"]
        .as_array()
        .and_then(|secrets| secrets.iter().find(|s| s["secret"] == secret))
        .unwrap_or(&Value::Null)
}

#[tokio::test]
async fn sweep_retires_unused_old_keys_names_the_used_ones_and_a_dry_run_changes_nothing()
-> Result<()> {
    let world = World::start(
        &function_binary(),
        WorldOptions::default().setting("ROTATOR_OLD_KEY", "grace"),
    )
    .await?;
    let fx = &world.fx;
    let mut old = Vec::new();
    for user in ["idle-user", "busy-user"] {
        let secret = format!("IamKeyRotator/{user}");
        fx.create_user(user).await?;
        fx.create_secret(&secret, &format!(r#"{{"UserName":"{user}"}}"#), None)
            .await?;
        fx.rotate_direct(&world.function, &secret).await?;
        fx.rotate_direct(&world.function, &secret).await?;
        old.push(
            world
                .key_in(&secret, "AWSPREVIOUS")
                .await?
                .expect("old key"),
        );
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    fx.use_key_in(&world.moto, "IamKeyRotator/busy-user", "AWSPREVIOUS")
        .await?;

    let dry = sweep(&world, &["--dry-run", "--json"])?;
    assert_eq!(dry.code, Some(1), "a key in use needs attention: {dry:?}");
    let summary = dry.json()?;
    assert_eq!(summary["mode"], "dry-run");
    assert_eq!(
        entry(&summary, "IamKeyRotator/idle-user")["action"],
        "deactivated"
    );
    assert_eq!(
        entry(&summary, "IamKeyRotator/busy-user")["action"],
        "in-use"
    );
    assert_eq!(
        fx.key_status("idle-user", &old[0]).await?.as_deref(),
        Some("Active")
    );

    let done = sweep(&world, &[])?;
    assert_eq!(done.code, Some(1), "{done:?}");
    let header = done.stdout.lines().next().unwrap_or_default();
    assert!(
        header.starts_with("SECRET") && header.contains("ACTION"),
        "{done:?}"
    );
    assert!(
        done.stdout.contains("deactivated") && done.stdout.contains("in use"),
        "{done:?}"
    );
    assert!(
        done.stdout.contains(&old[1]) && done.stdout.contains("sts"),
        "{done:?}"
    );
    assert_eq!(
        fx.key_status("idle-user", &old[0]).await?.as_deref(),
        Some("Inactive")
    );
    assert_eq!(
        fx.key_status("busy-user", &old[1]).await?.as_deref(),
        Some("Active")
    );

    // A hard limit shorter than the grace is refused, changing nothing.
    let refused = run_cli(rotator_command(cli(), &world.moto).args([
        "sweep",
        "--grace",
        "1h",
        "--grace-max",
        "1m",
    ]))?;
    assert_eq!(refused.code, Some(2), "{refused:?}");
    assert!(refused.stderr.contains("--grace-max"), "{refused:?}");
    let unit = run_cli(rotator_command(cli(), &world.moto).args(["sweep", "--grace", "24"]))?;
    assert_eq!(unit.code, Some(2), "{unit:?}");
    assert!(unit.stderr.contains("no unit"), "{unit:?}");
    assert_eq!(
        fx.key_status("busy-user", &old[1]).await?.as_deref(),
        Some("Active")
    );
    Ok(())
}
