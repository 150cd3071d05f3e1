//! [`ShardedLog`]: the appends and reads of a sharded campaign's streams.

use super::*;
use crate::model::CampaignId;
use crate::server::{ServerEvent, ShardRouter, ShardedState, device_of};
use crate::store::{EventStore, Persist, Record, StoreError, StreamId, Version};

/// Shard batches to append to one store: (shard, records).
pub(super) type StoreBatch = Vec<(usize, Vec<Record>)>;
/// One writer's batches: (store index, its batches).
pub(super) type WriterBatches = Vec<(usize, StoreBatch)>;
/// What a writer appended: the control stream's new version (if it wrote it) and each
/// shard's new version.
pub(super) type Written = (Option<Version>, Vec<(usize, Version)>);

#[derive(Debug)]
pub(super) struct ShardLog {
    stream: StreamId,
    version: Version,
    /// Control events copied into this shard's stream.
    copied: usize,
}

/// A sharded campaign's logs, open for appending (see the module documentation).
#[derive(Debug)]
pub struct ShardedLog<'a, S> {
    stores: &'a [S],
    map: ShardMap,
    control_stream: StreamId,
    control_version: Version,
    /// The control stream's events (few: create, broadcast, checks, settlement…).
    control: Vec<ServerEvent>,
    shards: Vec<ShardLog>,
    router: ShardRouter,
    /// Threads appending shard batches at once (1: one atomic append per store).
    writers: usize,
}

pub(super) fn read_stream<S: EventStore>(
    store: &S,
    stream: &StreamId,
) -> Result<Vec<ServerEvent>, StoreError> {
    let mut out = Vec::new();
    store.scan_records(stream, 0, &mut |seq, rec| {
        out.push(ServerEvent::from_record(stream, seq, rec)?);
        Ok(())
    })?;
    Ok(out)
}

impl<'a, S: EventStore + Sync> ShardedLog<'a, S> {
    /// Opens `campaign`'s logs on `stores` placed by `map` (V = `router.shards()`), and
    /// replays them ([`ShardedState::from_logs`]). An empty campaign opens empty. Refused
    /// when the map does not fit the router or the stores, and when the logs do not fit the
    /// router (a shard stream holding another shard's device: another shard count or fleet
    /// key wrote them).
    pub fn open(
        stores: &'a [S],
        map: ShardMap,
        router: ShardRouter,
        campaign: &CampaignId,
    ) -> Result<(Self, ShardedState), StoreError> {
        if map.placement.len() != router.shards() as usize
            || map
                .placement
                .iter()
                .any(|&p| usize::from(p) >= stores.len())
        {
            return Err(StoreError::Backend(format!(
                "shard map of {} shards over stores {:?} does not fit {} shards on {} stores",
                map.placement.len(),
                map.placement.iter().max(),
                router.shards(),
                stores.len()
            )));
        }
        // Shard streams beyond V: another shard count wrote this campaign.
        let beyond = shard_stream(campaign, router.shards());
        for store in stores {
            if store.version(&beyond)? > 0 {
                return Err(StoreError::Backend(format!(
                    "sharded campaign {campaign}: {beyond} exists, so more than {} shards wrote it; open it with its own shard count",
                    router.shards()
                )));
            }
        }
        let control_stream = control_stream(campaign);
        let control = read_stream(&stores[0], &control_stream)?;
        let mut shards = Vec::with_capacity(map.placement.len());
        let mut logs = Vec::with_capacity(map.placement.len());
        for (k, &p) in map.placement.iter().enumerate() {
            let stream = shard_stream(campaign, k as u32);
            let log = read_stream(&stores[usize::from(p)], &stream)?;
            shards.push(ShardLog {
                stream,
                version: log.len() as Version,
                copied: log.iter().filter(|e| device_of(e).is_none()).count(),
            });
            logs.push(log);
        }
        let state = ShardedState::from_logs(router, &control, &logs).map_err(|reason| {
            StoreError::Backend(format!("sharded campaign {campaign}: {reason}"))
        })?;
        Ok((
            ShardedLog {
                stores,
                map,
                control_version: control.len() as Version,
                control_stream,
                control,
                shards,
                router,
                writers: 1,
            },
            state,
        ))
    }

