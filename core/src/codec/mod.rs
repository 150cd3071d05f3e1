//! The one place values become bytes: bincode 2.0.1 with `config::standard()` (little
//! endian, variable-length integers) and an explicit size limit on every decode, so a
//! hostile length prefix cannot make the decoder allocate more than the limit.
//!
//! Stored records are framed as `[format version u8][bincode body][CRC32C u32 big-endian]`,
//! the CRC covering the version byte and the body.

use bincode::config::{self, Configuration, LittleEndian, Varint};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Largest body the codec encodes or decodes: 16 MiB (a campaign with 100,000 explicit
/// targets fits).
pub const MAX_BODY: usize = 16 * 1024 * 1024;

/// Current record format version: 2, whose CRC covers the record's key (stream and seq) as
/// well as its bytes. Format 1 (CRC over the bytes only) is still read.
pub const RECORD_FORMAT: u8 = 2;

type Limited = Configuration<LittleEndian, Varint, config::Limit<MAX_BODY>>;

const fn cfg() -> Limited {
    config::standard().with_limit::<MAX_BODY>()
}

/// Why bytes could not be encoded or decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    /// Encoding failed (e.g. the value is larger than [`MAX_BODY`]).
    #[error("cannot encode: {0}")]
    Encode(String),
    /// The body is not a valid encoding of the expected type.
    #[error("cannot decode: {0}")]
    Decode(String),
    /// The body decoded but bytes were left over.
    #[error("{extra} trailing bytes after the value")]
    TrailingBytes {
        /// How many.
        extra: usize,
    },
    /// The record is shorter than its frame.
    #[error("record of {len} bytes is shorter than the 5-byte frame")]
    Truncated {
        /// Its length.
        len: usize,
    },
    /// The CRC does not match: the record was damaged.
    #[error("checksum mismatch: stored {stored:08x}, computed {computed:08x}")]
    BadChecksum {
        /// CRC in the record.
        stored: u32,
        /// CRC of the bytes.
        computed: u32,
    },
    /// A format version this build does not know.
    #[error("unknown record format version {0}")]
    UnknownFormat(u8),
    /// A record of a format this store never wrote at this place: format 1 (before 0.3)
    /// outside a sled store, or after a format-2 record of its stream.
    #[error("record format {0} cannot be here: this store was never written at that format here")]
    FormatNotHere(u8),
}

/// Encodes `value` as a bincode body.
pub fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, CodecError> {
    let body = bincode::serde::encode_to_vec(value, cfg())
        .map_err(|e| CodecError::Encode(e.to_string()))?;
    if body.len() > MAX_BODY {
        return Err(CodecError::Encode(format!(
            "value is {} bytes, the limit is {MAX_BODY}",
            body.len()
        )));
    }
    Ok(body)
}

/// Decodes a whole bincode body; refuses trailing bytes.
pub fn decode<T: DeserializeOwned>(body: &[u8]) -> Result<T, CodecError> {
    whole(body, bincode::serde::decode_from_slice(body, cfg()))
}

/// Decodes a whole bincode body with bincode's own decoder rather than through serde: the
/// same bytes, read faster. What a device opens a payload's campaign with. For
/// [`Campaign`](crate::model::Campaign) and its schema-1 form (`codec/campaign.rs`), text is
/// checked in `body` and copied once and no list reserves more than 64 KiB for what its
/// length claims; they are held to [`decode`] by tests and a fuzz target. Another type
/// gets bincode's own impls, which reserve what a length claims, up to [`MAX_BODY`].
pub fn decode_borrowed<'a, T: bincode::BorrowDecode<'a, ()>>(
    body: &'a [u8],
) -> Result<T, CodecError> {
    whole(body, bincode::borrow_decode_from_slice(body, cfg()))
}

/// Largest body [`decode_small`] reads: 16 KiB, the report size limit.
pub const MAX_SMALL_BODY: usize = 16 * 1024;

/// [`decode`] for small untrusted bodies (reports): no length the body claims — a string,
/// a list — may exceed 16 KiB, so a few bytes can never make the decoder allocate more
/// than that (bincode reserves what a length prefix claims).
pub fn decode_small<T: DeserializeOwned>(body: &[u8]) -> Result<T, CodecError> {
    let cfg = config::standard().with_limit::<MAX_SMALL_BODY>();
    whole(body, bincode::serde::decode_from_slice(body, cfg))
}

/// Deserializes a list without reserving what its length prefix claims (serde reserves
/// up to 1 MiB for a claimed length): an untrusted report claiming a million findings in a
/// few bytes grows its list one decoded element at a time and fails at the end of its bytes.
pub fn bounded_seq<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    struct Seq<T>(std::marker::PhantomData<T>);
    impl<'de, T: serde::Deserialize<'de>> serde::de::Visitor<'de> for Seq<T> {
        type Value = Vec<T>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a list")
        }
        fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<T>, A::Error> {
            let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(16));
            while let Some(x) = seq.next_element()? {
                out.push(x);
            }
            Ok(out)
        }
    }
    d.deserialize_seq(Seq(std::marker::PhantomData))
}

fn whole<T>(
    body: &[u8],
    decoded: Result<(T, usize), bincode::error::DecodeError>,
) -> Result<T, CodecError> {
    let (value, read) = decoded.map_err(|e| CodecError::Decode(e.to_string()))?;
    if read != body.len() {
        return Err(CodecError::TrailingBytes {
            extra: body.len() - read,
        });
    }
    Ok(value)
}

