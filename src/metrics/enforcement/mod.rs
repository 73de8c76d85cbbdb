//! Enforcement (ENF): does each limit hold on every path a tenant can take? One probe
//! per path, each in a fresh child process of the configuration (its limits and
//! preload, a state file of its own), each with the same probe run natively as its
//! control. The configuration's worker process starts them one after another and
//! writes what they showed to `enforcement.json`; a child that crashes or hangs is
//! that probe's verdict, and the others go on.

mod env;
pub mod memory;
mod verdict;

use crate::baseline::{
    ConfigRecord, DeviceFacts, EnforcementRecord, ProbeEntry, ProbeKind, ProbeVerdict,
};
use crate::error::{io_at, Error, Result};
use crate::metrics::Selection;
use crate::run::child::{self, Child, Outcome, Reply, Request};
use env::Tamper;
use memory::{MemPath, MemoryOutcome, MemoryRequest};
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

/// How a probe gets its memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum How {
    /// On `MemPath`, in a fresh child of the configuration.
    Path(MemPath),
    /// With cuMemAlloc, in a child whose environment the tenant changed, sharing the
    /// state file of a child of the configuration that runs meanwhile.
    Env(Tamper),
}

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
];

/// What the probes of one configuration need to know.
pub struct EnforcementJob<'a> {
    pub config: &'a ConfigRecord,
    /// The device as the parent read it natively.
    pub device: &'a DeviceFacts,
    pub selection: &'a Selection,
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
        entries.push(runner.memory_entry(probe, limit, &target));
    }
    let (free, total) = runner.native_mem_info()?;
    Ok(Some(EnforcementRecord {
        config: job.config.name.clone(),
        device: job.device.clone(),
        probes: entries,
        used_before_mib,
        used_after_mib: (total - free) >> 20,
        children_left: runner.pids.iter().filter(|&&pid| child::alive(pid)).count() as u32,
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
        let mut child =
            Child::spawn_with("serve", Some(env)).map_err(|e| Answer::Failed(e.to_string()))?;
        self.pids.push(child.pid());
        match answer(&mut child, child::START_TIMEOUT) {
            Answer::Ready => Ok(child),
            other => Err(other),
        }
    }

    /// `request` in a new child of `env`, which is gone when this returns.
    fn ask(&mut self, env: &BTreeMap<String, String>, request: &Request) -> Answer {
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
        child.send(&Request::MemInfo)?;
        match child.reply(child::START_TIMEOUT)? {
            Reply::MemInfo { free, total } => Ok((free, total)),
            other => Err(other.unexpected()),
        }
    }

    /// Runs `probe` under the configuration and natively, and reads one against the
    /// other.
    fn memory_entry(&mut self, probe: &Probe, limit: Option<u64>, target: &Target) -> ProbeEntry {
        let path = match probe.how {
            How::Path(path) => path,
            How::Env(_) => MemPath::MemAlloc,
        };
        let request = Request::Memory(MemoryRequest {
            path,
            target: target.bytes,
            chunk: CHUNK_BYTES,
        });
        let control = match self.ask(&env::native(), &request) {
            Answer::Memory(outcome) => Control::Reported(*outcome),
            other => Control::Failed(other.describe()),
        };
        let answer = match probe.how {
            How::Path(_) => {
                let env = self.fresh_env();
                self.ask(&env, &request)
            }
            How::Env(tamper) => self.tampered(tamper, &request),
        };
        entry(probe, limit, target, answer, &control)
    }

    /// A tamper child: a child of the configuration creates a fresh state file with
    /// the configured limits and keeps it in use, as the tenant's own process would,
    /// while a second child, its environment changed by `tamper`, shares that file
    /// and runs `request`.
    fn tampered(&mut self, tamper: Tamper, request: &Request) -> Answer {
        let tenant = self.fresh_env();
        let _holder = match self.start(&tenant) {
            Ok(child) => child,
            Err(answer) => return answer,
        };
        self.ask(&env::tampered(&tenant, tamper), request)
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
        verdict: ProbeVerdict::Enforced,
        figure: None,
        unit: "bytes".into(),
        limit: limit.map(|l| l as f64),
        control: match control {
            Control::Reported(c) if c.absent.is_none() => Some(c.obtained as f64),
            _ => None,
        },
        status: String::new(),
        detail: String::new(),
    };
    match answer {
        Answer::Memory(outcome) => {
            entry.verdict = verdict::memory_verdict(limit, target, &outcome, control);
            entry.figure = outcome.absent.is_none().then_some(outcome.obtained as f64);
            entry.detail = verdict::memory_detail(target, &outcome);
            entry.status = outcome.status;
        }
        other @ (Answer::Ready | Answer::Failed(_)) => {
            let error = other.describe();
            entry.verdict = ProbeVerdict::Inconclusive {
                why: format!("the probe failed: {error}"),
            };
            entry.status = "failed".into();
            entry.detail = error;
        }
        Answer::Crashed {
            signal,
            timed_out,
            status,
        } => {
            entry.verdict = ProbeVerdict::Crashed { signal, timed_out };
            entry.status = status.clone();
            entry.detail = format!("the probe child {status}");
        }
    }
    if let Control::Failed(what) = control {
        entry.detail = format!("{}; native control: {what}", entry.detail);
    }
    entry
}

/// The child's next reply within `timeout`, or how it ended.
fn answer(child: &mut Child, timeout: Duration) -> Answer {
    read(child.outcome(timeout), timeout)
}

fn read(outcome: Outcome, timeout: Duration) -> Answer {
    match outcome {
        Outcome::Replied(Reply::Memory(outcome)) => Answer::Memory(Box::new(outcome)),
        Outcome::Replied(Reply::Ready) => Answer::Ready,
        Outcome::Replied(Reply::Failed { error }) => Answer::Failed(error),
        Outcome::Replied(other) => Answer::Failed(other.unexpected().to_string()),
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
            e.verdict,
            ProbeVerdict::Crashed {
                signal: Some(libc::SIGSEGV),
                timed_out: false
            }
        );
        assert!(e.status.contains("SIGSEGV"), "{}", e.status);
        let e = entry(
            probe,
            Some(1 << 30),
            &target,
            read(Outcome::TimedOut, timeout),
            &control,
        );
        assert_eq!(
            e.verdict,
            ProbeVerdict::Crashed {
                signal: Some(libc::SIGKILL),
                timed_out: true
            }
        );
        let failed = Outcome::Replied(Reply::Failed {
            error: "cuInit failed".into(),
        });
        let e = entry(
            probe,
            Some(1 << 30),
            &target,
            read(failed, timeout),
            &control,
        );
        assert!(
            matches!(&e.verdict, ProbeVerdict::Inconclusive { why } if why.contains("cuInit failed")),
            "{e:?}"
        );
        assert!(e.detail.contains("native control: not run"), "{}", e.detail);
    }
}
