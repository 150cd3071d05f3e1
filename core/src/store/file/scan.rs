//! Reading a log: every frame checked (its head's CRC, then its body's), the index built,
//! and how far the frames are whole.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use super::*;
use crate::store::{MAX_STREAM_ID_LEN, StoreError, StreamId};

/// Reads the frames of a log, checking each and building the index.
pub(super) struct Scan<'a> {
    pub(super) file: &'a File,
    pub(super) path: &'a Path,
    pub(super) index: Index,
}

/// How far a log's frames are whole.
pub(super) enum Tail {
    /// Every byte belongs to a whole frame.
    Clean,
    /// The frames end at this offset; what follows is a torn append.
    TornAt(u64),
}

/// A frame head that passes its own CRC.
#[derive(Debug, Clone, Copy)]
pub(super) struct Head {
    pub(super) body_len: u32,
    pub(super) body_crc: u32,
    pub(super) synced: u64,
}

impl Head {
    pub(super) fn parse(head: &[u8]) -> Option<Head> {
        let word = |i: usize| u32::from_le_bytes(head[i..i + 4].try_into().expect("4 bytes"));
        (crc32c::crc32c(&head[..16]) == word(16)).then(|| Head {
            body_len: word(0),
            body_crc: word(4),
            synced: u64::from_le_bytes(head[8..16].try_into().expect("8 bytes")),
        })
    }

    /// Whether `body` is the body this head describes.
    pub(super) fn fits(&self, body: &[u8]) -> bool {
        body.len() == self.body_len as usize && crc32c::crc32c(body) == self.body_crc
    }

    pub(super) fn write(&self, to: &mut [u8]) {
        to[..4].copy_from_slice(&self.body_len.to_le_bytes());
        to[4..8].copy_from_slice(&self.body_crc.to_le_bytes());
        to[8..16].copy_from_slice(&self.synced.to_le_bytes());
        let crc = crc32c::crc32c(&to[..16]);
        to[16..20].copy_from_slice(&crc.to_le_bytes());
    }
}

/// The longest tail after a bad frame that is read to tell a torn append from damage: a
/// torn append is what one flush batch wrote (KiB on a handset); anything longer is damage.
pub(super) const MAX_TORN_TAIL: u64 = 8 * 1024 * 1024;

/// The whole frames in `bytes` (found at any offset, by their head's CRC and then their
/// body's) whose head passes `wanted` (checked before the body is hashed), in order: their
/// offsets and heads. The bodies hashed add up to at most 4 × `bytes.len()` (a crafted tail
/// of heads with long bad bodies cannot make the search quadratic); past that budget the
/// search ends, which the caller reads as "no such frame found".
pub(super) fn whole_frames<'a>(
    bytes: &'a [u8],
    wanted: impl Fn(&Head) -> bool + 'a,
) -> impl Iterator<Item = (usize, Head)> + 'a {
    let n = FRAME_HEAD as usize;
    let mut p = 0;
    let mut budget = bytes.len().saturating_mul(4);
    std::iter::from_fn(move || {
        while p + n <= bytes.len() {
            let at = p;
            let found = Head::parse(&bytes[at..at + n]).filter(|h| {
                if !wanted(h) || h.body_len as usize > budget {
                    return false;
                }
                budget -= h.body_len as usize;
                bytes
                    .get(at + n..at + n + h.body_len as usize)
                    .is_some_and(|body| h.fits(body))
            });
            match found {
                Some(h) => {
                    p = at + n + h.body_len as usize;
                    return Some((at, h));
                }
                None => p += 1,
            }
        }
        None
    })
}

/// The first whole frame in `rest` (the log from the bad frame at `at` on) that was written
/// after the log had been synced past `at`. When the bad frame's head is whole, it says where
/// the next frame starts: only the frames chained from there are looked at, so bytes inside
/// its body (a record's own bytes) are never taken for a frame (issue 29, N6); a head whose
/// body runs past the end is the last append, torn. Where that chain breaks, or when the
/// bad frame's head is itself damaged, the bytes are searched at every offset.
fn synced_after(rest: &[u8], at: u64) -> Option<(usize, Head)> {
    let n = FRAME_HEAD as usize;
    let mut from = 0;
    if let Some(h) = rest.get(..n).and_then(Head::parse) {
        let mut p = n + h.body_len as usize;
        if p > rest.len() {
            return None; // the last append, cut short
        }
        while let Some(h) = rest.get(p..p + n).and_then(Head::parse).filter(|h| {
            rest.get(p + n..p + n + h.body_len as usize)
                .is_some_and(|body| h.fits(body))
        }) {
            if h.synced > at {
                return Some((p, h));
            }
            p += n + h.body_len as usize;
        }
        from = p;
    }
    whole_frames(rest.get(from..).unwrap_or_default(), |h| h.synced > at)
        .next()
        .map(|(p, h)| (from + p, h))
}

