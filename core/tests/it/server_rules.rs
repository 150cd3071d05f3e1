//! The server decider's rules, one test per rule: given these events, when this command,
//! then these events (or this refusal, with no state change).

use crate::common;
use common::*;
use devcare::server::{CaseStatus, EscalationReason};
use devcare::*;

fn report_at() -> Timestamp {
    at(3_600_000)
}

/// Server with one accepted failure of setting 1 (404) from IMEI:1.
fn with_failure(c: &Campaign) -> ServerState {
    let mut s = server_created(c, 1_000);
    run::<Server>(
        &mut s,
        &[accept(
            failure_report(
                c,
                "IMEI:1",
                vec![Finding::Status {
                    index: 1,
                    status: 404,
                }],
            ),
            report_at(),
        )],
    );
    s
}

/// The events of [`with_failure`].
fn with_failure_events(c: &Campaign) -> Vec<ServerEvent> {
    let mut log = vec![created(c, 1_000)];
    let s = server_created(c, 1_000);
    let report = failure_report(
        c,
        "IMEI:1",
        vec![Finding::Status {
            index: 1,
            status: 404,
        }],
    );
    log.extend(Server::decide(&s, &accept(report, report_at())).unwrap());
    log
}

#[test]
fn create_needs_a_target_count_unless_the_list_is_explicit() {
    let c = campaign();
    let create = |c: &Campaign, targeted| ServerCommand::Create {
        campaign: Box::new(c.clone()),
        targeted,
        at: T0,
    };
    let empty = || spec::<Server>([]);
    empty().when(create(&c, None)).then_refused("target-count");
    empty()
        .when(create(&c, Some(0)))
        .then_refused("target-count");
    let mut listed = c.clone();
    listed.targets = TargetSet::devices(vec![dev("A"), dev("B")]);
    empty()
        .when(create(&listed, Some(3)))
        .then_refused("target-count");
    // An explicit list's sample is counted at creation.
    empty().when(create(&listed, None)).then([
        created(&listed, 2),
        ServerEvent::SampleProfiled {
            profile: devcare::server::SampleProfile::of(&listed, [&dev("A"), &dev("B")]),
            at: T0,
        },
    ]);
    let mut bad = c.clone();
    bad.schedule.care.attempts = 0;
    let err = empty()
        .when(create(&bad, Some(5)))
        .then_refused("invalid-campaign");
    assert_eq!(
        err.to_string(),
        "invalid campaign: schedule.care.attempts: is 0, must be 1..=32"
    );
    spec::<Server>([created(&c, 10)])
        .when(create(&c, Some(10)))
        .then_refused("already-created");
}

#[test]
fn failure_report_is_accepted_and_care_scheduled_for_the_failed_settings() {
    let c = campaign();
    let r = failure_report(
        &c,
        "IMEI:1",
        vec![Finding::Status {
            index: 1,
            status: 404,
        }],
    );
    let s = spec::<Server>([created(&c, 1_000)])
        .when(accept(r.clone(), report_at()))
        .then([
            ServerEvent::ReportAccepted {
                device: dev("IMEI:1"),
                attempt: 1,
                evaluated_at: r.evaluated_at,
                kind: r.kind.clone(),
                late: false,
                at: report_at(),
            },
            ServerEvent::CareScheduled {
                device: dev("IMEI:1"),
                attempt: 1,
                settings: vec![1],
                due: report_at(),
            },
        ]);
    let due = s.due_care(report_at(), 10);
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].settings, vec![1]);
    assert_eq!(s.cases.len(), 1, "per-device state only for the reporter");
}

#[test]
fn duplicate_reports_are_rejected_without_events() {
    let c = campaign();
    let r = failure_report(
        &c,
        "IMEI:1",
        vec![Finding::Status {
            index: 1,
            status: 404,
        }],
    );
    let err = spec::<Server>(with_failure_events(&c))
        .when(accept(r.clone(), report_at()))
        .then_refused("duplicate");
    assert!(matches!(err, ServerError::Duplicate { attempt: 1, .. }));
    let mut retry = r;
    retry.attempt = 2;
    let err = spec::<Server>(with_failure_events(&c))
        .when(accept(retry, report_at()))
        .then_refused("duplicate");
    assert!(matches!(err, ServerError::Duplicate { attempt: 2, .. }));
}

#[test]
fn reports_from_non_targets_or_for_other_campaigns_are_rejected() {
    let mut c = campaign();
    c.targets = TargetSet::devices(vec![dev("IMEI:1"), dev("IMEI:2")]);
    let r = |d: &str| {
        failure_report(
            &c,
            d,
            vec![Finding::Status {
                index: 0,
                status: 500,
            }],
        )
    };
    let refused = |report: Report, reason: &str| {
        spec::<Server>([created(&c, 2)])
            .when(accept(report, report_at()))
            .then_refused(reason)
    };
    assert_eq!(
        refused(r("IMEI:9"), "not-targeted"),
        ServerError::NotTargeted("IMEI:9".into())
    );
    let mut wrong_rev = r("IMEI:1");
    wrong_rev.revision = 7;
    assert_eq!(
        refused(wrong_rev, "wrong-revision"),
        ServerError::WrongRevision { current: 1, got: 7 }
    );
    let mut other = r("IMEI:1");
    other.campaign = CampaignId::new("other").unwrap();
    refused(other, "wrong-campaign");
    let mut zero = r("IMEI:1");
    zero.attempt = 0;
    refused(zero, "malformed-report");
    refused(failure_report(&c, "IMEI:1", vec![]), "malformed-report");
    let beyond = failure_report(&c, "IMEI:1", vec![Finding::Missing { index: 4 }]);
    assert_eq!(
        refused(beyond, "no-such-setting"),
        ServerError::NoSuchSetting {
            index: 4,
            settings: 4,
        }
    );
    spec::<Server>([])
        .when(accept(r("IMEI:1"), report_at()))
        .then_refused("unknown-campaign");
}

fn dispatch(s: &mut ServerState, attempt: u32, when: Timestamp) {
    run::<Server>(
        s,
        &[ServerCommand::DispatchCare {
            device: dev("IMEI:1"),
            attempt,
            at: when,
        }],
    );
}

fn outcome(s: &mut ServerState, attempt: u32, success: bool, when: Timestamp) -> Vec<ServerEvent> {
    run::<Server>(
        s,
        &[ServerCommand::RecordCareOutcome {
            device: dev("IMEI:1"),
            attempt,
            success,
            at: when,
        }],
    )
}

#[test]
fn successful_care_recovers_the_device() {
    let c = campaign();
    let mut s = with_failure(&c);
    dispatch(&mut s, 1, report_at());
    assert!(
        s.due_care(report_at(), 10).is_empty(),
        "dispatched care is not due again"
    );
    outcome(&mut s, 1, true, report_at());
    assert_eq!(s.cases[&dev("IMEI:1")].status, CaseStatus::Recovered);
    assert_eq!(s.stats().recovered, 1);
    assert_eq!(s.stats().in_care, 0);
}

