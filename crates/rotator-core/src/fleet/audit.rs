//! `rotator audit`: every IAM user with access keys, from the credential report, matched
//! against the managed secrets.
//!
//! The report (`GenerateCredentialReport`, then `GetCredentialReport`) lists every user with
//! its two key slots, without key ids, for an account of any size; IAM may serve one up to
//! four hours old. Only the users that a managed secret binds are read further, with the
//! secret's [`inspect`](crate::fleet::inspect) (`ListAccessKeys`, the staged key ids): their
//! keys are matched to the report's slots by creation time. Findings, for a threshold of N
//! days (a key is "older than N days" when it is at least N days old):
//!
//! - `unmanaged-old-key`: an active key older than N days that no managed secret holds in a
//!   stage (for a user no secret binds, every such key; its id is then unknown to the report);
//! - `managed-old-key`: a managed secret's `AWSCURRENT` key older than N days: its rotation
//!   is broken; or an active key a managed secret adopted, older than N days by its IAM
//!   creation date (contract §10: the adoption restarts the schedule, not the key's age);
//! - `unused-key`: an active key not used for N days (never used: created N days ago or more);
//! - `two-active-keys`: a user holding two active keys.

use std::collections::BTreeMap;
use std::fmt;

use crate::accounts::{MemberRole, bound_account, partition_and_account};
use crate::fleet::status::{Progress, adopted_key};
use crate::fleet::{FleetError, Inspection, inspect_all, managed_secrets};
use crate::notice::rfc3339;
use crate::ports::{AccessKeyInfo, CredentialReportRow, EpochSecs, KeyStatus, SecretMetadata};
use crate::rotation::{Ports, bound_user};
use crate::types::{AccessKeyId, AccountId};

/// The default age threshold, in days.
pub const DEFAULT_MAX_AGE_DAYS: u64 = 90;

/// What an audit finds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FindingKind {
    UnmanagedOldKey,
    ManagedOldKey,
    UnusedKey,
    TwoActiveKeys,
}

impl FindingKind {
    /// The finding's name in the output.
    pub fn as_str(self) -> &'static str {
        match self {
            FindingKind::UnmanagedOldKey => "unmanaged-old-key",
            FindingKind::ManagedOldKey => "managed-old-key",
            FindingKind::UnusedKey => "unused-key",
            FindingKind::TwoActiveKeys => "two-active-keys",
        }
    }
}

impl fmt::Display for FindingKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One finding about a user or one of its keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub kind: FindingKind,
    pub user: String,
    /// The key's id; `None` when only the credential report knows the key (a user that no
    /// secret manages), and for `two-active-keys`.
    pub key: Option<AccessKeyId>,
    /// The managed secret that holds the key, or that binds the user.
    pub secret: Option<String>,
    /// When the key was created (for `two-active-keys`, the newer key).
    pub created: Option<EpochSecs>,
    /// When the key was last used, as IAM reports it.
    pub last_used: Option<EpochSecs>,
    /// One sentence for people.
    pub detail: String,
}

/// How the audit decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuditOptions {
    /// Keys at least this many days old, or unused for this many days, are findings.
    pub max_age_days: u64,
}

impl Default for AuditOptions {
    fn default() -> Self {
        Self {
            max_age_days: DEFAULT_MAX_AGE_DAYS,
        }
    }
}

/// What an audit read and found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Audit {
    /// Users in the report that hold at least one access key.
    pub users_with_keys: usize,
    /// Of those, the users that a managed secret binds.
    pub managed_users: usize,
    /// Access keys in the report.
    pub keys: usize,
    /// The findings, by user, then kind.
    pub findings: Vec<Finding>,
}

/// Which accounts an audit reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Accounts {
    /// The account of the caller's credentials.
    Own,
    /// One member account, through the member role.
    One(AccountId),
    /// The caller's account, and every account that a managed secret's name names.
    All,
}

/// One account's audit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountAudit {
    /// The member account; `None` for the caller's own.
    pub account: Option<AccountId>,
    pub audit: Audit,
}

