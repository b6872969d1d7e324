//! The secret's JSON value and the types that keep secret material out of logs.

use std::fmt;

use serde_json::{Map, Value};

use crate::types::{AccessKeyId, AccountId, UserName, json_kind};

/// An IAM secret access key. `Debug` and `Display` redact it; only [`expose`](Self::expose)
/// reveals it, and only the adapters that sign a request or store the secret call that.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretAccessKey(String);

impl SecretAccessKey {
    pub fn new(secret: impl Into<String>) -> Self {
        Self(secret.into())
    }

    /// The secret itself: for signing the test request and nothing else.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretAccessKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretAccessKey(<redacted>)")
    }
}

impl fmt::Display for SecretAccessKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// A whole serialized secret value: it holds a secret access key, so it redacts itself too.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretString(String);

impl SecretString {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The JSON text: for `PutSecretValue` and for parsing, nothing else.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretString(<redacted, {} bytes>)", self.0.len())
    }
}

impl fmt::Display for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted secret value>")
    }
}

/// An access key id with its secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyPair {
    pub access_key_id: AccessKeyId,
    pub secret_access_key: SecretAccessKey,
}

/// The secret's value: the user, its current key (absent before the first rotation) and
/// any other fields, which are copied unchanged into every new version.
#[derive(Debug, Clone, PartialEq)]
pub struct SecretValue {
    pub user_name: UserName,
    /// The account of the user (`AccountId`); `None` is the function's own account.
    pub account: Option<AccountId>,
    pub key: Option<KeyPair>,
    /// `AdoptAccessKeyId`: a key the user already held, which programs use, and which the
    /// rotator took over to retire it as a previous key (contract §10).
    pub adopted: Option<AccessKeyId>,
    /// Every other field, kept verbatim.
    pub other_fields: Map<String, Value>,
}

/// Why a secret value was refused. No variant carries the value itself.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretValueError {
    #[error("the value is not JSON ({0})")]
    NotJson(String),
    #[error("the value must be a JSON object, not {0}")]
    NotAnObject(&'static str),
    #[error("the value has no `UserName` field")]
    MissingUserName,
    #[error("the field `{field}` must be a string, not {found}")]
    NotAString {
        field: &'static str,
        found: &'static str,
    },
    #[error("{0}")]
    InvalidField(String),
    #[error("the value has `{present}` without `{missing}`: both or neither are required")]
    HalfAKey {
        present: &'static str,
        missing: &'static str,
    },
}

const USER_NAME: &str = "UserName";
const ACCESS_KEY_ID: &str = "AccessKeyId";
const SECRET_ACCESS_KEY: &str = "SecretAccessKey";
const ACCOUNT_ID: &str = "AccountId";
/// The field of contract §10, which names a key the rotator adopts.
pub const ADOPT_ACCESS_KEY_ID: &str = "AdoptAccessKeyId";

impl SecretValue {
    /// Parses a stored value. Errors describe the problem without quoting the value.
    pub fn parse(text: &SecretString) -> Result<Self, SecretValueError> {
        let value: Value = serde_json::from_str(text.expose()).map_err(|e| {
            // Only the kind of error and its position: never any of the input.
            let kind = match e.classify() {
                serde_json::error::Category::Eof => "it ends early",
                _ => "syntax error",
            };
            SecretValueError::NotJson(format!("{kind} at line {} column {}", e.line(), e.column()))
        })?;
        let Value::Object(mut fields) = value else {
            return Err(SecretValueError::NotAnObject(json_kind(&value)));
        };
        let user_name = match fields.remove(USER_NAME) {
            None | Some(Value::Null) => return Err(SecretValueError::MissingUserName),
            Some(Value::String(name)) => {
                UserName::new(name).map_err(SecretValueError::InvalidField)?
            }
            Some(other) => {
                return Err(SecretValueError::NotAString {
                    field: USER_NAME,
                    found: json_kind(&other),
                });
            }
        };
        let account = take_string(&mut fields, ACCOUNT_ID)?
            .map(AccountId::new)
            .transpose()
            .map_err(SecretValueError::InvalidField)?;
        let adopted = take_string(&mut fields, ADOPT_ACCESS_KEY_ID)?
            .map(|id| {
                AccessKeyId::new(id).map_err(|problem| {
                    SecretValueError::InvalidField(format!("`{ADOPT_ACCESS_KEY_ID}`: {problem}"))
                })
            })
            .transpose()?;
        let access_key_id = take_string(&mut fields, ACCESS_KEY_ID)?;
        let secret_access_key = take_string(&mut fields, SECRET_ACCESS_KEY)?;
        let key = match (access_key_id, secret_access_key) {
            (None, None) => None,
            (Some(id), Some(secret)) => Some(KeyPair {
                access_key_id: AccessKeyId::new(id).map_err(SecretValueError::InvalidField)?,
                secret_access_key: SecretAccessKey::new(secret),
            }),
            (Some(_), None) => {
                return Err(SecretValueError::HalfAKey {
                    present: ACCESS_KEY_ID,
                    missing: SECRET_ACCESS_KEY,
                });
            }
            (None, Some(_)) => {
                return Err(SecretValueError::HalfAKey {
                    present: SECRET_ACCESS_KEY,
                    missing: ACCESS_KEY_ID,
                });
            }
        };
        Ok(Self {
            user_name,
            account,
            key,
            adopted,
            other_fields: fields,
        })
    }

