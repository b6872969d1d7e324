//! End to end under real faults: the built function reaches moto through mitmproxy
//! (`fault_proxy.py`), which loses answers after moto acted, throttles, fails after the
//! effect, refuses calls and delays new keys, while the tests deliver steps as Secrets Manager
//! does (issue 8, contract §3, §5 and §8).
//!
//! Where moto differs from AWS, and what that means here:
//! - `PutSecretValue` repeated with the same token and value succeeds on both (AWS: the
//!   existing version). With the same token and another value AWS answers
//!   `ResourceExistsException`; moto does too, except while the version holds AWSPENDING (as
//!   during a rotation), when it silently replaces the value. So moto accepts a redelivered
//!   createSecret that stores a different key under the same token, where AWS would refuse it.
//! - `UpdateSecretVersionStage` repeated after AWSCURRENT already moved names a stale
//!   `RemoveFromVersionId`: AWS and moto both refuse it (`InvalidParameterException`), so a
//!   lost answer to the move is seen by the retry as an error. moto also appends a label that
//!   `MoveToVersionId` already holds a second time, where AWS leaves it once.
//! - `RotateSecret` while another version holds AWSPENDING: AWS refuses ("a previous rotation
//!   isn't complete"), moto moves the label. The redelivery driver takes AWSPENDING off an
//!   abandoned token first, so both behave alike here.
//! - IAM allows 50 tags per user; moto does not enforce that quota, so the tag-quota test
//!   checks that the function counts the room itself, before any change.
//! - New keys work at once in moto: the proxy's propagation setting plays IAM's delay.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use rotator_harness::{
    Bound, Fault, Propagation, Proxy, Rule, STEPS, World, WorldOptions, new_token,
};

const PATH: &str = "/rotated/";
const ALICE: Bound<'static> = Bound {
    secret: "IamKeyRotator/alice",
    user: "alice",
};

/// The function under test: this build's, or `ROTATOR_FUNCTION_BINARY` (for example a build
/// of an earlier commit, to see which of these tests it fails).
fn binary() -> PathBuf {
    std::env::var_os("ROTATOR_FUNCTION_BINARY")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_BIN_EXE_rotator-lambda")).to_path_buf())
}

/// A world through the fault proxy, with the given old-key policy.
async fn world(old_key: &str) -> Result<World> {
    World::start(
        &binary(),
        WorldOptions::default()
            .through_proxy()
            .setting("ROTATOR_OLD_KEY", old_key),
    )
    .await
}

