//! The isolation probes on a real GPU: the kernels and driver calls IS-005 and IS-010
//! are built on, in this process, and the scenarios end to end through the CLI (each
//! tenant a process of its own, so the deliberate faults never reach this one).
//! Every test is ignored by default, so a machine without a GPU reports it as
//! ignored rather than passed; `cargo test -- --include-ignored` runs them, and the
//! two under HAMi-core also need its libvgpu.so.

mod common;
use common::{gpu, hami_lib, TestResult};

use gpu_virt_bench::cuda::{self, Context, DeviceBuffer, IpcHandle, IsolationKernels, Stream};
use gpu_virt_bench::run::child::CHILD_VAR;
use gpu_virt_bench::Error;
use serde_json::Value;
use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

/// An address no allocation covers (the null page), as IS-010 writes to.
const OUTSIDE: u64 = 0x10;

#[test]
#[ignore = "needs a CUDA GPU"]
fn reading_through_an_own_address_works_so_a_refusal_means_something() -> TestResult {
    let _gpu = gpu()?;
    let _ctx = Context::primary(0)?;
    let words = 1 << 16;
    let pattern: Vec<u64> = (0..words as u64).map(|i| i * 0x9E37_79B9 + 1).collect();
    let src = DeviceBuffer::new(words * 8)?;
    src.copy_from_host(&pattern)?;
    assert!(cuda::owns_address(src.device_ptr())?);
    assert!(cuda::owns_address(
        src.device_ptr() + 8 * (words as u64 - 1)
    )?);
    assert!(!cuda::owns_address(OUTSIDE)?);

    let mut host = vec![0u64; words];
    cuda::copy_from_address(src.device_ptr(), &mut host)?;
    assert!(host == pattern, "cuMemcpyDtoH from an own address");

    let kernels = IsolationKernels::load()?;
    let stream = Stream::new()?;
    let dst = DeviceBuffer::new(words * 8)?;
    dst.fill_u32(0, &stream)?;
    kernels.copy_from_address(src.device_ptr(), &dst, &stream)?;
    stream.synchronize()?;
    let mut copied = vec![0u64; words];
    dst.copy_to_host(&mut copied)?;
    assert!(copied == pattern, "copy_words from an own address");
    Ok(())
}

#[test]
#[ignore = "needs a CUDA GPU"]
fn a_write_to_own_memory_is_refused_before_launch() -> TestResult {
    let _gpu = gpu()?;
    let _ctx = Context::primary(0)?;
    let kernels = IsolationKernels::load()?;
    let stream = Stream::new()?;
    let buf = DeviceBuffer::new(4096)?;
    buf.fill_u32(0x5555_5555, &stream)?;
    match kernels.write_outside(buf.device_ptr() + 64, 0, &stream) {
        Err(Error::Invalid(message)) => assert!(message.contains("own memory"), "{message}"),
        Err(other) => panic!("expected Invalid, got {other}"),
        Ok(()) => panic!("a write into this context's memory was launched"),
    }
    stream.synchronize()?;
    let mut host = vec![0u32; 1024];
    buf.copy_to_host(&mut host)?;
    assert!(host.iter().all(|&w| w == 0x5555_5555), "the buffer changed");
    Ok(())
}

#[test]
#[ignore = "needs a CUDA GPU"]
fn native_allocations_export_an_ipc_handle() -> TestResult {
    let _gpu = gpu()?;
    let _ctx = Context::primary(0)?;
    let buf = DeviceBuffer::new(1 << 20)?;
    let handle = IpcHandle::export(&buf)?;
    let hex = String::from(handle);
    assert_eq!(hex.len(), 128);
    assert!(hex.chars().any(|c| c != '0'), "an all-zero handle");
    Ok(())
}

/// Runs `gpu-virt-bench isolate` with `args` into a fresh folder and returns each
/// written scenario.json, by scenario name.
fn isolate(args: &[&str]) -> Result<BTreeMap<String, Value>, Box<dyn std::error::Error>> {
    let out = tempfile::tempdir()?;
    let output = assert_cmd::Command::cargo_bin("gpu-virt-bench")?
        .env_remove(CHILD_VAR)
        .arg("isolate")
        .args(args)
        .arg("--out")
        .arg(out.path())
        .output()?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "isolate {args:?} failed: {stderr}");
    let mut records = BTreeMap::new();
    for line in String::from_utf8(output.stdout)?.lines() {
        let dir = Path::new(line.strip_prefix("exported ").ok_or(line.to_owned())?);
        let record: Value = serde_json::from_str(&fs::read_to_string(dir.join("scenario.json"))?)?;
        let name = record["scenario"]
            .as_str()
            .ok_or("no scenario name")?
            .to_owned();
        records.insert(name, record);
    }
    Ok(records)
}

/// Natively, IPC is allowed and reads the victim's pattern: the positive control that
/// shows a raw-pointer refusal is not the probe failing to recognise the data.
#[test]
#[ignore = "needs a CUDA GPU"]
fn memory_probe_natively_refuses_raw_pointers_and_allows_ipc() -> TestResult {
    let _gpu = gpu()?;
    let records = isolate(&["--scenarios", "memory-native-vs-native"])?;
    let m = &records["memory-native-vs-native"];
    eprintln!("{}", serde_json::to_string_pretty(m)?);
    assert_eq!(m["kind"], "memory");
    assert_eq!(m["verdict"], "isolated", "{m}");
    for path in ["raw_copy", "raw_kernel"] {
        assert_ne!(m[path]["access"], "read_victim_data", "{path}: {m}");
    }
    assert_eq!(m["ipc"]["access"], "read_victim_data", "{m}");
    assert_eq!(
        m["ipc"]["matched_words"].as_u64(),
        Some(m["bytes"].as_u64().unwrap_or(0) / 8)
    );
    assert_eq!(m["owner_check"]["changed_words"], 0);
    Ok(())
}

