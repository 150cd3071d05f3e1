//! The typed core of [`DeviceHost`]: a [`Device`] decider per campaign stream over a
//! store — commands, the payload check, the apply flows and the due report.

use crate::device::{DeviceCommand, DeviceError, DeviceEvent, DeviceState, Phase};
use crate::host::DeviceHost;
use crate::host::streams::{Rejections, RuntimeError, Streams};
use crate::model::{CampaignId, DeviceId, Setting, Timestamp, ValidCampaign};
use crate::payload::{
    PayloadError, PayloadLimits, TrustedKeys, check_replay_floor, open_payload, plausible,
};
use crate::report::{ApplyResult, Report};
use crate::store::{EventStore, StoreError};
use crate::wire::{DeviceKey, ReportError, encode_report};

/// Work a device took on and did not finish (see [`DeviceHost::pending`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Pending {
    /// The campaign.
    pub campaign: CampaignId,
    /// `None`: the campaign's settings; `Some(attempt)`: that care attempt's settings.
    pub care_attempt: Option<u32>,
    /// The settings still without a recorded result.
    pub settings: Vec<Setting>,
}

impl<S: EventStore> DeviceHost<S> {
    /// Opens the host of `device` (member of `groups`) on `store`, replaying its streams.
    /// It takes payloads signed by a key in `trusted` and authenticates reports with `key`.
    pub fn on_store(
        store: S,
        device: DeviceId,
        groups: Vec<String>,
        trusted: TrustedKeys,
        key: DeviceKey,
    ) -> Result<Self, StoreError> {
        let streams = Streams::open(&store)?;
        Ok(DeviceHost {
            store,
            device,
            groups,
            streams,
            rejections: Rejections::new(),
            trusted,
            key: zeroize::Zeroizing::new(key),
            limits: PayloadLimits::default(),
        })
    }

    /// The same host, checking payloads against `limits` instead of
    /// [`PayloadLimits::default`] (a handset with less room sets tighter ones).
    pub fn with_payload_limits(mut self, limits: PayloadLimits) -> Self {
        self.limits = limits;
        self
    }

    /// A verified campaign arrived at `at` (validated once, by
    /// [`open_payload`](crate::payload::open_payload) or [`ValidCampaign::new`]).
    pub fn receive_campaign(
        &mut self,
        campaign: ValidCampaign,
        at: Timestamp,
    ) -> Result<Vec<DeviceEvent>, RuntimeError<DeviceError>> {
        let id = campaign.id.clone();
        let cmd = DeviceCommand::Receive {
            campaign,
            device: self.device.clone(),
            groups: self.groups.clone(),
            at,
        };
        self.handle(&id, &cmd)
    }

    /// The flow for a received payload: verify and take it on ([`Self::receive_payload`]),
    /// durable before anything is applied, then ask the host to `apply` each of *that
    /// campaign's* settings in order and record the results. If `apply` fails partway, the
    /// results so far are recorded (the rest count as not applied) and the host's error is
    /// returned as `Ok(Some(e))`. If the device dies while applying, the campaign stays
    /// pending: [`Self::pending`] names it and [`Self::resume`] applies it.
    pub(super) fn receive_and_apply<E>(
        &mut self,
        bytes: &[u8],
        at: Timestamp,
        apply: impl FnMut(&Setting) -> Result<ApplyResult, E>,
    ) -> Result<Option<E>, RuntimeError<DeviceError>> {
        let events = self.receive_payload(bytes, at)?;
        let Some(DeviceEvent::PayloadAccepted { campaign, .. }) = events.first() else {
            return Ok(None); // taking a campaign on always starts with PayloadAccepted
        };
        let id = campaign.id.clone();
        // Intent before effects: the receive is durable (the engine flushed it), so a device
        // that dies mid-apply finds the campaign pending.
        self.apply_pending(&id, at, apply)
    }

