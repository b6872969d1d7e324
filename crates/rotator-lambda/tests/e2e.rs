//! End to end: the built function binary served through the Lambda Runtime API emulator
//! (cargo-lambda), rotating secrets in moto exactly as Secrets Manager drives it.

use std::ops::{Deref, DerefMut};
use std::path::Path;
use std::time::Duration;

use anyhow::Result;
use rotator_harness::{Function, Moto, Rotation, World, WorldOptions, event, new_token};
use serde_json::{Value, json};

const OWNER: &str = "owner@example.com";

fn binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_rotator-lambda"))
}

/// A world (moto, an alert topic, a verified sender and the function) with one user and its
/// secret.
struct Env {
    world: World,
}

impl Deref for Env {
    type Target = World;

    fn deref(&self) -> &World {
        &self.world
    }
}

impl DerefMut for Env {
    fn deref_mut(&mut self) -> &mut World {
        &mut self.world
    }
}

const USER: &str = "alice";
const SECRET: &str = "IamKeyRotator/alice";

impl Env {
    async fn start(old_key: &str) -> Result<Self> {
        let world = World::start(
            binary(),
            WorldOptions::default().setting("ROTATOR_OLD_KEY", old_key),
        )
        .await?;
        world.fx.create_user(USER).await?;
        world
            .fx
            .create_secret(
                SECRET,
                r#"{"UserName":"alice","Team":"payments"}"#,
                Some(OWNER),
            )
            .await?;
        Ok(Self { world })
    }

    async fn rotate(&self) -> Result<Rotation> {
        self.world.rotate(SECRET).await
    }

    async fn rotate_ok(&self) -> Result<Rotation> {
        self.world.rotate_ok(SECRET).await
    }

    async fn current(&self) -> Result<Value> {
        Ok(self
            .fx
            .value(SECRET, "AWSCURRENT")
            .await?
            .expect("AWSCURRENT"))
    }

    async fn key_in(&self, stage: &str) -> Result<Option<String>> {
        self.world.key_in(SECRET, stage).await
    }

    /// The invariants after a completed rotation: AWSCURRENT authenticates as the user, no
    /// AWSPENDING label is left, the extra field survived, the rotator's tags are gone.
    async fn assert_completed(&self) -> Result<()> {
        self.world
            .assert_current_authenticates(rotator_harness::Bound {
                secret: SECRET,
                user: USER,
            })
            .await?;
        assert_eq!(self.current().await?["Team"], "payments");
        let stages = self.fx.stages(SECRET).await?;
        assert!(
            !stages.values().flatten().any(|s| s == "AWSPENDING"),
            "{stages:?}"
        );
        self.fx.ledger_settled(USER).await?;
        Ok(())
    }

    /// Fails if any secret access key ever stored appears in a log line, an alert or an email.
    async fn assert_no_secret_leaked(&self, also: &[String]) -> Result<()> {
        self.world.assert_no_secret_leaked(&[SECRET], also).await
    }
}

#[tokio::test]
async fn first_rotation_creates_a_working_key_and_emails_the_owner() -> Result<()> {
    let env = Env::start("delete").await?;
    let rotation = env.rotate_ok().await?;
    let keys = env.fx.keys(USER).await?;
    assert_eq!(keys.len(), 1, "{keys:?}");
    assert_eq!(keys[0].1, "Active");
    assert_eq!(env.key_in("AWSCURRENT").await?, Some(keys[0].0.clone()));
    let stages = env.fx.stages(SECRET).await?;
    assert_eq!(stages[&rotation.token], ["AWSCURRENT"]);
    assert!(
        stages
            .values()
            .any(|s| s.contains(&"AWSPREVIOUS".to_owned()))
    );
    env.assert_completed().await?;

    let emails = env.moto.ses_emails()?;
    assert_eq!(emails.len(), 1, "{emails:?}");
    let (to, subject, body) = &emails[0];
    assert_eq!(to, &[OWNER.to_owned()]);
    assert!(subject.contains(SECRET), "{subject}");
    assert!(
        body.contains(&keys[0].0) && body.contains("get-secret-value"),
        "{body}"
    );
    assert!(env.alerts()?.is_empty());
    env.assert_no_secret_leaked(&[]).await
}

