//! The append-only event log.
//!
//! The store knows records and streams, not the domain: the domain names its streams
//! ([`crate::decider::Side`]) and turns its events into records ([`Persist`], implemented in
//! [`crate::persist`]). Events are numbered from 1 within their stream; a stream's *version* is
//! the number of events in it. [`EventStore::append`] is optimistic: it succeeds only if the
//! stream is still at the version the caller read, so two writers cannot both win a version.
//!
//! ## Durability
//!
//! An append is **atomic** (all of its events, in every stream of a batch, or none) and
//! visible to readers at once. It is **durable** only after [`EventStore::flush`] returns
//! `Ok`: a crash before that may lose the most recent appends (whole appends, never part of
//! one), a crash after it loses none of the appends made before the call. The sled backend
//! also flushes on its own every 500 ms. The in-memory backend has no durability.
//!
//! ## Records
//!
//! Each event is stored as `[format version u8][bincode body][CRC32C]` (see [`crate::codec`]).
//! The body is a [`StoredEvent`](crate::persist::StoredEvent), the persisted schema,
//! separate from the domain enums: its
//! variants are never reordered or reused, and old variants are upcast to the domain event on
//! read. A damaged or unknown record is a [`StoreError::Corrupt`] naming stream and sequence
//! number — never a panic, never skipped.

mod file;
mod memory;
#[cfg(feature = "sled")]
mod sled_store;

/// Stream names live with the other ids: the deciders name their streams without the store.
pub use crate::ids::{MAX_STREAM_ID_LEN, StreamId};
pub use file::{FileStore, LOG_FILE, TORN_FILE};
pub use memory::MemoryStore;
#[cfg(feature = "sled")]
pub use sled_store::{SledOptions, SledStore, event_key, head_key};

use crate::codec::{CodecError, StreamCrc};

/// Number of events in a stream (0 = empty). Event *n* has sequence number *n*.
pub type Version = u64;

/// What went wrong in the store. Every variant that concerns a record names its stream and
/// sequence number.
#[derive(Debug, Clone, PartialEq, thiserror::Error, strum::IntoStaticStr)]
#[strum(serialize_all = "kebab-case")]
pub enum StoreError {
    /// Optimistic concurrency: the stream moved on since the caller read it.
    #[error("stream {stream}: expected version {expected}, the stream is at {actual}")]
    Conflict {
        /// Stream.
        stream: StreamId,
        /// Version the caller expected.
        expected: Version,
        /// Version the stream has.
        actual: Version,
    },
    /// A record failed its checksum, frame, format version or decoding.
    #[error("stream {stream} seq {seq}: corrupt record: {reason}")]
    Corrupt {
        /// Stream.
        stream: StreamId,
        /// Sequence number.
        seq: u64,
        /// What is wrong.
        reason: CodecError,
    },
    /// A record is missing: the stream jumps from `seq - 1` to a later number, or ends early.
    #[error("stream {stream} seq {seq}: record missing (stream head says version {head})")]
    Missing {
        /// Stream.
        stream: StreamId,
        /// The first missing sequence number.
        seq: u64,
        /// The version the stream's head records.
        head: Version,
    },
    /// A record holds an event of the other side (a server event in a device stream).
    #[error("stream {stream} seq {seq}: holds a {found} event, expected a {expected} event")]
    WrongKind {
        /// Stream.
        stream: StreamId,
        /// Sequence number.
        seq: u64,
        /// Expected kind.
        expected: &'static str,
        /// Found kind.
        found: &'static str,
    },
    /// An event could not be encoded.
    #[error("stream {stream}: cannot encode event: {reason}")]
    Encode {
        /// Stream.
        stream: StreamId,
        /// Why.
        reason: CodecError,
    },
    /// The storage backend failed (I/O, a key that is not ours).
    #[error("storage backend: {0}")]
    Backend(String),
}

impl StoreError {
    /// The OMA DM status a server answers a device with when this failure kept it from
    /// recording the device's message: 500 (Command failed). Not a definitive refusal
    /// ([`crate::rules::is_definitive_refusal`]): the device sends again.
    pub fn dm_status(&self) -> u16 {
        crate::status::COMMAND_FAILED
    }

    /// The stable name: the variant's name in kebab-case, derived (strum), so it cannot
    /// drift from the variant (counters, C codes, bindings).
    pub fn reason(&self) -> &'static str {
        self.into()
    }
}

