//! The MPS control daemons of `mps-<pct>` configurations: one per configuration,
//! with a private pipe and log folder (never the system's default, so no other
//! configuration and no native run becomes an MPS client), stopped and removed when
//! the run ends, also when it fails or is interrupted.

use crate::error::{Error, Result};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// NVIDIA's MPS control program, looked up on PATH.
pub const CONTROL: &str = "nvidia-cuda-mps-control";
/// How long a daemon may take to start or to stop.
const TIMEOUT: Duration = Duration::from_secs(10);

/// The daemon this process is a client of (CUDA_MPS_PIPE_DIRECTORY is set), as run.json
/// names it: the control program on PATH and the driver's version line.
pub fn client_of() -> Option<crate::baseline::MpsIdentity> {
    std::env::var_os("CUDA_MPS_PIPE_DIRECTORY")?;
    let control = crate::system::identify(&find_control()?).ok()?;
    let driver = std::fs::read_to_string("/proc/driver/nvidia/version")
        .ok()
        .and_then(|text| {
            text.lines()
                .next()
                .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        });
    Some(crate::baseline::MpsIdentity { control, driver })
}

/// The control program on PATH, if there is one.
pub fn find_control() -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(CONTROL))
        .find(|path| path.is_file())
}

/// The daemons this process started and has not stopped yet, so an interrupt can
/// stop them too.
static RUNNING: Mutex<Vec<Started>> = Mutex::new(Vec::new());

/// What stopping a daemon needs: its control program, its pipe folder, and the MPS
/// processes that ran before it started (any other that appeared since is waited
/// for: a server the daemon starts may carry neither its pipe nor a log line naming it).
#[derive(Debug, Clone)]
struct Started {
    program: PathBuf,
    pipe: PathBuf,
    before: Vec<u32>,
}

/// One running daemon; dropping it stops the daemon and removes its folders.
pub struct MpsDaemon {
    started: Started,
    dir: Option<tempfile::TempDir>,
}

impl MpsDaemon {
    /// Starts `program -d` (the control daemon) with folders of its own under
    /// `parent`, and waits until it answers.
    pub fn start(program: &Path, parent: &Path, config: &str) -> Result<Self> {
        let failed = |detail: String| Error::Mps {
            config: config.to_owned(),
            detail,
        };
        let started = Instant::now();
        let dir = tempfile::Builder::new()
            .prefix("mps-")
            .tempdir_in(parent)
            .map_err(|e| failed(format!("no folder for its pipes ({e})")))?;
        let (pipe, log) = (dir.path().join("pipe"), dir.path().join("log"));
        for folder in [&pipe, &log] {
            std::fs::create_dir(folder)
                .map_err(|e| failed(format!("{}: {e}", folder.display())))?;
        }
        become_subreaper();
        let before = mps_pids();
        let status = Command::new(program)
            .arg("-d")
            .env("CUDA_MPS_PIPE_DIRECTORY", &pipe)
            .env("CUDA_MPS_LOG_DIRECTORY", &log)
            .stdin(Stdio::null())
            .status()
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::NotFound => failed(format!(
                    "{} is not on PATH; install the NVIDIA driver's MPS tools",
                    program.display()
                )),
                _ => failed(format!("{} could not start ({e})", program.display())),
            })?;
        if !status.success() {
            let hint = match is_root() {
                true => String::new(),
                false => "; the daemon may need root".to_owned(),
            };
            return Err(failed(format!(
                "{} -d exited with {status}{hint}",
                program.display()
            )));
        }
        let handle = Started {
            program: program.to_path_buf(),
            pipe,
            before,
        };
        RUNNING
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(handle.clone());
        let daemon = Self {
            started: handle,
            dir: Some(dir),
        };
        daemon.wait_answering(&failed)?;
        eprintln!(
            "   MPS daemon for {config} answering after {:.2} s",
            started.elapsed().as_secs_f64()
        );
        Ok(daemon)
    }

    /// The variables that make a process a client of this daemon.
    pub fn env(&self) -> [(String, String); 2] {
        let pipe = &self.started.pipe;
        let log = pipe.with_file_name("log");
        [
            (
                "CUDA_MPS_PIPE_DIRECTORY".to_owned(),
                pipe.to_string_lossy().into_owned(),
            ),
            (
                "CUDA_MPS_LOG_DIRECTORY".to_owned(),
                log.to_string_lossy().into_owned(),
            ),
        ]
    }

    /// Polls until the daemon answers, or the timeout passes.
    fn wait_answering(&self, failed: &dyn Fn(String) -> Error) -> Result<()> {
        let start = Instant::now();
        while start.elapsed() < TIMEOUT {
            if answers(&self.started.program, &self.started.pipe) {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Err(failed(format!(
            "the daemon did not answer within {} s",
            TIMEOUT.as_secs()
        )))
    }
}

impl Drop for MpsDaemon {
    fn drop(&mut self) {
        let pipe = &self.started.pipe;
        match shut_down(&self.started) {
            Ok(took) => eprintln!("   MPS daemon stopped after {:.2} s", took.as_secs_f64()),
            Err(e) => eprintln!("   MPS daemon at {}: {e}", pipe.display()),
        }
        RUNNING
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|other| &other.pipe != pipe);
        drop(self.dir.take());
    }
}

