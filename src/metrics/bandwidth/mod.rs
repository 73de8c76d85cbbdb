//! Memory bandwidth (BW) metrics: what a streaming kernel gets from DRAM alone and
//! under the configuration's limits, against the copy engine's rate in the same run,
//! and how tenant processes streaming at once share the memory.

mod alone;
mod contention;
pub(super) mod figures;
mod sizing;
pub(super) mod tenants;

use super::{BenchEnv, Measured, Selection};
use crate::cuda::{BandwidthKernels, CUdevice_attribute as Attr, Context, Stream};
use crate::error::Result;
use crate::run::child::Handler;
use criterion::Criterion;

/// The operations of BW's tenant processes.
pub(super) const OPERATIONS: &[Handler] = &[Handler::of::<tenants::StreamFor>()];

/// Of the free memory, what BW-001's two buffers may take.
const ALONE_SHARE: f64 = 0.8;

pub(super) fn bench(
    c: &mut Criterion,
    env: &BenchEnv,
    selection: &Selection,
    ctx: &Context,
) -> Result<Vec<Measured>> {
    let device = ctx.device();
    let dram = crate::system::device_dram_peak(&device)?;
    if dram.is_none() {
        eprintln!("bandwidth: peak unknown: the device reports no memory clock or bus width, so no fraction of the DRAM rate is claimed");
    }
    let l2 = sizing::l2_bytes(&device)?;
    let sms = device.attribute(Attr::CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT)? as u32;
    let kernels = BandwidthKernels::load(sms)?;
    let stream = Stream::new()?;
    let (free, _) = crate::cuda::mem_info()?;
    let bytes = sizing::buffer_bytes(l2, free, 2, ALONE_SHARE)?;
    let buffers = alone::Buffers::new(bytes, &kernels, &stream)?;
    let copy_engine = alone::copy_engine_peak(&buffers, &kernels, &stream, dram.as_ref())?;
    eprintln!(
        "bandwidth: measured peak {:.0} GB/s ({}); {} blocks of the streaming kernel",
        copy_engine.value,
        copy_engine.source,
        kernels.grid()
    );
    let mut out = Vec::new();
    if selection.contains("BW-001") {
        let mut group = c.benchmark_group("bandwidth");
        env.configure(&mut group);
        out.extend(alone::bench(
            &mut group,
            env,
            &buffers,
            &kernels,
            &stream,
            dram.as_ref(),
            &copy_engine,
        )?);
        group.finish();
    }
    drop(buffers);
    out.extend(contention::bench(
        env,
        selection,
        l2,
        dram.as_ref(),
        &copy_engine,
    )?);
    Ok(out)
}
