//! Starts one worker process per configuration with that configuration's
//! environment, and turns each finished staging folder into an exported baseline.
//! It never measures: everything timed happens in the workers.

use super::child::{self, Operation};
use super::config::{clear_interposer_env, Config};
use super::current;
use super::hooks::Hooks;
use super::interrupt;
use super::mps::{self, MpsDaemon};
use super::ops::{MeasureReference, ReadDeviceFacts};
use super::worker::{describe_phases, Job};
use crate::baseline::{read_json, DeviceFacts, RunRecord, ROUNDS_DIR, RUN_FILE};
use crate::error::{io_at, Error, Result};
use crate::metrics::Selection;
use crate::progress::{self, Progress, Slot, Timing, LOG_FILE};
use crate::system::{self, Reference};
use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// What `run` and `exec` are both asked for: the configurations, where their exports
/// go, how each is verified, and how many interleaved rounds they get.
#[derive(Debug, Clone)]
pub struct Plan {
    pub configs: Vec<Config>,
    /// Export root; each configuration lands in <out>/<gpu>/<config>/.
    pub out: PathBuf,
    pub force: bool,
    pub allow_unverified: bool,
    pub verify_secs: f64,
    /// Times every configuration is run, interleaved.
    pub rounds: u32,
    /// The workers' output is shown on the terminal as well as kept in each round's
    /// log.
    pub verbose: bool,
}

/// What `gpu-virt-bench run` was asked to do.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub plan: Plan,
    pub selection: Selection,
    pub quick: bool,
}

impl RunOptions {
    /// What a configuration's round is asked to do, as far as its time depends on
    /// it: an earlier round estimates this one only if it was asked the same.
    fn timing_plan(&self) -> String {
        format!(
            "{}, verification {} s per shape: {}",
            if self.quick { "quick" } else { "full" },
            self.plan.verify_secs,
            self.selection.ids().join(",")
        )
    }
}

/// Runs every configuration and returns the exported folders (see [`run_rounds`]). A
/// configuration whose enforcement probes left device memory or a child behind is
/// exported (its enforcement.json says what) and fails the run all the same.
pub fn run_all(opts: &RunOptions) -> Result<Vec<PathBuf>> {
    let metrics: Vec<String> = opts.selection.ids().iter().map(|s| s.to_string()).collect();
    let mut left_behind = Vec::new();
    let exported = run_rounds(&opts.plan, &opts.timing_plan(), |turn| {
        match turn.measure(&metrics, opts.quick) {
            Ok((staging, left)) => {
                if let Some(left) = left {
                    turn.progress.note(&format!(
                        "   {}: the enforcement probes left {left}",
                        turn.config.name
                    ));
                    left_behind.push(format!(
                        "{} (round {}) {left}",
                        turn.config.name, turn.round
                    ));
                }
                Turned::Staged(staging)
            }
            Err(e) => Turned::Failed(e),
        }
    })?;
    if !left_behind.is_empty() {
        return Err(Error::LeftBehind(left_behind.join("; ")));
    }
    Ok(exported)
}

/// How one configuration's turn in a round ended.
pub(super) enum Turned {
    /// Its staging folder, complete.
    Staged(PathBuf),
    /// The configuration failed: its staging folder is removed (its output.log kept
    /// beside the exports) and the others go on.
    Failed(Error),
    /// Nothing may be exported: every staging folder is removed and the run stops.
    Stop(Error),
}

