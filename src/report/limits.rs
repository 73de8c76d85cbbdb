//! Findings that read a delivered share against a configured SM limit: each kernel
//! shape of the verification, and each tensor-core throughput per API path.

use super::compare::{ConfigCheck, MetricTable};
use super::findings::{trusted_changes, Finding, FindingKind};
use super::format::percent;
use serde::Serialize;

/// Where the delivered share lies against the limit, give or take its spread and
/// [`SHARE_TOLERANCE`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LimitReading {
    Above,
    Within,
    Below,
}

/// The unit of the throughputs set against an SM limit: tensor-core work.
const LIMITED_UNIT: &str = "TFLOPS";

/// Each verified configuration with an SM limit: its mean throughput as a share of
/// native's, against the limit. A throughput near native's under a 25 % limit means
/// the limit did not hold on that kernel's path.
pub(super) fn path_limit_findings(table: &MetricTable, configs: &[ConfigCheck]) -> Vec<Finding> {
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
    crate::stats::sample_variance(values).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::compare::{MetricRow, NATIVE};
    use crate::report::stats::{Comparison, Verdict};

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
                passes: crate::baseline::Passes {
                    median_mean: crate::baseline::Pass::Criterion,
                    percentiles: None,
                },
                unstable: None,
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
