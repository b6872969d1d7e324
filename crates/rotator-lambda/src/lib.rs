//! The rotator's Lambda function: the invocation handler. `main.rs` wires it to the adapters
//! of `rotator-aws`; the handler lives in the library so that tests can reach it.

pub mod handler;
pub mod metrics;
