use crate::baseline::Better;
use crate::error::{Error, Result};

/// A metric as `list` shows it and `--metrics` selects it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MetricInfo {
    pub id: &'static str,
    pub name: &'static str,
    pub category: &'static str,
    pub unit: &'static str,
    pub better: Better,
    /// Nanoseconds of Criterion's per-iteration figure per unit of the metric.
    pub ns_per_unit: f64,
    pub method: &'static str,
}

/// Every metric the suite implements, in report order. Ids follow the public
/// gpu-virt-bench numbering so results can be set side by side with it.
pub const METRICS: &[MetricInfo] = &[
    MetricInfo {
        id: "OH-001",
        name: "Kernel launch latency",
        category: "overhead",
        unit: "us",
        better: Better::Lower,
        ns_per_unit: 1e3,
        method: "host time of cuLaunchKernel of an empty <<<1,1>>> kernel (launch-call, stream sync every 256 untimed) and of launch + cuStreamSynchronize (launch-sync)",
    },
    MetricInfo {
        id: "OH-002",
        name: "Memory allocation latency",
        category: "overhead",
        unit: "us",
        better: Better::Lower,
        ns_per_unit: 1e3,
        method: "host time of cuMemAlloc of 4 KiB, 1 MiB, 64 MiB, 1 GiB; the free is untimed",
    },
    MetricInfo {
        id: "OH-003",
        name: "Memory free latency",
        category: "overhead",
        unit: "us",
        better: Better::Lower,
        ns_per_unit: 1e3,
        method: "host time of cuMemFree of 4 KiB, 1 MiB, 64 MiB, 1 GiB; the allocation is untimed",
    },
    MetricInfo {
        id: "OH-004",
        name: "Context creation",
        category: "overhead",
        unit: "ms",
        better: Better::Lower,
        ns_per_unit: 1e6,
        method: "cuCtxCreate + cuCtxDestroy in a live process (create-destroy); first cuInit + primary context in a fresh child process, as the child times it (cold-start)",
    },
    MetricInfo {
        id: "OH-005",
        name: "API interception overhead",
        category: "overhead",
        unit: "ns",
        better: Better::Lower,
        ns_per_unit: 1.0,
        method: "ns per call of cuDriverGetVersion, cuCtxGetDevice, cuDeviceGetAttribute, timed in batches of 1000 calls",
    },
    MetricInfo {
        id: "OH-006",
        name: "Shared-state contention",
        category: "overhead",
        unit: "us",
        better: Better::Lower,
        ns_per_unit: 1e3,
        method: "cuMemAlloc + cuMemFree of 4 KiB per pair, in 1, 2, 4, 8 processes of the same configuration at once (started behind a barrier); mean over processes per sample",
    },
    MetricInfo {
        id: "OH-007",
        name: "Memory tracking overhead",
        category: "overhead",
        unit: "ns",
        better: Better::Lower,
        ns_per_unit: 1.0,
        method: "host time of a cuMemAlloc + cuMemFree pair of 4 KiB",
    },
    MetricInfo {
        id: "OH-008",
        name: "Rate limiter overhead",
        category: "overhead",
        unit: "ns",
        better: Better::Lower,
        ns_per_unit: 1.0,
        method: "host time of cuLaunchKernel of an empty kernel on an idle GPU (launch timed, then synchronize untimed, repeat), so a limiter's check is paid but never waits",
    },
    MetricInfo {
        id: "OH-009",
        name: "Monitoring CPU overhead",
        category: "overhead",
        unit: "%",
        better: Better::Lower,
        ns_per_unit: 1.0,
        method: "CPU time (getrusage, user + system, all threads) of a child process holding an idle context, per 0.5 s window over 2 s, as % of one core",
    },
    MetricInfo {
        id: "OH-010",
        name: "Total throughput degradation",
        category: "overhead",
        unit: "us",
        better: Better::Lower,
        ns_per_unit: 1e3,
        method: "time per iteration of a fixed pipeline: cuMemAlloc 16 MiB, copy host to device, three kernels, copy back, cuMemFree (output checked before timing); degradation = 1 - native time / configuration time",
    },
];

/// Looks up a metric by id (case-insensitive).
pub fn find(id: &str) -> Result<&'static MetricInfo> {
    METRICS
        .iter()
        .find(|m| m.id.eq_ignore_ascii_case(id.trim()))
        .ok_or_else(|| Error::UnknownMetric(id.trim().to_string()))
}

/// Which metrics a run measures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selection(Vec<&'static str>);

impl Selection {
    pub fn all() -> Self {
        Self(METRICS.iter().map(|m| m.id).collect())
    }

    /// Parses a comma-separated id list; any unknown id is an error, so a typo never
    /// silently measures less than was asked for.
    pub fn parse(list: &str) -> Result<Self> {
        let mut ids = Vec::new();
        for part in list.split(',').filter(|p| !p.trim().is_empty()) {
            let id = find(part)?.id;
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
        if ids.is_empty() {
            return Err(Error::Invalid(
                "--metrics names no metric; `gpu-virt-bench list` shows the ids".into(),
            ));
        }
        Ok(Self(ids))
    }

    pub fn contains(&self, id: &str) -> bool {
        self.0.contains(&id)
    }

    pub fn ids(&self) -> &[&'static str] {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_known_ids_in_any_case_without_duplicates() {
        let s = Selection::parse("oh-001, OH-005,OH-001").unwrap();
        assert_eq!(s.ids(), &["OH-001", "OH-005"]);
        assert!(s.contains("OH-005") && !s.contains("OH-002"));
    }

    #[test]
    fn unknown_id_is_named_in_the_error() {
        let err = Selection::parse("OH-001,XX-9").unwrap_err();
        assert!(
            matches!(err, Error::UnknownMetric(ref id) if id == "XX-9"),
            "{err}"
        );
        assert!(err.to_string().contains("gpu-virt-bench list"));
    }

    #[test]
    fn empty_list_is_refused() {
        assert!(Selection::parse(" , ").is_err());
    }

    #[test]
    fn registry_ids_are_unique_and_units_known() {
        let mut ids: Vec<_> = METRICS.iter().map(|m| m.id).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), METRICS.len());
        assert!(METRICS
            .iter()
            .all(|m| ["us", "ns", "ms", "%"].contains(&m.unit)));
    }
}
