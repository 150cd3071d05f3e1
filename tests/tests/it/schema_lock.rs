//! The persisted schema is locked by golden records: one of every device and server event
//! variant, encoded as stored. `stored-events-v2-keyed.txt` is what this build writes
//! (schema 2 in record format 2, whose CRC covers the key `server/golden`, seq 1); if it
//! fails, an encoding changed — old logs would no longer read. Freeze the old shape in
//! `core/src/persist/` (see its rules) instead of re-blessing. A new variant is added with
//! `DEVCARE_BLESS=1 cargo test -p devcare-integration --test it schema_lock`. `stored-events-v1.txt` is frozen: the
//! records schema 1 wrote, which must still read (upcast) for ever; so is
//! `stored-events-v2.txt`, schema 2 in record format 1 (before the CRC covered the key).

use devcare::device::GiveUpReason;
use devcare::server::{CoverageFloor, EscalationReason, Fallback, PauseReason};
use devcare::stats::{Coverage, CoverageBasis};
use devcare::store::{Persist, StreamId};
use devcare::*;

fn campaign() -> Campaign {
    let mut c = campaign_v1();
    c.schedule.care.timeout = Duration::from_mins(45);
    c
}

/// The golden campaign as schema 1 held it: the default care timeout.
fn campaign_v1() -> Campaign {
    Campaign {
        id: CampaignId::new("golden").unwrap(),
        revision: 3,
        issued_at: Timestamp(1_780_000_000_000),
        salt: *b"golden-salt-0001",
        targets: TargetSet::groups(vec!["beta".into(), "alpha".into()]),
        settings: vec![
            Setting {
                op: SettingOp::Add,
                uri: "./A".into(),
                value: Value::Str("s".into()),
            },
            Setting {
                op: SettingOp::Replace,
                uri: "./B".into(),
                value: Value::Int(-7),
            },
            Setting {
                op: SettingOp::Delete,
                uri: "./C".into(),
                value: Value::Null,
            },
            Setting {
                op: SettingOp::Exec,
                uri: "./D".into(),
                value: Value::Bytes(vec![1, 2]),
            },
            Setting {
                op: SettingOp::Replace,
                uri: "./E".into(),
                value: Value::Float(1.5),
            },
            Setting {
                op: SettingOp::Replace,
                uri: "./F".into(),
                value: Value::Bool(true),
            },
        ],
        schedule: CareSchedule {
            conditions: vec![
                Condition::AnyFailed,
                Condition::SettingFailed {
                    uri_prefix: "./A".into(),
                },
                Condition::StatusIn {
                    codes: vec![404, 500],
                },
                Condition::VerifyMismatch { uri: "./B".into() },
                Condition::PayloadIncomplete,
                Condition::NotAppliedWithin {
                    within: Duration::from_mins(1),
                },
            ],
            abort: Some(AbortPolicy {
                failure_ratio: 0.25,
                min_reports: 10,
            }),
            ..CareSchedule::default()
        },
    }
}

fn dev() -> DeviceId {
    DeviceId::new("IMEI:490154203237518").unwrap()
}

fn device_events() -> Vec<(&'static str, DeviceEvent)> {
    device_events_of(campaign())
}

fn server_events() -> Vec<(&'static str, ServerEvent)> {
    server_events_of(campaign())
}

