//! The Security Hub port on `aws-sdk-securityhub`: `BatchImportFindings` and `GetFindings` on
//! the function's own account's default product, and the account it imports into
//! (`sts:GetCallerIdentity`, which needs no permission).
//!
//! AWS's pages: `BatchImportFindings` (at most 100 findings, the default product's findings
//! carry the caller's own account in `AwsAccountId`, `FailedFindings` with `InvalidAccess` when
//! Security Hub is not enabled):
//! <https://docs.aws.amazon.com/securityhub/1.0/APIReference/API_BatchImportFindings.html>;
//! `GetFindings` (filters, `MaxResults` at most 100, `NextToken`):
//! <https://docs.aws.amazon.com/securityhub/1.0/APIReference/API_GetFindings.html>.

use std::collections::{BTreeMap, HashMap};

use async_trait::async_trait;
use aws_sdk_securityhub::Client;
use aws_sdk_securityhub::types::{
    AwsSecurityFinding, AwsSecurityFindingFilters, Recommendation, RecordState, Remediation,
    Resource, Severity, SeverityLabel, StringFilter, StringFilterComparison, Workflow,
    WorkflowStatus,
};
use rotator_core::findings::asff;
use rotator_core::findings::{FailedFinding, Finding, HubTarget, SecurityHub};
use rotator_core::ports::{PortError, PortErrorKind, PortResult};
use tokio::sync::OnceCell;

use super::port_error;

/// `GetFindings` pages at most this many findings.
const PAGE: i32 = 100;

/// Security Hub of the function's account and region.
#[derive(Debug)]
pub struct SecurityHubAdapter {
    client: Client,
    sts: aws_sdk_sts::Client,
    target: OnceCell<HubTarget>,
}

impl SecurityHubAdapter {
    /// `sts` reads the caller's account once, on the first use.
    pub fn new(client: Client, sts: aws_sdk_sts::Client) -> Self {
        Self {
            client,
            sts,
            target: OnceCell::new(),
        }
    }
}

#[async_trait]
impl SecurityHub for SecurityHubAdapter {
    async fn target(&self) -> PortResult<HubTarget> {
        self.target
            .get_or_try_init(|| async {
                let identity = self
                    .sts
                    .get_caller_identity()
                    .send()
                    .await
                    .map_err(port_error)?;
                let account = identity.account().unwrap_or_default().to_owned();
                // `arn:<partition>:sts::<account>:...`
                let partition = identity
                    .arn()
                    .and_then(|arn| arn.split(':').nth(1))
                    .unwrap_or("aws")
                    .to_owned();
                let region = self
                    .client
                    .config()
                    .region()
                    .map(ToString::to_string)
                    .unwrap_or_default();
                if account.len() != 12 || region.is_empty() {
                    return Err(PortError::new(
                        PortErrorKind::Service,
                        format!(
                            "the caller's account ({account:?}) or the region ({region:?}) is not known"
                        ),
                    ));
                }
                Ok(HubTarget {
                    partition,
                    region,
                    account,
                })
            })
            .await
            .cloned()
    }

    async fn active_findings(
        &self,
        product_arn: &str,
        generator_prefix: &str,
    ) -> PortResult<Vec<Finding>> {
        let filter = |comparison: StringFilterComparison, value: &str| {
            StringFilter::builder()
                .comparison(comparison)
                .value(value)
                .build()
        };
        let filters = AwsSecurityFindingFilters::builder()
            .product_arn(filter(StringFilterComparison::Equals, product_arn))
            .generator_id(filter(StringFilterComparison::Prefix, generator_prefix))
            .record_state(filter(StringFilterComparison::Equals, asff::ACTIVE))
            .build();
        let mut found = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page = self
                .client
                .get_findings()
                .filters(filters.clone())
                .max_results(PAGE)
                .set_next_token(token.take())
                .send()
                .await
                .map_err(port_error)?;
            found.extend(page.findings().iter().map(from_sdk));
            match page.next_token() {
                Some(next) if !next.is_empty() => token = Some(next.to_owned()),
                _ => break,
            }
        }
        Ok(found)
    }

    async fn import(&self, findings: &[Finding]) -> PortResult<Vec<FailedFinding>> {
        let output = self
            .client
            .batch_import_findings()
            .set_findings(Some(findings.iter().map(to_sdk).collect()))
            .send()
            .await
            .map_err(port_error)?;
        Ok(output
            .failed_findings()
            .iter()
            .map(|failed| FailedFinding {
                id: failed.id().unwrap_or_default().to_owned(),
                code: failed.error_code().unwrap_or_default().to_owned(),
                message: failed.error_message().unwrap_or_default().to_owned(),
            })
            .collect())
    }
}

