//! How each [`ServerEvent`] changes the [`ServerState`].

use std::collections::BTreeSet;

use crate::model::{DeviceId, Timestamp};
use crate::rules;
use crate::server::fallback;
use crate::server::{
    BreakerTrip, Case, CaseOrigin, CaseStatus, FallbackState, ServerEvent, ServerState,
};
use crate::slot;

/// Folds one event into the state (the [`Decider::evolve`](crate::Decider::evolve) of
/// [`Server`](crate::server::Server)).
pub(super) fn evolve(state: &mut ServerState, event: &ServerEvent) {
    match event {
        ServerEvent::CampaignCreated {
            campaign, targeted, ..
        } => {
            *state = ServerState {
                campaign: Some((**campaign).clone()),
                targeted: *targeted,
                ..ServerState::default()
            };
        }
        ServerEvent::BroadcastSent { at } => state.broadcast_at = Some(*at),
        ServerEvent::ReportAccepted {
            device,
            attempt,
            evaluated_at,
            kind,
            late,
            at,
        } => {
            // After the broadcast was found degraded, a device silent until then that
            // evaluated after the degradation was reached by the fallback: it counts with
            // those that missed the broadcast (and so does its relapse). One that evaluated
            // before it received the broadcast and was only late to report (powered off,
            // its reports lost or delayed).
            let silent_until_degraded = state
                .fallback
                .degraded
                .is_some_and(|d| *evaluated_at >= d.at)
                && state
                    .cases
                    .get(device)
                    .is_none_or(|c| c.silent_until_degraded);
            let first = !state.cases.contains_key(device);
            // A relapse: the case that ended opens again; the device is failed once.
            let cycle = reopen(state, device) + u32::from(kind.is_failure());
            let origin = Origin::new(kind.is_failure(), silent_until_degraded);
            count(state, device, origin, 1);
            if first && !*late && matches!(origin, Origin::Reporter | Origin::Probe) {
                first_report(state, device, *attempt, *at);
            }
            let k = &mut state.counters;
            if kind.is_failure() {
                k.failure_reports += 1;
            } else {
                k.success_probes += 1;
            }
            if *late {
                k.late_reports += 1;
            }
            let origin = CaseOrigin::Report {
                attempt: *attempt,
                kind: kind.clone(),
                late: *late,
            };
            let mut case = Case::opened(origin, *at, *evaluated_at, cycle);
            case.silent_until_degraded = silent_until_degraded;
            case.breaker_groups = state.cases.get(device).map_or(0, |c| c.breaker_groups);
            state.cases.insert(device.clone(), case);
        }
        ServerEvent::CheckInBehind {
            device,
            applied_revision,
            at,
        } => {
            state.counters.checkins_behind += 1;
            if polled(state, device) {
                state.tally.poll_found += 1;
            }
            // A device whose case ended (recovered, escalated, given up, or a success probe)
            // and is behind again: the case opens again; the device is failed once.
            let cycle = reopen(state, device) + 1;
            count(state, device, Origin::Behind, 1);
            let origin = CaseOrigin::CheckInBehind {
                applied_revision: *applied_revision,
            };
            let mut case = Case::opened(origin, *at, *at, cycle);
            case.breaker_groups = state.cases.get(device).map_or(0, |c| c.breaker_groups);
            state.cases.insert(device.clone(), case);
        }
        ServerEvent::CheckedInCurrent { device, at } => {
            if !state.cases.contains_key(device) {
                count(state, device, Origin::Probe, 1);
                // Evaluated at the epoch: any failure the device reports later is news
                // (a relapse of this healthy case), never a duplicate of it.
                let case = Case::opened(CaseOrigin::CheckInCurrent, *at, Timestamp(0), 0);
                state.cases.insert(device.clone(), case);
            }
        }
        ServerEvent::LateReportReconciled { .. } => state.counters.reconciled += 1,
        ServerEvent::CareScheduled {
            device,
            attempt,
            settings,
            due,
        } => {
            if let Some(case) = state.cases.get_mut(device) {
                case.status = CaseStatus::CareScheduled {
                    attempt: *attempt,
                    due: *due,
                };
                case.care_settings = settings.clone();
                let queue = if state.groups.holds(case.breaker_groups) {
                    &mut state.held_care
                } else {
                    &mut state.care_queue
                };
                queue.insert((*due, device.clone()));
            }
        }
        ServerEvent::CareDispatched {
            device,
            attempt,
            at,
        } => {
            let timeout = state.campaign.as_ref().map(|c| c.schedule.care);
            if let (Some(case), Some(care)) = (state.cases.get_mut(device), timeout) {
                leave_care(
                    &mut state.care_queue,
                    &mut state.held_care,
                    &mut state.in_flight,
                    device,
                    case.status,
                );
                let expires = rules::care_expires(&care, *at);
                case.status = CaseStatus::CareInFlight {
                    attempt: *attempt,
                    expires,
                };
                case.dispatched = case.dispatched.max(*attempt);
                state.in_flight.insert((expires, device.clone()));
                state.counters.care_dispatched += 1;
            }
        }
        ServerEvent::CareSucceeded { device, .. } => {
            if let Some(case) = state.cases.get_mut(device) {
                // A late success can end a case that a timeout had escalated or given up.
                let k = &mut state.counters;
                match case.status {
                    CaseStatus::Escalated => k.escalated = k.escalated.saturating_sub(1),
                    CaseStatus::Abandoned => k.abandoned = k.abandoned.saturating_sub(1),
                    _ => {}
                }
                leave_care(
                    &mut state.care_queue,
                    &mut state.held_care,
                    &mut state.in_flight,
                    device,
                    case.status,
                );
                case.status = CaseStatus::Recovered;
                state.counters.recovered += 1;
            }
        }
        ServerEvent::CareFailed {
            device, attempt, ..
        }
        | ServerEvent::CareTimedOut {
            device, attempt, ..
        } => {
            // A failed attempt, by its outcome or by its timeout: off the queue and the
            // in-flight set; what follows is the next event (retry, escalate, give up).
            let timed_out = matches!(event, ServerEvent::CareTimedOut { .. });
            if let Some(case) = state.cases.get_mut(device) {
                leave_care(
                    &mut state.care_queue,
                    &mut state.held_care,
                    &mut state.in_flight,
                    device,
                    case.status,
                );
                if timed_out {
                    case.mark_timed_out(*attempt);
                }
            }
            let k = &mut state.counters;
            if timed_out {
                k.care_timed_out += 1;
            } else {
                k.care_failed += 1;
            }
        }
        ServerEvent::DeviceEscalated { device, .. } => {
            if let Some(case) = state.cases.get_mut(device) {
                leave_care(
                    &mut state.care_queue,
                    &mut state.held_care,
                    &mut state.in_flight,
                    device,
                    case.status,
                );
                case.status = CaseStatus::Escalated;
                state.counters.escalated += 1;
            }
        }
        ServerEvent::CareAbandoned { device, .. } => {
            if let Some(case) = state.cases.get_mut(device) {
                leave_care(
                    &mut state.care_queue,
                    &mut state.held_care,
                    &mut state.in_flight,
                    device,
                    case.status,
                );
                case.status = CaseStatus::Abandoned;
                state.counters.abandoned += 1;
            }
        }
        ServerEvent::CampaignPaused { reason, at } => {
            state.paused = Some(BreakerTrip {
                since: *at,
                reason: *reason,
            });
        }
        ServerEvent::OperatorResumed { .. } => state.operator_paused = None,
        ServerEvent::AbortOverridden { .. } => {
            state.resumed = true;
            state.paused = None;
        }
        ServerEvent::CampaignResumed { .. } => {
            state.resumed |= state.paused.is_some();
            state.paused = None;
            state.operator_paused = None;
        }
        ServerEvent::OperatorPaused { at } => state.operator_paused = Some(*at),
        ServerEvent::GroupBreakersSet { breakers, .. } => {
            state.groups = crate::server::GroupBreakers::new(breakers.clone());
        }
        ServerEvent::CaseGrouped { device, groups } => {
            if let Some(case) = state.cases.get_mut(device) {
                let new = groups & !case.breaker_groups;
                for (i, n) in state.tally.group_failures.iter_mut().enumerate() {
                    if new & (1 << i) != 0 {
                        *n += 1;
                    }
                }
                case.breaker_groups |= groups;
            }
        }
        ServerEvent::GroupPaused { group, reason, at } => {
            if let Some(i) = state.groups.index_of(group) {
                state.groups.paused[i] = Some(BreakerTrip {
                    since: *at,
                    reason: *reason,
                });
                rehold(state);
            }
        }
        ServerEvent::GroupAbortOverridden { group, .. } => {
            if let Some(i) = state.groups.index_of(group) {
                state.groups.paused[i] = None;
                state.groups.overridden |= 1 << i;
                rehold(state);
            }
        }
        ServerEvent::CampaignRevised {
            campaign, targeted, ..
        } => {
            let mut earlier = std::mem::take(&mut state.earlier);
            if let Some(c) = &state.campaign {
                earlier.push((c.revision, state.stats()));
            }
            let fallback = FallbackState {
                policy: state.fallback.policy,
                ..FallbackState::default()
            };
            let groups =
                crate::server::GroupBreakers::new(std::mem::take(&mut state.groups.breakers));
            *state = ServerState {
                campaign: Some((**campaign).clone()),
                targeted: *targeted,
                earlier,
                fallback,
                max_presumed_unknown: state.max_presumed_unknown,
                groups,
                ..ServerState::default()
            };
        }
        ServerEvent::SampleSized {
            sampled_targets, ..
        } => {
            state.sampled_targets = Some(*sampled_targets);
            if state.sample_profile.map(|p| p.sampled_targets()) != Some(*sampled_targets) {
                state.sample_profile = None;
            }
        }
        ServerEvent::SampleProfiled { profile, .. } => {
            state.sampled_targets = Some(profile.sampled_targets());
            state.sample_profile = Some(*profile);
        }
        ServerEvent::CoverageFloorSet { policy, .. } => state.fallback.policy = Some(*policy),
        ServerEvent::CoverageChecked { at, .. } => {
            state.fallback.checks = fallback::checks_by(state, *at);
        }
        ServerEvent::BroadcastDegraded {
            coverage,
            reach,
            at,
        } => {
            state.fallback.checks = fallback::checks_by(state, *at);
            state.fallback.degraded = Some(fallback::Degraded {
                coverage: *coverage,
                reach: *reach,
                at: *at,
            });
            let tl = &state.tally;
            state.fallback.silent_at_degradation = state
                .targeted
                .saturating_sub(tl.reporters + tl.behind + tl.probes);
        }
        ServerEvent::Rebroadcast { at } => state.fallback.rebroadcast_at = Some(*at),
        ServerEvent::FallbackUnicastSent {
            count,
            last,
            done,
            at,
        } => {
            let f = &mut state.fallback;
            f.unicast_sent += count;
            f.unicast_cursor.clone_from(last);
            f.unicast_last_at = Some(*at);
            f.unicast_done |= *done;
        }
        ServerEvent::PresumedBounded { bound, .. } => state.presumed_bound = Some(*bound),
        ServerEvent::SettlementLimitSet {
            max_presumed_unknown,
            ..
        } => state.max_presumed_unknown = *max_presumed_unknown,
        ServerEvent::SettlementHeld { at, .. } => {
            state.settlement_held_at.get_or_insert(*at);
        }
        ServerEvent::CampaignSettled { presumed_ok, at } => {
            state.settled_at = Some(*at);
            state.presumed_ok_at_settle = Some(*presumed_ok);
        }
    }
}

