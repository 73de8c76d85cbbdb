//! The command line as a user meets it: every failure is one line on stderr that
//! starts with "error: " and names the problem, with a non-zero exit and nothing on
//! stdout or on disk. Runs on any machine; the no-driver cases skip where a driver is
//! present.

use assert_cmd::Command;
use gpu_virt_bench::cuda;
use gpu_virt_bench::metrics::METRICS;
use gpu_virt_bench::run::child::CHILD_VAR;
use std::collections::BTreeMap;
use std::error::Error;
use std::fs;
use std::path::{Path, PathBuf};

type TestResult = Result<(), Box<dyn Error>>;

const GPU: &str = "nvidia-test-gpu";

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/baselines")
}

/// The CLI, started in `cwd` so that anything it writes by default lands there, and
/// never in the child role an inherited variable would give it.
fn cli(cwd: &Path) -> Result<Command, Box<dyn Error>> {
    let mut cmd = Command::cargo_bin("gpu-virt-bench")?;
    cmd.current_dir(cwd).env_remove(CHILD_VAR);
    Ok(cmd)
}

/// Runs `cmd`, which must fail the way the CLI reports errors (exit 1, so neither a
/// usage error nor a panic), with nothing on stdout and exactly one stderr line
/// starting with "error: "; returns that line.
fn error_line(cmd: &mut Command) -> Result<String, Box<dyn Error>> {
    let out = cmd.output()?;
    let stdout = String::from_utf8(out.stdout)?;
    let stderr = String::from_utf8(out.stderr)?;
    assert_eq!(out.status.code(), Some(1), "stderr: {stderr}");
    assert_eq!(stdout, "", "nothing on stdout for a failure");
    assert!(stderr.ends_with('\n'), "stderr: {stderr:?}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one line on stderr, got: {stderr}");
    assert!(lines[0].starts_with("error: "), "{}", lines[0]);
    Ok(lines[0].to_string())
}

/// Every file (with its bytes) and folder (`None`) under `dir`.
fn snapshot(dir: &Path) -> std::io::Result<BTreeMap<PathBuf, Option<Vec<u8>>>> {
    let mut out = BTreeMap::new();
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            out.extend(snapshot(&path)?);
            out.insert(path, None);
        } else {
            out.insert(path.clone(), Some(fs::read(&path)?));
        }
    }
    Ok(out)
}

fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
    fs::create_dir_all(to)?;
    for entry in fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            fs::copy(entry.path(), target)?;
        }
    }
    Ok(())
}

fn assert_empty(dir: &Path) -> TestResult {
    let left = snapshot(dir)?;
    assert!(left.is_empty(), "written: {:?}", left.keys());
    Ok(())
}

#[test]
fn list_prints_every_metric_id() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let out = cli(tmp.path())?.arg("list").output()?;
    assert!(out.status.success());
    assert!(out.stderr.is_empty());
    let stdout = String::from_utf8(out.stdout)?;
    let first_words: Vec<&str> = stdout
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .collect();
    let ids: Vec<&str> = METRICS.iter().map(|m| m.id).collect();
    assert_eq!(first_words[0], "id", "a header first: {stdout}");
    assert_eq!(first_words[1..], ids, "{stdout}");
    for m in METRICS {
        let line = stdout.lines().find(|l| l.starts_with(m.id)).unwrap_or("");
        assert!(
            line.contains(m.name) && line.contains(m.method),
            "{}: {line}",
            m.id
        );
    }
    assert_empty(tmp.path())
}