/// Gives every configuration its turn in every round, in [`round_order`], and exports
/// what the turns staged. Existing exports are refused before anything runs (unless
/// `force`), a configuration's export is only replaced once its new run has completed,
/// and a failed configuration leaves no folder behind; the others still run, and the
/// failures are returned together. Every turn is shown as a slot of the run's
/// [`Progress`], estimated from the configurations' earlier rounds asked
/// `timing_plan`; a completed one keeps its seconds in timing.json and shows its
/// phases, and a failed one shows the end of its output.log and keeps the whole.
pub(super) fn run_rounds(
    plan: &Plan,
    timing_plan: &str,
    mut turn: impl FnMut(&Turn) -> Turned,
) -> Result<Vec<PathBuf>> {
    preflight(&plan.configs)?;
    let _hooks = Hooks::setup(&plan.configs)?;
    let scratch = scratch()?;
    let facts = native_facts()?;
    let gpu_dir = plan.out.join(system::slug(&facts.name));
    check_exports(&gpu_dir, &plan.configs, plan.force)?;
    std::fs::create_dir_all(&gpu_dir).map_err(io_at(&gpu_dir))?;
    let daemons = mps_daemons(&plan.configs, scratch.path())?;

    let reference = if plan.configs.iter().any(|c| c.expect.sm_limit_pct.is_some()) {
        native_reference(plan.verify_secs, &facts)?
    } else {
        Reference { shapes: Vec::new() }
    };

    let schedule = schedule(plan.configs.len(), plan.rounds);
    let slots = schedule.iter().map(|&(round, index)| Slot {
        unit: plan.configs[index].name.clone(),
        round,
    });
    let mut estimates = progress::Plan::new(slots.collect(), plan.rounds);
    for config in &plan.configs {
        let history = Timing::of_export(&gpu_dir.join(&config.name), timing_plan);
        estimates.remember(&config.name, &history);
    }
    let progress = Progress::new(estimates, plan.verbose);
    let mut rounds: Vec<Option<Vec<PathBuf>>> = vec![Some(Vec::new()); plan.configs.len()];
    for (round, index) in schedule {
        let (config, done) = (&plan.configs[index], &mut rounds[index]);
        let Some(stagings) = done else { continue };
        let this = Turn {
            plan,
            config,
            daemon: daemons.get(&config.name),
            reference: &reference,
            facts: &facts,
            gpu_dir: &gpu_dir,
            scratch: scratch.path(),
            round,
            progress: &progress,
        };
        progress.begin(&config.name, round);
        let ended = turn(&this);
        let timing = progress.end(timing_plan);
        let ended = match ended {
            Turned::Staged(staging) => match this.finish(&staging, &timing) {
                Ok(()) => Turned::Staged(staging),
                Err(e) => Turned::Failed(e),
            },
            // A turn cut short by an interrupt is no failure of its configuration:
            // nothing of the run is exported.
            Turned::Failed(_) if interrupt::interrupted() => Turned::Stop(Error::Interrupted),
            other => other,
        };
        match ended {
            Turned::Staged(staging) => stagings.push(staging),
            Turned::Failed(e) => {
                progress.note(&format!("   {} round {round}: {e}", config.name));
                let keep = gpu_dir.join(format!("{}-round-{round}.failed.log", config.name));
                progress.show_failed_log(&this.staging_dir().join(LOG_FILE), &keep);
                let _ = std::fs::remove_dir_all(this.staging_dir());
                for staging in stagings.iter() {
                    let _ = std::fs::remove_dir_all(staging);
                }
                progress.drop_unit(&config.name);
                *done = None;
            }
            Turned::Stop(e) => {
                let _ = std::fs::remove_dir_all(this.staging_dir());
                for staging in rounds.iter().flatten().flatten() {
                    let _ = std::fs::remove_dir_all(staging);
                }
                // Only where the run made it and left it empty.
                let _ = std::fs::remove_dir(&gpu_dir);
                return Err(e);
            }
        }
    }
    // The bar is cleared before the exports and failures are announced.
    drop(progress);
    let mut exported = Vec::new();
    let mut failures = Vec::new();
    for (config, done) in plan.configs.iter().zip(rounds) {
        match done {
            Some(stagings) => exported.push(assemble(&stagings, &gpu_dir.join(&config.name))?),
            None => failures.push(config.name.clone()),
        }
    }
    if !failures.is_empty() {
        return Err(Error::Worker {
            config: failures.join(", "),
            what: format!(
                "did not complete; {} other configuration(s) exported",
                exported.len()
            ),
        });
    }
    Ok(exported)
}

/// The device as no interposer shows it (HAMi-core rewrites cuDeviceTotalMem): read in
/// this process, or by a native child where the loader preloads an interposer into
/// this process too (in a pod, with the pod's limits).
pub(super) fn native_facts() -> Result<DeviceFacts> {
    if current::system_preloaded().is_empty() {
        return system::device_facts(&crate::cuda::Device::get(0)?);
    }
    ask_native(&ReadDeviceFacts, child::START_TIMEOUT)
}

