//! The invocation handler: decodes the event, runs the step, encodes the result.

use lambda_runtime::{Diagnostic, LambdaEvent};
use rotator_core::{EventError, RotationEvent, Rotator, StepError};
use serde_json::{Value, json};

use rotator_aws::RequestCounter;

/// Why an invocation failed; Lambda reports `kind` as the `errorType`.
#[derive(Debug, thiserror::Error)]
pub enum InvocationError {
    #[error("invalid rotation event: {0}")]
    InvalidEvent(#[from] EventError),
    #[error(transparent)]
    Step(#[from] StepError),
}

impl InvocationError {
    pub fn kind(&self) -> &'static str {
        match self {
            InvocationError::InvalidEvent(_) => "InvalidEvent",
            InvocationError::Step(step) => step.kind(),
        }
    }
}

impl From<InvocationError> for Diagnostic {
    fn from(error: InvocationError) -> Self {
        Diagnostic {
            error_type: error.kind().to_owned(),
            error_message: error.to_string(),
        }
    }
}

/// Handles one invocation, and logs how many AWS requests it made.
pub async fn handle(
    rotator: &Rotator,
    requests: &RequestCounter,
    event: LambdaEvent<Value>,
) -> Result<Value, InvocationError> {
    let before = requests.count();
    requests.take_operations();
    let result = run(rotator, event).await;
    tracing::info!(
        aws_requests = requests.count() - before,
        aws_operations = requests.take_operations().join(","),
        ok = result.is_ok(),
        "invocation finished"
    );
    result
}

async fn run(rotator: &Rotator, event: LambdaEvent<Value>) -> Result<Value, InvocationError> {
    // Lambda's deadline (`Lambda-Runtime-Deadline-Ms`): the core stops waiting in time to
    // report a failure before the invocation is cut off.
    let deadline_ms = Some(event.context.deadline).filter(|deadline| *deadline > 0);
    let event = RotationEvent::from_value(&event.payload).inspect_err(|error| {
        tracing::error!(%error, "refused an invalid event");
    })?;
    let outcome = rotator.handle_until(&event, deadline_ms).await?;
    Ok(json!({
        "step": event.step.as_str(),
        "secretId": event.secret_id.as_str(),
        "outcome": outcome.to_string(),
    }))
}
