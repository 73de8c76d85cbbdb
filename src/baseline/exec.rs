//! `exec.json`: every run of the user's own command (`exec`) under one configuration
//! in one round, as it ended: wall time, exit status, peak device memory and the
//! figures it printed. summary.json holds the samples drawn from it; this file keeps
//! what they were drawn from, failed runs included, since a command that fails under
//! a configuration and not natively is a finding.

use super::Better;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// File name inside an exported configuration folder.
pub const EXEC_FILE: &str = "exec.json";
/// Folder of the command's output, one log per run, inside an exported folder.
pub const LOGS_DIR: &str = "logs";
/// The first part of an exec workload's category and metric id: `exec/<name>`.
pub const EXEC_PREFIX: &str = "exec";

/// The category, and metric id, of workload `name`.
pub fn exec_category(name: &str) -> String {
    format!("{EXEC_PREFIX}/{name}")
}

/// One configuration's runs of the command in one round.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExecRecord {
    pub config: String,
    /// The workload's name (`--name`, else the command's basename).
    pub name: String,
    /// The command and its arguments, as given.
    pub command: Vec<String>,
    /// The `--metric` patterns, as given.
    pub patterns: Vec<String>,
    pub runs: Vec<ExecRun>,
}

/// One run of the command.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExecRun {
    /// 1.. within the round.
    pub run: u32,
    pub started_at: DateTime<Utc>,
    /// From the start of the process to its exit.
    pub wall_secs: f64,
    pub exit: ExitRecord,
    /// `None` where no sample saw device memory held for the command.
    pub peak_memory: Option<PeakMemory>,
    /// Every figure the command printed or a pattern matched, in the order first seen.
    pub figures: Vec<Figure>,
    /// Lines meant as figures that could not be read, each with its reason.
    pub malformed: Vec<String>,
    /// The command's stdout and stderr, relative to the exported folder.
    pub log: String,
}

/// How the process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExitRecord {
    pub code: Option<i32>,
    /// The signal that killed it, where one did.
    pub signal: Option<i32>,
}

impl ExitRecord {
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }

    /// "exit status 1" or "killed by signal 9".
    pub fn describe(&self) -> String {
        match (self.code, self.signal) {
            (Some(code), _) => format!("exit status {code}"),
            (None, Some(signal)) => format!("killed by signal {signal}"),
            (None, None) => "no exit status".to_owned(),
        }
    }
}

/// The most device memory seen held for the command, and how it was seen.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PeakMemory {
    pub bytes: u64,
    pub source: MemorySource,
    /// Milliseconds between samples: a peak shorter than that may be missed.
    pub sample_ms: u64,
}

/// Where a peak was read. The sources measure different things, so their figures
/// are saved as different variants and never compared with each other.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MemorySource {
    /// NVML's used memory of each compute process of the command's process tree
    /// (nvmlDeviceGetComputeRunningProcesses), summed over processes and devices.
    NvmlProcess,
    /// NVML's used memory of the devices (nvmlDeviceGetMemoryInfo) above its level
    /// before the run: where NVML lists no process of the command's tree, as in a
    /// container whose PIDs are not the ones NVML reports.
    NvmlDevice,
    /// cuMemGetInfo's used memory (total - free) of device 0 in this process, above its
    /// level before the run: where NVML cannot be loaded.
    CuMemGetInfo,
}

impl MemorySource {
    /// The summary variant of peaks from this source.
    pub fn variant(self) -> &'static str {
        match self {
            Self::NvmlProcess => "peak-memory",
            Self::NvmlDevice | Self::CuMemGetInfo => "peak-device-memory",
        }
    }

    /// What a peak from this source is, in a few words.
    pub fn describe(self) -> &'static str {
        match self {
            Self::NvmlProcess => "its processes, NVML",
            Self::NvmlDevice => "device used above before, NVML",
            Self::CuMemGetInfo => "device used above before, cuMemGetInfo",
        }
    }
}

/// How a figure reached the record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FigureSource {
    /// A `{"gvb": ...}` line on stdout.
    JsonLine,
    /// A `--metric NAME=REGEX` pattern on stdout or stderr.
    Pattern,
}

/// One figure of one run: every value printed under its name, and their mean, which
/// is the run's sample.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Figure {
    pub name: String,
    pub unit: String,
    pub better: Better,
    pub source: FigureSource,
    pub values: Vec<f64>,
}

impl Figure {
    /// The run's sample of this figure.
    pub fn value(&self) -> f64 {
        crate::stats::mean(&self.values)
    }
}
