//! The server's device directory as events: its group table, kept in the store (issue 29,
//! N7; the host side is `host::server_directory`).

use serde::{Deserialize, Serialize};

use crate::model::DeviceId;

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
