//! `exec`: the user's own command under every configuration, in the environment `run`
//! gives a configuration's worker (a fresh state file per process, the
//! configuration's MPS daemon, its setup and teardown), after the same verification
//! in a worker of its own, K runs per configuration per round, rounds interleaved as
//! `run` interleaves them. Each round is exported as `run` exports one: run.json,
//! summary.json (category `exec/<name>`) and exec.json with the command's logs.

use super::config::Config;
use super::runner::{configured, run_rounds, Plan, Turn, Turned};
use crate::baseline::{
    exec_category, read_json, write_json_atomic, ExecRecord, RunRecord, EXEC_FILE, LOGS_DIR,
    RUN_FILE, SUMMARY_FILE,
};
use crate::error::{io_at, Error, Result};
use crate::metrics::exec::{self, DeviceMemory, Finished, MemoryProbe, Pattern};
use chrono::Utc;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// The configuration the patterns must match in, where it is run.
const REFERENCE: &str = "native";

/// What `gpu-virt-bench exec` was asked to do.
#[derive(Debug, Clone)]
pub struct ExecOptions {
    pub plan: Plan,
    pub workload: Workload,
    /// Runs of the command per configuration per round: the samples of a round.
    pub runs: u32,
}

impl ExecOptions {
    /// What a configuration's round is asked to do, as far as its time depends on
    /// it: an earlier round estimates this one only if it was asked the same.
    fn timing_plan(&self) -> String {
        format!(
            "{} run(s) of {:?}, verification {} s per shape",
            self.runs, self.workload.command, self.plan.verify_secs
        )
    }
}

/// The user's command, checked before anything runs.
#[derive(Debug, Clone)]
pub struct Workload {
    /// Names its category (`exec/<name>`).
    pub name: String,
    /// The program, found as the command's first word names it.
    pub program: PathBuf,
    /// The command and its arguments, as given.
    pub command: Vec<String>,
    pub patterns: Vec<Pattern>,
}

impl Workload {
    /// Checks what needs no GPU, so a mistake fails fast on any machine: a command is
    /// given and found, the workload's name (`name`, else the command's basename) is
    /// usable, and every `--metric` pattern is valid.
    pub fn new(command: Vec<String>, name: Option<String>, patterns: &[String]) -> Result<Self> {
        let first = command
            .first()
            .filter(|word| !word.is_empty())
            .ok_or_else(|| {
                Error::Invalid(
                    "no command to run: give it after `--`, e.g. \
                     `gpu-virt-bench exec -- python3 train.py`"
                        .into(),
                )
            })?;
        let program = find_program(first, std::env::var_os("PATH").as_deref())
            .ok_or_else(|| Error::CommandNotFound(first.clone()))?;
        let name = match name {
            Some(name) => name,
            None => Path::new(first)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
        };
        if let Some(why) = exec::bad_name(&name) {
            return Err(Error::Invalid(format!(
                "workload {why}; pass another with --name"
            )));
        }
        let patterns = patterns
            .iter()
            .map(|spec| Pattern::parse(spec))
            .collect::<Result<Vec<_>>>()?;
        for (i, pattern) in patterns.iter().enumerate() {
            if patterns[..i].iter().any(|p| p.name == pattern.name) {
                return Err(Error::BadPattern {
                    spec: pattern.spec.clone(),
                    detail: format!("another --metric is named {} too", pattern.name),
                });
            }
        }
        Ok(Self {
            name,
            program,
            command,
            patterns,
        })
    }
}

/// The executable `word` names: a path where it holds a `/`, else the first match on
/// `path` (a PATH value).
fn find_program(word: &str, path: Option<&std::ffi::OsStr>) -> Option<PathBuf> {
    let executable = |candidate: &Path| {
        candidate.is_file()
            && candidate
                .metadata()
                .is_ok_and(|m| m.permissions().mode() & 0o111 != 0)
    };
    if word.contains('/') {
        let candidate = PathBuf::from(word);
        return executable(&candidate).then_some(candidate);
    }
    std::env::split_paths(path?)
        .map(|dir| dir.join(word))
        .find(|candidate| executable(candidate))
}

