//! A fleet campaign end to end: 100,000 devices, 2% injected failures, the real device
//! and server deciders, simulated time.
//!
//! `cargo run --release --example fleet [DEVICES] [FAIL_RATE] [SEED]`

use devcare::sim::{FleetConfig, simulate};
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

fn main() {
    let mut cfg = FleetConfig::new(campaign(), arg(1, 100_000));
    cfg.fail_rate = arg(2, 0.02);
    cfg.seed = arg(3, 1);
    let started = std::time::Instant::now();
    let (out, _) = match simulate(&cfg, |_| Ok(())) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("simulation failed: {e}");
            std::process::exit(1);
        }
    };
    let st = out.stats;
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
    println!("  server events     {:>9}", out.events_logged);
    println!(
        "  wall time         {:>8.2}s",
        started.elapsed().as_secs_f64()
    );
}
