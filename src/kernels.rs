//! The PTX of each kernels/*.cu, embedded at build time so the binary carries its
//! kernels and needs no toolkit where it runs.

/// kernels/launch.cu: `empty`, `spin`.
pub const LAUNCH: &str = include_str!(concat!(env!("OUT_DIR"), "/launch.ptx"));

/// kernels/pipeline.cu: `affine`.
pub const PIPELINE: &str = include_str!(concat!(env!("OUT_DIR"), "/pipeline.ptx"));

/// kernels/isolation.cu: `copy_words`, `write_word`.
pub const ISOLATION: &str = include_str!(concat!(env!("OUT_DIR"), "/isolation.ptx"));
