//! The server side: one decider per campaign stream.
//!
//! Cost is O(failures), not O(fleet): targets stay a set description, and per-device state
//! ([`Case`]) exists only for devices that reported or checked in behind.
//!
//! Effects for the host — the care orders due now — are read off the state
//! ([`ServerState::due_care`]); `decide` sends nothing.
//!
//! Where to find what: [`ServerCommand`] in `command.rs`, [`ServerEvent`] in `events.rs`,
//! [`ServerError`] in `error.rs`, [`ServerState`] in `state.rs`, one function per command
//! in `decide.rs`, the fold in `evolve.rs`; the schedule's rules in [`crate::rules`].

mod command;
mod decide;
mod directory;
mod error;
mod estimate;
mod events;
mod evolve;
mod fallback;
mod group_breaker;
mod sample;
mod sharded;
mod state;

pub use command::ServerCommand;
pub use directory::{DirectoryEvent, GROUPS_STREAM};
pub use error::ServerError;
pub use estimate::{MAX_SETTLEMENT_HOLD, PresumedBound, SETTLEMENT_RECHECK};
pub use events::{EscalationReason, PauseReason, ServerEvent};
pub use fallback::{
    CoverageFloor, Degraded, Fallback, FallbackDue, FallbackState, MAX_FALLBACK_PER_MINUTE,
    REPAIR_ANSWER_WAIT, REPAIR_PILOT_MAX, REPAIR_PILOT_MIN, REPAIR_SESSIONS_PER_FOUND,
    RepairChoice, check_times, poll_before, poll_rank, repair_choice, repair_pilot,
    repair_pilot_for,
};
pub use group_breaker::{GroupBreaker, GroupBreakerStatus, GroupBreakers, MAX_BREAKER_GROUPS};
pub use sample::{SLOT_BINS, SampleProfile, bin_reports_end, nominal_send, slot_bin};
pub use sharded::{MAX_SHARDS, ShardRouter, ShardedState, command_device, device_of};
pub use state::{
    BreakerTrip, CampaignStats, CareOrder, Case, CaseOrigin, CaseStatus, Counters, InFlightCare,
    ServerState, Tally,
};

use crate::decider::{Decider, Side};

/// The server decider.
#[derive(Debug, Clone, Copy, Default)]
pub struct Server;

impl Decider for Server {
    type State = ServerState;
    type Command = ServerCommand;
    type Event = ServerEvent;
    type Error = ServerError;
    const SIDE: Side = Side::Server;

    fn decide(
        state: &ServerState,
        command: &ServerCommand,
    ) -> Result<Vec<ServerEvent>, ServerError> {
        use ServerCommand as C;
        // Time never runs back: a command stamped before what the log has seen is decided
        // at the log's time (`ServerState::clock`).
        let t = |at: &crate::model::Timestamp| (*at).max(state.clock);
        match command {
            C::Create {
                campaign,
                targeted,
                at,
            } => decide::create(state, campaign, *targeted, t(at)),
            C::Revise {
                campaign,
                targeted,
                at,
            } => decide::revise(state, campaign, *targeted, t(at)),
            C::MarkBroadcast { at } => decide::mark_broadcast(state, t(at)),
            C::AcceptReport { report, groups, at } => {
                decide::accept_report(state, report, groups, t(at))
            }
            C::CheckIn {
                device,
                groups,
                applied_revision,
                at,
            } => decide::check_in(state, device, groups, *applied_revision, t(at)),
            C::DispatchCare {
                device,
                attempt,
                at,
            } => decide::dispatch_care(state, device, *attempt, t(at)),
            C::RecordCareOutcome {
                device,
                attempt,
                success,
                at,
            } => decide::record_care_outcome(state, device, *attempt, *success, t(at)),
            C::SizeSample {
                sampled_targets,
                at,
            } => decide::size_sample(state, *sampled_targets, t(at)),
            C::ProfileSample { profile, at } => decide::profile_sample(state, profile, t(at)),
            C::SetSettlementLimit {
                max_presumed_unknown,
                at,
            } => decide::set_settlement_limit(state, *max_presumed_unknown, t(at)),
            C::Pause { at } => decide::pause(state, t(at)),
            C::Resume { at } => decide::resume(state, t(at)),
            C::OverrideAbort { by, why, at } => decide::override_abort(state, by, why, t(at)),
            C::SetGroupBreakers { breakers, at } => {
                group_breaker::set_group_breakers(state, breakers, t(at))
            }
            C::OverrideGroupAbort { group, by, why, at } => {
                group_breaker::override_group_abort(state, group, by, why, t(at))
            }
            C::SetCoverageFloor { policy, at } => decide::set_coverage_floor(state, policy, t(at)),
            C::RecordRebroadcast { at } => decide::record_rebroadcast(state, t(at)),
            C::RecordFallbackUnicast { devices, done, at } => {
                decide::record_fallback_unicast(state, devices, *done, t(at))
            }
            C::Tick { now } => decide::tick(state, t(now)),
        }
    }

    fn evolve(state: &mut ServerState, event: &ServerEvent) {
        evolve::evolve(state, event);
        if let Some(t) = event.time() {
            state.clock = state.clock.max(t);
        }
    }
}
