//! Configurations: the environment each run's process gets, and what it promises.

use super::config_file::{ConfigEntry, Hook};
use super::current;
use crate::baseline::ConfigRecord;
use crate::error::{Error, Result};
use crate::system::Expect;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

/// Where HAMi-core installs its library, and where it looks for itself by default.
pub const DEFAULT_HAMI_LIB: &str = "/usr/local/vgpu/libvgpu.so";

/// Variables an interposer reads; removed from a native run's environment so a
/// user's shell cannot leak a limit into the figures meant as the reference.
pub const INTERPOSER_VARS: [&str; 5] = [
    "LD_PRELOAD",
    "CUDA_REDIRECT",
    "CUDA_DEVICE_SM_LIMIT",
    "CUDA_DEVICE_MEMORY_LIMIT",
    "CUDA_DEVICE_MEMORY_SHARED_CACHE",
];

/// Prefixes of HAMi-core's per-device limits (`CUDA_DEVICE_MEMORY_LIMIT_0` ...),
/// which override the plain variables: a shell that exports one would otherwise put
/// its limit into every configuration's run.
const PER_DEVICE_PREFIXES: [&str; 2] = ["CUDA_DEVICE_MEMORY_LIMIT_", "CUDA_DEVICE_SM_LIMIT_"];

/// Whether an interposer reads `name`.
pub fn is_interposer_var(name: &str) -> bool {
    INTERPOSER_VARS.contains(&name)
        || PER_DEVICE_PREFIXES.iter().any(|prefix| {
            name.strip_prefix(prefix)
                .is_some_and(|i| !i.is_empty() && i.bytes().all(|b| b.is_ascii_digit()))
        })
}

/// The state file of native children where /etc/ld.so.preload loads an interposer
/// into them too: without its variable HAMi-core creates one at its default path
/// (/tmp/cudevshr.cache), which would outlive the run. Set to a file in the run's
/// scratch folder once that exists.
static NATIVE_STATE: Mutex<Option<PathBuf>> = Mutex::new(None);

/// Keeps native children's state file in `scratch` (see [`NATIVE_STATE`]).
pub(super) fn keep_native_state_in(scratch: &Path) {
    *NATIVE_STATE.lock().unwrap_or_else(|e| e.into_inner()) = Some(scratch.join("native.cache"));
}

/// Removes from `command`'s environment every variable an interposer reads that this
/// process has, so a child starts from no configuration but its own; where the loader
/// preloads an interposer into every process, gives it a state file of the run's.
pub fn clear_interposer_env(command: &mut Command) {
    for (name, _) in std::env::vars_os() {
        if name.to_str().is_some_and(is_interposer_var) {
            command.env_remove(name);
        }
    }
    let preloaded = current::system_preloaded();
    let kept = NATIVE_STATE
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    if let Some(file) = native_state_file(&preloaded, kept) {
        command.env(SHARED_CACHE_VAR, file);
    }
}

/// NVLink multicast switched off in every process the suite starts, NCCL's and the
/// libraries' beside it: multicast objects outlive a killed process on some drivers
/// and fabric managers, and no metric here needs them. A value this process already
/// has is left as it is.
pub const MULTICAST_OFF: [(&str, &str); 3] = [
    ("NCCL_NVLS_ENABLE", "0"),
    ("TORCH_SYMM_MEM_DISABLE_MULTICAST", "1"),
    ("NVSHMEM_DISABLE_NVLS", "1"),
];

/// Sets [`MULTICAST_OFF`] in `command`'s environment where this process sets none.
pub fn switch_multicast_off(command: &mut Command) {
    for (var, value) in MULTICAST_OFF {
        if std::env::var_os(var).is_none() {
            command.env(var, value);
        }
    }
}

/// The state file a native child gets: the run's, where anything is preloaded.
fn native_state_file(preloaded: &[PathBuf], kept: Option<PathBuf>) -> Option<PathBuf> {
    kept.filter(|_| !preloaded.is_empty())
}

/// The variable holding HAMi-core's shared state file. HAMi-core writes its limits
/// into that file only when it creates it, so every run gets a fresh one.
pub const SHARED_CACHE_VAR: &str = "CUDA_DEVICE_MEMORY_SHARED_CACHE";

/// One configuration, resolved against the device and the interposer's path.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub name: String,
    /// Variables set for the run (a fresh state file is added per process).
    pub env: BTreeMap<String, String>,
    /// Variables removed beyond the interposer variables every run drops.
    pub remove: Vec<String>,
    /// The variable that names a fresh, empty state file per process, if any.
    pub fresh_state: Option<String>,
    pub expect: Expect,
    /// The interposer library, which must exist before anything runs.
    pub library: Option<PathBuf>,
    /// Commands run before the configuration's first round and after its last.
    pub setup: Option<Hook>,
    pub teardown: Option<Hook>,
    /// The suite runs a private MPS control daemon for this configuration.
    pub mps: bool,
}

