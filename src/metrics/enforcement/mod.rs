//! Enforcement (ENF): does each limit hold on every path a tenant can take? One probe
//! per path, each in a fresh child process of the configuration (its limits and
//! preload, a state file of its own), each with the same probe run natively as its
//! control. The configuration's worker process starts them one after another and
//! writes what they showed to `enforcement.json`; a child that crashes or hangs is
//! that probe's verdict, and the others go on.

mod env;
pub mod memory;
mod ops;
pub mod state_file;
mod verdict;

pub use ops::OPERATIONS;

use crate::baseline::{
    ConfigRecord, DeviceFacts, EnforcementRecord, ProbeEntry, ProbeKind, ProbeOutcome,
    ProbeVerdict, UNIT_BYTES, UNIT_PERCENT_OF_NATIVE,
};
use crate::cuda::LaunchApi;
use crate::error::{io_at, Error, Result};
use crate::metrics::Selection;
use crate::run::child::{self, Child, Operation, Outcome};
use crate::run::ops::ReadMemInfo;
use crate::system::{GemmPath, Launch, ShapeRun, BATCH_US, WINDOW};
use env::Tamper;
use memory::{MemPath, MemoryOutcome, MemoryRequest};
use ops::{GemmProbe, Probed, SmProbe, TamperStateFile};
use state_file::Tampered;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;
use verdict::{Control, Target};

/// The category's name in the registry.
pub const CATEGORY: &str = "enforcement";
/// Memory is taken in pieces of this size, so what was obtained before a refusal is
/// known to within one piece.
const CHUNK_BYTES: u64 = 1 << 30;
/// Longest a probe child may take (start, the probe, giving everything back).
const PROBE_TIMEOUT: Duration = Duration::from_secs(180);

/// How a probe gets its memory or its SM time.
#[derive(Debug, Clone, Copy, PartialEq)]
enum How {
    /// On `MemPath`, in a fresh child of the configuration.
    Path(MemPath),
    /// With cuMemAlloc, in a child whose environment the tenant changed, sharing the
    /// state file of a child of the configuration that runs meanwhile.
    Env(Tamper),
    /// `fma_work` of this shape, in a fresh child of the configuration.
    Sm(SmShape),
    /// Our bf16 GEMM on this path, in a fresh child of the configuration, read as
    /// the SM probes are.
    Gemm(GemmPath),
    /// With cuMemAlloc, in a child of the configuration sharing the state file whose
    /// limits another child of the configuration rewrote.
    StateFile,
}

/// The work of an SM probe: a grid sized from the parent's native device facts
/// (under MPS the tenant's own attribute shows only its partition).
#[derive(Debug, Clone, Copy, PartialEq)]
struct SmShape {
    launch: Launch,
    blocks_per_sm: u32,
    block_us: f64,
    /// Long blocks are watched for minutes: a limiter may throttle only late.
    watched: bool,
}

impl SmShape {
    /// The child's request for `secs` of this shape, sized from `device`.
    fn request(&self, secs: f64, device: &DeviceFacts) -> SmProbe {
        SmProbe {
            launch: self.launch,
            blocks_per_sm: self.blocks_per_sm,
            block_us: self.block_us,
            batch_us: self.block_us.max(BATCH_US),
            secs,
            device: device.clone(),
        }
    }
}

const fn sm(launch: Launch, blocks_per_sm: u32, block_us: f64, watched: bool) -> How {
    How::Sm(SmShape {
        launch,
        blocks_per_sm,
        block_us,
        watched,
    })
}

/// Seconds an SM probe runs: short shapes, and watched shapes under the
/// configuration, in full and --quick runs; the native control of a watched shape
/// runs only [`NATIVE_WATCH_SECS`], the native rate being steady.
const SHORT_SECS: [f64; 2] = [5.0, 3.0];
const WATCH_SECS: [f64; 2] = [120.0, 20.0];
const NATIVE_WATCH_SECS: f64 = 5.0;

/// One path probed.
#[derive(Debug, Clone, Copy)]
struct Probe {
    id: &'static str,
    path: &'static str,
    kind: ProbeKind,
    how: How,
}

const fn probe(id: &'static str, path: &'static str, kind: ProbeKind, how: How) -> Probe {
    Probe {
        id,
        path,
        kind,
        how,
    }
}

