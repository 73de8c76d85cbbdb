//! PCIE-001, PCIE-002 and PCIE-004 in this process: pinned copies each way at a few
//! sizes, and pageable against pinned host memory at one size.

use crate::cuda::{
    copy_to_device_async, copy_to_host_async, pattern_mismatches, write_pattern, BandwidthKernels,
    DeviceBuffer, PinnedBuffer, Stream,
};
use crate::error::Result;
use crate::measure::gpu_time;
use crate::metrics::bandwidth::figures::{bounded, within_peak};
use crate::metrics::{bench_batched, find, sampled, BenchEnv, Measured, Selection, Variant};
use crate::stats;
use crate::system::Peak;
use criterion::measurement::WallTime;
use criterion::BenchmarkGroup;
use std::time::{Duration, Instant};

const MIB: u64 = 1 << 20;
/// PCIE-001 and PCIE-002's sizes; `--quick` leaves out the largest.
const SIZES: [u64; 4] = [MIB, 16 * MIB, 256 * MIB, 1024 * MIB];
const QUICK_SIZES: usize = 3;
/// From this size a copy takes milliseconds, so Criterion samples it flat (10
/// samples) rather than over a linear ramp of thousands of copies.
const SLOW_BYTES: u64 = 256 * MIB;
/// Of the free device memory, the most one copy's device buffer may take.
const DEVICE_SHARE: u64 = 2;
/// PCIE-004's size, and with `--quick`.
const PAGEABLE_BYTES: u64 = 256 * MIB;
const PAGEABLE_BYTES_QUICK: u64 = 64 * MIB;
const SEED_H2D: u32 = 0x9c1e_0001;
const SEED_D2H: u32 = 0x9c1e_0002;

/// The variant name of a size: "1MiB", "1GiB".
fn size_name(bytes: u64) -> String {
    if bytes >= 1024 * MIB && bytes % (1024 * MIB) == 0 {
        format!("{}GiB", bytes / (1024 * MIB))
    } else {
        format!("{}MiB", bytes / MIB)
    }
}

/// The sizes measured: those of the mode that fit in `free` device memory.
fn sizes(quick: bool, free: u64) -> Vec<u64> {
    let n = if quick { QUICK_SIZES } else { SIZES.len() };
    SIZES[..n]
        .iter()
        .copied()
        .filter(|&s| s <= free / DEVICE_SHARE)
        .collect()
}

/// PCIE-001 (host to device) and PCIE-002 (device to host), pinned, each size's data
/// checked once before it is timed.
pub(super) fn directions(
    group: &mut BenchmarkGroup<'_, WallTime>,
    env: &BenchEnv,
    selection: &Selection,
    kernels: &BandwidthKernels,
    stream: &Stream,
    link: Option<&Peak>,
) -> Result<Vec<Measured>> {
    let ids: Vec<&str> = ["PCIE-001", "PCIE-002"]
        .into_iter()
        .filter(|id| selection.contains(id))
        .collect();
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let (free, _) = crate::cuda::mem_info()?;
    let sizes = sizes(env.quick, free);
    let Some(&largest) = sizes.last() else {
        eprintln!(
            "pcie: not measured: {} MiB of free device memory hold no copy",
            free / MIB
        );
        return Ok(Vec::new());
    };
    let mut host = PinnedBuffer::new(largest as usize)?;
    let mut out = Vec::new();
    for size in sizes {
        let device = DeviceBuffer::new(size as usize)?;
        let n = size as usize;
        for &id in &ids {
            let info = find(id)?;
            let name = size_name(size);
            if !env.selects(&Variant::new(info, &name).path()) {
                continue;
            }
            let to_device = id == "PCIE-001";
            if to_device {
                write_pattern(&mut host.as_mut_slice()[..n], SEED_H2D);
                copy_to_device_async(&host.as_slice()[..n], &device, stream)?;
                kernels.verify("cuMemcpyHtoDAsync", &device, SEED_H2D, stream)?;
            } else {
                kernels.fill(&device, SEED_D2H, stream)?;
                copy_to_host_async(&device, &mut host.as_mut_slice()[..n], stream)?;
                stream.synchronize()?;
                pattern_mismatches("cuMemcpyDtoHAsync", &host.as_slice()[..n], SEED_D2H)?;
            }
            let variant = Variant {
                slow: size >= SLOW_BYTES,
                ..Variant::new(info, &name)
            };
            let measured = bench_batched(group, env, variant, &mut |sw, iters| {
                let elapsed = gpu_time(stream, iters, || {
                    if to_device {
                        copy_to_device_async(&host.as_slice()[..n], &device, stream)
                    } else {
                        copy_to_host_async(&device, &mut host.as_mut_slice()[..n], stream)
                    }
                })?;
                sw.record_ops(&[elapsed], iters);
                Ok(())
            })?;
            out.extend(measured.map(|m| Measured {
                peak: link.cloned(),
                ..m.with_work(size as f64 / 1e9)
            }));
        }
    }
    Ok(out)
}