#[test]
fn failed_care_is_retried_with_spacing_then_escalated() {
    let c = campaign(); // 3 attempts, 15 min apart, then escalate
    let spacing = c.schedule.care.spacing;
    let mut s = with_failure(&c);
    let mut t = report_at();
    for attempt in 1..=3 {
        assert_eq!(s.due_care(t, 10).len(), 1, "attempt {attempt} due at {t}");
        dispatch(&mut s, attempt, t);
        let events = outcome(&mut s, attempt, false, t);
        assert_eq!(
            events[0],
            ServerEvent::CareFailed {
                device: dev("IMEI:1"),
                attempt,
                at: t
            }
        );
        if attempt < 3 {
            assert_eq!(
                events[1],
                ServerEvent::CareScheduled {
                    device: dev("IMEI:1"),
                    attempt: attempt + 1,
                    settings: vec![1],
                    due: t.plus(spacing)
                }
            );
            assert!(s.due_care(Timestamp(t.plus(spacing).0 - 1), 10).is_empty());
            t = t.plus(spacing);
        } else {
            assert_eq!(
                events[1],
                ServerEvent::DeviceEscalated {
                    device: dev("IMEI:1"),
                    reason: EscalationReason::CareExhausted,
                    at: t
                }
            );
        }
    }
    let st = s.stats();
    assert_eq!((st.escalated, st.care_dispatched, st.in_care), (1, 3, 0));
}

#[test]
fn give_up_policy_abandons_instead_of_escalating() {
    let mut c = campaign();
    c.schedule.care.attempts = 1;
    c.schedule.care.then = AfterCare::GiveUp;
    let mut s = with_failure(&c);
    dispatch(&mut s, 1, report_at());
    let events = outcome(&mut s, 1, false, report_at());
    assert!(matches!(events[1], ServerEvent::CareAbandoned { .. }));
    assert_eq!(s.stats().abandoned, 1);
}

#[test]
fn notify_only_escalates_at_once_without_care() {
    let mut c = campaign();
    c.schedule.care.action = CareAction::NotifyOnly;
    let s = with_failure(&c);
    assert_eq!(s.cases[&dev("IMEI:1")].status, CaseStatus::Escalated);
    assert!(s.due_care(at(u64::MAX / 4), 10).is_empty());
}

#[test]
fn reprovision_all_sends_every_setting() {
    let mut c = campaign();
    c.schedule.care.action = CareAction::ReprovisionAll;
    let s = with_failure(&c);
    assert_eq!(s.due_care(report_at(), 1)[0].settings, vec![0, 1, 2, 3]);
}

#[test]
fn care_commands_that_do_not_fit_are_refused() {
    let c = campaign();
    let given = || spec::<Server>(with_failure_events(&c));
    let cmd = |d: &str, attempt, at| ServerCommand::DispatchCare {
        device: dev(d),
        attempt,
        at,
    };
    given()
        .when(cmd("IMEI:7", 1, report_at()))
        .then_refused("no-case");
    given()
        .when(cmd("IMEI:1", 2, report_at()))
        .then_refused("care-mismatch");
    // Stamped before it is due, but also before the report the log has seen: decided at the
    // log's time, when it is due (time never runs back).
    given()
        .when(cmd("IMEI:1", 1, Timestamp(report_at().0 - 1)))
        .then([ServerEvent::CareDispatched {
            device: dev("IMEI:1"),
            attempt: 1,
            at: report_at(),
        }]);
    given()
        .when(ServerCommand::RecordCareOutcome {
            device: dev("IMEI:1"),
            attempt: 1,
            success: true,
            at: report_at(),
        })
        .then_refused("care-mismatch");
}

#[test]
fn abort_threshold_pauses_care_until_overridden_with_who_and_why() {
    let mut c = campaign();
    c.schedule.abort = Some(AbortPolicy {
        failure_ratio: 0.05,
        min_reports: 3,
    });
    let mut s = server_created(&c, 100);
    let mut log = vec![created(&c, 100)];
    let f = vec![Finding::Status {
        index: 0,
        status: 500,
    }];
    // After the report window every target could have reported: the ratio is over all 100.
    let sch = &c.schedule;
    let report_at = || {
        T0.plus(sch.evaluate_after)
            .plus(sch.report.offset)
            .plus(sch.report.window)
    };
    for i in 0..5 {
        let ev = run::<Server>(
            &mut s,
            &[accept(
                failure_report(&c, &format!("D{i}"), f.clone()),
                report_at(),
            )],
        );
        assert!(
            !ev.iter()
                .any(|e| matches!(e, ServerEvent::CampaignPaused { .. })),
            "5/100 is not above 5%"
        );
        log.extend(ev);
    }
    let ev = run::<Server>(
        &mut s,
        &[accept(failure_report(&c, "D5", f.clone()), report_at())],
    );
    log.extend(ev.iter().cloned());
    assert!(matches!(
        ev.last(),
        Some(ServerEvent::CampaignPaused { reason, .. }) if reason.failure_reports == 6 && reason.targeted == 100
    ));
    let st = s.stats();
    assert!(st.paused && !st.operator_paused);
    let trip = st.breaker.expect("the stats name the breaker's pause");
    assert_eq!(trip.since, report_at());
    assert_eq!(
        (trip.reason.failure_reports, trip.reason.targeted),
        (6, 100)
    );
    assert!(s.due_care(report_at(), 100).is_empty());
    spec::<Server>(log.clone())
        .when(ServerCommand::DispatchCare {
            device: dev("D0"),
            attempt: 1,
            at: report_at(),
        })
        .then_refused("paused");
    // An operator's resume does not lift the breaker's pause: that is its own command.
    spec::<Server>(log.clone())
        .when(ServerCommand::Resume { at: report_at() })
        .then_refused("paused-by-breaker");
    let override_by = |by: &str, why: &str| ServerCommand::OverrideAbort {
        by: by.into(),
        why: why.into(),
        at: report_at(),
    };
    for (by, why) in [("", "x"), ("ops", " "), ("ops", &"x".repeat(201))] {
        spec::<Server>(log.clone())
            .when(override_by(by, why))
            .then_refused("override-unexplained");
    }
    let lifted = spec::<Server>(log.clone())
        .when(override_by("alice", "cohort checked, APN typo fixed"))
        .then([ServerEvent::AbortOverridden {
            by: "alice".into(),
            why: "cohort checked, APN typo fixed".into(),
            at: report_at(),
        }]);
    assert!(!lifted.is_paused() && lifted.stats().breaker.is_none());
    log.extend(run::<Server>(
        &mut s,
        &[override_by("alice", "cohort checked, APN typo fixed")],
    ));
    assert_eq!(s.due_care(report_at(), 100).len(), 6);
    let ev = run::<Server>(&mut s, &[accept(failure_report(&c, "D6", f), report_at())]);
    assert!(
        !ev.iter()
            .any(|e| matches!(e, ServerEvent::CampaignPaused { .. })),
        "an overridden threshold stays quiet"
    );
    log.extend(ev);
    spec::<Server>(log.clone())
        .when(override_by("alice", "again"))
        .then_refused("breaker-not-tripped");
    spec::<Server>(log)
        .when(ServerCommand::Resume { at: report_at() })
        .then_refused("not-paused");
}