/// Every probe, in the registry's order.
const PROBES: &[Probe] = &[
    probe(
        "ENF-001",
        "cuMemAlloc",
        ProbeKind::Memory,
        How::Path(MemPath::MemAlloc),
    ),
    probe(
        "ENF-002",
        "cudaMalloc (runtime)",
        ProbeKind::Memory,
        How::Path(MemPath::Runtime),
    ),
    probe(
        "ENF-003",
        "cuMemAllocPitch",
        ProbeKind::Memory,
        How::Path(MemPath::Pitch),
    ),
    probe(
        "ENF-004",
        "cuMemAllocManaged (prefetched)",
        ProbeKind::Memory,
        How::Path(MemPath::Managed),
    ),
    probe(
        "ENF-005",
        "cuMemCreate + cuMemMap (VMM)",
        ProbeKind::Memory,
        How::Path(MemPath::Mapped),
    ),
    probe(
        "ENF-006",
        "cuMemAllocAsync (default pool)",
        ProbeKind::Memory,
        How::Path(MemPath::StreamOrdered),
    ),
    probe(
        "ENF-007",
        "cuMemAllocFromPoolAsync (own pool)",
        ProbeKind::Memory,
        How::Path(MemPath::OwnPool),
    ),
    probe(
        "ENF-008",
        "cuArrayCreate",
        ProbeKind::Memory,
        How::Path(MemPath::Array2d),
    ),
    probe(
        "ENF-009",
        "cuArray3DCreate",
        ProbeKind::Memory,
        How::Path(MemPath::Array3d),
    ),
    probe(
        "ENF-010",
        "cuGraphAddMemAllocNode",
        ProbeKind::Memory,
        How::Path(MemPath::GraphNode),
    ),
    probe(
        "ENF-011",
        "device malloc (heap)",
        ProbeKind::Memory,
        How::Path(MemPath::DeviceHeap),
    ),
    probe(
        "ENF-012",
        "limit variables removed",
        ProbeKind::Tamper,
        How::Env(Tamper::LimitsRemoved),
    ),
    probe(
        "ENF-013",
        "limit variables changed",
        ProbeKind::Tamper,
        How::Env(Tamper::LimitsChanged),
    ),
    probe(
        "ENF-014",
        "child without LD_PRELOAD",
        ProbeKind::Tamper,
        How::Env(Tamper::NoPreload),
    ),
    probe(
        "ENF-015",
        "cuGetProcAddress(cuMemAlloc)",
        ProbeKind::Tamper,
        How::Path(MemPath::ProcAddress),
    ),
    probe(
        "ENF-016",
        "dlopen libcuda by path + dlsym",
        ProbeKind::Tamper,
        How::Path(MemPath::FullPath),
    ),
    probe(
        "ENF-017",
        "cuLaunchKernel (short blocks)",
        ProbeKind::Sm,
        sm(KERNEL, 8, 100.0, false),
    ),
    probe(
        "ENF-018",
        "cuLaunchKernelEx",
        ProbeKind::Sm,
        sm(Launch::Api(LaunchApi::KernelEx), 8, 100.0, false),
    ),
    probe(
        "ENF-019",
        "cuLaunchCooperativeKernel",
        ProbeKind::Sm,
        sm(Launch::Api(LaunchApi::Cooperative), 1, 100.0, false),
    ),
    probe(
        "ENF-020",
        "CUDA graph (cuGraphLaunch)",
        ProbeKind::Sm,
        sm(Launch::Graph, 8, 100.0, false),
    ),
    probe(
        "ENF-021",
        "4 streams at once",
        ProbeKind::Sm,
        sm(Launch::Streams(4), 8, 100.0, false),
    ),
    probe(
        "ENF-022",
        "long blocks (1 ms, 1 per SM)",
        ProbeKind::Sm,
        sm(KERNEL, 1, 1000.0, true),
    ),
    probe(
        "ENF-023",
        "long blocks (10 ms, 1 per SM)",
        ProbeKind::Sm,
        sm(KERNEL, 1, 10000.0, true),
    ),
    probe(
        "ENF-024",
        "cuGetProcAddress(cuLaunchKernel)",
        ProbeKind::Tamper,
        sm(Launch::Api(LaunchApi::ProcAddress), 8, 100.0, false),
    ),
    probe(
        "ENF-025",
        "cudaLaunchKernel (runtime)",
        ProbeKind::Sm,
        sm(Launch::Runtime, 8, 100.0, false),
    ),
    probe(
        "ENF-026",
        "state file limits rewritten",
        ProbeKind::Tamper,
        How::StateFile,
    ),
    probe(
        "ENF-027",
        "our GEMM (one block per tile)",
        ProbeKind::Sm,
        How::Gemm(GemmPath::Ours),
    ),
    probe(
        "ENF-028",
        "persistent GEMM (one block per SM)",
        ProbeKind::Sm,
        How::Gemm(GemmPath::OursPersistent),
    ),
];

