//! `ServerHost`: a thin uniffi object over the Rust [`devcare::host::ServerHost`] of the same
//! name.

use std::sync::{Arc, Mutex};

use devcare::Timestamp;
use devcare::host::{self, HostError, Ingest};
use devcare::server::{Fallback, FallbackDue};

use crate::{DevcareError, lock};

/// What became of an ingested report.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum IngestOutcome {
    /// Accepted: care is scheduled (or the success probe counted).
    Accepted,
    /// Already known: acknowledge, nothing changed.
    Duplicate,
    /// Refused, nothing changed.
    Rejected {
        /// The refusal's stable name ("bad-mac", "not-targeted", …).
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

/// What runs when a campaign's coverage is below its floor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum FallbackPolicy {
    /// Only record `BroadcastDegraded` (an operator decides).
    None,
    /// Broadcast the payload once more.
    Rebroadcast,
    /// Poll the silent targets by unicast, `per_minute` devices per minute: each states its
    /// revision (`checkIn`) and those behind get the payload as care.
    Unicast {
        /// Devices per minute.
        per_minute: u32,
    },
    /// A repair proportionate to the damage: poll a random sample of the silent targets,
    /// `per_minute` devices per minute, then rebroadcast, keep polling only while each
    /// device found costs at most three sessions, or wait for check-ins.
    Repair {
        /// Devices per minute.
        per_minute: u32,
    },
}

/// What a campaign's coverage fallback asks of the app now.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum FallbackAction {
    /// Nothing to do.
    Nothing,
    /// Broadcast the payload again, then call `recordRebroadcast`.
    Rebroadcast,
    /// Call `fallbackUnicast` for a batch of up to `allowance` devices.
    Unicast {
        /// Devices the pace allows now.
        allowance: u64,
    },
    /// The pace allows no device before `at_ms`.
    Wait {
        /// When the next batch is allowed (ms since the epoch).
        at_ms: u64,
    },
}

/// A care order to send by unicast.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct CareOrder {
    /// Campaign id.
    pub campaign: String,
    /// Device id.
    pub device: String,
    /// The campaign revision the care is for (pass it to `receiveCare`).
    pub revision: u32,
    /// Care attempt (from 1).
    pub attempt: u32,
    /// Setting indices to re-provision.
    pub settings: Vec<u32>,
}

/// A care order sent and not answered yet.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct InFlightCare {
    /// Device id.
    pub device: String,
    /// Care attempt.
    pub attempt: u32,
    /// Without an outcome by then (ms since the epoch), the attempt counts as failed at the
    /// next `tick`.
    pub expires_ms: u64,
}

/// Statistics of one campaign: the fields of `devcare::server::CampaignStats` under the
/// same names (the coverage interval flattened into three optionals). Each field's
/// meaning is in the README's "Campaign statistics" table.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct CampaignStats {
    pub targeted: u64,
    pub failure_reports: u64,
    pub success_probes: u64,
    pub late_reports: u64,
    pub checkins_behind: u64,
    pub care_dispatched: u64,
    pub care_timed_out: u64,
    pub in_care: u64,
    pub recovered: u64,
    pub escalated: u64,
    pub abandoned: u64,
    pub presumed_ok: u64,
    pub paused: bool,
    pub operator_paused: bool,
    /// The abort threshold's pause: since when (ms), failures, expected, threshold.
    pub breaker_since_ms: Option<u64>,
    pub breaker_failures: Option<u64>,
    pub breaker_expected: Option<u64>,
    pub breaker_threshold: Option<f64>,
    pub settled: bool,
    pub coverage: Option<f64>,
    pub coverage_lo: Option<f64>,
    pub coverage_hi: Option<f64>,
    /// `"known-sample"` (valid for this campaign) or `"design"` (on average over campaigns).
    pub coverage_basis: Option<String>,
    /// Of the targets presumed OK, how many may have missed the payload and not checked in
    /// yet, and how many may have failed with every report lost (95% upper bounds; `None`
    /// without sampling).
    pub presumed_missed_hi: Option<u64>,
    pub presumed_unheard_hi: Option<u64>,
    /// The deadline passed but that bound is above the campaign's limit: not settled yet.
    pub settlement_held: bool,
}

/// Which devices of a directory are in a campaign's success sample.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct SampleInfo {
    /// How many are sampled (what `setSampledTargets` takes).
    pub sampled: u64,
    /// The sampled devices the server has heard nothing from yet.
    pub silent: Vec<String>,
}

