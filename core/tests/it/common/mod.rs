//! Shared fixtures: a campaign builder and given/when/then helpers.
#![allow(dead_code, unreachable_pub, unused_imports)]

use devcare::*;

pub use devcare::spec::fixtures::{T0, at, campaign, dev};
pub use devcare::spec::given as spec;

pub fn mins(m: u64) -> Duration {
    Duration::from_mins(m)
}

pub fn with_conditions(mut c: Campaign, conditions: Vec<Condition>) -> Campaign {
    c.schedule.conditions = conditions;
    c
}

pub fn ok(n: usize) -> Vec<ApplyResult> {
    vec![ApplyResult::OK; n]
}

pub fn statuses(codes: &[u16]) -> Vec<ApplyResult> {
    codes.iter().map(|&s| ApplyResult::status(s)).collect()
}

/// Folds `events` into a fresh state of decider `D`.
pub fn given<D: Decider>(events: &[D::Event]) -> D::State {
    D::replay(events)
}

/// Runs `cmds` in order, folding their events; panics on refusal. Returns all events.
pub fn run<D: Decider>(state: &mut D::State, cmds: &[D::Command]) -> Vec<D::Event>
where
    D::Error: std::fmt::Debug,
{
    let mut all = Vec::new();
    for c in cmds {
        all.extend(D::handle(state, c).expect("command refused"));
    }
    all
}

pub fn receive(c: &Campaign, d: &str, when: Timestamp) -> DeviceCommand {
    DeviceCommand::Receive {
        campaign: valid(c),
        device: dev(d),
        groups: vec![],
        at: when,
    }
}

/// Device events after receiving `c` at T0 and applying with `results` at T0+1s.
pub fn device_applied(c: &Campaign, d: &str, results: Vec<ApplyResult>) -> Vec<DeviceEvent> {
    vec![
        DeviceEvent::PayloadAccepted {
            campaign: valid(c),
            device: dev(d),
            at: T0,
        },
        DeviceEvent::SettingsApplied {
            results,
            at: at(1_000),
        },
    ]
}

/// The events of a device from receipt to evaluation.
pub fn device_evaluated_events(
    c: &Campaign,
    d: &str,
    results: Vec<ApplyResult>,
) -> Vec<DeviceEvent> {
    let mut events = device_applied(c, d, results);
    let s = given::<Device>(&events);
    let eval = T0.plus(c.schedule.evaluate_after);
    events.extend(Device::decide(&s, &DeviceCommand::Tick { now: eval }).unwrap());
    events
}

/// Runs a device from receipt to evaluation; returns the state.
pub fn device_evaluated(c: &Campaign, d: &str, results: Vec<ApplyResult>) -> DeviceState {
    let mut s = given::<Device>(&device_applied(c, d, results));
    let eval = T0.plus(c.schedule.evaluate_after);
    Device::handle(&mut s, &DeviceCommand::Tick { now: eval }).unwrap();
    s
}

pub fn failure_report(c: &Campaign, d: &str, findings: Vec<Finding>) -> Report {
    Report {
        campaign: c.id.clone(),
        revision: c.revision,
        device: dev(d),
        attempt: 1,
        evaluated_at: T0.plus(c.schedule.evaluate_after),
        kind: ReportKind::Failure { findings },
    }
}

pub fn created(c: &Campaign, targeted: u64) -> ServerEvent {
    ServerEvent::CampaignCreated {
        campaign: Box::new(c.clone()),
        targeted,
        at: T0,
    }
}

pub fn server_created(c: &Campaign, targeted: u64) -> ServerState {
    given::<Server>(&[created(c, targeted)])
}

pub fn accept(r: Report, when: Timestamp) -> ServerCommand {
    ServerCommand::AcceptReport {
        report: r,
        groups: vec![],
        at: when,
    }
}

/// A success probe from `d` for `c`'s current revision, evaluated at `T0`.
pub fn probe(c: &Campaign, d: &DeviceId) -> Report {
    Report {
        campaign: c.id.clone(),
        revision: c.revision,
        device: d.clone(),
        attempt: 1,
        evaluated_at: T0,
        kind: ReportKind::Success,
    }
}

/// `c`, validated with the default limits (the form the device decider takes).
pub fn valid(c: &Campaign) -> ValidCampaign {
    ValidCampaign::new(c.clone(), &Limits::DEFAULT).unwrap()
}
