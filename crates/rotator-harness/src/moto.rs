//! The moto server: started on a free 127.0.0.1 port, with request authentication on, and
//! stopped when dropped.

use std::fs::File;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use aws_config::{BehaviorVersion, SdkConfig};
use aws_sdk_iam::config::{Credentials, Region};
use serde_json::{Value, json};

use crate::http;
use crate::paths::{scratch_dir, tool};

pub const REGION: &str = "us-east-1";
pub const ACCOUNT: &str = "123456789012";
/// The placeholder function that `RotateSecret` names (moto requires it to exist; it does not
/// run it). The real function is driven through the Lambda Runtime API instead.
pub const FUNCTION_NAME: &str = "iam-key-rotator";

/// A running moto server.
#[derive(Debug)]
pub struct Moto {
    child: Child,
    pub port: u16,
    pub log: PathBuf,
    admin: (String, String),
    pub function_arn: String,
}

/// Picks a free port on 127.0.0.1.
pub fn free_port() -> Result<u16> {
    Ok(TcpListener::bind(("127.0.0.1", 0))?.local_addr()?.port())
}

/// Waits until `ready` holds, or fails after `limit`.
pub fn wait_for(what: &str, limit: Duration, mut ready: impl FnMut() -> bool) -> Result<()> {
    let start = Instant::now();
    while !ready() {
        if start.elapsed() > limit {
            bail!("{what} was not ready within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}

impl Moto {
    /// Starts moto, creates an administrator and the placeholder function, then turns on
    /// request authentication so that a wrong or deleted key really fails.
    pub async fn start() -> Result<Self> {
        let port = free_port()?;
        let log = scratch_dir()?.join(format!("moto-{port}.log"));
        let out = File::create(&log)?;
        let launcher = Path::new(env!("CARGO_MANIFEST_DIR")).join("moto_server.py");
        let child = Command::new(tool("python")?)
            .arg(launcher)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .spawn()
            .context("starting moto_server")?;
        let mut moto = Self {
            child,
            port,
            log,
            admin: ("unused".into(), "unused".into()),
            function_arn: String::new(),
        };
        wait_for("moto", Duration::from_secs(60), || {
            http::request(port, "GET", "/moto-api/", "text/plain", &[], b"").is_ok()
        })?;
        moto.post(
            "/moto-api/config",
            "application/json",
            json!({"lambda": {"use_docker": false}})
                .to_string()
                .as_bytes(),
        )?;

        // Before authentication is on, any key works: set up the administrator with it.
        let setup = moto.sdk_config_for("AKIASETUPSETUPSETUP0", "setup").await;
        let iam = aws_sdk_iam::Client::new(&setup);
        iam.create_user().user_name("admin").send().await?;
        iam.put_user_policy()
            .user_name("admin")
            .policy_name("everything")
            .policy_document(
                json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]})
                    .to_string(),
            )
            .send()
            .await?;
        let key = iam.create_access_key().user_name("admin").send().await?;
        let key = key.access_key().context("no admin key")?;
        moto.admin = (
            key.access_key_id().to_owned(),
            key.secret_access_key().to_owned(),
        );
        let role = iam
            .create_role()
            .role_name("iam-key-rotator")
            .assume_role_policy_document(
                json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]})
                    .to_string(),
            )
            .send()
            .await?;
        let role_arn = role.role().context("no role")?.arn().to_owned();
        let empty_zip = "UEsFBgAAAAAAAAAAAAAAAAAAAAAAAA==";
        let function = json!({
            "FunctionName": FUNCTION_NAME,
            "Runtime": "provided.al2023",
            "Role": role_arn,
            "Handler": "bootstrap",
            "Code": {"ZipFile": empty_zip},
        });
        // Authentication is still off: moto reads the header only to route the call to Lambda.
        let route_to_lambda = format!(
            "AWS4-HMAC-SHA256 Credential=AKIASETUPSETUPSETUP0/20260101/{REGION}/lambda/aws4_request, \
             SignedHeaders=host, Signature=0"
        );
        let (status, created) = http::request(
            port,
            "POST",
            "/2015-03-31/functions",
            "application/json",
            &[("Authorization", &route_to_lambda)],
            function.to_string().as_bytes(),
        )?;
        if status != 201 && status != 200 {
            bail!(
                "moto answered {status} to CreateFunction: {}",
                String::from_utf8_lossy(&created)
            );
        }
        let created: Value =
            serde_json::from_slice(&created).context("moto's CreateFunction answer")?;
        moto.function_arn = created["FunctionArn"]
            .as_str()
            .context("moto created no function")?
            .to_owned();
        moto.post("/moto-api/reset-auth", "text/plain", b"0")?;
        Ok(moto)
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The administrator's key pair (the function's own credentials in tests).
    pub fn admin_key(&self) -> (&str, &str) {
        (&self.admin.0, &self.admin.1)
    }

    /// An SDK configuration that signs as the administrator.
    pub async fn sdk_config(&self) -> SdkConfig {
        self.sdk_config_for(&self.admin.0, &self.admin.1).await
    }

    /// An SDK configuration that signs with the given key pair.
    pub async fn sdk_config_for(&self, key: &str, secret: &str) -> SdkConfig {
        aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new(REGION))
            .endpoint_url(self.endpoint())
            .credentials_provider(Credentials::new(key, secret, None, None, "harness"))
            .load()
            .await
    }

    /// POSTs to moto's control API and returns the body of a 2xx answer.
    pub fn post(&self, path: &str, content_type: &str, body: &[u8]) -> Result<Vec<u8>> {
        let (status, answer) = http::request(self.port, "POST", path, content_type, &[], body)?;
        if !(200..300).contains(&status) {
            bail!(
                "moto answered {status} to POST {path}: {}",
                String::from_utf8_lossy(&answer)
            );
        }
        Ok(answer)
    }

    /// Everything moto holds (`/moto-api/data.json`): sent SNS messages and SES emails included.
    pub fn data(&self) -> Result<Value> {
        let (status, body) = http::request(
            self.port,
            "GET",
            "/moto-api/data.json",
            "text/plain",
            &[],
            b"",
        )?;
        if status != 200 {
            bail!("moto answered {status} to data.json");
        }
        serde_json::from_slice(&body).context("moto's data.json")
    }

    /// Every SNS message published to `topic_arn`, as (subject, message).
    pub fn sns_messages(&self, topic_arn: &str) -> Result<Vec<(String, String)>> {
        let data = self.data()?;
        let mut messages = Vec::new();
        for topic in data["sns"]["Topic"].as_array().into_iter().flatten() {
            if topic["arn"].as_str() != Some(topic_arn) {
                continue;
            }
            for sent in topic["sent_notifications"].as_array().into_iter().flatten() {
                // moto stores [message id, message, subject, attributes, group id].
                let message = sent[1].as_str().unwrap_or_default().to_owned();
                let subject = sent[2].as_str().unwrap_or_default().to_owned();
                messages.push((subject, message));
            }
        }
        Ok(messages)
    }

    /// Every email SES sent, as (recipients, subject, body).
    pub fn ses_emails(&self) -> Result<Vec<(Vec<String>, String, String)>> {
        let data = self.data()?;
        let mut emails = Vec::new();
        for message in data["ses"]["Message"].as_array().into_iter().flatten() {
            let recipients = message["destinations"]["ToAddresses"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|a| a.as_str().map(str::to_owned))
                .collect();
            emails.push((
                recipients,
                message["subject"].as_str().unwrap_or_default().to_owned(),
                message["body"].as_str().unwrap_or_default().to_owned(),
            ));
        }
        Ok(emails)
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
