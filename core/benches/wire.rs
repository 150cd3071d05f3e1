//! Wire formats: a device opening a signed 32-setting payload and evaluating it, beside a
//! bare ed25519 verification of the same bytes; the server decoding and authenticating a
//! report.
//!
//! `cargo bench -p devcare --bench wire`

use criterion::{Criterion, criterion_group, criterion_main};
use devcare::wire::{DEFAULT_MAX_REPORT_BYTES, decode_report, derive_device_key, encode_report};
use devcare::*;
use std::hint::black_box;

#[path = "common/interleaved.rs"]
mod interleaved;
#[path = "common/payload_case.rs"]
#[allow(dead_code)] // `unsigned`, the probe's
mod payload_case;

use payload_case::PayloadCase;

fn payload(c: &mut Criterion) {
    let case = PayloadCase::new();
    let mut g = c.benchmark_group(format!("payload ({} bytes, 32 settings)", case.bytes.len()));
    // The ratio of the two is the figure (goal ≤ 1.15): measure each long enough that a
    // noisy neighbour on a shared machine averages out.
    g.measurement_time(std::time::Duration::from_secs(10));
    // Each iteration of both runs at the next of 64 stack placements: where the stack sits
    // moves `verify_strict` alone by up to a fifth (`examples/stack_probe.rs`).
    let mut i = 0;
    g.bench_function("bare ed25519 verify_strict", |b| {
        b.iter(|| {
            i += 1;
            interleaved::at_stack_offset(i, &mut || case.verify())
        })
    });
    g.bench_function(
        "devcare: open (frame + verify + decode + validate) + apply + evaluate",
        |b| {
            b.iter(|| {
                i += 1;
                interleaved::at_stack_offset(i, &mut || case.devcare())
            })
        },
    );
    // The ratio itself, from the two run back to back 3,200 times, 50 times at each
    // placement (the median of the pairs' ratios).
    let pairs = interleaved::pairs(3_200, || case.verify(), || case.devcare());
    let ratios = interleaved::sorted_ratios(&pairs, |verify, devcare| devcare / verify);
    println!(
        "payload: devcare / bare verify_strict, interleaved: median {:.3} (quartiles {:.3}–{:.3}, 3,200 pairs; goal ≤ 1.15)",
        ratios[1_600], ratios[800], ratios[2_400]
    );
    g.finish();
}

/// A failure report with two findings, and its device's key.
fn bench_report() -> (Report, devcare::wire::DeviceKey) {
    let device = DeviceId::new("IMEI:490154203237518").unwrap();
    let key = derive_device_key(&[7; 32], &device);
    let r = Report {
        campaign: CampaignId::new("bench").unwrap(),
        revision: 1,
        device: device.clone(),
        attempt: 1,
        evaluated_at: Timestamp(1_780_000_300_000),
        kind: ReportKind::Failure {
            findings: vec![
                Finding::Status {
                    index: 5,
                    status: 500,
                },
                Finding::Missing { index: 31 },
            ],
        },
    };
    (r, key)
}

fn report(c: &mut Criterion) {
    let (r, key) = bench_report();
    let bytes = encode_report(&r, &key).unwrap();
    c.bench_function(
        &format!("report ({} bytes): decode + HMAC-SHA256 check", bytes.len()),
        |b| {
            b.iter(|| {
                decode_report(black_box(&bytes), DEFAULT_MAX_REPORT_BYTES, |_| Some(key)).unwrap()
            })
        },
    );
}

/// One report read three ways in one run: the binary report (decode + HMAC), a one-alert DM
/// package as XML, and the same package as WBXML (decoded to XML, then read).
fn package(c: &mut Criterion) {
    use devcare::alert::wbxml::{wbxml_to_xml, xml_to_wbxml};
    use devcare::alert::{AlertLimits, SyncHeader, parse_package, render_syncml};
    let (r, key) = bench_report();
    let bytes = encode_report(&r, &key).unwrap();
    let hdr = SyncHeader {
        session_id: "4F".into(),
        msg_id: 1,
        server_uri: "https://dm.example/manage".into(),
    };
    let xml = render_syncml(&r, None, &hdr);
    let bin = xml_to_wbxml(&xml, true).unwrap();
    let limits = AlertLimits::default();
    let mut g = c.benchmark_group("one report, three encodings");
    g.bench_function(format!("binary report ({} bytes)", bytes.len()), |b| {
        b.iter(|| {
            decode_report(black_box(&bytes), DEFAULT_MAX_REPORT_BYTES, |_| Some(key)).unwrap()
        })
    });
    g.bench_function(format!("DM package, XML ({} bytes)", xml.len()), |b| {
        b.iter(|| parse_package(black_box(&xml), &limits).unwrap())
    });
    g.bench_function(format!("DM package, WBXML ({} bytes)", bin.len()), |b| {
        b.iter(|| {
            let text = wbxml_to_xml(black_box(&bin), limits.max_bytes).unwrap();
            parse_package(&text, &limits).unwrap()
        })
    });
    g.finish();
}

criterion_group!(benches, payload, report, package);
criterion_main!(benches);
