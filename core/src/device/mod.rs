//! The device side: one decider per campaign stream.
//!
//! ```text
//! Idle ──Receive──▶ Applying ──RecordApplied──▶ Evaluating ──Tick(≥ received+evaluate_after)──┐
//!   healthy, not sampled ◀──────────────────────────────────────────────────────────────────────┤
//!   exceptional / sampled ──▶ Reporting(attempt, due) ──MarkSent──▶ (retry at sent + backoff) ──┤
//!                             ──Acknowledge──▶ AwaitingCare ──ReceiveCare──▶ ApplyingCare ──▶ Recovered
//!                             ──(attempts or deadline exhausted)──▶ GaveUp
//! Healthy / Confirmed / Recovered ──Recheck finds failures (Relapsed)──▶ Reporting(next attempt)
//! ```
//!
//! Effects for the host — the settings to apply, the report due now, the next wake-up — are
//! read off the state ([`DeviceState::pending_apply`], [`DeviceState::due_report`],
//! [`DeviceState::next_wake`]); `decide` performs none of them.
//!
//! Where to find what: [`DeviceCommand`] in `command.rs`, [`DeviceEvent`] in `events.rs`,
//! [`DeviceError`] in `error.rs`, [`DeviceState`] in `state.rs`, one function per command
//! in `decide.rs`, the fold in `evolve.rs`; the schedule's rules in [`crate::rules`].

mod command;
mod decide;
mod error;
mod events;
mod evolve;
mod state;

pub use crate::rules::GiveUpReason;
pub use command::DeviceCommand;
pub use error::DeviceError;
pub use events::DeviceEvent;
pub use state::{CareProgress, DeviceState, Phase, ReportProgress};

use crate::decider::{Decider, Side};

/// The device decider.
#[derive(Debug, Clone, Copy, Default)]
pub struct Device;

impl Decider for Device {
    type State = DeviceState;
    type Command = DeviceCommand;
    type Event = DeviceEvent;
    type Error = DeviceError;
    const SIDE: Side = Side::Device;

    fn decide(
        state: &DeviceState,
        command: &DeviceCommand,
    ) -> Result<Vec<DeviceEvent>, DeviceError> {
        use DeviceCommand as C;
        // Time never runs back: a command stamped before what the log has seen is decided
        // at the log's time (`DeviceState::clock`).
        let t = |at: &crate::model::Timestamp| (*at).max(state.clock);
        match command {
            C::Receive {
                campaign,
                device,
                groups,
                at,
            } => decide::receive(state, campaign, device, groups, t(at)),
            C::RecordApplied { results, at } => decide::record_applied(state, results, t(at)),
            C::Tick { now } => decide::tick(state, t(now)),
            C::MarkSent { attempt, at } => decide::mark_sent(state, *attempt, t(at)),
            C::Acknowledge { attempt, at } => decide::acknowledge(state, *attempt, t(at)),
            C::Refused {
                attempt,
                status,
                at,
            } => decide::refused(state, *attempt, *status, t(at)),
            C::Recheck { results, at } => decide::recheck(state, results, t(at)),
            C::ReceiveCare {
                revision,
                attempt,
                settings,
                at,
            } => decide::receive_care(state, *revision, *attempt, settings, t(at)),
            C::RecordCareApplied {
                attempt,
                results,
                at,
            } => decide::record_care_applied(state, *attempt, results, t(at)),
        }
    }

    fn evolve(state: &mut DeviceState, event: &DeviceEvent) {
        evolve::evolve(state, event);
        if let Some(t) = event.time() {
            state.clock = state.clock.max(t);
        }
    }
}
