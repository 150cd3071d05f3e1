//! The device decider's rules, one test per rule: given these events, when this command,
//! then these events (or this refusal, with no state change).

use crate::common;
use common::*;
use devcare::device::{GiveUpReason, Phase};
use devcare::*;

fn eval_time(c: &Campaign) -> Timestamp {
    T0.plus(c.schedule.evaluate_after)
}

fn no_sampling(mut c: Campaign) -> Campaign {
    c.schedule.sample_success_ppm = 0;
    c
}

fn findings_of(s: &DeviceState) -> Vec<Finding> {
    s.findings.clone()
}

#[test]
fn healthy_device_stays_silent() {
    let c = no_sampling(campaign());
    let s = given::<Device>(&device_applied(&c, "IMEI:1", ok(4)));
    let events = Device::decide(&s, &DeviceCommand::Tick { now: eval_time(&c) }).unwrap();
    assert_eq!(
        events,
        vec![DeviceEvent::Evaluated {
            findings: vec![],
            sampled: false,
            at: eval_time(&c)
        }]
    );
    let s = device_evaluated(&c, "IMEI:1", ok(4));
    assert_eq!(s.phase, Phase::Healthy);
    assert_eq!(s.due_report(at(u64::MAX / 2)), None);
    assert_eq!(s.next_wake(), None);
}

#[test]
fn evaluation_waits_for_evaluate_after() {
    let c = campaign();
    let s = given::<Device>(&device_applied(
        &c,
        "IMEI:1",
        statuses(&[500, 200, 200, 200]),
    ));
    let early = Timestamp(eval_time(&c).0 - 1);
    assert_eq!(
        Device::decide(&s, &DeviceCommand::Tick { now: early }).unwrap(),
        vec![]
    );
    assert_eq!(s.next_wake(), Some(eval_time(&c)));
}

#[test]
fn any_failed_reports_every_failed_setting() {
    let c = with_conditions(campaign(), vec![Condition::AnyFailed]);
    let s = device_evaluated(&c, "IMEI:1", statuses(&[200, 404, 200, 500]));
    assert_eq!(
        findings_of(&s),
        vec![
            Finding::Status {
                index: 1,
                status: 404
            },
            Finding::Status {
                index: 3,
                status: 500
            }
        ]
    );
    assert_eq!(s.phase, Phase::Reporting);
}

#[test]
fn setting_failed_matches_whole_path_segments_only() {
    let mut c = with_conditions(
        campaign(),
        vec![Condition::SettingFailed {
            uri_prefix: "./AP".into(),
        }],
    );
    c.settings[2].uri = "./APN/Other".into();
    c = no_sampling(c);
    // ./APN/Other fails: not under ./AP → healthy.
    let s = device_evaluated(&c, "IMEI:1", statuses(&[200, 200, 500, 200]));
    assert_eq!(s.phase, Phase::Healthy);
    // ./AP/Default/Auth fails → exceptional.
    let s = device_evaluated(&c, "IMEI:1", statuses(&[200, 405, 500, 200]));
    assert_eq!(
        findings_of(&s),
        vec![Finding::Status {
            index: 1,
            status: 405
        }]
    );
}

#[test]
fn status_in_matches_listed_codes_even_if_successful() {
    let c = with_conditions(
        campaign(),
        vec![Condition::StatusIn {
            codes: vec![202, 420],
        }],
    );
    let s = device_evaluated(&c, "IMEI:1", statuses(&[200, 202, 404, 200]));
    assert_eq!(
        findings_of(&s),
        vec![Finding::Status {
            index: 1,
            status: 202
        }]
    );
    let s = device_evaluated(&no_sampling(c), "IMEI:1", statuses(&[200, 200, 404, 200]));
    assert_eq!(s.phase, Phase::Healthy, "404 is not listed");
}

#[test]
fn verify_mismatch_flags_only_the_named_node() {
    let c = no_sampling(with_conditions(
        campaign(),
        vec![Condition::VerifyMismatch {
            uri: "./Proxy/Port".into(),
        }],
    ));
    let mut results = ok(4);
    results[0].verify = Verify::Mismatch; // not watched
    let s = device_evaluated(&c, "IMEI:1", results.clone());
    assert_eq!(s.phase, Phase::Healthy);
    results[2].verify = Verify::Mismatch;
    let s = device_evaluated(&c, "IMEI:1", results);
    assert_eq!(findings_of(&s), vec![Finding::VerifyMismatch { index: 2 }]);
}

