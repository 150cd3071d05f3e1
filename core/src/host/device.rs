//! [`DeviceHost`]: every flow a handset's DM stack runs, as one Rust function each. The C
//! API (`devcare_device_*`) and the bindings' `DeviceHost` only convert types around it; the
//! typed core (commands, the apply flows, the due report) is in `device_core`.

use std::path::Path;

use crate::device::Device;
use crate::device::{DeviceCommand, Phase};
use crate::host::HostError;
use crate::host::keys::{campaign_id, device_id, group_names, key32, trust};
use crate::host::streams::{Rejections, Streams};
use crate::model::{CampaignId, DeviceId, Setting, Timestamp};
use crate::payload::{KeyId, PayloadLimits, TrustedKeys};
use crate::report::ApplyResult;
use crate::store::{AnyStore, EventStore};
use crate::wire::DeviceKey;

/// A report to send now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueReport {
    /// The campaign it belongs to.
    pub campaign: CampaignId,
    /// Its attempt number (from 1): mark it sent and acknowledged with this number.
    pub attempt: u32,
    /// The authenticated wire bytes.
    pub bytes: Vec<u8>,
}

/// A report to send now, rendered as an OMA DM Generic Alert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueAlert {
    /// The campaign it belongs to.
    pub campaign: CampaignId,
    /// Its attempt number (from 1).
    pub attempt: u32,
    /// The `<Alert>` XML (code 1226).
    pub xml: String,
}

/// A report to send now as the Items of its Generic Alert, for a DM toolkit that builds its
/// own package (see [`crate::alert::report_items`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueItems {
    /// The campaign it belongs to.
    pub campaign: CampaignId,
    /// Its attempt number (from 1).
    pub attempt: u32,
    /// The Items, in order, for one Generic Alert (code 1226).
    pub items: Vec<crate::alert::AlertItem>,
}

/// What a device states about one campaign when it checks in on an ordinary DM session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckIn {
    /// The campaign.
    pub campaign: CampaignId,
    /// The last revision of it the device applied successfully (0 for none).
    pub applied_revision: u32,
}

/// What became of care a device applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CareDone<E> {
    /// The device judged itself fixed: the care results pass the campaign's result
    /// conditions ([`rules::care_findings`](crate::rules::care_findings)), the same ones the
    /// first evaluation used. This is the outcome a host tells the server
    /// ([`ServerHost::care_outcome`](crate::host::ServerHost::care_outcome)'s `success`).
    pub recovered: bool,
    /// An error the host's apply returned partway (that setting and the rest counted as
    /// failed), if any.
    pub host_error: Option<E>,
}

/// A handset's devcare host: a [`Device`] decider per campaign stream over an event store
/// `S` (the embedded device log by default), the server keys it trusts and its own report
/// key. Every call that changes state is decided, appended and flushed before it returns
/// `Ok` (one loop, [`crate::host`]'s flush rule).
pub struct DeviceHost<S = AnyStore> {
    pub(super) store: S,
    pub(super) device: DeviceId,
    pub(super) groups: Vec<String>,
    pub(super) streams: Streams<Device>,
    pub(super) rejections: Rejections,
    pub(super) trusted: TrustedKeys,
    pub(super) key: zeroize::Zeroizing<DeviceKey>,
    pub(super) limits: PayloadLimits,
}

impl<S> std::fmt::Debug for DeviceHost<S> {
    /// The report key is a secret: never printed.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceHost")
            .field("device", &self.device)
            .field("trusted_keys", &self.trusted.ids().len())
            .finish_non_exhaustive()
    }
}

impl DeviceHost {
    /// Bytes of a torn tail this open of the device's log set aside: the last appends a
    /// power cut interrupted (kept in `devcare.log.torn`, never read). They were never
    /// acknowledged by a flush — unless a bit flipped in the last flushed write, which a
    /// log cannot tell from a tear (`docs/reliability.md`) — so a host that sees a nonzero
    /// value can re-read its DM tree ([`Self::recheck`]) to be sure. 0 for a whole log.
    pub fn torn_tail(&self) -> u64 {
        self.store.torn_tail()
    }

