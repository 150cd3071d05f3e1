//! The interaction channel: messages lost, duplicated and delayed on their way, and what
//! each side does when one arrives (the server's ingest, the device's answer).

use super::*;
use crate::device::{DeviceCommand, Phase};
use crate::host::AlertOutcome;
use crate::host::{Ingest, RuntimeError};
use crate::model::{Duration, Timestamp};
use crate::server::{ServerCommand, ServerEvent};
use crate::sim::fate::*;
use crate::sim::server::SimServer;
use crate::sim::*;
use crate::wire::{derive_device_key, encode_report};

impl<S, P, B> Sim<'_, S, P, B>
where
    S: FnMut(&[ServerEvent]) -> Result<(), String>,
    P: FnMut(u64),
    B: SimServer,
{
    /// A report under a key the server does not hold reaches the server's ingest: refused,
    /// nothing appended.
    pub(in crate::sim) fn forge(
        &mut self,
        report: &crate::report::Report,
        now: Timestamp,
    ) -> Result<(), SimError> {
        let key = derive_device_key(&self.secret(TAG_FORGED), &report.device);
        let bytes = encode_report(report, &key).map_err(|e| SimError::Config(e.to_string()))?;
        let before = self.server.appended();
        match self.server.ingest_report(&bytes, now) {
            Ok(Ingest::Rejected(e)) => {
                *self
                    .out
                    .forged_rejected
                    .entry(e.reason().to_string())
                    .or_default() += 1;
            }
            Ok(_) => {
                return Err(self.violation(
                    "forged-reports-change-nothing",
                    now,
                    format!("a forged report for {} was taken", report.device),
                ));
            }
            Err(e) => return Err(SimError::Sink(format!("forged report: {e}"))),
        }
        if self.server.appended() != before {
            return Err(self.violation(
                "refused-input-appends-nothing",
                now,
                "a forged report appended events".into(),
            ));
        }
        Ok(())
    }

    /// Sends `msg` over the interaction channel at `now`: maybe lost, maybe duplicated, each
    /// copy maybe delayed; a copy without delay arrives at once.
    pub(in crate::sim) fn transmit(&mut self, msg: Msg, now: Timestamp) -> Result<(), SimError> {
        // The configuration outlives the simulation: no copy of it per message.
        let cfg = self.ctx.cfg;
        let f = &cfg.faults;
        let (duplicate, max_delay) = (f.duplicate, f.max_delay.as_millis());
        self.next_msg += 1;
        let id = self.next_msg;
        let (loss, lost) = match &msg {
            Msg::Report { .. } | Msg::Alert { .. } => (f.report_loss, "report-lost"),
            Msg::Answer { .. } => (f.answer_loss, "answer-lost"),
            Msg::Care { .. } => (f.care_loss, "care-order-lost"),
            Msg::Outcome { .. } => (f.outcome_loss, "care-outcome-lost"),
        };
        if loss > 0.0 && self.ctx.fate.unit(TAG_MSG_LOSS, id, 0) < loss {
            self.inject(lost);
            return Ok(());
        }
        let copies = if duplicate > 0.0 && self.ctx.fate.unit(TAG_MSG_DUP, id, 0) < duplicate {
            self.inject("duplicated");
            2
        } else {
            1
        };
        for k in 0..copies {
            let delay = if max_delay == 0 {
                0
            } else {
                self.ctx.fate.u64(TAG_MSG_DELAY, id, k) % max_delay
            };
            if delay == 0 {
                self.arrive(msg.clone(), now)?;
            } else {
                self.next_msg += 1;
                let copy = self.next_msg;
                self.messages.insert(copy, msg.clone());
                self.push(now.plus(Duration(delay)), Work::Arrive(copy));
            }
        }
        Ok(())
    }

    pub(in crate::sim) fn arrive(&mut self, msg: Msg, now: Timestamp) -> Result<(), SimError> {
        match msg {
            Msg::Report { i, attempt, bytes } => self.report_arrives(i, attempt, &bytes, now),
            Msg::Alert {
                i,
                attempt,
                message,
            } => self.alert_arrives(i, attempt, &message, now),
            Msg::Answer { i, attempt, status } => self.answer_arrives(i, attempt, status, now),
            Msg::Care { order } => self.care_arrives(order, now),
            Msg::Outcome {
                i,
                attempt,
                success,
            } => self.outcome_arrives(i, attempt, success, now),
        }
    }

    /// The server's report ingest takes the bytes; the device gets the host's answer.
    pub(in crate::sim) fn report_arrives(
        &mut self,
        i: u64,
        attempt: u32,
        bytes: &[u8],
        now: Timestamp,
    ) -> Result<(), SimError> {
        self.arm_store();
        let status = match self.server.ingest_report(bytes, now) {
            Ok(ingest) => {
                self.store_settled(false);
                self.took(ingest, now)?
            }
            Err(e) => {
                self.store_settled(true);
                e.dm_status()
            }
        };
        self.transmit(Msg::Answer { i, attempt, status }, now)
    }

    /// The server's package ingest takes the DM message in device `i`'s session; the device
    /// gets the Status of its devcare Alert. Another alert in the package must come back to
    /// the host untouched.
    pub(in crate::sim) fn alert_arrives(
        &mut self,
        i: u64,
        attempt: u32,
        message: &[u8],
        now: Timestamp,
    ) -> Result<(), SimError> {
        self.arm_store();
        let status = match self.server.ingest_package(message, &device_id(i), now) {
            Ok(Ok(package)) => {
                self.store_settled(false);
                if let Some(f) = package.foreign().find(|f| !is_sent_foreign(f)) {
                    return Err(self.violation(
                        "foreign-alert-untouched",
                        now,
                        format!("device {}'s other alert came back as {f:?}", device_id(i)),
                    ));
                }
                let mut status = None;
                for a in package.alerts {
                    if let AlertOutcome::Devcare { ingest, .. } = a {
                        status = Some(self.took(ingest, now)?);
                    }
                }
                let Some(status) = status else {
                    return Err(self.violation(
                        "report-in-package",
                        now,
                        format!("device {}'s package held no devcare Alert", device_id(i)),
                    ));
                };
                status
            }
            Ok(Err(e)) => {
                self.store_settled(false);
                *self
                    .out
                    .reports_rejected
                    .entry(e.reason().to_string())
                    .or_default() += 1;
                e.dm_status()
            }
            Err(e) => {
                self.store_settled(true);
                e.dm_status()
            }
        };
        self.transmit(Msg::Answer { i, attempt, status }, now)
    }

    /// What the server's ingest did with one report: counted; its DM status returned.
    pub(in crate::sim) fn took(&mut self, ingest: Ingest, now: Timestamp) -> Result<u16, SimError> {
        let status = ingest.dm_status();
        match ingest {
            Ingest::Accepted(events) => {
                self.committed(events)?;
                self.out.reports_accepted += 1;
                self.last_activity = self.last_activity.max(now);
                self.schedule_wake();
            }
            Ingest::Duplicate => {
                *self
                    .out
                    .reports_rejected
                    .entry("duplicate".into())
                    .or_default() += 1;
            }
            Ingest::Rejected(e) => {
                *self
                    .out
                    .reports_rejected
                    .entry(e.reason().to_string())
                    .or_default() += 1;
            }
        }
        Ok(status)
    }

    /// The device learns its report's fate: a 200 is an acknowledgement (stop resending);
    /// anything else leaves it resending until its policy gives up.
    pub(in crate::sim) fn answer_arrives(
        &mut self,
        i: u64,
        attempt: u32,
        status: u16,
        now: Timestamp,
    ) -> Result<(), SimError> {
        let answer = crate::rules::report_answer(status);
        let definitive = answer == crate::rules::ReportAnswer::RefusedForGood;
        if answer == crate::rules::ReportAnswer::SendAgain {
            return Ok(());
        }
        let Some(mut s) = self.devices.remove(&i) else {
            return Ok(());
        };
        let d = self.ctx.dev_time(i, now);
        let cmd = if definitive {
            self.out.reports_refused_for_good += 1;
            DeviceCommand::Refused {
                attempt,
                status,
                at: d,
            }
        } else {
            DeviceCommand::Acknowledge { attempt, at: d }
        };
        match self.device_step(i, &mut s, cmd)? {
            // An acknowledgement of an attempt the device does not know (a stale copy of an
            // older revision's): nothing to do.
            Step::Refused(_) | Step::Cut | Step::Done => {}
        }
        if s.phase == Phase::Confirmed {
            self.forget(i);
        } else {
            self.keep(i, s);
        }
        Ok(())
    }

    /// The server takes a care outcome (a copy of one it has, or one for an attempt it has
    /// moved past, is refused and changes nothing).
    pub(in crate::sim) fn outcome_arrives(
        &mut self,
        i: u64,
        attempt: u32,
        success: bool,
        now: Timestamp,
    ) -> Result<(), SimError> {
        let cmd = ServerCommand::RecordCareOutcome {
            device: device_id(i),
            attempt,
            success,
            at: now,
        };
        self.arm_store();
        match self.server.handle(&cmd) {
            Ok(events) => {
                self.store_settled(false);
                self.committed(events)?;
                self.last_activity = self.last_activity.max(now);
                self.schedule_wake();
            }
            // Lost with the failed append: the server's care timeout handles it.
            Err(RuntimeError::Store(_)) => self.store_settled(true),
            Err(_) => self.store_settled(false),
        }
        Ok(())
    }
}

/// Whether `f` is the other alert the simulated DM stacks send ([`FOREIGN_ALERT`]), as sent.
fn is_sent_foreign(f: &crate::alert::ForeignAlert) -> bool {
    f.cmd_id == "2"
        && f.code == "1226"
        && f.items.len() == 1
        && f.items[0].source.as_deref() == Some("./FUMO/Download")
        && f.items[0].ty.as_deref() == Some("org.openmobilealliance.dm.firmwareupdate.download")
        && f.items[0].data.as_deref() == Some("0")
}