/// The native throughput of every SM-share shape, measured in a native child of its
/// own just before the configurations run. A serving child rather than a worker, so
/// a bench executable (which serves children, and re-executes itself under
/// GPU_VIRT_BENCH_CONFIG otherwise) measures it as `run` does.
pub(super) fn native_reference(verify_secs: f64, facts: &DeviceFacts) -> Result<Reference> {
    eprintln!("== native reference for the SM-share check ({verify_secs} s per shape)");
    let request = MeasureReference {
        secs: verify_secs,
        device: facts.clone(),
    };
    ask_native(&request, Duration::from_secs_f64(verify_secs * 4.0 + 60.0))
}

/// `request` answered by a serving child of its own in the native environment.
pub fn ask_native<O: Operation>(request: &O, timeout: Duration) -> Result<O::Reply> {
    let native = Config::parse("native", Path::new(""), 1)?;
    let mut children = child::spawn_servers_with(std::slice::from_ref(&native.env))?;
    let child = children
        .first_mut()
        .ok_or_else(|| Error::Invalid("no native child started".into()))?;
    child.call(request, timeout)
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
    super::config::keep_native_state_in(scratch.path());
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
        current::refuse_native_under(&current::system_preloaded())?;
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

/// Our own executable in `config`'s environment (see [`configured`]).
pub(super) fn worker_command(config: &Config, extra: &BTreeMap<String, String>) -> Command {
    let exe = std::env::current_exe().unwrap_or_else(|_| PathBuf::from("gpu-virt-bench"));
    configured(exe.as_os_str(), config, extra)
}

/// `program` with `config`'s environment and no other configuration's: every
/// interposer variable this process has is removed, NVLink multicast switched off
/// (see [`super::MULTICAST_OFF`]), then the configuration's own are removed and set,
/// and `extra` (see [`process_env`]) added.
pub(super) fn configured(
    program: &OsStr,
    config: &Config,
    extra: &BTreeMap<String, String>,
) -> Command {
    let mut cmd = Command::new(program);
    clear_interposer_env(&mut cmd);
    super::switch_multicast_off(&mut cmd);
    for var in &config.remove {
        cmd.env_remove(var);
    }
    cmd.envs(&config.env).envs(extra);
    cmd
}

/// One configuration's turn in one round, with what its processes need.
pub(super) struct Turn<'a> {
    pub plan: &'a Plan,
    pub config: &'a Config,
    /// The configuration's MPS daemon, whose pipe folder makes a process its client.
    pub daemon: Option<&'a MpsDaemon>,
    pub reference: &'a Reference,
    pub facts: &'a DeviceFacts,
    pub gpu_dir: &'a Path,
    pub scratch: &'a Path,
    pub round: u32,
    /// Where the turn's steps and lines are shown.
    pub progress: &'a Progress,
}

