//! Per-group abort thresholds, one test per rule: a bad cohort pauses alone, its care is
//! held while the rest of the campaign's goes on, and only an explained override lifts it.

use crate::common;
use common::*;
use devcare::server::GroupBreaker;
use devcare::*;

fn breaker(group: &str, targeted: u64) -> GroupBreaker {
    GroupBreaker {
        group: group.into(),
        targeted,
        failure_ratio: 0.05,
        min_reports: 3,
    }
}

fn set(breakers: Vec<GroupBreaker>) -> ServerCommand {
    ServerCommand::SetGroupBreakers { breakers, at: T0 }
}

/// After the report window: every target could have reported, so each group's ratio is
/// over all its members.
fn late(c: &Campaign) -> Timestamp {
    let sch = &c.schedule;
    T0.plus(sch.evaluate_after)
        .plus(sch.report.offset)
        .plus(sch.report.window)
}

fn fail_in(c: &Campaign, device: &str, group: &str) -> ServerCommand {
    ServerCommand::AcceptReport {
        report: failure_report(
            c,
            device,
            vec![Finding::Status {
                index: 0,
                status: 500,
            }],
        ),
        groups: vec![group.into()],
        at: late(c),
    }
}

/// A campaign of 1,000 targets, groups `bad` and `good` of 100 each with their own 5%
/// thresholds, no campaign-wide threshold.
fn grouped() -> (Campaign, ServerState, Vec<ServerEvent>) {
    let c = campaign();
    let mut s = server_created(&c, 1_000);
    let mut log = vec![created(&c, 1_000)];
    log.extend(run::<Server>(
        &mut s,
        &[set(vec![breaker("bad", 100), breaker("good", 100)])],
    ));
    (c, s, log)
}

#[test]
fn a_bad_group_pauses_alone_and_holds_only_its_own_care() {
    let (c, mut s, mut log) = grouped();
    // 5 of 100 is not above 5%; the sixth is.
    for i in 0..5 {
        let ev = run::<Server>(&mut s, &[fail_in(&c, &format!("B{i}"), "bad")]);
        assert!(
            matches!(ev.get(1), Some(ServerEvent::CaseGrouped { groups: 1, .. })),
            "{ev:?}"
        );
        assert!(
            !ev.iter()
                .any(|e| matches!(e, ServerEvent::GroupPaused { .. }))
        );
        log.extend(ev);
    }
    let ev = run::<Server>(&mut s, &[fail_in(&c, "B5", "bad")]);
    log.extend(ev.iter().cloned());
    assert!(
        matches!(ev.last(), Some(ServerEvent::GroupPaused { group, reason, .. })
            if group == "bad" && reason.failure_reports == 6 && reason.targeted == 100),
        "{ev:?}"
    );
    // Five failures in the good group and one outside every group: their care goes on.
    for i in 0..5 {
        log.extend(run::<Server>(
            &mut s,
            &[fail_in(&c, &format!("G{i}"), "good")],
        ));
    }
    log.extend(run::<Server>(&mut s, &[fail_in(&c, "X0", "other")]));
    assert!(!s.is_paused(), "the campaign is not paused");
    let due: Vec<String> = s
        .due_care(late(&c), 100)
        .into_iter()
        .map(|o| o.device.to_string())
        .collect();
    assert_eq!(due, ["G0", "G1", "G2", "G3", "G4", "X0"]);
    assert_eq!(s.held_care.len(), 6);
    let status = s.group_breakers();
    assert_eq!(
        (status[0].failures, status[0].paused.is_some()),
        (6, true),
        "{status:?}"
    );
    assert_eq!((status[1].failures, status[1].paused.is_some()), (5, false));
    spec::<Server>(log.clone())
        .when(ServerCommand::DispatchCare {
            device: dev("B0"),
            attempt: 1,
            at: late(&c),
        })
        .then_refused("group-paused");
    // The replayed log gives the live state: held care and all.
    assert_eq!(given::<Server>(&log), s);
    // Lifting it takes who and why; then the held care is due and the threshold is quiet.
    let lift = |by: &str, why: &str| ServerCommand::OverrideGroupAbort {
        group: "bad".into(),
        by: by.into(),
        why: why.into(),
        at: late(&c),
    };
    spec::<Server>(log.clone())
        .when(lift("", "x"))
        .then_refused("override-unexplained");
    spec::<Server>(log.clone())
        .when(ServerCommand::OverrideGroupAbort {
            group: "good".into(),
            by: "alice".into(),
            why: "x".into(),
            at: late(&c),
        })
        .then_refused("group-breaker");
    log.extend(run::<Server>(
        &mut s,
        &[lift("alice", "model X firmware checked")],
    ));
    assert!(s.held_care.is_empty());
    assert_eq!(s.due_care(late(&c), 100).len(), 12);
    let ev = run::<Server>(&mut s, &[fail_in(&c, "B6", "bad")]);
    assert!(
        !ev.iter()
            .any(|e| matches!(e, ServerEvent::GroupPaused { .. })),
        "an overridden group threshold stays quiet"
    );
    log.extend(ev);
    assert_eq!(given::<Server>(&log), s);
}

