//! The grant check of `cargo xtask ci`: every AWS operation that the function binary called in the end-to-end tests is granted to its role, and every action granted is one it calls.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::SystemTime;

use anyhow::{Context, Result, bail};

use crate::root;

/// Where the end-to-end tests record the operations that the binary called (under the workspace root),
/// one `<service>:<Operation>` a line, in any number of `*.txt` files.
pub const OPERATIONS_DIR: &str = "target/rotator-operations";

/// Actions that the role is granted on purpose although the binary never calls them itself. Each one is
/// used with the role's credentials by an AWS service on the function's behalf, so no end-to-end test can
/// see it; keep this list to such cases.
const GRANTED_NOT_CALLED: &[(&str, &str)] = &[
    (
        "kms:GenerateDataKey",
        "SNS calls it with the function's credentials to publish to the encrypted alert topic (kms:ViaService)",
    ),
    (
        "kms:Decrypt",
        "SNS calls it with the function's credentials to publish to the encrypted alert topic (kms:ViaService)",
    ),
    (
        "logs:CreateLogStream",
        "the Lambda service calls it with the role to create the function's log stream",
    ),
    (
        "logs:PutLogEvents",
        "the Lambda service calls it with the role to write the function's log lines",
    ),
];

/// Operations that need no grant: testSecret signs GetCallerIdentity with the pending key, not the role,
/// and STS authorizes that call for every identity anyway.
const NEEDS_NO_GRANT: &[&str] = &["sts:GetCallerIdentity"];

/// The SDK service names that the binary may record, and the IAM service prefix of each.
const SERVICES: &[(&str, &str)] = &[
    ("iam", "iam"),
    ("secretsmanager", "secretsmanager"),
    ("sts", "sts"),
    ("sns", "sns"),
    ("sesv2", "ses"),
];

/// The IAM action of a recorded `<service>:<Operation>` line, or `None` when the operation needs no grant.
pub fn action_of(operation: &str) -> Result<Option<String>> {
    let Some((service, name)) = operation.split_once(':') else {
        bail!("{operation:?} is not <service>:<Operation>");
    };
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric()) {
        bail!("{operation:?} does not name an operation after the service");
    }
    let Some((_, prefix)) = SERVICES.iter().find(|(sdk, _)| *sdk == service) else {
        bail!(
            "{operation:?} names the service {service:?}, which is none of {}",
            SERVICES
                .iter()
                .map(|(sdk, _)| *sdk)
                .collect::<Vec<_>>()
                .join(", ")
        );
    };
    if NEEDS_NO_GRANT.contains(&operation) {
        return Ok(None);
    }
    Ok(Some(format!("{prefix}:{name}")))
}

/// The problems found when the actions that the binary needs (by operation) are compared with the
/// actions granted. IAM action names ignore case, so the comparison does too.
pub fn compare(called: &BTreeSet<String>, granted: &BTreeSet<String>) -> Result<Vec<String>> {
    let key = |action: &str| action.to_ascii_lowercase();
    let mut needed: BTreeMap<String, (String, String)> = BTreeMap::new();
    for operation in called {
        if let Some(action) = action_of(operation)? {
            needed.insert(key(&action), (action, operation.clone()));
        }
    }
    let granted: BTreeMap<String, &String> = granted.iter().map(|a| (key(a), a)).collect();
    let allowed: BTreeMap<String, &str> = GRANTED_NOT_CALLED
        .iter()
        .map(|(action, why)| (key(action), *why))
        .collect();
    let mut problems = Vec::new();
    for (k, (action, operation)) in &needed {
        if !granted.contains_key(k) {
            problems.push(format!(
                "the binary calls {operation}, but the role is not granted {action}"
            ));
        }
        if allowed.contains_key(k) {
            problems.push(format!(
                "the binary calls {operation} now: remove {action} from GRANTED_NOT_CALLED in xtask/src/grant.rs"
            ));
        }
    }
    for (k, action) in &granted {
        if action.contains('*') || action.contains('?') {
            problems.push(format!(
                "the role is granted the wildcard action {action}: grant the exact actions the binary calls"
            ));
        } else if !needed.contains_key(k) && !allowed.contains_key(k) {
            problems.push(format!(
                "the role is granted {action}, which the binary never called in the end-to-end tests: \
                 remove the grant (or, if an AWS service uses it on the function's behalf, add it to \
                 GRANTED_NOT_CALLED in xtask/src/grant.rs with the reason)"
            ));
        }
    }
    for (k, why) in &allowed {
        if !granted.contains_key(k) {
            problems.push(format!(
                "GRANTED_NOT_CALLED lists {k} ({why}), which the role is not granted: remove it from the list"
            ));
        }
    }
    Ok(problems)
}

