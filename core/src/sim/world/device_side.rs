//! The device side of the world: the broadcast, each device's steps through the one loop
//! (with power cuts and reboots), its reports, and the care it receives.

use super::*;
use crate::alert::SyncHeader;
use crate::device::{DeviceCommand, DeviceState, Phase};
use crate::host::RuntimeError;
use crate::model::{Duration, Timestamp};
use crate::payload::{PayloadLimits, ServerKey, TrustedKeys, build_payload, open_payload};
use crate::server::{ServerCommand, ServerEvent};
use crate::sim::bare_device::BareDevice;
use crate::sim::devices::{Met, Quiet, count_sampled, meet, provision, refused};
use crate::sim::fate::*;
use crate::sim::server::SimServer;
use crate::sim::*;
use crate::wire::{derive_device_key, encode_report};

impl<S, P, B> Sim<'_, S, P, B>
where
    S: FnMut(&[ServerEvent]) -> Result<(), String>,
    P: FnMut(u64),
    B: SimServer,
{
    /// One device step. Under device faults, through the device's own host (the production
    /// device agent over its own store: decided, appended, flushed, folded) — unless a power
    /// cut loses it first (a new host opens the store, whose log must hold exactly the state
    /// before the step); after it, maybe a reboot (a new host must hold the live state).
    /// Without device faults, the same decider through the one loop, with no log.
    pub(in crate::sim) fn device_step(
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
        let events = if logged {
            // The device's own host over its own store: the code a handset runs.
            let id = self.ctx.campaign.id.clone();
            let host = match self.hosts.entry(i) {
                std::collections::hash_map::Entry::Occupied(h) => h.into_mut(),
                std::collections::hash_map::Entry::Vacant(slot) => slot.insert(
                    open_host(Arc::new(MemoryStore::new()), i, &self.report_master)
                        .map_err(|e| SimError::Sink(format!("device {}: {e}", device_id(i))))?,
                ),
            };
            // The host holds exactly the state the world last saw (compared in place).
            let holds = match host.state(&id) {
                Some(s) => s == state,
                None => *state == DeviceState::default(),
            };
            if !holds {
                return Err(self.violation(
                    "the-device-host-holds-the-live-state",
                    self.last_activity,
                    format!("device {} before {cmd:?}", device_id(i)),
                ));
            }
            let events = match host.handle(&id, &cmd) {
                Ok(events) => events,
                Err(RuntimeError::Refused(e)) => return Ok(Step::Refused(e)),
                Err(e) => return Err(SimError::Sink(format!("device {}: {e}", device_id(i)))),
            };
            *state = self.host_state(i);
            events
        } else {
            // No device faults: the same decider through the one loop, with no log to keep.
            let decided = BareDevice { state }
                .step(&cmd)
                .map_err(|e| SimError::Sink(e.to_string()))?;
            match decided {
                Ok(events) => events,
                Err(e) => return Ok(Step::Refused(e)),
            }
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

    /// The state device `i`'s host holds for the campaign (empty without a host).
    fn host_state(&self, i: u64) -> DeviceState {
        self.hosts
            .get(&i)
            .and_then(|h| h.state(&self.ctx.campaign.id))
            .cloned()
            .unwrap_or_default()
    }

    /// Device `i` restarted: a new host opens its store and replays the log (each record
    /// decoded: checksum, format, kind checked); returns the state it holds, and the new
    /// host replaces the old one.
    pub(in crate::sim) fn device_from_log(&mut self, i: u64) -> Result<DeviceState, SimError> {
        let Some(store) = self.hosts.get(&i).map(|h| h.store().clone()) else {
            return Ok(DeviceState::default());
        };
        let host = open_host(store, i, &self.report_master).map_err(|e| {
            self.violation(
                "device-log-replays-to-live-state",
                self.last_activity,
                format!("device {}: {e}", device_id(i)),
            )
        })?;
        self.hosts.insert(i, host);
        Ok(self.host_state(i))
    }

    /// A device step that must not be refused (a refusal is a bug in the simulation).
    pub(in crate::sim) fn device(
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
    pub(in crate::sim) fn keep(&mut self, i: u64, s: DeviceState) {
        if let Some(w) = s.next_wake() {
            let at = self.ctx.true_time(i, w);
            self.push(at, Work::Report(i));
        }
        self.devices.insert(i, s);
    }

    /// Forgets device `i`: it has nothing left to do.
    pub(in crate::sim) fn forget(&mut self, i: u64) {
        self.devices.remove(&i);
        self.hosts.remove(&i);
    }

    /// Signs the current revision, marks it broadcast at `t`, and delivers it: every device
    /// that hears it applies and evaluates at once; only the exceptional and the sampled keep
    /// state and queue a report; the others that missed it check in later.
    pub(in crate::sim) fn broadcast(&mut self, t: Timestamp) -> Result<(), SimError> {
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
        let profile = count_sampled(&c, 0..cfg.devices, threads);
        self.server(
            "profile-sample",
            ServerCommand::ProfileSample { profile, at: t },
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
        self.schedule_check_ins(t);
        (self.progress)(cfg.devices);
        Ok(())
    }

    /// Device `i` missed the current revision's broadcast: it checks in at `check_in`.
    pub(in crate::sim) fn missed_broadcast(&mut self, i: u64, check_in: Timestamp) {
        self.out.missed += 1;
        self.missed_now.insert(i);
        self.ever_bad.insert(i);
        let revision = self.ctx.campaign.revision;
        self.push(check_in, Work::CheckIn(i, revision));
    }

    /// Adds the device steps taken off the world's thread to its counts.
    pub(in crate::sim) fn count_steps(&mut self, steps: &Quiet) {
        self.steps += steps.steps;
        self.out.device_events += steps.events;
    }

    /// Device `i` receives the current revision at `received_at` (broadcast or fallback
    /// unicast): it applies (with its injury), evaluates, and keeps state and queues a report
    /// only when it has one.
    pub(in crate::sim) fn deliver_payload(
        &mut self,
        i: u64,
        received_at: Timestamp,
    ) -> Result<(), SimError> {
        let before = self.devices.remove(&i).unwrap_or_default();
        let ctx = self.ctx.clone();
        let (s, holds) = provision(&ctx, self, i, before, received_at)?;
        self.settle_payload(i, s, holds, received_at);
        Ok(())
    }

    /// Device `i` provisioned the payload it received at `received_at` (`holds`: unless a
    /// power cut lost it): the world keeps its state and queues its report when it has one.
    pub(in crate::sim) fn settle_payload(
        &mut self,
        i: u64,
        s: DeviceState,
        holds: bool,
        received_at: Timestamp,
    ) {
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
    pub(in crate::sim) fn count_evaluation(&mut self, i: u64, s: &DeviceState) {
        if !s.findings.is_empty() {
            self.out.failed += 1;
            if let Some(g) = self.ctx.cfg.group_of(i) {
                self.group_failed[g as usize] += 1;
            }
            self.ever_bad.insert(i);
        }
        if s.sampled {
            self.out.sampled += 1;
        }
    }

    /// Device `i` does what is due at `now`: finish an apply a power cut interrupted,
    /// evaluate, resume care, send or resend its report (unless it is powered off).
    pub(in crate::sim) fn drive(&mut self, i: u64, now: Timestamp) -> Result<(), SimError> {
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
        let msg = self.report_msg(i, &report, s.campaign.as_deref())?;
        self.keep(i, s);
        self.transmit(msg, now)?;
        let forged = self.faults().forged;
        if forged > 0.0 && self.ctx.fate.unit(TAG_FORGED, i, self.steps) < forged {
            self.inject("forged-report");
            self.forge(&report, now)?;
        }
        Ok(())
    }

    /// Device `i`'s `report` as its DM stack sends it in package 1 of its own session:
    /// rendered as the device host renders it (`DeviceHost::next_report_package`), XML or
    /// WBXML, Data as `chr` or `b64`, and for some devices after another Generic Alert (a
    /// firmware update's) that the server must hand back untouched.
    fn dm_package(
        &self,
        i: u64,
        report: &crate::report::Report,
        campaign: Option<&crate::model::Campaign>,
    ) -> Result<Vec<u8>, SimError> {
        use crate::alert::{DataFormat, Encoding};
        let stack = self.ctx.fate.u64(TAG_DM_STACK, i, 0);
        let hdr = SyncHeader {
            session_id: format!("{}-{}", self.steps, report.attempt),
            msg_id: 1,
            server_uri: SERVER_URI.into(),
        };
        let format = if stack & 2 == 0 {
            DataFormat::Chr
        } else {
            DataFormat::B64
        };
        let mut xml = crate::alert::render_syncml_as(report, campaign, &hdr, format);
        if stack & 4 != 0
            && let Some(at) = xml.find("  <Final/>")
        {
            xml.insert_str(at, FOREIGN_ALERT);
        }
        let encoding = if stack & 1 == 0 {
            Encoding::Xml
        } else {
            Encoding::Wbxml
        };
        encoding.encode(&xml).map_err(|e| SimError::Device {
            device: report.device.to_string(),
            what: "encode-package",
            reason: e.to_string(),
        })
    }

    /// Device `i`'s `report` over the wire as its transport sends it: binary, encoded and
    /// MAC'd under the device's key; or a Generic Alert in a DM message of the device's own
    /// session, rendered as the device host renders it.
    pub(in crate::sim) fn report_msg(
        &mut self,
        i: u64,
        report: &crate::report::Report,
        campaign: Option<&crate::model::Campaign>,
    ) -> Result<Msg, SimError> {
        let attempt = report.attempt;
        Ok(if self.ctx.uses_alerts(i) {
            let message = self.dm_package(i, report, campaign)?;
            self.out.report_bytes += message.len() as u64;
            Msg::Alert {
                i,
                attempt,
                message,
            }
        } else {
            let key = derive_device_key(&self.report_master, &report.device);
            let bytes = encode_report(report, &key).map_err(|e| SimError::Device {
                device: report.device.to_string(),
                what: "encode-report",
                reason: e.to_string(),
            })?;
            self.out.report_bytes += bytes.len() as u64;
            Msg::Report { i, attempt, bytes }
        })
    }

    /// Under `Faults::check_ins`, every device that took the broadcast at `t` checks in
    /// once, at a time spread over the check-in interval (those that missed it check in
    /// already).
    pub(in crate::sim) fn schedule_check_ins(&mut self, t: Timestamp) {
        if !self.faults().check_ins {
            return;
        }
        let revision = self.ctx.campaign.revision;
        let every = self.ctx.cfg.checkin_interval.as_millis().max(1);
        for i in 0..self.ctx.cfg.devices {
            if !self.missed_now.contains(&i) {
                let at = t.plus(Duration(
                    self.ctx.fate.u64(TAG_CHECKIN, i, self.ctx.round) % every,
                ));
                self.push(at, Work::CheckIn(i, revision));
            }
        }
    }

    /// Device `i` checks in at `now`: `Ok(true)` when the server should hear its check-in.
    /// Under `Faults::check_ins` the check-in may be lost (made again an interval later),
    /// and a device that gave up reporting a failure sends the report again instead (the
    /// server takes it as a report), checking in again while it is unacknowledged.
    pub(in crate::sim) fn check_in_session(
        &mut self,
        i: u64,
        now: Timestamp,
    ) -> Result<bool, SimError> {
        if !self.faults().check_ins {
            return Ok(true);
        }
        let again = now.plus(self.ctx.cfg.checkin_interval);
        let revision = self.ctx.campaign.revision;
        // Devices check in for ever; the world stops following them six days after the
        // deadline (it ends a week after it).
        let last = self
            .ctx
            .campaign
            .report_deadline()
            .plus(Duration::from_hours(6 * 24));
        let again_if = |sim: &mut Self| {
            if again <= last {
                sim.push(again, Work::CheckIn(i, revision));
            }
        };
        // The campaign is an `Arc`: cloned to let go of the device's state.
        let pending = self
            .devices
            .get(&i)
            .and_then(|s| Some((s.check_in_report()?, s.campaign.clone())));
        let Some((report, campaign)) = pending else {
            // A plain check-in: lost like a report, made again an interval later.
            if self.ctx.fate.unit(TAG_CHECKIN_LOSS, i, self.work_done) < self.faults().report_loss {
                self.inject("check-in-lost");
                again_if(self);
                return Ok(false);
            }
            return Ok(true);
        };
        // The session carries the report: its message is lost (or not) like any report's.
        self.inject("check-in-report");
        self.out.reports_sent += 1;
        let msg = self.report_msg(i, &report, campaign.as_deref())?;
        self.transmit(msg, now)?;
        again_if(self);
        Ok(false)
    }

    /// A device cut by a power loss comes back after [`RESTART`] and carries on.
    pub(in crate::sim) fn restart(
        &mut self,
        i: u64,
        s: DeviceState,
        now: Timestamp,
    ) -> Result<(), SimError> {
        self.push(now.plus(RESTART), Work::Report(i));
        self.keep(i, s);
        Ok(())
    }
}

/// Device `i`'s production host over `store`: its report key derived from the world's report
/// master; it trusts no signing key, since the world verifies the broadcast payload once and
/// hands every device the verified campaign.
fn open_host(
    store: Arc<MemoryStore>,
    i: u64,
    report_master: &[u8; 32],
) -> Result<DeviceHost<Arc<MemoryStore>>, crate::store::StoreError> {
    let device = device_id(i);
    let key = derive_device_key(report_master, &device);
    DeviceHost::on_store(store, device, vec![], TrustedKeys::new(), key)
}
