//! testSecret: the pending key must authenticate as the bound user. A new IAM key takes
//! seconds to work, so the step polls at a steady, jittered interval until its budget or the
//! invocation's deadline (less a margin for the alert) runs out, whichever comes first.

use std::time::Duration;

use tracing::info;

use super::{
    AWSPENDING, Job, Learnt, Outcome, Rotator, arn_in_account, arn_names_user, expected_account,
    secs,
};
use crate::error::RotationError;
use crate::ports::SecretMetadata;

/// The pause between two attempts: about a second, so that the step notices a key within about
/// a second of it working.
const POLL_INTERVAL_MS: u64 = 1_000;
/// The pause varies by up to this much either way, so that many rotations do not poll in step.
const POLL_JITTER_MS: u64 = 200;
/// What is left of the invocation when the step stops trying: room for one more AWS call's
/// timeout and the failure alert, before Lambda ends the invocation.
pub const DEADLINE_MARGIN_MS: u64 = 5_000;

impl Rotator {
    pub(super) async fn test_secret(
        &self,
        job: &Job<'_>,
        metadata: &SecretMetadata,
        learnt: &mut Learnt,
    ) -> Result<Outcome, RotationError> {
        let pending = self
            .read_bound(job.event, metadata, AWSPENDING, learnt)
            .await?;
        let user = pending.user_name.clone();
        let account = expected_account(metadata);
        let Some(key) = pending.key else {
            info!("the pending value holds no key yet: nothing to test");
            return Ok(Outcome::NothingToTest);
        };
        let clock = &self.ports.clock;
        let started_ms = clock.now_millis();
        let budget_end_ms = started_ms + self.settings.test_timeout.as_millis() as u64;
        let deadline_end_ms = job
            .deadline_ms
            .map(|deadline| deadline.saturating_sub(DEADLINE_MARGIN_MS));
        let end_ms = deadline_end_ms.map_or(budget_end_ms, |d| d.min(budget_end_ms));
        let cut_by_deadline = end_ms < budget_end_ms;
        let mut last_error = String::from("no attempt: no time was left before the deadline");
        let mut attempt: u64 = 0;
        while clock.now_millis() < end_ms {
            attempt += 1;
            match self.ports.credentials.caller_arn(&key).await {
                Ok(arn)
                    if arn_names_user(&arn, &user) && arn_in_account(&arn, account.as_ref()) =>
                {
                    info!(key = %key.access_key_id, arn, attempt, "the pending key authenticates");
                    return Ok(Outcome::Tested(key.access_key_id));
                }
                Ok(arn) => {
                    return Err(RotationError::WrongIdentity {
                        key: key.access_key_id,
                        user,
                        arn,
                    });
                }
                Err(error) => {
                    info!(key = %key.access_key_id, error = %error, attempt, "the pending key does not authenticate yet; retrying");
                    last_error = error.to_string();
                }
            }
            let now_ms = clock.now_millis();
            if now_ms >= end_ms {
                break;
            }
            let pause = poll_pause(now_ms, attempt).min(end_ms - now_ms);
            clock.sleep(Duration::from_millis(pause)).await;
        }
        Err(RotationError::PendingKeyRejected {
            key: key.access_key_id,
            user,
            secs: secs(clock.now_millis().saturating_sub(started_ms) + 999),
            cut_by_deadline,
            last_error,
        })
    }
}

/// About a second, varied by the clock and the attempt so that concurrent rotations spread.
fn poll_pause(now_ms: u64, attempt: u64) -> u64 {
    let spread = 2 * POLL_JITTER_MS + 1;
    let jitter = (now_ms ^ attempt.wrapping_mul(0x9e37_79b9)) % spread;
    POLL_INTERVAL_MS - POLL_JITTER_MS + jitter
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pauses_stay_within_the_jitter() {
        for now in [0, 1, 999, 1_790_000_000_123] {
            for attempt in 1..20 {
                let pause = poll_pause(now, attempt);
                assert!((800..=1_200).contains(&pause), "{pause}");
            }
        }
    }
}
