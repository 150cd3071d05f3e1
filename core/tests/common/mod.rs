//! Shared fixtures: a campaign builder and given/when/then helpers.
#![allow(dead_code, unreachable_pub)]

use devcare::*;

pub const T0: Timestamp = Timestamp(1_780_000_000_000);

pub fn dev(id: &str) -> DeviceId {
    DeviceId::new(id).unwrap()
}

pub fn at(ms_after_t0: u64) -> Timestamp {
    T0.plus(Duration(ms_after_t0))
}

pub fn mins(m: u64) -> Duration {
    Duration::from_mins(m)
}

/// A 4-setting APN campaign, targeting all devices, with the default schedule.
pub fn campaign() -> Campaign {
    Campaign {
        id: CampaignId::new("apn-2026-11").unwrap(),
        revision: 1,
        issued_at: T0,
        salt: *b"0123456789abcdef",
        targets: TargetSet::All,
        settings: vec![
            Setting::replace("./AP/Default/APN", Value::Str("internet.example".into())),
            Setting::replace("./AP/Default/Auth", Value::Str("pap".into())),
            Setting::replace("./Proxy/Port", Value::Int(8080)),
            Setting {
                op: SettingOp::Exec,
                uri: "./Vendor/Reload".into(),
                value: Value::Null,
            },
        ],
        schedule: CareSchedule::default(),
    }
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
        campaign: Box::new(c.clone()),
        device: dev(d),
        groups: vec![],
        at: when,
    }
}

/// Device events after receiving `c` at T0 and applying with `results` at T0+1s.
pub fn device_applied(c: &Campaign, d: &str, results: Vec<ApplyResult>) -> Vec<DeviceEvent> {
    vec![
        DeviceEvent::PayloadAccepted {
            campaign: Box::new(c.clone()),
            device: dev(d),
            at: T0,
        },
        DeviceEvent::SettingsApplied {
            results,
            at: at(1_000),
        },
    ]
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

pub fn server_created(c: &Campaign, targeted: u64) -> ServerState {
    given::<Server>(&[ServerEvent::CampaignCreated {
        campaign: Box::new(c.clone()),
        targeted,
        at: T0,
    }])
}

pub fn accept(r: Report, when: Timestamp) -> ServerCommand {
    ServerCommand::AcceptReport {
        report: r,
        groups: vec![],
        at: when,
    }
}
