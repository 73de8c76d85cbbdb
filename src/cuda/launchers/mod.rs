//! Safe launchers for the kernels of kernels/*.cu: the only place that knows their
//! signatures, so argument packing is checked once here instead of at every call.

mod attention;
mod attention_sm90;
mod bandwidth;
mod cache;
mod decode;
mod gemm;
mod gemm_sm90;
mod heap;
mod hopper;
mod random;
mod sched;

pub use attention::{flash_kernel_name, AttentionKernels, AttnShape, FLASH_BLOCK_M};
pub use bandwidth::{pattern_mismatches, write_pattern, BandwidthKernels};
pub use cache::{CacheKernels, READ_VECTOR_BYTES};
pub use decode::{DecodeKernels, GEMV_KERNELS, GEMV_MAX_BATCH};
pub use gemm::{GemmGrid, GemmKernels, Precision};
pub use heap::HeapKernels;
pub use hopper::{Generation, KERNELS_VAR};
pub use random::RandomKernels;
pub use sched::{SchedKernels, TimelineShape};

use super::{DeviceBuffer, Function, LaunchApi, Module, RuntimeKernel, Stream};
use crate::error::{Error, Result};
use crate::kernels;
use std::ffi::c_void;

/// One kernel argument as cuLaunchKernel takes it: a pointer to the value.
fn arg<T>(value: &mut T) -> *mut c_void {
    (value as *mut T).cast()
}

/// Refuses a launch whose buffer is smaller than the shape it is told to cover: the
/// kernel would read or write past the allocation.
fn buffer_holds(kernel: &str, which: &str, buf: &DeviceBuffer, bytes: usize) -> Result<()> {
    if buf.bytes() < bytes {
        return Err(Error::Invalid(format!(
            "{kernel}: {which} holds {} bytes, the shape needs {bytes}",
            buf.bytes()
        )));
    }
    Ok(())
}

/// Independent FMA chains per thread of `fma_work` (kernels/launch.cu's FMA_CHAINS).
pub const FMA_CHAINS: u32 = 8;

/// kernels/launch.cu, loaded, with its functions looked up once: a lookup per launch
/// would be timed as part of the launch.
pub struct LaunchKernels {
    empty: Function,
    spin: Function,
    fma_work: Function,
}

impl LaunchKernels {
    pub fn load() -> Result<Self> {
        let module = Module::load("launch", kernels::LAUNCH)?;
        Ok(Self {
            empty: module.function("empty")?,
            spin: module.function("spin")?,
            fma_work: module.function("fma_work")?,
        })
    }

    /// `empty<<<1,1>>>()`: only the launch path is paid.
    pub fn empty(&self, stream: &Stream) -> Result<()> {
        // SAFETY: `empty` takes no arguments.
        unsafe { self.empty.launch(1, 1, 0, stream, &mut []) }
    }

    /// `spin<<<blocks, threads>>>(cycles, spun)`: each block busy-waits `cycles` SM
    /// clock cycles and writes the cycles it spun to `spun[block]`.
    pub fn spin(
        &self,
        blocks: u32,
        threads: u32,
        cycles: i64,
        spun: &DeviceBuffer,
        stream: &Stream,
    ) -> Result<()> {
        Self::count_out(
            &self.spin,
            LaunchApi::Kernel,
            blocks,
            threads,
            cycles,
            spun,
            stream,
        )
    }

    /// `fma_work<<<blocks, threads>>>(iters, done)`: each thread runs
    /// [`FMA_CHAINS`] independent chains of `iters` FMAs, work bound by the SMs' f32
    /// throughput, and block thread 0 writes `iters` to `done[block]`.
    pub fn fma_work(
        &self,
        blocks: u32,
        threads: u32,
        iters: i64,
        done: &DeviceBuffer,
        stream: &Stream,
    ) -> Result<()> {
        self.fma_work_via(LaunchApi::Kernel, blocks, threads, iters, done, stream)
    }

