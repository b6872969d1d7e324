//! The check that `cargo xtask deploy` runs after each deployment: every stack instance of the member role's StackSet succeeded, since with a failure tolerance of 100 % the StackSet reports success even when every account failed.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, bail};

/// The output of the member-roles stack that names its StackSet (infra/lib/member-roles-stack.ts, `STACK_SET_OUTPUTS`).
pub const STACK_SET_NAME_OUTPUT: &str = "MemberRoleStackSetName";

/// The output that says how to call the StackSet API for it (`SELF` or `DELEGATED_ADMIN`).
pub const STACK_SET_CALL_AS_OUTPUT: &str = "MemberRoleStackSetCallAs";

/// One stack instance, as `aws cloudformation list-stack-instances` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instance {
    pub account: String,
    pub region: String,
    /// `CURRENT`, `OUTDATED` or `INOPERABLE`.
    pub status: String,
    /// `StackInstanceStatus.DetailedStatus`: `PENDING`, `RUNNING`, `SUCCEEDED`, `FAILED`, `CANCELLED`, `INOPERABLE`,
    /// `SKIPPED_SUSPENDED_ACCOUNT` or `FAILED_IMPORT`.
    pub detailed_status: String,
    pub reason: String,
}

/// The `--query` that makes the AWS CLI print one instance a line, its fields separated by tabs (`--output text`).
pub const INSTANCE_QUERY: &str =
    "Summaries[].[Account,Region,Status,StackInstanceStatus.DetailedStatus,StatusReason]";

/// Every value of `key` in the JSON that `cdk deploy --outputs-file` writes (`{"Stack": {"Key": "Value"}}`). The values
/// are plain names, so a search for the key and the string after it does; a key without a string value is skipped.
pub fn output_values(json: &str, key: &str) -> Vec<String> {
    let needle = format!("\"{key}\"");
    let mut values = Vec::new();
    let mut rest = json;
    while let Some(at) = rest.find(&needle) {
        rest = &rest[at + needle.len()..];
        let after = rest.trim_start();
        let Some(after) = after.strip_prefix(':') else {
            continue;
        };
        let Some(value) = after.trim_start().strip_prefix('"') else {
            continue;
        };
        if let Some(end) = value.find('"') {
            values.push(value[..end].to_string());
        }
    }
    values
}

/// The instances of `list-stack-instances --query INSTANCE_QUERY --output text`: five tab-separated fields a line
/// (the CLI prints `None` for a missing one).
pub fn parse_instances(text: &str) -> Result<Vec<Instance>> {
    text.lines()
        .map(str::trim_end)
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            let fields: Vec<&str> = line.split('\t').collect();
            if fields.len() < 4 {
                bail!("list-stack-instances printed {line:?}, not account, region, status, detailed status and reason");
            }
            let field = |i: usize| {
                fields
                    .get(i)
                    .map_or(String::new(), |f| if *f == "None" { String::new() } else { f.to_string() })
            };
            Ok(Instance {
                account: field(0),
                region: field(1),
                status: field(2),
                detailed_status: field(3),
                reason: match fields.get(4..).map(|rest| rest.join("\t")) {
                    Some(reason) if reason != "None" => reason,
                    _ => String::new(),
                },
            })
        })
        .collect()
}

/// Whether an instance failed: its operation failed, was cancelled or cannot run, or it stays outdated with no
/// operation under way (CloudFormation API reference, StackInstanceSummary and StackInstanceComprehensiveStatus).
pub fn has_failed(instance: &Instance) -> bool {
    matches!(
        instance.detailed_status.as_str(),
        "FAILED" | "CANCELLED" | "INOPERABLE" | "FAILED_IMPORT"
    ) || instance.status == "INOPERABLE"
        || (instance.status == "OUTDATED"
            && !matches!(instance.detailed_status.as_str(), "PENDING" | "RUNNING"))
}

/// The problem with a StackSet's instances, naming each failed account and why; `None` when all succeeded.
pub fn failures(stack_set: &str, instances: &[Instance]) -> Option<String> {
    let failed: Vec<String> = instances
        .iter()
        .filter(|i| has_failed(i))
        .map(|i| {
            format!(
                "{} ({}): {} {}{}",
                i.account,
                i.region,
                i.status,
                i.detailed_status,
                if i.reason.is_empty() {
                    String::new()
                } else {
                    format!(": {}", i.reason)
                }
            )
        })
        .collect();
    if failed.is_empty() {
        return None;
    }
    Some(format!(
        "the StackSet {stack_set} failed in {} of its {} accounts (it reports success with a failure tolerance of 100 %):\n  {}",
        failed.len(),
        instances.len(),
        failed.join("\n  ")
    ))
}

