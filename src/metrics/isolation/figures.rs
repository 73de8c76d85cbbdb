//! The isolation figures as plain functions of measured series, so each is tested on
//! known inputs and computed the same way for every scenario.

use crate::stats::{mean, sample_variance};

/// How far (in share of native, 0.10 = 10 percentage points) a window may lie from the
/// configured limit and still count as "at the limit" (IS-003, IS-004).
pub const LIMIT_BAND: f64 = 0.10;

/// Jain's fairness index of per-tenant throughputs (IS-008): 1 when all are equal,
/// 1/n when one tenant gets everything.
pub fn jain_index(throughputs: &[f64]) -> Option<f64> {
    let sum: f64 = throughputs.iter().sum();
    let squares: f64 = throughputs.iter().map(|x| x * x).sum();
    (!throughputs.is_empty() && squares > 0.0)
        .then(|| sum * sum / (throughputs.len() as f64 * squares))
}

/// Coefficient of variation (sample standard deviation over mean) of a series (IS-007).
pub fn cv(series: &[f64]) -> Option<f64> {
    if series.len() < 2 {
        return None;
    }
    let m = mean(series);
    (m > 0.0).then(|| sample_variance(series).sqrt() / m)
}

/// Fraction of windows whose share lies within [`LIMIT_BAND`] of `limit` (IS-003).
pub fn within_band(shares: &[f64], limit: f64) -> Option<f64> {
    (!shares.is_empty()).then(|| {
        shares
            .iter()
            .filter(|s| (*s - limit).abs() <= LIMIT_BAND)
            .count() as f64
            / shares.len() as f64
    })
}

/// Time until the share settles (IS-004): the start of the first window from which
/// every window lies within [`LIMIT_BAND`] of `limit`; `None` if it never does.
pub fn settling_s(shares: &[f64], limit: f64, window_s: f64) -> Option<f64> {
    let last_outside = shares.iter().rposition(|s| (*s - limit).abs() > LIMIT_BAND);
    match last_outside {
        None if !shares.is_empty() => Some(0.0),
        Some(i) if i + 1 < shares.len() => Some((i + 1) as f64 * window_s),
        _ => None,
    }
}

/// Relative loss of a victim's throughput beside an aggressor (IS-006): 0 is none.
pub fn interference(alone: f64, together: f64) -> Option<f64> {
    (alone > 0.0).then(|| 1.0 - together / alone)
}

/// Relative growth of a latency figure beside an aggressor (IS-009): 0 is none.
pub fn growth(alone: f64, together: f64) -> Option<f64> {
    (alone > 0.0).then(|| together / alone - 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jain_is_one_for_equal_shares_and_one_over_n_for_a_monopoly() {
        assert_eq!(jain_index(&[5.0, 5.0, 5.0, 5.0]), Some(1.0));
        assert_eq!(jain_index(&[8.0, 0.0, 0.0, 0.0]), Some(0.25));
        let j = jain_index(&[3.0, 1.0]).unwrap();
        assert!((j - 0.8).abs() < 1e-12, "{j}");
        assert_eq!(jain_index(&[]), None);
        assert_eq!(jain_index(&[0.0, 0.0]), None);
    }

    #[test]
    fn cv_is_the_sample_spread_over_the_mean() {
        let c = cv(&[1.0, 2.0, 3.0]).unwrap();
        assert!((c - 0.5).abs() < 1e-12, "{c}");
        assert_eq!(cv(&[4.0]), None);
        assert_eq!(cv(&[3.0, 3.0]), Some(0.0));
    }

    #[test]
    fn band_and_settling_use_ten_points_around_the_limit() {
        let shares = [0.9, 0.6, 0.3, 0.2, 0.28, 0.31];
        assert_eq!(within_band(&shares, 0.25), Some(4.0 / 6.0));
        assert_eq!(settling_s(&shares, 0.25, 0.5), Some(1.0));
        assert_eq!(settling_s(&[0.25, 0.26], 0.25, 0.5), Some(0.0));
        assert_eq!(settling_s(&[0.25, 0.9], 0.25, 0.5), None, "never settles");
        assert_eq!(settling_s(&[], 0.25, 0.5), None);
    }

    #[test]
    fn interference_and_growth_are_relative_to_alone() {
        assert_eq!(interference(100.0, 75.0), Some(0.25));
        assert_eq!(growth(2.0, 3.0), Some(0.5));
        assert_eq!(interference(0.0, 1.0), None);
    }
}
