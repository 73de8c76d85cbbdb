//! Whether a configuration differs from native, decided the way Criterion decides
//! between a run and its baseline, so the report agrees with what `cargo bench`
//! would have printed for the same two samples. The resampling is seeded, so the
//! same baselines always give the same report.

use crate::baseline::Better;
use crate::stats::{draw, mean, percentile};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

/// Criterion's default significance level.
pub const SIGNIFICANCE_LEVEL: f64 = 0.05;
/// Criterion's default noise threshold: a relative change of the mean whose whole
/// confidence interval lies within this is not worth reporting.
pub const NOISE_THRESHOLD: f64 = 0.01;
/// Confidence level of the change's interval.
pub const CONFIDENCE_LEVEL: f64 = 0.95;
/// Fewer than Criterion's 100 000: the p-value and interval settle well before, and
/// a report compares every metric of every configuration.
pub const RESAMPLES: usize = 10_000;
const SEED: u64 = 0x6770_7576_6972_7462;

/// What a comparison concluded, in the metric's own sense of better.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Significantly worse, beyond the noise threshold.
    Regressed,
    /// Significantly better, beyond the noise threshold.
    Improved,
    /// Not significant at [`SIGNIFICANCE_LEVEL`].
    NoChange,
    /// Significant, but the change's interval reaches inside [`NOISE_THRESHOLD`].
    WithinNoise,
}

/// A configuration's samples against native's, relative changes as fractions
/// (0.032 = +3.2 %).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Comparison {
    pub change_mean: f64,
    /// Bounds of the [`CONFIDENCE_LEVEL`] bootstrap interval of `change_mean`.
    pub ci_low: f64,
    pub ci_high: f64,
    pub p_value: f64,
    pub verdict: Verdict,
}

/// Compares `new` against `base`, both per-iteration values of at least two samples
/// each, moving the same way as the metric whose improvement `better` names.
pub fn compare(base: &[f64], new: &[f64], better: Better) -> Comparison {
    let mut rng = ChaCha8Rng::seed_from_u64(SEED);
    let p_value = p_value(base, new, &mut rng);
    let (ci_low, ci_high) = change_interval(base, new, &mut rng);
    let larger = ci_low > NOISE_THRESHOLD && ci_high > NOISE_THRESHOLD;
    let smaller = ci_low < -NOISE_THRESHOLD && ci_high < -NOISE_THRESHOLD;
    let verdict = if p_value >= SIGNIFICANCE_LEVEL {
        Verdict::NoChange
    } else {
        match (larger, smaller, better) {
            (true, _, Better::Lower) | (_, true, Better::Higher) => Verdict::Regressed,
            (true, _, Better::Higher) | (_, true, Better::Lower) => Verdict::Improved,
            _ => Verdict::WithinNoise,
        }
    };
    Comparison {
        change_mean: mean(new) / mean(base) - 1.0,
        ci_low,
        ci_high,
        p_value,
        verdict,
    }
}

/// Two-tailed p-value of Welch's t: how often the t of two samples drawn from the
/// pooled values (the null hypothesis: one distribution) is at least as extreme.
fn p_value(base: &[f64], new: &[f64], rng: &mut ChaCha8Rng) -> f64 {
    let t = welch_t(new, base);
    if t.is_nan() {
        return 1.0;
    }
    let pooled: Vec<f64> = new.iter().chain(base).copied().collect();
    let mut resample = vec![0.0; pooled.len()];
    let mut total = 0usize;
    let mut below = 0usize;
    for _ in 0..RESAMPLES {
        draw(&pooled, &mut resample, rng);
        let (a, b) = resample.split_at(new.len());
        let resampled_t = welch_t(a, b);
        if resampled_t.is_finite() {
            total += 1;
            below += usize::from(resampled_t < t);
        }
    }
    if total == 0 {
        return 1.0;
    }
    below.min(total - below) as f64 / total as f64 * 2.0
}

