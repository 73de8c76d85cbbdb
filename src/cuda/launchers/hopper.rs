//! Which kernel generation runs: the sm_80 kernels everywhere, and beside them the
//! compute_90a ones where they load, so one run on a Hopper GPU measures both.

use crate::cuda::Device;
use crate::error::Result;

/// The generation of a kernel family's kernels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Generation {
    /// mma.sync, ldmatrix, cp.async: kernels/<family>.cu, built for sm_80.
    Sm80,
    /// wgmma, tensor-map copies, warp specialisation: kernels/<family>_sm90.cu, built
    /// for compute_90a.
    Sm90,
}

impl Generation {
    /// Suffix of the generation's variants: none for sm_80, whose figures were
    /// measured before the Hopper kernels existed and keep their names.
    pub fn suffix(self) -> &'static str {
        match self {
            Self::Sm80 => "",
            Self::Sm90 => "-sm90",
        }
    }
}

/// Threads of every Hopper kernel: a producer warpgroup and two consumer warpgroups
/// (kernels/sm90.cuh's THREADS).
pub(super) const HOPPER_THREADS: u32 = 384;

/// Environment variable that, set to `sm80`, keeps the Hopper kernels unloaded so a
/// run on compute capability 9.0 measures the sm_80 generation alone.
pub const KERNELS_VAR: &str = "GPU_VIRT_BENCH_KERNELS";

/// Whether Hopper kernels are to be loaded: compute capability exactly 9.0 (the only
/// one compute_90a PTX loads on) and not switched off by [`KERNELS_VAR`].
fn wanted(cc: (i32, i32), kernels_var: Option<&str>) -> bool {
    cc == (9, 0) && kernels_var != Some("sm80")
}

/// A family's Hopper kernels on the current context's device where [`wanted`] and
/// `load` succeeds; `None` elsewhere, said on stderr where compute capability 9.0
/// could not load them, since the run then measures the sm_80 generation alone (its
/// figures carry no `-sm90` variant).
pub(super) fn load_hopper<T>(family: &str, load: impl FnOnce() -> Result<T>) -> Result<Option<T>> {
    let cc = Device::current()?.compute_capability()?;
    if !wanted(cc, std::env::var(KERNELS_VAR).ok().as_deref()) {
        return Ok(None);
    }
    match load() {
        Ok(kernels) => Ok(Some(kernels)),
        Err(e) => {
            eprintln!(
                "{family}: not loaded on compute capability 9.0 ({e}); the sm_80 kernels run alone"
            );
            Ok(None)
        }
    }
}

/// The generations a family runs here, the newest first.
pub(super) fn generations<T>(hopper: &Option<T>) -> Vec<Generation> {
    match hopper {
        Some(_) => vec![Generation::Sm90, Generation::Sm80],
        None => vec![Generation::Sm80],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn the_newest_generation_comes_first_and_sm80_keeps_its_names() {
        assert_eq!(generations(&Some(())), [Generation::Sm90, Generation::Sm80]);
        assert_eq!(generations::<()>(&None), [Generation::Sm80]);
        assert_eq!(Generation::Sm80.suffix(), "");
        assert_ne!(Generation::Sm90.suffix(), "");
    }
}
