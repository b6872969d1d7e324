//! `rotator status`: the state of each managed secret, decided from its inspection.
//!
//! The states, and the precedence when several apply (the first is the row's `state`; all
//! of them are listed in `states`, in this order):
//!
//! 1. `broken`: programs reading the secret fail now. The `AWSCURRENT` key is missing (the
//!    user does not hold it, or no such user exists), inactive, or the value is not a rotator
//!    secret or names another user; or `AWSCURRENT` holds no key at all while no rotation is
//!    in progress (a first rotation in progress is `in-progress`).
//! 2. `unreadable`: the secret's reads kept failing (throttled, refused, timed out) after the
//!    SDK's retries, so its state is not known; programs reading it may well still work. Its
//!    reason names the call and the error; the other secrets are read as usual.
//! 3. `stuck`: an `AWSPENDING` version that is not `AWSCURRENT` is older than the stuck
//!    threshold ([`DEFAULT_STUCK_AFTER_SECS`], one hour: a rotation's four steps take seconds,
//!    testSecret waits at most minutes for a new key, and a Lambda invocation at most 15).
//! 4. `blocked`: the user holds an active key that the secret does not know (no stage and no
//!    ledger record of this secret's) beside the `AWSCURRENT` key: the next rotation finds no
//!    room (createSecret deletes neither) and fails.
//! 5. `old-key-in-use`: the `AWSPREVIOUS` key is still active and IAM reports a use of it
//!    after the last rotation (IAM reports uses up to about four hours late, so a key shown
//!    unused may still be in use).
//! 6. `rotation-disabled`: Secrets Manager will not rotate the secret.
//! 7. `overdue`: the next rotation's date (or the last rotation plus the interval) has passed
//!    and no rotation is in progress; or a key the secret adopted is past the key-age limit
//!    (90 days) by its true age, its IAM `CreateDate` (contract §10: the adoption restarted
//!    Secrets Manager's schedule, so the schedule alone does not show it).
//! 8. `in-progress`: an `AWSPENDING` version younger than the stuck threshold.
//! 9. `ok`: none of the above.
//!
//! Every state but `ok` and `in-progress` needs attention.

use std::fmt;

use crate::accounts::MemberRole;
use crate::fleet::{
    FleetError, Inspection, StagedValue, account_of, bounded, inspect_as, managed_secrets,
};
use crate::notice::rfc3339;
use crate::ports::{AccessKeyInfo, EpochSecs, KeyStatus, SecretMetadata};
use crate::rotation::{Ports, bound_user};
use crate::types::AccessKeyId;

/// How old a rotation in progress may get before it counts as stuck: one hour.
pub const DEFAULT_STUCK_AFTER_SECS: u64 = 3600;

/// IAM's limit of access keys per user.
const MAX_KEYS_PER_USER: usize = 2;

/// A secret's state, in order of precedence (the most urgent first).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum State {
    Broken,
    Unreadable,
    Stuck,
    Blocked,
    OldKeyInUse,
    RotationDisabled,
    Overdue,
    InProgress,
    Ok,
}

impl State {
    /// Every state, in order of precedence.
    pub const ALL: [State; 9] = [
        State::Broken,
        State::Unreadable,
        State::Stuck,
        State::Blocked,
        State::OldKeyInUse,
        State::RotationDisabled,
        State::Overdue,
        State::InProgress,
        State::Ok,
    ];