#[test]
fn list_shows_the_isolation_metrics_as_measured_between_tenants() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let out = cli(tmp.path())?.arg("list").output()?;
    assert!(out.status.success());
    let stdout = String::from_utf8(out.stdout)?;
    let needs = |line: &str| line.split_whitespace().any(|word| word == "tenants");
    assert!(
        stdout.lines().next().is_some_and(|h| h.contains("needs")),
        "{stdout}"
    );
    for i in 1..=10 {
        let id = format!("IS-{i:03}");
        let line = stdout.lines().find(|l| l.starts_with(&id));
        assert!(line.is_some_and(needs), "{id} in:\n{stdout}");
    }
    let oh = stdout
        .lines()
        .find(|l| l.starts_with("OH-001"))
        .unwrap_or("");
    assert!(oh.contains(" process ") && !needs(oh), "{oh}");
    assert_empty(tmp.path())
}

#[test]
fn run_refuses_an_isolation_metric_its_configurations_cannot_measure() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let line = error_line(cli(tmp.path())?.args(["run", "--metrics", "IS-003"]))?;
    assert_eq!(
        line,
        "error: IS-003 is measured between tenant processes, and no default scenario has its \
         tenants among --configs (native): run `gpu-virt-bench isolate --scenarios \
         hami-25-victim-hami-25-neighbour,hami-50-victim-native-aggressor` (the default \
         scenarios that measure it), or give `run` their configurations"
    );
    let alone =
        error_line(cli(tmp.path())?.args(["run", "--configs", "hami-50", "--metrics", "IS-003"]))?;
    assert!(alone.contains("among --configs (hami-50)"), "{alone}");
    assert_empty(tmp.path())
}

#[test]
fn run_takes_an_isolation_metric_its_configurations_make_a_scenario_for() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let installed = tempfile::tempdir()?;
    let lib = installed.path().join("libvgpu.so");
    std::fs::write(&lib, b"")?;
    for args in [
        &["run", "--metrics", "OH-001,IS-005"][..],
        &["run", "--configs", "native,hami-50", "--metrics", "IS-003"][..],
    ] {
        let line = error_line(cli(tmp.path())?.args(args).arg("--hami-lib").arg(&lib))?;
        assert!(!line.contains("between tenant"), "{args:?}: {line}");
        assert!(line.contains("driver"), "{args:?}: {line}");
    }
    assert_empty(tmp.path())
}

#[test]
fn an_unknown_metric_is_named_before_the_driver_is_touched() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let line = error_line(cli(tmp.path())?.args(["run", "--metrics", "OH-001,XX-9"]))?;
    assert!(line.contains("unknown metric id 'XX-9'"), "{line}");
    assert!(line.contains("gpu-virt-bench list"), "{line}");
    assert_empty(tmp.path())
}

#[test]
fn unknown_configurations_are_named() -> TestResult {
    for (configs, bad) in [
        ("native,bogus", "bogus"),
        ("hami-0", "hami-0"),
        ("hami-101", "hami-101"),
    ] {
        let tmp = tempfile::tempdir()?;
        let line = error_line(cli(tmp.path())?.args(["run", "--configs", configs]))?;
        assert!(
            line.contains(&format!("unknown configuration '{bad}'")),
            "{configs}: {line}"
        );
        assert!(line.contains("from 1 to 100"), "{configs}: {line}");
        assert_empty(tmp.path())?;
    }
    Ok(())
}

#[test]
fn a_configuration_file_is_checked_before_anything_runs() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let file = tmp.path().join("mine.toml");
    fs::write(
        &file,
        "[[config]]\nname = \"mine\"\nexpect = { sm_pct = 50 }\nchecks = [\"memory\"]\n",
    )?;
    let line = error_line(
        cli(tmp.path())?
            .args(["run", "--configs", "native,mine", "--config-file"])
            .arg(&file),
    )?;
    assert!(
        line.contains("mine.toml") && line.contains("'mine'") && line.contains("expect.memory_mib"),
        "{line}"
    );
    let missing = error_line(cli(tmp.path())?.args([
        "run",
        "--configs",
        "native,other",
        "--config-file",
        "configs-missing.toml",
    ]))?;
    assert!(missing.contains("configs-missing.toml"), "{missing}");
    // A name the file does not define is unknown, with the file in the hint.
    fs::write(&file, "[[config]]\nname = \"mine\"\n")?;
    let unknown = error_line(
        cli(tmp.path())?
            .args(["run", "--configs", "native,theirs", "--config-file"])
            .arg(&file),
    )?;
    assert!(
        unknown.contains("unknown configuration 'theirs'") && unknown.contains("--config-file"),
        "{unknown}"
    );
    fs::remove_file(&file)?;
    assert_empty(tmp.path())?;
    Ok(())
}

