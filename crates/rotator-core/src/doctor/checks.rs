//! The doctor's checks: pure functions from typed readings of the deployment to findings, each
//! with the command or step that fixes it.

use std::collections::BTreeMap;

use crate::accounts::bound_account;
use crate::config::{OldKeyPolicy, Settings};
use crate::doctor::{Check, Finding, Severity};
use crate::fleet::{FleetError, Inspection, StagedValue};
use crate::ports::{
    AccessKeyInfo, EmailIdentity, FunctionConfig, PortErrorKind, ScheduleInfo, SecretMetadata,
    TopicSubscription, UserInfo,
};
use crate::rotation::bound_user;

/// IAM's limit of tags per user ("IAM and AWS STS quotas").
pub const MAX_USER_TAGS: usize = 50;
/// The tags one rotation writes at once: its intent, then the key's record.
pub const TAGS_PER_ROTATION: usize = 2;
/// Lambda's longest invocation, in seconds.
pub const LAMBDA_MAX_TIMEOUT_SECS: u64 = 900;
/// What one secret costs the sweep's invocation, in milliseconds: an assumption, not a
/// measurement against AWS. The sweep reads each secret with two requests at least
/// (`GetSecretValue`, `ListAccessKeys`) and six at most (an old key's last use, the versions,
/// `DescribeSecret` and `UpdateAccessKey` when it retires one), 16 secrets in flight; IAM's
/// request rate is account-wide and cannot be raised, so the one `ListAccessKeys` per secret is
/// what bounds it: at an assumed 20 IAM reads a second, 50 ms per secret. Against moto on two
/// cores the same reads took about 6 ms per secret (`rotator status` over 2,000 secrets).
pub const SWEEP_MILLIS_PER_SECRET: u64 = 50;
/// The sweep's fixed cost, in seconds: start-up, one `ListSecrets` per 100 secrets, the alert.
pub const SWEEP_FIXED_SECS: u64 = 10;
/// What an invocation needs beyond testSecret's budget: the function stops testSecret 5 s
/// before the deadline, and the step's other reads come first.
const TEST_MARGIN_SECS: u64 = 10;

/// The seconds the function's timeout must give the sweep of `secrets` secrets.
pub fn sweep_seconds(secrets: usize) -> u64 {
    SWEEP_FIXED_SECS + (secrets as u64 * SWEEP_MILLIS_PER_SECRET).div_ceil(1000)
}

/// What the doctor read of one managed secret and its user.
#[derive(Debug, Clone, Default)]
pub struct SecretReading {
    /// The fleet's inspection (the `AWSCURRENT` value, the user's keys, ...); `None` when the
    /// name's shape is refused or the user's account could not be reached.
    pub inspection: Option<Inspection>,
    /// The member role could not be assumed (`AssumeRole` failed).
    pub unreachable: Option<FleetError>,
    /// The member role may not read the user's keys (`AccessDenied` on `ListAccessKeys`).
    pub denied: Option<FleetError>,
    /// The user's path (`GetUser`), when it was read.
    pub user: Option<UserInfo>,
    /// How many tags the user has (`ListUserTags`), when they were read.
    pub tags: Option<usize>,
}

/// Why a secret's name does not have the contract's shape (§3): `<prefix><user>` or
/// `<prefix><12-digit account>/<user>`, the user a valid IAM user name. `None` when it has. The
/// steps, the sweep and `rotator adopt` apply the same rule (`accounts::name_shape_problem`).
pub fn name_problem(name: &str, prefix: &str) -> Option<String> {
    crate::accounts::name_shape_problem(name, prefix)
}

