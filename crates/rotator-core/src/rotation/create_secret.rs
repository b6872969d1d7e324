//! createSecret: one new access key for the bound user, stored as AWSPENDING, with the ledger
//! that lets a retry recognise a key whose value was never stored; `plan_room` and `plan_tags`
//! decide everything before anything changes.

use tracing::{info, warn};

use super::{
    AWSCURRENT, AWSPENDING, AWSPREVIOUS, Learnt, Outcome, Rotator, check_binding, ignore_not_found,
    warm,
};
use crate::config::OldKeyPolicy;
use crate::error::RotationError;
use crate::ledger::{self, Intent, Ledger, MAX_TAGS_PER_USER, SecretDigest};
use crate::notice;
use crate::ports::{AccessKeyInfo, EpochSecs, KeyStatus, PortErrorKind, SecretMetadata};
use crate::secret_value::{KeyPair, SecretValue};
use crate::sweep::rule::{Facts, PreviousKey, Windows, decide, may_go_now, rotated_at};
use crate::types::{AccessKeyId, RotationEvent, UserName};

/// IAM allows two access keys per user.
const MAX_KEYS_PER_USER: usize = 2;

impl Rotator {
    pub(super) async fn create_secret(
        &self,
        event: &RotationEvent,
        metadata: &SecretMetadata,
        learnt: &mut Learnt,
    ) -> Result<Outcome, RotationError> {
        let current = self.read_bound(event, metadata, AWSCURRENT, learnt).await?;
        let user = current.user_name.clone();
        // Whatever the pending value holds, its existence is enough: it is not parsed here.
        if self
            .fetch(event, metadata, AWSPENDING, true)
            .await?
            .is_some()
        {
            info!(token = %event.token, "the pending value is already stored: nothing to do");
            return Ok(Outcome::PendingExists);
        }
        let iam = &self.ports.iam;
        let keys = iam.list_access_keys(&user).await.map_err(|e| {
            if e.kind == PortErrorKind::NotFound {
                RotationError::UnknownUser(user.clone())
            } else {
                RotationError::port("ListAccessKeys")(e)
            }
        })?;
        let tags = iam
            .list_user_tags(&user)
            .await
            .map_err(RotationError::port("ListUserTags"))?;
        let digest = SecretDigest::of(&metadata.arn);
        let ledger = Ledger::from_tags(&tags, &digest);
        let now = self.ports.clock.now();
        // Another secret of this user may have created a key whose answer it lost: its ledger
        // would take a key created now for that one. Wait until its window has closed.
        if let Some((token, intent)) = ledger.blocking_intent(now) {
            return Err(RotationError::OtherSecretInDoubt {
                user: user.clone(),
                token: token.clone(),
                until: intent.window_end() + ledger::SKEW_SECS,
            });
        }
        let mut current = current;
        let adoption = self.check_adoption(&user, &current, &keys, &ledger).await?;
        if let Adoption::Gone(key) = &adoption {
            // Contract §10: an adopted key that no longer exists protects nothing. The new
            // value no longer names it, and finishSecret's notice says the adoption was dropped.
            warn!(key = %key, "the adopted key no longer exists: the adoption is dropped");
            current.adopted = None;
        }
        // An adoption this secret's ledger does not record yet is recorded with the intent, so
        // that for every other secret the key is one it does not know (contract §10).
        let adoption_record = match &adoption {
            Adoption::Standing(key) if !ledger.records.contains_key(key) => {
                Some(ledger::adoption_tag(&digest, key))
            }
            _ => None,
        };
        // Which key AWSPREVIOUS holds matters only when the user has a key besides AWSCURRENT's.
        let has_other_keys = keys
            .iter()
            .any(|key| Some(&key.id) != current.access_key_id());
        // The previous key: a key adopted beside the secret's own (contract §10: the adoption
        // counts as a rotation), else AWSPREVIOUS's. Only a key that this secret's own
        // rotations made (its ledger records it), or one it adopted, is the rotator's to
        // retire: a value written by hand may name a person's key.
        let mut record_removed = None;
        let previous_key = match current.adopted_other() {
            Some(adopted) if current.key.is_some() => Some(adopted.clone()),
            _ if has_other_keys => {
                let previous = self.previous_key(event, metadata).await?;
                // A key that the AWSPREVIOUS value adopted is the secret's only if no other
                // secret holds it (contract §10: an adoption in any version of the secret).
                match previous {
                    Some((key, true)) if ledger.foreign.contains(&key) => {
                        warn!(key = %key, "the AWSPREVIOUS value adopted a key that another secret holds: it is not this secret's to retire");
                        None
                    }
                    Some((key, true)) => Some(key),
                    Some((key, false)) if owned(&ledger, &key, "AWSPREVIOUS") => Some(key),
                    Some((key, false)) => {
                        // Contract §5: a listed previous key whose record a person removed is
                        // named with its fix when its room is needed.
                        if keys.iter().any(|k| k.id == key)
                            && !ledger.foreign.contains(&key)
                            && Some(&key) != current.access_key_id()
                        {
                            record_removed = Some(key);
                        }
                        None
                    }
                    None => None,
                }
            }
            _ => None,
        };
        // Under `grace`, an active previous key goes only once the sweep would retire it.
        let in_grace = match &previous_key {
            Some(key) if keys.len() >= MAX_KEYS_PER_USER => {
                self.grace_keeps(event, metadata, &user, &keys, current.access_key_id(), key)
                    .await?
            }
            _ => None,
        };
        let doomed = match plan_room(
            &user,
            &keys,
            &ledger,
            current.access_key_id(),
            previous_key.as_ref().map(|key| (key, in_grace.is_none())),
        ) {
            Err(RotationError::NoRoomForKey { .. }) if in_grace.is_some() => {
                return Err(in_grace.expect("checked"));
            }
            Err(RotationError::NoRoomForKey { .. }) if record_removed.is_some() => {
                return Err(RotationError::PreviousRecordRemoved {
                    user: user.clone(),
                    key: record_removed.expect("checked"),
                    secret: metadata.name.clone(),
                });
            }
            other => other?,
        };
        // The keys the user keeps, which the intent must never take for its own: those listed
        // and not doomed, and those that other secrets' records name, which IAM may not list
        // yet (at most a few: a user has two keys, and records go with their keys). A key
        // that a description tag names is never taken for the rotator's anyway
        // (`Ledger::owner_of`), and the console leaves a deleted key's description behind: such
        // tags could be many, and would overflow the intent's 256 characters.
        let mut kept: Vec<AccessKeyId> = keys
            .iter()
            .map(|k| k.id.clone())
            .filter(|id| !doomed.iter().any(|(gone, _)| gone == id))
            .collect();
        for id in &ledger.foreign {
            if !kept.contains(id) && kept.len() < ledger::MAX_PRIOR_KEYS {
                kept.push(id.clone());
            }
        }
        let tag_plan = plan_tags(&TagInputs {
            user: &user,
            tag_count: tags.len(),
            extra: usize::from(adoption_record.is_some()),
            ledger: &ledger,
            token: event.token.as_str(),
            listed: &keys,
            doomed: &doomed,
            kept: &kept,
            now,
        })?;

        // Nothing has changed so far. From here on, a key is deleted before its record goes,
        // and the intent is written before a key is created, so no key is ever unrecorded.
        for (key, reason) in &doomed {
            info!(user = %user, key = %key, reason, "deleting access key to make room");
            ignore_not_found(iam.delete_access_key(&user, key).await)
                .map_err(RotationError::port("DeleteAccessKey"))?;
        }
        if !tag_plan.stale.is_empty() {
            iam.untag_user(&user, &tag_plan.stale)
                .await
                .map_err(RotationError::port("UntagUser"))?;
        }
        let intent_tag = ledger::intent_tag(&digest, &event.token, &tag_plan.intent);
        // The intent once this attempt is over: no key created later is its own.
        let closed_intent_tag = || {
            let closed = tag_plan.intent.closed_at(self.ports.clock.now());
            ledger::intent_tag(&digest, &event.token, &closed)
        };
        let mut before_create = vec![intent_tag.clone()];
        before_create.extend(adoption_record.iter().cloned());
        iam.tag_user(&user, &before_create)
            .await
            .map_err(RotationError::port("TagUser"))?;
        let new_key = match iam.create_access_key(&user).await {
            Ok(key) => key,
            Err(error) => {
                // An error answer from IAM means no key was created: a new intent is withdrawn.
                // An intent kept for an earlier attempt's lost answer, or for this one's unknown
                // outcome (a lost answer, a timeout, a 5xx), stays for the next delivery, closed
                // now, so that it claims no key created later.
                let refused = error.kind != PortErrorKind::Service;
                if refused && tag_plan.intent_is_new {
                    self.withdraw(&user, vec![intent_tag.key.clone()]).await;
                } else if let Err(close_error) = iam.tag_user(&user, &[closed_intent_tag()]).await {
                    warn!(error = %close_error, "the intent could not be closed; it stays open until its window ends");
                }
                return Err(if error.kind == PortErrorKind::LimitExceeded {
                    RotationError::NoRoomForKey {
                        user: user.clone(),
                        keys: format!("IAM refused a new key ({error})"),
                    }
                } else {
                    RotationError::port("CreateAccessKey")(error)
                });
            }
        };
        info!(user = %user, key = %new_key.id, "created access key");
        let record_tags = [
            ledger::record_tag(&digest, &event.token, &new_key.id),
            closed_intent_tag(),
        ];
        let recorded = iam.tag_user(&user, &record_tags).await;
        if let Err(error) = recorded {
            // The key cannot be recorded: it is of no use, so it goes now if it can, with its
            // record in case the call took effect, and a new intent. If it cannot, the open
            // intent lets the next delivery find it.
            if iam.delete_access_key(&user, &new_key.id).await.is_ok() {
                let mut gone = vec![ledger::record_tag_key(&new_key.id)];
                if tag_plan.intent_is_new {
                    gone.push(intent_tag.key.clone());
                }
                self.withdraw(&user, gone).await;
            }
            return Err(RotationError::port("TagUser")(error));
        }
        // An adopted key beside the secret's own that this rotation did not delete stays
        // adopted: it is retired from the new version as from this one.
        let keep_adopted = current.key.is_some()
            && current.adopted_other().is_some_and(|adopted| {
                keys.iter().any(|k| &k.id == adopted)
                    && !doomed.iter().any(|(gone, _)| gone == adopted)
            });
        let pending = current.with_key(
            KeyPair {
                access_key_id: new_key.id.clone(),
                secret_access_key: new_key.secret,
            },
            keep_adopted,
        );
        self.store_pending(event, metadata, &pending).await?;
        info!(key = %new_key.id, token = %event.token, "stored the new key as AWSPENDING");
        // The user's tags as this step left them (the closed intent replaced the intent):
        // finishSecret, when it runs in this process, takes them instead of listing them again.
        let left = warm::tags_after(&tags, &tag_plan.stale, &record_tags);
        self.memory.keep_tags(
            &metadata.arn,
            event.token.as_str(),
            self.ports.clock.now(),
            left,
        );
        Ok(Outcome::KeyCreated(new_key.id))
    }

