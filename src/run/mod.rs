//! Configurations and the processes that run them.

mod bench_config;
pub mod child;
mod config;
mod config_file;
mod current;
mod exec;
mod hooks;
mod interrupt;
mod mps;
pub mod ops;
mod runner;
mod worker;

pub use bench_config::{
    reexec_if_configured, verify_inside, CONFIG_FILE_VAR, CONFIG_VAR, HAMI_LIB_VAR, VERIFY_SECS_VAR,
};
pub use config::{
    clear_interposer_env, is_interposer_var, switch_multicast_off, Config, DEFAULT_HAMI_LIB,
    INTERPOSER_VARS, MULTICAST_OFF, SHARED_CACHE_VAR,
};
pub use config_file::{load as load_config_file, Check, ConfigEntry, ExpectEntry, Hook};
pub use exec::{exec_all, ExecOptions, Workload};
pub use interrupt::interrupted;
pub use mps::MpsDaemon;
pub use runner::{
    ask_native, default_rounds, preflight, run_all, scratch, start_mps_daemon, Plan, RunOptions,
};
pub use worker::{run_job, Job};
