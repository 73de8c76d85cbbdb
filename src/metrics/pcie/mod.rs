//! Host-device transfer (PCIE) metrics: pinned copies each way against the link's
//! theoretical rate, a tenant's copies beside another tenant's, and pageable against
//! pinned host memory.

mod copies;
pub(super) mod link;
mod tenants;

use super::{BenchEnv, Measured, Selection};
use crate::cuda::{BandwidthKernels, CUdevice_attribute as Attr, Context, Stream};
use crate::error::Result;
use crate::run::child::Handler;
use criterion::Criterion;

/// The operations of PCIE's tenant processes.
pub(super) const OPERATIONS: &[Handler] = &[Handler::of::<tenants::HostToDeviceFor>()];

pub(super) fn bench(
    c: &mut Criterion,
    env: &BenchEnv,
    selection: &Selection,
    ctx: &Context,
) -> Result<Vec<Measured>> {
    let device = ctx.device();
    let link = match link::link_peak(&device) {
        Ok(peak) => {
            eprintln!(
                "pcie: link {:.1} GB/s per direction ({})",
                peak.value, peak.source
            );
            Some(peak)
        }
        Err(why) => {
            eprintln!("pcie: {why}; no fraction of the link's rate is claimed");
            None
        }
    };
    let sms = device.attribute(Attr::CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT)? as u32;
    let kernels = BandwidthKernels::load(sms)?;
    let stream = Stream::new()?;
    let mut group = c.benchmark_group("pcie");
    env.configure(&mut group);
    let mut out = copies::directions(&mut group, env, selection, &kernels, &stream, link.as_ref())?;
    group.finish();
    out.extend(copies::pageable(
        env,
        selection,
        &kernels,
        &stream,
        link.as_ref(),
    )?);
    out.extend(tenants::interference(env, selection, link.as_ref())?);
    Ok(out)
}
