//! Starts one worker process per configuration with that configuration's
//! environment, and turns each finished staging folder into an exported baseline.
//! It never measures: everything timed happens in the workers.

use super::config::{clear_interposer_env, Config};
use super::current;
use super::hooks::Hooks;
use super::interrupt;
use super::mps::{self, MpsDaemon};
use super::worker::{describe_phases, Job};
use crate::baseline::{read_json, DeviceFacts, ROUNDS_DIR};
use crate::error::{io_at, Error, Result};
use crate::metrics::Selection;
use crate::progress::{Plan, Progress, Slot, Timing, LOG_FILE};
use crate::system::{self, Reference};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// What `gpu-virt-bench run` was asked to do.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub configs: Vec<Config>,
    pub selection: Selection,
    pub out: PathBuf,
    pub quick: bool,
    pub force: bool,
    pub allow_unverified: bool,
    pub verify_secs: f64,
    /// Times every configuration is run, interleaved.
    pub rounds: u32,
    /// The workers' output is shown on the terminal as well as kept in each round's
    /// log.
    pub verbose: bool,
}

impl RunOptions {
    /// What a configuration's round is asked to do, as far as its time depends on
    /// it: an earlier round estimates this one only if it was asked the same.
    fn timing_plan(&self) -> String {
        format!(
            "{}, verification {} s per shape: {}",
            if self.quick { "quick" } else { "full" },
            self.verify_secs,
            self.selection.ids().join(",")
        )
    }
}

/// Runs every configuration and returns the exported folders. Existing exports are
/// refused before anything runs (unless `force`), a configuration's export is only
/// replaced once its new run has completed, and a failed configuration leaves no
/// folder behind; the others still run, and the failures are returned together.
pub fn run_all(opts: &RunOptions) -> Result<Vec<PathBuf>> {
    preflight(&opts.configs)?;
    let _hooks = Hooks::setup(&opts.configs)?;
    let device = crate::cuda::Device::get(0)?;
    let facts = system::device_facts(&device)?;
    let gpu_dir = opts.out.join(system::slug(&facts.name));
    check_exports(&gpu_dir, &opts.configs, opts.force)?;
    std::fs::create_dir_all(&gpu_dir).map_err(io_at(&gpu_dir))?;
    let scratch = scratch()?;
    let daemons = mps_daemons(&opts.configs, scratch.path())?;

    let reference = if opts.configs.iter().any(|c| c.expect.sm_limit_pct.is_some()) {
        native_reference(opts.verify_secs, &facts, scratch.path())?
    } else {
        Reference { shapes: Vec::new() }
    };

    let schedule = schedule(opts.configs.len(), opts.rounds);
    let slots = schedule.iter().map(|&(round, index)| Slot {
        unit: opts.configs[index].name.clone(),
        round,
    });
    let mut plan = Plan::new(slots.collect(), opts.rounds);
    let timing_plan = opts.timing_plan();
    for config in &opts.configs {
        let history = Timing::of_export(&gpu_dir.join(&config.name), &timing_plan);
        plan.remember(&config.name, &history);
    }
    let progress = Progress::new(plan, opts.verbose);
    let mut rounds: Vec<Option<Vec<PathBuf>>> = vec![Some(Vec::new()); opts.configs.len()];
    for (round, index) in schedule {
        let (config, done) = (&opts.configs[index], &mut rounds[index]);
        let Some(stagings) = done else { continue };
        let run = RoundRun {
            opts,
            config,
            daemon: daemons.get(&config.name),
            reference: &reference,
            facts: &facts,
            gpu_dir: &gpu_dir,
            scratch: scratch.path(),
            round,
            progress: &progress,
            timing_plan: &timing_plan,
        };
        match run.execute() {
            Ok(staging) => stagings.push(staging),
            Err(_) if interrupt::interrupted() => return Err(Error::Interrupted),
            Err(_) => {
                for staging in stagings.iter() {
                    let _ = std::fs::remove_dir_all(staging);
                }
                progress.drop_unit(&config.name);
                *done = None;
            }
        }
    }
    drop(progress);
    let mut exported = Vec::new();
    let mut failures = Vec::new();
    for (config, done) in opts.configs.iter().zip(rounds) {
        match done {
            Some(stagings) => exported.push(assemble(&stagings, &gpu_dir.join(&config.name))?),
            None => failures.push(config.name.clone()),
        }
    }
    if failures.is_empty() {
        Ok(exported)
    } else {
        Err(Error::Worker {
            config: failures.join(", "),
            what: format!(
                "did not complete; {} other configuration(s) exported",
                exported.len()
            ),
        })
    }
}

