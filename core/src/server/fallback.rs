//! The coverage floor: what the server does when the broadcast's coverage interval lies
//! below it (`docs/design.md`, "Coverage fallback").
//!
//! The floor is server-side policy: devices never see it, so it is not in the payload. It is
//! set on a campaign by [`ServerCommand::SetCoverageFloor`](crate::server::ServerCommand)
//! and kept across revisions. The server checks the coverage interval twice per revision
//! ([`check_times`]): once every report of a device that received the broadcast is in
//! (including its retries; the probes then allow a decision), and at the report deadline.
//! When the interval's upper bound lies below the floor it appends
//! [`BroadcastDegraded`](crate::server::ServerEvent::BroadcastDegraded) and the host runs
//! the fallback: a rebroadcast, or a paced unicast poll of the silent targets it can
//! enumerate — `per_minute` devices, walked in ascending id order from a cursor the server
//! keeps (the server's state stays O(failures): it stores a count and the last id). Each
//! polled device states its revision in a check-in; those behind get the payload as care.

use serde::{Deserialize, Serialize};

use crate::model::{Campaign, DeviceId, Duration, Timestamp};
use crate::rules;
use crate::stats::Coverage;

use super::ServerState;

/// Most devices per minute a unicast fallback may be paced at.
pub const MAX_FALLBACK_PER_MINUTE: u32 = 1_000_000;

/// What the host does when the broadcast's coverage is below the floor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Fallback {
    /// Only record [`BroadcastDegraded`](crate::server::ServerEvent::BroadcastDegraded)
    /// (an operator decides).
    None,
    /// Broadcast the same payload once more.
    Rebroadcast,
    /// Open a unicast DM session with each target the server has heard nothing from, paced:
    /// the device states the revision it holds ([`ServerCommand::CheckIn`]); one that
    /// missed the broadcast opens a check-in-behind case and gets the payload as care.
    ///
    /// [`ServerCommand::CheckIn`]: crate::server::ServerCommand::CheckIn
    Unicast {
        /// Devices per minute (1 to [`MAX_FALLBACK_PER_MINUTE`]).
        per_minute: u32,
    },
    /// A repair proportionate to the damage (0.10; `docs/design.md`, "Repair"): poll a
    /// random sample of the silent targets first (the pilot, in
    /// [`poll_key`](crate::slot::poll_key) order), estimate the share of them lacking the
    /// payload with an interval, then rebroadcast when some surely lack it and a broadcast
    /// still fits before the deadline; else keep polling by unicast, paced, only while the
    /// sample says each device found costs at most [`REPAIR_SESSIONS_PER_FOUND`] sessions;
    /// else wait for check-ins.
    Repair {
        /// Devices per minute the polls are paced at (1 to [`MAX_FALLBACK_PER_MINUTE`]).
        per_minute: u32,
    },
}

/// Most DM sessions per device found a repair's unicast polling may cost: it keeps polling
/// only while the lower bound of the share found among the polled is at least the inverse.
pub const REPAIR_SESSIONS_PER_FOUND: u64 = 3;
/// Most silent targets a repair's pilot polls (at least [`REPAIR_PILOT_MIN`], and a
/// fiftieth of the silent targets in between).
pub const REPAIR_PILOT_MAX: u64 = 200;
/// Fewest silent targets a repair's pilot polls (all of them when fewer are silent).
pub const REPAIR_PILOT_MIN: u64 = 30;
/// How long a repair waits after a batch for the polled devices' answers before it judges
/// the sample.
pub const REPAIR_ANSWER_WAIT: Duration = Duration::from_mins(15);

impl Fallback {
    /// Short stable name: `none`, `rebroadcast`, `unicast`, `repair`.
    pub fn name(&self) -> &'static str {
        match self {
            Fallback::None => "none",
            Fallback::Rebroadcast => "rebroadcast",
            Fallback::Unicast { .. } => "unicast",
            Fallback::Repair { .. } => "repair",
        }
    }
}

/// A campaign's coverage floor and its fallback.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CoverageFloor {
    /// The least acceptable coverage (0 < floor ≤ 1).
    pub floor: f64,
    /// What runs when the interval's upper bound is below `floor`.
    pub fallback: Fallback,
}

