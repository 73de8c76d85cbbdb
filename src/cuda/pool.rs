use super::{check, check_raw, Device, Stream};
use crate::error::{Error, Result};
use cudarc::driver::sys;
use std::sync::OnceLock;

/// A stream-ordered memory pool (`cuMemPoolCreate`) that keeps freed memory for reuse,
/// as a serving engine's KV-cache allocator does: its allocations are what LLM-002 and
/// LLM-005 set against plain `cuMemAlloc`.
pub struct MemPool {
    raw: sys::CUmemoryPool,
}

impl MemPool {
    /// A pool on `device` whose release threshold is unbounded, so memory freed back
    /// to it is never returned to the driver between allocations.
    pub fn new(device: &Device) -> Result<Self> {
        // SAFETY: an all-zero CUmemPoolProps is its documented default; the fields
        // that matter are set below.
        let mut props: sys::CUmemPoolProps = unsafe { std::mem::zeroed() };
        props.allocType = sys::CUmemAllocationType::CU_MEM_ALLOCATION_TYPE_PINNED;
        props.location.type_ = sys::CUmemLocationType::CU_MEM_LOCATION_TYPE_DEVICE;
        props.location.id = device.ordinal();
        let mut raw = std::ptr::null_mut();
        // SAFETY: props is fully initialised and outlives the call.
        check(
            unsafe { sys::cuMemPoolCreate(&mut raw, &props) },
            "cuMemPoolCreate",
        )?;
        let pool = Self { raw };
        let mut threshold = u64::MAX;
        // SAFETY: the attribute takes a u64, which `threshold` is.
        check(
            unsafe {
                sys::cuMemPoolSetAttribute(
                    pool.raw,
                    sys::CUmemPool_attribute::CU_MEMPOOL_ATTR_RELEASE_THRESHOLD,
                    (&mut threshold as *mut u64).cast(),
                )
            },
            "cuMemPoolSetAttribute",
        )?;
        Ok(pool)
    }

    /// Allocates `bytes` in stream order on `stream`.
    pub fn alloc(&self, bytes: usize, stream: &Stream) -> Result<PoolAlloc> {
        let mut ptr = 0;
        // SAFETY: the pool and the stream are live.
        check(
            unsafe { sys::cuMemAllocFromPoolAsync(&mut ptr, bytes, self.raw, stream.raw()) },
            "cuMemAllocFromPoolAsync",
        )?;
        Ok(PoolAlloc { ptr })
    }
}

impl Drop for MemPool {
    fn drop(&mut self) {
        // SAFETY: raw came from cuMemPoolCreate and is destroyed once; callers free
        // every allocation first (PoolAlloc has no Drop that could outlive it).
        let _ = unsafe { sys::cuMemPoolDestroy(self.raw) };
    }
}

/// An allocation from a [`MemPool`]. It must be given back with [`PoolAlloc::free`]
/// on a stream: a stream-ordered free has no meaning without one.
#[must_use = "a pool allocation is only returned by PoolAlloc::free"]
pub struct PoolAlloc {
    ptr: sys::CUdeviceptr,
}

impl PoolAlloc {
    pub fn device_ptr(&self) -> u64 {
        self.ptr
    }

    /// Gives up the handle: the caller now owns the stream-ordered free (a
    /// [`super::Chunk`] of the ENF probes).
    pub(crate) fn into_raw(self) -> sys::CUdeviceptr {
        self.ptr
    }

    /// Returns the memory to its pool in stream order on `stream`. The status is
    /// read as a plain integer: HAMi-core's hook answers -1, which is no CUresult,
    /// for pool memory it did not allocate itself, and the typed binding cannot
    /// hold such a value.
    pub fn free(self, stream: &Stream) -> Result<()> {
        let free = free_async()?;
        // SAFETY: ptr came from cuMemAllocFromPoolAsync and is freed once.
        check_raw(unsafe { free(self.ptr, stream.raw()) }, "cuMemFreeAsync")
    }
}

/// `cuMemFreeAsync` with its status as a plain int, looked up once: a symbol lookup
/// per free would be timed with every pool pair of LLM-005.
type FreeAsync = unsafe extern "C" fn(sys::CUdeviceptr, sys::CUstream) -> i32;

pub(crate) fn free_async() -> Result<FreeAsync> {
    static FREE: OnceLock<std::result::Result<FreeAsync, String>> = OnceLock::new();
    FREE.get_or_init(|| {
        // SAFETY: the driver library is loaded (a context exists); the symbol has
        // this C signature, with the status widened to a plain int.
        unsafe {
            sys::culib()
                .get::<FreeAsync>(b"cuMemFreeAsync\0")
                .map(|symbol| *symbol)
                .map_err(|e| e.to_string())
        }
    })
    .clone()
    .map_err(|e| Error::Invalid(format!("cuMemFreeAsync: {e}")))
}
