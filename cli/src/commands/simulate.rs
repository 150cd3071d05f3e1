//! `devcare simulate`: a whole campaign over a simulated fleet.

use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::Args;
use devcare::host::{CareServer, ShardMap, ShardedLog};
use devcare::server::{CoverageFloor, Fallback, ShardRouter, ShardedState};
use devcare::sim::{
    Faults, FleetConfig, FleetOutcome, SweepOutcome, Transport, simulate_on_store,
    simulate_sharded, sweep,
};
use devcare::store::{EventStore, MemoryStore, SledStore};
use devcare::text::parse_human_duration;
use devcare::{Campaign, ServerState, TargetSet};
use devcare_pg::PgStore;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;

use std::fmt::Write as _;

use crate::error::{CliError, Result, input, internal, load_campaign_file};
use crate::printer::Printer;

/// The built-in campaign: `examples/campaigns/apn-full.toml`.
const BUILT_IN: &str = include_str!("../../../examples/campaigns/apn-full.toml");

#[derive(Debug, Args)]
pub(crate) struct SimArgs {
    /// Fleet size [default: 100000, or 2000 per world with --sweep].
    #[arg(long)]
    devices: Option<u64>,
    /// Share of devices whose provisioning fails (spread over the campaign's conditions).
    #[arg(long, default_value_t = 0.02, value_name = "P")]
    fail_rate: f64,
    /// Share of devices that miss the broadcast (found later when they check in).
    #[arg(long, default_value_t = 0.0, value_name = "Q")]
    loss: f64,
    /// Chance that one care attempt fixes a device.
    #[arg(long, default_value_t = 0.9, value_name = "P")]
    care_success: f64,
    /// Seed of every random choice: the same seed gives the same result.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Campaign file [default: a built-in APN campaign using every condition kind].
    #[arg(long, value_name = "FILE.toml")]
    campaign: Option<PathBuf>,
    /// Devices check in at a time spread over this interval after issue.
    #[arg(long, default_value = "24h", value_name = "DURATION")]
    checkin_interval: String,
    /// Where the server's event log goes: a directory (the run uses DIR/simulate-<campaign>,
    /// emptied first), `memory`, or a PostgreSQL connection string (`postgres://…`; the
    /// campaign's stream must be new in that database).
    #[arg(
        long,
        default_value = "./devcare-data",
        value_name = "DIR|memory|postgres://…"
    )]
    store: String,
    /// Write an SVG of reports per minute over simulated time.
    #[arg(long, value_name = "FILE.svg")]
    plot: Option<PathBuf>,
    /// Revise the campaign this long after issue (e.g. `30m`): revision N+1 replaces N on
    /// the server and is broadcast to the fleet again; the figures are revision N+1's.
    #[arg(long, value_name = "DURATION")]
    revise_at: Option<String>,
    /// Coverage floor: when the server's reach interval (share of targets holding the
    /// payload) lies wholly below it, the broadcast is degraded and the fallback runs
    /// (`none`: no floor) [default: the campaign file's `[coverage]`, else 0.99].
    #[arg(long, value_name = "SHARE|none")]
    coverage_floor: Option<String>,
    /// What runs below the floor (with --coverage-floor, or the default floor).
    #[arg(
        long,
        default_value = "unicast",
        value_name = "none|rebroadcast|unicast"
    )]
    fallback: String,
    /// Devices per minute the unicast fallback polls.
    #[arg(long, default_value_t = 2_000, value_name = "N")]
    fallback_pace: u32,
    /// What goes wrong between devices, channel and server (`docs/design.md`, "Fault
    /// simulation"); the rates below override the preset's.
    #[arg(long, default_value = "none", value_name = "none|realistic|harsh")]
    faults: String,
    /// Share of report messages lost.
    #[arg(long, value_name = "P")]
    report_loss: Option<f64>,
    /// Share of device steps followed by a reboot (state rebuilt from the device's log).
    #[arg(long, value_name = "P")]
    reboot_rate: Option<f64>,
    /// Share of device steps cut by a power loss before their events were flushed.
    #[arg(long, value_name = "P")]
    power_cut: Option<f64>,
    /// Share of server commands followed by a crash (state rebuilt from the log).
    #[arg(long, value_name = "P")]
    server_crash: Option<f64>,
    /// Split the campaign's server over this many shards by device (`docs/scale-out.md`): a
    /// control stream and one stream per shard. With several comma-separated PostgreSQL
    /// connection strings in --store, the shards are placed round-robin over those
    /// databases (the first holds the control stream).
    #[arg(long, default_value_t = 1, value_name = "V")]
    shards: u32,
    /// Threads appending the shards' batches at once, each owning the shards k with
    /// k mod W its index (with --shards above 1).
    #[arg(long, default_value_t = 1, value_name = "W")]
    workers: usize,
    /// Threads for the devices' side of a broadcast (apply, evaluate, slot) [default: one
    /// per core]. The result is the same, byte for byte, for any number.
    #[arg(long, value_name = "N")]
    threads: Option<usize>,
    /// How devices send their reports: binary reports into the server's report ingest,
    /// OMA DM Generic Alerts in each device's DM session into its alert ingest, or half
    /// and half (drawn per device).
    #[arg(long, default_value = "binary", value_name = "binary|alert|mixed")]
    transport: String,
    /// Run this many worlds (seeds `--seed` to `--seed + N - 1`) on every core and report
    /// faults injected and invariants broken, with the command that replays any failure.
    #[arg(long, value_name = "SEEDS")]
    sweep: Option<u64>,
}

