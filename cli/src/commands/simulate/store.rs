//! Where the server's log goes: memory, a sled directory, a PostgreSQL database, or shards
//! over several; each run is reopened and replayed at the end.

use std::path::{Path, PathBuf};

use devcare::host::{GroupDirectory, ServerHost, ShardMap, ShardedLog};
use devcare::server::{ShardRouter, ShardedState};
use devcare::sim::{FleetConfig, FleetOutcome, SimError, simulate_on_store, simulate_sharded};
use devcare::store::{EventStore, MemoryStore, SledStore};
use devcare::{Campaign, ServerState};
use devcare_pg::PgStore;
use indicatif::ProgressBar;

use super::args::SimArgs;
use crate::error::{CliError, Result, input, internal};

/// Peak resident set size of this process, in MB (Linux `VmHWM`).
pub(super) fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

pub(super) struct Run {
    pub(super) out: FleetOutcome,
    /// The campaign-level state (with a sharded server: the control state, with the sums).
    pub(super) state: ServerState,
    /// Cases the server holds.
    pub(super) cases: usize,
    /// Shards and writers, when sharded.
    pub(super) sharded: Option<(u32, usize)>,
    pub(super) replay_identical: Option<bool>,
    pub(super) log_location: String,
}

impl Run {
    /// A run on one server stream.
    fn one_stream(
        out: FleetOutcome,
        state: ServerState,
        replay_identical: Option<bool>,
        log_location: String,
    ) -> Run {
        Run {
            out,
            cases: state.cases.len(),
            state,
            sharded: None,
            replay_identical,
            log_location,
        }
    }
}

/// The run with the single-stream server host over `store`: the host appends and flushes
/// every command's events there itself.
fn run_on<S: EventStore>(
    cfg: &FleetConfig,
    store: &S,
    bar: &ProgressBar,
) -> Result<(FleetOutcome, ServerState)> {
    simulate_on_store(cfg, store, |_| Ok(()), |done| bar.set_position(done)).map_err(sim_error)
}

/// A simulation that refused its configuration (e.g. a store that already holds the
/// campaign) is the user's input; any other failure is the program's.
fn sim_error(e: SimError) -> CliError {
    match e {
        SimError::Config(m) => input(m),
        e => internal(format!("simulation: {e}")),
    }
}

fn sled_dir(base: &Path, c: &Campaign) -> Result<PathBuf> {
    let dir = base.join(format!("simulate-{}", c.id));
    if dir.exists() {
        if !dir.join("conf").is_file() {
            return Err(input(format!(
                "{}: exists and is not a sled store; refusing to empty it",
                dir.display()
            )));
        }
        std::fs::remove_dir_all(&dir)
            .map_err(|e| input(format!("{}: cannot empty: {e}", dir.display())))?;
    }
    std::fs::create_dir_all(base)
        .map_err(|e| input(format!("{}: cannot create: {e}", base.display())))?;
    Ok(dir)
}

/// The fleet key of simulated fleets (which shard each simulated device is in).
const SIM_FLEET_KEY: [u8; 16] = *b"devcare-sim-flt!";

/// A sharded run on `stores` (placed round-robin), appended in batches by `workers`
/// threads, then reopened and replayed: (outcome, live state, replayed identically).
fn run_sharded<S: EventStore + Sync>(
    cfg: &FleetConfig,
    stores: &[S],
    router: ShardRouter,
    workers: usize,
    bar: &ProgressBar,
) -> Result<(FleetOutcome, ShardedState, bool)> {
    let map = ShardMap::round_robin(router.shards(), stores.len() as u16);
    let (out, state) = simulate_sharded(
        cfg,
        stores.iter().collect(),
        map.clone(),
        router,
        workers,
        |_| Ok(()),
        |done| bar.set_position(done),
    )
    .map_err(sim_error)?;
    let (_, replayed) = ShardedLog::open(stores, map, router, &cfg.campaign.id)
        .map_err(|e| internal(format!("replaying the sharded log: {e}")))?;
    let same = replayed == state;
    Ok((out, state, same))
}