    /// The same value holding another key: what createSecret stores as AWSPENDING. The
    /// adopted key is carried only when `keep_adopted` says so (it is still to be retired).
    pub fn with_key(&self, key: KeyPair, keep_adopted: bool) -> Self {
        Self {
            user_name: self.user_name.clone(),
            account: self.account.clone(),
            key: Some(key),
            adopted: self.adopted.clone().filter(|_| keep_adopted),
            other_fields: self.other_fields.clone(),
        }
    }

    /// Serializes the value for `PutSecretValue`.
    pub fn to_secret_string(&self) -> SecretString {
        let mut fields = self.other_fields.clone();
        fields.insert(
            USER_NAME.into(),
            Value::String(self.user_name.as_str().into()),
        );
        if let Some(account) = &self.account {
            fields.insert(ACCOUNT_ID.into(), Value::String(account.as_str().into()));
        }
        if let Some(adopted) = &self.adopted {
            fields.insert(
                ADOPT_ACCESS_KEY_ID.into(),
                Value::String(adopted.as_str().into()),
            );
        }
        if let Some(key) = &self.key {
            fields.insert(
                ACCESS_KEY_ID.into(),
                Value::String(key.access_key_id.as_str().into()),
            );
            fields.insert(
                SECRET_ACCESS_KEY.into(),
                Value::String(key.secret_access_key.expose().into()),
            );
        }
        SecretString(Value::Object(fields).to_string())
    }

    /// The id of the key this value holds, if any.
    pub fn access_key_id(&self) -> Option<&AccessKeyId> {
        self.key.as_ref().map(|key| &key.access_key_id)
    }

    /// The adopted key still to be retired: `AdoptAccessKeyId` when it is not the key the
    /// value holds (`rotator adopt --with-secret` stores the adopted pair itself, which is
    /// then simply the current key).
    pub fn adopted_other(&self) -> Option<&AccessKeyId> {
        self.adopted
            .as_ref()
            .filter(|adopted| Some(*adopted) != self.access_key_id())
    }
}