    /// The state's name in the output (`old-key-in-use`).
    pub fn as_str(self) -> &'static str {
        match self {
            State::Broken => "broken",
            State::Unreadable => "unreadable",
            State::Stuck => "stuck",
            State::Blocked => "blocked",
            State::OldKeyInUse => "old-key-in-use",
            State::RotationDisabled => "rotation-disabled",
            State::Overdue => "overdue",
            State::InProgress => "in-progress",
            State::Ok => "ok",
        }
    }

    /// Whether an operator must act: every state but `ok` and `in-progress`.
    pub fn needs_attention(self) -> bool {
        !matches!(self, State::Ok | State::InProgress)
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How `status` decides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusOptions {
    /// A rotation in progress older than this many seconds is stuck.
    pub stuck_after_secs: u64,
    /// The role assumed in other accounts to read their users' keys.
    pub member_role: MemberRole,
}

impl Default for StatusOptions {
    fn default() -> Self {
        Self {
            stuck_after_secs: DEFAULT_STUCK_AFTER_SECS,
            member_role: MemberRole::default(),
        }
    }
}

/// The `AWSCURRENT` key as the status shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CurrentKey {
    pub id: AccessKeyId,
    /// When IAM created it; `None` when the user does not hold it.
    pub created: Option<EpochSecs>,
    /// Its status; `None` when the user does not hold it.
    pub status: Option<KeyStatus>,
}

/// A key the secret adopted (`AdoptAccessKeyId` of its `AWSCURRENT` or `AWSPREVIOUS`) that the
/// user still holds active, with its true age: from its IAM `CreateDate`, not from the
/// adoption's version (contract §10: Secrets Manager counts the adoption's `PutSecretValue` as a
/// rotation, so the schedule and `LastChangedDate` make an old key look young).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdoptedKey {
    pub id: AccessKeyId,
    /// When IAM created it, when IAM says.
    pub created: Option<EpochSecs>,
}

impl AdoptedKey {
    /// Its age at `now`, in seconds, when IAM dated it.
    pub fn age_secs(&self, now: EpochSecs) -> Option<u64> {
        Some(now.saturating_sub(self.created?))
    }

    /// Whether it is at least `limit_days` old at `now`.
    pub fn older_than(&self, now: EpochSecs, limit_days: u64) -> bool {
        self.age_secs(now)
            .is_some_and(|age| age >= limit_days.saturating_mul(86_400))
    }
}

/// The active key the secret adopted, if the user holds one ([`AdoptedKey`]).
pub fn adopted_key(inspection: &Inspection) -> Option<AdoptedKey> {
    [inspection.current.as_ref(), inspection.previous.as_ref()]
        .into_iter()
        .flatten()
        .filter_map(|staged| staged.adopted.as_ref())
        .filter_map(|id| inspection.key_info(id))
        .find(|key| key.status == KeyStatus::Active)
        .map(|key| AdoptedKey {
            id: key.id.clone(),
            created: key.created,
        })
}

/// Why the adopted key is overdue, if it is: it is past the key-age limit
/// ([`KEY_AGE_LIMIT_DAYS`](crate::fleet::adopt::KEY_AGE_LIMIT_DAYS)) by its true age, whatever
/// the schedule says, and no rotation is under way to retire it.
fn adopted_key_overdue(inspection: &Inspection, now: EpochSecs) -> Option<String> {
    let limit = crate::fleet::adopt::KEY_AGE_LIMIT_DAYS;
    let adopted = adopted_key(inspection)?;
    if inspection.pending.is_some() || !adopted.older_than(now, limit) {
        return None;
    }
    Some(format!(
        "the adopted key {} is {} old (IAM created it at {}; the adoption does not make it younger), past the {limit}-day key-age limit: rotate now with rotator rotate {}",
        adopted.id,
        duration(adopted.age_secs(now).unwrap_or_default()),
        rfc3339(adopted.created.unwrap_or_default()),
        inspection.name
    ))
}

/// A rotation in progress, as the status shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    pub version: String,
    /// Seconds since Secrets Manager created the version, when it dated it.
    pub age_secs: Option<u64>,
}

