//! How figures are written, shared by every rendering so that the page, the
//! Markdown and the findings never disagree on a number.

use super::compare::{ConfigCheck, Measured, MetricRow, MetricTable};
use super::stats::{Comparison, Verdict, CONFIDENCE_LEVEL, NOISE_THRESHOLD, SIGNIFICANCE_LEVEL};
use crate::baseline::{Pass, Unstable, MAX_MEDIAN_RATIO};

/// Shown where a figure does not apply.
pub const NONE: &str = "—";

/// Why a change measured in one round is not tested, and how to get one that is.
pub const ONE_ROUND: &str = "1 round (use --rounds 2 or more)";

/// How changes and significance are decided, in one paragraph of plain text.
pub fn method() -> String {
    format!(
        "Change vs native is the relative change of the mean per-iteration time with its \
         {:.0} % bootstrap interval. A change is significant when p < {} (Welch's t, \
         bootstrapped under the null hypothesis, as Criterion does); a significant change \
         whose interval reaches inside ±{:.0} % is within noise. With interleaved rounds \
         (run --rounds N) the median, mean and p99 columns are round 1's, the change \
         pools the samples of every round and shows the range of the per-round changes \
         (each round against native's round of the same number), and a change is \
         significant only if the rounds also agree on it: Student's t of the mean \
         per-round log ratio against the scatter of rounds about their configuration's \
         mean, pooled over the metric's configurations (p < {}). Drift of the machine \
         between one configuration's block and the next shows as that scatter. With a \
         single round no change is called significant: it is shown with its interval \
         and \"not tested: {ONE_ROUND}\", since one block per configuration cannot \
         tell drift from cost. \
         The median and mean of a per-call metric come from Criterion's samples (the \
         median of per-sample means), its p99 from each call Criterion timed, recorded \
         one by one (in baselines of earlier releases, from a separate per-call pass \
         before Criterion sampled); each table says where its columns come from. A row \
         whose median the per-call figures do not bear out (outside the per-call \
         p1..p99, or more than {MAX_MEDIAN_RATIO}x from the per-call p50, as where a \
         few calls take far longer than the rest) is marked unstable, with the per-call \
         figures beside the median.",
        CONFIDENCE_LEVEL * 100.0,
        SIGNIFICANCE_LEVEL,
        NOISE_THRESHOLD * 100.0,
        SIGNIFICANCE_LEVEL
    )
}

/// Which pass a table's columns come from, e.g. "Median, mean and change vs native:
/// Criterion's samples; p99: the per-call pass."; `None` where no row was measured.
pub fn sources(table: &MetricTable) -> Option<String> {
    let passes = table
        .rows
        .iter()
        .find_map(|row| row.measured.as_ref())?
        .passes;
    let central = source(passes.median_mean);
    Some(match passes.percentiles {
        Some(percentiles) if percentiles != passes.median_mean => format!(
            "Median, mean and change vs native: {central}; p99: {}.",
            source(percentiles)
        ),
        Some(_) => format!("Median, mean, p99 and change vs native: {central}."),
        None => format!("Median, mean and change vs native: {central}."),
    })
}

fn source(pass: Pass) -> &'static str {
    match pass {
        Pass::Criterion => "Criterion's samples",
        Pass::PerCall => "the per-call pass (each call timed, before Criterion samples)",
        Pass::TimedCalls => "each call Criterion timed",
        Pass::Samples => "the samples kept in summary.json",
    }
}

/// The per-call figures beside a median they do not bear out, e.g.
/// " (unstable: per-call p1 120.0, p50 141.0, p99 577.0)".
pub fn unstable(unstable: &Unstable) -> String {
    let p1 = unstable
        .per_call_p1
        .map_or_else(String::new, |p1| format!("p1 {}, ", number(p1)));
    format!(
        " (unstable: per-call {p1}p50 {}, p99 {})",
        number(unstable.per_call_p50),
        number(unstable.per_call_p99)
    )
}

