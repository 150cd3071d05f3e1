//! One function per [`ServerCommand`](crate::server::ServerCommand): the rules a command
//! must pass and the events it yields. [`Server::decide`](crate::server::Server) only
//! dispatches here.

use crate::model::{Campaign, Limits, TargetSet, Timestamp};
use crate::rules::{self};
use crate::server::fallback::{self};
use crate::server::{
    CaseStatus, MAX_SETTLEMENT_HOLD, SampleProfile, ServerError, ServerEvent, ServerState,
};

type Decided = Result<Vec<ServerEvent>, ServerError>;

mod cases;
mod coverage;

pub(super) use cases::*;
pub(super) use coverage::*;

/// `Create`: a new campaign on an empty stream, with a consistent target count.
pub(super) fn create(
    state: &ServerState,
    campaign: &Campaign,
    targeted: Option<u64>,
    at: Timestamp,
) -> Decided {
    if let Some(c) = &state.campaign {
        return Err(ServerError::AlreadyCreated(c.id.to_string()));
    }
    campaign.validate(&Limits::DEFAULT)?;
    check_issue_time(campaign, at)?;
    let mut events = vec![ServerEvent::CampaignCreated {
        campaign: Box::new(campaign.clone()),
        targeted: target_count(campaign, targeted)?,
        at,
    }];
    events.extend(listed_sample(campaign, at));
    Ok(events)
}

/// A campaign issued later than `at` plus the devices' future skew would be refused by every
/// device (`issued-in-future`): refused here first, where the typo can be fixed.
fn check_issue_time(campaign: &Campaign, at: Timestamp) -> Result<(), ServerError> {
    if campaign.issued_at > at.plus(crate::rules::FUTURE_SKEW) {
        return Err(ServerError::IssuedInFuture {
            issued_at: campaign.issued_at,
            now: at,
        });
    }
    Ok(())
}

/// An explicit target list's sample size, counted here (one hash per listed device).
fn listed_sample(campaign: &Campaign, at: Timestamp) -> Option<ServerEvent> {
    let TargetSet::Devices(ids) = &campaign.targets else {
        return None;
    };
    Some(ServerEvent::SampleProfiled {
        profile: SampleProfile::of(campaign, ids),
        at,
    })
}

/// `SizeSample`: the host's count of sampled targets, at most the targets; telling the
/// same count again appends nothing.
pub(super) fn size_sample(state: &ServerState, sampled_targets: u64, at: Timestamp) -> Decided {
    state.campaign()?;
    if sampled_targets > state.targeted {
        return Err(ServerError::SampleSize {
            sampled: sampled_targets,
            targeted: state.targeted,
        });
    }
    if state.sampled_targets == Some(sampled_targets) {
        return Ok(vec![]);
    }
    Ok(vec![ServerEvent::SampleSized {
        sampled_targets,
        at,
    }])
}

/// `ProfileSample`: the host's count of sampled targets with their slot bins, adding up, at
/// most the targets (its bins add up by construction); telling the same profile again appends nothing.
pub(super) fn profile_sample(
    state: &ServerState,
    profile: &SampleProfile,
    at: Timestamp,
) -> Decided {
    state.campaign()?;
    if profile.sampled_targets() > state.targeted {
        return Err(ServerError::SampleSize {
            sampled: profile.sampled_targets(),
            targeted: state.targeted,
        });
    }
    if state.sample_profile.as_ref() == Some(profile) {
        return Ok(vec![]);
    }
    Ok(vec![ServerEvent::SampleProfiled {
        profile: *profile,
        at,
    }])
}

/// `Revise`: the same campaign at a higher revision, valid, with a consistent target count.
pub(super) fn revise(
    state: &ServerState,
    campaign: &Campaign,
    targeted: Option<u64>,
    at: Timestamp,
) -> Decided {
    let c = state.campaign()?;
    if campaign.id != c.id {
        return Err(ServerError::WrongCampaign {
            stream: c.id.to_string(),
            got: campaign.id.to_string(),
        });
    }
    check_issue_time(campaign, at)?;
    if campaign.revision <= c.revision {
        return Err(ServerError::RevisionNotNewer {
            current: c.revision,
            got: campaign.revision,
        });
    }
    campaign.validate(&Limits::DEFAULT)?;
    let mut events = vec![ServerEvent::CampaignRevised {
        campaign: Box::new(campaign.clone()),
        targeted: target_count(campaign, targeted)?,
        at,
    }];
    events.extend(listed_sample(campaign, at));
    Ok(events)
}

/// The number of targets: an explicit list knows it (a count given must agree), `all`
/// and `groups` need it given.
fn target_count(campaign: &Campaign, targeted: Option<u64>) -> Result<u64, ServerError> {
    Ok(match (campaign.targets.known_len(), targeted) {
        (Some(n), None) => n,
        (Some(n), Some(t)) if n == t => n,
        (Some(_), Some(_)) => {
            return Err(ServerError::TargetCount(
                "the count given differs from the explicit device list's length",
            ));
        }
        (None, Some(0)) => {
            return Err(ServerError::TargetCount(
                "a campaign needs at least one target",
            ));
        }
        (None, Some(t)) => t,
        (None, None) => {
            return Err(ServerError::TargetCount(
                "all/groups targets need the number of targeted devices",
            ));
        }
    })
}

