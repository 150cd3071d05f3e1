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
use crate::server::ServerEvent;
use crate::store::{EventStore, Persist, Record, StoreError, StreamId, Version};

mod log;
mod worker;

pub use log::*;
pub use worker::*;

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

/// Copies `stream`'s records verbatim from `from` to `to`, where the stream must be new:
/// moving a shard to another database (`docs/scale-out.md`, "Moving a shard"). A record's
/// CRC covers its stream and seq, not its database, so the copies read back as the
/// originals; the copy is checked record by record. Returns the version copied. The shard's
/// owner must have stopped writing it first; then hand the workers [`ShardMap::moved`]. The
/// original stays in `from` (stores never delete): drop it there by hand once every worker
/// runs with the new map.
pub fn copy_stream<S: EventStore, T: EventStore>(
    from: &S,
    to: &T,
    stream: &StreamId,
) -> Result<Version, StoreError> {
    const CHUNK: usize = 4096;
    let mut version = 0;
    let mut chunk: Vec<Record> = Vec::with_capacity(CHUNK);
    let flush_chunk = |chunk: &mut Vec<Record>, version: &mut Version| {
        if chunk.is_empty() {
            return Ok(());
        }
        *version = to.append_records(&[(stream, *version, std::mem::take(chunk))])?[0];
        Ok::<(), StoreError>(())
    };
    from.scan_records(stream, 0, &mut |seq, rec| {
        // Decoding checks frame, CRC, stream and seq before anything is written.
        ServerEvent::from_record(stream, seq, rec)?;
        chunk.push(rec.to_vec());
        if chunk.len() == CHUNK {
            flush_chunk(&mut chunk, &mut version)?;
        }
        Ok(())
    })?;
    flush_chunk(&mut chunk, &mut version)?;
    to.flush()?;
    let mut n = 0;
    to.scan_records(stream, 0, &mut |seq, rec| {
        ServerEvent::from_record(stream, seq, rec)?;
        n = seq;
        Ok(())
    })?;
    if n != version || from.version(stream)? != version {
        return Err(StoreError::Backend(format!(
            "copying {stream}: {version} records copied, {n} read back"
        )));
    }
    Ok(version)
}