/// The faults the flags ask for.
fn faults(a: &SimArgs) -> Result<Faults> {
    let mut f = Faults::preset(&a.faults).ok_or_else(|| {
        input(format!(
            "--faults: {:?} is not one of none, realistic, harsh",
            a.faults
        ))
    })?;
    if let Some(p) = a.report_loss {
        f.report_loss = p;
    }
    if let Some(p) = a.reboot_rate {
        f.reboot = p;
    }
    if let Some(p) = a.power_cut {
        f.power_cut = p;
    }
    if let Some(p) = a.server_crash {
        f.server_crash = p;
    }
    f.validate().map_err(|e| input(format!("--faults: {e}")))?;
    Ok(f)
}

/// The coverage floor the flags ask for; without `--coverage-floor`, the campaign file's
/// `[coverage]`, else 0.99 with the `--fallback` and `--fallback-pace` given.
fn coverage_floor(a: &SimArgs, file: Option<CoverageFloor>) -> Result<Option<CoverageFloor>> {
    let given = match (&a.coverage_floor, file) {
        (None, Some(f)) => return Ok(Some(f)),
        (None, None) => "0.99",
        (Some(g), _) => g.as_str(),
    };
    if given == "none" {
        return Ok(None);
    }
    let floor: f64 = given.parse().map_err(|_| {
        input(format!(
            "--coverage-floor: {given:?} is not a share or `none`"
        ))
    })?;
    let fallback = match a.fallback.as_str() {
        "none" => Fallback::None,
        "rebroadcast" => Fallback::Rebroadcast,
        "unicast" => Fallback::Unicast {
            per_minute: a.fallback_pace,
        },
        other => {
            return Err(input(format!(
                "--fallback: {other:?} is not one of none, rebroadcast, unicast"
            )));
        }
    };
    let policy = CoverageFloor { floor, fallback };
    policy
        .validate()
        .map_err(|e| input(format!("--coverage-floor/--fallback-pace: {e}")))?;
    Ok(Some(policy))
}

