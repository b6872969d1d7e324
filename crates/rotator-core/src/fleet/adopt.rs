//! `rotator adopt`: a managed secret takes over a key that its user already holds and that
//! programs use (contract §10), by writing `AdoptAccessKeyId` into a new `AWSCURRENT` value;
//! with the key's secret, the pair itself becomes the value, so that programs can move to
//! reading the secret before any new key exists.
//!
//! A key that another secret holds is never adopted (contract §10): one that another secret's
//! ledger records (its rotation made it, or it adopted it: `rotator:key:<id>` =
//! `<digest>/adopted`), or one that a value of another managed secret bound to the same user
//! names (`AccessKeyId` or `AdoptAccessKeyId` of its `AWSCURRENT` or `AWSPREVIOUS`: an
//! adoption whose first step has not yet written its record). The refusal names that secret.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::accounts::{MemberRole, iam_for_secret, member_account};
use crate::config::{DEFAULT_GRACE_MAX, OldKeyPolicy, Settings};
use crate::fleet::rotate::{StartError, Started};
use crate::fleet::{FleetError, Inspection, inspect_as, managed_secrets};
use crate::ledger::{Ledger, SecretDigest, record_tag_key};
use crate::ports::{DeploymentReader, EpochSecs, KeyStatus, SecretMetadata, VersionRef};
use crate::rotation::{AWSCURRENT, AWSPREVIOUS, Ports, bound_user, caller_is_bound_user};
use crate::secret_value::{KeyPair, SecretAccessKey, SecretValue};
use crate::types::{AccessKeyId, ClientRequestToken, SecretId, UserName, rfc3339};

/// What an adoption will write, decided before anything changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdoptPlan {
    pub secret: String,
    pub user: String,
    pub key: AccessKeyId,
    /// When IAM created the key (`CreateDate`): the adopted key's age counts from it, not from
    /// the adoption (contract §10).
    pub created: Option<EpochSecs>,
    /// Whether Secrets Manager rotates the secret, and every how many days.
    pub rotation_enabled: bool,
    pub rotation_interval_days: Option<u64>,
    /// When Secrets Manager said it would rotate next, before the adoption: what a schedule
    /// without an interval (a `cron(...)` expression) has, which an adoption does not move.
    pub next_rotation: Option<EpochSecs>,
}

/// Why a secret cannot adopt a key. Nothing was changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AdoptError {
    #[error(transparent)]
    Call(#[from] FleetError),
    #[error("{secret}: {problem}")]
    Refused { secret: String, problem: String },
    #[error(
        "{secret}: user {user} holds several active keys that no secret knows ({}): name the one to adopt with --key",
        keys.iter().map(AccessKeyId::as_str).collect::<Vec<_>>().join(", ")
    )]
    Several {
        secret: String,
        user: String,
        keys: Vec<AccessKeyId>,
    },
}

impl AdoptError {
    fn refused(inspection: &Inspection, problem: impl Into<String>) -> Self {
        AdoptError::Refused {
            secret: inspection.name.clone(),
            problem: problem.into(),
        }
    }
}

/// Decides what `secret` adopts: `key` when given (it must be an active key of the bound
/// user that no secret knows or holds), else the user's only such key. Reads only; lists the
/// secrets named `prefix*` to find the others that hold the user's keys ([`plan_in`] takes
/// them already listed).
pub async fn plan(
    ports: &Ports,
    metadata: &SecretMetadata,
    role: &MemberRole,
    prefix: &str,
    key: Option<&AccessKeyId>,
) -> Result<AdoptPlan, AdoptError> {
    let fleet = managed_secrets(ports, prefix).await?;
    plan_in(ports, metadata, &fleet, role, prefix, key).await
}

