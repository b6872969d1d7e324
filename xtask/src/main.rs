//! `cargo xtask <task>`: the project's automation (build, ci, demo, bench, synth, deploy).

mod grant;
mod tools;

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

const HELP: &str = "\
cargo xtask <task>

Tasks:
  ci                    every check: fmt, clippy, unit, emulator and end-to-end tests, infra tests (no release
                        artifact: `build` makes it)
  infra                 ci's infra checks alone: infra tests, syntheses, cdk-nag, cfn-lint, parliament, checkov, the grant check
  demo [--keep]         rotations on this machine against the moto emulator (no AWS account); --keep leaves moto
                        running and prints the environment that points `rotator` at it
  build [--arch A]      the Lambda artifact target/lambda/rotator-lambda/bootstrap(.zip); A = arm64 (default) or x86-64
  bench                 init time, memory, latency and AWS requests per rotation, against moto
  synth                 synthesize the CDK app (infra/) with infra/rotator.config.json
  deploy                build the artifact, then `cdk deploy` (needs AWS credentials)
  setup                 install the project-local tools (.venv, rust targets, infra/node_modules)
";

fn main() -> Result<()> {
    let args: Vec<String> = env::args().skip(1).collect();
    let task = args.first().map(String::as_str).unwrap_or("help");
    let rest = &args[args.len().min(1)..];
    match task {
        "ci" => ci(),
        "infra" => infra(),
        "demo" => tools::demo(rest),
        "build" => build(parse_arch(rest)?).map(|_| ()),
        "bench" => tools::bench(rest),
        "synth" => tools::synth(rest),
        "deploy" => tools::deploy(rest),
        "setup" => {
            tools::python_tools(tools::ToolSet::Ci)?;
            tools::infra_modules()?;
            Ok(())
        }
        "help" | "--help" | "-h" => {
            print!("{HELP}");
            Ok(())
        }
        other => bail!("unknown task {other:?}\n\n{HELP}"),
    }
}

/// The workspace root (the parent of this crate's folder).
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask sits inside the workspace")
        .to_path_buf()
}

/// Runs a command to completion in `dir`, failing with its command line if it fails.
pub fn run(command: &mut Command) -> Result<()> {
    let line = format!("{command:?}");
    eprintln!("$ {}", line.replace('"', ""));
    let status = command
        .status()
        .with_context(|| format!("could not start {line}"))?;
    if !status.success() {
        bail!("{line} failed ({status})");
    }
    Ok(())
}

pub fn cargo() -> Command {
    let mut command = Command::new(env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    command.current_dir(root());
    command
}

/// The target architecture of the Lambda artifact.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arch {
    Arm64,
    X86_64,
}

fn parse_arch(args: &[String]) -> Result<Arch> {
    match args {
        [] => Ok(Arch::Arm64),
        [flag, value] if flag == "--arch" => match value.as_str() {
            "arm64" | "aarch64" => Ok(Arch::Arm64),
            "x86-64" | "x86_64" => Ok(Arch::X86_64),
            other => bail!("unknown --arch {other:?}: use arm64 or x86-64"),
        },
        other => {
            bail!("unexpected arguments {other:?}: usage: cargo xtask build [--arch arm64|x86-64]")
        }
    }
}

/// Builds the Lambda artifact with cargo-lambda and returns the zip's path.
pub fn build(arch: Arch) -> Result<PathBuf> {
    let venv = tools::python_tools(tools::ToolSet::Demo)?;
    let target = match arch {
        Arch::Arm64 => "aarch64-unknown-linux-gnu",
        Arch::X86_64 => "x86_64-unknown-linux-gnu",
    };
    run(Command::new("rustup")
        .current_dir(root())
        .args(["target", "add", target]))
    .context("rustup could not add the Lambda's target")?;
    let mut command = cargo();
    command.env("PATH", tools::path_with(&venv.bin));
    command.args([
        "lambda",
        "build",
        "--release",
        "--package",
        "rotator-lambda",
        "--output-format",
        "zip",
    ]);
    command.arg(match arch {
        Arch::Arm64 => "--arm64",
        Arch::X86_64 => "--x86-64",
    });
    // cargo-lambda writes the zip only; the contract also promises the bare executable.
    run(&mut command)?;
    let dir = root().join("target/lambda/rotator-lambda");
    let zip = dir.join("bootstrap.zip");
    tools::unzip_bootstrap(&zip, &dir.join("bootstrap"))?;
    let size = std::fs::metadata(&zip)
        .with_context(|| format!("cargo lambda did not write {}", zip.display()))?
        .len();
    println!(
        "built {} ({:?}): {:.2} MB",
        zip.display(),
        arch,
        size as f64 / 1_000_000.0
    );
    Ok(zip)
}

/// ARCHITECTURE.md's first invariant: rotator-core depends on no AWS crate.
fn core_has_no_aws_dependency() -> Result<()> {
    let output = cargo()
        .args([
            "tree",
            "--package",
            "rotator-core",
            "--edges",
            "normal",
            "--prefix",
            "none",
        ])
        .output()
        .context("running cargo tree")?;
    if !output.status.success() {
        bail!(
            "cargo tree failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let tree = String::from_utf8_lossy(&output.stdout);
    let aws: Vec<&str> = tree
        .lines()
        .filter(|line| line.starts_with("aws-"))
        .collect();
    if !aws.is_empty() {
        bail!(
            "rotator-core must not depend on AWS crates, but depends on: {}",
            aws.join(", ")
        );
    }
    println!("rotator-core depends on no aws-* crate");
    Ok(())
}

/// The infra part of `ci` alone (it needs the binaries' operation records of an earlier test run
/// for the grant check: run `cargo test --workspace` first).
fn infra() -> Result<()> {
    let started = std::time::SystemTime::UNIX_EPOCH;
    let venv = tools::python_tools(tools::ToolSet::Ci)?;
    let cdk_out = tools::infra_checks(&venv)?;
    grant::check(&cdk_out, started)?;
    println!("cargo xtask infra: every infra check passed");
    Ok(())
}

/// Every check the project has. It builds what the tests run (the host's debug binaries), and
/// no release artifact: `cargo xtask build` makes that (cross-compiling it took 4 min 17 s of a
/// 14 min 49 s ci on 2 cores). Nothing of ci reads the artifact: the infra's syntheses take a
/// placeholder zip (`tools::placeholder_artifact`), its tests write their own, and the grant
/// check reads the operations that the tests' host binaries called.
fn ci() -> Result<()> {
    let started = std::time::SystemTime::now();
    let venv = tools::python_tools(tools::ToolSet::Ci)?;
    core_has_no_aws_dependency()?;
    run(cargo().args(["fmt", "--all", "--check"]))?;
    run(cargo().args([
        "clippy",
        "--workspace",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ]))?;
    let mut test = cargo();
    test.args(["test", "--workspace"])
        .env("PATH", tools::path_with(&venv.bin));
    run(&mut test)?;
    let cdk_out = tools::infra_checks(&venv)?;
    grant::check(&cdk_out, started)?;
    println!("cargo xtask ci: every check passed (the release artifact: cargo xtask build)");
    Ok(())
}
