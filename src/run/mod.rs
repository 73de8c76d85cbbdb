//! Configurations and the processes that run them.

pub mod child;
mod config;
mod runner;
mod worker;

pub use config::{Config, DEFAULT_HAMI_LIB, INTERPOSER_VARS, SHARED_CACHE_VAR};
pub use runner::{default_rounds, preflight, run_all, RunOptions};
pub use worker::{run_job, run_reference, Job};
