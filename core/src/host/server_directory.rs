//! The server's group table, kept in its store (issue 29, N7): a member's report that
//! arrives after a restart, before the host has refilled the table, is still taken as a
//! member's instead of being refused 403 — after which the device stops and is presumed OK.
//!
//! One stream, [`GROUPS_STREAM`](crate::server::GROUPS_STREAM), of [`DirectoryEvent`]s: each records a device's groups
//! as the host last set them. [`ServerHost::open`](crate::host::ServerHost::open) folds it
//! into the directory; [`ServerHost::set_device_groups`](crate::host::ServerHost) appends
//! only what changed (a host that refills the same table after every open appends nothing).
//! The appends are not flushed one by one: the next decision's flush makes them durable
//! with it, so filling 100,000 devices costs no fsync per device.

use crate::model::DeviceId;
use crate::server::DirectoryEvent;
use crate::store::{EventStore, StoreError, StreamId};

/// A group table: each device and its groups.
pub(crate) type GroupTable = Vec<(DeviceId, Vec<String>)>;

/// The group table `store` holds: every device's last [`DirectoryEvent::GroupsSet`].
pub(crate) fn load_groups<S: EventStore>(store: &S) -> Result<GroupTable, StoreError> {
    let stream = groups_stream();
    let mut table: std::collections::HashMap<DeviceId, Vec<String>> =
        std::collections::HashMap::new();
    store.fold(&stream, 0, |_, e: DirectoryEvent| match e {
        DirectoryEvent::GroupsSet { device, groups } => {
            table.insert(device, groups);
        }
    })?;
    let mut out: GroupTable = table.into_iter().collect();
    out.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

/// [`GROUPS_STREAM`] as a stream id.
pub(crate) fn groups_stream() -> StreamId {
    StreamId::joined("directory", "groups")
}
