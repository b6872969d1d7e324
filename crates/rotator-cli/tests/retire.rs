//! End to end, black-box: `rotator rotate --retire-previous` against moto, on a secret that the
//! real function rotated twice under `grace`. The previous key is still in its grace and a job
//! uses it: a rotation would refuse to delete it (`PreviousKeyInGrace`), so the operator retires
//! it first, and the command says when and where it was last used. moto's `RotateSecret` starts
//! the rotation without running the function; the test then delivers the steps.

use std::path::Path;

use anyhow::Result;
use rotator_harness::fleet::{rotator_command, run_cli};
use rotator_harness::{World, WorldOptions, function_binary};

fn cli() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_rotator"))
}

#[tokio::test]
async fn retire_previous_deactivates_the_key_in_its_grace_naming_its_last_use_then_rotates()
-> Result<()> {
    let world = World::start(
        &function_binary(),
        WorldOptions::default()
            .setting("ROTATOR_OLD_KEY", "grace")
            .setting("ROTATOR_USAGE_LAG", "0s"),
    )
    .await?;
    let fx = &world.fx;
    let secret = "IamKeyRotator/leaky";
    fx.create_user("leaky").await?;
    fx.create_secret(secret, r#"{"UserName":"leaky"}"#, None)
        .await?;
    fx.rotate_direct(&world.function, secret).await?;
    fx.rotate_direct(&world.function, secret).await?;
    let previous = fx.use_key_in(&world.moto, secret, "AWSPREVIOUS").await?;

    // Without --retire-previous the function refuses to delete the key in its grace.
    let early = world.rotate(secret).await?;
    let (step, output) = early.failure().expect("refused");
    assert_eq!(step, "createSecret");
    assert!(
        output.contains("PreviousKeyInGrace") && output.contains(&previous),
        "{output}"
    );
    assert_eq!(
        fx.key_status("leaky", &previous).await?.as_deref(),
        Some("Active")
    );
    world.abandon(secret, &early.token).await?;

    let run =
        run_cli(rotator_command(cli(), &world.moto).args(["rotate", secret, "--retire-previous"]))?;
    assert_eq!(run.code, Some(0), "{run:?}");
    assert!(
        run.stdout
            .contains(&format!("deactivated the previous key {previous}"))
            && run.stdout.contains("sts"),
        "names the key and its last use: {run:?}"
    );
    assert!(
        run.stdout
            .contains("rotation of IamKeyRotator/leaky started"),
        "{run:?}"
    );
    assert_eq!(
        fx.key_status("leaky", &previous).await?.as_deref(),
        Some("Inactive")
    );
    Ok(())
}

/// Issue 25, point 4: `--retire-previous` checks everything that would stop the rotation
/// before it touches the previous key: a name outside the deployment's prefix (contract §3), a
/// rotation in progress, rotation disabled. Each is refused with exit 2, and the previous key
/// stays active.
#[tokio::test]
async fn retire_previous_changes_nothing_when_the_rotation_cannot_start() -> Result<()> {
    let world = World::start(
        &function_binary(),
        WorldOptions::default()
            .setting("ROTATOR_OLD_KEY", "grace")
            .setting("ROTATOR_USAGE_LAG", "0s"),
    )
    .await?;
    let fx = &world.fx;
    let secret = "IamKeyRotator/leaky";
    fx.create_user("leaky").await?;
    fx.create_secret(secret, r#"{"UserName":"leaky"}"#, None)
        .await?;
    fx.rotate_direct(&world.function, secret).await?;
    fx.rotate_direct(&world.function, secret).await?;
    let previous = world
        .key_in(secret, "AWSPREVIOUS")
        .await?
        .expect("a previous key");
    let still_active = || async {
        assert_eq!(
            fx.key_status("leaky", &previous).await?.as_deref(),
            Some("Active"),
            "the previous key stays active"
        );
        anyhow::Ok(())
    };
    still_active().await?;

    // A name that is not <prefix><user> for the deployment's prefix.
    let other_prefix = run_cli(rotator_command(cli(), &world.moto).args([
        "rotate",
        secret,
        "--retire-previous",
        "--prefix",
        "Other/",
    ]))?;
    assert_eq!(other_prefix.code, Some(2), "{other_prefix:?}");
    assert!(
        other_prefix
            .stderr
            .contains("is not a secret that the rotator manages"),
        "{other_prefix:?}"
    );
    still_active().await?;

    // A rotation in progress (AWSPENDING on a version other than AWSCURRENT's).
    let token = "5e1f0c3a-0000-4000-8000-000000000042";
    fx.start_rotation(secret, token).await?;
    let in_progress =
        run_cli(rotator_command(cli(), &world.moto).args(["rotate", secret, "--retire-previous"]))?;
    assert_eq!(in_progress.code, Some(2), "{in_progress:?}");
    assert!(
        in_progress.stderr.contains("already in progress"),
        "{in_progress:?}"
    );
    still_active().await?;
    world.abandon(secret, token).await?;

    // Rotation turned off (CancelRotateSecret).
    fx.secrets
        .cancel_rotate_secret()
        .secret_id(secret)
        .send()
        .await?;
    let disabled =
        run_cli(rotator_command(cli(), &world.moto).args(["rotate", secret, "--retire-previous"]))?;
    assert_eq!(disabled.code, Some(2), "{disabled:?}");
    assert!(disabled.stderr.contains("not enabled"), "{disabled:?}");
    still_active().await?;
    Ok(())
}
