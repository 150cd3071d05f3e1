//! Kotlin, Swift and Python bindings of devcare (uniffi proc-macros, no UDL).
//!
//! The same logic as the C API and the Rust crate: `DeviceHost` for a handset (its DM tree
//! is a foreign trait, [`DmTree`], implemented in the app's own language) and `ServerHost`
//! for a DM server, plus the slot functions whose vectors every binding checks.
//!
//! Each object is a thin wrapper over a [`devcare::host`] type behind a mutex, and each
//! method one host flow: this crate only converts types and errors ([`DevcareError`] from
//! [`devcare::host::HostError`]).
#![forbid(unsafe_code)]

use std::cell::RefCell;
use std::ops::{Deref, DerefMut};
use std::sync::{Mutex, MutexGuard};

mod device;
mod error;
#[cfg(feature = "server")]
mod groups;
mod keys;
mod package;
#[cfg(feature = "server")]
mod server;
mod tree;

pub use device::{CheckInRecord, DeviceHost, DueAlert, DueReport, PendingWork, ReportAnswer};
pub use error::DevcareError;
#[cfg(feature = "server")]
pub use groups::GroupBreakerStatus;
#[cfg(feature = "server")]
pub use keys::{KeyFileContents, KeyFileKind, read_key_file, write_key_file};
pub use keys::{
    PayloadInfo, ReportInfo, decode_report, derive_device_key, first_report_at, open_payload,
    public_key, retry_delay, sampled, slot,
};
pub use package::{AlertItem, DueItems, ItemFormat, MessageEncoding};
#[cfg(feature = "server")]
pub use package::{PackageAlert, PackageResult};
#[cfg(feature = "server")]
pub use server::{CampaignStats, CareOrder, IngestOutcome, IngestResult, ServerHost};
pub use tree::{ApplyOutcome, DmOp, DmSetting, DmTree, DmValue, VerifyOutcome};

uniffi::setup_scaffolding!("devcare");

thread_local! {
    /// The handles this thread holds locked: a call on one of them from inside a callback
    /// of that same handle (the app's `DmTree`) would wait for itself for ever.
    static HELD: RefCell<Vec<usize>> = const { RefCell::new(Vec::new()) };
}

/// A locked handle; unlocks (and forgets it was held) on drop.
struct Held<'a, T> {
    guard: MutexGuard<'a, T>,
    addr: usize,
}

impl<T> Deref for Held<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.guard
    }
}

impl<T> DerefMut for Held<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.guard
    }
}

impl<T> Drop for Held<'_, T> {
    fn drop(&mut self) {
        HELD.with(|h| h.borrow_mut().retain(|&a| a != self.addr));
    }
}

/// Locks a handle; a panic in another thread does not poison it for good. A call on a
/// handle from inside one of its own callbacks is refused (`reentrant`) instead of waiting
/// for itself; other threads wait their turn.
fn lock<T>(m: &Mutex<T>) -> Result<Held<'_, T>, DevcareError> {
    let addr = std::ptr::from_ref(m) as usize;
    if HELD.with(|h| h.borrow().contains(&addr)) {
        return Err(DevcareError::Refused {
            reason: "reentrant".into(),
            detail: "called from inside one of this object's own callbacks (DmTree.apply): \
                     return from the callback first"
                .into(),
        });
    }
    let guard = m.lock().unwrap_or_else(|p| p.into_inner());
    HELD.with(|h| h.borrow_mut().push(addr));
    Ok(Held { guard, addr })
}