/// Creates `user` under the managed path and its secret `{"UserName": user}`.
async fn managed(world: &World, bound: Bound<'_>) -> Result<()> {
    world.fx.create_user_at(bound.user, PATH).await?;
    world
        .fx
        .create_secret(
            bound.secret,
            &format!(r#"{{"UserName":"{}"}}"#, bound.user),
            None,
        )
        .await
}

fn key_ids(keys: &[(String, String)]) -> BTreeSet<String> {
    keys.iter().map(|(id, _)| id.clone()).collect()
}

/// The user's tags whose key starts with `prefix`.
async fn tags_starting(world: &World, user: &str, prefix: &str) -> Result<Vec<String>> {
    Ok(world
        .fx
        .user_tags(user)
        .await?
        .into_keys()
        .filter(|k| k.starts_with(prefix))
        .collect())
}

// (1) A secret is bound to its user by its name.

#[tokio::test]
async fn a_secret_naming_another_user_is_refused_before_any_iam_call() -> Result<()> {
    let world = world("delete").await?;
    let proxy = world.proxy();
    world.fx.create_user_at("alice", PATH).await?;
    world.fx.create_user_at("bob", PATH).await?;
    let (bob_key, bob_secret) = world.fx.create_key("bob").await?;
    world
        .fx
        .tag_user("bob", &[("team".into(), "payments".into())])
        .await?;
    let bob_keys = world.fx.keys("bob").await?;
    let bob_tags = world.fx.user_tags("bob").await?;
    let alice_tags = world.fx.user_tags("alice").await?;

    // Whoever can write alice's secret points it at bob: first with a bare UserName, then with
    // bob's live key as if it were the current one (which `delete` would remove).
    let mut accepted = Vec::new();
    let hostile = [
        r#"{"UserName":"bob"}"#.to_owned(),
        format!(
            r#"{{"UserName":"bob","AccessKeyId":"{bob_key}","SecretAccessKey":"{bob_secret}"}}"#
        ),
    ];
    for (n, value) in hostile.iter().enumerate() {
        if n == 0 {
            world.fx.create_secret(ALICE.secret, value, None).await?;
        } else {
            world
                .fx
                .secrets
                .put_secret_value()
                .secret_id(ALICE.secret)
                .secret_string(value)
                .send()
                .await?;
        }
        proxy.reset()?;
        let token = new_token();
        world.fx.start_rotation(ALICE.secret, &token).await?;
        let alerts_before = world.alerts()?.len();
        let answer = world.invoke("createSecret", ALICE.secret, &token)?;
        ensure!(
            answer.error_type().as_deref() == Some("SecretNotBoundToUser"),
            "case {n}: createSecret: {}",
            answer.output
        );
        let message = answer.error_message();
        ensure!(
            message.contains("alice") && message.contains("bob"),
            "case {n}: the error must name both users: {message}"
        );
        let alerts = world.alerts()?;
        ensure!(
            alerts.len() == alerts_before + 1,
            "case {n}: one alert for the refused createSecret: {:#?}",
            &alerts[alerts_before..]
        );
        // Every other step refuses the value too (contract §3: "refused by every step").
        for step in &STEPS[1..] {
            let answer = world.invoke(step, ALICE.secret, &token)?;
            if answer.ok {
                accepted.push(format!("case {n}: {step} accepted a value naming bob"));
            }
        }
        let seen = proxy.log()?;
        let iam: Vec<_> = seen.iter().filter(|s| s.op.starts_with("iam:")).collect();
        ensure!(iam.is_empty(), "case {n}: IAM calls were made: {iam:?}");
        ensure!(
            Proxy::count_forwarded(&seen, "secretsmanager:PutSecretValue") == 0,
            "case {n}: a value was stored"
        );
        ensure!(
            world.fx.keys("bob").await? == bob_keys,
            "case {n}: bob's keys changed"
        );
        ensure!(
            world.fx.user_tags("bob").await? == bob_tags,
            "case {n}: bob's tags changed"
        );
        ensure!(
            world.fx.keys("alice").await?.is_empty(),
            "case {n}: alice got a key"
        );
        ensure!(
            world.fx.user_tags("alice").await? == alice_tags,
            "case {n}: alice's tags changed"
        );
        world.abandon(ALICE.secret, &token).await?;
    }
    ensure!(accepted.is_empty(), "{}", accepted.join("\n"));
    world
        .assert_no_secret_leaked(&[ALICE.secret], &[bob_secret])
        .await
}

#[tokio::test]
async fn a_secret_naming_its_own_user_in_another_case_rotates() -> Result<()> {
    let world = world("delete").await?;
    world.fx.create_user_at("alice", PATH).await?;
    let bound = Bound {
        secret: "IamKeyRotator/Alice",
        user: "alice",
    };
    world
        .fx
        .create_secret(bound.secret, r#"{"UserName":"alice"}"#, None)
        .await?;
    world.rotate_ok(bound.secret).await?;
    world
        .assert_rotation_invariants(bound, &BTreeSet::new())
        .await
}

// (2) Lost answers and failures after the effect.

#[tokio::test]
async fn a_lost_create_access_key_answer_is_not_resent_and_leaves_no_orphan() -> Result<()> {
    let world = world("delete").await?;
    let proxy = world.proxy();
    managed(&world, ALICE).await?;
    for rotation in ["first", "later"] {
        proxy.set_rules(&[Rule::once("iam:CreateAccessKey", Fault::LoseAnswer)])?;
        let token = new_token();
        world.fx.start_rotation(ALICE.secret, &token).await?;
        let before = proxy.log()?.len();
        let answer = world.invoke("createSecret", ALICE.secret, &token)?;
        let seen = proxy.log()?;
        let creates = Proxy::count_forwarded(&seen[before..], "iam:CreateAccessKey");
        ensure!(
            creates == 1,
            "{rotation} rotation: moto saw {creates} CreateAccessKey requests in one invocation \
             (the SDK resent it); keys now {:?}",
            world.fx.keys(ALICE.user).await?
        );
        ensure!(
            !answer.ok,
            "{rotation} rotation: createSecret succeeded although its key's answer was lost"
        );
        // Secrets Manager delivers the failed step again, then the rest.
        for step in STEPS {
            let answer = world.invoke(step, ALICE.secret, &token)?;
            ensure!(answer.ok, "{rotation} rotation, {step}: {}", answer.output);
        }
        world
            .assert_rotation_invariants(ALICE, &BTreeSet::new())
            .await
            .with_context(|| format!("after the {rotation} rotation"))?;
    }
    world.assert_no_secret_leaked(&[ALICE.secret], &[]).await
}

#[tokio::test]
async fn a_lost_answer_or_a_failure_after_any_mutating_call_is_recovered() -> Result<()> {
    let world = world("delete").await?;
    let proxy = world.proxy();
    managed(&world, ALICE).await?;
    world.rotate_ok(ALICE.secret).await?;
    // (operation, requests of that operation to let through first)
    let calls = [
        ("secretsmanager:PutSecretValue", 0),
        ("secretsmanager:UpdateSecretVersionStage", 0),
        ("secretsmanager:UpdateSecretVersionStage", 1),
        ("iam:TagUser", 0),
        ("iam:TagUser", 1),
        ("iam:UntagUser", 0),
        ("iam:UpdateAccessKey", 0),
        ("iam:DeleteAccessKey", 0),
    ];
    let mut failures = Vec::new();
    for (op, skip) in calls {
        for fault in [Fault::LoseAnswer, Fault::ErrorAfter] {
            let case = format!("{op} (after {skip}) {fault:?}");
            proxy.reset()?;
            proxy.set_rules(&[Rule::once(op, fault.clone()).skip(skip)])?;
            let attempts = world.rotate_redelivered(ALICE.secret, 3, 3).await?;
            let fired = proxy.log()?.iter().any(|s| s.op == op && s.fault.is_some());
            if !fired {
                failures.push(format!("{case}: the fault never fired (no such call?)"));
                continue;
            }
            let completed = attempts.last().is_some_and(|a| a.completed);
            if !completed {
                let all: Vec<String> = attempts.iter().flat_map(|a| a.failures()).collect();
                failures.push(format!("{case}: the rotation never completed: {all:#?}"));
                // Start the next case from a completed rotation.
                proxy.reset()?;
                if world
                    .rotate_redelivered(ALICE.secret, 3, 3)
                    .await?
                    .last()
                    .is_none_or(|a| !a.completed)
                {
                    break;
                }
                continue;
            }
            if let Err(error) = world
                .assert_rotation_invariants(ALICE, &BTreeSet::new())
                .await
            {
                failures.push(format!("{case}: {error:#}"));
            }
        }
    }
    ensure!(failures.is_empty(), "{}", failures.join("\n"));
    world.assert_no_secret_leaked(&[ALICE.secret], &[]).await
}

// (3) A refused CreateAccessKey withdraws its intent.

#[tokio::test]
async fn a_refused_create_access_key_withdraws_its_intent_and_spares_a_later_hand_made_key()
-> Result<()> {
    let world = world("delete").await?;
    let proxy = world.proxy();
    let carol = Bound {
        secret: "IamKeyRotator/carol",
        user: "carol",
    };
    managed(&world, ALICE).await?;
    managed(&world, carol).await?;
    // alice has the rotator's key; carol has none.
    world.rotate_ok(ALICE.secret).await?;
    let refusals = [
        Rule::once("iam:CreateAccessKey", Fault::refuse(409, "LimitExceeded")),
        Rule::once("iam:CreateAccessKey", Fault::refuse(403, "AccessDenied")),
        Rule::always("iam:CreateAccessKey", Fault::Throttle),
    ];
    let mut failures = Vec::new();
    for bound in [ALICE, carol] {
        for rule in &refusals {
            proxy.set_rules(std::slice::from_ref(rule))?;
            let rotation = world.rotate(bound.secret).await?;
            let case = format!("{} {:?}", bound.user, rule.fault);
            match rotation.failure() {
                Some(("createSecret", _)) => {}
                other => failures.push(format!("{case}: createSecret must fail: {other:?}")),
            }
            let intents = tags_starting(&world, bound.user, "rotator:intent:").await?;
            if !intents.is_empty() {
                failures.push(format!("{case}: the intent was left: {intents:?}"));
            }
            world.abandon(bound.secret, &rotation.token).await?;
        }
    }
    proxy.set_rules(&[])?;

    // Right after the alerts, a person makes a key by hand for each user.
    let (alice_hand, _) = world.fx.create_key(ALICE.user).await?;
    let (carol_hand, _) = world.fx.create_key(carol.user).await?;

    // alice is full (her current key and the person's): the rotation must refuse to make
    // room, and keep the person's key.
    let rotation = world.rotate(ALICE.secret).await?;
    match rotation.failure() {
        Some(("createSecret", output)) if output.contains("NoRoomForKey") => {}
        other => failures.push(format!(
            "alice: the rotation must fail with NoRoomForKey: {other:?}"
        )),
    }
    if !key_ids(&world.fx.keys(ALICE.user).await?).contains(&alice_hand) {
        failures.push(format!("alice: the person's key {alice_hand} was deleted"));
    }
    world.abandon(ALICE.secret, &rotation.token).await?;

    // carol has room: the rotation completes beside the person's key.
    match world.rotate_ok(carol.secret).await {
        Ok(_) => {
            let others = BTreeSet::from([carol_hand.clone()]);
            if let Err(error) = world.assert_rotation_invariants(carol, &others).await {
                failures.push(format!("carol: {error:#}"));
            }
        }
        Err(error) => failures.push(format!("carol: {error:#}")),
    }
    if !key_ids(&world.fx.keys(carol.user).await?).contains(&carol_hand) {
        failures.push(format!("carol: the person's key {carol_hand} was deleted"));
    }
    ensure!(failures.is_empty(), "{}", failures.join("\n"));
    Ok(())
}

// (4) Two secrets for one user.

#[tokio::test]
async fn two_secrets_for_one_user_do_not_break_each_other() -> Result<()> {
    let world = world("delete").await?;
    let a = ALICE;
    let b = Bound {
        // The same user in the same deployment, named with the account id of its own account
        // (moto's default): contract §3's second shape, which binds the function's own account.
        secret: "IamKeyRotator/123456789012/alice",
        user: "alice",
    };
    managed(&world, a).await?;
    world
        .fx
        .create_secret(b.secret, r#"{"UserName":"alice"}"#, None)
        .await?;
    world.rotate_ok(a.secret).await?;

    let (token_a, token_b) = (new_token(), new_token());
    world.fx.start_rotation(a.secret, &token_a).await?;
    world.fx.start_rotation(b.secret, &token_b).await?;
    let create_a = world.invoke("createSecret", a.secret, &token_a)?;
    ensure!(create_a.ok, "A.createSecret: {}", create_a.output);
    let keys_before_b = world.fx.keys(a.user).await?;
    let create_b = world.invoke("createSecret", b.secret, &token_b)?;
    let keys_after_b = world.fx.keys(a.user).await?;
    let test_a = world.invoke("testSecret", a.secret, &token_a)?;
    let finish_a = world.invoke("finishSecret", a.secret, &token_a)?;

    let mut failures = Vec::new();
    if create_b.ok || create_b.error_type().as_deref() != Some("NoRoomForKey") {
        failures.push(format!(
            "B.createSecret must fail with NoRoomForKey: {}",
            create_b.output
        ));
    }
    let deleted: Vec<_> = key_ids(&keys_before_b)
        .difference(&key_ids(&keys_after_b))
        .cloned()
        .collect();
    if !deleted.is_empty() {
        failures.push(format!("B.createSecret deleted {deleted:?}"));
    }
    if !test_a.ok {
        failures.push(format!("A.testSecret: {}", test_a.output));
    }
    if !finish_a.ok {
        failures.push(format!("A.finishSecret: {}", finish_a.output));
    }
    match world.key_in(a.secret, "AWSCURRENT").await? {
        Some(id) if key_ids(&world.fx.keys(a.user).await?).contains(&id) => {}
        other => failures.push(format!("A's AWSCURRENT key {other:?} does not exist")),
    }
    if let Err(error) = world.assert_current_authenticates(a).await {
        failures.push(format!("{error:#}"));
    }
    ensure!(failures.is_empty(), "{}", failures.join("\n"));
    Ok(())
}

// (5) IAM's tag quota.

#[tokio::test]
async fn a_user_without_room_for_the_ledger_tags_is_refused_with_nothing_changed() -> Result<()> {
    let world = world("delete").await?;
    managed(&world, ALICE).await?;
    let own = |n: usize| -> Vec<(String, String)> {
        (0..n)
            .map(|i| (format!("team{i}"), format!("value{i}")))
            .collect()
    };
    world.fx.tag_user(ALICE.user, &own(49)).await?;
    let tags_before = world.fx.user_tags(ALICE.user).await?;

    let token = new_token();
    world.fx.start_rotation(ALICE.secret, &token).await?;
    let mut failures = Vec::new();
    for delivery in 1..=4 {
        let answer = world.invoke("createSecret", ALICE.secret, &token)?;
        if delivery == 1 {
            if answer.error_type().as_deref() != Some("TagQuotaExceeded") {
                failures.push(format!("createSecret: {}", answer.output));
            } else if !answer.error_message().contains("50") {
                failures.push(format!(
                    "the error must name the tag quota (50): {}",
                    answer.error_message()
                ));
            }
        }
        let keys = world.fx.keys(ALICE.user).await?;
        if !keys.is_empty() {
            failures.push(format!("delivery {delivery}: keys were made: {keys:?}"));
            break;
        }
        let tags = world.fx.user_tags(ALICE.user).await?;
        if tags != tags_before {
            failures.push(format!(
                "delivery {delivery}: the tags changed to {} tags",
                tags.len()
            ));
            break;
        }
    }
    world.abandon(ALICE.secret, &token).await?;

    // With 47 tags of its own the user has room for the rotator's two.
    let keys: Vec<String> = (47..49).map(|i| format!("team{i}")).collect();
    world
        .fx
        .iam
        .untag_user()
        .user_name(ALICE.user)
        .set_tag_keys(Some(keys))
        .send()
        .await?;
    for key in world.fx.keys(ALICE.user).await? {
        world
            .fx
            .iam
            .delete_access_key()
            .user_name(ALICE.user)
            .access_key_id(key.0)
            .send()
            .await?;
    }
    let expected: BTreeMap<String, String> = own(47).into_iter().collect();
    match world.rotate_ok(ALICE.secret).await {
        Ok(_) => {
            // The person's 47 and the record of the key the secret now holds.
            let mut tags = world.fx.user_tags(ALICE.user).await?;
            let records = world.fx.ledger_settled(ALICE.user).await?;
            tags.retain(|key, _| !records.contains_key(key));
            if tags != expected || records.len() != 1 {
                failures.push(format!(
                    "after the rotation: {} tags: {tags:?}, records {records:?}",
                    tags.len()
                ));
            }
            if let Err(error) = world
                .assert_rotation_invariants(ALICE, &BTreeSet::new())
                .await
            {
                failures.push(format!("{error:#}"));
            }
        }
        Err(error) => failures.push(format!("with 47 tags: {error:#}")),
    }
    ensure!(failures.is_empty(), "{}", failures.join("\n"));
    Ok(())
}

// (6) The invocation's deadline.

#[tokio::test]
async fn test_secret_fails_with_its_alert_before_the_invocation_deadline() -> Result<()> {
    let timeout = Duration::from_secs(15);
    let mut world = World::start(
        &binary(),
        WorldOptions::default()
            .through_proxy()
            .timeout(timeout)
            .setting("ROTATOR_TEST_TIMEOUT_SECS", "60"),
    )
    .await?;
    world.proxy().set_propagation(Propagation::Forever)?;
    managed(&world, ALICE).await?;
    let token = new_token();
    world.fx.start_rotation(ALICE.secret, &token).await?;
    for step in ["createSecret", "setSecret"] {
        let answer = world.invoke(step, ALICE.secret, &token)?;
        ensure!(answer.ok, "{step}: {}", answer.output);
    }
    let answer = world.invoke("testSecret", ALICE.secret, &token)?;
    let rejected = world
        .proxy()
        .log()?
        .iter()
        .filter(|s| s.fault.as_deref() == Some("propagation"))
        .count();
    println!(
        "testSecret answered after {:?} ({rejected} STS attempts refused): {}",
        answer.elapsed, answer.output
    );
    ensure!(
        answer.error_type().as_deref() == Some("PendingKeyRejected"),
        "testSecret must fail with PendingKeyRejected before the {timeout:?} timeout, \
         got after {:?}: {:?}",
        answer.elapsed,
        answer.output
    );
    ensure!(answer.elapsed < timeout, "{:?}", answer.elapsed);
    ensure!(rejected >= 1, "the pending key was never tried");
    let alerts = world.alerts()?;
    ensure!(alerts.len() == 1, "one alert: {alerts:#?}");
    // The process keeps serving.
    ensure!(world.function.is_running(), "the function exited");
    let again = world.invoke("setSecret", ALICE.secret, &token)?;
    ensure!(again.ok, "the next invocation: {}", again.output);
    Ok(())
}

// A seeded random mix of faults, with redelivery.

/// The seed ci runs with: its run includes a person making, then deactivating, a key.
const DEFAULT_FAULT_SEED: u64 = 1;

/// splitmix64: small, deterministic, good enough to pick faults.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

const MIX_OPS: [&str; 12] = [
    "iam:CreateAccessKey",
    "iam:ListAccessKeys",
    "iam:ListUserTags",
    "iam:TagUser",
    "iam:UntagUser",
    "iam:UpdateAccessKey",
    "iam:DeleteAccessKey",
    "secretsmanager:GetSecretValue",
    "secretsmanager:PutSecretValue",
    "secretsmanager:UpdateSecretVersionStage",
    "secretsmanager:DescribeSecret",
    "sts:GetCallerIdentity",
];

fn random_rules(rng: &mut Rng) -> Vec<Rule> {
    (0..1 + rng.below(3))
        .map(|_| {
            let op = *rng.pick(&MIX_OPS);
            let fault = match rng.below(5) {
                0 => Fault::LoseAnswer,
                1 => Fault::ErrorAfter,
                2 => Fault::Throttle,
                3 => Fault::refuse(503, "ServiceUnavailable"),
                _ if op == "iam:CreateAccessKey" => Fault::refuse(409, "LimitExceeded"),
                _ => Fault::LoseAnswer,
            };
            // Up to four: more than the SDK's three attempts, so that a step fails and is delivered again.
            let times = 1 + rng.below(4) as u32;
            Rule::once(op, fault).times(times).skip(rng.below(3) as u32)
        })
        .collect()
}

#[tokio::test]
async fn rotations_under_a_seeded_random_mix_of_faults_keep_the_invariants() -> Result<()> {
    // A fixed seed by default, so that ci is repeatable; `ROTATOR_FAULT_SEED=random` explores
    // (the seed is printed, to replay a failure with `ROTATOR_FAULT_SEED=<seed>`).
    let seed = match std::env::var("ROTATOR_FAULT_SEED").as_deref() {
        Err(_) | Ok("") => DEFAULT_FAULT_SEED,
        Ok("random") => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_nanos() as u64,
        Ok(seed) => seed
            .parse()
            .context("ROTATOR_FAULT_SEED must be a number or `random`")?,
    };
    println!("random fault mix: ROTATOR_FAULT_SEED={seed}");
    let mut rng = Rng(seed);
    let mut policies = ["delete", "deactivate", "keep"];
    for i in (1..policies.len()).rev() {
        policies.swap(i, rng.below(i as u64 + 1) as usize);
    }
    // One moto and one proxy; one function per policy, at TRACE, as an operator changes the
    // setting between rotations.
    let mut world = World::start(
        &binary(),
        WorldOptions::default()
            .through_proxy()
            .setting("ROTATOR_OLD_KEY", policies[0])
            .setting("RUST_LOG", "trace"),
    )
    .await?;
    managed(&world, ALICE).await?;
    let mut completed = 0;
    let mut attempted = 0;
    // The person's key, while it exists, and whether it is still active.
    let mut person: Option<(String, bool)> = None;
    let mut person_appeared = false;
    let mut hand_made = Vec::new();
    let mut logs = Vec::new();
    for (segment, policy) in policies.iter().enumerate() {
        if segment > 0 {
            logs.extend(world.function.logs());
            let settings = vec![
                ("ROTATOR_ALERT_TOPIC_ARN", world.topic.clone()),
                (
                    "ROTATOR_SENDER_EMAIL",
                    rotator_harness::world::SENDER.to_owned(),
                ),
                ("ROTATOR_TEST_TIMEOUT_SECS", "3".to_owned()),
                ("ROTATOR_OLD_KEY", (*policy).to_owned()),
                ("RUST_LOG", "trace".to_owned()),
            ];
            let launch = rotator_harness::Launch {
                endpoint: Some(world.proxy().endpoint()),
                ..Default::default()
            };
            world.function =
                rotator_harness::Function::start_with(&binary(), &world.moto, &settings, &launch)?;
        }
        // Four completed rotations per policy; a person's key may block one or two more.
        let mut done_here = 0;
        for round in 0..6 {
            if done_here == 4 {
                break;
            }
            // Once in the run, a person makes a key by hand (IAM refuses when the user has
            // two); the next rotation must leave it alone. Not while an earlier rotation's
            // intent of unknown outcome is open: a key made then may be taken for the
            // rotator's, the limitation docs/guarantees.md states (the core's property tests model it).
            let intent_open = world
                .fx
                .user_tags(ALICE.user)
                .await?
                .keys()
                .any(|key| key.starts_with("rotator:intent:"));
            if !person_appeared
                && !intent_open
                && (rng.below(3) == 0 || (segment == 1 && round == 2))
                && let Ok((id, secret)) = world.fx.create_key(ALICE.user).await
            {
                println!("a person made key {id}");
                hand_made.push(secret);
                person = Some((id, true));
                person_appeared = true;
            }
            let rules = random_rules(&mut rng);
            world.proxy().reset()?;
            world.proxy().set_rules(&rules)?;
            let attempts = world.rotate_redelivered(ALICE.secret, 2, 3).await?;
            attempted += 1;
            let done = attempts.last().is_some_and(|a| a.completed);
            println!(
                "{policy} round {round}: rules {rules:?} -> {} ({} attempts){}",
                if done { "completed" } else { "not completed" },
                attempts.len(),
                attempts
                    .iter()
                    .flat_map(|a| a.failures())
                    .map(|f| format!("\n    {}", f.chars().take(240).collect::<String>()))
                    .collect::<String>()
            );
            let keys = key_ids(&world.fx.keys(ALICE.user).await?);
            if let Some((id, active)) = &person {
                if *active {
                    ensure!(
                        keys.contains(id),
                        "seed {seed}: the person's active key {id} was deleted; keys {keys:?}"
                    );
                } else if !keys.contains(id) {
                    // An Inactive key the secret does not know may go to make room.
                    person = None;
                }
            }
            let others: BTreeSet<String> = person.iter().map(|(id, _)| id.clone()).collect();
            if done {
                completed += 1;
                done_here += 1;
                world
                    .assert_rotation_invariants(ALICE, &others)
                    .await
                    .with_context(|| format!("seed {seed}, {policy} round {round}"))?;
            } else {
                // Only a person's active key may keep a rotation from completing.
                ensure!(
                    person.as_ref().is_some_and(|(_, active)| *active),
                    "seed {seed}, {policy} round {round}: the rotation never completed: {:#?}",
                    attempts
                        .iter()
                        .flat_map(|a| a.failures())
                        .collect::<Vec<_>>()
                );
            }
            // After one rotation the person deletes or deactivates the key.
            if let Some((id, active)) = &mut person
                && *active
            {
                if rng.below(2) == 0 {
                    world
                        .fx
                        .iam
                        .delete_access_key()
                        .user_name(ALICE.user)
                        .access_key_id(id.as_str())
                        .send()
                        .await?;
                    println!("the person deleted key {id}");
                    person = None;
                } else {
                    world
                        .fx
                        .iam
                        .update_access_key()
                        .user_name(ALICE.user)
                        .access_key_id(id.as_str())
                        .status(aws_sdk_iam::types::StatusType::Inactive)
                        .send()
                        .await?;
                    println!("the person deactivated key {id}");
                    *active = false;
                }
            }
        }
    }
    println!("seed {seed}: {completed} of {attempted} rotations completed");
    ensure!(
        completed >= 8,
        "seed {seed}: only {completed} rotations completed"
    );
    // Secrets at TRACE: the earlier functions' lines and the current one's, every alert and
    // email, against every key ever issued.
    let mut secrets: Vec<String> = world
        .proxy()
        .issued_keys()?
        .into_iter()
        .map(|(_, secret)| secret)
        .filter(|secret| !secret.is_empty())
        .collect();
    secrets.extend(hand_made.iter().cloned());
    let leaked = logs
        .iter()
        .find(|line| secrets.iter().any(|s| line.contains(s.as_str())));
    if let Some(line) = leaked {
        bail!("seed {seed}: a secret access key leaked into: {line}");
    }
    println!(
        "seed {seed}: scanned {} log lines at TRACE for {} secret access keys",
        logs.len() + world.function.logs().len(),
        secrets.len()
    );
    world
        .assert_no_secret_leaked(&[ALICE.secret], &hand_made)
        .await
        .with_context(|| format!("seed {seed}"))
}
