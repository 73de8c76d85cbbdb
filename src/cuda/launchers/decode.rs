//! kernels/decode.cu: the matrix-vector products and glue of a decode step.

use super::{arg, buffer_holds};
use crate::cuda::{DeviceBuffer, Function, Module, Stream};
use crate::error::{Error, Result};
use crate::kernels;

/// The matrix-vector kernels with the batch each is built for: each lane holds one
/// accumulator per sequence it may get, so the smallest bound that fits keeps the
/// most warps (and bytes of weights) in flight.
pub const GEMV_KERNELS: [(usize, &str); 6] = [
    (1, "gemv_bf16_b1"),
    (2, "gemv_bf16_b2"),
    (4, "gemv_bf16_b4"),
    (8, "gemv_bf16_b8"),
    (16, "gemv_bf16_b16"),
    (32, "gemv_bf16_b32"),
];
/// Largest batch the matrix-vector product takes.
pub const GEMV_MAX_BATCH: usize = GEMV_KERNELS[GEMV_KERNELS.len() - 1].0;
/// Rows per block of `gemv_bf16` (one warp each), and K's required multiple.
const GEMV_ROWS: usize = 8;
const GEMV_K_STEP: usize = 256;
const THREADS: u32 = 256;

pub struct DecodeKernels {
    /// One per entry of [`GEMV_KERNELS`], in that order.
    gemv: Vec<Function>,
    qkv_split: Function,
    residual_add: Function,
    gelu: Function,
}

/// Blocks of 256 threads covering `n` elements.
fn blocks_for(n: usize) -> u32 {
    n.div_ceil(THREADS as usize) as u32
}

fn int(kernel: &str, v: usize) -> Result<i32> {
    i32::try_from(v).map_err(|_| Error::Invalid(format!("{kernel}: {v} too large")))
}

impl DecodeKernels {
    pub fn load() -> Result<Self> {
        let module = Module::load("decode", kernels::DECODE)?;
        Ok(Self {
            gemv: GEMV_KERNELS
                .iter()
                .map(|(_, name)| module.function(name))
                .collect::<Result<_>>()?,
            qkv_split: module.function("qkv_split")?,
            residual_add: module.function("residual_add")?,
            gelu: module.function("gelu_bf16")?,
        })
    }

    /// `y[b, n] = x[b, :] . w[n, :]` for b < `batch`: x bf16 [batch, k], w bf16
    /// [n, k], y f32 [batch, n]; the layout of `GemmKernels::reference` with m = batch.
    /// Runs the kernel of the smallest bound that holds `batch`.
    pub fn gemv(
        &self,
        buffers: [&DeviceBuffer; 3],
        (batch, n, k): (usize, usize, usize),
        stream: &Stream,
    ) -> Result<()> {
        let bound = GEMV_KERNELS
            .iter()
            .position(|&(bound, _)| bound >= batch)
            .filter(|_| batch > 0);
        match bound {
            Some(index) => self.gemv_bounded(index, buffers, (batch, n, k), stream),
            None => Err(Error::Invalid(format!(
                "gemv_bf16: batch {batch} must be 1..={GEMV_MAX_BATCH}"
            ))),
        }
    }

    /// [`Self::gemv`] through `GEMV_KERNELS[index]`, whose bound must hold `batch`:
    /// the check runs every kernel, not only the one a batch picks.
    pub fn gemv_bounded(
        &self,
        index: usize,
        [x, w, y]: [&DeviceBuffer; 3],
        (batch, n, k): (usize, usize, usize),
        stream: &Stream,
    ) -> Result<()> {
        let (Some(function), Some(&(bound, name))) =
            (self.gemv.get(index), GEMV_KERNELS.get(index))
        else {
            return Err(Error::Invalid(format!("gemv_bf16: no kernel {index}")));
        };
        if batch == 0 || batch > bound || k % GEMV_K_STEP != 0 {
            return Err(Error::Invalid(format!(
                "{name}: batch {batch} must be 1..={bound} and k = {k} a multiple of {GEMV_K_STEP}"
            )));
        }
        buffer_holds(name, "x", x, batch * k * 2)?;
        buffer_holds(name, "w", w, n * k * 2)?;
        buffer_holds(name, "y", y, batch * n * 4)?;
        let (mut px, mut pw, mut py) = (x.device_ptr(), w.device_ptr(), y.device_ptr());
        let (mut b, mut rows, mut kk) = (int(name, batch)?, int(name, n)?, int(name, k)?);
        let mut params = [
            arg(&mut px),
            arg(&mut pw),
            arg(&mut py),
            arg(&mut b),
            arg(&mut rows),
            arg(&mut kk),
        ];
        let grid = n.div_ceil(GEMV_ROWS) as u32;
        // SAFETY: (const bf16*, const bf16*, float*, int, int, int) as declared; sizes
        // checked above; callers synchronise `stream` before dropping the buffers.
        unsafe { function.launch(grid, THREADS, 0, stream, &mut params) }
    }

