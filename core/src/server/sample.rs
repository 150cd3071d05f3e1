//! The success sample's slot profile and the coverage estimate's *pending* devices
//! (`docs/design.md`, "Coverage under loss").
//!
//! A sampled device that received the broadcast probes at its slot, retries until
//! acknowledged, and may be late on top of that (powered off, its clock behind, its
//! messages delayed). Until it can no longer be expected, its silence says nothing: it is
//! *pending*, not missed. The server knows where each sampled target's slot falls in the
//! report window only through the host, which counts them over its directory in
//! [`SLOT_BINS`] equal bins ([`SampleProfile`]); it learns how late devices are from the
//! reports that opened cases (the latest arrival after the time the schedule gave it,
//! [`Tally::lateness`](crate::server::Tally)). A bin is pending until its last slot, every
//! retry, and that lateness have passed.

use serde::{Deserialize, Serialize};

use crate::model::{Campaign, DeviceId, Duration, Timestamp};
use crate::slot;

/// Bins the report window is cut into for the sample's profile.
pub const SLOT_BINS: usize = 32;

/// How many of a campaign's targets are in its success sample, and where their first
/// report slots fall in the report window ([`SLOT_BINS`] equal bins, earliest first).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SampleProfile {
    /// Sampled targets (the sum of `by_slot`).
    pub sampled_targets: u64,
    /// Sampled targets per slot bin.
    pub by_slot: [u32; SLOT_BINS],
}

impl Default for SampleProfile {
    fn default() -> Self {
        SampleProfile {
            sampled_targets: 0,
            by_slot: [0; SLOT_BINS],
        }
    }
}

impl SampleProfile {
    /// The profile of `devices` (each counted once per occurrence) under `campaign`'s salt
    /// and sample rate: one hash per device, two per sampled one.
    pub fn of<'a>(campaign: &Campaign, devices: impl IntoIterator<Item = &'a DeviceId>) -> Self {
        let mut p = SampleProfile::default();
        for d in devices {
            p.add(campaign, d.as_bytes());
        }
        p
    }

    /// Counts `device` (its id bytes) if it is in `campaign`'s sample.
    pub fn add(&mut self, campaign: &Campaign, device: &[u8]) {
        let ppm = campaign.schedule.sample_success_ppm;
        if slot::sampled_id(&campaign.salt, device, ppm) {
            self.sampled_targets += 1;
            let b = slot_bin_id(campaign, device);
            self.by_slot[b] = self.by_slot[b].saturating_add(1);
        }
    }

    /// Adds another part's counts (a directory counted in parts).
    pub fn merge(&mut self, other: &SampleProfile) {
        self.sampled_targets += other.sampled_targets;
        for (a, b) in self.by_slot.iter_mut().zip(other.by_slot) {
            *a = a.saturating_add(b);
        }
    }

    /// Sampled targets (the sum of [`Self::by_slot`]).
    pub fn sampled_targets(&self) -> u64 {
        self.sampled_targets
    }

    /// Sampled targets per slot bin, earliest first.
    pub fn by_slot(&self) -> &[u32; SLOT_BINS] {
        &self.by_slot
    }
}

/// The slot bin of `device`: where `slot % window` falls in the report window.
pub fn slot_bin(campaign: &Campaign, device: &DeviceId) -> usize {
    slot_bin_id(campaign, device.as_bytes())
}

fn slot_bin_id(campaign: &Campaign, device: &[u8]) -> usize {
    let window = campaign.schedule.report.window.as_millis().max(1);
    let offset = slot::slot_id(&campaign.salt, device) % window;
    // offset < window, so the bin is below SLOT_BINS; u128 keeps the product exact.
    ((u128::from(offset) * SLOT_BINS as u128) / u128::from(window)) as usize
}

/// When the reports of the devices in slot bin `bin` are over if they received the
/// broadcast at `broadcast_at`: the bin's last slot and every retry after it.
pub fn bin_reports_end(campaign: &Campaign, broadcast_at: Timestamp, bin: usize) -> Timestamp {
    let s = &campaign.schedule;
    let window = s.report.window.as_millis().max(1);
    let bin_end = (u128::from(window) * (bin as u128 + 1)).div_ceil(SLOT_BINS as u128) as u64;
    broadcast_at
        .plus(s.evaluate_after)
        .plus(s.report.offset)
        .plus(Duration(bin_end))
        .plus(s.retry_span())
}

/// When report `attempt` of `device` was due by the schedule, had the device received the
/// broadcast at `broadcast_at`: its slot, then the retry delays of the attempts before.
/// How late a report arrives after this is how late devices are.
pub fn nominal_send(
    campaign: &Campaign,
    device: &DeviceId,
    broadcast_at: Timestamp,
    attempt: u32,
) -> Timestamp {
    let evaluated = broadcast_at.plus(campaign.schedule.evaluate_after);
    let mut t = crate::rules::first_report_at(campaign, device, evaluated);
    let max = campaign.schedule.report.retry.attempts;
    for n in 1..attempt.min(max) {
        t = crate::rules::retry_instant(campaign, device, n, t);
    }
    t
}
