//! Model test: arbitrary server commands, flushes and reboots against the sled store, checked
//! after every step against the same commands on the in-memory store.
#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use devcare::host::{GroupDirectory, ServerHost};
use devcare::store::{MemoryStore, SledStore};
use devcare::*;
use libfuzzer_sys::fuzz_target;

#[derive(Debug, Arbitrary)]
enum Op {
    Report {
        device: u8,
        attempt: u8,
        success: bool,
        setting: u8,
    },
    CheckIn {
        device: u8,
        revision: u8,
    },
    Dispatch {
        device: u8,
        attempt: u8,
    },
    Outcome {
        device: u8,
        attempt: u8,
        success: bool,
    },
    Resume,
    Tick {
        advance_min: u16,
    },
    Flush,
    Reboot,
}

fn campaign() -> Campaign {
    let mut schedule = CareSchedule::default();
    schedule.abort = Some(AbortPolicy {
        failure_ratio: 0.2,
        min_reports: 3,
    });
    Campaign {
        id: CampaignId::new("model").expect("valid"),
        revision: 2,
        issued_at: Timestamp(1_780_000_000_000),
        salt: [3; 16],
        targets: TargetSet::All,
        settings: (0..4)
            .map(|i| Setting::replace(format!("./S/{i}"), Value::Int(i)))
            .collect(),
        schedule,
    }
}

fn dev(i: u8) -> DeviceId {
    DeviceId::new(format!("d{}", i % 16)).expect("valid")
}

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let Ok(ops) = Vec::<Op>::arbitrary(&mut u) else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let c = campaign();
    let id = c.id.clone();
    let mut sled = ServerHost::on_store(
        SledStore::open(dir.path()).expect("open"),
        GroupDirectory::new([0; 32]),
    )
    .expect("replay");
    let mut mem =
        ServerHost::on_store(MemoryStore::new(), GroupDirectory::new([0; 32])).expect("replay");
    let create = ServerCommand::Create {
        campaign: Box::new(c.clone()),
        targeted: Some(20),
        at: c.issued_at,
    };
    assert_eq!(
        sled.handle(&id, &create).is_ok(),
        mem.handle(&id, &create).is_ok()
    );
    let mut now = c.issued_at;
    for op in ops.into_iter().take(64) {
        let cmd = match op {
            Op::Report {
                device,
                attempt,
                success,
                setting,
            } => ServerCommand::AcceptReport {
                report: Report {
                    campaign: id.clone(),
                    revision: 2,
                    device: dev(device),
                    attempt: u32::from(attempt % 4),
                    evaluated_at: now,
                    kind: if success {
                        ReportKind::Success
                    } else {
                        ReportKind::Failure {
                            findings: vec![Finding::Status {
                                index: u32::from(setting % 5),
                                status: 500,
                            }],
                        }
                    },
                },
                groups: vec![],
                at: now,
            },
            Op::CheckIn { device, revision } => ServerCommand::CheckIn {
                device: dev(device),
                groups: vec![],
                applied_revision: u32::from(revision % 4),
                at: now,
            },
            Op::Dispatch { device, attempt } => ServerCommand::DispatchCare {
                device: dev(device),
                attempt: u32::from(attempt % 4),
                at: now,
            },
            Op::Outcome {
                device,
                attempt,
                success,
            } => ServerCommand::RecordCareOutcome {
                device: dev(device),
                attempt: u32::from(attempt % 4),
                success,
                at: now,
            },
            Op::Resume => ServerCommand::Resume { at: now },
            Op::Tick { advance_min } => {
                now = now.plus(Duration::from_mins(u64::from(advance_min)));
                ServerCommand::Tick { now }
            }
            Op::Flush => {
                sled.flush().expect("flush");
                continue;
            }
            Op::Reboot => {
                sled.flush().expect("flush");
                drop(sled);
                sled = ServerHost::on_store(
                    SledStore::open(dir.path()).expect("reopen"),
                    GroupDirectory::new([0; 32]),
                )
                .expect("replay after reboot");
                assert_eq!(sled.state(&id), mem.state(&id), "state after reboot");
                continue;
            }
        };
        let a = sled.handle(&id, &cmd).map_err(|e| e.to_string());
        let b = mem.handle(&id, &cmd).map_err(|e| e.to_string());
        assert_eq!(a, b, "{cmd:?}");
        assert_eq!(sled.state(&id), mem.state(&id));
        assert_eq!(sled.version(&id), mem.version(&id));
    }
});