/// Runs the command under every configuration and returns the exported folders, as
/// `run` does (nothing existing is replaced unless `force`, a configuration that
/// fails leaves nothing behind). A run that fails is recorded, not an error. A
/// `--metric` pattern that matched nothing in native's runs (or, without native, in
/// the first configuration that completed) stops everything, with nothing exported.
pub fn exec_all(opts: &ExecOptions) -> Result<Vec<PathBuf>> {
    let mut memory = DeviceMemory::open()?;
    eprintln!(
        "== {}: {} run(s) per configuration per round; device memory from {}; output in logs/ of each export",
        opts.workload.name,
        opts.runs,
        memory.describe()
    );
    let has_reference = opts.plan.configs.iter().any(|c| c.name == REFERENCE);
    let mut unchecked = !opts.workload.patterns.is_empty();
    let mut reference_failed = !has_reference;
    run_rounds(&opts.plan, &opts.timing_plan(), |turn| {
        let reference = turn.config.name == REFERENCE;
        let staging = match turn.staging() {
            Ok(staging) => staging,
            Err(e) => return Turned::Failed(e),
        };
        match exec_turn(turn, &staging, opts, &mut memory) {
            Err(e) => {
                reference_failed |= reference;
                Turned::Failed(e)
            }
            Ok(record) if unchecked && (reference || reference_failed) => {
                unchecked = false;
                match check_patterns(&opts.workload.patterns, &record, &staging) {
                    Ok(()) => Turned::Staged(staging),
                    Err(e) => Turned::Stop(e),
                }
            }
            Ok(_) => Turned::Staged(staging),
        }
    })
}

/// One configuration's turn: its worker verifies it into `staging`, then the command
/// runs `opts.runs` times, each in a process of its own with a fresh state file, each
/// run a step of the turn's progress and its outcome a line above it.
fn exec_turn(
    turn: &Turn,
    staging: &Path,
    opts: &ExecOptions,
    memory: &mut dyn MemoryProbe,
) -> Result<ExecRecord> {
    turn.worker(staging, &[], false, true)?;
    let run_record: RunRecord = read_json(&staging.join(RUN_FILE))?;
    let logs = staging.join(LOGS_DIR);
    std::fs::create_dir_all(&logs).map_err(io_at(&logs))?;
    let started = Instant::now();
    let mut runs = Vec::new();
    for k in 1..=opts.runs {
        turn.progress.step(&format!("run {k} of {}", opts.runs));
        let what = format!("exec{k}");
        let mut command = configured(
            opts.workload.program.as_os_str(),
            turn.config,
            &turn.env(&what),
        );
        command.args(&opts.workload.command[1..]);
        let log_name = format!("{LOGS_DIR}/{k}.log");
        let finished = exec::run_once(
            command,
            k,
            &staging.join(&log_name),
            &log_name,
            &opts.workload.patterns,
            memory,
        );
        let _ = std::fs::remove_file(turn.cache(&what));
        let finished = finished?;
        turn.progress
            .note(&describe(turn.config, opts.runs, &finished));
        runs.push(finished.run);
    }
    let record = ExecRecord {
        config: turn.config.name.clone(),
        name: opts.workload.name.clone(),
        command: opts.workload.command.clone(),
        patterns: opts
            .workload
            .patterns
            .iter()
            .map(|p| p.spec.clone())
            .collect(),
        runs,
    };
    save(
        staging,
        run_record,
        &record,
        started.elapsed().as_secs_f64(),
    )?;
    Ok(record)
}

/// Writes one round's export beside the worker's run.json: exec.json, summary.json
/// drawn from it, and run.json naming the workload and the time its runs took.
fn save(staging: &Path, mut run: RunRecord, record: &ExecRecord, secs: f64) -> Result<()> {
    write_json_atomic(&staging.join(EXEC_FILE), record)?;
    write_json_atomic(&staging.join(SUMMARY_FILE), &exec::summarize(record)?)?;
    run.metrics = vec![exec_category(&record.name)];
    run.phase_secs.push(("command runs".to_owned(), secs));
    run.finished_at = Utc::now();
    write_json_atomic(&staging.join(RUN_FILE), &run)
}

