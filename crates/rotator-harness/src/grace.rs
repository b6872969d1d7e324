//! Helpers for the `grace` policy's tests and demo: the sweep invoked as the schedule does,
//! a use of a key that moto records, a key's status, and the function's metric lines.

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

use crate::fixture::Fixture;
use crate::lambda::Function;
use crate::moto::Moto;

/// The event the EventBridge Scheduler schedule sends.
pub fn sweep_event() -> Value {
    json!({"Action": "sweep"})
}

/// The CloudWatch Embedded Metric Format lines the function has logged so far, parsed.
pub fn metric_lines(function: &Function) -> Vec<Value> {
    function
        .logs()
        .iter()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|line| line["_aws"]["CloudWatchMetrics"].is_array())
        .collect()
}

impl Fixture {
    /// Invokes the function with `{"Action": "sweep"}` and returns its JSON summary.
    pub fn sweep(&self, function: &Function) -> Result<Value> {
        let answer = function.invoke_direct(&sweep_event())?;
        if !answer.ok {
            bail!("the sweep failed: {}", answer.output);
        }
        serde_json::from_str(&answer.output).context("the sweep's summary")
    }

    /// Signs a request with the key pair held at `stage` of `secret`, as a program that still
    /// reads that value would: moto then records the key's last use (service `sts`).
    pub async fn use_key_in(&self, moto: &Moto, secret: &str, stage: &str) -> Result<String> {
        let value = self
            .value(secret, stage)
            .await?
            .with_context(|| format!("{secret} has no {stage} value"))?;
        let (Some(id), Some(key_secret)) = (
            value["AccessKeyId"].as_str(),
            value["SecretAccessKey"].as_str(),
        ) else {
            bail!("the {stage} value of {secret} holds no key");
        };
        self.caller_arn(moto, id, key_secret)
            .await
            .with_context(|| format!("the key {id} in {stage} does not authenticate"))?;
        Ok(id.to_owned())
    }

    /// The status (`Active`, `Inactive`) of one of the user's keys; `None` once it is deleted.
    pub async fn key_status(&self, user: &str, key: &str) -> Result<Option<String>> {
        Ok(self
            .keys(user)
            .await?
            .into_iter()
            .find(|(id, _)| id == key)
            .map(|(_, status)| status))
    }
}