/// `MarkBroadcast`: once per campaign, early enough that reports and their retries end
/// before the deadline ([`rules::reports_end`]).
pub(super) fn mark_broadcast(state: &ServerState, at: Timestamp) -> Decided {
    let c = state.campaign()?;
    if state.broadcast_at.is_some() {
        return Err(ServerError::AlreadyBroadcast);
    }
    let needed = rules::reports_end(c, at);
    if needed > c.report_deadline() {
        return Err(ServerError::BroadcastTooLate {
            at,
            needed,
            deadline: c.report_deadline(),
        });
    }
    Ok(vec![ServerEvent::BroadcastSent { at }])
}

/// `Pause`: an operator stops care dispatch until `Resume` (also while the abort threshold
/// has paused it: the two pauses are separate).
pub(super) fn pause(state: &ServerState, at: Timestamp) -> Decided {
    state.campaign()?;
    if state.operator_paused.is_some() {
        return Err(ServerError::AlreadyPaused);
    }
    Ok(vec![ServerEvent::OperatorPaused { at }])
}

/// `Resume`: lifts the operator's pause only; a campaign only the abort threshold paused is
/// refused with the command that lifts that ([`ServerError::PausedByBreaker`]).
pub(super) fn resume(state: &ServerState, at: Timestamp) -> Decided {
    state.campaign()?;
    if state.operator_paused.is_none() {
        return Err(if state.paused.is_some() {
            ServerError::PausedByBreaker
        } else {
            ServerError::NotPaused
        });
    }
    Ok(vec![ServerEvent::OperatorResumed { at }])
}

/// Longest `by` or `why` of an override, in bytes.
const OVERRIDE_TEXT_MAX: usize = 200;

/// `OverrideAbort`: lifts the abort threshold's pause, logged with who and why.
pub(super) fn override_abort(state: &ServerState, by: &str, why: &str, at: Timestamp) -> Decided {
    state.campaign()?;
    let explained = |s: &str| !s.trim().is_empty() && s.len() <= OVERRIDE_TEXT_MAX;
    if !explained(by) || !explained(why) {
        return Err(ServerError::OverrideUnexplained);
    }
    if state.paused.is_none() {
        return Err(ServerError::BreakerNotTripped);
    }
    Ok(vec![ServerEvent::AbortOverridden {
        by: by.to_owned(),
        why: why.to_owned(),
        at,
    }])
}

/// `Tick`: care in flight past its timeout counts as a failed attempt
/// ([`rules::care_expires`]); settle once the report deadline has passed
/// ([`rules::settles`]).
pub(super) fn tick(state: &ServerState, now: Timestamp) -> Decided {
    let c = state.campaign()?;
    let mut events = Vec::new();
    for (_, device) in state.in_flight.iter().take_while(|(t, _)| *t <= now) {
        let Some(case) = state.cases.get(device) else {
            continue;
        };
        let CaseStatus::CareInFlight { attempt, .. } = case.status else {
            continue;
        };
        events.push(ServerEvent::CareTimedOut {
            device: device.clone(),
            attempt,
            at: now,
        });
        events.push(after_failed(c, case, device.clone(), attempt, now));
    }
    if let Some(e) = coverage_check(state, now) {
        events.push(e);
    }
    if state.settled_at.is_none() && rules::settles(c, now) {
        settle(state, c, now, &mut events);
    }
    Ok(events)
}

/// At the deadline: settle, recording the bound on the targets wrongly presumed OK — or,
/// when the bound is above the campaign's limit, hold settlement back (checked again
/// hourly, at most [`MAX_SETTLEMENT_HOLD`] after the deadline).
fn settle(state: &ServerState, c: &Campaign, now: Timestamp, events: &mut Vec<ServerEvent>) {
    let bound = state.presumed_bound_at(now);
    if let Some(held) = state.settlement_held_at
        && now
            < held
                .max(state.clock)
                .plus(crate::server::SETTLEMENT_RECHECK)
    {
        return; // not time for the next check yet
    }
    let over = matches!(
        (state.max_presumed_unknown, bound),
        (Some(max), Some(b)) if b.total() > max
    );
    let last_chance = now >= c.report_deadline().plus(MAX_SETTLEMENT_HOLD);
    if over && !last_chance {
        if let Some(bound) = bound {
            events.push(ServerEvent::SettlementHeld { bound, at: now });
        }
        return;
    }
    events.push(ServerEvent::CampaignSettled {
        presumed_ok: state.targeted.saturating_sub(state.failed()),
        at: now,
    });
    if let Some(bound) = bound {
        events.push(ServerEvent::PresumedBounded { bound, at: now });
    }
}

/// `SetSettlementLimit`: a new limit (or none); the same again appends nothing.
pub(super) fn set_settlement_limit(
    state: &ServerState,
    max_presumed_unknown: Option<u64>,
    at: Timestamp,
) -> Decided {
    state.campaign()?;
    if state.max_presumed_unknown == max_presumed_unknown {
        return Ok(vec![]);
    }
    Ok(vec![ServerEvent::SettlementLimitSet {
        max_presumed_unknown,
        at,
    }])
}

/// A coverage check due by `now` ([`fallback::check_times`]): `BroadcastDegraded` when the
/// interval's upper bound is below the floor, `CoverageChecked` otherwise.
fn coverage_check(state: &ServerState, now: Timestamp) -> Option<ServerEvent> {
    let due = fallback::next_check(state)?;
    if now < due {
        return None;
    }
    Some(match fallback::below_floor(state, now) {
        Some((coverage, reach)) => ServerEvent::BroadcastDegraded {
            coverage,
            reach,
            at: now,
        },
        None => ServerEvent::CoverageChecked {
            reach: state.reach_at(now)?,
            at: now,
        },
    })
}
