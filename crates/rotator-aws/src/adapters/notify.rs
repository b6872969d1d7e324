//! The notifier on SNS (failure alerts) and SES v2 (success emails). Without a configured
//! topic or sender, the message is only logged.

use async_trait::async_trait;
use aws_sdk_sesv2::types::{Body, Content, Destination, EmailContent, Message};
use rotator_core::ports::{Notice, Notifier, PortError, PortErrorKind, PortResult};
use tracing::{error, info};

use super::port_error;

#[derive(Debug, Clone)]
pub struct NotifierAdapter {
    sns: aws_sdk_sns::Client,
    ses: aws_sdk_sesv2::Client,
    alert_topic_arn: Option<String>,
    sender_email: Option<String>,
}

impl NotifierAdapter {
    pub fn new(
        sns: aws_sdk_sns::Client,
        ses: aws_sdk_sesv2::Client,
        alert_topic_arn: Option<String>,
        sender_email: Option<String>,
    ) -> Self {
        Self {
            sns,
            ses,
            alert_topic_arn,
            sender_email,
        }
    }
}

fn content(text: &str) -> PortResult<Content> {
    Content::builder()
        .data(text)
        .charset("UTF-8")
        .build()
        .map_err(|e| PortError::new(PortErrorKind::InvalidRequest, e.to_string()))
}

#[async_trait]
impl Notifier for NotifierAdapter {
    async fn alert(&self, notice: &Notice) -> PortResult<()> {
        let Some(topic) = &self.alert_topic_arn else {
            error!(subject = %notice.subject, body = %notice.body, "alert (no alert topic configured)");
            return Ok(());
        };
        let output = self
            .sns
            .publish()
            .topic_arn(topic)
            .subject(&notice.subject)
            .message(&notice.body)
            .send()
            .await
            .map_err(port_error)?;
        info!(
            message_id = output.message_id().unwrap_or_default(),
            "alert published"
        );
        Ok(())
    }

    async fn email(&self, to: &[String], notice: &Notice) -> PortResult<()> {
        let Some(sender) = &self.sender_email else {
            info!(subject = %notice.subject, "no sender configured: email not sent");
            return Ok(());
        };
        let message = Message::builder()
            .subject(content(&notice.subject)?)
            .body(Body::builder().text(content(&notice.body)?).build())
            .build();
        self.ses
            .send_email()
            .from_email_address(sender)
            .destination(
                Destination::builder()
                    .set_to_addresses(Some(to.to_vec()))
                    .build(),
            )
            .content(EmailContent::builder().simple(message).build())
            .send()
            .await
            .map_err(port_error)?;
        Ok(())
    }
}
