//! The server host's success sample, coverage floor, repair and settlement limit
//! (`docs/design.md`, "Coverage estimate", "Coverage fallback", "Repair").

use crate::host::HostError;
use crate::host::SampleView;
use crate::host::keys::{campaign_id, device_id};
use crate::host::server::ServerHost;
use crate::host::server_core::Directory;
use crate::model::Timestamp;
use crate::server::{CoverageFloor, Fallback, FallbackDue, ServerCommand};
use crate::store::EventStore;

impl<S: EventStore, D: Directory> ServerHost<S, D> {
    /// Which of `devices` are in `campaign`'s success sample (`sampled(salt, id, ppm)`), and
    /// of those, which are *silent*: no probe, no report, no check-in yet. Pass the targets
    /// from the host's directory: the count of the first is what [`Self::set_sampled_targets`]
    /// takes; the second names the devices to poll by unicast to tell "missed the
    /// broadcast" from "probe lost". One hash per device; nothing is stored.
    pub fn sample<'a>(
        &self,
        campaign: &str,
        devices: impl IntoIterator<Item = &'a str>,
    ) -> Result<SampleView, HostError> {
        let id = campaign_id(campaign)?;
        let state = self
            .state(&id)
            .ok_or_else(|| HostError::UnknownCampaign(id.to_string()))?;
        let c = state.campaign()?;
        let ppm = c.schedule.sample_success_ppm;
        let mut view = SampleView::default();
        for d in devices {
            let d = device_id(d)?;
            if crate::slot::sampled(&c.salt, &d, ppm) {
                view.sampled += 1;
                if !state.cases.contains_key(&d) {
                    view.silent.push(d.to_string());
                }
            }
        }
        Ok(view)
    }

    /// Counts `campaign`'s success sample over `directory` (the host's target ids, each once)
    /// — how many are sampled and where their report slots fall — and records it
    /// (`ProfileSample`): the coverage estimate is then valid for this campaign and knows
    /// which silent sampled devices may still probe (`docs/design.md`, "Coverage under
    /// loss"). Returns the number of sampled targets. Tell it again after a revision.
    pub fn record_sample<'a>(
        &mut self,
        campaign: &str,
        directory: impl IntoIterator<Item = &'a str>,
        now: Timestamp,
    ) -> Result<u64, HostError> {
        let id = campaign_id(campaign)?;
        let c = self.named_state(campaign)?.campaign()?.clone();
        let mut profile = crate::server::SampleProfile::default();
        for d in directory {
            let d = device_id(d)?;
            profile.add(&c, d.as_bytes());
        }
        let sampled = profile.sampled_targets();
        self.run(&id, &ServerCommand::ProfileSample { profile, at: now })?;
        Ok(sampled)
    }

    /// Sets `campaign`'s limit on targets wrongly presumed OK (`None` lifts it): above it
    /// at the deadline the campaign stays open, checked hourly, until check-ins bring the
    /// server's 95% bound within it (at most `MAX_SETTLEMENT_HOLD` after the deadline).
    pub fn set_settlement_limit(
        &mut self,
        campaign: &str,
        max_presumed_unknown: Option<u64>,
        now: Timestamp,
    ) -> Result<(), HostError> {
        self.operator(
            campaign,
            ServerCommand::SetSettlementLimit {
                max_presumed_unknown,
                at: now,
            },
        )
    }

    /// Records how many of `campaign`'s targets are in its success sample (count them with
    /// [`Self::sample`] over the host's directory; an explicit target list is counted at
    /// creation). From then on the coverage estimate is conditioned on the known sample and
    /// valid for this campaign (`CoverageBasis::KnownSample`). Tell it again after a
    /// revision (its salt, and so its sample, may change).
    pub fn set_sampled_targets(
        &mut self,
        campaign: &str,
        sampled_targets: u64,
        now: Timestamp,
    ) -> Result<(), HostError> {
        self.operator(
            campaign,
            ServerCommand::SizeSample {
                sampled_targets,
                at: now,
            },
        )
    }

    /// Sets `campaign`'s coverage floor (a share in (0, 1]) and what runs below it (server-side
    /// policy, kept across revisions; `docs/design.md`, "Coverage fallback"). The server
    /// checks the reach interval once every report of a device that received the broadcast
    /// is in, and at the deadline; below the floor it records `BroadcastDegraded`, and the
    /// host then runs [`Self::fallback_due`] after every [`Self::tick`].
    pub fn set_coverage_floor(
        &mut self,
        campaign: &str,
        floor: f64,
        fallback: Fallback,
        now: Timestamp,
    ) -> Result<(), HostError> {
        let policy = CoverageFloor { floor, fallback };
        self.operator(
            campaign,
            ServerCommand::SetCoverageFloor { policy, at: now },
        )
    }

    /// What `campaign`'s coverage fallback asks of the host at `now`: nothing, a
    /// rebroadcast (then [`Self::record_rebroadcast`]), or a unicast batch (then
    /// [`Self::fallback_unicast`]).
    pub fn fallback_due(&self, campaign: &str, now: Timestamp) -> Result<FallbackDue, HostError> {
        Ok(self.named_state(campaign)?.fallback_due(now))
    }

    /// Records that the host broadcast `campaign`'s payload again, as its rebroadcast
    /// fallback asked.
    pub fn record_rebroadcast(&mut self, campaign: &str, now: Timestamp) -> Result<(), HostError> {
        self.operator(campaign, ServerCommand::RecordRebroadcast { at: now })
    }

    /// Picks and records `campaign`'s next unicast fallback batch from `directory` (the
    /// host's target ids, in any order): the first targets after the cursor in the poll
    /// order (ascending ids; for a repair, ascending poll keys: a random sample) that the
    /// server has heard nothing from, as many as the pace allows now. Returns them; the host opens a DM
    /// session with each and passes the revision it holds to [`Self::check_in`]: one that
    /// missed the broadcast gets the payload as care ([`Self::next_care`]). When the batch
    /// holds every remaining silent target the fallback is done. Returns an empty list when
    /// no batch is due.
    pub fn fallback_unicast<'a>(
        &mut self,
        campaign: &str,
        directory: impl IntoIterator<Item = &'a str>,
        now: Timestamp,
    ) -> Result<Vec<String>, HostError> {
        let id = campaign_id(campaign)?;
        let state = self.named_state(campaign)?;
        let FallbackDue::Unicast { allowance, after } = state.fallback_due(now) else {
            return Ok(vec![]);
        };
        // The `allowance` first silent targets after the cursor in the poll order (ids; for a
        // repair, poll keys): a max-heap of the best so far.
        let c = state.campaign()?;
        let repair = matches!(
            state.fallback.policy.map(|p| p.fallback),
            Some(crate::server::Fallback::Repair { .. })
        );
        let rank = |d: &crate::model::DeviceId| {
            let key = if repair {
                crate::slot::poll_key(&c.salt, d.as_bytes())
            } else {
                0
            };
            (key, d.clone())
        };
        let cursor = after.as_ref().map(rank);
        let k = usize::try_from(allowance).unwrap_or(usize::MAX);
        let mut best = std::collections::BinaryHeap::new();
        let mut candidates = 0u64;
        for d in directory {
            let d = device_id(d)?;
            if state.cases.contains_key(&d) {
                continue;
            }
            let r = rank(&d);
            if cursor.as_ref().is_some_and(|a| &r <= a) {
                continue;
            }
            candidates += 1;
            if best.len() < k {
                best.push(r);
            } else if best.peek().is_some_and(|top| &r < top) {
                best.pop();
                best.push(r);
            }
        }
        let devices: Vec<crate::model::DeviceId> =
            best.into_sorted_vec().into_iter().map(|(_, d)| d).collect();
        let done = candidates <= allowance;
        let cmd = ServerCommand::RecordFallbackUnicast {
            devices: devices.clone(),
            done,
            at: now,
        };
        self.run(&id, &cmd)?;
        Ok(devices.into_iter().map(|d| d.to_string()).collect())
    }
}