const KERNEL: Launch = Launch::Api(LaunchApi::Kernel);

/// What the probes of one configuration need to know.
pub struct EnforcementJob<'a> {
    pub config: &'a ConfigRecord,
    /// The device as the parent read it natively.
    pub device: &'a DeviceFacts,
    pub selection: &'a Selection,
    pub quick: bool,
}

/// Runs every selected ENF probe; `None` where the selection holds none.
pub fn run(job: &EnforcementJob<'_>) -> Result<Option<EnforcementRecord>> {
    let probes: Vec<&Probe> = PROBES
        .iter()
        .filter(|p| job.selection.contains(p.id))
        .collect();
    if probes.is_empty() {
        return Ok(None);
    }
    let scratch = tempfile::Builder::new()
        .prefix("gpu-virt-bench-enf-")
        .tempdir()
        .map_err(io_at(std::env::temp_dir()))?;
    let mut runner = Runner {
        config: &job.config.env,
        scratch: scratch.path(),
        pids: Vec::new(),
        caches: 0,
    };
    let (free, total) = runner.native_mem_info()?;
    let used_before_mib = (total - free) >> 20;
    let limit = job.config.mem_limit_mib.map(|mib| mib << 20);
    let target = verdict::target(limit, free);
    let mut entries = Vec::new();
    for probe in probes {
        eprintln!("{CATEGORY}/{}: {}", probe.id, probe.path);
        entries.push(match probe.how {
            How::Sm(shape) => runner.sm_entry(probe, shape.watched, job, |secs| {
                shape.request(secs, job.device)
            }),
            How::Gemm(path) => runner.sm_entry(probe, false, job, |secs| GemmProbe { path, secs }),
            How::Path(path) => runner.memory_entry(probe, path, None, limit, &target),
            How::Env(tamper) => {
                runner.memory_entry(probe, MemPath::MemAlloc, Some(tamper), limit, &target)
            }
            How::StateFile => {
                runner.state_file_entry(probe, limit, job.config.sm_limit_pct, &target)
            }
        });
    }
    let (free, total) = runner.native_mem_info()?;
    Ok(Some(EnforcementRecord {
        config: job.config.name.clone(),
        device: job.device.clone(),
        probes: entries,
        used_before_mib,
        used_after_mib: (total - free) >> 20,
        children_left: runner
            .pids
            .iter()
            .filter(|&&pid| crate::system::alive(pid))
            .count() as u32,
    }))
}

/// Starts the probe children and remembers each, to check after the category that
/// none is left.
struct Runner<'a> {
    config: &'a BTreeMap<String, String>,
    scratch: &'a Path,
    pids: Vec<u32>,
    caches: u32,
}

/// What a probe child came back with.
#[derive(Debug)]
enum Answer {
    Ready,
    Memory(Box<MemoryOutcome>),
    Spin(Box<ShapeRun>),
    Tampered(Box<Tampered>),
    /// The path does not exist in the child, and why.
    Absent(String),
    /// It answered with an error.
    Failed(String),
    Crashed {
        signal: Option<i32>,
        timed_out: bool,
        status: String,
    },
}