#[test]
fn payload_incomplete_flags_settings_without_results() {
    let c = with_conditions(campaign(), vec![Condition::PayloadIncomplete]);
    let s = device_evaluated(&c, "IMEI:1", ok(2));
    assert_eq!(
        findings_of(&s),
        vec![Finding::Missing { index: 2 }, Finding::Missing { index: 3 }]
    );
    // Never applied at all: every setting is missing.
    let mut s = given::<Device>(&[DeviceEvent::PayloadAccepted {
        campaign: valid(&c),
        device: dev("IMEI:1"),
        at: T0,
    }]);
    Device::handle(&mut s, &DeviceCommand::Tick { now: eval_time(&c) }).unwrap();
    assert_eq!(s.findings.len(), 4);
}

#[test]
fn settings_without_results_are_findings_even_when_payload_incomplete_is_not_listed() {
    let c = no_sampling(with_conditions(campaign(), vec![Condition::AnyFailed]));
    let s = device_evaluated(&c, "IMEI:1", ok(3));
    assert_eq!(findings_of(&s), vec![Finding::Missing { index: 3 }]);
    assert_eq!(
        s.phase,
        Phase::Reporting,
        "an unapplied setting is not healthy"
    );
    // Never applied at all (the host died before it returned results).
    let received = DeviceEvent::PayloadAccepted {
        campaign: valid(&c),
        device: dev("IMEI:1"),
        at: T0,
    };
    let s = spec::<Device>([received])
        .when(DeviceCommand::Tick { now: eval_time(&c) })
        .then_events(|events| {
            assert!(matches!(
                &events[0],
                DeviceEvent::Evaluated { findings, .. } if findings.len() == 4
            ));
        });
    assert_eq!(s.phase, Phase::Reporting);
    assert_eq!(s.applied_revision, 0);
}

#[test]
fn not_applied_within_flags_a_slow_or_missing_apply() {
    let c = no_sampling(with_conditions(
        campaign(),
        vec![Condition::NotAppliedWithin { within: mins(2) }],
    ));
    // Applied at T0 + 1 s: in time.
    assert_eq!(device_evaluated(&c, "IMEI:1", ok(4)).phase, Phase::Healthy);
    // Applied at T0 + 3 min: late.
    let mut s = given::<Device>(&[DeviceEvent::PayloadAccepted {
        campaign: valid(&c),
        device: dev("IMEI:1"),
        at: T0,
    }]);
    run::<Device>(
        &mut s,
        &[
            DeviceCommand::RecordApplied {
                results: ok(4),
                at: T0.plus(mins(3)),
            },
            DeviceCommand::Tick { now: eval_time(&c) },
        ],
    );
    assert_eq!(s.findings, vec![Finding::Late { after: mins(3) }]);
}

#[test]
fn report_is_due_at_its_slot_inside_the_window() {
    let c = campaign();
    let s = device_evaluated(&c, "IMEI:1", statuses(&[500, 200, 200, 200]));
    let due = slot::first_report_at(
        &c.salt,
        &dev("IMEI:1"),
        eval_time(&c),
        c.schedule.report.offset,
        c.schedule.report.window,
    );
    assert_eq!(s.report.unwrap().due, due);
    let open = eval_time(&c).plus(c.schedule.report.offset);
    assert!(due >= open && due < open.plus(c.schedule.report.window));
    assert_eq!(s.next_wake(), Some(due));
    assert_eq!(s.due_report(Timestamp(due.0 - 1)), None);
    let r = s.due_report(due).expect("due at its slot");
    assert_eq!(r.attempt, 1);
    assert_eq!(
        r.kind,
        ReportKind::Failure {
            findings: vec![Finding::Status {
                index: 0,
                status: 500
            }]
        }
    );
}

#[test]
fn summary_detail_sends_counts_only() {
    let mut c = campaign();
    c.schedule.report.detail = Detail::Summary;
    c.schedule.care.action = CareAction::ReprovisionAll;
    let s = device_evaluated(&c, "IMEI:1", statuses(&[200, 404, 500, 200]));
    let r = s.due_report(s.report.unwrap().due).unwrap();
    assert_eq!(
        r.kind,
        ReportKind::FailureSummary {
            count: 2,
            first_status: Some(404)
        }
    );
}

