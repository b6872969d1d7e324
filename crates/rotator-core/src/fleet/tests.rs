//! The fleet's tests against the in-memory world: every state and its precedence, every audit
//! finding, the requests each inspection makes, and the bound on concurrency.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;

use crate::config::OldKeyPolicy;
use crate::fleet::audit::{AuditOptions, FindingKind, audit};
use crate::fleet::status::{Progress, State, StatusOptions, StatusRow, evaluate, status};
use crate::fleet::{CONCURRENCY, account_of, inspect, managed_secrets};
use crate::ports::{KeyStatus, PortResult, SecretMetadata, SecretStore, VersionInfo, VersionRef};
use crate::rotation::{AWSCURRENT, AWSPENDING, AWSPREVIOUS, Ports, Rotator};
use crate::secret_value::SecretString;
use crate::testing::{World, settings};
use crate::types::{ClientRequestToken, RotationToken, SecretId, Step};

const DAY: u64 = 86_400;

fn token(n: u32) -> String {
    format!("5e1f0c3a-0000-4000-8000-{n:012}")
}

fn secret(user: &str) -> String {
    format!("IamKeyRotator/{user}")
}

/// A world whose function keeps the old key active (so AWSPREVIOUS stays in use) and a
/// rotator over it.
struct Fleet {
    world: World,
    rotator: Rotator,
    tokens: std::cell::Cell<u32>,
}

impl Fleet {
    fn new() -> Self {
        Self::with_policy(OldKeyPolicy::Keep)
    }

    fn with_policy(policy: OldKeyPolicy) -> Self {
        let world = World::new();
        let rotator = Rotator::new(world.ports(), settings(policy));
        Self {
            world,
            rotator,
            tokens: std::cell::Cell::new(0),
        }
    }

    fn next_token(&self) -> String {
        self.tokens.set(self.tokens.get() + 1);
        token(self.tokens.get())
    }

