//! The server side: one decider per campaign stream.
//!
//! Cost is O(failures), not O(fleet): targets stay a set description, and per-device state
//! ([`Case`]) exists only for devices that reported or checked in behind.
//!
//! Effects for the host — the care orders due now — are read off the state
//! ([`ServerState::due_care`]); `decide` sends nothing.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::decider::Decider;
use crate::error::ValidationError;
use crate::model::{Campaign, DeviceId, Limits, Timestamp};
use crate::report::{Finding, Report, ReportKind};
use crate::schedule::{AfterCare, CareAction};
use crate::stats::{Coverage, wilson_interval};

/// What the server host asks of the server decider.
#[derive(Debug, Clone, PartialEq)]
pub enum ServerCommand {
    /// Start a campaign. `targeted` is the number of target devices: required for `All` and
    /// `Groups` targets (the server's directory knows it), optional for an explicit list
    /// (whose length it must equal).
    Create {
        /// The campaign.
        campaign: Box<Campaign>,
        /// Number of targets.
        targeted: Option<u64>,
        /// When.
        at: Timestamp,
    },
    /// The payload went out over the broadcast channel.
    MarkBroadcast {
        /// When.
        at: Timestamp,
    },
    /// A report arrived (already authenticated by the host or the wire format).
    AcceptReport {
        /// The report.
        report: Report,
        /// The reporting device's groups, from the server's directory.
        groups: Vec<String>,
        /// When it arrived.
        at: Timestamp,
    },
    /// A device states, in an ordinary DM session, which revision it has applied
    /// (0 = none).
    CheckIn {
        /// The device.
        device: DeviceId,
        /// Its groups, from the server's directory.
        groups: Vec<String>,
        /// Revision it has applied.
        applied_revision: u32,
        /// When.
        at: Timestamp,
    },
    /// The host sent care order `attempt` to `device`.
    DispatchCare {
        /// The device.
        device: DeviceId,
        /// Care attempt.
        attempt: u32,
        /// When.
        at: Timestamp,
    },
    /// The outcome of care `attempt` for `device` (from the unicast DM session's statuses).
    RecordCareOutcome {
        /// The device.
        device: DeviceId,
        /// Care attempt.
        attempt: u32,
        /// All re-provisioned settings succeeded.
        success: bool,
        /// When.
        at: Timestamp,
    },
    /// An operator resumes a paused campaign; the abort threshold does not fire again.
    Resume {
        /// When.
        at: Timestamp,
    },
    /// Time passed: settle after the report deadline.
    Tick {
        /// Now.
        now: Timestamp,
    },
}

/// Why a device was escalated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum EscalationReason {
    /// Every care attempt failed and the policy says escalate.
    CareExhausted,
    /// The policy's action is notify-only: the operator handles it.
    NotifyOnly,
}

/// Why care was paused.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PauseReason {
    /// Failures (reports and check-ins behind) when it fired.
    pub failure_reports: u64,
    /// Targets.
    pub targeted: u64,
    /// The policy's threshold.
    pub threshold: f64,
}