    /// Appends shard batches from `writers` threads at once, each owning the shards `k` with
    /// `k mod writers` its index (its own transaction per store). The control events of a
    /// call are appended first, alone; only then the shards' batches, which copy them.
    pub fn set_writers(&mut self, writers: usize) {
        self.writers = writers.max(1);
    }

    /// The shard map.
    pub fn map(&self) -> &ShardMap {
        &self.map
    }

    /// Appends the events one decision made, in order, and makes them durable: the control
    /// events and the home store's shards first (one atomic append), then each other store's
    /// shards (one atomic append each). After an error, reopen: what reached a store is
    /// there, and a shard's copies never run ahead of the control stream.
    pub fn append(&mut self, events: &[ServerEvent]) -> Result<(), StoreError> {
        let refs: Vec<&ServerEvent> = events.iter().collect();
        self.append_refs(&refs)
    }

    /// [`Self::append`] of events held elsewhere.
    pub(crate) fn append_refs(&mut self, events: &[&ServerEvent]) -> Result<(), StoreError> {
        // Per shard touched: its records; the control stream's records.
        let mut control_recs: Vec<Record> = Vec::new();
        let mut touched: Vec<(usize, Vec<Record>)> = Vec::new();
        let encode = |e: &ServerEvent, stream: &StreamId, seq: u64| {
            e.to_record(stream, seq)
                .map_err(|reason| StoreError::Encode {
                    stream: stream.clone(),
                    reason,
                })
        };
        let control_before = self.control.len();
        let mut pending_copies: Vec<usize> = Vec::new(); // per touched: copied before
        for &e in events {
            match device_of(e) {
                None => {
                    let seq = self.control_version + control_recs.len() as u64 + 1;
                    control_recs.push(encode(e, &self.control_stream, seq)?);
                    self.control.push(e.clone());
                }
                Some(d) => {
                    let k = self.router.shard_of(d) as usize;
                    let i = match touched.iter().position(|t| t.0 == k) {
                        Some(i) => i,
                        None => {
                            touched.push((k, Vec::new()));
                            pending_copies.push(self.shards[k].copied);
                            touched.len() - 1
                        }
                    };
                    let shard = &mut self.shards[k];
                    let recs = &mut touched[i].1;
                    for c in &self.control[shard.copied..] {
                        let seq = shard.version + recs.len() as u64 + 1;
                        recs.push(encode(c, &shard.stream, seq)?);
                    }
                    shard.copied = self.control.len();
                    let seq = shard.version + recs.len() as u64 + 1;
                    recs.push(encode(e, &shard.stream, seq)?);
                }
            }
        }
        let ks: Vec<usize> = touched.iter().map(|t| t.0).collect();
        let result = self.write(control_recs, touched);
        if result.is_err() {
            // Forget what this call meant to write; a reopen reads what the stores hold.
            self.control.truncate(control_before);
            for (k, copied) in ks.into_iter().zip(pending_copies) {
                self.shards[k].copied = copied;
            }
        }
        result
    }

