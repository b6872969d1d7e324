//! The sweep's report: what it did with each secret, and the JSON summary that the function
//! returns, whose counts are also the sweep's metrics.

use serde::Serialize;

use crate::recover::RecoverySummary;

/// What the sweep did (or, in a dry run, would do) with one secret's previous key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    /// Deactivated: unused since the grace.
    Deactivated,
    /// Deactivated although in use: the rotation is `ROTATOR_GRACE_MAX` old.
    DeactivatedPastMax,
    /// Left active and named in the alert: used within the grace.
    InUse,
    /// Left active: the grace has not passed yet.
    WithinGrace,
    /// Left alone (see `detail`).
    Skipped,
    /// The secret could not be inspected, or the key not deactivated (see `detail`).
    Error,
}

/// A key's last use, for the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LastUse {
    pub at: String,
    pub service: Option<String>,
    pub region: Option<String>,
}

/// One secret in the sweep's summary: only the secrets where there is something to say.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SecretReport {
    pub secret: String,
    pub user: Option<String>,
    pub previous_key: Option<String>,
    pub action: Action,
    pub detail: String,
    pub rotated_at: Option<String>,
    pub last_used: Option<LastUse>,
}

/// The sweep's JSON summary; its counts are also the sweep's metrics.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SweepSummary {
    pub mode: &'static str,
    pub prefix: String,
    pub managed_secrets: usize,
    /// AWSCURRENT keys older than the secret's rotation interval.
    pub keys_older_than_interval: usize,
    /// Secrets whose rotation is overdue (`rotator status`'s `overdue`).
    pub overdue_rotations: usize,
    /// Secrets whose rotation in progress is older than an hour (`rotator status`'s `stuck`).
    pub stuck_rotations: usize,
    /// Previous keys left active because they were used within the window after the grace.
    pub old_keys_in_use: usize,
    /// Previous keys deactivated by this sweep (in a dry run: that it would deactivate).
    pub old_keys_retired: usize,
    /// Secrets that could not be inspected, or whose key could not be deactivated.
    pub sweep_errors: usize,
    /// Secrets the sweep did not reach before the invocation's deadline (the next sweep does).
    pub secrets_not_reached: usize,
    /// Rotations stuck longer than `ROTATOR_STUCK_AFTER` that this sweep ended (contract §11;
    /// in a dry run: that it would end).
    pub rotations_recovered: usize,
    /// Stuck rotations it could not end: a pending key was used (kept, named in the
    /// recovery's notice), or the recovery failed.
    pub recoveries_failed: usize,
    /// What each recovery did, as `{"Action": "recover"}` reports it.
    pub recoveries: Vec<RecoverySummary>,
    /// The recoveries that failed, one sentence each.
    pub recovery_errors: Vec<String>,
    pub alerts_sent: usize,
    pub emails_sent: usize,
    /// What the Security Hub findings pass did (contract §12); absent when findings are off.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub findings: Option<crate::findings::FindingsReport>,
    pub secrets: Vec<SecretReport>,
}
