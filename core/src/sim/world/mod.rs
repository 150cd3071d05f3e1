//! The simulated world: devices, the server and the broadcast, run on one queue of timed
//! work. Between them sits the fault model ([`Faults`]): every message crosses a channel
//! that may lose, duplicate or delay it; every device step may be cut by a power loss or
//! followed by a reboot; the server may crash, fail an append or restart mid-dispatch. With
//! [`Faults::none`] every message arrives at once and the run is the best case.

use std::cmp::Reverse;
use std::sync::Arc;

use crate::host::DeviceHost;
use crate::store::MemoryStore;
use std::collections::{BTreeSet, BinaryHeap, HashMap, HashSet};

use super::server::SimServer;
use crate::device::{DeviceCommand, DeviceError, DeviceState};
use crate::model::{DeviceId, Duration, Timestamp};
use crate::report::ApplyResult;
use crate::server::{CareOrder, ServerCommand, ServerEvent};

use super::devices::Steps;
use super::faults::Faults;

mod care;
mod channel;
mod device_side;
mod invariants;
mod server_side;
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
    /// The operator, an hour after the abort threshold paused care, has looked and lifts
    /// the pause on purpose (`OverrideAbort`).
    OverrideAbort,
    /// The same for group `g{0}`'s own pause (`OverrideGroupAbort`).
    OverrideGroupAbort(u32),
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
    /// A device's report as a DM message (XML or WBXML) holding its Generic Alert, sent in
    /// its own DM session.
    Alert {
        i: u64,
        attempt: u32,
        message: Vec<u8>,
    },
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
/// The other alert some devices' package 1 carries beside devcare's: a firmware update's
/// Generic Alert (CmdID 2), which the server hands back to its host untouched.
const FOREIGN_ALERT: &str = "  <Alert>\n    <CmdID>2</CmdID>\n    <Data>1226</Data>\n    <Item>\n      \
    <Source><LocURI>./FUMO/Download</LocURI></Source>\n      <Meta>\n        \
    <Type xmlns=\"syncml:metinf\">org.openmobilealliance.dm.firmwareupdate.download</Type>\n        \
    <Format xmlns=\"syncml:metinf\">int</Format>\n        \
    <Mark xmlns=\"syncml:metinf\">warning</Mark>\n      </Meta>\n      <Data>0</Data>\n    </Item>\n  </Alert>\n";

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
    /// The world's time: that of the work being done. It never runs back: work is queued
    /// no earlier than it (`push`), and a popped item earlier than it is a violation.
    pub(super) now: Timestamp,
    /// The one pending server wake.
    pub(super) wake_at: Option<Timestamp>,
    /// Devices that missed the current revision's broadcast and were not reached since
    /// (ground truth).
    pub(super) missed_now: BTreeSet<u64>,
    /// The fleet's device indices in a repair's poll order (made when a repair first polls).
    pub(super) poll_order: Vec<u64>,
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
    /// Each kept device's host — the production device agent — over the device's own
    /// store, when reboots and power cuts rebuild devices from their logs: a power cut or a
    /// reboot drops the host and opens a new one on the same store.
    pub(super) hosts: HashMap<u64, DeviceHost<Arc<MemoryStore>>>,
    /// Devices that truly failed, or lacked the payload, at some point (ground truth): the
    /// only ones care may be sent to.
    pub(super) ever_bad: HashSet<u64>,
    /// Devices that truly failed in the current revision, per group (ground truth).
    pub(super) group_failed: Vec<u64>,
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
    pub(in crate::sim) fn faults(&self) -> &Faults {
        &self.ctx.cfg.faults
    }

    /// A 32-byte secret derived from the seed (simulation keys only).
    pub(super) fn secret(&self, tag: u8) -> [u8; 32] {
        self.ctx.fate.secret(tag)
    }

    /// Queues `w` at `at`, or now if `at` has passed (a device whose clock is behind asks
    /// for a wake the world has left behind); returns when it was queued.
    pub(super) fn push(&mut self, at: Timestamp, w: Work) -> Timestamp {
        let at = at.max(self.now);
        self.seq += 1;
        self.queue.push(Reverse((at, self.seq, w)));
        at
    }

    pub(in crate::sim) fn inject(&mut self, kind: &'static str) {
        *self.out.faults.entry(kind).or_default() += 1;
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
        self.set_groups(t0)?;
        if cfg.max_presumed_unknown.is_some() {
            self.server(
                "set-settlement-limit",
                ServerCommand::SetSettlementLimit {
                    max_presumed_unknown: cfg.max_presumed_unknown,
                    at: t0,
                },
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
            .plus(crate::server::MAX_SETTLEMENT_HOLD)
            .plus(Duration::from_hours(7 * 24));
        let mut same_instant = (Timestamp(0), 0u64);
        while let Some(Reverse((now, _, work))) = self.queue.pop() {
            self.work_done += 1;
            if now < self.now {
                return Err(self.violation(
                    "time-never-runs-back",
                    now,
                    format!("{work:?} at {now:?} after work at {:?}", self.now),
                ));
            }
            self.now = now;
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
                    if !self.check_in_session(i, now)? {
                        continue;
                    }
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
                Work::OverrideAbort => self.operator(
                    ServerCommand::OverrideAbort {
                        by: "simulated operator".into(),
                        why: "looked at the failures an hour after the pause".into(),
                        at: now,
                    },
                    now,
                )?,
                Work::OverrideGroupAbort(g) => self.operator(
                    ServerCommand::OverrideGroupAbort {
                        group: format!("g{g}"),
                        by: "simulated operator".into(),
                        why: "looked at the group's failures an hour after its pause".into(),
                        at: now,
                    },
                    now,
                )?,
            }
        }
        self.check_end()
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
