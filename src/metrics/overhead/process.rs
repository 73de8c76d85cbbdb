//! Figures that need other processes: a context's start-up in a fresh process,
//! contention between processes of one configuration, and an idle process's CPU.

use crate::cuda::{Context, DeviceBuffer};
use crate::error::Result;
use crate::measure::Stopwatch;
use crate::metrics::{
    bench_batched, bench_variant, find, sampled, BenchEnv, Measured, MetricInfo, Selection, Variant,
};
use crate::run::child::{self, Child, Handler, Held, Operation, Role, START_TIMEOUT};
use criterion::measurement::WallTime;
use criterion::BenchmarkGroup;
use serde::{Deserialize, Serialize};
use std::time::{Duration, Instant};

/// The operations of OH's serving children.
pub const OPERATIONS: &[Handler] = &[Handler::of::<AllocFree>(), Handler::of::<Idle>()];

/// OH-004's child: a fresh process that reports its first CUDA calls and exits.
pub const COLD_START: Role = Role {
    name: "cold-start",
    run: cold_start_child,
};

/// Process counts of OH-006.
const PROCESS_COUNTS: [usize; 4] = [1, 2, 4, 8];
/// Allocation size of OH-006: small, so the figure is the bookkeeping, not the memory.
const CONTENTION_BYTES: usize = 4 << 10;
/// OH-009's window, and how many windows the idle process is watched for (fewer
/// with --quick).
const IDLE_WINDOW_MS: u64 = 500;
const IDLE_WINDOWS: usize = 4;
const IDLE_WINDOWS_QUICK: usize = 2;
/// Longest a batch of work in a child may take before it counts as hung.
const BATCH_TIMEOUT: Duration = Duration::from_secs(120);

pub(super) fn bench(
    group: &mut BenchmarkGroup<'_, WallTime>,
    env: &BenchEnv,
    selection: &Selection,
    ctx: &Context,
) -> Result<Vec<Measured>> {
    let mut out = Vec::new();
    if selection.contains("OH-004") {
        let info = find("OH-004")?;
        let device = ctx.device();
        let mut create_destroy = |sw: &mut Stopwatch| {
            sw.time(|| Context::create(device).and_then(Context::destroy))?;
            ctx.make_current()
        };
        if env.quick {
            // Criterion's least sampling (10 samples after a warm-up) costs some 15
            // context creations; with --quick a few timed ones, kept as samples, do.
            if env.wants(&Variant::new(info, "create-destroy")) {
                let mut sw = Stopwatch::summing();
                create_destroy(&mut sw)?;
                let samples = (0..env.process_samples())
                    .map(|_| {
                        let mut sw = Stopwatch::summing();
                        create_destroy(&mut sw)?;
                        Ok(sw.total().as_secs_f64() * 1e9 / info.ns_per_unit)
                    })
                    .collect::<Result<Vec<_>>>()?;
                out.push(sampled(info, "create-destroy", samples, None));
            }
        } else {
            out.extend(bench_variant(
                group,
                env,
                Variant {
                    slow: true,
                    ..Variant::new(info, "create-destroy")
                },
                &mut create_destroy,
            )?);
        }
        if env.wants(&Variant::new(info, "cold-start")) {
            out.push(cold_start(info, env)?);
        }
    }

    if selection.contains("OH-006") {
        let info = find("OH-006")?;
        for n in PROCESS_COUNTS {
            let name = format!("{n}-proc");
            let mut children = child::spawn_servers(n)?;
            out.extend(bench_batched(
                group,
                env,
                Variant::new(info, &name),
                &mut |sw, pairs| {
                    let request = AllocFree {
                        bytes: CONTENTION_BYTES,
                        pairs,
                    };
                    let elapsed = child::broadcast(&mut children, &request, BATCH_TIMEOUT)?;
                    sw.record_ops(&elapsed, pairs);
                    Ok(())
                },
            )?);
            child::end_all(children);
        }
    }

    if selection.contains("OH-009") {
        let info = find("OH-009")?;
        if env.wants(&Variant::new(info, IDLE_VARIANT)) {
            let windows = if env.quick {
                IDLE_WINDOWS_QUICK
            } else {
                IDLE_WINDOWS
            };
            out.push(idle_cpu(info, windows)?);
        }
    }
    Ok(out)
}

