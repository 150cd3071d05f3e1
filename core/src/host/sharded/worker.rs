//! [`ShardWorker`]: one of several server workers of a sharded campaign.

use super::*;
use crate::model::CampaignId;
use crate::server::{ServerEvent, ShardRouter, ShardedState};
use crate::store::{EventStore, StoreError};

/// Why a [`ShardWorker`] did not run a command.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum WorkerError {
    /// The command is about a device whose shard another worker owns: route it there.
    #[error("device {device} is in shard {shard}, which this worker does not own")]
    NotOwned {
        /// The device.
        device: String,
        /// Its shard.
        shard: u32,
    },
    /// The decider refused the command; nothing was appended.
    #[error(transparent)]
    Refused(#[from] crate::server::ServerError),
    /// The store failed (or this worker lost a shard it was writing: `Conflict`); the worker
    /// reopened from the stores.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// One of several server workers of a sharded campaign (`docs/scale-out.md`): it decides
/// and appends the commands of devices in the shards it owns (given by a lease, e.g.
/// `devcare_pg::PgStore::acquire_shards`), and campaign-level commands, which any worker
/// may run (the control stream's expected version orders them: a worker that loses the race
/// rereads and decides again). It reads the other workers' shards for the campaign's sums
/// ([`ShardWorker::refresh`]).
#[derive(Debug)]
pub struct ShardWorker<'a, S> {
    stores: &'a [S],
    router: ShardRouter,
    campaign: CampaignId,
    log: ShardedLog<'a, S>,
    state: ShardedState,
    owned: Vec<bool>,
    writers: usize,
}

impl<'a, S: EventStore + Sync> ShardWorker<'a, S> {
    /// Opens `campaign` on `stores` placed by `map`, owning no shard yet.
    pub fn open(
        stores: &'a [S],
        map: ShardMap,
        router: ShardRouter,
        campaign: &CampaignId,
    ) -> Result<Self, StoreError> {
        let (log, state) = ShardedLog::open(stores, map, router, campaign)?;
        Ok(ShardWorker {
            stores,
            router,
            campaign: campaign.clone(),
            log,
            state,
            owned: vec![false; router.shards() as usize],
            writers: 1,
        })
    }

    /// Appends with `writers` threads ([`ShardedLog::set_writers`]).
    pub fn set_writers(&mut self, writers: usize) {
        self.writers = writers;
        self.log.set_writers(writers);
    }

    fn reopen(&mut self) -> Result<(), StoreError> {
        let map = self.log.map().clone();
        let (mut log, state) = ShardedLog::open(self.stores, map, self.router, &self.campaign)?;
        log.set_writers(self.writers);
        self.log = log;
        self.state = state;
        Ok(())
    }

    /// Owns exactly `shards` from now on. A shard newly owned is read afresh from its
    /// stream (the whole campaign is reopened), so the worker continues where the shard's
    /// previous owner stopped.
    pub fn set_owned(&mut self, shards: &[u32]) -> Result<(), StoreError> {
        let mut owned = vec![false; self.router.shards() as usize];
        for &k in shards {
            if let Some(o) = owned.get_mut(k as usize) {
                *o = true;
            }
        }
        let gained = owned
            .iter()
            .zip(&self.owned)
            .any(|(now, before)| *now && !before);
        self.owned = owned;
        if gained {
            self.reopen()?;
        }
        Ok(())
    }

    /// The shards this worker owns.
    pub fn owned(&self) -> Vec<u32> {
        (0..self.router.shards())
            .filter(|&k| self.owned[k as usize])
            .collect()
    }

    /// Whether this worker owns `device`'s shard.
    pub fn owns(&self, device: &crate::model::DeviceId) -> bool {
        self.owned[self.router.shard_of(device) as usize]
    }

    /// Reads what the other workers appended (see [`ShardedLog::refresh`]).
    pub fn refresh(&mut self) -> Result<(), StoreError> {
        if self.log.refresh(&mut self.state, &self.owned)? {
            self.reopen()?;
        }
        Ok(())
    }

    /// The campaign as this worker sees it: its own shards exact, the others' as of the
    /// last refresh.
    pub fn state(&self) -> &ShardedState {
        &self.state
    }

    /// Decides and appends `cmd` (a tick covers this worker's shards and the campaign).
    /// Refused with [`WorkerError::NotOwned`] for a device of another worker's shard.
    pub fn handle(
        &mut self,
        cmd: &crate::server::ServerCommand,
    ) -> Result<Vec<ServerEvent>, WorkerError> {
        if let Some(device) = crate::server::command_device(cmd) {
            let shard = self.router.shard_of(device);
            if !self.owned[shard as usize] {
                return Err(WorkerError::NotOwned {
                    device: device.to_string(),
                    shard,
                });
            }
        }
        let mut tries = 0;
        loop {
            match crate::host::engine::execute(self, &[((), cmd)]) {
                Ok(mut out) => return Ok(out.pop().unwrap_or(Ok(Vec::new()))?),
                // Another worker moved the control stream (or took a shard): the engine
                // reread the campaign; decide again.
                Err(StoreError::Conflict { .. }) if tries < 3 => tries += 1,
                Err(e) => return Err(e.into()),
            }
        }
    }
}

/// A worker runs the one loop ([`crate::host::engine::execute`]) over the whole campaign
/// (one key): a tick covers its own shards and the campaign.
impl<S: EventStore + Sync> crate::host::engine::Engine for ShardWorker<'_, S> {
    type Key = ();
    type Command = crate::server::ServerCommand;
    type Event = ServerEvent;
    type Error = crate::server::ServerError;

    fn decide(
        &mut self,
        _: &(),
        cmd: &crate::server::ServerCommand,
    ) -> Result<Vec<ServerEvent>, crate::server::ServerError> {
        match cmd {
            crate::server::ServerCommand::Tick { now } => {
                let owned = &self.owned;
                self.state.tick(*now, |k| owned[k as usize])
            }
            _ => self.state.decide(cmd),
        }
    }

    fn evolve(&mut self, _: &(), event: &ServerEvent) {
        self.state.evolve(event);
    }

    fn commit(&mut self, batch: &[(&(), Vec<&ServerEvent>)]) -> Result<(), StoreError> {
        let events: Vec<&ServerEvent> = batch
            .iter()
            .flat_map(|(_, es)| es.iter().copied())
            .collect();
        self.log.append_refs(&events)
    }

    fn rollback(&mut self, _: &(), _: bool, _: &StoreError) {
        // What reached a store is there: always reread the campaign.
        // A failed reopen leaves the worker as it was; its next append is fenced by the
        // stores' versions and fails until a reopen succeeds.
        let _ = self.reopen();
    }
}
