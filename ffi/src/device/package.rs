//! The device's report for a DM toolkit: as the Items of its Generic Alert, or as a whole
//! DM message (XML or WBXML).

use std::ffi::{CString, c_char};

use devcare::Timestamp;
use devcare::alert::SyncHeader;

use super::*;
use crate::boundary::guard;
use crate::dm::{OwnedItem, c_string, devcare_alert_item, encoding_arg, format_arg};
use crate::result::devcare_result::{self};

/// A report's Items, from `devcare_device_next_report_items`: read them with
/// `devcare_report_items_*`, free with `devcare_report_items_free`. Immutable: it may be
/// read from any thread, and lives on after its device is freed.
#[derive(Debug)]
pub struct devcare_report_items {
    campaign: CString,
    attempt: u32,
    items: Vec<OwnedItem>,
}

/// The report due at `now_ms`, if any, as the Items of one Generic Alert (code 1226) with
/// their Data in `data_format` (`DEVCARE_DATA_CHR` or `_B64`), for a DM toolkit that builds
/// its own package: one Item per finding (or one summary or success Item), each with its
/// source LocURI, type, format, mark and data. `*out` gets a new object, or NULL with
/// `DEVCARE_NOTHING_DUE`. Send the Items as one Alert, mark the report sent with
/// `devcare_device_report_sent` and the attempt of `devcare_report_items_attempt`, then
/// feed the Status the server answered that Alert with to `devcare_device_report_status`.
///
/// # Safety
/// `out` valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn devcare_device_next_report_items(
    device: *mut devcare_device,
    now_ms: u64,
    data_format: u32,
    out: *mut *mut devcare_report_items,
) -> devcare_result {
    guard(|| {
        try_handle!(h = device);
        try_out!(out);
        put!(out, std::ptr::null_mut());
        let format = tri!(format_arg(data_format));
        let Some(due) = h.host.next_report_items(Timestamp(now_ms), format) else {
            return DEVCARE_NOTHING_DUE;
        };
        let items = due
            .items
            .iter()
            .map(|it| {
                OwnedItem::new([
                    Some(&it.source),
                    None,
                    Some(&it.ty),
                    Some(it.format.as_str()),
                    Some(&it.mark),
                    Some(&it.data),
                ])
            })
            .collect();
        put!(
            out,
            Box::into_raw(Box::new(devcare_report_items {
                campaign: c_string(due.campaign.as_str()),
                attempt: due.attempt,
                items,
            }))
        );
        DEVCARE_OK
    })
}

/// The campaign of the report (NUL-terminated, owned by `items`); NULL for NULL.
///
/// # Safety
/// `items` NULL or a live object.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn devcare_report_items_campaign(
    items: *const devcare_report_items,
) -> *const c_char {
    // SAFETY: NULL or a live object, per the contract.
    unsafe { items.as_ref() }.map_or(std::ptr::null(), |i| i.campaign.as_ptr())
}

/// The report's attempt (from 1; 0 for NULL).
///
/// # Safety
/// `items` NULL or a live object.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn devcare_report_items_attempt(items: *const devcare_report_items) -> u32 {
    // SAFETY: NULL or a live object, per the contract.
    unsafe { items.as_ref() }.map_or(0, |i| i.attempt)
}

/// How many Items (0 for NULL).
///
/// # Safety
/// `items` NULL or a live object.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn devcare_report_items_count(items: *const devcare_report_items) -> usize {
    // SAFETY: NULL or a live object, per the contract.
    unsafe { items.as_ref() }.map_or(0, |i| i.items.len())
}

/// Item `index` (from 0) into `*out`; its strings are owned by `items` (`target` is NULL).
/// `DEVCARE_INVALID_ARGUMENT` past the last.
///
/// # Safety
/// `items` NULL or a live object; `out` valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn devcare_report_items_get(
    items: *const devcare_report_items,
    index: usize,
    out: *mut devcare_alert_item,
) -> devcare_result {
    guard(|| {
        try_out!(items, out);
        // SAFETY: non-NULL, a live object per the contract.
        let items = unsafe { &*items };
        let Some(it) = items.items.get(index) else {
            return fail(
                DEVCARE_INVALID_ARGUMENT,
                format!("item {index} of {}", items.items.len()),
            );
        };
        put!(out, it.view());
        DEVCARE_OK
    })
}

/// Frees Items. NULL does nothing.
///
/// # Safety
/// `items` NULL or a live object, not used after.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn devcare_report_items_free(items: *mut devcare_report_items) {
    if !items.is_null() {
        // SAFETY: made by `Box::into_raw` in `devcare_device_next_report_items`, freed once.
        drop(unsafe { Box::from_raw(items) });
    }
}

/// The report due at `now_ms`, if any, as a whole SyncML DM 1.2 message — package 1 of the
/// device's session `session_id`, message `msg_id`, to `server_uri`, the Alert as CmdID 1
/// with its Data in `data_format` — in `encoding` (`DEVCARE_ENCODING_XML` or `_WBXML`).
/// Written as `devcare_device_next_report` writes it (bytes in `buf`, `*len`, campaign,
/// attempt; `DEVCARE_NOTHING_DUE` when none; only `*len` on `DEVCARE_BUFFER_TOO_SMALL`).
/// The Status with CmdRef 1 in the server's answer is this report's: feed its Data to
/// `devcare_device_report_status`.
///
/// # Safety
/// Strings NUL-terminated; buffers valid for their capacities; out-params valid for writes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn devcare_device_next_report_package(
    device: *mut devcare_device,
    now_ms: u64,
    session_id: *const c_char,
    msg_id: u32,
    server_uri: *const c_char,
    data_format: u32,
    encoding: u32,
    buf: *mut u8,
    cap: usize,
    len: *mut usize,
    campaign_buf: *mut c_char,
    campaign_cap: usize,
    attempt: *mut u32,
) -> devcare_result {
    guard(|| {
        try_handle!(h = device);
        let hdr = SyncHeader {
            session_id: try_str!(session_id).to_string(),
            msg_id,
            server_uri: try_str!(server_uri).to_string(),
        };
        try_out!(attempt, len, campaign_buf);
        let format = tri!(format_arg(data_format));
        let encoding = tri!(encoding_arg(encoding));
        let Some(due) =
            try_host!(
                h.host
                    .next_report_package(Timestamp(now_ms), &hdr, format, encoding)
            )
        else {
            return DEVCARE_NOTHING_DUE;
        };
        // SAFETY: the caller's buffers and out-parameters, checked above.
        unsafe { report::write_due(&due, buf, cap, len, campaign_buf, campaign_cap, attempt) }
    })
}
