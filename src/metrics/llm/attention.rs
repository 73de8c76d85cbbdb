//! LLM-001: flash-attention forward throughput, against the device's tensor peak and
//! against the best GEMM measured in the same run.

use super::check;
use super::gemm::Gemms;
use crate::baseline::DeviceFacts;
use crate::cuda::{
    flash_kernel_name, AttentionKernels, AttnShape, DeviceBuffer, Generation, Precision,
    RandomKernels, Stream,
};
use crate::error::Result;
use crate::measure::gpu_time;
use crate::metrics::{bench_batched, find, BenchEnv, Measured, Variant};
use crate::system::{peak_tflops, Pipe};
use criterion::measurement::WallTime;
use criterion::BenchmarkGroup;

/// B4 H16 S4096: 64 sequences of 32 query tiles, enough blocks to fill any current GPU.
const BATCH: usize = 4;
const HEADS: usize = 16;
const SEQ: usize = 4096;
/// With --quick: 8 query tiles per sequence (512 blocks still fill the GPU), and the
/// naive check before timing costs a sixteenth.
const SEQ_QUICK: usize = 1024;

/// Q, K, V and the output of one attention problem.
struct Tensors {
    shape: AttnShape,
    q: DeviceBuffer,
    k: DeviceBuffer,
    v: DeviceBuffer,
    o: DeviceBuffer,
}

impl Tensors {
    fn random(shape: AttnShape, random: &RandomKernels, stream: &Stream) -> Result<Self> {
        let n = shape.batch * shape.heads * shape.seq * shape.head_dim;
        let input = || check::random_buffer(random, Precision::Bf16, n, 1.0, stream);
        Ok(Self {
            shape,
            q: input()?,
            k: input()?,
            v: input()?,
            o: DeviceBuffer::new(n * 2)?,
        })
    }

    /// TFLOP of one forward pass: 4*B*H*S*S*D, half of it when causal.
    fn tflop(&self, causal: bool) -> f64 {
        let s = &self.shape;
        let full = 4.0 * (s.batch * s.heads * s.seq * s.seq * s.head_dim) as f64 / 1e12;
        if causal {
            full / 2.0
        } else {
            full
        }
    }
}

/// Runs the flash kernel of `generation` on fresh inputs and compares it with the
/// naive f32 kernel; a Hopper kernel that fails is an error naming it, never a
/// fallback to the sm_80 one.
fn check_flash(
    kernels: &AttentionKernels,
    generation: Generation,
    t: &Tensors,
    causal: bool,
    stream: &Stream,
) -> Result<()> {
    let n = t.shape.batch * t.shape.heads * t.shape.seq * t.shape.head_dim;
    t.o.fill_u32(0x7fc0_7fc0, stream)?;
    let reference = check::poisoned(n, stream)?;
    kernels.flash(
        generation,
        [&t.q, &t.k, &t.v, &t.o],
        t.shape,
        causal,
        stream,
    )?;
    kernels.reference([&t.q, &t.k, &t.v, &reference], t.shape, causal, stream)?;
    stream.synchronize()?;
    check::expect_bf16_close(
        flash_kernel_name(generation, t.shape.head_dim),
        &format!(
            "B{} H{} S{} D{}{}",
            t.shape.batch,
            t.shape.heads,
            t.shape.seq,
            t.shape.head_dim,
            if causal { " causal" } else { "" }
        ),
        &t.o,
        &reference,
    )?;
    Ok(())
}

pub(super) fn bench(
    group: &mut BenchmarkGroup<'_, WallTime>,
    env: &BenchEnv,
    gemms: &Gemms,
    facts: &DeviceFacts,
) -> Result<Vec<Measured>> {
    let info = find("LLM-001")?;
    let kernels = AttentionKernels::load()?;
    let stream = Stream::new()?;
    let random = RandomKernels::load()?;
    let measured_peak = gemms.measured_peak(env.quick)?;
    eprintln!(
        "llm/LLM-001: measured peak {:.1} TFLOPS ({})",
        measured_peak.value, measured_peak.source
    );
    let mut out = Vec::new();
    for head_dim in [128, 64] {
        let tensors = Tensors::random(
            AttnShape {
                batch: BATCH,
                heads: HEADS,
                seq: if env.quick { SEQ_QUICK } else { SEQ },
                head_dim,
            },
            &random,
            &stream,
        )?;
        for causal in [false, true] {
            for generation in kernels.generations() {
                let name = format!(
                    "d{head_dim}{}{}",
                    if causal { "-causal" } else { "" },
                    generation.suffix()
                );
                if !env.selects(&Variant::new(info, &name).path()) {
                    continue;
                }
                check_flash(&kernels, generation, &tensors, causal, &stream)?;
                let t = &tensors;
                let measured =
                    bench_batched(group, env, Variant::new(info, &name), &mut |sw, iters| {
                        let elapsed = gpu_time(&stream, iters, || {
                            kernels.flash(
                                generation,
                                [&t.q, &t.k, &t.v, &t.o],
                                t.shape,
                                causal,
                                &stream,
                            )
                        })?;
                        sw.record_ops(&[elapsed], iters);
                        Ok(())
                    })?;
                out.extend(measured.map(|m| {
                    Measured {
                        peak: peak_tflops(facts, Pipe::Tensor16),
                        measured_peak: Some(measured_peak.clone()),
                        ..m.with_work(tensors.tflop(causal))
                            .with_kernel(flash_kernel_name(generation, head_dim))
                    }
                }));
            }
        }
    }
    Ok(out)
}
