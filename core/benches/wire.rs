//! Wire formats: a device opening a signed 32-setting payload and evaluating it, beside a
//! bare ed25519 verification of the same bytes; the server decoding and authenticating a
//! report.
//!
//! `cargo bench -p devcare --bench wire`

use criterion::{Criterion, criterion_group, criterion_main};
use devcare::payload::{
    PayloadLimits, ServerKey, TrustedKeys, build_payload, open_payload, verify_only,
};
use devcare::wire::{DEFAULT_MAX_REPORT_BYTES, decode_report, derive_device_key, encode_report};
use devcare::*;
use std::hint::black_box;

fn campaign() -> Campaign {
    Campaign {
        id: CampaignId::new("bench").unwrap(),
        revision: 1,
        issued_at: Timestamp(1_780_000_000_000),
        salt: *b"bench-salt-01234",
        targets: TargetSet::All,
        settings: (0..32)
            .map(|i| {
                Setting::replace(
                    format!("./Vendor/Node{i}/Value"),
                    Value::Str(format!("value-{i}").into()),
                )
            })
            .collect(),
        schedule: CareSchedule {
            conditions: vec![
                Condition::AnyFailed,
                Condition::PayloadIncomplete,
                Condition::VerifyMismatch {
                    uri: "./Vendor/Node7/Value".into(),
                },
            ],
            ..CareSchedule::default()
        },
    }
}

fn payload(c: &mut Criterion) {
    let camp = campaign();
    let key = ServerKey::from_seed(&[42; 32]);
    let mut trusted = TrustedKeys::new();
    trusted.add(key.public());
    let limits = PayloadLimits::default();
    let bytes = build_payload(&camp, &key, Timestamp(u64::MAX), &limits).unwrap();
    let now = camp.issued_at;
    let device = DeviceId::new("IMEI:490154203237518").unwrap();
    let mut results = vec![ApplyResult::OK; 32];
    results[5].status = 500;
    let mut g = c.benchmark_group(format!("payload ({} bytes, 32 settings)", bytes.len()));
    // The ratio of the two is the figure (goal ≤ 1.15): measure each long enough that a
    // noisy neighbour on a shared machine averages out.
    g.measurement_time(std::time::Duration::from_secs(10));
    g.bench_function("bare ed25519 verify_strict", |b| {
        b.iter(|| assert!(verify_only(black_box(&bytes), &key.public())))
    });
    let devcare = || {
        let p = open_payload(black_box(&bytes), &trusted, now, &limits).unwrap();
        let mut s = DeviceState::default();
        Device::handle(
            &mut s,
            &DeviceCommand::Receive {
                campaign: p.campaign,
                device: device.clone(),
                groups: vec![],
                at: now,
            },
        )
        .unwrap();
        Device::handle(
            &mut s,
            &DeviceCommand::RecordApplied {
                results: results.clone(),
                at: now,
            },
        )
        .unwrap();
        Device::handle(
            &mut s,
            &DeviceCommand::Tick {
                now: now.plus(camp.schedule.evaluate_after),
            },
        )
        .unwrap();
        black_box(s.report)
    };
    g.bench_function(
        "devcare: open (frame + verify + decode + validate) + apply + evaluate",
        |b| b.iter(devcare),
    );
    // The ratio itself, from the two run back to back 3,000 times (each pair timed, the
    // median of the pairs' ratios): a neighbour's burst on a shared machine hits both
    // halves of a pair alike, where it may hit only one of the two criterion runs above.
    let mut ratios: Vec<f64> = (0..3_000)
        .map(|_| {
            let t0 = std::time::Instant::now();
            assert!(verify_only(black_box(&bytes), &key.public()));
            let t1 = std::time::Instant::now();
            devcare();
            let t2 = std::time::Instant::now();
            (t2 - t1).as_secs_f64() / (t1 - t0).as_secs_f64()
        })
        .collect();
    ratios.sort_by(f64::total_cmp);
    println!(
        "payload: devcare / bare verify_strict, interleaved: median {:.3} (quartiles {:.3}–{:.3}, 3,000 pairs; goal ≤ 1.15)",
        ratios[1_500], ratios[750], ratios[2_250]
    );
    g.finish();
}

fn report(c: &mut Criterion) {
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

criterion_group!(benches, payload, report);
criterion_main!(benches);
