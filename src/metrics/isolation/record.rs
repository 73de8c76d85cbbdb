//! `scenario.json`: the tenants of one scenario, what each measured, and the IS
//! figures derived from it.

use super::figures;
use super::Measured;
use crate::baseline::DeviceFacts;
use crate::run::child::MemoryFill;
use crate::run::Config;
use crate::system::ShapeRun;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub const SCENARIO_FILE: &str = "scenario.json";

/// Whether tenants share one HAMi-core state file (one pod) or have one each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Pod {
    Shared,
    Separate,
}

/// A tenant's part: peers are alike; a victim is also measured alone, to compare.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Peer,
    Victim,
    Aggressor,
}

/// One tenant: its configuration, what it measured, and its figures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TenantRecord {
    pub name: String,
    pub config: String,
    pub role: Role,
    pub env: BTreeMap<String, String>,
    pub sm_limit_pct: Option<u32>,
    pub mem_limit_mib: Option<u64>,
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
    /// IS-003: fraction of windows within ±10 points of the SM limit, alone where the
    /// tenant ran alone (beside others, contention lowers the share whatever the limit).
    pub within_limit_band: Option<f64>,
    /// IS-004: seconds until every later window is within ±10 points of the limit
    /// (alone where the tenant ran alone).
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
        let limit_windows = alone_windows.as_deref().unwrap_or(&share_windows);
        let mem_limit = config.expect.mem_limit_mib;
        Self {
            name,
            config: config.name.clone(),
            role,
            env,
            sm_limit_pct: config.expect.sm_limit_pct,
            mem_limit_mib: mem_limit,
            share_mean: together.kernels_per_s / reference.kernels_per_s,
            alone_share_mean: alone
                .as_ref()
                .map(|a| a.kernels_per_s / reference.kernels_per_s),
            within_limit_band: limit.and_then(|l| figures::within_band(limit_windows, l)),
            settling_s: limit.and_then(|l| figures::settling_s(limit_windows, l, window_s)),
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

/// One scenario as run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScenarioRecord {
    pub scenario: String,
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
        secs: f64,
        window_s: f64,
        device: &DeviceFacts,
        reference: &ShapeRun,
        tenants: Vec<TenantRecord>,
    ) -> Self {
        let throughputs: Vec<f64> = tenants.iter().map(|t| t.together.kernels_per_s).collect();
        Self {
            scenario: scenario.name.clone(),
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
