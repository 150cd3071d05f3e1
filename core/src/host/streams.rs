//! A decider paired with a store: decide → append → evolve; open = replay.

use std::collections::BTreeMap;

use crate::decider::{Decider, Side};
use crate::model::CampaignId;
use crate::payload::PayloadError;
use crate::store::{EventStore, Persist, StoreError, StreamId, Version};

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
        Ok(Streams { loaded })
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
        Ok(())
    }

    /// Decide, append, evolve.
    pub(crate) fn handle<S: EventStore>(
        &mut self,
        store: &S,
        campaign: &CampaignId,
        cmd: &D::Command,
    ) -> Result<Vec<D::Event>, RuntimeError<D::Error>> {
        let empty = (D::State::default(), 0);
        let (state, version) = self.loaded.get(campaign).unwrap_or(&empty);
        let events = D::decide(state, cmd).map_err(RuntimeError::Refused)?;
        if events.is_empty() {
            return Ok(events);
        }
        let stream = self.stream(campaign);
        let new_version = match store.append(&stream, *version, &events) {
            Ok(v) => v,
            Err(e) => {
                // Another writer may have moved the stream: the store is the truth.
                self.reload(store, campaign)?;
                return Err(e.into());
            }
        };
        let entry = self
            .loaded
            .entry(campaign.clone())
            .or_insert_with(|| (D::State::default(), 0));
        for e in &events {
            D::evolve(&mut entry.0, e);
        }
        entry.1 = new_version;
        Ok(events)
    }
}
