//! End to end: the `rotator` binary against moto, on secrets that the real function binary
//! rotated through the Lambda Runtime API emulator. One world per test: a fleet in every
//! state for `status` and `audit`, a secret rotated under `rotate --wait`, and no AWS at all
//! for the argument and endpoint errors.
//!
//! Where moto differs from AWS (covered by the core's unit tests in `fleet/tests.rs`):
//! - it cannot date anything in the past, so the age thresholds are tried at 0 here
//!   (`--stuck-after 0s`, `--max-age-days 0`) against their defaults;
//! - `ListSecretVersionIds` dates every version at the time of the call (`moto_server.py`
//!   reports each version's own creation time, as AWS does), and a pending version made here
//!   is only seconds old;
//! - `LastRotatedDate` is the time of `RotateSecret`, not of the rotation's end;
//! - `RotateSecret` with no function named would forget the configured one (see
//!   `moto_server.py`, which keeps it as AWS does).

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use rotator_harness::fleet::{CliRun, rotator_command, run_cli};
use rotator_harness::moto::free_port;
use rotator_harness::{World, WorldOptions, function_binary, new_token};
use serde_json::Value;

fn cli() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_rotator"))
}

fn secret(user: &str) -> String {
    format!("IamKeyRotator/{user}")
}

struct Fleet {
    world: World,
}

impl Fleet {
    async fn start(old_key: &str) -> Result<Self> {
        let world = World::start(
            &function_binary(),
            WorldOptions::default().setting("ROTATOR_OLD_KEY", old_key),
        )
        .await?;
        Ok(Self { world })
    }

    /// A user and its secret, rotated `rotations` times by the function.
    async fn managed(&self, user: &str, rotations: usize) -> Result<String> {
        let name = secret(user);
        self.world.fx.create_user(user).await?;
        self.world
            .fx
            .create_secret(&name, &format!(r#"{{"UserName":"{user}"}}"#), None)
            .await?;
        for _ in 0..rotations {
            self.world
                .fx
                .rotate_direct(&self.world.function, &name)
                .await?;
        }
        Ok(name)
    }

    fn run(&self, args: &[&str]) -> Result<CliRun> {
        run_cli(rotator_command(cli(), &self.world.moto).args(args))
    }

    async fn key_in(&self, user: &str, stage: &str) -> Result<String> {
        self.world
            .key_in(&secret(user), stage)
            .await?
            .with_context(|| format!("{stage} of {user} holds no key"))
    }
}

/// The rows of `status --json`, by secret name.
fn rows_by_secret(document: &Value) -> std::collections::BTreeMap<String, Value> {
    document["secrets"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|row| {
            (
                row["secret"].as_str().unwrap_or_default().to_owned(),
                row.clone(),
            )
        })
        .collect()
}

fn findings<'a>(document: &'a Value, kind: &str, user: &str) -> Vec<&'a Value> {
    document["findings"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|f| f["kind"] == kind && f["user"] == user)
        .collect()
}

