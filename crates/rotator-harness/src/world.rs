//! One end-to-end world for the tests: moto, an alert topic, a verified sender, optionally the
//! fault proxy, and the function; with the checks that the end-to-end tests share.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde_json::Value;

use crate::fixture::{Fixture, Rotation, STEPS, event, new_token};
use crate::lambda::{Function, Invocation, Launch};
use crate::moto::Moto;
use crate::proxy::Proxy;

pub const SENDER: &str = "rotator@example.com";

/// How to start a world.
#[derive(Debug, Clone)]
pub struct WorldOptions {
    /// `ROTATOR_*` settings, on top of the alert topic, the sender and a 3 s test timeout.
    pub settings: Vec<(&'static str, String)>,
    /// Whether the function reaches moto through the fault proxy.
    pub proxy: bool,
    /// The invocation timeout (`Launch::timeout`).
    pub timeout: Duration,
}

impl Default for WorldOptions {
    fn default() -> Self {
        Self {
            settings: Vec::new(),
            proxy: false,
            timeout: Launch::default().timeout,
        }
    }
}

impl WorldOptions {
    pub fn setting(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.settings.push((name, value.into()));
        self
    }

    pub fn through_proxy(mut self) -> Self {
        self.proxy = true;
        self
    }

    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }
}

/// A running world. Fields drop in order: the function first, moto last.
#[derive(Debug)]
pub struct World {
    pub function: Function,
    pub proxy: Option<Proxy>,
    pub fx: Fixture,
    pub topic: String,
    pub moto: Moto,
}

/// A secret and its user, as the checks need them.
#[derive(Debug, Clone, Copy)]
pub struct Bound<'a> {
    pub secret: &'a str,
    pub user: &'a str,
}

impl World {
    /// Starts moto (with the topic and the sender), the proxy if asked, and the function.
    /// Users and secrets are the test's to create.
    pub async fn start(binary: &Path, options: WorldOptions) -> Result<Self> {
        let moto = Moto::start().await?;
        let fx = Fixture::new(&moto).await;
        let topic = fx.create_topic("rotator-alerts").await?;
        fx.verify_sender(SENDER).await?;
        let proxy = if options.proxy {
            Some(Proxy::start(&moto)?)
        } else {
            None
        };
        let mut settings = vec![
            ("ROTATOR_ALERT_TOPIC_ARN", topic.clone()),
            ("ROTATOR_SENDER_EMAIL", SENDER.to_owned()),
            ("ROTATOR_TEST_TIMEOUT_SECS", "3".to_owned()),
        ];
        for (name, value) in &options.settings {
            settings.retain(|(n, _)| n != name);
            settings.push((name, value.clone()));
        }
        let launch = Launch {
            endpoint: proxy.as_ref().map(Proxy::endpoint),
            timeout: options.timeout,
        };
        let function = Function::start_with(binary, &moto, &settings, &launch)?;
        Ok(Self {
            function,
            proxy,
            fx,
            topic,
            moto,
        })
    }

    /// The fault proxy (the world must have been started with one).
    pub fn proxy(&self) -> &Proxy {
        self.proxy.as_ref().expect("this world has no fault proxy")
    }

    /// Invokes one step straight through the emulator's Invoke API.
    pub fn invoke(&self, step: &str, secret: &str, token: &str) -> Result<Invocation> {
        self.function.invoke_direct(&event(step, secret, token))
    }

    /// A whole rotation through `cargo lambda invoke`, stopping at the first failed step.
    pub async fn rotate(&self, secret: &str) -> Result<Rotation> {
        self.fx.rotate(&self.function, secret).await
    }

    /// A whole rotation that must succeed.
    pub async fn rotate_ok(&self, secret: &str) -> Result<Rotation> {
        let rotation = self.rotate(secret).await?;
        if !rotation.succeeded() {
            bail!(
                "the rotation of {secret} failed: {:?}\nlogs:\n{}",
                rotation.failure(),
                self.function.logs().join("\n")
            );
        }
        Ok(rotation)
    }