    /// A user and its secret `IamKeyRotator/<user>`, rotated once on a 90-day schedule.
    async fn managed(&self, user: &str) -> String {
        let name = secret(user);
        self.world.add_user(user);
        self.world
            .add_secret(&name, &format!(r#"{{"UserName":"{user}"}}"#));
        self.world.schedule(&name, 90);
        self.rotate(user).await;
        name
    }

    async fn rotate(&self, user: &str) {
        self.world
            .rotate_with(&self.rotator, &secret(user), &self.next_token())
            .await
            .expect("the rotation completes");
    }

    /// The secret's metadata, as `ListSecrets` gives it.
    async fn metadata(&self, user: &str) -> SecretMetadata {
        let name = secret(user);
        let listed = self.world.list_secrets(&name).await.expect("lists");
        listed
            .into_iter()
            .find(|m| m.name == name)
            .expect("the secret is listed")
    }

    async fn row(&self, user: &str) -> StatusRow {
        self.row_with(user, StatusOptions::default()).await
    }

    async fn row_with(&self, user: &str, options: StatusOptions) -> StatusRow {
        let ports = self.world.ports();
        let metadata = self.metadata(user).await;
        let inspection = inspect(&ports, &metadata).await.expect("inspects");
        evaluate(&inspection, self.world.state().now, &options)
    }

    fn key(&self, user: &str, stage: &str) -> String {
        self.world
            .key_in(&secret(user), stage)
            .expect("the stage holds a key")
    }

    fn set_status(&self, user: &str, key: &str, status: KeyStatus) {
        let mut state = self.world.state();
        let found = state
            .users
            .get_mut(user)
            .expect("user")
            .keys
            .iter_mut()
            .find(|k| k.id == key)
            .expect("key");
        found.status = status;
    }
}

fn no_progress(_: Progress) {}

#[tokio::test]
async fn a_rotated_secret_is_ok_and_costs_two_requests() {
    let fleet = Fleet::with_policy(OldKeyPolicy::Delete);
    fleet.managed("alice").await;
    fleet.rotate("alice").await;
    let metadata = fleet.metadata("alice").await;
    let before = fleet.world.call_count();
    let inspection = inspect(&fleet.world.ports(), &metadata)
        .await
        .expect("inspects");
    assert_eq!(
        fleet.world.calls_from(before),
        ["secretsmanager:GetSecretValue", "iam:ListAccessKeys"]
    );
    let row = evaluate(
        &inspection,
        fleet.world.state().now,
        &StatusOptions::default(),
    );
    assert_eq!(row.state, State::Ok, "{row:?}");
    assert_eq!(row.states, [State::Ok]);
    assert!(row.reasons.is_empty());
    let key = row.key.expect("a current key");
    assert_eq!(key.id.as_str(), fleet.key("alice", AWSCURRENT));
    assert_eq!(key.status, Some(KeyStatus::Active));
    assert_eq!(row.user, "alice");
    assert_eq!(row.account, None);
    assert!(row.rotation_enabled);
    assert!(row.next_rotation.is_some() && row.last_rotated.is_some());
}

#[tokio::test]
async fn an_unused_old_key_is_ok_and_one_used_after_the_rotation_is_in_use() {
    let fleet = Fleet::new();
    fleet.managed("alice").await;
    fleet.world.advance(600);
    fleet.rotate("alice").await;
    let old = fleet.key("alice", AWSPREVIOUS);
    // Used before the rotation only (the first rotation's testSecret): not in use.
    let metadata = fleet.metadata("alice").await;
    let before = fleet.world.call_count();
    let inspection = inspect(&fleet.world.ports(), &metadata)
        .await
        .expect("inspects");
    let row = evaluate(
        &inspection,
        fleet.world.state().now,
        &StatusOptions::default(),
    );
    assert_eq!(row.state, State::Ok, "{row:?}");
    assert_eq!(
        fleet.world.calls_from(before),
        [
            "secretsmanager:GetSecretValue",
            "iam:ListAccessKeys",
            "secretsmanager:GetSecretValue",
            "iam:ListUserTags",
            "iam:GetAccessKeyLastUsed"
        ],
        "the old key is read, its ledger record looked up and its last use asked, since it is active"
    );

    fleet.world.advance(60);
    fleet.world.use_key(&old, "s3");
    let row = fleet.row("alice").await;
    assert_eq!(row.state, State::OldKeyInUse, "{row:?}");
    assert!(
        row.reasons[0].contains(&old) && row.reasons[0].contains("s3"),
        "{:?}",
        row.reasons
    );
    assert!(row.state.needs_attention());

    // Once deactivated, the old key cannot be in use.
    fleet.set_status("alice", &old, KeyStatus::Inactive);
    assert_eq!(fleet.row("alice").await.state, State::Ok);
}

#[tokio::test]
async fn a_rotation_in_progress_becomes_stuck_after_an_hour() {
    let fleet = Fleet::with_policy(OldKeyPolicy::Delete);
    fleet.managed("alice").await;
    let pending = fleet.next_token();
    fleet.world.start_rotation(&secret("alice"), &pending);
    fleet
        .world
        .step_with(
            &fleet.rotator,
            &secret("alice"),
            &pending,
            Step::CreateSecret,
        )
        .await
        .expect("createSecret");
    fleet.world.advance(120);
    let row = fleet.row("alice").await;
    assert_eq!(row.state, State::InProgress, "{row:?}");
    assert!(!row.state.needs_attention());
    let shown = row.pending.clone().expect("a pending version");
    assert_eq!(shown.version, pending);
    assert_eq!(shown.age_secs, Some(120));
    assert!(
        !row.states.contains(&State::Blocked),
        "the pending key is the secret's own: {row:?}"
    );

    fleet.world.advance(3600);
    let row = fleet.row("alice").await;
    assert_eq!(row.state, State::Stuck, "{row:?}");
    assert!(row.reasons[0].contains("1h 2m old"), "{:?}", row.reasons);

    let row = fleet
        .row_with(
            "alice",
            StatusOptions {
                stuck_after_secs: 2 * 3600,
                ..StatusOptions::default()
            },
        )
        .await;
    assert_eq!(
        row.state,
        State::InProgress,
        "the threshold is the caller's"
    );
}

#[tokio::test]
async fn a_first_rotation_in_progress_is_not_broken_but_a_secret_without_a_key_is() {
    let fleet = Fleet::new();
    fleet.world.add_user("alice");
    fleet
        .world
        .add_secret(&secret("alice"), r#"{"UserName":"alice"}"#);
    fleet.world.schedule(&secret("alice"), 90);
    let row = fleet.row("alice").await;
    assert_eq!(row.state, State::Broken, "{row:?}");
    assert!(
        row.reasons[0].contains("no access key"),
        "{:?}",
        row.reasons
    );

    fleet.world.start_rotation(&secret("alice"), &token(99));
    let row = fleet.row("alice").await;
    assert_eq!(row.state, State::InProgress, "{row:?}");
    assert_eq!(row.key, None);
}

#[tokio::test]
async fn a_secret_without_rotation_is_rotation_disabled_and_a_late_one_overdue() {
    let fleet = Fleet::with_policy(OldKeyPolicy::Delete);
    let name = fleet.managed("alice").await;
    fleet.world.advance(89 * DAY);
    assert_eq!(fleet.row("alice").await.state, State::Ok);
    fleet.world.advance(2 * DAY);
    let row = fleet.row("alice").await;
    assert_eq!(row.state, State::Overdue, "{row:?}");
    assert!(row.reasons[0].contains("has not happened"));

    fleet
        .world
        .state()
        .secrets
        .get_mut(&name)
        .expect("secret")
        .rotation_enabled = false;
    let row = fleet.row("alice").await;
    assert_eq!(row.state, State::RotationDisabled, "{row:?}");
    assert_eq!(row.states, [State::RotationDisabled]);
}

#[tokio::test]
async fn a_current_key_that_is_gone_inactive_or_foreign_is_broken() {
    let fleet = Fleet::with_policy(OldKeyPolicy::Delete);
    let name = fleet.managed("alice").await;
    let key = fleet.key("alice", AWSCURRENT);

    fleet.set_status("alice", &key, KeyStatus::Inactive);
    let row = fleet.row("alice").await;
    assert_eq!(row.state, State::Broken);
    assert!(row.reasons[0].contains("inactive"), "{:?}", row.reasons);
    assert_eq!(row.key.expect("key").status, Some(KeyStatus::Inactive));

    fleet
        .world
        .state()
        .users
        .get_mut("alice")
        .expect("alice")
        .keys
        .clear();
    let row = fleet.row("alice").await;
    assert_eq!(row.state, State::Broken);
    assert!(
        row.reasons[0].contains("does not have"),
        "{:?}",
        row.reasons
    );
    assert_eq!(row.key.expect("key").status, None);

    fleet.world.state().users.remove("alice");
    let row = fleet.row("alice").await;
    assert!(
        row.reasons[0].contains("does not exist"),
        "{:?}",
        row.reasons
    );

    fleet.world.add_user("alice");
    fleet.world.put_current(
        &name,
        r#"{"UserName":"bob","AccessKeyId":"AKIAEXAMPLEEXAMPLE1","SecretAccessKey":"x"}"#,
    );
    let row = fleet.row("alice").await;
    assert_eq!(row.state, State::Broken);
    assert!(
        row.reasons[0].contains("bob") && row.reasons[0].contains("alice"),
        "{:?}",
        row.reasons
    );

    fleet.world.put_current(&name, "not json wJalrXUtnFEMI");
    let row = fleet.row("alice").await;
    assert!(
        row.reasons[0].contains("not a rotator secret"),
        "{:?}",
        row.reasons
    );
    assert!(
        !row.reasons[0].contains("wJalrXUtnFEMI"),
        "the value never reaches the output"
    );
}

#[tokio::test]
async fn an_active_key_the_secret_does_not_know_blocks_the_next_rotation() {
    let fleet = Fleet::with_policy(OldKeyPolicy::Delete);
    fleet.managed("alice").await;
    let (by_hand, _) = fleet.world.add_key("alice", KeyStatus::Active);
    let row = fleet.row("alice").await;
    assert_eq!(row.state, State::Blocked, "{row:?}");
    assert!(row.reasons[0].contains(&by_hand), "{:?}", row.reasons);
    // The rotation really fails.
    let next = fleet.next_token();
    fleet.world.start_rotation(&secret("alice"), &next);
    assert!(
        fleet
            .world
            .step_with(&fleet.rotator, &secret("alice"), &next, Step::CreateSecret)
            .await
            .is_err()
    );
    fleet.world.abandon_rotation(&secret("alice"));

    // An inactive key is deleted to make room: nothing blocks.
    fleet.set_status("alice", &by_hand, KeyStatus::Inactive);
    assert_eq!(fleet.row("alice").await.state, State::Ok);
}

#[tokio::test]
async fn a_key_that_the_ledger_records_for_an_abandoned_rotation_does_not_block() {
    let fleet = Fleet::with_policy(OldKeyPolicy::Delete);
    fleet.managed("alice").await;
    let abandoned = fleet.next_token();
    fleet.world.start_rotation(&secret("alice"), &abandoned);
    fleet
        .world
        .step_with(
            &fleet.rotator,
            &secret("alice"),
            &abandoned,
            Step::CreateSecret,
        )
        .await
        .expect("createSecret");
    fleet.world.abandon_rotation(&secret("alice"));
    assert_eq!(fleet.world.state().users["alice"].keys.len(), 2);
    let before = fleet.world.call_count();
    let row = fleet.row("alice").await;
    assert_eq!(row.state, State::Ok, "{row:?}");
    assert!(
        fleet.world.calls_from(before).contains(&"iam:ListUserTags"),
        "the ledger is read for a key no stage explains"
    );
    // And the next rotation indeed succeeds.
    fleet.rotate("alice").await;
}

#[tokio::test]
async fn the_most_urgent_state_wins_and_every_state_is_listed() {
    let fleet = Fleet::with_policy(OldKeyPolicy::Delete);
    let name = fleet.managed("alice").await;
    let current = fleet.key("alice", AWSCURRENT);
    fleet.world.add_key("alice", KeyStatus::Active);
    fleet.world.start_rotation(&name, &fleet.next_token());
    fleet.world.advance(2 * 3600);
    fleet
        .world
        .state()
        .secrets
        .get_mut(&name)
        .expect("secret")
        .rotation_enabled = false;
    let row = fleet.row("alice").await;
    assert_eq!(
        row.states,
        [State::Stuck, State::Blocked, State::RotationDisabled],
        "{row:?}"
    );
    assert_eq!(row.state, State::Stuck);
    assert_eq!(row.reasons.len(), 3);

    fleet.set_status("alice", &current, KeyStatus::Inactive);
    let row = fleet.row("alice").await;
    assert_eq!(row.state, State::Broken, "{row:?}");
    let mut sorted = row.states.clone();
    sorted.sort();
    assert_eq!(sorted, row.states, "listed in order of precedence");
    assert_eq!(State::ALL.len(), 9);
}

#[tokio::test]
async fn a_secret_of_another_account_is_read_through_its_member_role() {
    let fleet = Fleet::with_policy(OldKeyPolicy::Delete);
    let member = fleet
        .world
        .add_member_account("111122223333", Some("fleet-check"));
    member.add_user("dave");
    let (key, key_secret) = member.add_key("dave", KeyStatus::Active);
    let name = "IamKeyRotator/111122223333/dave";
    fleet.world.add_secret(
        name,
        &format!(
            r#"{{"UserName":"dave","AccountId":"111122223333","AccessKeyId":"{key}","SecretAccessKey":"{key_secret}"}}"#
        ),
    );
    fleet.world.schedule(name, 90);
    let now = fleet.world.state().now;
    fleet
        .world
        .state()
        .secrets
        .get_mut(name)
        .expect("secret")
        .last_rotated = Some(now);
    let role = crate::accounts::MemberRole {
        external_id: Some("fleet-check".to_owned()),
        ..crate::accounts::MemberRole::default()
    };
    let options = StatusOptions {
        member_role: role,
        ..StatusOptions::default()
    };
    let rows = status(
        &fleet.world.ports(),
        "IamKeyRotator/",
        &options,
        &no_progress,
    )
    .await
    .expect("status");
    assert_eq!(rows[0].state, State::Ok, "{rows:?}");
    assert_eq!(rows[0].account.as_deref(), Some("111122223333"));
    assert_eq!(
        rows[0].key.as_ref().and_then(|k| k.status),
        Some(KeyStatus::Active)
    );

    // The member's key made by hand blocks, as in the own account.
    member.add_key("dave", KeyStatus::Active);
    let rows = status(
        &fleet.world.ports(),
        "IamKeyRotator/",
        &options,
        &no_progress,
    )
    .await
    .expect("status");
    assert_eq!(rows[0].state, State::Blocked, "{rows:?}");

    // A role that cannot be assumed makes the row broken, naming the role; the other rows
    // are still read.
    fleet.managed("erin").await;
    let rows = status(
        &fleet.world.ports(),
        "IamKeyRotator/",
        &StatusOptions::default(),
        &no_progress,
    )
    .await
    .expect("the other secrets are still read");
    let dave = rows
        .iter()
        .find(|row| row.user == "dave")
        .expect("dave's row");
    assert_eq!(dave.state, State::Broken, "{rows:?}");
    assert!(
        dave.reasons[0]
            .contains("AssumeRole for arn:aws:iam::111122223333:role/IamKeyRotatorMember failed"),
        "{rows:?}"
    );
    let erin = rows
        .iter()
        .find(|row| row.user == "erin")
        .expect("erin's row");
    assert_eq!(erin.state, State::Ok, "{rows:?}");

    // A value naming another account is broken.
    fleet.world.put_current(
        name,
        r#"{"UserName":"dave","AccountId":"444455556666","AccessKeyId":"AKIAEXAMPLEEXAMPLE1","SecretAccessKey":"x"}"#,
    );
    let rows = status(
        &fleet.world.ports(),
        "IamKeyRotator/",
        &options,
        &no_progress,
    )
    .await
    .expect("status");
    assert_eq!(rows[0].state, State::Broken, "{rows:?}");
    assert!(rows[0].reasons[0].contains("444455556666"), "{rows:?}");

    // So is a value without AccountId in a secret whose name names an account: every step
    // refuses it, as naming the function's own account.
    fleet.world.put_current(
        name,
        r#"{"UserName":"dave","AccessKeyId":"AKIAEXAMPLEEXAMPLE1","SecretAccessKey":"x"}"#,
    );
    let rows = status(
        &fleet.world.ports(),
        "IamKeyRotator/",
        &options,
        &no_progress,
    )
    .await
    .expect("status");
    let dave = rows
        .iter()
        .find(|row| row.user == "dave")
        .expect("dave's row");
    assert_eq!(dave.state, State::Broken, "{rows:?}");
    assert!(
        dave.reasons[0].contains("the value has no AccountId"),
        "{rows:?}"
    );
}

#[test]
fn the_account_is_a_twelve_digit_segment_before_the_user() {
    assert_eq!(
        account_of("IamKeyRotator/111122223333/alice").as_deref(),
        Some("111122223333")
    );
    assert_eq!(account_of("IamKeyRotator/alice"), None);
    assert_eq!(account_of("IamKeyRotator/11112222333/alice"), None);
    assert_eq!(account_of("IamKeyRotator/team-a/alice"), None);
    assert_eq!(account_of("alice"), None);
}

#[tokio::test]
async fn status_lists_the_prefix_in_name_order_with_accounts() {
    let fleet = Fleet::with_policy(OldKeyPolicy::Delete);
    for user in ["carol", "alice", "bob"] {
        fleet.managed(user).await;
    }
    fleet
        .world
        .add_member_account("111122223333", None)
        .add_user("dave");
    fleet
        .world
        .add_secret("IamKeyRotator/111122223333/dave", r#"{"UserName":"dave"}"#);
    fleet
        .world
        .add_secret("other/erin", r#"{"UserName":"erin"}"#);
    let listed = managed_secrets(&fleet.world.ports(), "IamKeyRotator/")
        .await
        .expect("lists");
    let names: Vec<&str> = listed.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "IamKeyRotator/111122223333/dave",
            "IamKeyRotator/alice",
            "IamKeyRotator/bob",
            "IamKeyRotator/carol"
        ]
    );
    let seen = AtomicUsize::new(0);
    let rows = status(
        &fleet.world.ports(),
        "IamKeyRotator/",
        &StatusOptions::default(),
        &|progress| {
            if progress == Progress::Inspected {
                seen.fetch_add(1, Ordering::Relaxed);
            }
        },
    )
    .await
    .expect("status");
    assert_eq!(rows.len(), 4);
    assert_eq!(seen.load(Ordering::Relaxed), 4);
    assert_eq!(rows[0].account.as_deref(), Some("111122223333"));
    assert_eq!(rows[0].user, "dave");
    assert!(
        rows[1..].iter().all(|row| row.state == State::Ok),
        "{rows:?}"
    );
}

/// A secret store that answers after a real pause and counts the calls in flight.
struct Slow {
    inner: World,
    in_flight: AtomicUsize,
    most: AtomicUsize,
}

impl Slow {
    async fn pause<T>(&self, answer: T) -> T {
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.most.fetch_max(now, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(2)).await;
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        answer
    }
}

#[async_trait]
impl SecretStore for Slow {
    async fn describe(&self, secret: &SecretId) -> PortResult<SecretMetadata> {
        self.inner.describe(secret).await
    }
    async fn get_value<'a>(
        &self,
        secret: &SecretId,
        version: VersionRef<'a>,
    ) -> PortResult<Option<SecretString>> {
        let answer = self.inner.get_value(secret, version).await;
        self.pause(answer).await
    }
    async fn put_pending<'a>(
        &self,
        secret: &SecretId,
        token: &ClientRequestToken,
        value: &SecretString,
        rotation_token: Option<&'a RotationToken>,
    ) -> PortResult<()> {
        self.inner
            .put_pending(secret, token, value, rotation_token)
            .await
    }
    async fn update_stage<'a>(
        &self,
        secret: &SecretId,
        stage: &str,
        move_to: Option<&'a str>,
        remove_from: Option<&'a str>,
    ) -> PortResult<()> {
        self.inner
            .update_stage(secret, stage, move_to, remove_from)
            .await
    }
    async fn list_secrets(&self, name_prefix: &str) -> PortResult<Vec<SecretMetadata>> {
        self.inner.list_secrets(name_prefix).await
    }
    async fn list_versions(&self, secret: &SecretId) -> PortResult<Vec<VersionInfo>> {
        self.inner.list_versions(secret).await
    }
    async fn start_rotation(&self, secret: &SecretId) -> PortResult<Option<String>> {
        SecretStore::start_rotation(&self.inner, secret).await
    }
}

