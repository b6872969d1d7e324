//! Tests of the promises that the `grace` policy and the sweep make under hostile or unlucky
//! sequences (issue 16): an early rotation, a broken AWSCURRENT, names of other shapes, stale
//! key descriptions, hand-written values, a stuck rotation, and the invocation's deadline.

use crate::config::OldKeyPolicy;
use crate::ports::{EpochSecs, KeyStatus};
use crate::rotation::{AWSCURRENT, AWSPREVIOUS, Rotator};
use crate::sweep::{Action, Mode, Sweeper};
use crate::testing::{World, settings};
use crate::types::Step;

const SECRET: &str = "IamKeyRotator/alice";
const USER: &str = "alice";
const HOUR: EpochSecs = 3600;
const DAY: EpochSecs = 24 * HOUR;

fn token(n: u32) -> String {
    format!("5ea1ed00-0000-4000-8000-{n:012}")
}

/// A world with alice's secret rotated twice under `grace` (defaults: grace 24 h, lag 4 h,
/// hard limit 7 d): AWSCURRENT holds the second key, AWSPREVIOUS the first, still active.
async fn rotated_twice() -> (World, Rotator) {
    let world =
        World::with_user_and_secret(USER, SECRET, r#"{"UserName":"alice"}"#, "owner@example.com");
    let rotator = Rotator::new(world.ports(), settings(OldKeyPolicy::Grace));
    for n in 1..=2 {
        world
            .rotate_with(&rotator, SECRET, &token(n))
            .await
            .expect("a grace rotation");
        world.advance(60);
    }
    (world, rotator)
}

fn fingerprint(world: &World) -> String {
    let state = world.state();
    format!("{:?} {:?}", state.users, state.secrets)
}

async fn sweep(world: &World) -> crate::sweep::SweepSummary {
    Sweeper::new(world.ports(), settings(OldKeyPolicy::Grace))
        .run(Mode::Retire)
        .await
        .expect("the sweep runs")
}

/// Runs the sweep and checks that it retired `key` (deactivated it, the only key it retired)
/// or left it active.
async fn sweep_retires(world: &World, key: &str, retired: bool) {
    let summary = sweep(world).await;
    assert_eq!(
        summary.old_keys_retired,
        usize::from(retired),
        "{summary:?}"
    );
    let status = if retired {
        KeyStatus::Inactive
    } else {
        KeyStatus::Active
    };
    assert_eq!(world.key_status(USER, key), Some(status));
}

/// Point 1: a rotation started within the grace (by hand, or by a schedule change) would have
/// deleted the previous key that programs still use. It fails instead, naming the key and its
/// last use, with one alert and nothing changed; once the sweep would retire the key, or it is
/// inactive, the rotation goes through.
#[tokio::test]
async fn an_early_rotation_never_deletes_a_previous_key_still_in_its_grace() {
    let (world, rotator) = rotated_twice().await;
    let previous = world.key_in(SECRET, AWSPREVIOUS).expect("a previous key");
    world.use_key(&previous, "s3");
    world.start_rotation(SECRET, &token(3));
    let before = fingerprint(&world);
    let alerts = world.state().alerts.len();
    let error = world
        .step_with(&rotator, SECRET, &token(3), Step::CreateSecret)
        .await
        .expect_err("the previous key is in its grace");
    assert_eq!(error.kind(), "PreviousKeyInGrace", "{error}");
    let message = error.to_string();
    assert!(message.contains(&previous), "{message}");
    assert!(message.contains("s3"), "names the last use: {message}");
    assert_eq!(fingerprint(&world), before, "nothing changed");
    assert_eq!(world.state().alerts.len(), alerts + 1, "one alert");
    assert_eq!(world.key_status(USER, &previous), Some(KeyStatus::Active));

    // Still in use a day later: still refused (the sweep would only name it).
    world.advance(DAY + 5 * HOUR);
    world.use_key(&previous, "s3");
    let error = world
        .step_with(&rotator, SECRET, &token(3), Step::CreateSecret)
        .await
        .expect_err("still in use");
    assert_eq!(error.kind(), "PreviousKeyInGrace", "{error}");

    // Unused for the grace and the lag: the rotation may take it.
    world.advance(29 * HOUR);
    world
        .step_with(&rotator, SECRET, &token(3), Step::CreateSecret)
        .await
        .expect("the previous key may go now");
    assert_eq!(
        world.key_status(USER, &previous),
        None,
        "deleted to make room"
    );
}

/// Point 1, the emergency: an inactive previous key makes room as usual, however early.
#[tokio::test]
async fn an_inactive_previous_key_makes_room_at_once() {
    let (world, rotator) = rotated_twice().await;
    let previous = world.key_in(SECRET, AWSPREVIOUS).expect("a previous key");
    world
        .state()
        .users
        .get_mut(USER)
        .expect("alice")
        .keys
        .iter_mut()
        .find(|k| k.id == previous)
        .expect("the key")
        .status = KeyStatus::Inactive;
    world
        .rotate_with(&rotator, SECRET, &token(3))
        .await
        .expect("an inactive previous key makes room");
    assert_eq!(world.key_status(USER, &previous), None);
}

/// Point 2: with the AWSCURRENT key inactive (or gone), the previous key may be the programs'
/// only working key: the sweep never retires it, even past the hard limit, and reports it.
#[tokio::test]
async fn the_sweep_never_retires_the_last_working_key() {
    for broken in ["inactive", "deleted"] {
        let (world, _) = rotated_twice().await;
        let previous = world.key_in(SECRET, AWSPREVIOUS).expect("a previous key");
        let current = world.key_in(SECRET, AWSCURRENT).expect("a current key");
        {
            let mut state = world.state();
            let keys = &mut state.users.get_mut(USER).expect("alice").keys;
            match broken {
                "inactive" => {
                    keys.iter_mut()
                        .find(|k| k.id == current)
                        .expect("the current key")
                        .status = KeyStatus::Inactive;
                }
                _ => keys.retain(|k| k.id != current),
            }
        }
        world.advance(30 * DAY);
        let summary = sweep(&world).await;
        assert_eq!(
            world.key_status(USER, &previous),
            Some(KeyStatus::Active),
            "{broken}: {summary:?}"
        );
        assert_eq!(summary.old_keys_retired, 0, "{broken}");
        let report = &summary.secrets[0];
        assert_eq!(report.action, Action::Error, "{broken}: {report:?}");
        assert!(report.detail.contains("AWSCURRENT"), "{report:?}");
    }
}

/// Point 3: only `<prefix><user>` and `<prefix><12-digit account>/<user>` bind a user. A secret
/// named `IamKeyRotator/x/alice` gets no key for alice, in any step, and the sweep leaves it.
#[tokio::test]
async fn a_name_of_another_shape_binds_nobody() {
    let world = World::with_user_and_secret(
        USER,
        "IamKeyRotator/x/alice",
        r#"{"UserName":"alice"}"#,
        "owner@example.com",
    );
    let rotator = Rotator::new(world.ports(), settings(OldKeyPolicy::Grace));
    world.start_rotation("IamKeyRotator/x/alice", &token(1));
    for step in Step::ALL {
        let calls = world.call_count();
        let alerts = world.state().alerts.len();
        let error = world
            .step_with(&rotator, "IamKeyRotator/x/alice", &token(1), step)
            .await
            .expect_err("refused");
        assert_eq!(error.kind(), "SecretNameNotManaged", "{step}: {error}");
        assert!(
            world
                .calls_from(calls)
                .iter()
                .all(|call| !call.starts_with("iam:") && !call.starts_with("sts:")),
            "{step}: no IAM call"
        );
        assert_eq!(world.state().alerts.len(), alerts + 1, "one alert");
    }
    assert!(
        world.state().users[USER].keys.is_empty(),
        "no key for alice"
    );

    // With another prefix configured, even `IamKeyRotator/alice` is not the deployment's.
    let world = World::with_user_and_secret(USER, SECRET, r#"{"UserName":"alice"}"#, "o@e.com");
    let mut other = settings(OldKeyPolicy::Grace);
    other.secret_prefix = "Other/".into();
    let rotator = Rotator::new(world.ports(), other);
    world.start_rotation(SECRET, &token(1));
    let error = world
        .step_with(&rotator, SECRET, &token(1), Step::CreateSecret)
        .await
        .expect_err("outside the prefix");
    assert_eq!(error.kind(), "SecretNameNotManaged", "{error}");

    // The sweep leaves such a secret alone, whatever its keys.
    let (world, _) = rotated_twice().await;
    world.add_secret("IamKeyRotator/x/alice", r#"{"UserName":"alice"}"#);
    world.advance(30 * DAY);
    let summary = sweep(&world).await;
    let odd = summary
        .secrets
        .iter()
        .find(|s| s.secret == "IamKeyRotator/x/alice")
        .expect("reported");
    assert_eq!(odd.action, Action::Skipped, "{odd:?}");
    assert!(odd.detail.contains("neither"), "{odd:?}");
}

/// Point 4: the IAM console leaves a deleted key's description behind as a tag named after
/// the key. A dozen of them once overflowed the intent's 256 characters, and every
/// createSecret failed. They are never recorded in the intent.
#[tokio::test]
async fn stale_key_descriptions_do_not_stop_rotations() {
    let world = World::with_user_and_secret(USER, SECRET, r#"{"UserName":"alice"}"#, "o@e.com");
    {
        let mut state = world.state();
        let tags = &mut state.users.get_mut(USER).expect("alice").tags;
        for n in 0..20 {
            tags.insert(format!("AKIASTALE{n:011}"), "the old deploy job".into());
        }
    }
    let rotator = Rotator::new(world.ports(), settings(OldKeyPolicy::Delete));
    for n in 1..=3 {
        world
            .rotate_with(&rotator, SECRET, &token(n))
            .await
            .expect("a rotation despite stale descriptions");
        world.advance(60);
    }
    let state = world.state();
    assert!(state.users[USER].tags.values().all(|v| v.len() <= 256));
    assert_eq!(state.users[USER].keys.len(), 1);
}

/// Point 5: whoever can write the secret's value cannot get a person's key retired. A value
/// that names a person's key as AWSCURRENT or AWSPREVIOUS: finishSecret's old-key policy,
/// createSecret's room and the sweep leave that key alone, since no rotation of the secret
/// made it.
#[tokio::test]
async fn a_written_value_never_steers_retirement_onto_a_persons_key() {
    // finishSecret: a person's key written into AWSCURRENT is not deleted as the old key.
    let world = World::with_user_and_secret(USER, SECRET, r#"{"UserName":"alice"}"#, "o@e.com");
    let rotator = Rotator::new(world.ports(), settings(OldKeyPolicy::Delete));
    world
        .rotate_with(&rotator, SECRET, &token(1))
        .await
        .expect("first rotation");
    let (persons, persons_secret) = world.add_key(USER, KeyStatus::Active);
    world.put_current(
        SECRET,
        &format!(
            r#"{{"UserName":"alice","AccessKeyId":"{persons}","SecretAccessKey":"{persons_secret}"}}"#
        ),
    );
    world
        .rotate_with(&rotator, SECRET, &token(2))
        .await
        .expect("the rotation makes room with its own key");
    assert_eq!(
        world.key_status(USER, &persons),
        Some(KeyStatus::Active),
        "the person's key survives finishSecret's delete"
    );

    // The sweep: a person's key written into AWSPREVIOUS is not deactivated.
    let (world, _) = rotated_twice().await;
    let current = world.key_in(SECRET, AWSCURRENT).expect("current");
    let rotators_previous = world.key_in(SECRET, AWSPREVIOUS).expect("previous");
    world
        .state()
        .users
        .get_mut(USER)
        .expect("alice")
        .keys
        .retain(|k| k.id != rotators_previous);
    let (persons, persons_secret) = world.add_key(USER, KeyStatus::Active);
    let current_value = world.current_value(SECRET).expect("a value");
    world.put_current(
        SECRET,
        &format!(
            r#"{{"UserName":"alice","AccessKeyId":"{persons}","SecretAccessKey":"{persons_secret}"}}"#
        ),
    );
    world.put_current(SECRET, &current_value);
    assert_eq!(
        world.key_in(SECRET, AWSPREVIOUS).as_deref(),
        Some(persons.as_str())
    );
    assert_eq!(
        world.key_in(SECRET, AWSCURRENT).as_deref(),
        Some(current.as_str())
    );
    world.advance(30 * DAY);
    let summary = sweep(&world).await;
    assert_eq!(summary.old_keys_retired, 0, "{summary:?}");
    assert_eq!(world.key_status(USER, &persons), Some(KeyStatus::Active));

    // createSecret under `delete`: the person's key in AWSPREVIOUS is not taken to make room.
    let rotator = Rotator::new(world.ports(), settings(OldKeyPolicy::Delete));
    world.start_rotation(SECRET, &token(9));
    let error = world
        .step_with(&rotator, SECRET, &token(9), Step::CreateSecret)
        .await
        .expect_err("no room: the person's key is not the secret's");
    // Contract §5 (amended): the key the value names without a record is named, with the way
    // to hand it back if it is the secret's, rather than a bare "no room".
    assert_eq!(error.kind(), "PreviousRecordRemoved", "{error}");
    assert!(error.to_string().contains(&persons), "{error}");
    assert_eq!(world.key_status(USER, &persons), Some(KeyStatus::Active));
}

/// Point 6: a rotation stuck in progress (here on no room for a key) does not suspend
/// `ROTATOR_GRACE_MAX`: the old key is deactivated at the hard limit all the same.
#[tokio::test]
async fn a_stuck_rotation_does_not_suspend_the_hard_limit() {
    let (world, rotator) = rotated_twice().await;
    let previous = world.key_in(SECRET, AWSPREVIOUS).expect("a previous key");
    world.start_rotation(SECRET, &token(3));
    world.use_key(&previous, "s3");
    world
        .step_with(&rotator, SECRET, &token(3), Step::CreateSecret)
        .await
        .expect_err("stuck: the previous key is in its grace");
    // Within the hard limit the rotation in progress keeps the key.
    world.advance(2 * DAY);
    world.use_key(&previous, "s3");
    sweep_retires(&world, &previous, false).await;
    // Past it, the key is deactivated, stuck rotation or not.
    world.advance(6 * DAY);
    world.use_key(&previous, "s3");
    sweep_retires(&world, &previous, true).await;
    // And the stuck rotation can now make room.
    world
        .step_with(&rotator, SECRET, &token(3), Step::CreateSecret)
        .await
        .expect("an inactive previous key makes room");
}

/// Point 6's dating: a rotation whose createSecret ran days before its finishSecret (a failed
/// rotation that Secrets Manager tried again a week later) made a version that became current
/// long after it was created. The previous key's grace runs from the move, also while the next
/// rotation is stuck: before, the sweep dated a stuck rotation's previous key by the current
/// version's creation, and deactivated a key demoted seconds earlier as past the hard limit.
/// (Found by the property model with a random seed.)
#[tokio::test]
async fn a_rotation_finished_days_after_its_create_secret_dates_the_grace_from_its_finish() {
    let world =
        World::with_user_and_secret(USER, SECRET, r#"{"UserName":"alice"}"#, "owner@example.com");
    let rotator = Rotator::new(world.ports(), settings(OldKeyPolicy::Grace));
    world
        .rotate_with(&rotator, SECRET, &token(1))
        .await
        .expect("the first rotation");
    let first = world.key_in(SECRET, AWSCURRENT).expect("a key");
    world.start_rotation(SECRET, &token(2));
    world
        .step_with(&rotator, SECRET, &token(2), Step::CreateSecret)
        .await
        .expect("createSecret");
    // The rest of the rotation comes a week and a day later.
    world.advance(8 * DAY);
    for step in [Step::SetSecret, Step::TestSecret, Step::FinishSecret] {
        world
            .step_with(&rotator, SECRET, &token(2), step)
            .await
            .expect("the retried rotation's step");
    }
    assert_eq!(
        world.key_in(SECRET, AWSPREVIOUS).as_deref(),
        Some(first.as_str())
    );
    // The next rotation, started at once, is stuck on the previous key's grace.
    world.advance(60);
    world.start_rotation(SECRET, &token(3));
    world
        .step_with(&rotator, SECRET, &token(3), Step::CreateSecret)
        .await
        .expect_err("the previous key is in its grace");
    sweep_retires(&world, &first, false).await;
    // The hard limit still holds, from the move: programs still use the key a week later.
    world.advance(7 * DAY);
    world.use_key(&first, "s3");
    sweep_retires(&world, &first, true).await;
}

/// Point 7: a sweep that cannot finish before the invocation's deadline stops beginning
/// secrets, and still returns its summary (with how many it did not reach) and sends its alert.
#[tokio::test]
async fn a_sweep_near_its_deadline_stops_early_and_reports_what_it_did() {
    let (world, _) = rotated_twice().await;
    for n in 0..5 {
        world.add_secret(
            &format!("IamKeyRotator/other{n}"),
            r#"{"UserName":"nobody"}"#,
        );
    }
    let now_ms = world.state().now * 1000;
    let sweeper = Sweeper::new(world.ports(), settings(OldKeyPolicy::Grace));
    let summary = sweeper
        .run_until(Mode::Retire, Some(now_ms + 5_000))
        .await
        .expect("a summary, not an error");
    assert_eq!(summary.managed_secrets, 6);
    assert_eq!(summary.secrets_not_reached, 6, "{summary:?}");
    let summary = sweeper
        .run_until(Mode::Retire, Some(now_ms + 600_000))
        .await
        .expect("a summary");
    assert_eq!(summary.secrets_not_reached, 0, "{summary:?}");
}

/// Point 1's emergency, `rotator rotate --retire-previous`: the previous key is deactivated
/// first (with its last use), then the early rotation finds room. A previous key the secret
/// did not make, or one beside a broken AWSCURRENT, is refused with nothing changed.
#[tokio::test]
async fn retiring_the_previous_key_lets_an_early_rotation_through() {
    use crate::accounts::MemberRole;
    use crate::fleet::retire::{RetireError, retire_previous};
    use crate::ports::SecretStore;
    use crate::types::SecretId;

    let (world, rotator) = rotated_twice().await;
    let previous = world.key_in(SECRET, AWSPREVIOUS).expect("a previous key");
    world.use_key(&previous, "s3");
    let metadata = SecretStore::describe(&world, &SecretId::new(SECRET).expect("id"))
        .await
        .expect("described");
    let retired = retire_previous(
        &world.ports(),
        &metadata,
        &MemberRole::default(),
        "IamKeyRotator/",
    )
    .await
    .expect("retired")
    .expect("there was an active previous key");
    assert_eq!(retired.key.as_str(), previous);
    assert_eq!(retired.last_use.service.as_deref(), Some("s3"));
    assert_eq!(world.key_status(USER, &previous), Some(KeyStatus::Inactive));
    world
        .rotate_with(&rotator, SECRET, &token(3))
        .await
        .expect("the inactive previous key makes room");
    assert_eq!(world.key_status(USER, &previous), None);

    // A previous key that no rotation of the secret made is not the rotator's to deactivate.
    let (world, _) = rotated_twice().await;
    let previous = world.key_in(SECRET, AWSPREVIOUS).expect("a previous key");
    world
        .state()
        .users
        .get_mut(USER)
        .expect("alice")
        .tags
        .retain(|tag, _| !tag.ends_with(&previous));
    let before = fingerprint(&world);
    let error = retire_previous(
        &world.ports(),
        &metadata,
        &MemberRole::default(),
        "IamKeyRotator/",
    )
    .await
    .expect_err("not owned");
    assert!(matches!(error, RetireError::NotOwned { .. }), "{error}");
    assert_eq!(fingerprint(&world), before);

    // Nor while the AWSCURRENT key does not work.
    let (world, _) = rotated_twice().await;
    let current = world.key_in(SECRET, AWSCURRENT).expect("current");
    world
        .state()
        .users
        .get_mut(USER)
        .expect("alice")
        .keys
        .retain(|k| k.id != current);
    let error = retire_previous(
        &world.ports(),
        &metadata,
        &MemberRole::default(),
        "IamKeyRotator/",
    )
    .await
    .expect_err("the current key is gone");
    assert!(
        matches!(error, RetireError::CurrentNotUsable { .. }),
        "{error}"
    );
}
