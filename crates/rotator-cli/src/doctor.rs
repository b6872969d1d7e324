//! `rotator doctor`: checks a live deployment before its first rotation and prints one line per
//! finding with its fix, or the JSON document; changes nothing.

use anyhow::Result;
use rotator_core::Ports;
use rotator_core::doctor::{self, DoctorOptions, Finding, Report, Severity};
use rotator_core::ports::DeploymentReader;
use serde::Serialize;

use crate::cli::DoctorArgs;
use crate::render::Spinner;

/// The JSON document (`--json`); docs/operating.md documents every field.
#[derive(Debug, Serialize)]
struct Document<'a> {
    prefix: &'a str,
    user_path: &'a str,
    generated_at: String,
    secrets: usize,
    accounts: &'a [String],
    function: Option<Function<'a>>,
    needs_attention: bool,
    counts: Counts,
    findings: Vec<Row<'a>>,
}

#[derive(Debug, Serialize)]
struct Function<'a> {
    arn: &'a str,
    exists: bool,
    name: Option<&'a str>,
    timeout_seconds: Option<u64>,
    old_key_policy: Option<&'a str>,
}

#[derive(Debug, Serialize)]
struct Counts {
    error: usize,
    warning: usize,
}

#[derive(Debug, Serialize)]
struct Row<'a> {
    severity: &'static str,
    check: &'static str,
    subject: &'a str,
    account: Option<&'a str>,
    secret: Option<&'a str>,
    user: Option<&'a str>,
    problem: &'a str,
    fix: &'a str,
}

/// Runs the command; returns whether there is any finding.
pub async fn run(
    ports: &Ports,
    deployment: &dyn DeploymentReader,
    args: &DoctorArgs,
) -> Result<bool> {
    let prefix = &args.fleet.prefix;
    let options = DoctorOptions {
        prefix: prefix.clone(),
        user_path: args
            .user_path
            .clone()
            .unwrap_or_else(|| DoctorOptions::default_user_path(prefix)),
        member_role: args.member.role(),
    };
    let spinner = Spinner::new("listing the secrets");
    let report = doctor::doctor(ports, deployment, &options, &|progress| {
        spinner.say("checking the secrets and their users");
        spinner.progress(progress);
    })
    .await?;
    spinner.finish();
    let attention = !report.findings.is_empty();
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&document(&report, ports.clock.now()))?
        );
    } else {
        print_human(&report);
    }
    Ok(attention)
}

fn document(report: &Report, now: u64) -> Document<'_> {
    Document {
        prefix: &report.prefix,
        user_path: &report.user_path,
        generated_at: rotator_core::notice::rfc3339(now),
        secrets: report.secrets,
        accounts: &report.accounts,
        function: report.function.as_ref().map(|function| Function {
            arn: &function.arn,
            exists: function.config.is_some(),
            name: function.config.as_ref().map(|c| c.name.as_str()),
            timeout_seconds: function.config.as_ref().map(|c| c.timeout_secs),
            old_key_policy: function.old_key_policy,
        }),
        needs_attention: !report.findings.is_empty(),
        counts: Counts {
            error: report.count(Severity::Error),
            warning: report.count(Severity::Warning),
        },
        findings: report.findings.iter().map(row).collect(),
    }
}

fn row(finding: &Finding) -> Row<'_> {
    Row {
        severity: finding.severity.as_str(),
        check: finding.check.as_str(),
        subject: &finding.subject,
        account: finding.account.as_deref(),
        secret: finding.secret.as_deref(),
        user: finding.user.as_deref(),
        problem: &finding.problem,
        fix: &finding.fix,
    }
}

/// One line per finding (severity, check, subject: problem; fix), then a summary line.
fn print_human(report: &Report) {
    let check_width = report
        .findings
        .iter()
        .map(|f| f.check.as_str().len())
        .max()
        .unwrap_or(0);
    for finding in &report.findings {
        println!(
            "{:<7}  {:<check_width$}  {}: {}; fix: {}",
            finding.severity.as_str(),
            finding.check.as_str(),
            finding.subject,
            finding.problem,
            finding.fix
        );
    }
    if !report.findings.is_empty() {
        println!();
    }
    println!("{}", summary(report));
}

/// The summary line: what was checked, and what was found.
fn summary(report: &Report) -> String {
    let mut checked = format!(
        "{} secret{} under {}",
        report.secrets,
        if report.secrets == 1 { "" } else { "s" },
        report.prefix
    );
    if !report.accounts.is_empty() {
        checked.push_str(&format!(
            " (users in {} member account{})",
            report.accounts.len(),
            if report.accounts.len() == 1 { "" } else { "s" }
        ));
    }
    if let Some(function) = &report.function {
        let name = function
            .config
            .as_ref()
            .map_or(function.arn.as_str(), |c| c.name.as_str());
        checked.push_str(&format!(", function {name}"));
    }
    let (errors, warnings) = (
        report.count(Severity::Error),
        report.count(Severity::Warning),
    );
    if errors + warnings == 0 {
        return format!("{checked}: nothing wrong, the deployment is ready for its first rotation");
    }
    let plural = |n: usize, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
    format!(
        "{checked}: {}, {}",
        plural(errors, "error"),
        plural(warnings, "warning")
    )
}
