//! finishSecret: AWSCURRENT moves to the token, the old-key policy is applied, the rotation's
//! tags go, AWSPENDING comes off last, and the owner gets an email.

use tracing::{info, warn};

use super::create_secret::owned;
use super::{AWSCURRENT, AWSPENDING, Learnt, NOTIFY_EMAIL_TAG, Outcome, Rotator, ignore_not_found};
use crate::config::{OldKeyPolicy, parse_addresses};
use crate::error::{CurrentStage, RotationError};
use crate::ledger::{self, Ledger, SecretDigest};
use crate::notice::{self, Success};
use crate::ports::{KeyStatus, SecretMetadata, Tag};
use crate::types::{AccessKeyId, RotationEvent, UserName};

impl Rotator {
    pub(super) async fn finish_secret(
        &self,
        event: &RotationEvent,
        metadata: &SecretMetadata,
        learnt: &mut Learnt,
    ) -> Result<Outcome, RotationError> {
        let current_version = metadata
            .version_with_stage(AWSCURRENT)
            .ok_or(RotationError::NoCurrentVersion)?;
        let pending = self.read_bound(event, metadata, AWSPENDING, learnt).await?;
        let current = self.read_bound(event, metadata, AWSCURRENT, learnt).await?;
        let new_key = pending.access_key_id().cloned();
        if new_key.is_none()
            && let Some(working) = current.access_key_id()
        {
            return Err(RotationError::PendingHoldsNoKey {
                current: working.clone(),
            });
        }
        let token = event.token.as_str();
        self.update_stage(
            event,
            AWSCURRENT,
            Some(token),
            Some(current_version),
            |now| now.stages_of(token).iter().any(|s| s == AWSCURRENT),
        )
        .await?;
        learnt.current = CurrentStage::Moved(new_key.clone());
        info!(token = %event.token, "the new version is AWSCURRENT");
        // The key that was current; on a secret that held none, the key it adopted (contract
        // §10: the first rotation treats it as its previous key).
        let old_key = match (current.access_key_id(), &current.adopted) {
            (Some(old), adopted) => Some((old.clone(), adopted.as_ref() == Some(old))),
            (None, Some(adopted)) => Some((adopted.clone(), true)),
            (None, None) => None,
        }
        .filter(|(old, _)| Some(old) != new_key.as_ref());
        self.complete_finish(event, metadata, &pending.user_name, new_key, old_key)
            .await
    }

    /// finishSecret delivered again after an earlier delivery moved AWSCURRENT to the token and
    /// then failed: the key that was current, now in AWSPREVIOUS, still awaits the old-key
    /// policy, and the token its clean-up.
    pub(super) async fn resume_finish(
        &self,
        event: &RotationEvent,
        metadata: &SecretMetadata,
        learnt: &mut Learnt,
    ) -> Result<Outcome, RotationError> {
        let current = self.read_bound(event, metadata, AWSCURRENT, learnt).await?;
        let new_key = current.access_key_id().cloned();
        learnt.current = CurrentStage::Moved(new_key.clone());
        let old_key = self
            .previous_key(event, metadata)
            .await?
            .filter(|(old, _)| Some(old) != new_key.as_ref());
        self.complete_finish(event, metadata, &current.user_name, new_key, old_key)
            .await
    }

    /// What finishSecret does once AWSCURRENT is on the token: applies the old-key policy,
    /// removes the rotation's tags, and only then takes AWSPENDING off the token, so that a
    /// failure on the way leaves a mark that the next delivery completes.
    async fn complete_finish(
        &self,
        event: &RotationEvent,
        metadata: &SecretMetadata,
        user: &UserName,
        new_key: Option<AccessKeyId>,
        old_key: Option<(AccessKeyId, bool)>,
    ) -> Result<Outcome, RotationError> {
        // The tags that createSecret left, when it ran in this process moments ago (see
        // `warm`); else IAM's listing.
        let remembered =
            self.memory
                .take_tags(&metadata.arn, event.token.as_str(), self.ports.clock.now());
        let tags = match remembered {
            Some(tags) => tags,
            None => self
                .ports
                .iam
                .list_user_tags(user)
                .await
                .map_err(RotationError::port("ListUserTags"))?,
        };
        let ledger = Ledger::from_tags(&tags, &SecretDigest::of(&metadata.arn));
        // Only a key that the secret's own rotations made is retired: a value written by hand
        // may have named a person's key.
        // An adopted key is the secret's too, unless another secret holds it (contract §10).
        let mut remarks = Vec::new();
        let old_key = match old_key {
            Some((old, true)) if !ledger.foreign.contains(&old) => {
                // An adopted key that a person deleted protects nothing: the adoption is
                // dropped, and the notice says so (contract §10).
                if self.listed(user, &old).await? {
                    Some(old)
                } else {
                    remarks.push(format!(
                        "The adopted key {old} no longer exists (it was deleted outside the rotator): the adoption was dropped."
                    ));
                    None
                }
            }
            Some((old, false)) if owned(&ledger, &old, "the previous AWSCURRENT") => Some(old),
            Some((old, false)) if !ledger.foreign.contains(&old) => {
                // Contract §5: a key whose record a person removed stays as it is, said once.
                if self.listed(user, &old).await? {
                    self.alert_record_removed(metadata, user, &old).await;
                }
                None
            }
            _ => None,
        };
        if let Some(old) = &old_key {
            self.retire(user, old).await?;
        }
        self.close_ledger(
            event,
            user,
            (&tags, &ledger),
            new_key.as_ref(),
            old_key.as_ref(),
        )
        .await?;
        let token = event.token.as_str();
        self.update_stage(event, AWSPENDING, None, Some(token), |now| {
            !now.stages_of(token).iter().any(|s| s == AWSPENDING)
        })
        .await?;
        if let Some(key) = &new_key {
            self.send_success_email(event, metadata, user, key, old_key.as_ref(), &remarks)
                .await;
        }
        Ok(Outcome::Finished { new_key, old_key })
    }