/// [`plan`] among the managed secrets `fleet` (`ListSecrets` of the prefix, listed once for
/// `rotator adopt --all`).
pub async fn plan_in(
    ports: &Ports,
    metadata: &SecretMetadata,
    fleet: &[SecretMetadata],
    role: &MemberRole,
    prefix: &str,
    key: Option<&AccessKeyId>,
) -> Result<AdoptPlan, AdoptError> {
    // Contract §3: a name of another shape binds nobody, so it adopts nothing.
    if let Some(problem) = crate::accounts::name_shape_problem(&metadata.name, prefix) {
        return Err(AdoptError::Refused {
            secret: metadata.name.clone(),
            problem,
        });
    }
    let inspection = inspect_as(ports, metadata, role).await?;
    if let Some(adopted) = inspection
        .current
        .as_ref()
        .and_then(|current| current.adopted.as_ref())
        .filter(|adopted| inspection.key_info(adopted).is_some())
    {
        return Err(AdoptError::refused(
            &inspection,
            format!("it has adopted {adopted} already; one adoption at a time"),
        ));
    }
    let Some(keys) = &inspection.keys else {
        return Err(AdoptError::refused(
            &inspection,
            format!("IAM user {} does not exist", inspection.user),
        ));
    };
    let holders = holders(ports, metadata, &inspection, fleet, role).await?;
    let held = |key: &AccessKeyId| holders.get(key).map(Holder::describe);
    let unknown: Vec<AccessKeyId> = inspection
        .unknown_keys()
        .into_iter()
        .map(|k| k.id.clone())
        .collect();
    let candidates: Vec<AccessKeyId> = unknown
        .iter()
        .filter(|k| !holders.contains_key(*k) && !inspection.foreign_keys.contains(*k))
        .cloned()
        .collect();
    let chosen = match key {
        Some(key) => {
            let Some(info) = keys.iter().find(|k| &k.id == key) else {
                return Err(AdoptError::refused(
                    &inspection,
                    format!("{key} is not one of user {}'s access keys", inspection.user),
                ));
            };
            if let Some(holder) = held(key) {
                return Err(AdoptError::refused(
                    &inspection,
                    format!(
                        "{key} is held by {holder}: a key two secrets hold is retired by one while programs use it through the other"
                    ),
                ));
            }
            if inspection.foreign_keys.contains(key) {
                return Err(AdoptError::refused(
                    &inspection,
                    format!("{key} is another secret's: its rotations made it"),
                ));
            }
            if inspection.knows(key) {
                return Err(AdoptError::refused(
                    &inspection,
                    format!("{key} is the secret's own already"),
                ));
            }
            if info.status != KeyStatus::Active {
                return Err(AdoptError::refused(
                    &inspection,
                    format!("{key} is inactive: no program uses it; delete it instead"),
                ));
            }
            key.clone()
        }
        None => match candidates.as_slice() {
            [] if !unknown.is_empty() => {
                let named: Vec<String> = unknown
                    .iter()
                    .map(|key| match held(key) {
                        Some(holder) => format!("{key} (held by {holder})"),
                        None => format!("{key} (another secret's: its rotations made it)"),
                    })
                    .collect();
                return Err(AdoptError::refused(
                    &inspection,
                    format!(
                        "user {}'s active keys that this secret does not know are held by other secrets: {}; nothing to adopt",
                        inspection.user,
                        named.join(", ")
                    ),
                ));
            }
            [] => {
                return Err(AdoptError::refused(
                    &inspection,
                    format!(
                        "user {} holds no active key that no secret knows: nothing to adopt",
                        inspection.user
                    ),
                ));
            }
            [only] => only.clone(),
            several => {
                return Err(AdoptError::Several {
                    secret: inspection.name.clone(),
                    user: inspection.user.clone(),
                    keys: several.to_vec(),
                });
            }
        },
    };
    Ok(AdoptPlan {
        secret: inspection.name.clone(),
        user: inspection.user.clone(),
        created: inspection.key_info(&chosen).and_then(|info| info.created),
        key: chosen,
        rotation_enabled: inspection.rotation_enabled,
        rotation_interval_days: inspection.rotation_interval_days,
        next_rotation: inspection.next_rotation,
    })
}

/// A secret that holds a key, for the refusal that names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Holder {
    /// A managed secret, by name.
    Secret(String),
    /// A ledger record whose digest matches none of the listed secrets (another prefix, or a
    /// secret deleted since).
    Digest(String),
}

impl Holder {
    /// `secret IamKeyRotator/alice`, or `another secret (ledger digest 1f2e…)`.
    pub fn describe(&self) -> String {
        match self {
            Holder::Secret(name) => format!("secret {name}"),
            Holder::Digest(digest) => format!("another secret (ledger digest {digest})"),
        }
    }
}