/// Everything that happens on the server, per campaign stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ServerEvent {
    /// The campaign exists.
    CampaignCreated {
        /// The campaign.
        campaign: Box<Campaign>,
        /// Number of targets.
        targeted: u64,
        /// When.
        at: Timestamp,
    },
    /// The payload was broadcast.
    BroadcastSent {
        /// When.
        at: Timestamp,
    },
    /// A report was taken.
    ReportAccepted {
        /// Who.
        device: DeviceId,
        /// Attempt number of the report.
        attempt: u32,
        /// When the device evaluated.
        evaluated_at: Timestamp,
        /// What it said.
        kind: ReportKind,
        /// Arrived after the campaign settled.
        late: bool,
        /// When.
        at: Timestamp,
    },
    /// A target checked in with an older revision.
    CheckInBehind {
        /// Who.
        device: DeviceId,
        /// What it has.
        applied_revision: u32,
        /// When.
        at: Timestamp,
    },
    /// A device presumed OK at settlement turned out not to be.
    LateReportReconciled {
        /// Who.
        device: DeviceId,
        /// When.
        at: Timestamp,
    },
    /// Care attempt `attempt` for `device` is due at `due`.
    CareScheduled {
        /// Who.
        device: DeviceId,
        /// Care attempt, from 1.
        attempt: u32,
        /// Setting indices to re-provision.
        settings: Vec<u32>,
        /// When.
        due: Timestamp,
    },
    /// The host sent the care.
    CareDispatched {
        /// Who.
        device: DeviceId,
        /// Care attempt.
        attempt: u32,
        /// When.
        at: Timestamp,
    },
    /// The care fixed the device.
    CareSucceeded {
        /// Who.
        device: DeviceId,
        /// Care attempt.
        attempt: u32,
        /// When.
        at: Timestamp,
    },
    /// The care did not fix the device.
    CareFailed {
        /// Who.
        device: DeviceId,
        /// Care attempt.
        attempt: u32,
        /// When.
        at: Timestamp,
    },
    /// A human must look at this device.
    DeviceEscalated {
        /// Who.
        device: DeviceId,
        /// Why.
        reason: EscalationReason,
        /// When.
        at: Timestamp,
    },
    /// Care was given up (policy `then = give-up`).
    CareAbandoned {
        /// Who.
        device: DeviceId,
        /// When.
        at: Timestamp,
    },
    /// The failure ratio passed the abort threshold: care is paused.
    CampaignPaused {
        /// Why.
        reason: PauseReason,
        /// When.
        at: Timestamp,
    },
    /// An operator resumed care.
    CampaignResumed {
        /// When.
        at: Timestamp,
    },
    /// The report deadline passed: silent targets are presumed OK.
    CampaignSettled {
        /// Targets presumed OK at settlement.
        presumed_ok: u64,
        /// When.
        at: Timestamp,
    },
}

