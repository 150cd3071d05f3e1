//! What a campaign provisions: [`Setting`]s (a DM command, a node, a typed [`Value`]) and
//! the size [`Limits`] checked before anything is allocated.

use serde::{Deserialize, Serialize};
use std::fmt;

/// The DM command a setting is delivered with.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, bincode::BorrowDecode,
)]
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

/// Text of a setting — its node URI, a `chr` value: a string that holds up to 24 bytes
/// inline, without an allocation. A payload's 32 settings are decoded with 64 strings; held
/// inline, a device opening it makes none of those allocations (`docs/performance.md`).
///
/// It reads as a `&str` (`Deref`, `AsRef<str>`, `Display`, comparisons with `str` and
/// `String`), is made from `&str` and `String` (`"./AP/APN".into()`), and becomes a
/// `String` with `String::from` or `to_string`. It encodes exactly as a `String`.
#[derive(Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Text(compact_str::CompactString);

impl Text {
    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::ops::Deref for Text {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for Text {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl std::borrow::Borrow<str> for Text {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for Text {
    fn from(s: &str) -> Self {
        Text(s.into())
    }
}

impl From<String> for Text {
    fn from(s: String) -> Self {
        Text(s.into())
    }
}

impl From<&String> for Text {
    fn from(s: &String) -> Self {
        Text(s.as_str().into())
    }
}

impl From<Text> for String {
    fn from(t: Text) -> Self {
        t.0.into_string()
    }
}

impl PartialEq<str> for Text {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Text {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialEq<String> for Text {
    fn eq(&self, other: &String) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<Text> for str {
    fn eq(&self, other: &Text) -> bool {
        self == other.as_str()
    }
}

impl PartialEq<Text> for &str {
    fn eq(&self, other: &Text) -> bool {
        *self == other.as_str()
    }
}

impl PartialEq<Text> for String {
    fn eq(&self, other: &Text) -> bool {
        self == other.as_str()
    }
}

impl Serialize for Text {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de, C> bincode::BorrowDecode<'de, C> for Text {
    fn borrow_decode<D: bincode::de::BorrowDecoder<'de, Context = C>>(
        d: &mut D,
    ) -> Result<Self, bincode::error::DecodeError> {
        let v: &str = bincode::BorrowDecode::borrow_decode(d)?;
        Ok(v.into())
    }
}

impl<'de> Deserialize<'de> for Text {
    /// Text the decoder lends (bincode lends it from the payload bytes) is checked as UTF-8
    /// where it lies and copied once: inline up to 24 bytes, else into one allocation.
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit;
        impl serde::de::Visitor<'_> for Visit {
            type Value = Text;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Text, E> {
                Ok(v.into())
            }
            fn visit_string<E: serde::de::Error>(self, v: String) -> Result<Text, E> {
                Ok(v.into())
            }
        }
        d.deserialize_str(Visit)
    }
}

/// A typed DM node value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Value {
    /// No value (e.g. for `Delete`).
    Null,
    /// `chr` format.
    Str(Text),
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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, bincode::BorrowDecode)]
pub struct Setting {
    /// The DM command.
    pub op: SettingOp,
    /// The management-tree URI, e.g. `./AP/Default/APN`.
    pub uri: Text,
    /// The typed value.
    pub value: Value,
}

impl Setting {
    /// Shorthand for a `Replace` of `uri` with `value`.
    pub fn replace(uri: impl Into<Text>, value: Value) -> Self {
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

#[cfg(test)]
mod text_tests {
    use super::*;

    #[test]
    fn text_encodes_as_a_string_and_holds_24_bytes_inline() {
        for s in [
            "",
            "./AP/Default/APN",
            &"x".repeat(24),
            &"y".repeat(25),
            "ünïcödé",
        ] {
            let t = Text::from(s);
            assert_eq!(t, s);
            assert_eq!(
                crate::codec::encode(&t).unwrap(),
                crate::codec::encode(&s.to_string()).unwrap(),
                "{s:?} encodes as a String"
            );
            let back: Text = crate::codec::decode(&crate::codec::encode(&t).unwrap()).unwrap();
            assert_eq!(back, t);
            assert_eq!(String::from(back), s);
            assert_eq!(t.0.is_heap_allocated(), s.len() > 24, "{s:?}");
        }
        assert_eq!(format!("{:?}", Text::from("a\"b")), format!("{:?}", "a\"b"));
    }
}