#[test]
fn the_operator_pause_and_the_breaker_pause_are_separate() {
    let mut c = campaign();
    c.schedule.abort = Some(AbortPolicy {
        failure_ratio: 0.05,
        min_reports: 1,
    });
    let sch = &c.schedule;
    let late = T0
        .plus(sch.evaluate_after)
        .plus(sch.report.offset)
        .plus(sch.report.window);
    let f = vec![Finding::Status {
        index: 0,
        status: 500,
    }];
    let mut s = server_created(&c, 10);
    let mut log = vec![created(&c, 10)];
    log.extend(run::<Server>(&mut s, &[ServerCommand::Pause { at: late }]));
    // Paused by the operator, the breaker still trips on 1 failure in 10 > 5%.
    let ev = run::<Server>(&mut s, &[accept(failure_report(&c, "D0", f), late)]);
    assert!(
        ev.iter()
            .any(|e| matches!(e, ServerEvent::CampaignPaused { .. })),
        "the breaker stays armed under an operator's pause"
    );
    log.extend(ev);
    assert!(s.stats().operator_paused && s.stats().breaker.is_some());
    // The operator's resume lifts their pause only.
    let resumed = spec::<Server>(log.clone())
        .when(ServerCommand::Resume { at: late })
        .then([ServerEvent::OperatorResumed { at: late }]);
    assert!(resumed.is_paused() && !resumed.stats().operator_paused);
    assert!(
        resumed.due_care(late, 10).is_empty(),
        "the breaker still holds care"
    );
    // An old log's `CampaignResumed` (devcare ≤ 0.9) still lifts both when replayed.
    log.push(ServerEvent::CampaignResumed { at: late });
    let old = given::<Server>(&log);
    assert!(!old.is_paused() && old.resumed);
}

#[test]
fn tick_after_the_deadline_settles_with_presumed_ok() {
    let c = campaign();
    let mut s = with_failure(&c);
    let deadline = c.report_deadline();
    assert_eq!(
        Server::decide(
            &s,
            &ServerCommand::Tick {
                now: Timestamp(deadline.0 - 1)
            }
        )
        .unwrap(),
        vec![]
    );
    let bound = s.presumed_bound_at(deadline).expect("the campaign samples");
    let ev = run::<Server>(&mut s, &[ServerCommand::Tick { now: deadline }]);
    assert_eq!(
        ev,
        vec![
            ServerEvent::CampaignSettled {
                presumed_ok: 999,
                at: deadline
            },
            ServerEvent::PresumedBounded {
                bound,
                at: deadline
            }
        ]
    );
    assert_eq!(s.presumed_bound, Some(bound));
    assert_eq!(
        Server::decide(
            &s,
            &ServerCommand::Tick {
                now: deadline.plus(mins(1))
            }
        )
        .unwrap(),
        vec![]
    );
    let st = s.stats();
    assert!(st.settled);
    assert_eq!(st.presumed_ok, 999);
}

#[test]
fn late_report_reconciles_a_presumed_ok_device() {
    let c = campaign();
    let mut s = with_failure(&c);
    run::<Server>(
        &mut s,
        &[ServerCommand::Tick {
            now: c.report_deadline(),
        }],
    );
    let late_at = c.report_deadline().plus(mins(30));
    let r = failure_report(&c, "IMEI:2", vec![Finding::Missing { index: 3 }]);
    let ev = run::<Server>(&mut s, &[accept(r, late_at)]);
    assert!(matches!(
        ev[0],
        ServerEvent::ReportAccepted { late: true, .. }
    ));
    assert_eq!(
        ev[1],
        ServerEvent::LateReportReconciled {
            device: dev("IMEI:2"),
            at: late_at
        }
    );
    assert!(matches!(&ev[2], ServerEvent::CareScheduled { settings, .. } if *settings == vec![3]));
    let st = s.stats();
    assert_eq!((st.presumed_ok, st.late_reports), (998, 1));
    assert_eq!(
        s.presumed_ok_at_settle,
        Some(999),
        "the audit trail keeps the settlement figure"
    );
}

#[test]
fn check_in_behind_gets_care_and_up_to_date_check_in_is_a_no_op() {
    let mut c = campaign();
    c.revision = 3;
    let mut s = server_created(&c, 50);
    let check_in = |d: &str, rev| ServerCommand::CheckIn {
        device: dev(d),
        groups: vec![],
        applied_revision: rev,
        at: report_at(),
    };
    assert_eq!(Server::decide(&s, &check_in("A", 3)).unwrap(), vec![]);
    let ev = run::<Server>(&mut s, &[check_in("A", 2)]);
    assert_eq!(
        ev[0],
        ServerEvent::CheckInBehind {
            device: dev("A"),
            applied_revision: 2,
            at: report_at()
        }
    );
    assert!(matches!(&ev[1], ServerEvent::CareScheduled { settings, .. } if settings.len() == 4));
    assert_eq!(
        Server::decide(&s, &check_in("A", 2)).unwrap(),
        vec![],
        "already in care"
    );
    assert_eq!(s.stats().presumed_ok, 49);
    let mut listed = c.clone();
    listed.targets = TargetSet::devices(vec![dev("A")]);
    spec::<Server>([created(&listed, 1)])
        .when(check_in("B", 0))
        .then_refused("not-targeted");
}

#[test]
fn check_in_behind_after_settlement_reconciles() {
    let c = campaign();
    let mut s = server_created(&c, 10);
    run::<Server>(
        &mut s,
        &[ServerCommand::Tick {
            now: c.report_deadline(),
        }],
    );
    let ev = run::<Server>(
        &mut s,
        &[ServerCommand::CheckIn {
            device: dev("X"),
            groups: vec![],
            applied_revision: 0,
            at: c.report_deadline(),
        }],
    );
    assert!(matches!(ev[1], ServerEvent::LateReportReconciled { .. }));
}