/// Audits the accounts of `scope`: each one's credential report (read with its IAM: the
/// member role for another account) against the secrets named `prefix*` whose users live
/// there. The accounts come in order, the caller's own first.
pub async fn audit_accounts(
    ports: &Ports,
    prefix: &str,
    options: AuditOptions,
    role: &MemberRole,
    scope: &Accounts,
    progress: &(dyn Fn(Progress) + Send + Sync),
) -> Result<Vec<AccountAudit>, FleetError> {
    let mut audits = Vec::new();
    if *scope == Accounts::Own {
        audits.push(AccountAudit {
            account: None,
            audit: audit(ports, prefix, options, role, None, progress).await?,
        });
        return Ok(audits);
    }
    let secrets = managed_secrets(ports, prefix).await?;
    let own = secrets
        .iter()
        .find_map(|secret| partition_and_account(&secret.arn));
    let partition = own.as_ref().map_or("aws", |(partition, _)| partition);
    let own = own.as_ref().map(|(_, account)| account);
    let members: Vec<AccountId> = match scope {
        Accounts::One(account) if Some(account) == own => Vec::new(),
        Accounts::One(account) => vec![account.clone()],
        _ => {
            let mut named: Vec<AccountId> = secrets
                .iter()
                .filter_map(|secret| bound_account(&secret.name))
                .filter(|account| Some(account) != own)
                .collect();
            named.sort();
            named.dedup();
            named
        }
    };
    if *scope == Accounts::All || members.is_empty() {
        audits.push(AccountAudit {
            account: None,
            audit: audit(ports, prefix, options, role, None, progress).await?,
        });
    }
    for account in members {
        let role_arn = role.arn_in(partition, &account);
        let iam = ports
            .members
            .iam_as(&role_arn, role.external_id.as_deref())
            .await
            .map_err(FleetError::of(
                "AssumeRole",
                format!("{role_arn} in account {account}"),
            ))?;
        let mut in_account = ports.clone();
        in_account.iam = iam;
        let audit = audit(&in_account, prefix, options, role, Some(&account), progress).await?;
        audits.push(AccountAudit {
            account: Some(account),
            audit,
        });
    }
    Ok(audits)
}

/// Audits the account of `ports.iam` (`account`: a member account; `None`: the caller's own)
/// against the secrets named `prefix*` whose users live there. `progress` hears how many
/// secrets are inspected, then each one done.
pub async fn audit(
    ports: &Ports,
    prefix: &str,
    options: AuditOptions,
    role: &MemberRole,
    account: Option<&AccountId>,
    progress: &(dyn Fn(Progress) + Send + Sync),
) -> Result<Audit, FleetError> {
    let report = ports
        .iam
        .credential_report()
        .await
        .map_err(FleetError::of("GetCredentialReport", "the account"))?;
    let secrets = managed_secrets(ports, prefix).await?;
    // The secrets whose user lives in this account, by the user's name (IAM compares user
    // names without regard to case). A name naming the secrets' own account is the same as
    // one naming none.
    let mut by_user: BTreeMap<String, Vec<&SecretMetadata>> = BTreeMap::new();
    for secret in &secrets {
        let own = partition_and_account(&secret.arn).map(|(_, own)| own);
        let named = bound_account(&secret.name).filter(|named| Some(named) != own.as_ref());
        if named.as_ref() == account {
            by_user
                .entry(bound_user(&secret.name).to_ascii_lowercase())
                .or_default()
                .push(secret);
        }
    }
    let with_keys: Vec<&CredentialReportRow> =
        report.iter().filter(|row| !row.keys.is_empty()).collect();
    let to_inspect: Vec<SecretMetadata> = with_keys
        .iter()
        .filter_map(|row| by_user.get(&row.user.to_ascii_lowercase()))
        .flatten()
        .map(|secret| (*secret).clone())
        .collect();
    progress(Progress::Listed(to_inspect.len()));
    // Only users of this account are in its report; another account's are read through the
    // member role, as the function reads them.
    let inspections =
        inspect_all(ports, &to_inspect, role, &|| progress(Progress::Inspected)).await?;
    let mut inspected: BTreeMap<String, Vec<&Inspection>> = BTreeMap::new();
    for inspection in &inspections {
        inspected
            .entry(inspection.user.to_ascii_lowercase())
            .or_default()
            .push(inspection);
    }
    let judge = Judge {
        now: ports.clock.now(),
        max_age: options.max_age_days.saturating_mul(86_400),
        max_age_days: options.max_age_days,
    };
    let mut findings = Vec::new();
    let mut managed_users = 0;
    for row in &with_keys {
        match inspected.get(&row.user.to_ascii_lowercase()) {
            Some(secrets) => {
                managed_users += 1;
                judge.managed_user(row, secrets, &mut findings);
            }
            None => judge.unmanaged_user(row, &mut findings),
        }
    }
    findings.sort_by(|a, b| (&a.user, a.kind, &a.key).cmp(&(&b.user, b.kind, &b.key)));
    Ok(Audit {
        users_with_keys: with_keys.len(),
        managed_users,
        keys: with_keys.iter().map(|row| row.keys.len()).sum(),
        findings,
    })
}

