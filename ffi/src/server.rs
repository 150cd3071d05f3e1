//! `devcare_server`: the DM server side. Each function converts its C arguments and calls
//! one [`ServerHost`] flow.

use std::ffi::c_char;
use std::path::Path;

use devcare::Timestamp;
use devcare::host::{AlertIngest, HostError, Ingest, ServerHost};
use devcare::server::{Fallback, FallbackDue};
use devcare::stats::CoverageBasis;

use crate::boundary::{Guarded, Handle, fail, guard};
use crate::result::code_of;
use crate::result::devcare_result::{self, *};

/// The server side: one stream per campaign.
#[derive(Debug)]
pub struct devcare_server {
    g: Guarded<ServerInner>,
}

/// What a server handle holds.
#[derive(Debug)]
pub(crate) struct ServerInner {
    pub(crate) host: ServerHost,
}

impl Handle for devcare_server {
    type Inner = ServerInner;
    fn guarded(&self) -> &Guarded<ServerInner> {
        &self.g
    }
}

/// Reads a UTF-8 text argument given as pointer + length.
fn text<'a>(bytes: &'a [u8], what: &str) -> Result<&'a str, devcare_result> {
    std::str::from_utf8(bytes)
        .map_err(|_| fail(DEVCARE_INVALID_UTF8, format!("{what} is not UTF-8")))
}

/// Opens a care server. Device report keys are derived from `master_key` (32 bytes, see
/// `devcare_derive_device_key`). `sled_path` NULL keeps the log in memory.
///
/// # Safety
/// Pointers NULL or valid; `out` valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn devcare_server_open(
    sled_path: *const c_char,
    master_key: *const u8,
    out: *mut *mut devcare_server,
) -> devcare_result {
    guard(|| {
        try_out!(out);
        let master = try_key!(master_key);
        let path = if sled_path.is_null() {
            None
        } else {
            Some(Path::new(try_str!(sled_path)))
        };
        let host = try_host!(ServerHost::open(path, master));
        put!(
            out,
            Box::into_raw(Box::new(devcare_server {
                g: Guarded::new(ServerInner { host }),
            }))
        );
        DEVCARE_OK
    })
}

/// Flushes and frees a server. NULL does nothing.
///
/// # Safety
/// NULL or a live handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn devcare_server_free(server: *mut devcare_server) {
    let _ = guard(|| {
        if server.is_null() {
            return DEVCARE_OK;
        }
        // SAFETY: a live handle; shared until known idle.
        if unsafe { &*server }.g.is_busy() {
            return fail(
                DEVCARE_REENTRANT,
                "devcare_server_free while a call holds the handle: nothing freed",
            );
        }
        // SAFETY: a live, idle handle, freed once.
        let h = unsafe { Box::from_raw(server) };
        let _ = h.g.into_inner().host.flush();
        DEVCARE_OK
    });
}

/// Also takes reports under device keys derived from `master_key` (32 bytes): a report key
/// rotation starts.
///
/// # Safety
/// `master_key` valid for 32 bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn devcare_server_add_master_key(
    server: *mut devcare_server,
    master_key: *const u8,
) -> devcare_result {
    guard(|| {
        try_handle!(h = server);
        let master = try_key!(master_key);
        try_host!(h.host.add_master_key(master));
        DEVCARE_OK
    })
}

/// Stops taking reports under keys derived from `master_key` (the rotation is over).
/// `DEVCARE_NOTHING_DUE` when it was not held or is the last master (which stays).
///
/// # Safety
/// `master_key` valid for 32 bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn devcare_server_remove_master_key(
    server: *mut devcare_server,
    master_key: *const u8,
) -> devcare_result {
    guard(|| {
        try_handle!(h = server);
        let master = try_key!(master_key);
        if try_host!(h.host.remove_master_key(master)) {
            DEVCARE_OK
        } else {
            DEVCARE_NOTHING_DUE
        }
    })
}

