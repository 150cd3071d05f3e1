//! [`DeviceState`]: the folded state of one campaign stream, and what the host reads off
//! it (settings to apply, the report due, the next wake-up).

use serde::{Deserialize, Serialize};

use crate::model::{DeviceId, Setting, Timestamp, ValidCampaign};
use crate::report::{ApplyResult, Finding, Report, ReportKind};
use crate::rules;
use crate::schedule::Detail;

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

impl ReportProgress {
    /// The last attempt sent: the current one once sent, else the one before it (0: none).
    pub fn sent_upto(&self) -> u32 {
        if self.sent_at.is_some() {
            self.attempt
        } else {
            self.attempt.saturating_sub(1)
        }
    }
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
    pub campaign: Option<ValidCampaign>,
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
    /// The last revision of this campaign the device applied successfully (evaluated
    /// healthy, or recovered by care); 0 for none. Kept across revisions: a device that took
    /// revision 2 on and failed still has revision 1 applied. It is what the device states
    /// when it checks in.
    pub applied_revision: u32,
    /// Report attempts of earlier cycles (before the last relapse): the retry policy counts
    /// the current cycle's attempts from `report_base + 1`, while attempt numbers keep
    /// growing so every report stays a distinct idempotency key.
    pub report_base: u32,
    /// The latest time the log has seen ([`DeviceEvent::time`](crate::device::DeviceEvent::time)).
    /// Time never runs back (a clock reset, a command stamped late): a command stamped
    /// earlier is decided at this time.
    pub clock: Timestamp,
    /// Why the device last gave up reporting (read in `Phase::GaveUp`).
    pub gave_up: Option<crate::rules::GiveUpReason>,
}

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
        let (Phase::Reporting, Some(r)) = (self.phase, &self.report) else {
            return None;
        };
        if r.sent_at.is_some() || now < r.due {
            return None;
        }
        self.report_at(r.attempt)
    }

    /// The failure report a device that gave up reporting sends again when it checks in: its
    /// last attempt sent, unchanged (the same idempotency key: a server that took it
    /// answers duplicate, one that never heard it takes it now). Acknowledge it like any
    /// report. `None` unless the device gave up on a failure after sending at least once,
    /// and not because the server refused it for good (a 410 or 403 would only come again).
    pub fn check_in_report(&self) -> Option<Report> {
        let (Phase::GaveUp, Some(r)) = (self.phase, &self.report) else {
            return None;
        };
        if matches!(
            self.gave_up,
            Some(crate::rules::GiveUpReason::Refused { .. })
        ) {
            return None;
        }
        let sent = r.sent_upto();
        if self.findings.is_empty() || sent == 0 {
            return None;
        }
        self.report_at(sent)
    }

    /// Report `attempt` of what this device evaluated.
    fn report_at(&self, attempt: u32) -> Option<Report> {
        let (Some(c), Some(dev), Some(eval)) = (&self.campaign, &self.device, self.evaluated_at)
        else {
            return None;
        };
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
            attempt,
            evaluated_at: eval,
            kind,
        })
    }

    /// When the host should next call `Tick` (or send the due report); `None` when the
    /// device is waiting on nothing time-based.
    pub fn next_wake(&self) -> Option<Timestamp> {
        let c = self.campaign.as_ref()?;
        match self.phase {
            Phase::Applying | Phase::Evaluating => Some(rules::evaluation_due(c, self.received_at)),
            Phase::Reporting => {
                let r = self.report.as_ref()?;
                match r.sent_at {
                    None => Some(r.due),
                    Some(sent) => Some(rules::retry_instant(
                        c,
                        self.device.as_ref()?,
                        r.attempt - self.report_base,
                        sent,
                    )),
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
