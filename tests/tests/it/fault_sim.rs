//! The fleet under faults (`devcare::sim::Faults`): lost, duplicated and delayed messages,
//! reboots, power cuts, powered-off devices, skewed clocks, server crashes, store errors,
//! restarts mid-dispatch, forged reports and an operator pause — every invariant checked
//! over hundreds of seeds, each a reproducible world (`devcare simulate --faults harsh
//! --seed N --devices 2000` replays one).

use devcare::server::{CoverageFloor, Fallback};
use devcare::sim::{Faults, FleetConfig, simulate, sweep};
use devcare::*;

const BUILT_IN: &str = include_str!("../../../examples/campaigns/apn-full.toml");

fn config(devices: u64, faults: Faults) -> FleetConfig {
    let campaign = Campaign::from_toml("apn-full.toml", BUILT_IN).unwrap();
    let mut cfg = FleetConfig::new(campaign, devices);
    cfg.faults = faults;
    cfg.loss = 0.02;
    cfg
}

/// The faults every realistic sweep must have injected, or the sweep proves little.
const KINDS: [&str; 13] = [
    "report-lost",
    "answer-lost",
    "duplicated",
    "reboot",
    "power-cut",
    "power-off",
    "server-crash",
    "store-error",
    "crash-mid-dispatch",
    "forged-report",
    "care-order-lost",
    "care-outcome-lost",
    "operator-pause",
];

#[test]
fn two_hundred_realistic_worlds_keep_every_invariant() {
    let cfg = config(2_000, Faults::realistic());
    let out = sweep(&cfg, 0..200, 2);
    assert_eq!(out.seeds, 200);
    assert!(out.failures.is_empty(), "{:#?}", out.failures);
    for kind in KINDS {
        assert!(
            out.faults.get(kind).copied().unwrap_or(0) > 0,
            "{kind} never injected"
        );
    }
    // Lost reports and answers are resent: more reports go out than the server takes.
    assert!(out.reports_sent > out.reports_accepted, "{out:?}");
    // The coverage interval holds the truth in at least 93% of the worlds.
    assert!(
        out.coverage_held * 100 >= out.coverage_checked * 93,
        "{}/{}",
        out.coverage_held,
        out.coverage_checked
    );
}

#[test]
fn harsh_worlds_with_revisions_and_coverage_fallbacks_keep_every_invariant() {
    let mut variants = Vec::new();
    let mut plain = config(2_000, Faults::harsh());
    plain.fail_rate = 0.05;
    variants.push(("plain", plain.clone()));
    let mut revised = plain.clone();
    revised.revise_at = Some(Duration::from_mins(40));
    variants.push(("revised", revised));
    for fallback in [Fallback::Unicast { per_minute: 50 }, Fallback::Rebroadcast] {
        let mut c = plain.clone();
        c.loss = 0.1;
        c.coverage_floor = Some(CoverageFloor {
            floor: 0.99,
            fallback,
        });
        variants.push((fallback.name(), c));
    }
    for (name, cfg) in variants {
        let out = sweep(&cfg, 0..60, 2);
        assert!(out.failures.is_empty(), "{name}: {:#?}", out.failures);
        assert!(
            out.coverage_held * 100 >= out.coverage_checked * 90,
            "{name}: {}/{}",
            out.coverage_held,
            out.coverage_checked
        );
    }
}

/// The worlds the first harsh sweep broke: a care order of revision N, delayed past the
/// revision, reached a device that had taken N+1; the device was handed the payload again
/// and the run stopped (seed 4: "refused receive (unicast): revision 4 is not newer"; seed
/// 0: a device left reporting with no case). Now the device refuses the stale order.
#[test]
fn seeds_0_4_12_harsh_revised_a_late_care_order_of_a_replaced_revision_is_refused() {
    let mut cfg = config(2_000, Faults::harsh());
    cfg.fail_rate = 0.05;
    cfg.revise_at = Some(Duration::from_mins(40));
    for seed in [0, 4, 12] {
        cfg.seed = seed;
        let (out, _) = simulate(&cfg, |_| Ok(())).unwrap_or_else(|e| panic!("seed {seed}: {e}"));
        assert!(
            out.faults.get("stale-care-order").copied().unwrap_or(0) > 0,
            "seed {seed}"
        );
        assert_eq!(out.unresolved, 0, "seed {seed}");
    }
}

#[test]
fn a_server_crash_replays_and_decides_as_if_uninterrupted() {
    for seed in 0..20 {
        let mut calm = config(2_000, Faults::realistic());
        calm.faults.server_crash = 0.0;
        calm.seed = seed;
        let mut crashing = calm.clone();
        crashing.faults.server_crash = 0.05;
        let (a, sa) = simulate(&calm, |_| Ok(())).unwrap();
        let (b, sb) = simulate(&crashing, |_| Ok(())).unwrap();
        assert!(b.faults["server-crash"] > 0, "seed {seed}");
        assert_eq!(a.stats, b.stats, "seed {seed}");
        assert_eq!(sa, sb, "seed {seed}: the final server state");
        assert_eq!(
            (a.reports_sent, a.care_dispatched, a.events_logged),
            (b.reports_sent, b.care_dispatched, b.events_logged),
            "seed {seed}"
        );
    }
}