/// Contract §3: a secret under the prefix whose name has another shape binds nobody; `status`
/// shows it broken, naming why, and reads no user's keys for it.
#[tokio::test]
async fn a_name_of_another_shape_is_broken_and_its_user_is_not_read() {
    let fleet = Fleet::with_policy(OldKeyPolicy::Delete);
    fleet.managed("alice").await;
    fleet
        .world
        .add_secret("IamKeyRotator/x/alice", r#"{"UserName":"alice"}"#);
    let before = fleet.world.call_count();
    let rows = status(
        &fleet.world.ports(),
        "IamKeyRotator/",
        &StatusOptions::default(),
        &|_| {},
    )
    .await
    .expect("status");
    let odd = rows
        .iter()
        .find(|row| row.secret == "IamKeyRotator/x/alice")
        .expect("listed");
    assert_eq!(odd.state, State::Broken, "{odd:?}");
    assert!(odd.reasons[0].contains("neither"), "{odd:?}");
    let listings = fleet
        .world
        .calls_from(before)
        .into_iter()
        .filter(|call| *call == "iam:ListAccessKeys")
        .count();
    assert_eq!(listings, 1, "only alice's own secret reads her keys");
}

#[tokio::test]
async fn inspections_run_concurrently_within_the_bound() {
    let fleet = Fleet::with_policy(OldKeyPolicy::Delete);
    for n in 0..60 {
        fleet.managed(&format!("user{n:02}")).await;
    }
    let slow = Arc::new(Slow {
        inner: fleet.world.clone(),
        in_flight: AtomicUsize::new(0),
        most: AtomicUsize::new(0),
    });
    let ports = Ports {
        secrets: slow.clone(),
        ..fleet.world.ports()
    };
    let rows = status(
        &ports,
        "IamKeyRotator/",
        &StatusOptions::default(),
        &no_progress,
    )
    .await
    .expect("status");
    assert_eq!(rows.len(), 60);
    let names: Vec<&str> = rows.iter().map(|r| r.secret.as_str()).collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted, "rows keep the name order");
    let most = slow.most.load(Ordering::SeqCst);
    assert!(
        (2..=CONCURRENCY).contains(&most),
        "{most} calls were in flight at most"
    );
}

#[tokio::test]
async fn a_failed_read_makes_its_row_unreadable_naming_the_call_and_the_secret() {
    let fleet = Fleet::with_policy(OldKeyPolicy::Delete);
    fleet.managed("alice").await;
    fleet.world.inject(
        "iam:ListAccessKeys",
        crate::testing::Fault::Fail(crate::ports::PortErrorKind::AccessDenied),
    );
    let rows = status(
        &fleet.world.ports(),
        "IamKeyRotator/",
        &StatusOptions::default(),
        &no_progress,
    )
    .await
    .expect("a secret's failure is its row's");
    assert_eq!(rows[0].state, State::Unreadable, "{rows:?}");
    assert_eq!(rows[0].states, [State::Unreadable]);
    assert!(
        rows[0].reasons[0].contains("ListAccessKeys for alice failed:"),
        "{rows:?}"
    );
    assert!(rows[0].state.needs_attention());
}

/// A secret store whose reads of one secret's values always fail as throttled (the SDK's
/// retries exhausted); every other call goes to the world.
struct Throttled {
    inner: World,
    secret: String,
}

#[async_trait]
impl SecretStore for Throttled {
    async fn describe(&self, secret: &SecretId) -> PortResult<SecretMetadata> {
        self.inner.describe(secret).await
    }
    async fn get_value<'a>(
        &self,
        secret: &SecretId,
        version: VersionRef<'a>,
    ) -> PortResult<Option<SecretString>> {
        if secret.as_str() == self.secret {
            return Err(crate::ports::PortError::new(
                crate::ports::PortErrorKind::Throttled,
                "ThrottlingException: Rate exceeded",
            ));
        }
        self.inner.get_value(secret, version).await
    }
    async fn put_pending<'a>(
        &self,
        secret: &SecretId,
        token: &ClientRequestToken,
        value: &SecretString,
        rotation_token: Option<&'a RotationToken>,
    ) -> PortResult<()> {
        self.inner
            .put_pending(secret, token, value, rotation_token)
            .await
    }
    async fn update_stage<'a>(
        &self,
        secret: &SecretId,
        stage: &str,
        move_to: Option<&'a str>,
        remove_from: Option<&'a str>,
    ) -> PortResult<()> {
        self.inner
            .update_stage(secret, stage, move_to, remove_from)
            .await
    }
    async fn list_secrets(&self, name_prefix: &str) -> PortResult<Vec<SecretMetadata>> {
        self.inner.list_secrets(name_prefix).await
    }
    async fn list_versions(&self, secret: &SecretId) -> PortResult<Vec<VersionInfo>> {
        self.inner.list_versions(secret).await
    }
    async fn start_rotation(&self, secret: &SecretId) -> PortResult<Option<String>> {
        SecretStore::start_rotation(&self.inner, secret).await
    }
}

