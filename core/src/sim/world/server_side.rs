//! The server side of the world: every call on the server host, its crashes and store
//! errors, its wakes (care dispatch, settlement, the coverage fallback) and the operator.

use super::*;
use crate::host::RuntimeError;
use crate::model::{Duration, Timestamp, ValidCampaign};
use crate::server::{FallbackDue, PauseReason, ServerCommand, ServerEvent};
use crate::sim::fate::*;
use crate::sim::server::SimServer;
use crate::sim::*;

impl<S, P, B> Sim<'_, S, P, B>
where
    S: FnMut(&[ServerEvent]) -> Result<(), String>,
    P: FnMut(u64),
    B: SimServer,
{
    /// Runs `cmd` on the server host; a refusal is a bug in the simulation.
    pub(in crate::sim) fn server(
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
    pub(in crate::sim) fn committed(
        &mut self,
        events: Vec<ServerEvent>,
    ) -> Result<Vec<ServerEvent>, SimError> {
        if events.is_empty() {
            return Ok(events);
        }
        (self.sink)(&events).map_err(SimError::Sink)?;
        for e in &events {
            if let ServerEvent::CampaignPaused { reason, at } = e {
                self.breaker_tripped(reason, *at)?;
            }
            if let ServerEvent::GroupPaused { group, reason, at } = e {
                self.group_tripped(group, reason, *at)?;
            }
            // The first coverage check: passed (`CoverageChecked`) or not (`BroadcastDegraded`).
            if let ServerEvent::CoverageChecked { reach, .. }
            | ServerEvent::BroadcastDegraded { reach, .. } = e
                && self.out.first_check.is_none()
            {
                let devices = self.ctx.cfg.devices.max(1) as f64;
                let truth = 1.0 - self.missed_now.len() as f64 / devices;
                self.out.first_check = Some((*reach, truth));
            }
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

    /// The abort threshold paused care at `at`: a violation when the truth does not bear it
    /// out (`false-pause`: the share of targets whose provisioning truly failed is below
    /// the threshold); else the operator looks and lifts it an hour later.
    fn breaker_tripped(&mut self, reason: &PauseReason, at: Timestamp) -> Result<(), SimError> {
        self.out.breaker_pauses += 1;
        let truth = self.out.failed as f64 / self.ctx.cfg.devices.max(1) as f64;
        if truth < reason.threshold {
            return Err(self.violation(
                "false-pause",
                at,
                format!(
                    "paused on {} failures of {} expected (threshold {}), but only {:.4} of targets truly failed",
                    reason.failure_reports, reason.targeted, reason.threshold, truth
                ),
            ));
        }
        self.push(at.plus(Duration::from_hours(1)), Work::OverrideAbort);
        Ok(())
    }

    /// Group `group`'s own threshold paused its care: `false-pause` when the share of the
    /// group's devices that truly failed is below the threshold; else the operator lifts it
    /// an hour later.
    fn group_tripped(
        &mut self,
        group: &str,
        reason: &PauseReason,
        at: Timestamp,
    ) -> Result<(), SimError> {
        self.out.group_pauses.push(group.to_string());
        let g = group
            .strip_prefix('g')
            .and_then(|n| n.parse::<u32>().ok())
            .filter(|g| *g < self.ctx.cfg.groups);
        let Some(g) = g else {
            return Err(self.violation(
                "unknown-group-paused",
                at,
                format!("the server paused group {group:?}, which the world does not have"),
            ));
        };
        let size = self.ctx.cfg.group_size(g).max(1);
        let truth = self.group_failed[g as usize] as f64 / size as f64;
        if truth < reason.threshold {
            return Err(self.violation(
                "false-pause",
                at,
                format!(
                    "group {group} paused on {} failures of {} expected (threshold {}), but only {truth:.4} of its {size} devices truly failed",
                    reason.failure_reports, reason.targeted, reason.threshold
                ),
            ));
        }
        self.push(
            at.plus(Duration::from_hours(1)),
            Work::OverrideGroupAbort(g),
        );
        Ok(())
    }

    /// Puts every device in its group in the server's directory and gives each group the
    /// campaign's abort threshold as its own, when the fleet is split into groups.
    pub(in crate::sim) fn set_groups(&mut self, at: Timestamp) -> Result<(), SimError> {
        let cfg = self.ctx.cfg;
        if cfg.groups == 0 {
            return Ok(());
        }
        for i in 0..cfg.devices {
            let g = cfg.group_of(i).unwrap_or(0);
            self.server
                .set_groups(&crate::sim::device_id(i), vec![format!("g{g}")]);
        }
        let Some(abort) = self.ctx.campaign.schedule.abort else {
            return Ok(());
        };
        let breakers = (0..cfg.groups)
            .map(|g| crate::server::GroupBreaker {
                group: format!("g{g}"),
                targeted: cfg.group_size(g),
                failure_ratio: abort.failure_ratio,
                min_reports: abort.min_reports,
            })
            .collect();
        self.server(
            "set-group-breakers",
            ServerCommand::SetGroupBreakers { breakers, at },
        )?;
        Ok(())
    }

    /// The server process restarts: a new host opens the store and replays the log, which
    /// must give the live state exactly.
    pub(in crate::sim) fn restart_server(&mut self) -> Result<(), SimError> {
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
    pub(in crate::sim) fn arm_store(&mut self) {
        let p = self.faults().store_error;
        self.next_msg += 1;
        if p > 0.0 && self.ctx.fate.unit(TAG_STORE_ERROR, self.next_msg, 0) < p {
            self.server.fail_next_append();
        }
    }

    /// After a host call: an armed store error that no append used is cleared; one that
    /// was used is counted.
    pub(in crate::sim) fn store_settled(&mut self, failed: bool) {
        let unused = self.server.clear_fault();
        if failed && !unused {
            self.inject("store-error");
        }
    }

    /// An operator's pause or resume (refused when it does not fit: nothing happens).
    pub(in crate::sim) fn operator(
        &mut self,
        cmd: ServerCommand,
        now: Timestamp,
    ) -> Result<(), SimError> {
        if let Ok(events) = self.server.handle(&cmd) {
            self.inject(match cmd {
                ServerCommand::Pause { .. } => "operator-pause",
                ServerCommand::OverrideAbort { .. } => "operator-override-abort",
                ServerCommand::OverrideGroupAbort { .. } => "operator-override-group-abort",
                _ => "operator-resume",
            });
            self.committed(events)?;
            self.last_activity = self.last_activity.max(now);
            self.schedule_wake();
        }
        Ok(())
    }
    /// Revision N+1 replaces N on the server at `now` and is broadcast again.
    pub(in crate::sim) fn revise(&mut self, now: Timestamp) -> Result<(), SimError> {
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
        self.group_failed.iter_mut().for_each(|n| *n = 0);
        self.out.missed = 0;
        self.out.sampled = 0;
        self.out.fallback = FallbackOutcome::default();
        self.missed_now.clear();
        self.last_activity = self.last_activity.max(now);
        self.broadcast(now)
    }

    /// Runs what the coverage fallback asks at `now`: a rebroadcast to the devices that
    /// still lack the payload (each misses it again with the configured loss), or the batch
    /// of silent targets the unicast pace allows, walked in ascending id order.
    pub(in crate::sim) fn run_fallback(&mut self, now: Timestamp) -> Result<(), SimError> {
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
                let repair = matches!(
                    self.server.campaign().fallback.policy.map(|p| p.fallback),
                    Some(crate::server::Fallback::Repair { .. })
                );
                let n = self.ctx.cfg.devices;
                // The fleet in the poll order: ascending ids, or for a repair ascending
                // (poll key, id) — each batch a random sample of the silent targets left.
                if repair && self.poll_order.len() as u64 != n {
                    let salt = self.ctx.campaign.salt;
                    let mut buf = [0u8; crate::sim::ID_BUF];
                    let mut keyed: Vec<(u64, u64)> = (0..n)
                        .map(|i| {
                            let id = crate::sim::device_id_bytes(i, &mut buf);
                            (crate::slot::poll_key(&salt, id), i)
                        })
                        .collect();
                    keyed.sort_unstable();
                    self.poll_order = keyed.into_iter().map(|(_, i)| i).collect();
                }
                let at_index = |k: u64| {
                    if repair {
                        self.poll_order[k as usize]
                    } else {
                        k
                    }
                };
                let mut k = match after.as_ref() {
                    None => 0,
                    Some(d) if repair => {
                        let key = crate::slot::poll_key(&self.ctx.campaign.salt, d.as_bytes());
                        let salt = self.ctx.campaign.salt;
                        let mut buf = [0u8; crate::sim::ID_BUF];
                        self.poll_order.partition_point(|&i| {
                            let id = crate::sim::device_id_bytes(i, &mut buf);
                            (crate::slot::poll_key(&salt, id), i) <= (key, device_index(d))
                        }) as u64
                    }
                    Some(d) => device_index(d) + 1,
                };
                let mut batch = Vec::new();
                while k < n && (batch.len() as u64) < allowance {
                    let id = device_id(at_index(k));
                    if self.server.case(&id).is_none() {
                        batch.push(id);
                    }
                    k += 1;
                }
                let done = k >= n;
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
    pub(in crate::sim) fn schedule_wake(&mut self) {
        if let Some(t) = self.server.next_wake() {
            let t = self.server_backoff.map_or(t, |b| t.max(b));
            let t = t.max(self.now);
            if self.wake_at.is_none_or(|w| t < w) {
                self.wake_at = Some(self.push(t, Work::ServerWake));
            }
        }
    }

    /// Ground truth at settlement beside the server's bound: the targets presumed OK that
    /// missed the payload or failed unheard (no case at the server).
    fn record_settlement(&mut self) {
        let Some(bound) = self.server.campaign().presumed_bound else {
            return;
        };
        let mut wrong = 0u64;
        for &i in &self.ever_bad {
            // The case from the device's shard (a sharded server's campaign state holds none).
            if self.server.case(&device_id(i)).is_some() {
                continue;
            }
            let failed = self.devices.get(&i).is_some_and(|s| {
                !s.findings.is_empty() && s.phase != crate::device::Phase::Recovered
            });
            if self.missed_now.contains(&i) || failed {
                wrong += 1;
            }
        }
        self.out.settlement = Some((bound, wrong));
    }

    pub(in crate::sim) fn server_wake(&mut self, now: Timestamp) -> Result<(), SimError> {
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
        if !settled && self.server.campaign().settled_at.is_some() {
            self.record_settlement();
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
    pub(in crate::sim) fn server_failed(
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
    pub(in crate::sim) fn back_off(&mut self, now: Timestamp) -> Result<(), SimError> {
        self.server_backoff = Some(now.plus(Duration::from_mins(1)));
        self.schedule_wake();
        Ok(())
    }
}
