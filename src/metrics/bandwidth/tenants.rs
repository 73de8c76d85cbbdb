//! Tenant processes that stream at once: each a serving child of the same
//! configuration, on buffers of its own, timing its own copies on GPU events for a
//! fixed span of wall time, so every tenant streams while the others do.

use super::figures::{copy_traffic, Rate};
use crate::cuda::{BandwidthKernels, CUdevice_attribute as Attr, Context, DeviceBuffer, Stream};
use crate::error::{Error, Result};
use crate::measure::{gpu_time, realtime_ns, Span};
use crate::metrics::isolation::figures::interference;
use crate::metrics::BenchEnv;
use crate::run::child::{self, Child, Held, Operation};
use serde::{Deserialize, Serialize};
use std::time::{Duration, Instant};

/// Copies between two GPU events: enough that the events are noise, few enough that
/// a loop stops close to its span.
const BATCH: u64 = 16;
/// Longest a tenant may take past its span before it counts as hung.
const MARGIN: Duration = Duration::from_secs(120);

/// Runs `enqueue` (one operation of `bytes_per_op` bytes) in batches on `stream` until
/// `span` of wall time has passed, at least one batch: the bytes over the summed GPU
/// time of the batches.
pub fn for_span(
    stream: &Stream,
    span: Duration,
    bytes_per_op: f64,
    mut enqueue: impl FnMut() -> Result<()>,
) -> Result<Rate> {
    let (start, start_ns) = (Instant::now(), realtime_ns());
    let (mut gpu, mut ops) = (Duration::ZERO, 0);
    while ops == 0 || start.elapsed() < span {
        gpu += gpu_time(stream, BATCH, &mut enqueue)?;
        ops += BATCH;
    }
    Ok(Rate {
        wall: Some(Span {
            start_ns,
            end_ns: realtime_ns(),
        }),
        ..Rate::new(bytes_per_op * ops as f64, gpu)
    })
}

/// How long each round of tenants works, in ms.
pub fn span_ms(env: &BenchEnv) -> u64 {
    if env.quick {
        500
    } else {
        2000
    }
}

/// Rounds (samples) of a figure between tenants.
pub fn rounds(env: &BenchEnv) -> usize {
    if env.quick {
        3
    } else {
        10
    }
}

/// How long a tenant asked to work for `ms` may take to answer.
pub fn timeout(ms: u64) -> Duration {
    Duration::from_millis(ms) + MARGIN
}

/// One round: every one of `children` works on `request` at once; their rates.
pub fn round<O: Operation<Reply = Rate>>(
    children: &mut [Child],
    request: &O,
    ms: u64,
) -> Result<Vec<Rate>> {
    child::broadcast(children, request, timeout(ms))
}

/// A victim's (`children[0]`) loss beside an aggressor (`children[1]`) doing the same
/// work, as a fraction of its rate alone, per pair of rounds: alone, then both at
/// once, alternated so drift of the machine falls on both sides alike. `check`
/// refuses an impossible rate.
pub fn losses<O: Operation<Reply = Rate>>(
    children: &mut [Child],
    request: &O,
    ms: u64,
    pairs: usize,
    check: impl Fn(&str, &Rate) -> Result<f64>,
) -> Result<Vec<f64>> {
    if children.len() < 2 {
        return Err(Error::Invalid(
            "a victim and an aggressor need two tenants".into(),
        ));
    }
    (0..pairs)
        .map(|_| {
            let alone = check("victim alone", &round(&mut children[..1], request, ms)?[0])?;
            let beside = check("victim beside", &round(&mut children[..2], request, ms)?[0])?;
            interference(alone, beside)
                .ok_or_else(|| Error::Invalid("the victim moved no bytes alone".into()))
        })
        .collect()
}

/// BW-002..004's work: stream `bytes` from one buffer of the tenant's own to another
/// with the streaming kernel for `ms`, the copy checked once when the buffers are
/// made; the reply is the tenant's own GPU-timed rate.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StreamFor {
    pub bytes: u64,
    pub ms: u64,
    pub seed: u32,
}

/// A tenant's streaming buffers, kept between requests so only the first pays for
/// their allocation and check.
struct Streaming {
    kernels: BandwidthKernels,
    stream: Stream,
    src: DeviceBuffer,
    dst: DeviceBuffer,
}

impl Streaming {
    fn new(ctx: &Context, bytes: u64, seed: u32) -> Result<Self> {
        let sms = ctx
            .device()
            .attribute(Attr::CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT)?;
        let kernels = BandwidthKernels::load(sms as u32)?;
        let stream = Stream::new()?;
        let (src, dst) = (
            DeviceBuffer::new(bytes as usize)?,
            DeviceBuffer::new(bytes as usize)?,
        );
        kernels.fill(&src, seed, &stream)?;
        dst.fill_u32(0, &stream)?;
        kernels.copy(&src, &dst, &stream)?;
        kernels.verify("stream_copy", &dst, seed, &stream)?;
        Ok(Self {
            kernels,
            stream,
            src,
            dst,
        })
    }
}

impl Operation for StreamFor {
    const NAME: &'static str = "bw-stream-for";
    type Reply = Rate;
    fn serve(self, ctx: &Context, held: &mut Held) -> Result<Rate> {
        if held
            .get::<Streaming>()
            .is_none_or(|s| s.src.bytes() as u64 != self.bytes)
        {
            held.keep(Streaming::new(ctx, self.bytes, self.seed)?);
        }
        let s = held
            .get::<Streaming>()
            .ok_or_else(|| Error::Invalid("streaming buffers were not kept".into()))?;
        for_span(
            &s.stream,
            Duration::from_millis(self.ms),
            copy_traffic(self.bytes),
            || s.kernels.copy(&s.src, &s.dst, &s.stream),
        )
    }
}