/// The keys of the inspected secret's user that another secret holds, with that secret: the
/// other secrets' ledger records on the user (their digest mapped to a secret of `fleet` by
/// [`SecretDigest::of`] its ARN), and the `AWSCURRENT` and `AWSPREVIOUS` values of every other
/// secret of `fleet` bound to the same user of the same account (`AccessKeyId` and
/// `AdoptAccessKeyId`). A value's claim is taken even when the value is not a valid one of its
/// own secret: refusing an adoption is safe, retiring a key programs use is not.
pub async fn holders(
    ports: &Ports,
    metadata: &SecretMetadata,
    inspection: &Inspection,
    fleet: &[SecretMetadata],
    role: &MemberRole,
) -> Result<BTreeMap<AccessKeyId, Holder>, AdoptError> {
    let mut held = BTreeMap::new();
    let Some(keys) = &inspection.keys else {
        return Ok(held);
    };
    let own = SecretDigest::of(&metadata.arn);
    let by_digest: BTreeMap<String, &str> = fleet
        .iter()
        .map(|other| {
            (
                SecretDigest::of(&other.arn).as_str().to_owned(),
                other.name.as_str(),
            )
        })
        .collect();
    if let Ok(user) = UserName::new(inspection.user.as_str()) {
        let iam = iam_for_secret(ports, metadata, role)
            .await
            .map_err(|failed| FleetError::of("AssumeRole", failed.role_arn)(failed.error))?;
        let tags = iam
            .list_user_tags(&user)
            .await
            .map_err(FleetError::of("ListUserTags", user.as_str()))?;
        let ledger = Ledger::from_tags(&tags, &own);
        for key in keys.iter().filter(|key| ledger.foreign.contains(&key.id)) {
            // The record's value starts with the digest of the secret that wrote it.
            let digest = ledger
                .foreign_adopted
                .get(&key.id)
                .map(|digest| digest.as_str().to_owned())
                .or_else(|| {
                    let record = record_tag_key(&key.id);
                    let tag = tags.iter().find(|tag| tag.key == record)?;
                    Some(tag.value.split_once('/')?.0.to_owned())
                })
                .unwrap_or_default();
            let holder = match by_digest.get(&digest) {
                Some(name) => Holder::Secret((*name).to_owned()),
                None => Holder::Digest(digest),
            };
            held.insert(key.id.clone(), holder);
        }
    }
    let account = member_account(metadata);
    let siblings = fleet.iter().filter(|other| {
        other.name != metadata.name
            && SecretDigest::of(&other.arn) != own
            && bound_user(&other.name).eq_ignore_ascii_case(&inspection.user)
            && member_account(other) == account
    });
    for other in siblings {
        let Ok(secret) = SecretId::new(other.name.as_str()) else {
            continue;
        };
        for stage in [AWSCURRENT, AWSPREVIOUS] {
            if other.version_with_stage(stage).is_none() {
                continue;
            }
            let text = ports
                .secrets
                .get_value(
                    &secret,
                    VersionRef {
                        version_id: None,
                        stage,
                    },
                )
                .await
                .map_err(FleetError::of("GetSecretValue", other.name.as_str()))?;
            let Some(value) = text.and_then(|text| SecretValue::parse(&text).ok()) else {
                continue;
            };
            for claimed in [value.access_key_id(), value.adopted.as_ref()]
                .into_iter()
                .flatten()
            {
                if keys.iter().any(|key| &key.id == claimed) {
                    held.entry(claimed.clone())
                        .or_insert_with(|| Holder::Secret(other.name.clone()));
                }
            }
        }
    }
    Ok(held)
}

