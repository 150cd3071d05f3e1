//! Per-group abort thresholds: one bad cohort (a model, a firmware, a region) pauses alone
//! (`docs/design.md`, "Per-group breakers").
//!
//! A campaign may set, server-side, a threshold for up to [`MAX_BREAKER_GROUPS`] of the
//! directory's groups (`SetGroupBreakers`, before the first failure report). Each failure
//! report from a member of such a group counts for that group once per device
//! (`CaseGrouped`), and the group's breaker is judged as the campaign's is
//! ([`rules::abort_trips`] against [`rules::expected_reporters`] of the group's size at the
//! report's time). A tripped group (`GroupPaused`) holds the care of its failure reporters —
//! the rest of the campaign goes on — until someone lifts it on purpose
//! (`OverrideGroupAbort`, logged with who and why); the group's threshold stays quiet after.

use serde::{Deserialize, Serialize};

use crate::model::{Campaign, DeviceId, Timestamp};
use crate::rules;
use crate::schedule::AbortPolicy;
use crate::server::{BreakerTrip, PauseReason, ServerError, ServerEvent, ServerState};

/// Most groups a campaign may give a threshold of their own.
pub const MAX_BREAKER_GROUPS: usize = 16;

/// One group's threshold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupBreaker {
    /// The group's name, as the directory gives it.
    pub group: String,
    /// Its targeted members (from the host's directory): what its expected reporters are
    /// counted from.
    pub targeted: u64,
    /// Pause the group when its failure reports / its expected reporters exceed this
    /// (0 < ratio < 1).
    pub failure_ratio: f64,
    /// … but only once at least this many of its members reported a failure (≥ 1).
    pub min_reports: u64,
}

impl GroupBreaker {
    /// Checks a list of group thresholds: at most [`MAX_BREAKER_GROUPS`], distinct
    /// non-empty names of at most 64 bytes, each with members, a ratio in (0, 1) and
    /// `min_reports` ≥ 1.
    pub fn validate(breakers: &[GroupBreaker]) -> Result<(), String> {
        if breakers.len() > MAX_BREAKER_GROUPS {
            return Err(format!(
                "{} groups have a threshold; at most {MAX_BREAKER_GROUPS} may",
                breakers.len()
            ));
        }
        for (i, b) in breakers.iter().enumerate() {
            if b.group.is_empty() || b.group.len() > 64 {
                return Err(format!("group {i}: a name is 1 to 64 bytes"));
            }
            if breakers[..i].iter().any(|o| o.group == b.group) {
                return Err(format!("group {:?} has two thresholds", b.group));
            }
            if b.targeted == 0 {
                return Err(format!(
                    "group {:?} targets no device: its failure ratio has nothing to count against",
                    b.group
                ));
            }
            if !(b.failure_ratio > 0.0 && b.failure_ratio < 1.0) {
                return Err(format!(
                    "group {:?}: failure ratio {} is outside (0, 1)",
                    b.group, b.failure_ratio
                ));
            }
            if b.min_reports == 0 {
                return Err(format!(
                    "group {:?}: min_reports must be at least 1",
                    b.group
                ));
            }
        }
        Ok(())
    }
}

/// The campaign's group thresholds and where each stands (kept across revisions; the
/// pauses are per revision).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct GroupBreakers {
    /// The thresholds, bit `i` of a case's [`breaker_groups`](crate::server::Case) for
    /// `breakers[i]`.
    pub breakers: Vec<GroupBreaker>,
    /// Each group's pause, if its threshold tripped.
    pub paused: Vec<Option<BreakerTrip>>,
    /// Bit `i`: the pause of group `i` was overridden; its threshold stays quiet.
    pub overridden: u16,
}

/// One group's threshold and where it stands, as [`ServerState::group_breakers`] reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupBreakerStatus {
    /// The threshold.
    pub breaker: GroupBreaker,
    /// Its members that reported a failure.
    pub failures: u64,
    /// Its pause, if it tripped and was not lifted.
    pub paused: Option<BreakerTrip>,
    /// Its pause was overridden.
    pub overridden: bool,
}

impl GroupBreakers {
    /// Fresh thresholds, none tripped.
    pub(crate) fn new(breakers: Vec<GroupBreaker>) -> Self {
        GroupBreakers {
            paused: vec![None; breakers.len()],
            breakers,
            overridden: 0,
        }
    }

    /// The bits of the thresholds' groups among `groups`.
    pub fn mask_of(&self, groups: &[String]) -> u16 {
        self.breakers
            .iter()
            .enumerate()
            .filter(|(_, b)| groups.contains(&b.group))
            .fold(0, |m, (i, _)| m | (1 << i))
    }

