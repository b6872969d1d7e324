//! End to end across accounts: the built function, in moto's default account, rotating the key
//! of a user in a member account through the member role (contract §3).
//!
//! moto differs from AWS here: it lets anyone assume any role ARN (it checks neither that the
//! role exists, nor its trust policy, nor the external id), and only authorizes the assumed
//! role's later calls by its policies. A role that AWS refuses to let the function assume is
//! therefore played by the fault proxy refusing `sts:AssumeRole` with AWS's `AccessDenied`.

use std::path::Path;

use anyhow::{Result, ensure};
use rotator_harness::{Bound, Fault, Fixture, Invocation, Rule, World, WorldOptions, new_token};
use serde_json::json;

const MEMBER: &str = "111122223333";
const THIRD: &str = "444455556666";
const ROLE: &str = "IamKeyRotatorMember";
const OWNER: &str = "owner@example.com";

fn binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_rotator-lambda"))
}

/// A world whose function may act in `MEMBER`, with an `alice` in both accounts.
async fn start(options: WorldOptions) -> Result<(World, Fixture)> {
    let world = World::start(
        binary(),
        options.setting("ROTATOR_MEMBER_EXTERNAL_ID", "org-7f3a"),
    )
    .await?;
    world.moto.create_member_role(MEMBER, ROLE).await?;
    let member = Fixture::in_member_account(&world.moto, MEMBER, ROLE).await?;
    member.create_user("alice").await?;
    world.fx.create_user("alice").await?;
    Ok((world, member))
}

/// Starts a rotation and delivers its createSecret straight to the function.
async fn create_secret(world: &World, secret: &str) -> Result<Invocation> {
    let token = new_token();
    world.fx.start_rotation(secret, &token).await?;
    world.invoke("createSecret", secret, &token)
}

fn member_value(user: &str, account: &str) -> String {
    json!({"UserName": user, "AccountId": account}).to_string()
}

#[tokio::test]
async fn a_central_secret_rotates_a_member_accounts_user_and_the_same_name_in_the_central_account_stays_apart()
-> Result<()> {
    let (world, member) = start(WorldOptions::default()).await?;
    let remote = "IamKeyRotator/111122223333/alice";
    let local = "IamKeyRotator/alice";
    world
        .fx
        .create_secret(remote, &member_value("alice", MEMBER), Some(OWNER))
        .await?;
    world
        .fx
        .create_secret(local, r#"{"UserName":"alice"}"#, Some(OWNER))
        .await?;

    for _ in 0..2 {
        world.rotate_ok(remote).await?;
        world.rotate_ok(local).await?;
    }

    let remote_key = world.key_in(remote, "AWSCURRENT").await?.expect("a key");
    let local_key = world.key_in(local, "AWSCURRENT").await?.expect("a key");
    let member_keys: Vec<String> = member
        .keys("alice")
        .await?
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    let central_keys: Vec<String> = world
        .fx
        .keys("alice")
        .await?
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    ensure!(
        member_keys == [remote_key.clone()],
        "member alice: {member_keys:?}"
    );
    ensure!(
        central_keys == [local_key.clone()],
        "central alice: {central_keys:?}"
    );
    ensure!(
        member.ledger_settled("alice").await?.len() == 1,
        "the member ledger closed: only the record of the key the secret holds"
    );

    let value = world.value(remote, "AWSCURRENT").await?.expect("a value");
    ensure!(value["AccountId"] == MEMBER, "{value}");
    let arn = world
        .fx
        .caller_arn(
            &world.moto,
            &remote_key,
            value["SecretAccessKey"].as_str().unwrap_or_default(),
        )
        .await?;
    ensure!(arn == format!("arn:aws:iam::{MEMBER}:user/alice"), "{arn}");
    world
        .assert_current_authenticates(Bound {
            secret: local,
            user: "alice",
        })
        .await?;
    let operations = world.function.aws_operations();
    ensure!(operations.contains("sts:AssumeRole"), "{operations:?}");
    world.assert_no_secret_leaked(&[remote, local], &[]).await?;
    Ok(())
}

#[tokio::test]
async fn a_value_naming_a_third_account_is_refused_and_changes_nothing() -> Result<()> {
    let (world, member) = start(WorldOptions::default()).await?;
    let secret = "IamKeyRotator/111122223333/alice";
    world
        .fx
        .create_secret(secret, &member_value("alice", THIRD), Some(OWNER))
        .await?;

    let answer = create_secret(&world, secret).await?;
    ensure!(
        answer.error_type().as_deref() == Some("SecretNotBoundToAccount"),
        "{}",
        answer.output
    );
    let message = answer.error_message();
    ensure!(
        message.contains(MEMBER) && message.contains(THIRD),
        "{message}"
    );
    ensure!(member.keys("alice").await?.is_empty());
    ensure!(world.fx.keys("alice").await?.is_empty());
    ensure!(member.user_tags("alice").await?.is_empty());
    let operations = world.function.aws_operations();
    ensure!(
        !operations
            .iter()
            .any(|op| op.starts_with("iam:") || op == "sts:AssumeRole"),
        "no IAM call and no role assumed: {operations:?}"
    );
    ensure!(world.alerts()?.len() == 1, "one alert");
    Ok(())
}

#[tokio::test]
async fn a_role_that_cannot_be_assumed_fails_naming_the_role_and_the_account() -> Result<()> {
    let (world, member) = start(WorldOptions::default().through_proxy()).await?;
    let secret = "IamKeyRotator/111122223333/alice";
    world
        .fx
        .create_secret(secret, &member_value("alice", MEMBER), Some(OWNER))
        .await?;
    world.proxy().set_rules(&[Rule::always(
        "sts:AssumeRole",
        Fault::refuse(403, "AccessDenied"),
    )])?;

    let answer = create_secret(&world, secret).await?;
    ensure!(
        answer.error_type().as_deref() == Some("MemberRoleNotAssumable"),
        "{}",
        answer.output
    );
    let message = answer.error_message();
    ensure!(
        message.contains(&format!("arn:aws:iam::{MEMBER}:role/{ROLE}"))
            && message.contains(&format!("account {MEMBER}")),
        "{message}"
    );
    ensure!(member.keys("alice").await?.is_empty());
    ensure!(member.user_tags("alice").await?.is_empty());
    let value = world.value(secret, "AWSCURRENT").await?.expect("a value");
    ensure!(
        value == json!({"UserName": "alice", "AccountId": MEMBER}),
        "{value}"
    );
    let alerts = world.alerts()?;
    ensure!(alerts.len() == 1, "{alerts:?}");
    ensure!(alerts[0].1.contains(ROLE), "{}", alerts[0].1);
    Ok(())
}
