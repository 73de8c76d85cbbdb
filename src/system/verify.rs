//! Proof, inside the configuration's own process, that its limits are in force:
//! the interposer is mapped, memory reports and refusals match the limit, and the
//! SM share delivered to two kernel shapes against a native reference.

use super::mapped_interposer;
use super::peaks::{flops_per_sm_clock, peak_tflops, Pipe};
use crate::baseline::{
    judge, DeviceFacts, DeviceLimit, LimitVerdicts, ShapeShare, SmVerdict, Verification,
    OVER_LIMIT_MIB,
};
use crate::cuda::{
    self, DeviceBuffer, GraphExec, LaunchApi, LaunchKernels, RuntimeFmaWork, Stream, FMA_CHAINS,
};
use crate::error::{Error, Result};
use crate::measure::Stopwatch;
use serde::{Deserialize, Serialize};
use std::time::{Duration, Instant};

const MIB: u64 = 1 << 20;
/// Delivered-share windows, as in IS-003.
pub const WINDOW: Duration = Duration::from_millis(500);
/// Host time per launch batch: short enough to resolve 0.5 s windows.
pub const BATCH_US: f64 = 2000.0;
/// Threads an SM holds at once on sm_80 and sm_90: a shape's blocks together fill it.
const RESIDENT_THREADS_PER_SM: u32 = 2048;
/// The most threads one block may have.
const MAX_BLOCK_THREADS: u32 = 1024;
/// FMAs per SM per clock where the architecture is unknown to [`flops_per_sm_clock`]:
/// it only sizes a block's time, never a figure.
const DEFAULT_FMA_PER_SM_CLOCK: f64 = 64.0;

/// A kernel shape of the SM-share check. HAMi-core charges its limiter per launched
/// block, so many short blocks are throttled while one long block per SM is not
/// (seen on an H100): both are measured so a block-counting limiter shows itself.
/// Every shape runs `fma_work`, whose time depends on the SMs it gets.
#[derive(Debug, Clone, Copy)]
pub struct VerifyShape {
    pub name: &'static str,
    pub blocks_per_sm: u32,
    /// About how long one block runs on an idle GPU, in us.
    pub block_us: f64,
}

impl VerifyShape {
    /// Threads per block: the shape's blocks fill an SM (full occupancy), up to the
    /// 1024 a block may hold; with [`FMA_CHAINS`] chains each, 1024 threads already
    /// keep every f32 pipe of the SM busy.
    pub fn threads(&self) -> u32 {
        (RESIDENT_THREADS_PER_SM / self.blocks_per_sm.max(1)).clamp(32, MAX_BLOCK_THREADS)
    }

    /// FMA iterations per chain that keep one SM's f32 pipes busy for about
    /// `block_us` when all the shape's blocks of that SM run together.
    pub fn iters(&self, facts: &DeviceFacts) -> i64 {
        let fma_per_clock =
            flops_per_sm_clock(&facts.cc, Pipe::Fp32).map_or(DEFAULT_FMA_PER_SM_CLOCK, |f| f / 2.0);
        let fmas_per_sm = f64::from(facts.clock_mhz) * self.block_us * fma_per_clock;
        let chains_per_sm = f64::from(self.threads() * self.blocks_per_sm * FMA_CHAINS);
        (fmas_per_sm / chains_per_sm).round().max(1.0) as i64
    }
}

pub const VERIFY_SHAPES: [VerifyShape; 2] = [
    VerifyShape {
        name: "short-blocks",
        blocks_per_sm: 8,
        block_us: 100.0,
    },
    VerifyShape {
        name: "long-blocks",
        blocks_per_sm: 1,
        block_us: 1000.0,
    },
];

/// Throughput of one shape over a run, overall and per 0.5 s window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShapeRun {
    pub shape: String,
    pub blocks: u32,
    pub block_us: f64,
    pub kernels_per_s: f64,
    pub windows: Vec<f64>,
    /// Host time of one launch-to-completion batch, per kernel: p50 and p99 in us.
    pub kernel_us_p50: f64,
    pub kernel_us_p99: f64,
    /// The run's f32 FMA rate over the device's f32 peak: near 1 natively shows the
    /// kernel is bound by the SMs' throughput, as a share figure needs.
    #[serde(default)]
    pub fp32_peak_fraction: Option<f64>,
}

