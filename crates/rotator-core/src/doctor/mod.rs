//! `rotator doctor`: checks a live deployment before its first rotation and names every fix.
//!
//! It only reads. For the deployment whose secrets start with a prefix it checks:
//! - **the secrets**: each name has the contract's shape (§3), rotation is enabled, every secret
//!   names the same rotation function (the one most of them name is the deployment's), and the
//!   `AWSCURRENT` value is a rotator secret bound to its name;
//! - **the users** (a member account's through the member role): each exists, lives under the
//!   deployment's IAM path (else the function's role may not touch it), has room for the next
//!   rotation (no active key the secret does not know) and two free tags of IAM's 50;
//! - **the function** (`GetFunctionConfiguration`): it exists, its `ROTATOR_*` variables parse
//!   exactly as the function parses them ([`Settings::from_variables`]), it rotates this prefix,
//!   and its timeout leaves room for testSecret and for the sweep of this fleet
//!   ([`checks::sweep_seconds`]);
//! - **alerts and emails**: the alert topic exists and has a confirmed subscription; the SES
//!   sender is verified for sending; in the SES sandbox, every recipient is verified too;
//! - **the sweep**: a schedule invokes the function with `{"Action": "sweep"}` and is enabled;
//! - **member accounts**: the member role can be assumed in each account a secret names.
//!
//! The checks are pure functions over typed readings ([`checks`]); [`doctor`] reads.

pub mod checks;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::fmt;

use crate::accounts::{MemberRole, iam_for_secret};
use crate::config::parse_addresses;
use crate::fleet::status::Progress;
use crate::fleet::{FleetError, bounded, inspect_as, managed_secrets};
use crate::ports::{DeploymentReader, FunctionConfig, PortErrorKind, SecretMetadata};
use crate::rotation::{NOTIFY_EMAIL_TAG, Ports, bound_user};
use crate::types::UserName;
use checks::{AddressStatus, SecretReading};

use crate::config::Settings;

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// Rotations, alerts, emails or the sweep fail until it is fixed.
    Error,
    /// Something works less well than it could (no alert topic, a slow sweep, ...).
    Warning,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a finding is about; its name is stable in the JSON output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Check {
    NoSecrets,
    SecretName,
    RotationDisabled,
    RotationFunction,
    SecretValue,
    MemberRole,
    UserMissing,
    UserPath,
    UserNoRoom,
    PreviousUnrecorded,
    UserTags,
    AdoptedKeyAge,
    FunctionMissing,
    FunctionSettings,
    FunctionPrefix,
    FunctionTimeout,
    AlertTopic,
    AlertSubscription,
    Sender,
    SandboxRecipient,
    SweepSchedule,
    StuckRotation,
}

impl Check {
    /// The check's name in the output (`user-path`).
    pub fn as_str(self) -> &'static str {
        match self {
            Check::NoSecrets => "no-secrets",
            Check::SecretName => "secret-name",
            Check::RotationDisabled => "rotation-disabled",
            Check::RotationFunction => "rotation-function",
            Check::SecretValue => "secret-value",
            Check::MemberRole => "member-role",
            Check::UserMissing => "user-missing",
            Check::UserPath => "user-path",
            Check::UserNoRoom => "user-no-room",
            Check::PreviousUnrecorded => "previous-unrecorded",
            Check::UserTags => "user-tags",
            Check::AdoptedKeyAge => "adopted-key-age",
            Check::FunctionMissing => "function-missing",
            Check::FunctionSettings => "function-settings",
            Check::FunctionPrefix => "function-prefix",
            Check::FunctionTimeout => "function-timeout",
            Check::AlertTopic => "alert-topic",
            Check::AlertSubscription => "alert-subscription",
            Check::Sender => "sender",
            Check::SandboxRecipient => "sandbox-recipient",
            Check::SweepSchedule => "sweep-schedule",
            Check::StuckRotation => "stuck-rotation",
        }
    }
}

impl fmt::Display for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One problem of the deployment, with what fixes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub severity: Severity,
    pub check: Check,
    /// What it is about: a secret's name, the function, the topic, an address, a role.
    pub subject: String,
    /// The member account it concerns (`None`: the caller's own).
    pub account: Option<String>,
    pub secret: Option<String>,
    pub user: Option<String>,
    /// What is wrong and what it breaks, in one sentence.
    pub problem: String,
    /// The command or step that fixes it.
    pub fix: String,
}