#[test]
fn a_seed_is_one_world_whatever_the_thread_count() {
    let cfg = config(1_000, Faults::harsh());
    assert_eq!(sweep(&cfg, 0..24, 1), sweep(&cfg, 0..24, 2));
    let (a, _) = simulate(&cfg, |_| Ok(())).unwrap();
    let (b, _) = simulate(&cfg, |_| Ok(())).unwrap();
    assert_eq!(a, b);
}

#[test]
fn without_faults_the_run_is_the_best_case() {
    let cfg = config(5_000, Faults::none());
    let (out, _) = simulate(&cfg, |_| Ok(())).unwrap();
    assert!(out.faults.is_empty(), "{:?}", out.faults);
    assert_eq!(out.reports_sent, out.reports_accepted);
    assert_eq!(out.unresolved, 0);
}

#[test]
fn fault_rates_must_be_probabilities() {
    let mut cfg = config(100, Faults::none());
    cfg.faults.report_loss = 1.0;
    let err = simulate(&cfg, |_| Ok(())).unwrap_err();
    assert!(err.to_string().contains("report-loss 1"), "{err}");
}

/// Devices that report as OMA DM Generic Alerts cross the server host's alert ingest (a DM
/// message in the device's own session) and get the host's answer; the decisions are the
/// ones binary reports give, and the invariants hold for either transport and a mix.
#[test]
fn the_alert_transport_crosses_the_alert_ingest_and_decides_as_binary_reports_do() {
    use devcare::sim::Transport;
    for seed in 0..8 {
        let mut binary = config(2_000, Faults::realistic());
        binary.seed = seed;
        let (b, sb) = simulate(&binary, |_| Ok(())).unwrap();
        for transport in [Transport::Alert, Transport::Mixed] {
            let mut cfg = binary.clone();
            cfg.transport = transport;
            let (o, so) = simulate(&cfg, |_| Ok(()))
                .unwrap_or_else(|e| panic!("seed {seed} {}: {e}", transport.name()));
            assert_eq!(o.stats, b.stats, "seed {seed} {}", transport.name());
            assert_eq!(
                so,
                sb,
                "seed {seed} {}: the server's state",
                transport.name()
            );
            // A Generic Alert is a whole DM message: far more bytes than a binary report.
            assert!(
                o.report_bytes > b.report_bytes,
                "seed {seed} {}: {} vs {} bytes",
                transport.name(),
                o.report_bytes,
                b.report_bytes
            );
        }
    }
    for transport in [Transport::Alert, Transport::Mixed] {
        let mut cfg = config(2_000, Faults::harsh());
        cfg.transport = transport;
        let out = sweep(&cfg, 0..60, 2);
        assert!(
            out.failures.is_empty(),
            "{}: {:#?}",
            transport.name(),
            out.failures
        );
    }
}

/// A simulated store error fails exactly the host's next append, then the store works; an
/// armed error no append used is cleared and said so (the world counts only used ones).
#[test]
fn a_simulated_store_error_fails_the_next_append_only() {
    use devcare::sim::SimStore;
    use devcare::store::{EventStore, MemoryStore, StoreError, StreamId};
    let store = SimStore::new(MemoryStore::new());
    let stream = StreamId::new("server/c").unwrap();
    let event = [ServerEvent::BroadcastSent { at: Timestamp(1) }];
    store.fail_next_append();
    assert!(matches!(
        store.append(&stream, 0, &event),
        Err(StoreError::Backend(_))
    ));
    assert_eq!(
        store.version(&stream).unwrap(),
        0,
        "the failed append wrote nothing"
    );
    assert!(!store.clear(), "the armed error was used");
    assert_eq!(store.append(&stream, 0, &event).unwrap(), 1);
    store.fail_next_append();
    assert!(store.clear(), "an armed error no append used is cleared");
    assert_eq!(store.append(&stream, 1, &event).unwrap(), 2);
}

/// Every device checks in under faults, and one that gave up reporting a failure sends it
/// again then: at 50% report loss the failed devices the server never hears of (presumed OK
/// for good) fall from hundreds to a few — those whose every check-in within the world's
/// six days after the deadline was lost too.
#[test]
fn check_ins_carry_the_failures_whose_every_report_was_lost() {
    let mut cfg = config(2_000, Faults::harsh());
    cfg.faults.report_loss = 0.5;
    let with = sweep(&cfg, 0..60, 2);
    assert!(with.failures.is_empty(), "{:#?}", with.failures);
    assert!(with.faults.get("check-in-report").copied().unwrap_or(0) > 0);
    assert!(with.faults.get("check-in-lost").copied().unwrap_or(0) > 0);
    cfg.faults.check_ins = false;
    let without = sweep(&cfg, 0..60, 2);
    assert!(without.failures.is_empty(), "{:#?}", without.failures);
    assert!(
        without.gave_up_reporting >= 20 && with.gave_up_reporting * 5 <= without.gave_up_reporting,
        "unheard failures with check-ins {}, without {}",
        with.gave_up_reporting,
        without.gave_up_reporting
    );
}

