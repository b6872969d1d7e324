//! End to end: `rotator status --findings` against moto, on secrets the real function rotated:
//! the findings a sweep would import, printed as JSON, and nothing imported.

use std::path::Path;

use anyhow::{Context, Result};
use rotator_harness::fleet::{rotator_command, run_cli};
use rotator_harness::{World, WorldOptions, function_binary};

fn cli() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_rotator"))
}

#[tokio::test]
async fn status_findings_prints_what_the_sweep_would_import_and_imports_nothing() -> Result<()> {
    let world = World::start(&function_binary(), WorldOptions::default()).await?;
    let fx = &world.fx;
    for user in ["otto", "bob"] {
        fx.create_user(user).await?;
        fx.create_secret(
            &format!("IamKeyRotator/{user}"),
            &format!(r#"{{"UserName":"{user}"}}"#),
            None,
        )
        .await?;
        fx.rotate_direct(&world.function, &format!("IamKeyRotator/{user}"))
            .await?;
    }
    let (by_hand, by_hand_secret) = fx.create_key("bob").await?;

    let run = run_cli(rotator_command(cli(), &world.moto).args(["status", "--findings"]))?;
    assert_eq!(run.code, Some(1), "a finding needs attention: {run:?}");
    let document = run.json()?;
    let findings = document["Findings"].as_array().context("Findings")?;
    assert_eq!(findings.len(), 1, "{document}");
    let finding = &findings[0];
    assert_eq!(
        finding["ProductFields"]["rotator/Secret"],
        "IamKeyRotator/bob"
    );
    assert_eq!(finding["ProductFields"]["rotator/Problem"], "blocked");
    assert_eq!(finding["Severity"]["Label"], "INFORMATIONAL");
    assert_eq!(finding["SchemaVersion"], "2018-10-08");
    assert_eq!(finding["AwsAccountId"], "123456789012");
    assert!(
        finding["Description"]
            .as_str()
            .unwrap_or_default()
            .contains(&by_hand)
    );
    assert!(!run.stdout.contains(&by_hand_secret));

    // Nothing was imported.
    let hub = aws_sdk_securityhub::Client::new(&fx.config);
    let imported = hub.get_findings().send().await?;
    assert!(imported.findings().is_empty());

    // Not with --json: one output at a time.
    let run =
        run_cli(rotator_command(cli(), &world.moto).args(["status", "--findings", "--json"]))?;
    assert_eq!(run.code, Some(2), "{run:?}");
    Ok(())
}
