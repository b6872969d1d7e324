//! The SDK adapters against moto: every port method, the state it leaves and its error kinds.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use rotator_aws::RequestCounter;
use rotator_aws::adapters::{
    IamAdapter, NotifierAdapter, SecretsManagerAdapter, StsCredentialCheck,
};
use rotator_core::ports::{
    CredentialCheck, Iam, KeyStatus, Notice, Notifier, PortError, PortErrorKind, PortResult,
    SecretStore, Tag, VersionRef,
};
use rotator_core::{
    AWSCURRENT, AWSPENDING, AWSPREVIOUS, AccessKeyId, ClientRequestToken, KeyPair, RotationToken,
    SecretAccessKey, SecretId, SecretString, UserName,
};
use rotator_harness::moto::ACCOUNT;
use rotator_harness::{Fixture, Moto, new_token};

// Helpers.

fn user(name: &str) -> Result<UserName> {
    UserName::new(name).map_err(anyhow::Error::msg)
}

fn key_id(id: &str) -> Result<AccessKeyId> {
    AccessKeyId::new(id).map_err(anyhow::Error::msg)
}

fn key_pair(id: &str, secret: &str) -> Result<KeyPair> {
    Ok(KeyPair {
        access_key_id: key_id(id)?,
        secret_access_key: SecretAccessKey::new(secret),
    })
}

fn tag(key: &str, value: &str) -> Tag {
    Tag {
        key: key.to_owned(),
        value: value.to_owned(),
    }
}

fn tag_map(tags: &[Tag]) -> BTreeMap<String, String> {
    tags.iter()
        .map(|t| (t.key.clone(), t.value.clone()))
        .collect()
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs())
}

/// The error a call returned; a call that succeeded fails the test.
fn error_of<T: Debug>(result: PortResult<T>) -> PortError {
    match result {
        Ok(value) => panic!("expected an error, got Ok({value:?})"),
        Err(error) => error,
    }
}

/// The kind of the error a call returned; a call that succeeded fails the test.
fn error_kind<T: Debug>(result: PortResult<T>) -> PortErrorKind {
    error_of(result).kind
}

async fn iam(moto: &Moto) -> IamAdapter {
    IamAdapter::new(aws_sdk_iam::Client::new(&moto.sdk_config().await))
}

async fn secrets(moto: &Moto) -> SecretsManagerAdapter {
    SecretsManagerAdapter::new(aws_sdk_secretsmanager::Client::new(
        &moto.sdk_config().await,
    ))
}

async fn sts(moto: &Moto) -> StsCredentialCheck {
    StsCredentialCheck::new(moto.sdk_config().await, RequestCounter::default())
}

async fn notifier(moto: &Moto, topic: Option<&str>, sender: Option<&str>) -> NotifierAdapter {
    let config = moto.sdk_config().await;
    NotifierAdapter::new(
        aws_sdk_sns::Client::new(&config),
        aws_sdk_sesv2::Client::new(&config),
        topic.map(str::to_owned),
        sender.map(str::to_owned),
    )
}

/// The secret's ARN, read through the administrator's client.
async fn secret_arn(fx: &Fixture, name: &str) -> Result<String> {
    let out = fx.secrets.describe_secret().secret_id(name).send().await?;
    out.arn().map(str::to_owned).context("no secret ARN")
}

/// The version that carries `stage`, read through the fixture.
async fn version_with(fx: &Fixture, secret: &str, stage: &str) -> Result<String> {
    fx.stages(secret)
        .await?
        .into_iter()
        .find(|(_, stages)| stages.iter().any(|s| s == stage))
        .map(|(version, _)| version)
        .with_context(|| format!("no version carries {stage}"))
}

fn stages(pairs: &[(&str, &[&str])]) -> BTreeMap<String, Vec<String>> {
    pairs
        .iter()
        .map(|(version, stages)| {
            (
                (*version).to_owned(),
                stages.iter().map(|s| (*s).to_owned()).collect(),
            )
        })
        .collect()
}

fn current(stage: &str) -> VersionRef<'_> {
    VersionRef {
        version_id: None,
        stage,
    }
}

// IAM: access keys.

#[tokio::test]
async fn list_access_keys_reports_ids_statuses_and_creation_times() -> Result<()> {
    let moto = Moto::start().await?;
    let fx = Fixture::new(&moto).await;
    let iam = iam(&moto).await;
    fx.create_user("alice").await?;
    let alice = user("alice")?;
    assert!(iam.list_access_keys(&alice).await?.is_empty());

    let before = now();
    let (active, _) = fx.create_key("alice").await?;
    let (inactive, _) = fx.create_key("alice").await?;
    fx.iam
        .update_access_key()
        .user_name("alice")
        .access_key_id(&inactive)
        .status(aws_sdk_iam::types::StatusType::Inactive)
        .send()
        .await?;
    let after = now();

    let mut listed = iam.list_access_keys(&alice).await?;
    listed.sort_by(|a, b| a.id.cmp(&b.id));
    let mut expected = vec![
        (key_id(&active)?, KeyStatus::Active),
        (key_id(&inactive)?, KeyStatus::Inactive),
    ];
    expected.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        listed
            .iter()
            .map(|k| (k.id.clone(), k.status))
            .collect::<Vec<_>>(),
        expected
    );
    for key in &listed {
        // moto stores creation times with whole seconds; allow a little clock slack.
        let created = key.created.context("a key without a creation time")?;
        assert!(
            (before.saturating_sub(5)..=after + 5).contains(&created),
            "{created} is not within {before}..={after}"
        );
    }
    Ok(())
}

