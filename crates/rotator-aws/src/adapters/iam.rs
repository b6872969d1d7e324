//! The IAM port on `aws-sdk-iam`: a user's access keys and tags.

use async_trait::async_trait;
use aws_sdk_iam::Client;
use aws_sdk_iam::config::retry::RetryConfig;
use aws_sdk_iam::types::{StatusType, Tag as IamTag};
use std::time::Duration;

use aws_sdk_iam::types::ReportStateType;
use rotator_core::credential_report;
use rotator_core::ports::{
    AccessKeyInfo, CredentialReportRow, Iam, KeyLastUsed, KeyStatus, NewAccessKey, PortError,
    PortErrorKind, PortResult, Tag, UserInfo,
};
use rotator_core::{AccessKeyId, SecretAccessKey, UserName};

use super::port_error;

#[derive(Debug, Clone)]
pub struct IamAdapter {
    client: Client,
}

impl IamAdapter {
    pub fn new(client: Client) -> Self {
        Self { client }
    }
}

fn invalid_response(what: &str) -> PortError {
    PortError::new(PortErrorKind::Service, format!("IAM returned {what}"))
}

fn key_id(id: &str) -> PortResult<AccessKeyId> {
    AccessKeyId::new(id).map_err(|problem| invalid_response(&problem))
}

#[async_trait]
impl Iam for IamAdapter {
    async fn list_access_keys(&self, user: &UserName) -> PortResult<Vec<AccessKeyInfo>> {
        let output = self
            .client
            .list_access_keys()
            .user_name(user.as_str())
            .send()
            .await
            .map_err(port_error)?;
        output
            .access_key_metadata()
            .iter()
            .map(|key| {
                Ok(AccessKeyInfo {
                    id: key_id(key.access_key_id().unwrap_or_default())?,
                    status: match key.status() {
                        Some(StatusType::Active) => KeyStatus::Active,
                        _ => KeyStatus::Inactive,
                    },
                    created: key
                        .create_date()
                        .and_then(|date| u64::try_from(date.secs()).ok()),
                })
            })
            .collect()
    }

    /// Sent once: `CreateAccessKey` is not idempotent, so the SDK's retry is off for it. After
    /// a lost answer the next delivery's ledger finds the key it may have made.
    async fn create_access_key(&self, user: &UserName) -> PortResult<NewAccessKey> {
        let output = self
            .client
            .create_access_key()
            .user_name(user.as_str())
            .customize()
            .config_override(aws_sdk_iam::Config::builder().retry_config(RetryConfig::disabled()))
            .send()
            .await
            .map_err(port_error)?;
        let key = output
            .access_key()
            .ok_or_else(|| invalid_response("no access key"))?;
        Ok(NewAccessKey {
            id: key_id(key.access_key_id())?,
            secret: SecretAccessKey::new(key.secret_access_key()),
            created: key
                .create_date()
                .and_then(|date| u64::try_from(date.secs()).ok()),
        })
    }

    async fn set_access_key_status(
        &self,
        user: &UserName,
        key: &AccessKeyId,
        status: KeyStatus,
    ) -> PortResult<()> {
        self.client
            .update_access_key()
            .user_name(user.as_str())
            .access_key_id(key.as_str())
            .status(match status {
                KeyStatus::Active => StatusType::Active,
                KeyStatus::Inactive => StatusType::Inactive,
            })
            .send()
            .await
            .map_err(port_error)?;
        Ok(())
    }

    async fn delete_access_key(&self, user: &UserName, key: &AccessKeyId) -> PortResult<()> {
        self.client
            .delete_access_key()
            .user_name(user.as_str())
            .access_key_id(key.as_str())
            .send()
            .await
            .map_err(port_error)?;
        Ok(())
    }

