//! A deterministic fleet simulation: one campaign, N devices, the real device and server
//! deciders, simulated time. Used by the `fleet` example, the end-to-end tests and the CLI.
//!
//! Every random choice (which device fails and how, which misses the broadcast, whether a
//! care attempt works) is SipHash-2-4 of the device index under a key derived from the
//! seed, so the same configuration gives the same outcome on every machine. Healthy devices
//! are folded and dropped at once: memory grows with failures, not with the fleet.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap};

use siphasher::sip::SipHasher24;

use crate::decider::Decider;
use crate::device::{Device, DeviceCommand, DeviceState};
use crate::model::{Campaign, DeviceId, Duration, Timestamp};
use crate::payload::{PayloadLimits, ServerKey, TrustedKeys, build_payload, open_payload};
use crate::report::{ApplyResult, Verify};
use crate::schedule::{Condition, is_success, uri_in_subtree};
use crate::server::{CampaignStats, Server, ServerCommand, ServerError, ServerEvent, ServerState};
use crate::stats::Coverage;
use crate::wire::{DEFAULT_MAX_REPORT_BYTES, decode_report, derive_device_key, encode_report};

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
}

impl FleetConfig {
    /// A configuration with the defaults: 2% failures, no loss, 90% care success, 24 h
    /// check-in interval, seed 1.
    pub fn new(campaign: Campaign, devices: u64) -> Self {
        FleetConfig {
            campaign,
            devices,
            fail_rate: 0.02,
            loss: 0.0,
            care_success: 0.9,
            checkin_interval: Duration::from_hours(24),
            seed: 1,
        }
    }
}

/// What happened.
#[derive(Debug, Clone, PartialEq)]
pub struct FleetOutcome {
    /// Fleet size.
    pub devices: u64,
    /// Devices whose provisioning failed (injected).
    pub failed: u64,
    /// Devices that missed the broadcast.
    pub missed: u64,
    /// Healthy devices picked as coverage probes.
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
    pub care_attempts: u64,
    /// The server's statistics at the end.
    pub stats: CampaignStats,
    /// Targets neither presumed/confirmed OK, recovered, escalated nor abandoned.
    pub unresolved: u64,
    /// Time from issue to the last care outcome or settlement.
    pub converged_after: Duration,
    /// Server events produced.
    pub events_logged: u64,
    /// Device events produced (all devices).
    pub device_events: u64,
    /// Size of the signed broadcast payload every device received.
    pub payload_bytes: u64,
    /// Bytes of all reports sent (wire format, MAC included).
    pub report_bytes: u64,
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
}

/// Per-device deterministic randomness.
#[derive(Debug, Clone)]
struct Fate(SipHasher24);

impl Fate {
    fn new(seed: u64) -> Self {
        let mut key = [0u8; 16];
        key[..8].copy_from_slice(&seed.to_le_bytes());
        key[8..].copy_from_slice(b"devcare!");
        Fate(SipHasher24::new_with_key(&key))
    }
    fn u64(&self, tag: u8, device: u64, extra: u64) -> u64 {
        let mut msg = [0u8; 17];
        msg[0] = tag;
        msg[1..9].copy_from_slice(&device.to_le_bytes());
        msg[9..].copy_from_slice(&extra.to_le_bytes());
        self.0.hash(&msg)
    }
    fn unit(&self, tag: u8, device: u64, extra: u64) -> f64 {
        (self.u64(tag, device, extra) >> 11) as f64 / (1u64 << 53) as f64
    }
}

const TAG_LOSS: u8 = 1;
const TAG_FAIL: u8 = 2;
const TAG_MODE: u8 = 3;
const TAG_CARE: u8 = 4;
const TAG_CHECKIN: u8 = 5;
const TAG_RECEIVE: u8 = 6;
const TAG_SERVER_KEY: u8 = 7;
const TAG_REPORT_MASTER: u8 = 8;

/// The simulated device id of index `i`.
pub fn device_id(i: u64) -> DeviceId {
    DeviceId::new(format!("dev-{i:010}")).expect("simulated ids are valid")
}