    /// Takes back ledger tags that no key of theirs outlived: an intent whose `CreateAccessKey`
    /// IAM refused, or the tags of a key that could not be recorded and was deleted. If that
    /// fails too, the tags stay until a later delivery's clean-up; the step fails either way.
    async fn withdraw(&self, user: &UserName, tags: Vec<String>) {
        match self.ports.iam.untag_user(user, &tags).await {
            Ok(()) => info!(?tags, "no key of these ledger tags remains: withdrew them"),
            Err(error) => {
                warn!(?tags, error = %error, "no key of these ledger tags remains, but they could not be withdrawn");
            }
        }
    }

    /// `PutSecretValue` of the pending value. Secrets Manager accepts the same token and value
    /// twice, but an error after the call took effect (a lost answer whose SDK retry was
    /// refused) is checked against what the version now holds.
    async fn store_pending(
        &self,
        event: &RotationEvent,
        metadata: &SecretMetadata,
        pending: &SecretValue,
    ) -> Result<(), RotationError> {
        let text = pending.to_secret_string();
        let Err(error) = self
            .ports
            .secrets
            .put_pending(
                &event.secret_id,
                &event.token,
                &text,
                event.rotation_token.as_ref(),
            )
            .await
        else {
            // The token's version now holds this text, for good.
            self.memory
                .keep_value(&metadata.arn, event.token.as_str(), &text);
            return Ok(());
        };
        if let Ok(Some(stored)) = self.read(event, metadata, AWSPENDING, true).await
            && stored.access_key_id() == pending.access_key_id()
        {
            info!(error = %error, "PutSecretValue failed, but the version holds the new key");
            return Ok(());
        }
        Err(RotationError::port("PutSecretValue")(error))
    }

