//! Overhead (OH) metrics: what the interposer adds to the driver calls a tenant makes.

mod latency;
mod pipeline;
mod process;

pub(super) use process::{COLD_START, OPERATIONS};

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
    let mut group = c.benchmark_group("overhead");
    env.configure(&mut group);
    let mut out = latency::bench(&mut group, env, selection, ctx)?;
    out.extend(process::bench(&mut group, env, selection, ctx)?);
    out.extend(pipeline::bench(&mut group, env, selection)?);
    group.finish();
    Ok(out)
}
