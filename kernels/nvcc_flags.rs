// nvcc's flags for kernels/*.cu -> PTX, shared by build.rs and tests/ptx.rs so the
// committed PTX is checked against exactly what the build would produce.
// sm_80: Ampere and newer, the oldest architecture whose bf16 tensor cores the kernels use.
const NVCC_FLAGS: &[&str] = &["-ptx", "-O3", "-std=c++17", "-arch=sm_80"];
// compute_90a: Hopper's wgmma, setmaxnreg and tensor-map copies exist only in the
// architecture-specific PTX target, which loads on compute capability 9.0 alone.
const NVCC_FLAGS_SM90: &[&str] = &[
    "-ptx",
    "-O3",
    "-std=c++17",
    "-gencode=arch=compute_90a,code=compute_90a",
];

/// A kernel family's Hopper file is named `<family>_sm90.cu`; every other file is sm_80.
fn nvcc_flags(stem: &str) -> &'static [&'static str] {
    if stem.ends_with("_sm90") {
        NVCC_FLAGS_SM90
    } else {
        NVCC_FLAGS
    }
}
