//! Deciders paired with a store: handle a command → append its events → evolve; open =
//! replay.
//!
//! [`DeviceAgent`] runs on a handset (one device, a stream per campaign); [`CareServer`]
//! runs on the DM server (a stream per campaign). A refused command appends nothing and is
//! counted per reason in [`Rejections`] (in memory only: a flood of bad input cannot grow
//! the log).

use std::collections::BTreeMap;

use crate::decider::Decider;
use crate::device::{Device, DeviceCommand, DeviceError, DeviceEvent, DeviceState, Phase};
use crate::model::{Campaign, CampaignId, DeviceId, Setting, Timestamp};
use crate::payload::{PayloadError, PayloadLimits, TrustedKeys, open_payload};
use crate::report::ApplyResult;
use crate::report::Report;
use crate::server::CareOrder;
use crate::server::{Server, ServerCommand, ServerError, ServerEvent, ServerState};
use crate::store::{EventStore, Persist, Record, StoreError, StreamId, Version};
use crate::wire::{DeviceKey, ReportError, decode_report, encode_report};

/// Why a runtime call failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RuntimeError<E> {
    /// The decider refused the command; nothing was appended.
    #[error(transparent)]
    Refused(E),
    /// The store failed; the in-memory state was reloaded from the store.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A received payload was refused before it reached the decider; nothing was applied.
    #[error("payload refused: {0}")]
    Payload(PayloadError),
}

/// Refusals counted per reason (not logged).
pub type Rejections = BTreeMap<&'static str, u64>;

/// The streams of one decider type, loaded from a store.
#[derive(Debug)]
struct Streams<D: Decider> {
    side: &'static str,
    loaded: BTreeMap<CampaignId, (D::State, Version)>,
}

impl<D> Streams<D>
where
    D: Decider,
    D::Event: Persist,
{
    fn open<S: EventStore>(store: &S, side: &'static str) -> Result<Self, StoreError> {
        let mut loaded = BTreeMap::new();
        for stream in store.streams()? {
            if let Some(campaign) = stream.campaign(side) {
                let mut state = D::State::default();
                let v = store.fold(&stream, 0, |_, e: D::Event| D::evolve(&mut state, &e))?;
                loaded.insert(campaign, (state, v));
            }
        }
        Ok(Streams { side, loaded })
    }

    fn stream(&self, campaign: &CampaignId) -> StreamId {
        match self.side {
            "device" => StreamId::device(campaign),
            _ => StreamId::server(campaign),
        }
    }

    fn reload<S: EventStore>(
        &mut self,
        store: &S,
        campaign: &CampaignId,
    ) -> Result<(), StoreError> {
        let stream = self.stream(campaign);
        let mut state = D::State::default();
        let v = store.fold(&stream, 0, |_, e: D::Event| D::evolve(&mut state, &e))?;
        if v == 0 {
            self.loaded.remove(campaign);
        } else {
            self.loaded.insert(campaign.clone(), (state, v));
        }
        Ok(())
    }

    /// Decide, append, evolve.
    fn handle<S: EventStore>(
        &mut self,
        store: &S,
        campaign: &CampaignId,
        cmd: &D::Command,
    ) -> Result<Vec<D::Event>, RuntimeError<D::Error>> {
        let empty = (D::State::default(), 0);
        let (state, version) = self.loaded.get(campaign).unwrap_or(&empty);
        let events = D::decide(state, cmd).map_err(RuntimeError::Refused)?;
        if events.is_empty() {
            return Ok(events);
        }
        let stream = self.stream(campaign);
        let new_version = match store.append(&stream, *version, &events) {
            Ok(v) => v,
            Err(e) => {
                // Another writer may have moved the stream: the store is the truth.
                self.reload(store, campaign)?;
                return Err(e.into());
            }
        };
        let entry = self
            .loaded
            .entry(campaign.clone())
            .or_insert_with(|| (D::State::default(), 0));
        for e in &events {
            D::evolve(&mut entry.0, e);
        }
        entry.1 = new_version;
        Ok(events)
    }
}

