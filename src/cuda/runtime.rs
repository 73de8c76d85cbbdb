//! The runtime API (libcudart), opened at run time like cuBLAS: frameworks allocate
//! and launch through it, and an interposer may hook it differently from the driver,
//! or see its work only as libcudart forwards it to the driver.

use super::Stream;
use crate::error::{Error, Result};
use cudarc::driver::sys;
use std::ffi::{c_char, c_void, CString};
use std::sync::OnceLock;

type RuntimeMalloc = unsafe extern "C" fn(*mut *mut c_void, usize) -> i32;
pub(super) type RuntimeFree = unsafe extern "C" fn(*mut c_void) -> i32;
type RuntimeErrorName = unsafe extern "C" fn(i32) -> *const c_char;
/// cudaLibraryLoadData(library, code, jitOptions, jitOptionsValues, numJitOptions,
/// libraryOptions, libraryOptionValues, numLibraryOptions); the option arrays are
/// passed empty, so their enum element types are left opaque.
type LibraryLoadData = unsafe extern "C" fn(
    *mut *mut c_void,
    *const c_void,
    *mut c_void,
    *mut *mut c_void,
    u32,
    *mut c_void,
    *mut *mut c_void,
    u32,
) -> i32;
type LibraryGetKernel = unsafe extern "C" fn(*mut *mut c_void, *mut c_void, *const c_char) -> i32;
type LibraryUnload = unsafe extern "C" fn(*mut c_void) -> i32;
/// cudaLaunchKernel(func, gridDim, blockDim, args, sharedMem, stream), the dim3s by
/// value as the C API takes them.
type LaunchKernel =
    unsafe extern "C" fn(*const c_void, Dim3, Dim3, *mut *mut c_void, usize, sys::CUstream) -> i32;

/// The runtime's `dim3`, passed by value.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
struct Dim3 {
    x: u32,
    y: u32,
    z: u32,
}

/// The runtime library's entry points the suite calls.
pub struct Runtime {
    pub(super) malloc: RuntimeMalloc,
    pub(super) free: RuntimeFree,
    error_name: RuntimeErrorName,
    /// The library management and launch calls, or why this libcudart has none (a
    /// runtime older than its library API).
    kernels: std::result::Result<KernelCalls, String>,
}

/// cudaLibraryLoadData, cudaLibraryGetKernel, cudaLibraryUnload, cudaLaunchKernel.
struct KernelCalls {
    load_data: LibraryLoadData,
    get_kernel: LibraryGetKernel,
    unload: LibraryUnload,
    launch: LaunchKernel,
}

impl Runtime {
    /// The runtime, once per process; `None` where no libcudart is on the loader's
    /// path. The library stays loaded for the process's life, so its entry points
    /// stay valid for every chunk and kernel it hands out.
    pub fn load() -> Option<&'static Self> {
        static RUNTIME: OnceLock<Option<Runtime>> = OnceLock::new();
        RUNTIME
            .get_or_init(|| {
                ["libcudart.so", "libcudart.so.13", "libcudart.so.12"]
                    .iter()
                    .find_map(|name| {
                        // SAFETY: opening libcudart runs only its initialisers.
                        let lib = unsafe { libloading::Library::new(*name) }.ok()?;
                        let lib: &'static libloading::Library = Box::leak(Box::new(lib));
                        // SAFETY: the symbols have these C signatures in cuda_runtime_api.h.
                        let kernels = unsafe {
                            (|| {
                                Some(KernelCalls {
                                    load_data: *lib.get(b"cudaLibraryLoadData\0").ok()?,
                                    get_kernel: *lib.get(b"cudaLibraryGetKernel\0").ok()?,
                                    unload: *lib.get(b"cudaLibraryUnload\0").ok()?,
                                    launch: *lib.get(b"cudaLaunchKernel\0").ok()?,
                                })
                            })()
                        }
                        .ok_or_else(|| {
                            format!(
                                "{name} has no cudaLibraryLoadData, cudaLibraryGetKernel, \
                                 cudaLibraryUnload or cudaLaunchKernel (a runtime older than \
                                 its library API)"
                            )
                        });
                        // SAFETY: as above.
                        unsafe {
                            Some(Runtime {
                                malloc: *lib.get::<RuntimeMalloc>(b"cudaMalloc\0").ok()?,
                                free: *lib.get::<RuntimeFree>(b"cudaFree\0").ok()?,
                                error_name: *lib
                                    .get::<RuntimeErrorName>(b"cudaGetErrorName\0")
                                    .ok()?,
                                kernels,
                            })
                        }
                    })
            })
            .as_ref()
    }

    /// A runtime status as an error naming the cudaError_t.
    pub(super) fn check(&self, status: i32, call: &'static str) -> Result<()> {
        if status == 0 {
            return Ok(());
        }
        // SAFETY: cudaGetErrorName returns a static string for any value.
        let name = unsafe { std::ffi::CStr::from_ptr((self.error_name)(status)) };
        Err(Error::Cuda {
            call,
            name: name.to_string_lossy().into_owned(),
            code: status as u32,
        })
    }
}

