//! `rotator sweep [--dry-run]`: the function's scheduled sweep, run from a terminal: under the
//! `grace` policy's rule it deactivates the old keys that nothing uses any more, and prints
//! what it did (or, with `--dry-run`, what it would do) with each old key.

use std::time::Duration;

use anyhow::{Result, bail};
use clap::Args;
use rotator_core::Ports;
use rotator_core::config::{self, Settings, format_duration, parse_duration};
use rotator_core::sweep::{Action, Mode, SweepSummary, Sweeper};

use crate::cli::{Fleet, MemberRoleArgs};
use crate::render::{Spinner, print_table, table};

#[derive(Debug, Args)]
pub struct SweepArgs {
    #[command(flatten)]
    pub fleet: Fleet,
    /// Change nothing: print what the sweep would do.
    #[arg(long)]
    pub dry_run: bool,
    /// Print the sweep's JSON summary (the function's answer) instead of a table.
    #[arg(long)]
    pub json: bool,
    /// How long an old key must go unused, and stay active at least (the function's
    /// ROTATOR_GRACE: 90s, 30m, 24h, 7d).
    #[arg(long, value_name = "DURATION", default_value = "24h", value_parser = duration)]
    pub grace: Duration,
    /// How old a rotation may get before its old key is deactivated although in use
    /// (ROTATOR_GRACE_MAX).
    #[arg(long, value_name = "DURATION", default_value = "7d", value_parser = duration)]
    pub grace_max: Duration,
    /// How late IAM may report a key's use (ROTATOR_USAGE_LAG; 0s allowed).
    #[arg(long, value_name = "DURATION", default_value = "4h", value_parser = duration)]
    pub usage_lag: Duration,
    #[command(flatten)]
    pub member: MemberRoleArgs,
}

/// The function's duration syntax: a whole number with a unit.
fn duration(text: &str) -> Result<Duration, String> {
    parse_duration(text)
}

/// Runs the command; returns whether something needs attention (an old key still in use, or
/// a secret the sweep could not handle).
pub async fn run(ports: &Ports, args: &SweepArgs) -> Result<bool> {
    if args.grace_max < args.grace {
        bail!(
            "--grace-max ({}) is shorter than --grace ({}): the hard limit must be at least the grace",
            format_duration(args.grace_max),
            format_duration(args.grace)
        );
    }
    if args.grace.is_zero() {
        bail!("--grace must be at least 1s");
    }
    let settings = Settings {
        grace: args.grace,
        grace_max: args.grace_max,
        usage_lag: args.usage_lag,
        secret_prefix: args.fleet.prefix.clone(),
        member_role: args.member.role(),
        // The terminal is the report: the CLI sends no alert and no email.
        old_key_policy: config::OldKeyPolicy::Grace,
        ..Settings::default()
    };
    let mode = if args.dry_run {
        Mode::DryRun
    } else {
        Mode::Retire
    };
    let spinner = Spinner::new("sweeping the managed secrets");
    let summary = Sweeper::new(ports.clone(), settings).run(mode).await?;
    spinner.finish();
    let attention = summary.old_keys_in_use > 0 || summary.sweep_errors > 0;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        print_human(&summary, args.dry_run);
    }
    Ok(attention)
}

fn print_human(summary: &SweepSummary, dry_run: bool) {
    if summary.secrets.is_empty() {
        println!(
            "{} managed secrets under {}: no old key to retire or to report",
            summary.managed_secrets, summary.prefix
        );
        return;
    }
    let mut rows = table(&["SECRET", "USER", "OLD KEY", "ACTION", "LAST USED", "DETAIL"]);
    for secret in &summary.secrets {
        let last_used = secret.last_used.as_ref().map_or("-".to_owned(), |used| {
            let place: Vec<&str> = [used.service.as_deref(), used.region.as_deref()]
                .into_iter()
                .flatten()
                .collect();
            format!("{} {}", used.at, place.join(" "))
        });
        rows.add_row(vec![
            secret.secret.clone(),
            secret.user.clone().unwrap_or_else(|| "-".to_owned()),
            secret
                .previous_key
                .clone()
                .unwrap_or_else(|| "-".to_owned()),
            action(secret.action, dry_run).to_owned(),
            last_used,
            secret.detail.clone(),
        ]);
    }
    print_table(&rows);
    let retired = if dry_run {
        "would deactivate"
    } else {
        "deactivated"
    };
    println!(
        "\n{} managed secrets: {retired} {}, {} old keys still in use, {} errors{}",
        summary.managed_secrets,
        summary.old_keys_retired,
        summary.old_keys_in_use,
        summary.sweep_errors,
        if dry_run {
            " (dry run: nothing changed)"
        } else {
            ""
        }
    );
}

fn action(action: Action, dry_run: bool) -> &'static str {
    match (action, dry_run) {
        (Action::Deactivated, false) => "deactivated",
        (Action::Deactivated, true) => "would deactivate",
        (Action::DeactivatedPastMax, false) => "deactivated past max",
        (Action::DeactivatedPastMax, true) => "would deactivate past max",
        (Action::InUse, _) => "in use",
        (Action::WithinGrace, _) => "within grace",
        (Action::Skipped, _) => "skipped",
        (Action::Error, _) => "error",
    }
}