#[test]
fn sending_before_the_slot_is_refused_without_change() {
    let c = campaign();
    let given = spec::<Device>(device_evaluated_events(
        &c,
        "IMEI:1",
        statuses(&[500, 200, 200, 200]),
    ));
    let due = given.state().report.unwrap().due;
    let err = given
        .when(DeviceCommand::MarkSent {
            attempt: 1,
            at: Timestamp(due.0 - 1),
        })
        .then_refused("not-due");
    assert_eq!(err, DeviceError::NotDue { attempt: 1, due });
}

#[test]
fn unacknowledged_report_is_retried_with_backoff_until_acknowledged() {
    let c = campaign();
    let d = dev("IMEI:1");
    let mut s = device_evaluated(&c, "IMEI:1", statuses(&[500, 200, 200, 200]));
    let due = s.report.unwrap().due;
    run::<Device>(
        &mut s,
        &[DeviceCommand::MarkSent {
            attempt: 1,
            at: due,
        }],
    );
    let retry_at = due.plus(slot::retry_delay(&c.salt, &d, 1, &c.schedule.report.retry));
    assert_eq!(s.next_wake(), Some(retry_at));
    assert_eq!(
        Device::decide(
            &s,
            &DeviceCommand::Tick {
                now: Timestamp(retry_at.0 - 1)
            }
        )
        .unwrap(),
        vec![]
    );
    let events = run::<Device>(&mut s, &[DeviceCommand::Tick { now: retry_at }]);
    assert_eq!(
        events,
        vec![DeviceEvent::ReportScheduled {
            attempt: 2,
            due: retry_at
        }]
    );
    assert_eq!(s.due_report(retry_at).unwrap().attempt, 2);
    // Repeating the same MarkSent is idempotent; a wrong attempt is refused.
    run::<Device>(
        &mut s,
        &[DeviceCommand::MarkSent {
            attempt: 2,
            at: retry_at,
        }],
    );
    assert_eq!(
        Device::decide(
            &s,
            &DeviceCommand::MarkSent {
                attempt: 2,
                at: retry_at
            }
        )
        .unwrap(),
        vec![]
    );
    assert!(matches!(
        Device::decide(
            &s,
            &DeviceCommand::MarkSent {
                attempt: 3,
                at: retry_at
            }
        ),
        Err(DeviceError::WrongAttempt { current: 2, got: 3 })
    ));
    // The ack of attempt 1 arriving late still settles the report.
    let events = run::<Device>(
        &mut s,
        &[DeviceCommand::Acknowledge {
            attempt: 1,
            at: retry_at,
        }],
    );
    assert_eq!(
        events,
        vec![DeviceEvent::ReportAcknowledged {
            attempt: 1,
            at: retry_at
        }]
    );
    assert_eq!(s.phase, Phase::AwaitingCare);
    assert_eq!(s.next_wake(), None);
}

#[test]
fn device_gives_up_after_the_last_attempt() {
    let mut c = campaign();
    c.schedule.report.retry.attempts = 2;
    let d = dev("IMEI:1");
    let retry = c.schedule.report.retry;
    let mut s = device_evaluated(&c, "IMEI:1", statuses(&[500, 200, 200, 200]));
    let due = s.report.unwrap().due;
    let r2 = due.plus(slot::retry_delay(&c.salt, &d, 1, &retry));
    run::<Device>(
        &mut s,
        &[
            DeviceCommand::MarkSent {
                attempt: 1,
                at: due,
            },
            DeviceCommand::Tick { now: r2 },
            DeviceCommand::MarkSent { attempt: 2, at: r2 },
        ],
    );
    let end = r2.plus(slot::retry_delay(&c.salt, &d, 2, &retry));
    let events = run::<Device>(&mut s, &[DeviceCommand::Tick { now: end }]);
    assert_eq!(
        events,
        vec![DeviceEvent::GaveUp {
            reason: GiveUpReason::AttemptsExhausted,
            at: end
        }]
    );
    assert_eq!(s.phase, Phase::GaveUp);
}