/// The native throughput of every SM-share shape, measured in a native worker of
/// its own just before the configurations run.
pub(super) fn native_reference(
    verify_secs: f64,
    facts: &DeviceFacts,
    scratch: &Path,
) -> Result<Reference> {
    eprintln!("== native reference for the SM-share check ({verify_secs} s per shape)");
    let reference_file = scratch.join("reference.json");
    let native = Config::parse("native", Path::new(""), facts.memory_mib)?;
    let status = worker_command(&native, &BTreeMap::new())
        .args(["worker", "--reference-out"])
        .arg(&reference_file)
        .args(["--verify-secs", &verify_secs.to_string()])
        .status()
        .map_err(io_at("worker"))?;
    if !status.success() {
        return Err(Error::Worker {
            config: "native reference".into(),
            what: format!("failed ({status})"),
        });
    }
    read_json(&reference_file)
}

/// Rounds of a run not given `--rounds`: two where there is something to compare,
/// since a change is only tested where two interleaved rounds can agree on it, and
/// one for a lone configuration, which has nothing to be compared with in its run.
pub fn default_rounds(configs: usize) -> u32 {
    if configs >= 2 {
        2
    } else {
        1
    }
}

/// The run's scratch folder (state files, job files, MPS pipes), removed when the
/// run ends and by the interrupt handler if it is cut short.
pub fn scratch() -> Result<tempfile::TempDir> {
    let scratch = tempfile::Builder::new()
        .prefix("gpu-virt-bench-")
        .tempdir()
        .map_err(io_at(std::env::temp_dir()))?;
    interrupt::install();
    interrupt::remove_on_interrupt(scratch.path().to_path_buf());
    Ok(scratch)
}

/// What one process of `config` gets beyond the configuration's own variables: a
/// fresh state file at `cache` where the configuration uses one, and its MPS
/// daemon's pipe folders.
pub(super) fn process_env(
    config: &Config,
    daemon: Option<&MpsDaemon>,
    cache: &Path,
) -> BTreeMap<String, String> {
    let mut extra = BTreeMap::new();
    if let Some(var) = &config.fresh_state {
        extra.insert(var.clone(), cache.to_string_lossy().into_owned());
    }
    if let Some(daemon) = daemon {
        extra.extend(daemon.env());
    }
    extra
}

/// A private MPS control daemon for each `mps-<pct>` configuration, by name, all
/// started before anything is measured.
pub(super) fn mps_daemons(
    configs: &[Config],
    scratch: &Path,
) -> Result<BTreeMap<String, MpsDaemon>> {
    configs
        .iter()
        .filter(|c| c.mps)
        .map(|c| start_mps_daemon(&c.name, scratch).map(|d| (c.name.clone(), d)))
        .collect()
}

/// Starts a private MPS control daemon named after `owner` (a configuration, or a
/// scenario whose tenants share it) with its folders under `scratch`.
pub fn start_mps_daemon(owner: &str, scratch: &Path) -> Result<MpsDaemon> {
    let control = mps::find_control().unwrap_or_else(|| PathBuf::from(mps::CONTROL));
    MpsDaemon::start(&control, scratch, owner)
}

/// The order the configurations run in within one round: as given in odd rounds,
/// reversed in even ones (A B C, C B A, A B C ...). Over each pair of rounds a linear
/// drift of the machine then costs every configuration alike, and no configuration
/// always runs first, right after the native reference, or last.
fn round_order(configs: usize, round: u32) -> Vec<usize> {
    if round % 2 == 0 {
        (0..configs).rev().collect()
    } else {
        (0..configs).collect()
    }
}

/// Every (round, configuration index) of a run, in the order they run.
fn schedule(configs: usize, rounds: u32) -> Vec<(u32, usize)> {
    (1..=rounds)
        .flat_map(|round| {
            round_order(configs, round)
                .into_iter()
                .map(move |i| (round, i))
        })
        .collect()
}

/// Checks what needs no GPU: every interposer library exists, and `native` is not
/// asked for where the loader preloads an interposer into every process. Run before
/// the driver is touched, so the error names the real problem even on a machine
/// without one.
pub fn preflight(configs: &[Config]) -> Result<()> {
    if configs.iter().any(|c| c.name == "native") {
        current::refuse_native_under(&current::system_preload(Path::new(current::SYSTEM_PRELOAD)))?;
    }
    for lib in configs.iter().filter_map(|c| c.library.as_ref()) {
        if !lib.is_file() {
            return Err(Error::MissingLibrary(lib.clone()));
        }
    }
    if let Some(config) = configs.iter().find(|c| c.mps) {
        mps::find_control().ok_or_else(|| Error::Mps {
            config: config.name.clone(),
            detail: format!(
                "{} is not on PATH; install the NVIDIA driver's MPS tools",
                mps::CONTROL
            ),
        })?;
    }
    Ok(())
}

