//! [`DeviceError`]: why the device decider refused a command.

use crate::model::Timestamp;

/// Why the device refused a command. A refused command appends nothing.
#[derive(Debug, Clone, PartialEq, thiserror::Error, strum::IntoStaticStr)]
#[strum(serialize_all = "kebab-case")]
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
    /// Care for a revision the device does not hold (an order of an older revision).
    #[error("care is for revision {got}, the device holds revision {have}")]
    WrongRevision {
        /// The revision the device holds.
        have: u32,
        /// The care order's revision.
        got: u32,
    },
    /// A care setting index outside the campaign.
    #[error("care names setting {index}, the campaign has {settings}")]
    NoSuchSetting {
        /// The index.
        index: u32,
        /// Number of settings.
        settings: usize,
    },
    /// A DM status that is not a definitive refusal (a success, or one worth resending).
    #[error(
        "DM status {0} is not a definitive refusal: acknowledge a 200, resend after 5xx, 408 or 429"
    )]
    NotARefusal(u16),
}

impl DeviceError {
    /// The refusal's stable name: its variant's name in kebab-case, derived (strum), so
    /// it cannot drift from the variant. Runtime counters, C result codes, binding reasons
    /// and CLI messages all derive from it.
    pub fn reason(&self) -> &'static str {
        self.into()
    }
}
