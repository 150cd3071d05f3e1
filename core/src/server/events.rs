//! [`ServerEvent`]: everything that happens on the server, per campaign stream.

use serde::{Deserialize, Serialize};

use crate::model::{Campaign, DeviceId, Timestamp};
use crate::report::ReportKind;
#[cfg(doc)]
use crate::server::ServerState;
use crate::server::{CoverageFloor, GroupBreaker, PresumedBound, SampleProfile};
use crate::stats::Coverage;

/// Why a device was escalated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum EscalationReason {
    /// Every care attempt failed and the policy says escalate.
    CareExhausted,
    /// The policy's action is notify-only: the operator handles it.
    NotifyOnly,
    /// The device relapsed after care more often than the care policy allows cycles
    /// (`care.attempts`): it keeps reverting, a human must look.
    Relapsing,
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
        /// When it happened: the time of the command that caused it.
        at: Timestamp,
    },
    /// The payload was broadcast.
    BroadcastSent {
        /// When it happened: the time of the command that caused it.
        at: Timestamp,
    },
    /// A report was taken.
    ReportAccepted {
        /// The device.
        device: DeviceId,
        /// Attempt number of the report.
        attempt: u32,
        /// When the device evaluated.
        evaluated_at: Timestamp,
        /// What it said.
        kind: ReportKind,
        /// Arrived after the campaign settled.
        late: bool,
        /// When it happened: the time of the command that caused it.
        at: Timestamp,
    },
    /// A target checked in with an older revision.
    CheckInBehind {
        /// The device.
        device: DeviceId,
        /// What it has.
        applied_revision: u32,
        /// When it happened: the time of the command that caused it.
        at: Timestamp,
    },
    /// A device presumed OK at settlement turned out not to be.
    LateReportReconciled {
        /// The device.
        device: DeviceId,
        /// When it happened: the time of the command that caused it.
        at: Timestamp,
    },
    /// Care attempt `attempt` for `device` is due at `due`.
    CareScheduled {
        /// The device.
        device: DeviceId,
        /// Care attempt, from 1.
        attempt: u32,
        /// Setting indices to re-provision.
        settings: Vec<u32>,
        /// When it happened: the time of the command that caused it.
        due: Timestamp,
    },
    /// The host sent the care.
    CareDispatched {
        /// The device.
        device: DeviceId,
        /// Care attempt.
        attempt: u32,
        /// When it happened: the time of the command that caused it.
        at: Timestamp,
    },
    /// The care fixed the device.
    CareSucceeded {
        /// The device.
        device: DeviceId,
        /// Care attempt.
        attempt: u32,
        /// When it happened: the time of the command that caused it.
        at: Timestamp,
    },
    /// The care did not fix the device.
    CareFailed {
        /// The device.
        device: DeviceId,
        /// Care attempt.
        attempt: u32,
        /// When it happened: the time of the command that caused it.
        at: Timestamp,
    },
    /// A human must look at this device.
    DeviceEscalated {
        /// The device.
        device: DeviceId,
        /// Why.
        reason: EscalationReason,
        /// When it happened: the time of the command that caused it.
        at: Timestamp,
    },
    /// Care was given up (policy `then = give-up`).
    CareAbandoned {
        /// The device.
        device: DeviceId,
        /// When it happened: the time of the command that caused it.
        at: Timestamp,
    },
    /// The failure ratio passed the abort threshold: care is paused.
    CampaignPaused {
        /// Why.
        reason: PauseReason,
        /// When it happened: the time of the command that caused it.
        at: Timestamp,
    },
    /// Care resumed, both pauses lifted. Written by devcare up to 0.9 for `Resume`; read
    /// for ever, no longer written: `Resume` now lifts only the operator's pause
    /// ([`Self::OperatorResumed`]) and the breaker's is lifted by [`Self::AbortOverridden`].
    CampaignResumed {
        /// When it happened: the time of the command that caused it.
        at: Timestamp,
    },
    /// The report deadline passed: silent targets are presumed OK.
    CampaignSettled {
        /// Targets presumed OK at settlement.
        presumed_ok: u64,
        /// When it happened: the time of the command that caused it.
        at: Timestamp,
    },
    /// An operator paused care.
    OperatorPaused {
        /// When it happened: the time of the command that caused it.
        at: Timestamp,
    },
    /// A new revision replaced the campaign.
    CampaignRevised {
        /// The new revision.
        campaign: Box<Campaign>,
        /// Number of targets.
        targeted: u64,
        /// When it happened: the time of the command that caused it.
        at: Timestamp,
    },
    /// Care attempt `attempt` had no outcome by the care timeout: it counts as failed.
    /// Followed, like [`ServerEvent::CareFailed`], by the next attempt or the policy's end.
    CareTimedOut {
        /// The device.
        device: DeviceId,
        /// Care attempt.
        attempt: u32,
        /// When it happened: the time of the command that caused it.
        at: Timestamp,
    },
    /// How many targets the campaign's success sample holds (`sampled(salt, id, ppm)` over
    /// the targets): counted by the decider for an explicit device list, by the host over
    /// its directory otherwise. Makes the coverage estimate exact for this campaign.
    SampleSized {
        /// Sampled targets.
        sampled_targets: u64,
        /// When it happened: the time of the command that caused it.
        at: Timestamp,
    },
    /// The campaign's coverage floor and fallback were set (server-side policy).
    CoverageFloorSet {
        /// The floor and its fallback.
        policy: CoverageFloor,
        /// When it happened: the time of the command that caused it.
        at: Timestamp,
    },
    /// A coverage check found the reach interval's upper bound ([`ServerState::reach`]:
    /// the share of targets holding the payload) at or above the floor.
    CoverageChecked {
        /// The reach interval at the check.
        reach: Coverage,
        /// When it happened: the time of the command that caused it.
        at: Timestamp,
    },
    /// A coverage check found the reach interval's upper bound ([`ServerState::reach`])
    /// below the floor: the broadcast reached too few targets, and the fallback starts.
    BroadcastDegraded {
        /// The broadcast's coverage interval at the check ([`ServerState::coverage`]); the
        /// campaign's statistics keep it from here on, as the fallback's receivers probe
        /// and report too.
        coverage: Coverage,
        /// The reach interval at the check.
        reach: Coverage,
        /// When it happened: the time of the command that caused it.
        at: Timestamp,
    },
    /// The host broadcast the payload again (fallback `Rebroadcast`).
    Rebroadcast {
        /// When it happened: the time of the command that caused it.
        at: Timestamp,
    },
    /// The host sent the payload by unicast to `count` silent targets (fallback `Unicast`).
    FallbackUnicastSent {
        /// Devices in this batch.
        count: u64,
        /// The batch's highest id: the cursor of the next batch.
        last: Option<DeviceId>,
        /// The host's directory holds no further silent target.
        done: bool,
        /// When it happened: the time of the command that caused it.
        at: Timestamp,
    },
    /// An operator lifted their own pause (`Resume`); a pause by the abort threshold stays.
    OperatorResumed {
        /// When it happened: the time of the command that caused it.
        at: Timestamp,
    },
    /// Someone lifted the abort threshold's pause on purpose (`OverrideAbort`); the threshold
    /// stays quiet for the campaign from then on.
    AbortOverridden {
        /// Who lifted it (an operator's name or id).
        by: String,
        /// Why.
        why: String,
        /// When it happened: the time of the command that caused it.
        at: Timestamp,
    },
    /// How many targets the campaign's success sample holds and where their slots fall in
    /// the report window (`SampleSized` with the slot profile, 0.10): counted by the
    /// decider for an explicit device list, by the host over its directory otherwise. The
    /// coverage estimate then knows which silent sampled devices may still probe
    /// (`docs/design.md`, "Coverage under loss").
    SampleProfiled {
        /// The count and its slot bins.
        profile: SampleProfile,
        /// When it happened: the time of the command that caused it.
        at: Timestamp,
    },
    /// Recorded with `CampaignSettled` (0.10): how many of the targets presumed OK may not
    /// be, at 95% ([`ServerState::presumed_bound_at`]).
    PresumedBounded {
        /// The bound.
        bound: PresumedBound,
        /// When it happened: the time of the command that caused it.
        at: Timestamp,
    },
    /// The campaign's limit on targets wrongly presumed OK was set (server-side policy).
    SettlementLimitSet {
        /// Most targets presumed OK that may not be (`None`: no limit).
        max_presumed_unknown: Option<u64>,
        /// When it happened: the time of the command that caused it.
        at: Timestamp,
    },
    /// The deadline passed but the bound on wrongly presumed targets is above the limit:
    /// the campaign stays open (checked again hourly, settling at the latest
    /// `MAX_SETTLEMENT_HOLD` after the deadline).
    SettlementHeld {
        /// The bound then.
        bound: PresumedBound,
        /// When it happened: the time of the command that caused it.
        at: Timestamp,
    },
    /// A sampled target the server had not heard from checked in holding the current
    /// revision, before any fallback sent the payload: it received the broadcast. Counted
    /// with the success probes in the coverage estimate (its probe was lost or late), and
    /// opens a healthy case (a failure it reports later opens care as a relapse would).
    CheckedInCurrent {
        /// The device.
        device: DeviceId,
        /// When it happened: the time of the command that caused it.
        at: Timestamp,
    },
    /// The campaign's per-group thresholds were set (server-side policy, 0.10; kept across
    /// revisions).
    GroupBreakersSet {
        /// The thresholds, in bit order.
        breakers: Vec<GroupBreaker>,
        /// When it happened: the time of the command that caused it.
        at: Timestamp,
    },
    /// A failure reporter belongs to groups with thresholds of their own (bit `i` for the
    /// `i`-th): its failure counts once in each, and its care is held while one is paused.
    CaseGrouped {
        /// The device.
        device: DeviceId,
        /// Its groups' bits.
        groups: u16,
    },
    /// A group's failure ratio passed its own threshold: its failure reporters' care is
    /// held; the rest of the campaign goes on.
    GroupPaused {
        /// The group.
        group: String,
        /// The figures it tripped on.
        reason: PauseReason,
        /// When it happened: the time of the command that caused it.
        at: Timestamp,
    },
    /// Someone lifted a group's pause on purpose (`OverrideGroupAbort`); the group's
    /// threshold stays quiet from then on.
    GroupAbortOverridden {
        /// The group.
        group: String,
        /// Who lifted it.
        by: String,
        /// Why.
        why: String,
        /// When it happened: the time of the command that caused it.
        at: Timestamp,
    },
}

