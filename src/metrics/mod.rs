//! Metrics as plain functions over a Criterion group. Each timed operation is one
//! closure that [`bench_variant`] warms up untimed, then hands to Criterion, which
//! samples it while every timed call also goes into a per-call histogram.

mod bandwidth;
mod cache;
pub mod enforcement;
mod env;
mod err;
pub mod exec;
mod frag;
pub mod isolation;
mod llm;
mod nccl;
mod overhead;
mod pcie;
mod registry;
mod sched;
mod summary;

pub use env::BenchEnv;
pub use registry::{
    between_tenants, category, find, split_list, tenant_metrics, CategoryInfo, Goal, MetricInfo,
    Needs, Selection, METRICS,
};
pub use sched::{parse as parse_timeline, slicing, BlockRecord, Slicing};
pub use summary::summarize;

use crate::baseline::Percentiles;
use crate::cuda::Context;
use crate::error::{Error, Result};
use crate::measure::Stopwatch;
use crate::run::child::{self, Handler, Role};
use crate::system::Peak;
use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, BenchmarkId, Criterion, SamplingMode};
use std::time::{Duration, Instant};

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
    /// The practical ceiling measured in this run: the best GEMM, or the
    /// device-to-device copy.
    pub measured_peak: Option<Peak>,
    /// Driver calls per timed operation (1000 for calls too short for the clock).
    pub calls_per_op: u32,
    pub percentiles: Option<Percentiles>,
    /// Criterion's folder of the benchmark, or `None` with `samples` set instead.
    pub criterion_path: Option<String>,
    /// Samples in the metric's unit, for figures measured outside Criterion.
    pub samples: Option<Vec<f64>>,
    /// The kernel that ran, where a metric has more than one for the same work (a
    /// Hopper kernel and its sm_80 fallback): a figure is only comparable with one
    /// of the same kernel.
    pub kernel: Option<&'static str>,
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

    /// Records which kernel produced the figure.
    pub(crate) fn with_kernel(self, kernel: &'static str) -> Self {
        Self {
            kernel: Some(kernel),
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
    /// in flat mode.
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
        kernel: None,
    }
}

/// Whether `selection` holds `id` and any of its `variants` measured outside
/// Criterion is to run now (see [`BenchEnv::wants`]), for a category that measures
/// several variants at once.
pub(crate) fn wants_any(
    env: &BenchEnv,
    selection: &Selection,
    id: &str,
    variants: &[&str],
) -> Result<bool> {
    let info = find(id)?;
    Ok(selection.contains(id) && variants.iter().any(|v| env.wants(&Variant::new(info, v))))
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

/// Warms `op` up, then lets Criterion sample it; `op(sw, n)` runs `n` iterations and
/// times them into `sw`. Every call Criterion times (its warm-up included) is also
/// recorded per call, so the percentiles describe the very calls behind Criterion's
/// samples: one sample set per row, not a second pass at another moment. A driver
/// error inside Criterion's loop stops the loop and is returned, so a failed call is
/// never averaged into a figure.
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
    if env.benchmarking {
        crate::progress::report_step(variant.info.id);
        let mut warm = Stopwatch::summing();
        let start = Instant::now();
        let mut n = 0;
        while n < 1 || start.elapsed() < env.warm_up_budget() {
            op(&mut warm, 1)?;
            n += 1;
        }
    }
    if variant.slow {
        group.sample_size(10).sampling_mode(SamplingMode::Flat);
    }
    let mut calls = Stopwatch::recording(variant.calls_per_op);
    let mut failure: Option<Error> = None;
    group.bench_function(BenchmarkId::new(variant.info.id, variant.name), |b| {
        b.iter_custom(|iters| {
            let before = calls.total();
            if failure.is_none() {
                if let Err(e) = op(&mut calls, iters) {
                    failure = Some(e);
                }
            }
            (calls.total() - before).max(Duration::from_nanos(1))
        })
    });
    env.configure(group);
    if let Some(e) = failure {
        return Err(e);
    }
    let percentiles = if env.benchmarking {
        eprintln!(
            "{criterion_path}: {:.1} s in all",
            started.elapsed().as_secs_f64()
        );
        Some(Percentiles {
            harness_floor_ns: Some(crate::measure::harness_floor_ns(variant.calls_per_op)?),
            ..calls.percentiles()?
        })
    } else {
        None
    };
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
        kernel: None,
    }))
}

