//! A fleet campaign end to end: 100,000 devices, 2% injected failures, the real device
//! and server deciders, simulated time, the server's log on the embedded sled store.
//!
//! `cargo run --release --example fleet [DEVICES] [FAIL_RATE] [SEED] [STORE]`
//!
//! STORE is a directory (default `./devcare-data`; the run uses `STORE/fleet-example`,
//! emptied first) or `memory`.

use std::time::Instant;

use devcare::runtime::CareServer;
use devcare::sim::{FleetConfig, FleetOutcome, simulate};
use devcare::store::{EventStore, MemoryStore, SledStore, StoreError, StreamId};
use devcare::*;

fn campaign() -> Campaign {
    Campaign {
        id: CampaignId::new("apn-2026-11").expect("valid id"),
        revision: 1,
        issued_at: Timestamp(1_780_000_000_000),
        salt: *b"fleet-example-01",
        targets: TargetSet::All,
        settings: vec![
            Setting::replace("./AP/Default/APN", Value::Str("internet.example".into())),
            Setting::replace("./AP/Default/Auth", Value::Str("chap".into())),
            Setting::replace("./Proxy/Addr", Value::Str("10.0.0.1".into())),
            Setting::replace("./Proxy/Port", Value::Int(8080)),
        ],
        schedule: CareSchedule {
            conditions: vec![
                Condition::AnyFailed,
                Condition::VerifyMismatch {
                    uri: "./Proxy/Port".into(),
                },
                Condition::PayloadIncomplete,
                Condition::NotAppliedWithin {
                    within: Duration::from_mins(2),
                },
            ],
            ..CareSchedule::default()
        },
    }
}

fn arg<T: std::str::FromStr>(n: usize, default: T) -> T {
    std::env::args()
        .nth(n)
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

fn fail(what: &str, e: impl std::fmt::Display) -> ! {
    eprintln!("fleet: {what}: {e}");
    std::process::exit(1);
}

/// Runs the simulation with the server's log in `store`, then reopens nothing: returns the
/// outcome and the live server state.
fn run<S: EventStore>(cfg: &FleetConfig, store: &S) -> (FleetOutcome, ServerState) {
    let stream = StreamId::server(&cfg.campaign.id);
    let mut version = 0;
    let r = simulate(cfg, |events| {
        version = store
            .append(&stream, version, events)
            .map_err(|e| e.to_string())?;
        Ok(())
    });
    let r = r.unwrap_or_else(|e| fail("simulation failed", e));
    store.flush().unwrap_or_else(|e| fail("flush", e));
    r
}

fn main() {
    let mut cfg = FleetConfig::new(campaign(), arg(1, 100_000));
    cfg.fail_rate = arg(2, 0.02);
    cfg.seed = arg(3, 1);
    let store_arg: String = arg(4, "./devcare-data".to_string());
    let started = Instant::now();
    let (out, live, log) = if store_arg == "memory" {
        let (out, live) = run(&cfg, &MemoryStore::new());
        (out, live, "in memory".to_string())
    } else {
        let dir = std::path::Path::new(&store_arg).join("fleet-example");
        if dir.exists() {
            std::fs::remove_dir_all(&dir).unwrap_or_else(|e| fail("emptying the store", e));
        }
        let (out, live) = {
            let store = SledStore::open(&dir).unwrap_or_else(|e| fail("opening the store", e));
            run(&cfg, &store)
        };
        // Reopen and replay: the durable log must rebuild exactly the live state.
        let replay_started = Instant::now();
        let reopened: Result<_, StoreError> = SledStore::open(&dir).and_then(CareServer::open);
        let server = reopened.unwrap_or_else(|e| fail("replaying the store", e));
        let same = server.state(&cfg.campaign.id) == Some(&live);
        let size = server.store().size_on_disk().unwrap_or(0);
        let msg = format!(
            "sled at {} ({:.1} MB); reopened and replayed in {:.0} ms: state {}",
            dir.display(),
            size as f64 / 1e6,
            replay_started.elapsed().as_secs_f64() * 1e3,
            if same { "identical" } else { "DIFFERENT" }
        );
        if !same {
            fail("replay", msg);
        }
        (out, live, msg)
    };
    let st = live.stats();
    let window = cfg.campaign.schedule.report.window;
    println!(
        "campaign {} rev {}: {} devices, {:.1}% injected failures, seed {}",
        cfg.campaign.id,
        cfg.campaign.revision,
        out.devices,
        cfg.fail_rate * 100.0,
        cfg.seed
    );
    println!("  failed            {:>9}", out.failed);
    println!(
        "  reports sent      {:>9}   (every-device-reports design: {}; {:.0}x fewer)",
        out.reports_sent,
        out.devices,
        out.devices as f64 / out.reports_sent.max(1) as f64
    );
    println!(
        "  peak reports/min  {:>9}   over a {window} window",
        out.peak_reports_per_minute()
    );
    println!("  care attempts     {:>9}", out.care_attempts);
    println!("  recovered         {:>9}", st.recovered);
    println!("  escalated         {:>9}", st.escalated);
    println!("  presumed OK       {:>9}", st.presumed_ok);
    if let Some(c) = st.coverage {
        println!(
            "  coverage estimate {:>9.4}   95% CI [{:.4}, {:.4}] from {} success probes",
            c.estimate, c.lo, c.hi, st.sampled_successes
        );
    }
    println!("  unresolved        {:>9}", out.unresolved);
    println!("  converged after   {:>9}", out.converged_after.to_string());
    println!("  server events     {:>9}   {log}", out.events_logged);
    println!(
        "  wall time         {:>8.2}s",
        started.elapsed().as_secs_f64()
    );
}
