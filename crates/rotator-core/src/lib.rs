//! IAM access key rotation for AWS Secrets Manager: the four-step state machine behind ports.
//!
//! This crate does no IO and depends on no AWS crate. The Lambda crate implements
//! [`ports`] with the AWS SDK and feeds [`RotationEvent`]s to a [`Rotator`].

pub mod accounts;
pub mod config;
pub mod credential_report;
pub mod doctor;
pub mod error;
pub mod findings;
pub mod fleet;
pub mod ledger;
pub mod notice;
pub mod ports;
pub mod recover;
pub mod rotation;
pub mod secret_value;
pub mod sweep;
pub mod types;

#[cfg(test)]
mod tests;
/// The in-memory world, by the short path the modules' own tests use.
#[cfg(test)]
use tests::world as testing;

pub use config::{ConfigError, OldKeyPolicy, Settings};
pub use error::{RotationError, StepError};
pub use rotation::{AWSCURRENT, AWSPENDING, AWSPREVIOUS, Outcome, Ports, Rotator};
pub use secret_value::{KeyPair, SecretAccessKey, SecretString, SecretValue, SecretValueError};
pub use types::{
    AccessKeyId, AccountId, ClientRequestToken, EventError, RotationEvent, RotationToken, SecretId,
    Step, UserName,
};
