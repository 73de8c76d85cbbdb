//! The on-disk form of one configuration's run: `run.json` (what ran, where, and
//! whether its limits were in force), `summary.json` (one entry per metric variant),
//! and Criterion's own files under `criterion/` (or, for `exec`, `exec.json` and the
//! command's logs). Runs write it, reports only read it.

mod enforcement;
mod exec;
mod stability;
mod store;
mod verdict;

pub use enforcement::{
    EnforcementRecord, ProbeEntry, ProbeKind, ProbeOutcome, ProbeVerdict, ENFORCEMENT_FILE,
    LEAK_TOLERANCE_MIB, UNIT_BYTES, UNIT_PERCENT_OF_NATIVE,
};
pub use exec::{
    exec_category, ExecRecord, ExecRun, ExitRecord, Figure, FigureSource, MemorySource, PeakMemory,
    EXEC_FILE, EXEC_PREFIX, LOGS_DIR,
};
pub use stability::{Disagreement, Pass, Passes, Unstable, MAX_MEDIAN_RATIO};
pub use store::{read_json, write_json_atomic, Baseline};
pub use verdict::{
    judge, share_verdict, sm_verdict, Inconclusive, LimitVerdicts, MemoryVerdict, ShapeVerdict,
    SmVerdict, MAX_SPREAD, MIN_WINDOWS, OVER_LIMIT_MIB, SHARE_TOLERANCE,
};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// File names inside an exported configuration folder.
pub const RUN_FILE: &str = "run.json";
pub const SUMMARY_FILE: &str = "summary.json";
pub const CRITERION_DIR: &str = "criterion";
/// Rounds 2.. of an interleaved run, each a complete export, under `rounds/<k>/`.
pub const ROUNDS_DIR: &str = "rounds";
/// Per-call percentiles, written beside Criterion's estimates.json of each benchmark.
pub const PERCENTILES_FILE: &str = "percentiles.json";

/// Device facts, so a baseline says which chip it came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeviceFacts {
    pub name: String,
    /// Compute capability, "major.minor".
    pub cc: String,
    pub sms: u32,
    pub memory_mib: u64,
    /// Driver CUDA version, "major.minor".
    pub driver: String,
    pub clock_mhz: u32,
}

#[cfg(test)]
impl DeviceFacts {
    /// The H200 this suite's evidence comes from, for unit tests of sizing and bounds.
    pub(crate) fn h200() -> Self {
        Self {
            name: "NVIDIA H200".into(),
            cc: "9.0".into(),
            sms: 132,
            memory_mib: 143_155,
            driver: "13.0".into(),
            clock_mhz: 1980,
        }
    }
}

/// The configuration a run was made under, with the exact environment it set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConfigRecord {
    pub name: String,
    pub env: BTreeMap<String, String>,
    #[serde(default)]
    pub sm_limit_pct: Option<u32>,
    #[serde(default)]
    pub mem_limit_mib: Option<u64>,
}

/// Delivered SM share of one kernel shape, against a native run of the same shape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShapeShare {
    /// "short-blocks" (8 blocks per SM of ~0.1 ms) or "long-blocks" (1 per SM of ~1 ms).
    pub shape: String,
    pub blocks: u32,
    pub block_us: f64,
    pub kernels_per_s: f64,
    pub reference_kernels_per_s: f64,
    /// Mean of `windows`.
    pub share_mean: f64,
    /// Delivered share in each 0.5 s window (1.0 = native throughput).
    pub windows: Vec<f64>,
}

