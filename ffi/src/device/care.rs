//! Care, read-back, check-ins and unfinished work.

use std::ffi::{c_char, c_void};

use devcare::{ApplyResult, Timestamp, Verify};

use super::*;
use crate::boundary::{fail, guard};
use crate::result::devcare_result::{self};

/// Unicast care for `revision` of `campaign` arrived (`DEVCARE_WRONG_REVISION` when the
/// device holds another revision): re-apply the settings at `indices` (count `n`) through
/// `apply`, and record the results. `*recovered` (when not NULL) is the device's own
/// verdict — the care results checked by the campaign's result conditions, as the first
/// evaluation was — which the host tells the server as the care outcome.
///
/// # Safety
/// `indices` valid for `n` reads; callback contract as for `devcare_device_receive`;
/// `recovered` NULL or valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn devcare_device_receive_care(
    device: *mut devcare_device,
    campaign: *const c_char,
    revision: u32,
    attempt: u32,
    indices: *const u32,
    n: usize,
    now_ms: u64,
    apply: devcare_apply_cb,
    user_data: *mut c_void,
    recovered: *mut bool,
) -> devcare_result {
    guard(|| {
        let Some(apply) = apply else {
            return fail(DEVCARE_NULL_ARGUMENT, "apply callback is NULL");
        };
        let idx = try_slice!(indices, n, "indices").to_vec();
        try_handle!(h = device);
        let id = try_str!(campaign);
        // SAFETY: callback contract forwarded.
        let tree = unsafe { c_tree(apply, user_data) };
        let done =
            try_host!(
                h.host
                    .receive_care(id, revision, attempt, idx, Timestamp(now_ms), tree)
            );
        if !recovered.is_null() {
            put!(recovered, done.recovered);
        }
        DEVCARE_OK
    })
}

/// The host read `campaign`'s settings back at `now_ms`: `statuses[i]` is setting `i`'s
/// DM status (200 when present and readable) and, when `verify` is not NULL, `verify[i]`
/// its `DEVCARE_VERIFY_*` value; `n` at most the campaign's settings (a missing one is a
/// finding). A device that was done (healthy, confirmed, recovered) and now fails the
/// campaign's result conditions has relapsed: it reports again at its slot and
/// `*relapsed` is true; nothing changes while the settings pass.
///
/// # Safety
/// `statuses` valid for `n` reads, `verify` NULL or valid for `n` reads; `relapsed` valid
/// for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn devcare_device_recheck(
    device: *mut devcare_device,
    campaign: *const c_char,
    statuses: *const u16,
    verify: *const u8,
    n: usize,
    now_ms: u64,
    relapsed: *mut bool,
) -> devcare_result {
    guard(|| {
        try_handle!(h = device);
        let id = try_str!(campaign);
        try_out!(relapsed);
        let st = try_slice!(statuses, n, "statuses");
        let vf: &[u8] = if verify.is_null() {
            &[]
        } else {
            try_slice!(verify, n, "verify")
        };
        let mut results = Vec::with_capacity(n);
        for (i, &status) in st.iter().enumerate() {
            let verify = match vf.get(i).copied().unwrap_or(DEVCARE_VERIFY_NOT_CHECKED) {
                DEVCARE_VERIFY_NOT_CHECKED => Verify::NotChecked,
                DEVCARE_VERIFY_MATCH => Verify::Match,
                DEVCARE_VERIFY_MISMATCH => Verify::Mismatch,
                other => {
                    return fail(
                        DEVCARE_INVALID_ARGUMENT,
                        format!("verify[{i}] = {other} is not a DEVCARE_VERIFY_* value"),
                    );
                }
            };
            results.push(ApplyResult { status, verify });
        }
        let r = try_host!(h.host.recheck(id, results, Timestamp(now_ms)));
        put!(relapsed, r);
        DEVCARE_OK
    })
}

/// What to state when checking in on an ordinary DM session: for the `index`-th campaign
/// this device knows (from 0), its id into `campaign_buf` (65 bytes suffice) and the last
/// revision it applied successfully into `*applied_revision` (0: none).
/// `DEVCARE_NOTHING_DUE` past the last campaign.
///
/// # Safety
/// `campaign_buf` valid for `campaign_cap` bytes; `applied_revision` valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn devcare_device_checkin(
    device: *mut devcare_device,
    index: usize,
    campaign_buf: *mut c_char,
    campaign_cap: usize,
    applied_revision: *mut u32,
) -> devcare_result {
    guard(|| {
        try_handle!(h = device);
        try_out!(campaign_buf, applied_revision);
        let Some(c) = h.host.check_in().into_iter().nth(index) else {
            return DEVCARE_NOTHING_DUE;
        };
        try_write_str!(c.campaign.as_str(), campaign_buf, campaign_cap);
        put!(applied_revision, c.applied_revision);
        DEVCARE_OK
    })
}

/// How many pieces of work this device took on and did not finish (a campaign or a care
/// attempt whose results were never recorded, e.g. the device died mid-apply) into
/// `*count`. Check it after every open; `devcare_device_resume` finishes them.
///
/// # Safety
/// `count` valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn devcare_device_pending(
    device: *mut devcare_device,
    count: *mut usize,
) -> devcare_result {
    guard(|| {
        try_handle!(h = device);
        try_out!(count);
        put!(count, h.host.pending().len());
        DEVCARE_OK
    })
}

/// Finishes every pending piece of work at `now_ms`: the library calls `apply` for each of
/// its settings and records the results. Writes how many were finished to `*resumed` when
/// not NULL.
///
/// # Safety
/// `apply` a valid callback for `user_data`; `resumed` NULL or valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn devcare_device_resume(
    device: *mut devcare_device,
    now_ms: u64,
    apply: devcare_apply_cb,
    user_data: *mut c_void,
    resumed: *mut usize,
) -> devcare_result {
    guard(|| {
        try_handle!(h = device);
        let Some(apply) = apply else {
            return fail(DEVCARE_NULL_ARGUMENT, "apply callback is NULL");
        };
        // SAFETY: callback contract forwarded.
        let tree = unsafe { c_tree(apply, user_data) };
        let (n, _) = try_host!(h.host.resume(Timestamp(now_ms), tree));
        if !resumed.is_null() {
            put!(resumed, n);
        }
        DEVCARE_OK
    })
}

/// Payloads this device refused since it was opened (all reasons).
///
/// # Safety
/// `out` valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn devcare_device_rejections(
    device: *mut devcare_device,
    out: *mut u64,
) -> devcare_result {
    guard(|| {
        try_handle!(h = device);
        try_out!(out);
        put!(out, h.host.rejected());
        DEVCARE_OK
    })
}

/// Bytes of a torn tail the open of this device's log set aside (the last appends a power
/// cut interrupted, never acknowledged; kept in `devcare.log.torn`), into `*out`; 0 for a
/// whole log. A bit flipped in the last flushed write cannot be told from a tear: after a
/// nonzero value, re-read the DM tree (`devcare_device_recheck`) to be sure.
///
/// # Safety
/// `out` valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn devcare_device_torn_tail(
    device: *mut devcare_device,
    out: *mut u64,
) -> devcare_result {
    guard(|| {
        try_handle!(h = device);
        try_out!(out);
        put!(out, h.host.torn_tail());
        DEVCARE_OK
    })
}
