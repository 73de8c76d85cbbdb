//! gpu-virt-bench: what a software GPU-virtualization layer costs, and whether it
//! enforces the limits it promises.
//!
//! Data flows one way: [`kernels`] -> [`metrics`] (timed with [`measure`]) ->
//! Criterion baselines and [`baseline`] files -> [`report`]. [`run`] only starts
//! processes with the right environment; [`system`] says what is running and whether
//! the configured limits are in force.

pub mod baseline;
pub mod cuda;
pub mod error;
pub mod kernels;
pub mod measure;
pub mod metrics;
pub mod progress;
pub mod report;
pub mod run;
pub mod stats;
pub mod system;

pub use error::{Error, Result};
