//! The simulated world: devices, the server and the broadcast, run on one queue of timed
//! work. Between them sits the fault model ([`Faults`]): every message crosses a channel
//! that may lose, duplicate or delay it; every device step may be cut by a power loss or
//! followed by a reboot; the server may crash, fail an append or restart mid-dispatch. With
//! [`Faults::none`] every message arrives at once and the run is the best case.

use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap, HashMap, HashSet};

use super::server::SimServer;
use crate::alert::SyncHeader;
use crate::decider::Decider;
use crate::device::{Device, DeviceCommand, DeviceError, DeviceEvent, DeviceState, Phase};
use crate::host::AlertIngest;
use crate::host::{Ingest, RuntimeError};
use crate::model::{DeviceId, Duration, Timestamp, ValidCampaign};
use crate::payload::{PayloadLimits, ServerKey, TrustedKeys, build_payload, open_payload};
use crate::report::ApplyResult;
use crate::server::{CareOrder, CaseStatus, FallbackDue, ServerCommand, ServerEvent};
use crate::store::{Persist, StreamId};
use crate::wire::{derive_device_key, encode_report};

use super::device_log::DeviceLog;
use super::devices::{Met, Quiet, Steps, count_sampled, meet, provision, refused};
use super::fate::*;
use super::faults::{Faults, Violation};
use super::*;

/// Timed work in the simulation, ordered by time then sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Work {
    /// A device may have something to do: apply, evaluate, send or resend a report, apply
    /// care (after a power cut).
    Report(u64),
    /// A device that missed the broadcast of this revision checks in (stale once a newer
    /// revision was broadcast).
    CheckIn(u64, u32),
    /// The campaign is revised and broadcast again.
    Revise,
    /// The server wakes (care due, settlement).
    ServerWake,
    /// A message reaches the other side (its id in `Sim::messages`).
    Arrive(u64),
    /// An operator pauses care.
    Pause,
    /// The operator resumes care.
    Resume,
}

/// A message on the interaction channel.
#[derive(Debug, Clone)]
pub(super) enum Msg {
    /// A device's report, as wire bytes, to the server.
    Report {
        i: u64,
        attempt: u32,
        bytes: Vec<u8>,
    },
    /// A device's report as a DM message of one Generic Alert, sent in its own DM session.
    Alert { i: u64, attempt: u32, xml: String },
    /// The server's DM status for a report, to the device.
    Answer { i: u64, attempt: u32, status: u16 },
    /// A care order, to the device.
    Care { order: CareOrder },
    /// A care outcome (the device's verdict), to the server.
    Outcome { i: u64, attempt: u32, success: bool },
}

/// How a device step went.
#[derive(Debug)]
pub(super) enum Step {
    /// Done and durable.
    Done,
    /// Cut by a power loss before its events were flushed: it did not happen.
    Cut,
    /// The decider refused it.
    Refused(DeviceError),
}

/// Most devices per thread and per round of the parallel device phase (a small fleet gets
/// smaller rounds, at least eight per thread).
const CHUNK: u64 = 16_384;

/// The DM server's address in the SyncHdr of a simulated device's alerts.
const SERVER_URI: &str = "https://dm.example.invalid/devcare";

/// How long a device takes to come back after a power cut.
const RESTART: Duration = Duration::from_secs(30);

pub(super) struct Sim<'a, S, P, B> {
    pub(super) ctx: Ctx<'a>,
    pub(super) progress: P,
    /// Report keys are derived from this master secret (itself derived from the seed).
    pub(super) report_master: [u8; 32],
    pub(super) server: B,
    pub(super) sink: S,
    pub(super) queue: BinaryHeap<Reverse<(Timestamp, u64, Work)>>,
    pub(super) seq: u64,
    pub(super) devices: HashMap<u64, DeviceState>,
    pub(super) out: FleetOutcome,
    pub(super) last_activity: Timestamp,
    /// The one pending server wake.
    pub(super) wake_at: Option<Timestamp>,
    /// Devices that missed the current revision's broadcast and were not reached since
    /// (ground truth).
    pub(super) missed_now: BTreeSet<u64>,
    /// Messages in flight, by id.
    pub(super) messages: HashMap<u64, Msg>,
    /// Message ids handed out (also the key of each message's fault draws).
    pub(super) next_msg: u64,
    /// Device steps taken (the key of each step's fault draws).
    pub(super) steps: u64,
    /// Server commands committed (the key of each crash draw).
    pub(super) server_cmds: u64,
    /// Work items processed (named by a violation).
    pub(super) work_done: u64,
    /// Each kept device's event log as stored records (the store's framing and CRC), when
    /// reboots or power cuts rebuild devices from it.
    pub(super) logs: HashMap<u64, Vec<Vec<u8>>>,
    /// Devices that truly failed, or lacked the payload, at some point (ground truth): the
    /// only ones care may be sent to.
    pub(super) ever_bad: HashSet<u64>,
    /// Devices already powered off once.
    pub(super) powered_off: HashSet<u64>,
    /// After a store failure the server retries no sooner than this.
    pub(super) server_backoff: Option<Timestamp>,
}

