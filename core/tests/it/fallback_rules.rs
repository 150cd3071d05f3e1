//! The coverage floor and its fallback, one test per rule: when the server finds the
//! broadcast degraded, what it asks of the host, and which host records it refuses.

use crate::common;
use common::*;
use devcare::server::{CoverageFloor, Fallback, FallbackDue};
use devcare::*;

const TARGETS: u64 = 2_000;
const PPM: u32 = 50_000; // 5 %: about 100 sampled targets

fn sampled_campaign() -> Campaign {
    let mut c = campaign();
    c.schedule.sample_success_ppm = PPM;
    c
}

fn floor(fallback: Fallback) -> CoverageFloor {
    CoverageFloor {
        floor: 0.99,
        fallback,
    }
}

/// Devices `S{i}` that are (`true`) or are not in the sample, the first `n`.
fn devices_where(c: &Campaign, n: usize, sampled: bool) -> Vec<DeviceId> {
    (0..)
        .map(|i| dev(&format!("S{i:05}")))
        .filter(|d| slot::sampled(&c.salt, d, PPM) == sampled)
        .take(n)
        .collect()
}

/// When every report of a device that received the broadcast at T0 is in.
fn early_check(c: &Campaign) -> Timestamp {
    rules::reports_end(c, T0)
}

/// A campaign of 2,000 targets, 100 of them sampled, with `policy`, broadcast at T0, and
/// `probes` of the sampled devices probing.
fn broadcast_with(c: &Campaign, policy: CoverageFloor, probes: usize) -> ServerState {
    let mut s = server_created(c, TARGETS);
    run::<Server>(&mut s, &setup(c, policy, probes));
    s
}

/// The commands of [`broadcast_with`] after `Create`.
fn setup(c: &Campaign, policy: CoverageFloor, probes: usize) -> Vec<ServerCommand> {
    let mut cmds = vec![
        ServerCommand::SizeSample {
            sampled_targets: 100,
            at: T0,
        },
        ServerCommand::SetCoverageFloor { policy, at: T0 },
        ServerCommand::MarkBroadcast { at: T0 },
    ];
    cmds.extend(
        devices_where(c, probes, true)
            .into_iter()
            .map(|d| accept(probe(c, &d), at(60_000))),
    );
    cmds
}

fn tick(now: Timestamp) -> ServerCommand {
    ServerCommand::Tick { now }
}

#[test]
fn a_floor_must_be_a_share_with_a_positive_pace_on_a_sampling_campaign() {
    let c = sampled_campaign();
    let set = |policy| ServerCommand::SetCoverageFloor { policy, at: T0 };
    for (bad, why) in [
        (
            CoverageFloor {
                floor: 0.0,
                fallback: Fallback::None,
            },
            "outside (0, 1]",
        ),
        (
            CoverageFloor {
                floor: 1.5,
                fallback: Fallback::None,
            },
            "outside (0, 1]",
        ),
        (
            CoverageFloor {
                floor: f64::NAN,
                fallback: Fallback::None,
            },
            "outside (0, 1]",
        ),
        (floor(Fallback::Unicast { per_minute: 0 }), "pace 0"),
    ] {
        let err = spec::<Server>([created(&c, TARGETS)])
            .when(set(bad))
            .then_refused("fallback");
        assert!(err.to_string().contains(why), "{err}");
    }
    let mut unsampled = c.clone();
    unsampled.schedule.sample_success_ppm = 0;
    let err = spec::<Server>([created(&unsampled, TARGETS)])
        .when(set(floor(Fallback::None)))
        .then_refused("fallback");
    assert!(
        err.to_string().contains("samples no healthy device"),
        "{err}"
    );
    spec::<Server>([])
        .when(set(floor(Fallback::None)))
        .then_refused("unknown-campaign");
    // Setting the same floor twice appends nothing.
    let policy = floor(Fallback::Rebroadcast);
    spec::<Server>([
        created(&c, TARGETS),
        ServerEvent::CoverageFloorSet { policy, at: T0 },
    ])
    .when(set(policy))
    .then([]);
}

