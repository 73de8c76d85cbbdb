//! The comparison as flat rows, for a spreadsheet or a dashboard: one row per metric
//! variant, configuration and round, with the change vs native and its interval.
//! The same data as the Markdown, rendered from the same [`CompareReport`].

use super::compare::CompareReport;
use super::stats::Verdict;
use crate::baseline::Better;
use crate::error::{Error, Result};
use serde::Serialize;

/// Which round a row speaks of.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Round {
    /// Every round pooled: the change, its interval and its verdict as the tables
    /// show them; median, mean and p99 are round 1's.
    Pooled(&'static str),
    /// One round of an interleaved run: its change against native's round of the
    /// same number, with no interval of its own.
    Number(usize),
}

/// One exported row.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExportRow {
    pub gpu: String,
    pub id: String,
    pub variant: String,
    pub unit: String,
    pub better: Better,
    pub config: String,
    pub round: Round,
    pub median: Option<f64>,
    pub mean: Option<f64>,
    pub p99: Option<f64>,
    /// Relative change of the mean vs native (0.032 = +3.2 %).
    pub change: Option<f64>,
    pub change_ci_low: Option<f64>,
    pub change_ci_high: Option<f64>,
    pub verdict: Option<Verdict>,
    /// Whether the row's median is marked unstable (see summary.json).
    pub unstable: bool,
}

/// Every measured row of `report`, pooled rows first within each configuration.
pub fn rows(report: &CompareReport) -> Vec<ExportRow> {
    let mut out = Vec::new();
    for gpu in &report.gpus {
        for table in &gpu.metrics {
            for row in &table.rows {
                let Some(m) = &row.measured else { continue };
                let base = ExportRow {
                    gpu: gpu.slug.clone(),
                    id: table.id.clone(),
                    variant: table.variant.clone(),
                    unit: table.unit.clone(),
                    better: table.better,
                    config: row.config.clone(),
                    round: Round::Pooled("pooled"),
                    median: Some(m.median),
                    mean: Some(m.mean),
                    p99: m.p99,
                    change: m.change.map(|c| c.change_mean),
                    change_ci_low: m.change.map(|c| c.ci_low),
                    change_ci_high: m.change.map(|c| c.ci_high),
                    verdict: m.change.map(|c| c.verdict),
                    unstable: m.unstable.is_some(),
                };
                let rounds = m
                    .round_changes
                    .iter()
                    .enumerate()
                    .map(|(i, &change)| ExportRow {
                        round: Round::Number(i + 1),
                        median: None,
                        mean: None,
                        p99: None,
                        change: Some(change),
                        change_ci_low: None,
                        change_ci_high: None,
                        verdict: None,
                        ..base.clone()
                    });
                let rounds: Vec<ExportRow> = rounds.collect();
                out.push(base);
                out.extend(rounds);
            }
        }
    }
    out
}

/// The rows as CSV with a header line.
pub fn csv(report: &CompareReport) -> Result<String> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    for row in rows(report) {
        writer
            .serialize(row)
            .map_err(|e| Error::Invalid(format!("writing CSV: {e}")))?;
    }
    let bytes = writer
        .into_inner()
        .map_err(|e| Error::Invalid(format!("writing CSV: {e}")))?;
    String::from_utf8(bytes).map_err(|e| Error::Invalid(format!("writing CSV: {e}")))
}

/// The rows as one JSON array.
pub fn json(report: &CompareReport) -> Result<String> {
    serde_json::to_string_pretty(&rows(report))
        .map(|text| text + "\n")
        .map_err(|e| Error::Invalid(format!("writing JSON: {e}")))
}
