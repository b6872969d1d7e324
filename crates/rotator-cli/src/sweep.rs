//! `rotator sweep [--dry-run]`: the function's scheduled sweep, run from a terminal: under the
//! `grace` policy's rule it deactivates the old keys that nothing uses any more, and prints
//! what it did (or, with `--dry-run`, what it would do) with each old key. The settings not
//! given as flags are the deployed function's, read from its configuration.

use std::collections::BTreeMap;

use anyhow::{Result, anyhow, bail};
use rotator_core::Ports;
use rotator_core::accounts::{MEMBER_EXTERNAL_ID, MEMBER_ROLE_NAME};
use rotator_core::config::{self, DEFAULT_SECRET_PREFIX, OldKeyPolicy, Settings, format_duration};
use rotator_core::doctor::deployment_function;
use rotator_core::fleet::managed_secrets;
use rotator_core::ports::DeploymentReader;
use rotator_core::sweep::{Action, Mode, SweepSummary, Sweeper};

use crate::cli::SweepArgs;
use crate::render::{Spinner, print_table, table};

/// Each flag that stands for one of the function's variables, longest variable name first (so
/// that `ROTATOR_GRACE` is not found inside `ROTATOR_GRACE_MAX`).
const FLAGS: [(&str, &str); 7] = [
    (MEMBER_EXTERNAL_ID, "--external-id"),
    (MEMBER_ROLE_NAME, "--role"),
    (config::SECRET_PREFIX, "--prefix"),
    (config::GRACE_MAX, "--grace-max"),
    (config::USAGE_LAG, "--usage-lag"),
    (config::OLD_KEY, "--old-key-policy"),
    (config::GRACE, "--grace"),
];

/// The flags that decide which keys the sweep deactivates, and when: without them and without
/// the function's configuration, only a dry run may go on.
const DECIDING: [&str; 4] = ["--old-key-policy", "--grace", "--grace-max", "--usage-lag"];

/// The deployed function whose configuration gave the settings not given as flags.
struct FunctionRead {
    name: String,
    variables: BTreeMap<String, String>,
}

impl SweepArgs {
    /// Each of the function's variables with the flag's value, when the flag was given.
    fn flag_values(&self) -> [(&'static str, Option<String>); 7] {
        [
            (config::SECRET_PREFIX, self.prefix.clone()),
            (
                config::OLD_KEY,
                self.old_key_policy.map(|policy| policy.as_str().to_owned()),
            ),
            (config::GRACE, self.grace.map(format_duration)),
            (config::GRACE_MAX, self.grace_max.map(format_duration)),
            (config::USAGE_LAG, self.usage_lag.map(format_duration)),
            (MEMBER_ROLE_NAME, self.member_role.clone()),
            (MEMBER_EXTERNAL_ID, self.external_id.clone()),
        ]
    }

    /// The deciding flags that were not given.
    fn missing(&self) -> Vec<&'static str> {
        let given = [
            self.old_key_policy.is_some(),
            self.grace.is_some(),
            self.grace_max.is_some(),
            self.usage_lag.is_some(),
        ];
        DECIDING
            .into_iter()
            .zip(given)
            .filter(|(_, given)| !given)
            .map(|(flag, _)| flag)
            .collect()
    }

    /// The function's settings for these flags and, for each flag not given, the deployed
    /// function's variable (or its default), read by the function's own code
    /// ([`Settings::from_lookup`]): every rule it applies to its variables (a grace of at least
    /// 1s, a hard limit at least the grace, the prefix's `/`, an IAM role name) applies to the
    /// flags, and an error names the flag, or the function's variable. No alert topic and no
    /// sender: the terminal is the report, the CLI sends no alert and no email.
    fn settings(&self, function: Option<&FunctionRead>) -> Result<Settings> {
        let flags = self.flag_values();
        let value = |name: &str| -> Option<String> {
            let (_, flag) = flags.iter().find(|(variable, _)| *variable == name)?;
            flag.clone()
                .or_else(|| function.and_then(|function| function.variables.get(name).cloned()))
        };
        Settings::from_lookup(value).map_err(|error| {
            let from_flag = flags
                .iter()
                .any(|(variable, flag)| *variable == error.variable && flag.is_some());
            match function {
                Some(function) if !from_flag => anyhow!(
                    "the configuration of the function {} is invalid: {error} (fix it, or give \
                     the setting as a flag)",
                    function.name
                ),
                _ => {
                    let mut problem = error.problem;
                    for (variable, flag) in FLAGS {
                        problem = problem.replace(variable, flag);
                    }
                    let flag = FLAGS
                        .iter()
                        .find(|(variable, _)| *variable == error.variable)
                        .map_or(error.variable, |(_, flag)| flag);
                    anyhow!("invalid {flag}: {problem}")
                }
            }
        })
    }
}

