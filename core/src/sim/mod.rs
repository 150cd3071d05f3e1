//! A deterministic fleet simulation: one campaign, N devices, the real device and server
//! deciders, simulated time. Used by the `fleet` example, the end-to-end tests and the CLI.
//!
//! Every random choice (which device fails and how, which misses the broadcast, whether a
//! care attempt works) is SipHash-2-4 of the device index under a key derived from the
//! seed, so the same configuration gives the same outcome on every machine. Healthy devices
//! are folded and dropped at once: memory grows with failures, not with the fleet.

mod bare_device;
mod devices;
mod fate;
mod faults;
mod server;
mod world;

pub use faults::{FaultCounts, Faults, Violation};
pub use server::{OneStream, Sharded, SimServer, SimStore};

use std::collections::{BTreeMap, BinaryHeap, HashMap};

use crate::model::{Campaign, DeviceId, Duration};
use crate::server::{CampaignStats, CoverageFloor, ServerError, ServerEvent, ServerState};
use crate::stats::Coverage;
use crate::store::EventStore;

/// What to simulate.
#[derive(Debug, Clone)]
pub struct FleetConfig {
    /// The campaign (its `targets` should be `All`; every simulated device is a target).
    pub campaign: Campaign,
    /// Fleet size.
    pub devices: u64,
    /// Share of devices whose provisioning fails (spread over the campaign's conditions).
    pub fail_rate: f64,
    /// Share of devices that miss the broadcast (found later by check-in).
    pub loss: f64,
    /// Chance that one care attempt fixes a device.
    pub care_success: f64,
    /// Devices check in at a uniformly spread time within this interval after issue.
    pub checkin_interval: Duration,
    /// Seed of every random choice.
    pub seed: u64,
    /// Revise the campaign this long after issue: revision N+1 (same settings and
    /// schedule, issued then, a fresh salt) replaces N on the server and is broadcast to the
    /// fleet again, with fresh draws of loss and failure. `None`: no revision.
    pub revise_at: Option<Duration>,
    /// The campaign's coverage floor and fallback (server-side policy), if any.
    pub coverage_floor: Option<CoverageFloor>,
    /// The campaign's limit on targets wrongly presumed OK at settlement (server-side
    /// policy), if any.
    pub max_presumed_unknown: Option<u64>,
    /// What goes wrong between devices, channel and server.
    pub faults: Faults,
    /// Threads for the device phase of a broadcast (apply, evaluate, slot), and for
    /// counting the success sample. The outcome does not depend on it: the world takes
    /// the devices' results in device order. Devices that keep logs (power cuts, reboots)
    /// are always run one after another.
    pub threads: usize,
    /// How devices send their reports to the server.
    pub transport: Transport,
}

/// How simulated devices send their reports: each crosses the server host's production
/// ingest for that transport, and the device gets whatever the host answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Transport {
    /// Binary reports (HMAC under the device's key) into the report ingest.
    #[default]
    Binary,
    /// OMA DM Generic Alerts in a DM message of the device's own session, into the alert
    /// ingest.
    Alert,
    /// Half the devices (drawn per device from the seed) one way, half the other.
    Mixed,
}

impl Transport {
    /// `binary`, `alert` or `mixed`.
    pub fn name(self) -> &'static str {
        match self {
            Transport::Binary => "binary",
            Transport::Alert => "alert",
            Transport::Mixed => "mixed",
        }
    }
}

impl FleetConfig {
    /// A configuration with the defaults: 2% failures, no loss, 90% care success, 24 h
    /// check-in interval, seed 1, one thread.
    pub fn new(campaign: Campaign, devices: u64) -> Self {
        FleetConfig {
            campaign,
            devices,
            fail_rate: 0.02,
            loss: 0.0,
            care_success: 0.9,
            checkin_interval: Duration::from_hours(24),
            seed: 1,
            revise_at: None,
            coverage_floor: None,
            max_presumed_unknown: None,
            faults: Faults::none(),
            threads: 1,
            transport: Transport::Binary,
        }
    }
}

