//! Property tests: fault-injected rotation runs, and hostile input for the parsers.
//!
//! The first property drives random sequences of Secrets Manager deliveries, human actions and
//! faults (any call failing, failing after it took effect, or the process ending right after it)
//! against one user and one secret, under each old-key policy, and checks the rotation's
//! invariants after every invocation. The others feed hostile bytes and JSON to the event and
//! secret-value parsers, and hostile secret values to a whole createSecret.
//!
//! `ROTATOR_PROPTEST_CASES` sets the number of cases of every property here (default 10 000).
//! A longer run, for example:
//! `ROTATOR_PROPTEST_CASES=1000000 cargo test -p rotator-core --release properties`.
//! A failure prints the shrunk input (for the rotation property: the policy and the shortest
//! sequence of operations that still fails) with the broken invariant.

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::sync::{Arc, Mutex};

use proptest::prelude::*;
use proptest::test_runner::{RngAlgorithm, RngSeed, TestCaseError};
use serde_json::{Map, Value};

use crate::StepError;
use crate::config::{OldKeyPolicy, Settings};
use crate::ledger::{Ledger, SecretDigest};
use crate::ports::{CredentialCheck, EpochSecs, KeyStatus, PortErrorKind, PortResult, Tag};
use crate::rotation::{AWSCURRENT, AWSPENDING, AWSPREVIOUS, Rotator};
use crate::secret_value::{KeyPair, SecretAccessKey, SecretString, SecretValue};
use crate::sweep::{Mode, Sweeper};
use crate::testing::{Fault, World, secret_arn, settings};
use crate::types::{ClientRequestToken, EventError, RotationEvent, SecretId, Step};

const SECRET: &str = "IamKeyRotator/alice";
/// A second secret bound to the same user.
const OTHER_SECRET: &str = "IamKeyRotator/123456789012/alice";
const USER: &str = "alice";
/// Another user under the same path, whom a hostile value names.
const BOB: &str = "bob";
const INITIAL_VALUE: &str = r#"{"UserName":"alice","Team":"payments"}"#;

/// The number of cases of each property: `ROTATOR_PROPTEST_CASES`, or 10 000.
fn config() -> ProptestConfig {
    let cases = std::env::var("ROTATOR_PROPTEST_CASES")
        .ok()
        .and_then(|cases| cases.trim().parse().ok())
        .unwrap_or(10_000);
    // A fixed seed by default, so that ci is reproducible; `ROTATOR_PROPTEST_SEED=random` (or a
    // number) explores further; cases it finds are kept in `proptest-regressions/`.
    let rng_seed = match std::env::var("ROTATOR_PROPTEST_SEED").ok().as_deref() {
        Some("random") => RngSeed::Random,
        Some(seed) => RngSeed::Fixed(seed.trim().parse().unwrap_or(1)),
        None => RngSeed::Fixed(1),
    };
    ProptestConfig {
        cases,
        rng_seed,
        // ChaCha, the default, takes a third of the time in a debug build.
        rng_algorithm: RngAlgorithm::XorShift,
        ..ProptestConfig::default()
    }
}

fn token(n: u32) -> String {
    format!("5b0e7c3a-0000-4000-8000-{n:012}")
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("a current-thread runtime")
}

/// A world with the user and one secret holding `value`, and a rotator over it.
fn world_with(value: &str, policy: OldKeyPolicy) -> (World, Rotator) {
    let world = World::with_user_and_secret(USER, SECRET, value, "owner@example.com");
    let rotator = Rotator::new(world.ports(), settings(policy));
    (world, rotator)
}

/// The user's tags, as the port lists them.
fn tags_of(user: &crate::testing::User) -> Vec<Tag> {
    user.tags
        .iter()
        .map(|(key, value)| Tag {
            key: key.clone(),
            value: value.clone(),
        })
        .collect()
}

fn event_on(secret: &str, step: Step, token: &str) -> RotationEvent {
    RotationEvent {
        step,
        secret_id: SecretId::new(secret).expect("a valid id"),
        token: ClientRequestToken::new(token).expect("a valid token"),
        rotation_token: None,
    }
}

fn event(step: Step, token: &str) -> RotationEvent {
    RotationEvent {
        step,
        secret_id: SecretId::new(SECRET).expect("a secret id"),
        token: ClientRequestToken::new(token).expect("a token"),
        rotation_token: None,
    }
}

/// A tracing writer into a shared buffer, so that a test can read every log line.
#[derive(Clone, Default)]
struct LogBuffer(Arc<Mutex<Vec<u8>>>);

impl LogBuffer {
    fn bytes(&self) -> std::sync::MutexGuard<'_, Vec<u8>> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Sends this thread's logs, at every level and as JSON like the Lambda's, to the buffer
    /// until the guard is dropped.
    fn capture(&self) -> tracing::subscriber::DefaultGuard {
        let buffer = self.clone();
        let subscriber = tracing_subscriber::fmt()
            .json()
            .with_max_level(tracing::Level::TRACE)
            .with_writer(move || buffer.clone())
            .finish();
        tracing::subscriber::set_default(subscriber)
    }
}

