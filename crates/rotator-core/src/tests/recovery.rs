//! The recovery of a stuck rotation (contract §11, issue 27) on the in-memory world: each branch
//! (a finish stopped after the move, a pending key unused, used, young or deleted by a person,
//! a rotation that is not stuck), refusals, a recovery that is itself interrupted and repeated,
//! and the sweep's recovery, also while a new rotation starts.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::json;

use crate::config::{OldKeyPolicy, Settings};
use crate::ports::{
    AccessKeyInfo, CredentialReportRow, Iam, KeyLastUsed, KeyStatus, NewAccessKey, PortErrorKind,
    PortResult, Tag, UserInfo,
};
use crate::recover::{
    Conditions, RecoverError, RecoverRequest, Recovery, RecoveryOutcome, RecoverySummary,
};
use crate::rotation::{AWSCURRENT, AWSPENDING, AWSPREVIOUS, Rotator};
use crate::sweep::{Mode, Sweeper};
use crate::testing::{Fault, World, settings};
use crate::types::{AccessKeyId, SecretId, Step, UserName};

const SECRET: &str = "IamKeyRotator/alice";
const USER: &str = "alice";
const HOUR: u64 = 3600;

fn token(n: u32) -> String {
    format!("2ec0e4ed-0000-4000-8000-{n:012}")
}

fn secret_id() -> SecretId {
    SecretId::new(SECRET).expect("id")
}

