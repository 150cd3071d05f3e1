//! The device side: one decider per campaign stream.
//!
//! ```text
//! Idle ──Receive──▶ Applying ──RecordApplied──▶ Evaluating ──Tick(≥ received+evaluate_after)──┐
//!   healthy, not sampled ◀──────────────────────────────────────────────────────────────────────┤
//!   exceptional / sampled ──▶ Reporting(attempt, due) ──MarkSent──▶ (retry at sent + backoff) ──┤
//!                             ──Acknowledge──▶ AwaitingCare ──ReceiveCare──▶ ApplyingCare ──▶ Recovered
//!                             ──(attempts or deadline exhausted)──▶ GaveUp
//! ```
//!
//! Effects for the host — the settings to apply, the report due now, the next wake-up — are
//! read off the state ([`DeviceState::pending_apply`], [`DeviceState::due_report`],
//! [`DeviceState::next_wake`]); `decide` performs none of them.

use serde::{Deserialize, Serialize};

use crate::decider::Decider;
use crate::error::ValidationError;
use crate::model::{Campaign, DeviceId, Limits, Setting, Timestamp};
use crate::report::{ApplyResult, Finding, Report, ReportKind, Verify};
use crate::schedule::{Condition, Detail, is_success, uri_in_subtree};
use crate::slot;

/// What the device host asks of the device decider.
#[derive(Debug, Clone, PartialEq)]
pub enum DeviceCommand {
    /// A payload arrived and was verified (signature, size): take it on if targeted and new.
    Receive {
        /// The verified campaign.
        campaign: Box<Campaign>,
        /// This device.
        device: DeviceId,
        /// Groups this device belongs to.
        groups: Vec<String>,
        /// When it arrived.
        at: Timestamp,
    },
    /// The host applied the settings: one result per setting, in order (fewer if the apply
    /// was interrupted).
    RecordApplied {
        /// Results in setting order.
        results: Vec<ApplyResult>,
        /// When applying finished.
        at: Timestamp,
    },
    /// Time passed: evaluate, schedule retries, give up — whatever is due.
    Tick {
        /// Now.
        now: Timestamp,
    },
    /// The host sent report `attempt`.
    MarkSent {
        /// Which attempt.
        attempt: u32,
        /// When.
        at: Timestamp,
    },
    /// The server acknowledged report `attempt` (or an earlier one).
    Acknowledge {
        /// Which attempt.
        attempt: u32,
        /// When.
        at: Timestamp,
    },
    /// The server sent unicast care: re-apply these settings (indices into the campaign).
    ReceiveCare {
        /// The server's care attempt number.
        attempt: u32,
        /// Setting indices to re-apply.
        settings: Vec<u32>,
        /// When.
        at: Timestamp,
    },
    /// The host re-applied the care settings: one result per care setting, in order.
    RecordCareApplied {
        /// The care attempt.
        attempt: u32,
        /// Results in the order of the care's settings.
        results: Vec<ApplyResult>,
        /// When.
        at: Timestamp,
    },
}

/// Why a device stopped reporting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum GiveUpReason {
    /// Every allowed attempt was sent and none was acknowledged.
    AttemptsExhausted,
    /// The next retry would fall after the report deadline.
    DeadlinePassed,
}

