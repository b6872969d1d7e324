//! Domain values parsed at the edge: the step, the identifiers and the rotation event.

use std::fmt;

use serde_json::Value;

/// The staging labels of a rotation (Secrets Manager's).
pub const AWSCURRENT: &str = "AWSCURRENT";
pub const AWSPENDING: &str = "AWSPENDING";
pub const AWSPREVIOUS: &str = "AWSPREVIOUS";

/// One of the four steps of a Secrets Manager rotation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Step {
    CreateSecret,
    SetSecret,
    TestSecret,
    FinishSecret,
}

impl Step {
    /// Every step, in the order Secrets Manager runs them.
    pub const ALL: [Step; 4] = [
        Step::CreateSecret,
        Step::SetSecret,
        Step::TestSecret,
        Step::FinishSecret,
    ];

    /// The name Secrets Manager uses for the step.
    pub fn as_str(self) -> &'static str {
        match self {
            Step::CreateSecret => "createSecret",
            Step::SetSecret => "setSecret",
            Step::TestSecret => "testSecret",
            Step::FinishSecret => "finishSecret",
        }
    }

    /// Parses the step name exactly as Secrets Manager sends it.
    pub fn parse(name: &str) -> Result<Step, EventError> {
        Step::ALL
            .into_iter()
            .find(|step| step.as_str() == name)
            .ok_or_else(|| EventError::UnknownStep(quote(name)))
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Declares a validated string newtype whose value may appear in logs.
macro_rules! string_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            /// The identifier as a string slice.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

string_id!(
    /// The secret's ARN or name, as the event gives it.
    SecretId
);
string_id!(
    /// The rotation's `ClientRequestToken`, which is also the id of the new version.
    ClientRequestToken
);
string_id!(
    /// The optional `RotationToken` that Secrets Manager asks to be passed on to `PutSecretValue`.
    RotationToken
);
string_id!(
    /// An IAM user name.
    UserName
);
string_id!(
    /// An IAM access key id (public: it may appear in logs and messages).
    AccessKeyId
);
string_id!(
    /// An AWS account id: 12 digits.
    AccountId
);

impl SecretId {
    /// Accepts any non-empty id of at most 2048 characters (the Secrets Manager limit).
    pub fn new(id: impl Into<String>) -> Result<Self, EventError> {
        let id = id.into();
        if id.is_empty() || id.chars().count() > 2048 {
            return Err(EventError::InvalidField {
                field: "SecretId",
                problem: "must be 1 to 2048 characters".into(),
            });
        }
        Ok(Self(id))
    }
}

impl ClientRequestToken {
    /// Accepts 32 to 64 characters that are also valid in an IAM tag key, since the
    /// rotator records the token in IAM user tags.
    pub fn new(token: impl Into<String>) -> Result<Self, EventError> {
        let token = token.into();
        let length_ok = (32..=64).contains(&token.chars().count());
        let chars_ok = token
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.:=+@".contains(c));
        if !length_ok || !chars_ok {
            return Err(EventError::InvalidField {
                field: "ClientRequestToken",
                problem: "must be 32 to 64 characters of letters, digits and -_.:=+@".into(),
            });
        }
        Ok(Self(token))
    }
}

impl RotationToken {
    /// Accepts any non-empty token; it is only passed on.
    pub fn new(token: impl Into<String>) -> Result<Self, EventError> {
        let token = token.into();
        if token.is_empty() {
            return Err(EventError::InvalidField {
                field: "RotationToken",
                problem: "must not be empty when present".into(),
            });
        }
        Ok(Self(token))
    }
}

impl UserName {
    /// Accepts an IAM user name: 1 to 64 characters of letters, digits and `+=,.@_-`.
    pub fn new(name: impl Into<String>) -> Result<Self, String> {
        let name = name.into();
        if name.is_empty() {
            return Err("UserName must not be empty".into());
        }
        if name.chars().count() > 64 {
            return Err("UserName is longer than IAM's 64 characters".into());
        }
        if !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c))
        {
            return Err(format!(
                "UserName {} has characters IAM does not allow (letters, digits and +=,.@_- only)",
                quote(&name)
            ));
        }
        Ok(Self(name))
    }
}

