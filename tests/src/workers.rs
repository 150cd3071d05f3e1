//! A sharded campaign worked by several server workers on PostgreSQL, for the worker tests
//! and the `shard_worker` child process: a fixed workload (every 10th of `devices` targets
//! fails and reports; care fixes it at the first attempt) and the loop a worker runs —
//! take or renew leases, ingest the reports of its shards, send and close their care.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration as StdDuration;

use devcare::host::{ShardMap, ShardWorker, WorkerError};
use devcare::server::{ServerCommand, ServerError, ShardRouter};
use devcare::store::StoreError;
use devcare::*;
use devcare_pg::PgStore;

/// The fleet key of the worker tests.
pub const FLEET_KEY: [u8; 16] = *b"fleet-key-worker";
/// The fleet's name in the lease table.
pub const FLEET: &str = "worker-tests";
/// Shards.
pub const SHARDS: u32 = 64;
/// How long a lease lasts without renewal.
pub const TTL: StdDuration = StdDuration::from_millis(3000);

const BUILT_IN: &str = include_str!("../../examples/campaigns/apn-full.toml");

/// The campaign (no abort threshold: a tenth of the fleet fails on purpose).
pub fn campaign() -> Campaign {
    let mut c = Campaign::from_toml("apn-full.toml", BUILT_IN).expect("built-in campaign");
    c.schedule.abort = None;
    c
}

/// The router of the worker tests.
pub fn router() -> ShardRouter {
    ShardRouter::new(FLEET_KEY, SHARDS).expect("valid shard count")
}

/// The failure reports of the workload, in device order.
pub fn reports(devices: u64) -> Vec<Report> {
    let c = campaign();
    (0..devices)
        .filter(|i| i % 10 == 3)
        .map(|i| Report {
            campaign: c.id.clone(),
            revision: c.revision,
            device: devcare::sim::device_id(i),
            attempt: 1,
            evaluated_at: c.issued_at.plus(Duration::from_mins(5)),
            kind: ReportKind::Failure {
                findings: vec![Finding::Status {
                    index: (i % 6) as u32,
                    status: 500,
                }],
            },
        })
        .collect()
}

/// When the workload's reports arrive, care is sent, and its outcome comes back.
pub fn times() -> (Timestamp, Timestamp, Timestamp) {
    let t0 = campaign().issued_at;
    (
        t0.plus(Duration::from_mins(10)),
        t0.plus(Duration::from_mins(20)),
        t0.plus(Duration::from_mins(21)),
    )
}

/// The stores of the two clusters, from a comma-separated list of connection strings.
pub fn stores(urls: &str) -> Result<Vec<PgStore>, StoreError> {
    urls.split(',').map(PgStore::connect).collect()
}

/// Creates the campaign (targeting `devices`) and marks its broadcast, as worker `owner`.
pub fn create(stores: &[PgStore], devices: u64) -> Result<(), WorkerError> {
    let c = campaign();
    let map = ShardMap::round_robin(SHARDS, stores.len() as u16);
    let mut w = ShardWorker::open(stores, map, router(), &c.id)?;
    let at = c.issued_at;
    w.handle(&ServerCommand::Create {
        campaign: Box::new(c),
        targeted: Some(devices),
        at,
    })?;
    w.handle(&ServerCommand::MarkBroadcast { at })?;
    Ok(())
}

/// What one worker did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Worked {
    /// Reports it appended.
    pub accepted: u64,
    /// Care orders it dispatched and closed.
    pub cared: u64,
    /// Most shards it held at once.
    pub most_shards: usize,
    /// How many shards it held, each time the count changed.
    pub held: Vec<usize>,
}

