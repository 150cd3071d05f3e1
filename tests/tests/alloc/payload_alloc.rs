//! A payload's lists are read as they are, not as their lengths claim: a signed body
//! claiming 200,000 settings in a few bytes is refused having reserved at most 64 KiB for
//! them, not the 11 MB the claim asks for. (Its own test binary: the counting allocator sees
//! only this test.)

use devcare::payload::{PayloadError, PayloadLimits, ServerKey, TrustedKeys, open_payload};
use devcare::spec::fixtures;
use ed25519_dalek::{Signer, SigningKey};

pub(crate) fn a_payload_claiming_200000_settings_is_refused_without_reserving_them() {
    let c = fixtures::campaign();
    let body = fixtures::body_claiming_settings(&c, 200_000);
    // Framed as format 2 and signed with the trusted key: it passes every check before
    // the body is decoded.
    let seed = [42; 32];
    let key = ServerKey::from_seed(&seed);
    let mut bytes = b"DVCP".to_vec();
    bytes.push(2);
    bytes.extend(key.id());
    bytes.extend(u64::MAX.to_be_bytes());
    bytes.extend((body.len() as u32).to_be_bytes());
    bytes.extend(&body);
    let signature = SigningKey::from_bytes(&seed).sign(&bytes);
    bytes.extend(signature.to_bytes());
    let mut trusted = TrustedKeys::new();
    trusted.add(key.public());
    let limits = PayloadLimits::default();

    let _profiler = dhat::Profiler::builder().testing().build();
    let before = dhat::HeapStats::get();
    let err = open_payload(&bytes, &trusted, c.issued_at, &limits).unwrap_err();
    let after = dhat::HeapStats::get();
    assert!(matches!(err, PayloadError::Malformed(_)), "{err:?}");
    let largest = after.max_bytes.saturating_sub(before.curr_bytes);
    assert!(
        largest <= 64 * 1024 + 4 * 1024,
        "opening {} bytes held {largest} bytes at its peak",
        bytes.len()
    );
}
