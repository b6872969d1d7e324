//! The texts of the failure alert and the success email. They are built only from ids,
//! names and error messages, none of which can hold secret material.

use crate::config::{Settings, format_duration};
use crate::error::{CurrentStage, RotationError, StepError};
use crate::ports::{EpochSecs, KeyLastUsed, Notice};
pub use crate::types::rfc3339;
use crate::types::{AccessKeyId, ClientRequestToken, SecretId, UserName};

/// The alert sent when a step fails.
pub fn failure_alert(failure: &StepError, secret_name: Option<&str>) -> Notice {
    let secret = secret_name.unwrap_or(failure.secret.as_str());
    let user = failure.user.as_ref().map_or(
        "unknown (the secret's value was not read)".to_owned(),
        |u| u.to_string(),
    );
    Notice {
        subject: clip_subject(&format!(
            "IAM key rotation failed: {secret} ({})",
            failure.step
        )),
        body: format!(
            "The rotation of an IAM access key failed.\n\n\
             Secret: {}\n\
             User: {user}\n\
             Step: {}\n\
             Token: {}\n\
             Error: {}\n\n\
             What to do: {}\n\n\
             {} Secrets Manager retries the rotation.\n",
            failure.secret,
            failure.step,
            failure.token,
            failure.error,
            failure.error.remediation(),
            match &failure.current {
                CurrentStage::Unchanged => "The working key in AWSCURRENT is unchanged.".to_owned(),
                CurrentStage::Moved(Some(key)) => format!(
                    "AWSCURRENT already holds the new key {key}, which authenticated in testSecret; \
                     the old key may still be active until the retry completes."
                ),
                CurrentStage::Moved(None) => {
                    "AWSCURRENT already moved to the new version.".to_owned()
                }
            },
        ),
    }
}

/// What the success email says.
#[derive(Debug, Clone)]
pub struct Success<'a> {
    pub secret: &'a SecretId,
    pub secret_name: &'a str,
    pub user: &'a UserName,
    pub new_key: &'a AccessKeyId,
    pub token: &'a ClientRequestToken,
    pub at: EpochSecs,
    pub old_key: Option<(&'a AccessKeyId, &'static str)>,
    /// Sentences about what else the rotation found (an adoption dropped).
    pub remarks: &'a [String],
}

/// The email sent when finishSecret completes.
pub fn success_email(success: &Success<'_>) -> Notice {
    let old_key = match success.old_key {
        Some((key, action)) => format!("Previous key: {key} ({action})\n"),
        None => String::new(),
    };
    let remarks: String = success
        .remarks
        .iter()
        .map(|remark| format!("{remark}\n"))
        .collect();
    Notice {
        subject: clip_subject(&format!(
            "IAM access key rotated: {} ({})",
            success.secret_name, success.user
        )),
        body: format!(
            "The IAM access key of {user} was rotated.\n\n\
             Secret: {secret}\n\
             User: {user}\n\
             New access key id: {key}\n\
             {old_key}\
             {remarks}\
             Version: {token}\n\
             Time: {time}\n\n\
             Fetch the new value with:\n  \
             aws secretsmanager get-secret-value --secret-id '{secret}' --version-stage AWSCURRENT\n\n\
             Programs that read the secret at start-up should be restarted or reloaded.\n",
            user = success.user,
            secret = success.secret,
            key = success.new_key,
            token = success.token,
            time = rfc3339(success.at),
        ),
    }
}

/// The alert for a previous key whose ledger record a person removed (contract §5).
pub fn record_removed_alert(secret_name: &str, problem: &RotationError) -> Notice {
    Notice {
        subject: clip_subject(&format!(
            "IAM key rotator: a key's ledger record was removed ({secret_name})"
        )),
        body: format!("{problem}\n\nWhat to do: {}\n", problem.remediation()),
    }
}

/// An old key that the sweep found still in use after the grace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Straggler {
    pub secret: String,
    pub user: String,
    pub key: AccessKeyId,
    /// When AWSCURRENT moved away from it.
    pub rotated_at: EpochSecs,
    pub last_used: KeyLastUsed,
    pub fate: StragglerFate,
}