#[tokio::test]
async fn a_secret_whose_reads_keep_being_throttled_is_unreadable_and_the_rest_are_reported() {
    let fleet = Fleet::with_policy(OldKeyPolicy::Delete);
    for user in ["alice", "bob", "carol"] {
        fleet.managed(user).await;
    }
    let ports = Ports {
        secrets: Arc::new(Throttled {
            inner: fleet.world.clone(),
            secret: secret("bob"),
        }),
        ..fleet.world.ports()
    };
    let rows = status(
        &ports,
        "IamKeyRotator/",
        &StatusOptions::default(),
        &no_progress,
    )
    .await
    .expect("one secret's throttled reads do not hide the fleet");
    let states: Vec<(&str, State)> = rows
        .iter()
        .map(|row| (row.user.as_str(), row.state))
        .collect();
    assert_eq!(
        states,
        [
            ("alice", State::Ok),
            ("bob", State::Unreadable),
            ("carol", State::Ok)
        ]
    );
    let bob = &rows[1];
    assert_eq!(bob.secret, secret("bob"));
    assert!(bob.key.is_none(), "{bob:?}");
    assert!(
        bob.rotation_enabled,
        "the listing's metadata is kept: {bob:?}"
    );
    assert!(
        bob.reasons[0].contains("GetSecretValue for IamKeyRotator/bob failed")
            && bob.reasons[0].contains("ThrottlingException"),
        "{bob:?}"
    );
    assert!(bob.state.needs_attention());
    // Ranked right after broken, before every state that an inspection can find.
    assert!(State::Broken < State::Unreadable && State::Unreadable < State::Stuck);
}

// The audit.

async fn run_audit(fleet: &Fleet, days: u64) -> crate::fleet::audit::Audit {
    audit(
        &fleet.world.ports(),
        "IamKeyRotator/",
        AuditOptions { max_age_days: days },
        &crate::accounts::MemberRole::default(),
        None,
        &no_progress,
    )
    .await
    .expect("audits")
}

fn kinds(audit: &crate::fleet::audit::Audit, user: &str) -> Vec<FindingKind> {
    audit
        .findings
        .iter()
        .filter(|f| f.user == user)
        .map(|f| f.kind)
        .collect()
}

#[tokio::test]
async fn an_old_key_that_no_secret_holds_is_found_and_a_young_one_is_not() {
    let fleet = Fleet::with_policy(OldKeyPolicy::Delete);
    fleet.world.add_user("reporting");
    let (old, _) = fleet.world.add_key("reporting", KeyStatus::Active);
    fleet.world.use_key(&old, "s3");
    fleet.world.advance(100 * DAY);
    fleet.world.add_user("fresh");
    let (young, _) = fleet.world.add_key("fresh", KeyStatus::Active);
    fleet.world.use_key(&young, "s3");
    fleet.world.add_user("nokeys");
    let audit = run_audit(&fleet, 90).await;
    assert_eq!(
        kinds(&audit, "reporting"),
        [FindingKind::UnmanagedOldKey, FindingKind::UnusedKey]
    );
    let finding = &audit.findings[0];
    assert_eq!(finding.key, None, "the report has no key ids");
    assert!(finding.detail.contains("no managed secret"), "{finding:?}");
    assert!(
        !finding.detail.contains("rotator adopt"),
        "no secret binds the user"
    );
    assert!(kinds(&audit, "fresh").is_empty(), "{audit:?}");
    assert_eq!(audit.users_with_keys, 2);
    assert_eq!(audit.managed_users, 0);
    assert_eq!(audit.keys, 2);
}

#[tokio::test]
async fn a_managed_key_older_than_the_policy_means_a_broken_rotation() {
    let fleet = Fleet::with_policy(OldKeyPolicy::Delete);
    fleet.managed("alice").await;
    fleet.managed("bob").await;
    let alice_key = fleet.key("alice", AWSCURRENT);
    fleet.world.use_key(&alice_key, "s3");
    fleet.world.advance(100 * DAY);
    fleet.world.use_key(&alice_key, "s3");
    fleet.rotate("bob").await;
    let before = fleet.world.call_count();
    let audit = run_audit(&fleet, 90).await;
    let calls = fleet.world.calls_from(before);
    assert_eq!(
        calls.iter().filter(|c| **c == "iam:ListAccessKeys").count(),
        2,
        "one ListAccessKeys per managed user: {calls:?}"
    );
    assert_eq!(kinds(&audit, "alice"), [FindingKind::ManagedOldKey]);
    let finding = &audit.findings[0];
    assert_eq!(
        finding.key.as_ref().map(|k| k.as_str()),
        Some(alice_key.as_str())
    );
    assert_eq!(finding.secret.as_deref(), Some("IamKeyRotator/alice"));
    assert!(kinds(&audit, "bob").is_empty(), "{audit:?}");
    assert_eq!(audit.managed_users, 2);
}

#[tokio::test]
async fn a_managed_users_key_made_by_hand_is_unmanaged_and_two_active_keys_are_found() {
    let fleet = Fleet::with_policy(OldKeyPolicy::Delete);
    fleet.managed("alice").await;
    let (by_hand, _) = fleet.world.add_key("alice", KeyStatus::Active);
    let current = fleet.key("alice", AWSCURRENT);
    fleet.world.advance(30 * DAY);
    fleet.world.use_key(&by_hand, "ec2");
    fleet.world.use_key(&current, "s3");
    let audit = run_audit(&fleet, 20).await;
    let alice: Vec<_> = audit
        .findings
        .iter()
        .filter(|f| f.user == "alice")
        .collect();
    assert_eq!(
        alice.iter().map(|f| f.kind).collect::<Vec<_>>(),
        [
            FindingKind::UnmanagedOldKey,
            FindingKind::ManagedOldKey,
            FindingKind::TwoActiveKeys
        ],
        "{alice:?}"
    );
    assert_eq!(
        alice[0].key.as_ref().map(|k| k.as_str()),
        Some(by_hand.as_str())
    );
    // The secret that binds alice can take the key over (contract §10).
    assert!(
        alice[0].detail.contains(&format!(
            "rotator adopt 'IamKeyRotator/alice' --key {by_hand}"
        )),
        "{:?}",
        alice[0]
    );
    assert_eq!(
        alice[1].key.as_ref().map(|k| k.as_str()),
        Some(current.as_str())
    );
}

#[tokio::test]
async fn an_unused_key_is_found_and_the_held_previous_key_is_not_unmanaged() {
    let fleet = Fleet::new();
    fleet.managed("alice").await;
    fleet.world.advance(DAY);
    fleet.rotate("alice").await;
    let previous = fleet.key("alice", AWSPREVIOUS);
    let current = fleet.key("alice", AWSCURRENT);
    fleet.world.advance(10 * DAY);
    fleet.world.use_key(&current, "s3");
    let audit = run_audit(&fleet, 5).await;
    let alice: Vec<_> = audit
        .findings
        .iter()
        .filter(|f| f.user == "alice")
        .collect();
    assert_eq!(
        alice.iter().map(|f| f.kind).collect::<Vec<_>>(),
        [
            FindingKind::ManagedOldKey,
            FindingKind::UnusedKey,
            FindingKind::TwoActiveKeys
        ],
        "{alice:?}"
    );
    assert_eq!(
        alice[1].key.as_ref().map(|k| k.as_str()),
        Some(previous.as_str())
    );
    assert!(alice[1].detail.contains("last used"), "{:?}", alice[1]);
    assert!(
        !alice.iter().any(|f| f.kind == FindingKind::UnmanagedOldKey),
        "AWSPREVIOUS's key is the secret's"
    );

    // A policy of 30 days finds only the two active keys.
    let audit = run_audit(&fleet, 30).await;
    assert_eq!(kinds(&audit, "alice"), [FindingKind::TwoActiveKeys]);
}

#[tokio::test]
async fn a_pending_version_is_never_read_as_current() {
    let fleet = Fleet::with_policy(OldKeyPolicy::Delete);
    fleet.managed("alice").await;
    let current = fleet.key("alice", AWSCURRENT);
    let pending = fleet.next_token();
    fleet.world.start_rotation(&secret("alice"), &pending);
    fleet
        .world
        .step_with(
            &fleet.rotator,
            &secret("alice"),
            &pending,
            Step::CreateSecret,
        )
        .await
        .expect("createSecret");
    let metadata = fleet.metadata("alice").await;
    let inspection = inspect(&fleet.world.ports(), &metadata)
        .await
        .expect("inspects");
    assert_eq!(
        inspection.current_key().map(|k| k.as_str()),
        Some(current.as_str())
    );
    assert_eq!(
        inspection.pending_key().map(|k| k.as_str()),
        fleet.world.key_in(&secret("alice"), AWSPENDING).as_deref()
    );
    assert!(inspection.unknown_keys().is_empty());
}

// Starting and following a rotation.

/// What "Secrets Manager" does while the follower sleeps.
#[derive(Debug, Clone, Copy)]
enum Act {
    Deliver(Step),
    Abandon,
}