/// Why the server refused a command. A refused command appends nothing.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ServerError {
    /// Create on a stream that already has a campaign.
    #[error("campaign {0} already exists")]
    AlreadyCreated(String),
    /// A command before Create.
    #[error("no campaign has been created on this stream")]
    NoCampaign,
    /// The campaign broke a rule.
    #[error("invalid campaign: {0}")]
    Invalid(#[from] ValidationError),
    /// `targeted` missing or inconsistent.
    #[error("targets: {0}")]
    TargetCount(&'static str),
    /// A report or check-in for another campaign.
    #[error("report is for campaign {got}, this stream is {stream}")]
    UnknownCampaign {
        /// This stream's campaign.
        stream: String,
        /// The report's.
        got: String,
    },
    /// A report for another revision.
    #[error("report is for revision {got}, the campaign is at revision {current}")]
    WrongRevision {
        /// Current revision.
        current: u32,
        /// The report's.
        got: u32,
    },
    /// The device is not a target.
    #[error("device {0} is not a target of this campaign")]
    NotTargeted(String),
    /// The device already has a case: this report (any attempt) is a duplicate.
    #[error("device {device} already reported (this is attempt {attempt})")]
    Duplicate {
        /// Who.
        device: String,
        /// The duplicate's attempt.
        attempt: u32,
    },
    /// Attempt 0 or a report with no findings claiming failure.
    #[error("malformed report: {0}")]
    MalformedReport(&'static str),
    /// A finding names a setting the campaign does not have.
    #[error("finding names setting {index}, the campaign has {settings}")]
    NoSuchSetting {
        /// Index.
        index: u32,
        /// Number of settings.
        settings: usize,
    },
    /// Care command for a device with no case.
    #[error("device {0} has no open case")]
    NoCase(String),
    /// Care command that does not fit the case.
    #[error("device {device}: {what}")]
    CareMismatch {
        /// Who.
        device: String,
        /// What does not fit.
        what: String,
    },
    /// Care dispatch while paused.
    #[error("care is paused by the abort threshold; resume first")]
    Paused,
    /// Resume while not paused.
    #[error("the campaign is not paused")]
    NotPaused,
    /// Broadcast marked twice.
    #[error("broadcast already marked")]
    AlreadyBroadcast,
}

impl ServerError {
    /// Short stable kebab-case name of this refusal, unique per variant: runtime counters,
    /// C result codes, binding reasons and CLI messages all derive from it.
    pub fn reason(&self) -> &'static str {
        match self {
            ServerError::AlreadyCreated(_) => "already-created",
            ServerError::NoCampaign => "unknown-campaign",
            ServerError::Invalid(_) => "invalid-campaign",
            ServerError::TargetCount(_) => "target-count",
            ServerError::UnknownCampaign { .. } => "wrong-campaign",
            ServerError::WrongRevision { .. } => "wrong-revision",
            ServerError::NotTargeted(_) => "not-targeted",
            ServerError::Duplicate { .. } => "duplicate",
            ServerError::MalformedReport(_) => "malformed-report",
            ServerError::NoSuchSetting { .. } => "no-such-setting",
            ServerError::NoCase(_) => "no-case",
            ServerError::CareMismatch { .. } => "care-mismatch",
            ServerError::Paused => "paused",
            ServerError::NotPaused => "not-paused",
            ServerError::AlreadyBroadcast => "already-broadcast",
        }
    }

    /// The OMA DM status a host answers a device with when this refusal concerns the
    /// device's report: 200 for a duplicate (the device must stop retrying), 403 not a
    /// target, 404 unknown campaign or revision, 400 a malformed report, 500 for a refusal
    /// that points at the server's own state.
    pub fn dm_status(&self) -> u16 {
        match self {
            ServerError::Duplicate { .. } => 200,
            ServerError::NotTargeted(_) => 403,
            ServerError::UnknownCampaign { .. }
            | ServerError::NoCampaign
            | ServerError::WrongRevision { .. } => 404,
            ServerError::MalformedReport(_) | ServerError::NoSuchSetting { .. } => 400,
            ServerError::AlreadyCreated(_)
            | ServerError::Invalid(_)
            | ServerError::TargetCount(_)
            | ServerError::NoCase(_)
            | ServerError::CareMismatch { .. }
            | ServerError::Paused
            | ServerError::NotPaused
            | ServerError::AlreadyBroadcast => 500,
        }
    }
}

/// Where a device's case stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CaseStatus {
    /// Sent a success probe: healthy.
    Healthy,
    /// Care `attempt` is scheduled for `due`.
    CareScheduled {
        /// Care attempt.
        attempt: u32,
        /// When.
        due: Timestamp,
    },
    /// Care `attempt` was sent; waiting for its outcome.
    CareInFlight {
        /// Care attempt.
        attempt: u32,
    },
    /// Care fixed it.
    Recovered,
    /// A human must look at it.
    Escalated,
    /// Care was given up.
    Abandoned,
}

/// How a case was opened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum CaseOrigin {
    /// A report.
    Report {
        /// Attempt of the accepted report.
        attempt: u32,
        /// What it said.
        kind: ReportKind,
        /// After settlement.
        late: bool,
    },
    /// A check-in behind the campaign's revision.
    CheckInBehind {
        /// Revision the device had.
        applied_revision: u32,
    },
}

/// Per-device state: only for devices that reported or checked in behind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Case {
    /// How it was opened.
    pub origin: CaseOrigin,
    /// When.
    pub opened_at: Timestamp,
    /// Where it stands.
    pub status: CaseStatus,
    /// Settings the care re-provisions.
    pub care_settings: Vec<u32>,
}

impl Case {
    /// Whether the case counts as a failure (not a success probe).
    pub fn is_failure(&self) -> bool {
        match &self.origin {
            CaseOrigin::Report { kind, .. } => kind.is_failure(),
            CaseOrigin::CheckInBehind { .. } => true,
        }
    }
}

/// Counters folded from events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Counters {
    /// Failure reports accepted.
    pub failure_reports: u64,
    /// Success probes accepted.
    pub success_reports: u64,
    /// Reports accepted after settlement.
    pub late_reports: u64,
    /// Presumed-OK devices later found failed.
    pub reconciled: u64,
    /// Check-ins behind.
    pub checkins_behind: u64,
    /// Care orders sent.
    pub care_dispatched: u64,
    /// Care orders that failed.
    pub care_failed: u64,
    /// Devices recovered by care.
    pub recovered: u64,
    /// Devices escalated.
    pub escalated: u64,
    /// Devices whose care was given up.
    pub abandoned: u64,
}

