//! End to end: adoption (contract §10) with the built function under the Lambda Runtime API
//! emulator and moto. A job uses a key that existed before the rotator; the secret adopts it;
//! the first rotation gives the secret its own key and leaves the adopted one active under
//! `grace`; the sweep names it while the job still uses it, retires it once the job stopped,
//! and the next rotation deletes it. moto records a key's last use at once (IAM reports it up
//! to hours late: `ROTATOR_USAGE_LAG` is `0s` here; the core's tests cover the lag).

use std::path::Path;
use std::time::Duration;

use anyhow::Result;
use rotator_harness::{World, WorldOptions};
use serde_json::Value;

const USER: &str = "legacy-job";
const SECRET: &str = "IamKeyRotator/legacy-job";

fn binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_rotator-lambda"))
}

fn entry(summary: &Value) -> &Value {
    summary["secrets"]
        .as_array()
        .and_then(|secrets| secrets.iter().find(|s| s["secret"] == SECRET))
        .unwrap_or(&Value::Null)
}

#[tokio::test]
async fn a_key_in_use_is_adopted_named_while_used_retired_once_unused_and_deleted_later()
-> Result<()> {
    let world = World::start(
        binary(),
        WorldOptions::default()
            .setting("ROTATOR_OLD_KEY", "grace")
            .setting("ROTATOR_GRACE", "3s")
            .setting("ROTATOR_GRACE_MAX", "1h")
            .setting("ROTATOR_USAGE_LAG", "0s")
            .setting("ROTATOR_SECRET_PREFIX", "IamKeyRotator/"),
    )
    .await?;
    let fx = &world.fx;
    fx.create_user(USER).await?;
    // The job's key, made long before the rotator came.
    let (old, old_secret) = fx.create_key(USER).await?;
    fx.create_secret(
        SECRET,
        &format!(r#"{{"UserName":"{USER}","AdoptAccessKeyId":"{old}"}}"#),
        Some("owner@example.com"),
    )
    .await?;
    fx.caller_arn(&world.moto, &old, &old_secret).await?;

    world.rotate_ok(SECRET).await?;
    let new = world
        .key_in(SECRET, "AWSCURRENT")
        .await?
        .expect("the secret's key");
    assert_ne!(new, old);
    assert_eq!(fx.key_status(USER, &old).await?.as_deref(), Some("Active"));

    // Past the grace the job still uses its old key: the sweep names it and leaves it.
    tokio::time::sleep(Duration::from_secs(4)).await;
    fx.caller_arn(&world.moto, &old, &old_secret).await?;
    let summary = fx.sweep(&world.function)?;
    assert_eq!(entry(&summary)["action"], "in-use", "{summary}");
    assert_eq!(entry(&summary)["previousKey"], old.as_str(), "{summary}");
    assert_eq!(fx.key_status(USER, &old).await?.as_deref(), Some("Active"));
    let alerts = world.alerts()?;
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert!(alerts[0].1.contains(&old), "{}", alerts[0].1);

    // The job moved to the secret; once the grace has passed since its last use, the key goes.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let summary = fx.sweep(&world.function)?;
    assert_eq!(entry(&summary)["action"], "deactivated", "{summary}");
    assert_eq!(
        fx.key_status(USER, &old).await?.as_deref(),
        Some("Inactive")
    );

    // The next rotation deletes it to make room.
    world.rotate_ok(SECRET).await?;
    assert_eq!(fx.key_status(USER, &old).await?, None);
    world
        .assert_current_authenticates(rotator_harness::Bound {
            secret: SECRET,
            user: USER,
        })
        .await?;
    world.assert_no_secret_leaked(&[SECRET], &[]).await?;
    Ok(())
}

#[tokio::test]
async fn an_adoption_of_another_users_key_is_refused_with_nothing_changed() -> Result<()> {
    let world = World::start(
        binary(),
        WorldOptions::default().setting("ROTATOR_OLD_KEY", "grace"),
    )
    .await?;
    let fx = &world.fx;
    fx.create_user(USER).await?;
    fx.create_user("someone-else").await?;
    let (theirs, _) = fx.create_key("someone-else").await?;
    fx.create_secret(
        SECRET,
        &format!(r#"{{"UserName":"{USER}","AdoptAccessKeyId":"{theirs}"}}"#),
        None,
    )
    .await?;
    let rotation = world.rotate(SECRET).await?;
    let (step, output) = rotation.failure().expect("refused");
    assert_eq!(step, "createSecret");
    assert!(
        output.contains("AdoptedKeyRefused") && output.contains(&theirs),
        "{output}"
    );
    assert!(fx.keys(USER).await?.is_empty(), "no key was made");
    assert_eq!(world.alerts()?.len(), 1);
    Ok(())
}
