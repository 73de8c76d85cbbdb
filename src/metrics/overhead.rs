//! Overhead (OH) metrics: what the interposer adds to the driver calls a tenant makes.

use super::{bench_variant, find, BenchEnv, Measured, Selection};
use crate::cuda::{self, Context, DeviceBuffer, LaunchKernels, Stream};
use crate::error::Result;
use criterion::Criterion;
use cudarc::driver::sys;

/// Launches between stream synchronisations in OH-001 (a): often enough that the
/// launch queue never fills (a full queue would make the call block on the GPU).
const LAUNCHES_PER_SYNC: u64 = 256;

/// Allocation sizes of OH-002 and OH-003, with their variant names.
const ALLOC_SIZES: [(&str, usize); 4] = [
    ("4KiB", 4 << 10),
    ("1MiB", 1 << 20),
    ("64MiB", 64 << 20),
    ("1GiB", 1 << 30),
];

/// Calls per timed batch in OH-005: these calls take nanoseconds, under the host
/// clock's own cost, so one clock read covers a thousand of them.
const CALLS_PER_BATCH: u32 = 1000;

pub(super) fn bench(
    c: &mut Criterion,
    env: &BenchEnv,
    selection: &Selection,
    ctx: &Context,
) -> Result<Vec<Measured>> {
    let mut group = c.benchmark_group("overhead");
    env.configure(&mut group);
    let mut out = Vec::new();

    if selection.contains("OH-001") {
        let info = find("OH-001")?;
        let kernels = LaunchKernels::load()?;
        let stream = Stream::new()?;
        let launch = || kernels.empty(&stream);
        let mut n: u64 = 0;
        out.extend(bench_variant(
            &mut group,
            env,
            info,
            "launch-call",
            1,
            &mut |sw| {
                sw.time(launch)?;
                n += 1;
                if n % LAUNCHES_PER_SYNC == 0 {
                    stream.synchronize()?;
                }
                Ok(())
            },
        )?);
        stream.synchronize()?;
        out.extend(bench_variant(
            &mut group,
            env,
            info,
            "launch-sync",
            1,
            &mut |sw| sw.time(|| launch().and_then(|()| stream.synchronize())),
        )?);
    }

    if selection.contains("OH-002") {
        let info = find("OH-002")?;
        for (name, bytes) in ALLOC_SIZES {
            out.extend(bench_variant(&mut group, env, info, name, 1, &mut |sw| {
                sw.time(|| DeviceBuffer::new(bytes))?.free()
            })?);
        }
    }

    if selection.contains("OH-003") {
        let info = find("OH-003")?;
        for (name, bytes) in ALLOC_SIZES {
            out.extend(bench_variant(&mut group, env, info, name, 1, &mut |sw| {
                let buf = DeviceBuffer::new(bytes)?;
                sw.time(|| buf.free())
            })?);
        }
    }

    if selection.contains("OH-005") {
        let info = find("OH-005")?;
        let device = ctx.device();
        for (name, probe) in cuda::HOOKED_PROBES {
            out.extend(bench_variant(
                &mut group,
                env,
                info,
                name,
                CALLS_PER_BATCH,
                &mut |sw| {
                    let status = sw.time(|| {
                        let mut last = sys::CUresult::CUDA_SUCCESS;
                        for _ in 0..CALLS_PER_BATCH {
                            last = probe(&device);
                        }
                        last
                    });
                    cuda::check(status, name)
                },
            )?);
        }
    }
    group.finish();
    Ok(out)
}