#[test]
fn device_gives_up_when_the_next_retry_falls_after_the_deadline() {
    // A device that was off evaluates late: its first slot falls a moment before the
    // deadline, and its first retry after it.
    let c = campaign();
    let dev_id = dev("IMEI:1");
    let slot = devcare::rules::first_report_at(&c, &dev_id, T0).since(T0);
    let late = Timestamp(c.report_deadline().0 - slot.as_millis() - 1);
    let mut s = given::<Device>(&device_applied(
        &c,
        "IMEI:1",
        statuses(&[500, 200, 200, 200]),
    ));
    Device::handle(&mut s, &DeviceCommand::Tick { now: late }).unwrap();
    let due = s.report.unwrap().due;
    assert!(due < c.report_deadline());
    run::<Device>(
        &mut s,
        &[DeviceCommand::MarkSent {
            attempt: 1,
            at: due,
        }],
    );
    let next = s.next_wake().unwrap();
    assert!(next >= c.report_deadline());
    let events = run::<Device>(&mut s, &[DeviceCommand::Tick { now: next }]);
    assert_eq!(
        events,
        vec![DeviceEvent::GaveUp {
            reason: GiveUpReason::DeadlinePassed,
            at: next
        }]
    );
}

#[test]
fn payload_for_another_device_is_ignored() {
    let mut c = campaign();
    c.targets = TargetSet::devices(vec![dev("IMEI:2"), dev("IMEI:3")]);
    spec::<Device>([])
        .when(receive(&c, "IMEI:1", T0))
        .then_refused("not-targeted");
    // A group campaign reaches members only.
    c.targets = TargetSet::groups(vec!["beta".into()]);
    let cmd = |groups: Vec<String>| DeviceCommand::Receive {
        campaign: valid(&c),
        device: dev("IMEI:1"),
        groups,
        at: T0,
    };
    spec::<Device>([])
        .when(cmd(vec!["alpha".into()]))
        .then_refused("not-targeted");
    spec::<Device>([])
        .when(cmd(vec!["alpha".into(), "beta".into()]))
        .then([DeviceEvent::PayloadAccepted {
            campaign: valid(&c),
            device: dev("IMEI:1"),
            at: T0,
        }]);
}

#[test]
fn revisions_already_taken_are_ignored_and_newer_ones_restart() {
    let mut c = campaign();
    c.revision = 2;
    let evaluated = device_evaluated_events(&c, "IMEI:1", statuses(&[500, 200, 200, 200]));
    let mut s = given::<Device>(&evaluated);
    for rev in [1, 2] {
        let mut old = c.clone();
        old.revision = rev;
        let err = spec::<Device>(evaluated.clone())
            .when(receive(&old, "IMEI:1", at(10)))
            .then_refused("stale-revision");
        assert_eq!(
            err,
            DeviceError::StaleRevision {
                campaign: "apn-2026-11".into(),
                have: 2,
                got: rev
            }
        );
    }
    let mut newer = c.clone();
    newer.revision = 3;
    run::<Device>(&mut s, &[receive(&newer, "IMEI:1", at(10))]);
    assert_eq!(s.phase, Phase::Applying);
    assert_eq!(s.report, None);
    assert_eq!(s.pending_apply().unwrap().len(), 4);
}

#[test]
fn payload_of_another_campaign_is_refused_on_this_stream() {
    let c = campaign();
    let mut other = c.clone();
    other.id = CampaignId::new("other").unwrap();
    spec::<Device>(device_evaluated_events(&c, "IMEI:1", ok(4)))
        .when(receive(&other, "IMEI:1", at(5)))
        .then_refused("wrong-campaign");
}

#[test]
fn an_invalid_campaign_never_reaches_the_decider() {
    // The decider takes only a `ValidCampaign`: an invalid one is refused where it is
    // built, with the field and the rule it breaks.
    let mut c = campaign();
    c.schedule.report.window = Duration::ZERO;
    let err = ValidCampaign::new(c, &Limits::DEFAULT).unwrap_err();
    assert_eq!(
        err.to_string(),
        "schedule.report.window: must be longer than zero (reports are spread over it)"
    );
    // The limits are the builder's: the same campaign is valid or not by them.
    let c = campaign();
    let tight = Limits {
        max_settings: c.settings.len() - 1,
        ..Limits::DEFAULT
    };
    assert_eq!(
        ValidCampaign::new(c.clone(), &tight).unwrap_err().field,
        "settings"
    );
    assert_eq!(*ValidCampaign::new(c.clone(), &Limits::DEFAULT).unwrap(), c);
}

