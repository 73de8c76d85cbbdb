//! GEMM on tensor cores and on FMA units: mixed precision (LLM-008), batch scaling
//! (LLM-003), and the best measured bf16 GEMM that LLM-001 is set against. Every
//! kernel, ours and cuBLAS's, is checked against the naive f32 kernel first.

use super::check;
use crate::baseline::DeviceFacts;
use crate::cuda::{
    Cublas, DeviceBuffer, GemmGrid, GemmKernels, Generation, Precision, RandomKernels, Stream,
};
use crate::error::{Error, Result};
use crate::measure::gpu_time;
use crate::metrics::{bench_batched, find, sampled, BenchEnv, Measured, MetricInfo, Variant};
use crate::system::{peak_tflops, Peak, Pipe};
use criterion::measurement::WallTime;
use criterion::BenchmarkGroup;

/// Square size of LLM-008 and of the measured peak; smaller with `--quick`.
const SQUARE: usize = 8192;
const SQUARE_QUICK: usize = 4096;
/// LLM-003: [b x HIDDEN] x [HIDDEN x HIDDEN]^T for b in BATCHES.
const HIDDEN: usize = 4096;
const BATCHES: [usize; 8] = [2, 4, 8, 16, 32, 64, 128, 256];
/// Weight copies LLM-003 rotates through: 4 x 32 MiB is more than the L2 of any
/// current GPU, so small batches read weights from memory as a server would.
const WEIGHT_COPIES: usize = 4;
/// GEMMs per timed sample of a paired measurement.
const REPS: u64 = 5;

/// A GEMM problem whose kernel passed its check, with its operands.
pub(super) struct Problem {
    pub p: Precision,
    pub shape: (usize, usize, usize),
    a: DeviceBuffer,
    b: Vec<DeviceBuffer>,
    c: DeviceBuffer,
}

impl Problem {
    /// TFLOP of one GEMM.
    pub fn tflop(&self) -> f64 {
        let (m, n, k) = self.shape;
        2.0 * (m * n * k) as f64 / 1e12
    }
}

/// Which implementation runs a problem: ours of one generation, on a persistent grid
/// where it is the Hopper one, or cuBLAS.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Path {
    Ours(Generation),
    Cublas,
}

pub(super) struct Gemms {
    kernels: GemmKernels,
    random: RandomKernels,
    cublas: Option<Cublas>,
    pub stream: Stream,
}

impl Gemms {
    pub fn load() -> Result<Self> {
        Ok(Self {
            kernels: GemmKernels::load()?,
            random: RandomKernels::load()?,
            cublas: Cublas::load()?,
            stream: Stream::new()?,
        })
    }

    pub fn has_cublas(&self) -> bool {
        self.cublas.is_some()
    }

    /// Our newest kernel for `p` on this device.
    pub fn ours(&self, p: Precision) -> Path {
        Path::Ours(self.kernels.newest(p))
    }

    /// Allocates the problem on fresh random operands and checks `path` on it (on the
    /// first weight copy) against the naive kernel.
    pub fn checked(
        &self,
        path: Path,
        p: Precision,
        shape: (usize, usize, usize),
        weight_copies: usize,
    ) -> Result<Problem> {
        let (m, n, k) = shape;
        let problem = Problem {
            p,
            shape,
            a: check::random_buffer(&self.random, p, m * k, 1.0, &self.stream)?,
            b: (0..weight_copies.max(1))
                .map(|_| check::random_buffer(&self.random, p, n * k, 1.0, &self.stream))
                .collect::<Result<_>>()?,
            c: check::poisoned(m * n, &self.stream)?,
        };
        let reference = check::poisoned(m * n, &self.stream)?;
        self.kernels.reference(
            p,
            [&problem.a, &problem.b[0], &reference],
            shape,
            &self.stream,
        )?;
        self.run(path, &problem, 0)?;
        self.stream.synchronize()?;
        check::expect_close(
            kernel(path, p),
            &format!("{m}x{n}x{k}"),
            &check::download_f32(&problem.c)?,
            &check::download_f32(&reference)?,
            check::tolerance(p),
        )?;
        Ok(problem)
    }

