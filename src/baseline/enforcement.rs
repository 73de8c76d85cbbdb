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
    pub outcome: ProbeOutcome,
}

/// What a probe showed, apart from which path it took: the report's matrix cell
/// carries it as saved, so the two keep the same fields, flattened into each.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProbeOutcome {
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

/// Device memory the probes may leave in use, in MiB, before the run fails: the
/// driver returns freed memory in its own time (the H200 run saw 52 MiB more in use
/// right after the memory probes, back once they ended), while every memory path
/// takes 1 GiB pieces, so any piece a probe kept is well past it.
pub const LEAK_TOLERANCE_MIB: u64 = 256;

impl EnforcementRecord {
    /// MiB more in use after the probes than before them.
    pub fn grown_mib(&self) -> u64 {
        self.used_after_mib.saturating_sub(self.used_before_mib)
    }

    /// What the probes left behind, in words: more device memory in use than
    /// [`LEAK_TOLERANCE_MIB`] above what was in use before them, or any probe child
    /// still running. `None` where nothing was; either fails the configuration's run.
    pub fn left_behind(&self) -> Option<String> {
        let grown = self.grown_mib();
        let memory = (grown > LEAK_TOLERANCE_MIB).then(|| {
            format!(
                "{grown} MiB more device memory in use than before them (tolerance \
                 {LEAK_TOLERANCE_MIB} MiB)"
            )
        });
        let children = match self.children_left {
            0 => None,
            1 => Some("1 probe child running".to_owned()),
            n => Some(format!("{n} probe children running")),
        };
        match (memory, children) {
            (None, None) => None,
            (Some(one), None) | (None, Some(one)) => Some(one),
            (Some(memory), Some(children)) => Some(format!("{memory} and {children}")),
        }
    }
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
            outcome: ProbeOutcome {
                verdict: ProbeVerdict::Bypassed { excess: 4.0e9 },
                figure: Some(75.0e9),
                unit: "bytes".into(),
                limit: Some(71.0e9),
                control: Some(75.0e9),
                status: "CUDA_SUCCESS".into(),
                detail: String::new(),
            },
        };
        let json = serde_json::to_value(&entry).unwrap();
        assert_eq!(json["verdict"], "bypassed");
        assert_eq!(json["excess"], 4.0e9);
        assert_eq!(json["figure"], 75.0e9);
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

    fn record(before: u64, after: u64, children_left: u32) -> EnforcementRecord {
        EnforcementRecord {
            config: "hami-25".into(),
            device: DeviceFacts::h200(),
            probes: Vec::new(),
            used_before_mib: before,
            used_after_mib: after,
            children_left,
        }
    }

    #[test]
    fn growth_past_the_tolerance_or_a_child_left_is_what_fails_the_run() {
        assert_eq!(record(1050, 1102, 0).left_behind(), None);
        assert_eq!(
            record(1050, 1050 + LEAK_TOLERANCE_MIB, 0).left_behind(),
            None
        );
        assert_eq!(record(1102, 1050, 0).left_behind(), None);
        assert_eq!(
            record(1050, 2074, 0).left_behind().as_deref(),
            Some("1024 MiB more device memory in use than before them (tolerance 256 MiB)")
        );
        assert_eq!(
            record(1050, 1050, 1).left_behind().as_deref(),
            Some("1 probe child running")
        );
        assert_eq!(
            record(1050, 1400, 2).left_behind().as_deref(),
            Some(
                "350 MiB more device memory in use than before them (tolerance 256 MiB) \
                 and 2 probe children running"
            )
        );
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
