//! The payload check outside criterion, one process at a time: the bench's signed
//! 32-setting payload, opened, applied and evaluated (`devcare`) or only verified
//! (`verify`), 30,000 times; or both in 3,000 interleaved pairs (no argument), printing the
//! median ratio. Run it several times: how much the bare signature check itself moves from
//! one process to the next is what it shows (`docs/performance.md`).
//!
//! `cargo run --release -p devcare --example payload_probe [verify|devcare]`

use devcare::payload::{
    PayloadLimits, ServerKey, TrustedKeys, build_payload, open_payload, verify_only,
};
use devcare::*;
use std::hint::black_box;
use std::time::Instant;

fn main() {
    let camp = Campaign {
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
    };
    let key = ServerKey::from_seed(&[42; 32]);
    let mut trusted = TrustedKeys::new();
    trusted.add(key.public());
    let limits = PayloadLimits::default();
    let bytes = build_payload(&camp, &key, Timestamp(u64::MAX), &limits).unwrap();
    let now = camp.issued_at;
    let device = DeviceId::new("IMEI:490154203237518").unwrap();
    let mut results = vec![ApplyResult::OK; 32];
    results[5].status = 500;
    let verify = || assert!(verify_only(black_box(&bytes), &key.public()));
    let devcare = || {
        let p = open_payload(black_box(&bytes), &trusted, now, &limits).unwrap();
        let mut s = DeviceState::default();
        let receive = DeviceCommand::Receive {
            campaign: p.campaign,
            device: device.clone(),
            groups: vec![],
            at: now,
        };
        Device::handle(&mut s, &receive).unwrap();
        let applied = DeviceCommand::RecordApplied {
            results: results.clone(),
            at: now,
        };
        Device::handle(&mut s, &applied).unwrap();
        let tick = DeviceCommand::Tick {
            now: now.plus(camp.schedule.evaluate_after),
        };
        Device::handle(&mut s, &tick).unwrap();
        black_box(s.report);
    };
    let n = 30_000;
    let which = std::env::args().nth(1).unwrap_or_default();
    let alone = |f: &dyn Fn()| {
        let t = Instant::now();
        for _ in 0..n {
            f();
        }
        t.elapsed().as_secs_f64() * 1e6 / f64::from(n)
    };
    match which.as_str() {
        "verify" => println!("verify alone: {:.1} µs", alone(&verify)),
        "devcare" => println!("devcare alone: {:.1} µs", alone(&devcare)),
        _ => {
            let mut r: Vec<f64> = (0..3_000)
                .map(|_| {
                    let t0 = Instant::now();
                    verify();
                    let t1 = Instant::now();
                    devcare();
                    let t2 = Instant::now();
                    (t2 - t1).as_secs_f64() / (t1 - t0).as_secs_f64()
                })
                .collect();
            r.sort_by(f64::total_cmp);
            println!("interleaved pairs: median devcare / verify {:.3}", r[1_500]);
        }
    }
}
