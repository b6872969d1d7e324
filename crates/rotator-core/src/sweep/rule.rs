//! The sweep's rule (contract §9), pure: given what is known of one secret's previous key, the
//! rotation's time, and the grace windows, what the sweep does with the key. createSecret asks
//! the same rule whether an active previous key may go yet.

use serde::Serialize;

use crate::config::Settings;
use crate::ports::{EpochSecs, KeyStatus, SecretMetadata, VersionInfo};
use crate::types::AWSCURRENT;

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
            SkipReason::NoPreviousKey => "AWSPREVIOUS holds no key",
            SkipReason::PreviousIsCurrent => "AWSPREVIOUS holds the AWSCURRENT key: left alone",
            SkipReason::PreviousNotListed => "the AWSPREVIOUS key is not one of the user's keys",
            SkipReason::PreviousNotOwned => {
                "the AWSPREVIOUS key is not one that the secret's rotations made or adopted (no ledger record): left alone"
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

/// When AWSCURRENT moved: the later of `LastRotatedDate` and the AWSCURRENT version's
/// creation. Both lie at or before the move (Secrets Manager may stamp `LastRotatedDate` when a
/// rotation starts; the version exists before finishSecret labels it), so the later one is the
/// closer; the version's creation also covers a `PutSecretValue` by hand, which moves
/// AWSCURRENT without touching `LastRotatedDate`.
pub fn rotated_at(metadata: &SecretMetadata, versions: &[VersionInfo]) -> Option<EpochSecs> {
    let current_created = current_created(versions);
    match (metadata.last_rotated, current_created) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

/// When the AWSCURRENT version was created. While a rotation is in progress, `LastRotatedDate`
/// may already be the stuck rotation's start, so the sweep dates the rotation by this alone.
pub fn current_created(versions: &[VersionInfo]) -> Option<EpochSecs> {
    versions
        .iter()
        .find(|v| v.stages.iter().any(|s| s == AWSCURRENT))
        .and_then(|v| v.created)
}
