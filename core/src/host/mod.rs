//! The host layer: deciders paired with a store, and every flow a C or binding host runs.
//!
//! * One host type per side: [`DeviceHost`] and [`ServerHost`] pair the
//!   [`Device`](crate::device::Device) and [`Server`](crate::server::Server) deciders with an
//!   [`EventStore`](crate::store::EventStore) (the embedded store by default; any store with
//!   `on_store`): handle a command → decide → append → evolve, through the one loop in
//!   `engine`; open = replay. A refused command appends nothing and is counted per reason in
//!   [`Rejections`] (in memory only: a flood of bad input cannot grow the log).
//! * Each has two layers of calls: the flows of a handset DM stack and of a DM server —
//!   open, receive + apply, tick, next report, care, ingest, stats — one function each,
//!   taking ids as text and keys as bytes and failing with one [`HostError`]; and the typed
//!   core under them (`handle`, `handle_batch`, `ingest_batch`, `state`…). The C API and the
//!   bindings are thin type conversions over the first, so a fix here reaches Rust, C,
//!   Kotlin/Swift and Python at once.
//! * [`keys`]: keys, the slot functions and wire inspection with their argument checks.

mod device;
mod device_core;
pub(crate) mod engine;
mod error;
pub mod keys;
#[cfg(feature = "server")]
mod server;
#[cfg(feature = "server")]
mod server_core;
#[cfg(feature = "server")]
mod server_coverage;
#[cfg(feature = "server")]
mod server_directory;
#[cfg(feature = "server")]
mod server_groups;
#[cfg(feature = "server")]
mod server_package;
#[cfg(feature = "server")]
mod sharded;
mod streams;

#[cfg(feature = "server")]
pub use crate::server::{DirectoryEvent, GROUPS_STREAM};
pub use device::{CareDone, CheckIn, DeviceHost, DueAlert, DueItems, DueReport};
pub use device_core::Pending;
pub use error::{HostError, Layer};
#[cfg(feature = "server")]
pub use server::{SampleView, ServerHost};
#[cfg(feature = "server")]
pub use server_core::{
    AlertIngest, Directory, GroupDirectory, Ingest, IngestRejection, MasterKeys, alert_reports,
    report_from_bytes,
};
#[cfg(feature = "server")]
pub use server_package::{AlertOutcome, PackageOutcome, PackagePlan, package_text};
#[cfg(feature = "server")]
pub use sharded::{
    ShardMap, ShardWorker, ShardedLog, WorkerError, control_stream, copy_stream, shard_stream,
};
pub use streams::{Rejections, RuntimeError};
