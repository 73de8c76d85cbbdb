//! The operations ERR's children perform: fault and try to recover (ERR-002), and
//! hold memory until killed (ERR-003's killed neighbour).

use super::work::checked_work;
use crate::cuda::{Context, DeviceBuffer, Stream};
use crate::error::Result;
use crate::metrics::isolation::fault::FAULT_ADDRESS;
use crate::metrics::isolation::memory::SUCCESS;
use crate::run::child::{Handler, Held, Operation};
use serde::{Deserialize, Serialize};
use std::time::Instant;

/// The operations of ERR's children.
pub const OPERATIONS: &[Handler] = &[
    Handler::of::<FaultThenRecover>(),
    Handler::of::<HoldMemory>(),
];

/// What a child that never replied raised, as far as is known.
const NO_REPLY: &str = "no reply";

/// Bytes of the checked work that says a recovered context works.
const RECOVERY_WORK_BYTES: usize = 1 << 20;

/// Write to an address no allocation covers (as IS-010's aggressor does), then reset
/// the primary context, retain a new one and run checked work in it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FaultThenRecover;

/// What the fault raised and how the recovery went.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Recovery {
    /// CUresult names of the synchronisation that reports the fault and of an
    /// allocation after it (the sticky error, if it sticks).
    pub fault: String,
    pub after_fault: String,
    /// Why no new context worked; `None` where the checked work ran correctly.
    pub failed: Option<String>,
    /// From the start of the reset to the end of the checked work.
    pub recovery_ms: f64,
}

impl Recovery {
    /// A child that crashed, hung or failed before it replied: it faulted (it was
    /// asked to) and did not work again.
    pub fn lost(why: String) -> Self {
        Self {
            fault: NO_REPLY.into(),
            after_fault: NO_REPLY.into(),
            failed: Some(why),
            recovery_ms: 0.0,
        }
    }

    pub fn faulted(&self) -> bool {
        self.fault != SUCCESS
    }
}

impl Operation for FaultThenRecover {
    const NAME: &'static str = "fault-then-recover";
    type Reply = Recovery;
    fn serve(self, ctx: &Context, _: &mut Held) -> Result<Recovery> {
        let fault = crate::metrics::isolation::tenant::fault(FAULT_ADDRESS)?;
        let start = Instant::now();
        let recovered = ctx.device().reset_primary().and_then(|()| {
            let fresh = Context::primary(ctx.device().ordinal())?;
            checked_work(RECOVERY_WORK_BYTES)?;
            fresh.destroy()
        });
        Ok(Recovery {
            fault: fault.sync,
            after_fault: fault.after,
            failed: recovered.err().map(|e| e.to_string()),
            recovery_ms: start.elapsed().as_secs_f64() * 1e3,
        })
    }
}

/// Allocate `bytes`, write them, and keep them until the process ends.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HoldMemory {
    pub bytes: u64,
}

impl Operation for HoldMemory {
    const NAME: &'static str = "hold-memory";
    type Reply = ();
    fn serve(self, _: &Context, held: &mut Held) -> Result<()> {
        let stream = Stream::new()?;
        let buffer = DeviceBuffer::new(self.bytes as usize)?;
        buffer.fill_u32(0, &stream)?;
        stream.synchronize()?;
        held.keep(buffer);
        Ok(())
    }
}
