//! Findings: the sentences a reader takes away, computed from the comparison so that
//! none is written by hand, and none is stated for a configuration whose checks failed.

use super::compare::{ConfigCheck, MetricRow, MetricTable, NATIVE};
use super::format::{change, number, percent};
use super::stats::{Comparison, Verdict};
use crate::metrics::isolation::ScenarioRecord;
use serde::Serialize;

/// One thing the figures show about one configuration.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    pub config: String,
    /// The sentence the page and report.md show.
    pub text: String,
    #[serde(flatten)]
    pub kind: FindingKind,
}

impl Finding {
    /// Whether the finding is stated on its own rather than listed among the
    /// changes that are not significant.
    pub fn is_stated(&self) -> bool {
        !matches!(self.kind, FindingKind::NotSignificant { .. })
    }
}

/// What a finding is about, with its figures.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FindingKind {
    /// Tenants side by side in an isolation scenario: how evenly they shared (IS-008).
    Fairness {
        scenario: String,
        tenants: usize,
        jain_index: f64,
    },
    /// A victim's loss beside its neighbours (IS-006, IS-009).
    Interference {
        scenario: String,
        tenant: String,
        alone_share: f64,
        interference: f64,
        p99_growth: Option<f64>,
    },
    /// Throughput lost against native, 1 - rate(config) / rate(native), with its interval.
    Degradation {
        id: String,
        variant: String,
        degradation: f64,
        ci_low: f64,
        ci_high: f64,
        verdict: Verdict,
    },
    /// A significant change of a metric against native, as the absolute difference of
    /// the means in the metric's unit: the relative change and its interval, scaled by
    /// native's mean.
    Change {
        id: String,
        variant: String,
        unit: String,
        difference: f64,
        ci_low: f64,
        ci_high: f64,
        relative: f64,
        verdict: Verdict,
    },
    /// No change beyond chance or beyond the noise threshold.
    NotSignificant {
        id: String,
        variant: String,
        relative: f64,
        relative_ci_low: f64,
        relative_ci_high: f64,
        verdict: Verdict,
    },
    /// What another tenant could read of a tenant's memory (IS-005).
    MemoryIsolation(super::isolation::MemoryFinding),
    /// Whether a tenant ran on, correctly, beside another's fault (IS-010).
    FaultIsolation(super::isolation::FaultFinding),
    /// A tensor-core throughput under an SM limit, as a share of native's, on the API
    /// path it took: our kernels through the driver API, cuBLAS through the runtime
    /// API. A limiter may hold on one path and not the other.
    PathLimit {
        id: String,
        variant: String,
        path: String,
        limit_pct: u32,
        /// Mean throughput over native's (1.0 = native), pooled over rounds.
        share: f64,
        /// Half the width of the share's 95 % interval.
        spread: f64,
        reading: LimitReading,
    },
    /// The SM share one kernel shape got against the configured limit (1.0 = native).
    SmShare {
        shape: String,
        limit_pct: u32,
        delivered_mean: f64,
        /// Standard deviation of the per-window shares.
        spread: f64,
        reading: LimitReading,
    },
}

/// Where the delivered share lies against the limit, give or take its spread and
/// [`SHARE_TOLERANCE`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LimitReading {
    Above,
    Within,
    Below,
}

/// Why no finding is stated for a configuration, when none is.
pub fn skipped_because(check: &ConfigCheck) -> Option<String> {
    if !check.unverified {
        return None;
    }
    let problems = &check.verification.problems;
    Some(if problems.is_empty() {
        "its run is unverified".to_owned()
    } else {
        format!("its run is unverified: {}", problems.join("; "))
    })
}