/// A backend chosen at run time (for the hosts, the C API and the bindings).
#[derive(Debug)]
pub enum AnyStore {
    /// In memory.
    Memory(MemoryStore),
    /// One append-only file: a handset's store.
    File(FileStore),
    /// sled: the server's embedded store.
    #[cfg(feature = "sled")]
    Sled(SledStore),
}

impl AnyStore {
    /// Bytes of a torn tail the open of a device's log set aside (an append a power cut
    /// interrupted, never acknowledged; kept in `devcare.log.torn`); 0 for other stores.
    pub fn torn_tail(&self) -> u64 {
        match self {
            AnyStore::File(f) => f.torn_tail(),
            _ => 0,
        }
    }

    /// The server's store: a sled directory at `path`, or an in-memory store for `None`.
    #[cfg(feature = "sled")]
    pub fn open(path: Option<&std::path::Path>) -> Result<Self, StoreError> {
        Self::open_with(path, &SledOptions::default())
    }

    /// [`Self::open`], sled run with `options`.
    #[cfg(feature = "sled")]
    pub fn open_with(
        path: Option<&std::path::Path>,
        options: &SledOptions,
    ) -> Result<Self, StoreError> {
        Ok(match path {
            Some(p) => AnyStore::Sled(SledStore::open_with(p, options)?),
            None => AnyStore::Memory(MemoryStore::new()),
        })
    }

    /// A handset's store: an in-memory store for `None`, else the [`FileStore`] in
    /// directory `path`. A directory that holds a sled database instead (written by devcare
    /// 0.7 or older: a `conf` file and no [`LOG_FILE`]) is opened as sled, with
    /// [`SledOptions::DEVICE`], when this build has the `sled` feature, and refused with a
    /// [`StoreError::Backend`] saying so when it has not: never read as an empty log.
    pub fn open_device(path: Option<&std::path::Path>) -> Result<Self, StoreError> {
        let Some(p) = path else {
            return Ok(AnyStore::Memory(MemoryStore::new()));
        };
        if holds_sled(p) {
            #[cfg(feature = "sled")]
            return Ok(AnyStore::Sled(SledStore::open_with(
                p,
                &SledOptions::DEVICE,
            )?));
            #[cfg(not(feature = "sled"))]
            return Err(StoreError::Backend(format!(
                "{}: a sled store (devcare 0.7 or older); this build has no sled backend: \
                 build devcare with its `sled` feature to open it",
                p.display()
            )));
        }
        Ok(AnyStore::File(FileStore::open(p)?))
    }

    fn inner(&self) -> &dyn EventStore {
        match self {
            AnyStore::Memory(m) => m,
            AnyStore::File(f) => f,
            #[cfg(feature = "sled")]
            AnyStore::Sled(s) => s,
        }
    }
}

impl EventStore for AnyStore {
    fn append_records(&self, batch: &[StreamBatch<'_>]) -> Result<Vec<Version>, StoreError> {
        self.inner().append_records(batch)
    }
    fn scan_records(
        &self,
        stream: &StreamId,
        from: Version,
        f: &mut RecordVisitor<'_>,
    ) -> Result<(), StoreError> {
        self.inner().scan_records(stream, from, f)
    }
    fn version(&self, stream: &StreamId) -> Result<Version, StoreError> {
        self.inner().version(stream)
    }
    fn streams(&self) -> Result<Vec<StreamId>, StoreError> {
        self.inner().streams()
    }
    fn flush(&self) -> Result<(), StoreError> {
        self.inner().flush()
    }
    fn holds_format_1(&self) -> bool {
        self.inner().holds_format_1()
    }
}

/// Whether directory `dir` holds a sled database (sled's `conf` file) and no
/// [`LOG_FILE`]: a store written by sled, not by the file store.
pub fn holds_sled(dir: &std::path::Path) -> bool {
    dir.join("conf").is_file() && !dir.join(LOG_FILE).exists()
}

/// One part of an atomic batch append.
#[derive(Debug, Clone)]
pub struct AppendRequest<'a, E> {
    /// Stream to append to.
    pub stream: &'a StreamId,
    /// Version the caller read.
    pub expected: Version,
    /// Events to append.
    pub events: &'a [E],
}

/// Called with each record's sequence number and bytes; an error stops the scan.
pub type RecordVisitor<'a> = dyn FnMut(u64, &[u8]) -> Result<(), StoreError> + 'a;

/// A record as the backends store it: encoded bytes.
pub type Record = Vec<u8>;

/// One stream's part of an atomic record batch: the stream, the version the caller read,
/// and the records to append after it.
pub type StreamBatch<'a> = (&'a StreamId, Version, Vec<Record>);

