//! Property tests: replaying the events of any run rebuilds the live state; refused
//! commands change nothing; time never runs back, however late commands are stamped;
//! report times always fall inside the window.

use crate::common;
use common::*;
use devcare::*;
use proptest::prelude::*;

fn device_cmd() -> impl Strategy<Value = (u8, u64, u32, Vec<u16>, bool)> {
    (
        0u8..9,
        0u64..4_000_000,
        0u32..4,
        prop::collection::vec(
            prop::sample::select(vec![200u16, 202, 404, 405, 415, 420, 500]),
            0..6,
        ),
        any::<bool>(),
    )
}

fn to_device_command(
    c: &Campaign,
    now: Timestamp,
    (kind, _, n, codes, flag): &(u8, u64, u32, Vec<u16>, bool),
) -> DeviceCommand {
    let results: Vec<ApplyResult> = codes
        .iter()
        .map(|&s| ApplyResult {
            status: s,
            verify: if *flag {
                Verify::Mismatch
            } else {
                Verify::Match
            },
        })
        .collect();
    match kind {
        0 => {
            let mut c = c.clone();
            c.revision = 1 + n % 3;
            if *flag {
                c.targets = TargetSet::devices(vec![dev("someone-else")]);
            }
            receive(&c, "IMEI:1", now)
        }
        1 => DeviceCommand::RecordApplied { results, at: now },
        2 | 3 => DeviceCommand::Tick { now },
        4 => DeviceCommand::MarkSent {
            attempt: *n,
            at: now,
        },
        5 => DeviceCommand::Acknowledge {
            attempt: *n,
            at: now,
        },
        8 => DeviceCommand::Refused {
            attempt: *n,
            status: codes.first().copied().unwrap_or(410),
            at: now,
        },
        6 => DeviceCommand::ReceiveCare {
            revision: 1,
            attempt: *n,
            settings: codes.iter().map(|&s| u32::from(s % 5)).collect(),
            at: now,
        },
        _ => DeviceCommand::RecordCareApplied {
            attempt: *n,
            results,
            at: now,
        },
    }
}

fn server_cmd() -> impl Strategy<Value = (u8, u64, u32, u8, bool)> {
    (0u8..13, 0u64..20_000_000, 0u32..4, 0u8..12, any::<bool>())
}

fn to_server_command(
    c: &Campaign,
    now: Timestamp,
    (kind, _, n, d, flag): &(u8, u64, u32, u8, bool),
) -> ServerCommand {
    let device = dev(&format!("D{d}"));
    match kind {
        0 => ServerCommand::Create {
            campaign: Box::new(c.clone()),
            targeted: Some(20),
            at: now,
        },
        1 | 2 => {
            let kind = if *flag {
                ReportKind::Success
            } else {
                ReportKind::Failure {
                    findings: vec![Finding::Status {
                        index: n % 5,
                        status: 500,
                    }],
                }
            };
            ServerCommand::AcceptReport {
                report: Report {
                    campaign: c.id.clone(),
                    revision: 1 + n / 3,
                    device,
                    attempt: *n,
                    evaluated_at: now,
                    kind,
                },
                groups: vec![],
                at: now,
            }
        }
        3 => ServerCommand::CheckIn {
            device,
            groups: vec![],
            applied_revision: n % 2,
            at: now,
        },
        4 => ServerCommand::DispatchCare {
            device,
            attempt: *n,
            at: now,
        },
        5 => ServerCommand::RecordCareOutcome {
            device,
            attempt: *n,
            success: *flag,
            at: now,
        },
        6 => ServerCommand::Resume { at: now },
        7 => ServerCommand::MarkBroadcast { at: now },
        8 => ServerCommand::SetCoverageFloor {
            policy: devcare::server::CoverageFloor {
                floor: 0.99,
                fallback: if *flag {
                    devcare::server::Fallback::Rebroadcast
                } else {
                    devcare::server::Fallback::Unicast { per_minute: 3 }
                },
            },
            at: now,
        },
        9 => ServerCommand::RecordRebroadcast { at: now },
        10 => {
            let mut devices = vec![dev(&format!("D{d}")), dev(&format!("D{}", d + 1))];
            devices.truncate(*n as usize % 3);
            ServerCommand::RecordFallbackUnicast {
                devices,
                done: *flag,
                at: now,
            }
        }
        11 => ServerCommand::SizeSample {
            sampled_targets: u64::from(*n),
            at: now,
        },
        _ => ServerCommand::Tick { now },
    }
}

/// Commands stamped in any order: each is decided as if stamped at the state's clock when
/// it is stamped earlier (the same answer), no event's time is before the clock, and the
/// replay equals the live state.
fn check_time_never_runs_back<D: Decider>(
    cmds: Vec<D::Command>,
    time: impl Fn(&D::Command) -> Timestamp,
    retimed: impl Fn(D::Command, Timestamp) -> D::Command,
    clock: impl Fn(&D::State) -> Timestamp,
    event_time: impl Fn(&D::Event) -> Option<Timestamp>,
) -> Result<(), TestCaseError>
where
    D::State: Clone + PartialEq + std::fmt::Debug,
    D::Event: Clone + PartialEq + std::fmt::Debug,
    D::Error: PartialEq + std::fmt::Debug,
    D::Command: Clone,
{
    let mut live = D::State::default();
    let mut log = Vec::new();
    for cmd in &cmds {
        let now = clock(&live);
        let at_clock = retimed(cmd.clone(), time(cmd).max(now));
        prop_assert_eq!(D::decide(&live, cmd), D::decide(&live, &at_clock));
        if let Ok(events) = D::handle(&mut live, cmd) {
            for e in &events {
                if let Some(t) = event_time(e) {
                    prop_assert!(t >= now, "an event at {t:?} before the clock {now:?}");
                }
            }
            log.extend(events);
        }
        prop_assert!(clock(&live) >= now, "the clock ran back");
    }
    prop_assert_eq!(D::replay(&log), live);
    Ok(())
}