/// Changes of one metric variant against native, for verified configurations.
fn metric_findings(table: &MetricTable, configs: &[ConfigCheck]) -> Vec<Finding> {
    let Some(native_mean) = table
        .rows
        .iter()
        .find(|row| row.config == NATIVE)
        .and_then(|row| row.measured.as_ref())
        .map(|measured| measured.mean)
    else {
        return Vec::new();
    };
    trusted_changes(table, configs)
        .map(|(row, comparison)| {
            let subject = format!("{} {}", table.id, table.variant);
            let (id, variant) = (table.id.clone(), table.variant.clone());
            let (text, kind) = match comparison.verdict {
                Verdict::Regressed | Verdict::Improved => {
                    let difference = comparison.change_mean * native_mean;
                    let (low, high) = (
                        comparison.ci_low * native_mean,
                        comparison.ci_high * native_mean,
                    );
                    let unit = &table.unit;
                    let text = if difference >= 0.0 {
                        format!(
                            "{} adds {} {unit} (CI {}..{} {unit}) to {subject} ({:+.1} %)",
                            row.config,
                            number(difference),
                            number(low),
                            number(high),
                            comparison.change_mean * 100.0
                        )
                    } else {
                        format!(
                            "{} takes {} {unit} (CI {}..{} {unit}) off {subject} ({:+.1} %)",
                            row.config,
                            number(-difference),
                            number(-high),
                            number(-low),
                            comparison.change_mean * 100.0
                        )
                    };
                    let kind = FindingKind::Change {
                        id,
                        variant,
                        unit: unit.clone(),
                        difference,
                        ci_low: low,
                        ci_high: high,
                        relative: comparison.change_mean,
                        verdict: comparison.verdict,
                    };
                    (text, kind)
                }
                Verdict::NoChange | Verdict::WithinNoise => {
                    let why = if comparison.verdict == Verdict::WithinNoise {
                        "within noise"
                    } else {
                        "not significant"
                    };
                    let text = format!("{}: {subject} {why} ({})", row.config, change(&comparison));
                    let kind = FindingKind::NotSignificant {
                        id,
                        variant,
                        relative: comparison.change_mean,
                        relative_ci_low: comparison.ci_low,
                        relative_ci_high: comparison.ci_high,
                        verdict: comparison.verdict,
                    };
                    (text, kind)
                }
            };
            Finding {
                config: row.config.clone(),
                text,
                kind,
            }
        })
        .collect()
}

/// What an isolation scenario showed: how evenly its tenants shared the GPU, and
/// what each victim lost beside the others; each names the kernel shape (IS-003),
/// which decides whether a block-counting limiter bites.
pub fn scenario_findings(s: &ScenarioRecord) -> Vec<Finding> {
    let label = format!("{} ({})", s.scenario, s.shape.describe());
    let shares: Vec<String> = s
        .tenants
        .iter()
        .map(|t| format!("{} {}", t.tenant.config, percent(t.share_mean)))
        .collect();
    let mut out: Vec<Finding> = s
        .jain_index
        .map(|jain| Finding {
            config: s.scenario.clone(),
            text: format!(
                "{label}: Jain's index {jain:.3} over {} tenants; each got, of one native tenant alone: {}",
                s.tenants.len(),
                shares.join(", ")
            ),
            kind: FindingKind::Fairness {
                scenario: s.scenario.clone(),
                tenants: s.tenants.len(),
                jain_index: jain,
            },
        })
        .into_iter()
        .collect();
    out.extend(s.tenants.iter().filter_map(|t| {
        let (loss, alone) = (t.interference?, t.alone_share_mean?);
        Some(Finding {
            config: s.scenario.clone(),
            text: format!(
                "{label}: victim {} ({}) got {} alone and lost {} of that beside the others; its p99 kernel latency grew {}",
                t.tenant.name,
                t.tenant.config,
                percent(alone),
                percent(loss),
                t.p99_growth.map_or_else(|| "—".to_owned(), percent)
            ),
            kind: FindingKind::Interference {
                scenario: s.scenario.clone(),
                tenant: t.tenant.name.clone(),
                alone_share: alone,
                interference: loss,
                p99_growth: t.p99_growth,
            },
        })
    }));
    out
}

