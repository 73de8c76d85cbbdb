//! LLM-010: a tensor-parallel MLP layer on 1, 2, 4 ... GPUs, one rank process per
//! GPU: the column-parallel GEMM, GELU, the row-parallel GEMM and the all-reduce of
//! the partial sums, as Megatron-style serving runs it. Each rank count's output is
//! checked against the same layer computed whole on one GPU before it is timed.

use super::check;
use crate::cuda::{
    Comm, Context, DecodeKernels, Device, DeviceBuffer, GemmKernels, Precision, RandomKernels,
    Stream,
};
use crate::error::{Error, Result};
use crate::measure::gpu_time;
use crate::metrics::nccl::{self, Ranks};
use crate::metrics::{find, sampled, BenchEnv, Measured, Selection, Variant};
use crate::run::child::{Held, Operation};
use crate::system::{peak_tflops, Peak, Pipe};
use rand::Rng;
use serde::{Deserialize, Serialize};

const HIDDEN: usize = 4096;
const FFN: usize = 4 * HIDDEN;
/// Tokens of the layer's input, and with `--quick`.
const TOKENS: usize = 4096;
const TOKENS_QUICK: usize = 2048;
/// How far above 1 a scaling factor may lie and still count as timing noise.
const NOISE: f64 = 0.03;
/// Layers per timed sample.
const REPS: u64 = 5;

/// The layer: `tokens` x `hidden` in, an MLP of width `ffn`, split over the ranks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TpShape {
    pub tokens: usize,
    pub hidden: usize,
    pub ffn: usize,
}

impl TpShape {
    pub fn new(quick: bool) -> Self {
        Self {
            tokens: if quick { TOKENS_QUICK } else { TOKENS },
            hidden: HIDDEN,
            ffn: FFN,
        }
    }

    /// TFLOP of the whole layer: two GEMMs of 2 x tokens x hidden x ffn each.
    pub fn tflop(&self) -> f64 {
        4.0 * (self.tokens * self.hidden * self.ffn) as f64 / 1e12
    }

    /// The MLP columns one of `n` ranks holds.
    fn shard(&self, n: usize) -> usize {
        self.ffn / n
    }

    /// Whether `n` ranks split the layer into shards our GEMM takes.
    fn splits(&self, n: usize) -> bool {
        n > 0
            && self.ffn % n == 0
            && GemmKernels::supports(Precision::Bf16, self.shard(n), self.hidden)
            && GemmKernels::supports(Precision::Bf16, self.hidden, self.shard(n))
    }
}

/// The rank counts measured on `gpus` visible GPUs: 1, 2, 4 ... and all of them,
/// those that split the layer.
pub fn rank_counts(gpus: usize, shape: &TpShape) -> Vec<usize> {
    let mut counts: Vec<usize> = std::iter::successors(Some(1usize), |n| Some(n * 2))
        .take_while(|&n| n <= gpus)
        .collect();
    if gpus > 0 && !counts.contains(&gpus) {
        counts.push(gpus);
    }
    counts.retain(|&n| shape.splits(n));
    counts
}

/// throughput(n) / (n x throughput(1)) from the layer's time on one rank and on `n`.
pub fn scaling_factor(one_s: f64, n: usize, n_s: f64) -> f64 {
    one_s / (n as f64 * n_s)
}

/// One rank's layer: its shard of the weights, `samples` samples of [`REPS`]
/// layers each once checked (none: the check alone). Rank 0 checks the all-reduced
/// output against the whole layer, which it computes from every rank's seeds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TpLayer {
    pub shape: TpShape,
    pub seed: u64,
    pub samples: usize,
}

/// A rank's operands of one layer.
struct Shard {
    x: DeviceBuffer,
    w1: DeviceBuffer,
    w2: DeviceBuffer,
    y: DeviceBuffer,
    act: DeviceBuffer,
    z: DeviceBuffer,
}

