//! Keys, the slot functions and payload inspection (the shared vectors are checked from C
//! too). Each converts its C arguments and calls one [`devcare::host::keys`] function.

use std::ffi::c_char;

use devcare::host::keys;
use devcare::{Duration, Timestamp};

use crate::boundary::guard;
use crate::result::devcare_result::{self, *};

/// The report key of `device_id` under `master_key`, into `out` (32 bytes): what
/// provisioning writes to the device.
///
/// # Safety
/// `master_key` 32 readable bytes; `out` 32 writable bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn devcare_derive_device_key(
    master_key: *const u8,
    device_id: *const c_char,
    out: *mut u8,
) -> devcare_result {
    guard(|| {
        let master = try_key!(master_key);
        let id = try_str!(device_id);
        try_out!(out);
        let k = try_host!(keys::derive_device_key(master, id));
        put!(out.cast::<[u8; 32]>(), k);
        DEVCARE_OK
    })
}

/// The ed25519 public key (32 bytes into `out`) of the signing key with secret `seed`.
///
/// # Safety
/// `seed` 32 readable bytes; `out` 32 writable bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn devcare_public_key(seed: *const u8, out: *mut u8) -> devcare_result {
    guard(|| {
        let seed = try_key!(seed);
        try_out!(out);
        let pk = try_host!(keys::public_key(seed));
        put!(out.cast::<[u8; 32]>(), pk);
        DEVCARE_OK
    })
}

/// SipHash-2-4 of `device_id` under the 16-byte campaign `salt`.
///
/// # Safety
/// `salt` 16 readable bytes; `device_id` NUL-terminated; `out` writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn devcare_slot(
    salt: *const u8,
    device_id: *const c_char,
    out: *mut u64,
) -> devcare_result {
    guard(|| {
        let salt = try_slice!(salt, 16, "salt");
        let id = try_str!(device_id);
        try_out!(out);
        put!(out, try_host!(keys::slot(salt, id)));
        DEVCARE_OK
    })
}

/// The first report time: `evaluated_at + offset + slot % window` (ms).
///
/// # Safety
/// As for `devcare_slot`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn devcare_first_report_at(
    salt: *const u8,
    device_id: *const c_char,
    evaluated_at_ms: u64,
    offset_ms: u64,
    window_ms: u64,
    out: *mut u64,
) -> devcare_result {
    guard(|| {
        let salt = try_slice!(salt, 16, "salt");
        let id = try_str!(device_id);
        try_out!(out);
        let t = try_host!(keys::first_report_at(
            salt,
            id,
            Timestamp(evaluated_at_ms),
            Duration(offset_ms),
            Duration(window_ms)
        ));
        put!(out, t.as_millis());
        DEVCARE_OK
    })
}

/// Delay (ms) before resend `retry` (from 1) with the given backoff and cap.
///
/// # Safety
/// As for `devcare_slot`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn devcare_retry_delay(
    salt: *const u8,
    device_id: *const c_char,
    retry: u32,
    backoff_ms: u64,
    max_backoff_ms: u64,
    out: *mut u64,
) -> devcare_result {
    guard(|| {
        let salt = try_slice!(salt, 16, "salt");
        let id = try_str!(device_id);
        try_out!(out);
        let d = try_host!(keys::retry_delay(
            salt,
            id,
            retry,
            Duration(backoff_ms),
            Duration(max_backoff_ms)
        ));
        put!(out, d.as_millis());
        DEVCARE_OK
    })
}

/// Whether a healthy device sends a success probe at `ppm` parts per million.
///
/// # Safety
/// As for `devcare_slot`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn devcare_sampled(
    salt: *const u8,
    device_id: *const c_char,
    ppm: u32,
    out: *mut bool,
) -> devcare_result {
    guard(|| {
        let salt = try_slice!(salt, 16, "salt");
        let id = try_str!(device_id);
        try_out!(out);
        put!(out, try_host!(keys::sampled(salt, id, ppm)));
        DEVCARE_OK
    })
}

/// Verifies a payload against `server_public_key` (32 bytes) at `now_ms` without taking it
/// on: writes its campaign id (65 bytes suffice), revision and setting count.
///
/// # Safety
/// `payload` valid for `len` bytes; other pointers valid as described.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn devcare_payload_inspect(
    payload: *const u8,
    len: usize,
    server_public_key: *const u8,
    now_ms: u64,
    campaign_buf: *mut c_char,
    campaign_cap: usize,
    revision: *mut u32,
    settings: *mut usize,
) -> devcare_result {
    guard(|| {
        let bytes = try_slice!(payload, len, "payload");
        let pk = try_key!(server_public_key);
        try_out!(revision, settings);
        let info = try_host!(keys::inspect_payload(bytes, pk, Timestamp(now_ms)));
        try_write_str!(&info.campaign, campaign_buf, campaign_cap);
        put!(revision, info.revision);
        put!(settings, info.setting_uris.len());
        DEVCARE_OK
    })
}
