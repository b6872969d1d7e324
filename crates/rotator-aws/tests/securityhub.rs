//! The Security Hub adapter against moto: the caller's account and region, imports of 100 and
//! their `FailedFindings`, `GetFindings` read to its last page, and the same finding imported
//! twice kept once.
//!
//! moto 5.2.5 differs from Security Hub here: it takes findings without `EnableSecurityHub`,
//! and its `GetFindings` ignores `Filters` (the core filters the answer again).

use std::collections::BTreeMap;

use anyhow::{Context, Result};
use rotator_aws::RequestCounter;
use rotator_core::findings::asff::{self, MAX_FINDINGS_PER_IMPORT};
use rotator_core::findings::{Finding, HubTarget};
use rotator_harness::Moto;
use rotator_harness::moto::ACCOUNT;

fn finding(target: &HubTarget, n: usize) -> Finding {
    let arn = format!(
        "arn:aws:secretsmanager:{}:{}:secret:IamKeyRotator/user{n}-AbCdEf",
        target.region, target.account
    );
    Finding {
        schema_version: asff::SCHEMA_VERSION.into(),
        id: asff::finding_id(&arn, "overdue"),
        product_arn: target.product_arn(),
        generator_id: "iam-key-rotator/IamKeyRotator/overdue".into(),
        aws_account_id: target.account.clone(),
        types: vec![asff::FINDING_TYPE.into()],
        first_observed_at: Some("2026-01-01T00:00:00Z".into()),
        last_observed_at: Some("2026-01-02T00:00:00.000Z".into()),
        created_at: "2026-01-01T00:00:00.000Z".into(),
        updated_at: "2026-01-02T00:00:00.000Z".into(),
        severity: asff::Severity {
            label: "MEDIUM".into(),
        },
        title: format!("overdue: user{n}"),
        description: "The rotation is overdue.".into(),
        remediation: Some(asff::Remediation {
            recommendation: asff::Recommendation {
                text: format!("rotator rotate IamKeyRotator/user{n} --wait"),
            },
        }),
        product_fields: BTreeMap::from([(asff::FIELD_SECRET_ARN.to_owned(), arn.clone())]),
        resources: vec![asff::Resource {
            kind: "AwsSecretsManagerSecret".into(),
            id: arn,
            partition: Some(target.partition.clone()),
            region: Some(target.region.clone()),
        }],
        workflow: Some(asff::Workflow {
            status: "NEW".into(),
        }),
        record_state: asff::ACTIVE.into(),
    }
}

async fn imports_pages_and_failures() -> Result<()> {
    let moto = Moto::start().await?;
    let requests = RequestCounter::default();
    let hub = rotator_aws::security_hub(&moto.sdk_config().await, &requests);
    let target = hub.target().await?;
    assert_eq!(
        target,
        HubTarget {
            partition: "aws".into(),
            region: "us-east-1".into(),
            account: ACCOUNT.into(),
        }
    );
    let all: Vec<Finding> = (0..150).map(|n| finding(&target, n)).collect();
    for batch in all.chunks(MAX_FINDINGS_PER_IMPORT) {
        assert!(hub.import(batch).await?.is_empty());
    }
    // The same finding again, and one Security Hub refuses (no resource).
    let mut refused = finding(&target, 999);
    refused.resources.clear();
    let failed = hub.import(&[all[0].clone(), refused.clone()]).await?;
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(failed[0].id, refused.id);
    assert!(!failed[0].code.is_empty());

    let found = hub
        .active_findings(&target.product_arn(), "iam-key-rotator/IamKeyRotator/")
        .await?;
    assert_eq!(
        found.len(),
        150,
        "two pages, read to the last, no duplicate"
    );
    let by_id: BTreeMap<&str, &Finding> = found.iter().map(|f| (f.id.as_str(), f)).collect();
    assert_eq!(by_id.len(), 150);
    assert_eq!(
        by_id[all[7].id.as_str()],
        &all[7],
        "read back as it was written"
    );
    let operations = requests.take_operations();
    for operation in [
        "securityhub:BatchImportFindings",
        "securityhub:GetFindings",
        "sts:GetCallerIdentity",
    ] {
        assert!(
            operations.iter().any(|o| o == operation),
            "{operation}: {operations:?}"
        );
    }
    Ok(())
}

#[test]
fn the_adapter_imports_reads_every_page_and_names_the_findings_refused() -> Result<()> {
    // In a debug build, the SDK's reading of a `GetFindings` answer needs more stack than a
    // test thread's 2 MiB: the test runs on a thread of 64 MiB.
    std::thread::Builder::new()
        .stack_size(64 << 20)
        .spawn(|| {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?
                .block_on(imports_pages_and_failures())
        })?
        .join()
        .ok()
        .context("the test's thread panicked")?
}
