//! The transport of every multi-process metric: a child is this same executable with
//! [`CHILD_VAR`] set, so `cargo bench` executables serve as children as well as the
//! CLI. Requests go in as JSON lines on stdin, each naming its [`Operation`] with its
//! payload, replies come out as JSON lines on stdout; a child that dies or stays
//! silent past its timeout is an error naming what it was asked, and it is killed,
//! never left behind. The transport knows no operation: each category defines its
//! own, typed, and registers a [`Handler`] for each, so adding a metric's work to a
//! child touches only its category.

use crate::cuda::Context;
use crate::error::{Error, Result};
use serde::{de::DeserializeOwned, Deserialize, Serialize};
use std::any::{Any, TypeId};
use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::Mutex;
use std::time::Duration;

/// Set to [`SERVE`] or a [`Role`]'s name to make the executable act as a child.
pub const CHILD_VAR: &str = "GPU_VIRT_BENCH_CHILD";
/// The role of a child that holds a context and serves operations until its stdin
/// closes.
pub const SERVE: &str = "serve";
/// The device ordinal whose primary context a serving child holds (0 when unset):
/// one process per GPU is how collectives across GPUs run.
pub const DEVICE_VAR: &str = "GPU_VIRT_BENCH_CHILD_DEVICE";

/// Work a serving child does when asked: the request is the payload, `NAME` says on
/// the wire which handler reads it, and the reply's type is what the sender reads
/// back, so neither side handles untyped JSON.
pub trait Operation: Serialize + DeserializeOwned {
    /// Its name on the wire, unique among every registered operation.
    const NAME: &'static str;
    type Reply: Serialize + DeserializeOwned;
    /// Does the work in the child, which holds `ctx` and keeps `held` between requests.
    fn serve(self, ctx: &Context, held: &mut Held) -> Result<Self::Reply>;
}

/// One operation as a serving child finds it by name: the payload read as its
/// request, its reply written back as JSON.
pub struct Handler {
    name: &'static str,
    serve: fn(&Context, serde_json::Value, &mut Held) -> Result<serde_json::Value>,
}

impl Handler {
    /// The handler of `O`, for a category's table of the operations it registers.
    pub const fn of<O: Operation>() -> Self {
        Self {
            name: O::NAME,
            serve: serve_as::<O>,
        }
    }

    pub fn name(&self) -> &'static str {
        self.name
    }
}

fn serve_as<O: Operation>(
    ctx: &Context,
    payload: serde_json::Value,
    held: &mut Held,
) -> Result<serde_json::Value> {
    let request: O = serde_json::from_value(payload)
        .map_err(|e| Error::Invalid(format!("request of {}: {e}", O::NAME)))?;
    serde_json::to_value(request.serve(ctx, held)?).map_err(|e| Error::Invalid(e.to_string()))
}

/// A child that does one thing and exits instead of serving, for work that must
/// come before this process's first CUDA call (a cold start); it writes what it
/// reports with [`emit`].
pub struct Role {
    pub name: &'static str,
    pub run: fn() -> Result<()>,
}

/// What a serving child keeps between requests, one value per type: an operation
/// whose work must outlive its reply (IS-005's shared buffer, kept allocated while
/// another tenant probes it) keeps it here under a type of its own category.
#[derive(Default)]
pub struct Held(HashMap<TypeId, Box<dyn Any>>);

impl Held {
    /// Keeps `value` until the child exits, in place of any earlier value of its type.
    pub fn keep<T: Any>(&mut self, value: T) {
        self.0.insert(TypeId::of::<T>(), Box::new(value));
    }

    /// The value of type `T` kept last, if any.
    pub fn get<T: Any>(&self) -> Option<&T> {
        self.0.get(&TypeId::of::<T>())?.downcast_ref()
    }
}

/// A request as it goes over the wire.
#[derive(Debug, Serialize, Deserialize)]
struct RequestLine {
    op: String,
    payload: serde_json::Value,
}

/// A serving child's answer as it goes over the wire: `Ready` once it holds its
/// context, then one `Done` or `Failed` per request.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "reply", rename_all = "kebab-case")]
enum Reply {
    Ready,
    Done { value: serde_json::Value },
    Failed { error: String },
}