/// A care order the host must send now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CareOrder {
    /// To whom.
    pub device: DeviceId,
    /// Care attempt.
    pub attempt: u32,
    /// Setting indices to re-provision (all settings for re-provision-all and check-ins).
    pub settings: Vec<u32>,
    /// When it became due.
    pub due: Timestamp,
}

/// Statistics of one campaign.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CampaignStats {
    /// Target devices.
    pub targeted: u64,
    /// Failure reports accepted.
    pub failure_reports: u64,
    /// Success probes accepted.
    pub sampled_successes: u64,
    /// Reports accepted after settlement.
    pub late_reports: u64,
    /// Targets that checked in behind.
    pub checkins_behind: u64,
    /// Care orders sent.
    pub care_attempts: u64,
    /// Devices with care still pending.
    pub in_care: u64,
    /// Devices recovered by care.
    pub recovered: u64,
    /// Devices escalated.
    pub escalated: u64,
    /// Devices whose care was given up.
    pub abandoned: u64,
    /// Targets neither failed nor behind: presumed OK (final once settled).
    pub presumed_ok: u64,
    /// Care is paused by the abort threshold.
    pub paused: bool,
    /// The report deadline passed.
    pub settled: bool,
    /// Estimated share of targets that received the broadcast, when sampling is on.
    pub coverage: Option<Coverage>,
}

/// The folded state of one server campaign stream.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ServerState {
    /// The campaign.
    pub campaign: Option<Campaign>,
    /// Number of targets.
    pub targeted: u64,
    /// When the broadcast went out.
    pub broadcast_at: Option<Timestamp>,
    /// Per-device cases.
    pub cases: BTreeMap<DeviceId, Case>,
    /// Scheduled, undispatched care, by due time.
    pub care_queue: BTreeSet<(Timestamp, DeviceId)>,
    /// Why care is paused, if it is.
    pub paused: Option<PauseReason>,
    /// An operator resumed once: the threshold stays quiet.
    pub resumed: bool,
    /// When the campaign settled.
    pub settled_at: Option<Timestamp>,
    /// Presumed OK at settlement.
    pub presumed_ok_at_settle: Option<u64>,
    /// Counters.
    pub counters: Counters,
}

impl ServerState {
    fn campaign(&self) -> Result<&Campaign, ServerError> {
        self.campaign.as_ref().ok_or(ServerError::NoCampaign)
    }

    /// Care orders due at `now` (empty while paused), earliest first, at most `max`.
    pub fn due_care(&self, now: Timestamp, max: usize) -> Vec<CareOrder> {
        if self.paused.is_some() {
            return vec![];
        }
        self.care_queue
            .iter()
            .take_while(|(due, _)| *due <= now)
            .take(max)
            .filter_map(|(due, dev)| {
                let case = self.cases.get(dev)?;
                let CaseStatus::CareScheduled { attempt, .. } = case.status else {
                    return None;
                };
                Some(CareOrder {
                    device: dev.clone(),
                    attempt,
                    settings: case.care_settings.clone(),
                    due: *due,
                })
            })
            .collect()
    }