/// The operations recorded in the files of `dir` that were written at or after `since`.
pub fn recorded_operations(dir: &Path, since: SystemTime) -> Result<BTreeSet<String>> {
    let missing = || {
        format!(
            "no AWS operations were recorded in {}: the end-to-end tests (`cargo test`) write one \
             `<service>:<Operation>` line per call the function binary makes into *.txt files there, \
             and this check compares them with the role's grant",
            dir.display()
        )
    };
    if !dir.is_dir() {
        bail!("{}", missing());
    }
    let mut operations = BTreeSet::new();
    let mut files = 0;
    for entry in fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry?.path();
        if path.extension().is_none_or(|ext| ext != "txt") {
            continue;
        }
        // A file from an earlier run says nothing about this build of the binary.
        if fs::metadata(&path)?.modified()? < since {
            continue;
        }
        files += 1;
        let text =
            fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
        for line in text.lines().map(str::trim).filter(|line| !line.is_empty()) {
            action_of(line).with_context(|| format!("in {}", path.display()))?;
            operations.insert(line.to_string());
        }
    }
    if files == 0 || operations.is_empty() {
        bail!("{} (no file of this run holds any)", missing());
    }
    Ok(operations)
}

/// The actions granted to the function's role in the app synthesized into `cdk_out`, nested stacks included.
pub fn granted_actions(cdk_out: &Path) -> Result<BTreeSet<String>> {
    let output = Command::new("node")
        .current_dir(root().join("infra"))
        .args(["--import", "tsx", "scripts/granted-actions.ts"])
        .arg(cdk_out)
        .output()
        .context("running node infra/scripts/granted-actions.ts (Node.js 20 is needed)")?;
    if !output.status.success() {
        bail!(
            "infra/scripts/granted-actions.ts failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    let actions: BTreeSet<String> = String::from_utf8(output.stdout)
        .context("granted-actions.ts printed no UTF-8")?
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .map(String::from)
        .collect();
    if actions.is_empty() {
        bail!(
            "the synthesized app in {} grants its function nothing",
            cdk_out.display()
        );
    }
    Ok(actions)
}

/// The check of `cargo xtask ci`: the operations recorded since `since` against the grant synthesized into `cdk_out`.
pub fn check(cdk_out: &Path, since: SystemTime) -> Result<()> {
    let called = recorded_operations(&root().join(OPERATIONS_DIR), since)?;
    let granted = granted_actions(cdk_out)?;
    let problems = compare(&called, &granted)?;
    if !problems.is_empty() {
        bail!(
            "the role's grant and the binary's calls differ:\n  {}",
            problems.join("\n  ")
        );
    }
    println!(
        "grant check: the binary called {} operations, the role is granted {} actions, and they match",
        called.len(),
        granted.len()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(items: &[&str]) -> BTreeSet<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    /// What the role of the example configuration is granted.
    const GRANTED: &[&str] = &[
        "iam:CreateAccessKey",
        "iam:DeleteAccessKey",
        "iam:ListAccessKeys",
        "iam:ListUserTags",
        "iam:TagUser",
        "iam:UntagUser",
        "iam:UpdateAccessKey",
        "kms:Decrypt",
        "kms:GenerateDataKey",
        "logs:CreateLogStream",
        "logs:PutLogEvents",
        "secretsmanager:DescribeSecret",
        "secretsmanager:GetSecretValue",
        "secretsmanager:PutSecretValue",
        "secretsmanager:UpdateSecretVersionStage",
        "ses:SendEmail",
        "sns:Publish",
    ];

    /// What a full run of the end-to-end tests calls.
    const CALLED: &[&str] = &[
        "iam:CreateAccessKey",
        "iam:DeleteAccessKey",
        "iam:ListAccessKeys",
        "iam:ListUserTags",
        "iam:TagUser",
        "iam:UntagUser",
        "iam:UpdateAccessKey",
        "secretsmanager:DescribeSecret",
        "secretsmanager:GetSecretValue",
        "secretsmanager:PutSecretValue",
        "secretsmanager:UpdateSecretVersionStage",
        "sesv2:SendEmail",
        "sns:Publish",
        "sts:GetCallerIdentity",
    ];

    #[test]
    fn matching_calls_and_grant_pass() {
        assert_eq!(
            compare(&set(CALLED), &set(GRANTED)).unwrap(),
            Vec::<String>::new()
        );
    }

    #[test]
    fn maps_sesv2_to_ses_and_skips_get_caller_identity() {
        assert_eq!(
            action_of("sesv2:SendEmail").unwrap().as_deref(),
            Some("ses:SendEmail")
        );
        assert_eq!(action_of("sts:GetCallerIdentity").unwrap(), None);
        assert_eq!(
            action_of("sts:AssumeRole").unwrap().as_deref(),
            Some("sts:AssumeRole")
        );
        assert_eq!(
            action_of("iam:TagUser").unwrap().as_deref(),
            Some("iam:TagUser")
        );
    }

    #[test]
    fn a_call_without_a_grant_is_named() {
        let mut called = set(CALLED);
        called.insert("iam:GetAccessKeyLastUsed".into());
        called.insert("sts:AssumeRole".into());
        let problems = compare(&called, &set(GRANTED)).unwrap();
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].contains(
            "calls iam:GetAccessKeyLastUsed, but the role is not granted iam:GetAccessKeyLastUsed"
        ));
        assert!(
            problems[1]
                .contains("calls sts:AssumeRole, but the role is not granted sts:AssumeRole")
        );
    }

    #[test]
    fn an_unused_grant_is_named() {
        let called: BTreeSet<String> = set(CALLED)
            .into_iter()
            .filter(|op| op != "iam:UpdateAccessKey" && op != "sesv2:SendEmail")
            .collect();
        let problems = compare(&called, &set(GRANTED)).unwrap();
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].contains("granted iam:UpdateAccessKey, which the binary never called"));
        assert!(problems[1].contains("granted ses:SendEmail, which the binary never called"));
    }

    #[test]
    fn a_wildcard_grant_is_refused() {
        let mut granted = set(GRANTED);
        granted.insert("iam:*".into());
        let problems = compare(&set(CALLED), &granted).unwrap();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].contains("wildcard action iam:*"));
    }

    #[test]
    fn action_names_ignore_case() {
        let called = set(&["iam:createaccesskey", "sesv2:sendemail"]);
        let granted = set(&["iam:CreateAccessKey", "ses:SendEmail"]);
        let problems = compare(&called, &granted).unwrap();
        // Only the allow-listed actions, which this grant lacks, are reported.
        assert!(
            problems
                .iter()
                .all(|p| p.starts_with("GRANTED_NOT_CALLED lists")),
            "{problems:?}"
        );
    }

    #[test]
    fn the_allow_list_stays_minimal() {
        // An allow-listed action that the role is not granted, or that the binary calls, is reported.
        let granted: BTreeSet<String> = set(GRANTED)
            .into_iter()
            .filter(|a| a != "logs:PutLogEvents")
            .collect();
        let problems = compare(&set(CALLED), &granted).unwrap();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].contains("lists logs:putlogevents"));
        // Every entry is an action that a service other than the binary calls with the role.
        for (action, why) in GRANTED_NOT_CALLED {
            assert!(
                action.starts_with("kms:") || action.starts_with("logs:"),
                "{action}"
            );
            assert!(why.len() > 40, "{action} needs its reason");
        }
    }

    #[test]
    fn malformed_lines_are_errors() {
        for line in [
            "CreateAccessKey",
            "iam:",
            "iam:Create Key",
            "s3:GetObject",
            ":Publish",
        ] {
            assert!(action_of(line).is_err(), "{line}");
        }
        let err = action_of("s3:GetObject").unwrap_err().to_string();
        assert!(
            err.contains("iam, secretsmanager, sts, sns, sesv2"),
            "{err}"
        );
    }

    #[test]
    fn recorded_operations_reads_this_runs_files_and_refuses_none() {
        let dir = std::env::temp_dir().join(format!("xtask-grant-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let since = SystemTime::now() - std::time::Duration::from_secs(1);
        let err = recorded_operations(&dir, since).unwrap_err().to_string();
        assert!(err.contains("no AWS operations were recorded"), "{err}");
        fs::create_dir_all(&dir).unwrap();
        assert!(
            recorded_operations(&dir, since).is_err(),
            "an empty directory"
        );
        fs::write(
            dir.join("a.txt"),
            "iam:CreateAccessKey\n\nsts:GetCallerIdentity\n",
        )
        .unwrap();
        fs::write(dir.join("b.txt"), "iam:CreateAccessKey\nsns:Publish\n").unwrap();
        fs::write(dir.join("notes.md"), "not read").unwrap();
        assert_eq!(
            recorded_operations(&dir, since).unwrap(),
            set(&[
                "iam:CreateAccessKey",
                "sns:Publish",
                "sts:GetCallerIdentity"
            ])
        );
        // Files older than the run are ignored.
        let later = SystemTime::now() + std::time::Duration::from_secs(3600);
        assert!(recorded_operations(&dir, later).is_err());
        fs::write(dir.join("c.txt"), "iam:Create Key\n").unwrap();
        assert!(
            recorded_operations(&dir, since).is_err(),
            "a malformed line"
        );
        fs::remove_dir_all(&dir).unwrap();
    }
}
