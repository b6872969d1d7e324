//! One secret inspected: its stages' keys, its user's keys, the old key's last use and the age
//! of a rotation in progress, read with only the requests its state needs.

use crate::accounts::{MemberRole, bound_account, iam_for_secret, partition_and_account};
use crate::fleet::{FleetError, bounded};
use crate::ledger::{Ledger, SecretDigest};
use crate::ports::{
    AccessKeyInfo, EpochSecs, KeyLastUsed, KeyStatus, PortErrorKind, SecretMetadata, VersionRef,
};
use crate::rotation::{AWSCURRENT, AWSPENDING, AWSPREVIOUS, Ports, bound_user};
use crate::secret_value::SecretValue;
use crate::types::{AccessKeyId, SecretId, UserName};

/// What a staged version's value says about the key it holds. The secret access key is
/// never kept: the value is parsed, its key id and user taken, and the rest dropped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StagedValue {
    /// The version holds no value yet (a rotation's new version before createSecret stored
    /// it) or a value without a key (a secret never rotated: `{"UserName": "alice"}`).
    NoKey,
    /// The value holds this access key of the bound user.
    Key(AccessKeyId),
    /// The value is not a rotator secret; the parser's problem (never the value itself).
    Invalid(String),
    /// The value names this user, not the one the secret's name binds.
    OtherUser(String),
    /// The value names this account (`AccountId`), not the one the secret's name binds.
    OtherAccount(String),
}

impl StagedValue {
    /// The access key id, when the value holds one of the bound user.
    pub fn key(&self) -> Option<&AccessKeyId> {
        match self {
            StagedValue::Key(key) => Some(key),
            _ => None,
        }
    }
}

/// A version that carries a stage, and what its value says when it was read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StagedVersion {
    pub version: String,
    /// `None` when the value was not read: the secret's state did not need it.
    pub value: Option<StagedValue>,
    /// The value's `AdoptAccessKeyId` (contract §10), when it was read and names one.
    pub adopted: Option<AccessKeyId>,
}

/// The `AWSPENDING` version of a rotation in progress (one that is not `AWSCURRENT`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingVersion {
    pub version: String,
    /// When Secrets Manager created it (`ListSecretVersionIds`), when it says.
    pub created: Option<EpochSecs>,
    /// `None` when the value was not read: the user holds no key it could explain.
    pub value: Option<StagedValue>,
}

/// Everything the fleet knows about one managed secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inspection {
    pub name: String,
    pub arn: String,
    /// The IAM user the name binds (its last segment).
    pub user: String,
    /// The account of the user, when the name gives one ([`account_of`]); `None`: the
    /// account the rotator runs in.
    pub account: Option<String>,
    pub rotation_enabled: bool,
    pub rotation_interval_days: Option<u64>,
    pub last_rotated: Option<EpochSecs>,
    pub next_rotation: Option<EpochSecs>,
    /// When the inspection read the secret, by the clock port.
    pub inspected_at: EpochSecs,
    /// The `AWSCURRENT` version (always read); `None` when no version holds the stage.
    pub current: Option<StagedVersion>,
    /// The `AWSPREVIOUS` version; its value is read only when the user holds an active key
    /// that neither `AWSCURRENT` nor `AWSPENDING` explains.
    pub previous: Option<StagedVersion>,
    /// The rotation in progress, if any.
    pub pending: Option<PendingVersion>,
    /// The bound user's keys (`ListAccessKeys`); `None` when IAM has no such user.
    pub keys: Option<Vec<AccessKeyInfo>>,
    /// Keys that the rotator's ledger (the user's tags) attributes to one of this secret's
    /// tokens. Read only for an active key that no stage explains, or an active AWSPREVIOUS
    /// key (which the sweep retires only when the secret's ledger records it); empty otherwise.
    pub ledger_keys: Vec<AccessKeyId>,
    /// The `AWSPREVIOUS` key's last use, read only while that key is active.
    pub previous_last_used: Option<KeyLastUsed>,
    /// Keys that another secret's ledger records, when the user's tags were read.
    pub foreign_keys: Vec<AccessKeyId>,
}

impl Inspection {
    /// The access key id in `AWSCURRENT`.
    pub fn current_key(&self) -> Option<&AccessKeyId> {
        self.current.as_ref()?.value.as_ref()?.key()
    }

