//! The protocol of every multi-process metric: a child is this same executable with
//! [`CHILD_VAR`] set, so `cargo bench` executables serve as children as well as the
//! CLI. Requests go in as JSON lines on stdin, replies come out as JSON lines on
//! stdout; a child that dies or stays silent past its timeout is an error naming
//! what it was asked, and it is killed, never left behind.

use crate::baseline::DeviceFacts;
use crate::cuda::{Context, DeviceBuffer, IpcHandle};
use crate::error::{Error, Result};
use crate::metrics::enforcement::memory::{MemoryOutcome, MemoryRequest};
use crate::metrics::enforcement::state_file::{self, Tampered};
use crate::metrics::isolation::fault::{CheckedRun, FaultReport};
use crate::metrics::isolation::memory::{MemoryProbe, OwnerCheck, SharedBuffer};
use crate::metrics::isolation::tenant::{self, Held};
use crate::metrics::isolation::TenantShape;
use crate::system::{Launch, ShapeRun, VerifyShape};
use serde::{de::DeserializeOwned, Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Set to `serve` or `cold-start` to make the executable act as a child.
pub const CHILD_VAR: &str = "GPU_VIRT_BENCH_CHILD";

/// What a serving child is asked to do.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case")]
pub enum Request {
    /// `pairs` cuMemAlloc + cuMemFree pairs of `bytes`, each pair timed.
    AllocFree { bytes: usize, pairs: u64 },
    /// Hold the context idle for `ms` and report the process's CPU time meanwhile.
    Idle { ms: u64 },
    /// Blocks of fixed work on all SMs for `secs`, one kernel at a time (IS metrics).
    /// The grid is sized from `device`, the facts the parent read natively: under an
    /// SM partition (MPS) the tenant's own device attribute shows only its share, and
    /// work sized from it would shrink with the partition and hide it.
    Spin {
        blocks_per_sm: u32,
        block_us: f64,
        secs: f64,
        device: DeviceFacts,
    },
    /// A bf16 GEMM of 4096³ for `secs`, one at a time: ours, or cuBLAS's (IS-003).
    Gemm { cublas: bool, secs: f64 },
    /// Allocate `chunk_mib` chunks until one is refused, then free them (IS-001/002).
    FillMemory { chunk_mib: u64 },
    /// IS-005 victim: allocate `bytes`, write the pattern of `seed`, keep it, export it.
    ShareMemory { bytes: usize, seed: u64 },
    /// IS-005 aggressor: try to read another tenant's memory.
    ProbeMemory {
        address: u64,
        bytes: usize,
        seed: u64,
        ipc_handle: Option<IpcHandle>,
    },
    /// IS-005 victim: does the shared buffer still hold its pattern?
    CheckShared,
    /// IS-010 aggressor: write to `address`, which no allocation covers.
    Fault { address: u64 },
    /// IS-010 victim: spin kernels of `shape` for `secs`, every one checked.
    CheckedSpin {
        shape: TenantShape,
        secs: f64,
        window_s: f64,
    },
    /// ENF memory probe: hold memory on one path, then give it all back.
    Memory(MemoryRequest),
    /// cuMemGetInfo as this process sees it.
    MemInfo,
    /// The device's facts as this process sees them.
    DeviceFacts,
    /// The native throughput of every SM-share shape, `secs` each, on `device` (the
    /// facts the parent read): the reference a configuration's share is read against.
    Reference { secs: f64, device: DeviceFacts },
    /// ENF state-file tamper: rewrite the limits in the state file this child's
    /// environment names, which its own interposer has mapped too.
    TamperStateFile {
        limit: Option<u64>,
        sm_pct: Option<u32>,
    },
    /// ENF SM probe: [`Request::Spin`]'s work, its kernels launched by `launch`.
    SmProbe {
        launch: Launch,
        blocks_per_sm: u32,
        block_us: f64,
        batch_us: f64,
        secs: f64,
        device: DeviceFacts,
    },
}

/// A serving child's answer; `Absent` says why the path asked for does not exist in
/// this process.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "reply", rename_all = "kebab-case")]
pub enum Reply {
    Ready,
    Elapsed { ns: u64 },
    CpuTime { ns: u64 },
    Spin(ShapeRun),
    Filled(MemoryFill),
    Shared(SharedBuffer),
    Probed(MemoryProbe),
    OwnerChecked(OwnerCheck),
    Faulted(FaultReport),
    Checked(CheckedRun),
    Memory(MemoryOutcome),
    MemInfo { free: u64, total: u64 },
    Reference(crate::system::Reference),
    DeviceFacts(DeviceFacts),
    Tampered(Tampered),
    Absent { why: String },
    Failed { error: String },
}

impl Reply {
    /// The error for a reply that does not answer the request sent; one wording for
    /// every multi-process metric.
    pub fn unexpected(&self) -> Error {
        Error::Worker {
            config: "child (serve)".into(),
            what: format!("sent an unexpected reply {self:?}"),
        }
    }
}

/// What allocating until refused found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MemoryFill {
    pub usable_mib: u64,
    /// The CUresult name of the refused allocation; `None` if nothing refused before
    /// the safety cap.
    pub refusal: Option<String>,
    /// Host time of the refused call.
    pub refusal_us: f64,
}

