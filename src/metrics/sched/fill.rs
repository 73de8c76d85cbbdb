//! A GPU kept full: kernels of blocks that take every thread slot of every SM, queued
//! back to back on one stream, for a neighbour tenant or a low-priority stream.

use super::record::{extent, Timeline};
use super::Device;
use crate::cuda::{stream_priorities, Context, Event, SchedKernels, Stream, TimelineShape};
use crate::error::{Error, Result};
use crate::measure::Span;
use crate::run::child::{Held, Operation};
use serde::{Deserialize, Serialize};

/// Threads of a filling block: the most a block may have, so a few blocks per SM take
/// all its thread slots and no other block fits beside them.
pub(super) const FULL_BLOCK: u32 = 1024;

/// Waves of blocks per filling kernel: while one wave runs, the next waits, so a block
/// of another stream competes with blocks of the same grid for each slot freed, which
/// is where a priority shows.
pub(super) const FILL_WAVES: u32 = 8;
/// Microseconds each filling block spins: a block that wins the next free slot waits
/// less than this.
pub(super) const FILL_BLOCK_US: u64 = 250;

/// The shape of a kernel of `waves` x the blocks that fill the thread slots of `sms`
/// SMs of `device`, each spinning `block_us`.
pub(super) fn fill_shape(device: &Device, sms: u32, waves: u32, block_us: u64) -> TimelineShape {
    TimelineShape {
        blocks: waves.max(1) * sms.max(1) * device.blocks_per_sm,
        threads: FULL_BLOCK,
        ns: block_us * 1000,
        gap_ns: u64::MAX,
        max_gaps: 0,
    }
}

/// Filling kernels in flight on a stream: the first kernel logs into one record set,
/// every later one into a second, which the last kernel, in stream order, writes
/// last; so the two give when the filling began and ended on the device's clock.
pub(super) struct Filling {
    first: Timeline,
    rest: Timeline,
    end: Event,
}

impl Filling {
    /// Queues filling kernels over every SM for about `ms` in all on `stream`.
    pub fn start(
        kernels: &SchedKernels,
        device: &Device,
        ms: u64,
        stream: &Stream,
    ) -> Result<Self> {
        let shape = fill_shape(device, device.sms, FILL_WAVES, FILL_BLOCK_US);
        let (first, rest) = (Timeline::new(shape, stream)?, Timeline::new(shape, stream)?);
        stream.synchronize()?;
        let count = (ms * 1000 / (u64::from(FILL_WAVES) * FILL_BLOCK_US)).max(2);
        first.launch(kernels, stream)?;
        for _ in 1..count {
            rest.launch(kernels, stream)?;
        }
        let end = Event::new()?;
        end.record(stream)?;
        Ok(Self { first, rest, end })
    }

    /// Whether the filling is still running.
    pub fn running(&self) -> Result<bool> {
        self.end.is_done().map(|done| !done)
    }

    /// Waits for the filling to end; its span on the device's clock.
    pub fn span(self) -> Result<Span> {
        self.end.synchronize()?;
        let (first, last) = (
            extent(&self.first.records()?),
            extent(&self.rest.records()?),
        );
        match (first, last) {
            (Some(first), Some(last)) => Ok(Span {
                start_ns: first.start_ns,
                end_ns: last.end_ns,
            }),
            _ => Err(Error::Invalid("filling: no block records".into())),
        }
    }
}

/// Keep the GPU full for `ms` with filling kernels, on a stream of
/// the least priority when `low_priority`; the reply is the filling's span on the
/// device's clock, which every process shares.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct Fill {
    pub device: Device,
    pub ms: u64,
    pub low_priority: bool,
}

impl Operation for Fill {
    const NAME: &'static str = "sched-fill";
    type Reply = Span;
    fn serve(self, _: &Context, _: &mut Held) -> Result<Span> {
        let kernels = SchedKernels::load()?;
        let stream = if self.low_priority {
            Stream::with_priority(stream_priorities()?.0)?
        } else {
            Stream::new()?
        };
        Filling::start(&kernels, &self.device, self.ms, &stream)?.span()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_filling_kernel_takes_every_thread_slot_of_its_sms() {
        let device = Device {
            sms: 132,
            blocks_per_sm: 2,
        };
        let shape = fill_shape(&device, device.sms, 1, 1000);
        assert_eq!(
            (shape.blocks, shape.threads, shape.ns),
            (264, 1024, 1_000_000)
        );
        let filling = fill_shape(&device, device.sms, FILL_WAVES, FILL_BLOCK_US);
        assert_eq!(filling.blocks, 8 * 264);
        assert_eq!(shape.record_words(), 3);
        assert_eq!(
            fill_shape(&device, 0, 0, 5).blocks,
            2,
            "at least one SM's worth"
        );
    }
}
