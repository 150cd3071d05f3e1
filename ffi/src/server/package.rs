//! A whole DM message taken as a package: each Alert decided on its own, the other alerts
//! handed back, the Status elements to answer with.

use std::ffi::{CString, c_char};

use devcare::Timestamp;
use devcare::host::{AlertOutcome, HostError, Ingest, PackageOutcome};

use super::*;
use crate::dm::{OwnedItem, c_string, devcare_alert_item, encoding_code};
use crate::result::code_of;

/// A DM message as the server took it, from `devcare_server_ingest_package`: read it with
/// `devcare_package_*`, free it with `devcare_package_free`. Immutable: it may be read from
/// any thread, and lives on after its server is freed.
#[derive(Debug)]
pub struct devcare_package {
    outcome: PackageOutcome,
    msg_id: CString,
    alerts: Vec<OwnedAlert>,
}

#[derive(Debug)]
struct OwnedAlert {
    cmd_id: CString,
    code: CString,
    reason_text: CString,
    reason: devcare_result,
    items: Vec<OwnedItem>,
}

/// One Alert of a package. Its strings are owned by the package.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct devcare_package_alert {
    /// `true` for an alert devcare does not handle: answer it yourself (its CmdID, code and
    /// Items are here untouched); `outcome`, `reason` and `dm_status` are then unset (0).
    pub foreign: bool,
    /// Its `CmdID` (the CmdRef of the Status that answers it).
    pub cmd_id: *const c_char,
    /// Its alert code (`Data` of the Alert), e.g. "1226".
    pub code: *const c_char,
    /// A devcare Alert: accepted, duplicate (acknowledge it), or rejected.
    pub outcome: devcare_ingest,
    /// Why a devcare Alert was rejected (`DEVCARE_OK` otherwise).
    pub reason: devcare_result,
    /// The rejection's message ("" otherwise).
    pub reason_text: *const c_char,
    /// The DM status to answer a devcare Alert with (200, 403, 404, 415, …).
    pub dm_status: u16,
    /// How many Items (`devcare_package_get_item`): a foreign alert's; 0 for devcare's.
    pub n_items: usize,
}

/// Takes a whole OMA DM message (XML or WBXML, told by its first bytes) received at `now_ms`
/// in the DM session of `session_device` — the device the host authenticated, never an id
/// read from the message — as a package: each devcare Generic Alert decided on its own
/// (accepted, duplicate, or rejected with its DM status), every other Alert handed back
/// untouched for the host's own handlers. On `DEVCARE_OK` `*out` is a new package. The
/// whole message is refused, nothing changed and `*out` NULL, only when it is not
/// well-formed (`DEVCARE_ALERT_MALFORMED_XML`, `_MALFORMED_WBXML`: answer 400), over the
/// limits (`_TOO_LARGE`, `_TOO_MANY_ITEMS`: 413), from a device not in the key directory
/// (`_UNKNOWN_SENDER`: 401) or holding a report for another device (`_NOT_SENDER`: 403).
///
/// # Safety
/// `message` valid for `len` bytes; `session_device` NUL-terminated; `out` valid for a
/// write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn devcare_server_ingest_package(
    server: *mut devcare_server,
    message: *const u8,
    len: usize,
    session_device: *const c_char,
    now_ms: u64,
    out: *mut *mut devcare_package,
) -> devcare_result {
    guard(|| {
        try_handle!(h = server);
        let message = try_slice!(message, len, "message");
        let session = try_str!(session_device);
        try_out!(out);
        put!(out, std::ptr::null_mut());
        let outcome = try_host!(h.host.ingest_message(message, session, Timestamp(now_ms)));
        put!(out, Box::into_raw(Box::new(package(outcome))));
        DEVCARE_OK
    })
}

fn package(outcome: PackageOutcome) -> devcare_package {
    let alerts = outcome
        .alerts
        .iter()
        .map(|a| match a {
            AlertOutcome::Devcare { cmd_id, ingest } => {
                let (reason, text) = match ingest {
                    Ingest::Rejected(r) => {
                        let e = HostError::from(r.clone());
                        (code_of(&e), e.to_string())
                    }
                    _ => (DEVCARE_OK, String::new()),
                };
                OwnedAlert {
                    cmd_id: c_string(cmd_id),
                    code: c_string(devcare::alert::GENERIC_ALERT),
                    reason_text: c_string(&text),
                    reason,
                    items: Vec::new(),
                }
            }
            AlertOutcome::Foreign(f) => OwnedAlert {
                cmd_id: c_string(&f.cmd_id),
                code: c_string(&f.code),
                reason_text: c_string(""),
                reason: DEVCARE_OK,
                items: f
                    .items
                    .iter()
                    .map(|it| {
                        OwnedItem::new([
                            it.source.as_deref(),
                            it.target.as_deref(),
                            it.ty.as_deref(),
                            it.format.as_deref(),
                            it.mark.as_deref(),
                            it.data.as_deref(),
                        ])
                    })
                    .collect(),
            },
        })
        .collect();
    devcare_package {
        msg_id: c_string(&outcome.msg_id),
        outcome,
        alerts,
    }
}

/// How many Alerts the message held (0 for NULL).
///
/// # Safety
/// `package` NULL or a live package.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn devcare_package_alert_count(package: *const devcare_package) -> usize {
    // SAFETY: NULL or a live package, per the contract.
    unsafe { package.as_ref() }.map_or(0, |p| p.alerts.len())
}

