//! The persisted event schema, separate from the domain events.
//!
//! Rules (checked by the golden records in `tests/vectors/stored-events-v*.txt`):
//! * variants of [`StoredEvent`] are never reordered, removed or reused — new shapes are
//!   appended as new variants;
//! * the newest variants (`DeviceV2`, `ServerV2`) hold the domain enums themselves, and a
//!   new domain event is appended to its enum (its golden record added with
//!   `DEVCARE_BLESS=1`);
//! * the first change to how an existing domain type encodes freezes the old shapes as
//!   types of their own (as [`v1`] froze schema 1 when care timeouts were added), adds
//!   `DeviceV3` / `ServerV3`, and upcasts the old variants in [`Persist::from_record`].
//!   Records are always written in the newest schema; every older one is read.
//!
//! The store knows records and streams only; this module is where the domain's events
//! become records.

use serde::{Deserialize, Serialize};

use crate::codec::{self, CodecError, StreamCrc};
use crate::device::DeviceEvent;
#[cfg(feature = "server")]
use crate::server::ServerEvent;
use crate::store::{Persist, StoreError, StreamId};

mod borrow;
pub mod v1;

use v1::DeviceEventV1;
#[cfg(feature = "server")]
use v1::ServerEventV1;

/// In a build without the `server` feature, a server record's body: it never decodes, so
/// a device build reading a server stream gets a typed error, and the variant indices of
/// [`StoredEvent`] stay those of every other build.
#[cfg(not(feature = "server"))]
#[derive(Debug, Clone, PartialEq)]
pub enum ServerRecord {}

#[cfg(not(feature = "server"))]
impl<'de> Deserialize<'de> for ServerRecord {
    fn deserialize<D: serde::Deserializer<'de>>(_: D) -> Result<Self, D::Error> {
        Err(serde::de::Error::custom(
            "a server event: this build has no server side (the `server` feature)",
        ))
    }
}

#[cfg(not(feature = "server"))]
type ServerEventV1 = ServerRecord;
#[cfg(not(feature = "server"))]
type ServerEvent = ServerRecord;

/// A persisted event, as decoded from a record body.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub enum StoredEvent {
    /// Device event, schema 1 (before care timeouts).
    DeviceV1(DeviceEventV1),
    /// Server event, schema 1 (before care timeouts).
    ServerV1(ServerEventV1),
    /// Device event, schema 2.
    DeviceV2(DeviceEvent),
    /// Server event, schema 2.
    ServerV2(ServerEvent),
    /// A change to the server's device directory (its group table, issue 29).
    #[cfg(feature = "server")]
    DirectoryV1(crate::server::DirectoryEvent),
}

impl StoredEvent {
    /// `"device"` or `"server"`.
    pub fn kind(&self) -> &'static str {
        match self {
            StoredEvent::DeviceV1(_) | StoredEvent::DeviceV2(_) => "device",
            StoredEvent::ServerV1(_) | StoredEvent::ServerV2(_) => "server",
            #[cfg(feature = "server")]
            StoredEvent::DirectoryV1(_) => "directory",
        }
    }

    /// Decodes the whole record at `seq` of `stream` (frame, CRC over key and bytes, body).
    pub fn decode_record(stream: &str, seq: u64, rec: &[u8]) -> Result<StoredEvent, CodecError> {
        Self::decode_stream_record(StreamCrc::new(stream), seq, rec)
    }

    /// [`Self::decode_record`] with the stream's key CRC computed beforehand.
    pub fn decode_stream_record(
        stream: StreamCrc,
        seq: u64,
        rec: &[u8],
    ) -> Result<StoredEvent, CodecError> {
        let (_version, body) = codec::open_stream_record(stream, seq, rec)?;
        codec::decode(body)
    }
}

