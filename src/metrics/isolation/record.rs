//! `scenario.json`: the tenants of one scenario, what each measured, and the IS
//! figures derived from it.

use super::fault::FaultRecord;
use super::figures;
use super::memory::MemoryRecord;
use super::shape::TenantShape;
use super::tenant::MemoryFill;
use super::Measured;
use crate::baseline::{read_json, DeviceFacts};
use crate::error::{Error, Result};
use crate::run::Config;
use crate::system::ShapeRun;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

pub const SCENARIO_FILE: &str = "scenario.json";

/// Whether tenants share one HAMi-core state file (one pod) or have one each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Pod {
    Shared,
    Separate,
}

impl Pod {
    /// The layout as a report's heading names it.
    pub fn describe(self) -> &'static str {
        match self {
            Self::Shared => "one shared pod",
            Self::Separate => "separate pods",
        }
    }
}

impl std::str::FromStr for Pod {
    type Err = crate::error::Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "shared" => Ok(Self::Shared),
            "separate" => Ok(Self::Separate),
            other => Err(crate::error::Error::Invalid(format!(
                "unknown pod layout '{other}'; use shared or separate"
            ))),
        }
    }
}

/// A tenant's part: peers are alike; a victim is also measured alone, to compare.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Peer,
    Victim,
    Aggressor,
}

/// Who a tenant is: its configuration as it ran. Every scenario kind records its
/// tenants this way, so a reader finds the limits in one place.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tenant {
    pub name: String,
    pub config: String,
    pub role: Role,
    pub env: BTreeMap<String, String>,
    pub sm_limit_pct: Option<u32>,
    pub mem_limit_mib: Option<u64>,
}

impl Tenant {
    pub fn new(name: String, config: &Config, role: Role, env: BTreeMap<String, String>) -> Self {
        Self {
            name,
            config: config.name.clone(),
            role,
            env,
            sm_limit_pct: config.expect.sm_limit_pct,
            mem_limit_mib: config.expect.mem_limit_mib,
        }
    }
}

/// One tenant of a share scenario: who it is, what it measured, and its figures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TenantRecord {
    #[serde(flatten)]
    pub tenant: Tenant,
    /// Alone on the GPU (victims only).
    pub alone: Option<ShapeRun>,
    /// Beside the scenario's other tenants.
    pub together: ShapeRun,
    /// Throughput of each window beside the others, as a share of one native tenant
    /// alone (the reference).
    pub share_windows: Vec<f64>,
    pub share_mean: f64,
    /// Share of the reference alone (victims only): the configured limit's own effect,
    /// without the other tenants' contention.
    pub alone_share_mean: Option<f64>,
    /// IS-003: fraction of windows within ±10 points of the SM limit, read alone (victims
    /// only): beside others, contention lowers the share whatever the limit.
    pub within_limit_band: Option<f64>,
    /// IS-004: seconds until every later window is within ±10 points of the limit,
    /// read alone (victims only).
    pub settling_s: Option<f64>,
    /// IS-006: throughput lost beside the others, relative to alone (victims).
    pub interference: Option<f64>,
    /// IS-007: coefficient of variation of the windows beside the others.
    pub qos_cv: Option<f64>,
    /// IS-009: growth of the p99 kernel latency beside the others (victims).
    pub p99_growth: Option<f64>,
    /// IS-001 / IS-002: allocating 64 MiB chunks alone until refused.
    pub memory: Option<MemoryFill>,
    /// IS-001: usable memory over the configured limit.
    pub memory_accuracy: Option<f64>,
}

