//! The core's ports implemented with the AWS SDK for Rust, and the mapping of SDK errors.

mod iam;
mod members;
mod notify;
mod secrets;
mod sts;

pub use iam::IamAdapter;
pub use members::AssumedRoleIam;
pub use notify::NotifierAdapter;
pub use secrets::SecretsManagerAdapter;
pub use sts::StsCredentialCheck;

use aws_sdk_iam::config::http::HttpResponse;
use aws_sdk_iam::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use rotator_core::ports::{PortError, PortErrorKind};

/// Turns any SDK error into a port error whose kind follows the service's error code.
/// The message is the service's own (code and text), which never holds secret material.
pub(crate) fn port_error<E>(error: SdkError<E, HttpResponse>) -> PortError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let (code, message) = match error.code() {
        Some(code) => (code.to_owned(), error.message().map(str::to_owned)),
        None => {
            // An XML error the SDK could not read: moto wraps its authentication errors for
            // the Query services (IAM, STS, SNS) in <ErrorResponse><Errors><Error>, where AWS
            // has no <Errors>. Their code and message are still in the body.
            let body = error.raw_response().and_then(|r| r.body().bytes());
            match body.and_then(|body| xml_text(body, "Code")) {
                Some(code) => (code, body.and_then(|body| xml_text(body, "Message"))),
                // Timeouts, network failures and the like carry no code.
                None => {
                    return PortError::new(
                        PortErrorKind::Service,
                        DisplayErrorContext(&error).to_string(),
                    );
                }
            }
        }
    };
    let message = match message {
        Some(message) => format!("{code}: {message}"),
        None => code.clone(),
    };
    PortError::new(kind_of(&code), message)
}

/// The text of the first `<name>` element in an XML body.
fn xml_text(body: &[u8], name: &str) -> Option<String> {
    let body = std::str::from_utf8(body).ok()?;
    let start = body.find(&format!("<{name}>"))? + name.len() + 2;
    let end = start + body[start..].find(&format!("</{name}>"))?;
    Some(body[start..end].trim().to_owned())
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