/// Everything that happens on a device, per campaign stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum DeviceEvent {
    /// A targeted, new revision was taken on.
    PayloadAccepted {
        /// The campaign.
        campaign: Box<Campaign>,
        /// This device.
        device: DeviceId,
        /// When.
        at: Timestamp,
    },
    /// The host's per-setting results.
    SettingsApplied {
        /// Results in setting order.
        results: Vec<ApplyResult>,
        /// When.
        at: Timestamp,
    },
    /// The outcome was checked against the schedule. Healthy iff `findings` is empty.
    Evaluated {
        /// Why the device is exceptional (sorted, unique); empty when healthy.
        findings: Vec<Finding>,
        /// Healthy and picked as a coverage probe.
        sampled: bool,
        /// When.
        at: Timestamp,
    },
    /// Report `attempt` is due at `due`.
    ReportScheduled {
        /// Attempt number, from 1.
        attempt: u32,
        /// When to send.
        due: Timestamp,
    },
    /// Report `attempt` went out.
    ReportSent {
        /// Attempt number.
        attempt: u32,
        /// When.
        at: Timestamp,
    },
    /// The server has the report.
    ReportAcknowledged {
        /// The attempt acknowledged.
        attempt: u32,
        /// When.
        at: Timestamp,
    },
    /// Unicast care arrived.
    CareReceived {
        /// Server's care attempt.
        attempt: u32,
        /// Setting indices to re-apply.
        settings: Vec<u32>,
        /// When.
        at: Timestamp,
    },
    /// Care settings were re-applied.
    CareApplied {
        /// Server's care attempt.
        attempt: u32,
        /// Results in care order.
        results: Vec<ApplyResult>,
        /// When.
        at: Timestamp,
    },
    /// The device stopped trying to report.
    GaveUp {
        /// Why.
        reason: GiveUpReason,
        /// When.
        at: Timestamp,
    },
}

/// Why the device refused a command. A refused command appends nothing.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DeviceError {
    /// The campaign does not target this device.
    #[error("campaign {campaign} does not target device {device}")]
    NotTargeted {
        /// Campaign id.
        campaign: String,
        /// Device id.
        device: String,
    },
    /// A revision at or below the one already taken on.
    #[error("campaign {campaign} revision {got} is not newer than revision {have} already taken")]
    StaleRevision {
        /// Campaign id.
        campaign: String,
        /// Revision held.
        have: u32,
        /// Revision offered.
        got: u32,
    },
    /// A payload for another campaign id was fed into this campaign's stream.
    #[error("this stream is campaign {stream}, the payload is campaign {got}")]
    WrongCampaign {
        /// The stream's campaign.
        stream: String,
        /// The payload's campaign.
        got: String,
    },
    /// The campaign broke a rule.
    #[error("invalid campaign: {0}")]
    Invalid(#[from] ValidationError),
    /// The command does not fit the current phase.
    #[error("{command} is not possible now: the device is {phase}")]
    WrongPhase {
        /// The command's name.
        command: &'static str,
        /// The current phase's name.
        phase: &'static str,
    },
    /// More results than there are settings.
    #[error("{got} results for {expected} settings")]
    TooManyResults {
        /// Settings.
        expected: usize,
        /// Results.
        got: usize,
    },
    /// Care results must match the care's settings one to one.
    #[error("care attempt {attempt} had {expected} settings, got {got} results")]
    CareResultsMismatch {
        /// Care attempt.
        attempt: u32,
        /// Settings in the care.
        expected: usize,
        /// Results given.
        got: usize,
    },
    /// An attempt number that does not match the current one.
    #[error("attempt {got} does not match the current attempt {current}")]
    WrongAttempt {
        /// Current attempt.
        current: u32,
        /// Given attempt.
        got: u32,
    },
    /// Sending before the slot.
    #[error("report attempt {attempt} is not due before {due}")]
    NotDue {
        /// Attempt.
        attempt: u32,
        /// Due time.
        due: Timestamp,
    },
    /// A care setting index outside the campaign.
    #[error("care names setting {index}, the campaign has {settings}")]
    NoSuchSetting {
        /// The index.
        index: u32,
        /// Number of settings.
        settings: usize,
    },
}

