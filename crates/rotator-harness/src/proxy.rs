//! The fault-injecting proxy: mitmproxy (`mitmdump`, reverse mode) between the function and
//! moto, with the addon `fault_proxy.py`, controlled by the test over HTTP; and the same
//! mitmdump in front of the Runtime API emulator to give each invocation a real deadline.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

use crate::http;
use crate::moto::{Moto, free_port, wait_for};
use crate::paths::{proxy_tool, scratch_dir};

/// A fault the proxy applies to one operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Forward, let moto act, then drop the connection instead of answering.
    LoseAnswer,
    /// Answer `Throttling` (query protocols) or `ThrottlingException` (JSON) without forwarding.
    Throttle,
    /// Forward, let moto act, then answer 500 `InternalFailure`.
    ErrorAfter,
    /// Answer this error (status, code) without forwarding, e.g. 409 `LimitExceeded`.
    Refuse { status: u16, code: String },
}

impl Fault {
    pub fn refuse(status: u16, code: &str) -> Self {
        Self::Refuse {
            status,
            code: code.to_owned(),
        }
    }

    /// Whether moto acts on a request that gets this fault.
    pub fn forwards(&self) -> bool {
        matches!(self, Self::LoseAnswer | Self::ErrorAfter)
    }

    fn name(&self) -> &'static str {
        match self {
            Self::LoseAnswer => "lose-answer",
            Self::Throttle => "throttle",
            Self::ErrorAfter => "error-after",
            Self::Refuse { .. } => "refuse",
        }
    }
}

/// One rule: `fault` for the requests named `op` (`iam:CreateAccessKey`, or a shell pattern
/// such as `iam:*`), after letting `skip` of them through, `times` times (`None`: always).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub op: String,
    pub fault: Fault,
    pub times: Option<u32>,
    pub skip: u32,
}

impl Rule {
    /// `fault` once, on the next request named `op`.
    pub fn once(op: &str, fault: Fault) -> Self {
        Self {
            op: op.to_owned(),
            fault,
            times: Some(1),
            skip: 0,
        }
    }

    /// `fault` on every request named `op`.
    pub fn always(op: &str, fault: Fault) -> Self {
        Self {
            times: None,
            ..Self::once(op, fault)
        }
    }

    pub fn times(mut self, times: u32) -> Self {
        self.times = Some(times);
        self
    }

    pub fn skip(mut self, skip: u32) -> Self {
        self.skip = skip;
        self
    }

    fn to_json(&self) -> Value {
        let mut rule = json!({
            "op": self.op,
            "fault": self.fault.name(),
            "times": self.times,
            "skip": self.skip,
        });
        if let Fault::Refuse { status, code } = &self.fault {
            rule["status"] = json!(status);
            rule["code"] = json!(code);
        }
        rule
    }
}

/// How long a key made through the proxy is refused by STS (`InvalidClientTokenId`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Propagation {
    Off,
    After(Duration),
    /// A key that never starts working.
    Forever,
}

/// One request the proxy saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    pub seq: u64,
    /// `<service>:<Operation>`.
    pub op: String,
    /// The fault applied (`lose-answer`, `throttle`, `error-after`, `refuse`, `propagation`).
    pub fault: Option<String>,
    /// Whether the request reached moto (moto acted on it).
    pub forwarded: bool,
    /// moto's status code, when it answered.
    pub moto_status: Option<u16>,
}

impl Seen {
    /// Whether moto received this request and answered it with success.
    pub fn moto_succeeded(&self) -> bool {
        self.forwarded && self.moto_status.is_some_and(|s| (200..300).contains(&s))
    }
}

/// An access key that moto issued through the proxy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issued {
    pub id: String,
    pub secret: String,
    /// When the proxy saw moto's answer (the start of the propagation delay).
    pub created: SystemTime,
}

/// A running mitmdump process, killed (with its scratch directory removed) when dropped.
#[derive(Debug)]
struct Mitmdump {
    child: Child,
    port: u16,
    confdir: PathBuf,
}

impl Mitmdump {
    /// Starts `mitmdump` in reverse mode to `upstream` with the addon `script`.
    fn start(name: &str, upstream: &str, script: &str, options: &[String]) -> Result<Self> {
        let port = free_port()?;
        let scratch = scratch_dir()?;
        let log = scratch.join(format!("{name}-{port}.log"));
        // mitmproxy writes a CA into its confdir on start: one directory per process, so that
        // proxies started in parallel never share a half-written one.
        let confdir = scratch.join(format!("{name}-{port}.conf"));
        std::fs::create_dir_all(&confdir)?;
        let out = File::create(&log)?;
        let addon = Path::new(env!("CARGO_MANIFEST_DIR")).join(script);
        let mut command = Command::new(proxy_tool("mitmdump")?);
        command
            .args(["--quiet", "--mode", &format!("reverse:{upstream}")])
            .args([
                "--listen-host",
                "127.0.0.1",
                "--listen-port",
                &port.to_string(),
            ])
            .args(["--set", "keep_host_header=true"])
            .args(["--set", "connection_strategy=lazy"])
            .args(["--set", &format!("confdir={}", confdir.display())])
            .args(["--set", "termlog_verbosity=warn"])
            .arg("-s")
            .arg(&addon);
        for option in options {
            command.args(["--set", option]);
        }
        let child = command
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .spawn()
            .context("starting mitmdump")?;
        let mut proxy = Self {
            child,
            port,
            confdir,
        };
        wait_for(name, Duration::from_secs(30), || {
            matches!(proxy.child.try_wait(), Ok(Some(_)))
                || std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        })?;
        if let Ok(Some(status)) = proxy.child.try_wait() {
            bail!(
                "mitmdump ({name}) exited with {status}: {}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        }
        Ok(proxy)
    }
}

impl Drop for Mitmdump {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.confdir);
    }
}