    /// The secret's previous key, the one its old-key policy and the sweep retire: a key that
    /// the `AWSCURRENT` value adopted beside its own (contract §10: the adoption counts as a
    /// rotation), else the key in `AWSPREVIOUS` (when it was read), or the key that value
    /// adopted when it holds none of its own (the first rotation after an adoption).
    pub fn previous_key(&self) -> Option<&AccessKeyId> {
        self.adopted_beside_current()
            .or_else(|| self.previous_value_key())
            .or_else(|| self.previous.as_ref()?.adopted.as_ref())
    }

    /// Whether [`Inspection::previous_key`] is an adopted key rather than one of the secret's
    /// rotations.
    pub fn previous_is_adopted(&self) -> bool {
        let Some(previous) = self.previous_key() else {
            return false;
        };
        [self.current.as_ref(), self.previous.as_ref()]
            .into_iter()
            .flatten()
            .any(|staged| staged.adopted.as_ref() == Some(previous))
    }

    /// The key the `AWSPREVIOUS` value holds, when it was read.
    fn previous_value_key(&self) -> Option<&AccessKeyId> {
        self.previous.as_ref()?.value.as_ref()?.key()
    }

    /// The key the `AWSCURRENT` value adopted, when it also holds a key of its own.
    fn adopted_beside_current(&self) -> Option<&AccessKeyId> {
        let current = self.current_key()?;
        self.current
            .as_ref()?
            .adopted
            .as_ref()
            .filter(|adopted| *adopted != current)
    }

    /// The access key id in `AWSPENDING`, when it was read.
    pub fn pending_key(&self) -> Option<&AccessKeyId> {
        self.pending.as_ref()?.value.as_ref()?.key()
    }

    /// The user's key `id`, as `ListAccessKeys` describes it.
    pub fn key_info(&self, id: &AccessKeyId) -> Option<&AccessKeyInfo> {
        self.keys.as_ref()?.iter().find(|key| &key.id == id)
    }

    /// The `AWSCURRENT` key as the user holds it; `None` when the user does not hold it.
    pub fn current_key_info(&self) -> Option<&AccessKeyInfo> {
        self.key_info(self.current_key()?)
    }

    /// The `AWSPREVIOUS` key as the user holds it, when it was read and the user still has it.
    pub fn previous_key_info(&self) -> Option<&AccessKeyInfo> {
        self.key_info(self.previous_key()?)
    }

    /// The active `AWSPREVIOUS` key when no ledger records it (contract §5): a person removed
    /// its `rotator:key:` record, or someone wrote a value naming a key the rotator did not
    /// make. No rotation retires it on the value's word alone, so the rotation that needs its
    /// room fails until `rotator adopt SECRET --key ID` hands it back.
    pub fn previous_unrecorded(&self) -> Option<&AccessKeyInfo> {
        if self.previous_is_adopted() {
            return None;
        }
        let key = self.previous_key_info()?;
        let unrecorded =
            !self.ledger_keys.contains(&key.id) && !self.foreign_keys.contains(&key.id);
        (unrecorded && key.status == KeyStatus::Active && Some(&key.id) != self.current_key())
            .then_some(key)
    }

    /// Whether `id` is a key the secret knows: one of its stages' or its ledger's.
    pub fn knows(&self, id: &AccessKeyId) -> bool {
        let adopted = [self.current.as_ref(), self.previous.as_ref()]
            .into_iter()
            .flatten()
            .filter_map(|staged| staged.adopted.as_ref());
        [
            self.current_key(),
            self.previous_value_key(),
            self.pending_key(),
        ]
        .into_iter()
        .flatten()
        .chain(adopted)
        .any(|known| known == id)
            || self.ledger_keys.contains(id)
    }

    /// Whether the `AWSPREVIOUS` key is one the secret's own rotations made (its ledger records
    /// it): only such a key is the rotator's to retire.
    pub fn previous_owned(&self) -> bool {
        self.previous_key().is_some_and(|key| {
            if self.previous_is_adopted() {
                !self.foreign_keys.contains(key)
            } else {
                self.ledger_keys.contains(key)
            }
        })
    }

    /// Whether the `AWSCURRENT` key is one of the user's active keys.
    pub fn current_usable(&self) -> bool {
        self.current_key_info()
            .is_some_and(|key| key.status == KeyStatus::Active)
    }

    /// The user's active keys that the secret does not know: the next rotation finds no room
    /// beside them (createSecret never deletes them).
    pub fn unknown_keys(&self) -> Vec<&AccessKeyInfo> {
        self.keys
            .iter()
            .flatten()
            .filter(|key| key.status == KeyStatus::Active && !self.knows(&key.id))
            .collect()
    }