/// How a device's apply goes wrong.
#[derive(Debug, Clone, Copy)]
enum Injury {
    Status { index: usize, code: u16 },
    Mismatch { index: usize },
    Truncate { keep: usize },
    Late { after: Duration },
}

const FAILURE_CODES: [u16; 5] = [404, 405, 415, 420, 500];

fn injuries(c: &Campaign, r: u64) -> Vec<Injury> {
    let n = c.settings.len();
    let pick = |k: u64| (r.rotate_left(k as u32 * 7) % n as u64) as usize;
    let code = FAILURE_CODES[(r >> 40) as usize % FAILURE_CODES.len()];
    let mut out = Vec::new();
    for cond in &c.schedule.conditions {
        match cond {
            Condition::AnyFailed => out.push(Injury::Status {
                index: pick(1),
                code,
            }),
            Condition::SettingFailed { uri_prefix } => {
                if let Some(index) = c
                    .settings
                    .iter()
                    .position(|s| uri_in_subtree(&s.uri, uri_prefix))
                {
                    out.push(Injury::Status { index, code });
                }
            }
            Condition::StatusIn { codes } => {
                if !codes.is_empty() {
                    out.push(Injury::Status {
                        index: pick(2),
                        code: codes[(r >> 20) as usize % codes.len()],
                    });
                }
            }
            Condition::VerifyMismatch { uri } => {
                if let Some(index) = c.settings.iter().position(|s| &s.uri == uri) {
                    out.push(Injury::Mismatch { index });
                }
            }
            Condition::PayloadIncomplete => out.push(Injury::Truncate { keep: pick(3) }),
            Condition::NotAppliedWithin { within } => out.push(Injury::Late {
                after: within.plus(Duration::from_secs(1)),
            }),
        }
    }
    out
}

/// Timed work in the simulation, ordered by time then sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Work {
    /// A device's report is due.
    Report(u64),
    /// A missed device checks in.
    CheckIn(u64),
    /// The server wakes (care due, settlement).
    ServerWake,
}

struct Sim<'a, S, P> {
    cfg: &'a FleetConfig,
    progress: P,
    /// Report keys are derived from this master secret (itself derived from the seed).
    report_master: [u8; 32],
    fate: Fate,
    server: ServerState,
    sink: S,
    queue: BinaryHeap<Reverse<(Timestamp, u64, Work)>>,
    seq: u64,
    devices: HashMap<u64, DeviceState>,
    out: FleetOutcome,
    last_activity: Timestamp,
    /// The one pending server wake.
    wake_at: Option<Timestamp>,
}