/// What the sweep did with a straggler.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StragglerFate {
    /// Left active; deactivated anyway at `until` (the rotation is then `ROTATOR_GRACE_MAX` old).
    LeftActive { until: EpochSecs },
    /// Deactivated although in use: the rotation is `ROTATOR_GRACE_MAX` old.
    Deactivated,
}

/// The sweep's one alert (and the owners' email) naming the old keys still in use: when and
/// where each was last used, so that whoever runs the program can be found. It names key ids,
/// never a secret.
pub fn straggler_alert(stragglers: &[Straggler], settings: &Settings) -> Notice {
    let deactivated = stragglers
        .iter()
        .filter(|s| s.fate == StragglerFate::Deactivated)
        .count();
    let subject = match (stragglers.len(), deactivated) {
        (1, 0) => format!(
            "IAM old key still in use: {} ({})",
            stragglers[0].secret, stragglers[0].user
        ),
        (1, _) => format!(
            "IAM old key deactivated while in use: {} ({})",
            stragglers[0].secret, stragglers[0].user
        ),
        (n, 0) => format!("IAM old keys still in use: {n} secrets"),
        (n, d) => format!("IAM old keys still in use: {n} secrets, {d} deactivated"),
    };
    let mut body = format!(
        "These access keys were replaced by a rotation, but programs still use them. Each program \
         must read the new key from its secret (stage AWSCURRENT).\n\n\
         Grace: {} after the rotation, plus {} for IAM to report a use; a key still in use is \
         deactivated anyway {} after its rotation (ROTATOR_GRACE_MAX).\n",
        format_duration(settings.grace),
        format_duration(settings.usage_lag),
        format_duration(settings.grace_max),
    );
    for straggler in stragglers {
        let used = &straggler.last_used;
        body.push_str(&format!(
            "\nSecret: {}\n\
             User: {}\n\
             Old access key id: {}\n\
             Rotated: {}\n\
             Last used: {}, service {}, region {}\n\
             {}\n",
            straggler.secret,
            straggler.user,
            straggler.key,
            rfc3339(straggler.rotated_at),
            used.when.map_or("unknown".to_owned(), rfc3339),
            used.service.as_deref().unwrap_or("unknown"),
            used.region.as_deref().unwrap_or("unknown"),
            match straggler.fate {
                StragglerFate::LeftActive { until } => format!(
                    "Left active; it will be deactivated anyway at {}.",
                    rfc3339(until)
                ),
                StragglerFate::Deactivated => "Deactivated now although in use: the rotation is older than ROTATOR_GRACE_MAX. \
                     The program that used it now fails until it reads the new key; reactivating the key \
                     (aws iam update-access-key --status Active) buys time until the next rotation."
                    .to_owned(),
            },
        ));
    }
    body.push_str(&format!(
        "\nFind a program: look for the old key id in CloudTrail (userIdentity.accessKeyId) around \
         the last use, or in the configuration of the services named above. Fetch the new key with:\n  \
         aws secretsmanager get-secret-value --secret-id '{}' --version-stage AWSCURRENT\n",
        stragglers.first().map_or("SECRET", |s| s.secret.as_str())
    ));
    Notice {
        subject: clip_subject(&subject),
        body,
    }
}

/// A key's last use in one phrase: `2026-12-01T10:00:00Z (s3, eu-west-1)`, or `never (as far
/// as IAM reports)`.
pub fn describe_last_use(used: &KeyLastUsed) -> String {
    match used.when {
        None => {
            "never (as far as IAM reports; it reports uses up to about four hours late)".to_owned()
        }
        Some(at) => format!(
            "{} (service {}, region {})",
            rfc3339(at),
            used.service.as_deref().unwrap_or("unknown"),
            used.region.as_deref().unwrap_or("unknown")
        ),
    }
}

/// SNS subjects are at most 100 characters.
fn clip_subject(subject: &str) -> String {
    subject.chars().take(100).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_times_in_utc() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_795_000_000), "2026-11-18T11:06:40Z");
    }
}