fn execute_sharded(cfg: &FleetConfig, a: &SimArgs, bar: &ProgressBar) -> Result<Run> {
    let router = ShardRouter::new(SIM_FLEET_KEY, a.shards).map_err(|e| input(format!("--{e}")))?;
    let (out, state, same, location) = if a.store == "memory" {
        let (o, s, same) = run_sharded(cfg, &[MemoryStore::new()], router, a.workers, bar)?;
        (o, s, same, "memory".to_string())
    } else if a.store.split(',').all(crate::store::is_postgres) {
        let stores = a
            .store
            .split(',')
            .map(|url| PgStore::connect(url).map_err(|e| input(format!("--store: {e}"))))
            .collect::<Result<Vec<_>>>()?;
        let (o, s, same) = run_sharded(cfg, &stores, router, a.workers, bar)?;
        (
            o,
            s,
            same,
            format!("PostgreSQL, {} database(s)", stores.len()),
        )
    } else {
        if a.store.contains(',') {
            return Err(input(
                "--store: several stores must all be PostgreSQL connection strings",
            ));
        }
        let dir = sled_dir(Path::new(&a.store), &cfg.campaign)?;
        let store = SledStore::open(&dir).map_err(|e| input(format!("--store: {e}")))?;
        let (o, s, same) = run_sharded(cfg, &[store], router, a.workers, bar)?;
        (o, s, same, dir.display().to_string())
    };
    Ok(Run {
        out,
        cases: state.cases().count(),
        state: state.control().clone(),
        sharded: Some((a.shards, a.workers)),
        replay_identical: Some(same),
        log_location: format!("{location}, {} shards", a.shards),
    })
}

pub(super) fn execute(cfg: &FleetConfig, a: &SimArgs, bar: &ProgressBar) -> Result<Run> {
    if a.workers == 0 {
        return Err(input("--workers: at least 1"));
    }
    ShardRouter::new(SIM_FLEET_KEY, a.shards).map_err(|e| input(format!("--{e}")))?;
    if a.shards > 1 {
        return execute_sharded(cfg, a, bar);
    }
    if a.workers > 1 {
        return Err(input("--workers: several workers need --shards above 1"));
    }
    if a.store.contains(',') {
        return Err(input(
            "--store: several databases need --shards above 1 (the shards are placed over them)",
        ));
    }
    let store = a.store.as_str();
    if store == "memory" {
        let (out, state) = run_on(cfg, &MemoryStore::new(), bar)?;
        return Ok(Run::one_stream(out, state, None, "memory".into()));
    }
    if crate::store::is_postgres(store) {
        return execute_pg(cfg, store, bar);
    }
    let dir = sled_dir(Path::new(store), &cfg.campaign)?;
    let (out, state) = {
        let s = SledStore::open(&dir).map_err(|e| input(format!("--store: {e}")))?;
        run_on(cfg, &s, bar)?
    };
    // Reopen and replay: the durable log must rebuild exactly the live state.
    let server = SledStore::open(&dir)
        .and_then(|s| ServerHost::on_store(s, GroupDirectory::new([0; 32])))
        .map_err(|e| internal(format!("replaying {}: {e}", dir.display())))?;
    let same = server.state(&cfg.campaign.id) == Some(&state);
    Ok(Run::one_stream(
        out,
        state,
        Some(same),
        dir.display().to_string(),
    ))
}

/// The run on a PostgreSQL database: its campaign stream must be new there (the run does
/// not delete anything from a database); reopened and replayed at the end like sled.
fn execute_pg(cfg: &FleetConfig, url: &str, bar: &ProgressBar) -> Result<Run> {
    let connect = || PgStore::connect(url).map_err(|e| input(format!("--store: {e}")));
    let store = connect()?;
    let stream = devcare::decider::Side::Server.stream(&cfg.campaign.id);
    let (out, state) = run_on(cfg, &store, bar)?;
    let server = ServerHost::on_store(connect()?, GroupDirectory::new([0; 32]))
        .map_err(|e| internal(format!("replaying from PostgreSQL: {e}")))?;
    let same = server.state(&cfg.campaign.id) == Some(&state);
    Ok(Run::one_stream(
        out,
        state,
        Some(same),
        format!("PostgreSQL {stream}"),
    ))
}
