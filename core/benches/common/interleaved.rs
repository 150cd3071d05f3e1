//! Two measurements taken back to back, pair after pair: a neighbour's burst on a shared
//! machine hits both halves of a pair alike, where it may hit only one of two criterion
//! runs. Shared by the benches and `examples/payload_probe.rs` (`#[path]`).

use std::time::Instant;

/// Runs `a` then `b`, `n` times; returns each pair's times in seconds. Pair `i` runs both
/// halves at stack offset `i` (see [`at_stack_offset`]): the pairs sample a page's worth of
/// placements, each half alike.
pub(crate) fn pairs(n: usize, mut a: impl FnMut(), mut b: impl FnMut()) -> Vec<(f64, f64)> {
    (0..n)
        .map(|i| {
            let mut times = (0.0, 0.0);
            at_stack_offset(i, &mut || {
                let t0 = Instant::now();
                a();
                let t1 = Instant::now();
                b();
                let t2 = Instant::now();
                times = ((t1 - t0).as_secs_f64(), (t2 - t1).as_secs_f64());
            });
            times
        })
        .collect()
}

/// How many stack placements [`at_stack_offset`] cycles through: 64 frames of at least 64
/// bytes (96 in the release build), more than a 4 KiB page.
pub(crate) const STACK_OFFSETS: usize = 64;

/// Runs `f` with the stack `i % STACK_OFFSETS` frames deeper than at offset 0.
///
/// Where the stack sits decides how fast the same code runs: the same `verify_strict` of the
/// same bytes took 12–23 % longer about 3 KiB deeper, at the same depths in every run with
/// address randomisation off (`examples/stack_probe.rs`). A measurement taken at one
/// placement measures the placement as much as the code; cycling through a page's worth of
/// them measures the code.
pub(crate) fn at_stack_offset(i: usize, f: &mut dyn FnMut()) {
    #[inline(never)]
    fn deeper(depth: usize, f: &mut dyn FnMut()) {
        let frame = std::hint::black_box([0u8; 64]);
        if depth == 0 {
            f();
        } else {
            deeper(depth - 1, f);
        }
        std::hint::black_box(&frame);
    }
    deeper(i % STACK_OFFSETS, f);
}

/// The pairs' ratios `f(a, b)`, sorted.
pub(crate) fn sorted_ratios(pairs: &[(f64, f64)], f: impl Fn(f64, f64) -> f64) -> Vec<f64> {
    let mut r: Vec<f64> = pairs.iter().map(|&(a, b)| f(a, b)).collect();
    r.sort_by(f64::total_cmp);
    r
}