/// Whether a repair polled `device`: it is at or before the cursor in the poll order (the
/// host polls the silent targets in that order, so every one up to the cursor was polled).
fn polled(state: &ServerState, device: &DeviceId) -> bool {
    let f = &state.fallback;
    let (Some(c), Some(policy), Some(_), Some(cursor)) = (
        state.campaign.as_ref(),
        f.policy,
        f.degraded,
        f.unicast_cursor.as_ref(),
    ) else {
        return false;
    };
    matches!(policy.fallback, fallback::Fallback::Repair { .. })
        && !fallback::poll_before(c, policy.fallback, cursor, device)
}

/// Takes the case of `device` that ended out of the counts before a new one replaces it (its
/// terminal status is no longer counted, and a failed device stays counted once in
/// `failed()` through `reopened`); returns the care cycles it had (0: none).
fn reopen(state: &mut ServerState, device: &DeviceId) -> u32 {
    let Some(old) = state.cases.get(device) else {
        return 0;
    };
    let (old_origin, old_cycle) = (Origin::of(old), old.cycle);
    count(state, device, old_origin, -1);
    let Some(old) = state.cases.get(device) else {
        return old_cycle;
    };
    let k = &mut state.counters;
    if old.is_failure() {
        k.reopened += 1;
    }
    match old.status {
        CaseStatus::Recovered => k.recovered = k.recovered.saturating_sub(1),
        CaseStatus::Escalated => k.escalated = k.escalated.saturating_sub(1),
        CaseStatus::Abandoned => k.abandoned = k.abandoned.saturating_sub(1),
        _ => {}
    }
    old.cycle
}