    /// Opens the host of `device` (text id), member of `groups` (for group campaigns; may
    /// be empty), trusting payloads signed by `server_public_key` (32 bytes) and
    /// authenticating reports with `device_key` (32 bytes). `path` `None` keeps the log in
    /// memory; otherwise it is a directory holding the log in one file, replayed on open
    /// ([`AnyStore::open_device`]: a [`crate::store::FileStore`], no thread, no cache).
    pub fn open(
        path: Option<&Path>,
        device: &str,
        groups: Vec<String>,
        server_public_key: &[u8],
        device_key: &[u8],
    ) -> Result<Self, HostError> {
        let device = device_id(device)?;
        let groups = group_names(groups)?;
        let trusted = trust(server_public_key)?;
        let key = zeroize::Zeroizing::new(key32(device_key, "device_key")?);
        let store = AnyStore::open_device(path)?;
        Ok(DeviceHost::on_store(store, device, groups, trusted, *key)?)
    }
}

impl<S: EventStore> DeviceHost<S> {
    /// Also trusts payloads signed by `server_public_key` (32 bytes) — a server key rotation
    /// starts: trust the new key before the server signs with it. Returns its key id (what
    /// a payload header names).
    pub fn add_trusted_key(&mut self, server_public_key: &[u8]) -> Result<KeyId, HostError> {
        let bytes = key32(server_public_key, "server_public_key")?;
        self.trusted.add_bytes(&bytes)?;
        Ok(crate::payload::key_id_of(&bytes)?)
    }

    /// Stops trusting the key with id `key_id` (8 bytes) — the rotation ends, or the key was
    /// compromised: payloads it signed are refused from now on (`unknown-key`). Returns
    /// whether it was trusted. The last trusted key cannot be removed.
    pub fn remove_trusted_key(&mut self, key_id: &[u8]) -> Result<bool, HostError> {
        let id: KeyId = key_id.try_into().map_err(|_| HostError::InvalidArgument {
            what: "key_id",
            detail: format!("is {} bytes, a key id is 8", key_id.len()),
        })?;
        if self.trusted.ids() == [id] {
            return Err(HostError::InvalidArgument {
                what: "key_id",
                detail: "is the last trusted key: add its successor first".into(),
            });
        }
        Ok(self.trusted.remove(&id))
    }

    /// The ids of the server keys trusted now, oldest first.
    pub fn trusted_key_ids(&self) -> Vec<KeyId> {
        self.trusted.ids()
    }

    /// A broadcast payload arrived at `now`: verify it, take it on, let `apply` apply each
    /// setting in order, record the results, flush. A host error from `apply` stops the
    /// apply (the rest count as not applied) and comes back as `Ok(Some(e))`.
    pub fn receive<E>(
        &mut self,
        payload: &[u8],
        now: Timestamp,
        apply: impl FnMut(&Setting) -> Result<ApplyResult, E>,
    ) -> Result<Option<E>, HostError> {
        Ok(self.receive_and_apply(payload, now, apply)?)
    }

    /// Lets time pass; returns when the next tick is needed (`None`: nothing waits).
    pub fn tick(&mut self, now: Timestamp) -> Result<Option<Timestamp>, HostError> {
        self.tick_events(now)?;
        Ok(self.next_wake())
    }

    /// The report due at `now`, if any, encoded and authenticated.
    pub fn next_report(&self, now: Timestamp) -> Result<Option<DueReport>, HostError> {
        match self.next_due_report(now) {
            None => Ok(None),
            Some((campaign, report, bytes)) => Ok(Some(DueReport {
                campaign,
                attempt: report.attempt,
                bytes: bytes?,
            })),
        }
    }

    /// The report due at `now`, if any, as an OMA DM 1.2 Generic Alert.
    pub fn next_report_alert(&self, now: Timestamp) -> Option<DueAlert> {
        self.next_due_alert(now, None)
            .map(|(campaign, report, xml)| DueAlert {
                campaign,
                attempt: report.attempt,
                xml,
            })
    }