impl io::Write for LogBuffer {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.bytes().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Fault-injected rotations
// ---------------------------------------------------------------------------------------------

/// One thing that happens to the user and the secret.
#[derive(Debug, Clone)]
enum Op {
    /// `RotateSecret`: a new token, then its first `steps` steps in order. A failed step is
    /// delivered again up to `retries` times; then Secrets Manager gives up for now.
    Rotate { steps: usize, retries: u8 },
    /// Secrets Manager carries on with the latest token from its first step not yet succeeded.
    Resume { retries: u8 },
    /// The latest token's step `n % (steps succeeded so far)` is delivered once more.
    Redeliver(usize),
    /// The rotation is cancelled: Secrets Manager takes AWSPENDING away. Later `Resume` and
    /// `Redeliver` stand for late deliveries of the cancelled rotation's steps.
    Abandon,
    /// Between rotations (no version is AWSPENDING), a person's `PutSecretValue`: a new
    /// AWSCURRENT version, same key, one more field.
    EditSecret,
    /// A person creates a key for the user (only when IAM allows one more), an hour later.
    AddKey(KeyStatus),
    /// A person creates an active key at once: inside a ledger's window, right after a
    /// failure's alert, or in the middle of a rotation.
    AddKeyNow,
    /// A person deactivates one of the keys people made, at once.
    DeactivateKeyNow,
    /// A person deletes one of the user's inactive keys, at once.
    DeleteInactiveKey,
    /// A second secret bound to the same user runs its next step (a new rotation when it has
    /// none in progress): deliveries of the two secrets interleave.
    OtherSecret,
    /// Someone who can write the secret puts a value naming bob into AWSCURRENT, the latest
    /// token's step `n % 4` is delivered, then the value is put back.
    HostileEdit(usize),
    /// People give the user tags of their own until it has `44 + n % 6` (`0`: they remove
    /// theirs), up to IAM's quota.
    PersonTags(u8),
    /// The `nth` port call from now suffers `fault`.
    Fault { nth: u8, fault: Fault },
    /// Time passes: `n` hours (rotations then come early, within the grace, or late).
    Wait(u8),
    /// A program uses the key in AWSPREVIOUS now (it has not moved to the new key yet).
    UsePrevious,
    /// The scheduled sweep runs (it retires under `grace`, only counts otherwise).
    Sweep,
    /// A person deactivates the AWSCURRENT key, the sweep runs, and the person reactivates
    /// the key: the sweep must not retire the previous key meanwhile.
    SweepWithBrokenCurrent,
    /// Between rotations, someone who can write the secret puts a person's active key into
    /// AWSPREVIOUS (two `PutSecretValue`s: the person's key, then the value that was current).
    HostilePrevious,
    /// The IAM console's descriptions of long-deleted keys: tags named like key ids.
    StaleDescriptions,
    /// Between rotations, an operator's `rotator adopt`: a person's active key (made now if
    /// IAM allows one more) is written as `AdoptAccessKeyId` into a new AWSCURRENT value.
    Adopt,
    /// Lambda delivers the next steps to another instance of the function (a cold start), which
    /// remembers nothing of the earlier steps.
    NewInstance,
    /// Between rotations of the target (alice's second secret when `into_other`), someone who
    /// can write its value adopts a key: a person's active key, or (`steal`) a key that the
    /// other secret's ledger records. With `via_previous` the value that was current is put
    /// back at once, so that the adoption sits in AWSPREVIOUS.
    AdoptInto {
        into_other: bool,
        via_previous: bool,
        steal: bool,
    },
    /// A person deletes an adopted key (it leaked), at once.
    DeleteAdoptedKey,
    /// The latest rotation's finishSecret, once its first three steps succeeded, moves
    /// AWSCURRENT and then fails (IAM throttles its `UntagUser`): AWSPENDING stays on the
    /// current version until a redelivery completes it, and the hourly sweep runs meanwhile.
    /// With `late`, the finish comes eight days after the createSecret (a rotation Secrets
    /// Manager tried again a week later).
    FinishStopsAfterMove { late: bool },
    /// An operator's `rotator recover` (contract §11): the function's recover action, under the
    /// fault plan like any invocation; with `dry_run`, only what it would do.
    Recover { dry_run: bool },
    /// The sweep with `ROTATOR_STUCK_AFTER` set to this many hours (`0`: recovery off): it
    /// recovers every rotation of the fleet stuck longer.
    RecoveringSweep { stuck_after_hours: u8 },
}

#[derive(Debug, Clone)]
struct Case {
    policy: OldKeyPolicy,
    /// Seconds before a new key authenticates.
    propagation_secs: u64,
    /// Seconds during which a new key is missing from `ListAccessKeys`.
    listing_lag_secs: u64,
    /// How long each invocation may run, when Lambda gives it a deadline.
    deadline_secs: Option<u64>,
    ops: Vec<Op>,
}

fn policy() -> impl Strategy<Value = OldKeyPolicy> {
    prop_oneof![
        1 => Just(OldKeyPolicy::Delete),
        1 => Just(OldKeyPolicy::Deactivate),
        1 => Just(OldKeyPolicy::Keep),
        2 => Just(OldKeyPolicy::Grace),
    ]
}

/// Every kind of failure but `NotFound`: IAM and Secrets Manager never answer "no such entity"
/// for something that exists, and the rotator rightly treats it as "already gone".
fn failure_kind() -> impl Strategy<Value = PortErrorKind> {
    prop_oneof![
        Just(PortErrorKind::Throttled),
        Just(PortErrorKind::Service),
        Just(PortErrorKind::AccessDenied),
        Just(PortErrorKind::InvalidRequest),
        Just(PortErrorKind::LimitExceeded),
        Just(PortErrorKind::InvalidCredentials),
    ]
}

fn fault() -> impl Strategy<Value = Fault> {
    prop_oneof![
        3 => failure_kind().prop_map(Fault::Fail),
        // A call that took effect and then failed is a lost answer, a timeout or a 5xx: AWS
        // never answers a refusal (throttling, access denied, a quota) for a call it carried
        // out, and the SDK reports what it could not read as a service error.
        2 => Just(Fault::FailAfter(PortErrorKind::Service)),
        2 => Just(Fault::CrashAfter),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    let steps = prop_oneof![3 => Just(4usize), 1 => 1..4usize];
    prop_oneof![
        5 => (steps, 0..=3u8).prop_map(|(steps, retries)| Op::Rotate { steps, retries }),
        2 => (0..=3u8).prop_map(|retries| Op::Resume { retries }),
        2 => (0..4usize).prop_map(Op::Redeliver),
        1 => Just(Op::Abandon),
        1 => Just(Op::EditSecret),
        1 => prop_oneof![Just(KeyStatus::Active), Just(KeyStatus::Inactive)].prop_map(Op::AddKey),
        1 => Just(Op::DeleteInactiveKey),
        1 => Just(Op::AddKeyNow),
        1 => Just(Op::DeactivateKeyNow),
        2 => Just(Op::OtherSecret),
        1 => (0..4usize).prop_map(Op::HostileEdit),
        1 => (0..8u8).prop_map(Op::PersonTags),
        5 => (0..14u8, fault()).prop_map(|(nth, fault)| Op::Fault { nth, fault }),
        2 => prop_oneof![0..30u8, 20..200u8].prop_map(Op::Wait),
        2 => Just(Op::UsePrevious),
        2 => Just(Op::Sweep),
        1 => Just(Op::SweepWithBrokenCurrent),
        2 => Just(Op::HostilePrevious),
        1 => Just(Op::StaleDescriptions),
        2 => Just(Op::Adopt),
        2 => Just(Op::NewInstance),
        2 => (any::<bool>(), any::<bool>(), any::<bool>()).prop_map(
            |(into_other, via_previous, steal)| Op::AdoptInto {
                into_other,
                via_previous,
                steal,
            }
        ),
        1 => Just(Op::DeleteAdoptedKey),
        2 => any::<bool>().prop_map(|late| Op::FinishStopsAfterMove { late }),
        2 => any::<bool>().prop_map(|dry_run| Op::Recover { dry_run }),
        1 => (0..48u8).prop_map(|stuck_after_hours| Op::RecoveringSweep { stuck_after_hours }),
    ]
}

fn case() -> impl Strategy<Value = Case> {
    (
        policy(),
        prop_oneof![3 => Just(0u64), 1 => Just(3u64)],
        prop_oneof![2 => Just(0u64), 1 => Just(3u64)],
        prop_oneof![2 => Just(None), 1 => Just(Some(8u64)), 1 => Just(Some(30u64))],
        prop::collection::vec(op(), 1..24),
    )
        .prop_map(
            |(policy, propagation_secs, listing_lag_secs, deadline_secs, ops)| Case {
                policy,
                propagation_secs,
                listing_lag_secs,
                deadline_secs,
                ops,
            },
        )
}

/// One run of a case: the world, Secrets Manager's view of the rotation, and what the checks
/// need to remember.
struct Sim {
    policy: OldKeyPolicy,
    world: World,
    rotator: Rotator,
    runtime: tokio::runtime::Runtime,
    logs: LogBuffer,
    /// How much of the logs, alerts and emails has been checked already.
    logs_checked: usize,
    alerts_checked: usize,
    emails_checked: usize,
    tokens: u32,
    /// The token of the latest rotation, and how many of its steps have succeeded.
    latest: Option<String>,
    done: usize,
    /// Whether Secrets Manager took AWSPENDING away from the latest token.
    abandoned: bool,
    /// Whether someone's `PutSecretValue` moved AWSCURRENT and AWSPREVIOUS while the latest
    /// rotation was in progress.
    relabelled: bool,
    /// Whether a finishSecret has succeeded yet.
    first_completed: bool,
    /// Tokens whose completion has been checked.
    completed: BTreeSet<String>,
    /// Keys people made, and those of them they made active.
    human_keys: BTreeSet<String>,
    human_active: BTreeSet<String>,
    edits: u32,
    deadline_secs: Option<u64>,
    /// The second secret's latest token and how many of its steps have succeeded.
    other_tokens: u32,
    other_latest: Option<String>,
    other_done: usize,
    /// Bob's keys and tags: nobody's rotation of alice's secrets may touch them.
    bob: String,
    /// Where the run is, for failure messages.
    at: String,
    /// When each key was seen to leave AWSCURRENT (of either secret), and the AWSCURRENT key
    /// each secret held at the last look: the grace of a key starts when it is demoted.
    demoted_at: BTreeMap<String, EpochSecs>,
    last_current: BTreeMap<&'static str, String>,
    /// The AWSCURRENT version each secret had at the last look, and since when.
    current_version: BTreeMap<&'static str, String>,
    current_since: BTreeMap<&'static str, EpochSecs>,
    /// Keys an operator adopted (`rotator adopt`).
    adopted: BTreeSet<String>,
    settings: Settings,
}

/// People work on a human time scale: well after any invocation, so that a key they create is
/// outside the window in which the ledger takes an unrecorded key for a crashed createSecret's.
const HUMAN_DELAY_SECS: u64 = 3_600;

impl Sim {
    fn new(case: &Case, logs: LogBuffer) -> Self {
        let (world, rotator) = world_with(INITIAL_VALUE, case.policy);
        world.state().propagation_secs = case.propagation_secs;
        world.state().listing_lag_secs = case.listing_lag_secs;
        world.add_secret(OTHER_SECRET, r#"{"UserName":"alice"}"#);
        world.add_user(BOB);
        world.add_key(BOB, KeyStatus::Active);
        let bob = format!("{:?}", world.state().users[BOB]);
        Self {
            policy: case.policy,
            world,
            rotator,
            runtime: runtime(),
            logs,
            logs_checked: 0,
            alerts_checked: 0,
            emails_checked: 0,
            tokens: 0,
            latest: None,
            done: 0,
            abandoned: false,
            relabelled: false,
            first_completed: false,
            completed: BTreeSet::new(),
            human_keys: BTreeSet::new(),
            human_active: BTreeSet::new(),
            edits: 0,
            deadline_secs: case.deadline_secs,
            other_tokens: 0,
            other_latest: None,
            other_done: 0,
            bob,
            at: String::new(),
            demoted_at: BTreeMap::new(),
            last_current: BTreeMap::new(),
            current_version: BTreeMap::new(),
            current_since: BTreeMap::new(),
            adopted: BTreeSet::new(),
            settings: settings(case.policy),
        }
    }

    fn apply(&mut self, index: usize, op: &Op) -> Result<(), TestCaseError> {
        match *op {
            Op::Rotate { steps, retries } => {
                self.tokens += 1;
                let token = token(self.tokens);
                self.world.start_rotation(SECRET, &token);
                self.latest = Some(token);
                self.done = 0;
                self.abandoned = false;
                self.relabelled = false;
                self.run_steps(index, steps, retries)?;
            }
            Op::Resume { retries } => self.run_steps(index, Step::ALL.len(), retries)?,
            Op::Redeliver(n) => {
                if self.done > 0 {
                    let step = Step::ALL[n % self.done];
                    self.invoke(index, step)?;
                }
            }
            Op::Abandon => {
                self.world.abandon_rotation(SECRET);
                self.abandoned = true;
            }
            Op::EditSecret => {
                self.world.state().now += HUMAN_DELAY_SECS;
                let rotating = self.world.state().secrets[SECRET]
                    .version_with(AWSPENDING)
                    .is_some();
                if rotating {
                    return Ok(());
                }
                let Some(text) = self.world.current_value(SECRET) else {
                    return Ok(());
                };
                let Ok(Value::Object(mut fields)) = serde_json::from_str::<Value>(&text) else {
                    return Ok(());
                };
                self.edits += 1;
                fields.insert("EditedBy".into(), format!("person-{}", self.edits).into());
                self.world
                    .put_current(SECRET, &Value::Object(fields).to_string());
            }
            Op::AddKey(status) => {
                self.world.state().now += HUMAN_DELAY_SECS;
                if self.world.state().users[USER].keys.len() < 2 {
                    let (id, _) = self.world.add_key(USER, status);
                    if status == KeyStatus::Active {
                        self.human_active.insert(id.clone());
                    }
                    self.human_keys.insert(id);
                    self.after_person_made_a_key();
                }
            }
            Op::DeleteInactiveKey => {
                let mut state = self.world.state();
                let keys = &mut state.users.get_mut(USER).expect("the user").keys;
                if let Some(i) = keys.iter().position(|k| k.status == KeyStatus::Inactive) {
                    keys.remove(i);
                }
            }
            Op::AddKeyNow => {
                if self.world.state().users[USER].keys.len() < 2 {
                    let (id, _) = self.world.add_key(USER, KeyStatus::Active);
                    // A key made while an intent of unknown outcome is open is, by the ledger's
                    // rule, possibly the rotator's own (docs/guarantees.md, Known limitations);
                    // any other active key of a person's must survive.
                    if !self.attributable(&id) {
                        self.human_active.insert(id.clone());
                    }
                    self.human_keys.insert(id);
                    self.after_person_made_a_key();
                }
            }
            Op::DeactivateKeyNow => {
                let mut state = self.world.state();
                let keys = &mut state.users.get_mut(USER).expect("the user").keys;
                if let Some(key) = keys.iter_mut().find(|k| self.human_active.contains(&k.id)) {
                    key.status = KeyStatus::Inactive;
                    self.human_active.remove(&key.id);
                }
            }
            Op::OtherSecret => self.other_secret_step()?,
            Op::HostileEdit(n) => {
                let Some(saved) = self.world.current_value(SECRET) else {
                    return Ok(());
                };
                self.relabelled |= self.world.state().secrets[SECRET]
                    .version_with(AWSPENDING)
                    .is_some();
                // The working key stays, only the user changes: the attack of contract §3.
                let Ok(Value::Object(mut fields)) = serde_json::from_str::<Value>(&saved) else {
                    return Ok(());
                };
                fields.insert("UserName".into(), BOB.into());
                self.world
                    .put_current(SECRET, &Value::Object(fields).to_string());
                let step = Step::ALL[n % Step::ALL.len()];
                let refused = self.invoke_raw(index, step)?;
                if let Some(Ok(outcome)) = &refused {
                    prop_assert!(
                        !matches!(outcome, crate::Outcome::KeyCreated(_)),
                        "{}: a key was created for a value naming bob",
                        self.at
                    );
                }
                self.world.put_current(SECRET, &saved);
            }
            Op::PersonTags(n) => {
                let mut state = self.world.state();
                let tags = &mut state.users.get_mut(USER).expect("the user").tags;
                tags.retain(|key, _| !key.starts_with("person"));
                if n > 0 {
                    let target = 44 + usize::from(n) % 6;
                    let mut i = 0;
                    while tags.len() < target {
                        tags.insert(format!("person{i}"), "theirs".into());
                        i += 1;
                    }
                }
            }
            Op::Fault { nth, fault } => {
                let mut state = self.world.state();
                let at = state.calls.len() + usize::from(nth);
                state.faults.insert(at, fault);
            }
            Op::Wait(hours) => self.world.advance(u64::from(hours) * 3_600),
            Op::UsePrevious => {
                self.world.state().now += 60;
                if let Some(previous) = self.key_of(AWSPREVIOUS) {
                    self.world.use_key(&previous, "s3");
                }
            }
            Op::Sweep => {
                self.sweep(index)?;
                self.check_hard_limit_kept()?;
                self.check_invariants()?;
            }
            Op::SweepWithBrokenCurrent => {
                let current = self.key_of(AWSCURRENT);
                let active = |sim: &Self, id: &str| {
                    sim.world.state().users[USER]
                        .keys
                        .iter()
                        .any(|k| k.id == id && k.status == KeyStatus::Active)
                };
                let Some(current) = current.filter(|id| active(self, id)) else {
                    return Ok(());
                };
                self.set_status(&current, KeyStatus::Inactive);
                let before = self.world.state().users[USER].keys.clone();
                self.sweep(index)?;
                let after = self.world.state().users[USER].keys.clone();
                prop_assert_eq!(
                    &before,
                    &after,
                    "{}: the sweep changed keys while the AWSCURRENT key was inactive",
                    self.at
                );
                self.set_status(&current, KeyStatus::Active);
                self.check_invariants()?;
            }
            Op::HostilePrevious => {
                let rotating = self.world.state().secrets[SECRET]
                    .version_with(AWSPENDING)
                    .is_some();
                // The person's key: one they have, or one they make now if IAM allows it.
                if self.human_active.is_empty() && self.world.state().users[USER].keys.len() < 2 {
                    self.world.state().now += HUMAN_DELAY_SECS;
                    let (id, _) = self.world.add_key(USER, KeyStatus::Active);
                    self.human_active.insert(id.clone());
                    self.human_keys.insert(id);
                    self.after_person_made_a_key();
                }
                let person = self.human_active.iter().next().cloned();
                let (Some(person), Some(saved), false) =
                    (person, self.world.current_value(SECRET), rotating)
                else {
                    return Ok(());
                };
                self.world.state().now += HUMAN_DELAY_SECS;
                self.world.put_current(
                    SECRET,
                    &format!(
                        r#"{{"UserName":"alice","AccessKeyId":"{person}","SecretAccessKey":"written-by-hand-{person}"}}"#
                    ),
                );
                self.world.put_current(SECRET, &saved);
                self.track_demotions();
            }
            Op::NewInstance => self.new_instance(),
            Op::Recover { dry_run } => self.recover_op(index, dry_run)?,
            Op::RecoveringSweep { stuck_after_hours } => {
                self.recovering_sweep(index, stuck_after_hours)?;
            }
            Op::Adopt => {
                let rotating = self.world.state().secrets[SECRET]
                    .version_with(AWSPENDING)
                    .is_some();
                if rotating {
                    return Ok(());
                }
                if self.human_active.is_empty() && self.world.state().users[USER].keys.len() < 2 {
                    self.world.state().now += HUMAN_DELAY_SECS;
                    let (id, _) = self.world.add_key(USER, KeyStatus::Active);
                    self.human_active.insert(id.clone());
                    self.human_keys.insert(id);
                    self.after_person_made_a_key();
                }
                let Some(person) = self.human_active.iter().next().cloned() else {
                    return Ok(());
                };
                let Some(text) = self.world.current_value(SECRET) else {
                    return Ok(());
                };
                let Ok(Value::Object(mut fields)) = serde_json::from_str::<Value>(&text) else {
                    return Ok(());
                };
                self.world.state().now += HUMAN_DELAY_SECS;
                fields.insert("AdoptAccessKeyId".into(), person.clone().into());
                self.world
                    .put_current(SECRET, &Value::Object(fields).to_string());
                // From now on the key is the secret's to retire, by the old-key policy and
                // the sweep, within the grace rules; on a secret that holds a key, the
                // adoption counts as its rotation.
                self.human_active.remove(&person);
                self.human_keys.remove(&person);
                self.adopted.insert(person.clone());
                if self.key_of(AWSCURRENT).is_some() {
                    let now = self.world.state().now;
                    self.demoted_at.insert(person, now);
                }
            }
            Op::AdoptInto {
                into_other,
                via_previous,
                steal,
            } => self.adopt_into(into_other, via_previous, steal),
            Op::FinishStopsAfterMove { late } => {
                if self.done == 3 {
                    if late {
                        self.world.state().now += 8 * 24 * 3600;
                    }
                    self.world
                        .inject("iam:UntagUser", Fault::Fail(PortErrorKind::Throttled));
                    let finished = self.invoke(index, Step::FinishSecret)?;
                    self.world.state().named_faults.clear();
                    if finished {
                        self.done = 4;
                    } else {
                        // The hourly sweep comes before the redelivery.
                        self.world.state().now += 3600;
                        self.sweep(index)?;
                    }
                }
            }
            Op::DeleteAdoptedKey => {
                let mut state = self.world.state();
                let keys = &mut state.users.get_mut(USER).expect("the user").keys;
                if let Some(i) = keys.iter().position(|k| self.adopted.contains(&k.id)) {
                    let gone = keys.remove(i);
                    self.adopted.remove(&gone.id);
                }
            }
            Op::StaleDescriptions => {
                let mut state = self.world.state();
                let tags = &mut state.users.get_mut(USER).expect("the user").tags;
                for n in 0..12 {
                    if tags.len() >= 44 {
                        break;
                    }
                    tags.insert(format!("AKIASTALE{n:011}"), "a key deleted long ago".into());
                }
            }
        }
        Ok(())
    }

    /// `Op::AdoptInto`: an adoption written into either secret, through AWSCURRENT or
    /// AWSPREVIOUS, of a person's key or of a key the other secret's ledger records.
    fn adopt_into(&mut self, into_other: bool, via_previous: bool, steal: bool) {
        let (target, holder) = if into_other {
            (OTHER_SECRET, SECRET)
        } else {
            (SECRET, OTHER_SECRET)
        };
        let rotating = self.world.state().secrets[target]
            .version_with(AWSPENDING)
            .is_some();
        if rotating {
            return;
        }
        let key = if steal {
            let state = self.world.state();
            let user = &state.users[USER];
            let ledger = Ledger::from_tags(&tags_of(user), &SecretDigest::of(&secret_arn(holder)));
            user.keys
                .iter()
                .find(|k| ledger.records.keys().any(|r| r.as_str() == k.id))
                .map(|k| k.id.clone())
        } else {
            if self.human_active.is_empty() && self.world.state().users[USER].keys.len() < 2 {
                self.world.state().now += HUMAN_DELAY_SECS;
                let (id, _) = self.world.add_key(USER, KeyStatus::Active);
                self.human_active.insert(id.clone());
                self.human_keys.insert(id);
                self.after_person_made_a_key();
            }
            self.human_active.iter().next().cloned()
        };
        let (Some(key), Some(saved)) = (key, self.world.current_value(target)) else {
            return;
        };
        let Ok(Value::Object(mut fields)) = serde_json::from_str::<Value>(&saved) else {
            return;
        };
        // A stolen adoption beside a value without a key of its own would make the model take
        // the stolen key for the one programs use through the secret: it goes into AWSPREVIOUS
        // then, as the issue's sequence does.
        if steal && !via_previous && !fields.contains_key("AccessKeyId") {
            return;
        }
        self.world.state().now += HUMAN_DELAY_SECS;
        if via_previous {
            // The issue's sequence: a value that only adopts, then the working value again.
            let adoption = format!(r#"{{"UserName":"alice","AdoptAccessKeyId":"{key}"}}"#);
            self.world.put_current(target, &adoption);
            self.world.put_current(target, &saved);
        } else {
            fields.insert("AdoptAccessKeyId".into(), key.clone().into());
            self.world
                .put_current(target, &Value::Object(fields).to_string());
        }
        if target == SECRET {
            self.relabelled |= self.latest.is_some() && !self.abandoned && self.done < 4;
        }
        if !steal {
            // The key is the target's to retire from now on, within the grace rules.
            self.human_active.remove(&key);
            self.human_keys.remove(&key);
            self.adopted.insert(key.clone());
            let now = self.world.state().now;
            self.demoted_at.insert(key, now);
        }
        self.track_demotions();
    }

    /// The keys each secret holds by its ledger (a key its rotation made, or one it adopted),
    /// with whether the record is an adoption's.
    fn holders(&self) -> BTreeMap<String, (&'static str, bool)> {
        let state = self.world.state();
        let user = &state.users[USER];
        let tags = tags_of(user);
        let mut holders = BTreeMap::new();
        for secret in [SECRET, OTHER_SECRET] {
            let ledger = Ledger::from_tags(&tags, &SecretDigest::of(&secret_arn(secret)));
            for (key, owner) in &ledger.records {
                holders.insert(
                    key.as_str().to_owned(),
                    (secret, owner == crate::ledger::ADOPTED),
                );
            }
        }
        holders
    }

    /// No secret deletes or deactivates an active key that another secret holds, nor deletes
    /// a key another secret adopted, whatever its status (contract §5 and §10).
    fn check_holders_kept(
        &self,
        acting: &str,
        before: &[crate::testing::Key],
        holders: &BTreeMap<String, (&'static str, bool)>,
    ) -> Result<(), TestCaseError> {
        let after = self.world.state().users[USER].keys.clone();
        for key in before {
            let Some((holder, adopted)) = holders.get(&key.id) else {
                continue;
            };
            if *holder == acting {
                continue;
            }
            let now = after.iter().find(|k| k.id == key.id);
            if key.status == KeyStatus::Active {
                prop_assert!(
                    now.is_some_and(|k| k.status == KeyStatus::Active),
                    "{}: {} retired {}, an active key that {} holds",
                    self.at,
                    acting,
                    key.id,
                    holder
                );
            }
            if *adopted {
                prop_assert!(
                    now.is_some(),
                    "{}: {} deleted {}, a key that {} adopted",
                    self.at,
                    acting,
                    key.id,
                    holder
                );
            }
        }
        Ok(())
    }

    /// A person sets the status of one of alice's keys, outside the fault plan.
    fn set_status(&self, id: &str, status: KeyStatus) {
        let mut state = self.world.state();
        if let Some(key) = state
            .users
            .get_mut(USER)
            .expect("the user")
            .keys
            .iter_mut()
            .find(|k| k.id == id)
        {
            key.status = status;
        }
    }

    /// Another instance of the function takes the next deliveries.
    fn new_instance(&mut self) {
        self.rotator = Rotator::new(self.world.ports(), self.settings.clone());
    }

    /// The sweep, outside the fault plan's reach (its faults are the fleet tests' business),
    /// with its invariants: it never touches the AWSCURRENT key, and retires only a key whose
    /// grace has passed.
    fn sweep(&mut self, index: usize) -> Result<(), TestCaseError> {
        self.at = format!("op #{index}, the sweep");
        self.world.restart();
        self.world.state().now += 1;
        let faults = std::mem::take(&mut self.world.state().faults);
        let before = self.world.state().users[USER].keys.clone();
        let current = self.key_of(AWSCURRENT);
        let sweeper = Sweeper::new(self.world.ports(), self.settings.clone());
        let summary = self
            .runtime
            .block_on(sweeper.run(Mode::for_policy(self.policy)));
        self.world.state().faults = faults;
        prop_assert!(summary.is_ok(), "{}: {:?}", self.at, summary);
        if let Some(current) = current {
            let status = |keys: &[crate::testing::Key]| {
                keys.iter().find(|k| k.id == current).map(|k| k.status)
            };
            let after = self.world.state().users[USER].keys.clone();
            prop_assert_eq!(
                status(&before),
                status(&after),
                "{}: the sweep changed the AWSCURRENT key {}",
                self.at,
                current
            );
        }
        self.check_grace_kept(&before, "the sweep")
    }

    /// Under `grace`, after a sweep no previous key of the secret's own stays active once
    /// AWSCURRENT moved GRACE_MAX ago, whether a rotation is stuck in progress or not
    /// (contract §9), as long as the AWSCURRENT key works.
    fn check_hard_limit_kept(&self) -> Result<(), TestCaseError> {
        if self.policy != OldKeyPolicy::Grace {
            return Ok(());
        }
        let (Some(current), Some(previous)) = (self.key_of(AWSCURRENT), self.key_of(AWSPREVIOUS))
        else {
            return Ok(());
        };
        let Some(since) = self.current_since.get(SECRET) else {
            return Ok(());
        };
        let state = self.world.state();
        let now = state.now;
        let user = &state.users[USER];
        let active = |id: &str| {
            user.keys
                .iter()
                .any(|k| k.id == id && k.status == KeyStatus::Active)
        };
        let owned = Ledger::from_tags(&tags_of(user), &SecretDigest::of(&secret_arn(SECRET)))
            .records
            .keys()
            .any(|k| k.as_str() == previous);
        if previous == current
            || !active(&current)
            || !owned
            || self.human_keys.contains(&previous)
            || now.saturating_sub(*since) < self.settings.grace_max.as_secs()
        {
            return Ok(());
        }
        prop_assert!(
            !active(&previous),
            "{}: the previous key {} is still active {} s after AWSCURRENT moved (GRACE_MAX {} s)",
            self.at,
            previous,
            now.saturating_sub(*since),
            self.settings.grace_max.as_secs()
        );
        Ok(())
    }

    /// Notes which keys left AWSCURRENT since the last look, and when.
    fn track_demotions(&mut self) {
        let now = self.world.state().now;
        for secret in [SECRET, OTHER_SECRET] {
            let version = self.world.state().secrets[secret]
                .version_with(AWSCURRENT)
                .map(|(id, _)| id.clone());
            if let Some(version) = version
                && self.current_version.get(secret) != Some(&version)
            {
                self.current_version.insert(secret, version);
                self.current_since.insert(secret, now);
            }
        }
        for secret in [SECRET, OTHER_SECRET] {
            let current = {
                let state = self.world.state();
                Self::key_in_stage(&state, secret, AWSCURRENT)
            };
            let Some(current) = current else { continue };
            if let Some(last) = self.last_current.insert(secret, current.clone())
                && last != current
            {
                self.demoted_at.entry(last).or_insert(now);
            }
        }
    }

    /// The key the programs use through `stage` of `secret`: its key, or, on a value that holds
    /// none, the key it adopted (the programs' key until the first rotation).
    fn key_in_stage(state: &crate::testing::State, secret: &str, stage: &str) -> Option<String> {
        let (_, version) = state.secrets[secret].version_with(stage)?;
        let value = SecretValue::parse(&SecretString::new(version.value.clone()?)).ok()?;
        value
            .access_key_id()
            .or(value.adopted.as_ref())
            .map(|k| k.as_str().to_owned())
    }

    /// Under `grace`, no rotation and no sweep deletes or deactivates a key that programs may
    /// still use: one that left AWSCURRENT less than GRACE + USAGE_LAG ago, or was used within
    /// that window, unless it left AWSCURRENT GRACE_MAX ago (contract §5 and §9).
    fn check_grace_kept(
        &self,
        before: &[crate::testing::Key],
        who: &str,
    ) -> Result<(), TestCaseError> {
        if self.policy != OldKeyPolicy::Grace {
            return Ok(());
        }
        // An operation moves the clock by its steps' sleeps and deliveries: minutes at most.
        const SLACK_SECS: u64 = 900;
        let now = self.world.state().now;
        let quiet = self.settings.grace.as_secs() + self.settings.usage_lag.as_secs();
        let grace_max = self.settings.grace_max.as_secs();
        let after = self.world.state().users[USER].keys.clone();
        for key in before.iter().filter(|k| k.status == KeyStatus::Active) {
            let still_active = after
                .iter()
                .any(|k| k.id == key.id && k.status == KeyStatus::Active);
            let Some(demoted) = self.demoted_at.get(&key.id) else {
                continue;
            };
            if still_active || self.human_keys.contains(&key.id) {
                continue;
            }
            let age = now.saturating_sub(*demoted) + SLACK_SECS;
            let used_recently = key
                .last_used
                .when
                .is_some_and(|at| now.saturating_sub(at) <= quiet);
            prop_assert!(
                age >= grace_max || (age > quiet && !used_recently),
                "{}: {} retired {} within its grace (demoted {} s ago, last used {:?})",
                self.at,
                who,
                key.id,
                now.saturating_sub(*demoted),
                key.last_used.when.map(|at| now.saturating_sub(at))
            );
        }
        Ok(())
    }

    /// Secrets Manager runs the latest token's steps from its first one not yet succeeded up
    /// to `up_to`, delivering a failed step again at most `retries` times.
    fn run_steps(&mut self, index: usize, up_to: usize, retries: u8) -> Result<(), TestCaseError> {
        if self.latest.is_none() {
            return Ok(());
        }
        while self.done < up_to {
            let step = Step::ALL[self.done];
            let mut failures = 0;
            while !self.invoke(index, step)? {
                failures += 1;
                if failures > retries {
                    return Ok(());
                }
            }
            self.done += 1;
        }
        Ok(())
    }

    /// One invocation of the function for the latest token; whether Secrets Manager sees it
    /// succeed. The invariants are checked after it.
    fn invoke(&mut self, index: usize, step: Step) -> Result<bool, TestCaseError> {
        let Some(token) = self.latest.clone() else {
            return Ok(false);
        };
        let result = self.invoke_on(index, SECRET, step, &token)?;
        let crashed = self.world.state().crashed;
        let succeeded = result.is_ok() && !crashed;
        if succeeded && step == Step::FinishSecret {
            self.first_completed = true;
            // A late delivery for a cancelled rotation is no completion: if an earlier
            // finishSecret moved AWSCURRENT and then failed, the cancel took away the mark that
            // lets the rotator finish its work, and the old key waits for the next rotation.
            // So it is when someone's PutSecretValue moved AWSPREVIOUS in the middle of the
            // rotation: the old key is then unknown to the secret, and stays
            // (docs/guarantees.md, Known limitations); every other invariant still holds.
            if !self.abandoned && !self.relabelled && self.completed.insert(token) {
                self.check_completed()?;
            }
        }
        Ok(succeeded)
    }

    /// One invocation for the latest token of alice's first secret, if there is one.
    fn invoke_raw(
        &mut self,
        index: usize,
        step: Step,
    ) -> Result<Option<Result<crate::Outcome, StepError>>, TestCaseError> {
        let Some(token) = self.latest.clone() else {
            return Ok(None);
        };
        self.invoke_on(index, SECRET, step, &token).map(Some)
    }

    /// The second secret's next step.
    fn other_secret_step(&mut self) -> Result<(), TestCaseError> {
        if self.other_latest.is_none() || self.other_done == Step::ALL.len() {
            self.other_tokens += 1;
            let token = format!("9c4d1e2f-0000-4000-8000-{:012}", self.other_tokens);
            self.world.start_rotation(OTHER_SECRET, &token);
            self.other_latest = Some(token);
            self.other_done = 0;
        }
        let token = self.other_latest.clone().expect("set above");
        let step = Step::ALL[self.other_done];
        let result = self.invoke_on(usize::MAX, OTHER_SECRET, step, &token);
        let result = result?;
        if result.is_ok() && !self.world.state().crashed {
            self.other_done += 1;
        }
        Ok(())
    }

    /// One invocation of the function; the invariants are checked after it.
    fn invoke_on(
        &mut self,
        index: usize,
        secret: &str,
        step: Step,
        token: &str,
    ) -> Result<Result<crate::Outcome, StepError>, TestCaseError> {
        self.at = format!("op #{index}, {step} of {secret} for token {token}");
        // A crashed process is gone: the next delivery starts one that remembers nothing.
        if std::mem::replace(&mut self.world.state().crashed, false) {
            self.new_instance();
        }
        // Secrets Manager invokes each step a moment after the last.
        self.world.state().now += 1;
        let alerts_before = self.world.state().alert_attempts;
        let keys_before = self.world.state().users[USER].keys.clone();
        let holders = self.holders();
        let deadline_ms = self
            .deadline_secs
            .map(|secs| (self.world.state().now + secs) * 1000);
        let result = self.runtime.block_on(
            self.rotator
                .handle_until(&event_on(secret, step, token), deadline_ms),
        );
        if let Some(deadline_ms) = deadline_ms {
            let now_ms = self.world.state().now * 1000;
            prop_assert!(
                now_ms <= deadline_ms,
                "{}: the step ran past the invocation's deadline",
                self.at
            );
        }
        let (crashed, alerts, crashed_at_alert) = {
            let state = self.world.state();
            (
                state.crashed,
                state.alert_attempts - alerts_before,
                state.crashed && state.calls.last() == Some(&"sns:Publish"),
            )
        };
        // A failed invocation alerts once. A crashed one is a dead process: it alerts only if
        // it died right after publishing the alert.
        let expected_alerts = if crashed {
            usize::from(crashed_at_alert)
        } else {
            usize::from(result.is_err())
        };
        prop_assert_eq!(
            alerts,
            expected_alerts,
            "{}: alerts sent (crashed: {}, result: {:?})",
            self.at,
            crashed,
            result
        );
        if let Err(error) = &result {
            self.check_error(error)?;
        }
        self.check_grace_kept(&keys_before, "a rotation")?;
        let acting = if secret == SECRET {
            SECRET
        } else {
            OTHER_SECRET
        };
        self.check_holders_kept(acting, &keys_before, &holders)?;
        self.track_demotions();
        self.check_invariants()?;
        Ok(result)
    }

    /// A person's next action, or Secrets Manager's next delivery, comes a few seconds after a
    /// person made a key: by then IAM lists it. (A key made within the ledger's clock margin
    /// before an intent and not yet listed is indistinguishable from the rotator's own:
    /// docs/guarantees.md, Known limitations.)
    fn after_person_made_a_key(&self) {
        let mut state = self.world.state();
        state.now += state.listing_lag_secs + crate::ledger::SKEW_SECS + 1;
    }

    /// Whether the ledger of either secret would take the key `id` for the rotator's own.
    fn attributable(&self, id: &str) -> bool {
        let state = self.world.state();
        let user = &state.users[USER];
        let Some(key) = user.keys.iter().find(|k| k.id == id) else {
            return false;
        };
        let info = key.info();
        let tags = tags_of(user);
        [SECRET, OTHER_SECRET].iter().any(|secret| {
            Ledger::from_tags(&tags, &SecretDigest::of(&secret_arn(secret)))
                .owner_of(&info)
                .is_some()
        })
    }

    /// Every key that a version of the secret names.
    fn named_by(state: &crate::testing::State, secret: &str) -> BTreeSet<String> {
        state.secrets[secret]
            .versions
            .values()
            .filter_map(|v| v.value.as_deref())
            .filter_map(|text| SecretValue::parse(&SecretString::new(text)).ok())
            .flat_map(|v| {
                [v.access_key_id().cloned(), v.adopted.clone()]
                    .into_iter()
                    .flatten()
                    .map(|k| k.as_str().to_owned())
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    fn check_error(&self, error: &StepError) -> Result<(), TestCaseError> {
        let texts = [error.to_string(), format!("{error:?}")];
        // The ledger's tags stay within IAM's limits, whatever tags the user carries.
        prop_assert!(
            !texts[0].contains("tag too long"),
            "{}: a ledger tag broke IAM's limits: {}",
            self.at,
            texts[0]
        );
        for secret in &self.world.state().issued_secrets {
            for text in &texts {
                prop_assert!(
                    !text.contains(secret.as_str()),
                    "{}: a secret in the error {}",
                    self.at,
                    text
                );
            }
        }
        Ok(())
    }

    fn value(&self, stage: &str) -> Option<SecretValue> {
        let state = self.world.state();
        let (_, version) = state.secrets[SECRET].version_with(stage)?;
        SecretValue::parse(&SecretString::new(version.value.clone()?)).ok()
    }

    fn key_of(&self, stage: &str) -> Option<String> {
        self.value(stage)
            .and_then(|v| v.access_key_id().map(|k| k.as_str().to_owned()))
    }

    /// Asks the world's STS as whom `key` authenticates, outside the fault plan and the call
    /// count.
    fn authenticates(&self, key: &KeyPair) -> PortResult<String> {
        let (faults, named, calls, crashed) = {
            let mut state = self.world.state();
            let faults = std::mem::take(&mut state.faults);
            let named = std::mem::take(&mut state.named_faults);
            let crashed = std::mem::replace(&mut state.crashed, false);
            (faults, named, state.calls.len(), crashed)
        };
        let answer = self.runtime.block_on(self.world.caller_arn(key));
        let mut state = self.world.state();
        state.faults = faults;
        state.named_faults = named;
        state.calls.truncate(calls);
        state.crashed = crashed;
        answer
    }

    fn check_invariants(&mut self) -> Result<(), TestCaseError> {
        let at = &self.at;
        let (keys, tags, named, other_named, bob) = {
            let state = self.world.state();
            let user = &state.users[USER];
            (
                user.keys.clone(),
                tags_of(user),
                Self::named_by(&state, SECRET),
                Self::named_by(&state, OTHER_SECRET),
                format!("{:?}", state.users[BOB]),
            )
        };
        prop_assert!(keys.len() <= 2, "{}: more than two keys: {:?}", at, keys);
        prop_assert!(tags.len() <= 50, "{}: more than 50 tags", at);
        prop_assert_eq!(&bob, &self.bob, "{}: bob's keys or tags changed", at);
        for id in &self.human_active {
            prop_assert!(
                keys.iter().any(|k| &k.id == id),
                "{}: the rotator deleted {}, an active key the secret does not know",
                at,
                id
            );
            prop_assert!(
                keys.iter()
                    .any(|k| &k.id == id && k.status == KeyStatus::Active),
                "{}: the rotator deactivated {}, a person's active key",
                at,
                id
            );
        }
        // No key of the rotator's is unrecorded: each is in a value of the secret, or the
        // ledger tells which token made it.
        let ledger = Ledger::from_tags(&tags, &SecretDigest::of(&secret_arn(SECRET)));
        let other = Ledger::from_tags(&tags, &SecretDigest::of(&secret_arn(OTHER_SECRET)));
        for key in keys.iter().filter(|k| !self.human_keys.contains(&k.id)) {
            let info = key.info();
            prop_assert!(
                named.contains(&key.id)
                    || other_named.contains(&key.id)
                    || ledger.owner_of(&info).is_some()
                    || other.owner_of(&info).is_some(),
                "{}: the rotator's key {} is unrecorded (tags {:?})",
                at,
                key.id,
                tags
            );
        }
        if self.first_completed {
            let current = self.value(AWSCURRENT);
            let pair = current.and_then(|v| v.key);
            prop_assert!(pair.is_some(), "{}: AWSCURRENT holds no key", at);
            let pair = pair.expect("checked");
            let id = pair.access_key_id.as_str();
            let key = keys.iter().find(|k| k.id == id);
            prop_assert!(key.is_some(), "{}: the AWSCURRENT key {} is gone", at, id);
            prop_assert_eq!(
                key.expect("checked").status,
                KeyStatus::Active,
                "{}: the AWSCURRENT key {} is not active",
                at,
                id
            );
            let arn = self.authenticates(&pair);
            prop_assert!(
                arn.as_ref()
                    .is_ok_and(|arn| arn.ends_with(&format!(":user/{USER}"))),
                "{}: the AWSCURRENT key {} does not authenticate as {}: {:?}",
                at,
                id,
                USER,
                arn
            );
        }
        self.check_nothing_leaked()
    }

    /// No secret of any key ever created appears in an alert, an email or a log line.
    fn check_nothing_leaked(&mut self) -> Result<(), TestCaseError> {
        let state = self.world.state();
        let logs = self.logs.bytes();
        let new_logs = String::from_utf8_lossy(&logs[self.logs_checked..]);
        let notices = state.alerts[self.alerts_checked..]
            .iter()
            .chain(state.emails[self.emails_checked..].iter().map(|(_, n)| n));
        for notice in notices {
            for secret in &state.issued_secrets {
                prop_assert!(
                    !notice.subject.contains(secret.as_str())
                        && !notice.body.contains(secret.as_str()),
                    "{}: a secret in the notice {:?}",
                    self.at,
                    notice
                );
            }
        }
        for secret in &state.issued_secrets {
            prop_assert!(
                !new_logs.contains(secret.as_str()),
                "{}: a secret in the logs:\n{}",
                self.at,
                new_logs
            );
        }
        self.logs_checked = logs.len();
        self.alerts_checked = state.alerts.len();
        self.emails_checked = state.emails.len();
        Ok(())
    }

    /// Right after a rotation completes the user holds only the keys of AWSCURRENT and
    /// AWSPREVIOUS, and keys people made; and the old-key policy has been applied to the key of
    /// AWSPREVIOUS.
    fn check_completed(&self) -> Result<(), TestCaseError> {
        let current = self.key_of(AWSCURRENT);
        let previous = self.key_of(AWSPREVIOUS);
        let (keys, other) = {
            let state = self.world.state();
            let tags = tags_of(&state.users[USER]);
            let ledger = Ledger::from_tags(&tags, &SecretDigest::of(&secret_arn(OTHER_SECRET)));
            // The other secret's keys: named by its versions, or its own by its ledger.
            let mut other = Self::named_by(&state, OTHER_SECRET);
            for key in &state.users[USER].keys {
                if ledger.owner_of(&key.info()).is_some() {
                    other.insert(key.id.clone());
                }
            }
            (state.users[USER].keys.clone(), other)
        };
        for key in &keys {
            prop_assert!(
                Some(&key.id) == current.as_ref()
                    || Some(&key.id) == previous.as_ref()
                    || self.human_keys.contains(&key.id)
                    || self.adopted.contains(&key.id)
                    || other.contains(&key.id),
                "{}: after the rotation completed, {} is neither AWSCURRENT ({:?}) nor \
                 AWSPREVIOUS ({:?}) nor a person's key; keys: {:?}",
                self.at,
                key.id,
                current,
                previous,
                keys
            );
        }
        let old = previous
            .filter(|old| Some(old) != current.as_ref())
            .and_then(|old| keys.iter().find(|k| k.id == old));
        if let Some(old) = old {
            let retired = match self.policy {
                OldKeyPolicy::Delete => false,
                OldKeyPolicy::Deactivate => old.status == KeyStatus::Inactive,
                OldKeyPolicy::Keep | OldKeyPolicy::Grace => true,
            };
            prop_assert!(
                retired,
                "{}: the rotation completed, but the {:?} policy was not applied to the \
                 previous key {:?}",
                self.at,
                self.policy,
                old
            );
        }
        Ok(())
    }
}

// The recovery of stuck rotations (contract §11, issue 27): an operator's recover action and
// the sweep's, with their invariants.

/// What a recovery must not change, read before it.
struct BeforeRecovery {
    current_version: Option<String>,
    keys: Vec<crate::testing::Key>,
    world: String,
}

impl Sim {
    fn before_recovery(&self) -> BeforeRecovery {
        let state = self.world.state();
        BeforeRecovery {
            current_version: state.secrets[SECRET]
                .version_with(AWSCURRENT)
                .map(|(id, _)| id.clone()),
            keys: state.users[USER].keys.clone(),
            world: format!("{:?} {:?}", state.users, state.secrets),
        }
    }

    /// `{"Action": "recover", "SecretId": alice's secret}`, under the fault plan.
    fn recover_op(&mut self, index: usize, dry_run: bool) -> Result<(), TestCaseError> {
        self.at = format!("op #{index}, recover (dry run: {dry_run})");
        if std::mem::replace(&mut self.world.state().crashed, false) {
            self.new_instance();
        }
        // An operator acts on a human time scale.
        self.world.state().now += 60;
        let before = self.before_recovery();
        let recovery = crate::recover::Recovery::new(self.rotator.clone());
        let request = crate::recover::RecoverRequest {
            secret_id: SecretId::new(SECRET).expect("id"),
            dry_run,
        };
        let result = self.runtime.block_on(recovery.recover(&request));
        let crashed = std::mem::replace(&mut self.world.state().crashed, false);
        if crashed {
            self.new_instance();
        }
        let outcome = result
            .as_ref()
            .ok()
            .filter(|_| !crashed)
            .map(|summary| summary.outcome);
        if let Ok(summary) = &result {
            for secret in &self.world.state().issued_secrets {
                prop_assert!(
                    !summary.detail.contains(secret.as_str()),
                    "{}: a secret in the summary",
                    self.at
                );
            }
        }
        self.check_recovery(&before, outcome, dry_run)
    }

    /// The sweep with a stuck-after time, outside the fault plan (as `sweep`).
    fn recovering_sweep(&mut self, index: usize, hours: u8) -> Result<(), TestCaseError> {
        self.at = format!("op #{index}, the sweep recovering after {hours}h");
        self.world.restart();
        self.world.state().now += 1;
        let before = self.before_recovery();
        let faults = std::mem::take(&mut self.world.state().faults);
        let settings = Settings {
            stuck_after: std::time::Duration::from_secs(u64::from(hours) * 3_600),
            ..self.settings.clone()
        };
        let summary = self.runtime.block_on(
            Sweeper::new(self.world.ports(), settings).run(Mode::for_policy(self.policy)),
        );
        self.world.state().faults = faults;
        prop_assert!(summary.is_ok(), "{}: {:?}", self.at, summary);
        let summary = summary.expect("checked");
        let outcome = summary
            .recoveries
            .iter()
            .find(|r| r.secret == SECRET)
            .map(|r| r.outcome);
        if hours == 0 {
            prop_assert!(
                summary.recoveries.is_empty(),
                "{}: recovery is off",
                self.at
            );
        }
        self.check_recovery(&before, outcome, false)
    }

    /// A recovery's invariants: AWSCURRENT never moves; no key in use is deleted; the
    /// AWSCURRENT key that worked still works; after a recovery that ended the rotation, a new
    /// one can start (AWSPENDING only on AWSCURRENT's version, or nowhere); a dry run changes
    /// nothing. Then the model's own invariants.
    fn check_recovery(
        &mut self,
        before: &BeforeRecovery,
        outcome: Option<crate::recover::RecoveryOutcome>,
        dry_run: bool,
    ) -> Result<(), TestCaseError> {
        use crate::recover::RecoveryOutcome;
        let (current_version, pending_version, keys, world) = {
            let state = self.world.state();
            let secret = &state.secrets[SECRET];
            (
                secret.version_with(AWSCURRENT).map(|(id, _)| id.clone()),
                secret.version_with(AWSPENDING).map(|(id, _)| id.clone()),
                state.users[USER].keys.clone(),
                format!("{:?} {:?}", state.users, state.secrets),
            )
        };
        prop_assert_eq!(
            &current_version,
            &before.current_version,
            "{}: a recovery moved AWSCURRENT",
            self.at
        );
        for used in before.keys.iter().filter(|k| k.last_used.when.is_some()) {
            prop_assert!(
                keys.iter().any(|k| k.id == used.id),
                "{}: the recovery deleted {}, a key in use",
                self.at,
                used.id
            );
        }
        if let Some(current) = self.key_of(AWSCURRENT) {
            let was_active = before
                .keys
                .iter()
                .any(|k| k.id == current && k.status == KeyStatus::Active);
            let is_active = keys
                .iter()
                .any(|k| k.id == current && k.status == KeyStatus::Active);
            prop_assert!(
                !was_active || is_active,
                "{}: the recovery left the AWSCURRENT key {} unusable",
                self.at,
                current
            );
        }
        if dry_run {
            prop_assert_eq!(
                &world,
                &before.world,
                "{}: a dry run changed something",
                self.at
            );
        } else if matches!(
            outcome,
            Some(
                RecoveryOutcome::Abandoned
                    | RecoveryOutcome::FinishCompleted
                    | RecoveryOutcome::NotStuck
            )
        ) {
            prop_assert!(
                pending_version.is_none() || pending_version == current_version,
                "{}: after a recovery ({:?}) AWSPENDING stands on {:?}, not AWSCURRENT's {:?}: RotateSecret could not start",
                self.at,
                outcome,
                pending_version,
                current_version
            );
        }
        // The model follows: an abandoned rotation is a cancelled one; a completed finish is
        // a completion.
        if !dry_run && let Some(latest) = self.latest.clone() {
            let pending_on_latest = pending_version.as_deref() == Some(latest.as_str());
            let current_on_latest = current_version.as_deref() == Some(latest.as_str());
            if !pending_on_latest && !current_on_latest {
                self.abandoned = true;
            }
            if current_on_latest && outcome == Some(RecoveryOutcome::FinishCompleted) {
                self.first_completed = true;
                self.done = Step::ALL.len();
                if !self.abandoned && !self.relabelled && self.completed.insert(latest) {
                    self.check_completed()?;
                }
            }
        }
        self.track_demotions();
        self.check_invariants()
    }
}

fn run(case: &Case) -> Result<(), TestCaseError> {
    let logs = LogBuffer::default();
    let _capture = logs.capture();
    let mut sim = Sim::new(case, logs);
    sim.track_demotions();
    for (index, op) in case.ops.iter().enumerate() {
        sim.apply(index, op)?;
        sim.track_demotions();
    }
    Ok(())
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn rotations_keep_their_invariants_through_faults_and_people(case in case()) {
        run(&case)?;
    }
}

// ---------------------------------------------------------------------------------------------
// Hostile input
// ---------------------------------------------------------------------------------------------

/// Runs of one character up to `max` long: control characters and others that `Debug` escapes
/// included, and long enough to need truncating.
fn run_of_one_char(max: usize) -> impl Strategy<Value = String> {
    (any::<char>(), 0..max).prop_map(|(c, n)| std::iter::repeat_n(c, n).collect())
}

/// Short strings of any characters.
fn hostile_string() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => any::<String>(),
        1 => run_of_one_char(100),
        1 => "[a-zA-Z0-9/+=._-]{0,40}",
    ]
}

fn json_leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_filter_map("finite", |f| serde_json::Number::from_f64(f)
            .map(Value::Number)),
        hostile_string().prop_map(Value::String),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    json_leaf().prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(hostile_string(), inner, 0..6)
                .prop_map(|fields| Value::Object(fields.into_iter().collect())),
        ]
    })
}

/// A value for one of the event's fields: anything, or something close to valid.
fn event_field() -> impl Strategy<Value = Value> {
    prop_oneof![
        2 => json_value(),
        1 => run_of_one_char(3_000).prop_map(Value::String),
        1 => prop::sample::select(&Step::ALL[..]).prop_map(|s| Value::from(s.as_str())),
        1 => "[0-9a-zA-Z_.:=+@-]{28,70}".prop_map(Value::String),
        1 => Just(Value::from(SECRET)),
    ]
}

/// A JSON object with some of the event's four fields, of random types, and maybe others.
fn event_object() -> impl Strategy<Value = Value> {
    let fields = ["Step", "SecretId", "ClientRequestToken", "RotationToken"]
        .map(|name| prop::option::weighted(0.8, event_field()).prop_map(move |v| (name, v)));
    (
        fields,
        prop::collection::btree_map(hostile_string(), json_value(), 0..3),
    )
        .prop_map(|(known, others)| {
            let mut object: Map<String, Value> = others.into_iter().collect();
            for (name, value) in known {
                if let Some(value) = value {
                    object.insert(name.into(), value);
                }
            }
            Value::Object(object)
        })
}

fn check_event_error(error: &EventError) -> Result<(), TestCaseError> {
    let text = error.to_string();
    prop_assert!(!text.is_empty());
    prop_assert!(
        text.contains("event"),
        "the message does not name the event: {}",
        text
    );
    prop_assert!(
        text.chars().count() < 400,
        "a {}-character message: {}",
        text.chars().count(),
        text
    );
    Ok(())
}

/// Parses `bytes` as an event; a valid event must satisfy the identifiers' rules.
fn check_event(bytes: &[u8]) -> Result<(), TestCaseError> {
    match RotationEvent::from_slice(bytes) {
        Ok(event) => {
            prop_assert!(!event.secret_id.as_str().is_empty());
            prop_assert!((32..=64).contains(&event.token.as_str().chars().count()));
            Ok(())
        }
        Err(error) => check_event_error(&error),
    }
}

/// A recognizable secret access key.
fn secret_access_key() -> impl Strategy<Value = String> {
    "[A-Za-z0-9/+]{30}".prop_map(|tail| format!("SeCrEt{tail}"))
}

/// What is wrong with a secret value that holds a secret access key.
#[derive(Debug, Clone)]
enum Breakage {
    UserName(Value),
    NoUserName,
    AccessKeyId(Value),
    NoAccessKeyId,
    NotAnObject,
    /// The text is cut at this many bytes (rounded down to a character boundary).
    Cut(usize),
    /// This text follows the JSON.
    Trailing(String),
    /// Nothing: the value is valid when the rest is.
    Nothing,
}

fn breakage() -> impl Strategy<Value = Breakage> {
    prop_oneof![
        json_value().prop_map(Breakage::UserName),
        Just(Breakage::NoUserName),
        json_value().prop_map(Breakage::AccessKeyId),
        "[A-Za-z0-9 /+!é]{0,140}".prop_map(|id| Breakage::AccessKeyId(Value::String(id))),
        Just(Breakage::NoAccessKeyId),
        Just(Breakage::NotAnObject),
        any::<usize>().prop_map(Breakage::Cut),
        prop_oneof![hostile_string(), run_of_one_char(3_000)].prop_map(Breakage::Trailing),
        Just(Breakage::Nothing),
    ]
}

fn broken_value(secret: &str, breakage: &Breakage, others: &Map<String, Value>) -> String {
    let mut object = others.clone();
    object.insert("UserName".into(), Value::from(USER));
    object.insert("AccessKeyId".into(), Value::from("AKIAIOSFODNN7EXAMPLE"));
    object.insert("SecretAccessKey".into(), Value::from(secret));
    match breakage {
        Breakage::UserName(v) => {
            object.insert("UserName".into(), v.clone());
        }
        Breakage::NoUserName => {
            object.remove("UserName");
        }
        Breakage::AccessKeyId(v) => {
            object.insert("AccessKeyId".into(), v.clone());
        }
        Breakage::NoAccessKeyId => {
            object.remove("AccessKeyId");
        }
        _ => {}
    }
    let text = Value::Object(object).to_string();
    match breakage {
        Breakage::NotAnObject => format!("[{text}]"),
        Breakage::Cut(at) => {
            let mut at = at % (text.len() + 1);
            while !text.is_char_boundary(at) {
                at -= 1;
            }
            text[..at].to_owned()
        }
        Breakage::Trailing(tail) => format!("{text}{tail}"),
        _ => text,
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn the_event_parser_refuses_any_bytes_by_name(
        bytes in prop::collection::vec(any::<u8>(), 0..512),
    ) {
        check_event(&bytes)?;
    }

    #[test]
    fn the_event_parser_refuses_any_json_by_name(value in json_value()) {
        check_event(value.to_string().as_bytes())?;
    }

    #[test]
    fn the_event_parser_refuses_bad_fields_by_name(value in event_object()) {
        let from_bytes = RotationEvent::from_slice(value.to_string().as_bytes());
        prop_assert_eq!(&from_bytes, &RotationEvent::from_value(&value));
        check_event(value.to_string().as_bytes())?;
    }

    #[test]
    fn secret_values_of_any_text_parse_or_are_refused(text in any::<String>()) {
        if let Err(error) = SecretValue::parse(&SecretString::new(text)) {
            prop_assert!(!error.to_string().is_empty());
        }
    }

    #[test]
    fn secret_values_of_any_json_parse_or_are_refused(value in json_value()) {
        match SecretValue::parse(&SecretString::new(value.to_string())) {
            // What parses keeps its other fields verbatim.
            Ok(parsed) => {
                let reparsed = SecretValue::parse(&parsed.to_secret_string())
                    .expect("a serialized value parses");
                prop_assert_eq!(reparsed, parsed);
            }
            Err(error) => prop_assert!(!error.to_string().is_empty()),
        }
    }

    #[test]
    fn refused_secret_values_never_quote_the_secret_access_key(
        secret in secret_access_key(),
        breakage in breakage(),
        others in prop::collection::btree_map("[A-Za-z]{1,8}", json_value(), 0..3),
    ) {
        let others: Map<String, Value> = others.into_iter().collect();
        let text = broken_value(&secret, &breakage, &others);
        match SecretValue::parse(&SecretString::new(text.as_str())) {
            Ok(parsed) => {
                let key = parsed.key.expect("a value with a key");
                prop_assert_eq!(key.secret_access_key, SecretAccessKey::new(secret.as_str()));
                let others = format!("{:?}", parsed.other_fields);
                prop_assert!(!others.contains(&secret), "the secret in {}", others);
            }
            Err(error) => {
                for printed in [error.to_string(), format!("{error:?}")] {
                    prop_assert!(!printed.is_empty());
                    prop_assert!(!printed.contains(&secret), "{} quotes the secret", printed);
                }
            }
        }
    }
}

/// A secret value with a secret access key in its `AccessKeyId` (the two fields swapped by
/// hand) is refused with a message that does not quote the field.
#[test]
fn a_secret_in_the_access_key_id_field_is_not_quoted() {
    // With and without the `/` and `+` that most secrets hold: a secret is never a valid id.
    for secret in [
        "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        "wJalrXUtnFEMIK7MDENGbPxRfiCYEXAMPLEKEY01",
    ] {
        let text = format!(
            r#"{{"UserName":"alice","AccessKeyId":"{secret}","SecretAccessKey":"AKIAIOSFODNN7EXAMPLE"}}"#
        );
        let error = SecretValue::parse(&SecretString::new(text)).expect_err("refused");
        assert!(!error.to_string().contains(secret), "{error}");
        assert!(!format!("{error:?}").contains(secret), "{error:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// Hostile secret values through a whole createSecret
// ---------------------------------------------------------------------------------------------

fn fingerprint(world: &World) -> String {
    let state = world.state();
    format!("{:?} {:?}", state.users, state.secrets)
}

/// Runs a whole rotation with `token`, every step of which must succeed.
fn rotate(world: &World, rotator: &Rotator, token: &str) {
    world.start_rotation(SECRET, token);
    let runtime = runtime();
    for step in Step::ALL {
        world.restart();
        if let Err(error) = runtime.block_on(rotator.handle(&event(step, token))) {
            panic!("{step} failed: {error}");
        }
    }
}

/// Secret values that must be refused: createSecret fails with a short message that names the
/// problem, changes nothing, and sends exactly one alert. (scenarios.rs covers the small cases.)
#[test]
fn huge_and_malformed_secret_values_fail_with_one_short_alert_and_change_nothing() {
    const MB: usize = 1 << 20;
    let blob = "x".repeat(MB);
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "1 MB cut short",
            format!(r#"{{"UserName":"{USER}","Blob":"{blob}"#),
            "not JSON (it ends early",
        ),
        (
            "1 MB nested arrays",
            format!("{}{}", "[".repeat(MB / 2), "]".repeat(MB / 2)),
            "not JSON",
        ),
        (
            "1 MB array",
            format!(r#"["{blob}"]"#),
            "must be a JSON object, not an array",
        ),
        (
            "1 MB UserName",
            format!(r#"{{"UserName":"{blob}"}}"#),
            "longer than IAM's 64 characters",
        ),
        (
            "1 MB non-ASCII UserName",
            format!(r#"{{"UserName":"{}"}}"#, "ä".repeat(MB / 2)),
            "longer than IAM's 64 characters",
        ),
        (
            "a UserName of non-ASCII letters",
            r#"{"UserName":"Łukasz","Équipe":"paiements"}"#.to_owned(),
            "characters IAM does not allow",
        ),
        (
            "a lone surrogate in another field",
            format!(r#"{{"UserName":"{USER}","Note":"\ud800"}}"#),
            "not JSON",
        ),
        (
            "an unknown user among non-ASCII fields",
            r#"{"UserName":"bob","Équipe":"paiements 💳"}"#.to_owned(),
            "names user bob",
        ),
        (
            "an empty UserName among 1 MB of fields",
            format!(r#"{{"UserName":"","Blob":"{blob}"}}"#),
            "must not be empty",
        ),
    ];
    let runtime = runtime();
    for (name, value, expected) in cases {
        let (world, rotator) = world_with(&value, OldKeyPolicy::Delete);
        world.start_rotation(SECRET, &token(1));
        let before = fingerprint(&world);
        let error = runtime
            .block_on(rotator.handle(&event(Step::CreateSecret, &token(1))))
            .expect_err(name);
        let message = error.to_string();
        assert!(message.contains(expected), "{name}: {message}");
        assert!(message.len() < 600, "{name}: {} bytes", message.len());
        assert!(fingerprint(&world) == before, "{name}: something changed");
        let state = world.state();
        assert_eq!((state.alert_attempts, state.alerts.len()), (1, 1), "{name}");
        assert!(state.alerts[0].body.len() < 2_000, "{name}");
        assert!(state.alerts[0].body.contains(expected), "{name}");
    }
}

/// Fields other than the key's are copied verbatim into every new version, however large or
/// non-ASCII (Secrets Manager itself stops at 64 KB; the world does not).
#[test]
fn non_ascii_and_huge_other_fields_are_kept_verbatim() {
    let original = serde_json::json!({
        "UserName": USER,
        "Équipe": "paiements — équipe 💳",
        "Ключ": {"значение": ["🚀", "👩‍💻", "e\u{301}", 1.5, -7, null, true]},
        "שלום": "עולם",
        "控制字符": "\u{0}\u{1f}\t\n\"\\\u{7f}\u{200b}\u{feff}",
        "": "",
        "Blob": "é".repeat(1 << 19),
    });
    let others = |value: &Value| {
        let mut fields = value.as_object().expect("an object").clone();
        fields.remove("UserName");
        fields.remove("AccessKeyId");
        fields.remove("SecretAccessKey");
        fields
    };
    for policy in [OldKeyPolicy::Delete, OldKeyPolicy::Keep] {
        let (world, rotator) = world_with(&original.to_string(), policy);
        for n in 1..=2 {
            rotate(&world, &rotator, &token(n));
            let text = world.current_value(SECRET).expect("a current value");
            let stored: Value = serde_json::from_str(&text).expect("JSON");
            assert_eq!(others(&stored), others(&original), "{policy:?} #{n}");
            assert!(text.contains("paiements — équipe 💳"), "stored as UTF-8");
            let parsed = SecretValue::parse(&SecretString::new(text)).expect("parses");
            assert!(parsed.key.is_some());
        }
        assert_eq!(world.state().alert_attempts, 0);
    }
}