    /// The flow for unicast care: take the care order on, make that durable, ask the host
    /// to `apply` each setting, record the results. A host failure partway records the
    /// failed setting as status 500 and the rest as not re-applied (500), and is returned as
    /// `Ok(Some(e))`. If the device dies while applying, [`Self::resume`] finishes it.
    pub(super) fn receive_care_and_apply<E>(
        &mut self,
        campaign: &CampaignId,
        revision: u32,
        attempt: u32,
        settings: Vec<u32>,
        at: Timestamp,
        apply: impl FnMut(&Setting) -> Result<ApplyResult, E>,
    ) -> Result<Option<E>, RuntimeError<DeviceError>> {
        self.handle(
            campaign,
            &DeviceCommand::ReceiveCare {
                revision,
                attempt,
                settings,
                at,
            },
        )?; // durable: the engine flushed it before the settings are applied
        self.apply_pending(campaign, at, apply)
    }

    /// Work a device took on and has not finished: a campaign whose settings were never
    /// recorded as applied, or care whose results were never recorded (the device died,
    /// or the host returned without recording). Empty when nothing is pending.
    pub fn pending(&self) -> Vec<Pending> {
        self.states()
            .filter_map(|(id, s)| {
                let (care_attempt, settings) = match s.phase {
                    Phase::Applying => (None, s.pending_apply()?.to_vec()),
                    Phase::ApplyingCare => {
                        let (attempt, settings) = s.pending_care()?;
                        (Some(attempt), settings.into_iter().cloned().collect())
                    }
                    _ => return None,
                };
                Some(Pending {
                    campaign: id.clone(),
                    care_attempt,
                    settings,
                })
            })
            .collect()
    }

    /// Finishes every [`Self::pending`] piece of work at `at`: `apply` applies its settings
    /// again (the apply never recorded a result, so every setting is applied) and the
    /// results are recorded, oldest campaign first (by `issued_at`, then id): where two
    /// pending campaigns set one URI, the newer one's value is applied last and stays.
    /// Returns how many were finished, and the first host error.
    pub(super) fn resume_pending<E>(
        &mut self,
        at: Timestamp,
        mut apply: impl FnMut(&Setting) -> Result<ApplyResult, E>,
    ) -> Result<(usize, Option<E>), RuntimeError<DeviceError>> {
        let mut pending = self.pending();
        pending.sort_by_key(|p| {
            let issued = self
                .state(&p.campaign)
                .and_then(|s| s.campaign.as_ref())
                .map(|c| c.issued_at);
            (issued, p.campaign.clone())
        });
        let mut first_error = None;
        for p in &pending {
            let e = self.apply_pending(&p.campaign, at, &mut apply)?;
            if first_error.is_none() {
                first_error = e;
            }
        }
        Ok((pending.len(), first_error))
    }

    /// Applies what `campaign`'s stream has pending (its settings, or its care) and records
    /// the results; nothing when nothing is pending.
    fn apply_pending<E>(
        &mut self,
        campaign: &CampaignId,
        at: Timestamp,
        mut apply: impl FnMut(&Setting) -> Result<ApplyResult, E>,
    ) -> Result<Option<E>, RuntimeError<DeviceError>> {
        let Some(state) = self.state(campaign) else {
            return Ok(None);
        };
        match state.phase {
            Phase::Applying => {
                let settings = state
                    .pending_apply()
                    .map(<[Setting]>::to_vec)
                    .unwrap_or_default();
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
                self.handle(campaign, &DeviceCommand::RecordApplied { results, at })?;
                Ok(host_error)
            }
            Phase::ApplyingCare => {
                let Some((attempt, care)) = state
                    .pending_care()
                    .map(|(a, v)| (a, v.into_iter().cloned().collect::<Vec<_>>()))
                else {
                    return Ok(None);
                };
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
                let cmd = DeviceCommand::RecordCareApplied {
                    attempt,
                    results,
                    at,
                };
                self.handle(campaign, &cmd)?;
                Ok(host_error)
            }
            _ => Ok(None),
        }
    }

    /// The first report due at `now` over all campaigns: its campaign, the report and its
    /// wire bytes authenticated with the device's key.
    pub fn next_due_report(
        &self,
        now: Timestamp,
    ) -> Option<(CampaignId, Report, Result<Vec<u8>, ReportError>)> {
        let (id, r, _) = self.first_due(now)?;
        let bytes = encode_report(&r, &self.key);
        Some((id.clone(), r, bytes))
    }

