//! Page-locked host memory and the asynchronous copies between host and device and
//! within the device: what the PCIe and memory-bandwidth figures time.

use super::{check, DeviceBuffer, Stream};
use crate::error::{Error, Result};
use cudarc::driver::sys;

/// Host memory from `cuMemHostAlloc`: the DMA engines read and write it directly,
/// where pageable memory is staged through a driver buffer first. Freed on drop.
pub struct PinnedBuffer {
    ptr: *mut u8,
    bytes: usize,
}

impl PinnedBuffer {
    /// Allocates `bytes` of page-locked host memory, zeroed so it is never read
    /// uninitialised.
    pub fn new(bytes: usize) -> Result<Self> {
        let mut ptr = std::ptr::null_mut();
        // SAFETY: needs a current context, which callers hold; flags 0 = plain pinned.
        check(
            unsafe { sys::cuMemHostAlloc(&mut ptr, bytes, 0) },
            "cuMemHostAlloc",
        )?;
        let buffer = Self {
            ptr: ptr.cast(),
            bytes,
        };
        // SAFETY: the allocation holds exactly `bytes` writable bytes.
        unsafe { std::ptr::write_bytes(buffer.ptr, 0, bytes) };
        Ok(buffer)
    }

    pub fn as_slice(&self) -> &[u8] {
        // SAFETY: `bytes` initialised bytes from cuMemHostAlloc, alive while self is.
        unsafe { std::slice::from_raw_parts(self.ptr, self.bytes) }
    }

    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        // SAFETY: as in `as_slice`, borrowed mutably through self.
        unsafe { std::slice::from_raw_parts_mut(self.ptr, self.bytes) }
    }
}

impl Drop for PinnedBuffer {
    fn drop(&mut self) {
        // SAFETY: ptr came from cuMemHostAlloc and is freed once.
        let _ = unsafe { sys::cuMemFreeHost(self.ptr.cast()) };
    }
}

/// Refuses a copy of more bytes than `device` holds.
fn fits(call: &str, bytes: usize, device: &DeviceBuffer) -> Result<()> {
    if bytes > device.bytes() {
        return Err(Error::Invalid(format!(
            "{call}: {bytes} bytes do not fit a device buffer of {}",
            device.bytes()
        )));
    }
    Ok(())
}

/// Enqueues a copy of all of `host` (pinned or pageable) to the start of `device` on
/// `stream`; callers keep `host` alive and unchanged until the stream is synchronised.
pub fn copy_to_device_async(host: &[u8], device: &DeviceBuffer, stream: &Stream) -> Result<()> {
    fits("cuMemcpyHtoDAsync", host.len(), device)?;
    // SAFETY: both ranges are checked to lie in their allocations.
    check(
        unsafe {
            sys::cuMemcpyHtoDAsync_v2(
                device.device_ptr(),
                host.as_ptr().cast(),
                host.len(),
                stream.raw(),
            )
        },
        "cuMemcpyHtoDAsync",
    )
}

/// Enqueues a copy of the first `host.len()` bytes of `device` into `host` on
/// `stream`; callers read `host` only after the stream is synchronised.
pub fn copy_to_host_async(device: &DeviceBuffer, host: &mut [u8], stream: &Stream) -> Result<()> {
    fits("cuMemcpyDtoHAsync", host.len(), device)?;
    // SAFETY: both ranges are checked to lie in their allocations.
    check(
        unsafe {
            sys::cuMemcpyDtoHAsync_v2(
                host.as_mut_ptr().cast(),
                device.device_ptr(),
                host.len(),
                stream.raw(),
            )
        },
        "cuMemcpyDtoHAsync",
    )
}

/// Enqueues a copy of all of `src` into `dst` on `stream`, by the copy engine.
pub fn copy_device_async(src: &DeviceBuffer, dst: &DeviceBuffer, stream: &Stream) -> Result<()> {
    fits("cuMemcpyDtoDAsync", src.bytes(), dst)?;
    // SAFETY: both ranges are checked to lie in their allocations.
    check(
        unsafe {
            sys::cuMemcpyDtoDAsync_v2(
                dst.device_ptr(),
                src.device_ptr(),
                src.bytes(),
                stream.raw(),
            )
        },
        "cuMemcpyDtoDAsync",
    )
}
