//! Scenario tests for the promises that real AWS faults, a hostile secret writer and IAM's
//! quotas put to the test: the name binding, lost and refused answers, two secrets on one
//! user, the tag quota, the invocation's deadline, and the alert's words.

use crate::StepError;
use crate::config::OldKeyPolicy;
use crate::ports::{CredentialCheck, KeyStatus, PortErrorKind};
use crate::rotation::{AWSCURRENT, AWSPENDING, Outcome, Rotator};
use crate::secret_value::{SecretString, SecretValue};
use crate::testing::{Fault, World, settings};
use crate::types::{ClientRequestToken, RotationEvent, SecretId, Step};

const SECRET: &str = "IamKeyRotator/alice";
const OTHER_SECRET: &str = "IamKeyRotator/123456789012/alice";
const USER: &str = "alice";

fn token(n: u32) -> String {
    format!("3d2a9b10-0000-4000-8000-{n:012}")
}

/// A world with users alice and bob, alice's secret, and a rotator over it.
struct Bench {
    world: World,
    rotator: Rotator,
}

impl Bench {
    fn new(value: &str) -> Self {
        let world = World::with_user_and_secret(USER, SECRET, value, "owner@example.com");
        world.add_user("bob");
        let rotator = Rotator::new(world.ports(), settings(OldKeyPolicy::Delete));
        Self { world, rotator }
    }