impl TenantRecord {
    pub fn new(
        name: String,
        config: &Config,
        role: Role,
        env: BTreeMap<String, String>,
        measured: Measured,
        reference: &ShapeRun,
        window_s: f64,
    ) -> Self {
        let Measured {
            alone,
            together,
            memory,
        } = measured;
        let share_windows: Vec<f64> = together
            .windows
            .iter()
            .map(|w| w / reference.kernels_per_s)
            .collect();
        let limit = config.expect.sm_limit_pct.map(|p| f64::from(p) / 100.0);
        let alone_windows: Option<Vec<f64>> = alone.as_ref().map(|a| {
            a.windows
                .iter()
                .map(|w| w / reference.kernels_per_s)
                .collect()
        });
        let limit_windows = alone_windows.as_deref();
        let mem_limit = config.expect.mem_limit_mib;
        Self {
            tenant: Tenant::new(name, config, role, env),
            share_mean: together.kernels_per_s / reference.kernels_per_s,
            alone_share_mean: alone
                .as_ref()
                .map(|a| a.kernels_per_s / reference.kernels_per_s),
            within_limit_band: limit
                .zip(limit_windows)
                .and_then(|(l, w)| figures::within_band(w, l)),
            settling_s: limit
                .zip(limit_windows)
                .and_then(|(l, w)| figures::settling_s(w, l, window_s)),
            interference: alone
                .as_ref()
                .and_then(|a| figures::interference(a.kernels_per_s, together.kernels_per_s)),
            qos_cv: figures::cv(&together.windows),
            p99_growth: alone
                .as_ref()
                .and_then(|a| figures::growth(a.kernel_us_p99, together.kernel_us_p99)),
            memory_accuracy: memory
                .as_ref()
                .zip(mem_limit)
                .map(|(m, limit)| m.usable_mib as f64 / limit as f64),
            share_windows,
            alone,
            together,
            memory,
        }
    }
}

/// What a scenario.json holds, as its `kind` says; files saved before there was more
/// than one kind have none and are share scenarios.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ScenarioKind {
    /// Tenants side by side running the spin kernel (IS-001..004, IS-006..009).
    #[default]
    Share,
    /// One tenant's memory read by another (IS-005).
    Memory,
    /// One tenant faults beside another's checked work (IS-010).
    Fault,
}

/// A share scenario as run: one kernel shape, every tenant's throughput.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScenarioRecord {
    #[serde(default)]
    pub kind: ScenarioKind,
    /// The scenario's name with its shape (see [`TenantShape::scenario_name`]).
    pub scenario: String,
    /// The tenants' kernel shape (IS-003's axis).
    #[serde(default)]
    pub shape: TenantShape,
    pub pod: Pod,
    pub secs: f64,
    pub window_s: f64,
    pub device: DeviceFacts,
    pub tool_version: String,
    pub finished_at: DateTime<Utc>,
    /// One native tenant alone: what every share is measured against.
    pub reference: ShapeRun,
    pub tenants: Vec<TenantRecord>,
    /// IS-008: Jain's index of the tenants' throughputs beside each other.
    pub jain_index: Option<f64>,
}

impl ScenarioRecord {
    pub fn new(
        scenario: &super::Scenario,
        shape: TenantShape,
        secs: f64,
        window_s: f64,
        device: &DeviceFacts,
        reference: &ShapeRun,
        tenants: Vec<TenantRecord>,
    ) -> Self {
        let throughputs: Vec<f64> = tenants.iter().map(|t| t.together.kernels_per_s).collect();
        Self {
            kind: ScenarioKind::Share,
            scenario: scenario.run_name(),
            shape,
            pod: scenario.pod,
            secs,
            window_s,
            device: device.clone(),
            tool_version: env!("CARGO_PKG_VERSION").to_string(),
            finished_at: Utc::now(),
            reference: reference.clone(),
            jain_index: figures::jain_index(&throughputs),
            tenants,
        }
    }
}

/// The saved scenarios that probe across tenants rather than share the GPU (IS-005,
/// IS-010), as the report takes them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProbeRecords {
    pub memory: Vec<MemoryRecord>,
    pub fault: Vec<FaultRecord>,
}

/// Any scenario.json, read as its `kind` says.
#[derive(Debug, Clone, PartialEq)]
pub enum SavedScenario {
    Share(Box<ScenarioRecord>),
    Memory(Box<MemoryRecord>),
    Fault(Box<FaultRecord>),
}