/// What the verifier found inside the configuration's own process before measuring.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verification {
    pub interposer_loaded: bool,
    /// The mapped library that looked like an interposer, if any.
    #[serde(default)]
    pub interposer_path: Option<String>,
    pub mem_total_reported_mib: u64,
    pub mem_physical_mib: u64,
    pub mem_limit_mib: Option<u64>,
    /// Whether an allocation of limit + 1 GiB was refused; `None` with no limit.
    pub over_limit_refused: Option<bool>,
    /// The CUresult name the over-limit allocation got, if refused.
    #[serde(default)]
    pub over_limit_error: Option<String>,
    pub sm_limit_pct: Option<u32>,
    /// Mean delivered share of the short-block shape (the one a block-counting limiter
    /// throttles), 1.0 = native.
    pub sm_share_mean: f64,
    pub sm_share_windows: Vec<f64>,
    pub shapes: Vec<ShapeShare>,
    /// Whether the configured memory limit was shown to be in force (`None`: no limit).
    pub mem_limit_in_force: Option<bool>,
    /// Whether the device attribute showed fewer SMs than the device has, where an
    /// SM partition (MPS) was expected; `None` where none was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sm_partition_seen: Option<bool>,
    /// The verdict of each limit, judged by [`judge`] when the run was verified;
    /// absent from a run.json written before verdicts were stored, and then judged
    /// on load ([`Baseline::load`]).
    #[serde(default)]
    pub verdicts: Option<LimitVerdicts>,
    /// One line per finding that makes the configuration's figures suspect.
    pub problems: Vec<String>,
    /// The memory limit of every visible device after device 0 (whose figures are
    /// the fields above), where the configuration limits several; each must hold.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub devices: Vec<DeviceLimit>,
}

/// One device's memory limit as the verifier found it in its own context.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeviceLimit {
    /// The visible ordinal (CUDA_VISIBLE_DEVICES applied), as the per-device
    /// variable CUDA_DEVICE_MEMORY_LIMIT_<i> names it.
    pub ordinal: u32,
    pub limit_mib: u64,
    pub mem_total_reported_mib: u64,
    pub mem_physical_mib: u64,
    /// Whether an allocation of limit + 1 GiB was refused.
    pub over_limit_refused: bool,
    /// cuMemGetInfo's total shows the limit and the over-limit allocation was refused.
    pub in_force: bool,
}

/// Which build of an interposer a run measured: a figure depends on the build
/// (HAMi-core's own build script builds it unoptimized, as Debug), so run.json names
/// it beyond its path.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InterposerIdentity {
    pub path: String,
    pub size: u64,
    pub sha256: String,
    /// The ELF build id (.note.gnu.build-id), hex.
    pub build_id: Option<String>,
    /// Version marks the library carries: HAMi-core names its git hash and branch in
    /// symbols (`GIT_HASH_<hash>`, `GIT_BRANCH_<branch>`).
    pub version: Vec<String>,
    /// Whether it carries DWARF debug information, as a Debug build does.
    pub debug_info: bool,
}

/// The MPS daemon a client ran under: its control program as found on disk, and the
/// driver it ships with (MPS has no version of its own).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MpsIdentity {
    pub control: InterposerIdentity,
    /// The NVIDIA kernel module's version line (/proc/driver/nvidia/version).
    pub driver: Option<String>,
}

/// `run.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    pub tool_version: String,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    pub device: DeviceFacts,
    pub config: ConfigRecord,
    pub verification: Verification,
    /// Set when a check failed and the run went on under --allow-unverified.
    pub unverified: bool,
    pub quick: bool,
    /// Metric ids measured in this run.
    pub metrics: Vec<String>,
    /// The interposer the configuration preloads, as found on disk when it ran;
    /// absent for configurations without one and in runs saved before it was kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interposer: Option<InterposerIdentity>,
    /// The MPS daemon, where the configuration's process was one of its clients.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mps: Option<MpsIdentity>,
    /// Seconds each phase of the configuration's process took, in order: context,
    /// verification, metrics, enforcement.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub phase_secs: Vec<(String, f64)>,
}

/// Which way a metric improves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Better {
    Lower,
    Higher,
}