impl DeviceError {
    /// Short stable kebab-case name of this refusal, unique per variant: runtime counters,
    /// C result codes, binding reasons and CLI messages all derive from it.
    pub fn reason(&self) -> &'static str {
        match self {
            DeviceError::NotTargeted { .. } => "not-targeted",
            DeviceError::StaleRevision { .. } => "stale-revision",
            DeviceError::WrongCampaign { .. } => "wrong-campaign",
            DeviceError::Invalid(_) => "invalid-campaign",
            DeviceError::WrongPhase { .. } => "wrong-phase",
            DeviceError::TooManyResults { .. } => "too-many-results",
            DeviceError::CareResultsMismatch { .. } => "care-results-mismatch",
            DeviceError::WrongAttempt { .. } => "wrong-attempt",
            DeviceError::NotDue { .. } => "not-due",
            DeviceError::NoSuchSetting { .. } => "no-such-setting",
        }
    }
}

/// Where the device is in the flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Phase {
    /// Nothing received.
    #[default]
    Idle,
    /// Received; the host must apply the settings.
    Applying,
    /// Applied; waiting for `evaluate_after`.
    Evaluating,
    /// Healthy and silent: done.
    Healthy,
    /// A report is pending or in flight.
    Reporting,
    /// A failure report was acknowledged: waiting for care.
    AwaitingCare,
    /// Care arrived; the host must re-apply.
    ApplyingCare,
    /// A success probe was acknowledged: done.
    Confirmed,
    /// Care fixed everything: done.
    Recovered,
    /// Stopped reporting unacknowledged.
    GaveUp,
}

impl Phase {
    /// Lower-case name for messages.
    pub fn name(self) -> &'static str {
        match self {
            Phase::Idle => "idle",
            Phase::Applying => "applying",
            Phase::Evaluating => "evaluating",
            Phase::Healthy => "healthy",
            Phase::Reporting => "reporting",
            Phase::AwaitingCare => "awaiting care",
            Phase::ApplyingCare => "applying care",
            Phase::Confirmed => "confirmed",
            Phase::Recovered => "recovered",
            Phase::GaveUp => "given up",
        }
    }
}

/// The report in progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportProgress {
    /// Current attempt (from 1).
    pub attempt: u32,
    /// When the current attempt is due.
    pub due: Timestamp,
    /// When the current attempt was sent.
    pub sent_at: Option<Timestamp>,
}

/// Care in progress.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CareProgress {
    /// Server's attempt number.
    pub attempt: u32,
    /// Setting indices to re-apply.
    pub settings: Vec<u32>,
}

/// The folded state of one device campaign stream.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct DeviceState {
    /// Where the device is.
    pub phase: Phase,
    /// The campaign taken on (latest revision).
    pub campaign: Option<Campaign>,
    /// This device.
    pub device: Option<DeviceId>,
    /// When the payload arrived.
    pub received_at: Timestamp,
    /// Results of the apply, and when.
    pub applied: Option<(Timestamp, Vec<ApplyResult>)>,
    /// When the device evaluated.
    pub evaluated_at: Option<Timestamp>,
    /// Findings of the evaluation (empty when healthy).
    pub findings: Vec<Finding>,
    /// Healthy and sampled.
    pub sampled: bool,
    /// The report in progress.
    pub report: Option<ReportProgress>,
    /// The care in progress.
    pub care: Option<CareProgress>,
    /// Care results received so far, per attempt.
    pub care_attempts: u32,
}

/// The device decider.
#[derive(Debug, Clone, Copy, Default)]
pub struct Device;

impl DeviceState {
    /// The settings the host must apply now, if any.
    pub fn pending_apply(&self) -> Option<&[Setting]> {
        match (self.phase, &self.campaign) {
            (Phase::Applying, Some(c)) => Some(&c.settings),
            _ => None,
        }
    }

    /// The care settings the host must re-apply now: (care attempt, settings).
    pub fn pending_care(&self) -> Option<(u32, Vec<&Setting>)> {
        match (self.phase, &self.campaign, &self.care) {
            (Phase::ApplyingCare, Some(c), Some(care)) => Some((
                care.attempt,
                care.settings
                    .iter()
                    .filter_map(|&i| c.settings.get(i as usize))
                    .collect(),
            )),
            _ => None,
        }
    }

