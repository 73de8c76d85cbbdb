//! In-process call latencies: launches, allocations, frees, trivial hooked calls.

use crate::cuda::{Context, DeviceBuffer, HookedCall, HookedCalls, LaunchKernels, Stream};
use crate::error::Result;
use crate::metrics::{bench_variant, find, BenchEnv, Measured, Selection, Variant};
use criterion::measurement::WallTime;
use criterion::BenchmarkGroup;

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
    group: &mut BenchmarkGroup<'_, WallTime>,
    env: &BenchEnv,
    selection: &Selection,
    ctx: &Context,
) -> Result<Vec<Measured>> {
    let mut out = Vec::new();
    let launches = ["OH-001", "OH-008"].iter().any(|id| selection.contains(id));
    let kernels = launches.then(LaunchKernels::load).transpose()?;
    let stream = Stream::new()?;

    if let (true, Some(kernels)) = (selection.contains("OH-001"), &kernels) {
        let info = find("OH-001")?;
        let mut n: u64 = 0;
        out.extend(bench_variant(
            group,
            env,
            Variant::new(info, "launch-call"),
            &mut |sw| {
                sw.time(|| kernels.empty(&stream))?;
                n += 1;
                if n % LAUNCHES_PER_SYNC == 0 {
                    stream.synchronize()?;
                }
                Ok(())
            },
        )?);
        stream.synchronize()?;
        out.extend(bench_variant(
            group,
            env,
            Variant::new(info, "launch-sync"),
            &mut |sw| sw.time(|| kernels.empty(&stream).and_then(|()| stream.synchronize())),
        )?);
    }

    if let (true, Some(kernels)) = (selection.contains("OH-008"), &kernels) {
        let info = find("OH-008")?;
        out.extend(bench_variant(
            group,
            env,
            Variant::new(info, "idle-launch"),
            &mut |sw| {
                sw.time(|| kernels.empty(&stream))?;
                stream.synchronize()
            },
        )?);
    }

    if selection.contains("OH-002") {
        let info = find("OH-002")?;
        for (name, bytes) in ALLOC_SIZES {
            out.extend(bench_variant(
                group,
                env,
                Variant::new(info, name),
                &mut |sw| sw.time(|| DeviceBuffer::new(bytes))?.free(),
            )?);
        }
    }

    if selection.contains("OH-003") {
        let info = find("OH-003")?;
        for (name, bytes) in ALLOC_SIZES {
            out.extend(bench_variant(
                group,
                env,
                Variant::new(info, name),
                &mut |sw| {
                    let buf = DeviceBuffer::new(bytes)?;
                    sw.time(|| buf.free())
                },
            )?);
        }
    }

    if selection.contains("OH-005") {
        let info = find("OH-005")?;
        let calls = HookedCalls::resolve(&ctx.device())?;
        for call in HookedCall::ALL {
            let variant = Variant {
                calls_per_op: CALLS_PER_BATCH,
                ..Variant::new(info, call.name())
            };
            out.extend(bench_variant(group, env, variant, &mut |sw| {
                sw.time(|| calls.repeat(call, CALLS_PER_BATCH))
            })?);
        }
    }

    if selection.contains("OH-007") {
        let info = find("OH-007")?;
        out.extend(bench_variant(
            group,
            env,
            Variant::new(info, "4KiB-pair"),
            &mut |sw| sw.time(|| DeviceBuffer::new(4 << 10).and_then(DeviceBuffer::free)),
        )?);
    }
    Ok(out)
}
