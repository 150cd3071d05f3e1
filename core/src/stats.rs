//! Small statistics helpers.

use serde::{Deserialize, Serialize};

/// An estimated share with its 95% confidence interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Coverage {
    /// Point estimate.
    pub estimate: f64,
    /// Lower bound (95%).
    pub lo: f64,
    /// Upper bound (95%).
    pub hi: f64,
    /// What the interval is conditioned on.
    pub basis: CoverageBasis,
}

/// What a coverage interval is conditioned on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CoverageBasis {
    /// The number of sampled targets is known (counted over the target list or the host's
    /// directory): the interval is valid for this campaign.
    KnownSample,
    /// Only the sampling rate is known: the interval is valid on average over campaigns
    /// (salts), and one campaign's sample can be unlucky.
    Design,
}

impl CoverageBasis {
    /// `"known-sample"` or `"design"`.
    pub fn name(self) -> &'static str {
        match self {
            CoverageBasis::KnownSample => "known-sample",
            CoverageBasis::Design => "design",
        }
    }
}

/// z for a two-sided 95% interval.
const Z95: f64 = 1.959_963_984_540_054;

/// Wilson score interval for `successes` out of `trials` at 95%: `(p̂, lo, hi)`.
/// With no trials the share is unknown: `(0, 0, 1)`.
pub fn wilson_interval(successes: u64, trials: u64) -> (f64, f64, f64) {
    if trials == 0 {
        return (0.0, 0.0, 1.0);
    }
    let n = trials as f64;
    let p = (successes.min(trials) as f64) / n;
    let z2 = Z95 * Z95;
    let denom = 1.0 + z2 / n;
    let centre = (p + z2 / (2.0 * n)) / denom;
    let half = Z95 * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt() / denom;
    // At the edges the bounds are exactly 0 and 1; floating point would miss them by an ulp.
    let lo = if successes == 0 {
        0.0
    } else {
        (centre - half).max(0.0)
    };
    let hi = if successes >= trials {
        1.0
    } else {
        (centre + half).min(1.0)
    };
    (p, lo, hi)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wilson_matches_a_textbook_value() {
        // 81 of 263 (Wilson 1927 style example): 95% CI ≈ [0.2553, 0.3662].
        let (p, lo, hi) = wilson_interval(81, 263);
        assert!((p - 0.30798).abs() < 1e-4);
        assert!((lo - 0.2553).abs() < 1e-3, "lo {lo}");
        assert!((hi - 0.3662).abs() < 1e-3, "hi {hi}");
    }

    #[test]
    fn wilson_handles_the_edges() {
        assert_eq!(wilson_interval(0, 0), (0.0, 0.0, 1.0));
        let (p, lo, hi) = wilson_interval(0, 10);
        assert_eq!((p, lo), (0.0, 0.0));
        assert!(hi > 0.2 && hi < 0.35);
        let (p, _, hi) = wilson_interval(10, 10);
        assert_eq!((p, hi), (1.0, 1.0));
    }
}