#[test]
#[ignore = "needs a CUDA GPU and HAMi-core (HAMI_LIB)"]
fn memory_probe_under_hami_core_keeps_raw_pointers_out() -> TestResult {
    let _gpu = gpu()?;
    let lib = hami_lib()?;
    let lib = lib.to_string_lossy().into_owned();
    let records = isolate(&[
        "--scenarios",
        "memory-hami-50-vs-hami-50",
        "--hami-lib",
        &lib,
    ])?;
    let m = &records["memory-hami-50-vs-hami-50"];
    eprintln!("{}", serde_json::to_string_pretty(m)?);
    assert_eq!(m["verdict"], "isolated", "{m}");
    eprintln!(
        "IPC under HAMi-core: {} ({})",
        m["ipc"]["access"], m["ipc"]["result"]
    );
    Ok(())
}

/// The faulting tenant must get an error (the fault is real) and the victim must run on
/// after it with every kernel's output correct.
fn assert_fault_isolated(f: &Value) {
    eprintln!("{}", serde_json::to_string_pretty(f).unwrap_or_default());
    assert_eq!(f["kind"], "fault");
    assert_eq!(f["fault"]["sync"], "CUDA_ERROR_ILLEGAL_ADDRESS", "{f}");
    assert_ne!(
        f["fault"]["after"], "CUDA_SUCCESS",
        "the faulted context still allocates: {f}"
    );
    assert!(f["victim_run"]["error"].is_null(), "{f}");
    assert_eq!(f["victim_run"]["wrong"], 0, "{f}");
    assert!(f["victim_run"]["correct"].as_u64().unwrap_or(0) > 0, "{f}");
    assert!(
        f["after_per_s"].as_f64().unwrap_or(0.0) > 0.0,
        "no window after the fault: {f}"
    );
    assert_eq!(f["verdict"], "isolated", "{f}");
}

#[test]
#[ignore = "needs a CUDA GPU"]
fn fault_natively_stays_in_the_faulting_context() -> TestResult {
    let _gpu = gpu()?;
    let records = isolate(&["--scenarios", "fault-native-vs-native", "--secs", "4"])?;
    assert_fault_isolated(&records["fault-native-vs-native"]);
    Ok(())
}

#[test]
#[ignore = "needs a CUDA GPU and HAMi-core (HAMI_LIB)"]
fn fault_under_hami_core_stays_in_the_faulting_context() -> TestResult {
    let _gpu = gpu()?;
    let lib = hami_lib()?;
    let lib = lib.to_string_lossy().into_owned();
    let records = isolate(&[
        "--scenarios",
        "fault-hami-50-vs-hami-50",
        "--secs",
        "4",
        "--hami-lib",
        &lib,
    ])?;
    assert_fault_isolated(&records["fault-hami-50-vs-hami-50"]);
    Ok(())
}

/// `native-x2` run with one kernel `shape` for 3 s: its record, checked to name the
/// shape.
fn two_native_tenants(shape: &str) -> Result<Value, Box<dyn std::error::Error>> {
    let args = ["--scenarios", "native-x2", "--shapes", shape, "--secs", "3"];
    let mut records = isolate(&args)?;
    let record = records
        .remove(&format!("native-x2-{shape}"))
        .ok_or("no record of the shape's scenario")?;
    assert_eq!(record["shape"], shape);
    Ok(record)
}

/// Each tenant got some of the GPU, and together no more than one GPU's worth: the
/// shapes count out work, which time-slicing cannot shorten.
fn assert_real_work_split(record: &Value) -> TestResult {
    let shares: Vec<f64> = record["tenants"]
        .as_array()
        .ok_or("no tenants")?
        .iter()
        .map(|t| t["share_mean"].as_f64().unwrap_or(0.0))
        .collect();
    let total: f64 = shares.iter().sum();
    assert!(shares.iter().all(|&x| x > 0.05), "{shares:?}");
    assert!(
        total <= 1.05,
        "two tenants did {total} GPUs' worth of work: {shares:?}"
    );
    Ok(())
}

/// The shape axis end to end: the 10 ms shape is recorded, with one block per SM, and
/// two native tenants split its work.
#[test]
#[ignore = "needs a CUDA GPU"]
fn a_long_block_shape_is_measured_against_its_own_reference() -> TestResult {
    let _gpu = gpu()?;
    let s = &two_native_tenants("10ms")?;
    assert_eq!(s["reference"]["block_us"], 10_000.0);
    assert_eq!(
        s["reference"]["blocks"], s["device"]["sms"],
        "one block per SM"
    );
    assert_real_work_split(s)?;
    Ok(())
}

/// The GEMM shape end to end: two native tenants run our checked GEMM, and since a
/// GEMM's work cannot be shortened by time-slicing (unlike a clock-counting spin),
/// together they get at most about one GPU's worth of it.
#[test]
#[ignore = "needs a CUDA GPU"]
fn a_gemm_shape_splits_real_work_between_tenants() -> TestResult {
    let _gpu = gpu()?;
    let s = &two_native_tenants("gemm")?;
    assert_real_work_split(s)?;
    Ok(())
}
