//! The in-memory backend: for tests, simulation and hosts that keep their own log.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};

use crate::store::{
    EventStore, Record, RecordVisitor, StoreError, StreamBatch, StreamId, Version, check_batch,
};

/// Records in a map behind a mutex. Same semantics as the sled backend, no durability.
#[derive(Debug, Default)]
pub struct MemoryStore {
    streams: Mutex<BTreeMap<StreamId, Vec<Record>>>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<StreamId, Vec<Record>>> {
        // A panic while holding the lock cannot leave a half-applied append (appends
        // mutate only after every check), so a poisoned map is still consistent.
        self.streams.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl EventStore for MemoryStore {
    fn append_records(&self, batch: &[StreamBatch<'_>]) -> Result<Vec<Version>, StoreError> {
        let mut map = self.lock();
        let out = check_batch(batch, |s| Ok(map.get(s).map_or(0, |v| v.len() as u64)))?;
        for (stream, _, recs) in batch {
            map.entry((*stream).clone())
                .or_default()
                .extend(recs.iter().cloned());
        }
        Ok(out)
    }

    fn scan_records(
        &self,
        stream: &StreamId,
        from: Version,
        f: &mut RecordVisitor<'_>,
    ) -> Result<(), StoreError> {
        // Copy out under the lock, call back without it (the callback may use the store).
        let recs: Vec<Record> = {
            let map = self.lock();
            let Some(v) = map.get(stream) else {
                return Ok(());
            };
            v.iter()
                .skip(usize::try_from(from).unwrap_or(usize::MAX))
                .cloned()
                .collect()
        };
        for (i, rec) in recs.iter().enumerate() {
            f(from + 1 + i as u64, rec)?;
        }
        Ok(())
    }

    fn version(&self, stream: &StreamId) -> Result<Version, StoreError> {
        Ok(self.lock().get(stream).map_or(0, |v| v.len() as u64))
    }

    fn streams(&self) -> Result<Vec<StreamId>, StoreError> {
        Ok(self
            .lock()
            .iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|(k, _)| k.clone())
            .collect())
    }

    fn flush(&self) -> Result<(), StoreError> {
        Ok(())
    }
}