/// Reads the deployed function's configuration when a deciding flag or the role is not given:
/// `--function`, else the function that most secrets under the prefix name. `Ok(None)` when
/// every setting is given, or when there is none to read and a dry run may go on with the
/// defaults; an error when a flag is missing that only the function could give.
async fn read_function(
    ports: &Ports,
    deployment: &dyn DeploymentReader,
    args: &SweepArgs,
) -> Result<Option<FunctionRead>> {
    let missing = args.missing();
    if missing.is_empty() && args.member_role.is_some() {
        return Ok(None);
    }
    let prefix = args.prefix.as_deref().unwrap_or(DEFAULT_SECRET_PREFIX);
    let function = match &args.function {
        Some(function) => Ok(function.clone()),
        None => {
            let secrets = managed_secrets(ports, prefix).await?;
            deployment_function(&secrets)
                .ok_or_else(|| format!("no secret named {prefix}* names a rotation function"))
        }
    };
    let read = match function {
        Ok(function) => deployment
            .function(&function)
            .await
            .map(|config| FunctionRead {
                name: config.name,
                variables: config.variables,
            })
            .map_err(|error| format!("GetFunctionConfiguration of {function} failed: {error}")),
        Err(problem) => Err(problem),
    };
    match read {
        Ok(read) => Ok(Some(read)),
        Err(problem) if args.dry_run => {
            eprintln!(
                "rotator: the function's settings could not be read ({problem}): the dry run \
                 takes the defaults of {}",
                missing.join(", ")
            );
            Ok(None)
        }
        Err(problem) if missing.is_empty() => {
            eprintln!(
                "rotator: the function's settings could not be read ({problem}): --role takes \
                 its default"
            );
            Ok(None)
        }
        Err(problem) => bail!(
            "{} not given, and the deployed function's configuration could not be read to take \
             them from: {problem}; pass --function NAME (the deployment's rotation function), \
             or {} as the function has them (its ROTATOR_OLD_KEY, ROTATOR_GRACE, \
             ROTATOR_GRACE_MAX, ROTATOR_USAGE_LAG)",
            missing.join(", "),
            missing.join(", ")
        ),
    }
}

/// Which flags took the function's values, for the line that says so.
fn taken_from_function(args: &SweepArgs, settings: &Settings) -> Vec<String> {
    let mut taken = Vec::new();
    if args.prefix.is_none() {
        taken.push(format!("--prefix {}", settings.secret_prefix));
    }
    if args.old_key_policy.is_none() {
        taken.push(format!(
            "--old-key-policy {}",
            settings.old_key_policy.as_str()
        ));
    }
    for (given, flag, value) in [
        (args.grace.is_some(), "--grace", settings.grace),
        (args.grace_max.is_some(), "--grace-max", settings.grace_max),
        (args.usage_lag.is_some(), "--usage-lag", settings.usage_lag),
    ] {
        if !given {
            taken.push(format!("{flag} {}", format_duration(value)));
        }
    }
    if args.member_role.is_none() {
        taken.push(format!("--role {}", settings.member_role.name));
    }
    taken
}

/// What the function's sweep would do under the deployment's policy: under another policy than
/// `grace` it only counts (a dry run then has nothing else to show).
fn mode(policy: Option<OldKeyPolicy>, dry_run: bool) -> Mode {
    match (policy, dry_run) {
        (Some(policy), _) if policy != OldKeyPolicy::Grace => Mode::for_policy(policy),
        (Some(policy), false) => Mode::for_policy(policy),
        // Without a policy (a dry run that could not read the function), nothing may change.
        (_, true) | (None, false) => Mode::DryRun,
    }
}

/// Runs the command; returns whether something needs attention (an old key still in use, or
/// a secret the sweep could not handle).
pub async fn run(
    ports: &Ports,
    deployment: &dyn DeploymentReader,
    args: &SweepArgs,
) -> Result<bool> {
    let function = read_function(ports, deployment, args).await?;
    let settings = args.settings(function.as_ref())?;
    let policy = match &function {
        Some(_) => Some(settings.old_key_policy),
        None => args.old_key_policy,
    };
    if let Some(function) = &function {
        eprintln!(
            "rotator: from the configuration of the function {}: {}",
            function.name,
            taken_from_function(args, &settings).join(", ")
        );
    }
    let mode = mode(policy, args.dry_run);
    let spinner = Spinner::new("sweeping the managed secrets");
    let summary = Sweeper::new(ports.clone(), settings).run(mode).await?;
    spinner.finish();
    let attention = summary.old_keys_in_use > 0 || summary.sweep_errors > 0;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else if mode == Mode::CountOnly {
        print_count_only(&summary, policy.unwrap_or(OldKeyPolicy::Grace));
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