/// OH-004 (b): each fresh process is one sample, kept in summary.json; a process
/// start per Criterion iteration would make Criterion plan from the child's own
/// timing, which leaves out the process's start and exit.
fn cold_start(info: &'static MetricInfo, env: &BenchEnv) -> Result<Measured> {
    let mut per_call = Stopwatch::recording(1);
    let mut samples = Vec::new();
    for _ in 0..env.process_samples() {
        let mut child = Child::spawn(COLD_START.name)?;
        let report: ColdStart = child.receive(START_TIMEOUT)?;
        let ns = report.init_ns + report.context_ns;
        per_call.record(Duration::from_nanos(ns));
        samples.push(ns as f64 / info.ns_per_unit);
    }
    Ok(sampled(
        info,
        "cold-start",
        samples,
        Some(per_call.percentiles()?),
    ))
}

const IDLE_VARIANT: &str = "idle-context";

/// OH-009: Criterion plans its iterations from wall time and cannot sample CPU time,
/// so the windows are the samples, kept in summary.json.
fn idle_cpu(info: &'static MetricInfo, windows: usize) -> Result<Measured> {
    let mut children = child::spawn_servers(1)?;
    let child = &mut children[0];
    let mut samples = Vec::new();
    for _ in 0..windows {
        let cpu = child.call(&Idle { ms: IDLE_WINDOW_MS }, BATCH_TIMEOUT)?;
        samples.push(cpu.as_nanos() as f64 / (IDLE_WINDOW_MS as f64 * 1e6) * 100.0);
    }
    Ok(sampled(info, IDLE_VARIANT, samples, None))
}

/// OH-006: `pairs` cuMemAlloc + cuMemFree pairs of `bytes`; the reply is their
/// total time.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct AllocFree {
    bytes: usize,
    pairs: u64,
}

impl Operation for AllocFree {
    const NAME: &'static str = "alloc-free";
    type Reply = Duration;
    fn serve(self, _: &Context, _: &mut Held) -> Result<Duration> {
        let mut total = Duration::ZERO;
        for _ in 0..self.pairs {
            let start = Instant::now();
            DeviceBuffer::new(self.bytes)?.free()?;
            total += start.elapsed();
        }
        Ok(total)
    }
}

/// OH-009: hold the context idle for `ms`; the reply is the process's CPU time
/// meanwhile.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Idle {
    ms: u64,
}

impl Operation for Idle {
    const NAME: &'static str = "idle";
    type Reply = Duration;
    fn serve(self, _: &Context, _: &mut Held) -> Result<Duration> {
        let before = process_cpu_time();
        std::thread::sleep(Duration::from_millis(self.ms));
        Ok(process_cpu_time() - before)
    }
}

/// CPU time (user + system) of this whole process, all threads: an interposer's
/// monitoring threads count too, which is the point of OH-009.
fn process_cpu_time() -> Duration {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage fills the struct; RUSAGE_SELF is always valid.
    let usage = unsafe {
        libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr());
        usage.assume_init()
    };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

/// A cold-start child's report: what the first CUDA calls of a process cost.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct ColdStart {
    init_ns: u64,
    context_ns: u64,
}

/// The [`COLD_START`] child: times cuInit, then the primary context, and reports both.
fn cold_start_child() -> Result<()> {
    let start = Instant::now();
    crate::cuda::init()?;
    let init = start.elapsed();
    let start = Instant::now();
    let ctx = Context::primary(0)?;
    crate::cuda::synchronize()?;
    let context = start.elapsed();
    drop(ctx);
    child::emit(&ColdStart {
        init_ns: init.as_nanos() as u64,
        context_ns: context.as_nanos() as u64,
    })
}
