//! The deployment reader that `rotator doctor` uses: the function's configuration (Lambda), the
//! alert topic's subscriptions (SNS), SES identities and account, and the schedules
//! (EventBridge Scheduler). Every listing is read to its last page.

use async_trait::async_trait;
use rotator_core::ports::{
    DeploymentReader, EmailIdentity, FunctionConfig, PortResult, ScheduleInfo, TopicSubscription,
};

use super::port_error;

/// The ARN that `ListSubscriptionsByTopic` gives a subscription whose owner has not confirmed it
/// yet (SNS API reference, `ListSubscriptionsByTopic`:
/// https://docs.aws.amazon.com/sns/latest/api/API_ListSubscriptionsByTopic.html).
const PENDING_CONFIRMATION: &str = "PendingConfirmation";

#[derive(Debug, Clone)]
pub struct DeploymentAdapter {
    lambda: aws_sdk_lambda::Client,
    sns: aws_sdk_sns::Client,
    ses: aws_sdk_sesv2::Client,
    scheduler: aws_sdk_scheduler::Client,
}

impl DeploymentAdapter {
    pub fn new(
        lambda: aws_sdk_lambda::Client,
        sns: aws_sdk_sns::Client,
        ses: aws_sdk_sesv2::Client,
        scheduler: aws_sdk_scheduler::Client,
    ) -> Self {
        Self {
            lambda,
            sns,
            ses,
            scheduler,
        }
    }
}

#[async_trait]
impl DeploymentReader for DeploymentAdapter {
    async fn function(&self, function: &str) -> PortResult<FunctionConfig> {
        let output = self
            .lambda
            .get_function_configuration()
            .function_name(function)
            .send()
            .await
            .map_err(port_error)?;
        Ok(FunctionConfig {
            arn: output.function_arn().unwrap_or(function).to_owned(),
            name: output.function_name().unwrap_or(function).to_owned(),
            // Lambda's default timeout is 3 s when the configuration gives none.
            timeout_secs: output
                .timeout()
                .and_then(|secs| u64::try_from(secs).ok())
                .unwrap_or(3),
            variables: output
                .environment()
                .and_then(|environment| environment.variables())
                .map(|variables| {
                    variables
                        .iter()
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect()
                })
                .unwrap_or_default(),
        })
    }

    async fn subscriptions(&self, topic_arn: &str) -> PortResult<Vec<TopicSubscription>> {
        let mut pages = self
            .sns
            .list_subscriptions_by_topic()
            .topic_arn(topic_arn)
            .into_paginator()
            .send();
        let mut subscriptions = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(port_error)?;
            subscriptions.extend(page.subscriptions().iter().map(|s| {
                TopicSubscription {
                    protocol: s.protocol().unwrap_or_default().to_owned(),
                    endpoint: s.endpoint().unwrap_or_default().to_owned(),
                    // An unconfirmed subscription has no ARN yet; a deleted one none any more.
                    confirmed: s
                        .subscription_arn()
                        .is_some_and(|arn| arn != PENDING_CONFIRMATION && arn.starts_with("arn:")),
                }
            }));
        }
        Ok(subscriptions)
    }

    async fn email_identity(&self, identity: &str) -> PortResult<EmailIdentity> {
        let output = self
            .ses
            .get_email_identity()
            .email_identity(identity)
            .send()
            .await
            .map_err(port_error)?;
        Ok(EmailIdentity {
            verified_for_sending: output.verified_for_sending_status(),
            status: output.verification_status().map(|s| s.as_str().to_owned()),
        })
    }

    async fn email_production_access(&self) -> PortResult<bool> {
        let output = self.ses.get_account().send().await.map_err(port_error)?;
        Ok(output.production_access_enabled())
    }

    async fn schedules_for(&self, function_arn: &str) -> PortResult<Vec<ScheduleInfo>> {
        let mut pages = self.scheduler.list_schedules().into_paginator().send();
        let mut matches = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(port_error)?;
            for summary in page.schedules() {
                let target = summary.target().map(|t| t.arn()).unwrap_or_default();
                if !targets(target, function_arn) {
                    continue;
                }
                matches.push((
                    summary.group_name().unwrap_or("default").to_owned(),
                    summary.name().unwrap_or_default().to_owned(),
                ));
            }
        }
        let mut schedules = Vec::with_capacity(matches.len());
        for (group, name) in matches {
            let output = self
                .scheduler
                .get_schedule()
                .name(&name)
                .group_name(&group)
                .send()
                .await
                .map_err(port_error)?;
            schedules.push(ScheduleInfo {
                enabled: output
                    .state()
                    .is_some_and(|state| state.as_str() == "ENABLED"),
                target_arn: output
                    .target()
                    .map(|t| t.arn().to_owned())
                    .unwrap_or_default(),
                input: output.target().and_then(|t| t.input()).map(str::to_owned),
                group,
                name,
            });
        }
        Ok(schedules)
    }
}

/// Whether a schedule's target ARN is the function, or a version or alias of it.
fn targets(target: &str, function_arn: &str) -> bool {
    target == function_arn
        || target
            .strip_prefix(function_arn)
            .is_some_and(|rest| rest.starts_with(':'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_qualified_target_is_the_function() {
        let function = "arn:aws:lambda:us-east-1:123456789012:function:rotator";
        assert!(targets(function, function));
        assert!(targets(&format!("{function}:live"), function));
        assert!(!targets(&format!("{function}2"), function));
    }
}