    /// Removes the rotation's intent and key record. When an intent of this secret may stand
    /// for a key that createSecret did not see (an earlier attempt of this token whose answer
    /// was lost, or another token's intent that createSecret kept because IAM's eventual
    /// consistency may have hidden its key from the listing), such keys are deleted first, so
    /// that no key outside AWSCURRENT and AWSPREVIOUS outlives the rotation.
    /// The key records of the keys the secret holds stay: they are how a later rotation and
    /// the sweep know that the keys are the secret's own to retire. The old key's record goes
    /// when the `delete` policy deleted the key.
    async fn close_ledger(
        &self,
        event: &RotationEvent,
        user: &UserName,
        (tags, ledger): (&[Tag], &Ledger),
        new_key: Option<&AccessKeyId>,
        old_key: Option<&AccessKeyId>,
    ) -> Result<(), RotationError> {
        let iam = &self.ports.iam;
        let token = event.token.as_str();
        let now = self.ports.clock.now();
        let mut own_tags = vec![ledger::intent_tag_key(token)];
        if self.settings.old_key_policy == OldKeyPolicy::Delete {
            own_tags.extend(old_key.map(ledger::record_tag_key));
        }
        // Tags of this secret that are not this rotation's own: an earlier attempt whose answer
        // was lost, or an abandoned token's key, which IAM may not have listed to createSecret.
        let others_pending = ledger
            .intents
            .iter()
            .any(|(owner, intent)| owner != token || intent.attempts > 1)
            || ledger.records.iter().any(|(key, owner)| {
                owner != token
                    && owner != ledger::ADOPTED
                    && Some(key) != new_key
                    && Some(key) != old_key
            });
        if others_pending {
            let keys = iam
                .list_access_keys(user)
                .await
                .map_err(RotationError::port("ListAccessKeys"))?;
            for key in &keys {
                let spared = Some(&key.id) == new_key || Some(&key.id) == old_key;
                if !spared && ledger.abandoned_owner(key).is_some() {
                    info!(key = %key.id, "deleting a key the rotator made for a value never used");
                    ignore_not_found(iam.delete_access_key(user, &key.id).await)
                        .map_err(RotationError::port("DeleteAccessKey"))?;
                    own_tags.push(ledger::record_tag_key(&key.id));
                }
            }
            // Intents IAM must have caught up with have done their work.
            for (owner, intent) in &ledger.intents {
                if owner != token && !intent.window_open(now) {
                    own_tags.push(ledger::intent_tag_key(owner));
                }
            }
        }
        own_tags.retain(|key| tags.iter().any(|tag| &tag.key == key));
        if !own_tags.is_empty() {
            iam.untag_user(user, &own_tags)
                .await
                .map_err(RotationError::port("UntagUser"))?;
        }
        Ok(())
    }

    /// Applies the old-key policy to the key that was current.
    async fn retire(&self, user: &UserName, old: &AccessKeyId) -> Result<(), RotationError> {
        let iam = &self.ports.iam;
        let policy = self.settings.old_key_policy;
        match policy {
            OldKeyPolicy::Keep => {
                info!(key = %old, "keeping the previous key active until the next rotation needs room");
                return Ok(());
            }
            OldKeyPolicy::Grace => {
                info!(key = %old, "keeping the previous key active: the sweep retires it once it goes unused");
                return Ok(());
            }
            OldKeyPolicy::Delete | OldKeyPolicy::Deactivate => {}
        }
        ignore_not_found(
            iam.set_access_key_status(user, old, KeyStatus::Inactive)
                .await,
        )
        .map_err(RotationError::port("UpdateAccessKey"))?;
        info!(key = %old, "deactivated the previous key");
        if policy == OldKeyPolicy::Delete {
            ignore_not_found(iam.delete_access_key(user, old).await)
                .map_err(RotationError::port("DeleteAccessKey"))?;
            info!(key = %old, "deleted the previous key");
        }
        Ok(())
    }