/// A clock whose every sleep lets the next act of the script happen, then moves time on: the
/// follower sees the rotation move between its looks.
struct Driving {
    world: World,
    rotator: Rotator,
    secret: String,
    script: std::sync::Mutex<std::collections::VecDeque<Act>>,
}

#[async_trait]
impl crate::ports::Clock for Driving {
    fn now(&self) -> crate::ports::EpochSecs {
        self.world.state().now
    }

    async fn sleep(&self, duration: Duration) {
        let act = self.script.lock().expect("script").pop_front();
        let pending = self
            .world
            .state()
            .secrets
            .get(&self.secret)
            .and_then(|s| s.version_with(AWSPENDING).map(|(id, _)| id.clone()));
        match (act, pending) {
            (Some(Act::Deliver(step)), Some(token)) => {
                self.world
                    .step_with(&self.rotator, &self.secret, &token, step)
                    .await
                    .expect("the step succeeds");
            }
            (Some(Act::Abandon), _) => self.world.abandon_rotation(&self.secret),
            _ => {}
        }
        self.world.advance(duration.as_secs().max(1));
    }
}

fn driving(fleet: &Fleet, user: &str, script: &[Act]) -> Ports {
    Ports {
        clock: Arc::new(Driving {
            world: fleet.world.clone(),
            rotator: fleet.rotator.clone(),
            secret: secret(user),
            script: std::sync::Mutex::new(script.iter().copied().collect()),
        }),
        ..fleet.world.ports()
    }
}

fn secret_id(user: &str) -> SecretId {
    SecretId::new(secret(user)).expect("id")
}

#[tokio::test]
async fn a_started_rotation_is_followed_until_awscurrent_moves() {
    use crate::fleet::rotate::{Event, Outcome, follow, start};
    let fleet = Fleet::with_policy(OldKeyPolicy::Delete);
    fleet.managed("alice").await;
    let old = fleet.key("alice", AWSCURRENT);
    let script: Vec<Act> = Step::ALL.iter().map(|s| Act::Deliver(*s)).collect();
    let ports = driving(&fleet, "alice", &script);
    let started = start(&ports, &secret_id("alice")).await.expect("starts");
    let mut events = Vec::new();
    let outcome = follow(
        &ports,
        &started,
        Duration::from_secs(60),
        Duration::from_secs(1),
        &mut |event| events.push(event.clone()),
    )
    .await
    .expect("follows");
    let new = fleet.key("alice", AWSCURRENT);
    assert_ne!(new, old);
    match outcome {
        Outcome::Completed { key, elapsed } => {
            assert_eq!(key.map(|k| k.as_str().to_owned()), Some(new.clone()));
            assert_eq!(elapsed, Duration::from_secs(4), "four looks, one step each");
        }
        other => panic!("{other:?}"),
    }
    assert!(
        matches!(&events[0], Event::Stages(changes) if changes.iter().any(|c| c.version == started.version && c.before.is_empty() && c.after == [AWSPENDING])),
        "{events:?}"
    );
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::PendingKey(key) if key.as_str() == new)),
        "{events:?}"
    );
    let Some(Event::Stages(last)) = events.last() else {
        panic!("{events:?}")
    };
    assert!(
        last.iter()
            .any(|c| c.version == started.version && c.after == [AWSCURRENT]),
        "{last:?}"
    );
}

#[tokio::test]
async fn a_rotation_whose_pending_label_goes_away_failed_and_one_that_never_moves_times_out() {
    use crate::fleet::rotate::{Outcome, follow, start};
    let fleet = Fleet::with_policy(OldKeyPolicy::Delete);
    fleet.managed("alice").await;
    let ports = driving(
        &fleet,
        "alice",
        &[Act::Deliver(Step::CreateSecret), Act::Abandon],
    );
    let started = start(&ports, &secret_id("alice")).await.expect("starts");
    let outcome = follow(
        &ports,
        &started,
        Duration::from_secs(60),
        Duration::from_secs(1),
        &mut |_| {},
    )
    .await
    .expect("follows");
    assert!(
        matches!(&outcome, Outcome::Failed { reason } if reason.contains("taken off") && reason.contains(&started.version)),
        "{outcome:?}"
    );

    let ports = driving(&fleet, "alice", &[]);
    let started = start(&ports, &secret_id("alice")).await.expect("starts");
    let outcome = follow(
        &ports,
        &started,
        Duration::from_secs(30),
        Duration::from_secs(5),
        &mut |_| {},
    )
    .await
    .expect("follows");
    assert_eq!(
        outcome,
        Outcome::TimedOut {
            waited: Duration::from_secs(30),
            pending: Some(started.version.clone())
        }
    );
}

/// What happens to the rotation between the follower's `DescribeSecret` and its read of the
/// pending value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Race {
    /// The rotation is cancelled or abandoned: `AWSPENDING` comes off the new version.
    Abandon,
    /// The function runs every step: `AWSCURRENT` moves to the new version and `AWSPENDING`
    /// comes off it.
    Complete,
}

/// A secret store that plays the race of `rotator rotate --wait` that once failed CI under
/// load: right after the first `DescribeSecret` that shows the rotation in progress, the
/// rotation moves on, before the follower reads the pending value. Like Secrets Manager (and
/// moto), it refuses a read by a version and a stage that the version no longer holds.
struct Racing {
    world: World,
    rotator: Rotator,
    secret: String,
    race: Race,
    raced: std::sync::atomic::AtomicBool,
}

#[async_trait]
impl SecretStore for Racing {
    async fn describe(&self, secret: &SecretId) -> PortResult<SecretMetadata> {
        let metadata = self.world.describe(secret).await?;
        if let Some(token) = metadata.version_with_stage(AWSPENDING)
            && !self.raced.swap(true, Ordering::SeqCst)
        {
            match self.race {
                Race::Abandon => self.world.abandon_rotation(&self.secret),
                Race::Complete => {
                    for step in Step::ALL {
                        self.world
                            .step_with(&self.rotator, &self.secret, token, step)
                            .await
                            .expect("the step succeeds");
                    }
                }
            }
        }
        Ok(metadata)
    }
    async fn get_value<'a>(
        &self,
        secret: &SecretId,
        version: VersionRef<'a>,
    ) -> PortResult<Option<SecretString>> {
        if let Some(id) = version.version_id {
            let holds_stage = self
                .world
                .state()
                .secrets
                .get(secret.as_str())
                .and_then(|found| found.versions.get(id))
                .is_some_and(|found| found.stages.iter().any(|s| s == version.stage));
            if !holds_stage {
                return Err(crate::ports::PortError::new(
                    crate::ports::PortErrorKind::InvalidRequest,
                    "InvalidRequestException: You provided a VersionStage that is not associated to the provided VersionId.",
                ));
            }
        }
        self.world.get_value(secret, version).await
    }
    async fn put_pending<'a>(
        &self,
        secret: &SecretId,
        token: &ClientRequestToken,
        value: &SecretString,
        rotation_token: Option<&'a RotationToken>,
    ) -> PortResult<()> {
        self.world
            .put_pending(secret, token, value, rotation_token)
            .await
    }
    async fn update_stage<'a>(
        &self,
        secret: &SecretId,
        stage: &str,
        move_to: Option<&'a str>,
        remove_from: Option<&'a str>,
    ) -> PortResult<()> {
        self.world
            .update_stage(secret, stage, move_to, remove_from)
            .await
    }
    async fn list_secrets(&self, name_prefix: &str) -> PortResult<Vec<SecretMetadata>> {
        self.world.list_secrets(name_prefix).await
    }
    async fn list_versions(&self, secret: &SecretId) -> PortResult<Vec<VersionInfo>> {
        self.world.list_versions(secret).await
    }
    async fn start_rotation(&self, secret: &SecretId) -> PortResult<Option<String>> {
        SecretStore::start_rotation(&self.world, secret).await
    }
}

#[tokio::test]
async fn a_pending_label_that_moves_between_two_reads_is_the_rotations_outcome_not_an_error() {
    use crate::fleet::rotate::{Outcome, follow, start};
    for race in [Race::Abandon, Race::Complete] {
        let fleet = Fleet::with_policy(OldKeyPolicy::Delete);
        fleet.managed("alice").await;
        let ports = Ports {
            secrets: Arc::new(Racing {
                world: fleet.world.clone(),
                rotator: fleet.rotator.clone(),
                secret: secret("alice"),
                race,
                raced: std::sync::atomic::AtomicBool::new(false),
            }),
            ..fleet.world.ports()
        };
        let started = start(&ports, &secret_id("alice")).await.expect("starts");
        let outcome = follow(
            &ports,
            &started,
            Duration::from_secs(60),
            Duration::from_secs(1),
            &mut |_| {},
        )
        .await
        .unwrap_or_else(|error| panic!("{race:?}: the race is no error: {error}"));
        match (race, &outcome) {
            (Race::Abandon, Outcome::Failed { reason }) => {
                assert!(
                    reason.contains("taken off") && reason.contains(&started.version),
                    "{reason}"
                );
            }
            (Race::Complete, Outcome::Completed { key, .. }) => {
                assert_eq!(
                    key.as_ref().map(|k| k.as_str().to_owned()),
                    fleet.world.key_in(&secret("alice"), AWSCURRENT)
                );
            }
            _ => panic!("{race:?}: {outcome:?}"),
        }
    }
}

