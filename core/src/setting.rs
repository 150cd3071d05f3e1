//! What a campaign provisions: [`Setting`]s (a DM command, a node, a typed [`Value`]) and
//! the size [`Limits`] checked before anything is allocated.

use serde::{Deserialize, Serialize};
use std::fmt;

/// The DM command a setting is delivered with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SettingOp {
    /// DM `Add`: create the node.
    Add,
    /// DM `Replace`: set the node's value.
    Replace,
    /// DM `Delete`: remove the node.
    Delete,
    /// DM `Exec`: run the node (with `value` as its argument).
    Exec,
}

impl fmt::Display for SettingOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SettingOp::Add => "Add",
            SettingOp::Replace => "Replace",
            SettingOp::Delete => "Delete",
            SettingOp::Exec => "Exec",
        })
    }
}

/// A `String` from text the decoder may lend (bincode lends it from the payload bytes):
/// checked as UTF-8 where it lies and copied once, with no zeroed buffer in between.
fn lent_string<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    struct Text;
    impl serde::de::Visitor<'_> for Text {
        type Value = String;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a string")
        }
        fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<String, E> {
            Ok(v.to_owned())
        }
        fn visit_string<E: serde::de::Error>(self, v: String) -> Result<String, E> {
            Ok(v)
        }
    }
    d.deserialize_str(Text)
}

/// A typed DM node value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Value {
    /// No value (e.g. for `Delete`).
    Null,
    /// `chr` format.
    Str(#[serde(deserialize_with = "lent_string")] String),
    /// `int` format.
    Int(i64),
    /// `bool` format.
    Bool(bool),
    /// `float` format.
    Float(f64),
    /// `bin` format.
    Bytes(Vec<u8>),
}

impl Value {
    /// Encoded length used for the value-length limit.
    pub fn len(&self) -> usize {
        match self {
            Value::Null => 0,
            Value::Str(s) => s.len(),
            Value::Int(_) | Value::Float(_) => 8,
            Value::Bool(_) => 1,
            Value::Bytes(b) => b.len(),
        }
    }
    /// True for `Null` and empty strings/byte strings.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// One DM command of a campaign: `op` on node `uri` with `value`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Setting {
    /// The DM command.
    pub op: SettingOp,
    /// The management-tree URI, e.g. `./AP/Default/APN`.
    #[serde(deserialize_with = "lent_string")]
    pub uri: String,
    /// The typed value.
    pub value: Value,
}

impl Setting {
    /// Shorthand for a `Replace` of `uri` with `value`.
    pub fn replace(uri: impl Into<String>, value: Value) -> Self {
        Setting {
            op: SettingOp::Replace,
            uri: uri.into(),
            value,
        }
    }
}

/// Size limits applied to campaigns (and, before allocation, to payloads that carry them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// Most settings in one campaign.
    pub max_settings: usize,
    /// Longest setting URI, in bytes.
    pub max_uri_len: usize,
    /// Longest setting value, in bytes.
    pub max_value_len: usize,
    /// Most explicit target devices.
    pub max_target_devices: usize,
    /// Most target groups.
    pub max_target_groups: usize,
    /// Most conditions in a schedule.
    pub max_conditions: usize,
}

impl Limits {
    /// Safe defaults for a handset: 256 settings, 512-byte URIs, 16 KiB values,
    /// 100,000 explicit targets, 256 groups, 32 conditions.
    pub const DEFAULT: Limits = Limits {
        max_settings: 256,
        max_uri_len: 512,
        max_value_len: 16 * 1024,
        max_target_devices: 100_000,
        max_target_groups: 256,
        max_conditions: 32,
    };

    /// No size limit at all: only a campaign's own rules are checked (a campaign read back
    /// from a log, whose sizes were checked against the device's limits when it arrived).
    pub const UNBOUNDED: Limits = Limits {
        max_settings: usize::MAX,
        max_uri_len: usize::MAX,
        max_value_len: usize::MAX,
        max_target_devices: usize::MAX,
        max_target_groups: usize::MAX,
        max_conditions: usize::MAX,
    };
}

impl Default for Limits {
    fn default() -> Self {
        Limits::DEFAULT
    }
}