/// How a case says its device stands towards the broadcast ([`crate::server::Tally`]).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Origin {
    Reporter,
    Behind,
    Probe,
    /// Not counted: a success probe from a device reached by the coverage fallback. It
    /// missed the broadcast, but only sampled devices probe, so counting it as missed would
    /// find the missed among the sampled more often than among the rest and bias the
    /// estimate; left uncounted it stays a sampled, uncertain device that did not probe the
    /// broadcast — which is what it is.
    Uncounted,
}

impl Origin {
    /// A report's origin: a failure or a probe, from a device silent until the broadcast was
    /// found degraded or not ([`Case::silent_until_degraded`]).
    fn new(failure: bool, silent_until_degraded: bool) -> Origin {
        match (failure, silent_until_degraded) {
            (true, false) => Origin::Reporter,
            (false, false) => Origin::Probe,
            // A failure is reported whether or not the device is sampled: finding these
            // does not depend on the sample.
            (true, true) => Origin::Behind,
            (false, true) => Origin::Uncounted,
        }
    }

    fn of(case: &Case) -> Origin {
        match &case.origin {
            CaseOrigin::Report { kind, .. } => {
                Origin::new(kind.is_failure(), case.silent_until_degraded)
            }
            CaseOrigin::CheckInBehind { .. } => Origin::Behind,
            CaseOrigin::CheckInCurrent => Origin::Probe,
        }
    }
}