    /// The report to send at `now`, if one is due and not yet sent.
    pub fn due_report(&self, now: Timestamp) -> Option<Report> {
        let (Phase::Reporting, Some(c), Some(dev), Some(r), Some(eval)) = (
            self.phase,
            &self.campaign,
            &self.device,
            &self.report,
            self.evaluated_at,
        ) else {
            return None;
        };
        if r.sent_at.is_some() || now < r.due {
            return None;
        }
        let kind = if self.findings.is_empty() {
            ReportKind::Success
        } else {
            match c.schedule.report.detail {
                Detail::PerSetting => ReportKind::Failure {
                    findings: self.findings.clone(),
                },
                Detail::Summary => ReportKind::FailureSummary {
                    count: u32::try_from(self.findings.len()).unwrap_or(u32::MAX),
                    first_status: self.findings.iter().find_map(|f| match f {
                        Finding::Status { status, .. } => Some(*status),
                        _ => None,
                    }),
                },
            }
        };
        Some(Report {
            campaign: c.id.clone(),
            revision: c.revision,
            device: dev.clone(),
            attempt: r.attempt,
            evaluated_at: eval,
            kind,
        })
    }

    /// When the host should next call `Tick` (or send the due report); `None` when the
    /// device is waiting on nothing time-based.
    pub fn next_wake(&self) -> Option<Timestamp> {
        let c = self.campaign.as_ref()?;
        match self.phase {
            Phase::Applying | Phase::Evaluating => {
                Some(self.received_at.plus(c.schedule.evaluate_after))
            }
            Phase::Reporting => {
                let r = self.report.as_ref()?;
                match r.sent_at {
                    None => Some(r.due),
                    Some(sent) => Some(sent.plus(slot::retry_delay(
                        &c.salt,
                        self.device.as_ref()?,
                        r.attempt,
                        &c.schedule.report.retry,
                    ))),
                }
            }
            _ => None,
        }
    }

    /// True when nothing more will happen without new input from the server.
    pub fn is_settled(&self) -> bool {
        matches!(
            self.phase,
            Phase::Healthy | Phase::Confirmed | Phase::Recovered | Phase::GaveUp
        )
    }
}

/// Checks a device's apply results against the schedule's conditions.
///
/// `applied` is `None` when the host had not returned results by evaluation time `now`.
/// Returns the sorted, unique findings; empty means healthy.
pub fn evaluate(
    campaign: &Campaign,
    received_at: Timestamp,
    applied: Option<(Timestamp, &[ApplyResult])>,
    now: Timestamp,
) -> Vec<Finding> {
    let results: &[ApplyResult] = applied.map(|(_, r)| r).unwrap_or(&[]);
    let mut findings = Vec::new();
    let failed = |i: usize, r: &ApplyResult| {
        (!is_success(r.status)).then_some(Finding::Status {
            index: i as u32,
            status: r.status,
        })
    };
    for cond in &campaign.schedule.conditions {
        match cond {
            Condition::AnyFailed => {
                findings.extend(results.iter().enumerate().filter_map(|(i, r)| failed(i, r)));
            }
            Condition::SettingFailed { uri_prefix } => {
                findings.extend(
                    results
                        .iter()
                        .zip(&campaign.settings)
                        .enumerate()
                        .filter(|(_, (_, s))| uri_in_subtree(&s.uri, uri_prefix))
                        .filter_map(|(i, (r, _))| failed(i, r)),
                );
            }
            Condition::StatusIn { codes } => {
                findings.extend(
                    results
                        .iter()
                        .enumerate()
                        .filter(|(_, r)| codes.contains(&r.status))
                        .map(|(i, r)| Finding::Status {
                            index: i as u32,
                            status: r.status,
                        }),
                );
            }
            Condition::VerifyMismatch { uri } => {
                findings.extend(
                    results
                        .iter()
                        .zip(&campaign.settings)
                        .enumerate()
                        .filter(|(_, (r, s))| &s.uri == uri && r.verify == Verify::Mismatch)
                        .map(|(i, _)| Finding::VerifyMismatch { index: i as u32 }),
                );
            }
            Condition::PayloadIncomplete => {
                findings.extend(
                    (results.len()..campaign.settings.len())
                        .map(|i| Finding::Missing { index: i as u32 }),
                );
            }
            Condition::NotAppliedWithin { within } => {
                let took = match applied {
                    Some((at, _)) => at.since(received_at),
                    None => now.since(received_at),
                };
                if applied.is_none() || took > *within {
                    findings.push(Finding::Late { after: took });
                }
            }
        }
    }
    findings.sort_unstable();
    findings.dedup();
    findings
}