impl SavedScenario {
    pub fn read(path: &Path) -> Result<Self> {
        let value: serde_json::Value = read_json(path)?;
        let json = |source| Error::Json {
            path: path.to_path_buf(),
            source,
        };
        let kind = match value.get("kind") {
            Some(kind) => ScenarioKind::deserialize(kind).map_err(json)?,
            None => ScenarioKind::Share,
        };
        Ok(match kind {
            ScenarioKind::Share => Self::Share(serde_json::from_value(value).map_err(json)?),
            ScenarioKind::Memory => Self::Memory(serde_json::from_value(value).map_err(json)?),
            ScenarioKind::Fault => Self::Fault(serde_json::from_value(value).map_err(json)?),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(kernels_per_s: f64, windows: &[f64], p99: f64) -> ShapeRun {
        ShapeRun {
            shape: "tenant".into(),
            blocks: 1056,
            block_us: 100.0,
            kernels_per_s,
            windows: windows.to_vec(),
            kernel_us_p50: p99 / 2.0,
            kernel_us_p99: p99,
            fp32_peak_fraction: None,
        }
    }

    fn tenant(config: &str, alone: Option<ShapeRun>, memory: Option<MemoryFill>) -> TenantRecord {
        let config = Config::parse(config, Path::new("/opt/libvgpu.so"), 1000).unwrap();
        let measured = Measured {
            alone,
            together: run(250.0, &[200.0, 300.0], 300.0),
            memory,
        };
        TenantRecord::new(
            "t1".into(),
            &config,
            Role::Victim,
            BTreeMap::new(),
            measured,
            &run(1000.0, &[1000.0], 100.0),
            0.5,
        )
    }

    #[test]
    fn a_victim_reads_its_limit_alone_and_its_loss_beside_the_others() {
        let fill = MemoryFill {
            usable_mib: 240,
            refusal: Some("CUDA_ERROR_OUT_OF_MEMORY".into()),
            refusal_us: 80.0,
        };
        let t = tenant(
            "hami-25",
            Some(run(500.0, &[900.0, 300.0, 260.0], 150.0)),
            Some(fill),
        );
        assert_eq!(t.share_windows, vec![0.2, 0.3]);
        assert_eq!(t.share_mean, 0.25);
        assert_eq!(t.alone_share_mean, Some(0.5));
        assert_eq!(t.within_limit_band, Some(2.0 / 3.0));
        assert_eq!(t.settling_s, Some(0.5));
        assert_eq!(t.interference, Some(0.5));
        assert_eq!(t.p99_growth, Some(1.0));
        assert_eq!(t.memory_accuracy, Some(240.0 / 250.0));
    }

    #[test]
    fn without_an_alone_run_the_limit_is_not_read_from_contended_windows() {
        let t = tenant("hami-25", None, None);
        assert_eq!(t.within_limit_band, None);
        assert_eq!(t.settling_s, None);
        assert_eq!(t.interference, None);
        assert_eq!(t.memory_accuracy, None);
        assert!(t.qos_cv.is_some());
    }

    #[test]
    fn records_saved_before_the_shape_axis_read_as_short_share_scenarios() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(
            "tests/fixtures/baselines/nvidia-test-gpu/isolation/hami-50-victim-native-aggressor/scenario.json",
        );
        let record: ScenarioRecord = crate::baseline::read_json(&path).unwrap();
        assert_eq!(record.kind, ScenarioKind::Share);
        assert_eq!(record.shape, TenantShape::Short);
        assert_eq!(record.tenants[0].tenant.config, "hami-50");

        let mut long = record;
        long.shape = TenantShape::TenMs;
        let json = serde_json::to_value(&long).unwrap();
        assert_eq!(json["kind"], "share");
        assert_eq!(json["shape"], "10ms");
        assert_eq!(
            json["tenants"][0]["sm_limit_pct"], 50,
            "a tenant's configuration stays at the tenant's top level"
        );
        assert_eq!(
            serde_json::from_value::<ScenarioRecord>(json).unwrap(),
            long
        );
    }
}
