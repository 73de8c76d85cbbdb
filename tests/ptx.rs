//! The committed kernels/ptx/*.ptx are what machines without nvcc build with, so they
//! must be exactly what the pinned nvcc makes of kernels/*.cu, and old enough for the
//! CUDA 13.0 drivers the suite targets.

use std::path::{Path, PathBuf};
use std::process::Command;

include!("../kernels/nvcc_flags.rs");

/// The compiler release that produced the committed PTX (scripts/install-nvcc.sh).
const PINNED_RELEASE: &str = "V13.0.88";
/// Highest PTX ISA a CUDA 13.0 driver loads.
const MAX_ISA: (u32, u32) = (9, 0);

fn sources() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir("kernels")
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "cu"))
        .collect();
    v.sort();
    v
}

fn committed(src: &Path) -> PathBuf {
    Path::new("kernels/ptx").join(src.with_extension("ptx").file_name().unwrap())
}

fn stem(src: &Path) -> String {
    src.file_stem().unwrap().to_string_lossy().into_owned()
}

/// The PTX without nvcc's banner comments, which name the build machine's compiler.
fn code_lines(ptx: &str) -> Vec<&str> {
    ptx.lines().filter(|l| !l.starts_with("//")).collect()
}

#[test]
fn every_kernel_source_has_committed_ptx_and_no_stale_ones_remain() {
    let srcs = sources();
    assert!(!srcs.is_empty());
    for src in &srcs {
        assert!(
            committed(src).is_file(),
            "{} has no committed PTX",
            src.display()
        );
    }
    for ptx in std::fs::read_dir("kernels/ptx").unwrap() {
        let ptx = ptx.unwrap().path();
        let src = Path::new("kernels").join(ptx.with_extension("cu").file_name().unwrap());
        assert!(src.is_file(), "{} has no source", ptx.display());
    }
}

#[test]
fn committed_ptx_loads_on_cuda_13_0_drivers() {
    for src in sources() {
        let text = std::fs::read_to_string(committed(&src)).unwrap();
        let version = text
            .lines()
            .find_map(|l| l.strip_prefix(".version "))
            .unwrap_or_else(|| panic!("{}: no .version line", src.display()));
        let (major, minor) = version.trim().split_once('.').unwrap();
        let isa = (major.parse::<u32>().unwrap(), minor.parse::<u32>().unwrap());
        assert!(
            isa <= MAX_ISA,
            "{}: PTX ISA {version} is newer than {MAX_ISA:?}",
            src.display()
        );
        let target = if nvcc_flags(&stem(&src)).contains(&"-arch=sm_80") {
            ".target sm_80"
        } else {
            ".target sm_90a"
        };
        assert!(
            text.contains(target),
            "{}: not built for {target}",
            src.display()
        );
    }
}

#[test]
fn committed_ptx_matches_the_pinned_nvcc() {
    let Some(nvcc) = std::env::var_os("NVCC") else {
        eprintln!("skipped: NVCC is not set (scripts/install-nvcc.sh installs the pinned one)");
        return;
    };
    let version = Command::new(&nvcc).arg("--version").output().unwrap();
    let version = String::from_utf8_lossy(&version.stdout);
    if !version.contains(PINNED_RELEASE) {
        eprintln!("skipped: NVCC is not the pinned {PINNED_RELEASE}: {version}");
        return;
    }
    let out = tempfile::tempdir().unwrap();
    let update = std::env::var_os("UPDATE_PTX").is_some();
    for src in sources() {
        let fresh = out.path().join(committed(&src).file_name().unwrap());
        let status = Command::new(&nvcc)
            .args(nvcc_flags(&stem(&src)))
            .arg(&src)
            .arg("-o")
            .arg(&fresh)
            .status()
            .unwrap();
        assert!(status.success(), "nvcc failed on {}", src.display());
        let fresh_text = std::fs::read_to_string(&fresh).unwrap();
        if update {
            std::fs::write(committed(&src), &fresh_text).unwrap();
        }
        let old = std::fs::read_to_string(committed(&src)).unwrap();
        assert_eq!(
            code_lines(&old),
            code_lines(&fresh_text),
            "{} is stale: regenerate with UPDATE_PTX=1 NVCC=$(scripts/install-nvcc.sh) cargo test --test ptx",
            committed(&src).display()
        );
    }
}
