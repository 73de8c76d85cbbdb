//! One run of the user's command: its stdout and stderr go to a log file and are read
//! for figures as they arrive, its device memory is sampled until it exits, and its
//! wall time runs from its start to its exit.

use super::figures::{self, Occurrence, Pattern};
use super::memory::{MemoryProbe, SAMPLE};
use crate::baseline::{ExecRun, ExitRecord};
use crate::error::{io_at, Error, Result};
use chrono::Utc;
use std::collections::VecDeque;
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{mpsc, Mutex};
use std::time::Instant;

/// Lines of output kept to show beside a failed run.
const TAIL_LINES: usize = 5;

/// A finished run, with the last lines it printed.
#[derive(Debug, Clone)]
pub struct Finished {
    pub run: ExecRun,
    /// The last lines of stdout and stderr together, as they arrived.
    pub tail: Vec<String>,
}

/// Which of the command's streams a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stream {
    Stdout,
    Stderr,
}

impl Stream {
    fn name(self) -> &'static str {
        match self {
            Self::Stdout => "stdout",
            Self::Stderr => "stderr",
        }
    }
}

/// The log file and the tail, written by both streams' readers line by line.
struct Log {
    file: File,
    tail: VecDeque<String>,
}

/// What one stream gave.
#[derive(Default)]
struct Scan {
    occurrences: Vec<Occurrence>,
    malformed: Vec<String>,
}

/// Runs `command` (stdin closed, stdout and stderr captured) to its end as run `run`,
/// writing its output to `log` (named `log_name` in the record).
pub fn run_once(
    mut command: Command,
    run: u32,
    log: &Path,
    log_name: &str,
    patterns: &[Pattern],
    memory: &mut dyn MemoryProbe,
) -> Result<Finished> {
    let file = File::create(log).map_err(io_at(log))?;
    let log_state = Mutex::new(Log {
        file,
        tail: VecDeque::new(),
    });
    memory.begin()?;
    let started_at = Utc::now();
    let start = Instant::now();
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| {
            Error::Invalid(format!(
                "command '{}' could not start: {e}",
                command.get_program().to_string_lossy()
            ))
        })?;
    let pid = child.id();
    let (stdout, stderr) = (child.stdout.take(), child.stderr.take());
    let (exited, exit) = mpsc::channel();
    let (status, end, scans, sampled) = std::thread::scope(|s| {
        let readers = [
            (Stream::Stdout, stdout.map(boxed)),
            (Stream::Stderr, stderr.map(boxed)),
        ]
        .map(|(stream, pipe)| {
            let log_state = &log_state;
            s.spawn(move || match pipe {
                Some(pipe) => scan(pipe, stream, patterns, log_state),
                None => Ok(Scan::default()),
            })
        });
        let waiter = s.spawn(move || {
            let status = child.wait();
            let end = Instant::now();
            let _ = exited.send(());
            (status, end)
        });
        let sampled = loop {
            if let Err(e) = memory.sample(pid) {
                break Err(e);
            }
            if exit.recv_timeout(SAMPLE) != Err(mpsc::RecvTimeoutError::Timeout) {
                break Ok(());
            }
        };
        let (status, end) = waiter.join().unwrap_or_else(|_| {
            (
                Err(std::io::Error::other("the waiting thread panicked")),
                Instant::now(),
            )
        });
        let scans = readers.map(|reader| {
            reader
                .join()
                .unwrap_or_else(|_| Err(std::io::Error::other("a reading thread panicked")))
        });
        (status, end, scans, sampled)
    });
    let status = status.map_err(io_at(format!("command of run {run}")))?;
    sampled?;
    let mut occurrences = Vec::new();
    let mut malformed = Vec::new();
    for scan in scans {
        let scan = scan.map_err(io_at(log))?;
        occurrences.extend(scan.occurrences);
        malformed.extend(scan.malformed);
    }
    let (figures, conflicts) = figures::collect(occurrences);
    malformed.extend(conflicts);
    let log_state = log_state.into_inner().unwrap_or_else(|e| e.into_inner());
    Ok(Finished {
        run: ExecRun {
            run,
            started_at,
            wall_secs: (end - start).as_secs_f64(),
            exit: ExitRecord {
                code: status.code(),
                signal: status.signal(),
            },
            peak_memory: memory.peak(),
            figures,
            malformed,
            log: log_name.to_owned(),
        },
        tail: log_state.tail.into(),
    })
}

fn boxed(pipe: impl Read + Send + 'static) -> Box<dyn Read + Send> {
    Box::new(pipe)
}

