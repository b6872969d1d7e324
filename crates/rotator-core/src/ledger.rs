//! The rotator's records in IAM user tags: which token meant to create a key, and which key
//! each token created, so that a retry after a crash recognises its own unrecorded key.
//!
//! Two kinds of tag, both removed when their key is deleted or their rotation completes:
//! - the intent `rotator:intent:<token>` = `<epoch secs>[/<key id>...]`, written before
//!   `CreateAccessKey`, listing the keys the user had at that moment;
//! - the key record `<access key id>` = `rotator:<token>`, written right after it (the IAM
//!   console keeps a key's description in a tag named after the key id, too).

use std::collections::{BTreeMap, BTreeSet};

use crate::ports::{AccessKeyInfo, EpochSecs, Tag};
use crate::types::{AccessKeyId, ClientRequestToken};

const INTENT_PREFIX: &str = "rotator:intent:";
const RECORD_PREFIX: &str = "rotator:";

/// How long before its intent a key may have been created and still be the intent's own
/// (clock skew between the function and IAM).
const SKEW_SECS: u64 = 300;
/// How long after its intent a key may have been created and still be the intent's own: one
/// Lambda invocation lasts at most 15 minutes.
const WINDOW_SECS: u64 = 900 + SKEW_SECS;

/// A token's intent to create a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Intent {
    pub at: EpochSecs,
    pub prior_keys: Vec<AccessKeyId>,
}

/// The rotator's tags on one user, parsed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ledger {
    /// Intents by token.
    pub intents: BTreeMap<String, Intent>,
    /// The token each recorded key was created for.
    pub records: BTreeMap<AccessKeyId, String>,
    /// Keys that carry a description of someone else's (an IAM console description tag): a
    /// person's keys, never taken for the rotator's.
    pub described: BTreeSet<AccessKeyId>,
}

impl Ledger {
    /// Reads the rotator's tags and ignores every other tag.
    pub fn from_tags(tags: &[Tag]) -> Self {
        let mut ledger = Ledger::default();
        for tag in tags {
            if let Some(token) = tag.key.strip_prefix(INTENT_PREFIX) {
                if let Some(intent) = parse_intent(&tag.value) {
                    ledger.intents.insert(token.to_owned(), intent);
                }
            } else if let Ok(key) = AccessKeyId::new(tag.key.as_str()) {
                if let Some(token) = tag.value.strip_prefix(RECORD_PREFIX) {
                    ledger.records.insert(key, token.to_owned());
                } else {
                    ledger.described.insert(key);
                }
            }
        }
        ledger
    }

    /// The token that created `key`, by its record or, failing that, by an intent whose
    /// window it falls in and that did not know it already.
    pub fn owner_of(&self, key: &AccessKeyInfo) -> Option<&str> {
        if let Some(token) = self.records.get(&key.id) {
            return Some(token);
        }
        if self.described.contains(&key.id) {
            return None;
        }
        let created = key.created?;
        self.intents
            .iter()
            .find(|(token, intent)| {
                // A token whose key is recorded has no unrecorded key.
                !self.records.values().any(|owner| owner == *token)
                    && !intent.prior_keys.contains(&key.id)
                    && created + SKEW_SECS >= intent.at
                    && created <= intent.at + WINDOW_SECS
            })
            .map(|(token, _)| token.as_str())
    }
}

/// The tag written before creating a key for `token`.
pub fn intent_tag(token: &ClientRequestToken, at: EpochSecs, prior_keys: &[AccessKeyId]) -> Tag {
    let mut value = at.to_string();
    for key in prior_keys {
        value.push('/');
        value.push_str(key.as_str());
    }
    Tag {
        key: intent_tag_key(token.as_str()),
        value,
    }
}

/// The tag written right after creating `key` for `token`.
pub fn record_tag(token: &ClientRequestToken, key: &AccessKeyId) -> Tag {
    Tag {
        key: key.as_str().to_owned(),
        value: format!("{RECORD_PREFIX}{token}"),
    }
}

pub fn intent_tag_key(token: &str) -> String {
    format!("{INTENT_PREFIX}{token}")
}

fn parse_intent(value: &str) -> Option<Intent> {
    let mut parts = value.split('/');
    let at = parts.next()?.parse().ok()?;
    let prior_keys = parts
        .map(AccessKeyId::new)
        .collect::<Result<Vec<_>, _>>()
        .ok()?;
    Some(Intent { at, prior_keys })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::KeyStatus;

    fn token(n: u8) -> ClientRequestToken {
        ClientRequestToken::new(format!("00000000-0000-0000-0000-0000000000{n:02}")).unwrap()
    }

    fn key_id(n: u8) -> AccessKeyId {
        AccessKeyId::new(format!("AKIAKEY{n:013}")).unwrap()
    }

    fn key(n: u8, created: EpochSecs) -> AccessKeyInfo {
        AccessKeyInfo {
            id: key_id(n),
            status: KeyStatus::Active,
            created: Some(created),
        }
    }

    #[test]
    fn tags_round_trip_and_foreign_tags_are_ignored() {
        let tags = vec![
            intent_tag(&token(1), 1_000, &[key_id(7)]),
            record_tag(&token(1), &key_id(8)),
            Tag {
                key: key_id(7).as_str().into(),
                value: "laptop key of alice".into(),
            },
            Tag {
                key: "team".into(),
                value: "rotator:payments".into(),
            },
        ];
        let ledger = Ledger::from_tags(&tags);
        assert_eq!(
            ledger.intents[token(1).as_str()],
            Intent {
                at: 1_000,
                prior_keys: vec![key_id(7)]
            }
        );
        assert_eq!(ledger.records.len(), 1);
        assert_eq!(ledger.records[&key_id(8)], token(1).as_str());
        assert!(ledger.described.contains(&key_id(7)));
    }

    #[test]
    fn an_unrecorded_key_belongs_to_the_intent_whose_window_it_falls_in() {
        let ledger = Ledger::from_tags(&[intent_tag(&token(1), 10_000, &[key_id(7)])]);
        assert_eq!(ledger.owner_of(&key(8, 10_001)), Some(token(1).as_str()));
        // A key the intent already listed is not its own.
        assert_eq!(ledger.owner_of(&key(7, 10_001)), None);
        // Keys created long before or after the intent are someone else's.
        assert_eq!(ledger.owner_of(&key(9, 1_000)), None);
        assert_eq!(ledger.owner_of(&key(9, 10_000 + 5_000)), None);
        // A key someone described in the console is a person's, whenever it was created.
        let described = Ledger::from_tags(&[
            intent_tag(&token(1), 10_000, &[key_id(7)]),
            Tag {
                key: key_id(8).as_str().into(),
                value: "laptop of alice".into(),
            },
        ]);
        assert_eq!(described.owner_of(&key(8, 10_001)), None);
        // Without a creation date only a record can tell.
        let undated = AccessKeyInfo {
            created: None,
            ..key(8, 0)
        };
        assert_eq!(ledger.owner_of(&undated), None);
    }
}
