//! Fixtures in moto (users, keys, topic, sender, secrets) and a driver that rotates a secret
//! exactly as Secrets Manager does: `RotateSecret`, then the four steps with one token.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use aws_config::SdkConfig;
use aws_sdk_iam::types::StatusType;
use aws_sdk_secretsmanager::types::{RotationRulesType, Tag};
use serde_json::{Value, json};

use crate::lambda::{Function, Invocation};
use crate::moto::{ACCOUNT, Moto};

pub const STEPS: [&str; 4] = ["createSecret", "setSecret", "testSecret", "finishSecret"];

/// A new, unique `ClientRequestToken` in the UUID form Secrets Manager uses.
pub fn new_token() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let count = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!(
        "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
        (nanos >> 32) as u32,
        (nanos >> 16) as u16,
        count & 0xfff,
        std::process::id() & 0xfff,
        nanos & 0xffff_ffff_ffff
    )
}

/// The event Secrets Manager sends for one step.
pub fn event(step: &str, secret: &str, token: &str) -> Value {
    json!({"Step": step, "SecretId": secret, "ClientRequestToken": token})
}

/// What a rotation driven through the function did.
#[derive(Debug, Clone)]
pub struct Rotation {
    pub token: String,
    pub steps: Vec<(&'static str, Invocation)>,
}

impl Rotation {
    /// Whether every step succeeded.
    pub fn succeeded(&self) -> bool {
        self.steps.len() == STEPS.len() && self.steps.iter().all(|(_, i)| i.ok)
    }

    /// The first failed step and its output.
    pub fn failure(&self) -> Option<(&'static str, &str)> {
        self.steps
            .iter()
            .find(|(_, i)| !i.ok)
            .map(|(step, i)| (*step, i.output.as_str()))
    }
}

/// The SDK clients of the administrator, for setting up and inspecting moto.
#[derive(Debug, Clone)]
pub struct Fixture {
    pub config: SdkConfig,
    pub iam: aws_sdk_iam::Client,
    pub secrets: aws_sdk_secretsmanager::Client,
    pub sns: aws_sdk_sns::Client,
    pub ses: aws_sdk_sesv2::Client,
    pub lambda: aws_sdk_lambda::Client,
    pub scheduler: aws_sdk_scheduler::Client,
    function_arn: String,
}

impl Fixture {
    pub async fn new(moto: &Moto) -> Self {
        let config = moto.sdk_config().await;
        Self {
            iam: aws_sdk_iam::Client::new(&config),
            secrets: aws_sdk_secretsmanager::Client::new(&config),
            sns: aws_sdk_sns::Client::new(&config),
            ses: aws_sdk_sesv2::Client::new(&config),
            lambda: aws_sdk_lambda::Client::new(&config),
            scheduler: aws_sdk_scheduler::Client::new(&config),
            config,
            function_arn: moto.function_arn.clone(),
        }
    }

    pub async fn create_user(&self, name: &str) -> Result<()> {
        self.iam.create_user().user_name(name).send().await?;
        Ok(())
    }

    /// Creates a user under an IAM path (such as `/rotated/`).
    pub async fn create_user_at(&self, name: &str, path: &str) -> Result<()> {
        self.iam
            .create_user()
            .user_name(name)
            .path(path)
            .send()
            .await?;
        Ok(())
    }

    /// Tags the user with `tags` (key, value).
    pub async fn tag_user(&self, user: &str, tags: &[(String, String)]) -> Result<()> {
        let tags: Vec<_> = tags
            .iter()
            .map(|(k, v)| {
                aws_sdk_iam::types::Tag::builder()
                    .key(k)
                    .value(v)
                    .build()
                    .expect("a tag has a key and a value")
            })
            .collect();
        self.iam
            .tag_user()
            .user_name(user)
            .set_tags(Some(tags))
            .send()
            .await?;
        Ok(())
    }

    /// Creates a key outside the rotator; returns (id, secret).
    pub async fn create_key(&self, user: &str) -> Result<(String, String)> {
        let out = self.iam.create_access_key().user_name(user).send().await?;
        let key = out.access_key().context("no key")?;
        Ok((
            key.access_key_id().to_owned(),
            key.secret_access_key().to_owned(),
        ))
    }

    pub async fn create_topic(&self, name: &str) -> Result<String> {
        let out = self.sns.create_topic().name(name).send().await?;
        out.topic_arn().map(str::to_owned).context("no topic ARN")
    }

    pub async fn verify_sender(&self, address: &str) -> Result<()> {
        self.ses
            .create_email_identity()
            .email_identity(address)
            .send()
            .await?;
        Ok(())
    }

