//! The rotator's records in IAM user tags: which token meant to create a key, and which key
//! each token created, so that a retry after a crash or a lost answer recognises its own
//! unrecorded key.
//!
//! The ledger is per secret: every tag value starts with a short digest of the secret's ARN,
//! and a key that another secret's rotation recorded is, for this secret, a key it does not
//! know. Two kinds of tag, both in the rotator's own `rotator:` namespace (a console
//! description is a tag named after the access key id, so it can never be read as a record):
//! - the intent `rotator:intent:<token>` = `<digest>/<epoch secs>/<attempts>/<until>[/<key id>...]`,
//!   written before `CreateAccessKey`, listing the keys the user had at the first attempt,
//!   counting the attempts whose `CreateAccessKey` may have created a key, and, once the
//!   attempt is over, until when a key of its own can have been created (`-` while open);
//! - the key record `rotator:key:<access key id>` = `<digest>/<token>`, written right after it;
//! - the adoption record `rotator:key:<access key id>` = `<digest>/adopted`, written by the
//!   first step that sees the secret's value adopt that key (contract §10), so that for every
//!   other secret the adopted key is one it does not know.

use std::collections::{BTreeMap, BTreeSet};

use crate::ports::{AccessKeyInfo, EpochSecs, Tag};
use crate::types::{AccessKeyId, ClientRequestToken};

const INTENT_PREFIX: &str = "rotator:intent:";
const RECORD_PREFIX: &str = "rotator:key:";
/// What an adoption record holds in place of a token (tokens are UUIDs: they never read so).
pub const ADOPTED: &str = "adopted";

/// The most keys an intent lists as the user's before it (`Intent::prior_keys`): with the
/// digest, the times and the attempts, eight 20-character ids keep the tag's value within
/// IAM's 256 characters.
pub const MAX_PRIOR_KEYS: usize = 8;

/// IAM allows tag values of up to 256 characters.
pub const MAX_TAG_VALUE_CHARS: usize = 256;

/// IAM allows 50 tags per user.
pub const MAX_TAGS_PER_USER: usize = 50;

/// How long before its intent a key may have been created and still be the intent's own: the
/// clock skew between the function and IAM (both NTP-synchronised), and IAM's creation dates
/// being whole seconds. Kept short, because a person's key created within this margin before
/// the intent, and not listed yet by IAM, is indistinguishable from the rotator's own.
pub const SKEW_SECS: u64 = 5;
/// How long after its intent a key may have been created and still be the intent's own: one
/// Lambda invocation lasts at most 15 minutes. Within this window an intent is kept even when
/// no key of its own is listed, because IAM may not list a new key yet.
pub const WINDOW_SECS: u64 = 900 + SKEW_SECS;

/// A short, stable digest of a secret's ARN that marks the secret's own tags (FNV-1a, 64 bits).
///
/// The digest leaves out the six random characters that Secrets Manager appends to every
/// secret's ARN (`...:secret:IamKeyRotator/alice-AbCdEf`): a secret deleted and created again
/// under the same name (a rolled-back first deployment, then a new one) gets another ARN, and
/// must still recognise the keys that its predecessor's rotations recorded, or its first
/// rotation finds no room beside them.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SecretDigest(String);

