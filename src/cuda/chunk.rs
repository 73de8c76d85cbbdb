//! Device memory taken through each path a tenant's framework may use (the ENF
//! category): every path hands out a [`Chunk`] that knows how it must be given back,
//! so a probe can hold many chunks of mixed origin and free them all before it ends.

use super::runtime::{Runtime, RuntimeFree};
use super::{check, check_raw, Device, MemPool, Stream};
use crate::error::{Error, Result};
use cudarc::driver::sys;
use std::ffi::c_void;

/// How a chunk was obtained, and therefore how it is returned.
enum Release {
    /// cuMemAlloc, cuMemAllocPitch, cuMemAllocManaged, or cuMemAlloc reached another way.
    MemFree,
    /// cudaMalloc: cudaFree of the runtime that allocated it.
    Runtime(RuntimeFree),
    /// Stream-ordered memory (default pool, own pool, graph memory node): cuMemFreeAsync,
    /// read as a plain int because HAMi-core answers -1 for memory it did not allocate.
    StreamOrdered,
    /// Virtual memory management: unmap, release the physical handle, free the range.
    Mapped(sys::CUmemGenericAllocationHandle),
    /// A CUDA array, which has no device address to write through.
    Array(sys::CUarray),
}

/// One piece of device memory obtained on some path; freed on drop, or by
/// [`Chunk::free`] where the status of the free is worth reporting.
pub struct Chunk {
    ptr: sys::CUdeviceptr,
    bytes: usize,
    release: Release,
}

/// cuMemAlloc's C signature with the status as a plain int: the entry point reached
/// by cuGetProcAddress or by dlsym on libcuda opened by its path may be the driver's
/// own or an interposer's, which may answer values no CUresult holds.
type MemAllocFn = unsafe extern "C" fn(*mut sys::CUdeviceptr, usize) -> i32;

impl Chunk {
    /// cuMemAlloc as every other call of the crate reaches it.
    pub fn mem_alloc(bytes: usize) -> Result<Self> {
        let mut ptr = 0;
        // SAFETY: needs a current context, which callers hold.
        check(unsafe { sys::cuMemAlloc_v2(&mut ptr, bytes) }, "cuMemAlloc")?;
        Ok(Self::new(ptr, bytes, Release::MemFree))
    }

    /// cuMemAllocPitch of rows of 2 MiB (the widest pitch the driver allows is
    /// larger), as many as `bytes` holds; the chunk is what the driver says it gave.
    pub fn pitch(bytes: usize) -> Result<Self> {
        const ROW: usize = 2 << 20;
        let (mut ptr, mut pitch) = (0, 0usize);
        let rows = bytes.div_ceil(ROW);
        // SAFETY: writes a pointer and a pitch; needs a current context.
        check(
            unsafe { sys::cuMemAllocPitch_v2(&mut ptr, &mut pitch, ROW, rows, 4) },
            "cuMemAllocPitch",
        )?;
        Ok(Self::new(ptr, pitch * rows, Release::MemFree))
    }

    /// cuMemAllocManaged, its pages prefetched to `device` on `stream`, so that what
    /// is written next is written in device memory.
    pub fn managed(bytes: usize, device: &Device, stream: &Stream) -> Result<Self> {
        const ATTACH_GLOBAL: u32 = 1;
        let mut ptr = 0;
        // SAFETY: needs a current context, which callers hold.
        check(
            unsafe { sys::cuMemAllocManaged(&mut ptr, bytes, ATTACH_GLOBAL) },
            "cuMemAllocManaged",
        )?;
        let chunk = Self::new(ptr, bytes, Release::MemFree);
        // SAFETY: the range is exactly this allocation; the location is a device.
        check(
            unsafe {
                sys::cuMemPrefetchAsync_v2(ptr, bytes, device_location(device), 0, stream.raw())
            },
            "cuMemPrefetchAsync",
        )?;
        Ok(chunk)
    }

