//! The command line: every command, option and default of `rotator`, declared with clap.
//!
//! Every command shares the global AWS flags ([`AwsArgs`]), one prefix flag ([`Fleet`], checked
//! by the function's own rule and read from `ROTATOR_PREFIX`), one duration grammar
//! ([`duration`], the function's) and one role flag (`--role`).

use std::time::Duration;

use clap::builder::TypedValueParser;
use clap::{Args, Parser, Subcommand};
use rotator_core::AccountId;
use rotator_core::accounts::{DEFAULT_MEMBER_ROLE_NAME, MemberRole};
use rotator_core::config::{
    DEFAULT_SECRET_PREFIX, OldKeyPolicy, parse_duration, parse_old_key_policy, parse_secret_prefix,
};
use rotator_core::fleet::audit::DEFAULT_MAX_AGE_DAYS;

/// The environment variable that gives `--prefix` when the flag is not given.
pub const PREFIX_VARIABLE: &str = "ROTATOR_PREFIX";

/// The state of the IAM access keys that the rotator manages, an audit of the account's keys,
/// rotations on demand, the sweep, and a check of a deployment before its first rotation.
///
/// AWS credentials, region and endpoint come from --profile, --region and --endpoint-url, else
/// from the standard SDK configuration (AWS_PROFILE, AWS_ACCESS_KEY_ID and
/// AWS_SECRET_ACCESS_KEY, AWS_REGION, AWS_ENDPOINT_URL, ~/.aws/config), as for the AWS CLI.
/// ROTATOR_PREFIX gives every command's --prefix (the deployment's stack name and a slash, such
/// as IamKeyRotator/).
///
/// Exit codes: 0 when everything is fine (`status`: every secret ok or in progress; `audit`:
/// no finding; `rotate`: started, or completed with --wait; `sweep`: no old key still in use
/// and no error; `doctor`: no finding), 1 when something needs
/// attention, 2 on an error (a bad argument, no credentials, AWS unreachable or refusing).
#[derive(Debug, Parser)]
#[command(name = "rotator", version, arg_required_else_help = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// Report on stderr how many AWS requests the command sent, and how long it took.
    #[arg(long, short, global = true, display_order = 100)]
    pub verbose: bool,
    #[command(flatten)]
    pub aws: AwsArgs,
}

