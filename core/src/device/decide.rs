//! One function per [`DeviceCommand`](crate::device::DeviceCommand): the rules a command
//! must pass and the events it yields. [`Device::decide`](crate::device::Device) only
//! dispatches here.

use crate::device::{DeviceError, DeviceEvent, DeviceState, GiveUpReason, Phase};
use crate::model::{DeviceId, Timestamp, ValidCampaign};
use crate::report::ApplyResult;
use crate::rules;

type Decided = Result<Vec<DeviceEvent>, DeviceError>;

fn wrong_phase(command: &'static str, state: &DeviceState) -> DeviceError {
    DeviceError::WrongPhase {
        command,
        phase: state.phase.name(),
    }
}

/// `Receive`: a valid campaign that targets this device and is newer than the one held.
pub(super) fn receive(
    state: &DeviceState,
    campaign: &ValidCampaign,
    device: &DeviceId,
    groups: &[String],
    at: Timestamp,
) -> Decided {
    if let Some(have) = &state.campaign {
        if have.id != campaign.id {
            return Err(DeviceError::WrongCampaign {
                stream: have.id.to_string(),
                got: campaign.id.to_string(),
            });
        }
        if campaign.revision <= have.revision {
            return Err(DeviceError::StaleRevision {
                campaign: campaign.id.to_string(),
                have: have.revision,
                got: campaign.revision,
            });
        }
    }
    if !campaign.targets.contains(device, groups) {
        return Err(DeviceError::NotTargeted {
            campaign: campaign.id.to_string(),
            device: device.to_string(),
        });
    }
    // Validated when it was built (`ValidCampaign`): not checked again here.
    Ok(vec![DeviceEvent::PayloadAccepted {
        campaign: campaign.clone(),
        device: device.clone(),
        at,
    }])
}

/// `RecordApplied`: while applying, at most one result per setting.
pub(super) fn record_applied(
    state: &DeviceState,
    results: &[ApplyResult],
    at: Timestamp,
) -> Decided {
    let (Phase::Applying, Some(c)) = (state.phase, &state.campaign) else {
        return Err(wrong_phase("record-applied", state));
    };
    if results.len() > c.settings.len() {
        return Err(DeviceError::TooManyResults {
            expected: c.settings.len(),
            got: results.len(),
        });
    }
    Ok(vec![DeviceEvent::SettingsApplied {
        results: results.to_vec(),
        at,
    }])
}

/// `Tick`: evaluate once due, schedule the first report of an exceptional (or probing)
/// device, resend or give up at the retry instant. Never refused.
pub(super) fn tick(state: &DeviceState, now: Timestamp) -> Decided {
    let (Some(c), Some(dev)) = (&state.campaign, &state.device) else {
        return Ok(vec![]);
    };
    Ok(match state.phase {
        Phase::Applying | Phase::Evaluating => {
            if now < rules::evaluation_due(c, state.received_at) {
                return Ok(vec![]);
            }
            let applied = state.applied.as_ref().map(|(at, r)| (*at, r.as_slice()));
            let findings = rules::findings(c, state.received_at, applied, now);
            let sampled = rules::sends_probe(c, dev, &findings);
            let report = rules::is_exceptional(&findings) || sampled;
            let mut events = vec![DeviceEvent::Evaluated {
                findings,
                sampled,
                at: now,
            }];
            if report {
                events.push(DeviceEvent::ReportScheduled {
                    attempt: 1,
                    due: rules::first_report_at(c, dev, now),
                });
            }
            events
        }
        Phase::Reporting => {
            let Some(r) = &state.report else {
                return Ok(vec![]);
            };
            let Some(sent) = r.sent_at else {
                return Ok(vec![]);
            };
            // The retry policy counts this cycle's sends (a relapse starts a new cycle).
            let sends = r.attempt - state.report_base;
            let next = rules::retry_instant(c, dev, sends, sent);
            if now < next {
                return Ok(vec![]);
            }
            match rules::give_up(c, sends, next) {
                Some(reason) => vec![DeviceEvent::GaveUp { reason, at: now }],
                None => vec![DeviceEvent::ReportScheduled {
                    attempt: r.attempt + 1,
                    due: next,
                }],
            }
        }
        _ => vec![],
    })
}

/// `MarkSent`: the current attempt, not before it is due; told twice appends nothing.
pub(super) fn mark_sent(state: &DeviceState, attempt: u32, at: Timestamp) -> Decided {
    let (Phase::Reporting, Some(r)) = (state.phase, &state.report) else {
        return Err(wrong_phase("mark-sent", state));
    };
    if attempt != r.attempt {
        return Err(DeviceError::WrongAttempt {
            current: r.attempt,
            got: attempt,
        });
    }
    if r.sent_at.is_some() {
        return Ok(vec![]); // the same send, told twice
    }
    if at < r.due {
        return Err(DeviceError::NotDue {
            attempt: r.attempt,
            due: r.due,
        });
    }
    Ok(vec![DeviceEvent::ReportSent { attempt, at }])
}

/// `attempt` was sent (a report attempt the server can have answered): from 1 to the
/// current attempt, or the one before it while the current is unsent.
fn check_sent(state: &DeviceState, command: &'static str, attempt: u32) -> Result<(), DeviceError> {
    let Some(r) = &state.report else {
        return Err(wrong_phase(command, state));
    };
    let sent_upto = r.sent_upto();
    if attempt == 0 || attempt > sent_upto {
        return Err(DeviceError::WrongAttempt {
            current: sent_upto,
            got: attempt,
        });
    }
    Ok(())
}

