//! End to end: `rotator sweep [--dry-run]` against moto, on secrets that the real function
//! binary rotated with the `grace` policy. moto records a key's last use at once, so the
//! grace is seconds long and the usage lag `0s`. moto dates uses and rotations in whole
//! seconds, and a busy machine may take seconds between a use and the sweep that must see it:
//! the grace ([`GRACE_SECS`]) leaves room for both, and a key that must count as in use is
//! used right before each sweep.

use std::path::Path;
use std::time::Duration;

use anyhow::Result;
use rotator_harness::fleet::{CliRun, rotator_command, run_cli};
use rotator_harness::{World, WorldOptions, function_binary};
use serde_json::Value;

fn cli() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_rotator"))
}

/// The grace of the sweeps that must see a key in use: wide enough for a busy machine between
/// the use and the sweep's clock, plus moto's whole seconds.
const GRACE_SECS: u64 = 5;

const GRACE: [&str; 6] = [
    "--old-key-policy",
    "grace",
    "--grace",
    "5s",
    "--usage-lag",
    "0s",
];

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
    // Past the grace since the rotations; a program still uses busy-user's old key.
    tokio::time::sleep(Duration::from_secs(GRACE_SECS + 1)).await;
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

    fx.use_key_in(&world.moto, "IamKeyRotator/busy-user", "AWSPREVIOUS")
        .await?;
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
        "--old-key-policy",
        "grace",
        "--grace",
        "1h",
        "--grace-max",
        "1m",
    ]))?;
    assert_eq!(refused.code, Some(2), "{refused:?}");
    assert!(refused.stderr.contains("--grace-max"), "{refused:?}");
    let unit = run_cli(rotator_command(cli(), &world.moto).args([
        "sweep",
        "--old-key-policy",
        "grace",
        "--grace",
        "24",
    ]))?;
    assert_eq!(unit.code, Some(2), "{unit:?}");
    assert!(unit.stderr.contains("\"24\" is not a duration"), "{unit:?}");
    assert_eq!(
        fx.key_status("busy-user", &old[1]).await?.as_deref(),
        Some("Active")
    );
    Ok(())
}

