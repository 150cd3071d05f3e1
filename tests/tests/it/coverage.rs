//! The coverage estimate measured over many campaigns: for ≥ 200 random salts, fleets of
//! 100,000 devices with 2% failures and 0%, 1% or 5% broadcast loss, how often the 95%
//! interval contains the true coverage — at the deadline (before any check-in) and after
//! every device that missed the broadcast checked in — and how often a loss is flagged
//! (the interval's top below 1).
//!
//! The fleet is modelled directly (who is sampled, who missed, who failed) and the
//! server's own estimator reads it (`ServerState::coverage` over the tally the cases
//! produce); the decider's bookkeeping of that tally is tested case by case in
//! `core/tests/it/server_rules.rs`, and end to end by `simulate`.

use devcare::server::{ServerState, Tally};
use devcare::slot::sampled;
use devcare::stats::CoverageBasis;
use devcare::*;

const DEVICES: u64 = 100_000;
const SALTS: u64 = 200;
const FAIL: f64 = 0.02;
/// The README example's rate (0.5%): about 500 sampled targets in 100,000.
const PPM: u32 = 5_000;

/// A uniform draw in [0, 1) for (salt, device, stream): splitmix64.
fn unit(salt: u64, device: u64, stream: u64) -> f64 {
    let mut z = salt
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .wrapping_add(device.wrapping_mul(0xBF58_476D_1CE4_E5B9))
        .wrapping_add(stream.wrapping_mul(0x94D0_49BB_1331_11EB));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 53) as f64
}

struct Point {
    contained: u64,
    flagged: u64,
    width: f64,
}

#[test]
fn the_known_sample_interval_holds_the_true_coverage_for_each_campaign() {
    let ids: Vec<DeviceId> = (0..DEVICES)
        .map(|i| DeviceId::new(format!("dev-{i:07}")).unwrap())
        .collect();
    let losses = [0.0, 0.01, 0.05];
    // [loss][0 = at the deadline, 1 = after check-ins]
    let mut points: Vec<[Point; 2]> = losses
        .iter()
        .map(|_| {
            [0, 1].map(|_| Point {
                contained: 0,
                flagged: 0,
                width: 0.0,
            })
        })
        .collect();
    for salt_n in 0..SALTS {
        let mut salt = [0u8; 16];
        salt[..8].copy_from_slice(&(unit(salt_n, 0, 99).to_bits()).to_le_bytes());
        salt[8..].copy_from_slice(&salt_n.to_le_bytes());
        let mut campaign = devcare::spec::fixtures::campaign();
        campaign.salt = salt;
        campaign.schedule.sample_success_ppm = PPM;
        let in_sample: Vec<bool> = ids.iter().map(|d| sampled(&salt, d, PPM)).collect();
        let n = in_sample.iter().filter(|&&s| s).count() as u64;
        for (li, &loss) in losses.iter().enumerate() {
            let mut tally = Tally::default();
            let mut missed_sampled = 0;
            let mut missed = 0;
            for (i, &s) in in_sample.iter().enumerate() {
                let i = i as u64;
                if unit(salt_n, i, 1 + li as u64) < loss {
                    missed += 1;
                    missed_sampled += u64::from(s);
                } else if unit(salt_n, i, 10) < FAIL {
                    tally.reporters += 1;
                    tally.sampled_reporters += u64::from(s);
                } else if s {
                    tally.probes += 1;
                }
            }
            let truth = (DEVICES - missed) as f64 / DEVICES as f64;
            for (at, point) in points[li].iter_mut().enumerate() {
                let mut t = tally;
                if at == 1 {
                    t.behind = missed;
                    t.sampled_behind = missed_sampled;
                }
                let state = ServerState {
                    campaign: Some(campaign.clone()),
                    targeted: DEVICES,
                    tally: t,
                    sampled_targets: Some(n),
                    // Read at the deadline: no sampled device is pending any more.
                    clock: campaign.report_deadline(),
                    ..ServerState::default()
                };
                let cov = state.coverage().unwrap();
                assert_eq!(cov.basis, CoverageBasis::KnownSample);
                point.contained += u64::from(cov.lo <= truth && truth <= cov.hi);
                point.flagged += u64::from(cov.hi < 1.0);
                point.width += cov.hi - cov.lo;
            }
        }
    }
    for (li, loss) in losses.iter().enumerate() {
        for (at, when) in ["at the deadline", "after check-ins"].iter().enumerate() {
            let p = &points[li][at];
            let share = p.contained as f64 / SALTS as f64;
            let flagged = p.flagged as f64 / SALTS as f64;
            eprintln!(
                "loss {:>4.1}% {when:<16} contains the truth in {:>5.1}% of {SALTS} salts, flags a loss in {:>5.1}%, mean width {:.4}",
                loss * 100.0,
                share * 100.0,
                flagged * 100.0,
                p.width / SALTS as f64
            );
            assert!(share >= 0.93, "loss {loss} {when}: coverage {share}");
        }
    }
    // Detection at the deadline: a 1% loss is flagged in ≥ 90% of campaigns, none is
    // flagged without loss.
    assert!(points[1][0].flagged as f64 / SALTS as f64 >= 0.90);
    assert!(points[0][0].flagged as f64 / SALTS as f64 <= 0.05);
}