    /// Subscribes `endpoint` to the topic with `protocol` (`email`, `sqs`, ...).
    pub async fn subscribe(&self, topic_arn: &str, protocol: &str, endpoint: &str) -> Result<()> {
        self.sns
            .subscribe()
            .topic_arn(topic_arn)
            .protocol(protocol)
            .endpoint(endpoint)
            .send()
            .await
            .context("Subscribe")?;
        Ok(())
    }

    /// Creates a Lambda function that is never run (moto has no Docker here) with the
    /// environment `variables` and a timeout of `timeout_secs`; returns its ARN. It runs as the
    /// role that `Moto::start` created.
    pub async fn create_function(
        &self,
        name: &str,
        variables: &[(&str, &str)],
        timeout_secs: i32,
    ) -> Result<String> {
        use aws_sdk_lambda::primitives::Blob;
        use aws_sdk_lambda::types::{Environment, FunctionCode, Runtime};
        // An empty zip archive: its end-of-central-directory record alone.
        let mut empty_zip = vec![0x50, 0x4b, 0x05, 0x06];
        empty_zip.extend([0u8; 18]);
        let environment = Environment::builder()
            .set_variables(Some(
                variables
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                    .collect(),
            ))
            .build();
        let created = self
            .lambda
            .create_function()
            .function_name(name)
            .runtime(Runtime::Providedal2023)
            .role(format!("arn:aws:iam::{ACCOUNT}:role/iam-key-rotator"))
            .handler("bootstrap")
            .code(
                FunctionCode::builder()
                    .zip_file(Blob::new(empty_zip))
                    .build(),
            )
            .timeout(timeout_secs)
            .environment(environment)
            .send()
            .await
            .context("CreateFunction")?;
        created
            .function_arn()
            .map(str::to_owned)
            .context("no function ARN")
    }

    /// Gives the function `function` (a name or an ARN) the environment `variables` and a
    /// timeout of `timeout_secs` (`UpdateFunctionConfiguration`).
    pub async fn configure_function(
        &self,
        function: &str,
        variables: &[(&str, &str)],
        timeout_secs: i32,
    ) -> Result<()> {
        let environment = aws_sdk_lambda::types::Environment::builder()
            .set_variables(Some(
                variables
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                    .collect(),
            ))
            .build();
        self.lambda
            .update_function_configuration()
            .function_name(function)
            .timeout(timeout_secs)
            .environment(environment)
            .send()
            .await
            .context("UpdateFunctionConfiguration")?;
        Ok(())
    }

    /// The ARN of the placeholder function that `start_rotation` names.
    pub fn function_arn(&self) -> &str {
        &self.function_arn
    }

    /// Creates an EventBridge Scheduler schedule `name` (default group, hourly) that invokes
    /// `target_arn` with `input`, enabled or not.
    pub async fn create_schedule(
        &self,
        name: &str,
        target_arn: &str,
        input: &str,
        enabled: bool,
    ) -> Result<()> {
        use aws_sdk_scheduler::types::{
            FlexibleTimeWindow, FlexibleTimeWindowMode, ScheduleState, Target,
        };
        self.scheduler
            .create_schedule()
            .name(name)
            .schedule_expression("rate(1 hour)")
            .flexible_time_window(
                FlexibleTimeWindow::builder()
                    .mode(FlexibleTimeWindowMode::Off)
                    .build()?,
            )
            .target(
                Target::builder()
                    .arn(target_arn)
                    .role_arn(format!("arn:aws:iam::{ACCOUNT}:role/iam-key-rotator"))
                    .input(input)
                    .build()?,
            )
            .state(if enabled {
                ScheduleState::Enabled
            } else {
                ScheduleState::Disabled
            })
            .send()
            .await
            .context("CreateSchedule")?;
        Ok(())
    }

    /// Gives `secret` a rotation schedule (every 90 days) with `function_arn` as its rotation
    /// function, without a rotation in progress: what a deployment leaves before its first
    /// rotation. (moto labels a new version AWSPENDING and runs nothing; the label is taken off.)
    pub async fn configure_rotation(&self, secret: &str, function_arn: &str) -> Result<()> {
        let token = new_token();
        self.rotate_secret(secret, &token, function_arn).await?;
        self.secrets
            .update_secret_version_stage()
            .secret_id(secret)
            .version_stage("AWSPENDING")
            .remove_from_version_id(&token)
            .send()
            .await
            .context("taking AWSPENDING off the configured rotation")?;
        Ok(())
    }

    /// Creates a secret holding `value`, with an optional `NotifyEmail` tag.
    pub async fn create_secret(&self, name: &str, value: &str, notify: Option<&str>) -> Result<()> {
        let mut request = self.secrets.create_secret().name(name).secret_string(value);
        if let Some(notify) = notify {
            request = request.tags(Tag::builder().key("NotifyEmail").value(notify).build());
        }
        request.send().await?;
        Ok(())
    }