/// `<pct>` or `<pct>-<GiB>` of an `mps-` name: a percentage from 1 to 100 and a
/// memory limit of at least 1 GiB.
fn parse_mps(spec: &str) -> Option<ConfigEntry> {
    let (pct, gib) = match spec.split_once('-') {
        Some((pct, gib)) => (pct, Some(gib.parse::<u64>().ok().filter(|g| *g >= 1)?)),
        None => (spec, None),
    };
    let pct = pct.parse().ok().filter(|p| (1..=100).contains(p))?;
    Some(ConfigEntry::mps(pct, gib))
}

impl Config {
    /// A built-in configuration: `native`, or `hami-<pct>` with LD_PRELOAD and
    /// CUDA_REDIRECT naming `hami_lib` (CUDA_REDIRECT is what makes HAMi-core
    /// intercept the dlopen/dlsym path that a dynamically loading client such as this
    /// one takes), SM limit `pct` %, memory limit `pct` % of `physical_mib`.
    pub fn parse(name: &str, hami_lib: &Path, physical_mib: u64) -> Result<Self> {
        Self::lookup(name, hami_lib, &[physical_mib], &[])
    }

    /// A built-in configuration (`current` and `current-uncontrolled` read from this
    /// process's environment), else the entry of that name from a configuration file,
    /// on visible devices of `devices_mib` physical memory each (device 0 first).
    pub fn lookup(
        name: &str,
        hami_lib: &Path,
        devices_mib: &[u64],
        file: &[ConfigEntry],
    ) -> Result<Self> {
        let name = name.trim();
        let entry = if name == "native" {
            Some(ConfigEntry::native())
        } else if name == "current" || name == "current-uncontrolled" {
            let preloaded = current::system_preloaded();
            let vars: BTreeMap<String, String> = std::env::vars().collect();
            Some(current::entry(
                &vars,
                &preloaded,
                name == "current-uncontrolled",
            )?)
        } else if let Some(spec) = name.strip_prefix("mps-") {
            parse_mps(spec)
        } else if let Some(pct) = name.strip_prefix("hami-") {
            pct.parse()
                .ok()
                .filter(|p| (1..=100).contains(p))
                .map(|pct| ConfigEntry::hami(pct, hami_lib))
        } else {
            None
        };
        // A file's names may share a built-in prefix (hami-dev0-20g, mps-file-50).
        let entry = entry.or_else(|| file.iter().find(|e| e.name == name).cloned());
        entry
            .map(|e| e.resolve(devices_mib))
            .ok_or_else(|| Error::UnknownConfig(name.to_string()))
    }

    /// Parses a comma-separated list of built-in names and names from `file`,
    /// refusing duplicates and unknown names.
    pub fn parse_list(
        list: &str,
        hami_lib: &Path,
        devices_mib: &[u64],
        file: &[ConfigEntry],
    ) -> Result<Vec<Self>> {
        let mut out: Vec<Self> = Vec::new();
        for name in list.split(',').filter(|n| !n.trim().is_empty()) {
            let config = Self::lookup(name, hami_lib, devices_mib, file)?;
            if out.iter().any(|c| c.name == config.name) {
                return Err(Error::Invalid(format!(
                    "configuration '{}' is listed twice",
                    config.name
                )));
            }
            out.push(config);
        }
        if out.is_empty() {
            return Err(Error::Invalid("--configs names no configuration".into()));
        }
        Ok(out)
    }