impl Runner<'_> {
    /// The configuration's environment with a state file no process has used.
    fn fresh_env(&mut self) -> BTreeMap<String, String> {
        self.caches += 1;
        env::fresh(
            self.config,
            &self.scratch.join(format!("probe-{}.cache", self.caches)),
        )
    }

    /// A started child in `env`, ready for its request.
    fn start(&mut self, env: &BTreeMap<String, String>) -> std::result::Result<Child, Answer> {
        let mut child = Child::spawn_with(child::SERVE, Some(env))
            .map_err(|e| Answer::Failed(e.to_string()))?;
        self.pids.push(child.pid());
        match answer(&mut child, child::START_TIMEOUT) {
            Answer::Ready => Ok(child),
            other => Err(other),
        }
    }

    /// `request` in a new child of `env`, which is gone when this returns.
    fn ask<O: Operation<Reply = Probed>>(
        &mut self,
        env: &BTreeMap<String, String>,
        request: &O,
    ) -> Answer {
        let mut child = match self.start(env) {
            Ok(child) => child,
            Err(answer) => return answer,
        };
        if let Err(e) = child.send(request) {
            return Answer::Failed(e.to_string());
        }
        answer(&mut child, PROBE_TIMEOUT)
    }

    /// Free and total device memory as a native process sees them.
    fn native_mem_info(&mut self) -> Result<(u64, u64)> {
        let mut child = self
            .start(&env::native())
            .map_err(|a| Error::Invalid(format!("native memory reading: {}", a.describe())))?;
        let info = child.call(&ReadMemInfo, child::START_TIMEOUT)?;
        Ok((info.free, info.total))
    }

    /// Runs a memory probe on `path` natively, then in a fresh child of the
    /// configuration, or in one changed by `tamper`, and reads one against the other.
    fn memory_entry(
        &mut self,
        probe: &Probe,
        path: MemPath,
        tamper: Option<Tamper>,
        limit: Option<u64>,
        target: &Target,
    ) -> ProbeEntry {
        let request = memory_request(path, target);
        let control = self.control(&request);
        let answer = match tamper {
            None => {
                let env = self.fresh_env();
                self.ask(&env, &request)
            }
            Some(tamper) => self.tampered(tamper, &request),
        };
        entry(probe, limit, target, answer, &control)
    }

    /// The native control of a memory probe.
    fn control(&mut self, request: &MemoryRequest) -> Control {
        match self.ask(&env::native(), request) {
            Answer::Memory(outcome) => Control::Reported(*outcome),
            other => Control::Failed(other.describe()),
        }
    }

    /// The state-file tamper: a child of the configuration (a fresh state file,
    /// which its interposer creates with the configured limits) rewrites the limits
    /// it finds in that file and keeps it in use, while a new child of the
    /// configuration sharing the file takes memory with cuMemAlloc; read against the
    /// native control, and against what the rewrite found.
    fn state_file_entry(
        &mut self,
        probe: &Probe,
        limit: Option<u64>,
        sm_pct: Option<u32>,
        target: &Target,
    ) -> ProbeEntry {
        let request = memory_request(MemPath::MemAlloc, target);
        let control = self.control(&request);
        let tenant = self.fresh_env();
        let (tampered, answer) = match self.start(&tenant) {
            Err(answer) => (Err(answer.describe()), answer),
            Ok(mut holder) => {
                let tampered = match holder.send(&TamperStateFile { limit, sm_pct }) {
                    Err(e) => Err(e.to_string()),
                    Ok(()) => match answer(&mut holder, PROBE_TIMEOUT) {
                        Answer::Tampered(tampered) => Ok(*tampered),
                        other => Err(other.describe()),
                    },
                };
                (tampered, self.ask(&tenant, &request))
            }
        };
        let mut entry = entry(probe, limit, target, answer, &control);
        entry.outcome.verdict = verdict::state_file_verdict(&tampered, entry.outcome.verdict);
        let rewrite = match &tampered {
            Ok(tampered) => tampered.describe(limit, sm_pct),
            Err(what) => format!("the state file was not rewritten: {what}"),
        };
        entry.outcome.detail = format!("{rewrite}; then a new child: {}", entry.outcome.detail);
        entry
    }

    /// Runs an SM probe natively, then under the configuration, and reads the
    /// delivered share against the native rate; `request` is the child's work for a
    /// number of seconds (minutes under the configuration where `watched`).
    /// Without an SM limit below 100 % there is nothing a path could exceed: the probe
    /// is not run (a native or hami-100 column would otherwise spend a minute and a
    /// half on it).
    fn sm_entry<O: Operation<Reply = Probed>>(
        &mut self,
        probe: &Probe,
        watched: bool,
        job: &EnforcementJob<'_>,
        request: impl Fn(f64) -> O,
    ) -> ProbeEntry {
        if let Some(why) = verdict::sm_probe_needless(job.config.sm_limit_pct) {
            let mut entry = sm_entry(
                probe,
                watched,
                job.config.sm_limit_pct,
                Answer::Absent(why.clone()),
                Answer::Absent(why.clone()),
            );
            absent(&mut entry.outcome, why);
            return entry;
        }
        let mode = usize::from(job.quick);
        let (secs, native_secs) = if watched {
            (WATCH_SECS[mode], NATIVE_WATCH_SECS)
        } else {
            (SHORT_SECS[mode], SHORT_SECS[mode])
        };
        let control = self.ask(&env::native(), &request(native_secs));
        let env = self.fresh_env();
        let answer = self.ask(&env, &request(secs));
        sm_entry(probe, watched, job.config.sm_limit_pct, answer, control)
    }

    /// A tamper child: a child of the configuration creates a fresh state file with
    /// the configured limits and keeps it in use, as the tenant's own process would,
    /// while a second child, its environment changed by `tamper`, shares that file
    /// and runs `request`.
    fn tampered(&mut self, tamper: Tamper, request: &MemoryRequest) -> Answer {
        let tenant = self.fresh_env();
        let _holder = match self.start(&tenant) {
            Ok(child) => child,
            Err(answer) => return answer,
        };
        self.ask(&env::tampered(&tenant, tamper), request)
    }
}

