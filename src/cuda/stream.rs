use super::check;
use crate::error::Result;
use cudarc::driver::sys;

/// A non-default stream, so launches never serialise with another library's legacy
/// default-stream work.
pub struct Stream {
    raw: sys::CUstream,
}

impl Stream {
    pub fn new() -> Result<Self> {
        let mut raw = std::ptr::null_mut();
        // SAFETY: needs a current context, which callers hold.
        check(
            unsafe {
                sys::cuStreamCreate(&mut raw, sys::CUstream_flags::CU_STREAM_NON_BLOCKING as u32)
            },
            "cuStreamCreate",
        )?;
        Ok(Self { raw })
    }

    /// A non-blocking stream of `priority` (a number in [`stream_priorities`]'s range;
    /// lower numbers are higher priorities), whose blocks the GPU dispatches before
    /// those of lower-priority streams.
    pub fn with_priority(priority: i32) -> Result<Self> {
        let mut raw = std::ptr::null_mut();
        // SAFETY: needs a current context, which callers hold.
        check(
            unsafe {
                sys::cuStreamCreateWithPriority(
                    &mut raw,
                    sys::CUstream_flags::CU_STREAM_NON_BLOCKING as u32,
                    priority,
                )
            },
            "cuStreamCreateWithPriority",
        )?;
        Ok(Self { raw })
    }

    pub fn synchronize(&self) -> Result<()> {
        // SAFETY: raw is a live stream.
        check(
            unsafe { sys::cuStreamSynchronize(self.raw) },
            "cuStreamSynchronize",
        )
    }

    pub(crate) fn raw(&self) -> sys::CUstream {
        self.raw
    }
}

/// The current context's stream priorities as (least, greatest); the greatest is the
/// smaller number, and both are 0 where the device has no priorities.
pub fn stream_priorities() -> Result<(i32, i32)> {
    let (mut least, mut greatest) = (0, 0);
    // SAFETY: writes two ints; needs a current context, which callers hold.
    check(
        unsafe { sys::cuCtxGetStreamPriorityRange(&mut least, &mut greatest) },
        "cuCtxGetStreamPriorityRange",
    )?;
    Ok((least, greatest))
}

impl Drop for Stream {
    fn drop(&mut self) {
        // SAFETY: raw was created by cuStreamCreate and is destroyed once.
        let _ = unsafe { sys::cuStreamDestroy_v2(self.raw) };
    }
}
