//! SM limits as the reports state them: each kernel shape's verdict from the
//! verification, and each tensor-core throughput per API path, both judged by the
//! same rule ([`crate::baseline::share_verdict`]), and worded and coloured alike in
//! every rendering.

use super::compare::{ConfigCheck, MetricTable};
use super::findings::{trusted_changes, Finding, FindingKind};
use super::format::percent;
use crate::baseline::{
    share_verdict, Inconclusive, MemoryVerdict, ShapeVerdict, SmVerdict, MAX_SPREAD, MIN_WINDOWS,
    SHARE_TOLERANCE,
};

/// The unit of the throughputs set against an SM limit: tensor-core work.
const LIMITED_UNIT: &str = "TFLOPS";

/// How a verdict is shown: only a limit that held is a pass, and only a limit that
/// was shown not to hold is a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Tone {
    Pass,
    Fail,
    /// Held to no figure, or throttled past the limit: worth a look, not a failure.
    Caution,
    /// Nothing to judge (no limit configured).
    Neutral,
}

pub(super) fn sm_tone(verdict: SmVerdict) -> Tone {
    match verdict {
        SmVerdict::Enforced => Tone::Pass,
        SmVerdict::Exceeded => Tone::Fail,
        SmVerdict::Below | SmVerdict::Inconclusive { .. } => Tone::Caution,
        SmVerdict::NotConfigured => Tone::Neutral,
    }
}

pub(super) fn memory_tone(verdict: MemoryVerdict) -> Tone {
    match verdict {
        MemoryVerdict::Enforced => Tone::Pass,
        MemoryVerdict::NotEnforced => Tone::Fail,
        MemoryVerdict::Inconclusive => Tone::Caution,
        MemoryVerdict::NotConfigured => Tone::Neutral,
    }
}

/// What "verified" and each limit's verdict mean, in one paragraph.
pub(super) fn verdict_rule() -> String {
    format!(
        "Verified means the configuration ran as configured: the interposer mapped where \
         one is expected and the memory limit in force. It says nothing of the SM limit, \
         which has a verdict per kernel shape: enforced when the delivered share is within \
         ±{:.0} points of the limit over at least {MIN_WINDOWS} windows of 0.5 s whose \
         standard deviation is at most {:.0} points; exceeded or below when it lies further \
         above or below (by more than its standard deviation too, if that is wider); \
         inconclusive with fewer windows or a wider spread.",
        SHARE_TOLERANCE * 100.0,
        MAX_SPREAD * 100.0
    )
}

/// A shape's verdict in words, with why when it is inconclusive.
pub(super) fn shape_verdict_word(shape: &ShapeVerdict) -> String {
    match shape.verdict {
        SmVerdict::Inconclusive {
            reason: Inconclusive::TooFewWindows,
        } => format!(
            "inconclusive ({}, fewer than {MIN_WINDOWS})",
            windows(shape.windows)
        ),
        SmVerdict::Inconclusive {
            reason: Inconclusive::SpreadTooWide,
        } => format!(
            "inconclusive (spread {} over {})",
            percent(shape.spread),
            percent(MAX_SPREAD)
        ),
        other => other.to_string(),
    }
}

/// The figures a shape was judged on, e.g. "38.0 % ± 4.2 % of native over 12
/// windows vs 25 % SM limit".
pub(super) fn shape_figure(shape: &ShapeVerdict) -> String {
    let limit = shape
        .limit_pct
        .map_or_else(String::new, |pct| format!(" vs {pct} % SM limit"));
    format!(
        "{} ± {} of native over {}{limit}",
        percent(shape.share_mean),
        percent(shape.spread),
        windows(shape.windows)
    )
}

/// A shape's verdict and figures in one line, e.g. "short-blocks: exceeded — 38.0 %
/// ± 4.2 % of native over 12 windows vs 25 % SM limit".
pub(super) fn describe_shape(shape: &ShapeVerdict) -> String {
    format!(
        "{}: {} — {}",
        shape.shape,
        shape_verdict_word(shape),
        shape_figure(shape)
    )
}