/// Refuses patterns that matched no line of `record`'s runs, naming the last line
/// the command printed.
fn check_patterns(patterns: &[Pattern], record: &ExecRecord, staging: &Path) -> Result<()> {
    let Some(pattern) = exec::unmatched(patterns, &record.runs).into_iter().next() else {
        return Ok(());
    };
    let last = record
        .runs
        .last()
        .and_then(|run| std::fs::read_to_string(staging.join(&run.log)).ok())
        .and_then(|text| {
            text.lines()
                .rev()
                .find(|line| !line.trim().is_empty())
                .map(|line| exec::quote(line.trim()))
        })
        .unwrap_or_else(|| "none, it printed nothing".to_owned());
    Err(Error::PatternUnmatched {
        spec: pattern.spec.clone(),
        config: record.config.clone(),
        runs: record.runs.len() as u32,
        last,
    })
}

/// One line per run, e.g. "   hami-50 run 2 of 3: exit status 0, 12.41 s, peak 1536
/// MiB (its processes, NVML), 6 figures", then what was unreadable and, for a failed
/// run, its last lines.
fn describe(config: &Config, runs: u32, finished: &Finished) -> String {
    let run = &finished.run;
    let peak = run.peak_memory.map_or_else(
        || "no device memory seen".to_owned(),
        |p| format!("peak {} MiB ({})", p.bytes >> 20, p.source.describe()),
    );
    let mut text = format!(
        "   {} run {} of {runs}: {}, {:.2} s, {peak}, {} figure(s)",
        config.name,
        run.run,
        run.exit.describe(),
        run.wall_secs,
        run.figures.len()
    );
    for malformed in &run.malformed {
        text.push_str(&format!("\n   unread: {malformed}"));
    }
    if !run.exit.success() {
        for line in &finished.tail {
            text.push_str(&format!("\n   | {line}"));
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::baseline::{Better, FigureSource};
    use crate::metrics::exec::Counting;
    use crate::report::stats::Verdict;
    use std::process::Command;

    const GPU: &str = "nvidia-test-gpu";

    fn words(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn programs_are_found_by_path_or_on_path_and_must_be_executable() {
        let dir = tempfile::tempdir().unwrap();
        let tool = dir.path().join("tool");
        std::fs::write(&tool, "#!/bin/sh\n").unwrap();
        let path = dir.path().as_os_str();
        assert_eq!(find_program("tool", Some(path)), None, "not executable yet");
        std::fs::set_permissions(&tool, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(find_program("tool", Some(path)), Some(tool.clone()));
        assert_eq!(find_program(tool.to_str().unwrap(), None), Some(tool));
        assert_eq!(find_program("tool", None), None, "no PATH");
        assert_eq!(find_program("./missing", Some(path)), None);
        assert_eq!(
            find_program(dir.path().to_str().unwrap(), Some(path)),
            None,
            "a folder"
        );
    }

    #[test]
    fn a_workload_is_named_after_its_command_and_checked_before_anything_runs() {
        let workload = Workload::new(words(&["sh", "-c", "true"]), None, &[]).unwrap();
        assert_eq!(workload.name, "sh");
        assert!(workload.program.ends_with("sh"), "{:?}", workload.program);
        let named = Workload::new(words(&["sh"]), Some("train".into()), &words(&["t=(\\d+)"]));
        assert_eq!(named.unwrap().patterns[0].name, "t");
        for (command, name, patterns, expected) in [
            (&[][..], None, &[][..], "no command to run"),
            (&[""][..], None, &[][..], "no command to run"),
            (
                &["no-such-command-gvb"][..],
                None,
                &[][..],
                "command 'no-such-command-gvb' not found",
            ),
            (
                &["sh"][..],
                Some("a b"),
                &[][..],
                "pass another with --name",
            ),
            (&["sh"][..], None, &["t=\\d+"][..], "no capture group"),
            (
                &["sh"][..],
                None,
                &["t=(\\d+)", "t,ms=x (\\d+)"][..],
                "named t too",
            ),
        ] {
            let err = Workload::new(words(command), name.map(str::to_owned), &words(patterns))
                .unwrap_err()
                .to_string();
            assert!(err.contains(expected), "{command:?}: {err}");
        }
    }

    /// The export of one configuration made as `exec` makes it, without the GPU
    /// worker: run.json from the fixtures under `config`'s name, then `runs` runs of
    /// `sh -c script` (with the run number as $1) through the same recording and
    /// saving, for each of `rounds` rounds.
    fn export(gpu_dir: &Path, config: &str, script: &str, runs: u32, rounds: u32) -> ExecRecord {
        let fixture = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/baselines")
            .join(GPU)
            .join("native")
            .join(RUN_FILE);
        let mut last = None;
        let stagings: Vec<PathBuf> = (1..=rounds)
            .map(|round| {
                let staging = gpu_dir.join(format!(".staging-{config}-r{round}"));
                std::fs::create_dir_all(staging.join(LOGS_DIR)).unwrap();
                let mut run: RunRecord = read_json(&fixture).unwrap();
                run.config.name = config.to_owned();
                let runs = (1..=runs)
                    .map(|k| {
                        let mut command = Command::new("sh");
                        command.args(["-c", script, "sh", &k.to_string()]);
                        let log = format!("{LOGS_DIR}/{k}.log");
                        exec::run_once(
                            command,
                            k,
                            &staging.join(&log),
                            &log,
                            &[],
                            &mut Counting::default(),
                        )
                        .unwrap()
                        .run
                    })
                    .collect();
                let record = ExecRecord {
                    config: config.to_owned(),
                    name: "fake".into(),
                    command: words(&["sh", "-c", script]),
                    patterns: Vec::new(),
                    runs,
                };
                save(&staging, run, &record, 1.0).unwrap();
                last = Some(record);
                staging
            })
            .collect();
        super::super::runner::assemble(&stagings, &gpu_dir.join(config)).unwrap();
        last.unwrap()
    }

    const FIGURE: &str =
        r#"echo "{\"gvb\": \"step\", \"value\": $V$1, \"unit\": \"ms\", \"better\": \"lower\"}""#;

    #[test]
    fn an_exported_workload_is_compared_and_reported_like_any_metric() {
        let root = tempfile::tempdir().unwrap();
        let gpu_dir = root.path().join(GPU);
        export(&gpu_dir, "native", &format!("V=1; {FIGURE}"), 3, 2);
        // Twice as slow per step, and the third run of every round fails.
        let record = export(
            &gpu_dir,
            "hami-50",
            &format!("V=2; {FIGURE}; [ $1 -lt 3 ] || exit 4"),
            3,
            2,
        );
        assert_eq!(record.runs.len(), 3);
        assert!(record
            .runs
            .iter()
            .all(|r| r.figures[0].source == FigureSource::JsonLine));
        assert!(gpu_dir.join("hami-50/rounds/2/logs/3.log").is_file());

        let report = crate::report::compare_report(root.path()).unwrap();
        let gpu = &report.gpus[0];
        let table = |variant: &str| {
            gpu.metrics
                .iter()
                .find(|t| t.id == "exec/fake" && t.variant == variant)
                .unwrap_or_else(|| panic!("no {variant} table"))
        };
        let step = table("step");
        assert_eq!(
            (step.category.as_str(), step.unit.as_str()),
            ("exec/fake", "ms")
        );
        assert_eq!(step.better, Better::Lower);
        let native = step.rows[0].measured.as_ref().unwrap();
        let hami = step.rows[1].measured.as_ref().unwrap();
        assert_eq!(step.rows[1].config, "hami-50");
        // Samples: native 11, 12, 13 ms; hami-50 21, 22 ms (its third run failed).
        assert!((native.mean - 12.0).abs() < 1e-9 && (hami.mean - 21.5).abs() < 1e-9);
        let change = hami.change.unwrap();
        assert!(
            (change.change_mean - (21.5 / 12.0 - 1.0)).abs() < 1e-9,
            "{change:?}"
        );
        assert!(change.ci_low <= change.change_mean && change.change_mean <= change.ci_high);
        assert_eq!(change.verdict, Verdict::Regressed, "{change:?}");
        assert_eq!(hami.round_changes.len(), 2, "each round against native's");
        for variant in ["wall-time", "peak-memory"] {
            assert_eq!(table(variant).rows.len(), 2);
        }
        assert_eq!(
            gpu.commands
                .iter()
                .map(|c| (c.config.as_str(), c.runs, c.failed))
                .collect::<Vec<_>>(),
            [("native", 6, 0), ("hami-50", 6, 2)]
        );

        let markdown = crate::report::compare_markdown(root.path()).unwrap();
        assert!(
            markdown.contains(
                "- hami-50: exec/fake failed in 2 of 6 runs (exit status 4); natively in 0 of 6"
            ),
            "{markdown}"
        );
        assert!(
            markdown.contains("### exec/fake step (ms, lower is better)"),
            "{markdown}"
        );

        let out = tempfile::tempdir().unwrap();
        let full = crate::report::full_reports(root.path(), out.path()).unwrap();
        let category = full[0]
            .categories
            .iter()
            .find(|c| c.name == "exec/fake")
            .expect("the workload's own category");
        assert!(
            category.findings[0]
                .text
                .starts_with("hami-50: exec/fake failed in 2 of 6 runs"),
            "stated first: {:?}",
            category.findings
        );
        assert!(category
            .findings
            .iter()
            .any(|f| f.text.contains("exec/fake step")));
        assert_eq!(category.tables.len(), 3);
        let page = crate::report::html::render(&full[0]).unwrap();
        let text = crate::report::markdown::render_report(&full[0]);
        for rendered in [&page, &text] {
            assert!(
                rendered.contains("exec/fake failed in 2 of 6 runs"),
                "{rendered}"
            );
        }
        let schema: serde_json::Value =
            read_json(&Path::new(env!("CARGO_MANIFEST_DIR")).join("schema/report.schema.json"))
                .unwrap();
        let validator = jsonschema::draft202012::new(&schema).unwrap();
        let json = serde_json::to_value(&full[0]).unwrap();
        let errors: Vec<String> = validator
            .iter_errors(&json)
            .map(|e| e.to_string())
            .collect();
        assert_eq!(
            errors,
            Vec::<String>::new(),
            "report.json keeps to its schema"
        );
    }

    #[test]
    fn a_pattern_that_matched_nothing_is_refused_naming_the_last_line() {
        let staging = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(staging.path().join(LOGS_DIR)).unwrap();
        let patterns = [Pattern::parse("tps,tok/s,higher=([0-9.]+) tok/s").unwrap()];
        let run = |script: &str| {
            let mut command = Command::new("sh");
            command.args(["-c", script]);
            let log = format!("{LOGS_DIR}/1.log");
            exec::run_once(
                command,
                1,
                &staging.path().join(&log),
                &log,
                &patterns,
                &mut Counting::default(),
            )
            .unwrap()
            .run
        };
        let record = |runs| ExecRecord {
            config: "native".into(),
            name: "fake".into(),
            command: words(&["sh"]),
            patterns: words(&["tps,tok/s,higher=([0-9.]+) tok/s"]),
            runs,
        };
        let matched = record(vec![run("echo '512.5 tok/s'")]);
        assert!(check_patterns(&patterns, &matched, staging.path()).is_ok());
        let unmatched = record(vec![run("echo '512.5 tokens per second'; echo")]);
        let err = check_patterns(&patterns, &unmatched, staging.path()).unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, Error::PatternUnmatched { .. }), "{text}");
        assert!(
            text.contains("in native's 1 run(s) (its last line: '512.5 tokens per second')"),
            "{text}"
        );
        assert!(text.contains("nothing was saved"), "{text}");
    }
}
