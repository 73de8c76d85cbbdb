//! kernels/gemm.cu: C[m x n] (f32) = A[m x k] * B[n x k]^T, fast and reference; on
//! compute capability 9.0 also kernels/gemm_sm90.cu's Hopper kernels.

use super::gemm_sm90::HopperGemm;
use super::hopper::{generations, Generation};
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

    /// The sm_80 kernel's grid over an m x n C: one block per tile.
    fn sm80_grid(self, m: usize, n: usize) -> [u32; 3] {
        let t = self.tiling();
        [(n / t.bn) as u32, m.div_ceil(t.bm) as u32, 1]
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

/// How many blocks a GEMM of the Hopper generation launches; the sm_80 kernels always
/// launch one block per tile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GemmGrid {
    /// One block per SM, each looping over tiles: how production GEMMs run on Hopper,
    /// and the shape a limiter that counts launched blocks sees least of.
    Persistent,
    /// One block per 128 x 256 tile of C.
    PerTile,
}

/// Reference kernels' square thread block.
const REF_TILE: u32 = 16;

pub struct GemmKernels {
    hopper: Option<HopperGemm>,
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
            hopper: HopperGemm::load()?,
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

    /// The generations this device runs, the newest first.
    pub fn generations(&self) -> Vec<Generation> {
        generations(&self.hopper)
    }

    /// The generations that run precision `p` here, the newest first: f32 has no
    /// Hopper kernel.
    pub fn generations_of(&self, p: Precision) -> Vec<Generation> {
        match p {
            Precision::F32 => vec![Generation::Sm80],
            Precision::Bf16 | Precision::F16 => self.generations(),
        }
    }

    /// The newest generation that runs precision `p` here.
    pub fn newest(&self, p: Precision) -> Generation {
        self.generations_of(p)[0]
    }

    /// The kernel `generation` runs for `p`, as the checks and the summary name it.
    pub fn kernel_name(generation: Generation, p: Precision) -> &'static str {
        match (generation, p) {
            (Generation::Sm90, Precision::Bf16) => "gemm_sm90_bf16",
            (Generation::Sm90, Precision::F16) => "gemm_sm90_f16",
            (_, Precision::Bf16) => "gemm_bf16",
            (_, Precision::F16) => "gemm_f16",
            (_, Precision::F32) => "gemm_f32",
        }
    }

    /// The newest kernel for `p`: on Hopper the wgmma kernel on a persistent grid,
    /// elsewhere (and for f32) the sm_80 one.
    pub fn gemm(
        &self,
        p: Precision,
        [a, b, c]: [&DeviceBuffer; 3],
        shape: (usize, usize, usize),
        stream: &Stream,
    ) -> Result<()> {
        self.gemm_on(
            self.newest(p),
            p,
            [a, b, c],
            shape,
            GemmGrid::Persistent,
            stream,
        )
    }

    /// The blocks [`GemmKernels::gemm_on`] launches for these arguments: one per tile of
    /// C, or on the Hopper kernels' persistent grid one per SM (never more than the
    /// tiles); the sm_80 kernels ignore `grid`.
    pub fn blocks(
        &self,
        generation: Generation,
        p: Precision,
        grid: GemmGrid,
        (m, n, _k): (usize, usize, usize),
    ) -> Result<u32> {
        match (generation, &self.hopper) {
            (Generation::Sm90, Some(h)) => Ok(h.blocks(grid, m, n)),
            (Generation::Sm90, None) => Err(hopper_missing(Self::kernel_name(generation, p))),
            (Generation::Sm80, _) => Ok(p.sm80_grid(m, n).iter().product()),
        }
    }

    /// The fast kernel of `generation` (one of [`GemmKernels::generations`]): tensor
    /// cores for bf16/fp16 (f32 accumulate), FMA for f32; `grid` shapes the Hopper
    /// kernels' launch only.
    pub fn gemm_on(
        &self,
        generation: Generation,
        p: Precision,
        [a, b, c]: [&DeviceBuffer; 3],
        (m, n, k): (usize, usize, usize),
        grid: GemmGrid,
        stream: &Stream,
    ) -> Result<()> {
        let name = Self::kernel_name(generation, p);
        if !Self::supports(p, n, k) {
            let t = p.tiling();
            return Err(Error::Invalid(format!(
                "{name}: n = {n} and k = {k} must be multiples of {} and {}",
                t.bn, t.bk
            )));
        }
        check_buffers(name, p, [a, b, c], (m, n, k))?;
        match (generation, &self.hopper) {
            (Generation::Sm90, Some(h)) => h.gemm(p, [a, b, c], (m, n, k), grid, stream),
            (Generation::Sm90, None) => Err(hopper_missing(name)),
            (Generation::Sm80, _) => {
                let t = p.tiling();
                launch(
                    &self.fast[p.index()],
                    p.sm80_grid(m, n),
                    [t.threads, 1, 1],
                    t.shared,
                    [a, b, c],
                    (m, n, k),
                    stream,
                )
            }
        }
    }

    /// The naive kernel the fast one is checked against: one thread per element of C.
    pub fn reference(
        &self,
        p: Precision,
        [a, b, c]: [&DeviceBuffer; 3],
        (m, n, k): (usize, usize, usize),
        stream: &Stream,
    ) -> Result<()> {
        let tile = REF_TILE as usize;
        let grid = [n.div_ceil(tile) as u32, m.div_ceil(tile) as u32, 1];
        let f = &self.reference[p.index()];
        check_buffers(f.name(), p, [a, b, c], (m, n, k))?;
        launch(
            f,
            grid,
            [REF_TILE, REF_TILE, 1],
            0,
            [a, b, c],
            (m, n, k),
            stream,
        )
    }
}