/// The checks of one secret's own configuration: its name, its rotation, its function.
pub fn check_secret(
    metadata: &SecretMetadata,
    prefix: &str,
    function_arn: Option<&str>,
) -> Vec<Finding> {
    let name = metadata.name.as_str();
    let mut findings = Vec::new();
    let function = function_arn.unwrap_or("FUNCTION_ARN");
    if let Some(problem) = name_problem(name, prefix) {
        findings.push(secret_finding(
            metadata,
            Severity::Error,
            Check::SecretName,
            format!("the name {name} is not one the function rotates: {problem}; every step refuses it and the sweep skips it"),
            format!("name the secret {prefix}<user> (or {prefix}<12-digit account>/<user> for another account's user): create it under that name and delete this one"),
        ));
        return findings;
    }
    if !metadata.rotation_enabled {
        findings.push(secret_finding(
            metadata,
            Severity::Error,
            Check::RotationDisabled,
            "rotation is not enabled: Secrets Manager never rotates it".to_owned(),
            format!(
                "aws secretsmanager rotate-secret --secret-id {name} --rotation-lambda-arn {function} --rotation-rules AutomaticallyAfterDays=81 --no-rotate-immediately (or deploy the stack again)"
            ),
        ));
    } else if let (Some(named), Some(expected)) =
        (metadata.rotation_function.as_deref(), function_arn)
        && !same_function(named, expected)
    {
        findings.push(secret_finding(
            metadata,
            Severity::Error,
            Check::RotationFunction,
            format!(
                "its rotation function is {named}, not the deployment's {expected} (the one most of its secrets name)"
            ),
            format!(
                "aws secretsmanager rotate-secret --secret-id {name} --rotation-lambda-arn {expected} --no-rotate-immediately"
            ),
        ));
    }
    findings
}

/// Whether two function ARNs (or names) name the same function, a qualifier aside.
pub fn same_function(a: &str, b: &str) -> bool {
    unqualified(a) == unqualified(b)
}

/// A function ARN without its version or alias (`arn:aws:lambda:R:A:function:NAME`), or a name.
fn unqualified(function: &str) -> &str {
    let parts: Vec<&str> = function.splitn(8, ':').collect();
    if parts.len() == 8 && parts[5] == "function" {
        let cut = parts[..7].iter().map(|p| p.len() + 1).sum::<usize>() - 1;
        return &function[..cut];
    }
    function
}