/// Runs the child side if this process was started as a child, serving `operations`
/// or starting in one of `roles`; returns the exit code.
pub fn serve_if_child(roles: &[Role], operations: &[&[Handler]]) -> Option<i32> {
    let role = std::env::var(CHILD_VAR).ok()?;
    let outcome = if role == SERVE {
        serve(operations)
    } else {
        match roles.iter().find(|r| r.name == role) {
            Some(r) => (r.run)(),
            None => Err(Error::Invalid(format!("unknown child role '{role}'"))),
        }
    };
    Some(match outcome {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("error: child: {e}");
            1
        }
    })
}

/// Writes `value` to the parent as one line.
pub fn emit(value: &impl Serialize) -> Result<()> {
    let line = serde_json::to_string(value).map_err(|e| Error::Invalid(e.to_string()))?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}")
        .and_then(|()| out.flush())
        .map_err(crate::error::io_at("stdout"))
}

fn serve(operations: &[&[Handler]]) -> Result<()> {
    let ctx = Context::primary(device_of(std::env::var(DEVICE_VAR).ok().as_deref())?)?;
    let mut held = Held::default();
    emit(&Reply::Ready)?;
    for line in std::io::stdin().lock().lines() {
        let line = line.map_err(crate::error::io_at("stdin"))?;
        let request: RequestLine =
            serde_json::from_str(&line).map_err(|e| Error::Invalid(format!("request: {e}")))?;
        let handler = find(operations, &request.op).ok_or_else(|| {
            Error::Invalid(format!("request: unknown operation '{}'", request.op))
        })?;
        let reply = match (handler.serve)(&ctx, request.payload, &mut held) {
            Ok(value) => Reply::Done { value },
            Err(e) => Reply::Failed {
                error: e.to_string(),
            },
        };
        emit(&reply)?;
    }
    Ok(())
}

/// The device a serving child holds, from [`DEVICE_VAR`]'s value.
fn device_of(value: Option<&str>) -> Result<i32> {
    value.map_or(Ok(0), |v| {
        v.parse()
            .ok()
            .filter(|d: &i32| *d >= 0)
            .ok_or_else(|| Error::Invalid(format!("{DEVICE_VAR}={v:?} is no device ordinal")))
    })
}

/// The handler registered for `op`.
fn find<'a>(operations: &[&'a [Handler]], op: &str) -> Option<&'a Handler> {
    operations
        .iter()
        .flat_map(|h| h.iter())
        .find(|h| h.name == op)
}

/// How a request to a child ended.
#[derive(Debug)]
pub enum Outcome<R> {
    /// It holds its context and waits for a request.
    Ready,
    Replied(R),
    /// It answered with an error, or with a line that does not read as the reply.
    Failed(String),
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
/// preload included) removed, then `env`'s set; NVLink multicast off in both.
fn command(exe: &Path, role: &str, env: Option<&BTreeMap<String, String>>) -> Command {
    let mut command = Command::new(exe);
    super::switch_multicast_off(&mut command);
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
        Self::spawn_in(role, env, None)
    }

    /// A serving child of this process's environment holding device `device`.
    pub fn spawn_on(device: i32) -> Result<Self> {
        Self::spawn_in(SERVE, None, Some(device))
    }