/// The fault-injecting proxy in front of moto.
#[derive(Debug)]
pub struct Proxy {
    process: Mitmdump,
}

impl Proxy {
    /// Starts the proxy in front of `moto`, with no rules: it forwards everything.
    pub fn start(moto: &Moto) -> Result<Self> {
        let process = Mitmdump::start("fault-proxy", &moto.endpoint(), "fault_proxy.py", &[])?;
        let proxy = Self { process };
        // The addon answers its control API once it is loaded.
        wait_for("the fault proxy's addon", Duration::from_secs(30), || {
            proxy.get("log").is_ok()
        })?;
        Ok(proxy)
    }

    /// The endpoint to give the function (`AWS_ENDPOINT_URL`) instead of moto's.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.process.port)
    }

    /// Replaces the rule list.
    pub fn set_rules(&self, rules: &[Rule]) -> Result<()> {
        let rules: Vec<Value> = rules.iter().map(Rule::to_json).collect();
        self.post("rules", &json!({ "rules": rules }))?;
        Ok(())
    }

    /// Sets how long new keys are refused by STS.
    pub fn set_propagation(&self, propagation: Propagation) -> Result<()> {
        let seconds = match propagation {
            Propagation::Off => json!(0),
            Propagation::After(delay) => json!(delay.as_secs_f64()),
            Propagation::Forever => json!("forever"),
        };
        self.post("propagation", &json!({ "seconds": seconds }))?;
        Ok(())
    }

    /// No rules, no propagation delay, an empty log.
    pub fn reset(&self) -> Result<()> {
        self.post("reset", &json!({}))?;
        Ok(())
    }

    /// Every request seen since the start or the last reset, in order.
    pub fn log(&self) -> Result<Vec<Seen>> {
        let log = self.get("log")?;
        log["entries"]
            .as_array()
            .context("the fault proxy's log has no entries")?
            .iter()
            .map(|entry| {
                Ok(Seen {
                    seq: entry["seq"].as_u64().context("seq")?,
                    op: entry["op"].as_str().context("op")?.to_owned(),
                    fault: entry["fault"].as_str().map(str::to_owned),
                    forwarded: entry["forwarded"].as_bool().context("forwarded")?,
                    moto_status: entry["moto_status"]
                        .as_u64()
                        .and_then(|s| u16::try_from(s).ok()),
                })
            })
            .collect()
    }

    /// The requests for `op` that reached moto, among `log`.
    pub fn count_forwarded(log: &[Seen], op: &str) -> usize {
        log.iter().filter(|s| s.op == op && s.forwarded).count()
    }

    /// Every access key (id, secret) that moto issued through the proxy, lost answers included.
    pub fn issued_keys(&self) -> Result<Vec<(String, String)>> {
        Ok(self
            .issued()?
            .into_iter()
            .map(|key| (key.id, key.secret))
            .collect())
    }

    /// Every access key that moto issued through the proxy, with the time the proxy saw it.
    pub fn issued(&self) -> Result<Vec<Issued>> {
        let issued = self.get("issued")?;
        Ok(issued["keys"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|key| {
                Some(Issued {
                    id: key["id"].as_str()?.to_owned(),
                    secret: key["secret"].as_str()?.to_owned(),
                    created: UNIX_EPOCH
                        + Duration::try_from_secs_f64(key["created"].as_f64()?).ok()?,
                })
            })
            .collect())
    }

    fn get(&self, path: &str) -> Result<Value> {
        self.control("GET", path, b"")
    }

    fn post(&self, path: &str, body: &Value) -> Result<Value> {
        self.control("POST", path, body.to_string().as_bytes())
    }

    fn control(&self, method: &str, path: &str, body: &[u8]) -> Result<Value> {
        let (status, answer) = http::request(
            self.process.port,
            method,
            &format!("/__faults/{path}"),
            "application/json",
            &[],
            body,
        )?;
        if status != 200 {
            bail!(
                "the fault proxy answered {status} to {method} /__faults/{path}: {}",
                String::from_utf8_lossy(&answer)
            );
        }
        serde_json::from_slice(&answer).context("the fault proxy's answer")
    }
}

/// mitmdump in front of the Runtime API emulator, writing each event's real deadline
/// (`runtime_deadline.py`).
#[derive(Debug)]
pub(crate) struct RuntimeDeadline {
    process: Mitmdump,
}

impl RuntimeDeadline {
    pub(crate) fn start(emulator_port: u16, timeout: Duration) -> Result<Self> {
        let process = Mitmdump::start(
            "runtime-deadline",
            &format!("http://127.0.0.1:{emulator_port}"),
            "runtime_deadline.py",
            &[format!("deadline_secs={}", timeout.as_secs())],
        )?;
        Ok(Self { process })
    }

    pub(crate) fn port(&self) -> u16 {
        self.process.port
    }
}
