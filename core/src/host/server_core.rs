//! The typed core of [`ServerHost`]: a [`Server`] decider per campaign stream over a
//! store, with group-committed report ingest, and the key [`Directory`] it checks reports
//! against.

use crate::host::ServerHost;
use crate::host::streams::{Rejections, RuntimeError, Streams};
use crate::model::{CampaignId, DeviceId, Timestamp};
use crate::report::Report;
use crate::server::{CareOrder, ServerCommand, ServerError, ServerEvent, ServerState};
use crate::store::{EventStore, StoreError, Version};
use crate::wire::{DeviceKey, ReportError, decode_report_keys};

/// What the server knows about devices: their report keys and groups.
pub trait Directory {
    /// The device's report key, if it is known.
    fn device_key(&self, device: &DeviceId) -> Option<DeviceKey>;
    /// Every report key the device may hold now — more than one while a key rotation is
    /// under way. Defaults to [`Self::device_key`].
    fn device_keys(&self, device: &DeviceId) -> Vec<DeviceKey> {
        self.device_key(device).into_iter().collect()
    }
    /// The groups the device belongs to (for group-targeted campaigns).
    fn groups(&self, _device: &DeviceId) -> Vec<String> {
        Vec::new()
    }
    /// How many devices the directory puts in `group`, if it can count them (a campaign
    /// file's `[[group_breaker]]` without `devices` takes its group's size from here).
    fn group_members(&self, _group: &str) -> Option<u64> {
        None
    }
}

/// What an OMA DM message of Generic Alerts came to: one [`Ingest`] per report.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertIngest {
    /// One outcome per report, in message order.
    pub outcomes: Vec<Ingest>,
}

impl AlertIngest {
    /// Reports accepted.
    pub fn accepted(&self) -> usize {
        self.outcomes
            .iter()
            .filter(|i| matches!(i, Ingest::Accepted(_)))
            .count()
    }

    /// Reports already known (acknowledged, nothing changed).
    pub fn duplicates(&self) -> usize {
        self.outcomes
            .iter()
            .filter(|i| matches!(i, Ingest::Duplicate))
            .count()
    }

    /// The status to answer the message with: 200 when every report was accepted or a
    /// duplicate, else the status of the first refused one.
    pub fn dm_status(&self) -> u16 {
        self.outcomes
            .iter()
            .map(Ingest::dm_status)
            .find(|s| *s != 200)
            .unwrap_or(200)
    }
}

/// A directory that derives every device's report key from one master secret
/// ([`crate::wire::derive_device_key`]) and knows no groups. The secret is never printed
/// (`Debug` shows a redaction) and is zeroized on drop.
#[derive(Clone)]
pub struct MasterKeys(pub [u8; 32]);

impl std::fmt::Debug for MasterKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKeys(<secret>)")
    }
}

impl Drop for MasterKeys {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.0);
    }
}

impl Directory for MasterKeys {
    fn device_key(&self, device: &DeviceId) -> Option<DeviceKey> {
        Some(crate::wire::derive_device_key(&self.0, device))
    }
}

/// Master secrets plus a table of the groups each device belongs to, for hosts that keep
/// their directory in devcare (the C API and the bindings). Device report keys derive from
/// each master ([`crate::wire::derive_device_key`]): during a rotation a device's report is
/// taken under the key of any master held. A device not in the table belongs to no group.
#[derive(Clone)]
pub struct GroupDirectory {
    masters: Vec<MasterKeys>,
    pub(super) groups: std::collections::HashMap<DeviceId, Vec<String>>,
}

impl std::fmt::Debug for GroupDirectory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroupDirectory")
            .field("masters", &self.masters.len())
            .field("groups", &self.groups.len())
            .finish()
    }
}

impl GroupDirectory {
    /// A directory deriving keys from `master`, with no groups yet.
    pub fn new(master: [u8; 32]) -> Self {
        GroupDirectory {
            masters: vec![MasterKeys(master)],
            groups: std::collections::HashMap::new(),
        }
    }

    /// Also takes reports under keys derived from `master` (a rotation starts: devices are
    /// re-provisioned with keys of the new master while others still hold the old ones).
    pub fn add_master(&mut self, master: [u8; 32]) {
        if !self.masters.iter().any(|m| m.0 == master) {
            self.masters.push(MasterKeys(master));
        }
    }

