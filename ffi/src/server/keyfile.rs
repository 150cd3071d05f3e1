//! Key files that say what they hold (`devcare::keyfile`): PKCS#8 / SPKI PEM for the
//! payload keys, devcare-labelled PEM for the report keys.

use std::ffi::c_char;

use devcare::host::HostError;
use devcare::keyfile::{KeyKind, parse_key_file, render_key_file};

use super::*;

/// The payload signing key (PKCS#8 `PRIVATE KEY`, the Ed25519 seed).
pub const DEVCARE_KEY_SIGNING: u32 = 0;
/// Its public half (SPKI `PUBLIC KEY`).
pub const DEVCARE_KEY_PUBLIC: u32 = 1;
/// The report master key (`DEVCARE REPORT MASTER KEY`).
pub const DEVCARE_KEY_REPORT_MASTER: u32 = 2;
/// One device's report key (`DEVCARE DEVICE KEY`).
pub const DEVCARE_KEY_DEVICE: u32 = 3;

fn kind_arg(kind: u32) -> Result<KeyKind, devcare_result> {
    match kind {
        DEVCARE_KEY_SIGNING => Ok(KeyKind::Signing),
        DEVCARE_KEY_PUBLIC => Ok(KeyKind::Public),
        DEVCARE_KEY_REPORT_MASTER => Ok(KeyKind::ReportMaster),
        DEVCARE_KEY_DEVICE => Ok(KeyKind::Device),
        other => Err(fail(
            DEVCARE_INVALID_ARGUMENT,
            format!(
                "key kind {other} is not DEVCARE_KEY_SIGNING, _PUBLIC, _REPORT_MASTER or _DEVICE"
            ),
        )),
    }
}

/// Reads the key file text `text` (`len` bytes) that must hold a key of `kind`
/// (`DEVCARE_KEY_*`): its 32 bytes into `out`, and into `*legacy_hex` whether it was a bare
/// 64-hex file (deprecated: it does not say what it holds). A key of another kind is
/// `DEVCARE_KEY_WRONG_KIND` (the message names both); `_UNKNOWN_LABEL`, `_MALFORMED`
/// otherwise.
///
/// # Safety
/// `text` valid for `len` bytes; `out` 32 writable bytes; `legacy_hex` valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn devcare_key_file_read(
    text: *const c_char,
    len: usize,
    kind: u32,
    out: *mut u8,
    legacy_hex: *mut bool,
) -> devcare_result {
    guard(|| {
        let text = tri!(super::text(
            try_slice!(text.cast::<u8>(), len, "text"),
            "text"
        ));
        try_out!(out, legacy_hex);
        let kind = tri!(kind_arg(kind));
        let key = try_host!(parse_key_file(text, kind).map_err(HostError::from));
        put!(out.cast::<[u8; 32]>(), *key.bytes);
        put!(legacy_hex, key.legacy_hex);
        DEVCARE_OK
    })
}

/// Writes `key` (32 bytes) as a key file of `kind` (`DEVCARE_KEY_*`): NUL-terminated PEM
/// in `buf`, `*len` its length without the NUL (on `DEVCARE_BUFFER_TOO_SMALL` too; 256 bytes
/// always suffice). A public key that is no Ed25519 point is `DEVCARE_KEY_MALFORMED`.
///
/// # Safety
/// `key` 32 readable bytes; `buf` valid for `cap` bytes; `len` valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn devcare_key_file_write(
    kind: u32,
    key: *const u8,
    buf: *mut c_char,
    cap: usize,
    len: *mut usize,
) -> devcare_result {
    guard(|| {
        let key = try_key!(key);
        try_out!(len);
        let kind = tri!(kind_arg(kind));
        let mut bytes = [0u8; 32];
        bytes.copy_from_slice(key);
        let pem = try_host!(render_key_file(kind, &bytes).map_err(HostError::from));
        put!(len, pem.len());
        try_write_str!(&pem, buf, cap);
        DEVCARE_OK
    })
}
