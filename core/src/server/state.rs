//! [`ServerState`]: the folded state of one campaign stream, and what the host reads off it.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::model::{Campaign, DeviceId, Timestamp};
use crate::report::ReportKind;
use crate::server::{
    FallbackDue, FallbackState, PauseReason, PresumedBound, SETTLEMENT_RECHECK, SLOT_BINS,
    SampleProfile, ServerError,
};
use crate::stats::Coverage;

/// Where a device's case stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CaseStatus {
    /// Sent a success probe: healthy.
    Healthy,
    /// Care `attempt` is scheduled for `due`.
    CareScheduled {
        /// Care attempt.
        attempt: u32,
        /// When the attempt falls due (dispatch is refused before it).
        due: Timestamp,
    },
    /// Care `attempt` was sent; waiting for its outcome until `expires`
    /// ([`rules::care_expires`](crate::rules::care_expires)).
    CareInFlight {
        /// Care attempt.
        attempt: u32,
        /// Without an outcome by then, the attempt counts as failed (`CareTimedOut`).
        expires: Timestamp,
    },
    /// Care fixed it.
    Recovered,
    /// A human must look at it.
    Escalated,
    /// Care was given up.
    Abandoned,
}

/// How a case was opened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum CaseOrigin {
    /// A report.
    Report {
        /// Attempt of the accepted report.
        attempt: u32,
        /// What it said.
        kind: ReportKind,
        /// After settlement.
        late: bool,
    },
    /// A check-in behind the campaign's revision.
    CheckInBehind {
        /// Revision the device had.
        applied_revision: u32,
    },
    /// A sampled device checked in holding the current revision before the server heard
    /// from it otherwise (`CheckedInCurrent`): it received the broadcast.
    CheckInCurrent,
}

/// Per-device state: only for devices that reported or checked in behind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Case {
    /// How it was opened.
    pub origin: CaseOrigin,
    /// When the case was opened (the report or check-in arrived).
    pub opened_at: Timestamp,
    /// When the device evaluated what opened the case (a check-in: when it arrived). A
    /// failure report evaluated later, once the case ended, is a relapse: a new cycle.
    pub evaluated_at: Timestamp,
    /// Failure cycles of this device in this revision: 1 for its first failure (report or
    /// check-in behind), +1 for each relapse after its case ended; 0 for a success probe.
    /// A cycle beyond `care.attempts` is escalated at once.
    pub cycle: u32,
    /// Where it stands.
    pub status: CaseStatus,
    /// Settings the care re-provisions.
    pub care_settings: Vec<u32>,
    /// The highest care attempt dispatched (0: none). A success outcome of an attempt up to
    /// it is taken even after that attempt timed out.
    pub dispatched: u32,
    /// The care attempts that timed out, bit `n - 1` for attempt `n` (attempts are at most
    /// [`MAX_CARE_ATTEMPTS`](crate::schedule::MAX_CARE_ATTEMPTS)): a late success of one of
    /// them still ends the case.
    pub timed_out: u64,
    /// Opened by a report evaluated after the broadcast was found degraded, from a device
    /// silent until then: it took the payload from the fallback, so it missed the broadcast
    /// (a late report of an evaluation before the degradation is a broadcast receiver's). The
    /// coverage tally counts it with the devices that checked in behind.
    pub silent_until_degraded: bool,
    /// The groups with thresholds of their own this device's failure counted in (bit `i`
    /// for the `i`-th, `CaseGrouped`); kept when the case reopens.
    pub breaker_groups: u16,
}

impl Case {
    /// A case opened now for `origin`, in failure cycle `cycle`, not in care yet.
    pub(crate) fn opened(
        origin: CaseOrigin,
        opened_at: Timestamp,
        evaluated_at: Timestamp,
        cycle: u32,
    ) -> Case {
        Case {
            origin,
            opened_at,
            evaluated_at,
            cycle,
            status: CaseStatus::Healthy,
            care_settings: vec![],
            dispatched: 0,
            timed_out: 0,
            silent_until_degraded: false,
            breaker_groups: 0,
        }
    }

    /// The bit of care attempt `attempt` in [`Case::timed_out`], if it has one.
    fn timeout_bit(attempt: u32) -> Option<u64> {
        (1..=64).contains(&attempt).then(|| 1 << (attempt - 1))
    }