/// One key as the audit judges it, from `ListAccessKeys` or from a report slot.
struct Judged<'a> {
    user: &'a str,
    id: Option<&'a AccessKeyId>,
    active: bool,
    created: Option<EpochSecs>,
    last_used: Option<EpochSecs>,
}

struct Judge {
    now: EpochSecs,
    max_age: u64,
    max_age_days: u64,
}

impl Judge {
    fn old(&self, at: Option<EpochSecs>) -> bool {
        at.is_some_and(|at| self.now.saturating_sub(at) >= self.max_age)
    }

    /// A user that no managed secret binds: the report's slots are all there is.
    fn unmanaged_user(&self, row: &CredentialReportRow, findings: &mut Vec<Finding>) {
        for slot in &row.keys {
            let key = Judged {
                user: &row.user,
                id: None,
                active: slot.active,
                created: slot.last_rotated,
                last_used: slot.last_used,
            };
            self.unmanaged_old(&key, None, findings);
            self.unused(&key, None, findings);
        }
        let active: Vec<Option<EpochSecs>> = row
            .keys
            .iter()
            .filter(|slot| slot.active)
            .map(|slot| slot.last_rotated)
            .collect();
        self.two_active(&row.user, &active, None, findings);
    }

    /// A user that managed secrets bind: its keys from `ListAccessKeys`, last uses from the
    /// report's slot of the same creation time (or the inspection's `GetAccessKeyLastUsed`).
    fn managed_user(
        &self,
        row: &CredentialReportRow,
        secrets: &[&Inspection],
        findings: &mut Vec<Finding>,
    ) {
        let Some(keys) = secrets.iter().find_map(|s| s.keys.as_ref()) else {
            // The user is gone since the report was made.
            return;
        };
        let mut slots: Vec<_> = row.keys.iter().collect();
        for held in keys {
            let slot = slots
                .iter()
                .position(|slot| slot.last_rotated.is_some() && slot.last_rotated == held.created)
                .map(|i| slots.remove(i));
            let last_used = slot.and_then(|slot| slot.last_used).or_else(|| {
                secrets
                    .iter()
                    .filter(|s| s.previous_key() == Some(&held.id))
                    .find_map(|s| s.previous_last_used.as_ref()?.when)
            });
            let key = Judged {
                user: &row.user,
                id: Some(&held.id),
                active: held.status == KeyStatus::Active,
                created: held.created,
                last_used,
            };
            let current_of = secrets.iter().find(|s| s.current_key() == Some(&held.id));
            let known_to = secrets.iter().find(|s| s.knows(&held.id));
            // Contract §10: an adopted key is as old as IAM says, whatever the adoption's date.
            let adopted_by = secrets
                .iter()
                .find(|s| adopted_key(s).is_some_and(|adopted| adopted.id == held.id));
            if let Some(secret) = adopted_by
                && key.active
                && self.old(key.created)
            {
                findings.push(Finding {
                    kind: FindingKind::ManagedOldKey,
                    user: row.user.clone(),
                    key: Some(held.id.clone()),
                    secret: Some(secret.name.clone()),
                    created: key.created,
                    last_used,
                    detail: format!(
                        "{} adopted key {} of {}, created {}: at least {} days old by its IAM creation date (the adoption does not make it younger); rotate now: rotator rotate {}",
                        secret.name,
                        held.id,
                        row.user,
                        when(key.created),
                        self.max_age_days,
                        secret.name
                    ),
                });
                self.unused(&key, Some(secret.name.as_str()), findings);
                continue;
            }
            match current_of {
                Some(secret) if key.active && self.old(key.created) => findings.push(Finding {
                    kind: FindingKind::ManagedOldKey,
                    user: row.user.clone(),
                    key: Some(held.id.clone()),
                    secret: Some(secret.name.clone()),
                    created: key.created,
                    last_used,
                    detail: format!(
                        "{} holds key {} of {}, created {}: at least {} days old, so its rotation is not working",
                        secret.name,
                        held.id,
                        row.user,
                        when(key.created),
                        self.max_age_days
                    ),
                }),
                Some(_) => {}
                None if known_to.is_none() => {
                    self.unmanaged_old(&key, secrets.first().map(|s| s.name.as_str()), findings);
                }
                None => {}
            }
            let secret = known_to.or(secrets.first()).map(|s| s.name.as_str());
            self.unused(&key, secret, findings);
        }
        let active: Vec<Option<EpochSecs>> = keys
            .iter()
            .filter(|key| key.status == KeyStatus::Active)
            .map(|key: &AccessKeyInfo| key.created)
            .collect();
        let secret = secrets.first().map(|s| s.name.as_str());
        self.two_active(&row.user, &active, secret, findings);
    }