#[test]
fn more_results_than_settings_are_refused() {
    let c = campaign();
    let err = spec::<Device>(device_applied(&c, "IMEI:1", ok(4))[..1].to_vec())
        .when(DeviceCommand::RecordApplied {
            results: ok(5),
            at: T0,
        })
        .then_refused("too-many-results");
    assert_eq!(
        err,
        DeviceError::TooManyResults {
            expected: 4,
            got: 5
        }
    );
}

/// The events of [`acked_failure`].
fn acked_failure_events(c: &Campaign) -> Vec<DeviceEvent> {
    let mut log = device_evaluated_events(c, "IMEI:1", statuses(&[500, 200, 404, 200]));
    let mut s = given::<Device>(&log);
    let due = s.report.unwrap().due;
    log.extend(run::<Device>(
        &mut s,
        &[
            DeviceCommand::MarkSent {
                attempt: 1,
                at: due,
            },
            DeviceCommand::Acknowledge {
                attempt: 1,
                at: due,
            },
        ],
    ));
    log
}

fn acked_failure(c: &Campaign) -> DeviceState {
    let mut s = device_evaluated(c, "IMEI:1", statuses(&[500, 200, 404, 200]));
    let due = s.report.unwrap().due;
    run::<Device>(
        &mut s,
        &[
            DeviceCommand::MarkSent {
                attempt: 1,
                at: due,
            },
            DeviceCommand::Acknowledge {
                attempt: 1,
                at: due,
            },
        ],
    );
    s
}

#[test]
fn care_that_succeeds_recovers_the_device() {
    let c = campaign();
    let mut s = acked_failure(&c);
    run::<Device>(
        &mut s,
        &[DeviceCommand::ReceiveCare {
            revision: 1,
            attempt: 1,
            settings: vec![0, 2],
            at: at(7_200_000),
        }],
    );
    let (attempt, settings) = s.pending_care().unwrap();
    assert_eq!(attempt, 1);
    assert_eq!(settings[1].uri, "./Proxy/Port");
    assert!(matches!(
        Device::decide(
            &s,
            &DeviceCommand::RecordCareApplied {
                attempt: 1,
                results: ok(1),
                at: at(7_200_001)
            }
        ),
        Err(DeviceError::CareResultsMismatch { .. })
    ));
    run::<Device>(
        &mut s,
        &[DeviceCommand::RecordCareApplied {
            attempt: 1,
            results: ok(2),
            at: at(7_200_001),
        }],
    );
    assert_eq!(s.phase, Phase::Recovered);
    assert!(s.is_settled());
}

#[test]
fn care_that_fails_waits_for_the_next_attempt() {
    let c = campaign();
    let mut s = acked_failure(&c);
    run::<Device>(
        &mut s,
        &[
            DeviceCommand::ReceiveCare {
                revision: 1,
                attempt: 1,
                settings: vec![0],
                at: at(7_200_000),
            },
            DeviceCommand::RecordCareApplied {
                attempt: 1,
                results: statuses(&[500]),
                at: at(7_200_001),
            },
        ],
    );
    assert_eq!(s.phase, Phase::AwaitingCare);
}

#[test]
fn care_before_the_ack_counts_as_the_ack() {
    let c = campaign();
    let mut s = device_evaluated(&c, "IMEI:1", statuses(&[500, 200, 200, 200]));
    let due = s.report.unwrap().due;
    run::<Device>(
        &mut s,
        &[DeviceCommand::MarkSent {
            attempt: 1,
            at: due,
        }],
    );
    let events = run::<Device>(
        &mut s,
        &[DeviceCommand::ReceiveCare {
            revision: 1,
            attempt: 1,
            settings: vec![0],
            at: due,
        }],
    );
    assert!(matches!(
        events[0],
        DeviceEvent::ReportAcknowledged { attempt: 1, .. }
    ));
    assert_eq!(s.phase, Phase::ApplyingCare);
}