/// One managed secret's row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusRow {
    pub secret: String,
    pub arn: String,
    pub user: String,
    /// The user's account when the name gives one (`None`: the rotator's own account).
    pub account: Option<String>,
    pub key: Option<CurrentKey>,
    pub rotation_enabled: bool,
    pub last_rotated: Option<EpochSecs>,
    pub next_rotation: Option<EpochSecs>,
    pub pending: Option<Pending>,
    /// The most urgent state.
    pub state: State,
    /// Every state that applies, the most urgent first (`[Ok]` when nothing else does).
    pub states: Vec<State>,
    /// One sentence per state that applies besides `ok`, in the same order.
    pub reasons: Vec<String>,
    /// The active key the secret adopted, with its IAM creation date (its true age).
    pub adopted: Option<AdoptedKey>,
}

/// Decides one secret's states at `now`.
pub fn evaluate(inspection: &Inspection, now: EpochSecs, options: &StatusOptions) -> StatusRow {
    let mut found: Vec<(State, String)> = Vec::new();
    let pending_age = inspection.pending_age(now);
    if let Some(problem) = broken(inspection) {
        found.push((State::Broken, problem));
    }
    if let Some(pending) = &inspection.pending {
        match pending_age {
            Some(age) if age >= options.stuck_after_secs => found.push((
                State::Stuck,
                format!(
                    "AWSPENDING version {} is {} old (stuck after {}): end it with `{}`",
                    pending.version,
                    duration(age),
                    duration(options.stuck_after_secs),
                    recover_command(&inspection.name)
                ),
            )),
            age => found.push((
                State::InProgress,
                format!(
                    "AWSPENDING version {} is {}",
                    pending.version,
                    age.map_or("of unknown age".to_owned(), |age| format!(
                        "{} old",
                        duration(age)
                    ))
                ),
            )),
        }
    }
    // createSecret may delete the AWSPREVIOUS key, an inactive key and the ledger's leftovers,
    // never the AWSCURRENT key nor an unknown active key: with two of those there is no room.
    let unknown = inspection.unknown_keys();
    let kept = unknown.len() + usize::from(inspection.current_key_info().is_some());
    if !unknown.is_empty() && kept >= MAX_KEYS_PER_USER {
        found.push((
            State::Blocked,
            format!(
                "{} holds active {} that the secret does not know: the next rotation will fail until it is deleted or deactivated",
                inspection.user,
                describe_keys(&unknown)
            ),
        ));
    }
    // Contract §5: a previous key whose record is gone is never retired on the value's word:
    // beside the AWSCURRENT key it leaves no room, and the next rotation fails naming it.
    if let Some(previous) = inspection.previous_unrecorded()
        && unknown.len() + 1 + usize::from(inspection.current_key_info().is_some())
            >= MAX_KEYS_PER_USER
    {
        found.push((
            State::Blocked,
            previous_unrecorded_reason(&inspection.name, &previous.id),
        ));
    }
    if let Some(reason) = old_key_in_use(inspection) {
        found.push((State::OldKeyInUse, reason));
    }
    if !inspection.rotation_enabled {
        found.push((
            State::RotationDisabled,
            "rotation is not enabled on the secret".to_owned(),
        ));
    } else if let Some(due) = due(inspection)
        && due < now
        && inspection.pending.is_none()
    {
        found.push((
            State::Overdue,
            format!("the rotation due at {} has not happened", rfc3339(due)),
        ));
    }
    if let Some(reason) = adopted_key_overdue(inspection, now) {
        // One sentence per state: beside an overdue schedule, the same state's sentence grows.
        match found.iter_mut().find(|(state, _)| *state == State::Overdue) {
            Some((_, overdue)) => *overdue = format!("{overdue}; {reason}"),
            None => found.push((State::Overdue, reason)),
        }
    }
    found.sort_by_key(|(state, _)| *state);
    let states: Vec<State> = if found.is_empty() {
        vec![State::Ok]
    } else {
        found.iter().map(|(state, _)| *state).collect()
    };
    StatusRow {
        secret: inspection.name.clone(),
        arn: inspection.arn.clone(),
        user: inspection.user.clone(),
        account: inspection.account.clone(),
        key: inspection.current_key().map(|id| {
            let held = inspection.key_info(id);
            CurrentKey {
                id: id.clone(),
                created: held.and_then(|key| key.created),
                status: held.map(|key| key.status),
            }
        }),
        rotation_enabled: inspection.rotation_enabled,
        last_rotated: inspection.last_rotated,
        next_rotation: inspection.next_rotation,
        pending: inspection.pending.as_ref().map(|pending| Pending {
            version: pending.version.clone(),
            age_secs: pending_age,
        }),
        state: states[0],
        states,
        reasons: found.into_iter().map(|(_, reason)| reason).collect(),
        adopted: adopted_key(inspection),
    }
}

