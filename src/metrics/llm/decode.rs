//! One decode step of a small transformer stack (LLM-004), and its latency spread at
//! changing batch sizes (LLM-009): what a token costs a tenant serving a model.

use super::check;
use crate::cuda::{
    AttentionKernels, AttnShape, DecodeKernels, DeviceBuffer, GemmKernels, GraphExec, Precision,
    RandomKernels, Stream, GEMV_KERNELS, GEMV_MAX_BATCH,
};
use crate::error::{Error, Result};
use crate::metrics::isolation::figures::cv;
use crate::metrics::{bench_variant, find, sampled, BenchEnv, Measured, Selection, Variant};
use criterion::measurement::WallTime;
use criterion::BenchmarkGroup;
use rand::{Rng, SeedableRng};
use std::time::Instant;

const LAYERS: usize = 4;
const D_MODEL: usize = 2048;
const HEADS: usize = 16;
const HEAD_DIM: usize = 128;
const MLP: usize = 8192;
/// Tokens in each sequence's KV cache; each step writes the newest into the last slot.
const CONTEXT: usize = 1024;
/// LLM-009's batch sizes, drawn uniformly from a fixed seed, and steps per sample.
const BATCH_CHOICES: [usize; 6] = [1, 2, 4, 8, 16, 32];
const SEED: u64 = 9;
const STEPS_PER_SAMPLE: usize = 64;

struct Layer {
    w_qkv: DeviceBuffer,
    w_out: DeviceBuffer,
    w_up: DeviceBuffer,
    w_down: DeviceBuffer,
    k_cache: DeviceBuffer,
    v_cache: DeviceBuffer,
}

/// Weights, caches and activations for up to GEMV_MAX_BATCH sequences.
struct Stack {
    kernels: DecodeKernels,
    attention: AttentionKernels,
    layers: Vec<Layer>,
    x: DeviceBuffer,
    resid: DeviceBuffer,
    qkv: DeviceBuffer,
    q: DeviceBuffer,
    attn: DeviceBuffer,
    y: DeviceBuffer,
    h: DeviceBuffer,
    h16: DeviceBuffer,
}

fn cache_shape(batch: usize) -> AttnShape {
    AttnShape {
        batch,
        heads: HEADS,
        seq: CONTEXT,
        head_dim: HEAD_DIM,
    }
}

impl Stack {
    fn new(stream: &Stream) -> Result<Self> {
        let bf16 = Precision::Bf16;
        let random = RandomKernels::load()?;
        let fill = |p: Precision, n: usize, amplitude: f32| {
            check::random_buffer(&random, p, n, amplitude, stream)
        };
        // Weights scaled by 1/sqrt(fan-in) keep activations of order one through the
        // stack, as trained weights do.
        let weight = |rows: usize, cols: usize| fill(bf16, rows * cols, 1.0 / (cols as f32).sqrt());
        let cache_elems = GEMV_MAX_BATCH * HEADS * CONTEXT * HEAD_DIM;
        let layers = (0..LAYERS)
            .map(|_| {
                Ok(Layer {
                    w_qkv: weight(3 * D_MODEL, D_MODEL)?,
                    w_out: weight(D_MODEL, D_MODEL)?,
                    w_up: weight(MLP, D_MODEL)?,
                    w_down: weight(D_MODEL, MLP)?,
                    k_cache: fill(bf16, cache_elems, 1.0)?,
                    v_cache: fill(bf16, cache_elems, 1.0)?,
                })
            })
            .collect::<Result<_>>()?;
        let rows = GEMV_MAX_BATCH;
        Ok(Self {
            kernels: DecodeKernels::load()?,
            attention: AttentionKernels::load()?,
            layers,
            x: fill(bf16, rows * D_MODEL, 1.0)?,
            resid: fill(Precision::F32, rows * D_MODEL, 1.0)?,
            qkv: DeviceBuffer::new(rows * 3 * D_MODEL * 4)?,
            q: DeviceBuffer::new(rows * D_MODEL * 2)?,
            attn: DeviceBuffer::new(rows * D_MODEL * 2)?,
            y: DeviceBuffer::new(rows * D_MODEL * 4)?,
            h: DeviceBuffer::new(rows * MLP * 4)?,
            h16: DeviceBuffer::new(rows * MLP * 2)?,
        })
    }

    /// Enqueues one decode step for `batch` sequences: per layer the QKV projection,
    /// the new token into the cache, attention over the cache, the output projection
    /// and the MLP, each with its residual add.
    fn step(&self, batch: usize, stream: &Stream) -> Result<()> {
        let k = &self.kernels;
        for layer in &self.layers {
            k.gemv(
                [&self.x, &layer.w_qkv, &self.qkv],
                (batch, 3 * D_MODEL, D_MODEL),
                stream,
            )?;
            k.qkv_split(
                [&self.qkv, &self.q, &layer.k_cache, &layer.v_cache],
                (batch, HEADS, HEAD_DIM),
                CONTEXT,
                CONTEXT - 1,
                stream,
            )?;
            self.attention.decode(
                [&self.q, &layer.k_cache, &layer.v_cache, &self.attn],
                cache_shape(batch),
                false,
                stream,
            )?;
            k.gemv(
                [&self.attn, &layer.w_out, &self.y],
                (batch, D_MODEL, D_MODEL),
                stream,
            )?;
            k.residual_add([&self.y, &self.resid, &self.x], batch * D_MODEL, stream)?;
            k.gemv(
                [&self.x, &layer.w_up, &self.h],
                (batch, MLP, D_MODEL),
                stream,
            )?;
            k.gelu([&self.h, &self.h16], batch * MLP, stream)?;
            k.gemv(
                [&self.h16, &layer.w_down, &self.y],
                (batch, D_MODEL, MLP),
                stream,
            )?;
            k.residual_add([&self.y, &self.resid, &self.x], batch * D_MODEL, stream)?;
        }
        Ok(())
    }

