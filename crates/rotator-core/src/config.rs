//! The function's configuration, read once from `ROTATOR_*` environment variables.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::types::AccountId;

/// What finishSecret does with the key that was current before the rotation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OldKeyPolicy {
    /// Deactivate it, then delete it.
    Delete,
    /// Deactivate it now; delete it when the next rotation needs room.
    Deactivate,
    /// Leave it active until the next rotation needs room.
    Keep,
    /// Leave it active; the sweep deactivates it once it has gone unused since the rotation
    /// (`ROTATOR_GRACE`, `ROTATOR_USAGE_LAG`), or once the rotation is `ROTATOR_GRACE_MAX` old.
    Grace,
}

impl OldKeyPolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            OldKeyPolicy::Delete => "delete",
            OldKeyPolicy::Deactivate => "deactivate",
            OldKeyPolicy::Keep => "keep",
            OldKeyPolicy::Grace => "grace",
        }
    }
}

/// The validated configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub alert_topic_arn: Option<String>,
    pub sender_email: Option<String>,
    pub default_notify_email: Vec<String>,
    pub old_key_policy: OldKeyPolicy,
    pub test_timeout: Duration,
    /// The role assumed for users of other accounts.
    pub member_role: MemberRole,
    /// With `grace`: how long the previous key stays active at least, and how long it must go
    /// unused before the sweep retires it.
    pub grace: Duration,
    /// With `grace`: how old a rotation may get before its previous key is deactivated even
    /// though it is in use. At least `grace`.
    pub grace_max: Duration,
    /// How late IAM may report a key's last use.
    pub usage_lag: Duration,
    /// The name prefix of the secrets the sweep walks (the deployment's secrets).
    pub secret_prefix: String,
    /// `ROTATOR_FINDINGS=on`: the sweep imports Security Hub findings (contract §12).
    pub findings: bool,
    /// How long a rotation may stand unfinished before the sweep recovers it (contract §11);
    /// zero turns the sweep's recovery off.
    pub stuck_after: Duration,
}

/// `ROTATOR_GRACE`'s default: a day.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(24 * 3600);
/// `ROTATOR_GRACE_MAX`'s default: a week.
pub const DEFAULT_GRACE_MAX: Duration = Duration::from_secs(7 * 24 * 3600);
/// `ROTATOR_USAGE_LAG`'s default: IAM reports a key's last use up to about four hours late.
pub const DEFAULT_USAGE_LAG: Duration = Duration::from_secs(4 * 3600);
/// `ROTATOR_SECRET_PREFIX`'s default: the secrets of a deployment named `IamKeyRotator`.
pub const DEFAULT_SECRET_PREFIX: &str = "IamKeyRotator/";
/// `ROTATOR_STUCK_AFTER`'s default: a day, well past a rotation's few minutes and IAM's
/// four-hour lag in reporting a key's last use.
pub const DEFAULT_STUCK_AFTER: Duration = Duration::from_secs(24 * 3600);
/// The longest duration a setting takes: a year (a longer one is a typing error).
const MAX_DURATION_SECS: u64 = 366 * 24 * 3600;

impl Default for Settings {
    fn default() -> Self {
        Self {
            alert_topic_arn: None,
            sender_email: None,
            default_notify_email: Vec::new(),
            old_key_policy: OldKeyPolicy::Delete,
            test_timeout: Duration::from_secs(60),
            member_role: MemberRole::default(),
            grace: DEFAULT_GRACE,
            grace_max: DEFAULT_GRACE_MAX,
            usage_lag: DEFAULT_USAGE_LAG,
            secret_prefix: DEFAULT_SECRET_PREFIX.to_owned(),
            findings: false,
            stuck_after: DEFAULT_STUCK_AFTER,
        }
    }
}

/// A configuration variable whose value does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {variable}: {problem}")]
pub struct ConfigError {
    pub variable: &'static str,
    pub problem: String,
}

