//! Kotlin, Swift and Python bindings of devcare (uniffi proc-macros, no UDL).
//!
//! The same logic as the C API and the Rust crate: `DeviceAgent` for a handset (its DM tree
//! is a foreign trait, [`DmTree`], implemented in the app's own language) and `CareServer`
//! for a DM server, plus the slot functions whose vectors every binding checks.
#![forbid(unsafe_code)]

use std::sync::{Arc, Mutex, MutexGuard};

use devcare::payload::{PayloadLimits, ServerKey, TrustedKeys, build_payload};
use devcare::runtime::{self, Ingest, IngestRejection, MasterKeys, RuntimeError};
use devcare::store::{AnyStore, StoreError};
use devcare::wire::{self, DeviceKey};
use devcare::{
    ApplyResult, Campaign, CampaignId, DeviceCommand, DeviceId, ServerCommand, Timestamp,
};

uniffi::setup_scaffolding!("devcare");

/// The one error type of the bindings.
#[derive(Debug, thiserror::Error, uniffi::Error)]
pub enum DevcareError {
    /// devcare refused the input (a forged payload, a stale revision, a duplicate…):
    /// nothing changed. `reason` is a short stable name.
    #[error("refused ({reason}): {detail}")]
    Refused {
        /// Short stable name, e.g. "bad-signature", "not-targeted", "stale-revision".
        reason: String,
        /// What happened.
        detail: String,
    },
    /// An argument is malformed (a key of the wrong length, an invalid id, a bad campaign
    /// file — with file:line:col).
    #[error("invalid input: {detail}")]
    InvalidInput {
        /// What is wrong.
        detail: String,
    },
    /// The event store failed.
    #[error("store: {detail}")]
    Store {
        /// What failed.
        detail: String,
    },
    /// The host's DM tree callback failed.
    #[error("host callback failed: {detail}")]
    Callback {
        /// The host's message.
        detail: String,
    },
}

impl From<uniffi::UnexpectedUniFFICallbackError> for DevcareError {
    fn from(e: uniffi::UnexpectedUniFFICallbackError) -> Self {
        DevcareError::Callback { detail: e.reason }
    }
}

impl From<StoreError> for DevcareError {
    fn from(e: StoreError) -> Self {
        DevcareError::Store {
            detail: e.to_string(),
        }
    }
}

fn invalid(message: impl ToString) -> DevcareError {
    DevcareError::InvalidInput {
        detail: message.to_string(),
    }
}

fn refused(reason: &str, message: impl ToString) -> DevcareError {
    DevcareError::Refused {
        reason: reason.to_string(),
        detail: message.to_string(),
    }
}

fn device_reason(e: &devcare::DeviceError) -> &'static str {
    use devcare::DeviceError as E;
    match e {
        E::NotTargeted { .. } => "not-targeted",
        E::StaleRevision { .. } => "stale-revision",
        E::Invalid(_) => "invalid-campaign",
        E::NotDue { .. } => "not-due",
        E::WrongAttempt { .. } => "wrong-attempt",
        _ => "wrong-phase",
    }
}

fn from_device(e: RuntimeError<devcare::DeviceError>) -> DevcareError {
    match e {
        RuntimeError::Refused(d) => refused(device_reason(&d), &d),
        RuntimeError::Payload(p) => refused(p.reason(), &p),
        RuntimeError::Store(s) => s.into(),
    }
}

fn from_server(e: RuntimeError<devcare::ServerError>) -> DevcareError {
    match e {
        RuntimeError::Refused(s) => refused(runtime::server_reason(&s), &s),
        RuntimeError::Payload(p) => refused(p.reason(), &p),
        RuntimeError::Store(s) => s.into(),
    }
}

fn key32(v: &[u8], what: &str) -> Result<[u8; 32], DevcareError> {
    v.try_into()
        .map_err(|_| invalid(format!("{what} must be 32 bytes, got {}", v.len())))
}

fn salt16(v: &[u8]) -> Result<[u8; 16], DevcareError> {
    v.try_into()
        .map_err(|_| invalid(format!("salt must be 16 bytes, got {}", v.len())))
}

