//! Report and Generic Alert ingest.

use std::ffi::c_char;

use devcare::Timestamp;
use devcare::host::{AlertIngest, HostError, Ingest};

use super::*;
use crate::boundary::{fail, guard};
use crate::result::code_of;
use crate::result::devcare_result::{self};

/// What became of an ingested report.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum devcare_ingest {
    /// Accepted: care is scheduled (or the success probe counted).
    DEVCARE_INGEST_ACCEPTED = 0,
    /// Already known: acknowledge, nothing changed.
    DEVCARE_INGEST_DUPLICATE = 1,
    /// Refused: nothing changed; the reason is in `*reason`.
    DEVCARE_INGEST_REJECTED = 2,
}

/// Ingests report bytes received at `now_ms`. Returns `DEVCARE_OK` with `*outcome`,
/// `*reason` (`DEVCARE_OK` unless rejected; then `devcare_last_error` says why) and
/// `*dm_status` (200, 401, 403, 404, …, the status to answer the device with). Other
/// return codes are failures of the call itself.
///
/// # Safety
/// `bytes` valid for `len` bytes; out-params valid for writes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn devcare_server_ingest_report(
    server: *mut devcare_server,
    bytes: *const u8,
    len: usize,
    now_ms: u64,
    outcome: *mut devcare_ingest,
    reason: *mut devcare_result,
    dm_status: *mut u16,
) -> devcare_result {
    guard(|| {
        try_handle!(h = server);
        let data = try_slice!(bytes, len, "bytes");
        try_out!(outcome, reason, dm_status);
        let ingest = try_host!(h.host.ingest_report(data, Timestamp(now_ms)));
        let (o, r) = match &ingest {
            Ingest::Accepted(_) => (devcare_ingest::DEVCARE_INGEST_ACCEPTED, DEVCARE_OK),
            Ingest::Duplicate => (devcare_ingest::DEVCARE_INGEST_DUPLICATE, DEVCARE_OK),
            Ingest::Rejected(rejection) => {
                let e = HostError::from(rejection.clone());
                let code = fail(code_of(&e), e.to_string());
                (devcare_ingest::DEVCARE_INGEST_REJECTED, code)
            }
        };
        put!(outcome, o);
        put!(reason, r);
        put!(dm_status, ingest.dm_status());
        DEVCARE_OK
    })
}

/// Ingests an OMA DM message carrying devcare Generic Alerts at `now_ms`, sent in the DM
/// session of `session_device`: the device the host authenticated (SyncHdr Source and
/// credentials), never an id read from the message. On `DEVCARE_OK`: `*reports` reports
/// were read, `*accepted` of them accepted, `*duplicates` duplicates; `*dm_status` is 200
/// when every report was accepted or a duplicate, else the status of the first refused
/// one. A message refused as a whole changes nothing and gives one of the
/// `DEVCARE_ALERT_*` codes: `_NOT_SENDER` (a report for another device: answer 403),
/// `_UNKNOWN_SENDER` (401), `_UNKNOWN_TYPE` (415), `_TOO_LARGE` and `_TOO_MANY_ITEMS`
/// (413), the others 400.
///
/// # Safety
/// `xml` valid for `len` bytes; `session_device` NUL-terminated; out-params valid for
/// writes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn devcare_server_ingest_alert(
    server: *mut devcare_server,
    xml: *const c_char,
    len: usize,
    session_device: *const c_char,
    now_ms: u64,
    reports: *mut usize,
    accepted: *mut usize,
    duplicates: *mut usize,
    dm_status: *mut u16,
) -> devcare_result {
    guard(|| {
        try_handle!(h = server);
        let xml = tri!(text(try_slice!(xml.cast::<u8>(), len, "xml"), "xml"));
        let session = try_str!(session_device);
        try_out!(reports, accepted, duplicates, dm_status);
        let done = try_host!(h.host.ingest_alert(xml, session, Timestamp(now_ms)));
        // SAFETY: the out-parameters were checked non-NULL above.
        unsafe { put_alert_outcome(&done, reports, accepted, duplicates, dm_status) };
        DEVCARE_OK
    })
}

/// `devcare_server_ingest_alert` for a trusted gateway that relays the reports of many
/// devices: an explicit opt-in of the host, which names in `devices` (count `n_devices`)
/// every device the gateway may speak for. A report for any other device refuses the
/// message with `DEVCARE_ALERT_NOT_SENDER` (answer 403).
///
/// # Safety
/// `xml` valid for `len` bytes; `devices` `n_devices` NUL-terminated strings (NULL when
/// 0); out-params valid for writes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn devcare_server_ingest_gateway_alert(
    server: *mut devcare_server,
    xml: *const c_char,
    len: usize,
    devices: *const *const c_char,
    n_devices: usize,
    now_ms: u64,
    reports: *mut usize,
    accepted: *mut usize,
    duplicates: *mut usize,
    dm_status: *mut u16,
) -> devcare_result {
    guard(|| {
        try_handle!(h = server);
        let xml = tri!(text(try_slice!(xml.cast::<u8>(), len, "xml"), "xml"));
        let devices = try_str_array!(devices, n_devices);
        try_out!(reports, accepted, duplicates, dm_status);
        let done = try_host!(
            h.host
                .ingest_gateway_alert(xml, &devices, Timestamp(now_ms))
        );
        // SAFETY: the out-parameters were checked non-NULL above.
        unsafe { put_alert_outcome(&done, reports, accepted, duplicates, dm_status) };
        DEVCARE_OK
    })
}

/// Writes what a message of Generic Alerts came to.
///
/// # Safety
/// Every pointer non-NULL and valid for a write (the caller checked them with `try_out!`).
unsafe fn put_alert_outcome(
    done: &AlertIngest,
    reports: *mut usize,
    accepted: *mut usize,
    duplicates: *mut usize,
    dm_status: *mut u16,
) {
    put!(reports, done.outcomes.len());
    put!(accepted, done.accepted());
    put!(duplicates, done.duplicates());
    put!(dm_status, done.dm_status());
}