/// The message's MsgID (the MsgRef of the answers; "1" when it had no header), owned by
/// `package`; NULL for NULL.
///
/// # Safety
/// `package` NULL or a live package.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn devcare_package_msg_id(package: *const devcare_package) -> *const c_char {
    // SAFETY: NULL or a live package, per the contract.
    unsafe { package.as_ref() }.map_or(std::ptr::null(), |p| p.msg_id.as_ptr())
}

/// How the message was encoded: `DEVCARE_ENCODING_XML` or `_WBXML` (answer the same way).
///
/// # Safety
/// `package` NULL or a live package.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn devcare_package_encoding(package: *const devcare_package) -> u32 {
    // SAFETY: NULL or a live package, per the contract.
    unsafe { package.as_ref() }.map_or(crate::dm::DEVCARE_ENCODING_XML, |p| {
        encoding_code(p.outcome.encoding)
    })
}

/// Alert `index` (from 0, message order) into `*out`. `DEVCARE_INVALID_ARGUMENT` past the
/// last.
///
/// # Safety
/// `package` NULL or a live package; `out` valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn devcare_package_get_alert(
    package: *const devcare_package,
    index: usize,
    out: *mut devcare_package_alert,
) -> devcare_result {
    guard(|| {
        try_out!(package, out);
        // SAFETY: non-NULL, a live package per the contract.
        let p = unsafe { &*package };
        let (Some(a), Some(o)) = (p.alerts.get(index), p.outcome.alerts.get(index)) else {
            return fail(
                DEVCARE_INVALID_ARGUMENT,
                format!("alert {index} of {}", p.alerts.len()),
            );
        };
        let (foreign, outcome, dm_status) = match o {
            AlertOutcome::Foreign(_) => (true, devcare_ingest::DEVCARE_INGEST_ACCEPTED, 0),
            AlertOutcome::Devcare { ingest, .. } => {
                (false, ingest_code(ingest), ingest.dm_status())
            }
        };
        put!(
            out,
            devcare_package_alert {
                foreign,
                cmd_id: a.cmd_id.as_ptr(),
                code: a.code.as_ptr(),
                outcome,
                reason: a.reason,
                reason_text: a.reason_text.as_ptr(),
                dm_status,
                n_items: a.items.len(),
            }
        );
        DEVCARE_OK
    })
}

/// Item `item` of alert `alert` into `*out` (strings owned by `package`).
/// `DEVCARE_INVALID_ARGUMENT` past the last.
///
/// # Safety
/// `package` NULL or a live package; `out` valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn devcare_package_get_item(
    package: *const devcare_package,
    alert: usize,
    item: usize,
    out: *mut devcare_alert_item,
) -> devcare_result {
    guard(|| {
        try_out!(package, out);
        // SAFETY: non-NULL, a live package per the contract.
        let p = unsafe { &*package };
        let Some(it) = p.alerts.get(alert).and_then(|a| a.items.get(item)) else {
            return fail(
                DEVCARE_INVALID_ARGUMENT,
                format!("no item {item} of alert {alert}"),
            );
        };
        put!(out, it.view());
        DEVCARE_OK
    })
}

/// The SyncML `<Status>` elements answering devcare's Alerts, one per devcare Alert in
/// message order, numbered from `first_cmd_id` (the next CmdID of the host's response
/// package), in the message's encoding: XML text (not NUL-terminated), or for a WBXML
/// message a WBXML body fragment to splice into the response's SyncBody where the code page
/// is SyncML's (strings inline, so it fits any string table). Written as bytes to `buf`
/// with `*len`; only `*len` on `DEVCARE_BUFFER_TOO_SMALL`. A DM toolkit that builds its
/// Status commands itself uses each alert's `cmd_id` and `dm_status` instead.
///
/// # Safety
/// `package` NULL or a live package; `buf` valid for `cap` bytes; `len` valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn devcare_package_statuses(
    package: *const devcare_package,
    first_cmd_id: u32,
    buf: *mut u8,
    cap: usize,
    len: *mut usize,
) -> devcare_result {
    guard(|| {
        try_out!(package, len);
        // SAFETY: non-NULL, a live package per the contract.
        let p = unsafe { &*package };
        let bytes = try_host!(
            p.outcome
                .statuses_encoded(first_cmd_id)
                .map_err(HostError::from)
        );
        if bytes.is_empty() {
            // No devcare Alert: nothing to write, whatever the buffer.
            put!(len, 0);
            return DEVCARE_OK;
        }
        try_write_bytes!(&bytes, buf, cap, len);
        DEVCARE_OK
    })
}

/// Frees a package. NULL does nothing.
///
/// # Safety
/// `package` NULL or a live package, not used after.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn devcare_package_free(package: *mut devcare_package) {
    if !package.is_null() {
        // SAFETY: made by `Box::into_raw` in `devcare_server_ingest_package`, freed once.
        drop(unsafe { Box::from_raw(package) });
    }
}

fn ingest_code(i: &Ingest) -> devcare_ingest {
    match i {
        Ingest::Accepted(_) => devcare_ingest::DEVCARE_INGEST_ACCEPTED,
        Ingest::Duplicate => devcare_ingest::DEVCARE_INGEST_DUPLICATE,
        Ingest::Rejected(_) => devcare_ingest::DEVCARE_INGEST_REJECTED,
    }
}