    async fn list_user_tags(&self, user: &UserName) -> PortResult<Vec<Tag>> {
        let mut tags = Vec::new();
        let mut marker = None;
        loop {
            let output = self
                .client
                .list_user_tags()
                .user_name(user.as_str())
                .set_marker(marker)
                .send()
                .await
                .map_err(port_error)?;
            tags.extend(output.tags().iter().map(|tag| Tag {
                key: tag.key().to_owned(),
                value: tag.value().to_owned(),
            }));
            if !output.is_truncated() {
                return Ok(tags);
            }
            marker = output.marker().map(str::to_owned);
            if marker.is_none() {
                return Ok(tags);
            }
        }
    }

    async fn tag_user(&self, user: &UserName, tags: &[Tag]) -> PortResult<()> {
        let tags = tags
            .iter()
            .map(|tag| {
                IamTag::builder()
                    .key(&tag.key)
                    .value(&tag.value)
                    .build()
                    .map_err(|e| PortError::new(PortErrorKind::InvalidRequest, e.to_string()))
            })
            .collect::<PortResult<Vec<_>>>()?;
        self.client
            .tag_user()
            .user_name(user.as_str())
            .set_tags(Some(tags))
            .send()
            .await
            .map_err(port_error)?;
        Ok(())
    }

    async fn untag_user(&self, user: &UserName, keys: &[String]) -> PortResult<()> {
        self.client
            .untag_user()
            .user_name(user.as_str())
            .set_tag_keys(Some(keys.to_vec()))
            .send()
            .await
            .map_err(port_error)?;
        Ok(())
    }

    async fn access_key_last_used(&self, key: &AccessKeyId) -> PortResult<KeyLastUsed> {
        let output = self
            .client
            .get_access_key_last_used()
            .access_key_id(key.as_str())
            .send()
            .await
            .map_err(port_error)?;
        let owner = output.user_name().map(str::to_owned);
        let Some(used) = output.access_key_last_used() else {
            return Ok(KeyLastUsed {
                owner,
                ..KeyLastUsed::default()
            });
        };
        // IAM answers "N/A" for the service and region of a key that was never used.
        let known = |text: &str| (!text.is_empty() && text != "N/A").then(|| text.to_owned());
        Ok(KeyLastUsed {
            when: used
                .last_used_date()
                .and_then(|date| u64::try_from(date.secs()).ok()),
            service: known(used.service_name()),
            region: known(used.region()),
            owner,
        })
    }

    async fn get_user(&self, user: &UserName) -> PortResult<UserInfo> {
        let output = self
            .client
            .get_user()
            .user_name(user.as_str())
            .send()
            .await
            .map_err(port_error)?;
        let found = output.user().ok_or_else(|| invalid_response("no user"))?;
        Ok(UserInfo {
            arn: found.arn().to_owned(),
            path: found.path().to_owned(),
        })
    }

    /// Asks IAM to generate the report, waits while it is being generated (IAM reuses a report
    /// younger than four hours), then reads it.
    async fn credential_report(&self) -> PortResult<Vec<CredentialReportRow>> {
        const POLL: Duration = Duration::from_secs(2);
        const ATTEMPTS: u32 = 60;
        for _ in 0..ATTEMPTS {
            let state = self
                .client
                .generate_credential_report()
                .send()
                .await
                .map_err(port_error)?;
            if state.state() == Some(&ReportStateType::Complete) {
                let report = self
                    .client
                    .get_credential_report()
                    .send()
                    .await
                    .map_err(port_error)?;
                let content = report
                    .content()
                    .ok_or_else(|| invalid_response("an empty credential report"))?;
                let text = std::str::from_utf8(content.as_ref())
                    .map_err(|_| invalid_response("a credential report that is not UTF-8"))?;
                return credential_report::parse(text).map_err(|problem| {
                    invalid_response(&format!("a credential report {problem}"))
                });
            }
            tokio::time::sleep(POLL).await;
        }
        Err(PortError::new(
            PortErrorKind::Service,
            "IAM did not finish the credential report within two minutes",
        ))
    }
}