impl ServerEvent {
    /// The time this event says the server has reached: its `at` (for a report, when the
    /// server received it). `None` for [`Self::CareScheduled`], whose `due` may lie ahead.
    /// The state's clock ([`ServerState::clock`](crate::server::ServerState::clock)) is the
    /// latest of these.
    pub fn time(&self) -> Option<Timestamp> {
        use ServerEvent as E;
        match self {
            E::CareScheduled { .. } | E::CaseGrouped { .. } => None,
            E::CampaignCreated { at, .. }
            | E::BroadcastSent { at }
            | E::ReportAccepted { at, .. }
            | E::CheckInBehind { at, .. }
            | E::LateReportReconciled { at, .. }
            | E::CareDispatched { at, .. }
            | E::CareSucceeded { at, .. }
            | E::CareFailed { at, .. }
            | E::DeviceEscalated { at, .. }
            | E::CareAbandoned { at, .. }
            | E::CampaignPaused { at, .. }
            | E::CampaignResumed { at }
            | E::CampaignSettled { at, .. }
            | E::OperatorPaused { at }
            | E::CampaignRevised { at, .. }
            | E::CareTimedOut { at, .. }
            | E::SampleSized { at, .. }
            | E::CoverageFloorSet { at, .. }
            | E::CoverageChecked { at, .. }
            | E::BroadcastDegraded { at, .. }
            | E::Rebroadcast { at }
            | E::FallbackUnicastSent { at, .. }
            | E::OperatorResumed { at }
            | E::AbortOverridden { at, .. }
            | E::SampleProfiled { at, .. }
            | E::CheckedInCurrent { at, .. }
            | E::PresumedBounded { at, .. }
            | E::SettlementLimitSet { at, .. }
            | E::SettlementHeld { at, .. }
            | E::GroupBreakersSet { at, .. }
            | E::GroupPaused { at, .. }
            | E::GroupAbortOverridden { at, .. } => Some(*at),
        }
    }
}
