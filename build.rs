//! Turns every kernels/*.cu into PTX in OUT_DIR. With an nvcc (NVCC, then
//! $CUDA_HOME/bin/nvcc, then PATH) the sources are compiled; without one the committed
//! kernels/ptx/<name>.ptx are used, so machines with no CUDA toolkit still build.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::{env, fs};

include!("kernels/nvcc_flags.rs");

fn find_nvcc() -> Option<PathBuf> {
    let candidates = env::var_os("NVCC")
        .map(PathBuf::from)
        .into_iter()
        .chain(env::var_os("CUDA_HOME").map(|h| Path::new(&h).join("bin/nvcc")))
        .chain(env::var_os("PATH").into_iter().flat_map(|p| {
            env::split_paths(&p)
                .map(|d| d.join("nvcc"))
                .collect::<Vec<_>>()
        }));
    candidates.into_iter().find(|c| c.is_file())
}

fn main() {
    println!("cargo:rerun-if-changed=kernels");
    println!("cargo:rerun-if-env-changed=NVCC");
    println!("cargo:rerun-if-env-changed=CUDA_HOME");
    println!("cargo:rerun-if-env-changed=PATH");
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("OUT_DIR"));
    let mut sources: Vec<PathBuf> = fs::read_dir("kernels")
        .expect("kernels/ directory")
        .map(|e| e.expect("kernels/ entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "cu"))
        .collect();
    sources.sort();
    let nvcc = find_nvcc();
    for src in &sources {
        let name = src.file_stem().expect("file name").to_string_lossy();
        let dest = out.join(format!("{name}.ptx"));
        match &nvcc {
            Some(nvcc) => {
                let status = Command::new(nvcc)
                    .args(nvcc_flags(&name))
                    .arg(src)
                    .arg("-o")
                    .arg(&dest)
                    .status()
                    .unwrap_or_else(|e| panic!("running {}: {e}", nvcc.display()));
                assert!(status.success(), "nvcc failed on {}", src.display());
            }
            None => {
                let committed = Path::new("kernels/ptx").join(format!("{name}.ptx"));
                fs::copy(&committed, &dest).unwrap_or_else(|e| {
                    panic!(
                        "no nvcc found and {} is missing ({e}); set NVCC or commit the PTX",
                        committed.display()
                    )
                });
            }
        }
    }
    match &nvcc {
        Some(nvcc) => println!(
            "cargo:warning=compiled {} kernel file(s) to PTX with {}",
            sources.len(),
            nvcc.display()
        ),
        None => println!("cargo:warning=no nvcc found: using the committed kernels/ptx/*.ptx"),
    }
}
