//! The environments of the probe children: the configuration's own with a fresh
//! state file, the native control's, and the tampered ones a tenant could start.

use crate::run::SHARED_CACHE_VAR;
use std::collections::BTreeMap;
use std::path::Path;

/// The limit variables a tenant would change or drop.
const MEMORY_LIMIT_VAR: &str = "CUDA_DEVICE_MEMORY_LIMIT";
const SM_LIMIT_VAR: &str = "CUDA_DEVICE_SM_LIMIT";

/// The configuration's environment with its state file replaced by `cache`, which
/// does not exist yet: HAMi-core writes its limits into the file only when it creates
/// it, so a reused file would carry another process's limits and usage. A
/// configuration with no state file (native) is left as it is.
pub fn fresh(config: &BTreeMap<String, String>, cache: &Path) -> BTreeMap<String, String> {
    let mut env = config.clone();
    if let Some(value) = env.get_mut(SHARED_CACHE_VAR) {
        *value = cache.to_string_lossy().into_owned();
    }
    env
}

/// The native control's environment: nothing set. Children are started with every
/// interposer variable of the parent removed (`run::child`), so this is the
/// configuration's environment minus LD_PRELOAD and every interposer variable.
pub fn native() -> BTreeMap<String, String> {
    BTreeMap::new()
}

/// What a tamper child changes in the environment it was given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tamper {
    /// The memory and SM limit variables removed.
    LimitsRemoved,
    /// The memory limit doubled and the SM limit set to 100 %.
    LimitsChanged,
    /// Started without LD_PRELOAD.
    NoPreload,
}

/// `env` (the configuration's, with the state file the tenant already uses) as the
/// tamper child gets it.
pub fn tampered(env: &BTreeMap<String, String>, tamper: Tamper) -> BTreeMap<String, String> {
    let mut env = env.clone();
    match tamper {
        Tamper::LimitsRemoved => {
            env.remove(MEMORY_LIMIT_VAR);
            env.remove(SM_LIMIT_VAR);
        }
        Tamper::LimitsChanged => {
            if let Some(value) = env.get_mut(MEMORY_LIMIT_VAR) {
                *value = doubled(value);
            }
            if let Some(value) = env.get_mut(SM_LIMIT_VAR) {
                *value = "100".into();
            }
        }
        Tamper::NoPreload => {
            env.remove("LD_PRELOAD");
        }
    }
    env
}

/// A limit like "71577m" twice as large, its unit suffix kept; a value that is no
/// number with a suffix is left as it is.
fn doubled(value: &str) -> String {
    let digits = value.len() - value.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    match value[..digits].parse::<u64>() {
        Ok(n) => format!("{}{}", n * 2, &value[digits..]),
        Err(_) => value.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hami() -> BTreeMap<String, String> {
        BTreeMap::from([
            ("LD_PRELOAD".into(), "/v/libvgpu.so".into()),
            ("CUDA_REDIRECT".into(), "/v/libvgpu.so".into()),
            (SM_LIMIT_VAR.into(), "50".into()),
            (MEMORY_LIMIT_VAR.into(), "71577m".into()),
            (SHARED_CACHE_VAR.into(), "/tmp/worker.cache".into()),
        ])
    }

    #[test]
    fn every_probe_child_gets_a_fresh_state_file_and_native_stays_native() {
        let env = fresh(&hami(), Path::new("/tmp/probe-3.cache"));
        assert_eq!(env[SHARED_CACHE_VAR], "/tmp/probe-3.cache");
        assert_eq!(env["LD_PRELOAD"], "/v/libvgpu.so");
        assert_eq!(env[MEMORY_LIMIT_VAR], "71577m");
        assert!(fresh(&BTreeMap::new(), Path::new("/tmp/x")).is_empty());
        assert!(native().is_empty());
    }

    #[test]
    fn tampering_changes_only_what_it_names() {
        let removed = tampered(&hami(), Tamper::LimitsRemoved);
        assert!(!removed.contains_key(MEMORY_LIMIT_VAR) && !removed.contains_key(SM_LIMIT_VAR));
        assert_eq!(removed[SHARED_CACHE_VAR], "/tmp/worker.cache");
        let changed = tampered(&hami(), Tamper::LimitsChanged);
        assert_eq!(changed[MEMORY_LIMIT_VAR], "143154m");
        assert_eq!(changed[SM_LIMIT_VAR], "100");
        let bare = tampered(&hami(), Tamper::NoPreload);
        assert!(!bare.contains_key("LD_PRELOAD"));
        assert_eq!(bare[SHARED_CACHE_VAR], "/tmp/worker.cache");
        assert_eq!(doubled("20g"), "40g");
        assert_eq!(doubled("lots"), "lots");
    }
}