#[tokio::test]
async fn status_and_audit_report_every_state_and_finding() -> Result<()> {
    let fleet = Fleet::start("keep").await?;
    let fx = &fleet.world.fx;
    fleet.managed("ok-user", 1).await?;

    // A clean account: nothing found, exit 0.
    let clean = fleet.run(&["audit"])?;
    assert_eq!(clean.code, Some(0), "{clean:?}");
    assert!(clean.stdout.contains("no finding"), "{clean:?}");

    fleet.managed("pending-user", 1).await?;
    let pending = new_token();
    fx.start_rotation(&secret("pending-user"), &pending).await?;

    // The table, and exit 0 while every row is ok or in progress. (Every --prefix ends with its
    // `/`, so the fleet is looked at before its other users exist.)
    let table = fleet.run(&["status"])?;
    assert_eq!(table.code, Some(0), "{table:?}");
    let header = table.stdout.lines().next().unwrap_or_default();
    for column in ["SECRET", "USER", "KEY", "STATE", "NEXT ROTATION"] {
        assert!(header.contains(column), "{header}");
    }
    let row: Vec<&str> = table
        .stdout
        .lines()
        .find(|line| line.starts_with("IamKeyRotator/ok-user"))
        .context("the row")?
        .split_whitespace()
        .collect();
    assert_eq!(row[1], "ok-user", "{table:?}");
    assert!(row.contains(&"ok") && row.contains(&"Active"), "{table:?}");
    assert!(table.stdout.contains("in-progress"), "{table:?}");
    assert!(
        table.stdout.contains("nothing needs attention"),
        "{table:?}"
    );
    assert!(table.stderr.is_empty(), "no spinner off a terminal");

    fleet.managed("blocked-user", 1).await?;
    let (by_hand, _) = fx.create_key("blocked-user").await?;

    fleet.managed("broken-user", 1).await?;
    let broken_key = fleet.key_in("broken-user", "AWSCURRENT").await?;
    fx.iam
        .delete_access_key()
        .user_name("broken-user")
        .access_key_id(&broken_key)
        .send()
        .await?;

    fx.create_user("disabled-user").await?;
    let (disabled_key, disabled_secret) = fx.create_key("disabled-user").await?;
    fx.create_secret(
        &secret("disabled-user"),
        &serde_json::json!({"UserName": "disabled-user", "AccessKeyId": disabled_key, "SecretAccessKey": disabled_secret}).to_string(),
        None,
    )
    .await?;

    // With `keep`, the second rotation leaves the first key active in AWSPREVIOUS; a program
    // that still uses it after the rotation makes it in use. moto dates the rotation and the
    // use in whole seconds: the use comes a second later.
    fleet.managed("inuse-user", 2).await?;
    let old = fleet
        .world
        .value(&secret("inuse-user"), "AWSPREVIOUS")
        .await?
        .context("AWSPREVIOUS")?;
    let (old_id, old_secret) = (
        old["AccessKeyId"].as_str().context("id")?.to_owned(),
        old["SecretAccessKey"]
            .as_str()
            .context("secret")?
            .to_owned(),
    );
    tokio::time::sleep(Duration::from_millis(1100)).await;
    fx.caller_arn(&fleet.world.moto, &old_id, &old_secret)
        .await?;

    fx.create_user("legacy-user").await?;
    fx.create_key("legacy-user").await?;

    // A user of a member account, read through the operators' reader role (moto accepts any
    // AssumeRole, and authorizes the assumed role's calls by that role's policies); the member
    // role serves the fixture that creates the user.
    let member_account = "111122223333";
    let member_secret = format!("IamKeyRotator/{member_account}/member-user");
    fleet
        .world
        .moto
        .create_member_role(member_account, "IamKeyRotatorMember")
        .await?;
    fleet
        .world
        .moto
        .create_member_role(member_account, "IamKeyRotatorReader")
        .await?;
    let member = rotator_harness::Fixture::in_member_account(
        &fleet.world.moto,
        member_account,
        "IamKeyRotatorMember",
    )
    .await?;
    member.create_user("member-user").await?;
    let (member_key, member_key_secret) = member.create_key("member-user").await?;
    fx.create_secret(
        &member_secret,
        &serde_json::json!({"UserName": "member-user", "AccountId": member_account, "AccessKeyId": member_key, "SecretAccessKey": member_key_secret}).to_string(),
        None,
    )
    .await?;
    let seeded = new_token();
    fx.start_rotation(&member_secret, &seeded).await?;
    fleet.world.abandon(&member_secret, &seeded).await?;

    // status --json: every state, parsed back.
    let status = fleet.run(&["status", "--json"])?;
    assert_eq!(status.code, Some(1), "{status:?}");
    let document = status.json()?;
    assert_eq!(document["prefix"], "IamKeyRotator/");
    assert_eq!(document["needs_attention"], true);
    let rows = rows_by_secret(&document);
    let state = |user: &str| rows[&secret(user)]["state"].as_str().map(str::to_owned);
    assert_eq!(state("ok-user").as_deref(), Some("ok"), "{rows:#?}");
    assert_eq!(state("blocked-user").as_deref(), Some("blocked"));
    assert_eq!(state("broken-user").as_deref(), Some("broken"));
    assert_eq!(state("disabled-user").as_deref(), Some("rotation-disabled"));
    assert_eq!(state("pending-user").as_deref(), Some("in-progress"));
    assert_eq!(state("inuse-user").as_deref(), Some("old-key-in-use"));
    assert_eq!(rows.len(), 7, "legacy-user has no secret: {rows:#?}");
    let member_row = &rows[&member_secret];
    assert_eq!(member_row["state"], "ok", "{member_row:#}");
    assert_eq!(member_row["account"], member_account);
    assert_eq!(member_row["key"]["id"].as_str(), Some(member_key.as_str()));
    assert_eq!(
        member_row["key"]["status"], "Active",
        "read in the member account"
    );

    let ok = &rows[&secret("ok-user")];
    assert_eq!(ok["user"], "ok-user");
    assert_eq!(ok["account"], Value::Null);
    assert_eq!(
        ok["key"]["id"].as_str(),
        Some(fleet.key_in("ok-user", "AWSCURRENT").await?.as_str())
    );
    assert_eq!(ok["key"]["status"], "Active");
    assert_eq!(ok["rotation_enabled"], true);
    assert!(ok["last_rotated"].is_string() && ok["next_rotation"].is_string());
    assert_eq!(ok["states"], serde_json::json!(["ok"]));
    assert!(
        rows[&secret("blocked-user")]["reasons"][0]
            .as_str()
            .is_some_and(|r| r.contains(&by_hand)),
        "{rows:#?}"
    );
    assert_eq!(rows[&secret("broken-user")]["key"]["status"], Value::Null);
    assert_eq!(
        rows[&secret("pending-user")]["pending"]["version"].as_str(),
        Some(pending.as_str())
    );
    let in_use = rows[&secret("inuse-user")]["reasons"][0]
        .as_str()
        .context("a reason")?;
    assert!(
        in_use.contains(&old_id) && in_use.contains("sts"),
        "{in_use}"
    );
    assert_eq!(document["counts"]["ok"], 2);

    // status reads member accounts through --role (the reader role): with a role that the account lacks,
    // the member's keys cannot be read (moto grants AssumeRole of any name, then fails the
    // missing role's calls; AWS refuses the AssumeRole, and the row is broken), and the member
    // role is not status's to assume (only sweep's).
    // Its row says so (`unreadable`: the call that failed, named), and the others are reported.
    let missing = fleet.run(&["status", "--json", "--role", "NoSuchReader"])?;
    assert_eq!(missing.code, Some(1), "{missing:?}");
    let missing_rows = rows_by_secret(&missing.json()?);
    assert_eq!(
        missing_rows[&member_secret]["state"], "unreadable",
        "{missing:?}"
    );
    assert!(
        missing_rows[&member_secret]["reasons"][0]
            .as_str()
            .is_some_and(|reason| reason.contains("ListAccessKeys for member-user")),
        "{missing:?}"
    );
    assert_eq!(missing_rows[&secret("ok-user")]["state"], "ok");
    let refused = fleet.run(&["status", "--member-role", "IamKeyRotatorMember"])?;
    assert_eq!(refused.code, Some(2), "{refused:?}");
    assert!(refused.stderr.contains("--member-role"), "{refused:?}");

    // The stuck threshold: every pending version is older than 0 s.
    let stuck = fleet.run(&["status", "--json", "--stuck-after", "0s"])?;
    let rows = rows_by_secret(&stuck.json()?);
    assert_eq!(rows[&secret("pending-user")]["state"], "stuck");

    // audit --json at 0 days: every active key is old and unused; the findings that tell the
    // managed keys from the others.
    let audit = fleet.run(&["audit", "--json", "--max-age-days", "0"])?;
    assert_eq!(audit.code, Some(1), "{audit:?}");
    let document = audit.json()?;
    assert_eq!(document["max_age_days"], 0);
    let legacy = findings(&document, "unmanaged-old-key", "legacy-user");
    assert_eq!(legacy.len(), 1, "{document:#}");
    assert_eq!(legacy[0]["key"], Value::Null, "the report names no key ids");
    let unmanaged = findings(&document, "unmanaged-old-key", "blocked-user");
    assert_eq!(unmanaged.len(), 1, "{document:#}");
    assert_eq!(unmanaged[0]["key"].as_str(), Some(by_hand.as_str()));
    let managed = findings(&document, "managed-old-key", "ok-user");
    assert_eq!(
        managed[0]["key"].as_str(),
        Some(fleet.key_in("ok-user", "AWSCURRENT").await?.as_str())
    );
    assert_eq!(
        managed[0]["secret"].as_str(),
        Some(secret("ok-user").as_str())
    );
    assert!(
        findings(&document, "unmanaged-old-key", "inuse-user").is_empty(),
        "AWSPREVIOUS's key is managed: {document:#}"
    );
    assert_eq!(
        findings(&document, "two-active-keys", "inuse-user").len(),
        1
    );
    assert!(!findings(&document, "unused-key", "legacy-user").is_empty());
    assert!(
        document["managed_users"].as_u64() >= Some(5),
        "{document:#}"
    );

    // The default 90 days: no key is old yet; two active keys are still findings.
    let audit = fleet.run(&["audit", "--json"])?;
    let document = audit.json()?;
    let kinds: Vec<&str> = document["findings"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|f| f["kind"].as_str())
        .collect();
    assert!(
        !kinds.is_empty() && kinds.iter().all(|k| *k == "two-active-keys"),
        "{kinds:?}"
    );

    // Every account: the member account's report read through the member role, with that
    // account's managed secret; the caller's own first. One member account alone.
    member.create_user("member-legacy").await?;
    member.create_key("member-legacy").await?;
    let all = fleet
        .run(&["audit", "--json", "--max-age-days", "0", "--all-accounts"])?
        .json()?;
    assert_eq!(
        all["accounts"],
        serde_json::json!([null, member_account]),
        "{all:#}"
    );
    let of = |document: &Value, kind: &str, user: &str| -> Vec<Option<String>> {
        findings(document, kind, user)
            .iter()
            .map(|f| f["account"].as_str().map(str::to_owned))
            .collect()
    };
    assert_eq!(
        of(&all, "unmanaged-old-key", "member-legacy"),
        [Some(member_account.to_owned())],
        "{all:#}"
    );
    assert_eq!(
        of(&all, "managed-old-key", "member-user"),
        [Some(member_account.to_owned())],
        "{all:#}"
    );
    assert_eq!(of(&all, "unmanaged-old-key", "legacy-user"), [None]);
    let one = fleet
        .run(&[
            "audit",
            "--json",
            "--max-age-days",
            "0",
            "--account",
            member_account,
        ])?
        .json()?;
    assert_eq!(one["accounts"], serde_json::json!([member_account]));
    assert!(
        findings(&one, "unmanaged-old-key", "legacy-user").is_empty(),
        "{one:#}"
    );
    assert_eq!(of(&one, "unmanaged-old-key", "member-legacy").len(), 1);
    let bad = fleet.run(&["audit", "--account", "1234"])?;
    assert_eq!(bad.code, Some(2), "{bad:?}");
    assert!(bad.stderr.contains("12 digits"), "{bad:?}");

    // CSV: a header and one line per finding.
    let csv = fleet.run(&["audit", "--csv", "--max-age-days", "0"])?;
    assert_eq!(csv.code, Some(1));
    let mut lines = csv.stdout.lines();
    assert_eq!(
        lines.next(),
        Some("kind,account,user,key,secret,created,last_used,detail")
    );
    let json = fleet
        .run(&["audit", "--json", "--max-age-days", "0"])?
        .json()?;
    assert_eq!(
        lines.count(),
        json["findings"].as_array().map_or(0, Vec::len),
        "{}",
        csv.stdout
    );
    Ok(())
}

