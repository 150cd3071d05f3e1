//! [`ServerCommand`]: what the server host asks of the server decider.

use crate::model::{Campaign, DeviceId, Timestamp};
use crate::report::Report;
use crate::server::{CoverageFloor, SampleProfile};

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
        /// The host's time when it gives the command (ms since the epoch).
        at: Timestamp,
    },
    /// Revise a live campaign: revision N+1 replaces revision N. Revision N's care stops,
    /// its reports are refused as `wrong-revision` (DM 410: stop retrying), and cases and
    /// statistics start afresh (revision N's statistics are kept in `earlier`).
    Revise {
        /// The new revision of the campaign (same id, higher revision).
        campaign: Box<Campaign>,
        /// Number of targets, as for `Create`.
        targeted: Option<u64>,
        /// The host's time when it gives the command (ms since the epoch).
        at: Timestamp,
    },
    /// The payload went out over the broadcast channel.
    MarkBroadcast {
        /// The host's time when it gives the command (ms since the epoch).
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
        /// The host's time when it gives the command (ms since the epoch).
        at: Timestamp,
    },
    /// The host sent care order `attempt` to `device`.
    DispatchCare {
        /// The device.
        device: DeviceId,
        /// Care attempt.
        attempt: u32,
        /// The host's time when it gives the command (ms since the epoch).
        at: Timestamp,
    },
    /// The outcome of care `attempt` for `device` (from the unicast DM session's statuses).
    RecordCareOutcome {
        /// The device.
        device: DeviceId,
        /// Care attempt.
        attempt: u32,
        /// The device's verdict: the care results pass the campaign's result conditions
        /// (what `DeviceHost::receive_care` returns as `recovered`).
        success: bool,
        /// The host's time when it gives the command (ms since the epoch).
        at: Timestamp,
    },
    /// The host counted the targets in the campaign's success sample over its device
    /// directory (`all` and `groups` campaigns; an explicit list is counted at `Create`).
    SizeSample {
        /// Targets with `sampled(salt, id, ppm)`.
        sampled_targets: u64,
        /// The host's time when it gives the command (ms since the epoch).
        at: Timestamp,
    },
    /// The host counted the targets in the campaign's success sample over its device
    /// directory and where their slots fall ([`SampleProfile::of`]): `SizeSample` with
    /// what the coverage estimate needs to tell a late probe from a missed broadcast.
    ProfileSample {
        /// The count and its slot bins.
        profile: SampleProfile,
        /// The host's time when it gives the command (ms since the epoch).
        at: Timestamp,
    },
    /// The most targets presumed OK that may not be for the campaign to settle (server-side
    /// policy; `None` lifts it). Above it at the deadline the campaign stays open until
    /// check-ins bring the bound within it.
    SetSettlementLimit {
        /// The limit.
        max_presumed_unknown: Option<u64>,
        /// The host's time when it gives the command (ms since the epoch).
        at: Timestamp,
    },
    /// An operator pauses care (no care order is dispatched until `Resume`).
    Pause {
        /// The host's time when it gives the command (ms since the epoch).
        at: Timestamp,
    },
    /// An operator lifts their own `Pause`. A pause by the abort threshold is not lifted
    /// by it: that takes `OverrideAbort`.
    Resume {
        /// The host's time when it gives the command (ms since the epoch).
        at: Timestamp,
    },
    /// Someone lifts the abort threshold's pause on purpose, saying who and why (both
    /// logged). The threshold stays quiet for the campaign from then on.
    OverrideAbort {
        /// Who (an operator's name or id; 1–200 bytes).
        by: String,
        /// Why (1–200 bytes).
        why: String,
        /// The host's time when it gives the command (ms since the epoch).
        at: Timestamp,
    },
    /// Set the campaign's per-group thresholds (server-side policy, kept across revisions;
    /// an empty list clears them): before the revision's first failure report, while no
    /// group is paused.
    SetGroupBreakers {
        /// The thresholds (at most [`MAX_BREAKER_GROUPS`](crate::server::MAX_BREAKER_GROUPS)).
        breakers: Vec<crate::server::GroupBreaker>,
        /// The host's time when it gives the command (ms since the epoch).
        at: Timestamp,
    },
    /// Someone lifts a group's pause on purpose, saying who and why (both logged). The
    /// group's threshold stays quiet from then on.
    OverrideGroupAbort {
        /// The group.
        group: String,
        /// Who (1–200 bytes).
        by: String,
        /// Why (1–200 bytes).
        why: String,
        /// The host's time when it gives the command (ms since the epoch).
        at: Timestamp,
    },
    /// Set (or replace) the campaign's coverage floor and fallback (server-side policy,
    /// kept across revisions). Refused once the current revision is degraded, and when the
    /// campaign samples no device (nothing to measure coverage with).
    SetCoverageFloor {
        /// The floor and what runs below it.
        policy: CoverageFloor,
        /// The host's time when it gives the command (ms since the epoch).
        at: Timestamp,
    },
    /// The host broadcast the payload again, as the `Rebroadcast` fallback asked.
    RecordRebroadcast {
        /// The host's time when it gives the command (ms since the epoch).
        at: Timestamp,
    },
    /// The host sent the payload by unicast to `devices` (ascending ids after the cursor,
    /// none with a case, at most the pace's allowance), as the `Unicast` fallback asked;
    /// `done`: its directory holds no further silent target.
    RecordFallbackUnicast {
        /// Devices sent the payload, in ascending id order.
        devices: Vec<DeviceId>,
        /// The directory is exhausted.
        done: bool,
        /// The host's time when it gives the command (ms since the epoch).
        at: Timestamp,
    },
    /// Time passed: settle after the report deadline.
    Tick {
        /// The host's current time (ms since the epoch).
        now: Timestamp,
    },
}

