//! What a warm function process remembers between the steps of one rotation, to spare requests:
//! secret values by version, and the user's tags as createSecret left them.
//!
//! Secrets Manager's four steps of a rotation usually reach the same warm process seconds apart.
//! What is remembered here is never the only way to know it: a step that finds nothing (a cold
//! start, another instance, an entry too old) reads it from AWS, as every step did before.
//!
//! - A version's value never changes once written: Secrets Manager refuses a second
//!   `PutSecretValue` with the same `ClientRequestToken` and another value ([PutSecretValue,
//!   "ClientRequestToken"](https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_PutSecretValue.html)).
//!   A step finds a version through the stages of its own `DescribeSecret`, and a value is kept
//!   only when it was read pinned to its version id, or written by this process under that id.
//! - The user's tags as createSecret left them (what it listed, less what it removed, plus what
//!   it wrote) stand in for finishSecret's listing of the same tags. Only the rotator writes its
//!   ledger tags, and while the token holds `AWSPENDING` no other rotation of the secret can
//!   start ([RotateSecret](https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_RotateSecret.html)),
//!   so nothing else writes this secret's tags in between. They are taken once, and only within
//!   `TAGS_TRUSTED_FOR` of their writing: a retried or delayed finishSecret lists the tags afresh.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use crate::ports::{EpochSecs, Tag};
use crate::secret_value::SecretString;

/// How many secret values a process keeps: the versions of the rotations in flight on it.
const VALUES_KEPT: usize = 256;
/// How many createSecret tag snapshots a process keeps.
const TAG_SNAPSHOTS_KEPT: usize = 64;
/// How long finishSecret trusts createSecret's tags: Lambda's longest invocation. Steps of one
/// rotation normally follow each other within seconds.
const TAGS_TRUSTED_FOR: EpochSecs = 15 * 60;

/// A secret's version, by the secret's ARN (which changes when the secret is created again
/// under its name) and the version id.
type VersionKey = (String, String);

/// A rotation, by the secret's ARN and the token.
type RotationKey = (String, String);

/// The warm process's memory, shared by the clones of one `Rotator`.
#[derive(Debug, Clone, Default)]
pub(crate) struct WarmMemory {
    inner: Arc<Mutex<Remembered>>,
}

#[derive(Debug, Default)]
struct Remembered {
    values: VecDeque<(VersionKey, SecretString)>,
    tags: VecDeque<(RotationKey, EpochSecs, Vec<Tag>)>,
}

impl WarmMemory {
    fn lock(&self) -> std::sync::MutexGuard<'_, Remembered> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The value of version `version_id` of the secret `arn`, when this process has it.
    pub(crate) fn value(&self, arn: &str, version_id: &str) -> Option<SecretString> {
        self.lock()
            .values
            .iter()
            .find(|((a, v), _)| a == arn && v == version_id)
            .map(|(_, value)| value.clone())
    }

    /// Keeps the value of version `version_id` of the secret `arn`.
    pub(crate) fn keep_value(&self, arn: &str, version_id: &str, value: &SecretString) {
        let mut remembered = self.lock();
        if remembered
            .values
            .iter()
            .any(|((a, v), _)| a == arn && v == version_id)
        {
            return;
        }
        if remembered.values.len() == VALUES_KEPT {
            remembered.values.pop_front();
        }
        remembered
            .values
            .push_back(((arn.to_owned(), version_id.to_owned()), value.clone()));
    }

    /// Keeps the user's tags as createSecret of rotation `token` of the secret `arn` left them
    /// at `now`.
    pub(crate) fn keep_tags(&self, arn: &str, token: &str, now: EpochSecs, tags: Vec<Tag>) {
        let mut remembered = self.lock();
        remembered
            .tags
            .retain(|((a, t), _, _)| !(a == arn && t == token));
        if remembered.tags.len() == TAG_SNAPSHOTS_KEPT {
            remembered.tags.pop_front();
        }
        remembered
            .tags
            .push_back(((arn.to_owned(), token.to_owned()), now, tags));
    }

    /// Takes the tags that createSecret of this rotation left, when it ran in this process less
    /// than `TAGS_TRUSTED_FOR` before `now`. Taken once: a later delivery lists them afresh.
    pub(crate) fn take_tags(&self, arn: &str, token: &str, now: EpochSecs) -> Option<Vec<Tag>> {
        let mut remembered = self.lock();
        let index = remembered
            .tags
            .iter()
            .position(|((a, t), _, _)| a == arn && t == token)?;
        let (_, at, tags) = remembered.tags.remove(index)?;
        (now.saturating_sub(at) < TAGS_TRUSTED_FOR).then_some(tags)
    }
}

/// `tags` after `UntagUser(removed)` and then `TagUser(written)`, as IAM applies them: a written
/// key replaces the value of a tag with the same key.
pub(crate) fn tags_after(tags: &[Tag], removed: &[String], written: &[Tag]) -> Vec<Tag> {
    let mut after: Vec<Tag> = tags
        .iter()
        .filter(|tag| !removed.contains(&tag.key))
        .filter(|tag| !written.iter().any(|new| new.key == tag.key))
        .cloned()
        .collect();
    after.extend(written.iter().cloned());
    after
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tag(key: &str, value: &str) -> Tag {
        Tag {
            key: key.into(),
            value: value.into(),
        }
    }

    #[test]
    fn a_value_is_found_only_by_its_secret_and_version() {
        let memory = WarmMemory::default();
        memory.keep_value("arn:a", "v1", &SecretString::new("one"));
        assert_eq!(
            memory.value("arn:a", "v1").map(|v| v.expose().to_owned()),
            Some("one".into())
        );
        assert!(memory.value("arn:a", "v2").is_none());
        assert!(memory.value("arn:b", "v1").is_none());
    }

    #[test]
    fn the_oldest_values_make_room_for_new_ones() {
        let memory = WarmMemory::default();
        for n in 0..=VALUES_KEPT {
            memory.keep_value("arn:a", &n.to_string(), &SecretString::new("x"));
        }
        assert!(memory.value("arn:a", "0").is_none());
        assert!(memory.value("arn:a", "1").is_some());
        assert!(memory.value("arn:a", &VALUES_KEPT.to_string()).is_some());
    }

    #[test]
    fn tags_are_taken_once_and_only_while_fresh() {
        let memory = WarmMemory::default();
        memory.keep_tags("arn:a", "t1", 1_000, vec![tag("k", "v")]);
        assert!(memory.take_tags("arn:a", "t2", 1_001).is_none());
        assert_eq!(
            memory.take_tags("arn:a", "t1", 1_001),
            Some(vec![tag("k", "v")])
        );
        assert!(memory.take_tags("arn:a", "t1", 1_002).is_none());
        memory.keep_tags("arn:a", "t1", 1_000, vec![tag("k", "v")]);
        assert!(
            memory
                .take_tags("arn:a", "t1", 1_000 + TAGS_TRUSTED_FOR)
                .is_none()
        );
    }

    #[test]
    fn tags_after_removes_then_writes_as_iam_does() {
        let before = [tag("a", "1"), tag("b", "2"), tag("c", "3")];
        let after = tags_after(
            &before,
            &["b".to_owned()],
            &[tag("c", "new"), tag("d", "4")],
        );
        assert_eq!(after, vec![tag("a", "1"), tag("c", "new"), tag("d", "4")]);
    }
}