impl CoverageFloor {
    /// Checks the floor and the pace; the error says which field and why.
    pub fn validate(&self) -> Result<(), String> {
        if !(self.floor > 0.0 && self.floor <= 1.0) {
            return Err(format!(
                "coverage floor {} is outside (0, 1]: a share of the targets",
                self.floor
            ));
        }
        if let Fallback::Unicast { per_minute } | Fallback::Repair { per_minute } = self.fallback
            && !(1..=MAX_FALLBACK_PER_MINUTE).contains(&per_minute)
        {
            return Err(format!(
                "unicast pace {per_minute} devices per minute is outside 1 to {MAX_FALLBACK_PER_MINUTE}"
            ));
        }
        Ok(())
    }
}

/// The fallback's progress in one revision (reset by a revision, but for the policy).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct FallbackState {
    /// The campaign's coverage floor, if one is set.
    pub policy: Option<CoverageFloor>,
    /// Coverage checks made in this revision (0, 1 or 2; see [`check_times`]).
    pub checks: u8,
    /// The check that found the broadcast degraded.
    pub degraded: Option<Degraded>,
    /// When the host rebroadcast the payload (policy `Rebroadcast`).
    pub rebroadcast_at: Option<Timestamp>,
    /// Devices sent the payload by unicast so far (policy `Unicast`).
    pub unicast_sent: u64,
    /// The highest device id sent so far: the next batch starts after it.
    pub unicast_cursor: Option<DeviceId>,
    /// When the last batch was recorded.
    pub unicast_last_at: Option<Timestamp>,
    /// The host's directory has no further silent target.
    pub unicast_done: bool,
    /// The silent targets when the degradation was found (the repair's pilot is sized on
    /// them).
    pub silent_at_degradation: u64,
}

/// The check that found the broadcast degraded.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Degraded {
    /// The broadcast's coverage interval then.
    pub coverage: Coverage,
    /// The reach interval then, whose upper bound was below the floor.
    pub reach: Coverage,
    /// When.
    pub at: Timestamp,
}

/// What the fallback asks of the host now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FallbackDue {
    /// Nothing (no floor, not degraded, policy `None`, or the fallback is done).
    Nothing,
    /// Broadcast the payload again, then record it (due while a broadcast now leaves its
    /// reports time before the deadline).
    Rebroadcast,
    /// Send the payload by unicast to up to `allowance` silent targets after `after` (in
    /// ascending id order; for a repair, in ascending `(poll_key, id)` order), then record
    /// them.
    Unicast {
        /// How many devices the pace allows now.
        allowance: u64,
        /// The cursor: only devices after this one.
        after: Option<DeviceId>,
    },
    /// The pace allows no device before `at`.
    WaitUntil {
        /// When the next batch is allowed.
        at: Timestamp,
    },
}

/// When a revision broadcast at `broadcast_at` has its coverage checked: once every report
/// and retry of a device that received the broadcast is in ([`rules::reports_end`]), and at
/// the report deadline; one time when the two coincide.
pub fn check_times(
    campaign: &Campaign,
    broadcast_at: Timestamp,
) -> impl Iterator<Item = Timestamp> {
    let deadline = campaign.report_deadline();
    let early = rules::reports_end(campaign, broadcast_at);
    (early < deadline)
        .then_some(early)
        .into_iter()
        .chain(std::iter::once(deadline))
}

/// The next coverage check still to make, if the campaign has a floor, sampling on and a
/// broadcast, and is not degraded yet.
pub(super) fn next_check(state: &ServerState) -> Option<Timestamp> {
    let f = &state.fallback;
    f.policy?;
    let c = state.campaign.as_ref()?;
    // No estimate without probes or targets (`ServerState::coverage` is `None` then).
    if f.degraded.is_some() || c.schedule.sample_success_ppm == 0 || state.targeted == 0 {
        return None;
    }
    check_times(c, state.broadcast_at?).nth(usize::from(f.checks))
}

/// How many checks are made by `at`.
pub(super) fn checks_by(state: &ServerState, at: Timestamp) -> u8 {
    let (Some(c), Some(b)) = (&state.campaign, state.broadcast_at) else {
        return 0;
    };
    check_times(c, b).filter(|t| *t <= at).count() as u8
}

/// The devices a unicast fallback at `per_minute` allows by `now`: `per_minute` for each
/// minute begun since the degradation, less those sent.
fn allowance(per_minute: u32, since: Timestamp, sent: u64, now: Timestamp) -> u64 {
    if now < since {
        return 0;
    }
    let minutes = now.since(since).as_millis() / 60_000 + 1;
    minutes
        .saturating_mul(u64::from(per_minute))
        .saturating_sub(sent)
}