    /// Under `grace`, the refusal to delete the active previous key `key` while the sweep
    /// would not retire it yet (contract §5): the rotation less than GRACE + USAGE_LAG ago, or
    /// the key used within that window, or the AWSCURRENT key not an active key of the user.
    /// `None`: it may go, or the policy is another. Reads the key's last use and the versions'
    /// creation times, only for an active previous key of a user at IAM's limit.
    async fn grace_keeps(
        &self,
        event: &RotationEvent,
        metadata: &SecretMetadata,
        user: &UserName,
        keys: &[AccessKeyInfo],
        current: Option<&AccessKeyId>,
        key: &AccessKeyId,
    ) -> Result<Option<RotationError>, RotationError> {
        let active = |id: &AccessKeyId| {
            keys.iter()
                .any(|k| &k.id == id && k.status == KeyStatus::Active)
        };
        if self.settings.old_key_policy != OldKeyPolicy::Grace || !active(key) {
            return Ok(None);
        }
        let last_use = match self.ports.iam.access_key_last_used(key).await {
            Ok(used) => used,
            Err(e) if e.kind == PortErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(RotationError::port("GetAccessKeyLastUsed")(e)),
        };
        let versions = self
            .ports
            .secrets
            .list_versions(&event.secret_id)
            .await
            .map_err(RotationError::port("ListSecretVersionIds"))?;
        let rotated = rotated_at(metadata, &versions);
        let facts = Facts {
            now: self.ports.clock.now(),
            rotation_in_progress: false,
            // createSecret runs for a new token: AWSPENDING is on its version.
            finish_incomplete: false,
            rotated_at: rotated,
            previous: PreviousKey::Listed {
                status: KeyStatus::Active,
                last_used: last_use.when,
            },
            current_usable: current.is_some_and(active),
        };
        let decision = decide(&facts, &Windows::from_settings(&self.settings));
        if may_go_now(decision) {
            return Ok(None);
        }
        Ok(Some(RotationError::PreviousKeyInGrace {
            user: user.clone(),
            key: key.clone(),
            rotated: rotated.map_or_else(|| "at an unknown time".to_owned(), notice::rfc3339),
            last_use: notice::describe_last_use(&last_use),
        }))
    }