/// Everything a metric table's rows say: significant changes, what is not
/// significant, throughput degradation (OH-010), and throughputs against SM limits.
pub fn table_findings(table: &MetricTable, configs: &[ConfigCheck]) -> Vec<Finding> {
    let mut found = metric_findings(table, configs);
    found.extend(degradation_findings(table, configs));
    found.extend(path_limit_findings(table, configs));
    found
}

/// The unit of the throughputs set against an SM limit: tensor-core work.
const LIMITED_UNIT: &str = "TFLOPS";

/// Each verified configuration with an SM limit: its mean throughput as a share of
/// native's, against the limit. A throughput near native's under a 25 % limit means
/// the limit did not hold on that kernel's path.
fn path_limit_findings(table: &MetricTable, configs: &[ConfigCheck]) -> Vec<Finding> {
    if table.unit != LIMITED_UNIT {
        return Vec::new();
    }
    let path = if table.variant.starts_with("cublas") {
        "runtime API (cuBLAS)"
    } else {
        "driver API (our kernel)"
    };
    trusted_changes(table, configs)
        .filter_map(|(row, comparison)| {
            let limit_pct = configs
                .iter()
                .find(|check| check.config == row.config)?
                .verification
                .sm_limit_pct?;
            let share = 1.0 + comparison.change_mean;
            let spread = (comparison.ci_high - comparison.ci_low) / 2.0;
            let reading = reading(share, spread, f64::from(limit_pct) / 100.0);
            let held = match reading {
                LimitReading::Above => "the limit did not hold on this path",
                LimitReading::Within => "consistent with the limit",
                LimitReading::Below => "below the limit",
            };
            Some(Finding {
                config: row.config.clone(),
                text: format!(
                    "{}, SM limit {limit_pct} %: {} {} through the {path} ran at {} ± {} of native: {held}",
                    row.config,
                    table.id,
                    table.variant,
                    percent(share),
                    percent(spread)
                ),
                kind: FindingKind::PathLimit {
                    id: table.id.clone(),
                    variant: table.variant.clone(),
                    path: path.to_owned(),
                    limit_pct,
                    share,
                    spread,
                    reading,
                },
            })
        })
        .collect()
}

