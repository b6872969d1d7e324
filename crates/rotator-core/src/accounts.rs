//! Users of other AWS accounts: which account a secret's name binds, and the member role the
//! function assumes there (contract §3).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use crate::ports::{Iam, PortError, PortErrorKind, Ports, SecretMetadata};
use crate::types::AccountId;

pub use crate::config::{
    DEFAULT_MEMBER_ROLE_NAME, MEMBER_EXTERNAL_ID, MEMBER_ROLE_NAME, MemberRole,
};

/// A member role that could not be assumed, with the role's ARN and the account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberRoleError {
    pub role_arn: String,
    pub account: AccountId,
    pub error: PortError,
}

/// How long a role that refused to be assumed is not asked again: long enough to cover one sweep
/// or `rotator status` of every secret of its account, short enough that a fixed role is used
/// again within minutes by a warm function.
pub const REFUSAL_REMEMBERED: Duration = Duration::from_secs(120);

/// Whether an `AssumeRole` error is the role's refusal, which asking again within minutes would
/// only repeat: access denied (the role's trust policy, the external id, or a missing role: STS
/// answers `AccessDenied` for each), a request STS rejects as malformed, or a role not found.
/// A throttle, a timeout, a 5xx or a network failure is not one: the next call may well succeed,
/// and remembering it would fail every step for the account until the memory expires. Expired
/// or refused credentials of the caller's own are not the role's answer either (the caller's
/// provider renews them).
pub fn is_refusal(error: &PortError) -> bool {
    matches!(
        error.kind,
        PortErrorKind::AccessDenied | PortErrorKind::InvalidRequest | PortErrorKind::NotFound
    )
}

/// The member roles that refused to be assumed, each with its error and when, so that one
/// sweep or status of an account's many secrets asks STS once, not once per secret. Only
/// refusals are kept ([`is_refusal`]), for [`REFUSAL_REMEMBERED`]. The caller gives the time:
/// the core reads no clock of its own.
#[derive(Debug, Default)]
pub struct RefusalMemory {
    refused: Mutex<HashMap<String, (PortError, SystemTime)>>,
}

impl RefusalMemory {
    /// Remembers `error` for `role_arn` when it is a refusal; forgets an earlier refusal
    /// otherwise (the role answered something else since).
    pub fn remember(&self, role_arn: &str, error: &PortError, at: SystemTime) {
        let mut refused = self.refused.lock().unwrap_or_else(|p| p.into_inner());
        if is_refusal(error) {
            refused.insert(role_arn.to_owned(), (error.clone(), at));
        } else {
            refused.remove(role_arn);
        }
    }

    /// The refusal of `role_arn` remembered at `now`, when one is recent enough.
    pub fn recall(&self, role_arn: &str, now: SystemTime) -> Option<PortError> {
        let refused = self.refused.lock().unwrap_or_else(|p| p.into_inner());
        let (error, at) = refused.get(role_arn)?;
        let age = now.duration_since(*at).unwrap_or_default();
        (age < REFUSAL_REMEMBERED).then(|| error.clone())
    }
}

/// The IAM of the account whose user `metadata`'s secret holds: the function's own (`ports.iam`)
/// for a name without an account segment or with the secret's own account, else IAM through
/// `role` assumed in that account (in the partition of the secret's ARN; `aws` when it does not
/// parse). The rotation steps, the fleet's inspection and the sweep all reach a user this way.
pub async fn iam_for_secret(
    ports: &Ports,
    metadata: &SecretMetadata,
    role: &MemberRole,
) -> Result<Arc<dyn Iam>, MemberRoleError> {
    let Some(account) = member_account(metadata) else {
        return Ok(Arc::clone(&ports.iam));
    };
    let own = partition_and_account(&metadata.arn);
    let partition = own.as_ref().map_or("aws", |(partition, _)| partition);
    let role_arn = role.arn_in(partition, &account);
    ports
        .members
        .iam_as(&role_arn, role.external_id.as_deref())
        .await
        .map_err(|error| MemberRoleError {
            role_arn,
            account,
            error,
        })
}

