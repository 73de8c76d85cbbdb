//! LLM workload (LLM) metrics: what serving a model on a shared GPU feels, from the
//! allocation patterns of a KV cache to tensor-core throughput against the chip's peak.

mod attention;
mod check;
mod decode;
mod gemm;
mod memory;
mod scaling;
mod streams;

use super::{BenchEnv, Measured, Selection};
use crate::cuda::Context;
use crate::error::Result;
use crate::run::child::Handler;
use criterion::Criterion;

/// The operations of LLM-010's rank processes.
pub(super) const OPERATIONS: &[Handler] = &[Handler::of::<scaling::TpLayer>()];

pub(super) fn bench(
    c: &mut Criterion,
    env: &BenchEnv,
    selection: &Selection,
    ctx: &Context,
) -> Result<Vec<Measured>> {
    let mut group = c.benchmark_group("llm");
    env.configure(&mut group);
    let mut out = memory::bench(&mut group, env, selection, ctx)?;
    out.extend(streams::bench(env, selection, ctx)?);
    out.extend(decode::bench(&mut group, env, selection)?);
    // LLM-001 is set against the best GEMM, so it loads them too.
    if ["LLM-001", "LLM-003", "LLM-008"]
        .iter()
        .any(|id| selection.contains(id))
    {
        let facts = crate::system::device_facts(&ctx.device())?;
        let gemms = gemm::Gemms::load()?;
        if selection.contains("LLM-001") {
            out.extend(attention::bench(&mut group, env, &gemms, &facts)?);
        }
        if selection.contains("LLM-003") {
            out.extend(gemm::batch_scaling(env, &gemms)?);
        }
        if selection.contains("LLM-008") {
            out.extend(gemm::mixed_precision(&mut group, env, &gemms, &facts)?);
        }
    }
    group.finish();
    out.extend(scaling::bench(env, selection)?);
    Ok(out)
}