    /// What the current value's `AdoptAccessKeyId` is (contract §10): refused, before anything
    /// changes, when another secret holds the key (its ledger records it, made or adopted) or
    /// the key is another user's; `Gone` when it no longer exists, which a ledger record of
    /// this secret's adoption proves for a key IAM no longer lists (a key never changes
    /// user), and IAM's `NoSuchEntity` answer to `GetAccessKeyLastUsed` for one never recorded.
    async fn check_adoption(
        &self,
        user: &UserName,
        current: &SecretValue,
        keys: &[AccessKeyInfo],
        ledger: &Ledger,
    ) -> Result<Adoption, RotationError> {
        let Some(adopted) = &current.adopted else {
            return Ok(Adoption::None);
        };
        let refused = |reason: String| RotationError::AdoptionRefused {
            key: adopted.clone(),
            reason,
        };
        if ledger.foreign.contains(adopted) {
            let how = if ledger.foreign_adopted.contains_key(adopted) {
                "another secret adopted it"
            } else {
                "another secret's rotations made it"
            };
            return Err(refused(format!(
                "{how} (its ledger records it): a key is held by one secret only"
            )));
        }
        if keys.iter().any(|k| &k.id == adopted) {
            return Ok(Adoption::Standing(adopted.clone()));
        }
        if ledger.adopted(adopted) {
            return Ok(Adoption::Gone(adopted.clone()));
        }
        match self.ports.iam.access_key_last_used(adopted).await {
            Err(e) if e.kind == PortErrorKind::NotFound => Ok(Adoption::Gone(adopted.clone())),
            Ok(used)
                if used
                    .owner
                    .as_deref()
                    .is_some_and(|owner| !owner.eq_ignore_ascii_case(user.as_str())) =>
            {
                Err(refused(format!(
                    "it is user {}'s access key, not user {user}'s",
                    used.owner.unwrap_or_default()
                )))
            }
            _ => Err(refused(format!(
                "it is not one of user {user}'s access keys"
            ))),
        }
    }

