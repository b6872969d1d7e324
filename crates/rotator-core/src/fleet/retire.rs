//! `rotator rotate --retire-previous`: the emergency before an early rotation under `grace`
//! (a leaked key). The previous key is deactivated first, once its last use is known, so that
//! the rotation then finds an inactive key to make room with (contract §5). Everything that
//! would stop the rotation from starting is checked before the key is touched: a refusal
//! changes nothing.

use crate::accounts::{MemberRole, iam_for_secret, name_shape_problem};
use crate::fleet::rotate::StartError;
use crate::fleet::{FleetError, inspect_as};
use crate::ports::{KeyLastUsed, KeyStatus, PortError, PortErrorKind, SecretMetadata};
use crate::rotation::{AWSCURRENT, AWSPENDING, Ports};
use crate::types::{AccessKeyId, UserName};

/// The previous key that was deactivated, with its last use as IAM reported it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Retired {
    pub user: String,
    pub key: AccessKeyId,
    pub last_use: KeyLastUsed,
}

/// Why the previous key was not deactivated. Nothing was changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RetireError {
    #[error(transparent)]
    Call(#[from] FleetError),
    #[error(
        "the AWSPREVIOUS key {key} of {secret} is not one that the secret's rotations made (its ledger has no record of it): the rotator does not deactivate it; do so by hand if it must go"
    )]
    NotOwned { secret: String, key: AccessKeyId },
    #[error(
        "the AWSCURRENT key of {secret} is not an active key of its user: the previous key {key} may be the programs' only working key, so it is left active"
    )]
    CurrentNotUsable { secret: String, key: AccessKeyId },
    #[error(
        "{secret} is not a secret that the rotator manages ({problem}): it retires nothing of it (for a deployment of another name prefix, pass its --prefix)"
    )]
    NotManaged { secret: String, problem: String },
    /// The rotation could not start (`RotateSecret` would refuse it), so its previous key is
    /// left as it is.
    #[error("{0}; the previous key is left as it is")]
    WouldNotStart(StartError),
}

/// Why `RotateSecret` would not start a rotation of the secret that `metadata` describes, read
/// from its metadata alone (the checks of [`rotate::start`](crate::fleet::rotate::start)):
/// rotation disabled (AWS: "You tried to enable rotation on a secret that doesn't already have
/// a Lambda function ARN configured", InvalidRequestException, Secrets Manager API reference,
/// RotateSecret), or a rotation in progress (`AWSPENDING` on a version other than
/// `AWSCURRENT`'s: "a previous rotation isn't complete").
pub fn start_refusal(metadata: &SecretMetadata) -> Option<StartError> {
    if !metadata.rotation_enabled {
        return Some(StartError::NotEnabled {
            secret: metadata.name.clone(),
        });
    }
    let current = metadata.version_with_stage(AWSCURRENT);
    let pending = metadata
        .version_with_stage(AWSPENDING)
        .filter(|pending| Some(*pending) != current)?;
    Some(StartError::InProgress {
        secret: metadata.name.clone(),
        version: pending.to_owned(),
    })
}

/// Deactivates the active `AWSPREVIOUS` key of the secret, when there is one that the
/// secret's rotations made and the `AWSCURRENT` key works; `Ok(None)` when there is no active
/// previous key. A user of another account is reached through `role`. A secret whose name is
/// not `<prefix><user>` or `<prefix><12-digit account>/<user>` (contract §3) is refused first,
/// with nothing read from IAM; then it checks that the rotation can start ([`start_refusal`]).
/// Either refusal changes nothing. `rotator rotate --retire-previous` calls it.
pub async fn retire_previous(
    ports: &Ports,
    metadata: &SecretMetadata,
    role: &MemberRole,
    prefix: &str,
) -> Result<Option<Retired>, RetireError> {
    if let Some(problem) = name_shape_problem(&metadata.name, prefix) {
        return Err(RetireError::NotManaged {
            secret: metadata.name.clone(),
            problem,
        });
    }
    if let Some(refusal) = start_refusal(metadata) {
        return Err(RetireError::WouldNotStart(refusal));
    }
    let inspection = inspect_as(ports, metadata, role).await?;
    let Some(previous) = inspection.previous_key_info() else {
        return Ok(None);
    };
    if previous.status != KeyStatus::Active || inspection.current_key() == Some(&previous.id) {
        return Ok(None);
    }
    let key = previous.id.clone();
    if !inspection.previous_owned() {
        return Err(RetireError::NotOwned {
            secret: metadata.name.clone(),
            key,
        });
    }
    if !inspection.current_usable() {
        return Err(RetireError::CurrentNotUsable {
            secret: metadata.name.clone(),
            key,
        });
    }
    let failed = |operation, subject: &str| FleetError::of(operation, subject.to_owned());
    let user = UserName::new(inspection.user.as_str()).map_err(|problem| {
        failed("UpdateAccessKey", &inspection.user)(PortError::new(
            PortErrorKind::InvalidRequest,
            problem.to_string(),
        ))
    })?;
    let iam = iam_for_secret(ports, metadata, role)
        .await
        .map_err(|e| failed("AssumeRole", &e.role_arn)(e.error))?;
    iam.set_access_key_status(&user, &key, KeyStatus::Inactive)
        .await
        .map_err(failed("UpdateAccessKey", key.as_str()))?;
    Ok(Some(Retired {
        user: inspection.user.clone(),
        key,
        last_use: inspection.previous_last_used.clone().unwrap_or_default(),
    }))
}
