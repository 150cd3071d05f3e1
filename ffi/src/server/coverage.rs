//! The success sample and the coverage fallback.

use std::ffi::c_char;

use devcare::Timestamp;
use devcare::server::{Fallback, FallbackDue};

use super::*;
use crate::boundary::{fail, guard};
use crate::result::devcare_result::{self};

/// Records how many of `campaign`'s targets are in its success sample: count them over the
/// host's directory with `devcare_server_sample_status` (an explicit target list is
/// counted at creation). The coverage estimate is then valid for this campaign
/// (`devcare_stats.coverage_known_sample`). Tell it again after a revision.
/// `DEVCARE_SAMPLE_SIZE` if it exceeds the targets.
///
/// # Safety
/// `campaign` NUL-terminated.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn devcare_server_set_sampled_targets(
    server: *mut devcare_server,
    campaign: *const c_char,
    sampled_targets: u64,
    now_ms: u64,
) -> devcare_result {
    guard(|| {
        try_handle!(h = server);
        let id = try_str!(campaign);
        try_host!(
            h.host
                .set_sampled_targets(id, sampled_targets, Timestamp(now_ms))
        );
        DEVCARE_OK
    })
}

/// Counts `campaign`'s success sample over the host's directory (`directory`, `n` target
/// ids, each once) — how many are sampled and where their report slots fall — and records
/// it: the coverage estimate is then valid for this campaign and knows which silent sampled
/// devices may still probe, so a late probe is not taken for a missed broadcast. Preferred
/// over `devcare_server_set_sampled_targets`. `*sampled` receives the count. Tell it again
/// after a revision.
///
/// # Safety
/// `campaign` NUL-terminated; `directory` `n` NUL-terminated strings (NULL when `n` is 0);
/// `sampled` valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn devcare_server_record_sample(
    server: *mut devcare_server,
    campaign: *const c_char,
    directory: *const *const c_char,
    n: usize,
    now_ms: u64,
    sampled: *mut u64,
) -> devcare_result {
    guard(|| {
        try_handle!(h = server);
        let id = try_str!(campaign);
        let dir = try_str_array!(directory, n);
        try_out!(sampled);
        let count = try_host!(h.host.record_sample(
            id,
            dir.iter().map(String::as_str),
            Timestamp(now_ms)
        ));
        put!(sampled, count);
        DEVCARE_OK
    })
}

/// Sets `campaign`'s limit on targets wrongly presumed OK (`has_limit` false lifts it):
/// above `max_presumed_unknown` at the deadline the campaign stays open
/// (`devcare_stats.settlement_held`), checked hourly, until check-ins bring the server's 95%
/// bound within it — at most 7 days after the deadline. Server-side policy, kept across
/// revisions.
///
/// # Safety
/// `campaign` NUL-terminated.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn devcare_server_set_settlement_limit(
    server: *mut devcare_server,
    campaign: *const c_char,
    has_limit: bool,
    max_presumed_unknown: u64,
    now_ms: u64,
) -> devcare_result {
    guard(|| {
        try_handle!(h = server);
        let id = try_str!(campaign);
        let limit = has_limit.then_some(max_presumed_unknown);
        try_host!(h.host.set_settlement_limit(id, limit, Timestamp(now_ms)));
        DEVCARE_OK
    })
}

/// Whether `device` is in `campaign`'s success sample (`*sampled`) and, if so, whether the
/// server has heard nothing from it yet (`*silent`: poll it by unicast to tell a missed
/// broadcast from a lost probe). A host loops over its directory with it.
///
/// # Safety
/// `campaign`, `device` NUL-terminated; `sampled`, `silent` valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn devcare_server_sample_status(
    server: *mut devcare_server,
    campaign: *const c_char,
    device: *const c_char,
    sampled: *mut bool,
    silent: *mut bool,
) -> devcare_result {
    guard(|| {
        try_handle!(h = server);
        let id = try_str!(campaign);
        let dev = try_str!(device);
        try_out!(sampled, silent);
        let view = try_host!(h.host.sample(id, [dev]));
        put!(sampled, view.sampled == 1);
        put!(silent, !view.silent.is_empty());
        DEVCARE_OK
    })
}

/// No coverage fallback: below the floor only `BroadcastDegraded` is recorded.
pub const DEVCARE_FALLBACK_NONE: u32 = 0;
/// Coverage fallback: broadcast the payload once more.
pub const DEVCARE_FALLBACK_REBROADCAST: u32 = 1;
/// Coverage fallback: unicast the payload to the silent targets, paced.
pub const DEVCARE_FALLBACK_UNICAST: u32 = 2;
/// Coverage fallback: a repair proportionate to the damage — poll a random sample of the
/// silent targets (paced), then rebroadcast, keep polling while it pays, or wait for
/// check-ins.
pub const DEVCARE_FALLBACK_REPAIR: u32 = 3;

