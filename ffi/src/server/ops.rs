//! The operator's and the clock's calls: pause, resume, tick, statistics.

use std::ffi::c_char;

use devcare::Timestamp;
use devcare::stats::CoverageBasis;

use super::*;
use crate::boundary::guard;
use crate::result::devcare_result::{self};

/// An operator pauses care of `campaign`: no care order is dispatched until
/// `devcare_server_resume`. `DEVCARE_ALREADY_PAUSED` if an operator paused it already (the
/// abort threshold's pause is separate).
///
/// # Safety
/// `campaign` NUL-terminated.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn devcare_server_pause(
    server: *mut devcare_server,
    campaign: *const c_char,
    now_ms: u64,
) -> devcare_result {
    guard(|| {
        try_handle!(h = server);
        let id = try_str!(campaign);
        try_host!(h.host.pause(id, Timestamp(now_ms)));
        DEVCARE_OK
    })
}

/// An operator lifts their own pause of `campaign`. The abort threshold's pause stays:
/// `DEVCARE_PAUSED_BY_BREAKER` when it is the only one (lift it with
/// `devcare_server_override_abort`); `DEVCARE_NOT_PAUSED` when nothing paused it.
///
/// # Safety
/// `campaign` NUL-terminated.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn devcare_server_resume(
    server: *mut devcare_server,
    campaign: *const c_char,
    now_ms: u64,
) -> devcare_result {
    guard(|| {
        try_handle!(h = server);
        let id = try_str!(campaign);
        try_host!(h.host.resume(id, Timestamp(now_ms)));
        DEVCARE_OK
    })
}

/// Lifts the abort threshold's pause of `campaign` on purpose. `by` (who) and `why` are
/// logged with it, 1–200 bytes each (`DEVCARE_OVERRIDE_UNEXPLAINED` otherwise); the
/// threshold stays quiet for the campaign after. `DEVCARE_BREAKER_NOT_TRIPPED` if the
/// threshold has not paused it.
///
/// # Safety
/// `campaign`, `by` and `why` NUL-terminated.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn devcare_server_override_abort(
    server: *mut devcare_server,
    campaign: *const c_char,
    by: *const c_char,
    why: *const c_char,
    now_ms: u64,
) -> devcare_result {
    guard(|| {
        try_handle!(h = server);
        let id = try_str!(campaign);
        let by = try_str!(by);
        let why = try_str!(why);
        try_host!(h.host.override_abort(id, by, why, Timestamp(now_ms)));
        DEVCARE_OK
    })
}

/// Lets time pass on every campaign (settles those past their report deadline). Writes the
/// next time a tick or care is due to `*next_wake_ms` (0 if none) when not NULL.
///
/// # Safety
/// `next_wake_ms` NULL or valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn devcare_server_tick(
    server: *mut devcare_server,
    now_ms: u64,
    next_wake_ms: *mut u64,
) -> devcare_result {
    guard(|| {
        try_handle!(h = server);
        let next = try_host!(h.host.tick(Timestamp(now_ms)));
        if !next_wake_ms.is_null() {
            put!(next_wake_ms, next.map_or(0, Timestamp::as_millis));
        }
        DEVCARE_OK
    })
}

/// Statistics of one campaign.
#[repr(C)]
#[derive(Debug, Default)]
pub struct devcare_stats {
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
    /// Care attempts that timed out without an outcome (each counted as a failed attempt).
    pub care_timed_out: u64,
    /// Devices with care pending.
    pub in_care: u64,
    /// Devices recovered.
    pub recovered: u64,
    /// Devices escalated.
    pub escalated: u64,
    /// Devices whose care was given up.
    pub abandoned: u64,
    /// Targets presumed OK.
    pub presumed_ok: u64,
    /// Care paused, by an operator or by the abort threshold.
    pub paused: bool,
    /// An operator paused care and has not resumed it.
    pub operator_paused: bool,
    /// The abort threshold paused care (lifted only by `devcare_server_override_abort`).
    pub breaker_paused: bool,
    /// Since when the threshold has paused care (ms since the epoch; 0 when not paused).
    pub breaker_since_ms: u64,
    /// The failures it counted when it tripped.
    pub breaker_failures: u64,
    /// The devices expected to have reported by then, the failures' denominator.
    pub breaker_expected: u64,
    /// The failure ratio it passed.
    pub breaker_threshold: f64,
    /// Report deadline passed.
    pub settled: bool,
    /// Coverage estimate available.
    pub has_coverage: bool,
    /// The estimate is conditioned on the known sample size (valid for this campaign);
    /// false: on the sampling rate only (valid on average over campaigns).
    pub coverage_known_sample: bool,
    /// Coverage estimate.
    pub coverage: f64,
    /// 95% interval, low.
    pub coverage_lo: f64,
    /// 95% interval, high.
    pub coverage_hi: f64,
    /// A bound on the targets presumed OK that are not is available (sampling is on).
    pub has_presumed_bound: bool,
    /// Of the targets presumed OK, how many may have missed the payload and not checked in
    /// yet (95% upper bound).
    pub presumed_missed_hi: u64,
    /// Of the targets presumed OK, how many may have failed with every report lost (95%
    /// upper bound).
    pub presumed_unheard_hi: u64,
    /// The deadline passed but the bound is above the campaign's limit: not settled yet.
    pub settlement_held: bool,
}

/// Reads `campaign`'s statistics into `*out`.
///
/// # Safety
/// `campaign` NUL-terminated; `out` valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn devcare_server_stats(
    server: *mut devcare_server,
    campaign: *const c_char,
    out: *mut devcare_stats,
) -> devcare_result {
    guard(|| {
        try_handle!(h = server);
        let id = try_str!(campaign);
        try_out!(out);
        let st = try_host!(h.host.stats(id));
        let c = st.coverage;
        put!(
            out,
            devcare_stats {
                targeted: st.targeted,
                failure_reports: st.failure_reports,
                success_probes: st.success_probes,
                late_reports: st.late_reports,
                checkins_behind: st.checkins_behind,
                care_dispatched: st.care_dispatched,
                care_timed_out: st.care_timed_out,
                in_care: st.in_care,
                recovered: st.recovered,
                escalated: st.escalated,
                abandoned: st.abandoned,
                presumed_ok: st.presumed_ok,
                paused: st.paused,
                operator_paused: st.operator_paused,
                breaker_paused: st.breaker.is_some(),
                breaker_since_ms: st.breaker.map_or(0, |b| b.since.as_millis()),
                breaker_failures: st.breaker.map_or(0, |b| b.reason.failure_reports),
                breaker_expected: st.breaker.map_or(0, |b| b.reason.targeted),
                breaker_threshold: st.breaker.map_or(0.0, |b| b.reason.threshold),
                settled: st.settled,
                has_coverage: c.is_some(),
                coverage_known_sample: c.is_some_and(|c| c.basis == CoverageBasis::KnownSample),
                coverage: c.map_or(0.0, |c| c.estimate),
                coverage_lo: c.map_or(0.0, |c| c.lo),
                coverage_hi: c.map_or(0.0, |c| c.hi),
                has_presumed_bound: st.presumed_bound.is_some(),
                presumed_missed_hi: st.presumed_bound.map_or(0, |b| b.missed),
                presumed_unheard_hi: st.presumed_bound.map_or(0, |b| b.unheard),
                settlement_held: st.settlement_held,
            }
        );
        DEVCARE_OK
    })
}