    /// Whether `key` is one of `user`'s keys now (read only on the rare paths that need it).
    async fn listed(&self, user: &UserName, key: &AccessKeyId) -> Result<bool, RotationError> {
        let keys = self
            .ports
            .iam
            .list_access_keys(user)
            .await
            .map_err(RotationError::port("ListAccessKeys"))?;
        Ok(keys.iter().any(|k| &k.id == key))
    }

    /// The one alert for a previous key whose ledger record a person removed (contract §5):
    /// it names the key, the removed record and the command that hands it back. Its failure
    /// is logged: the rotation has succeeded.
    async fn alert_record_removed(
        &self,
        metadata: &SecretMetadata,
        user: &UserName,
        key: &AccessKeyId,
    ) {
        let problem = RotationError::PreviousRecordRemoved {
            user: user.clone(),
            key: key.clone(),
            secret: metadata.name.clone(),
        };
        let alert = notice::record_removed_alert(&metadata.name, &problem);
        if let Err(error) = self.ports.notifier.alert(&alert).await {
            warn!(error = %error, "the alert for a removed ledger record could not be sent");
        }
    }

    /// Sends the success email. Its failure is logged: the rotation has already succeeded.
    async fn send_success_email(
        &self,
        event: &RotationEvent,
        metadata: &SecretMetadata,
        user: &UserName,
        new_key: &AccessKeyId,
        old_key: Option<&AccessKeyId>,
        remarks: &[String],
    ) {
        if self.settings.sender_email.is_none() {
            info!("no sender configured: no success email");
            return;
        }
        let recipients = match metadata.tags.get(NOTIFY_EMAIL_TAG) {
            Some(list) => parse_addresses(list).unwrap_or_else(|problem| {
                warn!(
                    problem,
                    "the NotifyEmail tag is invalid; using the default recipient"
                );
                self.settings.default_notify_email.clone()
            }),
            None => self.settings.default_notify_email.clone(),
        };
        if recipients.is_empty() {
            info!("no recipient for the success email");
            return;
        }
        let old_key = old_key.map(|key| (key, self.settings.old_key_policy.outcome()));
        let email = notice::success_email(&Success {
            secret: &event.secret_id,
            secret_name: &metadata.name,
            user,
            new_key,
            token: &event.token,
            at: self.ports.clock.now(),
            old_key,
            remarks,
        });
        match self.ports.notifier.email(&recipients, &email).await {
            Ok(()) => info!(recipients = recipients.len(), "sent the success email"),
            Err(error) => warn!(error = %error, "the success email could not be sent"),
        }
    }
}

impl OldKeyPolicy {
    /// What became of the previous key, in words for the email.
    fn outcome(self) -> &'static str {
        match self {
            OldKeyPolicy::Delete => "deleted",
            OldKeyPolicy::Deactivate => "deactivated; deleted at the next rotation",
            OldKeyPolicy::Keep => "still active until the next rotation",
            OldKeyPolicy::Grace => {
                "still active for the grace period; deactivated once nothing uses it, deleted at the next rotation"
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::config::OldKeyPolicy;
    use crate::ports::KeyStatus;
    use crate::rotation::{AWSPREVIOUS, Rotator};
    use crate::testing::{World, settings};
    use crate::types::{ClientRequestToken, RotationEvent, SecretId, Step};

    #[tokio::test]
    async fn under_grace_finish_secret_leaves_the_previous_key_active_and_says_so() {
        let world = World::with_user_and_secret(
            "alice",
            "IamKeyRotator/alice",
            r#"{"UserName":"alice"}"#,
            "owner@example.com",
        );
        let rotator = Rotator::new(world.ports(), settings(OldKeyPolicy::Grace));
        for n in 1..=2 {
            let token = format!("7f1c9a52-0000-4000-8000-{n:012}");
            world.start_rotation("IamKeyRotator/alice", &token);
            for step in Step::ALL {
                let event = RotationEvent {
                    step,
                    secret_id: SecretId::new("IamKeyRotator/alice").expect("id"),
                    token: ClientRequestToken::new(token.as_str()).expect("token"),
                    rotation_token: None,
                };
                rotator.handle(&event).await.expect("step");
            }
        }
        let state = world.state();
        let keys = &state.users["alice"].keys;
        assert_eq!(keys.len(), 2);
        assert!(
            keys.iter().all(|k| k.status == KeyStatus::Active),
            "{keys:?}"
        );
        let (_, previous) = state.secrets["IamKeyRotator/alice"]
            .version_with(AWSPREVIOUS)
            .expect("previous");
        assert!(
            previous
                .value
                .as_deref()
                .is_some_and(|v| v.contains(&keys[0].id))
        );
        assert!(!state.calls.contains(&"iam:UpdateAccessKey"));
        let (_, email) = state.emails.last().expect("email");
        assert!(
            email.body.contains(&format!(
                "Previous key: {} (still active for the grace period",
                keys[0].id
            )),
            "{}",
            email.body
        );
    }
}
