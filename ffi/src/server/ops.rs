//! The operator's and the clock's calls: pause, resume, tick, statistics.

use std::ffi::c_char;

use devcare::Timestamp;
use devcare::stats::CoverageBasis;

use super::*;
use crate::boundary::guard;
use crate::result::devcare_result::{self};

/// An operator pauses care of `campaign`: no care order is dispatched until
/// `devcare_server_resume`. `DEVCARE_ALREADY_PAUSED` if it is paused.
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

/// An operator resumes care of `campaign`, paused by an operator or by the abort threshold
/// (which then stays quiet for the campaign). `DEVCARE_NOT_PAUSED` if it is not paused.
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
    /// Care paused by the abort threshold.
    pub paused: bool,
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
                settled: st.settled,
                has_coverage: c.is_some(),
                coverage_known_sample: c.is_some_and(|c| c.basis == CoverageBasis::KnownSample),
                coverage: c.map_or(0.0, |c| c.estimate),
                coverage_lo: c.map_or(0.0, |c| c.lo),
                coverage_hi: c.map_or(0.0, |c| c.hi),
            }
        );
        DEVCARE_OK
    })
}
