//! The project-local tools (Python virtualenv, infra/node_modules) and the tasks that use them.

use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::{Arch, build, cargo, root, run};

/// The project's Python virtualenv (`.venv`, git-ignored).
pub struct Venv {
    pub bin: PathBuf,
}

/// The tools of `xtask/requirements.txt` that pin exact versions of packages that moto uses too, each installed
/// into a virtualenv of its own under `.venv`: the requirement's package name, that virtualenv, and the executable
/// that shows it is installed. mitmproxy (11.0.2 wants Flask<=3.1.0 and cryptography<44.1), checkov (which pins
/// boto3, PyYAML and dozens more) and parliament (its own boto3 and PyYAML) would otherwise move moto's dependencies.
const ISOLATED_TOOLS: [(&str, &str, &str); 3] = [
    ("mitmproxy", "proxy", "mitmdump"),
    ("checkov", "checkov", "checkov"),
    ("parliament", "parliament", "parliament"),
];

/// The executable `name` of the isolated virtualenv `.venv/<venv>`.
pub fn isolated_tool(venv: &str, name: &str) -> PathBuf {
    root().join(".venv").join(venv).join("bin").join(name)
}

/// Which of the project's Python tools a task needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ToolSet {
    /// What the function needs to run on this machine and to be built: moto, cargo-lambda (with
    /// its zig) and mitmproxy (the harness's `runtime_deadline.py` gives each invocation its
    /// deadline). `demo`, `bench` and `build` need no more.
    Demo,
    /// Everything of `xtask/requirements.txt`: also cfn-lint, checkov and parliament, which only
    /// `ci` (and `infra`) run.
    Ci,
}

/// The packages of [`ToolSet::Demo`].
const DEMO_PACKAGES: [&str; 4] = ["moto", "cargo-lambda", "ziglang", "mitmproxy"];

impl ToolSet {
    /// Whether the requirement `line` (`name==version`, `name[extra]==version`) is one of this set.
    fn wants(self, line: &str) -> bool {
        self == ToolSet::Ci || DEMO_PACKAGES.contains(&package_of(line))
    }
}

/// The package name of a requirement line.
fn package_of(line: &str) -> &str {
    let line = line.trim_start();
    let end = line
        .find(['=', '[', '<', '>', '~', '!', ' ', ';'])
        .unwrap_or(line.len());
    &line[..end]
}