/// Where the AWS requests go and whose credentials sign them, as the AWS CLI's global flags.
#[derive(Debug, Clone, Default, Args)]
pub struct AwsArgs {
    /// The profile of ~/.aws/config (and ~/.aws/credentials) whose credentials and region to
    /// use [default: AWS_PROFILE, else the default profile].
    #[arg(long, global = true, value_name = "NAME", value_parser = non_empty, display_order = 101)]
    pub profile: Option<String>,
    /// The AWS region [default: AWS_REGION, else the profile's region].
    #[arg(long, global = true, value_name = "REGION", value_parser = non_empty, display_order = 102)]
    pub region: Option<String>,
    /// Send every request to this URL instead of AWS's endpoints, such as an emulator's
    /// [default: AWS_ENDPOINT_URL].
    #[arg(long, global = true, value_name = "URL", value_parser = endpoint_url, display_order = 103)]
    pub endpoint_url: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// One row per managed secret: its user, AWSCURRENT key, rotations and state.
    ///
    /// Permissions: secretsmanager:ListSecrets, GetSecretValue and ListSecretVersionIds on the
    /// secrets; iam:ListAccessKeys, ListUserTags and GetAccessKeyLastUsed on their users; for a
    /// secret of a member account, sts:AssumeRole on the reader role there (--role).
    Status(StatusArgs),
    /// Every IAM user with access keys (from the credential report), against the managed
    /// secrets: old keys no secret holds, managed keys older than the policy, unused keys,
    /// users with two active keys.
    ///
    /// Permissions: iam:GenerateCredentialReport and GetCredentialReport; status's reads of the
    /// managed secrets (secretsmanager:ListSecrets, GetSecretValue, ListSecretVersionIds;
    /// iam:ListAccessKeys, ListUserTags, GetAccessKeyLastUsed); for a member account,
    /// sts:AssumeRole on the reader role there (--role), which grants the same.
    Audit(AuditArgs),
    /// Starts a rotation of one secret now (RotateSecret); with --wait, follows its version
    /// stages until AWSCURRENT moves or the rotation fails. With --all --wait, rotates every
    /// managed secret, at most --max-in-flight at a time.
    ///
    /// Permissions: secretsmanager:DescribeSecret and RotateSecret on the secret (AWS's
    /// documentation of RotateSecret also asks for lambda:InvokeFunction on the function),
    /// ListSecretVersionIds with --wait, ListSecrets with --all. --retire-previous also needs
    /// secretsmanager:GetSecretValue and iam:ListAccessKeys, ListUserTags, GetAccessKeyLastUsed
    /// and UpdateAccessKey on the user; in a member account through the member role (--role),
    /// which trusts an operator only when the infra's sweepPrincipalArns names it.
    Rotate(RotateArgs),
    /// The grace policy's sweep, as the function's schedule runs it: deactivates the old
    /// (AWSPREVIOUS) keys that nothing has used since the grace, and names those still in use;
    /// with --dry-run, only prints what it would do.
    ///
    /// Its settings (--old-key-policy, --grace, --grace-max, --usage-lag, --role,
    /// --external-id, and --prefix with --function) are the deployed function's, read from its
    /// configuration (GetFunctionConfiguration) when not given: the function that the secrets
    /// under --prefix name, or --function. Under another policy than grace it only counts, as
    /// the function's sweep does.
    ///
    /// Permissions: secretsmanager:ListSecrets, GetSecretValue, ListSecretVersionIds and
    /// DescribeSecret; iam:ListAccessKeys, ListUserTags, GetAccessKeyLastUsed and
    /// UpdateAccessKey on the users; lambda:GetFunctionConfiguration on the function (unless
    /// every setting is given); in a member account, sts:AssumeRole on the member role (--role),
    /// which trusts an operator only when the infra's sweepPrincipalArns names it.
    Sweep(SweepArgs),
    /// Takes over a key that the secret's user already holds and programs use: the rotator
    /// then retires it as a previous key (unused for the grace, or at the hard limit). With
    /// --with-secret, the key's secret (from standard input) makes it the secret's value.
    ///
    /// Permissions: secretsmanager:DescribeSecret, GetSecretValue and PutSecretValue on the
    /// secret, whose resource policy lets only the infra's secretWriterArns write it: the
    /// operator must be named there; ListSecrets with --all; iam:ListAccessKeys and ListUserTags
    /// on the user (in a member account through the reader role, --role); --with-secret signs
    /// sts:GetCallerIdentity with the adopted pair.
    Adopt(AdoptArgs),
    /// Checks a live deployment before its first rotation, changing nothing: its secrets, their
    /// users (path, keys, tags), the function's configuration and timeout, the alert topic's
    /// subscriptions, the SES sender (and recipients in the sandbox), the sweep's schedule and the
    /// member roles. One line per finding, with the command or step that fixes it.
    ///
    /// Permissions: secretsmanager:ListSecrets, GetSecretValue and ListSecretVersionIds;
    /// iam:ListAccessKeys, ListUserTags, GetUser and GetAccessKeyLastUsed on the users;
    /// lambda:GetFunctionConfiguration on the function; sns:ListSubscriptionsByTopic on the
    /// topic; ses:GetEmailIdentity and ses:GetAccount; scheduler:ListSchedules and GetSchedule;
    /// sts:AssumeRole on the reader role of each member account (--role).
    Doctor(DoctorArgs),
    /// Ends a stuck rotation (AWSPENDING left on a version that is not AWSCURRENT's, so that
    /// Secrets Manager starts no new one) by invoking the function's recover action: it
    /// completes a finish that moved AWSCURRENT, or abandons the rotation, deleting its pending
    /// key only if nothing ever used it. With --dry-run, says what it would do.
    ///
    /// Permissions: lambda:InvokeFunction on the function (the infra's recoverPrincipalArns);
    /// secretsmanager:DescribeSecret on the secret without --function.
    Recover(RecoverArgs),
}