/// What happened.
#[derive(Debug, Clone, PartialEq)]
pub struct FleetOutcome {
    /// Fleet size.
    pub devices: u64,
    /// Ground truth of the last broadcast (of the last revision): devices whose
    /// provisioning failed (injected).
    pub failed: u64,
    /// Ground truth of the last broadcast: devices that missed it.
    pub missed: u64,
    /// Ground truth of the last broadcast: healthy devices picked as coverage probes.
    pub sampled: u64,
    /// Reports sent by devices (all attempts).
    pub reports_sent: u64,
    /// Reports the server accepted.
    pub reports_accepted: u64,
    /// Reports the server rejected, by reason.
    pub reports_rejected: BTreeMap<String, u64>,
    /// Reports sent per minute since issue (index = minute).
    pub reports_per_minute: BTreeMap<u64, u64>,
    /// Care orders dispatched.
    pub care_dispatched: u64,
    /// The server's statistics at the end.
    pub stats: CampaignStats,
    /// Targets neither presumed/confirmed OK, recovered, escalated nor abandoned.
    pub unresolved: u64,
    /// Time from issue to the last case resolved (recovered, escalated, given up); to the
    /// last server activity when no case was opened.
    pub converged_after: Duration,
    /// Server events produced.
    pub events_logged: u64,
    /// Device events produced (all devices).
    pub device_events: u64,
    /// Size of the signed broadcast payload every device received.
    pub payload_bytes: u64,
    /// Bytes of all reports sent (wire format, MAC included).
    pub report_bytes: u64,
    /// What the coverage fallback did (last revision).
    pub fallback: FallbackOutcome,
    /// Faults injected, by kind.
    pub faults: FaultCounts,
    /// Forged reports refused, by reason.
    pub forged_rejected: BTreeMap<String, u64>,
    /// Failed devices that gave up reporting with every attempt unacknowledged (the server
    /// never heard of them; allowed by the retry policy).
    pub gave_up_reporting: u64,
    /// Report answers that refused for good (a 4xx: the device stopped resending).
    pub reports_refused_for_good: u64,
    /// The server's reach interval at its first coverage check, and the true share of
    /// targets holding the payload at that moment (when it checked).
    pub first_check: Option<(Coverage, f64)>,
    /// Times the abort threshold paused care (each lifted by the simulated operator an hour
    /// later; a pause the truth does not bear out ends the world as `false-pause`).
    pub breaker_pauses: u64,
    /// When the last case was resolved (recovered, escalated or given up), if one was.
    pub last_resolved: Option<crate::model::Timestamp>,
    /// The server's bound on targets wrongly presumed OK at settlement, and the truth then:
    /// targets without a case that missed the payload or failed.
    pub settlement: Option<(crate::server::PresumedBound, u64)>,
}

/// What the coverage fallback did in the last revision.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FallbackOutcome {
    /// The server's reach interval when it found the broadcast degraded, and when (time
    /// since issue).
    pub degraded: Option<(Coverage, Duration)>,
    /// Ground truth at that moment: the share of targets holding the payload.
    pub true_reach: Option<f64>,
    /// The payload was broadcast again.
    pub rebroadcast: bool,
    /// Devices sent the payload by unicast by the fallback.
    pub unicast_sent: u64,
    /// Of those and of the rebroadcast's receivers, devices that had missed the broadcast
    /// and were not reached yet (ground truth).
    pub reached_missed: u64,
    /// Time since issue of the last fallback step.
    pub finished_after: Option<Duration>,
}

impl FleetOutcome {
    /// The busiest minute's report count.
    pub fn peak_reports_per_minute(&self) -> u64 {
        self.reports_per_minute.values().copied().max().unwrap_or(0)
    }

    /// Coverage estimate from the success probes, if sampling was on.
    pub fn coverage(&self) -> Option<Coverage> {
        self.stats.coverage
    }
}

/// A simulation failed: a decider refused a command the simulation expected to work.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// The server refused a command.
    #[error("server refused {what}: {source}")]
    Server {
        /// What was attempted.
        what: &'static str,
        /// The refusal.
        source: ServerError,
    },
    /// A device refused a command.
    #[error("device {device} refused {what}: {reason}")]
    Device {
        /// Which device.
        device: String,
        /// What was attempted.
        what: &'static str,
        /// The refusal.
        reason: String,
    },
    /// The sink (e.g. an event store) failed.
    #[error("event sink: {0}")]
    Sink(String),
    /// Bad configuration.
    #[error("configuration: {0}")]
    Config(String),
    /// An invariant broke (`docs/design.md`, "Fault simulation").
    #[error("{0}")]
    Invariant(Violation),
}

use devices::Ctx;
use fate::*;
use world::*;

