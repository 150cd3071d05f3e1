//! The device's backend: one append-only file, no threads, no cache.
//!
//! A handset's log is a few KiB to a few MiB, written a batch at a time and read once, when
//! the host opens. sled is a database for servers (a flusher thread, a page cache, about
//! 225 KiB of code); this backend is a file and an index of where each record is.
//!
//! ## The file
//!
//! `DIR/devcare.log` (the directory is created if missing):
//!
//! * a 16-byte header: `devcare\n`, the format (`u32` LE, 1) and the CRC32C of those 12
//!   bytes (`u32` LE);
//! * then one **frame** per append: a 20-byte head — the body's length (`u32` LE), the
//!   body's CRC32C (`u32` LE), the log's *synced length* when the frame was written (`u64`
//!   LE: how much of the log the last completed [`EventStore::flush`] had made durable) and
//!   the CRC32C of those 16 bytes (`u32` LE) — then the body. The body is one part per
//!   stream of the batch: the stream id's length (`u8`), the stream id, the sequence number
//!   of the part's first record (`u64` LE), the number of records (`u32` LE), then each
//!   record as its length (`u32` LE) and its bytes (the framed record of [`crate::codec`],
//!   with its own CRC).
//!
//! An append is one frame written at the end of the file: it is **atomic** (on open, a frame
//! that is whole and passes its CRCs counts, all of it; one that does not is not there). It
//! is **durable** once [`EventStore::flush`] returns: an `fdatasync` of the file, skipped
//! when nothing was appended since the last one. The directory is synced when the file is
//! created.
//!
//! ## Opening after a power cut
//!
//! A power cut can tear only what was appended since the last flush: frames cut short,
//! zeros where their bytes should be, whole in length but not in content. On open, a frame
//! that fails its checks starts a **torn tail** when no whole frame after it says the log
//! had been synced past it — those appends were never acknowledged, so the store is what it
//! was before them: the tail's bytes (whole frames after the bad one included, since their
//! streams would have gaps) are moved to `DIR/devcare.log.torn` (appended and synced: kept
//! for inspection, never read) and the log is cut back to its last whole frame
//! ([`FileStore::torn_tail`] says how many bytes). An open syncs the log it read (a killed
//! writer's last appends may still be only in the page cache), so the synced length the
//! next frame records is true.
//!
//! Anything else is **damage**, and open fails with a [`StoreError::Backend`] naming the
//! file and the byte offset, leaving the file as it is: a frame that fails its checks when a
//! later frame was written after it was synced, a whole frame whose parts do not continue
//! their streams, a header that is not ours. (Damage to a frame that no later frame shows
//! synced — the appends of the last flush — cannot be told from a torn append: it is
//! treated as one, its bytes kept aside.)
//!
//! The file is locked (an exclusive advisory lock) while a store has it open: a second open,
//! from this process or another, fails — after waiting up to half a second for a lock that
//! is being let go — instead of interleaving writes.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use crate::store::{
    EventStore, RecordVisitor, StoreError, StreamBatch, StreamId, Version, check_batch,
};

mod scan;
mod sys;

use scan::*;
use sys::*;

/// The log's name in the store's directory.
pub const LOG_FILE: &str = "devcare.log";
/// Where [`FileStore::open`] moves a torn tail.
pub const TORN_FILE: &str = "devcare.log.torn";

const MAGIC: &[u8; 8] = b"devcare\n";
const FORMAT: u32 = 1;
const HEADER_LEN: u64 = 16;
const FRAME_HEAD: u64 = 20;
/// A read takes the next record in the same system call when at most this many bytes lie
/// between them (a record's length prefix, a frame head, another stream's short part)...
const READ_GAP: u64 = 256;
/// ...and the read stays within this many bytes.
const READ_CHUNK: u64 = 64 * 1024;

fn header() -> [u8; HEADER_LEN as usize] {
    let mut h = [0; HEADER_LEN as usize];
    h[..8].copy_from_slice(MAGIC);
    h[8..12].copy_from_slice(&FORMAT.to_le_bytes());
    let crc = crc32c::crc32c(&h[..12]);
    h[12..].copy_from_slice(&crc.to_le_bytes());
    h
}

/// Where one record's bytes are in the file.
#[derive(Debug, Clone, Copy)]
struct Span {
    offset: u64,
    len: u32,
}

#[derive(Debug)]
struct Index {
    streams: BTreeMap<StreamId, Vec<Span>>,
    /// Length of the log: where the next frame goes.
    end: u64,
    /// How much of the log the last completed flush made durable.
    synced: u64,
    /// Set when a failed write could not be cut back off the file: appends are refused
    /// until the store is reopened (which drops the partial frame as a torn tail).
    broken: Option<String>,
}

impl Index {
    fn version(&self, stream: &StreamId) -> Version {
        self.streams.get(stream).map_or(0, |v| v.len() as u64)
    }
}

