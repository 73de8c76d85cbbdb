//! The comparison of every configuration against native, as data: Markdown is one
//! rendering of it, and JSON or HTML reports are meant to be others, so all the
//! deciding (which rows, which changes, which verdicts) happens here once.

use super::discover::{GpuBaselines, LoadedConfig};
use super::enforcement::EnforcementMatrix;
use super::stats::{self, Comparison};
use crate::baseline::{
    Better, DeviceFacts, InterposerIdentity, Passes, SummaryEntry, Unstable, Verification,
};
use crate::error::{Error, Result};
use crate::metrics;
use crate::metrics::isolation::{ProbeRecords, ScenarioRecord};
use serde::Serialize;

/// Name of the configuration every other one is compared against.
pub const NATIVE: &str = "native";

/// Everything a comparison report shows, GPU by GPU.
#[derive(Debug, Clone, Serialize)]
pub struct CompareReport {
    pub gpus: Vec<GpuComparison>,
}

/// One GPU: what it is, whether each configuration's limits held (on every path the
/// enforcement probes tried, and in the verification), and the metrics.
#[derive(Debug, Clone, Serialize)]
pub struct GpuComparison {
    pub slug: String,
    /// As recorded by the first configuration in report order, else by a scenario.
    pub device: DeviceFacts,
    /// Every probed path under every probed configuration, which the reports lead with.
    pub enforcement: EnforcementMatrix,
    /// False when there is no native configuration, so no change can be computed.
    pub has_native: bool,
    pub configs: Vec<ConfigCheck>,
    pub metrics: Vec<MetricTable>,
    /// Isolation scenarios, as their tenants reported them.
    #[serde(skip)]
    pub scenarios: Vec<ScenarioRecord>,
    /// Cross-tenant probes (IS-005, IS-010), as the tenants reported them.
    #[serde(skip)]
    pub probes: ProbeRecords,
    /// How the user's command ended under each configuration it ran in (`exec`).
    pub commands: Vec<CommandRuns>,
}

/// How one configuration's runs of the user's command (`exec`) ended, over its rounds:
/// a command that fails under a configuration and not natively is a finding.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CommandRuns {
    pub config: String,
    /// The workload's category, `exec/<name>`.
    pub category: String,
    pub runs: usize,
    pub failed: usize,
    /// How the failed runs ended, each way once, e.g. "exit status 1".
    pub exits: Vec<String>,
}

/// A configuration's verification, which says whether its figures can be trusted.
#[derive(Debug, Clone, Serialize)]
pub struct ConfigCheck {
    pub config: String,
    /// The run went on although a check failed; its figures are suspect.
    pub unverified: bool,
    pub verification: Verification,
    /// Which build of the interposer ran, as run.json recorded it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interposer: Option<InterposerIdentity>,
    /// The MPS daemon the configuration ran under, as run.json recorded it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mps: Option<crate::baseline::MpsIdentity>,
}

/// One metric variant across all configurations.
#[derive(Debug, Clone, Serialize)]
pub struct MetricTable {
    pub id: String,
    /// The metric's name where this build knows the id, for headings.
    pub name: Option<String>,
    /// The group the metric belongs to (e.g. "overhead", or "exec/<name>" for the
    /// figures of a user's command): the registry's, else the entry's own, else the
    /// first folder of its Criterion path, so baselines of metrics this build does
    /// not know still group.
    pub category: String,
    pub variant: String,
    pub unit: String,
    pub better: Better,
    /// One per configuration, in report order.
    pub rows: Vec<MetricRow>,
}

/// One configuration's figures for a metric variant.
#[derive(Debug, Clone, Serialize)]
pub struct MetricRow {
    pub config: String,
    /// `None`: this configuration did not measure the metric.
    pub measured: Option<Measured>,
}