impl Finding {
    /// A finding about the deployment itself (its function, topic, sender, schedule, or the
    /// users' path as a whole): it concerns no one secret, user or member account.
    pub fn about_deployment(
        severity: Severity,
        check: Check,
        subject: impl Into<String>,
        problem: String,
        fix: String,
    ) -> Self {
        Self {
            severity,
            check,
            subject: subject.into(),
            account: None,
            secret: None,
            user: None,
            problem,
            fix,
        }
    }
}

/// How to find the deployment and reach its member accounts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DoctorOptions {
    /// The name prefix of the deployment's secrets (`IamKeyRotator/`).
    pub prefix: String,
    /// The IAM path its users must live under (`/rotated/IamKeyRotator/`).
    pub user_path: String,
    /// The role assumed in member accounts to read their users.
    pub member_role: MemberRole,
}

impl DoctorOptions {
    /// The CDK app's path for the users of the deployment whose secrets start with `prefix`:
    /// `/rotated/<prefix without its slash>/`.
    pub fn default_user_path(prefix: &str) -> String {
        format!("/rotated/{}/", prefix.trim_end_matches('/'))
    }
}

/// The function the secrets name, as the doctor found it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionSummary {
    pub arn: String,
    /// `None` when the function does not exist.
    pub config: Option<FunctionConfig>,
    /// The old-key policy its variables set, when they parse.
    pub old_key_policy: Option<&'static str>,
}

/// What the doctor found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub prefix: String,
    pub user_path: String,
    /// How many secrets start with the prefix.
    pub secrets: usize,
    /// The member accounts the secrets name, in order.
    pub accounts: Vec<String>,
    /// The deployment's function: the one most secrets name; `None` when none names one.
    pub function: Option<FunctionSummary>,
    /// Every finding: errors first, then by check, then by subject.
    pub findings: Vec<Finding>,
}

impl Report {
    pub fn count(&self, severity: Severity) -> usize {
        self.findings
            .iter()
            .filter(|f| f.severity == severity)
            .count()
    }
}

/// Reads the deployment and checks it (see the module's documentation). `progress` is called
/// with the number of secrets once listed, then once per secret read. A read that fails other
/// than as a finding (an `AccessDenied` to the caller, AWS unreachable) is the error.
pub async fn doctor(
    ports: &Ports,
    deployment: &dyn DeploymentReader,
    options: &DoctorOptions,
    progress: &(dyn Fn(Progress) + Send + Sync),
) -> Result<Report, FleetError> {
    let secrets = managed_secrets(ports, &options.prefix).await?;
    progress(Progress::Listed(secrets.len()));
    let function_arn = deployment_function(&secrets);
    let readings = bounded(&secrets, |metadata| async move {
        let reading = read_secret(ports, metadata, options).await;
        progress(Progress::Inspected);
        reading
    })
    .await?;

    let mut findings = Vec::new();
    if secrets.is_empty() {
        findings.push(Finding::about_deployment(
            Severity::Error,
            Check::NoSecrets,
            format!("{}*", options.prefix),
            format!(
                "no secret is named {}*: the deployment has no users yet, or its prefix is another",
                options.prefix
            ),
            "add the users to infra/rotator.config.json and deploy (cargo xtask deploy), or pass --prefix <stack name>/".to_owned(),
        ));
    }
    let mut unreachable = Vec::new();
    for (metadata, reading) in secrets.iter().zip(&readings) {
        findings.extend(checks::check_secret(
            metadata,
            &options.prefix,
            function_arn.as_deref(),
        ));
        findings.extend(checks::check_user(metadata, reading, &options.user_path));
        if let Some(error) = &reading.unreachable {
            unreachable.push((metadata, error));
        }
    }
    findings.extend(checks::check_member_roles(&unreachable));
    findings.extend(checks::check_user_path_option(
        &readings,
        &options.user_path,
    ));

    let function = match &function_arn {
        None => None,
        Some(arn) => {
            Some(check_deployment(deployment, arn, &secrets, options, &mut findings).await?)
        }
    };
    findings
        .sort_by(|a, b| (a.severity, a.check, &a.subject).cmp(&(b.severity, b.check, &b.subject)));
    let mut accounts: Vec<String> = secrets
        .iter()
        .filter_map(|s| crate::accounts::member_account(s).map(|a| a.as_str().to_owned()))
        .collect();
    accounts.sort();
    accounts.dedup();
    Ok(Report {
        prefix: options.prefix.clone(),
        user_path: options.user_path.clone(),
        secrets: secrets.len(),
        accounts,
        function,
        findings,
    })
}

