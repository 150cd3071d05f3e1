//! Where the stack sits moves the payload bench's baseline: the bench's bare ed25519
//! `verify_strict`, timed in 600 interleaved pairs against itself run deeper in the stack,
//! one depth (`at_stack_offset`, 64 bytes or more a frame) at a time. Prints the median
//! ratio per depth. With address randomisation off (`setarch -R`) the same depths show the
//! same ratios run after run; with it on, each process draws its own.
//!
//! `cargo run --release -p devcare --example stack_probe`

use std::time::Instant;

#[path = "../benches/common/interleaved.rs"]
#[allow(dead_code)]
mod interleaved;
#[path = "../benches/common/payload_case.rs"]
#[allow(dead_code)]
mod payload_case;

fn main() {
    let case = payload_case::PayloadCase::new();
    let mut line = Vec::new();
    for depth in (0..interleaved::STACK_OFFSETS).step_by(4) {
        let mut ratios: Vec<f64> = (0..600)
            .map(|_| {
                let mut shallow = 0.0;
                interleaved::at_stack_offset(0, &mut || {
                    let t = Instant::now();
                    case.verify();
                    shallow = t.elapsed().as_secs_f64();
                });
                let mut deep = 0.0;
                interleaved::at_stack_offset(depth, &mut || {
                    let t = Instant::now();
                    case.verify();
                    deep = t.elapsed().as_secs_f64();
                });
                deep / shallow
            })
            .collect();
        ratios.sort_by(f64::total_cmp);
        line.push(format!("{depth}:{:.2}", ratios[300]));
    }
    println!(
        "verify_strict at depth / at depth 0 (median of 600 pairs): {}",
        line.join(" ")
    );
}