#[tokio::test]
async fn create_access_key_returns_a_working_secret_and_a_third_key_exceeds_the_limit() -> Result<()>
{
    let moto = Moto::start().await?;
    let fx = Fixture::new(&moto).await;
    let iam = iam(&moto).await;
    fx.create_user("alice").await?;
    let alice = user("alice")?;

    let first = iam.create_access_key(&alice).await?;
    assert_eq!(
        fx.keys("alice").await?,
        vec![(first.id.as_str().to_owned(), "Active".to_owned())]
    );
    let arn = fx
        .caller_arn(&moto, first.id.as_str(), first.secret.expose())
        .await?;
    assert_eq!(arn, format!("arn:aws:iam::{ACCOUNT}:user/alice"));

    let second = iam.create_access_key(&alice).await?;
    assert_ne!(second.id, first.id);
    let kind = error_kind(iam.create_access_key(&alice).await);
    assert_eq!(kind, PortErrorKind::LimitExceeded);
    let ids: Vec<_> = fx.keys("alice").await?.into_iter().map(|k| k.0).collect();
    assert_eq!(
        ids,
        vec![first.id.as_str().to_owned(), second.id.as_str().to_owned()]
    );
    Ok(())
}

#[tokio::test]
async fn set_access_key_status_deactivates_and_reactivates() -> Result<()> {
    let moto = Moto::start().await?;
    let fx = Fixture::new(&moto).await;
    let iam = iam(&moto).await;
    fx.create_user("alice").await?;
    let alice = user("alice")?;
    let (id, _) = fx.create_key("alice").await?;
    let key = key_id(&id)?;

    iam.set_access_key_status(&alice, &key, KeyStatus::Inactive)
        .await?;
    assert_eq!(
        fx.keys("alice").await?,
        vec![(id.clone(), "Inactive".to_owned())]
    );
    // Setting the status it already has is accepted.
    iam.set_access_key_status(&alice, &key, KeyStatus::Inactive)
        .await?;
    iam.set_access_key_status(&alice, &key, KeyStatus::Active)
        .await?;
    assert_eq!(fx.keys("alice").await?, vec![(id, "Active".to_owned())]);

    let missing = key_id("AKIAIOSFODNN7EXAMPLE")?;
    let kind = error_kind(
        iam.set_access_key_status(&alice, &missing, KeyStatus::Inactive)
            .await,
    );
    assert_eq!(kind, PortErrorKind::NotFound);
    Ok(())
}

#[tokio::test]
async fn delete_access_key_removes_only_that_key() -> Result<()> {
    let moto = Moto::start().await?;
    let fx = Fixture::new(&moto).await;
    let iam = iam(&moto).await;
    fx.create_user("alice").await?;
    let alice = user("alice")?;
    let (doomed, _) = fx.create_key("alice").await?;
    let (kept, _) = fx.create_key("alice").await?;

    iam.delete_access_key(&alice, &key_id(&doomed)?).await?;
    assert_eq!(fx.keys("alice").await?, vec![(kept, "Active".to_owned())]);

    // Deleting it again, or deleting a key that never existed, is NotFound.
    let kind = error_kind(iam.delete_access_key(&alice, &key_id(&doomed)?).await);
    assert_eq!(kind, PortErrorKind::NotFound);
    let missing = key_id("AKIAIOSFODNN7EXAMPLE")?;
    let kind = error_kind(iam.delete_access_key(&alice, &missing).await);
    assert_eq!(kind, PortErrorKind::NotFound);
    let kind = error_kind(iam.delete_access_key(&user("nobody")?, &missing).await);
    assert_eq!(kind, PortErrorKind::NotFound);
    Ok(())
}

// IAM: user tags.

#[tokio::test]
async fn tag_user_overwrites_and_untag_user_removes() -> Result<()> {
    let moto = Moto::start().await?;
    let fx = Fixture::new(&moto).await;
    let iam = iam(&moto).await;
    fx.create_user("alice").await?;
    let alice = user("alice")?;
    assert!(iam.list_user_tags(&alice).await?.is_empty());

    iam.tag_user(&alice, &[tag("a", "1"), tag("b", "2")])
        .await?;
    iam.tag_user(&alice, &[tag("a", "3")]).await?;
    let expected: BTreeMap<_, _> = [("a".to_owned(), "3".to_owned()), ("b".into(), "2".into())]
        .into_iter()
        .collect();
    assert_eq!(fx.user_tags("alice").await?, expected);
    let listed = iam.list_user_tags(&alice).await?;
    assert_eq!(listed.len(), 2, "{listed:?}");
    assert_eq!(tag_map(&listed), expected);

    // Removing a key that is not there is not an error.
    iam.untag_user(&alice, &["a".to_owned(), "absent".to_owned()])
        .await?;
    let expected: BTreeMap<_, _> = [("b".to_owned(), "2".to_owned())].into_iter().collect();
    assert_eq!(fx.user_tags("alice").await?, expected);
    assert_eq!(tag_map(&iam.list_user_tags(&alice).await?), expected);
    Ok(())
}

