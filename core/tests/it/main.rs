//! The core crate's integration tests: the rules of each decider given/when/then, the
//! properties, validation and the shared test vectors — one binary.

mod common;
mod device_rules;
mod fallback_rules;
mod group_breaker_rules;
mod properties;
mod server_rules;
mod validation;
mod vectors;