/// Reads `pipe` line by line to its end: each line into the log as it came, and
/// read for figures (JSON lines on stdout only, patterns on both).
fn scan(
    pipe: Box<dyn Read + Send>,
    stream: Stream,
    patterns: &[Pattern],
    log: &Mutex<Log>,
) -> std::io::Result<Scan> {
    let mut reader = BufReader::new(pipe);
    let mut found = Scan::default();
    let mut bytes = Vec::new();
    for number in 1.. {
        bytes.clear();
        if reader.read_until(b'\n', &mut bytes)? == 0 {
            break;
        }
        if !bytes.ends_with(b"\n") {
            bytes.push(b'\n');
        }
        let line = String::from_utf8_lossy(&bytes);
        let line = line.trim_end_matches(['\n', '\r']);
        {
            let mut log = log.lock().unwrap_or_else(|e| e.into_inner());
            log.file.write_all(&bytes)?;
            if log.tail.len() == TAIL_LINES {
                log.tail.pop_front();
            }
            log.tail.push_back(line.to_owned());
        }
        let json = match stream {
            Stream::Stdout => figures::json_figure(line),
            Stream::Stderr => None,
        };
        for read in json
            .into_iter()
            .chain(patterns.iter().filter_map(|p| p.read(line)))
        {
            match read {
                Ok(occurrence) => found.occurrences.push(occurrence),
                Err(reason) => found
                    .malformed
                    .push(format!("{} line {number}: {reason}", stream.name())),
            }
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::super::memory::Counting;
    use super::*;
    use crate::baseline::{Better, FigureSource};

    fn sh(script: &str) -> Command {
        let mut command = Command::new("sh");
        command.args(["-c", script]);
        command
    }

    #[test]
    fn a_run_keeps_its_output_and_reads_its_figures() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("1.log");
        let script = r#"
            echo 'warming up'
            echo '{"gvb": "gemm", "value": 400, "unit": "TFLOPS", "better": "higher"}'
            echo '{"gvb": "gemm", "value": 410, "unit": "TFLOPS", "better": "higher"}'
            echo '{"gvb": "bad", "value": }'
            echo 'step 12.5 ms' >&2
            echo '{"gvb": "stderr-only", "value": 1, "unit": "s", "better": "lower"}' >&2
            sleep 0.1
            exit 3
        "#;
        let patterns = [Pattern::parse("step,ms=step ([0-9.]+) ms").unwrap()];
        let mut probe = Counting::default();
        let finished = run_once(sh(script), 1, &log, "logs/1.log", &patterns, &mut probe).unwrap();
        let run = &finished.run;
        assert_eq!(
            run.exit,
            ExitRecord {
                code: Some(3),
                signal: None
            }
        );
        assert!(!run.exit.success());
        assert!(
            run.wall_secs >= 0.1 && run.wall_secs < 5.0,
            "{}",
            run.wall_secs
        );
        let names: Vec<&str> = run.figures.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names.len(), 2, "{names:?}: JSON lines count on stdout only");
        let gemm = run.figures.iter().find(|f| f.name == "gemm").unwrap();
        assert_eq!(
            (gemm.values.as_slice(), gemm.better),
            (&[400.0, 410.0][..], Better::Higher)
        );
        assert_eq!(gemm.value(), 405.0);
        let step = run.figures.iter().find(|f| f.name == "step").unwrap();
        assert_eq!((step.value(), step.unit.as_str()), (12.5, "ms"));
        assert_eq!(step.source, FigureSource::Pattern);
        assert_eq!(run.malformed.len(), 1, "{:?}", run.malformed);
        assert!(
            run.malformed[0].starts_with("stdout line 4: "),
            "{:?}",
            run.malformed
        );
        assert_eq!(run.log, "logs/1.log");
        let text = std::fs::read_to_string(&log).unwrap();
        for line in ["warming up", "\"gemm\"", "step 12.5 ms", "stderr-only"] {
            assert!(text.contains(line), "{line} in the log: {text}");
        }
        assert_eq!(text.lines().count(), 6);
        assert_eq!(finished.tail.len(), TAIL_LINES);
        assert_eq!(probe.begun, 1);
        assert!(probe.samples >= 1 && probe.roots.iter().all(|r| *r == probe.roots[0]));
        assert_eq!(run.peak_memory.unwrap().bytes, 3 << 20);
    }

    #[test]
    fn a_killed_run_names_its_signal_and_unfinished_lines_are_kept() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("2.log");
        let finished = run_once(
            sh("printf 'no newline at the end'; kill -9 $$"),
            2,
            &log,
            "logs/2.log",
            &[],
            &mut Counting::default(),
        )
        .unwrap();
        assert_eq!(
            finished.run.exit,
            ExitRecord {
                code: None,
                signal: Some(9)
            }
        );
        assert_eq!(finished.run.exit.describe(), "killed by signal 9");
        assert_eq!(finished.tail, ["no newline at the end"]);
        assert_eq!(
            std::fs::read_to_string(&log).unwrap(),
            "no newline at the end\n"
        );
    }

    #[test]
    fn a_command_that_cannot_start_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let err = run_once(
            Command::new("/no/such/program"),
            1,
            &dir.path().join("1.log"),
            "logs/1.log",
            &[],
            &mut Counting::default(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("could not start"), "{err}");
    }
}
