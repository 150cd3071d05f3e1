//! What the server estimates from its tally: the coverage and reach intervals with the
//! sample's pending devices (`docs/design.md`, "Coverage estimate", "Coverage under
//! loss"), and the bound on targets wrongly presumed OK ("Presumed OK, with its error").

use serde::{Deserialize, Serialize};

use crate::model::Timestamp;
use crate::server::{SLOT_BINS, ServerState};
use crate::stats::{Coverage, CoverageBasis, wilson_interval};

/// How often a settlement held back by `max_presumed_unknown` is checked again.
pub const SETTLEMENT_RECHECK: crate::model::Duration = crate::model::Duration::from_hours(1);
/// How long after the report deadline a settlement may be held back at most: then the
/// campaign settles with its bound recorded, above the limit (never stuck).
pub const MAX_SETTLEMENT_HOLD: crate::model::Duration = crate::model::Duration::from_hours(7 * 24);

/// How many targets presumed OK may not be, at 95% ([`ServerState::presumed_bound_at`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct PresumedBound {
    /// Silent targets that may have missed the broadcast and not checked in yet.
    pub missed: u64,
    /// Failed devices whose every report attempt may have been lost.
    pub unheard: u64,
}

impl PresumedBound {
    /// Both together: at most this many presumed OK are not.
    pub fn total(&self) -> u64 {
        self.missed.saturating_add(self.unheard)
    }
}

impl ServerState {
    /// The share of targets that received the broadcast, estimated from the cases and the
    /// success probes (`docs/design.md`, "Coverage estimate"). Failure reporters received
    /// it (F), devices that checked in behind missed it (K); of the rest (U = T − F − K),
    /// the share `r` that received it is estimated from the probes: with the sample size
    /// known, `r = s / n_U` over the sampled members of U (`n_U` = sampled targets − the
    /// sampled among F and K), a Wilson interval valid for this campaign; otherwise from the
    /// sampling rate, `r = s / (p · U)`. Coverage = (F + r · U) / T.
    ///
    /// Once a coverage check found the broadcast degraded, a device silent until then that
    /// reports (reached by the fallback) counts with the devices that checked in behind
    /// ([`Case::silent_until_degraded`]), not as a broadcast receiver.
    pub fn coverage(&self) -> Option<Coverage> {
        self.coverage_at(self.clock)
    }

    /// [`Self::coverage`] as it stands at `now` (a sampled device's silence means more the
    /// later it is).
    pub fn coverage_at(&self, now: Timestamp) -> Option<Coverage> {
        self.share_holding(self.tally.reporters, now)
    }

    /// The share of targets that hold the payload now: [`ServerState::coverage`]'s estimate
    /// with the devices that checked in behind (and were sent the payload by unicast) counted
    /// as holding it. The coverage floor compares this one, so a loss that check-ins have
    /// already repaired does not start a fallback.
    pub fn reach(&self) -> Option<Coverage> {
        self.reach_at(self.clock)
    }

    /// [`Self::reach`] as it stands at `now`.
    pub fn reach_at(&self, now: Timestamp) -> Option<Coverage> {
        self.share_holding(self.tally.reporters + self.tally.behind, now)
    }

    /// Silent sampled devices whose probe may still come at `now`: those in a slot bin
    /// whose reports, retries and the latest lateness seen are not over yet
    /// (`docs/design.md`, "Coverage under loss"). Exact with the sample's profile; without
    /// it, the pending share of the expected sample (`expected` sampled uncertain targets).
    pub fn pending_probes(&self, now: Timestamp, expected: u64) -> u64 {
        let Some(c) = self.campaign.as_ref() else {
            return 0;
        };
        let base = self.broadcast_at.unwrap_or(c.issued_at);
        let late = crate::model::Duration(self.tally.lateness_ms);
        let pending = |b: usize| now < crate::server::bin_reports_end(c, base, b).plus(late);
        let heard = &self.tally.sampled_heard_by_slot;
        match &self.sample_profile {
            Some(p) => (0..SLOT_BINS)
                .filter(|&b| pending(b))
                .map(|b| u64::from(p.by_slot()[b].saturating_sub(heard[b])))
                .sum(),
            None => {
                let bins = (0..SLOT_BINS).filter(|&b| pending(b)).count() as u64;
                let heard_there: u64 = (0..SLOT_BINS)
                    .filter(|&b| pending(b))
                    .map(|b| u64::from(heard[b]))
                    .sum();
                (expected * bins)
                    .div_ceil(SLOT_BINS as u64)
                    .saturating_sub(heard_there)
            }
        }
    }