/// The managed secrets: every secret whose name starts with the prefix.
#[derive(Debug, Args)]
pub struct Fleet {
    /// The name prefix of the deployment's secrets: its stack name and a slash (the function's
    /// ROTATOR_SECRET_PREFIX, checked by the same rule: without the slash, IamKeyRotator would
    /// also match another deployment's IamKeyRotatorTest/...).
    #[arg(long, value_name = "PREFIX", env = PREFIX_VARIABLE, default_value = DEFAULT_SECRET_PREFIX, value_parser = secret_prefix)]
    pub prefix: String,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub fleet: Fleet,
    /// Print JSON (documented in docs/operating.md) instead of a table.
    #[arg(long)]
    pub json: bool,
    /// How old a rotation in progress may get before it counts as stuck.
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

/// How the commands that change no key (status, audit, doctor, adopt) reach another account's
/// IAM: through the operators' reader role, which reads keys, their last use, tags and the
/// credential report, and changes nothing.
#[derive(Debug, Args)]
pub struct ReaderRoleArgs {
    /// The role assumed in a member account, for a secret named `<prefix><12-digit
    /// account>/<user>`: here the operators' read-only reader role (the infra's readerRoleName,
    /// trusted by its operatorPrincipalArns). `sweep` and `rotate`, which change keys, assume
    /// the member role instead.
    #[arg(long = "role", alias = "reader-role", value_name = "NAME", default_value = DEFAULT_READER_ROLE_NAME, value_parser = non_empty)]
    pub reader_role: String,
    /// The external id passed when assuming the role (the infra's memberExternalId).
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

/// How `rotate --retire-previous`, which deactivates a key, reaches another account's IAM:
/// through the member role.
#[derive(Debug, Args)]
pub struct MemberRoleArgs {
    /// The role assumed in a member account, for a secret named `<prefix><12-digit
    /// account>/<user>`: here the member role, which may change keys (the function's
    /// ROTATOR_MEMBER_ROLE_NAME; it trusts an operator only when the infra's
    /// sweepPrincipalArns names it). The read-only commands assume the reader role instead.
    #[arg(long = "role", alias = "member-role", value_name = "NAME", default_value = DEFAULT_MEMBER_ROLE_NAME, value_parser = non_empty)]
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

/// The largest `--max-age-days`: a hundred years.
pub const MAX_AGE_DAYS_LIMIT: i64 = 36_500;

#[derive(Debug, Args)]
pub struct AuditArgs {
    #[command(flatten)]
    pub fleet: Fleet,
    /// Keys at least this many days old, or unused for this many days, are findings (0 to
    /// 36500).
    #[arg(
        long,
        value_name = "N",
        default_value_t = DEFAULT_MAX_AGE_DAYS,
        allow_negative_numbers = true,
        value_parser = clap::value_parser!(i64).range(0..=MAX_AGE_DAYS_LIMIT).map(|days| days.unsigned_abs())
    )]
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
    // With --all or --retire-previous: the managed secrets are those whose names start with the
    // prefix (a secret whose name is not `<P><user>` or `<P><12-digit account>/<user>` has no
    // previous key retired).
    #[command(flatten)]
    pub fleet: Fleet,
    /// With --all: the most rotations in progress at once, 1 to 100.
    #[arg(long, value_name = "N", default_value_t = 5, allow_negative_numbers = true, value_parser = clap::value_parser!(u16).range(1..=100), requires = "all")]
    pub max_in_flight: u16,
    /// Follow the rotation until AWSCURRENT moves or the rotation fails, printing each change.
    #[arg(long)]
    pub wait: bool,
    /// With --wait: how long to follow the rotation before giving up.
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

#[derive(Debug, Args)]
pub struct SweepArgs {
    /// The deployment's rotation function (name or ARN) whose configuration gives every
    /// setting below that is not given [default: the function that the secrets under --prefix
    /// name].
    #[arg(long, value_name = "NAME", value_parser = non_empty)]
    pub function: Option<String>,
    /// The name prefix of the deployment's secrets, ending with `/` (the function's
    /// ROTATOR_SECRET_PREFIX, checked the same way) [default: ROTATOR_PREFIX, else with
    /// --function the function's, else IamKeyRotator/].
    #[arg(long, value_name = "PREFIX", env = PREFIX_VARIABLE, value_parser = secret_prefix)]
    pub prefix: Option<String>,
    /// The deployment's old-key policy: delete, deactivate, keep or grace (the function's
    /// ROTATOR_OLD_KEY) [default: the function's]. Only under grace does the sweep deactivate
    /// keys; under another policy it only counts, as the function's sweep does.
    #[arg(long, value_name = "POLICY", value_parser = old_key_policy)]
    pub old_key_policy: Option<OldKeyPolicy>,
    /// Change nothing: print what the sweep would do.
    #[arg(long)]
    pub dry_run: bool,
    /// Print the sweep's JSON summary (the function's answer) instead of a table.
    #[arg(long)]
    pub json: bool,
    /// How long an old key must go unused, and stay active at least (ROTATOR_GRACE)
    /// [default: the function's, else 24h].
    #[arg(long, value_name = "DURATION", value_parser = duration)]
    pub grace: Option<Duration>,
    /// How old a rotation may get before its old key is deactivated although in use
    /// (ROTATOR_GRACE_MAX) [default: the function's, else 7d].
    #[arg(long, value_name = "DURATION", value_parser = duration)]
    pub grace_max: Option<Duration>,
    /// How late IAM may report a key's use (ROTATOR_USAGE_LAG; 0s allowed) [default: the
    /// function's, else 4h].
    #[arg(long, value_name = "DURATION", value_parser = duration)]
    pub usage_lag: Option<Duration>,
    /// The member role assumed in a member account, for a secret named `<prefix><12-digit
    /// account>/<user>` (ROTATOR_MEMBER_ROLE_NAME; it trusts an operator only when the infra's
    /// sweepPrincipalArns names it) [default: the function's, else IamKeyRotatorMember].
    #[arg(long = "role", alias = "member-role", value_name = "NAME", value_parser = non_empty)]
    pub member_role: Option<String>,
    /// The external id passed when assuming the member role (ROTATOR_MEMBER_EXTERNAL_ID)
    /// [default: the function's].
    #[arg(long, value_name = "ID", value_parser = non_empty)]
    pub external_id: Option<String>,
}

/// Every duration flag: the function's grammar, a whole number and one unit (`90s`, `30m`,
/// `24h`, `7d`), and its one message for anything else (`7days`, `1.5h`, `24`).
pub fn duration(text: &str) -> Result<Duration, String> {
    parse_duration(text)
}

/// Every `--prefix`: the function's rule for ROTATOR_SECRET_PREFIX (it ends with `/`).
pub fn secret_prefix(text: &str) -> Result<String, String> {
    parse_secret_prefix(text)
}

/// The function's policy names (`ROTATOR_OLD_KEY`'s parser).
fn old_key_policy(text: &str) -> Result<OldKeyPolicy, String> {
    parse_old_key_policy(text)
}

/// An endpoint URL: `http://` or `https://` and a host.
fn endpoint_url(text: &str) -> Result<String, String> {
    let text = text.trim();
    let host = text
        .strip_prefix("https://")
        .or_else(|| text.strip_prefix("http://"));
    match host {
        Some(host) if !host.is_empty() && !host.contains(char::is_whitespace) => {
            Ok(text.to_owned())
        }
        _ => Err(format!(
            "{text:?} is not an endpoint URL (such as http://127.0.0.1:5000 or https://secretsmanager.eu-west-1.amazonaws.com)"
        )),
    }
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

#[derive(Debug, Args)]
pub struct RecoverArgs {
    /// The secret's name or ARN.
    #[arg(value_name = "SECRET", value_parser = non_empty)]
    pub secret: String,
    /// Change nothing: the function reads the secret, its user's keys and their last use, and
    /// says what it would do and why.
    #[arg(long)]
    pub dry_run: bool,
    /// Print the function's JSON summary instead of text.
    #[arg(long)]
    pub json: bool,
    /// The rotator function (name or ARN) to invoke [default: the secret's rotation function,
    /// read with secretsmanager:DescribeSecret].
    #[arg(long, value_name = "FUNCTION", value_parser = non_empty)]
    pub function: Option<String>,
}

fn non_empty(text: &str) -> Result<String, String> {
    if text.trim().is_empty() {
        return Err("must not be empty".to_owned());
    }
    Ok(text.to_owned())
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }
}
