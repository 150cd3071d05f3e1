//! The server sharded by device (`docs/scale-out.md`): one campaign's state split over `V`
//! shards, decided by the same [`Server`] decider.
//!
//! * **Routing.** A device's events (report, check-in, care) belong to shard
//!   [`ShardRouter::shard_of`]`(device)`; every other event — create, revise, broadcast,
//!   sample size, pauses, coverage, fallback, settlement — is campaign-level and belongs to
//!   the campaign's control log ([`device_of`] tells them apart).
//! * **Every shard holds the campaign-level events too**, in the order they happened
//!   relative to its own: so a shard's state is exactly the single-stream state restricted
//!   to its devices, and the decider needs nothing new. A store writes a shard's copies of
//!   the control events before its next own events (the copies are the shard's fence on
//!   the control log).
//! * **Aggregates are sums.** The control state's [`Tally`] and [`Counters`] are kept equal
//!   to the sums over the shards; a device command is decided on its shard's state with
//!   those sums in place of the shard's own, so the abort threshold fires on the same report
//!   as with one stream. Coverage checks and settlement are decided once, on the control
//!   state. Due care and care in flight are merged in `(time, device)` order.
//!
//! With these three rules a campaign run through a [`ShardedState`] of any `V` decides
//! exactly what one [`ServerState`] decides (`tests/tests/it/sharded.rs` checks it on
//! simulated campaigns with faults, for V = 1, 7 and 64).

use siphasher::sip::SipHasher24;

use crate::decider::Decider;
use crate::error::ValidationError;
use crate::model::{DeviceId, Timestamp};
use crate::server::decide;
use crate::server::{
    CareOrder, Case, InFlightCare, Server, ServerCommand, ServerError, ServerEvent, ServerState,
};

/// Most shards a campaign may be split over.
pub const MAX_SHARDS: u32 = 4096;

const SHARD_DOMAIN: &[u8] = b"devcare/shard\0";

/// Which shard a device belongs to: `SipHash-2-4(fleet key, "devcare/shard\0" ‖ id) mod V`.
/// The key is the fleet's, not a campaign's salt, so a device stays on its shard across
/// campaigns and every shard sees an even share of every campaign.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShardRouter {
    key: [u8; 16],
    shards: u32,
}

impl ShardRouter {
    /// `shards` virtual shards (1 to [`MAX_SHARDS`]) under the fleet key `fleet_key`.
    pub fn new(fleet_key: [u8; 16], shards: u32) -> Result<Self, ValidationError> {
        if !(1..=MAX_SHARDS).contains(&shards) {
            return Err(ValidationError::new(
                "shards",
                format!("is {shards}; a campaign is split over 1 to {MAX_SHARDS} shards"),
            ));
        }
        Ok(ShardRouter {
            key: fleet_key,
            shards,
        })
    }

    /// The number of shards.
    pub fn shards(&self) -> u32 {
        self.shards
    }

    /// The fleet key.
    pub fn fleet_key(&self) -> [u8; 16] {
        self.key
    }

    /// The shard `device` belongs to.
    pub fn shard_of(&self, device: &DeviceId) -> u32 {
        if self.shards == 1 {
            return 0;
        }
        let mut h = SipHasher24::new_with_key(&self.key);
        std::hash::Hasher::write(&mut h, SHARD_DOMAIN);
        std::hash::Hasher::write(&mut h, device.as_bytes());
        (std::hash::Hasher::finish(&h) % u64::from(self.shards)) as u32
    }
}

/// The device an event belongs to, or `None` for a campaign-level event (the control log's).
pub fn device_of(event: &ServerEvent) -> Option<&DeviceId> {
    use ServerEvent as E;
    match event {
        E::ReportAccepted { device, .. }
        | E::CheckInBehind { device, .. }
        | E::LateReportReconciled { device, .. }
        | E::CareScheduled { device, .. }
        | E::CareDispatched { device, .. }
        | E::CareSucceeded { device, .. }
        | E::CareFailed { device, .. }
        | E::DeviceEscalated { device, .. }
        | E::CareAbandoned { device, .. }
        | E::CareTimedOut { device, .. }
        | E::CheckedInCurrent { device, .. }
        | E::CaseGrouped { device, .. } => Some(device),
        E::CampaignCreated { .. }
        | E::BroadcastSent { .. }
        | E::CampaignPaused { .. }
        | E::CampaignResumed { .. }
        | E::CampaignSettled { .. }
        | E::OperatorPaused { .. }
        | E::CampaignRevised { .. }
        | E::SampleSized { .. }
        | E::CoverageFloorSet { .. }
        | E::CoverageChecked { .. }
        | E::BroadcastDegraded { .. }
        | E::Rebroadcast { .. }
        | E::FallbackUnicastSent { .. }
        | E::OperatorResumed { .. }
        | E::AbortOverridden { .. }
        | E::SampleProfiled { .. }
        | E::PresumedBounded { .. }
        | E::SettlementLimitSet { .. }
        | E::SettlementHeld { .. }
        | E::GroupBreakersSet { .. }
        | E::GroupPaused { .. }
        | E::GroupAbortOverridden { .. } => None,
    }
}

