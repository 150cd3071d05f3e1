//! A decider paired with a store: decide → append → evolve; open = replay.

use std::collections::{BTreeMap, BTreeSet};

use crate::decider::{Decider, Side};
use crate::host::engine::{self, Answers, Engine};
use crate::model::CampaignId;
use crate::payload::PayloadError;
use crate::store::{EventStore, Persist, Record, StoreError, StreamBatch, StreamId, Version};

/// Why a runtime call failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RuntimeError<E> {
    /// The decider refused the command; nothing was appended.
    #[error(transparent)]
    Refused(E),
    /// The store failed; the in-memory state was reloaded from the store.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A received payload was refused before it reached the decider; nothing was applied.
    #[error("payload refused: {0}")]
    Payload(PayloadError),
}

/// Refusals counted per reason (not logged).
pub type Rejections = BTreeMap<&'static str, u64>;

/// The streams of one decider type, loaded from a store.
#[derive(Debug)]
pub(crate) struct Streams<D: Decider> {
    pub(crate) loaded: BTreeMap<CampaignId, (D::State, Version)>,
    /// Campaigns whose state was dropped after a failed commit the store could not be read
    /// back for: known, but not held in memory until a read of the store succeeds
    /// ([`Self::revive`]). A command for one is a store error (retry), never a decision
    /// against an empty state ("unknown campaign", which a device takes as final).
    pub(crate) stale: BTreeSet<CampaignId>,
}

impl<D> Streams<D>
where
    D: Decider,
    D::Event: Persist,
{
    /// Replays every stream of `D`'s side.
    pub(crate) fn open<S: EventStore>(store: &S) -> Result<Self, StoreError> {
        let mut loaded = BTreeMap::new();
        for stream in store.streams()? {
            if let Some((side, campaign)) = Side::of(&stream)
                && side == D::SIDE
            {
                let mut state = D::State::default();
                let v = store.fold(&stream, 0, |_, e: D::Event| D::evolve(&mut state, &e))?;
                loaded.insert(campaign, (state, v));
            }
        }
        Ok(Streams {
            loaded,
            stale: BTreeSet::new(),
        })
    }

    pub(crate) fn stream(&self, campaign: &CampaignId) -> StreamId {
        D::SIDE.stream(campaign)
    }

    pub(crate) fn reload<S: EventStore>(
        &mut self,
        store: &S,
        campaign: &CampaignId,
    ) -> Result<(), StoreError> {
        let stream = self.stream(campaign);
        let mut state = D::State::default();
        let v = store.fold(&stream, 0, |_, e: D::Event| D::evolve(&mut state, &e))?;
        if v == 0 {
            self.loaded.remove(campaign);
        } else {
            self.loaded.insert(campaign.clone(), (state, v));
        }
        self.stale.remove(campaign);
        Ok(())
    }

    /// Reloads every stale campaign among `keys` (all of them for `None`); the first read
    /// that fails is the answer: the store is not back yet.
    pub(crate) fn revive<S: EventStore>(
        &mut self,
        store: &S,
        keys: Option<&[&CampaignId]>,
    ) -> Result<(), StoreError> {
        let due: Vec<CampaignId> = match keys {
            None => self.stale.iter().cloned().collect(),
            Some(keys) => keys
                .iter()
                .filter(|k| self.stale.contains(**k))
                .map(|k| (*k).clone())
                .collect(),
        };
        for campaign in due {
            self.reload(store, &campaign)?;
        }
        Ok(())
    }

    /// Runs `cmds` (each on its campaign's stream) through the one loop
    /// ([`engine::execute`]): one atomic append and one flush for the batch.
    pub(crate) fn execute<S: EventStore>(
        &mut self,
        store: &S,
        cmds: &[(CampaignId, &D::Command)],
    ) -> Answers<D::Event, D::Error> {
        if !self.stale.is_empty() {
            let keys: Vec<&CampaignId> = cmds.iter().map(|(k, _)| k).collect();
            self.revive(store, Some(&keys))?;
        }
        engine::execute(
            &mut Bound {
                streams: self,
                store,
                appended: false,
            },
            cmds,
        )
    }

    /// One command through [`Self::execute`].
    pub(crate) fn handle<S: EventStore>(
        &mut self,
        store: &S,
        campaign: &CampaignId,
        cmd: &D::Command,
    ) -> Result<Vec<D::Event>, RuntimeError<D::Error>> {
        let mut out = self.execute(store, &[(campaign.clone(), cmd)])?;
        match out.pop() {
            Some(r) => r.map_err(RuntimeError::Refused),
            None => Ok(Vec::new()), // one answer per command
        }
    }
}