/// The kernels and stream of a rank's layers.
struct Kernels {
    gemm: GemmKernels,
    decode: DecodeKernels,
    random: RandomKernels,
    stream: Stream,
}

impl Kernels {
    fn load() -> Result<Self> {
        Ok(Self {
            gemm: GemmKernels::load()?,
            decode: DecodeKernels::load()?,
            random: RandomKernels::load()?,
            stream: Stream::new()?,
        })
    }

    /// Rank `rank` of `n`'s operands: the input from `seed`, the same on every rank,
    /// its weight shards from seeds of its own, scaled so activations stay near 1.
    fn shard(&self, shape: &TpShape, n: usize, rank: usize, seed: u64) -> Result<Shard> {
        let (t, h, f) = (shape.tokens, shape.hidden, shape.shard(n));
        let bf16 = |len: usize, seed: u64, amplitude: f32| -> Result<DeviceBuffer> {
            let buf = DeviceBuffer::new(len * 2)?;
            self.random
                .uniform(&buf, Precision::Bf16, seed, amplitude, &self.stream)?;
            Ok(buf)
        };
        let rank_seed = seed.wrapping_add(1 + 2 * rank as u64);
        Ok(Shard {
            x: bf16(t * h, seed, 1.0)?,
            w1: bf16(f * h, rank_seed, 1.0 / (h as f32).sqrt())?,
            w2: bf16(
                h * f,
                rank_seed.wrapping_add(1),
                1.0 / (shape.ffn as f32).sqrt(),
            )?,
            y: check::poisoned(t * f, &self.stream)?,
            act: DeviceBuffer::new(t * f * 2)?,
            z: check::poisoned(t * h, &self.stream)?,
        })
    }

    /// The shard's part of the layer, before the all-reduce: z = gelu(x w1^T) w2^T.
    fn partial(&self, s: &Shard, shape: &TpShape, n: usize) -> Result<()> {
        let (t, h, f) = (shape.tokens, shape.hidden, shape.shard(n));
        let p = Precision::Bf16;
        self.gemm
            .gemm(p, [&s.x, &s.w1, &s.y], (t, f, h), &self.stream)?;
        self.decode.gelu([&s.y, &s.act], t * f, &self.stream)?;
        self.gemm
            .gemm(p, [&s.act, &s.w2, &s.z], (t, h, f), &self.stream)
    }

    /// The rank's whole layer: its part, then the sum of every rank's, in place.
    fn layer(&self, s: &Shard, shape: &TpShape, comm: &Comm) -> Result<()> {
        self.partial(s, shape, comm.nranks)?;
        comm.all_reduce_sum(&s.z, &s.z, shape.tokens * shape.hidden, &self.stream)
    }

    /// Rank 0's checks of `s` after its layer ran: our GEMM against the naive kernel
    /// on its first product, then the all-reduced output against every rank's part
    /// computed here and summed, i.e. the layer computed whole on this GPU.
    fn check(&self, s: &Shard, shape: &TpShape, n: usize, seed: u64) -> Result<()> {
        let (t, h, f) = (shape.tokens, shape.hidden, shape.shard(n));
        let what = format!("tp{n} {t}x{f}x{h}");
        let reference = check::poisoned(t * f, &self.stream)?;
        self.gemm.reference(
            Precision::Bf16,
            [&s.x, &s.w1, &reference],
            (t, f, h),
            &self.stream,
        )?;
        self.stream.synchronize()?;
        check::expect_close(
            "gemm_bf16",
            &what,
            &check::download_f32(&s.y)?,
            &check::download_f32(&reference)?,
            check::TOL_16BIT,
        )?;
        let mut whole = vec![0f32; t * h];
        for rank in 0..n {
            let part = self.shard(shape, n, rank, seed)?;
            self.partial(&part, shape, n)?;
            self.stream.synchronize()?;
            for (sum, v) in whole.iter_mut().zip(check::download_f32(&part.z)?) {
                *sum += v;
            }
        }
        check::expect_close(
            "ncclAllReduce",
            &format!("{what}: the layer against the whole layer on one GPU"),
            &check::download_f32(&s.z)?,
            &whole,
            check::TOL_F32,
        )
        .map(|_| ())
    }
}

