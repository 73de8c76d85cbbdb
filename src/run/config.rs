//! Configurations: the environment each run's process gets, and what it promises.

use crate::baseline::ConfigRecord;
use crate::error::{Error, Result};
use crate::system::Expect;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

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

/// The variable holding HAMi-core's shared state file. HAMi-core writes its limits
/// into that file only when it creates it, so every run gets a fresh one.
pub const SHARED_CACHE_VAR: &str = "CUDA_DEVICE_MEMORY_SHARED_CACHE";

/// One configuration, resolved against the device and the interposer's path.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub name: String,
    /// Variables set for the run (the shared cache file is added per run).
    pub env: BTreeMap<String, String>,
    pub expect: Expect,
    /// The interposer library, which must exist before anything runs.
    pub library: Option<PathBuf>,
}

impl Config {
    /// `native` or `hami-<pct>`: LD_PRELOAD and CUDA_REDIRECT name `hami_lib`
    /// (CUDA_REDIRECT is what makes HAMi-core intercept the dlopen/dlsym path that
    /// a dynamically loading client such as this one takes), SM limit `pct` %, memory
    /// limit `pct` % of `physical_mib`.
    pub fn parse(name: &str, hami_lib: &Path, physical_mib: u64) -> Result<Self> {
        let name = name.trim();
        if name == "native" {
            return Ok(Self {
                name: name.into(),
                env: BTreeMap::new(),
                expect: Expect::default(),
                library: None,
            });
        }
        let pct: u32 = name
            .strip_prefix("hami-")
            .and_then(|p| p.parse().ok())
            .filter(|p| (1..=100).contains(p))
            .ok_or_else(|| Error::UnknownConfig(name.to_string()))?;
        let mem_mib = physical_mib * u64::from(pct) / 100;
        let lib = hami_lib.to_string_lossy().to_string();
        let env = BTreeMap::from([
            ("LD_PRELOAD".to_string(), lib.clone()),
            ("CUDA_REDIRECT".to_string(), lib),
            ("CUDA_DEVICE_SM_LIMIT".to_string(), pct.to_string()),
            (
                "CUDA_DEVICE_MEMORY_LIMIT".to_string(),
                format!("{mem_mib}m"),
            ),
        ]);
        Ok(Self {
            name: name.into(),
            env,
            expect: Expect {
                interposer: true,
                mem_limit_mib: Some(mem_mib),
                sm_limit_pct: Some(pct),
            },
            library: Some(hami_lib.to_path_buf()),
        })
    }

    /// Parses a comma-separated list, refusing duplicates and unknown names.
    pub fn parse_list(list: &str, hami_lib: &Path, physical_mib: u64) -> Result<Vec<Self>> {
        let mut out: Vec<Self> = Vec::new();
        for name in list.split(',').filter(|n| !n.trim().is_empty()) {
            let config = Self::parse(name, hami_lib, physical_mib)?;
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
    fn out_of_range_or_unknown_names_are_refused() {
        for bad in ["hami-0", "hami-101", "hami-x", "mps", "hami-"] {
            let err = Config::parse(bad, Path::new(LIB), 1000).unwrap_err();
            assert!(matches!(err, Error::UnknownConfig(_)), "{bad}: {err}");
        }
    }

    #[test]
    fn lists_refuse_duplicates_and_emptiness() {
        let l = Config::parse_list("native, hami-50", Path::new(LIB), 1000).unwrap();
        assert_eq!(l.len(), 2);
        assert!(Config::parse_list("native,native", Path::new(LIB), 1000).is_err());
        assert!(Config::parse_list(",", Path::new(LIB), 1000).is_err());
    }
}