/// What the fallback asks of the host at `now`.
pub(super) fn due(state: &ServerState, now: Timestamp) -> FallbackDue {
    let f = &state.fallback;
    let (Some(policy), Some(Degraded { at: since, .. })) = (f.policy, f.degraded) else {
        return FallbackDue::Nothing;
    };
    match policy.fallback {
        Fallback::None => FallbackDue::Nothing,
        Fallback::Rebroadcast if f.rebroadcast_at.is_none() && rebroadcast_fits(state, now) => {
            FallbackDue::Rebroadcast
        }
        Fallback::Rebroadcast => FallbackDue::Nothing,
        Fallback::Repair { per_minute } => repair_due(state, per_minute, since, now),
        Fallback::Unicast { .. } if f.unicast_done => FallbackDue::Nothing,
        Fallback::Unicast { per_minute } => paced_batch(f, per_minute, since, now, u64::MAX),
    }
}

/// The unicast batch the pace allows at `now` (at most `cap` devices), or when it next
/// allows one: the unicast fallback's and the repair's polls alike.
fn paced_batch(
    f: &FallbackState,
    per_minute: u32,
    since: Timestamp,
    now: Timestamp,
    cap: u64,
) -> FallbackDue {
    match allowance(per_minute, since, f.unicast_sent, now).min(cap) {
        0 => FallbackDue::WaitUntil {
            at: next_minute(per_minute, since, f.unicast_sent),
        },
        allowance => FallbackDue::Unicast {
            allowance,
            after: f.unicast_cursor.clone(),
        },
    }
}

/// How many silent targets a repair's pilot polls.
pub fn repair_pilot(silent: u64) -> u64 {
    (silent / 50)
        .clamp(REPAIR_PILOT_MIN, REPAIR_PILOT_MAX)
        .min(silent)
}

/// How many silent targets this repair's pilot polls: [`repair_pilot`] of the silent
/// targets — or none when the pilot cannot pay: no rebroadcast fits any more (the
/// degradation came too late) and even the top of the reach interval at the degradation
/// puts fewer than one in [`REPAIR_SESSIONS_PER_FOUND`] of the silent targets without the
/// payload, so no poll it could lead to would pay. Then the repair waits for check-ins.
pub fn repair_pilot_for(state: &ServerState) -> u64 {
    let f = &state.fallback;
    let Some(d) = f.degraded else {
        return 0;
    };
    let silent = f.silent_at_degradation;
    let missing_hi = (1.0 - d.reach.lo).max(0.0) * state.targeted as f64;
    let share_hi = if silent == 0 {
        0.0
    } else {
        missing_hi / silent as f64
    };
    if rebroadcast_fits(state, d.at) || share_hi * REPAIR_SESSIONS_PER_FOUND as f64 >= 1.0 {
        repair_pilot(silent)
    } else {
        0
    }
}

/// What a repair asks at `now`: the pilot first; once its answers had time to come, judge
/// the share found among the polled (`docs/design.md`, "Repair").
fn repair_due(
    state: &ServerState,
    per_minute: u32,
    since: Timestamp,
    now: Timestamp,
) -> FallbackDue {
    let f = &state.fallback;
    let paced = |cap: u64| paced_batch(f, per_minute, since, now, cap);
    let pilot = repair_pilot_for(state);
    if !f.unicast_done && f.unicast_sent < pilot {
        return paced(pilot - f.unicast_sent);
    }
    if let Some(last) = f.unicast_last_at
        && now < last.plus(REPAIR_ANSWER_WAIT)
    {
        return FallbackDue::WaitUntil {
            at: last.plus(REPAIR_ANSWER_WAIT),
        };
    }
    match repair_choice(state, now) {
        RepairChoice::Rebroadcast => FallbackDue::Rebroadcast,
        RepairChoice::Poll => paced(u64::MAX),
        RepairChoice::Wait => FallbackDue::Nothing,
    }
}

/// What a repair does once its pilot's answers are in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RepairChoice {
    /// Some polled devices surely lack the payload and a broadcast still fits: broadcast it
    /// again (once).
    Rebroadcast,
    /// The share found pays for polling: keep polling by unicast, paced.
    Poll,
    /// Neither: wait for the targets' check-ins.
    Wait,
}

