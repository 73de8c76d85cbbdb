//! kernels/attention.cu: flash-attention forward, decode attention over a KV cache,
//! and the naive kernels both are checked against. Tensors are [B, H, S, D] bf16.

use super::attention_sm90::HopperAttention;
use super::hopper::{generations, Generation};
use super::{arg, buffer_holds};
use crate::cuda::{DeviceBuffer, Function, Module, Stream};
use crate::error::{Error, Result};
use crate::kernels;

/// Query rows per block of the flash kernels; S must be a multiple.
pub const FLASH_BLOCK_M: usize = 128;
/// Threads and dynamic shared memory of the flash kernels, as attention.cu states.
const FLASH_D128: (u32, u32) = (256, 163_840);
const FLASH_D64: (u32, u32) = (128, 49_152);
const REF_THREADS: u32 = 128;
const DECODE_THREADS: u32 = 512;

/// Batch, heads and sequence length (or KV-cache length) of an attention call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttnShape {
    pub batch: usize,
    pub heads: usize,
    pub seq: usize,
    pub head_dim: usize,
}

impl AttnShape {
    fn elements(&self) -> usize {
        self.batch * self.heads * self.seq * self.head_dim
    }

    /// (B*H) as a grid dimension.
    fn sequences(&self) -> u32 {
        (self.batch * self.heads) as u32
    }

    pub(super) fn scale(&self) -> f32 {
        1.0 / (self.head_dim as f32).sqrt()
    }
}

/// The exported flash kernel of `generation` for head dim `d`, as the checks and the
/// summary name it.
pub fn flash_kernel_name(generation: Generation, d: usize) -> &'static str {
    match (generation, d) {
        (Generation::Sm80, 64) => "flash_attn_d64",
        (Generation::Sm80, _) => "flash_attn_d128",
        (Generation::Sm90, 64) => "flash_attn_sm90_d64",
        (Generation::Sm90, _) => "flash_attn_sm90_d128",
    }
}

/// What every flash kernel takes: S a whole number of query blocks, and bf16 Q, K, V
/// and O of the shape; `what` opens the shape's error, `kernel` the buffers'.
pub(super) fn check_flash_shape(
    what: &str,
    kernel: &str,
    [q, k, v, o]: [&DeviceBuffer; 4],
    shape: AttnShape,
) -> Result<()> {
    if shape.seq == 0 || shape.seq % FLASH_BLOCK_M != 0 {
        return Err(Error::Invalid(format!(
            "{what}: S = {} must be a multiple of {FLASH_BLOCK_M}",
            shape.seq
        )));
    }
    let bytes = shape.elements() * 2;
    for (name, buf) in [("Q", q), ("K", k), ("V", v), ("O", o)] {
        buffer_holds(kernel, name, buf, bytes)?;
    }
    Ok(())
}

pub struct AttentionKernels {
    hopper: Option<HopperAttention>,
    d64: Function,
    d128: Function,
    reference: Function,
    decode: Function,
    decode_ref: Function,
}

impl AttentionKernels {
    pub fn load() -> Result<Self> {
        let module = Module::load("attention", kernels::ATTENTION)?;
        let this = Self {
            hopper: HopperAttention::load()?,
            d64: module.function("flash_attn_d64")?,
            d128: module.function("flash_attn_d128")?,
            reference: module.function("attn_ref")?,
            decode: module.function("attn_decode")?,
            decode_ref: module.function("attn_decode_ref")?,
        };
        this.d128.allow_shared(FLASH_D128.1)?;
        this.d64.allow_shared(FLASH_D64.1)?;
        Ok(this)
    }

    /// The generations this device runs, the newest first.
    pub fn generations(&self) -> Vec<Generation> {
        generations(&self.hopper)
    }

    /// Flash-attention forward: `o = softmax(q k^T / sqrt(D) [causal]) v`, bf16, with
    /// the kernel of `generation` (one of [`AttentionKernels::generations`]).
    pub fn flash(
        &self,
        generation: Generation,
        [q, k, v, o]: [&DeviceBuffer; 4],
        shape: AttnShape,
        causal: bool,
        stream: &Stream,
    ) -> Result<()> {
        if generation == Generation::Sm90 {
            return match &self.hopper {
                Some(h) => h.flash([q, k, v, o], shape, causal, stream),
                None => Err(Error::Invalid(
                    "flash attention: the Hopper kernels are not loaded on this device".into(),
                )),
            };
        }
        let (f, (threads, shared)) = match shape.head_dim {
            64 => (&self.d64, FLASH_D64),
            128 => (&self.d128, FLASH_D128),
            d => {
                return Err(Error::Invalid(format!(
                    "flash attention: head dim {d}; 64 and 128 are built"
                )))
            }
        };
        check_flash_shape("flash attention", f.name(), [q, k, v, o], shape)?;
        let grid = [(shape.seq / FLASH_BLOCK_M) as u32, shape.sequences(), 1];
        let (mut pq, mut pk, mut pv, mut po) = (
            q.device_ptr(),
            k.device_ptr(),
            v.device_ptr(),
            o.device_ptr(),
        );
        let (mut s, mut scale, mut causal) = (shape.seq as i32, shape.scale(), i32::from(causal));
        let mut params = [
            arg(&mut pq),
            arg(&mut pk),
            arg(&mut pv),
            arg(&mut po),
            arg(&mut s),
            arg(&mut scale),
            arg(&mut causal),
        ];
        // SAFETY: (const bf16* x3, bf16*, int, float, int) as declared; the buffers
        // hold the shape and callers synchronise `stream` before dropping them.
        unsafe { f.launch_grid(grid, [threads, 1, 1], shared, stream, &mut params) }
    }

