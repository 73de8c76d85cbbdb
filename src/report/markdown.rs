//! The comparison as a Markdown document, readable as plain text and on any forge.

use super::compare::{CompareReport, ConfigCheck, GpuComparison, MetricRow, MetricTable};
use super::stats::{Comparison, Verdict, CONFIDENCE_LEVEL, NOISE_THRESHOLD, SIGNIFICANCE_LEVEL};
use crate::baseline::Better;
use std::fmt::Write;

/// Shown where a figure does not apply.
const NONE: &str = "—";

/// Renders the whole document.
pub fn render(report: &CompareReport) -> String {
    let mut out = String::from("# GPU virtualization overhead: comparison against native\n\n");
    let _ = writeln!(
        out,
        "Change vs native is the relative change of the mean per-iteration time with its \
         {:.0} % bootstrap interval. A change is significant when p < {} (Welch's t, \
         bootstrapped under the null hypothesis, as Criterion does); a significant change \
         whose interval reaches inside ±{:.0} % is within noise.\n",
        CONFIDENCE_LEVEL * 100.0,
        SIGNIFICANCE_LEVEL,
        NOISE_THRESHOLD * 100.0
    );
    for gpu in &report.gpus {
        render_gpu(&mut out, gpu);
    }
    out
}

fn render_gpu(out: &mut String, gpu: &GpuComparison) {
    let device = &gpu.device;
    let _ = writeln!(out, "## {} ({})\n", cell(&device.name), cell(&gpu.slug));
    let _ = writeln!(
        out,
        "Device: {}, compute capability {}, {} SMs, {} MiB, driver CUDA {}\n",
        device.name, device.cc, device.sms, device.memory_mib, device.driver
    );
    render_checks(out, &gpu.configs);
    if !gpu.has_native {
        out.push_str(
            "> No native baseline: there is nothing to compare against, so no change or \
             significance is shown.\n\n",
        );
    }
    for table in &gpu.metrics {
        render_table(out, table, &gpu.configs);
    }
}

fn render_checks(out: &mut String, configs: &[ConfigCheck]) {
    out.push_str("### Verification\n\n");
    out.push_str(
        "| Configuration | Status | Interposer loaded | Memory reported / limit | \
         Over-limit allocation | SM share (short blocks) / limit | Shapes |\n",
    );
    out.push_str("|---|---|---|---|---|---|---|\n");
    for check in configs {
        let v = &check.verification;
        let interposer = match (&v.interposer_loaded, &v.interposer_path) {
            (true, Some(path)) => format!("yes ({path})"),
            (true, None) => "yes".to_owned(),
            (false, _) => "no".to_owned(),
        };
        let over_limit = match v.over_limit_refused {
            Some(true) => match &v.over_limit_error {
                Some(error) => format!("refused ({error})"),
                None => "refused".to_owned(),
            },
            Some(false) => "**NOT REFUSED**".to_owned(),
            None => NONE.to_owned(),
        };
        let shapes = v
            .shapes
            .iter()
            .map(|shape| format!("{} {}", shape.shape, percent(shape.share_mean)))
            .collect::<Vec<_>>()
            .join(", ");
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} MiB / {} | {} | {} / {} | {} |",
            cell(&check.config),
            status(check),
            cell(&interposer),
            v.mem_total_reported_mib,
            v.mem_limit_mib
                .map_or_else(|| "none".to_owned(), |mib| format!("{mib} MiB")),
            cell(&over_limit),
            percent(v.sm_share_mean),
            v.sm_limit_pct
                .map_or_else(|| "none".to_owned(), |pct| format!("{pct} %")),
            cell(if shapes.is_empty() { NONE } else { &shapes }),
        );
    }
    out.push('\n');
    for check in configs {
        for problem in &check.verification.problems {
            let _ = writeln!(out, "- {}: {problem}", check.config);
        }
    }
    if configs.iter().any(|c| !c.verification.problems.is_empty()) {
        out.push('\n');
    }
}

fn status(check: &ConfigCheck) -> &'static str {
    if check.unverified {
        "**UNVERIFIED**"
    } else {
        "verified"
    }
}

fn render_table(out: &mut String, table: &MetricTable, configs: &[ConfigCheck]) {
    let better = match table.better {
        Better::Lower => "lower is better",
        Better::Higher => "higher is better",
    };
    let _ = writeln!(
        out,
        "### {} {} ({}, {better})\n",
        table.id, table.variant, table.unit
    );
    out.push_str("| Configuration | Median | Mean | p99 | Change vs native | Significant |\n");
    out.push_str("|---|---|---|---|---|---|\n");
    for row in &table.rows {
        let unverified = configs
            .iter()
            .any(|check| check.config == row.config && check.unverified);
        let config = if unverified {
            format!("{} (UNVERIFIED)", cell(&row.config))
        } else {
            cell(&row.config)
        };
        let _ = writeln!(out, "| {config} | {} |", figures(row).join(" | "));
    }
    out.push('\n');
}

fn figures(row: &MetricRow) -> [String; 5] {
    let Some(measured) = &row.measured else {
        return [
            "not measured".to_owned(),
            NONE.to_owned(),
            NONE.to_owned(),
            NONE.to_owned(),
            NONE.to_owned(),
        ];
    };
    let (change, significant) = match &measured.change {
        Some(comparison) => (change(comparison), significance(comparison.verdict)),
        None => (NONE.to_owned(), NONE.to_owned()),
    };
    [
        number(measured.median),
        number(measured.mean),
        measured.p99.map_or_else(|| NONE.to_owned(), number),
        change,
        significant,
    ]
}

fn change(comparison: &Comparison) -> String {
    format!(
        "{:+.1} % [{:+.1}, {:+.1}]",
        comparison.change_mean * 100.0,
        comparison.ci_low * 100.0,
        comparison.ci_high * 100.0
    )
}

fn significance(verdict: Verdict) -> String {
    match verdict {
        Verdict::Regressed => "yes, slower",
        Verdict::Improved => "yes, faster",
        Verdict::NoChange => "no",
        Verdict::WithinNoise => "within noise",
    }
    .to_owned()
}

/// Four significant digits: enough to see a 1 % change, few enough to read.
fn number(value: f64) -> String {
    // Rounding first, so that 999.97 becomes "1000" rather than "1000.0".
    let rounded: f64 = format!("{value:.3e}").parse().unwrap_or(value);
    if rounded == 0.0 || !rounded.is_finite() {
        return format!("{rounded}");
    }
    let decimals = (3 - rounded.abs().log10().floor() as i32).max(0) as usize;
    format!("{value:.decimals$}")
}

fn percent(fraction: f64) -> String {
    format!("{:.1} %", fraction * 100.0)
}

/// Keeps a value from breaking out of its table cell.
fn cell(text: &str) -> String {
    text.replace('|', "\\|")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_keep_four_significant_digits() {
        assert_eq!(number(4.02134), "4.021");
        assert_eq!(number(1005.4), "1005");
        assert_eq!(number(999.97), "1000");
        assert_eq!(number(123456.7), "123457");
        assert_eq!(number(0.0012346), "0.001235");
        assert_eq!(number(0.0), "0");
    }

    #[test]
    fn change_shows_sign_and_interval() {
        let comparison = Comparison {
            change_mean: 0.032,
            ci_low: 0.011,
            ci_high: 0.05,
            p_value: 0.0,
            verdict: Verdict::Regressed,
        };
        assert_eq!(change(&comparison), "+3.2 % [+1.1, +5.0]");
    }
}
