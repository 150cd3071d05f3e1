//! The server's group table, kept in its store (issue 29, N7): a member's report that
//! arrives after a restart, before the host has refilled the table, is still taken as a
//! member's instead of being refused 403 — after which the device stops and is presumed OK.
//!
//! One stream, [`GROUPS_STREAM`], of [`DirectoryEvent`]s: each records a device's groups
//! as the host last set them. [`ServerHost::open`](crate::host::ServerHost::open) folds it
//! into the directory; [`ServerHost::set_device_groups`](crate::host::ServerHost) appends
//! only what changed (a host that refills the same table after every open appends nothing).
//! The appends are not flushed one by one: the next decision's flush makes them durable
//! with it, so filling 100,000 devices costs no fsync per device.

use serde::{Deserialize, Serialize};

use crate::codec::{self, CodecError, StreamCrc};
use crate::model::DeviceId;
use crate::store::{EventStore, Persist, StoreError, StreamId};

/// The stream of the server's group table.
pub const GROUPS_STREAM: &str = "directory/groups";

/// A change to the server's device directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum DirectoryEvent {
    /// `device` belongs to `groups` now (empty: to none).
    GroupsSet {
        /// The device.
        device: DeviceId,
        /// Its groups, as the host set them.
        groups: Vec<String>,
    },
}

impl Persist for DirectoryEvent {
    const KIND: &'static str = "directory";

    fn to_record(&self, stream: &StreamId, seq: u64) -> Result<Vec<u8>, CodecError> {
        codec::encode_record(
            stream.as_str(),
            seq,
            &crate::persist::StoredEventRef::DirectoryV1(self),
        )
    }

    fn from_stream_record(
        stream: &StreamId,
        key: StreamCrc,
        seq: u64,
        rec: &[u8],
    ) -> Result<Self, StoreError> {
        match crate::persist::decode_at(stream, key, seq, rec)? {
            crate::persist::StoredEvent::DirectoryV1(e) => Ok(e),
            other => Err(StoreError::WrongKind {
                stream: stream.clone(),
                seq,
                expected: Self::KIND,
                found: other.kind(),
            }),
        }
    }
}

/// A group table: each device and its groups.
pub(crate) type GroupTable = Vec<(DeviceId, Vec<String>)>;

/// The group table `store` holds: every device's last [`DirectoryEvent::GroupsSet`], and
/// the stream's version.
pub(crate) fn load_groups<S: EventStore>(store: &S) -> Result<(GroupTable, u64), StoreError> {
    let stream = groups_stream();
    let mut table: std::collections::HashMap<DeviceId, Vec<String>> =
        std::collections::HashMap::new();
    let version = store.fold(&stream, 0, |_, e: DirectoryEvent| match e {
        DirectoryEvent::GroupsSet { device, groups } => {
            table.insert(device, groups);
        }
    })?;
    let mut out: GroupTable = table.into_iter().collect();
    out.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    Ok((out, version))
}

/// [`GROUPS_STREAM`] as a stream id.
pub(crate) fn groups_stream() -> StreamId {
    StreamId::joined("directory", "groups")
}