    /// [`LaunchKernels::fma_work`] launched through `api`.
    pub fn fma_work_via(
        &self,
        api: LaunchApi,
        blocks: u32,
        threads: u32,
        iters: i64,
        done: &DeviceBuffer,
        stream: &Stream,
    ) -> Result<()> {
        Self::count_out(&self.fma_work, api, blocks, threads, iters, done, stream)
    }

    /// Launches `f(count, slots)`, a kernel that counts to `count` per block and
    /// records it in its slot.
    fn count_out(
        f: &Function,
        api: LaunchApi,
        blocks: u32,
        threads: u32,
        count: i64,
        slots: &DeviceBuffer,
        stream: &Stream,
    ) -> Result<()> {
        count_out_with(f.name(), blocks, count, slots, |params| {
            // SAFETY: `params` holds (long long, long long*) as both kernels declare,
            // the slots checked to hold one per block.
            unsafe { f.launch_via(api, blocks, threads, stream, params) }
        })
    }

    /// Checks, after a synchronised `spin` into a buffer poisoned with all-ones, that
    /// every block ran and spun at least `cycles`: a block that never ran would leave
    /// its slot at the poison (-1).
    pub fn check_spun(spun: &DeviceBuffer, blocks: u32, cycles: i64) -> Result<()> {
        let mut host = vec![0i64; spun.bytes() / 8];
        spun.copy_to_host(&mut host)?;
        match host
            .iter()
            .take(blocks as usize)
            .enumerate()
            .find(|(_, &c)| c < cycles)
        {
            Some((block, &got)) => Err(Error::Incorrect {
                kernel: "spin",
                detail: format!("block {block} reports {got} cycles, expected at least {cycles}"),
            }),
            None => Ok(()),
        }
    }
}

/// The arguments `(count, slots)` of a kernel that counts to `count` per block and
/// records it in its slot, handed to `launch` once `slots` is checked to hold one
/// slot per block; callers synchronise the launch before dropping `slots`.
fn count_out_with(
    kernel: &str,
    blocks: u32,
    count: i64,
    slots: &DeviceBuffer,
    launch: impl FnOnce(&mut [*mut c_void]) -> Result<()>,
) -> Result<()> {
    if slots.bytes() < blocks as usize * 8 {
        return Err(Error::Invalid(format!(
            "{kernel}: output holds {} bytes, {blocks} blocks need {}",
            slots.bytes(),
            blocks as usize * 8
        )));
    }
    let mut count = count;
    let mut ptr = slots.device_ptr();
    launch(&mut [arg(&mut count), arg(&mut ptr)])
}

/// `fma_work` of kernels/launch.cu loaded a second time, through the runtime API
/// (cudaLibraryLoadData on the same PTX, cudaLibraryGetKernel), and launched with
/// cudaLaunchKernel: a framework's launch path, which an interposer of the driver sees
/// only as libcudart forwards it.
pub struct RuntimeFmaWork {
    kernel: RuntimeKernel,
}

impl RuntimeFmaWork {
    /// Loads it; an error where [`crate::cuda::runtime_kernels_missing`] says why not.
    pub fn load() -> Result<Self> {
        Ok(Self {
            kernel: RuntimeKernel::load("launch", kernels::LAUNCH, "fma_work")?,
        })
    }

    /// [`LaunchKernels::fma_work`] through cudaLaunchKernel.
    pub fn launch(
        &self,
        blocks: u32,
        threads: u32,
        iters: i64,
        done: &DeviceBuffer,
        stream: &Stream,
    ) -> Result<()> {
        count_out_with("fma_work (runtime)", blocks, iters, done, |params| {
            // SAFETY: (long long, long long*) as fma_work declares; the slots are
            // checked to hold one per block.
            unsafe { self.kernel.launch(blocks, threads, stream, params) }
        })
    }
}