/// Most a fill allocates, so a tenant without a limit cannot exhaust the host's GPU
/// for its neighbours for long.
const FILL_CAP_MIB: u64 = 1 << 20;

/// A cold-start child's report: what the first CUDA calls of a process cost.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ColdStart {
    pub init_ns: u64,
    pub context_ns: u64,
}

/// Runs the child side if this process was started as a child; returns the exit code.
pub fn serve_if_child() -> Option<i32> {
    let role = std::env::var(CHILD_VAR).ok()?;
    let outcome = match role.as_str() {
        "serve" => serve(),
        "cold-start" => cold_start(),
        other => Err(Error::Invalid(format!("unknown child role '{other}'"))),
    };
    Some(match outcome {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("error: child: {e}");
            1
        }
    })
}

fn emit(value: &impl Serialize) -> Result<()> {
    let line = serde_json::to_string(value).map_err(|e| Error::Invalid(e.to_string()))?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}")
        .and_then(|()| out.flush())
        .map_err(crate::error::io_at("stdout"))
}

fn cold_start() -> Result<()> {
    let start = Instant::now();
    crate::cuda::init()?;
    let init = start.elapsed();
    let start = Instant::now();
    let ctx = Context::primary(0)?;
    crate::cuda::synchronize()?;
    let context = start.elapsed();
    drop(ctx);
    emit(&ColdStart {
        init_ns: init.as_nanos() as u64,
        context_ns: context.as_nanos() as u64,
    })
}

/// CPU time (user + system) of this whole process, all threads: an interposer's
/// monitoring threads count too, which is the point of OH-009.
fn process_cpu_time() -> Duration {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage fills the struct; RUSAGE_SELF is always valid.
    let usage = unsafe {
        libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr());
        usage.assume_init()
    };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

fn serve() -> Result<()> {
    let ctx = Context::primary(0)?;
    let mut held = Held::default();
    emit(&Reply::Ready)?;
    for line in std::io::stdin().lock().lines() {
        let line = line.map_err(crate::error::io_at("stdin"))?;
        let request: Request =
            serde_json::from_str(&line).map_err(|e| Error::Invalid(format!("request: {e}")))?;
        let reply = match handle(&ctx, &request, &mut held) {
            Ok(reply) => reply,
            Err(e) => Reply::Failed {
                error: e.to_string(),
            },
        };
        emit(&reply)?;
    }
    Ok(())
}

