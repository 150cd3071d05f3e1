//! `devcare_server`: the DM server side. Each function converts its C arguments and calls
//! one [`ServerHost`] flow.

use std::ffi::c_char;
use std::path::Path;

use devcare::Timestamp;
use devcare::host::ServerHost;

use crate::boundary::{Guarded, Handle, fail, guard};
use crate::result::devcare_result::{self, *};

mod care;
mod coverage;
mod groups;
mod ingest;
mod keyfile;
mod ops;
mod package;

pub use care::*;
pub use coverage::*;
pub use groups::*;
pub use ingest::*;
pub use keyfile::*;
pub use ops::*;
pub use package::*;

/// The server side: one stream per campaign.
#[derive(Debug)]
pub struct devcare_server {
    g: Guarded<ServerInner>,
}

/// What a server handle holds.
#[derive(Debug)]
pub(crate) struct ServerInner {
    pub(crate) host: ServerHost,
}

impl Handle for devcare_server {
    type Inner = ServerInner;
    fn guarded(&self) -> &Guarded<ServerInner> {
        &self.g
    }
}

/// Reads a UTF-8 text argument given as pointer + length.
fn text<'a>(bytes: &'a [u8], what: &str) -> Result<&'a str, devcare_result> {
    std::str::from_utf8(bytes)
        .map_err(|_| fail(DEVCARE_INVALID_UTF8, format!("{what} is not UTF-8")))
}

/// Opens a care server. Device report keys are derived from `master_key` (32 bytes, see
/// `devcare_derive_device_key`). `sled_path` NULL keeps the log in memory.
///
/// # Safety
/// Pointers NULL or valid; `out` valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn devcare_server_open(
    sled_path: *const c_char,
    master_key: *const u8,
    out: *mut *mut devcare_server,
) -> devcare_result {
    guard(|| {
        try_out!(out);
        let master = try_key!(master_key);
        let path = if sled_path.is_null() {
            None
        } else {
            Some(Path::new(try_str!(sled_path)))
        };
        let host = try_host!(ServerHost::open(path, master));
        put!(
            out,
            Box::into_raw(Box::new(devcare_server {
                g: Guarded::new(ServerInner { host }),
            }))
        );
        DEVCARE_OK
    })
}

/// Flushes and frees a server. NULL does nothing.
///
/// # Safety
/// NULL or a live handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn devcare_server_free(server: *mut devcare_server) {
    let _ = guard(|| {
        if server.is_null() {
            return DEVCARE_OK;
        }
        // SAFETY: a live handle; shared until known idle.
        if unsafe { &*server }.g.is_busy() {
            return fail(
                DEVCARE_REENTRANT,
                "devcare_server_free while a call holds the handle: nothing freed",
            );
        }
        // SAFETY: a live, idle handle, freed once.
        let h = unsafe { Box::from_raw(server) };
        let _ = h.g.into_inner().host.flush();
        DEVCARE_OK
    });
}

/// Also takes reports under device keys derived from `master_key` (32 bytes): a report key
/// rotation starts.
///
/// # Safety
/// `master_key` valid for 32 bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn devcare_server_add_master_key(
    server: *mut devcare_server,
    master_key: *const u8,
) -> devcare_result {
    guard(|| {
        try_handle!(h = server);
        let master = try_key!(master_key);
        try_host!(h.host.add_master_key(master));
        DEVCARE_OK
    })
}

/// Stops taking reports under keys derived from `master_key` (the rotation is over).
/// `DEVCARE_NOTHING_DUE` when it was not held or is the last master (which stays).
///
/// # Safety
/// `master_key` valid for 32 bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn devcare_server_remove_master_key(
    server: *mut devcare_server,
    master_key: *const u8,
) -> devcare_result {
    guard(|| {
        try_handle!(h = server);
        let master = try_key!(master_key);
        if try_host!(h.host.remove_master_key(master)) {
            DEVCARE_OK
        } else {
            DEVCARE_NOTHING_DUE
        }
    })
}