    /// Virtual memory management: cuMemCreate of physical memory, cuMemAddressReserve
    /// of a range, cuMemMap of one onto the other and cuMemSetAccess for `device`.
    /// `bytes` is rounded up to the allocation granularity.
    pub fn mapped(bytes: usize, device: &Device) -> Result<Self> {
        // SAFETY: all-zero is a valid CUmemAllocationProp; the fields used are set.
        let mut prop: sys::CUmemAllocationProp = unsafe { std::mem::zeroed() };
        prop.type_ = sys::CUmemAllocationType::CU_MEM_ALLOCATION_TYPE_PINNED;
        prop.location = device_location(device);
        let mut granularity = 0usize;
        // SAFETY: prop is initialised; writes one size_t.
        check(
            unsafe {
                sys::cuMemGetAllocationGranularity(
                    &mut granularity,
                    &prop,
                    sys::CUmemAllocationGranularity_flags::CU_MEM_ALLOC_GRANULARITY_MINIMUM,
                )
            },
            "cuMemGetAllocationGranularity",
        )?;
        let bytes = bytes.div_ceil(granularity.max(1)) * granularity.max(1);
        let mut handle = 0;
        // SAFETY: prop is initialised; writes one handle.
        check(
            unsafe { sys::cuMemCreate(&mut handle, bytes, &prop, 0) },
            "cuMemCreate",
        )?;
        let mut ptr = 0;
        // SAFETY: writes one address; no fixed address or alignment asked for.
        let reserved = check(
            unsafe { sys::cuMemAddressReserve(&mut ptr, bytes, 0, 0, 0) },
            "cuMemAddressReserve",
        );
        if let Err(e) = reserved {
            // SAFETY: handle came from cuMemCreate and is released once.
            let _ = unsafe { sys::cuMemRelease(handle) };
            return Err(e);
        }
        // From here on Drop unmaps (a failed unmap of an unmapped range is harmless),
        // releases and frees the range.
        let chunk = Self::new(ptr, bytes, Release::Mapped(handle));
        // SAFETY: the range and the handle are both `bytes` long and live.
        check(
            unsafe { sys::cuMemMap(ptr, bytes, 0, handle, 0) },
            "cuMemMap",
        )?;
        let access = sys::CUmemAccessDesc {
            location: device_location(device),
            flags: sys::CUmemAccess_flags::CU_MEM_ACCESS_FLAGS_PROT_READWRITE,
        };
        // SAFETY: the range is mapped; one descriptor.
        check(
            unsafe { sys::cuMemSetAccess(ptr, bytes, &access, 1) },
            "cuMemSetAccess",
        )?;
        Ok(chunk)
    }

    /// cuMemAllocAsync from the device's default pool, in stream order on `stream`.
    pub fn stream_ordered(bytes: usize, stream: &Stream) -> Result<Self> {
        let mut ptr = 0;
        // SAFETY: the stream is live.
        check(
            unsafe { sys::cuMemAllocAsync(&mut ptr, bytes, stream.raw()) },
            "cuMemAllocAsync",
        )?;
        Ok(Self::new(ptr, bytes, Release::StreamOrdered))
    }

    /// cuMemAllocFromPoolAsync from a pool of the caller's own, which must outlive
    /// the chunk.
    pub fn from_pool(pool: &MemPool, bytes: usize, stream: &Stream) -> Result<Self> {
        Ok(Self::new(
            pool.alloc(bytes, stream)?.into_raw(),
            bytes,
            Release::StreamOrdered,
        ))
    }

    /// cuArrayCreate of a 2D array of 16-byte texels, 32768 wide, as many rows as
    /// `bytes` holds.
    pub fn array_2d(bytes: usize) -> Result<Self> {
        const WIDTH: usize = 32768;
        let height = bytes.div_ceil(WIDTH * 16).max(1);
        let desc = sys::CUDA_ARRAY_DESCRIPTOR {
            Width: WIDTH,
            Height: height,
            Format: sys::CUarray_format::CU_AD_FORMAT_UNSIGNED_INT32,
            NumChannels: 4,
        };
        let mut array = std::ptr::null_mut();
        // SAFETY: desc is initialised; writes one handle.
        check(
            unsafe { sys::cuArrayCreate_v2(&mut array, &desc) },
            "cuArrayCreate",
        )?;
        Ok(Self::new(0, WIDTH * height * 16, Release::Array(array)))
    }

