use super::{check, check_raw, Stream};
use crate::error::{Error, Result};
use cudarc::driver::sys;
use std::ffi::{c_void, CString};
use std::rc::Rc;
use std::sync::OnceLock;

/// A loaded PTX module; unloaded when it and every [`Function`] taken from it are gone.
#[derive(Clone)]
pub struct Module {
    inner: Rc<Loaded>,
}

struct Loaded {
    raw: sys::CUmodule,
}

impl Module {
    /// JIT-loads `ptx` (the text of kernels/`name`.cu). A driver older than the PTX ISA
    /// is reported as [`Error::PtxTooNew`] with the driver's CUDA version, because the
    /// bare CUresult does not say what to do about it.
    pub fn load(name: &'static str, ptx: &str) -> Result<Self> {
        let text = CString::new(ptx)
            .map_err(|_| Error::Invalid(format!("PTX of {name} holds a NUL byte")))?;
        let mut raw = std::ptr::null_mut();
        // SAFETY: text is a NUL-terminated PTX image that outlives the call.
        let result = unsafe { sys::cuModuleLoadData(&mut raw, text.as_ptr().cast()) };
        match result {
            sys::CUresult::CUDA_ERROR_UNSUPPORTED_PTX_VERSION
            | sys::CUresult::CUDA_ERROR_INVALID_PTX => Err(Error::PtxTooNew {
                module: name,
                driver: super::driver_version().unwrap_or_else(|_| "unknown".into()),
                name: format!("{result:?}"),
            }),
            other => check(other, "cuModuleLoadData").map(|()| Self {
                inner: Rc::new(Loaded { raw }),
            }),
        }
    }

    pub fn function(&self, name: &'static str) -> Result<Function> {
        let cname = CString::new(name)
            .map_err(|_| Error::Invalid(format!("kernel name {name} holds a NUL byte")))?;
        let mut raw = std::ptr::null_mut();
        // SAFETY: self.raw is a live module; cname outlives the call.
        check(
            unsafe { sys::cuModuleGetFunction(&mut raw, self.inner.raw, cname.as_ptr()) },
            "cuModuleGetFunction",
        )?;
        Ok(Function {
            raw,
            name,
            _module: self.clone(),
        })
    }
}

impl Drop for Loaded {
    fn drop(&mut self) {
        // SAFETY: raw was loaded by cuModuleLoadData and is unloaded once.
        let _ = unsafe { sys::cuModuleUnload(self.raw) };
    }
}

/// The driver entry point a kernel launch goes through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LaunchApi {
    Kernel,
    KernelEx,
    /// All blocks co-resident: the grid must fit on the device at once.
    Cooperative,
    /// cuLaunchKernel called through the pointer cuGetProcAddress returns, as a
    /// tenant could to step around an interposer's hook of dlsym.
    ProcAddress,
}

/// cuLaunchKernel's C signature with the status as a plain int (an interposer's
/// function may answer values no CUresult holds).
type LaunchKernelFn = unsafe extern "C" fn(
    sys::CUfunction,
    u32,
    u32,
    u32,
    u32,
    u32,
    u32,
    u32,
    sys::CUstream,
    *mut *mut c_void,
    *mut *mut c_void,
) -> i32;

/// cuLaunchKernel from cuGetProcAddress, looked up once per process: a lookup per
/// launch would be timed with every kernel.
fn launch_kernel_by_proc_address() -> Result<LaunchKernelFn> {
    static LAUNCH: OnceLock<std::result::Result<LaunchKernelFn, String>> = OnceLock::new();
    LAUNCH
        .get_or_init(|| {
            super::chunk::proc_address(c"cuLaunchKernel")
                // SAFETY: cuGetProcAddress returned cuLaunchKernel, of this signature.
                .map(|pfn| unsafe { std::mem::transmute::<*mut c_void, LaunchKernelFn>(pfn) })
                .map_err(|e| e.to_string())
        })
        .clone()
        .map_err(Error::Invalid)
}

/// A kernel of a loaded module; it keeps its module loaded.
pub struct Function {
    raw: sys::CUfunction,
    name: &'static str,
    _module: Module,
}