/// The figure cells of a metric row: median, mean, p99, change vs native, significance.
pub fn row_figures(row: &MetricRow) -> [String; 5] {
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
        Some(comparison) => (
            change(comparison) + &rounds(&measured.round_changes),
            significance(comparison.verdict),
        ),
        None => (NONE.to_owned(), NONE.to_owned()),
    };
    [
        number(measured.median)
            + &peaks(measured)
            + &measured
                .unstable
                .as_ref()
                .map_or_else(String::new, unstable),
        number(measured.mean),
        measured.p99.map_or_else(|| NONE.to_owned(), number),
        change,
        significant,
    ]
}

/// A measured ceiling's name from its source, up to the first ':' or ',' and without
/// "(measured) in this run": "best bf16 GEMM measured in this run: gemm_bf16 at
/// 4096^3" is "best bf16 GEMM".
pub(super) fn ceiling_name(source: &str) -> String {
    let head = source.split([':', ',']).next().unwrap_or(source);
    head.trim_end()
        .trim_end_matches(" in this run")
        .trim_end_matches(" measured")
        .to_owned()
}

/// A throughput's share of the device's peak and of the ceiling measured in the
/// same run, and the kernel behind the figure where the metric records one, e.g.
/// " (41.2 % of peak, 58.0 % of best bf16 GEMM, kernel gemm_bf16_sm90)"; empty for
/// figures with neither.
fn peaks(measured: &Measured) -> String {
    let parts: Vec<String> = [
        measured
            .peak_fraction
            .map(|f| format!("{:.1} % of peak", f * 100.0)),
        measured.measured_peak_fraction.map(|f| {
            let of = measured.measured_peak_of.as_deref().unwrap_or("best GEMM");
            format!("{:.1} % of {of}", f * 100.0)
        }),
        measured.kernel.as_ref().map(|k| format!("kernel {k}")),
    ]
    .into_iter()
    .flatten()
    .collect();
    if parts.is_empty() {
        String::new()
    } else {
        format!(" ({})", parts.join(", "))
    }
}

/// Relative change of the mean with its interval, e.g. "+3.2 % [+1.1, +5.0]".
pub fn change(comparison: &Comparison) -> String {
    relative(
        comparison.change_mean,
        comparison.ci_low,
        comparison.ci_high,
    )
}

/// A relative change and its interval, fractions written as percentages.
pub fn relative(change: f64, low: f64, high: f64) -> String {
    format!(
        "{:+.1} % [{:+.1}, {:+.1}]",
        change * 100.0,
        low * 100.0,
        high * 100.0
    )
}

/// The range of the per-round changes of an interleaved run, e.g. "; rounds -1.2..+4.0 %".
pub fn rounds(changes: &[f64]) -> String {
    let (Some(low), Some(high)) = (
        changes.iter().copied().reduce(f64::min),
        changes.iter().copied().reduce(f64::max),
    ) else {
        return String::new();
    };
    format!(
        "; {} rounds {:+.1}..{:+.1} %",
        changes.len(),
        low * 100.0,
        high * 100.0
    )
}

pub fn significance(verdict: Verdict) -> String {
    match verdict {
        Verdict::Regressed => "yes, slower".to_owned(),
        Verdict::Improved => "yes, faster".to_owned(),
        Verdict::NoChange => "no".to_owned(),
        Verdict::WithinNoise => "within noise".to_owned(),
        Verdict::NotTested => format!("not tested: {ONE_ROUND}"),
    }
}

/// Whether an interposer was mapped, and which build: "yes (/usr/local/vgpu/libvgpu.so;
/// sha256 1a2b3c4d5e6f, build id 0f1e2d3c, GIT_HASH_8f3a89c, debug info)".
pub fn interposer(check: &ConfigCheck) -> String {
    let v = &check.verification;
    if let Some(mps) = &check.mps {
        let id = &mps.control;
        return format!(
            "{}MPS client ({}; sha256 {}; {})",
            if v.interposer_loaded { "yes; " } else { "no; " },
            id.path,
            &id.sha256[..12.min(id.sha256.len())],
            mps.driver.as_deref().unwrap_or("driver version unknown")
        );
    }
    if !v.interposer_loaded {
        return "no".to_owned();
    }
    let mut parts: Vec<String> = v.interposer_path.iter().cloned().collect();
    if let Some(id) = &check.interposer {
        parts.push(format!("sha256 {}", &id.sha256[..12.min(id.sha256.len())]));
        if let Some(build_id) = &id.build_id {
            parts.push(format!("build id {}", &build_id[..8.min(build_id.len())]));
        }
        parts.extend(id.version.iter().cloned());
        if id.debug_info {
            parts.push("debug info".to_owned());
        }
    }
    match parts.is_empty() {
        true => "yes".to_owned(),
        false => format!("yes ({})", parts.join("; ")),
    }
}

