//! [`ServerHost`]: every flow a DM server runs, as one Rust function each. The C API
//! (`devcare_server_*`) and the bindings' `ServerHost` only convert types around it; the
//! typed core (commands, batches, the ingest's group commit) is in `server_core`.

use std::path::Path;

use crate::alert::AlertLimits;
use crate::file::ServerPolicy;
use crate::host::HostError;
use crate::host::keys::{campaign_id, device_id, group_names, key32};
use crate::host::server_core::{AlertIngest, Directory, GroupDirectory, Ingest};
use crate::host::streams::{Rejections, Streams};
use crate::model::{Campaign, CampaignId, Timestamp};
use crate::payload::{PayloadLimits, ServerKey, build_payload};
use crate::server::{
    CampaignStats, CareOrder, CoverageFloor, InFlightCare, Server, ServerCommand, ServerState,
};
use crate::store::{AnyStore, EventStore};

/// Which devices of a host's directory are in a campaign's success sample.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SampleView {
    /// How many are sampled.
    pub sampled: u64,
    /// The sampled devices the server has heard nothing from yet, in the order given.
    pub silent: Vec<String>,
}
/// A DM server's devcare host: a [`Server`](crate::server::Server) decider per campaign
/// stream over an event store `S` (the embedded store by default), and the device key
/// directory `D` reports are checked against (by default derived from a master secret).
/// Every call that changes state is decided, appended and flushed before it returns `Ok`
/// (one loop, [`crate::host`]'s flush rule).
#[derive(Debug)]
pub struct ServerHost<S = AnyStore, D = GroupDirectory> {
    pub(super) store: S,
    pub(super) streams: Streams<Server>,
    pub(super) rejections: Rejections,
    pub(super) keys: D,
}

impl ServerHost {
    /// Opens the host. Device report keys derive from `master_key` (32 bytes). `path`
    /// `None` keeps the log in memory; otherwise it is a sled directory, replayed on open.
    /// Another store or key directory: [`Self::on_store`].
    pub fn open(path: Option<&Path>, master_key: &[u8]) -> Result<Self, HostError> {
        let keys = GroupDirectory::new(key32(master_key, "master_key")?);
        let store = AnyStore::open(path)?;
        let mut host = ServerHost::on_store(store, keys)?;
        host.load_groups()?;
        Ok(host)
    }

    /// Parses and validates campaign-file text (errors located at `campaign.toml:line:col`).
    pub fn parse_campaign(toml: &str) -> Result<Campaign, HostError> {
        Ok(Campaign::from_toml("campaign.toml", toml)?)
    }

    /// [`Self::parse_campaign`], with the file's whole server-side policy (`[coverage]`,
    /// `[[group_breaker]]`).
    pub fn parse_campaign_policy(
        toml: &str,
    ) -> Result<(Campaign, crate::file::ServerPolicy), HostError> {
        Ok(crate::file::parse_campaign_policy(
            "campaign.toml",
            toml,
            &crate::model::Limits::DEFAULT,
        )?)
    }

    /// [`Self::parse_campaign`], with the file's server-side `[coverage]` policy.
    pub fn parse_campaign_file(toml: &str) -> Result<(Campaign, Option<CoverageFloor>), HostError> {
        Ok(crate::file::parse_campaign_file(
            "campaign.toml",
            toml,
            &crate::model::Limits::DEFAULT,
        )?)
    }
}

impl<S: EventStore> ServerHost<S, GroupDirectory> {
    /// Records that `device` belongs to `groups` (replacing what was recorded; an empty list
    /// clears it). Group campaigns accept reports only from members. The table is kept in
    /// the store (`directory/groups`) and read back on open, so a member's report that
    /// arrives after a restart, before the host refills the table, is still a member's;
    /// setting what is already recorded appends nothing. The change is made durable by the
    /// next decision's flush ([`Self::flush`] to force it).
    pub fn set_device_groups(
        &mut self,
        device: &str,
        groups: Vec<String>,
    ) -> Result<(), HostError> {
        let device = device_id(device)?;
        let groups = group_names(groups)?;
        if self.keys.groups(&device) == groups {
            return Ok(());
        }
        let stream = crate::host::server_directory::groups_stream();
        let version = self.store().version(&stream)?;
        let event = crate::host::DirectoryEvent::GroupsSet {
            device: device.clone(),
            groups: groups.clone(),
        };
        self.store()
            .append(&stream, version, std::slice::from_ref(&event))?;
        self.keys.set_groups(device, groups);
        Ok(())
    }