/// Creates `.venv` and installs the requirements of `set` from `xtask/requirements.txt` into it
/// (and the isolated tools of the set into theirs), unless they are installed already: the
/// stamp `.venv/xtask-requirements.txt` records a complete install, and
/// `.venv/xtask-requirements-demo.txt` one of the demo's tools alone.
pub fn python_tools(set: ToolSet) -> Result<Venv> {
    let venv = root().join(".venv");
    let bin = venv.join("bin");
    let all = fs::read_to_string(root().join("xtask/requirements.txt"))
        .context("reading xtask/requirements.txt")?;
    let requirement = |line: &&str| {
        let line = line.trim();
        !line.is_empty() && !line.starts_with('#')
    };
    let wanted: String = all
        .lines()
        .filter(requirement)
        .filter(|line| set.wants(line))
        .map(|line| format!("{line}\n"))
        .collect();
    let isolated: Vec<_> = ISOLATED_TOOLS
        .iter()
        .filter(|(package, _, _)| set.wants(package))
        .collect();
    let full_stamp = venv.join("xtask-requirements.txt");
    let demo_stamp = venv.join("xtask-requirements-demo.txt");
    let installed =
        |stamp: &Path, text: &str| fs::read_to_string(stamp).ok().as_deref() == Some(text);
    let complete = match set {
        ToolSet::Ci => installed(&full_stamp, &all),
        ToolSet::Demo => installed(&full_stamp, &all) || installed(&demo_stamp, &wanted),
    };
    if complete
        && bin.join("moto_server").exists()
        && bin.join("cargo-lambda").exists()
        && isolated
            .iter()
            .all(|(_, dir, exe)| isolated_tool(dir, exe).exists())
    {
        return Ok(Venv { bin });
    }
    match set {
        ToolSet::Demo => eprintln!(
            "installing the demo's Python tools (moto, cargo-lambda; mitmproxy in a virtualenv of its own) into \
             .venv ..."
        ),
        ToolSet::Ci => eprintln!(
            "installing the Python tools (moto, cargo-lambda, cfn-lint; mitmproxy, checkov and parliament in \
             virtualenvs of their own) into .venv ..."
        ),
    }
    if !bin.join("python").exists() {
        run(Command::new(python())
            .current_dir(root())
            .args(["-m", "venv", ".venv"]))
        .context("python3 -m venv failed: install Python 3 with its venv module")?;
    }
    let isolated_of = |line: &str| {
        let name = package_of(line);
        ISOLATED_TOOLS
            .iter()
            .find(|(package, _, _)| *package == name)
    };
    let main: Vec<&str> = wanted
        .lines()
        .filter(|line| isolated_of(line).is_none())
        .collect();
    let main_requirements = venv.join("xtask-requirements-main.txt");
    fs::write(&main_requirements, main.join("\n"))?;
    run(Command::new(bin.join("pip"))
        .current_dir(root())
        .args(["install", "--disable-pip-version-check", "--quiet", "-r"])
        .arg(&main_requirements))
    .context("pip could not install xtask/requirements.txt")?;
    for (package, dir, _) in isolated {
        let requirements: Vec<&str> = wanted
            .lines()
            .filter(|line| isolated_of(line).is_some_and(|(p, _, _)| p == package))
            .collect();
        if requirements.is_empty() {
            bail!("xtask/requirements.txt pins no version of {package}");
        }
        let python = isolated_tool(dir, "python");
        if !python.exists() {
            run(Command::new(bin.join("python"))
                .current_dir(root())
                .args(["-m", "venv"])
                .arg(format!(".venv/{dir}")))
            .with_context(|| format!("python3 -m venv .venv/{dir} failed"))?;
        }
        run(Command::new(isolated_tool(dir, "pip"))
            .current_dir(root())
            .args(["install", "--disable-pip-version-check", "--quiet"])
            .args(&requirements))
        .with_context(|| {
            format!("pip could not install {package} (xtask/requirements.txt) into .venv/{dir}")
        })?;
    }
    match set {
        ToolSet::Ci => fs::write(&full_stamp, all)?,
        ToolSet::Demo => fs::write(&demo_stamp, wanted)?,
    }
    Ok(Venv { bin })
}

fn python() -> String {
    std::env::var("PYTHON").unwrap_or_else(|_| "python3".into())
}

/// `PATH` with `dir` in front.
pub fn path_with(dir: &Path) -> OsString {
    let mut paths = vec![dir.to_path_buf()];
    if let Some(path) = std::env::var_os("PATH") {
        paths.extend(std::env::split_paths(&path));
    }
    std::env::join_paths(paths).expect("PATH entries hold no separator")
}