#[tokio::test]
async fn fifty_user_tags_are_all_listed_and_removed() -> Result<()> {
    // IAM allows 50 tags per user. moto answers ListUserTags in one page whatever the
    // count (IsTruncated is always false), so the adapter's marker loop runs once here.
    let moto = Moto::start().await?;
    let fx = Fixture::new(&moto).await;
    let iam = iam(&moto).await;
    fx.create_user("alice").await?;
    let alice = user("alice")?;
    let tags: Vec<Tag> = (0..50)
        .map(|i| tag(&format!("rotator:{i:02}"), &format!("value {i}")))
        .collect();

    iam.tag_user(&alice, &tags).await?;
    let listed = iam.list_user_tags(&alice).await?;
    assert_eq!(listed.len(), 50);
    assert_eq!(tag_map(&listed), tag_map(&tags));
    assert_eq!(fx.user_tags("alice").await?, tag_map(&tags));

    let keys: Vec<String> = tags.iter().map(|t| t.key.clone()).collect();
    iam.untag_user(&alice, &keys).await?;
    assert!(iam.list_user_tags(&alice).await?.is_empty());
    assert!(fx.user_tags("alice").await?.is_empty());
    Ok(())
}

#[tokio::test]
async fn every_call_on_a_missing_user_is_not_found() -> Result<()> {
    let moto = Moto::start().await?;
    let iam = iam(&moto).await;
    let nobody = user("nobody")?;
    let kinds = [
        (
            "ListAccessKeys",
            error_kind(iam.list_access_keys(&nobody).await),
        ),
        (
            "CreateAccessKey",
            error_kind(iam.create_access_key(&nobody).await),
        ),
        (
            "ListUserTags",
            error_kind(iam.list_user_tags(&nobody).await),
        ),
        (
            "TagUser",
            error_kind(iam.tag_user(&nobody, &[tag("a", "1")]).await),
        ),
        (
            "UntagUser",
            error_kind(iam.untag_user(&nobody, &["a".to_owned()]).await),
        ),
    ];
    for (call, kind) in kinds {
        assert_eq!(kind, PortErrorKind::NotFound, "{call}");
    }
    Ok(())
}

// Secrets Manager.

#[tokio::test]
async fn describe_reports_name_rotation_versions_and_tags() -> Result<()> {
    let moto = Moto::start().await?;
    let fx = Fixture::new(&moto).await;
    let store = secrets(&moto).await;
    fx.create_secret(
        "iam/alice",
        r#"{"UserName":"alice"}"#,
        Some("alice@example.com, ops@example.com"),
    )
    .await?;
    let by_name = SecretId::new("iam/alice")?;
    let by_arn = SecretId::new(secret_arn(&fx, "iam/alice").await?)?;
    let first = version_with(&fx, "iam/alice", AWSCURRENT).await?;

    let before = store.describe(&by_name).await?;
    assert_eq!(before.name, "iam/alice");
    assert!(!before.rotation_enabled);
    assert_eq!(before.versions, stages(&[(&first, &[AWSCURRENT])]));
    assert_eq!(
        before.tags.get("NotifyEmail").map(String::as_str),
        Some("alice@example.com, ops@example.com")
    );
    assert_eq!(before.tags.len(), 1, "{:?}", before.tags);

    let token = new_token();
    fx.start_rotation("iam/alice", &token).await?;
    // Secrets Manager's events name the secret by ARN: the name still comes back.
    let after = store.describe(&by_arn).await?;
    assert_eq!(after.name, "iam/alice");
    assert!(after.rotation_enabled);
    assert_eq!(
        after.versions,
        stages(&[(&first, &[AWSCURRENT]), (&token, &[AWSPENDING])])
    );
    assert_eq!(after.version_with_stage(AWSPENDING), Some(token.as_str()));
    assert_eq!(after.tags, before.tags);
    Ok(())
}

#[tokio::test]
async fn describe_of_a_missing_secret_is_not_found() -> Result<()> {
    let moto = Moto::start().await?;
    let store = secrets(&moto).await;
    let kind = error_kind(store.describe(&SecretId::new("iam/nobody")?).await);
    assert_eq!(kind, PortErrorKind::NotFound);
    Ok(())
}

#[tokio::test]
async fn get_value_reads_by_stage_and_by_version() -> Result<()> {
    let moto = Moto::start().await?;
    let fx = Fixture::new(&moto).await;
    let store = secrets(&moto).await;
    let value = r#"{"UserName":"alice","Team":"payments"}"#;
    fx.create_secret("iam/alice", value, None).await?;
    let secret = SecretId::new(secret_arn(&fx, "iam/alice").await?)?;
    let first = version_with(&fx, "iam/alice", AWSCURRENT).await?;

    let read = store.get_value(&secret, current(AWSCURRENT)).await?;
    assert_eq!(read.as_ref().map(SecretString::expose), Some(value));
    let pinned = VersionRef {
        version_id: Some(&first),
        stage: AWSCURRENT,
    };
    let read = store.get_value(&secret, pinned).await?;
    assert_eq!(read.as_ref().map(SecretString::expose), Some(value));

    // RotateSecret leaves an empty AWSPENDING version: it exists but holds no value.
    let token = new_token();
    fx.start_rotation("iam/alice", &token).await?;
    let pending = VersionRef {
        version_id: Some(&token),
        stage: AWSPENDING,
    };
    assert!(store.get_value(&secret, pending).await?.is_none());
    assert!(
        store
            .get_value(&secret, current(AWSPENDING))
            .await?
            .is_none()
    );
    // AWSCURRENT is still read by its stage, although moto now treats the token as the
    // secret's default version.
    let read = store.get_value(&secret, current(AWSCURRENT)).await?;
    assert_eq!(read.as_ref().map(SecretString::expose), Some(value));

    // A version pinned with a stage it does not carry: moto answers InvalidRequestException.
    let mismatch = VersionRef {
        version_id: Some(&first),
        stage: AWSPENDING,
    };
    let kind = error_kind(store.get_value(&secret, mismatch).await);
    assert_eq!(kind, PortErrorKind::InvalidRequest);
    Ok(())
}

