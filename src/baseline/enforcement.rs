//! `enforcement.json`: whether each limit held on each path a tenant could take (the
//! ENF category), one file per exported configuration. Probes write it, reports only
//! read it; a baseline without one simply has no enforcement matrix.

use super::DeviceFacts;
use serde::{Deserialize, Serialize};

/// File name inside an exported configuration folder.
pub const ENFORCEMENT_FILE: &str = "enforcement.json";

/// The unit of a memory probe's figures: bytes obtained and written.
pub const UNIT_BYTES: &str = "bytes";
/// The unit of an SM probe's figures: delivered throughput as a percentage of the
/// same work's native rate (100 = native), limits in the same percent.
pub const UNIT_PERCENT_OF_NATIVE: &str = "%";

/// Which limit a probe tries to get around.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProbeKind {
    /// Holding more device memory than the configured limit.
    Memory,
    /// Getting more SM throughput than the configured share.
    Sm,
    /// Changing or escaping the limits from inside the tenant.
    Tamper,
}

/// What one probe showed under one configuration, read against its native control.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "verdict")]
pub enum ProbeVerdict {
    /// The path gave the tenant no more than the limit.
    Enforced,
    /// The path gave the tenant more than the limit, by `excess` in the entry's unit
    /// (bytes above the limit, share above the limit).
    Bypassed { excess: f64 },
    /// The path fails under the configuration where it works natively: a
    /// compatibility break, also a finding.
    RefusedUnlikeNative,
    /// Nothing can be concluded, and why (e.g. the native control failed, so the
    /// probe itself is broken; or no limit of this kind is configured).
    Inconclusive { why: String },
    /// The path does not exist here (e.g. no libcudart), and why.
    NotApplicable { why: String },
    /// The probe's child died (signal) or outlived its timeout; the other probes
    /// went on.
    Crashed {
        signal: Option<i32>,
        timed_out: bool,
    },
}

/// One path probed under one configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProbeEntry {
    /// The metric id, ENF-001 ...
    pub id: String,
    /// The path, as the matrix names its row (e.g. "cuMemAllocPitch").
    pub path: String,
    pub kind: ProbeKind,
    #[serde(flatten)]
    pub verdict: ProbeVerdict,
    /// What the tenant got on this path under the configuration, in `unit`
    /// (bytes obtained and written; delivered share of native); `None` where the
    /// path gave nothing to measure.
    pub figure: Option<f64>,
    pub unit: String,
    /// The configured limit in `unit`, `None` where no limit of this kind is set.
    pub limit: Option<f64>,
    /// The same probe's figure natively, in `unit`; `None` where the control failed.
    pub control: Option<f64>,
    /// What the path's call returned under the configuration: a CUresult name, or
    /// a value that is no CUresult, said as such.
    pub status: String,
    /// Everything else the probe saw, for a reader (cuMemGetInfo afterwards,
    /// whether a following 1 GiB cuMemAlloc was still refused, ...).
    pub detail: String,
}

/// `enforcement.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnforcementRecord {
    pub config: String,
    pub device: DeviceFacts,
    pub probes: Vec<ProbeEntry>,
    /// Device memory in use before the first probe and after the last, in MiB
    /// (cuMemGetInfo natively): a probe may leave nothing behind.
    pub used_before_mib: u64,
    pub used_after_mib: u64,
    /// Probe children still alive after the category ended (must be 0).
    pub children_left: u32,
}

impl ProbeVerdict {
    /// The word the matrix shows.
    pub fn word(&self) -> &'static str {
        match self {
            Self::Enforced => "enforced",
            Self::Bypassed { .. } => "bypassed",
            Self::RefusedUnlikeNative => "refused-unlike-native",
            Self::Inconclusive { .. } => "inconclusive",
            Self::NotApplicable { .. } => "not-applicable",
            Self::Crashed { .. } => "crashed",
        }
    }

    /// Order of the matrix's rows: paths bypassed somewhere first.
    pub fn severity(&self) -> u8 {
        match self {
            Self::Bypassed { .. } => 0,
            Self::Crashed { .. } => 1,
            Self::RefusedUnlikeNative => 2,
            Self::Inconclusive { .. } => 3,
            Self::Enforced => 4,
            Self::NotApplicable { .. } => 5,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts_round_trip_with_their_figures_beside_the_entry() {
        let entry = ProbeEntry {
            id: "ENF-003".into(),
            path: "cuMemAllocManaged".into(),
            kind: ProbeKind::Memory,
            verdict: ProbeVerdict::Bypassed { excess: 4.0e9 },
            figure: Some(75.0e9),
            unit: "bytes".into(),
            limit: Some(71.0e9),
            control: Some(75.0e9),
            status: "CUDA_SUCCESS".into(),
            detail: String::new(),
        };
        let json = serde_json::to_value(&entry).unwrap();
        assert_eq!(json["verdict"], "bypassed");
        assert_eq!(json["excess"], 4.0e9);
        assert_eq!(json["kind"], "memory");
        let back: ProbeEntry = serde_json::from_value(json).unwrap();
        assert_eq!(back, entry);
        let crashed = serde_json::to_value(ProbeVerdict::Crashed {
            signal: Some(11),
            timed_out: false,
        })
        .unwrap();
        assert_eq!(crashed["verdict"], "crashed");
    }

    #[test]
    fn bypasses_sort_first() {
        let mut verdicts = [
            ProbeVerdict::Enforced,
            ProbeVerdict::NotApplicable {
                why: "no libcudart".into(),
            },
            ProbeVerdict::Bypassed { excess: 1.0 },
            ProbeVerdict::RefusedUnlikeNative,
        ];
        verdicts.sort_by_key(ProbeVerdict::severity);
        assert_eq!(verdicts[0].word(), "bypassed");
        assert_eq!(verdicts[3].word(), "not-applicable");
    }
}
