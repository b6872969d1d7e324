//! `cargo xtask demo [--keep]`: full rotations on this machine, through the real function and
//! the Lambda Runtime API, against the moto emulator, a job reading its key from the secret, a
//! `grace` rotation whose old key a straggler still uses, and the operator's view of the fleet
//! (`rotator status`, then `rotator doctor`); it ends with what it proved, one line per
//! guarantee, each line checked. With `--keep`, moto stays up afterwards and the demo prints the
//! environment that points `rotator` at it. No AWS account is needed.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use rotator_harness::fleet::{CliRun, cli_binary, rotator_command, run_cli};
use rotator_harness::grace::metric_lines;
use rotator_harness::moto::REGION;
use rotator_harness::{Fixture, Function, Moto, Rotation, function_binary};
use serde_json::Value;

const USER: &str = "billing-export";
const SECRET: &str = "demo/billing-export";
const SENDER: &str = "rotator@example.com";
const OWNER: &str = "owner@example.com";
const POLICY: &str = "deactivate";
/// The demo's prefix and the IAM path of its user, as a deployment named `demo` has them.
const PREFIX: &str = "demo/";
const USER_PATH: &str = "/rotated/demo/";
/// The `grace` part: its own user, secret (under a prefix of its own) and function.
const GRACE_USER: &str = "report-upload";
const GRACE_PREFIX: &str = "grace-demo/";
const GRACE_SECRET: &str = "grace-demo/report-upload";
/// Seconds, so that the demo stays fast; deployments use `24h` (and a lag of `4h`).
const GRACE: &str = "2s";

/// What the demo showed: one line per guarantee, and whether what it saw bore it out.
#[derive(Default)]
struct Proved {
    lines: Vec<(bool, String)>,
}

impl Proved {
    /// Records `guarantee`, shown when `held`.
    fn check(&mut self, held: bool, guarantee: &str) {
        self.lines.push((held, guarantee.to_owned()));
    }