/// Carries out `plan`: a new `AWSCURRENT` value (version `token`) with `AdoptAccessKeyId`, and,
/// with `secret_access_key`, the adopted pair as the value's key, once STS says that the pair
/// authenticates as the bound user of the bound account. The value that was current is kept
/// whole otherwise (its key included, which stays the secret's). The secret access key is
/// never formatted.
pub async fn adopt(
    ports: &Ports,
    plan: &AdoptPlan,
    token: &ClientRequestToken,
    secret_access_key: Option<SecretAccessKey>,
) -> Result<(), AdoptError> {
    let refused = |problem: String| AdoptError::Refused {
        secret: plan.secret.clone(),
        problem,
    };
    let secret = SecretId::new(plan.secret.as_str()).map_err(|e| refused(e.to_string()))?;
    let failed = |operation| FleetError::of(operation, plan.secret.as_str());
    let metadata = ports
        .secrets
        .describe(&secret)
        .await
        .map_err(failed("DescribeSecret"))?;
    let text = ports
        .secrets
        .get_value(
            &secret,
            VersionRef {
                version_id: None,
                stage: AWSCURRENT,
            },
        )
        .await
        .map_err(failed("GetSecretValue"))?
        .ok_or_else(|| refused("the secret has no AWSCURRENT value".into()))?;
    let mut value = SecretValue::parse(&text).map_err(|problem| {
        refused(format!(
            "the AWSCURRENT value is not a rotator secret: {problem}"
        ))
    })?;
    if !value.user_name.as_str().eq_ignore_ascii_case(&plan.user) {
        return Err(refused(format!(
            "the AWSCURRENT value names user {}, not {}",
            value.user_name, plan.user
        )));
    }
    if let Some(secret_access_key) = secret_access_key {
        if value.key.is_some() {
            return Err(refused(
                "the secret holds a key of its own already: --with-secret is for a secret that holds none yet".into(),
            ));
        }
        let pair = KeyPair {
            access_key_id: plan.key.clone(),
            secret_access_key,
        };
        let arn = ports.credentials.caller_arn(&pair).await.map_err(|e| {
            refused(format!(
                "the key {} and the secret read from standard input do not authenticate: {e}",
                plan.key
            ))
        })?;
        if !caller_is_bound_user(&metadata, &value, &arn) {
            return Err(refused(format!(
                "the key {} authenticates as {arn}, not as user {} of the secret's account",
                plan.key, plan.user
            )));
        }
        value.key = Some(pair);
    }
    value.adopted = Some(plan.key.clone());
    ports
        .secrets
        .put_current(&secret, token, &value.to_secret_string())
        .await
        .map_err(failed("PutSecretValue"))?;
    Ok(())
}

/// The key-age limit: AWS Config's `access-keys-rotated` rule and Security Hub's IAM.3 control
/// flag an active key older than `maxAccessKeyAge`, 90 days by default (AWS Config managed
/// rules, access-keys-rotated; Security Hub controls, IAM.3). The audit's default threshold.
pub const KEY_AGE_LIMIT_DAYS: u64 = crate::fleet::audit::DEFAULT_MAX_AGE_DAYS;

const DAY: u64 = 86_400;

/// How the deployment retires a previous key: its function's old-key policy and, under
/// `grace`, `ROTATOR_GRACE_MAX`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OldKeyRules {
    pub policy: OldKeyPolicy,
    pub grace_max: Duration,
}

/// When an adopted key will be retired at the latest under the deployment's schedule, and how
/// old it will be then (contract §10: its age counts from its IAM `CreateDate`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Retirement {
    /// The latest time the key stays active; `None` when no rotation is scheduled (rotation
    /// disabled, or no interval), so nothing retires it.
    pub by: Option<EpochSecs>,
    /// How old the key is now and will be then, in days, when IAM dated it.
    pub age_now_days: Option<u64>,
    pub age_then_days: Option<u64>,
    /// Whether it would then be past [`KEY_AGE_LIMIT_DAYS`] (always, when nothing retires it).
    pub exceeds_limit: bool,
}

/// How late a scheduled rotation may come: a `rate(N days)` schedule rotates at any time within
/// the UTC day it is due (Secrets Manager API reference, RotationRulesType: Duration). The
/// infra's key-age check (`infra/lib/key-age.ts`) counts the same.
pub const ROTATION_WINDOW_SECS: u64 = DAY;

