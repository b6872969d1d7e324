//! Tests of issue 25's promises: no secret retires a key that another secret holds (its ledger,
//! or an adoption in any version of it), nor one that was AWSCURRENT minutes ago (a finish that
//! stopped after the move); a vanished adopted key no longer blocks; a key whose record a
//! person removed is named with its fix.

use crate::config::OldKeyPolicy;
use crate::ports::{EpochSecs, KeyStatus};
use crate::rotation::{AWSCURRENT, AWSPENDING, AWSPREVIOUS, Rotator};
use crate::sweep::{Mode, Sweeper};
use crate::testing::{Fault, World, settings};
use crate::types::Step;

const SECRET: &str = "IamKeyRotator/alice";
/// The same user's secret in the own-account form (contract §3), another secret of alice.
const SIBLING: &str = "IamKeyRotator/123456789012/alice";
const USER: &str = "alice";
const HOUR: EpochSecs = 3600;
const DAY: EpochSecs = 24 * HOUR;

fn token(n: u32) -> String {
    format!("401de250-0000-4000-8000-{n:012}")
}

async fn sweep(world: &World) -> crate::sweep::SweepSummary {
    Sweeper::new(world.ports(), settings(OldKeyPolicy::Grace))
        .run(Mode::Retire)
        .await
        .expect("the sweep runs")
}

