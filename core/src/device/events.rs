//! [`DeviceEvent`]: everything that happens on a device, per campaign stream.

use serde::{Deserialize, Serialize};

use crate::model::{DeviceId, Timestamp, ValidCampaign};
use crate::report::{ApplyResult, Finding};
use crate::rules::GiveUpReason;

/// Everything that happens on a device, per campaign stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum DeviceEvent {
    /// A targeted, new revision was taken on.
    PayloadAccepted {
        /// The campaign (encoded as the [`Campaign`](crate::model::Campaign) it holds).
        campaign: ValidCampaign,
        /// This device.
        device: DeviceId,
        /// When it happened: the time of the command that caused it.
        at: Timestamp,
    },
    /// The host's per-setting results.
    SettingsApplied {
        /// Results in setting order.
        results: Vec<ApplyResult>,
        /// When it happened: the time of the command that caused it.
        at: Timestamp,
    },
    /// The outcome was checked against the schedule. Healthy iff `findings` is empty.
    Evaluated {
        /// Why the device is exceptional (sorted, unique); empty when healthy.
        findings: Vec<Finding>,
        /// Healthy and picked as a coverage probe.
        sampled: bool,
        /// When it happened: the time of the command that caused it.
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
        /// When it happened: the time of the command that caused it.
        at: Timestamp,
    },
    /// The server has the report.
    ReportAcknowledged {
        /// The attempt acknowledged.
        attempt: u32,
        /// When it happened: the time of the command that caused it.
        at: Timestamp,
    },
    /// Unicast care arrived.
    CareReceived {
        /// Server's care attempt.
        attempt: u32,
        /// Setting indices to re-apply.
        settings: Vec<u32>,
        /// When it happened: the time of the command that caused it.
        at: Timestamp,
    },
    /// Care settings were re-applied.
    CareApplied {
        /// Server's care attempt.
        attempt: u32,
        /// Results in care order.
        results: Vec<ApplyResult>,
        /// When it happened: the time of the command that caused it.
        at: Timestamp,
    },
    /// The device stopped trying to report.
    GaveUp {
        /// Why.
        reason: GiveUpReason,
        /// When it happened: the time of the command that caused it.
        at: Timestamp,
    },
    /// A recheck found a device that was done failing again: it reports again.
    Relapsed {
        /// What the recheck found (never empty).
        findings: Vec<Finding>,
        /// When it happened: the time of the command that caused it.
        at: Timestamp,
    },
}

impl DeviceEvent {
    /// The time this event says the device has reached: its `at`. `None` for
    /// [`Self::ReportScheduled`], whose `due` lies ahead. The state's clock
    /// ([`DeviceState::clock`](crate::device::DeviceState::clock)) is the latest of these.
    pub fn time(&self) -> Option<Timestamp> {
        use DeviceEvent as E;
        match self {
            E::ReportScheduled { .. } => None,
            E::PayloadAccepted { at, .. }
            | E::SettingsApplied { at, .. }
            | E::Evaluated { at, .. }
            | E::ReportSent { at, .. }
            | E::ReportAcknowledged { at, .. }
            | E::CareReceived { at, .. }
            | E::CareApplied { at, .. }
            | E::GaveUp { at, .. }
            | E::Relapsed { at, .. } => Some(*at),
        }
    }
}