/// The command that ends a secret's stuck rotation (contract §11).
pub fn recover_command(secret: &str) -> String {
    format!("rotator recover {secret}")
}

/// Why the secret's `AWSCURRENT` does not work, if it does not.
fn broken(inspection: &Inspection) -> Option<String> {
    let user = &inspection.user;
    let Some(current) = &inspection.current else {
        return Some("no version holds AWSCURRENT".to_owned());
    };
    let key = match current.value.as_ref()? {
        StagedValue::Key(key) => key,
        StagedValue::NoKey if inspection.pending.is_some() => return None,
        StagedValue::NoKey => {
            return Some(
                "AWSCURRENT holds no access key and no rotation is in progress".to_owned(),
            );
        }
        StagedValue::Invalid(problem) => {
            return Some(format!("AWSCURRENT is not a rotator secret: {problem}"));
        }
        StagedValue::OtherUser(named) => {
            return Some(format!(
                "AWSCURRENT names the user {named}, but the secret's name binds {user}"
            ));
        }
        StagedValue::OtherAccount(named) => {
            return Some(format!(
                "AWSCURRENT names the account {named}, but the secret's name binds {}",
                inspection
                    .account
                    .as_deref()
                    .unwrap_or("the secret's own account")
            ));
        }
    };
    let Some(keys) = &inspection.keys else {
        return Some(format!("the IAM user {user} does not exist"));
    };
    match keys.iter().find(|held| &held.id == key) {
        None => Some(format!(
            "AWSCURRENT holds access key {key}, which {user} does not have (deleted, or another user's)"
        )),
        Some(held) if held.status == KeyStatus::Inactive => Some(format!(
            "AWSCURRENT holds access key {key}, which is inactive"
        )),
        Some(_) => None,
    }
}

/// Why the old key counts as in use, if it does: `AWSPREVIOUS`'s key is active and IAM
/// reports a use after the last rotation (any use, when the secret was never rotated).
fn old_key_in_use(inspection: &Inspection) -> Option<String> {
    let previous = inspection.previous_key_info()?;
    if previous.status != KeyStatus::Active || inspection.current_key() == Some(&previous.id) {
        return None;
    }
    let used = inspection.previous_last_used.as_ref()?;
    let when = used.when?;
    if inspection
        .last_rotated
        .is_some_and(|rotated| when <= rotated)
    {
        return None;
    }
    let place: Vec<&str> = [used.service.as_deref(), used.region.as_deref()]
        .into_iter()
        .flatten()
        .collect();
    let place = if place.is_empty() {
        String::new()
    } else {
        format!(" ({})", place.join(", "))
    };
    Some(format!(
        "AWSPREVIOUS key {} is still active and was used at {}{place}, after the rotation{}",
        previous.id,
        rfc3339(when),
        inspection
            .last_rotated
            .map_or(String::new(), |at| format!(" at {}", rfc3339(at)))
    ))
}

/// When the next rotation is due: Secrets Manager's date, else the last rotation plus the
/// interval.
fn due(inspection: &Inspection) -> Option<EpochSecs> {
    inspection
        .next_rotation
        .or_else(|| Some(inspection.last_rotated? + inspection.rotation_interval_days? * 86_400))
}