/// Refuses to run when any configuration already has an export under `gpu_dir`,
/// unless `force`: a finished run is never replaced by accident.
fn check_exports(gpu_dir: &Path, configs: &[Config], force: bool) -> Result<()> {
    match configs
        .iter()
        .map(|c| gpu_dir.join(&c.name))
        .find(|d| d.exists())
    {
        Some(dest) if !force => Err(Error::BaselineExists(dest)),
        _ => Ok(()),
    }
}

pub(super) fn worker_command(config: &Config, extra: &BTreeMap<String, String>) -> Command {
    let exe = std::env::current_exe().unwrap_or_else(|_| PathBuf::from("gpu-virt-bench"));
    let mut cmd = Command::new(exe);
    clear_interposer_env(&mut cmd);
    for var in &config.remove {
        cmd.env_remove(var);
    }
    cmd.envs(&config.env).envs(extra);
    cmd
}

/// One configuration's run in one round.
struct RoundRun<'a> {
    opts: &'a RunOptions,
    config: &'a Config,
    /// The configuration's MPS daemon, whose pipe folder makes the worker its client.
    daemon: Option<&'a MpsDaemon>,
    reference: &'a Reference,
    facts: &'a DeviceFacts,
    gpu_dir: &'a Path,
    scratch: &'a Path,
    round: u32,
    progress: &'a Progress,
    /// What the round is asked to do, saved with its time (see [`Timing`]).
    timing_plan: &'a str,
}

impl RoundRun<'_> {
    /// Runs the worker and returns its staging folder, checked complete, with what
    /// the worker printed and how long it took. On failure the
    /// error is shown with the end of the worker's output, whose whole is kept
    /// beside the exports, and the folder is gone.
    fn execute(&self) -> Result<PathBuf> {
        let Self {
            opts,
            config,
            daemon,
            reference,
            facts,
            gpu_dir,
            scratch,
            round,
            progress,
            timing_plan,
        } = *self;
        let staging = gpu_dir.join(format!(
            ".staging-{}-r{round}-{}",
            config.name,
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&staging);
        std::fs::create_dir_all(&staging).map_err(io_at(&staging))?;
        let cache = scratch.join(format!("{}-r{round}.cache", config.name));
        let extra = process_env(config, daemon, &cache);
        let mut env = config.env.clone();
        env.extend(extra.clone());
        let job = Job {
            device: facts.clone(),
            config: config.record(&env),
            expect: config.expect.clone(),
            metrics: opts.selection.ids().iter().map(|s| s.to_string()).collect(),
            quick: opts.quick,
            allow_unverified: opts.allow_unverified,
            verify_secs: opts.verify_secs,
            reference: reference.clone(),
            staging: staging.clone(),
        };
        let job_file = scratch.join(format!("{}-r{round}.job.json", config.name));
        crate::baseline::write_json_atomic(&job_file, &job)?;
        let mut command = worker_command(config, &extra);
        command.args(["worker", "--job"]).arg(&job_file);
        progress.begin(&config.name, round);
        let steps = scratch.join(format!("{}-r{round}.steps", config.name));
        let log = staging.join(LOG_FILE);
        let status = progress.watch(command, &steps, &log);
        let secs = progress.end();
        let _ = std::fs::remove_file(&cache);
        let outcome = status.and_then(|s| {
            if s.success() {
                let baseline = crate::baseline::Baseline::load(&staging)?;
                progress.note(&format!(
                    "   {} round {round}: {}",
                    config.name,
                    describe_phases(&baseline.run.phase_secs)
                ));
                Ok(())
            } else {
                Err(Error::Worker {
                    config: config.name.clone(),
                    what: format!("exited with {s}"),
                })
            }
        });
        let timing = Timing {
            plan: timing_plan.to_owned(),
            secs,
        };
        if let Err(e) = outcome.and_then(|()| timing.save(&staging)) {
            if !interrupt::interrupted() {
                progress.note(&format!("   {} round {round}: {e}", config.name));
                let keep = gpu_dir.join(format!("{}-round-{round}.failed.log", config.name));
                progress.show_failed_log(&log, &keep);
            }
            let _ = std::fs::remove_dir_all(&staging);
            return Err(e);
        }
        Ok(staging)
    }
}

/// Makes the export of one configuration from its rounds' staging folders: round 1
/// is the export itself, rounds 2.. go under `rounds/<k>/` inside it.
fn assemble(stagings: &[PathBuf], dest: &Path) -> Result<PathBuf> {
    let (first, later) = stagings
        .split_first()
        .ok_or_else(|| Error::Invalid(format!("no round of {} completed", dest.display())))?;
    for (k, staging) in later.iter().enumerate() {
        let rounds = first.join(ROUNDS_DIR);
        std::fs::create_dir_all(&rounds).map_err(io_at(&rounds))?;
        let to = rounds.join((k + 2).to_string());
        std::fs::rename(staging, &to).map_err(io_at(&to))?;
    }
    replace_dir(first, dest)?;
    Ok(dest.to_path_buf())
}