    /// cuArray3DCreate of 16-byte texels, 2048 x 2048, as deep as `bytes` holds.
    pub fn array_3d(bytes: usize) -> Result<Self> {
        const SIDE: usize = 2048;
        let depth = bytes.div_ceil(SIDE * SIDE * 16).max(1);
        let desc = sys::CUDA_ARRAY3D_DESCRIPTOR {
            Width: SIDE,
            Height: SIDE,
            Depth: depth,
            Format: sys::CUarray_format::CU_AD_FORMAT_UNSIGNED_INT32,
            NumChannels: 4,
            Flags: 0,
        };
        let mut array = std::ptr::null_mut();
        // SAFETY: desc is initialised; writes one handle.
        check(
            unsafe { sys::cuArray3DCreate_v2(&mut array, &desc) },
            "cuArray3DCreate",
        )?;
        Ok(Self::new(
            0,
            SIDE * SIDE * depth * 16,
            Release::Array(array),
        ))
    }

    /// A graph of one memory-allocation node (cuGraphAddMemAllocNode), instantiated
    /// and launched on `stream`: the memory stays allocated after the launch until it
    /// is freed in stream order.
    pub fn graph_node(bytes: usize, device: &Device, stream: &Stream) -> Result<Self> {
        let mut graph = std::ptr::null_mut();
        // SAFETY: writes one graph handle.
        check(
            unsafe { sys::cuGraphCreate(&mut graph, 0) },
            "cuGraphCreate",
        )?;
        let outcome = graph_alloc(graph, bytes, device, stream);
        // SAFETY: graph is live and destroyed once; the launch has been synchronised.
        let _ = unsafe { sys::cuGraphDestroy(graph) };
        Ok(Self::new(outcome?, bytes, Release::StreamOrdered))
    }

    /// cudaMalloc of the runtime library ([`Runtime::load`]).
    pub fn runtime(runtime: &Runtime, bytes: usize) -> Result<Self> {
        let mut ptr = std::ptr::null_mut();
        // SAFETY: the runtime uses the primary context, which callers hold current.
        let status = unsafe { (runtime.malloc)(&mut ptr, bytes) };
        runtime.check(status, "cudaMalloc")?;
        Ok(Self::new(
            ptr as sys::CUdeviceptr,
            bytes,
            Release::Runtime(runtime.free),
        ))
    }

    /// cuMemAlloc through an entry point obtained outside the crate's usual lookup
    /// ([`EntryPoint`]).
    pub fn entry_point(entry: &EntryPoint, bytes: usize) -> Result<Self> {
        let mut ptr = 0;
        // SAFETY: the pointer is cuMemAlloc_v2 of libcuda (or what an interposer put in
        // its place), of the declared signature; a current context is held.
        check_raw(unsafe { (entry.mem_alloc)(&mut ptr, bytes) }, entry.call)?;
        Ok(Self::new(ptr, bytes, Release::MemFree))
    }

    fn new(ptr: sys::CUdeviceptr, bytes: usize, release: Release) -> Self {
        Self {
            ptr,
            bytes,
            release,
        }
    }

    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Writes the whole chunk on the device on `stream`, so the memory is backed, not
    /// only promised. Arrays have no address to write through: `false`.
    pub fn write(&self, stream: &Stream) -> Result<bool> {
        if matches!(self.release, Release::Array(_)) {
            return Ok(false);
        }
        // SAFETY: the range is exactly this chunk, which is device-accessible.
        check(
            unsafe { sys::cuMemsetD32Async(self.ptr, 0x5a5a_5a5a, self.bytes / 4, stream.raw()) },
            "cuMemsetD32Async",
        )?;
        Ok(true)
    }

    /// Returns the memory now and reports the status, which `Drop` cannot. Stream-
    /// ordered frees go on the legacy default stream; callers synchronise afterwards.
    pub fn free(self) -> Result<()> {
        let this = std::mem::ManuallyDrop::new(self);
        this.release_now()
    }

    fn release_now(&self) -> Result<()> {
        // SAFETY: each release matches how the chunk was obtained and runs once.
        unsafe {
            match self.release {
                Release::MemFree => check(sys::cuMemFree_v2(self.ptr), "cuMemFree"),
                Release::Runtime(free) => {
                    let status = free(self.ptr as *mut c_void);
                    check_raw(status, "cudaFree")
                }
                Release::StreamOrdered => check_raw(
                    super::pool::free_async()?(self.ptr, std::ptr::null_mut()),
                    "cuMemFreeAsync",
                ),
                Release::Mapped(handle) => {
                    let unmapped = check(sys::cuMemUnmap(self.ptr, self.bytes), "cuMemUnmap");
                    let released = check(sys::cuMemRelease(handle), "cuMemRelease");
                    let freed = check(
                        sys::cuMemAddressFree(self.ptr, self.bytes),
                        "cuMemAddressFree",
                    );
                    unmapped.and(released).and(freed)
                }
                Release::Array(array) => check(sys::cuArrayDestroy(array), "cuArrayDestroy"),
            }
        }
    }
}

