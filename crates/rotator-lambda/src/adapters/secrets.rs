//! The secret store port on `aws-sdk-secretsmanager`.

use async_trait::async_trait;
use aws_sdk_secretsmanager::Client;
use rotator_core::ports::{PortErrorKind, PortResult, SecretMetadata, SecretStore, VersionRef};
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
        let name = output.name().unwrap_or(secret.as_str()).to_owned();
        Ok(SecretMetadata {
            arn: output.arn().unwrap_or(&name).to_owned(),
            name,
            rotation_enabled: output.rotation_enabled().unwrap_or(false),
            versions: output
                .version_ids_to_stages()
                .map(|versions| {
                    // moto also lists versions left with no label; AWS does not.
                    versions
                        .iter()
                        .filter(|(_, stages)| !stages.is_empty())
                        .map(|(id, stages)| (id.clone(), stages.clone()))
                        .collect()
                })
                .unwrap_or_default(),
            tags: output
                .tags()
                .iter()
                .filter_map(|tag| Some((tag.key()?.to_owned(), tag.value()?.to_owned())))
                .collect(),
        })
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
        self.client
            .put_secret_value()
            .secret_id(secret.as_str())
            .client_request_token(token.as_str())
            .secret_string(value.expose())
            .version_stages(AWSPENDING)
            .set_rotation_token(rotation_token.map(|t| t.as_str().to_owned()))
            .send()
            .await
            .map_err(port_error)?;
        Ok(())
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
}