#[test]
fn success_probes_feed_the_coverage_estimate() {
    let mut c = campaign();
    c.schedule.sample_success_ppm = 10_000; // 1 %
    let mut s = server_created(&c, 100_000);
    let success = |d: &DeviceId| Report {
        campaign: c.id.clone(),
        revision: 1,
        device: d.clone(),
        attempt: 1,
        evaluated_at: T0,
        kind: ReportKind::Success,
    };
    // Half the fleet received the broadcast: 500 probes where the rate expects 1000.
    let sampled = (0..)
        .map(|i| dev(&format!("S{i}")))
        .filter(|d| devcare::slot::sampled(&c.salt, d, 10_000));
    for d in sampled.take(500) {
        run::<Server>(&mut s, &[accept(success(&d), report_at())]);
    }
    // While reports may still come, the silent sampled devices are pending: the upper
    // bound counts them as reached.
    assert_eq!(s.stats().coverage.unwrap().hi, 1.0);
    // Once every slot, retry and the lateness seen (up to the window: every probe came at
    // one instant) are over, silence means a missed broadcast.
    let over = devcare::rules::reports_end(&c, T0).plus(c.schedule.report.window);
    let cov = s.coverage_at(over).unwrap();
    assert!((cov.estimate - 0.5).abs() < 1e-9, "{cov:?}");
    assert!(
        cov.lo < 0.5 && cov.hi > 0.5 && cov.hi - cov.lo < 0.1,
        "{cov:?}"
    );
    assert_eq!(s.stats().success_probes, 500);
    assert_eq!(s.stats().in_care, 0);
    assert!(
        server_created(
            &{
                let mut n = c.clone();
                n.schedule.sample_success_ppm = 0;
                n
            },
            10
        )
        .stats()
        .coverage
        .is_none()
    );
}

#[test]
fn per_device_state_grows_with_reports_not_fleet_size() {
    let c = campaign();
    let mut s = server_created(&c, 50_000_000);
    for i in 0..3 {
        run::<Server>(
            &mut s,
            &[accept(
                failure_report(&c, &format!("F{i}"), vec![Finding::Missing { index: 0 }]),
                report_at(),
            )],
        );
    }
    assert_eq!(s.cases.len(), 3);
    assert_eq!(s.stats().presumed_ok, 49_999_997);
}

#[test]
fn next_wake_is_the_earliest_care_or_the_deadline() {
    let c = campaign();
    let s = server_created(&c, 10);
    assert_eq!(s.next_wake(), Some(c.report_deadline()));
    let s = with_failure(&c);
    assert_eq!(s.next_wake(), Some(report_at()));
}

#[test]
fn an_operator_pause_stops_care_until_resumed_and_leaves_the_abort_threshold_armed() {
    let c = campaign();
    let mut log = with_failure_events(&c);
    let paused = spec::<Server>(log.clone())
        .when(ServerCommand::Pause { at: report_at() })
        .then([ServerEvent::OperatorPaused { at: report_at() }]);
    assert!(paused.is_paused() && paused.stats().paused);
    assert!(paused.due_care(report_at(), 10).is_empty());
    log.push(ServerEvent::OperatorPaused { at: report_at() });
    spec::<Server>(log.clone())
        .when(ServerCommand::Pause { at: report_at() })
        .then_refused("already-paused");
    spec::<Server>(log.clone())
        .when(ServerCommand::DispatchCare {
            device: dev("IMEI:1"),
            attempt: 1,
            at: report_at(),
        })
        .then_refused("paused");
    let resumed = spec::<Server>(log)
        .when(ServerCommand::Resume { at: report_at() })
        .then([ServerEvent::OperatorResumed { at: report_at() }]);
    assert!(!resumed.is_paused());
    assert_eq!(resumed.due_care(report_at(), 10).len(), 1);
    assert!(
        !resumed.resumed,
        "only overriding the breaker silences the threshold"
    );
}

#[test]
fn a_broadcast_too_late_for_the_reports_to_end_before_the_deadline_is_refused() {
    let c = campaign();
    let s = &c.schedule;
    // Default schedule: 5m + 1m + 1h window + 30m of retries = 96m of reports after receipt.
    let last_ok = c.report_deadline().0 - s.first_window_end().0 - s.retry_span().0;
    spec::<Server>([created(&c, 10)])
        .when(ServerCommand::MarkBroadcast {
            at: Timestamp(last_ok),
        })
        .then([ServerEvent::BroadcastSent {
            at: Timestamp(last_ok),
        }]);
    let err = spec::<Server>([created(&c, 10)])
        .when(ServerCommand::MarkBroadcast {
            at: Timestamp(last_ok + 1),
        })
        .then_refused("broadcast-too-late");
    assert!(
        err.to_string().contains("after the report deadline"),
        "{err}"
    );
}

#[test]
fn a_revision_replaces_the_campaign_stops_old_care_and_refuses_old_reports_with_410() {
    let c = campaign();
    let mut rev2 = c.clone();
    rev2.revision = 2;
    let revise = |campaign: &Campaign| ServerCommand::Revise {
        campaign: Box::new(campaign.clone()),
        targeted: Some(1_000),
        at: at(7_200_000),
    };
    let s = spec::<Server>(with_failure_events(&c))
        .when(revise(&rev2))
        .then([ServerEvent::CampaignRevised {
            campaign: Box::new(rev2.clone()),
            targeted: 1_000,
            at: at(7_200_000),
        }]);
    assert_eq!(s.campaign.as_ref().unwrap().revision, 2);
    assert!(
        s.cases.is_empty() && s.due_care(at(7_200_000), 10).is_empty(),
        "revision 1's care stops"
    );
    assert_eq!(s.earlier.len(), 1);
    assert_eq!((s.earlier[0].0, s.earlier[0].1.failure_reports), (1, 1));
    assert_eq!(s.stats().failure_reports, 0, "statistics are per revision");
    // A revision-1 report now: refused, and the device is told to stop retrying (410).
    let mut log = with_failure_events(&c);
    log.extend(Server::decide(&given::<Server>(&log), &revise(&rev2)).unwrap());
    let old = failure_report(&c, "IMEI:2", vec![Finding::Missing { index: 0 }]);
    let err = spec::<Server>(log.clone())
        .when(accept(old, at(7_300_000)))
        .then_refused("wrong-revision");
    assert_eq!(err.dm_status(), 410);
    // A revision-2 report opens a fresh case whose care order names revision 2.
    let new = failure_report(&rev2, "IMEI:1", vec![Finding::Missing { index: 0 }]);
    let s = spec::<Server>(log.clone())
        .when(accept(new, at(7_300_000)))
        .then_events(|events| assert_eq!(events.len(), 2));
    assert_eq!(s.due_care(at(7_300_000), 10)[0].revision, 2);
    // Not newer, another campaign, or nothing to revise: refused.
    spec::<Server>(log.clone())
        .when(revise(&rev2))
        .then_refused("revision-not-newer");
    let mut other = rev2.clone();
    other.id = CampaignId::new("other").unwrap();
    other.revision = 3;
    spec::<Server>(log)
        .when(revise(&other))
        .then_refused("wrong-campaign");
    spec::<Server>([])
        .when(revise(&rev2))
        .then_refused("unknown-campaign");
}