#[tokio::test]
async fn later_rotations_follow_each_old_key_policy() -> Result<()> {
    // (policy, statuses of the user's keys, oldest first, after the second rotation)
    let table = [
        ("delete", vec!["Active"]),
        ("deactivate", vec!["Inactive", "Active"]),
        ("keep", vec!["Active", "Active"]),
    ];
    for (policy, expected) in table {
        let env = Env::start(policy).await?;
        env.rotate_ok().await?;
        let first = env.key_in("AWSCURRENT").await?.expect("first key");
        env.rotate_ok().await?;
        let keys = env.fx.keys(USER).await?;
        let statuses: Vec<&str> = keys.iter().map(|(_, s)| s.as_str()).collect();
        assert_eq!(statuses, expected, "{policy}: {keys:?}");
        assert_eq!(
            env.key_in("AWSPREVIOUS").await?,
            Some(first.clone()),
            "{policy}"
        );
        assert_eq!(
            keys.last().map(|k| &k.0),
            env.key_in("AWSCURRENT").await?.as_ref()
        );
        env.assert_completed().await?;

        // A third rotation needs room: the oldest key goes, whatever the policy.
        env.rotate_ok().await?;
        let keys = env.fx.keys(USER).await?;
        assert!(
            keys.iter().all(|(id, _)| id != &first),
            "{policy}: {keys:?}"
        );
        assert_eq!(env.moto.ses_emails()?.len(), 3, "{policy}");
        env.assert_no_secret_leaked(&[]).await?;
    }
    Ok(())
}

#[tokio::test]
async fn every_step_delivered_twice_leaves_one_new_key() -> Result<()> {
    let env = Env::start("delete").await?;
    env.rotate_ok().await?;
    let token = new_token();
    env.fx.start_rotation(SECRET, &token).await?;
    for step in rotator_harness::STEPS {
        for delivery in 1..=2 {
            let answer = env.function.invoke(&event(step, SECRET, &token))?;
            assert!(answer.ok, "{step} delivery {delivery}: {}", answer.output);
        }
    }
    assert_eq!(env.fx.keys(USER).await?.len(), 1);
    assert_eq!(env.moto.ses_emails()?.len(), 2, "one email per rotation");
    env.assert_completed().await?;
    env.assert_no_secret_leaked(&[]).await
}

#[tokio::test]
async fn malformed_events_are_refused_and_the_process_keeps_serving() -> Result<()> {
    let mut env = Env::start("delete").await?;
    let token = new_token();
    let cases = [
        (
            json!({"Step": "rotateEverything", "SecretId": SECRET, "ClientRequestToken": token}),
            "unknown Step",
        ),
        (
            json!({"SecretId": SECRET, "ClientRequestToken": token}),
            "missing the field `Step`",
        ),
        (
            json!({"Step": "createSecret", "SecretId": SECRET}),
            "missing the field `ClientRequestToken`",
        ),
        (json!(["createSecret"]), "must be a JSON object"),
        (
            json!({"Step": "createSecret", "SecretId": 42, "ClientRequestToken": token}),
            "`SecretId` must be a string",
        ),
    ];
    for (bad, expected) in cases {
        let answer = env.function.invoke(&bad)?;
        assert!(!answer.ok, "{bad} was accepted");
        assert!(answer.output.contains(expected), "{bad}: {}", answer.output);
        assert!(answer.output.contains("InvalidEvent"), "{}", answer.output);
    }
    // A payload that is not JSON at all is refused by the runtime before the handler runs.
    let answer = env.function.invoke_bytes(b"createSecret please")?;
    assert!(!answer.ok, "{}", answer.output);
    assert!(
        answer
            .output
            .contains("failed to deserialize the incoming data"),
        "{}",
        answer.output
    );
    assert!(env.function.is_running());
    assert!(
        env.fx.keys(USER).await?.is_empty(),
        "a refused event changes nothing"
    );
    assert!(
        env.alerts()?.is_empty(),
        "a malformed event names no secret to alert about"
    );
    env.rotate_ok().await?;
    env.assert_completed().await
}

#[tokio::test]
async fn an_unknown_active_key_blocks_create_secret_with_one_alert_and_no_change() -> Result<()> {
    let env = Env::start("delete").await?;
    env.rotate_ok().await?;
    let (unknown, unknown_secret) = env.fx.create_key(USER).await?;
    let keys_before = env.fx.keys(USER).await?;
    let current_before = env.current().await?;
    let tags_before = env.fx.user_tags(USER).await?;

    let rotation = env.rotate().await?;
    let (step, output) = rotation.failure().expect("createSecret must fail");
    assert_eq!(step, "createSecret");
    assert!(
        output.contains("NoRoomForKey") && output.contains(&unknown),
        "{output}"
    );

    assert_eq!(env.fx.keys(USER).await?, keys_before);
    assert_eq!(env.current().await?, current_before);
    assert!(env.fx.value(SECRET, "AWSPENDING").await?.is_none());
    assert_eq!(
        env.fx.user_tags(USER).await?,
        tags_before,
        "the tags are unchanged"
    );
    let alerts = env.alerts()?;
    assert_eq!(
        alerts.len(),
        1,
        "{alerts:?}\n{}",
        env.function.logs().join("\n")
    );
    let (subject, message) = &alerts[0];
    assert!(subject.contains(SECRET), "{subject}");
    for expected in [
        SECRET,
        USER,
        "createSecret",
        rotation.token.as_str(),
        unknown.as_str(),
        "What to do:",
    ] {
        assert!(
            message.contains(expected),
            "{expected} missing from the alert: {message}"
        );
    }
    env.assert_no_secret_leaked(&[unknown_secret]).await
}

