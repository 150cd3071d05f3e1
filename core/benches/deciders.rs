//! Decider throughput: a device taking a 32-setting campaign from receipt to evaluation,
//! and the server accepting one failure report.
//!
//! `cargo bench -p devcare --bench deciders`

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use devcare::*;
use std::hint::black_box;

fn campaign(settings: usize) -> Campaign {
    Campaign {
        id: CampaignId::new("bench").unwrap(),
        revision: 1,
        issued_at: Timestamp(1_780_000_000_000),
        salt: *b"bench-salt-01234",
        targets: TargetSet::All,
        settings: devcare::spec::fixtures::node_settings(settings),
        schedule: CareSchedule {
            conditions: vec![
                Condition::AnyFailed,
                Condition::SettingFailed {
                    uri_prefix: "./Vendor/Node3".into(),
                },
                Condition::StatusIn {
                    codes: vec![420, 500],
                },
                Condition::VerifyMismatch {
                    uri: "./Vendor/Node7/Value".into(),
                },
                Condition::PayloadIncomplete,
                Condition::NotAppliedWithin {
                    within: Duration::from_mins(2),
                },
            ],
            ..CareSchedule::default()
        },
    }
}

fn device(c: &mut Criterion) {
    let camp = campaign(32);
    let id = DeviceId::new("IMEI:490154203237518").unwrap();
    let t0 = camp.issued_at;
    let mut results = vec![ApplyResult::OK; 32];
    results[5].status = 500;
    let cmds = [
        DeviceCommand::Receive {
            campaign: ValidCampaign::new(camp.clone(), &Limits::DEFAULT).unwrap(),
            device: id,
            groups: vec![],
            at: t0,
        },
        DeviceCommand::RecordApplied {
            results,
            at: t0.plus(Duration::from_secs(2)),
        },
        DeviceCommand::Tick {
            now: t0.plus(camp.schedule.evaluate_after),
        },
    ];
    c.bench_function(
        "device: receive + apply + evaluate (32 settings, 1 failure)",
        |b| {
            b.iter(|| {
                let mut s = DeviceState::default();
                for cmd in &cmds {
                    Device::handle(&mut s, black_box(cmd)).unwrap();
                }
                black_box(s.report)
            })
        },
    );
}

fn server(c: &mut Criterion) {
    let camp = campaign(32);
    let mut s = ServerState::default();
    Server::handle(
        &mut s,
        &ServerCommand::Create {
            campaign: Box::new(camp.clone()),
            targeted: Some(10_000_000),
            at: camp.issued_at,
        },
    )
    .unwrap();
    let report = |i: u64| ServerCommand::AcceptReport {
        report: Report {
            campaign: camp.id.clone(),
            revision: 1,
            device: DeviceId::new(format!("dev-{i:010}")).unwrap(),
            attempt: 1,
            evaluated_at: camp.issued_at,
            kind: ReportKind::Failure {
                findings: vec![Finding::Status {
                    index: 5,
                    status: 500,
                }],
            },
        },
        groups: vec![],
        at: camp.issued_at.plus(Duration::from_mins(10)),
    };
    // A server already holding 100,000 cases.
    for i in 0..100_000 {
        Server::handle(&mut s, &report(i)).unwrap();
    }
    let mut next = 1_000_000u64;
    c.bench_function("server: accept one failure report (100k cases held)", |b| {
        b.iter_batched(
            || {
                next += 1;
                report(next)
            },
            |cmd| Server::handle(&mut s, &cmd).unwrap().len(),
            BatchSize::SmallInput,
        )
    });
}

criterion_group!(benches, device, server);
criterion_main!(benches);