/// Records that `device_id` belongs to the `n_groups` groups at `groups` (replacing what was
/// recorded; 0 groups clears it). Group campaigns accept reports only from members. The
/// table is kept in memory: set it after every `devcare_server_open`.
///
/// # Safety
/// `device_id` NUL-terminated; `groups` valid for `n_groups` string pointers.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn devcare_server_set_device_groups(
    server: *mut devcare_server,
    device_id: *const c_char,
    groups: *const *const c_char,
    n_groups: usize,
) -> devcare_result {
    guard(|| {
        try_handle!(h = server);
        let id = try_str!(device_id);
        let groups = try_str_array!(groups, n_groups);
        try_host!(h.host.set_device_groups(id, groups));
        DEVCARE_OK
    })
}

/// Creates a campaign from campaign-file text (`toml`, `len` bytes, UTF-8) at `now_ms`.
/// `targeted` is the number of target devices (0 for an explicit device list). Writes the
/// campaign id into `campaign_buf`: 65 bytes always suffice (a smaller buffer that cannot
/// hold the id is `DEVCARE_BUFFER_TOO_SMALL` and nothing is created). A file error is
/// `DEVCARE_CAMPAIGN_INVALID` with `line:col` in `devcare_last_error`.
///
/// # Safety
/// `toml` valid for `len` bytes; `campaign_buf` for `campaign_cap` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn devcare_server_create_campaign(
    server: *mut devcare_server,
    toml: *const c_char,
    len: usize,
    targeted: u64,
    now_ms: u64,
    campaign_buf: *mut c_char,
    campaign_cap: usize,
) -> devcare_result {
    guard(|| {
        try_handle!(h = server);
        let toml = tri!(text(try_slice!(toml.cast::<u8>(), len, "toml"), "toml"));
        // A campaign file error is reported before a missing output buffer.
        let campaign = try_host!(ServerHost::parse_campaign(toml));
        try_out!(campaign_buf);
        if campaign_cap < campaign.id.as_str().len() + 1 {
            return fail(
                DEVCARE_BUFFER_TOO_SMALL,
                "campaign buffer too small (65 bytes suffice)",
            );
        }
        let id = try_host!(h.host.create(campaign, targeted, Timestamp(now_ms)));
        try_write_str!(id.as_str(), campaign_buf, campaign_cap);
        DEVCARE_OK
    })
}

/// Revises a live campaign from campaign-file text (`toml`, `len` bytes): the same id at a
/// higher revision (`DEVCARE_REVISION_NOT_NEWER` otherwise). The old revision's care stops
/// and its reports are refused (DM status 410: the device stops retrying). Build and
/// broadcast the new payload next. `targeted` as for `devcare_server_create_campaign`.
///
/// # Safety
/// `toml` valid for `len` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn devcare_server_revise_campaign(
    server: *mut devcare_server,
    toml: *const c_char,
    len: usize,
    targeted: u64,
    now_ms: u64,
) -> devcare_result {
    guard(|| {
        try_handle!(h = server);
        let toml = tri!(text(try_slice!(toml.cast::<u8>(), len, "toml"), "toml"));
        try_host!(h.host.revise_campaign(toml, targeted, Timestamp(now_ms)));
        DEVCARE_OK
    })
}

/// Signs `campaign` into its broadcast payload with the secret `signing_seed` (32 bytes),
/// valid until `valid_until_ms`, and records the broadcast. Bytes into `buf`, size into
/// `*len` (on `DEVCARE_BUFFER_TOO_SMALL`, the needed size and nothing else: the broadcast
/// is recorded only when the payload is handed out). When recording the broadcast fails
/// (`DEVCARE_ALREADY_BROADCAST`, `DEVCARE_BROADCAST_TOO_LATE`, a store error) neither
/// `buf` nor `*len` is written.
///
/// # Safety
/// Pointers valid as described.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn devcare_server_build_payload(
    server: *mut devcare_server,
    campaign: *const c_char,
    signing_seed: *const u8,
    valid_until_ms: u64,
    now_ms: u64,
    buf: *mut u8,
    cap: usize,
    len: *mut usize,
) -> devcare_result {
    guard(|| {
        try_handle!(h = server);
        let id = try_str!(campaign);
        let seed = try_key!(signing_seed);
        try_out!(len);
        let bytes = try_host!(h.host.sign_payload(id, seed, Timestamp(valid_until_ms)));
        if cap < bytes.len() || buf.is_null() {
            // Only the needed size: nothing is recorded.
            try_write_bytes!(&bytes, buf, cap, len);
        }
        try_host!(h.host.mark_broadcast(id, Timestamp(now_ms)));
        try_write_bytes!(&bytes, buf, cap, len);
        DEVCARE_OK
    })
}