    /// Reads the group table the store holds into the directory (done by [`Self::open`]; a
    /// host opened with [`ServerHost::on_store`] calls it itself).
    pub fn load_groups(&mut self) -> Result<(), HostError> {
        let table = crate::host::server_directory::load_groups(self.store())?;
        for (device, groups) in table {
            self.keys.set_groups(device, groups);
        }
        Ok(())
    }

    /// Also takes reports under device keys derived from `master_key` (32 bytes): a report
    /// key rotation starts — devices are re-provisioned with keys of the new master while
    /// the others still hold keys of the old one.
    pub fn add_master_key(&mut self, master_key: &[u8]) -> Result<(), HostError> {
        self.keys.add_master(key32(master_key, "master_key")?);
        Ok(())
    }

    /// Stops taking reports under keys derived from `master_key` (the rotation is over, or
    /// the master leaked). Returns whether it was held; the last master stays.
    pub fn remove_master_key(&mut self, master_key: &[u8]) -> Result<bool, HostError> {
        Ok(self.keys.remove_master(&key32(master_key, "master_key")?))
    }
}

impl<S: EventStore, D: Directory> ServerHost<S, D> {
    /// Creates `campaign` at `now`. `targeted` is the number of target devices (0 for an
    /// explicit device list). Returns the campaign id. A campaign whose broadcast payload
    /// would exceed the payload limit (a long explicit target list) is refused
    /// (`PayloadError::Oversize`).
    pub fn create(
        &mut self,
        campaign: Campaign,
        targeted: u64,
        now: Timestamp,
    ) -> Result<CampaignId, HostError> {
        self.take_on(campaign, targeted, now, |campaign, targeted, at| {
            ServerCommand::Create {
                campaign,
                targeted,
                at,
            }
        })
    }

    /// Checks that `campaign` fits a broadcast payload, then runs the `Create` or `Revise`
    /// that `command` makes of it, and flushes.
    fn take_on(
        &mut self,
        campaign: Campaign,
        targeted: u64,
        now: Timestamp,
        command: fn(Box<Campaign>, Option<u64>, Timestamp) -> ServerCommand,
    ) -> Result<CampaignId, HostError> {
        crate::payload::payload_len(&campaign, &PayloadLimits::default())?;
        let id = campaign.id.clone();
        let cmd = command(Box::new(campaign), (targeted > 0).then_some(targeted), now);
        self.run(&id, &cmd)?;
        Ok(id)
    }

    /// Runs `cmd` on `campaign`'s stream and flushes. A campaign that does not exist is
    /// the decider's own `unknown-campaign` refusal.
    pub(super) fn run(
        &mut self,
        campaign: &CampaignId,
        cmd: &ServerCommand,
    ) -> Result<Vec<crate::server::ServerEvent>, HostError> {
        let events = self.handle(campaign, cmd)?;
        Ok(events)
    }

    /// [`Self::parse_campaign`] then [`Self::create`].
    /// A `[coverage]` section in the file sets the campaign's coverage floor in the same
    /// atomic append.
    pub fn create_campaign(
        &mut self,
        toml: &str,
        targeted: u64,
        now: Timestamp,
    ) -> Result<CampaignId, HostError> {
        let (campaign, policy) = ServerHost::parse_campaign_policy(toml)?;
        self.take_on_with_policy(campaign, policy, targeted, now, |campaign, targeted, at| {
            ServerCommand::Create {
                campaign,
                targeted,
                at,
            }
        })
    }