/// The native throughput each configuration's share is measured against.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reference {
    pub shapes: Vec<ShapeRun>,
}

/// What a configuration promises, so the verifier knows what to look for.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Expect {
    pub interposer: bool,
    pub mem_limit_mib: Option<u64>,
    pub sm_limit_pct: Option<u32>,
    /// The memory limit shows as cuMemGetInfo's free, not its total (MPS's pinned
    /// device memory limit does).
    #[serde(default)]
    pub memory_in_free: bool,
    /// The process should see an SM partition: fewer SMs in the device attribute
    /// than the device has (an MPS client below 100 % active threads).
    #[serde(default)]
    pub sm_partition: bool,
    /// The memory limit of each visible device, device 0 first, where the
    /// configuration limits several (HAMi-core's CUDA_DEVICE_MEMORY_LIMIT_<i>);
    /// empty where it limits one device or none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub device_mem_limits_mib: Vec<u64>,
}

/// How the kernels of a shape reach the GPU (the ENF category probes each).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Launch {
    /// One launch per kernel through a driver entry point.
    Api(LaunchApi),
    /// A CUDA graph of one batch of launches (stream capture), replayed with
    /// cuGraphLaunch.
    Graph,
    /// Each kernel split over this many streams at once.
    Streams(u32),
    /// One launch per kernel through the runtime API: cudaLaunchKernel of the kernel
    /// loaded by cudaLibraryLoadData ([`RuntimeFmaWork`]).
    Runtime,
}

impl Launch {
    /// Why this path does not exist in this process (no libcudart, or one without
    /// the library API); `None` where it does.
    pub fn missing(&self) -> Option<String> {
        match self {
            Self::Runtime => cuda::runtime_kernels_missing(),
            Self::Api(_) | Self::Graph | Self::Streams(_) => None,
        }
    }
}

/// Runs `shape` on all SMs for `secs`, in batches of about `batch_us` of GPU time
/// (one kernel per batch when `batch_us` is the block time, so each kernel's latency
/// is seen), after checking on the first launch that every block ran.
pub fn run_shape(
    kernels: &LaunchKernels,
    facts: &DeviceFacts,
    shape: &VerifyShape,
    secs: f64,
    batch_us: f64,
) -> Result<ShapeRun> {
    run_shape_via(
        kernels,
        facts,
        shape,
        secs,
        batch_us,
        Launch::Api(LaunchApi::Kernel),
    )
}

/// [`run_shape`] with its kernels launched by `launch`. The rate is in whole
/// kernels of the shape per second on every path, so paths compare directly.
pub fn run_shape_via(
    kernels: &LaunchKernels,
    facts: &DeviceFacts,
    shape: &VerifyShape,
    secs: f64,
    batch_us: f64,
    launch: Launch,
) -> Result<ShapeRun> {
    let stream = Stream::new()?;
    let blocks = facts.sms * shape.blocks_per_sm;
    let (threads, iters) = (shape.threads(), shape.iters(facts));
    let slots = DeviceBuffer::new(blocks as usize * 8)?;
    let all_blocks_ran = |launch: &dyn Fn() -> Result<()>| -> Result<()> {
        slots.fill_u32(u32::MAX, &stream)?;
        launch()?;
        stream.synchronize()?;
        LaunchKernels::check_spun(&slots, blocks, iters)
    };
    all_blocks_ran(&|| kernels.fma_work(blocks, threads, iters, &slots, &stream))?;
    let batch = (batch_us / shape.block_us).round().max(1.0) as u32;
    let (kernels_per_s, windows, latency) = match launch {
        Launch::Api(api) => run_windows(secs, batch, &stream, || {
            kernels.fma_work_via(api, blocks, threads, iters, &slots, &stream)
        })?,
        Launch::Graph => {
            let graph = GraphExec::capture(&stream, || {
                (0..batch)
                    .try_for_each(|_| kernels.fma_work(blocks, threads, iters, &slots, &stream))
            })?;
            let (graphs_per_s, windows, latency) =
                run_windows(secs, 1, &stream, || graph.launch(&stream))?;
            let per_graph = f64::from(batch);
            (
                graphs_per_s * per_graph,
                windows.iter().map(|w| w * per_graph).collect(),
                latency,
            )
        }
        Launch::Streams(n) => {
            let streams = (0..n.max(1))
                .map(|_| Stream::new())
                .collect::<Result<Vec<_>>>()?;
            let part = blocks.div_ceil(n.max(1));
            run_windows(secs, batch, &stream, || {
                streams
                    .iter()
                    .try_for_each(|s| kernels.fma_work(part, threads, iters, &slots, s))?;
                streams.iter().try_for_each(Stream::synchronize)
            })?
        }
        Launch::Runtime => {
            let runtime = RuntimeFmaWork::load()?;
            let launch = || runtime.launch(blocks, threads, iters, &slots, &stream);
            all_blocks_ran(&launch)?;
            run_windows(secs, batch, &stream, launch)?
        }
    };
    let flops_per_kernel = 2.0 * f64::from(blocks * threads * FMA_CHAINS) * iters as f64;
    let tflops = kernels_per_s * flops_per_kernel / 1e12;
    let fp32_peak_fraction = match peak_tflops(facts, Pipe::Fp32) {
        Some(peak) if tflops > peak.value => {
            return Err(Error::AbovePeak {
                what: format!("SM-share kernel fma_work ({})", shape.name),
                value: tflops,
                unit: "TFLOPS".into(),
                peak: peak.value,
                source_: peak.source,
            })
        }
        Some(peak) => Some(tflops / peak.value),
        None => None,
    };
    Ok(ShapeRun {
        shape: shape.name.to_string(),
        blocks,
        block_us: shape.block_us,
        kernels_per_s,
        windows,
        kernel_us_p50: latency.p50_ns / 1e3,
        kernel_us_p99: latency.p99_ns / 1e3,
        fp32_peak_fraction,
    })
}