fn handle(ctx: &Context, request: &Request, held: &mut Held) -> Result<Reply> {
    Ok(match *request {
        Request::AllocFree { bytes, pairs: n } => {
            let mut total = Duration::ZERO;
            for _ in 0..n {
                let start = Instant::now();
                DeviceBuffer::new(bytes)?.free()?;
                total += start.elapsed();
            }
            Reply::Elapsed {
                ns: total.as_nanos() as u64,
            }
        }
        Request::Idle { ms } => {
            let before = process_cpu_time();
            std::thread::sleep(Duration::from_millis(ms));
            Reply::CpuTime {
                ns: (process_cpu_time() - before).as_nanos() as u64,
            }
        }
        Request::Spin {
            blocks_per_sm,
            block_us,
            secs,
            ref device,
        } => {
            let shape = VerifyShape {
                name: "tenant",
                blocks_per_sm,
                block_us,
            };
            let kernels = crate::cuda::LaunchKernels::load()?;
            Reply::Spin(crate::system::run_shape(
                &kernels, device, &shape, secs, block_us,
            )?)
        }
        Request::Gemm { cublas, secs } => Reply::Spin(crate::system::run_gemm(
            if cublas {
                crate::system::GemmPath::Cublas
            } else {
                crate::system::GemmPath::Ours
            },
            secs,
        )?),
        Request::FillMemory { chunk_mib } => Reply::Filled(fill_memory(chunk_mib)?),
        Request::ShareMemory { bytes, seed } => Reply::Shared(tenant::share(held, bytes, seed)?),
        Request::ProbeMemory {
            address,
            bytes,
            seed,
            ipc_handle,
        } => Reply::Probed(tenant::probe(address, bytes, seed, ipc_handle)?),
        Request::CheckShared => Reply::OwnerChecked(tenant::check_shared(held)?),
        Request::Fault { address } => Reply::Faulted(tenant::fault(address)?),
        Request::CheckedSpin {
            shape,
            secs,
            window_s,
        } => Reply::Checked(tenant::checked_spin(shape, secs, window_s)?),
        Request::Memory(ref memory) => {
            Reply::Memory(crate::metrics::enforcement::memory::probe(ctx, memory)?)
        }
        Request::TamperStateFile { limit, sm_pct } => {
            Reply::Tampered(state_file::tamper(limit, sm_pct)?)
        }
        Request::SmProbe {
            launch,
            blocks_per_sm,
            block_us,
            batch_us,
            secs,
            ref device,
        } => {
            if let Some(why) = launch.missing() {
                return Ok(Reply::Absent { why });
            }
            let shape = VerifyShape {
                name: "enforcement",
                blocks_per_sm,
                block_us,
            };
            let kernels = crate::cuda::LaunchKernels::load()?;
            Reply::Spin(crate::system::run_shape_via(
                &kernels, device, &shape, secs, batch_us, launch,
            )?)
        }
        Request::MemInfo => {
            let (free, total) = crate::cuda::mem_info()?;
            Reply::MemInfo { free, total }
        }
        Request::DeviceFacts => Reply::DeviceFacts(crate::system::device_facts(&ctx.device())?),
        Request::Reference { secs, ref device } => {
            Reply::Reference(crate::system::measure_reference(device, secs)?)
        }
    })
}

fn fill_memory(chunk_mib: u64) -> Result<MemoryFill> {
    let mut chunks = Vec::new();
    let bytes = (chunk_mib << 20) as usize;
    loop {
        if chunks.len() as u64 * chunk_mib >= FILL_CAP_MIB {
            return Ok(MemoryFill {
                usable_mib: chunks.len() as u64 * chunk_mib,
                refusal: None,
                refusal_us: 0.0,
            });
        }
        let start = Instant::now();
        match DeviceBuffer::new(bytes) {
            Ok(buf) => chunks.push(buf),
            Err(Error::Cuda { name, .. }) => {
                return Ok(MemoryFill {
                    usable_mib: chunks.len() as u64 * chunk_mib,
                    refusal: Some(name),
                    refusal_us: start.elapsed().as_secs_f64() * 1e6,
                })
            }
            Err(other) => return Err(other),
        }
    }
}

/// How a request to a child ended.
#[derive(Debug)]
pub enum Outcome {
    Replied(Reply),
    /// The child exited or was killed by a signal without answering.
    Died {
        signal: Option<i32>,
        status: String,
    },
    /// It did not answer in time and was killed.
    TimedOut,
}

/// Where the stderr of children started from now on goes; `None`: this process's.
static STDERR_LOG: Mutex<Option<std::os::fd::OwnedFd>> = Mutex::new(None);

/// Sends the stderr of every child started from now on into `log` (`None`: back to
/// this process's stderr). The tenants of a scenario are started deep inside its
/// code, and what an interposer prints in each would tear the progress bar, so the
/// scenario's run sets this once for all of them, as stderr itself is set once per
/// process.
pub fn send_stderr_to(log: Option<std::os::fd::OwnedFd>) {
    *STDERR_LOG.lock().unwrap_or_else(|e| e.into_inner()) = log;
}

/// A child's stderr: the log [`send_stderr_to`] set, else this process's.
fn child_stderr() -> std::io::Result<Stdio> {
    match &*STDERR_LOG.lock().unwrap_or_else(|e| e.into_inner()) {
        Some(log) => log.try_clone().map(Stdio::from),
        None => Ok(Stdio::inherit()),
    }
}

/// The command line of a child in `role`: this process's environment, or, given
/// `env`, a configuration's own: every interposer variable of this process (the
/// preload included) removed, then `env`'s set.
fn command(exe: &Path, role: &str, env: Option<&BTreeMap<String, String>>) -> Command {
    let mut command = Command::new(exe);
    if let Some(env) = env {
        super::clear_interposer_env(&mut command);
        command.envs(env);
    }
    command
        .env(CHILD_VAR, role)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped());
    command
}

/// Whether process `pid` still runs (a zombie or a missing /proc entry does not).
pub fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        stat.rsplit_once(") ")
            .and_then(|(_, rest)| rest.chars().next())
            .is_some_and(|state| state != 'Z' && state != 'X')
    })
}