pub(crate) fn ingest_result(ingest: &Ingest) -> IngestResult {
    let outcome = match ingest {
        Ingest::Accepted(_) => IngestOutcome::Accepted,
        Ingest::Duplicate => IngestOutcome::Duplicate,
        Ingest::Rejected(r) => {
            let e = HostError::from(r.clone());
            IngestOutcome::Rejected {
                reason: e.reason().to_string(),
                detail: e.to_string(),
            }
        }
    };
    IngestResult {
        outcome,
        dm_status: ingest.dm_status(),
    }
}

/// The DM server's devcare side. Thread-safe.
#[derive(Debug, uniffi::Object)]
pub struct ServerHost(pub(crate) Mutex<host::ServerHost>);

#[uniffi::export]
impl ServerHost {
    /// Opens a care server; device report keys derive from `master_key` (32 bytes).
    /// `sled_path` null keeps the log in memory.
    #[uniffi::constructor]
    pub fn open(sled_path: Option<String>, master_key: Vec<u8>) -> Result<Arc<Self>, DevcareError> {
        let path = sled_path.as_deref().map(std::path::Path::new);
        Ok(Arc::new(ServerHost(Mutex::new(host::ServerHost::open(
            path,
            &master_key,
        )?))))
    }

    /// Records that `device` belongs to `groups` (replacing what was recorded; empty clears
    /// it). Group campaigns accept reports only from members. Kept in the store and read
    /// back on open; setting what is recorded appends nothing.
    pub fn set_device_groups(
        &self,
        device: String,
        groups: Vec<String>,
    ) -> Result<(), DevcareError> {
        Ok(lock(&self.0)?.set_device_groups(&device, groups)?)
    }

    /// Creates a campaign from campaign-file text; `targeted` is the number of targets (0 for
    /// an explicit device list). Returns the campaign id.
    pub fn create_campaign(
        &self,
        toml: String,
        targeted: u64,
        now_ms: u64,
    ) -> Result<String, DevcareError> {
        let id = lock(&self.0)?.create_campaign(&toml, targeted, Timestamp(now_ms))?;
        Ok(id.to_string())
    }

    /// Revises a live campaign from campaign-file text (same id, higher revision): the old
    /// revision's care stops and its reports are refused with DM 410.
    pub fn revise_campaign(
        &self,
        toml: String,
        targeted: u64,
        now_ms: u64,
    ) -> Result<String, DevcareError> {
        let id = lock(&self.0)?.revise_campaign(&toml, targeted, Timestamp(now_ms))?;
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
        Ok(lock(&self.0)?.build_payload(
            &campaign,
            &signing_seed,
            Timestamp(valid_until_ms),
            Timestamp(now_ms),
        )?)
    }

    /// Ingests report bytes received at `now_ms`.
    pub fn ingest_report(&self, bytes: Vec<u8>, now_ms: u64) -> Result<IngestResult, DevcareError> {
        let ingest = lock(&self.0)?.ingest_report(&bytes, Timestamp(now_ms))?;
        Ok(ingest_result(&ingest))
    }

    /// Ingests an OMA DM message carrying devcare Generic Alerts, sent in the DM session of
    /// `session_device` (the device the app's DM server authenticated, never an id read
    /// from the message): one result per report. A message refused as a whole changes
    /// nothing and carries the alert error's reason: "not-sender" (a report for another
    /// device: answer 403), "unknown-sender" (401), "unknown-type" (415), "too-large" or
    /// "too-many-items" (413), "malformed-xml", "no-generic-alert", "bad-data" or
    /// "inconsistent" (400).
    pub fn ingest_alert(
        &self,
        xml: String,
        session_device: String,
        now_ms: u64,
    ) -> Result<Vec<IngestResult>, DevcareError> {
        let done = lock(&self.0)?.ingest_alert(&xml, &session_device, Timestamp(now_ms))?;
        Ok(done.outcomes.iter().map(ingest_result).collect())
    }

    /// `ingestAlert` for a trusted gateway relaying for many devices: an explicit opt-in
    /// naming in `devices` whom it may speak for ("not-sender" for any other).
    pub fn ingest_gateway_alert(
        &self,
        xml: String,
        devices: Vec<String>,
        now_ms: u64,
    ) -> Result<Vec<IngestResult>, DevcareError> {
        let done = lock(&self.0)?.ingest_gateway_alert(&xml, &devices, Timestamp(now_ms))?;
        Ok(done.outcomes.iter().map(ingest_result).collect())
    }