impl AccountId {
    /// Accepts exactly 12 ASCII digits.
    pub fn new(id: impl Into<String>) -> Result<Self, String> {
        let id = id.into();
        if id.len() != 12 || !id.chars().all(|c| c.is_ascii_digit()) {
            // The value is not quoted: a secret pasted into the wrong field must not be echoed.
            return Err(format!(
                "AccountId is not an AWS account id (12 digits; this value has {} characters)",
                id.chars().count()
            ));
        }
        Ok(Self(id))
    }
}

impl AccessKeyId {
    /// Accepts an access key id: 16 to 128 upper-case letters and digits (`AKIA...`). Secret
    /// access keys hold lower-case letters, so one pasted here is refused, never taken for an id.
    pub fn new(id: impl Into<String>) -> Result<Self, String> {
        let id = id.into();
        if !(16..=128).contains(&id.len())
            || !id
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
        {
            // The value is not quoted: a secret pasted into the wrong field must not be echoed.
            return Err(
                "AccessKeyId is not an access key id (16 to 128 upper-case letters and digits)"
                    .to_owned(),
            );
        }
        Ok(Self(id))
    }
}

/// The event Secrets Manager sends for each step, parsed and validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RotationEvent {
    pub step: Step,
    pub secret_id: SecretId,
    pub token: ClientRequestToken,
    pub rotation_token: Option<RotationToken>,
}

/// Why an event was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    #[error("the event is not valid JSON: {0}")]
    NotJson(String),
    #[error("the event must be a JSON object, not {0}")]
    NotAnObject(&'static str),
    #[error("the event is missing the field `{0}`")]
    MissingField(&'static str),
    #[error("the event field `{field}` must be a string, not {found}")]
    NotAString {
        field: &'static str,
        found: &'static str,
    },
    #[error("the event field `{field}` {problem}")]
    InvalidField {
        field: &'static str,
        problem: String,
    },
    #[error(
        "the event has an unknown Step {0}: expected createSecret, setSecret, testSecret or finishSecret"
    )]
    UnknownStep(String),
}

impl RotationEvent {
    /// Parses the raw bytes of an invocation payload.
    pub fn from_slice(bytes: &[u8]) -> Result<Self, EventError> {
        let value: Value =
            serde_json::from_slice(bytes).map_err(|e| EventError::NotJson(e.to_string()))?;
        Self::from_value(&value)
    }

    /// Parses an already decoded JSON payload.
    pub fn from_value(value: &Value) -> Result<Self, EventError> {
        let object = value
            .as_object()
            .ok_or_else(|| EventError::NotAnObject(json_kind(value)))?;
        let required = |field: &'static str| -> Result<&str, EventError> {
            match object.get(field) {
                None | Some(Value::Null) => Err(EventError::MissingField(field)),
                Some(Value::String(s)) => Ok(s.as_str()),
                Some(other) => Err(EventError::NotAString {
                    field,
                    found: json_kind(other),
                }),
            }
        };
        let step = Step::parse(required("Step")?)?;
        let secret_id = SecretId::new(required("SecretId")?)?;
        let token = ClientRequestToken::new(required("ClientRequestToken")?)?;
        let rotation_token = match object.get("RotationToken") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(RotationToken::new(s.as_str())?),
            Some(other) => {
                return Err(EventError::NotAString {
                    field: "RotationToken",
                    found: json_kind(other),
                });
            }
        };
        Ok(Self {
            step,
            secret_id,
            token,
            rotation_token,
        })
    }
}

