//! Progress of the long commands (`run`, `isolate`, `exec`): which unit of work (a
//! configuration, a scenario) in which round, the step it is on, the time spent and
//! an estimate of the time left, taken from what the same units took when they were
//! last exported. On a terminal one bar; otherwise, or with `--verbose`, one line per
//! step, so a CI log reads as a list. What the measuring processes print goes to a
//! log file beside their export (with `--verbose` to the terminal as well), and its
//! last lines are shown when one fails. The caller names units and steps; this
//! module knows no metric.

mod estimate;

pub use estimate::{Plan, Slot, Timing};

use estimate::{Running, State};

use crate::error::{io_at, Result};
use indicatif::{ProgressBar, ProgressStyle};
use std::fs::File;
use std::io::{IsTerminal, Read, Write};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Sender};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Names the file a watched process appends its step names to, one per line.
pub const STEPS_VAR: &str = "GPU_VIRT_BENCH_STEPS";
/// What a unit's processes printed, in its export folder.
pub const LOG_FILE: &str = "output.log";
/// What a unit took, in its export folder (see [`Timing`]).
pub const TIMING_FILE: &str = "timing.json";
/// Lines of a failed unit's log shown with its error.
const TAIL_LINES: usize = 15;
/// How often a watched process's steps are read.
const POLL: Duration = Duration::from_millis(200);
/// How often the echo of `--verbose` reads what the log has grown by.
const ECHO_POLL: Duration = Duration::from_millis(100);

/// Tells the process watching this one (see [`Progress::watch`]) that `name` is its
/// current step; outside a watched process (`cargo bench`, a test) it does nothing.
/// A failed write is ignored: progress is a display, and a lost step must never
/// fail a measurement.
pub fn report_step(name: &str) {
    if let Some(path) = std::env::var_os(STEPS_VAR) {
        let _ = append_step(Path::new(&path), name);
    }
}

fn append_step(path: &Path, name: &str) -> std::io::Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    writeln!(file, "{name}")
}