/// A breaker pause is borne out by the truth: at 2% failures in a 100,000-device world (the
/// built-in campaign's `min_reports` is reached) the abort threshold never pauses care
/// (`false-pause` would end the world); at 30% it pauses in every world (the simulated
/// operator lifts it an hour later and every failure is cared for). Time never runs back in
/// any of them (`time-never-runs-back`).
#[test]
fn the_breaker_pauses_a_broken_rollout_and_never_a_healthy_one() {
    let mut cfg = config(100_000, Faults::realistic());
    cfg.loss = 0.0;
    let healthy = sweep(&cfg, 0..1, 2);
    assert!(healthy.failures.is_empty(), "{:#?}", healthy.failures);
    assert_eq!(healthy.breaker_pauses, 0);
    let mut cfg = config(3_000, Faults::harsh());
    cfg.fail_rate = 0.3;
    let broken = sweep(&cfg, 0..2, 2);
    assert!(broken.failures.is_empty(), "{:#?}", broken.failures);
    assert_eq!(broken.breaker_pauses, 2, "one pause per world");
    assert_eq!(broken.unresolved, 0);
}

/// One bad cohort pauses alone: a 100,000-device fleet in ten directory groups, each with
/// the campaign's threshold (5%, 200 reports) as its own; group g0 fails at 30%, the rest at
/// 2% (4.8% overall). In every world g0's threshold pauses g0's care, no other group's
/// does and the campaign's does not (a pause the truth does not bear out ends the world
/// as `false-pause`); the simulated operator lifts g0's an hour later and every failure
/// is cared for.
#[test]
fn a_bad_group_pauses_alone() {
    let mut cfg = config(100_000, Faults::realistic());
    cfg.loss = 0.0;
    cfg.groups = 10;
    cfg.bad_group_fail_rate = Some(0.3);
    let out = sweep(&cfg, 0..2, 2);
    assert!(out.failures.is_empty(), "{:#?}", out.failures);
    assert_eq!(
        out.group_pauses,
        [("g0".to_string(), 2)].into_iter().collect(),
        "g0 pauses in each world, no other group does"
    );
    assert_eq!(
        out.breaker_pauses, 0,
        "the campaign's threshold stays quiet"
    );
    assert_eq!(out.unresolved, 0);
}

/// A silent sampled device is pending while its probe may still come (`docs/design.md`,
/// "Coverage under loss"): under harsh faults (a tenth of reporting devices off for up to
/// four hours) the reach interval at the first coverage check holds the truth, and so does
/// the coverage interval at the end. 0.10 part 1 held it in 0 of 20 harsh 100,000-device
/// worlds at the first check. (20,000 devices, 100 sampled: with 2,000 devices and 10
/// sampled the few late reports understate how late devices are, and it held in 36 of 40.)
#[test]
fn the_coverage_intervals_hold_the_truth_under_harsh_faults() {
    let mut cfg = config(20_000, Faults::harsh());
    cfg.loss = 0.05;
    cfg.coverage_floor = Some(CoverageFloor {
        floor: 0.99,
        fallback: Fallback::Unicast { per_minute: 2_000 },
    });
    let out = sweep(&cfg, 0..20, 2);
    assert!(out.failures.is_empty(), "{:#?}", out.failures);
    assert_eq!(out.first_check_count, 20);
    assert!(
        out.first_check_held >= 19,
        "first check held {} of 20",
        out.first_check_held
    );
    assert!(
        out.coverage_held >= 19,
        "final interval held {} of {}",
        out.coverage_held,
        out.coverage_checked
    );
}

/// The bound recorded at settlement on the targets presumed OK that are not (missed the
/// payload and not checked in yet, or failed with every report lost) holds the truth, with
/// half of all reports lost and check-ins only every three days.
#[test]
fn the_settlement_bound_holds_the_targets_wrongly_presumed_ok() {
    let mut cfg = config(2_000, Faults::harsh());
    cfg.loss = 0.05;
    cfg.faults.report_loss = 0.5;
    cfg.checkin_interval = devcare::Duration::from_hours(72);
    let out = sweep(&cfg, 0..40, 2);
    assert!(out.failures.is_empty(), "{:#?}", out.failures);
    assert_eq!(out.bound_count, 40);
    assert!(
        out.wrongly_presumed > 0,
        "the test needs wrongly presumed targets"
    );
    assert!(
        out.bound_held >= 38,
        "bound held {} of 40 (wrongly presumed {} in all, bounds {} in all)",
        out.bound_held,
        out.wrongly_presumed,
        out.bound_sum
    );
}