#[test]
fn a_recovered_device_that_checks_in_behind_gets_care_again_and_counts_once() {
    let c = campaign();
    let mut s = with_failure(&c);
    let mut log = with_failure_events(&c);
    let t = report_at();
    for cmd in [
        ServerCommand::DispatchCare {
            device: dev("IMEI:1"),
            attempt: 1,
            at: t,
        },
        ServerCommand::RecordCareOutcome {
            device: dev("IMEI:1"),
            attempt: 1,
            success: true,
            at: t,
        },
    ] {
        log.extend(run::<Server>(&mut s, &[cmd]));
    }
    assert_eq!((s.stats().recovered, s.stats().in_care), (1, 0));
    // The setting was reverted: the device checks in behind and its case opens again.
    let check_in = ServerCommand::CheckIn {
        device: dev("IMEI:1"),
        groups: vec![],
        applied_revision: 0,
        at: t,
    };
    let s = spec::<Server>(log).when(check_in).then_events(|events| {
        assert!(matches!(events[0], ServerEvent::CheckInBehind { .. }));
        assert!(
            matches!(&events[1], ServerEvent::CareScheduled { settings, .. } if settings.len() == 4)
        );
    });
    let st = s.stats();
    assert_eq!(
        (st.recovered, st.in_care, st.presumed_ok),
        (0, 1, 999),
        "one device, failed once, in care again"
    );
    assert_eq!(s.failed(), 1);
}

/// The events of [`with_failure`] followed by dispatching attempt 1 at `t`.
fn dispatched_events(c: &Campaign, t: Timestamp) -> Vec<ServerEvent> {
    let mut log = with_failure_events(c);
    log.push(ServerEvent::CareDispatched {
        device: dev("IMEI:1"),
        attempt: 1,
        at: t,
    });
    log
}

#[test]
fn care_without_an_outcome_times_out_is_retried_after_spacing_then_escalated() {
    let c = campaign(); // 3 attempts, 15 min apart, 1 h timeout, then escalate
    let (timeout, spacing) = (c.schedule.care.timeout, c.schedule.care.spacing);
    assert_eq!(timeout, DEFAULT_CARE_TIMEOUT);
    let t = report_at();
    let expires = t.plus(timeout);
    let given = || spec::<Server>(dispatched_events(&c, t));
    let s = given().state().clone();
    assert_eq!(
        s.care_in_flight(),
        vec![InFlightCare {
            device: dev("IMEI:1"),
            attempt: 1,
            expires
        }]
    );
    assert_eq!(s.next_wake(), Some(expires), "the timeout wakes the host");
    // Not before the timeout…
    given()
        .when(ServerCommand::Tick {
            now: Timestamp(expires.0 - 1),
        })
        .then([]);
    // …at it, the attempt failed and the next one is due `spacing` later.
    let s = given().when(ServerCommand::Tick { now: expires }).then([
        ServerEvent::CareTimedOut {
            device: dev("IMEI:1"),
            attempt: 1,
            at: expires,
        },
        ServerEvent::CareScheduled {
            device: dev("IMEI:1"),
            attempt: 2,
            settings: vec![1],
            due: expires.plus(spacing),
        },
    ]);
    assert!(s.care_in_flight().is_empty());
    assert_eq!(s.stats().care_timed_out, 1);
    assert_eq!(s.due_care(expires.plus(spacing), 10)[0].attempt, 2);
    // Attempts 2 and 3 time out too: escalated, nothing left in flight or queued.
    let mut s = s;
    let mut now = expires.plus(spacing);
    for attempt in 2..=3 {
        dispatch(&mut s, attempt, now);
        now = now.plus(timeout);
        run::<Server>(&mut s, &[ServerCommand::Tick { now }]);
        now = now.plus(spacing);
    }
    assert_eq!(s.cases[&dev("IMEI:1")].status, CaseStatus::Escalated);
    let st = s.stats();
    assert_eq!(
        (
            st.care_timed_out,
            st.escalated,
            st.in_care,
            st.care_dispatched
        ),
        (3, 1, 0, 3)
    );
    assert!(s.care_in_flight().is_empty() && s.care_queue.is_empty());
}

#[test]
fn a_late_success_of_a_timed_out_attempt_still_recovers_the_device() {
    let c = campaign();
    let t = report_at();
    let expires = t.plus(c.schedule.care.timeout);
    let mut log = dispatched_events(&c, t);
    let timed_out = Server::decide(
        &spec::<Server>(log.clone()).state().clone(),
        &ServerCommand::Tick { now: expires },
    )
    .unwrap();
    log.extend(timed_out);
    let outcome = |success| ServerCommand::RecordCareOutcome {
        device: dev("IMEI:1"),
        attempt: 1,
        success,
        at: expires.plus(Duration::from_mins(1)),
    };
    // A failure of the timed-out attempt was already counted: nothing appended.
    spec::<Server>(log.clone()).when(outcome(false)).then([]);
    // A success ends the case and takes attempt 2 off the queue.
    let s = spec::<Server>(log.clone())
        .when(outcome(true))
        .then([ServerEvent::CareSucceeded {
            device: dev("IMEI:1"),
            attempt: 1,
            at: expires.plus(Duration::from_mins(1)),
        }]);
    assert_eq!(s.cases[&dev("IMEI:1")].status, CaseStatus::Recovered);
    assert!(s.care_queue.is_empty() && s.due_care(Timestamp(u64::MAX), 10).is_empty());
    assert_eq!((s.stats().recovered, s.stats().in_care), (1, 0));
    // An outcome of an attempt never dispatched is refused.
    spec::<Server>(log)
        .when(ServerCommand::RecordCareOutcome {
            device: dev("IMEI:1"),
            attempt: 2,
            success: true,
            at: expires,
        })
        .then_refused("care-mismatch");
}

#[test]
fn a_late_success_after_timeouts_escalated_the_device_recovers_it() {
    let mut c = campaign();
    c.schedule.care.attempts = 1;
    let t = report_at();
    let expires = t.plus(c.schedule.care.timeout);
    let mut s = spec::<Server>(dispatched_events(&c, t)).state().clone();
    run::<Server>(&mut s, &[ServerCommand::Tick { now: expires }]);
    assert_eq!(s.cases[&dev("IMEI:1")].status, CaseStatus::Escalated);
    assert_eq!(s.stats().escalated, 1);
    outcome(&mut s, 1, true, expires.plus(Duration::from_mins(5)));
    assert_eq!(s.cases[&dev("IMEI:1")].status, CaseStatus::Recovered);
    let st = s.stats();
    assert_eq!((st.escalated, st.recovered, st.in_care), (0, 1, 0));
}

#[test]
fn care_timeouts_fire_while_paused_and_a_revision_drops_care_in_flight() {
    let c = campaign();
    let t = report_at();
    let expires = t.plus(c.schedule.care.timeout);
    let mut log = dispatched_events(&c, t);
    log.push(ServerEvent::OperatorPaused { at: t });
    let s = spec::<Server>(log.clone()).state().clone();
    assert_eq!(s.next_wake(), Some(expires));
    spec::<Server>(log.clone())
        .when(ServerCommand::Tick { now: expires })
        .then_events(|e| {
            assert!(matches!(e[0], ServerEvent::CareTimedOut { attempt: 1, .. }));
        });
    let mut next = c.clone();
    next.revision += 1;
    let s = spec::<Server>(log)
        .when(ServerCommand::Revise {
            campaign: Box::new(next),
            targeted: Some(1_000),
            at: t,
        })
        .then_events(|_| {});
    assert!(s.care_in_flight().is_empty());
    assert_eq!(s.next_wake(), Some(c.report_deadline()));
}