/// Launches `batch` kernels with `launch` and waits for them, again and again for
/// `secs`: kernels per second overall and per 0.5 s window, and the per-kernel
/// latency of each batch.
pub(crate) fn run_windows(
    secs: f64,
    batch: u32,
    stream: &Stream,
    mut launch: impl FnMut() -> Result<()>,
) -> Result<(f64, Vec<f64>, crate::baseline::Percentiles)> {
    let mut latency = Stopwatch::recording(batch);
    let mut windows = Vec::new();
    let start = Instant::now();
    let (mut window_start, mut in_window, mut total) = (start, 0u64, 0u64);
    while start.elapsed().as_secs_f64() < secs {
        latency.time(|| {
            (0..batch).try_for_each(|_| launch())?;
            stream.synchronize()
        })?;
        in_window += u64::from(batch);
        total += u64::from(batch);
        let now = Instant::now();
        let elapsed = now - window_start;
        if elapsed >= WINDOW {
            windows.push(in_window as f64 / elapsed.as_secs_f64());
            window_start = now;
            in_window = 0;
        }
    }
    Ok((
        total as f64 / start.elapsed().as_secs_f64(),
        windows,
        latency.percentiles()?,
    ))
}

/// Native throughput of every verification shape, `secs` each; needs a current context.
pub fn measure_reference(facts: &DeviceFacts, secs: f64) -> Result<Reference> {
    let kernels = LaunchKernels::load()?;
    let shapes = VERIFY_SHAPES
        .iter()
        .map(|s| run_shape(&kernels, facts, s, secs, BATCH_US))
        .collect::<Result<_>>()?;
    Ok(Reference { shapes })
}

