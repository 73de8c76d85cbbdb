//! Isolation (IS) metrics: several tenants on one GPU, each a process in its own
//! configuration, started together behind a barrier. The parent only starts them,
//! hands out work and joins their reports; every figure is measured in a tenant.

pub mod fault;
pub mod figures;
pub mod memory;
mod ops;
pub mod pattern;
mod record;
mod scenario;
mod shape;
pub mod tenant;

pub use fault::FaultRecord;
pub use memory::MemoryRecord;
pub use ops::OPERATIONS;
pub use record::{
    Pod, ProbeRecords, Role, SavedScenario, ScenarioKind, ScenarioRecord, Tenant, TenantRecord,
    SCENARIO_FILE,
};
pub use scenario::{
    default_scenarios, scenarios_for_run, scenarios_of, select_scenarios, Scenario, Subject,
    Workload,
};
pub use shape::TenantShape;

use crate::baseline::write_json_atomic;
use crate::baseline::DeviceFacts;
use crate::error::{io_at, Error, Result};
use crate::progress::{Plan, Progress, Slot, Timing, LOG_FILE};
use crate::run::child;
use crate::run::{Config, MpsDaemon, SHARED_CACHE_VAR};
use crate::system::ShapeRun;
use ops::{FillMemory, Work};
use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;
use tenant::MemoryFill;

/// Folder of the scenarios inside a GPU's export folder.
pub const ISOLATION_DIR: &str = "isolation";
/// Chunk of the memory fill (IS-001).
const FILL_CHUNK_MIB: u64 = 64;
/// Share windows, as in the verification.
const WINDOW_S: f64 = 0.5;

/// What `gpu-virt-bench isolate` was asked to do.
#[derive(Debug, Clone)]
pub struct IsolationOptions {
    pub scenarios: Vec<Scenario>,
    pub hami_lib: PathBuf,
    pub out: PathBuf,
    pub secs: f64,
    pub force: bool,
    /// The tenants' output is shown on the terminal as well as kept in each
    /// scenario's log.
    pub verbose: bool,
}

/// Runs every scenario and writes `<out>/<gpu>/isolation/<scenario>/scenario.json`,
/// with what its tenants printed (output.log) and how long it took
/// (timing.json, which estimates the next run's time). Every tenant is killed and
/// reaped when its phase ends, also on error, and the HAMi-core state files live in
/// a folder removed on return.
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
        let dest = root.join(scenario.run_name());
        if dest.exists() && !opts.force {
            return Err(Error::BaselineExists(dest));
        }
        resolved.push((scenario, configs, dest));
    }
    std::fs::create_dir_all(&root).map_err(io_at(&root))?;
    let scratch = crate::run::scratch()?;
    let timing_plan = format!("{} s per phase", opts.secs);
    let slots = resolved.iter().map(|(scenario, _, _)| Slot {
        unit: scenario.run_name(),
        round: 1,
    });
    let mut plan = Plan::new(slots.collect(), 1);
    for (scenario, _, dest) in &resolved {
        plan.remember(&scenario.run_name(), &Timing::of_export(dest, &timing_plan));
    }
    let progress = Progress::new(plan, opts.verbose);
    let setting = Setting {
        facts: &facts,
        secs: opts.secs,
        timeout: Duration::from_secs_f64(opts.secs + 120.0),
        progress: &progress,
    };

    let native = Config::parse("native", &opts.hami_lib, facts.memory_mib)?;
    let mut references = BTreeMap::new();
    for scenario in &opts.scenarios {
        let Workload::Share(shape) = scenario.workload else {
            continue;
        };
        if let Entry::Vacant(slot) = references.entry(shape) {
            progress.note(&format!(
                "== reference: one native tenant alone, {} shape, {} s",
                shape.name(),
                opts.secs
            ));
            slot.insert(spin_alone(
                &native.env,
                &shape.request(opts.secs, &facts),
                setting.timeout,
            )?);
        }
    }

    let mut filled = BTreeSet::new();
    let mut written = Vec::new();
    for (scenario, configs, dest) in resolved {
        let name = scenario.run_name();
        progress.begin(&name, 1);
        let daemon = match configs.iter().any(|(c, _)| c.mps) {
            true => Some(crate::run::start_mps_daemon(&name, scratch.path())?),
            false => None,
        };
        let log = root.join(format!(".{name}-{}.log", std::process::id()));
        let output = progress.output(&log)?;
        child::send_stderr_to(Some(output.share()?));
        let envs = tenant_envs(scenario, &configs, scratch.path(), daemon.as_ref());
        let staged = match scenario.workload {
            Workload::Share(shape) => {
                // The memory fill does not depend on the shape: once per scenario.
                let fill = filled.insert(scenario.name.clone());
                run_share(
                    scenario,
                    shape,
                    &configs,
                    envs,
                    &references[&shape],
                    fill,
                    &setting,
                )
                .and_then(|record| stage(&record, &name, &dest))
            }
            Workload::Memory => {
                progress.step("owner and reader");
                memory::run_memory(scenario, &configs, &envs, &setting).and_then(|record| {
                    progress.note(&format!("   {name}: {:?}", record.verdict));
                    stage(&record, &name, &dest)
                })
            }
            Workload::Fault => {
                progress.step("faulting tenant beside its victim");
                fault::run_fault(scenario, &configs, &envs, &setting, WINDOW_S).and_then(|record| {
                    progress.note(&format!(
                        "   {name}: {:?}: {}",
                        record.verdict, record.reason
                    ));
                    stage(&record, &name, &dest)
                })
            }
        };
        child::send_stderr_to(None);
        output.close();
        let timing = progress.end(&timing_plan);
        let saved = staged.and_then(|staging| {
            if log.exists() {
                let to = staging.join(LOG_FILE);
                std::fs::rename(&log, &to).map_err(io_at(&to))?;
            }
            timing.save(&staging)?;
            commit(&staging, &dest)
        });
        if saved.is_err() {
            progress.show_failed_log(&log, &root.join(format!("{name}.failed.log")));
        }
        written.push(saved?);
    }
    Ok(written)
}