    /// Enqueues one GEMM of `problem` with weight copy `copy`.
    pub fn run(&self, path: Path, problem: &Problem, copy: usize) -> Result<()> {
        let b = &problem.b[copy % problem.b.len()];
        match (path, &self.cublas) {
            (Path::Ours(generation), _) => self.kernels.gemm_on(
                generation,
                problem.p,
                [&problem.a, b, &problem.c],
                problem.shape,
                GemmGrid::Persistent,
                &self.stream,
            ),
            (Path::Cublas, Some(blas)) if problem.p == Precision::Bf16 => {
                let (m, n, k) = problem.shape;
                blas.gemm_bf16(&problem.a, b, &problem.c, m, n, k, &self.stream)
            }
            (Path::Cublas, _) => Err(Error::Invalid(
                "cuBLAS runs bf16 only here, and only when libcublas loads".into(),
            )),
        }
    }

    /// Seconds per GEMM over `reps` GEMMs, rotating weight copies.
    pub fn seconds(&self, path: Path, problem: &Problem, reps: u64) -> Result<f64> {
        let mut copy = 0;
        let elapsed = gpu_time(&self.stream, reps, || {
            copy += 1;
            self.run(path, problem, copy)
        })?;
        Ok(elapsed.as_secs_f64() / reps as f64)
    }

    /// The best bf16 GEMM this device runs here (ours, and cuBLAS where it loads) at
    /// LLM-008's size: the practical ceiling other tensor-core kernels are held to.
    pub fn measured_peak(&self, quick: bool) -> Result<Peak> {
        let size = square(quick);
        let shape = (size, size, size);
        let mut best: Option<(f64, &str)> = None;
        let mut paths = vec![self.ours(Precision::Bf16)];
        if self.has_cublas() {
            paths.push(Path::Cublas);
        }
        for path in paths {
            let name = kernel(path, Precision::Bf16);
            let problem = self.checked(path, Precision::Bf16, shape, 1)?;
            self.seconds(path, &problem, 2)?;
            let mut times: Vec<f64> = (0..5)
                .map(|_| self.seconds(path, &problem, 2))
                .collect::<Result<_>>()?;
            times.sort_by(f64::total_cmp);
            let tflops = problem.tflop() / times[times.len() / 2];
            if best.is_none_or(|(b, _)| tflops > b) {
                best = Some((tflops, name));
            }
        }
        let (value, name) = best.expect("our kernel always runs");
        Ok(Peak {
            source: format!("best bf16 GEMM measured in this run: {name} at {size}^3"),
            value,
        })
    }
}

/// The kernel `path` runs for precision `p`, as the check and the summary name it.
fn kernel(path: Path, p: Precision) -> &'static str {
    match path {
        Path::Cublas => Cublas::GEMM_BF16,
        Path::Ours(generation) => GemmKernels::kernel_name(generation, p),
    }
}

/// The square size of LLM-008 and of the measured peak.
fn square(quick: bool) -> usize {
    if quick {
        SQUARE_QUICK
    } else {
        SQUARE
    }
}

fn pipe(p: Precision) -> Pipe {
    match p {
        Precision::Bf16 | Precision::F16 => Pipe::Tensor16,
        Precision::F32 => Pipe::Fp32,
    }
}

/// Times one checked problem under Criterion as a TFLOPS throughput.
fn bench_tflops(
    group: &mut BenchmarkGroup<'_, WallTime>,
    env: &BenchEnv,
    gemms: &Gemms,
    variant: Variant<'_>,
    path: Path,
    problem: &Problem,
    peak: Option<Peak>,
) -> Result<Option<Measured>> {
    let measured = bench_batched(group, env, variant, &mut |sw, iters| {
        let elapsed = gpu_time(&gemms.stream, iters, || gemms.run(path, problem, 0))?;
        sw.record_ops(&[elapsed], iters);
        Ok(())
    })?;
    Ok(measured.map(|m| Measured {
        peak,
        ..m.with_work(problem.tflop())
            .with_kernel(kernel(path, problem.p))
    }))
}

