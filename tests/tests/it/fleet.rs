//! End to end, in process: one campaign, 10,000 devices, the real deciders.

use devcare::sim::{FleetConfig, simulate};
use devcare::*;

fn campaign() -> Campaign {
    Campaign {
        salt: *b"e2e-fleet-salt!!",
        targets: TargetSet::All,
        settings: vec![
            Setting::replace("./AP/Default/APN", Value::Str("internet.example".into())),
            Setting::replace("./AP/Default/Auth", Value::Str("chap".into())),
            Setting::replace("./Proxy/Port", Value::Int(8080)),
            Setting::replace("./Vendor/Feature/Enabled", Value::Bool(true)),
        ],
        schedule: CareSchedule {
            evaluate_after: Duration::from_mins(5),
            conditions: vec![
                Condition::AnyFailed,
                Condition::VerifyMismatch {
                    uri: "./Proxy/Port".into(),
                },
                Condition::PayloadIncomplete,
                Condition::NotAppliedWithin {
                    within: Duration::from_mins(2),
                },
                Condition::StatusIn { codes: vec![420] },
            ],
            report: ReportPolicy {
                offset: Duration::from_mins(1),
                window: Duration::from_mins(10),
                retry: RetryPolicy {
                    attempts: 4,
                    backoff: Duration::from_mins(1),
                    max_backoff: Duration::from_mins(10),
                },
                deadline: Duration::from_hours(6),
                detail: Detail::PerSetting,
            },
            sample_success_ppm: 5_000,
            care: CarePolicy {
                action: CareAction::ReprovisionFailed,
                attempts: 3,
                spacing: Duration::from_mins(10),
                then: AfterCare::Escalate,
                timeout: Duration::from_mins(30),
            },
            abort: None,
        },
        ..devcare::spec::fixtures::campaign()
    }
}

fn config() -> FleetConfig {
    let mut cfg = FleetConfig::new(campaign(), 10_000);
    cfg.fail_rate = 0.03;
    cfg.care_success = 0.7;
    cfg.seed = 42;
    cfg
}

#[test]
fn only_failed_and_sampled_devices_report_and_every_failure_is_resolved() {
    let cfg = config();
    let mut log = Vec::new();
    let (out, state) = simulate(&cfg, |events| {
        log.extend_from_slice(events);
        Ok(())
    })
    .unwrap();
    let st = out.stats;
    // ~3% failed, ~0.5% of the healthy sampled.
    assert!((250..=350).contains(&out.failed), "failed {}", out.failed);
    let healthy = (out.devices - out.failed) as f64;
    assert!(
        ((out.sampled as f64) - healthy * 0.005).abs() < 4.0 * (healthy * 0.005).sqrt(),
        "sampled {}",
        out.sampled
    );
    // Exactly the failed devices (plus the sample) report, each once.
    assert_eq!(out.reports_sent, out.failed + out.sampled);
    assert_eq!(out.reports_accepted, out.reports_sent);
    assert_eq!(st.failure_reports, out.failed);
    assert_eq!(st.success_probes, out.sampled);
    // Every failed device ends recovered or escalated; the silent are presumed OK.
    assert_eq!(st.recovered + st.escalated, out.failed);
    assert!(st.escalated > 0 && st.recovered > st.escalated, "{st:?}");
    assert_eq!(out.unresolved, 0);
    assert!(st.settled);
    assert_eq!(st.presumed_ok, out.devices - out.failed);
    assert_eq!(state.presumed_ok_at_settle, Some(out.devices - out.failed));
    // Per-device server state only for reporters.
    assert_eq!(state.cases.len() as u64, out.failed + out.sampled);
    // Reports spread over the window: no minute holds more than twice the mean.
    let window_minutes = 10.0;
    let mean = out.reports_sent as f64 / window_minutes;
    assert!(
        out.peak_reports_per_minute() as f64 <= 2.0 * mean,
        "peak {} vs mean {mean:.1}: {:?}",
        out.peak_reports_per_minute(),
        out.reports_per_minute
    );
    let first_minute = *out.reports_per_minute.keys().next().unwrap();
    let last_minute = *out.reports_per_minute.keys().last().unwrap();
    assert!(
        first_minute >= 6 && last_minute <= 16,
        "{:?}",
        out.reports_per_minute
    );
    // Coverage: everybody received the broadcast; the 95% interval contains that truth.
    let cov = st.coverage.unwrap();
    assert!(cov.hi >= 1.0 - 1e-12 && cov.lo < cov.estimate, "{cov:?}");
    // The log replays to the same state.
    assert_eq!(log.len() as u64, out.events_logged);
    assert_eq!(Server::replay(&log), state);
}

#[test]
fn the_same_seed_gives_the_same_outcome() {
    let a = simulate(&config(), |_| Ok(())).unwrap();
    let b = simulate(&config(), |_| Ok(())).unwrap();
    assert_eq!(a, b);
    let mut other = config();
    other.seed = 43;
    assert_ne!(simulate(&other, |_| Ok(())).unwrap().0, a.0);
}

#[test]
fn devices_that_miss_the_broadcast_are_found_by_check_in() {
    let mut cfg = config();
    cfg.loss = 0.02;
    cfg.checkin_interval = Duration::from_hours(24);
    let (out, _) = simulate(&cfg, |_| Ok(())).unwrap();
    let st = out.stats;
    assert!(out.missed > 100, "missed {}", out.missed);
    assert_eq!(st.checkins_behind, out.missed);
    assert_eq!(st.recovered + st.escalated, out.failed + out.missed);
    assert_eq!(out.unresolved, 0);
    // Most check-ins come after the 6 h deadline: those devices were presumed OK, then
    // reconciled.
    assert!(st.late_reports == 0 && state_reconciled(&cfg) > 0);
    // Coverage estimate sees the loss: its interval contains the true share.
    let truth = 1.0 - out.missed as f64 / out.devices as f64;
    let cov = st.coverage.unwrap();
    assert!(cov.lo <= truth && truth <= cov.hi, "truth {truth}, {cov:?}");
}

