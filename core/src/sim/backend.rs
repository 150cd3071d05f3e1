//! [`SimServer`]: the server the simulator drives — one stream's [`ServerState`], or a
//! [`ShardedState`] over V shards. Both decide and fold through the same decider, so one
//! seed gives the same run on either (`tests/tests/it/sharded.rs`).

use crate::Decider;
use crate::model::{DeviceId, Timestamp};
use crate::server::{
    CareOrder, Case, Server, ServerCommand, ServerError, ServerEvent, ServerState, ShardedState,
};

/// The server side of a simulation.
pub trait SimServer: Clone + PartialEq + std::fmt::Debug {
    /// Decides `cmd` against the current state (changes nothing).
    fn decide(&mut self, cmd: &ServerCommand) -> Result<Vec<ServerEvent>, ServerError>;
    /// Folds one event.
    fn evolve(&mut self, event: &ServerEvent);
    /// The campaign-level state: statistics, coverage, pauses, settlement, fallback.
    fn campaign(&self) -> &ServerState;
    /// `device`'s case.
    fn case(&self, device: &DeviceId) -> Option<&Case>;
    /// Every case.
    fn cases(&self) -> Box<dyn Iterator<Item = (&DeviceId, &Case)> + '_>;
    /// Care orders due at `now`, earliest first.
    fn due_care(&self, now: Timestamp, max: usize) -> Vec<CareOrder>;
    /// When anything next falls due.
    fn next_wake(&self) -> Option<Timestamp>;
    /// An empty server of the same shape (what a crashed server replays into).
    fn empty(&self) -> Self;
}

impl SimServer for ServerState {
    fn decide(&mut self, cmd: &ServerCommand) -> Result<Vec<ServerEvent>, ServerError> {
        Server::decide(self, cmd)
    }
    fn evolve(&mut self, event: &ServerEvent) {
        Server::evolve(self, event);
    }
    fn campaign(&self) -> &ServerState {
        self
    }
    fn case(&self, device: &DeviceId) -> Option<&Case> {
        self.cases.get(device)
    }
    fn cases(&self) -> Box<dyn Iterator<Item = (&DeviceId, &Case)> + '_> {
        Box::new(self.cases.iter())
    }
    fn due_care(&self, now: Timestamp, max: usize) -> Vec<CareOrder> {
        ServerState::due_care(self, now, max)
    }
    fn next_wake(&self) -> Option<Timestamp> {
        ServerState::next_wake(self)
    }
    fn empty(&self) -> Self {
        ServerState::default()
    }
}

impl SimServer for ShardedState {
    fn decide(&mut self, cmd: &ServerCommand) -> Result<Vec<ServerEvent>, ServerError> {
        ShardedState::decide(self, cmd)
    }
    fn evolve(&mut self, event: &ServerEvent) {
        ShardedState::evolve(self, event);
    }
    fn campaign(&self) -> &ServerState {
        self.control()
    }
    fn case(&self, device: &DeviceId) -> Option<&Case> {
        ShardedState::case(self, device)
    }
    fn cases(&self) -> Box<dyn Iterator<Item = (&DeviceId, &Case)> + '_> {
        Box::new(ShardedState::cases(self))
    }
    fn due_care(&self, now: Timestamp, max: usize) -> Vec<CareOrder> {
        ShardedState::due_care(self, now, max)
    }
    fn next_wake(&self) -> Option<Timestamp> {
        ShardedState::next_wake(self)
    }
    fn empty(&self) -> Self {
        ShardedState::new(self.router())
    }
}