    /// [`Self::take_on`], then the file's coverage floor and group thresholds, if any, in one
    /// atomic append. A group threshold without `devices` takes the group's size from the
    /// directory ([`Directory::group_members`]).
    fn take_on_with_policy(
        &mut self,
        campaign: Campaign,
        policy: ServerPolicy,
        targeted: u64,
        now: Timestamp,
        command: fn(Box<Campaign>, Option<u64>, Timestamp) -> ServerCommand,
    ) -> Result<CampaignId, HostError> {
        if policy == ServerPolicy::default() {
            return self.take_on(campaign, targeted, now, command);
        }
        let mut breakers = Vec::with_capacity(policy.group_breakers.len());
        for g in &policy.group_breakers {
            let size = g
                .devices
                .or_else(|| self.keys.group_members(&g.group))
                .ok_or_else(|| {
                    HostError::Server(crate::server::ServerError::GroupBreaker(format!(
                        "group {:?}: the directory cannot count its members; give `devices` in its [[group_breaker]]",
                        g.group
                    )))
                })?;
            breakers.push(g.with_size(size));
        }
        // Checked before the batch: a refused threshold must not leave the campaign created
        // without it.
        crate::server::GroupBreaker::validate(&breakers)
            .map_err(|m| HostError::Server(crate::server::ServerError::GroupBreaker(m)))?;
        crate::payload::payload_len(&campaign, &PayloadLimits::default())?;
        let id = campaign.id.clone();
        let mut cmds = vec![(
            id.clone(),
            command(Box::new(campaign), (targeted > 0).then_some(targeted), now),
        )];
        if let Some(policy) = policy.coverage {
            cmds.push((
                id.clone(),
                ServerCommand::SetCoverageFloor { policy, at: now },
            ));
        }
        if !breakers.is_empty() {
            cmds.push((
                id.clone(),
                ServerCommand::SetGroupBreakers { breakers, at: now },
            ));
        }
        // The file and the thresholds were checked: the policy is refused only if the
        // campaign is, and then nothing was appended for it.
        for r in self.handle_batch(&cmds)? {
            r?;
        }
        Ok(id)
    }

    /// Revises a live campaign from campaign-file text at `now` (same id, higher revision;
    /// `targeted` as for [`Self::create`]). Revision N's care stops and its reports are
    /// refused with DM 410; build and broadcast the new payload next.
    pub fn revise_campaign(
        &mut self,
        toml: &str,
        targeted: u64,
        now: Timestamp,
    ) -> Result<CampaignId, HostError> {
        let (campaign, policy) = ServerHost::parse_campaign_policy(toml)?;
        self.take_on_with_policy(campaign, policy, targeted, now, |campaign, targeted, at| {
            ServerCommand::Revise {
                campaign,
                targeted,
                at,
            }
        })
    }

    /// Signs `campaign` into its broadcast payload with the secret `signing_seed` (32
    /// bytes), valid until `valid_until`. Changes nothing: see [`Self::mark_broadcast`].
    pub fn sign_payload(
        &self,
        campaign: &str,
        signing_seed: &[u8],
        valid_until: Timestamp,
    ) -> Result<Vec<u8>, HostError> {
        let id = campaign_id(campaign)?;
        let seed = key32(signing_seed, "signing_seed")?;
        let c = self
            .state(&id)
            .and_then(|s| s.campaign.as_ref())
            .ok_or_else(|| HostError::UnknownCampaign(id.to_string()))?;
        Ok(build_payload(
            c,
            &ServerKey::from_seed(&seed),
            valid_until,
            &PayloadLimits::default(),
        )?)
    }

    /// Records that `campaign`'s payload went out at `now`; later calls keep the first time.
    pub fn mark_broadcast(&mut self, campaign: &str, now: Timestamp) -> Result<(), HostError> {
        let id = campaign_id(campaign)?;
        let state = self
            .state(&id)
            .ok_or_else(|| HostError::UnknownCampaign(id.to_string()))?;
        if state.broadcast_at.is_none() {
            self.run(&id, &ServerCommand::MarkBroadcast { at: now })?;
        }
        Ok(())
    }

