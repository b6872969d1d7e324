//! The command line: every command, option and default of `rotator`, declared with clap.

use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use rotator_core::AccountId;
use rotator_core::accounts::{DEFAULT_MEMBER_ROLE_NAME, MemberRole};
use rotator_core::config::{
    DEFAULT_SECRET_PREFIX, OldKeyPolicy, parse_duration, parse_old_key_policy, parse_secret_prefix,
};
use rotator_core::fleet::DEFAULT_PREFIX;
use rotator_core::fleet::audit::DEFAULT_MAX_AGE_DAYS;

/// The state of the IAM access keys that the rotator manages, an audit of the account's keys,
/// rotations on demand, the sweep, and a check of a deployment before its first rotation. AWS credentials, region and endpoint come from the standard SDK
/// configuration (AWS_PROFILE, AWS_REGION, AWS_ENDPOINT_URL, ...).
///
/// Exit codes: 0 when everything is fine (`status`: every secret ok or in progress; `audit`:
/// no finding; `rotate`: started, or completed with --wait; `sweep`: no old key still in use
/// and no error; `doctor`: no finding), 1 when something needs
/// attention, 2 on an error (a bad argument, AWS unreachable or refusing).
#[derive(Debug, Parser)]
#[command(name = "rotator", version)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// Report on stderr how many AWS requests the command sent, and how long it took.
    #[arg(long, short, global = true)]
    pub verbose: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// One row per managed secret: its user, AWSCURRENT key, rotations and state.
    Status(StatusArgs),
    /// Every IAM user with access keys (from the credential report), against the managed
    /// secrets: old keys no secret holds, managed keys older than the policy, unused keys,
    /// users with two active keys.
    Audit(AuditArgs),
    /// Starts a rotation of one secret now (RotateSecret); with --wait, follows its version
    /// stages until AWSCURRENT moves or the rotation fails. With --all --wait, rotates every
    /// managed secret, at most --max-in-flight at a time.
    Rotate(RotateArgs),
    /// The grace policy's sweep, as the function's schedule runs it: deactivates the old
    /// (AWSPREVIOUS) keys that nothing has used since the grace, and names those still in use;
    /// with --dry-run, only prints what it would do. It needs the deployment's
    /// --old-key-policy (unless --dry-run), and under another policy than grace only counts.
    Sweep(SweepArgs),
    /// Takes over a key that the secret's user already holds and programs use: the rotator
    /// then retires it as a previous key (unused for the grace, or at the hard limit). With
    /// --with-secret, the key's secret (from standard input) makes it the secret's value.
    Adopt(AdoptArgs),
    /// Checks a live deployment before its first rotation, changing nothing: its secrets, their
    /// users (path, keys, tags), the function's configuration and timeout, the alert topic's
    /// subscriptions, the SES sender (and recipients in the sandbox), the sweep's schedule and the
    /// member roles. One line per finding, with the command or step that fixes it.
    Doctor(DoctorArgs),
    /// Ends a stuck rotation (AWSPENDING left on a version that is not AWSCURRENT's, so that
    /// Secrets Manager starts no new one) by invoking the function's recover action: it
    /// completes a finish that moved AWSCURRENT, or abandons the rotation, deleting its pending
    /// key only if nothing ever used it. Needs only lambda:InvokeFunction (and
    /// secretsmanager:DescribeSecret without --function). With --dry-run, says what it would do.
    Recover(crate::recover::RecoverArgs),
}

#[derive(Debug, Args)]
pub struct Fleet {
    /// The name prefix of the managed secrets.
    #[arg(long, default_value = DEFAULT_PREFIX, value_parser = non_empty)]
    pub prefix: String,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub fleet: Fleet,
    /// Print JSON (documented in docs/operating.md) instead of a table.
    #[arg(long)]
    pub json: bool,
    /// How old a rotation in progress may get before it counts as stuck (90s, 30m, 1h, 2d).
    #[arg(long, value_name = "DURATION", default_value = "1h", value_parser = duration)]
    pub stuck_after: Duration,
    #[command(flatten)]
    pub member: ReaderRoleArgs,
    /// Print, as JSON, the Security Hub findings that the sweep would import now (in
    /// BatchImportFindings' request shape), without importing them.
    #[arg(long, conflicts_with = "json")]
    pub findings: bool,
}

/// The read-only role that the operators assume in a member account (the infra's `readerRoleName`).
pub const DEFAULT_READER_ROLE_NAME: &str = "IamKeyRotatorReader";