/// A handset's devcare agent: one device, one stream per campaign.
#[derive(Debug)]
pub struct DeviceAgent<S> {
    store: S,
    device: DeviceId,
    groups: Vec<String>,
    streams: Streams<Device>,
    rejections: Rejections,
}

fn device_reason(e: &DeviceError) -> &'static str {
    match e {
        DeviceError::NotTargeted { .. } => "not-targeted",
        DeviceError::StaleRevision { .. } => "stale-revision",
        DeviceError::WrongCampaign { .. } => "wrong-campaign",
        DeviceError::Invalid(_) => "invalid-campaign",
        _ => "wrong-phase",
    }
}

impl<S: EventStore> DeviceAgent<S> {
    /// Opens the agent for `device` (member of `groups`) on `store`, replaying its streams.
    pub fn open(store: S, device: DeviceId, groups: Vec<String>) -> Result<Self, StoreError> {
        let streams = Streams::open(&store, "device")?;
        Ok(DeviceAgent {
            store,
            device,
            groups,
            streams,
            rejections: Rejections::new(),
        })
    }

    /// A verified campaign arrived at `at`.
    pub fn receive(
        &mut self,
        campaign: Campaign,
        at: Timestamp,
    ) -> Result<Vec<DeviceEvent>, RuntimeError<DeviceError>> {
        let id = campaign.id.clone();
        let cmd = DeviceCommand::Receive {
            campaign: Box::new(campaign),
            device: self.device.clone(),
            groups: self.groups.clone(),
            at,
        };
        self.handle(&id, &cmd)
    }

    /// The host flow for a received payload: verify and take it on
    /// ([`Self::receive_payload`]), then ask the host to `apply` each setting in order and
    /// record the results. If `apply` fails partway, the results so far are recorded (the
    /// rest count as not applied, which `payload-incomplete` detects) and the host's error
    /// is returned as `Ok(Some(e))`.
    pub fn receive_and_apply<E>(
        &mut self,
        bytes: &[u8],
        trusted: &TrustedKeys,
        limits: &PayloadLimits,
        at: Timestamp,
        mut apply: impl FnMut(&Setting) -> Result<ApplyResult, E>,
    ) -> Result<Option<E>, RuntimeError<DeviceError>> {
        self.receive_payload(bytes, trusted, limits, at)?;
        let pending: Option<(CampaignId, Vec<Setting>)> = self
            .states()
            .find(|(_, s)| s.phase == Phase::Applying)
            .and_then(|(id, s)| Some((id.clone(), s.pending_apply()?.to_vec())));
        let Some((id, settings)) = pending else {
            return Ok(None);
        };
        let mut results = Vec::with_capacity(settings.len());
        let mut host_error = None;
        for s in &settings {
            match apply(s) {
                Ok(r) => results.push(r),
                Err(e) => {
                    host_error = Some(e);
                    break;
                }
            }
        }
        self.handle(&id, &DeviceCommand::RecordApplied { results, at })?;
        Ok(host_error)
    }

    /// The host flow for unicast care: take the care order on, ask the host to `apply` each
    /// setting, record the results. A host failure partway records the failed setting as
    /// status 500 and the rest as not re-applied (500), and is returned as `Ok(Some(e))`.
    pub fn receive_care_and_apply<E>(
        &mut self,
        campaign: &CampaignId,
        attempt: u32,
        settings: Vec<u32>,
        at: Timestamp,
        mut apply: impl FnMut(&Setting) -> Result<ApplyResult, E>,
    ) -> Result<Option<E>, RuntimeError<DeviceError>> {
        self.handle(
            campaign,
            &DeviceCommand::ReceiveCare {
                attempt,
                settings,
                at,
            },
        )?;
        let care: Vec<Setting> = self
            .state(campaign)
            .and_then(DeviceState::pending_care)
            .map(|(_, v)| v.into_iter().cloned().collect())
            .unwrap_or_default();
        let mut results = Vec::with_capacity(care.len());
        let mut host_error = None;
        for s in &care {
            if host_error.is_some() {
                results.push(ApplyResult::status(500));
                continue;
            }
            match apply(s) {
                Ok(r) => results.push(r),
                Err(e) => {
                    results.push(ApplyResult::status(500));
                    host_error = Some(e);
                }
            }
        }
        self.handle(
            campaign,
            &DeviceCommand::RecordCareApplied {
                attempt,
                results,
                at,
            },
        )?;
        Ok(host_error)
    }

