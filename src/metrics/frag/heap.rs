//! The device heap as FRAG drives it: allocations that may be refused, the churn's
//! survivors, the largest allocation that still succeeds, and fills to the limit.

use super::churn::{Churn, ChurnStats, ROUNDS};
use super::search;
use crate::cuda::{self, DeviceBuffer};
use crate::error::{Error, Result};
use crate::measure::Stopwatch;

/// The CUresult of a refusal for want of memory.
const OUT_OF_MEMORY: &str = "CUDA_ERROR_OUT_OF_MEMORY";

/// cuMemAlloc of `bytes`, `None` where it is refused for want of memory; any other
/// failure is an error.
pub fn try_alloc(bytes: u64) -> Result<Option<DeviceBuffer>> {
    match DeviceBuffer::new(bytes as usize) {
        Ok(buffer) => Ok(Some(buffer)),
        Err(Error::Cuda { ref name, .. }) if name == OUT_OF_MEMORY => Ok(None),
        Err(e) => Err(e),
    }
}

/// The largest single allocation up to `upper` that succeeds now, to
/// [`search::STEP`]; each try is freed at once.
pub fn largest_allocation(upper: u64) -> Result<u64> {
    search::largest(upper, &mut |bytes| match try_alloc(bytes)? {
        Some(buffer) => buffer.free().map(|()| true),
        None => Ok(false),
    })
}

/// `pairs` cuMemAlloc + cuMemFree pairs of `bytes`, each pair timed into `sw`; the
/// mean microseconds per pair.
pub fn pair_latency_us(bytes: u64, pairs: usize, sw: &mut Stopwatch) -> Result<f64> {
    let before = sw.total();
    for _ in 0..pairs {
        sw.time(|| DeviceBuffer::new(bytes as usize).and_then(DeviceBuffer::free))?;
    }
    Ok((sw.total() - before).as_secs_f64() * 1e6 / pairs as f64)
}

/// The churn's survivors, freed together when done with.
pub struct Churned {
    live: Vec<(u64, DeviceBuffer)>,
    pub stats: ChurnStats,
}

impl Churned {
    /// Churns the heap with the plan of `seed` under `cap` bytes.
    pub fn new(seed: u64, cap: u64) -> Result<Self> {
        let mut live = Vec::new();
        let stats = Churn::new(seed, cap).run(
            ROUNDS,
            &mut live,
            &mut try_alloc,
            &mut DeviceBuffer::free,
        )?;
        Ok(Self { live, stats })
    }

    pub fn held(&self) -> u64 {
        self.live.iter().map(|(bytes, _)| bytes).sum()
    }

    pub fn free(self) -> Result<()> {
        self.live
            .into_iter()
            .try_for_each(|(_, buffer)| buffer.free())
    }
}

/// Allocates `chunk` pieces until one is refused or `cap` is reached, frees them all,
/// and returns the bytes obtained.
pub fn fill_pass(chunk: u64, cap: u64) -> Result<u64> {
    let mut held = Vec::new();
    while (held.len() as u64 + 1) * chunk <= cap {
        match try_alloc(chunk)? {
            Some(buffer) => held.push(buffer),
            None => break,
        }
    }
    let bytes = held.len() as u64 * chunk;
    held.into_iter().try_for_each(DeviceBuffer::free)?;
    Ok(bytes)
}

/// Free memory must come back to `before` (within a bisection step) once everything
/// was freed; otherwise later figures would start from a smaller heap.
pub fn check_returned(before: u64) -> Result<()> {
    let (now, _) = cuda::mem_info()?;
    if now + search::STEP < before {
        return Err(Error::Invalid(format!(
            "frag: {} MiB free after everything was freed, {} MiB before: freed memory did not come back",
            now >> 20,
            before >> 20
        )));
    }
    Ok(())
}
