//! `rotator adopt`: a managed secret takes over a key that its user already holds and that
//! programs use (contract §10), by writing `AdoptAccessKeyId` into a new `AWSCURRENT` value;
//! with the key's secret, the pair itself becomes the value, so that programs can move to
//! reading the secret before any new key exists.

use crate::accounts::MemberRole;
use crate::fleet::{FleetError, Inspection, inspect_as};
use crate::ports::{KeyStatus, SecretMetadata, VersionRef};
use crate::rotation::{AWSCURRENT, Ports, caller_is_bound_user};
use crate::secret_value::{KeyPair, SecretAccessKey, SecretValue};
use crate::types::{AccessKeyId, ClientRequestToken, SecretId};

/// What an adoption will write, decided before anything changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdoptPlan {
    pub secret: String,
    pub user: String,
    pub key: AccessKeyId,
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
/// user that no secret knows), else the user's only such key. Reads only.
pub async fn plan(
    ports: &Ports,
    metadata: &SecretMetadata,
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
    let candidates: Vec<AccessKeyId> = inspection
        .unknown_keys()
        .into_iter()
        .filter(|k| !inspection.foreign_keys.contains(&k.id))
        .map(|k| k.id.clone())
        .collect();
    let chosen = match key {
        Some(key) => {
            let Some(info) = keys.iter().find(|k| &k.id == key) else {
                return Err(AdoptError::refused(
                    &inspection,
                    format!("{key} is not one of user {}'s access keys", inspection.user),
                ));
            };
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
        key: chosen,
    })
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
