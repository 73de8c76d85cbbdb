//! A real GEMM as a tenant's load (IS-003's GEMM shapes, ENF-027/028): bf16 4096³ one
//! kernel at a time, through our kernel (driver API) on one block per tile or on the
//! Hopper kernel's persistent grid, or through cuBLAS (runtime API). A limiter that
//! charges per launched block sees few, long blocks here, as in real model serving,
//! and on the persistent grid fewest.

use super::verify::run_windows;
use super::ShapeRun;
use crate::cuda::{
    Cublas, DeviceBuffer, GemmGrid, GemmKernels, Generation, Precision, RandomKernels, Stream,
    KERNELS_VAR,
};
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};

/// The GEMM's square size.
const SIZE: usize = 4096;
/// Relative error allowed against the naive f32 kernel on the same bf16 inputs.
const TOLERANCE: f64 = 1e-2;

/// Which implementation runs the tenant's GEMM, and on what grid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum GemmPath {
    /// Our newest kernel, one block per 128 x 256 tile of C (512 blocks at 4096³).
    Ours,
    /// Our Hopper kernel on its persistent grid, one block per SM looping over the
    /// tiles: how production GEMMs run on Hopper. Compute capability 9.0 only.
    OursPersistent,
    /// cuBLAS's, through the runtime API.
    Cublas,
}

impl GemmPath {
    /// What the path runs, for a reader of the report.
    pub fn describe(self) -> &'static str {
        match self {
            Self::Ours => {
                "our bf16 GEMM of 4096^3, driver API, one block per tile (512 of 128 x 256)"
            }
            Self::OursPersistent => {
                "our Hopper bf16 GEMM of 4096^3, driver API, one block per SM (persistent grid)"
            }
            Self::Cublas => "cuBLAS bf16 GEMM of 4096^3, runtime API",
        }
    }

    /// Our kernel's generation and grid for this path where bf16's newest generation
    /// here is `newest`, `None` for cuBLAS; `Err(why)` where the path cannot run
    /// here. The persistent path never falls back to the per-tile kernel: that
    /// would be another shape under its name.
    pub fn ours(
        self,
        newest: Generation,
    ) -> std::result::Result<Option<(Generation, GemmGrid)>, String> {
        match (self, newest) {
            (Self::Ours, generation) => Ok(Some((generation, GemmGrid::PerTile))),
            (Self::OursPersistent, Generation::Sm90) => {
                Ok(Some((Generation::Sm90, GemmGrid::Persistent)))
            }
            (Self::OursPersistent, Generation::Sm80) => Err(format!(
                "the persistent GEMM needs the Hopper kernel {}: compute capability 9.0, \
                 not with {KERNELS_VAR}=sm80",
                GemmKernels::kernel_name(Generation::Sm90, Precision::Bf16)
            )),
            (Self::Cublas, _) => Ok(None),
        }
    }
}

/// What runs the GEMM of a path here.
enum Gemm {
    Ours(Generation, GemmGrid),
    Cublas(Cublas),
}

/// The ShapeRun name of our kernel on `grid`, e.g. "gemm_sm90_bf16 persistent (132
/// blocks)".
fn our_shape(generation: Generation, grid: GemmGrid, blocks: u32) -> String {
    let kernel = GemmKernels::kernel_name(generation, Precision::Bf16);
    let grid = match (generation, grid) {
        (Generation::Sm90, GemmGrid::Persistent) => "persistent",
        _ => "per tile",
    };
    format!("{kernel} {grid} ({blocks} blocks)")
}

/// Runs the GEMM of `path` for `secs`, after checking its output once on fresh
/// random inputs against the naive kernel; a path that cannot run on this device is
/// an [`Error::Invalid`] saying why.
pub fn run_gemm(path: GemmPath, secs: f64) -> Result<ShapeRun> {
    try_run_gemm(path, secs)?.map_err(Error::Invalid)
}