/// What every scenario's run needs besides its tenants.
struct Setting<'a> {
    facts: &'a DeviceFacts,
    secs: f64,
    timeout: Duration,
    /// Where the scenario's tenant phases are shown.
    progress: &'a Progress,
}

/// One share scenario in one shape: victims alone, then all tenants together, then
/// (when `fill`) each limited tenant's memory fill alone.
fn run_share(
    scenario: &Scenario,
    shape: TenantShape,
    configs: &[(Config, Role)],
    envs: Vec<BTreeMap<String, String>>,
    reference: &ShapeRun,
    fill: bool,
    setting: &Setting,
) -> Result<ScenarioRecord> {
    let spin = shape.request(setting.secs, setting.facts);
    let timeout = setting.timeout;
    setting.progress.step("victims alone");
    let alone = configs
        .iter()
        .zip(&envs)
        .map(|((_, role), env)| match role {
            Role::Victim => spin_alone(env, &spin, timeout).map(Some),
            _ => Ok(None),
        })
        .collect::<Result<Vec<_>>>()?;
    setting.progress.step("all tenants together");
    let together = spin_together(&envs, &spin, timeout)?;
    if fill {
        setting.progress.step("memory fill");
    }
    let memory = configs
        .iter()
        .zip(&envs)
        .map(|((config, _), env)| match config.expect.mem_limit_mib {
            Some(_) if fill => fill_alone(env, timeout).map(Some),
            _ => Ok(None),
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
                    reference,
                    WINDOW_S,
                )
            },
        )
        .collect();
    Ok(ScenarioRecord::new(
        scenario,
        shape,
        setting.secs,
        WINDOW_S,
        setting.facts,
        reference,
        tenants,
    ))
}

/// Each tenant's environment: its configuration's, plus a HAMi-core state file in
/// `state_dir`, one per tenant (separate pods) or one for all (one pod). The files
/// do not exist yet, so HAMi-core writes each tenant's limits afresh. Every MPS
/// tenant is a client of the scenario's one `daemon`: one GPU shared under MPS.
fn tenant_envs(
    scenario: &Scenario,
    configs: &[(Config, Role)],
    state_dir: &Path,
    daemon: Option<&MpsDaemon>,
) -> Vec<BTreeMap<String, String>> {
    configs
        .iter()
        .enumerate()
        .map(|(i, (config, _))| {
            let mut env = config.env.clone();
            if config.library.is_some() {
                let name = scenario.run_name();
                let file = match scenario.pod {
                    Pod::Shared => format!("{name}.cache"),
                    Pod::Separate => format!("{name}-{i}.cache"),
                };
                env.insert(
                    SHARED_CACHE_VAR.into(),
                    state_dir.join(file).to_string_lossy().into_owned(),
                );
            }
            if let Some(daemon) = daemon.filter(|_| config.mps) {
                env.extend(daemon.env());
            }
            env
        })
        .collect()
}