impl Drop for Chunk {
    fn drop(&mut self) {
        let _ = self.release_now();
    }
}

/// Gives the graph memory pool's freed blocks back to the device: a graph's memory
/// node keeps its blocks reserved for the next launch after they are freed, so
/// without a trim a probe that returned everything would still show it as used.
pub fn trim_graph_memory(device: &Device) -> Result<()> {
    // SAFETY: the ordinal is a device the driver returned.
    check(
        unsafe { sys::cuDeviceGraphMemTrim(device.ordinal()) },
        "cuDeviceGraphMemTrim",
    )
}

fn device_location(device: &Device) -> sys::CUmemLocation {
    sys::CUmemLocation {
        type_: sys::CUmemLocationType::CU_MEM_LOCATION_TYPE_DEVICE,
        id: device.ordinal(),
    }
}

/// Adds one allocation node to `graph`, launches it on `stream`, waits, and returns
/// the address the node allocated.
fn graph_alloc(
    graph: sys::CUgraph,
    bytes: usize,
    device: &Device,
    stream: &Stream,
) -> Result<sys::CUdeviceptr> {
    // SAFETY: all-zero is a valid CUDA_MEM_ALLOC_NODE_PARAMS; the fields used are set.
    let mut params: sys::CUDA_MEM_ALLOC_NODE_PARAMS = unsafe { std::mem::zeroed() };
    params.poolProps.allocType = sys::CUmemAllocationType::CU_MEM_ALLOCATION_TYPE_PINNED;
    params.poolProps.location = device_location(device);
    params.bytesize = bytes;
    let mut node = std::ptr::null_mut();
    // SAFETY: graph is live; no dependencies; params outlives the call and gets dptr.
    check(
        unsafe { sys::cuGraphAddMemAllocNode(&mut node, graph, std::ptr::null(), 0, &mut params) },
        "cuGraphAddMemAllocNode",
    )?;
    let mut exec = std::ptr::null_mut();
    // SAFETY: graph is live.
    check(
        unsafe { sys::cuGraphInstantiateWithFlags(&mut exec, graph, 0) },
        "cuGraphInstantiate",
    )?;
    // SAFETY: exec and stream are live.
    let launched = check(
        unsafe { sys::cuGraphLaunch(exec, stream.raw()) },
        "cuGraphLaunch",
    )
    .and_then(|()| stream.synchronize());
    // SAFETY: exec is destroyed once, after its launch completed.
    let _ = unsafe { sys::cuGraphExecDestroy(exec) };
    launched.map(|()| params.dptr)
}

/// cuMemAlloc obtained by a route a tenant could take around an interposer's hook of
/// the loader: cuGetProcAddress, or dlsym on libcuda opened by its full path.
pub struct EntryPoint {
    mem_alloc: MemAllocFn,
    call: &'static str,
}

impl EntryPoint {
    /// cuMemAlloc as cuGetProcAddress returns it for the driver's own CUDA version.
    pub fn proc_address() -> Result<Self> {
        let pfn = proc_address(c"cuMemAlloc")?;
        Ok(Self {
            // SAFETY: cuGetProcAddress returned cuMemAlloc of this CUDA version, whose
            // signature is cuMemAlloc_v2's.
            mem_alloc: unsafe { std::mem::transmute::<*mut c_void, MemAllocFn>(pfn) },
            call: "cuMemAlloc (from cuGetProcAddress)",
        })
    }