    /// The next care order due at `now_ms`, marked dispatched; null when none.
    pub fn next_care(&self, now_ms: u64) -> Result<Option<CareOrder>, DevcareError> {
        let next = lock(&self.0)?.next_care(Timestamp(now_ms))?;
        Ok(next.map(|(id, o)| CareOrder {
            campaign: id.to_string(),
            device: o.device.to_string(),
            revision: o.revision,
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
        Ok(lock(&self.0)?.care_outcome(&campaign, &device, attempt, success, Timestamp(now_ms))?)
    }

    /// `device` checked in stating it applied `campaign` up to `applied_revision` (0:
    /// never); a target behind gets care. Returns whether care was opened.
    pub fn check_in(
        &self,
        campaign: String,
        device: String,
        applied_revision: u32,
        now_ms: u64,
    ) -> Result<bool, DevcareError> {
        Ok(lock(&self.0)?.check_in(&campaign, &device, applied_revision, Timestamp(now_ms))?)
    }

    /// Which of `devices` (the targets, from the app's directory) are in `campaign`'s success
    /// sample, and which of those the server has heard nothing from yet.
    pub fn sample(
        &self,
        campaign: String,
        devices: Vec<String>,
    ) -> Result<SampleInfo, DevcareError> {
        let v = lock(&self.0)?.sample(&campaign, devices.iter().map(String::as_str))?;
        Ok(SampleInfo {
            sampled: v.sampled,
            silent: v.silent,
        })
    }

    /// Counts `campaign`'s success sample over `devices` (the app's directory of targets)
    /// and records it with where the sampled devices' report slots fall: the coverage
    /// estimate is then valid for this campaign and tells a late probe from a missed
    /// broadcast. Returns how many are sampled. Tell it again after a revision.
    pub fn record_sample(
        &self,
        campaign: String,
        devices: Vec<String>,
        now_ms: u64,
    ) -> Result<u64, DevcareError> {
        Ok(lock(&self.0)?.record_sample(
            &campaign,
            devices.iter().map(String::as_str),
            Timestamp(now_ms),
        )?)
    }

    /// Sets `campaign`'s limit on targets wrongly presumed OK (`None` lifts it): above it at
    /// the deadline the campaign stays open, checked hourly, until check-ins bring the
    /// server's 95% bound within it (at most 7 days after the deadline).
    pub fn set_settlement_limit(
        &self,
        campaign: String,
        max_presumed_unknown: Option<u64>,
        now_ms: u64,
    ) -> Result<(), DevcareError> {
        Ok(lock(&self.0)?.set_settlement_limit(
            &campaign,
            max_presumed_unknown,
            Timestamp(now_ms),
        )?)
    }

    /// Records how many of `campaign`'s targets are in its success sample (see `sample`):
    /// the coverage estimate is then valid for this campaign. Tell it again after a revision.
    pub fn set_sampled_targets(
        &self,
        campaign: String,
        sampled_targets: u64,
        now_ms: u64,
    ) -> Result<(), DevcareError> {
        Ok(lock(&self.0)?.set_sampled_targets(&campaign, sampled_targets, Timestamp(now_ms))?)
    }

    /// Sets `campaign`'s coverage floor (a share in (0, 1]) and what runs below it
    /// (server-side, kept across revisions). Below the floor the server records
    /// `BroadcastDegraded`; the app then calls `fallbackDue` after every `tick`.
    pub fn set_coverage_floor(
        &self,
        campaign: String,
        floor: f64,
        fallback: FallbackPolicy,
        now_ms: u64,
    ) -> Result<(), DevcareError> {
        let fallback = match fallback {
            FallbackPolicy::None => Fallback::None,
            FallbackPolicy::Rebroadcast => Fallback::Rebroadcast,
            FallbackPolicy::Unicast { per_minute } => Fallback::Unicast { per_minute },
            FallbackPolicy::Repair { per_minute } => Fallback::Repair { per_minute },
        };
        Ok(lock(&self.0)?.set_coverage_floor(&campaign, floor, fallback, Timestamp(now_ms))?)
    }

    /// What `campaign`'s coverage fallback asks of the app at `now_ms`.
    pub fn fallback_due(
        &self,
        campaign: String,
        now_ms: u64,
    ) -> Result<FallbackAction, DevcareError> {
        Ok(
            match lock(&self.0)?.fallback_due(&campaign, Timestamp(now_ms))? {
                FallbackDue::Nothing => FallbackAction::Nothing,
                FallbackDue::Rebroadcast => FallbackAction::Rebroadcast,
                FallbackDue::Unicast { allowance, .. } => FallbackAction::Unicast { allowance },
                FallbackDue::WaitUntil { at } => FallbackAction::Wait {
                    at_ms: at.as_millis(),
                },
            },
        )
    }

    /// Records that the app broadcast `campaign`'s payload again, as its fallback asked.
    pub fn record_rebroadcast(&self, campaign: String, now_ms: u64) -> Result<(), DevcareError> {
        Ok(lock(&self.0)?.record_rebroadcast(&campaign, Timestamp(now_ms))?)
    }

    /// Picks and records `campaign`'s next unicast fallback batch from `directory` (the
    /// app's target ids, any order): the smallest silent ids after the server's cursor, as
    /// many as the pace allows now. Open a DM session with each and pass the revision it holds
    /// to `checkIn`: one that missed the broadcast gets the payload as care (`nextCare`).
    /// Empty when none is due.
    pub fn fallback_unicast(
        &self,
        campaign: String,
        directory: Vec<String>,
        now_ms: u64,
    ) -> Result<Vec<String>, DevcareError> {
        Ok(lock(&self.0)?.fallback_unicast(
            &campaign,
            directory.iter().map(String::as_str),
            Timestamp(now_ms),
        )?)
    }

    /// Care orders of `campaign` dispatched and not answered yet, the soonest to expire first.
    pub fn care_in_flight(&self, campaign: String) -> Result<Vec<InFlightCare>, DevcareError> {
        Ok(lock(&self.0)?
            .care_in_flight(&campaign)?
            .into_iter()
            .map(|c| InFlightCare {
                device: c.device.to_string(),
                attempt: c.attempt,
                expires_ms: c.expires.as_millis(),
            })
            .collect())
    }

    /// Also takes reports under device keys derived from `master_key` (a report key rotation
    /// starts).
    pub fn add_master_key(&self, master_key: Vec<u8>) -> Result<(), DevcareError> {
        Ok(lock(&self.0)?.add_master_key(&master_key)?)
    }

    /// Stops taking reports under keys derived from `master_key`; returns whether it was
    /// held (the last master stays).
    pub fn remove_master_key(&self, master_key: Vec<u8>) -> Result<bool, DevcareError> {
        Ok(lock(&self.0)?.remove_master_key(&master_key)?)
    }

    /// An operator pauses care of `campaign` until `resume`.
    pub fn pause(&self, campaign: String, now_ms: u64) -> Result<(), DevcareError> {
        Ok(lock(&self.0)?.pause(&campaign, Timestamp(now_ms))?)
    }

    /// An operator lifts their own pause of `campaign`; the abort threshold's pause stays
    /// (`paused-by-breaker`: lift it with `override_abort`).
    pub fn resume(&self, campaign: String, now_ms: u64) -> Result<(), DevcareError> {
        Ok(lock(&self.0)?.resume(&campaign, Timestamp(now_ms))?)
    }

    /// Lifts the abort threshold's pause of `campaign` on purpose, logged with who (`by`)
    /// and `why` (1–200 bytes each); the threshold stays quiet for the campaign after.
    pub fn override_abort(
        &self,
        campaign: String,
        by: String,
        why: String,
        now_ms: u64,
    ) -> Result<(), DevcareError> {
        Ok(lock(&self.0)?.override_abort(&campaign, &by, &why, Timestamp(now_ms))?)
    }

    /// Lets time pass (settles campaigns past their deadline); returns the next wake-up.
    pub fn tick(&self, now_ms: u64) -> Result<Option<u64>, DevcareError> {
        let next = lock(&self.0)?.tick(Timestamp(now_ms))?;
        Ok(next.map(Timestamp::as_millis))
    }

    /// The statistics of `campaign`.
    pub fn stats(&self, campaign: String) -> Result<CampaignStats, DevcareError> {
        let s = lock(&self.0)?.stats(&campaign)?;
        Ok(CampaignStats {
            targeted: s.targeted,
            failure_reports: s.failure_reports,
            success_probes: s.success_probes,
            late_reports: s.late_reports,
            checkins_behind: s.checkins_behind,
            care_dispatched: s.care_dispatched,
            care_timed_out: s.care_timed_out,
            in_care: s.in_care,
            recovered: s.recovered,
            escalated: s.escalated,
            abandoned: s.abandoned,
            presumed_ok: s.presumed_ok,
            paused: s.paused,
            operator_paused: s.operator_paused,
            breaker_since_ms: s.breaker.map(|b| b.since.as_millis()),
            breaker_failures: s.breaker.map(|b| b.reason.failure_reports),
            breaker_expected: s.breaker.map(|b| b.reason.targeted),
            breaker_threshold: s.breaker.map(|b| b.reason.threshold),
            settled: s.settled,
            coverage: s.coverage.map(|c| c.estimate),
            coverage_lo: s.coverage.map(|c| c.lo),
            coverage_hi: s.coverage.map(|c| c.hi),
            coverage_basis: s.coverage.map(|c| c.basis.name().to_string()),
            presumed_missed_hi: s.presumed_bound.map(|b| b.missed),
            presumed_unheard_hi: s.presumed_bound.map(|b| b.unheard),
            settlement_held: s.settlement_held,
        })
    }
}