fn device_events_of(campaign: Campaign) -> Vec<(&'static str, DeviceEvent)> {
    let t = Timestamp(1_780_000_100_000);
    vec![
        (
            "device.PayloadAccepted",
            DeviceEvent::PayloadAccepted {
                campaign: ValidCampaign::new(campaign.clone(), &Limits::DEFAULT).unwrap(),
                device: dev(),
                at: t,
            },
        ),
        (
            "device.SettingsApplied",
            DeviceEvent::SettingsApplied {
                results: vec![
                    ApplyResult::OK,
                    ApplyResult {
                        status: 404,
                        verify: Verify::Mismatch,
                    },
                    ApplyResult {
                        status: 200,
                        verify: Verify::Match,
                    },
                ],
                at: t,
            },
        ),
        (
            "device.Evaluated",
            DeviceEvent::Evaluated {
                findings: vec![
                    Finding::Status {
                        index: 1,
                        status: 404,
                    },
                    Finding::VerifyMismatch { index: 1 },
                    Finding::Missing { index: 5 },
                    Finding::Late {
                        after: Duration::from_secs(90),
                    },
                ],
                sampled: false,
                at: t,
            },
        ),
        (
            "device.ReportScheduled",
            DeviceEvent::ReportScheduled { attempt: 1, due: t },
        ),
        (
            "device.ReportSent",
            DeviceEvent::ReportSent { attempt: 1, at: t },
        ),
        (
            "device.ReportAcknowledged",
            DeviceEvent::ReportAcknowledged { attempt: 1, at: t },
        ),
        (
            "device.CareReceived",
            DeviceEvent::CareReceived {
                attempt: 2,
                settings: vec![1, 5],
                at: t,
            },
        ),
        (
            "device.CareApplied",
            DeviceEvent::CareApplied {
                attempt: 2,
                results: vec![ApplyResult::OK],
                at: t,
            },
        ),
        (
            "device.GaveUp.attempts",
            DeviceEvent::GaveUp {
                reason: GiveUpReason::AttemptsExhausted,
                at: t,
            },
        ),
        (
            "device.GaveUp.deadline",
            DeviceEvent::GaveUp {
                reason: GiveUpReason::DeadlinePassed,
                at: t,
            },
        ),
        (
            "device.Relapsed",
            DeviceEvent::Relapsed {
                findings: vec![
                    Finding::Status {
                        index: 1,
                        status: 404,
                    },
                    Finding::Missing { index: 5 },
                ],
                at: t,
            },
        ),
        (
            "device.GaveUp.refused",
            DeviceEvent::GaveUp {
                reason: GiveUpReason::Refused { status: 410 },
                at: t,
            },
        ),
    ]
}