    /// Whether care attempt `attempt` timed out.
    pub fn attempt_timed_out(&self, attempt: u32) -> bool {
        Self::timeout_bit(attempt).is_some_and(|b| self.timed_out & b != 0)
    }

    /// Records that care attempt `attempt` timed out.
    pub(crate) fn mark_timed_out(&mut self, attempt: u32) {
        self.timed_out |= Self::timeout_bit(attempt).unwrap_or(0);
    }

    /// Whether the case is in care now (an attempt scheduled or in flight).
    pub fn in_care(&self) -> bool {
        matches!(
            self.status,
            CaseStatus::CareScheduled { .. } | CaseStatus::CareInFlight { .. }
        )
    }

    /// Whether the case counts as a failure (not a success probe).
    pub fn is_failure(&self) -> bool {
        match &self.origin {
            CaseOrigin::Report { kind, .. } => kind.is_failure(),
            CaseOrigin::CheckInBehind { .. } => true,
            CaseOrigin::CheckInCurrent => false,
        }
    }
}

/// Counters folded from events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Counters {
    /// Failure reports accepted.
    pub failure_reports: u64,
    /// Success probes accepted.
    pub success_probes: u64,
    /// Reports accepted after settlement.
    pub late_reports: u64,
    /// Presumed-OK devices later found failed.
    pub reconciled: u64,
    /// Check-ins behind.
    pub checkins_behind: u64,
    /// Care orders sent.
    pub care_dispatched: u64,
    /// Care attempts whose outcome said failed.
    pub care_failed: u64,
    /// Care attempts without an outcome by the care timeout (counted as failed attempts).
    pub care_timed_out: u64,
    /// Devices recovered by care.
    pub recovered: u64,
    /// Devices escalated.
    pub escalated: u64,
    /// Devices whose care was given up.
    pub abandoned: u64,
    /// Failed devices whose case a later check-in behind opened again (counted once in
    /// [`ServerState::failed`]).
    pub reopened: u64,
}

/// Who the cases say received the broadcast, kept current as cases open and reopen: the
/// inputs of the coverage estimate and the abort threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Tally {
    /// Cases opened by a failure report: devices that received the broadcast and failed.
    pub reporters: u64,
    /// Cases opened by a check-in behind: devices that missed the broadcast.
    pub behind: u64,
    /// Cases opened by a success probe: sampled devices that received it, healthy.
    pub probes: u64,
    /// Of `reporters`, those in the campaign's success sample.
    pub sampled_reporters: u64,
    /// Of `behind`, those in the campaign's success sample.
    pub sampled_behind: u64,
    /// Sampled targets with a counted case (a probe, a failure report or a check-in behind),
    /// per slot bin ([`SampleProfile`](crate::server::SampleProfile)): the rest of each
    /// bin is silent.
    pub sampled_heard_by_slot: [u32; SLOT_BINS],
    /// The latest a report that opened a case arrived after the time the schedule gave it
    /// (ms; [`nominal_send`](crate::server::nominal_send)): how late devices are. A silent
    /// sampled device is pending until its bin's reports are over plus this.
    pub lateness_ms: u64,
    /// Cases opened by a first report of the broadcast (failure or probe): the devices
    /// whose attempts tell the loss rate.
    pub first_reports: u64,
    /// Of those devices' attempts, the ones sent before the first that was accepted (lost
    /// on the way, or refused for a passing reason).
    pub attempts_before_first: u64,
    /// Of the silent targets a repair polled, those found behind (their check-in opened a
    /// case): the sample the repair judges.
    pub poll_found: u64,
    /// Failure reporters per group with a threshold of its own
    /// ([`GroupBreakers`](crate::server::GroupBreakers), by bit).
    pub group_failures: [u32; crate::server::MAX_BREAKER_GROUPS],
}