    /// The naive f32 reference of [`AttentionKernels::flash`]; `o` is f32.
    pub fn reference(
        &self,
        [q, k, v, o]: [&DeviceBuffer; 4],
        shape: AttnShape,
        causal: bool,
        stream: &Stream,
    ) -> Result<()> {
        let n = shape.elements();
        for (name, buf, bytes) in [
            ("Q", q, n * 2),
            ("K", k, n * 2),
            ("V", v, n * 2),
            ("O", o, n * 4),
        ] {
            buffer_holds("attn_ref", name, buf, bytes)?;
        }
        let shared = (shape.seq * 4) as u32;
        self.reference.allow_shared(shared)?;
        let (mut pq, mut pk, mut pv, mut po) = (
            q.device_ptr(),
            k.device_ptr(),
            v.device_ptr(),
            o.device_ptr(),
        );
        let (mut s, mut d, mut scale, mut causal) = (
            shape.seq as i32,
            shape.head_dim as i32,
            shape.scale(),
            i32::from(causal),
        );
        let mut params = [
            arg(&mut pq),
            arg(&mut pk),
            arg(&mut pv),
            arg(&mut po),
            arg(&mut s),
            arg(&mut d),
            arg(&mut scale),
            arg(&mut causal),
        ];
        let grid = [shape.seq as u32, shape.sequences(), 1];
        // SAFETY: (const bf16* x3, float*, int, int, float, int) as declared; sizes
        // checked above; callers synchronise `stream` before dropping the buffers.
        unsafe {
            self.reference
                .launch_grid(grid, [REF_THREADS, 1, 1], shared, stream, &mut params)
        }
    }

    /// Attention of one new token per sequence over a KV cache of `shape.seq` tokens:
    /// `q`, `out` are [B, H, D], the caches [B, H, seq, D]; with `reference` the naive
    /// kernel runs and `out` is f32.
    pub fn decode(
        &self,
        [q, k_cache, v_cache, out]: [&DeviceBuffer; 4],
        shape: AttnShape,
        reference: bool,
        stream: &Stream,
    ) -> Result<()> {
        let (f, threads, shared, out_bytes) = if reference {
            (&self.decode_ref, REF_THREADS, (shape.seq * 4) as u32, 4)
        } else {
            (&self.decode, DECODE_THREADS, 0, 2)
        };
        if !matches!(shape.head_dim, 64 | 128) {
            return Err(Error::Invalid(format!(
                "decode attention: head dim {}; 64 and 128 are built",
                shape.head_dim
            )));
        }
        let tokens = shape.batch * shape.heads * shape.head_dim;
        buffer_holds(f.name(), "q", q, tokens * 2)?;
        buffer_holds(f.name(), "k_cache", k_cache, shape.elements() * 2)?;
        buffer_holds(f.name(), "v_cache", v_cache, shape.elements() * 2)?;
        buffer_holds(f.name(), "out", out, tokens * out_bytes)?;
        if shared > 0 {
            f.allow_shared(shared)?;
        }
        let (mut pq, mut pk, mut pv, mut po) = (
            q.device_ptr(),
            k_cache.device_ptr(),
            v_cache.device_ptr(),
            out.device_ptr(),
        );
        let (mut n, mut d, mut scale) = (shape.seq as i32, shape.head_dim as i32, shape.scale());
        let mut params = [
            arg(&mut pq),
            arg(&mut pk),
            arg(&mut pv),
            arg(&mut po),
            arg(&mut n),
            arg(&mut d),
            arg(&mut scale),
        ];
        // SAFETY: (const bf16* x3, T*, int, int, float) as both decode kernels
        // declare; sizes checked above; callers synchronise before dropping.
        unsafe {
            f.launch_grid(
                [shape.sequences(), 1, 1],
                [threads, 1, 1],
                shared,
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
    fn each_generation_names_its_own_kernels() {
        let all = [Generation::Sm80, Generation::Sm90];
        let names: std::collections::HashSet<_> = all
            .iter()
            .flat_map(|&g| [64, 128].map(|d| flash_kernel_name(g, d)))
            .collect();
        assert_eq!(names.len(), 4);
        assert_eq!(flash_kernel_name(Generation::Sm80, 128), "flash_attn_d128");
        assert_eq!(
            flash_kernel_name(Generation::Sm90, 64),
            "flash_attn_sm90_d64"
        );
    }
}