/// Peak resident set size of this process, in MB (Linux `VmHWM`).
fn peak_rss_mb() -> f64 {
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

struct Run {
    out: FleetOutcome,
    /// The campaign-level state (with a sharded server: the control state, with the sums).
    state: ServerState,
    /// Cases the server holds.
    cases: usize,
    /// Shards and writers, when sharded.
    sharded: Option<(u32, usize)>,
    replay_identical: Option<bool>,
    log_location: String,
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
    simulate_on_store(cfg, store, |_| Ok(()), |done| bar.set_position(done))
        .map_err(|e| internal(format!("simulation: {e}")))
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
    let (log, empty) = ShardedLog::open(stores, map.clone(), router, &cfg.campaign.id)
        .map_err(|e| input(format!("--store: {e}")))?;
    if empty.control_events() > 0 {
        return Err(input(format!(
            "--store: campaign {} already has a sharded log there; simulate into a fresh store",
            cfg.campaign.id
        )));
    }
    drop(log);
    let (out, state) = simulate_sharded(
        cfg,
        stores.iter().collect(),
        map.clone(),
        router,
        workers,
        |_| Ok(()),
        |done| bar.set_position(done),
    )
    .map_err(|e| internal(format!("simulation: {e}")))?;
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

fn execute(cfg: &FleetConfig, a: &SimArgs, bar: &ProgressBar) -> Result<Run> {
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
        .and_then(CareServer::open)
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
    let existing = store
        .version(&stream)
        .map_err(|e| input(format!("--store: {e}")))?;
    if existing > 0 {
        return Err(input(format!(
            "--store: {stream} already holds {existing} events in this database; simulate into a fresh database"
        )));
    }
    let (out, state) = run_on(cfg, &store, bar)?;
    let server = CareServer::open(connect()?)
        .map_err(|e| internal(format!("replaying from PostgreSQL: {e}")))?;
    let same = server.state(&cfg.campaign.id) == Some(&state);
    Ok(Run::one_stream(
        out,
        state,
        Some(same),
        format!("PostgreSQL {stream}"),
    ))
}

pub(crate) fn run(a: &SimArgs, printer: Printer) -> Result<()> {
    let (campaign, file_floor) = match &a.campaign {
        Some(p) => load_campaign_file(p)?,
        None => (
            Campaign::from_toml("built-in apn-full.toml", BUILT_IN)
                .map_err(|e| internal(e.to_string()))?,
            None,
        ),
    };
    if campaign.targets != TargetSet::All {
        return Err(input(
            "simulate needs a campaign that targets all devices (targets = { all = true })",
        ));
    }
    for (name, v) in [
        ("--fail-rate", a.fail_rate),
        ("--loss", a.loss),
        ("--care-success", a.care_success),
    ] {
        if !(0.0..=1.0).contains(&v) {
            return Err(input(format!("{name}: must be between 0 and 1, is {v}")));
        }
    }
    let devices = a
        .devices
        .unwrap_or(if a.sweep.is_some() { 2_000 } else { 100_000 });
    if devices == 0 {
        return Err(input("--devices: must be at least 1"));
    }
    let checkin = parse_human_duration(&a.checkin_interval)
        .map_err(|e| input(format!("--checkin-interval: {e}")))?;
    let mut cfg = FleetConfig::new(campaign, devices);
    cfg.fail_rate = a.fail_rate;
    cfg.loss = a.loss;
    cfg.care_success = a.care_success;
    cfg.seed = a.seed;
    cfg.checkin_interval = checkin;
    cfg.revise_at = a
        .revise_at
        .as_deref()
        .map(|d| parse_human_duration(d).map_err(|e| input(format!("--revise-at: {e}"))))
        .transpose()?;
    cfg.coverage_floor = coverage_floor(a, file_floor)?;
    cfg.faults = faults(a)?;
    cfg.transport = match a.transport.as_str() {
        "binary" => Transport::Binary,
        "alert" => Transport::Alert,
        "mixed" => Transport::Mixed,
        other => {
            return Err(input(format!(
                "--transport: expected binary, alert or mixed, found {other:?}"
            )));
        }
    };
    cfg.threads = match a.threads {
        Some(0) => return Err(input("--threads: at least 1")),
        Some(n) => n,
        None => std::thread::available_parallelism().map_or(1, std::num::NonZero::get),
    };
    if let Some(n) = a.sweep {
        return run_sweep(a, &cfg, n, printer);
    }

    let bar = ProgressBar::new(devices);
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} provisioning {pos}/{len} devices [{bar:30}] {elapsed}",
        )
        .map_err(|e| internal(e.to_string()))?,
    );
    let started = Instant::now();
    let run = execute(&cfg, a, &bar)?;
    bar.finish_and_clear();
    let wall_s = started.elapsed().as_secs_f64();
    if run.replay_identical == Some(false) {
        return Err(internal(format!(
            "the log at {} did not replay to the live state",
            run.log_location
        )));
    }
    if let Some(path) = &a.plot {
        crate::plot::reports_per_minute(path, &cfg.campaign, &run.out).map_err(|e| match e {
            CliError::Input(m) | CliError::Internal(m) => input(format!("{}: {m}", path.display())),
        })?;
    }
    report(printer, &cfg, &run, wall_s)
}

