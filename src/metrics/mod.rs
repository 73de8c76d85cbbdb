//! Metrics as plain functions over a Criterion group. Each timed operation is one
//! closure that [`bench_variant`] runs three ways: untimed warm-up, a per-call
//! percentile pass, and Criterion's own sampling.

pub mod isolation;
mod llm;
mod overhead;
mod registry;

pub use registry::{find, MetricInfo, Selection, METRICS};

use crate::baseline::{
    read_json, write_json_atomic, PeakShare, Percentiles, Summary, SummaryEntry, PERCENTILES_FILE,
};
use crate::cuda::Context;
use crate::error::{Error, Result};
use crate::measure::Stopwatch;
use crate::system::Peak;
use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, BenchmarkId, Criterion, SamplingMode};
use serde::Deserialize;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Where and how a set of benchmarks runs.
#[derive(Debug, Clone)]
pub struct BenchEnv {
    /// Criterion's output directory; percentiles are written beside its files.
    pub criterion_dir: PathBuf,
    /// The Criterion baseline the results are saved under (the configuration name).
    pub baseline: String,
    pub quick: bool,
    /// False in Criterion's test or list mode: then nothing is timed or written.
    pub benchmarking: bool,
    /// Criterion's positional filter: only benchmarks whose id contains it run, and
    /// only those get a percentile pass and a summary entry.
    pub filter: Option<String>,
}

/// Criterion options that take a value, so the value is not read as the filter.
const VALUE_FLAGS: &[&str] = &[
    "--save-baseline",
    "--baseline",
    "--baseline-lenient",
    "--load-baseline",
    "--color",
    "--sample-size",
    "--warm-up-time",
    "--measurement-time",
    "--nresamples",
    "--noise-threshold",
    "--confidence-level",
    "--significance-level",
    "--profile-time",
    "--format",
    "--output-format",
    "--plotting-backend",
    "-c",
];

fn positional_filter(args: &[String]) -> Option<String> {
    let mut iter = args.iter().skip(1);
    while let Some(arg) = iter.next() {
        if VALUE_FLAGS.contains(&arg.as_str()) {
            iter.next();
        } else if !arg.starts_with('-') {
            return Some(arg.clone());
        }
    }
    None
}

impl BenchEnv {
    /// The environment of `cargo bench [-- --save-baseline NAME]`: Criterion's own
    /// output directory rules and baseline argument, read the way Criterion reads them.
    pub fn from_cargo_bench_args() -> Self {
        let args: Vec<String> = std::env::args().collect();
        let flag = |name: &str| args.iter().any(|a| a == name);
        let baseline = args
            .iter()
            .position(|a| a == "--save-baseline")
            .and_then(|i| args.get(i + 1).cloned())
            .or_else(|| {
                args.iter()
                    .find_map(|a| a.strip_prefix("--save-baseline=").map(str::to_string))
            })
            .unwrap_or_else(|| "base".to_string());
        let criterion_dir = std::env::var_os("CRITERION_HOME")
            .map(PathBuf::from)
            .or_else(|| {
                std::env::var_os("CARGO_TARGET_DIR").map(|t| PathBuf::from(t).join("criterion"))
            })
            .unwrap_or_else(|| PathBuf::from("target/criterion"));
        Self {
            criterion_dir,
            baseline,
            quick: flag("--quick"),
            benchmarking: flag("--bench") && !flag("--test") && !flag("--list"),
            filter: positional_filter(&args),
        }
    }

    /// Whether a variant measured outside Criterion runs: only when benchmarking (not
    /// in Criterion's test or list mode) and when the filter selects it.
    fn wants(&self, variant: &Variant<'_>) -> bool {
        self.benchmarking && self.selects(&variant.path())
    }

    /// Processes started for a per-process figure: each start costs a cuInit.
    fn process_samples(&self) -> usize {
        if self.quick {
            3
        } else {
            10
        }
    }

    /// Samples of a figure measured in alternation (A then B, repeated), each sample
    /// one ratio of the two.
    fn paired_samples(&self) -> usize {
        if self.quick {
            10
        } else {
            30
        }
    }

    fn selects(&self, criterion_path: &str) -> bool {
        self.filter
            .as_deref()
            .is_none_or(|f| criterion_path.contains(f))
    }

    /// The Criterion instance a worker measures with: results saved as a baseline named
    /// after the configuration, in the worker's own output directory.
    /// `--quick` skips Criterion's plots and resamples less: the estimates and
    /// their intervals stay, only the HTML pictures go.
    pub fn criterion(&self) -> Criterion {
        let c = Criterion::default()
            .output_directory(&self.criterion_dir)
            .save_baseline(self.baseline.clone())
            .with_output_color(false);
        if self.quick {
            c.without_plots().nresamples(20_000)
        } else {
            c
        }
    }

