//! kernels/enforcement.cu: chunks of the device heap taken and given back by kernels.

use super::arg;
use crate::cuda::{DeviceBuffer, Function, Module, Stream};
use crate::error::{Error, Result};
use crate::kernels;

/// Threads per block writing a chunk.
const THREADS: u32 = 1024;

pub struct HeapKernels {
    take: Function,
    give: Function,
}

impl HeapKernels {
    pub fn load() -> Result<Self> {
        let module = Module::load("enforcement", kernels::ENFORCEMENT)?;
        Ok(Self {
            take: module.function("heap_take")?,
            give: module.function("heap_give")?,
        })
    }

    /// One block per slot of `slots` (u64 each) whose slot is still 0 takes a chunk
    /// of `chunk_bytes` with malloc, writes it whole and leaves its address in its
    /// slot (0 if refused): zero the slots first, and launch again to retry refusals.
    pub fn take(&self, chunk_bytes: u64, slots: &DeviceBuffer, stream: &Stream) -> Result<()> {
        let blocks = grid(slots)?;
        let (mut bytes, mut out) = (chunk_bytes, slots.device_ptr());
        let mut params = [arg(&mut bytes), arg(&mut out)];
        // SAFETY: (unsigned long long, unsigned long long*) as declared; one slot per
        // block; callers keep `slots` until `stream` is synchronised.
        unsafe { self.take.launch(blocks, THREADS, 0, stream, &mut params) }
    }

    /// Frees every chunk `take` left in `slots`.
    pub fn give(&self, slots: &DeviceBuffer, stream: &Stream) -> Result<()> {
        let blocks = grid(slots)?;
        let mut chunks = slots.device_ptr();
        let mut params = [arg(&mut chunks)];
        // SAFETY: (const unsigned long long*) as declared; one slot per block.
        unsafe { self.give.launch(blocks, 1, 0, stream, &mut params) }
    }
}

fn grid(slots: &DeviceBuffer) -> Result<u32> {
    u32::try_from(slots.bytes() / 8)
        .ok()
        .filter(|&n| n > 0)
        .ok_or_else(|| Error::Invalid(format!("heap kernels: {} bytes of slots", slots.bytes())))
}