fn wrong_phase(command: &'static str, state: &DeviceState) -> DeviceError {
    DeviceError::WrongPhase {
        command,
        phase: state.phase.name(),
    }
}

impl Decider for Device {
    type State = DeviceState;
    type Command = DeviceCommand;
    type Event = DeviceEvent;
    type Error = DeviceError;

    fn decide(
        state: &DeviceState,
        command: &DeviceCommand,
    ) -> Result<Vec<DeviceEvent>, DeviceError> {
        match command {
            DeviceCommand::Receive {
                campaign,
                device,
                groups,
                at,
            } => {
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
                campaign.validate(&Limits::DEFAULT)?;
                Ok(vec![DeviceEvent::PayloadAccepted {
                    campaign: campaign.clone(),
                    device: device.clone(),
                    at: *at,
                }])
            }
            DeviceCommand::RecordApplied { results, at } => {
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
                    results: results.clone(),
                    at: *at,
                }])
            }
            DeviceCommand::Tick { now } => Ok(tick(state, *now)),
            DeviceCommand::MarkSent { attempt, at } => {
                let (Phase::Reporting, Some(r)) = (state.phase, &state.report) else {
                    return Err(wrong_phase("mark-sent", state));
                };
                if *attempt != r.attempt {
                    return Err(DeviceError::WrongAttempt {
                        current: r.attempt,
                        got: *attempt,
                    });
                }
                if r.sent_at.is_some() {
                    return Ok(vec![]); // the same send, told twice
                }
                if *at < r.due {
                    return Err(DeviceError::NotDue {
                        attempt: r.attempt,
                        due: r.due,
                    });
                }
                Ok(vec![DeviceEvent::ReportSent {
                    attempt: *attempt,
                    at: *at,
                }])
            }
            DeviceCommand::Acknowledge { attempt, at } => match state.phase {
                Phase::AwaitingCare | Phase::Confirmed => Ok(vec![]),
                Phase::Reporting | Phase::GaveUp => {
                    let Some(r) = &state.report else {
                        return Err(wrong_phase("acknowledge", state));
                    };
                    let sent_upto = if r.sent_at.is_some() {
                        r.attempt
                    } else {
                        r.attempt - 1
                    };
                    if *attempt == 0 || *attempt > sent_upto {
                        return Err(DeviceError::WrongAttempt {
                            current: sent_upto,
                            got: *attempt,
                        });
                    }
                    Ok(vec![DeviceEvent::ReportAcknowledged {
                        attempt: *attempt,
                        at: *at,
                    }])
                }
                _ => Err(wrong_phase("acknowledge", state)),
            },
            DeviceCommand::ReceiveCare {
                attempt,
                settings,
                at,
            } => {
                let Some(c) = &state.campaign else {
                    return Err(wrong_phase("receive-care", state));
                };
                if let Some(&index) = settings.iter().find(|&&i| i as usize >= c.settings.len()) {
                    return Err(DeviceError::NoSuchSetting {
                        index,
                        settings: c.settings.len(),
                    });
                }
                let mut events = Vec::new();
                match state.phase {
                    Phase::AwaitingCare => {}
                    // Care proves the server has the report, whatever became of the ack.
                    Phase::Reporting | Phase::GaveUp if !state.findings.is_empty() => {
                        let acked = state.report.map_or(1, |r| r.attempt);
                        events.push(DeviceEvent::ReportAcknowledged {
                            attempt: acked,
                            at: *at,
                        });
                    }
                    _ => return Err(wrong_phase("receive-care", state)),
                }
                events.push(DeviceEvent::CareReceived {
                    attempt: *attempt,
                    settings: settings.clone(),
                    at: *at,
                });
                Ok(events)
            }
            DeviceCommand::RecordCareApplied {
                attempt,
                results,
                at,
            } => {
                let (Phase::ApplyingCare, Some(care)) = (state.phase, &state.care) else {
                    return Err(wrong_phase("record-care-applied", state));
                };
                if *attempt != care.attempt {
                    return Err(DeviceError::WrongAttempt {
                        current: care.attempt,
                        got: *attempt,
                    });
                }
                if results.len() != care.settings.len() {
                    return Err(DeviceError::CareResultsMismatch {
                        attempt: *attempt,
                        expected: care.settings.len(),
                        got: results.len(),
                    });
                }
                Ok(vec![DeviceEvent::CareApplied {
                    attempt: *attempt,
                    results: results.clone(),
                    at: *at,
                }])
            }
        }
    }

    fn evolve(state: &mut DeviceState, event: &DeviceEvent) {
        match event {
            DeviceEvent::PayloadAccepted {
                campaign,
                device,
                at,
            } => {
                *state = DeviceState {
                    phase: Phase::Applying,
                    campaign: Some((**campaign).clone()),
                    device: Some(device.clone()),
                    received_at: *at,
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
                state.phase = if results.iter().all(|r| is_success(r.status)) {
                    Phase::Recovered
                } else {
                    Phase::AwaitingCare
                };
            }
            DeviceEvent::GaveUp { .. } => state.phase = Phase::GaveUp,
        }
    }
}