/// The device a command is about, if it is decided on one shard.
pub fn command_device(cmd: &ServerCommand) -> Option<&DeviceId> {
    use ServerCommand as C;
    match cmd {
        C::AcceptReport { report, .. } => Some(&report.device),
        C::CheckIn { device, .. }
        | C::DispatchCare { device, .. }
        | C::RecordCareOutcome { device, .. } => Some(device),
        _ => None,
    }
}

/// One campaign's server state split over shards (see the module documentation).
#[derive(Debug, Clone, PartialEq)]
pub struct ShardedState {
    router: ShardRouter,
    /// Campaign-level events only; tally and counters are the sums over `shards`.
    control: ServerState,
    shards: Vec<ServerState>,
    /// Campaign-level events folded so far.
    control_events: u64,
}

impl ShardedState {
    /// An empty campaign over `router`'s shards.
    pub fn new(router: ShardRouter) -> Self {
        ShardedState {
            router,
            control: ServerState::default(),
            shards: vec![ServerState::default(); router.shards as usize],
            control_events: 0,
        }
    }

    /// The router.
    pub fn router(&self) -> ShardRouter {
        self.router
    }

    /// The campaign-level state: campaign, broadcast, pauses, settlement, coverage and
    /// fallback progress, with the tally and counters summed over the shards. Its
    /// [`ServerState::stats`], [`ServerState::coverage`], [`ServerState::reach`] and
    /// [`ServerState::fallback_due`] are the campaign's; it holds no cases.
    pub fn control(&self) -> &ServerState {
        &self.control
    }

    /// Shard `k`'s state: the campaign-level events and its own devices' cases.
    pub fn shard(&self, k: u32) -> Option<&ServerState> {
        self.shards.get(k as usize)
    }

    /// Campaign-level events folded so far.
    pub fn control_events(&self) -> u64 {
        self.control_events
    }

    /// `device`'s case, if the server heard from it.
    pub fn case(&self, device: &DeviceId) -> Option<&Case> {
        self.shards[self.router.shard_of(device) as usize]
            .cases
            .get(device)
    }

    /// Every case, shard by shard.
    pub fn cases(&self) -> impl Iterator<Item = (&DeviceId, &Case)> {
        self.shards.iter().flat_map(|s| s.cases.iter())
    }

    /// Decides `cmd` as the single-stream server would: a device's command on its shard
    /// (with the campaign's summed tally and counters in place), a tick on every shard with
    /// care in flight past `now` and then on the control state, anything else on the control
    /// state. Changes nothing (the sums are swapped in and back).
    pub fn decide(&mut self, cmd: &ServerCommand) -> Result<Vec<ServerEvent>, ServerError> {
        if let Some(device) = command_device(cmd) {
            let k = self.router.shard_of(device) as usize;
            return self.decide_on_shard(k, cmd);
        }
        match cmd {
            ServerCommand::Tick { now } => self.tick(*now, |_| true),
            ServerCommand::RecordFallbackUnicast { devices, done, at } => {
                decide::record_fallback_unicast_with(&self.control, devices, *done, *at, |d| {
                    self.case(d).is_some()
                })
            }
            _ => Server::decide(&self.control, cmd),
        }
    }

    fn decide_on_shard(
        &mut self,
        k: usize,
        cmd: &ServerCommand,
    ) -> Result<Vec<ServerEvent>, ServerError> {
        let shard = &mut self.shards[k];
        std::mem::swap(&mut shard.tally, &mut self.control.tally);
        std::mem::swap(&mut shard.counters, &mut self.control.counters);
        let decided = Server::decide(shard, cmd);
        std::mem::swap(&mut shard.tally, &mut self.control.tally);
        std::mem::swap(&mut shard.counters, &mut self.control.counters);
        decided
    }

    /// A tick decided for the shards `owned` says (a worker's) and the campaign: care
    /// timeouts from those shards, in the single stream's `(expires, device)` order, then
    /// the campaign's coverage check and settlement from the control state.
    pub fn tick(
        &mut self,
        now: Timestamp,
        owned: impl Fn(u32) -> bool,
    ) -> Result<Vec<ServerEvent>, ServerError> {
        self.control.campaign()?;
        let mut timeouts: Vec<((Timestamp, DeviceId), Vec<ServerEvent>)> = Vec::new();
        for (k, shard) in self.shards.iter().enumerate() {
            if !owned(k as u32) || shard.in_flight.first().is_none_or(|(t, _)| *t > now) {
                continue;
            }
            let events = Server::decide(shard, &ServerCommand::Tick { now })?;
            for e in events {
                let Some(device) = device_of(&e) else {
                    continue; // the control state decides the campaign's tick
                };
                match timeouts.last_mut() {
                    Some((key, group)) if &key.1 == device => group.push(e),
                    _ => {
                        let expires = match shard.cases.get(device).map(|c| c.status) {
                            Some(crate::server::CaseStatus::CareInFlight { expires, .. }) => {
                                expires
                            }
                            _ => now,
                        };
                        timeouts.push(((expires, device.clone()), vec![e]));
                    }
                }
            }
        }
        timeouts.sort_by(|a, b| a.0.cmp(&b.0));
        let mut events: Vec<ServerEvent> = timeouts.into_iter().flat_map(|(_, g)| g).collect();
        events.extend(Server::decide(&self.control, &ServerCommand::Tick { now })?);
        Ok(events)
    }

