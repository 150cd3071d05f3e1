//! Writes the committed seed corpora for the fuzz targets.
//!
//! `cargo run -p devcare --example fuzz_seeds -- fuzz/corpus`

use std::path::Path;

use devcare::alert::{SyncHeader, render_alert, render_syncml};
use devcare::codec;
use devcare::payload::{PayloadLimits, ServerKey, build_payload};
use devcare::store::Persist;
use devcare::wire::{derive_device_key, encode_report};
use devcare::*;

fn write(dir: &Path, target: &str, name: &str, bytes: &[u8]) {
    let d = dir.join(target);
    std::fs::create_dir_all(&d).expect("corpus dir");
    std::fs::write(d.join(name), bytes).expect("seed");
}

fn main() {
    let out = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "fuzz/corpus".into());
    let out = Path::new(&out);
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/campaigns");
    let mut campaigns = Vec::new();
    for entry in std::fs::read_dir(&examples).expect("examples/campaigns") {
        let path = entry.expect("entry").path();
        let text = std::fs::read_to_string(&path).expect("read");
        let name = path
            .file_name()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        write(out, "campaign_toml", &name, text.as_bytes());
        campaigns.push(Campaign::from_toml(&name, &text).expect("example parses"));
    }
    campaigns.sort_by(|a, b| a.id.cmp(&b.id));
    let key = ServerKey::from_seed(&[42; 32]);
    for (i, c) in campaigns.iter().enumerate() {
        let p = build_payload(c, &key, Timestamp(u64::MAX), &PayloadLimits::default())
            .expect("payload");
        write(out, "payload_decode", &format!("payload-{i}"), &p);
        let body = codec::encode(c).expect("body");
        write(out, "campaign_decoders", &format!("campaign-{i}"), &body);
        if let Some(v1) = devcare::persist::v1::CampaignV1::downcast(c) {
            let body = codec::encode(&v1).expect("body");
            write(out, "campaign_decoders", &format!("campaign-v1-{i}"), &body);
        }
        let e = ServerEvent::CampaignCreated {
            campaign: Box::new(c.clone()),
            targeted: 1000,
            at: c.issued_at,
        };
        write(
            out,
            "stored_event_decode",
            &format!("created-{i}"),
            &e.to_record(&fuzz_stream(), 1).expect("record"),
        );
    }
    let device = DeviceId::new("IMEI:490154203237518").expect("id");
    let key = derive_device_key(&[7; 32], &device);
    let kinds = [
        ReportKind::Failure {
            findings: vec![
                Finding::Status {
                    index: 1,
                    status: 404,
                },
                Finding::Late {
                    after: Duration::from_secs(200),
                },
            ],
        },
        ReportKind::FailureSummary {
            count: 2,
            first_status: Some(500),
        },
        ReportKind::Success,
    ];
    for (i, kind) in kinds.into_iter().enumerate() {
        let r = Report {
            campaign: CampaignId::new("apn-2026-11").expect("id"),
            revision: 3,
            device: device.clone(),
            attempt: 1,
            evaluated_at: Timestamp(1_780_000_300_000),
            kind,
        };
        write(
            out,
            "report_decode",
            &format!("report-{i}"),
            &encode_report(&r, &key).expect("report"),
        );
        let full = campaigns.iter().find(|c| c.id == r.campaign);
        write(
            out,
            "alert_parse",
            &format!("alert-{i}.xml"),
            render_alert(&r, full, 1).as_bytes(),
        );
        let hdr = SyncHeader {
            session_id: "1".into(),
            msg_id: 1,
            server_uri: "https://dm.example/".into(),
        };
        write(
            out,
            "alert_parse",
            &format!("syncml-{i}.xml"),
            render_syncml(&r, full, &hdr).as_bytes(),
        );
        let e = DeviceEvent::ReportScheduled {
            attempt: 1,
            due: Timestamp(i as u64),
        };
        write(
            out,
            "stored_event_decode",
            &format!("device-{i}"),
            &e.to_record(&fuzz_stream(), 1).expect("record"),
        );
    }
    // Byte seeds for the structure-driven targets.
    for i in 0..4u8 {
        let seed: Vec<u8> = (0..256u32)
            .map(|j| (j as u8).wrapping_mul(31).wrapping_add(i * 17))
            .collect();
        write(out, "payload_roundtrip", &format!("bytes-{i}"), &seed);
        write(out, "store_model", &format!("bytes-{i}"), &seed);
    }
    println!("seeds written to {}", out.display());
}

/// The stream the `stored_event_decode` target reads its input at (seq 1).
fn fuzz_stream() -> devcare::store::StreamId {
    devcare::store::StreamId::new("server/fuzz").expect("valid")
}