pub const ALERT_TOPIC_ARN: &str = "ROTATOR_ALERT_TOPIC_ARN";
pub const SENDER_EMAIL: &str = "ROTATOR_SENDER_EMAIL";
pub const DEFAULT_NOTIFY_EMAIL: &str = "ROTATOR_DEFAULT_NOTIFY_EMAIL";
pub const OLD_KEY: &str = "ROTATOR_OLD_KEY";
pub const TEST_TIMEOUT_SECS: &str = "ROTATOR_TEST_TIMEOUT_SECS";
pub const GRACE: &str = "ROTATOR_GRACE";
pub const GRACE_MAX: &str = "ROTATOR_GRACE_MAX";
pub const USAGE_LAG: &str = "ROTATOR_USAGE_LAG";
pub const SECRET_PREFIX: &str = "ROTATOR_SECRET_PREFIX";
pub const FINDINGS: &str = "ROTATOR_FINDINGS";
pub const STUCK_AFTER: &str = "ROTATOR_STUCK_AFTER";

/// The longest testSecret budget: a Lambda invocation lasts at most 900 seconds.
const MAX_TEST_TIMEOUT_SECS: u64 = 840;

impl Settings {
    /// Reads the configuration through `lookup` (the environment, in the Lambda). An unset or
    /// empty variable takes its default; a value that does not parse is an error naming it.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let read = |name: &str| lookup(name).filter(|value| !value.trim().is_empty());
        let error = |variable, problem: String| ConfigError { variable, problem };

        let alert_topic_arn = match read(ALERT_TOPIC_ARN) {
            None => None,
            Some(arn) => {
                let arn = arn.trim().to_owned();
                let parts: Vec<&str> = arn.split(':').collect();
                if parts.len() != 6 || parts[0] != "arn" || parts[2] != "sns" || parts[5].is_empty()
                {
                    return Err(error(
                        ALERT_TOPIC_ARN,
                        format!(
                            "{arn:?} is not an SNS topic ARN (arn:PARTITION:sns:REGION:ACCOUNT:NAME)"
                        ),
                    ));
                }
                Some(arn)
            }
        };
        let sender_email = match read(SENDER_EMAIL) {
            None => None,
            Some(value) => {
                let addresses = parse_addresses(&value).map_err(|p| error(SENDER_EMAIL, p))?;
                if addresses.len() != 1 {
                    return Err(error(SENDER_EMAIL, "must be exactly one address".into()));
                }
                addresses.into_iter().next()
            }
        };
        let default_notify_email = match read(DEFAULT_NOTIFY_EMAIL) {
            None => Vec::new(),
            Some(value) => parse_addresses(&value).map_err(|p| error(DEFAULT_NOTIFY_EMAIL, p))?,
        };
        let old_key_policy = match read(OLD_KEY) {
            None => OldKeyPolicy::Delete,
            Some(value) => parse_old_key_policy(&value).map_err(|p| error(OLD_KEY, p))?,
        };
        let test_timeout = match read(TEST_TIMEOUT_SECS) {
            None => Duration::from_secs(60),
            Some(value) => match value.trim().parse::<u64>() {
                Ok(secs) if (1..=MAX_TEST_TIMEOUT_SECS).contains(&secs) => {
                    Duration::from_secs(secs)
                }
                _ => {
                    return Err(error(
                        TEST_TIMEOUT_SECS,
                        format!(
                            "{value:?} is not a whole number of seconds from 1 to {MAX_TEST_TIMEOUT_SECS}"
                        ),
                    ));
                }
            },
        };
        let duration = |variable: &'static str, default: Duration, zero_allowed: bool| {
            let Some(value) = read(variable) else {
                return Ok(default);
            };
            match parse_duration(&value) {
                Ok(parsed) if parsed.is_zero() && !zero_allowed => Err(error(
                    variable,
                    format!("{value:?} is zero; it must be at least 1s"),
                )),
                Ok(parsed) => Ok(parsed),
                Err(problem) => Err(error(variable, problem)),
            }
        };
        let grace = duration(GRACE, DEFAULT_GRACE, false)?;
        let grace_max = duration(GRACE_MAX, DEFAULT_GRACE_MAX, false)?;
        let usage_lag = duration(USAGE_LAG, DEFAULT_USAGE_LAG, true)?;
        let stuck_after = duration(STUCK_AFTER, DEFAULT_STUCK_AFTER, true)?;
        if grace_max < grace {
            let source = if read(GRACE_MAX).is_some() {
                ""
            } else {
                ", its default"
            };
            return Err(error(
                GRACE_MAX,
                format!(
                    "{}{source} is shorter than {GRACE} ({}): the hard limit must be at least the grace",
                    format_duration(grace_max),
                    format_duration(grace)
                ),
            ));
        }
        let secret_prefix = match read(SECRET_PREFIX) {
            None => DEFAULT_SECRET_PREFIX.to_owned(),
            Some(value) => parse_secret_prefix(&value).map_err(|p| error(SECRET_PREFIX, p))?,
        };
        let findings = match read(FINDINGS) {
            None => false,
            Some(value) => parse_switch(&value).map_err(|p| error(FINDINGS, p))?,
        };
        let member_role = MemberRole::from_lookup(read)?;
        Ok(Self {
            alert_topic_arn,
            sender_email,
            default_notify_email,
            old_key_policy,
            test_timeout,
            member_role,
            grace,
            grace_max,
            usage_lag,
            secret_prefix,
            findings,
            stuck_after,
        })
    }
}

