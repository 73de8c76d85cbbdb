//! Thin RAII layer over the CUDA driver API. All `unsafe` FFI of the crate lives here:
//! metrics see safe types whose every call is checked and named in its error.

mod blas;
mod chunk;
mod context;
mod copy;
mod event;
mod graph;
mod hooked;
mod ipc;
mod launchers;
mod memory;
mod module;
mod nccl;
mod nvml;
mod pool;
mod runtime;
mod stream;
mod tensor_map;

pub use blas::Cublas;
pub use chunk::{heap_limit, libcuda_path, set_heap_limit, trim_graph_memory, Chunk, EntryPoint};
pub use context::{on_device, Context, Device};
pub use copy::{copy_device_async, copy_to_device_async, copy_to_host_async, PinnedBuffer};
pub use event::Event;
pub use graph::GraphExec;
pub use hooked::{HookedCall, HookedCalls};
pub use ipc::{IpcHandle, IpcMapping};
pub use launchers::{
    flash_kernel_name, pattern_mismatches, write_pattern, AttentionKernels, AttnShape,
    BandwidthKernels, CacheKernels, DecodeKernels, GemmGrid, GemmKernels, Generation, HeapKernels,
    IsolationKernels, LaunchKernels, PipelineKernels, Precision, RandomKernels, RuntimeFmaWork,
    SchedKernels, TimelineShape, FLASH_BLOCK_M, FMA_CHAINS, GEMV_KERNELS, GEMV_MAX_BATCH,
    KERNELS_VAR, READ_VECTOR_BYTES,
};
pub use memory::{copy_from_address, owns_address, DeviceBuffer};
pub use module::{Function, LaunchApi, Module};
pub use nccl::{version_name as nccl_version_name, Comm, Nccl, LIBNCCL_VAR};
pub use nvml::{Nvml, PcieLink};
pub use pool::{MemPool, PoolAlloc};
pub use runtime::{runtime_kernels_missing, Runtime, RuntimeKernel};
pub use stream::{stream_priorities, Stream};

use crate::error::{Error, Result};
use cudarc::driver::sys;
use std::sync::OnceLock;

/// Raw handles re-exported for the few metrics that time a bare driver call.
pub use sys::{CUdevice_attribute, CUresult};

/// Turns a `CUresult` into a typed error naming the call, so a failure deep in a
/// metric still says which driver entry point refused and with which code.
pub(crate) fn check(result: sys::CUresult, call: &'static str) -> Result<()> {
    if result == sys::CUresult::CUDA_SUCCESS {
        Ok(())
    } else {
        Err(Error::Cuda {
            call,
            name: format!("{result:?}"),
            code: result as u32,
        })
    }
}

/// Loads libcuda and runs `cuInit` once per process. cudarc panics when libcuda is
/// absent, so presence is checked first and reported as [`Error::NoDriver`].
/// [`check`] for a status read as a plain integer, where an interposer may return a
/// value that is no CUresult at all.
pub(crate) fn check_raw(status: i32, call: &'static str) -> Result<()> {
    if status == 0 {
        Ok(())
    } else {
        Err(Error::Cuda {
            call,
            name: if status < 0 {
                format!("status {status}, which is no CUresult (an interposer returned it)")
            } else {
                format!("CUresult {status}")
            },
            code: status as u32,
        })
    }
}

pub fn init() -> Result<()> {
    static INIT: OnceLock<std::result::Result<(), String>> = OnceLock::new();
    let outcome = INIT.get_or_init(|| {
        // SAFETY: only probes whether the shared library can be opened.
        if !unsafe { sys::is_culib_present() } {
            return Err(String::new());
        }
        // SAFETY: cuInit has no preconditions.
        check(unsafe { sys::cuInit(0) }, "cuInit").map_err(|e| e.to_string())
    });
    match outcome {
        Ok(()) => Ok(()),
        Err(msg) if msg.is_empty() => Err(Error::NoDriver),
        Err(msg) => Err(Error::Invalid(msg.clone())),
    }
}

/// Whether a driver library can be loaded at all; used by GPU tests to skip visibly.
pub fn driver_present() -> bool {
    // SAFETY: only probes whether the shared library can be opened.
    unsafe { sys::is_culib_present() }
}

/// The driver's CUDA version as "major.minor" (e.g. "13.0").
pub fn driver_version() -> Result<String> {
    let v = raw_driver_version()?;
    Ok(format!("{}.{}", v / 1000, (v % 1000) / 10))
}

/// `cuDriverGetVersion` as the integer the driver returns; also the cheapest hooked
/// call, which is why OH-005 times it.
pub fn raw_driver_version() -> Result<i32> {
    let mut v = 0;
    // SAFETY: writes one int.
    check(
        unsafe { sys::cuDriverGetVersion(&mut v) },
        "cuDriverGetVersion",
    )?;
    Ok(v)
}

/// Free and total device memory as the (possibly intercepted) driver reports them.
pub fn mem_info() -> Result<(u64, u64)> {
    let (mut free, mut total) = (0usize, 0usize);
    // SAFETY: writes two size_t; needs a current context, which callers hold.
    check(
        unsafe { sys::cuMemGetInfo_v2(&mut free, &mut total) },
        "cuMemGetInfo",
    )?;
    Ok((free as u64, total as u64))
}

/// Blocks until all work in the current context is done.
pub fn synchronize() -> Result<()> {
    // SAFETY: no arguments.
    check(unsafe { sys::cuCtxSynchronize() }, "cuCtxSynchronize")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_status_that_is_no_curesult_is_named_as_such() {
        assert!(check_raw(0, "cuMemFreeAsync").is_ok());
        let err = check_raw(-1, "cuMemFreeAsync").unwrap_err().to_string();
        assert!(
            err.contains("cuMemFreeAsync") && err.contains("no CUresult"),
            "{err}"
        );
        let err = check_raw(1, "cuMemFreeAsync").unwrap_err().to_string();
        assert!(
            err.contains("CUresult 1") && !err.contains("no CUresult"),
            "{err}"
        );
    }
}