fn server_events_of(campaign: Campaign) -> Vec<(&'static str, ServerEvent)> {
    let t = Timestamp(1_780_000_200_000);
    let d = dev();
    vec![
        (
            "server.CampaignCreated",
            ServerEvent::CampaignCreated {
                campaign: Box::new(campaign.clone()),
                targeted: 1_000_000,
                at: t,
            },
        ),
        ("server.BroadcastSent", ServerEvent::BroadcastSent { at: t }),
        (
            "server.ReportAccepted.failure",
            ServerEvent::ReportAccepted {
                device: d.clone(),
                attempt: 2,
                evaluated_at: t,
                kind: ReportKind::Failure {
                    findings: vec![Finding::Status {
                        index: 0,
                        status: 500,
                    }],
                },
                late: false,
                at: t,
            },
        ),
        (
            "server.ReportAccepted.summary",
            ServerEvent::ReportAccepted {
                device: d.clone(),
                attempt: 1,
                evaluated_at: t,
                kind: ReportKind::FailureSummary {
                    count: 3,
                    first_status: Some(404),
                },
                late: true,
                at: t,
            },
        ),
        (
            "server.ReportAccepted.success",
            ServerEvent::ReportAccepted {
                device: d.clone(),
                attempt: 1,
                evaluated_at: t,
                kind: ReportKind::Success,
                late: false,
                at: t,
            },
        ),
        (
            "server.CheckInBehind",
            ServerEvent::CheckInBehind {
                device: d.clone(),
                applied_revision: 2,
                at: t,
            },
        ),
        (
            "server.LateReportReconciled",
            ServerEvent::LateReportReconciled {
                device: d.clone(),
                at: t,
            },
        ),
        (
            "server.CareScheduled",
            ServerEvent::CareScheduled {
                device: d.clone(),
                attempt: 1,
                settings: vec![0, 3],
                due: t,
            },
        ),
        (
            "server.CareDispatched",
            ServerEvent::CareDispatched {
                device: d.clone(),
                attempt: 1,
                at: t,
            },
        ),
        (
            "server.CareSucceeded",
            ServerEvent::CareSucceeded {
                device: d.clone(),
                attempt: 1,
                at: t,
            },
        ),
        (
            "server.CareFailed",
            ServerEvent::CareFailed {
                device: d.clone(),
                attempt: 1,
                at: t,
            },
        ),
        (
            "server.DeviceEscalated.exhausted",
            ServerEvent::DeviceEscalated {
                device: d.clone(),
                reason: EscalationReason::CareExhausted,
                at: t,
            },
        ),
        (
            "server.DeviceEscalated.notify",
            ServerEvent::DeviceEscalated {
                device: d.clone(),
                reason: EscalationReason::NotifyOnly,
                at: t,
            },
        ),
        (
            "server.CareAbandoned",
            ServerEvent::CareAbandoned { device: d, at: t },
        ),
        (
            "server.CampaignPaused",
            ServerEvent::CampaignPaused {
                reason: PauseReason {
                    failure_reports: 12,
                    targeted: 40,
                    threshold: 0.25,
                },
                at: t,
            },
        ),
        (
            "server.CampaignResumed",
            ServerEvent::CampaignResumed { at: t },
        ),
        (
            "server.CampaignSettled",
            ServerEvent::CampaignSettled {
                presumed_ok: 999_000,
                at: t,
            },
        ),
        (
            "server.OperatorPaused",
            ServerEvent::OperatorPaused { at: t },
        ),
        (
            "server.CampaignRevised",
            ServerEvent::CampaignRevised {
                campaign: Box::new(campaign.clone()),
                targeted: 40,
                at: t,
            },
        ),
        (
            "server.CareTimedOut",
            ServerEvent::CareTimedOut {
                device: dev(),
                attempt: 2,
                at: t,
            },
        ),
        (
            "server.DeviceEscalated.relapsing",
            ServerEvent::DeviceEscalated {
                device: dev(),
                reason: EscalationReason::Relapsing,
                at: t,
            },
        ),
        (
            "server.SampleSized",
            ServerEvent::SampleSized {
                sampled_targets: 497,
                at: t,
            },
        ),
        (
            "server.CoverageFloorSet",
            ServerEvent::CoverageFloorSet {
                policy: CoverageFloor {
                    floor: 0.97,
                    fallback: Fallback::Unicast { per_minute: 2_000 },
                },
                at: t,
            },
        ),
        (
            "server.CoverageChecked",
            ServerEvent::CoverageChecked {
                reach: coverage(),
                at: t,
            },
        ),
        (
            "server.BroadcastDegraded",
            ServerEvent::BroadcastDegraded {
                coverage: coverage(),
                reach: Coverage {
                    basis: CoverageBasis::Design,
                    ..coverage()
                },
                at: t,
            },
        ),
        ("server.Rebroadcast", ServerEvent::Rebroadcast { at: t }),
        (
            "server.FallbackUnicastSent",
            ServerEvent::FallbackUnicastSent {
                count: 2_000,
                last: Some(dev()),
                done: false,
                at: t,
            },
        ),
        (
            "server.OperatorResumed",
            ServerEvent::OperatorResumed { at: t },
        ),
        (
            "server.AbortOverridden",
            ServerEvent::AbortOverridden {
                by: "alice".into(),
                why: "cohort checked".into(),
                at: t,
            },
        ),
        (
            "server.SampleProfiled",
            ServerEvent::SampleProfiled {
                profile: devcare::server::SampleProfile::of(
                    &devcare::spec::fixtures::campaign(),
                    &(0..3000)
                        .map(|i| devcare::spec::fixtures::dev(&format!("dev-{i}")))
                        .collect::<Vec<_>>(),
                ),
                at: t,
            },
        ),
        (
            "server.CheckedInCurrent",
            ServerEvent::CheckedInCurrent {
                device: devcare::spec::fixtures::dev("IMEI:1"),
                at: t,
            },
        ),
        (
            "server.PresumedBounded",
            ServerEvent::PresumedBounded {
                bound: devcare::server::PresumedBound {
                    missed: 745,
                    unheard: 3,
                },
                at: t,
            },
        ),
        (
            "server.SettlementLimitSet",
            ServerEvent::SettlementLimitSet {
                max_presumed_unknown: Some(1_000),
                at: t,
            },
        ),
        (
            "server.SettlementHeld",
            ServerEvent::SettlementHeld {
                bound: devcare::server::PresumedBound {
                    missed: 2_385,
                    unheard: 1,
                },
                at: t,
            },
        ),
        (
            "server.GroupBreakersSet",
            ServerEvent::GroupBreakersSet {
                breakers: vec![devcare::server::GroupBreaker {
                    group: "model-x".into(),
                    targeted: 10_000,
                    failure_ratio: 0.05,
                    min_reports: 200,
                }],
                at: t,
            },
        ),
        (
            "server.CaseGrouped",
            ServerEvent::CaseGrouped {
                device: devcare::spec::fixtures::dev("IMEI:1"),
                groups: 0b101,
            },
        ),
        (
            "server.GroupPaused",
            ServerEvent::GroupPaused {
                group: "model-x".into(),
                reason: devcare::server::PauseReason {
                    failure_reports: 612,
                    targeted: 2_040,
                    threshold: 0.05,
                },
                at: t,
            },
        ),
        (
            "server.GroupAbortOverridden",
            ServerEvent::GroupAbortOverridden {
                group: "model-x".into(),
                by: "alice".into(),
                why: "firmware 4.2 checked".into(),
                at: t,
            },
        ),
    ]
}