/// [`run_gemm`], with `Ok(Err(why))` where `path` cannot run on this device (no
/// Hopper kernel for the persistent grid, no libcublas), found before any work.
pub fn try_run_gemm(path: GemmPath, secs: f64) -> Result<std::result::Result<ShapeRun, String>> {
    let stream = Stream::new()?;
    let kernels = GemmKernels::load()?;
    let gemm = match path.ours(kernels.newest(Precision::Bf16)) {
        Err(why) => return Ok(Err(why)),
        Ok(Some((generation, grid))) => Gemm::Ours(generation, grid),
        Ok(None) => match Cublas::load()? {
            Some(blas) => Gemm::Cublas(blas),
            None => {
                return Ok(Err(
                    "the cuBLAS GEMM needs libcublas on the loader's path".into()
                ))
            }
        },
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
    let launch = || match &gemm {
        Gemm::Ours(generation, grid) => kernels.gemm_on(
            *generation,
            Precision::Bf16,
            [&a, &b, &c],
            shape,
            *grid,
            &stream,
        ),
        Gemm::Cublas(blas) => blas.gemm_bf16(&a, &b, &c, SIZE, SIZE, SIZE, &stream),
    };
    let (kernel, name, blocks) = match gemm {
        Gemm::Ours(generation, grid) => {
            let blocks = kernels.blocks(generation, Precision::Bf16, grid, shape)?;
            (
                GemmKernels::kernel_name(generation, Precision::Bf16),
                our_shape(generation, grid, blocks),
                blocks,
            )
        }
        // cuBLAS picks its own kernel and grid, which it does not tell; 0 says unknown.
        Gemm::Cublas(_) => (Cublas::GEMM_BF16, Cublas::GEMM_BF16.to_owned(), 0),
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
    if rel.is_nan() || rel > TOLERANCE {
        return Err(Error::Incorrect {
            kernel,
            detail: format!("{name}: relative error {rel:.3e} at {SIZE}^3 (limit {TOLERANCE:e})"),
        });
    }
    let (kernels_per_s, windows, latency) = run_windows(secs, 1, &stream, launch)?;
    Ok(Ok(ShapeRun {
        shape: name,
        blocks,
        block_us: latency.p50_ns / 1e3,
        kernels_per_s,
        windows,
        kernel_us_p50: latency.p50_ns / 1e3,
        kernel_us_p99: latency.p99_ns / 1e3,
        // Tensor-core work: the f32 pipes' peak does not bound it.
        fp32_peak_fraction: None,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_per_tile_path_runs_the_newest_kernel_one_block_per_tile() {
        for newest in [Generation::Sm90, Generation::Sm80] {
            assert_eq!(
                GemmPath::Ours.ours(newest),
                Ok(Some((newest, GemmGrid::PerTile)))
            );
            assert_eq!(GemmPath::Cublas.ours(newest), Ok(None));
        }
    }

    #[test]
    fn the_persistent_path_runs_on_hopper_alone_and_says_what_it_needs_elsewhere() {
        assert_eq!(
            GemmPath::OursPersistent.ours(Generation::Sm90),
            Ok(Some((Generation::Sm90, GemmGrid::Persistent)))
        );
        let why = GemmPath::OursPersistent.ours(Generation::Sm80).unwrap_err();
        assert_eq!(
            why,
            "the persistent GEMM needs the Hopper kernel gemm_sm90_bf16: compute capability \
             9.0, not with GPU_VIRT_BENCH_KERNELS=sm80"
        );
        assert!(!why.contains('\n'));
    }

    #[test]
    fn a_run_names_its_kernel_and_grid() {
        assert_eq!(
            our_shape(Generation::Sm90, GemmGrid::Persistent, 132),
            "gemm_sm90_bf16 persistent (132 blocks)"
        );
        assert_eq!(
            our_shape(Generation::Sm90, GemmGrid::PerTile, 512),
            "gemm_sm90_bf16 per tile (512 blocks)"
        );
        // the sm_80 kernel launches one block per tile whatever the grid asked
        assert_eq!(
            our_shape(Generation::Sm80, GemmGrid::Persistent, 512),
            "gemm_bf16 per tile (512 blocks)"
        );
    }

    #[test]
    fn paths_cross_a_child_s_pipe_by_name() {
        for (path, name) in [
            (GemmPath::Ours, "\"ours\""),
            (GemmPath::OursPersistent, "\"ours-persistent\""),
            (GemmPath::Cublas, "\"cublas\""),
        ] {
            assert_eq!(serde_json::to_string(&path).unwrap(), name);
            assert_eq!(serde_json::from_str::<GemmPath>(name).unwrap(), path);
        }
    }
}
