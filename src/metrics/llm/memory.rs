//! Allocation patterns of LLM serving: KV-cache blocks (LLM-002), a pool against
//! plain allocation (LLM-005) and whole-tensor allocation with first touch (LLM-007).

use crate::cuda::{self, Context, DeviceBuffer, MemPool, Stream};
use crate::error::Result;
use crate::metrics::{
    bench_batched, bench_variant, find, sampled, BenchEnv, Measured, Selection, Variant,
};
use crate::stats;
use criterion::measurement::WallTime;
use criterion::BenchmarkGroup;
use std::time::Instant;

/// KV blocks allocated per timed operation in LLM-002, and their size.
const KV_BLOCKS: usize = 64;
const KV_BLOCK_BYTES: usize = 2 << 20;
/// Alloc+free pairs per timed run of LLM-005, and the sizes compared.
const POOL_PAIRS: usize = 20;
const POOL_SIZES: [(&str, usize); 3] =
    [("64KiB", 64 << 10), ("2MiB", 2 << 20), ("64MiB", 64 << 20)];
/// LLM-007's tensor sizes, and the share of free memory a size may take.
const TENSOR_SIZES: [(&str, usize); 3] =
    [("1GiB", 1 << 30), ("4GiB", 4 << 30), ("16GiB", 16 << 30)];
const MAX_FREE_SHARE: f64 = 0.9;

pub(super) fn bench(
    group: &mut BenchmarkGroup<'_, WallTime>,
    env: &BenchEnv,
    selection: &Selection,
    ctx: &Context,
) -> Result<Vec<Measured>> {
    let mut out = Vec::new();
    let stream = Stream::new()?;
    let pool = if ["LLM-002", "LLM-005"]
        .iter()
        .any(|id| selection.contains(id))
    {
        working_pool(ctx, &stream)?
    } else {
        None
    };
    if selection.contains("LLM-002") {
        out.extend(kv_blocks(group, env, &stream, pool.as_ref())?);
    }
    if let (true, Some(pool)) = (selection.contains("LLM-005"), &pool) {
        out.extend(pool_efficiency(env, &stream, pool)?);
    }
    if selection.contains("LLM-007") {
        out.extend(large_tensors(group, env, &stream)?);
    }
    Ok(out)
}

/// A pool whose allocation and stream-ordered free work here. Under an interposer
/// that mishandles such frees the pool variants cannot run: that is said, and the
/// plain-allocation figures are still measured.
fn working_pool(ctx: &Context, stream: &Stream) -> Result<Option<MemPool>> {
    let pool = MemPool::new(&ctx.device())?;
    Ok(match pool_pair(&pool, stream, KV_BLOCK_BYTES) {
        Ok(()) => Some(pool),
        Err(e) => {
            eprintln!("llm/LLM-002/pool and llm/LLM-005: not measured, the pool fails here: {e}");
            None
        }
    })
}

/// One pool allocation and its stream-ordered free, completed.
fn pool_pair(pool: &MemPool, stream: &Stream, bytes: usize) -> Result<()> {
    pool.alloc(bytes, stream)?.free(stream)?;
    stream.synchronize()
}

fn kv_blocks(
    group: &mut BenchmarkGroup<'_, WallTime>,
    env: &BenchEnv,
    stream: &Stream,
    pool: Option<&MemPool>,
) -> Result<Vec<Measured>> {
    let info = find("LLM-002")?;
    let plain = bench_variant(group, env, Variant::new(info, "cuMemAlloc"), &mut |sw| {
        let blocks = sw.time(|| {
            (0..KV_BLOCKS)
                .map(|_| DeviceBuffer::new(KV_BLOCK_BYTES))
                .collect::<Result<Vec<_>>>()
        })?;
        blocks.into_iter().try_for_each(DeviceBuffer::free)
    })?;
    let pooled = match pool {
        Some(pool) => bench_variant(group, env, Variant::new(info, "pool"), &mut |sw| {
            let blocks = sw.time(|| {
                (0..KV_BLOCKS)
                    .map(|_| pool.alloc(KV_BLOCK_BYTES, stream))
                    .collect::<Result<Vec<_>>>()
            })?;
            blocks.into_iter().try_for_each(|b| b.free(stream))?;
            stream.synchronize()
        })?,
        None => None,
    };
    Ok([plain, pooled]
        .into_iter()
        .flatten()
        .map(|m| m.with_work(KV_BLOCKS as f64))
        .collect())
}

/// Seconds for `POOL_PAIRS` alloc+free pairs of `bytes` with plain calls.
fn plain_pairs(bytes: usize) -> Result<f64> {
    let start = Instant::now();
    for _ in 0..POOL_PAIRS {
        DeviceBuffer::new(bytes)?.free()?;
    }
    Ok(start.elapsed().as_secs_f64())
}

/// Seconds for `POOL_PAIRS` pool alloc+free pairs of `bytes`, synchronised once.
fn pool_pairs(pool: &MemPool, stream: &Stream, bytes: usize) -> Result<f64> {
    let start = Instant::now();
    for _ in 0..POOL_PAIRS {
        pool.alloc(bytes, stream)?.free(stream)?;
    }
    stream.synchronize()?;
    Ok(start.elapsed().as_secs_f64())
}

fn pool_efficiency(env: &BenchEnv, stream: &Stream, pool: &MemPool) -> Result<Vec<Measured>> {
    let info = find("LLM-005")?;
    let mut out = Vec::new();
    for (name, bytes) in POOL_SIZES {
        if !env.wants(&Variant::new(info, name)) {
            continue;
        }
        plain_pairs(bytes)?;
        pool_pairs(pool, stream, bytes)?;
        let samples = (0..env.paired_samples())
            .map(|_| Ok(100.0 * pool_pairs(pool, stream, bytes)? / plain_pairs(bytes)?))
            .collect::<Result<Vec<_>>>()?;
        eprintln!(
            "llm/LLM-005/{name}: pool at {:.1} % of plain allocation",
            stats::mean(&samples)
        );
        out.push(sampled(info, name, samples, None));
    }
    Ok(out)
}

fn large_tensors(
    group: &mut BenchmarkGroup<'_, WallTime>,
    env: &BenchEnv,
    stream: &Stream,
) -> Result<Vec<Measured>> {
    let info = find("LLM-007")?;
    let (free, _) = cuda::mem_info()?;
    let mut out = Vec::new();
    for (name, bytes) in TENSOR_SIZES {
        if bytes as f64 > free as f64 * MAX_FREE_SHARE {
            eprintln!(
                "llm/LLM-007/{name}: skipped, more than {:.0} % of the {:.1} GiB free under this configuration",
                MAX_FREE_SHARE * 100.0,
                free as f64 / f64::from(1u32 << 30)
            );
            continue;
        }
        let variant = Variant {
            slow: true,
            ..Variant::new(info, name)
        };
        out.extend(bench_batched(group, env, variant, &mut |sw, iters| {
            for _ in 0..iters {
                let tensor = sw.time(|| {
                    let tensor = DeviceBuffer::new(bytes)?;
                    tensor.fill_u32(0x3f80_0000, stream)?;
                    stream.synchronize()?;
                    Ok::<_, crate::Error>(tensor)
                })?;
                tensor.free()?;
            }
            Ok(())
        })?);
    }
    Ok(out)
}
