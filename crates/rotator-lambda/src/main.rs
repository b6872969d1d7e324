//! The rotator Lambda.
fn main() {}