fn report(printer: Printer, cfg: &FleetConfig, run: &Run, wall_s: f64) -> Result<()> {
    let out = &run.out;
    let st = run.state.stats();
    let sent = out.reports_sent.max(1);
    let reduction = out.devices as f64 / sent as f64;
    let window_s = cfg.campaign.schedule.report.window.as_millis() / 1000;
    let converged_s = out.converged_after.as_millis() as f64 / 1e3;
    let rss = peak_rss_mb();
    let c = &cfg.campaign;
    let revision = run
        .state
        .campaign
        .as_ref()
        .map_or(c.revision, |c| c.revision);
    let tl = &run.state.tally;
    let silent = run
        .state
        .sampled_targets
        .map(|n| n.saturating_sub(tl.sampled_reporters + tl.sampled_behind + tl.probes));
    let text = || {
        let mut t = String::new();
        let _ = writeln!(
            t,
            "campaign {} rev {}: {} devices, {:.2}% injected failures, {:.2}% broadcast loss, seed {}",
            c.id,
            revision,
            out.devices,
            cfg.fail_rate * 100.0,
            cfg.loss * 100.0,
            cfg.seed
        );
        for (rev, e) in &run.state.earlier {
            let _ = writeln!(
                t,
                "  revision {rev} replaced after {}: {} failure reports, {} in care (stopped), {} recovered",
                cfg.revise_at.map_or_else(String::new, |d| d.to_string()),
                e.failure_reports,
                e.in_care,
                e.recovered
            );
        }
        let _ = writeln!(t, " truth (what the simulator injected)");
        let _ = writeln!(t, "  failed              {:>10}", out.failed);
        let _ = writeln!(t, "  missed broadcast    {:>10}", out.missed);
        if !out.faults.is_empty() {
            let kinds: Vec<String> = out.faults.iter().map(|(k, n)| format!("{k} {n}")).collect();
            let _ = writeln!(t, "  faults injected     {}", kinds.join(", "));
        }
        let _ = writeln!(t, " server (what it knows and did)");
        let _ = writeln!(
            t,
            "  broadcast payload   {:>10} bytes, signed and verified",
            out.payload_bytes
        );
        let _ = writeln!(
            t,
            "  found behind        {:>10}   (by check-in or fallback poll)",
            st.checkins_behind
        );
        let _ = writeln!(
            t,
            "  reports sent        {:>10}   ({} failures + {} success probes taken{}; every-device design: {}, {:.0}x more)",
            out.reports_sent,
            st.failure_reports,
            st.success_probes,
            match out
                .reports_sent
                .saturating_sub(st.failure_reports + st.success_probes)
            {
                0 => String::new(),
                n => format!(", {n} resends and refused"),
            },
            out.devices,
            reduction
        );
        let _ = writeln!(
            t,
            "  peak reports/min    {:>10}   over a {} window",
            out.peak_reports_per_minute(),
            c.schedule.report.window
        );
        if !out.reports_rejected.is_empty() {
            let refused: Vec<String> = out
                .reports_rejected
                .iter()
                .map(|(r, n)| format!("{r} {n}"))
                .collect();
            let _ = writeln!(t, "  reports refused     {}", refused.join(", "));
        }
        let _ = writeln!(t, "  care dispatched     {:>10}", out.care_dispatched);
        let _ = writeln!(t, "  recovered           {:>10}", st.recovered);
        let _ = writeln!(
            t,
            "  escalated           {:>10}",
            st.escalated + st.abandoned
        );
        let _ = writeln!(t, "  presumed OK         {:>10}", st.presumed_ok);
        if let Some(cv) = st.coverage {
            let _ = writeln!(
                t,
                "  coverage estimate   {:>10.4}   95% CI [{:.4}, {:.4}] ({}; truth {:.4})",
                cv.estimate,
                cv.lo,
                cv.hi,
                cv.basis.name(),
                (out.devices - out.missed) as f64 / out.devices as f64
            );
            if let Some(n) = silent {
                let _ = writeln!(
                    t,
                    "  silent sampled      {:>10}   (no probe, report or check-in: poll them)",
                    n
                );
            }
        }
        if let Some((r, after)) = out.fallback.degraded {
            let f = &out.fallback;
            let _ = writeln!(
                t,
                "  BroadcastDegraded   after {after}: server's reach {:.4} [{:.4}, {:.4}] below floor {} (truth {:.4})",
                r.estimate,
                r.lo,
                r.hi,
                cfg.coverage_floor.map_or(0.0, |p| p.floor),
                f.true_reach.unwrap_or(0.0)
            );
            let how = match cfg.coverage_floor.map(|p| p.fallback) {
                Some(Fallback::Rebroadcast) if f.rebroadcast => "rebroadcast".to_string(),
                Some(Fallback::Unicast { per_minute }) => format!(
                    "polled {} silent targets by unicast at {per_minute}/min",
                    f.unicast_sent
                ),
                _ => "none run".to_string(),
            };
            let _ = writeln!(
                t,
                "  fallback            {how}: {} lacked the payload and got it as care{}",
                f.reached_missed,
                f.finished_after
                    .map_or_else(String::new, |d| format!(", last step after {d}"))
            );
        }
        if st.paused {
            let _ = writeln!(t, "  care PAUSED by the abort threshold");
        }
        let _ = writeln!(t, "  unresolved          {:>10}", out.unresolved);
        let _ = writeln!(
            t,
            "  converged after     {:>10}   (the last case resolved)",
            human(out.converged_after)
        );
        if out.gave_up_reporting > 0 {
            let _ = writeln!(
                t,
                "  gave up unheard     {:>10}   (failed devices whose every report went unacknowledged)",
                out.gave_up_reporting
            );
        }
        let replay = match run.replay_identical {
            Some(true) => ", reopened and replayed: identical",
            _ => "",
        };
        let _ = writeln!(
            t,
            "  events logged       {:>10}   ({}{replay})",
            out.events_logged, run.log_location
        );
        let _ = writeln!(
            t,
            "  wall time           {:>9.2}s, peak RSS {:.0} MB, device phase on {} thread{}",
            wall_s,
            rss,
            cfg.threads,
            if cfg.threads == 1 { "" } else { "s" }
        );
        t
    };
    printer.result(text, || {
        json!({
            "revision": revision,
            "earlier_revisions": run.state.earlier.iter().map(|(rev, e)| json!({
                "revision": rev,
                "failure_reports": e.failure_reports,
                "in_care": e.in_care,
                "recovered": e.recovered,
            })).collect::<Vec<_>>(),
            "reports_rejected": out.reports_rejected,
            "care_timed_out": st.care_timed_out,
            "devices": out.devices,
            "failed": out.failed,
            "missed": out.missed,
            "sampled": out.sampled,
            "reports_sent": out.reports_sent,
            "reports_accepted": out.reports_accepted,
            "baseline_reports": out.devices,
            "report_reduction": reduction,
            "peak_reports_per_min": out.peak_reports_per_minute(),
            "window_s": window_s,
            "payload_bytes": out.payload_bytes,
            "report_bytes": out.report_bytes,
            "care_dispatched": out.care_dispatched,
            "recovered": st.recovered,
            "escalated": st.escalated,
            "abandoned": st.abandoned,
            "presumed_ok": st.presumed_ok,
            "checkins_behind": st.checkins_behind,
            "paused": st.paused,
            "coverage_estimate": st.coverage.map(|c| c.estimate),
            "coverage_ci95": st.coverage.map(|c| [c.lo, c.hi]),
            "coverage_basis": st.coverage.map(|c| c.basis.name()),
            "coverage_truth": (out.devices - out.missed) as f64 / out.devices as f64,
            "sampled_targets": run.state.sampled_targets,
            "silent_sampled": silent,
            "coverage_floor": cfg.coverage_floor.map(|p| p.floor),
            "fallback": cfg.coverage_floor.map(|p| p.fallback.name()),
            "broadcast_degraded": out.fallback.degraded.map(|(r, after)| json!({
                "server": {"reach": r.estimate, "ci95": [r.lo, r.hi], "basis": r.basis.name()},
                "after_s": after.as_millis() as f64 / 1e3,
                "truth": {"reach": out.fallback.true_reach},
            })),
            "fallback_rebroadcast": out.fallback.rebroadcast,
            "fallback_unicast_sent": out.fallback.unicast_sent,
            "fallback_reached_missed": out.fallback.reached_missed,
            "converged_after_s": converged_s,
            "truth": {
                "failed": out.failed,
                "missed": out.missed,
                "sampled": out.sampled,
                "coverage": (out.devices - out.missed) as f64 / out.devices as f64,
                "faults_injected": out.faults,
                "forged_refused": out.forged_rejected,
                "gave_up_reporting": out.gave_up_reporting,
                "reports_refused_for_good": out.reports_refused_for_good,
            },
            "server": {
                "failure_reports": st.failure_reports,
                "success_probes": st.success_probes,
                "found_behind": st.checkins_behind,
                "care_dispatched": st.care_dispatched,
                "care_timed_out": st.care_timed_out,
                "recovered": st.recovered,
                "escalated": st.escalated,
                "abandoned": st.abandoned,
                "presumed_ok": st.presumed_ok,
                "in_care": st.in_care,
                "coverage": st.coverage.map(|c| json!({
                    "estimate": c.estimate,
                    "ci95": [c.lo, c.hi],
                    "basis": c.basis.name(),
                })),
            },
            "unresolved": out.unresolved,
            "events_logged": out.events_logged,
            "server_cases": run.cases,
            "shards": run.sharded.map_or(1, |s| s.0),
            "workers": run.sharded.map_or(1, |s| s.1),
            "replay_identical": run.replay_identical,
            "wall_s": wall_s,
            "threads": cfg.threads,
            "peak_rss_mb": rss,
        })
    })
}