    /// Stops taking reports under keys derived from `master` (the rotation ends); returns
    /// whether it was held. The last master cannot be removed.
    pub fn remove_master(&mut self, master: &[u8; 32]) -> bool {
        let held = self.masters.iter().any(|m| &m.0 == master);
        if held && self.masters.len() > 1 {
            self.masters.retain(|m| &m.0 != master);
            return true;
        }
        false
    }

    /// Sets `device`'s groups (sorted, unique); an empty list removes its entry.
    pub fn set_groups(&mut self, device: DeviceId, groups: Vec<String>) {
        if groups.is_empty() {
            self.groups.remove(&device);
        } else {
            self.groups.insert(device, groups);
        }
    }
}

impl Directory for GroupDirectory {
    fn device_key(&self, device: &DeviceId) -> Option<DeviceKey> {
        self.masters.first().and_then(|m| m.device_key(device))
    }

    fn device_keys(&self, device: &DeviceId) -> Vec<DeviceKey> {
        self.masters
            .iter()
            .filter_map(|m| m.device_key(device))
            .collect()
    }

    fn group_members(&self, group: &str) -> Option<u64> {
        Some(self.members(group))
    }

    fn groups(&self, device: &DeviceId) -> Vec<String> {
        self.groups.get(device).cloned().unwrap_or_default()
    }
}

/// The outcome of ingesting one report's bytes.
#[derive(Debug, Clone, PartialEq)]
pub enum Ingest {
    /// Accepted: these events were appended (care scheduled, and so on).
    Accepted(Vec<ServerEvent>),
    /// Already known from this device: acknowledge, nothing appended.
    Duplicate,
    /// Refused: nothing appended.
    Rejected(IngestRejection),
}

