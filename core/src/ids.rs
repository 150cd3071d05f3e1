//! Identities: [`DeviceId`] and [`CampaignId`], visible ASCII of bounded length.

use serde::{Deserialize, Serialize};
use std::fmt;

use crate::error::ValidationError;

/// Largest accepted device id, in bytes.
pub const MAX_DEVICE_ID_LEN: usize = 128;

/// A device identity as the DM server knows it (e.g. the DM `DevId`, "IMEI:490154203237518").
///
/// Visible ASCII only (0x21..=0x7E), 1 to [`MAX_DEVICE_ID_LEN`] bytes. The restriction keeps
/// the slot function's domain-separation prefixes (which contain NUL) disjoint from every id.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct DeviceId(String);

impl DeviceId {
    /// Checks and wraps a device id.
    pub fn new(id: impl Into<String>) -> Result<Self, ValidationError> {
        let id = id.into();
        check_token("device id", &id, MAX_DEVICE_ID_LEN)?;
        Ok(DeviceId(id))
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
        d.0
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
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
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