/// Adds `after - before` to `sum` field by field: the sharded server keeps its campaign's
/// tally and counters as the sums of its shards' ([`crate::server::ShardedState`]).
macro_rules! shift_fields {
    ($t:ident { $($f:ident),* }) => {
        impl $t {
            pub(crate) fn shift(&mut self, before: &$t, after: &$t) {
                // Exhaustive: a field added to the struct must be added here.
                let $t { $($f: _),* } = *before;
                $(self.$f = self.$f.wrapping_add(after.$f.wrapping_sub(before.$f));)*
            }
        }
    };
}
impl Tally {
    pub(crate) fn shift(&mut self, before: &Tally, after: &Tally) {
        // Exhaustive: a field added to the struct must be added here.
        let Tally {
            reporters: _,
            behind: _,
            probes: _,
            sampled_reporters: _,
            sampled_behind: _,
            sampled_heard_by_slot: _,
            lateness_ms: _,
            first_reports: _,
            attempts_before_first: _,
            poll_found: _,
            group_failures: _,
        } = *before;
        let add = |sum: &mut u64, b: u64, a: u64| *sum = sum.wrapping_add(a.wrapping_sub(b));
        add(&mut self.reporters, before.reporters, after.reporters);
        add(&mut self.behind, before.behind, after.behind);
        add(&mut self.probes, before.probes, after.probes);
        add(
            &mut self.sampled_reporters,
            before.sampled_reporters,
            after.sampled_reporters,
        );
        add(
            &mut self.sampled_behind,
            before.sampled_behind,
            after.sampled_behind,
        );
        add(
            &mut self.first_reports,
            before.first_reports,
            after.first_reports,
        );
        add(
            &mut self.attempts_before_first,
            before.attempts_before_first,
            after.attempts_before_first,
        );
        add(&mut self.poll_found, before.poll_found, after.poll_found);
        for ((sum, b), a) in self
            .sampled_heard_by_slot
            .iter_mut()
            .zip(before.sampled_heard_by_slot)
            .zip(after.sampled_heard_by_slot)
            .chain(
                self.group_failures
                    .iter_mut()
                    .zip(before.group_failures)
                    .zip(after.group_failures),
            )
        {
            *sum = sum.wrapping_add(a.wrapping_sub(b));
        }
        // A maximum, not a sum: the latest any shard has seen.
        self.lateness_ms = self.lateness_ms.max(after.lateness_ms);
    }
}
shift_fields!(Counters {
    failure_reports,
    success_probes,
    late_reports,
    reconciled,
    checkins_behind,
    care_dispatched,
    care_failed,
    care_timed_out,
    recovered,
    escalated,
    abandoned,
    reopened
});

/// A care order the host must send now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CareOrder {
    /// To whom.
    pub device: DeviceId,
    /// The campaign revision the care is for; the device refuses care of another revision.
    pub revision: u32,
    /// Care attempt.
    pub attempt: u32,
    /// Setting indices to re-provision (all settings for re-provision-all and check-ins).
    pub settings: Vec<u32>,
    /// When it became due.
    pub due: Timestamp,
}

/// A care order sent and not answered yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InFlightCare {
    /// To whom.
    pub device: DeviceId,
    /// Care attempt.
    pub attempt: u32,
    /// Without an outcome by then, the attempt counts as failed.
    pub expires: Timestamp,
}

/// The abort threshold's pause, as [`CampaignStats`] reports it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BreakerTrip {
    /// When it paused care.
    pub since: Timestamp,
    /// The failures it counted, the devices expected to have reported by then and the
    /// threshold it passed.
    pub reason: PauseReason,
}

/// Statistics of one campaign.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CampaignStats {
    /// Target devices.
    pub targeted: u64,
    /// Failure reports accepted.
    pub failure_reports: u64,
    /// Success probes accepted.
    pub success_probes: u64,
    /// Reports accepted after settlement.
    pub late_reports: u64,
    /// Targets that checked in behind.
    pub checkins_behind: u64,
    /// Care orders sent.
    pub care_dispatched: u64,
    /// Care attempts that timed out without an outcome.
    pub care_timed_out: u64,
    /// Devices with care still pending.
    pub in_care: u64,
    /// Devices recovered by care.
    pub recovered: u64,
    /// Devices escalated.
    pub escalated: u64,
    /// Devices whose care was given up.
    pub abandoned: u64,
    /// Targets neither failed nor behind: presumed OK (final once settled).
    pub presumed_ok: u64,
    /// Care is paused, by an operator or by the abort threshold (never "converged").
    pub paused: bool,
    /// An operator paused care (`Pause`) and has not resumed it.
    pub operator_paused: bool,
    /// The abort threshold paused care: since when and the figures it tripped on (lifted
    /// only by `OverrideAbort`).
    pub breaker: Option<BreakerTrip>,
    /// The report deadline passed.
    pub settled: bool,
    /// Estimated share of targets that received the broadcast, when sampling is on.
    pub coverage: Option<Coverage>,
    /// How many of `presumed_ok` may not be OK, at 95% (when sampling is on).
    pub presumed_bound: Option<PresumedBound>,
    /// Settlement is held back: the bound is above the campaign's `max_presumed_unknown`.
    pub settlement_held: bool,
}