    /// The report due at `now`, if any, as the Items of its Generic Alert with their Data in
    /// `format`, for a DM toolkit that builds its own package.
    pub fn next_report_items(
        &self,
        now: Timestamp,
        format: crate::alert::DataFormat,
    ) -> Option<DueItems> {
        let (id, r, campaign) = self.first_due(now)?;
        Some(DueItems {
            campaign: id.clone(),
            attempt: r.attempt,
            items: crate::alert::report_items(&r, campaign, format),
        })
    }

    /// The report due at `now`, if any, as a whole SyncML DM 1.2 message (header `hdr`,
    /// the Alert as CmdID 1, Data in `format`) in `encoding`: its bytes are the message, and
    /// the Status with CmdRef 1 in the server's answer is this report's.
    pub fn next_report_package(
        &self,
        now: Timestamp,
        hdr: &crate::alert::SyncHeader,
        format: crate::alert::DataFormat,
        encoding: crate::alert::Encoding,
    ) -> Result<Option<DueReport>, HostError> {
        let Some((id, r, campaign)) = self.first_due(now) else {
            return Ok(None);
        };
        let xml = crate::alert::render_syncml_as(&r, campaign, hdr, format);
        Ok(Some(DueReport {
            campaign: id.clone(),
            attempt: r.attempt,
            bytes: encoding.encode(&xml)?,
        }))
    }

    /// The host sent report `attempt` of `campaign` at `now`.
    pub fn report_sent(
        &mut self,
        campaign: &str,
        attempt: u32,
        now: Timestamp,
    ) -> Result<(), HostError> {
        self.command(campaign, DeviceCommand::MarkSent { attempt, at: now })
    }

    /// The server acknowledged report `attempt` of `campaign`.
    pub fn report_acknowledged(
        &mut self,
        campaign: &str,
        attempt: u32,
        now: Timestamp,
    ) -> Result<(), HostError> {
        self.command(campaign, DeviceCommand::Acknowledge { attempt, at: now })
    }

    /// The server answered report `attempt` of `campaign` with DM status `status`, a
    /// definitive refusal (any 4xx but 408 and 429, [`rules::is_definitive_refusal`]): the
    /// device stops resending it (`not-a-refusal` for any other status: acknowledge a 200,
    /// let a 5xx be resent).
    ///
    /// [`rules::is_definitive_refusal`]: crate::rules::is_definitive_refusal
    pub fn report_refused(
        &mut self,
        campaign: &str,
        attempt: u32,
        status: u16,
        now: Timestamp,
    ) -> Result<(), HostError> {
        self.command(
            campaign,
            DeviceCommand::Refused {
                attempt,
                status,
                at: now,
            },
        )
    }

    /// The server answered report `attempt` of `campaign` with DM status `status` — the
    /// Data of the Status for its Alert in the server's response package, or the answer to
    /// its binary report — and devcare applies the rule ([`rules::report_answer`]): a 2xx
    /// acknowledges the report, a definitive refusal (any 4xx but 408 and 429) stops it, and
    /// anything else leaves it to be resent on its schedule (nothing recorded). Returns
    /// which.
    ///
    /// [`rules::report_answer`]: crate::rules::report_answer
    pub fn report_status(
        &mut self,
        campaign: &str,
        attempt: u32,
        status: u16,
        now: Timestamp,
    ) -> Result<crate::rules::ReportAnswer, HostError> {
        let answer = crate::rules::report_answer(status);
        match answer {
            crate::rules::ReportAnswer::Acknowledged => {
                self.report_acknowledged(campaign, attempt, now)?;
            }
            crate::rules::ReportAnswer::RefusedForGood => {
                self.report_refused(campaign, attempt, status, now)?;
            }
            crate::rules::ReportAnswer::SendAgain => {
                // Checked like the others: a campaign this device does not hold is an error.
                self.known(campaign)?;
            }
        }
        Ok(answer)
    }