    /// How old the rotation in progress is, at `now`, when Secrets Manager dated its version.
    pub fn pending_age(&self, now: EpochSecs) -> Option<u64> {
        Some(now.saturating_sub(self.pending.as_ref()?.created?))
    }
}

/// The account a secret's name gives its user: the segment before the user's when it is 12
/// digits (`IamKeyRotator/111122223333/alice`, [`bound_account`]); `None` for the rotator's own
/// account.
pub fn account_of(secret_name: &str) -> Option<String> {
    bound_account(secret_name).map(|account| account.as_str().to_owned())
}

/// Reads what one secret holds, with only the requests its state needs (see the module's
/// documentation in [`crate::fleet`]). A secret of another account is read through the
/// default member role ([`inspect_as`] takes another).
pub async fn inspect(ports: &Ports, metadata: &SecretMetadata) -> Result<Inspection, FleetError> {
    inspect_as(ports, metadata, &MemberRole::default()).await
}

/// [`inspect`], reaching the IAM of another account (a name `<prefix>/<account>/<user>`)
/// through `role` assumed there (`sts:AssumeRole`, one request per role, then cached).
pub async fn inspect_as(
    ports: &Ports,
    metadata: &SecretMetadata,
    role: &MemberRole,
) -> Result<Inspection, FleetError> {
    let name = metadata.name.as_str();
    let secret = SecretId::new(name).map_err(|problem| FleetError {
        operation: "GetSecretValue",
        subject: name.to_owned(),
        error: crate::ports::PortError::new(PortErrorKind::InvalidRequest, problem.to_string()),
    })?;
    let user = bound_user(name).to_owned();
    let current_version = metadata.version_with_stage(AWSCURRENT);
    let pending_version = metadata
        .version_with_stage(AWSPENDING)
        .filter(|version| Some(*version) != current_version);
    let mut inspection = Inspection {
        name: name.to_owned(),
        arn: metadata.arn.clone(),
        account: account_of(name),
        rotation_enabled: metadata.rotation_enabled,
        rotation_interval_days: metadata.rotation_interval_days,
        last_rotated: metadata.last_rotated,
        next_rotation: metadata.next_rotation,
        inspected_at: ports.clock.now(),
        current: None,
        previous: metadata
            .version_with_stage(AWSPREVIOUS)
            .map(|version| StagedVersion {
                version: version.to_owned(),
                value: None,
                adopted: None,
            }),
        pending: None,
        keys: None,
        ledger_keys: Vec::new(),
        previous_last_used: None,
        foreign_keys: Vec::new(),
        user,
    };
    let own = partition_and_account(&metadata.arn);
    let expected_account = bound_account(name).or_else(|| own.as_ref().map(|(_, a)| a.clone()));
    let reader = Reader {
        ports,
        secret: &secret,
        user: &inspection.user,
        account: expected_account.as_ref().map(|a| a.as_str()),
        own_account: own.as_ref().map(|(_, a)| a.as_str()),
    };
    if let Some(version) = current_version {
        let (value, adopted) = reader.read(AWSCURRENT, None).await?;
        inspection.current = Some(StagedVersion {
            version: version.to_owned(),
            value: Some(value),
            adopted,
        });
    }
    if let Some(version) = pending_version {
        let versions = ports
            .secrets
            .list_versions(&secret)
            .await
            .map_err(FleetError::of("ListSecretVersionIds", name))?;
        inspection.pending = Some(PendingVersion {
            version: version.to_owned(),
            created: versions
                .iter()
                .find(|v| v.id == version)
                .and_then(|v| v.created),
            value: None,
        });
    }
    let Ok(user_name) = UserName::new(inspection.user.as_str()) else {
        // A name IAM cannot hold is no user's: the secret binds nobody.
        return Ok(inspection);
    };
    let iam = iam_for_secret(ports, metadata, role)
        .await
        .map_err(|failed| FleetError::of("AssumeRole", failed.role_arn)(failed.error))?;
    inspection.keys = match iam.list_access_keys(&user_name).await {
        Ok(keys) => Some(keys),
        Err(error) if error.kind == PortErrorKind::NotFound => None,
        Err(error) => return Err(FleetError::of("ListAccessKeys", user_name.as_str())(error)),
    };
    // Explain the user's other active keys, cheapest and likeliest first: the rotation in
    // progress, the previous version, then the rotator's ledger.
    if !inspection.unknown_keys().is_empty()
        && let Some(pending) = inspection.pending.as_mut()
    {
        pending.value = Some(reader.read(AWSPENDING, Some(&pending.version)).await?.0);
    }
    if !inspection.unknown_keys().is_empty()
        && let Some(previous) = inspection.previous.as_mut()
    {
        let (value, adopted) = reader.read(AWSPREVIOUS, None).await?;
        previous.value = Some(value);
        previous.adopted = adopted;
    }
    let previous_active = inspection
        .previous_key_info()
        .is_some_and(|previous| previous.status == KeyStatus::Active)
        && inspection.previous_key() != inspection.current_key();
    if !inspection.unknown_keys().is_empty() || previous_active {
        let tags = iam
            .list_user_tags(&user_name)
            .await
            .map_err(FleetError::of("ListUserTags", user_name.as_str()))?;
        let ledger = Ledger::from_tags(&tags, &SecretDigest::of(&inspection.arn));
        let previous = inspection.previous_key().cloned();
        inspection.foreign_keys = ledger.foreign.iter().cloned().collect();
        inspection.ledger_keys = inspection
            .keys
            .iter()
            .flatten()
            .filter(|key| {
                let asked = !inspection.knows(&key.id) || Some(&key.id) == previous.as_ref();
                key.status == KeyStatus::Active && asked && ledger.owner_of(key).is_some()
            })
            .map(|key| key.id.clone())
            .collect();
    }
    if previous_active && let Some(previous) = inspection.previous_key_info() {
        let id = previous.id.clone();
        inspection.previous_last_used = match iam.access_key_last_used(&id).await {
            Ok(used) => Some(used),
            Err(error) if error.kind == PortErrorKind::NotFound => None,
            Err(error) => {
                return Err(FleetError::of("GetAccessKeyLastUsed", id.as_str())(error));
            }
        };
    }
    Ok(inspection)
}