/// Sets `campaign`'s coverage floor (`floor` in (0, 1]) and what runs below it:
/// `DEVCARE_FALLBACK_NONE`, `_REBROADCAST`, or `_UNICAST` / `_REPAIR` at `per_minute`
/// devices per minute (ignored otherwise). Server-side policy, kept across revisions. The server checks
/// the reach interval once every report of a device that received the broadcast is in, and
/// at the deadline; below the floor it records `BroadcastDegraded` and the host then calls
/// `devcare_server_fallback_due` after every `devcare_server_tick`. `DEVCARE_FALLBACK` for
/// a floor or pace out of range, a campaign that samples no device, or a degraded revision;
/// `DEVCARE_INVALID_ARGUMENT` for an unknown `fallback`.
///
/// # Safety
/// `campaign` NUL-terminated.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn devcare_server_set_coverage_floor(
    server: *mut devcare_server,
    campaign: *const c_char,
    floor: f64,
    fallback: u32,
    per_minute: u32,
    now_ms: u64,
) -> devcare_result {
    guard(|| {
        try_handle!(h = server);
        let id = try_str!(campaign);
        let fallback = match fallback {
            DEVCARE_FALLBACK_NONE => Fallback::None,
            DEVCARE_FALLBACK_REBROADCAST => Fallback::Rebroadcast,
            DEVCARE_FALLBACK_UNICAST => Fallback::Unicast { per_minute },
            DEVCARE_FALLBACK_REPAIR => Fallback::Repair { per_minute },
            other => {
                return fail(
                    DEVCARE_INVALID_ARGUMENT,
                    format!(
                        "fallback {other} is not DEVCARE_FALLBACK_NONE, _REBROADCAST, _UNICAST or _REPAIR"
                    ),
                );
            }
        };
        try_host!(
            h.host
                .set_coverage_floor(id, floor, fallback, Timestamp(now_ms))
        );
        DEVCARE_OK
    })
}

/// `devcare_server_fallback_due`: nothing to do.
pub const DEVCARE_FALLBACK_DUE_NOTHING: u32 = 0;
/// `devcare_server_fallback_due`: broadcast the payload again, then
/// `devcare_server_record_rebroadcast`.
pub const DEVCARE_FALLBACK_DUE_REBROADCAST: u32 = 1;
/// `devcare_server_fallback_due`: call `devcare_server_fallback_unicast` for a batch of up
/// to `*allowance` devices.
pub const DEVCARE_FALLBACK_DUE_UNICAST: u32 = 2;
/// `devcare_server_fallback_due`: the unicast pace allows no device before `*at_ms`.
pub const DEVCARE_FALLBACK_DUE_WAIT: u32 = 3;

/// What `campaign`'s coverage fallback asks of the host at `now_ms`: writes one of
/// `DEVCARE_FALLBACK_DUE_*` to `*action`, the unicast batch size allowed to `*allowance`
/// (0 otherwise) and, for `_WAIT`, when the pace allows the next device to `*at_ms` (0
/// otherwise).
///
/// # Safety
/// `campaign` NUL-terminated; `action`, `allowance`, `at_ms` valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn devcare_server_fallback_due(
    server: *mut devcare_server,
    campaign: *const c_char,
    now_ms: u64,
    action: *mut u32,
    allowance: *mut u64,
    at_ms: *mut u64,
) -> devcare_result {
    guard(|| {
        try_handle!(h = server);
        let id = try_str!(campaign);
        try_out!(action, allowance, at_ms);
        let (a, n, t) = match try_host!(h.host.fallback_due(id, Timestamp(now_ms))) {
            FallbackDue::Nothing => (DEVCARE_FALLBACK_DUE_NOTHING, 0, 0),
            FallbackDue::Rebroadcast => (DEVCARE_FALLBACK_DUE_REBROADCAST, 0, 0),
            FallbackDue::Unicast { allowance, .. } => (DEVCARE_FALLBACK_DUE_UNICAST, allowance, 0),
            FallbackDue::WaitUntil { at } => (DEVCARE_FALLBACK_DUE_WAIT, 0, at.as_millis()),
        };
        put!(action, a);
        put!(allowance, n);
        put!(at_ms, t);
        DEVCARE_OK
    })
}

/// Records that the host broadcast `campaign`'s payload again, as its rebroadcast fallback
/// asked. `DEVCARE_FALLBACK` when no rebroadcast is due; `DEVCARE_BROADCAST_TOO_LATE` when
/// it came too late for its reports to end before the deadline.
///
/// # Safety
/// `campaign` NUL-terminated.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn devcare_server_record_rebroadcast(
    server: *mut devcare_server,
    campaign: *const c_char,
    now_ms: u64,
) -> devcare_result {
    guard(|| {
        try_handle!(h = server);
        let id = try_str!(campaign);
        try_host!(h.host.record_rebroadcast(id, Timestamp(now_ms)));
        DEVCARE_OK
    })
}

/// Picks and records `campaign`'s next unicast fallback batch from the host's directory
/// `directory[0..n]` (target ids, any order): the smallest ids after the server's cursor that
/// it has heard nothing from, as many as the pace allows now. Sets `picked[i]` for each
/// chosen `directory[i]` and writes their number to `*count`; 0 when no batch is due. The host
/// opens a DM session with each chosen device and passes the revision it holds to
/// `devcare_server_check_in`: one that missed the broadcast gets the payload as care
/// (`devcare_server_next_care`). Nothing is picked or recorded on an error.
///
/// # Safety
/// `campaign` NUL-terminated; `directory` `n` NUL-terminated strings (NULL when `n` is 0);
/// `picked` valid for `n` writes (NULL when `n` is 0); `count` valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn devcare_server_fallback_unicast(
    server: *mut devcare_server,
    campaign: *const c_char,
    directory: *const *const c_char,
    n: usize,
    now_ms: u64,
    picked: *mut bool,
    count: *mut usize,
) -> devcare_result {
    guard(|| {
        try_handle!(h = server);
        let id = try_str!(campaign);
        let dir = try_str_array!(directory, n);
        try_out!(count);
        if n > 0 {
            try_out!(picked);
        }
        let chosen = try_host!(h.host.fallback_unicast(
            id,
            dir.iter().map(String::as_str),
            Timestamp(now_ms)
        ));
        let chosen: std::collections::HashSet<&str> = chosen.iter().map(String::as_str).collect();
        for (i, d) in dir.iter().enumerate() {
            // SAFETY: `picked` is valid for `n` writes per the contract, and i < n.
            unsafe { picked.add(i).write(chosen.contains(d.as_str())) };
        }
        put!(count, chosen.len());
        DEVCARE_OK
    })
}
