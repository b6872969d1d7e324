//! The AWS Security Finding Format (ASFF) as the rotator writes it: one finding per secret and
//! problem, built purely from what the sweep observed (ids, names, times), never from a value.
//!
//! Field names, the required attributes and their limits follow AWS's documentation:
//! - required top-level attributes (`SchemaVersion`, `Id`, `ProductArn`, `GeneratorId`,
//!   `AwsAccountId`, `Types`, `CreatedAt`, `UpdatedAt`, `Severity`, `Title`, `Description`,
//!   `Resources`): <https://docs.aws.amazon.com/securityhub/latest/userguide/asff-required-attributes.html>;
//! - lengths (`Description` at most 1024 characters, `Remediation.Recommendation.Text` at most
//!   512, `AwsAccountId` 12 digits):
//!   <https://docs.aws.amazon.com/securityhub/1.0/APIReference/API_AwsSecurityFinding.html>
//!   and `API_Recommendation.html`; `Title` at most 256 and `Id`/`GeneratorId` at most 512
//!   (the same reference);
//! - `BatchImportFindings`: at most 100 findings per request; with the default product ARN the
//!   caller's account must be the finding's `AwsAccountId`; after a finding is created an
//!   import no longer changes its `Workflow`, `Note`, `UserDefinedFields` or
//!   `VerificationState`:
//!   <https://docs.aws.amazon.com/securityhub/1.0/APIReference/API_BatchImportFindings.html>,
//!   <https://docs.aws.amazon.com/securityhub/latest/userguide/finding-update-batchimportfindings.html>.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::ledger::SecretDigest;
use crate::types::rfc3339;

/// The ASFF version the findings are written in.
pub const SCHEMA_VERSION: &str = "2018-10-08";
/// `BatchImportFindings` takes at most this many findings per request.
pub const MAX_FINDINGS_PER_IMPORT: usize = 100;
/// `Title`'s limit, in characters.
pub const MAX_TITLE: usize = 256;
/// `Description`'s limit, in characters.
pub const MAX_DESCRIPTION: usize = 1024;
/// `Remediation.Recommendation.Text`'s limit, in characters.
pub const MAX_RECOMMENDATION: usize = 512;
/// `Id`'s and `GeneratorId`'s limit, in characters.
pub const MAX_ID: usize = 512;
/// The finding type: ASFF's `namespace/category/classifier`.
pub const FINDING_TYPE: &str =
    "Software and Configuration Checks/AWS Security Best Practices/IAM access key rotation";
/// Every `GeneratorId` of the rotator begins with this, then the deployment's secret prefix.
pub const GENERATOR_PREFIX: &str = "iam-key-rotator/";

/// `RecordState` of a finding that still applies.
pub const ACTIVE: &str = "ACTIVE";
/// `RecordState` of a finding that no longer applies.
pub const ARCHIVED: &str = "ARCHIVED";
/// `Workflow.Status` of a new finding.
pub const NEW: &str = "NEW";
/// `Workflow.Status` of a resolved finding.
pub const RESOLVED: &str = "RESOLVED";

/// The `ProductFields` keys that name what the finding is about.
pub const FIELD_SECRET: &str = "rotator/Secret";
pub const FIELD_SECRET_ARN: &str = "rotator/SecretArn";
pub const FIELD_USER: &str = "rotator/User";
pub const FIELD_USER_ACCOUNT: &str = "rotator/UserAccount";
pub const FIELD_ACCESS_KEY_ID: &str = "rotator/AccessKeyId";
pub const FIELD_PROBLEM: &str = "rotator/Problem";

/// Where findings go: the central (the function's own) account's hub in one region. The
/// product is that account's default product.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HubTarget {
    /// `aws`, `aws-cn`, `aws-us-gov`.
    pub partition: String,
    pub region: String,
    /// The account that calls `BatchImportFindings`: every finding's `AwsAccountId`.
    pub account: String,
}

