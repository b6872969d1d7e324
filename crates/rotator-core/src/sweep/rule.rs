//! The sweep's rule (contract §9), pure: given what is known of one secret's previous key, the
//! rotation's time, and the grace windows, what the sweep does with the key. createSecret asks
//! the same rule whether an active previous key may go yet.

use serde::Serialize;

use crate::config::Settings;
use crate::ports::{EpochSecs, KeyStatus, SecretMetadata, VersionInfo};
use crate::types::{AWSCURRENT, AWSPENDING};

/// The sweep's time windows, in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Windows {
    /// `ROTATOR_GRACE`.
    pub grace: u64,
    /// `ROTATOR_USAGE_LAG`.
    pub usage_lag: u64,
    /// `ROTATOR_GRACE_MAX`.
    pub grace_max: u64,
}

impl Windows {
    pub fn from_settings(settings: &Settings) -> Self {
        Self {
            grace: settings.grace.as_secs(),
            usage_lag: settings.usage_lag.as_secs(),
            grace_max: settings.grace_max.as_secs(),
        }
    }

    /// How long the rotation and the key's last use must lie in the past: the grace, plus the
    /// time IAM may take to report a use.
    pub fn quiet(&self) -> u64 {
        self.grace.saturating_add(self.usage_lag)
    }
}

/// What the sweep knows of the key in AWSPREVIOUS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PreviousKey {
    /// AWSPREVIOUS holds no key (no such version, or a value without a key).
    Absent,
    /// AWSPREVIOUS holds the key that AWSCURRENT holds.
    SameAsCurrent,
    /// The bound user has no such key: deleted already, or never the user's.
    NotListed,
    /// One of the user's keys, but not one that the secret's own rotations made (its ledger
    /// has no record of it) nor one it adopted: a value written by hand may name a person's
    /// key, which the rotator never retires.
    NotOwned,
    /// One of the bound user's keys, with its status and its last use as IAM reports it.
    Listed {
        status: KeyStatus,
        last_used: Option<EpochSecs>,
    },
}

/// Everything the rule looks at, for one secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Facts {
    pub now: EpochSecs,
    /// Any version of the secret holds AWSPENDING.
    pub rotation_in_progress: bool,
    /// AWSPENDING stands on the AWSCURRENT version: a finishSecret moved AWSCURRENT and did
    /// not complete. When AWSCURRENT moved is then unknown (`LastRotatedDate` is the last
    /// *completed* rotation's), and the previous key was AWSCURRENT until that move.
    pub finish_incomplete: bool,
    /// When AWSCURRENT moved (see `rotated_at`).
    pub rotated_at: Option<EpochSecs>,
    pub previous: PreviousKey,
    /// The AWSCURRENT key is one of the user's active keys: the programs have a working key
    /// without the previous one.
    pub current_usable: bool,
}

/// Why the sweep leaves a secret alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SkipReason {
    RotationInProgress,
    FinishIncomplete,
    NoPreviousKey,
    PreviousIsCurrent,
    PreviousNotListed,
    PreviousNotOwned,
    PreviousInactive,
    UnknownRotationTime,
    CurrentNotUsable,
}

impl SkipReason {
    pub fn describe(self) -> &'static str {
        match self {
            SkipReason::RotationInProgress => "a rotation is in progress (AWSPENDING): left alone",
            SkipReason::FinishIncomplete => {
                "a finishSecret moved AWSCURRENT and did not complete (AWSPENDING is still on the AWSCURRENT version): when the previous key stopped being current is unknown, so nothing is retired until the finish completes"
            }
            SkipReason::NoPreviousKey => "AWSPREVIOUS holds no key",
            SkipReason::PreviousIsCurrent => "AWSPREVIOUS holds the AWSCURRENT key: left alone",
            SkipReason::PreviousNotListed => "the AWSPREVIOUS key is not one of the user's keys",
            SkipReason::PreviousNotOwned => {
                "the AWSPREVIOUS key is not one that the secret's rotations made or adopted (no ledger record: removed by someone, or a value written by hand): left alone; if it is the secret's, hand it back with `rotator adopt SECRET --key ID`"
            }
            SkipReason::PreviousInactive => "the AWSPREVIOUS key is inactive already",
            SkipReason::CurrentNotUsable => {
                "the AWSCURRENT key is not an active key of the user: the previous key stays active, the programs' only working key may be that one"
            }
            SkipReason::UnknownRotationTime => {
                "neither LastRotatedDate nor the AWSCURRENT version's creation time is known: left alone"
            }
        }
    }
}