fn hopper_missing(kernel: &str) -> Error {
    Error::Invalid(format!(
        "{kernel}: the Hopper kernels are not loaded on this device"
    ))
}

/// Refuses buffers smaller than the shape: a kernel would read or write past them.
fn check_buffers(
    kernel: &str,
    p: Precision,
    [a, b, c]: [&DeviceBuffer; 3],
    (m, n, k): (usize, usize, usize),
) -> Result<()> {
    let e = p.bytes();
    buffer_holds(kernel, "A", a, m * k * e)?;
    buffer_holds(kernel, "B", b, n * k * e)?;
    buffer_holds(kernel, "C", c, m * n * 4)
}

/// Launches a kernel of gemm.cu's signature on buffers [`check_buffers`] accepted.
fn launch(
    f: &Function,
    grid: [u32; 3],
    block: [u32; 3],
    shared: u32,
    [a, b, c]: [&DeviceBuffer; 3],
    (m, n, k): (usize, usize, usize),
    stream: &Stream,
) -> Result<()> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_generations_take_the_same_shapes() {
        // `supports` reads the sm_80 tiling; the Hopper kernels' tile must match it
        let t = Precision::Bf16.tiling();
        assert_eq!((t.bm, t.bn), super::super::gemm_sm90::TILE);
        assert_eq!(t.bk, 64);
        assert!(GemmKernels::supports(Precision::Bf16, 4096, 4096));
        assert!(!GemmKernels::supports(Precision::Bf16, 4000, 4096));
    }

    #[test]
    fn the_sm80_kernels_launch_one_block_per_tile() {
        // 4096^3 in bf16: 32 rows of 16 tiles of 128 x 256
        assert_eq!(Precision::Bf16.sm80_grid(4096, 4096), [16, 32, 1]);
        assert_eq!(Precision::F32.sm80_grid(4096, 4096), [32, 32, 1]);
        assert_eq!(Precision::Bf16.sm80_grid(200, 512), [2, 2, 1]);
    }

    #[test]
    fn each_generation_names_its_own_kernels() {
        assert_eq!(
            GemmKernels::kernel_name(Generation::Sm90, Precision::Bf16),
            "gemm_sm90_bf16"
        );
        assert_eq!(
            GemmKernels::kernel_name(Generation::Sm80, Precision::Bf16),
            "gemm_bf16"
        );
        // f32 has no Hopper kernel: both name the FMA one
        assert_eq!(
            GemmKernels::kernel_name(Generation::Sm90, Precision::F32),
            "gemm_f32"
        );
    }
}
