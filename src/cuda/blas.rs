use super::{DeviceBuffer, Stream};
use crate::error::{Error, Result};
use cudarc::cublas::sys;

/// A cuBLAS handle, when libcublas can be loaded. cuBLAS reaches the driver through
/// the runtime API (cuGetProcAddress), a path an interposer may hook differently from
/// the direct driver calls our own kernels make: timing both shows whether a limit
/// holds on each.
pub struct Cublas {
    raw: sys::cublasHandle_t,
}

impl Cublas {
    /// How checks, summaries and tenant runs name [`Cublas::gemm_bf16`].
    pub const GEMM_BF16: &'static str = "cublasGemmEx bf16";

    /// `None` when no libcublas is on the loader's path: the GEMM metrics then run on
    /// our kernels alone.
    pub fn load() -> Result<Option<Self>> {
        // SAFETY: only tries to dlopen the library.
        if !unsafe { sys::is_culib_present() } {
            return Ok(None);
        }
        let mut raw = std::ptr::null_mut();
        // SAFETY: creates a handle on the current context, which callers hold.
        check(unsafe { sys::cublasCreate_v2(&mut raw) }, "cublasCreate")?;
        Ok(Some(Self { raw }))
    }

    /// `C[m x n] = A[m x k] * B[n x k]^T` in bf16 with f32 accumulate and f32 output,
    /// row-major: the layout of our `gemm_bf16`, so both are checked and timed alike.
    #[allow(clippy::too_many_arguments)]
    pub fn gemm_bf16(
        &self,
        a: &DeviceBuffer,
        b: &DeviceBuffer,
        c: &DeviceBuffer,
        m: usize,
        n: usize,
        k: usize,
        stream: &Stream,
    ) -> Result<()> {
        if a.bytes() < m * k * 2 || b.bytes() < n * k * 2 || c.bytes() < m * n * 4 {
            return Err(Error::Invalid(format!(
                "cuBLAS gemm {m}x{n}x{k}: a buffer is too small"
            )));
        }
        let dims = |v: usize| {
            i32::try_from(v).map_err(|_| Error::Invalid(format!("cuBLAS gemm: {v} too large")))
        };
        let (m, n, k) = (dims(m)?, dims(n)?, dims(k)?);
        let (alpha, beta) = (1.0f32, 0.0f32);
        // Row-major C = A * B^T is column-major C^T = B * A^T: B transposed is the
        // left operand, A as stored the right.
        // SAFETY: sizes checked above; the buffers outlive the call because callers
        // synchronise `stream` before dropping them.
        unsafe {
            check(
                sys::cublasSetStream_v2(self.raw, stream.raw().cast()),
                "cublasSetStream",
            )?;
            check(
                sys::cublasGemmEx(
                    self.raw,
                    sys::cublasOperation_t::CUBLAS_OP_T,
                    sys::cublasOperation_t::CUBLAS_OP_N,
                    n,
                    m,
                    k,
                    (&alpha as *const f32).cast(),
                    b.device_ptr() as *const std::ffi::c_void,
                    sys::cudaDataType::CUDA_R_16BF,
                    k,
                    a.device_ptr() as *const std::ffi::c_void,
                    sys::cudaDataType::CUDA_R_16BF,
                    k,
                    (&beta as *const f32).cast(),
                    c.device_ptr() as *mut std::ffi::c_void,
                    sys::cudaDataType::CUDA_R_32F,
                    n,
                    sys::cublasComputeType_t::CUBLAS_COMPUTE_32F,
                    sys::cublasGemmAlgo_t::CUBLAS_GEMM_DEFAULT,
                ),
                "cublasGemmEx",
            )
        }
    }
}

impl Drop for Cublas {
    fn drop(&mut self) {
        // SAFETY: raw came from cublasCreate and is destroyed once.
        let _ = unsafe { sys::cublasDestroy_v2(self.raw) };
    }
}

fn check(status: sys::cublasStatus_t, call: &'static str) -> Result<()> {
    if status == sys::cublasStatus_t::CUBLAS_STATUS_SUCCESS {
        Ok(())
    } else {
        Err(Error::Cuda {
            call,
            name: format!("{status:?}"),
            code: status as u32,
        })
    }
}
