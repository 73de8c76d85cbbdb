//! Configurations from a TOML file (`--config-file`): any interposer, any limits, in
//! the one model the built-ins use too. `native` and `hami-<pct>` are
//! [`ConfigEntry`]s built in code and resolved by the same [`ConfigEntry::resolve`],
//! so a file entry and a built-in of the same content run identically.

use super::config::{Config, SHARED_CACHE_VAR};
use crate::error::{io_at, Error, Result};
use crate::system::Expect;
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// MiB of a HAMi-core memory limit as its variables take it: a number with a
/// suffix of g, m or k (either case), or bytes without one.
pub fn parse_limit_mib(text: &str) -> Option<u64> {
    let text = text.trim();
    let (number, unit) = match text.char_indices().last()? {
        (i, c) if c.is_ascii_alphabetic() => (&text[..i], c.to_ascii_lowercase()),
        _ => (text, 'b'),
    };
    let n: u64 = number.parse().ok()?;
    match unit {
        'g' => n.checked_mul(1024),
        'm' => Some(n),
        'k' => Some(n / 1024),
        'b' => Some(n >> 20),
        _ => None,
    }
}

/// The memory limit of each of `n` visible devices under `env`, device 0's the
/// `first` the configuration promises: HAMi-core takes CUDA_DEVICE_MEMORY_LIMIT_<i>
/// for device i, else the plain CUDA_DEVICE_MEMORY_LIMIT, for every device.
fn device_limits_mib(env: &BTreeMap<String, String>, n: usize, first: u64) -> Vec<u64> {
    let read = |var: &str| env.get(var).and_then(|v| parse_limit_mib(v));
    std::iter::once(first)
        .chain((1..n).map(|i| {
            read(&format!("CUDA_DEVICE_MEMORY_LIMIT_{i}"))
                .or_else(|| read("CUDA_DEVICE_MEMORY_LIMIT"))
                .unwrap_or(first)
        }))
        .collect()
}

/// A whole configuration file: `[[config]]` tables.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    config: Vec<ConfigEntry>,
}

/// One configuration as written in a file.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigEntry {
    pub name: String,
    /// Variables set for the run.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Variables removed from the run's environment, beyond the interposer
    /// variables every configuration removes.
    #[serde(default)]
    pub remove: Vec<String>,
    /// The interposer library, set as LD_PRELOAD; it must exist before anything runs.
    pub preload: Option<PathBuf>,
    /// Also name the library in CUDA_REDIRECT: HAMi-core intercepts the
    /// dlopen/dlsym path of a dynamically loading client only then.
    #[serde(default)]
    pub redirect: bool,
    /// A variable that gets a fresh, empty state file per process (HAMi-core's
    /// CUDA_DEVICE_MEMORY_SHARED_CACHE keeps the limits of the run that made it).
    pub fresh_state: Option<String>,
    #[serde(default)]
    pub expect: ExpectEntry,
    /// Which verification checks apply; every check whose limit is expected when
    /// absent.
    pub checks: Option<Vec<Check>>,
    /// Run before the configuration's first round (e.g. start a daemon).
    pub setup: Option<Hook>,
    /// Run after its last round, also when a round failed.
    pub teardown: Option<Hook>,
    /// The suite starts an MPS control daemon of its own for this configuration
    /// (built-in `mps-<pct>` only): its limits show in free memory and as an SM
    /// partition.
    #[serde(skip)]
    pub mps: bool,
}

/// The limits a configuration promises, as written in a file.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectEntry {
    pub memory_mib: Option<u64>,
    /// The memory limit as a percentage of the physical memory.
    pub memory_pct: Option<u32>,
    pub sm_pct: Option<u32>,
}

/// A verification check a configuration asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Check {
    /// The preloaded library is mapped into the process.
    Interposer,
    /// cuMemGetInfo reports the limit and an allocation past it is refused.
    Memory,
    /// The SM share delivered to throughput-bound work, per kernel shape.
    Sm,
}

