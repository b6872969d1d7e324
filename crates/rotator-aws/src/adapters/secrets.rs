//! The secret store port on `aws-sdk-secretsmanager`.

use async_trait::async_trait;
use std::collections::BTreeMap;

use aws_sdk_secretsmanager::Client;
use aws_sdk_secretsmanager::primitives::DateTime;
use aws_sdk_secretsmanager::types::{Filter, FilterNameStringType, RotationRulesType, Tag};
use rotator_core::ports::{
    EpochSecs, PortErrorKind, PortResult, SecretMetadata, SecretStore, VersionInfo, VersionRef,
};
use rotator_core::{AWSPENDING, ClientRequestToken, RotationToken, SecretId, SecretString};

use super::port_error;

#[derive(Debug, Clone)]
pub struct SecretsManagerAdapter {
    client: Client,
}

impl SecretsManagerAdapter {
    pub fn new(client: Client) -> Self {
        Self { client }
    }

    /// `PutSecretValue` of `value` under `token`, with `stage` (none: AWSCURRENT moves to it).
    async fn put_value(
        &self,
        secret: &SecretId,
        token: &ClientRequestToken,
        value: &SecretString,
        stage: Option<&str>,
        rotation_token: Option<&RotationToken>,
    ) -> PortResult<()> {
        self.client
            .put_secret_value()
            .secret_id(secret.as_str())
            .client_request_token(token.as_str())
            .secret_string(value.expose())
            .set_version_stages(stage.map(|stage| vec![stage.to_owned()]))
            .set_rotation_token(rotation_token.map(|t| t.as_str().to_owned()))
            .send()
            .await
            .map_err(port_error)?;
        Ok(())
    }
}

#[async_trait]
impl SecretStore for SecretsManagerAdapter {
    async fn describe(&self, secret: &SecretId) -> PortResult<SecretMetadata> {
        let output = self
            .client
            .describe_secret()
            .secret_id(secret.as_str())
            .send()
            .await
            .map_err(port_error)?;
        Ok(metadata(Listed {
            arn: output.arn(),
            name: output.name().unwrap_or(secret.as_str()),
            rotation_enabled: output.rotation_enabled(),
            rotation_function: output.rotation_lambda_arn(),
            rules: output.rotation_rules(),
            last_rotated: output.last_rotated_date(),
            next_rotation: output.next_rotation_date(),
            versions: output.version_ids_to_stages(),
            tags: output.tags(),
        }))
    }