/// What became of an ingested report.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum devcare_ingest {
    /// Accepted: care is scheduled (or the success probe counted).
    DEVCARE_INGEST_ACCEPTED = 0,
    /// Already known: acknowledge, nothing changed.
    DEVCARE_INGEST_DUPLICATE = 1,
    /// Refused: nothing changed; the reason is in `*reason`.
    DEVCARE_INGEST_REJECTED = 2,
}

/// Ingests report bytes received at `now_ms`. Returns `DEVCARE_OK` with `*outcome`,
/// `*reason` (`DEVCARE_OK` unless rejected; then `devcare_last_error` says why) and
/// `*dm_status` (200, 401, 403, 404, …, the status to answer the device with). Other
/// return codes are failures of the call itself.
///
/// # Safety
/// `bytes` valid for `len` bytes; out-params valid for writes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn devcare_server_ingest_report(
    server: *mut devcare_server,
    bytes: *const u8,
    len: usize,
    now_ms: u64,
    outcome: *mut devcare_ingest,
    reason: *mut devcare_result,
    dm_status: *mut u16,
) -> devcare_result {
    guard(|| {
        try_handle!(h = server);
        let data = try_slice!(bytes, len, "bytes");
        try_out!(outcome, reason, dm_status);
        let ingest = try_host!(h.host.ingest_report(data, Timestamp(now_ms)));
        let (o, r) = match &ingest {
            Ingest::Accepted(_) => (devcare_ingest::DEVCARE_INGEST_ACCEPTED, DEVCARE_OK),
            Ingest::Duplicate => (devcare_ingest::DEVCARE_INGEST_DUPLICATE, DEVCARE_OK),
            Ingest::Rejected(rejection) => {
                let e = HostError::from(rejection.clone());
                let code = fail(code_of(&e), e.to_string());
                (devcare_ingest::DEVCARE_INGEST_REJECTED, code)
            }
        };
        put!(outcome, o);
        put!(reason, r);
        put!(dm_status, ingest.dm_status());
        DEVCARE_OK
    })
}

/// Ingests an OMA DM message carrying devcare Generic Alerts at `now_ms`, sent in the DM
/// session of `session_device`: the device the host authenticated (SyncHdr Source and
/// credentials), never an id read from the message. On `DEVCARE_OK`: `*reports` reports
/// were read, `*accepted` of them accepted, `*duplicates` duplicates; `*dm_status` is 200
/// when every report was accepted or a duplicate, else the status of the first refused
/// one. A message refused as a whole changes nothing and gives one of the
/// `DEVCARE_ALERT_*` codes: `_NOT_SENDER` (a report for another device: answer 403),
/// `_UNKNOWN_SENDER` (401), `_UNKNOWN_TYPE` (415), `_TOO_LARGE` and `_TOO_MANY_ITEMS`
/// (413), the others 400.
///
/// # Safety
/// `xml` valid for `len` bytes; `session_device` NUL-terminated; out-params valid for
/// writes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn devcare_server_ingest_alert(
    server: *mut devcare_server,
    xml: *const c_char,
    len: usize,
    session_device: *const c_char,
    now_ms: u64,
    reports: *mut usize,
    accepted: *mut usize,
    duplicates: *mut usize,
    dm_status: *mut u16,
) -> devcare_result {
    guard(|| {
        try_handle!(h = server);
        let xml = tri!(text(try_slice!(xml.cast::<u8>(), len, "xml"), "xml"));
        let session = try_str!(session_device);
        try_out!(reports, accepted, duplicates, dm_status);
        let done = try_host!(h.host.ingest_alert(xml, session, Timestamp(now_ms)));
        // SAFETY: the out-parameters were checked non-NULL above.
        unsafe { put_alert_outcome(&done, reports, accepted, duplicates, dm_status) };
        DEVCARE_OK
    })
}