fn take_string(
    fields: &mut Map<String, Value>,
    field: &'static str,
) -> Result<Option<String>, SecretValueError> {
    match fields.remove(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Err(SecretValueError::InvalidField(format!(
            "the field `{field}` must not be empty"
        ))),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(other) => Err(SecretValueError::NotAString {
            field,
            found: json_kind(&other),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";

    fn parse(text: &str) -> Result<SecretValue, SecretValueError> {
        SecretValue::parse(&SecretString::new(text))
    }

    #[test]
    fn a_value_with_only_a_user_is_valid() {
        let value = parse(r#"{"UserName":"alice"}"#).unwrap();
        assert_eq!(value.user_name.as_str(), "alice");
        assert_eq!(value.key, None);
    }

    #[test]
    fn other_fields_survive_a_new_key() {
        let value = parse(&format!(
            r#"{{"UserName":"alice","AccessKeyId":"AKIAOLDOLDOLDOLD0001","SecretAccessKey":"{SECRET}","Team":"payments","Nested":{{"a":[1,2]}}}}"#
        ))
        .unwrap();
        let renewed = value.with_key(
            KeyPair {
                access_key_id: AccessKeyId::new("AKIANEWNEWNEWNEW0002").unwrap(),
                secret_access_key: SecretAccessKey::new("new-secret"),
            },
            false,
        );
        let reparsed = SecretValue::parse(&renewed.to_secret_string()).unwrap();
        assert_eq!(reparsed.other_fields, value.other_fields);
        assert_eq!(reparsed.other_fields["Team"], "payments");
        assert_eq!(
            reparsed.access_key_id().unwrap().as_str(),
            "AKIANEWNEWNEWNEW0002"
        );
        assert_eq!(
            reparsed.key.unwrap().secret_access_key.expose(),
            "new-secret"
        );
    }

    #[test]
    fn an_account_id_is_kept_in_every_new_version() {
        let value = parse(r#"{"UserName":"alice","AccountId":"111122223333"}"#).unwrap();
        assert_eq!(
            value.account.as_ref().map(AccountId::as_str),
            Some("111122223333")
        );
        let renewed = value.with_key(
            KeyPair {
                access_key_id: AccessKeyId::new("AKIANEWNEWNEWNEW0002").unwrap(),
                secret_access_key: SecretAccessKey::new("new-secret"),
            },
            false,
        );
        let reparsed = SecretValue::parse(&renewed.to_secret_string()).unwrap();
        assert_eq!(reparsed.account, value.account);
        assert!(reparsed.other_fields.is_empty());
    }

    #[test]
    fn secret_material_never_prints() {
        let value = parse(&format!(
            r#"{{"UserName":"alice","AccessKeyId":"AKIAOLDOLDOLDOLD0001","SecretAccessKey":"{SECRET}"}}"#
        ))
        .unwrap();
        let key = value.key.clone().unwrap();
        for printed in [
            format!("{value:?}"),
            format!("{key:?}"),
            format!("{}", key.secret_access_key),
            format!("{:?}", value.to_secret_string()),
            format!("{}", value.to_secret_string()),
        ] {
            assert!(!printed.contains(SECRET), "{printed}");
        }
        assert!(format!("{value:?}").contains("AKIAOLDOLDOLDOLD0001"));
    }

    #[test]
    fn bad_values_are_named_without_quoting_them() {
        let cases = [
            (
                format!("{{\"UserName\":\"alice\",\"SecretAccessKey\":\"{SECRET}\""),
                "not JSON",
            ),
            ("[]".to_owned(), "must be a JSON object, not an array"),
            ("{}".to_owned(), "no `UserName`"),
            (r#"{"UserName":""}"#.to_owned(), "must not be empty"),
            (
                r#"{"UserName":42}"#.to_owned(),
                "`UserName` must be a string, not a number",
            ),
            (
                format!(r#"{{"UserName":"alice","SecretAccessKey":"{SECRET}"}}"#),
                "`SecretAccessKey` without `AccessKeyId`",
            ),
            (
                r#"{"UserName":"alice","AccessKeyId":"AKIAOLDOLDOLDOLD0001"}"#.to_owned(),
                "`AccessKeyId` without `SecretAccessKey`",
            ),
            (
                format!(
                    r#"{{"UserName":"alice","AccessKeyId":"not a key","SecretAccessKey":"{SECRET}"}}"#
                ),
                "is not an access key id",
            ),
            (
                r#"{"UserName":"alice","AccountId":"1111-2222-3333"}"#.to_owned(),
                "is not an AWS account id (12 digits",
            ),
            (
                format!(r#"{{"UserName":"alice","AccountId":"{SECRET}"}}"#),
                "AccountId is not an AWS account id",
            ),
            (
                r#"{"UserName":"alice","AccountId":111122223333}"#.to_owned(),
                "`AccountId` must be a string, not a number",
            ),
        ];
        for (text, expected) in cases {
            let error = parse(&text).unwrap_err().to_string();
            assert!(error.contains(expected), "{text}: {error}");
            assert!(!error.contains(SECRET), "{error}");
        }
    }
}