impl Scan<'_> {
    /// Reads the frames after the header from `r` (positioned there) in a file of `len`
    /// bytes.
    pub(super) fn frames(&mut self, r: &mut impl Read, len: u64) -> Result<Tail, StoreError> {
        let mut at = HEADER_LEN;
        let mut body = Vec::new();
        let mut head = [0u8; FRAME_HEAD as usize];
        let mut read = |buf: &mut [u8]| {
            r.read_exact(buf)
                .map_err(|e| io_err(self.path, "reading", e))
        };
        while at < len {
            if len - at < FRAME_HEAD {
                return self.bad_frame(at, len);
            }
            read(&mut head)?;
            let Some(h) =
                Head::parse(&head).filter(|h| at + FRAME_HEAD + u64::from(h.body_len) <= len)
            else {
                return self.bad_frame(at, len);
            };
            body.clear();
            body.resize(h.body_len as usize, 0);
            read(&mut body)?;
            if !h.fits(&body) {
                return self.bad_frame(at, len);
            }
            self.parts(at, &body)?;
            at += FRAME_HEAD + u64::from(h.body_len);
        }
        Ok(Tail::Clean)
    }

    /// The frame at `at` is not whole: a torn tail unless a whole frame after it was written
    /// once the log had been synced past `at`.
    pub(super) fn bad_frame(&self, at: u64, len: u64) -> Result<Tail, StoreError> {
        if len - at > MAX_TORN_TAIL {
            return Err(damaged(
                self.path,
                at,
                format!(
                    "a frame fails its checks and {} bytes follow it: too long to be an append \
                     a power cut tore (at most {MAX_TORN_TAIL})",
                    len - at
                ),
            ));
        }
        let mut rest = vec![0; (len - at) as usize];
        read_at(self.file, &mut rest, at).map_err(|e| io_err(self.path, "reading", e))?;
        match synced_after(&rest, at) {
            None => Ok(Tail::TornAt(at)),
            Some((p, h)) => Err(damaged(
                self.path,
                at,
                format!(
                    "a frame fails its checks, and the frame at byte {} was written after the \
                     log had been synced to byte {}",
                    at + p as u64,
                    h.synced
                ),
            )),
        }
    }

    /// Indexes the parts of the whole frame at `at`.
    pub(super) fn parts(&mut self, at: u64, body: &[u8]) -> Result<(), StoreError> {
        let mut pos = 0usize;
        let bad = |what: &str| damaged(self.path, at, format!("a whole frame {what}"));
        let take = |pos: &mut usize, n: usize| -> Option<std::ops::Range<usize>> {
            let r = *pos..pos.checked_add(n).filter(|&e| e <= body.len())?;
            *pos = r.end;
            Some(r)
        };
        let mut parsed: Vec<(StreamId, Vec<Span>)> = Vec::new();
        // Records of each stream in this frame's earlier parts (one lookup, not a scan).
        let mut earlier: BTreeMap<StreamId, u64> = BTreeMap::new();
        while pos < body.len() {
            let short = || bad("ends inside a part");
            let n = body[take(&mut pos, 1).ok_or_else(short)?.start] as usize;
            let name = &body[take(&mut pos, n).ok_or_else(short)?];
            let stream = std::str::from_utf8(name)
                .ok()
                .filter(|s| s.len() <= MAX_STREAM_ID_LEN)
                .and_then(|s| StreamId::new(s).ok())
                .ok_or_else(|| bad("names a stream that is not a stream id"))?;
            let first = u64::from_le_bytes(
                body[take(&mut pos, 8).ok_or_else(short)?]
                    .try_into()
                    .expect("8 bytes"),
            );
            let count = u32::from_le_bytes(
                body[take(&mut pos, 4).ok_or_else(short)?]
                    .try_into()
                    .expect("4 bytes"),
            );
            let before = *earlier.get(&stream).unwrap_or(&0);
            let version = self.index.version(&stream) + before;
            if count == 0 || first != version + 1 {
                return Err(bad(&format!(
                    "appends {count} record(s) to {stream} from seq {first}, the stream is at \
                     version {version}"
                )));
            }
            let mut spans = Vec::new();
            for _ in 0..count {
                let len = u32::from_le_bytes(
                    body[take(&mut pos, 4).ok_or_else(short)?]
                        .try_into()
                        .expect("4 bytes"),
                );
                let r = take(&mut pos, len as usize).ok_or_else(short)?;
                spans.push(Span {
                    offset: at + FRAME_HEAD + r.start as u64,
                    len,
                });
            }
            *earlier.entry(stream.clone()).or_default() += spans.len() as u64;
            parsed.push((stream, spans));
        }
        if parsed.is_empty() {
            return Err(bad("has no records"));
        }
        for (stream, spans) in parsed {
            self.index.streams.entry(stream).or_default().extend(spans);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::FileStore;

    /// A log of one whole append, then `tail`.
    fn log_with_tail(dir: &Path, tail: &[u8]) -> u64 {
        let s = StreamId::new("device/a").unwrap();
        let whole = {
            let store = FileStore::open(dir).unwrap();
            store
                .append_records(&[(&s, 0, vec![crate::store::Record::from(vec![7u8; 40])])])
                .unwrap();
            store.flush().unwrap();
            store.size_on_disk()
        };
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(dir.join(LOG_FILE))
            .unwrap();
        std::io::Write::write_all(&mut f, tail).unwrap();
        whole
    }

    /// A head that passes its CRC, claims the log was synced far past it and a long body,
    /// whose body does not match.
    fn lying_head(body_len: u32) -> [u8; FRAME_HEAD as usize] {
        let mut h = [0u8; FRAME_HEAD as usize];
        Head {
            body_len,
            body_crc: 1,
            synced: u64::MAX / 2,
        }
        .write(&mut h);
        h
    }

    /// N5 (issue 29): 2 MiB of crafted heads, each claiming a long body that fails its CRC,
    /// used to cost a hash of the rest of the file per head (10.8 s at 2 MiB). The body
    /// budget bounds the search: the tail is found to be torn, and the open succeeds.
    #[test]
    fn a_tail_of_lying_heads_is_searched_within_the_budget() {
        let dir = tempfile::tempdir().unwrap();
        let mut tail = Vec::new();
        while tail.len() < 2 * 1024 * 1024 {
            tail.extend_from_slice(&lying_head(1024 * 1024));
        }
        let whole = log_with_tail(dir.path(), &tail);
        let store = FileStore::open(dir.path()).unwrap();
        assert_eq!(store.torn_tail(), tail.len() as u64);
        assert_eq!(store.size_on_disk(), whole);
    }

    /// N6 (issue 29): a torn last append whose records hold bytes that read as a whole
    /// frame claiming the log was synced past it (a campaign value can be any bytes) is
    /// still a torn append: the frame's own head says where the next frame would start, and
    /// nothing inside its body is looked at.
    #[test]
    fn a_frame_inside_a_torn_appends_records_is_not_taken_for_one() {
        let dir = tempfile::tempdir().unwrap();
        let s = StreamId::new("device/a").unwrap();
        let whole = {
            let store = FileStore::open(dir.path()).unwrap();
            store
                .append_records(&[(&s, 0, vec![crate::store::Record::from(vec![7u8; 40])])])
                .unwrap();
            store.flush().unwrap();
            store.size_on_disk()
        };
        // A record holding a fake frame: a head (synced far ahead) and a body that fits it.
        let body = b"fake body!".to_vec();
        let mut fake = [0u8; FRAME_HEAD as usize];
        Head {
            body_len: body.len() as u32,
            body_crc: crc32c::crc32c(&body),
            synced: u64::MAX / 2,
        }
        .write(&mut fake);
        let mut record = vec![0u8; 8];
        record.extend_from_slice(&fake);
        record.extend_from_slice(&body);
        record.extend_from_slice(&[0u8; 30]);
        {
            let store = FileStore::open(dir.path()).unwrap();
            store
                .append_records(&[(&s, 1, vec![crate::store::Record::from(record)])])
                .unwrap();
        }
        // The power cut: the last append loses its final bytes.
        let log = dir.path().join(LOG_FILE);
        let len = std::fs::metadata(&log).unwrap().len();
        std::fs::OpenOptions::new()
            .write(true)
            .open(&log)
            .unwrap()
            .set_len(len - 10)
            .unwrap();
        let store = FileStore::open(dir.path()).unwrap();
        assert_eq!(store.torn_tail(), len - 10 - whole);
        assert_eq!(store.version(&s).unwrap(), 1);
    }

    /// A tail longer than any append a power cut can tear is damage: refused, typed, and the
    /// file is left as it is (nothing read into memory for it).
    #[test]
    fn a_tail_longer_than_an_append_is_damage() {
        let dir = tempfile::tempdir().unwrap();
        let tail = vec![0x5Au8; MAX_TORN_TAIL as usize + 1];
        log_with_tail(dir.path(), &tail);
        let before = std::fs::metadata(dir.path().join(LOG_FILE)).unwrap().len();
        let err = FileStore::open(dir.path()).unwrap_err();
        assert!(
            err.to_string().contains("too long to be an append"),
            "{err}"
        );
        assert_eq!(
            std::fs::metadata(dir.path().join(LOG_FILE)).unwrap().len(),
            before
        );
    }
}