    /// The first report due at `now` over all campaigns: its campaign, the report and its
    /// wire bytes authenticated with `key`.
    pub fn next_due_report(
        &self,
        now: Timestamp,
        key: &DeviceKey,
    ) -> Option<(CampaignId, Report, Result<Vec<u8>, ReportError>)> {
        self.states().find_map(|(id, s)| {
            let r = s.due_report(now)?;
            let bytes = encode_report(&r, key);
            Some((id.clone(), r, bytes))
        })
    }

    /// The first report due at `now` rendered as an OMA DM Generic Alert (see
    /// [`crate::alert`]) for a host whose DM client sends it in a DM session: its campaign,
    /// the report and the `<Alert>` XML (with `hdr`, a whole SyncML message).
    pub fn next_due_alert(
        &self,
        now: Timestamp,
        hdr: Option<&crate::alert::SyncHeader>,
    ) -> Option<(CampaignId, Report, String)> {
        self.states().find_map(|(id, s)| {
            let r = s.due_report(now)?;
            let campaign = s.campaign.as_ref();
            let xml = match hdr {
                Some(h) => crate::alert::render_syncml(&r, campaign, h),
                None => crate::alert::render_alert(&r, campaign, 1),
            };
            Some((id.clone(), r, xml))
        })
    }

    /// Verifies a received broadcast payload (size, frame, signature, limits, expiry) and
    /// takes its campaign on. A refused payload is counted per reason and changes nothing.
    pub fn receive_payload(
        &mut self,
        bytes: &[u8],
        trusted: &TrustedKeys,
        limits: &PayloadLimits,
        at: Timestamp,
    ) -> Result<Vec<DeviceEvent>, RuntimeError<DeviceError>> {
        match open_payload(bytes, trusted, at, limits) {
            Ok(p) => self.receive(p.campaign, at),
            Err(e) => {
                self.count_rejection(e.reason());
                Err(RuntimeError::Payload(e))
            }
        }
    }

    /// The report due at `now` for `campaign`, encoded and authenticated with `key`, ready
    /// to send; mark it sent with [`DeviceCommand::MarkSent`] once it is out.
    pub fn due_report_bytes(
        &self,
        campaign: &CampaignId,
        now: Timestamp,
        key: &DeviceKey,
    ) -> Option<(Report, Result<Vec<u8>, ReportError>)> {
        let report = self.state(campaign)?.due_report(now)?;
        let bytes = encode_report(&report, key);
        Some((report, bytes))
    }

    /// Runs `cmd` on `campaign`'s stream.
    pub fn handle(
        &mut self,
        campaign: &CampaignId,
        cmd: &DeviceCommand,
    ) -> Result<Vec<DeviceEvent>, RuntimeError<DeviceError>> {
        let r = self.streams.handle(&self.store, campaign, cmd);
        if let Err(RuntimeError::Refused(e)) = &r {
            *self.rejections.entry(device_reason(e)).or_default() += 1;
        }
        r
    }

    /// Ticks every campaign at `now`; returns the events per campaign that had any.
    pub fn tick(
        &mut self,
        now: Timestamp,
    ) -> Result<Vec<(CampaignId, Vec<DeviceEvent>)>, RuntimeError<DeviceError>> {
        let ids: Vec<CampaignId> = self.streams.loaded.keys().cloned().collect();
        let mut out = Vec::new();
        for id in ids {
            let ev = self.handle(&id, &DeviceCommand::Tick { now })?;
            if !ev.is_empty() {
                out.push((id, ev));
            }
        }
        Ok(out)
    }

    /// The state of `campaign`'s stream.
    pub fn state(&self, campaign: &CampaignId) -> Option<&DeviceState> {
        self.streams.loaded.get(campaign).map(|(s, _)| s)
    }

