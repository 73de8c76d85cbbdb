//! kernels/sched.cu: spinning blocks that log, on the device's global clock, when
//! they ran and when they were kept from running.

use super::{arg, buffer_holds};
use crate::cuda::{DeviceBuffer, Function, Module, Stream};
use crate::error::Result;
use crate::kernels;

/// One launch of `timeline`: its grid, how long each block spins, and which pauses
/// it logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimelineShape {
    pub blocks: u32,
    pub threads: u32,
    /// Nanoseconds of the global clock each block spins from its own start.
    pub ns: u64,
    /// Two clock reads further apart than this are a pause of the block.
    pub gap_ns: u64,
    /// Pauses logged per block; later ones are only counted.
    pub max_gaps: u32,
}

impl TimelineShape {
    /// u64 words of one block's record: start, end, pauses seen, then (from, to) per
    /// logged pause.
    pub fn record_words(&self) -> usize {
        3 + 2 * self.max_gaps as usize
    }

    /// Bytes of the log the launch writes.
    pub fn log_bytes(&self) -> usize {
        self.blocks as usize * self.record_words() * 8
    }
}

/// kernels/sched.cu, loaded, its function looked up once.
pub struct SchedKernels {
    timeline: Function,
}

impl SchedKernels {
    pub fn load() -> Result<Self> {
        let module = Module::load("sched", kernels::SCHED)?;
        Ok(Self {
            timeline: module.function("timeline")?,
        })
    }

    /// `timeline<<<shape.blocks, shape.threads>>>` writing one record per block into
    /// `log`, refused when `log` is too small for them.
    pub fn timeline(
        &self,
        shape: &TimelineShape,
        log: &DeviceBuffer,
        stream: &Stream,
    ) -> Result<()> {
        buffer_holds("timeline", "log", log, shape.log_bytes())?;
        let (mut ns, mut gap_ns, mut max_gaps) = (shape.ns, shape.gap_ns, shape.max_gaps);
        let mut ptr = log.device_ptr();
        let mut params = [
            arg(&mut ns),
            arg(&mut gap_ns),
            arg(&mut max_gaps),
            arg(&mut ptr),
        ];
        // SAFETY: (unsigned long long, unsigned long long, unsigned int, unsigned long
        // long*) as declared; the log was checked to hold every block's record and is
        // kept alive by callers until `stream` is synchronised.
        unsafe {
            self.timeline
                .launch(shape.blocks, shape.threads, 0, stream, &mut params)
        }
    }
}