#[test]
fn mps_without_its_control_program_is_named_before_the_driver_is_touched() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let line = error_line(cli(tmp.path())?.env("PATH", tmp.path()).args([
        "run",
        "--configs",
        "native,mps-50",
    ]))?;
    assert!(
        line.contains("'mps-50'") && line.contains("nvidia-cuda-mps-control is not on PATH"),
        "{line}"
    );
    assert_empty(tmp.path())?;
    Ok(())
}

#[test]
fn a_configuration_listed_twice_is_refused() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let line = error_line(cli(tmp.path())?.args(["run", "--configs", "native,native"]))?;
    assert!(
        line.contains("configuration 'native' is listed twice"),
        "{line}"
    );
    assert_empty(tmp.path())
}

/// The one-line error names the interposer library that does not exist.
fn assert_names_missing_library(line: &str, lib: &Path) {
    let expected = format!("interposer library {} does not exist", lib.display());
    assert!(line.contains(&expected), "{line}");
}

#[test]
fn a_missing_interposer_library_is_named_before_the_driver_is_touched() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let lib = tmp.path().join("missing/libvgpu.so");
    let line = error_line(
        cli(tmp.path())?
            .args(["run", "--configs", "hami-50", "--hami-lib"])
            .arg(&lib),
    )?;
    assert_names_missing_library(&line, &lib);
    assert!(line.contains("--hami-lib"), "{line}");
    assert_empty(tmp.path())
}

/// Whether the no-driver path can be seen here; says so when it cannot.
fn no_driver() -> bool {
    if cuda::driver_present() {
        eprintln!("skipped: a driver is present");
        return false;
    }
    true
}

/// `subcommand` without a driver: the no-driver line, and nothing written.
fn says_no_driver(subcommand: &str) -> TestResult {
    if !no_driver() {
        return Ok(());
    }
    let tmp = tempfile::tempdir()?;
    let line = error_line(cli(tmp.path())?.arg(subcommand))?;
    assert!(line.starts_with("error: no CUDA driver"), "{line}");
    assert_empty(tmp.path())
}

#[test]
fn info_without_a_driver_says_so() -> TestResult {
    says_no_driver("info")
}

#[test]
fn run_without_a_driver_says_so_and_exports_nothing() -> TestResult {
    says_no_driver("run")
}

#[test]
fn exec_without_a_driver_says_so_and_exports_nothing() -> TestResult {
    if !no_driver() {
        return Ok(());
    }
    let tmp = tempfile::tempdir()?;
    let line = error_line(cli(tmp.path())?.args(["exec", "--configs", "native", "--", "true"]))?;
    assert!(line.starts_with("error: no CUDA driver"), "{line}");
    assert_empty(tmp.path())
}

#[test]
fn exec_names_a_missing_or_empty_command_before_the_driver_is_touched() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let line = error_line(cli(tmp.path())?.args(["exec", "--", "no-such-command-gvb", "-x"]))?;
    assert!(
        line.contains("command 'no-such-command-gvb' not found") && line.contains("PATH"),
        "{line}"
    );
    let line = error_line(cli(tmp.path())?.args(["exec", "--", "./missing.py"]))?;
    assert!(line.contains("command './missing.py' not found"), "{line}");
    for args in [&["exec"][..], &["exec", "--"][..], &["exec", "--", ""][..]] {
        let line = error_line(cli(tmp.path())?.args(args))?;
        assert!(line.contains("no command to run"), "{args:?}: {line}");
        assert!(line.contains("after `--`"), "{args:?}: {line}");
    }
    assert_empty(tmp.path())
}