#[test]
fn a_broadcast_whose_reach_is_surely_below_the_floor_is_degraded_once_at_the_early_check() {
    let c = sampled_campaign();
    // Half the sampled devices probe: the broadcast reached about half the fleet.
    let s = broadcast_with(&c, floor(Fallback::None), 50);
    assert_eq!(
        s.next_wake(),
        Some(early_check(&c)),
        "the check wakes the host"
    );
    // Before the check nothing happens.
    let before = early_check(&c).plus(Duration(0)).0 - 1;
    assert!(
        Server::decide(&s, &tick(Timestamp(before)))
            .unwrap()
            .is_empty()
    );
    let events = Server::decide(&s, &tick(early_check(&c))).unwrap();
    let [
        ServerEvent::BroadcastDegraded {
            coverage,
            reach,
            at,
        },
    ] = &events[..]
    else {
        panic!("expected one BroadcastDegraded, got {events:?}");
    };
    assert_eq!(*at, early_check(&c));
    assert!(reach.hi < 0.99 && reach.lo > 0.3, "{reach:?}");
    assert_eq!(coverage, reach, "no check-in yet: coverage and reach agree");
    let mut s2 = s.clone();
    for e in &events {
        Server::evolve(&mut s2, e);
    }
    // Degraded once: the deadline's check does not repeat it; the coverage stays the one
    // measured then.
    let late = Server::decide(&s2, &tick(c.report_deadline())).unwrap();
    assert!(
        late.iter().all(|e| matches!(
            e,
            ServerEvent::CampaignSettled { .. } | ServerEvent::PresumedBounded { .. }
        )),
        "{late:?}"
    );
    assert_eq!(s2.stats().coverage, Some(*coverage));
    // Policy `none`: nothing for the host to do.
    assert_eq!(s2.fallback_due(early_check(&c)), FallbackDue::Nothing);
    // The floor cannot change once degraded.
    spec::<Server>(events_of(&c, &s2))
        .when(ServerCommand::SetCoverageFloor {
            policy: floor(Fallback::Rebroadcast),
            at: early_check(&c),
        })
        .then_refused("fallback");
}

/// The events that built `s` (replayed by `spec`): the test's own commands again.
fn events_of(c: &Campaign, s: &ServerState) -> Vec<ServerEvent> {
    let policy = s.fallback.policy.unwrap();
    let mut live = server_created(c, TARGETS);
    let mut log = vec![created(c, TARGETS)];
    log.extend(run::<Server>(
        &mut live,
        &setup(c, policy, s.tally.probes as usize),
    ));
    if let Some(d) = s.fallback.degraded {
        log.extend(run::<Server>(&mut live, &[tick(d.at)]));
    }
    assert_eq!(&live, s, "events_of rebuilt a different state");
    log
}

#[test]
fn a_broadcast_that_reached_the_floor_is_checked_twice_and_never_degraded() {
    let c = sampled_campaign();
    let mut s = broadcast_with(&c, floor(Fallback::Rebroadcast), 100);
    let first = run::<Server>(&mut s, &[tick(early_check(&c))]);
    assert!(
        matches!(&first[..], [ServerEvent::CoverageChecked { reach, .. }] if reach.hi >= 0.99),
        "{first:?}"
    );
    assert_eq!(s.next_wake(), Some(c.report_deadline()));
    let last = run::<Server>(&mut s, &[tick(c.report_deadline())]);
    assert!(
        matches!(
            &last[..],
            [
                ServerEvent::CoverageChecked { .. },
                ServerEvent::CampaignSettled { .. },
                ServerEvent::PresumedBounded { .. }
            ]
        ),
        "{last:?}"
    );
    assert_eq!(s.next_wake(), None, "nothing left to check");
    assert_eq!(s.fallback_due(c.report_deadline()), FallbackDue::Nothing);
}

