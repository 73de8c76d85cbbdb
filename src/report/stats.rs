//! Whether a configuration differs from native, decided the way Criterion decides
//! between a run and its baseline, so the report agrees with what `cargo bench`
//! would have printed for the same two samples. The resampling is seeded, so the
//! same baselines always give the same report.

use crate::baseline::Better;
use crate::stats::{draw, mean, percentile, sample_variance, squared_deviations};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use statrs::distribution::{ContinuousCDF, StudentsT};

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
    /// One round only: one block per configuration cannot tell drift of the machine
    /// between blocks from the configuration's cost, so the change is shown with its
    /// interval but not called significant either way.
    NotTested,
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

/// The scatter of per-round changes about their configuration's mean change, pooled
/// over every configuration of one metric (as an analysis of variance pools its
/// residuals). Each change is one round of a configuration against native's round of
/// the same number, so drift shared by a round cancels; drift between one
/// configuration's block and the next does not, and shows as this scatter. Pooling
/// assumes that drift is the host's and alike for every configuration of the metric;
/// it gives the test degrees of freedom that one configuration's two rounds lack.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RoundScatter {
    /// Pooled variance of the log ratios ln(1 + change).
    variance: f64,
    freedom: f64,
}

impl RoundScatter {
    /// Pools the rounds of every configuration that has two or more; `None` when none has.
    pub fn pooled(per_config: &[&[f64]]) -> Option<Self> {
        let (squares, freedom) = per_config
            .iter()
            .filter(|changes| changes.len() >= 2)
            .map(|changes| {
                let logs: Vec<f64> = changes.iter().map(|c| c.ln_1p()).collect();
                (squared_deviations(&logs), (logs.len() - 1) as f64)
            })
            .fold((0.0, 0.0), |(s, f), (ds, df)| (s + ds, f + df));
        (freedom > 0.0).then(|| Self {
            variance: squares / freedom,
            freedom,
        })
    }

    /// Whether one configuration's per-round changes show a change at
    /// [`SIGNIFICANCE_LEVEL`]: Student's t of their mean log ratio against this scatter.
    pub fn agree(&self, changes: &[f64]) -> bool {
        let logs: Vec<f64> = changes.iter().map(|c| c.ln_1p()).collect();
        let centre = mean(&logs);
        if self.variance == 0.0 {
            return centre != 0.0;
        }
        let t = centre / (self.variance / logs.len() as f64).sqrt();
        StudentsT::new(0.0, 1.0, self.freedom)
            .map(|dist| 2.0 * (1.0 - dist.cdf(t.abs())) < SIGNIFICANCE_LEVEL)
            .unwrap_or(false)
    }
}

/// Welch's t of `a` against `b`, with sample (n - 1) variances.
fn welch_t(a: &[f64], b: &[f64]) -> f64 {
    let (mean_a, mean_b) = (mean(a), mean(b));
    let spread = sample_variance(a) / a.len() as f64 + sample_variance(b) / b.len() as f64;
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

    /// Two rounds each of HAMi-core at 100, 50 and 25 % against native (OH-005 on the
    /// H100, as relative changes).
    const DRIVER_VERSION: [[f64; 2]; 3] = [[11.623, 15.029], [10.993, 14.440], [6.111, 12.171]];
    const CTX_GET_DEVICE: [[f64; 2]; 3] = [[0.151, 0.283], [-0.214, -0.087], [-0.234, -0.113]];

    fn scatter(rounds: &[[f64; 2]; 3]) -> RoundScatter {
        let per_config: Vec<&[f64]> = rounds.iter().map(|r| r.as_slice()).collect();
        RoundScatter::pooled(&per_config).unwrap()
    }

    #[test]
    fn a_change_far_beyond_the_pooled_scatter_holds() {
        let pooled = scatter(&DRIVER_VERSION);
        assert_eq!(pooled.freedom, 3.0);
        // Alone, hami-25's two rounds (+611 % and +1217 %) scatter too much for one
        // degree of freedom; against the pooled scatter they hold.
        assert!(DRIVER_VERSION.iter().all(|rounds| pooled.agree(rounds)));
        assert!(!RoundScatter::pooled(&[&DRIVER_VERSION[2]])
            .unwrap()
            .agree(&DRIVER_VERSION[2]));
    }

    #[test]
    fn a_change_within_the_pooled_scatter_does_not_hold() {
        let pooled = scatter(&CTX_GET_DEVICE);
        assert!(CTX_GET_DEVICE.iter().all(|rounds| !pooled.agree(rounds)));
    }

    #[test]
    fn rounds_that_disagree_in_sign_do_not_hold() {
        let rounds = [-0.034, 0.114];
        assert!(!RoundScatter::pooled(&[&rounds]).unwrap().agree(&rounds));
    }

    #[test]
    fn identical_rounds_hold_unless_they_show_no_change() {
        let same = [-0.1, -0.1];
        assert!(RoundScatter::pooled(&[&same]).unwrap().agree(&same));
        let none = [0.0, 0.0];
        assert!(!RoundScatter::pooled(&[&none]).unwrap().agree(&none));
    }

    #[test]
    fn one_round_gives_no_scatter() {
        assert_eq!(RoundScatter::pooled(&[&[0.05]]), None);
        assert_eq!(RoundScatter::pooled(&[]), None);
    }

    #[test]
    fn constant_equal_samples_are_no_change() {
        let result = compare(&[5.0, 5.0, 5.0], &[5.0, 5.0], Better::Lower);
        assert_eq!(result.verdict, Verdict::NoChange);
        assert_eq!(result.change_mean, 0.0);
    }
}
