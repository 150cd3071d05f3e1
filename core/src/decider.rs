//! The Decider pattern: `decide` turns a command into events against the current state,
//! `evolve` folds one event into the state, `State::default()` is the initial state.
//!
//! Both are pure and deterministic: the same commands give the same events and state on
//! every platform, and folding a stored log rebuilds the state exactly. `evolve` is total:
//! an event that does not fit the state (which `decide` never emits) leaves it unchanged.

use crate::ids::StreamId;
use crate::model::CampaignId;

/// Which decider a stream belongs to: its streams are named `<side>/<campaign>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Side {
    /// A handset's device decider ([`crate::device::Device`]).
    Device,
    /// The DM server's decider ([`crate::server::Server`]).
    Server,
}

impl Side {
    /// `"device"` or `"server"`.
    pub fn name(self) -> &'static str {
        match self {
            Side::Device => "device",
            Side::Server => "server",
        }
    }

    /// The stream of `campaign` on this side: `device/<campaign>` or `server/<campaign>`.
    pub fn stream(self, campaign: &CampaignId) -> StreamId {
        // A campaign id is visible ASCII of at most 64 bytes: the stream id is valid.
        StreamId::joined(self.name(), campaign.as_str())
    }

    /// The side and campaign of a stream named by [`Side::stream`]; `None` for any other.
    pub fn of(stream: &StreamId) -> Option<(Side, CampaignId)> {
        let (side, rest) = stream.as_str().split_once('/')?;
        let side = match side {
            "device" => Side::Device,
            "server" => Side::Server,
            _ => return None,
        };
        Some((side, CampaignId::new(rest).ok()?))
    }
}

/// A pure decision model over one stream of events.
pub trait Decider {
    /// The side whose streams this decider folds.
    const SIDE: Side;
    /// Folded state; `Default` is the state of an empty stream.
    type State: Default;
    /// What a caller asks for.
    type Command;
    /// What happened; the unit of the log.
    type Event;
    /// Why a command was refused. A refused command changes nothing.
    type Error;

    /// The events that `command` causes in `state`, or why it is refused.
    fn decide(
        state: &Self::State,
        command: &Self::Command,
    ) -> Result<Vec<Self::Event>, Self::Error>;

    /// Folds `event` into `state` in place.
    fn evolve(state: &mut Self::State, event: &Self::Event);

    /// Folds a whole log into a fresh state.
    fn replay<'a, I>(events: I) -> Self::State
    where
        I: IntoIterator<Item = &'a Self::Event>,
        Self::Event: 'a,
    {
        let mut state = Self::State::default();
        for e in events {
            Self::evolve(&mut state, e);
        }
        state
    }

    /// `decide`, then fold the events into `state`; returns the events.
    fn handle(
        state: &mut Self::State,
        command: &Self::Command,
    ) -> Result<Vec<Self::Event>, Self::Error> {
        let events = Self::decide(state, command)?;
        for e in &events {
            Self::evolve(state, e);
        }
        Ok(events)
    }
}