fn windows(count: usize) -> String {
    match count {
        1 => "1 window".to_owned(),
        n => format!("{n} windows"),
    }
}

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
            let verdict = share_verdict(limit_pct, share, spread);
            let word = match verdict {
                SmVerdict::Inconclusive { .. } => format!(
                    "inconclusive (interval wider than ±{})",
                    percent(MAX_SPREAD)
                ),
                other => other.to_string(),
            };
            let held = match verdict {
                SmVerdict::Exceeded => ": the limit did not hold on this path",
                _ => "",
            };
            Some(Finding {
                config: row.config.clone(),
                text: format!(
                    "{} {} {} through the {path}: {word} — {} ± {} of native vs {limit_pct} % SM limit{held}",
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
                    verdict,
                },
            })
        })
        .collect()
}

/// The SM verdict of each kernel shape under each verified configuration with an SM
/// limit.
pub fn sm_share_findings(configs: &[ConfigCheck]) -> Vec<Finding> {
    configs
        .iter()
        .filter(|check| !check.unverified && check.verification.sm_limit_pct.is_some())
        .flat_map(|check| {
            check
                .verification
                .limit_verdicts()
                .sm
                .into_iter()
                .map(|shape| Finding {
                    config: check.config.clone(),
                    text: format!("{} {}", check.config, describe_shape(&shape)),
                    kind: FindingKind::SmShare(shape),
                })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::compare::{MetricRow, NATIVE};
    use crate::report::stats::{Comparison, Verdict};

    #[test]
    fn a_path_is_judged_with_its_interval_as_the_spread() {
        let configs = [check(NATIVE, None), check("hami-50", Some(50))];
        let mut table = throughput("bf16", &[("hami-50", -0.52)]);
        let verdict = |table: &MetricTable| match &path_limit_findings(table, &configs)[..] {
            [Finding {
                kind: FindingKind::PathLimit { verdict, .. },
                text,
                ..
            }] => (*verdict, text.clone()),
            other => panic!("{other:?}"),
        };
        assert_eq!(verdict(&table).0, SmVerdict::Enforced);
        let change = table.rows[1]
            .measured
            .as_mut()
            .unwrap()
            .change
            .as_mut()
            .unwrap();
        (change.ci_low, change.ci_high) = (-0.65, -0.39);
        let (wide, text) = verdict(&table);
        assert_eq!(
            wide,
            SmVerdict::Inconclusive {
                reason: Inconclusive::SpreadTooWide
            }
        );
        assert!(
            text.contains(": inconclusive (interval wider than ±10.0 %) — 48.0 % ± 13.0 %"),
            "{text}"
        );
    }

    fn shape(verdict: SmVerdict, limit_pct: Option<u32>) -> ShapeVerdict {
        ShapeVerdict {
            shape: "short-blocks".to_owned(),
            verdict,
            limit_pct,
            share_mean: 0.38,
            spread: 0.042,
            windows: 12,
        }
    }

    #[test]
    fn a_shape_is_stated_with_its_verdict_figures_and_limit() {
        assert_eq!(
            describe_shape(&shape(SmVerdict::Exceeded, Some(25))),
            "short-blocks: exceeded — 38.0 % ± 4.2 % of native over 12 windows vs 25 % SM limit"
        );
        assert_eq!(
            describe_shape(&shape(SmVerdict::NotConfigured, None)),
            "short-blocks: not configured — 38.0 % ± 4.2 % of native over 12 windows"
        );
        let few = ShapeVerdict {
            windows: 1,
            ..shape(
                SmVerdict::Inconclusive {
                    reason: Inconclusive::TooFewWindows,
                },
                Some(50),
            )
        };
        assert_eq!(
            shape_verdict_word(&few),
            "inconclusive (1 window, fewer than 8)"
        );
        let wide = shape(
            SmVerdict::Inconclusive {
                reason: Inconclusive::SpreadTooWide,
            },
            Some(50),
        );
        assert_eq!(
            shape_verdict_word(&wide),
            "inconclusive (spread 4.2 % over 10.0 %)"
        );
    }

    #[test]
    fn only_an_enforced_limit_passes_and_only_a_broken_one_fails() {
        let inconclusive = SmVerdict::Inconclusive {
            reason: Inconclusive::TooFewWindows,
        };
        let tones: Vec<Tone> = [
            SmVerdict::Enforced,
            SmVerdict::Exceeded,
            SmVerdict::Below,
            inconclusive,
            SmVerdict::NotConfigured,
        ]
        .into_iter()
        .map(sm_tone)
        .collect();
        assert_eq!(
            tones,
            [
                Tone::Pass,
                Tone::Fail,
                Tone::Caution,
                Tone::Caution,
                Tone::Neutral
            ]
        );
        assert_eq!(memory_tone(MemoryVerdict::Enforced), Tone::Pass);
        assert_eq!(memory_tone(MemoryVerdict::NotEnforced), Tone::Fail);
        assert_eq!(memory_tone(MemoryVerdict::NotConfigured), Tone::Neutral);
    }

    fn check(config: &str, sm_limit_pct: Option<u32>) -> ConfigCheck {
        with_shapes(config, sm_limit_pct, serde_json::json!([]))
    }

    #[test]
    fn an_mps_client_names_its_daemon_and_driver_in_the_interposer_column() {
        let mut mps = check("mps-50", None);
        mps.mps = Some(crate::baseline::MpsIdentity {
            control: crate::baseline::InterposerIdentity {
                path: "/usr/bin/nvidia-cuda-mps-control".into(),
                size: 1,
                sha256: "0123456789abcdef".into(),
                build_id: None,
                version: Vec::new(),
                debug_info: false,
            },
            driver: Some("NVRM version: NVIDIA UNIX x86_64 Kernel Module 580.159.04".into()),
        });
        let cell = super::super::format::interposer(&mps);
        assert!(
            cell.starts_with(
                "no; MPS client (/usr/bin/nvidia-cuda-mps-control; sha256 0123456789ab"
            ) && cell.contains("580.159.04"),
            "{cell}"
        );
        assert_eq!(
            super::super::format::interposer(&check("native", None)),
            "no"
        );
    }

    fn with_shapes(
        config: &str,
        sm_limit_pct: Option<u32>,
        shapes: serde_json::Value,
    ) -> ConfigCheck {
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
            "shapes": shapes,
            "mem_limit_in_force": null,
            "problems": []
        }))
        .unwrap();
        ConfigCheck {
            config: config.to_owned(),
            unverified: false,
            verification,
            interposer: None,
            mps: None,
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
                measured_peak_of: None,
                kernel: None,
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
        let verdicts: Vec<(&str, SmVerdict, &str)> = found
            .iter()
            .map(|f| match &f.kind {
                FindingKind::PathLimit { verdict, path, .. } => {
                    (f.config.as_str(), *verdict, path.as_str())
                }
                other => panic!("unexpected {other:?}"),
            })
            .collect();
        assert_eq!(
            verdicts,
            [
                ("hami-25", SmVerdict::Exceeded, "runtime API (cuBLAS)"),
                ("hami-50", SmVerdict::Enforced, "runtime API (cuBLAS)"),
            ]
        );
        assert_eq!(
            found[0].text,
            "hami-25 LLM-008 cublas-bf16 through the runtime API (cuBLAS): exceeded — 100.0 % \
             ± 1.0 % of native vs 25 % SM limit: the limit did not hold on this path"
        );
    }

    #[test]
    fn each_shape_of_a_limited_configuration_is_a_finding_with_its_verdict() {
        let windows = |share: f64, n: usize| vec![share; n];
        let shapes = serde_json::json!([
            {"shape": "short-blocks", "blocks": 864, "block_us": 100.0, "kernels_per_s": 1.0,
             "reference_kernels_per_s": 1.0, "share_mean": 0.38, "windows": windows(0.38, 12)},
            {"shape": "long-blocks", "blocks": 108, "block_us": 1000.0, "kernels_per_s": 1.0,
             "reference_kernels_per_s": 1.0, "share_mean": 1.0, "windows": windows(1.0, 2)},
        ]);
        let configs = [
            with_shapes(NATIVE, None, shapes.clone()),
            with_shapes("hami-25", Some(25), shapes),
        ];
        let found = sm_share_findings(&configs);
        let texts: Vec<&str> = found.iter().map(|f| f.text.as_str()).collect();
        assert_eq!(
            texts,
            [
                "hami-25 short-blocks: exceeded — 38.0 % ± 0.0 % of native over 12 windows vs 25 % SM limit",
                "hami-25 long-blocks: inconclusive (2 windows, fewer than 8) — 100.0 % ± 0.0 % of native over 2 windows vs 25 % SM limit",
            ]
        );
        assert!(
            matches!(&found[0].kind, FindingKind::SmShare(s) if s.verdict == SmVerdict::Exceeded),
            "{found:?}"
        );
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
}
