//! Care on the device side: an order arrives (care for a reporter, or the payload by
//! unicast for a device that lacks the revision), the device applies it and sends its
//! verdict.

use super::*;
use crate::device::{DeviceCommand, DeviceState, Phase};
use crate::model::Timestamp;
use crate::report::ApplyResult;
use crate::server::{CareOrder, ServerEvent};
use crate::sim::fate::*;
use crate::sim::server::SimServer;
use crate::sim::*;

impl<S, P, B> Sim<'_, S, P, B>
where
    S: FnMut(&[ServerEvent]) -> Result<(), String>,
    P: FnMut(u64),
    B: SimServer,
{
    /// The care results of device `i`'s attempt `attempt` over `n` settings: the first
    /// setting fails unless the attempt works (chance `care_success`).
    pub(in crate::sim) fn care_results(&self, i: u64, attempt: u32, n: usize) -> Vec<ApplyResult> {
        let works = self.ctx.fate.unit(TAG_CARE, i, u64::from(attempt)) < self.ctx.cfg.care_success;
        (0..n)
            .map(|k| {
                if works || k > 0 {
                    ApplyResult::OK
                } else {
                    ApplyResult::status(CARE_FAILURE)
                }
            })
            .collect()
    }

    /// A care order reaches its device: care for a reporter, or the payload by unicast for
    /// a device that lacks the revision. The device's verdict goes back as the outcome.
    pub(in crate::sim) fn care_arrives(
        &mut self,
        order: CareOrder,
        now: Timestamp,
    ) -> Result<(), SimError> {
        let i = device_index(&order.device);
        if !self.ever_bad.contains(&i) {
            return Err(self.violation(
                "care-only-for-failed-or-behind-devices",
                now,
                format!(
                    "care attempt {} reached {}, which provisioned fine and holds the payload",
                    order.attempt, order.device
                ),
            ));
        }
        let d = self.ctx.dev_time(i, now);
        let attempt = order.attempt;
        let held = self.devices.remove(&i);
        let held_revision = held
            .as_ref()
            .and_then(|s| s.campaign.as_ref())
            .map(|c| c.revision);
        let holds_revision = held_revision == Some(order.revision);
        if order.revision != self.ctx.campaign.revision && !holds_revision {
            // An order of a revision the device does not hold and the server has replaced
            // (it arrived late): the device refuses it, nothing is answered.
            self.inject("stale-care-order");
            if let Some(s) = held {
                self.devices.insert(i, s);
            }
            return Ok(());
        }
        match held {
            Some(mut s) if holds_revision => {
                let cmd = DeviceCommand::ReceiveCare {
                    revision: order.revision,
                    attempt,
                    settings: order.settings.clone(),
                    at: d,
                };
                match self.device_step(i, &mut s, cmd)? {
                    Step::Done => {
                        if s.campaign.as_ref().map(|c| c.revision) != Some(order.revision) {
                            return Err(self.violation(
                                "no-care-of-a-revision-the-device-does-not-hold",
                                now,
                                format!(
                                    "{} took care of revision {}",
                                    order.device, order.revision
                                ),
                            ));
                        }
                        self.apply_care(i, s, now)
                    }
                    // No outcome: the server's care timeout handles it.
                    Step::Cut => self.restart(i, s, now),
                    Step::Refused(_) => {
                        // A copy of an order already applied, or an order for a device that
                        // is fine by now: it says so.
                        let fine = matches!(
                            s.phase,
                            Phase::Recovered | Phase::Healthy | Phase::Confirmed
                        );
                        self.keep(i, s);
                        if fine {
                            self.transmit(
                                Msg::Outcome {
                                    i,
                                    attempt,
                                    success: true,
                                },
                                now,
                            )?;
                        }
                        Ok(())
                    }
                }
            }
            held => {
                let mut s = held.unwrap_or_default();
                let results = self.care_results(i, attempt, order.settings.len());
                let receive = DeviceCommand::Receive {
                    campaign: self.ctx.campaign.clone(),
                    device: order.device.clone(),
                    groups: vec![],
                    at: d,
                };
                if !self.device(i, &mut s, "receive (unicast)", receive)? {
                    if s.campaign.is_some() {
                        self.keep(i, s);
                    }
                    return Ok(());
                }
                self.missed_now.remove(&i);
                let applied = DeviceCommand::RecordApplied {
                    results: full_results(&results, self.ctx.campaign.settings.len()),
                    at: d,
                };
                if !self.device(i, &mut s, "record-applied", applied)? {
                    return self.restart(i, s, now);
                }
                // The device evaluates the unicast payload as it would the broadcast.
                let evaluate_at = d.plus(self.ctx.campaign.schedule.evaluate_after);
                if !self.device(i, &mut s, "tick", DeviceCommand::Tick { now: evaluate_at })? {
                    return self.restart(i, s, now);
                }
                let success = s.findings.is_empty();
                if success {
                    self.forget(i);
                } else {
                    self.devices.insert(i, s);
                }
                self.transmit(
                    Msg::Outcome {
                        i,
                        attempt,
                        success,
                    },
                    now,
                )
            }
        }
    }

    /// Device `i` applies the care it received and sends its verdict.
    pub(in crate::sim) fn apply_care(
        &mut self,
        i: u64,
        mut s: DeviceState,
        now: Timestamp,
    ) -> Result<(), SimError> {
        let Some(care) = s.care.clone() else {
            self.keep(i, s);
            return Ok(());
        };
        let results = self.care_results(i, care.attempt, care.settings.len());
        let d = self.ctx.dev_time(i, now);
        let cmd = DeviceCommand::RecordCareApplied {
            attempt: care.attempt,
            results,
            at: d,
        };
        if !self.device(i, &mut s, "record-care-applied", cmd)? {
            return self.restart(i, s, now);
        }
        // The outcome the server is told is the device's own verdict.
        let success = s.phase == Phase::Recovered;
        if success {
            self.forget(i);
        } else {
            self.keep(i, s);
        }
        self.transmit(
            Msg::Outcome {
                i,
                attempt: care.attempt,
                success,
            },
            now,
        )
    }
}
