//! `current`: the configuration this process already has, as a HAMi pod gives it.
//! HAMi's device plugin injects HAMi-core through /etc/ld.so.preload and sets the
//! limits in the environment, so nothing there is native: `native` is refused, and
//! `current-uncontrolled` (HAMi's switch that turns the limiter off) is the pod's
//! reference instead.

use super::config::is_interposer_var;
use super::config_file::{ConfigEntry, ExpectEntry};
use crate::error::{Error, Result};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Where the dynamic loader reads libraries it preloads into every process.
pub const SYSTEM_PRELOAD: &str = "/etc/ld.so.preload";

/// The switch HAMi sets to run a container's HAMi-core with its limits off.
pub const DISABLE_CONTROL_VAR: &str = "CUDA_DISABLE_CONTROL";

/// The libraries this machine's loader preloads into every process.
pub fn system_preloaded() -> Vec<PathBuf> {
    system_preload(Path::new(SYSTEM_PRELOAD))
}

/// The libraries `path` (an ld.so.preload file) names, where it exists.
pub fn system_preload(path: &Path) -> Vec<PathBuf> {
    std::fs::read_to_string(path)
        .map(|text| {
            text.lines()
                .map(|line| line.split('#').next().unwrap_or_default())
                .flat_map(|line| line.split([' ', ':', '\t']))
                .filter(|word| !word.is_empty())
                .map(PathBuf::from)
                .collect()
        })
        .unwrap_or_default()
}

/// A limit as HAMi-core reads it: a number of bytes with an optional K, M or G
/// suffix (powers of 1024); 0 is no limit. In MiB.
fn memory_limit_mib(var: &str, value: &str) -> Result<Option<u64>> {
    let value = value.trim();
    let (digits, scale) = match value.char_indices().last() {
        Some((i, 'g' | 'G')) => (&value[..i], 1u64 << 30),
        Some((i, 'm' | 'M')) => (&value[..i], 1 << 20),
        Some((i, 'k' | 'K')) => (&value[..i], 1 << 10),
        _ => (value, 1),
    };
    let bytes = digits
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(scale))
        .ok_or_else(|| {
            Error::Invalid(format!(
                "{var}={value} is no limit HAMi-core reads (bytes, or a number with K, M or G)"
            ))
        })?;
    Ok((bytes > 0).then_some(bytes >> 20))
}

/// A percentage limit as HAMi-core reads it; 0 and 100 are no limit.
fn sm_limit_pct(var: &str, value: &str) -> Result<Option<u32>> {
    let pct: u32 = value.trim().parse().map_err(|_| {
        Error::Invalid(format!(
            "{var}={value} is no SM limit (a percentage from 0 to 100)"
        ))
    })?;
    match pct {
        0 | 100 => Ok(None),
        1..=99 => Ok(Some(pct)),
        _ => Err(Error::Invalid(format!(
            "{var}={value} is no SM limit (a percentage from 0 to 100)"
        ))),
    }
}

/// Device 0's value of a limit: its per-device variable overrides the plain one,
/// as in HAMi-core.
fn device0<'a>(vars: &'a BTreeMap<String, String>, var: &str) -> Option<(String, &'a str)> {
    let per_device = format!("{var}_0");
    vars.get(&per_device)
        .map(|v| (per_device, v.as_str()))
        .or_else(|| vars.get(var).map(|v| (var.to_owned(), v.as_str())))
}

/// `current` (limits as the environment sets them) or, with `uncontrolled`,
/// `current-uncontrolled` (the same interposer, its control switched off, no limits
/// expected), from the variables `vars` and the system preload list `preloaded`.
/// The state file stays as the pod has it: its containers share it.
pub fn entry(
    vars: &BTreeMap<String, String>,
    preloaded: &[PathBuf],
    uncontrolled: bool,
) -> Result<ConfigEntry> {
    let mut env: BTreeMap<String, String> = vars
        .iter()
        .filter(|(name, _)| is_interposer_var(name))
        .map(|(name, value)| (name.clone(), value.clone()))
        .collect();
    let preload = env
        .remove("LD_PRELOAD")
        .and_then(|list| {
            list.split([':', ' '])
                .find(|s| !s.is_empty())
                .map(PathBuf::from)
        })
        .or_else(|| preloaded.first().cloned());
    let mut expect = ExpectEntry::default();
    let name = if uncontrolled {
        env.insert(DISABLE_CONTROL_VAR.into(), "true".into());
        "current-uncontrolled"
    } else {
        if let Some((var, value)) = device0(vars, "CUDA_DEVICE_MEMORY_LIMIT") {
            expect.memory_mib = memory_limit_mib(&var, value)?;
        }
        if let Some((var, value)) = device0(vars, "CUDA_DEVICE_SM_LIMIT") {
            expect.sm_pct = sm_limit_pct(&var, value)?;
        }
        "current"
    };
    Ok(ConfigEntry {
        env,
        redirect: vars.contains_key("CUDA_REDIRECT"),
        preload,
        expect,
        ..ConfigEntry::named(name)
    })
}

