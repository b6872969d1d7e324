//! `cargo xtask bench`: measures the function against moto: init time, peak memory, wall time
//! per rotation over many users, AWS requests per first and per later rotation, and how soon
//! testSecret reports a key after it starts working (a propagation delay played by the proxy);
//! then the `rotator` CLI's `status`, `sweep` and `audit` over a fleet of managed secrets: wall
//! time, AWS requests per secret, and their rate against moto's measured throughput.

use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, Result, bail};
use rotator_harness::fleet::{cli_binary, rotator_command, run_cli};
use rotator_harness::{
    Fixture, Function, Launch, Moto, Propagation, Proxy, STEPS, event, function_binary, new_token,
};
use serde_json::Value;

const DEFAULT_USERS: usize = 100;
const DEFAULT_PROPAGATION_ROTATIONS: usize = 10;
/// How many managed secrets (and users) `status` and `audit` read.
const DEFAULT_FLEET: usize = 2000;
/// How many fixtures are created at once for the fleet.
const SEEDING_CONCURRENCY: usize = 16;
/// The simulated IAM propagation delay: a new key is refused by STS for this long.
const PROPAGATION: Duration = Duration::from_secs(4);

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<()> {
    const USAGE: &str = "usage: rotator-bench [USERS] [PROPAGATION_ROTATIONS] [FLEET]";
    let users: usize = match std::env::args().nth(1) {
        Some(n) => n.parse().context(USAGE)?,
        None => DEFAULT_USERS,
    };
    let propagation_rotations: usize = match std::env::args().nth(2) {
        Some(n) => n.parse().context(USAGE)?,
        None => DEFAULT_PROPAGATION_ROTATIONS,
    };
    let fleet: usize = match std::env::args().nth(3) {
        Some(n) => n.parse().context(USAGE)?,
        None => DEFAULT_FLEET,
    };
    let moto = Moto::start().await?;
    let fx = Fixture::new(&moto).await;
    for n in 0..users {
        fx.create_user(&user(n)).await?;
        fx.create_secret(
            &secret(n),
            &format!(r#"{{"UserName":"{}"}}"#, user(n)),
            None,
        )
        .await?;
    }

    let binary = function_binary();
    let mut function = Function::start(&binary, &moto, &[])?;
    let ready = wait_logged(&function, "ready for events")?;
    let init = ready - function.started;
    let mut peak_rss_kb = 0;

    let mut first = Vec::new();
    let mut later = Vec::new();
    let mut first_requests: Vec<u64> = Vec::new();
    let mut later_requests: Vec<u64> = Vec::new();
    let mut invocations = 0;
    for round in 0..2 {
        if round == 1 {
            // A later rotation comes weeks after the first, on an instance that remembers
            // nothing of it: the second round runs on a new process.
            peak_rss_kb = peak_rss_kb.max(self::peak_rss_kb(function.pid())?);
            drop(function);
            function = Function::start(&binary, &moto, &[])?;
            wait_logged(&function, "ready for events")?;
            invocations = 0;
        }
        for n in 0..users {
            let token = new_token();
            fx.start_rotation(&secret(n), &token).await?;
            let mut elapsed = Duration::ZERO;
            let mut per_step = Vec::new();
            for step in STEPS {
                let answer = function.invoke_direct(&event(step, &secret(n), &token))?;
                if !answer.ok {
                    bail!("{step} failed for {}: {}", secret(n), answer.output);
                }
                elapsed += answer.elapsed;
                invocations += 1;
                per_step.push(requests_of_invocation(&function, invocations)?);
            }
            let requests: u64 = per_step.iter().map(|(count, _)| count).sum();
            if n == 0 {
                let kind = if round == 0 { "first" } else { "later" };
                println!("AWS requests per step of a {kind} rotation:");
                for (step, (count, operations)) in STEPS.iter().zip(&per_step) {
                    println!("  {step} {count}: {operations}");
                }
            }
            if round == 0 {
                first.push(elapsed);
                first_requests.push(requests);
            } else {
                later.push(elapsed);
                later_requests.push(requests);
            }
        }
    }
    let peak_rss_kb = peak_rss_kb.max(self::peak_rss_kb(function.pid())?);

    println!("\nrotator-lambda ({})", binary.display());
    println!("| measure | value | target |");
    println!("| --- | --- | --- |");
    println!(
        "| init (start to ready for the first event) | {:.1} ms | < 25 ms |",
        ms(init)
    );
    println!(
        "| peak RSS of a process after {} rotations | {:.1} MB | < 15 MB |",
        users,
        peak_rss_kb as f64 / 1024.0
    );
    println!(
        "| first rotation, median / p95 ({users} users) | {:.1} / {:.1} ms | |",
        ms(percentile(&mut first, 50)),
        ms(percentile(&mut first, 95))
    );
    println!(
        "| later rotation, median / p95 ({users} users) | {:.1} / {:.1} ms | |",
        ms(percentile(&mut later, 50)),
        ms(percentile(&mut later, 95))
    );
    println!(
        "| AWS requests per first rotation | {} | ≤ 16 |",
        max(&first_requests)
    );
    println!(
        "| AWS requests per later rotation (`delete`) | {} | ≤ 18 |",
        max(&later_requests)
    );
    drop(function);
    if propagation_rotations > 0 {
        propagation(&moto, &fx, &binary, propagation_rotations).await?;
    }
    drop(moto);
    if fleet > 0 {
        fleet_commands(fleet).await?;
    }
    Ok(())
}

/// testSecret under IAM's propagation delay: through the fault proxy, each new key is refused
/// by STS (`InvalidClientTokenId`) until `PROPAGATION` after its creation. Reports how long
/// testSecret took beyond that delay, and how late it answered after the key started working
/// (from the key's creation, so createSecret and setSecret do not hide any of the wait).
async fn propagation(moto: &Moto, fx: &Fixture, binary: &Path, rotations: usize) -> Result<()> {
    let proxy = Proxy::start(moto)?;
    proxy.set_propagation(Propagation::After(PROPAGATION))?;
    let launch = Launch {
        endpoint: Some(proxy.endpoint()),
        ..Launch::default()
    };
    let function = Function::start_with(
        binary,
        moto,
        &[("ROTATOR_TEST_TIMEOUT_SECS", "60".to_owned())],
        &launch,
    )?;
    let mut beyond = Vec::new();
    let mut late = Vec::new();
    for n in 0..rotations {
        let user = format!("bench-propagation-{n:02}");
        let secret = format!("IamKeyRotator/{user}");
        fx.create_user(&user).await?;
        fx.create_secret(&secret, &format!(r#"{{"UserName":"{user}"}}"#), None)
            .await?;
        let token = new_token();
        fx.start_rotation(&secret, &token).await?;
        for step in STEPS {
            let answer = function.invoke_direct(&event(step, &secret, &token))?;
            if !answer.ok {
                bail!("{step} failed for {secret}: {}", answer.output);
            }
            if step == "testSecret" {
                let answered = SystemTime::now();
                let key = fx
                    .value(&secret, "AWSPENDING")
                    .await?
                    .and_then(|v| v["AccessKeyId"].as_str().map(str::to_owned))
                    .context("no pending key")?;
                let created = proxy
                    .issued()?
                    .into_iter()
                    .find(|issued| issued.id == key)
                    .context("the proxy did not see the pending key's creation")?
                    .created;
                let works = created + PROPAGATION;
                late.push(answered.duration_since(works).unwrap_or_default());
                beyond.push(answer.elapsed.saturating_sub(PROPAGATION));
            }
        }
    }
    println!(
        "\ntestSecret with a {}s propagation delay ({rotations} rotations through the fault proxy)",
        PROPAGATION.as_secs()
    );
    println!("| measure | median | worst |");
    println!("| --- | --- | --- |");
    println!(
        "| testSecret time minus the delay | {:.0} ms | {:.0} ms |",
        ms(percentile(&mut beyond, 50)),
        ms(percentile(&mut beyond, 100))
    );
    println!(
        "| answer after the key started working | {:.0} ms | {:.0} ms |",
        ms(percentile(&mut late, 50)),
        ms(percentile(&mut late, 100))
    );
    Ok(())
}

/// `rotator status` over `size` managed secrets, `rotator sweep` over the same secrets and
/// `rotator audit` over their users, each secret holding its user's one key with rotation
/// configured (the `ok` state), on a moto of their own. The CLI counts its own AWS requests
/// (`--verbose`); each command's request rate is set against moto's own throughput, measured
/// in the same run with the same concurrency.
async fn fleet_commands(size: usize) -> Result<()> {
    let moto = Moto::start().await?;
    let fx = Fixture::new(&moto).await;
    let members: Vec<(String, String)> = (0..size)
        .map(|n| {
            let user = format!("fleet-user-{n:05}");
            (user.clone(), format!("IamKeyRotator/{user}"))
        })
        .collect();
    let seeding = Instant::now();
    fx.seed_managed_many(&members, SEEDING_CONCURRENCY).await?;
    println!(
        "\nseeded {size} users, keys and managed secrets in {:.1} s",
        seeding.elapsed().as_secs_f64()
    );
    let throughput = moto_throughput(&fx, &members).await?;
    println!(
        "moto answers {throughput:.0} DescribeSecret requests a second, {SEEDING_CONCURRENCY} at a time"
    );
    let cli = cli_binary();
    println!("rotator CLI ({})", cli.display());
    println!("| command | wall time | AWS requests | per secret | requests a second (of moto's) |");
    println!("| --- | --- | --- | --- | --- |");
    let commands: [(&str, &[&str]); 3] = [
        ("status", &["status", "--json"]),
        ("sweep", &["sweep", "--old-key-policy", "grace", "--json"]),
        ("audit", &["audit", "--json"]),
    ];
    for (command, args) in commands {
        let started = Instant::now();
        let run = run_cli(rotator_command(&cli, &moto).arg("--verbose").args(args))?;
        let wall = started.elapsed();
        let document = run.json()?;
        let (seen, expected) = match command {
            "status" => (document["secrets"].as_array().map_or(0, Vec::len), size),
            "sweep" => (
                document["managedSecrets"].as_u64().unwrap_or(0) as usize,
                size,
            ),
            _ => (
                document["findings"].as_array().map_or(usize::MAX, Vec::len),
                0,
            ),
        };
        if seen != expected || run.code != Some(0) {
            bail!(
                "{command} saw {seen} where {expected} were expected, exit {:?}: {}",
                run.code,
                run.stderr
            );
        }
        let requests = requests_of_cli(&run.stderr)?;
        let rate = requests as f64 / wall.as_secs_f64();
        println!(
            "| `rotator {command}` over {size} {} | {:.1} s | {requests} | {:.2} | {rate:.0} ({:.0} %) |",
            if command == "audit" {
                "users"
            } else {
                "secrets"
            },
            wall.as_secs_f64(),
            requests as f64 / size as f64,
            100.0 * rate / throughput,
        );
    }
    Ok(())
}

/// moto's throughput on this machine right now: one `DescribeSecret` per secret of the fleet,
/// `SEEDING_CONCURRENCY` at a time (the CLI's own concurrency), in requests a second.
async fn moto_throughput(fx: &Fixture, members: &[(String, String)]) -> Result<f64> {
    let started = Instant::now();
    let mut running = tokio::task::JoinSet::new();
    for (_, secret) in members {
        if running.len() >= SEEDING_CONCURRENCY
            && let Some(done) = running.join_next().await
        {
            done.context("a DescribeSecret task")??;
        }
        let (client, secret) = (fx.secrets.clone(), secret.clone());
        running.spawn(async move {
            client
                .describe_secret()
                .secret_id(&secret)
                .send()
                .await
                .map(|_| ())
                .with_context(|| format!("DescribeSecret {secret}"))
        });
    }
    while let Some(done) = running.join_next().await {
        done.context("a DescribeSecret task")??;
    }
    Ok(members.len() as f64 / started.elapsed().as_secs_f64())
}

/// The request count of the CLI's `--verbose` line (`rotator: N AWS requests in S s`).
fn requests_of_cli(stderr: &str) -> Result<u64> {
    stderr
        .lines()
        .find_map(|line| line.strip_prefix("rotator: ")?.split_once(" AWS requests"))
        .and_then(|(count, _)| count.parse().ok())
        .with_context(|| format!("the CLI reported no request count: {stderr}"))
}

fn user(n: usize) -> String {
    format!("bench-user-{n:03}")
}

fn secret(n: usize) -> String {
    format!("IamKeyRotator/{}", user(n))
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

fn percentile(samples: &mut [Duration], p: usize) -> Duration {
    samples.sort();
    let index = ((samples.len() * p).div_ceil(100)).saturating_sub(1);
    samples.get(index).copied().unwrap_or_default()
}

fn max(values: &[u64]) -> u64 {
    values.iter().copied().max().unwrap_or(0)
}

fn wait_logged(function: &Function, text: &str) -> Result<Instant> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(at) = function.logged_at(text) {
            return Ok(at);
        }
        if Instant::now() > deadline {
            bail!("the function never logged {text:?}: {:?}", function.logs());
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// The AWS requests that the function's `number`th invocation made and the operations they
/// were, from its `invocation finished` log line (`aws_requests` and `aws_operations`, counted
/// by the SDK clients themselves).
fn requests_of_invocation(function: &Function, number: usize) -> Result<(u64, String)> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let finished: Vec<Value> = function
            .logs()
            .iter()
            .filter(|line| line.contains("invocation finished"))
            .filter_map(|line| serde_json::from_str(line).ok())
            .collect();
        if let Some(line) = finished.get(number - 1) {
            let count = line["fields"]["aws_requests"]
                .as_u64()
                .context("an `invocation finished` line without aws_requests")?;
            let operations = line["fields"]["aws_operations"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            return Ok((count, operations));
        }
        if Instant::now() > deadline {
            bail!(
                "the function logged {} invocations, not {number}",
                finished.len()
            );
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// The process's peak resident set size (VmHWM), in kB.
fn peak_rss_kb(pid: u32) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .context("no VmHWM in /proc/PID/status")
}
