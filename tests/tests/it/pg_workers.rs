//! Server workers of a sharded campaign (64 shards on two PostgreSQL clusters) sharing the
//! shards through lease rows: two workers split them and ingest concurrently; a worker that
//! dies holding shards — a thread that stops, a process killed with SIGKILL — loses them
//! when its leases run out, another worker takes them over, and the campaign converges to
//! exactly the cases one stream gives for the same reports. Skipped (one line) without
//! PostgreSQL unless `DEVCARE_REQUIRE_PG=1`.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use devcare::host::{ShardMap, ShardedLog};
use devcare::server::{Case, Server, ServerCommand, ServerState};
use devcare::{Decider, DeviceId, Timestamp};
use devcare_integration::workers::{self, SHARDS};

const DEVICES: u64 = 6_000;

/// The cases one stream gives for the workload's commands.
fn reference() -> BTreeMap<DeviceId, Case> {
    let c = workers::campaign();
    let (arrive, dispatch, outcome) = workers::times();
    let mut s = ServerState::default();
    let mut run = |cmd: ServerCommand| {
        for e in Server::decide(&s, &cmd).unwrap() {
            Server::evolve(&mut s, &e);
        }
    };
    run(ServerCommand::Create {
        campaign: Box::new(c.clone()),
        targeted: Some(DEVICES),
        at: c.issued_at,
    });
    run(ServerCommand::MarkBroadcast { at: c.issued_at });
    for r in workers::reports(DEVICES) {
        let device = r.device.clone();
        run(ServerCommand::AcceptReport {
            report: r,
            groups: vec![],
            at: arrive,
        });
        run(ServerCommand::DispatchCare {
            device: device.clone(),
            attempt: 1,
            at: dispatch,
        });
        run(ServerCommand::RecordCareOutcome {
            device,
            attempt: 1,
            success: true,
            at: outcome,
        });
    }
    s.cases.into_iter().map(|(d, c)| (d, untimed(c))).collect()
}

/// A case without its opening time: time never runs back on a stream, so a report a worker
/// takes after it sent care on the same shard opens at that shard's later time; each shard
/// keeps its own clock. What was decided (origin, status, cycle, care) must agree.
fn untimed(mut c: Case) -> Case {
    c.opened_at = Timestamp(0);
    c
}

