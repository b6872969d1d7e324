//! Tests of adoption (contract §10): a key the user already held, which programs use, taken
//! over by the secret and retired as a previous key, on a new secret and on a rotated one that
//! the old key left blocked; and the refusals.

use crate::config::OldKeyPolicy;
use crate::fleet::inspect;
use crate::fleet::status::{State, StatusOptions, evaluate};
use crate::ports::{EpochSecs, KeyStatus, SecretStore};
use crate::rotation::{AWSCURRENT, AWSPREVIOUS, Rotator};
use crate::sweep::{Action, Mode, Sweeper};
use crate::testing::{World, settings};
use crate::types::{SecretId, Step};

const SECRET: &str = "IamKeyRotator/alice";
const USER: &str = "alice";
const HOUR: EpochSecs = 3600;
const DAY: EpochSecs = 24 * HOUR;

fn token(n: u32) -> String {
    format!("ad0b7ed0-0000-4000-8000-{n:012}")
}

async fn state_of(world: &World) -> State {
    let metadata = SecretStore::describe(world, &SecretId::new(SECRET).expect("id"))
        .await
        .expect("described");
    let inspection = inspect(&world.ports(), &metadata).await.expect("inspected");
    evaluate(&inspection, world.state().now, &StatusOptions::default()).state
}

async fn sweep(world: &World) -> crate::sweep::SweepSummary {
    Sweeper::new(world.ports(), settings(OldKeyPolicy::Grace))
        .run(Mode::Retire)
        .await
        .expect("the sweep runs")
}