/// A category's heading with its ids' prefix as METRICS.md spells them, e.g. "llm"
/// -> "LLM workloads (LLM)"; a category this build does not know keeps its name.
pub fn category_title(name: &str) -> String {
    crate::metrics::category(name).map_or_else(
        || name.to_owned(),
        |info| format!("{} ({})", info.title, info.prefix),
    )
}

/// A metric's id and its name as the registry holds it, e.g. "IS-005 Cross-tenant
/// memory isolation", so a heading follows the registry; an id this build does not
/// know stays as it is.
pub fn metric_title(id: &str) -> String {
    crate::metrics::find(id).map_or_else(|_| id.to_owned(), |m| format!("{} {}", m.id, m.name))
}

/// Four significant digits: enough to see a 1 % change, few enough to read.
pub fn number(value: f64) -> String {
    // Rounding first, so that 999.97 becomes "1000" rather than "1000.0".
    let rounded: f64 = format!("{value:.3e}").parse().unwrap_or(value);
    if rounded == 0.0 || !rounded.is_finite() {
        return format!("{rounded}");
    }
    let decimals = (3 - rounded.abs().log10().floor() as i32).max(0) as usize;
    format!("{value:.decimals$}")
}

/// A fraction as a percentage with one decimal, e.g. 0.326 -> "32.6 %".
pub fn percent(fraction: f64) -> String {
    format!("{:.1} %", fraction * 100.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_measured_ceiling_is_named_by_the_head_of_its_source() {
        assert_eq!(
            ceiling_name("best bf16 GEMM measured in this run: gemm_bf16 at 4096^3"),
            "best bf16 GEMM"
        );
        assert_eq!(
            ceiling_name("cuMemcpyDtoDAsync of 480 MiB in this run, read + write, best of 5"),
            "cuMemcpyDtoDAsync of 480 MiB"
        );
        assert_eq!(ceiling_name("a ceiling"), "a ceiling");
    }

    #[test]
    fn a_throughput_cell_names_its_shares_and_the_kernel_that_ran() {
        let measured = |kernel: Option<&str>| MetricRow {
            config: "native".into(),
            measured: Some(Measured {
                median: 500.0,
                mean: 500.0,
                mean_ci_low: 490.0,
                mean_ci_high: 510.0,
                p99: None,
                passes: crate::baseline::Passes {
                    median_mean: Pass::Criterion,
                    percentiles: None,
                },
                unstable: None,
                peak_fraction: Some(0.5),
                measured_peak_fraction: Some(0.8),
                measured_peak_of: Some("best bf16 GEMM".into()),
                kernel: kernel.map(str::to_string),
                change: None,
                round_changes: Vec::new(),
            }),
        };
        let [median, ..] = row_figures(&measured(Some("gemm_bf16_sm90")));
        assert!(
            median.ends_with("(50.0 % of peak, 80.0 % of best bf16 GEMM, kernel gemm_bf16_sm90)"),
            "{median}"
        );
        let [median, ..] = row_figures(&measured(None));
        assert!(
            median.ends_with("(50.0 % of peak, 80.0 % of best bf16 GEMM)"),
            "{median}"
        );
    }

    #[test]
    fn a_metric_title_names_the_metric_as_the_registry_does() {
        assert_eq!(metric_title("IS-010"), "IS-010 Fault isolation");
        assert_eq!(metric_title("XX-1"), "XX-1");
    }

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
    fn categories_are_spelled_as_their_ids_are() {
        assert_eq!(category_title("llm"), "LLM workloads (LLM)");
        assert_eq!(category_title("overhead"), "Overhead (OH)");
        assert_eq!(category_title("isolation"), "Isolation (IS)");
        assert_eq!(category_title("exec/train"), "exec/train");
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