/// The checks of one secret's value and user, from what was read: the value is a rotator
/// secret bound to its name; the user exists, lives under the deployment's path, has room for
/// the next rotation and for its tags; the member role can be assumed (reported per account by
/// [`check_member_roles`]).
pub fn check_user(
    metadata: &SecretMetadata,
    reading: &SecretReading,
    user_path: &str,
) -> Vec<Finding> {
    let mut findings = Vec::new();
    let name = metadata.name.as_str();
    let user = bound_user(name);
    let account = bound_account(name).map(|a| a.as_str().to_owned());
    let in_account = account.as_deref().map_or(String::new(), |a| {
        format!(" with credentials for account {a}")
    });
    let of_account = account
        .as_deref()
        .map_or(String::new(), |a| format!(" in account {a}"));
    let finding = |severity, check, problem: String, fix: String| Finding {
        severity,
        check,
        subject: name.to_owned(),
        account: account.clone(),
        secret: Some(name.to_owned()),
        user: Some(user.to_owned()),
        problem,
        fix,
    };
    if let Some(denied) = &reading.denied {
        findings.push(finding(
            Severity::Error,
            Check::UserPath,
            format!(
                "the member role may not read {user}'s keys{of_account} ({}): {user} is not under {user_path} there, or the role lacks iam:ListAccessKeys; every rotation fails the same way",
                denied.error
            ),
            format!("aws iam update-user --user-name {user} --new-path {user_path}{in_account}"),
        ));
        return findings;
    }
    let Some(inspection) = &reading.inspection else {
        return findings;
    };
    let value_fix = || {
        let value = match &account {
            Some(a) => format!(r#"{{"UserName": "{user}", "AccountId": "{a}"}}"#),
            None => format!(r#"{{"UserName": "{user}"}}"#),
        };
        format!("aws secretsmanager put-secret-value --secret-id {name} --secret-string '{value}'")
    };
    match inspection.current.as_ref().and_then(|c| c.value.as_ref()) {
        None => findings.push(finding(
            Severity::Error,
            Check::SecretValue,
            "no version holds AWSCURRENT: every step fails".to_owned(),
            value_fix(),
        )),
        Some(StagedValue::Invalid(problem)) => findings.push(finding(
            Severity::Error,
            Check::SecretValue,
            format!("AWSCURRENT is not a rotator secret: {problem}"),
            value_fix(),
        )),
        Some(StagedValue::OtherUser(named)) => findings.push(finding(
            Severity::Error,
            Check::SecretValue,
            format!("AWSCURRENT names the user {named}, but the name binds {user}: every step refuses it (SecretNotBoundToUser)"),
            value_fix(),
        )),
        Some(StagedValue::OtherAccount(named)) => findings.push(finding(
            Severity::Error,
            Check::SecretValue,
            format!(
                "AWSCURRENT names the account {named}, but the name binds {}: every step refuses it (SecretNotBoundToAccount)",
                account.as_deref().unwrap_or("the secret's own account")
            ),
            value_fix(),
        )),
        Some(StagedValue::NoKey | StagedValue::Key(_)) => {}
    }
    let Some(keys) = &inspection.keys else {
        findings.push(finding(
            Severity::Error,
            Check::UserMissing,
            format!(
                "the IAM user {user} does not exist{of_account}: every rotation fails (UnknownUser)"
            ),
            format!("aws iam create-user --path {user_path} --user-name {user}{in_account}"),
        ));
        return findings;
    };
    if let Some(info) = &reading.user
        && info.path != user_path
    {
        findings.push(finding(
            Severity::Error,
            Check::UserPath,
            format!(
                "{user} lives at the path {}, outside the deployment's {user_path}: the function's role may not touch it, so every rotation fails with AccessDenied",
                info.path
            ),
            format!("aws iam update-user --user-name {user} --new-path {user_path}{in_account}"),
        ));
    }
    let unknown = inspection.unknown_keys();
    if !unknown.is_empty() {
        findings.push(finding(
            Severity::Error,
            Check::UserNoRoom,
            no_room_problem(inspection, keys, &unknown),
            no_room_fix(name, user, &unknown, &in_account),
        ));
    }
    if let Some(previous) = inspection.previous_unrecorded() {
        findings.push(finding(
            Severity::Error,
            Check::PreviousUnrecorded,
            crate::fleet::status::previous_unrecorded_reason(name, &previous.id),
            format!("rotator adopt {name} --key {}", previous.id),
        ));
    }
    if let Some(problem) = stuck_rotation(inspection) {
        findings.push(finding(
            Severity::Error,
            Check::StuckRotation,
            problem,
            format!("rotator recover {name} (see what it would do first with --dry-run)"),
        ));
    }
    // Contract §10: an adopted key is as old as its IAM CreateDate, whatever the adoption's
    // date; the adoption restarted Secrets Manager's schedule, so only this shows it.
    let limit = crate::fleet::adopt::KEY_AGE_LIMIT_DAYS;
    if let Some(adopted) = crate::fleet::status::adopted_key(inspection)
        && adopted.older_than(inspection.inspected_at, limit)
    {
        let age = adopted
            .age_secs(inspection.inspected_at)
            .unwrap_or_default();
        findings.push(finding(
            Severity::Warning,
            Check::AdoptedKeyAge,
            format!(
                "the adopted key {} of {user} is {} days old (IAM created it at {}; the adoption restarted Secrets Manager's schedule, not the key's age): past the {limit}-day key-age limit of Security Hub IAM.3 and AWS Config access-keys-rotated",
                adopted.id,
                age / 86_400,
                crate::types::rfc3339(adopted.created.unwrap_or_default())
            ),
            format!("rotator rotate {name} (the adopted key is then retired as a previous key)"),
        ));
    }
    if let Some(tags) = reading.tags
        && tags + TAGS_PER_ROTATION > MAX_USER_TAGS
    {
        let remove = tags + TAGS_PER_ROTATION - MAX_USER_TAGS;
        findings.push(finding(
            Severity::Error,
            Check::UserTags,
            format!(
                "{user} has {tags} of IAM's {MAX_USER_TAGS} tags: a rotation writes {TAGS_PER_ROTATION} at once, so it fails (TagQuotaExceeded)"
            ),
            format!(
                "remove at least {remove} of {user}'s other tags: aws iam untag-user --user-name {user} --tag-keys KEY ...{in_account} (the rotator removes its own rotator:* tags itself)"
            ),
        ));
    }
    findings
}

/// Why the secret's rotation is stuck, if it is: an `AWSPENDING` version other than
/// `AWSCURRENT`'s older than `rotator status`'s stuck threshold. Secrets Manager starts no new
/// rotation until it ends (contract §11).
fn stuck_rotation(inspection: &Inspection) -> Option<String> {
    let pending = inspection.pending.as_ref()?;
    let age = inspection.pending_age(inspection.inspected_at)?;
    (age >= crate::fleet::status::DEFAULT_STUCK_AFTER_SECS).then(|| {
        format!(
            "a rotation stands unfinished since {} ({} ago, AWSPENDING version {}): Secrets Manager starts no new rotation until it ends",
            crate::notice::rfc3339(pending.created.unwrap_or_default()),
            crate::fleet::status::duration(age),
            pending.version
        )
    })
}

/// When every user read lives outside `user_path` under one and the same other path, that path
/// is likelier the deployment's than `--user-path`'s (a custom `managedUserPath`, say): one
/// warning says so, beside each user's finding.
pub fn check_user_path_option(readings: &[SecretReading], user_path: &str) -> Vec<Finding> {
    let paths: Vec<&str> = readings
        .iter()
        .filter_map(|r| r.user.as_ref().map(|u| u.path.as_str()))
        .collect();
    let Some(first) = paths.first() else {
        return Vec::new();
    };
    if paths.len() < 2 || *first == user_path || paths.iter().any(|p| p != first) {
        return Vec::new();
    }
    vec![Finding::about_deployment(
        Severity::Warning,
        Check::UserPath,
        "--user-path",
        format!(
            "none of the {} users lives under {user_path}, and all live under {first}",
            paths.len()
        ),
        format!(
            "if {first} is the deployment's path (the stack's ManagedUserPath output), run rotator doctor --user-path {first}; if not, move each user as its finding says"
        ),
    )]
}

/// What blocks the next rotation: active keys the secret does not know.
fn no_room_problem(
    inspection: &Inspection,
    keys: &[AccessKeyInfo],
    unknown: &[&AccessKeyInfo],
) -> String {
    let user = &inspection.user;
    let ids: Vec<&str> = unknown.iter().map(|key| key.id.as_str()).collect();
    let named = match ids.as_slice() {
        [one] => format!("active key {one}"),
        many => format!("active keys {}", many.join(" and ")),
    };
    // createSecret never deletes the AWSCURRENT key nor an unknown active one: with two of
    // those the user has no room now; with one, the first rotation still finds room.
    let kept = unknown.len() + usize::from(inspection.current_key_info().is_some());
    if kept >= 2 {
        format!(
            "{user} holds {} keys, {named} unknown to the secret: the next rotation finds no room (it never deletes an active key it does not know) and fails with NoRoomForKey",
            keys.len()
        )
    } else {
        format!(
            "{user} holds {named}, which the secret does not know: the first rotation adds a key beside it, and the one after finds no room (NoRoomForKey)"
        )
    }
}

/// The fix for unknown active keys: adopt the one programs use, remove the rest.
fn no_room_fix(secret: &str, user: &str, unknown: &[&AccessKeyInfo], in_account: &str) -> String {
    match unknown {
        [one] => format!(
            "if programs use {id}: rotator adopt {secret} --key {id}; if not: aws iam delete-access-key --user-name {user} --access-key-id {id}{in_account}",
            id = one.id
        ),
        [first, rest @ ..] => {
            let deletes: Vec<String> = rest
                .iter()
                .map(|key| {
                    format!(
                        "aws iam delete-access-key --user-name {user} --access-key-id {}{in_account}",
                        key.id
                    )
                })
                .collect();
            format!(
                "keep the key programs use, say {id}: {}, then rotator adopt {secret} --key {id}",
                deletes.join("; "),
                id = first.id
            )
        }
        [] => String::new(),
    }
}

/// One finding per member account whose reader role (the role the doctor assumes there: its
/// `--role`, the infra's `readerRoleName`) could not be assumed, naming its secrets,
/// and how to get the role: the member stack creates it for the configured operators.
pub fn check_member_roles(unreachable: &[(&SecretMetadata, &FleetError)]) -> Vec<Finding> {
    let mut by_account: BTreeMap<String, (String, String, Vec<&str>)> = BTreeMap::new();
    for (metadata, error) in unreachable {
        let account = bound_account(&metadata.name)
            .map(|a| a.as_str().to_owned())
            .unwrap_or_default();
        let entry = by_account
            .entry(account)
            .or_insert_with(|| (error.subject.clone(), error.error.to_string(), Vec::new()));
        entry.2.push(metadata.name.as_str());
    }
    by_account
        .into_iter()
        .map(|(account, (role, error, secrets))| Finding {
            severity: Severity::Error,
            check: Check::MemberRole,
            subject: role.clone(),
            account: Some(account.clone()),
            secret: None,
            user: None,
            problem: format!(
                "the reader role {role} cannot be assumed in account {account} ({error}): its {} secret{} ({}) were not checked. The doctor reads a member account through the operators' read-only reader role, not the function's member role, which this finding says nothing about",
                secrets.len(),
                if secrets.len() == 1 { "" } else { "s" },
                secrets.join(", ")
            ),
            fix: format!(
                "the member stack creates the reader role (readerRoleName, default IamKeyRotatorReader) only when infra/rotator.config.json names operatorPrincipalArns: name yourself there and deploy the member stack in {account} (cd infra && npx cdk deploy --app 'npx tsx bin/member.ts' -c config=rotator.config.json -c centralRoleArn=FUNCTION_ROLE_ARN, or the organization's StackSet), then run the doctor as that operator; if the deployment's reader role has another name or an external id, pass --role NAME and --external-id ID"
            ),
        })
        .collect()
}

/// The checks of the function's configuration: its `ROTATOR_*` variables parse as the function
/// parses them, it rotates the secrets of this prefix, and its timeout leaves room for a step's
/// test and for the sweep of `secrets` secrets. Returns the findings and the parsed settings.
pub fn check_function(
    config: &FunctionConfig,
    prefix: &str,
    secrets: usize,
) -> (Vec<Finding>, Option<Settings>) {
    let finding = |severity, check, problem: String, fix: String| {
        Finding::about_deployment(severity, check, config.name.clone(), problem, fix)
    };
    let settings = match Settings::from_variables(&config.variables) {
        Ok(settings) => settings,
        Err(error) => {
            return (
                vec![finding(
                    Severity::Error,
                    Check::FunctionSettings,
                    format!(
                        "{error}: the function stops at start-up, so every rotation and sweep fails"
                    ),
                    format!(
                        "correct {} in the function's environment (infra/rotator.config.json, then cargo xtask deploy)",
                        error.variable
                    ),
                )],
                None,
            );
        }
    };
    let mut findings = Vec::new();
    if settings.secret_prefix != prefix {
        findings.push(finding(
            Severity::Error,
            Check::FunctionPrefix,
            format!(
                "its ROTATOR_SECRET_PREFIX is {}, but its secrets are named {prefix}...: its name binding refuses them and its sweep walks other secrets",
                settings.secret_prefix
            ),
            format!(
                "set ROTATOR_SECRET_PREFIX={prefix} (the CDK app sets <stack name>/), or run rotator doctor --prefix {} if that is the deployment",
                settings.secret_prefix
            ),
        ));
    }
    let test_needs = settings.test_timeout.as_secs() + TEST_MARGIN_SECS;
    if config.timeout_secs < test_needs {
        findings.push(finding(
            Severity::Warning,
            Check::FunctionTimeout,
            format!(
                "its timeout is {}s, but testSecret may wait ROTATOR_TEST_TIMEOUT_SECS={}s for a new key: a slow key fails the rotation before that",
                config.timeout_secs,
                settings.test_timeout.as_secs()
            ),
            format!(
                "aws lambda update-function-configuration --function-name {} --timeout {} (the CDK app sets testTimeoutSecs + 60)",
                config.name,
                settings.test_timeout.as_secs() + 60
            ),
        ));
    }
    let sweep_needs = sweep_seconds(secrets);
    if config.timeout_secs < sweep_needs {
        let severity = if settings.old_key_policy == OldKeyPolicy::Grace {
            Severity::Error
        } else {
            Severity::Warning
        };
        let consequence = if severity == Severity::Error {
            "the sweep is cut off before it reaches the last secrets, whose old keys stay active"
        } else {
            "the sweep's count of the fleet (its metrics) is cut off"
        };
        let fix = if sweep_needs <= LAMBDA_MAX_TIMEOUT_SECS {
            format!(
                "aws lambda update-function-configuration --function-name {} --timeout {sweep_needs} (with the CDK app: a testTimeoutSecs of at least {})",
                config.name,
                sweep_needs.saturating_sub(60).max(1)
            )
        } else {
            format!(
                "split the fleet over deployments: an invocation lasts at most {LAMBDA_MAX_TIMEOUT_SECS}s, which sweeps about {} secrets",
                (LAMBDA_MAX_TIMEOUT_SECS - SWEEP_FIXED_SECS) * 1000 / SWEEP_MILLIS_PER_SECRET
            )
        };
        findings.push(finding(
            severity,
            Check::FunctionTimeout,
            format!(
                "its timeout is {}s, but sweeping {secrets} secrets takes about {sweep_needs}s ({SWEEP_FIXED_SECS}s + {SWEEP_MILLIS_PER_SECRET} ms a secret): {consequence}",
                config.timeout_secs
            ),
            fix,
        ));
    }
    (findings, Some(settings))
}

/// The checks of the alert topic: named, existing, with a confirmed subscription. `listed` is
/// `ListSubscriptionsByTopic`'s answer; a missing topic is `NotFound`.
pub fn check_alerts(
    topic: Option<&str>,
    listed: Option<Result<&[TopicSubscription], PortErrorKind>>,
) -> Vec<Finding> {
    let finding = |severity, check, subject: &str, problem: String, fix: String| {
        Finding::about_deployment(severity, check, subject, problem, fix)
    };
    let Some(topic) = topic else {
        return vec![finding(
            Severity::Warning,
            Check::AlertTopic,
            "ROTATOR_ALERT_TOPIC_ARN",
            "the function names no alert topic: failed rotations are only logged".to_owned(),
            "set alertEmails in infra/rotator.config.json and deploy (cargo xtask deploy)"
                .to_owned(),
        )];
    };
    let subscriptions: &[TopicSubscription] = match listed {
        Some(Ok(subscriptions)) => subscriptions,
        None => &[],
        Some(Err(_)) => {
            return vec![finding(
                Severity::Error,
                Check::AlertTopic,
                topic,
                "the function's alert topic does not exist: every alert is lost".to_owned(),
                "deploy the stack again (cargo xtask deploy), which creates the topic".to_owned(),
            )];
        }
    };
    let pending: Vec<String> = subscriptions
        .iter()
        .filter(|s| !s.confirmed)
        .map(|s| format!("{} {}", s.protocol, s.endpoint))
        .collect();
    let confirmed = subscriptions.iter().filter(|s| s.confirmed).count();
    let confirm = "follow the link in the \"AWS Notification - Subscription Confirmation\" email SNS sent to each address";
    if confirmed == 0 {
        let (problem, fix) = if pending.is_empty() {
            (
                "the alert topic has no subscription: alerts reach no one".to_owned(),
                format!(
                    "aws sns subscribe --topic-arn {topic} --protocol email --notification-endpoint ADDRESS, then {confirm} (or set alertEmails and deploy)"
                ),
            )
        } else {
            (
                format!(
                    "the alert topic has no confirmed subscription ({} pending: {}): alerts reach no one",
                    pending.len(),
                    pending.join(", ")
                ),
                format!(
                    "{confirm}; to send it again: aws sns subscribe --topic-arn {topic} --protocol email --notification-endpoint ADDRESS"
                ),
            )
        };
        return vec![finding(
            Severity::Error,
            Check::AlertSubscription,
            topic,
            problem,
            fix,
        )];
    }
    if pending.is_empty() {
        return Vec::new();
    }
    vec![finding(
        Severity::Warning,
        Check::AlertSubscription,
        topic,
        format!(
            "{} of the alert topic's subscriptions {} not confirmed: {}",
            pending.len(),
            if pending.len() == 1 { "is" } else { "are" },
            pending.join(", ")
        ),
        confirm.to_owned(),
    )]
}

/// How SES sees an address: its own identity, or its domain's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AddressStatus {
    /// The address or its domain is verified for sending.
    Verified,
    /// The identity exists but is not verified; its status when SES gives one.
    Pending {
        identity: String,
        status: Option<String>,
    },
    /// Neither the address nor its domain is an SES identity.
    Missing,
}

impl AddressStatus {
    /// The status of `address`, from its identity and its domain's (`None`: no such identity).
    pub fn of(
        address: Option<&EmailIdentity>,
        domain: Option<(&str, &EmailIdentity)>,
        name: &str,
    ) -> Self {
        if address.is_some_and(|i| i.verified_for_sending)
            || domain.is_some_and(|(_, i)| i.verified_for_sending)
        {
            return AddressStatus::Verified;
        }
        match (address, domain) {
            (Some(identity), _) => AddressStatus::Pending {
                identity: name.to_owned(),
                status: identity.status.clone(),
            },
            (None, Some((domain, identity))) => AddressStatus::Pending {
                identity: domain.to_owned(),
                status: identity.status.clone(),
            },
            (None, None) => AddressStatus::Missing,
        }
    }
}

/// The check of the SES sender (`None`: the function sends no email).
pub fn check_sender(sender: Option<&str>, status: Option<&AddressStatus>) -> Vec<Finding> {
    let finding = |severity, subject: &str, problem: String, fix: String| {
        Finding::about_deployment(severity, Check::Sender, subject, problem, fix)
    };
    let Some(sender) = sender else {
        return vec![finding(
            Severity::Warning,
            "ROTATOR_SENDER_EMAIL",
            "the function names no SES sender: no success email is sent".to_owned(),
            "set senderEmail in infra/rotator.config.json and deploy (cargo xtask deploy)"
                .to_owned(),
        )];
    };
    match status {
        None | Some(AddressStatus::Verified) => Vec::new(),
        Some(AddressStatus::Pending { identity, status }) => vec![finding(
            Severity::Error,
            sender,
            format!(
                "the SES identity {identity} of the sender is not verified for sending{}: SES refuses every success email",
                status
                    .as_deref()
                    .map_or(String::new(), |s| format!(" (status {s})"))
            ),
            format!(
                "follow the link SES mailed to {sender}; to send it again: aws ses verify-email-identity --email-address {sender}"
            ),
        )],
        Some(AddressStatus::Missing) => vec![finding(
            Severity::Error,
            sender,
            format!(
                "neither {sender} nor its domain is an SES identity in this region: SES refuses every success email"
            ),
            format!(
                "aws sesv2 create-email-identity --email-identity {sender}, then follow the link SES mails to it (or deploy with createSenderIdentity)"
            ),
        )],
    }
}

/// The checks of the recipients while SES is in the sandbox, where it sends only to verified
/// addresses and domains: one finding per recipient that is not, naming its secrets.
pub fn check_sandbox_recipients(
    recipients: &BTreeMap<String, Vec<String>>,
    status: &BTreeMap<String, AddressStatus>,
) -> Vec<Finding> {
    recipients
        .iter()
        .filter(|(address, _)| {
            status
                .get(*address)
                .is_some_and(|s| *s != AddressStatus::Verified)
        })
        .map(|(address, secrets)| {
            Finding::about_deployment(
                Severity::Error,
                Check::SandboxRecipient,
                address.clone(),
                format!(
                    "SES is in the sandbox in this region and sends only to verified addresses; {address} (the success emails of {}) is not one",
                    secrets.join(", ")
                ),
                format!(
                    "aws sesv2 create-email-identity --email-identity {address} and have its owner follow the link, or request production access for SES (console: Account dashboard, Request production access)"
                ),
            )
        })
        .collect()
}

/// The sweep's input, which its schedule must send (contract §9).
pub fn is_sweep_input(input: Option<&str>) -> bool {
    input
        .and_then(|text| serde_json::from_str::<serde_json::Value>(text).ok())
        .is_some_and(|value| {
            value.get("Action").and_then(|a| a.as_str()) == Some("sweep")
                && value.as_object().is_some_and(|o| o.get("Step").is_none())
        })
}

/// The check of the sweep's schedule: one that invokes `function` with `{"Action": "sweep"}`
/// exists and is enabled. An error under `grace` (the old keys are never retired without it),
/// a warning otherwise (only the fleet's metrics are lost).
pub fn check_sweep_schedule(
    function: &FunctionConfig,
    policy: OldKeyPolicy,
    schedules: &[ScheduleInfo],
) -> Vec<Finding> {
    let (severity, consequence) = if policy == OldKeyPolicy::Grace {
        (Severity::Error, "under grace, no old key is ever retired")
    } else {
        (
            Severity::Warning,
            "the fleet's sweep metrics are never written",
        )
    };
    let sweeps: Vec<&ScheduleInfo> = schedules
        .iter()
        .filter(|s| {
            same_function(&s.target_arn, &function.arn) && is_sweep_input(s.input.as_deref())
        })
        .collect();
    let finding = |subject: String, problem: String, fix: String| {
        Finding::about_deployment(severity, Check::SweepSchedule, subject, problem, fix)
    };
    if sweeps.is_empty() {
        return vec![finding(
            function.name.clone(),
            format!(
                "no EventBridge Scheduler schedule invokes {} with {{\"Action\": \"sweep\"}}: {consequence}",
                function.name
            ),
            "deploy the stack again (cargo xtask deploy creates the schedule <stack name>-Sweep)"
                .to_owned(),
        )];
    }
    if sweeps.iter().any(|s| s.enabled) {
        return Vec::new();
    }
    sweeps
        .iter()
        .map(|s| {
            finding(
                format!("{}/{}", s.group, s.name),
                format!("the sweep's schedule {}/{} is disabled: {consequence}", s.group, s.name),
                format!(
                    "enable it in the EventBridge Scheduler console, or aws scheduler update-schedule --name {} --group-name {} --state ENABLED with the rest of its definition as aws scheduler get-schedule --name {} --group-name {} shows it (UpdateSchedule replaces the whole schedule)",
                    s.name, s.group, s.name, s.group
                ),
            )
        })
        .collect()
}

/// A finding about one secret's own configuration.
fn secret_finding(
    metadata: &SecretMetadata,
    severity: Severity,
    check: Check,
    problem: String,
    fix: String,
) -> Finding {
    Finding {
        severity,
        check,
        subject: metadata.name.clone(),
        account: bound_account(&metadata.name).map(|a| a.as_str().to_owned()),
        secret: Some(metadata.name.clone()),
        user: Some(bound_user(&metadata.name).to_owned()),
        problem,
        fix,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::{PortError, PortErrorKind};

    /// Issue 25, point 7: the doctor assumed the operators' reader role, so its finding names
    /// that role, the flags `doctor` takes (`--role`, `--external-id`) and the stack
    /// that creates the reader role, never `--member-role` (a flag of `sweep` and `rotate`).
    #[test]
    fn the_member_role_finding_names_the_reader_role_and_the_doctors_own_flags() {
        let metadata = SecretMetadata {
            arn: "arn:aws:secretsmanager:us-east-1:123456789012:secret:IamKeyRotator/111122223333/bob-AbCdEf".into(),
            name: "IamKeyRotator/111122223333/bob".into(),
            rotation_enabled: true,
            rotation_function: None,
            rotation_interval_days: Some(90),
            last_rotated: None,
            next_rotation: None,
            versions: BTreeMap::new(),
            tags: BTreeMap::new(),
        };
        let role = "arn:aws:iam::111122223333:role/IamKeyRotatorReader";
        let error = FleetError {
            operation: "AssumeRole",
            subject: role.into(),
            error: PortError::new(PortErrorKind::AccessDenied, "AccessDenied: not authorized"),
        };
        let findings = check_member_roles(&[(&metadata, &error)]);
        assert_eq!(findings.len(), 1);
        let finding = &findings[0];
        assert_eq!(finding.check, Check::MemberRole);
        assert_eq!(finding.subject, role);
        assert!(
            finding.problem.contains("reader role")
                && finding.problem.contains(role)
                && finding.problem.contains("IamKeyRotator/111122223333/bob"),
            "{}",
            finding.problem
        );
        assert!(
            !finding.fix.contains("--member-role"),
            "doctor takes no --member-role: {}",
            finding.fix
        );
        for named in [
            "--role NAME",
            "--external-id",
            "operatorPrincipalArns",
            "readerRoleName",
            "bin/member.ts",
            "111122223333",
        ] {
            assert!(finding.fix.contains(named), "{named}: {}", finding.fix);
        }
    }
}