impl ServerCommand {
    /// The time the command is stamped with.
    pub fn time(&self) -> Timestamp {
        use ServerCommand as C;
        match self {
            C::Create { at: x, .. }
            | C::Revise { at: x, .. }
            | C::MarkBroadcast { at: x, .. }
            | C::AcceptReport { at: x, .. }
            | C::CheckIn { at: x, .. }
            | C::DispatchCare { at: x, .. }
            | C::RecordCareOutcome { at: x, .. }
            | C::SizeSample { at: x, .. }
            | C::ProfileSample { at: x, .. }
            | C::SetSettlementLimit { at: x, .. }
            | C::Pause { at: x, .. }
            | C::Resume { at: x, .. }
            | C::OverrideAbort { at: x, .. }
            | C::SetGroupBreakers { at: x, .. }
            | C::OverrideGroupAbort { at: x, .. }
            | C::SetCoverageFloor { at: x, .. }
            | C::RecordRebroadcast { at: x, .. }
            | C::RecordFallbackUnicast { at: x, .. }
            | C::Tick { now: x, .. } => *x,
        }
    }

    /// The same command stamped `t`. A decider decides a command stamped before its state's
    /// clock as this, stamped at the clock (time never runs back).
    pub fn retimed(mut self, t: Timestamp) -> Self {
        use ServerCommand as C;
        match &mut self {
            C::Create { at: x, .. }
            | C::Revise { at: x, .. }
            | C::MarkBroadcast { at: x, .. }
            | C::AcceptReport { at: x, .. }
            | C::CheckIn { at: x, .. }
            | C::DispatchCare { at: x, .. }
            | C::RecordCareOutcome { at: x, .. }
            | C::SizeSample { at: x, .. }
            | C::ProfileSample { at: x, .. }
            | C::SetSettlementLimit { at: x, .. }
            | C::Pause { at: x, .. }
            | C::Resume { at: x, .. }
            | C::OverrideAbort { at: x, .. }
            | C::SetGroupBreakers { at: x, .. }
            | C::OverrideGroupAbort { at: x, .. }
            | C::SetCoverageFloor { at: x, .. }
            | C::RecordRebroadcast { at: x, .. }
            | C::RecordFallbackUnicast { at: x, .. }
            | C::Tick { now: x, .. } => *x = t,
        }
        self
    }
}