/// Runs every check in this process (a context must be current) and returns what it
/// found with each limit's verdict ([`judge`]); whether the figures are kept is
/// [`blocking_problem`]'s decision.
pub fn verify(
    facts: &DeviceFacts,
    expect: &Expect,
    reference: &Reference,
    secs: f64,
) -> Result<Verification> {
    let interposer = mapped_interposer();
    let mut problems = Vec::new();
    if expect.interposer && interposer.is_none() {
        problems.push("the interposer library is not mapped into the process".to_string());
    }
    let (free, total) = cuda::mem_info()?;
    let (reported, shown_as) = match expect.memory_in_free {
        true => (free / MIB, "free"),
        false => (total / MIB, "total"),
    };
    let (mut refused, mut refusal, mut in_force) = (None, None, None);
    if let Some(limit) = expect.mem_limit_mib {
        let reported_ok = memory_shown_ok(reported, limit, expect.memory_in_free);
        if !reported_ok {
            problems.push(format!(
                "cuMemGetInfo reports {reported} MiB {shown_as}, the limit is {limit} MiB"
            ));
        }
        match over_limit(limit)? {
            Ok(()) => {
                refused = Some(false);
                problems.push(format!(
                    "an allocation of {} MiB (limit + 1 GiB) succeeded",
                    limit + OVER_LIMIT_MIB
                ));
            }
            Err(name) => {
                refused = Some(true);
                refusal = Some(name);
            }
        }
        if limit + OVER_LIMIT_MIB > facts.memory_mib {
            problems.push(format!(
                "limit + 1 GiB exceeds the physical {} MiB, so the refusal alone proves nothing",
                facts.memory_mib
            ));
        }
        let mapped_as_promised = !expect.interposer || interposer.is_some();
        in_force = Some(mapped_as_promised && reported_ok && refused == Some(true));
    }
    let mut devices = Vec::new();
    for (ordinal, &limit) in (0u32..).zip(&expect.device_mem_limits_mib).skip(1) {
        let (device, found) = match cuda::on_device(ordinal as i32, |device| {
            let (_, total) = cuda::mem_info()?;
            let refused = over_limit(limit)?.is_err();
            Ok(device_verdict(
                ordinal,
                limit,
                total / MIB,
                device.total_mem()? / MIB,
                refused,
            ))
        }) {
            Err(Error::NoDevice) => device_verdict(ordinal, limit, 0, 0, false),
            other => other?,
        };
        problems.extend(found);
        devices.push(device);
    }
    let sm_partition_seen = match expect.sm_partition {
        true => {
            let seen = cuda::Device::get(0)?
                .attribute(cuda::CUdevice_attribute::CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT)?;
            let partitioned = u32::try_from(seen).is_ok_and(|n| n < facts.sms);
            if !partitioned {
                problems.push(format!(
                    "the device shows all {seen} SMs: this process is no client of an SM partition"
                ));
            }
            Some(partitioned)
        }
        false => None,
    };
    // The SM share is measured only where a limit is configured: elsewhere there is
    // nothing to verify, and the shapes cost seconds per configuration and round.
    let mut shapes = Vec::new();
    if expect.sm_limit_pct.is_some() {
        if reference.shapes.len() != VERIFY_SHAPES.len() {
            return Err(Error::Invalid(format!(
                "the native reference has {} kernel shapes, the verifier {}",
                reference.shapes.len(),
                VERIFY_SHAPES.len()
            )));
        }
        let kernels = LaunchKernels::load()?;
        for (shape, reference) in VERIFY_SHAPES.iter().zip(&reference.shapes) {
            let run = run_shape(&kernels, facts, shape, secs, BATCH_US)?;
            let windows: Vec<f64> = run
                .windows
                .iter()
                .map(|w| w / reference.kernels_per_s)
                .collect();
            shapes.push(ShapeShare {
                shape: run.shape,
                blocks: run.blocks,
                block_us: run.block_us,
                kernels_per_s: run.kernels_per_s,
                reference_kernels_per_s: reference.kernels_per_s,
                share_mean: run.kernels_per_s / reference.kernels_per_s,
                windows,
            });
        }
    }
    let short = shapes.first().cloned();
    let mut verification = Verification {
        interposer_loaded: interposer.is_some(),
        interposer_path: interposer,
        mem_total_reported_mib: total / MIB,
        sm_partition_seen,
        mem_physical_mib: facts.memory_mib,
        mem_limit_mib: expect.mem_limit_mib,
        over_limit_refused: refused,
        over_limit_error: refusal,
        sm_limit_pct: expect.sm_limit_pct,
        sm_share_mean: short.as_ref().map_or(0.0, |s| s.share_mean),
        sm_share_windows: short.map(|s| s.windows).unwrap_or_default(),
        shapes,
        mem_limit_in_force: in_force,
        verdicts: None,
        problems,
        devices,
    };
    let verdicts = judge(&verification);
    verification.problems.extend(sm_problems(&verdicts));
    verification.verdicts = Some(verdicts);
    Ok(verification)
}

