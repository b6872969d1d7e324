//! The core's ports implemented with the AWS SDK for Rust, and the mapping of SDK errors.

mod iam;
mod notify;
mod secrets;
mod sts;

pub use iam::IamAdapter;
pub use notify::NotifierAdapter;
pub use secrets::SecretsManagerAdapter;
pub use sts::StsCredentialCheck;

use aws_sdk_iam::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use rotator_core::ports::{PortError, PortErrorKind};

/// Turns any SDK error into a port error whose kind follows the service's error code.
/// The message is the service's own (code and text), which never holds secret material.
pub(crate) fn port_error<E, R>(error: SdkError<E, R>) -> PortError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug,
{
    let Some(code) = error.code().map(str::to_owned) else {
        // Timeouts, network failures and the like carry no code.
        return PortError::new(
            PortErrorKind::Service,
            DisplayErrorContext(&error).to_string(),
        );
    };
    let message = match error.message() {
        Some(message) => format!("{code}: {message}"),
        None => code.clone(),
    };
    PortError::new(kind_of(&code), message)
}

/// The port error kind for an AWS error code.
pub(crate) fn kind_of(code: &str) -> PortErrorKind {
    match code {
        "NoSuchEntity" | "NoSuchEntityException" | "ResourceNotFoundException" | "NotFound" => {
            PortErrorKind::NotFound
        }
        "InvalidClientTokenId"
        | "SignatureDoesNotMatch"
        | "UnrecognizedClientException"
        | "InvalidAccessKeyId"
        | "ExpiredToken"
        | "AuthFailure"
        | "IncompleteSignature" => PortErrorKind::InvalidCredentials,
        "AccessDenied" | "AccessDeniedException" => PortErrorKind::AccessDenied,
        "LimitExceeded" | "LimitExceededException" => PortErrorKind::LimitExceeded,
        "Throttling"
        | "ThrottlingException"
        | "TooManyRequestsException"
        | "RequestLimitExceeded" => PortErrorKind::Throttled,
        "InvalidParameterException"
        | "InvalidRequestException"
        | "InvalidParameterValue"
        | "ValidationError"
        | "ValidationException"
        | "ResourceExistsException"
        | "InvalidInput"
        | "MalformedPolicyDocument" => PortErrorKind::InvalidRequest,
        _ => PortErrorKind::Service,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_codes_map_to_kinds() {
        assert_eq!(kind_of("NoSuchEntity"), PortErrorKind::NotFound);
        assert_eq!(
            kind_of("ResourceNotFoundException"),
            PortErrorKind::NotFound
        );
        assert_eq!(
            kind_of("InvalidClientTokenId"),
            PortErrorKind::InvalidCredentials
        );
        assert_eq!(kind_of("LimitExceeded"), PortErrorKind::LimitExceeded);
        assert_eq!(kind_of("Throttling"), PortErrorKind::Throttled);
        assert_eq!(
            kind_of("AccessDeniedException"),
            PortErrorKind::AccessDenied
        );
        assert_eq!(kind_of("InternalFailure"), PortErrorKind::Service);
    }
}