/// Inspects every secret, [`CONCURRENCY`](crate::fleet::CONCURRENCY) at a time, in the order
/// given, other accounts' through `role`; `progress` is called once per secret done (for a
/// progress bar). The first error ends the run.
pub async fn inspect_all(
    ports: &Ports,
    secrets: &[SecretMetadata],
    role: &MemberRole,
    progress: &(dyn Fn() + Send + Sync),
) -> Result<Vec<Inspection>, FleetError> {
    bounded(secrets, |metadata| async move {
        let inspection = inspect_as(ports, metadata, role).await;
        progress();
        inspection
    })
    .await
}

/// Reads staged values of one secret.
struct Reader<'a> {
    ports: &'a Ports,
    secret: &'a SecretId,
    user: &'a str,
    /// The account the value must name: the one the secret's name binds, or the secret's own.
    account: Option<&'a str>,
    /// The secret's own account, which a value without `AccountId` names (as in the steps'
    /// name binding).
    own_account: Option<&'a str>,
}

impl Reader<'_> {
    /// Reads the value at `stage` (pinned to `version` when given) and keeps only what it
    /// says about its key, and the key it adopted (of a value bound to the secret's user).
    async fn read(
        &self,
        stage: &'static str,
        version: Option<&str>,
    ) -> Result<(StagedValue, Option<AccessKeyId>), FleetError> {
        let text = self
            .ports
            .secrets
            .get_value(
                self.secret,
                VersionRef {
                    version_id: version,
                    stage,
                },
            )
            .await
            .map_err(FleetError::of("GetSecretValue", self.secret.as_str()))?;
        let Some(text) = text else {
            return Ok((StagedValue::NoKey, None));
        };
        let parsed = SecretValue::parse(&text);
        let adopted = parsed.as_ref().ok().and_then(|value| value.adopted.clone());
        let staged = match parsed {
            Err(problem) => StagedValue::Invalid(problem.to_string()),
            Ok(value) if !value.user_name.as_str().eq_ignore_ascii_case(self.user) => {
                StagedValue::OtherUser(value.user_name.as_str().to_owned())
            }
            Ok(value)
                if value
                    .account
                    .as_ref()
                    .map(|a| a.as_str())
                    .or(self.own_account)
                    != self.account =>
            {
                StagedValue::OtherAccount(match &value.account {
                    Some(named) => named.as_str().to_owned(),
                    None => format!(
                        "{} (the function's own: the value has no AccountId)",
                        self.own_account.unwrap_or("unknown")
                    ),
                })
            }
            Ok(value) => value
                .access_key_id()
                .cloned()
                .map_or(StagedValue::NoKey, StagedValue::Key),
        };
        let adopted =
            adopted.filter(|_| matches!(staged, StagedValue::Key(_) | StagedValue::NoKey));
        Ok((staged, adopted))
    }
}