#[test]
fn check_ins_behind_count_as_reached_so_a_repaired_loss_does_not_start_a_fallback() {
    let c = sampled_campaign();
    // 10 % missed: 10 sampled devices never probe, but all 200 missed devices checked in
    // (and got the payload by unicast), 10 of them sampled.
    let mut s = broadcast_with(&c, floor(Fallback::None), 90);
    let behind: Vec<DeviceId> = devices_where(&c, 190, false)
        .into_iter()
        .chain(devices_where(&c, 100, true).into_iter().skip(90))
        .collect();
    for d in behind {
        run::<Server>(
            &mut s,
            &[ServerCommand::CheckIn {
                device: d,
                groups: vec![],
                applied_revision: 0,
                at: at(120_000),
            }],
        );
    }
    let cov = s.coverage().unwrap();
    let reach = s.reach().unwrap();
    assert!(cov.hi < 0.99, "the broadcast missed 10 %: {cov:?}");
    assert!(
        reach.hi >= 0.99,
        "but every target holds the payload: {reach:?}"
    );
    let ev = run::<Server>(&mut s, &[tick(early_check(&c))]);
    assert!(
        matches!(&ev[..], [ServerEvent::CoverageChecked { .. }]),
        "{ev:?}"
    );
}

#[test]
fn a_rebroadcast_is_due_once_and_only_while_its_reports_fit_before_the_deadline() {
    let c = sampled_campaign();
    let mut s = broadcast_with(&c, floor(Fallback::Rebroadcast), 40);
    run::<Server>(&mut s, &[tick(early_check(&c))]);
    let t = early_check(&c);
    assert_eq!(s.fallback_due(t), FallbackDue::Rebroadcast);
    let rec = ServerCommand::RecordRebroadcast { at: t };
    let ev = run::<Server>(&mut s, std::slice::from_ref(&rec));
    assert_eq!(ev, vec![ServerEvent::Rebroadcast { at: t }]);
    assert_eq!(s.fallback_due(t), FallbackDue::Nothing);
    let err = Server::decide(&s, &rec).unwrap_err();
    assert_eq!(err.reason(), "fallback");
    // Degraded only at the deadline: too late to rebroadcast; the degradation stays for an
    // operator.
    let mut late = broadcast_with(&c, floor(Fallback::Rebroadcast), 100);
    run::<Server>(&mut late, &[tick(early_check(&c))]);
    late.tally.probes = 40; // as if most probes had been withdrawn: a degraded deadline check
    let ev = Server::decide(&late, &tick(c.report_deadline())).unwrap();
    assert!(
        matches!(ev[0], ServerEvent::BroadcastDegraded { .. }),
        "{ev:?}"
    );
    for e in &ev {
        Server::evolve(&mut late, e);
    }
    assert_eq!(late.fallback_due(c.report_deadline()), FallbackDue::Nothing);
    let err = Server::decide(
        &late,
        &ServerCommand::RecordRebroadcast {
            at: c.report_deadline(),
        },
    )
    .unwrap_err();
    assert_eq!(err.reason(), "broadcast-too-late");
}

#[test]
fn a_unicast_fallback_walks_silent_targets_in_id_order_at_its_pace() {
    let c = sampled_campaign();
    let mut s = broadcast_with(&c, floor(Fallback::Unicast { per_minute: 3 }), 40);
    let t = early_check(&c);
    run::<Server>(&mut s, &[tick(t)]);
    assert_eq!(
        s.fallback_due(t),
        FallbackDue::Unicast {
            allowance: 3,
            after: None
        }
    );
    let heard = devices_where(&c, 1, true).remove(0); // a probe: it has a case
    let record = |devices: Vec<DeviceId>, done: bool, when: Timestamp| {
        ServerCommand::RecordFallbackUnicast {
            devices,
            done,
            at: when,
        }
    };
    let refused = |s: &ServerState, cmd: ServerCommand, why: &str| {
        let err = Server::decide(s, &cmd).unwrap_err();
        assert_eq!(err.reason(), "fallback");
        assert!(err.to_string().contains(why), "{err}");
    };
    let (a, b, c3, d) = (dev("A"), dev("B"), dev("C"), dev("D"));
    refused(
        &s,
        record(vec![a.clone(), b.clone(), c3.clone(), d.clone()], false, t),
        "exceed the pace's allowance of 3",
    );
    refused(
        &s,
        record(vec![b.clone(), a.clone()], false, t),
        "ascending",
    );
    refused(&s, record(vec![heard.clone()], false, t), "has a case");
    let ev = run::<Server>(
        &mut s,
        &[record(vec![a.clone(), b.clone(), c3.clone()], false, t)],
    );
    assert_eq!(
        ev,
        vec![ServerEvent::FallbackUnicastSent {
            count: 3,
            last: Some(c3.clone()),
            done: false,
            at: t
        }]
    );
    // The pace is spent for this minute; the host is woken at the next one.
    let next = t.plus(Duration::from_mins(1));
    assert_eq!(s.fallback_due(t), FallbackDue::WaitUntil { at: next });
    assert_eq!(s.next_wake(), Some(next));
    refused(
        &s,
        record(vec![d.clone()], false, t),
        "allows no device before",
    );
    // The next minute: only ids after the cursor.
    assert_eq!(
        s.fallback_due(next),
        FallbackDue::Unicast {
            allowance: 3,
            after: Some(c3.clone())
        }
    );
    refused(
        &s,
        record(vec![b.clone()], false, next),
        "not after the cursor",
    );
    run::<Server>(&mut s, &[record(vec![d.clone()], true, next)]);
    assert_eq!(s.fallback.unicast_sent, 4);
    assert_eq!(s.fallback_due(next), FallbackDue::Nothing, "done");
    assert_eq!(s.next_wake(), Some(c.report_deadline()));
    refused(&s, record(vec![], true, next), "no unicast fallback is due");
}

