//! Fleet support for the `rotator` CLI's tests, the demo and the bench: the CLI binary run
//! against moto, rotations driven straight through the Runtime API emulator, and many managed
//! secrets seeded at once.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use anyhow::{Context, Result, bail};
use serde_json::json;
use tokio::task::JoinSet;

use crate::fixture::{Fixture, Rotation, STEPS, event, new_token};
use crate::lambda::Function;
use crate::moto::{Moto, REGION};
use crate::paths::root;

/// The path of the `rotator` CLI: `ROTATOR_CLI_BINARY`, else the debug build.
pub fn cli_binary() -> PathBuf {
    std::env::var_os("ROTATOR_CLI_BINARY")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target/debug/rotator"))
}

/// A command that runs the CLI `binary` against moto, signing as the administrator, with the
/// standard SDK variables only (no profile, no instance metadata).
pub fn rotator_command(binary: &Path, moto: &Moto) -> Command {
    rotator_command_at(binary, moto, &moto.endpoint())
}

/// `rotator_command` with another `AWS_ENDPOINT_URL` (an unreachable one, say).
pub fn rotator_command_at(binary: &Path, moto: &Moto, endpoint: &str) -> Command {
    let (key, secret) = moto.admin_key();
    let mut command = Command::new(binary);
    command
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("AWS_REGION", REGION)
        .env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_ACCESS_KEY_ID", key)
        .env("AWS_SECRET_ACCESS_KEY", secret)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", "/nonexistent")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent");
    command
}

/// What one run of the CLI printed and how it ended.
#[derive(Debug, Clone)]
pub struct CliRun {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl CliRun {
    pub fn from_output(output: &Output) -> Self {
        Self {
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// The standard output parsed as JSON.
    pub fn json(&self) -> Result<serde_json::Value> {
        serde_json::from_str(&self.stdout)
            .with_context(|| format!("the output is not JSON: {self:?}"))
    }
}

/// Runs `command` to completion.
pub fn run_cli(command: &mut Command) -> Result<CliRun> {
    let output = command.output().context("running the rotator CLI")?;
    Ok(CliRun::from_output(&output))
}

impl Fixture {
    /// A whole rotation through the function, each step sent straight to the emulator's
    /// Invoke API (no `cargo lambda invoke` process), that must succeed.
    pub async fn rotate_direct(&self, function: &Function, secret: &str) -> Result<Rotation> {
        let token = new_token();
        self.start_rotation(secret, &token).await?;
        let mut steps = Vec::new();
        for step in STEPS {
            let answer = function.invoke_direct(&event(step, secret, &token))?;
            if !answer.ok {
                bail!("{step} of {secret} failed: {}", answer.output);
            }
            steps.push((step, answer));
        }
        Ok(Rotation { token, steps })
    }

    /// A user with a key made outside the rotator and a secret holding it, whose rotation is
    /// configured (every 90 days) but not in progress: what a managed secret looks like after
    /// its rotations, made without running any. Returns the key's id. Five requests.
    pub async fn seed_managed(&self, user: &str, secret: &str) -> Result<String> {
        self.create_user(user).await?;
        let (id, key_secret) = self.create_key(user).await?;
        let value = json!({"UserName": user, "AccessKeyId": id, "SecretAccessKey": key_secret});
        self.create_secret(secret, &value.to_string(), None).await?;
        self.configure_rotation(secret, self.function_arn()).await?;
        Ok(id)
    }

    /// `seed_managed` for each (user, secret), `concurrency` at a time.
    pub async fn seed_managed_many(
        &self,
        fleet: &[(String, String)],
        concurrency: usize,
    ) -> Result<()> {
        let mut running = JoinSet::new();
        for (user, secret) in fleet {
            let (user, secret) = (user.clone(), secret.clone());
            if running.len() >= concurrency.max(1)
                && let Some(done) = running.join_next().await
            {
                done.context("a seeding task")??;
            }
            let fixture = self.clone();
            running.spawn(async move {
                fixture
                    .seed_managed(&user, &secret)
                    .await
                    .with_context(|| format!("seeding {secret}"))
                    .map(|_| ())
            });
        }
        while let Some(done) = running.join_next().await {
            done.context("a seeding task")??;
        }
        Ok(())
    }
}
