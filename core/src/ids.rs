//! Identities: [`DeviceId`] and [`CampaignId`], visible ASCII of bounded length.

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

use compact_str::CompactString;

use crate::error::ValidationError;

/// Largest accepted device id, in bytes.
pub const MAX_DEVICE_ID_LEN: usize = 128;

/// A device identity as the DM server knows it (e.g. the DM `DevId`, "IMEI:490154203237518").
///
/// Visible ASCII only (0x21..=0x7E), 1 to [`MAX_DEVICE_ID_LEN`] bytes. The restriction keeps
/// the slot function's domain-separation prefixes (which contain NUL) disjoint from every id.
///
/// An id of up to 24 bytes (an IMEI with its `IMEI:` prefix is 20) is held inline, without
/// a heap allocation: ids are in nearly every event, so decoding a log or cloning an id
/// allocates nothing for them.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DeviceId(CompactString);

impl DeviceId {
    /// Checks and wraps a device id.
    pub fn new(id: impl Into<String>) -> Result<Self, ValidationError> {
        let id = id.into();
        check_token("device id", &id, MAX_DEVICE_ID_LEN)?;
        Ok(DeviceId(id.into()))
    }

    /// Checks and copies a device id from text.
    #[cfg(feature = "server")]
    pub(crate) fn from_text(id: &str) -> Result<Self, ValidationError> {
        check_token("device id", id, MAX_DEVICE_ID_LEN)?;
        Ok(DeviceId(id.into()))
    }
    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
    /// The id bytes hashed by the slot function.
    pub fn as_bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

impl TryFrom<String> for DeviceId {
    type Error = ValidationError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        DeviceId::new(s)
    }
}
impl From<DeviceId> for String {
    fn from(d: DeviceId) -> String {
        d.0.into_string()
    }
}
impl fmt::Display for DeviceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Largest accepted campaign id, in bytes.
pub const MAX_CAMPAIGN_ID_LEN: usize = 64;

/// A campaign identity chosen by the operator (e.g. "apn-2026-11"). Same alphabet rules as
/// [`DeviceId`], at most [`MAX_CAMPAIGN_ID_LEN`] bytes.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CampaignId(String);

impl CampaignId {
    /// Checks and wraps a campaign id.
    pub fn new(id: impl Into<String>) -> Result<Self, ValidationError> {
        let id = id.into();
        check_token("campaign id", &id, MAX_CAMPAIGN_ID_LEN)?;
        Ok(CampaignId(id))
    }
    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}
impl TryFrom<String> for CampaignId {
    type Error = ValidationError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        CampaignId::new(s)
    }
}
impl From<CampaignId> for String {
    fn from(d: CampaignId) -> String {
        d.0
    }
}
impl fmt::Display for CampaignId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn check_token(what: &'static str, s: &str, max: usize) -> Result<(), ValidationError> {
    if s.is_empty() {
        return Err(ValidationError::new(what, "must not be empty"));
    }
    if s.len() > max {
        return Err(ValidationError::new(
            what,
            format!("is {} bytes long, the limit is {max}", s.len()),
        ));
    }
    if let Some((i, c)) = s.char_indices().find(|(_, c)| !matches!(c, '!'..='~')) {
        return Err(ValidationError::new(
            what,
            format!("has {c:?} at byte {i}; only visible ASCII (no spaces) is allowed"),
        ));
    }
    Ok(())
}

/// Ids encode as their text. Decoding checks the text where it lies (a record's bytes, a
/// payload's) and copies it once, into the id.
macro_rules! token_serde {
    ($t:ident, $what:literal, $max:expr) => {
        impl Serialize for $t {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct Text;
                impl Visitor<'_> for Text {
                    type Value = $t;
                    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        f.write_str("a string")
                    }
                    fn visit_str<E: de::Error>(self, v: &str) -> Result<$t, E> {
                        check_token($what, v, $max).map_err(E::custom)?;
                        Ok($t(v.into()))
                    }
                    fn visit_string<E: de::Error>(self, v: String) -> Result<$t, E> {
                        check_token($what, &v, $max).map_err(E::custom)?;
                        Ok($t(v.into()))
                    }
                }
                d.deserialize_str(Text)
            }
        }

        impl<'de, C> bincode::BorrowDecode<'de, C> for $t {
            fn borrow_decode<D: bincode::de::BorrowDecoder<'de, Context = C>>(
                d: &mut D,
            ) -> Result<Self, bincode::error::DecodeError> {
                let v: &str = bincode::BorrowDecode::borrow_decode(d)?;
                check_token($what, v, $max)
                    .map_err(|e| bincode::error::DecodeError::OtherString(e.to_string()))?;
                Ok($t(v.into()))
            }
        }
    };
}

token_serde!(DeviceId, "device id", MAX_DEVICE_ID_LEN);
token_serde!(CampaignId, "campaign id", MAX_CAMPAIGN_ID_LEN);

/// Largest stream id, in bytes.
pub const MAX_STREAM_ID_LEN: usize = 200;

/// The name of a stream: visible ASCII, 1 to [`MAX_STREAM_ID_LEN`] bytes.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StreamId(String);

impl StreamId {
    /// Checks and wraps a stream id.
    pub fn new(id: impl Into<String>) -> Result<Self, ValidationError> {
        let id = id.into();
        if id.is_empty() || id.len() > MAX_STREAM_ID_LEN {
            return Err(ValidationError::new(
                "stream id",
                format!("must be 1..={MAX_STREAM_ID_LEN} bytes, is {}", id.len()),
            ));
        }
        if let Some(c) = id.chars().find(|c| !matches!(c, '!'..='~')) {
            return Err(ValidationError::new(
                "stream id",
                format!("has {c:?}; only visible ASCII is allowed"),
            ));
        }
        Ok(StreamId(id))
    }

    /// `<prefix>/<name>` from parts already checked to be visible ASCII whose total stays
    /// within [`MAX_STREAM_ID_LEN`] (a side name and a campaign id).
    pub(crate) fn joined(prefix: &str, name: &str) -> Self {
        StreamId(format!("{prefix}/{name}"))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