/// What a memory probe child is asked: `target` on `path`, [`CHUNK_BYTES`] at a time.
fn memory_request(path: MemPath, target: &Target) -> MemoryRequest {
    MemoryRequest {
        path,
        target: target.bytes,
        chunk: CHUNK_BYTES,
    }
}

/// The matrix entry of `probe` from what its child and its native control showed.
fn entry(
    probe: &Probe,
    limit: Option<u64>,
    target: &Target,
    answer: Answer,
    control: &Control,
) -> ProbeEntry {
    let mut entry = ProbeEntry {
        id: probe.id.to_string(),
        path: probe.path.to_string(),
        kind: probe.kind,
        outcome: ProbeOutcome {
            verdict: ProbeVerdict::Enforced,
            figure: None,
            unit: UNIT_BYTES.into(),
            limit: limit.map(|l| l as f64),
            control: match control {
                Control::Reported(c) if c.absent.is_none() => Some(c.obtained as f64),
                _ => None,
            },
            status: String::new(),
            detail: String::new(),
        },
    };
    match answer {
        Answer::Memory(memory) => {
            entry.outcome.verdict = verdict::memory_verdict(limit, target, &memory, control);
            entry.outcome.figure = memory.absent.is_none().then_some(memory.obtained as f64);
            entry.outcome.detail = verdict::memory_detail(target, &memory);
            entry.outcome.status = memory.status;
        }
        Answer::Absent(why) => absent(&mut entry.outcome, why),
        other @ (Answer::Ready | Answer::Failed(_) | Answer::Spin(_) | Answer::Tampered(_)) => {
            let error = other.describe();
            entry.outcome.verdict = ProbeVerdict::Inconclusive {
                why: format!("the probe failed: {error}"),
            };
            entry.outcome.status = "failed".into();
            entry.outcome.detail = error;
        }
        Answer::Crashed {
            signal,
            timed_out,
            status,
        } => {
            entry.outcome.verdict = ProbeVerdict::Crashed { signal, timed_out };
            entry.outcome.status = status.clone();
            entry.outcome.detail = format!("the probe child {status}");
        }
    }
    if let Control::Failed(what) = control {
        entry.outcome.detail = format!("{}; native control: {what}", entry.outcome.detail);
    }
    entry
}

