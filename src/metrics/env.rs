//! Where and how a set of benchmarks runs: Criterion's output folder and baseline,
//! read the way Criterion reads its own arguments, and the sampling budgets of the
//! full and `--quick` modes.

use super::Variant;
use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion, SamplingMode};
use std::path::PathBuf;
use std::time::Duration;

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

/// The baseline Criterion writes this run's estimates to, as it reads its arguments:
/// `--save-baseline NAME`; with `--baseline X` (compare only, nothing saved) its
/// "new" folder; otherwise "base".
fn saved_baseline(args: &[String]) -> String {
    args.iter()
        .position(|a| a == "--save-baseline")
        .and_then(|i| args.get(i + 1).cloned())
        .or_else(|| {
            args.iter()
                .find_map(|a| a.strip_prefix("--save-baseline=").map(str::to_string))
        })
        .unwrap_or_else(|| {
            let compares = args.iter().any(|a| a.starts_with("--baseline"));
            if compares { "new" } else { "base" }.to_string()
        })
}

impl BenchEnv {
    /// The environment of `cargo bench [-- --save-baseline NAME]`: Criterion's own
    /// output directory rules and baseline argument, read the way Criterion reads them.
    pub fn from_cargo_bench_args() -> Self {
        let args: Vec<String> = std::env::args().collect();
        let flag = |name: &str| args.iter().any(|a| a == name);
        let baseline = saved_baseline(&args);
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
    /// in Criterion's test or list mode) and when the filter selects it. A variant
    /// that runs is measured next, so its metric is reported as the current step.
    pub(super) fn wants(&self, variant: &Variant<'_>) -> bool {
        let wanted = self.benchmarking && self.selects(&variant.path());
        if wanted {
            crate::progress::report_step(variant.info.id);
        }
        wanted
    }

    /// Processes started for a per-process figure: each start costs a cuInit.
    pub(super) fn process_samples(&self) -> usize {
        if self.quick {
            3
        } else {
            10
        }
    }

    /// Samples of a figure measured in alternation (A then B, repeated), each sample
    /// one ratio of the two.
    pub(super) fn paired_samples(&self) -> usize {
        if self.quick {
            10
        } else {
            30
        }
    }

    pub(super) fn selects(&self, criterion_path: &str) -> bool {
        self.filter
            .as_deref()
            .is_none_or(|f| criterion_path.contains(f))
    }

    /// The Criterion instance a worker measures with: results saved as a baseline named
    /// after the configuration, in the worker's own output directory.
    /// Criterion draws its plots from every bootstrap resample, so 20 000 of them
    /// (rather than 100 000) take seconds off each full run, while the intervals'
    /// 2.5 % tails still rest on 500 resamples; `compare` tests significance with
    /// its own resampling of the saved samples. `--quick` skips the plots too: the
    /// estimates and their intervals stay, only the HTML pictures go.
    pub fn criterion(&self) -> Criterion {
        let c = Criterion::default()
            .output_directory(&self.criterion_dir)
            .save_baseline(self.baseline.clone())
            .with_output_color(false)
            .nresamples(20_000);
        if self.quick {
            c.without_plots()
        } else {
            c
        }
    }

    /// Applies the sampling budget: short enough for `--quick`, long enough otherwise
    /// for a confidence interval of a few percent. Criterion's own warm-up only plans
    /// the iteration counts: each variant has just been warmed up untimed.
    pub fn configure(&self, group: &mut BenchmarkGroup<'_, WallTime>) {
        let (warm, measure, samples) = if self.quick {
            (0.03, 0.1, 10)
        } else {
            (0.2, 1.5, 50)
        };
        group
            .warm_up_time(Duration::from_secs_f64(warm))
            .measurement_time(Duration::from_secs_f64(measure))
            .sample_size(samples)
            .sampling_mode(SamplingMode::Auto);
    }

    pub(super) fn warm_up_budget(&self) -> Duration {
        Duration::from_secs_f64(if self.quick { 0.03 } else { 0.2 })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn estimates_are_read_from_the_baseline_criterion_writes() {
        let named = |list: &[&str]| saved_baseline(&args(list));
        assert_eq!(
            named(&["overhead", "--bench", "--save-baseline", "hami-50"]),
            "hami-50"
        );
        assert_eq!(named(&["overhead", "--bench", "--save-baseline=x"]), "x");
        assert_eq!(
            named(&["overhead", "--bench", "--baseline", "native"]),
            "new"
        );
        assert_eq!(
            named(&["overhead", "--bench", "--baseline-lenient", "native"]),
            "new"
        );
        assert_eq!(named(&["overhead", "--bench"]), "base");
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
}