/// The folded state of one server campaign stream.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ServerState {
    /// The campaign.
    pub campaign: Option<Campaign>,
    /// Number of targets.
    pub targeted: u64,
    /// When the broadcast went out.
    pub broadcast_at: Option<Timestamp>,
    /// Per-device cases.
    pub cases: BTreeMap<DeviceId, Case>,
    /// Scheduled, undispatched care, by due time.
    pub care_queue: BTreeSet<(Timestamp, DeviceId)>,
    /// Scheduled care held by a group's pause ([`GroupBreakers`](crate::server::GroupBreakers)),
    /// by due time: back on `care_queue` when the group's pause is lifted.
    pub held_care: BTreeSet<(Timestamp, DeviceId)>,
    /// Dispatched care awaiting its outcome, by the time it expires.
    pub in_flight: BTreeSet<(Timestamp, DeviceId)>,
    /// The abort threshold's pause, if it paused care: since when and why.
    pub paused: Option<BreakerTrip>,
    /// When an operator paused care, if one did.
    pub operator_paused: Option<Timestamp>,
    /// The abort threshold's pause was overridden once: the threshold stays quiet.
    pub resumed: bool,
    /// The latest time the log has seen ([`ServerEvent::time`]). Time never runs back: a
    /// command stamped earlier is decided at this time, never against an older view.
    pub clock: Timestamp,
    /// When the campaign settled.
    pub settled_at: Option<Timestamp>,
    /// Presumed OK at settlement.
    pub presumed_ok_at_settle: Option<u64>,
    /// The bound on wrongly presumed targets recorded at settlement (`PresumedBounded`).
    pub presumed_bound: Option<PresumedBound>,
    /// Most targets presumed OK that may not be for the campaign to settle
    /// (`SettlementLimitSet`; server-side policy). Above it at the deadline the campaign
    /// stays open (`SettlementHeld`) until check-ins bring the bound within it.
    pub max_presumed_unknown: Option<u64>,
    /// When settlement was first held back by the limit.
    pub settlement_held_at: Option<Timestamp>,
    /// Counters.
    pub counters: Counters,
    /// Who the cases say received the broadcast.
    pub tally: Tally,
    /// Targets in the campaign's success sample, once known (`SampleSized`,
    /// `SampleProfiled`).
    pub sampled_targets: Option<u64>,
    /// Where the sampled targets' slots fall in the report window, once known
    /// (`SampleProfiled`).
    pub sample_profile: Option<SampleProfile>,
    /// The statistics of earlier revisions, oldest first, as they stood when revised.
    pub earlier: Vec<(u32, CampaignStats)>,
    /// The coverage floor, its checks and the fallback's progress.
    pub fallback: FallbackState,
    /// The per-group thresholds and their pauses.
    pub groups: crate::server::GroupBreakers,
}

impl ServerState {
    pub(crate) fn campaign(&self) -> Result<&Campaign, ServerError> {
        self.campaign.as_ref().ok_or(ServerError::UnknownCampaign)
    }

    /// Whether care is paused, by the abort threshold or by an operator.
    pub fn is_paused(&self) -> bool {
        self.paused.is_some() || self.operator_paused.is_some()
    }

    /// Care orders due at `now` (empty while paused), earliest first, at most `max`.
    pub fn due_care(&self, now: Timestamp, max: usize) -> Vec<CareOrder> {
        if self.is_paused() {
            return vec![];
        }
        self.care_queue
            .iter()
            .take_while(|(due, _)| *due <= now)
            .take(max)
            .filter_map(|(due, dev)| {
                let case = self.cases.get(dev)?;
                let CaseStatus::CareScheduled { attempt, .. } = case.status else {
                    return None;
                };
                Some(CareOrder {
                    device: dev.clone(),
                    revision: self.campaign.as_ref().map_or(0, |c| c.revision),
                    attempt,
                    settings: case.care_settings.clone(),
                    due: *due,
                })
            })
            .collect()
    }