/// Extracts `bootstrap` from the zip that cargo-lambda wrote, as an executable.
pub fn unzip_bootstrap(zip: &Path, out: &Path) -> Result<()> {
    let script = "import sys, zipfile\n\
                  with zipfile.ZipFile(sys.argv[1]) as z, open(sys.argv[2], 'wb') as f:\n    \
                  f.write(z.read('bootstrap'))\n";
    run(Command::new(python())
        .arg("-c")
        .arg(script)
        .arg(zip)
        .arg(out))
    .with_context(|| format!("extracting bootstrap from {}", zip.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(out, fs::Permissions::from_mode(0o755))?;
    }
    Ok(())
}

fn infra_dir() -> PathBuf {
    root().join("infra")
}

fn npm() -> Command {
    let mut command = Command::new("npm");
    command.current_dir(infra_dir());
    // The CDK CLI must not probe the EC2 metadata address, fetch notices or send telemetry.
    command
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("CDK_DISABLE_CLI_TELEMETRY", "true")
        .env("CDK_DISABLE_VERSION_CHECK", "true");
    command
}

/// Installs infra/node_modules from the committed lock file, unless it is already current.
pub fn infra_modules() -> Result<()> {
    let lock = fs::read(infra_dir().join("package-lock.json"))
        .context("reading infra/package-lock.json")?;
    let stamp = infra_dir().join("node_modules/.xtask-package-lock.json");
    if fs::read(&stamp).ok().as_deref() == Some(lock.as_slice()) {
        return Ok(());
    }
    run(npm().args(["ci", "--no-audit", "--no-fund"]))
        .context("npm ci failed in infra/: Node.js 20 and npm are needed")?;
    fs::write(&stamp, lock)?;
    Ok(())
}

/// The number of users of the generated configuration that ci lints and bench times.
const SCALE_USERS: &str = "5000";

/// The infra checks of `cargo xtask ci`: tests, a synth of the example app, of a generated 5,000-user app of
/// an organization, and of the example's member-account app, and cfn-lint on every template of the three
/// (nested stacks included; the StackSet's member template is linted in its own file). Returns the 5,000-user
/// app's cdk.out, from which the grant check reads the policies of the function's role and of the member role
/// (its StackSet holds the member role; the example names its member account, whose role lives outside the app).
pub fn infra_checks(venv: &Venv) -> Result<PathBuf> {
    infra_modules()?;
    run(npm().args(["test"]))?;
    let example = synth_example()?;
    let scale = synth_scale()?;
    let member = synth_member()?;
    let mut templates = templates_in(&example)?;
    templates.extend(templates_in(&scale)?);
    templates.extend(templates_in(&member)?);
    templates.extend(stack_set_templates(&scale)?);
    lint(venv, &templates)?;
    lint_policies(&[&example, &scale, &member])?;
    // checkov takes about a second per shard of the 5,000-user synthesis, whose hundred shard templates hold the same
    // three resource types: it checks that synthesis's parent and largest shard, and every other template.
    let mut checked = templates_in(&example)?;
    checked.extend(templates_in(&member)?);
    checked.extend(stack_set_templates(&scale)?);
    let (shards, parents): (Vec<PathBuf>, Vec<PathBuf>) = templates_in(&scale)?
        .into_iter()
        .partition(|path| path.to_string_lossy().ends_with(".nested.template.json"));
    checked.extend(parents);
    checked.extend(
        shards
            .into_iter()
            .max_by_key(|path| fs::metadata(path).map_or(0, |m| m.len())),
    );
    checkov(&checked)?;
    Ok(scale)
}

/// Lints every policy document of the synths with parliament: infra/scripts/policy-documents.ts writes each distinct
/// document (identity, trust, key, topic, queue and secret policies, nested stacks and StackSet templates included)
/// to a file, with example values for the intrinsics, and infra/scripts/parliament_check.py reports every finding
/// that infra/parliament.yaml does not justify.
fn lint_policies(outs: &[&Path]) -> Result<()> {
    for out in outs {
        let name = out
            .file_name()
            .map_or_else(|| "cdk.out".into(), |n| n.to_string_lossy().into_owned());
        let dir = root().join("target/infra-ci/policies").join(name);
        let output = Command::new("node")
            .current_dir(infra_dir())
            .args(["--import", "tsx", "scripts/policy-documents.ts"])
            .arg(out)
            .arg(&dir)
            .output()
            .context("running node infra/scripts/policy-documents.ts (Node.js 20 is needed)")?;
        if !output.status.success() {
            bail!(
                "infra/scripts/policy-documents.ts failed: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            );
        }
        eprintln!("$ parliament on the policy documents of {}", out.display());
        run(Command::new(isolated_tool("parliament", "python"))
            .current_dir(infra_dir())
            .arg("scripts/parliament_check.py")
            .arg(&dir)
            .arg("parliament.yaml"))
        .with_context(|| {
            format!(
                "parliament found problems in the policies of {} (listed above): fix them, or justify them in \
                 infra/parliament.yaml",
                out.display()
            )
        })?;
    }
    Ok(())
}

/// Runs checkov's CloudFormation checks on the templates. A check that does not apply to a resource is skipped in the
/// resource's template metadata (`Metadata.checkov.skip`, with a comment that says why); `--skip-download` keeps
/// checkov offline.
fn checkov(templates: &[PathBuf]) -> Result<()> {
    eprintln!("$ checkov on {} templates", templates.len());
    let mut command = Command::new(isolated_tool("checkov", "checkov"));
    command
        .current_dir(infra_dir())
        .env("BC_SKIP_MAPPING", "TRUE")
        .args([
            "--quiet",
            "--compact",
            "--skip-download",
            "--framework",
            "cloudformation",
        ]);
    for template in templates {
        command.arg("--file").arg(template);
    }
    run(&mut command).context(
        "checkov found problems in the synthesized templates (listed above): fix them, or skip the check in the \
         resource's metadata (Metadata.checkov.skip) with a comment that says why it does not apply",
    )
}

/// Writes the TemplateBody of each StackSet of the synth in `out` to a file of its own
/// (infra/scripts/stack-set-templates.ts), so that cfn-lint checks the member template as well.
fn stack_set_templates(out: &Path) -> Result<Vec<PathBuf>> {
    let output = Command::new("node")
        .current_dir(infra_dir())
        .args(["--import", "tsx", "scripts/stack-set-templates.ts"])
        .arg(out)
        .output()
        .context("running node infra/scripts/stack-set-templates.ts (Node.js 20 is needed)")?;
    if !output.status.success() {
        bail!(
            "infra/scripts/stack-set-templates.ts failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    let written: Vec<PathBuf> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .map(PathBuf::from)
        .collect();
    if written.is_empty() {
        bail!(
            "the synth in {} has no StackSet: the organization's member template is missing",
            out.display()
        );
    }
    Ok(written)
}

/// The CloudFormation templates that a synth wrote, the nested stacks' included.
fn templates_in(out: &Path) -> Result<Vec<PathBuf>> {
    let mut templates: Vec<PathBuf> = fs::read_dir(out)?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.to_string_lossy().ends_with(".template.json"))
        .collect();
    if templates.is_empty() {
        bail!("the synth wrote no template into {}", out.display());
    }
    templates.sort();
    Ok(templates)
}

/// Runs cfn-lint on the templates, split over one process per core (cfn-lint uses one).
fn lint(venv: &Venv, templates: &[PathBuf]) -> Result<()> {
    let processes = std::thread::available_parallelism().map_or(2, |n| n.get());
    let chunk = templates.len().div_ceil(processes).max(1);
    eprintln!(
        "$ cfn-lint on {} templates in {} processes",
        templates.len(),
        templates.len().div_ceil(chunk)
    );
    let children = templates
        .chunks(chunk)
        .map(|part| {
            Command::new(venv.bin.join("cfn-lint"))
                .current_dir(infra_dir())
                .args(part)
                .spawn()
                .context("could not start cfn-lint")
        })
        .collect::<Result<Vec<_>>>()?;
    let mut failed = false;
    for mut child in children {
        failed |= !child.wait()?.success();
    }
    if failed {
        bail!("cfn-lint found problems in the synthesized templates (listed above)");
    }
    Ok(())
}

/// A zip that stands in for the artifact in synths (any zip will do; the deploy uses the real one).
fn placeholder_artifact() -> Result<PathBuf> {
    let artifact = root().join("target/infra-ci/bootstrap.zip");
    fs::create_dir_all(artifact.parent().expect("has a parent"))?;
    if !artifact.exists() {
        let script = "import sys, zipfile\n\
                      with zipfile.ZipFile(sys.argv[1], 'w') as z:\n    \
                      z.writestr('bootstrap', '#!/bin/sh\\n')\n";
        run(Command::new(python()).arg("-c").arg(script).arg(&artifact))?;
    }
    Ok(artifact)
}

/// Synthesizes the app offline with a configuration file into `out`, emptied first so that no template of
/// an earlier synth is left behind.
fn synth_into(config: &str, out: &Path) -> Result<()> {
    let artifact = placeholder_artifact()?;
    synth_app(
        None,
        out,
        &[
            format!("config={config}"),
            format!("artifactPath={}", artifact.display()),
        ],
    )
}

/// Runs `cdk synth` offline for an app entry (`None`: cdk.json's) with context values into `out`, emptied first.
fn synth_app(app: Option<&str>, out: &Path, context: &[String]) -> Result<()> {
    if out.exists() {
        fs::remove_dir_all(out).with_context(|| format!("removing {}", out.display()))?;
    }
    let mut command = npm();
    command.args(["exec", "--", "cdk", "synth", "--quiet", "--no-notices"]);
    if let Some(app) = app {
        command.args(["--app", app]);
    }
    command.arg("--output").arg(out);
    for value in context {
        command.arg("-c").arg(value);
    }
    run(&mut command)
}

/// The central role ARN with which ci synthesizes the member app (any role ARN will do offline).
const PLACEHOLDER_CENTRAL_ROLE: &str =
    "arn:aws:iam::123456789012:role/IamKeyRotator-RotatorFunctionRole-EXAMPLE";

/// Synthesizes the member-account app (bin/member.ts) with the example configuration, offline.
fn synth_member() -> Result<PathBuf> {
    let out = root().join("target/infra-ci/cdk.out.member");
    synth_app(
        Some("npx tsx bin/member.ts"),
        &out,
        &[
            "config=rotator.config.example.json".into(),
            format!("centralRoleArn={PLACEHOLDER_CENTRAL_ROLE}"),
        ],
    )?;
    Ok(out)
}

/// Synthesizes the app with the example configuration and a placeholder artifact, offline.
fn synth_example() -> Result<PathBuf> {
    let out = root().join("target/infra-ci/cdk.out");
    synth_into("rotator.config.example.json", &out)?;
    Ok(out)
}

/// Synthesizes the app with a generated configuration of SCALE_USERS users, offline.
fn synth_scale() -> Result<PathBuf> {
    let config = root().join("target/infra-ci/scale.config.json");
    fs::create_dir_all(config.parent().expect("has a parent"))?;
    run(Command::new("node")
        .current_dir(infra_dir())
        .args(["--import", "tsx", "scripts/scale-config.ts", SCALE_USERS])
        .arg(&config))?;
    let out = root().join("target/infra-ci/cdk.out.scale");
    synth_into(&config.to_string_lossy(), &out)?;
    Ok(out)
}

/// `cargo xtask synth`: the app with the user's infra/rotator.config.json.
pub fn synth(args: &[String]) -> Result<()> {
    infra_modules()?;
    require_config()?;
    run(npm().args(["exec", "--", "cdk", "synth"]).args(args))
}

fn require_config() -> Result<()> {
    if !infra_dir().join("rotator.config.json").exists() {
        bail!(
            "infra/rotator.config.json is missing: copy infra/rotator.config.example.json to \
             infra/rotator.config.json and fill in your users and addresses (see docs/deploy.md, Deploy to AWS)"
        );
    }
    Ok(())
}

#[path = "stack_instances.rs"]
mod stack_instances;

/// `cargo xtask deploy`: builds the artifact, deploys the stack(s), then checks that every stack instance of the member
/// role's StackSet succeeded (see stack_instances.rs), naming the accounts that failed.
pub fn deploy(args: &[String]) -> Result<()> {
    require_config()?;
    if std::env::var_os("AWS_ACCESS_KEY_ID").is_none()
        && std::env::var_os("AWS_PROFILE").is_none()
        && !Command::new("aws")
            .args(["sts", "get-caller-identity"])
            .output()
            .is_ok_and(|out| out.status.success())
    {
        bail!(
            "no AWS credentials found: set AWS_PROFILE (or AWS_ACCESS_KEY_ID and \
             AWS_SECRET_ACCESS_KEY) for the account to deploy to, then run `cargo xtask deploy` again"
        );
    }
    let arch = read_config_arch()?;
    build(arch)?;
    infra_modules()?;
    let outputs = root().join("target/cdk-outputs.json");
    let _ = fs::remove_file(&outputs);
    run(npm()
        .args(["exec", "--", "cdk", "deploy", "--outputs-file"])
        .arg(&outputs)
        .args(args))?;
    stack_instances::check(&outputs)
}

/// The architecture that infra/rotator.config.json asks for (arm64 unless it says x86_64).
fn read_config_arch() -> Result<Arch> {
    let config = fs::read_to_string(infra_dir().join("rotator.config.json"))?;
    Ok(if config.contains("\"x86_64\"") {
        Arch::X86_64
    } else {
        Arch::Arm64
    })
}

/// Builds the host binaries of the function and the CLI, and the harness that drives them.
fn harness_binaries(release: bool) -> Result<()> {
    let mut command = cargo();
    command.args([
        "build",
        "--package",
        "rotator-lambda",
        "--package",
        "rotator-cli",
        "--package",
        "rotator-harness",
    ]);
    if release {
        command.arg("--release");
    }
    run(&mut command)
}

fn run_harness(binary: &str, release: bool, args: &[String]) -> Result<()> {
    let venv = python_tools(ToolSet::Demo)?;
    harness_binaries(release)?;
    let profile = if release { "release" } else { "debug" };
    let dir = root().join("target").join(profile);
    let mut command = Command::new(dir.join(binary));
    command
        .current_dir(root())
        .env("PATH", path_with(&venv.bin))
        .env("ROTATOR_FUNCTION_BINARY", dir.join("rotator-lambda"))
        .env("ROTATOR_CLI_BINARY", dir.join("rotator"))
        .args(args);
    run(&mut command)
}

/// `cargo xtask demo [--keep]`: full rotations against moto, through the real function; with
/// `--keep`, moto stays up afterwards for `rotator` to be tried on the demo's fleet.
pub fn demo(args: &[String]) -> Result<()> {
    if let Some(unknown) = args.iter().find(|arg| arg.as_str() != "--keep") {
        bail!("unexpected argument {unknown:?}: usage: cargo xtask demo [--keep]");
    }
    run_harness("rotator-demo", false, args)
}

/// `cargo xtask bench`: the measurements of docs/performance.md's table.
pub fn bench(args: &[String]) -> Result<()> {
    run_harness("rotator-bench", true, args)?;
    let zip = build(Arch::Arm64)?;
    println!(
        "zip size (arm64): {:.2} MB",
        fs::metadata(zip)?.len() as f64 / 1_000_000.0
    );
    bench_synth()
}

/// Times `cdk synth` of the generated 5,000-user configuration (cdk-nag included) and reports the sizes
/// of what it wrote. Measured, never asserted.
fn bench_synth() -> Result<()> {
    infra_modules()?;
    let started = std::time::Instant::now();
    let out = synth_scale()?;
    let elapsed = started.elapsed();
    let templates = templates_in(&out)?;
    let sizes = templates
        .iter()
        .map(|path| Ok(fs::metadata(path)?.len()))
        .collect::<Result<Vec<u64>>>()?;
    println!(
        "infra synth ({SCALE_USERS} users, cdk-nag on): {:.1} s wall, {} templates ({} nested), largest {:.0} KB",
        elapsed.as_secs_f64(),
        templates.len(),
        templates.len() - 1,
        sizes.iter().max().copied().unwrap_or(0) as f64 / 1000.0
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_installs_only_what_it_runs() {
        let requirements = fs::read_to_string(root().join("xtask/requirements.txt")).unwrap();
        let packages: Vec<&str> = requirements
            .lines()
            .filter(|line| !line.trim().is_empty() && !line.trim_start().starts_with('#'))
            .collect();
        let demo: Vec<&str> = packages
            .iter()
            .copied()
            .filter(|line| ToolSet::Demo.wants(line))
            .map(package_of)
            .collect();
        assert_eq!(demo, ["moto", "cargo-lambda", "ziglang", "mitmproxy"]);
        assert!(packages.iter().all(|line| ToolSet::Ci.wants(line)));
        for ci_only in ["cfn-lint", "checkov", "parliament"] {
            assert!(
                packages.iter().any(|line| package_of(line) == ci_only),
                "{ci_only}"
            );
            assert!(!ToolSet::Demo.wants(ci_only), "{ci_only}");
        }
        assert_eq!(package_of("moto[server]==5.2.5"), "moto");
    }
}