fn device_id(s: &str) -> Result<DeviceId, DevcareError> {
    DeviceId::new(s).map_err(invalid)
}

fn campaign_id(s: &str) -> Result<CampaignId, DevcareError> {
    CampaignId::new(s).map_err(invalid)
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

// ---------------------------------------------------------------------------------------
// The host's DM tree

/// The DM command of a setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum DmOp {
    /// Add.
    Add,
    /// Replace.
    Replace,
    /// Delete.
    Delete,
    /// Exec.
    Exec,
}

/// A typed DM node value.
#[derive(Debug, Clone, PartialEq, uniffi::Enum)]
pub enum DmValue {
    /// No value.
    Null,
    /// Text.
    Str {
        /// The text.
        value: String,
    },
    /// Integer.
    Int {
        /// The integer.
        value: i64,
    },
    /// Boolean.
    Bool {
        /// The boolean.
        value: bool,
    },
    /// Float.
    Float {
        /// The float.
        value: f64,
    },
    /// Binary.
    Bytes {
        /// The bytes.
        value: Vec<u8>,
    },
}

/// One setting the host applies to its DM tree.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct DmSetting {
    /// The DM command.
    pub op: DmOp,
    /// The node, e.g. "./AP/Default/APN".
    pub uri: String,
    /// The value.
    pub value: DmValue,
}

/// A read-back check of a node after applying it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum VerifyOutcome {
    /// Not read back.
    NotChecked,
    /// Reads back as provisioned.
    Match,
    /// Reads back differently.
    Mismatch,
}

/// The host's result for one setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Record)]
pub struct ApplyOutcome {
    /// OMA DM status code (200 ok; 404, 405, 415, 420, 500 … failures).
    pub status: u16,
    /// Read-back check.
    pub verify: VerifyOutcome,
}

/// The app's DM tree, implemented in Kotlin, Swift or Python.
#[uniffi::export(with_foreign)]
pub trait DmTree: Send + Sync {
    /// Applies one setting; returns its OMA DM status code. Throwing stops the apply: the
    /// remaining settings count as not applied (which `payload-incomplete` detects).
    fn apply(&self, setting: DmSetting) -> Result<ApplyOutcome, DevcareError>;
}

fn to_dm(s: &devcare::Setting) -> DmSetting {
    use devcare::{SettingOp as O, Value as V};
    DmSetting {
        op: match s.op {
            O::Add => DmOp::Add,
            O::Replace => DmOp::Replace,
            O::Delete => DmOp::Delete,
            O::Exec => DmOp::Exec,
        },
        uri: s.uri.clone(),
        value: match &s.value {
            V::Null => DmValue::Null,
            V::Str(v) => DmValue::Str { value: v.clone() },
            V::Int(v) => DmValue::Int { value: *v },
            V::Bool(v) => DmValue::Bool { value: *v },
            V::Float(v) => DmValue::Float { value: *v },
            V::Bytes(v) => DmValue::Bytes { value: v.clone() },
        },
    }
}

fn from_outcome(o: ApplyOutcome) -> ApplyResult {
    ApplyResult {
        status: o.status,
        verify: match o.verify {
            VerifyOutcome::NotChecked => devcare::Verify::NotChecked,
            VerifyOutcome::Match => devcare::Verify::Match,
            VerifyOutcome::Mismatch => devcare::Verify::Mismatch,
        },
    }
}

// ---------------------------------------------------------------------------------------
// Device

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

#[derive(Debug)]
struct DeviceInner {
    agent: runtime::DeviceAgent<AnyStore>,
    trusted: TrustedKeys,
    key: DeviceKey,
    limits: PayloadLimits,
}

/// A handset's devcare agent: one device, one stream per campaign. Thread-safe.
#[derive(Debug, uniffi::Object)]
pub struct DeviceAgent(Mutex<DeviceInner>);

