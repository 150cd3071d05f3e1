//! Any bytes fed to the server's report decoder: a typed refusal or an authentic report.
#![no_main]

use devcare::wire::{DEFAULT_MAX_REPORT_BYTES, decode_report, derive_device_key};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let master = [7u8; 32];
    if let Ok(r) = decode_report(data, DEFAULT_MAX_REPORT_BYTES, |d| {
        Some(derive_device_key(&master, d))
    }) {
        assert!(data.len() <= DEFAULT_MAX_REPORT_BYTES);
        let _ = r.kind.is_failure();
    }
});