/// [`Streams`] with the store their events go to: the [`Engine`] of every single-stream
/// host.
struct Bound<'a, D: Decider, S> {
    streams: &'a mut Streams<D>,
    store: &'a S,
    /// The append of the batch succeeded (a failure after it was the flush's): the store
    /// holds the events, so the states are rebuilt from it.
    appended: bool,
}

impl<D, S> Engine for Bound<'_, D, S>
where
    D: Decider,
    D::Event: Persist,
    S: EventStore,
{
    type Key = CampaignId;
    type Command = D::Command;
    type Event = D::Event;
    type Error = D::Error;

    fn decide(&mut self, key: &CampaignId, cmd: &D::Command) -> Result<Vec<D::Event>, D::Error> {
        match self.streams.loaded.get(key) {
            Some((state, _)) => D::decide(state, cmd),
            None => D::decide(&D::State::default(), cmd),
        }
    }

    fn evolve(&mut self, key: &CampaignId, event: &D::Event) {
        let entry = self
            .streams
            .loaded
            .entry(key.clone())
            .or_insert_with(|| (D::State::default(), 0));
        D::evolve(&mut entry.0, event);
    }

    fn commit(&mut self, batch: &[(&CampaignId, Vec<&D::Event>)]) -> Result<(), StoreError> {
        let mut records: Vec<(StreamId, Version, Vec<Record>)> = Vec::with_capacity(batch.len());
        for (key, events) in batch {
            let stream = D::SIDE.stream(key);
            let version = self.streams.loaded.get(*key).map_or(0, |(_, v)| *v);
            let mut recs = Vec::with_capacity(events.len());
            for (k, e) in events.iter().enumerate() {
                let rec = e
                    .to_record(&stream, version + k as u64 + 1)
                    .map_err(|reason| StoreError::Encode {
                        stream: stream.clone(),
                        reason,
                    })?;
                recs.push(rec);
            }
            records.push((stream, version, recs));
        }
        let appends: Vec<StreamBatch<'_>> = records
            .iter_mut()
            .map(|(s, v, recs)| (&*s, *v, std::mem::take(recs)))
            .collect();
        let versions = self.store.append_records(&appends)?;
        self.appended = true;
        self.store.flush()?;
        for ((key, _), v) in batch.iter().zip(versions) {
            let entry = self
                .streams
                .loaded
                .entry((*key).clone())
                .or_insert_with(|| (D::State::default(), 0));
            entry.1 = v;
        }
        Ok(())
    }

    fn rollback(&mut self, key: &CampaignId, folded: bool, error: &StoreError) {
        if !folded && !self.appended && !matches!(error, StoreError::Conflict { .. }) {
            return; // neither the state nor the store holds the batch
        }
        if self.streams.reload(self.store, key).is_err() {
            // The store cannot be read back now: drop what this batch folded, but keep the
            // campaign known (stale): its commands are store errors until a read succeeds.
            // A campaign the store never held (this batch created it, and its append failed)
            // is simply gone.
            let held = self.streams.loaded.remove(key).is_some_and(|(_, v)| v > 0);
            if held || self.appended {
                self.streams.stale.insert(key.clone());
            }
        }
    }
}