#[uniffi::export]
impl DeviceAgent {
    /// Opens the agent of `device_id`, trusting payloads signed by `server_public_key` (32
    /// bytes) and authenticating reports with `device_key` (32 bytes). `sled_path` null keeps
    /// the log in memory.
    #[uniffi::constructor]
    pub fn open(
        sled_path: Option<String>,
        device_id: String,
        server_public_key: Vec<u8>,
        device_key: Vec<u8>,
    ) -> Result<Arc<Self>, DevcareError> {
        let id = self::device_id(&device_id)?;
        let mut trusted = TrustedKeys::new();
        trusted
            .add_bytes(&key32(&server_public_key, "server_public_key")?)
            .map_err(invalid)?;
        let key = key32(&device_key, "device_key")?;
        let store = AnyStore::open(sled_path.as_deref().map(std::path::Path::new))?;
        let agent = runtime::DeviceAgent::open(store, id, vec![])?;
        Ok(Arc::new(DeviceAgent(Mutex::new(DeviceInner {
            agent,
            trusted,
            key,
            limits: PayloadLimits::default(),
        }))))
    }

    /// Feeds a received broadcast payload: verifies it, then `tree` applies each setting.
    pub fn receive_payload(
        &self,
        payload: Vec<u8>,
        now_ms: u64,
        tree: Arc<dyn DmTree>,
    ) -> Result<(), DevcareError> {
        let mut g = lock(&self.0);
        let d = &mut *g;
        let host = d
            .agent
            .receive_and_apply(&payload, &d.trusted, &d.limits, Timestamp(now_ms), |s| {
                tree.apply(to_dm(s)).map(from_outcome)
            })
            .map_err(from_device)?;
        d.agent.flush()?;
        host.map_or(Ok(()), Err)
    }

    /// Lets time pass; returns when the next tick is needed (null when nothing waits).
    pub fn tick(&self, now_ms: u64) -> Result<Option<u64>, DevcareError> {
        let mut g = lock(&self.0);
        g.agent.tick(Timestamp(now_ms)).map_err(from_device)?;
        g.agent.flush()?;
        Ok(g.agent.next_wake().map(Timestamp::as_millis))
    }

    /// The report to send at `now_ms`, if one is due.
    pub fn next_report(&self, now_ms: u64) -> Result<Option<DueReport>, DevcareError> {
        let g = lock(&self.0);
        match g.agent.next_due_report(Timestamp(now_ms), &g.key) {
            None => Ok(None),
            Some((id, r, bytes)) => Ok(Some(DueReport {
                campaign: id.to_string(),
                attempt: r.attempt,
                bytes: bytes.map_err(|e| refused(e.reason(), &e))?,
            })),
        }
    }

    /// The report due at `now_ms` rendered as an OMA DM 1.2 Generic Alert (`<Alert>` XML),
    /// for a DM client that sends it in its session; null when none is due.
    pub fn next_report_alert(&self, now_ms: u64) -> Option<DueAlert> {
        let g = lock(&self.0);
        g.agent
            .next_due_alert(Timestamp(now_ms), None)
            .map(|(id, r, xml)| DueAlert {
                campaign: id.to_string(),
                attempt: r.attempt,
                xml,
            })
    }

    /// The host sent report `attempt` of `campaign`.
    pub fn report_sent(
        &self,
        campaign: String,
        attempt: u32,
        now_ms: u64,
    ) -> Result<(), DevcareError> {
        self.command(
            &campaign,
            DeviceCommand::MarkSent {
                attempt,
                at: Timestamp(now_ms),
            },
        )
    }

    /// The server acknowledged report `attempt` of `campaign`.
    pub fn report_acknowledged(
        &self,
        campaign: String,
        attempt: u32,
        now_ms: u64,
    ) -> Result<(), DevcareError> {
        self.command(
            &campaign,
            DeviceCommand::Acknowledge {
                attempt,
                at: Timestamp(now_ms),
            },
        )
    }

    /// Unicast care arrived: `tree` re-applies the settings at `settings` (indices).
    pub fn receive_care(
        &self,
        campaign: String,
        attempt: u32,
        settings: Vec<u32>,
        now_ms: u64,
        tree: Arc<dyn DmTree>,
    ) -> Result<(), DevcareError> {
        let id = campaign_id(&campaign)?;
        let mut g = lock(&self.0);
        let host = g
            .agent
            .receive_care_and_apply(&id, attempt, settings, Timestamp(now_ms), |s| {
                tree.apply(to_dm(s)).map(from_outcome)
            })
            .map_err(from_device)?;
        g.agent.flush()?;
        host.map_or(Ok(()), Err)
    }

