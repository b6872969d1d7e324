//! End to end: a first deployment rolled back, then deployed again (issue 19). CloudFormation
//! deletes a secret it created without a recovery window, but the key that the secret's first
//! rotation made stays; the secret created again under the same name has another ARN (Secrets
//! Manager appends six random characters), and must recognise that key as its own (the ledger's
//! digest leaves the random characters out) rather than leave it active and unknown.

use std::path::Path;

use anyhow::Result;
use rotator_harness::{World, WorldOptions};

const USER: &str = "alice";
const SECRET: &str = "IamKeyRotator/alice";

fn binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_rotator-lambda"))
}

#[tokio::test]
async fn a_secret_created_again_under_its_name_cleans_up_the_key_its_predecessor_made() -> Result<()>
{
    let world = World::start(binary(), WorldOptions::default()).await?;
    let fx = &world.fx;
    fx.create_user(USER).await?;
    fx.create_secret(SECRET, r#"{"UserName":"alice"}"#, None)
        .await?;
    let first_arn = fx
        .secrets
        .describe_secret()
        .secret_id(SECRET)
        .send()
        .await?
        .arn()
        .unwrap_or_default()
        .to_owned();

    // The first rotation's createSecret made and recorded a key; then the stack rolled back.
    let token = uuid_like(1);
    fx.start_rotation(SECRET, &token).await?;
    let created = world.invoke("createSecret", SECRET, &token)?;
    assert!(created.ok, "{}", created.output);
    let orphan = fx.keys(USER).await?;
    assert_eq!(orphan.len(), 1);
    fx.secrets
        .delete_secret()
        .secret_id(SECRET)
        .force_delete_without_recovery(true)
        .send()
        .await?;

    // The next deployment creates the secret again: another ARN, the same name.
    fx.create_secret(SECRET, r#"{"UserName":"alice"}"#, None)
        .await?;
    let second_arn = fx
        .secrets
        .describe_secret()
        .secret_id(SECRET)
        .send()
        .await?
        .arn()
        .unwrap_or_default()
        .to_owned();
    assert_ne!(first_arn, second_arn, "moto, like AWS, gives a new ARN");
    world.rotate_ok(SECRET).await?;
    let keys = fx.keys(USER).await?;
    let current = world.key_in(SECRET, "AWSCURRENT").await?.expect("a key");
    assert_eq!(
        keys.iter().map(|(id, _)| id.clone()).collect::<Vec<_>>(),
        [current],
        "the predecessor's key is gone, not left active and unknown"
    );
    fx.ledger_settled(USER).await?;
    Ok(())
}

fn uuid_like(n: u32) -> String {
    format!("0ed1e7ed-0000-4000-8000-{n:012}")
}
