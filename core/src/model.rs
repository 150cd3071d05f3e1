//! The campaign model: what a DM server broadcasts to many devices at once.
//!
//! Layered without cycles: [`crate::time`], [`crate::ids`] and [`crate::setting`] at the
//! bottom, then [`crate::schedule`], then [`crate::campaign`]. This module gathers the
//! model's types under one path.
//!
//! Time is never read here: every timestamp is an argument, in milliseconds
//! since the Unix epoch (UTC).

pub use crate::campaign::{Campaign, TargetSet, ValidCampaign};
pub use crate::ids::{CampaignId, DeviceId, MAX_CAMPAIGN_ID_LEN, MAX_DEVICE_ID_LEN};
pub use crate::setting::{Limits, Setting, SettingOp, Text, Value};
pub use crate::time::{Duration, Timestamp};