/// Every operation a serving child of this executable performs: the run's own, then
/// each category's, which registers its own in its folder.
const OPERATIONS: &[&[Handler]] = &[
    crate::run::ops::OPERATIONS,
    overhead::OPERATIONS,
    isolation::OPERATIONS,
    enforcement::OPERATIONS,
    bandwidth::OPERATIONS,
    pcie::OPERATIONS,
    cache::OPERATIONS,
    sched::OPERATIONS,
    err::OPERATIONS,
    nccl::OPERATIONS,
    llm::OPERATIONS,
];

/// The roles a child of this executable starts in besides serving.
const ROLES: &[Role] = &[overhead::COLD_START];

/// Runs the child side if this process was started as a child of the CLI or of a
/// bench executable, with every category's operations; returns the exit code.
pub fn serve_if_child() -> Option<i32> {
    child::serve_if_child(ROLES, OPERATIONS)
}

/// The body of a `cargo bench` entry point for one category: measures it in this
/// process (natively, or under whatever LD_PRELOAD the shell set), or under the
/// configuration GPU_VIRT_BENCH_CONFIG names (re-executed in its environment and
/// verified first), and writes the summary when Criterion is benchmarking. Returns
/// the exit code; no driver is a visible skip, not a failure, so `cargo bench` on a
/// machine without a GPU passes.
pub fn bench_main(category: &str) -> i32 {
    if let Some(code) = serve_if_child() {
        return code;
    }
    match crate::run::reexec_if_configured() {
        Some(Ok(code)) => return code,
        Some(Err(Error::NoDriver)) => {
            println!("skipped: {}", Error::NoDriver);
            return 0;
        }
        Some(Err(e)) => {
            eprintln!("error: {e}");
            return 1;
        }
        None => {}
    }
    let env = BenchEnv::from_cargo_bench_args();
    let mut criterion = Criterion::default().configure_from_args();
    let outcome = Context::primary(0).and_then(|ctx| {
        crate::run::verify_inside().transpose()?;
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

/// A category measured in one process: its Criterion group and the figures it
/// measures outside Criterion, for the selected metrics of the category.
type Bench = fn(&mut Criterion, &BenchEnv, &Selection, &Context) -> Result<Vec<Measured>>;

/// Every category `run` measures in one process, by name, in report order; one with
/// no metric selected is not entered, so it sets nothing up.
const BENCHES: &[(&str, Bench)] = &[
    ("overhead", overhead::bench),
    ("llm", llm::bench),
    ("bandwidth", bandwidth::bench),
    ("pcie", pcie::bench),
    ("cache", cache::bench),
    ("sched", sched::bench),
    ("frag", frag::bench),
    ("err", err::bench),
    ("nccl", nccl::bench),
];

/// Runs every selected metric on `ctx` and returns what was measured.
pub fn run_benches(
    c: &mut Criterion,
    env: &BenchEnv,
    selection: &Selection,
    ctx: &Context,
) -> Result<Vec<Measured>> {
    let mut out = Vec::new();
    for (category, bench) in BENCHES {
        if selection.has_category(category) {
            out.extend(bench(c, env, selection, ctx)?);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn every_operation_and_role_of_a_child_has_a_name_of_its_own() {
        let names: Vec<&str> = OPERATIONS
            .iter()
            .flat_map(|h| h.iter())
            .map(Handler::name)
            .collect();
        let unique: BTreeSet<&str> = names.iter().copied().collect();
        assert_eq!(unique.len(), names.len(), "{names:?}");
        assert!(ROLES.iter().all(|r| r.name != child::SERVE));
    }

    #[test]
    fn a_category_measures_only_variants_selected_and_filtered_while_benchmarking() {
        let env = |benchmarking: bool, filter: Option<&str>| BenchEnv {
            criterion_dir: "unused".into(),
            baseline: "native".into(),
            quick: true,
            benchmarking,
            filter: filter.map(str::to_string),
        };
        let cache = Selection::category("cache");
        let pairs = ["vs-alone", "vs-quiet-neighbour"];
        assert!(wants_any(&env(true, None), &cache, "CACHE-002", &pairs).unwrap());
        assert!(!wants_any(&env(false, None), &cache, "CACHE-002", &pairs).unwrap());
        let quiet = env(true, Some("CACHE-002/vs-quiet"));
        assert!(wants_any(&quiet, &cache, "CACHE-002", &pairs).unwrap());
        assert!(!wants_any(&quiet, &cache, "CACHE-004", &pairs).unwrap());
        assert!(!wants_any(
            &env(true, None),
            &Selection::category("llm"),
            "CACHE-002",
            &pairs
        )
        .unwrap());
        assert!(wants_any(&env(true, None), &cache, "NO-001", &pairs).is_err());
    }
}
