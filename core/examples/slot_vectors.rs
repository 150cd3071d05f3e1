//! Prints the slot-function test vectors as JSON (committed as `tests/vectors/slots.json`).
//!
//! `cargo run -p devcare --example slot_vectors > tests/vectors/slots.json`

use devcare::{DeviceId, Duration, ReportPolicy, RetryPolicy, Timestamp, schedule::Detail, slot};
use serde_json::json;

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn main() {
    let salts: [[u8; 16]; 4] = [
        [0; 16],
        core::array::from_fn(|i| i as u8),
        *b"0123456789abcdef",
        [
            0xff, 0x01, 0x80, 0x7f, 0x10, 0x20, 0x30, 0x40, 0xaa, 0x55, 0xde, 0xad, 0xbe, 0xef,
            0x00, 0x99,
        ],
    ];
    let devices = [
        "A".to_string(),
        "IMEI:490154203237518".to_string(),
        "urn:uuid:6e8bc430-9c3a-11d9-9669-0800200c9a66".to_string(),
        "x".repeat(128),
    ];
    let policies = [
        (Duration::from_mins(1), Duration::from_hours(1)),
        (Duration::ZERO, Duration::from_millis(1)),
        (Duration::from_secs(30), Duration::from_days(7)),
    ];
    let retry = RetryPolicy {
        attempts: 8,
        backoff: Duration::from_mins(2),
        max_backoff: Duration::from_mins(30),
    };
    let evaluated_at = Timestamp(1_780_000_300_000);
    let mut vectors = Vec::new();
    for salt in &salts {
        for d in &devices {
            let device = DeviceId::new(d.clone()).expect("valid id");
            let report_times: Vec<_> = policies
                .iter()
                .map(|&(offset, window)| {
                    let p = ReportPolicy {
                        offset,
                        window,
                        retry,
                        deadline: Duration::from_days(30),
                        detail: Detail::PerSetting,
                    };
                    json!({
                        "offset_ms": offset.as_millis(),
                        "window_ms": window.as_millis(),
                        "report_at_ms": slot::first_report_at(salt, &device, evaluated_at, p.offset, p.window).as_millis(),
                    })
                })
                .collect();
            let retry_delays: Vec<u64> = (1..=6)
                .map(|n| slot::retry_delay(salt, &device, n, &retry).as_millis())
                .collect();
            let sampled: Vec<_> = [0u32, 1_000, 500_000, 1_000_000]
                .iter()
                .map(|&ppm| json!({ "ppm": ppm, "sampled": slot::sampled(salt, &device, ppm) }))
                .collect();
            vectors.push(json!({
                "salt_hex": hex(salt),
                "device": d,
                "slot_hex": format!("{:016x}", slot::slot(salt, &device)),
                "evaluated_at_ms": evaluated_at.as_millis(),
                "report_times": report_times,
                "retry": { "backoff_ms": retry.backoff.as_millis(), "max_backoff_ms": retry.max_backoff.as_millis(),
                           "delays_ms": retry_delays },
                "sampled": sampled,
            }));
        }
    }
    let doc = json!({
        "about": "devcare slot-function test vectors. slot = SipHash-2-4(key = salt, msg = device id bytes); report_at = evaluated_at + offset + slot % window; retry n: d = min(backoff * 2^(n-1), max_backoff), delay = d - d/2 + SipHash-2-4(salt, \"devcare/retry\\0\" || u32be(n) || device) % (d/2 + 1); sampled = SipHash-2-4(salt, \"devcare/sample\\0\" || device) % 1000000 < ppm. u64 values as hex strings.",
        "vectors": vectors,
    });
    println!("{}", serde_json::to_string_pretty(&doc).expect("json"));
}
