//! `devcare_device`: a handset's agent. Each function converts its C arguments and calls
//! one [`DeviceHost`] flow.

use std::ffi::{CString, c_char, c_void};
use std::path::Path;

use devcare::host::DeviceHost;
use devcare::{ApplyResult, Setting, SettingOp, Timestamp, Value, Verify};

use crate::boundary::{Guarded, Handle, fail, guard};
use crate::result::devcare_result::{self, *};

mod care;
mod package;
mod report;

pub use care::*;
pub use package::*;
pub use report::*;

/// The DM command of a setting.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum devcare_op {
    /// Add.
    DEVCARE_OP_ADD = 0,
    /// Replace.
    DEVCARE_OP_REPLACE = 1,
    /// Delete.
    DEVCARE_OP_DELETE = 2,
    /// Exec.
    DEVCARE_OP_EXEC = 3,
}

/// The type of a setting's value.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum devcare_value_type {
    /// No value.
    DEVCARE_VALUE_NULL = 0,
    /// UTF-8 text in `bytes`/`bytes_len`.
    DEVCARE_VALUE_STR = 1,
    /// `int_value`.
    DEVCARE_VALUE_INT = 2,
    /// `bool_value`.
    DEVCARE_VALUE_BOOL = 3,
    /// `float_value`.
    DEVCARE_VALUE_FLOAT = 4,
    /// Binary in `bytes`/`bytes_len`.
    DEVCARE_VALUE_BYTES = 5,
}

/// One setting the host must apply to its DM tree. Valid only during the callback.
#[repr(C)]
#[derive(Debug)]
pub struct devcare_setting {
    /// The DM command.
    pub op: devcare_op,
    /// NUL-terminated URI, e.g. "./AP/Default/APN".
    pub uri: *const c_char,
    /// Which value field is set.
    pub value_type: devcare_value_type,
    /// Text or binary value (not NUL-terminated).
    pub bytes: *const u8,
    /// Length of `bytes`.
    pub bytes_len: usize,
    /// Integer value.
    pub int_value: i64,
    /// Boolean value.
    pub bool_value: bool,
    /// Float value.
    pub float_value: f64,
}

/// Read-back outcome a host may report for a setting.
pub const DEVCARE_VERIFY_NOT_CHECKED: u8 = 0;
/// The node reads back as provisioned.
pub const DEVCARE_VERIFY_MATCH: u8 = 1;
/// The node reads back differently.
pub const DEVCARE_VERIFY_MISMATCH: u8 = 2;

/// The host applies one setting and returns its OMA DM status code (200 ok; 404, 405, 415,
/// 420, 500 … failures). It may set `*verify` (preset to `DEVCARE_VERIFY_NOT_CHECKED`)
/// after reading the node back.
pub type devcare_apply_cb = Option<
    unsafe extern "C" fn(
        user_data: *mut c_void,
        setting: *const devcare_setting,
        verify: *mut u8,
    ) -> u16,
>;

/// A device agent: one device, one stream per campaign.
#[derive(Debug)]
pub struct devcare_device {
    g: Guarded<DeviceInner>,
}

/// What a device handle holds.
#[derive(Debug)]
pub(crate) struct DeviceInner {
    pub(crate) host: DeviceHost,
}

impl Handle for devcare_device {
    type Inner = DeviceInner;
    fn guarded(&self) -> &Guarded<DeviceInner> {
        &self.g
    }
}

