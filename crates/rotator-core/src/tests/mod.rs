//! Everything here is test-only: the in-memory world the core's tests run on, and the suites
//! that drive the rotation, the sweep and adoption through it. The product is the rest of
//! `src/`; the fleet's and the sweep's own tests sit beside their modules.

/// The in-memory AWS the tests run on: users, keys, tags, secrets, a fault plan, IAM's
/// listing lag and member accounts.
pub mod world;

/// The rotation's scenarios: crashes, redeliveries, the old-key policies, notifier failures.
mod scenarios;

/// The promises that real faults and hostile writers put to the test (the ledger, the binding).
mod hardening;

/// Users of other accounts, through the member role.
mod member_scenarios;

/// The `grace` policy and the sweep under early rotations, broken values and deadlines.
mod grace_safety;

/// Adoption of keys that programs already use (contract §10).
mod adoption;

/// What a rotation costs in AWS requests, on a warm instance and on cold ones.
mod requests;

/// Fault-injected property tests over whole sequences, and hostile input for the parsers.
mod properties;

/// No secret retires a key another secret holds, or one AWSCURRENT held minutes ago (issue 25).
mod holders;

/// The recovery of a stuck rotation (contract §11): each branch, faults, and the sweep's.
mod recovery;
