//! L2 cache (CACHE) metrics: how a read kernel's rate depends on its working set,
//! and what a tenant's L2-resident set loses when another tenant of the same
//! configuration streams through memory beside it.

mod set;
mod sweep;
mod tenants;

pub(super) use tenants::OPERATIONS;

use super::{BenchEnv, Measured, Selection};
use crate::cuda::{CUdevice_attribute as Attr, Context};
use crate::error::Result;
use criterion::Criterion;

/// What the sets are sized from, read once from the device's attributes.
#[derive(Debug, Clone, Copy)]
pub(super) struct Device {
    /// SMs this process is given (a partition's where one is in force).
    pub sms: u32,
    pub l2_bytes: usize,
    pub memory_khz: i32,
    pub bus_bits: i32,
}

impl Device {
    fn read(ctx: &Context) -> Result<Self> {
        let device = ctx.device();
        Ok(Self {
            sms: device.attribute(Attr::CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT)? as u32,
            l2_bytes: device.attribute(Attr::CU_DEVICE_ATTRIBUTE_L2_CACHE_SIZE)? as usize,
            memory_khz: device.attribute(Attr::CU_DEVICE_ATTRIBUTE_MEMORY_CLOCK_RATE)?,
            bus_bits: device.attribute(Attr::CU_DEVICE_ATTRIBUTE_GLOBAL_MEMORY_BUS_WIDTH)?,
        })
    }
}

pub(super) fn bench(
    _: &mut Criterion,
    env: &BenchEnv,
    selection: &Selection,
    ctx: &Context,
) -> Result<Vec<Measured>> {
    let wanted = |id: &str, variants: &[&str]| super::wants_any(env, selection, id, variants);
    let mut out = Vec::new();
    let ladder: Vec<String> = set::LADDER.iter().map(|&f| sweep::variant(f)).collect();
    let ladder: Vec<&str> = ladder
        .iter()
        .map(String::as_str)
        .chain(["advantage"])
        .collect();
    let pairs = ["vs-alone", "vs-quiet-neighbour"];
    let sweep = wanted("CACHE-001", &ladder)?;
    let want = tenants::Wanted {
        thrashed: wanted("CACHE-002", &pairs)?,
        shared: wanted("CACHE-003", &[tenants::PAIR_VARIANT])?,
        per_kernel: wanted("CACHE-004", &pairs)?,
    };
    let tenant_figures = want.thrashed || want.shared || want.per_kernel;
    if !sweep && !tenant_figures {
        return Ok(Vec::new());
    }
    let device = Device::read(ctx)?;
    if sweep {
        out.extend(sweep::bench(env, &device)?);
    }
    if tenant_figures {
        out.extend(tenants::bench(env, &device, want)?);
    }
    Ok(out)
}
