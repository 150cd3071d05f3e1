//! The slot function: when each device reports, retries, and whether it sends a success
//! probe. Part of the wire contract — every binding must compute the same numbers; the
//! vectors in `tests/vectors/slots.json` pin them.
//!
//! * `slot(salt, device) = SipHash-2-4(key = salt, msg = device id bytes)`
//! * first report at `evaluated_at + offset + slot % window`
//! * sampled success: `SipHash-2-4(salt, "devcare/sample\0" ‖ device) % 1_000_000 < ppm`
//! * retry `n` (n ≥ 1, the n-th resend) after the previous send, with
//!   `d = min(backoff · 2^(n-1), max_backoff)`:
//!   `d - d/2 + SipHash-2-4(salt, "devcare/retry\0" ‖ n as u32 big-endian ‖ device) % (d/2 + 1)`
//!   — "equal jitter": always within `[d - d/2, d]`, never above `max_backoff`.
//!
//! Device ids never contain NUL (see [`DeviceId`]), so the three messages never collide.

use std::hash::Hasher;

use siphasher::sip::SipHasher24;

use crate::model::{DeviceId, Duration, Timestamp};
use crate::schedule::RetryPolicy;

const SAMPLE_DOMAIN: &[u8] = b"devcare/sample\0";
const RETRY_DOMAIN: &[u8] = b"devcare/retry\0";
const POLL_DOMAIN: &[u8] = b"devcare/poll\0";

/// SipHash-2-4 of `device`'s id bytes under the campaign `salt`.
pub fn slot(salt: &[u8; 16], device: &DeviceId) -> u64 {
    slot_id(salt, device.as_bytes())
}

/// [`slot`] of the id bytes `device`.
pub(crate) fn slot_id(salt: &[u8; 16], device: &[u8]) -> u64 {
    SipHasher24::new_with_key(salt).hash(device)
}

/// SipHash-2-4 of `domain ‖ extra ‖ device` under `salt`, fed piece by piece (no copy of
/// the message: the hash of a stream is the hash of its concatenation).
fn domain_hash(salt: &[u8; 16], domain: &[u8], extra: &[u8], device: &[u8]) -> u64 {
    let mut h = SipHasher24::new_with_key(salt);
    h.write(domain);
    h.write(extra);
    h.write(device);
    h.finish()
}

/// When the first report is due: `evaluated_at + offset + slot % window`.
/// Always in `[evaluated_at + offset, evaluated_at + offset + window)` (a zero window, which
/// validation rejects, is treated as one millisecond).
pub fn first_report_at(
    salt: &[u8; 16],
    device: &DeviceId,
    evaluated_at: Timestamp,
    offset: Duration,
    window: Duration,
) -> Timestamp {
    let window = window.as_millis().max(1);
    evaluated_at
        .plus(offset)
        .plus(Duration(slot(salt, device) % window))
}

/// Delay before resend number `retry` (1 = first resend) after the previous send, under
/// `policy` ([`backoff_delay`] with the policy's backoff and cap).
pub fn retry_delay(
    salt: &[u8; 16],
    device: &DeviceId,
    retry: u32,
    policy: &RetryPolicy,
) -> Duration {
    backoff_delay(salt, device, retry, policy.backoff, policy.max_backoff)
}

pub use crate::schedule::backoff_cap;

/// Capped equal-jitter backoff: the delay before resend `retry` (from 1) is
/// `d = min(backoff · 2^(retry-1), max_backoff)`, then `d/2 + jitter` with the jitter in
/// `[0, d/2]` drawn from the device's slot hash, so a device's retries are reproducible.
pub fn backoff_delay(
    salt: &[u8; 16],
    device: &DeviceId,
    retry: u32,
    backoff: Duration,
    max_backoff: Duration,
) -> Duration {
    let d = backoff_cap(retry, backoff, max_backoff).as_millis();
    let half = d / 2;
    let jitter =
        domain_hash(salt, RETRY_DOMAIN, &retry.to_be_bytes(), device.as_bytes()) % (half + 1);
    Duration(d - half + jitter)
}

/// Where `device` stands in a repair's poll order (`devcare/poll\0` ‖ device under the
/// salt): a repair polls silent targets in ascending `(poll_key, id)`, so each batch is a
/// uniform random sample of the silent targets not polled yet.
pub fn poll_key(salt: &[u8; 16], device: &[u8]) -> u64 {
    domain_hash(salt, POLL_DOMAIN, &[], device)
}

/// Whether a healthy `device` sends a success probe at sample rate `ppm` (parts per million).
pub fn sampled(salt: &[u8; 16], device: &DeviceId, ppm: u32) -> bool {
    if ppm == 0 {
        return false;
    }
    sampled_id(salt, device.as_bytes(), ppm)
}

/// [`sampled`] of the id bytes `device` (a simulated fleet counts its sample without
/// building an id per device).
pub(crate) fn sampled_id(salt: &[u8; 16], device: &[u8], ppm: u32) -> bool {
    ppm != 0 && domain_hash(salt, SAMPLE_DOMAIN, &[], device) % 1_000_000 < u64::from(ppm)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn siphash_matches_the_reference_vector_of_the_siphash_paper() {
        // Aumasson & Bernstein, "SipHash: a fast short-input PRF", appendix A:
        // key 00..0f, message 00..0e (15 bytes) → a129ca6149be45e5.
        let key: [u8; 16] = core::array::from_fn(|i| i as u8);
        let msg: Vec<u8> = (0u8..15).collect();
        assert_eq!(
            SipHasher24::new_with_key(&key).hash(&msg),
            0xa129_ca61_49be_45e5
        );
    }

    #[test]
    fn retry_delay_stays_within_equal_jitter_bounds_and_cap() {
        let salt = [7u8; 16];
        let dev = DeviceId::new("IMEI:1").unwrap();
        let p = RetryPolicy {
            attempts: 10,
            backoff: Duration::from_secs(60),
            max_backoff: Duration::from_secs(600),
        };
        for n in 1..=40 {
            let d = (60_000u64 << (n - 1).min(20)).min(600_000);
            let got = retry_delay(&salt, &dev, n, &p).as_millis();
            assert!(
                got >= d - d / 2 && got <= d,
                "retry {n}: {got} not in [{}, {d}]",
                d - d / 2
            );
        }
    }
}