fn coverage() -> Coverage {
    Coverage {
        estimate: 0.95,
        lo: 0.93,
        hi: 0.96,
        basis: CoverageBasis::KnownSample,
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

const PATH: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/vectors/stored-events-v2-keyed.txt"
);
const PATH_V2_F1: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/vectors/stored-events-v2.txt");
const PATH_V1: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/vectors/stored-events-v1.txt");

fn golden(path: &str) -> Vec<(String, Vec<u8>)> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(n, h)| (n.to_string(), unhex(h)))
        .collect()
}

#[test]
fn schema_1_records_still_read_upcast_with_the_default_care_timeout() {
    let stream = StreamId::new("server/golden").unwrap();
    let old = golden(PATH_V1);
    let devices = device_events_of(campaign_v1());
    let servers = server_events_of(campaign_v1());
    // Every schema-1 variant has its record; the schema-2 additions have none.
    assert_eq!(old.len(), 29);
    for (name, bytes) in &old {
        assert!(bytes[1] < 2, "{name}: a schema-1 record (StoredEvent::*V1)");
        if let Some((_, want)) = devices.iter().find(|(n, _)| n == name) {
            let got = DeviceEvent::from_record(&stream, 1, bytes).unwrap();
            assert_eq!(&got, want, "{name}");
        } else {
            let (_, want) = servers
                .iter()
                .find(|(n, _)| n == name)
                .unwrap_or_else(|| panic!("{name}: no such event"));
            let got = ServerEvent::from_record(&stream, 1, bytes).unwrap();
            assert_eq!(&got, want, "{name}");
        }
    }
    // A schema-1 campaign record replays to the default timeout, not the file's 45 minutes.
    let created = &old
        .iter()
        .find(|(n, _)| n == "server.CampaignCreated")
        .unwrap()
        .1;
    let ServerEvent::CampaignCreated { campaign, .. } =
        ServerEvent::from_record(&stream, 1, created).unwrap()
    else {
        panic!("created")
    };
    assert_eq!(campaign.schedule.care.timeout, DEFAULT_CARE_TIMEOUT);
    // A device record is refused where a server record is expected, whatever its schema.
    let accepted = &old
        .iter()
        .find(|(n, _)| n == "device.PayloadAccepted")
        .unwrap()
        .1;
    assert!(ServerEvent::from_record(&stream, 1, accepted).is_err());
}

