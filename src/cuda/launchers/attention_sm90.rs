//! kernels/attention_sm90.cu: Hopper flash-attention forward (wgmma fed by tensor-map
//! copies). Its compute_90a PTX loads on compute capability 9.0 alone, so the kernels
//! are looked up only there; every other GPU runs attention.cu's sm_80 kernels.

use super::arg;
use super::attention::{check_flash_shape, AttnShape, FLASH_BLOCK_M};
use crate::cuda::{check, DeviceBuffer, Function, Module, Stream};
use crate::error::{Error, Result};
use crate::kernels;
use cudarc::driver::sys;
use std::ffi::c_void;

/// Producer warpgroup + two consumer warpgroups, as attention_sm90.cu states.
const THREADS: u32 = 384;
/// Rows and bf16 columns of one tensor-map box: 128 rows (BM = BN) by one 128-byte
/// swizzle row.
const BOX: [u32; 2] = [64, 128];
/// Key/value stages of the kernels' shared-memory ring.
const STAGES: u32 = 3;
/// Environment variable that, set to `sm80`, keeps the Hopper kernels unloaded so a
/// run on compute capability 9.0 measures the sm_80 generation alone.
const KERNELS_VAR: &str = "GPU_VIRT_BENCH_KERNELS";

/// Dynamic shared memory of the kernel for head dim `d`: the Q tile, STAGES (K, V)
/// tiles, 1 + 3 x STAGES mbarriers, and 1 KiB to round the base up to the swizzle's
/// 1024-byte alignment (attention_sm90.cu's `Smem`, which static_asserts the values).
fn shared_bytes(d: usize) -> u32 {
    let tile = (FLASH_BLOCK_M * d * 2) as u32;
    tile * (1 + 2 * STAGES) + 8 * (1 + 3 * STAGES) + 1024
}

/// Whether the Hopper kernels are to be loaded: compute capability exactly 9.0 (the
/// only one compute_90a PTX loads on) and not switched off by [`KERNELS_VAR`].
fn wanted(cc: (i32, i32), kernels_var: Option<&str>) -> bool {
    cc == (9, 0) && kernels_var != Some("sm80")
}

/// Global dims (innermost first), row stride and box of the 2D tensor map over a
/// [B, H, S, D] bf16 tensor seen as [B*H*S rows][D columns].
fn map_geometry(shape: AttnShape) -> ([u64; 2], u64, [u32; 2]) {
    let rows = (shape.batch * shape.heads * shape.seq) as u64;
    let d = shape.head_dim as u64;
    ([d, rows], d * 2, BOX)
}

/// A CUtensorMap, built by the driver, passed by value as a `__grid_constant__`
/// kernel parameter (the launch points at this 64-byte-aligned copy).
struct TensorMap(sys::CUtensorMap);

impl TensorMap {
    /// The kernels' map over `buf`: 128-byte swizzle, so the shared tiles are in the
    /// layout the wgmma descriptors of attention_sm90.cu describe.
    fn attention(buf: &DeviceBuffer, shape: AttnShape) -> Result<Self> {
        let (dims, row_stride, boxes) = map_geometry(shape);
        // SAFETY: CUtensorMap is plain bytes the driver overwrites.
        let mut map: sys::CUtensorMap = unsafe { std::mem::zeroed() };
        let strides = [row_stride];
        let element_strides = [1u32, 1];
        // SAFETY: the arrays hold rank (2) entries, rank - 1 for the strides; the
        // address is a live allocation of at least dims' bytes (checked by the caller).
        check(
            unsafe {
                sys::cuTensorMapEncodeTiled(
                    &mut map,
                    sys::CUtensorMapDataType::CU_TENSOR_MAP_DATA_TYPE_BFLOAT16,
                    2,
                    buf.device_ptr() as *mut c_void,
                    dims.as_ptr(),
                    strides.as_ptr(),
                    boxes.as_ptr(),
                    element_strides.as_ptr(),
                    sys::CUtensorMapInterleave::CU_TENSOR_MAP_INTERLEAVE_NONE,
                    sys::CUtensorMapSwizzle::CU_TENSOR_MAP_SWIZZLE_128B,
                    sys::CUtensorMapL2promotion::CU_TENSOR_MAP_L2_PROMOTION_L2_128B,
                    sys::CUtensorMapFloatOOBfill::CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE,
                )
            },
            "cuTensorMapEncodeTiled",
        )?;
        Ok(Self(map))
    }
}

/// The compute capability of the current context's device.
fn current_cc() -> Result<(i32, i32)> {
    let mut device = 0;
    // SAFETY: writes one CUdevice; fails without a current context.
    check(
        unsafe { sys::cuCtxGetDevice(&mut device) },
        "cuCtxGetDevice",
    )?;
    let attribute = |attr| {
        let mut value = 0;
        // SAFETY: device is valid; writes one int.
        check(
            unsafe { sys::cuDeviceGetAttribute(&mut value, attr, device) },
            "cuDeviceGetAttribute",
        )
        .map(|()| value)
    };
    Ok((
        attribute(sys::CUdevice_attribute::CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR)?,
        attribute(sys::CUdevice_attribute::CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR)?,
    ))
}

pub struct HopperAttention {
    d64: Function,
    d128: Function,
}

impl HopperAttention {
    /// The Hopper kernels where [`wanted`] and their module loads; `None` elsewhere,
    /// said on stderr where compute capability 9.0 could not load them, since the run
    /// then measures the sm_80 generation alone (its figures carry no `-sm90` variant).
    pub fn load() -> Result<Option<Self>> {
        if !wanted(current_cc()?, std::env::var(KERNELS_VAR).ok().as_deref()) {
            return Ok(None);
        }
        match Self::load_module() {
            Ok(this) => Ok(Some(this)),
            Err(e) => {
                eprintln!("attention_sm90: not loaded on compute capability 9.0 ({e}); the sm_80 kernels run alone");
                Ok(None)
            }
        }
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
            TensorMap::attention(q, shape)?,
            TensorMap::attention(k, shape)?,
            TensorMap::attention(v, shape)?,
        );
        let mut po = o.device_ptr();
        let (mut s, mut scale, mut causal) = (shape.seq as i32, shape.scale(), i32::from(causal));
        let mut params = [
            arg(&mut mq.0),
            arg(&mut mk.0),
            arg(&mut mv.0),
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
                [THREADS, 1, 1],
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

    #[test]
    fn hopper_kernels_only_on_9_0_and_not_when_switched_off() {
        assert!(wanted((9, 0), None));
        assert!(wanted((9, 0), Some("sm90")));
        assert!(!wanted((9, 0), Some("sm80")));
        for cc in [(8, 0), (8, 9), (10, 0), (12, 0)] {
            assert!(!wanted(cc, None), "{cc:?}");
        }
    }

    #[test]
    fn maps_see_the_tensor_as_rows_of_one_token() {
        let shape = AttnShape {
            batch: 4,
            heads: 16,
            seq: 1024,
            head_dim: 128,
        };
        let (dims, stride, boxes) = map_geometry(shape);
        assert_eq!(dims, [128, 4 * 16 * 1024]);
        assert_eq!(stride, 256);
        // the box's inner extent is one 128-byte swizzle row, its rows a 128-row tile
        assert_eq!(boxes[0] as usize * 2, 128);
        assert_eq!(boxes[1] as usize, FLASH_BLOCK_M);
        // the driver wants strides in multiples of 16 bytes
        assert_eq!(stride % 16, 0);
    }
}