impl<S, P, B> Sim<'_, S, P, B>
where
    S: FnMut(&[ServerEvent]) -> Result<(), String>,
    P: FnMut(u64),
    B: SimServer,
{
    fn faults(&self) -> &Faults {
        &self.ctx.cfg.faults
    }

    /// A 32-byte secret derived from the seed (simulation keys only).
    pub(super) fn secret(&self, tag: u8) -> [u8; 32] {
        let mut out = [0u8; 32];
        for (k, chunk) in out.chunks_mut(8).enumerate() {
            chunk.copy_from_slice(&self.ctx.fate.u64(tag, u64::MAX, k as u64).to_le_bytes());
        }
        out
    }

    pub(super) fn push(&mut self, at: Timestamp, w: Work) {
        self.seq += 1;
        self.queue.push(Reverse((at, self.seq, w)));
    }

    fn inject(&mut self, kind: &'static str) {
        *self.out.faults.entry(kind).or_default() += 1;
    }

    fn violation(&self, invariant: &'static str, at: Timestamp, detail: String) -> SimError {
        SimError::Invariant(Violation {
            invariant,
            at,
            step: self.work_done,
            detail,
        })
    }

    /// Runs `cmd` on the server host; a refusal is a bug in the simulation.
    pub(super) fn server(
        &mut self,
        what: &'static str,
        cmd: ServerCommand,
    ) -> Result<Vec<ServerEvent>, SimError> {
        match self.server.handle(&cmd) {
            Ok(events) => self.committed(events),
            Err(RuntimeError::Refused(source)) => Err(SimError::Server { what, source }),
            Err(e) => Err(SimError::Sink(format!("{what}: {e}"))),
        }
    }

    /// The host appended `events` (durably): the world takes note, hands them to the sink,
    /// and the server process may crash now.
    pub(super) fn committed(
        &mut self,
        events: Vec<ServerEvent>,
    ) -> Result<Vec<ServerEvent>, SimError> {
        if events.is_empty() {
            return Ok(events);
        }
        (self.sink)(&events).map_err(SimError::Sink)?;
        for e in &events {
            if let ServerEvent::CareSucceeded { at, .. }
            | ServerEvent::DeviceEscalated { at, .. }
            | ServerEvent::CareAbandoned { at, .. } = e
            {
                self.out.last_resolved = Some(self.out.last_resolved.map_or(*at, |t| t.max(*at)));
            }
        }
        self.out.events_logged += events.len() as u64;
        self.server_cmds += 1;
        let crash = self.faults().server_crash;
        if crash > 0.0 && self.ctx.fate.unit(TAG_SERVER_CRASH, self.server_cmds, 0) < crash {
            self.inject("server-crash");
            self.restart_server()?;
        }
        Ok(events)
    }

    /// The server process restarts: a new host opens the store and replays the log, which
    /// must give the live state exactly.
    fn restart_server(&mut self) -> Result<(), SimError> {
        let at = self.last_activity;
        match self.server.restart() {
            Ok(true) => Ok(()),
            Ok(false) => Err(self.violation(
                "server-log-replays-to-live-state",
                at,
                format!(
                    "after {} events the replayed server differs from the live one",
                    self.out.events_logged
                ),
            )),
            Err(e) => Err(self.violation("server-log-replays-to-live-state", at, e.to_string())),
        }
    }

    /// Draws whether the store fails the host's next append (fault `store_error`) and arms
    /// it; [`Self::store_settled`] after the host call counts it if an append used it.
    fn arm_store(&mut self) {
        let p = self.faults().store_error;
        self.next_msg += 1;
        if p > 0.0 && self.ctx.fate.unit(TAG_STORE_ERROR, self.next_msg, 0) < p {
            self.server.fail_next_append();
        }
    }

    /// After a host call: an armed store error that no append used is cleared; one that
    /// was used is counted.
    fn store_settled(&mut self, failed: bool) {
        let unused = self.server.clear_fault();
        if failed && !unused {
            self.inject("store-error");
        }
    }

    /// One device step: the decider's events folded into `state`, appended to the
    /// device's log — unless a power cut loses them first (the device restarts from its
    /// log, which must hold exactly the state before the step); after it, maybe a reboot
    /// (the state rebuilt from the log must be the live state).
    pub(super) fn device_step(
        &mut self,
        i: u64,
        state: &mut DeviceState,
        cmd: DeviceCommand,
    ) -> Result<Step, SimError> {
        let logged = self.faults().logs_devices();
        self.steps += 1;
        let step = self.steps;
        if logged && self.ctx.fate.unit(TAG_POWER_CUT, i, step) < self.faults().power_cut {
            self.inject("power-cut");
            let replayed = self.device_from_log(i)?;
            if replayed != *state {
                return Err(self.violation(
                    "a-power-cut-loses-only-the-unflushed-step",
                    self.last_activity,
                    format!(
                        "device {}: its log does not rebuild its state",
                        device_id(i)
                    ),
                ));
            }
            return Ok(Step::Cut);
        }
        let stream = self.device_stream();
        let decided = DeviceLog {
            state,
            records: if logged {
                Some(self.logs.entry(i).or_default())
            } else {
                None
            },
            stream: &stream,
        }
        .step(&cmd)
        .map_err(|e| SimError::Sink(e.to_string()))?;
        let events = match decided {
            Ok(events) => events,
            Err(e) => return Ok(Step::Refused(e)),
        };
        self.out.device_events += events.len() as u64;
        if logged && self.ctx.fate.unit(TAG_REBOOT, i, step) < self.faults().reboot {
            self.inject("reboot");
            let replayed = self.device_from_log(i)?;
            if replayed != *state {
                return Err(self.violation(
                    "device-log-replays-to-live-state",
                    self.last_activity,
                    format!("device {} after {cmd:?}", device_id(i)),
                ));
            }
            *state = replayed;
        }
        Ok(Step::Done)
    }

    /// The stream every simulated device's log is kept under (each device has its own log).
    fn device_stream(&self) -> StreamId {
        crate::decider::Side::Device.stream(&self.ctx.campaign.id)
    }

    /// Device `i` rebuilt from its stored records: each decoded (checksum, format, kind
    /// checked) and folded.
    fn device_from_log(&self, i: u64) -> Result<DeviceState, SimError> {
        let stream = self.device_stream();
        let mut state = DeviceState::default();
        for (k, rec) in self
            .logs
            .get(&i)
            .map_or(&[][..], Vec::as_slice)
            .iter()
            .enumerate()
        {
            let e = DeviceEvent::from_record(&stream, k as u64 + 1, rec).map_err(|e| {
                self.violation(
                    "device-log-replays-to-live-state",
                    self.last_activity,
                    format!("device {}: {e}", device_id(i)),
                )
            })?;
            Device::evolve(&mut state, &e);
        }
        Ok(state)
    }

    /// A device step that must not be refused (a refusal is a bug in the simulation).
    pub(super) fn device(
        &mut self,
        i: u64,
        state: &mut DeviceState,
        what: &'static str,
        cmd: DeviceCommand,
    ) -> Result<bool, SimError> {
        match self.device_step(i, state, cmd)? {
            Step::Done => Ok(true),
            Step::Cut => Ok(false),
            Step::Refused(e) => Err(refused(i, what, &e)),
        }
    }

    /// Keeps device `i` (with its log) and wakes it when its state asks.
    fn keep(&mut self, i: u64, s: DeviceState) {
        if let Some(w) = s.next_wake() {
            let at = self.ctx.true_time(i, w);
            self.push(at, Work::Report(i));
        }
        self.devices.insert(i, s);
    }

    /// Forgets device `i`: it has nothing left to do.
    fn forget(&mut self, i: u64) {
        self.devices.remove(&i);
        self.logs.remove(&i);
    }

    /// The care results of device `i`'s attempt `attempt` over `n` settings: the first
    /// setting fails unless the attempt works (chance `care_success`).
    fn care_results(&self, i: u64, attempt: u32, n: usize) -> Vec<ApplyResult> {
        let works = self.ctx.fate.unit(TAG_CARE, i, u64::from(attempt)) < self.ctx.cfg.care_success;
        (0..n)
            .map(|k| {
                if works || k > 0 {
                    ApplyResult::OK
                } else {
                    ApplyResult::status(CARE_FAILURE)
                }
            })
            .collect()
    }

    pub(super) fn run(&mut self) -> Result<(), SimError> {
        let cfg = self.ctx.cfg;
        let t0 = cfg.campaign.issued_at;
        self.server(
            "create",
            ServerCommand::Create {
                campaign: Box::new(self.ctx.campaign.campaign().clone()),
                targeted: Some(cfg.devices),
                at: t0,
            },
        )?;
        if let Some(policy) = cfg.coverage_floor {
            self.server(
                "set-coverage-floor",
                ServerCommand::SetCoverageFloor { policy, at: t0 },
            )?;
        }
        self.broadcast(t0)?;
        if let Some(after) = cfg.revise_at {
            self.push(t0.plus(after), Work::Revise);
        }
        if self.faults().operator_pause {
            let mid = t0.plus(Duration(
                self.ctx.campaign.schedule.first_window_end().as_millis() / 2,
            ));
            self.push(mid, Work::Pause);
            self.push(mid.plus(Duration::from_mins(30)), Work::Resume);
        }
        // A world that has not settled a week after its deadline never will: a server that
        // keeps waking without progress, a device that never stops. Either is a bug.
        let horizon = self
            .ctx
            .campaign
            .report_deadline()
            .plus(Duration::from_hours(7 * 24));
        let mut same_instant = (Timestamp(0), 0u64);
        while let Some(Reverse((now, _, work))) = self.queue.pop() {
            self.work_done += 1;
            same_instant = if same_instant.0 == now {
                (now, same_instant.1 + 1)
            } else {
                (now, 0)
            };
            if now > horizon || same_instant.1 > 10 * self.ctx.cfg.devices + 1_000_000 {
                return Err(self.violation(
                    "the-run-ends",
                    now,
                    format!("still busy ({work:?}) past the deadline's week or at one instant"),
                ));
            }
            match work {
                Work::Report(i) => self.drive(i, now)?,
                Work::CheckIn(i, revision) if revision == self.ctx.campaign.revision => {
                    // A device the fallback reached holds the revision; one still missing it
                    // states what it has.
                    let applied_revision = if self.missed_now.contains(&i) {
                        self.devices.get(&i).map_or(0, |s| s.applied_revision)
                    } else {
                        self.ctx.campaign.revision
                    };
                    let ev = self.server(
                        "check-in",
                        ServerCommand::CheckIn {
                            device: device_id(i),
                            groups: vec![],
                            applied_revision,
                            at: now,
                        },
                    )?;
                    if !ev.is_empty() {
                        self.last_activity = self.last_activity.max(now);
                        self.schedule_wake();
                    }
                }
                Work::CheckIn(..) => {}
                Work::Revise => self.revise(now)?,
                // Only the latest scheduled wake counts; earlier pushes are stale.
                Work::ServerWake if self.wake_at == Some(now) => {
                    self.wake_at = None;
                    self.server_wake(now)?;
                }
                Work::ServerWake => {}
                Work::Arrive(id) => {
                    if let Some(msg) = self.messages.remove(&id) {
                        self.arrive(msg, now)?;
                    }
                }
                Work::Pause => self.operator(ServerCommand::Pause { at: now }, now)?,
                Work::Resume => self.operator(ServerCommand::Resume { at: now }, now)?,
            }
        }
        self.check_end()
    }

    /// An operator's pause or resume (refused when it does not fit: nothing happens).
    fn operator(&mut self, cmd: ServerCommand, now: Timestamp) -> Result<(), SimError> {
        if let Ok(events) = self.server.handle(&cmd) {
            self.inject(match cmd {
                ServerCommand::Pause { .. } => "operator-pause",
                _ => "operator-resume",
            });
            self.committed(events)?;
            self.last_activity = self.last_activity.max(now);
            self.schedule_wake();
        }
        Ok(())
    }
    /// Revision N+1 replaces N on the server at `now` and is broadcast again.
    fn revise(&mut self, now: Timestamp) -> Result<(), SimError> {
        let mut next = self.ctx.campaign.campaign().clone();
        next.revision += 1;
        next.issued_at = now;
        let salt = self.secret(TAG_SALT);
        next.salt.copy_from_slice(&salt[..16]);
        self.server(
            "revise",
            ServerCommand::Revise {
                campaign: Box::new(next.clone()),
                targeted: Some(self.ctx.cfg.devices),
                at: now,
            },
        )?;
        self.ctx.campaign = ValidCampaign::new(next, &crate::Limits::DEFAULT)
            .map_err(|e| SimError::Config(format!("revision: {e}")))?;
        self.ctx.round += 1;
        self.out.failed = 0;
        self.out.missed = 0;
        self.out.sampled = 0;
        self.out.fallback = FallbackOutcome::default();
        self.missed_now.clear();
        self.last_activity = self.last_activity.max(now);
        self.broadcast(now)
    }

    /// Signs the current revision, marks it broadcast at `t`, and delivers it: every device
    /// that hears it applies and evaluates at once; only the exceptional and the sampled keep
    /// state and queue a report; the others that missed it check in later.
    fn broadcast(&mut self, t: Timestamp) -> Result<(), SimError> {
        let cfg = self.ctx.cfg;
        let c = self.ctx.campaign.clone();
        // The real payload: signed once, verified once (every device receives the same
        // bytes), the verified campaign shared.
        let key = ServerKey::from_seed(&self.secret(TAG_SERVER_KEY));
        let mut trusted = TrustedKeys::new();
        trusted.add(key.public());
        let limits = PayloadLimits::default();
        let bytes = build_payload(&c, &key, Timestamp(u64::MAX), &limits)
            .map_err(|e| SimError::Config(format!("campaign payload: {e}")))?;
        let verified = open_payload(&bytes, &trusted, t, &limits)
            .map_err(|e| SimError::Config(format!("campaign payload: {e}")))?;
        if verified.campaign != *c {
            return Err(SimError::Config("the payload did not round-trip".into()));
        }
        // Every device takes on the verified campaign, shared (one allocation for the
        // fleet, as one decode serves every device that receives the same bytes).
        self.ctx.campaign = verified.campaign.clone();
        let c = verified.campaign;
        self.out.payload_bytes = bytes.len() as u64;
        // The server's directory is the whole fleet: it counts the sample exactly.
        let threads = cfg.threads.max(1);
        let sampled_targets = count_sampled(&c, 0..cfg.devices, threads);
        self.server(
            "size-sample",
            ServerCommand::SizeSample {
                sampled_targets,
                at: t,
            },
        )?;
        self.server("broadcast", ServerCommand::MarkBroadcast { at: t })?;
        self.schedule_wake();
        if self.faults().logs_devices() {
            // Device logs, power cuts and reboots: one device after another, each step
            // keyed by the world's step count.
            for i in 0..cfg.devices {
                if i % CHUNK == 0 {
                    (self.progress)(i);
                }
                match self.ctx.hears(i, t) {
                    Err(check_in) => self.missed_broadcast(i, check_in),
                    Ok(received_at) => self.deliver_payload(i, received_at)?,
                }
            }
        } else {
            // Nothing a device does here touches another: `threads` chunks at a time, the
            // results taken in device order.
            let ctx = self.ctx.clone();
            let chunk = (cfg.devices / (threads as u64 * 8)).clamp(1_024, CHUNK);
            let mut start = 0;
            while start < cfg.devices {
                (self.progress)(start);
                let end = cfg.devices.min(start + chunk * threads as u64);
                let devices = &mut self.devices;
                let mut held = |i: u64| {
                    if devices.is_empty() {
                        None
                    } else {
                        devices.remove(&i).map(Box::new)
                    }
                };
                let met = meet(&ctx, start..end, t, threads, &mut held);
                for (i, m) in (start..end).zip(met) {
                    match m? {
                        Met::Missed { check_in, held } => {
                            if let Some(s) = held {
                                self.devices.insert(i, *s);
                            }
                            self.missed_broadcast(i, check_in);
                        }
                        Met::Healthy { sampled, steps } => {
                            self.count_steps(&steps);
                            self.out.sampled += u64::from(sampled);
                        }
                        Met::Provisioned {
                            received_at,
                            state,
                            steps,
                        } => {
                            self.count_steps(&steps);
                            self.settle_payload(i, *state, true, received_at);
                        }
                    }
                }
                start = end;
            }
        }
        (self.progress)(cfg.devices);
        Ok(())
    }

    /// Device `i` missed the current revision's broadcast: it checks in at `check_in`.
    fn missed_broadcast(&mut self, i: u64, check_in: Timestamp) {
        self.out.missed += 1;
        self.missed_now.insert(i);
        self.ever_bad.insert(i);
        let revision = self.ctx.campaign.revision;
        self.push(check_in, Work::CheckIn(i, revision));
    }

    /// Adds the device steps taken off the world's thread to its counts.
    fn count_steps(&mut self, steps: &Quiet) {
        self.steps += steps.steps;
        self.out.device_events += steps.events;
    }

    /// Device `i` receives the current revision at `received_at` (broadcast or fallback
    /// unicast): it applies (with its injury), evaluates, and keeps state and queues a report
    /// only when it has one.
    fn deliver_payload(&mut self, i: u64, received_at: Timestamp) -> Result<(), SimError> {
        let before = self.devices.remove(&i).unwrap_or_default();
        let ctx = self.ctx.clone();
        let (s, holds) = provision(&ctx, self, i, before, received_at)?;
        self.settle_payload(i, s, holds, received_at);
        Ok(())
    }

    /// Device `i` provisioned the payload it received at `received_at` (`holds`: unless a
    /// power cut lost it): the world keeps its state and queues its report when it has one.
    fn settle_payload(&mut self, i: u64, s: DeviceState, holds: bool, received_at: Timestamp) {
        if !holds {
            // A power cut while receiving: the device never took the payload on; it is found
            // when it checks in, as if it had missed the broadcast.
            let at = received_at.plus(Duration(
                self.ctx.fate.u64(TAG_CHECKIN, i, self.ctx.round)
                    % self.ctx.cfg.checkin_interval.as_millis().max(1),
            ));
            self.missed_broadcast(i, at);
            if s.campaign.is_some() {
                self.keep(i, s);
            } else {
                self.forget(i);
            }
            return;
        }
        if matches!(s.phase, Phase::Applying | Phase::Evaluating) {
            // Cut mid-apply or mid-evaluation: it takes up where it was when it restarts.
            self.push(received_at.plus(RESTART), Work::Report(i));
            self.keep(i, s);
            return;
        }
        self.count_evaluation(i, &s);
        if s.report.is_some() {
            self.keep(i, s);
        } else {
            self.forget(i);
        }
    }

    /// Ground truth of an evaluation: failed, sampled.
    fn count_evaluation(&mut self, i: u64, s: &DeviceState) {
        if !s.findings.is_empty() {
            self.out.failed += 1;
            self.ever_bad.insert(i);
        }
        if s.sampled {
            self.out.sampled += 1;
        }
    }

    /// Device `i` does what is due at `now`: finish an apply a power cut interrupted,
    /// evaluate, resume care, send or resend its report (unless it is powered off).
    pub(super) fn drive(&mut self, i: u64, now: Timestamp) -> Result<(), SimError> {
        let Some(mut s) = self.devices.remove(&i) else {
            return Ok(());
        };
        let d = self.ctx.dev_time(i, now);
        if s.phase == Phase::ApplyingCare {
            return self.apply_care(i, s, now);
        }
        let evaluating = matches!(s.phase, Phase::Applying | Phase::Evaluating);
        if s.phase == Phase::Applying {
            let (results, _) = self.ctx.apply_results(i);
            let cmd = DeviceCommand::RecordApplied { results, at: d };
            if !self.device(i, &mut s, "record-applied", cmd)? {
                return self.restart(i, s, now);
            }
        }
        if !self.device(i, &mut s, "tick", DeviceCommand::Tick { now: d })? {
            return self.restart(i, s, now);
        }
        if evaluating && !matches!(s.phase, Phase::Applying | Phase::Evaluating) {
            self.count_evaluation(i, &s);
        }
        let Some(report) = s.due_report(d) else {
            let done = match s.phase {
                Phase::Healthy | Phase::Confirmed | Phase::Recovered => true,
                Phase::GaveUp => s.findings.is_empty(),
                _ => false,
            };
            if done {
                self.forget(i);
            } else {
                self.keep(i, s);
            }
            return Ok(());
        };
        let f = self.faults();
        if f.power_off > 0.0
            && !self.powered_off.contains(&i)
            && self.ctx.fate.unit(TAG_POWER_OFF, i, 0) < f.power_off
        {
            let off =
                Duration(1 + self.ctx.fate.u64(TAG_POWER_OFF, i, 1) % f.max_off.as_millis().max(1));
            self.powered_off.insert(i);
            self.inject("power-off");
            self.devices.insert(i, s);
            self.push(now.plus(off), Work::Report(i));
            return Ok(());
        }
        let attempt = report.attempt;
        let allowed = self.ctx.campaign.schedule.report.retry.attempts;
        if attempt - s.report_base > allowed {
            return Err(self.violation(
                "report-attempts-within-policy",
                now,
                format!(
                    "device {} sends attempt {attempt} of a cycle allowed {allowed}",
                    device_id(i)
                ),
            ));
        }
        let sent = DeviceCommand::MarkSent { attempt, at: d };
        if !self.device(i, &mut s, "mark-sent", sent)? {
            return self.restart(i, s, now);
        }
        self.out.reports_sent += 1;
        let minute = now.since(self.ctx.cfg.campaign.issued_at).as_millis() / 60_000;
        *self.out.reports_per_minute.entry(minute).or_default() += 1;
        // Over the wire as the device's transport sends it: binary, encoded and MAC'd under
        // the device's key; or a Generic Alert in a DM message of the device's own session,
        // rendered as the device host renders it.
        let msg = if self.ctx.uses_alerts(i) {
            let hdr = SyncHeader {
                session_id: format!("{}-{attempt}", self.steps),
                msg_id: 1,
                server_uri: SERVER_URI.into(),
            };
            let xml = crate::alert::render_syncml(&report, s.campaign.as_deref(), &hdr);
            self.out.report_bytes += xml.len() as u64;
            Msg::Alert { i, attempt, xml }
        } else {
            let key = derive_device_key(&self.report_master, &report.device);
            let bytes = encode_report(&report, &key).map_err(|e| SimError::Device {
                device: report.device.to_string(),
                what: "encode-report",
                reason: e.to_string(),
            })?;
            self.out.report_bytes += bytes.len() as u64;
            Msg::Report { i, attempt, bytes }
        };
        self.keep(i, s);
        self.transmit(msg, now)?;
        let forged = self.faults().forged;
        if forged > 0.0 && self.ctx.fate.unit(TAG_FORGED, i, self.steps) < forged {
            self.inject("forged-report");
            self.forge(&report, now)?;
        }
        Ok(())
    }

    /// A device cut by a power loss comes back after [`RESTART`] and carries on.
    fn restart(&mut self, i: u64, s: DeviceState, now: Timestamp) -> Result<(), SimError> {
        self.push(now.plus(RESTART), Work::Report(i));
        self.keep(i, s);
        Ok(())
    }

    /// A report under a key the server does not hold reaches the server's ingest: refused,
    /// nothing appended.
    fn forge(&mut self, report: &crate::report::Report, now: Timestamp) -> Result<(), SimError> {
        let key = derive_device_key(&self.secret(TAG_FORGED), &report.device);
        let bytes = encode_report(report, &key).map_err(|e| SimError::Config(e.to_string()))?;
        let before = self.server.appended();
        match self.server.ingest_report(&bytes, now) {
            Ok(Ingest::Rejected(e)) => {
                *self
                    .out
                    .forged_rejected
                    .entry(e.reason().to_string())
                    .or_default() += 1;
            }
            Ok(_) => {
                return Err(self.violation(
                    "forged-reports-change-nothing",
                    now,
                    format!("a forged report for {} was taken", report.device),
                ));
            }
            Err(e) => return Err(SimError::Sink(format!("forged report: {e}"))),
        }
        if self.server.appended() != before {
            return Err(self.violation(
                "refused-input-appends-nothing",
                now,
                "a forged report appended events".into(),
            ));
        }
        Ok(())
    }

    /// Sends `msg` over the interaction channel at `now`: maybe lost, maybe duplicated, each
    /// copy maybe delayed; a copy without delay arrives at once.
    fn transmit(&mut self, msg: Msg, now: Timestamp) -> Result<(), SimError> {
        // The configuration outlives the simulation: no copy of it per message.
        let cfg = self.ctx.cfg;
        let f = &cfg.faults;
        let (duplicate, max_delay) = (f.duplicate, f.max_delay.as_millis());
        self.next_msg += 1;
        let id = self.next_msg;
        let (loss, lost) = match &msg {
            Msg::Report { .. } | Msg::Alert { .. } => (f.report_loss, "report-lost"),
            Msg::Answer { .. } => (f.answer_loss, "answer-lost"),
            Msg::Care { .. } => (f.care_loss, "care-order-lost"),
            Msg::Outcome { .. } => (f.outcome_loss, "care-outcome-lost"),
        };
        if loss > 0.0 && self.ctx.fate.unit(TAG_MSG_LOSS, id, 0) < loss {
            self.inject(lost);
            return Ok(());
        }
        let copies = if duplicate > 0.0 && self.ctx.fate.unit(TAG_MSG_DUP, id, 0) < duplicate {
            self.inject("duplicated");
            2
        } else {
            1
        };
        for k in 0..copies {
            let delay = if max_delay == 0 {
                0
            } else {
                self.ctx.fate.u64(TAG_MSG_DELAY, id, k) % max_delay
            };
            if delay == 0 {
                self.arrive(msg.clone(), now)?;
            } else {
                self.next_msg += 1;
                let copy = self.next_msg;
                self.messages.insert(copy, msg.clone());
                self.push(now.plus(Duration(delay)), Work::Arrive(copy));
            }
        }
        Ok(())
    }

    fn arrive(&mut self, msg: Msg, now: Timestamp) -> Result<(), SimError> {
        match msg {
            Msg::Report { i, attempt, bytes } => self.report_arrives(i, attempt, &bytes, now),
            Msg::Alert { i, attempt, xml } => self.alert_arrives(i, attempt, &xml, now),
            Msg::Answer { i, attempt, status } => self.answer_arrives(i, attempt, status, now),
            Msg::Care { order } => self.care_arrives(order, now),
            Msg::Outcome {
                i,
                attempt,
                success,
            } => self.outcome_arrives(i, attempt, success, now),
        }
    }

    /// The server's report ingest takes the bytes; the device gets the host's answer.
    fn report_arrives(
        &mut self,
        i: u64,
        attempt: u32,
        bytes: &[u8],
        now: Timestamp,
    ) -> Result<(), SimError> {
        self.arm_store();
        let status = match self.server.ingest_report(bytes, now) {
            Ok(ingest) => {
                self.store_settled(false);
                self.took(ingest, now)?
            }
            Err(e) => {
                self.store_settled(true);
                e.dm_status()
            }
        };
        self.transmit(Msg::Answer { i, attempt, status }, now)
    }

    /// The server's alert ingest takes the DM message in device `i`'s session; the device
    /// gets the host's answer to its Alert.
    fn alert_arrives(
        &mut self,
        i: u64,
        attempt: u32,
        xml: &str,
        now: Timestamp,
    ) -> Result<(), SimError> {
        self.arm_store();
        let status = match self.server.ingest_alert(xml, &device_id(i), now) {
            Ok(Ok(outcomes)) => {
                self.store_settled(false);
                let answer = AlertIngest { outcomes };
                let status = answer.dm_status();
                for ingest in answer.outcomes {
                    self.took(ingest, now)?;
                }
                status
            }
            Ok(Err(e)) => {
                self.store_settled(false);
                *self
                    .out
                    .reports_rejected
                    .entry(e.reason().to_string())
                    .or_default() += 1;
                e.dm_status()
            }
            Err(e) => {
                self.store_settled(true);
                e.dm_status()
            }
        };
        self.transmit(Msg::Answer { i, attempt, status }, now)
    }

    /// What the server's ingest did with one report: counted; its DM status returned.
    fn took(&mut self, ingest: Ingest, now: Timestamp) -> Result<u16, SimError> {
        let status = ingest.dm_status();
        match ingest {
            Ingest::Accepted(events) => {
                self.committed(events)?;
                self.out.reports_accepted += 1;
                self.last_activity = self.last_activity.max(now);
                self.schedule_wake();
            }
            Ingest::Duplicate => {
                *self
                    .out
                    .reports_rejected
                    .entry("duplicate".into())
                    .or_default() += 1;
            }
            Ingest::Rejected(e) => {
                *self
                    .out
                    .reports_rejected
                    .entry(e.reason().to_string())
                    .or_default() += 1;
            }
        }
        Ok(status)
    }

    /// The device learns its report's fate: a 200 is an acknowledgement (stop resending);
    /// anything else leaves it resending until its policy gives up.
    fn answer_arrives(
        &mut self,
        i: u64,
        attempt: u32,
        status: u16,
        now: Timestamp,
    ) -> Result<(), SimError> {
        let answer = crate::rules::report_answer(status);
        let definitive = answer == crate::rules::ReportAnswer::RefusedForGood;
        if answer == crate::rules::ReportAnswer::SendAgain {
            return Ok(());
        }
        let Some(mut s) = self.devices.remove(&i) else {
            return Ok(());
        };
        let d = self.ctx.dev_time(i, now);
        let cmd = if definitive {
            self.out.reports_refused_for_good += 1;
            DeviceCommand::Refused {
                attempt,
                status,
                at: d,
            }
        } else {
            DeviceCommand::Acknowledge { attempt, at: d }
        };
        match self.device_step(i, &mut s, cmd)? {
            // An acknowledgement of an attempt the device does not know (a stale copy of an
            // older revision's): nothing to do.
            Step::Refused(_) | Step::Cut | Step::Done => {}
        }
        if s.phase == Phase::Confirmed {
            self.forget(i);
        } else {
            self.keep(i, s);
        }
        Ok(())
    }

    /// A care order reaches its device: care for a reporter, or the payload by unicast for
    /// a device that lacks the revision. The device's verdict goes back as the outcome.
    fn care_arrives(&mut self, order: CareOrder, now: Timestamp) -> Result<(), SimError> {
        let i = device_index(&order.device);
        if !self.ever_bad.contains(&i) {
            return Err(self.violation(
                "care-only-for-failed-or-behind-devices",
                now,
                format!(
                    "care attempt {} reached {}, which provisioned fine and holds the payload",
                    order.attempt, order.device
                ),
            ));
        }
        let d = self.ctx.dev_time(i, now);
        let attempt = order.attempt;
        let held = self.devices.remove(&i);
        let held_revision = held
            .as_ref()
            .and_then(|s| s.campaign.as_ref())
            .map(|c| c.revision);
        let holds_revision = held_revision == Some(order.revision);
        if order.revision != self.ctx.campaign.revision && !holds_revision {
            // An order of a revision the device does not hold and the server has replaced
            // (it arrived late): the device refuses it, nothing is answered.
            self.inject("stale-care-order");
            if let Some(s) = held {
                self.devices.insert(i, s);
            }
            return Ok(());
        }
        match held {
            Some(mut s) if holds_revision => {
                let cmd = DeviceCommand::ReceiveCare {
                    revision: order.revision,
                    attempt,
                    settings: order.settings.clone(),
                    at: d,
                };
                match self.device_step(i, &mut s, cmd)? {
                    Step::Done => {
                        if s.campaign.as_ref().map(|c| c.revision) != Some(order.revision) {
                            return Err(self.violation(
                                "no-care-of-a-revision-the-device-does-not-hold",
                                now,
                                format!(
                                    "{} took care of revision {}",
                                    order.device, order.revision
                                ),
                            ));
                        }
                        self.apply_care(i, s, now)
                    }
                    // No outcome: the server's care timeout handles it.
                    Step::Cut => self.restart(i, s, now),
                    Step::Refused(_) => {
                        // A copy of an order already applied, or an order for a device that
                        // is fine by now: it says so.
                        let fine = matches!(
                            s.phase,
                            Phase::Recovered | Phase::Healthy | Phase::Confirmed
                        );
                        self.keep(i, s);
                        if fine {
                            self.transmit(
                                Msg::Outcome {
                                    i,
                                    attempt,
                                    success: true,
                                },
                                now,
                            )?;
                        }
                        Ok(())
                    }
                }
            }
            held => {
                let mut s = held.unwrap_or_default();
                let results = self.care_results(i, attempt, order.settings.len());
                let receive = DeviceCommand::Receive {
                    campaign: self.ctx.campaign.clone(),
                    device: order.device.clone(),
                    groups: vec![],
                    at: d,
                };
                if !self.device(i, &mut s, "receive (unicast)", receive)? {
                    if s.campaign.is_some() {
                        self.keep(i, s);
                    }
                    return Ok(());
                }
                self.missed_now.remove(&i);
                let applied = DeviceCommand::RecordApplied {
                    results: full_results(&results, self.ctx.campaign.settings.len()),
                    at: d,
                };
                if !self.device(i, &mut s, "record-applied", applied)? {
                    return self.restart(i, s, now);
                }
                // The device evaluates the unicast payload as it would the broadcast.
                let evaluate_at = d.plus(self.ctx.campaign.schedule.evaluate_after);
                if !self.device(i, &mut s, "tick", DeviceCommand::Tick { now: evaluate_at })? {
                    return self.restart(i, s, now);
                }
                let success = s.findings.is_empty();
                if success {
                    self.forget(i);
                } else {
                    self.devices.insert(i, s);
                }
                self.transmit(
                    Msg::Outcome {
                        i,
                        attempt,
                        success,
                    },
                    now,
                )
            }
        }
    }

    /// Device `i` applies the care it received and sends its verdict.
    fn apply_care(&mut self, i: u64, mut s: DeviceState, now: Timestamp) -> Result<(), SimError> {
        let Some(care) = s.care.clone() else {
            self.keep(i, s);
            return Ok(());
        };
        let results = self.care_results(i, care.attempt, care.settings.len());
        let d = self.ctx.dev_time(i, now);
        let cmd = DeviceCommand::RecordCareApplied {
            attempt: care.attempt,
            results,
            at: d,
        };
        if !self.device(i, &mut s, "record-care-applied", cmd)? {
            return self.restart(i, s, now);
        }
        // The outcome the server is told is the device's own verdict.
        let success = s.phase == Phase::Recovered;
        if success {
            self.forget(i);
        } else {
            self.keep(i, s);
        }
        self.transmit(
            Msg::Outcome {
                i,
                attempt: care.attempt,
                success,
            },
            now,
        )
    }

    /// The server takes a care outcome (a copy of one it has, or one for an attempt it has
    /// moved past, is refused and changes nothing).
    fn outcome_arrives(
        &mut self,
        i: u64,
        attempt: u32,
        success: bool,
        now: Timestamp,
    ) -> Result<(), SimError> {
        let cmd = ServerCommand::RecordCareOutcome {
            device: device_id(i),
            attempt,
            success,
            at: now,
        };
        self.arm_store();
        match self.server.handle(&cmd) {
            Ok(events) => {
                self.store_settled(false);
                self.committed(events)?;
                self.last_activity = self.last_activity.max(now);
                self.schedule_wake();
            }
            // Lost with the failed append: the server's care timeout handles it.
            Err(RuntimeError::Store(_)) => self.store_settled(true),
            Err(_) => self.store_settled(false),
        }
        Ok(())
    }

    /// Runs what the coverage fallback asks at `now`: a rebroadcast to the devices that
    /// still lack the payload (each misses it again with the configured loss), or the batch
    /// of silent targets the unicast pace allows, walked in ascending id order.
    fn run_fallback(&mut self, now: Timestamp) -> Result<(), SimError> {
        if let Some(d) = self.server.campaign().fallback.degraded
            && self.out.fallback.degraded.is_none()
        {
            let t0 = self.ctx.campaign.issued_at;
            self.out.fallback.degraded = Some((d.reach, d.at.since(t0)));
            let lacking = self.missed_now.len() as f64;
            self.out.fallback.true_reach = Some(1.0 - lacking / self.ctx.cfg.devices as f64);
        }
        match self.server.campaign().fallback_due(now) {
            FallbackDue::Rebroadcast => {
                self.server("rebroadcast", ServerCommand::RecordRebroadcast { at: now })?;
                self.out.fallback.rebroadcast = true;
                let round = self.ctx.round | (1 << 32);
                for i in std::mem::take(&mut self.missed_now) {
                    if self.ctx.fate.unit(TAG_LOSS, i, round) < self.ctx.cfg.loss {
                        self.missed_now.insert(i);
                        continue;
                    }
                    self.out.fallback.reached_missed += 1;
                    let at = now.plus(Duration(self.ctx.fate.u64(TAG_RECEIVE, i, round) % 30_000));
                    self.deliver_payload(i, at)?;
                }
            }
            FallbackDue::Unicast { allowance, after } => {
                let mut i = after.as_ref().map_or(0, |d| device_index(d) + 1);
                let mut batch = Vec::new();
                while i < self.ctx.cfg.devices && (batch.len() as u64) < allowance {
                    let id = device_id(i);
                    if self.server.case(&id).is_none() {
                        batch.push(id);
                    }
                    i += 1;
                }
                let done = i >= self.ctx.cfg.devices;
                let sent = batch.len() as u64;
                let indices: Vec<u64> = batch.iter().map(device_index).collect();
                self.server(
                    "fallback-unicast",
                    ServerCommand::RecordFallbackUnicast {
                        devices: batch,
                        done,
                        at: now,
                    },
                )?;
                self.out.fallback.unicast_sent += sent;
                // The DM session with each device states the revision it holds (a check-in):
                // one that missed the broadcast opens a case and gets the payload as care,
                // with the care policy's attempts and timeouts; the others change nothing.
                for i in indices {
                    if !self.missed_now.contains(&i) {
                        continue;
                    }
                    self.out.fallback.reached_missed += 1;
                    let applied_revision = self.devices.get(&i).map_or(0, |s| s.applied_revision);
                    self.server(
                        "fallback check-in",
                        ServerCommand::CheckIn {
                            device: device_id(i),
                            groups: vec![],
                            applied_revision,
                            at: now,
                        },
                    )?;
                }
            }
            FallbackDue::Nothing | FallbackDue::WaitUntil { .. } => return Ok(()),
        }
        self.out.fallback.finished_after = Some(now.since(self.ctx.campaign.issued_at));
        self.last_activity = self.last_activity.max(now);
        Ok(())
    }

    /// Keeps exactly one server wake pending, at the server's next wake time (not before a
    /// store failure's back-off).
    pub(super) fn schedule_wake(&mut self) {
        if let Some(t) = self.server.next_wake() {
            let t = self.server_backoff.map_or(t, |b| t.max(b));
            if self.wake_at.is_none_or(|w| t < w) {
                self.wake_at = Some(t);
                self.push(t, Work::ServerWake);
            }
        }
    }

    pub(super) fn server_wake(&mut self, now: Timestamp) -> Result<(), SimError> {
        let settled = self.server.campaign().settled_at.is_some();
        self.arm_store();
        let tick = match self.server.handle(&ServerCommand::Tick { now }) {
            Ok(events) => events,
            Err(e) => return self.server_failed("tick", e, now),
        };
        self.store_settled(false);
        let ev = self.committed(tick)?;
        if !ev.is_empty() && !settled {
            self.last_activity = self.last_activity.max(now);
        }
        for order in self.server.due_care(now, usize::MAX) {
            let attempt = order.attempt;
            let allowed = self.ctx.campaign.schedule.care.attempts;
            if attempt > allowed {
                return Err(self.violation(
                    "care-attempts-within-policy",
                    now,
                    format!("{} gets care attempt {attempt} of {allowed}", order.device),
                ));
            }
            let cmd = ServerCommand::DispatchCare {
                device: order.device.clone(),
                attempt,
                at: now,
            };
            self.arm_store();
            let events = match self.server.handle(&cmd) {
                Ok(events) => events,
                Err(e) => return self.server_failed("dispatch-care", e, now),
            };
            self.store_settled(false);
            self.committed(events)?;
            self.out.care_dispatched += 1;
            self.last_activity = self.last_activity.max(now);
            let p = self.faults().dispatch_crash;
            if p > 0.0 && self.ctx.fate.unit(TAG_DISPATCH_CRASH, self.server_cmds, 0) < p {
                // Recorded as dispatched, never sent: the care timeout finds it.
                self.inject("crash-mid-dispatch");
                self.restart_server()?;
                continue;
            }
            self.transmit(Msg::Care { order }, now)?;
        }
        self.server_backoff = None;
        self.run_fallback(now)?;
        self.schedule_wake();
        Ok(())
    }

    /// A server call of the wake failed: a store failure backs off; a refusal is a bug.
    fn server_failed(
        &mut self,
        what: &'static str,
        e: RuntimeError<crate::server::ServerError>,
        now: Timestamp,
    ) -> Result<(), SimError> {
        match e {
            RuntimeError::Store(_) => {
                self.store_settled(true);
                self.back_off(now)
            }
            RuntimeError::Refused(source) => {
                self.store_settled(false);
                Err(SimError::Server { what, source })
            }
            other => Err(SimError::Sink(format!("{what}: {other}"))),
        }
    }

    /// A store failure: the server tries again in a minute.
    fn back_off(&mut self, now: Timestamp) -> Result<(), SimError> {
        self.server_backoff = Some(now.plus(Duration::from_mins(1)));
        self.schedule_wake();
        Ok(())
    }

    /// The invariants checked when nothing is left to happen: nothing stuck, every failed
    /// device accounted for, every log replaying to its live state.
    fn check_end(&mut self) -> Result<(), SimError> {
        let now = self.last_activity;
        let st = self.server.campaign().stats();
        if st.in_care > 0 && !st.paused {
            let stuck: Vec<String> = self
                .server
                .cases()
                .filter(|(_, c)| c.in_care())
                .take(3)
                .map(|(d, c)| format!("{d} {:?}", c.status))
                .collect();
            return Err(self.violation(
                "none-stuck",
                now,
                format!(
                    "{} cases still in care, e.g. {}",
                    st.in_care,
                    stuck.join(", ")
                ),
            ));
        }
        let revision = self.ctx.campaign.revision;
        let mut ids: Vec<u64> = self.devices.keys().copied().collect();
        ids.sort_unstable();
        for i in ids {
            let s = &self.devices[&i];
            let current = s.campaign.as_ref().is_some_and(|c| c.revision == revision);
            if !current || s.findings.is_empty() || s.phase == Phase::Recovered {
                continue;
            }
            let case = self.server.case(&device_id(i)).map(|c| c.status);
            match (case, s.phase) {
                (
                    Some(CaseStatus::Escalated | CaseStatus::Abandoned | CaseStatus::Recovered),
                    _,
                ) => {}
                (None, Phase::GaveUp) => self.out.gave_up_reporting += 1,
                // Care paused (and not resumed) by the abort threshold: waiting is right.
                _ if st.paused => {}
                (case, phase) => {
                    return Err(self.violation(
                        "every-failed-device-ends-recovered-escalated-or-given-up",
                        now,
                        format!(
                            "{} is {} (report {:?}, next wake {:?}) with server case {case:?}",
                            device_id(i),
                            phase.name(),
                            s.report,
                            s.next_wake()
                        ),
                    ));
                }
            }
        }
        let mut ids: Vec<u64> = self.logs.keys().copied().collect();
        ids.sort_unstable();
        for i in &ids {
            if let Some(s) = self.devices.get(i)
                && self.device_from_log(*i)? != *s
            {
                return Err(self.violation(
                    "device-log-replays-to-live-state",
                    now,
                    format!("device {} at the end", device_id(*i)),
                ));
            }
        }
        if self.faults().logs_server() {
            self.restart_server()?;
        }
        Ok(())
    }
}

pub(super) fn full_results(care: &[ApplyResult], n: usize) -> Vec<ApplyResult> {
    let mut r = vec![ApplyResult::OK; n];
    for (slot, c) in r.iter_mut().zip(care) {
        *slot = *c;
    }
    r
}

pub(super) fn device_index(d: &DeviceId) -> u64 {
    d.as_str()
        .strip_prefix("dev-")
        .and_then(|s| s.parse().ok())
        .unwrap_or(u64::MAX)
}

impl<S, P, B> Steps for Sim<'_, S, P, B>
where
    S: FnMut(&[ServerEvent]) -> Result<(), String>,
    P: FnMut(u64),
    B: SimServer,
{
    fn device(
        &mut self,
        i: u64,
        state: &mut DeviceState,
        what: &'static str,
        cmd: DeviceCommand,
    ) -> Result<bool, SimError> {
        Sim::device(self, i, state, what, cmd)
    }
}
