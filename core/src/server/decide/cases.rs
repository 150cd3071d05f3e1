//! The commands about one device: its report, its check-in, its care — and the abort
//! threshold a failure report may trip.

use crate::model::{Campaign, DeviceId, Timestamp};
use crate::report::{Finding, Report, ReportKind};
use crate::rules::{self, AfterFailedCare};
use crate::schedule::{AfterCare, CareAction};
use crate::server::{
    Case, CaseOrigin, CaseStatus, EscalationReason, PauseReason, ServerError, ServerEvent,
    ServerState,
};
use crate::slot;

type Decided = Result<Vec<ServerEvent>, ServerError>;

/// `AcceptReport`: a well-formed report of this campaign and revision from a target with
/// no case yet opens its case, and care for a failure.
pub(in crate::server) fn accept_report(
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
        crate::server::group_breaker::group_check(
            state,
            c,
            &report.device,
            groups,
            at,
            &mut events,
        );
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
pub(in crate::server) fn check_in(
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
    if applied_revision >= c.revision {
        // Up to date. A sampled device not heard from before any fallback ran received
        // the broadcast: evidence for the coverage estimate that its probe was lost.
        let evidence = applied_revision == c.revision
            && case.is_none()
            && state.fallback.degraded.is_none()
            && slot::sampled(&c.salt, device, c.schedule.sample_success_ppm);
        return Ok(if evidence {
            vec![ServerEvent::CheckedInCurrent {
                device: device.clone(),
                at,
            }]
        } else {
            vec![]
        });
    }
    if case.is_some_and(Case::in_care) {
        return Ok(vec![]); // in care now: nothing to do
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
    // Armed under an operator's pause too: the two pauses are separate.
    if state.paused.is_some() || state.resumed {
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
pub(in crate::server) fn dispatch_care(
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
    if state.groups.holds(case.breaker_groups) {
        let paused = state.groups.paused_mask() & case.breaker_groups;
        let i = paused.trailing_zeros() as usize;
        let group = state.groups.breakers.get(i).map(|b| b.group.clone());
        return Err(ServerError::GroupPaused(group.unwrap_or_default()));
    }
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
pub(in crate::server) fn record_care_outcome(
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
pub(super) fn after_failed(
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
