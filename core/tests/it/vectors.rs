//! The slot function against the committed vectors (`tests/vectors/slots.json`), which the
//! C, Kotlin, Swift and Python bindings check too. The formulas in the file's `about` text
//! are recomputed here straight from SipHash, so the file, the docs and the code agree.

use devcare::{DeviceId, Duration, ReportPolicy, RetryPolicy, Timestamp, schedule::Detail, slot};
use serde_json::Value;
use siphasher::sip::SipHasher24;

fn vectors() -> Vec<Value> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/vectors/slots.json");
    let text = std::fs::read_to_string(path).expect("tests/vectors/slots.json");
    let doc: Value = serde_json::from_str(&text).expect("valid JSON");
    doc["vectors"].as_array().expect("vectors").clone()
}

fn salt_of(v: &Value) -> [u8; 16] {
    let h = v["salt_hex"].as_str().unwrap();
    core::array::from_fn(|i| u8::from_str_radix(&h[2 * i..2 * i + 2], 16).unwrap())
}

fn u64_of(v: &Value) -> u64 {
    v.as_u64().expect("integer")
}

#[test]
fn slot_function_matches_the_committed_vectors() {
    let vs = vectors();
    assert_eq!(vs.len(), 16);
    for v in &vs {
        let salt = salt_of(v);
        let device = DeviceId::new(v["device"].as_str().unwrap()).unwrap();
        let raw = SipHasher24::new_with_key(&salt).hash(device.as_bytes());
        let want_slot = u64::from_str_radix(v["slot_hex"].as_str().unwrap(), 16).unwrap();
        assert_eq!(slot::slot(&salt, &device), want_slot, "{device}");
        assert_eq!(raw, want_slot, "documented formula, {device}");

        let evaluated_at = Timestamp(u64_of(&v["evaluated_at_ms"]));
        for rt in v["report_times"].as_array().unwrap() {
            let (offset, window) = (u64_of(&rt["offset_ms"]), u64_of(&rt["window_ms"]));
            let policy = ReportPolicy {
                offset: Duration(offset),
                window: Duration(window),
                retry: RetryPolicy {
                    attempts: 1,
                    backoff: Duration::ZERO,
                    max_backoff: Duration::ZERO,
                },
                deadline: Duration::from_days(30),
                detail: Detail::PerSetting,
            };
            let want = u64_of(&rt["report_at_ms"]);
            assert_eq!(
                slot::first_report_at(&salt, &device, evaluated_at, policy.offset, policy.window)
                    .as_millis(),
                want
            );
            assert_eq!(evaluated_at.as_millis() + offset + raw % window, want);
        }

        let r = &v["retry"];
        let retry = RetryPolicy {
            attempts: 8,
            backoff: Duration(u64_of(&r["backoff_ms"])),
            max_backoff: Duration(u64_of(&r["max_backoff_ms"])),
        };
        for (i, d) in r["delays_ms"].as_array().unwrap().iter().enumerate() {
            let n = i as u32 + 1;
            assert_eq!(
                slot::retry_delay(&salt, &device, n, &retry).as_millis(),
                u64_of(d)
            );
            let cap = (retry.backoff.as_millis() << (n - 1)).min(retry.max_backoff.as_millis());
            let mut msg = b"devcare/retry\0".to_vec();
            msg.extend_from_slice(&n.to_be_bytes());
            msg.extend_from_slice(device.as_bytes());
            let h = SipHasher24::new_with_key(&salt).hash(&msg);
            assert_eq!(
                cap - cap / 2 + h % (cap / 2 + 1),
                u64_of(d),
                "documented retry formula"
            );
        }

        for s in v["sampled"].as_array().unwrap() {
            let ppm = u64_of(&s["ppm"]) as u32;
            let want = s["sampled"].as_bool().unwrap();
            assert_eq!(slot::sampled(&salt, &device, ppm), want);
            let mut msg = b"devcare/sample\0".to_vec();
            msg.extend_from_slice(device.as_bytes());
            let h = SipHasher24::new_with_key(&salt).hash(&msg);
            assert_eq!(
                h % 1_000_000 < u64::from(ppm),
                want,
                "documented sampling formula"
            );
        }
    }
    // The vectors exercise both answers of the sampling decision.
    let flags: Vec<bool> = vs
        .iter()
        .flat_map(|v| {
            v["sampled"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s["sampled"].as_bool().unwrap())
        })
        .collect();
    assert!(flags.contains(&true) && flags.contains(&false));
}