    /// The key in AWSPREVIOUS, when its value is the bound user's, and whether the value adopted
    /// it (`AdoptAccessKeyId` of a value that holds no key of its own, or names its own key):
    /// the first rotation after an adoption leaves the adopted key there. A previous value that
    /// no longer parses, or names another user or account, names no key: the rotator then
    /// simply does not count it as deletable.
    pub(super) async fn previous_key(
        &self,
        event: &RotationEvent,
        metadata: &SecretMetadata,
    ) -> Result<Option<(AccessKeyId, bool)>, RotationError> {
        if metadata.version_with_stage(AWSPREVIOUS).is_none() {
            return Ok(None);
        }
        match self.read(event, metadata, AWSPREVIOUS, false).await {
            Ok(Some(value)) => {
                if let Err(refused) = check_binding(metadata, &value, AWSPREVIOUS) {
                    warn!(error = %refused, "the AWSPREVIOUS value is not the bound user's; its key is not considered");
                    return Ok(None);
                }
                Ok(match (value.access_key_id(), &value.adopted) {
                    (Some(key), adopted) => Some((key.clone(), adopted.as_ref() == Some(key))),
                    (None, Some(adopted)) => Some((adopted.clone(), true)),
                    (None, None) => None,
                })
            }
            Ok(None) => Ok(None),
            Err(RotationError::InvalidValue { source, .. }) => {
                warn!(error = %source, "the AWSPREVIOUS value is invalid; its key is not considered");
                Ok(None)
            }
            Err(other) => Err(other),
        }
    }
}

/// What the current value's adoption turned out to be.
enum Adoption {
    /// The value adopts no key.
    None,
    /// The adopted key is one of the user's keys, and no other secret holds it.
    Standing(AccessKeyId),
    /// The adopted key no longer exists: the adoption is dropped.
    Gone(AccessKeyId),
}

/// Whether `key`, named by the `stage` value, is one that this secret's own rotations made:
/// its ledger records it. Logs a key it does not, which the rotator then never retires.
pub(super) fn owned(ledger: &Ledger, key: &AccessKeyId, stage: &str) -> bool {
    let recorded = ledger.records.contains_key(key);
    if !recorded {
        warn!(key = %key, stage, "the key is not one that the secret's rotations made (no ledger record): the rotator does not retire it");
    }
    recorded
}

/// Chooses the keys to delete before a new key is created: every key this secret's rotator
/// made for a token whose value was never used, then, while the user is at IAM's limit, the
/// AWSPREVIOUS key (when `previous` says it may go: not an active key still in its grace),
/// then an inactive key that is not AWSCURRENT. Fails, having changed nothing, when only the
/// AWSCURRENT key, a previous key that may not go, and unknown active keys remain.
pub(super) fn plan_room(
    user: &UserName,
    keys: &[AccessKeyInfo],
    ledger: &Ledger,
    current: Option<&AccessKeyId>,
    previous: Option<(&AccessKeyId, bool)>,
) -> Result<Vec<(AccessKeyId, &'static str)>, RotationError> {
    let deletable_previous = previous.and_then(|(key, may_go)| may_go.then_some(key));
    let previous = previous.map(|(key, _)| key);
    let mut doomed = Vec::new();
    let mut remaining = Vec::new();
    for key in keys {
        let is_current = Some(&key.id) == current;
        let is_previous = Some(&key.id) == previous;
        if !is_current && !is_previous && ledger.abandoned_owner(key).is_some() {
            doomed.push((
                key.id.clone(),
                "created by the rotator for a value never used",
            ));
        } else {
            remaining.push(key);
        }
    }
    while remaining.len() >= MAX_KEYS_PER_USER {
        let choice = remaining
            .iter()
            .position(|k| Some(&k.id) == deletable_previous && Some(&k.id) != current)
            .map(|i| (i, "the AWSPREVIOUS key"))
            .or_else(|| {
                remaining
                    .iter()
                    .position(|k| {
                        k.status == KeyStatus::Inactive
                            && Some(&k.id) != current
                            && !ledger.foreign_adopted.contains_key(&k.id)
                    })
                    .map(|i| (i, "an inactive key that is not AWSCURRENT"))
            });
        let Some((index, reason)) = choice else {
            let described: Vec<String> = remaining
                .iter()
                .map(|k| {
                    let role = if Some(&k.id) == current {
                        "AWSCURRENT"
                    } else if ledger.foreign_adopted.contains_key(&k.id) {
                        "adopted by another secret"
                    } else if ledger.foreign.contains(&k.id) {
                        "made by another secret's rotation"
                    } else {
                        "unknown to the secret"
                    };
                    format!("{} ({}, {role})", k.id, k.status)
                })
                .collect();
            return Err(RotationError::NoRoomForKey {
                user: user.clone(),
                keys: described.join(" and "),
            });
        };
        doomed.push((remaining.remove(index).id.clone(), reason));
    }
    Ok(doomed)
}