#[test]
fn exec_names_a_bad_metric_pattern_before_the_driver_is_touched() -> TestResult {
    let tmp = tempfile::tempdir()?;
    for (pattern, reason) in [
        ("step=step (\\d+", "the regex is invalid"),
        ("step=step \\d+ ms", "no capture group"),
        ("step", "no '='"),
        ("step,ms,faster=(\\d+)", "higher or lower"),
    ] {
        let line = error_line(cli(tmp.path())?.args(["exec", "--metric", pattern, "--", "true"]))?;
        assert!(
            line.contains(&format!("--metric '{pattern}'")) && line.contains(reason),
            "{pattern}: {line}"
        );
    }
    assert_empty(tmp.path())
}

#[test]
fn exec_names_an_unknown_configuration_and_a_missing_library() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let line =
        error_line(cli(tmp.path())?.args(["exec", "--configs", "native,bogus", "--", "true"]))?;
    assert!(line.contains("unknown configuration 'bogus'"), "{line}");
    let lib = tmp.path().join("missing/libvgpu.so");
    let line = error_line(
        cli(tmp.path())?
            .args(["exec", "--configs", "native,hami-50", "--hami-lib"])
            .arg(&lib)
            .args(["--", "true"]),
    )?;
    assert_names_missing_library(&line, &lib);
    assert_empty(tmp.path())
}

#[test]
fn exec_needs_two_runs_or_more_for_an_interval() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let out = cli(tmp.path())?
        .args(["exec", "--runs", "1", "--", "true"])
        .output()?;
    assert_eq!(out.status.code(), Some(2), "a usage error");
    assert!(String::from_utf8(out.stderr)?.contains("1 is not in 2..=100"));
    assert_empty(tmp.path())
}

#[test]
fn compare_of_an_empty_folder_asks_for_a_run_first() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let line = error_line(cli(tmp.path())?.arg("compare").arg(tmp.path()))?;
    assert!(line.contains("no baselines under"), "{line}");
    assert!(line.contains("run `gpu-virt-bench run` first"), "{line}");
    assert_empty(tmp.path())
}

#[test]
fn compare_names_a_damaged_folder_and_writes_nothing() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let root = tmp.path().join("baselines");
    copy_dir(&fixtures(), &root)?;
    let folder = root.join(GPU).join("hami-100");
    let summary = fs::read_to_string(folder.join("summary.json"))?;
    fs::write(folder.join("summary.json"), &summary[..summary.len() / 2])?;
    let before = snapshot(&root)?;
    let out = tmp.path().join("cmp.md");

    let line = error_line(
        cli(tmp.path())?
            .arg("compare")
            .arg(&root)
            .arg("--out")
            .arg(&out),
    )?;
    assert!(
        line.contains(&format!("{} is not a usable baseline", folder.display())),
        "{line}"
    );
    assert!(line.contains("summary.json"), "{line}");
    assert!(
        !out.exists(),
        "no report is written for a failed comparison"
    );
    assert!(snapshot(&root)? == before, "compare changed its input");
    Ok(())
}

#[test]
fn report_names_a_damaged_enforcement_json_in_one_line_and_writes_nothing() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let root = tmp.path().join("baselines");
    copy_dir(&fixtures(), &root)?;
    let file = root.join(GPU).join("hami-50").join("enforcement.json");
    fs::write(&file, "{\"config\": \"hami-50\", \"probes\": [")?;
    let out = tmp.path().join("reports");

    let line = error_line(
        cli(tmp.path())?
            .arg("report")
            .arg(&root)
            .arg("--out")
            .arg(&out),
    )?;
    assert!(line.contains(&file.display().to_string()), "{line}");
    assert!(line.contains("is not a usable baseline"), "{line}");
    assert!(
        !out.exists(),
        "no report is written from a damaged baseline"
    );
    Ok(())
}