#[test]
fn care_naming_a_missing_setting_or_for_a_healthy_device_is_refused() {
    let c = campaign();
    let care = |settings: Vec<u32>| DeviceCommand::ReceiveCare {
        revision: 1,
        attempt: 1,
        settings,
        at: T0,
    };
    let err = spec::<Device>(acked_failure_events(&c))
        .when(care(vec![9]))
        .then_refused("no-such-setting");
    assert_eq!(
        err,
        DeviceError::NoSuchSetting {
            index: 9,
            settings: 4
        }
    );
    spec::<Device>(device_evaluated_events(&no_sampling(c), "IMEI:1", ok(4)))
        .when(care(vec![0]))
        .then_refused("wrong-phase");
}

#[test]
fn sampled_healthy_device_sends_a_success_probe() {
    let mut c = campaign();
    c.schedule.sample_success_ppm = 1_000_000;
    let mut s = device_evaluated(&c, "IMEI:1", ok(4));
    assert!(s.sampled);
    let due = s.report.unwrap().due;
    assert_eq!(s.due_report(due).unwrap().kind, ReportKind::Success);
    run::<Device>(
        &mut s,
        &[
            DeviceCommand::MarkSent {
                attempt: 1,
                at: due,
            },
            DeviceCommand::Acknowledge {
                attempt: 1,
                at: due,
            },
        ],
    );
    assert_eq!(s.phase, Phase::Confirmed);
}

#[test]
fn sampling_rate_is_within_tolerance_over_many_devices() {
    let c = campaign();
    let ppm = 5_000; // 0.5 %
    let n = 200_000u32;
    let hits = (0..n)
        .filter(|i| slot::sampled(&c.salt, &dev(&format!("IMEI:{i:015}")), ppm))
        .count() as f64;
    let expected = f64::from(n) * 0.005; // 1000
    let sd = (expected * 0.995).sqrt(); // ≈ 31.5
    assert!(
        (hits - expected).abs() < 4.0 * sd,
        "{hits} sampled, expected {expected} ± {}",
        4.0 * sd
    );
    assert!(!slot::sampled(&c.salt, &dev("IMEI:1"), 0));
}

#[test]
fn commands_before_a_payload_are_refused() {
    let err = spec::<Device>([])
        .when(DeviceCommand::RecordApplied {
            results: ok(1),
            at: T0,
        })
        .then_refused("wrong-phase");
    assert!(matches!(err, DeviceError::WrongPhase { phase: "idle", .. }));
    spec::<Device>([])
        .when(DeviceCommand::Acknowledge { attempt: 1, at: T0 })
        .then_refused("wrong-phase");
    spec::<Device>([])
        .when(DeviceCommand::Tick { now: T0 })
        .then([]);
}

#[test]
fn the_last_successfully_applied_revision_is_what_a_device_checks_in_with() {
    let mut c = no_sampling(campaign());
    assert_eq!(
        device_evaluated(&c, "IMEI:1", ok(4)).applied_revision,
        1,
        "healthy: applied"
    );
    // Revision 2 fails: the device still has revision 1 applied.
    let mut log = device_evaluated_events(&c, "IMEI:1", ok(4));
    c.revision = 2;
    let mut s = given::<Device>(&log);
    log.extend(run::<Device>(&mut s, &[receive(&c, "IMEI:1", at(600_000))]));
    log.extend(run::<Device>(
        &mut s,
        &[
            DeviceCommand::RecordApplied {
                results: statuses(&[500, 200, 200, 200]),
                at: at(601_000),
            },
            DeviceCommand::Tick {
                now: at(600_000).plus(c.schedule.evaluate_after),
            },
        ],
    ));
    assert_eq!(s.phase, Phase::Reporting);
    assert_eq!(s.applied_revision, 1, "a failed revision is not applied");
    assert_eq!(given::<Device>(&log), s, "replay keeps it");
    // Care that works brings it to revision 2.
    let due = s.report.unwrap().due;
    run::<Device>(
        &mut s,
        &[
            DeviceCommand::MarkSent {
                attempt: 1,
                at: due,
            },
            DeviceCommand::ReceiveCare {
                revision: 2,
                attempt: 1,
                settings: vec![0],
                at: due,
            },
            DeviceCommand::RecordCareApplied {
                attempt: 1,
                results: ok(1),
                at: due,
            },
        ],
    );
    assert_eq!((s.phase, s.applied_revision), (Phase::Recovered, 2));
}

