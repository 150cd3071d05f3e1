//! Many worlds at once: [`sweep`] runs a seed range on every core and gathers what the
//! calibration and the invariants need.

use std::collections::BTreeMap;

use super::fate::{self, Fate};
use super::{FaultCounts, FleetConfig, FleetOutcome, simulate};

/// What a sweep of many seeds found.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SweepOutcome {
    /// Seeds run.
    pub seeds: u64,
    /// Faults injected over all seeds, by kind.
    pub faults: FaultCounts,
    /// Seeds that broke an invariant (or failed otherwise), with what broke, by seed.
    pub failures: Vec<(u64, String)>,
    /// Seeds whose final coverage interval held the broadcast's true coverage, of those
    /// with an interval.
    pub coverage_held: u64,
    /// Seeds with a coverage interval.
    pub coverage_checked: u64,
    /// Failed devices that gave up reporting unheard, over all seeds.
    pub gave_up_reporting: u64,
    /// Reports sent over all seeds, and failure reports + probes the server took.
    pub reports_sent: u64,
    /// Reports accepted over all seeds.
    pub reports_accepted: u64,
    /// Pauses by the abort threshold over all seeds (a false one is an invariant
    /// violation, `false-pause`, among `failures`).
    pub breaker_pauses: u64,
    /// Targets left unresolved at the end, over all seeds.
    pub unresolved: u64,
    /// Seeds whose first coverage check's reach interval held the true share of targets
    /// holding the payload then, of those that checked.
    pub first_check_held: u64,
    /// Seeds whose server made a coverage check.
    pub first_check_count: u64,
    /// Sum of the first checks' reach intervals' widths (divide by `first_check_count`).
    pub first_check_width: f64,
    /// Seeds whose settlement bound was at least the true number of targets wrongly
    /// presumed OK.
    pub bound_held: u64,
    /// Seeds that settled with a bound.
    pub bound_count: u64,
    /// Sum of the bounds (divide by `bound_count`).
    pub bound_sum: u64,
    /// Sum of the true numbers of targets wrongly presumed OK at settlement.
    pub wrongly_presumed: u64,
    /// Sum of the final coverage intervals' widths (divide by `coverage_checked`).
    pub coverage_width: f64,
    /// Seeds whose broadcast the server found degraded (its fallback started).
    pub degraded: u64,
    /// DM sessions the coverage fallback opened by unicast (polls and pushes), over all
    /// seeds.
    pub repair_sessions: u64,
    /// Devices the fallback found lacking the payload and reached (by unicast or
    /// rebroadcast), over all seeds.
    pub repair_found: u64,
    /// Each seed's time from issue to its last case resolved, in minutes, by seed.
    pub converged_minutes: Vec<u64>,
    /// Groups paused by their own thresholds over all seeds, by group (a false one is a
    /// `false-pause` among `failures`).
    pub group_pauses: BTreeMap<String, u64>,
    /// Each degraded seed's time from issue to its fallback's last step, in minutes.
    pub repair_done_minutes: Vec<u64>,
}

/// The median of `v`, if it has any element.
fn median(v: &[u64]) -> Option<u64> {
    let mut m = v.to_vec();
    m.sort_unstable();
    m.get(m.len() / 2).copied()
}

impl SweepOutcome {
    /// The median of [`Self::converged_minutes`], if any seed finished.
    pub fn median_converged_minutes(&self) -> Option<u64> {
        median(&self.converged_minutes)
    }

    /// The median of [`Self::repair_done_minutes`], if any seed degraded.
    pub fn median_repair_done_minutes(&self) -> Option<u64> {
        median(&self.repair_done_minutes)
    }
}

/// The campaign salt [`sweep`] gives world `seed` (each world its own, as each campaign
/// has its own): run `simulate` with it to repeat one world of a sweep.
pub fn world_salt(seed: u64) -> [u8; 16] {
    let secret = Fate::new(seed).secret(fate::TAG_WORLD_SALT);
    let mut salt = [0u8; 16];
    salt.copy_from_slice(&secret[..16]);
    salt
}

/// Runs `cfg` for every seed of `seeds` on `threads` threads (each seed its own world,
/// events discarded) and gathers the faults and the broken invariants. The result does not
/// depend on the thread count.
pub fn sweep(cfg: &FleetConfig, seeds: std::ops::Range<u64>, threads: usize) -> SweepOutcome {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicU64, Ordering};
    let next = AtomicU64::new(seeds.start);
    let results: Mutex<Vec<(u64, Result<FleetOutcome, String>)>> = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..threads.max(1) {
            scope.spawn(|| {
                loop {
                    let seed = next.fetch_add(1, Ordering::Relaxed);
                    if seed >= seeds.end {
                        break;
                    }
                    let mut c = cfg.clone();
                    c.seed = seed;
                    // Each world its own salt: slots and the success sample differ from
                    // world to world as they do from campaign to campaign.
                    c.campaign.salt = world_salt(seed);
                    // The seeds already keep every thread busy.
                    c.threads = 1;
                    let r = simulate(&c, |_| Ok(()))
                        .map(|(out, _)| out)
                        .map_err(|e| e.to_string());
                    results
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .push((seed, r));
                }
            });
        }
    });
    let mut results = results
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    results.sort_by_key(|(seed, _)| *seed);
    let mut out = SweepOutcome::default();
    for (seed, r) in results {
        out.seeds += 1;
        match r {
            Err(e) => out.failures.push((seed, e)),
            Ok(o) => {
                for (k, n) in &o.faults {
                    *out.faults.entry(k).or_default() += n;
                }
                out.gave_up_reporting += o.gave_up_reporting;
                out.breaker_pauses += o.breaker_pauses;
                for g in &o.group_pauses {
                    *out.group_pauses.entry(g.clone()).or_default() += 1;
                }
                out.unresolved += o.unresolved;
                out.reports_sent += o.reports_sent;
                out.reports_accepted += o.reports_accepted;
                out.degraded += u64::from(o.fallback.degraded.is_some());
                out.repair_sessions += o.fallback.unicast_sent;
                out.repair_found += o.fallback.reached_missed;
                out.converged_minutes
                    .push(o.converged_after.as_millis() / 60_000);
                if o.fallback.degraded.is_some() {
                    let done = o
                        .fallback
                        .finished_after
                        .or(o.fallback.degraded.map(|d| d.1));
                    out.repair_done_minutes
                        .extend(done.map(|d| d.as_millis() / 60_000));
                }
                if let Some((reach, truth)) = o.first_check {
                    out.first_check_count += 1;
                    out.first_check_width += reach.hi - reach.lo;
                    if reach.lo <= truth + 1e-12 && truth <= reach.hi + 1e-12 {
                        out.first_check_held += 1;
                    }
                }
                if let Some((bound, truth)) = o.settlement {
                    out.bound_count += 1;
                    out.bound_sum += bound.total();
                    out.wrongly_presumed += truth;
                    if truth <= bound.total() {
                        out.bound_held += 1;
                    }
                }
                if let Some(cv) = o.stats.coverage {
                    out.coverage_checked += 1;
                    out.coverage_width += cv.hi - cv.lo;
                    let truth = 1.0 - o.missed as f64 / o.devices as f64;
                    if cv.lo <= truth + 1e-12 && truth <= cv.hi + 1e-12 {
                        out.coverage_held += 1;
                    }
                }
            }
        }
    }
    out
}