/// Refuses `native` where the loader preloads an interposer into every process:
/// no run here is native, and calling one so would hide the interposer's cost.
pub fn refuse_native_under(preloaded: &[PathBuf]) -> Result<()> {
    match preloaded.first() {
        Some(lib) => Err(Error::Invalid(format!(
            "native: {SYSTEM_PRELOAD} loads {} into every process here, so no run is native; \
             run `current` for this pod's configuration and `current-uncontrolled` as its reference",
            lib.display()
        ))),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn limits_are_read_as_hami_core_reads_them() {
        assert_eq!(memory_limit_mib("V", "20480m").unwrap(), Some(20480));
        assert_eq!(memory_limit_mib("V", "20G").unwrap(), Some(20480));
        assert_eq!(memory_limit_mib("V", "1073741824").unwrap(), Some(1024));
        assert_eq!(memory_limit_mib("V", "0").unwrap(), None);
        assert!(memory_limit_mib("V", "lots")
            .unwrap_err()
            .to_string()
            .contains("V=lots"));
        assert_eq!(sm_limit_pct("V", "30").unwrap(), Some(30));
        assert_eq!(sm_limit_pct("V", "100").unwrap(), None);
        assert!(sm_limit_pct("V", "130").is_err());
    }

    #[test]
    fn a_pod_gives_its_preload_limits_and_state_file_as_they_are() {
        let pod = vars(&[
            ("CUDA_DEVICE_MEMORY_LIMIT", "71577m"),
            ("CUDA_DEVICE_MEMORY_LIMIT_0", "10000m"),
            ("CUDA_DEVICE_SM_LIMIT", "30"),
            ("CUDA_DEVICE_MEMORY_SHARED_CACHE", "/tmp/vgpu/pod.cache"),
            ("PATH", "/usr/bin"),
        ]);
        let preloaded = [PathBuf::from("/usr/local/vgpu/libvgpu.so")];
        let c = entry(&pod, &preloaded, false).unwrap().resolve(&[143_155]);
        assert_eq!(c.name, "current");
        assert_eq!(
            c.expect.mem_limit_mib,
            Some(10000),
            "the per-device limit wins"
        );
        assert_eq!(c.expect.sm_limit_pct, Some(30));
        assert!(c.expect.interposer);
        assert_eq!(c.library, preloaded.first().cloned());
        assert_eq!(c.env["CUDA_DEVICE_MEMORY_LIMIT_0"], "10000m");
        assert_eq!(
            c.env["CUDA_DEVICE_MEMORY_SHARED_CACHE"],
            "/tmp/vgpu/pod.cache"
        );
        assert_eq!(c.env["LD_PRELOAD"], "/usr/local/vgpu/libvgpu.so");
        assert!(!c.env.contains_key("PATH"));
        assert_eq!(c.fresh_state, None, "the pod's own state file");

        let reference = entry(&pod, &preloaded, true).unwrap().resolve(&[143_155]);
        assert_eq!(reference.name, "current-uncontrolled");
        assert_eq!(reference.env[DISABLE_CONTROL_VAR], "true");
        assert_eq!(
            (
                reference.expect.mem_limit_mib,
                reference.expect.sm_limit_pct
            ),
            (None, None)
        );
        assert!(reference.expect.interposer);
    }

    #[test]
    fn native_is_refused_where_the_loader_preloads_an_interposer() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("ld.so.preload");
        std::fs::write(
            &file,
            "# injected by the device plugin\n/usr/local/vgpu/libvgpu.so\n",
        )
        .unwrap();
        let preloaded = system_preload(&file);
        assert_eq!(preloaded, [PathBuf::from("/usr/local/vgpu/libvgpu.so")]);
        let err = refuse_native_under(&preloaded).unwrap_err().to_string();
        assert!(
            err.contains("libvgpu.so") && err.contains("current-uncontrolled"),
            "{err}"
        );
        assert!(system_preload(&dir.path().join("absent")).is_empty());
        assert!(refuse_native_under(&[]).is_ok());
    }
}