/// `devcare_server_ingest_alert` for a trusted gateway that relays the reports of many
/// devices: an explicit opt-in of the host, which names in `devices` (count `n_devices`)
/// every device the gateway may speak for. A report for any other device refuses the
/// message with `DEVCARE_ALERT_NOT_SENDER` (answer 403).
///
/// # Safety
/// `xml` valid for `len` bytes; `devices` `n_devices` NUL-terminated strings (NULL when
/// 0); out-params valid for writes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn devcare_server_ingest_gateway_alert(
    server: *mut devcare_server,
    xml: *const c_char,
    len: usize,
    devices: *const *const c_char,
    n_devices: usize,
    now_ms: u64,
    reports: *mut usize,
    accepted: *mut usize,
    duplicates: *mut usize,
    dm_status: *mut u16,
) -> devcare_result {
    guard(|| {
        try_handle!(h = server);
        let xml = tri!(text(try_slice!(xml.cast::<u8>(), len, "xml"), "xml"));
        let devices = try_str_array!(devices, n_devices);
        try_out!(reports, accepted, duplicates, dm_status);
        let done = try_host!(
            h.host
                .ingest_gateway_alert(xml, &devices, Timestamp(now_ms))
        );
        // SAFETY: the out-parameters were checked non-NULL above.
        unsafe { put_alert_outcome(&done, reports, accepted, duplicates, dm_status) };
        DEVCARE_OK
    })
}

/// Writes what a message of Generic Alerts came to.
///
/// # Safety
/// Every pointer non-NULL and valid for a write (the caller checked them with `try_out!`).
unsafe fn put_alert_outcome(
    done: &AlertIngest,
    reports: *mut usize,
    accepted: *mut usize,
    duplicates: *mut usize,
    dm_status: *mut u16,
) {
    put!(reports, done.outcomes.len());
    put!(accepted, done.accepted());
    put!(duplicates, done.duplicates());
    put!(dm_status, done.dm_status());
}

/// A care order the host must send by unicast.
#[repr(C)]
#[derive(Debug)]
pub struct devcare_care_order {
    /// Campaign id, NUL-terminated.
    pub campaign: [c_char; 65],
    /// Device id, NUL-terminated.
    pub device: [c_char; 129],
    /// The campaign revision the care is for (pass it to `devcare_device_receive_care`).
    pub revision: u32,
    /// Care attempt (from 1).
    pub attempt: u32,
    /// Number of setting indices written to the caller's array.
    pub settings_count: usize,
}

/// The next care order due at `now_ms` (any campaign), marked dispatched: fills `*order`
/// and writes the setting indices to `settings` (capacity `cap`; 256 suffice for the
/// default limits). `DEVCARE_NOTHING_DUE` when none.
///
/// # Safety
/// `order` valid for a write; `settings` for `cap` writes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn devcare_server_next_care(
    server: *mut devcare_server,
    now_ms: u64,
    order: *mut devcare_care_order,
    settings: *mut u32,
    cap: usize,
) -> devcare_result {
    guard(|| {
        try_handle!(h = server);
        try_out!(order, settings);
        let now = Timestamp(now_ms);
        if let Some((_, o)) = h.host.peek_care(now)
            && cap < o.settings.len()
        {
            return fail(
                DEVCARE_BUFFER_TOO_SMALL,
                format!("{} setting indices, room for {cap}", o.settings.len()),
            );
        }
        let Some((id, o)) = try_host!(h.host.next_care(now)) else {
            return DEVCARE_NOTHING_DUE;
        };
        // SAFETY: `order` checked non-NULL and writable per contract.
        let ord = unsafe { &mut *order };
        try_write_str!(id.as_str(), ord.campaign.as_mut_ptr(), ord.campaign.len());
        try_write_str!(o.device.as_str(), ord.device.as_mut_ptr(), ord.device.len());
        ord.revision = o.revision;
        ord.attempt = o.attempt;
        ord.settings_count = o.settings.len();
        // SAFETY: `settings` holds `cap` >= len entries (checked above).
        unsafe { std::ptr::copy_nonoverlapping(o.settings.as_ptr(), settings, o.settings.len()) };
        DEVCARE_OK
    })
}

