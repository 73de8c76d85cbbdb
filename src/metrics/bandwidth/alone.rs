//! BW-001: the streaming kernel in this process alone, beside the copy engine's
//! device-to-device rate measured on the same buffers in the same run.

use super::figures::{copy_traffic, within_peak, Rate};
use crate::cuda::{copy_device_async, BandwidthKernels, DeviceBuffer, Stream};
use crate::error::Result;
use crate::measure::gpu_time;
use crate::metrics::{bench_batched, find, BenchEnv, Measured, Variant};
use crate::system::Peak;
use criterion::measurement::WallTime;
use criterion::BenchmarkGroup;

/// Copies per timed pass of the measured peak, and passes whose best is kept.
const PEAK_COPIES: u64 = 8;
const PEAK_PASSES: usize = 5;
const SEED: u32 = 0xb001;

/// Two buffers of the same size, the source holding a known pattern.
pub(super) struct Buffers {
    pub src: DeviceBuffer,
    pub dst: DeviceBuffer,
}

impl Buffers {
    pub fn new(bytes: u64, kernels: &BandwidthKernels, stream: &Stream) -> Result<Self> {
        let src = DeviceBuffer::new(bytes as usize)?;
        kernels.fill(&src, SEED, stream)?;
        Ok(Self {
            src,
            dst: DeviceBuffer::new(bytes as usize)?,
        })
    }

    fn traffic(&self) -> f64 {
        copy_traffic(self.src.bytes() as u64)
    }

    /// Poisons the destination, copies with `copy` and checks the pattern arrived.
    fn check(
        &self,
        what: &'static str,
        kernels: &BandwidthKernels,
        stream: &Stream,
        copy: impl FnOnce() -> Result<()>,
    ) -> Result<()> {
        self.dst.fill_u32(0, stream)?;
        copy()?;
        kernels.verify(what, &self.dst, SEED, stream)
    }
}

/// The copy engine's device-to-device rate on `buffers` (read + write bytes), the
/// best of a few GPU-timed passes after one untimed: the practical ceiling a
/// streaming kernel is set against. Its output is checked first, and a rate above
/// the DRAM's is refused.
pub(super) fn copy_engine_peak(
    buffers: &Buffers,
    kernels: &BandwidthKernels,
    stream: &Stream,
    dram: Option<&Peak>,
) -> Result<Peak> {
    let copy = || copy_device_async(&buffers.src, &buffers.dst, stream);
    buffers.check("cuMemcpyDtoDAsync", kernels, stream, copy)?;
    gpu_time(stream, PEAK_COPIES, copy)?;
    let mut best: f64 = 0.0;
    for _ in 0..PEAK_PASSES {
        let rate = Rate::new(
            buffers.traffic() * PEAK_COPIES as f64,
            gpu_time(stream, PEAK_COPIES, copy)?,
        );
        best = best.max(within_peak("cuMemcpyDtoDAsync", rate.gbps()?, dram)?);
    }
    Ok(Peak {
        source: format!(
            "cuMemcpyDtoDAsync of {} MiB in this run, read + write, best of {PEAK_PASSES} passes of {PEAK_COPIES}",
            buffers.src.bytes() >> 20
        ),
        value: best,
    })
}

pub(super) fn bench(
    group: &mut BenchmarkGroup<'_, WallTime>,
    env: &BenchEnv,
    buffers: &Buffers,
    kernels: &BandwidthKernels,
    stream: &Stream,
    dram: Option<&Peak>,
    copy_engine: &Peak,
) -> Result<Vec<Measured>> {
    let info = find("BW-001")?;
    let mut timed = |name: &str, copy: &dyn Fn() -> Result<()>, measured_peak: Option<&Peak>| {
        if !env.selects(&Variant::new(info, name).path()) {
            return Ok(None);
        }
        let measured = bench_batched(group, env, Variant::new(info, name), &mut |sw, iters| {
            sw.record_ops(&[gpu_time(stream, iters, copy)?], iters);
            Ok(())
        })?;
        Ok::<_, crate::error::Error>(measured.map(|m| Measured {
            peak: dram.cloned(),
            measured_peak: measured_peak.cloned(),
            ..m.with_work(buffers.traffic() / 1e9)
        }))
    };
    let kernel = || kernels.copy(&buffers.src, &buffers.dst, stream);
    buffers.check("stream_copy", kernels, stream, kernel)?;
    let mut out: Vec<Measured> = timed("stream-kernel", &kernel, Some(copy_engine))?
        .into_iter()
        .collect();
    let engine = || copy_device_async(&buffers.src, &buffers.dst, stream);
    out.extend(timed("memcpy-d2d", &engine, None)?);
    Ok(out)
}