/// The tenant of `role` in a scenario of one victim and one aggressor: its index,
/// record name (t1, t2, ... by position) and configuration.
pub(super) fn tenant_of(
    configs: &[(Config, Role)],
    envs: &[BTreeMap<String, String>],
    role: Role,
) -> Result<(usize, Tenant)> {
    let i = configs
        .iter()
        .position(|(_, r)| *r == role)
        .ok_or_else(|| Error::Invalid(format!("the scenario has no {role:?} tenant")))?;
    let tenant = Tenant::new(format!("t{}", i + 1), &configs[i].0, role, envs[i].clone());
    Ok((i, tenant))
}

/// Starts the tenants at `first` and `second` of `envs`, in that order, each in its
/// own environment, and waits until both hold their contexts.
fn spawn_pair(
    envs: &[BTreeMap<String, String>],
    first: usize,
    second: usize,
) -> Result<[child::Child; 2]> {
    child::spawn_servers_with(&[envs[first].clone(), envs[second].clone()])?
        .try_into()
        .map_err(|_| Error::Invalid("two tenants were asked for".into()))
}

/// What the tenants of a scenario reported, before the figures are derived.
pub struct Measured {
    pub alone: Option<ShapeRun>,
    pub together: ShapeRun,
    pub memory: Option<MemoryFill>,
}

fn spin_alone(env: &BTreeMap<String, String>, spin: &Work, timeout: Duration) -> Result<ShapeRun> {
    spin_together(std::slice::from_ref(env), spin, timeout)?
        .pop()
        .ok_or_else(|| Error::Invalid("a tenant gave no report".into()))
}

fn spin_together(
    envs: &[BTreeMap<String, String>],
    spin: &Work,
    timeout: Duration,
) -> Result<Vec<ShapeRun>> {
    let mut tenants = child::spawn_servers_with(envs)?;
    let replies = child::broadcast(&mut tenants, spin, timeout);
    child::end_all(tenants);
    replies
}

fn fill_alone(env: &BTreeMap<String, String>, timeout: Duration) -> Result<MemoryFill> {
    let mut tenants = child::spawn_servers_with(std::slice::from_ref(env))?;
    let fill = FillMemory {
        chunk_mib: FILL_CHUNK_MIB,
    };
    child::broadcast(&mut tenants, &fill, timeout)?
        .pop()
        .ok_or_else(|| Error::Invalid("a tenant gave no report".into()))
}

/// Writes `record` as scenario.json into a staging folder beside `dest`, and returns
/// the folder, for [`commit`] once everything the scenario keeps is in it.
fn stage(record: &impl serde::Serialize, name: &str, dest: &Path) -> Result<PathBuf> {
    let staging = dest.with_file_name(format!(".staging-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&staging).map_err(io_at(&staging))?;
    write_json_atomic(&staging.join(SCENARIO_FILE), record)?;
    Ok(staging)
}

/// Replaces `dest` by the complete `staging` folder, so an interrupted run never
/// leaves a partial scenario behind.
fn commit(staging: &Path, dest: &Path) -> Result<PathBuf> {
    if dest.exists() {
        std::fs::remove_dir_all(dest).map_err(io_at(dest))?;
    }
    std::fs::rename(staging, dest).map_err(io_at(dest))?;
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
        let scenario = select_scenarios(Some("hami-50-victim-native-aggressor"), None, None)
            .unwrap()
            .remove(0);
        let envs = tenant_envs(&scenario, &resolved(&scenario), Path::new("/state"), None);
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
        let scenario = select_scenarios(Some("hami-25-x4"), Some(Pod::Shared), Some("10ms"))
            .unwrap()
            .remove(0);
        assert_eq!(scenario.pod, Pod::Shared);
        let envs = tenant_envs(&scenario, &resolved(&scenario), Path::new("/state"), None);
        assert_eq!(envs.len(), 4);
        assert!(envs
            .iter()
            .all(|e| cache(e) == Some("/state/hami-25-x4-10ms-shared-pod.cache")));
    }
}
