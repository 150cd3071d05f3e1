//! How each [`DeviceEvent`] changes the [`DeviceState`].

use crate::device::{CareProgress, DeviceEvent, DeviceState, Phase, ReportProgress};
use crate::rules;
use crate::schedule::is_success;

/// Folds one event into the state (the [`Decider::evolve`](crate::Decider::evolve) of
/// [`Device`](crate::device::Device)).
pub(super) fn evolve(state: &mut DeviceState, event: &DeviceEvent) {
    match event {
        DeviceEvent::PayloadAccepted {
            campaign,
            device,
            at,
        } => {
            *state = DeviceState {
                phase: Phase::Applying,
                campaign: Some(campaign.clone()),
                device: Some(device.clone()),
                received_at: *at,
                applied_revision: state.applied_revision,
                ..DeviceState::default()
            };
        }
        DeviceEvent::SettingsApplied { results, at } => {
            if state.phase == Phase::Applying {
                state.applied = Some((*at, results.clone()));
                state.phase = Phase::Evaluating;
            }
        }
        DeviceEvent::Evaluated {
            findings,
            sampled,
            at,
        } => {
            state.evaluated_at = Some(*at);
            state.findings = findings.clone();
            state.sampled = *sampled;
            state.phase = Phase::Healthy;
            if findings.is_empty()
                && let Some(c) = &state.campaign
            {
                state.applied_revision = c.revision;
            }
        }
        DeviceEvent::ReportScheduled { attempt, due } => {
            state.report = Some(ReportProgress {
                attempt: *attempt,
                due: *due,
                sent_at: None,
            });
            state.phase = Phase::Reporting;
        }
        DeviceEvent::ReportSent { attempt, at } => {
            if let Some(r) = state.report.as_mut().filter(|r| r.attempt == *attempt) {
                r.sent_at = Some(*at);
            }
        }
        DeviceEvent::ReportAcknowledged { .. } => {
            state.phase = if state.findings.is_empty() {
                Phase::Confirmed
            } else {
                Phase::AwaitingCare
            };
        }
        DeviceEvent::CareReceived {
            attempt, settings, ..
        } => {
            state.care = Some(CareProgress {
                attempt: *attempt,
                settings: settings.clone(),
            });
            state.phase = Phase::ApplyingCare;
        }
        DeviceEvent::CareApplied { results, .. } => {
            state.care_attempts = state.care_attempts.saturating_add(1);
            let fixed = match (&state.campaign, &state.care) {
                (Some(c), Some(care)) => {
                    rules::care_findings(c, &care.settings, results).is_empty()
                }
                _ => results.iter().all(|r| is_success(r.status)),
            };
            state.phase = if fixed {
                if let Some(c) = &state.campaign {
                    state.applied_revision = c.revision;
                }
                Phase::Recovered
            } else {
                Phase::AwaitingCare
            };
        }
        DeviceEvent::GaveUp { reason, .. } => {
            state.phase = Phase::GaveUp;
            state.gave_up = Some(*reason);
        }
        DeviceEvent::Relapsed { findings, at } => {
            // Nothing is known to be applied any more: a check-in states 0 until care (or a
            // newer revision) succeeds.
            state.findings = findings.clone();
            state.evaluated_at = Some(*at);
            state.sampled = false;
            state.care = None;
            state.applied_revision = 0;
            state.report_base = state.report.map_or(0, |r| r.attempt);
        }
    }
}