impl Function {
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Enqueues the kernel on a one-dimensional grid. `params` holds one pointer per
    /// kernel argument, each to a value laid out as the kernel declares it.
    ///
    /// # Safety
    /// The argument pointers must match the kernel's signature and any device pointers
    /// among them must stay valid until the kernel has finished.
    pub unsafe fn launch(
        &self,
        grid: u32,
        block: u32,
        shared_bytes: u32,
        stream: &Stream,
        params: &mut [*mut c_void],
    ) -> Result<()> {
        self.launch_grid([grid, 1, 1], [block, 1, 1], shared_bytes, stream, params)
    }

    /// [`Function::launch`] on an x-y-z grid of x-y-z blocks, for kernels that index
    /// tiles in two dimensions (GEMM, attention).
    ///
    /// # Safety
    /// As for [`Function::launch`].
    pub unsafe fn launch_grid(
        &self,
        grid: [u32; 3],
        block: [u32; 3],
        shared_bytes: u32,
        stream: &Stream,
        params: &mut [*mut c_void],
    ) -> Result<()> {
        check(
            sys::cuLaunchKernel(
                self.raw,
                grid[0],
                grid[1],
                grid[2],
                block[0],
                block[1],
                block[2],
                shared_bytes,
                stream.raw(),
                params.as_mut_ptr(),
                std::ptr::null_mut(),
            ),
            "cuLaunchKernel",
        )
    }

    /// [`Function::launch`] through the entry point `api`: an interposer that hooks
    /// cuLaunchKernel may not hook cuLaunchKernelEx or cuLaunchCooperativeKernel.
    ///
    /// # Safety
    /// As for [`Function::launch`].
    pub unsafe fn launch_via(
        &self,
        api: LaunchApi,
        grid: u32,
        block: u32,
        stream: &Stream,
        params: &mut [*mut c_void],
    ) -> Result<()> {
        match api {
            LaunchApi::Kernel => self.launch(grid, block, 0, stream, params),
            LaunchApi::KernelEx => {
                let config = sys::CUlaunchConfig {
                    gridDimX: grid,
                    gridDimY: 1,
                    gridDimZ: 1,
                    blockDimX: block,
                    blockDimY: 1,
                    blockDimZ: 1,
                    sharedMemBytes: 0,
                    hStream: stream.raw(),
                    attrs: std::ptr::null_mut(),
                    numAttrs: 0,
                };
                check(
                    sys::cuLaunchKernelEx(
                        &config,
                        self.raw,
                        params.as_mut_ptr(),
                        std::ptr::null_mut(),
                    ),
                    "cuLaunchKernelEx",
                )
            }
            LaunchApi::ProcAddress => check_raw(
                launch_kernel_by_proc_address()?(
                    self.raw,
                    grid,
                    1,
                    1,
                    block,
                    1,
                    1,
                    0,
                    stream.raw(),
                    params.as_mut_ptr(),
                    std::ptr::null_mut(),
                ),
                "cuLaunchKernel (from cuGetProcAddress)",
            ),
            LaunchApi::Cooperative => check(
                sys::cuLaunchCooperativeKernel(
                    self.raw,
                    grid,
                    1,
                    1,
                    block,
                    1,
                    1,
                    0,
                    stream.raw(),
                    params.as_mut_ptr(),
                ),
                "cuLaunchCooperativeKernel",
            ),
        }
    }

    /// Blocks of `block` threads that fit on one SM at once with no dynamic shared
    /// memory, as the driver's occupancy calculator says: a streaming kernel needs
    /// every SM full to keep enough loads in flight.
    pub fn max_active_blocks_per_sm(&self, block: u32) -> Result<u32> {
        let mut blocks = 0;
        // SAFETY: raw is a live function of a loaded module; writes one int.
        check(
            unsafe {
                sys::cuOccupancyMaxActiveBlocksPerMultiprocessor(
                    &mut blocks,
                    self.raw,
                    block as i32,
                    0,
                )
            },
            "cuOccupancyMaxActiveBlocksPerMultiprocessor",
        )?;
        Ok(blocks.max(1) as u32)
    }

    /// Lets launches ask for `bytes` of dynamic shared memory: above 48 KiB the driver
    /// refuses a launch unless the kernel was opted in first.
    pub fn allow_shared(&self, bytes: u32) -> Result<()> {
        // SAFETY: raw is a live function of a loaded module.
        check(
            unsafe {
                sys::cuFuncSetAttribute(
                    self.raw,
                    sys::CUfunction_attribute::CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES,
                    bytes as i32,
                )
            },
            "cuFuncSetAttribute",
        )
    }
}
