//! The simulated world: devices, the server and the broadcast, run on one queue of timed
//! work.

use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap, HashMap};

use crate::decider::Decider;
use crate::device::{Device, DeviceCommand, DeviceState, Phase};
use crate::model::{DeviceId, Duration, Timestamp};
use crate::payload::{PayloadLimits, ServerKey, TrustedKeys, build_payload, open_payload};
use crate::report::{ApplyResult, Verify};
use crate::server::{FallbackDue, Server, ServerCommand, ServerEvent, ServerState};
use crate::wire::{DEFAULT_MAX_REPORT_BYTES, decode_report, derive_device_key, encode_report};

use super::fate::*;
use super::*;

/// Timed work in the simulation, ordered by time then sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Work {
    /// A device's report is due.
    Report(u64),
    /// A device that missed the broadcast of this revision checks in (stale once a newer
    /// revision was broadcast).
    CheckIn(u64, u32),
    /// The campaign is revised and broadcast again.
    Revise,
    /// The server wakes (care due, settlement).
    ServerWake,
}

pub(super) struct Sim<'a, S, P> {
    pub(super) cfg: &'a FleetConfig,
    /// The campaign's current revision.
    pub(super) campaign: Campaign,
    /// Broadcasts so far, less one: the fate draws of the first broadcast use 0, a
    /// revision's draw afresh.
    pub(super) round: u64,
    pub(super) progress: P,
    /// Report keys are derived from this master secret (itself derived from the seed).
    pub(super) report_master: [u8; 32],
    pub(super) fate: Fate,
    pub(super) server: ServerState,
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
}

