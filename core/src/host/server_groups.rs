//! The server host's per-group abort thresholds (`docs/design.md`, "Per-group breakers").

use crate::host::HostError;
use crate::host::keys::campaign_id;
use crate::host::server::ServerHost;
use crate::host::server_core::{Directory, GroupDirectory};
use crate::model::Timestamp;
use crate::server::{GroupBreaker, GroupBreakerStatus, ServerCommand};
use crate::store::EventStore;

impl<S: EventStore, D: Directory> ServerHost<S, D> {
    /// Gives `campaign`'s directory group `breaker.group` an abort threshold of its own, or
    /// replaces the one it has (`breaker.targeted`: the group's targeted members, e.g.
    /// [`GroupDirectory::members`]). Before the revision's first failure report; at most
    /// [`MAX_BREAKER_GROUPS`](crate::server::MAX_BREAKER_GROUPS) groups.
    pub fn set_group_breaker(
        &mut self,
        campaign: &str,
        breaker: GroupBreaker,
        now: Timestamp,
    ) -> Result<(), HostError> {
        let id = campaign_id(campaign)?;
        let mut breakers = self
            .state(&id)
            .ok_or_else(|| HostError::UnknownCampaign(id.to_string()))?
            .groups
            .breakers
            .clone();
        match breakers.iter_mut().find(|b| b.group == breaker.group) {
            Some(b) => *b = breaker,
            None => breakers.push(breaker),
        }
        self.operator(
            campaign,
            ServerCommand::SetGroupBreakers { breakers, at: now },
        )
    }

    /// Lifts group `group`'s pause of `campaign` on purpose: `by` (who) and `why` are
    /// logged with it (1–200 bytes each). The group's threshold stays quiet after.
    pub fn override_group_abort(
        &mut self,
        campaign: &str,
        group: &str,
        by: &str,
        why: &str,
        now: Timestamp,
    ) -> Result<(), HostError> {
        let cmd = ServerCommand::OverrideGroupAbort {
            group: group.to_owned(),
            by: by.to_owned(),
            why: why.to_owned(),
            at: now,
        };
        self.operator(campaign, cmd)
    }

    /// `campaign`'s group thresholds: each group's failures and pause.
    pub fn group_breakers(&self, campaign: &str) -> Result<Vec<GroupBreakerStatus>, HostError> {
        let id = campaign_id(campaign)?;
        let state = self
            .state(&id)
            .ok_or_else(|| HostError::UnknownCampaign(id.to_string()))?;
        Ok(state.group_breakers())
    }
}

impl GroupDirectory {
    /// How many devices the directory puts in `group`.
    pub fn members(&self, group: &str) -> u64 {
        self.groups
            .values()
            .filter(|g| g.iter().any(|x| x == group))
            .count() as u64
    }
}
