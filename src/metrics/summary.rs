//! `summary.json` from what was measured: Criterion's estimates read back in the
//! metric's unit, throughputs as work over time, every throughput held to its
//! device's peak, and every per-call row checked against its per-call pass.

use super::{BenchEnv, Measured};
use crate::baseline::{
    read_json, write_json_atomic, Pass, Passes, PeakShare, Summary, SummaryEntry, PERCENTILES_FILE,
};
use crate::error::{Error, Result};
use crate::system::Peak;
use serde::Deserialize;

#[derive(Deserialize)]
struct Interval {
    lower_bound: f64,
    upper_bound: f64,
}

#[derive(Deserialize)]
struct Estimate {
    point_estimate: f64,
    confidence_interval: Interval,
}

#[derive(Deserialize)]
struct Estimates {
    mean: Estimate,
    median: Estimate,
}

/// Reads Criterion's estimates back, writes each variant's percentiles beside them,
/// and returns `summary.json`'s content with every value in the metric's unit.
/// A throughput above its device's peak is an error: it can only be a wrong count
/// or a broken timer, and must not be saved as a result. Each entry records which
/// pass its figures come from, and a row whose Criterion median disagrees with its
/// per-call pass is saved marked unstable, with both passes' figures.
pub fn summarize(env: &BenchEnv, measured: &[Measured]) -> Result<Summary> {
    let mut entries = Vec::with_capacity(measured.len());
    for m in measured {
        let per_unit = m.info.ns_per_unit;
        let (mean, median, ci_low, ci_high) = match (&m.criterion_path, &m.samples) {
            (Some(path), _) => {
                let dir = env.criterion_dir.join(path).join(&env.baseline);
                let est: Estimates = read_json(&dir.join("estimates.json"))?;
                if let Some(p) = &m.percentiles {
                    write_json_atomic(&dir.join(PERCENTILES_FILE), p)?;
                }
                let (mean, median) = (est.mean.point_estimate, est.median.point_estimate);
                let (low, high) = (
                    est.mean.confidence_interval.lower_bound,
                    est.mean.confidence_interval.upper_bound,
                );
                match m.work_per_op {
                    // A rate falls as time rises: the interval's ends swap.
                    Some(work) => {
                        let rate = |ns: f64| work / (ns * 1e-9);
                        (rate(mean), rate(median), rate(high), rate(low))
                    }
                    None => {
                        let scale = per_unit * f64::from(m.calls_per_op);
                        (mean / scale, median / scale, low / scale, high / scale)
                    }
                }
            }
            (None, Some(samples)) => crate::stats::mean_median_ci(samples)?,
            (None, None) => {
                return Err(Error::Invalid(format!(
                    "{}/{} has neither Criterion files nor samples",
                    m.info.id, m.variant
                )))
            }
        };
        let share = |peak: &Peak| PeakShare {
            source: peak.source.clone(),
            value: peak.value,
            fraction: median / peak.value,
        };
        let peak = m.peak.as_ref().map(share);
        let per_call = m.percentiles.as_ref().filter(|_| m.work_per_op.is_none());
        if let Some(p) = peak
            .as_ref()
            .filter(|p| p.fraction > 1.0 || p.fraction.is_nan())
        {
            return Err(Error::AbovePeak {
                what: format!("{}/{}", m.info.id, m.variant),
                value: median,
                unit: m.unit.to_string(),
                peak: p.value,
                source_: p.source.clone(),
            });
        }
        let (median_mean, percentiles) = match m.criterion_path {
            Some(_) => (Pass::Criterion, Pass::TimedCalls),
            None => (Pass::Samples, Pass::Samples),
        };
        let mut entry = SummaryEntry {
            id: m.info.id.to_string(),
            variant: m.variant.clone(),
            unit: m.unit.to_string(),
            better: m.info.better.direction().ok_or_else(|| {
                Error::Invalid(format!(
                    "{} has no lower-or-higher direction (best: {}), so it cannot be saved as a figure compared with native",
                    m.info.id,
                    m.info.better.word()
                ))
            })?,
            median,
            mean,
            ci_low,
            ci_high,
            // Per-call percentiles are times; a throughput has none to show.
            p1: per_call.and_then(|p| p.p1_ns).map(|ns| ns / per_unit),
            p50: per_call.map(|p| p.p50_ns / per_unit),
            p99: per_call.map(|p| p.p99_ns / per_unit),
            harness_floor: per_call
                .and_then(|p| p.harness_floor_ns)
                .map(|ns| ns / per_unit),
            calls_per_record: m.percentiles.as_ref().map(|p| p.calls_per_record),
            criterion_path: m.criterion_path.clone(),
            samples: m.samples.clone(),
            category: None,
            work_per_iteration: m.work_per_op,
            peak,
            measured_peak: m.measured_peak.as_ref().map(share),
            kernel: m.kernel.map(str::to_string),
            passes: Some(Passes {
                median_mean,
                percentiles: per_call.map(|_| percentiles),
            }),
            unstable: None,
        };
        entry.unstable = entry.check_passes();
        entries.push(entry);
    }
    Ok(Summary {
        config: env.baseline.clone(),
        entries,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::baseline::{Disagreement, Percentiles};
    use crate::metrics::{find, sampled};

    fn env_in(dir: &std::path::Path) -> BenchEnv {
        BenchEnv {
            criterion_dir: dir.to_path_buf(),
            baseline: "native".into(),
            quick: true,
            benchmarking: true,
            filter: None,
        }
    }

    fn peak(value: f64) -> Option<Peak> {
        Some(Peak {
            source: "test peak".into(),
            value,
        })
    }

    #[test]
    fn a_throughput_is_work_over_criterion_time_with_its_interval_reversed() {
        let dir = tempfile::tempdir().unwrap();
        let env = env_in(dir.path());
        let path = "llm/LLM-001/d128";
        let estimates = dir.path().join(path).join("native");
        std::fs::create_dir_all(&estimates).unwrap();
        // 2 TFLOP per iteration in 10 ms (median 8 ms; mean interval 9..12 ms).
        let estimate = |point: f64, low: f64, high: f64| serde_json::json!({"point_estimate": point, "confidence_interval": {"lower_bound": low, "upper_bound": high}});
        std::fs::write(
            estimates.join("estimates.json"),
            serde_json::json!({"mean": estimate(10e6, 9e6, 12e6), "median": estimate(8e6, 7e6, 9e6)}).to_string(),
        )
        .unwrap();
        let info = find("LLM-001").unwrap();
        let measured = Measured {
            info,
            variant: "d128".into(),
            unit: info.unit,
            work_per_op: Some(2.0),
            peak: peak(1000.0),
            measured_peak: peak(400.0),
            calls_per_op: 1,
            percentiles: None,
            criterion_path: Some(path.into()),
            samples: None,
            kernel: Some("flash_d128_sm90"),
        };
        let entry = summarize(&env, &[measured]).unwrap().entries.remove(0);
        assert!((entry.mean - 200.0).abs() < 1e-9, "{entry:?}");
        assert!((entry.median - 250.0).abs() < 1e-9, "{entry:?}");
        assert!(
            (entry.ci_low - 2.0 / 12e-3).abs() < 1e-9 && (entry.ci_high - 2.0 / 9e-3).abs() < 1e-9
        );
        assert_eq!(entry.work_per_iteration, Some(2.0));
        assert_eq!(entry.kernel.as_deref(), Some("flash_d128_sm90"));
        assert!((entry.peak.unwrap().fraction - 0.25).abs() < 1e-12);
        assert!((entry.measured_peak.unwrap().fraction - 0.625).abs() < 1e-12);
        assert_eq!(
            (entry.p50, entry.p99),
            (None, None),
            "no per-call times for a rate"
        );
    }

    #[test]
    fn a_metric_without_a_direction_is_refused_rather_than_saved_as_lower_or_higher() {
        let dir = tempfile::tempdir().unwrap();
        let info = find("IS-001").unwrap();
        let err = summarize(
            &env_in(dir.path()),
            &[sampled(info, "fill", vec![0.98, 0.99], None)],
        )
        .unwrap_err();
        assert!(
            err.to_string()
                .contains("IS-001 has no lower-or-higher direction (best: limit)"),
            "{err}"
        );
    }

    /// OH-002 1GiB with Criterion's median at `median_us` and a per-call pass of
    /// p1 120, p50 141 and p99 577 us, summarized.
    fn allocation_against_its_per_call_pass(median_us: f64) -> SummaryEntry {
        let dir = tempfile::tempdir().unwrap();
        let path = "overhead/OH-002/1GiB";
        let estimates = dir.path().join(path).join("native");
        std::fs::create_dir_all(&estimates).unwrap();
        let ns = median_us * 1e3;
        let estimate = |point: f64| serde_json::json!({"point_estimate": point, "confidence_interval": {"lower_bound": point * 0.99, "upper_bound": point * 1.01}});
        std::fs::write(
            estimates.join("estimates.json"),
            serde_json::json!({"mean": estimate(ns), "median": estimate(ns)}).to_string(),
        )
        .unwrap();
        let info = find("OH-002").unwrap();
        let measured = Measured {
            info,
            variant: "1GiB".into(),
            unit: info.unit,
            work_per_op: None,
            peak: None,
            measured_peak: None,
            calls_per_op: 1,
            percentiles: Some(Percentiles {
                count: 50,
                calls_per_record: 1,
                min_ns: 110e3,
                p1_ns: Some(120e3),
                p50_ns: 141e3,
                mean_ns: 158e3,
                p90_ns: 300e3,
                p99_ns: 577e3,
                max_ns: 600e3,
                harness_floor_ns: Some(0.03e3),
            }),
            criterion_path: Some(path.into()),
            samples: None,
            kernel: None,
        };
        let entry = summarize(&env_in(dir.path()), &[measured])
            .unwrap()
            .entries
            .remove(0);
        let written: Percentiles =
            read_json(&estimates.join(PERCENTILES_FILE)).expect("percentiles beside estimates");
        assert_eq!(written.p1_ns, Some(120e3));
        entry
    }

    #[test]
    fn each_entry_says_which_pass_its_figures_come_from() {
        let entry = allocation_against_its_per_call_pass(150.0);
        assert_eq!(
            entry.passes,
            Some(Passes {
                median_mean: Pass::Criterion,
                percentiles: Some(Pass::TimedCalls)
            })
        );
        assert_eq!(
            (entry.p1, entry.p50, entry.p99),
            (Some(120.0), Some(141.0), Some(577.0))
        );
        assert_eq!(
            entry.harness_floor,
            Some(0.03),
            "the floor in the entry's unit"
        );
        assert_eq!(
            entry.unstable, None,
            "150 us lies inside 120..577, near 141"
        );
        let sampled = summarize(
            &env_in(tempfile::tempdir().unwrap().path()),
            &[sampled(
                find("LLM-008").unwrap(),
                "bf16",
                vec![1.0, 2.0],
                None,
            )],
        )
        .unwrap()
        .entries
        .remove(0);
        assert_eq!(
            sampled.passes,
            Some(Passes {
                median_mean: Pass::Samples,
                percentiles: None
            })
        );
    }

    #[test]
    fn a_median_the_per_call_pass_does_not_bear_out_is_saved_unstable() {
        // The H100's OH-002 1GiB: Criterion's median 1784 us above the per-call p99.
        let entry = allocation_against_its_per_call_pass(1784.0);
        let unstable = entry.unstable.clone().expect("marked unstable");
        assert!((unstable.criterion_median - 1784.0).abs() < 1e-9);
        assert_eq!(
            (
                unstable.per_call_p1,
                unstable.per_call_p50,
                unstable.per_call_p99
            ),
            (Some(120.0), 141.0, 577.0)
        );
        assert_eq!(
            unstable.disagreements,
            [Disagreement::MedianAboveP99, Disagreement::MediansApart]
        );
        let json = serde_json::to_value(&entry.unstable).unwrap();
        assert_eq!(json["disagreements"][0], "median_above_p99");
    }

    #[test]
    fn a_figure_above_its_peak_is_refused_not_saved() {
        let dir = tempfile::tempdir().unwrap();
        let info = find("LLM-008").unwrap();
        let over = Measured {
            peak: peak(100.0),
            ..sampled(info, "bf16", vec![120.0, 121.0, 119.0], None)
        };
        match summarize(&env_in(dir.path()), &[over]) {
            Err(Error::AbovePeak {
                what, value, peak, ..
            }) => {
                assert_eq!(what, "LLM-008/bf16");
                assert!(value > peak);
            }
            other => panic!("expected AbovePeak, got {other:?}"),
        }
        let within = Measured {
            peak: peak(200.0),
            ..sampled(info, "bf16", vec![120.0, 121.0, 119.0], None)
        };
        let entry = summarize(&env_in(dir.path()), &[within])
            .unwrap()
            .entries
            .remove(0);
        assert!((entry.peak.unwrap().fraction - 0.6).abs() < 1e-9);
    }
}