/// The other account whose user the secret holds: the one its name binds, unless that is the
/// secret's own. `None`: the function's own account.
pub fn member_account(metadata: &SecretMetadata) -> Option<AccountId> {
    let account = bound_account(&metadata.name)?;
    let own = partition_and_account(&metadata.arn).map(|(_, own)| own);
    (own.as_ref() != Some(&account)).then_some(account)
}

/// Why `secret_name` is not the name of a secret that the deployment with name prefix
/// `prefix` manages (contract §3), or `None` when it is: exactly `<prefix><user>`, or
/// `<prefix><12-digit account id>/<user>` for a user of another account. Any other shape
/// (`IamKeyRotator/x/alice`, a name outside the prefix) binds nobody: whoever may create a
/// secret under the prefix must not get a key for a user by adding segments.
pub fn name_shape_problem(secret_name: &str, prefix: &str) -> Option<String> {
    let expected = || {
        format!(
            "the secret's name {secret_name} is neither {prefix}<user> nor {prefix}<12-digit account id>/<user>"
        )
    };
    let Some(rest) = secret_name.strip_prefix(prefix) else {
        return Some(format!("{}: it does not start with {prefix}", expected()));
    };
    let user = match rest.split_once('/') {
        None => rest,
        Some((account, user)) if AccountId::new(account).is_ok() && !user.contains('/') => user,
        Some(_) => return Some(expected()),
    };
    if crate::types::UserName::new(user).is_err() {
        return Some(format!("{}: {user:?} is not an IAM user name", expected()));
    }
    None
}

/// The account a secret's name binds: the segment before the user's, when it is 12 digits
/// (`IamKeyRotator/111122223333/alice`). `None`: the secret's own account.
pub fn bound_account(secret_name: &str) -> Option<AccountId> {
    let mut segments = secret_name.rsplit('/');
    segments.next()?;
    AccountId::new(segments.next()?).ok()
}

/// The partition and the account of a secret's ARN (`arn:aws:secretsmanager:REGION:ACCOUNT:...`):
/// the function's own, since it rotates the secrets of its account.
pub fn partition_and_account(secret_arn: &str) -> Option<(&str, AccountId)> {
    let mut parts = secret_arn.split(':');
    if parts.next()? != "arn" {
        return None;
    }
    let partition = parts.next()?;
    let account = parts.nth(2)?;
    Some((partition, AccountId::new(account).ok()?))
}

