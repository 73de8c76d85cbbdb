//! Shared by the test crates: the fixture baselines of a fictitious GPU (native,
//! hami-100, and hami-50 marked unverified) for the report tests, and the GPU guard
//! of the (ignored by default) GPU tests.

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

/// The text from `heading` up to the next heading.
pub fn section<'a>(markdown: &'a str, heading: &str) -> &'a str {
    let start = markdown
        .find(heading)
        .unwrap_or_else(|| panic!("no '{heading}' in:\n{markdown}"));
    let body = &markdown[start + heading.len()..];
    &body[..body.find("\n#").unwrap_or(body.len())]
}
