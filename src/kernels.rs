//! The PTX of each kernels/*.cu, embedded at build time so the binary carries its
//! kernels and needs no toolkit where it runs.

/// kernels/launch.cu: `empty`, `spin`, `fma_work`.
pub const LAUNCH: &str = include_str!(concat!(env!("OUT_DIR"), "/launch.ptx"));

/// kernels/pipeline.cu: `affine`.
pub const PIPELINE: &str = include_str!(concat!(env!("OUT_DIR"), "/pipeline.ptx"));

/// kernels/gemm.cu: `gemm_bf16`, `gemm_f16`, `gemm_f32` and their `gemm_ref_*`.
pub const GEMM: &str = include_str!(concat!(env!("OUT_DIR"), "/gemm.ptx"));

/// kernels/decode.cu: `gemv_bf16_b1` to `gemv_bf16_b32`, `qkv_split`, `residual_add`,
/// `gelu_bf16`.
pub const DECODE: &str = include_str!(concat!(env!("OUT_DIR"), "/decode.ptx"));

/// kernels/attention.cu: `flash_attn_d64`, `flash_attn_d128`, `attn_ref`,
/// `attn_decode`, `attn_decode_ref`.
pub const ATTENTION: &str = include_str!(concat!(env!("OUT_DIR"), "/attention.ptx"));

/// kernels/attention_sm90.cu (compute_90a): `flash_attn_sm90_d64`, `flash_attn_sm90_d128`.
pub const ATTENTION_SM90: &str = include_str!(concat!(env!("OUT_DIR"), "/attention_sm90.ptx"));

/// kernels/random.cu: `uniform_bf16`, `uniform_f16`, `uniform_f32`.
pub const RANDOM: &str = include_str!(concat!(env!("OUT_DIR"), "/random.ptx"));

/// kernels/isolation.cu: `copy_words`, `write_word`.
pub const ISOLATION: &str = include_str!(concat!(env!("OUT_DIR"), "/isolation.ptx"));

/// kernels/enforcement.cu: `heap_take`, `heap_give`.
pub const ENFORCEMENT: &str = include_str!(concat!(env!("OUT_DIR"), "/enforcement.ptx"));

/// kernels/cache.cu: `fill_index`, `read_sum`.
pub const CACHE: &str = include_str!(concat!(env!("OUT_DIR"), "/cache.ptx"));

/// kernels/sched.cu: `timeline`.
pub const SCHED: &str = include_str!(concat!(env!("OUT_DIR"), "/sched.ptx"));

/// kernels/bandwidth.cu: `stream_copy`, `fill_pattern`, `check_pattern`.
pub const BANDWIDTH: &str = include_str!(concat!(env!("OUT_DIR"), "/bandwidth.ptx"));

/// kernels/gemm_sm90.cu (compute_90a): `gemm_sm90_bf16`, `gemm_sm90_f16`.
pub const GEMM_SM90: &str = include_str!(concat!(env!("OUT_DIR"), "/gemm_sm90.ptx"));