/// How the read-only commands reach another account's IAM: through the operators' reader role,
/// which reads keys, their last use, tags and the credential report, and changes nothing.
#[derive(Debug, Args)]
pub struct ReaderRoleArgs {
    /// The read-only role assumed in another account to read the keys of a secret named
    /// `<prefix><12-digit account>/<user>` and the account's credential report (the infra's
    /// readerRoleName, trusted by its operatorPrincipalArns).
    #[arg(long, value_name = "NAME", default_value = DEFAULT_READER_ROLE_NAME, value_parser = non_empty)]
    pub reader_role: String,
    /// The external id passed when assuming the reader role (the infra's memberExternalId).
    #[arg(long, value_name = "ID", value_parser = non_empty)]
    pub external_id: Option<String>,
}

impl ReaderRoleArgs {
    pub fn role(&self) -> MemberRole {
        MemberRole {
            name: self.reader_role.clone(),
            external_id: self.external_id.clone(),
        }
    }
}

/// How `sweep`, which deactivates keys, reaches another account's IAM: through the member role.
#[derive(Debug, Args)]
pub struct MemberRoleArgs {
    /// The role assumed in another account to read the keys of a secret named
    /// `<prefix><12-digit account>/<user>` (the function's ROTATOR_MEMBER_ROLE_NAME).
    #[arg(long, value_name = "NAME", default_value = DEFAULT_MEMBER_ROLE_NAME, value_parser = non_empty)]
    pub member_role: String,
    /// The external id passed when assuming the member role (ROTATOR_MEMBER_EXTERNAL_ID).
    #[arg(long, value_name = "ID", value_parser = non_empty)]
    pub external_id: Option<String>,
}

impl MemberRoleArgs {
    pub fn role(&self) -> MemberRole {
        MemberRole {
            name: self.member_role.clone(),
            external_id: self.external_id.clone(),
        }
    }
}

#[derive(Debug, Args)]
pub struct AuditArgs {
    #[command(flatten)]
    pub fleet: Fleet,
    /// Keys at least this many days old, or unused for this many days, are findings.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_MAX_AGE_DAYS)]
    pub max_age_days: u64,
    /// Print JSON (documented in docs/operating.md) instead of a table.
    #[arg(long, conflicts_with = "csv")]
    pub json: bool,
    /// Print the findings as CSV, one per line, with a header.
    #[arg(long)]
    pub csv: bool,
    /// Audit this member account (12 digits) instead, through the reader role.
    #[arg(long, value_name = "ID", value_parser = account_id, conflicts_with = "all_accounts")]
    pub account: Option<AccountId>,
    /// Audit the caller's account and every account that a managed secret's name names.
    #[arg(long)]
    pub all_accounts: bool,
    #[command(flatten)]
    pub member: ReaderRoleArgs,
}

#[derive(Debug, Args)]
pub struct DoctorArgs {
    #[command(flatten)]
    pub fleet: Fleet,
    /// The IAM path the deployment's users must live under [default: /rotated/<prefix without
    /// its slash>/, the CDK app's].
    #[arg(long, value_name = "PATH", value_parser = iam_path)]
    pub user_path: Option<String>,
    /// Print JSON (documented in docs/operating.md) instead of one line per finding.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub member: ReaderRoleArgs,
}

#[derive(Debug, Args)]
pub struct RotateArgs {
    /// The secret's name or ARN.
    #[arg(value_name = "SECRET", value_parser = non_empty, required_unless_present = "all", conflicts_with = "all")]
    pub secret: Option<String>,
    /// Rotate every managed secret (with --wait): at most --max-in-flight at a time, starting
    /// the next only when one has completed, failed or timed out (--timeout counts for each).
    #[arg(long, requires = "wait")]
    pub all: bool,
    /// With --all or --retire-previous: the name prefix of the managed secrets (a secret whose
    /// name is not `<P><user>` or `<P><12-digit account>/<user>` has no previous key retired).
    #[arg(long, value_name = "P", default_value = DEFAULT_PREFIX, value_parser = non_empty)]
    pub prefix: String,
    /// With --all: the most rotations in progress at once, 1 to 100.
    #[arg(long, value_name = "N", default_value_t = 5, value_parser = clap::value_parser!(u16).range(1..=100), requires = "all")]
    pub max_in_flight: u16,
    /// Follow the rotation until AWSCURRENT moves or the rotation fails, printing each change.
    #[arg(long)]
    pub wait: bool,
    /// With --wait: how long to follow the rotation before giving up (90s, 10m, 1h).
    #[arg(long, value_name = "DURATION", default_value = "10m", value_parser = duration, requires = "wait")]
    pub timeout: Duration,
    /// With --wait: how often to look at the secret's stages.
    #[arg(long, value_name = "DURATION", default_value = "1s", value_parser = duration, requires = "wait")]
    pub interval: Duration,
    /// First deactivate the secret's active AWSPREVIOUS key (saying when and where it was last
    /// used): under the grace policy a rotation refuses to delete a previous key still in its
    /// grace, and this is the way to rotate at once, after a leak.
    #[arg(long, conflicts_with = "all")]
    pub retire_previous: bool,
    #[command(flatten)]
    pub member: MemberRoleArgs,
}

