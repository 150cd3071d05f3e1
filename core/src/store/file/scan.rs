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

/// The whole frames in `bytes` (found at any offset, by their head's CRC and then their
/// body's), in order: their offsets and heads.
pub(super) fn whole_frames(bytes: &[u8]) -> impl Iterator<Item = (usize, Head)> + '_ {
    let n = FRAME_HEAD as usize;
    let mut p = 0;
    std::iter::from_fn(move || {
        while p + n <= bytes.len() {
            let at = p;
            let found = Head::parse(&bytes[at..at + n]).filter(|h| {
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
        let mut rest = vec![0; (len - at) as usize];
        read_at(self.file, &mut rest, at).map_err(|e| io_err(self.path, "reading", e))?;
        match whole_frames(&rest).find(|(_, h)| h.synced > at) {
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
            let before: u64 = parsed
                .iter()
                .filter(|(s, _)| *s == stream)
                .map(|(_, spans)| spans.len() as u64)
                .sum();
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