impl<S, P> Sim<'_, S, P>
where
    S: FnMut(&[ServerEvent]) -> Result<(), String>,
    P: FnMut(u64),
{
    /// A 32-byte secret derived from the seed (simulation keys only).
    fn secret(&self, tag: u8) -> [u8; 32] {
        let mut out = [0u8; 32];
        for (k, chunk) in out.chunks_mut(8).enumerate() {
            chunk.copy_from_slice(&self.fate.u64(tag, u64::MAX, k as u64).to_le_bytes());
        }
        out
    }

    fn push(&mut self, at: Timestamp, w: Work) {
        self.seq += 1;
        self.queue.push(Reverse((at, self.seq, w)));
    }

    fn server(
        &mut self,
        what: &'static str,
        cmd: ServerCommand,
    ) -> Result<Vec<ServerEvent>, SimError> {
        let events = Server::decide(&self.server, &cmd)
            .map_err(|source| SimError::Server { what, source })?;
        self.commit_server(events)
    }

    fn commit_server(&mut self, events: Vec<ServerEvent>) -> Result<Vec<ServerEvent>, SimError> {
        if !events.is_empty() {
            (self.sink)(&events).map_err(SimError::Sink)?;
            for e in &events {
                Server::evolve(&mut self.server, e);
            }
            self.out.events_logged += events.len() as u64;
        }
        Ok(events)
    }

    fn device(
        &mut self,
        i: u64,
        state: &mut DeviceState,
        what: &'static str,
        cmd: DeviceCommand,
    ) -> Result<(), SimError> {
        let events = Device::handle(state, &cmd).map_err(|e| SimError::Device {
            device: device_id(i).to_string(),
            what,
            reason: e.to_string(),
        })?;
        self.out.device_events += events.len() as u64;
        Ok(())
    }

    /// Receive, apply (with the device's injury), evaluate. Returns the state.
    fn provision(
        &mut self,
        i: u64,
        received_at: Timestamp,
        injure: bool,
    ) -> Result<DeviceState, SimError> {
        let c = &self.cfg.campaign;
        let mut s = DeviceState::default();
        let id = device_id(i);
        self.device(
            i,
            &mut s,
            "receive",
            DeviceCommand::Receive {
                campaign: Box::new(c.clone()),
                device: id,
                groups: vec![],
                at: received_at,
            },
        )?;
        let mut results = vec![
            ApplyResult {
                status: 200,
                verify: Verify::Match
            };
            c.settings.len()
        ];
        let mut applied_at = received_at.plus(Duration::from_secs(2));
        if injure {
            let r = self.fate.u64(TAG_MODE, i, 0);
            let modes = injuries(c, r);
            let pick = modes.get((r % modes.len().max(1) as u64) as usize).copied();
            match pick {
                Some(Injury::Status { index, code }) => results[index].status = code,
                Some(Injury::Mismatch { index }) => results[index].verify = Verify::Mismatch,
                Some(Injury::Truncate { keep }) => results.truncate(keep),
                Some(Injury::Late { after }) => applied_at = received_at.plus(after),
                None => {}
            }
        }
        let evaluate_at = received_at.plus(c.schedule.evaluate_after);
        if applied_at < evaluate_at {
            self.device(
                i,
                &mut s,
                "record-applied",
                DeviceCommand::RecordApplied {
                    results,
                    at: applied_at,
                },
            )?;
        }
        self.device(i, &mut s, "tick", DeviceCommand::Tick { now: evaluate_at })?;
        Ok(s)
    }

    fn run(&mut self) -> Result<(), SimError> {
        let cfg = self.cfg;
        let c = &cfg.campaign;
        let t0 = c.issued_at;
        self.server(
            "create",
            ServerCommand::Create {
                campaign: Box::new(c.clone()),
                targeted: Some(cfg.devices),
                at: t0,
            },
        )?;
        // The real payload: signed once, verified once (every device receives the same
        // bytes), the verified campaign shared.
        let key = ServerKey::from_seed(&self.secret(TAG_SERVER_KEY));
        let mut trusted = TrustedKeys::new();
        trusted.add(key.public());
        let limits = PayloadLimits::default();
        let bytes = build_payload(c, &key, Timestamp(u64::MAX), &limits)
            .map_err(|e| SimError::Config(format!("campaign payload: {e}")))?;
        let verified = open_payload(&bytes, &trusted, t0, &limits)
            .map_err(|e| SimError::Config(format!("campaign payload: {e}")))?;
        if verified.campaign != *c {
            return Err(SimError::Config("the payload did not round-trip".into()));
        }
        self.out.payload_bytes = bytes.len() as u64;
        self.server("broadcast", ServerCommand::MarkBroadcast { at: t0 })?;
        self.schedule_wake();

        // Broadcast: every device that hears it applies and evaluates at once; only the
        // exceptional and the sampled keep state and queue a report.
        for i in 0..cfg.devices {
            if i % 16_384 == 0 {
                (self.progress)(i);
            }
            if self.fate.unit(TAG_LOSS, i, 0) < cfg.loss {
                self.out.missed += 1;
                let at = t0.plus(Duration(
                    self.fate.u64(TAG_CHECKIN, i, 0) % cfg.checkin_interval.as_millis().max(1),
                ));
                self.push(at, Work::CheckIn(i));
                continue;
            }
            let injure = self.fate.unit(TAG_FAIL, i, 0) < cfg.fail_rate;
            let received_at = t0.plus(Duration(self.fate.u64(TAG_RECEIVE, i, 0) % 30_000));
            let s = self.provision(i, received_at, injure)?;
            if !s.findings.is_empty() {
                self.out.failed += 1;
            }
            if s.sampled {
                self.out.sampled += 1;
            }
            if let Some(r) = s.report {
                self.push(r.due, Work::Report(i));
                self.devices.insert(i, s);
            }
        }

        (self.progress)(cfg.devices);
        while let Some(Reverse((now, _, work))) = self.queue.pop() {
            match work {
                Work::Report(i) => self.deliver_report(i, now)?,
                Work::CheckIn(i) => {
                    let ev = self.server(
                        "check-in",
                        ServerCommand::CheckIn {
                            device: device_id(i),
                            groups: vec![],
                            applied_revision: 0,
                            at: now,
                        },
                    )?;
                    if !ev.is_empty() {
                        self.last_activity = self.last_activity.max(now);
                        self.schedule_wake();
                    }
                }
                // Only the latest scheduled wake counts; earlier pushes are stale.
                Work::ServerWake if self.wake_at == Some(now) => {
                    self.wake_at = None;
                    self.server_wake(now)?;
                }
                Work::ServerWake => {}
            }
        }
        Ok(())
    }

    fn deliver_report(&mut self, i: u64, now: Timestamp) -> Result<(), SimError> {
        let Some(mut s) = self.devices.remove(&i) else {
            return Ok(());
        };
        let Some(report) = s.due_report(now) else {
            self.devices.insert(i, s);
            return Ok(());
        };
        let attempt = report.attempt;
        self.device(
            i,
            &mut s,
            "mark-sent",
            DeviceCommand::MarkSent { attempt, at: now },
        )?;
        self.out.reports_sent += 1;
        let minute = now.since(self.cfg.campaign.issued_at).as_millis() / 60_000;
        *self.out.reports_per_minute.entry(minute).or_default() += 1;
        let failure = report.kind.is_failure();
        // Over the wire: encoded and MAC'd by the device, authenticated and decoded by the
        // server.
        let key = derive_device_key(&self.report_master, &report.device);
        let bytes = encode_report(&report, &key).map_err(|e| SimError::Device {
            device: report.device.to_string(),
            what: "encode-report",
            reason: e.to_string(),
        })?;
        self.out.report_bytes += bytes.len() as u64;
        let master = self.report_master;
        let report = match decode_report(&bytes, DEFAULT_MAX_REPORT_BYTES, |d| {
            Some(derive_device_key(&master, d))
        }) {
            Ok(r) => r,
            Err(e) => {
                *self
                    .out
                    .reports_rejected
                    .entry(e.reason().to_string())
                    .or_default() += 1;
                self.devices.insert(i, s);
                return Ok(());
            }
        };
        let cmd = ServerCommand::AcceptReport {
            report,
            groups: vec![],
            at: now,
        };
        match Server::decide(&self.server, &cmd) {
            Ok(events) => {
                self.commit_server(events)?;
                self.out.reports_accepted += 1;
                self.last_activity = self.last_activity.max(now);
            }
            Err(e) => {
                *self
                    .out
                    .reports_rejected
                    .entry(e.reason().to_string())
                    .or_default() += 1;
            }
        }
        self.device(
            i,
            &mut s,
            "acknowledge",
            DeviceCommand::Acknowledge { attempt, at: now },
        )?;
        if failure {
            self.devices.insert(i, s);
            self.schedule_wake();
        }
        Ok(())
    }

    /// Keeps exactly one server wake pending, at the server's next wake time.
    fn schedule_wake(&mut self) {
        if let Some(t) = self.server.next_wake()
            && self.wake_at.is_none_or(|w| t < w)
        {
            self.wake_at = Some(t);
            self.push(t, Work::ServerWake);
        }
    }

    fn server_wake(&mut self, now: Timestamp) -> Result<(), SimError> {
        let settled = self.server.settled_at.is_some();
        let ev = self.server("tick", ServerCommand::Tick { now })?;
        if !ev.is_empty() && !settled {
            self.last_activity = self.last_activity.max(now);
        }
        for order in self.server.due_care(now, usize::MAX) {
            let i = device_index(&order.device);
            let attempt = order.attempt;
            self.server(
                "dispatch-care",
                ServerCommand::DispatchCare {
                    device: order.device.clone(),
                    attempt,
                    at: now,
                },
            )?;
            self.out.care_attempts += 1;
            let works = self.fate.unit(TAG_CARE, i, u64::from(attempt)) < self.cfg.care_success;
            let results: Vec<ApplyResult> = order
                .settings
                .iter()
                .enumerate()
                .map(|(k, _)| ApplyResult::status(if works || k > 0 { 200 } else { 500 }))
                .collect();
            let success = results.iter().all(|r| is_success(r.status));
            // The device side: care for a reporter, or the payload by unicast for a device
            // that missed the broadcast.
            match self.devices.remove(&i) {
                Some(mut s) => {
                    self.device(
                        i,
                        &mut s,
                        "receive-care",
                        DeviceCommand::ReceiveCare {
                            attempt,
                            settings: order.settings.clone(),
                            at: now,
                        },
                    )?;
                    self.device(
                        i,
                        &mut s,
                        "record-care-applied",
                        DeviceCommand::RecordCareApplied {
                            attempt,
                            results,
                            at: now,
                        },
                    )?;
                    if !success {
                        self.devices.insert(i, s);
                    }
                }
                None => {
                    let mut s = DeviceState::default();
                    self.device(
                        i,
                        &mut s,
                        "receive (unicast)",
                        DeviceCommand::Receive {
                            campaign: Box::new(self.cfg.campaign.clone()),
                            device: order.device.clone(),
                            groups: vec![],
                            at: now,
                        },
                    )?;
                    self.device(
                        i,
                        &mut s,
                        "record-applied",
                        DeviceCommand::RecordApplied {
                            results: full_results(&results, self.cfg.campaign.settings.len()),
                            at: now,
                        },
                    )?;
                }
            }
            self.server(
                "record-care-outcome",
                ServerCommand::RecordCareOutcome {
                    device: order.device,
                    attempt,
                    success,
                    at: now,
                },
            )?;
            self.last_activity = self.last_activity.max(now);
        }
        self.schedule_wake();
        Ok(())
    }
}

