//! The campaign: settings + [`TargetSet`] + care schedule, broadcast as one payload. It
//! sits on top of the layers below it: time, ids and settings → schedule → campaign.

use serde::{Deserialize, Serialize};

use crate::error::ValidationError;
use crate::ids::{CampaignId, DeviceId};
use crate::schedule::CareSchedule;
use crate::setting::{Limits, Setting, Value};
use crate::time::Timestamp;

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
