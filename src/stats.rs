//! Statistics shared by measuring and reporting: the same percentile and resampling
//! rules wherever a figure or its interval is computed.

use crate::error::{Error, Result};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Fixed so the same samples always give the same interval.
const SEED: u64 = 0x6770_752d_7669_7274;
const RESAMPLES: usize = 10_000;

pub(crate) fn mean(values: &[f64]) -> f64 {
    values.iter().sum::<f64>() / values.len() as f64
}

/// Sum of squared deviations from the mean: what sample and pooled variances are
/// built from.
pub(crate) fn squared_deviations(values: &[f64]) -> f64 {
    let centre = mean(values);
    values.iter().map(|x| (x - centre).powi(2)).sum()
}

/// Sample (n - 1) variance; needs two values or more.
pub(crate) fn sample_variance(values: &[f64]) -> f64 {
    squared_deviations(values) / (values.len() - 1) as f64
}

/// The median of `values` (NaN for none).
pub(crate) fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    if sorted.is_empty() {
        f64::NAN
    } else {
        percentile(&sorted, 50.0)
    }
}

/// `value` if it lies in [`low`, `high`], else an error naming `what`: a fraction or
/// efficiency past its physical bounds (beyond the noise the bounds allow) is a broken
/// measurement, never a result to clamp.
pub(crate) fn bounded(what: &str, value: f64, low: f64, high: f64) -> Result<f64> {
    if (low..=high).contains(&value) {
        Ok(value)
    } else {
        Err(Error::Invalid(format!(
            "{what} is {value:.3}, outside its bounds [{low}, {high}]: not physical, so the run is invalid"
        )))
    }
}

/// ||got - want|| / ||want|| over (got, want) pairs, the check every kernel passes
/// before it is timed. NaN anywhere makes the result NaN, which no tolerance accepts.
pub fn relative_error(pairs: impl IntoIterator<Item = (f64, f64)>) -> f64 {
    let (err2, ref2) = pairs.into_iter().fold((0.0, 0.0), |(e, r), (got, want)| {
        (e + (got - want).powi(2), r + want * want)
    });
    (err2 / ref2).sqrt()
}

/// Fills `into` with draws (with replacement) from `from`.
pub(crate) fn draw(from: &[f64], into: &mut [f64], rng: &mut ChaCha8Rng) {
    for slot in into {
        *slot = from[rng.random_range(0..from.len())];
    }
}

/// Linear interpolation between closest ranks, as Criterion's percentiles do.
pub(crate) fn percentile(sorted: &[f64], percent: f64) -> f64 {
    let rank = percent / 100.0 * (sorted.len() - 1) as f64;
    let floor = rank.floor() as usize;
    match sorted.get(floor + 1) {
        Some(&ceiling) => sorted[floor] + (ceiling - sorted[floor]) * (rank - rank.floor()),
        None => sorted[floor],
    }
}

/// Mean, median and the mean's 95 % bootstrap interval of samples taken outside
/// Criterion, in the same form as Criterion's estimates.
pub fn mean_median_ci(samples: &[f64]) -> Result<(f64, f64, f64, f64)> {
    if samples.len() < 2 || samples.iter().any(|s| !s.is_finite()) {
        return Err(Error::Invalid(format!(
            "{} sample(s), or a non-finite one: at least 2 finite samples are needed",
            samples.len()
        )));
    }
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    let mut rng = ChaCha8Rng::seed_from_u64(SEED);
    let mut resample = vec![0.0; samples.len()];
    let mut means: Vec<f64> = (0..RESAMPLES)
        .map(|_| {
            draw(samples, &mut resample, &mut rng);
            mean(&resample)
        })
        .collect();
    means.sort_by(f64::total_cmp);
    Ok((
        mean(samples),
        percentile(&sorted, 50.0),
        percentile(&means, 2.5),
        percentile(&means, 97.5),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_error_is_a_norm_ratio_and_nan_poisons_it() {
        let want = [3.0, 4.0];
        assert_eq!(relative_error(want.iter().map(|&w| (w, w))), 0.0);
        let e = relative_error([(3.0, 3.0), (4.5, 4.0)]);
        assert!((e - 0.1).abs() < 1e-12, "{e}");
        assert!(relative_error([(f64::NAN, 1.0)]).is_nan());
        assert!(
            relative_error([(0.0, 0.0)]).is_nan(),
            "an all-zero reference checks nothing"
        );
    }

    #[test]
    fn a_median_and_a_bound_are_what_they_say() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        assert!(median(&[]).is_nan());
        assert_eq!(bounded("x", 1.0, 0.0, 1.03).unwrap(), 1.0);
        let err = bounded("concurrency", 1.2, 0.0, 1.03)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("concurrency") && err.contains("1.200"),
            "{err}"
        );
        assert!(bounded("x", f64::NAN, 0.0, 1.0).is_err());
    }

    #[test]
    fn percentile_interpolates_between_ranks() {
        let sorted = [1.0, 2.0, 3.0, 4.0, 5.0];
        assert_eq!(percentile(&sorted, 50.0), 3.0);
        assert_eq!(percentile(&sorted, 100.0), 5.0);
        assert!((percentile(&sorted, 2.5) - 1.1).abs() < 1e-12);
    }

    #[test]
    fn interval_brackets_the_mean_and_shrinks_with_agreement() {
        let (m, med, lo, hi) = mean_median_ci(&[1.0, 2.0, 3.0, 4.0, 10.0]).unwrap();
        assert_eq!((m, med), (4.0, 3.0));
        assert!(lo < m && m < hi, "{lo} {m} {hi}");
        let (_, _, lo2, hi2) = mean_median_ci(&[4.0, 4.0, 4.0, 4.0]).unwrap();
        assert_eq!((lo2, hi2), (4.0, 4.0));
    }

    #[test]
    fn too_few_or_non_finite_samples_are_refused() {
        assert!(mean_median_ci(&[1.0]).is_err());
        assert!(mean_median_ci(&[1.0, f64::NAN]).is_err());
    }
}