/// Checks the stack instances of every member-role StackSet named in the outputs file of `cdk deploy`.
pub fn check(outputs_file: &Path) -> Result<()> {
    let Ok(json) = std::fs::read_to_string(outputs_file) else {
        return Ok(()); // Nothing was deployed (or cdk wrote no outputs): nothing to check.
    };
    let names = output_values(&json, STACK_SET_NAME_OUTPUT);
    let call_as = output_values(&json, STACK_SET_CALL_AS_OUTPUT);
    let mut problems = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let call_as = call_as.get(i).map_or("SELF", String::as_str);
        let output = Command::new("aws")
            .args([
                "cloudformation",
                "list-stack-instances",
                "--stack-set-name",
                name,
            ])
            .args([
                "--call-as",
                call_as,
                "--query",
                INSTANCE_QUERY,
                "--output",
                "text",
            ])
            .output()
            .context("running aws cloudformation list-stack-instances (the AWS CLI is needed)")?;
        if !output.status.success() {
            bail!(
                "aws cloudformation list-stack-instances --stack-set-name {name} failed: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            );
        }
        let instances = parse_instances(&String::from_utf8_lossy(&output.stdout))?;
        match failures(name, &instances) {
            Some(problem) => problems.push(problem),
            None => println!(
                "StackSet {name}: {} stack instances, none failed",
                instances.len()
            ),
        }
    }
    if !problems.is_empty() {
        bail!(
            "{}\nFix each account (an existing role of the same name, an SCP that denies iam:CreateRole, ...), then run \
             `cargo xtask deploy --all` again",
            problems.join("\n")
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_stack_set_outputs_of_cdk() {
        let json = r#"{
  "IamKeyRotator": {"FunctionRoleArn": "arn:aws:iam::1:role/x", "FunctionName": "f"},
  "IamKeyRotatorMemberRoles": {
    "MemberRoleStackSetName": "IamKeyRotator-MemberRole",
    "MemberRoleStackSetCallAs" : "DELEGATED_ADMIN"
  }
}"#;
        assert_eq!(
            output_values(json, STACK_SET_NAME_OUTPUT),
            vec!["IamKeyRotator-MemberRole"]
        );
        assert_eq!(
            output_values(json, STACK_SET_CALL_AS_OUTPUT),
            vec!["DELEGATED_ADMIN"]
        );
        assert!(output_values(r#"{"IamKeyRotator": {}}"#, STACK_SET_NAME_OUTPUT).is_empty());
    }

    #[test]
    fn names_every_failed_account_with_its_reason() {
        let text = "111111111111\tus-east-1\tCURRENT\tSUCCEEDED\tNone\n\
                    222222222222\tus-east-1\tOUTDATED\tFAILED\tResourceLogicalId:MemberRole, ResourceType:AWS::IAM::Role, ResourceStatusReason:IamKeyRotatorMember already exists.\n\
                    333333333333\tus-east-1\tINOPERABLE\tINOPERABLE\tNone\n\
                    444444444444\tus-east-1\tOUTDATED\tRUNNING\tNone\n";
        let instances = parse_instances(text).unwrap();
        assert_eq!(instances.len(), 4);
        assert_eq!(instances[0].reason, "");
        let problem = failures("IamKeyRotator-MemberRole", &instances).unwrap();
        assert!(
            problem.contains("failed in 2 of its 4 accounts"),
            "{problem}"
        );
        assert!(
            problem.contains(
                "222222222222 (us-east-1): OUTDATED FAILED: ResourceLogicalId:MemberRole"
            ),
            "{problem}"
        );
        assert!(
            problem.contains("IamKeyRotatorMember already exists"),
            "{problem}"
        );
        assert!(problem.contains("333333333333"), "{problem}");
        assert!(
            !problem.contains("111111111111") && !problem.contains("444444444444"),
            "{problem}"
        );
    }

    #[test]
    fn every_account_failing_is_a_failure_and_none_failing_is_none() {
        let all_failed = parse_instances(
            "111111111111\tus-east-1\tOUTDATED\tFAILED\tAccount 111111111111 should have 'AWSCloudFormationStackSetExecutionRole' role\n\
             222222222222\tus-east-1\tOUTDATED\tCANCELLED\tCancelled since failure tolerance has exceeded\n",
        )
        .unwrap();
        assert!(
            failures("S", &all_failed)
                .unwrap()
                .contains("failed in 2 of its 2")
        );
        let fine = parse_instances("111111111111\tus-east-1\tCURRENT\tSUCCEEDED\tNone\n").unwrap();
        assert_eq!(failures("S", &fine), None);
        assert_eq!(failures("S", &[]), None);
    }

    #[test]
    fn refuses_a_line_it_cannot_read() {
        assert!(parse_instances("111111111111 us-east-1\n").is_err());
    }
}