    /// Input refused since open (all reasons).
    pub fn rejections(&self) -> u64 {
        lock(&self.0).agent.rejections().values().sum()
    }
}

impl DeviceAgent {
    fn command(&self, campaign: &str, cmd: DeviceCommand) -> Result<(), DevcareError> {
        let id = campaign_id(campaign)?;
        let mut g = lock(&self.0);
        if g.agent.state(&id).is_none() {
            return Err(refused(
                "unknown-campaign",
                format!("no campaign {id} on this device"),
            ));
        }
        g.agent.handle(&id, &cmd).map_err(from_device)?;
        g.agent.flush()?;
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------
// Server

/// What became of an ingested report.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum IngestOutcome {
    /// Accepted: care is scheduled (or the success probe counted).
    Accepted,
    /// Already known: acknowledge, nothing changed.
    Duplicate,
    /// Refused, nothing changed.
    Rejected {
        /// Short stable name ("bad-mac", "not-targeted", …).
        reason: String,
        /// What happened.
        detail: String,
    },
}

/// An ingest outcome with the OMA DM status to answer.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct IngestResult {
    /// What happened.
    pub outcome: IngestOutcome,
    /// 200, 400, 401, 403, 404, 413, 415 or 500.
    pub dm_status: u16,
}

/// A care order to send by unicast.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct CareOrder {
    /// Campaign id.
    pub campaign: String,
    /// Device id.
    pub device: String,
    /// Care attempt (from 1).
    pub attempt: u32,
    /// Setting indices to re-provision.
    pub settings: Vec<u32>,
}

/// Statistics of one campaign.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct CampaignStats {
    /// Target devices.
    pub targeted: u64,
    /// Failure reports accepted.
    pub failure_reports: u64,
    /// Success probes accepted.
    pub sampled_successes: u64,
    /// Reports accepted after settlement.
    pub late_reports: u64,
    /// Targets that checked in behind.
    pub checkins_behind: u64,
    /// Care orders sent.
    pub care_attempts: u64,
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
    /// Coverage estimate, when sampling is on.
    pub coverage: Option<f64>,
    /// 95% interval, low.
    pub coverage_lo: Option<f64>,
    /// 95% interval, high.
    pub coverage_hi: Option<f64>,
}

fn ingest_result(ingest: &Ingest) -> IngestResult {
    let outcome = match ingest {
        Ingest::Accepted(_) => IngestOutcome::Accepted,
        Ingest::Duplicate => IngestOutcome::Duplicate,
        Ingest::Rejected(r) => IngestOutcome::Rejected {
            reason: r.reason().to_string(),
            detail: match r {
                IngestRejection::Wire(e) => e.to_string(),
                IngestRejection::Refused(e) => e.to_string(),
            },
        },
    };
    IngestResult {
        outcome,
        dm_status: ingest.dm_status(),
    }
}

#[derive(Debug)]
struct ServerInner {
    server: runtime::CareServer<AnyStore>,
    keys: MasterKeys,
}

/// The DM server's devcare side. Thread-safe.
#[derive(Debug, uniffi::Object)]
pub struct CareServer(Mutex<ServerInner>);

#[uniffi::export]
impl CareServer {
    /// Opens a care server; device report keys derive from `master_key` (32 bytes).
    /// `sled_path` null keeps the log in memory.
    #[uniffi::constructor]
    pub fn open(sled_path: Option<String>, master_key: Vec<u8>) -> Result<Arc<Self>, DevcareError> {
        let keys = MasterKeys(key32(&master_key, "master_key")?);
        let store = AnyStore::open(sled_path.as_deref().map(std::path::Path::new))?;
        let server = runtime::CareServer::open(store)?;
        Ok(Arc::new(CareServer(Mutex::new(ServerInner {
            server,
            keys,
        }))))
    }