    /// Applies the sampling budget: short enough for `--quick`, long enough otherwise
    /// for a confidence interval of a few percent.
    pub fn configure(&self, group: &mut BenchmarkGroup<'_, WallTime>) {
        let (warm, measure, samples) = if self.quick {
            (0.05, 0.15, 10)
        } else {
            (0.5, 1.5, 50)
        };
        group
            .warm_up_time(Duration::from_secs_f64(warm))
            .measurement_time(Duration::from_secs_f64(measure))
            .sample_size(samples)
            .sampling_mode(SamplingMode::Auto);
    }

    fn percentile_budget(&self) -> Duration {
        Duration::from_secs_f64(if self.quick { 0.05 } else { 0.3 })
    }

    fn warm_up_budget(&self) -> Duration {
        Duration::from_secs_f64(if self.quick { 0.05 } else { 0.2 })
    }

    /// Fewest per-call records: enough for p99 to rest on more than a handful, or for
    /// slow operations (tens of milliseconds and up) as many as time allows.
    fn min_records(&self, slow: bool) -> usize {
        match (slow, self.quick) {
            (false, _) => 50,
            (true, false) => 10,
            (true, true) => 3,
        }
    }
}

/// One measured variant, before Criterion's estimates are read back from disk.
#[derive(Debug, Clone)]
pub struct Measured {
    pub info: &'static MetricInfo,
    pub variant: String,
    /// The figure's unit: the metric's, or a variant's own (a ratio beside TFLOPS).
    pub unit: &'static str,
    /// Work per Criterion iteration for a throughput (see
    /// [`SummaryEntry::work_per_iteration`]); `None` for a time.
    pub work_per_op: Option<f64>,
    /// The device's physical bound; a median above it is an error.
    pub peak: Option<Peak>,
    /// The best GEMM measured in this run, shown as the practical ceiling.
    pub measured_peak: Option<Peak>,
    /// Driver calls per timed operation (1000 for calls too short for the clock).
    pub calls_per_op: u32,
    pub percentiles: Option<Percentiles>,
    /// Criterion's folder of the benchmark, or `None` with `samples` set instead.
    pub criterion_path: Option<String>,
    /// Samples in the metric's unit, for figures measured outside Criterion.
    pub samples: Option<Vec<f64>>,
}

impl Measured {
    /// Marks the figure a throughput: `work` per Criterion iteration, in the unit's
    /// numerator.
    pub(crate) fn with_work(self, work: f64) -> Self {
        Self {
            work_per_op: Some(work),
            ..self
        }
    }
}

/// How one variant is sampled.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Variant<'a> {
    pub info: &'static MetricInfo,
    pub name: &'a str,
    /// Driver calls per timed operation.
    pub calls_per_op: u32,
    /// Tens of milliseconds or more per operation: Criterion's minimum of 10 samples
    /// in flat mode, and no per-call pass beyond its minimum of records.
    pub slow: bool,
}

impl<'a> Variant<'a> {
    pub fn new(info: &'static MetricInfo, name: &'a str) -> Self {
        Self {
            info,
            name,
            calls_per_op: 1,
            slow: false,
        }
    }

    fn path(&self) -> String {
        format!("{}/{}/{}", self.info.category, self.info.id, self.name)
    }
}

/// Most histogram records one percentile pass takes, whatever its time budget.
const MAX_RECORDS: usize = 20_000;

/// A variant measured outside Criterion: `samples` in the metric's unit.
pub(crate) fn sampled(
    info: &'static MetricInfo,
    variant: &str,
    samples: Vec<f64>,
    percentiles: Option<Percentiles>,
) -> Measured {
    Measured {
        info,
        variant: variant.to_string(),
        unit: info.unit,
        work_per_op: None,
        peak: None,
        measured_peak: None,
        calls_per_op: 1,
        percentiles,
        criterion_path: None,
        samples: Some(samples),
    }
}

/// [`bench_batched`] for an operation timed one iteration at a time.
pub(crate) fn bench_variant(
    group: &mut BenchmarkGroup<'_, WallTime>,
    env: &BenchEnv,
    variant: Variant<'_>,
    op: &mut dyn FnMut(&mut Stopwatch) -> Result<()>,
) -> Result<Option<Measured>> {
    bench_batched(group, env, variant, &mut |sw, iters| {
        (0..iters).try_for_each(|_| op(sw))
    })
}