/// What the sweep does with one secret's previous key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// The grace has not passed: the key stays active, and may go from `retire_after` on.
    Leave {
        retire_after: EpochSecs,
    },
    /// The grace has passed but the key was used within it: it stays active, is named in the
    /// alert, and is deactivated anyway at `forced_at` (the rotation is then `GRACE_MAX` old).
    AlertInUse {
        forced_at: EpochSecs,
    },
    /// The rotation and the key's last use both lie more than GRACE + USAGE_LAG in the past.
    Deactivate,
    /// The rotation is `GRACE_MAX` old and the key is still in use: deactivated anyway, with
    /// an alert.
    DeactivatePastMax,
    Skip(SkipReason),
}

/// The rule of contract §9. A key is "used recently" when its last use lies at most
/// GRACE + USAGE_LAG in the past; times in the future (clock skew) count as now.
///
/// It never retires a previous key while the AWSCURRENT key is not one of the user's active
/// keys (the programs would be left with none), nor a key the secret does not own. A rotation
/// in progress suspends the retirement, except once the rotation is `GRACE_MAX` old: a
/// rotation stuck for days (on `NoRoomForKey`, say) does not keep an old key active for ever.
pub fn decide(facts: &Facts, windows: &Windows) -> Decision {
    // Contract §9: while a finish is incomplete the rotation's time is not known, and the
    // previous key may have been AWSCURRENT minutes ago: nothing of the secret is retired,
    // however old the last completed rotation is.
    if facts.finish_incomplete {
        return Decision::Skip(SkipReason::FinishIncomplete);
    }
    let previous_active = match facts.previous {
        PreviousKey::Listed {
            status: KeyStatus::Active,
            last_used,
        } => Some(last_used),
        _ => None,
    };
    let Some(last_used) = previous_active else {
        if facts.rotation_in_progress {
            return Decision::Skip(SkipReason::RotationInProgress);
        }
        return Decision::Skip(match facts.previous {
            PreviousKey::Absent => SkipReason::NoPreviousKey,
            PreviousKey::SameAsCurrent => SkipReason::PreviousIsCurrent,
            PreviousKey::NotListed => SkipReason::PreviousNotListed,
            PreviousKey::NotOwned => SkipReason::PreviousNotOwned,
            PreviousKey::Listed { .. } => SkipReason::PreviousInactive,
        });
    };
    if !facts.current_usable {
        return Decision::Skip(SkipReason::CurrentNotUsable);
    }
    let Some(rotated_at) = facts.rotated_at else {
        return Decision::Skip(SkipReason::UnknownRotationTime);
    };
    let now = facts.now;
    let quiet = windows.quiet();
    let age = now.saturating_sub(rotated_at);
    let used_recently = last_used.is_some_and(|at| now.saturating_sub(at) <= quiet);
    if age >= windows.grace_max {
        // A GRACE_MAX shorter than GRACE + USAGE_LAG: a use that IAM has not reported yet may
        // lie inside the rotation's own quiet window, so the key counts as in use.
        return if used_recently || age <= quiet {
            Decision::DeactivatePastMax
        } else {
            Decision::Deactivate
        };
    }
    if facts.rotation_in_progress {
        return Decision::Skip(SkipReason::RotationInProgress);
    }
    if age <= quiet {
        let latest = last_used.map_or(rotated_at, |at| at.max(rotated_at));
        return Decision::Leave {
            retire_after: latest.saturating_add(quiet).saturating_add(1),
        };
    }
    if used_recently {
        Decision::AlertInUse {
            forced_at: rotated_at.saturating_add(windows.grace_max),
        }
    } else {
        Decision::Deactivate
    }
}