fn adopt(key: &str) -> String {
    format!(r#"{{"UserName":"alice","AdoptAccessKeyId":"{key}"}}"#)
}

/// Point 1: key F was made by the sibling secret's rotation. A writer of A's value stores an
/// adoption of F, then the working value again, so that the adoption sits in AWSPREVIOUS. A's
/// next rotation must not make room by deleting F: it is the sibling's.
#[tokio::test]
async fn an_adoption_in_awsprevious_never_makes_room_with_another_secrets_key() {
    let world = World::with_user_and_secret(USER, SIBLING, r#"{"UserName":"alice"}"#, "o@e.com");
    world.add_secret(SECRET, r#"{"UserName":"alice"}"#);
    let rotator = Rotator::new(world.ports(), settings(OldKeyPolicy::Delete));
    world
        .rotate_with(&rotator, SIBLING, &token(1))
        .await
        .expect("the sibling's rotation");
    let siblings = world
        .key_in(SIBLING, AWSCURRENT)
        .expect("the sibling's key");
    world
        .rotate_with(&rotator, SECRET, &token(2))
        .await
        .expect("A's first rotation");
    let working = world.current_value(SECRET).expect("A's value");
    world.put_current(SECRET, &adopt(&siblings));
    world.put_current(SECRET, &working);
    let error = world
        .rotate_with(&rotator, SECRET, &token(3))
        .await
        .expect_err("no room but the sibling's key");
    assert_eq!(error.kind(), "NoRoomForKey", "{error}");
    assert_eq!(world.key_status(USER, &siblings), Some(KeyStatus::Active));
}

/// Point 2: a key that one secret adopted is recorded in its ledger, so no other secret can
/// adopt it: the other's rotation refuses the value, naming the key, and changes nothing.
#[tokio::test]
async fn a_key_adopted_by_one_secret_cannot_be_adopted_by_another() {
    let world = World::with_user_and_secret(USER, SIBLING, r#"{"UserName":"alice"}"#, "o@e.com");
    world.add_secret(SECRET, r#"{"UserName":"alice"}"#);
    let (used, _) = world.add_key(USER, KeyStatus::Active);
    world.put_current(SIBLING, &adopt(&used));
    let rotator = Rotator::new(world.ports(), settings(OldKeyPolicy::Delete));
    // The sibling's first rotation records the adoption, then (under `delete`) retires it.
    // Its createSecret alone records it: stop there, the adoption still stands.
    world.start_rotation(SIBLING, &token(1));
    world
        .step_with(&rotator, SIBLING, &token(1), Step::CreateSecret)
        .await
        .expect("the sibling's createSecret");
    let tags = world.state().users[USER].tags.clone();
    assert!(
        tags.get(&format!("rotator:key:{used}"))
            .is_some_and(|v| v.ends_with("/adopted")),
        "the adoption is recorded: {tags:?}"
    );
    world.put_current(SECRET, &adopt(&used));
    world.start_rotation(SECRET, &token(2));
    let error = world
        .step_with(&rotator, SECRET, &token(2), Step::CreateSecret)
        .await
        .expect_err("the key is the sibling's");
    assert_eq!(error.kind(), "AdoptedKeyRefused", "{error}");
    assert!(error.to_string().contains(&used), "{error}");
    assert_eq!(world.key_status(USER, &used), Some(KeyStatus::Active));
}

/// Point 3: finishSecret moved AWSCURRENT, then failed (a throttled UntagUser); AWSPENDING
/// stays on the current version. AWS stamps `LastRotatedDate` only when a rotation completes,
/// so it is still the last completed rotation's, days old. The sweep must not deactivate the
/// key that programs used until the move minutes ago.
#[tokio::test]
async fn the_sweep_retires_nothing_while_a_finish_is_incomplete() {
    let world = World::with_user_and_secret(USER, SECRET, r#"{"UserName":"alice"}"#, "o@e.com");
    let rotator = Rotator::new(world.ports(), settings(OldKeyPolicy::Grace));
    world
        .rotate_with(&rotator, SECRET, &token(1))
        .await
        .expect("the first rotation");
    let first = world.key_in(SECRET, AWSCURRENT).expect("a key");
    world.advance(30 * DAY);
    world.start_rotation(SECRET, &token(2));
    for step in [Step::CreateSecret, Step::SetSecret, Step::TestSecret] {
        world
            .step_with(&rotator, SECRET, &token(2), step)
            .await
            .expect("the step");
    }
    // Secrets Manager tries the rotation again a week and a day later (its first finish
    // failed): the new version, created by createSecret, is now eight days old.
    world.advance(8 * DAY);
    world.inject(
        "iam:UntagUser",
        Fault::Fail(crate::ports::PortErrorKind::Throttled),
    );
    world
        .step_with(&rotator, SECRET, &token(2), Step::FinishSecret)
        .await
        .expect_err("the finish stops after the move");
    {
        let state = world.state();
        let secret = &state.secrets[SECRET];
        let (current, _) = secret.version_with(AWSCURRENT).expect("current");
        let (pending, _) = secret.version_with(AWSPENDING).expect("pending");
        assert_eq!(current, pending, "the finish is incomplete");
    }
    assert_eq!(
        world.key_in(SECRET, AWSPREVIOUS).as_deref(),
        Some(first.as_str())
    );
    world.use_key(&first, "s3");
    world.advance(HOUR);
    let summary = sweep(&world).await;
    assert_eq!(summary.old_keys_retired, 0, "{summary:?}");
    assert_eq!(world.key_status(USER, &first), Some(KeyStatus::Active));
    // The redelivered finish completes the rotation; its grace then runs from now.
    world
        .step_with(&rotator, SECRET, &token(2), Step::FinishSecret)
        .await
        .expect("the redelivered finish");
    let summary = sweep(&world).await;
    assert_eq!(summary.old_keys_retired, 0, "{summary:?}");
    assert_eq!(world.key_status(USER, &first), Some(KeyStatus::Active));
}

/// The world stamps `LastRotatedDate` when a rotation completes, as AWS does, not when
/// AWSCURRENT moves.
#[tokio::test]
async fn last_rotated_date_is_stamped_when_the_rotation_completes() {
    let world = World::with_user_and_secret(USER, SECRET, r#"{"UserName":"alice"}"#, "o@e.com");
    let rotator = Rotator::new(world.ports(), settings(OldKeyPolicy::Grace));
    world.start_rotation(SECRET, &token(1));
    for step in [Step::CreateSecret, Step::SetSecret, Step::TestSecret] {
        world
            .step_with(&rotator, SECRET, &token(1), step)
            .await
            .expect("the step");
    }
    world.inject(
        "iam:UntagUser",
        Fault::Fail(crate::ports::PortErrorKind::Throttled),
    );
    let _ = world
        .step_with(&rotator, SECRET, &token(1), Step::FinishSecret)
        .await;
    assert_eq!(world.state().secrets[SECRET].last_rotated, None);
    world.advance(60);
    world
        .step_with(&rotator, SECRET, &token(1), Step::FinishSecret)
        .await
        .expect("the redelivered finish");
    let now = world.state().now;
    assert_eq!(world.state().secrets[SECRET].last_rotated, Some(now));
}

/// Point 5: an adopted key that a person deleted (it leaked) no longer blocks the rotation
/// that the leak needs: the adoption is dropped, and the success email says so.
#[tokio::test]
async fn a_deleted_adopted_key_is_dropped_and_the_rotation_runs() {
    let world = World::with_user_and_secret(USER, SECRET, r#"{"UserName":"alice"}"#, "o@e.com");
    let (leaked, _) = world.add_key(USER, KeyStatus::Active);
    world.put_current(SECRET, &adopt(&leaked));
    world
        .state()
        .users
        .get_mut(USER)
        .expect("alice")
        .keys
        .retain(|k| k.id != leaked);
    let rotator = Rotator::new(world.ports(), settings(OldKeyPolicy::Grace));
    world
        .rotate_with(&rotator, SECRET, &token(1))
        .await
        .expect("the rotation runs");
    let value = world.current_value(SECRET).expect("a value");
    assert!(!value.contains("AdoptAccessKeyId"), "dropped: {value}");
    let emails = world.state().emails.clone();
    let last = emails.last().expect("the success email");
    assert!(
        format!("{last:?}").contains(&leaked) && format!("{last:?}").contains("dropped"),
        "{last:?}"
    );
}

/// Point 5's other half: a key that exists but is another user's stays refused.
#[tokio::test]
async fn an_adopted_key_of_another_user_stays_refused() {
    let world = World::with_user_and_secret(USER, SECRET, r#"{"UserName":"alice"}"#, "o@e.com");
    world.add_user("bob");
    let (bobs, _) = world.add_key("bob", KeyStatus::Active);
    world.put_current(SECRET, &adopt(&bobs));
    let rotator = Rotator::new(world.ports(), settings(OldKeyPolicy::Grace));
    let error = world
        .rotate_with(&rotator, SECRET, &token(1))
        .await
        .expect_err("bob's key");
    assert_eq!(error.kind(), "AdoptedKeyRefused", "{error}");
    assert!(error.to_string().contains("bob"), "{error}");
}

/// Point 8: a person removed the record of the key now in AWSPREVIOUS. The next rotation that
/// needs its room fails naming the key, the removed record and `rotator adopt SECRET --key ID`,
/// and leaves it active.
#[tokio::test]
async fn a_previous_key_whose_record_was_removed_is_named_with_its_fix() {
    let world = World::with_user_and_secret(USER, SECRET, r#"{"UserName":"alice"}"#, "o@e.com");
    let rotator = Rotator::new(world.ports(), settings(OldKeyPolicy::Keep));
    for n in 1..=2 {
        world
            .rotate_with(&rotator, SECRET, &token(n))
            .await
            .expect("a rotation");
    }
    let previous = world.key_in(SECRET, AWSPREVIOUS).expect("a previous key");
    world.remove_record(USER, &previous);
    let error = world
        .rotate_with(&rotator, SECRET, &token(3))
        .await
        .expect_err("no room");
    let message = error.to_string();
    assert!(message.contains(&previous), "{message}");
    assert!(message.contains("record"), "{message}");
    assert!(
        message.contains(&format!("rotator adopt {SECRET} --key {previous}")),
        "{message}"
    );
    assert_eq!(world.key_status(USER, &previous), Some(KeyStatus::Active));
}

/// Point 8, at the finish: under `delete`, the rotation after the record's removal used to
/// leave the key active without a word. It still leaves it (the value's word alone retires
/// nothing), and says so once: one alert naming the key and `rotator adopt SECRET --key ID`.
#[tokio::test]
async fn a_finish_leaves_a_key_whose_record_was_removed_and_says_so_once() {
    let world = World::with_user_and_secret(USER, SECRET, r#"{"UserName":"alice"}"#, "o@e.com");
    let rotator = Rotator::new(world.ports(), settings(OldKeyPolicy::Delete));
    world
        .rotate_with(&rotator, SECRET, &token(1))
        .await
        .expect("the first rotation");
    let first = world.key_in(SECRET, AWSCURRENT).expect("a key");
    world.remove_record(USER, &first);
    let alerts = world.state().alerts.len();
    world
        .rotate_with(&rotator, SECRET, &token(2))
        .await
        .expect("the rotation completes");
    assert_eq!(world.key_status(USER, &first), Some(KeyStatus::Active));
    let state = world.state();
    assert_eq!(state.alerts.len(), alerts + 1, "one alert");
    let alert = format!("{:?}", state.alerts.last().expect("the alert"));
    assert!(alert.contains(&first), "{alert}");
    assert!(
        alert.contains(&format!("rotator adopt {SECRET} --key {first}")),
        "{alert}"
    );
}

/// Point 8 in `rotator status`: the secret is blocked, its reason names the key and the
/// command that hands it back.
#[tokio::test]
async fn status_names_a_previous_key_whose_record_was_removed() {
    use crate::fleet::inspect;
    use crate::fleet::status::{State, StatusOptions, evaluate};
    use crate::ports::SecretStore;
    use crate::types::SecretId;
    let world = World::with_user_and_secret(USER, SECRET, r#"{"UserName":"alice"}"#, "o@e.com");
    let rotator = Rotator::new(world.ports(), settings(OldKeyPolicy::Keep));
    for n in 1..=2 {
        world
            .rotate_with(&rotator, SECRET, &token(n))
            .await
            .expect("a rotation");
    }
    let previous = world.key_in(SECRET, AWSPREVIOUS).expect("a previous key");
    let row = || async {
        let metadata = SecretStore::describe(&world, &SecretId::new(SECRET).expect("id"))
            .await
            .expect("described");
        let inspection = inspect(&world.ports(), &metadata).await.expect("inspected");
        evaluate(&inspection, world.state().now, &StatusOptions::default())
    };
    assert_ne!(row().await.state, State::Blocked);
    world.remove_record(USER, &previous);
    let row = row().await;
    assert_eq!(row.state, State::Blocked, "{row:?}");
    assert!(
        row.reasons
            .iter()
            .any(|r| r.contains(&format!("rotator adopt {SECRET} --key {previous}"))),
        "{row:?}"
    );
}