fn full_results(care: &[ApplyResult], n: usize) -> Vec<ApplyResult> {
    let mut r = vec![ApplyResult::OK; n];
    for (slot, c) in r.iter_mut().zip(care) {
        *slot = *c;
    }
    r
}

fn device_index(d: &DeviceId) -> u64 {
    d.as_str()
        .strip_prefix("dev-")
        .and_then(|s| s.parse().ok())
        .unwrap_or(u64::MAX)
}

/// Runs the simulation; `sink` receives every batch of server events before it is folded
/// (an event store appends them there). Returns the outcome and the server's final state.
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
    let fate = Fate::new(cfg.seed);
    let mut sim = Sim {
        cfg,
        progress,
        report_master: [0; 32],
        fate,
        server: ServerState::default(),
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
            care_attempts: 0,
            stats: ServerState::default().stats(),
            unresolved: 0,
            converged_after: Duration::ZERO,
            events_logged: 0,
            device_events: 0,
            payload_bytes: 0,
            report_bytes: 0,
        },
        last_activity: cfg.campaign.issued_at,
        wake_at: None,
    };
    sim.report_master = sim.secret(TAG_REPORT_MASTER);
    sim.run()?;
    let stats = sim.server.stats();
    let mut out = sim.out;
    out.unresolved = stats.in_care;
    out.converged_after = sim.last_activity.since(cfg.campaign.issued_at);
    out.stats = stats;
    Ok((out, sim.server))
}