    /// Checks the step's two heavy kernels on its own data: every matrix-vector
    /// kernel (one per batch bound) against the naive GEMM, and decode attention
    /// against its naive kernel.
    fn check(&self, stream: &Stream) -> Result<()> {
        let gemm = GemmKernels::load()?;
        let layer = &self.layers[0];
        for (index, &(batch, name)) in GEMV_KERNELS.iter().enumerate() {
            let shape = (batch, 3 * D_MODEL, D_MODEL);
            let reference = check::poisoned(batch * 3 * D_MODEL, stream)?;
            self.qkv.fill_u32(0x7fc0_0000, stream)?;
            self.kernels
                .gemv_bounded(index, [&self.x, &layer.w_qkv, &self.qkv], shape, stream)?;
            gemm.reference(
                Precision::Bf16,
                [&self.x, &layer.w_qkv, &reference],
                shape,
                stream,
            )?;
            stream.synchronize()?;
            let written = batch * 3 * D_MODEL;
            check::expect_close(
                name,
                &format!("batch {batch}, {}x{}", 3 * D_MODEL, D_MODEL),
                &check::download_f32(&self.qkv)?[..written],
                &check::download_f32(&reference)?,
                check::TOL_F32,
            )?;
        }
        let batch = GEMV_MAX_BATCH;
        let attn_ref = check::poisoned(batch * D_MODEL, stream)?;
        let tensors = [&self.x, &layer.k_cache, &layer.v_cache];
        self.attn.fill_u32(0x7fc0_7fc0, stream)?;
        self.attention.decode(
            [tensors[0], tensors[1], tensors[2], &self.attn],
            cache_shape(batch),
            false,
            stream,
        )?;
        self.attention.decode(
            [tensors[0], tensors[1], tensors[2], &attn_ref],
            cache_shape(batch),
            true,
            stream,
        )?;
        stream.synchronize()?;
        check::expect_bf16_close(
            "attn_decode",
            &format!("batch {batch}, {HEADS} heads of {HEAD_DIM}, {CONTEXT} cached tokens"),
            &self.attn,
            &attn_ref,
        )?;
        Ok(())
    }
}

pub(super) fn bench(
    group: &mut BenchmarkGroup<'_, WallTime>,
    env: &BenchEnv,
    selection: &Selection,
) -> Result<Vec<Measured>> {
    if !["LLM-004", "LLM-009"]
        .iter()
        .any(|id| selection.contains(id))
    {
        return Ok(Vec::new());
    }
    let stream = Stream::new()?;
    let stack = Stack::new(&stream)?;
    stack.check(&stream)?;
    let mut out = Vec::new();
    if selection.contains("LLM-004") {
        let info = find("LLM-004")?;
        out.extend(bench_variant(
            group,
            env,
            Variant::new(info, "b1-launches"),
            &mut |sw| sw.time(|| stack.step(1, &stream).and_then(|()| stream.synchronize())),
        )?);
        let graph = GraphExec::capture(&stream, || stack.step(1, &stream))?;
        out.extend(bench_variant(
            group,
            env,
            Variant::new(info, "b1-graph"),
            &mut |sw| sw.time(|| graph.launch(&stream).and_then(|()| stream.synchronize())),
        )?);
    }
    if selection.contains("LLM-009") {
        let info = find("LLM-009")?;
        let name = "batch-1-to-32";
        if env.wants(&Variant::new(info, name)) {
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(SEED);
            let step_secs = |batch: usize| -> Result<f64> {
                let start = Instant::now();
                stack.step(batch, &stream)?;
                stream.synchronize()?;
                Ok(start.elapsed().as_secs_f64())
            };
            BATCH_CHOICES
                .iter()
                .try_for_each(|&b| step_secs(b).map(drop))?;
            let samples = (0..env.paired_samples())
                .map(|_| {
                    let steps = (0..STEPS_PER_SAMPLE)
                        .map(|_| step_secs(BATCH_CHOICES[rng.random_range(0..BATCH_CHOICES.len())]))
                        .collect::<Result<Vec<_>>>()?;
                    cv(&steps)
                        .ok_or_else(|| Error::Invalid("LLM-009: no step took any time".into()))
                })
                .collect::<Result<Vec<_>>>()?;
            out.push(sampled(info, name, samples, None));
        }
    }
    Ok(out)
}
