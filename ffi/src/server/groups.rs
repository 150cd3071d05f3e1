//! Per-group abort thresholds: one bad cohort pauses alone.

use std::ffi::c_char;

use devcare::Timestamp;
use devcare::server::GroupBreaker;

use super::*;
use crate::boundary::{fail, guard};
use crate::result::devcare_result::{self};

/// Gives `campaign`'s directory group `group` an abort threshold of its own (or replaces
/// the one it has): its care pauses when its failure reports exceed `failure_ratio` (0 to 1,
/// exclusive) of its members expected to have reported by then, once at least
/// `min_reports` (≥ 1) of them reported; `targeted` is the group's targeted members (count
/// them over your directory). The campaign and its other groups go on. Before the
/// revision's first failure report; at most 16 groups. `DEVCARE_GROUP_BREAKER` otherwise.
///
/// # Safety
/// `campaign`, `group` NUL-terminated.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn devcare_server_set_group_breaker(
    server: *mut devcare_server,
    campaign: *const c_char,
    group: *const c_char,
    failure_ratio: f64,
    min_reports: u64,
    targeted: u64,
    now_ms: u64,
) -> devcare_result {
    guard(|| {
        try_handle!(h = server);
        let id = try_str!(campaign);
        let group = try_str!(group);
        let breaker = GroupBreaker {
            group: group.to_owned(),
            targeted,
            failure_ratio,
            min_reports,
        };
        try_host!(h.host.set_group_breaker(id, breaker, Timestamp(now_ms)));
        DEVCARE_OK
    })
}

/// Lifts group `group`'s pause of `campaign` on purpose. `by` (who) and `why` are logged
/// with it, 1–200 bytes each (`DEVCARE_OVERRIDE_UNEXPLAINED` otherwise); the group's
/// threshold stays quiet after. `DEVCARE_GROUP_BREAKER` if the group is not paused or has
/// no threshold.
///
/// # Safety
/// `campaign`, `group`, `by` and `why` NUL-terminated.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn devcare_server_override_group_abort(
    server: *mut devcare_server,
    campaign: *const c_char,
    group: *const c_char,
    by: *const c_char,
    why: *const c_char,
    now_ms: u64,
) -> devcare_result {
    guard(|| {
        try_handle!(h = server);
        let id = try_str!(campaign);
        let group = try_str!(group);
        let by = try_str!(by);
        let why = try_str!(why);
        try_host!(
            h.host
                .override_group_abort(id, group, by, why, Timestamp(now_ms))
        );
        DEVCARE_OK
    })
}

/// One group's threshold and where it stands.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct devcare_group_status {
    /// Its members that reported a failure.
    pub failures: u64,
    /// Its threshold paused its members' care (lift it with
    /// `devcare_server_override_group_abort`).
    pub paused: bool,
    /// When it paused (ms since the epoch; 0 when not paused).
    pub paused_since_ms: u64,
    /// The failures it counted when it paused.
    pub paused_failures: u64,
    /// Its members expected to have reported by then.
    pub paused_expected: u64,
    /// The threshold.
    pub failure_ratio: f64,
    /// Its pause was overridden: the threshold stays quiet.
    pub overridden: bool,
}

/// Where group `group`'s threshold of `campaign` stands, into `*out`.
/// `DEVCARE_GROUP_BREAKER` if the group has no threshold of its own.
///
/// # Safety
/// `campaign`, `group` NUL-terminated; `out` valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn devcare_server_group_status(
    server: *mut devcare_server,
    campaign: *const c_char,
    group: *const c_char,
    out: *mut devcare_group_status,
) -> devcare_result {
    guard(|| {
        try_handle!(h = server);
        let id = try_str!(campaign);
        let group = try_str!(group);
        try_out!(out);
        let all = try_host!(h.host.group_breakers(id));
        let Some(g) = all.into_iter().find(|g| g.breaker.group == group) else {
            return fail(
                devcare_result::DEVCARE_GROUP_BREAKER,
                format!("group {group:?} has no threshold of its own"),
            );
        };
        put!(
            out,
            devcare_group_status {
                failures: g.failures,
                paused: g.paused.is_some(),
                paused_since_ms: g.paused.map_or(0, |p| p.since.as_millis()),
                paused_failures: g.paused.map_or(0, |p| p.reason.failure_reports),
                paused_expected: g.paused.map_or(0, |p| p.reason.targeted),
                failure_ratio: g.breaker.failure_ratio,
                overridden: g.overridden,
            }
        );
        DEVCARE_OK
    })
}