#[test]
fn a_revision_starts_the_fallback_afresh_and_keeps_the_floor() {
    let c = sampled_campaign();
    let mut s = broadcast_with(&c, floor(Fallback::Unicast { per_minute: 10 }), 40);
    run::<Server>(&mut s, &[tick(early_check(&c))]);
    assert!(s.fallback.degraded.is_some());
    let mut next = c.clone();
    next.revision = 2;
    run::<Server>(
        &mut s,
        &[ServerCommand::Revise {
            campaign: Box::new(next),
            targeted: Some(TARGETS),
            at: early_check(&c),
        }],
    );
    assert_eq!(
        s.fallback.policy,
        Some(floor(Fallback::Unicast { per_minute: 10 }))
    );
    assert_eq!(s.fallback.degraded, None);
    assert_eq!(s.fallback.checks, 0);
    assert_eq!(s.fallback_due(early_check(&c)), FallbackDue::Nothing);
}

#[test]
fn after_a_degradation_reports_of_devices_silent_until_then_count_as_missed_not_as_received() {
    let c = sampled_campaign();
    let mut s = broadcast_with(&c, floor(Fallback::Rebroadcast), 40);
    let t = early_check(&c);
    run::<Server>(
        &mut s,
        &[tick(t), ServerCommand::RecordRebroadcast { at: t }],
    );
    let before = s.tally;
    // A sampled device that never probed now probes, having evaluated after the
    // degradation (the rebroadcast reached it): it missed the first broadcast, and its probe
    // is not counted as a broadcast receiver's — nor as a missed device's, which only the
    // sample would reveal.
    let sampled = devices_where(&c, 42, true);
    let mut late = probe(&c, &sampled[40]);
    late.evaluated_at = t.plus(mins(5));
    run::<Server>(&mut s, &[accept(late, t.plus(mins(30)))]);
    assert!(s.cases[&sampled[40]].silent_until_degraded);
    assert_eq!(s.tally, before, "an uncounted probe");
    // A failure report of a device silent until then, evaluated after the degradation,
    // counts with the missed.
    let finding = vec![Finding::Status {
        index: 0,
        status: 500,
    }];
    let mut failed = failure_report(&c, "F-late", finding.clone());
    failed.evaluated_at = t.plus(mins(6));
    run::<Server>(&mut s, &[accept(failed, t.plus(mins(31)))]);
    assert_eq!(s.tally.behind, before.behind + 1);
    assert_eq!(s.tally.reporters, before.reporters);
    // A late report of an evaluation before the degradation (the device was off, its
    // reports lost) is a broadcast receiver's, counted as such.
    run::<Server>(&mut s, &[accept(probe(&c, &sampled[41]), t.plus(mins(32)))]);
    assert_eq!(s.tally.probes, 41);
    let slow = failure_report(&c, "F-slow", finding);
    run::<Server>(&mut s, &[accept(slow, t.plus(mins(33)))]);
    assert_eq!(s.tally.reporters, before.reporters + 1);
    assert_eq!(s.tally.behind, before.behind + 1);
}

