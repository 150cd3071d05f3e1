//! The fault model of the simulation: what goes wrong between the real deciders, formats and
//! stores, every draw deterministic per seed (`docs/design.md`, "Fault simulation").

use std::collections::BTreeMap;

use crate::model::{Duration, Timestamp};

/// What goes wrong, as independent rates. [`Faults::none`] is the best case the plain
/// simulation runs; [`Faults::realistic`] and [`Faults::harsh`] are the presets of
/// `devcare simulate --faults`.
#[derive(Debug, Clone, PartialEq)]
pub struct Faults {
    /// Each report message is lost on its way to the server.
    pub report_loss: f64,
    /// Each server answer (the DM status of a report) is lost on its way back.
    pub answer_loss: f64,
    /// Each message (report, answer, care order, care outcome) is delivered twice.
    pub duplicate: f64,
    /// Each message is delayed uniformly in `0..max_delay` (so messages reorder).
    pub max_delay: Duration,
    /// Each care order is lost on its way to the device.
    pub care_loss: f64,
    /// Each care outcome is lost on its way to the server.
    pub outcome_loss: f64,
    /// Each device step is cut by a power loss before its events were flushed: the step did
    /// not happen, the device restarts from its log.
    pub power_cut: f64,
    /// After each device step the device reboots: its state is rebuilt from its log.
    pub reboot: f64,
    /// Each device with a report to send is powered off once, for up to `max_off`, when
    /// its report falls due.
    pub power_off: f64,
    /// How long a powered-off device stays off at most.
    pub max_off: Duration,
    /// Each device's clock is off by up to this much, either way.
    pub clock_skew: Duration,
    /// After each server command the server crashes and is rebuilt from its log.
    pub server_crash: f64,
    /// Each server append fails (the store's error): the command changes nothing and the
    /// device is answered 500.
    pub store_error: f64,
    /// Each care dispatch is cut by a server restart after it was recorded and before the
    /// order was sent.
    pub dispatch_crash: f64,
    /// For each report sent, a forged one (a report under a key the server does not hold)
    /// reaches the server too.
    pub forged: f64,
    /// An operator pauses care for 30 minutes in the middle of the report window.
    pub operator_pause: bool,
    /// Every device checks in once per check-in interval after the broadcast (healthy,
    /// failed and missed alike), through the lossy channel (a check-in is lost like a report
    /// and made again an interval later); one that gave up reporting a failure sends it
    /// again in its check-in, and checks in again while it is unacknowledged. Without it
    /// only devices that missed the broadcast check in.
    pub check_ins: bool,
}

impl Faults {
    /// Nothing goes wrong: every message arrives at once, nothing reboots.
    pub fn none() -> Faults {
        Faults {
            report_loss: 0.0,
            answer_loss: 0.0,
            duplicate: 0.0,
            max_delay: Duration::ZERO,
            care_loss: 0.0,
            outcome_loss: 0.0,
            power_cut: 0.0,
            reboot: 0.0,
            power_off: 0.0,
            max_off: Duration::ZERO,
            clock_skew: Duration::ZERO,
            server_crash: 0.0,
            store_error: 0.0,
            dispatch_crash: 0.0,
            forged: 0.0,
            operator_pause: false,
            check_ins: false,
        }
    }

    /// A cellular fleet on a normal day: 5% of reports and 2% of answers, care orders and
    /// outcomes lost, 1% duplicated, up to 2 minutes of delay; 1% of device steps end in a
    /// reboot and 0.2% in a power cut; 2% of reporting devices are off for up to an hour;
    /// clocks within ±2 minutes; the server crashes after 0.1% of commands and its store
    /// fails 0.1% of appends; 1% forged reports; an operator pause.
    pub fn realistic() -> Faults {
        Faults {
            report_loss: 0.05,
            answer_loss: 0.02,
            duplicate: 0.01,
            max_delay: Duration::from_mins(2),
            care_loss: 0.02,
            outcome_loss: 0.02,
            power_cut: 0.002,
            reboot: 0.01,
            power_off: 0.02,
            max_off: Duration::from_hours(1),
            clock_skew: Duration::from_mins(2),
            server_crash: 0.001,
            store_error: 0.001,
            dispatch_crash: 0.002,
            forged: 0.01,
            operator_pause: true,
            check_ins: true,
        }
    }

    /// Everything several times worse: a fifth of reports lost, 5% duplicated, 10 minutes
    /// of delay, 2% power cuts, a tenth of devices off for up to 4 hours, ±10 minutes of
    /// clock skew, 1% server crashes and store errors.
    pub fn harsh() -> Faults {
        Faults {
            report_loss: 0.2,
            answer_loss: 0.1,
            duplicate: 0.05,
            max_delay: Duration::from_mins(10),
            care_loss: 0.1,
            outcome_loss: 0.1,
            power_cut: 0.02,
            reboot: 0.05,
            power_off: 0.1,
            max_off: Duration::from_hours(4),
            clock_skew: Duration::from_mins(10),
            server_crash: 0.01,
            store_error: 0.01,
            dispatch_crash: 0.02,
            forged: 0.05,
            operator_pause: true,
            check_ins: true,
        }
    }

    /// The preset named `none`, `realistic` or `harsh`.
    pub fn preset(name: &str) -> Option<Faults> {
        match name {
            "none" => Some(Faults::none()),
            "realistic" => Some(Faults::realistic()),
            "harsh" => Some(Faults::harsh()),
            _ => None,
        }
    }

    /// Checks every rate is a probability.
    pub fn validate(&self) -> Result<(), String> {
        for (name, p) in [
            ("report-loss", self.report_loss),
            ("answer-loss", self.answer_loss),
            ("duplicate", self.duplicate),
            ("care-loss", self.care_loss),
            ("outcome-loss", self.outcome_loss),
            ("power-cut", self.power_cut),
            ("reboot-rate", self.reboot),
            ("power-off", self.power_off),
            ("server-crash", self.server_crash),
            ("store-error", self.store_error),
            ("dispatch-crash", self.dispatch_crash),
            ("forged", self.forged),
        ] {
            if !(0.0..1.0).contains(&p) {
                return Err(format!("{name} {p} is not a probability below 1"));
            }
        }
        Ok(())
    }

    /// Whether device logs are kept (reboots and power cuts rebuild devices from them).
    pub(super) fn logs_devices(&self) -> bool {
        self.power_cut > 0.0 || self.reboot > 0.0
    }

    /// Whether the server's log is kept in the simulation (crashes rebuild from it).
    pub(super) fn logs_server(&self) -> bool {
        self.server_crash > 0.0 || self.dispatch_crash > 0.0 || self.store_error > 0.0
    }
}

impl Default for Faults {
    fn default() -> Self {
        Faults::none()
    }
}

/// An invariant the simulation found broken: which, when, and what it saw. The seed's
/// run stops there.
#[derive(Debug, Clone, PartialEq)]
pub struct Violation {
    /// The invariant's name (`docs/design.md`, "Fault simulation").
    pub invariant: &'static str,
    /// Simulated time.
    pub at: Timestamp,
    /// The simulation step (work items processed) at which it was found.
    pub step: u64,
    /// What was seen.
    pub detail: String,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "invariant {} broken at step {} ({}): {}",
            self.invariant, self.step, self.at, self.detail
        )
    }
}

/// Faults injected, by kind.
pub type FaultCounts = BTreeMap<&'static str, u64>;