/// The function's guard-rails hold for the CLI: a prefix without its `/` (which would match
/// other deployments' names), a missing policy, and a policy other than `grace` retire nothing.
#[tokio::test]
async fn sweep_refuses_a_prefix_without_its_slash_needs_the_policy_and_retires_only_under_grace()
-> Result<()> {
    let world = World::start(
        &function_binary(),
        WorldOptions::default().setting("ROTATOR_OLD_KEY", "grace"),
    )
    .await?;
    let fx = &world.fx;
    let secret = "IamKeyRotator/idle-user";
    fx.create_user("idle-user").await?;
    fx.create_secret(secret, r#"{"UserName":"idle-user"}"#, None)
        .await?;
    fx.rotate_direct(&world.function, secret).await?;
    fx.rotate_direct(&world.function, secret).await?;
    let old = world.key_in(secret, "AWSPREVIOUS").await?.expect("old key");
    // Past the grace and never used: a grace sweep would deactivate it.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (old_ref, fixture) = (&old, fx);
    let still_active = move || async move {
        assert_eq!(
            fixture.key_status("idle-user", old_ref).await?.as_deref(),
            Some("Active")
        );
        anyhow::Ok(())
    };

    for prefix in ["IamKeyRotator", "/", "Iam Key/"] {
        let refused = run_cli(rotator_command(cli(), &world.moto).args([
            "sweep",
            "--old-key-policy",
            "grace",
            "--grace",
            "2s",
            "--usage-lag",
            "0s",
            "--prefix",
            prefix,
        ]))?;
        assert_eq!(refused.code, Some(2), "{prefix:?}: {refused:?}");
        assert!(
            refused.stderr.contains("--prefix") && refused.stderr.contains("ending with '/'"),
            "{prefix:?}: {refused:?}"
        );
        still_active().await?;
    }

    // No policy, and no function to read it from: refused, naming the flag and the function.
    let missing = run_cli(rotator_command(cli(), &world.moto).args([
        "sweep",
        "--grace",
        "2s",
        "--usage-lag",
        "0s",
        "--function",
        "NoSuchFunction",
    ]))?;
    assert_eq!(missing.code, Some(2), "{missing:?}");
    assert!(
        missing.stderr.contains("--old-key-policy")
            && missing
                .stderr
                .contains("GetFunctionConfiguration of NoSuchFunction"),
        "{missing:?}"
    );
    still_active().await?;
    // The function the secret names sets no ROTATOR_OLD_KEY: it runs `delete`, its default,
    // under which the sweep only counts.
    let deployed = sweep_with_policy(&world, "", &[])?;
    assert_eq!(deployed.code, Some(0), "{deployed:?}");
    assert!(
        deployed.stdout.contains("policy is delete, not grace"),
        "{deployed:?}"
    );
    still_active().await?;

    for policy in ["keep", "delete", "deactivate"] {
        let counted = sweep_with_policy(&world, policy, &["--json"])?;
        assert_eq!(counted.code, Some(0), "{policy}: {counted:?}");
        let summary = counted.json()?;
        assert_eq!(summary["mode"], "count-only", "{policy}: {summary:#}");
        assert_eq!(summary["managedSecrets"], 1, "{summary:#}");
        assert_eq!(summary["oldKeysRetired"], 0, "{summary:#}");
        still_active().await?;
    }
    let table = sweep_with_policy(&world, "keep", &[])?;
    assert_eq!(table.code, Some(0), "{table:?}");
    assert!(
        table.stdout.contains("policy is keep, not grace"),
        "{table:?}"
    );
    let unknown = sweep_with_policy(&world, "Grace", &[])?;
    assert_eq!(unknown.code, Some(2), "{unknown:?}");
    assert!(unknown.stderr.contains("--old-key-policy"), "{unknown:?}");
    still_active().await?;

    // A dry run needs no policy, even when no function can be read; under grace the sweep
    // retires the key.
    let dry = sweep_with_policy(
        &world,
        "",
        &["--dry-run", "--json", "--function", "NoSuchFunction"],
    )?;
    assert_eq!(dry.code, Some(0), "{dry:?}");
    assert_eq!(dry.json()?["mode"], "dry-run");
    assert!(
        dry.stderr.contains("the dry run takes the defaults"),
        "{dry:?}"
    );
    still_active().await?;
    let done = sweep_with_policy(&world, "grace", &["--json"])?;
    assert_eq!(done.code, Some(0), "{done:?}");
    assert_eq!(done.json()?["oldKeysRetired"], 1, "{done:?}");
    assert_eq!(
        fx.key_status("idle-user", &old).await?.as_deref(),
        Some("Inactive")
    );
    Ok(())
}

/// `rotator sweep --old-key-policy POLICY` (no policy flag when `policy` is empty) with a grace
/// of seconds.
fn sweep_with_policy(world: &World, policy: &str, extra: &[&str]) -> Result<CliRun> {
    let mut args = vec!["sweep", "--grace", "2s", "--usage-lag", "0s"];
    if !policy.is_empty() {
        args.extend(["--old-key-policy", policy]);
    }
    args.extend(extra);
    run_cli(rotator_command(cli(), &world.moto).args(&args))
}

/// `rotator sweep` with no setting flag takes the deployed function's settings: the function
/// that the secrets name, read with GetFunctionConfiguration (as `rotator doctor` reads it), or
/// the one `--function` names; a flag still wins over the function's variable.
#[tokio::test]
async fn sweep_takes_the_settings_not_given_from_the_function_s_configuration() -> Result<()> {
    let world = World::start(
        &function_binary(),
        WorldOptions::default().setting("ROTATOR_OLD_KEY", "grace"),
    )
    .await?;
    let fx = &world.fx;
    let secret = "IamKeyRotator/idle-user";
    fx.create_user("idle-user").await?;
    fx.create_secret(secret, r#"{"UserName":"idle-user"}"#, None)
        .await?;
    fx.rotate_direct(&world.function, secret).await?;
    fx.rotate_direct(&world.function, secret).await?;
    let old = world.key_in(secret, "AWSPREVIOUS").await?.expect("old key");
    tokio::time::sleep(Duration::from_secs(3)).await;
    let cli_run = |args: &[&str]| run_cli(rotator_command(cli(), &world.moto).args(args));

    // The deployed function runs `keep`: the sweep counts only, and says where that came from.
    fx.configure_function(
        fx.function_arn(),
        &[
            ("ROTATOR_OLD_KEY", "keep"),
            ("ROTATOR_GRACE", "2s"),
            ("ROTATOR_USAGE_LAG", "0s"),
        ],
        120,
    )
    .await?;
    let kept = cli_run(&["sweep", "--json"])?;
    assert_eq!(kept.code, Some(0), "{kept:?}");
    assert_eq!(kept.json()?["mode"], "count-only", "{kept:?}");
    assert!(
        kept.stderr
            .contains("from the configuration of the function")
            && kept.stderr.contains("--old-key-policy keep"),
        "{kept:?}"
    );
    assert_eq!(
        fx.key_status("idle-user", &old).await?.as_deref(),
        Some("Active")
    );

    // A bad variable of the function is named as the function's, and nothing changes.
    fx.configure_function(
        fx.function_arn(),
        &[("ROTATOR_OLD_KEY", "grace"), ("ROTATOR_GRACE", "2 days")],
        120,
    )
    .await?;
    let bad = cli_run(&["sweep"])?;
    assert_eq!(bad.code, Some(2), "{bad:?}");
    assert!(
        bad.stderr.contains("ROTATOR_GRACE")
            && bad.stderr.contains("configuration of the function"),
        "{bad:?}"
    );
    // The flag wins over the function's variable.
    let dry = cli_run(&[
        "sweep",
        "--grace",
        "2s",
        "--usage-lag",
        "0s",
        "--dry-run",
        "--json",
    ])?;
    assert_eq!(dry.code, Some(0), "{dry:?}");
    assert_eq!(dry.json()?["mode"], "dry-run", "{dry:?}");

    // Under grace, with its grace and lag, the function's settings retire the unused key; the
    // function is named by --function this time.
    fx.configure_function(
        fx.function_arn(),
        &[
            ("ROTATOR_OLD_KEY", "grace"),
            ("ROTATOR_GRACE", "2s"),
            ("ROTATOR_USAGE_LAG", "0s"),
            ("ROTATOR_SECRET_PREFIX", "IamKeyRotator/"),
        ],
        120,
    )
    .await?;
    let done = cli_run(&["sweep", "--json", "--function", fx.function_arn()])?;
    assert_eq!(done.code, Some(0), "{done:?}");
    let summary = done.json()?;
    assert_eq!(summary["mode"], "retire", "{summary:#}");
    assert_eq!(summary["prefix"], "IamKeyRotator/", "{summary:#}");
    assert_eq!(summary["oldKeysRetired"], 1, "{summary:#}");
    assert!(
        done.stderr.contains("--grace 2s") && done.stderr.contains("--prefix IamKeyRotator/"),
        "{done:?}"
    );
    assert_eq!(
        fx.key_status("idle-user", &old).await?.as_deref(),
        Some("Inactive")
    );
    Ok(())
}