/// A repair polls a random sample first (the pilot, in poll-key order), waits for the
/// answers, then rebroadcasts when some polled device lacked the payload and a broadcast
/// still fits; when nothing was found it waits for check-ins; too late to rebroadcast, it
/// keeps polling only while each device found costs at most three sessions.
#[test]
fn a_repair_samples_the_silent_targets_then_rebroadcasts_polls_on_or_waits() {
    use devcare::server::{REPAIR_ANSWER_WAIT, poll_rank, repair_pilot};
    let c = sampled_campaign();
    let policy = floor(Fallback::Repair { per_minute: 1_000 });
    let mut s = broadcast_with(&c, policy, 50);
    let t = early_check(&c);
    run::<Server>(&mut s, &[tick(t)]);
    let silent = TARGETS - 50;
    assert_eq!(s.fallback.silent_at_degradation, silent);
    let pilot = repair_pilot(silent);
    assert_eq!(pilot, 39, "a fiftieth of the silent targets, at least 30");
    assert_eq!(
        s.fallback_due(t),
        FallbackDue::Unicast {
            allowance: pilot,
            after: None
        }
    );
    // The pilot: the first silent targets in poll-key order, not in id order.
    let mut fleet: Vec<DeviceId> = devices_where(&c, 1_950, false);
    fleet.sort_by(|a, b| poll_rank(&c, a).cmp(&poll_rank(&c, b)));
    let batch: Vec<DeviceId> = fleet[..pilot as usize].to_vec();
    let mut by_id = batch.clone();
    by_id.sort();
    if by_id != batch {
        let err = Server::decide(
            &s,
            &ServerCommand::RecordFallbackUnicast {
                devices: by_id,
                done: false,
                at: t,
            },
        )
        .unwrap_err();
        assert!(err.to_string().contains("poll order"), "{err}");
    }
    run::<Server>(
        &mut s,
        &[ServerCommand::RecordFallbackUnicast {
            devices: batch.clone(),
            done: false,
            at: t,
        }],
    );
    // The answers get time to come.
    let answers = t.plus(REPAIR_ANSWER_WAIT);
    assert_eq!(s.fallback_due(t), FallbackDue::WaitUntil { at: answers });
    // Nothing found: wait for check-ins (no wake for the repair: it has nothing to do).
    assert_eq!(s.fallback_due(answers), FallbackDue::Nothing);
    assert_ne!(s.next_wake(), Some(answers));
    // One polled device was behind: rebroadcast.
    let mut found = s.clone();
    run::<Server>(
        &mut found,
        &[ServerCommand::CheckIn {
            device: batch[0].clone(),
            groups: vec![],
            applied_revision: 0,
            at: t,
        }],
    );
    assert_eq!(found.tally.poll_found, 1);
    assert!(found.next_wake().is_some_and(|w| w <= answers));
    assert_eq!(found.fallback_due(answers), FallbackDue::Rebroadcast);
    // A device behind that was not polled is not the pilot's finding.
    let mut natural = s.clone();
    run::<Server>(
        &mut natural,
        &[ServerCommand::CheckIn {
            device: fleet[pilot as usize + 5].clone(),
            groups: vec![],
            applied_revision: 0,
            at: t,
        }],
    );
    assert_eq!(natural.tally.poll_found, 0);
    // Too late to rebroadcast: polling goes on only while it pays (here 20 of 39 found:
    // at least a third at 95%), and stops when it does not (1 of 39).
    let late = c.report_deadline();
    let mut many = s.clone();
    for d in &batch[..20] {
        run::<Server>(
            &mut many,
            &[ServerCommand::CheckIn {
                device: d.clone(),
                groups: vec![],
                applied_revision: 0,
                at: t,
            }],
        );
    }
    assert!(matches!(
        many.fallback_due(Timestamp(late.0 - 1)),
        FallbackDue::Unicast { .. }
    ));
    assert_eq!(
        found.fallback_due(Timestamp(late.0 - 1)),
        FallbackDue::Nothing
    );
}