/// A new secret adopts the key a job uses: the first rotation makes the secret's own key and
/// leaves the adopted one active under `grace`; the sweep names it while the job uses it,
/// retires it once unused for the grace and the lag, and the next rotation deletes it.
#[tokio::test]
async fn a_new_secret_adopts_a_key_in_use_and_retires_it_without_an_outage() {
    let world = World::with_user_and_secret(USER, SECRET, r#"{"UserName":"alice"}"#, "o@e.com");
    let (old, _) = world.add_key(USER, KeyStatus::Active);
    world.put_current(
        SECRET,
        &format!(r#"{{"UserName":"alice","AdoptAccessKeyId":"{old}"}}"#),
    );
    // Not blocked by the adopted key (the secret holds no key of its own yet, which `status`
    // calls broken until the first rotation, as for any new secret).
    assert_ne!(
        state_of(&world).await,
        State::Blocked,
        "the adopted key is known"
    );
    let rotator = Rotator::new(world.ports(), settings(OldKeyPolicy::Grace));
    world
        .rotate_with(&rotator, SECRET, &token(1))
        .await
        .expect("the first rotation");
    let new = world
        .key_in(SECRET, AWSCURRENT)
        .expect("the secret's own key");
    assert_ne!(new, old);
    assert_eq!(
        world.key_status(USER, &old),
        Some(KeyStatus::Active),
        "in its grace"
    );

    // The job still uses the old key past the grace: named, left active.
    world.advance(30 * HOUR);
    world.use_key(&old, "s3");
    let summary = sweep(&world).await;
    assert_eq!(summary.old_keys_in_use, 1, "{summary:?}");
    assert_eq!(
        summary.secrets[0].previous_key.as_deref(),
        Some(old.as_str())
    );
    assert!(world.state().alerts.iter().any(|a| a.body.contains(&old)));
    assert_eq!(world.key_status(USER, &old), Some(KeyStatus::Active));

    // The job moved to the secret: once unused for the grace and the lag, it is retired.
    world.advance(29 * HOUR);
    let summary = sweep(&world).await;
    assert_eq!(summary.old_keys_retired, 1, "{summary:?}");
    assert_eq!(world.key_status(USER, &old), Some(KeyStatus::Inactive));

    // The next rotation deletes it to make room.
    world
        .rotate_with(&rotator, SECRET, &token(2))
        .await
        .expect("the second rotation");
    assert_eq!(world.key_status(USER, &old), None);
    assert_eq!(world.state().users[USER].keys.len(), 2);
}

/// Under `delete`, the first rotation after an adoption deletes the adopted key at once, as it
/// would a previous key.
#[tokio::test]
async fn under_delete_the_first_rotation_deletes_the_adopted_key() {
    let world = World::with_user_and_secret(USER, SECRET, r#"{"UserName":"alice"}"#, "o@e.com");
    let (old, _) = world.add_key(USER, KeyStatus::Active);
    world.put_current(
        SECRET,
        &format!(r#"{{"UserName":"alice","AdoptAccessKeyId":"{old}"}}"#),
    );
    let rotator = Rotator::new(world.ports(), settings(OldKeyPolicy::Delete));
    world
        .rotate_with(&rotator, SECRET, &token(1))
        .await
        .expect("the first rotation");
    assert_eq!(world.key_status(USER, &old), None, "deleted as the old key");
    assert_eq!(world.state().users[USER].keys.len(), 1);
}

/// A secret that already holds its key, blocked by a key made before the rotator came: the
/// adoption unblocks it and counts as the rotation, so the sweep retires the old key once
/// unused, and a rotation before then refuses to delete it.
#[tokio::test]
async fn a_rotated_secret_blocked_by_an_old_key_is_unblocked_by_adopting_it() {
    let world = World::with_user_and_secret(USER, SECRET, r#"{"UserName":"alice"}"#, "o@e.com");
    let rotator = Rotator::new(world.ports(), settings(OldKeyPolicy::Grace));
    world
        .rotate_with(&rotator, SECRET, &token(1))
        .await
        .expect("the first rotation");
    let (old, _) = world.add_key(USER, KeyStatus::Active);
    assert_eq!(state_of(&world).await, State::Blocked);

    let mut value: serde_json::Value =
        serde_json::from_str(&world.current_value(SECRET).expect("a value")).expect("json");
    value["AdoptAccessKeyId"] = old.clone().into();
    world.put_current(SECRET, &value.to_string());
    assert_eq!(state_of(&world).await, State::Ok, "no longer blocked");

    // Within the grace of the adoption, a rotation refuses to delete the adopted key.
    world.use_key(&old, "ec2");
    world.start_rotation(SECRET, &token(2));
    let error = world
        .step_with(&rotator, SECRET, &token(2), Step::CreateSecret)
        .await
        .expect_err("the adopted key is in its grace");
    assert_eq!(error.kind(), "PreviousKeyInGrace", "{error}");
    world.abandon_rotation(SECRET);

    // Unused for the grace and the lag: the sweep retires it; the next rotation deletes it.
    world.advance(29 * HOUR);
    let summary = sweep(&world).await;
    assert_eq!(summary.old_keys_retired, 1, "{summary:?}");
    assert_eq!(world.key_status(USER, &old), Some(KeyStatus::Inactive));
    world
        .rotate_with(&rotator, SECRET, &token(3))
        .await
        .expect("a rotation after the retirement");
    assert_eq!(world.key_status(USER, &old), None);
    assert!(world.key_in(SECRET, AWSPREVIOUS).is_some());
}

/// Past `ROTATOR_GRACE_MAX` an adopted key still in use is deactivated all the same, with an
/// alert.
#[tokio::test]
async fn an_adopted_key_still_in_use_is_deactivated_at_the_hard_limit() {
    let world = World::with_user_and_secret(USER, SECRET, r#"{"UserName":"alice"}"#, "o@e.com");
    let (old, _) = world.add_key(USER, KeyStatus::Active);
    world.put_current(
        SECRET,
        &format!(r#"{{"UserName":"alice","AdoptAccessKeyId":"{old}"}}"#),
    );
    let rotator = Rotator::new(world.ports(), settings(OldKeyPolicy::Grace));
    world
        .rotate_with(&rotator, SECRET, &token(1))
        .await
        .expect("the first rotation");
    world.advance(8 * DAY);
    world.use_key(&old, "s3");
    let summary = sweep(&world).await;
    assert_eq!(
        summary.secrets[0].action,
        Action::DeactivatedPastMax,
        "{summary:?}"
    );
    assert_eq!(world.key_status(USER, &old), Some(KeyStatus::Inactive));
}

/// Every IAM step refuses an adoption of a key that is not the bound user's, or that another
/// secret's rotations made, with an error naming the key, one alert and nothing changed; a
/// malformed id is refused by every step.
#[tokio::test]
async fn adoptions_of_keys_that_are_not_the_secrets_to_take_are_refused() {
    let world = World::with_user_and_secret(USER, SECRET, r#"{"UserName":"alice"}"#, "o@e.com");
    world.add_user("bob");
    let (bobs, _) = world.add_key("bob", KeyStatus::Active);
    world.put_current(
        SECRET,
        &format!(r#"{{"UserName":"alice","AdoptAccessKeyId":"{bobs}"}}"#),
    );
    let rotator = Rotator::new(world.ports(), settings(OldKeyPolicy::Grace));
    world.start_rotation(SECRET, &token(1));
    let before = format!("{:?}", world.state().users);
    let alerts = world.state().alerts.len();
    let error = world
        .step_with(&rotator, SECRET, &token(1), Step::CreateSecret)
        .await
        .expect_err("bob's key is not alice's");
    assert_eq!(error.kind(), "AdoptedKeyRefused", "{error}");
    assert!(error.to_string().contains(&bobs), "{error}");
    assert_eq!(
        format!("{:?}", world.state().users),
        before,
        "nothing changed"
    );
    assert_eq!(world.state().alerts.len(), alerts + 1);

    // Another secret's key: the second secret of alice made it.
    let world = World::with_user_and_secret(USER, SECRET, r#"{"UserName":"alice"}"#, "o@e.com");
    let other = "IamKeyRotator/123456789012/alice";
    world.add_secret(other, r#"{"UserName":"alice"}"#);
    world
        .rotate_with(&rotator_for(&world), other, &token(7))
        .await
        .expect("the other secret's rotation");
    let theirs = world.key_in(other, AWSCURRENT).expect("its key");
    world.put_current(
        SECRET,
        &format!(r#"{{"UserName":"alice","AdoptAccessKeyId":"{theirs}"}}"#),
    );
    world.start_rotation(SECRET, &token(1));
    let error = world
        .step_with(&rotator_for(&world), SECRET, &token(1), Step::CreateSecret)
        .await
        .expect_err("another secret's key");
    assert_eq!(error.kind(), "AdoptedKeyRefused", "{error}");
    assert!(error.to_string().contains("another secret"), "{error}");

    // A malformed id: every step refuses the value, naming the field.
    let world = World::with_user_and_secret(
        USER,
        SECRET,
        r#"{"UserName":"alice","AdoptAccessKeyId":"not a key"}"#,
        "o@e.com",
    );
    world.start_rotation(SECRET, &token(1));
    for step in [Step::CreateSecret, Step::SetSecret] {
        let error = world
            .step_with(&rotator_for(&world), SECRET, &token(1), step)
            .await
            .expect_err("malformed");
        assert_eq!(error.kind(), "InvalidSecretValue", "{step}: {error}");
        assert!(error.to_string().contains("AdoptAccessKeyId"), "{error}");
    }
}

fn rotator_for(world: &World) -> Rotator {
    Rotator::new(world.ports(), settings(OldKeyPolicy::Grace))
}

/// `rotator adopt`'s core: it chooses the user's only unknown active key, refuses when there
/// are several or the named key is not the user's, and writes `AdoptAccessKeyId`; with the
/// key's secret, only a pair that authenticates as the bound user becomes the value.
#[tokio::test]
async fn adopt_chooses_the_only_unknown_key_and_checks_a_given_secret() {
    use crate::accounts::MemberRole;
    use crate::fleet::adopt::{AdoptError, adopt, plan};
    use crate::secret_value::SecretAccessKey;
    use crate::types::{AccessKeyId, ClientRequestToken};

    let world = World::with_user_and_secret(USER, SECRET, r#"{"UserName":"alice"}"#, "o@e.com");
    let (old, old_secret) = world.add_key(USER, KeyStatus::Active);
    let describe = || async {
        SecretStore::describe(&world, &SecretId::new(SECRET).expect("id"))
            .await
            .expect("described")
    };
    let role = MemberRole::default();
    let ports = world.ports();
    let chosen = plan(&ports, &describe().await, &role, "IamKeyRotator/", None)
        .await
        .expect("one candidate");
    assert_eq!(chosen.key.as_str(), old);

    // A wrong secret for the key: refused, nothing written.
    let before = format!("{:?}", world.state().secrets);
    let version = ClientRequestToken::new("adopt-0000000000000000000000000001").expect("token");
    let error = adopt(
        &ports,
        &chosen,
        &version,
        Some(SecretAccessKey::new("wrong")),
    )
    .await
    .expect_err("does not authenticate");
    assert!(matches!(error, AdoptError::Refused { .. }), "{error}");
    assert!(!error.to_string().contains("wrong"), "{error}");
    assert_eq!(format!("{:?}", world.state().secrets), before);

    // The right secret: the pair becomes AWSCURRENT, adopted.
    adopt(
        &ports,
        &chosen,
        &version,
        Some(SecretAccessKey::new(old_secret.as_str())),
    )
    .await
    .expect("adopted with its secret");
    assert_eq!(
        world.key_in(SECRET, AWSCURRENT).as_deref(),
        Some(old.as_str())
    );
    let value: serde_json::Value =
        serde_json::from_str(&world.current_value(SECRET).expect("value")).expect("json");
    assert_eq!(value["AdoptAccessKeyId"], old.as_str());
    world.schedule(SECRET, 90);
    let state = state_of(&world).await;
    assert!(
        !matches!(state, State::Blocked | State::Broken),
        "the adopted pair works and blocks nothing: {state:?}"
    );

    // The first rotation then retires the adopted pair like any previous key.
    let rotator = Rotator::new(world.ports(), settings(OldKeyPolicy::Delete));
    world
        .rotate_with(&rotator, SECRET, &token(1))
        .await
        .expect("rotation after --with-secret");
    assert_eq!(world.key_status(USER, &old), None, "deleted as the old key");

    // Several unknown keys: refused, naming them; a key of another user: refused.
    let world = World::with_user_and_secret(USER, SECRET, r#"{"UserName":"alice"}"#, "o@e.com");
    let (a, _) = world.add_key(USER, KeyStatus::Active);
    let (b, _) = world.add_key(USER, KeyStatus::Active);
    world.add_user("bob");
    let (bobs, _) = world.add_key("bob", KeyStatus::Active);
    let metadata = SecretStore::describe(&world, &SecretId::new(SECRET).expect("id"))
        .await
        .expect("described");
    let error = plan(&world.ports(), &metadata, &role, "IamKeyRotator/", None)
        .await
        .expect_err("two candidates");
    assert!(matches!(error, AdoptError::Several { .. }), "{error}");
    assert!(error.to_string().contains(&a) && error.to_string().contains(&b));
    let bobs = AccessKeyId::new(bobs.as_str()).expect("id");
    let error = plan(
        &world.ports(),
        &metadata,
        &role,
        "IamKeyRotator/",
        Some(&bobs),
    )
    .await
    .expect_err("bob's key");
    assert!(
        error.to_string().contains("not one of user alice's"),
        "{error}"
    );
}
