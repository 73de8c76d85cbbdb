//! kernels/attention_sm90.cu: Hopper flash-attention forward (wgmma fed by tensor-map
//! copies). Its compute_90a PTX loads on compute capability 9.0 alone, so the kernels
//! are looked up only there; every other GPU runs attention.cu's sm_80 kernels.

use super::arg;
use super::attention::{check_flash_shape, AttnShape, FLASH_BLOCK_M};
use super::hopper::{load_hopper, HOPPER_THREADS};
use crate::cuda::tensor_map::{Element16, TensorMap};
use crate::cuda::{DeviceBuffer, Function, Module, Stream};
use crate::error::{Error, Result};
use crate::kernels;

/// Rows of one tensor-map box: a 128-row tile (BM = BN).
const BOX_ROWS: u32 = FLASH_BLOCK_M as u32;
/// Key/value stages of the kernels' shared-memory ring.
const STAGES: u32 = 3;

/// Dynamic shared memory of the kernel for head dim `d`: the Q tile, STAGES (K, V)
/// tiles, 1 + 3 x STAGES mbarriers, and 1 KiB to round the base up to the swizzle's
/// 1024-byte alignment (attention_sm90.cu's `Smem`, which static_asserts the values).
fn shared_bytes(d: usize) -> u32 {
    let tile = (FLASH_BLOCK_M * d * 2) as u32;
    tile * (1 + 2 * STAGES) + 8 * (1 + 3 * STAGES) + 1024
}

/// The kernels' map over a [B, H, S, D] bf16 tensor seen as [B*H*S rows][D columns].
fn attention_map(buf: &DeviceBuffer, shape: AttnShape) -> Result<TensorMap> {
    let rows = shape.batch * shape.heads * shape.seq;
    TensorMap::rows_16bit(buf, Element16::Bf16, rows, shape.head_dim, BOX_ROWS)
}

pub struct HopperAttention {
    d64: Function,
    d128: Function,
}

impl HopperAttention {
    /// The Hopper kernels where they load (see [`load_hopper`]).
    pub fn load() -> Result<Option<Self>> {
        load_hopper("attention_sm90", Self::load_module)
    }

    fn load_module() -> Result<Self> {
        let module = Module::load("attention_sm90", kernels::ATTENTION_SM90)?;
        let this = Self {
            d64: module.function("flash_attn_sm90_d64")?,
            d128: module.function("flash_attn_sm90_d128")?,
        };
        this.d64.allow_shared(shared_bytes(64))?;
        this.d128.allow_shared(shared_bytes(128))?;
        Ok(this)
    }

    /// The kernel that runs head dim `d`.
    fn kernel(&self, d: usize) -> Result<&Function> {
        match d {
            64 => Ok(&self.d64),
            128 => Ok(&self.d128),
            d => Err(Error::Invalid(format!(
                "Hopper flash attention: head dim {d}; 64 and 128 are built"
            ))),
        }
    }

    /// Flash-attention forward as [`super::AttentionKernels::flash`] computes it.
    pub fn flash(
        &self,
        [q, k, v, o]: [&DeviceBuffer; 4],
        shape: AttnShape,
        causal: bool,
        stream: &Stream,
    ) -> Result<()> {
        let f = self.kernel(shape.head_dim)?;
        check_flash_shape(f.name(), f.name(), [q, k, v, o], shape)?;
        let (mut mq, mut mk, mut mv) = (
            attention_map(q, shape)?,
            attention_map(k, shape)?,
            attention_map(v, shape)?,
        );
        let mut po = o.device_ptr();
        let (mut s, mut scale, mut causal) = (shape.seq as i32, shape.scale(), i32::from(causal));
        let mut params = [
            mq.arg(),
            mk.arg(),
            mv.arg(),
            arg(&mut po),
            arg(&mut s),
            arg(&mut scale),
            arg(&mut causal),
        ];
        let grid = [
            (shape.seq / FLASH_BLOCK_M) as u32,
            (shape.batch * shape.heads) as u32,
            1,
        ];
        // SAFETY: (CUtensorMap x3 by value, bf16*, int, float, int) as declared; the
        // maps cover the checked buffers; callers synchronise `stream` before dropping
        // them. The maps are copied into the launch when it is queued.
        unsafe {
            f.launch_grid(
                grid,
                [HOPPER_THREADS, 1, 1],
                shared_bytes(shape.head_dim),
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
    fn shared_sizes_are_the_kernels_static_asserts() {
        assert_eq!(shared_bytes(128), 230_480);
        assert_eq!(shared_bytes(64), 115_792);
        // a Hopper block may opt into 227 KiB
        assert!(shared_bytes(128) <= 227 * 1024);
    }
}