/// Frames `value` as the record at `seq` of `stream`: format 2, body, CRC32C over
/// `stream ‖ 0x00 ‖ seq (u64 BE) ‖ format ‖ body`. The key is fed to the CRC, not stored:
/// a record copied or moved to another stream or seq fails its check there.
pub fn encode_record<T: Serialize + ?Sized>(
    stream: &str,
    seq: u64,
    value: &T,
) -> Result<Vec<u8>, CodecError> {
    let body = encode(value)?;
    let mut rec = Vec::with_capacity(body.len() + 5);
    rec.push(RECORD_FORMAT);
    rec.extend_from_slice(&body);
    let crc = crc32c::crc32c_append(key_crc(stream, seq), &rec);
    rec.extend_from_slice(&crc.to_be_bytes());
    Ok(rec)
}

/// The CRC32C of a record key, the start of a format-2 record's CRC.
fn key_crc(stream: &str, seq: u64) -> u32 {
    StreamCrc::new(stream).at(seq)
}

/// The CRC32C of `stream ‖ 0x00`, the part of every record key a stream shares: computed
/// once for a whole read of the stream ([`open_stream_record`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamCrc(u32);

impl StreamCrc {
    /// The CRC of `stream`'s key prefix.
    pub fn new(stream: &str) -> Self {
        StreamCrc(crc32c::crc32c_append(
            crc32c::crc32c(stream.as_bytes()),
            &[0],
        ))
    }

    /// The CRC of the key of record `seq`.
    fn at(self, seq: u64) -> u32 {
        crc32c::crc32c_append(self.0, &seq.to_be_bytes())
    }
}

/// Checks the frame and CRC of the record at `seq` of `stream` (format 2: the CRC covers
/// the key; format 1, written before 0.3: the bytes only); returns its format and body.
pub fn open_record<'a>(
    stream: &str,
    seq: u64,
    rec: &'a [u8],
) -> Result<(u8, &'a [u8]), CodecError> {
    open_stream_record(StreamCrc::new(stream), seq, rec)
}

/// [`open_record`] with the stream's key CRC computed beforehand ([`StreamCrc::new`]).
pub fn open_stream_record(
    stream: StreamCrc,
    seq: u64,
    rec: &[u8],
) -> Result<(u8, &[u8]), CodecError> {
    if rec.len() < 5 {
        return Err(CodecError::Truncated { len: rec.len() });
    }
    let (framed, crc) = rec.split_at(rec.len() - 4);
    let stored = u32::from_be_bytes([crc[0], crc[1], crc[2], crc[3]]);
    let version = framed[0];
    let computed = match version {
        1 => crc32c::crc32c(framed),
        2 => crc32c::crc32c_append(stream.at(seq), framed),
        other => {
            // An unknown format whose bytes are intact is named as such; damage first.
            let plain = crc32c::crc32c(framed);
            let keyed = crc32c::crc32c_append(stream.at(seq), framed);
            if stored == plain || stored == keyed {
                return Err(CodecError::UnknownFormat(other));
            }
            keyed
        }
    };
    if stored != computed {
        return Err(CodecError::BadChecksum { stored, computed });
    }
    Ok((version, &framed[1..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hostile_length_prefix_is_an_error_not_an_allocation() {
        // A Vec<u8> claiming u64::MAX elements: varint 0xff + 8 bytes.
        let evil = [0xffu8, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01];
        assert!(matches!(
            decode::<Vec<u8>>(&evil),
            Err(CodecError::Decode(_))
        ));
        assert!(matches!(
            decode::<String>(&evil),
            Err(CodecError::Decode(_))
        ));
    }

    #[test]
    fn records_round_trip_and_detect_damage() {
        let rec = encode_record("server/s", 7, &("stream", 42u64)).unwrap();
        let (v, body) = open_record("server/s", 7, &rec).unwrap();
        assert_eq!(v, RECORD_FORMAT);
        assert_eq!(
            decode::<(String, u64)>(body).unwrap(),
            ("stream".into(), 42)
        );
        for i in 0..rec.len() {
            let mut bad = rec.clone();
            bad[i] ^= 0x01;
            assert!(
                open_record("server/s", 7, &bad).is_err(),
                "flip at {i} undetected"
            );
        }
        for len in 0..rec.len() {
            assert!(
                open_record("server/s", 7, &rec[..len]).is_err(),
                "truncation to {len} undetected"
            );
        }
        assert_eq!(
            decode::<u8>(&[1, 2]),
            Err(CodecError::TrailingBytes { extra: 1 })
        );
        // The key is part of the check: the same bytes at another seq or stream fail.
        assert!(matches!(
            open_record("server/s", 8, &rec),
            Err(CodecError::BadChecksum { .. })
        ));
        assert!(matches!(
            open_record("server/t", 7, &rec),
            Err(CodecError::BadChecksum { .. })
        ));
    }

    #[test]
    fn a_format_1_record_still_opens_wherever_it_is() {
        let mut rec = vec![1u8];
        rec.extend_from_slice(&encode(&7u32).unwrap());
        let crc = crc32c::crc32c(&rec);
        rec.extend_from_slice(&crc.to_be_bytes());
        let (v, body) = open_record("server/any", 99, &rec).unwrap();
        assert_eq!((v, decode::<u32>(body).unwrap()), (1, 7));
    }

    #[test]
    fn an_unknown_format_version_is_named() {
        let mut rec = vec![9u8, 0];
        let crc = crc32c::crc32c(&rec);
        rec.extend_from_slice(&crc.to_be_bytes());
        assert_eq!(
            open_record("server/s", 1, &rec),
            Err(CodecError::UnknownFormat(9))
        );
    }
}
