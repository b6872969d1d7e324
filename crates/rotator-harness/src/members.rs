//! Member accounts in moto: the member role created in another account, and the administrator's
//! clients acting there through it, for the cross-account tests.

use anyhow::{Context, Result};
use aws_config::SdkConfig;
use aws_sdk_iam::config::Credentials;
use serde_json::json;

use crate::fixture::Fixture;
use crate::moto::Moto;

/// moto routes a request to this account when authentication is off.
const ACCOUNT_HEADER: &str = "x-moto-account-id";

impl Moto {
    /// Creates the role `role` in `account`, allowed every IAM action. moto accepts any
    /// `AssumeRole` (it checks neither that the role exists nor its trust policy or external
    /// id; AWS checks all three), but with authentication on it authorizes an assumed role's
    /// calls by that role's policies, so the role must exist to act in the account. Its
    /// creation runs with authentication briefly off, since the administrator's key belongs to
    /// the default account.
    pub async fn create_member_role(&self, account: &str, role: &str) -> Result<()> {
        self.post("/moto-api/reset-auth", "text/plain", b"inf")?;
        let created = self.create_role_in(account, role).await;
        self.post("/moto-api/reset-auth", "text/plain", b"0")?;
        created
    }

    async fn create_role_in(&self, account: &str, role: &str) -> Result<()> {
        let iam = aws_sdk_iam::Client::new(&self.sdk_config().await);
        let account = account.to_owned();
        let trust = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
            "Principal": {"AWS": format!("arn:aws:iam::{}:root", crate::moto::ACCOUNT)},
            "Action": "sts:AssumeRole"}]});
        let header = account.clone();
        iam.create_role()
            .role_name(role)
            .assume_role_policy_document(trust.to_string())
            .customize()
            .mutate_request(move |request| {
                request.headers_mut().insert(ACCOUNT_HEADER, header.clone());
            })
            .send()
            .await
            .with_context(|| format!("creating the role {role} in account {account}"))?;
        let policy = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
            "Action": ["iam:*", "sts:GetCallerIdentity"], "Resource": "*"}]});
        iam.put_role_policy()
            .role_name(role)
            .policy_name("key-management")
            .policy_document(policy.to_string())
            .customize()
            .mutate_request(move |request| {
                request
                    .headers_mut()
                    .insert(ACCOUNT_HEADER, account.clone());
            })
            .send()
            .await
            .context("allowing the member role IAM")?;
        Ok(())
    }

    /// The administrator's configuration acting in `account` through its role `role`.
    pub async fn member_config(&self, account: &str, role: &str) -> Result<SdkConfig> {
        let config = self.sdk_config().await;
        let assumed = aws_sdk_sts::Client::new(&config)
            .assume_role()
            .role_arn(format!("arn:aws:iam::{account}:role/{role}"))
            .role_session_name("harness")
            .send()
            .await
            .context("assuming the member role")?;
        let issued = assumed
            .credentials()
            .context("AssumeRole gave no credentials")?;
        let credentials = Credentials::new(
            issued.access_key_id(),
            issued.secret_access_key(),
            Some(issued.session_token().to_owned()),
            None,
            "harness-member",
        );
        Ok(config
            .into_builder()
            .credentials_provider(aws_credential_provider(credentials))
            .build())
    }
}

fn aws_credential_provider(
    credentials: Credentials,
) -> aws_sdk_iam::config::SharedCredentialsProvider {
    aws_sdk_iam::config::SharedCredentialsProvider::new(credentials)
}

impl Fixture {
    /// The administrator's fixture acting in `account` through the member role `role`: its IAM
    /// client sees that account's users and keys.
    pub async fn in_member_account(moto: &Moto, account: &str, role: &str) -> Result<Self> {
        let config = moto.member_config(account, role).await?;
        let mut fixture = Fixture::new(moto).await;
        fixture.iam = aws_sdk_iam::Client::new(&config);
        fixture.config = config;
        Ok(fixture)
    }
}