#[tokio::test]
async fn an_abandoned_rotation_leaves_no_key_behind() -> Result<()> {
    let env = Env::start("delete").await?;
    env.rotate_ok().await?;
    let current = env.key_in("AWSCURRENT").await?.expect("key");
    // The service starts a rotation, createSecret runs, then the rotation is abandoned.
    let abandoned = new_token();
    env.fx.start_rotation(SECRET, &abandoned).await?;
    assert!(
        env.function
            .invoke(&event("createSecret", SECRET, &abandoned))?
            .ok
    );
    assert_eq!(env.fx.keys(USER).await?.len(), 2);
    env.fx
        .secrets
        .update_secret_version_stage()
        .secret_id(SECRET)
        .version_stage("AWSPENDING")
        .remove_from_version_id(&abandoned)
        .send()
        .await?;

    env.rotate_ok().await?;
    let keys = env.fx.keys(USER).await?;
    assert_eq!(keys.len(), 1, "the abandoned key was cleaned up: {keys:?}");
    assert_eq!(env.key_in("AWSPREVIOUS").await?, Some(current));
    env.assert_completed().await
}

#[tokio::test]
async fn a_pending_value_with_a_wrong_secret_fails_test_secret_within_its_budget() -> Result<()> {
    let env = Env::start("delete").await?;
    env.rotate_ok().await?;
    let current_before = env.current().await?;
    let token = new_token();
    env.fx.start_rotation(SECRET, &token).await?;
    assert!(
        env.function
            .invoke(&event("createSecret", SECRET, &token))?
            .ok
    );
    // Someone overwrites the pending value with a wrong secret for the new key.
    let mut pending = env.fx.value(SECRET, "AWSPENDING").await?.expect("pending");
    pending["SecretAccessKey"] = json!("wrongwrongwrongwrongwrongwrongwrongwrong");
    env.fx
        .secrets
        .put_secret_value()
        .secret_id(SECRET)
        .secret_string(pending.to_string())
        .version_stages("AWSPENDING")
        .send()
        .await?;
    let pending_version = env
        .fx
        .stages(SECRET)
        .await?
        .into_iter()
        .find(|(_, stages)| stages.contains(&"AWSPENDING".to_owned()))
        .map(|(version, _)| version)
        .expect("a pending version");
    // Secrets Manager would retry with the version that now holds AWSPENDING.
    let answer = env
        .function
        .invoke(&event("testSecret", SECRET, &pending_version))?;
    assert!(!answer.ok);
    assert!(
        answer.output.contains("PendingKeyRejected"),
        "{}",
        answer.output
    );
    assert!(
        answer.elapsed < Duration::from_secs(20),
        "{:?}",
        answer.elapsed
    );
    assert_eq!(env.current().await?, current_before);
    assert_eq!(env.alerts()?.len(), 1);
    env.assert_no_secret_leaked(&["wrongwrongwrongwrongwrongwrongwrongwrong".into()])
        .await
}

#[tokio::test]
async fn a_secret_without_rotation_enabled_is_refused() -> Result<()> {
    let env = Env::start("delete").await?;
    env.fx
        .create_secret("IamKeyRotator/never", r#"{"UserName":"alice"}"#, None)
        .await?;
    let version = env
        .fx
        .stages("IamKeyRotator/never")
        .await?
        .into_keys()
        .next()
        .expect("a version");
    let answer = env
        .function
        .invoke(&event("createSecret", "IamKeyRotator/never", &version))?;
    assert!(!answer.ok);
    assert!(
        answer.output.contains("RotationNotEnabled"),
        "{}",
        answer.output
    );
    assert!(env.fx.keys(USER).await?.is_empty());
    let alerts = env.alerts()?;
    assert_eq!(alerts.len(), 1);
    assert!(
        alerts[0].1.contains("rotation is not enabled"),
        "{}",
        alerts[0].1
    );
    Ok(())
}

#[tokio::test]
async fn an_invalid_setting_stops_start_up_naming_the_variable() -> Result<()> {
    let cases = [
        ("ROTATOR_OLD_KEY", "shred"),
        ("ROTATOR_TEST_TIMEOUT_SECS", "soon"),
        ("ROTATOR_ALERT_TOPIC_ARN", "not-an-arn"),
        ("ROTATOR_SENDER_EMAIL", "nobody"),
        ("ROTATOR_DEFAULT_NOTIFY_EMAIL", "a@example.com,,oops"),
    ];
    let moto = Moto::start().await?;
    for (variable, value) in cases {
        let mut function = Function::start(binary(), &moto, &[(variable, value.to_owned())])?;
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