    /// Care dispatched and awaiting its outcome, the soonest to expire first.
    pub fn care_in_flight(&self) -> Vec<InFlightCare> {
        self.in_flight
            .iter()
            .filter_map(|(expires, dev)| {
                let case = self.cases.get(dev)?;
                let CaseStatus::CareInFlight { attempt, .. } = case.status else {
                    return None;
                };
                Some(InFlightCare {
                    device: dev.clone(),
                    attempt,
                    expires: *expires,
                })
            })
            .collect()
    }

    /// When the next scheduled care, care timeout, settlement, coverage check or coverage
    /// fallback step falls due, if anything is waiting (a fallback step stays due until the
    /// host records it: a host that sets a rebroadcast or unicast fallback acts on
    /// [`ServerState::fallback_due`]). Timeouts fall due while care is paused too (a paused campaign still
    /// learns that an order it sent went unanswered).
    pub fn next_wake(&self) -> Option<Timestamp> {
        let cases = self.case_wake();
        let settle = match (&self.campaign, self.settled_at) {
            (Some(c), None) => Some(match self.settlement_held_at {
                // Held back: checked again an hour after the last check.
                Some(_) => self.clock.plus(SETTLEMENT_RECHECK),
                None => c.report_deadline(),
            }),
            _ => None,
        };
        let check = super::fallback::next_check(self);
        let fallback = super::fallback::next_wake(self);
        [cases, settle, check, fallback].into_iter().flatten().min()
    }

    /// When the next scheduled care or care timeout falls due: the part of
    /// [`Self::next_wake`] a sharded server takes from each shard (settlement, checks and
    /// the fallback are campaign matters, judged on the campaign's summed state).
    pub(crate) fn case_wake(&self) -> Option<Timestamp> {
        let care = if self.is_paused() {
            None
        } else {
            self.care_queue.first().map(|(t, _)| *t)
        };
        let timeout = self.in_flight.first().map(|(t, _)| *t);
        care.into_iter().chain(timeout).min()
    }

    /// What the coverage fallback asks of the host at `now`
    /// (`docs/design.md`, "Coverage fallback").
    pub fn fallback_due(&self, now: Timestamp) -> FallbackDue {
        super::fallback::due(self, now)
    }

    /// Failure cases (reports + check-ins behind).
    pub fn failed(&self) -> u64 {
        (self.counters.failure_reports + self.counters.checkins_behind)
            .saturating_sub(self.counters.reopened)
    }

    /// The campaign's statistics.
    pub fn stats(&self) -> CampaignStats {
        let k = &self.counters;
        let failed = self.failed();
        let healthy_pool = self.targeted.saturating_sub(failed);
        CampaignStats {
            coverage: self.coverage(),
            presumed_bound: self.presumed_bound_at(self.clock),
            ..self.stats_without_coverage(k, failed, healthy_pool)
        }
    }

    fn stats_without_coverage(
        &self,
        k: &Counters,
        failed: u64,
        healthy_pool: u64,
    ) -> CampaignStats {
        let coverage = None;
        CampaignStats {
            targeted: self.targeted,
            failure_reports: k.failure_reports,
            success_probes: k.success_probes,
            late_reports: k.late_reports,
            checkins_behind: k.checkins_behind,
            care_dispatched: k.care_dispatched,
            care_timed_out: k.care_timed_out,
            in_care: failed.saturating_sub(k.recovered + k.escalated + k.abandoned),
            recovered: k.recovered,
            escalated: k.escalated,
            abandoned: k.abandoned,
            presumed_ok: healthy_pool,
            paused: self.is_paused(),
            operator_paused: self.operator_paused.is_some(),
            breaker: self.paused,
            settled: self.settled_at.is_some(),
            coverage,
            presumed_bound: None,
            settlement_held: self.settled_at.is_none() && self.settlement_held_at.is_some(),
        }
    }
}
