//! Kotlin, Swift and Python bindings of devcare (uniffi proc-macros, no UDL).
//!
//! The same logic as the C API and the Rust crate: `DeviceAgent` for a handset (its DM tree
//! is a foreign trait, [`DmTree`], implemented in the app's own language) and `CareServer`
//! for a DM server, plus the slot functions whose vectors every binding checks.
//!
//! Each object is a thin wrapper over a [`devcare::host`] type behind a mutex, and each
//! method one host flow: this crate only converts types and errors ([`DevcareError`] from
//! [`devcare::host::HostError`]).
#![forbid(unsafe_code)]

use std::sync::{Mutex, MutexGuard};

mod device;
mod error;
mod keys;
mod server;
mod tree;

pub use device::{CheckInRecord, DeviceAgent, DueAlert, DueReport, PendingWork};
pub use error::DevcareError;
pub use keys::{
    PayloadInfo, ReportInfo, decode_report, derive_device_key, first_report_at, open_payload,
    public_key, retry_delay, sampled, slot,
};
pub use server::{CampaignStats, CareOrder, CareServer, IngestOutcome, IngestResult};
pub use tree::{ApplyOutcome, DmOp, DmSetting, DmTree, DmValue, VerifyOutcome};

uniffi::setup_scaffolding!("devcare");

/// Locks a handle; a panic in another thread does not poison it for good.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