/// Moves `staging` to `dest`, replacing an earlier export only after the new one is
/// complete, so a failure at any point leaves either the old or the new folder.
fn replace_dir(staging: &Path, dest: &Path) -> Result<()> {
    if dest.exists() {
        let old = dest.with_file_name(format!(
            ".old-{}-{}",
            dest.file_name().unwrap_or_default().to_string_lossy(),
            std::process::id()
        ));
        std::fs::rename(dest, &old).map_err(io_at(dest))?;
        std::fs::rename(staging, dest).map_err(io_at(dest))?;
        std::fs::remove_dir_all(&old).map_err(io_at(&old))
    } else {
        std::fs::rename(staging, dest).map_err(io_at(dest))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_configurations_or_more_default_to_two_rounds() {
        assert_eq!(default_rounds(1), 1);
        assert_eq!(default_rounds(2), 2);
        assert_eq!(default_rounds(4), 2);
    }

    #[test]
    fn even_rounds_run_the_configurations_in_reverse() {
        assert_eq!(round_order(4, 1), [0, 1, 2, 3]);
        assert_eq!(round_order(4, 2), [3, 2, 1, 0]);
        assert_eq!(round_order(4, 3), [0, 1, 2, 3]);
        assert_eq!(round_order(1, 2), [0]);
        assert_eq!(
            schedule(2, 3),
            [(1, 0), (1, 1), (2, 1), (2, 0), (3, 0), (3, 1)]
        );
    }

    fn configs(list: &str, lib: &Path) -> Vec<Config> {
        Config::parse_list(list, lib, 1000, &[]).unwrap()
    }

    #[test]
    fn an_existing_export_is_refused_unless_forced() {
        let tmp = tempfile::tempdir().unwrap();
        let list = configs("native,hami-50", Path::new("/x"));
        assert!(check_exports(tmp.path(), &list, false).is_ok());
        std::fs::create_dir_all(tmp.path().join("hami-50")).unwrap();
        let err = check_exports(tmp.path(), &list, false).unwrap_err();
        assert!(
            matches!(err, Error::BaselineExists(ref p) if p.ends_with("hami-50")),
            "{err}"
        );
        assert!(err.to_string().contains("--force"));
        assert!(check_exports(tmp.path(), &list, true).is_ok());
    }

    #[test]
    fn a_missing_interposer_library_is_named() {
        let tmp = tempfile::tempdir().unwrap();
        let missing = tmp.path().join("libvgpu.so");
        let err = preflight(&configs("native,hami-25", &missing)).unwrap_err();
        assert!(
            matches!(err, Error::MissingLibrary(ref p) if *p == missing),
            "{err}"
        );
        std::fs::write(&missing, b"").unwrap();
        assert!(preflight(&configs("hami-25", &missing)).is_ok());
        assert!(preflight(&configs("native", Path::new("/nonexistent"))).is_ok());
    }

    #[test]
    fn assemble_nests_later_rounds_inside_round_one() {
        let tmp = tempfile::tempdir().unwrap();
        let stagings: Vec<PathBuf> = (1..=3)
            .map(|r| {
                let s = tmp.path().join(format!(".staging-r{r}"));
                std::fs::create_dir_all(&s).unwrap();
                std::fs::write(s.join("run.json"), r.to_string()).unwrap();
                s
            })
            .collect();
        let dest = tmp.path().join("hami-50");
        assert_eq!(assemble(&stagings, &dest).unwrap(), dest);
        let read = |p: PathBuf| std::fs::read_to_string(p.join("run.json")).unwrap();
        assert_eq!(read(dest.clone()), "1");
        assert_eq!(read(dest.join("rounds/2")), "2");
        assert_eq!(read(dest.join("rounds/3")), "3");
        assert!(stagings.iter().all(|s| !s.exists()));
        assert!(assemble(&[], &tmp.path().join("none")).is_err());
    }

    #[test]
    fn replace_dir_swaps_in_the_new_folder() {
        let tmp = tempfile::tempdir().unwrap();
        let (staging, dest) = (tmp.path().join(".staging"), tmp.path().join("native"));
        std::fs::create_dir_all(&staging).unwrap();
        std::fs::write(staging.join("run.json"), "new").unwrap();
        std::fs::create_dir_all(&dest).unwrap();
        std::fs::write(dest.join("run.json"), "old").unwrap();
        replace_dir(&staging, &dest).unwrap();
        assert_eq!(
            std::fs::read_to_string(dest.join("run.json")).unwrap(),
            "new"
        );
        let left: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().collect();
        assert_eq!(left.len(), 1, "no staging or old folder is left");
    }
}
