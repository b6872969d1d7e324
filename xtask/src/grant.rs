//! The grant check of `cargo xtask ci`: every AWS operation that the function binary called in the end-to-end tests is granted to its role (and, for IAM, to the member role that it assumes in other accounts), and every action granted is one it calls.

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
        "SNS calls it with the function's credentials to publish to the encrypted alert topic, and Secrets Manager \
         to encrypt a new value under the secrets' key (kms:ViaService)",
    ),
    (
        "kms:Decrypt",
        "SNS calls it with the function's credentials to publish to the encrypted alert topic, and Secrets Manager \
         to read a value under the secrets' key (kms:ViaService)",
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
    ("securityhub", "securityhub"),
];

/// The IAM service prefix whose calls the function makes with a member role's credentials when the user lives in
/// another account (contract §3): every IAM call for that user, and nothing else.
const MEMBER_SERVICE: &str = "iam";

/// The action with which the function assumes a member role.
const ASSUME_MEMBER_ROLE: &str = "sts:AssumeRole";

/// The actions granted to the roles that the function's calls use, as the synthesized app defines them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Grants {
    /// The function's own role.
    pub function: BTreeSet<String>,
    /// The member role that the function assumes in other accounts, when the app defines one (a StackSet of
    /// the central stack); `None` when it does not.
    pub member: Option<BTreeSet<String>>,
}

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
///
/// The recorded operations do not say which credentials made them. The function's role must grant every one,
/// since the users of its own account are reached with it. The member role must grant every IAM operation,
/// since a user of another account is reached with it only (the end-to-end tests rotate both kinds), and
/// nothing else. A role that grants more than the binary called fails the check, as does an `sts:AssumeRole`
/// without a member role in the app to hold the IAM grants of other accounts.
pub fn compare(called: &BTreeSet<String>, grants: &Grants) -> Result<Vec<String>> {
    let key = |action: &str| action.to_ascii_lowercase();
    let mut needed: BTreeMap<String, (String, String)> = BTreeMap::new();
    for operation in called {
        if let Some(action) = action_of(operation)? {
            needed.insert(key(&action), (action, operation.clone()));
        }
    }
    let granted: BTreeMap<String, &String> = grants.function.iter().map(|a| (key(a), a)).collect();
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
        if is_wildcard(action) {
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
    problems.extend(compare_member(&needed, grants.member.as_ref()));
    Ok(problems)
}

/// Whether an action names more than one action.
fn is_wildcard(action: &str) -> bool {
    action.contains('*') || action.contains('?')
}

/// The problems of the member role: it must grant exactly the IAM actions that the binary needs, and exist
/// whenever the binary assumes one. `needed` is keyed by the lower-cased action.
fn compare_member(
    needed: &BTreeMap<String, (String, String)>,
    member: Option<&BTreeSet<String>>,
) -> Vec<String> {
    let assumes = needed.contains_key(&ASSUME_MEMBER_ROLE.to_ascii_lowercase());
    let Some(member) = member else {
        return if assumes {
            vec![format!(
                "the binary calls {ASSUME_MEMBER_ROLE}, but the synthesized app defines no member role whose IAM \
                 grants could be checked: synthesize a configuration with an organization (its StackSet holds \
                 the member role)"
            )]
        } else {
            Vec::new()
        };
    };
    let mut problems = Vec::new();
    if !assumes {
        problems.push(format!(
            "the app defines a member role, but the binary never called {ASSUME_MEMBER_ROLE} in the end-to-end \
             tests: test a user of a member account, or remove the member role"
        ));
    }
    let granted: BTreeMap<String, &String> =
        member.iter().map(|a| (a.to_ascii_lowercase(), a)).collect();
    let prefix = format!("{MEMBER_SERVICE}:");
    for (k, (action, operation)) in needed {
        if assumes && k.starts_with(&prefix) && !granted.contains_key(k) {
            problems.push(format!(
                "the binary calls {operation}, which it makes with the member role for users of other \
                 accounts, but the member role is not granted {action}"
            ));
        }
    }
    for (k, action) in &granted {
        if is_wildcard(action) {
            problems.push(format!(
                "the member role is granted the wildcard action {action}: grant the exact actions the binary calls"
            ));
        } else if !k.starts_with(&prefix) {
            problems.push(format!(
                "the member role is granted {action}, but the function makes only {MEMBER_SERVICE} calls with \
                 it: remove the grant"
            ));
        } else if !needed.contains_key(k) {
            problems.push(format!(
                "the member role is granted {action}, which the binary never called in the end-to-end tests: \
                 remove the grant"
            ));
        }
    }
    problems
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

/// Reads the output of infra/scripts/granted-actions.ts: `function <action>` and `member <action>` lines, and a
/// bare `member` line for a member role without any grant.
pub fn parse_grants(text: &str) -> Result<Grants> {
    let mut grants = Grants::default();
    for line in text.lines().map(str::trim).filter(|line| !line.is_empty()) {
        let (role, action) = line.split_once(' ').unwrap_or((line, ""));
        let action = action.trim();
        match role {
            "function" if !action.is_empty() => {
                grants.function.insert(action.to_string());
            }
            "member" => {
                let member = grants.member.get_or_insert_with(BTreeSet::new);
                if !action.is_empty() {
                    member.insert(action.to_string());
                }
            }
            _ => bail!(
                "granted-actions.ts printed {line:?}, which is neither `function <action>` nor `member [<action>]`"
            ),
        }
    }
    Ok(grants)
}

/// The actions granted to the function's role and to its member role in the app synthesized into `cdk_out`,
/// nested stacks and StackSets included.
pub fn granted_actions(cdk_out: &Path) -> Result<Grants> {
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
    let grants = parse_grants(
        &String::from_utf8(output.stdout).context("granted-actions.ts printed no UTF-8")?,
    )?;
    if grants.function.is_empty() {
        bail!(
            "the synthesized app in {} grants its function nothing",
            cdk_out.display()
        );
    }
    Ok(grants)
}

/// The check of `cargo xtask ci`: the operations recorded since `since` against the grant synthesized into `cdk_out`.
pub fn check(cdk_out: &Path, since: SystemTime) -> Result<()> {
    let called = recorded_operations(&root().join(OPERATIONS_DIR), since)?;
    let granted = granted_actions(cdk_out)?;
    let problems = compare(&called, &granted)?;
    if !problems.is_empty() {
        bail!(
            "the roles' grants and the binary's calls differ:\n  {}",
            problems.join("\n  ")
        );
    }
    println!(
        "grant check: the binary called {} operations; the function's role is granted {} actions{}, and they match",
        called.len(),
        granted.function.len(),
        granted
            .member
            .as_ref()
            .map_or(String::new(), |member| format!(
                ", the member role {}",
                member.len()
            ))
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(items: &[&str]) -> BTreeSet<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    /// The IAM actions of the function's role and of the member role alike.
    const IAM: &[&str] = &[
        "iam:CreateAccessKey",
        "iam:DeleteAccessKey",
        "iam:GetAccessKeyLastUsed",
        "iam:ListAccessKeys",
        "iam:ListUserTags",
        "iam:TagUser",
        "iam:UntagUser",
        "iam:UpdateAccessKey",
    ];

    /// What the function's role of a configuration with an organization is granted, IAM aside.
    const GRANTED: &[&str] = &[
        "kms:Decrypt",
        "kms:GenerateDataKey",
        "logs:CreateLogStream",
        "logs:PutLogEvents",
        "secretsmanager:DescribeSecret",
        "secretsmanager:GetSecretValue",
        "secretsmanager:ListSecretVersionIds",
        "secretsmanager:ListSecrets",
        "secretsmanager:PutSecretValue",
        "secretsmanager:UpdateSecretVersionStage",
        "ses:SendEmail",
        "sns:Publish",
        "sts:AssumeRole",
    ];

    /// What a full run of the end-to-end tests calls, IAM aside.
    const CALLED: &[&str] = &[
        "secretsmanager:DescribeSecret",
        "secretsmanager:GetSecretValue",
        "secretsmanager:ListSecretVersionIds",
        "secretsmanager:ListSecrets",
        "secretsmanager:PutSecretValue",
        "secretsmanager:UpdateSecretVersionStage",
        "sesv2:SendEmail",
        "sns:Publish",
        "sts:AssumeRole",
        "sts:GetCallerIdentity",
    ];

    fn called() -> BTreeSet<String> {
        set(CALLED).into_iter().chain(set(IAM)).collect()
    }

    fn grants() -> Grants {
        Grants {
            function: set(GRANTED).into_iter().chain(set(IAM)).collect(),
            member: Some(set(IAM)),
        }
    }

    #[test]
    fn matching_calls_and_grants_pass() {
        assert_eq!(compare(&called(), &grants()).unwrap(), Vec::<String>::new());
    }

    #[test]
    fn a_single_account_app_passes_without_a_member_role() {
        let called: BTreeSet<String> = called()
            .into_iter()
            .filter(|op| op != "sts:AssumeRole")
            .collect();
        let mut grants = grants();
        grants.function.remove("sts:AssumeRole");
        grants.member = None;
        assert_eq!(compare(&called, &grants).unwrap(), Vec::<String>::new());
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
        let mut grants = grants();
        grants.function.remove("iam:GetAccessKeyLastUsed");
        grants.function.remove("secretsmanager:ListSecrets");
        let problems = compare(&called(), &grants).unwrap();
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].contains(
            "calls iam:GetAccessKeyLastUsed, but the role is not granted iam:GetAccessKeyLastUsed"
        ));
        assert!(problems[1].contains(
            "calls secretsmanager:ListSecrets, but the role is not granted secretsmanager:ListSecrets"
        ));
    }

    #[test]
    fn an_iam_call_that_the_member_role_lacks_is_named() {
        // The function's role alone does not do: a user of another account is reached with the member role.
        let mut grants = grants();
        grants
            .member
            .as_mut()
            .unwrap()
            .remove("iam:GetAccessKeyLastUsed");
        let problems = compare(&called(), &grants).unwrap();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            problems[0].contains(
                "calls iam:GetAccessKeyLastUsed, which it makes with the member role for users of other \
                 accounts, but the member role is not granted iam:GetAccessKeyLastUsed"
            ),
            "{problems:?}"
        );
    }

    #[test]
    fn assume_role_without_a_member_role_in_the_app_fails() {
        let mut grants = grants();
        grants.member = None;
        let problems = compare(&called(), &grants).unwrap();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            problems[0]
                .contains("calls sts:AssumeRole, but the synthesized app defines no member role")
        );
        // Nor may the function's role lack the grant itself.
        let mut grants = self::grants();
        grants.function.remove("sts:AssumeRole");
        let problems = compare(&called(), &grants).unwrap();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            problems[0]
                .contains("calls sts:AssumeRole, but the role is not granted sts:AssumeRole")
        );
    }

    #[test]
    fn a_member_role_that_is_never_assumed_or_grants_more_is_named() {
        let called: BTreeSet<String> = called()
            .into_iter()
            .filter(|op| op != "sts:AssumeRole" && op != "iam:UntagUser")
            .collect();
        let mut grants = grants();
        grants.function.remove("sts:AssumeRole");
        grants.function.remove("iam:UntagUser");
        let member = grants.member.as_mut().unwrap();
        member.insert("sns:Publish".into());
        member.insert("iam:*".into());
        let problems = compare(&called, &grants).unwrap();
        assert_eq!(problems.len(), 4, "{problems:?}");
        assert!(
            problems[0]
                .contains("defines a member role, but the binary never called sts:AssumeRole")
        );
        assert!(problems[1].contains("member role is granted the wildcard action iam:*"));
        assert!(
            problems[2]
                .contains("member role is granted iam:UntagUser, which the binary never called")
        );
        assert!(
            problems[3].contains(
                "member role is granted sns:Publish, but the function makes only iam calls"
            )
        );
    }

    #[test]
    fn an_unused_grant_is_named() {
        let called: BTreeSet<String> = called()
            .into_iter()
            .filter(|op| op != "secretsmanager:ListSecretVersionIds" && op != "sesv2:SendEmail")
            .collect();
        let problems = compare(&called, &grants()).unwrap();
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].contains(
            "granted secretsmanager:ListSecretVersionIds, which the binary never called"
        ));
        assert!(problems[1].contains("granted ses:SendEmail, which the binary never called"));
    }

    #[test]
    fn a_wildcard_grant_is_refused() {
        let mut grants = grants();
        grants.function.insert("iam:*".into());
        let problems = compare(&called(), &grants).unwrap();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].contains("wildcard action iam:*"));
    }

    #[test]
    fn action_names_ignore_case() {
        let called = set(&["iam:createaccesskey", "sesv2:sendemail", "sts:assumerole"]);
        let grants = Grants {
            function: set(&["iam:CreateAccessKey", "ses:SendEmail", "sts:AssumeRole"]),
            member: Some(set(&["IAM:CreateAccessKey"])),
        };
        let problems = compare(&called, &grants).unwrap();
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
        let mut grants = grants();
        grants.function.remove("logs:PutLogEvents");
        let problems = compare(&called(), &grants).unwrap();
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
    fn parses_the_roles_that_granted_actions_prints() {
        let grants = parse_grants(
            "function iam:CreateAccessKey\nfunction sts:AssumeRole\n\nmember iam:CreateAccessKey\n",
        )
        .unwrap();
        assert_eq!(
            grants,
            Grants {
                function: set(&["iam:CreateAccessKey", "sts:AssumeRole"]),
                member: Some(set(&["iam:CreateAccessKey"])),
            }
        );
        assert_eq!(parse_grants("function sns:Publish\n").unwrap().member, None);
        assert_eq!(
            parse_grants("member\n").unwrap().member,
            Some(BTreeSet::new())
        );
        for bad in [
            "iam:CreateAccessKey",
            "function",
            "scheduler lambda:InvokeFunction",
        ] {
            assert!(parse_grants(bad).is_err(), "{bad}");
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
            err.contains("iam, secretsmanager, sts, sns, sesv2, securityhub"),
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