/// Figures in the table's unit, of round 1.
#[derive(Debug, Clone, Serialize)]
pub struct Measured {
    pub median: f64,
    pub mean: f64,
    /// Criterion's 95 % confidence interval of the mean.
    pub mean_ci_low: f64,
    pub mean_ci_high: f64,
    pub p99: Option<f64>,
    /// Which pass the median, mean and p99 come from.
    pub passes: Passes,
    /// Set where the median and the per-call pass disagree, with both passes' figures.
    pub unstable: Option<Unstable>,
    /// Fraction of the device's physical peak, for a throughput.
    pub peak_fraction: Option<f64>,
    /// Fraction of the practical ceiling measured in the same run (the best GEMM for
    /// LLM's kernels, the device-to-device copy for BW's), where one was measured.
    pub measured_peak_fraction: Option<f64>,
    /// What that ceiling was, in a few words ("best bf16 GEMM", "cuMemcpyDtoDAsync
    /// of 480 MiB"), from its source.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub measured_peak_of: Option<String>,
    /// The kernel that produced the figure, where the metric records one (a Hopper
    /// kernel or its sm_80 fallback).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kernel: Option<String>,
    /// Against native; `None` for native itself or when native lacks the metric.
    /// With several rounds, the samples of all rounds are pooled, and a change the
    /// rounds do not agree on beyond their scatter (pooled over the metric's
    /// configurations) is no change. With one round (of this configuration or of
    /// native) the change is not tested.
    pub change: Option<Comparison>,
    /// Relative change of the mean against native's in the same round, per round of
    /// an interleaved run; empty for a single round.
    pub round_changes: Vec<f64>,
}

/// Builds the comparison of the configurations `discover` found.
pub fn build(gpus: &[GpuBaselines]) -> Result<CompareReport> {
    let gpus = gpus.iter().map(compare_gpu).collect::<Result<_>>()?;
    Ok(CompareReport { gpus })
}

fn compare_gpu(gpu: &GpuBaselines) -> Result<GpuComparison> {
    let device = gpu
        .configs
        .first()
        .map(|config| &config.baseline.run.device)
        .or_else(|| gpu.scenarios.first().map(|s| &s.device))
        .or_else(|| gpu.probes.memory.first().map(|m| &m.device))
        .or_else(|| gpu.probes.fault.first().map(|f| &f.device))
        .ok_or_else(|| Error::Invalid(format!("{} holds no measurement", gpu.dir.display())))?;
    let native = gpu.configs.iter().find(|config| config.name() == NATIVE);
    let configs = gpu
        .configs
        .iter()
        .map(|config| {
            let run = &config.baseline.run;
            ConfigCheck {
                config: config.name().to_owned(),
                unverified: run.unverified,
                verification: run.verification.clone(),
                interposer: run.interposer.clone(),
                mps: run.mps.clone(),
            }
        })
        .collect();
    let metrics = metric_keys(&gpu.configs)
        .into_iter()
        .map(|key| metric_table(&gpu.configs, native, key))
        .collect();
    Ok(GpuComparison {
        slug: gpu.slug.clone(),
        device: device.clone(),
        enforcement: EnforcementMatrix::build(&gpu.configs),
        has_native: native.is_some(),
        configs,
        metrics,
        scenarios: gpu.scenarios.clone(),
        probes: gpu.probes.clone(),
        commands: command_runs(&gpu.configs),
    })
}

/// Every configuration's runs of the user's command, all rounds counted, for those
/// exported by `exec`.
fn command_runs(configs: &[LoadedConfig]) -> Vec<CommandRuns> {
    configs
        .iter()
        .filter_map(|config| {
            let records: Vec<_> = std::iter::once(config)
                .chain(&config.later_rounds)
                .filter_map(|round| round.baseline.exec.as_ref())
                .collect();
            let first = records.first()?;
            let runs: Vec<_> = records.iter().flat_map(|r| &r.runs).collect();
            let mut exits: Vec<String> = Vec::new();
            for run in runs.iter().filter(|run| !run.exit.success()) {
                let exit = run.exit.describe();
                if !exits.contains(&exit) {
                    exits.push(exit);
                }
            }
            Some(CommandRuns {
                config: config.name().to_owned(),
                category: crate::baseline::exec_category(&first.name),
                runs: runs.len(),
                failed: runs.iter().filter(|run| !run.exit.success()).count(),
                exits,
            })
        })
        .collect()
}

/// Pools every round's samples for the significance test, and reads the change of
/// each round against native's round of the same number, for
/// [`hold_what_rounds_agree_on`]. With one round there is nothing for rounds to
/// agree on: the change keeps its interval but is not tested.
fn compare_rounds(base: &[&[f64]], new: &[&[f64]], better: Better) -> (Comparison, Vec<f64>) {
    let pooled = |rounds: &[&[f64]]| rounds.concat();
    let mut change = stats::compare(&pooled(base), &pooled(new), better);
    if base.len() < 2 || new.len() < 2 {
        change.verdict = stats::Verdict::NotTested;
        return (change, Vec::new());
    }
    let per_round = base
        .iter()
        .zip(new)
        .map(|(b, n)| crate::stats::mean(n) / crate::stats::mean(b) - 1.0)
        .collect();
    (change, per_round)
}

