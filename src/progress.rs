//! Progress of the long commands (`run`, `isolate`, `exec`): which unit of work (a
//! configuration, a scenario) in which round, the step it is on, the time spent and
//! an estimate of the time left, taken from what the same units took when they were
//! last exported. On a terminal one bar; otherwise, or with `--verbose`, one line per
//! step, so a CI log reads as a list. What the measuring processes print goes to a
//! log file beside their export (with `--verbose` to the terminal as well), and its
//! last lines are shown when one fails. The caller names units and steps; this
//! module knows no metric.

use crate::baseline::{read_json, write_json_atomic, ROUNDS_DIR};
use crate::error::{io_at, Result};
use indicatif::{ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
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

/// What one unit took in one round, saved in its export folder so that the next run
/// of the same unit can estimate its time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Timing {
    /// What the unit was asked to do (for `run`: the metrics, `--quick` and the
    /// verification seconds); only a unit asked the same is estimated from it.
    pub plan: String,
    pub secs: f64,
}

impl Timing {
    pub fn save(&self, dir: &Path) -> Result<()> {
        write_json_atomic(&dir.join(TIMING_FILE), self)
    }

    /// Seconds of every round of the export at `dir` that was asked `plan`: its own
    /// and those under `rounds/<k>/`. An export without timings (absent, or saved
    /// before they were kept) has none, which only means no estimate.
    pub fn of_export(dir: &Path, plan: &str) -> Vec<f64> {
        let mut dirs = vec![dir.to_path_buf()];
        if let Ok(rounds) = std::fs::read_dir(dir.join(ROUNDS_DIR)) {
            dirs.extend(rounds.flatten().map(|entry| entry.path()));
        }
        dirs.iter()
            .filter_map(|d| read_json::<Timing>(&d.join(TIMING_FILE)).ok())
            .filter(|t| t.plan == plan)
            .map(|t| t.secs)
            .collect()
    }
}

/// One unit of work (a configuration, a scenario) in one round.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slot {
    pub unit: String,
    pub round: u32,
}

/// The slots of a command in the order they run, and what each unit took last time.
#[derive(Debug, Clone)]
pub struct Plan {
    slots: Vec<Slot>,
    rounds: u32,
    /// Mean seconds of a unit's recorded rounds.
    history: BTreeMap<String, f64>,
}

impl Plan {
    pub fn new(slots: Vec<Slot>, rounds: u32) -> Self {
        Self {
            slots,
            rounds,
            history: BTreeMap::new(),
        }
    }

    /// Estimates `unit` from the recorded seconds of its rounds (see
    /// [`Timing::of_export`]); with none, the unit has no estimate until a round
    /// of it has finished in this run.
    pub fn remember(&mut self, unit: &str, secs: &[f64]) {
        if !secs.is_empty() {
            let mean = secs.iter().sum::<f64>() / secs.len() as f64;
            self.history.insert(unit.to_owned(), mean);
        }
    }
}

/// The slot running now.
#[derive(Debug)]
struct Running {
    index: usize,
    since: Instant,
    step: String,
}

/// Where a command stands; one formatter serves the bar and the lines.
#[derive(Debug)]
struct State {
    plan: Plan,
    started: Instant,
    running: Option<Running>,
    /// The first slot not yet begun.
    next: usize,
    finished: u64,
    /// Seconds of each unit's first round finished in this run: a better guess for
    /// its later rounds than an earlier run's.
    measured: BTreeMap<String, f64>,
    /// Units whose later slots will not run (a failed configuration).
    dropped: BTreeSet<String>,
}

impl State {
    fn new(plan: Plan, started: Instant) -> Self {
        Self {
            plan,
            started,
            running: None,
            next: 0,
            finished: 0,
            measured: BTreeMap::new(),
            dropped: BTreeSet::new(),
        }
    }