/// `slow`'s time over `fast`'s, one sample per alternated pair: how many times faster
/// `fast` runs, with drift shared by both sides of every sample.
fn speedup(
    env: &BenchEnv,
    info: &'static MetricInfo,
    name: &str,
    gemms: &Gemms,
    (fast, fast_reps): ((Path, &Problem), u64),
    (slow, slow_reps): ((Path, &Problem), u64),
) -> Result<Measured> {
    let samples = (0..env.paired_samples())
        .map(|_| {
            let t_fast = gemms.seconds(fast.0, fast.1, fast_reps)?;
            Ok(gemms.seconds(slow.0, slow.1, slow_reps)? / t_fast)
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Measured {
        unit: "ratio",
        ..sampled(info, name, samples, None)
    })
}

/// LLM-008: each precision's TFLOPS with each kernel generation that runs it, cuBLAS
/// bf16 where present, the ratios of the 16-bit sm_80 kernels to f32, and our newest
/// bf16 kernel against cuBLAS's, from alternated samples.
pub(super) fn mixed_precision(
    group: &mut BenchmarkGroup<'_, WallTime>,
    env: &BenchEnv,
    gemms: &Gemms,
    facts: &DeviceFacts,
) -> Result<Vec<Measured>> {
    let info = find("LLM-008")?;
    let size = square(env.quick);
    let shape = (size, size, size);
    let mut out = Vec::new();
    let mut problems: Vec<(Path, Problem)> = Vec::new();
    for p in Precision::ALL {
        for generation in gemms.kernels.generations_of(p) {
            let path = Path::Ours(generation);
            let name = format!("{}{}", p.name(), generation.suffix());
            let problem = gemms.checked(path, p, shape, 1)?;
            out.extend(bench_tflops(
                group,
                env,
                gemms,
                Variant::new(info, &name),
                path,
                &problem,
                peak_tflops(facts, pipe(p)),
            )?);
            problems.push((path, problem));
        }
    }
    if gemms.has_cublas() {
        let problem = gemms.checked(Path::Cublas, Precision::Bf16, shape, 1)?;
        out.extend(bench_tflops(
            group,
            env,
            gemms,
            Variant::new(info, "cublas-bf16"),
            Path::Cublas,
            &problem,
            peak_tflops(facts, Pipe::Tensor16),
        )?);
        problems.push((Path::Cublas, problem));
    } else {
        eprintln!("llm/LLM-008/cublas-bf16: skipped, libcublas could not be loaded");
    }
    let find_problem = |path: Path, p: Precision| {
        problems
            .iter()
            .find(|(q, problem)| *q == path && problem.p == p)
            .map(|(q, problem)| (*q, problem))
    };
    let sm80 = Path::Ours(Generation::Sm80);
    for p in [Precision::Bf16, Precision::F16] {
        let name = format!("{}/f32", p.name());
        if let (true, Some(fast), Some(slow)) = (
            env.wants(&Variant::new(info, &name)),
            find_problem(sm80, p),
            find_problem(sm80, Precision::F32),
        ) {
            out.push(speedup(env, info, &name, gemms, (fast, REPS), (slow, 1))?);
        }
    }
    let newest = gemms.ours(Precision::Bf16);
    if let Path::Ours(generation) = newest {
        let name = format!("bf16{}/cublas", generation.suffix());
        if let (true, Some(ours), Some(cublas)) = (
            env.wants(&Variant::new(info, &name)),
            find_problem(newest, Precision::Bf16),
            find_problem(Path::Cublas, Precision::Bf16),
        ) {
            // cuBLAS's time over ours: our throughput as a share of cuBLAS's
            out.push(speedup(
                env,
                info,
                &name,
                gemms,
                (cublas, REPS),
                (ours, REPS),
            )?);
        }
    }
    Ok(out)
}

/// LLM-003: t(1) / t(b) of our newest bf16 GEMM, i.e. tokens/s(b) / (b * tokens/s(1)),
/// each sample from the two measured in alternation.
pub(super) fn batch_scaling(env: &BenchEnv, gemms: &Gemms) -> Result<Vec<Measured>> {
    let info = find("LLM-003")?;
    let ours = gemms.ours(Precision::Bf16);
    let single = gemms.checked(ours, Precision::Bf16, (1, HIDDEN, HIDDEN), WEIGHT_COPIES)?;
    let mut out = Vec::new();
    for b in BATCHES {
        let name = format!("b{b}");
        if !env.wants(&Variant::new(info, &name)) {
            continue;
        }
        let batched = gemms.checked(ours, Precision::Bf16, (b, HIDDEN, HIDDEN), WEIGHT_COPIES)?;
        let ratio = speedup(
            env,
            info,
            &name,
            gemms,
            ((ours, &batched), REPS * 4),
            ((ours, &single), REPS * 4),
        )?;
        out.push(Measured {
            unit: info.unit,
            ..ratio.with_kernel(kernel(ours, Precision::Bf16))
        });
    }
    Ok(out)
}
