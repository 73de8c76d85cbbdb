//! Where each figure of a summary entry comes from, and whether its figures agree.
//!
//! Criterion's median is the median of its samples' per-iteration means; the p1, p50
//! and p99 are per call, from an HDR histogram. The suite records into that histogram
//! every call Criterion times ([`Pass::TimedCalls`]), so both describe the same
//! calls; baselines written before that took the percentiles from a separate
//! per-call pass ([`Pass::PerCall`]), at another moment. Either way the two can
//! disagree: a separate pass can catch the allocator or the host in another state,
//! and a median of means is no per-call median where a few calls take far longer
//! than the rest (1 GiB cuMemAlloc back to back: most calls ~0.2 ms, some ~9 ms).
//! A row whose p99 lies below its median, or whose median is far from its p50,
//! cannot be read as if its columns agreed: it is marked [`Unstable`], with both
//! figures.

use super::SummaryEntry;
use serde::{Deserialize, Serialize};

/// Most the Criterion median and the per-call p50 may differ by, as a ratio, before
/// the two passes are said to disagree.
pub const MAX_MEDIAN_RATIO: f64 = 2.0;

/// A measurement that figures of a summary entry are read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Pass {
    /// Criterion's samples: the per-iteration time of each of its samples.
    Criterion,
    /// A per-call pass run before Criterion's, in baselines saved before the calls
    /// Criterion timed were recorded: each timed region recorded into an HDR
    /// histogram (divided by `calls_per_record`).
    PerCall,
    /// Every call Criterion timed, its warm-up included, recorded one by one into an
    /// HDR histogram (divided by `calls_per_record`): the calls behind its samples.
    TimedCalls,
    /// The samples kept in summary.json, for figures Criterion cannot sample; their
    /// percentiles, where there are any, come from the same samples.
    Samples,
}

/// Which pass an entry's figures come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Passes {
    /// Of the median, the mean and the mean's interval.
    pub median_mean: Pass,
    /// Of p1, p50 and p99; `None` where the entry has none.
    pub percentiles: Option<Pass>,
}

impl Passes {
    /// Whether the median and the percentiles are different statistics (a median of
    /// per-sample means against per-call percentiles, or figures of two passes), so
    /// that nothing keeps the median between p1 and p99.
    pub fn are_separate(&self) -> bool {
        self.percentiles
            .is_some_and(|percentiles| percentiles != self.median_mean)
    }
}

/// How Criterion's median fails to agree with the per-call pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Disagreement {
    /// The median is below the per-call p1.
    MedianBelowP1,
    /// The median is above the per-call p99.
    MedianAboveP99,
    /// The median and the per-call p50 are more than [`MAX_MEDIAN_RATIO`] apart.
    MediansApart,
}

/// A row whose Criterion median and per-call pass disagree, with both passes' figures
/// in the entry's unit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Unstable {
    pub criterion_median: f64,
    pub per_call_p50: f64,
    /// `None` in summaries written before the per-call pass recorded p1.
    pub per_call_p1: Option<f64>,
    pub per_call_p99: f64,
    /// Every check that failed, in the order of [`Disagreement`].
    pub disagreements: Vec<Disagreement>,
}

impl Unstable {
    /// Checks Criterion's `median` against the per-call pass's percentiles: the
    /// median must lie within p1..p99 (p1 where it was recorded) and within
    /// [`MAX_MEDIAN_RATIO`] of p50. `None` when the passes agree.
    pub fn check(median: f64, p1: Option<f64>, p50: f64, p99: f64) -> Option<Self> {
        let ratio = median.max(p50) / median.min(p50);
        let disagreements: Vec<Disagreement> = [
            (
                p1.is_some_and(|p1| median < p1),
                Disagreement::MedianBelowP1,
            ),
            (median > p99, Disagreement::MedianAboveP99),
            (
                ratio > MAX_MEDIAN_RATIO || ratio.is_nan(),
                Disagreement::MediansApart,
            ),
        ]
        .into_iter()
        .filter_map(|(failed, disagreement)| failed.then_some(disagreement))
        .collect();
        (!disagreements.is_empty()).then_some(Self {
            criterion_median: median,
            per_call_p50: p50,
            per_call_p1: p1,
            per_call_p99: p99,
            disagreements,
        })
    }
}

impl SummaryEntry {
    /// The passes as recorded; for summaries written before they were, read off the
    /// entry, as the tool that wrote it measured: an entry with Criterion files has
    /// Criterion's median and per-call percentiles, one without has its samples.
    pub fn passes(&self) -> Passes {
        self.passes.unwrap_or_else(|| {
            let median_mean = match self.criterion_path {
                Some(_) => Pass::Criterion,
                None => Pass::Samples,
            };
            let percentiles = self.p99.map(|_| match median_mean {
                Pass::Criterion => Pass::PerCall,
                _ => Pass::Samples,
            });
            Passes {
                median_mean,
                percentiles,
            }
        })
    }