    /// A rotation as Secrets Manager drives it when steps fail: a failed step is delivered
    /// again up to `step_retries` times; a step still failing abandons the rotation (its
    /// AWSPENDING label comes off, as `rotator recover` or an administrator's
    /// UpdateSecretVersionStage does; CancelRotateSecret would leave it) and the whole
    /// rotation starts again with a new token, at most
    /// `rotations` times in all. Returns every attempt; the last one succeeded if the rotation
    /// completed.
    pub async fn rotate_redelivered(
        &self,
        secret: &str,
        step_retries: usize,
        rotations: usize,
    ) -> Result<Vec<Delivered>> {
        let mut attempts = Vec::new();
        for _ in 0..rotations {
            let token = new_token();
            self.fx.start_rotation(secret, &token).await?;
            let mut delivered = Delivered {
                token: token.clone(),
                deliveries: Vec::new(),
                completed: false,
            };
            'steps: for step in STEPS {
                for _ in 0..=step_retries {
                    let answer = self.invoke(step, secret, &token)?;
                    let ok = answer.ok;
                    delivered.deliveries.push((step, answer));
                    if ok {
                        continue 'steps;
                    }
                }
                break 'steps;
            }
            delivered.completed = delivered.deliveries.len() >= STEPS.len()
                && delivered
                    .deliveries
                    .last()
                    .is_some_and(|(s, i)| *s == "finishSecret" && i.ok);
            let completed = delivered.completed;
            attempts.push(delivered);
            if completed {
                break;
            }
            self.abandon(secret, &token).await?;
        }
        Ok(attempts)
    }

    /// Takes AWSPENDING off `token`'s version if it still holds it.
    pub async fn abandon(&self, secret: &str, token: &str) -> Result<()> {
        let stages = self.fx.stages(secret).await?;
        if stages
            .get(token)
            .is_some_and(|s| s.iter().any(|s| s == "AWSPENDING"))
        {
            self.fx
                .secrets
                .update_secret_version_stage()
                .secret_id(secret)
                .version_stage("AWSPENDING")
                .remove_from_version_id(token)
                .send()
                .await
                .context("removing AWSPENDING from an abandoned token")?;
        }
        Ok(())
    }

    /// The JSON value at `stage`.
    pub async fn value(&self, secret: &str, stage: &str) -> Result<Option<Value>> {
        self.fx.value(secret, stage).await
    }

    /// The access key id held at `stage`.
    pub async fn key_in(&self, secret: &str, stage: &str) -> Result<Option<String>> {
        Ok(self
            .value(secret, stage)
            .await?
            .and_then(|v| v["AccessKeyId"].as_str().map(str::to_owned)))
    }

    /// Checks that AWSCURRENT's key pair authenticates as `user`, signing straight against
    /// moto (never through the proxy).
    pub async fn assert_current_authenticates(&self, bound: Bound<'_>) -> Result<()> {
        let current = self
            .value(bound.secret, "AWSCURRENT")
            .await?
            .context("no AWSCURRENT value")?;
        let (Some(id), Some(secret)) = (
            current["AccessKeyId"].as_str(),
            current["SecretAccessKey"].as_str(),
        ) else {
            bail!("AWSCURRENT of {} holds no key: {current}", bound.secret);
        };
        let arn = self
            .fx
            .caller_arn(&self.moto, id, secret)
            .await
            .with_context(|| format!("AWSCURRENT's key {id} does not authenticate"))?;
        // A user's ARN is `arn:aws:iam::<account>:user<path><name>`.
        let name = arn.rsplit('/').next().unwrap_or_default();
        if !arn.contains(":user/") || !name.eq_ignore_ascii_case(bound.user) {
            bail!(
                "AWSCURRENT's key {id} authenticates as {arn}, not {}",
                bound.user
            );
        }
        Ok(())
    }

    /// The invariants of contract §8 after a rotation completed: at most two keys, none that
    /// neither AWSCURRENT nor AWSPREVIOUS holds (besides `others`, keys the secret never knew),
    /// AWSCURRENT authenticates, and no AWSPENDING label left.
    pub async fn assert_rotation_invariants(
        &self,
        bound: Bound<'_>,
        others: &BTreeSet<String>,
    ) -> Result<()> {
        let keys = self.fx.keys(bound.user).await?;
        let current = self.key_in(bound.secret, "AWSCURRENT").await?;
        let previous = self.key_in(bound.secret, "AWSPREVIOUS").await?;
        if keys.len() > 2 {
            bail!("{} has {} keys: {keys:?}", bound.user, keys.len());
        }
        for (id, status) in &keys {
            if Some(id) != current.as_ref() && Some(id) != previous.as_ref() && !others.contains(id)
            {
                bail!(
                    "key {id} ({status}) of {} is neither AWSCURRENT ({current:?}) nor AWSPREVIOUS ({previous:?}); keys {keys:?}",
                    bound.user
                );
            }
        }
        self.assert_current_authenticates(bound).await?;
        let stages = self.fx.stages(bound.secret).await?;
        if stages.values().flatten().any(|s| s == "AWSPENDING") {
            bail!("an AWSPENDING label is left: {stages:?}");
        }
        Ok(())
    }

    /// Every SNS message on the alert topic, as (subject, message).
    pub fn alerts(&self) -> Result<Vec<(String, String)>> {
        self.moto.sns_messages(&self.topic)
    }

    /// Fails if any secret access key appears in a line the function logged, an alert or an
    /// email: the keys of every version of `secrets`, every key that moto issued through the
    /// proxy (lost answers included), and `also`.
    pub async fn assert_no_secret_leaked(&self, secrets: &[&str], also: &[String]) -> Result<()> {
        let mut known: Vec<String> = also.to_vec();
        if let Some(proxy) = &self.proxy {
            known.extend(proxy.issued_keys()?.into_iter().map(|(_, secret)| secret));
        }
        for secret_id in secrets {
            let versions = self
                .fx
                .secrets
                .list_secret_version_ids()
                .secret_id(*secret_id)
                .include_deprecated(true)
                .send()
                .await?;
            for version in versions.versions() {
                let Some(version_id) = version.version_id() else {
                    continue;
                };
                if let Ok(out) = self
                    .fx
                    .secrets
                    .get_secret_value()
                    .secret_id(*secret_id)
                    .version_id(version_id)
                    .send()
                    .await
                    && let Some(text) = out.secret_string()
                    && let Ok(value) = serde_json::from_str::<Value>(text)
                    && let Some(secret) = value["SecretAccessKey"].as_str()
                {
                    known.push(secret.to_owned());
                }
            }
        }
        known.retain(|s| !s.is_empty());
        known.sort();
        known.dedup();
        if known.is_empty() {
            bail!("the scan needs secrets to look for");
        }
        let mut texts = self.function.logs();
        for (subject, message) in self.alerts()? {
            texts.push(subject);
            texts.push(message);
        }
        for (_, subject, body) in self.moto.ses_emails()? {
            texts.push(subject);
            texts.push(body);
        }
        for secret in &known {
            if let Some(text) = texts.iter().find(|text| text.contains(secret.as_str())) {
                bail!("a secret access key leaked into: {text}");
            }
        }
        Ok(())
    }
}

/// One attempt of `World::rotate_redelivered`: its token and every delivery in order.
#[derive(Debug, Clone)]
pub struct Delivered {
    pub token: String,
    pub deliveries: Vec<(&'static str, Invocation)>,
    pub completed: bool,
}

impl Delivered {
    /// The failed deliveries, as "step: output".
    pub fn failures(&self) -> Vec<String> {
        self.deliveries
            .iter()
            .filter(|(_, i)| !i.ok)
            .map(|(step, i)| format!("{step}: {}", i.output))
            .collect()
    }
}