/// The simulated device id of index `i`: `dev-` and at least ten digits (`dev-0000000042`).
pub fn device_id(i: u64) -> DeviceId {
    let mut buf = [0u8; ID_BUF];
    let id = device_id_bytes(i, &mut buf);
    let id = std::str::from_utf8(id).expect("digits are ASCII");
    DeviceId::from_text(id).expect("simulated ids are valid")
}

/// Room for `dev-` and the 20 digits of `u64::MAX`.
const ID_BUF: usize = 24;

/// The bytes of [`device_id`]`(i)`, written digit by digit into `buf`: ids are made for
/// every device of every broadcast, and the formatting machinery was a tenth of a
/// 10M-device run.
fn device_id_bytes(i: u64, buf: &mut [u8; ID_BUF]) -> &[u8] {
    let mut digits = [b'0'; 20];
    let mut n = i;
    let mut k = digits.len();
    while n > 0 {
        k -= 1;
        digits[k] = b'0' + (n % 10) as u8;
        n /= 10;
    }
    let digits = &digits[k.min(digits.len() - 10)..];
    buf[..4].copy_from_slice(b"dev-");
    buf[4..4 + digits.len()].copy_from_slice(digits);
    &buf[..4 + digits.len()]
}

/// Runs the simulation on a fresh in-memory store; `sink` receives every batch of server
/// events the host appended, in order. Returns the outcome and the server's final state.
pub fn simulate<S>(cfg: &FleetConfig, sink: S) -> Result<(FleetOutcome, ServerState), SimError>
where
    S: FnMut(&[ServerEvent]) -> Result<(), String>,
{
    simulate_with(cfg, sink, |_| {})
}

/// [`simulate`], calling `progress` with the number of devices provisioned so far.
pub fn simulate_with<S, P>(
    cfg: &FleetConfig,
    sink: S,
    progress: P,
) -> Result<(FleetOutcome, ServerState), SimError>
where
    S: FnMut(&[ServerEvent]) -> Result<(), String>,
    P: FnMut(u64),
{
    simulate_on_store(cfg, crate::store::MemoryStore::new(), sink, progress)
}

/// [`simulate_with`] with the server's log in `store` (new to this campaign): the
/// single-stream host ([`OneStream`]) runs over it.
pub fn simulate_on_store<T, S, P>(
    cfg: &FleetConfig,
    store: T,
    sink: S,
    progress: P,
) -> Result<(FleetOutcome, ServerState), SimError>
where
    T: EventStore,
    S: FnMut(&[ServerEvent]) -> Result<(), String>,
    P: FnMut(u64),
{
    check(cfg)?;
    let store = SimStore::new(store);
    let host = OneStream::open(&store, &cfg.campaign.id, report_master(cfg.seed))
        .map_err(|e| SimError::Sink(format!("opening the server: {e}")))?;
    if host.state().campaign.is_some() {
        return Err(SimError::Config(format!(
            "the store already holds campaign {}: simulate into a fresh store",
            cfg.campaign.id
        )));
    }
    let (out, host) = run(cfg, host, sink, progress)?;
    Ok((out, host.state().clone()))
}

/// [`simulate_with`] on a sharded server: a [`ShardWorker`](crate::host::ShardWorker)
/// owning every shard of `router`, over `stores` placed by `map`, appending with `writers`
/// threads ([`Sharded`]). The stores must not hold the campaign yet.
pub fn simulate_sharded<T, S, P>(
    cfg: &FleetConfig,
    stores: Vec<T>,
    map: crate::host::ShardMap,
    router: crate::server::ShardRouter,
    writers: usize,
    sink: S,
    progress: P,
) -> Result<(FleetOutcome, crate::server::ShardedState), SimError>
where
    T: EventStore + Sync,
    S: FnMut(&[ServerEvent]) -> Result<(), String>,
    P: FnMut(u64),
{
    check(cfg)?;
    let stores = SimStore::shared(stores);
    let host = Sharded::open(
        &stores,
        map,
        router,
        &cfg.campaign.id,
        writers,
        report_master(cfg.seed),
    )
    .map_err(|e| SimError::Sink(format!("opening the server: {e}")))?;
    if host.state().control_events() > 0 {
        return Err(SimError::Config(format!(
            "campaign {} already has a sharded log in these stores: simulate into fresh stores",
            cfg.campaign.id
        )));
    }
    let (out, host) = run(cfg, host, sink, progress)?;
    Ok((out, host.state().clone()))
}