/// When `plan`'s key, adopted at `now`, is retired at the latest (give or take the sweep's
/// period under `grace`). Secrets Manager counts the adoption's `PutSecretValue` as a rotation
/// and starts the schedule afresh ("manually updating the secret value ... is considered a
/// valid rotation", Secrets Manager API reference, RotationRulesType), so the next rotation
/// comes one interval (and its day's window) after the adoption; from then the adopted key is a
/// previous key, which the old-key policy retires: at that rotation under `delete` and
/// `deactivate`, at `ROTATOR_GRACE_MAX` at the latest under `grace`, and at the rotation after
/// (when it needs room) under `keep`. The same terms as the infra's `maxActiveKeyAge`.
///
/// A schedule without an interval (a `cron(...)` expression) rotates at its next date whatever
/// the adoption: that date stands for the next rotation, and under `keep` the rotation after
/// it is taken one interval of the same length later.
pub fn retirement(plan: &AdoptPlan, now: EpochSecs, rules: &OldKeyRules) -> Retirement {
    let next = match scheduled_interval(plan) {
        Some(interval) => Some((now + interval, interval)),
        None => plan
            .next_rotation
            .filter(|next| plan.rotation_enabled && *next >= now)
            .map(|next| (next, next - now)),
    };
    let by = next.map(|(next, interval)| {
        let rotated = next + ROTATION_WINDOW_SECS;
        match rules.policy {
            OldKeyPolicy::Delete | OldKeyPolicy::Deactivate => rotated,
            OldKeyPolicy::Grace => rotated + rules.grace_max.as_secs(),
            OldKeyPolicy::Keep => rotated + interval + ROTATION_WINDOW_SECS,
        }
    });
    retirement_at(plan.created, now, by)
}

/// [`retirement`] when a rotation starts now: the adopted key is a previous key within minutes.
pub fn retirement_if_rotated_now(
    plan: &AdoptPlan,
    now: EpochSecs,
    rules: &OldKeyRules,
) -> Retirement {
    let after = match rules.policy {
        OldKeyPolicy::Delete | OldKeyPolicy::Deactivate => Some(0),
        OldKeyPolicy::Grace => Some(rules.grace_max.as_secs()),
        OldKeyPolicy::Keep => {
            scheduled_interval(plan).map(|interval| interval + ROTATION_WINDOW_SECS)
        }
    };
    retirement_at(plan.created, now, after.map(|after| now + after))
}

/// The secret's rotation interval in seconds, when Secrets Manager rotates it on a schedule.
fn scheduled_interval(plan: &AdoptPlan) -> Option<u64> {
    plan.rotation_interval_days
        .filter(|_| plan.rotation_enabled)
        .map(|days| days * DAY)
}

fn retirement_at(created: Option<EpochSecs>, now: EpochSecs, by: Option<EpochSecs>) -> Retirement {
    let days = |at: EpochSecs| created.map(|created| at.saturating_sub(created) / DAY);
    let age_then_days = by.and_then(days);
    Retirement {
        by,
        age_now_days: days(now),
        age_then_days,
        exceeds_limit: by.is_none() || age_then_days.is_some_and(|age| age >= KEY_AGE_LIMIT_DAYS),
    }
}

/// The old-key rules of the function that rotates the secret (`GetFunctionConfiguration` of its
/// `RotationLambdaARN`, its `ROTATOR_*` variables parsed as the function parses them). When they
/// cannot be read, the infra's defaults (`grace`, `ROTATOR_GRACE_MAX` 7 days) with a sentence
/// that says so and why.
pub async fn old_key_rules(
    deployment: &dyn DeploymentReader,
    metadata: &SecretMetadata,
) -> (OldKeyRules, Option<String>) {
    let assumed = OldKeyRules {
        policy: OldKeyPolicy::Grace,
        grace_max: DEFAULT_GRACE_MAX,
    };
    let why = match metadata.rotation_function.as_deref() {
        None => "the secret names no rotation function".to_owned(),
        Some(function) => match deployment.function(function).await {
            Err(error) => format!("its function {function} could not be read ({error})"),
            Ok(config) => match Settings::from_variables(&config.variables) {
                Err(error) => format!("its function {function}'s settings do not parse ({error})"),
                Ok(settings) => {
                    return (
                        OldKeyRules {
                            policy: settings.old_key_policy,
                            grace_max: settings.grace_max,
                        },
                        None,
                    );
                }
            },
        },
    };
    (
        assumed,
        Some(format!(
            "{why}: assuming the infra's defaults, ROTATOR_OLD_KEY=grace and ROTATOR_GRACE_MAX=7d"
        )),
    )
}