/// Allocates `limit` + 1 GiB and frees it: `Ok(())` where that succeeded, else the
/// name of the error that refused it.
fn over_limit(limit: u64) -> Result<std::result::Result<(), String>> {
    match DeviceBuffer::new(((limit + OVER_LIMIT_MIB) * MIB) as usize) {
        Ok(buf) => buf.free().map(Ok),
        Err(Error::Cuda { name, .. }) => Ok(Err(name)),
        Err(other) => Err(other),
    }
}

/// A device's memory limit judged as device 0's is: in force where cuMemGetInfo's
/// total shows it and limit + 1 GiB was refused; with the problems found. A device
/// the process does not see has no memory (0 MiB): its limit is not in force.
fn device_verdict(
    ordinal: u32,
    limit_mib: u64,
    reported_mib: u64,
    physical_mib: u64,
    refused: bool,
) -> (DeviceLimit, Vec<String>) {
    let mut problems = Vec::new();
    let reported_ok = memory_shown_ok(reported_mib, limit_mib, false);
    if physical_mib == 0 {
        problems.push(format!(
            "device {ordinal}: limited to {limit_mib} MiB, but this process does not see it"
        ));
    } else {
        if !reported_ok {
            problems.push(format!(
                "device {ordinal}: cuMemGetInfo reports {reported_mib} MiB total, the limit is {limit_mib} MiB"
            ));
        }
        if !refused {
            problems.push(format!(
                "device {ordinal}: an allocation of {} MiB (limit + 1 GiB) succeeded",
                limit_mib + OVER_LIMIT_MIB
            ));
        }
        if limit_mib + OVER_LIMIT_MIB > physical_mib {
            problems.push(format!(
                "device {ordinal}: limit + 1 GiB exceeds the physical {physical_mib} MiB, so the refusal alone proves nothing"
            ));
        }
    }
    let device = DeviceLimit {
        ordinal,
        limit_mib,
        mem_total_reported_mib: reported_mib,
        mem_physical_mib: physical_mib,
        over_limit_refused: refused,
        in_force: physical_mib > 0 && reported_ok && refused,
    };
    (device, problems)
}

/// One line of `problems` per kernel shape whose SM share was judged outside its
/// limit; an inconclusive share is shown with its verdict, not listed as a problem.
fn sm_problems(verdicts: &LimitVerdicts) -> impl Iterator<Item = String> + '_ {
    verdicts.sm.iter().filter_map(|shape| {
        let missed = match shape.verdict {
            SmVerdict::Exceeded => "above",
            SmVerdict::Below => "below",
            _ => return None,
        };
        Some(format!(
            "SM limit {} %: {} got {:.1} % ± {:.1} % of native over {} windows, {missed} the limit",
            shape.limit_pct.unwrap_or_default(),
            shape.shape,
            shape.share_mean * 100.0,
            shape.spread * 100.0,
            shape.windows
        ))
    })
}

/// Whether cuMemGetInfo shows `limit`: as the total, to within 1 % (16 MiB at
/// least); as the free memory, at most that above it and no more than what a
/// context of its own holds (5 %, 1 GiB at least) below.
fn memory_shown_ok(reported: u64, limit: u64, in_free: bool) -> bool {
    let slack = (limit / 100).max(16);
    match in_free {
        false => reported.abs_diff(limit) <= slack,
        true => reported <= limit + slack && reported + (limit / 20).max(1024) >= limit,
    }
}