/// The master secret the simulated devices' report keys derive from (from the seed): the
/// server host's key directory holds it, the world derives each device's key from it.
fn report_master(seed: u64) -> [u8; 32] {
    Fate::new(seed).secret(TAG_REPORT_MASTER)
}

fn check(cfg: &FleetConfig) -> Result<(), SimError> {
    if !(0.0..=1.0).contains(&cfg.fail_rate)
        || !(0.0..=1.0).contains(&cfg.loss)
        || !(0.0..=1.0).contains(&cfg.care_success)
    {
        return Err(SimError::Config(
            "fail rate, loss and care success must be within 0..=1".into(),
        ));
    }
    if cfg.devices == 0 {
        return Err(SimError::Config("at least one device is needed".into()));
    }
    cfg.faults.validate().map_err(SimError::Config)?;
    Ok(())
}

/// Runs the world with `server`, the host of an empty store.
fn run<B, S, P>(
    cfg: &FleetConfig,
    server: B,
    sink: S,
    progress: P,
) -> Result<(FleetOutcome, B), SimError>
where
    B: SimServer,
    S: FnMut(&[ServerEvent]) -> Result<(), String>,
    P: FnMut(u64),
{
    let fate = Fate::new(cfg.seed);
    let mut sim = Sim {
        ctx: Ctx {
            cfg,
            campaign: crate::model::ValidCampaign::new(
                cfg.campaign.clone(),
                &crate::Limits::DEFAULT,
            )
            .map_err(|e| SimError::Config(format!("campaign: {e}")))?,
            round: 0,
            fate,
        },
        progress,
        report_master: report_master(cfg.seed),
        server,
        sink,
        queue: BinaryHeap::new(),
        seq: 0,
        devices: HashMap::new(),
        out: FleetOutcome {
            devices: cfg.devices,
            failed: 0,
            missed: 0,
            sampled: 0,
            reports_sent: 0,
            reports_accepted: 0,
            reports_rejected: BTreeMap::new(),
            reports_per_minute: BTreeMap::new(),
            care_dispatched: 0,
            stats: ServerState::default().stats(),
            unresolved: 0,
            converged_after: Duration::ZERO,
            events_logged: 0,
            device_events: 0,
            payload_bytes: 0,
            report_bytes: 0,
            fallback: FallbackOutcome::default(),
            faults: FaultCounts::new(),
            forged_rejected: BTreeMap::new(),
            gave_up_reporting: 0,
            reports_refused_for_good: 0,
            breaker_pauses: 0,
            first_check: None,
            settlement: None,
            last_resolved: None,
        },
        missed_now: std::collections::BTreeSet::new(),
        poll_order: Vec::new(),
        messages: HashMap::new(),
        next_msg: 0,
        steps: 0,
        server_cmds: 0,
        work_done: 0,
        hosts: HashMap::new(),
        ever_bad: std::collections::HashSet::new(),
        powered_off: std::collections::HashSet::new(),
        server_backoff: None,
        last_activity: cfg.campaign.issued_at,
        now: cfg.campaign.issued_at,
        wake_at: None,
    };
    sim.run()?;
    let stats = sim.server.campaign().stats();
    let mut out = sim.out;
    out.unresolved = stats.in_care;
    out.converged_after = out
        .last_resolved
        .unwrap_or(sim.last_activity)
        .since(cfg.campaign.issued_at);
    out.stats = stats;
    Ok((out, sim.server))
}

/// What a sweep of many seeds found.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SweepOutcome {
    /// Seeds run.
    pub seeds: u64,
    /// Faults injected over all seeds, by kind.
    pub faults: FaultCounts,
    /// Seeds that broke an invariant (or failed otherwise), with what broke, by seed.
    pub failures: Vec<(u64, String)>,
    /// Seeds whose final coverage interval held the broadcast's true coverage, of those
    /// with an interval.
    pub coverage_held: u64,
    /// Seeds with a coverage interval.
    pub coverage_checked: u64,
    /// Failed devices that gave up reporting unheard, over all seeds.
    pub gave_up_reporting: u64,
    /// Reports sent over all seeds, and failure reports + probes the server took.
    pub reports_sent: u64,
    /// Reports accepted over all seeds.
    pub reports_accepted: u64,
    /// Pauses by the abort threshold over all seeds (a false one is an invariant
    /// violation, `false-pause`, among `failures`).
    pub breaker_pauses: u64,
    /// Targets left unresolved at the end, over all seeds.
    pub unresolved: u64,
    /// Seeds whose first coverage check's reach interval held the true share of targets
    /// holding the payload then, of those that checked.
    pub first_check_held: u64,
    /// Seeds whose server made a coverage check.
    pub first_check_count: u64,
    /// Sum of the first checks' reach intervals' widths (divide by `first_check_count`).
    pub first_check_width: f64,
    /// Seeds whose settlement bound was at least the true number of targets wrongly
    /// presumed OK.
    pub bound_held: u64,
    /// Seeds that settled with a bound.
    pub bound_count: u64,
    /// Sum of the bounds (divide by `bound_count`).
    pub bound_sum: u64,
    /// Sum of the true numbers of targets wrongly presumed OK at settlement.
    pub wrongly_presumed: u64,
    /// Sum of the final coverage intervals' widths (divide by `coverage_checked`).
    pub coverage_width: f64,
}

