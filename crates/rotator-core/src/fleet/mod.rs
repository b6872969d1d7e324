//! The fleet: which secrets the rotator manages, what each one holds, and what state it is in.
//!
//! Pure code over the [`Ports`](crate::Ports): the `rotator` CLI's `status` and `audit` and the
//! function's sweep build on it. Listing and inspecting run with bounded concurrency
//! ([`CONCURRENCY`] calls in flight); the adapters paginate.
//!
//! # The inspection API
//!
//! - [`managed_secrets`]`(&ports, prefix)`: every secret whose name starts with `prefix` (by
//!   default [`DEFAULT_PREFIX`], the deployment's `IamKeyRotator/`), sorted by name, with the
//!   metadata that `ListSecrets` gives (rotation enabled, interval, last and next rotation, the
//!   version stages). One request per 100 secrets.
//! - [`inspect`]`(&ports, &metadata)` → [`Inspection`]: what one secret holds, read with
//!   as few requests as its state needs:
//!   - always: the `AWSCURRENT` value (`GetSecretValue` by stage; only the access key id and
//!     the user it names are kept, never the secret) and the bound user's keys with status and
//!     creation time (`ListAccessKeys`; the user is [`bound_user`](crate::rotation::bound_user)
//!     of the secret's name);
//!   - when an `AWSPENDING` version other than `AWSCURRENT`'s exists: its age
//!     (`ListSecretVersionIds`);
//!   - when the user holds a key besides `AWSCURRENT`'s: the `AWSPENDING` value (pinned to its
//!     version) and the `AWSPREVIOUS` value, until every key is explained; then, for a key
//!     still unexplained, the user's tags (`ListUserTags`: the rotator's ledger may own it);
//!   - when the `AWSPREVIOUS` key is still active: its last use (`GetAccessKeyLastUsed`: when,
//!     service, region; IAM reports a use up to about four hours late).
//!
//!   An ok secret whose user holds one key costs two requests.
//!   A secret named `<prefix>/<12-digit account>/<user>` of another account is read with that
//!   account's IAM, through the member role ([`inspect_as`]; one `AssumeRole` per role).
//! - [`inspect_all`]: [`inspect`] over many secrets, [`CONCURRENCY`] at a time, in name order.
//! - [`Inspection::unknown_keys`], [`Inspection::previous_key_info`] and the other helpers
//!   answer the questions that `status`, `audit` and the sweep share.
//!
//! [`status`] turns an inspection into a state (`ok`, `overdue`, `in-progress`, `stuck`,
//! `rotation-disabled`, `broken`, `blocked`, `old-key-in-use`; `unreadable` for a secret whose
//! reads keep failing, which does not stop the others); [`audit`] matches the IAM
//! credential report against the managed secrets; [`rotate`] starts a rotation and follows
//! its stages.

pub mod adopt;
pub mod audit;
mod inspect;
pub mod retire;
pub mod rotate;
pub mod status;
#[cfg(test)]
mod tests;

pub use inspect::{
    Inspection, PendingVersion, StagedValue, StagedVersion, account_of, inspect, inspect_all,
    inspect_as,
};

use futures_util::{StreamExt, stream};

use crate::ports::{PortError, SecretMetadata};
use crate::rotation::Ports;

/// The name prefix of the deployment's secrets (`IamKeyRotator/<user>`).
pub const DEFAULT_PREFIX: &str = "IamKeyRotator/";

/// How many secrets are inspected at once: enough to hide the latency of thousands of calls,
/// few enough to stay well inside the services' request rates.
pub const CONCURRENCY: usize = 16;

/// A call to the outside world that failed while the fleet was read. It names the call and
/// the secret or user it was for; its message is the service's, which holds no secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{operation} for {subject} failed: {error}")]
pub struct FleetError {
    /// The AWS operation, such as `GetSecretValue`.
    pub operation: &'static str,
    /// The secret or user the call was for.
    pub subject: String,
    /// The port's error; part of this error's message, not a separate cause.
    pub error: PortError,
}

impl FleetError {
    pub(crate) fn of(
        operation: &'static str,
        subject: impl Into<String>,
    ) -> impl FnOnce(PortError) -> FleetError {
        let subject = subject.into();
        move |error| FleetError {
            operation,
            subject,
            error,
        }
    }
}

/// Every secret whose name starts with `prefix`, sorted by name (`ListSecrets`, all pages).
pub async fn managed_secrets(
    ports: &Ports,
    prefix: &str,
) -> Result<Vec<SecretMetadata>, FleetError> {
    let mut secrets = ports
        .secrets
        .list_secrets(prefix)
        .await
        .map_err(FleetError::of(
            "ListSecrets",
            format!("the secrets named {prefix}*"),
        ))?;
    secrets.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(secrets)
}

/// Runs `job` over `items` with at most [`CONCURRENCY`] in flight and returns the results in
/// the items' order; the first error ends the run.
pub(crate) async fn bounded<'a, T, R, F, Fut>(items: &'a [T], job: F) -> Result<Vec<R>, FleetError>
where
    F: Fn(&'a T) -> Fut,
    Fut: Future<Output = Result<R, FleetError>> + 'a,
{
    let mut results: Vec<(usize, R)> = Vec::with_capacity(items.len());
    let mut running = stream::iter(items.iter().enumerate().map(|(index, item)| {
        let future = job(item);
        async move { future.await.map(|result| (index, result)) }
    }))
    .buffer_unordered(CONCURRENCY);
    while let Some(result) = running.next().await {
        results.push(result?);
    }
    results.sort_by_key(|(index, _)| *index);
    Ok(results.into_iter().map(|(_, result)| result).collect())
}
