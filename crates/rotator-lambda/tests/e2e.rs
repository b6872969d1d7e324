//! End to end: the built function binary served through the Lambda Runtime API emulator,
//! rotating secrets in moto exactly as Secrets Manager drives it.

use std::path::Path;

use anyhow::Result;
use rotator_harness::{Fixture, Function, Moto, event, new_token};
use serde_json::json;

fn binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_rotator-lambda"))
}

#[tokio::test]
async fn first_rotation_creates_a_working_key() -> Result<()> {
    let moto = Moto::start().await?;
    let fx = Fixture::new(&moto).await;
    fx.create_user("alice").await?;
    fx.create_secret(
        "iam/alice",
        r#"{"UserName":"alice","Team":"payments"}"#,
        None,
    )
    .await?;
    let function = Function::start(binary(), &moto, &[])?;
    let rotation = fx.rotate(&function, "iam/alice").await?;
    assert!(
        rotation.succeeded(),
        "{rotation:?}\n{}",
        function.logs().join("\n")
    );
    let keys = fx.keys("alice").await?;
    assert_eq!(keys.len(), 1, "{keys:?}");
    let current = fx.value("iam/alice", "AWSCURRENT").await?.expect("current");
    assert_eq!(current["AccessKeyId"], json!(keys[0].0));
    assert_eq!(current["Team"], "payments");
    let arn = fx
        .caller_arn(
            &moto,
            current["AccessKeyId"].as_str().unwrap(),
            current["SecretAccessKey"].as_str().unwrap(),
        )
        .await?;
    assert!(arn.ends_with(":user/alice"), "{arn}");
    let _ = (event("setSecret", "x", &new_token()),);
    Ok(())
}
