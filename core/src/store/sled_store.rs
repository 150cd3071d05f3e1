//! The embedded default backend: sled 0.34.
//!
//! One sled tree, `events`, holds two key spaces:
//! * event records at `stream id ++ 0x00 ++ seq (u64 big-endian)` — stream ids are visible
//!   ASCII, so the NUL separator makes each stream's keys a contiguous, ordered range;
//! * stream heads at `0xFF ++ stream id` → version (u64 big-endian).
//!
//! An append writes its records and the new head in one atomic sled batch, under a mutex
//! that serialises the read-check-write of the heads (sled holds an exclusive lock on its
//! directory, so the mutex covers every writer of the database).

use std::path::Path;
use std::sync::Mutex;

use crate::store::{
    EventStore, RecordVisitor, StoreError, StreamBatch, StreamId, Version, check_batch,
};

const TREE: &str = "events";
const HEAD: u8 = 0xFF;
const SEP: u8 = 0x00;

/// The key of event `seq` of `stream`.
pub fn event_key(stream: &StreamId, seq: u64) -> Vec<u8> {
    let mut k = Vec::with_capacity(stream.as_str().len() + 9);
    k.extend_from_slice(stream.as_str().as_bytes());
    k.push(SEP);
    k.extend_from_slice(&seq.to_be_bytes());
    k
}

/// The key of `stream`'s head (its version).
pub fn head_key(stream: &StreamId) -> Vec<u8> {
    let mut k = Vec::with_capacity(stream.as_str().len() + 1);
    k.push(HEAD);
    k.extend_from_slice(stream.as_str().as_bytes());
    k
}

fn prefix(stream: &StreamId) -> Vec<u8> {
    let mut k = stream.as_str().as_bytes().to_vec();
    k.push(SEP);
    k
}

const LOCK_WAIT_STEPS: u32 = 200;

/// Records a read takes from sled before decoding them.
const BATCH: usize = 256;

fn is_lock_busy(e: &sled::Error) -> bool {
    matches!(e, sled::Error::Io(io) if io.kind() == std::io::ErrorKind::WouldBlock
        || io.to_string().contains("could not acquire lock"))
}

fn backend(e: sled::Error) -> StoreError {
    StoreError::Backend(e.to_string())
}

/// An event store in a sled database directory.
#[derive(Debug)]
pub struct SledStore {
    db: sled::Db,
    tree: sled::Tree,
    append_lock: Mutex<()>,
    /// The data file and the directory, fsynced after sled's flush (none for a temporary
    /// store).
    sync: Option<Durable>,
}

/// What [`SledStore::flush`] fsyncs itself: sled 0.34's `flush` writes its log with
/// `sync_file_range`, which neither flushes the drive's cache nor the file's metadata,
/// and only sled's 500 ms background thread calls `fsync`. devcare promises more: a flush
/// that returned survives a power cut.
#[derive(Debug)]
struct Durable {
    /// sled's log and page file, `DIR/db`.
    data: std::fs::File,
    /// The directory: its entries (a file sled created since) are durable too.
    dir: std::fs::File,
}

impl Durable {
    fn open(path: &Path) -> Result<Durable, StoreError> {
        let open = |p: &Path| {
            std::fs::File::open(p).map_err(|e| {
                StoreError::Backend(format!("opening {} to fsync it: {e}", p.display()))
            })
        };
        Ok(Durable {
            data: open(&path.join("db"))?,
            dir: open(path)?,
        })
    }

    fn sync(&self) -> Result<(), StoreError> {
        let io =
            |what: &str, e: std::io::Error| StoreError::Backend(format!("fsync of {what}: {e}"));
        self.data.sync_all().map_err(|e| io("the data file", e))?;
        self.dir.sync_all().map_err(|e| io("the directory", e))
    }
}

/// How a [`SledStore`] runs sled: the knobs an embedded integrator needs.
///
/// devcare flushes (and, in a directory, fsyncs) every append it acknowledges, so sled's
/// own periodic flush adds nothing to durability: it is a background thread waking every
/// 500 ms. `background_flush: false` turns it off (`docs/performance.md` has the thread
/// counts).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SledOptions {
    /// sled's periodic flusher thread (sled's default: on, every 500 ms).
    pub background_flush: bool,
    /// The most bytes sled's page cache may hold (sled's default: 1 GiB). A cap, not a
    /// reservation: a device's log is a few KiB.
    pub cache_capacity: u64,
}

impl Default for SledOptions {
    /// sled's defaults: the flusher on, a 1 GiB cache cap.
    fn default() -> Self {
        SledOptions {
            background_flush: true,
            cache_capacity: 1024 * 1024 * 1024,
        }
    }
}

impl SledOptions {
    /// For a handset: no flusher thread, a 1 MiB cache cap.
    pub const DEVICE: SledOptions = SledOptions {
        background_flush: false,
        cache_capacity: 1024 * 1024,
    };

    fn config(&self) -> sled::Config {
        sled::Config::new()
            .flush_every_ms(self.background_flush.then_some(500))
            .cache_capacity(self.cache_capacity)
    }
}

