//! The host layer: deciders paired with a store, and every flow a C or binding host runs.
//!
//! * [`DeviceAgent`] and [`CareServer`] pair the [`Device`](crate::device::Device) and
//!   [`Server`](crate::server::Server) deciders with an [`EventStore`](crate::store::EventStore):
//!   handle a command → decide → append → evolve; open = replay. A refused command appends
//!   nothing and is counted per reason in [`Rejections`] (in memory only: a flood of bad
//!   input cannot grow the log).
//! * [`DeviceHost`] and [`ServerHost`] are the flows of a handset DM stack and of a DM
//!   server — open, receive + apply, tick, next report, care, ingest, stats — one function
//!   each, taking ids as text and keys as bytes and failing with one [`HostError`]. The C
//!   API and the bindings are thin type conversions over them, so a fix here reaches Rust,
//!   C, Kotlin/Swift and Python at once.
//! * [`keys`]: keys, the slot functions and wire inspection with their argument checks.

mod agent;
#[cfg(feature = "server")]
mod care_server;
mod device;
pub(crate) mod engine;
mod error;
pub mod keys;
#[cfg(feature = "server")]
mod server;
#[cfg(feature = "server")]
mod sharded;
mod streams;

pub use agent::{DeviceAgent, Pending};
#[cfg(feature = "server")]
pub use care_server::{
    CareServer, Directory, GroupDirectory, Ingest, IngestRejection, MasterKeys, alert_reports,
    report_from_bytes,
};
pub use device::{CareDone, CheckIn, DeviceHost, DueAlert, DueReport};
pub use error::{HostError, Layer};
#[cfg(feature = "server")]
pub use server::{AlertIngest, SampleView, ServerHost};
#[cfg(feature = "server")]
pub use sharded::{
    ShardMap, ShardWorker, ShardedLog, WorkerError, control_stream, copy_stream, shard_stream,
};
pub use streams::{Rejections, RuntimeError};