/// kernels/pipeline.cu, loaded.
pub struct PipelineKernels {
    affine: Function,
}

/// Blocks and threads of `affine`: enough to cover the chip, the grid-stride loop
/// covers the rest.
const AFFINE_GRID: (u32, u32) = (1024, 256);

impl PipelineKernels {
    pub fn load() -> Result<Self> {
        let module = Module::load("pipeline", kernels::PIPELINE)?;
        Ok(Self {
            affine: module.function("affine")?,
        })
    }

    /// `x = a * x + b` over the whole f32 buffer.
    pub fn affine(&self, x: &DeviceBuffer, a: f32, b: f32, stream: &Stream) -> Result<()> {
        let mut ptr = x.device_ptr();
        let mut n = (x.bytes() / 4) as u64;
        let (mut a, mut b) = (a, b);
        let mut params = [
            (&mut ptr as *mut u64).cast::<c_void>(),
            (&mut n as *mut u64).cast::<c_void>(),
            (&mut a as *mut f32).cast::<c_void>(),
            (&mut b as *mut f32).cast::<c_void>(),
        ];
        // SAFETY: (float*, unsigned long long, float, float) as declared; n covers
        // exactly the buffer, which callers keep alive until `stream` is synchronised.
        unsafe {
            self.affine
                .launch(AFFINE_GRID.0, AFFINE_GRID.1, 0, stream, &mut params)
        }
    }
}

/// kernels/isolation.cu, loaded: the kernels that reach beyond a tenant's own memory.
pub struct IsolationKernels {
    copy_words: Function,
    write_word: Function,
}

/// Blocks and threads of `copy_words`; the grid-stride loop covers any length.
const COPY_GRID: (u32, u32) = (256, 256);

impl IsolationKernels {
    pub fn load() -> Result<Self> {
        let module = Module::load("isolation", kernels::ISOLATION)?;
        Ok(Self {
            copy_words: module.function("copy_words")?,
            write_word: module.function("write_word")?,
        })
    }

    /// Copies `dst.bytes() / 8` words from device address `src`, which may be one this
    /// context never allocated (IS-005): the GPU then faults and the next
    /// synchronisation reports it.
    pub fn copy_from_address(&self, src: u64, dst: &DeviceBuffer, stream: &Stream) -> Result<()> {
        let mut src = src;
        let mut ptr = dst.device_ptr();
        let mut n = (dst.bytes() / 8) as u64;
        let mut params = [
            (&mut src as *mut u64).cast::<c_void>(),
            (&mut ptr as *mut u64).cast::<c_void>(),
            (&mut n as *mut u64).cast::<c_void>(),
        ];
        // SAFETY: (const u64*, u64*, u64) as declared; n covers exactly `dst`, which
        // callers keep alive until `stream` is synchronised. `src` is only read: an
        // address outside this context's memory faults the GPU context, which is
        // reported as an error and touches no host memory.
        unsafe {
            self.copy_words
                .launch(COPY_GRID.0, COPY_GRID.1, 0, stream, &mut params)
        }
    }

    /// Writes one word to device address `target` (IS-010's deliberate fault). An
    /// address inside this context's own allocations is refused without launching,
    /// so the kernel can only ever fault, never overwrite this process's data.
    pub fn write_outside(&self, target: u64, value: u64, stream: &Stream) -> Result<()> {
        if super::owns_address(target)? {
            return Err(Error::Invalid(format!(
                "write_outside: {target:#x} lies in this context's own memory"
            )));
        }
        let (mut target, mut value) = (target, value);
        let mut params = [
            (&mut target as *mut u64).cast::<c_void>(),
            (&mut value as *mut u64).cast::<c_void>(),
        ];
        // SAFETY: (u64*, u64) as declared; `target` was checked to lie outside every
        // allocation of this context, so the store can only fault the GPU context.
        unsafe { self.write_word.launch(1, 1, 0, stream, &mut params) }
    }
}