#[test]
fn a_care_timeout_must_be_non_zero_and_at_most_a_week() {
    let mut c = campaign();
    c.schedule.care.timeout = Duration::ZERO;
    let e = c.validate(&Limits::DEFAULT).unwrap_err();
    assert_eq!(e.field, "schedule.care.timeout");
    c.schedule.care.timeout = Duration::from_hours(7 * 24 + 1);
    assert_eq!(
        c.validate(&Limits::DEFAULT).unwrap_err().field,
        "schedule.care.timeout"
    );
    c.schedule.care.timeout = Duration::from_hours(7 * 24);
    c.validate(&Limits::DEFAULT).unwrap();
}

/// [`with_failure`], dispatched and recovered by care attempt 1 at `report_at()`.
fn recovered(c: &Campaign) -> ServerState {
    let mut s = with_failure(c);
    dispatch(&mut s, 1, report_at());
    outcome(&mut s, 1, true, report_at());
    assert_eq!(s.cases[&dev("IMEI:1")].status, CaseStatus::Recovered);
    s
}

fn relapse_report(c: &Campaign, attempt: u32, evaluated_at: Timestamp) -> Report {
    let mut r = failure_report(
        c,
        "IMEI:1",
        vec![Finding::Status {
            index: 1,
            status: 404,
        }],
    );
    r.attempt = attempt;
    r.evaluated_at = evaluated_at;
    r
}

#[test]
fn a_recovered_device_that_relapses_gets_a_new_care_cycle_and_counts_once() {
    let c = campaign();
    let mut s = recovered(&c);
    let before = s.stats();
    let later = report_at().plus(Duration::from_hours(2));
    // A late retry of the report that opened the case (same evaluation): a duplicate.
    let retry = relapse_report(&c, 2, s.cases[&dev("IMEI:1")].evaluated_at);
    assert!(matches!(
        Server::decide(&s, &accept(retry, later)),
        Err(ServerError::Duplicate { .. })
    ));
    // A report evaluated later: a relapse, a new cycle with care for its settings.
    let events = run::<Server>(&mut s, &[accept(relapse_report(&c, 2, later), later)]);
    assert!(matches!(
        events[1],
        ServerEvent::CareScheduled { attempt: 1, .. }
    ));
    let case = &s.cases[&dev("IMEI:1")];
    assert_eq!(
        (case.cycle, case.status),
        (
            2,
            CaseStatus::CareScheduled {
                attempt: 1,
                due: later
            }
        )
    );
    let st = s.stats();
    // Counted once as failed; no longer counted recovered until care fixes it again.
    assert_eq!(st.presumed_ok, before.presumed_ok);
    assert_eq!((st.failure_reports, st.recovered, st.in_care), (2, 0, 1));
    dispatch(&mut s, 1, later);
    outcome(&mut s, 1, true, later);
    let st = s.stats();
    assert_eq!(
        (st.recovered, st.in_care, st.presumed_ok),
        (1, 0, before.presumed_ok)
    );
}

#[test]
fn relapses_beyond_the_care_attempts_escalate_at_once() {
    let mut c = campaign();
    c.schedule.care.attempts = 2;
    let mut s = recovered(&c);
    let t2 = report_at().plus(Duration::from_hours(1));
    run::<Server>(&mut s, &[accept(relapse_report(&c, 2, t2), t2)]);
    dispatch(&mut s, 1, t2);
    outcome(&mut s, 1, true, t2);
    assert_eq!(s.cases[&dev("IMEI:1")].cycle, 2);
    // A third cycle exceeds `care.attempts` (2): escalated at once, no care.
    let t3 = t2.plus(Duration::from_hours(1));
    let events = run::<Server>(&mut s, &[accept(relapse_report(&c, 3, t3), t3)]);
    assert_eq!(
        events[1],
        ServerEvent::DeviceEscalated {
            device: dev("IMEI:1"),
            reason: EscalationReason::Relapsing,
            at: t3
        }
    );
    assert!(s.care_queue.is_empty());
    let st = s.stats();
    assert_eq!((st.escalated, st.recovered, st.in_care), (1, 0, 0));
    // The escalated device checking in behind changes nothing (an operator has it), and
    // more relapse reports are duplicates.
    let check_in = ServerCommand::CheckIn {
        device: dev("IMEI:1"),
        groups: vec![],
        applied_revision: 0,
        at: t3,
    };
    assert_eq!(Server::decide(&s, &check_in).unwrap(), vec![]);
    let t4 = t3.plus(Duration::from_hours(1));
    assert!(matches!(
        Server::decide(&s, &accept(relapse_report(&c, 4, t4), t4)),
        Err(ServerError::Duplicate { .. })
    ));
}

#[test]
fn a_success_probe_followed_by_a_failure_opens_a_first_cycle() {
    let mut c = campaign();
    c.schedule.sample_success_ppm = 1_000_000; // every device probes
    let mut s = server_created(&c, 1_000);
    let mut probe = relapse_report(&c, 1, report_at());
    probe.kind = ReportKind::Success;
    run::<Server>(&mut s, &[accept(probe, report_at())]);
    assert_eq!(s.cases[&dev("IMEI:1")].cycle, 0);
    let later = report_at().plus(Duration::from_hours(1));
    let events = run::<Server>(&mut s, &[accept(relapse_report(&c, 2, later), later)]);
    assert!(matches!(
        events[1],
        ServerEvent::CareScheduled { attempt: 1, .. }
    ));
    assert_eq!(s.cases[&dev("IMEI:1")].cycle, 1);
    assert_eq!(
        (s.stats().success_probes, s.stats().failure_reports),
        (1, 1)
    );
}

/// Devices `{prefix}{i}` for which `keep(sampled)` holds, the first `n`.
fn devices_where(c: &Campaign, prefix: &str, n: usize, keep: bool) -> Vec<DeviceId> {
    (0..)
        .map(|i| dev(&format!("{prefix}{i}")))
        .filter(|d| devcare::slot::sampled(&c.salt, d, c.schedule.sample_success_ppm) == keep)
        .take(n)
        .collect()
}

#[test]
fn a_success_probe_from_a_device_outside_the_sample_is_refused_with_403() {
    let c = campaign();
    let outsider = devices_where(&c, "X", 1, false).remove(0);
    let err = spec::<Server>([created(&c, 1_000)])
        .when(accept(probe(&c, &outsider), report_at()))
        .then_refused("not-sampled");
    assert_eq!(err.dm_status(), 403);
    let insider = devices_where(&c, "X", 1, true).remove(0);
    spec::<Server>([created(&c, 1_000)])
        .when(accept(probe(&c, &insider), report_at()))
        .then_events(|e| assert_eq!(e.len(), 1));
}