    fn alice() -> Self {
        Self::new(r#"{"UserName":"alice"}"#)
    }

    /// The same world, reached by another instance of the function: one that remembers nothing
    /// of the earlier steps (see `World::overwrite_pending`).
    fn on_another_instance(self) -> Self {
        let rotator = Rotator::new(self.world.ports(), settings(OldKeyPolicy::Delete));
        Self {
            world: self.world,
            rotator,
        }
    }

    async fn step_on(&self, secret: &str, step: Step, token: &str) -> Result<Outcome, StepError> {
        self.world.restart();
        let event = RotationEvent {
            step,
            secret_id: SecretId::new(secret).expect("id"),
            token: ClientRequestToken::new(token).expect("token"),
            rotation_token: None,
        };
        self.rotator.handle(&event).await
    }

    async fn step(&self, step: Step, token: &str) -> Result<Outcome, StepError> {
        self.step_on(SECRET, step, token).await
    }

    async fn rotate_on(&self, secret: &str, token: &str) -> Result<(), StepError> {
        self.world.start_rotation(secret, token);
        for step in Step::ALL {
            self.step_on(secret, step, token).await?;
        }
        Ok(())
    }

    async fn rotate(&self, token: &str) -> Result<(), StepError> {
        self.rotate_on(SECRET, token).await
    }

    fn value_of(&self, secret: &str, stage: &str) -> Option<SecretValue> {
        let state = self.world.state();
        let (_, version) = state.secrets[secret].version_with(stage)?;
        SecretValue::parse(&SecretString::new(version.value.clone()?)).ok()
    }

    fn key_of(&self, secret: &str, stage: &str) -> Option<String> {
        self.value_of(secret, stage)
            .and_then(|v| v.access_key_id().map(|k| k.as_str().to_owned()))
    }

    fn keys(&self, user: &str) -> Vec<String> {
        self.world.state().users[user]
            .keys
            .iter()
            .map(|k| k.id.clone())
            .collect()
    }

    fn tags(&self, user: &str) -> Vec<String> {
        self.world.state().users[user]
            .tags
            .keys()
            .cloned()
            .collect()
    }

    fn fingerprint(&self) -> String {
        let state = self.world.state();
        format!("{:?} {:?}", state.users, state.secrets)
    }

    fn alerts(&self) -> usize {
        self.world.state().alerts.len()
    }

    fn calls(&self, name: &str) -> usize {
        self.world
            .state()
            .calls
            .iter()
            .filter(|c| **c == name)
            .count()
    }

    /// Whether the secret's AWSCURRENT key authenticates as alice.
    async fn current_key_works(&self, secret: &str) -> bool {
        let Some(key) = self.value_of(secret, AWSCURRENT).and_then(|v| v.key) else {
            return false;
        };
        self.world
            .caller_arn(&key)
            .await
            .is_ok_and(|arn| arn.ends_with(&format!(":user/{USER}")))
    }
}

/// Defect 1: a value naming another user is refused by every step, before any IAM call.
#[tokio::test]
async fn a_value_naming_another_user_is_refused_before_any_iam_call() {
    let b = Bench::alice();
    let (bobs_key, _) = b.world.add_key("bob", KeyStatus::Active);
    b.world.put_current(
        SECRET,
        &format!(r#"{{"UserName":"bob","AccessKeyId":"{bobs_key}","SecretAccessKey":"x"}}"#),
    );
    b.world.start_rotation(SECRET, &token(1));
    let before = b.fingerprint();
    let calls_before = b.world.state().calls.len();
    let error = b
        .step(Step::CreateSecret, &token(1))
        .await
        .expect_err("refused");
    assert_eq!(error.kind(), "SecretNotBoundToUser", "{error}");
    let message = error.to_string();
    assert!(
        message.contains("alice") && message.contains("bob"),
        "{message}"
    );
    assert_eq!(b.fingerprint(), before, "nothing changed");
    assert_eq!(b.keys("bob"), std::slice::from_ref(&bobs_key));
    assert_eq!(b.alerts(), 1);
    let iam_calls = b.world.state().calls[calls_before..]
        .iter()
        .filter(|c| c.starts_with("iam:"))
        .count();
    assert_eq!(iam_calls, 0, "{:?}", b.world.state().calls);

    // A hostile pending value is refused by testSecret and finishSecret too.
    let b = Bench::alice();
    b.world.start_rotation(SECRET, &token(2));
    b.step(Step::CreateSecret, &token(2)).await.expect("create");
    b.world.overwrite_pending(
        SECRET,
        &token(2),
        &format!(r#"{{"UserName":"bob","AccessKeyId":"{bobs_key}","SecretAccessKey":"x"}}"#),
    );
    let b = b.on_another_instance();
    for step in [Step::SetSecret, Step::TestSecret, Step::FinishSecret] {
        let before = b.fingerprint();
        let error = b.step(step, &token(2)).await.expect_err("refused");
        assert_eq!(error.kind(), "SecretNotBoundToUser", "{step}: {error}");
        assert_eq!(b.fingerprint(), before, "{step} changed nothing");
    }
}

/// The binding and the identity check compare user names as IAM does: without regard to case.
#[tokio::test]
async fn the_binding_and_the_identity_check_ignore_case() {
    // IAM knows the user as "Alice" and names it so in ARNs; the secret and its value say
    // "alice" and "ALICE", which IAM accepts.
    let world = World::with_user_and_secret(
        "Alice",
        "IamKeyRotator/alice",
        r#"{"UserName":"ALICE"}"#,
        "owner@example.com",
    );
    let rotator = Rotator::new(world.ports(), settings(OldKeyPolicy::Delete));
    world.start_rotation("IamKeyRotator/alice", &token(1));
    for step in Step::ALL {
        let event = RotationEvent {
            step,
            secret_id: SecretId::new("IamKeyRotator/alice").expect("id"),
            token: ClientRequestToken::new(token(1)).expect("token"),
            rotation_token: None,
        };
        rotator.handle(&event).await.expect("the step succeeds");
    }
    assert_eq!(world.state().users["Alice"].keys.len(), 1);
}

/// Defect 2 (the core's side): a lost CreateAccessKey answer, while IAM does not list the new
/// key yet, must not leave an orphan once the rotation completes.
#[tokio::test]
async fn a_lost_create_answer_hidden_by_eventual_consistency_leaves_no_orphan() {
    let b = Bench::alice();
    // IAM lists a new key only 5 s after creating it, and a new key works after 3 s.
    b.world.state().listing_lag_secs = 5;
    b.world.state().propagation_secs = 3;
    b.world.start_rotation(SECRET, &token(1));
    b.world.inject(
        "iam:CreateAccessKey",
        Fault::FailAfter(PortErrorKind::Service),
    );
    b.step(Step::CreateSecret, &token(1))
        .await
        .expect_err("the answer was lost");
    assert_eq!(b.keys(USER).len(), 1, "the key exists in IAM");
    // Secrets Manager delivers the step again at once: the orphan is not listed yet.
    b.step(Step::CreateSecret, &token(1))
        .await
        .expect("the retry stores a new key");
    for step in [Step::SetSecret, Step::TestSecret, Step::FinishSecret] {
        // Secrets Manager invokes the next step a moment later.
        b.world.state().now += 2;
        b.step(step, &token(1))
            .await
            .expect("the rotation completes");
    }
    let current = b.key_of(SECRET, AWSCURRENT).expect("a key");
    assert_eq!(
        b.keys(USER),
        [current],
        "no key besides AWSCURRENT's once the rotation completed"
    );
    assert!(b.current_key_works(SECRET).await);
    assert_eq!(
        b.tags(USER),
        [format!(
            "rotator:key:{}",
            b.key_of(SECRET, AWSCURRENT).expect("a key")
        )],
        "only the record of the key the secret holds"
    );
}

/// Defect 3: when IAM refuses CreateAccessKey, no key exists, so the intent is withdrawn, and a
/// key someone makes right after is never taken for the rotator's.
#[tokio::test]
async fn a_refused_create_withdraws_the_intent_and_spares_a_key_made_after_it() {
    for refusal in [
        PortErrorKind::LimitExceeded,
        PortErrorKind::AccessDenied,
        PortErrorKind::Throttled,
    ] {
        let b = Bench::alice();
        b.rotate(&token(1)).await.expect("first rotation");
        b.world.start_rotation(SECRET, &token(2));
        b.world.inject("iam:CreateAccessKey", Fault::Fail(refusal));
        b.step(Step::CreateSecret, &token(2))
            .await
            .expect_err("refused");
        assert!(
            b.tags(USER)
                .iter()
                .all(|t| !t.starts_with("rotator:intent:")),
            "{refusal:?}: {:?}",
            b.tags(USER)
        );
        // A person reads the alert and makes a key a second later.
        b.world.state().now += 1;
        let (persons_key, _) = b.world.add_key(USER, KeyStatus::Active);
        let error = b
            .step(Step::CreateSecret, &token(2))
            .await
            .expect_err("no room");
        assert_eq!(error.kind(), "NoRoomForKey", "{refusal:?}: {error}");
        b.world.start_rotation(SECRET, &token(3));
        let _ = b.step(Step::CreateSecret, &token(3)).await;
        assert!(
            b.keys(USER).contains(&persons_key),
            "{refusal:?}: the person's key was deleted"
        );
    }
}

/// Defect 4: two secrets bound to the same user never delete each other's keys.
#[tokio::test]
async fn two_secrets_for_one_user_do_not_break_each_other() {
    let b = Bench::alice();
    b.world.add_secret(OTHER_SECRET, r#"{"UserName":"alice"}"#);
    b.rotate(&token(1)).await.expect("A's first rotation");
    b.world.start_rotation(SECRET, &token(2));
    b.world.start_rotation(OTHER_SECRET, &token(3));
    b.step(Step::CreateSecret, &token(2))
        .await
        .expect("A creates");
    let error = b
        .step_on(OTHER_SECRET, Step::CreateSecret, &token(3))
        .await
        .expect_err("B finds no room");
    assert_eq!(error.kind(), "NoRoomForKey", "{error}");
    for step in [Step::SetSecret, Step::TestSecret, Step::FinishSecret] {
        b.step(step, &token(2)).await.expect("A completes");
    }
    assert!(b.current_key_works(SECRET).await, "A's key works");
    assert_eq!(b.keys(USER).len(), 1);
}

/// Defect 5: without room for its tags the rotator fails with nothing changed, every time.
#[tokio::test]
async fn the_tag_quota_is_checked_before_any_change() {
    let b = Bench::alice();
    b.world.add_user_tags(USER, 49);
    b.world.start_rotation(SECRET, &token(1));
    let before = b.fingerprint();
    for _ in 0..3 {
        let error = b
            .step(Step::CreateSecret, &token(1))
            .await
            .expect_err("no room for tags");
        assert_eq!(error.kind(), "TagQuotaExceeded", "{error}");
        assert!(error.to_string().contains("50 tags"), "{error}");
        assert_eq!(b.fingerprint(), before, "nothing changed");
    }
    assert_eq!(b.calls("iam:CreateAccessKey"), 0);

    let b = Bench::alice();
    b.world.add_user_tags(USER, 48);
    b.rotate(&token(1)).await.expect("48 tags leave room");
    assert_eq!(
        b.tags(USER).len(),
        49,
        "the 48 and the record of the new key"
    );
}

/// Defect 7: the alert says what is true when AWSCURRENT has moved already.
#[tokio::test]
async fn an_alert_after_awscurrent_moved_says_so() {
    let b = Bench::alice();
    b.world.start_rotation(SECRET, &token(1));
    for step in [Step::CreateSecret, Step::SetSecret, Step::TestSecret] {
        b.step(step, &token(1)).await.expect("step");
    }
    let new_key = b.key_of(SECRET, AWSPENDING).expect("pending key");
    b.world
        .inject("iam:UntagUser", Fault::Fail(PortErrorKind::Throttled));
    b.step(Step::FinishSecret, &token(1))
        .await
        .expect_err("untag throttled");
    let alert = b.world.state().alerts.last().cloned().expect("an alert");
    assert!(!alert.body.contains("is unchanged"), "{}", alert.body);
    assert!(alert.body.contains(&new_key), "{}", alert.body);

    let b = Bench::alice();
    b.world.start_rotation(SECRET, &token(1));
    b.world
        .inject("iam:CreateAccessKey", Fault::Fail(PortErrorKind::Throttled));
    let _ = b.step(Step::CreateSecret, &token(1)).await;
    let alert = b.world.state().alerts.last().cloned().expect("an alert");
    assert!(alert.body.contains("is unchanged"), "{}", alert.body);
}

/// Defect 7: a pending value without a key never retires the working key.
#[tokio::test]
async fn finish_with_a_keyless_pending_value_keeps_the_working_key() {
    let b = Bench::alice();
    b.rotate(&token(1)).await.expect("first rotation");
    let working = b.key_of(SECRET, AWSCURRENT).expect("a key");
    b.world.start_rotation(SECRET, &token(2));
    b.world
        .overwrite_pending(SECRET, &token(2), r#"{"UserName":"alice"}"#);
    let _ = b.step(Step::FinishSecret, &token(2)).await;
    assert!(b.keys(USER).contains(&working), "the working key is gone");
    assert_eq!(b.key_of(SECRET, AWSCURRENT), Some(working));
}

/// Defect 7: a person's console description that starts with `rotator:` is no record.
#[tokio::test]
async fn a_description_that_looks_like_a_record_is_still_a_persons() {
    let b = Bench::alice();
    b.rotate(&token(1)).await.expect("first rotation");
    b.world.state().now += 3_600;
    let (persons_key, _) = b.world.add_key(USER, KeyStatus::Active);
    b.world
        .state()
        .users
        .get_mut(USER)
        .expect("user")
        .tags
        .insert(persons_key.clone(), format!("rotator:{}", token(9)));
    b.world.start_rotation(SECRET, &token(2));
    let _ = b.step(Step::CreateSecret, &token(2)).await;
    assert!(
        b.keys(USER).contains(&persons_key),
        "the person's key was deleted"
    );
}

/// Defect 3, on a redelivery: when IAM refuses the retry's `CreateAccessKey`, the intent that an
/// earlier lost answer left is closed again, so that a key made after the alert stays a person's.
#[tokio::test]
async fn a_refused_retry_closes_the_intent_and_spares_a_key_made_after_it() {
    let b = Bench::alice();
    b.rotate(&token(1)).await.expect("first rotation");
    b.world.start_rotation(SECRET, &token(2));
    b.world.inject(
        "iam:CreateAccessKey",
        Fault::FailAfter(PortErrorKind::Service),
    );
    b.step(Step::CreateSecret, &token(2))
        .await
        .expect_err("the answer was lost");
    b.world.state().now += 2;
    b.world
        .inject("iam:CreateAccessKey", Fault::Fail(PortErrorKind::Throttled));
    b.step(Step::CreateSecret, &token(2))
        .await
        .expect_err("the retry is refused");
    assert_eq!(b.keys(USER).len(), 1, "the lost answer's key went");
    // A person reads the alert and makes a key a minute later.
    b.world.state().now += 60;
    let (persons_key, _) = b.world.add_key(USER, KeyStatus::Active);
    let error = b
        .step(Step::CreateSecret, &token(2))
        .await
        .expect_err("no room");
    assert_eq!(error.kind(), "NoRoomForKey", "{error}");
    assert!(
        b.keys(USER).contains(&persons_key),
        "the person's key was deleted"
    );
}

/// A key whose record was written but whose answer was lost is deleted with its record: a
/// record left behind would make a later lost answer's key look recorded, and so unclaimed.
#[tokio::test]
async fn a_deleted_unrecorded_key_takes_its_record_with_it() {
    let b = Bench::alice();
    b.world.start_rotation(SECRET, &token(1));
    // createSecret's eighth call is the TagUser of the record: its answer is lost after it
    // took effect.
    let calls_before = b.world.state().calls.len();
    b.world
        .state()
        .faults
        .insert(calls_before + 7, Fault::FailAfter(PortErrorKind::Service));
    b.step(Step::CreateSecret, &token(1))
        .await
        .expect_err("the record's answer was lost");
    assert_eq!(
        b.world.state().calls[calls_before + 7],
        "iam:TagUser",
        "the fault hit the record"
    );
    assert!(b.keys(USER).is_empty(), "the unrecorded key went");
    assert!(
        b.tags(USER).iter().all(|t| !t.starts_with("rotator:key:")),
        "{:?}",
        b.tags(USER)
    );
    // The retry's CreateAccessKey answer is lost in turn: its key must stay the intent's.
    b.world.inject(
        "iam:CreateAccessKey",
        Fault::FailAfter(PortErrorKind::Service),
    );
    b.step(Step::CreateSecret, &token(1))
        .await
        .expect_err("the answer was lost");
    for step in Step::ALL {
        b.world.state().now += 2;
        b.step(step, &token(1))
            .await
            .expect("the rotation completes");
    }
    let current = b.key_of(SECRET, AWSCURRENT).expect("a key");
    assert_eq!(b.keys(USER), [current]);
}
