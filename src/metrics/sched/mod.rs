//! Scheduling (SCHED) metrics: how the GPU shares its time between tenant processes
//! of a configuration (time slices, the switch between them, how long a launch waits
//! to start) and between the streams of one tenant (concurrency, priorities). Each
//! kernel logs its blocks' starts, ends and pauses on the device's global timer, one
//! clock for every process of the GPU.

mod fill;
mod launch;
mod record;
mod slices;
mod streams;

pub use record::{parse, BlockRecord};
pub use slices::{slicing, Slicing};

use super::{BenchEnv, Measured, Selection};
use crate::cuda::{CUdevice_attribute as Attr, Context};
use crate::error::Result;
use crate::run::child::Handler;
use criterion::Criterion;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// The operations of SCHED's serving children.
pub(super) const OPERATIONS: &[Handler] =
    &[Handler::of::<slices::Slices>(), Handler::of::<fill::Fill>()];

/// How long a neighbour runs before the figures beside it are taken, so its queue
/// is full by then.
const LEAD: Duration = Duration::from_millis(50);
/// Longest a child's request may take before it counts as hung.
const REPLY_TIMEOUT: Duration = Duration::from_secs(120);

/// What the kernels are sized from, read once from the device's attributes and sent
/// to the tenants as it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Device {
    /// SMs this process is given (a partition's where one is in force).
    pub sms: u32,
    /// Blocks of [`fill::FULL_BLOCK`] threads that fill one SM's thread slots.
    pub blocks_per_sm: u32,
}

impl Device {
    fn read(ctx: &Context) -> Result<Self> {
        let device = ctx.device();
        let threads = device.attribute(Attr::CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_MULTIPROCESSOR)?;
        Ok(Self {
            sms: device.attribute(Attr::CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT)? as u32,
            blocks_per_sm: (threads as u32 / fill::FULL_BLOCK).max(1),
        })
    }
}

/// Short kernels timed per latency figure.
fn probes(env: &BenchEnv) -> usize {
    if env.quick {
        40
    } else {
        200
    }
}

pub(super) fn bench(
    _: &mut Criterion,
    env: &BenchEnv,
    selection: &Selection,
    ctx: &Context,
) -> Result<Vec<Measured>> {
    let wanted = |id: &str, variants: &[&str]| super::wants_any(env, selection, id, variants);
    let device = Device::read(ctx)?;
    let mut out = Vec::new();
    if wanted("SCHED-001", &["slice", "switch"])? {
        out.extend(slices::bench(env, &device)?);
    }
    if wanted("SCHED-002", &["alone", "beside-busy-tenant"])? {
        out.extend(launch::bench(env, &device)?);
    }
    if wanted("SCHED-003", &["4-streams"])? {
        out.extend(streams::concurrency(env, &device)?);
    }
    if wanted(
        "SCHED-004",
        &["alone", "beside-low-priority-stream", "beside-tenant"],
    )? {
        out.extend(streams::preemption(env, &device)?);
    }
    Ok(out
        .into_iter()
        .filter(|m| env.selects(&format!("sched/{}/{}", m.info.id, m.variant)))
        .collect())
}