/// Runs `cfg` with the server's events appended to a sled store in `dir`, flushed; checks
/// every event was logged.
fn simulate_on_sled(
    cfg: &FleetConfig,
    dir: &std::path::Path,
) -> (devcare::sim::FleetOutcome, ServerState) {
    let store = devcare::store::SledStore::open(dir).unwrap();
    devcare_integration::simulate_into(cfg, &store)
}

fn state_reconciled(cfg: &FleetConfig) -> u64 {
    simulate(cfg, |_| Ok(())).unwrap().1.counters.reconciled
}

#[test]
fn a_sink_failure_stops_the_simulation_with_an_error() {
    let mut calls = 0;
    let err = simulate(&config(), |_| {
        calls += 1;
        if calls > 3 {
            Err("disk full".into())
        } else {
            Ok(())
        }
    })
    .unwrap_err();
    assert_eq!(err.to_string(), "event sink: disk full");
}

#[test]
fn a_fleet_run_on_sled_replays_to_the_live_state() {
    use devcare::host::{GroupDirectory, ServerHost};
    use devcare::store::SledStore;
    let dir = tempfile::tempdir().unwrap();
    let cfg = config();
    let (_, live) = simulate_on_sled(&cfg, dir.path());
    let server = ServerHost::on_store(
        SledStore::open(dir.path()).unwrap(),
        GroupDirectory::new([0; 32]),
    )
    .unwrap();
    assert_eq!(server.state(&cfg.campaign.id), Some(&live));
}

#[test]
fn a_revision_mid_window_converges_with_nothing_unresolved_and_replays() {
    use devcare::host::{GroupDirectory, ServerHost};
    use devcare::store::SledStore;
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config();
    cfg.loss = 0.01;
    // Mid-window: evaluate after 5 min, reports spread over minutes 6 to 16.
    cfg.revise_at = Some(Duration::from_mins(10));
    let (out, live) = simulate_on_sled(&cfg, dir.path());
    let c = live.campaign.as_ref().unwrap();
    assert_eq!(c.revision, cfg.campaign.revision + 1);
    assert_eq!(
        c.issued_at,
        cfg.campaign.issued_at.plus(Duration::from_mins(10))
    );
    // Revision 1's figures are kept as they stood; its care stopped.
    assert_eq!(live.earlier.len(), 1);
    let (rev, before) = live.earlier[0];
    assert_eq!(rev, cfg.campaign.revision);
    assert!(before.failure_reports > 0, "{before:?}");
    // Reports of the old revision still in flight were refused (410: stop retrying).
    assert!(
        out.reports_rejected
            .get("wrong-revision")
            .copied()
            .unwrap_or(0)
            > 0,
        "{:?}",
        out.reports_rejected
    );
    // Revision 2 is cared for to the end: every failure and every device that missed its
    // broadcast recovered or escalated.
    let st = out.stats;
    assert_eq!(out.unresolved, 0, "{st:?}");
    assert_eq!(st.checkins_behind, out.missed);
    assert_eq!(st.recovered + st.escalated, out.failed + out.missed);
    assert!(st.settled);
    // The log (revision 1, the revision, revision 2) replays to the live state.
    let server = ServerHost::on_store(
        SledStore::open(dir.path()).unwrap(),
        GroupDirectory::new([0; 32]),
    )
    .unwrap();
    assert_eq!(server.state(&cfg.campaign.id), Some(&live));
}

/// Every server event of `cfg`'s run as the record the store would write, and the outcome.
fn records_of(cfg: &FleetConfig) -> (Vec<Vec<u8>>, devcare::sim::FleetOutcome) {
    use devcare::store::Persist;
    let stream = devcare::decider::Side::Server.stream(&cfg.campaign.id);
    let mut records = Vec::new();
    let (out, _) = simulate(cfg, |events| {
        for e in events {
            let seq = records.len() as u64 + 1;
            records.push(e.to_record(&stream, seq).map_err(|e| e.to_string())?);
        }
        Ok(())
    })
    .unwrap();
    (records, out)
}

#[test]
fn the_device_phase_on_several_threads_gives_the_same_bytes_as_on_one() {
    // 12,000 devices: several rounds of chunks, an uneven split over 3 threads; loss and a
    // revision, so the second broadcast takes up devices still held from the first. (Under
    // harsh faults devices keep logs and run one after another whatever the thread count.)
    for faults in ["none", "realistic", "harsh"] {
        let mut cfg = config();
        cfg.devices = 12_000;
        cfg.loss = 0.01;
        cfg.revise_at = Some(Duration::from_mins(30));
        cfg.faults = devcare::sim::Faults::preset(faults).unwrap();
        let (one, out_one) = records_of(&cfg);
        assert!(out_one.reports_sent > 300, "{faults}: a real run");
        for threads in [2, 3] {
            cfg.threads = threads;
            let (many, out_many) = records_of(&cfg);
            assert_eq!(out_many, out_one, "{faults}, {threads} threads: outcome");
            assert!(
                many == one,
                "{faults}, {threads} threads: {} records vs {}, first difference at {:?}",
                many.len(),
                one.len(),
                many.iter().zip(&one).position(|(a, b)| a != b)
            );
        }
    }
}