#[test]
fn with_the_sample_size_known_check_ins_count_as_missed_and_the_interval_is_exact() {
    let mut c = campaign();
    c.schedule.sample_success_ppm = 50_000; // 5 %
    let t = 2_000u64;
    let mut s = server_created(&c, t);
    // The host counted 100 sampled targets among its 2,000.
    run::<Server>(
        &mut s,
        &[ServerCommand::SizeSample {
            sampled_targets: 100,
            at: T0,
        }],
    );
    // 40 failures (2 of them sampled), 100 check-ins behind (5 sampled), and every other
    // sampled device probes: 93.
    let f: Vec<DeviceId> = devices_where(&c, "F", 38, false)
        .into_iter()
        .chain(devices_where(&c, "F", 2, true))
        .collect();
    let k: Vec<DeviceId> = devices_where(&c, "K", 95, false)
        .into_iter()
        .chain(devices_where(&c, "K", 5, true))
        .collect();
    let finding = vec![Finding::Status {
        index: 0,
        status: 500,
    }];
    for d in &f {
        let mut r = failure_report(&c, d.as_str(), finding.clone());
        r.device = d.clone();
        run::<Server>(&mut s, &[accept(r, report_at())]);
    }
    for d in &k {
        run::<Server>(
            &mut s,
            &[ServerCommand::CheckIn {
                device: d.clone(),
                groups: vec![],
                applied_revision: 0,
                at: report_at(),
            }],
        );
    }
    for d in devices_where(&c, "P", 93, true) {
        run::<Server>(&mut s, &[accept(probe(&c, &d), report_at())]);
    }
    let cov = s.stats().coverage.unwrap();
    assert_eq!(cov.basis, devcare::stats::CoverageBasis::KnownSample);
    // Truth: everyone but the 100 behind received it. With every sampled device of the
    // uncertain rest probing, the estimate is exact and the interval's top is the truth.
    let truth = 1.0 - 100.0 / t as f64;
    assert!((cov.estimate - truth).abs() < 1e-12, "{cov:?}");
    assert!((cov.hi - truth).abs() < 1e-12 && cov.lo < truth, "{cov:?}");
    // Without the sample size the estimate rests on the rate (design basis).
    let mut d = s.clone();
    d.sampled_targets = None;
    assert_eq!(
        d.stats().coverage.unwrap().basis,
        devcare::stats::CoverageBasis::Design
    );
    // A sample size beyond the targets is refused.
    assert!(matches!(
        Server::decide(
            &s,
            &ServerCommand::SizeSample {
                sampled_targets: t + 1,
                at: T0
            }
        ),
        Err(ServerError::SampleSize { .. })
    ));
}

#[test]
fn broadcast_loss_alone_never_trips_the_abort_threshold() {
    let mut c = campaign();
    c.schedule.abort = Some(AbortPolicy {
        failure_ratio: 0.05,
        min_reports: 10,
    });
    let mut s = server_created(&c, 1_000);
    // 200 of 1,000 missed the broadcast and check in behind: 20% "failed", no pause.
    for i in 0..200 {
        run::<Server>(
            &mut s,
            &[ServerCommand::CheckIn {
                device: dev(&format!("K{i}")),
                groups: vec![],
                applied_revision: 0,
                at: report_at(),
            }],
        );
    }
    assert!(!s.is_paused());
    assert_eq!(s.due_care(report_at(), usize::MAX).len(), 200);
}

#[test]
fn a_broken_rollout_pauses_after_min_reports_early_in_the_window() {
    let mut c = campaign();
    c.schedule.abort = Some(AbortPolicy {
        failure_ratio: 0.05,
        min_reports: 20,
    });
    let targeted = 100_000;
    let mut s = server_created(&c, targeted);
    run::<Server>(&mut s, &[ServerCommand::MarkBroadcast { at: T0 }]);
    // Every device fails; reports arrive in slot order over the window. The host
    // dispatches care as soon as it is due.
    let sch = c.schedule.clone();
    let start = T0.plus(sch.evaluate_after).plus(sch.report.offset);
    let finding = vec![Finding::Status {
        index: 0,
        status: 500,
    }];
    let mut dispatched = 0;
    let mut reports = 0;
    for i in 0..targeted {
        let at = start.plus(Duration(sch.report.window.as_millis() * i / targeted));
        let events = run::<Server>(
            &mut s,
            &[accept(
                failure_report(&c, &format!("B{i}"), finding.clone()),
                at,
            )],
        );
        reports += 1;
        if events
            .iter()
            .any(|e| matches!(e, ServerEvent::CampaignPaused { .. }))
        {
            break;
        }
        for order in s.due_care(at, usize::MAX) {
            run::<Server>(
                &mut s,
                &[ServerCommand::DispatchCare {
                    device: order.device,
                    attempt: order.attempt,
                    at,
                }],
            );
            dispatched += 1;
        }
    }
    assert!(s.is_paused());
    assert_eq!(reports, 20, "paused at min_reports");
    assert_eq!(dispatched, 19, "care orders that went out before the pause");
    // Measured against the whole fleet (the old rule) it would have run to 5,001 reports.
    assert!(!devcare::rules::abort_trips(
        sch.abort.as_ref().unwrap(),
        20,
        targeted
    ));
}

/// A sampled target the server has not heard from is *pending* while its probe may still
/// come: until its slot bin's last slot, every retry and the latest lateness seen are
/// over. Then its silence counts as a missed broadcast.
#[test]
fn a_silent_sampled_device_is_pending_until_its_slot_retries_and_the_lateness_seen_are_over() {
    use devcare::server::{SampleProfile, bin_reports_end, nominal_send, slot_bin};
    let mut c = campaign();
    c.schedule.sample_success_ppm = 1_000_000; // everyone probes
    let fleet: Vec<DeviceId> = (0..40).map(|i| dev(&format!("P{i}"))).collect();
    let mut s = server_created(&c, fleet.len() as u64);
    run::<Server>(
        &mut s,
        &[
            ServerCommand::ProfileSample {
                profile: SampleProfile::of(&c, &fleet),
                at: T0,
            },
            ServerCommand::MarkBroadcast { at: T0 },
        ],
    );
    // All probe on time but one, whose slot bin is the latest of the fleet.
    let silent = fleet
        .iter()
        .max_by_key(|d| slot_bin(&c, d))
        .unwrap()
        .clone();
    // In time order: the server's clock never runs back, so a report stamped earlier than
    // the last would count as late.
    let mut heard: Vec<&DeviceId> = fleet.iter().filter(|d| **d != silent).collect();
    heard.sort_by_key(|d| nominal_send(&c, d, T0, 1));
    for d in heard {
        let report = Report {
            campaign: c.id.clone(),
            revision: 1,
            device: (*d).clone(),
            attempt: 1,
            evaluated_at: T0,
            kind: ReportKind::Success,
        };
        run::<Server>(&mut s, &[accept(report, nominal_send(&c, d, T0, 1))]);
    }
    let end = bin_reports_end(&c, T0, slot_bin(&c, &silent));
    let before = s.coverage_at(Timestamp(end.0 - 1)).unwrap();
    assert_eq!(before.hi, 1.0, "pending: it may still come {before:?}");
    assert_eq!(before.estimate, 1.0, "left out of the estimate {before:?}");
    let after = s.coverage_at(end).unwrap();
    assert!(
        after.hi < 1.0,
        "over: silence is a missed broadcast {after:?}"
    );
    // A probe seen 10 minutes late keeps a silent device pending 10 minutes longer.
    let mut c3 = campaign();
    c3.schedule.sample_success_ppm = 1_000_000;
    let mut s3 = server_created(&c3, 2);
    let (a, b) = (dev("L1"), dev("L2"));
    run::<Server>(
        &mut s3,
        &[
            ServerCommand::ProfileSample {
                profile: SampleProfile::of(&c3, [&a, &b]),
                at: T0,
            },
            ServerCommand::MarkBroadcast { at: T0 },
        ],
    );
    let ten = Duration::from_mins(10);
    let report = Report {
        campaign: c3.id.clone(),
        revision: 1,
        device: a.clone(),
        attempt: 1,
        evaluated_at: T0,
        kind: ReportKind::Success,
    };
    run::<Server>(
        &mut s3,
        &[accept(report, nominal_send(&c3, &a, T0, 1).plus(ten))],
    );
    assert_eq!(s3.tally.lateness_ms, ten.as_millis());
    let end_b = bin_reports_end(&c3, T0, slot_bin(&c3, &b));
    assert_eq!(s3.coverage_at(end_b).unwrap().hi, 1.0);
    assert_eq!(
        s3.coverage_at(Timestamp(end_b.plus(ten).0 - 1)).unwrap().hi,
        1.0
    );
    assert!(s3.coverage_at(end_b.plus(ten)).unwrap().hi < 1.0);
}