    fn write(
        &mut self,
        control: Vec<Record>,
        touched: Vec<(usize, Vec<Record>)>,
    ) -> Result<(), StoreError> {
        let writers = self.writers;
        // Group the shard batches by (writer, store); with one writer, the control batch
        // goes in the home store's group, so that store's append is one transaction.
        let mut groups: Vec<StoreBatch> = vec![Vec::new(); writers * self.stores.len()];
        for (k, recs) in touched {
            let store = usize::from(self.map.placement[k]);
            groups[(k % writers) * self.stores.len() + store].push((k, recs));
        }
        let mut control = Some(control).filter(|c| !c.is_empty());
        if writers > 1
            && let Some(recs) = control.take()
        {
            let v = self.stores[0].append_records(&[(
                &self.control_stream,
                self.control_version,
                recs,
            )])?;
            self.stores[0].flush()?;
            self.control_version = v.first().copied().unwrap_or(self.control_version);
        }
        let stores = self.stores;
        let shards = &self.shards;
        let control_stream = &self.control_stream;
        let control_version = self.control_version;
        // One writer's groups, store by store: the new control version (if it wrote the
        // control batch) and each shard's new version.
        let run = |mine: WriterBatches,
                   mut control: Option<Vec<Record>>|
         -> Result<Written, StoreError> {
            let mut new_control = None;
            let mut versions = Vec::new();
            for (store, parts) in mine {
                let with_control = store == 0 && control.is_some();
                if parts.is_empty() && !with_control {
                    continue;
                }
                let ks: Vec<usize> = parts.iter().map(|p| p.0).collect();
                let mut batch = Vec::with_capacity(parts.len() + 1);
                if with_control && let Some(recs) = control.take() {
                    batch.push((control_stream, control_version, recs));
                } else if store == 0 {
                    // The fence: no records, the control version this decision read. The
                    // home store refuses the whole batch (a conflict: reread, decide again)
                    // if another writer moved the campaign since — a pause, a revision.
                    batch.push((control_stream, control_version, Vec::new()));
                }
                let led = store == 0;
                for (k, recs) in parts {
                    batch.push((&shards[k].stream, shards[k].version, recs));
                }
                let got = stores[store].append_records(&batch)?;
                stores[store].flush()?;
                let mut v = got.into_iter();
                if led {
                    let c = v.next();
                    if with_control {
                        new_control = c;
                    }
                }
                versions.extend(ks.into_iter().zip(v));
            }
            Ok((new_control, versions))
        };
        let mut per_writer: Vec<WriterBatches> = vec![Vec::new(); writers];
        for (i, g) in groups.into_iter().enumerate() {
            per_writer[i / stores.len()].push((i % stores.len(), g));
        }
        let results = if writers == 1 {
            let mine = per_writer.pop().unwrap_or_default();
            vec![run(mine, control.take())]
        } else {
            std::thread::scope(|scope| {
                let handles: Vec<_> = per_writer
                    .into_iter()
                    .filter(|w| w.iter().any(|(_, g)| !g.is_empty()))
                    .map(|mine| scope.spawn(|| run(mine, None)))
                    .collect();
                handles
                    .into_iter()
                    .map(|h| {
                        h.join().unwrap_or_else(|_| {
                            Err(StoreError::Backend("a shard writer thread panicked".into()))
                        })
                    })
                    .collect()
            })
        };
        let mut first_error = None;
        for r in results {
            match r {
                Ok((c, versions)) => {
                    if let Some(c) = c {
                        self.control_version = c;
                    }
                    for (k, v) in versions {
                        self.shards[k].version = v;
                    }
                }
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}

impl<S: EventStore + Sync> ShardedLog<'_, S> {
    /// Reads what other writers appended since this log last read: new control events
    /// (folded into `state` and every shard), then the new events of each shard `owned`
    /// says is not this writer's (their control copies skipped, their devices' events
    /// folded). Returns `true`, having read nothing, when the control stream gained a create
    /// or a revision: reopen then ([`ShardedLog::open`]), as a revision restarts every
    /// shard. The other writers' shards are then as they were when read — exact for their
    /// tallies, but not interleaved with this writer's control events as their own streams
    /// interleave them; a reopen is exact.
    pub fn refresh(
        &mut self,
        state: &mut ShardedState,
        owned: &[bool],
    ) -> Result<bool, StoreError> {
        let mut new = Vec::new();
        self.stores[0].scan_records(
            &self.control_stream,
            self.control_version,
            &mut |seq, rec| {
                new.push(ServerEvent::from_record(&self.control_stream, seq, rec)?);
                Ok(())
            },
        )?;
        if new.iter().any(|e| {
            matches!(
                e,
                ServerEvent::CampaignCreated { .. } | ServerEvent::CampaignRevised { .. }
            )
        }) {
            return Ok(true);
        }
        self.control_version += new.len() as u64;
        for e in new {
            state.evolve(&e);
            self.control.push(e);
        }
        for (k, shard) in self.shards.iter_mut().enumerate() {
            if owned.get(k).copied().unwrap_or(false) {
                continue;
            }
            let store = &self.stores[usize::from(self.map.placement[k])];
            let mut read = 0;
            store.scan_records(&shard.stream, shard.version, &mut |seq, rec| {
                let e = ServerEvent::from_record(&shard.stream, seq, rec)?;
                if device_of(&e).is_some() {
                    state.evolve(&e);
                } else {
                    shard.copied += 1;
                }
                read += 1;
                Ok(())
            })?;
            shard.version += read;
        }
        Ok(false)
    }
}
