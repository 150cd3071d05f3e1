//! The campaign: settings + [`TargetSet`] + care schedule, broadcast as one payload. It
//! sits on top of the layers below it: time, ids and settings → schedule → campaign.

use std::ops::Deref;
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

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
            if let Some(c) = crate::text::first_control(&s.uri) {
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

/// A campaign that passed [`Campaign::validate`]: the only form the device decider takes
/// on, so a campaign is validated once — by [`open_payload`](crate::payload::open_payload)
/// or by [`ValidCampaign::new`] — and never again on the way in.
///
/// It is shared, not copied: a clone is a reference count, so the command, the event and
/// the device's state all hold the same campaign. It reads as a [`Campaign`] (`Deref`).
///
/// In a record it encodes exactly as the [`Campaign`] it holds. Decoding one checks it
/// again, with no size limits: the sizes were the receiving device's configuration and
/// were checked when it took the campaign on; a record that decodes to a campaign that
/// breaks the campaign's own rules is refused as corrupt.
#[derive(Debug, Clone)]
pub struct ValidCampaign(Arc<Campaign>);

impl ValidCampaign {
    /// Validates `campaign` against `limits` (see [`Campaign::validate`]).
    pub fn new(campaign: Campaign, limits: &Limits) -> Result<Self, ValidationError> {
        campaign.validate(limits)?;
        Ok(ValidCampaign(Arc::new(campaign)))
    }

    /// The campaign.
    pub fn campaign(&self) -> &Campaign {
        &self.0
    }

    /// The campaign, copied only if another holder shares it.
    pub fn into_inner(self) -> Campaign {
        Arc::unwrap_or_clone(self.0)
    }

    /// A copy that shares nothing with `self`: for a thread of its own, whose clones then
    /// count references on a cache line no other thread writes.
    #[cfg(feature = "server")]
    pub(crate) fn unshared(&self) -> Self {
        ValidCampaign(Arc::new(Campaign::clone(&self.0)))
    }

    /// Re-checks a campaign read back from a log: its rules, not the size limits.
    pub(crate) fn from_log(campaign: Campaign) -> Result<Self, ValidationError> {
        ValidCampaign::new(campaign, &Limits::UNBOUNDED)
    }
}

impl Deref for ValidCampaign {
    type Target = Campaign;

    fn deref(&self) -> &Campaign {
        &self.0
    }
}

impl AsRef<Campaign> for ValidCampaign {
    fn as_ref(&self) -> &Campaign {
        &self.0
    }
}

impl PartialEq for ValidCampaign {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0) || self.0 == other.0
    }
}

impl PartialEq<Campaign> for ValidCampaign {
    fn eq(&self, other: &Campaign) -> bool {
        *self.0 == *other
    }
}

impl Serialize for ValidCampaign {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for ValidCampaign {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let campaign = Campaign::deserialize(deserializer)?;
        ValidCampaign::from_log(campaign).map_err(serde::de::Error::custom)
    }
}