#[test]
fn care_is_judged_by_the_same_conditions_as_the_first_evaluation() {
    let c = no_sampling(with_conditions(
        campaign(),
        vec![
            Condition::AnyFailed,
            Condition::VerifyMismatch {
                uri: "./Proxy/Port".into(),
            },
            Condition::StatusIn { codes: vec![420] },
        ],
    ));
    let care_with = |result: ApplyResult| {
        let mut s = acked_failure(&c);
        run::<Device>(
            &mut s,
            &[
                DeviceCommand::ReceiveCare {
                    revision: 1,
                    attempt: 1,
                    settings: vec![2],
                    at: at(7_200_000),
                },
                DeviceCommand::RecordCareApplied {
                    attempt: 1,
                    results: vec![result],
                    at: at(7_200_001),
                },
            ],
        );
        s.phase
    };
    // 2xx but the node reads back differently: not fixed.
    let mismatch = ApplyResult {
        status: 200,
        verify: Verify::Mismatch,
    };
    assert_eq!(care_with(mismatch), Phase::AwaitingCare);
    // A status the schedule lists as exceptional, even a 2xx one: not fixed.
    assert_eq!(care_with(ApplyResult::status(420)), Phase::AwaitingCare);
    assert_eq!(care_with(ApplyResult::status(500)), Phase::AwaitingCare);
    let fixed = ApplyResult {
        status: 200,
        verify: Verify::Match,
    };
    assert_eq!(care_with(fixed), Phase::Recovered);
}

#[test]
fn care_for_a_revision_the_device_does_not_hold_is_refused() {
    let c = campaign();
    let err = spec::<Device>(acked_failure_events(&c))
        .when(DeviceCommand::ReceiveCare {
            revision: 2,
            attempt: 1,
            settings: vec![0],
            at: at(7_200_000),
        })
        .then_refused("wrong-revision");
    assert_eq!(err, DeviceError::WrongRevision { have: 1, got: 2 });
}

/// The events of a device that failed settings 0 and 2, reported, and was recovered by care
/// attempt 1 at 2 h.
fn recovered_events(c: &Campaign) -> Vec<DeviceEvent> {
    let mut log = acked_failure_events(c);
    let mut s = given::<Device>(&log);
    log.extend(run::<Device>(
        &mut s,
        &[
            DeviceCommand::ReceiveCare {
                revision: 1,
                attempt: 1,
                settings: vec![0, 2],
                at: at(7_200_000),
            },
            DeviceCommand::RecordCareApplied {
                attempt: 1,
                results: ok(2),
                at: at(7_200_001),
            },
        ],
    ));
    assert_eq!(s.phase, Phase::Recovered);
    log
}

#[test]
fn a_recovered_device_whose_setting_reverts_relapses_and_reports_again_as_a_new_attempt() {
    let c = campaign();
    let when = at(10_800_000);
    let recheck = |results| DeviceCommand::Recheck { results, at: when };
    // Still fine: nothing is appended.
    spec::<Device>(recovered_events(&c))
        .when(recheck(ok(4)))
        .then([]);
    // Setting 2 reverted: relapsed, and a report with the next attempt at the device's slot.
    let s = spec::<Device>(recovered_events(&c))
        .when(recheck(statuses(&[200, 200, 404, 200])))
        .then([
            DeviceEvent::Relapsed {
                findings: vec![Finding::Status {
                    index: 2,
                    status: 404,
                }],
                at: when,
            },
            DeviceEvent::ReportScheduled {
                attempt: 2,
                due: devcare::rules::first_report_at(&c, &dev("IMEI:1"), when),
            },
        ]);
    assert_eq!(s.phase, Phase::Reporting);
    assert_eq!(
        s.applied_revision, 0,
        "nothing is known to be applied any more"
    );
    let report = s.due_report(Timestamp(u64::MAX)).unwrap();
    assert_eq!((report.attempt, report.evaluated_at), (2, when));
    // The retry policy counts the new cycle's sends: the first retry waits the first backoff.
    let mut s = s;
    let due = s.report.unwrap().due;
    run::<Device>(
        &mut s,
        &[DeviceCommand::MarkSent {
            attempt: 2,
            at: due,
        }],
    );
    assert_eq!(
        s.next_wake(),
        Some(devcare::rules::retry_instant(&c, &dev("IMEI:1"), 1, due))
    );
    // A result the host could not read back is a finding too.
    spec::<Device>(recovered_events(&c))
        .when(recheck(ok(3)))
        .then_events(|e| {
            assert!(matches!(&e[0], DeviceEvent::Relapsed { findings, .. }
                if findings == &vec![Finding::Missing { index: 3 }]));
        });
}

