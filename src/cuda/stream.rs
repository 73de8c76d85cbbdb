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

impl Drop for Stream {
    fn drop(&mut self) {
        // SAFETY: raw was created by cuStreamCreate and is destroyed once.
        let _ = unsafe { sys::cuStreamDestroy_v2(self.raw) };
    }
}