/// Parses a switch as `ROTATOR_FINDINGS` takes it: `on` or `off`, in lower case (surrounding
/// blanks are ignored).
pub fn parse_switch(text: &str) -> Result<bool, String> {
    match text.trim() {
        "on" => Ok(true),
        "off" => Ok(false),
        other => Err(format!("{other:?} is not on or off")),
    }
}

/// Parses an old-key policy as `ROTATOR_OLD_KEY` takes it: `delete`, `deactivate`, `keep` or
/// `grace`, in lower case (surrounding blanks are ignored). `rotator sweep --old-key-policy`
/// takes it the same way.
pub fn parse_old_key_policy(text: &str) -> Result<OldKeyPolicy, String> {
    match text.trim() {
        "delete" => Ok(OldKeyPolicy::Delete),
        "deactivate" => Ok(OldKeyPolicy::Deactivate),
        "keep" => Ok(OldKeyPolicy::Keep),
        "grace" => Ok(OldKeyPolicy::Grace),
        other => Err(format!(
            "{other:?} is not one of delete, deactivate, keep, grace"
        )),
    }
}

/// Parses a secret name prefix as `ROTATOR_SECRET_PREFIX` takes it: at least one character
/// followed by the `/` that ends it, no blank inside (surrounding blanks are ignored). The `/`
/// keeps one deployment's prefix (`IamKeyRotator/`) from matching another's names
/// (`IamKeyRotatorTest/...`). `rotator sweep --prefix` takes it the same way.
pub fn parse_secret_prefix(text: &str) -> Result<String, String> {
    let prefix = text.trim();
    if !prefix.ends_with('/') || prefix.len() < 2 || prefix.contains(char::is_whitespace) {
        return Err(format!(
            "{text:?} is not a secret name prefix ending with '/' (such as {DEFAULT_SECRET_PREFIX})"
        ));
    }
    Ok(prefix.to_owned())
}

impl Settings {
    /// Reads the configuration from a map of variables, such as a function's environment as
    /// `GetFunctionConfiguration` gives it, exactly as the function reads its own (`rotator
    /// doctor` checks a deployed function this way).
    pub fn from_variables(variables: &BTreeMap<String, String>) -> Result<Self, ConfigError> {
        Self::from_lookup(|name| variables.get(name).cloned())
    }
}

/// Parses a duration with its unit: a whole number followed by `s`, `m`, `h` or `d` (`90s`,
/// `30m`, `24h`, `7d`), at most a year. Every duration the project reads goes through it: the
/// function's `ROTATOR_GRACE`, `ROTATOR_GRACE_MAX` and `ROTATOR_USAGE_LAG`, and every duration
/// flag of the `rotator` CLI, so each refuses the same texts (`7days`, `1.5h`, `24`) with the
/// same message, [`duration_problem`].
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let trimmed = text.trim();
    let unit_at = trimmed
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(|| duration_problem(text))?;
    let (number, unit) = trimmed.split_at(unit_at);
    let per_unit = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(duration_problem(text)),
    };
    let secs = number
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(per_unit))
        .filter(|secs| *secs <= MAX_DURATION_SECS)
        .ok_or_else(|| duration_problem(text))?;
    Ok(Duration::from_secs(secs))
}

/// The one message for a text that is not a duration.
pub fn duration_problem(text: &str) -> String {
    format!(
        "{:?} is not a duration: write a whole number and one unit, s, m, h or d (such as 90s, \
         30m, 24h, 7d), at most 366d",
        text.trim()
    )
}

