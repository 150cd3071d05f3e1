//! [`DeviceCommand`]: what the device host asks of the device decider.

use crate::model::{DeviceId, Timestamp, ValidCampaign};
use crate::report::ApplyResult;

/// What the device host asks of the device decider.
#[derive(Debug, Clone, PartialEq)]
pub enum DeviceCommand {
    /// A payload arrived and was verified (signature, size): take it on if targeted and new.
    Receive {
        /// The verified campaign (validated once, when the payload was opened).
        campaign: ValidCampaign,
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
        /// The host's current time (ms since the epoch).
        now: Timestamp,
    },
    /// The host sent report `attempt`.
    MarkSent {
        /// Which attempt.
        attempt: u32,
        /// The host's time when it gives the command (ms since the epoch).
        at: Timestamp,
    },
    /// The server acknowledged report `attempt` (or an earlier one).
    Acknowledge {
        /// Which attempt.
        attempt: u32,
        /// The host's time when it gives the command (ms since the epoch).
        at: Timestamp,
    },
    /// The server answered report `attempt` with a definitive refusal
    /// ([`rules::is_definitive_refusal`](crate::rules::is_definitive_refusal)): stop
    /// resending it.
    Refused {
        /// Which attempt.
        attempt: u32,
        /// The server's DM status.
        status: u16,
        /// The host's time when it gives the command (ms since the epoch).
        at: Timestamp,
    },
    /// The server sent unicast care: re-apply these settings (indices into the campaign).
    ReceiveCare {
        /// The campaign revision the care order is for (a device refuses care for a
        /// revision it does not hold).
        revision: u32,
        /// The server's care attempt number.
        attempt: u32,
        /// Setting indices to re-apply.
        settings: Vec<u32>,
        /// The host's time when it gives the command (ms since the epoch).
        at: Timestamp,
    },
    /// The host re-applied the care settings: one result per care setting, in order.
    RecordCareApplied {
        /// The care attempt.
        attempt: u32,
        /// Results in the order of the care's settings.
        results: Vec<ApplyResult>,
        /// The host's time when it gives the command (ms since the epoch).
        at: Timestamp,
    },
    /// The host read the campaign's settings back (a periodic check, or after something
    /// else touched the DM tree): one result per setting, in order. A device that was done —
    /// healthy, confirmed or recovered — and now fails the result conditions has relapsed
    /// and reports again (a new case cycle on the server). Nothing changes while it passes.
    Recheck {
        /// One per setting of the campaign (a missing one is a finding).
        results: Vec<ApplyResult>,
        /// When the host read them.
        at: Timestamp,
    },
}

impl DeviceCommand {
    /// The time the command is stamped with.
    pub fn time(&self) -> Timestamp {
        use DeviceCommand as C;
        match self {
            C::Receive { at: x, .. }
            | C::RecordApplied { at: x, .. }
            | C::Tick { now: x, .. }
            | C::MarkSent { at: x, .. }
            | C::Acknowledge { at: x, .. }
            | C::Refused { at: x, .. }
            | C::ReceiveCare { at: x, .. }
            | C::RecordCareApplied { at: x, .. }
            | C::Recheck { at: x, .. } => *x,
        }
    }

    /// The same command stamped `t`. A decider decides a command stamped before its state's
    /// clock as this, stamped at the clock (time never runs back).
    pub fn retimed(mut self, t: Timestamp) -> Self {
        use DeviceCommand as C;
        match &mut self {
            C::Receive { at: x, .. }
            | C::RecordApplied { at: x, .. }
            | C::Tick { now: x, .. }
            | C::MarkSent { at: x, .. }
            | C::Acknowledge { at: x, .. }
            | C::Refused { at: x, .. }
            | C::ReceiveCare { at: x, .. }
            | C::RecordCareApplied { at: x, .. }
            | C::Recheck { at: x, .. } => *x = t,
        }
        self
    }
}