/// Records that `device_id` belongs to the `n_groups` groups at `groups` (replacing what was
/// recorded; 0 groups clears it). Group campaigns accept reports only from members. The
/// table is kept in the server's store and read back by `devcare_server_open`; setting what
/// is recorded appends nothing (a host may refill it after every open).
///
/// # Safety
/// `device_id` NUL-terminated; `groups` valid for `n_groups` string pointers.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn devcare_server_set_device_groups(
    server: *mut devcare_server,
    device_id: *const c_char,
    groups: *const *const c_char,
    n_groups: usize,
) -> devcare_result {
    guard(|| {
        try_handle!(h = server);
        let id = try_str!(device_id);
        let groups = try_str_array!(groups, n_groups);
        try_host!(h.host.set_device_groups(id, groups));
        DEVCARE_OK
    })
}

/// Creates a campaign from campaign-file text (`toml`, `len` bytes, UTF-8) at `now_ms`.
/// `targeted` is the number of target devices (0 for an explicit device list). Writes the
/// campaign id into `campaign_buf`: 65 bytes always suffice (a smaller buffer that cannot
/// hold the id is `DEVCARE_BUFFER_TOO_SMALL` and nothing is created). A file error is
/// `DEVCARE_CAMPAIGN_INVALID` with `line:col` in `devcare_last_error`.
///
/// # Safety
/// `toml` valid for `len` bytes; `campaign_buf` for `campaign_cap` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn devcare_server_create_campaign(
    server: *mut devcare_server,
    toml: *const c_char,
    len: usize,
    targeted: u64,
    now_ms: u64,
    campaign_buf: *mut c_char,
    campaign_cap: usize,
) -> devcare_result {
    guard(|| {
        try_handle!(h = server);
        let toml = tri!(text(try_slice!(toml.cast::<u8>(), len, "toml"), "toml"));
        // A campaign file error is reported before a missing output buffer.
        let campaign = try_host!(ServerHost::parse_campaign(toml));
        try_out!(campaign_buf);
        if campaign_cap < campaign.id.as_str().len() + 1 {
            return fail(
                DEVCARE_BUFFER_TOO_SMALL,
                "campaign buffer too small (65 bytes suffice)",
            );
        }
        let id = try_host!(h.host.create(campaign, targeted, Timestamp(now_ms)));
        try_write_str!(id.as_str(), campaign_buf, campaign_cap);
        DEVCARE_OK
    })
}

/// Revises a live campaign from campaign-file text (`toml`, `len` bytes): the same id at a
/// higher revision (`DEVCARE_REVISION_NOT_NEWER` otherwise). The old revision's care stops
/// and its reports are refused (DM status 410: the device stops retrying). Build and
/// broadcast the new payload next. `targeted` as for `devcare_server_create_campaign`.
///
/// # Safety
/// `toml` valid for `len` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn devcare_server_revise_campaign(
    server: *mut devcare_server,
    toml: *const c_char,
    len: usize,
    targeted: u64,
    now_ms: u64,
) -> devcare_result {
    guard(|| {
        try_handle!(h = server);
        let toml = tri!(text(try_slice!(toml.cast::<u8>(), len, "toml"), "toml"));
        try_host!(h.host.revise_campaign(toml, targeted, Timestamp(now_ms)));
        DEVCARE_OK
    })
}

/// Signs `campaign` into its broadcast payload with the secret `signing_seed` (32 bytes),
/// valid until `valid_until_ms`, and records the broadcast. Bytes into `buf`, size into
/// `*len` (on `DEVCARE_BUFFER_TOO_SMALL`, the needed size and nothing else: the broadcast
/// is recorded only when the payload is handed out). When recording the broadcast fails
/// (`DEVCARE_ALREADY_BROADCAST`, `DEVCARE_BROADCAST_TOO_LATE`, a store error) neither
/// `buf` nor `*len` is written.
///
/// # Safety
/// Pointers valid as described.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn devcare_server_build_payload(
    server: *mut devcare_server,
    campaign: *const c_char,
    signing_seed: *const u8,
    valid_until_ms: u64,
    now_ms: u64,
    buf: *mut u8,
    cap: usize,
    len: *mut usize,
) -> devcare_result {
    guard(|| {
        try_handle!(h = server);
        let id = try_str!(campaign);
        let seed = try_key!(signing_seed);
        try_out!(len);
        let bytes = try_host!(h.host.sign_payload(id, seed, Timestamp(valid_until_ms)));
        if cap < bytes.len() || buf.is_null() {
            // Only the needed size: nothing is recorded.
            try_write_bytes!(&bytes, buf, cap, len);
        }
        try_host!(h.host.mark_broadcast(id, Timestamp(now_ms)));
        try_write_bytes!(&bytes, buf, cap, len);
        DEVCARE_OK
    })
}