#[test]
fn recheck_is_for_a_device_that_was_done_and_takes_at_most_one_result_per_setting() {
    let c = campaign();
    let recheck = |results| DeviceCommand::Recheck {
        results,
        at: at(10_800_000),
    };
    // Awaiting care, still reporting, or nothing received: not done, refused.
    spec::<Device>(acked_failure_events(&c))
        .when(recheck(ok(4)))
        .then_refused("wrong-phase");
    spec::<Device>([])
        .when(recheck(ok(4)))
        .then_refused("wrong-phase");
    spec::<Device>(recovered_events(&c))
        .when(recheck(ok(5)))
        .then_refused("too-many-results");
    // A healthy device (never reported) relapses into its first report, attempt 1.
    let c = no_sampling(campaign());
    spec::<Device>(device_evaluated_events(&c, "IMEI:9", ok(4)))
        .when(recheck(statuses(&[500, 200, 200, 200])))
        .then_events(|e| {
            assert!(matches!(
                e[1],
                DeviceEvent::ReportScheduled { attempt: 1, .. }
            ));
        });
}

#[test]
fn a_definitive_refusal_stops_the_resends_and_only_a_4xx_is_one() {
    let c = campaign();
    let mut s = device_evaluated(&c, "IMEI:1", statuses(&[500, 200, 200, 200]));
    let due = s.report.unwrap().due;
    run::<Device>(
        &mut s,
        &[DeviceCommand::MarkSent {
            attempt: 1,
            at: due,
        }],
    );
    let refused = |status| DeviceCommand::Refused {
        attempt: 1,
        status,
        at: due,
    };
    // A 200 is an acknowledgement, a 5xx, 408 or 429 is worth resending: none stops it.
    for status in [200, 500, 503, 408, 429] {
        let err = Device::decide(&s, &refused(status)).unwrap_err();
        assert_eq!(err, DeviceError::NotARefusal(status));
        assert_eq!(err.reason(), "not-a-refusal");
    }
    // An attempt not sent yet cannot be refused.
    let err = Device::decide(
        &s,
        &DeviceCommand::Refused {
            attempt: 2,
            status: 410,
            at: due,
        },
    )
    .unwrap_err();
    assert_eq!(err.reason(), "wrong-attempt");
    // 410 (a replaced revision): the device gives up, no more resends.
    let events = run::<Device>(&mut s, &[refused(410)]);
    assert_eq!(
        events,
        vec![DeviceEvent::GaveUp {
            reason: devcare::device::GiveUpReason::Refused { status: 410 },
            at: due,
        }]
    );
    assert_eq!(s.phase, devcare::device::Phase::GaveUp);
    assert_eq!(s.next_wake(), None, "nothing left to resend");
    // Told again (a duplicated answer): nothing.
    assert!(Device::decide(&s, &refused(410)).unwrap().is_empty());
}

#[test]
fn a_report_answer_acknowledges_on_2xx_stops_on_a_definitive_refusal_and_resends_otherwise() {
    use devcare::rules::{ReportAnswer, report_answer};
    for ok in [200, 202] {
        assert_eq!(report_answer(ok), ReportAnswer::Acknowledged, "{ok}");
    }
    for refused in [400, 401, 403, 404, 410, 413, 415] {
        assert_eq!(
            report_answer(refused),
            ReportAnswer::RefusedForGood,
            "{refused}"
        );
    }
    // A server that could not record the report (its store failed) asks for it again, as
    // do a timeout and a throttle.
    let store_failed = devcare::store::StoreError::Backend("disk".into()).dm_status();
    for again in [store_failed, 408, 429, 503] {
        assert_eq!(report_answer(again), ReportAnswer::SendAgain, "{again}");
    }
}