/// What `rotator adopt` did about the adopted key's age.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AgeAction {
    /// The schedule retires the key within the key-age limit: nothing to do.
    InTime,
    /// The key would pass the limit: its rotation was started now.
    Started(Started),
    /// The key would pass the limit, and `--no-rotate` left it.
    Left,
    /// The key would pass the limit, but its rotation could not start.
    NotStarted(StartError),
}

/// The adopted key's age against the deployment's schedule, and what was done about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgeReport {
    /// When the schedule retires the key, left alone.
    pub scheduled: Retirement,
    /// When it is retired once a rotation starts now.
    pub rotated_now: Retirement,
    pub action: AgeAction,
}

/// After an adoption: when the deployment's schedule retires the key (its age counting from
/// its IAM `CreateDate`), and, when that is past [`KEY_AGE_LIMIT_DAYS`] and `rotate` is set, the
/// secret's rotation started at once ([`rotate::start`], as `rotator rotate` does), so that the
/// adopted key becomes a previous key now. A rotation that cannot start (disabled, already in
/// progress) is reported, not an error: the adoption stands.
pub async fn settle_age(
    ports: &Ports,
    plan: &AdoptPlan,
    rules: &OldKeyRules,
    rotate: bool,
) -> Result<AgeReport, AdoptError> {
    let now = ports.clock.now();
    let scheduled = retirement(plan, now, rules);
    let rotated_now = retirement_if_rotated_now(plan, now, rules);
    let action = if !scheduled.exceeds_limit {
        AgeAction::InTime
    } else if !rotate {
        AgeAction::Left
    } else {
        let secret =
            SecretId::new(plan.secret.as_str()).map_err(|problem| AdoptError::Refused {
                secret: plan.secret.clone(),
                problem: problem.to_string(),
            })?;
        match crate::fleet::rotate::start(ports, &secret).await {
            Ok(started) => AgeAction::Started(started),
            Err(error) => AgeAction::NotStarted(error),
        }
    };
    Ok(AgeReport {
        scheduled,
        rotated_now,
        action,
    })
}

/// One sentence on the adopted key's age and retirement, for `rotator adopt`'s output:
/// `key AKIA… is 200 days old (created 2026-05-21T…); the schedule retires it by …, at 289
/// days, past the 90-day key-age limit (IAM.3): its rotation started now (version …), so it is
/// retired by …`.
pub fn describe_age(plan: &AdoptPlan, report: &AgeReport, dry_run: bool) -> String {
    let age = match (plan.created, report.scheduled.age_now_days) {
        (Some(created), Some(days)) => format!(
            "key {} is {days} days old (created {}, its IAM CreateDate)",
            plan.key,
            rfc3339(created)
        ),
        _ => format!("key {} has no creation date in IAM", plan.key),
    };
    let scheduled = match (report.scheduled.by, report.scheduled.age_then_days) {
        (Some(by), Some(days)) => format!(
            "under the deployment's schedule it is retired by {}, at {days} days",
            rfc3339(by)
        ),
        (Some(by), None) => format!(
            "under the deployment's schedule it is retired by {}",
            rfc3339(by)
        ),
        (None, _) => "no rotation is scheduled, so nothing retires it".to_owned(),
    };
    let rotated_by = report.rotated_now.by.map_or(String::new(), |by| {
        format!(", so it is retired by {}", rfc3339(by))
    });
    let limit = format!("the {KEY_AGE_LIMIT_DAYS}-day key-age limit (IAM.3, access-keys-rotated)");
    let outcome = match &report.action {
        AgeAction::InTime => format!("within {limit}"),
        _ if dry_run => format!("past {limit}: `rotator adopt` would start its rotation now"),
        AgeAction::Started(started) => format!(
            "past {limit}: its rotation started now (version {} is AWSPENDING){rotated_by}",
            started.version
        ),
        AgeAction::Left => format!(
            "past {limit}; left as it is (--no-rotate): rotate it in time with rotator rotate {}",
            plan.secret
        ),
        AgeAction::NotStarted(error) => {
            format!("past {limit}, but its rotation could not start: {error}")
        }
    };
    format!("{age}; {scheduled}, {outcome}")
}