/// The matrix entry of an SM probe from what its child and its native control ran.
fn sm_entry(
    probe: &Probe,
    watched: bool,
    limit: Option<u32>,
    answer: Answer,
    control: Answer,
) -> ProbeEntry {
    let mut entry = ProbeEntry {
        id: probe.id.to_string(),
        path: probe.path.to_string(),
        kind: probe.kind,
        outcome: ProbeOutcome {
            verdict: ProbeVerdict::Enforced,
            figure: None,
            unit: UNIT_PERCENT_OF_NATIVE.into(),
            limit: limit.map(f64::from),
            control: None,
            status: "CUDA_SUCCESS".into(),
            detail: String::new(),
        },
    };
    let native = match control {
        Answer::Spin(run) => run,
        Answer::Absent(why) => {
            absent(&mut entry.outcome, format!("natively: {why}"));
            return entry;
        }
        other => {
            entry.outcome.verdict = native_failed(&other.describe());
            entry.outcome.status = "not compared".into();
            entry.outcome.detail = format!("native control: {}", other.describe());
            return entry;
        }
    };
    entry.outcome.control = Some(100.0);
    match answer {
        Answer::Spin(run) => {
            let share = 100.0 * run.kernels_per_s / native.kernels_per_s;
            entry.outcome.verdict = verdict::sm_verdict(limit, share);
            entry.outcome.figure = Some(share);
            // a spin's kernel is the probe's own; a GEMM's depends on the device
            let what = match probe.how {
                How::Gemm(_) => run.shape.clone(),
                _ => format!("{} blocks", run.blocks),
            };
            let mut detail = format!(
                "{:.1} kernels/s of {what}, natively {:.1} kernels/s",
                run.kernels_per_s, native.kernels_per_s
            );
            if let (true, Some(limit)) = (watched, limit) {
                let window_s = WINDOW.as_secs_f64();
                let watched_s = run.windows.len() as f64 * window_s;
                detail += &match verdict::first_throttled(
                    &run.windows,
                    native.kernels_per_s,
                    limit,
                    window_s,
                ) {
                    Some(at) => {
                        format!("; first throttled window at {at:.1} s of {watched_s:.0} s")
                    }
                    None => format!("; no window throttled in {watched_s:.0} s"),
                };
            }
            entry.outcome.detail = detail;
        }
        Answer::Crashed {
            signal,
            timed_out,
            status,
        } => {
            entry.outcome.verdict = ProbeVerdict::Crashed { signal, timed_out };
            entry.outcome.detail = format!("the probe child {status}");
            entry.outcome.status = status;
        }
        Answer::Absent(why) => absent(&mut entry.outcome, why),
        other => {
            entry.outcome.verdict = ProbeVerdict::RefusedUnlikeNative;
            entry.outcome.status = "failed".into();
            entry.outcome.detail = other.describe();
        }
    }
    entry
}

/// Marks `outcome` not applicable: the path does not exist where it was asked for.
fn absent(outcome: &mut ProbeOutcome, why: String) {
    outcome.verdict = ProbeVerdict::NotApplicable { why: why.clone() };
    outcome.status = "not run".into();
    outcome.detail = why;
}

fn native_failed(what: &str) -> ProbeVerdict {
    ProbeVerdict::Inconclusive {
        why: format!("the native control failed: {what}"),
    }
}

/// The child's next reply within `timeout`, or how it ended.
fn answer(child: &mut Child, timeout: Duration) -> Answer {
    read(child.outcome(timeout), timeout)
}

fn read(outcome: Outcome<Probed>, timeout: Duration) -> Answer {
    match outcome {
        Outcome::Ready => Answer::Ready,
        Outcome::Replied(Probed::Memory(outcome)) => Answer::Memory(Box::new(outcome)),
        Outcome::Replied(Probed::Spin(run)) => Answer::Spin(Box::new(run)),
        Outcome::Replied(Probed::Tampered(tampered)) => Answer::Tampered(Box::new(tampered)),
        Outcome::Replied(Probed::Absent { why }) => Answer::Absent(why),
        Outcome::Failed(error) => Answer::Failed(error),
        Outcome::Died { signal, status } => Answer::Crashed {
            signal,
            timed_out: false,
            status: format!("died without answering ({status})"),
        },
        Outcome::TimedOut => Answer::Crashed {
            signal: Some(libc::SIGKILL),
            timed_out: true,
            status: format!(
                "did not answer within {} s and was killed",
                timeout.as_secs()
            ),
        },
    }
}

