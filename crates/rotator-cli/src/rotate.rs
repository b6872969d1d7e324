//! `rotator rotate`: starts a rotation now and, with `--wait`, prints each change of the
//! secret's version stages until `AWSCURRENT` moves or the rotation fails; with `--all --wait`,
//! rotates every managed secret, at most `--max-in-flight` at a time.

use std::time::Instant;

use anyhow::{Result, anyhow};
use rotator_core::fleet::managed_secrets;
use rotator_core::fleet::retire;
use rotator_core::fleet::rotate::{self, BatchEvent, BatchResult, Event, Outcome, StageChange};
use rotator_core::fleet::status::duration;
use rotator_core::notice::describe_last_use;
use rotator_core::{Ports, SecretId};

use crate::cli::RotateArgs;

/// Runs the command; returns whether the rotation needs attention (it failed or timed out).
pub async fn run(ports: &Ports, args: &RotateArgs) -> Result<bool> {
    let Some(secret) = args.secret.as_deref() else {
        return run_all(ports, args).await;
    };
    let secret = SecretId::new(secret).map_err(|problem| anyhow!("{problem}"))?;
    let began = Instant::now();
    if args.retire_previous {
        retire_previous(ports, &secret, args).await?;
    }
    let started = rotate::start(ports, &secret).await?;
    println!(
        "rotation of {} started: version {} is AWSPENDING",
        started.secret, started.version
    );
    if !args.wait {
        return Ok(false);
    }
    let since = || elapsed(began);
    let mut on_event = |event: &Event| match event {
        Event::Stages(changes) => {
            for change in changes {
                println!("+{:<6} {}", since(), describe(change));
            }
        }
        Event::PendingKey(key) => {
            println!(
                "+{:<6} createSecret stored the new key {key} in AWSPENDING",
                since()
            );
        }
    };
    let outcome =
        rotate::follow(ports, &started, args.timeout, args.interval, &mut on_event).await?;
    match outcome {
        Outcome::Completed { key, .. } => {
            println!(
                "rotation of {} completed in {}: AWSCURRENT is version {}{}",
                started.secret,
                since(),
                started.version,
                key.map_or(String::new(), |key| format!(", holding key {key}"))
            );
            Ok(false)
        }
        Outcome::Failed { reason } => {
            println!("rotation of {} failed: {reason}", started.secret);
            Ok(true)
        }
        Outcome::TimedOut { waited, pending } => {
            println!(
                "rotation of {} did not complete within {}: {} (Secrets Manager may still be retrying; see the function's alerts)",
                started.secret,
                duration(waited.as_secs()),
                match pending {
                    Some(version) => format!("AWSPENDING is still on version {version}"),
                    None => "no version holds AWSPENDING".to_owned(),
                }
            );
            Ok(true)
        }
    }
}

/// Deactivates the secret's active previous key before the rotation, and says so with its
/// last use: a program that still used it fails from now on. A secret of another name shape
/// than the deployment's (`--prefix`), or one whose rotation could not start, is refused with
/// nothing changed.
async fn retire_previous(ports: &Ports, secret: &SecretId, args: &RotateArgs) -> Result<()> {
    let metadata = ports
        .secrets
        .describe(secret)
        .await
        .map_err(|error| anyhow!("DescribeSecret for {secret} failed: {error}"))?;
    let retired =
        retire::retire_previous(ports, &metadata, &args.member.role(), &args.fleet.prefix).await?;
    match retired {
        None => println!("{}: no active previous key to deactivate", metadata.name),
        Some(retired) => println!(
            "deactivated the previous key {} of {}, last used {}: a program still using it fails from now on",
            retired.key,
            retired.user,
            describe_last_use(&retired.last_use)
        ),
    }
    Ok(())
}

/// The time since `began`: tenths of a second under a minute, then `duration`'s form.
fn elapsed(began: Instant) -> String {
    let elapsed = began.elapsed();
    if elapsed.as_secs() < 60 {
        format!("{:.1}s", elapsed.as_secs_f64())
    } else {
        duration(elapsed.as_secs())
    }
}

/// `version 1f2e…: AWSPENDING -> AWSCURRENT, AWSPENDING`.
fn describe(change: &StageChange) -> String {
    let labels = |stages: &[String]| {
        if stages.is_empty() {
            "no label".to_owned()
        } else {
            stages.join(", ")
        }
    };
    format!(
        "version {}: {} -> {}",
        change.version,
        labels(&change.before),
        labels(&change.after)
    )
}

/// `rotate --all --wait`: every managed secret, at most `--max-in-flight` rotations at a time,
/// one line as each starts and as each ends, then a summary. Returns whether any rotation
/// failed, timed out or could not be started for an error (a skipped secret is not one).
async fn run_all(ports: &Ports, args: &RotateArgs) -> Result<bool> {
    let began = Instant::now();
    let secrets = managed_secrets(ports, &args.fleet.prefix).await?;
    if secrets.is_empty() {
        println!(
            "no secret is named {}*: nothing to rotate",
            args.fleet.prefix
        );
        return Ok(false);
    }
    println!(
        "rotating {} secrets named {}*, at most {} at a time",
        secrets.len(),
        args.fleet.prefix,
        args.max_in_flight
    );
    let since = || elapsed(began);
    let mut on_event = |event: &BatchEvent| match event {
        BatchEvent::Started(started) => println!(
            "+{:<6} {}: started, version {} is AWSPENDING",
            since(),
            started.secret,
            started.version
        ),
        BatchEvent::Ended(entry) => println!(
            "+{:<6} {}: {}",
            since(),
            entry.secret,
            match &entry.result {
                BatchResult::Finished(Outcome::Completed { key, elapsed }) => format!(
                    "completed in {}{}",
                    duration(elapsed.as_secs()),
                    key.as_ref()
                        .map_or(String::new(), |key| format!(", holding key {key}"))
                ),
                BatchResult::Finished(Outcome::Failed { reason }) => format!("failed: {reason}"),
                BatchResult::Finished(Outcome::TimedOut { waited, .. }) => format!(
                    "did not complete within {} (Secrets Manager may still be retrying; see the function's alerts)",
                    duration(waited.as_secs())
                ),
                BatchResult::Skipped(reason) => format!("skipped: {reason}"),
                BatchResult::Error(error) => format!("error: {error}"),
            }
        ),
    };
    let entries = rotate::rotate_all(
        ports,
        &secrets,
        usize::from(args.max_in_flight),
        args.timeout,
        args.interval,
        &mut on_event,
    )
    .await;
    let count =
        |wanted: fn(&BatchResult) -> bool| entries.iter().filter(|e| wanted(&e.result)).count();
    let completed = count(|r| matches!(r, BatchResult::Finished(Outcome::Completed { .. })));
    let skipped = count(|r| matches!(r, BatchResult::Skipped(_)));
    let failed = entries.len() - completed - skipped;
    println!(
        "{completed} completed, {failed} failed or timed out, {skipped} skipped, of {} secrets, in {}",
        entries.len(),
        since()
    );
    Ok(failed > 0)
}
