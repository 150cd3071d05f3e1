//! Per-group abort thresholds on [`ServerHost`]: one bad cohort pauses alone.

use devcare::Timestamp;
use devcare::server::GroupBreaker;

use crate::{DevcareError, ServerHost, lock};

/// One group's threshold and where it stands (`ServerHost.groupBreakers`).
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct GroupBreakerStatus {
    /// The directory group.
    pub group: String,
    /// Its targeted members.
    pub targeted: u64,
    /// The threshold: its failure reports / its members expected to have reported by then.
    pub failure_ratio: f64,
    /// Failure reports needed before it may trip.
    pub min_reports: u64,
    /// Its members that reported a failure.
    pub failures: u64,
    /// When its threshold paused its members' care (ms since the epoch), if it did and the
    /// pause was not lifted.
    pub paused_since_ms: Option<u64>,
    /// Its pause was overridden: the threshold stays quiet.
    pub overridden: bool,
}

#[uniffi::export]
impl ServerHost {
    /// Gives `campaign`'s directory group `group` an abort threshold of its own (or replaces
    /// the one it has): its members' care pauses when their failure reports exceed
    /// `failure_ratio` of its `targeted` members expected to have reported by then, once
    /// `min_reports` reported; the rest of the campaign goes on. Before the revision's
    /// first failure report; at most 16 groups (`group-breaker` otherwise).
    pub fn set_group_breaker(
        &self,
        campaign: String,
        group: String,
        failure_ratio: f64,
        min_reports: u64,
        targeted: u64,
        now_ms: u64,
    ) -> Result<(), DevcareError> {
        let breaker = GroupBreaker {
            group,
            targeted,
            failure_ratio,
            min_reports,
        };
        Ok(lock(&self.0)?.set_group_breaker(&campaign, breaker, Timestamp(now_ms))?)
    }

    /// Lifts group `group`'s pause of `campaign` on purpose, logged with who (`by`) and
    /// `why` (1–200 bytes each); the group's threshold stays quiet after.
    pub fn override_group_abort(
        &self,
        campaign: String,
        group: String,
        by: String,
        why: String,
        now_ms: u64,
    ) -> Result<(), DevcareError> {
        Ok(lock(&self.0)?.override_group_abort(&campaign, &group, &by, &why, Timestamp(now_ms))?)
    }

    /// `campaign`'s group thresholds, their failures and pauses.
    pub fn group_breakers(
        &self,
        campaign: String,
    ) -> Result<Vec<GroupBreakerStatus>, DevcareError> {
        let all = lock(&self.0)?.group_breakers(&campaign)?;
        Ok(all
            .into_iter()
            .map(|g| GroupBreakerStatus {
                group: g.breaker.group,
                targeted: g.breaker.targeted,
                failure_ratio: g.breaker.failure_ratio,
                min_reports: g.breaker.min_reports,
                failures: g.failures,
                paused_since_ms: g.paused.map(|p| p.since.as_millis()),
                overridden: g.overridden,
            })
            .collect())
    }
}