/// Alice's secret rotated once (AWSCURRENT holds key 1), then a second rotation whose
/// createSecret stored key 2 as AWSPENDING and that went no further.
async fn stuck_with_a_pending_key() -> (World, Rotator, String, String) {
    let world =
        World::with_user_and_secret(USER, SECRET, r#"{"UserName":"alice"}"#, "owner@example.com");
    let rotator = Rotator::new(world.ports(), settings(OldKeyPolicy::Delete));
    world
        .rotate_with(&rotator, SECRET, &token(1))
        .await
        .expect("the first rotation");
    world.advance(60);
    world.start_rotation(SECRET, &token(2));
    world
        .step_with(&rotator, SECRET, &token(2), Step::CreateSecret)
        .await
        .expect("createSecret");
    let current = world.key_in(SECRET, AWSCURRENT).expect("a current key");
    let pending = pending_key(&world).expect("a pending key");
    (world, rotator, current, pending)
}

fn pending_key(world: &World) -> Option<String> {
    let state = world.state();
    let (_, version) = state.secrets[SECRET].version_with(AWSPENDING)?;
    let value: serde_json::Value = serde_json::from_str(version.value.as_deref()?).ok()?;
    value["AccessKeyId"].as_str().map(str::to_owned)
}

async fn recover(rotator: &Rotator) -> Result<RecoverySummary, RecoverError> {
    recover_with(rotator, false).await
}

async fn recover_with(rotator: &Rotator, dry_run: bool) -> Result<RecoverySummary, RecoverError> {
    Recovery::new(rotator.clone())
        .recover(&RecoverRequest {
            secret_id: secret_id(),
            dry_run,
        })
        .await
}

fn pending_version(world: &World) -> Option<String> {
    let state = world.state();
    state.secrets[SECRET]
        .version_with(AWSPENDING)
        .map(|(id, _)| id.clone())
}

fn current_version(world: &World) -> Option<String> {
    let state = world.state();
    state.secrets[SECRET]
        .version_with(AWSCURRENT)
        .map(|(id, _)| id.clone())
}

fn keys(world: &World) -> Vec<(String, KeyStatus)> {
    world.state().users[USER]
        .keys
        .iter()
        .map(|k| (k.id.clone(), k.status))
        .collect()
}

fn tags(world: &World) -> Vec<String> {
    world.state().users[USER].tags.keys().cloned().collect()
}

/// Users, keys, tags and secrets: everything a recovery may change.
fn fingerprint(world: &World) -> String {
    let state = world.state();
    format!("{:?} {:?}", state.users, state.secrets)
}

/// Whether RotateSecret may start a new rotation now (the world refuses, as Secrets Manager
/// does, while AWSPENDING stands on a version other than AWSCURRENT's).
async fn rotate_secret_starts(world: &World) -> bool {
    world
        .ports()
        .secrets
        .start_rotation(&secret_id())
        .await
        .is_ok()
}

/// Runs the four steps of the rotation `token` that RotateSecret started.
async fn finish_started_rotation(world: &World, rotator: &Rotator, token: &str) {
    for step in Step::ALL {
        world
            .step_with(rotator, SECRET, token, step)
            .await
            .expect("a step of the new rotation");
    }
}

#[tokio::test]
async fn a_rotation_stuck_before_its_finish_is_abandoned_and_its_unused_key_deleted() {
    let (world, rotator, current, pending) = stuck_with_a_pending_key().await;
    world.advance(5 * HOUR);
    let previous_version = world.state().secrets[SECRET]
        .version_with(AWSPREVIOUS)
        .map(|(id, _)| id.clone());
    let current_before = current_version(&world);
    assert!(
        !rotate_secret_starts(&world).await,
        "stuck: RotateSecret refuses"
    );
    assert!(tags(&world).iter().any(|t| t.contains(&token(2))));

    let summary = recover(&rotator).await.expect("recovered");

    assert_eq!(summary.outcome, RecoveryOutcome::Abandoned, "{summary:?}");
    assert_eq!(summary.token.as_deref(), Some(token(2).as_str()));
    assert_eq!(summary.deleted_keys, vec![pending.clone()]);
    assert_eq!(keys(&world), vec![(current.clone(), KeyStatus::Active)]);
    assert_eq!(pending_version(&world), None);
    assert_eq!(
        current_version(&world),
        current_before,
        "AWSCURRENT never moves"
    );
    assert_eq!(
        world.state().secrets[SECRET]
            .version_with(AWSPREVIOUS)
            .map(|(id, _)| id.clone()),
        previous_version
    );
    assert!(
        !tags(&world)
            .iter()
            .any(|t| t.contains(&token(2)) || t.contains(&pending)),
        "the token's ledger records are withdrawn: {:?}",
        tags(&world)
    );
    // The key was deactivated before it was deleted.
    let calls = world.state().calls.clone();
    let deactivated = calls.iter().rposition(|c| *c == "iam:UpdateAccessKey");
    let deleted = calls.iter().rposition(|c| *c == "iam:DeleteAccessKey");
    assert!(deactivated < deleted && deactivated.is_some(), "{calls:?}");
    // One notice, naming the secret, the token and the key it deleted.
    let alerts = world.state().alerts.clone();
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    for named in [SECRET, token(2).as_str(), pending.as_str()] {
        assert!(alerts[0].body.contains(named), "{}", alerts[0].body);
    }
    assert!(summary.notice_sent);
    // The next rotation starts afresh and completes.
    let started = world
        .ports()
        .secrets
        .start_rotation(&secret_id())
        .await
        .expect("RotateSecret starts again")
        .expect("a token");
    finish_started_rotation(&world, &rotator, &started).await;
    assert_ne!(world.key_in(SECRET, AWSCURRENT), Some(current));
}

#[tokio::test]
async fn a_used_pending_key_is_kept_named_in_one_alert_and_the_rotation_is_not_abandoned() {
    let (world, rotator, _, pending) = stuck_with_a_pending_key().await;
    world.advance(5 * HOUR);
    world.use_key(&pending, "s3");
    let before = fingerprint(&world);

    let summary = recover(&rotator).await.expect("answered");

    assert_eq!(summary.outcome, RecoveryOutcome::PendingKeyKept);
    assert_eq!(summary.kept_keys.len(), 1);
    assert_eq!(summary.kept_keys[0].key, pending);
    assert!(summary.kept_keys[0].reason.contains("used"), "{summary:?}");
    assert!(summary.deleted_keys.is_empty());
    assert_eq!(fingerprint(&world), before, "nothing changed");
    let alerts = world.state().alerts.clone();
    assert_eq!(alerts.len(), 1);
    assert!(alerts[0].body.contains(&pending) && alerts[0].body.contains("s3"));
    assert!(!rotate_secret_starts(&world).await, "still stuck");
}

#[tokio::test]
async fn a_pending_key_younger_than_the_usage_lag_is_kept_until_iam_would_report_its_use() {
    let (world, rotator, _, pending) = stuck_with_a_pending_key().await;
    world.advance(HOUR);
    let before = fingerprint(&world);
    let summary = recover(&rotator).await.expect("answered");
    assert_eq!(summary.outcome, RecoveryOutcome::PendingKeyKept);
    assert!(
        summary.kept_keys[0].reason.contains("ROTATOR_USAGE_LAG"),
        "{summary:?}"
    );
    assert_eq!(fingerprint(&world), before);
    // Once IAM would have reported a use, the same recovery abandons it.
    world.advance(4 * HOUR);
    let summary = recover(&rotator).await.expect("recovered");
    assert_eq!(summary.outcome, RecoveryOutcome::Abandoned);
    assert_eq!(summary.deleted_keys, vec![pending]);
}

#[tokio::test]
async fn a_pending_key_that_a_person_deleted_leaves_only_its_records_to_withdraw() {
    let (world, rotator, current, pending) = stuck_with_a_pending_key().await;
    world.advance(5 * HOUR);
    world
        .state()
        .users
        .get_mut(USER)
        .expect("alice")
        .keys
        .retain(|k| k.id != pending);

    let summary = recover(&rotator).await.expect("recovered");

    assert_eq!(summary.outcome, RecoveryOutcome::Abandoned);
    assert!(summary.deleted_keys.is_empty());
    assert!(
        summary.detail.contains("gone already"),
        "{}",
        summary.detail
    );
    assert!(
        !tags(&world)
            .iter()
            .any(|t| t.contains(&pending) || t.contains(&token(2)))
    );
    assert!(!world.state().calls.contains(&"iam:DeleteAccessKey"));
    assert_eq!(keys(&world), vec![(current, KeyStatus::Active)]);
    assert_eq!(pending_version(&world), None);
}

#[tokio::test]
async fn a_rotation_that_stopped_before_creating_a_key_is_abandoned_with_nothing_to_delete() {
    // A user at its key limit: the person's extra key leaves no room, and createSecret fails.
    let (world, rotator, current, _) = stuck_with_a_pending_key().await;
    let pending = pending_key(&world).expect("pending");
    world.advance(5 * HOUR);
    recover(&rotator).await.expect("the first one abandoned");
    let (persons, _) = world.add_key(USER, KeyStatus::Active);
    world.start_rotation(SECRET, &token(3));
    world
        .step_with(&rotator, SECRET, &token(3), Step::CreateSecret)
        .await
        .expect_err("no room beside the person's key");
    world.advance(HOUR);
    let before_keys = keys(&world);

    let summary = recover(&rotator).await.expect("recovered");

    assert_eq!(summary.outcome, RecoveryOutcome::Abandoned, "{summary:?}");
    assert!(summary.deleted_keys.is_empty());
    assert_eq!(
        keys(&world),
        before_keys,
        "the person's key is never touched"
    );
    assert!(keys(&world).contains(&(persons.clone(), KeyStatus::Active)));
    assert!(keys(&world).contains(&(current, KeyStatus::Active)));
    assert_ne!(pending, persons);
    // Once the person's key is gone, a rotation goes through.
    world
        .state()
        .users
        .get_mut(USER)
        .expect("alice")
        .keys
        .retain(|k| k.id != persons);
    let started = world
        .ports()
        .secrets
        .start_rotation(&secret_id())
        .await
        .expect("RotateSecret starts")
        .expect("a token");
    finish_started_rotation(&world, &rotator, &started).await;
}

#[tokio::test]
async fn a_finish_stopped_after_the_move_is_completed_as_a_redelivered_finish_would() {
    let (world, rotator, old, new) = stuck_with_a_pending_key().await;
    for step in [Step::SetSecret, Step::TestSecret] {
        world
            .step_with(&rotator, SECRET, &token(2), step)
            .await
            .expect("step");
    }
    world.inject("secretsmanager:UpdateSecretVersionStage", Fault::CrashAfter);
    world
        .step_with(&rotator, SECRET, &token(2), Step::FinishSecret)
        .await
        .expect_err("the process ended after the move");
    world.restart();
    assert_eq!(current_version(&world), Some(token(2)));
    assert_eq!(pending_version(&world), Some(token(2)));
    let alerts_before = world.state().alerts.len();

    // A fresh instance recovers: nothing remembered.
    let fresh = Rotator::new(world.ports(), settings(OldKeyPolicy::Delete));
    let dry = recover_with(&fresh, true).await.expect("dry run");
    assert_eq!(dry.outcome, RecoveryOutcome::FinishCompleted);
    assert_eq!(
        pending_version(&world),
        Some(token(2)),
        "a dry run changes nothing"
    );
    let summary = recover(&fresh).await.expect("completed");

    assert_eq!(
        summary.outcome,
        RecoveryOutcome::FinishCompleted,
        "{summary:?}"
    );
    assert_eq!(current_version(&world), Some(token(2)), "AWSCURRENT stays");
    assert_eq!(pending_version(&world), None);
    assert_eq!(keys(&world), vec![(new.clone(), KeyStatus::Active)]);
    assert!(summary.detail.contains(&old), "{}", summary.detail);
    assert_eq!(world.state().alerts.len(), alerts_before + 1);
    assert!(rotate_secret_starts(&world).await);
}

#[tokio::test]
async fn a_secret_that_is_not_stuck_changes_nothing_and_says_so() {
    let (world, rotator, _, _) = stuck_with_a_pending_key().await;
    world.advance(5 * HOUR);
    recover(&rotator).await.expect("abandoned");
    let before = fingerprint(&world);
    let calls = world.call_count();
    let alerts = world.state().alerts.len();

    let summary = recover(&rotator).await.expect("answered");

    assert_eq!(summary.outcome, RecoveryOutcome::NotStuck);
    assert!(
        summary.detail.contains("nothing changed"),
        "{}",
        summary.detail
    );
    assert_eq!(fingerprint(&world), before);
    assert_eq!(
        world.calls_from(calls),
        vec!["secretsmanager:DescribeSecret"]
    );
    assert_eq!(
        world.state().alerts.len(),
        alerts,
        "no notice: nothing was done"
    );
}

#[tokio::test]
async fn a_dry_run_says_what_it_would_do_and_changes_and_sends_nothing() {
    let (world, rotator, _, pending) = stuck_with_a_pending_key().await;
    world.advance(5 * HOUR);
    let before = fingerprint(&world);
    let summary = recover_with(&rotator, true).await.expect("dry run");
    assert!(summary.dry_run);
    assert_eq!(summary.outcome, RecoveryOutcome::Abandoned);
    assert_eq!(summary.deleted_keys, vec![pending]);
    assert!(
        summary.detail.starts_with("would abandon"),
        "{}",
        summary.detail
    );
    assert_eq!(fingerprint(&world), before);
    assert!(world.state().alerts.is_empty());
}

#[tokio::test]
async fn a_key_created_before_a_crash_and_never_recorded_is_the_tokens_and_goes_too() {
    let world =
        World::with_user_and_secret(USER, SECRET, r#"{"UserName":"alice"}"#, "owner@example.com");
    let rotator = Rotator::new(world.ports(), settings(OldKeyPolicy::Delete));
    world
        .rotate_with(&rotator, SECRET, &token(1))
        .await
        .expect("rotation");
    world.advance(60);
    let current = world.key_in(SECRET, AWSCURRENT).expect("current");
    world.start_rotation(SECRET, &token(2));
    world.inject("iam:CreateAccessKey", Fault::CrashAfter);
    world
        .step_with(&rotator, SECRET, &token(2), Step::CreateSecret)
        .await
        .expect_err("the process ended after CreateAccessKey");
    world.restart();
    let orphan = keys(&world)
        .into_iter()
        .map(|(id, _)| id)
        .find(|id| *id != current)
        .expect("the unrecorded key");

    // Within the intent's window a createSecret may still be running: nothing changes.
    let before = fingerprint(&world);
    let summary = recover(&rotator).await.expect("answered");
    assert_eq!(
        summary.outcome,
        RecoveryOutcome::StepMayBeRunning,
        "{summary:?}"
    );
    assert_eq!(fingerprint(&world), before);

    world.advance(5 * HOUR);
    let summary = recover(&rotator).await.expect("recovered");
    assert_eq!(summary.outcome, RecoveryOutcome::Abandoned, "{summary:?}");
    assert_eq!(summary.deleted_keys, vec![orphan]);
    assert_eq!(keys(&world), vec![(current, KeyStatus::Active)]);
    assert!(
        !tags(&world)
            .iter()
            .any(|t| t.starts_with("rotator:intent:"))
    );
}

/// A recovery interrupted at each of its writes (the process ends after it, the call fails
/// before it, or its answer is lost) and then repeated ends the rotation all the same; in
/// between, the pending key is never left without its record.
#[tokio::test]
async fn a_recovery_interrupted_at_any_write_and_repeated_ends_the_rotation() {
    let writes = [
        "iam:UpdateAccessKey",
        "iam:DeleteAccessKey",
        "iam:UntagUser",
        "secretsmanager:UpdateSecretVersionStage",
        "sns:Publish",
    ];
    let faults = [
        Fault::CrashAfter,
        Fault::Fail(PortErrorKind::Service),
        Fault::FailAfter(PortErrorKind::Service),
    ];
    for write in writes {
        for fault in faults {
            let (world, rotator, current, pending) = stuck_with_a_pending_key().await;
            world.advance(5 * HOUR);
            world.inject(write, fault);
            let first = recover(&rotator).await;
            world.restart();
            let held = keys(&world).iter().any(|(id, _)| *id == pending);
            let recorded = tags(&world).iter().any(|t| t.contains(&pending));
            assert!(
                !held || recorded,
                "{write} {fault:?}: the pending key lost its record while it exists"
            );
            let second = recover(&rotator)
                .await
                .unwrap_or_else(|e| panic!("{write} {fault:?}: the repeat failed: {e}"));
            let outcomes = (first.as_ref().map(|s| s.outcome).ok(), second.outcome);
            assert!(
                matches!(
                    outcomes,
                    (Some(RecoveryOutcome::Abandoned), RecoveryOutcome::NotStuck)
                        | (None, RecoveryOutcome::Abandoned | RecoveryOutcome::NotStuck)
                ),
                "{write} {fault:?}: {outcomes:?}"
            );
            assert_eq!(
                keys(&world),
                vec![(current.clone(), KeyStatus::Active)],
                "{write} {fault:?}"
            );
            assert_eq!(pending_version(&world), None, "{write} {fault:?}");
            assert!(
                !tags(&world)
                    .iter()
                    .any(|t| t.contains(&pending) || t.contains(&token(2))),
                "{write} {fault:?}: {:?}",
                tags(&world)
            );
            assert!(rotate_secret_starts(&world).await, "{write} {fault:?}");
        }
    }
}

#[tokio::test]
async fn a_name_of_another_shape_or_a_value_of_another_user_is_refused_with_nothing_changed() {
    let (world, rotator, _, _) = stuck_with_a_pending_key().await;
    world.advance(5 * HOUR);
    world.add_secret("Other/alice", r#"{"UserName":"alice"}"#);
    world.add_secret("IamKeyRotator/x/alice", r#"{"UserName":"alice"}"#);
    let before = fingerprint(&world);
    for name in ["Other/alice", "IamKeyRotator/x/alice"] {
        let error = Recovery::new(rotator.clone())
            .recover(&RecoverRequest {
                secret_id: SecretId::new(name).expect("id"),
                dry_run: false,
            })
            .await
            .expect_err("refused");
        assert!(matches!(error, RecoverError::NotManaged { .. }), "{error}");
        assert!(error.to_string().contains(name), "{error}");
    }
    // A pending value written by hand that names another user: refused before any IAM call.
    world.overwrite_pending(SECRET, &token(2), r#"{"UserName":"bob"}"#);
    let before_bob = fingerprint(&world);
    let calls = world.call_count();
    let fresh = Rotator::new(world.ports(), settings(OldKeyPolicy::Delete));
    let error = recover(&fresh).await.expect_err("refused");
    assert!(error.to_string().contains("bob"), "{error}");
    assert!(
        !world
            .calls_from(calls)
            .iter()
            .any(|c| c.starts_with("iam:"))
    );
    assert_eq!(fingerprint(&world), before_bob);
    assert_ne!(before, before_bob);
}

#[test]
fn malformed_recover_events_are_refused_naming_the_problem() {
    let good = RecoverRequest::from_value(&json!({"Action": "recover", "SecretId": SECRET}))
        .expect("valid");
    assert_eq!(good.secret_id.as_str(), SECRET);
    assert!(!good.dry_run);
    let dry = RecoverRequest::from_value(
        &json!({"Action": "recover", "SecretId": SECRET, "DryRun": true}),
    )
    .expect("valid");
    assert!(dry.dry_run);
    for (event, named) in [
        (json!([1]), "JSON object"),
        (json!({"Action": "recover"}), "SecretId"),
        (json!({"Action": "recover", "SecretId": 7}), "SecretId"),
        (json!({"Action": "recover", "SecretId": ""}), "SecretId"),
        (
            json!({"Action": "recover", "SecretId": SECRET, "DryRun": "yes"}),
            "DryRun",
        ),
        (
            json!({"Action": "recover", "SecretId": SECRET, "Step": "finishSecret"}),
            "Step",
        ),
        (
            json!({"Action": "recover", "SecretId": SECRET, "Force": true}),
            "Force",
        ),
        (json!({"Action": "rotate", "SecretId": SECRET}), "rotate"),
    ] {
        let error = RecoverRequest::from_value(&event).expect_err("refused");
        assert!(error.to_string().contains(named), "{event}: {error}");
    }
}

fn sweeping(stuck_after: Duration) -> Settings {
    Settings {
        stuck_after,
        ..settings(OldKeyPolicy::Delete)
    }
}

#[tokio::test]
async fn the_sweep_recovers_a_rotation_stuck_longer_than_the_stuck_after_time_and_counts_it() {
    let (world, _, current, pending) = stuck_with_a_pending_key().await;
    let sweeper = Sweeper::new(world.ports(), sweeping(Duration::from_secs(24 * HOUR)));
    world.advance(23 * HOUR);
    let summary = sweeper.run(Mode::CountOnly).await.expect("sweep");
    assert_eq!(summary.rotations_recovered, 0);
    assert!(summary.recoveries.is_empty(), "{summary:?}");
    assert_eq!(pending_version(&world), Some(token(2)));

    world.advance(2 * HOUR);
    let dry = sweeper.run(Mode::DryRun).await.expect("dry sweep");
    assert_eq!(dry.rotations_recovered, 1);
    assert_eq!(
        pending_version(&world),
        Some(token(2)),
        "a dry run changes nothing"
    );

    let summary = sweeper.run(Mode::CountOnly).await.expect("sweep");
    assert_eq!(summary.rotations_recovered, 1, "{summary:?}");
    assert_eq!(summary.recoveries_failed, 0);
    assert_eq!(summary.recoveries[0].outcome, RecoveryOutcome::Abandoned);
    assert_eq!(summary.recoveries[0].deleted_keys, vec![pending]);
    assert_eq!(pending_version(&world), None);
    assert_eq!(keys(&world), vec![(current, KeyStatus::Active)]);
    let json = serde_json::to_value(&summary).expect("json");
    assert_eq!(json["rotationsRecovered"], 1);

    let again = sweeper.run(Mode::CountOnly).await.expect("sweep");
    assert_eq!(again.rotations_recovered, 0);
}

#[tokio::test]
async fn a_stuck_after_time_of_zero_turns_the_sweeps_recovery_off() {
    let (world, _, _, _) = stuck_with_a_pending_key().await;
    world.advance(30 * 24 * HOUR);
    let summary = Sweeper::new(world.ports(), sweeping(Duration::ZERO))
        .run(Mode::CountOnly)
        .await
        .expect("sweep");
    assert_eq!(summary.rotations_recovered, 0);
    assert_eq!(pending_version(&world), Some(token(2)));
}

#[tokio::test]
async fn the_sweep_counts_a_used_pending_key_as_a_recovery_that_failed() {
    let (world, _, _, pending) = stuck_with_a_pending_key().await;
    world.advance(25 * HOUR);
    world.use_key(&pending, "ec2");
    let summary = Sweeper::new(world.ports(), sweeping(Duration::from_secs(24 * HOUR)))
        .run(Mode::CountOnly)
        .await
        .expect("sweep");
    assert_eq!(summary.rotations_recovered, 0);
    assert_eq!(summary.recoveries_failed, 1);
    assert_eq!(
        summary.recoveries[0].outcome,
        RecoveryOutcome::PendingKeyKept
    );
    assert_eq!(pending_version(&world), Some(token(2)));
}

#[tokio::test]
async fn the_sweep_leaves_alone_a_new_rotation_that_started_after_the_stuck_one_ended() {
    let (world, rotator, _, _) = stuck_with_a_pending_key().await;
    world.advance(25 * HOUR);
    recover(&rotator).await.expect("an operator recovered it");
    let started = world
        .ports()
        .secrets
        .start_rotation(&secret_id())
        .await
        .expect("starts")
        .expect("token");
    world
        .step_with(&rotator, SECRET, &started, Step::CreateSecret)
        .await
        .expect("createSecret of the new rotation");
    let before = fingerprint(&world);
    let sweeper = Sweeper::new(world.ports(), sweeping(Duration::from_secs(24 * HOUR)));
    let summary = sweeper.run(Mode::CountOnly).await.expect("sweep");
    assert_eq!(summary.rotations_recovered, 0, "{summary:?}");
    assert_eq!(fingerprint(&world), before);
    // A sweep that saw the stuck version recovers nothing once another holds AWSPENDING.
    let summary = Recovery::new(rotator.clone())
        .recover_when(
            &secret_id(),
            &Conditions {
                pending_version: Some(token(2)),
                stuck_for_at_least: Some(0),
            },
            false,
        )
        .await
        .expect("answered");
    assert_eq!(summary.outcome, RecoveryOutcome::NotYetStuck);
    assert_eq!(fingerprint(&world), before);
    finish_started_rotation_from(&world, &rotator, &started, Step::SetSecret).await;
}

async fn finish_started_rotation_from(world: &World, rotator: &Rotator, token: &str, from: Step) {
    for step in Step::ALL.into_iter().skip_while(|step| *step != from) {
        world
            .step_with(rotator, SECRET, token, step)
            .await
            .expect("a step of the new rotation");
    }
}

/// IAM that lets another recovery end the stuck rotation and a new rotation begin the moment
/// this recovery withdraws the ledger's records, just before it removes AWSPENDING.
#[derive(Debug)]
struct NewRotationMeanwhile {
    world: World,
    new_token: String,
}

#[async_trait]
impl Iam for NewRotationMeanwhile {
    async fn list_access_keys(&self, user: &UserName) -> PortResult<Vec<AccessKeyInfo>> {
        self.world.list_access_keys(user).await
    }
    async fn create_access_key(&self, user: &UserName) -> PortResult<NewAccessKey> {
        self.world.create_access_key(user).await
    }
    async fn set_access_key_status(
        &self,
        user: &UserName,
        key: &AccessKeyId,
        status: KeyStatus,
    ) -> PortResult<()> {
        self.world.set_access_key_status(user, key, status).await
    }
    async fn delete_access_key(&self, user: &UserName, key: &AccessKeyId) -> PortResult<()> {
        self.world.delete_access_key(user, key).await
    }
    async fn list_user_tags(&self, user: &UserName) -> PortResult<Vec<Tag>> {
        self.world.list_user_tags(user).await
    }
    async fn tag_user(&self, user: &UserName, tags: &[Tag]) -> PortResult<()> {
        self.world.tag_user(user, tags).await
    }
    async fn untag_user(&self, user: &UserName, keys: &[String]) -> PortResult<()> {
        let result = self.world.untag_user(user, keys).await;
        self.world.abandon_rotation(SECRET);
        self.world.start_rotation(SECRET, &self.new_token);
        result
    }
    async fn access_key_last_used(&self, key: &AccessKeyId) -> PortResult<KeyLastUsed> {
        self.world.access_key_last_used(key).await
    }
    async fn credential_report(&self) -> PortResult<Vec<CredentialReportRow>> {
        self.world.credential_report().await
    }
    async fn get_user(&self, user: &UserName) -> PortResult<UserInfo> {
        self.world.get_user(user).await
    }
}

#[tokio::test]
async fn a_new_rotation_that_begins_during_the_sweeps_recovery_stands() {
    let (world, _, _, pending) = stuck_with_a_pending_key().await;
    world.advance(25 * HOUR);
    let mut ports = world.ports();
    ports.iam = Arc::new(NewRotationMeanwhile {
        world: world.clone(),
        new_token: token(9),
    });
    let summary = Sweeper::new(ports, sweeping(Duration::from_secs(24 * HOUR)))
        .run(Mode::CountOnly)
        .await
        .expect("sweep");
    assert_eq!(summary.rotations_recovered, 1, "{summary:?}");
    assert!(!keys(&world).iter().any(|(id, _)| *id == pending));
    // `RemoveFromVersionId` named the stuck version: the new rotation keeps its AWSPENDING.
    assert_eq!(pending_version(&world), Some(token(9)));
}

#[tokio::test]
async fn status_and_doctor_name_rotator_recover_for_a_stuck_rotation() {
    let (world, _, _, _) = stuck_with_a_pending_key().await;
    let ports = world.ports();
    let metadata = ports
        .secrets
        .describe(&secret_id())
        .await
        .expect("describe");
    world.advance(10 * 60);
    let young = crate::fleet::inspect(&ports, &metadata)
        .await
        .expect("inspect");
    let reading = crate::doctor::checks::SecretReading {
        inspection: Some(young),
        ..Default::default()
    };
    assert!(
        !crate::doctor::checks::check_user(&metadata, &reading, "/")
            .iter()
            .any(|f| f.check == crate::doctor::Check::StuckRotation),
        "a rotation ten minutes old is in progress, not stuck"
    );

    world.advance(2 * HOUR);
    let inspection = crate::fleet::inspect(&ports, &metadata)
        .await
        .expect("inspect");
    let row = crate::fleet::status::evaluate(
        &inspection,
        world.state().now,
        &crate::fleet::status::StatusOptions::default(),
    );
    assert_eq!(row.state, crate::fleet::status::State::Stuck);
    assert!(
        row.reasons[0].contains("rotator recover IamKeyRotator/alice"),
        "{:?}",
        row.reasons
    );
    let reading = crate::doctor::checks::SecretReading {
        inspection: Some(inspection),
        ..Default::default()
    };
    let findings = crate::doctor::checks::check_user(&metadata, &reading, "/");
    let stuck: Vec<_> = findings
        .iter()
        .filter(|f| f.check == crate::doctor::Check::StuckRotation)
        .collect();
    assert_eq!(stuck.len(), 1, "{findings:?}");
    assert!(
        stuck[0]
            .fix
            .starts_with("rotator recover IamKeyRotator/alice"),
        "{:?}",
        stuck[0]
    );
    assert!(stuck[0].problem.contains(&token(2)), "{:?}", stuck[0]);
    assert_eq!(
        crate::doctor::Check::StuckRotation.as_str(),
        "stuck-rotation"
    );
}

#[tokio::test]
async fn a_member_accounts_stuck_rotation_is_recovered_through_the_member_role() {
    const MEMBER: &str = "111122223333";
    const MEMBER_SECRET: &str = "IamKeyRotator/111122223333/alice";
    let central = World::new();
    central.add_user(USER);
    let (central_key, _) = central.add_key(USER, KeyStatus::Active);
    let member = central.add_member_account(MEMBER, None);
    member.add_user(USER);
    central.add_secret(
        MEMBER_SECRET,
        &format!(r#"{{"UserName":"alice","AccountId":"{MEMBER}"}}"#),
    );
    let rotator = Rotator::new(central.ports(), settings(OldKeyPolicy::Delete));
    central
        .rotate_with(&rotator, MEMBER_SECRET, &token(1))
        .await
        .expect("the first rotation");
    central.start_rotation(MEMBER_SECRET, &token(2));
    central
        .step_with(&rotator, MEMBER_SECRET, &token(2), Step::CreateSecret)
        .await
        .expect("createSecret");
    assert_eq!(member.state().users[USER].keys.len(), 2);
    central.advance(5 * HOUR);
    member.advance(5 * HOUR);

    let summary = Recovery::new(rotator.clone())
        .recover(&RecoverRequest {
            secret_id: SecretId::new(MEMBER_SECRET).expect("id"),
            dry_run: false,
        })
        .await
        .expect("recovered");

    assert_eq!(summary.outcome, RecoveryOutcome::Abandoned, "{summary:?}");
    assert_eq!(summary.deleted_keys.len(), 1);
    assert_eq!(
        member.state().users[USER].keys.len(),
        1,
        "the member's pending key went"
    );
    let central_keys: Vec<String> = central.state().users[USER]
        .keys
        .iter()
        .map(|k| k.id.clone())
        .collect();
    assert_eq!(
        central_keys,
        vec![central_key],
        "the central alice is another user"
    );
    assert!(central.state().calls.contains(&"sts:AssumeRole"));
}
