//! What a device learns from applying a campaign, and what it tells the server.

use serde::{Deserialize, Serialize};

use crate::model::{CampaignId, DeviceId, Duration, Timestamp};

/// Whether the host read a node back after applying it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
pub enum Verify {
    /// Not read back.
    #[default]
    NotChecked,
    /// Read back and equal to the provisioned value.
    Match,
    /// Read back and different.
    Mismatch,
}

/// The host's result for one setting: the OMA DM status code of its command (200 ok;
/// 404, 405, 415, 420, 500 … failures) and an optional read-back check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ApplyResult {
    /// OMA DM status code.
    pub status: u16,
    /// Read-back check.
    pub verify: Verify,
}

impl ApplyResult {
    /// 200, not verified.
    pub const OK: ApplyResult = ApplyResult {
        status: 200,
        verify: Verify::NotChecked,
    };
    /// A result with `status`, not verified.
    pub const fn status(status: u16) -> Self {
        ApplyResult {
            status,
            verify: Verify::NotChecked,
        }
    }
}

/// One reason a device is exceptional. `index` is the setting's position in the campaign.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Finding {
    /// The setting's command returned `status` (a failure, or a code listed in `status-in`).
    Status {
        /// Setting index.
        index: u32,
        /// OMA DM status code.
        status: u16,
    },
    /// The setting was applied but read back differently.
    VerifyMismatch {
        /// Setting index.
        index: u32,
    },
    /// The host returned no result for this setting (`payload-incomplete`).
    Missing {
        /// Setting index.
        index: u32,
    },
    /// Applying took longer than `not-applied-within` allows (or had not finished).
    Late {
        /// How long after receipt the results came (or evaluation happened without them).
        after: Duration,
    },
}

impl Finding {
    /// The setting this finding is about, if any.
    pub fn setting(&self) -> Option<u32> {
        match *self {
            Finding::Status { index, .. }
            | Finding::VerifyMismatch { index }
            | Finding::Missing { index } => Some(index),
            Finding::Late { .. } => None,
        }
    }
}

/// What a report says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ReportKind {
    /// Exceptional, with every finding (`detail = per-setting`).
    Failure {
        /// Sorted, unique findings.
        #[serde(deserialize_with = "crate::codec::bounded_seq")]
        findings: Vec<Finding>,
    },
    /// Exceptional, summarised (`detail = summary`).
    FailureSummary {
        /// Number of findings.
        count: u32,
        /// Status of the first failed setting, if one failed with a status.
        first_status: Option<u16>,
    },
    /// Healthy, sampled as a coverage probe.
    Success,
}

impl ReportKind {
    /// True for the two failure kinds.
    pub fn is_failure(&self) -> bool {
        !matches!(self, ReportKind::Success)
    }
}

/// A device's report to the server. Idempotency key: (campaign, revision, device, attempt).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    /// Which campaign.
    pub campaign: CampaignId,
    /// Which revision of it the device applied.
    pub revision: u32,
    /// Who reports.
    pub device: DeviceId,
    /// 1 for the first send, +1 per retry.
    pub attempt: u32,
    /// When the device evaluated.
    pub evaluated_at: Timestamp,
    /// What it says.
    pub kind: ReportKind,
}
