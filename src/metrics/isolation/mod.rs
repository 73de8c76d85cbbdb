//! Isolation (IS) metrics: several tenants on one GPU, each a process in its own
//! configuration, started together behind a barrier. The parent only starts them,
//! hands out work and joins their reports; every figure is measured in a tenant.

pub mod figures;
mod record;

pub use record::{Pod, Role, ScenarioRecord, TenantRecord, SCENARIO_FILE};

use crate::baseline::write_json_atomic;
use crate::error::{io_at, Error, Result};
use crate::run::child::{self, MemoryFill, Reply, Request};
use crate::run::{Config, SHARED_CACHE_VAR};
use crate::system::ShapeRun;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Folder of the scenarios inside a GPU's export folder.
pub const ISOLATION_DIR: &str = "isolation";
/// The tenants' kernel: many short blocks, the shape a block-counting limiter sees.
const BLOCKS_PER_SM: u32 = 8;
const BLOCK_US: f64 = 100.0;
/// Chunk of the memory fill (IS-001).
const FILL_CHUNK_MIB: u64 = 64;
/// Share windows, as in the verification.
const WINDOW_S: f64 = 0.5;

/// A scenario: which tenants run side by side, and whether they share one HAMi-core
/// state file (one pod) or each has its own (separate pods).
#[derive(Debug, Clone, PartialEq)]
pub struct Scenario {
    pub name: String,
    pub tenants: Vec<(String, Role)>,
    pub pod: Pod,
}

/// The default scenarios: fairness natively and under two limits, and limited victims
/// (measured alone first, which is where IS-003/004 read the limit) beside a limited
/// neighbour and beside an unlimited aggressor.
pub fn default_scenarios() -> Vec<Scenario> {
    let peers = |config: &str, n: usize| (0..n).map(|_| (config.to_string(), Role::Peer)).collect();
    vec![
        Scenario {
            name: "native-x2".into(),
            tenants: peers("native", 2),
            pod: Pod::Separate,
        },
        Scenario {
            name: "hami-50-x2".into(),
            tenants: peers("hami-50", 2),
            pod: Pod::Separate,
        },
        Scenario {
            name: "hami-25-x4".into(),
            tenants: peers("hami-25", 4),
            pod: Pod::Separate,
        },
        Scenario {
            name: "hami-25-victim-hami-25-neighbour".into(),
            tenants: vec![
                ("hami-25".into(), Role::Victim),
                ("hami-25".into(), Role::Peer),
            ],
            pod: Pod::Separate,
        },
        Scenario {
            name: "hami-50-victim-native-aggressor".into(),
            tenants: vec![
                ("hami-50".into(), Role::Victim),
                ("native".into(), Role::Aggressor),
            ],
            pod: Pod::Separate,
        },
    ]
}