/// A rank's checked layer, kept for the timed request that follows its check.
struct Checked {
    layer: TpLayer,
    nranks: usize,
    kernels: Kernels,
    shard: Shard,
}

impl Operation for TpLayer {
    const NAME: &'static str = "llm-tp-layer";
    type Reply = Vec<f64>;
    fn serve(self, ctx: &Context, held: &mut Held) -> Result<Vec<f64>> {
        ctx.make_current()?;
        let comm = nccl::ranks::comm(held)?;
        let (n, rank) = (comm.nranks, comm.rank);
        if self.samples == 0 {
            let kernels = Kernels::load()?;
            let shard = kernels.shard(&self.shape, n, rank, self.seed)?;
            kernels.layer(&shard, &self.shape, comm)?;
            kernels.stream.synchronize()?;
            if rank == 0 {
                kernels.check(&shard, &self.shape, n, self.seed)?;
            }
            held.keep(Checked {
                layer: self,
                nranks: n,
                kernels,
                shard,
            });
            return Ok(Vec::new());
        }
        let comm = nccl::ranks::comm(held)?;
        let c = held
            .get::<Checked>()
            .filter(|c| {
                c.nranks == comm.nranks && c.layer.shape == self.shape && c.layer.seed == self.seed
            })
            .ok_or_else(|| Error::Invalid("LLM-010: a layer is timed only once checked".into()))?;
        let k = &c.kernels;
        gpu_time(&k.stream, REPS, || k.layer(&c.shard, &self.shape, comm))?;
        (0..self.samples)
            .map(|_| {
                let t = gpu_time(&k.stream, REPS, || k.layer(&c.shard, &self.shape, comm))?;
                Ok(t.as_secs_f64() / REPS as f64)
            })
            .collect()
    }
}

/// The tensor-core peak of devices `0..n` together.
fn peak_of(n: usize) -> Result<Option<Peak>> {
    let mut total = 0.0;
    let mut source = None;
    for ordinal in 0..n as i32 {
        let facts = crate::system::device_facts(&Device::get(ordinal)?)?;
        let Some(p) = peak_tflops(&facts, Pipe::Tensor16) else {
            return Ok(None);
        };
        total += p.value;
        source.get_or_insert(p.source);
    }
    Ok(source.map(|s| Peak {
        source: format!("the sum of {n} devices' peaks; device 0's: {s}"),
        value: total,
    }))
}

/// LLM-010's variants of `n` ranks: its throughput, and its factor where n > 1.
fn names(n: usize) -> Vec<String> {
    let mut out = vec![format!("tp{n}/TFLOPS")];
    if n > 1 {
        out.push(format!("tp{n}/factor"));
    }
    out
}

pub(super) fn bench(env: &BenchEnv, selection: &Selection) -> Result<Vec<Measured>> {
    let info = find("LLM-010")?;
    if !selection.contains(info.id) || !env.benchmarking {
        return Ok(Vec::new());
    }
    let shape = TpShape::new(env.quick);
    let gpus = Device::count()? as usize;
    let counts = rank_counts(gpus, &shape);
    let selected = |name: &str| env.selects(&Variant::new(info, name).path());
    if !counts.iter().flat_map(|&n| names(n)).any(|n| selected(&n)) {
        return Ok(Vec::new());
    }
    if nccl::loaded("llm/LLM-010")?.is_none() {
        return Ok(Vec::new());
    }
    if gpus < 2 {
        eprintln!("llm/LLM-010: one visible GPU, so only tp1 runs; the scaling factor needs 2+ GPUs and is not measured");
    }
    let mut ranks = Ranks::start(counts.last().copied().unwrap_or(1))?;
    let measured = measure(&mut ranks, env, &shape, &counts);
    ranks.end();
    measured
}