    fn unmanaged_old(&self, key: &Judged<'_>, secret: Option<&str>, out: &mut Vec<Finding>) {
        if !key.active || !self.old(key.created) {
            return;
        }
        out.push(Finding {
            kind: FindingKind::UnmanagedOldKey,
            user: key.user.to_owned(),
            key: key.id.cloned(),
            secret: secret.map(str::to_owned),
            created: key.created,
            last_used: key.last_used,
            detail: format!(
                "{} holds {}, created {}, at least {} days old, that no managed secret holds{}",
                key.user,
                active_key(key.id),
                when(key.created),
                self.max_age_days,
                match (secret, key.id) {
                    // Contract §10: the secret that binds the user can take the key over.
                    (Some(secret), Some(id)) => {
                        format!("; take it over with: rotator adopt '{secret}' --key {id}")
                    }
                    _ => String::new(),
                }
            ),
        });
    }

    fn unused(&self, key: &Judged<'_>, secret: Option<&str>, out: &mut Vec<Finding>) {
        if !key.active || !self.old(key.last_used.or(key.created)) {
            return;
        }
        let detail = match key.last_used {
            Some(used) => format!(
                "{} of {} was last used {}, at least {} days ago",
                active_key(key.id),
                key.user,
                rfc3339(used),
                self.max_age_days
            ),
            None => format!(
                "{} of {} was never used since it was created {}",
                active_key(key.id),
                key.user,
                when(key.created)
            ),
        };
        out.push(Finding {
            kind: FindingKind::UnusedKey,
            user: key.user.to_owned(),
            key: key.id.cloned(),
            secret: secret.map(str::to_owned),
            created: key.created,
            last_used: key.last_used,
            detail,
        });
    }

    fn two_active(
        &self,
        user: &str,
        active: &[Option<EpochSecs>],
        secret: Option<&str>,
        out: &mut Vec<Finding>,
    ) {
        if active.len() < 2 {
            return;
        }
        out.push(Finding {
            kind: FindingKind::TwoActiveKeys,
            user: user.to_owned(),
            key: None,
            secret: secret.map(str::to_owned),
            created: active.iter().flatten().max().copied(),
            last_used: None,
            detail: format!("{user} holds two active access keys"),
        });
    }
}

/// `active key AKIA...`, or `an active key` when the report gives no id.
fn active_key(id: Option<&AccessKeyId>) -> String {
    id.map_or("an active key".to_owned(), |id| format!("active key {id}"))
}

fn when(at: Option<EpochSecs>) -> String {
    at.map_or("at an unknown time".to_owned(), rfc3339)
}