/// `--sweep N`: N worlds on every core, then what broke.
fn run_sweep(a: &SimArgs, cfg: &FleetConfig, n: u64, printer: Printer) -> Result<()> {
    let threads = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    let started = Instant::now();
    let out = sweep(cfg, cfg.seed..cfg.seed.saturating_add(n), threads);
    let wall_s = started.elapsed().as_secs_f64();
    let repro = |seed: u64| replay_command(a, cfg, seed);
    let text = || sweep_text(&out, cfg, threads, wall_s, &repro);
    printer.result(text, || {
        json!({
            "seeds": out.seeds,
            "devices_per_world": cfg.devices,
            "faults": a.faults,
            "threads": threads,
            "faults_injected": out.faults,
            "violations": out.failures.iter().map(|(seed, e)| json!({
                "seed": seed,
                "what": e,
                "replay": repro(*seed),
            })).collect::<Vec<_>>(),
            "coverage_held": out.coverage_held,
            "coverage_checked": out.coverage_checked,
            "gave_up_reporting": out.gave_up_reporting,
            "reports_sent": out.reports_sent,
            "reports_accepted": out.reports_accepted,
            "wall_s": wall_s,
        })
    })?;
    if out.failures.is_empty() {
        Ok(())
    } else {
        Err(internal(format!(
            "{} of {} worlds broke an invariant",
            out.failures.len(),
            out.seeds
        )))
    }
}