#[test]
fn compare_writes_the_same_markdown_it_prints() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let before = snapshot(&fixtures())?;
    let file = tmp.path().join("cmp.md");
    let out = cli(tmp.path())?
        .arg("compare")
        .arg(fixtures())
        .arg("--out")
        .arg(&file)
        .output()?;
    let stdout = String::from_utf8(out.stdout)?;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.stderr.is_empty());
    assert!(
        stdout.contains("### OH-001 launch-call (us, lower is better)"),
        "{stdout}"
    );
    assert!(stdout.contains("| native |"), "{stdout}");
    assert_eq!(fs::read_to_string(&file)?, stdout);
    assert!(
        snapshot(&fixtures())? == before,
        "compare changed its input"
    );
    Ok(())
}

#[test]
fn worker_names_a_missing_job_file() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let job = tmp.path().join("does-not-exist.json");
    let line = error_line(cli(tmp.path())?.arg("worker").arg("--job").arg(&job))?;
    assert!(
        line.starts_with(&format!("error: {}: ", job.display())),
        "{line}"
    );
    assert_empty(tmp.path())
}

#[test]
fn isolate_names_an_unknown_scenario_or_shape_and_a_missing_library_before_the_driver() -> TestResult
{
    let tmp = tempfile::tempdir()?;
    let line = error_line(cli(tmp.path())?.args(["isolate", "--scenarios", "native-x2,bogus"]))?;
    assert!(line.contains("unknown scenario 'bogus'"), "{line}");
    assert!(line.contains("hami-50-victim-native-aggressor"), "{line}");

    let line = error_line(cli(tmp.path())?.args(["isolate", "--shapes", "short,2ms"]))?;
    assert!(line.contains("unknown kernel shape '2ms'"), "{line}");
    assert!(line.contains("short, 1ms, 10ms"), "{line}");

    let lib = tmp.path().join("missing/libvgpu.so");
    let line = error_line(
        cli(tmp.path())?
            .args(["isolate", "--scenarios", "hami-50-x2", "--hami-lib"])
            .arg(&lib),
    )?;
    assert_names_missing_library(&line, &lib);
    assert_empty(tmp.path())
}

#[test]
fn run_says_two_configurations_or_more_default_to_two_rounds() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let out = cli(tmp.path())?.args(["run", "--help"]).output()?;
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout)?
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    assert!(
        help.contains("[default: 2 with two or more configurations, else 1]"),
        "{help}"
    );
    let zero = cli(tmp.path())?.args(["run", "--rounds", "0"]).output()?;
    assert_eq!(zero.status.code(), Some(2), "a usage error");
    assert!(String::from_utf8(zero.stderr)?.contains("0 is not in 1..=20"));
    assert_empty(tmp.path())
}

#[test]
fn run_exec_and_isolate_take_verbose_and_say_where_the_output_goes_without_it() -> TestResult {
    let tmp = tempfile::tempdir()?;
    // The flag is taken (exit 1 from the checks after parsing, not a usage error).
    let line = error_line(cli(tmp.path())?.args(["run", "--verbose", "--configs", "bogus"]))?;
    assert!(line.contains("unknown configuration 'bogus'"), "{line}");
    let line = error_line(cli(tmp.path())?.args([
        "exec",
        "--verbose",
        "--configs",
        "bogus",
        "--",
        "true",
    ]))?;
    assert!(line.contains("unknown configuration 'bogus'"), "{line}");
    let line = error_line(cli(tmp.path())?.args(["isolate", "--verbose", "--scenarios", "bogus"]))?;
    assert!(line.contains("bogus"), "{line}");
    for command in ["run", "exec", "isolate"] {
        let out = cli(tmp.path())?.args([command, "--help"]).output()?;
        let help = String::from_utf8(out.stdout)?
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        assert!(
            help.contains("--verbose") && help.contains("output.log"),
            "{help}"
        );
    }
    assert_empty(tmp.path())
}