/// Host time of `copy` up to its stream's end: what an application waiting on a
/// pageable copy sees, timed the same way for pinned memory so the two compare.
fn host_timed(stream: &Stream, copy: impl FnOnce() -> Result<()>) -> Result<Duration> {
    let start = Instant::now();
    copy()?;
    stream.synchronize()?;
    Ok(start.elapsed())
}

/// PCIE-004: host to device from pageable memory (a plain `Vec`) and from pinned,
/// the same size, alternated; each's GB/s and pageable / pinned per pair.
pub(super) fn pageable(
    env: &BenchEnv,
    selection: &Selection,
    kernels: &BandwidthKernels,
    stream: &Stream,
    link: Option<&Peak>,
) -> Result<Vec<Measured>> {
    let info = find("PCIE-004")?;
    if !selection.contains(info.id) || !env.wants(&Variant::new(info, "ratio")) {
        return Ok(Vec::new());
    }
    let (free, _) = crate::cuda::mem_info()?;
    let bytes = if env.quick {
        PAGEABLE_BYTES_QUICK
    } else {
        PAGEABLE_BYTES
    }
    .min(free / DEVICE_SHARE / MIB * MIB);
    let n = bytes as usize;
    let device = DeviceBuffer::new(n)?;
    let mut pinned = PinnedBuffer::new(n)?;
    let mut pageable = vec![0u8; n];
    write_pattern(pinned.as_mut_slice(), SEED_H2D);
    write_pattern(&mut pageable, SEED_H2D);
    for (what, host) in [
        ("cuMemcpyHtoDAsync (pinned)", pinned.as_slice()),
        ("cuMemcpyHtoDAsync (pageable)", pageable.as_slice()),
    ] {
        device.fill_u32(0, stream)?;
        copy_to_device_async(host, &device, stream)?;
        kernels.verify(what, &device, SEED_H2D, stream)?;
    }
    let gbps =
        |what: &str, d: Duration| within_peak(what, bytes as f64 / d.as_secs_f64() / 1e9, link);
    let (mut fast, mut slow, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..env.paired_samples() {
        let pin = gbps(
            "PCIE-004/pinned",
            host_timed(stream, || {
                copy_to_device_async(pinned.as_slice(), &device, stream)
            })?,
        )?;
        let page = gbps(
            "PCIE-004/pageable",
            host_timed(stream, || copy_to_device_async(&pageable, &device, stream))?,
        )?;
        fast.push(pin);
        slow.push(page);
        ratios.push(page / pin);
    }
    bounded("PCIE-004 pageable / pinned", stats::mean(&ratios))?;
    eprintln!(
        "pcie/PCIE-004: {} MiB, pageable {:.1} GB/s, pinned {:.1} GB/s",
        bytes / MIB,
        stats::mean(&slow),
        stats::mean(&fast)
    );
    let rate = |name: &str, samples: Vec<f64>| Measured {
        unit: "GB/s",
        peak: link.cloned(),
        ..sampled(info, name, samples, None)
    };
    Ok(vec![
        rate("pinned", fast),
        rate("pageable", slow),
        sampled(info, "ratio", ratios, None),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_named_in_mib_or_whole_gib() {
        assert_eq!(size_name(MIB), "1MiB");
        assert_eq!(size_name(256 * MIB), "256MiB");
        assert_eq!(size_name(1024 * MIB), "1GiB");
        assert_eq!(size_name(1536 * MIB), "1536MiB");
    }

    #[test]
    fn quick_leaves_out_the_largest_and_free_memory_caps_the_rest() {
        assert_eq!(sizes(false, 80 << 30), SIZES.to_vec());
        assert_eq!(sizes(true, 80 << 30), vec![MIB, 16 * MIB, 256 * MIB]);
        assert_eq!(sizes(false, 100 * MIB), vec![MIB, 16 * MIB]);
        assert!(sizes(true, MIB).is_empty());
    }
}
