//! The payload check outside criterion, one process at a time: the bench's signed
//! 32-setting payload, opened, applied and evaluated (`devcare`), only verified (`verify`),
//! or decoded, validated, applied and evaluated without its signature check (`unsigned`,
//! devcare's own share), 32,000 times at 64 stack placements; or `devcare` and `verify` in
//! 3,200 interleaved pairs (no argument), printing the median ratio. Run it several times:
//! each process draws its own memory layout (`docs/performance.md`).
//!
//! `cargo run --release -p devcare --example payload_probe [verify|devcare|unsigned]`

use std::time::Instant;

#[path = "../benches/common/interleaved.rs"]
mod interleaved;
#[path = "../benches/common/payload_case.rs"]
mod payload_case;

fn main() {
    let case = payload_case::PayloadCase::new();
    let n = 32_000;
    let alone = |f: &dyn Fn()| {
        let t = Instant::now();
        for i in 0..n {
            interleaved::at_stack_offset(i, &mut || f());
        }
        t.elapsed().as_secs_f64() * 1e6 / n as f64
    };
    match std::env::args().nth(1).as_deref() {
        Some("verify") => println!("verify alone: {:.2} µs", alone(&|| case.verify())),
        Some("devcare") => println!("devcare alone: {:.2} µs", alone(&|| case.devcare())),
        Some("unsigned") => println!("unsigned alone: {:.2} µs", alone(&|| case.unsigned())),
        _ => {
            let pairs = interleaved::pairs(3_200, || case.verify(), || case.devcare());
            let r = interleaved::sorted_ratios(&pairs, |verify, devcare| devcare / verify);
            println!("interleaved pairs: median devcare / verify {:.3}", r[1_600]);
        }
    }
}