/// `Acknowledge`: any attempt already sent (also after giving up); repeated acks append
/// nothing.
pub(super) fn acknowledge(state: &DeviceState, attempt: u32, at: Timestamp) -> Decided {
    match state.phase {
        Phase::AwaitingCare | Phase::Confirmed => Ok(vec![]),
        Phase::Reporting | Phase::GaveUp => {
            check_sent(state, "acknowledge", attempt)?;
            Ok(vec![DeviceEvent::ReportAcknowledged { attempt, at }])
        }
        _ => Err(wrong_phase("acknowledge", state)),
    }
}

/// `Refused`: a definitive refusal of an attempt already sent, while reporting: the
/// device gives up (`GaveUp { Refused }`); after an acknowledgement or giving up, nothing.
pub(super) fn refused(state: &DeviceState, attempt: u32, status: u16, at: Timestamp) -> Decided {
    if !rules::is_definitive_refusal(status) {
        return Err(DeviceError::NotARefusal(status));
    }
    match state.phase {
        Phase::GaveUp | Phase::AwaitingCare | Phase::Confirmed => Ok(vec![]),
        Phase::Reporting => {
            check_sent(state, "refused", attempt)?;
            Ok(vec![DeviceEvent::GaveUp {
                reason: GiveUpReason::Refused { status },
                at,
            }])
        }
        _ => Err(wrong_phase("refused", state)),
    }
}

/// `ReceiveCare`: for the revision the device holds, settings the campaign has, while awaiting care (or still reporting a
/// failure: care proves the server has the report, whatever became of the ack).
pub(super) fn receive_care(
    state: &DeviceState,
    revision: u32,
    attempt: u32,
    settings: &[u32],
    at: Timestamp,
) -> Decided {
    let Some(c) = &state.campaign else {
        return Err(wrong_phase("receive-care", state));
    };
    if revision != c.revision {
        return Err(DeviceError::WrongRevision {
            have: c.revision,
            got: revision,
        });
    }
    if let Some(&index) = settings.iter().find(|&&i| i as usize >= c.settings.len()) {
        return Err(DeviceError::NoSuchSetting {
            index,
            settings: c.settings.len(),
        });
    }
    let mut events = Vec::new();
    match state.phase {
        Phase::AwaitingCare => {}
        Phase::Reporting | Phase::GaveUp if rules::is_exceptional(&state.findings) => {
            let acked = state.report.map_or(1, |r| r.attempt);
            events.push(DeviceEvent::ReportAcknowledged { attempt: acked, at });
        }
        _ => return Err(wrong_phase("receive-care", state)),
    }
    events.push(DeviceEvent::CareReceived {
        attempt,
        settings: settings.to_vec(),
        at,
    });
    Ok(events)
}

/// `RecordCareApplied`: one result per care setting, for the care attempt being applied.
pub(super) fn record_care_applied(
    state: &DeviceState,
    attempt: u32,
    results: &[ApplyResult],
    at: Timestamp,
) -> Decided {
    let (Phase::ApplyingCare, Some(care)) = (state.phase, &state.care) else {
        return Err(wrong_phase("record-care-applied", state));
    };
    if attempt != care.attempt {
        return Err(DeviceError::WrongAttempt {
            current: care.attempt,
            got: attempt,
        });
    }
    if results.len() != care.settings.len() {
        return Err(DeviceError::CareResultsMismatch {
            attempt,
            expected: care.settings.len(),
            got: results.len(),
        });
    }
    Ok(vec![DeviceEvent::CareApplied {
        attempt,
        results: results.to_vec(),
        at,
    }])
}

/// `Recheck`: a device that was done (healthy, confirmed, recovered) and whose settings, read
/// back, fail the result conditions ([`rules::care_findings`] over every setting) has
/// relapsed: `Relapsed`, and a report with the next attempt number, at its slot
/// ([`rules::first_report_at`]) so a fleet-wide revert does not report all at once. A
/// device that still passes appends nothing.
pub(super) fn recheck(state: &DeviceState, results: &[ApplyResult], at: Timestamp) -> Decided {
    let (Some(c), Some(dev)) = (&state.campaign, &state.device) else {
        return Err(wrong_phase("recheck", state));
    };
    if !matches!(
        state.phase,
        Phase::Healthy | Phase::Confirmed | Phase::Recovered
    ) {
        return Err(wrong_phase("recheck", state));
    }
    if results.len() > c.settings.len() {
        return Err(DeviceError::TooManyResults {
            expected: c.settings.len(),
            got: results.len(),
        });
    }
    let all: Vec<u32> = (0..c.settings.len() as u32).collect();
    let findings = rules::care_findings(c, &all, results);
    if findings.is_empty() {
        return Ok(vec![]);
    }
    let attempt = state.report.map_or(0, |r| r.attempt) + 1;
    Ok(vec![
        DeviceEvent::Relapsed { findings, at },
        DeviceEvent::ReportScheduled {
            attempt,
            due: rules::first_report_at(c, dev, at),
        },
    ])
}
