//! Scenario tests: every step and every error path, run against the in-memory world and
//! judged by the end state it holds.

use crate::StepError;
use crate::config::{OldKeyPolicy, Settings};
use crate::error::RotationError;
use crate::ports::{KeyStatus, PortErrorKind};
use crate::rotation::{AWSCURRENT, AWSPENDING, AWSPREVIOUS, Outcome, Rotator};
use crate::secret_value::{SecretString, SecretValue};
use crate::testing::{Fault, World, settings};
use crate::types::{ClientRequestToken, RotationEvent, SecretId, Step};

const SECRET: &str = "IamKeyRotator/alice";
const USER: &str = "alice";

fn token(n: u32) -> String {
    format!("7f1c9a52-0000-4000-8000-{n:012}")
}

/// A world with one user and one secret, and a rotator over it.
struct Harness {
    world: World,
    rotator: Rotator,
}

impl Harness {
    fn new(policy: OldKeyPolicy) -> Self {
        Self::with_value(
            policy,
            &format!(r#"{{"UserName":"{USER}","Team":"payments"}}"#),
        )
    }

    fn with_value(policy: OldKeyPolicy, value: &str) -> Self {
        let world = World::with_user_and_secret(USER, SECRET, value, "owner@example.com");
        let rotator = Rotator::new(world.ports(), settings(policy));
        Self { world, rotator }
    }

    async fn step(&self, step: Step, token: &str) -> Result<Outcome, StepError> {
        self.world.restart();
        let event = RotationEvent {
            step,
            secret_id: SecretId::new(SECRET).expect("id"),
            token: ClientRequestToken::new(token).expect("token"),
            rotation_token: None,
        };
        self.rotator.handle(&event).await
    }

    /// A whole rotation, as Secrets Manager runs it.
    async fn rotate(&self, token: &str) -> Result<(), StepError> {
        self.world.start_rotation(SECRET, token);
        for step in Step::ALL {
            self.step(step, token).await?;
        }
        Ok(())
    }

    fn value(&self, stage: &str) -> Option<SecretValue> {
        let state = self.world.state();
        let (_, version) = state.secrets[SECRET].version_with(stage)?;
        let text = version.value.clone()?;
        Some(SecretValue::parse(&SecretString::new(text)).expect("stored values parse"))
    }

    fn key_of(&self, stage: &str) -> Option<String> {
        self.value(stage)
            .and_then(|v| v.access_key_id().map(|k| k.as_str().to_owned()))
    }

    fn summary(&self) -> Summary {
        let state = self.world.state();
        let keys = state.users[USER]
            .keys
            .iter()
            .map(|k| (k.id.clone(), k.status))
            .collect();
        Summary {
            keys,
            tags: state.users[USER].tags.len(),
            alerts: state.alerts.len(),
            emails: state.emails.len(),
        }
    }

    /// Everything an error must leave untouched.
    fn fingerprint(&self) -> String {
        let state = self.world.state();
        format!("{:?} {:?}", state.users, state.secrets)
    }

    /// Checks the invariants of a completed rotation.
    async fn assert_current_key_works(&self) {
        let current = self.value(AWSCURRENT).expect("a current value");
        let key = current.key.expect("a key in AWSCURRENT");
        let arn = self
            .world
            .ports()
            .credentials
            .caller_arn(&key)
            .await
            .expect("the current key authenticates");
        assert!(arn.ends_with(&format!(":user/{USER}")), "{arn}");
        assert_eq!(current.other_fields["Team"], "payments");
        let state = self.world.state();
        for (id, version) in &state.secrets[SECRET].versions {
            assert!(
                !version.stages.iter().any(|s| s == AWSPENDING),
                "AWSPENDING left on {id}"
            );
        }
        // Once a rotation completed, the rotator's tags are the records of keys the user
        // holds: no intent, no record of a key that is gone.
        let held: Vec<String> = state.users[USER]
            .keys
            .iter()
            .map(|k| format!("rotator:key:{}", k.id))
            .collect();
        assert!(
            state.users[USER].tags.keys().all(|tag| held.contains(tag)),
            "{:?}",
            state.users[USER].tags
        );
        let secrets: Vec<String> = state.users[USER]
            .keys
            .iter()
            .map(|k| k.secret.clone())
            .collect();
        for notice in state
            .alerts
            .iter()
            .chain(state.emails.iter().map(|(_, n)| n))
        {
            for secret in &secrets {
                assert!(!notice.body.contains(secret) && !notice.subject.contains(secret));
            }
        }
    }
}

#[derive(Debug, PartialEq)]
struct Summary {
    keys: Vec<(String, KeyStatus)>,
    tags: usize,
    alerts: usize,
    emails: usize,
}

fn expect_error(result: Result<impl std::fmt::Debug, StepError>) -> RotationError {
    result.expect_err("the step must fail").error
}

#[tokio::test]
async fn first_rotation_creates_the_first_managed_key() {
    for policy in [
        OldKeyPolicy::Delete,
        OldKeyPolicy::Deactivate,
        OldKeyPolicy::Keep,
    ] {
        let h = Harness::new(policy);
        h.rotate(&token(1)).await.expect("rotation succeeds");
        let summary = h.summary();
        assert_eq!(summary.keys.len(), 1, "{policy:?}");
        assert_eq!(summary.keys[0].1, KeyStatus::Active);
        assert_eq!(
            h.key_of(AWSCURRENT).as_deref(),
            Some(summary.keys[0].0.as_str())
        );
        assert_eq!(h.value(AWSPREVIOUS).expect("previous").key, None);
        assert_eq!((summary.alerts, summary.emails), (0, 1));
        h.assert_current_key_works().await;
        let (to, email) = h.world.state().emails[0].clone();
        assert_eq!(to, ["owner@example.com"]);
        assert!(email.body.contains(&summary.keys[0].0), "{}", email.body);
        assert!(email.body.contains(SECRET));
    }
}

#[tokio::test]
async fn later_rotations_follow_the_old_key_policy() {
    use KeyStatus::{Active, Inactive};
    // (policy, statuses of [previous, current] after the second and the third rotation)
    let table: [(OldKeyPolicy, &[KeyStatus], &[KeyStatus]); 3] = [
        (OldKeyPolicy::Delete, &[Active], &[Active]),
        (
            OldKeyPolicy::Deactivate,
            &[Inactive, Active],
            &[Inactive, Active],
        ),
        (OldKeyPolicy::Keep, &[Active, Active], &[Active, Active]),
    ];
    for (policy, after_second, after_third) in table {
        let h = Harness::new(policy);
        h.rotate(&token(1)).await.expect("first");
        let first_key = h.key_of(AWSCURRENT).expect("key");
        h.rotate(&token(2)).await.expect("second");
        let second_key = h.key_of(AWSCURRENT).expect("key");
        assert_ne!(first_key, second_key);
        let statuses: Vec<KeyStatus> = h.summary().keys.iter().map(|k| k.1).collect();
        assert_eq!(
            statuses, after_second,
            "{policy:?} after the second rotation"
        );
        assert_eq!(h.key_of(AWSPREVIOUS), Some(first_key.clone()));

        h.rotate(&token(3)).await.expect("third");
        let keys: Vec<String> = h.summary().keys.iter().map(|k| k.0.clone()).collect();
        let statuses: Vec<KeyStatus> = h.summary().keys.iter().map(|k| k.1).collect();
        assert_eq!(statuses, after_third, "{policy:?} after the third rotation");
        assert!(
            !keys.contains(&first_key),
            "{policy:?}: the oldest key is gone"
        );
        assert_eq!(keys.last(), h.key_of(AWSCURRENT).as_ref());
        assert_eq!(h.summary().emails, 3);
        h.assert_current_key_works().await;
    }
}

#[tokio::test]
async fn every_step_delivered_twice_leaves_one_key() {
    let h = Harness::new(OldKeyPolicy::Delete);
    h.rotate(&token(1)).await.expect("first");
    h.world.start_rotation(SECRET, &token(2));
    for step in Step::ALL {
        h.step(step, &token(2)).await.expect("first delivery");
        let after_first = h.fingerprint();
        let again = h.step(step, &token(2)).await.expect("second delivery");
        assert_eq!(h.fingerprint(), after_first, "{step} is idempotent");
        if step == Step::CreateSecret {
            assert_eq!(again, Outcome::PendingExists);
        }
    }
    assert_eq!(h.summary().keys.len(), 1);
    assert_eq!(h.summary().emails, 2, "one email per completed rotation");
    h.assert_current_key_works().await;
}

#[tokio::test]
async fn a_token_already_current_is_a_no_op_for_every_step() {
    let h = Harness::new(OldKeyPolicy::Delete);
    h.rotate(&token(1)).await.expect("rotation");
    let before = (h.fingerprint(), h.summary());
    for step in Step::ALL {
        assert_eq!(h.step(step, &token(1)).await, Ok(Outcome::AlreadyCurrent));
    }
    assert_eq!((h.fingerprint(), h.summary()), before);
}

#[tokio::test]
async fn protocol_violations_fail_with_one_alert_and_change_nothing() {
    // (what goes wrong, how to set it up, the expected error)
    type Setup = fn(&Harness) -> String;
    type Expected = fn(&RotationError) -> bool;
    let cases: [(&str, Setup, Expected); 3] = [
        (
            "rotation disabled",
            |h| {
                h.world.start_rotation(SECRET, &token(5));
                h.world
                    .state()
                    .secrets
                    .get_mut(SECRET)
                    .expect("secret")
                    .rotation_enabled = false;
                token(5)
            },
            |e| matches!(e, RotationError::RotationNotEnabled),
        ),
        (
            "token not a version",
            |h| {
                h.world.start_rotation(SECRET, &token(5));
                token(6)
            },
            |e| {
                matches!(e, RotationError::NoStageForRotation(_))
                    && e.to_string().contains("no stage for rotation")
            },
        ),
        (
            "token not pending",
            |h| {
                h.world.start_rotation(SECRET, &token(5));
                h.world.abandon_rotation(SECRET);
                h.world
                    .state()
                    .secrets
                    .get_mut(SECRET)
                    .expect("secret")
                    .versions
                    .get_mut(&token(5))
                    .expect("v")
                    .stages
                    .push("CUSTOM".into());
                token(5)
            },
            |e| matches!(e, RotationError::NotPending { .. }) && e.to_string().contains("CUSTOM"),
        ),
    ];
    for (name, setup, expected) in cases {
        for step in Step::ALL {
            let h = Harness::new(OldKeyPolicy::Delete);
            h.rotate(&token(1)).await.expect("first rotation");
            let tok = setup(&h);
            let before = h.fingerprint();
            let error = expect_error(h.step(step, &tok).await);
            assert!(expected(&error), "{name}/{step}: {error}");
            assert_eq!(h.fingerprint(), before, "{name}/{step} changed something");
            let state = h.world.state();
            assert_eq!(state.alerts.len(), 1, "{name}/{step}");
            assert!(state.alerts[0].body.contains(step.as_str()));
            assert!(state.alerts[0].body.contains(&tok));
            assert!(state.alerts[0].body.contains("What to do:"));
        }
    }
}

/// How the user got a second key before the next rotation.
#[derive(Debug, Clone, Copy)]
enum SecondKey {
    MadeForAnAbandonedToken,
    HeldInAwsPrevious,
    InactiveAndUnknown,
}

impl SecondKey {
    /// Gives the user its second key and returns the id the next rotation must delete.
    async fn prepare(self, h: &Harness) -> String {
        match self {
            SecondKey::MadeForAnAbandonedToken => {
                h.world.start_rotation(SECRET, &token(2));
                h.step(Step::CreateSecret, &token(2)).await.expect("create");
                h.world.abandon_rotation(SECRET);
                h.key_of_token(&token(2))
            }
            SecondKey::HeldInAwsPrevious => {
                h.rotate(&token(2)).await.expect("second rotation");
                h.key_of(AWSPREVIOUS).expect("previous key")
            }
            SecondKey::InactiveAndUnknown => h.world.add_key(USER, KeyStatus::Inactive).0,
        }
    }
}

#[tokio::test]
async fn making_room_deletes_in_the_order_of_preference() {
    let cases = [
        (SecondKey::MadeForAnAbandonedToken, OldKeyPolicy::Delete),
        (SecondKey::HeldInAwsPrevious, OldKeyPolicy::Keep),
        (SecondKey::InactiveAndUnknown, OldKeyPolicy::Delete),
    ];
    for (second, policy) in cases {
        let h = Harness::new(policy);
        h.rotate(&token(1)).await.expect("first rotation");
        let doomed = second.prepare(&h).await;
        assert_eq!(h.summary().keys.len(), 2, "{second:?}");
        let current = h.key_of(AWSCURRENT).expect("current");
        h.rotate(&token(9))
            .await
            .expect("the next rotation makes room");
        let keys: Vec<String> = h.summary().keys.iter().map(|k| k.0.clone()).collect();
        assert!(!keys.contains(&doomed), "{second:?}: {doomed} survived");
        assert_eq!(h.key_of(AWSPREVIOUS), Some(current), "{second:?}");
        h.assert_current_key_works().await;
    }
}

impl Harness {
    /// The key the pending version of `token` holds, read even after AWSPENDING was removed.
    fn key_of_token(&self, token: &str) -> String {
        let state = self.world.state();
        let value = state.secrets[SECRET].versions[token]
            .value
            .clone()
            .expect("value");
        let parsed = SecretValue::parse(&SecretString::new(value)).expect("parses");
        parsed.access_key_id().expect("key").as_str().to_owned()
    }
}

#[tokio::test]
async fn an_unknown_active_key_stops_create_secret_with_nothing_changed() {
    let h = Harness::new(OldKeyPolicy::Delete);
    h.rotate(&token(1)).await.expect("first rotation");
    let (unknown, _) = h.world.add_key(USER, KeyStatus::Active);
    h.world.start_rotation(SECRET, &token(2));
    let before = h.fingerprint();
    let calls_before = h.world.state().calls.len();
    let error = expect_error(h.step(Step::CreateSecret, &token(2)).await);
    let message = error.to_string();
    assert!(
        matches!(error, RotationError::NoRoomForKey { .. }),
        "{message}"
    );
    assert!(
        message.contains(&unknown) && message.contains("unknown to the secret"),
        "{message}"
    );
    assert!(message.contains("AWSCURRENT"), "{message}");
    assert_eq!(h.fingerprint(), before);
    assert_eq!(h.summary().alerts, 1);
    let calls = h.world.state().calls[calls_before..].to_vec();
    assert!(
        !calls.iter().any(|c| matches!(
            *c,
            "iam:DeleteAccessKey"
                | "iam:CreateAccessKey"
                | "iam:TagUser"
                | "iam:UntagUser"
                | "secretsmanager:PutSecretValue"
        )),
        "{calls:?}"
    );
}

#[tokio::test]
async fn a_crash_after_creating_the_key_leaves_no_second_key() {
    // The process dies right after each of these calls of createSecret; the retry must end
    // with exactly one key for the token, stored in AWSPENDING.
    for crash_after in [
        "iam:TagUser",
        "iam:CreateAccessKey",
        "secretsmanager:PutSecretValue",
    ] {
        for occurrence in 0..2 {
            let h = Harness::new(OldKeyPolicy::Delete);
            h.rotate(&token(1)).await.expect("first rotation");
            h.world.start_rotation(SECRET, &token(2));
            if occurrence == 1 && crash_after != "iam:TagUser" {
                continue;
            }
            if occurrence == 1 {
                // Let the intent tag pass; crash after the key record instead.
                h.world
                    .inject("iam:TagUser", Fault::Fail(PortErrorKind::Throttled));
                let _ = h.step(Step::CreateSecret, &token(2)).await;
            }
            h.world.inject(crash_after, Fault::CrashAfter);
            let crashed = h.step(Step::CreateSecret, &token(2)).await;
            assert!(crashed.is_err(), "{crash_after}");
            h.step(Step::CreateSecret, &token(2))
                .await
                .expect("the retry succeeds");
            let keys = h.summary().keys;
            assert_eq!(keys.len(), 2, "{crash_after}#{occurrence}: {keys:?}");
            let pending = h
                .value(AWSPENDING)
                .expect("pending")
                .access_key_id()
                .expect("key")
                .as_str()
                .to_owned();
            assert!(keys.iter().any(|k| k.0 == pending));
            for step in [Step::SetSecret, Step::TestSecret, Step::FinishSecret] {
                h.step(step, &token(2))
                    .await
                    .expect("the rotation completes");
            }
            assert_eq!(h.summary().keys.len(), 1, "{crash_after}#{occurrence}");
            h.assert_current_key_works().await;
        }
    }
}

#[tokio::test]
async fn test_secret_retries_while_the_key_propagates_then_gives_up() {
    let h = Harness::new(OldKeyPolicy::Delete);
    h.rotate(&token(1)).await.expect("first rotation");
    h.world.state().propagation_secs = 10;
    h.world.start_rotation(SECRET, &token(2));
    h.step(Step::CreateSecret, &token(2)).await.expect("create");
    let started = h.world.state().now;
    let outcome = h
        .step(Step::TestSecret, &token(2))
        .await
        .expect("authenticates once propagated");
    assert!(matches!(outcome, Outcome::Tested(_)));
    let waited = h.world.state().now - started;
    assert!(
        (10..=11).contains(&waited),
        "waited {waited} s: a steady poll notices the key within about a second"
    );

    // A key that never works fails after the budget, with AWSCURRENT unchanged.
    let h = Harness::new(OldKeyPolicy::Delete);
    h.rotate(&token(1)).await.expect("first rotation");
    h.world.state().propagation_secs = 10_000;
    h.world.start_rotation(SECRET, &token(2));
    h.step(Step::CreateSecret, &token(2)).await.expect("create");
    let current = h.key_of(AWSCURRENT);
    let started = h.world.state().now;
    let error = expect_error(h.step(Step::TestSecret, &token(2)).await);
    let waited = h.world.state().now - started;
    assert!(
        matches!(error, RotationError::PendingKeyRejected { secs: 30, .. }),
        "{error}"
    );
    assert!((30..40).contains(&waited), "waited {waited} s");
    assert_eq!(h.key_of(AWSCURRENT), current);
    assert_eq!(h.summary().alerts, 1);
    let attempts = h
        .world
        .state()
        .calls
        .iter()
        .filter(|c| **c == "sts:GetCallerIdentity")
        .count();
    assert!(
        (25..=35).contains(&attempts),
        "{attempts} attempts: about one a second"
    );
}

#[tokio::test]
async fn test_secret_alone_on_a_never_rotated_secret_has_nothing_to_test() {
    let h = Harness::new(OldKeyPolicy::Delete);
    h.world.start_rotation(SECRET, &token(1));
    // RotateImmediately = false: the pending version is a copy of the current value.
    let copy = h.world.current_value(SECRET);
    h.world
        .state()
        .secrets
        .get_mut(SECRET)
        .expect("s")
        .versions
        .get_mut(&token(1))
        .expect("v")
        .value = copy;
    assert_eq!(
        h.step(Step::TestSecret, &token(1)).await,
        Ok(Outcome::NothingToTest)
    );
    assert_eq!(h.summary().keys.len(), 0);
}

#[tokio::test]
async fn a_key_that_authenticates_as_someone_else_fails_at_once() {
    let h = Harness::new(OldKeyPolicy::Delete);
    h.world.add_user("mallory");
    let (id, secret) = h.world.add_key("mallory", KeyStatus::Active);
    h.world.start_rotation(SECRET, &token(1));
    let value =
        format!(r#"{{"UserName":"{USER}","AccessKeyId":"{id}","SecretAccessKey":"{secret}"}}"#);
    h.world
        .state()
        .secrets
        .get_mut(SECRET)
        .expect("s")
        .versions
        .get_mut(&token(1))
        .expect("v")
        .value = Some(value);
    let error = expect_error(h.step(Step::TestSecret, &token(1)).await);
    assert!(
        matches!(error, RotationError::WrongIdentity { .. }),
        "{error}"
    );
    assert!(error.to_string().contains("mallory"));
    assert!(!error.to_string().contains(&secret));
}

#[tokio::test]
async fn notifier_failures_do_not_decide_the_result() {
    // A failing email does not fail a completed rotation.
    let h = Harness::new(OldKeyPolicy::Delete);
    h.world
        .inject("sesv2:SendEmail", Fault::Fail(PortErrorKind::Service));
    h.rotate(&token(1))
        .await
        .expect("the rotation succeeds without its email");
    assert_eq!(h.summary().emails, 0);
    h.assert_current_key_works().await;

    // A failing alert does not hide the step's own error.
    let h = Harness::new(OldKeyPolicy::Delete);
    h.world.start_rotation(SECRET, &token(1));
    h.world
        .inject("sns:Publish", Fault::Fail(PortErrorKind::Throttled));
    h.world.inject(
        "iam:ListAccessKeys",
        Fault::Fail(PortErrorKind::AccessDenied),
    );
    let error = expect_error(h.step(Step::CreateSecret, &token(1)).await);
    assert!(error.to_string().contains("ListAccessKeys"), "{error}");
    assert_eq!(h.world.state().alert_attempts, 1);
}

#[tokio::test]
async fn a_bound_user_missing_from_iam_fails_with_one_alert_and_changes_nothing() {
    let h = Harness::new(OldKeyPolicy::Delete);
    h.world.state().users.clear();
    h.world.start_rotation(SECRET, &token(1));
    let before = h.fingerprint();
    let error = expect_error(h.step(Step::CreateSecret, &token(1)).await);
    assert!(matches!(error, RotationError::UnknownUser(_)), "{error}");
    assert!(error.to_string().contains("IAM user alice does not exist"));
    assert_eq!(h.fingerprint(), before);
    assert_eq!(h.world.state().alerts.len(), 1);
}

#[tokio::test]
async fn invalid_secret_values_fail_with_one_alert_and_change_nothing() {
    let cases = [
        ("not json", "not JSON"),
        ("[1,2]", "not an array"),
        (r#"{"Team":"x"}"#, "no `UserName`"),
        (r#"{"UserName":""}"#, "must not be empty"),
        (
            r#"{"UserName":"ghost"}"#,
            "bound by its name to IAM user alice",
        ),
        (r#"{"UserName":"älice"}"#, "characters IAM does not allow"),
    ];
    for (value, expected) in cases {
        let h = Harness::with_value(OldKeyPolicy::Delete, value);
        h.world.start_rotation(SECRET, &token(1));
        let before = h.fingerprint();
        let error = expect_error(h.step(Step::CreateSecret, &token(1)).await);
        assert!(error.to_string().contains(expected), "{value}: {error}");
        assert_eq!(h.fingerprint(), before);
        assert_eq!(h.summary().alerts, 1);
    }
    let huge = format!(r#"{{"UserName":"{USER}","Blob":"{}"}}"#, "x".repeat(60_000));
    let h = Harness::with_value(OldKeyPolicy::Delete, &huge);
    h.rotate(&token(1))
        .await
        .expect("large values rotate, their fields kept");
    assert_eq!(
        h.value(AWSCURRENT).expect("v").other_fields["Blob"]
            .as_str()
            .map(str::len),
        Some(60_000)
    );
}

mod with_mocks {
    //! The same rules checked with mockall: a mock without expectations fails the test on any
    //! call, which proves that a refused step touches neither IAM nor the secret's value.

    use std::sync::Arc;

    use super::*;
    use crate::ports::{
        MockClock, MockCredentialCheck, MockIam, MockMemberAccounts, MockNotifier, MockSecretStore,
        SecretMetadata,
    };
    use crate::rotation::Ports;

    fn ports(secrets: MockSecretStore, notifier: MockNotifier) -> Ports {
        Ports {
            iam: Arc::new(MockIam::new()),
            members: Arc::new(MockMemberAccounts::new()),
            secrets: Arc::new(secrets),
            credentials: Arc::new(MockCredentialCheck::new()),
            notifier: Arc::new(notifier),
            clock: Arc::new(MockClock::new()),
        }
    }

    fn event(step: Step) -> RotationEvent {
        RotationEvent {
            step,
            secret_id: SecretId::new(SECRET).unwrap(),
            token: ClientRequestToken::new(token(1)).unwrap(),
            rotation_token: None,
        }
    }

    #[tokio::test]
    async fn a_disabled_rotation_sends_one_alert_and_calls_nothing_else() {
        for step in Step::ALL {
            let mut secrets = MockSecretStore::new();
            secrets.expect_describe().times(1).returning(|_| {
                Ok(SecretMetadata {
                    name: SECRET.into(),
                    rotation_enabled: false,
                    ..SecretMetadata::default()
                })
            });
            let mut notifier = MockNotifier::new();
            notifier
                .expect_alert()
                .times(1)
                .withf(move |notice| {
                    notice.subject.contains(SECRET) && notice.body.contains(step.as_str())
                })
                .returning(|_| Ok(()));
            let rotator = Rotator::new(ports(secrets, notifier), Settings::default());
            let failure = rotator.handle(&event(step)).await.unwrap_err();
            assert_eq!(failure.kind(), "RotationNotEnabled");
            assert!(failure.to_string().contains(SECRET), "{failure}");
        }
    }

    #[tokio::test]
    async fn an_already_current_token_reads_nothing_and_sends_nothing() {
        for step in Step::ALL {
            let mut secrets = MockSecretStore::new();
            secrets.expect_describe().times(1).returning(|_| {
                Ok(SecretMetadata {
                    name: SECRET.into(),
                    rotation_enabled: true,
                    versions: [(token(1), vec![AWSCURRENT.to_owned()])].into(),
                    ..SecretMetadata::default()
                })
            });
            let rotator = Rotator::new(ports(secrets, MockNotifier::new()), Settings::default());
            assert_eq!(
                rotator.handle(&event(step)).await,
                Ok(Outcome::AlreadyCurrent)
            );
        }
    }
}
