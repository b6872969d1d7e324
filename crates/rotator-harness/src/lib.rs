//! Test and demo support for the rotator: the moto emulator, the Lambda Runtime API emulator
//! with the function binary behind it, a fault-injecting proxy (mitmproxy), fixtures, and a
//! driver that rotates like Secrets Manager.

pub mod fixture;
pub mod fleet;
pub mod grace;
pub(crate) mod http;
pub mod lambda;
pub mod members;
pub mod moto;
pub mod paths;
pub mod proxy;
pub mod world;

pub use fixture::{Fixture, Rotation, STEPS, event, new_token};
pub use lambda::{Function, Invocation, Launch, function_binary};
pub use moto::Moto;
pub use proxy::{Fault, Issued, Propagation, Proxy, Rule, Seen};
pub use world::{Bound, Delivered, World, WorldOptions};
