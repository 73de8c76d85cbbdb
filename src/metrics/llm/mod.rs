//! LLM workload (LLM) metrics: what serving a model on a shared GPU feels, from the
//! allocation patterns of a KV cache to tensor-core throughput against the chip's peak.

mod memory;
mod streams;

use super::{BenchEnv, Measured, Selection};
use crate::cuda::Context;
use crate::error::Result;
use criterion::Criterion;

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
    group.finish();
    Ok(out)
}
