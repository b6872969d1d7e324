//! Scenario tests for users of other accounts (contract §3): the account in the name binding,
//! IAM through the member role, a role that cannot be assumed, and two accounts that both have
//! a user of the same name.

use crate::StepError;
use crate::config::{OldKeyPolicy, Settings};
use crate::ports::{CredentialCheck, KeyStatus};
use crate::rotation::{AWSCURRENT, Rotator};
use crate::secret_value::{SecretString, SecretValue};
use crate::testing::{World, settings};
use crate::types::{ClientRequestToken, RotationEvent, SecretId, Step};

const MEMBER: &str = "111122223333";
const THIRD: &str = "444455556666";
const SECRET: &str = "IamKeyRotator/111122223333/alice";
const LOCAL_SECRET: &str = "IamKeyRotator/alice";

fn token(n: u32) -> String {
    format!("7c1e0f42-0000-4000-8000-{n:012}")
}

fn event(secret: &str, step: Step, token: &str) -> RotationEvent {
    RotationEvent {
        step,
        secret_id: SecretId::new(secret).expect("id"),
        token: ClientRequestToken::new(token).expect("token"),
        rotation_token: None,
    }
}

async fn rotate(
    world: &World,
    rotator: &Rotator,
    secret: &str,
    token: &str,
) -> Result<(), StepError> {
    world.start_rotation(secret, token);
    for step in Step::ALL {
        world.restart();
        rotator.handle(&event(secret, step, token)).await?;
    }
    Ok(())
}

fn current_value(world: &World, secret: &str) -> SecretValue {
    let text = world.current_value(secret).expect("a current value");
    SecretValue::parse(&SecretString::new(text)).expect("valid")
}

fn key_ids(world: &World, user: &str) -> Vec<String> {
    world.state().users[user]
        .keys
        .iter()
        .map(|k| k.id.clone())
        .collect()
}

/// The central account with its own alice, and a member account with another alice.
fn two_alices(external_id: Option<&str>) -> (World, World) {
    let central = World::new();
    central.add_user("alice");
    let member = central.add_member_account(MEMBER, external_id);
    member.add_user("alice");
    (central, member)
}

fn settings_with_external_id(external_id: Option<&str>) -> Settings {
    let mut settings = settings(OldKeyPolicy::Delete);
    settings.member_role.external_id = external_id.map(str::to_owned);
    settings
}

