//! The cross-crate integration tests: one binary, one module per subject.

mod alert;
mod campaign_files;
mod coverage;
mod crash;
mod durability;
mod engine;
mod fallback;
mod fault_sim;
mod file_store;
mod fleet;
mod layers;
mod pg_crash;
mod pg_sharded;
mod pg_store;
mod pg_workers;
mod reasons;
mod reboot;
mod replay;
mod rotation;
mod runtime;
mod schema_lock;
mod sharded;
mod store_conformance;
mod store_corruption;
mod wire;
mod wire_vectors;
