//! The campaign model: what a DM server broadcasts to many devices at once.
//!
//! Time is never read here: every timestamp is an argument, in milliseconds
//! since the Unix epoch (UTC).

use serde::{Deserialize, Serialize};
use std::fmt;

use crate::error::ValidationError;
use crate::schedule::CareSchedule;

/// A point in time: milliseconds since the Unix epoch, UTC, supplied by the caller.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Timestamp(pub u64);

impl Timestamp {
    /// Milliseconds since the Unix epoch.
    pub const fn as_millis(self) -> u64 {
        self.0
    }

    /// `self + d`, saturating at the end of time instead of overflowing.
    #[must_use]
    pub const fn plus(self, d: Duration) -> Timestamp {
        Timestamp(self.0.saturating_add(d.0))
    }

    /// Time elapsed from `earlier` to `self`; zero if `earlier` is later.
    pub const fn since(self, earlier: Timestamp) -> Duration {
        Duration(self.0.saturating_sub(earlier.0))
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "t={}ms", self.0)
    }
}

/// A span of time in milliseconds.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Duration(pub u64);

impl Duration {
    /// Zero length.
    pub const ZERO: Duration = Duration(0);

    /// `ms` milliseconds.
    pub const fn from_millis(ms: u64) -> Self {
        Duration(ms)
    }
    /// `s` seconds.
    pub const fn from_secs(s: u64) -> Self {
        Duration(s.saturating_mul(1_000))
    }
    /// `m` minutes.
    pub const fn from_mins(m: u64) -> Self {
        Duration(m.saturating_mul(60_000))
    }
    /// `h` hours.
    pub const fn from_hours(h: u64) -> Self {
        Duration(h.saturating_mul(3_600_000))
    }
    /// `d` days.
    pub const fn from_days(d: u64) -> Self {
        Duration(d.saturating_mul(86_400_000))
    }
    /// Length in milliseconds.
    pub const fn as_millis(self) -> u64 {
        self.0
    }
    /// Saturating sum.
    #[must_use]
    pub const fn plus(self, other: Duration) -> Duration {
        Duration(self.0.saturating_add(other.0))
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.0;
        const UNITS: [(u64, &str); 4] = [
            (86_400_000, "d"),
            (3_600_000, "h"),
            (60_000, "m"),
            (1_000, "s"),
        ];
        for (unit, name) in UNITS {
            if ms >= unit && ms.is_multiple_of(unit) {
                return write!(f, "{}{name}", ms / unit);
            }
        }
        write!(f, "{ms}ms")
    }
}

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

/// A typed DM node value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Value {
    /// No value (e.g. for `Delete`).
    Null,
    /// `chr` format.
    Str(String),
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

/// Which devices a campaign targets, described as a set — never expanded per device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum TargetSet {
    /// Every device that receives the broadcast.
    All,
    /// Devices belonging to at least one of these groups (sorted, unique).
    Groups(Vec<String>),
    /// Exactly these devices (sorted, unique: membership is a binary search).
    Devices(Vec<DeviceId>),
}

impl TargetSet {
    /// An explicit device list; sorts and removes duplicates.
    pub fn devices(mut ids: Vec<DeviceId>) -> Self {
        ids.sort_unstable();
        ids.dedup();
        TargetSet::Devices(ids)
    }

    /// A group list; sorts and removes duplicates.
    pub fn groups(mut groups: Vec<String>) -> Self {
        groups.sort_unstable();
        groups.dedup();
        TargetSet::Groups(groups)
    }

    /// Whether `device` (belonging to `groups`) is targeted. O(log n) for explicit lists,
    /// O(g log n) for groups.
    pub fn contains(&self, device: &DeviceId, groups: &[String]) -> bool {
        match self {
            TargetSet::All => true,
            TargetSet::Groups(gs) => groups.iter().any(|g| gs.binary_search(g).is_ok()),
            TargetSet::Devices(ds) => ds.binary_search(device).is_ok(),
        }
    }

