//! kernels/gemm_sm90.cu: Hopper GEMM (wgmma fed by tensor-map copies, warp-specialised,
//! looping over tiles). Its compute_90a PTX loads on compute capability 9.0 alone, so
//! the kernels are looked up only there; every other GPU runs gemm.cu's sm_80 kernels.

use super::arg;
use super::gemm::{GemmGrid, Precision};
use super::hopper::{load_hopper, HOPPER_THREADS};
use crate::cuda::tensor_map::{Element16, TensorMap};
use crate::cuda::{CUdevice_attribute, Device, DeviceBuffer, Function, Module, Stream};
use crate::error::{Error, Result};
use crate::kernels;

/// A C tile: 128 rows (two consumer warpgroups of wgmma's M = 64) by 256 columns
/// (wgmma's largest N), as gemm_sm90.cu states.
pub(super) const TILE: (usize, usize) = (128, 256);
/// Dynamic shared memory: 4 stages of A (16 KiB) and B (32 KiB), 8 mbarriers, 1 KiB to
/// round the base up to the swizzle's 1024-byte alignment (the kernel static_asserts it).
const SHARED: u32 = 4 * (16_384 + 32_768) + 8 * 8 + 1024;
// a Hopper block may opt into 227 KiB
const _: () = assert!(SHARED <= 227 * 1024);

/// Blocks to launch for `tiles` tiles on `sms` SMs.
fn blocks(grid: GemmGrid, tiles: usize, sms: u32) -> u32 {
    match grid {
        GemmGrid::PerTile => tiles as u32,
        GemmGrid::Persistent => (tiles as u32).min(sms),
    }
}

pub(super) struct HopperGemm {
    bf16: Function,
    f16: Function,
    sms: u32,
}

impl HopperGemm {
    /// The Hopper kernels where they load (see [`load_hopper`]).
    pub fn load() -> Result<Option<Self>> {
        load_hopper("gemm_sm90", || {
            let module = Module::load("gemm_sm90", kernels::GEMM_SM90)?;
            let this = Self {
                bf16: module.function("gemm_sm90_bf16")?,
                f16: module.function("gemm_sm90_f16")?,
                sms: Device::current()?
                    .attribute(CUdevice_attribute::CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT)?
                    as u32,
            };
            this.bf16.allow_shared(SHARED)?;
            this.f16.allow_shared(SHARED)?;
            Ok(this)
        })
    }

    /// Blocks a launch of `grid` over an m x n C takes here.
    pub fn blocks(&self, grid: GemmGrid, m: usize, n: usize) -> u32 {
        blocks(grid, m.div_ceil(TILE.0) * (n / TILE.1), self.sms)
    }

    /// C = A B^T as [`super::GemmKernels::gemm`] computes it, for the 16-bit precisions;
    /// the caller has checked the shape against the tile and the buffers against it.
    pub fn gemm(
        &self,
        p: Precision,
        [a, b, c]: [&DeviceBuffer; 3],
        (m, n, k): (usize, usize, usize),
        grid: GemmGrid,
        stream: &Stream,
    ) -> Result<()> {
        let (f, element) = match p {
            Precision::Bf16 => (&self.bf16, Element16::Bf16),
            Precision::F16 => (&self.f16, Element16::F16),
            Precision::F32 => {
                return Err(Error::Invalid(
                    "gemm_sm90: f32 has no Hopper kernel (wgmma takes 16-bit inputs here)".into(),
                ))
            }
        };
        let (mut ma, mut mb) = (
            TensorMap::rows_16bit(a, element, m, k, TILE.0 as u32)?,
            TensorMap::rows_16bit(b, element, n, k, TILE.1 as u32)?,
        );
        let blocks = self.blocks(grid, m, n);
        let mut pc = c.device_ptr();
        let (mut m, mut n, mut k) = (m as i32, n as i32, k as i32);
        let mut params = [
            ma.arg(),
            mb.arg(),
            arg(&mut pc),
            arg(&mut m),
            arg(&mut n),
            arg(&mut k),
        ];
        // SAFETY: (CUtensorMap x2 by value, float*, int, int, int) as declared; the maps
        // cover A and B, C holds m x n floats (checked by the caller), and callers
        // synchronise `stream` before dropping them.
        unsafe {
            f.launch_grid(
                [blocks, 1, 1],
                [HOPPER_THREADS, 1, 1],
                SHARED,
                stream,
                &mut params,
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_size_is_the_kernels_static_assert() {
        assert_eq!(SHARED, 197_696);
    }

    #[test]
    fn a_persistent_grid_is_one_block_per_sm_and_never_more_than_the_tiles() {
        assert_eq!(blocks(GemmGrid::Persistent, 2048, 132), 132);
        assert_eq!(blocks(GemmGrid::Persistent, 16, 132), 16);
        assert_eq!(blocks(GemmGrid::PerTile, 2048, 132), 2048);
    }
}