impl SledStore {
    /// Opens (or creates) the store in directory `path`, with sled's defaults
    /// ([`SledOptions::default`]).
    ///
    /// sled releases its directory lock from a background thread shortly after the last
    /// handle is dropped, so a reopen right after a close (a simulated reboot) waits for
    /// the lock — up to about two seconds — before reporting it as held.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        Self::open_with(path, &SledOptions::default())
    }

    /// [`Self::open`] with `options` (e.g. [`SledOptions::DEVICE`]).
    pub fn open_with(path: impl AsRef<Path>, options: &SledOptions) -> Result<Self, StoreError> {
        let path = path.as_ref();
        let mut waited = 0;
        loop {
            match options.config().path(path).open() {
                Ok(db) => {
                    let mut store = Self::from_db(db)?;
                    store.sync = Some(Durable::open(path)?);
                    return Ok(store);
                }
                Err(e) if waited < LOCK_WAIT_STEPS && is_lock_busy(&e) => {
                    waited += 1;
                    std::thread::sleep(std::time::Duration::from_millis(10));
                }
                Err(e) => {
                    return Err(StoreError::Backend(format!(
                        "opening {}: {e}",
                        path.display()
                    )));
                }
            }
        }
    }

    /// A store in a temporary sled database, deleted on drop (tests, benchmarks).
    pub fn temporary() -> Result<Self, StoreError> {
        let db = sled::Config::new()
            .temporary(true)
            .open()
            .map_err(backend)?;
        Self::from_db(db)
    }

    fn from_db(db: sled::Db) -> Result<Self, StoreError> {
        let tree = db.open_tree(TREE).map_err(backend)?;
        Ok(SledStore {
            db,
            tree,
            append_lock: Mutex::new(()),
            sync: None,
        })
    }

    fn head(&self, stream: &StreamId) -> Result<Version, StoreError> {
        match self.tree.get(head_key(stream)).map_err(backend)? {
            None => Ok(0),
            Some(v) => {
                let b: [u8; 8] = v.as_ref().try_into().map_err(|_| {
                    StoreError::Backend(format!(
                        "stream {stream}: head record is {} bytes, not 8",
                        v.len()
                    ))
                })?;
                Ok(u64::from_be_bytes(b))
            }
        }
    }

    /// The underlying sled tree (for inspection tools and benchmarks; writing to it
    /// bypasses every check of the store).
    pub fn raw_tree(&self) -> &sled::Tree {
        &self.tree
    }

    /// Bytes sled reports on disk.
    pub fn size_on_disk(&self) -> Result<u64, StoreError> {
        self.db.size_on_disk().map_err(backend)
    }
}

impl EventStore for SledStore {
    /// Stores written by devcare 0.2 (record format 1) were sled stores.
    fn holds_format_1(&self) -> bool {
        true
    }

    fn append_records(&self, batch: &[StreamBatch<'_>]) -> Result<Vec<Version>, StoreError> {
        let _guard = self.append_lock.lock().unwrap_or_else(|p| p.into_inner());
        let out = check_batch(batch, |s| self.head(s))?;
        let mut b = sled::Batch::default();
        for ((stream, expected, recs), new) in batch.iter().zip(&out) {
            for (i, rec) in recs.iter().enumerate() {
                b.insert(event_key(stream, expected + 1 + i as u64), rec.as_slice());
            }
            b.insert(head_key(stream), &new.to_be_bytes());
        }
        self.tree.apply_batch(b).map_err(backend)?;
        Ok(out)
    }

    fn scan_records(
        &self,
        stream: &StreamId,
        from: Version,
        f: &mut RecordVisitor<'_>,
    ) -> Result<(), StoreError> {
        // The head is read once and the scan stops there: records a concurrent append adds
        // after it (records and head land in one atomic batch) are not part of this read.
        let head = self.head(stream)?;
        if from >= head {
            return Ok(());
        }
        let start = event_key(stream, from.saturating_add(1));
        let end = event_key(stream, head);
        let pfx = prefix(stream);
        let mut expect = from.saturating_add(1);
        let mut batch: Vec<sled::IVec> = Vec::with_capacity(BATCH);
        let mut items = self.tree.range(start..=end);
        loop {
            // Records are taken from sled a batch at a time and then decoded: sled's node
            // copies and the decoder's allocations do not interleave. A gap or a backend
            // error stops the batch; the records before it are still delivered first.
            batch.clear();
            let first = expect;
            let mut stop = None;
            for item in items.by_ref() {
                let (k, v) = match item {
                    Ok(kv) => kv,
                    Err(e) => {
                        stop = Some(backend(e));
                        break;
                    }
                };
                if !k.starts_with(&pfx) {
                    break;
                }
                let seq = k[pfx.len()..].try_into().ok().map(u64::from_be_bytes);
                if seq != Some(expect) || expect > head {
                    stop = Some(StoreError::Missing {
                        stream: stream.clone(),
                        seq: expect,
                        head,
                    });
                    break;
                }
                batch.push(v);
                expect += 1;
                if batch.len() == BATCH {
                    break;
                }
            }
            for (seq, v) in (first..).zip(&batch) {
                f(seq, v)?;
            }
            if let Some(e) = stop {
                return Err(e);
            }
            if batch.len() < BATCH {
                break;
            }
        }
        if expect <= head {
            return Err(StoreError::Missing {
                stream: stream.clone(),
                seq: expect,
                head,
            });
        }
        Ok(())
    }

    fn version(&self, stream: &StreamId) -> Result<Version, StoreError> {
        self.head(stream)
    }

    fn streams(&self) -> Result<Vec<StreamId>, StoreError> {
        let mut out = Vec::new();
        for item in self.tree.scan_prefix([HEAD]) {
            let (k, _) = item.map_err(backend)?;
            let name = std::str::from_utf8(&k[1..])
                .ok()
                .and_then(|s| StreamId::new(s).ok())
                .ok_or_else(|| {
                    StoreError::Backend(format!("head key {:?} is not a stream id", &k[1..]))
                })?;
            out.push(name);
        }
        Ok(out)
    }

    /// sled's flush (its log written out), then an `fsync` of the data file and the
    /// directory: what returned is on stable storage, power cut included.
    fn flush(&self) -> Result<(), StoreError> {
        self.db.flush().map_err(backend)?;
        match &self.sync {
            Some(d) => d.sync(),
            None => Ok(()),
        }
    }
}