/// The encoding side of [`StoredEvent`]: the same variant indices, borrowed, so encoding
/// never clones. Only the newest schema is written; the older variants are placeholders
/// that keep the indices.
#[derive(Serialize)]
pub(crate) enum StoredEventRef<'a> {
    #[allow(dead_code)]
    DeviceV1(()),
    #[allow(dead_code)]
    ServerV1(()),
    DeviceV2(&'a DeviceEvent),
    #[cfg(feature = "server")]
    ServerV2(&'a ServerEvent),
    #[cfg(feature = "server")]
    DirectoryV1(&'a crate::server::DirectoryEvent),
}

pub(crate) fn decode_at(
    stream: &StreamId,
    key: StreamCrc,
    seq: u64,
    rec: &[u8],
) -> Result<StoredEvent, StoreError> {
    StoredEvent::decode_stream_record(key, seq, rec).map_err(|reason| StoreError::Corrupt {
        stream: stream.clone(),
        seq,
        reason,
    })
}

impl Persist for DeviceEvent {
    const KIND: &'static str = "device";

    fn to_record(&self, stream: &StreamId, seq: u64) -> Result<Vec<u8>, CodecError> {
        codec::encode_record(stream.as_str(), seq, &StoredEventRef::DeviceV2(self))
    }

    fn from_stream_record(
        stream: &StreamId,
        key: StreamCrc,
        seq: u64,
        rec: &[u8],
    ) -> Result<Self, StoreError> {
        match decode_at(stream, key, seq, rec)? {
            StoredEvent::DeviceV2(e) => Ok(e),
            StoredEvent::DeviceV1(e) => {
                e.try_into()
                    .map_err(|e: crate::ValidationError| StoreError::Corrupt {
                        stream: stream.clone(),
                        seq,
                        reason: CodecError::Decode(e.to_string()),
                    })
            }
            other => Err(StoreError::WrongKind {
                stream: stream.clone(),
                seq,
                expected: Self::KIND,
                found: other.kind(),
            }),
        }
    }
}

#[cfg(feature = "server")]
impl Persist for ServerEvent {
    const KIND: &'static str = "server";

    fn to_record(&self, stream: &StreamId, seq: u64) -> Result<Vec<u8>, CodecError> {
        codec::encode_record(stream.as_str(), seq, &StoredEventRef::ServerV2(self))
    }

    fn from_stream_record(
        stream: &StreamId,
        key: StreamCrc,
        seq: u64,
        rec: &[u8],
    ) -> Result<Self, StoreError> {
        match decode_at(stream, key, seq, rec)? {
            StoredEvent::ServerV2(e) => Ok(e),
            StoredEvent::ServerV1(e) => Ok(e.into()),
            other => Err(StoreError::WrongKind {
                stream: stream.clone(),
                seq,
                expected: Self::KIND,
                found: other.kind(),
            }),
        }
    }
}

#[cfg(all(test, not(feature = "server")))]
mod device_only {
    use super::*;

    /// A device-only build reading a server record (schema 1 or 2; the body is never
    /// reached) gets a typed `Corrupt` naming the missing feature, not a panic or a wrong
    /// event.
    #[test]
    fn a_server_record_is_refused_by_a_build_without_the_server() {
        let stream = StreamId::new("server/c").unwrap();
        for variant in [1u32, 3] {
            let rec = codec::encode_record(stream.as_str(), 1, &(variant, 0u32, 7u64)).unwrap();
            let err = DeviceEvent::from_record(&stream, 1, &rec).unwrap_err();
            let StoreError::Corrupt { seq, reason, .. } = &err else {
                panic!("variant {variant}: expected Corrupt, got {err:?}");
            };
            assert_eq!(*seq, 1);
            assert!(reason.to_string().contains("no server side"), "{reason}");
        }
    }
}

#[cfg(feature = "server")]
impl Persist for crate::server::DirectoryEvent {
    const KIND: &'static str = "directory";

    fn to_record(&self, stream: &StreamId, seq: u64) -> Result<Vec<u8>, CodecError> {
        codec::encode_record(stream.as_str(), seq, &StoredEventRef::DirectoryV1(self))
    }

    fn from_stream_record(
        stream: &StreamId,
        key: StreamCrc,
        seq: u64,
        rec: &[u8],
    ) -> Result<Self, StoreError> {
        match decode_at(stream, key, seq, rec)? {
            StoredEvent::DirectoryV1(e) => Ok(e),
            other => Err(StoreError::WrongKind {
                stream: stream.clone(),
                seq,
                expected: Self::KIND,
                found: other.kind(),
            }),
        }
    }
}