/// Stops every daemon this process started and has not stopped yet; for an
/// interrupt, which skips the daemons' own drop.
pub fn stop_all() {
    let running = std::mem::take(&mut *RUNNING.lock().unwrap_or_else(|e| e.into_inner()));
    // Newest first: an older daemon's processes ran before a newer one started, so
    // each waits for its own alone.
    for started in running.into_iter().rev() {
        if let Err(e) = shut_down(&started) {
            eprintln!("   MPS daemon at {}: {e}", started.pipe.display());
        }
        if let Some(dir) = started.pipe.parent() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// Asks the daemon to quit and waits until it no longer answers and none of its
/// processes (the control daemon and the servers it started) is left, nor any MPS
/// process that appeared since it started and belongs to no other daemon of ours: a
/// daemon stops answering before its server has exited. Its own processes still
/// there after the timeout are killed, and that is the error; a newcomer that is not
/// provably its own is waited for but never killed.
fn shut_down(daemon: &Started) -> std::result::Result<Duration, String> {
    let (program, pipe) = (&daemon.program, &daemon.pipe);
    let started = Instant::now();
    quit(program, pipe);
    while started.elapsed() < TIMEOUT {
        reap_exited();
        // The /proc reads first: asking the daemon spawns its client, so only once
        // none of its processes is left.
        if processes_of(pipe).is_empty() && newcomers(daemon).is_empty() && !answers(program, pipe)
        {
            reap_exited();
            return Ok(started.elapsed());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    reap_exited();
    let left = processes_of(pipe);
    let strangers = newcomers(daemon)
        .iter()
        .filter(|pid| !left.contains(pid))
        .count();
    for pid in &left {
        // SAFETY: kill(2) with a pid read from /proc touches no memory of ours.
        unsafe { libc::kill(*pid as libc::pid_t, libc::SIGKILL) };
    }
    Err(format!(
        "{} process(es) of it still running {} s after quit, killed; {strangers} other MPS process(es) started since it did, left running",
        left.len(),
        TIMEOUT.as_secs()
    ))
}

/// MPS processes still running that did not run before `daemon` started and are no
/// other running daemon's of this process.
fn newcomers(daemon: &Started) -> Vec<u32> {
    let others: Vec<u32> = RUNNING
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .filter(|other| other.pipe != daemon.pipe)
        .flat_map(|other| processes_of(&other.pipe))
        .collect();
    mps_pids()
        .into_iter()
        .filter(|pid| !daemon.before.contains(pid) && !others.contains(pid))
        .filter(|&pid| crate::system::proc_stat(pid).is_some_and(|s| s.state != 'Z'))
        .collect()
}

/// Pids of the running MPS processes behind `pipe`: those started with it in their
/// environment, the servers those started, and every server the daemon's log (in the
/// log folder beside `pipe`) names (the daemon may start a server detached from it,
/// with an environment of its own). A zombie runs no more: this process reaps its own
/// (see [`become_subreaper`]), and another's is not the daemon's to stop.
fn processes_of(pipe: &Path) -> Vec<u32> {
    let needle = format!("CUDA_MPS_PIPE_DIRECTORY={}\0", pipe.display()).into_bytes();
    let logged = logged_servers(&pipe.with_file_name("log").join("control.log"));
    let mps: Vec<(u32, u32, bool)> = mps_pids()
        .into_iter()
        .filter_map(|pid| {
            let stat = crate::system::proc_stat(pid).filter(|s| s.state != 'Z')?;
            let ppid = stat.parent;
            let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
            let ours = logged.contains(&pid)
                || environ
                    .windows(needle.len())
                    .any(|w| w == needle.as_slice());
            Some((pid, ppid, ours))
        })
        .collect();
    let started: Vec<u32> = mps.iter().filter(|p| p.2).map(|p| p.0).collect();
    mps.iter()
        .filter(|(_, ppid, ours)| *ours || started.contains(ppid))
        .map(|p| p.0)
        .collect()
}

/// The server pids an MPS control log names ("Starting new server 1234 for user 0",
/// "Server 1234 exited ...").
fn logged_servers(log: &Path) -> Vec<u32> {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    text.split(|c: char| !c.is_alphanumeric())
        .collect::<Vec<_>>()
        .windows(2)
        .filter(|w| w[0].eq_ignore_ascii_case("server"))
        .filter_map(|w| w[1].parse().ok())
        .collect()
}

/// Asks the daemon behind `pipe` to quit.
fn quit(program: &Path, pipe: &Path) {
    let _ = control(program, pipe, "quit\n");
}

/// Whether the daemon behind `pipe` answers a query.
fn answers(program: &Path, pipe: &Path) -> bool {
    control(program, pipe, "get_server_list\n").is_some_and(|ok| ok)
}

/// Sends `command` to the control daemon behind `pipe`; whether the client
/// program succeeded, `None` where it could not run.
fn control(program: &Path, pipe: &Path, command: &str) -> Option<bool> {
    let mut child = Command::new(program)
        .env("CUDA_MPS_PIPE_DIRECTORY", pipe)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let _ = child
        .stdin
        .take()
        .map(|mut stdin| stdin.write_all(command.as_bytes()));
    match super::hooks::wait_or_kill(&mut child, TIMEOUT) {
        Ok(Some(status)) => Some(status.success()),
        _ => Some(false),
    }
}

/// Makes this process the reaper of the daemon it starts: `-d` forks the daemon
/// away from its starter, and an orphan goes to the nearest subreaper, else to pid 1,
/// which in a container is often no init and never reaps it; the daemon's processes
/// would then stay behind as zombies after they exit.
fn become_subreaper() {
    // SAFETY: prctl(2) with PR_SET_CHILD_SUBREAPER takes an integer and touches no
    // memory of ours.
    unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
}

/// Reaps the MPS processes that became this process's children (see
/// [`become_subreaper`]) and have exited. Only those: every other child is waited
/// for by whoever spawned it.
fn reap_exited() {
    let me = std::process::id();
    for pid in mps_pids() {
        if crate::system::proc_stat(pid).is_some_and(|s| s.parent == me && s.state == 'Z') {
            // SAFETY: waitpid(2) on a pid that is this process's exited child.
            unsafe { libc::waitpid(pid as libc::pid_t, std::ptr::null_mut(), libc::WNOHANG) };
        }
    }
}

/// Pids of the processes named like NVIDIA's MPS programs.
fn mps_pids() -> Vec<u32> {
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
            let comm = std::fs::read_to_string(entry.path().join("comm")).ok()?;
            comm.starts_with("nvidia-cuda-mps").then_some(pid)
        })
        .collect()
}

/// Whether this process runs as root, where the daemon needs it.
fn is_root() -> bool {
    // SAFETY: geteuid(2) takes nothing and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stand-in for the control program: `-d` starts a background "daemon" and a
    /// "server" (named like NVIDIA's, so they are found as its processes) that live
    /// while a marker file in the pipe folder does, and, like the real ones, for a
    /// while after it stops answering; reading `quit` on stdin removes the marker;
    /// any other command succeeds while the marker exists.
    /// With `detached`, the server is started without the pipe variable, as a real
    /// daemon may start it: found only as a process that appeared since the start.
    fn fake_control(dir: &Path, detached: bool) -> PathBuf {
        let program = dir.join("nvidia-cuda-mps-control");
        std::fs::copy("/bin/sleep", dir.join("nvidia-cuda-mps-server")).unwrap();
        // Detached: started by a subshell that exits at once, so the server's parent is
        // no MPS process either.
        let start = if detached {
            r#"(env -u CUDA_MPS_PIPE_DIRECTORY "$server" 600 & echo $! >"$marker.pid")"#
        } else {
            r#""$server" 600 & echo $! >"$marker.pid""#
        };
        std::fs::write(
            &program,
            r#"#!/bin/sh
marker="$CUDA_MPS_PIPE_DIRECTORY/control"
if [ "$1" = "-d" ]; then
    touch "$marker"
    server="$(dirname "$0")/nvidia-cuda-mps-server"
    (
        START
        while [ -e "$marker" ]; do sleep 0.05; done
        sleep 0.3
        kill "$(cat "$marker.pid")"
        rm -f "$marker.pid"
    ) >/dev/null 2>&1 &
    exit 0
fi
read command
[ -e "$marker" ] || exit 1
[ "$command" = quit ] && rm -f "$marker"
exit 0
"#
            .replace("START", start),
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&program, std::fs::Permissions::from_mode(0o755)).unwrap();
        program
    }

    /// The tests share the registry of running daemons; `stop_all` would stop
    /// another test's.
    static SERIAL: Mutex<()> = Mutex::new(());

    #[test]
    fn a_daemon_gets_private_folders_and_is_stopped_and_removed_when_dropped() {
        let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        let dir = tempfile::tempdir().unwrap();
        let program = fake_control(dir.path(), false);
        let daemon = MpsDaemon::start(&program, dir.path(), "mps-50").unwrap();
        let env = daemon.env();
        let pipe = PathBuf::from(&env[0].1);
        assert_eq!(env[0].0, "CUDA_MPS_PIPE_DIRECTORY");
        assert!(
            pipe.starts_with(dir.path()),
            "never the system's default pipe folder"
        );
        assert!(pipe.join("control").exists(), "running");
        assert!(answers(&program, &pipe));
        assert_eq!(processes_of(&pipe).len(), 2, "the daemon and its server");
        drop(daemon);
        assert!(!pipe.exists(), "stopped and its folders removed");
        assert!(processes_of(&pipe).is_empty(), "no process of it left");
        assert!(RUNNING.lock().unwrap().iter().all(|d| d.pipe != pipe));
    }

    #[test]
    fn a_server_started_without_the_pipe_variable_is_waited_for() {
        let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        let dir = tempfile::tempdir().unwrap();
        let program = fake_control(dir.path(), true);
        let before = mps_pids();
        let daemon = MpsDaemon::start(&program, dir.path(), "mps-50").unwrap();
        let pipe = PathBuf::from(&daemon.env()[0].1);
        let unseen = || newcomers(&daemon.started).len() > processes_of(&pipe).len();
        let waited = Instant::now();
        while !unseen() && waited.elapsed() < TIMEOUT {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(
            unseen(),
            "the server is not found by its pipe, only as a newcomer"
        );
        drop(daemon);
        let left: Vec<u32> = mps_pids()
            .into_iter()
            .filter(|pid| !before.contains(pid))
            .filter(|&pid| crate::system::proc_stat(pid).is_some_and(|s| s.state != 'Z'))
            .collect();
        assert!(left.is_empty(), "{left:?} still running after the stop");
    }

    #[test]
    fn an_interrupt_stops_the_daemons_still_running() {
        let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        let dir = tempfile::tempdir().unwrap();
        let program = fake_control(dir.path(), false);
        let daemon = MpsDaemon::start(&program, dir.path(), "mps-25").unwrap();
        let pipe = PathBuf::from(&daemon.env()[0].1);
        stop_all();
        assert!(!pipe.join("control").exists(), "asked to quit");
        assert!(processes_of(&pipe).is_empty(), "no process of it left");
        assert!(!pipe.exists(), "folders removed");
        std::mem::forget(daemon);
    }

    #[test]
    fn the_servers_a_control_log_names_are_found() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("control.log");
        std::fs::write(
            &log,
            "[2026-12-01 17:42:31.512 Control  2093] Starting new server 2101 for user 0\n\
             [2026-12-01 17:42:31.980 Control  2093] NEW SERVER 2101: Ready\n\
             [2026-12-01 17:43:02.044 Control  2093] Server 2101 exited with status 0\n",
        )
        .unwrap();
        assert!(logged_servers(&log).iter().all(|&pid| pid == 2101));
        assert!(logged_servers(&log).contains(&2101));
        assert!(logged_servers(&dir.path().join("absent.log")).is_empty());
    }

    #[test]
    fn a_missing_or_failing_control_program_is_one_line_naming_the_configuration() {
        let dir = tempfile::tempdir().unwrap();
        let err = MpsDaemon::start(&dir.path().join("absent"), dir.path(), "mps-50")
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains("mps-50") && err.contains("not on PATH"),
            "{err}"
        );
        let err = MpsDaemon::start(Path::new("false"), dir.path(), "mps-50")
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("exited with"), "{err}");
        assert_eq!(err.lines().count(), 1);
    }
}