/// A report that opened a case for the broadcast (not a relapse, not a late one, not one
/// reached by the fallback): how late it came after the schedule's time for its attempt,
/// and how many attempts went before it.
fn first_report(state: &mut ServerState, device: &DeviceId, attempt: u32, at: Timestamp) {
    let Some(c) = state.campaign.as_ref() else {
        return;
    };
    let broadcast = state.broadcast_at.unwrap_or(c.issued_at);
    let due = crate::server::nominal_send(c, device, broadcast, attempt);
    let late =
        at.0.saturating_sub(due.0)
            .min(c.schedule.report.deadline.as_millis());
    let t = &mut state.tally;
    t.lateness_ms = t.lateness_ms.max(late);
    t.first_reports += 1;
    t.attempts_before_first += u64::from(attempt.saturating_sub(1));
}

/// Adds (`+1`) or takes away (`-1`) `device`'s case of `origin` in the tally.
fn count(state: &mut ServerState, device: &DeviceId, origin: Origin, delta: i8) {
    let (sampled, bin) = match state.campaign.as_ref() {
        Some(c) if slot::sampled(&c.salt, device, c.schedule.sample_success_ppm) => {
            (true, crate::server::slot_bin(c, device))
        }
        _ => (false, 0),
    };
    let t = &mut state.tally;
    if sampled && origin != Origin::Uncounted {
        let n = &mut t.sampled_heard_by_slot[bin];
        *n = if delta > 0 {
            n.saturating_add(1)
        } else {
            n.saturating_sub(1)
        };
    }
    let bump = |n: &mut u64| {
        *n = if delta > 0 {
            n.saturating_add(1)
        } else {
            n.saturating_sub(1)
        }
    };
    match origin {
        Origin::Reporter => {
            bump(&mut t.reporters);
            if sampled {
                bump(&mut t.sampled_reporters);
            }
        }
        Origin::Behind => {
            bump(&mut t.behind);
            if sampled {
                bump(&mut t.sampled_behind);
            }
        }
        Origin::Probe => bump(&mut t.probes),
        Origin::Uncounted => {}
    }
}

/// Puts scheduled care on the care queue or the held set as the groups' pauses now say.
fn rehold(state: &mut ServerState) {
    let held = |s: &ServerState, dev: &DeviceId| {
        s.cases
            .get(dev)
            .is_some_and(|c| s.groups.holds(c.breaker_groups))
    };
    let hold: Vec<_> = state
        .care_queue
        .iter()
        .filter(|(_, d)| held(state, d))
        .cloned()
        .collect();
    let release: Vec<_> = state
        .held_care
        .iter()
        .filter(|(_, d)| !held(state, d))
        .cloned()
        .collect();
    for k in hold {
        state.care_queue.remove(&k);
        state.held_care.insert(k);
    }
    for k in release {
        state.held_care.remove(&k);
        state.care_queue.insert(k);
    }
}

/// Takes `device` off the care queue or the in-flight set, whichever its `status` puts it on.
fn leave_care(
    queue: &mut BTreeSet<(Timestamp, DeviceId)>,
    held: &mut BTreeSet<(Timestamp, DeviceId)>,
    in_flight: &mut BTreeSet<(Timestamp, DeviceId)>,
    device: &DeviceId,
    status: CaseStatus,
) {
    match status {
        CaseStatus::CareScheduled { due, .. } => {
            let key = (due, device.clone());
            if !queue.remove(&key) {
                held.remove(&key);
            }
        }
        CaseStatus::CareInFlight { expires, .. } => {
            in_flight.remove(&(expires, device.clone()));
        }
        _ => {}
    }
}