/// The default scenarios named in `list` (comma-separated), all of them for `None`;
/// an unknown name is an error naming the known ones.
/// With `pod`, every selected scenario runs its tenants in that pod layout.
pub fn select_scenarios(list: Option<&str>, pod: Option<Pod>) -> Result<Vec<Scenario>> {
    let mut all = default_scenarios();
    if let Some(pod) = pod {
        for scenario in &mut all {
            scenario.pod = pod;
        }
    }
    let Some(list) = list else {
        return Ok(all);
    };
    list.split(',')
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(|name| {
            all.iter().find(|s| s.name == name).cloned().ok_or_else(|| {
                Error::Invalid(format!(
                    "unknown scenario '{name}'; the scenarios are {}",
                    all.iter()
                        .map(|s| s.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            })
        })
        .collect()
}

/// What `gpu-virt-bench isolate` was asked to do.
#[derive(Debug, Clone)]
pub struct IsolationOptions {
    pub scenarios: Vec<Scenario>,
    pub hami_lib: PathBuf,
    pub out: PathBuf,
    pub secs: f64,
    pub force: bool,
}

/// Runs every scenario and writes `<out>/<gpu>/isolation/<scenario>/scenario.json`.
/// Every tenant is killed and reaped when its phase ends, also on error, and the
/// HAMi-core state files live in a folder removed on return.
pub fn run_scenarios(opts: &IsolationOptions) -> Result<Vec<PathBuf>> {
    for scenario in &opts.scenarios {
        let configs = scenario
            .tenants
            .iter()
            .map(|(name, _)| Config::parse(name, &opts.hami_lib, 1))
            .collect::<Result<Vec<_>>>()?;
        crate::run::preflight(&configs)?;
    }
    let device = crate::cuda::Device::get(0)?;
    let facts = crate::system::device_facts(&device)?;
    let root = opts
        .out
        .join(crate::system::slug(&facts.name))
        .join(ISOLATION_DIR);
    let mut resolved = Vec::new();
    for scenario in &opts.scenarios {
        let configs = scenario
            .tenants
            .iter()
            .map(|(name, role)| {
                Ok((
                    Config::parse(name, &opts.hami_lib, facts.memory_mib)?,
                    *role,
                ))
            })
            .collect::<Result<Vec<_>>>()?;
        let dest = root.join(&scenario.name);
        if dest.exists() && !opts.force {
            return Err(Error::BaselineExists(dest));
        }
        resolved.push((scenario, configs, dest));
    }
    std::fs::create_dir_all(&root).map_err(io_at(&root))?;
    let scratch = tempfile::Builder::new()
        .prefix("gpu-virt-bench-isolation-")
        .tempdir()
        .map_err(io_at(std::env::temp_dir()))?;
    let timeout = Duration::from_secs_f64(opts.secs + 120.0);
    let spin = Request::Spin {
        blocks_per_sm: BLOCKS_PER_SM,
        block_us: BLOCK_US,
        secs: opts.secs,
    };

    eprintln!("== reference: one native tenant alone, {} s", opts.secs);
    let native = Config::parse("native", &opts.hami_lib, facts.memory_mib)?;
    let reference = spin_alone(&native.env, &spin, timeout)?;

    let mut written = Vec::new();
    for (scenario, configs, dest) in resolved {
        eprintln!("== {}", scenario.name);
        let envs = tenant_envs(scenario, &configs, scratch.path());
        let alone = configs
            .iter()
            .zip(&envs)
            .map(|((_, role), env)| match role {
                Role::Victim => spin_alone(env, &spin, timeout).map(Some),
                _ => Ok(None),
            })
            .collect::<Result<Vec<_>>>()?;
        let together = spin_together(&envs, &spin, timeout)?;
        let memory = configs
            .iter()
            .zip(&envs)
            .map(|((config, _), env)| match config.expect.mem_limit_mib {
                Some(_) => fill_alone(env, timeout).map(Some),
                None => Ok(None),
            })
            .collect::<Result<Vec<_>>>()?;
        let tenants = configs
            .iter()
            .zip(envs)
            .zip(alone.into_iter().zip(together).zip(memory))
            .enumerate()
            .map(
                |(i, (((config, role), env), ((alone, together), memory)))| {
                    TenantRecord::new(
                        format!("t{}", i + 1),
                        config,
                        *role,
                        env,
                        Measured {
                            alone,
                            together,
                            memory,
                        },
                        &reference,
                        WINDOW_S,
                    )
                },
            )
            .collect();
        let record =
            ScenarioRecord::new(scenario, opts.secs, WINDOW_S, &facts, &reference, tenants);
        written.push(save(&record, &dest)?);
    }
    Ok(written)
}

/// Each tenant's environment: its configuration's, plus a HAMi-core state file in
/// `state_dir`, one per tenant (separate pods) or one for all (one pod). The files
/// do not exist yet, so HAMi-core writes each tenant's limits afresh.
fn tenant_envs(
    scenario: &Scenario,
    configs: &[(Config, Role)],
    state_dir: &Path,
) -> Vec<BTreeMap<String, String>> {
    configs
        .iter()
        .enumerate()
        .map(|(i, (config, _))| {
            let mut env = config.env.clone();
            if config.library.is_some() {
                let file = match scenario.pod {
                    Pod::Shared => format!("{}.cache", scenario.name),
                    Pod::Separate => format!("{}-{i}.cache", scenario.name),
                };
                env.insert(
                    SHARED_CACHE_VAR.into(),
                    state_dir.join(file).to_string_lossy().into_owned(),
                );
            }
            env
        })
        .collect()
}

/// What the tenants of a scenario reported, before the figures are derived.
pub struct Measured {
    pub alone: Option<ShapeRun>,
    pub together: ShapeRun,
    pub memory: Option<MemoryFill>,
}

fn spin_alone(
    env: &BTreeMap<String, String>,
    spin: &Request,
    timeout: Duration,
) -> Result<ShapeRun> {
    spin_together(std::slice::from_ref(env), spin, timeout)?
        .pop()
        .ok_or_else(|| Error::Invalid("a tenant gave no report".into()))
}

fn spin_together(
    envs: &[BTreeMap<String, String>],
    spin: &Request,
    timeout: Duration,
) -> Result<Vec<ShapeRun>> {
    let mut tenants = child::spawn_servers_with(envs)?;
    child::broadcast(&mut tenants, spin, timeout)?
        .into_iter()
        .map(|reply| match reply {
            Reply::Spin(run) => Ok(run),
            other => Err(other.unexpected()),
        })
        .collect()
}

fn fill_alone(env: &BTreeMap<String, String>, timeout: Duration) -> Result<MemoryFill> {
    let mut tenants = child::spawn_servers_with(std::slice::from_ref(env))?;
    let fill = Request::FillMemory {
        chunk_mib: FILL_CHUNK_MIB,
    };
    match child::broadcast(&mut tenants, &fill, timeout)?.pop() {
        Some(Reply::Filled(fill)) => Ok(fill),
        Some(other) => Err(other.unexpected()),
        None => Err(Error::Invalid("a tenant gave no report".into())),
    }
}

fn save(record: &ScenarioRecord, dest: &Path) -> Result<PathBuf> {
    let staging = dest.with_file_name(format!(
        ".staging-{}-{}",
        record.scenario,
        std::process::id()
    ));
    std::fs::create_dir_all(&staging).map_err(io_at(&staging))?;
    write_json_atomic(&staging.join(SCENARIO_FILE), record)?;
    if dest.exists() {
        std::fs::remove_dir_all(dest).map_err(io_at(dest))?;
    }
    std::fs::rename(&staging, dest).map_err(io_at(dest))?;
    Ok(dest.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolved(scenario: &Scenario) -> Vec<(Config, Role)> {
        scenario
            .tenants
            .iter()
            .map(|(name, role)| {
                (
                    Config::parse(name, Path::new("/opt/libvgpu.so"), 1000).unwrap(),
                    *role,
                )
            })
            .collect()
    }

    fn cache(env: &BTreeMap<String, String>) -> Option<&str> {
        env.get(SHARED_CACHE_VAR).map(String::as_str)
    }

    #[test]
    fn separate_pods_give_each_limited_tenant_its_own_state_file() {
        let scenario = select_scenarios(Some("hami-50-victim-native-aggressor"), None)
            .unwrap()
            .remove(0);
        let envs = tenant_envs(&scenario, &resolved(&scenario), Path::new("/state"));
        assert_eq!(
            cache(&envs[0]),
            Some("/state/hami-50-victim-native-aggressor-0.cache")
        );
        assert_eq!(envs[0]["CUDA_DEVICE_SM_LIMIT"], "50");
        assert_eq!(
            cache(&envs[1]),
            None,
            "the native aggressor has no interposer"
        );
        assert!(!envs[1].contains_key("LD_PRELOAD"));
    }

    #[test]
    fn one_pod_shares_one_state_file() {
        let scenario = select_scenarios(Some("hami-25-x4"), Some(Pod::Shared))
            .unwrap()
            .remove(0);
        assert_eq!(scenario.pod, Pod::Shared);
        let envs = tenant_envs(&scenario, &resolved(&scenario), Path::new("/state"));
        assert_eq!(envs.len(), 4);
        assert!(envs
            .iter()
            .all(|e| cache(e) == Some("/state/hami-25-x4.cache")));
    }

    #[test]
    fn unknown_scenarios_are_named_with_the_known_ones() {
        let err = select_scenarios(Some("native-x2,bogus"), None).unwrap_err();
        assert!(
            err.to_string().contains("'bogus'") && err.to_string().contains("hami-25-x4"),
            "{err}"
        );
        assert_eq!(
            select_scenarios(None, None).unwrap().len(),
            default_scenarios().len()
        );
    }
}