/// A running child, killed and reaped on drop.
pub struct Child {
    process: std::process::Child,
    stdin: ChildStdin,
    lines: Receiver<std::io::Result<String>>,
    role: &'static str,
}

/// How long a child may take to start (cuInit under an interposer takes ~0.3 s).
pub const START_TIMEOUT: Duration = Duration::from_secs(60);

impl Child {
    /// Starts this executable as a child in `role`, inheriting this process's
    /// environment (so its configuration's interposer and limits too).
    pub fn spawn(role: &'static str) -> Result<Self> {
        Self::spawn_with(role, None)
    }

    /// As [`Child::spawn`], but in the environment of a configuration of its own:
    /// interposer variables of this process are removed and `env`'s are set.
    pub fn spawn_with(role: &'static str, env: Option<&BTreeMap<String, String>>) -> Result<Self> {
        let exe = std::env::current_exe().map_err(crate::error::io_at("current executable"))?;
        let stderr = child_stderr().map_err(crate::error::io_at("child's stderr log"))?;
        let mut process = command(&exe, role, env)
            .stderr(stderr)
            .spawn()
            .map_err(crate::error::io_at("child process"))?;
        let stdin = process.stdin.take().expect("piped stdin");
        let stdout = process.stdout.take().expect("piped stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Ok(Self {
            process,
            stdin,
            lines,
            role,
        })
    }

    /// The child's process id, to check after the fact that it is gone.
    pub fn pid(&self) -> u32 {
        self.process.id()
    }

    /// The next reply, or how the child ended instead: for a caller that reports a
    /// child's death as a result (an ENF probe that crashed) rather than an error.
    /// A child past `timeout` is killed first.
    pub fn outcome(&mut self, timeout: Duration) -> Outcome {
        match self.lines.recv_timeout(timeout) {
            Ok(Ok(line)) => {
                Outcome::Replied(
                    serde_json::from_str(&line).unwrap_or_else(|e| Reply::Failed {
                        error: format!("an unreadable reply ({e}): {line}"),
                    }),
                )
            }
            Err(RecvTimeoutError::Timeout) => {
                let _ = self.process.kill();
                let _ = self.process.wait();
                Outcome::TimedOut
            }
            Ok(Err(e)) => {
                let _ = self.process.kill();
                let _ = self.process.wait();
                Outcome::Died {
                    signal: None,
                    status: format!("its stdout failed ({e}), so it was killed"),
                }
            }
            Err(RecvTimeoutError::Disconnected) => match self.process.wait() {
                Ok(status) => Outcome::Died {
                    signal: std::os::unix::process::ExitStatusExt::signal(&status),
                    status: status.to_string(),
                },
                Err(e) => Outcome::Died {
                    signal: None,
                    status: e.to_string(),
                },
            },
        }
    }

    pub fn send(&mut self, request: &Request) -> Result<()> {
        let line = serde_json::to_string(request).map_err(|e| Error::Invalid(e.to_string()))?;
        writeln!(self.stdin, "{line}")
            .and_then(|()| self.stdin.flush())
            .map_err(|e| self.failure(format!("did not take a request ({e})")))
    }

    /// The next JSON line, within `timeout`.
    pub fn receive<T: DeserializeOwned>(&mut self, timeout: Duration) -> Result<T> {
        match self.lines.recv_timeout(timeout) {
            Ok(Ok(line)) => serde_json::from_str(&line)
                .map_err(|e| self.failure(format!("sent an unreadable reply ({e}): {line}"))),
            Ok(Err(e)) => Err(self.failure(format!("stdout failed ({e})"))),
            Err(RecvTimeoutError::Timeout) => Err(self.failure(format!(
                "did not answer within {} s and was killed",
                timeout.as_secs_f64()
            ))),
            Err(RecvTimeoutError::Disconnected) => {
                let status = self.process.wait().map(|s| s.to_string());
                Err(self.failure(format!(
                    "exited without answering ({})",
                    status.unwrap_or_else(|e| e.to_string())
                )))
            }
        }
    }

    /// The next reply of a serving child, with `Failed` turned into an error.
    pub fn reply(&mut self, timeout: Duration) -> Result<Reply> {
        match self.receive(timeout)? {
            Reply::Failed { error } => Err(self.failure(format!("failed: {error}"))),
            reply => Ok(reply),
        }
    }

    fn failure(&mut self, what: String) -> Error {
        let _ = self.process.kill();
        Error::Worker {
            config: format!("child ({})", self.role),
            what,
        }
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

/// Ends `children` together: every one is killed before any is waited for, so the
/// driver tears their contexts down at once rather than one after another (the drop
/// of each then only reaps it).
pub fn end_all(mut children: Vec<Child>) {
    for child in &mut children {
        let _ = child.process.kill();
    }
}

/// Starts `n` serving children and waits until every one holds its context, so the
/// work sent next starts in all of them at once (a barrier).
pub fn spawn_servers(n: usize) -> Result<Vec<Child>> {
    start_all((0..n).map(|_| Child::spawn("serve")))
}

/// As [`spawn_servers`], one child per environment, each in its own configuration.
pub fn spawn_servers_with(envs: &[BTreeMap<String, String>]) -> Result<Vec<Child>> {
    start_all(envs.iter().map(|env| Child::spawn_with("serve", Some(env))))
}

fn start_all(spawned: impl Iterator<Item = Result<Child>>) -> Result<Vec<Child>> {
    let mut children = spawned.collect::<Result<Vec<_>>>()?;
    for child in &mut children {
        match child.reply(START_TIMEOUT)? {
            Reply::Ready => {}
            other => return Err(child.failure(format!("started with {other:?}"))),
        }
    }
    Ok(children)
}

/// Sends one request to every child, then collects every reply: the children work
/// concurrently between the two loops.
pub fn broadcast(
    children: &mut [Child],
    request: &Request,
    timeout: Duration,
) -> Result<Vec<Reply>> {
    for child in children.iter_mut() {
        child.send(request)?;
    }
    children.iter_mut().map(|c| c.reply(timeout)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsStr;

    #[test]
    fn ending_children_together_leaves_none_running() {
        let children: Vec<Child> = (0..3)
            .map(|_| {
                let mut process = Command::new("sleep")
                    .arg("30")
                    .stdin(Stdio::piped())
                    .spawn()
                    .unwrap();
                let stdin = process.stdin.take().unwrap();
                Child {
                    process,
                    stdin,
                    lines: mpsc::channel().1,
                    role: "serve",
                }
            })
            .collect();
        let pids: Vec<u32> = children.iter().map(Child::pid).collect();
        let start = std::time::Instant::now();
        end_all(children);
        assert!(start.elapsed() < Duration::from_secs(5));
        assert!(pids.iter().all(|&pid| !alive(pid)), "{pids:?}");
    }

    fn envs(command: &Command) -> BTreeMap<String, Option<String>> {
        command
            .get_envs()
            .map(|(k, v)| {
                (
                    k.to_string_lossy().into_owned(),
                    v.map(|v| v.to_string_lossy().into_owned()),
                )
            })
            .collect()
    }

    #[test]
    fn a_configuration_child_drops_the_parents_interposer_and_sets_its_own() {
        let native = command(Path::new("/bin/true"), "serve", Some(&BTreeMap::new()));
        let seen = envs(&native);
        for (var, _) in std::env::vars().filter(|(var, _)| crate::run::is_interposer_var(var)) {
            assert_eq!(
                seen.get(&var),
                Some(&None),
                "{var} of this process is removed"
            );
        }
        assert!(
            seen.iter()
                .all(|(var, value)| !crate::run::is_interposer_var(var) || value.is_none()),
            "{seen:?}"
        );
        assert_eq!(seen[CHILD_VAR].as_deref(), Some("serve"));
        let own = BTreeMap::from([("LD_PRELOAD".to_string(), "/x/libvgpu.so".to_string())]);
        let seen = envs(&command(Path::new("/bin/true"), "serve", Some(&own)));
        assert_eq!(seen["LD_PRELOAD"].as_deref(), Some("/x/libvgpu.so"));
        let inherit = command(Path::new("/bin/true"), "serve", None);
        assert!(!inherit
            .get_envs()
            .any(|(k, _)| k == OsStr::new("LD_PRELOAD")));
    }

    #[test]
    fn children_print_into_the_log_set_until_it_is_unset() {
        let tmp = tempfile::tempdir().unwrap();
        let log = tmp.path().join("output.log");
        send_stderr_to(Some(std::fs::File::create(&log).unwrap().into()));
        let printed = Command::new("sh")
            .args(["-c", "echo tenant says >&2"])
            .stderr(child_stderr().unwrap())
            .status();
        send_stderr_to(None);
        assert!(printed.unwrap().success());
        assert_eq!(std::fs::read_to_string(&log).unwrap(), "tenant says\n");
        assert!(STDERR_LOG.lock().unwrap().is_none());
    }

    #[test]
    fn this_process_is_alive_and_a_finished_one_is_not() {
        assert!(alive(std::process::id()));
        let mut done = Command::new("true").spawn().unwrap();
        let pid = done.id();
        done.wait().unwrap();
        assert!(!alive(pid));
    }
}
