//! The committed wire vectors (`tests/vectors/wire.json`) decode to their stated values and
//! are what this build produces, byte for byte (ed25519 signatures are deterministic).

use devcare::payload::{PayloadLimits, TrustedKeys, open_payload};
use devcare::text::{hex_decode, hex_encode};
use devcare::wire::{DEFAULT_MAX_REPORT_BYTES, decode_report, derive_device_key};
use devcare::*;
use serde_json::Value;

fn doc() -> Value {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/vectors/wire.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn bytes(v: &Value) -> Vec<u8> {
    hex_decode(v.as_str().unwrap()).unwrap()
}

fn open(d: &Value, field: &str) -> devcare::payload::VerifiedPayload {
    let mut trusted = TrustedKeys::new();
    trusted
        .add_bytes(&bytes(&d["public_key_hex"]).try_into().unwrap())
        .unwrap();
    open_payload(
        &bytes(&d[field]),
        &trusted,
        Timestamp(d["now_ms"].as_u64().unwrap()),
        &PayloadLimits::default(),
    )
    .unwrap()
}

fn assert_stated(p: &devcare::payload::VerifiedPayload, c: &Value, timeout_field: &str) {
    assert_eq!(p.campaign.id.as_str(), c["id"]);
    assert_eq!(
        u64::from(p.campaign.revision),
        c["revision"].as_u64().unwrap()
    );
    assert_eq!(
        p.campaign.issued_at.as_millis(),
        c["issued_at_ms"].as_u64().unwrap()
    );
    assert_eq!(
        p.valid_until.as_millis(),
        c["valid_until_ms"].as_u64().unwrap()
    );
    assert_eq!(
        p.campaign.schedule.care.timeout.as_millis(),
        c[timeout_field].as_u64().unwrap()
    );
    let uris: Vec<&str> = c["setting_uris"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u.as_str().unwrap())
        .collect();
    assert_eq!(
        p.campaign
            .settings
            .iter()
            .map(|s| s.uri.as_str())
            .collect::<Vec<_>>(),
        uris
    );
}

fn rebuild(d: &Value, campaign: &Campaign, valid_until: Timestamp) -> String {
    hex_encode(
        &devcare::payload::build_payload(
            campaign,
            &devcare::payload::ServerKey::from_seed(
                &bytes(&d["signing_seed_hex"]).try_into().unwrap(),
            ),
            valid_until,
            &PayloadLimits::default(),
        )
        .unwrap(),
    )
}

#[test]
fn payload_vector_opens_to_the_stated_campaign() {
    let d = doc();
    let p = open(&d, "payload_hex");
    assert_eq!(bytes(&d["payload_hex"])[4], 2, "format 2");
    assert_stated(&p, &d["campaign"], "care_timeout_ms");
    // The same campaign file still builds the same bytes.
    let text = include_str!("../../../examples/campaigns/apn-full.toml");
    let file = Campaign::from_toml("apn-full.toml", text).unwrap();
    assert_eq!(p.campaign, file);
    assert_eq!(rebuild(&d, &file, p.valid_until), d["payload_hex"]);
}

#[test]
fn a_format_1_payload_still_opens_and_is_what_a_default_timeout_builds() {
    let d = doc();
    let p = open(&d, "payload_v1_hex");
    assert_eq!(bytes(&d["payload_v1_hex"])[4], 1, "format 1");
    assert_stated(&p, &d["campaign"], "care_timeout_ms_v1");
    assert_eq!(p.campaign.schedule.care.timeout, DEFAULT_CARE_TIMEOUT);
    // A campaign that uses nothing of format 2 is still written in format 1, byte for byte
    // what 0.2 wrote, so devices of older builds keep reading it.
    assert_eq!(rebuild(&d, &p.campaign, p.valid_until), d["payload_v1_hex"]);
    // Everything but the timeout is the format-2 vector's campaign.
    let mut v2 = open(&d, "payload_hex").campaign.into_inner();
    v2.schedule.care.timeout = DEFAULT_CARE_TIMEOUT;
    assert_eq!(p.campaign, v2);
}

#[test]
fn an_unknown_payload_format_is_refused_before_anything_is_read() {
    let d = doc();
    let mut b = bytes(&d["payload_hex"]);
    b[4] = 3;
    let mut trusted = TrustedKeys::new();
    trusted
        .add_bytes(&bytes(&d["public_key_hex"]).try_into().unwrap())
        .unwrap();
    let e = open_payload(&b, &trusted, Timestamp(0), &PayloadLimits::default()).unwrap_err();
    assert_eq!(e, devcare::payload::PayloadError::UnsupportedVersion(3));
}

#[test]
fn report_vector_decodes_to_the_stated_report() {
    let d = doc();
    let master: [u8; 32] = bytes(&d["master_hex"]).try_into().unwrap();
    let r = decode_report(&bytes(&d["report_hex"]), DEFAULT_MAX_REPORT_BYTES, |dev| {
        Some(derive_device_key(&master, dev))
    })
    .unwrap();
    let w = &d["report"];
    assert_eq!(r.campaign.as_str(), w["campaign"]);
    assert_eq!(r.device.as_str(), w["device"]);
    assert_eq!(u64::from(r.attempt), w["attempt"].as_u64().unwrap());
    assert_eq!(
        r.evaluated_at.as_millis(),
        w["evaluated_at_ms"].as_u64().unwrap()
    );
    let ReportKind::Failure { findings } = r.kind else {
        panic!("a failure report")
    };
    let idx: Vec<u64> = findings
        .iter()
        .filter_map(Finding::setting)
        .map(u64::from)
        .collect();
    assert_eq!(
        idx,
        w["failed_settings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap())
            .collect::<Vec<_>>()
    );
    assert_eq!(
        hex_encode(&derive_device_key(&master, &r.device)),
        d["device_key_hex"].as_str().unwrap()
    );
}
