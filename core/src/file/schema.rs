//! The campaign file's structures, as TOML sees them, and the string forms of its scalars.

use std::fmt;

use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize};

use crate::model::{Duration, Timestamp};
use crate::text::{
    datetime_to_timestamp, hex_decode, hex_encode, parse_human_duration, timestamp_to_datetime,
};

/// A duration written as a human string.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct DurationStr(pub(super) Duration);

impl<'de> Deserialize<'de> for DurationStr {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl de::Visitor<'_> for V {
            type Value = DurationStr;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration like \"2h\"")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<DurationStr, E> {
                parse_human_duration(s).map(DurationStr).map_err(E::custom)
            }
        }
        d.deserialize_str(V)
    }
}

impl Serialize for DurationStr {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0.to_string())
    }
}

/// A share: `"5%"` or `0.05`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Ratio(pub(super) f64);

impl<'de> Deserialize<'de> for Ratio {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl de::Visitor<'_> for V {
            type Value = Ratio;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a ratio like \"5%\" or 0.05")
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Ratio, E> {
                Ok(Ratio(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Ratio, E> {
                Ok(Ratio(v as f64))
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Ratio, E> {
                let bad =
                    || E::custom(format!("expected a ratio like \"5%\" or 0.05, found {s:?}"));
                let pct = s.trim().strip_suffix('%').ok_or_else(bad)?;
                let v: f64 = pct.trim().parse().map_err(|_| bad())?;
                if !v.is_finite() {
                    return Err(bad());
                }
                Ok(Ratio(v / 100.0))
            }
        }
        d.deserialize_any(V)
    }
}

impl Serialize for Ratio {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(self.0)
    }
}

/// 16 bytes as 32 hex digits.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Salt(pub(super) [u8; 16]);

impl<'de> Deserialize<'de> for Salt {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        let bytes = hex_decode(&s).filter(|b| b.len() == 16).ok_or_else(|| {
            de::Error::custom(format!("expected 32 hex digits (16 bytes), found {s:?}"))
        })?;
        let mut out = [0u8; 16];
        out.copy_from_slice(&bytes);
        Ok(Salt(out))
    }
}

impl Serialize for Salt {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex_encode(&self.0))
    }
}

/// RFC 3339 with an offset, from a TOML date-time (or a string holding one).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Rfc3339(pub(super) Timestamp);

impl<'de> Deserialize<'de> for Rfc3339 {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let dt = toml::value::Datetime::deserialize(d)?;
        datetime_to_timestamp(&dt)
            .map(Rfc3339)
            .map_err(de::Error::custom)
    }
}

impl Serialize for Rfc3339 {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let dt: toml::value::Datetime = timestamp_to_datetime(self.0)
            .parse()
            .map_err(serde::ser::Error::custom)?;
        dt.serialize(s)
    }
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileCampaign {
    pub(super) id: String,
    pub(super) revision: u32,
    pub(super) issued_at: Rfc3339,
    pub(super) salt: Salt,
    pub(super) targets: FileTargets,
    pub(super) settings: Vec<FileSetting>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) schedule: Option<FileSchedule>,
    /// Server-side policy, not in the payload: the coverage floor and its fallback.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) coverage: Option<FileCoverage>,
    /// Server-side policy, not in the payload: directory groups with abort thresholds of
    /// their own (`[[group_breaker]]`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) group_breaker: Option<Vec<FileGroupBreaker>>,
}

/// `[[group_breaker]]`: `group = "model-x"`, `failure_ratio = "5%"`, `min_reports = 200`,
/// `devices = 10000` (the group's targeted members; default: counted over the server's
/// directory).
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileGroupBreaker {
    pub(super) group: String,
    pub(super) failure_ratio: Ratio,
    pub(super) min_reports: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) devices: Option<u64>,
}

/// `[coverage]`: `floor = "99%"`, `fallback = "none" | "rebroadcast" | "unicast"`
/// (default `none`), `pace = 2000` (devices per minute, unicast only).
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileCoverage {
    pub(super) floor: Ratio,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) fallback: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) pace: Option<u32>,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileTargets {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) all: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) groups: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) devices: Option<Vec<String>>,
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub(super) enum FileOp {
    Add,
    Replace,
    Delete,
    Exec,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileBytes {
    pub(super) bytes: String,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(untagged)]
pub(super) enum FileValue {
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Bytes(FileBytes),
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileSetting {
    pub(super) op: FileOp,
    pub(super) uri: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) value: Option<FileValue>,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, tag = "kind", rename_all = "kebab-case")]
pub(super) enum FileCondition {
    AnyFailed,
    SettingFailed { uri_prefix: String },
    StatusIn { codes: Vec<u16> },
    VerifyMismatch { uri: String },
    PayloadIncomplete,
    NotAppliedWithin { within: DurationStr },
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileRetry {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) attempts: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) backoff: Option<DurationStr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) max_backoff: Option<DurationStr>,
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub(super) enum FileDetail {
    Summary,
    PerSetting,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileReport {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) offset: Option<DurationStr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) window: Option<DurationStr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) deadline: Option<DurationStr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) detail: Option<FileDetail>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) retry: Option<FileRetry>,
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub(super) enum FileAction {
    ReprovisionFailed,
    ReprovisionAll,
    NotifyOnly,
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub(super) enum FileThen {
    Escalate,
    GiveUp,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileCare {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) action: Option<FileAction>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) attempts: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) spacing: Option<DurationStr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) then: Option<FileThen>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) timeout: Option<DurationStr>,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileAbort {
    pub(super) failure_ratio: Ratio,
    pub(super) min_reports: u64,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileSchedule {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) evaluate_after: Option<DurationStr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) sample_success: Option<Ratio>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) conditions: Option<Vec<FileCondition>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) report: Option<FileReport>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) care: Option<FileCare>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) abort: Option<FileAbort>,
}