    /// Whether the row's two passes disagree. A summary that records its passes was
    /// checked when it was written, and its marker is taken as recorded; one written
    /// before the check is checked now, from its figures.
    pub fn instability(&self) -> Option<Unstable> {
        if self.passes.is_some() {
            return self.unstable.clone();
        }
        self.check_passes()
    }

    /// [`Unstable::check`] of the entry's figures, where its median and percentiles
    /// come from separate passes.
    pub fn check_passes(&self) -> Option<Unstable> {
        if !self.passes().are_separate() {
            return None;
        }
        Unstable::check(self.median, self.p1, self.p50?, self.p99?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::baseline::Better;

    fn disagreements(median: f64, p1: Option<f64>, p50: f64, p99: f64) -> Vec<Disagreement> {
        Unstable::check(median, p1, p50, p99).map_or_else(Vec::new, |u| u.disagreements)
    }

    #[test]
    fn a_median_within_the_per_call_range_and_near_its_p50_is_stable() {
        assert_eq!(Unstable::check(4.0, Some(3.6), 3.96, 6.4), None);
        assert_eq!(Unstable::check(4.0, None, 2.01, 6.4), None, "just under 2x");
        assert_eq!(
            Unstable::check(3.6, Some(3.6), 3.6, 3.6),
            None,
            "bounds hold"
        );
    }

    #[test]
    fn a_median_above_the_p99_is_unstable_with_both_passes_figures() {
        // OH-002 1 GiB native on the H100: median 1784 us, p99 577 us.
        let unstable = Unstable::check(1784.0, Some(120.0), 141.0, 577.0).unwrap();
        assert_eq!(
            unstable,
            Unstable {
                criterion_median: 1784.0,
                per_call_p50: 141.0,
                per_call_p1: Some(120.0),
                per_call_p99: 577.0,
                disagreements: vec![Disagreement::MedianAboveP99, Disagreement::MediansApart],
            }
        );
    }

    #[test]
    fn a_median_below_the_p1_is_unstable() {
        assert_eq!(
            disagreements(3.0, Some(3.5), 4.0, 6.0),
            [Disagreement::MedianBelowP1]
        );
        assert_eq!(disagreements(3.0, None, 4.0, 6.0), [], "no p1 recorded");
    }

    #[test]
    fn medians_more_than_twice_apart_are_unstable_either_way() {
        assert_eq!(
            disagreements(10.0, Some(1.0), 4.9, 20.0),
            [Disagreement::MediansApart]
        );
        assert_eq!(
            disagreements(10.0, Some(1.0), 20.5, 30.0),
            [Disagreement::MediansApart]
        );
    }

    fn entry(criterion: bool, p50: Option<f64>, p99: Option<f64>) -> SummaryEntry {
        SummaryEntry {
            id: "OH-002".into(),
            variant: "1GiB".into(),
            unit: "us".into(),
            better: Better::Lower,
            median: 1784.0,
            mean: 1800.0,
            ci_low: 1790.0,
            ci_high: 1810.0,
            p1: None,
            p50,
            p99,
            harness_floor: None,
            calls_per_record: Some(1),
            criterion_path: criterion.then(|| "overhead/OH-002/1GiB".into()),
            samples: (!criterion).then(|| vec![1784.0, 1785.0]),
            category: None,
            work_per_iteration: None,
            peak: None,
            measured_peak: None,
            kernel: None,
            passes: None,
            unstable: None,
        }
    }

    #[test]
    fn an_old_summary_is_checked_from_its_figures() {
        let old = entry(true, Some(141.0), Some(577.0));
        assert_eq!(
            old.passes(),
            Passes {
                median_mean: Pass::Criterion,
                percentiles: Some(Pass::PerCall)
            }
        );
        let unstable = old.instability().expect("median above p99");
        assert_eq!(unstable.per_call_p1, None);
        assert_eq!(
            entry(true, None, None).instability(),
            None,
            "no percentiles"
        );
    }

    #[test]
    fn percentiles_of_the_same_samples_are_not_checked() {
        let sampled = entry(false, Some(141.0), Some(577.0));
        assert_eq!(
            sampled.passes(),
            Passes {
                median_mean: Pass::Samples,
                percentiles: Some(Pass::Samples)
            }
        );
        assert!(!sampled.passes().are_separate());
        assert_eq!(sampled.instability(), None);
    }

    #[test]
    fn a_summary_that_records_its_passes_is_taken_as_recorded() {
        let recorded = SummaryEntry {
            passes: Some(Passes {
                median_mean: Pass::Criterion,
                percentiles: Some(Pass::PerCall),
            }),
            ..entry(true, Some(141.0), Some(577.0))
        };
        assert_eq!(
            recorded.instability(),
            None,
            "the writer found it stable, and a reader does not second-guess it"
        );
        assert!(recorded.check_passes().is_some());
    }
}
