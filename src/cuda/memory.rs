use super::{check, Stream};
use crate::error::Result;
use cudarc::driver::sys;

/// Device memory from `cuMemAlloc`; freed on drop, or by [`DeviceBuffer::free`] when
/// the free itself is what is timed or must be checked.
pub struct DeviceBuffer {
    ptr: sys::CUdeviceptr,
    bytes: usize,
}

impl DeviceBuffer {
    /// Allocates `bytes` of device memory (uninitialised).
    pub fn new(bytes: usize) -> Result<Self> {
        let mut ptr = 0;
        // SAFETY: needs a current context, which callers hold.
        check(unsafe { sys::cuMemAlloc_v2(&mut ptr, bytes) }, "cuMemAlloc")?;
        Ok(Self { ptr, bytes })
    }

    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// The device address, for passing as a kernel argument.
    pub fn device_ptr(&self) -> u64 {
        self.ptr
    }

    /// Fills the buffer with a 32-bit pattern on `stream`, e.g. to poison an output.
    pub fn fill_u32(&self, value: u32, stream: &Stream) -> Result<()> {
        // SAFETY: the range is exactly this allocation.
        check(
            unsafe { sys::cuMemsetD32Async(self.ptr, value, self.bytes / 4, stream.raw()) },
            "cuMemsetD32Async",
        )
    }

    /// Copies the whole buffer to `host`, which must be exactly as large.
    pub fn copy_to_host<T: Copy>(&self, host: &mut [T]) -> Result<()> {
        assert_eq!(std::mem::size_of_val(host), self.bytes, "host slice size");
        // SAFETY: sizes checked above; synchronous copy.
        check(
            unsafe { sys::cuMemcpyDtoH_v2(host.as_mut_ptr().cast(), self.ptr, self.bytes) },
            "cuMemcpyDtoH",
        )
    }

    /// Copies `host`, which must be exactly as large, into the buffer.
    pub fn copy_from_host<T: Copy>(&self, host: &[T]) -> Result<()> {
        assert_eq!(std::mem::size_of_val(host), self.bytes, "host slice size");
        // SAFETY: sizes checked above; synchronous copy.
        check(
            unsafe { sys::cuMemcpyHtoD_v2(self.ptr, host.as_ptr().cast(), self.bytes) },
            "cuMemcpyHtoD",
        )
    }

    /// Frees now and reports failure, which `Drop` cannot.
    pub fn free(self) -> Result<()> {
        let this = std::mem::ManuallyDrop::new(self);
        // SAFETY: ptr came from cuMemAlloc and is freed once.
        check(unsafe { sys::cuMemFree_v2(this.ptr) }, "cuMemFree")
    }
}

impl Drop for DeviceBuffer {
    fn drop(&mut self) {
        // SAFETY: ptr came from cuMemAlloc and is freed once.
        let _ = unsafe { sys::cuMemFree_v2(self.ptr) };
    }
}
