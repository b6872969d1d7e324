//! Test and demo support for the rotator: the moto emulator, the Lambda Runtime API emulator
//! with the function binary behind it, fixtures, and a driver that rotates like Secrets Manager.

pub mod fixture;
pub(crate) mod http;
pub mod lambda;
pub mod moto;
pub mod paths;

pub use fixture::{Fixture, Rotation, STEPS, event, new_token};
pub use lambda::{Function, Invocation, function_binary};
pub use moto::Moto;
