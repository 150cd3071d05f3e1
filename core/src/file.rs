//! Campaign files: the TOML an operator writes.
//!
//! Strict: unknown keys are errors; durations are strings like `"30s"`, `"2h"`, `"7d"`;
//! ratios are `"5%"` or `0.05`; `issued_at` is an RFC 3339 date-time with an offset; setting
//! values are typed by their TOML type (`{ bytes = "hex" }` for binary, absent for none).
//! Every error says `file:line:col: field.path: what is wrong`. Parts of the schedule that
//! the file leaves out take the values of [`CareSchedule::default`].
//!
//! ```toml
//! id = "apn-2026-11"
//! revision = 1
//! issued_at = 2026-11-25T10:00:00Z
//! salt = "000102030405060708090a0b0c0d0e0f"
//! targets = { all = true }
//!
//! [[settings]]
//! op = "replace"
//! uri = "./AP/Default/APN"
//! value = "internet.example"
//!
//! [schedule.report]
//! window = "2h"
//! ```

use std::fmt;
use std::ops::Range;

use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize};

use crate::model::{
    Campaign, CampaignId, DeviceId, Duration, Limits, Setting, SettingOp, TargetSet, Timestamp,
    Value,
};
use crate::schedule::{
    AbortPolicy, AfterCare, CareAction, CarePolicy, CareSchedule, Condition, Detail, ReportPolicy,
    RetryPolicy,
};

/// A campaign file that could not be read, with its location.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}:{col}: {path}{sep}{message}", sep = if path.is_empty() { "" } else { ": " })]
pub struct FileError {
    /// The file name as given.
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column (in characters).
    pub col: usize,
    /// Dotted field path (`schedule.report.window`, `settings[2].uri`), empty for syntax errors.
    pub path: String,
    /// What is wrong.
    pub message: String,
}

// ---------------------------------------------------------------------------------------
// Scalar helpers

/// Parses a human duration (`"30s"`, `"2h"`, `"7d"`, `"1500ms"`).
pub fn parse_human_duration(s: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(s.trim())
        .map_err(|_| format!("expected a duration like \"2h\", found {s:?}"))?;
    u64::try_from(d.as_millis())
        .map(Duration)
        .map_err(|_| format!("duration {s:?} is too long"))
}

/// A duration written as a human string.
#[derive(Debug, Clone, Copy, PartialEq)]
struct DurationStr(Duration);

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
struct Ratio(f64);

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
struct Salt([u8; 16]);

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

/// Lower-case hex of `b`.
pub fn hex_encode(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Bytes of an even-length hex string, or `None`.
pub fn hex_decode(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) || !s.is_ascii() {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).ok())
        .collect()
}

/// RFC 3339 with an offset, from a TOML date-time (or a string holding one).
#[derive(Debug, Clone, Copy, PartialEq)]
struct Rfc3339(Timestamp);

fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    // Howard Hinnant's days_from_civil: days since 1970-01-01 of a proleptic Gregorian date.
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (i64::from(m) + 9) % 12;
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn datetime_to_timestamp(dt: &toml::value::Datetime) -> Result<Timestamp, String> {
    let (Some(date), Some(time), Some(offset)) = (dt.date, dt.time, dt.offset) else {
        return Err(format!(
            "expected an RFC 3339 date-time with an offset, like 2026-11-25T10:00:00Z, found {dt}"
        ));
    };
    let offset_min = match offset {
        toml::value::Offset::Z => 0,
        toml::value::Offset::Custom { minutes } => i64::from(minutes),
    };
    let days = days_from_civil(
        i64::from(date.year),
        u32::from(date.month),
        u32::from(date.day),
    );
    let secs = days * 86_400
        + i64::from(time.hour) * 3_600
        + i64::from(time.minute) * 60
        + i64::from(time.second.unwrap_or(0))
        - offset_min * 60;
    let ms = secs * 1_000 + i64::from(time.nanosecond.unwrap_or(0) / 1_000_000);
    u64::try_from(ms)
        .map(Timestamp)
        .map_err(|_| format!("{dt} is before 1970"))
}

/// RFC 3339 (UTC, `Z`) text of `t`, with milliseconds when they are not zero.
pub fn format_rfc3339(t: Timestamp) -> String {
    timestamp_to_datetime(t)
}