fn to_c_setting(s: &Setting, uri: &CString) -> devcare_setting {
    let mut c = devcare_setting {
        op: match s.op {
            SettingOp::Add => devcare_op::DEVCARE_OP_ADD,
            SettingOp::Replace => devcare_op::DEVCARE_OP_REPLACE,
            SettingOp::Delete => devcare_op::DEVCARE_OP_DELETE,
            SettingOp::Exec => devcare_op::DEVCARE_OP_EXEC,
        },
        uri: uri.as_ptr(),
        value_type: devcare_value_type::DEVCARE_VALUE_NULL,
        bytes: std::ptr::null(),
        bytes_len: 0,
        int_value: 0,
        bool_value: false,
        float_value: 0.0,
    };
    match &s.value {
        Value::Null => {}
        Value::Str(t) => {
            c.value_type = devcare_value_type::DEVCARE_VALUE_STR;
            c.bytes = t.as_ptr();
            c.bytes_len = t.len();
        }
        Value::Bytes(b) => {
            c.value_type = devcare_value_type::DEVCARE_VALUE_BYTES;
            c.bytes = b.as_ptr();
            c.bytes_len = b.len();
        }
        Value::Int(n) => {
            c.value_type = devcare_value_type::DEVCARE_VALUE_INT;
            c.int_value = *n;
        }
        Value::Bool(b) => {
            c.value_type = devcare_value_type::DEVCARE_VALUE_BOOL;
            c.bool_value = *b;
        }
        Value::Float(f) => {
            c.value_type = devcare_value_type::DEVCARE_VALUE_FLOAT;
            c.float_value = *f;
        }
    }
    c
}

/// The host's DM tree as a Rust closure over the C callback.
///
/// # Safety
/// `apply` must be safe to call with `user_data` for the duration of the flow.
unsafe fn c_tree(
    apply: unsafe extern "C" fn(*mut c_void, *const devcare_setting, *mut u8) -> u16,
    user_data: *mut c_void,
) -> impl FnMut(&Setting) -> Result<ApplyResult, std::convert::Infallible> {
    move |s| {
        // URIs are validated free of control characters, so they hold no NUL.
        let uri = CString::new(s.uri.as_str()).unwrap_or_default();
        let c = to_c_setting(s, &uri);
        let mut verify = DEVCARE_VERIFY_NOT_CHECKED;
        // SAFETY: host callback per the caller's contract; pointers valid for the call.
        let status = unsafe { apply(user_data, &c, &mut verify) };
        Ok(ApplyResult {
            status,
            verify: match verify {
                DEVCARE_VERIFY_MATCH => Verify::Match,
                DEVCARE_VERIFY_MISMATCH => Verify::Mismatch,
                _ => Verify::NotChecked,
            },
        })
    }
}

/// Opens a device agent for `device_id`, member of the `n_groups` groups at `groups` (for
/// group campaigns; NULL and 0 for none), trusting payloads signed by `server_public_key`
/// (32 bytes) and authenticating reports with `device_key` (32 bytes). `store_path` NULL
/// keeps the log in memory; otherwise the log lives in that directory (created if missing)
/// in one append-only file, `devcare.log`, and is replayed. The directory is locked while
/// the agent is open: a second open fails with `DEVCARE_STORE_ERROR` (after waiting up to
/// half a second for a lock being let go). A sled directory from
/// devcare 0.7 or older opens as before in the full library, and fails with
/// `DEVCARE_STORE_ERROR` in the device-only one (no sled); `devcare_last_error`
/// says which.
///
/// # Safety
/// Pointers must be NULL or valid as described; `out` must be valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn devcare_device_open(
    store_path: *const c_char,
    device_id: *const c_char,
    groups: *const *const c_char,
    n_groups: usize,
    server_public_key: *const u8,
    device_key: *const u8,
    out: *mut *mut devcare_device,
) -> devcare_result {
    guard(|| {
        try_out!(out);
        let id = try_str!(device_id);
        let groups = try_str_array!(groups, n_groups);
        let pk = try_key!(server_public_key);
        let key = try_key!(device_key);
        let path = if store_path.is_null() {
            None
        } else {
            Some(Path::new(try_str!(store_path)))
        };
        let host = try_host!(DeviceHost::open(path, id, groups, pk, key));
        put!(
            out,
            Box::into_raw(Box::new(devcare_device {
                g: Guarded::new(DeviceInner { host }),
            }))
        );
        DEVCARE_OK
    })
}