#[tokio::test]
async fn a_pending_value_that_cannot_be_read_while_the_label_stays_is_an_error() {
    use crate::fleet::rotate::{follow, start};
    let fleet = Fleet::with_policy(OldKeyPolicy::Delete);
    fleet.managed("alice").await;
    let ports = driving(&fleet, "alice", &[]);
    let started = start(&ports, &secret_id("alice")).await.expect("starts");
    fleet.world.inject(
        "secretsmanager:GetSecretValue",
        crate::testing::Fault::Fail(crate::ports::PortErrorKind::AccessDenied),
    );
    let error = follow(
        &ports,
        &started,
        Duration::from_secs(60),
        Duration::from_secs(1),
        &mut |_| {},
    )
    .await
    .expect_err("a refused read with the rotation still pending is an error");
    assert!(
        error
            .to_string()
            .starts_with("GetSecretValue for IamKeyRotator/alice failed"),
        "{error}"
    );
}

#[tokio::test]
async fn a_rotation_is_not_started_when_disabled_or_already_in_progress() {
    use crate::fleet::rotate::{StartError, start};
    let fleet = Fleet::with_policy(OldKeyPolicy::Delete);
    let name = fleet.managed("alice").await;
    fleet.world.start_rotation(&name, &token(77));
    let before = fleet.world.call_count();
    let error = start(&fleet.world.ports(), &secret_id("alice"))
        .await
        .expect_err("refused");
    assert!(
        matches!(&error, StartError::InProgress { version, .. } if version == &token(77)),
        "{error:?}"
    );
    assert!(error.to_string().contains("rotator recover"), "{error}");
    fleet.world.abandon_rotation(&name);
    fleet
        .world
        .state()
        .secrets
        .get_mut(&name)
        .expect("secret")
        .rotation_enabled = false;
    let error = start(&fleet.world.ports(), &secret_id("alice"))
        .await
        .expect_err("refused");
    assert!(matches!(error, StartError::NotEnabled { .. }), "{error:?}");
    assert!(
        !fleet
            .world
            .calls_from(before)
            .contains(&"secretsmanager:RotateSecret"),
        "nothing was started"
    );
}

#[tokio::test]
async fn an_audit_of_every_account_reads_each_members_report_with_its_own_secrets() {
    use crate::fleet::audit::{Accounts, audit_accounts};
    use crate::types::AccountId;

    let fleet = Fleet::with_policy(OldKeyPolicy::Delete);
    // The central account: a managed carol, and a legacy key.
    fleet.managed("carol").await;
    fleet.world.add_user("central-legacy");
    fleet.world.add_key("central-legacy", KeyStatus::Active);
    // A member account: its own carol, managed by the central secret of that account, whose key
    // is old, and an unmanaged key.
    let member = fleet.world.add_member_account("111122223333", None);
    member.add_user("carol");
    let (member_key, member_secret) = member.add_key("carol", KeyStatus::Active);
    member.add_user("member-legacy");
    member.add_key("member-legacy", KeyStatus::Active);
    let name = "IamKeyRotator/111122223333/carol";
    fleet.world.add_secret(
        name,
        &format!(
            r#"{{"UserName":"carol","AccountId":"111122223333","AccessKeyId":"{member_key}","SecretAccessKey":"{member_secret}"}}"#
        ),
    );
    fleet.world.advance(100 * DAY);
    member.state().now = fleet.world.state().now;
    // The central carol's key is renewed: only the member's is old.
    fleet.rotate("carol").await;

    let role = crate::accounts::MemberRole::default();
    let options = AuditOptions { max_age_days: 90 };
    let audits = audit_accounts(
        &fleet.world.ports(),
        "IamKeyRotator/",
        options,
        &role,
        &Accounts::All,
        &no_progress,
    )
    .await
    .expect("audits");
    let accounts: Vec<Option<&str>> = audits
        .iter()
        .map(|a| a.account.as_ref().map(AccountId::as_str))
        .collect();
    assert_eq!(accounts, [None, Some("111122223333")]);
    let (central, member_audit) = (&audits[0].audit, &audits[1].audit);
    assert_eq!(
        kinds(central, "central-legacy")[0],
        FindingKind::UnmanagedOldKey
    );
    assert!(kinds(central, "carol").is_empty(), "{central:?}");
    assert!(
        kinds(central, "member-legacy").is_empty(),
        "another account's user"
    );
    assert_eq!(
        kinds(member_audit, "member-legacy")[0],
        FindingKind::UnmanagedOldKey
    );
    let carol: Vec<_> = member_audit
        .findings
        .iter()
        .filter(|f| f.user == "carol" && f.kind == FindingKind::ManagedOldKey)
        .collect();
    assert_eq!(carol.len(), 1, "{member_audit:?}");
    assert_eq!(carol[0].secret.as_deref(), Some(name));
    assert_eq!(
        carol[0].key.as_ref().map(|k| k.as_str()),
        Some(member_key.as_str())
    );
    assert_eq!(member_audit.managed_users, 1);

    // One account alone; and a member role that cannot be assumed is an error naming it.
    let one = audit_accounts(
        &fleet.world.ports(),
        "IamKeyRotator/",
        options,
        &role,
        &Accounts::One(AccountId::new("111122223333").expect("id")),
        &no_progress,
    )
    .await
    .expect("audits");
    assert_eq!(one.len(), 1);
    assert_eq!(one[0].audit, *member_audit);
    let error = audit_accounts(
        &fleet.world.ports(),
        "IamKeyRotator/",
        options,
        &role,
        &Accounts::One(AccountId::new("999999999999").expect("id")),
        &no_progress,
    )
    .await
    .expect_err("no role there");
    assert!(
        error
            .to_string()
            .contains("arn:aws:iam::999999999999:role/IamKeyRotatorMember"),
        "{error}"
    );
}

// ------------------------------------------------------------------------------------------
// `rotator rotate --retire-previous` (issue 25, point 4): everything that would stop the
// rotation is checked before the previous key is touched.
// ------------------------------------------------------------------------------------------

/// A fleet whose secret for `alice` was rotated twice under `keep`: its AWSPREVIOUS key is the
/// secret's own and still active. Returns the secret's name and the previous key.
async fn with_active_previous_key() -> (Fleet, String, String) {
    let fleet = Fleet::new();
    let name = fleet.managed("alice").await;
    fleet.rotate("alice").await;
    let previous = fleet.key("alice", AWSPREVIOUS);
    assert_eq!(
        fleet.world.key_status("alice", &previous),
        Some(KeyStatus::Active)
    );
    (fleet, name, previous)
}

fn world_fingerprint(world: &World) -> String {
    let state = world.state();
    format!("{:?} {:?}", state.users, state.secrets)
}

#[tokio::test]
async fn retire_previous_changes_nothing_when_rotation_is_disabled() {
    use crate::accounts::MemberRole;
    use crate::fleet::retire::{RetireError, retire_previous};
    use crate::fleet::rotate::StartError;
    let (fleet, name, previous) = with_active_previous_key().await;
    fleet
        .world
        .state()
        .secrets
        .get_mut(&name)
        .expect("secret")
        .rotation_enabled = false;
    let metadata = fleet.metadata("alice").await;
    let before = world_fingerprint(&fleet.world);
    let error = retire_previous(
        &fleet.world.ports(),
        &metadata,
        &MemberRole::default(),
        "IamKeyRotator/",
    )
    .await
    .expect_err("the rotation could not start");
    assert!(
        matches!(
            error,
            RetireError::WouldNotStart(StartError::NotEnabled { .. })
        ),
        "{error:?}"
    );
    assert!(error.to_string().contains("not enabled"), "{error}");
    assert_eq!(
        fleet.world.key_status("alice", &previous),
        Some(KeyStatus::Active)
    );
    assert_eq!(world_fingerprint(&fleet.world), before, "nothing changed");
}

#[tokio::test]
async fn retire_previous_changes_nothing_while_a_rotation_is_in_progress() {
    use crate::accounts::MemberRole;
    use crate::fleet::retire::{RetireError, retire_previous};
    use crate::fleet::rotate::StartError;
    let (fleet, name, previous) = with_active_previous_key().await;
    fleet.world.start_rotation(&name, &token(99));
    let metadata = fleet.metadata("alice").await;
    let before = world_fingerprint(&fleet.world);
    let error = retire_previous(
        &fleet.world.ports(),
        &metadata,
        &MemberRole::default(),
        "IamKeyRotator/",
    )
    .await
    .expect_err("a rotation is in progress");
    assert!(
        matches!(&error, RetireError::WouldNotStart(StartError::InProgress { version, .. }) if version == &token(99)),
        "{error:?}"
    );
    assert_eq!(
        fleet.world.key_status("alice", &previous),
        Some(KeyStatus::Active)
    );
    assert_eq!(world_fingerprint(&fleet.world), before, "nothing changed");
}