/// Whether a rotation may delete an active previous key now: only once the sweep would retire
/// it (contract §5). `Decision::Leave` and `Decision::AlertInUse` keep it: the programs that
/// still use it would break.
pub fn may_go_now(decision: Decision) -> bool {
    matches!(decision, Decision::Deactivate | Decision::DeactivatePastMax)
}

/// When AWSCURRENT moved to its version, at the latest (contract §9). Secrets Manager records
/// two times: `LastRotatedDate`, stamped when a rotation *completes* ("the most recent date and
/// time that the Secrets Manager rotation process was successfully completed", SecretListEntry:
/// <https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_SecretListEntry.html>),
/// so at or after the move; and the AWSCURRENT version's creation, at or before it (a rotation's
/// version is created by createSecret; a `PutSecretValue` by hand moves AWSCURRENT as it creates
/// the version, without touching `LastRotatedDate`).
/// - `LastRotatedDate` at or after the version's creation: the rotation completed, and
///   `LastRotatedDate` is taken (a createSecret days before its finishSecret made a version that
///   became current long after it was created).
/// - Otherwise the move came after the version's creation, at a time nobody recorded: a finish
///   that moved AWSCURRENT and never completed, or a value put by hand. While AWSPENDING stands
///   on another version, a later rotation began after that move: its version's creation bounds
///   it, and is taken. (A finish still incomplete, AWSPENDING on the AWSCURRENT version, is the
///   sweep's `Facts::finish_incomplete`: it retires nothing then.)
pub fn rotated_at(metadata: &SecretMetadata, versions: &[VersionInfo]) -> Option<EpochSecs> {
    let holding = |stage: &str| {
        versions
            .iter()
            .find(|v| v.stages.iter().any(|s| s == stage))
    };
    let current = holding(AWSCURRENT);
    let current_created = current.and_then(|v| v.created);
    let later_rotation = holding(AWSPENDING)
        .filter(|pending| current.is_none_or(|current| current.id != pending.id))
        .and_then(|pending| pending.created);
    match (metadata.last_rotated, current_created) {
        (Some(completed), Some(created)) if completed >= created => Some(completed),
        (_, Some(created)) => Some(later_rotation.map_or(created, |began| began.max(created))),
        (completed, None) => completed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::AWSPREVIOUS;

    const HOUR: u64 = 3600;

    /// Grace 24h, lag 4h, hard limit 7d: the defaults.
    const WINDOWS: Windows = Windows {
        grace: 24 * HOUR,
        usage_lag: 4 * HOUR,
        grace_max: 7 * 24 * HOUR,
    };
    const ROTATED: EpochSecs = 1_790_000_000;

    fn active(last_used: Option<EpochSecs>) -> PreviousKey {
        PreviousKey::Listed {
            status: KeyStatus::Active,
            last_used,
        }
    }

    fn facts(now: EpochSecs, previous: PreviousKey) -> Facts {
        Facts {
            now,
            rotation_in_progress: false,
            finish_incomplete: false,
            rotated_at: Some(ROTATED),
            previous,
            current_usable: true,
        }
    }

    #[test]
    fn an_unused_key_goes_only_once_grace_and_lag_have_passed_since_the_rotation() {
        let quiet = 28 * HOUR;
        let unused = active(None);
        assert_eq!(
            decide(&facts(ROTATED + quiet, unused), &WINDOWS),
            Decision::Leave {
                retire_after: ROTATED + quiet + 1
            }
        );
        assert_eq!(
            decide(&facts(ROTATED + quiet + 1, unused), &WINDOWS),
            Decision::Deactivate
        );
        // Used long before the rotation: the same.
        let used_before = active(Some(ROTATED - 30 * 24 * HOUR));
        assert_eq!(
            decide(&facts(ROTATED + quiet + 1, used_before), &WINDOWS),
            Decision::Deactivate
        );
    }

    #[test]
    fn a_use_within_grace_and_lag_keeps_the_key_and_names_it() {
        let now = ROTATED + 30 * HOUR;
        let quiet = WINDOWS.quiet();
        let forced_at = ROTATED + WINDOWS.grace_max;
        assert_eq!(
            decide(&facts(now, active(Some(now - quiet))), &WINDOWS),
            Decision::AlertInUse { forced_at }
        );
        assert_eq!(
            decide(&facts(now, active(Some(now - quiet - 1))), &WINDOWS),
            Decision::Deactivate
        );
        // Within the grace a use changes nothing yet: no alert before the grace has passed.
        let early = ROTATED + 2 * HOUR;
        assert_eq!(
            decide(&facts(early, active(Some(early))), &WINDOWS),
            Decision::Leave {
                retire_after: early + quiet + 1
            }
        );
        // A last use stamped in the future (clock skew) counts as now.
        assert_eq!(
            decide(&facts(now, active(Some(now + 60))), &WINDOWS),
            Decision::AlertInUse { forced_at }
        );
    }

    #[test]
    fn the_reporting_lag_protects_a_use_that_iam_reports_late() {
        // Last seen 25 hours ago: past the grace, but IAM may still report a later use.
        let now = ROTATED + 40 * HOUR;
        let seen = active(Some(now - 25 * HOUR));
        assert_eq!(
            decide(&facts(now, seen), &WINDOWS),
            Decision::AlertInUse {
                forced_at: ROTATED + WINDOWS.grace_max
            }
        );
        let no_lag = Windows {
            usage_lag: 0,
            ..WINDOWS
        };
        assert_eq!(decide(&facts(now, seen), &no_lag), Decision::Deactivate);
        // The lag also counts from the rotation.
        assert!(matches!(
            decide(&facts(ROTATED + 25 * HOUR, active(None)), &WINDOWS),
            Decision::Leave { .. }
        ));
        assert_eq!(
            decide(&facts(ROTATED + 25 * HOUR, active(None)), &no_lag),
            Decision::Deactivate
        );
    }

    #[test]
    fn the_hard_limit_deactivates_a_key_in_use() {
        let max = WINDOWS.grace_max;
        let in_use_at = |now| facts(now, active(Some(now - 60)));
        assert!(matches!(
            decide(&in_use_at(ROTATED + max - 1), &WINDOWS),
            Decision::AlertInUse { .. }
        ));
        assert_eq!(
            decide(&in_use_at(ROTATED + max), &WINDOWS),
            Decision::DeactivatePastMax
        );
        assert_eq!(
            decide(&facts(ROTATED + max, active(None)), &WINDOWS),
            Decision::Deactivate
        );
        // A hard limit shorter than grace and lag together still wins.
        let tight = Windows {
            grace: 24 * HOUR,
            usage_lag: 4 * HOUR,
            grace_max: 24 * HOUR,
        };
        assert_eq!(
            decide(&in_use_at(ROTATED + 24 * HOUR), &tight),
            Decision::DeactivatePastMax
        );
        // There, a key with no reported use may still be in use (IAM reports late): it is
        // deactivated with the alert too, not as if unused.
        assert_eq!(
            decide(&facts(ROTATED + 24 * HOUR, active(None)), &tight),
            Decision::DeactivatePastMax
        );
        assert_eq!(
            decide(&facts(ROTATED + 28 * HOUR + 1, active(None)), &tight),
            Decision::Deactivate
        );
    }

    #[test]
    fn nothing_is_decided_for_a_rotation_in_progress_or_a_key_that_is_not_retirable() {
        let late = ROTATED + 30 * 24 * HOUR;
        // A rotation in progress suspends the retirement, but not the hard limit: a rotation
        // stuck for days does not keep the old key active for ever (contract §9).
        let within_max = ROTATED + 6 * 24 * HOUR;
        let in_progress = |now| Facts {
            rotation_in_progress: true,
            ..facts(now, active(Some(now - HOUR)))
        };
        assert_eq!(
            decide(&in_progress(within_max), &WINDOWS),
            Decision::Skip(SkipReason::RotationInProgress)
        );
        assert_eq!(
            decide(&in_progress(late), &WINDOWS),
            Decision::DeactivatePastMax
        );
        // A finish that moved AWSCURRENT and stopped: nothing, not even past the hard limit
        // of the last completed rotation (the key was AWSCURRENT until the move).
        let finish_incomplete = Facts {
            finish_incomplete: true,
            ..in_progress(late)
        };
        assert_eq!(
            decide(&finish_incomplete, &WINDOWS),
            Decision::Skip(SkipReason::FinishIncomplete)
        );
        // Never while the AWSCURRENT key does not work: the old key may be the only one.
        for now in [within_max, late] {
            let broken = Facts {
                current_usable: false,
                ..facts(now, active(None))
            };
            assert_eq!(
                decide(&broken, &WINDOWS),
                Decision::Skip(SkipReason::CurrentNotUsable)
            );
        }
        assert_eq!(
            decide(&facts(late, PreviousKey::NotOwned), &WINDOWS),
            Decision::Skip(SkipReason::PreviousNotOwned)
        );
        for (previous, reason) in [
            (PreviousKey::Absent, SkipReason::NoPreviousKey),
            (PreviousKey::SameAsCurrent, SkipReason::PreviousIsCurrent),
            (PreviousKey::NotListed, SkipReason::PreviousNotListed),
            (
                PreviousKey::Listed {
                    status: KeyStatus::Inactive,
                    last_used: Some(late),
                },
                SkipReason::PreviousInactive,
            ),
        ] {
            assert_eq!(
                decide(&facts(late, previous), &WINDOWS),
                Decision::Skip(reason)
            );
        }
        let unknown_time = Facts {
            rotated_at: None,
            ..facts(late, active(None))
        };
        assert_eq!(
            decide(&unknown_time, &WINDOWS),
            Decision::Skip(SkipReason::UnknownRotationTime)
        );
    }

    #[test]
    fn the_rotation_time_is_the_later_of_last_rotated_and_the_current_version() {
        let metadata = SecretMetadata {
            last_rotated: Some(100),
            ..SecretMetadata::default()
        };
        let version = |created, stage: &str| VersionInfo {
            id: format!("v{created}"),
            stages: vec![stage.to_owned()],
            created: Some(created),
        };
        let versions = [version(90, AWSPREVIOUS), version(250, AWSCURRENT)];
        assert_eq!(rotated_at(&metadata, &versions), Some(250));
        assert_eq!(rotated_at(&metadata, &versions[..1]), Some(100));
        assert_eq!(rotated_at(&SecretMetadata::default(), &versions), Some(250));
        assert_eq!(rotated_at(&SecretMetadata::default(), &[]), None);
        // A completed rotation whose createSecret ran long before its finish: LastRotatedDate.
        let completed = SecretMetadata {
            last_rotated: Some(300),
            ..SecretMetadata::default()
        };
        assert_eq!(rotated_at(&completed, &versions), Some(300));
        // A finish that moved AWSCURRENT and never completed, then a new rotation (issue 25,
        // found by the property model): the move came before the new rotation began, at a
        // time nobody recorded; the new rotation's start bounds it.
        let stuck = [
            version(90, AWSPREVIOUS),
            version(250, AWSCURRENT),
            version(900, AWSPENDING),
        ];
        assert_eq!(rotated_at(&metadata, &stuck), Some(900));
    }
}
