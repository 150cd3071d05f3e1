//! [`ServerError`]: why the server decider refused a command.

use crate::error::ValidationError;

/// Why the server refused a command. A refused command appends nothing.
#[derive(Debug, Clone, PartialEq, thiserror::Error, strum::IntoStaticStr)]
#[strum(serialize_all = "kebab-case")]
pub enum ServerError {
    /// Create on a stream that already has a campaign.
    #[error("campaign {0} already exists")]
    AlreadyCreated(String),
    /// A command before Create.
    #[error("no campaign has been created on this stream")]
    UnknownCampaign,
    /// The campaign broke a rule.
    #[error("invalid campaign: {0}")]
    InvalidCampaign(#[from] ValidationError),
    /// `targeted` missing or inconsistent.
    #[error("targets: {0}")]
    TargetCount(&'static str),
    /// A report or check-in for another campaign.
    #[error("report is for campaign {got}, this stream is {stream}")]
    WrongCampaign {
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
    #[error("care is paused (by an operator or by the abort threshold)")]
    Paused,
    /// `Resume` while no operator paused the campaign.
    #[error("no operator paused the campaign")]
    NotPaused,
    /// `Resume` of a campaign only the abort threshold paused: lifting that pause is its
    /// own command, `OverrideAbort`, logged with who and why.
    #[error("care is paused by the abort threshold; lift it with override-abort (who and why)")]
    PausedByBreaker,
    /// `OverrideAbort` while the abort threshold has not paused the campaign.
    #[error("the abort threshold has not paused the campaign")]
    BreakerNotTripped,
    /// `OverrideAbort` without who or why, or with either over 200 bytes.
    #[error("an override needs who and why, 1 to 200 bytes each")]
    OverrideUnexplained,
    /// A revision that is not newer than the campaign's.
    #[error("revision {got} is not newer than the campaign's revision {current}")]
    RevisionNotNewer {
        /// The campaign's revision.
        current: u32,
        /// The offered revision.
        got: u32,
    },
    /// Pause while paused.
    #[error("care is already paused")]
    AlreadyPaused,
    /// A success probe from a device the campaign's sample does not hold: only sampled
    /// devices probe, so it cannot be counted as coverage.
    #[error("device {0} is not in the campaign's success sample: its probe is not counted")]
    NotSampled(String),
    /// A sample size larger than the targets.
    #[error("{sampled} sampled targets cannot be more than the {targeted} targets")]
    SampleSize {
        /// The size given.
        sampled: u64,
        /// The campaign's targets.
        targeted: u64,
    },
    /// A broadcast so late that devices' slots and retries would fall after the deadline.
    #[error(
        "a broadcast at {at} is too late: reports and their retries would run until {needed}, after the report deadline {deadline}; revise the campaign with a later deadline"
    )]
    BroadcastTooLate {
        /// The broadcast time.
        at: crate::model::Timestamp,
        /// When the last slot's retries end for a device that receives it then.
        needed: crate::model::Timestamp,
        /// The campaign's report deadline.
        deadline: crate::model::Timestamp,
    },
    /// Broadcast marked twice.
    #[error("broadcast already marked")]
    AlreadyBroadcast,
    /// A coverage floor or fallback command that does not fit the campaign or its fallback.
    #[error("coverage fallback: {0}")]
    Fallback(String),
    /// A per-group threshold command that does not fit the campaign or its groups.
    #[error("group breaker: {0}")]
    GroupBreaker(String),
    /// Care dispatch for a device whose group's threshold paused its care.
    #[error(
        "care is paused for group {0:?} by its own threshold; lift it with override-group-abort (who and why)"
    )]
    GroupPaused(String),
    /// A campaign issued later than now plus the devices' future skew (1 day): every
    /// device would refuse its payload (`issued-in-future`).
    #[error(
        "campaign issued at {issued_at}, more than a day after now ({now}): devices would refuse it"
    )]
    IssuedInFuture {
        /// The campaign's `issued_at`.
        issued_at: crate::model::Timestamp,
        /// The command's time.
        now: crate::model::Timestamp,
    },
}

impl ServerError {
    /// The refusal's stable name: its variant's name in kebab-case, derived (strum), so
    /// it cannot drift from the variant. Runtime counters, C result codes, binding reasons
    /// and CLI messages all derive from it.
    pub fn reason(&self) -> &'static str {
        self.into()
    }

    /// The OMA DM status a host answers a device with when this refusal concerns the
    /// device's report: 200 for a duplicate (the device must stop retrying), 403 not a
    /// target, 404 unknown campaign or revision, 400 a malformed report, 500 for a refusal
    /// that points at the server's own state.
    pub fn dm_status(&self) -> u16 {
        match self {
            ServerError::Duplicate { .. } => 200,
            ServerError::NotTargeted(_) | ServerError::NotSampled(_) => 403,
            // A report of an older revision: 410 Gone tells the device to stop retrying
            // (its revision is obsolete; a check-in brings it to the new one).
            ServerError::WrongRevision { current, got } if got < current => 410,
            ServerError::WrongCampaign { .. }
            | ServerError::UnknownCampaign
            | ServerError::WrongRevision { .. } => 404,
            ServerError::MalformedReport(_) | ServerError::NoSuchSetting { .. } => 400,
            ServerError::AlreadyCreated(_)
            | ServerError::InvalidCampaign(_)
            | ServerError::TargetCount(_)
            | ServerError::NoCase(_)
            | ServerError::CareMismatch { .. }
            | ServerError::Paused
            | ServerError::NotPaused
            | ServerError::PausedByBreaker
            | ServerError::BreakerNotTripped
            | ServerError::OverrideUnexplained
            | ServerError::AlreadyPaused
            | ServerError::SampleSize { .. }
            | ServerError::RevisionNotNewer { .. }
            | ServerError::BroadcastTooLate { .. }
            | ServerError::AlreadyBroadcast
            | ServerError::Fallback(_)
            | ServerError::GroupBreaker(_)
            | ServerError::GroupPaused(_)
            | ServerError::IssuedInFuture { .. } => 500,
        }
    }
}