/// Waits until `flag` is set; fails (rather than hangs) after a minute.
fn wait_for(flag: &AtomicBool, what: &str) {
    let started = std::time::Instant::now();
    while !flag.load(Ordering::SeqCst) {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "waited a minute for {what}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Reopens the campaign from both clusters and checks it converged: every report in, every
/// device recovered — with exactly the reference's cases when `exact` (no care was cut
/// between its dispatch and its outcome).
fn assert_converged(urls: &str, exact: bool) {
    let stores = workers::stores(urls).unwrap();
    let map = ShardMap::round_robin(SHARDS, 2);
    let (_, state) =
        ShardedLog::open(&stores, map, workers::router(), &workers::campaign().id).unwrap();
    let stats = state.control().stats();
    let failures = workers::reports(DEVICES).len() as u64;
    assert_eq!(stats.failure_reports, failures, "{stats:?}");
    assert_eq!(stats.recovered, failures, "{stats:?}");
    assert_eq!(stats.in_care, 0, "{stats:?}");
    let cases: BTreeMap<DeviceId, Case> = state
        .cases()
        .map(|(d, c)| (d.clone(), untimed(c.clone())))
        .collect();
    if exact {
        assert!(cases == reference(), "the cases differ from one stream's");
    }
}

#[test]
fn two_worker_threads_share_the_shards_and_one_takes_over_when_the_other_dies() {
    let Some([a, b]) =
        devcare_integration::pg::fresh_databases_on_two_clusters("pg_workers::threads")
    else {
        return;
    };
    let urls = format!("{a},{b}");
    workers::create(&workers::stores(&urls).unwrap(), DEVICES).unwrap();
    let die = AtomicBool::new(false);
    let started = AtomicBool::new(false);
    let split = AtomicBool::new(false);
    let (dead, survivor) = std::thread::scope(|s| {
        let doomed = s.spawn(|| {
            let stores = workers::stores(&urls).unwrap();
            workers::work(&stores, "doomed", DEVICES, Some(&die), |line| {
                if line.starts_with("accepted") {
                    started.store(true, Ordering::SeqCst);
                }
            })
            .unwrap()
        });
        // The survivor starts once the doomed worker holds shards, so they split them.
        wait_for(&started, "the doomed worker to accept a report");
        let survivor = s.spawn(|| {
            let stores = workers::stores(&urls).unwrap();
            workers::work(&stores, "survivor", DEVICES, None, |line| {
                if line == format!("shards {}", SHARDS / 2) {
                    split.store(true, Ordering::SeqCst);
                }
            })
            .unwrap()
        });
        // Once they share the shards, the doomed worker dies holding its half.
        wait_for(&split, "the workers to split the shards");
        die.store(true, Ordering::SeqCst);
        (doomed.join().unwrap(), survivor.join().unwrap())
    });
    eprintln!("doomed {dead:?}; survivor {survivor:?}");
    // The doomed worker held all, gave half back when the survivor came, and died with it;
    // the survivor held none, then half, then all.
    assert_eq!(
        dead.held,
        vec![SHARDS as usize, SHARDS as usize / 2],
        "{dead:?}"
    );
    assert_eq!(
        survivor.held,
        vec![0, SHARDS as usize / 2, SHARDS as usize],
        "{survivor:?}"
    );
    assert!(survivor.accepted > 0 && dead.accepted > 0);
    let failures = workers::reports(DEVICES).len() as u64;
    assert_eq!(
        dead.accepted + survivor.accepted,
        failures,
        "each report appended once"
    );
    assert_converged(&urls, true);
    // The doomed worker's leases ran out and went to the survivor, which gave all back.
    let leases = workers::stores(&urls).unwrap()[0]
        .leases(workers::FLEET)
        .unwrap();
    assert!(leases.is_empty(), "{leases:?}");
}

#[test]
fn a_worker_process_killed_holding_shards_hands_them_over() {
    let Some([a, b]) =
        devcare_integration::pg::fresh_databases_on_two_clusters("pg_workers::sigkill")
    else {
        return;
    };
    let urls = format!("{a},{b}");
    workers::create(&workers::stores(&urls).unwrap(), DEVICES).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_shard_worker"))
        .args([&urls, "child", &DEVICES.to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    // Let the child take shards and append some reports.
    let mut accepted = 0;
    for line in lines.by_ref() {
        let line = line.unwrap();
        if let Some(n) = line.strip_prefix("accepted ") {
            accepted = n.parse::<u64>().unwrap();
            if accepted >= 40 {
                break;
            }
        }
    }
    assert!(accepted >= 40, "the child stopped early");
    // Keep reading the child's output so it never blocks on a full pipe.
    std::thread::spawn(move || lines.for_each(drop));
    let holding = AtomicBool::new(false);
    let survivor = std::thread::scope(|s| {
        let t = s.spawn(|| {
            let stores = workers::stores(&urls).unwrap();
            workers::work(&stores, "parent", DEVICES, None, |line| {
                if line == format!("shards {}", SHARDS / 2) {
                    holding.store(true, Ordering::SeqCst);
                }
            })
            .unwrap()
        });
        // Kill the child once the two share the shards: it holds the other half.
        wait_for(&holding, "the parent to hold half the shards");
        child.kill().unwrap(); // SIGKILL, holding its leases
        child.wait().unwrap();
        t.join().unwrap()
    });
    assert_eq!(
        survivor.held,
        vec![0, SHARDS as usize / 2, SHARDS as usize],
        "{survivor:?}"
    );
    // The child may have died between sending care and hearing its outcome: that care ran
    // into its timeout and a second attempt fixed the device, so the cases need not be the
    // reference's exactly.
    assert_converged(&urls, false);
}
