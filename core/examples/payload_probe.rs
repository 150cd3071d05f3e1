//! The payload check outside criterion, one process at a time: the bench's signed
//! 32-setting payload, opened, applied and evaluated (`devcare`) or only verified
//! (`verify`), 30,000 times; or both in 3,000 interleaved pairs (no argument), printing the
//! median ratio. Run it several times: how much the bare signature check itself moves from
//! one process to the next is what it shows (`docs/performance.md`).
//!
//! `cargo run --release -p devcare --example payload_probe [verify|devcare]`

use std::time::Instant;

#[path = "../benches/common/interleaved.rs"]
mod interleaved;
#[path = "../benches/common/payload_case.rs"]
mod payload_case;

fn main() {
    let case = payload_case::PayloadCase::new();
    let n = 30_000;
    let alone = |f: &dyn Fn()| {
        let t = Instant::now();
        for _ in 0..n {
            f();
        }
        t.elapsed().as_secs_f64() * 1e6 / f64::from(n)
    };
    match std::env::args().nth(1).as_deref() {
        Some("verify") => println!("verify alone: {:.1} µs", alone(&|| case.verify())),
        Some("devcare") => println!("devcare alone: {:.1} µs", alone(&|| case.devcare())),
        _ => {
            let pairs = interleaved::pairs(3_000, || case.verify(), || case.devcare());
            let r = interleaved::sorted_ratios(&pairs, |verify, devcare| devcare / verify);
            println!("interleaved pairs: median devcare / verify {:.3}", r[1_500]);
        }
    }
}
