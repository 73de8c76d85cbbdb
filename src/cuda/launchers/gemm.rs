//! kernels/gemm.cu: C[m x n] (f32) = A[m x k] * B[n x k]^T, fast and reference.

use super::{arg, buffer_holds};
use crate::cuda::{DeviceBuffer, Function, Module, Stream};
use crate::error::{Error, Result};
use crate::kernels;

/// Element type of A and B.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Precision {
    Bf16,
    F16,
    F32,
}

impl Precision {
    pub const ALL: [Precision; 3] = [Precision::Bf16, Precision::F16, Precision::F32];

    pub fn bytes(self) -> usize {
        match self {
            Precision::Bf16 | Precision::F16 => 2,
            Precision::F32 => 4,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Precision::Bf16 => "bf16",
            Precision::F16 => "fp16",
            Precision::F32 => "f32",
        }
    }

    /// Block tile (rows of C, columns of C), K step, threads and dynamic shared
    /// memory of the fast kernel, as kernels/gemm.cu states them.
    fn tiling(self) -> Tiling {
        match self {
            Precision::Bf16 | Precision::F16 => Tiling {
                bm: 128,
                bn: 256,
                bk: 64,
                threads: 256,
                shared: 196_608,
            },
            Precision::F32 => Tiling {
                bm: 128,
                bn: 128,
                bk: 8,
                threads: 256,
                shared: 0,
            },
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

#[derive(Debug, Clone, Copy)]
struct Tiling {
    bm: usize,
    bn: usize,
    bk: usize,
    threads: u32,
    shared: u32,
}

/// Reference kernels' square thread block.
const REF_TILE: u32 = 16;

pub struct GemmKernels {
    fast: [Function; 3],
    reference: [Function; 3],
}

impl GemmKernels {
    pub fn load() -> Result<Self> {
        let module = Module::load("gemm", kernels::GEMM)?;
        let fast = [
            module.function("gemm_bf16")?,
            module.function("gemm_f16")?,
            module.function("gemm_f32")?,
        ];
        for p in Precision::ALL {
            let shared = p.tiling().shared;
            if shared > 0 {
                fast[p.index()].allow_shared(shared)?;
            }
        }
        Ok(Self {
            fast,
            reference: [
                module.function("gemm_ref_bf16")?,
                module.function("gemm_ref_f16")?,
                module.function("gemm_ref_f32")?,
            ],
        })
    }

    /// Whether the fast kernel takes this shape: any m, n and k multiples of its tile.
    pub fn supports(p: Precision, n: usize, k: usize) -> bool {
        let t = p.tiling();
        n > 0 && k > 0 && n % t.bn == 0 && k % t.bk == 0
    }

    /// The fast kernel: tensor cores for bf16/fp16 (f32 accumulate), FMA for f32.
    #[allow(clippy::too_many_arguments)]
    pub fn gemm(
        &self,
        p: Precision,
        a: &DeviceBuffer,
        b: &DeviceBuffer,
        c: &DeviceBuffer,
        (m, n, k): (usize, usize, usize),
        stream: &Stream,
    ) -> Result<()> {
        if !Self::supports(p, n, k) {
            let t = p.tiling();
            return Err(Error::Invalid(format!(
                "gemm_{}: n = {n} and k = {k} must be multiples of {} and {}",
                p.name(),
                t.bn,
                t.bk
            )));
        }
        let t = p.tiling();
        let grid = [(n / t.bn) as u32, m.div_ceil(t.bm) as u32, 1];
        launch(
            &self.fast[p.index()],
            p,
            grid,
            [t.threads, 1, 1],
            t.shared,
            [a, b, c],
            (m, n, k),
            stream,
        )
    }

    /// The naive kernel the fast one is checked against: one thread per element of C.
    pub fn reference(
        &self,
        p: Precision,
        a: &DeviceBuffer,
        b: &DeviceBuffer,
        c: &DeviceBuffer,
        (m, n, k): (usize, usize, usize),
        stream: &Stream,
    ) -> Result<()> {
        let tile = REF_TILE as usize;
        let grid = [n.div_ceil(tile) as u32, m.div_ceil(tile) as u32, 1];
        launch(
            &self.reference[p.index()],
            p,
            grid,
            [REF_TILE, REF_TILE, 1],
            0,
            [a, b, c],
            (m, n, k),
            stream,
        )
    }
}

#[allow(clippy::too_many_arguments)]
fn launch(
    f: &Function,
    p: Precision,
    grid: [u32; 3],
    block: [u32; 3],
    shared: u32,
    [a, b, c]: [&DeviceBuffer; 3],
    (m, n, k): (usize, usize, usize),
    stream: &Stream,
) -> Result<()> {
    let e = p.bytes();
    buffer_holds(f.name(), "A", a, m * k * e)?;
    buffer_holds(f.name(), "B", b, n * k * e)?;
    buffer_holds(f.name(), "C", c, m * n * 4)?;
    let dim = |v: usize| {
        i32::try_from(v)
            .map_err(|_| Error::Invalid(format!("{}: dimension {v} too large", f.name())))
    };
    let (mut m, mut n, mut k) = (dim(m)?, dim(n)?, dim(k)?);
    let (mut pa, mut pb, mut pc) = (a.device_ptr(), b.device_ptr(), c.device_ptr());
    let mut params = [
        arg(&mut pa),
        arg(&mut pb),
        arg(&mut pc),
        arg(&mut m),
        arg(&mut n),
        arg(&mut k),
    ];
    // SAFETY: (const T*, const T*, float*, int, int, int) as every gemm kernel declares;
    // the buffers are checked to hold the shapes and callers synchronise `stream`
    // before dropping them.
    unsafe { f.launch_grid(grid, block, shared, stream, &mut params) }
}
