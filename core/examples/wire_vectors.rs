//! Prints the wire-format test vectors as JSON (committed as `tests/vectors/wire.json`):
//! a signed payload with the campaign it decodes to, and an authenticated report with its
//! fields. Every binding decodes the same bytes to the same values.
//!
//! `cargo run -p devcare --example wire_vectors > tests/vectors/wire.json`

use devcare::payload::{PayloadLimits, ServerKey, build_payload};
use devcare::text::hex_encode;
use devcare::wire::{derive_device_key, encode_report};
use devcare::*;
use serde_json::json;

fn main() {
    let text = include_str!("../../examples/campaigns/apn-full.toml");
    let campaign = Campaign::from_toml("apn-full.toml", text).expect("example parses");
    let seed = [42u8; 32];
    let key = ServerKey::from_seed(&seed);
    let valid_until = campaign.issued_at.plus(campaign.schedule.report.deadline);
    let payload =
        build_payload(&campaign, &key, valid_until, &PayloadLimits::default()).expect("payload");
    // The same campaign with the default care timeout: payload format 1, which every build
    // since 0.1 reads (the bytes are those 0.2 wrote).
    let mut v1 = campaign.clone();
    v1.schedule.care.timeout = DEFAULT_CARE_TIMEOUT;
    let payload_v1 =
        build_payload(&v1, &key, valid_until, &PayloadLimits::default()).expect("payload v1");
    let master = [7u8; 32];
    let device = DeviceId::new("IMEI:490154203237518").expect("id");
    let report = Report {
        campaign: campaign.id.clone(),
        revision: campaign.revision,
        device: device.clone(),
        attempt: 2,
        evaluated_at: campaign.issued_at.plus(Duration::from_mins(5)),
        kind: ReportKind::Failure {
            findings: vec![
                Finding::Status {
                    index: 2,
                    status: 404,
                },
                Finding::Missing { index: 5 },
            ],
        },
    };
    let device_key = derive_device_key(&master, &device);
    let report_bytes = encode_report(&report, &device_key).expect("report");
    let doc = json!({
        "about": "devcare wire vectors: payload_hex (format 2) opens (ed25519 public key public_key_hex, at now_ms) to the campaign below, payload_v1_hex (format 1) to the same campaign with the default care timeout (care_timeout_ms_v1); report_hex decodes (HMAC key device_key_hex = HMAC-SHA256(master_hex, \"devcare/device-key\\0\" || device)) to the report below.",
        "signing_seed_hex": hex_encode(&seed),
        "public_key_hex": hex_encode(key.public().as_bytes()),
        "now_ms": campaign.issued_at.as_millis(),
        "payload_hex": hex_encode(&payload),
        "payload_v1_hex": hex_encode(&payload_v1),
        "campaign": {
            "id": campaign.id.as_str(),
            "revision": campaign.revision,
            "issued_at_ms": campaign.issued_at.as_millis(),
            "valid_until_ms": valid_until.as_millis(),
            "care_timeout_ms": campaign.schedule.care.timeout.as_millis(),
            "care_timeout_ms_v1": DEFAULT_CARE_TIMEOUT.as_millis(),
            "setting_uris": campaign.settings.iter().map(|s| s.uri.clone()).collect::<Vec<_>>(),
        },
        "master_hex": hex_encode(&master),
        "device_key_hex": hex_encode(&device_key),
        "report_hex": hex_encode(&report_bytes),
        "report": {
            "campaign": report.campaign.as_str(),
            "revision": report.revision,
            "device": device.as_str(),
            "attempt": report.attempt,
            "evaluated_at_ms": report.evaluated_at.as_millis(),
            "kind": "failure",
            "failed_settings": [2, 5],
        },
    });
    println!("{}", serde_json::to_string_pretty(&doc).expect("json"));
}
