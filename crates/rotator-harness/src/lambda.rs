//! The Lambda side: the Runtime API emulator (`cargo lambda watch --only-lambda-apis`), the
//! function binary serving invocations through it, and `cargo lambda invoke`.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::Value;

use crate::moto::{Moto, REGION, free_port, wait_for};
use crate::paths::{root, scratch_dir, tool};
use crate::proxy::RuntimeDeadline;

/// The path of the function binary: `ROTATOR_FUNCTION_BINARY`, else the debug build.
pub fn function_binary() -> PathBuf {
    std::env::var_os("ROTATOR_FUNCTION_BINARY")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target/debug/rotator-lambda"))
}

/// How to start the function, besides its `ROTATOR_*` settings.
#[derive(Debug, Clone)]
pub struct Launch {
    /// `AWS_ENDPOINT_URL` of the function: moto's when `None`, else for example a fault proxy's.
    pub endpoint: Option<String>,
    /// The invocation timeout: the emulator answers the caller with a 408 after it
    /// (`cargo lambda watch --timeout`), and each event's deadline lies this far after its
    /// delivery.
    pub timeout: Duration,
}

impl Default for Launch {
    fn default() -> Self {
        Self {
            endpoint: None,
            timeout: Duration::from_secs(900),
        }
    }
}

/// The function, started under the Runtime API emulator and serving invocations.
#[derive(Debug)]
pub struct Function {
    emulator: Child,
    _runtime_proxy: RuntimeDeadline,
    process: Child,
    port: u16,
    logs: Arc<Mutex<Vec<(Instant, String)>>>,
    readers: Vec<std::thread::JoinHandle<()>>,
    pub started: Instant,
}

/// The answer to one invocation.
#[derive(Debug, Clone)]
pub struct Invocation {
    pub ok: bool,
    /// The function's result, or its error (`errorType`, `errorMessage`).
    pub output: String,
    pub elapsed: Duration,
}

impl Invocation {
    /// The `errorType` of a failed invocation invoked straight through the Invoke API
    /// (`Function::invoke_direct`), whose answer is the function's JSON error.
    pub fn error_type(&self) -> Option<String> {
        if self.ok {
            return None;
        }
        let error: Value = serde_json::from_str(&self.output).ok()?;
        error["errorType"].as_str().map(str::to_owned)
    }

    /// The `errorMessage` of a failed invocation (see `error_type`), else the whole output.
    pub fn error_message(&self) -> String {
        serde_json::from_str::<Value>(&self.output)
            .ok()
            .and_then(|e| e["errorMessage"].as_str().map(str::to_owned))
            .unwrap_or_else(|| self.output.clone())
    }
}

impl Function {
    /// Starts the emulator and the function binary, configured by `settings` (`ROTATOR_*`
    /// variables) and signing with the administrator's key against moto.
    pub fn start(binary: &Path, moto: &Moto, settings: &[(&str, String)]) -> Result<Self> {
        Self::start_with(binary, moto, settings, &Launch::default())
    }

