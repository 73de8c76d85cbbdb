//! Correctness before timing: fresh random inputs, outputs poisoned with NaN, and the
//! relative error against a reference, so a kernel that is fast because it is wrong
//! (or skips work) never produces a figure.

use crate::cuda::{DeviceBuffer, Precision, RandomKernels, Stream};
use crate::error::{Error, Result};
use half::bf16;
use rand::Rng;

/// Relative error allowed for 16-bit inputs accumulated in f32 against an f32
/// reference on the same rounded inputs; f32 kernels must do far better.
pub(super) const TOL_16BIT: f64 = 1e-2;
pub(super) const TOL_F32: f64 = 1e-5;
/// A quiet NaN's bits, to poison outputs before a checked run.
const NAN_BITS: u32 = 0x7fc0_0000;

pub(super) fn tolerance(p: Precision) -> f64 {
    match p {
        Precision::F32 => TOL_F32,
        Precision::Bf16 | Precision::F16 => TOL_16BIT,
    }
}

/// A device buffer of `n` values drawn uniformly from [-amplitude, amplitude) in
/// precision `p`, from a fresh seed on every call so a check never passes on inputs
/// it was tuned for.
pub(super) fn random_buffer(
    random: &RandomKernels,
    p: Precision,
    n: usize,
    amplitude: f32,
    stream: &Stream,
) -> Result<DeviceBuffer> {
    let buf = DeviceBuffer::new(n * p.bytes())?;
    random.uniform(&buf, p, rand::rng().random(), amplitude, stream)?;
    Ok(buf)
}

/// An f32 output buffer of `n` values, poisoned so an element a kernel never writes
/// fails the check.
pub(super) fn poisoned(n: usize, stream: &Stream) -> Result<DeviceBuffer> {
    let buf = DeviceBuffer::new(n * 4)?;
    buf.fill_u32(NAN_BITS, stream)?;
    Ok(buf)
}

/// Reads a synchronised f32 buffer back.
pub(super) fn download_f32(buf: &DeviceBuffer) -> Result<Vec<f32>> {
    let mut host = vec![0f32; buf.bytes() / 4];
    buf.copy_to_host(&mut host)?;
    Ok(host)
}

/// Reads a synchronised bf16 buffer back as f32.
pub(super) fn download_bf16(buf: &DeviceBuffer) -> Result<Vec<f32>> {
    let mut host = vec![bf16::ZERO; buf.bytes() / 2];
    buf.copy_to_host(&mut host)?;
    Ok(host.into_iter().map(f32::from).collect())
}

/// [`expect_close`] for a bf16 output against an f32 reference, both on the device
/// and synchronised.
pub(super) fn expect_bf16_close(
    kernel: &'static str,
    what: &str,
    out: &DeviceBuffer,
    reference: &DeviceBuffer,
) -> Result<f64> {
    expect_close(
        kernel,
        what,
        &download_bf16(out)?,
        &download_f32(reference)?,
        TOL_16BIT,
    )
}

/// Fails `kernel` unless `got` is within `tol` of `want` in relative norm.
pub(super) fn expect_close(
    kernel: &'static str,
    what: &str,
    got: &[f32],
    want: &[f32],
    tol: f64,
) -> Result<f64> {
    let rel = crate::stats::relative_error(
        got.iter()
            .zip(want)
            .map(|(&g, &w)| (f64::from(g), f64::from(w))),
    );
    if got.len() != want.len() || rel.is_nan() || rel > tol {
        return Err(Error::Incorrect {
            kernel,
            detail: format!(
                "{what}: relative error {rel:.3e} against the reference (limit {tol:.0e}); the kernel is not timed"
            ),
        });
    }
    eprintln!("checked {kernel} {what}: relative error {rel:.1e} against the reference");
    Ok(rel)
}