/// The deployment's function: the one most secrets name (the first by name on a tie).
pub fn deployment_function(secrets: &[SecretMetadata]) -> Option<String> {
    let mut counts: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    for (index, secret) in secrets.iter().enumerate() {
        if let Some(function) = secret.rotation_function.as_deref() {
            counts.entry(function).or_insert((0, index)).0 += 1;
        }
    }
    counts
        .into_iter()
        .max_by(|(_, (a, first_a)), (_, (b, first_b))| a.cmp(b).then(first_b.cmp(first_a)))
        .map(|(function, _)| function.to_owned())
}

/// Reads one secret's value, its user's keys, path and tags, the member role's way for another
/// account's user. A member role that cannot be assumed, or that may not read the user, is a
/// reading (a finding), not an error.
async fn read_secret(
    ports: &Ports,
    metadata: &SecretMetadata,
    options: &DoctorOptions,
) -> Result<SecretReading, FleetError> {
    let mut reading = SecretReading::default();
    if checks::name_problem(&metadata.name, &options.prefix).is_some() {
        return Ok(reading);
    }
    let member = crate::accounts::member_account(metadata).is_some();
    let inspection = match inspect_as(ports, metadata, &options.member_role).await {
        Ok(inspection) => inspection,
        Err(error) if error.operation == "AssumeRole" => {
            reading.unreachable = Some(error);
            return Ok(reading);
        }
        Err(error)
            if member
                && error.operation == "ListAccessKeys"
                && error.error.kind == PortErrorKind::AccessDenied =>
        {
            reading.denied = Some(error);
            return Ok(reading);
        }
        Err(error) => return Err(error),
    };
    let user_exists = inspection.keys.is_some();
    reading.inspection = Some(inspection);
    let Ok(user) = UserName::new(bound_user(&metadata.name)) else {
        return Ok(reading);
    };
    if !user_exists {
        return Ok(reading);
    }
    let iam = iam_for_secret(ports, metadata, &options.member_role)
        .await
        .map_err(|failed| FleetError::of("AssumeRole", failed.role_arn)(failed.error))?;
    reading.user = match iam.get_user(&user).await {
        Ok(info) => Some(info),
        // The function's member role grants no iam:GetUser; its ListAccessKeys above, which it
        // grants on the deployment's path only, already showed the user lives there.
        Err(error) if member && error.kind == PortErrorKind::AccessDenied => None,
        Err(error) => return Err(FleetError::of("GetUser", user.as_str())(error)),
    };
    reading.tags = Some(
        iam.list_user_tags(&user)
            .await
            .map_err(FleetError::of("ListUserTags", user.as_str()))?
            .len(),
    );
    Ok(reading)
}