/// A command run around a configuration's rounds, with a time limit.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Hook {
    /// The program and its arguments; no shell unless the first word is one.
    pub command: Vec<String>,
    #[serde(default = "Hook::default_timeout_s")]
    pub timeout_s: f64,
}

impl Hook {
    fn default_timeout_s() -> f64 {
        30.0
    }

    pub fn timeout(&self) -> Duration {
        Duration::from_secs_f64(self.timeout_s)
    }
}

/// Names a configuration file may not take: the built-ins' own.
fn is_builtin_name(name: &str) -> bool {
    let numbered = |prefix: &str| {
        name.strip_prefix(prefix)
            .is_some_and(|rest| rest.bytes().all(|b| b.is_ascii_digit() || b == b'-'))
    };
    ["native", "current", "current-uncontrolled"].contains(&name)
        || numbered("hami-")
        || numbered("mps-")
}

impl ConfigEntry {
    /// `native`: nothing set, nothing expected.
    pub fn native() -> Self {
        Self::named("native")
    }

    /// `hami-<pct>`: HAMi-core preloaded and redirected, SM limit `pct` %, memory
    /// limit `pct` % of the physical memory, a fresh shared state file per process.
    pub fn hami(pct: u32, lib: &Path) -> Self {
        Self {
            env: BTreeMap::from([("CUDA_DEVICE_SM_LIMIT".into(), pct.to_string())]),
            preload: Some(lib.to_path_buf()),
            redirect: true,
            fresh_state: Some(SHARED_CACHE_VAR.into()),
            expect: ExpectEntry {
                memory_pct: Some(pct),
                sm_pct: Some(pct),
                memory_mib: None,
            },
            ..Self::named(&format!("hami-{pct}"))
        }
    }

    pub(super) fn named(name: &str) -> Self {
        Self {
            name: name.into(),
            env: BTreeMap::new(),
            remove: Vec::new(),
            preload: None,
            redirect: false,
            fresh_state: None,
            expect: ExpectEntry::default(),
            checks: None,
            setup: None,
            teardown: None,
            mps: false,
        }
    }

    /// `mps-<pct>` or `mps-<pct>-<GiB>`: a client of an MPS daemon the suite starts,
    /// at `pct` % active threads and, with `gib`, that much pinned device memory.
    pub fn mps(pct: u32, gib: Option<u64>) -> Self {
        let mut env =
            BTreeMap::from([("CUDA_MPS_ACTIVE_THREAD_PERCENTAGE".into(), pct.to_string())]);
        if let Some(gib) = gib {
            env.insert(
                "CUDA_MPS_PINNED_DEVICE_MEM_LIMIT".into(),
                format!("0={gib}G"),
            );
        }
        let name = match gib {
            Some(gib) => format!("mps-{pct}-{gib}"),
            None => format!("mps-{pct}"),
        };
        Self {
            env,
            expect: ExpectEntry {
                memory_mib: gib.map(|g| g * 1024),
                memory_pct: None,
                sm_pct: Some(pct),
            },
            mps: true,
            ..Self::named(&name)
        }
    }