    /// Folds `event`: a device's into its shard (and the sums), a campaign-level one into
    /// the control state and every shard.
    pub fn evolve(&mut self, event: &ServerEvent) {
        match device_of(event) {
            Some(device) => {
                let shard = &mut self.shards[self.router.shard_of(device) as usize];
                let (tally, counters) = (shard.tally, shard.counters);
                Server::evolve(shard, event);
                self.control.tally.shift(&tally, &shard.tally);
                self.control.counters.shift(&counters, &shard.counters);
            }
            None => {
                Server::evolve(&mut self.control, event);
                for shard in &mut self.shards {
                    Server::evolve(shard, event);
                }
                self.control_events += 1;
            }
        }
    }

    /// Rebuilds the state from its logs: the control log, and each shard's log (its
    /// copies of a prefix of the control log interleaved with its own events). A shard
    /// behind the control log catches up. Refused when a shard's log names a device of
    /// another shard, or its copies are not a prefix of the control log.
    pub fn from_logs(
        router: ShardRouter,
        control: &[ServerEvent],
        shards: &[Vec<ServerEvent>],
    ) -> Result<Self, String> {
        if shards.len() != router.shards as usize {
            return Err(format!(
                "{} shard logs for {} shards",
                shards.len(),
                router.shards
            ));
        }
        let mut state = ShardedState::new(router);
        // Each shard's tally and counters just before each control event: the sums the
        // control state had when it folded that event.
        let mut before: Vec<Vec<(crate::server::Tally, crate::server::Counters)>> =
            vec![Vec::with_capacity(shards.len()); control.len()];
        for (k, log) in shards.iter().enumerate() {
            let shard = &mut state.shards[k];
            let mut copies = 0usize;
            for e in log {
                match device_of(e) {
                    Some(d) => {
                        if router.shard_of(d) as usize != k {
                            return Err(format!(
                                "shard {k}'s log holds device {d} of shard {}",
                                router.shard_of(d)
                            ));
                        }
                    }
                    None => {
                        if control.get(copies) != Some(e) {
                            return Err(format!(
                                "shard {k}'s control event {} differs from the control log's",
                                copies + 1
                            ));
                        }
                        before[copies].push((shard.tally, shard.counters));
                        copies += 1;
                    }
                }
                Server::evolve(shard, e);
            }
            for (j, e) in control.iter().enumerate().skip(copies) {
                before[j].push((shard.tally, shard.counters));
                Server::evolve(shard, e);
            }
        }
        for (e, parts) in control.iter().zip(&before) {
            let mut tally = crate::server::Tally::default();
            let mut counters = crate::server::Counters::default();
            for (t, c) in parts {
                tally.shift(&crate::server::Tally::default(), t);
                counters.shift(&crate::server::Counters::default(), c);
            }
            state.control.tally = tally;
            state.control.counters = counters;
            Server::evolve(&mut state.control, e);
        }
        state.control.tally = crate::server::Tally::default();
        state.control.counters = crate::server::Counters::default();
        for shard in &state.shards {
            state.control.tally.shift(&Default::default(), &shard.tally);
            state
                .control
                .counters
                .shift(&Default::default(), &shard.counters);
        }
        state.control_events = control.len() as u64;
        Ok(state)
    }

    /// Care orders due at `now` over all shards, earliest first, at most `max` (the single
    /// stream's order).
    pub fn due_care(&self, now: Timestamp, max: usize) -> Vec<CareOrder> {
        let mut all: Vec<CareOrder> = self
            .shards
            .iter()
            .flat_map(|s| s.due_care(now, max))
            .collect();
        all.sort_by(|a, b| (a.due, &a.device).cmp(&(b.due, &b.device)));
        all.truncate(max);
        all
    }

    /// Care in flight over all shards, the soonest to expire first.
    pub fn care_in_flight(&self) -> Vec<InFlightCare> {
        let mut all: Vec<InFlightCare> = self
            .shards
            .iter()
            .flat_map(|s| s.care_in_flight())
            .collect();
        all.sort_by(|a, b| (a.expires, &a.device).cmp(&(b.expires, &b.device)));
        all
    }

    /// When anything next falls due in any shard or the campaign.
    pub fn next_wake(&self) -> Option<Timestamp> {
        self.shards
            .iter()
            .filter_map(ServerState::case_wake)
            .chain(self.control.next_wake())
            .min()
    }
}
