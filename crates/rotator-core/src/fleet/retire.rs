//! `rotator rotate --retire-previous`: the emergency before an early rotation under `grace`
//! (a leaked key). The previous key is deactivated first, once its last use is known, so that
//! the rotation then finds an inactive key to make room with (contract §5).

use crate::accounts::{MemberRole, iam_for_secret};
use crate::fleet::{FleetError, inspect_as};
use crate::ports::{KeyLastUsed, KeyStatus, PortError, PortErrorKind, SecretMetadata};
use crate::rotation::Ports;
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
}

/// Deactivates the active `AWSPREVIOUS` key of the secret, when there is one that the
/// secret's rotations made and the `AWSCURRENT` key works; `Ok(None)` when there is no active
/// previous key. A user of another account is reached through `role`.
pub async fn retire_previous(
    ports: &Ports,
    metadata: &SecretMetadata,
    role: &MemberRole,
) -> Result<Option<Retired>, RetireError> {
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
