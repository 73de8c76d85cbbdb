// nvcc's flags for kernels/*.cu -> PTX, shared by build.rs and tests/ptx.rs so the
// committed PTX is checked against exactly what the build would produce.
// sm_80: Ampere and newer, the oldest architecture whose bf16 tensor cores the kernels use.
const NVCC_FLAGS: &[&str] = &["-ptx", "-O3", "-std=c++17", "-arch=sm_80"];