fn sweep_text(
    out: &SweepOutcome,
    cfg: &FleetConfig,
    threads: usize,
    wall_s: f64,
    repro: &dyn Fn(u64) -> String,
) -> String {
    let mut t = String::new();
    let _ = writeln!(
        t,
        "sweep: {} worlds of {} devices on {threads} threads in {wall_s:.1}s",
        out.seeds, cfg.devices
    );
    let _ = writeln!(t, "  faults injected (truth)");
    for (kind, n) in &out.faults {
        let _ = writeln!(t, "    {kind:<22} {n:>10}");
    }
    let _ = writeln!(
        t,
        "  reports sent {} / accepted {} (resends of lost reports and answers)",
        out.reports_sent, out.reports_accepted
    );
    let _ = writeln!(
        t,
        "  coverage interval held the truth in {} of {} worlds",
        out.coverage_held, out.coverage_checked
    );
    let _ = writeln!(
        t,
        "  failed devices that gave up reporting unheard: {}",
        out.gave_up_reporting
    );
    let _ = writeln!(t, "  invariant violations   {:>10}", out.failures.len());
    for (seed, e) in &out.failures {
        let _ = writeln!(t, "    seed {seed}: {e}\n      replay: {}", repro(*seed));
    }
    t
}

/// The one-line command that replays world `seed` of a sweep.
fn replay_command(a: &SimArgs, cfg: &FleetConfig, seed: u64) -> String {
    let mut cmd = format!(
        "devcare simulate --store memory --devices {} --seed {seed} --faults {} --fail-rate {} --loss {} --care-success {} --checkin-interval {}",
        cfg.devices, a.faults, cfg.fail_rate, cfg.loss, cfg.care_success, a.checkin_interval
    );
    for (flag, v) in [
        ("--report-loss", a.report_loss),
        ("--reboot-rate", a.reboot_rate),
        ("--power-cut", a.power_cut),
        ("--server-crash", a.server_crash),
    ] {
        if let Some(v) = v {
            let _ = write!(cmd, " {flag} {v}");
        }
    }
    if let Some(r) = &a.revise_at {
        let _ = write!(cmd, " --revise-at {r}");
    }
    if let Some(c) = &a.campaign {
        let _ = write!(cmd, " --campaign {}", c.display());
    }
    if a.coverage_floor.is_some() || a.fallback != "unicast" || a.fallback_pace != 2_000 {
        let _ = write!(
            cmd,
            " --coverage-floor {} --fallback {} --fallback-pace {}",
            a.coverage_floor.as_deref().unwrap_or("0.99"),
            a.fallback,
            a.fallback_pace
        );
    }
    cmd
}

/// A duration to the second, largest units first: `2h32m20s`.
fn human(d: devcare::Duration) -> String {
    let mut s = d.as_millis() / 1000;
    if s == 0 {
        return "0s".into();
    }
    let mut out = String::new();
    for (unit, name) in [(86_400, "d"), (3_600, "h"), (60, "m"), (1, "s")] {
        if s >= unit {
            let _ = write!(out, "{}{name}", s / unit);
            s %= unit;
        }
    }
    out
}