    /// The configuration this entry describes on visible devices of `devices_mib`
    /// physical memory each (device 0 first): the memory limit in MiB (from a
    /// percentage of device 0's where given that way) is also set as
    /// CUDA_DEVICE_MEMORY_LIMIT where the entry does not set it itself, as HAMi-core
    /// reads it; with several devices a percentage is also set per device
    /// (CUDA_DEVICE_MEMORY_LIMIT_<i>, which HAMi-core prefers), since their memory may
    /// differ. Verification reads device 0.
    pub fn resolve(&self, devices_mib: &[u64]) -> Config {
        let physical_mib = devices_mib.first().copied().unwrap_or(0);
        let mem_limit_mib = self.expect.memory_mib.or_else(|| {
            self.expect
                .memory_pct
                .map(|p| physical_mib * u64::from(p) / 100)
        });
        let checks = self.checks();
        let mut env = self.env.clone();
        if let Some(lib) = &self.preload {
            let lib = lib.to_string_lossy().to_string();
            if self.redirect {
                env.insert("CUDA_REDIRECT".into(), lib.clone());
            }
            env.insert("LD_PRELOAD".into(), lib);
        }
        if let (Some(mib), true) = (mem_limit_mib, self.preload.is_some()) {
            let own = env.contains_key("CUDA_DEVICE_MEMORY_LIMIT");
            env.entry("CUDA_DEVICE_MEMORY_LIMIT".into())
                .or_insert_with(|| format!("{mib}m"));
            if let (Some(pct), false, true) = (self.expect.memory_pct, own, devices_mib.len() > 1) {
                for (i, device_mib) in devices_mib.iter().enumerate() {
                    env.entry(format!("CUDA_DEVICE_MEMORY_LIMIT_{i}"))
                        .or_insert_with(|| format!("{}m", device_mib * u64::from(pct) / 100));
                }
            }
        }
        let several = self.preload.is_some() && !self.mps && devices_mib.len() > 1;
        let device_mem_limits_mib = match mem_limit_mib.filter(|_| checks.contains(&Check::Memory))
        {
            Some(first) if several => device_limits_mib(&env, devices_mib.len(), first),
            _ => Vec::new(),
        };
        Config {
            name: self.name.clone(),
            env,
            remove: self.remove.clone(),
            fresh_state: self.fresh_state.clone(),
            expect: Expect {
                interposer: checks.contains(&Check::Interposer),
                mem_limit_mib: mem_limit_mib.filter(|_| checks.contains(&Check::Memory)),
                sm_limit_pct: self.expect.sm_pct.filter(|_| checks.contains(&Check::Sm)),
                memory_in_free: self.mps,
                sm_partition: self.mps && self.expect.sm_pct.is_some_and(|p| p < 100),
                device_mem_limits_mib,
            },
            mps: self.mps,
            library: self.preload.clone(),
            setup: self.setup.clone(),
            teardown: self.teardown.clone(),
        }
    }

    /// The checks that apply: as written, else each one whose subject is there.
    fn checks(&self) -> BTreeSet<Check> {
        match &self.checks {
            Some(list) => list.iter().copied().collect(),
            None => [
                self.preload.as_ref().map(|_| Check::Interposer),
                (self.expect.memory_mib.is_some() || self.expect.memory_pct.is_some())
                    .then_some(Check::Memory),
                self.expect.sm_pct.map(|_| Check::Sm),
            ]
            .into_iter()
            .flatten()
            .collect(),
        }
    }

    /// Why the entry cannot run, with the fix, if it cannot.
    fn problem(&self) -> Option<String> {
        let pct_ok = |p: Option<u32>| p.is_none_or(|p| (1..=100).contains(&p));
        let checks = self.checks();
        if self.name.trim().is_empty() || self.name.contains(['/', ',', ' ']) {
            return Some("give it a name without spaces, commas or slashes".into());
        }
        if is_builtin_name(&self.name) {
            return Some(format!(
                "'{}' is a built-in configuration's name; choose another",
                self.name
            ));
        }
        if self.expect.memory_mib.is_some() && self.expect.memory_pct.is_some() {
            return Some("set expect.memory_mib or expect.memory_pct, not both".into());
        }
        if !pct_ok(self.expect.memory_pct) || !pct_ok(self.expect.sm_pct) {
            return Some("percentages in expect are from 1 to 100".into());
        }
        if checks.contains(&Check::Interposer) && self.preload.is_none() {
            return Some("the interposer check needs a preload library".into());
        }
        if checks.contains(&Check::Memory)
            && self.expect.memory_mib.is_none()
            && self.expect.memory_pct.is_none()
        {
            return Some("the memory check needs expect.memory_mib or expect.memory_pct".into());
        }
        if checks.contains(&Check::Sm) && self.expect.sm_pct.is_none() {
            return Some("the sm check needs expect.sm_pct".into());
        }
        for hook in [&self.setup, &self.teardown].into_iter().flatten() {
            if hook.command.is_empty() {
                return Some("a setup or teardown command needs at least a program".into());
            }
            if !(hook.timeout_s > 0.0 && hook.timeout_s.is_finite()) {
                return Some("timeout_s must be a positive number of seconds".into());
            }
        }
        None
    }
}