    /// The bits of the groups paused now.
    pub fn paused_mask(&self) -> u16 {
        self.paused
            .iter()
            .enumerate()
            .filter(|(_, p)| p.is_some())
            .fold(0, |m, (i, _)| m | (1 << i))
    }

    /// Whether a case in the groups `mask` has its care held by a group's pause.
    pub fn holds(&self, mask: u16) -> bool {
        mask & self.paused_mask() != 0
    }

    /// The index of `group`'s threshold.
    pub fn index_of(&self, group: &str) -> Option<usize> {
        self.breakers.iter().position(|b| b.group == group)
    }
}

type Decided = Result<Vec<ServerEvent>, ServerError>;

/// `SetGroupBreakers`: valid thresholds, before the current revision's first failure
/// report (so every failure is counted in its groups) and while no group is paused.
pub(in crate::server) fn set_group_breakers(
    state: &ServerState,
    breakers: &[GroupBreaker],
    at: Timestamp,
) -> Decided {
    state.campaign()?;
    GroupBreaker::validate(breakers).map_err(ServerError::GroupBreaker)?;
    if state.groups.breakers == breakers {
        return Ok(vec![]);
    }
    if state.tally.reporters > 0 {
        return Err(ServerError::GroupBreaker(format!(
            "{} failure reports were counted already: set group thresholds before the first (at creation, or with a revision)",
            state.tally.reporters
        )));
    }
    if state.groups.paused_mask() != 0 {
        return Err(ServerError::GroupBreaker(
            "a group is paused: lift it (override-group-abort) before changing the thresholds"
                .into(),
        ));
    }
    Ok(vec![ServerEvent::GroupBreakersSet {
        breakers: breakers.to_vec(),
        at,
    }])
}

/// `OverrideGroupAbort`: lifts `group`'s pause, logged with who and why.
pub(in crate::server) fn override_group_abort(
    state: &ServerState,
    group: &str,
    by: &str,
    why: &str,
    at: Timestamp,
) -> Decided {
    state.campaign()?;
    if !(1..=200).contains(&by.len()) || !(1..=200).contains(&why.len()) {
        return Err(ServerError::OverrideUnexplained);
    }
    let i = state.groups.index_of(group).ok_or_else(|| {
        ServerError::GroupBreaker(format!("group {group:?} has no threshold of its own"))
    })?;
    if state.groups.paused[i].is_none() {
        return Err(ServerError::GroupBreaker(format!(
            "group {group:?} is not paused"
        )));
    }
    Ok(vec![ServerEvent::GroupAbortOverridden {
        group: group.to_string(),
        by: by.to_string(),
        why: why.to_string(),
        at,
    }])
}

/// After a failure report from `device` in `groups`: `CaseGrouped` for the thresholds'
/// groups it is new to (inserted right after its `ReportAccepted`, so the care scheduled
/// next knows its groups), and `GroupPaused` for each of them whose threshold it trips.
pub(in crate::server) fn group_check(
    state: &ServerState,
    campaign: &Campaign,
    device: &DeviceId,
    groups: &[String],
    at: Timestamp,
    events: &mut Vec<ServerEvent>,
) {
    let g = &state.groups;
    let mask = g.mask_of(groups);
    let counted = state.cases.get(device).map_or(0, |c| c.breaker_groups);
    let new = mask & !counted;
    if new == 0 {
        return;
    }
    events.insert(
        1,
        ServerEvent::CaseGrouped {
            device: device.clone(),
            groups: mask,
        },
    );
    let broadcast = state.broadcast_at.unwrap_or(campaign.issued_at);
    for (i, b) in g.breakers.iter().enumerate() {
        let bit = 1u16 << i;
        if new & bit == 0 || g.paused[i].is_some() || g.overridden & bit != 0 {
            continue;
        }
        let failures = u64::from(state.tally.group_failures[i]) + 1;
        let expected = rules::expected_reporters(campaign, broadcast, b.targeted, at);
        let policy = AbortPolicy {
            failure_ratio: b.failure_ratio,
            min_reports: b.min_reports,
        };
        if rules::abort_trips(&policy, failures, expected) {
            events.push(ServerEvent::GroupPaused {
                group: b.group.clone(),
                reason: PauseReason {
                    failure_reports: failures,
                    targeted: expected,
                    threshold: b.failure_ratio,
                },
                at,
            });
        }
    }
}

impl ServerState {
    /// The campaign's group thresholds, their failures and pauses.
    pub fn group_breakers(&self) -> Vec<GroupBreakerStatus> {
        let g = &self.groups;
        g.breakers
            .iter()
            .enumerate()
            .map(|(i, b)| GroupBreakerStatus {
                breaker: b.clone(),
                failures: u64::from(self.tally.group_failures[i]),
                paused: g.paused[i],
                overridden: g.overridden & (1 << i) != 0,
            })
            .collect()
    }
}