/// The campaign salt [`sweep`] gives world `seed` (each world its own, as each campaign
/// has its own): run `simulate` with it to repeat one world of a sweep.
pub fn world_salt(seed: u64) -> [u8; 16] {
    let secret = Fate::new(seed).secret(fate::TAG_WORLD_SALT);
    let mut salt = [0u8; 16];
    salt.copy_from_slice(&secret[..16]);
    salt
}

/// Runs `cfg` for every seed of `seeds` on `threads` threads (each seed its own world,
/// events discarded) and gathers the faults and the broken invariants. The result does not
/// depend on the thread count.
pub fn sweep(cfg: &FleetConfig, seeds: std::ops::Range<u64>, threads: usize) -> SweepOutcome {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicU64, Ordering};
    let next = AtomicU64::new(seeds.start);
    let results: Mutex<Vec<(u64, Result<FleetOutcome, String>)>> = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..threads.max(1) {
            scope.spawn(|| {
                loop {
                    let seed = next.fetch_add(1, Ordering::Relaxed);
                    if seed >= seeds.end {
                        break;
                    }
                    let mut c = cfg.clone();
                    c.seed = seed;
                    // Each world its own salt: slots and the success sample differ from
                    // world to world as they do from campaign to campaign.
                    c.campaign.salt = world_salt(seed);
                    // The seeds already keep every thread busy.
                    c.threads = 1;
                    let r = simulate(&c, |_| Ok(()))
                        .map(|(out, _)| out)
                        .map_err(|e| e.to_string());
                    results
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .push((seed, r));
                }
            });
        }
    });
    let mut results = results
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    results.sort_by_key(|(seed, _)| *seed);
    let mut out = SweepOutcome::default();
    for (seed, r) in results {
        out.seeds += 1;
        match r {
            Err(e) => out.failures.push((seed, e)),
            Ok(o) => {
                for (k, n) in &o.faults {
                    *out.faults.entry(k).or_default() += n;
                }
                out.gave_up_reporting += o.gave_up_reporting;
                out.breaker_pauses += o.breaker_pauses;
                out.unresolved += o.unresolved;
                out.reports_sent += o.reports_sent;
                out.reports_accepted += o.reports_accepted;
                if let Some((reach, truth)) = o.first_check {
                    out.first_check_count += 1;
                    out.first_check_width += reach.hi - reach.lo;
                    if reach.lo <= truth + 1e-12 && truth <= reach.hi + 1e-12 {
                        out.first_check_held += 1;
                    }
                }
                if let Some((bound, truth)) = o.settlement {
                    out.bound_count += 1;
                    out.bound_sum += bound.total();
                    out.wrongly_presumed += truth;
                    if truth <= bound.total() {
                        out.bound_held += 1;
                    }
                }
                if let Some(cv) = o.stats.coverage {
                    out.coverage_checked += 1;
                    out.coverage_width += cv.hi - cv.lo;
                    let truth = 1.0 - o.missed as f64 / o.devices as f64;
                    if cv.lo <= truth + 1e-12 && truth <= cv.hi + 1e-12 {
                        out.coverage_held += 1;
                    }
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::device_id;

    #[test]
    fn device_ids_are_dev_and_at_least_ten_digits() {
        for i in [
            0,
            7,
            42,
            9_999_999_999,
            10_000_000_000,
            123_456_789_012,
            u64::MAX,
        ] {
            assert_eq!(device_id(i).as_str(), format!("dev-{i:010}"));
        }
    }
}
