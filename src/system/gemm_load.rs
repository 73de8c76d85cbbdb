//! A real GEMM as a tenant's load (IS-003's GEMM shape): bf16 4096³ one kernel at a
//! time, through our kernel (driver API) or cuBLAS (runtime API). A limiter that
//! charges per launched block sees few, long blocks here, as in real model serving.

use super::verify::run_windows;
use super::ShapeRun;
use crate::cuda::{Cublas, DeviceBuffer, GemmKernels, Precision, RandomKernels, Stream};
use crate::error::{Error, Result};

/// The GEMM's square size.
const SIZE: usize = 4096;
/// Relative error allowed against the naive f32 kernel on the same bf16 inputs.
const TOLERANCE: f64 = 1e-2;

/// Which implementation runs the tenant's GEMM.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GemmPath {
    Ours,
    Cublas,
}

/// Runs the GEMM of `path` for `secs`, after checking its output once on fresh
/// random inputs against the naive kernel.
pub fn run_gemm(path: GemmPath, secs: f64) -> Result<ShapeRun> {
    let stream = Stream::new()?;
    let kernels = GemmKernels::load()?;
    let cublas = match path {
        GemmPath::Ours => None,
        GemmPath::Cublas => Some(Cublas::load()?.ok_or_else(|| {
            Error::Invalid("the cuBLAS GEMM shape needs libcublas on the loader's path".into())
        })?),
    };
    let random = RandomKernels::load()?;
    let shape = (SIZE, SIZE, SIZE);
    let operand = || -> Result<DeviceBuffer> {
        let buf = DeviceBuffer::new(SIZE * SIZE * 2)?;
        random.uniform(&buf, Precision::Bf16, rand::random(), 1.0, &stream)?;
        Ok(buf)
    };
    let (a, b) = (operand()?, operand()?);
    let (c, reference) = (
        DeviceBuffer::new(SIZE * SIZE * 4)?,
        DeviceBuffer::new(SIZE * SIZE * 4)?,
    );
    let launch = || match &cublas {
        Some(blas) => blas.gemm_bf16(&a, &b, &c, SIZE, SIZE, SIZE, &stream),
        None => kernels.gemm(Precision::Bf16, [&a, &b, &c], shape, &stream),
    };
    c.fill_u32(0x7fc0_0000, &stream)?;
    launch()?;
    kernels.reference(Precision::Bf16, [&a, &b, &reference], shape, &stream)?;
    stream.synchronize()?;
    let (mut got, mut want) = (vec![0f32; SIZE * SIZE], vec![0f32; SIZE * SIZE]);
    c.copy_to_host(&mut got)?;
    reference.copy_to_host(&mut want)?;
    let rel = crate::stats::relative_error(
        got.iter()
            .zip(&want)
            .map(|(&g, &w)| (f64::from(g), f64::from(w))),
    );
    let name = match path {
        GemmPath::Ours => "gemm_bf16",
        GemmPath::Cublas => "cublasGemmEx bf16",
    };
    if rel.is_nan() || rel > TOLERANCE {
        return Err(Error::Incorrect {
            kernel: name,
            detail: format!("relative error {rel:.3e} at {SIZE}^3 (limit {TOLERANCE:e})"),
        });
    }
    let (kernels_per_s, windows, latency) = run_windows(secs, 1, &stream, launch)?;
    Ok(ShapeRun {
        shape: name.to_owned(),
        blocks: 0,
        block_us: latency.p50_ns / 1e3,
        kernels_per_s,
        windows,
        kernel_us_p50: latency.p50_ns / 1e3,
        kernel_us_p99: latency.p99_ns / 1e3,
        // Tensor-core work: the f32 pipes' peak does not bound it.
        fp32_peak_fraction: None,
    })
}
