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
mod sweep;
mod world;

pub use faults::{FaultCounts, Faults, Violation};
pub use server::{OneStream, Sharded, SimServer, SimStore};
pub use sweep::{SweepOutcome, sweep, world_salt};

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
    /// Split the fleet into this many directory groups (`g0`, `g1`, …; device `i` in
    /// `g{i mod groups}`), each with the campaign's abort threshold as its own
    /// (`SetGroupBreakers`). 0: no groups.
    pub groups: u32,
    /// The share of group `g0`'s devices whose provisioning fails (one bad cohort), in
    /// place of `fail_rate`.
    pub bad_group_fail_rate: Option<f64>,
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
            groups: 0,
            bad_group_fail_rate: None,
        }
    }
}

impl FleetConfig {
    /// Device `i`'s group, when the fleet is split into groups.
    pub fn group_of(&self, i: u64) -> Option<u32> {
        (self.groups > 0).then(|| (i % u64::from(self.groups)) as u32)
    }

    /// The number of devices in group `g`.
    pub fn group_size(&self, g: u32) -> u64 {
        let n = u64::from(self.groups.max(1));
        self.devices / n + u64::from(u64::from(g) < self.devices % n)
    }

    /// The share of device `i`'s kind whose provisioning fails.
    pub fn fail_rate_of(&self, i: u64) -> f64 {
        match (self.group_of(i), self.bad_group_fail_rate) {
            (Some(0), Some(r)) => r,
            _ => self.fail_rate,
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
    /// Groups whose own threshold paused their care (each lifted by the simulated operator
    /// an hour later; a pause the group's truth does not bear out is `false-pause`).
    pub group_pauses: Vec<String>,
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
    if cfg.groups as usize > crate::server::MAX_BREAKER_GROUPS
        || u64::from(cfg.groups) > cfg.devices
    {
        return Err(SimError::Config(format!(
            "groups: {} is more than {} or more than the devices",
            cfg.groups,
            crate::server::MAX_BREAKER_GROUPS
        )));
    }
    if let Some(r) = cfg.bad_group_fail_rate
        && (!(0.0..=1.0).contains(&r) || cfg.groups == 0)
    {
        return Err(SimError::Config(
            "bad group fail rate: within 0..=1, and only with groups".into(),
        ));
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
            group_pauses: Vec::new(),
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
        group_failed: vec![0; cfg.groups as usize],
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