    fn expected(&self, unit: &str) -> Option<f64> {
        self.measured
            .get(unit)
            .or_else(|| self.plan.history.get(unit))
            .copied()
    }

    /// Seconds left at `now`: what the running slot is expected to take beyond its
    /// time so far (nothing once past it), plus every slot not begun; or the first
    /// unit without an estimate.
    fn left(&self, now: Instant) -> std::result::Result<f64, &str> {
        let running = self.running.iter().map(|r| {
            let unit = self.plan.slots[r.index].unit.as_str();
            let spent = now.saturating_duration_since(r.since).as_secs_f64();
            self.expected(unit)
                .map(|s| (s - spent).max(0.0))
                .ok_or(unit)
        });
        let waiting = self.plan.slots[self.next..]
            .iter()
            .filter(|slot| !self.dropped.contains(&slot.unit))
            .map(|slot| self.expected(&slot.unit).ok_or(slot.unit.as_str()));
        running.chain(waiting).sum()
    }

    /// `[3/8] hami-50 round 2/2: OH-002 (elapsed 1m02s, about 2m10s left)`.
    fn line(&self, now: Instant) -> String {
        let total = self.plan.slots.len();
        let head = match &self.running {
            Some(r) => {
                let slot = &self.plan.slots[r.index];
                let round = if self.plan.rounds > 1 {
                    format!(" round {}/{}", slot.round, self.plan.rounds)
                } else {
                    String::new()
                };
                format!("[{}/{total}] {}{round}: {}", r.index + 1, slot.unit, r.step)
            }
            None => format!("[{}/{total}]", self.next),
        };
        let left = match self.left(now) {
            Ok(secs) => format!("about {} left", clock(secs)),
            Err(unit) => format!("no estimate: no earlier run of {unit} like this one"),
        };
        let elapsed = clock(now.saturating_duration_since(self.started).as_secs_f64());
        format!("{head} (elapsed {elapsed}, {left})")
    }
}