#[test]
fn format_1_records_of_schema_2_still_read() {
    // Written by 0.3 builds before records bound their key (record format 1): frozen.
    let stream = StreamId::new("server/golden").unwrap();
    let old = golden(PATH_V2_F1);
    assert_eq!(old.len(), 33);
    let devices = device_events();
    let servers = server_events();
    for (name, bytes) in &old {
        assert_eq!(bytes[0], 1, "{name}: record format 1");
        if let Some((_, want)) = devices.iter().find(|(n, _)| n == name) {
            assert_eq!(&DeviceEvent::from_record(&stream, 1, bytes).unwrap(), want);
        } else {
            let (_, want) = servers.iter().find(|(n, _)| n == name).unwrap();
            assert_eq!(&ServerEvent::from_record(&stream, 1, bytes).unwrap(), want);
        }
    }
}

#[test]
fn a_record_moved_to_another_key_is_corrupt_there() {
    let stream = StreamId::new("server/golden").unwrap();
    let other = StreamId::new("server/other").unwrap();
    let (_, e) = server_events().remove(1);
    let rec = e.to_record(&stream, 5).unwrap();
    assert_eq!(ServerEvent::from_record(&stream, 5, &rec).unwrap(), e);
    for (s, seq) in [(&stream, 6), (&other, 5)] {
        match ServerEvent::from_record(s, seq, &rec) {
            Err(devcare::store::StoreError::Corrupt {
                stream: got,
                seq: at,
                ..
            }) => assert_eq!((&got, at), (s, seq)),
            other => panic!("a moved record read as {other:?}"),
        }
    }
}

#[test]
fn stored_records_match_the_golden_file() {
    let stream = StreamId::new("server/golden").unwrap();
    let mut lines = Vec::new();
    for (name, e) in device_events() {
        lines.push((name, hex(&e.to_record(&stream, 1).unwrap())));
    }
    for (name, e) in server_events() {
        lines.push((name, hex(&e.to_record(&stream, 1).unwrap())));
    }
    for (name, e) in directory_events() {
        lines.push((name, hex(&e.to_record(&stream, 1).unwrap())));
    }
    let text: String = lines.iter().map(|(n, h)| format!("{n} {h}\n")).collect();
    if std::env::var_os("DEVCARE_BLESS").is_some() {
        std::fs::write(PATH, &text).unwrap();
    }
    let golden = std::fs::read_to_string(PATH).expect("tests/vectors/stored-events-v2-keyed.txt");
    let golden: Vec<(&str, &str)> = golden.lines().filter_map(|l| l.split_once(' ')).collect();
    assert_eq!(golden.len(), lines.len(), "one golden record per variant");
    for ((name, got), (gname, want)) in lines.iter().zip(&golden) {
        assert_eq!(name, gname);
        assert_eq!(
            got, want,
            "{name}: encoding changed — old logs would no longer read"
        );
    }
    // And the golden bytes decode back to the same events.
    for ((name, e), (_, want)) in device_events().into_iter().zip(&golden) {
        assert_eq!(
            DeviceEvent::from_record(&stream, 1, &unhex(want)).unwrap(),
            e,
            "{name}"
        );
    }
    for ((name, e), (_, want)) in server_events()
        .into_iter()
        .zip(&golden[device_events().len()..])
    {
        assert_eq!(
            ServerEvent::from_record(&stream, 1, &unhex(want)).unwrap(),
            e,
            "{name}"
        );
    }
    for ((name, e), (_, want)) in directory_events()
        .into_iter()
        .zip(&golden[device_events().len() + server_events().len()..])
    {
        assert_eq!(
            devcare::host::DirectoryEvent::from_record(&stream, 1, &unhex(want)).unwrap(),
            e,
            "{name}"
        );
    }
}

/// The server's directory events (its group table, issue 29).
fn directory_events() -> Vec<(&'static str, devcare::host::DirectoryEvent)> {
    vec![(
        "directory.GroupsSet",
        devcare::host::DirectoryEvent::GroupsSet {
            device: devcare::spec::fixtures::dev("IMEI:1"),
            groups: vec!["beta".into(), "model-x".into()],
        },
    )]
}