    /// When the next scheduled care or the settlement falls due, if anything is waiting.
    pub fn next_wake(&self) -> Option<Timestamp> {
        let care = if self.paused.is_some() {
            None
        } else {
            self.care_queue.first().map(|(t, _)| *t)
        };
        let settle = match (&self.campaign, self.settled_at) {
            (Some(c), None) => Some(c.report_deadline()),
            _ => None,
        };
        match (care, settle) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Failure cases (reports + check-ins behind).
    pub fn failed(&self) -> u64 {
        self.counters.failure_reports + self.counters.checkins_behind
    }

    /// The campaign's statistics.
    pub fn stats(&self) -> CampaignStats {
        let k = &self.counters;
        let failed = self.failed();
        let healthy_pool = self.targeted.saturating_sub(failed);
        let ppm = self
            .campaign
            .as_ref()
            .map_or(0, |c| c.schedule.sample_success_ppm);
        let coverage = (ppm > 0 && self.targeted > 0).then(|| {
            let p = f64::from(ppm) / 1e6;
            let (q, lo, hi) = wilson_interval(k.success_reports, healthy_pool);
            let t = self.targeted as f64;
            let scale = |q: f64| {
                ((failed as f64 + (q / p).min(1.0) * healthy_pool as f64) / t).clamp(0.0, 1.0)
            };
            Coverage {
                estimate: scale(q),
                lo: scale(lo),
                hi: scale(hi),
            }
        });
        CampaignStats {
            targeted: self.targeted,
            failure_reports: k.failure_reports,
            sampled_successes: k.success_reports,
            late_reports: k.late_reports,
            checkins_behind: k.checkins_behind,
            care_attempts: k.care_dispatched,
            in_care: failed.saturating_sub(k.recovered + k.escalated + k.abandoned),
            recovered: k.recovered,
            escalated: k.escalated,
            abandoned: k.abandoned,
            presumed_ok: healthy_pool,
            paused: self.paused.is_some(),
            settled: self.settled_at.is_some(),
            coverage,
        }
    }
}

/// The server decider.
#[derive(Debug, Clone, Copy, Default)]
pub struct Server;

fn care_settings(campaign: &Campaign, findings: Option<&[Finding]>) -> Vec<u32> {
    let all = || (0..campaign.settings.len() as u32).collect::<Vec<_>>();
    match (campaign.schedule.care.action, findings) {
        (CareAction::ReprovisionFailed, Some(f)) => {
            let mut s: Vec<u32> = f.iter().filter_map(Finding::setting).collect();
            s.sort_unstable();
            s.dedup();
            // A report with only timing findings names no setting: re-provision them all.
            if s.is_empty() { all() } else { s }
        }
        _ => all(),
    }
}

/// Events that open care for a failed device: schedule the first attempt, or escalate at
/// once under notify-only; then the abort check.
fn open_care(
    state: &ServerState,
    campaign: &Campaign,
    device: &DeviceId,
    settings: Vec<u32>,
    at: Timestamp,
    events: &mut Vec<ServerEvent>,
) {
    if campaign.schedule.care.action == CareAction::NotifyOnly {
        events.push(ServerEvent::DeviceEscalated {
            device: device.clone(),
            reason: EscalationReason::NotifyOnly,
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
    if let Some(abort) = &campaign.schedule.abort
        && state.paused.is_none()
        && !state.resumed
    {
        let failures = state.failed() + 1;
        if failures >= abort.min_reports
            && state.targeted > 0
            && failures as f64 / state.targeted as f64 > abort.failure_ratio
        {
            events.push(ServerEvent::CampaignPaused {
                reason: PauseReason {
                    failure_reports: failures,
                    targeted: state.targeted,
                    threshold: abort.failure_ratio,
                },
                at,
            });
        }
    }
}

impl Decider for Server {
    type State = ServerState;
    type Command = ServerCommand;
    type Event = ServerEvent;
    type Error = ServerError;

    fn decide(
        state: &ServerState,
        command: &ServerCommand,
    ) -> Result<Vec<ServerEvent>, ServerError> {
        match command {
            ServerCommand::Create {
                campaign,
                targeted,
                at,
            } => {
                if let Some(c) = &state.campaign {
                    return Err(ServerError::AlreadyCreated(c.id.to_string()));
                }
                campaign.validate(&Limits::DEFAULT)?;
                let targeted = match (campaign.targets.known_len(), targeted) {
                    (Some(n), None) => n,
                    (Some(n), Some(t)) if n == *t => n,
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
                    (None, Some(t)) => *t,
                    (None, None) => {
                        return Err(ServerError::TargetCount(
                            "all/groups targets need the number of targeted devices",
                        ));
                    }
                };
                Ok(vec![ServerEvent::CampaignCreated {
                    campaign: campaign.clone(),
                    targeted,
                    at: *at,
                }])
            }
            ServerCommand::MarkBroadcast { at } => {
                state.campaign()?;
                if state.broadcast_at.is_some() {
                    return Err(ServerError::AlreadyBroadcast);
                }
                Ok(vec![ServerEvent::BroadcastSent { at: *at }])
            }
            ServerCommand::AcceptReport { report, groups, at } => {
                let c = state.campaign()?;
                if report.campaign != c.id {
                    return Err(ServerError::UnknownCampaign {
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
                if state.cases.contains_key(&report.device) {
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
                    _ => None,
                };
                let late = state.settled_at.is_some();
                let mut events = vec![ServerEvent::ReportAccepted {
                    device: report.device.clone(),
                    attempt: report.attempt,
                    evaluated_at: report.evaluated_at,
                    kind: report.kind.clone(),
                    late,
                    at: *at,
                }];
                if report.kind.is_failure() {
                    if late {
                        events.push(ServerEvent::LateReportReconciled {
                            device: report.device.clone(),
                            at: *at,
                        });
                    }
                    open_care(
                        state,
                        c,
                        &report.device,
                        care_settings(c, findings),
                        *at,
                        &mut events,
                    );
                }
                Ok(events)
            }
            ServerCommand::CheckIn {
                device,
                groups,
                applied_revision,
                at,
            } => {
                let c = state.campaign()?;
                if !c.targets.contains(device, groups) {
                    return Err(ServerError::NotTargeted(device.to_string()));
                }
                if *applied_revision >= c.revision || state.cases.contains_key(device) {
                    return Ok(vec![]); // up to date, or already in care: nothing to do
                }
                let mut events = vec![ServerEvent::CheckInBehind {
                    device: device.clone(),
                    applied_revision: *applied_revision,
                    at: *at,
                }];
                if state.settled_at.is_some() {
                    events.push(ServerEvent::LateReportReconciled {
                        device: device.clone(),
                        at: *at,
                    });
                }
                let all = (0..c.settings.len() as u32).collect();
                open_care(state, c, device, all, *at, &mut events);
                Ok(events)
            }
            ServerCommand::DispatchCare {
                device,
                attempt,
                at,
            } => {
                state.campaign()?;
                if state.paused.is_some() {
                    return Err(ServerError::Paused);
                }
                let case = state
                    .cases
                    .get(device)
                    .ok_or_else(|| ServerError::NoCase(device.to_string()))?;
                match case.status {
                    CaseStatus::CareScheduled { attempt: a, due } if a == *attempt => {
                        if *at < due {
                            return Err(ServerError::CareMismatch {
                                device: device.to_string(),
                                what: format!("care attempt {a} is not due before {due}"),
                            });
                        }
                        Ok(vec![ServerEvent::CareDispatched {
                            device: device.clone(),
                            attempt: *attempt,
                            at: *at,
                        }])
                    }
                    CaseStatus::CareInFlight { attempt: a } if a == *attempt => Ok(vec![]),
                    other => Err(ServerError::CareMismatch {
                        device: device.to_string(),
                        what: format!("cannot dispatch care attempt {attempt} in state {other:?}"),
                    }),
                }
            }
            ServerCommand::RecordCareOutcome {
                device,
                attempt,
                success,
                at,
            } => {
                let c = state.campaign()?;
                let case = state
                    .cases
                    .get(device)
                    .ok_or_else(|| ServerError::NoCase(device.to_string()))?;
                let CaseStatus::CareInFlight { attempt: a } = case.status else {
                    return Err(ServerError::CareMismatch {
                        device: device.to_string(),
                        what: format!("no care in flight (state {:?})", case.status),
                    });
                };
                if a != *attempt {
                    return Err(ServerError::CareMismatch {
                        device: device.to_string(),
                        what: format!("care attempt {a} is in flight, not {attempt}"),
                    });
                }
                let (device, attempt, at) = (device.clone(), *attempt, *at);
                if *success {
                    return Ok(vec![ServerEvent::CareSucceeded {
                        device,
                        attempt,
                        at,
                    }]);
                }
                let care = &c.schedule.care;
                let next = if attempt < care.attempts {
                    ServerEvent::CareScheduled {
                        device: device.clone(),
                        attempt: attempt + 1,
                        settings: case.care_settings.clone(),
                        due: at.plus(care.spacing),
                    }
                } else {
                    match care.then {
                        AfterCare::Escalate => ServerEvent::DeviceEscalated {
                            device: device.clone(),
                            reason: EscalationReason::CareExhausted,
                            at,
                        },
                        AfterCare::GiveUp => ServerEvent::CareAbandoned {
                            device: device.clone(),
                            at,
                        },
                    }
                };
                Ok(vec![
                    ServerEvent::CareFailed {
                        device,
                        attempt,
                        at,
                    },
                    next,
                ])
            }
            ServerCommand::Resume { at } => {
                state.campaign()?;
                if state.paused.is_none() {
                    return Err(ServerError::NotPaused);
                }
                Ok(vec![ServerEvent::CampaignResumed { at: *at }])
            }
            ServerCommand::Tick { now } => {
                let c = state.campaign()?;
                if state.settled_at.is_none() && *now >= c.report_deadline() {
                    return Ok(vec![ServerEvent::CampaignSettled {
                        presumed_ok: state.targeted.saturating_sub(state.failed()),
                        at: *now,
                    }]);
                }
                Ok(vec![])
            }
        }
    }

    fn evolve(state: &mut ServerState, event: &ServerEvent) {
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
                kind,
                late,
                at,
                ..
            } => {
                let k = &mut state.counters;
                if kind.is_failure() {
                    k.failure_reports += 1;
                } else {
                    k.success_reports += 1;
                }
                if *late {
                    k.late_reports += 1;
                }
                state.cases.insert(
                    device.clone(),
                    Case {
                        origin: CaseOrigin::Report {
                            attempt: *attempt,
                            kind: kind.clone(),
                            late: *late,
                        },
                        opened_at: *at,
                        status: CaseStatus::Healthy,
                        care_settings: vec![],
                    },
                );
            }
            ServerEvent::CheckInBehind {
                device,
                applied_revision,
                at,
            } => {
                state.counters.checkins_behind += 1;
                state.cases.insert(
                    device.clone(),
                    Case {
                        origin: CaseOrigin::CheckInBehind {
                            applied_revision: *applied_revision,
                        },
                        opened_at: *at,
                        status: CaseStatus::Healthy,
                        care_settings: vec![],
                    },
                );
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
                    state.care_queue.insert((*due, device.clone()));
                }
            }
            ServerEvent::CareDispatched {
                device, attempt, ..
            } => {
                if let Some(case) = state.cases.get_mut(device) {
                    if let CaseStatus::CareScheduled { due, .. } = case.status {
                        state.care_queue.remove(&(due, device.clone()));
                    }
                    case.status = CaseStatus::CareInFlight { attempt: *attempt };
                    state.counters.care_dispatched += 1;
                }
            }
            ServerEvent::CareSucceeded { device, .. } => {
                if let Some(case) = state.cases.get_mut(device) {
                    case.status = CaseStatus::Recovered;
                    state.counters.recovered += 1;
                }
            }
            ServerEvent::CareFailed { .. } => state.counters.care_failed += 1,
            ServerEvent::DeviceEscalated { device, .. } => {
                if let Some(case) = state.cases.get_mut(device) {
                    remove_from_queue(&mut state.care_queue, device, case.status);
                    case.status = CaseStatus::Escalated;
                    state.counters.escalated += 1;
                }
            }
            ServerEvent::CareAbandoned { device, .. } => {
                if let Some(case) = state.cases.get_mut(device) {
                    remove_from_queue(&mut state.care_queue, device, case.status);
                    case.status = CaseStatus::Abandoned;
                    state.counters.abandoned += 1;
                }
            }
            ServerEvent::CampaignPaused { reason, .. } => state.paused = Some(*reason),
            ServerEvent::CampaignResumed { .. } => {
                state.paused = None;
                state.resumed = true;
            }
            ServerEvent::CampaignSettled { presumed_ok, at } => {
                state.settled_at = Some(*at);
                state.presumed_ok_at_settle = Some(*presumed_ok);
            }
        }
    }
}

fn remove_from_queue(
    queue: &mut BTreeSet<(Timestamp, DeviceId)>,
    device: &DeviceId,
    status: CaseStatus,
) {
    if let CaseStatus::CareScheduled { due, .. } = status {
        queue.remove(&(due, device.clone()));
    }
}
