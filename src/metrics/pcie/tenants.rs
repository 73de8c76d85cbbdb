//! PCIE-003: a victim tenant's host-to-device copies alone and beside another
//! tenant's, both serving children of this configuration with pinned memory of
//! their own.

use crate::cuda::{
    copy_to_device_async, write_pattern, BandwidthKernels, CUdevice_attribute as Attr, Context,
    DeviceBuffer, PinnedBuffer, Stream,
};
use crate::error::{Error, Result};
use crate::metrics::bandwidth::figures::{bounded, within_peak, Rate};
use crate::metrics::bandwidth::tenants::{for_span, losses, round, rounds, span_ms};
use crate::metrics::{find, sampled, BenchEnv, Measured, Selection, Variant};
use crate::run::child::{self, Held, Operation};
use crate::system::Peak;
use serde::{Deserialize, Serialize};
use std::time::Duration;

const MIB: u64 = 1 << 20;
/// Bytes of each copy, and with `--quick`.
const COPY_BYTES: u64 = 256 * MIB;
const COPY_BYTES_QUICK: u64 = 64 * MIB;
const WARM_MS: u64 = 100;
const SEED: u32 = 0x9c1e_0003;
const VARIANT: &str = "beside-h2d";

/// PCIE-003's work: copy `bytes` of pinned host memory to the device for `ms`, the
/// data checked once when the buffers are made; the reply is the tenant's own
/// GPU-timed rate.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HostToDeviceFor {
    bytes: u64,
    ms: u64,
}

/// A tenant's copy buffers, kept between requests.
struct HostCopies {
    stream: Stream,
    host: PinnedBuffer,
    device: DeviceBuffer,
}

impl HostCopies {
    fn new(ctx: &Context, bytes: u64) -> Result<Self> {
        let sms = ctx
            .device()
            .attribute(Attr::CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT)?;
        let kernels = BandwidthKernels::load(sms as u32)?;
        let stream = Stream::new()?;
        let mut host = PinnedBuffer::new(bytes as usize)?;
        write_pattern(host.as_mut_slice(), SEED);
        let device = DeviceBuffer::new(bytes as usize)?;
        copy_to_device_async(host.as_slice(), &device, &stream)?;
        kernels.verify("cuMemcpyHtoDAsync", &device, SEED, &stream)?;
        Ok(Self {
            stream,
            host,
            device,
        })
    }
}

impl Operation for HostToDeviceFor {
    const NAME: &'static str = "pcie-h2d-for";
    type Reply = Rate;
    fn serve(self, ctx: &Context, held: &mut Held) -> Result<Rate> {
        if held
            .get::<HostCopies>()
            .is_none_or(|c| c.device.bytes() as u64 != self.bytes)
        {
            held.keep(HostCopies::new(ctx, self.bytes)?);
        }
        let c = held
            .get::<HostCopies>()
            .ok_or_else(|| Error::Invalid("copy buffers were not kept".into()))?;
        for_span(
            &c.stream,
            Duration::from_millis(self.ms),
            self.bytes as f64,
            || copy_to_device_async(c.host.as_slice(), &c.device, &c.stream),
        )
    }
}

pub(super) fn interference(
    env: &BenchEnv,
    selection: &Selection,
    link: Option<&Peak>,
) -> Result<Vec<Measured>> {
    let info = find("PCIE-003")?;
    if !selection.contains(info.id) || !env.wants(&Variant::new(info, VARIANT)) {
        return Ok(Vec::new());
    }
    let bytes = if env.quick {
        COPY_BYTES_QUICK
    } else {
        COPY_BYTES
    };
    let mut children = child::spawn_servers(2)?;
    round(
        &mut children,
        &HostToDeviceFor { bytes, ms: WARM_MS },
        WARM_MS,
    )?;
    let request = HostToDeviceFor {
        bytes,
        ms: span_ms(env),
    };
    let check = |what: &str, rate: &Rate| within_peak(what, rate.gbps()?, link);
    let fractions = losses(&mut children, &request, request.ms, rounds(env), check)?;
    child::end_all(children);
    bounded("PCIE-003 loss", crate::stats::mean(&fractions))?;
    let samples = fractions.iter().map(|f| 100.0 * f).collect();
    Ok(vec![sampled(info, VARIANT, samples, None)])
}