    /// Unicast care arrived for `campaign`: `apply` re-applies the settings at `indices`,
    /// the results are recorded and flushed. Returns the device's own verdict — tell it to
    /// the server as the care outcome — and a host error from `apply`, if one stopped it
    /// partway (that setting and the rest count as failed).
    pub fn receive_care<E>(
        &mut self,
        campaign: &str,
        revision: u32,
        attempt: u32,
        indices: Vec<u32>,
        now: Timestamp,
        apply: impl FnMut(&Setting) -> Result<ApplyResult, E>,
    ) -> Result<CareDone<E>, HostError> {
        let id = self.known(campaign)?;
        let host_error =
            self.receive_care_and_apply(&id, revision, attempt, indices, now, apply)?;
        let recovered = self.state(&id).is_some_and(|s| s.phase == Phase::Recovered);
        Ok(CareDone {
            recovered,
            host_error,
        })
    }

    /// The host read `campaign`'s settings back at `now` (one result per setting, in
    /// order: a periodic check, or after something else touched the DM tree). A device that
    /// was done — healthy, confirmed or recovered — and now fails the campaign's result
    /// conditions has relapsed: it reports again at its slot ([`Self::next_report`]) and the
    /// server opens a new care cycle. Returns whether it relapsed; nothing changes while the
    /// settings pass.
    pub fn recheck(
        &mut self,
        campaign: &str,
        results: Vec<ApplyResult>,
        now: Timestamp,
    ) -> Result<bool, HostError> {
        let id = self.known(campaign)?;
        let events = self.handle(&id, &DeviceCommand::Recheck { results, at: now })?;
        Ok(!events.is_empty())
    }

    /// Finishes every pending piece of work at `now`: `apply` applies its settings and the
    /// results are recorded and flushed. Returns how many were finished; a host error from
    /// `apply` comes back as the second value.
    pub fn resume<E>(
        &mut self,
        now: Timestamp,
        apply: impl FnMut(&Setting) -> Result<ApplyResult, E>,
    ) -> Result<(usize, Option<E>), HostError> {
        Ok(self.resume_pending(now, apply)?)
    }

    /// What to state when checking in: per campaign this device knows, the last revision it
    /// applied successfully. The server gives care to a target that is behind.
    pub fn check_in(&self) -> Vec<CheckIn> {
        self.states()
            .map(|(id, s)| CheckIn {
                campaign: id.clone(),
                applied_revision: s.applied_revision,
            })
            .collect()
    }

    /// Failure reports to send again on an ordinary DM session (a check-in): one per
    /// campaign whose failure this device gave up reporting with no acknowledgement
    /// ([`DeviceState::check_in_report`](crate::device::DeviceState::check_in_report)), its
    /// last attempt again, encoded and authenticated. Send each as any report and tell the
    /// answer with [`Self::report_acknowledged`] / [`Self::report_refused`] under its
    /// attempt; the server takes it as a report (or answers duplicate if it had it), so a
    /// failure whose every report was lost is not presumed OK.
    pub fn check_in_reports(&self) -> Result<Vec<DueReport>, HostError> {
        self.states()
            .filter_map(|(id, s)| s.check_in_report().map(|r| (id, r)))
            .map(|(id, r)| {
                Ok(DueReport {
                    campaign: id.clone(),
                    attempt: r.attempt,
                    bytes: crate::wire::encode_report(&r, &self.key)?,
                })
            })
            .collect()
    }

    /// Input refused since the host was opened, all reasons together (per reason:
    /// [`Self::rejections`]).
    pub fn rejected(&self) -> u64 {
        self.rejections().values().sum()
    }

    /// Makes every append so far durable (every call that changed state already did).
    pub fn flush(&self) -> Result<(), HostError> {
        Ok(self.store.flush()?)
    }

    fn known(&self, campaign: &str) -> Result<CampaignId, HostError> {
        let id = campaign_id(campaign)?;
        if self.state(&id).is_none() {
            return Err(HostError::UnknownCampaign(id.to_string()));
        }
        Ok(id)
    }

    fn command(&mut self, campaign: &str, cmd: DeviceCommand) -> Result<(), HostError> {
        let id = self.known(campaign)?;
        self.handle(&id, &cmd)?;
        Ok(())
    }
}
