//! [`ShardedLog`]: a sharded campaign's logs on one or several stores (`docs/scale-out.md`).
//!
//! A campaign split over V shards ([`ShardedState`]) writes
//! * its campaign-level events to the control stream `control/<campaign>`, on the home
//!   store (the first of the [`ShardMap`]);
//! * each device's events to its shard's stream `shard/<k>/<campaign>`, on the store the
//!   map places shard `k` on, each preceded by the shard's copies of the control events that
//!   came before them (the shard's fence on the control stream).
//!
//! Appends go to the home store first, so a shard's copies are always a prefix of a durable
//! control stream; stores written in one call are appended atomically store by store (one
//! transaction each on PostgreSQL). Neither stream name parses as a single-stream campaign
//! (`server/<campaign>`), so a single-stream host never mistakes them for one.

use crate::model::CampaignId;
use crate::server::{ServerEvent, ShardRouter, ShardedState, device_of};
use crate::store::{EventStore, Persist, Record, StoreError, StreamId, Version};

/// Where each shard's stream lives: shard `k` on store `placement[k]`. Versioned: moving a
/// shard ([`ShardMap::moved`]) makes a new version; the shard's stream name does not change,
/// so no device is rehashed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardMap {
    /// Incremented by every move.
    pub version: u64,
    /// Store index of each shard.
    pub placement: Vec<u16>,
}

impl ShardMap {
    /// V shards spread round-robin over `stores` stores (shard k on store k mod stores).
    pub fn round_robin(shards: u32, stores: u16) -> ShardMap {
        let stores = stores.max(1);
        ShardMap {
            version: 1,
            placement: (0..shards)
                .map(|k| (k % u32::from(stores)) as u16)
                .collect(),
        }
    }

    /// This map with shard `k` on store `to`: the next version.
    pub fn moved(&self, k: u32, to: u16) -> ShardMap {
        let mut next = self.clone();
        if let Some(p) = next.placement.get_mut(k as usize) {
            *p = to;
        }
        next.version += 1;
        next
    }
}

/// The control stream of a sharded campaign.
pub fn control_stream(campaign: &CampaignId) -> StreamId {
    StreamId::joined("control", campaign.as_str())
}

/// Shard `k`'s stream of a sharded campaign.
pub fn shard_stream(campaign: &CampaignId, k: u32) -> StreamId {
    StreamId::joined(&format!("shard/{k}"), campaign.as_str())
}

#[derive(Debug)]
struct ShardLog {
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
}

fn read_stream<S: EventStore>(
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

impl<'a, S: EventStore> ShardedLog<'a, S> {
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
            },
            state,
        ))
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
        for e in events {
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
        let mut by_store: Vec<Vec<(usize, Vec<Record>)>> = vec![Vec::new(); self.stores.len()];
        for (k, recs) in touched {
            by_store[usize::from(self.map.placement[k])].push((k, recs));
        }
        let mut control = Some(control).filter(|c| !c.is_empty());
        for (store, parts) in by_store.into_iter().enumerate() {
            let with_control = store == 0 && control.is_some();
            if parts.is_empty() && !with_control {
                continue;
            }
            let ks: Vec<usize> = parts.iter().map(|p| p.0).collect();
            let mut batch = Vec::with_capacity(parts.len() + 1);
            if with_control && let Some(recs) = control.take() {
                batch.push((&self.control_stream, self.control_version, recs));
            }
            for (k, recs) in parts {
                let s = &self.shards[k];
                batch.push((&s.stream, s.version, recs));
            }
            let versions = self.stores[store].append_records(&batch)?;
            self.stores[store].flush()?;
            let mut v = versions.into_iter();
            if with_control {
                self.control_version = v.next().unwrap_or(self.control_version);
            }
            for k in ks {
                if let Some(nv) = v.next() {
                    self.shards[k].version = nv;
                }
            }
        }
        Ok(())
    }
}