/// Percentile interval of `mean(new) / mean(base) - 1` over independent resamples
/// of each sample.
fn change_interval(base: &[f64], new: &[f64], rng: &mut ChaCha8Rng) -> (f64, f64) {
    let mut base_resample = vec![0.0; base.len()];
    let mut new_resample = vec![0.0; new.len()];
    let mut changes: Vec<f64> = (0..RESAMPLES)
        .map(|_| {
            draw(base, &mut base_resample, rng);
            draw(new, &mut new_resample, rng);
            mean(&new_resample) / mean(&base_resample) - 1.0
        })
        .collect();
    changes.sort_by(f64::total_cmp);
    (
        percentile(&changes, 50.0 * (1.0 - CONFIDENCE_LEVEL)),
        percentile(&changes, 50.0 * (1.0 + CONFIDENCE_LEVEL)),
    )
}

/// Welch's t of `a` against `b`, with sample (n - 1) variances.
fn welch_t(a: &[f64], b: &[f64]) -> f64 {
    let variance = |values: &[f64], mean: f64| {
        values.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (values.len() - 1) as f64
    };
    let (mean_a, mean_b) = (mean(a), mean(b));
    let spread = variance(a, mean_a) / a.len() as f64 + variance(b, mean_b) / b.len() as f64;
    (mean_a - mean_b) / spread.sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::Rng;

    /// `n` values around `centre` with relative spread `spread`, reproducibly.
    fn sample(centre: f64, spread: f64, n: usize, seed: u64) -> Vec<f64> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        (0..n)
            .map(|_| centre * (1.0 + spread * rng.random_range(-1.0..1.0)))
            .collect()
    }

    #[test]
    fn same_distribution_is_no_change() {
        let result = compare(
            &sample(100.0, 0.05, 50, 1),
            &sample(100.0, 0.05, 50, 2),
            Better::Lower,
        );
        assert_eq!(result.verdict, Verdict::NoChange, "{result:?}");
        assert!(result.p_value >= SIGNIFICANCE_LEVEL);
        assert!(result.ci_low < 0.0 && result.ci_high > 0.0, "{result:?}");
    }

    #[test]
    fn clear_increase_regresses_a_lower_is_better_metric() {
        let result = compare(
            &sample(100.0, 0.05, 50, 1),
            &sample(120.0, 0.05, 50, 2),
            Better::Lower,
        );
        assert_eq!(result.verdict, Verdict::Regressed, "{result:?}");
        assert!(result.p_value < 0.001);
        assert!((result.change_mean - 0.2).abs() < 0.03, "{result:?}");
        assert!(result.ci_low < result.change_mean && result.change_mean < result.ci_high);
    }

    #[test]
    fn direction_follows_better() {
        let base = sample(100.0, 0.05, 50, 1);
        let lower = sample(80.0, 0.05, 50, 2);
        assert_eq!(
            compare(&base, &lower, Better::Lower).verdict,
            Verdict::Improved
        );
        assert_eq!(
            compare(&base, &lower, Better::Higher).verdict,
            Verdict::Regressed
        );
        let higher = sample(120.0, 0.05, 50, 3);
        assert_eq!(
            compare(&base, &higher, Better::Higher).verdict,
            Verdict::Improved
        );
    }

    #[test]
    fn half_percent_shift_is_within_noise() {
        let result = compare(
            &sample(100.0, 0.001, 50, 1),
            &sample(100.5, 0.001, 50, 2),
            Better::Lower,
        );
        assert!(result.p_value < SIGNIFICANCE_LEVEL, "{result:?}");
        assert_eq!(result.verdict, Verdict::WithinNoise, "{result:?}");
    }

    #[test]
    fn seeded_resampling_is_reproducible() {
        let base = sample(100.0, 0.05, 30, 1);
        let new = sample(103.0, 0.05, 30, 2);
        assert_eq!(
            compare(&base, &new, Better::Lower),
            compare(&base, &new, Better::Lower)
        );
    }

    #[test]
    fn constant_equal_samples_are_no_change() {
        let result = compare(&[5.0, 5.0, 5.0], &[5.0, 5.0], Better::Lower);
        assert_eq!(result.verdict, Verdict::NoChange);
        assert_eq!(result.change_mean, 0.0);
    }
}
