//! The persisted event schema, separate from the domain events.
//!
//! Rules (checked by the golden records in `tests/vectors/stored-events-v1.txt`):
//! * variants of [`StoredEvent`] are never reordered, removed or reused — new shapes are
//!   appended as new variants (`DeviceV2`, …);
//! * while a domain enum (`DeviceEvent`, `ServerEvent` and the model types inside them)
//!   still encodes exactly as its `…V1` variant was first written, the variant holds the
//!   domain type itself. The first change to that encoding must freeze the old shape as a
//!   type of its own here and upcast it in [`Persist::from_record`].
//!
//! The store knows records and streams only; this module is where the domain's events
//! become records.

use serde::{Deserialize, Serialize};

use crate::codec::{self, CodecError};
use crate::device::DeviceEvent;
use crate::server::ServerEvent;
use crate::store::{Persist, StoreError, StreamId};

/// A persisted event, as decoded from a record body.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub enum StoredEvent {
    /// Device event, schema 1.
    DeviceV1(DeviceEvent),
    /// Server event, schema 1.
    ServerV1(ServerEvent),
}

impl StoredEvent {
    /// `"device"` or `"server"`.
    pub fn kind(&self) -> &'static str {
        match self {
            StoredEvent::DeviceV1(_) => "device",
            StoredEvent::ServerV1(_) => "server",
        }
    }

    /// Decodes a whole record (frame, CRC, body).
    pub fn decode_record(rec: &[u8]) -> Result<StoredEvent, CodecError> {
        let (_version, body) = codec::open_record(rec)?;
        codec::decode(body)
    }
}

/// The encoding side of [`StoredEvent`]: same variants, borrowed, so encoding never clones.
#[derive(Serialize)]
enum StoredEventRef<'a> {
    DeviceV1(&'a DeviceEvent),
    ServerV1(&'a ServerEvent),
}

fn decode_at(stream: &StreamId, seq: u64, rec: &[u8]) -> Result<StoredEvent, StoreError> {
    StoredEvent::decode_record(rec).map_err(|reason| StoreError::Corrupt {
        stream: stream.clone(),
        seq,
        reason,
    })
}

impl Persist for DeviceEvent {
    const KIND: &'static str = "device";

    fn to_record(&self) -> Result<Vec<u8>, CodecError> {
        codec::encode_record(&StoredEventRef::DeviceV1(self))
    }

    fn from_record(stream: &StreamId, seq: u64, rec: &[u8]) -> Result<Self, StoreError> {
        match decode_at(stream, seq, rec)? {
            StoredEvent::DeviceV1(e) => Ok(e),
            other => Err(StoreError::WrongKind {
                stream: stream.clone(),
                seq,
                expected: Self::KIND,
                found: other.kind(),
            }),
        }
    }
}

impl Persist for ServerEvent {
    const KIND: &'static str = "server";

    fn to_record(&self) -> Result<Vec<u8>, CodecError> {
        codec::encode_record(&StoredEventRef::ServerV1(self))
    }

    fn from_record(stream: &StreamId, seq: u64, rec: &[u8]) -> Result<Self, StoreError> {
        match decode_at(stream, seq, rec)? {
            StoredEvent::ServerV1(e) => Ok(e),
            other => Err(StoreError::WrongKind {
                stream: stream.clone(),
                seq,
                expected: Self::KIND,
                found: other.kind(),
            }),
        }
    }
}
