//! The coverage fallback's commands.

use crate::model::{DeviceId, Timestamp};
use crate::rules::{self};
use crate::server::fallback::{self, FallbackDue};
use crate::server::{CoverageFloor, ServerError, ServerEvent, ServerState};

type Decided = Result<Vec<ServerEvent>, ServerError>;

/// `SetCoverageFloor`: a valid floor, on a campaign that samples, before the current
/// revision degraded.
pub(in crate::server) fn set_coverage_floor(
    state: &ServerState,
    policy: &CoverageFloor,
    at: Timestamp,
) -> Decided {
    let c = state.campaign()?;
    policy.validate().map_err(ServerError::Fallback)?;
    if c.schedule.sample_success_ppm == 0 {
        return Err(ServerError::Fallback(
            "the campaign samples no healthy device (sample_success_ppm = 0): coverage cannot be measured".into(),
        ));
    }
    if state.fallback.degraded.is_some() {
        return Err(ServerError::Fallback(
            "this revision is already degraded and its fallback started; revise the campaign to change the floor".into(),
        ));
    }
    if state.fallback.policy == Some(*policy) {
        return Ok(vec![]);
    }
    Ok(vec![ServerEvent::CoverageFloorSet {
        policy: *policy,
        at,
    }])
}

/// `RecordRebroadcast`: only when the rebroadcast fallback asks for it, once, early enough
/// that the reports it causes end before the deadline.
pub(in crate::server) fn record_rebroadcast(state: &ServerState, at: Timestamp) -> Decided {
    let c = state.campaign()?;
    if fallback::due(state, at) == FallbackDue::Rebroadcast {
        return Ok(vec![ServerEvent::Rebroadcast { at }]);
    }
    let needed = rules::reports_end(c, at);
    let f = &state.fallback;
    let waiting = f.degraded.is_some()
        && f.rebroadcast_at.is_none()
        && f.policy
            .is_some_and(|p| p.fallback == crate::server::Fallback::Rebroadcast);
    if waiting && needed > c.report_deadline() {
        return Err(ServerError::BroadcastTooLate {
            at,
            needed,
            deadline: c.report_deadline(),
        });
    }
    Err(ServerError::Fallback(
        "no rebroadcast is due (the campaign is not degraded, its fallback is not rebroadcast, or it was rebroadcast already)".into(),
    ))
}

/// `RecordFallbackUnicast`: a batch the unicast fallback allows — ascending ids after the
/// cursor, none with a case, within the pace's allowance.
pub(in crate::server) fn record_fallback_unicast(
    state: &ServerState,
    devices: &[DeviceId],
    done: bool,
    at: Timestamp,
) -> Decided {
    record_fallback_unicast_with(state, devices, done, at, |d| state.cases.contains_key(d))
}

/// [`record_fallback_unicast`] with the cases looked up by `has_case`: the sharded server
/// decides on the campaign's control state, whose devices' cases live in their shards.
pub(in crate::server) fn record_fallback_unicast_with(
    state: &ServerState,
    devices: &[DeviceId],
    done: bool,
    at: Timestamp,
    has_case: impl Fn(&DeviceId) -> bool,
) -> Decided {
    state.campaign()?;
    let refuse = |why: String| Err(ServerError::Fallback(why));
    let (allowance, after) = match fallback::due(state, at) {
        FallbackDue::Unicast { allowance, after } => (allowance, after),
        FallbackDue::WaitUntil { at: next } => {
            if devices.is_empty() && done {
                (0, state.fallback.unicast_cursor.clone())
            } else {
                return refuse(format!("the unicast pace allows no device before {next}"));
            }
        }
        _ => {
            return refuse(
                "no unicast fallback is due (the campaign is not degraded, its fallback is not unicast, or it is done)".into(),
            );
        }
    };
    if devices.len() as u64 > allowance {
        return refuse(format!(
            "{} devices exceed the pace's allowance of {allowance} now",
            devices.len()
        ));
    }
    let c = state.campaign()?;
    let policy = state
        .fallback
        .policy
        .map_or(crate::server::Fallback::None, |p| p.fallback);
    let mut prev = after.as_ref();
    for d in devices {
        if prev.is_some_and(|p| !fallback::poll_before(c, policy, p, d)) {
            return refuse(format!(
                "device {d} is not after the cursor or the previous device: a batch runs in the poll order (ascending ids; for a repair, ascending poll keys)"
            ));
        }
        if has_case(d) {
            return refuse(format!(
                "device {d} has a case: the server heard from it, it is not silent"
            ));
        }
        prev = Some(d);
    }
    if devices.is_empty() && !done {
        return Ok(vec![]);
    }
    Ok(vec![ServerEvent::FallbackUnicastSent {
        count: devices.len() as u64,
        last: devices.last().cloned().or(after),
        done,
        at,
    }])
}