    /// Every campaign's state.
    pub fn states(&self) -> impl Iterator<Item = (&CampaignId, &DeviceState)> {
        self.streams.loaded.iter().map(|(k, (s, _))| (k, s))
    }

    /// The earliest time any campaign needs a tick.
    pub fn next_wake(&self) -> Option<Timestamp> {
        self.states().filter_map(|(_, s)| s.next_wake()).min()
    }

    /// This device.
    pub fn device(&self) -> &DeviceId {
        &self.device
    }

    /// Refusals since open, per reason.
    pub fn rejections(&self) -> &Rejections {
        &self.rejections
    }

    /// Counts a payload refused before it reached the decider (bad signature, oversize…).
    pub fn count_rejection(&mut self, reason: &'static str) {
        *self.rejections.entry(reason).or_default() += 1;
    }

    /// Makes every append so far durable.
    pub fn flush(&self) -> Result<(), StoreError> {
        self.store.flush()
    }

    /// The store.
    pub fn store(&self) -> &S {
        &self.store
    }
}

/// What the server knows about devices: their report keys and groups.
pub trait Directory {
    /// The device's report key, if it is known.
    fn device_key(&self, device: &DeviceId) -> Option<DeviceKey>;
    /// The groups the device belongs to (for group-targeted campaigns).
    fn groups(&self, _device: &DeviceId) -> Vec<String> {
        Vec::new()
    }
}

/// A directory that derives every device's report key from one master secret
/// ([`crate::wire::derive_device_key`]) and knows no groups.
#[derive(Debug, Clone)]
pub struct MasterKeys(pub [u8; 32]);

impl Directory for MasterKeys {
    fn device_key(&self, device: &DeviceId) -> Option<DeviceKey> {
        Some(crate::wire::derive_device_key(&self.0, device))
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
}

impl Ingest {
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
    /// The OMA DM status code for a refusal: 401 unknown device or bad MAC, 403 not a
    /// target, 404 unknown campaign or wrong revision, 413 oversize, 400 malformed, 500 for a
    /// refusal that points at the server's own state.
    pub fn dm_status(&self) -> u16 {
        use crate::wire::ReportError as W;
        match self {
            IngestRejection::Wire(W::UnknownDevice(_) | W::BadMac(_)) => 401,
            IngestRejection::Wire(W::Oversize { .. }) => 413,
            IngestRejection::Wire(_) => 400,
            IngestRejection::Refused(e) => match e {
                ServerError::NotTargeted(_) => 403,
                ServerError::UnknownCampaign { .. }
                | ServerError::NoCampaign
                | ServerError::WrongRevision { .. } => 404,
                ServerError::MalformedReport(_) | ServerError::NoSuchSetting { .. } => 400,
                _ => 500,
            },
        }
    }

    /// Short stable name for counting.
    pub fn reason(&self) -> &'static str {
        match self {
            IngestRejection::Wire(e) => e.reason(),
            IngestRejection::Refused(e) => server_reason(e),
        }
    }
}

/// The DM server's devcare side: one stream per campaign.
#[derive(Debug)]
pub struct CareServer<S> {
    store: S,
    streams: Streams<Server>,
    rejections: Rejections,
}

/// Short stable name of a server refusal.
pub fn server_reason(e: &ServerError) -> &'static str {
    match e {
        ServerError::Duplicate { .. } => "duplicate",
        ServerError::NotTargeted(_) => "not-targeted",
        ServerError::WrongRevision { .. } => "wrong-revision",
        ServerError::UnknownCampaign { .. } | ServerError::NoCampaign => "unknown-campaign",
        ServerError::MalformedReport(_) | ServerError::NoSuchSetting { .. } => "malformed",
        ServerError::Invalid(_) | ServerError::TargetCount(_) => "invalid-campaign",
        ServerError::AlreadyCreated(_) => "already-created",
        _ => "wrong-state",
    }
}

impl<S: EventStore> CareServer<S> {
    /// Opens the server on `store`, replaying every `server/…` stream.
    pub fn open(store: S) -> Result<Self, StoreError> {
        let streams = Streams::open(&store, "server")?;
        Ok(CareServer {
            store,
            streams,
            rejections: Rejections::new(),
        })
    }

