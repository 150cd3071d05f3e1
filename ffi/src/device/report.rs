//! The device's reports: the one due (binary or as a Generic Alert), sent, answered.

use std::ffi::c_char;

use devcare::Timestamp;

use super::*;
use crate::boundary::{fail, guard};
use crate::result::devcare_result::{self};

/// The report due at `now_ms`, if any: its bytes into `buf` (`*len` = size), its campaign
/// id into `campaign_buf` (NUL-terminated; 65 bytes always suffice) and its attempt into
/// `*attempt`. `DEVCARE_NOTHING_DUE` when no report is due. On `DEVCARE_BUFFER_TOO_SMALL`
/// only `*len` (the needed size) is written. Send it, then call
/// `devcare_device_report_sent`.
///
/// # Safety
/// Buffers valid for their capacities; out-params valid for writes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn devcare_device_next_report(
    device: *mut devcare_device,
    now_ms: u64,
    buf: *mut u8,
    cap: usize,
    len: *mut usize,
    campaign_buf: *mut c_char,
    campaign_cap: usize,
    attempt: *mut u32,
) -> devcare_result {
    guard(|| {
        try_handle!(h = device);
        try_out!(attempt, len, campaign_buf);
        let Some(due) = try_host!(h.host.next_report(Timestamp(now_ms))) else {
            return DEVCARE_NOTHING_DUE;
        };
        // SAFETY: the caller's buffers and out-parameters, checked above.
        unsafe { write_due(&due, buf, cap, len, campaign_buf, campaign_cap, attempt) }
    })
}

/// The `index`-th report (from 0) to send again when checking in on an ordinary DM
/// session: a failure this device gave up reporting unacknowledged, its last attempt again
/// (so a failure whose every report was lost still reaches the server). Written as by
/// `devcare_device_next_report`; `DEVCARE_NOTHING_DUE` past the last one. Send it, then
/// tell the answer with `devcare_device_report_acknowledged` / `_refused` and its attempt.
///
/// # Safety
/// Buffers valid for their capacities; out-params valid for writes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn devcare_device_checkin_report(
    device: *mut devcare_device,
    index: usize,
    buf: *mut u8,
    cap: usize,
    len: *mut usize,
    campaign_buf: *mut c_char,
    campaign_cap: usize,
    attempt: *mut u32,
) -> devcare_result {
    guard(|| {
        try_handle!(h = device);
        try_out!(attempt, len, campaign_buf);
        let reports = try_host!(h.host.check_in_reports());
        let Some(due) = reports.into_iter().nth(index) else {
            return DEVCARE_NOTHING_DUE;
        };
        // SAFETY: the caller's buffers and out-parameters, checked above.
        unsafe { write_due(&due, buf, cap, len, campaign_buf, campaign_cap, attempt) }
    })
}

/// Writes `due` as `devcare_device_next_report` and `_checkin_report` document it.
///
/// # Safety
/// `buf` valid for `cap` bytes, `campaign_buf` for `campaign_cap`; `len` and `attempt`
/// non-NULL and valid for writes.
pub(super) unsafe fn write_due(
    due: &devcare::host::DueReport,
    buf: *mut u8,
    cap: usize,
    len: *mut usize,
    campaign_buf: *mut c_char,
    campaign_cap: usize,
    attempt: *mut u32,
) -> devcare_result {
    if campaign_cap < due.campaign.as_str().len() + 1 {
        // As for a short `buf`: `*len` says the report's size, so a caller that sizes its
        // buffers from it never reads an unwritten length.
        put!(len, due.bytes.len());
        return fail(
            DEVCARE_BUFFER_TOO_SMALL,
            "campaign buffer too small (65 bytes suffice)",
        );
    }
    try_write_bytes!(&due.bytes, buf, cap, len);
    try_write_str!(due.campaign.as_str(), campaign_buf, campaign_cap);
    put!(attempt, due.attempt);
    DEVCARE_OK
}

/// Like `devcare_device_next_report`, but the report is rendered as an OMA DM 1.2 Generic
/// Alert (`<Alert>` with code 1226, NUL-terminated XML in `xml`, `*len` without the NUL)
/// for a DM client that sends it in its session. Mark it sent and acknowledged as usual.
/// `*len` is the XML's length without the NUL, on success and on
/// `DEVCARE_BUFFER_TOO_SMALL` alike: `xml` needs `*len + 1` bytes.
///
/// # Safety
/// Buffers valid for their capacities; out-params valid for writes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn devcare_device_next_report_alert(
    device: *mut devcare_device,
    now_ms: u64,
    xml: *mut c_char,
    cap: usize,
    len: *mut usize,
    campaign_buf: *mut c_char,
    campaign_cap: usize,
    attempt: *mut u32,
) -> devcare_result {
    guard(|| {
        try_handle!(h = device);
        try_out!(attempt, len, campaign_buf, xml);
        let Some(due) = h.host.next_report_alert(Timestamp(now_ms)) else {
            return DEVCARE_NOTHING_DUE;
        };
        if cap < due.xml.len() + 1 {
            put!(len, due.xml.len());
            return fail(
                DEVCARE_BUFFER_TOO_SMALL,
                format!("{} bytes needed (with the NUL)", due.xml.len() + 1),
            );
        }
        try_write_str!(due.campaign.as_str(), campaign_buf, campaign_cap);
        try_write_str!(&due.xml, xml, cap);
        put!(len, due.xml.len());
        put!(attempt, due.attempt);
        DEVCARE_OK
    })
}