/// What `plan_tags` needs to know.
pub(super) struct TagInputs<'a> {
    pub user: &'a UserName,
    /// How many tags the user has, the rotator's and everyone else's.
    pub tag_count: usize,
    /// Tags written besides the intent and the key record (an adoption's record).
    pub extra: usize,
    pub ledger: &'a Ledger,
    pub token: &'a str,
    /// The keys IAM listed.
    pub listed: &'a [AccessKeyInfo],
    pub doomed: &'a [(AccessKeyId, &'static str)],
    /// The keys the user keeps: the intent's prior keys when it is new.
    pub kept: &'a [AccessKeyId],
    pub now: EpochSecs,
}

/// The tag changes of one createSecret, decided before any change.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct TagPlan {
    /// This secret's tags that no longer serve: removed after the doomed keys are gone.
    pub stale: Vec<String>,
    /// The intent to write before `CreateAccessKey`.
    pub intent: Intent,
    /// Whether this delivery is the token's first attempt.
    pub intent_is_new: bool,
}

/// Decides which of this secret's tags go, and what the token's intent says; fails, having
/// changed nothing, when the user has no room for the intent and the key record (IAM's tag
/// quota), so that a full user never gets a key that cannot be recorded.
pub(super) fn plan_tags(inputs: &TagInputs<'_>) -> Result<TagPlan, RotationError> {
    let TagInputs {
        ledger, token, now, ..
    } = *inputs;
    let listed = |key: &AccessKeyId| inputs.listed.iter().any(|k| &k.id == key);
    let doomed = |key: &AccessKeyId| inputs.doomed.iter().any(|(gone, _)| gone == key);

    // Intents of other tokens go once IAM must have caught up with them, or when the one key
    // they ever asked for is recorded and listed (the record, or its deletion, speaks for it).
    let mut kept_intents = Vec::new();
    let mut stale = Vec::new();
    for (other, intent) in &ledger.intents {
        if other == token {
            continue;
        }
        let settled = !intent.window_open(now);
        let recorded_and_seen = ledger.has_record(other)
            && ledger
                .records
                .iter()
                .all(|(key, owner)| owner != other || listed(key));
        if settled || (intent.attempts <= 1 && recorded_and_seen) {
            stale.push(ledger::intent_tag_key(other));
        } else {
            kept_intents.push(other.as_str());
        }
    }
    // Records go with their keys: when the key is doomed, or gone and no intent of its token
    // remains to explain a key IAM does not list yet. The record of a key that the secret
    // holds stays: it is how the rotator knows, later, that the key is its own to retire.
    for (key, owner) in &ledger.records {
        let owner_waits = owner == token || kept_intents.contains(&owner.as_str());
        if doomed(key) || (!listed(key) && !owner_waits) {
            stale.push(ledger::record_tag_key(key));
        }
    }
    let existing = ledger.intents.get(token);
    let (intent, intent_is_new) = match existing.filter(|earlier| earlier.window_open(now)) {
        // An earlier delivery sent CreateAccessKey and its answer was lost: the intent keeps
        // its time, so that the key it may have created stays its own, and now also knows the
        // keys others made since, which the reopened window would otherwise cover.
        Some(earlier) => {
            // The keys kept now first, then the earlier ones, within the intent's bound.
            let mut prior_keys = inputs.kept.to_vec();
            for key in &earlier.prior_keys {
                if !prior_keys.contains(key) {
                    prior_keys.push(key.clone());
                }
            }
            prior_keys.truncate(ledger::MAX_PRIOR_KEYS);
            (
                Intent {
                    attempts: earlier.attempts + 1,
                    until: None,
                    prior_keys,
                    ..earlier.clone()
                },
                false,
            )
        }
        None => (
            Intent {
                at: now,
                attempts: 1,
                until: None,
                prior_keys: inputs.kept.to_vec(),
            },
            true,
        ),
    };
    // An intent whose window closed long ago (a token delivered again hours later) is written
    // afresh: any key of its earlier attempts is listed by now and was handled above.
    let needed = usize::from(existing.is_none()) + 1 + inputs.extra;
    if inputs.tag_count - stale.len() + needed > MAX_TAGS_PER_USER {
        return Err(RotationError::TagQuotaExceeded {
            user: inputs.user.clone(),
            tags: inputs.tag_count,
            needed,
        });
    }
    Ok(TagPlan {
        stale,
        intent,
        intent_is_new,
    })
}