// Secrets Manager answers a missing secret and a version without a value alike
// (ResourceNotFoundException). The rotator always runs DescribeSecret first, which fails
// for a missing secret, so `get_value` reads that answer as "no value" and saves a request.

#[tokio::test]
async fn put_pending_fills_the_version_that_rotate_secret_left_empty() -> Result<()> {
    let moto = Moto::start().await?;
    let fx = Fixture::new(&moto).await;
    let store = secrets(&moto).await;
    let old = r#"{"UserName":"alice"}"#;
    fx.create_secret("iam/alice", old, None).await?;
    let secret = SecretId::new(secret_arn(&fx, "iam/alice").await?)?;
    let first = version_with(&fx, "iam/alice", AWSCURRENT).await?;
    let token = new_token();
    fx.start_rotation("iam/alice", &token).await?;

    let new = SecretString::new(r#"{"UserName":"alice","AccessKeyId":"AKIAEXAMPLEEXAMPLE01"}"#);
    let crt = ClientRequestToken::new(token.clone())?;
    store.put_pending(&secret, &crt, &new, None).await?;
    let expected = stages(&[(&first, &[AWSCURRENT]), (&token, &[AWSPENDING])]);
    assert_eq!(fx.stages("iam/alice").await?, expected);
    let pending = VersionRef {
        version_id: Some(&token),
        stage: AWSPENDING,
    };
    let read = store.get_value(&secret, pending).await?;
    assert_eq!(read.as_ref().map(SecretString::expose), Some(new.expose()));
    let current_value = fx.value("iam/alice", AWSCURRENT).await?;
    assert_eq!(current_value, Some(serde_json::from_str(old)?));

    // A retry with the same token and value succeeds and changes nothing.
    store.put_pending(&secret, &crt, &new, None).await?;
    assert_eq!(fx.stages("iam/alice").await?, expected);
    let read = store.get_value(&secret, pending).await?;
    assert_eq!(read.as_ref().map(SecretString::expose), Some(new.expose()));
    Ok(())
}

#[tokio::test]
async fn put_pending_creates_the_version_and_accepts_a_rotation_token() -> Result<()> {
    // moto ignores RotationToken; this checks that passing one breaks nothing.
    let moto = Moto::start().await?;
    let fx = Fixture::new(&moto).await;
    let store = secrets(&moto).await;
    fx.create_secret("iam/alice", r#"{"UserName":"alice"}"#, None)
        .await?;
    let secret = SecretId::new("iam/alice")?;
    let first = version_with(&fx, "iam/alice", AWSCURRENT).await?;
    let token = new_token();
    let crt = ClientRequestToken::new(token.clone())?;
    let rotation_token = RotationToken::new("rotation-token-from-secrets-manager")?;
    let new = SecretString::new(r#"{"UserName":"alice","Note":"new"}"#);

    store
        .put_pending(&secret, &crt, &new, Some(&rotation_token))
        .await?;
    assert_eq!(
        fx.stages("iam/alice").await?,
        stages(&[(&first, &[AWSCURRENT]), (&token, &[AWSPENDING])])
    );
    let read = store.get_value(&secret, current(AWSPENDING)).await?;
    assert_eq!(read.as_ref().map(SecretString::expose), Some(new.expose()));
    store
        .put_pending(&secret, &crt, &new, Some(&rotation_token))
        .await?;
    Ok(())
}

#[tokio::test]
async fn put_pending_on_a_missing_secret_is_not_found() -> Result<()> {
    let moto = Moto::start().await?;
    let store = secrets(&moto).await;
    let crt = ClientRequestToken::new(new_token())?;
    let value = SecretString::new(r#"{"UserName":"alice"}"#);
    let kind = error_kind(
        store
            .put_pending(&SecretId::new("iam/nobody")?, &crt, &value, None)
            .await,
    );
    assert_eq!(kind, PortErrorKind::NotFound);
    Ok(())
}

#[tokio::test]
async fn update_stage_finishes_a_rotation_as_finish_secret_does() -> Result<()> {
    let moto = Moto::start().await?;
    let fx = Fixture::new(&moto).await;
    let store = secrets(&moto).await;
    let old = r#"{"UserName":"alice","Generation":1}"#;
    fx.create_secret("iam/alice", old, None).await?;
    let secret = SecretId::new(secret_arn(&fx, "iam/alice").await?)?;
    let first = version_with(&fx, "iam/alice", AWSCURRENT).await?;

    let token = new_token();
    fx.start_rotation("iam/alice", &token).await?;
    let new = r#"{"UserName":"alice","Generation":2}"#;
    store
        .put_pending(
            &secret,
            &ClientRequestToken::new(token.clone())?,
            &SecretString::new(new),
            None,
        )
        .await?;

    // AWSCURRENT moves to the token and the old version becomes AWSPREVIOUS.
    store
        .update_stage(&secret, AWSCURRENT, Some(&token), Some(&first))
        .await?;
    assert_eq!(
        fx.stages("iam/alice").await?,
        stages(&[
            (&first, &[AWSPREVIOUS]),
            (&token, &[AWSPENDING, AWSCURRENT])
        ])
    );
    // AWSPENDING comes off the token.
    store
        .update_stage(&secret, AWSPENDING, None, Some(&token))
        .await?;
    assert_eq!(
        fx.stages("iam/alice").await?,
        stages(&[(&first, &[AWSPREVIOUS]), (&token, &[AWSCURRENT])])
    );
    assert_eq!(
        fx.value("iam/alice", AWSCURRENT).await?,
        Some(serde_json::from_str(new)?)
    );
    assert_eq!(
        fx.value("iam/alice", AWSPREVIOUS).await?,
        Some(serde_json::from_str(old)?)
    );
    assert_eq!(
        store.describe(&secret).await?.versions,
        stages(&[(&first, &[AWSPREVIOUS]), (&token, &[AWSCURRENT])])
    );

    // A second rotation leaves the first version with no label: it is no longer listed.
    let second = new_token();
    fx.start_rotation("iam/alice", &second).await?;
    store
        .put_pending(
            &secret,
            &ClientRequestToken::new(second.clone())?,
            &SecretString::new(r#"{"UserName":"alice","Generation":3}"#),
            None,
        )
        .await?;
    store
        .update_stage(&secret, AWSCURRENT, Some(&second), Some(&token))
        .await?;
    store
        .update_stage(&secret, AWSPENDING, None, Some(&second))
        .await?;
    assert_eq!(
        store.describe(&secret).await?.versions,
        stages(&[(&token, &[AWSPREVIOUS]), (&second, &[AWSCURRENT])])
    );
    Ok(())
}

#[tokio::test]
async fn update_stage_refusals() -> Result<()> {
    let moto = Moto::start().await?;
    let fx = Fixture::new(&moto).await;
    let store = secrets(&moto).await;
    fx.create_secret("iam/alice", r#"{"UserName":"alice"}"#, None)
        .await?;
    let secret = SecretId::new("iam/alice")?;
    let first = version_with(&fx, "iam/alice", AWSCURRENT).await?;
    let before = fx.stages("iam/alice").await?;

    // Removing a label from a version that does not carry it: InvalidParameterException.
    let kind = error_kind(
        store
            .update_stage(&secret, AWSPENDING, None, Some(&first))
            .await,
    );
    assert_eq!(kind, PortErrorKind::InvalidRequest);
    assert_eq!(fx.stages("iam/alice").await?, before);

    let missing = SecretId::new("iam/nobody")?;
    let kind = error_kind(
        store
            .update_stage(&missing, AWSPENDING, None, Some(&first))
            .await,
    );
    assert_eq!(kind, PortErrorKind::NotFound);

    // Moving a label to a version that does not exist: InvalidParameterException too. moto
    // has already taken the label off RemoveFromVersionId when it refuses (AWS checks first),
    // so this comes last and the state after it is not asserted.
    let unknown = new_token();
    let kind = error_kind(
        store
            .update_stage(&secret, AWSCURRENT, Some(&unknown), Some(&first))
            .await,
    );
    assert_eq!(kind, PortErrorKind::InvalidRequest);
    Ok(())
}

// STS.
//
// moto authenticates an Inactive key exactly like an Active one (its request
// authentication looks the key up by id and never reads its status), whereas AWS answers
// InvalidClientTokenId. That is not behaviour worth asserting, so no test pins it: the
// rotator's testSecret only ever checks a freshly created, active key.

#[tokio::test]
async fn a_fresh_key_authenticates_as_its_user() -> Result<()> {
    let moto = Moto::start().await?;
    let fx = Fixture::new(&moto).await;
    let sts = sts(&moto).await;
    fx.create_user("alice").await?;
    let (id, secret) = fx.create_key("alice").await?;

    let arn = sts.caller_arn(&key_pair(&id, &secret)?).await?;
    assert_eq!(arn, format!("arn:aws:iam::{ACCOUNT}:user/alice"));
    Ok(())
}

#[tokio::test]
async fn a_deleted_key_is_invalid_credentials() -> Result<()> {
    let moto = Moto::start().await?;
    let fx = Fixture::new(&moto).await;
    let sts = sts(&moto).await;
    fx.create_user("alice").await?;
    let (id, secret) = fx.create_key("alice").await?;
    fx.iam
        .delete_access_key()
        .user_name("alice")
        .access_key_id(&id)
        .send()
        .await?;

    // moto answers InvalidClientTokenId, as AWS does.
    let error = error_of(sts.caller_arn(&key_pair(&id, &secret)?).await);
    assert_eq!(error.kind, PortErrorKind::InvalidCredentials, "{error}");
    assert!(error.message.starts_with("InvalidClientTokenId"), "{error}");
    Ok(())
}

#[tokio::test]
async fn a_made_up_key_or_a_wrong_secret_is_invalid_credentials() -> Result<()> {
    let moto = Moto::start().await?;
    let fx = Fixture::new(&moto).await;
    let sts = sts(&moto).await;
    let made_up = key_pair(
        "AKIAIOSFODNN7EXAMPLE",
        "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    )?;
    let error = error_of(sts.caller_arn(&made_up).await);
    assert_eq!(error.kind, PortErrorKind::InvalidCredentials, "{error}");
    assert!(error.message.starts_with("InvalidClientTokenId"), "{error}");

    // A real key id signed with the wrong secret: moto answers SignatureDoesNotMatch.
    fx.create_user("alice").await?;
    let (id, _) = fx.create_key("alice").await?;
    let wrong = key_pair(&id, "not-the-secret-of-this-key")?;
    let error = error_of(sts.caller_arn(&wrong).await);
    assert_eq!(error.kind, PortErrorKind::InvalidCredentials, "{error}");
    assert!(
        error.message.starts_with("SignatureDoesNotMatch"),
        "{error}"
    );
    Ok(())
}

// SNS and SES.

fn notice() -> Notice {
    Notice {
        subject: "Rotation of iam/alice failed".to_owned(),
        body: "Step createSecret failed for alice.\nSee the function's logs.".to_owned(),
    }
}

#[tokio::test]
async fn alert_publishes_one_message_on_the_topic() -> Result<()> {
    let moto = Moto::start().await?;
    let fx = Fixture::new(&moto).await;
    let topic = fx.create_topic("rotator-alerts").await?;
    let other = fx.create_topic("someone-else").await?;
    let notifier = notifier(&moto, Some(&topic), None).await;

    let notice = notice();
    notifier.alert(&notice).await?;
    assert_eq!(
        moto.sns_messages(&topic)?,
        vec![(notice.subject.clone(), notice.body.clone())]
    );
    assert!(moto.sns_messages(&other)?.is_empty());
    assert!(moto.ses_emails()?.is_empty());
    Ok(())
}

#[tokio::test]
async fn email_sends_one_message_from_the_verified_sender() -> Result<()> {
    let moto = Moto::start().await?;
    let fx = Fixture::new(&moto).await;
    fx.verify_sender("rotator@example.com").await?;
    let notifier = notifier(&moto, None, Some("rotator@example.com")).await;
    let to = vec!["alice@example.com".to_owned(), "ops@example.com".to_owned()];

    let notice = notice();
    notifier.email(&to, &notice).await?;
    assert_eq!(
        moto.ses_emails()?,
        vec![(to, notice.subject.clone(), notice.body.clone())]
    );
    let data = moto.data()?;
    assert_eq!(
        data["ses"]["Message"][0]["source"].as_str(),
        Some("rotator@example.com")
    );
    Ok(())
}

#[tokio::test]
async fn email_from_an_unverified_sender_fails_and_sends_nothing() -> Result<()> {
    let moto = Moto::start().await?;
    let notifier = notifier(&moto, None, Some("stranger@example.com")).await;

    // moto answers MessageRejected, which is not one of the mapped codes.
    let to = ["alice@example.com".to_owned()];
    let kind = error_kind(notifier.email(&to, &notice()).await);
    assert_eq!(kind, PortErrorKind::Service);
    assert!(moto.ses_emails()?.is_empty());
    Ok(())
}

#[tokio::test]
async fn without_topic_or_sender_nothing_is_sent() -> Result<()> {
    let moto = Moto::start().await?;
    let fx = Fixture::new(&moto).await;
    let topic = fx.create_topic("rotator-alerts").await?;
    fx.verify_sender("rotator@example.com").await?;
    let notifier = notifier(&moto, None, None).await;

    notifier.alert(&notice()).await?;
    notifier
        .email(&["alice@example.com".to_owned()], &notice())
        .await?;
    assert!(moto.sns_messages(&topic)?.is_empty());
    assert!(moto.ses_emails()?.is_empty());
    Ok(())
}

// The mapping of SDK errors.

#[tokio::test]
async fn a_user_without_policies_is_access_denied() -> Result<()> {
    let moto = Moto::start().await?;
    let fx = Fixture::new(&moto).await;
    fx.create_user("alice").await?;
    fx.create_key("alice").await?;
    fx.create_user("mallory").await?;
    let (id, secret) = fx.create_key("mallory").await?;
    let config = moto.sdk_config_for(&id, &secret).await;
    let as_mallory = IamAdapter::new(aws_sdk_iam::Client::new(&config));

    // moto answers AccessDenied ("User: ...:user/mallory is not authorized to perform:
    // iam:ListAccessKeys"), the code AWS uses.
    let error = error_of(as_mallory.list_access_keys(&user("alice")?).await);
    assert_eq!(error.kind, PortErrorKind::AccessDenied, "{error}");
    assert!(error.message.starts_with("AccessDenied"), "{error}");
    let kind = error_kind(as_mallory.create_access_key(&user("alice")?).await);
    assert_eq!(kind, PortErrorKind::AccessDenied);
    assert_eq!(fx.keys("alice").await?.len(), 1);

    // GetCallerIdentity needs no permission: the key still authenticates.
    let arn = sts(&moto)
        .await
        .caller_arn(&key_pair(&id, &secret)?)
        .await?;
    assert_eq!(arn, format!("arn:aws:iam::{ACCOUNT}:user/mallory"));
    Ok(())
}

// The fleet's reads: listing secrets and versions, starting a rotation, a key's last use, the
// credential report; and IAM in a member account.

#[tokio::test]
async fn list_secrets_pages_through_every_secret_under_the_prefix_and_no_other() -> Result<()> {
    let moto = Moto::start().await?;
    let fx = Fixture::new(&moto).await;
    let store = secrets(&moto).await;
    // More than one page of 100, and names that share the prefix's letters but not the prefix.
    for n in 0..105 {
        fx.create_secret(&format!("fleet/user{n:03}"), r#"{"UserName":"x"}"#, None)
            .await?;
    }
    for other in ["fleetwood/user1", "other/fleet/user2", "FLEET/user3"] {
        fx.create_secret(other, r#"{"UserName":"x"}"#, None).await?;
    }
    fx.start_rotation("fleet/user007", &new_token()).await?;

    let listed = store.list_secrets("fleet/").await?;
    let mut names: Vec<&str> = listed.iter().map(|s| s.name.as_str()).collect();
    names.sort_unstable();
    assert_eq!(names.len(), 105, "{:?}", &names[..5]);
    assert!(names.iter().all(|name| name.starts_with("fleet/user")));
    let rotating = listed
        .iter()
        .find(|s| s.name == "fleet/user007")
        .context("listed")?;
    assert!(rotating.rotation_enabled);
    assert_eq!(rotating.rotation_interval_days, Some(90));
    assert!(rotating.version_with_stage(AWSPENDING).is_some());
    assert!(
        rotating.arn.starts_with("arn:aws:secretsmanager:"),
        "{}",
        rotating.arn
    );
    let idle = listed
        .iter()
        .find(|s| s.name == "fleet/user000")
        .context("listed")?;
    assert!(!idle.rotation_enabled);
    assert_eq!(idle.versions.len(), 1);
    Ok(())
}

#[tokio::test]
async fn list_versions_gives_each_staged_version_with_its_creation_time() -> Result<()> {
    let moto = Moto::start().await?;
    let fx = Fixture::new(&moto).await;
    let store = secrets(&moto).await;
    fx.create_secret("iam/alice", r#"{"UserName":"alice"}"#, None)
        .await?;
    let first = version_with(&fx, "iam/alice", AWSCURRENT).await?;
    let token = new_token();
    fx.start_rotation("iam/alice", &token).await?;

    let mut versions = store.list_versions(&SecretId::new("iam/alice")?).await?;
    versions.sort_by(|a, b| a.id.cmp(&b.id));
    let pending = versions
        .iter()
        .find(|v| v.id == token)
        .context("the pending version")?;
    assert_eq!(pending.stages, [AWSPENDING]);
    let current = versions
        .iter()
        .find(|v| v.id == first)
        .context("the current version")?;
    assert_eq!(current.stages, [AWSCURRENT]);
    let created = pending.created.context("a creation time")?;
    assert!(created.abs_diff(now()) < 120, "{created} vs {}", now());
    // moto answers a missing secret here with a 500 (AWS: ResourceNotFoundException), so
    // only the failure itself is checked.
    assert!(
        store
            .list_versions(&SecretId::new("iam/nobody")?)
            .await
            .is_err()
    );
    Ok(())
}

#[tokio::test]
async fn start_rotation_starts_a_new_version() -> Result<()> {
    let moto = Moto::start().await?;
    let fx = Fixture::new(&moto).await;
    let store = secrets(&moto).await;
    fx.create_secret("iam/alice", r#"{"UserName":"alice"}"#, None)
        .await?;
    // The rotation function is configured by a first RotateSecret (AWS refuses one without it;
    // moto does not, so the test does not rely on either).
    fx.start_rotation("iam/alice", &new_token()).await?;
    let described = store.describe(&SecretId::new("iam/alice")?).await?;
    let previous_pending = described.version_with_stage(AWSPENDING).map(str::to_owned);

    let version = store
        .start_rotation(&SecretId::new("iam/alice")?)
        .await?
        .context("RotateSecret gives the new version")?;
    assert_ne!(previous_pending.as_deref(), Some(version.as_str()));
    // AWS labels the new version AWSPENDING and invokes the configured function. moto forgets
    // the function when RotateSecret does not name it again, and then moves AWSCURRENT to the
    // new version itself; either way the new version is a staged version of the secret.
    let after = store.describe(&SecretId::new("iam/alice")?).await?;
    assert!(
        !after.stages_of(&version).is_empty(),
        "{:?}",
        after.versions
    );
    Ok(())
}

#[tokio::test]
async fn access_key_last_used_reports_when_and_where_a_key_authenticated() -> Result<()> {
    let moto = Moto::start().await?;
    let fx = Fixture::new(&moto).await;
    let iam = iam(&moto).await;
    fx.create_user("alice").await?;
    let (id, secret) = fx.create_key("alice").await?;
    let key = key_id(&id)?;

    let unused = iam.access_key_last_used(&key).await?;
    assert_eq!(unused.when, None, "{unused:?}");
    assert_eq!(unused.service, None, "IAM's N/A is no service");
    // The answer names the key's owner (`UserName`): how createSecret tells another user's
    // adopted key from one that no longer exists.
    assert_eq!(unused.owner.as_deref(), Some("alice"), "{unused:?}");

    // moto records a use when it authenticates a request signed with the key.
    fx.caller_arn(&moto, &id, &secret).await?;
    let used = iam.access_key_last_used(&key).await?;
    let when = used.when.context("a last use")?;
    assert!(when.abs_diff(now()) < 120, "{when}");
    assert_eq!(used.service.as_deref(), Some("sts"), "{used:?}");
    assert!(used.region.is_some(), "{used:?}");

    // A key that no longer exists: moto answers NoSuchEntity, which the adapter maps to
    // NotFound. (AWS's reference documents no error of its own for it; the rotator takes only
    // NotFound for "gone": see the in-memory world's table.)
    iam.delete_access_key(&user("alice")?, &key).await?;
    let gone = iam.access_key_last_used(&key).await;
    assert!(
        gone.as_ref()
            .is_err_and(|e| e.kind == rotator_core::ports::PortErrorKind::NotFound),
        "{gone:?}"
    );
    Ok(())
}

#[tokio::test]
async fn the_credential_report_lists_each_user_with_its_key_slots() -> Result<()> {
    let moto = Moto::start().await?;
    let fx = Fixture::new(&moto).await;
    let iam = iam(&moto).await;
    fx.create_user("alice").await?;
    fx.create_user("bob").await?;
    fx.create_key("alice").await?;
    let (second, _) = fx.create_key("alice").await?;
    iam.set_access_key_status(&user("alice")?, &key_id(&second)?, KeyStatus::Inactive)
        .await?;

    let report = iam.credential_report().await?;
    let alice = report
        .iter()
        .find(|row| row.user == "alice")
        .context("alice")?;
    assert_eq!(alice.keys.len(), 2, "{alice:?}");
    assert_eq!(
        alice.keys.iter().filter(|k| k.active).count(),
        1,
        "{alice:?}"
    );
    assert!(alice.keys.iter().all(|k| k.last_rotated.is_some()));
    assert!(alice.arn.ends_with(":user/alice"), "{}", alice.arn);
    let bob = report.iter().find(|row| row.user == "bob").context("bob")?;
    assert!(bob.keys.is_empty(), "{bob:?}");
    assert!(report.iter().any(|row| row.user == "admin"));
    Ok(())
}

#[tokio::test]
async fn iam_through_the_member_role_acts_in_the_member_account_and_is_cached() -> Result<()> {
    use rotator_aws::adapters::AssumedRoleIam;
    use rotator_core::ports::MemberAccounts;

    let moto = Moto::start().await?;
    let fx = Fixture::new(&moto).await;
    moto.create_member_role("111122223333", "IamKeyRotatorMember")
        .await?;
    let member = Fixture::in_member_account(&moto, "111122223333", "IamKeyRotatorMember").await?;
    member.create_user("alice").await?;
    let (member_key, _) = member.create_key("alice").await?;
    fx.create_user("alice").await?;
    let (own_key, _) = fx.create_key("alice").await?;

    let config = moto.sdk_config().await;
    let requests = RequestCounter::default();
    let members = AssumedRoleIam::new(
        aws_sdk_sts::Client::new(&config),
        config.clone(),
        requests.clone(),
    );
    let role = "arn:aws:iam::111122223333:role/IamKeyRotatorMember";
    let iam = members.iam_as(role, Some("org-7f3a")).await?;
    let listed: Vec<String> = iam
        .list_access_keys(&user("alice")?)
        .await?
        .into_iter()
        .map(|k| k.id.as_str().to_owned())
        .collect();
    assert_eq!(
        listed,
        [member_key],
        "the member account's alice, not the central one ({own_key})"
    );

    requests.take_operations();
    let again = members.iam_as(role, Some("org-7f3a")).await?;
    again.list_access_keys(&user("alice")?).await?;
    assert_eq!(
        requests.take_operations(),
        ["iam:ListAccessKeys"],
        "the credentials are cached: no second AssumeRole"
    );
    Ok(())
}

/// Issue 21: one `AssumeRole` per member role however many of its account's secrets are read at
/// once (single flight). Issue 25: an STS that does not answer is asked again (only a refusal
/// is remembered).
#[tokio::test]
async fn concurrent_readers_share_one_assume_role_and_an_unanswered_one_is_asked_again()
-> Result<()> {
    use rotator_aws::adapters::AssumedRoleIam;
    use rotator_core::ports::MemberAccounts;

    let moto = Moto::start().await?;
    moto.create_member_role("111122223333", "IamKeyRotatorMember")
        .await?;
    let config = moto.sdk_config().await;
    let requests = RequestCounter::default();
    let sts = aws_sdk_sts::Client::from_conf(
        aws_sdk_sts::config::Builder::from(&config)
            .interceptor(requests.for_service("sts"))
            .build(),
    );
    let members = AssumedRoleIam::new(sts, config.clone(), requests.clone());
    let role = "arn:aws:iam::111122223333:role/IamKeyRotatorMember";
    let readers = (0..16).map(|_| members.iam_as(role, None));
    for answer in futures_util::future::join_all(readers).await {
        answer?;
    }
    assert_eq!(requests.count(), 1, "one AssumeRole for 16 readers");

    // An STS that cannot be reached has not refused the role (issue 25, point 6): it is asked
    // again at the next call, so that a timeout, a throttle or a 5xx does not fail every step
    // of the account for minutes. Only a refusal (AccessDenied and the like) is remembered:
    // `rotator_core::accounts::RefusalMemory`'s tests cover which errors, on the core's clock.
    let unreachable_config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .endpoint_url("http://127.0.0.1:9")
        .credentials_provider(aws_sdk_sts::config::Credentials::new(
            "AKIAEXAMPLE000000000",
            "example",
            None,
            None,
            "test",
        ))
        .load()
        .await;
    let attempts = RequestCounter::default();
    let sts = aws_sdk_sts::Client::from_conf(
        aws_sdk_sts::config::Builder::from(&unreachable_config)
            .interceptor(attempts.for_service("sts"))
            .build(),
    );
    let members = AssumedRoleIam::new(sts, unreachable_config.clone(), attempts.clone());
    assert!(members.iam_as(role, None).await.is_err());
    let sent = attempts.count();
    assert!(sent >= 1);
    assert!(members.iam_as(role, None).await.is_err());
    assert!(
        attempts.count() > sent,
        "an unreachable STS is asked again: it refused nothing"
    );
    Ok(())
}