/// Runs worker `owner` on the workload until the whole campaign is cared for (every
/// report in, nobody in care), then gives its leases back — or until `die` is set: then, at
/// its next step (never between sending care and recording its outcome), it stops as a
/// crash would, holding its leases. `progress` hears each `accepted N` / `shards N`.
pub fn work(
    stores: &[PgStore],
    owner: &str,
    devices: u64,
    die: Option<&AtomicBool>,
    mut progress: impl FnMut(&str),
) -> Result<Worked, WorkerError> {
    let c = campaign();
    let map = ShardMap::round_robin(SHARDS, stores.len() as u16);
    let mut w = ShardWorker::open(stores, map, router(), &c.id)?;
    let all = reports(devices);
    let mut done = vec![false; all.len()];
    let (arrive, dispatch, outcome) = times();
    // Past every care timeout of the workload's first attempts, before any settlement.
    let late = c.issued_at.plus(Duration::from_mins(180));
    let mut worked = Worked::default();
    let started = std::time::Instant::now();
    loop {
        if die.is_some_and(|flag| flag.load(Ordering::SeqCst)) {
            return Ok(worked); // a crash: no release, the leases run out
        }
        if started.elapsed() > StdDuration::from_secs(120) {
            return Err(StoreError::Backend(format!(
                "worker {owner}: the campaign did not converge in 120 s: {:?}",
                w.state().control().stats()
            ))
            .into());
        }
        let owned = stores[0].acquire_shards(FLEET, SHARDS, owner, TTL)?;
        worked.most_shards = worked.most_shards.max(owned.len());
        if worked.held.last() != Some(&owned.len()) {
            worked.held.push(owned.len());
        }
        progress(&format!("shards {}", owned.len()));
        w.set_owned(&owned)?;
        // A slice of work per lease renewal.
        let mut slice = 0;
        for (r, d) in all.iter().zip(done.iter_mut()) {
            if *d || !w.owns(&r.device) {
                continue;
            }
            let cmd = ServerCommand::AcceptReport {
                report: r.clone(),
                groups: vec![],
                at: arrive,
            };
            match w.handle(&cmd) {
                Ok(_) => worked.accepted += 1,
                Err(WorkerError::Refused(ServerError::Duplicate { .. })) => {}
                Err(WorkerError::NotOwned { .. }) => continue,
                Err(e) => return Err(e),
            }
            *d = true;
            progress(&format!("accepted {}", worked.accepted));
            if die.is_some_and(|flag| flag.load(Ordering::SeqCst)) {
                return Ok(worked); // a crash: no release, the leases run out
            }
            slice += 1;
            if slice == 20 {
                break;
            }
        }
        // Care for this worker's shards: send each order when due, and it works. Care a
        // dead worker sent and never closed runs into its timeout (a tick past it), and the
        // next attempt goes out.
        let in_flight = w
            .state()
            .care_in_flight()
            .into_iter()
            .filter(|c| w.owns(&c.device) && c.expires <= late)
            .count();
        if in_flight > 0 && slice == 0 {
            w.handle(&ServerCommand::Tick { now: late })?;
        }
        for order in w.state().due_care(Timestamp(u64::MAX), usize::MAX) {
            if !w.owns(&order.device) {
                continue;
            }
            let at = order.due.max(dispatch);
            w.handle(&ServerCommand::DispatchCare {
                device: order.device.clone(),
                attempt: order.attempt,
                at,
            })?;
            w.handle(&ServerCommand::RecordCareOutcome {
                device: order.device,
                attempt: order.attempt,
                success: true,
                at: at.plus(outcome.since(dispatch)),
            })?;
            worked.cared += 1;
        }
        w.refresh()?;
        let stats = w.state().control().stats();
        if std::env::var_os("DEVCARE_WORKER_DEBUG").is_some() {
            eprintln!(
                "{owner}: {} shards, stats {stats:?}, in flight {:?}",
                owned.len(),
                w.state().care_in_flight().first()
            );
        }
        if stats.failure_reports == all.len() as u64 && stats.in_care == 0 {
            stores[0].release_shards(FLEET, owner)?;
            return Ok(worked);
        }
        if slice == 0 {
            std::thread::sleep(StdDuration::from_millis(50));
        }
    }
}