/// Why kernels cannot be loaded and launched through the runtime in this process (no
/// libcudart on the loader's path, or one without the library API); `None` where
/// they can.
pub fn runtime_kernels_missing() -> Option<String> {
    match Runtime::load() {
        None => Some("no libcudart on the loader's path".into()),
        Some(runtime) => runtime.kernels.as_ref().err().cloned(),
    }
}

/// A kernel of PTX loaded by the runtime (cudaLibraryLoadData, cudaLibraryGetKernel)
/// and launched with cudaLaunchKernel, which takes the cudaKernel_t cast to the
/// function pointer it is declared with (documented since the runtime's library API):
/// the launch a framework's own kernels make, through libcudart rather than the
/// driver calls a driver-API launch makes. The library is unloaded on drop.
pub struct RuntimeKernel {
    runtime: &'static Runtime,
    calls: &'static KernelCalls,
    library: *mut c_void,
    kernel: *mut c_void,
    /// The PTX, kept for the library's life: with lazy module loading the runtime may
    /// read it only at the first launch.
    _image: CString,
}

impl RuntimeKernel {
    /// Kernel `name` of `ptx` (the text of kernels/`module`.cu), loaded through the
    /// runtime; an error where [`runtime_kernels_missing`] says why it cannot be.
    pub fn load(module: &'static str, ptx: &str, name: &'static str) -> Result<Self> {
        let missing = || {
            Error::Invalid(format!(
                "{module}/{name} through the runtime: {}",
                runtime_kernels_missing().unwrap_or_default()
            ))
        };
        let runtime = Runtime::load().ok_or_else(missing)?;
        let calls = runtime.kernels.as_ref().map_err(|_| missing())?;
        let image = CString::new(ptx)
            .map_err(|_| Error::Invalid(format!("PTX of {module} holds a NUL byte")))?;
        let cname = CString::new(name)
            .map_err(|_| Error::Invalid(format!("kernel name {name} holds a NUL byte")))?;
        let mut library = std::ptr::null_mut();
        // SAFETY: image is a NUL-terminated PTX image that outlives the library; no
        // JIT or library options (null arrays of length 0).
        let status = unsafe {
            (calls.load_data)(
                &mut library,
                image.as_ptr().cast(),
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                0,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                0,
            )
        };
        runtime.check(status, "cudaLibraryLoadData")?;
        // From here on Drop unloads the library.
        let mut this = Self {
            runtime,
            calls,
            library,
            kernel: std::ptr::null_mut(),
            _image: image,
        };
        // SAFETY: the library is loaded; cname outlives the call; writes one handle.
        let status = unsafe { (calls.get_kernel)(&mut this.kernel, library, cname.as_ptr()) };
        runtime.check(status, "cudaLibraryGetKernel")?;
        Ok(this)
    }

    /// Enqueues the kernel with cudaLaunchKernel on a one-dimensional grid, on
    /// `stream` (a driver stream of the primary context, which the runtime shares).
    ///
    /// # Safety
    /// The argument pointers must match the kernel's signature and any device pointers
    /// among them must stay valid until the kernel has finished.
    pub unsafe fn launch(
        &self,
        grid: u32,
        block: u32,
        stream: &Stream,
        params: &mut [*mut c_void],
    ) -> Result<()> {
        let status = (self.calls.launch)(
            self.kernel.cast_const(),
            Dim3 {
                x: grid,
                y: 1,
                z: 1,
            },
            Dim3 {
                x: block,
                y: 1,
                z: 1,
            },
            params.as_mut_ptr(),
            0,
            stream.raw(),
        );
        self.runtime.check(status, "cudaLaunchKernel")
    }
}

impl Drop for RuntimeKernel {
    fn drop(&mut self) {
        // SAFETY: the library was loaded by cudaLibraryLoadData and is unloaded once;
        // callers synchronise their launches before dropping the kernel.
        let _ = unsafe { (self.calls.unload)(self.library) };
    }
}