/// Each row of a verified configuration that has a change against native.
fn trusted_changes<'a>(
    table: &'a MetricTable,
    configs: &'a [ConfigCheck],
) -> impl Iterator<Item = (&'a MetricRow, Comparison)> + 'a {
    table
        .rows
        .iter()
        .filter(|row| is_trusted(&row.config, configs))
        .filter_map(|row| Some((row, row.measured.as_ref()?.change?)))
}

/// OH-010 is timed per iteration, but what a tenant loses is throughput:
/// degradation = 1 - rate(config) / rate(native) = c / (1 + c) for a relative time
/// change c, a monotonic map, so the interval maps endpoint by endpoint.
fn degradation_findings(table: &MetricTable, configs: &[ConfigCheck]) -> Vec<Finding> {
    if table.id != DEGRADATION_METRIC {
        return Vec::new();
    }
    let degradation = |c: f64| c / (1.0 + c);
    trusted_changes(table, configs)
        .map(|(row, comparison)| {
            let (value, low, high) = (
                degradation(comparison.change_mean),
                degradation(comparison.ci_low),
                degradation(comparison.ci_high),
            );
            let why = match comparison.verdict {
                Verdict::Regressed | Verdict::Improved => "",
                Verdict::NoChange => ", not significant",
                Verdict::WithinNoise => ", within noise",
            };
            Finding {
                config: row.config.clone(),
                text: format!(
                    "{}: throughput degradation of {} {} {} [{}, {}]{why}",
                    row.config,
                    table.id,
                    table.variant,
                    percent(value),
                    percent(low),
                    percent(high)
                ),
                kind: FindingKind::Degradation {
                    id: table.id.clone(),
                    variant: table.variant.clone(),
                    degradation: value,
                    ci_low: low,
                    ci_high: high,
                    verdict: comparison.verdict,
                },
            }
        })
        .collect()
}

/// The metric whose comparison is stated as a throughput degradation.
const DEGRADATION_METRIC: &str = "OH-010";

/// The share each kernel shape got under each verified configuration with an SM limit.
pub fn sm_share_findings(configs: &[ConfigCheck]) -> Vec<Finding> {
    configs
        .iter()
        .filter(|check| !check.unverified)
        .flat_map(|check| {
            let limit_pct = check.verification.sm_limit_pct;
            check.verification.shapes.iter().filter_map(move |shape| {
                let limit_pct = limit_pct?;
                let spread = std_dev(&shape.windows);
                let reading = reading(shape.share_mean, spread, f64::from(limit_pct) / 100.0);
                let against = match reading {
                    LimitReading::Above => "above the limit",
                    LimitReading::Within => "consistent with the limit",
                    LimitReading::Below => "below the limit",
                };
                Some(Finding {
                    config: check.config.clone(),
                    text: format!(
                        "{}, limit {limit_pct} %: {} delivered {} ± {} of native, {against}",
                        check.config,
                        shape.shape,
                        percent(shape.share_mean),
                        percent(spread),
                    ),
                    kind: FindingKind::SmShare {
                        shape: shape.shape.clone(),
                        limit_pct,
                        delivered_mean: shape.share_mean,
                        spread,
                        reading,
                    },
                })
            })
        })
        .collect()
}

/// The metric variants each configuration did not change significantly, grouped so
/// that a page lists them in one line per configuration instead of one per figure.
pub fn not_significant_by_config(findings: &[Finding]) -> Vec<(&str, Vec<String>)> {
    let mut groups: Vec<(&str, Vec<String>)> = Vec::new();
    for finding in findings {
        let FindingKind::NotSignificant { id, variant, .. } = &finding.kind else {
            continue;
        };
        let subject = format!("{id} {variant}");
        match groups
            .iter_mut()
            .find(|(config, _)| *config == finding.config)
        {
            Some((_, subjects)) => subjects.push(subject),
            None => groups.push((&finding.config, vec![subject])),
        }
    }
    groups
}

fn is_trusted(config: &str, configs: &[ConfigCheck]) -> bool {
    configs
        .iter()
        .any(|check| check.config == config && !check.unverified)
}

/// Share by which a window may miss its limit and still count as at it: native's
/// own windows scatter by about one percentage point around its mean.
const SHARE_TOLERANCE: f64 = 0.02;

fn reading(mean: f64, spread: f64, limit: f64) -> LimitReading {
    let margin = spread + SHARE_TOLERANCE;
    if mean - margin > limit {
        LimitReading::Above
    } else if mean + margin < limit {
        LimitReading::Below
    } else {
        LimitReading::Within
    }
}

/// Sample standard deviation; 0 for fewer than two values.
pub fn std_dev(values: &[f64]) -> f64 {
    if values.len() < 2 {
        return 0.0;
    }
    let mean = values.iter().sum::<f64>() / values.len() as f64;
    let squares = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>();
    (squares / (values.len() - 1) as f64).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reading_allows_the_spread_either_side() {
        assert_eq!(reading(0.33, 0.12, 0.25), LimitReading::Within);
        assert_eq!(reading(0.70, 0.05, 0.50), LimitReading::Above);
        assert_eq!(reading(0.20, 0.01, 0.25), LimitReading::Below);
        assert_eq!(reading(1.003, 0.001, 1.0), LimitReading::Within);
    }

    fn check(config: &str, sm_limit_pct: Option<u32>) -> ConfigCheck {
        let verification = serde_json::from_value(serde_json::json!({
            "interposer_loaded": sm_limit_pct.is_some(),
            "interposer_path": null,
            "mem_total_reported_mib": 1000,
            "mem_physical_mib": 1000,
            "mem_limit_mib": null,
            "over_limit_refused": null,
            "over_limit_error": null,
            "sm_limit_pct": sm_limit_pct,
            "sm_share_mean": 1.0,
            "sm_share_windows": [],
            "shapes": [],
            "mem_limit_in_force": null,
            "problems": []
        }))
        .unwrap();
        ConfigCheck {
            config: config.to_owned(),
            unverified: false,
            verification,
        }
    }

    fn throughput(variant: &str, changes: &[(&str, f64)]) -> MetricTable {
        let row = |config: &str, change: Option<f64>| MetricRow {
            config: config.to_owned(),
            measured: Some(super::super::compare::Measured {
                median: 100.0,
                mean: 100.0,
                mean_ci_low: 99.0,
                mean_ci_high: 101.0,
                p99: None,
                peak_fraction: Some(0.1),
                measured_peak_fraction: None,
                change: change.map(|c| Comparison {
                    change_mean: c,
                    ci_low: c - 0.01,
                    ci_high: c + 0.01,
                    p_value: 0.5,
                    verdict: Verdict::NoChange,
                }),
                round_changes: Vec::new(),
            }),
        };
        let mut rows = vec![row(NATIVE, None)];
        rows.extend(changes.iter().map(|&(config, c)| row(config, Some(c))));
        MetricTable {
            id: "LLM-008".to_owned(),
            name: None,
            category: "llm".to_owned(),
            variant: variant.to_owned(),
            unit: LIMITED_UNIT.to_owned(),
            better: crate::baseline::Better::Higher,
            rows,
        }
    }

    #[test]
    fn a_throughput_near_native_under_a_limit_is_a_limit_that_did_not_hold() {
        let configs = [
            check(NATIVE, None),
            check("hami-25", Some(25)),
            check("hami-50", Some(50)),
        ];
        let table = throughput("cublas-bf16", &[("hami-25", 0.0), ("hami-50", -0.52)]);
        let found = path_limit_findings(&table, &configs);
        let readings: Vec<(&str, LimitReading, &str)> = found
            .iter()
            .map(|f| match &f.kind {
                FindingKind::PathLimit { reading, path, .. } => {
                    (f.config.as_str(), *reading, path.as_str())
                }
                other => panic!("unexpected {other:?}"),
            })
            .collect();
        assert_eq!(
            readings,
            [
                ("hami-25", LimitReading::Above, "runtime API (cuBLAS)"),
                ("hami-50", LimitReading::Within, "runtime API (cuBLAS)"),
            ]
        );
        assert!(found[0].text.contains("did not hold"), "{}", found[0].text);
    }

    #[test]
    fn only_throughputs_under_a_limit_are_read_against_it() {
        let configs = [check(NATIVE, None), check("other", None)];
        let ours = throughput("bf16", &[("other", 0.0)]);
        assert!(path_limit_findings(&ours, &configs).is_empty());
        let mut latency = throughput("bf16", &[("other", 0.0)]);
        latency.unit = "us".to_owned();
        let limited = [check(NATIVE, None), check("other", Some(25))];
        assert!(path_limit_findings(&latency, &limited).is_empty());
        let found = path_limit_findings(&throughput("bf16", &[("other", 0.0)]), &limited);
        assert!(
            matches!(&found[..], [Finding { kind: FindingKind::PathLimit { path, .. }, .. }] if path == "driver API (our kernel)"),
            "{found:?}"
        );
    }

    #[test]
    fn std_dev_is_the_sample_one() {
        assert_eq!(std_dev(&[1.0]), 0.0);
        assert!((std_dev(&[1.0, 2.0, 3.0]) - 1.0).abs() < 1e-12);
    }
}