#[tokio::test]
async fn retire_previous_refuses_a_name_of_another_shape_before_reading_iam() {
    use crate::accounts::MemberRole;
    use crate::fleet::retire::{RetireError, retire_previous};
    // Secrets that bind alice by their last segment only, each holding two of her keys that
    // its ledger records, set up by hand (the steps refuse such names, so none rotated them).
    for name in ["IamKeyRotator/team/alice", "Other/alice"] {
        let world = World::new();
        world.add_user("alice");
        let (old, old_secret) = world.add_key("alice", KeyStatus::Active);
        let (new, new_secret) = world.add_key("alice", KeyStatus::Active);
        let value = |id: &str, secret: &str| {
            format!(r#"{{"UserName":"alice","AccessKeyId":"{id}","SecretAccessKey":"{secret}"}}"#)
        };
        world.add_secret(name, &value(&old, &old_secret));
        world.put_current(name, &value(&new, &new_secret));
        world.schedule(name, 90);
        world.record_key("alice", name, &old);
        world.record_key("alice", name, &new);
        let metadata = SecretStore::describe(&world, &SecretId::new(name).expect("id"))
            .await
            .expect("described");
        let before = world.call_count();
        let fingerprint = world_fingerprint(&world);
        let error = retire_previous(
            &world.ports(),
            &metadata,
            &MemberRole::default(),
            "IamKeyRotator/",
        )
        .await
        .expect_err("not a managed name");
        assert!(matches!(error, RetireError::NotManaged { .. }), "{error:?}");
        assert!(error.to_string().contains(name), "{error}");
        assert_eq!(world_fingerprint(&world), fingerprint, "nothing changed");
        assert!(
            world
                .calls_from(before)
                .iter()
                .all(|call| !call.starts_with("iam:")),
            "no IAM call: {:?}",
            world.calls_from(before)
        );
    }
    // The managed shape under the same prefix goes through.
    let (fleet, _, previous) = with_active_previous_key().await;
    let metadata = fleet.metadata("alice").await;
    let retired = retire_previous(
        &fleet.world.ports(),
        &metadata,
        &MemberRole::default(),
        "IamKeyRotator/",
    )
    .await
    .expect("retired")
    .expect("an active previous key");
    assert_eq!(retired.key.as_str(), previous);
    assert_eq!(
        fleet.world.key_status("alice", &previous),
        Some(KeyStatus::Inactive)
    );
}

// ------------------------------------------------------------------------------------------
// `rotator adopt` never takes a key that another secret holds (issue 25, point 2; contract
// §10), and names that secret.
// ------------------------------------------------------------------------------------------

/// The own-account form of alice's secret: another secret bound to the same user.
const ALICE_OWN_ACCOUNT: &str = "IamKeyRotator/123456789012/alice";

/// A fleet with alice's secret rotated once and a key K of alice's made by hand; returns K.
async fn alice_with_a_second_key(fleet: &Fleet) -> String {
    fleet.managed("alice").await;
    let (key, _) = fleet.world.add_key("alice", KeyStatus::Active);
    key
}

async fn adopt_plan(
    fleet: &Fleet,
    user: &str,
    key: Option<&str>,
) -> Result<crate::fleet::adopt::AdoptPlan, crate::fleet::adopt::AdoptError> {
    let key = key.map(|k| crate::types::AccessKeyId::new(k).expect("id"));
    crate::fleet::adopt::plan(
        &fleet.world.ports(),
        &fleet.metadata(user).await,
        &crate::accounts::MemberRole::default(),
        "IamKeyRotator/",
        key.as_ref(),
    )
    .await
}

#[tokio::test]
async fn adopt_refuses_a_key_that_another_secrets_value_adopted_and_names_it() {
    let fleet = Fleet::new();
    let held = alice_with_a_second_key(&fleet).await;
    // Another secret bound to alice adopted the key; its first step has not yet recorded it.
    fleet.world.add_secret(
        ALICE_OWN_ACCOUNT,
        &format!(r#"{{"UserName":"alice","AdoptAccessKeyId":"{held}"}}"#),
    );
    for key in [None, Some(held.as_str())] {
        let error = adopt_plan(&fleet, "alice", key)
            .await
            .expect_err("the key is the other secret's");
        let text = error.to_string();
        assert!(
            text.contains(&held) && text.contains(&format!("secret {ALICE_OWN_ACCOUNT}")),
            "{key:?}: {text}"
        );
    }
    // The same once the adoption moved to AWSPREVIOUS (a value written after it).
    fleet
        .world
        .put_current(ALICE_OWN_ACCOUNT, r#"{"UserName":"alice"}"#);
    let error = adopt_plan(&fleet, "alice", None)
        .await
        .expect_err("held through AWSPREVIOUS");
    assert!(error.to_string().contains(ALICE_OWN_ACCOUNT), "{error}");
}

#[tokio::test]
async fn adopt_refuses_a_key_another_secrets_ledger_holds_naming_it_or_its_digest() {
    use crate::ledger::{SecretDigest, adoption_tag};
    use crate::testing::secret_arn;
    let fleet = Fleet::new();
    let held = alice_with_a_second_key(&fleet).await;
    let record = |holder: &str| {
        let tag = adoption_tag(
            &SecretDigest::of(&secret_arn(holder)),
            &crate::types::AccessKeyId::new(held.as_str()).expect("id"),
        );
        fleet
            .world
            .state()
            .users
            .get_mut("alice")
            .expect("alice")
            .tags
            .insert(tag.key, tag.value);
    };
    // The adoption record of a managed secret of the fleet: named.
    fleet
        .world
        .add_secret(ALICE_OWN_ACCOUNT, r#"{"UserName":"alice"}"#);
    record(ALICE_OWN_ACCOUNT);
    for key in [None, Some(held.as_str())] {
        let error = adopt_plan(&fleet, "alice", key)
            .await
            .expect_err("recorded by another secret");
        assert!(
            error
                .to_string()
                .contains(&format!("{held} (held by secret {ALICE_OWN_ACCOUNT})"))
                || error
                    .to_string()
                    .contains(&format!("{held} is held by secret {ALICE_OWN_ACCOUNT}")),
            "{key:?}: {error}"
        );
    }
    // A record of a secret the fleet does not list (another prefix): its digest.
    record("Other/alice");
    let digest = SecretDigest::of(&secret_arn("Other/alice"));
    let error = adopt_plan(&fleet, "alice", Some(&held))
        .await
        .expect_err("recorded by another deployment's secret");
    assert!(
        error.to_string().contains(&format!(
            "another secret (ledger digest {})",
            digest.as_str()
        )),
        "{error}"
    );
    // A key another secret's rotation made: named too.
    let fleet = Fleet::new();
    let held = alice_with_a_second_key(&fleet).await;
    fleet
        .world
        .add_secret(ALICE_OWN_ACCOUNT, r#"{"UserName":"alice"}"#);
    fleet.world.record_key("alice", ALICE_OWN_ACCOUNT, &held);
    let error = adopt_plan(&fleet, "alice", Some(&held))
        .await
        .expect_err("made by another secret's rotation");
    assert!(
        error
            .to_string()
            .contains(&format!("held by secret {ALICE_OWN_ACCOUNT}")),
        "{error}"
    );
}

#[tokio::test]
async fn adopt_all_never_picks_a_key_another_secret_holds_as_the_only_unknown_one() {
    use crate::fleet::adopt::plan_in;
    let fleet = Fleet::new();
    let held = alice_with_a_second_key(&fleet).await;
    fleet.world.add_secret(
        ALICE_OWN_ACCOUNT,
        &format!(r#"{{"UserName":"alice","AdoptAccessKeyId":"{held}"}}"#),
    );
    let ports = fleet.world.ports();
    let listed = managed_secrets(&ports, "IamKeyRotator/")
        .await
        .expect("lists");
    let alice = listed
        .iter()
        .find(|m| m.name == secret("alice"))
        .expect("alice's secret");
    let error = plan_in(
        &ports,
        alice,
        &listed,
        &crate::accounts::MemberRole::default(),
        "IamKeyRotator/",
        None,
    )
    .await
    .expect_err("the only unknown key is held");
    assert!(error.to_string().contains(ALICE_OWN_ACCOUNT), "{error}");
    // A key that no secret holds is still adopted.
    let fleet = Fleet::new();
    let free = alice_with_a_second_key(&fleet).await;
    let chosen = adopt_plan(&fleet, "alice", None).await.expect("adoptable");
    assert_eq!(chosen.key.as_str(), free);
}

// ------------------------------------------------------------------------------------------
// The adopted key's age (contract §10): it counts from the key's IAM CreateDate, and an
// adoption that the schedule would retire past the key-age limit starts the rotation now.
// ------------------------------------------------------------------------------------------

fn grace_rules() -> crate::fleet::adopt::OldKeyRules {
    crate::fleet::adopt::OldKeyRules {
        policy: OldKeyPolicy::Grace,
        grace_max: Duration::from_secs(7 * DAY),
    }
}

#[test]
fn an_adopted_keys_retirement_counts_from_its_creation_under_each_policy() {
    use crate::fleet::adopt::{AdoptPlan, OldKeyRules, retirement, retirement_if_rotated_now};
    let now = 1_790_000_000;
    let plan = |age_days: u64, interval: Option<u64>| AdoptPlan {
        secret: secret("alice"),
        user: "alice".into(),
        key: crate::types::AccessKeyId::new("AKIAOLDKEY0000000001").expect("id"),
        created: Some(now - age_days * DAY),
        rotation_enabled: true,
        rotation_interval_days: interval,
        next_rotation: None,
    };
    // The infra's defaults: 81 days, grace with 7 days' grace max: a key made today is retired
    // at 89 days, within the limit; one adopted at 200 days would be at 289.
    let fresh = retirement(&plan(0, Some(81)), now, &grace_rules());
    assert_eq!(fresh.by, Some(now + (81 + 1 + 7) * DAY));
    assert_eq!(fresh.age_then_days, Some(89));
    assert!(!fresh.exceeds_limit);
    let old = retirement(&plan(200, Some(81)), now, &grace_rules());
    assert_eq!(old.age_now_days, Some(200));
    assert_eq!(old.age_then_days, Some(289));
    assert!(old.exceeds_limit);
    let now_rotated = retirement_if_rotated_now(&plan(200, Some(81)), now, &grace_rules());
    assert_eq!(now_rotated.by, Some(now + 7 * DAY));
    let rules = |policy| OldKeyRules {
        policy,
        grace_max: Duration::from_secs(7 * DAY),
    };
    let delete = retirement(&plan(10, Some(30)), now, &rules(OldKeyPolicy::Delete));
    assert_eq!(delete.age_then_days, Some(41));
    let keep = retirement(&plan(10, Some(30)), now, &rules(OldKeyPolicy::Keep));
    assert_eq!(
        keep.age_then_days,
        Some(72),
        "two intervals and their windows"
    );
    // No schedule: nothing retires the key.
    let unscheduled = retirement(&plan(1, None), now, &grace_rules());
    assert_eq!(unscheduled.by, None);
    assert!(unscheduled.exceeds_limit);
    // A schedule expression without an interval: its next date, which the adoption keeps.
    let cron = AdoptPlan {
        next_rotation: Some(now + 20 * DAY),
        ..plan(10, None)
    };
    let by_cron = retirement(&cron, now, &grace_rules());
    assert_eq!(by_cron.by, Some(now + (20 + 1 + 7) * DAY));
    assert_eq!(by_cron.age_then_days, Some(38));
    assert!(!by_cron.exceeds_limit);
}

/// alice's secret, never rotated, on a schedule of `interval` days, and a key of alice's that
/// programs use, made `age_days` ago; returns the plan that adopts it.
async fn adopt_old_key(
    fleet: &Fleet,
    age_days: u64,
    interval: u64,
) -> crate::fleet::adopt::AdoptPlan {
    fleet.world.add_user("alice");
    let (key, _) = fleet.world.add_key("alice", KeyStatus::Active);
    fleet.world.advance(age_days * DAY);
    let name = secret("alice");
    fleet.world.add_secret(&name, r#"{"UserName":"alice"}"#);
    fleet.world.schedule(&name, interval);
    let plan = adopt_plan(fleet, "alice", None).await.expect("adoptable");
    assert_eq!(plan.key.as_str(), key);
    crate::fleet::adopt::adopt(
        &fleet.world.ports(),
        &plan,
        &ClientRequestToken::new("adopt-0000000000000000000000000001").expect("token"),
        None,
    )
    .await
    .expect("adopted");
    plan
}

#[tokio::test]
async fn adopting_a_key_the_schedule_would_retire_too_late_starts_its_rotation_now() {
    use crate::fleet::adopt::{AgeAction, describe_age, settle_age};
    let fleet = Fleet::new();
    let plan = adopt_old_key(&fleet, 200, 90).await;
    assert_eq!(plan.created, Some(fleet.world.state().now - 200 * DAY));
    let report = settle_age(&fleet.world.ports(), &plan, &grace_rules(), true)
        .await
        .expect("settled");
    assert_eq!(report.scheduled.age_now_days, Some(200));
    assert!(report.scheduled.exceeds_limit);
    let AgeAction::Started(started) = &report.action else {
        panic!("the rotation was not started: {report:?}");
    };
    let metadata = fleet.metadata("alice").await;
    assert_eq!(
        metadata.version_with_stage(AWSPENDING),
        Some(started.version.as_str()),
        "RotateSecret labelled a new version AWSPENDING"
    );
    let text = describe_age(&plan, &report, false);
    for said in [
        "200 days old",
        "IAM CreateDate",
        "298 days",
        "90-day key-age limit",
        "rotation started now",
    ] {
        assert!(text.contains(said), "{said}: {text}");
    }
}

#[tokio::test]
async fn no_rotate_leaves_an_adopted_key_and_a_young_one_needs_no_rotation() {
    use crate::fleet::adopt::{AgeAction, describe_age, settle_age};
    let fleet = Fleet::new();
    let plan = adopt_old_key(&fleet, 200, 90).await;
    let before = fleet.world.call_count();
    let report = settle_age(&fleet.world.ports(), &plan, &grace_rules(), false)
        .await
        .expect("settled");
    assert_eq!(report.action, AgeAction::Left);
    assert!(
        !fleet
            .world
            .calls_from(before)
            .contains(&"secretsmanager:RotateSecret")
    );
    assert!(
        describe_age(&plan, &report, false).contains("--no-rotate"),
        "{}",
        describe_age(&plan, &report, false)
    );

    // A key of 10 days on a 30-day schedule is retired at 48 days: nothing to do.
    let fleet = Fleet::new();
    let plan = adopt_old_key(&fleet, 10, 30).await;
    let before = fleet.world.call_count();
    let report = settle_age(&fleet.world.ports(), &plan, &grace_rules(), true)
        .await
        .expect("settled");
    assert_eq!(report.action, AgeAction::InTime);
    assert_eq!(report.scheduled.age_then_days, Some(48));
    assert!(
        !fleet
            .world
            .calls_from(before)
            .contains(&"secretsmanager:RotateSecret")
    );
}

/// alice's secret, rotated once (its own key), after which it adopts beside it a key of alice's
/// made 200 days ago (the adoption counts as a rotation: the schedule is not overdue). Returns
/// the adopted key.
async fn alice_adopted_a_200_day_old_key(fleet: &Fleet) -> String {
    fleet.world.add_user("alice");
    let (old, _) = fleet.world.add_key("alice", KeyStatus::Active);
    fleet.world.use_key(&old, "s3");
    fleet.world.advance(200 * DAY);
    fleet.managed("alice").await;
    let plan = adopt_plan(fleet, "alice", Some(&old))
        .await
        .expect("adoptable");
    crate::fleet::adopt::adopt(
        &fleet.world.ports(),
        &plan,
        &ClientRequestToken::new("adopt-0000000000000000000000000002").expect("token"),
        None,
    )
    .await
    .expect("adopted");
    fleet.world.use_key(&old, "s3");
    old
}

#[tokio::test]
async fn status_reports_an_adopted_key_by_its_true_age() {
    let fleet = Fleet::new();
    let adopted = alice_adopted_a_200_day_old_key(&fleet).await;
    let row = fleet.row("alice").await;
    assert_eq!(row.state, State::Overdue, "{row:?}");
    let reason = row.reasons.join("; ");
    assert!(
        reason.contains(&adopted) && reason.contains("200d") && reason.contains("90-day"),
        "{reason}"
    );
    let shown = row.adopted.expect("the adopted key");
    assert_eq!(shown.id.as_str(), adopted);
    assert_eq!(
        shown.age_secs(fleet.world.state().now),
        Some(200 * DAY),
        "from its IAM CreateDate"
    );
}

#[tokio::test]
async fn audit_reports_an_adopted_key_by_its_true_age() {
    let fleet = Fleet::new();
    let adopted = alice_adopted_a_200_day_old_key(&fleet).await;
    let audit = run_audit(&fleet, 90).await;
    let finding = audit
        .findings
        .iter()
        .find(|f| f.key.as_ref().is_some_and(|k| k.as_str() == adopted))
        .unwrap_or_else(|| panic!("no finding for the adopted key: {:#?}", audit.findings));
    assert_eq!(finding.kind, FindingKind::ManagedOldKey);
    assert_eq!(finding.secret.as_deref(), Some(secret("alice").as_str()));
    assert!(
        finding.detail.contains("adopted") && finding.detail.contains("rotator rotate"),
        "{}",
        finding.detail
    );
}

#[tokio::test]
async fn doctor_reports_an_adopted_key_by_its_true_age() {
    use crate::doctor::checks::{SecretReading, check_user};
    use crate::doctor::{Check, Severity};
    let fleet = Fleet::new();
    let adopted = alice_adopted_a_200_day_old_key(&fleet).await;
    let metadata = fleet.metadata("alice").await;
    let reading = SecretReading {
        inspection: Some(
            inspect(&fleet.world.ports(), &metadata)
                .await
                .expect("inspects"),
        ),
        ..SecretReading::default()
    };
    let findings = check_user(&metadata, &reading, "/");
    let aged: Vec<_> = findings
        .iter()
        .filter(|f| f.check == Check::AdoptedKeyAge)
        .collect();
    assert_eq!(aged.len(), 1, "{findings:#?}");
    assert_eq!(aged[0].severity, Severity::Warning);
    assert!(
        aged[0].problem.contains(&adopted) && aged[0].problem.contains("200 days old"),
        "{}",
        aged[0].problem
    );
    assert!(
        aged[0].fix.contains("rotator rotate IamKeyRotator/alice"),
        "{}",
        aged[0].fix
    );
}