/// The complete lines of the steps file at `path`; none while it does not exist.
fn steps_written(path: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let complete = text.rfind('\n').map_or("", |end| &text[..end]);
    complete
        .lines()
        .filter(|line| !line.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Where lines go (stderr, or a test's buffer); whole lines at a time, so progress
/// and the processes' echoed output never cut into each other.
type Lines = Arc<Mutex<Box<dyn Write + Send>>>;

fn write_line(lines: &Lines, line: &[u8]) {
    let _ = lines
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .write_all(line);
}

/// Where progress is shown.
enum View {
    Bar(ProgressBar),
    Lines(Lines),
}

/// The progress of one command, shared by reference with whatever runs its steps.
pub struct Progress {
    state: Arc<Mutex<State>>,
    view: View,
    /// With `--verbose`: where the processes' output is echoed besides their log.
    echo: Option<Lines>,
}

impl Progress {
    /// A bar where stderr is a terminal, one line per step where it is not. With
    /// `verbose` the processes' output is echoed on stderr, which would tear a bar,
    /// so it is lines then too.
    pub fn new(plan: Plan, verbose: bool) -> Self {
        let state = Arc::new(Mutex::new(State::new(plan, Instant::now())));
        if std::io::stderr().is_terminal() && !verbose {
            let view = View::Bar(bar(&state));
            return Self {
                state,
                view,
                echo: None,
            };
        }
        Self::with_lines(
            state,
            Arc::new(Mutex::new(Box::new(std::io::stderr()))),
            verbose,
        )
    }

    fn with_lines(state: Arc<Mutex<State>>, lines: Lines, verbose: bool) -> Self {
        Self {
            state,
            echo: verbose.then(|| Arc::clone(&lines)),
            view: View::Lines(lines),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Shows the current state: redrawn on the bar, one more line otherwise.
    fn show(&self) {
        match &self.view {
            View::Bar(bar) => bar.tick(),
            View::Lines(_) => {
                let line = self.state().line(Instant::now());
                self.note(&line);
            }
        }
    }

    /// Prints `text` as its own line, above the bar where there is one.
    pub fn note(&self, text: &str) {
        match &self.view {
            View::Bar(bar) => bar.println(text),
            View::Lines(lines) => write_line(lines, format!("{text}\n").as_bytes()),
        }
    }

    /// Starts the slot of `unit` in `round`; its step is "starting" until the first
    /// [`Progress::step`]. A slot not in the plan is ignored.
    pub fn begin(&self, unit: &str, round: u32) {
        {
            let mut state = self.state();
            let Some(index) = state
                .plan
                .slots
                .iter()
                .position(|s| s.unit == unit && s.round == round)
            else {
                return;
            };
            state.running = Some(Running::new(index, Instant::now(), "starting"));
            state.next = state.next.max(index + 1);
        }
        self.show();
    }

    /// Names the running slot's current step; the same name again is no new step.
    pub fn step(&self, name: &str) {
        {
            let mut state = self.state();
            match &mut state.running {
                Some(running) if running.step != name => running.next_step(name, Instant::now()),
                _ => return,
            }
        }
        self.show();
    }

    /// Ends the running slot and returns its timing under `plan` (what it was asked,
    /// see [`Timing::plan`]): its seconds and each step's; a unit's first finished
    /// round estimates its later ones.
    pub fn end(&self, plan: &str) -> Timing {
        let mut state = self.state();
        let Some(mut running) = state.running.take() else {
            return Timing {
                plan: plan.to_owned(),
                secs: 0.0,
                steps: Vec::new(),
            };
        };
        let now = Instant::now();
        running.next_step("", now);
        let secs = now.saturating_duration_since(running.since).as_secs_f64();
        let unit = state.plan.slots[running.index].unit.clone();
        state.measured.entry(unit).or_insert(secs);
        state.finished += 1;
        if let View::Bar(bar) = &self.view {
            bar.set_position(state.finished);
        }
        Timing {
            plan: plan.to_owned(),
            secs,
            steps: running.done,
        }
    }

    /// The later slots of `unit` will not run: they leave the estimate.
    pub fn drop_unit(&self, unit: &str) {
        self.state().dropped.insert(unit.to_owned());
    }

    /// Runs `command` to its end as the running slot: every step name it reports
    /// (see [`report_step`], through the file `steps`) becomes the slot's step, and
    /// its stdout and stderr go to the log at `log` (see [`Progress::output`]).
    pub fn watch(&self, mut command: Command, steps: &Path, log: &Path) -> Result<ExitStatus> {
        let _ = std::fs::remove_file(steps);
        let output = self.output(log)?;
        command
            .env(STEPS_VAR, steps)
            .stdout(output.stdio()?)
            .stderr(output.stdio()?);
        let program = PathBuf::from(command.get_program());
        let mut child = command.spawn().map_err(io_at(&program))?;
        let mut seen = 0;
        let status = loop {
            let exited = child.try_wait().map_err(io_at(&program))?;
            let written = steps_written(steps);
            for step in written.iter().skip(seen) {
                self.step(step);
            }
            seen = seen.max(written.len());
            match exited {
                Some(status) => break status,
                None => std::thread::sleep(POLL),
            }
        };
        output.close();
        Ok(status)
    }

    /// Where a unit's processes print: the log file at `path`, created afresh, and
    /// with `--verbose` the terminal too, each line as the log grows by it. The
    /// processes write into the file itself, so one left behind holding it open
    /// never stalls the command.
    pub fn output(&self, path: &Path) -> Result<Output> {
        let log = File::create(path).map_err(io_at(path))?;
        let echo = match &self.echo {
            Some(lines) => {
                let reader = File::open(path).map_err(io_at(path))?;
                let (stop, stopped) = mpsc::channel();
                let lines = Arc::clone(lines);
                let follow = std::thread::spawn(move || {
                    follow(reader, &lines, || stopped.recv_timeout(ECHO_POLL).is_err())
                });
                Some((stop, follow))
            }
            None => None,
        };
        Ok(Output {
            writer: log.into(),
            echo,
        })
    }

    /// After a unit failed: shows the last lines of its log at `log` (unless they
    /// were echoed already) and moves the log to `keep`, outside any folder a
    /// failure removes, so the whole of it can still be read.
    pub fn show_failed_log(&self, log: &Path, keep: &Path) {
        let Ok(text) = std::fs::read_to_string(log) else {
            return;
        };
        let whole = if std::fs::rename(log, keep).is_ok() {
            keep
        } else {
            log
        };
        if self.echo.is_some() {
            self.note(&format!("   its output is kept in {}", whole.display()));
            return;
        }
        let lines: Vec<&str> = text.lines().collect();
        let shown = &lines[lines.len().saturating_sub(TAIL_LINES)..];
        self.note(&format!(
            "   last {} lines of its output (all of it in {}):",
            shown.len(),
            whole.display()
        ));
        for line in shown {
            self.note(&format!("   | {line}"));
        }
    }
}

/// Echoes every complete line `log` grows by into `lines`, while `go_on` (which
/// waits a little) says so; then the rest, a last line without its newline too.
fn follow(mut log: impl Read, lines: &Lines, mut go_on: impl FnMut() -> bool) {
    let mut pending = Vec::new();
    loop {
        let running = go_on();
        let _ = log.read_to_end(&mut pending);
        let complete = pending
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |i| i + 1);
        if complete > 0 {
            write_line(lines, &pending[..complete]);
            pending.drain(..complete);
        }
        if !running {
            if !pending.is_empty() {
                pending.push(b'\n');
                write_line(lines, &pending);
            }
            return;
        }
    }
}

/// What a unit's processes print into: hand [`Output::stdio`] (or
/// [`Output::share`]) to each, then [`Output::close`] once they have ended.
pub struct Output {
    writer: OwnedFd,
    /// With `--verbose`: the thread echoing the log, and what stops it.
    echo: Option<(Sender<()>, JoinHandle<()>)>,
}

impl Output {
    /// The output for one more process's stdout or stderr.
    pub fn stdio(&self) -> Result<Stdio> {
        self.share().map(Stdio::from)
    }

    /// A copy of the write end, for a process started elsewhere (see
    /// [`crate::run::child::send_stderr_to`]).
    pub fn share(&self) -> Result<OwnedFd> {
        self.writer.try_clone().map_err(io_at("a unit's output"))
    }

    /// Closes the log and, with an echo, waits until it has shown all of it.
    pub fn close(self) {
        drop(self.writer);
        if let Some((stop, follow)) = self.echo {
            let _ = stop.send(());
            let _ = follow.join();
        }
    }
}

/// The bar of `state`: slots finished as its length, the state's line beside it,
/// redrawn every second so the times move between steps.
fn bar(state: &Arc<Mutex<State>>) -> ProgressBar {
    let slots = state.lock().map_or(0, |s| s.plan.slots.len()) as u64;
    let shared = Arc::clone(state);
    let style = ProgressStyle::with_template("{bar:20} {status}")
        .expect("a valid template")
        .progress_chars("=> ")
        .with_key(
            "status",
            move |_: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
                let state = shared.lock().unwrap_or_else(|e| e.into_inner());
                let _ = w.write_str(&state.line(Instant::now()));
            },
        );
    let bar = ProgressBar::new(slots).with_style(style);
    bar.enable_steady_tick(Duration::from_secs(1));
    bar
}

impl Drop for Progress {
    fn drop(&mut self) {
        if let View::Bar(bar) = &self.view {
            bar.finish_and_clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::estimate::slots;
    use super::*;

    /// A Progress writing its lines into a buffer the test reads.
    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl Write for Buffer {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().write(buf)
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Buffer {
        fn lines(&self) -> Vec<String> {
            let text = String::from_utf8(self.0.lock().unwrap().clone()).unwrap();
            text.lines().map(str::to_owned).collect()
        }
    }

    fn lines_progress(plan: Plan, verbose: bool) -> (Progress, Buffer) {
        let buffer = Buffer::default();
        let state = Arc::new(Mutex::new(State::new(plan, Instant::now())));
        let progress = Progress::with_lines(
            state,
            Arc::new(Mutex::new(Box::new(buffer.clone()))),
            verbose,
        );
        (progress, buffer)
    }

    #[test]
    fn the_bar_counts_slots_and_its_template_is_valid() {
        let plan = Plan::new(slots(&["native", "hami-50"], 2), 2);
        let bar = bar(&Arc::new(Mutex::new(State::new(plan, Instant::now()))));
        assert_eq!(bar.length(), Some(4));
        bar.finish_and_clear();
    }

    #[test]
    fn without_a_terminal_every_step_is_one_line() {
        let (progress, out) = lines_progress(Plan::new(slots(&["native", "hami-50"], 1), 1), false);
        progress.begin("native", 1);
        progress.step("verification");
        progress.step("verification");
        progress.step("OH-001");
        let timing = progress.end("quick");
        let steps: Vec<&str> = timing.steps.iter().map(|(s, _)| s.as_str()).collect();
        assert_eq!(steps, ["starting", "verification", "OH-001"]);
        // The steps' seconds, each rounded to an f64, may sum a few ulps past the whole.
        let steps_secs: f64 = timing.steps.iter().map(|(_, s)| s).sum();
        assert!(timing.secs + 1e-9 >= steps_secs, "{timing:?}");
        progress.begin("hami-50", 1);
        let heads: Vec<String> = out
            .lines()
            .iter()
            .map(|l| l.split(" (").next().unwrap().to_owned())
            .collect();
        assert_eq!(
            heads,
            [
                "[1/2] native: starting",
                "[1/2] native: verification",
                "[1/2] native: OH-001",
                "[2/2] hami-50: starting"
            ]
        );
    }

    fn script(body: &str) -> Command {
        let mut command = Command::new("sh");
        command.args(["-c", body]);
        command
    }

    const WORKER: &str = "echo 'Benchmarking overhead/OH-001: Warming up'; \
        echo verification >> \"$GPU_VIRT_BENCH_STEPS\"; \
        echo 'HAMI-core Msg' >&2; echo OH-001 >> \"$GPU_VIRT_BENCH_STEPS\"; exit 3";

    #[test]
    fn a_watched_process_prints_into_its_log_and_reports_its_steps() {
        let tmp = tempfile::tempdir().unwrap();
        let (progress, out) = lines_progress(Plan::new(slots(&["native"], 1), 1), false);
        progress.begin("native", 1);
        let (steps, log) = (tmp.path().join("steps"), tmp.path().join(LOG_FILE));
        let status = progress.watch(script(WORKER), &steps, &log).unwrap();
        assert_eq!(status.code(), Some(3));
        let logged = std::fs::read_to_string(&log).unwrap();
        assert_eq!(
            logged,
            "Benchmarking overhead/OH-001: Warming up\nHAMI-core Msg\n"
        );
        let lines = out.lines();
        assert!(
            lines[1].starts_with("[1/1] native: verification ("),
            "{lines:?}"
        );
        assert!(lines[2].starts_with("[1/1] native: OH-001 ("), "{lines:?}");

        let keep = tmp.path().join("native-round-1.failed.log");
        progress.show_failed_log(&log, &keep);
        assert!(!log.exists() && keep.is_file());
        let lines = out.lines();
        assert!(
            lines[3].contains("last 2 lines") && lines[3].contains("native-round-1.failed.log"),
            "{lines:?}"
        );
        assert_eq!(
            lines[4..],
            [
                "   | Benchmarking overhead/OH-001: Warming up",
                "   | HAMI-core Msg"
            ]
        );
    }

    #[test]
    fn verbose_echoes_the_output_as_well_as_logging_it() {
        let tmp = tempfile::tempdir().unwrap();
        let (progress, out) = lines_progress(Plan::new(slots(&["native"], 1), 1), true);
        progress.begin("native", 1);
        let log = tmp.path().join(LOG_FILE);
        let status = progress
            .watch(script(WORKER), &tmp.path().join("steps"), &log)
            .unwrap();
        assert_eq!(status.code(), Some(3));
        let logged = std::fs::read_to_string(&log).unwrap();
        assert_eq!(
            logged,
            "Benchmarking overhead/OH-001: Warming up\nHAMI-core Msg\n"
        );
        let lines = out.lines();
        for printed in logged.lines() {
            assert!(lines.iter().any(|l| l == printed), "{printed}: {lines:?}");
        }
        let keep = tmp.path().join("kept.log");
        progress.show_failed_log(&log, &keep);
        assert!(keep.is_file());
        let kept_line = format!("   its output is kept in {}", keep.display());
        assert_eq!(
            out.lines().last(),
            Some(&kept_line),
            "the output is not shown twice"
        );
    }

    #[test]
    fn a_process_left_holding_the_output_does_not_stall_the_echo() {
        let tmp = tempfile::tempdir().unwrap();
        let (progress, _) = lines_progress(Plan::new(slots(&["native"], 1), 1), true);
        let started = Instant::now();
        let status = progress
            .watch(
                script("sleep 10 & echo left"),
                &tmp.path().join("steps"),
                &tmp.path().join(LOG_FILE),
            )
            .unwrap();
        assert!(status.success());
        assert!(
            started.elapsed() < Duration::from_secs(8),
            "{:?}",
            started.elapsed()
        );
    }

    #[test]
    fn the_echo_shows_complete_lines_as_they_come_and_the_rest_at_the_end() {
        let (progress, out) = lines_progress(Plan::new(slots(&["native"], 1), 1), true);
        let View::Lines(lines) = &progress.view else {
            unreachable!("lines_progress shows lines")
        };
        let mut reads = 0;
        let log: &[u8] = b"Benchmarking a\nBenchmarking b\nno newline";
        follow(log, lines, || {
            reads += 1;
            reads < 3
        });
        assert_eq!(
            out.lines(),
            ["Benchmarking a", "Benchmarking b", "no newline"]
        );
    }

    #[test]
    fn steps_are_appended_as_lines_and_only_complete_ones_count() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("steps");
        assert!(steps_written(&path).is_empty());
        append_step(&path, "verification").unwrap();
        append_step(&path, "OH-001").unwrap();
        std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(b"OH-0")
            .unwrap();
        assert_eq!(steps_written(&path), ["verification", "OH-001"]);
    }
}