    fn spawn_in(
        role: &'static str,
        env: Option<&BTreeMap<String, String>>,
        device: Option<i32>,
    ) -> Result<Self> {
        let exe = std::env::current_exe().map_err(crate::error::io_at("current executable"))?;
        let stderr = child_stderr().map_err(crate::error::io_at("child's stderr log"))?;
        let mut command = command(&exe, role, env);
        if let Some(device) = device {
            command.env(DEVICE_VAR, device.to_string());
        }
        let mut process = command
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

    /// The next reply, read as `R`, or how the child ended instead: for a caller that
    /// reports a child's death as a result (an ENF probe that crashed) rather than an
    /// error. A child past `timeout` is killed first.
    pub fn outcome<R: DeserializeOwned>(&mut self, timeout: Duration) -> Outcome<R> {
        match self.lines.recv_timeout(timeout) {
            Ok(Ok(line)) => {
                let unreadable =
                    |e: serde_json::Error| format!("an unreadable reply ({e}): {line}");
                match serde_json::from_str(&line) {
                    Ok(Reply::Ready) => Outcome::Ready,
                    Ok(Reply::Done { value }) => match serde_json::from_value(value) {
                        Ok(reply) => Outcome::Replied(reply),
                        Err(e) => Outcome::Failed(unreadable(e)),
                    },
                    Ok(Reply::Failed { error }) => Outcome::Failed(error),
                    Err(e) => Outcome::Failed(unreadable(e)),
                }
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

    /// Asks a serving child for `request`; its reply is read with [`Child::reply`],
    /// so several children can work at once between the two.
    pub fn send<O: Operation>(&mut self, request: &O) -> Result<()> {
        let line = serde_json::to_value(request)
            .and_then(|payload| {
                serde_json::to_string(&RequestLine {
                    op: O::NAME.to_owned(),
                    payload,
                })
            })
            .map_err(|e| Error::Invalid(e.to_string()))?;
        writeln!(self.stdin, "{line}")
            .and_then(|()| self.stdin.flush())
            .map_err(|e| self.failure(format!("did not take a request ({e})")))
    }

    /// [`Child::send`], then its reply within `timeout`.
    pub fn call<O: Operation>(&mut self, request: &O, timeout: Duration) -> Result<O::Reply> {
        self.send(request)?;
        self.reply(timeout)
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

    /// The reply to the request sent last, read as `R` (the sent operation's
    /// [`Operation::Reply`]), with `Failed` turned into an error.
    pub fn reply<R: DeserializeOwned>(&mut self, timeout: Duration) -> Result<R> {
        match self.said(timeout)? {
            Reply::Done { value } => serde_json::from_value(value)
                .map_err(|e| self.failure(format!("sent an unreadable reply ({e})"))),
            other => Err(self.failure(format!("sent an unexpected reply {other:?}"))),
        }
    }

    /// The next line of a serving child, with `Failed` turned into an error.
    fn said(&mut self, timeout: Duration) -> Result<Reply> {
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
    start_all((0..n).map(|_| Child::spawn(SERVE)))
}

/// As [`spawn_servers`], one child per device ordinal of `devices`, each holding
/// that device's primary context.
pub fn spawn_servers_on(devices: &[i32]) -> Result<Vec<Child>> {
    start_all(devices.iter().map(|&d| Child::spawn_on(d)))
}

/// As [`spawn_servers`], one child per environment, each in its own configuration.
pub fn spawn_servers_with(envs: &[BTreeMap<String, String>]) -> Result<Vec<Child>> {
    start_all(envs.iter().map(|env| Child::spawn_with(SERVE, Some(env))))
}

fn start_all(spawned: impl Iterator<Item = Result<Child>>) -> Result<Vec<Child>> {
    let mut children = spawned.collect::<Result<Vec<_>>>()?;
    for child in &mut children {
        match child.said(START_TIMEOUT)? {
            Reply::Ready => {}
            other => return Err(child.failure(format!("started with {other:?}"))),
        }
    }
    Ok(children)
}

/// Sends one request to every child, then collects every reply: the children work
/// concurrently between the two loops.
pub fn broadcast<O: Operation>(
    children: &mut [Child],
    request: &O,
    timeout: Duration,
) -> Result<Vec<O::Reply>> {
    for child in children.iter_mut() {
        child.send(request)?;
    }
    children.iter_mut().map(|c| c.reply(timeout)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsStr;

    /// A child that sleeps and whose stdout says `lines`, then closes.
    fn saying(lines: &[&str]) -> Child {
        let mut process = Command::new("sleep")
            .arg("30")
            .stdin(Stdio::piped())
            .spawn()
            .unwrap();
        let stdin = process.stdin.take().unwrap();
        let (tx, rx) = mpsc::channel();
        for line in lines {
            tx.send(Ok(line.to_string())).unwrap();
        }
        Child {
            process,
            stdin,
            lines: rx,
            role: SERVE,
        }
    }

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Double(u32);

    impl Operation for Double {
        const NAME: &'static str = "double";
        type Reply = u32;
        fn serve(self, _: &Context, _: &mut Held) -> Result<u32> {
            Ok(self.0 * 2)
        }
    }

    #[test]
    fn a_request_names_its_operation_and_its_handler_is_found_by_that_name() {
        let line = serde_json::to_value(Double(4)).unwrap();
        let sent: RequestLine = serde_json::from_str(
            &serde_json::to_string(&RequestLine {
                op: Double::NAME.to_owned(),
                payload: line,
            })
            .unwrap(),
        )
        .unwrap();
        assert_eq!(sent.op, "double");
        assert_eq!(
            serde_json::from_value::<Double>(sent.payload).unwrap(),
            Double(4)
        );
        let none: &[Handler] = &[];
        let table: &[&[Handler]] = &[none, &[Handler::of::<Double>()]];
        assert_eq!(find(table, "double").map(Handler::name), Some("double"));
        assert!(find(table, "triple").is_none());
    }

    #[test]
    fn replies_are_read_as_the_type_asked_for_and_failures_as_errors() {
        let mut child = saying(&[
            r#"{"reply":"ready"}"#,
            r#"{"reply":"done","value":8}"#,
            r#"{"reply":"done","value":"eight"}"#,
        ]);
        assert!(matches!(
            child.outcome::<u32>(START_TIMEOUT),
            Outcome::Ready
        ));
        assert!(matches!(
            child.outcome(START_TIMEOUT),
            Outcome::Replied(8u32)
        ));
        assert!(
            matches!(child.outcome::<u32>(START_TIMEOUT), Outcome::Failed(e) if e.contains("unreadable")),
        );
        let mut child = saying(&[
            r#"{"reply":"done","value":8}"#,
            r#"{"reply":"failed","error":"cuInit failed"}"#,
        ]);
        assert_eq!(child.reply::<u32>(START_TIMEOUT).unwrap(), 8);
        let err = child.reply::<u32>(START_TIMEOUT).unwrap_err().to_string();
        assert!(err.contains("failed: cuInit failed"), "{err}");
        let err = saying(&[r#"{"reply":"ready"}"#])
            .reply::<u32>(START_TIMEOUT)
            .unwrap_err()
            .to_string();
        assert!(err.contains("unexpected reply Ready"), "{err}");
    }

    #[test]
    fn a_serving_child_holds_the_device_it_is_given_else_device_0() {
        assert_eq!(device_of(None).unwrap(), 0);
        assert_eq!(device_of(Some("3")).unwrap(), 3);
        for bad in ["-1", "gpu1", ""] {
            let err = device_of(Some(bad)).unwrap_err().to_string();
            assert!(err.contains(DEVICE_VAR), "{err}");
        }
    }

    #[test]
    fn held_keeps_one_value_per_type_the_last_kept() {
        let mut held = Held::default();
        assert_eq!(held.get::<u32>(), None);
        held.keep(1u32);
        held.keep(2u32);
        held.keep("other");
        assert_eq!(held.get::<u32>(), Some(&2));
        assert_eq!(held.get::<&str>(), Some(&"other"));
    }

    #[test]
    fn ending_children_together_leaves_none_running() {
        let children: Vec<Child> = (0..3).map(|_| saying(&[])).collect();
        let pids: Vec<u32> = children.iter().map(Child::pid).collect();
        let start = std::time::Instant::now();
        end_all(children);
        assert!(start.elapsed() < Duration::from_secs(5));
        assert!(
            pids.iter().all(|&pid| !crate::system::alive(pid)),
            "{pids:?}"
        );
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
        let native = command(Path::new("/bin/true"), SERVE, Some(&BTreeMap::new()));
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
        assert_eq!(seen[CHILD_VAR].as_deref(), Some(SERVE));
        let own = BTreeMap::from([("LD_PRELOAD".to_string(), "/x/libvgpu.so".to_string())]);
        let seen = envs(&command(Path::new("/bin/true"), SERVE, Some(&own)));
        assert_eq!(seen["LD_PRELOAD"].as_deref(), Some("/x/libvgpu.so"));
        let inherit = command(Path::new("/bin/true"), SERVE, None);
        assert!(!inherit
            .get_envs()
            .any(|(k, _)| k == OsStr::new("LD_PRELOAD")));
    }

    #[test]
    fn every_child_has_nvlink_multicast_off_unless_its_environment_says_otherwise() {
        let own = BTreeMap::from([("NCCL_NVLS_ENABLE".to_string(), "1".to_string())]);
        for (env, nvls) in [(None, "0"), (Some(BTreeMap::new()), "0"), (Some(own), "1")] {
            let seen = envs(&command(Path::new("/bin/true"), SERVE, env.as_ref()));
            for (var, value) in crate::run::MULTICAST_OFF {
                let want = if var == "NCCL_NVLS_ENABLE" {
                    nvls
                } else {
                    value
                };
                match std::env::var(var) {
                    Ok(_) if env.as_ref().is_none_or(|e| !e.contains_key(var)) => {
                        assert_eq!(seen.get(var), None, "{var} of this process is inherited")
                    }
                    _ => assert_eq!(seen[var].as_deref(), Some(want), "{var}"),
                }
            }
        }
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
}