/// Why a configuration's figures must not be kept, if they must not.
pub fn blocking_problem(expect: &Expect, v: &Verification) -> Option<String> {
    if expect.interposer && !v.interposer_loaded {
        return Some("the interposer library is not mapped into the process".into());
    }
    if v.sm_partition_seen == Some(false) {
        return Some(
            "the device shows all its SMs: the process is no MPS client of a partition".into(),
        );
    }
    if let Some(d) = v.devices.iter().find(|d| !d.in_force) {
        return Some(format!(
            "memory limit {} MiB of device {} not in force (cuMemGetInfo total {} MiB, over-limit allocation {})",
            d.limit_mib,
            d.ordinal,
            d.mem_total_reported_mib,
            if d.over_limit_refused { "refused" } else { "succeeded" }
        ));
    }
    if v.mem_limit_in_force == Some(false) {
        return Some(format!(
            "memory limit {} MiB not in force (cuMemGetInfo total {} MiB, over-limit allocation {})",
            v.mem_limit_mib.unwrap_or_default(),
            v.mem_total_reported_mib,
            match v.over_limit_refused {
                Some(true) => "refused",
                _ => "succeeded",
            }
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_limit_shown_as_free_memory_allows_for_the_context_below_it() {
        assert!(memory_shown_ok(20480, 20480, false));
        assert!(!memory_shown_ok(143_155, 20480, false));
        assert!(memory_shown_ok(20000, 20480, true), "a context's own use");
        assert!(!memory_shown_ok(142_000, 20480, true), "no limit in force");
        assert!(!memory_shown_ok(10000, 20480, true), "far below the limit");
    }

    #[test]
    fn every_devices_limit_is_judged_on_its_own_figures() {
        let (held, problems) = device_verdict(1, 71577, 71577, 143_155, true);
        assert!(held.in_force && problems.is_empty(), "{problems:?}");
        assert_eq!((held.ordinal, held.limit_mib), (1, 71577));
        let (shown_only, problems) = device_verdict(2, 71577, 71577, 143_155, false);
        assert!(!shown_only.in_force);
        assert!(
            problems[0].starts_with("device 2: an allocation"),
            "{problems:?}"
        );
        let (unlimited, problems) = device_verdict(1, 71577, 143_155, 143_155, true);
        assert!(!unlimited.in_force);
        assert!(
            problems[0].contains("reports 143155 MiB total"),
            "{problems:?}"
        );
        let (unseen, problems) = device_verdict(3, 71577, 0, 0, false);
        assert!(!unseen.in_force);
        assert_eq!(problems.len(), 1);
        assert!(problems[0].contains("does not see it"), "{problems:?}");
        let (whole, problems) = device_verdict(1, 143_000, 143_000, 143_155, true);
        assert!(whole.in_force);
        assert!(problems[0].contains("proves nothing"), "{problems:?}");
    }

    #[test]
    fn a_device_whose_limit_does_not_hold_blocks_the_run_and_device_0_alone_keeps_its_line() {
        let base = Verification {
            interposer_loaded: true,
            interposer_path: None,
            mem_total_reported_mib: 40779,
            mem_physical_mib: 81559,
            mem_limit_mib: Some(40779),
            over_limit_refused: Some(true),
            over_limit_error: None,
            sm_limit_pct: None,
            sm_share_mean: 0.0,
            sm_share_windows: Vec::new(),
            shapes: Vec::new(),
            mem_limit_in_force: Some(true),
            sm_partition_seen: None,
            verdicts: None,
            problems: Vec::new(),
            devices: Vec::new(),
        };
        let expect = Expect {
            interposer: true,
            mem_limit_mib: Some(40779),
            device_mem_limits_mib: vec![40779, 71577],
            ..Expect::default()
        };
        assert_eq!(blocking_problem(&expect, &base), None);
        let held = Verification {
            devices: vec![device_verdict(1, 71577, 71577, 143_155, true).0],
            ..base.clone()
        };
        assert_eq!(blocking_problem(&expect, &held), None);
        let broken = Verification {
            devices: vec![device_verdict(1, 71577, 143_155, 143_155, false).0],
            ..base
        };
        let problem = blocking_problem(&expect, &broken).unwrap();
        assert!(
            problem.contains("of device 1 not in force") && problem.contains("succeeded"),
            "{problem}"
        );
    }

    #[test]
    fn shapes_fill_an_sm_and_size_their_work_to_the_block_time() {
        let [short, long] = VERIFY_SHAPES;
        assert_eq!((short.threads(), long.threads()), (256, 1024));
        for shape in VERIFY_SHAPES {
            assert_eq!(
                shape.threads() * shape.blocks_per_sm,
                RESIDENT_THREADS_PER_SM.min(MAX_BLOCK_THREADS * shape.blocks_per_sm)
            );
        }
        // 128 FMAs per SM per clock on sm_90: 1980 MHz x 100 us x 128 over 8 blocks
        // of 256 threads with 8 chains each.
        assert_eq!(short.iters(&DeviceFacts::h200()), 1547);
        assert_eq!(long.iters(&DeviceFacts::h200()), 30_938);
        let unknown = DeviceFacts {
            cc: "1.0".into(),
            ..DeviceFacts::h200()
        };
        assert_eq!(
            short.iters(&unknown),
            773,
            "64 FMAs per clock where unknown"
        );
    }
}
