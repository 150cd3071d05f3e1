//! The coverage fallback end to end over a simulated fleet (the real deciders, payload and
//! report formats): a lossy broadcast is found degraded by the server's own estimate, the
//! fallback reaches the devices that missed it, and a clean broadcast never starts one.

use devcare::server::{CoverageFloor, Fallback, Server, ServerEvent};
use devcare::sim::{FleetConfig, FleetOutcome, simulate};
use devcare::*;

const BUILT_IN: &str = include_str!("../../../examples/campaigns/apn-full.toml");
const DEVICES: u64 = 20_000;

fn run(loss: f64, seed: u64, fallback: Fallback) -> (FleetOutcome, ServerState, Vec<ServerEvent>) {
    let campaign = Campaign::from_toml("apn-full.toml", BUILT_IN).unwrap();
    let mut cfg = FleetConfig::new(campaign, DEVICES);
    cfg.loss = loss;
    cfg.seed = seed;
    cfg.coverage_floor = Some(CoverageFloor {
        floor: 0.99,
        fallback,
    });
    let mut log = Vec::new();
    let (out, state) = simulate(&cfg, |e| {
        log.extend_from_slice(e);
        Ok(())
    })
    .unwrap();
    (out, state, log)
}

#[test]
fn a_lossy_broadcast_is_degraded_and_the_unicast_fallback_reaches_the_missed_devices() {
    let (out, state, log) = run(0.05, 1, Fallback::Unicast { per_minute: 2_000 });
    let f = &out.fallback;
    let (reach, after) = f.degraded.expect("5 % loss under a 0.99 floor is degraded");
    let truth = f.true_reach.unwrap();
    assert!(
        reach.lo <= truth && truth <= reach.hi && reach.hi < 0.99,
        "{reach:?} vs truth {truth}"
    );
    // Found at the early check, long before the deadline and most check-ins.
    assert!(after < Duration::from_hours(4), "{after}");
    // Every silent target is polled once; most missed devices are found by the poll before
    // their own check-in, each missed device is found exactly once (poll or check-in), and
    // nothing stays unresolved.
    assert_eq!(state.fallback.unicast_sent, f.unicast_sent);
    assert!(state.fallback.unicast_done);
    assert!(f.unicast_sent > DEVICES * 9 / 10, "{}", f.unicast_sent);
    assert!(f.reached_missed > out.missed / 2, "{f:?}");
    assert_eq!(out.stats.checkins_behind, out.missed);
    assert_eq!(out.unresolved, 0);
    // With every missed device known, the interval's top is the broadcast's true coverage.
    let cov = out.stats.coverage.unwrap();
    let broadcast_truth = 1.0 - out.missed as f64 / DEVICES as f64;
    assert!(
        cov.lo <= broadcast_truth && (cov.hi - broadcast_truth).abs() < 1e-9,
        "{cov:?}"
    );
    // The log replays to the live state.
    assert_eq!(Server::replay(&log), state);
}

#[test]
fn a_rebroadcast_fallback_reaches_most_missed_devices_again() {
    let (out, state, _) = run(0.05, 2, Fallback::Rebroadcast);
    let f = &out.fallback;
    assert!(f.degraded.is_some() && f.rebroadcast, "{f:?}");
    assert!(state.fallback.rebroadcast_at.is_some());
    // The rebroadcast misses 5 % again: about 95 % of those still lacking it are reached.
    assert!(
        f.reached_missed > out.missed * 8 / 10,
        "{f:?} of {}",
        out.missed
    );
    assert_eq!(f.reached_missed + out.stats.checkins_behind, out.missed);
    assert_eq!(out.unresolved, 0);
}

#[test]
fn a_clean_broadcast_never_starts_a_fallback() {
    for seed in 1..=5 {
        let (out, state, log) = run(0.0, seed, Fallback::Unicast { per_minute: 2_000 });
        assert_eq!(out.fallback.degraded, None, "seed {seed}");
        assert_eq!(out.fallback.unicast_sent, 0);
        let checks = log
            .iter()
            .filter(|e| matches!(e, ServerEvent::CoverageChecked { .. }))
            .count();
        assert_eq!(checks, 2, "seed {seed}: checked early and at the deadline");
        assert_eq!(state.fallback.checks, 2);
    }
}