/// The account of an IAM or STS ARN (`arn:aws:iam::ACCOUNT:user/alice`).
pub fn account_of_arn(arn: &str) -> Option<&str> {
    arn.split(':').nth(4)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |name| {
            pairs
                .iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| (*value).to_owned())
        }
    }

    #[test]
    fn only_a_refusal_is_remembered_and_only_for_a_while() {
        let role = "arn:aws:iam::111122223333:role/IamKeyRotatorMember";
        let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_790_000_000);
        let later = |secs| at + Duration::from_secs(secs);
        for passing in [
            PortError::new(PortErrorKind::Throttled, "Throttling: Rate exceeded"),
            PortError::new(
                PortErrorKind::Service,
                "InternalFailure: 503 Service Unavailable",
            ),
            PortError::new(PortErrorKind::Service, "dispatch failure: timeout"),
            PortError::new(PortErrorKind::InvalidCredentials, "ExpiredToken"),
        ] {
            let memory = RefusalMemory::default();
            memory.remember(role, &passing, at);
            assert_eq!(memory.recall(role, later(1)), None, "{passing:?}");
        }
        let memory = RefusalMemory::default();
        let denied = PortError::new(
            PortErrorKind::AccessDenied,
            "AccessDenied: not authorized to perform sts:AssumeRole",
        );
        memory.remember(role, &denied, at);
        assert_eq!(memory.recall(role, later(1)), Some(denied.clone()));
        assert_eq!(memory.recall(role, later(119)), Some(denied.clone()));
        assert_eq!(memory.recall(role, later(120)), None, "expired");
        assert_eq!(
            memory.recall(
                "arn:aws:iam::444455556666:role/IamKeyRotatorMember",
                later(1)
            ),
            None,
            "per role"
        );
        // A later answer that is not a refusal replaces the refusal.
        memory.remember(
            role,
            &PortError::new(PortErrorKind::Throttled, "Throttling"),
            later(2),
        );
        assert_eq!(memory.recall(role, later(3)), None);
    }

    #[test]
    fn the_segment_before_the_user_binds_the_account() {
        let account = |name| bound_account(name).map(|a| a.as_str().to_owned());
        assert_eq!(
            account("IamKeyRotator/111122223333/alice").as_deref(),
            Some("111122223333")
        );
        assert_eq!(account("IamKeyRotator/alice"), None);
        assert_eq!(account("alice"), None);
        assert_eq!(account("IamKeyRotator/1111-2222-3333/alice"), None);
        assert_eq!(account("team/11112222333/alice"), None, "11 digits");
    }

    #[test]
    fn only_the_two_managed_shapes_of_a_name_bind_a_user() {
        let prefix = "IamKeyRotator/";
        for managed in [
            "IamKeyRotator/alice",
            "IamKeyRotator/111122223333/alice",
            "IamKeyRotator/a.b+c=d,e@f_g-h",
        ] {
            assert_eq!(name_shape_problem(managed, prefix), None, "{managed}");
        }
        for hostile in [
            "IamKeyRotator/x/alice",
            "IamKeyRotator/team-a/alice",
            "IamKeyRotator/111122223333/x/alice",
            "IamKeyRotator/11112222333/alice",
            "IamKeyRotator/",
            "IamKeyRotator/111122223333/",
            "Other/alice",
            "iamkeyrotator/alice",
            "alice",
        ] {
            let problem = name_shape_problem(hostile, prefix).expect(hostile);
            assert!(problem.contains(hostile), "{problem}");
        }
        assert_eq!(name_shape_problem("Team/Keys/alice", "Team/Keys/"), None);
    }

    #[test]
    fn the_secret_arn_gives_partition_and_account() {
        let (partition, account) =
            partition_and_account("arn:aws-cn:secretsmanager:cn-north-1:123456789012:secret:a/b-x")
                .expect("an ARN");
        assert_eq!(partition, "aws-cn");
        assert_eq!(account.as_str(), "123456789012");
        assert!(partition_and_account("IamKeyRotator/alice").is_none());
    }

    #[test]
    fn the_member_role_has_a_default_and_refuses_bad_values_by_name() {
        assert_eq!(
            MemberRole::from_lookup(lookup(&[])).unwrap(),
            MemberRole::default()
        );
        let role = MemberRole::from_lookup(lookup(&[
            (MEMBER_ROLE_NAME, "RotatorMember"),
            (MEMBER_EXTERNAL_ID, "org-7f3a"),
        ]))
        .unwrap();
        assert_eq!(
            role.arn_in("aws", &AccountId::new("111122223333").unwrap()),
            "arn:aws:iam::111122223333:role/RotatorMember"
        );
        assert_eq!(role.external_id.as_deref(), Some("org-7f3a"));
        let bad_name =
            MemberRole::from_lookup(lookup(&[(MEMBER_ROLE_NAME, "a role")])).unwrap_err();
        assert_eq!(bad_name.variable, MEMBER_ROLE_NAME);
        let bad_id = MemberRole::from_lookup(lookup(&[(MEMBER_EXTERNAL_ID, "x")])).unwrap_err();
        assert_eq!(bad_id.variable, MEMBER_EXTERNAL_ID);
    }
}