    /// Runs `cmd` on `campaign`'s stream (appended, durable after [`Self::flush`]).
    pub fn handle(
        &mut self,
        campaign: &CampaignId,
        cmd: &ServerCommand,
    ) -> Result<Vec<ServerEvent>, RuntimeError<ServerError>> {
        let r = self.streams.handle(&self.store, campaign, cmd);
        if let Err(RuntimeError::Refused(e)) = &r {
            *self.rejections.entry(server_reason(e)).or_default() += 1;
        }
        r
    }

    /// Group commit for the ingest path: decides every command in order (each against the
    /// state left by the previous ones), appends all their events in one atomic batch and
    /// flushes once. Returns one result per command; refused commands append nothing. If
    /// the append or flush fails, nothing of the batch is kept in memory and the error is
    /// returned for the whole batch.
    pub fn handle_batch(
        &mut self,
        cmds: &[(CampaignId, ServerCommand)],
    ) -> Result<Vec<Result<Vec<ServerEvent>, ServerError>>, StoreError> {
        let mut results = Vec::with_capacity(cmds.len());
        // Per campaign touched: its stream, the version before the batch, and the records
        // of the events decided in it — encoded at once, so events are never cloned.
        let mut touched: Vec<(CampaignId, StreamId, Version, Vec<Record>)> = Vec::new();
        let mut encode_error = None;
        for (campaign, cmd) in cmds {
            if !self.streams.loaded.contains_key(campaign) {
                self.streams
                    .loaded
                    .insert(campaign.clone(), (ServerState::default(), 0));
            }
            let Some(entry) = self.streams.loaded.get_mut(campaign) else {
                continue; // inserted just above
            };
            match Server::decide(&entry.0, cmd) {
                Ok(events) => {
                    let i = match touched.iter().position(|t| &t.0 == campaign) {
                        Some(i) => i,
                        None => {
                            let stream = StreamId::server(campaign);
                            touched.push((campaign.clone(), stream, entry.1, Vec::new()));
                            touched.len() - 1
                        }
                    };
                    for e in &events {
                        Server::evolve(&mut entry.0, e);
                        match e.to_record() {
                            Ok(r) => touched[i].3.push(r),
                            Err(reason) => {
                                encode_error.get_or_insert(StoreError::Encode {
                                    stream: touched[i].1.clone(),
                                    reason,
                                });
                            }
                        }
                    }
                    results.push(Ok(events));
                }
                Err(e) => {
                    *self.rejections.entry(server_reason(&e)).or_default() += 1;
                    results.push(Err(e));
                }
            }
        }
        // Streams whose commands all decided to no events append nothing.
        if encode_error.is_none() {
            touched.retain(|t| !t.3.is_empty());
        }
        let outcome = match encode_error {
            Some(e) => Err(e),
            None if touched.is_empty() => Ok(vec![]),
            None => {
                let batch: Vec<(&StreamId, Version, Vec<Record>)> = touched
                    .iter_mut()
                    .map(|(_, s, v, recs)| (&*s, *v, std::mem::take(recs)))
                    .collect();
                self.store
                    .append_records(&batch)
                    .and_then(|v| self.store.flush().map(|_| v))
            }
        };
        let result = match outcome {
            Ok(versions) => {
                for ((c, ..), v) in touched.iter().zip(versions) {
                    if let Some(entry) = self.streams.loaded.get_mut(c) {
                        entry.1 = v;
                    }
                }
                Ok(results)
            }
            Err(e) => {
                for (c, ..) in &touched {
                    self.streams.reload(&self.store, c)?;
                }
                Err(e)
            }
        };
        self.streams.loaded.retain(|_, (_, v)| *v > 0);
        result
    }

    /// Ingests report bytes received at `at`: wire checks with the device's key from
    /// `directory`, then the decider. Duplicates and refusals append nothing.
    pub fn ingest(
        &mut self,
        bytes: &[u8],
        directory: &dyn Directory,
        at: Timestamp,
    ) -> Result<Ingest, StoreError> {
        let mut out = self.ingest_batch(&[bytes], directory, at)?;
        Ok(out.pop().unwrap_or(Ingest::Duplicate))
    }