#[tokio::test]
async fn a_member_accounts_user_rotates_through_the_member_role_and_the_central_alice_is_untouched()
{
    let (central, member) = two_alices(Some("org-7f3a"));
    let (central_key, _) = central.add_key("alice", KeyStatus::Active);
    central.add_secret(
        SECRET,
        &format!(r#"{{"UserName":"alice","AccountId":"{MEMBER}"}}"#),
    );
    let rotator = Rotator::new(central.ports(), settings_with_external_id(Some("org-7f3a")));

    rotate(&central, &rotator, SECRET, &token(1))
        .await
        .expect("first rotation");
    rotate(&central, &rotator, SECRET, &token(2))
        .await
        .expect("second rotation");

    let value = current_value(&central, SECRET);
    assert_eq!(value.account.as_ref().map(|a| a.as_str()), Some(MEMBER));
    let current = value.access_key_id().expect("a key").as_str().to_owned();
    assert_eq!(
        key_ids(&member, "alice"),
        std::slice::from_ref(&current),
        "only the new key stays"
    );
    assert_eq!(
        key_ids(&central, "alice"),
        [central_key],
        "the central alice is another user"
    );
    assert_eq!(
        member.state().users["alice"]
            .tags
            .keys()
            .cloned()
            .collect::<Vec<_>>(),
        [format!("rotator:key:{current}")],
        "the ledger closed in the member account: only the record of the key the secret holds"
    );
    let pair = value.key.expect("a key pair");
    let arn = central.caller_arn(&pair).await.expect("authenticates");
    assert_eq!(arn, format!("arn:aws:iam::{MEMBER}:user/alice"));
    let calls = central.state().calls.clone();
    assert!(calls.contains(&"sts:AssumeRole"), "{calls:?}");
}

#[tokio::test]
async fn a_value_naming_another_account_is_refused_by_every_step_before_any_iam_call() {
    let (central, member) = two_alices(None);
    member.add_user("alice");
    for (secret, value, bound, named) in [
        (
            SECRET,
            format!(r#"{{"UserName":"alice","AccountId":"{THIRD}"}}"#),
            MEMBER.to_owned(),
            THIRD.to_owned(),
        ),
        (
            SECRET,
            r#"{"UserName":"alice"}"#.to_owned(),
            MEMBER.to_owned(),
            "123456789012 (the function's own)".to_owned(),
        ),
        (
            LOCAL_SECRET,
            format!(r#"{{"UserName":"alice","AccountId":"{MEMBER}"}}"#),
            "123456789012 (the function's own)".to_owned(),
            MEMBER.to_owned(),
        ),
    ] {
        central.add_secret(secret, &value);
        let rotator = Rotator::new(central.ports(), settings(OldKeyPolicy::Delete));
        let token = token(3);
        central.start_rotation(secret, &token);
        // The same hostile value as AWSPENDING too, so that testSecret has one to refuse.
        central.overwrite_pending(secret, &token, &value);
        for step in Step::ALL {
            central.restart();
            let calls_before = central.state().calls.len();
            let alerts_before = central.state().alerts.len();
            let failure = rotator
                .handle(&event(secret, step, &token))
                .await
                .expect_err("refused");
            assert_eq!(
                failure.kind(),
                "SecretNotBoundToAccount",
                "{step}: {failure}"
            );
            let message = failure.to_string();
            assert!(
                message.contains(&bound) && message.contains(&named),
                "{message}"
            );
            let state = central.state();
            assert_eq!(
                state.alerts.len(),
                alerts_before + 1,
                "one alert per refusal"
            );
            let iam_calls: Vec<_> = state.calls[calls_before..]
                .iter()
                .filter(|c| c.starts_with("iam:"))
                .collect();
            assert!(iam_calls.is_empty(), "{step}: {iam_calls:?}");
        }
        assert!(central.state().users["alice"].keys.is_empty());
        assert!(member.state().users["alice"].keys.is_empty());
        central.state().secrets.remove(secret);
    }
}

#[tokio::test]
async fn a_role_that_cannot_be_assumed_fails_the_step_naming_role_and_account_and_changes_nothing()
{
    // The member role trusts the function only with an external id; the function has none.
    let (central, member) = two_alices(Some("org-7f3a"));
    central.add_secret(
        SECRET,
        &format!(r#"{{"UserName":"alice","AccountId":"{MEMBER}"}}"#),
    );
    let rotator = Rotator::new(central.ports(), settings(OldKeyPolicy::Delete));
    central.start_rotation(SECRET, &token(4));
    let failure = rotator
        .handle(&event(SECRET, Step::CreateSecret, &token(4)))
        .await
        .expect_err("no role");
    assert_eq!(failure.kind(), "MemberRoleNotAssumable");
    let message = failure.to_string();
    assert!(
        message.contains(&format!("arn:aws:iam::{MEMBER}:role/IamKeyRotatorMember"))
            && message.contains(&format!("account {MEMBER}")),
        "{message}"
    );
    assert_eq!(central.state().alerts.len(), 1);
    assert!(member.state().users["alice"].keys.is_empty());
    assert!(member.state().users["alice"].tags.is_empty());
    assert!(central.state().users["alice"].tags.is_empty());
    let stages = &central.state().secrets[SECRET];
    assert!(
        stages
            .version_with(AWSCURRENT)
            .is_some_and(|(_, v)| v.value.is_some())
    );
}

#[tokio::test]
async fn the_pending_key_must_authenticate_in_the_bound_account() {
    // A central secret for the member's alice whose pending value holds a key of the central
    // alice: testSecret authenticates it, but as a user of another account.
    let (central, _member) = two_alices(None);
    let (id, secret) = central.add_key("alice", KeyStatus::Active);
    central.add_secret(
        SECRET,
        &format!(r#"{{"UserName":"alice","AccountId":"{MEMBER}"}}"#),
    );
    central.start_rotation(SECRET, &token(5));
    central.overwrite_pending(
        SECRET,
        &token(5),
        &format!(
            r#"{{"UserName":"alice","AccountId":"{MEMBER}","AccessKeyId":"{id}","SecretAccessKey":"{secret}"}}"#
        ),
    );
    let rotator = Rotator::new(central.ports(), settings(OldKeyPolicy::Delete));
    let failure = rotator
        .handle(&event(SECRET, Step::TestSecret, &token(5)))
        .await
        .expect_err("wrong account");
    assert_eq!(failure.kind(), "WrongIdentity", "{failure}");
    assert!(
        failure
            .to_string()
            .contains("arn:aws:iam::123456789012:user/alice")
    );
}
