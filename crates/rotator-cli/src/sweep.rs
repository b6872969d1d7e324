//! `rotator sweep [--dry-run]`: the function's scheduled sweep, run from a terminal: under the
//! `grace` policy's rule it deactivates the old keys that nothing uses any more, and prints
//! what it did (or, with `--dry-run`, what it would do) with each old key.

use anyhow::{Result, anyhow};
use rotator_core::Ports;
use rotator_core::accounts::{MEMBER_EXTERNAL_ID, MEMBER_ROLE_NAME};
use rotator_core::config::{self, OldKeyPolicy, Settings, format_duration};
use rotator_core::sweep::{Action, Mode, SweepSummary, Sweeper};

use crate::cli::SweepArgs;
use crate::render::{Spinner, print_table, table};

/// Each flag that stands for one of the function's variables, longest variable name first (so
/// that `ROTATOR_GRACE` is not found inside `ROTATOR_GRACE_MAX`).
const FLAGS: [(&str, &str); 7] = [
    (MEMBER_EXTERNAL_ID, "--external-id"),
    (MEMBER_ROLE_NAME, "--member-role"),
    (config::SECRET_PREFIX, "--prefix"),
    (config::GRACE_MAX, "--grace-max"),
    (config::USAGE_LAG, "--usage-lag"),
    (config::OLD_KEY, "--old-key-policy"),
    (config::GRACE, "--grace"),
];

impl SweepArgs {
    /// The function's settings for these flags, read by the function's own code
    /// ([`Settings::from_lookup`]): every rule it applies to its variables (a grace of at least
    /// 1s, a hard limit at least the grace, the prefix's `/`, an IAM role name) applies to the
    /// flags, and an error names the flag. No alert topic and no sender: the terminal is the
    /// report, the CLI sends no alert and no email.
    fn settings(&self) -> Result<Settings> {
        let values = [
            (config::SECRET_PREFIX, Some(self.prefix.clone())),
            (
                config::OLD_KEY,
                Some(
                    self.old_key_policy
                        .unwrap_or(OldKeyPolicy::Grace)
                        .as_str()
                        .to_owned(),
                ),
            ),
            (config::GRACE, Some(format_duration(self.grace))),
            (config::GRACE_MAX, Some(format_duration(self.grace_max))),
            (config::USAGE_LAG, Some(format_duration(self.usage_lag))),
            (MEMBER_ROLE_NAME, Some(self.member.member_role.clone())),
            (MEMBER_EXTERNAL_ID, self.member.external_id.clone()),
        ];
        Settings::from_lookup(|name| {
            values
                .iter()
                .find(|(variable, _)| *variable == name)
                .and_then(|(_, value)| value.clone())
        })
        .map_err(|error| {
            let mut problem = error.problem;
            for (variable, flag) in FLAGS {
                problem = problem.replace(variable, flag);
            }
            let flag = FLAGS
                .iter()
                .find(|(variable, _)| *variable == error.variable)
                .map_or(error.variable, |(_, flag)| flag);
            anyhow!("invalid {flag}: {problem}")
        })
    }

    /// What the function's sweep would do under the deployment's policy: under another policy
    /// than `grace` it only counts (a dry run then has nothing else to show).
    fn mode(&self) -> Mode {
        match (self.old_key_policy, self.dry_run) {
            (Some(policy), _) if policy != OldKeyPolicy::Grace => Mode::for_policy(policy),
            (Some(policy), false) => Mode::for_policy(policy),
            // clap requires the policy unless --dry-run; without one, nothing may change.
            (_, true) | (None, false) => Mode::DryRun,
        }
    }
}

/// Runs the command; returns whether something needs attention (an old key still in use, or
/// a secret the sweep could not handle).
pub async fn run(ports: &Ports, args: &SweepArgs) -> Result<bool> {
    let settings = args.settings()?;
    let mode = args.mode();
    let spinner = Spinner::new("sweeping the managed secrets");
    let summary = Sweeper::new(ports.clone(), settings).run(mode).await?;
    spinner.finish();
    let attention = summary.old_keys_in_use > 0 || summary.sweep_errors > 0;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else if mode == Mode::CountOnly {
        print_count_only(&summary, args.old_key_policy.unwrap_or(OldKeyPolicy::Grace));
    } else {
        print_human(&summary, args.dry_run);
    }
    Ok(attention)
}

/// The report of a sweep under another policy than `grace`: it retired nothing.
fn print_count_only(summary: &SweepSummary, policy: OldKeyPolicy) {
    println!(
        "the old-key policy is {}, not grace: the sweep deactivates no key (count only, as the function's sweep)",
        policy.as_str()
    );
    println!(
        "{} managed secrets under {}: {} keys older than their interval, {} overdue, {} stuck, {} errors",
        summary.managed_secrets,
        summary.prefix,
        summary.keys_older_than_interval,
        summary.overdue_rotations,
        summary.stuck_rotations,
        summary.sweep_errors
    );
    for secret in summary.secrets.iter().filter(|s| s.action == Action::Error) {
        println!("{}: {}", secret.secret, secret.detail);
    }
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