fn tick(state: &DeviceState, now: Timestamp) -> Vec<DeviceEvent> {
    let (Some(c), Some(dev)) = (&state.campaign, &state.device) else {
        return vec![];
    };
    match state.phase {
        Phase::Applying | Phase::Evaluating => {
            if now < state.received_at.plus(c.schedule.evaluate_after) {
                return vec![];
            }
            let applied = state.applied.as_ref().map(|(at, r)| (*at, r.as_slice()));
            let findings = evaluate(c, state.received_at, applied, now);
            let sampled =
                findings.is_empty() && slot::sampled(&c.salt, dev, c.schedule.sample_success_ppm);
            let report = !findings.is_empty() || sampled;
            let mut events = vec![DeviceEvent::Evaluated {
                findings,
                sampled,
                at: now,
            }];
            if report {
                events.push(DeviceEvent::ReportScheduled {
                    attempt: 1,
                    due: slot::report_time(&c.salt, dev, now, &c.schedule.report),
                });
            }
            events
        }
        Phase::Reporting => {
            let Some(r) = &state.report else {
                return vec![];
            };
            let Some(sent) = r.sent_at else {
                return vec![];
            };
            let retry = &c.schedule.report.retry;
            let next = sent.plus(slot::retry_delay(&c.salt, dev, r.attempt, retry));
            if now < next {
                return vec![];
            }
            let reason = if r.attempt >= retry.attempts {
                Some(GiveUpReason::AttemptsExhausted)
            } else if next >= c.report_deadline() {
                Some(GiveUpReason::DeadlinePassed)
            } else {
                None
            };
            match reason {
                Some(reason) => vec![DeviceEvent::GaveUp { reason, at: now }],
                None => vec![DeviceEvent::ReportScheduled {
                    attempt: r.attempt + 1,
                    due: next,
                }],
            }
        }
        _ => vec![],
    }
}
