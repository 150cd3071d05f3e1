//! The one loop (`devcare::host`'s engine), as a property: any sequence of commands —
//! single or in group-committed batches, refused or not, over two campaigns, with appends,
//! flushes and reads failing at random — leaves a store whose replay equals the live state
//! of the host that ran them, and a failed call keeps nothing the store does not hold.

use devcare::host::{GroupDirectory, ServerHost};
use devcare::server::ServerCommand;
use devcare::spec::fixtures;
use devcare::store::MemoryStore;
use devcare::*;
use devcare_integration::faults::FaultyStore;
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    /// One command through `handle`.
    One(usize, Cmd),
    /// Several through `handle_batch` (one append, one flush).
    Batch(Vec<(usize, Cmd)>),
    /// The next store call of a kind fails (append, flush, read).
    Fail(u8),
}

#[derive(Debug, Clone)]
enum Cmd {
    Create,
    Report { device: u8, attempt: u32 },
    Dispatch { device: u8 },
    Outcome { device: u8, success: bool },
    Pause,
    Resume,
    Tick { minutes: u32 },
}

fn cmd() -> impl Strategy<Value = Cmd> {
    prop_oneof![
        Just(Cmd::Create),
        (0u8..12, 1u32..3).prop_map(|(device, attempt)| Cmd::Report { device, attempt }),
        (0u8..12).prop_map(|device| Cmd::Dispatch { device }),
        (0u8..12, any::<bool>()).prop_map(|(device, success)| Cmd::Outcome { device, success }),
        Just(Cmd::Pause),
        Just(Cmd::Resume),
        (0u32..600).prop_map(|minutes| Cmd::Tick { minutes }),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0usize..2, cmd()).prop_map(|(c, x)| Op::One(c, x)),
        3 => prop::collection::vec((0usize..2, cmd()), 1..8).prop_map(Op::Batch),
        1 => (0u8..3).prop_map(Op::Fail),
    ]
}

fn campaigns() -> [Campaign; 2] {
    let a = fixtures::campaign();
    let mut b = fixtures::campaign();
    b.id = CampaignId::new("other-campaign").unwrap();
    [a, b]
}

fn command(c: &Campaign, cmd: &Cmd) -> ServerCommand {
    let t0 = c.issued_at;
    let at = t0.plus(c.schedule.evaluate_after);
    let dev = |d: u8| DeviceId::new(format!("IMEI:{d}")).unwrap();
    match cmd {
        Cmd::Create => ServerCommand::Create {
            campaign: Box::new(c.clone()),
            targeted: Some(12),
            at: t0,
        },
        Cmd::Report { device, attempt } => ServerCommand::AcceptReport {
            report: Report {
                campaign: c.id.clone(),
                revision: c.revision,
                device: dev(*device),
                attempt: *attempt,
                evaluated_at: at,
                kind: ReportKind::Failure {
                    findings: vec![Finding::Status {
                        index: 0,
                        status: 500,
                    }],
                },
            },
            groups: vec![],
            at,
        },
        Cmd::Dispatch { device } => ServerCommand::DispatchCare {
            device: dev(*device),
            attempt: 1,
            at,
        },
        Cmd::Outcome { device, success } => ServerCommand::RecordCareOutcome {
            device: dev(*device),
            attempt: 1,
            success: *success,
            at,
        },
        Cmd::Pause => ServerCommand::Pause { at },
        Cmd::Resume => ServerCommand::Resume { at },
        Cmd::Tick { minutes } => ServerCommand::Tick {
            now: at.plus(Duration::from_secs(u64::from(*minutes) * 60)),
        },
    }
}

/// Every campaign the host holds equals what a fresh open of the store replays.
fn replay_equals_live(
    store: &FaultyStore<MemoryStore>,
    live: &ServerHost<&FaultyStore<MemoryStore>>,
) {
    let replayed = ServerHost::on_store(store, GroupDirectory::new([0; 32])).unwrap();
    let live_states: Vec<_> = live.states().collect();
    let replayed_states: Vec<_> = replayed.states().collect();
    assert_eq!(live_states, replayed_states);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(192))]

    #[test]
    fn any_command_sequence_leaves_a_store_whose_replay_is_the_live_state(ops in prop::collection::vec(op(), 1..40)) {
        let cs = campaigns();
        let store = FaultyStore::new(MemoryStore::new());
        let mut server = ServerHost::on_store(&store, GroupDirectory::new([0; 32])).unwrap();
        let mut fail: Option<u8> = None;
        for op in &ops {
            let switch = |k: u8| match k {
                0 => &store.fail_appends,
                1 => &store.fail_flushes,
                _ => &store.fail_reads,
            };
            if let Op::Fail(k) = op {
                fail = Some(*k);
                continue;
            }
            if let Some(k) = fail.take() {
                FaultyStore::<MemoryStore>::set(switch(k), true);
            }
            let failed = match op {
                Op::One(c, x) => matches!(server.handle(&cs[*c].id, &command(&cs[*c], x)), Err(devcare::host::RuntimeError::Store(_))),
                Op::Batch(xs) => {
                    let cmds: Vec<_> = xs.iter().map(|(c, x)| (cs[*c].id.clone(), command(&cs[*c], x))).collect();
                    server.handle_batch(&cmds).is_err()
                }
                Op::Fail(_) => false,
            };
            for k in 0..3 {
                FaultyStore::<MemoryStore>::set(switch(k), false);
            }
            if failed {
                // A failed call may leave a campaign forgotten (its state could not be read
                // back); reopening is how a host recovers it. What it holds must still be a
                // prefix of the truth: every campaign it holds replays equal.
                let replayed = ServerHost::on_store(&store, GroupDirectory::new([0; 32])).unwrap();
                for (id, s) in server.states() {
                    prop_assert_eq!(Some(s), replayed.state(id));
                }
                server = replayed;
            }
            replay_equals_live(&store, &server);
        }
    }
}