    /// Ingests many reports with one atomic append and one flush (group commit).
    pub fn ingest_batch(
        &mut self,
        reports: &[&[u8]],
        directory: &dyn Directory,
        at: Timestamp,
    ) -> Result<Vec<Ingest>, StoreError> {
        let decoded: Vec<Result<Report, IngestRejection>> = reports
            .iter()
            .map(|bytes| {
                decode_report(bytes, crate::wire::DEFAULT_MAX_REPORT_BYTES, |d| {
                    directory.device_key(d)
                })
                .map_err(|e| {
                    self.count_rejection(e.reason());
                    IngestRejection::Wire(e)
                })
            })
            .collect();
        self.accept_reports(decoded, directory, at)
    }

    /// Ingests the reports of an OMA DM message (Generic Alerts, see [`crate::alert`]),
    /// authenticated by the host's DM session. A message that does not parse is refused as a
    /// whole with its [`AlertError`](crate::alert::AlertError) (answer with its `dm_status`).
    pub fn ingest_alerts(
        &mut self,
        xml: &str,
        limits: &crate::alert::AlertLimits,
        directory: &dyn Directory,
        at: Timestamp,
    ) -> Result<Result<Vec<Ingest>, crate::alert::AlertError>, StoreError> {
        let reports = match crate::alert::parse_alerts(xml, limits) {
            Ok(r) => r,
            Err(e) => {
                self.count_rejection("bad-alert");
                return Ok(Err(e));
            }
        };
        self.accept_reports(reports.into_iter().map(Ok).collect(), directory, at)
            .map(Ok)
    }

    /// Runs decoded reports (or their decoding refusals) through the decider in one group
    /// commit.
    fn accept_reports(
        &mut self,
        reports: Vec<Result<Report, IngestRejection>>,
        directory: &dyn Directory,
        at: Timestamp,
    ) -> Result<Vec<Ingest>, StoreError> {
        let mut slots: Vec<Option<Ingest>> = Vec::with_capacity(reports.len());
        let mut cmds = Vec::new();
        for r in reports {
            match r {
                Ok(report) => {
                    let groups = directory.groups(&report.device);
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
                    Some(Ok(events)) => Ingest::Accepted(events),
                    Some(Err(ServerError::Duplicate { .. })) => Ingest::Duplicate,
                    Some(Err(e)) => Ingest::Rejected(e.into()),
                    None => Ingest::Duplicate, // unreachable: one result per command
                },
            })
            .collect())
    }

    /// The first care order due at `now` over all campaigns, marked dispatched (logged)
    /// before it is returned for the host to send.
    pub fn dispatch_next_care(
        &mut self,
        now: Timestamp,
    ) -> Result<Option<(CampaignId, CareOrder)>, RuntimeError<ServerError>> {
        let next = self.states().find_map(|(id, s)| {
            s.due_care(now, 1)
                .into_iter()
                .next()
                .map(|o| (id.clone(), o))
        });
        let Some((id, order)) = next else {
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

    /// Ticks every campaign at `now`; returns when the next care or settlement falls due.
    pub fn tick_all(
        &mut self,
        now: Timestamp,
    ) -> Result<Option<Timestamp>, RuntimeError<ServerError>> {
        let ids: Vec<CampaignId> = self.states().map(|(id, _)| id.clone()).collect();
        for id in &ids {
            self.handle(id, &ServerCommand::Tick { now })?;
        }
        Ok(self.states().filter_map(|(_, s)| s.next_wake()).min())
    }

    /// The state of `campaign`.
    pub fn state(&self, campaign: &CampaignId) -> Option<&ServerState> {
        self.streams.loaded.get(campaign).map(|(s, _)| s)
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

    /// Makes every append so far durable.
    pub fn flush(&self) -> Result<(), StoreError> {
        self.store.flush()
    }

    /// The store.
    pub fn store(&self) -> &S {
        &self.store
    }
}
