//! The function's configuration, read once from `ROTATOR_*` environment variables.

use std::time::Duration;

use crate::accounts::MemberRole;

/// What finishSecret does with the key that was current before the rotation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OldKeyPolicy {
    /// Deactivate it, then delete it.
    Delete,
    /// Deactivate it now; delete it when the next rotation needs room.
    Deactivate,
    /// Leave it active until the next rotation needs room.
    Keep,
}

impl OldKeyPolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            OldKeyPolicy::Delete => "delete",
            OldKeyPolicy::Deactivate => "deactivate",
            OldKeyPolicy::Keep => "keep",
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
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            alert_topic_arn: None,
            sender_email: None,
            default_notify_email: Vec::new(),
            old_key_policy: OldKeyPolicy::Delete,
            test_timeout: Duration::from_secs(60),
            member_role: MemberRole::default(),
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
        let old_key_policy = match read(OLD_KEY).as_deref().map(str::trim) {
            None | Some("delete") => OldKeyPolicy::Delete,
            Some("deactivate") => OldKeyPolicy::Deactivate,
            Some("keep") => OldKeyPolicy::Keep,
            Some(other) => {
                return Err(error(
                    OLD_KEY,
                    format!("{other:?} is not one of delete, deactivate, keep"),
                ));
            }
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
        let member_role = MemberRole::from_lookup(read)?;
        Ok(Self {
            alert_topic_arn,
            sender_email,
            default_notify_email,
            old_key_policy,
            test_timeout,
            member_role,
        })
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
        ];
        for (variable, value) in cases {
            let error = settings(&[(variable, value)]).unwrap_err();
            assert_eq!(error.variable, variable, "{value}");
            assert!(error.to_string().contains(variable), "{error}");
        }
    }
}
