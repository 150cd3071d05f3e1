//! `DeviceHost`: a thin uniffi object over the Rust [`devcare::host::DeviceHost`] of the same name.

use std::sync::{Arc, Mutex};

use devcare::Timestamp;
use devcare::host;

use crate::tree::{ApplyOutcome, DmTree, apply_with, to_result};
use crate::{DevcareError, lock};

/// A report to send now, as an OMA DM Generic Alert.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct DueAlert {
    /// The campaign it belongs to.
    pub campaign: String,
    /// Its attempt number.
    pub attempt: u32,
    /// The `<Alert>` XML.
    pub xml: String,
}

/// A report to send now.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct DueReport {
    /// The campaign it belongs to.
    pub campaign: String,
    /// Its attempt number.
    pub attempt: u32,
    /// The authenticated wire bytes.
    pub bytes: Vec<u8>,
}

impl From<host::DueReport> for DueReport {
    fn from(d: host::DueReport) -> Self {
        DueReport {
            campaign: d.campaign.to_string(),
            attempt: d.attempt,
            bytes: d.bytes,
        }
    }
}

/// Work a device took on and did not finish.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct PendingWork {
    /// The campaign.
    pub campaign: String,
    /// Null: the campaign's settings; otherwise that care attempt's.
    pub care_attempt: Option<u32>,
    /// The settings still without a recorded result, by URI.
    pub setting_uris: Vec<String>,
}

/// What a device states about one campaign when it checks in.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct CheckInRecord {
    /// The campaign.
    pub campaign: String,
    /// The last revision of it the device applied successfully (0: none).
    pub applied_revision: u32,
}

/// A handset's devcare agent: one device, one stream per campaign. Thread-safe.
/// What the device made of the DM status the server answered its report with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum ReportAnswer {
    /// A 2xx: acknowledged, not sent again.
    Acknowledged,
    /// A definitive refusal (any 4xx but 408 and 429): the device stops sending it.
    RefusedForGood,
    /// Anything else: sent again on its schedule.
    SendAgain,
}

#[derive(Debug, uniffi::Object)]
pub struct DeviceHost(pub(crate) Mutex<host::DeviceHost>);

#[uniffi::export]
impl DeviceHost {
    /// Opens the agent of `device_id`, member of `groups` (for group campaigns; may be
    /// empty), trusting payloads signed by `server_public_key` (32 bytes) and authenticating
    /// reports with `device_key` (32 bytes). `store_path` null keeps the log in memory;
    /// otherwise it is a directory (created if missing) holding the log in one append-only
    /// file, `devcare.log`, locked while the agent is open. A sled directory from devcare
    /// 0.7 or older opens as before when the library has its `sled` feature (the default).
    #[uniffi::constructor]
    pub fn open(
        store_path: Option<String>,
        device_id: String,
        groups: Vec<String>,
        server_public_key: Vec<u8>,
        device_key: Vec<u8>,
    ) -> Result<Arc<Self>, DevcareError> {
        let path = store_path.as_deref().map(std::path::Path::new);
        let host =
            host::DeviceHost::open(path, &device_id, groups, &server_public_key, &device_key)?;
        Ok(Arc::new(DeviceHost(Mutex::new(host))))
    }

    /// Feeds a received broadcast payload: verifies it, then `tree` applies each setting.
    pub fn receive_payload(
        &self,
        payload: Vec<u8>,
        now_ms: u64,
        tree: Arc<dyn DmTree>,
    ) -> Result<(), DevcareError> {
        let mut host = lock(&self.0)?;
        let failed = host.receive(&payload, Timestamp(now_ms), apply_with(tree.as_ref()))?;
        failed.map_or(Ok(()), Err)
    }

    /// Lets time pass; returns when the next tick is needed (null when nothing waits).
    pub fn tick(&self, now_ms: u64) -> Result<Option<u64>, DevcareError> {
        let next = lock(&self.0)?.tick(Timestamp(now_ms))?;
        Ok(next.map(Timestamp::as_millis))
    }

    /// The report to send at `now_ms`, if one is due.
    pub fn next_report(&self, now_ms: u64) -> Result<Option<DueReport>, DevcareError> {
        let due = lock(&self.0)?.next_report(Timestamp(now_ms))?;
        Ok(due.map(DueReport::from))
    }

    /// The report due at `now_ms` rendered as an OMA DM 1.2 Generic Alert (`<Alert>` XML),
    /// for a DM client that sends it in its session; null when none is due.
    pub fn next_report_alert(&self, now_ms: u64) -> Result<Option<DueAlert>, DevcareError> {
        let due = lock(&self.0)?.next_report_alert(Timestamp(now_ms));
        Ok(due.map(|d| DueAlert {
            campaign: d.campaign.to_string(),
            attempt: d.attempt,
            xml: d.xml,
        }))
    }

    /// The host sent report `attempt` of `campaign`.
    pub fn report_sent(
        &self,
        campaign: String,
        attempt: u32,
        now_ms: u64,
    ) -> Result<(), DevcareError> {
        Ok(lock(&self.0)?.report_sent(&campaign, attempt, Timestamp(now_ms))?)
    }

    /// The server acknowledged report `attempt` of `campaign`.
    pub fn report_acknowledged(
        &self,
        campaign: String,
        attempt: u32,
        now_ms: u64,
    ) -> Result<(), DevcareError> {
        Ok(lock(&self.0)?.report_acknowledged(&campaign, attempt, Timestamp(now_ms))?)
    }

