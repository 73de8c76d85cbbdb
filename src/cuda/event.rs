use super::{check, Stream};
use crate::error::Result;
use cudarc::driver::sys;

/// A timing event: GPU-side timestamps, so host scheduling noise stays out of
/// kernel and copy figures.
pub struct Event {
    raw: sys::CUevent,
}

impl Event {
    pub fn new() -> Result<Self> {
        let mut raw = std::ptr::null_mut();
        // SAFETY: needs a current context, which callers hold.
        check(
            unsafe { sys::cuEventCreate(&mut raw, sys::CUevent_flags::CU_EVENT_DEFAULT as u32) },
            "cuEventCreate",
        )?;
        Ok(Self { raw })
    }

    pub fn record(&self, stream: &Stream) -> Result<()> {
        // SAFETY: both handles are live.
        check(
            unsafe { sys::cuEventRecord(self.raw, stream.raw()) },
            "cuEventRecord",
        )
    }

    pub fn synchronize(&self) -> Result<()> {
        // SAFETY: raw is a live event.
        check(
            unsafe { sys::cuEventSynchronize(self.raw) },
            "cuEventSynchronize",
        )
    }

    /// Whether the work recorded before this event has completed, without waiting.
    pub fn is_done(&self) -> Result<bool> {
        // SAFETY: raw is a live event.
        match unsafe { sys::cuEventQuery(self.raw) } {
            sys::CUresult::CUDA_ERROR_NOT_READY => Ok(false),
            other => check(other, "cuEventQuery").map(|()| true),
        }
    }

    /// Milliseconds from `start` to `self`, both recorded and completed.
    pub fn elapsed_ms_since(&self, start: &Event) -> Result<f32> {
        let mut ms = 0f32;
        // SAFETY: both events are live and were recorded.
        check(
            unsafe { sys::cuEventElapsedTime_v2(&mut ms, start.raw, self.raw) },
            "cuEventElapsedTime",
        )?;
        Ok(ms)
    }
}

impl Drop for Event {
    fn drop(&mut self) {
        // SAFETY: raw was created by cuEventCreate and is destroyed once.
        let _ = unsafe { sys::cuEventDestroy_v2(self.raw) };
    }
}