fn measure(
    ranks: &mut Ranks,
    env: &BenchEnv,
    shape: &TpShape,
    counts: &[usize],
) -> Result<Vec<Measured>> {
    let info = find("LLM-010")?;
    let mut out = Vec::new();
    let mut one_s = None;
    for &n in counts {
        let wanted: Vec<String> = names(n)
            .into_iter()
            .filter(|name| env.wants(&Variant::new(info, name)))
            .collect();
        // The factors need tp1's time.
        if wanted.is_empty() && !(n == 1 && counts.len() > 1) {
            continue;
        }
        ranks.join(n)?;
        let check = TpLayer {
            shape: *shape,
            seed: rand::rng().random(),
            samples: 0,
        };
        ranks.each(|_| check.clone())?;
        let timed = TpLayer {
            samples: env.paired_samples(),
            ..check
        };
        let times = nccl::slowest(&ranks.each(|_| timed.clone())?)?;
        let median_s = crate::stats::median(&times);
        if n == 1 {
            one_s = Some(median_s);
        }
        let tflops: Vec<f64> = times.iter().map(|t| shape.tflop() / t).collect();
        eprintln!(
            "llm/LLM-010/tp{n}: {:.2} ms per layer, {:.1} TFLOPS",
            median_s * 1e3,
            shape.tflop() / median_s
        );
        if wanted.contains(&format!("tp{n}/TFLOPS")) {
            out.push(Measured {
                unit: "TFLOPS",
                peak: peak_of(n)?,
                ..sampled(info, &format!("tp{n}/TFLOPS"), tflops, None)
            });
        }
        let name = format!("tp{n}/factor");
        if let (true, Some(one)) = (wanted.contains(&name), one_s.filter(|_| n > 1)) {
            let factors: Vec<f64> = times.iter().map(|&t| scaling_factor(one, n, t)).collect();
            let median = crate::stats::bounded(
                &format!("LLM-010 {name}"),
                crate::stats::median(&factors),
                0.0,
                1.0 + NOISE,
            )?;
            eprintln!("llm/LLM-010/{name}: {median:.3} of linear scaling");
            out.push(sampled(info, &name, factors, None));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_layer_counts_both_gemms() {
        let s = TpShape::new(false);
        assert!((s.tflop() - 4.0 * 4096.0 * 4096.0 * 16384.0 / 1e12).abs() < 1e-12);
        assert!(TpShape::new(true).tflop() < s.tflop());
        assert_eq!(s.shard(4), 4096);
    }

    #[test]
    fn rank_counts_double_up_to_the_gpus_and_include_all_of_them() {
        let s = TpShape::new(true);
        assert_eq!(rank_counts(1, &s), vec![1]);
        assert_eq!(rank_counts(2, &s), vec![1, 2]);
        assert_eq!(rank_counts(8, &s), vec![1, 2, 4, 8]);
        // 16384 / 6 is no whole shard, so six GPUs run 1, 2 and 4 ranks.
        assert_eq!(rank_counts(6, &s), vec![1, 2, 4]);
        assert!(rank_counts(0, &s).is_empty());
        // Shards under the GEMM's 256-column tile are not split.
        assert_eq!(rank_counts(128, &s), vec![1, 2, 4, 8, 16, 32, 64]);
    }

    #[test]
    fn the_factor_is_one_for_linear_scaling_and_less_below_it() {
        assert!((scaling_factor(8.0, 4, 2.0) - 1.0).abs() < 1e-12);
        assert!((scaling_factor(8.0, 4, 4.0) - 0.5).abs() < 1e-12);
        assert!(scaling_factor(8.0, 2, 3.0) > 1.0);
    }

    #[test]
    fn one_rank_has_a_throughput_and_no_factor() {
        assert_eq!(names(1), vec!["tp1/TFLOPS"]);
        assert_eq!(names(4), vec!["tp4/TFLOPS", "tp4/factor"]);
    }
}