/// Names the kind of a JSON value for error messages (`a string`, `null`).
pub fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Quotes untrusted text for an error message: escaped first, then cut to a bounded length.
pub(crate) fn quote(text: &str) -> String {
    const LIMIT: usize = 80;
    let escaped = text.escape_debug().to_string();
    if escaped.chars().count() <= LIMIT {
        format!("\"{escaped}\"")
    } else {
        let short: String = escaped.chars().take(LIMIT).collect();
        format!("\"{short}…\"")
    }
}

/// Formats seconds since the epoch as an RFC 3339 UTC time.
pub fn rfc3339(secs: u64) -> String {
    let days = secs / 86_400;
    let rest = secs % 86_400;
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

/// Howard Hinnant's days-to-civil algorithm, for days since 1970-01-01.
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "c2f2b1d6-6bb4-4f1f-9c2a-0a3e8cf0b001";

    fn event(json: &str) -> Result<RotationEvent, EventError> {
        RotationEvent::from_slice(json.as_bytes())
    }

    #[test]
    fn parses_every_step_and_the_optional_rotation_token() {
        for step in Step::ALL {
            let parsed = event(&format!(
                r#"{{"Step":"{step}","SecretId":"s","ClientRequestToken":"{TOKEN}","RotationToken":"rt"}}"#
            ))
            .unwrap();
            assert_eq!(parsed.step, step);
            assert_eq!(parsed.secret_id.as_str(), "s");
            assert_eq!(parsed.token.as_str(), TOKEN);
            assert_eq!(parsed.rotation_token.unwrap().as_str(), "rt");
        }
        let without = event(&format!(
            r#"{{"Step":"setSecret","SecretId":"s","ClientRequestToken":"{TOKEN}"}}"#
        ))
        .unwrap();
        assert_eq!(without.rotation_token, None);
    }

    #[test]
    fn every_bad_shape_is_named() {
        let cases = [
            ("not json", "not valid JSON"),
            ("[1]", "must be a JSON object, not an array"),
            (r#"{"SecretId":"s"}"#, "missing the field `Step`"),
            (
                r#"{"Step":"rotate","SecretId":"s","ClientRequestToken":"x"}"#,
                "unknown Step \"rotate\"",
            ),
            (
                r#"{"Step":"setSecret","ClientRequestToken":"x"}"#,
                "missing the field `SecretId`",
            ),
            (
                r#"{"Step":"setSecret","SecretId":"s"}"#,
                "missing the field `ClientRequestToken`",
            ),
            (
                r#"{"Step":"setSecret","SecretId":7,"ClientRequestToken":"x"}"#,
                "`SecretId` must be a string, not a number",
            ),
            (
                r#"{"Step":"setSecret","SecretId":"","ClientRequestToken":"x"}"#,
                "`SecretId` must be 1 to 2048",
            ),
            (
                r#"{"Step":"setSecret","SecretId":"s","ClientRequestToken":"short"}"#,
                "`ClientRequestToken` must be 32 to 64",
            ),
        ];
        for (json, expected) in cases {
            let error = event(json).unwrap_err().to_string();
            assert!(error.contains(expected), "{json}: {error}");
        }
        let bad_rotation_token = format!(
            r#"{{"Step":"setSecret","SecretId":"s","ClientRequestToken":"{TOKEN}","RotationToken":false}}"#
        );
        assert!(
            event(&bad_rotation_token)
                .unwrap_err()
                .to_string()
                .contains("`RotationToken` must be a string, not a boolean")
        );
    }

    #[test]
    fn user_names_follow_iam_rules() {
        assert!(UserName::new("alice.smith+ci@corp").is_ok());
        assert!(UserName::new("").unwrap_err().contains("empty"));
        assert!(UserName::new("a b").unwrap_err().contains("characters"));
        assert!(UserName::new("x".repeat(65)).unwrap_err().contains("64"));
    }

    #[test]
    fn long_untrusted_text_is_shortened_in_errors() {
        let step = "x".repeat(10_000);
        let error = Step::parse(&step).unwrap_err().to_string();
        assert!(error.len() < 300, "{error}");
    }
}