/// Why a report was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum IngestRejection {
    /// The bytes failed the wire checks (size, frame, key, MAC, decoding).
    #[error(transparent)]
    Wire(#[from] ReportError),
    /// The server decider refused it (unknown campaign, wrong revision, not a target…).
    #[error(transparent)]
    Refused(#[from] ServerError),
    /// A devcare Generic Alert of a package that does not read as a report (its Items'
    /// Data, their types, or their agreement), refused on its own.
    #[error(transparent)]
    Alert(#[from] crate::alert::AlertError),
}

impl Ingest {
    /// The answer to a report the decider took (`Ok`: its events) or refused: a refusal
    /// as a duplicate is [`Ingest::Duplicate`] (answered 200, nothing appended).
    pub fn from_decided(decided: Result<Vec<ServerEvent>, ServerError>) -> Ingest {
        match decided {
            Ok(events) => Ingest::Accepted(events),
            Err(ServerError::Duplicate { .. }) => Ingest::Duplicate,
            Err(e) => Ingest::Rejected(e.into()),
        }
    }

    /// The OMA DM status code the host answers with: 200 for accepted and duplicate
    /// (the device must stop retrying either way), otherwise [`IngestRejection::dm_status`].
    pub fn dm_status(&self) -> u16 {
        match self {
            Ingest::Accepted(_) | Ingest::Duplicate => 200,
            Ingest::Rejected(r) => r.dm_status(),
        }
    }
}

impl IngestRejection {
    /// The OMA DM status code for a refusal ([`ReportError::dm_status`],
    /// [`ServerError::dm_status`]).
    pub fn dm_status(&self) -> u16 {
        match self {
            IngestRejection::Wire(e) => e.dm_status(),
            IngestRejection::Refused(e) => e.dm_status(),
            IngestRejection::Alert(e) => e.dm_status(),
        }
    }

    /// The refusal's stable name ([`ReportError::reason`], [`ServerError::reason`]).
    pub fn reason(&self) -> &'static str {
        match self {
            IngestRejection::Wire(e) => e.reason(),
            IngestRejection::Refused(e) => e.reason(),
            IngestRejection::Alert(e) => e.reason(),
        }
    }
}

/// The reports of an OMA DM message from `sender`, checked as [`ServerHost::ingest_alerts`]
/// checks them before the decider: a sending device unknown to `directory`, a message that
/// does not parse, or a report for a device the sender may not speak for refuses the whole
/// message. Every server host (one stream or sharded) reads alerts with it.
pub fn alert_reports(
    xml: &str,
    sender: crate::alert::Sender<'_>,
    limits: &crate::alert::AlertLimits,
    directory: &dyn Directory,
) -> Result<Vec<Report>, crate::alert::AlertError> {
    check_sender(sender, directory)?;
    crate::alert::parse_alerts_from(xml, limits, sender)
}

/// A message's sending device must be in the key directory (a gateway names its devices
/// itself): [`crate::alert::AlertError::UnknownSender`] otherwise.
pub(crate) fn check_sender(
    sender: crate::alert::Sender<'_>,
    directory: &dyn Directory,
) -> Result<(), crate::alert::AlertError> {
    match sender {
        crate::alert::Sender::Device(d) if directory.device_key(d).is_none() => {
            Err(crate::alert::AlertError::UnknownSender(d.to_string()))
        }
        _ => Ok(()),
    }
}

/// Report bytes checked (size, frame, MAC under the device's keys from `directory`) and
/// decoded, as every server host reads them before the decider.
pub fn report_from_bytes(bytes: &[u8], directory: &dyn Directory) -> Result<Report, ReportError> {
    decode_report_keys(bytes, crate::wire::DEFAULT_MAX_REPORT_BYTES, |d| {
        directory.device_keys(d)
    })
}

impl<S: EventStore, D: Directory> ServerHost<S, D> {
    /// Opens the host on `store`, replaying every `server/…` stream; reports are checked
    /// against `directory` (a [`GroupDirectory`] derives device keys from a master secret; a
    /// DM server with its own device key table implements [`Directory`]).
    pub fn on_store(store: S, directory: D) -> Result<Self, StoreError> {
        let streams = Streams::open(&store)?;
        Ok(ServerHost {
            store,
            streams,
            rejections: Rejections::new(),
            keys: directory,
        })
    }

    /// Runs `cmd` on `campaign`'s stream: decided, appended and flushed before it returns
    /// (the one loop, [`crate::host`]'s flush rule).
    pub fn handle(
        &mut self,
        campaign: &CampaignId,
        cmd: &ServerCommand,
    ) -> Result<Vec<ServerEvent>, RuntimeError<ServerError>> {
        let r = self.streams.handle(&self.store, campaign, cmd);
        if let Err(RuntimeError::Refused(e)) = &r {
            *self.rejections.entry(e.reason()).or_default() += 1;
        }
        r
    }

    /// Group commit for the ingest path: decides every command in order (each against the
    /// state left by the previous ones), appends all their events in one atomic batch and
    /// flushes once — the same loop as [`Self::handle`]. Returns one result per command;
    /// refused commands append nothing. If the append or flush fails, nothing of the batch
    /// is kept in memory and the error is returned for the whole batch.
    pub fn handle_batch(
        &mut self,
        cmds: &[(CampaignId, ServerCommand)],
    ) -> Result<Vec<Result<Vec<ServerEvent>, ServerError>>, StoreError> {
        let refs: Vec<(CampaignId, &ServerCommand)> =
            cmds.iter().map(|(c, cmd)| (c.clone(), cmd)).collect();
        let results = self.streams.execute(&self.store, &refs)?;
        for r in &results {
            if let Err(e) = r {
                *self.rejections.entry(e.reason()).or_default() += 1;
            }
        }
        Ok(results)
    }

    /// Ingests many reports received at `at` with one atomic append and one flush (group
    /// commit): wire checks with each device's key from the directory, then the decider.
    /// Duplicates and refusals append nothing. One report: [`Self::ingest_report`].
    pub fn ingest_batch(
        &mut self,
        reports: &[&[u8]],
        at: Timestamp,
    ) -> Result<Vec<Ingest>, StoreError> {
        let mut refused = Vec::new();
        let decoded: Vec<Result<Report, IngestRejection>> = reports
            .iter()
            .map(|bytes| {
                report_from_bytes(bytes, &self.keys).map_err(|e| {
                    refused.push(e.reason());
                    IngestRejection::Wire(e)
                })
            })
            .collect();
        for reason in refused {
            self.count_rejection(reason);
        }
        self.accept_reports(decoded, at)
    }

    /// Ingests the reports of an OMA DM message (Generic Alerts, see [`crate::alert`]) from
    /// `sender`, whom the host's DM session authenticated. A message that does not parse, or
    /// that carries a report for a device the sender may not speak for, or whose sending
    /// device is not in the key directory, is refused as a whole with its
    /// [`AlertError`](crate::alert::AlertError) (answer with its `dm_status`); nothing is
    /// logged.
    pub fn ingest_alerts(
        &mut self,
        xml: &str,
        sender: crate::alert::Sender<'_>,
        limits: &crate::alert::AlertLimits,
        at: Timestamp,
    ) -> Result<Result<Vec<Ingest>, crate::alert::AlertError>, StoreError> {
        let reports = match alert_reports(xml, sender, limits, &self.keys) {
            Ok(r) => r,
            Err(e) => {
                self.count_rejection(e.reason());
                return Ok(Err(e));
            }
        };
        self.accept_reports(reports.into_iter().map(Ok).collect(), at)
            .map(Ok)
    }

    /// Runs decoded reports (or their decoding refusals) through the decider in one group
    /// commit.
    pub(super) fn accept_reports(
        &mut self,
        reports: Vec<Result<Report, IngestRejection>>,
        at: Timestamp,
    ) -> Result<Vec<Ingest>, StoreError> {
        let mut slots: Vec<Option<Ingest>> = Vec::with_capacity(reports.len());
        let mut cmds = Vec::new();
        for r in reports {
            match r {
                Ok(report) => {
                    let groups = self.keys.groups(&report.device);
                    cmds.push((
                        report.campaign.clone(),
                        ServerCommand::AcceptReport { report, groups, at },
                    ));
                    slots.push(None);
                }
                Err(e) => slots.push(Some(Ingest::Rejected(e))),
            }
        }
        let mut decided = self.handle_batch(&cmds)?.into_iter();
        Ok(slots
            .into_iter()
            .map(|slot| match slot {
                Some(done) => done,
                None => match decided.next() {
                    Some(d) => Ingest::from_decided(d),
                    None => Ingest::Duplicate, // unreachable: one result per command
                },
            })
            .collect())
    }

    /// The first care order due at `now` over all campaigns, not dispatched: what
    /// [`Self::dispatch_next_care`] would send.
    pub fn next_due_care(&self, now: Timestamp) -> Option<(CampaignId, CareOrder)> {
        self.states().find_map(|(id, s)| {
            s.due_care(now, 1)
                .into_iter()
                .next()
                .map(|o| (id.clone(), o))
        })
    }

    /// The first care order due at `now` over all campaigns, marked dispatched (logged)
    /// before it is returned for the host to send.
    pub fn dispatch_next_care(
        &mut self,
        now: Timestamp,
    ) -> Result<Option<(CampaignId, CareOrder)>, RuntimeError<ServerError>> {
        let Some((id, order)) = self.next_due_care(now) else {
            return Ok(None);
        };
        self.handle(
            &id,
            &ServerCommand::DispatchCare {
                device: order.device.clone(),
                attempt: order.attempt,
                at: now,
            },
        )?;
        Ok(Some((id, order)))
    }

    /// The state of `campaign`.
    pub fn state(&self, campaign: &CampaignId) -> Option<&ServerState> {
        self.streams.loaded.get(campaign).map(|(s, _)| s)
    }

    /// The state of `campaign`: [`HostError::UnknownCampaign`] when the host has none,
    /// a store error while it is dropped after a store failure (see [`Self::revive_all`]).
    pub fn known_state(
        &self,
        campaign: &CampaignId,
    ) -> Result<&ServerState, crate::host::HostError> {
        if self.streams.stale.contains(campaign) {
            return Err(crate::host::HostError::Store(StoreError::Backend(format!(
                "campaign {campaign} awaits a reload after a store failure (retry)"
            ))));
        }
        self.state(campaign)
            .ok_or_else(|| crate::host::HostError::UnknownCampaign(campaign.to_string()))
    }

    /// Reloads every campaign dropped from memory after a failed commit whose store could
    /// not be read back (until then its commands are store errors, DM 500: retry). Every
    /// command on such a campaign tries this first; [`ServerHost::tick`] does it for all.
    pub fn revive_all(&mut self) -> Result<(), StoreError> {
        self.streams.revive(&self.store, None)
    }

    /// Every campaign's state.
    pub fn states(&self) -> impl Iterator<Item = (&CampaignId, &ServerState)> {
        self.streams.loaded.iter().map(|(k, (s, _))| (k, s))
    }

    /// The version of `campaign`'s stream.
    pub fn version(&self, campaign: &CampaignId) -> Version {
        self.streams.loaded.get(campaign).map_or(0, |(_, v)| *v)
    }

    /// Refusals since open, per reason.
    pub fn rejections(&self) -> &Rejections {
        &self.rejections
    }

    /// Counts input refused before it reached the decider (bad MAC, oversize…).
    pub fn count_rejection(&mut self, reason: &'static str) {
        *self.rejections.entry(reason).or_default() += 1;
    }

    /// The key directory reports are checked against.
    pub fn directory(&self) -> &D {
        &self.keys
    }

    /// The key directory, to change (keys, groups).
    pub fn directory_mut(&mut self) -> &mut D {
        &mut self.keys
    }

    /// The store.
    pub fn store(&self) -> &S {
        &self.store
    }
}