/// The lines a running CLI printed, as they come.
struct Lines {
    seen: Arc<Mutex<Vec<String>>>,
}

impl Lines {
    fn of(child: &mut std::process::Child) -> Result<Self> {
        let stdout = child.stdout.take().context("stdout")?;
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&seen);
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                sink.lock().expect("lines").push(line);
            }
        });
        Ok(Self { seen })
    }

    fn all(&self) -> Vec<String> {
        self.seen.lock().expect("lines").clone()
    }

    /// Waits until a line holds `text`.
    fn wait_for(&self, text: &str) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !self.all().iter().any(|line| line.contains(text)) {
            if Instant::now() > deadline {
                bail!("the CLI never printed {text:?}: {:?}", self.all());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    }
}

/// The version that holds AWSPENDING, once one does.
async fn pending_version(world: &World, name: &str) -> Result<String> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let stages = world.fx.stages(name).await?;
        if let Some((version, _)) = stages
            .iter()
            .find(|(_, s)| s.iter().any(|s| s == "AWSPENDING"))
        {
            return Ok(version.clone());
        }
        if Instant::now() > deadline {
            bail!("no rotation of {name} started: {stages:?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn wait_exit(child: &mut std::process::Child) -> Result<Option<i32>> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(status.code());
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            bail!("the CLI did not exit");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[tokio::test]
async fn rotate_wait_follows_the_stages_that_the_function_moves() -> Result<()> {
    let fleet = Fleet::start("delete").await?;
    let name = fleet.managed("alice", 1).await?;
    let old = fleet.key_in("alice", "AWSCURRENT").await?;
    let follow = |args: &[&str]| -> Result<std::process::Child> {
        rotator_command(cli(), &fleet.world.moto)
            .args(["rotate", name.as_str(), "--wait", "--interval", "1s"])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .context("starting rotator rotate")
    };

    // RotateSecret does not run our function on moto: the test delivers each step while the
    // CLI watches, and waits for it to see the new key before it finishes.
    let mut child = follow(&["--timeout", "60s"])?;
    let lines = Lines::of(&mut child)?;
    let token = pending_version(&fleet.world, &name).await?;
    lines.wait_for("is AWSPENDING")?;
    for step in rotator_harness::STEPS {
        let answer = fleet.world.invoke(step, &name, &token)?;
        assert!(answer.ok, "{step}: {}", answer.output);
        if step == "createSecret" {
            lines.wait_for("createSecret stored the new key")?;
        }
    }
    assert_eq!(wait_exit(&mut child)?, Some(0), "{:?}", lines.all());
    let new = fleet.key_in("alice", "AWSCURRENT").await?;
    assert_ne!(new, old);
    let printed = lines.all();
    let position = |text: &str| printed.iter().position(|line| line.contains(text));
    let started = position(&format!("version {token} is AWSPENDING")).context("started")?;
    let labelled = position(&format!("version {token}: no label -> AWSPENDING"))
        .context("the new version's label")?;
    let stored = position(&format!("stored the new key {new}")).context("the new key")?;
    let current = printed
        .iter()
        .position(|line| line.contains(&format!("version {token}: AWSPENDING -> AWSCURRENT")))
        .context("AWSCURRENT moving")?;
    let completed = position("completed").context("completed")?;
    assert!(
        started < labelled && labelled < stored && stored < current && current < completed,
        "{printed:#?}"
    );
    assert!(printed[completed].contains(&new), "{printed:#?}");
    eprintln!("rotator rotate --wait printed:\n{}", printed.join("\n"));

    // A rotation whose AWSPENDING label is taken away has failed: exit 1.
    let mut child = follow(&["--timeout", "60s"])?;
    let lines = Lines::of(&mut child)?;
    let token = pending_version(&fleet.world, &name).await?;
    lines.wait_for("is AWSPENDING")?;
    fleet.world.abandon(&name, &token).await?;
    assert_eq!(wait_exit(&mut child)?, Some(1), "{:?}", lines.all());
    assert!(
        lines
            .all()
            .iter()
            .any(|line| line.contains("failed") && line.contains(&token)),
        "{:?}",
        lines.all()
    );

    // One that never moves times out: exit 1, naming the version still pending. It says how
    // long it waited, which on a busy machine may be a second more than the timeout.
    let mut child = follow(&["--timeout", "1s"])?;
    let lines = Lines::of(&mut child)?;
    assert_eq!(wait_exit(&mut child)?, Some(1), "{:?}", lines.all());
    let token = pending_version(&fleet.world, &name).await?;
    assert!(
        lines
            .all()
            .iter()
            .any(|line| line.contains("did not complete within") && line.contains(&token)),
        "{:?}",
        lines.all()
    );

    // Another rotation while one is in progress is refused, changing nothing.
    let stages = fleet.world.fx.stages(&name).await?;
    let refused = fleet.run(&["rotate", &name])?;
    assert_eq!(refused.code, Some(2), "{refused:?}");
    assert!(
        refused.stderr.contains("already in progress"),
        "{refused:?}"
    );
    assert_eq!(refused.stderr.lines().count(), 1);
    assert_eq!(fleet.world.fx.stages(&name).await?, stages);
    fleet.world.abandon(&name, &token).await?;

    // Without --wait: started, exit 0.
    let started = fleet.run(&["rotate", &name])?;
    assert_eq!(started.code, Some(0), "{started:?}");
    let token = pending_version(&fleet.world, &name).await?;
    assert!(started.stdout.contains(&token), "{started:?}");

    // A secret without rotation, and one that does not exist: exit 2, nothing changed.
    fleet
        .world
        .fx
        .create_secret(&secret("manual"), r#"{"UserName":"manual"}"#, None)
        .await?;
    let disabled = fleet.run(&["rotate", &secret("manual")])?;
    assert_eq!(disabled.code, Some(2), "{disabled:?}");
    assert!(
        disabled.stderr.contains("rotation is not enabled"),
        "{disabled:?}"
    );
    assert_eq!(fleet.world.fx.stages(&secret("manual")).await?.len(), 1);
    let missing = fleet.run(&["rotate", "IamKeyRotator/nobody"])?;
    assert_eq!(missing.code, Some(2), "{missing:?}");
    assert!(
        missing
            .stderr
            .contains("DescribeSecret for IamKeyRotator/nobody failed"),
        "{missing:?}"
    );
    Ok(())
}

#[test]
fn bad_arguments_and_an_unreachable_endpoint_fail_with_one_line() -> Result<()> {
    let bare = || {
        let mut command = Command::new(cli());
        command
            .env_clear()
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ACCESS_KEY_ID", "AKIAUNREACHABLE00000")
            .env("AWS_SECRET_ACCESS_KEY", "unreachable")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_CONFIG_FILE", "/nonexistent")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent");
        command
    };
    let cases: [(&[&str], &str); 5] = [
        (&["status", "--stuck-after", "soon"], "--stuck-after"),
        (&["audit", "--max-age-days", "ninety"], "--max-age-days"),
        (&["audit", "--json", "--csv"], "--csv"),
        (&["rotate"], "<SECRET>"),
        (&["status", "--prefix", ""], "--prefix"),
    ];
    for (args, named) in cases {
        let run = run_cli(bare().args(args))?;
        assert_eq!(run.code, Some(2), "{args:?}: {run:?}");
        assert!(run.stdout.is_empty(), "{args:?}: {run:?}");
        assert_eq!(run.stderr.trim().lines().count(), 1, "{args:?}: {run:?}");
        assert!(
            run.stderr.starts_with("rotator: error:") && run.stderr.contains(named),
            "{args:?}: {run:?}"
        );
    }

    // Nothing listens on this port: the SDK's retries end within seconds.
    let endpoint = format!("http://127.0.0.1:{}", free_port()?);
    let started = Instant::now();
    let run = run_cli(bare().env("AWS_ENDPOINT_URL", &endpoint).arg("status"))?;
    eprintln!(
        "an unreachable endpoint failed after {:?}",
        started.elapsed()
    );
    assert_eq!(run.code, Some(2), "{run:?}");
    assert_eq!(run.stderr.trim().lines().count(), 1, "{run:?}");
    assert!(
        run.stderr.contains("ListSecrets") && run.stderr.contains("Connection refused"),
        "{run:?}"
    );
    assert!(!run.stderr.contains("DispatchFailure("), "{run:?}");

    let run = run_cli(bare().env_remove("AWS_REGION").arg("audit"))?;
    assert_eq!(run.code, Some(2), "{run:?}");
    assert!(run.stderr.contains("AWS_REGION"), "{run:?}");
    Ok(())
}
