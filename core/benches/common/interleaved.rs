//! Two measurements taken back to back, pair after pair: a neighbour's burst on a shared
//! machine hits both halves of a pair alike, where it may hit only one of two criterion
//! runs. Shared by the benches and `examples/payload_probe.rs` (`#[path]`).

use std::time::Instant;

/// Runs `a` then `b`, `n` times; returns each pair's times in seconds.
pub(crate) fn pairs(n: usize, mut a: impl FnMut(), mut b: impl FnMut()) -> Vec<(f64, f64)> {
    (0..n)
        .map(|_| {
            let t0 = Instant::now();
            a();
            let t1 = Instant::now();
            b();
            let t2 = Instant::now();
            ((t1 - t0).as_secs_f64(), (t2 - t1).as_secs_f64())
        })
        .collect()
}

/// The pairs' ratios `f(a, b)`, sorted.
pub(crate) fn sorted_ratios(pairs: &[(f64, f64)], f: impl Fn(f64, f64) -> f64) -> Vec<f64> {
    let mut r: Vec<f64> = pairs.iter().map(|&(a, b)| f(a, b)).collect();
    r.sort_by(f64::total_cmp);
    r
}