    /// The share `r` of the uncertain targets `U` that received the broadcast, estimated
    /// from the probes: `(estimate, lo, hi, basis, U)`. Sampled members of U still pending
    /// at `now` are left out of the estimate and counted as missed in the lower bound and as
    /// reached in the upper one.
    fn reached_share(&self, now: Timestamp) -> Option<(f64, f64, f64, CoverageBasis, u64)> {
        let c = self.campaign.as_ref()?;
        let ppm = c.schedule.sample_success_ppm;
        if ppm == 0 || self.targeted == 0 {
            return None;
        }
        let tl = &self.tally;
        let uncertain = self.targeted.saturating_sub(tl.reporters + tl.behind);
        let (n_u, basis) = match self.sampled_targets {
            Some(n) => (
                n.saturating_sub(tl.sampled_reporters + tl.sampled_behind),
                CoverageBasis::KnownSample,
            ),
            None => (
                ((f64::from(ppm) / 1e6 * uncertain as f64).round() as u64).max(tl.probes),
                CoverageBasis::Design,
            ),
        };
        let s = tl.probes.min(n_u);
        let pending = self.pending_probes(now, n_u).min(n_u - s);
        let (_, lo, _) = wilson_interval(s, n_u);
        let (_, _, hi) = wilson_interval(s + pending, n_u);
        let settled = n_u - pending;
        let q = if settled == 0 {
            1.0
        } else {
            s as f64 / settled as f64
        };
        Some((q.min(1.0), lo, hi, basis, uncertain))
    }

    /// (known + r · U) / T, with r from [`Self::reached_share`].
    fn share_holding(&self, known: u64, now: Timestamp) -> Option<Coverage> {
        let (q, lo, hi, basis, uncertain) = self.reached_share(now)?;
        let t = self.targeted as f64;
        let received = known.min(self.targeted);
        let scale = |r: f64| ((received as f64 + r * uncertain as f64) / t).clamp(0.0, 1.0);
        Some(Coverage {
            estimate: scale(q),
            lo: scale(lo),
            hi: scale(hi),
            basis,
        })
    }

    /// How many of the targets presumed OK at `now` may not be, at 95%
    /// (`docs/design.md`, "Presumed OK, with its error"): silent targets that missed the
    /// broadcast, `U · (1 − r_lo)`, and failed devices whose every report attempt was lost,
    /// `F · p / (1 − p)` with `p = q_hi^attempts` and `q_hi` the upper bound of the
    /// per-attempt loss the first reports' attempt numbers show. `None` without sampling.
    pub fn presumed_bound_at(&self, now: Timestamp) -> Option<PresumedBound> {
        let c = self.campaign.as_ref()?;
        let (_, lo, _, _, uncertain) = self.reached_share(now)?;
        let missed = ((1.0 - lo) * uncertain as f64).ceil() as u64;
        let tl = &self.tally;
        let trials = tl.first_reports + tl.attempts_before_first;
        let unheard = if tl.reporters == 0 {
            0
        } else {
            let (_, _, q_hi) = wilson_interval(tl.attempts_before_first, trials);
            let p = q_hi.powi(c.schedule.report.retry.attempts.min(64) as i32);
            if p >= 1.0 {
                uncertain
            } else {
                (tl.reporters as f64 * p / (1.0 - p)).ceil() as u64
            }
        };
        Some(PresumedBound {
            missed: missed.min(uncertain),
            unheard: unheard.min(uncertain),
        })
    }
}