/// The core's finding as the SDK's.
fn to_sdk(finding: &Finding) -> AwsSecurityFinding {
    let mut builder = AwsSecurityFinding::builder()
        .schema_version(&finding.schema_version)
        .id(&finding.id)
        .product_arn(&finding.product_arn)
        .generator_id(&finding.generator_id)
        .aws_account_id(&finding.aws_account_id)
        .set_types(Some(finding.types.clone()))
        .set_first_observed_at(finding.first_observed_at.clone())
        .set_last_observed_at(finding.last_observed_at.clone())
        .created_at(&finding.created_at)
        .updated_at(&finding.updated_at)
        .severity(
            Severity::builder()
                .label(SeverityLabel::from(finding.severity.label.as_str()))
                .build(),
        )
        .title(&finding.title)
        .description(&finding.description)
        .set_product_fields(Some(
            finding
                .product_fields
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect::<HashMap<_, _>>(),
        ))
        .set_resources(Some(
            finding
                .resources
                .iter()
                .map(|resource| {
                    Resource::builder()
                        .r#type(&resource.kind)
                        .id(&resource.id)
                        .set_partition(resource.partition.as_deref().map(Into::into))
                        .set_region(resource.region.clone())
                        .build()
                })
                .collect(),
        ))
        .record_state(RecordState::from(finding.record_state.as_str()));
    if let Some(remediation) = &finding.remediation {
        builder = builder.remediation(
            Remediation::builder()
                .recommendation(
                    Recommendation::builder()
                        .text(&remediation.recommendation.text)
                        .build(),
                )
                .build(),
        );
    }
    if let Some(workflow) = &finding.workflow {
        builder = builder.workflow(
            Workflow::builder()
                .status(WorkflowStatus::from(workflow.status.as_str()))
                .build(),
        );
    }
    builder.build()
}

/// The SDK's finding as the core's: the attributes the rotator writes.
fn from_sdk(finding: &AwsSecurityFinding) -> Finding {
    let text = |value: Option<&str>| value.unwrap_or_default().to_owned();
    Finding {
        schema_version: text(finding.schema_version()),
        id: text(finding.id()),
        product_arn: text(finding.product_arn()),
        generator_id: text(finding.generator_id()),
        aws_account_id: text(finding.aws_account_id()),
        types: finding.types().to_vec(),
        first_observed_at: finding.first_observed_at().map(str::to_owned),
        last_observed_at: finding.last_observed_at().map(str::to_owned),
        created_at: text(finding.created_at()),
        updated_at: text(finding.updated_at()),
        severity: asff::Severity {
            label: finding
                .severity()
                .and_then(|s| s.label())
                .map_or("INFORMATIONAL", |label| label.as_str())
                .to_owned(),
        },
        title: text(finding.title()),
        description: text(finding.description()),
        remediation: finding
            .remediation()
            .and_then(|r| r.recommendation())
            .and_then(|r| r.text())
            .map(|text| asff::Remediation {
                recommendation: asff::Recommendation {
                    text: text.to_owned(),
                },
            }),
        product_fields: finding
            .product_fields()
            .map(|fields| {
                fields
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect::<BTreeMap<_, _>>()
            })
            .unwrap_or_default(),
        resources: finding
            .resources()
            .iter()
            .map(|resource| asff::Resource {
                kind: text(resource.r#type()),
                id: text(resource.id()),
                partition: resource.partition().map(|p| p.as_str().to_owned()),
                region: resource.region().map(str::to_owned),
            })
            .collect(),
        workflow: finding
            .workflow()
            .and_then(|w| w.status())
            .map(|status| asff::Workflow {
                status: status.as_str().to_owned(),
            }),
        record_state: finding
            .record_state()
            .map_or(asff::ACTIVE, |state| state.as_str())
            .to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_finding_goes_to_the_sdk_and_back_unchanged() {
        let finding = Finding {
            schema_version: asff::SCHEMA_VERSION.into(),
            id: "arn:aws:secretsmanager:eu-west-1:111111111111:secret:IamKeyRotator/alice-AbCdEf/rotator/stuck".into(),
            product_arn: "arn:aws:securityhub:eu-west-1:111111111111:product/111111111111/default".into(),
            generator_id: "iam-key-rotator/IamKeyRotator/stuck".into(),
            aws_account_id: "111111111111".into(),
            types: vec![asff::FINDING_TYPE.into()],
            first_observed_at: Some("2026-01-01T00:00:00Z".into()),
            last_observed_at: Some("2026-01-02T00:00:00.000Z".into()),
            created_at: "2026-01-01T00:00:00.000Z".into(),
            updated_at: "2026-01-02T00:00:00.000Z".into(),
            severity: asff::Severity {
                label: "HIGH".into(),
            },
            title: "t".into(),
            description: "d".into(),
            remediation: Some(asff::Remediation {
                recommendation: asff::Recommendation { text: "r".into() },
            }),
            product_fields: BTreeMap::from([("rotator/User".into(), "alice".into())]),
            resources: vec![asff::Resource {
                kind: "AwsSecretsManagerSecret".into(),
                id: "arn:aws:secretsmanager:eu-west-1:111111111111:secret:IamKeyRotator/alice-AbCdEf".into(),
                partition: Some("aws".into()),
                region: Some("eu-west-1".into()),
            }],
            workflow: Some(asff::Workflow {
                status: "NEW".into(),
            }),
            record_state: "ACTIVE".into(),
        };
        assert_eq!(from_sdk(&to_sdk(&finding)), finding);
    }
}