#[test]
fn a_relapse_stays_held_and_counts_once() {
    let (c, mut s, _) = grouped();
    for i in 0..6 {
        run::<Server>(&mut s, &[fail_in(&c, &format!("B{i}"), "bad")]);
    }
    assert_eq!(s.group_breakers()[0].failures, 6);
    // A device in both groups counts in both, once each.
    let ev = run::<Server>(
        &mut s,
        &[ServerCommand::AcceptReport {
            report: failure_report(
                &c,
                "BG",
                vec![Finding::Status {
                    index: 0,
                    status: 500,
                }],
            ),
            groups: vec!["good".into(), "bad".into()],
            at: late(&c),
        }],
    );
    assert!(
        matches!(ev.get(1), Some(ServerEvent::CaseGrouped { groups: 3, .. })),
        "{ev:?}"
    );
    let st = s.group_breakers();
    assert_eq!((st[0].failures, st[1].failures), (7, 1));
    assert!(s.held_care.iter().any(|(_, d)| d.as_str() == "BG"));
}

#[test]
fn group_thresholds_are_checked_and_set_before_the_first_failure() {
    let c = campaign();
    let s = server_created(&c, 1_000);
    let log = vec![created(&c, 1_000)];
    let mut bad_ratio = breaker("a", 10);
    bad_ratio.failure_ratio = 1.0;
    let mut no_min = breaker("a", 10);
    no_min.min_reports = 0;
    for (breakers, why) in [
        (vec![breaker("a", 10), breaker("a", 10)], "two thresholds"),
        (vec![breaker("", 10)], "1 to 64 bytes"),
        (vec![breaker("a", 0)], "targets no device"),
        (vec![bad_ratio], "outside (0, 1)"),
        (vec![no_min], "at least 1"),
        (
            (0..17).map(|i| breaker(&format!("g{i}"), 10)).collect(),
            "at most 16",
        ),
    ] {
        let err = Server::decide(&s, &set(breakers)).unwrap_err();
        assert_eq!(err.reason(), "group-breaker");
        assert!(err.to_string().contains(why), "{err}");
    }
    // After a failure was counted, its groups are unknown: too late.
    let mut s = s;
    run::<Server>(&mut s, &[fail_in(&c, "D0", "a")]);
    let err = Server::decide(&s, &set(vec![breaker("a", 10)])).unwrap_err();
    assert!(err.to_string().contains("before the first"), "{err}");
    // Setting the same thresholds again appends nothing.
    let mut log = log;
    log.push(ServerEvent::GroupBreakersSet {
        breakers: vec![breaker("a", 10)],
        at: T0,
    });
    spec::<Server>(log)
        .when(set(vec![breaker("a", 10)]))
        .then([]);
}
