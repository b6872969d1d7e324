//! End to end: `rotator rotate --all --max-in-flight N --wait` against moto, with the real
//! function binary delivering each step. moto's `RotateSecret` does not run the function: the
//! test plays Secrets Manager, finishing the rotations it chooses while it watches how many
//! the CLI has in progress at once.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use rotator_harness::fleet::rotator_command;
use rotator_harness::{World, WorldOptions, function_binary};

fn cli() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_rotator"))
}

/// The lines that a child prints, collected as they come.
struct Lines(Arc<Mutex<Vec<String>>>);

impl Lines {
    fn of(child: &mut Child) -> Result<Self> {
        let stdout = child.stdout.take().context("stdout")?;
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&seen);
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                sink.lock().expect("lines").push(line);
            }
        });
        Ok(Self(seen))
    }

    fn all(&self) -> Vec<String> {
        self.0.lock().expect("lines").clone()
    }
}

fn wait_exit(child: &mut Child) -> Result<Option<i32>> {
    let deadline = Instant::now() + Duration::from_secs(60);
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

/// The secrets whose AWSPENDING is on a version other than AWSCURRENT's, with that version.
async fn in_progress(world: &World, names: &[String]) -> Result<Vec<(String, String)>> {
    let mut found = Vec::new();
    for name in names {
        let stages = world.fx.stages(name).await?;
        if let Some((version, _)) = stages.iter().find(|(_, s)| {
            s.iter().any(|s| s == "AWSPENDING") && !s.iter().any(|s| s == "AWSCURRENT")
        }) {
            found.push((name.clone(), version.clone()));
        }
    }
    Ok(found)
}

/// Waits until exactly `count` rotations are in progress, and returns them.
async fn wait_in_progress(
    world: &World,
    names: &[String],
    count: usize,
) -> Result<Vec<(String, String)>> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let found = in_progress(world, names).await?;
        assert!(
            found.len() <= 2,
            "more than --max-in-flight 2 in progress: {found:?}"
        );
        if found.len() == count {
            // Still that many a moment later: the CLI is waiting, not about to start another.
            tokio::time::sleep(Duration::from_millis(400)).await;
            let again = in_progress(world, names).await?;
            assert!(
                again.len() <= 2,
                "more than --max-in-flight 2 in progress: {again:?}"
            );
            if again == found {
                return Ok(found);
            }
            continue;
        }
        if Instant::now() > deadline {
            bail!("never {count} rotations in progress: {found:?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn rotate_all_keeps_at_most_the_bound_in_progress_and_starts_the_next_as_one_finishes()
-> Result<()> {
    let world = World::start(
        &function_binary(),
        WorldOptions::default().setting("ROTATOR_OLD_KEY", "delete"),
    )
    .await?;
    let users = ["ana", "ben", "cy", "dee"];
    let mut names = Vec::new();
    for user in users {
        let name = format!("IamKeyRotator/{user}");
        world.fx.create_user(user).await?;
        world
            .fx
            .create_secret(&name, &format!(r#"{{"UserName":"{user}"}}"#), None)
            .await?;
        // One rotation by the function: the secret has a key, and rotation is enabled.
        world.fx.rotate_direct(&world.function, &name).await?;
        names.push(name);
    }
    let before: Vec<Option<String>> = {
        let mut keys = Vec::new();
        for name in &names {
            keys.push(world.key_in(name, "AWSCURRENT").await?);
        }
        keys
    };

    let mut child = rotator_command(cli(), &world.moto)
        .args([
            "rotate",
            "--all",
            "--max-in-flight",
            "2",
            "--wait",
            "--interval",
            "1s",
            "--timeout",
            "60s",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("starting rotator rotate --all")?;
    let lines = Lines::of(&mut child)?;

    // Two start; the others wait. Finish one rotation at a time: each frees the slot of the next.
    // `ben`'s rotation is abandoned instead: it fails, and its slot is freed too.
    let mut finished = BTreeSet::new();
    let mut abandoned = None;
    while finished.len() < names.len() {
        let remaining = names.len() - finished.len();
        let running = wait_in_progress(&world, &names, remaining.min(2)).await?;
        let not_started: Vec<&String> = names
            .iter()
            .filter(|n| !finished.contains(*n) && !running.iter().any(|(r, _)| r == *n))
            .collect();
        for name in &not_started {
            let index = names.iter().position(|n| n == *name).expect("a name");
            assert_eq!(
                world.key_in(name, "AWSCURRENT").await?,
                before[index],
                "{name} rotated before a slot was free"
            );
        }
        let (name, token) = running.first().cloned().context("a rotation in progress")?;
        if name.ends_with("/ben") {
            world.abandon(&name, &token).await?;
            abandoned = Some(token);
        } else {
            for step in rotator_harness::STEPS {
                let answer = world.invoke(step, &name, &token)?;
                assert!(answer.ok, "{step} of {name}: {}", answer.output);
            }
        }
        finished.insert(name);
    }
    assert_eq!(
        wait_exit(&mut child)?,
        Some(1),
        "one failed: exit 1; {:#?}",
        lines.all()
    );
    let printed = lines.all();
    eprintln!("rotator rotate --all printed:\n{}", printed.join("\n"));
    for (index, name) in names.iter().enumerate() {
        let now = world.key_in(name, "AWSCURRENT").await?;
        if name.ends_with("/ben") {
            assert_eq!(now, before[index], "the abandoned rotation changed nothing");
            let token = abandoned.as_deref().context("ben's rotation")?;
            assert!(
                printed
                    .iter()
                    .any(|l| l.contains(&format!("{name}: failed")) && l.contains(token)),
                "{printed:#?}"
            );
        } else {
            let now = now.context("a key")?;
            assert_ne!(Some(&now), before[index].as_ref(), "{name} rotated");
            assert!(
                printed
                    .iter()
                    .any(|l| l.contains(&format!("{name}: completed")) && l.contains(&now)),
                "{printed:#?}"
            );
        }
    }
    assert!(
        printed
            .iter()
            .any(|l| l.contains("3 completed, 1 failed or timed out, 0 skipped, of 4 secrets")),
        "{printed:#?}"
    );
    // The starts and ends, in the order printed, never have more than two rotations open.
    let mut open = 0i32;
    for line in &printed {
        if line.contains(": started, version") {
            open += 1;
        } else if line.contains(": completed in") || line.contains(": failed:") {
            open -= 1;
        }
        assert!((0..=2).contains(&open), "{printed:#?}");
    }
    Ok(())
}