/// Reads `path`: every entry checked before anything runs, each failure one line
/// naming the file, the entry and the fix.
pub fn load(path: &Path) -> Result<Vec<ConfigEntry>> {
    let text = std::fs::read_to_string(path).map_err(io_at(path))?;
    let file: ConfigFile = toml::from_str(&text).map_err(|e| {
        let line = e
            .span()
            .map(|span| text[..span.start].matches('\n').count() + 1);
        let message = e.message().lines().collect::<Vec<_>>().join(" ");
        Error::ConfigFile {
            path: path.to_path_buf(),
            detail: match line {
                Some(line) => format!("line {line}: {message}"),
                None => message,
            },
        }
    })?;
    let mut seen = BTreeSet::new();
    for entry in &file.config {
        if !seen.insert(entry.name.as_str()) {
            return Err(Error::ConfigFile {
                path: path.to_path_buf(),
                detail: format!("configuration '{}' is defined twice", entry.name),
            });
        }
        if let Some(problem) = entry.problem() {
            return Err(Error::ConfigFile {
                path: path.to_path_buf(),
                detail: format!("configuration '{}': {problem}", entry.name),
            });
        }
    }
    Ok(file.config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hami_limits_parse_in_their_units() {
        assert_eq!(parse_limit_mib("20389m"), Some(20389));
        assert_eq!(parse_limit_mib("20G"), Some(20480));
        assert_eq!(parse_limit_mib("2097152k"), Some(2048));
        assert_eq!(parse_limit_mib("1073741824"), Some(1024));
        assert_eq!(parse_limit_mib(" 40g "), Some(40960));
        assert_eq!(parse_limit_mib("20x"), None);
        assert_eq!(parse_limit_mib("m"), None);
        assert_eq!(parse_limit_mib(""), None);
    }

    #[test]
    fn each_device_is_expected_at_its_own_limit_else_the_plain_one() {
        let env = BTreeMap::from([
            ("CUDA_DEVICE_MEMORY_LIMIT".to_string(), "10g".to_string()),
            (
                "CUDA_DEVICE_MEMORY_LIMIT_2".to_string(),
                "30000m".to_string(),
            ),
        ]);
        assert_eq!(device_limits_mib(&env, 3, 10240), vec![10240, 10240, 30000]);
        assert_eq!(device_limits_mib(&BTreeMap::new(), 2, 500), vec![500, 500]);
        assert_eq!(device_limits_mib(&env, 1, 10240), vec![10240]);
    }

    #[test]
    fn hami_on_several_devices_expects_every_devices_limit_and_one_device_none() {
        let entry = ConfigEntry::hami(50, Path::new("/x/libvgpu.so"));
        let several = entry.resolve(&[81559, 143155]);
        assert_eq!(several.expect.device_mem_limits_mib, vec![40779, 71577]);
        assert_eq!(several.expect.mem_limit_mib, Some(40779));
        assert!(entry
            .resolve(&[81559])
            .expect
            .device_mem_limits_mib
            .is_empty());
        assert!(ConfigEntry::native()
            .resolve(&[81559, 143155])
            .expect
            .device_mem_limits_mib
            .is_empty());
        let mps = ConfigEntry::mps(50, Some(20)).resolve(&[81559, 143155]);
        assert!(
            mps.expect.device_mem_limits_mib.is_empty(),
            "MPS limits device 0's free memory"
        );
    }

    const LIB: &str = "/opt/vgpu/libvgpu.so";

    fn parse(text: &str) -> Result<Vec<ConfigEntry>> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("configs.toml");
        std::fs::write(&path, text).unwrap();
        load(&path)
    }

    #[test]
    fn each_built_in_written_as_a_file_gives_the_same_configuration() {
        let file = parse(&format!(
            r#"
            [[config]]
            name = "nothing"

            [[config]]
            name = "hami-like-25"
            preload = "{LIB}"
            redirect = true
            fresh_state = "CUDA_DEVICE_MEMORY_SHARED_CACHE"
            env = {{ CUDA_DEVICE_SM_LIMIT = "25" }}
            expect = {{ memory_pct = 25, sm_pct = 25 }}
            "#
        ))
        .unwrap();
        let rename = |mut c: Config, name: &str| {
            c.name = name.into();
            c
        };
        assert_eq!(
            rename(file[0].resolve(&[81559]), "native"),
            Config::parse("native", Path::new(LIB), 81559).unwrap()
        );
        assert_eq!(
            rename(file[1].resolve(&[81559]), "hami-25"),
            Config::parse("hami-25", Path::new(LIB), 81559).unwrap()
        );
    }

    #[test]
    fn a_second_interposer_gets_its_own_variables_checks_and_hooks() {
        let file = parse(
            r#"
            [[config]]
            name = "manager-50"
            preload = "/opt/manager/libcontrol.so"
            env = { MANAGER_SM = "50", MANAGER_MEM = "40000m" }
            remove = ["MANAGER_DEBUG"]
            expect = { memory_mib = 40000, sm_pct = 50 }
            checks = ["interposer", "memory"]
            setup = { command = ["true"], timeout_s = 5 }
            "#,
        )
        .unwrap();
        let c = file[0].resolve(&[81559]);
        assert_eq!(c.env["LD_PRELOAD"], "/opt/manager/libcontrol.so");
        assert!(!c.env.contains_key("CUDA_REDIRECT"));
        assert_eq!(c.env["CUDA_DEVICE_MEMORY_LIMIT"], "40000m");
        assert_eq!(c.remove, ["MANAGER_DEBUG"]);
        assert_eq!(c.fresh_state, None);
        assert_eq!(
            c.expect,
            Expect {
                interposer: true,
                mem_limit_mib: Some(40000),
                sm_limit_pct: None,
                ..Expect::default()
            },
            "the sm check was not asked for"
        );
        assert_eq!(c.setup.unwrap().timeout(), Duration::from_secs(5));
    }

    #[test]
    fn bad_files_say_which_file_entry_and_fix_in_one_line() {
        let cases = [
            (
                "[[config]]\nname = \"a\"\nlimit = 3\n",
                "unknown field `limit`",
            ),
            (
                "[[config]]\nname = \"a\"\n[[config]]\nname = \"a\"\n",
                "'a' is defined twice",
            ),
            (
                "[[config]]\nname = \"hami-50\"\n",
                "built-in configuration's name",
            ),
            (
                "[[config]]\nname = \"a\"\nexpect = { sm_pct = 150 }\n",
                "from 1 to 100",
            ),
            (
                "[[config]]\nname = \"a\"\nchecks = [\"interposer\"]\n",
                "needs a preload library",
            ),
            (
                "[[config]]\nname = \"a\"\nchecks = [\"sm\"]\n",
                "needs expect.sm_pct",
            ),
            (
                "[[config]]\nname = \"a\"\nsetup = { command = [] }\n",
                "at least a program",
            ),
            ("[[config]\nname = \"a\"\n", "line 1: invalid table header"),
        ];
        for (text, expected) in cases {
            let err = parse(text).unwrap_err().to_string();
            assert!(err.contains(expected), "{text:?}: {err}");
            assert!(err.contains("configs.toml"), "{err}");
            assert_eq!(err.lines().count(), 1, "{err}");
        }
    }

    #[test]
    fn every_shipped_example_loads() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("configs");
        let mut names = Vec::new();
        for file in std::fs::read_dir(&dir).unwrap() {
            let path = file.unwrap().path();
            let entries = load(&path).unwrap_or_else(|e| panic!("{e}"));
            for entry in &entries {
                let config = super::super::Config::lookup(
                    &entry.name,
                    Path::new("/lib.so"),
                    &[143155],
                    &entries,
                )
                .unwrap_or_else(|e| panic!("{}: {e}", entry.name));
                assert_eq!(config.name, entry.name);
                names.push(entry.name.clone());
            }
        }
        names.sort();
        assert_eq!(
            names,
            ["hami-dev0-20g", "mps-file-50", "vgpu-controller-50"]
        );
    }
}