/// An event type that can be stored: how it becomes a record and comes back (upcast).
/// The domain's events implement it in [`crate::persist`].
pub trait Persist: Sized {
    /// The kind of event, named in [`StoreError::WrongKind`].
    const KIND: &'static str;

    /// Encodes the event as the framed record at `seq` of `stream` (its CRC covers the key).
    fn to_record(&self, stream: &StreamId, seq: u64) -> Result<Vec<u8>, CodecError>;

    /// Decodes (and upcasts) the record at `stream`/`seq`.
    fn from_record(stream: &StreamId, seq: u64, rec: &[u8]) -> Result<Self, StoreError> {
        Self::from_stream_record(stream, StreamCrc::new(stream.as_str()), seq, rec)
    }

    /// [`Self::from_record`] with `stream`'s key CRC computed once for a whole read
    /// ([`EventStore::fold`]).
    fn from_stream_record(
        stream: &StreamId,
        key: StreamCrc,
        seq: u64,
        rec: &[u8],
    ) -> Result<Self, StoreError>;
}

/// An append-only, optimistically concurrent event log. Backends implement the record-level
/// methods; the typed methods (`append`, `read`, `fold`) are provided and identical for
/// every backend.
pub trait EventStore {
    /// Appends each request's records atomically (all or nothing), after checking every
    /// request's expected version. Returns the new versions, in request order.
    fn append_records(&self, batch: &[StreamBatch<'_>]) -> Result<Vec<Version>, StoreError>;

    /// Calls `f(seq, record)` for every record of `stream` with `seq > from`, in order.
    /// Checks that sequence numbers are contiguous up to the stream's head.
    fn scan_records(
        &self,
        stream: &StreamId,
        from: Version,
        f: &mut RecordVisitor<'_>,
    ) -> Result<(), StoreError>;

    /// The stream's version (0 for a stream that does not exist).
    fn version(&self, stream: &StreamId) -> Result<Version, StoreError>;

    /// Every non-empty stream, sorted.
    fn streams(&self) -> Result<Vec<StreamId>, StoreError>;

    /// Makes every append made so far durable (see the module docs).
    fn flush(&self) -> Result<(), StoreError>;

    /// Whether this store may hold records of format 1 (written before 0.3, their CRC not
    /// bound to their stream and sequence number): only a sled store, the one backend that
    /// existed then. Every other store refuses such a record as corrupt
    /// ([`CodecError::FormatNotHere`]); in any store a format-1 record after a format-2 one
    /// of its stream is corrupt too (a store was never written at format 1 again once 0.3
    /// wrote to it), so records re-framed without their key cannot be swapped around.
    fn holds_format_1(&self) -> bool {
        false
    }

    /// Appends `events` to `stream` if it is at version `expected`; returns the new version.
    fn append<E: Persist>(
        &self,
        stream: &StreamId,
        expected: Version,
        events: &[E],
    ) -> Result<Version, StoreError>
    where
        Self: Sized,
    {
        let v = self.append_batch(&[AppendRequest {
            stream,
            expected,
            events,
        }])?;
        Ok(v[0])
    }

    /// Appends several streams' events atomically (group commit): all or nothing.
    fn append_batch<E: Persist>(
        &self,
        batch: &[AppendRequest<'_, E>],
    ) -> Result<Vec<Version>, StoreError>
    where
        Self: Sized,
    {
        let mut encoded = Vec::with_capacity(batch.len());
        for req in batch {
            let recs = req
                .events
                .iter()
                .zip(req.expected + 1..)
                .map(|(e, seq)| {
                    e.to_record(req.stream, seq)
                        .map_err(|reason| StoreError::Encode {
                            stream: req.stream.clone(),
                            reason,
                        })
                })
                .collect::<Result<Vec<_>, _>>()?;
            encoded.push((req.stream, req.expected, recs));
        }
        self.append_records(&encoded)
    }

    /// Folds every event of `stream` after version `from` through `f`; returns the version
    /// reached. Stops at the first damaged record with its error.
    fn fold<E: Persist>(
        &self,
        stream: &StreamId,
        from: Version,
        mut f: impl FnMut(u64, E),
    ) -> Result<Version, StoreError>
    where
        Self: Sized,
    {
        let mut last = from;
        let key = StreamCrc::new(stream.as_str());
        let format_1 = self.holds_format_1();
        let mut seen_format_2 = false;
        self.scan_records(stream, from, &mut |seq, rec| {
            match rec.first() {
                Some(1) if !format_1 || seen_format_2 => {
                    return Err(StoreError::Corrupt {
                        stream: stream.clone(),
                        seq,
                        reason: crate::codec::CodecError::FormatNotHere(1),
                    });
                }
                Some(2) => seen_format_2 = true,
                _ => {}
            }
            let e = E::from_stream_record(stream, key, seq, rec)?;
            f(seq, e);
            last = seq;
            Ok(())
        })?;
        Ok(last)
    }

    /// Reads the events of `stream` after version `from`, with their sequence numbers.
    fn read<E: Persist>(
        &self,
        stream: &StreamId,
        from: Version,
    ) -> Result<Vec<(u64, E)>, StoreError>
    where
        Self: Sized,
    {
        let mut out = Vec::new();
        self.fold(stream, from, |seq, e| out.push((seq, e)))?;
        Ok(out)
    }
}

impl<S: EventStore + ?Sized> EventStore for &S {
    fn append_records(&self, batch: &[StreamBatch<'_>]) -> Result<Vec<Version>, StoreError> {
        (**self).append_records(batch)
    }
    fn scan_records(
        &self,
        stream: &StreamId,
        from: Version,
        f: &mut RecordVisitor<'_>,
    ) -> Result<(), StoreError> {
        (**self).scan_records(stream, from, f)
    }
    fn version(&self, stream: &StreamId) -> Result<Version, StoreError> {
        (**self).version(stream)
    }
    fn streams(&self) -> Result<Vec<StreamId>, StoreError> {
        (**self).streams()
    }
    fn flush(&self) -> Result<(), StoreError> {
        (**self).flush()
    }
    fn holds_format_1(&self) -> bool {
        (**self).holds_format_1()
    }
}

/// A store shared by owners that come and go (a host reopened on the same store).
impl<S: EventStore + ?Sized> EventStore for std::sync::Arc<S> {
    fn append_records(&self, batch: &[StreamBatch<'_>]) -> Result<Vec<Version>, StoreError> {
        (**self).append_records(batch)
    }
    fn scan_records(
        &self,
        stream: &StreamId,
        from: Version,
        f: &mut RecordVisitor<'_>,
    ) -> Result<(), StoreError> {
        (**self).scan_records(stream, from, f)
    }
    fn version(&self, stream: &StreamId) -> Result<Version, StoreError> {
        (**self).version(stream)
    }
    fn streams(&self) -> Result<Vec<StreamId>, StoreError> {
        (**self).streams()
    }
    fn flush(&self) -> Result<(), StoreError> {
        (**self).flush()
    }
    fn holds_format_1(&self) -> bool {
        (**self).holds_format_1()
    }
}

/// Checks a batch's expected versions against `current` (the versions before the batch),
/// allowing one stream to appear several times. Returns the new versions.
pub fn check_batch(
    batch: &[StreamBatch<'_>],
    mut current: impl FnMut(&StreamId) -> Result<Version, StoreError>,
) -> Result<Vec<Version>, StoreError> {
    let mut pending: Vec<(&StreamId, Version)> = Vec::new();
    let mut out = Vec::with_capacity(batch.len());
    for (stream, expected, recs) in batch {
        let actual = match pending.iter().rev().find(|(s, _)| s == stream) {
            Some((_, v)) => *v,
            None => current(stream)?,
        };
        if *expected != actual {
            return Err(StoreError::Conflict {
                stream: (*stream).clone(),
                expected: *expected,
                actual,
            });
        }
        let new = actual + recs.len() as u64;
        pending.push((stream, new));
        out.push(new);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A directory holding sled's files is never taken for an empty device log: with sled
    /// it opens as sled, without it the open says why it cannot.
    #[test]
    fn a_sled_directory_is_opened_as_sled_or_refused_never_read_as_empty() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("device");
        #[cfg(feature = "sled")]
        {
            drop(SledStore::open(&dir).unwrap());
            assert!(matches!(
                AnyStore::open_device(Some(&dir)).unwrap(),
                AnyStore::Sled(_)
            ));
        }
        #[cfg(not(feature = "sled"))]
        {
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join("conf"), b"segment_size: 524288\n").unwrap();
            let err = AnyStore::open_device(Some(&dir)).unwrap_err();
            assert!(
                matches!(&err, StoreError::Backend(m) if m.contains("a sled store")
                    && m.contains("`sled` feature")),
                "{err}"
            );
        }
        assert!(!dir.join(LOG_FILE).exists());
    }
}
