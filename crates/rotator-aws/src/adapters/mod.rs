//! The core's ports implemented with the AWS SDK for Rust, and the mapping of SDK errors.

mod deployment;
mod iam;
mod members;
mod notify;
mod secrets;
mod securityhub;
mod sts;

pub use deployment::DeploymentAdapter;
pub use iam::IamAdapter;
pub use members::AssumedRoleIam;
pub use notify::NotifierAdapter;
pub use secrets::SecretsManagerAdapter;
pub use securityhub::SecurityHubAdapter;
pub use sts::StsCredentialCheck;

use aws_sdk_iam::config::http::HttpResponse;
use aws_sdk_iam::error::{ProvideErrorMetadata, SdkError};
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
            // has no <Errors>. Their code and message are still in the body. Only such a body
            // is read: never a successful answer, nor a JSON one (Secrets Manager's), whose
            // text may be a secret value.
            let body = error.raw_response().and_then(xml_error_body);
            match body.and_then(|body| xml_text(body, "Code")) {
                Some(code) => (code, body.and_then(|body| xml_text(body, "Message"))),
                // Timeouts, network failures and the like carry no code.
                None => return PortError::new(PortErrorKind::Service, display_chain(&error)),
            }
        }
    };
    let message = match message {
        Some(message) => format!("{code}: {message}"),
        None => code.clone(),
    };
    PortError::new(kind_of(&code), message)
}

/// An error and its causes, by their `Display` only. `DisplayErrorContext` would append the
/// error's `Debug` form, which for an answer the SDK could not read holds the raw response
/// body: a secret value, or an `AssumeRole` answer's credentials.
fn display_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(inner) = cause {
        let more = inner.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        cause = inner.source();
    }
    text
}

/// The body of an answer that is an XML error: an error status (4xx or 5xx) and a body that
/// is XML (it begins with `<`, after blanks), whatever its `Content-Type` says (moto sends
/// some XML errors as `text/html`, and an XML `Content-Type` on a body that is not XML says
/// nothing the body could be trusted for). A JSON body never begins with `<`.
fn xml_error_body(response: &HttpResponse) -> Option<&[u8]> {
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return None;
    }
    let body = response.body().bytes()?;
    body.trim_ascii_start().starts_with(b"<").then_some(body)
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
        "NoSuchEntity"
        | "NoSuchEntityException"
        | "ResourceNotFoundException"
        | "NotFound"
        | "NotFoundException" => PortErrorKind::NotFound,
        "InvalidClientTokenId"
        | "SignatureDoesNotMatch"
        | "UnrecognizedClientException"
        | "InvalidAccessKeyId"
        | "ExpiredToken"
        | "AuthFailure"
        | "IncompleteSignature" => PortErrorKind::InvalidCredentials,
        // Security Hub answers `InvalidAccessException` when it is not enabled in the account.
        "AccessDenied" | "AccessDeniedException" | "InvalidAccessException" => {
            PortErrorKind::AccessDenied
        }
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
    fn an_unreadable_answer_never_puts_its_body_into_the_error() {
        use aws_sdk_iam::config::http::HttpResponse;
        use aws_smithy_runtime_api::http::StatusCode;
        use aws_smithy_types::body::SdkBody;

        let body = r#"{"SecretString":"{\"SecretAccessKey\":\"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\"}""#;
        let response = HttpResponse::new(
            StatusCode::try_from(200).expect("a status"),
            SdkBody::from(body),
        );
        let error: SdkError<
            aws_sdk_secretsmanager::operation::get_secret_value::GetSecretValueError,
            HttpResponse,
        > = SdkError::response_error("the body ends early", response);
        let port = port_error(error);
        assert_eq!(port.kind, PortErrorKind::Service);
        assert!(!port.message.contains("wJalrXUtnFEMI"), "{}", port.message);
        assert!(
            port.message.contains("the body ends early"),
            "{}",
            port.message
        );
    }

    /// An SDK error that could not read `body`, answered with `status`.
    fn unreadable<E>(status: u16, content_type: &str, body: &str) -> SdkError<E, HttpResponse> {
        use aws_smithy_runtime_api::http::StatusCode;
        use aws_smithy_types::body::SdkBody;

        let mut response = HttpResponse::new(
            StatusCode::try_from(status).expect("a status"),
            SdkBody::from(body),
        );
        response
            .headers_mut()
            .insert("content-type", content_type.to_owned());
        SdkError::response_error("the answer could not be read", response)
    }

    #[test]
    fn a_secret_value_that_looks_like_an_xml_error_never_describes_the_error() {
        type GetValue = aws_sdk_secretsmanager::operation::get_secret_value::GetSecretValueError;
        let value = r#"{\"Note\":\"<Code>Leak</Code><Message>wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY</Message>\"}"#;
        let answers = [
            // Secrets Manager's successful JSON answer, cut short.
            (
                200,
                "application/x-amz-json-1.1",
                format!(r#"{{"SecretString":"{value}""#),
            ),
            // A successful answer, even one labelled XML.
            (
                200,
                "text/xml",
                format!("<Answer><Code>Leak</Code><Message>{value}</Message>"),
            ),
            // An error status with a JSON body.
            (
                400,
                "application/x-amz-json-1.1",
                format!(r#"{{"SecretString":"{value}"}}"#),
            ),
            // A JSON body labelled XML.
            (500, "text/xml", format!(r#"{{"SecretString":"{value}"}}"#)),
        ];
        for (status, content_type, body) in answers {
            let port = port_error(unreadable::<GetValue>(status, content_type, &body));
            assert_eq!(port.kind, PortErrorKind::Service, "{status} {content_type}");
            assert!(
                !port.message.contains("wJalrXUtnFEMI") && !port.message.contains("Leak"),
                "{status} {content_type}: {}",
                port.message
            );
            assert!(
                port.message.contains("the answer could not be read"),
                "{}",
                port.message
            );
        }
    }

    #[test]
    fn an_xml_error_that_the_sdk_could_not_read_is_described_by_its_code() {
        type ListKeys = aws_sdk_iam::operation::list_access_keys::ListAccessKeysError;
        let body = "\n<ErrorResponse><Errors><Error><Code>InvalidClientTokenId</Code>\
                    <Message>The security token included in the request is invalid.</Message>\
                    </Error></Errors></ErrorResponse>";
        for content_type in ["text/xml", "text/html; charset=utf-8"] {
            let port = port_error(unreadable::<ListKeys>(403, content_type, body));
            assert_eq!(
                port.kind,
                PortErrorKind::InvalidCredentials,
                "{content_type}"
            );
            assert_eq!(
                port.message,
                "InvalidClientTokenId: The security token included in the request is invalid."
            );
        }
    }

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