    /// Creates a campaign from campaign-file text; `targeted` is the number of targets (0 for
    /// an explicit device list). Returns the campaign id.
    pub fn create_campaign(
        &self,
        toml: String,
        targeted: u64,
        now_ms: u64,
    ) -> Result<String, DevcareError> {
        let c = Campaign::from_toml("campaign.toml", &toml).map_err(invalid)?;
        let id = c.id.clone();
        let mut g = lock(&self.0);
        let cmd = ServerCommand::Create {
            campaign: Box::new(c),
            targeted: (targeted > 0).then_some(targeted),
            at: Timestamp(now_ms),
        };
        g.server.handle(&id, &cmd).map_err(from_server)?;
        g.server.flush()?;
        Ok(id.to_string())
    }

    /// Signs `campaign` into its broadcast payload (secret `signing_seed`, 32 bytes) and
    /// records the broadcast.
    pub fn build_payload(
        &self,
        campaign: String,
        signing_seed: Vec<u8>,
        valid_until_ms: u64,
        now_ms: u64,
    ) -> Result<Vec<u8>, DevcareError> {
        let id = campaign_id(&campaign)?;
        let seed = key32(&signing_seed, "signing_seed")?;
        let mut g = lock(&self.0);
        let state = g
            .server
            .state(&id)
            .ok_or_else(|| refused("unknown-campaign", format!("no campaign {id}")))?;
        let c = state
            .campaign
            .clone()
            .ok_or_else(|| refused("unknown-campaign", format!("no campaign {id}")))?;
        let first = state.broadcast_at.is_none();
        let bytes = build_payload(
            &c,
            &ServerKey::from_seed(&seed),
            Timestamp(valid_until_ms),
            &PayloadLimits::default(),
        )
        .map_err(|e| refused(e.reason(), &e))?;
        if first {
            g.server
                .handle(
                    &id,
                    &ServerCommand::MarkBroadcast {
                        at: Timestamp(now_ms),
                    },
                )
                .map_err(from_server)?;
            g.server.flush()?;
        }
        Ok(bytes)
    }

    /// Ingests report bytes received at `now_ms`.
    pub fn ingest_report(&self, bytes: Vec<u8>, now_ms: u64) -> Result<IngestResult, DevcareError> {
        let mut g = lock(&self.0);
        let d = &mut *g;
        let ingest = d.server.ingest(&bytes, &d.keys, Timestamp(now_ms))?;
        let outcome = match &ingest {
            Ingest::Accepted(_) => IngestOutcome::Accepted,
            Ingest::Duplicate => IngestOutcome::Duplicate,
            Ingest::Rejected(r) => IngestOutcome::Rejected {
                reason: r.reason().to_string(),
                detail: match r {
                    IngestRejection::Wire(e) => e.to_string(),
                    IngestRejection::Refused(e) => e.to_string(),
                },
            },
        };
        Ok(IngestResult {
            outcome,
            dm_status: ingest.dm_status(),
        })
    }

    /// Ingests an OMA DM message carrying devcare Generic Alerts (authenticated by the DM
    /// session): one result per report. A message that does not parse is refused with reason
    /// "unknown-alert-type" (answer 415), "alert-too-large" (413) or "malformed-alert" (400).
    pub fn ingest_alert(
        &self,
        xml: String,
        now_ms: u64,
    ) -> Result<Vec<IngestResult>, DevcareError> {
        let mut g = lock(&self.0);
        let d = &mut *g;
        let limits = devcare::alert::AlertLimits::default();
        let list = d
            .server
            .ingest_alerts(&xml, &limits, &d.keys, Timestamp(now_ms))?
            .map_err(|e| {
                let reason = match e.dm_status() {
                    415 => "unknown-alert-type",
                    413 => "alert-too-large",
                    _ => "malformed-alert",
                };
                refused(reason, &e)
            })?;
        Ok(list.iter().map(ingest_result).collect())
    }