/// Flushes and frees a device agent. NULL does nothing; freeing twice is undefined (as for
/// `free`). Called from inside one of the handle's own callbacks it frees nothing (the
/// call in progress still uses the handle): `devcare_last_error` then says
/// `DEVCARE_REENTRANT`; free it after the call returns.
///
/// # Safety
/// `device` must be NULL or a handle from `devcare_device_open` not yet freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn devcare_device_free(device: *mut devcare_device) {
    let _ = guard(|| {
        if device.is_null() {
            return DEVCARE_OK;
        }
        // SAFETY: a live handle from `devcare_device_open`; shared until known idle.
        if unsafe { &*device }.g.is_busy() {
            return fail(
                DEVCARE_REENTRANT,
                "devcare_device_free inside the handle's own callback: nothing freed",
            );
        }
        // SAFETY: a live, idle handle from `devcare_device_open`, freed once.
        let h = unsafe { Box::from_raw(device) };
        let _ = h.g.into_inner().host.flush();
        DEVCARE_OK
    });
}

/// Also trusts payloads signed by `server_public_key` (32 bytes): a server key rotation
/// starts (trust the new key before the server signs with it). Writes its 8-byte key id to
/// `key_id` when not NULL.
///
/// # Safety
/// `server_public_key` valid for 32 bytes; `key_id` NULL or valid for 8 bytes of writes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn devcare_device_add_trusted_key(
    device: *mut devcare_device,
    server_public_key: *const u8,
    key_id: *mut u8,
) -> devcare_result {
    guard(|| {
        try_handle!(h = device);
        let pk = try_key!(server_public_key);
        let id = try_host!(h.host.add_trusted_key(pk));
        if !key_id.is_null() {
            // SAFETY: non-NULL and valid for 8 bytes per the contract.
            unsafe { std::ptr::copy_nonoverlapping(id.as_ptr(), key_id, id.len()) };
        }
        DEVCARE_OK
    })
}

/// Stops trusting the server key with id `key_id` (8 bytes, as `devcare_device_add_trusted_key`
/// wrote it or a payload header names it): payloads it signed are refused from now on.
/// `DEVCARE_INVALID_ARGUMENT` for the last trusted key (add its successor first);
/// `DEVCARE_NOTHING_DUE` when it was not trusted.
///
/// # Safety
/// `key_id` valid for 8 bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn devcare_device_remove_trusted_key(
    device: *mut devcare_device,
    key_id: *const u8,
) -> devcare_result {
    guard(|| {
        try_handle!(h = device);
        let id = try_slice!(key_id, 8, "key_id");
        if try_host!(h.host.remove_trusted_key(id)) {
            DEVCARE_OK
        } else {
            DEVCARE_NOTHING_DUE
        }
    })
}

/// Feeds a received broadcast payload at `now_ms`. If it is authentic, valid, new and
/// targets this device, the library calls `apply` once per setting, in order, and records
/// the results. A refused payload (the payload, not-targeted and stale-revision codes)
/// changes nothing and is counted.
///
/// # Safety
/// `payload` valid for `len` bytes; `apply` a valid callback for `user_data`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn devcare_device_receive(
    device: *mut devcare_device,
    payload: *const u8,
    len: usize,
    now_ms: u64,
    apply: devcare_apply_cb,
    user_data: *mut c_void,
) -> devcare_result {
    guard(|| {
        try_handle!(h = device);
        let bytes = try_slice!(payload, len, "payload");
        let Some(apply) = apply else {
            return fail(DEVCARE_NULL_ARGUMENT, "apply callback is NULL");
        };
        // SAFETY: callback contract forwarded.
        let tree = unsafe { c_tree(apply, user_data) };
        try_host!(h.host.receive(bytes, Timestamp(now_ms), tree));
        DEVCARE_OK
    })
}

/// Lets time pass: evaluates, schedules retries, gives up — whatever is due at `now_ms`.
/// Writes the next time a tick is needed to `*next_wake_ms` (0 when nothing is waiting).
///
/// # Safety
/// `next_wake_ms` NULL or valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn devcare_device_tick(
    device: *mut devcare_device,
    now_ms: u64,
    next_wake_ms: *mut u64,
) -> devcare_result {
    guard(|| {
        try_handle!(h = device);
        let next = try_host!(h.host.tick(Timestamp(now_ms)));
        if !next_wake_ms.is_null() {
            put!(next_wake_ms, next.map_or(0, Timestamp::as_millis));
        }
        DEVCARE_OK
    })
}
