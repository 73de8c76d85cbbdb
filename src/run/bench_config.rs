//! Criterion's own flow under any configuration: `GPU_VIRT_BENCH_CONFIG=hami-50
//! cargo bench -- --save-baseline hami-50`. The bench executable re-executes itself
//! in that configuration's environment (fresh state file, MPS daemon, setup and
//! teardown, as `run` gives a configuration), and the re-executed process verifies
//! the limits before Criterion measures, so `cargo bench -- --baseline native` under
//! a configuration prints Criterion's own change report with no shell setup.

use super::config::{Config, DEFAULT_HAMI_LIB};
use super::hooks::Hooks;
use super::runner::{
    mps_daemons, native_facts, native_reference, preflight, process_env, scratch, worker_command,
};
use crate::baseline::{read_json, write_json_atomic, DeviceFacts};
use crate::error::{io_at, Error, Result};
use crate::system::{self, Expect, Reference};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The configuration to bench under: a built-in name or one from the file below.
pub const CONFIG_VAR: &str = "GPU_VIRT_BENCH_CONFIG";
/// A configuration file to look the name up in (as `run --config-file`).
pub const CONFIG_FILE_VAR: &str = "GPU_VIRT_BENCH_CONFIG_FILE";
/// HAMi-core's library for `hami-<pct>` (as `run --hami-lib`).
pub const HAMI_LIB_VAR: &str = "GPU_VIRT_BENCH_HAMI_LIB";
/// Seconds per SM-share shape of the verification (default 5).
pub const VERIFY_SECS_VAR: &str = "GPU_VIRT_BENCH_VERIFY_SECS";
/// Set in the re-executed process: the file with what it verifies against.
const INSIDE_VAR: &str = "GPU_VIRT_BENCH_INSIDE";

/// What the re-executed process verifies before Criterion measures.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Inside {
    config: String,
    device: DeviceFacts,
    expect: Expect,
    reference: Reference,
    verify_secs: f64,
}

/// In the bench executable as `cargo bench` starts it: where CONFIG_VAR names a
/// configuration, runs this executable again under it and returns its exit code;
/// `None` where nothing is configured, or in the re-executed process itself.
pub fn reexec_if_configured() -> Option<Result<i32>> {
    if std::env::var_os(INSIDE_VAR).is_some() {
        return None;
    }
    let name = std::env::var(CONFIG_VAR).ok()?;
    Some(reexec(&name))
}

/// The configuration CONFIG_VAR names, on a device of `physical_mib`.
fn configured(name: &str, physical_mib: u64) -> Result<Config> {
    let file = match std::env::var_os(CONFIG_FILE_VAR) {
        Some(path) => super::load_config_file(Path::new(&path))?,
        None => Vec::new(),
    };
    let hami_lib = std::env::var_os(HAMI_LIB_VAR)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_HAMI_LIB));
    Config::lookup(name, &hami_lib, &[physical_mib], &file)
}

fn verify_secs() -> Result<f64> {
    match std::env::var(VERIFY_SECS_VAR) {
        Ok(text) => text
            .parse::<f64>()
            .ok()
            .filter(|s| *s > 0.0)
            .ok_or_else(|| {
                Error::Invalid(format!("{VERIFY_SECS_VAR}={text} is no number of seconds"))
            }),
        Err(_) => Ok(5.0),
    }
}

fn reexec(name: &str) -> Result<i32> {
    preflight(std::slice::from_ref(&configured(name, 1)?)).map_err(|e| match e {
        Error::MissingLibrary(lib) => Error::Invalid(format!(
            "interposer library {} does not exist; install HAMi-core's libvgpu.so and set {HAMI_LIB_VAR} to its path",
            lib.display()
        )),
        other => other,
    })?;
    let verify_secs = verify_secs()?;
    crate::cuda::init()?;
    let scratch = scratch()?;
    let facts = native_facts()?;
    let config = configured(name, facts.memory_mib)?;
    let configs = std::slice::from_ref(&config);
    let _hooks = Hooks::setup(configs)?;
    let daemons = mps_daemons(configs, scratch.path())?;
    let reference = match config.expect.sm_limit_pct {
        Some(_) => native_reference(verify_secs, &facts)?,
        None => Reference { shapes: Vec::new() },
    };
    let inside_file = scratch.path().join("inside.json");
    write_json_atomic(
        &inside_file,
        &Inside {
            config: config.name.clone(),
            device: facts,
            expect: config.expect.clone(),
            reference,
            verify_secs,
        },
    )?;
    let cache = scratch.path().join(format!("{}.cache", config.name));
    let mut extra = process_env(&config, daemons.get(&config.name), &cache);
    extra.insert(
        INSIDE_VAR.to_owned(),
        inside_file.to_string_lossy().into_owned(),
    );
    eprintln!("== cargo bench under {}", config.name);
    let status = worker_command(&config, &extra)
        .args(std::env::args_os().skip(1))
        .status()
        .map_err(io_at("bench executable"))?;
    Ok(status.code().unwrap_or(1))
}

/// In the re-executed process, with a current context: the configuration's limits
/// verified as `run` verifies them, or the reason its figures must not be taken.
pub fn verify_inside() -> Option<Result<()>> {
    let file = std::env::var_os(INSIDE_VAR)?;
    Some((|| {
        let inside: Inside = read_json(Path::new(&file))?;
        let v = system::verify(
            &inside.device,
            &inside.expect,
            &inside.reference,
            inside.verify_secs,
        )?;
        match system::blocking_problem(&inside.expect, &v) {
            Some(detail) => Err(Error::LimitNotInForce {
                config: inside.config,
                detail,
            }),
            None => {
                eprintln!("== {} verified: {}", inside.config, verdict_line(&v));
                Ok(())
            }
        }
    })())
}

/// The limits' verdicts in one line, e.g. "memory enforced; short-blocks inconclusive".
fn verdict_line(v: &crate::baseline::Verification) -> String {
    let verdicts = v.limit_verdicts();
    std::iter::once(format!("memory {}", verdicts.memory))
        .chain(
            verdicts
                .sm
                .iter()
                .map(|shape| format!("{} {}", shape.shape, shape.verdict)),
        )
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_names_and_bad_seconds_are_refused_before_any_gpu_work() {
        let err = configured("hami-500", 1).unwrap_err();
        assert!(matches!(err, Error::UnknownConfig(_)), "{err}");
        assert!(configured("native", 1).is_ok());
        assert!(configured("mps-25", 1).unwrap().mps);
    }
}