    /// The next care order due at `now_ms`, marked dispatched; null when none.
    pub fn next_care(&self, now_ms: u64) -> Result<Option<CareOrder>, DevcareError> {
        let mut g = lock(&self.0);
        let next = g
            .server
            .dispatch_next_care(Timestamp(now_ms))
            .map_err(from_server)?;
        g.server.flush()?;
        Ok(next.map(|(id, o)| CareOrder {
            campaign: id.to_string(),
            device: o.device.to_string(),
            attempt: o.attempt,
            settings: o.settings,
        }))
    }

    /// Records the outcome of care `attempt` for `device`.
    pub fn care_outcome(
        &self,
        campaign: String,
        device: String,
        attempt: u32,
        success: bool,
        now_ms: u64,
    ) -> Result<(), DevcareError> {
        let id = campaign_id(&campaign)?;
        let device = device_id(&device)?;
        let mut g = lock(&self.0);
        let cmd = ServerCommand::RecordCareOutcome {
            device,
            attempt,
            success,
            at: Timestamp(now_ms),
        };
        g.server.handle(&id, &cmd).map_err(from_server)?;
        g.server.flush()?;
        Ok(())
    }

    /// Lets time pass (settles campaigns past their deadline); returns the next wake-up.
    pub fn tick(&self, now_ms: u64) -> Result<Option<u64>, DevcareError> {
        let mut g = lock(&self.0);
        let next = g.server.tick_all(Timestamp(now_ms)).map_err(from_server)?;
        g.server.flush()?;
        Ok(next.map(Timestamp::as_millis))
    }

    /// The statistics of `campaign`.
    pub fn stats(&self, campaign: String) -> Result<CampaignStats, DevcareError> {
        let id = campaign_id(&campaign)?;
        let g = lock(&self.0);
        let s = g
            .server
            .state(&id)
            .ok_or_else(|| refused("unknown-campaign", format!("no campaign {id}")))?
            .stats();
        Ok(CampaignStats {
            targeted: s.targeted,
            failure_reports: s.failure_reports,
            sampled_successes: s.sampled_successes,
            late_reports: s.late_reports,
            checkins_behind: s.checkins_behind,
            care_attempts: s.care_attempts,
            in_care: s.in_care,
            recovered: s.recovered,
            escalated: s.escalated,
            abandoned: s.abandoned,
            presumed_ok: s.presumed_ok,
            paused: s.paused,
            settled: s.settled,
            coverage: s.coverage.map(|c| c.estimate),
            coverage_lo: s.coverage.map(|c| c.lo),
            coverage_hi: s.coverage.map(|c| c.hi),
        })
    }
}

// ---------------------------------------------------------------------------------------
// Keys and the slot function (checked against tests/vectors/slots.json in every language)

/// The ed25519 public key of the signing key with secret `seed` (32 bytes).
#[uniffi::export]
pub fn public_key(seed: Vec<u8>) -> Result<Vec<u8>, DevcareError> {
    Ok(ServerKey::from_seed(&key32(&seed, "seed")?)
        .public()
        .to_bytes()
        .to_vec())
}

/// A device's report key derived from the server's `master` secret.
#[uniffi::export]
pub fn derive_device_key(master: Vec<u8>, device_id: String) -> Result<Vec<u8>, DevcareError> {
    Ok(wire::derive_device_key(&key32(&master, "master")?, &self::device_id(&device_id)?).to_vec())
}

/// SipHash-2-4 of the device id under the campaign salt (16 bytes).
#[uniffi::export]
pub fn slot(salt: Vec<u8>, device_id: String) -> Result<u64, DevcareError> {
    Ok(devcare::slot::slot(
        &salt16(&salt)?,
        &self::device_id(&device_id)?,
    ))
}

/// When the first report is due: `evaluated_at + offset + slot % window`.
#[uniffi::export]
pub fn report_time(
    salt: Vec<u8>,
    device_id: String,
    evaluated_at_ms: u64,
    offset_ms: u64,
    window_ms: u64,
) -> Result<u64, DevcareError> {
    Ok(devcare::slot::first_report_at(
        &salt16(&salt)?,
        &self::device_id(&device_id)?,
        Timestamp(evaluated_at_ms),
        devcare::Duration(offset_ms),
        devcare::Duration(window_ms),
    )
    .as_millis())
}