/// Records the outcome of care `attempt` for `device` in `campaign`.
///
/// # Safety
/// Strings NUL-terminated.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn devcare_server_care_outcome(
    server: *mut devcare_server,
    campaign: *const c_char,
    device: *const c_char,
    attempt: u32,
    success: bool,
    now_ms: u64,
) -> devcare_result {
    guard(|| {
        try_handle!(h = server);
        let id = try_str!(campaign);
        let dev = try_str!(device);
        try_host!(
            h.host
                .care_outcome(id, dev, attempt, success, Timestamp(now_ms))
        );
        DEVCARE_OK
    })
}

/// `device_id` checked in at `now_ms` stating it applied `campaign` up to
/// `applied_revision` (0: never). A target behind gets care for every setting;
/// `*care_opened` says whether it did. A device that is not a target is
/// `DEVCARE_NOT_TARGETED`.
///
/// # Safety
/// Strings NUL-terminated; `care_opened` valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn devcare_server_check_in(
    server: *mut devcare_server,
    campaign: *const c_char,
    device_id: *const c_char,
    applied_revision: u32,
    now_ms: u64,
    care_opened: *mut bool,
) -> devcare_result {
    guard(|| {
        try_handle!(h = server);
        let id = try_str!(campaign);
        let dev = try_str!(device_id);
        try_out!(care_opened);
        let opened = try_host!(
            h.host
                .check_in(id, dev, applied_revision, Timestamp(now_ms))
        );
        put!(care_opened, opened);
        DEVCARE_OK
    })
}

/// The `index`-th care order of `campaign` dispatched and not answered yet, the soonest to
/// expire first: its device (into `device_buf`), attempt and expiry. One without an outcome
/// by `*expires_ms` counts as a failed attempt at the next `devcare_server_tick`.
/// `DEVCARE_NOTHING_DUE` past the last one (index 0: nothing in flight).
///
/// # Safety
/// `campaign` NUL-terminated; `device_buf` valid for `device_cap` bytes; `attempt` and
/// `expires_ms` valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn devcare_server_care_in_flight(
    server: *mut devcare_server,
    campaign: *const c_char,
    index: usize,
    device_buf: *mut c_char,
    device_cap: usize,
    attempt: *mut u32,
    expires_ms: *mut u64,
) -> devcare_result {
    guard(|| {
        try_handle!(h = server);
        let id = try_str!(campaign);
        try_out!(device_buf, attempt, expires_ms);
        let Some(c) = try_host!(h.host.care_in_flight(id)).into_iter().nth(index) else {
            return DEVCARE_NOTHING_DUE;
        };
        try_write_str!(c.device.as_str(), device_buf, device_cap);
        put!(attempt, c.attempt);
        put!(expires_ms, c.expires.as_millis());
        DEVCARE_OK
    })
}

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

/// Sets `campaign`'s coverage floor (`floor` in (0, 1]) and what runs below it:
/// `DEVCARE_FALLBACK_NONE`, `_REBROADCAST` or `_UNICAST` at `per_minute` devices per
/// minute (ignored otherwise). Server-side policy, kept across revisions. The server checks
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
            other => {
                return fail(
                    DEVCARE_INVALID_ARGUMENT,
                    format!(
                        "fallback {other} is not DEVCARE_FALLBACK_NONE, _REBROADCAST or _UNICAST"
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
