//! The command line: every command, option and default of `rotator`, declared with clap.

use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use rotator_core::AccountId;
use rotator_core::accounts::{DEFAULT_MEMBER_ROLE_NAME, MemberRole};
use rotator_core::fleet::DEFAULT_PREFIX;
use rotator_core::fleet::audit::DEFAULT_MAX_AGE_DAYS;

/// The state of the IAM access keys that the rotator manages, an audit of the account's keys,
/// and rotations on demand. AWS credentials, region and endpoint come from the standard SDK
/// configuration (AWS_PROFILE, AWS_REGION, AWS_ENDPOINT_URL, ...).
///
/// Exit codes: 0 when everything is fine (`status`: every secret ok or in progress; `audit`:
/// no finding; `rotate`: started, or completed with --wait; `sweep`: no old key still in use
/// and no error), 1 when something needs
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
    /// stages until AWSCURRENT moves or the rotation fails.
    Rotate(RotateArgs),
    /// The grace policy's sweep, as the function's schedule runs it: deactivates the old
    /// (AWSPREVIOUS) keys that nothing has used since the grace, and names those still in use;
    /// with --dry-run, only prints what it would do.
    Sweep(crate::sweep::SweepArgs),
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
    /// Print JSON (documented in the README) instead of a table.
    #[arg(long)]
    pub json: bool,
    /// How old a rotation in progress may get before it counts as stuck (90s, 30m, 1h, 2d).
    #[arg(long, value_name = "DURATION", default_value = "1h", value_parser = duration)]
    pub stuck_after: Duration,
    #[command(flatten)]
    pub member: ReaderRoleArgs,
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
    /// Print JSON (documented in the README) instead of a table.
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
pub struct RotateArgs {
    /// The secret's name or ARN.
    #[arg(value_name = "SECRET", value_parser = non_empty)]
    pub secret: String,
    /// Follow the rotation until AWSCURRENT moves or the rotation fails, printing each change.
    #[arg(long)]
    pub wait: bool,
    /// With --wait: how long to follow the rotation before giving up (90s, 10m, 1h).
    #[arg(long, value_name = "DURATION", default_value = "10m", value_parser = duration, requires = "wait")]
    pub timeout: Duration,
    /// With --wait: how often to look at the secret's stages.
    #[arg(long, value_name = "DURATION", default_value = "1s", value_parser = duration, requires = "wait")]
    pub interval: Duration,
}

/// A duration such as `90s`, `30m`, `1h` or `2d`.
fn duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text)
        .map_err(|problem| format!("{problem} (write a duration such as 90s, 30m, 1h or 2d)"))
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