/// Writes a duration in the largest unit that divides it (`7d`, `36h`, `90s`).
pub fn format_duration(duration: Duration) -> String {
    let secs = duration.as_secs();
    match secs {
        0 => "0s".to_owned(),
        s if s % 86_400 == 0 => format!("{}d", s / 86_400),
        s if s % 3600 == 0 => format!("{}h", s / 3600),
        s if s % 60 == 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

/// Parses a comma-separated list of email addresses.
pub fn parse_addresses(list: &str) -> Result<Vec<String>, String> {
    let mut addresses = Vec::new();
    for address in list.split(',').map(str::trim).filter(|a| !a.is_empty()) {
        let valid = address.len() <= 254
            && !address.chars().any(|c| c.is_whitespace() || c.is_control())
            && matches!(address.split_once('@'), Some((local, domain))
                if !local.is_empty() && domain.contains('.') && !domain.contains('@')
                    && !domain.starts_with('.') && !domain.ends_with('.'));
        if !valid {
            return Err(format!("{address:?} is not an email address"));
        }
        addresses.push(address.to_owned());
    }
    if addresses.is_empty() {
        return Err("holds no email address".into());
    }
    Ok(addresses)
}

pub const MEMBER_ROLE_NAME: &str = "ROTATOR_MEMBER_ROLE_NAME";
pub const MEMBER_EXTERNAL_ID: &str = "ROTATOR_MEMBER_EXTERNAL_ID";

/// The role name assumed in another account when `ROTATOR_MEMBER_ROLE_NAME` is unset.
pub const DEFAULT_MEMBER_ROLE_NAME: &str = "IamKeyRotatorMember";

/// The role the function assumes in a member account, and the external id it passes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberRole {
    pub name: String,
    pub external_id: Option<String>,
}

impl Default for MemberRole {
    fn default() -> Self {
        Self {
            name: DEFAULT_MEMBER_ROLE_NAME.to_owned(),
            external_id: None,
        }
    }
}

impl MemberRole {
    /// Reads `ROTATOR_MEMBER_ROLE_NAME` and `ROTATOR_MEMBER_EXTERNAL_ID` through `read`, which
    /// gives `None` for an unset or empty variable.
    pub fn from_lookup(read: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let name = match read(MEMBER_ROLE_NAME) {
            None => DEFAULT_MEMBER_ROLE_NAME.to_owned(),
            Some(name) => {
                let name = name.trim().to_owned();
                // IAM role names: 1 to 64 letters, digits and +=,.@_-.
                let valid = name.len() <= 64
                    && name
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c));
                if !valid {
                    return Err(ConfigError {
                        variable: MEMBER_ROLE_NAME,
                        problem: format!(
                            "{name:?} is not an IAM role name (1 to 64 letters, digits and +=,.@_-)"
                        ),
                    });
                }
                name
            }
        };
        let external_id = match read(MEMBER_EXTERNAL_ID) {
            None => None,
            Some(id) => {
                // STS: 2 to 1224 characters of letters, digits and +=,.@:/-.
                let valid = (2..=1224).contains(&id.len())
                    && id
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "+=,.@:/-_".contains(c));
                if !valid {
                    // The value is not quoted: an external id is a shared secret of sorts.
                    return Err(ConfigError {
                        variable: MEMBER_EXTERNAL_ID,
                        problem: "must be 2 to 1224 letters, digits and +=,.@:/-_".to_owned(),
                    });
                }
                Some(id)
            }
        };
        Ok(Self { name, external_id })
    }

    /// The role's ARN in `account`, in the partition of the function's own secret.
    pub fn arn_in(&self, partition: &str, account: &AccountId) -> String {
        format!("arn:{partition}:iam::{account}:role/{}", self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(pairs: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        Settings::from_lookup(|name| {
            pairs
                .iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| (*value).to_owned())
        })
    }

    #[test]
    fn findings_are_off_by_default_and_on_or_off_otherwise_is_refused() {
        assert!(!settings(&[]).unwrap().findings);
        assert!(settings(&[(FINDINGS, " on ")]).unwrap().findings);
        assert!(!settings(&[(FINDINGS, "off")]).unwrap().findings);
        let refused = settings(&[(FINDINGS, "yes")]).unwrap_err();
        assert_eq!(refused.variable, FINDINGS);
        assert!(
            refused.to_string().contains("ROTATOR_FINDINGS"),
            "{refused}"
        );
    }

    #[test]
    fn a_map_of_variables_is_read_as_the_environment_is() {
        let variables: BTreeMap<String, String> = [
            (OLD_KEY, "grace"),
            (GRACE, "2h"),
            (SECRET_PREFIX, "Team/"),
            ("AWS_REGION", "eu-west-1"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let from_map = Settings::from_variables(&variables).unwrap();
        let from_lookup =
            settings(&[(OLD_KEY, "grace"), (GRACE, "2h"), (SECRET_PREFIX, "Team/")]).unwrap();
        assert_eq!(from_map, from_lookup);
        assert_eq!(from_map.grace, Duration::from_secs(7200));
        let bad: BTreeMap<String, String> =
            [(TEST_TIMEOUT_SECS.to_owned(), "soon".to_owned())].into();
        assert_eq!(
            Settings::from_variables(&bad).unwrap_err().variable,
            TEST_TIMEOUT_SECS
        );
    }

    #[test]
    fn defaults_apply_when_nothing_is_set() {
        assert_eq!(settings(&[]).unwrap(), Settings::default());
    }

    #[test]
    fn every_variable_is_read() {
        let parsed = settings(&[
            (ALERT_TOPIC_ARN, "arn:aws:sns:eu-west-1:123456789012:alerts"),
            (SENDER_EMAIL, "rotator@example.com"),
            (DEFAULT_NOTIFY_EMAIL, "a@example.com, b@example.org"),
            (OLD_KEY, "keep"),
            (TEST_TIMEOUT_SECS, "5"),
        ])
        .unwrap();
        assert_eq!(
            parsed.alert_topic_arn.as_deref(),
            Some("arn:aws:sns:eu-west-1:123456789012:alerts")
        );
        assert_eq!(parsed.sender_email.as_deref(), Some("rotator@example.com"));
        assert_eq!(
            parsed.default_notify_email,
            ["a@example.com", "b@example.org"]
        );
        assert_eq!(parsed.old_key_policy, OldKeyPolicy::Keep);
        assert_eq!(parsed.test_timeout, Duration::from_secs(5));
        assert_eq!(
            settings(&[(OLD_KEY, "deactivate")]).unwrap().old_key_policy,
            OldKeyPolicy::Deactivate
        );
    }

    #[test]
    fn the_grace_policy_and_its_durations_are_read_with_their_units() {
        let defaults = settings(&[(OLD_KEY, "grace")]).unwrap();
        assert_eq!(defaults.old_key_policy, OldKeyPolicy::Grace);
        assert_eq!(defaults.grace, Duration::from_secs(24 * 3600));
        assert_eq!(defaults.grace_max, Duration::from_secs(7 * 86_400));
        assert_eq!(defaults.usage_lag, Duration::from_secs(4 * 3600));
        assert_eq!(defaults.secret_prefix, "IamKeyRotator/");
        let parsed = settings(&[
            (GRACE, "90s"),
            (GRACE_MAX, " 30m "),
            (USAGE_LAG, "0s"),
            (SECRET_PREFIX, "Team/Keys/"),
        ])
        .unwrap();
        assert_eq!(parsed.grace, Duration::from_secs(90));
        assert_eq!(parsed.grace_max, Duration::from_secs(1800));
        assert_eq!(parsed.usage_lag, Duration::ZERO);
        assert_eq!(parsed.secret_prefix, "Team/Keys/");
        for (text, secs) in [
            ("7d", 604_800),
            ("24h", 86_400),
            ("1m", 60),
            ("366d", 31_622_400),
        ] {
            assert_eq!(
                parse_duration(text),
                Ok(Duration::from_secs(secs)),
                "{text}"
            );
            assert_eq!(
                parse_duration(&format_duration(Duration::from_secs(secs))),
                Ok(Duration::from_secs(secs))
            );
        }
        assert_eq!(format_duration(Duration::from_secs(36 * 3600)), "36h");
        assert_eq!(format_duration(Duration::from_secs(61)), "61s");
    }

    #[test]
    fn the_prefix_and_policy_parsers_that_the_cli_shares_are_the_variables_own() {
        assert_eq!(
            parse_secret_prefix(" Team/Keys/ ").as_deref(),
            Ok("Team/Keys/")
        );
        for bad in ["IamKeyRotator", "/", "", "Iam Key/"] {
            let problem = parse_secret_prefix(bad).unwrap_err();
            assert!(problem.contains("ending with '/'"), "{problem}");
            let error = settings(&[(SECRET_PREFIX, bad)]);
            // An empty variable takes the default; every other bad prefix is refused.
            assert_eq!(error.is_err(), !bad.is_empty(), "{bad:?}");
        }
        assert_eq!(parse_old_key_policy(" grace "), Ok(OldKeyPolicy::Grace));
        assert_eq!(parse_old_key_policy("keep"), Ok(OldKeyPolicy::Keep));
        assert!(parse_old_key_policy("Grace").is_err());
        assert!(parse_old_key_policy("").is_err());
    }

    #[test]
    fn every_text_that_is_not_a_duration_gets_the_same_message() {
        for bad in [
            "7days",
            "24",
            "1.5h",
            "-1h",
            "h",
            "3w",
            "400d",
            "",
            " ",
            "1h30m",
            "99999999999999999999s",
        ] {
            assert_eq!(parse_duration(bad), Err(duration_problem(bad)), "{bad:?}");
            assert!(duration_problem(bad).contains("such as 90s, 30m, 24h, 7d"));
        }
        assert_eq!(parse_duration(" 0s "), Ok(Duration::ZERO));
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("30m"), Ok(Duration::from_secs(1800)));
    }

    #[test]
    fn the_hard_limit_may_not_be_shorter_than_the_grace() {
        assert!(settings(&[(GRACE, "2h"), (GRACE_MAX, "2h")]).is_ok());
        let error = settings(&[(GRACE, "2h"), (GRACE_MAX, "1h")]).unwrap_err();
        assert_eq!(error.variable, GRACE_MAX);
        assert!(error.to_string().contains(GRACE), "{error}");
        // A grace longer than the default limit names the limit and says it is the default.
        let error = settings(&[(GRACE, "8d")]).unwrap_err();
        assert_eq!(error.variable, GRACE_MAX);
        assert!(error.to_string().contains("default"), "{error}");
    }

    #[test]
    fn the_stuck_after_time_is_a_duration_and_zero_turns_recovery_off() {
        assert_eq!(
            settings(&[]).expect("defaults").stuck_after,
            Duration::from_secs(24 * 3600)
        );
        let read = settings(&[(STUCK_AFTER, "90m")]).expect("valid");
        assert_eq!(read.stuck_after, Duration::from_secs(90 * 60));
        assert!(
            settings(&[(STUCK_AFTER, "0s")])
                .expect("zero is allowed")
                .stuck_after
                .is_zero()
        );
        let error = settings(&[(STUCK_AFTER, "a day")]).expect_err("no unit");
        assert_eq!(error.variable, STUCK_AFTER);
        assert!(error.to_string().contains("ROTATOR_STUCK_AFTER"), "{error}");
    }

    #[test]
    fn every_invalid_value_names_its_variable() {
        let cases = [
            (ALERT_TOPIC_ARN, "not-an-arn"),
            (ALERT_TOPIC_ARN, "arn:aws:sqs:eu-west-1:123456789012:q"),
            (SENDER_EMAIL, "nobody"),
            (SENDER_EMAIL, "a@example.com,b@example.com"),
            (DEFAULT_NOTIFY_EMAIL, "a@example.com, not an address"),
            (OLD_KEY, "shred"),
            (OLD_KEY, "DELETE"),
            (TEST_TIMEOUT_SECS, "soon"),
            (TEST_TIMEOUT_SECS, "-1"),
            (TEST_TIMEOUT_SECS, "0"),
            (TEST_TIMEOUT_SECS, "100000"),
            (OLD_KEY, "Grace"),
            (GRACE, "24"),
            (GRACE, "1.5h"),
            (GRACE, "-1h"),
            (GRACE, "h"),
            (GRACE, "3w"),
            (GRACE, "0s"),
            (GRACE, "400d"),
            (GRACE, "99999999999999999999s"),
            (GRACE_MAX, "0s"),
            (GRACE_MAX, "12h"),
            (USAGE_LAG, "4"),
            (USAGE_LAG, "four hours"),
            (SECRET_PREFIX, "IamKeyRotator"),
            (SECRET_PREFIX, "/"),
        ];
        for (variable, value) in cases {
            let error = settings(&[(variable, value)]).unwrap_err();
            assert_eq!(error.variable, variable, "{value}");
            assert!(error.to_string().contains(variable), "{error}");
        }
    }
}
