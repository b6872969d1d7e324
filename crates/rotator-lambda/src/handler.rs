//! The invocation handler: tells a sweep (`{"Action": "sweep"}`) and a recovery
//! (`{"Action": "recover", "SecretId": S}`) from a rotation step, runs it, encodes the result,
//! and writes its metric line.

use std::time::Instant;

use lambda_runtime::{Diagnostic, LambdaEvent};
use rotator_core::recover::{RECOVER_ACTION, RecoverError, RecoverRequest, Recovery};
use rotator_core::sweep::{Mode, SweepError, Sweeper};
use rotator_core::{EventError, RotationEvent, Rotator, StepError};
use serde_json::{Value, json};

use rotator_aws::RequestCounter;

use crate::metrics::{self, Metrics};

/// The `Action` of the scheduled sweep; the other `Action` the function accepts besides
/// Secrets Manager's steps is [`RECOVER_ACTION`].
pub const SWEEP_ACTION: &str = "sweep";

/// Why an invocation failed; Lambda reports `kind` as the `errorType`.
#[derive(Debug, thiserror::Error)]
pub enum InvocationError {
    #[error("invalid rotation event: {0}")]
    InvalidEvent(#[from] EventError),
    #[error(transparent)]
    Step(#[from] StepError),
    #[error("the sweep failed: {0}")]
    Sweep(#[from] SweepError),
    #[error("the recovery of a stuck rotation was refused or failed: {0}")]
    Recover(#[from] RecoverError),
}

impl InvocationError {
    pub fn kind(&self) -> &'static str {
        match self {
            InvocationError::InvalidEvent(_) => "InvalidEvent",
            InvocationError::Step(step) => step.kind(),
            InvocationError::Sweep(_) => "SweepFailed",
            InvocationError::Recover(error) => error.kind(),
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

/// What the function serves: rotation steps and sweeps, and their metrics.
#[derive(Debug)]
pub struct Service {
    pub rotator: Rotator,
    pub sweeper: Sweeper,
    pub recovery: Recovery,
    pub requests: RequestCounter,
    pub metrics: Metrics,
}

impl Service {
    /// The sweep shares the rotator's ports and settings.
    pub fn new(rotator: Rotator, requests: RequestCounter, metrics: Metrics) -> Self {
        let sweeper = Sweeper::new(rotator.ports().clone(), rotator.settings().clone());
        let recovery = Recovery::new(rotator.clone());
        Self {
            rotator,
            sweeper,
            recovery,
            requests,
            metrics,
        }
    }

    /// The sweep also imports its Security Hub findings into `hub` (`ROTATOR_FINDINGS=on`).
    pub fn with_findings(
        mut self,
        hub: std::sync::Arc<dyn rotator_core::findings::SecurityHub>,
    ) -> Self {
        self.sweeper = self.sweeper.with_findings(hub);
        self
    }
}

/// Handles one invocation, and logs how many AWS requests it made.
pub async fn handle(
    service: &Service,
    event: LambdaEvent<Value>,
) -> Result<Value, InvocationError> {
    let requests = &service.requests;
    let before = requests.count();
    requests.take_operations();
    let result = run(service, event).await;
    tracing::info!(
        aws_requests = requests.count() - before,
        aws_operations = requests.take_operations().join(","),
        ok = result.is_ok(),
        "invocation finished"
    );
    result
}

/// What an invocation asks for.
enum Request {
    Step(RotationEvent),
    Sweep,
    Recover(RecoverRequest),
}

/// An object with `Action` is a sweep or a recovery (and nothing else); any other payload
/// must be a step.
fn request(payload: &Value) -> Result<Request, EventError> {
    let Some(action) = payload.as_object().and_then(|object| object.get("Action")) else {
        return RotationEvent::from_value(payload).map(Request::Step);
    };
    let problem = match action.as_str() {
        Some(SWEEP_ACTION) if payload.get("Step").is_none() => return Ok(Request::Sweep),
        Some(SWEEP_ACTION) => {
            "cannot come with a Step: send either a rotation step or a sweep".to_owned()
        }
        Some(RECOVER_ACTION) => {
            return RecoverRequest::from_value(payload).map(Request::Recover);
        }
        Some(other) => {
            format!("is {other:?}: the only Action is {SWEEP_ACTION:?} or {RECOVER_ACTION:?}")
        }
        None => {
            return Err(EventError::NotAString {
                field: "Action",
                found: rotator_core::types::json_kind(action),
            });
        }
    };
    Err(EventError::InvalidField {
        field: "Action",
        problem,
    })
}

async fn run(service: &Service, event: LambdaEvent<Value>) -> Result<Value, InvocationError> {
    // Lambda's deadline (`Lambda-Runtime-Deadline-Ms`): the core stops waiting in time to
    // report a failure before the invocation is cut off.
    let deadline_ms = Some(event.context.deadline).filter(|deadline| *deadline > 0);
    let request = request(&event.payload).inspect_err(|error| {
        tracing::error!(%error, "refused an invalid event");
    })?;
    let event = match request {
        Request::Sweep => return sweep(service, deadline_ms).await,
        Request::Recover(request) => return recover(service, &request).await,
        Request::Step(event) => event,
    };
    let started = Instant::now();
    let result = service.rotator.handle_until(&event, deadline_ms).await;
    metrics::emit(&service.metrics.step_line(
        event.step,
        started.elapsed(),
        result.as_ref().err().map(StepError::kind),
    ));
    let outcome = result?;
    Ok(json!({
        "step": event.step.as_str(),
        "secretId": event.secret_id.as_str(),
        "outcome": outcome.to_string(),
    }))
}

/// The scheduled sweep: under the `grace` policy it retires old keys; under any other it only
/// counts the fleet for the metrics.
/// It stops beginning secrets shortly before the invocation's deadline (contract §9).
async fn sweep(service: &Service, deadline_ms: Option<u64>) -> Result<Value, InvocationError> {
    let mode = Mode::for_policy(service.rotator.settings().old_key_policy);
    let summary = service
        .sweeper
        .run_until(mode, deadline_ms)
        .await
        .inspect_err(|error| {
            tracing::error!(%error, "the sweep failed");
        })?;
    metrics::emit(&service.metrics.sweep_line(&summary));
    Ok(serde_json::to_value(&summary).unwrap_or_else(|error| json!({"error": error.to_string()})))
}

/// An operator's recovery of a stuck rotation (contract §11), sent by `rotator recover`: the
/// function is the sole writer, so it moves the label and deletes the key. Refusals (a secret
/// outside the prefix, of another shape, or whose value names another user) change nothing.
async fn recover(service: &Service, request: &RecoverRequest) -> Result<Value, InvocationError> {
    let result = service.recovery.recover(request).await;
    if let Some(line) = service.metrics.recover_line(result.as_ref().ok()) {
        metrics::emit(&line);
    }
    let summary = result.inspect_err(|error| {
        tracing::error!(%error, secret = %request.secret_id, "the recovery was refused or failed");
    })?;
    Ok(serde_json::to_value(&summary).unwrap_or_else(|error| json!({"error": error.to_string()})))
}