    /// Splits the fused projection `qkv` f32 [batch, 3, heads, head_dim] into `q`
    /// bf16 [batch, heads, head_dim] and slot `pos` of the caches [batch, heads,
    /// n_ctx, head_dim].
    #[allow(clippy::too_many_arguments)]
    pub fn qkv_split(
        &self,
        [qkv, q, k_cache, v_cache]: [&DeviceBuffer; 4],
        (batch, heads, head_dim): (usize, usize, usize),
        n_ctx: usize,
        pos: usize,
        stream: &Stream,
    ) -> Result<()> {
        let tokens = batch * heads * head_dim;
        if pos >= n_ctx {
            return Err(Error::Invalid(format!(
                "qkv_split: slot {pos} outside a cache of {n_ctx}"
            )));
        }
        buffer_holds("qkv_split", "qkv", qkv, 3 * tokens * 4)?;
        buffer_holds("qkv_split", "q", q, tokens * 2)?;
        buffer_holds("qkv_split", "k_cache", k_cache, tokens * n_ctx * 2)?;
        buffer_holds("qkv_split", "v_cache", v_cache, tokens * n_ctx * 2)?;
        let (mut p0, mut p1, mut p2, mut p3) = (
            qkv.device_ptr(),
            q.device_ptr(),
            k_cache.device_ptr(),
            v_cache.device_ptr(),
        );
        let [mut b, mut h, mut d, mut n, mut slot] =
            [batch, heads, head_dim, n_ctx, pos].map(|v| v as i32);
        let mut params = [
            arg(&mut p0),
            arg(&mut p1),
            arg(&mut p2),
            arg(&mut p3),
            arg(&mut b),
            arg(&mut h),
            arg(&mut d),
            arg(&mut n),
            arg(&mut slot),
        ];
        // SAFETY: (const float*, bf16* x3, int x5) as declared; sizes checked above.
        unsafe {
            self.qkv_split
                .launch(blocks_for(tokens), THREADS, 0, stream, &mut params)
        }
    }

    /// `resid += y; out = bf16(resid)` over `n` elements.
    pub fn residual_add(
        &self,
        [y, resid, out]: [&DeviceBuffer; 3],
        n: usize,
        stream: &Stream,
    ) -> Result<()> {
        buffer_holds("residual_add", "y", y, n * 4)?;
        buffer_holds("residual_add", "resid", resid, n * 4)?;
        buffer_holds("residual_add", "out", out, n * 2)?;
        self.elementwise(&self.residual_add, &[y, resid, out], n, stream)
    }

    /// `out = bf16(gelu(y))` over `n` elements.
    pub fn gelu(&self, [y, out]: [&DeviceBuffer; 2], n: usize, stream: &Stream) -> Result<()> {
        buffer_holds("gelu_bf16", "y", y, n * 4)?;
        buffer_holds("gelu_bf16", "out", out, n * 2)?;
        self.elementwise(&self.gelu, &[y, out], n, stream)
    }

    /// Launches an element-wise kernel `(ptr..., int n)` over `n` elements.
    fn elementwise(
        &self,
        f: &Function,
        buffers: &[&DeviceBuffer],
        n: usize,
        stream: &Stream,
    ) -> Result<()> {
        let mut ptrs: Vec<u64> = buffers.iter().map(|b| b.device_ptr()).collect();
        let mut count = int(f.name(), n)?;
        let mut params: Vec<_> = ptrs.iter_mut().map(arg).collect();
        params.push(arg(&mut count));
        // SAFETY: each element-wise kernel takes its buffers' pointers then `int n`;
        // callers checked every buffer holds `n` elements.
        unsafe { f.launch(blocks_for(n), THREADS, 0, stream, &mut params) }
    }
}
