//! Shared by the test crates: the fixture baselines of a fictitious GPU (native,
//! hami-100, and hami-50 marked unverified; native and hami-50 with enforcement
//! probes, hami-100 without) for the report tests, and the GPU guard of the (ignored
//! by default) GPU tests with HAMi-core's library for those run under it.

#![allow(dead_code)] // each test crate uses its own subset

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

pub type TestResult = Result<(), Box<dyn std::error::Error>>;

/// The GPU to test on, held exclusively (tests run on parallel threads). The GPU
/// tests are `#[ignore]`d, so this only runs when they were asked for: without a
/// driver that is an error, so the test fails instead of passing unrun.
pub fn gpu() -> Result<MutexGuard<'static, ()>, Box<dyn std::error::Error>> {
    if !gpu_virt_bench::cuda::driver_present() {
        return Err(
            "this test needs a CUDA driver (libcuda) and GPU, and this machine has none".into(),
        );
    }
    static GPU: Mutex<()> = Mutex::new(());
    Ok(GPU.lock().unwrap_or_else(|poisoned| poisoned.into_inner()))
}

pub const GPU: &str = "nvidia-test-gpu";

pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/baselines")
}

pub fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// A writable copy of the fixtures, for tests that damage or extend them.
pub fn fixture_copy() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&fixtures(), dir.path());
    dir
}

/// The report of the fixtures, written into a fresh folder; returns that folder
/// (kept alive by the guard) and the GPU's report folder inside it.
pub fn written_report() -> (tempfile::TempDir, PathBuf) {
    let out = tempfile::tempdir().unwrap();
    let folders = gpu_virt_bench::report::write_reports(&fixtures(), out.path()).unwrap();
    assert_eq!(folders, [out.path().join(GPU)]);
    let folder = folders[0].clone();
    (out, folder)
}

/// The report of the fixtures with hami-100's OH-001 launch-call p99 set below its
/// median, so that row is unstable; returns the output folder (kept alive by the
/// guard) and the GPU's report folder inside it.
pub fn unstable_report() -> (tempfile::TempDir, PathBuf) {
    let root = fixture_copy();
    edit_entry(
        &root.path().join(GPU),
        "hami-100",
        "OH-001",
        "launch-call",
        |e| e["p99"] = 3.5.into(),
    );
    let out = tempfile::tempdir().unwrap();
    let folder = gpu_virt_bench::report::write_reports(root.path(), out.path())
        .unwrap()
        .remove(0);
    (out, folder)
}

/// The text from `heading` up to the next heading.
pub fn section<'a>(markdown: &'a str, heading: &str) -> &'a str {
    let start = markdown
        .find(heading)
        .unwrap_or_else(|| panic!("no '{heading}' in:\n{markdown}"));
    let body = &markdown[start + heading.len()..];
    &body[..body.find("\n#").unwrap_or(body.len())]
}

/// Rewrites the summary.json entry `id`/`variant` of `config` in the fixture copy at `gpu`.
pub fn edit_entry(
    gpu: &Path,
    config: &str,
    id: &str,
    variant: &str,
    edit: impl FnOnce(&mut serde_json::Value),
) {
    let file = gpu.join(config).join("summary.json");
    let mut summary: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(&file).unwrap()).unwrap();
    let entry = summary["entries"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|e| e["id"] == id && e["variant"] == variant)
        .unwrap_or_else(|| panic!("no {id} {variant} in {}", file.display()));
    edit(entry);
    fs::write(&file, summary.to_string()).unwrap();
}

/// Adds round 2 to `config` in the fixture copy at `gpu`: a copy of round 1 with the
/// OH-002 small sample's times scaled by `scale` (a scale of 1 leaves it a copy, also
/// of a configuration that did not measure OH-002 small).
pub fn add_round(gpu: &Path, config: &str, scale: f64) {
    let round = gpu.join(config).join("rounds").join("2");
    let copy = gpu.join(format!(".{config}-round"));
    copy_dir(&gpu.join(config), &copy);
    fs::create_dir_all(round.parent().unwrap()).unwrap();
    fs::rename(&copy, &round).unwrap();
    if scale == 1.0 {
        return;
    }
    let sample = round.join(format!(
        "criterion/overhead/OH-002/small/{config}/sample.json"
    ));
    let mut json: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(&sample).unwrap()).unwrap();
    for t in json["times"].as_array_mut().unwrap() {
        *t = serde_json::json!(t.as_f64().unwrap() * scale);
    }
    fs::write(&sample, json.to_string()).unwrap();
}

/// A writable copy of the fixtures with a second round of every configuration, the
/// same as its first: an interleaved run whose rounds agree, so changes are tested.
pub fn two_round_fixture() -> tempfile::TempDir {
    let root = fixture_copy();
    let gpu = root.path().join(GPU);
    for config in ["native", "hami-100", "hami-50"] {
        add_round(&gpu, config, 1.0);
    }
    root
}

/// Adds configuration `to` to the fixture copy at `gpu`: a copy of `from`'s export
/// under the new name (run.json, summary.json, enforcement.json and Criterion's
/// folders renamed alike), so a report has more configurations to lay out.
pub fn add_config(gpu: &Path, from: &str, to: &str) {
    let target = gpu.join(to);
    copy_dir(&gpu.join(from), &target);
    let run = target.join("run.json");
    let mut json: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(&run).unwrap()).unwrap();
    json["config"]["name"] = to.into();
    fs::write(&run, json.to_string()).unwrap();
    for file in ["summary.json", "enforcement.json"] {
        let path = target.join(file);
        if let Ok(text) = fs::read_to_string(&path) {
            let mut json: serde_json::Value = serde_json::from_str(&text).unwrap();
            json["config"] = to.into();
            fs::write(&path, json.to_string()).unwrap();
        }
    }
    rename_dirs(&target.join("criterion"), from, to);
}

/// Renames every folder called `from` under `dir` to `to`.
fn rename_dirs(dir: &Path, from: &str, to: &str) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if !path.is_dir() {
            continue;
        }
        let path = if path.file_name().is_some_and(|name| name == from) {
            let renamed = path.with_file_name(to);
            fs::rename(&path, &renamed).unwrap();
            renamed
        } else {
            path
        };
        rename_dirs(&path, from, to);
    }
}

/// A writable copy of the fixtures with four configurations besides native: hami-75
/// a copy of hami-100, and hami-25 a copy of hami-50 with its enforcement probes.
pub fn four_config_fixture() -> tempfile::TempDir {
    let root = fixture_copy();
    let gpu = root.path().join(GPU);
    add_config(&gpu, "hami-100", "hami-75");
    add_config(&gpu, "hami-50", "hami-25");
    root
}

/// HAMi-core's libvgpu.so: HAMI_LIB, else the default path. Its absence fails the
/// test rather than passing it, since the test was asked for by name or with
/// --include-ignored.
pub fn hami_lib() -> Result<PathBuf, Box<dyn std::error::Error>> {
    let lib = std::env::var_os("HAMI_LIB")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(gpu_virt_bench::run::DEFAULT_HAMI_LIB));
    if lib.is_file() {
        Ok(lib)
    } else {
        Err(format!(
            "this test needs HAMi-core: no {} (set HAMI_LIB, or pass --skip under_hami_core)",
            lib.display()
        )
        .into())
    }
}