/// An event store in one append-only file (see the module docs).
#[derive(Debug)]
pub struct FileStore {
    file: File,
    path: PathBuf,
    index: Mutex<Index>,
    torn: u64,
}

impl FileStore {
    /// Opens (or creates) the store in directory `path` (created if missing), recovering a
    /// torn tail (see the module docs).
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        Self::open_mode(path.as_ref(), false)
    }

    /// Opens an existing log to read it, changing nothing: no directory or file created, no
    /// torn tail set aside or cut (reads stop where it starts; [`Self::torn_tail`] says how
    /// many bytes a writing open would set aside), no sync. Appends and flushes are refused.
    /// What `devcare log inspect` uses on a log pulled from a handset.
    pub fn open_read_only(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        Self::open_mode(path.as_ref(), true)
    }

    fn open_mode(dir: &Path, read_only: bool) -> Result<Self, StoreError> {
        if !read_only {
            std::fs::create_dir_all(dir).map_err(|e| io_err(dir, "creating the directory", e))?;
        }
        let path = dir.join(LOG_FILE);
        let file = OpenOptions::new()
            .read(true)
            .write(!read_only)
            .create(!read_only)
            .truncate(false)
            .open(&path)
            .map_err(|e| io_err(&path, "opening", e))?;
        lock(&file, &path)?;
        let len = file
            .metadata()
            .map_err(|e| io_err(&path, "reading its size", e))?
            .len();

        let mut head = [0u8; HEADER_LEN as usize];
        let created = len < HEADER_LEN;
        let got = len.min(HEADER_LEN) as usize;
        read_at(&file, &mut head[..got], 0).map_err(|e| io_err(&path, "reading", e))?;
        let expected = header();
        if created {
            // A new file, or one whose creation a crash cut short: (re)write the header.
            if head[..got] != expected[..got] {
                return Err(damaged(&path, 0, "not a devcare log (a short file)"));
            }
            if read_only {
                return Err(damaged(&path, 0, "an empty log (no header yet)"));
            }
            write_at(&file, &expected, 0).map_err(|e| io_err(&path, "writing", e))?;
        } else if head[..8] != MAGIC[..] {
            return Err(damaged(&path, 0, "not a devcare log"));
        } else if head != expected {
            let format = u32::from_le_bytes(head[8..12].try_into().expect("4 bytes"));
            return Err(damaged(
                &path,
                8,
                format!(
                    "the header names format {format}; this build reads format {FORMAT}, or the \
                     header is damaged"
                ),
            ));
        }
        let len = len.max(HEADER_LEN);

        let mut scan = Scan {
            file: &file,
            path: &path,
            index: Index {
                streams: BTreeMap::new(),
                end: len,
                synced: len,
                broken: None,
            },
        };
        let mut reader = io::BufReader::with_capacity(8 * 1024, &file);
        io::Seek::seek(&mut reader, io::SeekFrom::Start(HEADER_LEN))
            .map_err(|e| io_err(&path, "reading", e))?;
        let tail = scan.frames(&mut reader, len)?;
        drop(reader);
        let mut torn = 0;
        if let Tail::TornAt(at) = tail {
            torn = len - at;
            if !read_only {
                set_aside(&file, dir, at, len)?;
                file.set_len(at)
                    .map_err(|e| io_err(&path, "cutting off the torn tail", e))?;
            }
            scan.index.end = at;
            scan.index.synced = at;
        }
        if read_only {
            scan.index.broken = Some("the log was opened read-only".into());
        } else {
            // What was read may still be only in the page cache (its writer was killed before
            // a flush), a header just written or a tail just cut: sync it, so the synced
            // length the next frame records is true.
            file.sync_data().map_err(|e| io_err(&path, "fsync", e))?;
            if created {
                sync_dir(dir).map_err(|e| io_err(dir, "fsync of the directory", e))?;
            }
        }
        let index = scan.index;
        Ok(FileStore {
            file,
            path,
            index: Mutex::new(index),
            torn,
        })
    }

    /// Bytes of a torn tail this open moved to [`TORN_FILE`] (0 when the log was whole); for
    /// a read-only open, the bytes it would have moved (and did not read).
    pub fn torn_tail(&self) -> u64 {
        self.torn
    }

    /// The log file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Bytes in the log.
    pub fn size_on_disk(&self) -> u64 {
        self.lock().end
    }

    fn lock(&self) -> MutexGuard<'_, Index> {
        // Every write to the index happens after the file write succeeded, in one step:
        // a panic holding the lock cannot leave it half-updated.
        self.index.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl EventStore for FileStore {
    fn append_records(&self, batch: &[StreamBatch<'_>]) -> Result<Vec<Version>, StoreError> {
        let mut index = self.lock();
        if let Some(why) = &index.broken {
            return Err(StoreError::Backend(format!(
                "{}: refusing appends until reopened: {why}",
                self.path.display()
            )));
        }
        let out = check_batch(batch, |s| Ok(index.version(s)))?;
        let mut frame = vec![0u8; FRAME_HEAD as usize];
        let mut spans: Vec<(&StreamId, Span)> = Vec::new();
        for (stream, expected, recs) in batch {
            if recs.is_empty() {
                continue;
            }
            let name = stream.as_str().as_bytes();
            frame.push(name.len() as u8); // at most MAX_STREAM_ID_LEN = 200
            frame.extend_from_slice(name);
            frame.extend_from_slice(&(expected + 1).to_le_bytes());
            let count = u32::try_from(recs.len()).map_err(|_| too_big(stream))?;
            frame.extend_from_slice(&count.to_le_bytes());
            for rec in recs {
                let len = u32::try_from(rec.len()).map_err(|_| too_big(stream))?;
                frame.extend_from_slice(&len.to_le_bytes());
                spans.push((
                    stream,
                    Span {
                        offset: index.end + frame.len() as u64,
                        len,
                    },
                ));
                frame.extend_from_slice(rec);
            }
        }
        if spans.is_empty() {
            return Ok(out);
        }
        let head = Head {
            body_len: u32::try_from(frame.len() - FRAME_HEAD as usize)
                .map_err(|_| too_big(batch[0].0))?,
            body_crc: crc32c::crc32c(&frame[FRAME_HEAD as usize..]),
            synced: index.synced,
        };
        head.write(&mut frame[..FRAME_HEAD as usize]);
        if let Err(e) = write_at(&self.file, &frame, index.end) {
            // Cut the partial frame off, so the next append follows the last whole one.
            if let Err(cut) = self.file.set_len(index.end) {
                index.broken = Some(format!(
                    "an append failed ({e}) and its partial frame could not be cut off ({cut})"
                ));
            }
            return Err(io_err(&self.path, "appending", e));
        }
        index.end += frame.len() as u64;
        // A part's spans are adjacent: one index lookup per part, not per record.
        for part in spans.chunk_by(|a, b| a.0 == b.0) {
            let part_spans = part.iter().map(|(_, span)| *span);
            match index.streams.get_mut(part[0].0) {
                Some(v) => v.extend(part_spans),
                None => {
                    index
                        .streams
                        .insert(part[0].0.clone(), part_spans.collect());
                }
            }
        }
        Ok(out)
    }

    fn scan_records(
        &self,
        stream: &StreamId,
        from: Version,
        f: &mut RecordVisitor<'_>,
    ) -> Result<(), StoreError> {
        // The spans are copied under the lock, the records read without it (the callback
        // may use the store); records already in the index never change.
        let spans: Vec<Span> = {
            let index = self.lock();
            let Some(v) = index.streams.get(stream) else {
                return Ok(());
            };
            v.get(usize::try_from(from).unwrap_or(usize::MAX)..)
                .unwrap_or_default()
                .to_vec()
        };
        // Records that lie close together (a frame's records, consecutive appends of one
        // stream) are read with one system call, up to READ_CHUNK bytes at a time.
        let mut buf = Vec::new();
        let mut seq = from + 1;
        let mut rest = spans.as_slice();
        while let Some(first) = rest.first() {
            let start = first.offset;
            let mut end = start + u64::from(first.len);
            let mut n = 1;
            for s in &rest[1..] {
                let s_end = s.offset + u64::from(s.len);
                if s.offset < end || s.offset - end > READ_GAP || s_end - start > READ_CHUNK {
                    break;
                }
                end = s_end;
                n += 1;
            }
            buf.clear();
            buf.resize((end - start) as usize, 0);
            read_at(&self.file, &mut buf, start).map_err(|e| io_err(&self.path, "reading", e))?;
            for s in &rest[..n] {
                let at = (s.offset - start) as usize;
                f(seq, &buf[at..at + s.len as usize])?;
                seq += 1;
            }
            rest = &rest[n..];
        }
        Ok(())
    }

    fn version(&self, stream: &StreamId) -> Result<Version, StoreError> {
        Ok(self.lock().version(stream))
    }

    fn streams(&self) -> Result<Vec<StreamId>, StoreError> {
        Ok(self.lock().streams.keys().cloned().collect())
    }

    /// `fdatasync` of the log, when anything was appended since the last flush: what was
    /// appended before the call survives a power cut.
    fn flush(&self) -> Result<(), StoreError> {
        // Under the lock: an append cannot slip in between the sync and the watermark, and
        // the next frame's head records the new watermark.
        let mut index = self.lock();
        if index.synced < index.end {
            self.file
                .sync_data()
                .map_err(|e| io_err(&self.path, "fsync", e))?;
            index.synced = index.end;
        }
        Ok(())
    }
}

fn too_big(stream: &StreamId) -> StoreError {
    StoreError::Backend(format!(
        "stream {stream}: an append of 4 GiB or more does not fit a frame"
    ))
}