    /// What `RotateSecret` does before invoking the function: enables rotation (every 90
    /// days) and labels a new, empty version `token` AWSPENDING.
    pub async fn start_rotation(&self, secret: &str, token: &str) -> Result<()> {
        self.rotate_secret(secret, token, &self.function_arn).await
    }

    /// `RotateSecret` with `token`, `function_arn` and a schedule of every 90 days.
    async fn rotate_secret(&self, secret: &str, token: &str, function_arn: &str) -> Result<()> {
        self.secrets
            .rotate_secret()
            .secret_id(secret)
            .client_request_token(token)
            .rotation_lambda_arn(function_arn)
            .rotation_rules(
                RotationRulesType::builder()
                    .automatically_after_days(90)
                    .build(),
            )
            .rotate_immediately(true)
            .send()
            .await
            .context("RotateSecret")?;
        Ok(())
    }

    /// Runs a whole rotation through the function, stopping at the first failed step.
    pub async fn rotate(&self, function: &Function, secret: &str) -> Result<Rotation> {
        let token = new_token();
        self.start_rotation(secret, &token).await?;
        let mut steps = Vec::new();
        for step in STEPS {
            let invocation = function.invoke(&event(step, secret, &token))?;
            let ok = invocation.ok;
            steps.push((step, invocation));
            if !ok {
                break;
            }
        }
        Ok(Rotation { token, steps })
    }

    /// The user's keys as (id, status), oldest first.
    pub async fn keys(&self, user: &str) -> Result<Vec<(String, String)>> {
        let out = self.iam.list_access_keys().user_name(user).send().await?;
        let mut keys: Vec<_> = out
            .access_key_metadata()
            .iter()
            .map(|k| {
                (
                    k.create_date().map(|d| d.as_nanos()),
                    k.access_key_id().unwrap_or_default().to_owned(),
                    k.status().map_or("?", StatusType::as_str).to_owned(),
                )
            })
            .collect();
        keys.sort();
        Ok(keys
            .into_iter()
            .map(|(_, id, status)| (id, status))
            .collect())
    }

    /// The user's tags.
    pub async fn user_tags(&self, user: &str) -> Result<BTreeMap<String, String>> {
        let out = self.iam.list_user_tags().user_name(user).send().await?;
        Ok(out
            .tags()
            .iter()
            .map(|t| (t.key().to_owned(), t.value().to_owned()))
            .collect())
    }

    /// The rotator's tags on `user` once its rotations are over: the record
    /// `rotator:key:<id>` of keys the user still holds (a secret keeps the record of the keys
    /// it holds, by which it knows them as its own), and nothing else of the rotator's.
    pub async fn ledger_settled(&self, user: &str) -> Result<BTreeMap<String, String>> {
        let held: Vec<String> = self
            .keys(user)
            .await?
            .into_iter()
            .map(|(id, _)| format!("rotator:key:{id}"))
            .collect();
        let rotators: BTreeMap<String, String> = self
            .user_tags(user)
            .await?
            .into_iter()
            .filter(|(key, _)| key.starts_with("rotator:"))
            .collect();
        if let Some(stray) = rotators.keys().find(|key| !held.contains(key)) {
            anyhow::bail!(
                "{user} has the rotator tag {stray}, which no key it holds explains: {rotators:?}"
            );
        }
        Ok(rotators)
    }

    /// Every staged version of the secret with its labels.
    pub async fn stages(&self, secret: &str) -> Result<BTreeMap<String, Vec<String>>> {
        let out = self
            .secrets
            .describe_secret()
            .secret_id(secret)
            .send()
            .await?;
        Ok(out
            .version_ids_to_stages()
            .map(|m| {
                m.iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect::<BTreeMap<_, _>>()
            })
            .unwrap_or_default()
            .into_iter()
            .filter(|(_, stages)| !stages.is_empty())
            .collect())
    }

    /// The JSON value at `stage`, if that stage holds one.
    pub async fn value(&self, secret: &str, stage: &str) -> Result<Option<Value>> {
        match self
            .secrets
            .get_secret_value()
            .secret_id(secret)
            .version_stage(stage)
            .send()
            .await
        {
            Ok(out) => Ok(out.secret_string().map(serde_json::from_str).transpose()?),
            Err(error)
                if error
                    .as_service_error()
                    .is_some_and(|e| e.is_resource_not_found_exception()) =>
            {
                Ok(None)
            }
            Err(error) => Err(error.into()),
        }
    }

    /// The ARN a key pair authenticates as, through STS on moto.
    pub async fn caller_arn(&self, moto: &Moto, key: &str, secret: &str) -> Result<String> {
        let config = moto.sdk_config_for(key, secret).await;
        let out = aws_sdk_sts::Client::new(&config)
            .get_caller_identity()
            .send()
            .await?;
        out.arn().map(str::to_owned).context("no ARN")
    }
}