impl SecretDigest {
    pub fn of(arn: &str) -> Self {
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for byte in without_random_suffix(arn).bytes() {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
        Self(format!("{hash:016x}"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A secret's ARN without the `-` and six random characters that Secrets Manager appends to
/// the name; anything that is not a secret's ARN is returned as it is.
fn without_random_suffix(arn: &str) -> &str {
    let is_secret_arn = arn.starts_with("arn:") && arn.split(':').nth(5) == Some("secret");
    match arn.rsplit_once('-') {
        Some((stem, suffix))
            if is_secret_arn
                && suffix.len() == 6
                && suffix.bytes().all(|b| b.is_ascii_alphanumeric()) =>
        {
            stem
        }
        _ => arn,
    }
}

/// A token's intent to create a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Intent {
    pub at: EpochSecs,
    /// How many deliveries sent `CreateAccessKey` for the token without a refusal from IAM.
    pub attempts: u32,
    /// The latest time a key of this intent can have been created, once the last attempt is
    /// over; `None` while an attempt may still be running (or died without saying).
    pub until: Option<EpochSecs>,
    pub prior_keys: Vec<AccessKeyId>,
}

impl Intent {
    /// Whether IAM may still be catching up with a key created for this intent.
    pub fn window_open(&self, now: EpochSecs) -> bool {
        now <= self.at + WINDOW_SECS
    }

    /// The last second in which a key of this intent can have been created.
    pub fn window_end(&self) -> EpochSecs {
        self.until.unwrap_or(self.at + WINDOW_SECS)
    }

    /// The same intent, closed at `now`: no key created later is its own.
    pub fn closed_at(&self, now: EpochSecs) -> Self {
        Intent {
            until: Some(now + SKEW_SECS),
            ..self.clone()
        }
    }
}

/// The rotator's tags on one user, parsed for one secret.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ledger {
    /// This secret's intents, by token.
    pub intents: BTreeMap<String, Intent>,
    /// The token each key recorded by this secret was created for.
    pub records: BTreeMap<AccessKeyId, String>,
    /// Keys that another secret's rotation recorded: for this secret, keys it does not know.
    pub foreign: BTreeSet<AccessKeyId>,
    /// Of those, the keys another secret adopted, with that secret's digest: no other secret
    /// may adopt them, make room with them or retire them (contract §10).
    pub foreign_adopted: BTreeMap<AccessKeyId, SecretDigest>,
    /// Other secrets' intents that may still claim a key created now: their attempt is running
    /// or ended without saying when, and no record tells their key.
    pub foreign_open: Vec<(String, Intent)>,
    /// Keys that carry a description (an IAM console description tag): a person's keys,
    /// never taken for the rotator's.
    pub described: BTreeSet<AccessKeyId>,
}

impl Ledger {
    /// Reads the rotator's tags of the secret `digest` and ignores every other tag.
    pub fn from_tags(tags: &[Tag], digest: &SecretDigest) -> Self {
        let mut ledger = Ledger::default();
        let mut foreign_intents = Vec::new();
        let mut foreign_tokens = BTreeSet::new();
        for tag in tags {
            if let Some(token) = tag.key.strip_prefix(INTENT_PREFIX) {
                match own(&tag.value, digest) {
                    Some(rest) => {
                        if let Some(intent) = parse_intent(rest) {
                            ledger.intents.insert(token.to_owned(), intent);
                        }
                    }
                    None => {
                        let rest = tag.value.split_once('/').map(|(_, rest)| rest);
                        if let Some(intent) = rest.and_then(parse_intent) {
                            foreign_intents.push((token.to_owned(), intent));
                        }
                    }
                }
            } else if let Some(key) = tag.key.strip_prefix(RECORD_PREFIX) {
                let Ok(key) = AccessKeyId::new(key) else {
                    continue;
                };
                match own(&tag.value, digest) {
                    Some(token) => {
                        ledger.records.insert(key, token.to_owned());
                    }
                    None => {
                        match tag.value.split_once('/') {
                            Some((holder, ADOPTED)) => {
                                ledger
                                    .foreign_adopted
                                    .insert(key.clone(), SecretDigest(holder.to_owned()));
                            }
                            Some((_, token)) => {
                                foreign_tokens.insert(token.to_owned());
                            }
                            None => {}
                        }
                        ledger.foreign.insert(key);
                    }
                }
            } else if let Ok(key) = AccessKeyId::new(tag.key.as_str()) {
                ledger.described.insert(key);
            }
        }
        ledger.foreign_open = foreign_intents
            .into_iter()
            .filter(|(token, intent)| !(intent.attempts <= 1 && foreign_tokens.contains(token)))
            .collect();
        ledger
    }

    /// Another secret's intent that could take a key created at `now` for its own: while one
    /// is open, this secret must not create a key (its window would cover it).
    pub fn blocking_intent(&self, now: EpochSecs) -> Option<&(String, Intent)> {
        self.foreign_open
            .iter()
            .find(|(_, intent)| intent.window_end() + SKEW_SECS >= now)
    }

    /// The token of this secret that created `key`, by its record or, failing that, by an
    /// intent whose window it falls in and that did not know it already.
    pub fn owner_of(&self, key: &AccessKeyInfo) -> Option<&str> {
        if let Some(token) = self.records.get(&key.id) {
            return Some(token);
        }
        if self.foreign.contains(&key.id) || self.described.contains(&key.id) {
            return None;
        }
        let created = key.created?;
        self.intents
            .iter()
            .find(|(token, intent)| {
                // A token that sent CreateAccessKey once and recorded its key has no other key.
                let single_recorded =
                    intent.attempts <= 1 && self.records.values().any(|owner| owner == *token);
                !single_recorded
                    && !intent.prior_keys.contains(&key.id)
                    && created + SKEW_SECS >= intent.at
                    && created <= intent.window_end()
            })
            .map(|(token, _)| token.as_str())
    }

    /// The token of this secret that created `key` for a rotation that never completed (its
    /// intent is still there): such a key's value was never used, and it may go. A key whose
    /// rotation completed keeps its record (the secret held it), but is not taken for an
    /// abandoned one: its retirement is the old-key policy's and the sweep's.
    pub fn abandoned_owner(&self, key: &AccessKeyInfo) -> Option<&str> {
        self.owner_of(key)
            .filter(|token| self.intents.contains_key(*token))
    }

    /// Whether `token` has a recorded key.
    pub fn has_record(&self, token: &str) -> bool {
        self.records.values().any(|owner| owner == token)
    }

    /// Whether this secret's ledger records its adoption of `key`.
    pub fn adopted(&self, key: &AccessKeyId) -> bool {
        self.records.get(key).is_some_and(|owner| owner == ADOPTED)
    }
}

/// The record of this secret's adoption of `key` (contract §10).
pub fn adoption_tag(digest: &SecretDigest, key: &AccessKeyId) -> Tag {
    Tag {
        key: record_tag_key(key),
        value: format!("{}/{ADOPTED}", digest.as_str()),
    }
}

/// The tag written before creating a key for `token`.
pub fn intent_tag(digest: &SecretDigest, token: &ClientRequestToken, intent: &Intent) -> Tag {
    let until = intent
        .until
        .map_or_else(|| "-".to_owned(), |until| until.to_string());
    let mut value = format!(
        "{}/{}/{}/{until}",
        digest.as_str(),
        intent.at,
        intent.attempts
    );
    // IAM refuses a tag value over 256 characters: the bound holds whatever the ids' length.
    for key in intent.prior_keys.iter().take(MAX_PRIOR_KEYS) {
        if value.len() + 1 + key.as_str().len() > MAX_TAG_VALUE_CHARS {
            break;
        }
        value.push('/');
        value.push_str(key.as_str());
    }
    Tag {
        key: intent_tag_key(token.as_str()),
        value,
    }
}

/// The tag written right after creating `key` for `token`.
pub fn record_tag(digest: &SecretDigest, token: &ClientRequestToken, key: &AccessKeyId) -> Tag {
    Tag {
        key: record_tag_key(key),
        value: format!("{}/{token}", digest.as_str()),
    }
}

pub fn intent_tag_key(token: &str) -> String {
    format!("{INTENT_PREFIX}{token}")
}

pub fn record_tag_key(key: &AccessKeyId) -> String {
    format!("{RECORD_PREFIX}{key}")
}

/// The rest of a tag value after this secret's digest, or `None` for another secret's tag.
fn own<'a>(value: &'a str, digest: &SecretDigest) -> Option<&'a str> {
    value.strip_prefix(digest.as_str())?.strip_prefix('/')
}

fn parse_intent(value: &str) -> Option<Intent> {
    let mut parts = value.split('/');
    let at = parts.next()?.parse().ok()?;
    let attempts = parts.next()?.parse().ok()?;
    let until = match parts.next()? {
        "-" => None,
        until => Some(until.parse().ok()?),
    };
    let prior_keys = parts
        .map(AccessKeyId::new)
        .collect::<Result<Vec<_>, _>>()
        .ok()?;
    Some(Intent {
        at,
        attempts,
        until,
        prior_keys,
    })
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

    fn mine() -> SecretDigest {
        SecretDigest::of("arn:aws:secretsmanager:us-east-1:123456789012:secret:a/alice-AbCdEf")
    }

    fn theirs() -> SecretDigest {
        SecretDigest::of("arn:aws:secretsmanager:us-east-1:123456789012:secret:b/alice-GhIjKl")
    }

    #[test]
    fn a_secret_created_again_under_its_name_keeps_its_digest() {
        let first = "arn:aws:secretsmanager:us-east-1:123456789012:secret:a/alice-AbCdEf";
        let again = "arn:aws:secretsmanager:us-east-1:123456789012:secret:a/alice-Zz9Yx8";
        assert_eq!(SecretDigest::of(first), SecretDigest::of(again));
        assert_eq!(SecretDigest::of(first), mine());
        for other in [
            "arn:aws:secretsmanager:us-east-1:123456789012:secret:a/alicx-AbCdEf",
            "arn:aws:secretsmanager:us-east-1:111122223333:secret:a/alice-AbCdEf",
            "arn:aws:secretsmanager:eu-west-1:123456789012:secret:a/alice-AbCdEf",
        ] {
            assert_ne!(SecretDigest::of(other), mine(), "{other}");
        }
        // A name whose own last part looks like a suffix keeps it apart from the shorter name.
        assert_ne!(
            SecretDigest::of(
                "arn:aws:secretsmanager:us-east-1:123456789012:secret:a/alice-123456-AbCdEf"
            ),
            mine()
        );
    }

    fn intent(at: EpochSecs, attempts: u32, prior: &[AccessKeyId]) -> Intent {
        Intent {
            at,
            attempts,
            until: None,
            prior_keys: prior.to_vec(),
        }
    }

    #[test]
    fn digests_are_short_stable_and_distinct() {
        assert_eq!(mine().as_str().len(), 16);
        assert_eq!(mine(), mine());
        assert_ne!(mine(), theirs());
    }

    #[test]
    fn tags_round_trip_and_foreign_tags_are_ignored() {
        let tags = vec![
            intent_tag(&mine(), &token(1), &intent(1_000, 1, &[key_id(7)])),
            record_tag(&mine(), &token(1), &key_id(8)),
            record_tag(&theirs(), &token(2), &key_id(9)),
            intent_tag(&theirs(), &token(2), &intent(1_000, 1, &[])),
            Tag {
                key: key_id(7).as_str().into(),
                value: "rotator:laptop key of alice".into(),
            },
            Tag {
                key: "team".into(),
                value: "rotator:payments".into(),
            },
        ];
        let ledger = Ledger::from_tags(&tags, &mine());
        assert_eq!(
            ledger.intents[token(1).as_str()],
            intent(1_000, 1, &[key_id(7)])
        );
        assert_eq!(
            ledger.intents.len(),
            1,
            "another secret's intent is not ours"
        );
        assert_eq!(ledger.records.len(), 1);
        assert_eq!(ledger.records[&key_id(8)], token(1).as_str());
        assert!(ledger.foreign.contains(&key_id(9)));
        // A description is a person's, whatever its text says.
        assert!(ledger.described.contains(&key_id(7)));
    }

    #[test]
    fn an_unrecorded_key_belongs_to_the_intent_whose_window_it_falls_in() {
        let ledger = Ledger::from_tags(
            &[intent_tag(
                &mine(),
                &token(1),
                &intent(10_000, 1, &[key_id(7)]),
            )],
            &mine(),
        );
        assert_eq!(ledger.owner_of(&key(8, 10_001)), Some(token(1).as_str()));
        // A key the intent already listed is not its own.
        assert_eq!(ledger.owner_of(&key(7, 10_001)), None);
        // Keys created long before or after the intent are someone else's.
        assert_eq!(ledger.owner_of(&key(9, 1_000)), None);
        assert_eq!(ledger.owner_of(&key(9, 10_000 + 5_000)), None);
        // Another secret's intent claims nothing for this one.
        let other = Ledger::from_tags(
            &[intent_tag(&theirs(), &token(1), &intent(10_000, 1, &[]))],
            &mine(),
        );
        assert_eq!(other.owner_of(&key(8, 10_001)), None);
        // Without a creation date only a record can tell.
        let undated = AccessKeyInfo {
            created: None,
            ..key(8, 0)
        };
        assert_eq!(ledger.owner_of(&undated), None);
    }

    #[test]
    fn a_recorded_token_claims_other_keys_only_after_several_attempts() {
        let once = Ledger::from_tags(
            &[
                intent_tag(&mine(), &token(1), &intent(10_000, 1, &[])),
                record_tag(&mine(), &token(1), &key_id(8)),
            ],
            &mine(),
        );
        assert_eq!(once.owner_of(&key(9, 10_002)), None);
        // A second attempt means the first one's answer was lost: its key is an orphan.
        let twice = Ledger::from_tags(
            &[
                intent_tag(&mine(), &token(1), &intent(10_000, 2, &[])),
                record_tag(&mine(), &token(1), &key_id(8)),
            ],
            &mine(),
        );
        assert_eq!(twice.owner_of(&key(9, 10_002)), Some(token(1).as_str()));
    }

    #[test]
    fn a_closed_intent_claims_no_later_key_and_blocks_no_other_secret_after_it() {
        let closed = intent(10_000, 1, &[]).closed_at(10_003);
        let tags = [intent_tag(&theirs(), &token(1), &closed)];
        let mine_view = Ledger::from_tags(&tags, &mine());
        assert!(mine_view.blocking_intent(10_005).is_some());
        assert!(mine_view.blocking_intent(10_020).is_none());
        let theirs_view = Ledger::from_tags(&tags, &theirs());
        assert_eq!(theirs_view.intents[token(1).as_str()], closed);
        assert_eq!(
            theirs_view.owner_of(&key(8, 10_002)),
            Some(token(1).as_str())
        );
        assert_eq!(theirs_view.owner_of(&key(8, 10_100)), None);
        // An open intent blocks for its whole window.
        let open = Ledger::from_tags(
            &[intent_tag(&theirs(), &token(2), &intent(10_000, 1, &[]))],
            &mine(),
        );
        assert!(open.blocking_intent(10_000 + WINDOW_SECS).is_some());
    }

    #[test]
    fn an_adoption_record_is_the_adopters_and_foreign_to_every_other_secret() {
        let tags = [adoption_tag(&theirs(), &key_id(5))];
        let holder = Ledger::from_tags(&tags, &theirs());
        assert!(holder.adopted(&key_id(5)));
        assert!(holder.foreign.is_empty());
        let other = Ledger::from_tags(&tags, &mine());
        assert!(other.foreign.contains(&key_id(5)));
        assert_eq!(other.foreign_adopted.get(&key_id(5)), Some(&theirs()));
        assert!(!other.adopted(&key_id(5)));
        // An adoption record claims no key for an intent, and opens no window.
        assert!(other.foreign_open.is_empty());
        assert_eq!(other.owner_of(&key(5, 10_000)), None);
    }
}