/// Warms `op` up, records its per-call distribution, then lets Criterion sample it;
/// `op(sw, n)` runs `n` iterations and times them into `sw`. A driver error inside
/// Criterion's loop stops the loop and is returned, so a failed call is never
/// averaged into a figure.
pub(crate) fn bench_batched(
    group: &mut BenchmarkGroup<'_, WallTime>,
    env: &BenchEnv,
    variant: Variant<'_>,
    op: &mut dyn FnMut(&mut Stopwatch, u64) -> Result<()>,
) -> Result<Option<Measured>> {
    let criterion_path = variant.path();
    if !env.selects(&criterion_path) {
        return Ok(None);
    }
    let started = Instant::now();
    let mut percentiles = None;
    if env.benchmarking {
        let mut warm = Stopwatch::summing();
        let start = Instant::now();
        let mut n = 0;
        while n < 1 || start.elapsed() < env.warm_up_budget() {
            op(&mut warm, 1)?;
            n += 1;
        }
        let min = env.min_records(variant.slow);
        let mut rec = Stopwatch::recording(variant.calls_per_op);
        let start = Instant::now();
        let mut n = 0;
        while n < min
            || (!variant.slow && start.elapsed() < env.percentile_budget() && n < MAX_RECORDS)
        {
            op(&mut rec, 1)?;
            n += 1;
        }
        percentiles = Some(rec.percentiles()?);
    }
    if variant.slow {
        group.sample_size(10).sampling_mode(SamplingMode::Flat);
    }
    let mut failure: Option<Error> = None;
    group.bench_function(BenchmarkId::new(variant.info.id, variant.name), |b| {
        b.iter_custom(|iters| {
            let mut sw = Stopwatch::summing();
            if failure.is_none() {
                if let Err(e) = op(&mut sw, iters) {
                    failure = Some(e);
                }
            }
            sw.total().max(Duration::from_nanos(1))
        })
    });
    env.configure(group);
    if let Some(e) = failure {
        return Err(e);
    }
    if env.benchmarking {
        eprintln!(
            "{criterion_path}: {:.1} s in all",
            started.elapsed().as_secs_f64()
        );
    }
    Ok(Some(Measured {
        info: variant.info,
        variant: variant.name.to_string(),
        unit: variant.info.unit,
        work_per_op: None,
        peak: None,
        measured_peak: None,
        calls_per_op: variant.calls_per_op,
        percentiles,
        criterion_path: Some(criterion_path),
        samples: None,
    }))
}

/// The body of a `cargo bench` entry point for one category: measures it in this
/// process (natively, or under whatever LD_PRELOAD the shell set) and writes the
/// summary when Criterion is benchmarking. Returns the exit code; no driver is a
/// visible skip, not a failure, so `cargo bench` on a machine without a GPU passes.
pub fn bench_main(category: &str) -> i32 {
    if let Some(code) = crate::run::child::serve_if_child() {
        return code;
    }
    let env = BenchEnv::from_cargo_bench_args();
    let mut criterion = Criterion::default().configure_from_args();
    let outcome = Context::primary(0).and_then(|ctx| {
        let measured = run_benches(&mut criterion, &env, &Selection::category(category), &ctx)?;
        if env.benchmarking {
            summarize(&env, &measured)?;
        }
        Ok(())
    });
    match outcome {
        Ok(()) => {
            criterion.final_summary();
            0
        }
        Err(Error::NoDriver) => {
            println!("skipped: {}", Error::NoDriver);
            0
        }
        Err(e) => {
            eprintln!("error: {e}");
            1
        }
    }
}

/// Runs every selected metric on `ctx` and returns what was measured.
pub fn run_benches(
    c: &mut Criterion,
    env: &BenchEnv,
    selection: &Selection,
    ctx: &Context,
) -> Result<Vec<Measured>> {
    let mut out = overhead::bench(c, env, selection, ctx)?;
    out.extend(llm::bench(c, env, selection, ctx)?);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn filter_skips_option_values() {
        let a = args(&[
            "overhead",
            "--bench",
            "--save-baseline",
            "native",
            "OH-001/launch",
        ]);
        assert_eq!(positional_filter(&a).as_deref(), Some("OH-001/launch"));
        assert_eq!(
            positional_filter(&args(&["overhead", "--bench", "--save-baseline", "x"])),
            None
        );
    }

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
        };
        let entry = summarize(&env, &[measured]).unwrap().entries.remove(0);
        assert!((entry.mean - 200.0).abs() < 1e-9, "{entry:?}");
        assert!((entry.median - 250.0).abs() < 1e-9, "{entry:?}");
        assert!(
            (entry.ci_low - 2.0 / 12e-3).abs() < 1e-9 && (entry.ci_high - 2.0 / 9e-3).abs() < 1e-9
        );
        assert_eq!(entry.work_per_iteration, Some(2.0));
        assert!((entry.peak.unwrap().fraction - 0.25).abs() < 1e-12);
        assert!((entry.measured_peak.unwrap().fraction - 0.625).abs() < 1e-12);
        assert_eq!(
            (entry.p50, entry.p99),
            (None, None),
            "no per-call times for a rate"
        );
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
/// or a broken timer, and must not be saved as a result.
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
        entries.push(SummaryEntry {
            id: m.info.id.to_string(),
            variant: m.variant.clone(),
            unit: m.unit.to_string(),
            better: m.info.better,
            median,
            mean,
            ci_low,
            ci_high,
            // Per-call percentiles are times; a throughput has none to show.
            p50: per_call.map(|p| p.p50_ns / per_unit),
            p99: per_call.map(|p| p.p99_ns / per_unit),
            calls_per_record: m.percentiles.as_ref().map(|p| p.calls_per_record),
            criterion_path: m.criterion_path.clone(),
            samples: m.samples.clone(),
            work_per_iteration: m.work_per_op,
            peak,
            measured_peak: m.measured_peak.as_ref().map(share),
        });
    }
    Ok(Summary {
        config: env.baseline.clone(),
        entries,
    })
}
