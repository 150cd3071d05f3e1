//! Schema 1, frozen: the shapes that payload format 1 and the `DeviceV1` / `ServerV1`
//! records were written in, and their upcasts to today's types.
//!
//! Schema 1 had no care timeout ([`CarePolicy::timeout`]); an upcast campaign gets
//! [`DEFAULT_CARE_TIMEOUT`], the timeout a schedule that states none gets today, so a log
//! written before care timeouts existed replays to the state it would have had with the
//! default. Every other type inside these events still encodes as it did and is used as is.
//!
//! Never change a type here: old logs and old payloads are read through them. Field and
//! variant meanings are documented on the current types.

#![allow(missing_docs)]

use serde::{Deserialize, Serialize};

use crate::campaign::{Campaign, TargetSet, ValidCampaign};
use crate::device::{DeviceEvent, GiveUpReason};
use crate::error::ValidationError;
use crate::model::{CampaignId, DeviceId, Duration, Setting, Timestamp};
#[cfg(feature = "server")]
use crate::report::ReportKind;
use crate::report::{ApplyResult, Finding};
use crate::schedule::{
    AbortPolicy, AfterCare, CareAction, CarePolicy, CareSchedule, Condition, DEFAULT_CARE_TIMEOUT,
    ReportPolicy,
};
#[cfg(feature = "server")]
use crate::server::{EscalationReason, PauseReason, ServerEvent};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, bincode::BorrowDecode)]
pub struct CarePolicyV1 {
    pub action: CareAction,
    pub attempts: u32,
    pub spacing: Duration,
    pub then: AfterCare,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CareScheduleV1 {
    pub evaluate_after: Duration,
    pub conditions: Vec<Condition>,
    pub report: ReportPolicy,
    pub sample_success_ppm: u32,
    pub care: CarePolicyV1,
    pub abort: Option<AbortPolicy>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CampaignV1 {
    pub id: CampaignId,
    pub revision: u32,
    pub issued_at: Timestamp,
    pub salt: [u8; 16],
    pub targets: TargetSet,
    pub settings: Vec<Setting>,
    pub schedule: CareScheduleV1,
}

impl From<CampaignV1> for Campaign {
    fn from(c: CampaignV1) -> Campaign {
        let s = c.schedule;
        Campaign {
            id: c.id,
            revision: c.revision,
            issued_at: c.issued_at,
            salt: c.salt,
            targets: c.targets,
            settings: c.settings,
            schedule: CareSchedule {
                evaluate_after: s.evaluate_after,
                conditions: s.conditions,
                report: s.report,
                sample_success_ppm: s.sample_success_ppm,
                care: CarePolicy {
                    action: s.care.action,
                    attempts: s.care.attempts,
                    spacing: s.care.spacing,
                    then: s.care.then,
                    timeout: DEFAULT_CARE_TIMEOUT,
                },
                abort: s.abort,
            },
        }
    }
}

impl CampaignV1 {
    /// The schema-1 shape of `c`, when schema 1 can hold it: its care timeout is the
    /// default (what an upcast gives back). Lets a server keep broadcasting payload format
    /// 1, which devices of older builds read, until a campaign needs format 2.
    pub fn downcast(c: &Campaign) -> Option<CampaignV1> {
        let s = &c.schedule;
        (s.care.timeout == DEFAULT_CARE_TIMEOUT).then(|| CampaignV1 {
            id: c.id.clone(),
            revision: c.revision,
            issued_at: c.issued_at,
            salt: c.salt,
            targets: c.targets.clone(),
            settings: c.settings.clone(),
            schedule: CareScheduleV1 {
                evaluate_after: s.evaluate_after,
                conditions: s.conditions.clone(),
                report: s.report,
                sample_success_ppm: s.sample_success_ppm,
                care: CarePolicyV1 {
                    action: s.care.action,
                    attempts: s.care.attempts,
                    spacing: s.care.spacing,
                    then: s.care.then,
                },
                abort: s.abort,
            },
        })
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub enum DeviceEventV1 {
    PayloadAccepted {
        campaign: Box<CampaignV1>,
        device: DeviceId,
        at: Timestamp,
    },
    SettingsApplied {
        results: Vec<ApplyResult>,
        at: Timestamp,
    },
    Evaluated {
        findings: Vec<Finding>,
        sampled: bool,
        at: Timestamp,
    },
    ReportScheduled {
        attempt: u32,
        due: Timestamp,
    },
    ReportSent {
        attempt: u32,
        at: Timestamp,
    },
    ReportAcknowledged {
        attempt: u32,
        at: Timestamp,
    },
    CareReceived {
        attempt: u32,
        settings: Vec<u32>,
        at: Timestamp,
    },
    CareApplied {
        attempt: u32,
        results: Vec<ApplyResult>,
        at: Timestamp,
    },
    GaveUp {
        reason: GiveUpReason,
        at: Timestamp,
    },
}

/// The upcast re-checks a schema-1 campaign's rules, as decoding a schema-2 one does
/// ([`ValidCampaign`]).
impl TryFrom<DeviceEventV1> for DeviceEvent {
    type Error = ValidationError;

    fn try_from(e: DeviceEventV1) -> Result<DeviceEvent, ValidationError> {
        use DeviceEventV1 as V1;
        Ok(match e {
            V1::PayloadAccepted {
                campaign,
                device,
                at,
            } => DeviceEvent::PayloadAccepted {
                campaign: ValidCampaign::from_log((*campaign).into())?,
                device,
                at,
            },
            V1::SettingsApplied { results, at } => DeviceEvent::SettingsApplied { results, at },
            V1::Evaluated {
                findings,
                sampled,
                at,
            } => DeviceEvent::Evaluated {
                findings,
                sampled,
                at,
            },
            V1::ReportScheduled { attempt, due } => DeviceEvent::ReportScheduled { attempt, due },
            V1::ReportSent { attempt, at } => DeviceEvent::ReportSent { attempt, at },
            V1::ReportAcknowledged { attempt, at } => {
                DeviceEvent::ReportAcknowledged { attempt, at }
            }
            V1::CareReceived {
                attempt,
                settings,
                at,
            } => DeviceEvent::CareReceived {
                attempt,
                settings,
                at,
            },
            V1::CareApplied {
                attempt,
                results,
                at,
            } => DeviceEvent::CareApplied {
                attempt,
                results,
                at,
            },
            V1::GaveUp { reason, at } => DeviceEvent::GaveUp { reason, at },
        })
    }
}

#[cfg(feature = "server")]
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub enum ServerEventV1 {
    CampaignCreated {
        campaign: Box<CampaignV1>,
        targeted: u64,
        at: Timestamp,
    },
    BroadcastSent {
        at: Timestamp,
    },
    ReportAccepted {
        device: DeviceId,
        attempt: u32,
        evaluated_at: Timestamp,
        kind: ReportKind,
        late: bool,
        at: Timestamp,
    },
    CheckInBehind {
        device: DeviceId,
        applied_revision: u32,
        at: Timestamp,
    },
    LateReportReconciled {
        device: DeviceId,
        at: Timestamp,
    },
    CareScheduled {
        device: DeviceId,
        attempt: u32,
        settings: Vec<u32>,
        due: Timestamp,
    },
    CareDispatched {
        device: DeviceId,
        attempt: u32,
        at: Timestamp,
    },
    CareSucceeded {
        device: DeviceId,
        attempt: u32,
        at: Timestamp,
    },
    CareFailed {
        device: DeviceId,
        attempt: u32,
        at: Timestamp,
    },
    DeviceEscalated {
        device: DeviceId,
        reason: EscalationReason,
        at: Timestamp,
    },
    CareAbandoned {
        device: DeviceId,
        at: Timestamp,
    },
    CampaignPaused {
        reason: PauseReason,
        at: Timestamp,
    },
    CampaignResumed {
        at: Timestamp,
    },
    CampaignSettled {
        presumed_ok: u64,
        at: Timestamp,
    },
    OperatorPaused {
        at: Timestamp,
    },
    CampaignRevised {
        campaign: Box<CampaignV1>,
        targeted: u64,
        at: Timestamp,
    },
}

#[cfg(feature = "server")]
impl From<ServerEventV1> for ServerEvent {
    fn from(e: ServerEventV1) -> ServerEvent {
        use ServerEventV1 as V1;
        match e {
            V1::CampaignCreated {
                campaign,
                targeted,
                at,
            } => ServerEvent::CampaignCreated {
                campaign: Box::new((*campaign).into()),
                targeted,
                at,
            },
            V1::BroadcastSent { at } => ServerEvent::BroadcastSent { at },
            V1::ReportAccepted {
                device,
                attempt,
                evaluated_at,
                kind,
                late,
                at,
            } => ServerEvent::ReportAccepted {
                device,
                attempt,
                evaluated_at,
                kind,
                late,
                at,
            },
            V1::CheckInBehind {
                device,
                applied_revision,
                at,
            } => ServerEvent::CheckInBehind {
                device,
                applied_revision,
                at,
            },
            V1::LateReportReconciled { device, at } => {
                ServerEvent::LateReportReconciled { device, at }
            }
            V1::CareScheduled {
                device,
                attempt,
                settings,
                due,
            } => ServerEvent::CareScheduled {
                device,
                attempt,
                settings,
                due,
            },
            V1::CareDispatched {
                device,
                attempt,
                at,
            } => ServerEvent::CareDispatched {
                device,
                attempt,
                at,
            },
            V1::CareSucceeded {
                device,
                attempt,
                at,
            } => ServerEvent::CareSucceeded {
                device,
                attempt,
                at,
            },
            V1::CareFailed {
                device,
                attempt,
                at,
            } => ServerEvent::CareFailed {
                device,
                attempt,
                at,
            },
            V1::DeviceEscalated { device, reason, at } => {
                ServerEvent::DeviceEscalated { device, reason, at }
            }
            V1::CareAbandoned { device, at } => ServerEvent::CareAbandoned { device, at },
            V1::CampaignPaused { reason, at } => ServerEvent::CampaignPaused { reason, at },
            V1::CampaignResumed { at } => ServerEvent::CampaignResumed { at },
            V1::CampaignSettled { presumed_ok, at } => {
                ServerEvent::CampaignSettled { presumed_ok, at }
            }
            V1::OperatorPaused { at } => ServerEvent::OperatorPaused { at },
            V1::CampaignRevised {
                campaign,
                targeted,
                at,
            } => ServerEvent::CampaignRevised {
                campaign: Box::new((*campaign).into()),
                targeted,
                at,
            },
        }
    }
}