    async fn get_value<'a>(
        &self,
        secret: &SecretId,
        version: VersionRef<'a>,
    ) -> PortResult<Option<SecretString>> {
        let result = self
            .client
            .get_secret_value()
            .secret_id(secret.as_str())
            .set_version_id(version.version_id.map(str::to_owned))
            .version_stage(version.stage)
            .send()
            .await;
        match result {
            Ok(output) => Ok(output.secret_string().map(SecretString::new)),
            Err(error) => {
                let error = port_error(error);
                // ResourceNotFoundException means that the version holds no value yet, or that
                // there is no such secret; every step has described the secret already, so it
                // is the first. Telling them apart would cost a request on every createSecret.
                if error.kind == PortErrorKind::NotFound {
                    Ok(None)
                } else {
                    Err(error)
                }
            }
        }
    }

    async fn put_pending<'a>(
        &self,
        secret: &SecretId,
        token: &ClientRequestToken,
        value: &SecretString,
        rotation_token: Option<&'a RotationToken>,
    ) -> PortResult<()> {
        self.put_value(secret, token, value, Some(AWSPENDING), rotation_token)
            .await
    }

    async fn put_current<'a>(
        &self,
        secret: &SecretId,
        token: &ClientRequestToken,
        value: &SecretString,
    ) -> PortResult<()> {
        // Without VersionStages, PutSecretValue labels the new version AWSCURRENT and the
        // version that held it AWSPREVIOUS (Secrets Manager API reference, PutSecretValue).
        self.put_value(secret, token, value, None, None).await
    }

    async fn update_stage<'a>(
        &self,
        secret: &SecretId,
        stage: &str,
        move_to: Option<&'a str>,
        remove_from: Option<&'a str>,
    ) -> PortResult<()> {
        self.client
            .update_secret_version_stage()
            .secret_id(secret.as_str())
            .version_stage(stage)
            .set_move_to_version_id(move_to.map(str::to_owned))
            .set_remove_from_version_id(remove_from.map(str::to_owned))
            .send()
            .await
            .map_err(port_error)?;
        Ok(())
    }

    async fn list_secrets(&self, name_prefix: &str) -> PortResult<Vec<SecretMetadata>> {
        let filter = Filter::builder()
            .key(FilterNameStringType::Name)
            .values(name_prefix)
            .build();
        let mut pages = self
            .client
            .list_secrets()
            .filters(filter)
            .max_results(100)
            .into_paginator()
            .send();
        let mut secrets = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(port_error)?;
            for entry in page.secret_list() {
                let Some(name) = entry.name() else { continue };
                // The name filter also matches case-insensitively; the prefix is exact here.
                if !name.starts_with(name_prefix) {
                    continue;
                }
                secrets.push(metadata(Listed {
                    arn: entry.arn(),
                    name,
                    rotation_enabled: entry.rotation_enabled(),
                    rotation_function: entry.rotation_lambda_arn(),
                    rules: entry.rotation_rules(),
                    last_rotated: entry.last_rotated_date(),
                    next_rotation: entry.next_rotation_date(),
                    versions: entry.secret_versions_to_stages(),
                    tags: entry.tags(),
                }));
            }
        }
        Ok(secrets)
    }

    async fn list_versions(&self, secret: &SecretId) -> PortResult<Vec<VersionInfo>> {
        let mut pages = self
            .client
            .list_secret_version_ids()
            .secret_id(secret.as_str())
            .into_paginator()
            .send();
        let mut versions = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(port_error)?;
            for version in page.versions() {
                let (Some(id), stages) = (version.version_id(), version.version_stages()) else {
                    continue;
                };
                if stages.is_empty() {
                    continue;
                }
                versions.push(VersionInfo {
                    id: id.to_owned(),
                    stages: stages.to_vec(),
                    created: version.created_date().and_then(epoch_secs),
                });
            }
        }
        Ok(versions)
    }

    async fn start_rotation(&self, secret: &SecretId) -> PortResult<Option<String>> {
        let output = self
            .client
            .rotate_secret()
            .secret_id(secret.as_str())
            .send()
            .await
            .map_err(port_error)?;
        Ok(output.version_id().map(str::to_owned))
    }
}

/// The fields that `DescribeSecret` and `ListSecrets` share.
struct Listed<'a> {
    arn: Option<&'a str>,
    name: &'a str,
    rotation_enabled: Option<bool>,
    rotation_function: Option<&'a str>,
    rules: Option<&'a RotationRulesType>,
    last_rotated: Option<&'a DateTime>,
    next_rotation: Option<&'a DateTime>,
    versions: Option<&'a std::collections::HashMap<String, Vec<String>>>,
    tags: &'a [Tag],
}

fn metadata(listed: Listed<'_>) -> SecretMetadata {
    SecretMetadata {
        arn: listed.arn.unwrap_or(listed.name).to_owned(),
        name: listed.name.to_owned(),
        rotation_enabled: listed.rotation_enabled.unwrap_or(false),
        // moto answers an empty ARN for a secret without a rotation function.
        rotation_function: listed
            .rotation_function
            .filter(|arn| !arn.is_empty())
            .map(str::to_owned),
        rotation_interval_days: listed
            .rules
            .and_then(RotationRulesType::automatically_after_days)
            .and_then(|days| u64::try_from(days).ok()),
        last_rotated: listed.last_rotated.and_then(epoch_secs),
        next_rotation: listed.next_rotation.and_then(epoch_secs),
        versions: listed
            .versions
            .map(|versions| {
                // moto also lists versions left with no label; AWS does not.
                versions
                    .iter()
                    .filter(|(_, stages)| !stages.is_empty())
                    .map(|(id, stages)| (id.clone(), stages.clone()))
                    .collect::<BTreeMap<_, _>>()
            })
            .unwrap_or_default(),
        tags: listed
            .tags
            .iter()
            .filter_map(|tag| Some((tag.key()?.to_owned(), tag.value()?.to_owned())))
            .collect(),
    }
}

fn epoch_secs(date: &DateTime) -> Option<EpochSecs> {
    u64::try_from(date.secs()).ok()
}