    /// [`Self::sign_payload`] then [`Self::mark_broadcast`]: the payload to send now.
    pub fn build_payload(
        &mut self,
        campaign: &str,
        signing_seed: &[u8],
        valid_until: Timestamp,
        now: Timestamp,
    ) -> Result<Vec<u8>, HostError> {
        let bytes = self.sign_payload(campaign, signing_seed, valid_until)?;
        self.mark_broadcast(campaign, now)?;
        Ok(bytes)
    }

    /// Ingests report bytes received at `now` (keys from the master secret). A refusal
    /// is an `Ok(Ingest::Rejected(_))`: answer the device with [`Ingest::dm_status`].
    /// Many at once, in one group commit: [`Self::ingest_batch`].
    pub fn ingest_report(&mut self, bytes: &[u8], now: Timestamp) -> Result<Ingest, HostError> {
        let mut out = self.ingest_batch(&[bytes], now)?;
        Ok(out.pop().unwrap_or(Ingest::Duplicate))
    }

    /// Ingests an OMA DM message carrying devcare Generic Alerts at `now`, sent in the DM
    /// session of `session_device` — the device the host authenticated (SyncHdr Source and
    /// credentials), never an id taken from the message. A message with a report for any
    /// other device (`not-sender`, 403), from a device unknown to the key directory
    /// (`unknown-sender`, 401) or that does not parse is [`HostError::Alert`] (answer its
    /// `dm_status`) and changes nothing.
    pub fn ingest_alert(
        &mut self,
        xml: &str,
        session_device: &str,
        now: Timestamp,
    ) -> Result<AlertIngest, HostError> {
        let device = device_id(session_device)?;
        self.ingest_from(xml, crate::alert::Sender::Device(&device), now)
    }

    /// [`Self::ingest_alert`] for a trusted gateway that relays the reports of many devices:
    /// an explicit opt-in of the host, which names in `devices` whom the gateway may speak
    /// for; a report for any other device refuses the message (`not-sender`, 403).
    pub fn ingest_gateway_alert(
        &mut self,
        xml: &str,
        devices: &[String],
        now: Timestamp,
    ) -> Result<AlertIngest, HostError> {
        let allowed = devices
            .iter()
            .map(|d| device_id(d))
            .collect::<Result<std::collections::BTreeSet<_>, _>>()?;
        self.ingest_from(xml, crate::alert::Sender::Gateway(&allowed), now)
    }

    fn ingest_from(
        &mut self,
        xml: &str,
        sender: crate::alert::Sender<'_>,
        now: Timestamp,
    ) -> Result<AlertIngest, HostError> {
        let outcomes = self.ingest_alerts(xml, sender, &AlertLimits::default(), now)??;
        Ok(AlertIngest { outcomes })
    }

    /// The care order that [`Self::next_care`] would dispatch at `now`, without
    /// dispatching it (a C host sizes its buffers with it).
    pub fn peek_care(&self, now: Timestamp) -> Option<(CampaignId, CareOrder)> {
        self.next_due_care(now)
    }

    /// The next care order due at `now` (any campaign), marked dispatched and flushed
    /// before it is returned for the host to send.
    pub fn next_care(
        &mut self,
        now: Timestamp,
    ) -> Result<Option<(CampaignId, CareOrder)>, HostError> {
        let next = self.dispatch_next_care(now)?;
        Ok(next)
    }

    /// Records the outcome of care `attempt` for `device` in `campaign`.
    pub fn care_outcome(
        &mut self,
        campaign: &str,
        device: &str,
        attempt: u32,
        success: bool,
        now: Timestamp,
    ) -> Result<(), HostError> {
        let id = campaign_id(campaign)?;
        let cmd = ServerCommand::RecordCareOutcome {
            device: device_id(device)?,
            attempt,
            success,
            at: now,
        };
        self.run(&id, &cmd)?;
        Ok(())
    }