/// Reads and checks the function, its alert topic, SES and the sweep's schedule.
async fn check_deployment(
    deployment: &dyn DeploymentReader,
    arn: &str,
    secrets: &[SecretMetadata],
    options: &DoctorOptions,
    findings: &mut Vec<Finding>,
) -> Result<FunctionSummary, FleetError> {
    let config = match deployment.function(arn).await {
        Ok(config) => config,
        Err(error) if error.kind == PortErrorKind::NotFound => {
            findings.push(Finding::about_deployment(
                Severity::Error,
                Check::FunctionMissing,
                arn,
                "the secrets' rotation function does not exist: every rotation fails".to_owned(),
                "deploy the stack (cargo xtask deploy), or point the secrets at the deployed function: aws secretsmanager rotate-secret --secret-id SECRET --rotation-lambda-arn FUNCTION_ARN --no-rotate-immediately".to_owned(),
            ));
            return Ok(FunctionSummary {
                arn: arn.to_owned(),
                config: None,
                old_key_policy: None,
            });
        }
        Err(error) => return Err(FleetError::of("GetFunctionConfiguration", arn)(error)),
    };
    let (function_findings, settings) =
        checks::check_function(&config, &options.prefix, secrets.len());
    findings.extend(function_findings);
    let summary = FunctionSummary {
        arn: config.arn.clone(),
        old_key_policy: settings.as_ref().map(|s| s.old_key_policy.as_str()),
        config: Some(config.clone()),
    };
    let Some(settings) = settings else {
        return Ok(summary);
    };

    let topic = settings.alert_topic_arn.as_deref();
    let listed = match topic {
        None => None,
        Some(topic) => match deployment.subscriptions(topic).await {
            Ok(subscriptions) => Some(Ok(subscriptions)),
            Err(error) if error.kind == PortErrorKind::NotFound => Some(Err(error.kind)),
            Err(error) => return Err(FleetError::of("ListSubscriptionsByTopic", topic)(error)),
        },
    };
    findings.extend(checks::check_alerts(
        topic,
        listed.as_ref().map(|l| l.as_deref().map_err(|kind| *kind)),
    ));

    let sender = settings.sender_email.as_deref();
    let mut identities = Identities::new(deployment);
    let sender_status = match sender {
        Some(sender) => Some(identities.status(sender).await?),
        None => None,
    };
    findings.extend(checks::check_sender(sender, sender_status.as_ref()));
    if sender.is_some() {
        let production = deployment
            .email_production_access()
            .await
            .map_err(FleetError::of("GetAccount", "SES"))?;
        if !production {
            let recipients = recipients(secrets, &settings);
            let mut status = BTreeMap::new();
            for address in recipients.keys() {
                status.insert(address.clone(), identities.status(address).await?);
            }
            findings.extend(checks::check_sandbox_recipients(&recipients, &status));
        }
    }

    let schedules = deployment
        .schedules_for(&config.arn)
        .await
        .map_err(FleetError::of(
            "ListSchedules",
            "the schedules of every group",
        ))?;
    findings.extend(checks::check_sweep_schedule(
        &config,
        settings.old_key_policy,
        &schedules,
    ));
    Ok(summary)
}

/// Who receives each secret's success email: its `NotifyEmail` tag, else the function's
/// `ROTATOR_DEFAULT_NOTIFY_EMAIL`; by address, with the secrets that send to it.
fn recipients(secrets: &[SecretMetadata], settings: &Settings) -> BTreeMap<String, Vec<String>> {
    let mut by_address: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for secret in secrets {
        let addresses = match secret.tags.get(NOTIFY_EMAIL_TAG) {
            Some(tag) => parse_addresses(tag).unwrap_or_default(),
            None => settings.default_notify_email.clone(),
        };
        for address in addresses {
            by_address
                .entry(address)
                .or_default()
                .push(secret.name.clone());
        }
    }
    by_address
}

/// SES identities read once each: an address's own, then its domain's.
struct Identities<'a> {
    deployment: &'a dyn DeploymentReader,
    read: BTreeMap<String, Option<crate::ports::EmailIdentity>>,
}

impl<'a> Identities<'a> {
    fn new(deployment: &'a dyn DeploymentReader) -> Self {
        Self {
            deployment,
            read: BTreeMap::new(),
        }
    }

    async fn identity(
        &mut self,
        name: &str,
    ) -> Result<Option<crate::ports::EmailIdentity>, FleetError> {
        if let Some(known) = self.read.get(name) {
            return Ok(known.clone());
        }
        let identity = match self.deployment.email_identity(name).await {
            Ok(identity) => Some(identity),
            Err(error) if error.kind == PortErrorKind::NotFound => None,
            Err(error) => return Err(FleetError::of("GetEmailIdentity", name)(error)),
        };
        self.read.insert(name.to_owned(), identity.clone());
        Ok(identity)
    }

    /// How SES sees `address`: verified when the address or its domain is.
    async fn status(&mut self, address: &str) -> Result<AddressStatus, FleetError> {
        let own = self.identity(address).await?;
        if own.as_ref().is_some_and(|i| i.verified_for_sending) {
            return Ok(AddressStatus::Verified);
        }
        let domain = address
            .rsplit_once('@')
            .map(|(_, d)| d.to_ascii_lowercase());
        let domain_identity = match &domain {
            Some(domain) => self.identity(domain).await?,
            None => None,
        };
        Ok(AddressStatus::of(
            own.as_ref(),
            domain.as_deref().zip(domain_identity.as_ref()),
            address,
        ))
    }
}