fn check_run<D: Decider>(cmds: Vec<D::Command>) -> Result<(), TestCaseError>
where
    D::State: Clone + PartialEq + std::fmt::Debug,
    D::Event: Clone,
{
    let mut live = D::State::default();
    let mut log = Vec::new();
    for cmd in &cmds {
        let before = live.clone();
        match D::handle(&mut live, cmd) {
            Ok(events) => log.extend(events),
            Err(_) => prop_assert_eq!(&live, &before, "a refused command changed the state"),
        }
    }
    prop_assert_eq!(D::replay(&log), live);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn device_replay_rebuilds_the_live_state(steps in prop::collection::vec(device_cmd(), 1..40), abort in any::<bool>()) {
        let mut c = campaign();
        c.schedule.conditions = vec![Condition::AnyFailed, Condition::PayloadIncomplete, Condition::VerifyMismatch { uri: "./Proxy/Port".into() }];
        c.schedule.sample_success_ppm = if abort { 1_000_000 } else { 0 };
        c.schedule.report.retry.attempts = 3;
        let mut now = T0;
        let cmds: Vec<_> = steps.iter().map(|s| { now = now.plus(Duration(s.1)); to_device_command(&c, now, s) }).collect();
        check_run::<Device>(cmds)?;
    }

    #[test]
    fn server_replay_rebuilds_the_live_state(steps in prop::collection::vec(server_cmd(), 1..60), abort in any::<bool>()) {
        let mut c = campaign();
        c.schedule.sample_success_ppm = 50_000;
        if abort {
            c.schedule.abort = Some(AbortPolicy { failure_ratio: 0.1, min_reports: 2 });
        }
        let mut now = T0;
        let mut cmds = vec![ServerCommand::Create { campaign: Box::new(c.clone()), targeted: Some(20), at: T0 }];
        cmds.extend(steps.iter().map(|s| { now = now.plus(Duration(s.1)); to_server_command(&c, now, s) }));
        check_run::<Server>(cmds)?;
    }

    #[test]
    fn server_time_never_runs_back(steps in prop::collection::vec(server_cmd(), 1..60), abort in any::<bool>()) {
        let mut c = campaign();
        c.schedule.sample_success_ppm = 50_000;
        if abort {
            c.schedule.abort = Some(AbortPolicy { failure_ratio: 0.1, min_reports: 2 });
        }
        // Each command stamped at its own offset from T0: out of order, often earlier than
        // what the log has seen.
        let mut cmds = vec![ServerCommand::Create { campaign: Box::new(c.clone()), targeted: Some(20), at: T0 }];
        cmds.extend(steps.iter().map(|s| to_server_command(&c, T0.plus(Duration(s.1 * 40)), s)));
        check_time_never_runs_back::<Server>(
            cmds,
            ServerCommand::time,
            ServerCommand::retimed,
            |s| s.clock,
            ServerEvent::time,
        )?;
    }

    #[test]
    fn device_time_never_runs_back(steps in prop::collection::vec(device_cmd(), 1..40)) {
        let mut c = campaign();
        c.schedule.conditions = vec![Condition::AnyFailed, Condition::PayloadIncomplete];
        c.schedule.sample_success_ppm = 1_000_000;
        c.schedule.report.retry.attempts = 3;
        let cmds: Vec<_> = steps.iter().map(|s| to_device_command(&c, T0.plus(Duration(s.1 * 40)), s)).collect();
        check_time_never_runs_back::<Device>(
            cmds,
            DeviceCommand::time,
            DeviceCommand::retimed,
            |s| s.clock,
            DeviceEvent::time,
        )?;
    }

    #[test]
    fn report_time_falls_inside_the_window(
        salt in any::<[u8; 16]>(),
        id in "[!-~]{1,64}",
        evaluated in 0u64..u64::MAX / 4,
        offset in 0u64..u64::MAX / 8,
        window in 1u64..u64::MAX / 8,
    ) {
        let device = DeviceId::new(id).unwrap();
        let policy = ReportPolicy {
            offset: Duration(offset),
            window: Duration(window),
            retry: RetryPolicy { attempts: 1, backoff: Duration::ZERO, max_backoff: Duration::ZERO },
            deadline: Duration(u64::MAX),
            detail: Detail::PerSetting,
        };
        let t = slot::first_report_at(&salt, &device, Timestamp(evaluated), policy.offset, policy.window).as_millis();
        prop_assert!(t >= evaluated + offset);
        prop_assert!(t < evaluated + offset + window);
    }

    #[test]
    fn retry_delay_never_exceeds_the_cap(
        salt in any::<[u8; 16]>(),
        retry in 1u32..100,
        backoff in 0u64..u64::MAX / 2,
        extra in 0u64..u64::MAX / 2,
    ) {
        let p = RetryPolicy { attempts: 32, backoff: Duration(backoff), max_backoff: Duration(backoff + extra) };
        let d = slot::retry_delay(&salt, &dev("IMEI:1"), retry, &p).as_millis();
        prop_assert!(d <= backoff + extra);
        prop_assert!(d >= backoff.min(backoff + extra) / 2);
    }
}