impl Answer {
    fn describe(&self) -> String {
        match self {
            Self::Ready => "only said it was ready".into(),
            Self::Memory(outcome) => format!("reported {outcome:?}"),
            Self::Spin(run) => format!("ran {run:?}"),
            Self::Tampered(tampered) => format!("rewrote {tampered:?}"),
            Self::Absent(why) => format!("has no such path: {why}"),
            Self::Failed(error) => error.clone(),
            Self::Crashed { status, .. } => status.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::METRICS;

    #[test]
    fn every_probe_is_a_listed_enforcement_metric_and_every_one_is_probed() {
        let listed: Vec<&str> = METRICS
            .iter()
            .filter(|m| m.category == CATEGORY)
            .map(|m| m.id)
            .collect();
        let probed: Vec<&str> = PROBES.iter().map(|p| p.id).collect();
        assert_eq!(listed, probed);
        assert_eq!(Selection::category(CATEGORY).ids(), probed.as_slice());
        assert!(Selection::parse("enf-004").unwrap().contains("ENF-004"));
    }

    #[test]
    fn a_child_that_dies_or_hangs_is_a_crash_with_its_signal() {
        let probe = &PROBES[0];
        let target = verdict::target(Some(1 << 30), 100 << 30);
        let control = Control::Failed("not run".into());
        let timeout = Duration::from_secs(5);
        let died = Outcome::Died {
            signal: Some(libc::SIGSEGV),
            status: "signal: 11 (SIGSEGV)".into(),
        };
        let e = entry(probe, Some(1 << 30), &target, read(died, timeout), &control);
        assert_eq!(
            e.outcome.verdict,
            ProbeVerdict::Crashed {
                signal: Some(libc::SIGSEGV),
                timed_out: false
            }
        );
        assert!(e.outcome.status.contains("SIGSEGV"), "{}", e.outcome.status);
        let e = entry(
            probe,
            Some(1 << 30),
            &target,
            read(Outcome::TimedOut, timeout),
            &control,
        );
        assert_eq!(
            e.outcome.verdict,
            ProbeVerdict::Crashed {
                signal: Some(libc::SIGKILL),
                timed_out: true
            }
        );
        let failed = Outcome::Failed("cuInit failed".into());
        let e = entry(
            probe,
            Some(1 << 30),
            &target,
            read(failed, timeout),
            &control,
        );
        assert!(
            matches!(&e.outcome.verdict, ProbeVerdict::Inconclusive { why } if why.contains("cuInit failed")),
            "{e:?}"
        );
        assert!(
            e.outcome.detail.contains("native control: not run"),
            "{}",
            e.outcome.detail
        );
    }

    fn run(kernels_per_s: f64, windows: Vec<f64>) -> Answer {
        Answer::Spin(Box::new(ShapeRun {
            shape: "enforcement".into(),
            blocks: 132,
            block_us: 1000.0,
            kernels_per_s,
            windows,
            kernel_us_p50: 0.0,
            kernel_us_p99: 0.0,
            fp32_peak_fraction: None,
        }))
    }

    #[test]
    fn an_sm_probe_is_read_as_a_share_of_its_native_rate() {
        let long = PROBES.iter().find(|p| p.id == "ENF-022").unwrap();
        let e = sm_entry(
            long,
            true,
            Some(50),
            run(90.0, vec![100.0, 100.0, 40.0]),
            run(100.0, vec![]),
        );
        assert_eq!(e.outcome.verdict, ProbeVerdict::Bypassed { excess: 40.0 });
        assert_eq!(e.outcome.figure, Some(90.0));
        assert!(
            e.outcome.detail.contains("first throttled window at 1.5 s"),
            "{}",
            e.outcome.detail
        );
        let e = sm_entry(
            long,
            true,
            Some(50),
            run(52.0, vec![52.0]),
            run(100.0, vec![]),
        );
        assert_eq!(e.outcome.verdict, ProbeVerdict::Enforced);
        let refused = Answer::Failed("cuLaunchCooperativeKernel failed".into());
        let e = sm_entry(long, false, Some(50), refused, run(100.0, vec![]));
        assert_eq!(e.outcome.verdict, ProbeVerdict::RefusedUnlikeNative);
        let e = sm_entry(
            long,
            false,
            Some(50),
            run(50.0, vec![]),
            Answer::Failed("no".into()),
        );
        assert!(matches!(
            e.outcome.verdict,
            ProbeVerdict::Inconclusive { .. }
        ));
    }

    #[test]
    fn a_runtime_launch_without_libcudart_is_not_applicable_on_either_side() {
        let runtime = PROBES.iter().find(|p| p.id == "ENF-025").unwrap();
        assert_eq!(runtime.how, sm(Launch::Runtime, 8, 100.0, false));
        let missing = || Answer::Absent("no libcudart on the loader's path".into());
        let e = sm_entry(runtime, false, Some(25), missing(), missing());
        assert_eq!(
            e.outcome.verdict,
            ProbeVerdict::NotApplicable {
                why: "natively: no libcudart on the loader's path".into()
            }
        );
        assert_eq!((e.outcome.figure, e.outcome.control), (None, None));
        let e = sm_entry(runtime, false, Some(25), missing(), run(100.0, vec![]));
        assert!(matches!(
            e.outcome.verdict,
            ProbeVerdict::NotApplicable { .. }
        ));
        assert_eq!(e.outcome.status, "not run");
        let e = sm_entry(
            runtime,
            false,
            Some(25),
            run(27.0, vec![]),
            run(100.0, vec![]),
        );
        assert_eq!(
            (e.outcome.verdict, e.outcome.figure),
            (ProbeVerdict::Enforced, Some(27.0))
        );
    }

    #[test]
    fn probe_ids_are_unique_and_in_order() {
        let ids: Vec<&str> = PROBES.iter().map(|p| p.id).collect();
        let expected: Vec<String> = (1..=PROBES.len()).map(|i| format!("ENF-{i:03}")).collect();
        assert_eq!(ids, expected);
    }

    #[test]
    fn the_gemm_probes_are_sm_probes_on_our_two_grids() {
        let how = |id: &str| {
            let p = PROBES.iter().find(|p| p.id == id).unwrap();
            assert_eq!(p.kind, ProbeKind::Sm, "{id}");
            p.how
        };
        assert_eq!(how("ENF-027"), How::Gemm(GemmPath::Ours));
        assert_eq!(how("ENF-028"), How::Gemm(GemmPath::OursPersistent));
        let gemms = PROBES
            .iter()
            .filter(|p| matches!(p.how, How::Gemm(_)))
            .count();
        assert_eq!(gemms, 2);
    }

    fn gemm_run(shape: &str, kernels_per_s: f64) -> Answer {
        Answer::Spin(Box::new(ShapeRun {
            shape: shape.into(),
            blocks: 132,
            block_us: 5_000.0,
            kernels_per_s,
            windows: vec![kernels_per_s; 10],
            kernel_us_p50: 5_000.0,
            kernel_us_p99: 5_100.0,
            fp32_peak_fraction: None,
        }))
    }

    #[test]
    fn a_gemm_probe_is_read_as_a_share_and_names_its_kernel() {
        let persistent = PROBES.iter().find(|p| p.id == "ENF-028").unwrap();
        let shape = "gemm_sm90_bf16 persistent (132 blocks)";
        let e = sm_entry(
            persistent,
            false,
            Some(25),
            gemm_run(shape, 180.0),
            gemm_run(shape, 200.0),
        );
        assert_eq!(e.outcome.verdict, ProbeVerdict::Bypassed { excess: 65.0 });
        assert_eq!(
            (e.outcome.figure, e.outcome.control),
            (Some(90.0), Some(100.0))
        );
        assert_eq!(
            e.outcome.detail,
            "180.0 kernels/s of gemm_sm90_bf16 persistent (132 blocks), natively 200.0 kernels/s"
        );
        let e = sm_entry(
            persistent,
            false,
            Some(25),
            gemm_run(shape, 52.0),
            gemm_run(shape, 200.0),
        );
        assert_eq!(e.outcome.verdict, ProbeVerdict::Enforced);
    }

    #[test]
    fn the_persistent_gemm_off_hopper_is_not_applicable_with_what_it_needs() {
        let persistent = PROBES.iter().find(|p| p.id == "ENF-028").unwrap();
        let why = GemmPath::OursPersistent
            .ours(crate::cuda::Generation::Sm80)
            .unwrap_err();
        let missing = || Answer::Absent(why.clone());
        let e = sm_entry(persistent, false, Some(25), missing(), missing());
        assert_eq!(
            e.outcome.verdict,
            ProbeVerdict::NotApplicable {
                why: format!("natively: {why}")
            }
        );
        assert!(
            e.outcome.detail.contains("compute capability 9.0"),
            "{}",
            e.outcome.detail
        );
        assert_eq!(
            (e.outcome.figure, e.outcome.status.as_str()),
            (None, "not run")
        );
    }

    #[test]
    fn a_gemm_probe_request_and_its_reply_cross_the_child_s_pipe() {
        let request = GemmProbe {
            path: GemmPath::OursPersistent,
            secs: 3.0,
        };
        let json = serde_json::to_string(&request).unwrap();
        assert_eq!(json, r#"{"path":"ours-persistent","secs":3.0}"#);
        let back: GemmProbe = serde_json::from_str(&json).unwrap();
        assert_eq!((back.path, back.secs), (GemmPath::OursPersistent, 3.0));
        let absent = Probed::Absent {
            why: "no Hopper kernel".into(),
        };
        let json = serde_json::to_string(&absent).unwrap();
        assert!(matches!(
            serde_json::from_str::<Probed>(&json).unwrap(),
            Probed::Absent { why } if why == "no Hopper kernel"
        ));
        assert!(OPERATIONS.iter().any(|h| h.name() == GemmProbe::NAME));
    }
}