/// A sampled target never heard from that checks in holding the current revision received
/// the broadcast: it counts with the probes. A failure it reports later still opens care.
/// After a fallback started, the payload may have come from it: no such evidence.
#[test]
fn a_sampled_silent_device_checking_in_current_counts_as_reached_and_can_still_report_a_failure() {
    let mut c = campaign();
    c.schedule.sample_success_ppm = 1_000_000;
    let mut s = server_created(&c, 10);
    let d = dev("Q1");
    let check_in = ServerCommand::CheckIn {
        device: d.clone(),
        groups: vec![],
        applied_revision: 1,
        at: report_at(),
    };
    run::<Server>(&mut s, std::slice::from_ref(&check_in));
    assert_eq!(s.tally.probes, 1);
    assert!(matches!(
        s.cases[&d].origin,
        devcare::server::CaseOrigin::CheckInCurrent
    ));
    // Again: nothing new.
    assert_eq!(Server::decide(&s, &check_in).unwrap(), vec![]);
    let failure = failure_report(&c, "Q1", vec![Finding::Missing { index: 0 }]);
    run::<Server>(&mut s, &[accept(failure, report_at())]);
    assert_eq!(s.stats().in_care, 1);
    assert_eq!(s.tally.probes, 0);
    assert_eq!(s.tally.reporters, 1);
}

/// Above the campaign's `max_presumed_unknown` at the deadline the campaign stays open:
/// `SettlementHeld` hourly (the bound each time) until check-ins bring the bound within the
/// limit, and at most `MAX_SETTLEMENT_HOLD` after the deadline (never stuck).
#[test]
fn a_bound_above_the_limit_holds_settlement_back_until_check_ins_bring_it_within() {
    use devcare::server::{MAX_SETTLEMENT_HOLD, SETTLEMENT_RECHECK};
    let mut c = campaign();
    c.schedule.sample_success_ppm = 1_000_000; // every target is sampled
    let fleet: Vec<DeviceId> = (0..20).map(|i| dev(&format!("H{i}"))).collect();
    let mut s = server_created(&c, fleet.len() as u64);
    run::<Server>(
        &mut s,
        &[
            ServerCommand::ProfileSample {
                profile: devcare::server::SampleProfile::of(&c, &fleet),
                at: T0,
            },
            ServerCommand::MarkBroadcast { at: T0 },
            ServerCommand::SetSettlementLimit {
                max_presumed_unknown: Some(3),
                at: T0,
            },
        ],
    );
    // Ten probe; ten stay silent past the deadline.
    for d in &fleet[..10] {
        let report = Report {
            campaign: c.id.clone(),
            revision: 1,
            device: d.clone(),
            attempt: 1,
            evaluated_at: T0,
            kind: ReportKind::Success,
        };
        run::<Server>(&mut s, &[accept(report, report_at())]);
    }
    let deadline = c.report_deadline();
    let held = run::<Server>(&mut s, &[ServerCommand::Tick { now: deadline }]);
    let [ServerEvent::SettlementHeld { bound, .. }] = held[..] else {
        panic!("{held:?}");
    };
    assert!(bound.total() > 3, "{bound:?}");
    assert!(s.stats().settlement_held && !s.stats().settled);
    assert_eq!(s.next_wake(), Some(deadline.plus(SETTLEMENT_RECHECK)));
    // Not before the hour is up.
    assert_eq!(
        Server::decide(
            &s,
            &ServerCommand::Tick {
                now: deadline.plus(mins(59))
            }
        )
        .unwrap(),
        vec![]
    );
    // The silent ten check in: behind, they open cases; the bound falls to the sample's
    // resolution (10 of 10 probes: r ≥ 0.72 at 95%, so 3 of the 10 uncertain) and the
    // campaign settles at the next check.
    for d in &fleet[10..] {
        run::<Server>(
            &mut s,
            &[ServerCommand::CheckIn {
                device: d.clone(),
                groups: vec![],
                applied_revision: 0,
                at: deadline.plus(mins(10)),
            }],
        );
    }
    // The next check is an hour after the log's latest time (the check-ins).
    let next = deadline.plus(mins(10)).plus(SETTLEMENT_RECHECK);
    let ev = run::<Server>(&mut s, &[ServerCommand::Tick { now: next }]);
    assert!(
        matches!(ev.as_slice(), [ServerEvent::CampaignSettled { .. }, ServerEvent::PresumedBounded { bound, .. }] if bound.total() <= 3),
        "{ev:?}"
    );
    // A limit never reached: settled anyway at the end of the hold, the bound recorded.
    let mut never = server_created(&c, fleet.len() as u64);
    run::<Server>(
        &mut never,
        &[ServerCommand::SetSettlementLimit {
            max_presumed_unknown: Some(0),
            at: T0,
        }],
    );
    let end = deadline.plus(MAX_SETTLEMENT_HOLD);
    run::<Server>(&mut never, &[ServerCommand::Tick { now: deadline }]);
    assert!(!never.stats().settled);
    let ev = run::<Server>(&mut never, &[ServerCommand::Tick { now: end }]);
    assert!(
        matches!(ev.first(), Some(ServerEvent::CampaignSettled { .. })),
        "{ev:?}"
    );
}