    /// The record saved in run.json, with the per-run cache path included.
    pub fn record(&self, env: &BTreeMap<String, String>) -> ConfigRecord {
        ConfigRecord {
            name: self.name.clone(),
            env: env.clone(),
            sm_limit_pct: self.expect.sm_limit_pct,
            mem_limit_mib: self.expect.mem_limit_mib,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn native_children_get_the_runs_state_file_only_under_a_system_preload() {
        let kept = Some(PathBuf::from("/scratch/native.cache"));
        assert_eq!(native_state_file(&[], kept.clone()), None);
        let preloaded = [PathBuf::from("/usr/local/vgpu/libvgpu.so")];
        assert_eq!(native_state_file(&preloaded, kept.clone()), kept);
        assert_eq!(native_state_file(&preloaded, None), None);
    }

    const LIB: &str = "/opt/vgpu/libvgpu.so";

    #[test]
    fn native_sets_nothing_and_expects_nothing() {
        let c = Config::parse("native", Path::new(LIB), 81559).unwrap();
        assert!(c.env.is_empty());
        assert_eq!(c.expect, Expect::default());
        assert_eq!(c.library, None);
    }

    #[test]
    fn hami_sets_preload_redirect_and_both_limits() {
        let c = Config::parse("hami-25", Path::new(LIB), 81559).unwrap();
        assert_eq!(c.env["LD_PRELOAD"], LIB);
        assert_eq!(c.env["CUDA_REDIRECT"], LIB);
        assert_eq!(c.env["CUDA_DEVICE_SM_LIMIT"], "25");
        assert_eq!(c.env["CUDA_DEVICE_MEMORY_LIMIT"], "20389m");
        assert_eq!(c.expect.mem_limit_mib, Some(20389));
        assert_eq!(c.expect.sm_limit_pct, Some(25));
        assert!(c.expect.interposer);
        assert!(
            !c.env.contains_key(SHARED_CACHE_VAR),
            "the cache file is per run"
        );
    }

    #[test]
    fn hami_on_several_devices_limits_each_by_its_own_memory() {
        let devices = Config::lookup("hami-50", Path::new(LIB), &[81559, 143155], &[]).unwrap();
        assert_eq!(devices.env["CUDA_DEVICE_MEMORY_LIMIT"], "40779m");
        assert_eq!(devices.env["CUDA_DEVICE_MEMORY_LIMIT_0"], "40779m");
        assert_eq!(devices.env["CUDA_DEVICE_MEMORY_LIMIT_1"], "71577m");
        assert_eq!(devices.expect.mem_limit_mib, Some(40779));
        let one = Config::parse("hami-50", Path::new(LIB), 81559).unwrap();
        assert!(!one
            .env
            .keys()
            .any(|k| k.starts_with("CUDA_DEVICE_MEMORY_LIMIT_")));
        let native = Config::lookup("native", Path::new(LIB), &[1000, 2000], &[]).unwrap();
        assert!(!native
            .env
            .keys()
            .any(|k| k.starts_with("CUDA_DEVICE_MEMORY_LIMIT")));
    }

    #[test]
    fn out_of_range_or_unknown_names_are_refused() {
        for bad in ["hami-0", "hami-101", "hami-x", "mps", "hami-"] {
            let err = Config::parse(bad, Path::new(LIB), 1000).unwrap_err();
            assert!(matches!(err, Error::UnknownConfig(_)), "{bad}: {err}");
        }
    }

    #[test]
    fn mps_names_set_the_active_threads_and_pinned_memory_of_a_daemon_of_its_own() {
        let c = Config::parse("mps-25-20", Path::new(LIB), 143_155).unwrap();
        assert!(c.mps);
        assert_eq!(c.env["CUDA_MPS_ACTIVE_THREAD_PERCENTAGE"], "25");
        assert_eq!(c.env["CUDA_MPS_PINNED_DEVICE_MEM_LIMIT"], "0=20G");
        assert!(
            !c.env.contains_key("CUDA_MPS_PIPE_DIRECTORY"),
            "a private one per run"
        );
        assert_eq!(
            c.expect,
            Expect {
                interposer: false,
                mem_limit_mib: Some(20480),
                sm_limit_pct: Some(25),
                memory_in_free: true,
                sm_partition: true,
                device_mem_limits_mib: Vec::new(),
            }
        );
        assert_eq!(c.library, None);
        let full = Config::parse("mps-100", Path::new(LIB), 143_155).unwrap();
        assert_eq!(full.expect.mem_limit_mib, None);
        assert!(!full.expect.sm_partition, "all SMs at 100 %");
        for bad in [
            "mps-0", "mps-101", "mps-50-0", "mps-50-x", "mps-", "mps-50-",
        ] {
            assert!(
                matches!(
                    Config::parse(bad, Path::new(LIB), 1000),
                    Err(Error::UnknownConfig(_))
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn per_device_limits_count_as_interposer_variables() {
        for name in [
            "LD_PRELOAD",
            "CUDA_DEVICE_MEMORY_LIMIT",
            "CUDA_DEVICE_MEMORY_LIMIT_0",
            "CUDA_DEVICE_SM_LIMIT_12",
        ] {
            assert!(is_interposer_var(name), "{name}");
        }
        for name in [
            "CUDA_DEVICE_MEMORY_LIMIT_",
            "CUDA_DEVICE_SM_LIMIT_X",
            "PATH",
        ] {
            assert!(!is_interposer_var(name), "{name}");
        }
    }

    #[test]
    fn lists_refuse_duplicates_and_emptiness() {
        let l = Config::parse_list("native, hami-50", Path::new(LIB), &[1000], &[]).unwrap();
        assert_eq!(l.len(), 2);
        assert!(Config::parse_list("native,native", Path::new(LIB), &[1000], &[]).is_err());
        assert!(Config::parse_list(",", Path::new(LIB), &[1000], &[]).is_err());
    }
}
