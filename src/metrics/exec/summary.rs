//! summary.json of one round's runs of the command: one entry per figure, whose
//! samples are the round's successful runs (a failed run's figures describe work it
//! did not finish). Every entry is kept in the file as samples, so `compare` and
//! `report` test it across rounds like any sampled metric.

use super::figures::WALL_TIME;
use crate::baseline::{exec_category, Better, ExecRecord, Pass, Passes, Summary, SummaryEntry};
use crate::error::Result;

/// Samples an entry needs: fewer give no interval.
const MIN_SAMPLES: usize = 2;

/// One figure's samples before they are summarized.
struct Series {
    variant: String,
    unit: String,
    better: Better,
    samples: Vec<f64>,
}

/// The entries of `record`: wall time (s), peak memory (MiB, one variant per
/// source) and every printed figure in the order first seen. A figure that fewer
/// than two successful runs gave, or whose unit or direction differs from the first
/// run's, has no sample to spare for an interval and is left out of this round's
/// summary (exec.json still holds it).
pub fn summarize(record: &ExecRecord) -> Result<Summary> {
    let succeeded: Vec<_> = record.runs.iter().filter(|r| r.exit.success()).collect();
    let mut series = vec![Series {
        variant: WALL_TIME.to_owned(),
        unit: "s".to_owned(),
        better: Better::Lower,
        samples: succeeded.iter().map(|r| r.wall_secs).collect(),
    }];
    let mut push = |variant: &str, unit: &str, better: Better, value: f64| match series
        .iter_mut()
        .find(|s| s.variant == variant)
    {
        Some(s) if s.unit == unit && s.better == better => s.samples.push(value),
        Some(_) => {}
        None => series.push(Series {
            variant: variant.to_owned(),
            unit: unit.to_owned(),
            better,
            samples: vec![value],
        }),
    };
    for run in &succeeded {
        if let Some(peak) = run.peak_memory {
            let mib = peak.bytes as f64 / f64::from(1 << 20);
            push(peak.source.variant(), "MiB", Better::Lower, mib);
        }
        for figure in &run.figures {
            push(&figure.name, &figure.unit, figure.better, figure.value());
        }
    }
    let category = exec_category(&record.name);
    let entries = series
        .into_iter()
        .filter(|s| s.samples.len() >= MIN_SAMPLES)
        .map(|s| {
            let (mean, median, ci_low, ci_high) = crate::stats::mean_median_ci(&s.samples)?;
            Ok(SummaryEntry {
                id: category.clone(),
                variant: s.variant,
                unit: s.unit,
                better: s.better,
                median,
                mean,
                ci_low,
                ci_high,
                p1: None,
                p50: None,
                p99: None,
                harness_floor: None,
                calls_per_record: None,
                criterion_path: None,
                samples: Some(s.samples),
                category: Some(category.clone()),
                work_per_iteration: None,
                peak: None,
                measured_peak: None,
                kernel: None,
                passes: Some(Passes {
                    median_mean: Pass::Samples,
                    percentiles: None,
                }),
                unstable: None,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Summary {
        config: record.config.clone(),
        entries,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::baseline::{ExecRun, ExitRecord, Figure, FigureSource, MemorySource, PeakMemory};

    pub(crate) fn run(run: u32, code: i32, wall: f64, tflops: f64) -> ExecRun {
        ExecRun {
            run,
            started_at: chrono::Utc::now(),
            wall_secs: wall,
            exit: ExitRecord {
                code: Some(code),
                signal: None,
            },
            peak_memory: Some(PeakMemory {
                bytes: 1536 << 20,
                source: MemorySource::NvmlProcess,
                sample_ms: 20,
            }),
            figures: vec![Figure {
                name: "gemm".into(),
                unit: "TFLOPS".into(),
                better: Better::Higher,
                source: FigureSource::JsonLine,
                values: vec![tflops - 1.0, tflops + 1.0],
            }],
            malformed: Vec::new(),
            log: format!("logs/{run}.log"),
        }
    }

    fn record(runs: Vec<ExecRun>) -> ExecRecord {
        ExecRecord {
            config: "hami-50".into(),
            name: "train.py".into(),
            command: vec!["python3".into(), "train.py".into()],
            patterns: Vec::new(),
            runs,
        }
    }

    #[test]
    fn successful_runs_are_the_samples_of_every_figure() {
        let summary = summarize(&record(vec![
            run(1, 0, 10.0, 400.0),
            run(2, 1, 2.0, 100.0),
            run(3, 0, 12.0, 420.0),
        ]))
        .unwrap();
        assert_eq!(summary.config, "hami-50");
        let variants: Vec<&str> = summary.entries.iter().map(|e| e.variant.as_str()).collect();
        assert_eq!(variants, ["wall-time", "peak-memory", "gemm"]);
        let wall = &summary.entries[0];
        assert_eq!(
            wall.samples.as_deref(),
            Some(&[10.0, 12.0][..]),
            "the failed run is out"
        );
        assert_eq!(
            (wall.unit.as_str(), wall.better, wall.mean),
            ("s", Better::Lower, 11.0)
        );
        assert_eq!(
            summary.entries[1].samples.as_deref(),
            Some(&[1536.0, 1536.0][..])
        );
        let gemm = &summary.entries[2];
        assert_eq!(gemm.samples.as_deref(), Some(&[400.0, 420.0][..]));
        assert_eq!(
            (gemm.unit.as_str(), gemm.better),
            ("TFLOPS", Better::Higher)
        );
        for entry in &summary.entries {
            assert_eq!(entry.id, "exec/train.py");
            assert_eq!(entry.category.as_deref(), Some("exec/train.py"));
            assert_eq!(entry.criterion_path, None);
            assert_eq!(entry.passes.unwrap().median_mean, Pass::Samples);
            assert!(
                entry.ci_low <= entry.mean && entry.mean <= entry.ci_high,
                "{entry:?}"
            );
        }
    }

    #[test]
    fn a_figure_of_one_successful_run_or_of_another_unit_has_no_entry() {
        let mut other_unit = run(3, 0, 11.0, 5.0);
        other_unit.figures[0].unit = "GFLOPS".into();
        let summary = summarize(&record(vec![
            run(1, 0, 10.0, 400.0),
            run(2, 2, 2.0, 100.0),
            other_unit,
        ]))
        .unwrap();
        let variants: Vec<&str> = summary.entries.iter().map(|e| e.variant.as_str()).collect();
        assert_eq!(variants, ["wall-time", "peak-memory"]);
        let failed = summarize(&record(vec![run(1, 1, 1.0, 1.0), run(2, 1, 1.0, 1.0)])).unwrap();
        assert!(
            failed.entries.is_empty(),
            "every run failed: nothing to sample"
        );
    }
}