/// `5s`, `1m02s`, `1h02m05s`.
fn clock(secs: f64) -> String {
    let secs = secs.round() as u64;
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    match (h, m) {
        (0, 0) => format!("{s}s"),
        (0, _) => format!("{m}m{s:02}s"),
        _ => format!("{h}h{m:02}m{s:02}s"),
    }
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
            state.running = Some(Running {
                index,
                since: Instant::now(),
                step: "starting".into(),
            });
            state.next = state.next.max(index + 1);
        }
        self.show();
    }

    /// Names the running slot's current step; the same name again is no new step.
    pub fn step(&self, name: &str) {
        {
            let mut state = self.state();
            match &mut state.running {
                Some(running) if running.step != name => running.step = name.to_owned(),
                _ => return,
            }
        }
        self.show();
    }

    /// Ends the running slot and returns its seconds; a unit's first finished round
    /// estimates its later ones.
    pub fn end(&self) -> f64 {
        let mut state = self.state();
        let Some(running) = state.running.take() else {
            return 0.0;
        };
        let secs = running.since.elapsed().as_secs_f64();
        let unit = state.plan.slots[running.index].unit.clone();
        state.measured.entry(unit).or_insert(secs);
        state.finished += 1;
        if let View::Bar(bar) = &self.view {
            bar.set_position(state.finished);
        }
        secs
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
    use super::*;

    fn slots(units: &[&str], rounds: u32) -> Vec<Slot> {
        (1..=rounds)
            .flat_map(|round| {
                units.iter().map(move |unit| Slot {
                    unit: unit.to_string(),
                    round,
                })
            })
            .collect()
    }

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
    fn clock_reads_as_seconds_minutes_and_hours() {
        assert_eq!(clock(5.2), "5s");
        assert_eq!(clock(62.0), "1m02s");
        assert_eq!(clock(130.0), "2m10s");
        assert_eq!(clock(3725.0), "1h02m05s");
    }

    #[test]
    fn the_line_names_slot_round_step_elapsed_and_time_left() {
        let start = Instant::now();
        let mut plan = Plan::new(slots(&["native", "hami-50", "hami-25", "mps-25"], 2), 2);
        for unit in ["native", "hami-50", "hami-25", "mps-25"] {
            plan.remember(unit, &[30.0]);
        }
        let mut state = State::new(plan, start);
        state.running = Some(Running {
            index: 2,
            since: start + Duration::from_secs(50),
            step: "OH-002".into(),
        });
        state.next = 3;
        // 10 s into a 30 s slot: 20 s of it, then five slots of 30 s.
        let line = state.line(start + Duration::from_secs(60));
        assert_eq!(
            line,
            "[3/8] hami-25 round 1/2: OH-002 (elapsed 1m00s, about 2m50s left)"
        );
    }

    #[test]
    fn one_round_leaves_the_round_out_and_no_history_says_so() {
        let start = Instant::now();
        let mut state = State::new(Plan::new(slots(&["hami-50-x2"], 1), 1), start);
        state.running = Some(Running {
            index: 0,
            since: start,
            step: "together".into(),
        });
        state.next = 1;
        assert_eq!(
            state.line(start + Duration::from_secs(5)),
            "[1/1] hami-50-x2: together (elapsed 5s, no estimate: no earlier run of \
             hami-50-x2 like this one)"
        );
    }

    fn export(dir: &Path, rounds: &[(&str, f64)]) {
        for (k, (plan, secs)) in rounds.iter().enumerate() {
            let at = match k {
                0 => dir.to_path_buf(),
                k => dir.join(ROUNDS_DIR).join((k + 1).to_string()),
            };
            std::fs::create_dir_all(&at).unwrap();
            Timing {
                plan: plan.to_string(),
                secs: *secs,
            }
            .save(&at)
            .unwrap();
        }
    }

    #[test]
    fn the_estimate_comes_from_the_last_exports_rounds_asked_the_same() {
        let tmp = tempfile::tempdir().unwrap();
        export(
            &tmp.path().join("native"),
            &[("full", 100.0), ("full", 120.0)],
        );
        export(
            &tmp.path().join("hami-50"),
            &[("quick", 10.0), ("full", 200.0)],
        );
        assert_eq!(
            Timing::of_export(&tmp.path().join("hami-50"), "full"),
            [200.0]
        );
        assert!(Timing::of_export(&tmp.path().join("hami-25"), "full").is_empty());

        let mut plan = Plan::new(slots(&["native", "hami-50"], 2), 2);
        for unit in ["native", "hami-50"] {
            plan.remember(unit, &Timing::of_export(&tmp.path().join(unit), "full"));
        }
        let start = Instant::now();
        let mut state = State::new(plan, start);
        // Nothing begun: 110 + 200, twice.
        assert_eq!(state.left(start), Ok(620.0));
        // native's first round took 90 s in this run: its second is estimated so.
        state.measured.insert("native".into(), 90.0);
        state.next = 1;
        assert_eq!(state.left(start), Ok(490.0));
        // hami-50 failed: its second round leaves the estimate.
        state.dropped.insert("hami-50".into());
        state.next = 2;
        assert_eq!(state.left(start), Ok(90.0));
    }

    #[test]
    fn a_slot_past_its_estimate_adds_nothing_and_a_unit_without_history_means_none() {
        let start = Instant::now();
        let mut plan = Plan::new(slots(&["native", "hami-25"], 1), 1);
        plan.remember("native", &[10.0]);
        let mut state = State::new(plan, start);
        state.running = Some(Running {
            index: 0,
            since: start,
            step: "verification".into(),
        });
        state.next = 1;
        assert_eq!(state.left(start + Duration::from_secs(30)), Err("hami-25"));
        state.plan.remember("hami-25", &[40.0]);
        assert_eq!(state.left(start + Duration::from_secs(30)), Ok(40.0));
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
        assert!(progress.end() >= 0.0);
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