    /// Prints every line; an error when one did not hold.
    fn report(&self) -> Result<()> {
        heading("What this demo proved, each line checked on the run above");
        for (held, line) in &self.lines {
            println!("  {} {line}", if *held { "✓" } else { "✗ NOT SHOWN:" });
        }
        if self.lines.iter().any(|(held, _)| !held) {
            bail!("a guarantee did not hold in this run (✗ above)");
        }
        Ok(())
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<()> {
    let keep = match std::env::args().nth(1).as_deref() {
        None => false,
        Some("--keep") => true,
        Some(other) => bail!("unexpected argument {other:?}: usage: rotator-demo [--keep]"),
    };
    let mut proved = Proved::default();
    println!(
        "IAM access key rotator: a demo on a local AWS emulator (moto). No AWS account is used.\n"
    );

    let started = Instant::now();
    let moto = Moto::start().await.context("starting moto")?;
    println!(
        "▸ moto is serving IAM, Secrets Manager, STS, SNS and SES on {} ({:.1} s)",
        moto.endpoint(),
        started.elapsed().as_secs_f64()
    );
    let fx = Fixture::new(&moto).await;
    let topic = fx.create_topic("rotator-alerts").await?;
    // An SMS subscription (the on-call's phone) is confirmed at once, where an email one waits
    // for its owner's click. (moto delivers to an SQS subscription only when the queue exists,
    // and fails the whole Publish otherwise: the demo showed no alert while it used one.)
    fx.subscribe(&topic, "sms", "+15555550100").await?;
    fx.verify_sender(SENDER).await?;
    // SES starts in the sandbox, where it mails only verified recipients.
    fx.verify_sender(OWNER).await?;
    fx.create_user_at(USER, USER_PATH).await?;
    let initial =
        r#"{"UserName":"billing-export","Service":"nightly billing export to the SaaS vendor"}"#;
    fx.create_secret(SECRET, initial, Some(OWNER)).await?;
    println!(
        "▸ created IAM user `{USER}` under {USER_PATH}, alert topic `rotator-alerts`, verified sender {SENDER} and recipient {OWNER}"
    );
    println!("▸ created secret `{SECRET}` = {initial}");
    println!("  with tag NotifyEmail = {OWNER}");

    let binary = function_binary();
    let settings = [
        ("ROTATOR_ALERT_TOPIC_ARN", topic.clone()),
        ("ROTATOR_SENDER_EMAIL", SENDER.to_owned()),
        ("ROTATOR_OLD_KEY", POLICY.to_owned()),
        ("ROTATOR_SECRET_PREFIX", PREFIX.to_owned()),
    ];
    let function = Function::start(&binary, &moto, &settings)?;
    // The function that Secrets Manager names (moto's placeholder) gets the same configuration,
    // as the deployed one has it, for `rotator doctor` to read.
    let variables: Vec<(&str, &str)> = settings.iter().map(|(k, v)| (*k, v.as_str())).collect();
    fx.configure_function(fx.function_arn(), &variables, 120)
        .await?;
    println!(
        "▸ started the function {} under the Lambda Runtime API emulator (cargo lambda watch), ROTATOR_OLD_KEY={POLICY}\n",
        binary.display()
    );

    let mut emails_seen = 0;
    let mut alerts_seen = 0;

    heading("Rotation 1: the first managed key for a secret that holds only a user name");
    let rotation = fx.rotate(&function, SECRET).await?;
    show_rotation(&rotation);
    show_state(&fx).await?;
    emails_seen = show_new_messages(&moto, &topic, emails_seen, &mut alerts_seen)?;
    let first = job_reads_its_key(&fx, &moto).await?;
    proved.check(
        rotation.succeeded() && Some(&first) == current_key(&fx).await?.as_ref(),
        "a rotation creates the user's key and stores it in the secret, where a job reads it and signs with it",
    );

    heading(&format!(
        "Rotation 2: a new key; the old one is deactivated (ROTATOR_OLD_KEY={POLICY})"
    ));
    let rotation = fx.rotate(&function, SECRET).await?;
    show_rotation(&rotation);
    show_state(&fx).await?;
    emails_seen = show_new_messages(&moto, &topic, emails_seen, &mut alerts_seen)?;
    let second = job_reads_its_key(&fx, &moto).await?;
    let keys = fx.keys(USER).await?;
    proved.check(
        rotation.succeeded()
            && second != first
            && keys.contains(&(first.clone(), "Inactive".to_owned()))
            && keys.contains(&(second.clone(), "Active".to_owned())),
        "each rotation gives the secret a new working key and retires the previous one (deactivate: at once)",
    );

    heading("Rotation 3: the inactive previous key makes room for the next one");
    let rotation = fx.rotate(&function, SECRET).await?;
    show_rotation(&rotation);
    show_state(&fx).await?;
    emails_seen = show_new_messages(&moto, &topic, emails_seen, &mut alerts_seen)?;
    let keys = fx.keys(USER).await?;
    proved.check(
        rotation.succeeded()
            && !keys.iter().any(|(id, _)| *id == first)
            && keys.iter().any(|(id, _)| *id == second),
        "to make room it deletes only the secret's own inactive previous key",
    );

    heading(
        "Rotation 4: someone created a key by hand, so there is no room; nothing may be deleted",
    );
    // The previous, inactive key is deleted by hand and replaced by an active key the
    // secret does not know: the rotator must refuse to touch it.
    let keys = fx.keys(USER).await?;
    let current = current_key(&fx).await?;
    for (id, _) in keys.iter().filter(|(id, _)| Some(id) != current.as_ref()) {
        fx.iam
            .delete_access_key()
            .user_name(USER)
            .access_key_id(id)
            .send()
            .await?;
    }
    let (manual, _) = fx.create_key(USER).await?;
    println!("  (by hand: created access key {manual} for {USER})");
    let before = fx.keys(USER).await?;
    let alerts_before = alerts_seen;
    let rotation = fx.rotate(&function, SECRET).await?;
    show_rotation(&rotation);
    show_state(&fx).await?;
    emails_seen = show_new_messages(&moto, &topic, emails_seen, &mut alerts_seen)?;
    let still = job_reads_its_key(&fx, &moto).await?;
    proved.check(
        !rotation.succeeded()
            && fx.keys(USER).await? == before
            && still == current.clone().unwrap_or_default()
            && alerts_seen > alerts_before,
        "a key it does not own is never touched: the rotation fails with an alert, changes nothing, and the job's key keeps working",
    );

    grace_demo(
        &fx,
        &moto,
        &topic,
        emails_seen,
        &mut alerts_seen,
        &mut proved,
    )
    .await?;

    heading("The fleet as an operator sees it: `rotator status --prefix demo/`");
    let status = show_status(&moto)?;
    heading("Is the deployment ready? `rotator doctor --prefix demo/`");
    let doctor = show_doctor(&moto)?;
    proved.check(
        status.code == Some(1)
            && status.stdout.contains("blocked")
            && doctor.code == Some(1)
            && doctor.stdout.contains(&manual),
        "the operator sees the blocked secret (rotator status) and the fix naming the key made by hand (rotator doctor)",
    );

    drop(function);
    proved.report()?;
    if keep {
        keep_running(&moto)?;
    }
    drop(moto);
    println!(
        "\nDone in {:.1} s: the function and moto are stopped. Run `cargo xtask ci` for every check; \
         `cargo xtask demo --keep` leaves moto running to try `rotator` on this fleet.",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// A job as programs use the rotator: it reads the secret's `AWSCURRENT` value
/// (`GetSecretValue`) and signs a request with the key it holds (`sts:GetCallerIdentity`).
/// Returns the key's id.
async fn job_reads_its_key(fx: &Fixture, moto: &Moto) -> Result<String> {
    let value = fx
        .value(SECRET, "AWSCURRENT")
        .await?
        .context("the secret has no AWSCURRENT value")?;
    let (Some(id), Some(key_secret)) = (
        value["AccessKeyId"].as_str(),
        value["SecretAccessKey"].as_str(),
    ) else {
        bail!("the AWSCURRENT value of {SECRET} holds no key");
    };
    let arn = fx.caller_arn(moto, id, key_secret).await?;
    println!("  a job reads its key: GetSecretValue {SECRET} → AccessKeyId {id} (and its secret)");
    println!("    and signs with it: sts:GetCallerIdentity → {arn}");
    Ok(id.to_owned())
}

/// `--keep`: prints the environment that points `rotator` at this moto, and waits.
fn keep_running(moto: &Moto) -> Result<()> {
    let (key, secret) = moto.admin_key();
    let cli = cli_binary();
    heading("moto keeps running: point `rotator` at it from another shell");
    println!("  unset AWS_PROFILE AWS_SESSION_TOKEN");
    println!("  export AWS_ENDPOINT_URL={}", moto.endpoint());
    println!("  export AWS_REGION={REGION}");
    println!("  export AWS_ACCESS_KEY_ID={key}");
    println!("  export AWS_SECRET_ACCESS_KEY={secret}");
    println!("  export AWS_EC2_METADATA_DISABLED=true");
    println!("  export ROTATOR_PREFIX={PREFIX}");
    println!(
        "  export PATH=\"{}:$PATH\"",
        cli.parent()
            .map_or_else(String::new, |dir| dir.display().to_string())
    );
    println!();
    println!(
        "  rotator status                   # the demo's fleet: one secret blocked by the key made by hand"
    );
    println!("  rotator doctor                   # its findings and their fixes");
    println!(
        "  rotator audit --max-age-days 0   # every key of the account, against the managed secrets"
    );
    println!("  rotator status --prefix {GRACE_PREFIX}    # the grace and adoption secrets");
    println!(
        "  rotator sweep --prefix {GRACE_PREFIX} --old-key-policy grace --grace {GRACE} --usage-lag 0s --dry-run"
    );
    println!(
        "  (moto runs no rotation function: `rotator rotate` starts a rotation that stays in progress here)"
    );
    println!("\n  Press Enter (or Ctrl-C) to stop moto.");
    let mut line = String::new();
    std::io::stdin().read_line(&mut line)?;
    Ok(())
}

/// The `grace` policy: finishSecret leaves the old key active; a program still uses it, so the
/// sweep names it (where and when it was last used) and leaves it; once nothing has used it for
/// the grace, the sweep deactivates it.
async fn grace_demo(
    fx: &Fixture,
    moto: &Moto,
    topic: &str,
    emails_seen: usize,
    alerts_seen: &mut usize,
    proved: &mut Proved,
) -> Result<()> {
    fx.create_user(GRACE_USER).await?;
    fx.create_secret(GRACE_SECRET, r#"{"UserName":"report-upload"}"#, Some(OWNER))
        .await?;
    let settings = [
        ("ROTATOR_ALERT_TOPIC_ARN", topic.to_owned()),
        ("ROTATOR_SENDER_EMAIL", SENDER.to_owned()),
        ("ROTATOR_OLD_KEY", "grace".to_owned()),
        ("ROTATOR_GRACE", GRACE.to_owned()),
        ("ROTATOR_USAGE_LAG", "0s".to_owned()),
        ("ROTATOR_SECRET_PREFIX", GRACE_PREFIX.to_owned()),
    ];
    let function = Function::start(&function_binary(), moto, &settings)?;
    heading(&format!(
        "Zero-downtime retirement: `{GRACE_SECRET}` with ROTATOR_OLD_KEY=grace, ROTATOR_GRACE={GRACE} (24h in a deployment), ROTATOR_USAGE_LAG=0s"
    ));
    fx.rotate(&function, GRACE_SECRET).await?;
    let rotation = fx.rotate(&function, GRACE_SECRET).await?;
    println!("  rotated twice; the second rotation:");
    show_rotation(&rotation);
    let emails_seen = show_new_messages(moto, topic, emails_seen, alerts_seen)?;

    // A program that read the secret before the rotation keeps signing with the old key.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let old = fx.use_key_in(moto, GRACE_SECRET, "AWSPREVIOUS").await?;
    println!("  (a nightly job still signs with the old key {old}: sts:GetCallerIdentity)");
    heading(
        "The hourly sweep ({\"Action\": \"sweep\"}): the old key is in use, so it stays and is named",
    );
    let alerts_before = *alerts_seen;
    show_sweep(fx, &function)?;
    show_grace_keys(fx).await?;
    let emails_seen = show_new_messages(moto, topic, emails_seen, alerts_seen)?;
    let kept = fx.key_status(GRACE_USER, &old).await?.as_deref() == Some("Active");

    println!("  (the job is restarted and reads the new key; nothing uses the old one any more)");
    tokio::time::sleep(Duration::from_secs(3)).await;
    heading(&format!(
        "The next sweep: unused for {GRACE}, the old key is deactivated"
    ));
    show_sweep(fx, &function)?;
    show_grace_keys(fx).await?;
    let emails_seen = show_new_messages(moto, topic, emails_seen, alerts_seen)?;
    proved.check(
        kept && *alerts_seen > alerts_before
            && fx.key_status(GRACE_USER, &old).await?.as_deref() == Some("Inactive"),
        "zero downtime (grace): an old key still in use stays active and is named in an alert; once unused, the sweep deactivates it",
    );
    if let Some(line) = metric_lines(&function)
        .iter()
        .rev()
        .find(|line| line.get("ManagedSecrets").is_some())
    {
        println!(
            "  the sweep's CloudWatch metric line (EMF): ManagedSecrets={} OldKeysInUse={} OldKeysRetired={} SweepErrors={}\n",
            line["ManagedSecrets"],
            line["OldKeysInUse"],
            line["OldKeysRetired"],
            line["SweepErrors"]
        );
    }
    adoption_demo(fx, moto, topic, &function, emails_seen, alerts_seen, proved).await
}

/// Adoption (contract §10): a job already signs with a key made long before the rotator; the
/// secret adopts it (`rotator adopt`), the first rotation gives the secret its own key, and
/// the sweep retires the adopted key once the job has moved to the secret.
async fn adoption_demo(
    fx: &Fixture,
    moto: &Moto,
    topic: &str,
    function: &Function,
    emails_seen: usize,
    alerts_seen: &mut usize,
    proved: &mut Proved,
) -> Result<()> {
    let user = "nightly-export";
    let secret = "grace-demo/nightly-export";
    fx.create_user(user).await?;
    let (old, old_secret) = fx.create_key(user).await?;
    fx.create_secret(secret, r#"{"UserName":"nightly-export"}"#, Some(OWNER))
        .await?;
    heading(&format!(
        "Onboarding a user that already has a key: `{user}` holds {old}, which a nightly job uses"
    ));
    // The demo drives the first rotation itself, right below, as Secrets Manager would: the
    // secret has no rotation schedule for `rotator adopt` to start.
    let run = run_cli(rotator_command(&cli_binary(), moto).args([
        "adopt",
        secret,
        "--prefix",
        GRACE_PREFIX,
        "--no-rotate",
    ]))?;
    println!("  $ rotator adopt {secret} --prefix {GRACE_PREFIX} --no-rotate");
    for line in run.stdout.lines().chain(run.stderr.lines()) {
        println!("  {line}");
    }
    let rotation = fx.rotate(function, secret).await?;
    println!("  the first rotation:");
    show_rotation(&rotation);
    let emails_seen = show_new_messages(moto, topic, emails_seen, alerts_seen)?;
    tokio::time::sleep(Duration::from_secs(3)).await;
    fx.caller_arn(moto, &old, &old_secret).await?;
    println!("  (the nightly job still signs with the adopted key {old})");
    heading("The sweep names the adopted key while the job uses it");
    show_sweep(fx, function)?;
    let emails_seen = show_new_messages(moto, topic, emails_seen, alerts_seen)?;
    println!("  (the job now reads its key from the secret; nothing uses {old} any more)");
    tokio::time::sleep(Duration::from_secs(3)).await;
    heading("The next sweep retires it; the next rotation deletes it");
    show_sweep(fx, function)?;
    fx.rotate(function, secret).await?;
    println!("  keys of {user} after the next rotation:");
    for (id, status) in fx.keys(user).await? {
        println!("    {id}  {status}");
    }
    println!(
        "  ({old} is gone: the user was onboarded with no outage and no key deleted by hand)\n"
    );
    proved.check(
        run.code == Some(0) && !fx.keys(user).await?.iter().any(|(id, _)| *id == old),
        "a key made before the rotator is adopted (rotator adopt), kept while a job uses it, then retired and deleted",
    );
    show_new_messages(moto, topic, emails_seen, alerts_seen)?;
    Ok(())
}

/// Invokes the sweep as its schedule does and prints what it did with each old key.
fn show_sweep(fx: &Fixture, function: &Function) -> Result<()> {
    let summary = fx.sweep(function)?;
    for secret in summary["secrets"].as_array().into_iter().flatten() {
        // The detail says what was done: "used within ...: stays active", "deactivated: ...".
        println!(
            "  {}  old key {}: {}",
            secret["secret"].as_str().unwrap_or_default(),
            secret["previousKey"].as_str().unwrap_or("-"),
            secret["detail"].as_str().unwrap_or_default()
        );
        if let Some(used) = secret["lastUsed"].as_object() {
            println!(
                "    last used {} ({} in {})",
                used["at"].as_str().unwrap_or("?"),
                used["service"].as_str().unwrap_or("?"),
                used["region"].as_str().unwrap_or("?")
            );
        }
    }
    Ok(())
}

async fn show_grace_keys(fx: &Fixture) -> Result<()> {
    let key_in =
        |value: Option<Value>| value.and_then(|v| v["AccessKeyId"].as_str().map(str::to_owned));
    let current = key_in(fx.value(GRACE_SECRET, "AWSCURRENT").await?);
    let previous = key_in(fx.value(GRACE_SECRET, "AWSPREVIOUS").await?);
    println!("  keys of {GRACE_USER}:");
    for (id, status) in fx.keys(GRACE_USER).await? {
        let role = if Some(&id) == current.as_ref() {
            "← AWSCURRENT"
        } else if Some(&id) == previous.as_ref() {
            "← AWSPREVIOUS"
        } else {
            "(not in the secret)"
        };
        println!("    {id}  {status:<8}  {role}");
    }
    Ok(())
}

/// Runs the `rotator` CLI's `status` on the demo's secrets and prints what it printed.
fn show_status(moto: &Moto) -> Result<CliRun> {
    let cli = cli_binary();
    if !cli.exists() {
        bail!(
            "{} does not exist: build it with `cargo build -p rotator-cli`",
            cli.display()
        );
    }
    show_cli(
        moto,
        &["status", "--prefix", "demo/"],
        "every secret is ok or in progress",
        "something needs attention: the key made by hand blocks the next rotation",
    )
}

/// Runs `rotator doctor` on the demo's deployment and prints what it printed.
fn show_doctor(moto: &Moto) -> Result<CliRun> {
    show_cli(
        moto,
        &["doctor", "--prefix", PREFIX],
        "nothing wrong",
        "findings: the key made by hand, and no sweep schedule (the demo drives the function itself)",
    )
}

/// Runs the `rotator` CLI with `args`, prints what it printed, indented, and its exit code with
/// what the code means here (`ok` for 0, `attention` for 1); returns the run.
fn show_cli(moto: &Moto, args: &[&str], ok: &str, attention: &str) -> Result<CliRun> {
    let run = run_cli(rotator_command(&cli_binary(), moto).args(args))?;
    for line in run.stdout.lines().chain(run.stderr.lines()) {
        if line.is_empty() {
            println!();
        } else {
            println!("  {line}");
        }
    }
    println!(
        "  (exit code {}: {})",
        run.code.map_or("none".to_owned(), |code| code.to_string()),
        match run.code {
            Some(0) => ok,
            Some(1) => attention,
            _ => "an error",
        }
    );
    Ok(run)
}

fn heading(text: &str) {
    println!("── {text}");
}

fn show_rotation(rotation: &Rotation) {
    println!("  token {}", rotation.token);
    for (step, invocation) in &rotation.steps {
        let detail = if invocation.ok {
            serde_json::from_str::<Value>(&invocation.output)
                .ok()
                .and_then(|v| v["outcome"].as_str().map(str::to_owned))
                .unwrap_or_else(|| invocation.output.clone())
        } else {
            invocation.output.clone()
        };
        println!(
            "  {:<13} {:<6} {:>5} ms  {}",
            step,
            if invocation.ok { "ok" } else { "FAILED" },
            invocation.elapsed.as_millis(),
            detail
        );
    }
}

async fn current_key(fx: &Fixture) -> Result<Option<String>> {
    Ok(fx
        .value(SECRET, "AWSCURRENT")
        .await?
        .and_then(|v| v["AccessKeyId"].as_str().map(str::to_owned)))
}

async fn show_state(fx: &Fixture) -> Result<()> {
    let current = current_key(fx).await?;
    let previous = fx
        .value(SECRET, "AWSPREVIOUS")
        .await?
        .and_then(|v| v["AccessKeyId"].as_str().map(str::to_owned));
    println!("  keys of {USER}:");
    for (id, status) in fx.keys(USER).await? {
        let role = if Some(&id) == current.as_ref() {
            "← AWSCURRENT"
        } else if Some(&id) == previous.as_ref() {
            "← AWSPREVIOUS"
        } else {
            "(not in the secret)"
        };
        println!("    {id}  {status:<8}  {role}");
    }
    println!("  versions of {SECRET}:");
    for (version, stages) in fx.stages(SECRET).await? {
        println!("    {version}  {}", stages.join(", "));
    }
    Ok(())
}

/// Prints the emails and alerts sent since the last call; returns the emails seen so far.
fn show_new_messages(
    moto: &Moto,
    topic: &str,
    emails_seen: usize,
    alerts_seen: &mut usize,
) -> Result<usize> {
    let emails = moto.ses_emails()?;
    for (to, subject, body) in emails.iter().skip(emails_seen) {
        println!("  email to {}: {subject}", to.join(", "));
        for line in body.lines().filter(|l| {
            [
                "New access key id",
                "Previous key",
                "Old access key id",
                "Last used",
            ]
            .iter()
            .any(|start| l.starts_with(start))
        }) {
            println!("    {line}");
        }
    }
    let alerts = moto.sns_messages(topic)?;
    for (subject, message) in alerts.iter().skip(*alerts_seen) {
        println!("  alert on rotator-alerts: {subject}");
        for line in message.lines().filter(|l| {
            [
                "Error:",
                "What to do:",
                "Old access key id",
                "Last used",
                "Left active",
            ]
            .iter()
            .any(|start| l.starts_with(start))
        }) {
            println!("    {line}");
        }
    }
    *alerts_seen = alerts.len();
    println!();
    Ok(emails.len())
}