/// The repair's choice from the polls so far: rebroadcast when the pilot found any device
/// lacking the payload and a broadcast now leaves its reports time; keep polling while the
/// share found is surely at least `1 / REPAIR_SESSIONS_PER_FOUND`; else wait.
pub fn repair_choice(state: &ServerState, now: Timestamp) -> RepairChoice {
    let f = &state.fallback;
    if state.tally.poll_found > 0 && f.rebroadcast_at.is_none() && rebroadcast_fits(state, now) {
        return RepairChoice::Rebroadcast;
    }
    let (_, lo, _) = crate::stats::wilson_interval(state.tally.poll_found, f.unicast_sent);
    if !f.unicast_done && lo * REPAIR_SESSIONS_PER_FOUND as f64 >= 1.0 {
        RepairChoice::Poll
    } else {
        RepairChoice::Wait
    }
}

/// Whether `a` comes before `b` in `policy`'s poll order: ascending id for `unicast`,
/// ascending `(poll_key, id)` for `repair`.
pub fn poll_before(campaign: &Campaign, policy: Fallback, a: &DeviceId, b: &DeviceId) -> bool {
    match policy {
        Fallback::Repair { .. } => poll_rank(campaign, a) < poll_rank(campaign, b),
        _ => a < b,
    }
}

/// `device`'s place in a repair's poll order.
pub fn poll_rank<'a>(campaign: &Campaign, device: &'a DeviceId) -> (u64, &'a DeviceId) {
    (
        crate::slot::poll_key(&campaign.salt, device.as_bytes()),
        device,
    )
}

/// Whether a broadcast at `now` leaves time for its reports and retries before the deadline
/// (after that, a rebroadcast is no longer due: the degradation stays for an operator).
fn rebroadcast_fits(state: &ServerState, now: Timestamp) -> bool {
    state
        .campaign
        .as_ref()
        .is_some_and(|c| rules::reports_end(c, now) <= c.report_deadline())
}

/// When the pace next allows a device, with `sent` devices sent since `since`.
fn next_minute(per_minute: u32, since: Timestamp, sent: u64) -> Timestamp {
    let minutes = sent / u64::from(per_minute.max(1));
    since.plus(Duration(minutes.saturating_mul(60_000)))
}

/// When the unicast pace next allows a batch, once the host has recorded one: the start of
/// the pace minute after the last batch. (The first batch, like a rebroadcast, is due right
/// after the tick that recorded the degradation: the host asks [`due`] after every tick.)
pub(super) fn next_wake(state: &ServerState) -> Option<Timestamp> {
    let f = &state.fallback;
    let (Some(policy), Some(Degraded { at: since, .. })) = (f.policy, f.degraded) else {
        return None;
    };
    match policy.fallback {
        Fallback::Unicast { per_minute } if !f.unicast_done => {
            let last = f.unicast_last_at?;
            Some(next_batch(f, per_minute, since, last))
        }
        Fallback::Repair { per_minute } => {
            let last = f.unicast_last_at?;
            if f.unicast_sent < repair_pilot_for(state) && !f.unicast_done {
                return Some(next_batch(f, per_minute, since, last));
            }
            // Once the answers had time to come, a wake only when the host will record
            // something then (a rebroadcast or a batch): waiting for check-ins needs none,
            // and a wake that records nothing would come again at the same instant.
            let answers = last.plus(REPAIR_ANSWER_WAIT);
            let at = answers.max(state.clock);
            match repair_choice(state, at) {
                RepairChoice::Rebroadcast => Some(at),
                RepairChoice::Poll => Some(next_batch(f, per_minute, since, last).max(answers)),
                RepairChoice::Wait => None,
            }
        }
        _ => None,
    }
}

/// When the pace allows the next batch after one recorded at `last`.
fn next_batch(f: &FallbackState, per_minute: u32, since: Timestamp, last: Timestamp) -> Timestamp {
    next_minute(per_minute, since, f.unicast_sent).max(next_after(last, since))
}

/// The start of the pace minute after the one `last` fell in.
fn next_after(last: Timestamp, since: Timestamp) -> Timestamp {
    let minutes = last.since(since).as_millis() / 60_000 + 1;
    since.plus(Duration(minutes * 60_000))
}

/// The reach interval when its upper bound is below the floor.
pub(super) fn below_floor(state: &ServerState, now: Timestamp) -> Option<(Coverage, Coverage)> {
    let policy = state.fallback.policy?;
    let r = state.reach_at(now)?;
    (r.hi < policy.floor).then_some((state.coverage_at(now)?, r))
}