#[derive(Debug, Args)]
pub struct AdoptArgs {
    /// The secret's name or ARN.
    #[arg(value_name = "SECRET", required_unless_present = "all", conflicts_with = "all", value_parser = non_empty)]
    pub secret: Option<String>,
    /// The access key id to adopt; by default the user's only active key that no secret knows
    /// (with several, the command refuses and lists them).
    #[arg(long, value_name = "ID", conflicts_with = "all")]
    pub key: Option<String>,
    /// Read the key's secret access key from standard input (never from an argument), check
    /// that the pair authenticates as the secret's user, and store it as AWSCURRENT.
    #[arg(long, conflicts_with = "all")]
    pub with_secret: bool,
    /// Every managed secret whose user holds exactly one active key that no secret knows.
    #[arg(long)]
    pub all: bool,
    /// Say what would be adopted; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Do not start the secret's rotation at once when the deployment's schedule would retire
    /// the adopted key past the 90-day key-age limit (its age counts from its IAM CreateDate).
    #[arg(long)]
    pub no_rotate: bool,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub fleet: Fleet,
    #[command(flatten)]
    pub member: ReaderRoleArgs,
}

/// A duration such as `90s`, `30m`, `1h` or `2d`.
fn duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text)
        .map_err(|problem| format!("{problem} (write a duration such as 90s, 30m, 1h or 2d)"))
}

/// An IAM path: `/`, or `/` and printable ASCII ending with `/`, at most 512 characters (IAM API
/// reference, `CreateUser`'s `Path`).
fn iam_path(text: &str) -> Result<String, String> {
    let valid = text.len() <= 512
        && text.starts_with('/')
        && text.ends_with('/')
        && text.chars().all(|c| ('!'..='~').contains(&c));
    if !valid {
        return Err(format!(
            "{text:?} is not an IAM path (it starts and ends with /, such as /rotated/IamKeyRotator/)"
        ));
    }
    Ok(text.to_owned())
}

fn account_id(text: &str) -> Result<AccountId, String> {
    AccountId::new(text.trim())
}

fn non_empty(text: &str) -> Result<String, String> {
    if text.trim().is_empty() {
        return Err("must not be empty".to_owned());
    }
    Ok(text.to_owned())
}

#[derive(Debug, Args)]
pub struct SweepArgs {
    /// The name prefix of the deployment's secrets, ending with `/` (the function's
    /// ROTATOR_SECRET_PREFIX, checked the same way).
    #[arg(long, value_name = "PREFIX", default_value = DEFAULT_SECRET_PREFIX, value_parser = secret_prefix)]
    pub prefix: String,
    /// The deployment's old-key policy (the function's ROTATOR_OLD_KEY: delete, deactivate,
    /// keep or grace). Required unless --dry-run: only under grace does the sweep deactivate
    /// keys; under another policy it only counts, as the function's sweep does.
    #[arg(long, value_name = "POLICY", value_parser = old_key_policy, required_unless_present = "dry_run")]
    pub old_key_policy: Option<OldKeyPolicy>,
    /// Change nothing: print what the sweep would do.
    #[arg(long)]
    pub dry_run: bool,
    /// Print the sweep's JSON summary (the function's answer) instead of a table.
    #[arg(long)]
    pub json: bool,
    /// How long an old key must go unused, and stay active at least (the function's
    /// ROTATOR_GRACE: 90s, 30m, 24h, 7d).
    #[arg(long, value_name = "DURATION", default_value = "24h", value_parser = function_duration)]
    pub grace: Duration,
    /// How old a rotation may get before its old key is deactivated although in use
    /// (ROTATOR_GRACE_MAX).
    #[arg(long, value_name = "DURATION", default_value = "7d", value_parser = function_duration)]
    pub grace_max: Duration,
    /// How late IAM may report a key's use (ROTATOR_USAGE_LAG; 0s allowed).
    #[arg(long, value_name = "DURATION", default_value = "4h", value_parser = function_duration)]
    pub usage_lag: Duration,
    #[command(flatten)]
    pub member: MemberRoleArgs,
}

/// The function's duration syntax (`ROTATOR_GRACE`'s parser).
fn function_duration(text: &str) -> Result<Duration, String> {
    parse_duration(text)
}

/// The function's prefix rule (`ROTATOR_SECRET_PREFIX`'s parser).
fn secret_prefix(text: &str) -> Result<String, String> {
    parse_secret_prefix(text)
}

/// The function's policy names (`ROTATOR_OLD_KEY`'s parser).
fn old_key_policy(text: &str) -> Result<OldKeyPolicy, String> {
    parse_old_key_policy(text)
}