fn timestamp_to_datetime(t: Timestamp) -> String {
    let ms = t.as_millis();
    let secs = ms / 1_000;
    let days = (secs / 86_400) as i64;
    // civil_from_days (Hinnant).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    let rem = secs % 86_400;
    let frac = ms % 1_000;
    let base = format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}",
        rem / 3_600,
        rem / 60 % 60,
        rem % 60
    );
    if frac == 0 {
        format!("{base}Z")
    } else {
        format!("{base}.{frac:03}Z")
    }
}

/// Parses RFC 3339 text with an offset (`2026-11-25T10:00:00Z`).
pub fn parse_rfc3339(s: &str) -> Result<Timestamp, String> {
    let dt: toml::value::Datetime = s.trim().parse().map_err(|_| {
        format!("expected an RFC 3339 date-time like 2026-11-25T10:00:00Z, found {s:?}")
    })?;
    datetime_to_timestamp(&dt)
}

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

// ---------------------------------------------------------------------------------------
// File structures

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct FileCampaign {
    id: String,
    revision: u32,
    issued_at: Rfc3339,
    salt: Salt,
    targets: FileTargets,
    settings: Vec<FileSetting>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    schedule: Option<FileSchedule>,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct FileTargets {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    all: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    groups: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    devices: Option<Vec<String>>,
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
enum FileOp {
    Add,
    Replace,
    Delete,
    Exec,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct FileBytes {
    bytes: String,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(untagged)]
enum FileValue {
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Bytes(FileBytes),
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct FileSetting {
    op: FileOp,
    uri: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    value: Option<FileValue>,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, tag = "kind", rename_all = "kebab-case")]
enum FileCondition {
    AnyFailed,
    SettingFailed { uri_prefix: String },
    StatusIn { codes: Vec<u16> },
    VerifyMismatch { uri: String },
    PayloadIncomplete,
    NotAppliedWithin { within: DurationStr },
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct FileRetry {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    attempts: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    backoff: Option<DurationStr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    max_backoff: Option<DurationStr>,
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
enum FileDetail {
    Summary,
    PerSetting,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct FileReport {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    offset: Option<DurationStr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    window: Option<DurationStr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    deadline: Option<DurationStr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    detail: Option<FileDetail>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    retry: Option<FileRetry>,
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
enum FileAction {
    ReprovisionFailed,
    ReprovisionAll,
    NotifyOnly,
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
enum FileThen {
    Escalate,
    GiveUp,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct FileCare {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    action: Option<FileAction>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    attempts: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    spacing: Option<DurationStr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    then: Option<FileThen>,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct FileAbort {
    failure_ratio: Ratio,
    min_reports: u64,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct FileSchedule {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    evaluate_after: Option<DurationStr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sample_success: Option<Ratio>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    conditions: Option<Vec<FileCondition>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    report: Option<FileReport>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    care: Option<FileCare>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    abort: Option<FileAbort>,
}

// ---------------------------------------------------------------------------------------
// Conversion

/// A conversion error before we know its span: the field path and the message.
struct Problem {
    path: String,
    message: String,
}

fn problem(path: impl Into<String>, message: impl Into<String>) -> Problem {
    Problem {
        path: path.into(),
        message: message.into(),
    }
}

fn ppm_of(path: &str, r: Ratio) -> Result<u32, Problem> {
    if !(0.0..=1.0).contains(&r.0) {
        return Err(problem(
            path,
            format!("must be between 0% and 100%, is {}", r.0),
        ));
    }
    Ok((r.0 * 1e6).round() as u32)
}

impl FileCampaign {
    fn into_campaign(self) -> Result<Campaign, Problem> {
        let id = CampaignId::new(self.id).map_err(|e| problem("id", e.reason))?;
        let targets = match (self.targets.all, self.targets.groups, self.targets.devices) {
            (Some(true), None, None) => TargetSet::All,
            (None, Some(g), None) => TargetSet::groups(g),
            (None, None, Some(d)) => {
                let mut ids = Vec::with_capacity(d.len());
                for (i, s) in d.into_iter().enumerate() {
                    ids.push(
                        DeviceId::new(s)
                            .map_err(|e| problem(format!("targets.devices[{i}]"), e.reason))?,
                    );
                }
                TargetSet::devices(ids)
            }
            (Some(false), None, None) => {
                return Err(problem(
                    "targets.all",
                    "false targets nobody; name groups or devices instead",
                ));
            }
            _ => {
                return Err(problem(
                    "targets",
                    "give exactly one of all = true, groups = [...] or devices = [...]",
                ));
            }
        };
        let settings = self
            .settings
            .into_iter()
            .enumerate()
            .map(|(i, s)| {
                let value = match s.value {
                    None => Value::Null,
                    Some(FileValue::Bool(b)) => Value::Bool(b),
                    Some(FileValue::Int(n)) => Value::Int(n),
                    Some(FileValue::Float(f)) => Value::Float(f),
                    Some(FileValue::Str(s)) => Value::Str(s),
                    Some(FileValue::Bytes(b)) => {
                        Value::Bytes(hex_decode(&b.bytes).ok_or_else(|| {
                            problem(
                                format!("settings[{i}].value.bytes"),
                                format!("expected hex digits, found {:?}", b.bytes),
                            )
                        })?)
                    }
                };
                let op = match s.op {
                    FileOp::Add => SettingOp::Add,
                    FileOp::Replace => SettingOp::Replace,
                    FileOp::Delete => SettingOp::Delete,
                    FileOp::Exec => SettingOp::Exec,
                };
                Ok(Setting {
                    op,
                    uri: s.uri,
                    value,
                })
            })
            .collect::<Result<Vec<_>, Problem>>()?;
        let schedule = self.schedule.unwrap_or_default().into_schedule()?;
        Ok(Campaign {
            id,
            revision: self.revision,
            issued_at: self.issued_at.0,
            salt: self.salt.0,
            targets,
            settings,
            schedule,
        })
    }

    fn from_campaign(c: &Campaign) -> Self {
        let targets = match &c.targets {
            TargetSet::All => FileTargets {
                all: Some(true),
                groups: None,
                devices: None,
            },
            TargetSet::Groups(g) => FileTargets {
                all: None,
                groups: Some(g.clone()),
                devices: None,
            },
            TargetSet::Devices(d) => FileTargets {
                all: None,
                groups: None,
                devices: Some(d.iter().map(|d| d.to_string()).collect()),
            },
        };
        let settings = c
            .settings
            .iter()
            .map(|s| FileSetting {
                op: match s.op {
                    SettingOp::Add => FileOp::Add,
                    SettingOp::Replace => FileOp::Replace,
                    SettingOp::Delete => FileOp::Delete,
                    SettingOp::Exec => FileOp::Exec,
                },
                uri: s.uri.clone(),
                value: match &s.value {
                    Value::Null => None,
                    Value::Bool(b) => Some(FileValue::Bool(*b)),
                    Value::Int(n) => Some(FileValue::Int(*n)),
                    Value::Float(f) => Some(FileValue::Float(*f)),
                    Value::Str(s) => Some(FileValue::Str(s.clone())),
                    Value::Bytes(b) => Some(FileValue::Bytes(FileBytes {
                        bytes: hex_encode(b),
                    })),
                },
            })
            .collect();
        let s = &c.schedule;
        let schedule = FileSchedule {
            evaluate_after: Some(DurationStr(s.evaluate_after)),
            sample_success: Some(Ratio(f64::from(s.sample_success_ppm) / 1e6)),
            conditions: Some(
                s.conditions
                    .iter()
                    .map(|c| match c {
                        Condition::AnyFailed => FileCondition::AnyFailed,
                        Condition::SettingFailed { uri_prefix } => FileCondition::SettingFailed {
                            uri_prefix: uri_prefix.clone(),
                        },
                        Condition::StatusIn { codes } => FileCondition::StatusIn {
                            codes: codes.clone(),
                        },
                        Condition::VerifyMismatch { uri } => {
                            FileCondition::VerifyMismatch { uri: uri.clone() }
                        }
                        Condition::PayloadIncomplete => FileCondition::PayloadIncomplete,
                        Condition::NotAppliedWithin { within } => FileCondition::NotAppliedWithin {
                            within: DurationStr(*within),
                        },
                    })
                    .collect(),
            ),
            report: Some(FileReport {
                offset: Some(DurationStr(s.report.offset)),
                window: Some(DurationStr(s.report.window)),
                deadline: Some(DurationStr(s.report.deadline)),
                detail: Some(match s.report.detail {
                    Detail::Summary => FileDetail::Summary,
                    Detail::PerSetting => FileDetail::PerSetting,
                }),
                retry: Some(FileRetry {
                    attempts: Some(s.report.retry.attempts),
                    backoff: Some(DurationStr(s.report.retry.backoff)),
                    max_backoff: Some(DurationStr(s.report.retry.max_backoff)),
                }),
            }),
            care: Some(FileCare {
                action: Some(match s.care.action {
                    CareAction::ReprovisionFailed => FileAction::ReprovisionFailed,
                    CareAction::ReprovisionAll => FileAction::ReprovisionAll,
                    CareAction::NotifyOnly => FileAction::NotifyOnly,
                }),
                attempts: Some(s.care.attempts),
                spacing: Some(DurationStr(s.care.spacing)),
                then: Some(match s.care.then {
                    AfterCare::Escalate => FileThen::Escalate,
                    AfterCare::GiveUp => FileThen::GiveUp,
                }),
            }),
            abort: s.abort.map(|a| FileAbort {
                failure_ratio: Ratio(a.failure_ratio),
                min_reports: a.min_reports,
            }),
        };
        FileCampaign {
            id: c.id.to_string(),
            revision: c.revision,
            issued_at: Rfc3339(c.issued_at),
            salt: Salt(c.salt),
            targets,
            settings,
            schedule: Some(schedule),
        }
    }
}

impl FileSchedule {
    fn into_schedule(self) -> Result<CareSchedule, Problem> {
        let d = CareSchedule::default();
        let report = self.report.unwrap_or_default();
        let retry = report.retry.unwrap_or_default();
        let care = self.care.unwrap_or_default();
        let dur = |v: Option<DurationStr>, default: Duration| v.map_or(default, |v| v.0);
        Ok(CareSchedule {
            evaluate_after: dur(self.evaluate_after, d.evaluate_after),
            conditions: match self.conditions {
                None => d.conditions,
                Some(cs) => cs
                    .into_iter()
                    .map(|c| match c {
                        FileCondition::AnyFailed => Condition::AnyFailed,
                        FileCondition::SettingFailed { uri_prefix } => {
                            Condition::SettingFailed { uri_prefix }
                        }
                        FileCondition::StatusIn { codes } => Condition::StatusIn { codes },
                        FileCondition::VerifyMismatch { uri } => Condition::VerifyMismatch { uri },
                        FileCondition::PayloadIncomplete => Condition::PayloadIncomplete,
                        FileCondition::NotAppliedWithin { within } => {
                            Condition::NotAppliedWithin { within: within.0 }
                        }
                    })
                    .collect(),
            },
            report: ReportPolicy {
                offset: dur(report.offset, d.report.offset),
                window: dur(report.window, d.report.window),
                deadline: dur(report.deadline, d.report.deadline),
                detail: match report.detail {
                    None => d.report.detail,
                    Some(FileDetail::Summary) => Detail::Summary,
                    Some(FileDetail::PerSetting) => Detail::PerSetting,
                },
                retry: RetryPolicy {
                    attempts: retry.attempts.unwrap_or(d.report.retry.attempts),
                    backoff: dur(retry.backoff, d.report.retry.backoff),
                    max_backoff: dur(retry.max_backoff, d.report.retry.max_backoff),
                },
            },
            sample_success_ppm: match self.sample_success {
                None => d.sample_success_ppm,
                Some(r) => ppm_of("schedule.sample_success", r)?,
            },
            care: CarePolicy {
                action: match care.action {
                    None => d.care.action,
                    Some(FileAction::ReprovisionFailed) => CareAction::ReprovisionFailed,
                    Some(FileAction::ReprovisionAll) => CareAction::ReprovisionAll,
                    Some(FileAction::NotifyOnly) => CareAction::NotifyOnly,
                },
                attempts: care.attempts.unwrap_or(d.care.attempts),
                spacing: dur(care.spacing, d.care.spacing),
                then: match care.then {
                    None => d.care.then,
                    Some(FileThen::Escalate) => AfterCare::Escalate,
                    Some(FileThen::GiveUp) => AfterCare::GiveUp,
                },
            },
            abort: self.abort.map(|a| AbortPolicy {
                failure_ratio: a.failure_ratio.0,
                min_reports: a.min_reports,
            }),
        })
    }
}

// ---------------------------------------------------------------------------------------
// Locating errors

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

/// Maps a model validation field to the file's key path.
fn file_path_of(field: &str) -> String {
    field.replace("schedule.sample_success_ppm", "schedule.sample_success")
}

/// Span of the value at a dotted path like `schedule.report.window` or `settings[2].uri`;
/// falls back to the nearest existing ancestor, then to the whole document.
fn span_of(text: &str, path: &str) -> Range<usize> {
    use toml::de::{DeTable, DeValue};
    let Ok(doc) = DeTable::parse(text) else {
        return 0..0;
    };
    let mut span = 0..0;
    let mut table: Option<&DeTable<'_>> = Some(doc.get_ref());
    let mut value: Option<&DeValue<'_>> = None;
    for part in path.split('.') {
        let (key, index) = match part.split_once('[') {
            Some((k, rest)) => (k, rest.trim_end_matches(']').parse::<usize>().ok()),
            None => (part, None),
        };
        let Some(t) = table.or(match value {
            Some(DeValue::Table(t)) => Some(t),
            _ => None,
        }) else {
            break;
        };
        let Some(v) = t.get(key) else { break };
        span = v.span();
        value = Some(v.get_ref());
        table = None;
        if let Some(i) = index {
            let Some(DeValue::Array(a)) = value else {
                break;
            };
            let Some(item) = a.get(i) else { break };
            span = item.span();
            value = Some(item.get_ref());
        }
    }
    span
}

fn located(file: &str, text: &str, span: Range<usize>, path: String, message: String) -> FileError {
    let (line, col) = line_col(text, span.start);
    FileError {
        file: file.to_string(),
        line,
        col,
        path,
        message,
    }
}

impl Campaign {
    /// Parses and validates a campaign file. `file` names it in errors.
    pub fn from_toml(file: &str, text: &str) -> Result<Campaign, FileError> {
        Self::from_toml_with_limits(file, text, &Limits::DEFAULT)
    }

    /// [`Campaign::from_toml`] with explicit limits.
    pub fn from_toml_with_limits(
        file: &str,
        text: &str,
        limits: &Limits,
    ) -> Result<Campaign, FileError> {
        let de = toml::Deserializer::parse(text).map_err(|e| {
            let span = e.span().unwrap_or(0..0);
            located(
                file,
                text,
                span,
                String::new(),
                e.message().trim().to_string(),
            )
        })?;
        let parsed: FileCampaign = serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner();
            let span = inner.span().unwrap_or_else(|| span_of(text, &path));
            let path = if path == "." { String::new() } else { path };
            located(file, text, span, path, inner.message().trim().to_string())
        })?;
        let campaign = parsed.into_campaign().map_err(|p| {
            let span = span_of(text, &p.path);
            located(file, text, span, p.path, p.message)
        })?;
        campaign.validate(limits).map_err(|e| {
            let path = file_path_of(&e.field);
            let span = span_of(text, &path);
            located(file, text, span, path, e.reason.into_owned())
        })?;
        Ok(campaign)
    }

    /// Writes the campaign as a campaign file that [`Campaign::from_toml`] reads back to an
    /// equal campaign. Every schedule field is written out.
    pub fn to_toml(&self) -> String {
        toml::to_string(&FileCampaign::from_campaign(self))
            .unwrap_or_else(|e| format!("# cannot write campaign: {e}\n"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_convert_both_ways() {
        for (s, ms) in [
            ("1970-01-01T00:00:00Z", 0u64),
            ("2026-11-25T10:00:00Z", 1_795_600_800_000),
            ("2000-02-29T23:59:59.250Z", 951_868_799_250),
        ] {
            let dt: toml::value::Datetime = s.parse().unwrap();
            assert_eq!(datetime_to_timestamp(&dt).unwrap(), Timestamp(ms), "{s}");
            assert_eq!(timestamp_to_datetime(Timestamp(ms)), s);
        }
        let dt: toml::value::Datetime = "2026-11-25T12:00:00+02:00".parse().unwrap();
        assert_eq!(
            datetime_to_timestamp(&dt).unwrap(),
            Timestamp(1_795_600_800_000)
        );
        let local: toml::value::Datetime = "2026-11-25T12:00:00".parse().unwrap();
        assert!(datetime_to_timestamp(&local).is_err());
    }

    #[test]
    fn durations_and_ratios_parse() {
        assert_eq!(
            parse_human_duration("30s").unwrap(),
            Duration::from_secs(30)
        );
        assert_eq!(parse_human_duration("7d").unwrap(), Duration::from_days(7));
        assert_eq!(
            parse_human_duration("1500ms").unwrap(),
            Duration::from_millis(1500)
        );
        assert_eq!(
            parse_human_duration("soon").unwrap_err(),
            "expected a duration like \"2h\", found \"soon\""
        );
    }
}
