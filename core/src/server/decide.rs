//! One function per [`ServerCommand`](crate::server::ServerCommand): the rules a command
//! must pass and the events it yields. [`Server::decide`](crate::server::Server) only
//! dispatches here.

use crate::model::{Campaign, DeviceId, Limits, TargetSet, Timestamp};
use crate::report::{Finding, Report, ReportKind};
use crate::rules::{self, AfterFailedCare};
use crate::schedule::{AfterCare, CareAction};
use crate::server::fallback::{self, FallbackDue};
use crate::server::{
    Case, CaseOrigin, CaseStatus, CoverageFloor, EscalationReason, PauseReason, ServerError,
    ServerEvent, ServerState,
};
use crate::slot;

type Decided = Result<Vec<ServerEvent>, ServerError>;

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
    let mut events = vec![ServerEvent::CampaignCreated {
        campaign: Box::new(campaign.clone()),
        targeted: target_count(campaign, targeted)?,
        at,
    }];
    events.extend(listed_sample(campaign, at));
    Ok(events)
}

/// An explicit target list's sample size, counted here (one hash per listed device).
fn listed_sample(campaign: &Campaign, at: Timestamp) -> Option<ServerEvent> {
    let TargetSet::Devices(ids) = &campaign.targets else {
        return None;
    };
    let ppm = campaign.schedule.sample_success_ppm;
    let sampled_targets = ids
        .iter()
        .filter(|d| slot::sampled(&campaign.salt, d, ppm))
        .count() as u64;
    Some(ServerEvent::SampleSized {
        sampled_targets,
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

/// `AcceptReport`: a well-formed report of this campaign and revision from a target with
/// no case yet opens its case, and care for a failure.
pub(super) fn accept_report(
    state: &ServerState,
    report: &Report,
    groups: &[String],
    at: Timestamp,
) -> Decided {
    let c = state.campaign()?;
    if report.campaign != c.id {
        return Err(ServerError::WrongCampaign {
            stream: c.id.to_string(),
            got: report.campaign.to_string(),
        });
    }
    if report.revision != c.revision {
        return Err(ServerError::WrongRevision {
            current: c.revision,
            got: report.revision,
        });
    }
    if report.attempt == 0 {
        return Err(ServerError::MalformedReport(
            "attempt 0 (attempts count from 1)",
        ));
    }
    if !c.targets.contains(&report.device, groups) {
        return Err(ServerError::NotTargeted(report.device.to_string()));
    }
    if let Some(case) = state.cases.get(&report.device)
        && !is_relapse(case, report)
    {
        return Err(ServerError::Duplicate {
            device: report.device.to_string(),
            attempt: report.attempt,
        });
    }
    let findings = match &report.kind {
        ReportKind::Failure { findings } => {
            if findings.is_empty() {
                return Err(ServerError::MalformedReport(
                    "a failure report without findings",
                ));
            }
            if let Some(index) = findings
                .iter()
                .filter_map(Finding::setting)
                .find(|&i| i as usize >= c.settings.len())
            {
                return Err(ServerError::NoSuchSetting {
                    index,
                    settings: c.settings.len(),
                });
            }
            Some(findings.as_slice())
        }
        ReportKind::FailureSummary { count: 0, .. } => {
            return Err(ServerError::MalformedReport(
                "a failure summary counting no findings",
            ));
        }
        ReportKind::Success
            if !slot::sampled(&c.salt, &report.device, c.schedule.sample_success_ppm) =>
        {
            return Err(ServerError::NotSampled(report.device.to_string()));
        }
        _ => None,
    };
    let late = state.settled_at.is_some();
    let mut events = vec![ServerEvent::ReportAccepted {
        device: report.device.clone(),
        attempt: report.attempt,
        evaluated_at: report.evaluated_at,
        kind: report.kind.clone(),
        late,
        at,
    }];
    if report.kind.is_failure() {
        if late {
            events.push(ServerEvent::LateReportReconciled {
                device: report.device.clone(),
                at,
            });
        }
        let settings = rules::care_settings(c, findings);
        open_care(state, c, &report.device, settings, at, &mut events);
        abort_check(state, c, &report.device, at, &mut events);
    }
    Ok(events)
}

/// A failure report evaluated after the case it meets was opened, when that case ended
/// well — recovered by care, or a success probe — is a relapse: a new cycle. Anything else
/// from a device with a case (a retry, a replay, a report while in care or escalated) is a
/// duplicate.
fn is_relapse(case: &Case, report: &Report) -> bool {
    report.kind.is_failure()
        && report.evaluated_at > case.evaluated_at
        && matches!(case.status, CaseStatus::Recovered | CaseStatus::Healthy)
}

/// `CheckIn`: a target behind the campaign's revision that is not in care now — no case
/// yet, or a case that ended (recovered, escalated, given up, a success probe) — gets care
/// for every setting.
pub(super) fn check_in(
    state: &ServerState,
    device: &DeviceId,
    groups: &[String],
    applied_revision: u32,
    at: Timestamp,
) -> Decided {
    let c = state.campaign()?;
    if !c.targets.contains(device, groups) {
        return Err(ServerError::NotTargeted(device.to_string()));
    }
    let case = state.cases.get(device);
    if applied_revision >= c.revision || case.is_some_and(Case::in_care) {
        return Ok(vec![]); // up to date, or in care now: nothing to do
    }
    if case
        .is_some_and(|k| k.status == CaseStatus::Escalated && k.cycle >= c.schedule.care.attempts)
    {
        return Ok(vec![]); // out of cycles and with an operator already
    }
    let mut events = vec![ServerEvent::CheckInBehind {
        device: device.clone(),
        applied_revision,
        at,
    }];
    if state.settled_at.is_some() {
        events.push(ServerEvent::LateReportReconciled {
            device: device.clone(),
            at,
        });
    }
    let all = rules::care_settings(c, None);
    open_care(state, c, device, all, at, &mut events);
    Ok(events)
}

/// Events that open care for a failed device: schedule the first attempt, or escalate at
/// once under notify-only or when the device relapsed into more cycles than `care.attempts`
/// allows; then the abort threshold ([`rules::abort_trips`]).
fn open_care(
    state: &ServerState,
    campaign: &Campaign,
    device: &DeviceId,
    settings: Vec<u32>,
    at: Timestamp,
    events: &mut Vec<ServerEvent>,
) {
    let cycle = state.cases.get(device).map_or(0, |c| c.cycle) + 1;
    if campaign.schedule.care.action == CareAction::NotifyOnly {
        events.push(ServerEvent::DeviceEscalated {
            device: device.clone(),
            reason: EscalationReason::NotifyOnly,
            at,
        });
    } else if cycle > campaign.schedule.care.attempts {
        events.push(ServerEvent::DeviceEscalated {
            device: device.clone(),
            reason: EscalationReason::Relapsing,
            at,
        });
    } else {
        events.push(ServerEvent::CareScheduled {
            device: device.clone(),
            attempt: 1,
            settings,
            due: at,
        });
    }
}

/// After a failure report from `device`: pause care when failure reporters exceed the
/// abort ratio of the devices expected to have evaluated and reported by `at`
/// ([`rules::expected_reporters`], [`rules::abort_trips`]). Check-ins behind do not count:
/// they measure broadcast loss, which the coverage estimate answers.
fn abort_check(
    state: &ServerState,
    campaign: &Campaign,
    device: &DeviceId,
    at: Timestamp,
    events: &mut Vec<ServerEvent>,
) {
    let Some(abort) = &campaign.schedule.abort else {
        return;
    };
    if state.is_paused() || state.resumed {
        return;
    }
    let already = state
        .cases
        .get(device)
        .is_some_and(|k| matches!(&k.origin, CaseOrigin::Report { kind, .. } if kind.is_failure()));
    let failures = state.tally.reporters + u64::from(!already);
    let broadcast = state.broadcast_at.unwrap_or(campaign.issued_at);
    let expected = rules::expected_reporters(campaign, broadcast, state.targeted, at);
    if rules::abort_trips(abort, failures, expected) {
        events.push(ServerEvent::CampaignPaused {
            reason: PauseReason {
                failure_reports: failures,
                targeted: expected,
                threshold: abort.failure_ratio,
            },
            at,
        });
    }
}

/// `DispatchCare`: the scheduled attempt, once due, while care is not paused; telling the
/// same dispatch twice appends nothing.
pub(super) fn dispatch_care(
    state: &ServerState,
    device: &DeviceId,
    attempt: u32,
    at: Timestamp,
) -> Decided {
    state.campaign()?;
    if state.is_paused() {
        return Err(ServerError::Paused);
    }
    let case = state
        .cases
        .get(device)
        .ok_or_else(|| ServerError::NoCase(device.to_string()))?;
    match case.status {
        CaseStatus::CareScheduled { attempt: a, due } if a == attempt => {
            if at < due {
                return Err(ServerError::CareMismatch {
                    device: device.to_string(),
                    what: format!("care attempt {a} is not due before {due}"),
                });
            }
            Ok(vec![ServerEvent::CareDispatched {
                device: device.clone(),
                attempt,
                at,
            }])
        }
        CaseStatus::CareInFlight { attempt: a, .. } if a == attempt => Ok(vec![]),
        other => Err(ServerError::CareMismatch {
            device: device.to_string(),
            what: format!("cannot dispatch care attempt {attempt} in state {other:?}"),
        }),
    }
}

/// `RecordCareOutcome`: for the attempt in flight; a failure schedules the next attempt
/// or ends care ([`rules::after_failed_care`]). An outcome of an attempt that already timed
/// out: a success still ends the case (the device is fixed, whatever came after), a failure
/// appends nothing (the timeout counted it).
pub(super) fn record_care_outcome(
    state: &ServerState,
    device: &DeviceId,
    attempt: u32,
    success: bool,
    at: Timestamp,
) -> Decided {
    let c = state.campaign()?;
    let case = state
        .cases
        .get(device)
        .ok_or_else(|| ServerError::NoCase(device.to_string()))?;
    let mismatch = |what: String| ServerError::CareMismatch {
        device: device.to_string(),
        what,
    };
    if attempt == 0 || attempt > case.dispatched {
        return Err(mismatch(format!(
            "care attempt {attempt} was never dispatched (dispatched up to {})",
            case.dispatched
        )));
    }
    let device = device.clone();
    let in_flight =
        matches!(case.status, CaseStatus::CareInFlight { attempt: a, .. } if a == attempt);
    if !in_flight {
        // An attempt that timed out: only news that the device is fixed matters. Anything
        // else is a repeat of an outcome already recorded.
        let open = !matches!(case.status, CaseStatus::Recovered | CaseStatus::Healthy);
        return Ok(if success && open && case.attempt_timed_out(attempt) {
            vec![ServerEvent::CareSucceeded {
                device,
                attempt,
                at,
            }]
        } else {
            vec![]
        });
    }
    if success {
        return Ok(vec![ServerEvent::CareSucceeded {
            device,
            attempt,
            at,
        }]);
    }
    Ok(vec![
        ServerEvent::CareFailed {
            device: device.clone(),
            attempt,
            at,
        },
        after_failed(c, case, device, attempt, at),
    ])
}

/// What follows a failed or timed-out care attempt: the next attempt, an escalation or
/// giving up ([`rules::after_failed_care`]).
fn after_failed(
    c: &Campaign,
    case: &Case,
    device: DeviceId,
    attempt: u32,
    at: Timestamp,
) -> ServerEvent {
    match rules::after_failed_care(&c.schedule.care, attempt, at) {
        AfterFailedCare::Retry { attempt, due } => ServerEvent::CareScheduled {
            device,
            attempt,
            settings: case.care_settings.clone(),
            due,
        },
        AfterFailedCare::Exhausted(AfterCare::Escalate) => ServerEvent::DeviceEscalated {
            device,
            reason: EscalationReason::CareExhausted,
            at,
        },
        AfterFailedCare::Exhausted(AfterCare::GiveUp) => ServerEvent::CareAbandoned { device, at },
    }
}

/// `Pause`: an operator stops care dispatch until `Resume`.
pub(super) fn pause(state: &ServerState, at: Timestamp) -> Decided {
    state.campaign()?;
    if state.is_paused() {
        return Err(ServerError::AlreadyPaused);
    }
    Ok(vec![ServerEvent::OperatorPaused { at }])
}

/// `Resume`: only a paused campaign.
pub(super) fn resume(state: &ServerState, at: Timestamp) -> Decided {
    state.campaign()?;
    if !state.is_paused() {
        return Err(ServerError::NotPaused);
    }
    Ok(vec![ServerEvent::CampaignResumed { at }])
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
        events.push(ServerEvent::CampaignSettled {
            presumed_ok: state.targeted.saturating_sub(state.failed()),
            at: now,
        });
    }
    Ok(events)
}

/// A coverage check due by `now` ([`fallback::check_times`]): `BroadcastDegraded` when the
/// interval's upper bound is below the floor, `CoverageChecked` otherwise.
fn coverage_check(state: &ServerState, now: Timestamp) -> Option<ServerEvent> {
    let due = fallback::next_check(state)?;
    if now < due {
        return None;
    }
    Some(match fallback::below_floor(state) {
        Some((coverage, reach)) => ServerEvent::BroadcastDegraded {
            coverage,
            reach,
            at: now,
        },
        None => ServerEvent::CoverageChecked {
            reach: state.reach()?,
            at: now,
        },
    })
}

/// `SetCoverageFloor`: a valid floor, on a campaign that samples, before the current
/// revision degraded.
pub(super) fn set_coverage_floor(
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
pub(super) fn record_rebroadcast(state: &ServerState, at: Timestamp) -> Decided {
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
pub(super) fn record_fallback_unicast(
    state: &ServerState,
    devices: &[DeviceId],
    done: bool,
    at: Timestamp,
) -> Decided {
    record_fallback_unicast_with(state, devices, done, at, |d| state.cases.contains_key(d))
}

/// [`record_fallback_unicast`] with the cases looked up by `has_case`: the sharded server
/// decides on the campaign's control state, whose devices' cases live in their shards.
pub(super) fn record_fallback_unicast_with(
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
    let mut prev = after.as_ref();
    for d in devices {
        if prev.is_some_and(|p| d <= p) {
            return refuse(format!(
                "device {d} is not after the cursor or the previous device: a batch runs in ascending id order"
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