/// One metric variant of `summary.json`; values are in `unit`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SummaryEntry {
    pub id: String,
    pub variant: String,
    pub unit: String,
    pub better: Better,
    /// Criterion's median and mean of per-iteration time, with the mean's CI (or the
    /// same of `samples`; `passes` says which).
    pub median: f64,
    pub mean: f64,
    pub ci_low: f64,
    pub ci_high: f64,
    /// Per-call percentiles from the HDR histogram, where the metric is per call: a
    /// pass of its own, run before Criterion's (`passes` says so). p1 is absent in
    /// summaries written before it was recorded.
    #[serde(default)]
    pub p1: Option<f64>,
    #[serde(default)]
    pub p50: Option<f64>,
    #[serde(default)]
    pub p99: Option<f64>,
    /// The harness's own cost per call (an empty timed body), in `unit`, beside a
    /// per-call figure: how much of a short call's time is the measuring.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub harness_floor: Option<f64>,
    /// Calls per histogram record: 1 is per call; more for calls shorter than the
    /// clock's resolution, recorded as the batch's mean.
    #[serde(default)]
    pub calls_per_record: Option<u32>,
    /// The benchmark's folder under `criterion/` (e.g. "overhead/OH-001/launch-call");
    /// absent for figures Criterion cannot sample (see `samples`).
    #[serde(default)]
    pub criterion_path: Option<String>,
    /// The samples themselves, in `unit`, for figures measured outside Criterion
    /// (CPU time of an idle process per window: Criterion plans its iterations from
    /// wall time and cannot sample a quantity that is not).
    #[serde(default)]
    pub samples: Option<Vec<f64>>,
    /// The group of a figure no registry entry or Criterion path places (`exec/<name>`
    /// for a figure of the user's own command).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    /// For a throughput read off Criterion's time per iteration: the work one
    /// iteration does, in the unit's numerator (e.g. TFLOP for TFLOPS), so every
    /// per-iteration time `t` ns becomes the value `work / (t * 1e-9)`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub work_per_iteration: Option<f64>,
    /// The physical bound of a throughput: its median may not exceed it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peak: Option<PeakShare>,
    /// The median against the practical ceiling measured in the same run (the best
    /// GEMM for a kernel's FLOPs, the device-to-device copy for a stream's bytes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub measured_peak: Option<PeakShare>,
    /// The kernel behind the figure where a metric has several for the same work
    /// (e.g. "gemm_bf16_sm90" or its sm_80 fallback "gemm_bf16"); absent for other
    /// metrics and in summaries written before it was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kernel: Option<String>,
    /// Which pass the median and the percentiles come from; absent in summaries
    /// written before it was recorded (see [`SummaryEntry::passes`]).
    #[serde(default)]
    pub passes: Option<Passes>,
    /// Set when the median and the per-call pass disagree (see [`Unstable::check`]);
    /// absent when they agree, or in a summary written before the check
    /// (see [`SummaryEntry::instability`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unstable: Option<Unstable>,
}

/// A throughput set against a peak, with where the peak came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PeakShare {
    /// How the peak was obtained, e.g. "bf16 tensor cores from device attributes:
    /// 132 SMs x 1980 MHz x 4096 FLOP/clock".
    pub source: String,
    /// The peak, in the entry's unit.
    pub value: f64,
    /// The entry's median over `value`.
    pub fraction: f64,
}

/// `summary.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub config: String,
    pub entries: Vec<SummaryEntry>,
}

/// Per-call latency percentiles of one benchmark, in nanoseconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Percentiles {
    pub count: u64,
    pub calls_per_record: u32,
    pub min_ns: f64,
    /// Absent in percentiles.json written before p1 was recorded.
    #[serde(default)]
    pub p1_ns: Option<f64>,
    pub p50_ns: f64,
    pub mean_ns: f64,
    pub p90_ns: f64,
    pub p99_ns: f64,
    pub max_ns: f64,
    /// Per call, what an empty body timed the same way costs (clock reads and loop):
    /// the floor under every figure above. Absent in baselines saved before it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub harness_floor_ns: Option<f64>,
}
