//! The invariants: what users are promised, checked while the world runs and at its end.

use super::*;
use crate::device::Phase;
use crate::model::Timestamp;
use crate::server::{CaseStatus, ServerEvent};
use crate::sim::faults::Violation;
use crate::sim::server::SimServer;
use crate::sim::*;

impl<S, P, B> Sim<'_, S, P, B>
where
    S: FnMut(&[ServerEvent]) -> Result<(), String>,
    P: FnMut(u64),
    B: SimServer,
{
    pub(in crate::sim) fn violation(
        &self,
        invariant: &'static str,
        at: Timestamp,
        detail: String,
    ) -> SimError {
        SimError::Invariant(Violation {
            invariant,
            at,
            step: self.work_done,
            detail,
        })
    }

    /// The invariants checked when nothing is left to happen: nothing stuck, every failed
    /// device accounted for, every log replaying to its live state.
    pub(in crate::sim) fn check_end(&mut self) -> Result<(), SimError> {
        let now = self.last_activity;
        let st = self.server.campaign().stats();
        if st.in_care > 0 {
            let stuck: Vec<String> = self
                .server
                .cases()
                .filter(|(_, c)| c.in_care())
                .take(3)
                .map(|(d, c)| format!("{d} {:?}", c.status))
                .collect();
            return Err(self.violation(
                "none-stuck",
                now,
                format!(
                    "{} cases still in care, e.g. {}",
                    st.in_care,
                    stuck.join(", ")
                ),
            ));
        }
        let revision = self.ctx.campaign.revision;
        let mut ids: Vec<u64> = self.devices.keys().copied().collect();
        ids.sort_unstable();
        for i in ids {
            let s = &self.devices[&i];
            let current = s.campaign.as_ref().is_some_and(|c| c.revision == revision);
            if !current || s.findings.is_empty() || s.phase == Phase::Recovered {
                continue;
            }
            let case = self.server.case(&device_id(i)).map(|c| c.status);
            match (case, s.phase) {
                (
                    Some(CaseStatus::Escalated | CaseStatus::Abandoned | CaseStatus::Recovered),
                    _,
                ) => {}
                (None, Phase::GaveUp) => self.out.gave_up_reporting += 1,
                (case, phase) => {
                    return Err(self.violation(
                        "every-failed-device-ends-recovered-escalated-or-given-up",
                        now,
                        format!(
                            "{} is {} (report {:?}, next wake {:?}) with server case {case:?}",
                            device_id(i),
                            phase.name(),
                            s.report,
                            s.next_wake()
                        ),
                    ));
                }
            }
        }
        let mut ids: Vec<u64> = self.hosts.keys().copied().collect();
        ids.sort_unstable();
        for i in &ids {
            let replayed = self.device_from_log(*i)?;
            if let Some(s) = self.devices.get(i)
                && replayed != *s
            {
                return Err(self.violation(
                    "device-log-replays-to-live-state",
                    now,
                    format!("device {} at the end", device_id(*i)),
                ));
            }
        }
        if self.faults().logs_server() {
            self.restart_server()?;
        }
        Ok(())
    }
}