impl<S, P> Sim<'_, S, P>
where
    S: FnMut(&[ServerEvent]) -> Result<(), String>,
    P: FnMut(u64),
{
    /// A 32-byte secret derived from the seed (simulation keys only).
    pub(super) fn secret(&self, tag: u8) -> [u8; 32] {
        let mut out = [0u8; 32];
        for (k, chunk) in out.chunks_mut(8).enumerate() {
            chunk.copy_from_slice(&self.fate.u64(tag, u64::MAX, k as u64).to_le_bytes());
        }
        out
    }

    pub(super) fn push(&mut self, at: Timestamp, w: Work) {
        self.seq += 1;
        self.queue.push(Reverse((at, self.seq, w)));
    }

    pub(super) fn server(
        &mut self,
        what: &'static str,
        cmd: ServerCommand,
    ) -> Result<Vec<ServerEvent>, SimError> {
        let events = Server::decide(&self.server, &cmd)
            .map_err(|source| SimError::Server { what, source })?;
        self.commit_server(events)
    }

    pub(super) fn commit_server(
        &mut self,
        events: Vec<ServerEvent>,
    ) -> Result<Vec<ServerEvent>, SimError> {
        if !events.is_empty() {
            (self.sink)(&events).map_err(SimError::Sink)?;
            for e in &events {
                Server::evolve(&mut self.server, e);
            }
            self.out.events_logged += events.len() as u64;
        }
        Ok(events)
    }

    pub(super) fn device(
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
    pub(super) fn provision(
        &mut self,
        i: u64,
        mut s: DeviceState,
        received_at: Timestamp,
        injure: bool,
    ) -> Result<DeviceState, SimError> {
        let c = &self.campaign.clone();
        let round = self.round;
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
            let r = self.fate.u64(TAG_MODE, i, round);
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

    pub(super) fn run(&mut self) -> Result<(), SimError> {
        let cfg = self.cfg;
        let t0 = cfg.campaign.issued_at;
        self.server(
            "create",
            ServerCommand::Create {
                campaign: Box::new(self.campaign.clone()),
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
        while let Some(Reverse((now, _, work))) = self.queue.pop() {
            match work {
                Work::Report(i) => self.deliver_report(i, now)?,
                Work::CheckIn(i, revision) if revision == self.campaign.revision => {
                    // A device the fallback reached holds the revision; one still missing it
                    // states what it has.
                    let applied_revision = if self.missed_now.contains(&i) {
                        self.devices.get(&i).map_or(0, |s| s.applied_revision)
                    } else {
                        self.campaign.revision
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
            }
        }
        Ok(())
    }

    /// Revision N+1 replaces N on the server at `now` and is broadcast again.
    fn revise(&mut self, now: Timestamp) -> Result<(), SimError> {
        let mut next = self.campaign.clone();
        next.revision += 1;
        next.issued_at = now;
        let salt = self.secret(TAG_SALT);
        next.salt.copy_from_slice(&salt[..16]);
        self.server(
            "revise",
            ServerCommand::Revise {
                campaign: Box::new(next.clone()),
                targeted: Some(self.cfg.devices),
                at: now,
            },
        )?;
        self.campaign = next;
        self.round += 1;
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
        let cfg = self.cfg;
        let c = self.campaign.clone();
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
        if verified.campaign != c {
            return Err(SimError::Config("the payload did not round-trip".into()));
        }
        self.out.payload_bytes = bytes.len() as u64;
        // The server's directory is the whole fleet: it counts the sample exactly.
        let ppm = c.schedule.sample_success_ppm;
        let sampled_targets = (0..cfg.devices)
            .filter(|&i| crate::slot::sampled(&c.salt, &device_id(i), ppm))
            .count() as u64;
        self.server(
            "size-sample",
            ServerCommand::SizeSample {
                sampled_targets,
                at: t,
            },
        )?;
        self.server("broadcast", ServerCommand::MarkBroadcast { at: t })?;
        self.schedule_wake();
        for i in 0..cfg.devices {
            if i % 16_384 == 0 {
                (self.progress)(i);
            }
            let extra = self.round;
            if self.fate.unit(TAG_LOSS, i, extra) < cfg.loss {
                self.out.missed += 1;
                self.missed_now.insert(i);
                let at = t.plus(Duration(
                    self.fate.u64(TAG_CHECKIN, i, extra) % cfg.checkin_interval.as_millis().max(1),
                ));
                self.push(at, Work::CheckIn(i, c.revision));
                continue;
            }
            let received_at = t.plus(Duration(self.fate.u64(TAG_RECEIVE, i, extra) % 30_000));
            self.deliver_payload(i, received_at)?;
        }
        (self.progress)(cfg.devices);
        Ok(())
    }

    /// Device `i` receives the current revision at `received_at` (broadcast or fallback
    /// unicast): it applies (with its injury), evaluates, and keeps state and queues a report
    /// only when it has one.
    fn deliver_payload(&mut self, i: u64, received_at: Timestamp) -> Result<(), SimError> {
        let injure = self.fate.unit(TAG_FAIL, i, self.round) < self.cfg.fail_rate;
        let before = self.devices.remove(&i).unwrap_or_default();
        let s = self.provision(i, before, received_at, injure)?;
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
        Ok(())
    }

    /// Runs what the coverage fallback asks at `now`: a rebroadcast to the devices that
    /// still lack the payload (each misses it again with the configured loss), or the batch
    /// of silent targets the unicast pace allows, walked in ascending id order.
    fn run_fallback(&mut self, now: Timestamp) -> Result<(), SimError> {
        if let Some(d) = self.server.fallback.degraded
            && self.out.fallback.degraded.is_none()
        {
            let t0 = self.campaign.issued_at;
            self.out.fallback.degraded = Some((d.reach, d.at.since(t0)));
            let lacking = self.missed_now.len() as f64;
            self.out.fallback.true_reach = Some(1.0 - lacking / self.cfg.devices as f64);
        }
        match self.server.fallback_due(now) {
            FallbackDue::Rebroadcast => {
                self.server("rebroadcast", ServerCommand::RecordRebroadcast { at: now })?;
                self.out.fallback.rebroadcast = true;
                let round = self.round | (1 << 32);
                for i in std::mem::take(&mut self.missed_now) {
                    if self.fate.unit(TAG_LOSS, i, round) < self.cfg.loss {
                        self.missed_now.insert(i);
                        continue;
                    }
                    self.out.fallback.reached_missed += 1;
                    let at = now.plus(Duration(self.fate.u64(TAG_RECEIVE, i, round) % 30_000));
                    self.deliver_payload(i, at)?;
                }
            }
            FallbackDue::Unicast { allowance, after } => {
                let mut i = after.as_ref().map_or(0, |d| device_index(d) + 1);
                let mut batch = Vec::new();
                while i < self.cfg.devices && (batch.len() as u64) < allowance {
                    let id = device_id(i);
                    if !self.server.cases.contains_key(&id) {
                        batch.push(id);
                    }
                    i += 1;
                }
                let done = i >= self.cfg.devices;
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
        self.out.fallback.finished_after = Some(now.since(self.campaign.issued_at));
        self.last_activity = self.last_activity.max(now);
        Ok(())
    }

    pub(super) fn deliver_report(&mut self, i: u64, now: Timestamp) -> Result<(), SimError> {
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
    pub(super) fn schedule_wake(&mut self) {
        if let Some(t) = self.server.next_wake()
            && self.wake_at.is_none_or(|w| t < w)
        {
            self.wake_at = Some(t);
            self.push(t, Work::ServerWake);
        }
    }

    pub(super) fn server_wake(&mut self, now: Timestamp) -> Result<(), SimError> {
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
            self.out.care_dispatched += 1;
            let works = self.fate.unit(TAG_CARE, i, u64::from(attempt)) < self.cfg.care_success;
            let results: Vec<ApplyResult> = order
                .settings
                .iter()
                .enumerate()
                .map(|(k, _)| ApplyResult::status(if works || k > 0 { 200 } else { 500 }))
                .collect();
            // The outcome the server is told is the device's own verdict.
            let success;
            // The device side: care for a reporter, or the payload by unicast for a device
            // that missed the broadcast.
            let held = self.devices.remove(&i);
            let holds_revision = held
                .as_ref()
                .and_then(|s| s.campaign.as_ref())
                .is_some_and(|c| c.revision == order.revision);
            match held {
                Some(mut s) if holds_revision => {
                    self.device(
                        i,
                        &mut s,
                        "receive-care",
                        DeviceCommand::ReceiveCare {
                            revision: order.revision,
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
                    success = s.phase == Phase::Recovered;
                    if !success {
                        self.devices.insert(i, s);
                    }
                }
                held => {
                    let mut s = held.unwrap_or_default();
                    self.device(
                        i,
                        &mut s,
                        "receive (unicast)",
                        DeviceCommand::Receive {
                            campaign: Box::new(self.campaign.clone()),
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
                            results: full_results(&results, self.campaign.settings.len()),
                            at: now,
                        },
                    )?;
                    // The device evaluates the unicast payload as it would the broadcast.
                    let evaluate_at = now.plus(self.campaign.schedule.evaluate_after);
                    self.device(i, &mut s, "tick", DeviceCommand::Tick { now: evaluate_at })?;
                    self.missed_now.remove(&i);
                    success = s.findings.is_empty();
                    if !success {
                        self.devices.insert(i, s);
                    }
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
        self.run_fallback(now)?;
        self.schedule_wake();
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