impl Turn<'_> {
    /// Where this turn's export is staged (see [`Turn::staging`]).
    fn staging_dir(&self) -> PathBuf {
        self.gpu_dir.join(format!(
            ".staging-{}-r{}-{}",
            self.config.name,
            self.round,
            std::process::id()
        ))
    }

    /// A fresh, empty staging folder for this turn's export; whatever the turn
    /// leaves in it is removed unless it is staged (see [`Turned`]).
    pub fn staging(&self) -> Result<PathBuf> {
        let staging = self.staging_dir();
        let _ = std::fs::remove_dir_all(&staging);
        std::fs::create_dir_all(&staging).map_err(io_at(&staging))?;
        Ok(staging)
    }

    /// Where process `what` of this turn gets its fresh state file.
    pub fn cache(&self, what: &str) -> PathBuf {
        self.scratch
            .join(format!("{}-r{}-{what}.cache", self.config.name, self.round))
    }

    /// The variables process `what` of this turn gets beyond the configuration's own.
    pub fn env(&self, what: &str) -> BTreeMap<String, String> {
        process_env(self.config, self.daemon, &self.cache(what))
    }

    /// Runs the configuration's worker into `staging`: it verifies the limits (and
    /// refuses to go on where they are not in force, unless allowed), then measures
    /// `metrics` unless `verify_only`, and writes run.json (and summary.json). The
    /// steps it reports become the turn's, and what it prints goes to
    /// `staging`/output.log.
    pub fn worker(
        &self,
        staging: &Path,
        metrics: &[String],
        quick: bool,
        verify_only: bool,
    ) -> Result<()> {
        let what = if verify_only { "verify" } else { "worker" };
        let extra = self.env(what);
        let mut env = self.config.env.clone();
        env.extend(extra.clone());
        let job = Job {
            device: self.facts.clone(),
            config: self.config.record(&env),
            expect: self.config.expect.clone(),
            metrics: metrics.to_vec(),
            quick,
            allow_unverified: self.plan.allow_unverified,
            verify_secs: self.plan.verify_secs,
            reference: self.reference.clone(),
            staging: staging.to_path_buf(),
            verify_only,
        };
        let job_file = self.scratch.join(format!(
            "{}-r{}-{what}.job.json",
            self.config.name, self.round
        ));
        crate::baseline::write_json_atomic(&job_file, &job)?;
        let mut command = worker_command(self.config, &extra);
        command.args(["worker", "--job"]).arg(&job_file);
        let steps = self
            .scratch
            .join(format!("{}-r{}-{what}.steps", self.config.name, self.round));
        let status = self
            .progress
            .watch(command, &steps, &staging.join(LOG_FILE));
        let _ = std::fs::remove_file(self.cache(what));
        let status = status?;
        if status.success() {
            Ok(())
        } else {
            Err(Error::Worker {
                config: self.config.name.clone(),
                what: format!("exited with {status}"),
            })
        }
    }

    /// Ends a staged turn: shows the phases its run.json records and saves its
    /// `timing` (timing.json) beside them, for the next run's estimate.
    fn finish(&self, staging: &Path, timing: &Timing) -> Result<()> {
        let run: RunRecord = read_json(&staging.join(RUN_FILE))?;
        self.progress.note(&format!(
            "   {} round {}: {}",
            self.config.name,
            self.round,
            describe_phases(&run.phase_secs)
        ));
        timing.save(staging)
    }

    /// `run`'s turn: the worker verifies and measures `metrics`; returns the staging
    /// folder, checked complete, with what its enforcement probes left behind
    /// ([`EnforcementRecord::left_behind`]): that fails the run, but the folder is
    /// kept, since its enforcement.json is the evidence.
    ///
    /// [`EnforcementRecord::left_behind`]: crate::baseline::EnforcementRecord::left_behind
    fn measure(&self, metrics: &[String], quick: bool) -> Result<(PathBuf, Option<String>)> {
        let staging = self.staging()?;
        self.worker(&staging, metrics, quick, false)?;
        let baseline = crate::baseline::Baseline::load(&staging)?;
        let left = baseline.enforcement.as_ref().and_then(|e| e.left_behind());
        Ok((staging, left))
    }
}

/// Makes the export of one configuration from its rounds' staging folders: round 1
/// is the export itself, rounds 2.. go under `rounds/<k>/` inside it.
pub(super) fn assemble(stagings: &[PathBuf], dest: &Path) -> Result<PathBuf> {
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
        Config::parse_list(list, lib, &[1000], &[]).unwrap()
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
    fn a_configurations_process_has_nvlink_multicast_off_unless_it_sets_its_own() {
        let mut config = configs("native", Path::new("/nonexistent")).remove(0);
        config.env.insert("NVSHMEM_DISABLE_NVLS".into(), "0".into());
        let cmd = configured(OsStr::new("/bin/true"), &config, &BTreeMap::new());
        let seen: BTreeMap<String, Option<String>> = cmd
            .get_envs()
            .map(|(k, v)| {
                (
                    k.to_string_lossy().into_owned(),
                    v.map(|v| v.to_string_lossy().into_owned()),
                )
            })
            .collect();
        assert_eq!(seen["NVSHMEM_DISABLE_NVLS"].as_deref(), Some("0"));
        for (var, value) in crate::run::MULTICAST_OFF
            .into_iter()
            .filter(|(var, _)| *var != "NVSHMEM_DISABLE_NVLS" && std::env::var_os(var).is_none())
        {
            assert_eq!(seen[var].as_deref(), Some(value), "{var}");
        }
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