    /// `start`, with another endpoint or timeout.
    ///
    /// The function reaches the emulator through mitmdump (`runtime_deadline.py`), because
    /// cargo-lambda's emulator sends a constant `Lambda-Runtime-Deadline-Ms` (600000, a time in
    /// 1970) where Lambda sends the epoch milliseconds of the invocation's end. Note that the
    /// emulator's `--timeout` also ends the function's idle wait for the next event with a 408,
    /// and the runtime then exits: with a short timeout, invoke within it of the last answer.
    pub fn start_with(
        binary: &Path,
        moto: &Moto,
        settings: &[(&str, String)],
        launch: &Launch,
    ) -> Result<Self> {
        if !binary.exists() {
            bail!(
                "{} does not exist: build it with `cargo build -p rotator-lambda`",
                binary.display()
            );
        }
        let port = free_port()?;
        let log = scratch_dir()?.join(format!("lambda-emulator-{port}.log"));
        let emulator = Command::new(tool("cargo-lambda")?)
            .current_dir(root())
            .args([
                "lambda",
                "watch",
                "--only-lambda-apis",
                "--invoke-address",
                "127.0.0.1",
                "--invoke-port",
                &port.to_string(),
                "--timeout",
                &launch.timeout.as_secs().max(1).to_string(),
            ])
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&log)?)
            .stderr(std::fs::File::create(log.with_extension("err.log"))?)
            .spawn()
            .context("starting `cargo lambda watch`")?;
        let mut emulator = KillOnDrop(Some(emulator));
        wait_for(
            "the Lambda Runtime API emulator",
            Duration::from_secs(60),
            || std::net::TcpStream::connect(("127.0.0.1", port)).is_ok(),
        )?;
        let deadline = RuntimeDeadline::start(port, launch.timeout)?;
        let (key, secret) = moto.admin_key();
        let started = Instant::now();
        let mut command = Command::new(binary);
        command
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env(
                "AWS_LAMBDA_RUNTIME_API",
                format!("http://127.0.0.1:{}/.rt", deadline.port()),
            )
            .env("AWS_LAMBDA_FUNCTION_NAME", "_")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "1")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
            .env("AWS_REGION", REGION)
            .env(
                "AWS_ENDPOINT_URL",
                launch.endpoint.clone().unwrap_or_else(|| moto.endpoint()),
            )
            .env("AWS_ACCESS_KEY_ID", key)
            .env("AWS_SECRET_ACCESS_KEY", secret)
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_CONFIG_FILE", "/nonexistent")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
            .env("RUST_BACKTRACE", "0")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (name, value) in settings {
            command.env(name, value);
        }
        let mut process = command.spawn().context("starting the function")?;
        let logs = Arc::new(Mutex::new(Vec::new()));
        let mut readers = Vec::new();
        for stream in [
            process
                .stdout
                .take()
                .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
            process
                .stderr
                .take()
                .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
        ]
        .into_iter()
        .flatten()
        {
            let logs = Arc::clone(&logs);
            readers.push(std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    logs.lock().expect("log lock").push((Instant::now(), line));
                }
            }));
        }
        Ok(Self {
            emulator: emulator.0.take().expect("emulator"),
            _runtime_proxy: deadline,
            process,
            port,
            logs,
            readers,
            started,
        })
    }

    /// Sends one event through `cargo lambda invoke` and waits for the answer.
    pub fn invoke(&self, event: &Value) -> Result<Invocation> {
        let start = Instant::now();
        let output = Command::new(tool("cargo-lambda")?)
            .current_dir(root())
            .args([
                "lambda",
                "invoke",
                "--invoke-address",
                "127.0.0.1",
                "--invoke-port",
                &self.port.to_string(),
                "--output-format",
                "json",
                "--data-ascii",
                &event.to_string(),
            ])
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .output()
            .context("running `cargo lambda invoke`")?;
        let elapsed = start.elapsed();
        let stdout = String::from_utf8_lossy(&output.stdout).trim().to_owned();
        let stderr = String::from_utf8_lossy(&output.stderr).trim().to_owned();
        Ok(Invocation {
            ok: output.status.success(),
            output: if output.status.success() {
                stdout
            } else {
                unwrap_report(&format!("{stdout}{stderr}"))
            },
            elapsed,
        })
    }

    /// Whether the function process is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.process.try_wait(), Ok(None))
    }

    /// Every line the function has logged so far.
    pub fn logs(&self) -> Vec<String> {
        let logs = self.logs.lock().expect("log lock");
        logs.iter().map(|(_, line)| line.clone()).collect()
    }

    /// When the function first logged a line containing `text`.
    pub fn logged_at(&self, text: &str) -> Option<Instant> {
        let logs = self.logs.lock().expect("log lock");
        logs.iter()
            .find(|(_, line)| line.contains(text))
            .map(|(at, _)| *at)
    }

    /// Sends one event straight to the emulator's Invoke API (what `cargo lambda invoke`
    /// does, without starting a process): for measurements.
    pub fn invoke_direct(&self, event: &Value) -> Result<Invocation> {
        self.invoke_bytes(event.to_string().as_bytes())
    }

    /// Sends any payload, JSON or not, straight to the emulator's Invoke API.
    pub fn invoke_bytes(&self, payload: &[u8]) -> Result<Invocation> {
        let start = Instant::now();
        let (status, body) = crate::http::request(
            self.port,
            "POST",
            "/2015-03-31/functions/_/invocations",
            "application/json",
            &[],
            payload,
        )?;
        Ok(Invocation {
            ok: status == 200,
            output: String::from_utf8_lossy(&body).into_owned(),
            elapsed: start.elapsed(),
        })
    }

    /// The emulator's Invoke API endpoint, for an SDK client (`AWS_ENDPOINT_URL_LAMBDA`): it
    /// serves the function under the name `_`.
    pub fn invoke_endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The process id of the function, for measurements.
    pub fn pid(&self) -> u32 {
        self.process.id()
    }

    /// Waits for the function to exit on its own (a start-up failure) and returns its status.
    pub fn wait_exit(&mut self, limit: Duration) -> Result<Option<std::process::ExitStatus>> {
        let start = Instant::now();
        while start.elapsed() < limit {
            if let Some(status) = self.process.try_wait()? {
                // Let the log readers drain the pipes.
                std::thread::sleep(Duration::from_millis(100));
                return Ok(Some(status));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(None)
    }
}

/// cargo-lambda reports a function error as a wrapped, boxed report (`Error: TYPE`, then
/// `× message` over several `│`-prefixed lines): this joins it back into one line.
fn unwrap_report(report: &str) -> String {
    report
        .lines()
        .map(|line| line.trim().trim_start_matches(['×', '│']).trim())
        .filter(|line| !line.is_empty())
        .take_while(|line| !line.starts_with("Was this behavior unexpected?"))
        .fold(String::new(), |mut joined, line| {
            // A line wrapped after a hyphen continues the same word.
            if !joined.is_empty() && !joined.ends_with('-') {
                joined.push(' ');
            }
            joined.push_str(line);
            joined
        })
}

impl Function {
    /// The distinct AWS operations (`service:Operation`) that the function's `invocation
    /// finished` lines name in their `aws_operations` field.
    pub fn aws_operations(&self) -> BTreeSet<String> {
        self.logs()
            .iter()
            .filter_map(|line| serde_json::from_str::<Value>(line).ok())
            .filter_map(|line| line["fields"]["aws_operations"].as_str().map(str::to_owned))
            .flat_map(|ops| {
                ops.split(',')
                    .map(str::trim)
                    .filter(|op| !op.is_empty())
                    .map(str::to_owned)
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    /// Writes `aws_operations` to `target/rotator-operations/<binary>-<thread>-<pid>-<port>.txt`,
    /// one per line, for the check of the function's grants against what it really called.
    fn record_operations(&self) -> Result<PathBuf> {
        let dir = root().join("target/rotator-operations");
        std::fs::create_dir_all(&dir)?;
        let program = std::env::current_exe()
            .ok()
            .and_then(|exe| exe.file_stem().map(|s| s.to_string_lossy().into_owned()))
            .unwrap_or_else(|| "harness".into());
        let thread = std::thread::current().name().unwrap_or("thread").to_owned();
        let name: String = format!("{program}-{thread}-{}-{}", std::process::id(), self.port)
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let path = dir.join(format!("{name}.txt"));
        let mut text = String::new();
        for op in self.aws_operations() {
            text.push_str(&op);
            text.push('\n');
        }
        std::fs::write(&path, text)?;
        Ok(path)
    }
}

impl Drop for Function {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
        // The pipes are closed now: let the readers take the last lines.
        for reader in self.readers.drain(..) {
            let _ = reader.join();
        }
        if let Err(error) = self.record_operations() {
            eprintln!("could not record the function's AWS operations: {error:#}");
        }
        let _ = self.emulator.kill();
        let _ = self.emulator.wait();
    }
}

/// Kills a child process if start-up fails half-way.
struct KillOnDrop(Option<Child>);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
