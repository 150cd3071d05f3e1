//! A report is small and untrusted: whatever lengths its body claims, decoding it never
//! allocates more than a report can hold. (Its own test binary: the counting allocator
//! sees only this test.)

use devcare::wire::{DEFAULT_MAX_REPORT_BYTES, ReportError, decode_report, derive_device_key};
use devcare::*;
use hmac::{Hmac, Mac};
use sha2::Sha256;

pub(crate) fn a_report_claiming_a_million_findings_is_refused_without_allocating_them() {
    let device = DeviceId::new("IMEI:1").unwrap();
    let key = derive_device_key(&[7; 32], &device);
    let report = Report {
        campaign: CampaignId::new("c").unwrap(),
        revision: 1,
        device: device.clone(),
        attempt: 1,
        evaluated_at: Timestamp(1),
        kind: ReportKind::Failure { findings: vec![] },
    };
    // The honest body ends with the findings' length, 0; claim 1,000,000 instead
    // (bincode varint: 0xFC then a u32).
    let mut body = devcare::codec::encode(&report).unwrap();
    assert_eq!(body.pop(), Some(0));
    body.push(0xFC);
    body.extend_from_slice(&1_000_000u32.to_le_bytes());
    // Framed and MAC'd with the device's real key: it passes every check before decoding.
    let mut bytes = b"DVCR".to_vec();
    bytes.push(1);
    bytes.push(device.as_str().len() as u8);
    bytes.extend_from_slice(device.as_str().as_bytes());
    bytes.extend_from_slice(&(body.len() as u32).to_be_bytes());
    bytes.extend_from_slice(&body);
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&key).unwrap();
    mac.update(&bytes);
    bytes.extend_from_slice(&mac.finalize().into_bytes());
    assert!(bytes.len() < 80, "{} bytes", bytes.len());
    let _profiler = dhat::Profiler::builder().testing().build();
    let before = dhat::HeapStats::get().total_bytes;
    let err = decode_report(&bytes, DEFAULT_MAX_REPORT_BYTES, |_| Some(key)).unwrap_err();
    let allocated = dhat::HeapStats::get().total_bytes - before;
    assert!(matches!(err, ReportError::Malformed(_)), "{err:?}");
    assert!(
        allocated <= DEFAULT_MAX_REPORT_BYTES as u64,
        "decoding {} bytes allocated {allocated} bytes",
        bytes.len()
    );
}