    /// cuMemAlloc_v2 from dlsym on the libcuda this process has mapped, opened again
    /// by its full path. `None` where no libcuda shows in /proc/self/maps.
    pub fn full_path() -> Result<Option<(Self, String)>> {
        let maps = std::fs::read_to_string("/proc/self/maps")
            .map_err(crate::error::io_at("/proc/self/maps"))?;
        let Some(path) = libcuda_path(&maps) else {
            return Ok(None);
        };
        // SAFETY: the library is already mapped; opening it again runs nothing new.
        let lib = unsafe { libloading::Library::new(&path) }
            .map_err(|e| Error::Invalid(format!("dlopen {path}: {e}")))?;
        let lib: &'static libloading::Library = Box::leak(Box::new(lib));
        // SAFETY: cuMemAlloc_v2 has this signature in cuda.h.
        let mem_alloc = unsafe { lib.get::<MemAllocFn>(b"cuMemAlloc_v2\0") }
            .map(|symbol| *symbol)
            .map_err(|e| Error::Invalid(format!("dlsym cuMemAlloc_v2 in {path}: {e}")))?;
        Ok(Some((
            Self {
                mem_alloc,
                call: "cuMemAlloc (dlsym on libcuda by full path)",
            },
            path,
        )))
    }
}

/// The entry point `symbol` as cuGetProcAddress returns it for the driver's own CUDA
/// version: the route the runtime takes to the driver, which an interposer must hook
/// separately from dlsym.
pub(crate) fn proc_address(symbol: &std::ffi::CStr) -> Result<*mut c_void> {
    let version = super::raw_driver_version()?;
    let (mut pfn, mut status) = (
        std::ptr::null_mut(),
        sys::CUdriverProcAddressQueryResult::CU_GET_PROC_ADDRESS_SUCCESS,
    );
    // SAFETY: the symbol is NUL-terminated; writes a pointer and a status.
    check(
        unsafe {
            sys::cuGetProcAddress_v2(
                symbol.as_ptr(),
                &mut pfn,
                version,
                sys::CUdriverProcAddress_flags::CU_GET_PROC_ADDRESS_DEFAULT as u64,
                &mut status,
            )
        },
        "cuGetProcAddress",
    )?;
    if pfn.is_null() {
        return Err(Error::Invalid(format!(
            "cuGetProcAddress({}) gave no pointer ({status:?})",
            symbol.to_string_lossy()
        )));
    }
    Ok(pfn)
}

/// The first mapped file whose name is libcuda.so (any version) in a /proc/<pid>/maps
/// text.
pub fn libcuda_path(maps: &str) -> Option<String> {
    maps.lines()
        .filter_map(|line| line.split_whitespace().nth(5))
        .find(|path| {
            path.rsplit('/')
                .next()
                .is_some_and(|name| name.starts_with("libcuda.so"))
        })
        .map(str::to_string)
}

/// Asks for a device heap (what kernels' malloc draws from) of `bytes`; must come
/// before any kernel that calls malloc. The driver may round or clamp the size:
/// [`heap_limit`] says what it set.
pub fn set_heap_limit(bytes: usize) -> Result<()> {
    // SAFETY: needs a current context, which callers hold.
    check(
        unsafe { sys::cuCtxSetLimit(sys::CUlimit::CU_LIMIT_MALLOC_HEAP_SIZE, bytes) },
        "cuCtxSetLimit(CU_LIMIT_MALLOC_HEAP_SIZE)",
    )
}

/// The device heap size the driver holds for the current context (cuCtxGetLimit).
pub fn heap_limit() -> Result<usize> {
    let mut bytes = 0usize;
    // SAFETY: writes one size_t; needs a current context, which callers hold.
    check(
        unsafe { sys::cuCtxGetLimit(&mut bytes, sys::CUlimit::CU_LIMIT_MALLOC_HEAP_SIZE) },
        "cuCtxGetLimit(CU_LIMIT_MALLOC_HEAP_SIZE)",
    )?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn libcuda_is_found_in_the_maps_by_its_file_name() {
        let maps = "\
7f00-7f10 r-xp 00000000 08:01 12 /usr/lib/libvgpu.so
7f10-7f20 r-xp 00000000 08:01 13 /usr/lib/x86_64-linux-gnu/libcudart.so.13
7f20-7f30 r-xp 00000000 08:01 14 /usr/lib/x86_64-linux-gnu/libcuda.so.580.159.04
7f30-7f40 rw-p 00000000 00:00 0
";
        assert_eq!(
            libcuda_path(maps).as_deref(),
            Some("/usr/lib/x86_64-linux-gnu/libcuda.so.580.159.04")
        );
        assert_eq!(libcuda_path("7f30-7f40 rw-p 00000000 00:00 0\n"), None);
    }
}