    /// Number of targets when the set itself knows it (explicit lists only).
    pub fn known_len(&self) -> Option<u64> {
        match self {
            TargetSet::Devices(ds) => Some(ds.len() as u64),
            _ => None,
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
}

impl Default for Limits {
    fn default() -> Self {
        Limits::DEFAULT
    }
}

/// A provisioning campaign: settings + targets + care schedule, broadcast as one payload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Campaign {
    /// Operator-chosen identity; one device stream and one server stream per id.
    pub id: CampaignId,
    /// Increases with every re-issue of the same campaign id. Devices ignore revisions
    /// they already have.
    pub revision: u32,
    /// When the server issued the campaign; the report deadline counts from here.
    pub issued_at: Timestamp,
    /// Key of the slot hash (SipHash-2-4). Fresh per campaign so slots differ per campaign.
    pub salt: [u8; 16],
    /// Who must apply it.
    pub targets: TargetSet,
    /// The DM commands, applied in order.
    pub settings: Vec<Setting>,
    /// What to do in exceptional situations.
    pub schedule: CareSchedule,
}

impl Campaign {
    /// Checks the campaign against `limits` and the schedule's own rules. The error names
    /// the field (`settings[3].uri`, `schedule.report.window`) and says what is wrong.
    pub fn validate(&self, limits: &Limits) -> Result<(), ValidationError> {
        if self.revision == 0 {
            return Err(ValidationError::new("revision", "must be at least 1"));
        }
        if self.settings.is_empty() {
            return Err(ValidationError::new(
                "settings",
                "a campaign needs at least one setting",
            ));
        }
        if self.settings.len() > limits.max_settings {
            return Err(ValidationError::new(
                "settings",
                format!(
                    "has {} settings, the limit is {}",
                    self.settings.len(),
                    limits.max_settings
                ),
            ));
        }
        for (i, s) in self.settings.iter().enumerate() {
            let field = || format!("settings[{i}].uri");
            if s.uri.is_empty() {
                return Err(ValidationError::new(field(), "must not be empty"));
            }
            if !s.uri.starts_with("./") && s.uri != "." {
                return Err(ValidationError::new(
                    field(),
                    format!("{:?} is not a DM tree URI (must start with \"./\")", s.uri),
                ));
            }
            if let Some(c) = s.uri.chars().find(|c| c.is_control()) {
                return Err(ValidationError::new(
                    field(),
                    format!("contains the control character {c:?}"),
                ));
            }
            if s.uri.len() > limits.max_uri_len {
                return Err(ValidationError::new(
                    field(),
                    format!(
                        "is {} bytes long, the limit is {}",
                        s.uri.len(),
                        limits.max_uri_len
                    ),
                ));
            }
            if s.value.len() > limits.max_value_len {
                return Err(ValidationError::new(
                    format!("settings[{i}].value"),
                    format!(
                        "is {} bytes long, the limit is {}",
                        s.value.len(),
                        limits.max_value_len
                    ),
                ));
            }
            if let Value::Float(f) = s.value
                && !f.is_finite()
            {
                return Err(ValidationError::new(
                    format!("settings[{i}].value"),
                    "a float value must be finite",
                ));
            }
        }
        match &self.targets {
            TargetSet::All => {}
            TargetSet::Groups(gs) => {
                if gs.is_empty() {
                    return Err(ValidationError::new(
                        "targets.groups",
                        "an empty group list targets nobody",
                    ));
                }
                if gs.len() > limits.max_target_groups {
                    return Err(ValidationError::new(
                        "targets.groups",
                        format!(
                            "has {} groups, the limit is {}",
                            gs.len(),
                            limits.max_target_groups
                        ),
                    ));
                }
                if !gs.windows(2).all(|w| w[0] < w[1]) {
                    return Err(ValidationError::new(
                        "targets.groups",
                        "must be sorted and unique (use TargetSet::groups)",
                    ));
                }
                if let Some(i) = gs.iter().position(String::is_empty) {
                    return Err(ValidationError::new(
                        format!("targets.groups[{i}]"),
                        "must not be empty",
                    ));
                }
            }
            TargetSet::Devices(ds) => {
                if ds.is_empty() {
                    return Err(ValidationError::new(
                        "targets.devices",
                        "an empty device list targets nobody",
                    ));
                }
                if ds.len() > limits.max_target_devices {
                    return Err(ValidationError::new(
                        "targets.devices",
                        format!(
                            "has {} devices, the limit is {}",
                            ds.len(),
                            limits.max_target_devices
                        ),
                    ));
                }
                if !ds.windows(2).all(|w| w[0] < w[1]) {
                    return Err(ValidationError::new(
                        "targets.devices",
                        "must be sorted and unique (use TargetSet::devices)",
                    ));
                }
            }
        }
        self.schedule.validate(&self.settings, limits)
    }

    /// When the report deadline passes: `issued_at + schedule.report.deadline`.
    pub fn report_deadline(&self) -> Timestamp {
        self.issued_at.plus(self.schedule.report.deadline)
    }
}