    /// The server answered report `attempt` with `status`, a definitive refusal (any 4xx but
    /// 408 and 429): stop resending it. Refused (`not-a-refusal`) for any other status.
    pub fn report_refused(
        &self,
        campaign: String,
        attempt: u32,
        status: u16,
        now_ms: u64,
    ) -> Result<(), DevcareError> {
        Ok(lock(&self.0)?.report_refused(&campaign, attempt, status, Timestamp(now_ms))?)
    }

    /// The server answered report `attempt` of `campaign` with DM status `status` (the
    /// Data of the Status for its Alert, or the answer to a binary report): a 2xx
    /// acknowledges it, a definitive refusal stops it, anything else leaves it to be resent.
    /// Returns which.
    pub fn report_status(
        &self,
        campaign: String,
        attempt: u32,
        status: u16,
        now_ms: u64,
    ) -> Result<ReportAnswer, DevcareError> {
        let a = lock(&self.0)?.report_status(&campaign, attempt, status, Timestamp(now_ms))?;
        Ok(match a {
            devcare::rules::ReportAnswer::Acknowledged => ReportAnswer::Acknowledged,
            devcare::rules::ReportAnswer::RefusedForGood => ReportAnswer::RefusedForGood,
            devcare::rules::ReportAnswer::SendAgain => ReportAnswer::SendAgain,
        })
    }

    /// Unicast care for `revision` arrived: `tree` re-applies the settings at `settings`
    /// (indices). Refused (`wrong-revision`) when the device holds another revision.
    /// Returns the device's own verdict (the care results checked by the campaign's result
    /// conditions): tell it to the server as the care outcome.
    pub fn receive_care(
        &self,
        campaign: String,
        revision: u32,
        attempt: u32,
        settings: Vec<u32>,
        now_ms: u64,
        tree: Arc<dyn DmTree>,
    ) -> Result<bool, DevcareError> {
        let mut host = lock(&self.0)?;
        let done = host.receive_care(
            &campaign,
            revision,
            attempt,
            settings,
            Timestamp(now_ms),
            apply_with(tree.as_ref()),
        )?;
        done.host_error.map_or(Ok(done.recovered), Err)
    }

    /// The app read `campaign`'s settings back at `now_ms` (one outcome per setting, in
    /// order). A device that was done and now fails the campaign's result conditions has
    /// relapsed: it reports again at its slot (`nextReport`) and the server opens a new care
    /// cycle. Returns whether it relapsed; nothing changes while the settings pass.
    pub fn recheck(
        &self,
        campaign: String,
        results: Vec<ApplyOutcome>,
        now_ms: u64,
    ) -> Result<bool, DevcareError> {
        let results = results.into_iter().map(to_result).collect();
        Ok(lock(&self.0)?.recheck(&campaign, results, Timestamp(now_ms))?)
    }

    /// Also trusts payloads signed by `server_public_key` (32 bytes): a server key rotation
    /// starts. Returns the key's 8-byte id.
    pub fn add_trusted_key(&self, server_public_key: Vec<u8>) -> Result<Vec<u8>, DevcareError> {
        Ok(lock(&self.0)?.add_trusted_key(&server_public_key)?.to_vec())
    }

    /// Stops trusting the server key with id `key_id` (8 bytes); returns whether it was
    /// trusted. Refused for the last trusted key.
    pub fn remove_trusted_key(&self, key_id: Vec<u8>) -> Result<bool, DevcareError> {
        Ok(lock(&self.0)?.remove_trusted_key(&key_id)?)
    }

    /// What to state when checking in on an ordinary DM session: per campaign this device
    /// knows, the last revision it applied successfully (0: none).
    pub fn check_in(&self) -> Result<Vec<CheckInRecord>, DevcareError> {
        Ok(lock(&self.0)?
            .check_in()
            .into_iter()
            .map(|c| CheckInRecord {
                campaign: c.campaign.to_string(),
                applied_revision: c.applied_revision,
            })
            .collect())
    }

    /// Failure reports to send again when checking in: failures this device gave up
    /// reporting unacknowledged, each its last attempt again. Send each as any report and
    /// tell the answer under its attempt.
    pub fn check_in_reports(&self) -> Result<Vec<DueReport>, DevcareError> {
        Ok(lock(&self.0)?
            .check_in_reports()?
            .into_iter()
            .map(DueReport::from)
            .collect())
    }

    /// Work taken on and not finished (e.g. the device died mid-apply); check it after
    /// every open.
    pub fn pending(&self) -> Result<Vec<PendingWork>, DevcareError> {
        Ok(lock(&self.0)?
            .pending()
            .into_iter()
            .map(|p| PendingWork {
                campaign: p.campaign.to_string(),
                care_attempt: p.care_attempt,
                setting_uris: p.settings.iter().map(|s| s.uri.to_string()).collect(),
            })
            .collect())
    }

    /// Finishes every pending piece of work: `tree` applies its settings. Returns how many
    /// were finished.
    pub fn resume(&self, now_ms: u64, tree: Arc<dyn DmTree>) -> Result<u32, DevcareError> {
        let mut host = lock(&self.0)?;
        let (n, failed) = host.resume(Timestamp(now_ms), apply_with(tree.as_ref()))?;
        failed.map_or(Ok(u32::try_from(n).unwrap_or(u32::MAX)), Err)
    }

    /// Input refused since open (all reasons).
    pub fn rejections(&self) -> Result<u64, DevcareError> {
        Ok(lock(&self.0)?.rejected())
    }

    /// Bytes of a torn tail the open of the device's log set aside (the last appends a
    /// power cut interrupted); 0 for a whole log. After a nonzero value, `recheck` the tree.
    pub fn torn_tail(&self) -> Result<u64, DevcareError> {
        Ok(lock(&self.0)?.torn_tail())
    }
}