/// Delay before resend `retry` (from 1).
#[uniffi::export]
pub fn retry_delay(
    salt: Vec<u8>,
    device_id: String,
    retry: u32,
    backoff_ms: u64,
    max_backoff_ms: u64,
) -> Result<u64, DevcareError> {
    let policy = devcare::RetryPolicy {
        attempts: 32,
        backoff: devcare::Duration(backoff_ms),
        max_backoff: devcare::Duration(max_backoff_ms),
    };
    Ok(devcare::slot::retry_delay(
        &salt16(&salt)?,
        &self::device_id(&device_id)?,
        retry,
        &policy,
    )
    .as_millis())
}

/// Whether a healthy device sends a success probe at `ppm` parts per million.
#[uniffi::export]
pub fn sampled(salt: Vec<u8>, device_id: String, ppm: u32) -> Result<bool, DevcareError> {
    Ok(devcare::slot::sampled(
        &salt16(&salt)?,
        &self::device_id(&device_id)?,
        ppm,
    ))
}

// ---------------------------------------------------------------------------------------
// Wire inspection (checked against tests/vectors/wire.json in every language)

/// What a verified payload carries.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct PayloadInfo {
    /// Campaign id.
    pub campaign: String,
    /// Revision.
    pub revision: u32,
    /// Issue time.
    pub issued_at_ms: u64,
    /// Expiry of the payload.
    pub valid_until_ms: u64,
    /// The settings' URIs, in order.
    pub setting_uris: Vec<String>,
}

/// Verifies a payload against `server_public_key` at `now_ms` and says what it carries.
#[uniffi::export]
pub fn open_payload(
    bytes: Vec<u8>,
    server_public_key: Vec<u8>,
    now_ms: u64,
) -> Result<PayloadInfo, DevcareError> {
    let mut trusted = TrustedKeys::new();
    trusted
        .add_bytes(&key32(&server_public_key, "server_public_key")?)
        .map_err(invalid)?;
    let p = devcare::payload::open_payload(
        &bytes,
        &trusted,
        Timestamp(now_ms),
        &PayloadLimits::default(),
    )
    .map_err(|e| refused(e.reason(), &e))?;
    Ok(PayloadInfo {
        campaign: p.campaign.id.to_string(),
        revision: p.campaign.revision,
        issued_at_ms: p.campaign.issued_at.as_millis(),
        valid_until_ms: p.valid_until.as_millis(),
        setting_uris: p.campaign.settings.iter().map(|s| s.uri.clone()).collect(),
    })
}

/// What an authenticated report says.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct ReportInfo {
    /// Campaign id.
    pub campaign: String,
    /// Revision.
    pub revision: u32,
    /// Reporting device.
    pub device: String,
    /// Attempt.
    pub attempt: u32,
    /// When the device evaluated.
    pub evaluated_at_ms: u64,
    /// "failure", "summary" or "success".
    pub kind: String,
    /// Indices of the settings the findings name.
    pub failed_settings: Vec<u32>,
}

/// Authenticates report bytes with `device_key` (32 bytes) and decodes them.
#[uniffi::export]
pub fn decode_report(bytes: Vec<u8>, device_key: Vec<u8>) -> Result<ReportInfo, DevcareError> {
    let key = key32(&device_key, "device_key")?;
    let r = wire::decode_report(&bytes, wire::DEFAULT_MAX_REPORT_BYTES, |_| Some(key))
        .map_err(|e| refused(e.reason(), &e))?;
    let (kind, failed) = match &r.kind {
        devcare::ReportKind::Failure { findings } => (
            "failure",
            findings
                .iter()
                .filter_map(devcare::Finding::setting)
                .collect(),
        ),
        devcare::ReportKind::FailureSummary { .. } => ("summary", vec![]),
        devcare::ReportKind::Success => ("success", vec![]),
    };
    Ok(ReportInfo {
        campaign: r.campaign.to_string(),
        revision: r.revision,
        device: r.device.to_string(),
        attempt: r.attempt,
        evaluated_at_ms: r.evaluated_at.as_millis(),
        kind: kind.to_string(),
        failed_settings: failed,
    })
}