fn describe_keys(keys: &[&AccessKeyInfo]) -> String {
    let ids: Vec<&str> = keys.iter().map(|key| key.id.as_str()).collect();
    match ids.as_slice() {
        [one] => format!("key {one}"),
        many => format!("keys {}", many.join(" and ")),
    }
}

/// A duration for people: `45s`, `12m`, `3h 20m`, `5d 2h`.
pub fn duration(secs: u64) -> String {
    match secs {
        0..60 => format!("{secs}s"),
        60..3600 => format!("{}m", secs / 60),
        3600..86_400 => match secs % 3600 / 60 {
            0 => format!("{}h", secs / 3600),
            minutes => format!("{}h {minutes}m", secs / 3600),
        },
        _ => match secs % 86_400 / 3600 {
            0 => format!("{}d", secs / 86_400),
            hours => format!("{}d {hours}h", secs / 86_400),
        },
    }
}

/// The status of every secret whose name starts with `prefix`, in name order. `progress` is
/// called with the number of secrets once they are listed, then once per secret inspected.
pub async fn status(
    ports: &Ports,
    prefix: &str,
    options: &StatusOptions,
    progress: &(dyn Fn(Progress) + Send + Sync),
) -> Result<Vec<StatusRow>, FleetError> {
    let secrets = managed_secrets(ports, prefix).await?;
    progress(Progress::Listed(secrets.len()));
    let now = ports.clock.now();
    bounded(&secrets, |metadata| async move {
        // Contract §3: a name of another shape binds nobody; its user is not read.
        if let Some(problem) = crate::accounts::name_shape_problem(&metadata.name, prefix) {
            progress(Progress::Inspected);
            return Ok(unknown_row(
                metadata,
                State::Broken,
                format!("{problem}: every step refuses it and the sweep leaves it alone"),
            ));
        }
        let inspection = inspect_as(ports, metadata, &options.member_role).await;
        progress(Progress::Inspected);
        match inspection {
            Ok(inspection) => Ok(evaluate(&inspection, now, options)),
            // One account out of reach must not hide the rest of the fleet: its rotations
            // fail too, so its rows are broken.
            Err(error) if error.operation == "AssumeRole" => Ok(unknown_row(
                metadata,
                State::Broken,
                format!(
                    "the user's account cannot be read, and the function cannot rotate it either: {error}"
                ),
            )),
            // Nor may one secret whose reads keep failing (throttled, refused, timed out):
            // what it holds is unknown, and programs may still work.
            Err(error) => Ok(unknown_row(
                metadata,
                State::Unreadable,
                format!("the secret's state is unknown: {error}"),
            )),
        }
    })
    .await
}

/// The row of a secret that could not be inspected, from its listing alone: `state` with
/// `reason` (the failed call and its error).
fn unknown_row(metadata: &SecretMetadata, state: State, reason: String) -> StatusRow {
    StatusRow {
        secret: metadata.name.clone(),
        arn: metadata.arn.clone(),
        user: bound_user(&metadata.name).to_owned(),
        account: account_of(&metadata.name),
        key: None,
        rotation_enabled: metadata.rotation_enabled,
        last_rotated: metadata.last_rotated,
        next_rotation: metadata.next_rotation,
        pending: None,
        state,
        states: vec![state],
        reasons: vec![reason],
        adopted: None,
    }
}

/// What a long fleet operation reports as it goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// This many items are to be inspected.
    Listed(usize),
    /// One more item is done.
    Inspected,
}

/// Why a secret whose active previous key has no ledger record is blocked, and the fix.
pub fn previous_unrecorded_reason(secret: &str, key: &AccessKeyId) -> String {
    format!(
        "the AWSPREVIOUS key {key} has no record in the secret's ledger (its rotator:key:{key} tag was removed, or a value written by hand named it): the rotator never retires it on the value's word alone, so the next rotation fails for want of room; if it is the secret's, hand it back with `rotator adopt {secret} --key {key}`"
    )
}