/// Keeps a change of an interleaved run only where its rounds agree on it beyond the
/// scatter of rounds, pooled over the metric's configurations: drift of the machine
/// between blocks passes for a configuration's cost otherwise.
fn hold_what_rounds_agree_on(rows: &mut [MetricRow]) {
    let per_config: Vec<&[f64]> = rows
        .iter()
        .filter_map(|row| row.measured.as_ref())
        .map(|measured| measured.round_changes.as_slice())
        .collect();
    let Some(scatter) = stats::RoundScatter::pooled(&per_config) else {
        return;
    };
    for measured in rows.iter_mut().filter_map(|row| row.measured.as_mut()) {
        if let Some(change) = measured.change.as_mut() {
            if measured.round_changes.len() >= 2 && !scatter.agree(&measured.round_changes) {
                change.verdict = stats::Verdict::NoChange;
            }
        }
    }
}

/// The first entry of every (id, variant) measured by any configuration: ids in
/// the registry's (report) order, ids this build does not know after them by name,
/// variants in the order first met, native's first since it leads.
fn metric_keys(configs: &[LoadedConfig]) -> Vec<&SummaryEntry> {
    let mut keys: Vec<&SummaryEntry> = Vec::new();
    for entry in configs.iter().flat_map(|c| &c.baseline.summary.entries) {
        if !keys
            .iter()
            .any(|key| key.id == entry.id && key.variant == entry.variant)
        {
            keys.push(entry);
        }
    }
    let rank = |id: &str| {
        let known = metrics::METRICS.iter().position(|m| m.id == id);
        (known.unwrap_or(usize::MAX), id.to_owned())
    };
    keys.sort_by_cached_key(|key| rank(&key.id));
    keys
}

fn metric_table(
    configs: &[LoadedConfig],
    native: Option<&LoadedConfig>,
    key: &SummaryEntry,
) -> MetricTable {
    let reference = native
        .map(|native| native.round_samples(&key.id, &key.variant))
        .filter(|rounds| !rounds.is_empty());
    let mut rows: Vec<MetricRow> = configs
        .iter()
        .map(|config| {
            let measured = config.find(&key.id, &key.variant).map(|(entry, _)| {
                let rounds = config.round_samples(&key.id, &key.variant);
                let (change, round_changes) = match &reference {
                    Some(base) if config.name() != NATIVE => {
                        let (change, per_round) = compare_rounds(base, &rounds, key.better);
                        (Some(change), per_round)
                    }
                    _ => (None, Vec::new()),
                };
                Measured {
                    median: entry.median,
                    mean: entry.mean,
                    mean_ci_low: entry.ci_low,
                    mean_ci_high: entry.ci_high,
                    p99: entry.p99,
                    passes: entry.passes(),
                    unstable: entry.instability(),
                    peak_fraction: entry.peak.as_ref().map(|p| p.fraction),
                    measured_peak_fraction: entry.measured_peak.as_ref().map(|p| p.fraction),
                    measured_peak_of: entry
                        .measured_peak
                        .as_ref()
                        .map(|p| super::format::ceiling_name(&p.source)),
                    kernel: entry.kernel.clone(),
                    change,
                    round_changes,
                }
            });
            MetricRow {
                config: config.name().to_owned(),
                measured,
            }
        })
        .collect();
    hold_what_rounds_agree_on(&mut rows);
    MetricTable {
        id: key.id.clone(),
        name: metrics::find(&key.id).ok().map(|info| info.name.to_owned()),
        category: metrics::find(&key.id)
            .map(|info| info.category.to_owned())
            .ok()
            .or_else(|| key.category.clone())
            .or_else(|| {
                key.criterion_path
                    .as_deref()
                    .and_then(|p| p.split('/').next())
                    .map(str::to_owned)
            })
            .unwrap_or_default(),
        variant: key.variant.clone(),
        unit: key.unit.clone(),
        better: key.better,
        rows,
    }
}
