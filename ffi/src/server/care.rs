//! Care orders: dispatch, outcomes, check-ins, care in flight.

use std::ffi::c_char;

use devcare::Timestamp;

use super::*;
use crate::boundary::{fail, guard};
use crate::result::devcare_result::{self};

/// A care order the host must send by unicast.
#[repr(C)]
#[derive(Debug)]
pub struct devcare_care_order {
    /// Campaign id, NUL-terminated.
    pub campaign: [c_char; 65],
    /// Device id, NUL-terminated.
    pub device: [c_char; 129],
    /// The campaign revision the care is for (pass it to `devcare_device_receive_care`).
    pub revision: u32,
    /// Care attempt (from 1).
    pub attempt: u32,
    /// Number of setting indices written to the caller's array.
    pub settings_count: usize,
}

/// The next care order due at `now_ms` (any campaign), marked dispatched: fills `*order`
/// and writes the setting indices to `settings` (capacity `cap`; 256 suffice for the
/// default limits). `DEVCARE_NOTHING_DUE` when none.
///
/// # Safety
/// `order` valid for a write; `settings` for `cap` writes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn devcare_server_next_care(
    server: *mut devcare_server,
    now_ms: u64,
    order: *mut devcare_care_order,
    settings: *mut u32,
    cap: usize,
) -> devcare_result {
    guard(|| {
        try_handle!(h = server);
        try_out!(order, settings);
        let now = Timestamp(now_ms);
        if let Some((_, o)) = h.host.peek_care(now)
            && cap < o.settings.len()
        {
            return fail(
                DEVCARE_BUFFER_TOO_SMALL,
                format!("{} setting indices, room for {cap}", o.settings.len()),
            );
        }
        let Some((id, o)) = try_host!(h.host.next_care(now)) else {
            return DEVCARE_NOTHING_DUE;
        };
        // SAFETY: `order` checked non-NULL and writable per contract.
        let ord = unsafe { &mut *order };
        try_write_str!(id.as_str(), ord.campaign.as_mut_ptr(), ord.campaign.len());
        try_write_str!(o.device.as_str(), ord.device.as_mut_ptr(), ord.device.len());
        ord.revision = o.revision;
        ord.attempt = o.attempt;
        ord.settings_count = o.settings.len();
        // SAFETY: `settings` holds `cap` >= len entries (checked above).
        unsafe { std::ptr::copy_nonoverlapping(o.settings.as_ptr(), settings, o.settings.len()) };
        DEVCARE_OK
    })
}

/// Records the outcome of care `attempt` for `device` in `campaign`.
///
/// # Safety
/// Strings NUL-terminated.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn devcare_server_care_outcome(
    server: *mut devcare_server,
    campaign: *const c_char,
    device: *const c_char,
    attempt: u32,
    success: bool,
    now_ms: u64,
) -> devcare_result {
    guard(|| {
        try_handle!(h = server);
        let id = try_str!(campaign);
        let dev = try_str!(device);
        try_host!(
            h.host
                .care_outcome(id, dev, attempt, success, Timestamp(now_ms))
        );
        DEVCARE_OK
    })
}

/// `device_id` checked in at `now_ms` stating it applied `campaign` up to
/// `applied_revision` (0: never). A target behind gets care for every setting;
/// `*care_opened` says whether it did. A device that is not a target is
/// `DEVCARE_NOT_TARGETED`.
///
/// # Safety
/// Strings NUL-terminated; `care_opened` valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn devcare_server_check_in(
    server: *mut devcare_server,
    campaign: *const c_char,
    device_id: *const c_char,
    applied_revision: u32,
    now_ms: u64,
    care_opened: *mut bool,
) -> devcare_result {
    guard(|| {
        try_handle!(h = server);
        let id = try_str!(campaign);
        let dev = try_str!(device_id);
        try_out!(care_opened);
        let opened = try_host!(
            h.host
                .check_in(id, dev, applied_revision, Timestamp(now_ms))
        );
        put!(care_opened, opened);
        DEVCARE_OK
    })
}

/// The `index`-th care order of `campaign` dispatched and not answered yet, the soonest to
/// expire first: its device (into `device_buf`), attempt and expiry. One without an outcome
/// by `*expires_ms` counts as a failed attempt at the next `devcare_server_tick`.
/// `DEVCARE_NOTHING_DUE` past the last one (index 0: nothing in flight).
///
/// # Safety
/// `campaign` NUL-terminated; `device_buf` valid for `device_cap` bytes; `attempt` and
/// `expires_ms` valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn devcare_server_care_in_flight(
    server: *mut devcare_server,
    campaign: *const c_char,
    index: usize,
    device_buf: *mut c_char,
    device_cap: usize,
    attempt: *mut u32,
    expires_ms: *mut u64,
) -> devcare_result {
    guard(|| {
        try_handle!(h = server);
        let id = try_str!(campaign);
        try_out!(device_buf, attempt, expires_ms);
        let Some(c) = try_host!(h.host.care_in_flight(id)).into_iter().nth(index) else {
            return DEVCARE_NOTHING_DUE;
        };
        try_write_str!(c.device.as_str(), device_buf, device_cap);
        put!(attempt, c.attempt);
        put!(expires_ms, c.expires.as_millis());
        DEVCARE_OK
    })
}