    /// The first report due at `now` rendered as an OMA DM Generic Alert (see
    /// [`crate::alert`]) for a host whose DM client sends it in a DM session: its campaign,
    /// the report and the `<Alert>` XML (with `hdr`, a whole SyncML message).
    pub fn next_due_alert(
        &self,
        now: Timestamp,
        hdr: Option<&crate::alert::SyncHeader>,
    ) -> Option<(CampaignId, Report, String)> {
        let (id, r, campaign) = self.first_due(now)?;
        let xml = match hdr {
            Some(h) => crate::alert::render_syncml(&r, campaign, h),
            None => crate::alert::render_alert(&r, campaign, 1),
        };
        Some((id.clone(), r, xml))
    }

    /// The first report due at `now` (campaigns in id order), with its campaign's id and
    /// the campaign itself (to name failed settings' URIs): what every form of the due
    /// report — bytes, Generic Alert, Items, package — is rendered from.
    pub(crate) fn first_due(
        &self,
        now: Timestamp,
    ) -> Option<(&CampaignId, Report, Option<&crate::model::Campaign>)> {
        self.states()
            .find_map(|(id, s)| Some((id, s.due_report(now)?, s.campaign.as_deref())))
    }

    /// Verifies a received broadcast payload (size, frame, signature, limits, expiry) and
    /// takes its campaign on. A refused payload is counted per reason and changes nothing.
    pub fn receive_payload(
        &mut self,
        bytes: &[u8],
        at: Timestamp,
    ) -> Result<Vec<DeviceEvent>, RuntimeError<DeviceError>> {
        let (trusted, limits) = (&self.trusted, &self.limits);
        // The floor: the newest campaign held whose time was plausible when it arrived.
        let floor = self
            .states()
            .filter_map(|(_, s)| s.campaign.as_ref().map(|c| (c.issued_at, s.received_at)))
            .filter(|&(issued, received)| plausible(issued, received, limits))
            .map(|(issued, _)| issued)
            .max();
        let opened = open_payload(bytes, trusted, at, limits).and_then(|p| {
            check_replay_floor(p.campaign.issued_at, floor, at, limits)?;
            self.check_superseded(&p.campaign)?;
            Ok(p)
        });
        match opened {
            Ok(p) => self.receive_campaign(p.campaign, at),
            Err(e) => {
                self.count_rejection(e.reason());
                Err(RuntimeError::Payload(e))
            }
        }
    }

    /// For a URI that several campaigns set, the one issued later wins: a campaign issued
    /// before another campaign held that sets any of its URIs is refused
    /// ([`PayloadError::Superseded`]). Revisions of one campaign are the decider's (a newer
    /// revision replaces the older one; an older is stale).
    fn check_superseded(&self, incoming: &crate::model::Campaign) -> Result<(), PayloadError> {
        for (id, s) in self.states() {
            let Some(held) = s.campaign.as_ref() else {
                continue;
            };
            if *id == incoming.id || held.issued_at <= incoming.issued_at {
                continue;
            }
            if let Some(shared) = incoming
                .settings
                .iter()
                .find(|i| held.settings.iter().any(|h| h.uri == i.uri))
            {
                return Err(PayloadError::Superseded {
                    issued_at: incoming.issued_at,
                    by: id.to_string(),
                    uri: shared.uri.to_string(),
                });
            }
        }
        Ok(())
    }

    /// The report due at `now` for `campaign`, encoded and authenticated with the device's
    /// key, ready to send; mark it sent with [`DeviceCommand::MarkSent`] once it is out.
    pub fn due_report_bytes(
        &self,
        campaign: &CampaignId,
        now: Timestamp,
    ) -> Option<(Report, Result<Vec<u8>, ReportError>)> {
        let report = self.state(campaign)?.due_report(now)?;
        let bytes = encode_report(&report, &self.key);
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
            *self.rejections.entry(e.reason()).or_default() += 1;
        }
        r
    }

    /// Ticks every campaign at `now`; returns the events per campaign that had any
    /// ([`Self::tick`] returns when the next tick is due instead).
    pub fn tick_events(
        &mut self,
        now: Timestamp,
    ) -> Result<Vec<(CampaignId, Vec<DeviceEvent>)>, RuntimeError<DeviceError>> {
        // A campaign dropped after a store failure comes back first.
        self.streams.revive(&self.store, None)?;
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

    /// The store.
    pub fn store(&self) -> &S {
        &self.store
    }
}