impl HubTarget {
    /// `arn:<partition>:securityhub:<region>:<account>:product/<account>/default`.
    pub fn product_arn(&self) -> String {
        format!(
            "arn:{}:securityhub:{}:{}:product/{}/default",
            self.partition, self.region, self.account, self.account
        )
    }
}

/// One finding, with the ASFF attributes the rotator writes (serialised with ASFF's names).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Finding {
    pub schema_version: String,
    pub id: String,
    pub product_arn: String,
    pub generator_id: String,
    pub aws_account_id: String,
    pub types: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub first_observed_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub last_observed_at: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    pub severity: Severity,
    pub title: String,
    pub description: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub remediation: Option<Remediation>,
    #[serde(default)]
    pub product_fields: BTreeMap<String, String>,
    pub resources: Vec<Resource>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub workflow: Option<Workflow>,
    pub record_state: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Severity {
    /// `INFORMATIONAL`, `LOW`, `MEDIUM`, `HIGH` or `CRITICAL`.
    pub label: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Remediation {
    pub recommendation: Recommendation,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Recommendation {
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Resource {
    /// `AwsSecretsManagerSecret`, `AwsIamAccessKey`.
    #[serde(rename = "Type")]
    pub kind: String,
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub partition: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub region: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Workflow {
    pub status: String,
}

/// One finding that `BatchImportFindings` did not take (its `FailedFindings`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailedFinding {
    pub id: String,
    pub code: String,
    pub message: String,
}

impl Finding {
    /// The secret's ARN the finding is about (from its `ProductFields`, else its first
    /// resource).
    pub fn secret_arn(&self) -> Option<&str> {
        self.product_fields
            .get(FIELD_SECRET_ARN)
            .map(String::as_str)
            .or_else(|| {
                self.resources
                    .iter()
                    .find(|r| r.kind == "AwsSecretsManagerSecret")
                    .map(|r| r.id.as_str())
            })
    }

    /// The same finding, resolved at `now`: archived (which a finding provider may do with
    /// `BatchImportFindings`) and `Workflow.Status` `RESOLVED` (which Security Hub takes only
    /// when it creates a finding; see the module's references).
    pub fn resolved(&self, now: &str) -> Finding {
        Finding {
            updated_at: now.to_owned(),
            record_state: ARCHIVED.to_owned(),
            workflow: Some(Workflow {
                status: RESOLVED.to_owned(),
            }),
            ..self.clone()
        }
    }
}

/// The finding's stable `Id`: the secret's ARN and the problem, so that every sweep writes the
/// same finding again. An ARN too long for `Id` is replaced by its digest.
pub fn finding_id(secret_arn: &str, problem: &str) -> String {
    let id = format!("{secret_arn}/rotator/{problem}");
    if id.chars().count() <= MAX_ID {
        id
    } else {
        format!(
            "iam-key-rotator/{}/{problem}",
            SecretDigest::of(secret_arn).as_str()
        )
    }
}

/// The deployment's `GeneratorId` prefix: [`GENERATOR_PREFIX`] and the secret prefix.
pub fn generator_prefix(secret_prefix: &str) -> String {
    let prefix = format!("{GENERATOR_PREFIX}{secret_prefix}");
    truncate(&prefix, MAX_ID - 32)
}

/// A timestamp as Security Hub takes it (RFC 3339, UTC, with milliseconds), from milliseconds
/// since the epoch.
pub fn timestamp_millis(millis: u64) -> String {
    let seconds = rfc3339(millis / 1000);
    format!("{}.{:03}Z", seconds.trim_end_matches('Z'), millis % 1000)
}

/// `text` cut to at most `limit` characters, ending with `…` when cut.
pub fn truncate(text: &str, limit: usize) -> String {
    if text.chars().count() <= limit {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(limit.saturating_sub(1)).collect();
    cut.push('…');
    cut
}