    /// A device stated, in an ordinary DM session at `now`, that it applied `campaign` up to
    /// `applied_revision` (0: never). A target behind the campaign's revision gets care for
    /// every setting; returns whether care was opened (false: up to date, or already in a
    /// case). A device that is not a target is refused (`not-targeted`).
    pub fn check_in(
        &mut self,
        campaign: &str,
        device: &str,
        applied_revision: u32,
        now: Timestamp,
    ) -> Result<bool, HostError> {
        let id = campaign_id(campaign)?;
        let device = device_id(device)?;
        let groups = self.keys.groups(&device);
        let cmd = ServerCommand::CheckIn {
            device,
            groups,
            applied_revision,
            at: now,
        };
        Ok(!self.run(&id, &cmd)?.is_empty())
    }

    /// An operator pauses care of `campaign`: no order is dispatched until [`Self::resume`].
    /// The operator's pause and the abort threshold's are separate: either holds care.
    pub fn pause(&mut self, campaign: &str, now: Timestamp) -> Result<(), HostError> {
        self.operator(campaign, ServerCommand::Pause { at: now })
    }

    /// An operator lifts their own pause of `campaign`. A pause by the abort threshold stays
    /// (`paused-by-breaker` when it is the only one): lifting it is
    /// [`Self::override_abort`].
    pub fn resume(&mut self, campaign: &str, now: Timestamp) -> Result<(), HostError> {
        self.operator(campaign, ServerCommand::Resume { at: now })
    }

    /// Lifts the abort threshold's pause of `campaign` on purpose: `by` (who) and `why` are
    /// logged with it (1–200 bytes each). The threshold stays quiet for the campaign after.
    pub fn override_abort(
        &mut self,
        campaign: &str,
        by: &str,
        why: &str,
        now: Timestamp,
    ) -> Result<(), HostError> {
        let cmd = ServerCommand::OverrideAbort {
            by: by.to_owned(),
            why: why.to_owned(),
            at: now,
        };
        self.operator(campaign, cmd)
    }

    pub(super) fn operator(&mut self, campaign: &str, cmd: ServerCommand) -> Result<(), HostError> {
        self.run(&campaign_id(campaign)?, &cmd)?;
        Ok(())
    }

    /// Lets time pass on every campaign (settles those past their report deadline);
    /// returns when the next care or settlement falls due.
    pub fn tick(&mut self, now: Timestamp) -> Result<Option<Timestamp>, HostError> {
        // A campaign dropped after a store failure comes back first (or the tick is a store
        // error: time does not pass on a campaign the host cannot see).
        self.revive_all()?;
        let ids: Vec<CampaignId> = self.states().map(|(id, _)| id.clone()).collect();
        for id in &ids {
            self.handle(id, &ServerCommand::Tick { now })?;
        }
        Ok(self.states().filter_map(|(_, s)| s.next_wake()).min())
    }

    /// The statistics of `campaign`.
    pub fn stats(&self, campaign: &str) -> Result<CampaignStats, HostError> {
        let id = campaign_id(campaign)?;
        self.known_state(&id).map(|s| s.stats())
    }

    /// Care orders of `campaign` dispatched and not answered yet, the soonest to expire
    /// first. One without an outcome by its `expires` counts as a failed attempt at the next
    /// [`Self::tick`].
    pub fn care_in_flight(&self, campaign: &str) -> Result<Vec<InFlightCare>, HostError> {
        let id = campaign_id(campaign)?;
        self.known_state(&id).map(|s| s.care_in_flight())
    }

    pub(super) fn named_state(&self, campaign: &str) -> Result<&ServerState, HostError> {
        let id = campaign_id(campaign)?;
        self.state(&id)
            .ok_or_else(|| HostError::UnknownCampaign(id.to_string()))
    }

    /// Makes every append so far durable (every call that changed state already did).
    pub fn flush(&self) -> Result<(), HostError> {
        Ok(self.store.flush()?)
    }
}
