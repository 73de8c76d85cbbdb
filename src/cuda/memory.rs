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
        copy_from_address(self.ptr, host)
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

/// Copies `host.len()` values from device address `address` into `host`. The address
/// need not be this process's: the driver checks it in the current context, which is
/// what IS-005 probes with another tenant's pointer.
pub fn copy_from_address<T: Copy>(address: u64, host: &mut [T]) -> Result<()> {
    // SAFETY: the host side is exactly `host`; the driver validates the device range
    // and refuses one the current context cannot reach. Synchronous copy.
    check(
        unsafe {
            sys::cuMemcpyDtoH_v2(
                host.as_mut_ptr().cast(),
                address,
                std::mem::size_of_val(host),
            )
        },
        "cuMemcpyDtoH",
    )
}

/// Whether `address` lies in an allocation of the current context, so a probe can
/// tell "read another tenant's memory" from "read its own memory at that address".
pub fn owns_address(address: u64) -> Result<bool> {
    let (mut base, mut size) = (0, 0usize);
    // SAFETY: writes one CUdeviceptr and one size_t.
    let result = unsafe { sys::cuMemGetAddressRange_v2(&mut base, &mut size, address) };
    match result {
        sys::CUresult::CUDA_ERROR_NOT_FOUND | sys::CUresult::CUDA_ERROR_INVALID_VALUE => Ok(false),
        other => check(other, "cuMemGetAddressRange").map(|()| true),
    }
}

impl Drop for DeviceBuffer {
    fn drop(&mut self) {
        // SAFETY: ptr came from cuMemAlloc and is freed once.
        let _ = unsafe { sys::cuMemFree_v2(self.ptr) };
    }
}