/// The host sent report `attempt` of `campaign` at `now_ms`.
///
/// # Safety
/// `campaign` a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn devcare_device_report_sent(
    device: *mut devcare_device,
    campaign: *const c_char,
    attempt: u32,
    now_ms: u64,
) -> devcare_result {
    guard(|| {
        try_handle!(h = device);
        let id = try_str!(campaign);
        try_host!(h.host.report_sent(id, attempt, Timestamp(now_ms)));
        DEVCARE_OK
    })
}

/// The server acknowledged report `attempt` of `campaign`.
///
/// # Safety
/// `campaign` a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn devcare_device_report_acknowledged(
    device: *mut devcare_device,
    campaign: *const c_char,
    attempt: u32,
    now_ms: u64,
) -> devcare_result {
    guard(|| {
        try_handle!(h = device);
        let id = try_str!(campaign);
        try_host!(h.host.report_acknowledged(id, attempt, Timestamp(now_ms)));
        DEVCARE_OK
    })
}

/// The server answered report `attempt` of `campaign` with DM status `status`, a definitive
/// refusal (any 4xx but 408 and 429): the device stops resending it. `DEVCARE_NOT_A_REFUSAL`
/// for any other status (acknowledge a 200 with `devcare_device_report_acknowledged`; after a
/// 5xx, 408 or 429 do nothing: the report is resent on its schedule).
///
/// # Safety
/// `campaign` a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn devcare_device_report_refused(
    device: *mut devcare_device,
    campaign: *const c_char,
    attempt: u32,
    status: u16,
    now_ms: u64,
) -> devcare_result {
    guard(|| {
        try_handle!(h = device);
        let id = try_str!(campaign);
        try_host!(
            h.host
                .report_refused(id, attempt, status, Timestamp(now_ms))
        );
        DEVCARE_OK
    })
}

/// What the device made of the DM status the server answered its report with.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum devcare_report_answer {
    /// A 2xx: the report is acknowledged; it is not sent again.
    DEVCARE_ANSWER_ACKNOWLEDGED = 0,
    /// A definitive refusal (any 4xx but 408 and 429): the device stops sending it.
    DEVCARE_ANSWER_REFUSED_FOR_GOOD = 1,
    /// Anything else (5xx, 408, 429, …): it is sent again on its schedule.
    DEVCARE_ANSWER_SEND_AGAIN = 2,
}

/// The server answered report `attempt` of `campaign` with DM status `status` — the Data of
/// the `<Status>` whose CmdRef is the report's Alert in the server's response package, or
/// the answer to a binary report — and devcare decides: a 2xx acknowledges it, a definitive
/// refusal stops it, anything else leaves it to be resent (nothing recorded). What it
/// decided goes to `*answer`. One call in place of choosing between
/// `devcare_device_report_acknowledged` and `devcare_device_report_refused`.
///
/// # Safety
/// `campaign` a NUL-terminated string; `answer` valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn devcare_device_report_status(
    device: *mut devcare_device,
    campaign: *const c_char,
    attempt: u32,
    status: u16,
    now_ms: u64,
    answer: *mut devcare_report_answer,
) -> devcare_result {
    guard(|| {
        try_handle!(h = device);
        let id = try_str!(campaign);
        try_out!(answer);
        let a = try_host!(h.host.report_status(id, attempt, status, Timestamp(now_ms)));
        put!(
            answer,
            match a {
                devcare::rules::ReportAnswer::Acknowledged => {
                    devcare_report_answer::DEVCARE_ANSWER_ACKNOWLEDGED
                }
                devcare::rules::ReportAnswer::RefusedForGood => {
                    devcare_report_answer::DEVCARE_ANSWER_REFUSED_FOR_GOOD
                }
                devcare::rules::ReportAnswer::SendAgain => {
                    devcare_report_answer::DEVCARE_ANSWER_SEND_AGAIN
                }
            }
        );
        DEVCARE_OK
    })
}
