//! The comparison, and the full report, as Markdown documents, readable as plain
//! text and on any forge. Both share the device header, the enforcement matrix, the
//! verification table and the metric tables, so the two documents never lay a figure
//! out differently.

use super::compare::{CompareReport, ConfigCheck, GpuComparison, MetricTable};
use super::document::{Category, Report};
use super::enforcement::{self, EnforcementMatrix};
use super::findings::{self, Finding};
use super::format::{self, category_title, method, number, percent, row_figures, sources, NONE};
use super::glance::{self, Forest, Overhead, VerdictCard};
use super::limits::{self, Tone};
use crate::baseline::{Better, DeviceFacts};
use crate::metrics::isolation::ScenarioRecord;
use std::fmt::Write;

/// Renders the whole document.
pub fn render(report: &CompareReport) -> String {
    let mut out = String::from("# GPU virtualization overhead: comparison against native\n\n");
    let _ = writeln!(out, "{}\n", method());
    for gpu in &report.gpus {
        render_gpu(&mut out, gpu);
    }
    out
}

/// Renders one GPU's report: the first section (a card per configuration and its
/// changes largest first), the verdicts, then per category its findings and tables.
pub fn render_report(report: &Report) -> String {
    let mut out = String::from("# GPU virtualization report\n\n");
    render_heading(&mut out, &report.device, &report.slug);
    render_cards(&mut out, &report.cards);
    render_forests(&mut out, &report.forests);
    let _ = writeln!(out, "{}\n", method());
    render_qualifiers(
        &mut out,
        report.has_native,
        &report.configs,
        (&report.enforcement.matrix, &report.enforcement.findings),
    );
    for verdict in &report.verdicts {
        if let Some(why) = &verdict.findings_skipped {
            let _ = writeln!(
                out,
                "- No findings on the metrics of {}: {why}.",
                verdict.config
            );
        }
    }
    if report.verdicts.iter().any(|v| v.findings_skipped.is_some()) {
        out.push('\n');
    }
    for absent in &report.absent {
        let _ = writeln!(out, "> {absent}\n");
    }
    for category in &report.categories {
        render_category(&mut out, category, &report.configs);
    }
    out
}

fn render_gpu(out: &mut String, gpu: &GpuComparison) {
    let bypasses = findings::enforcement_findings(&gpu.enforcement);
    render_heading(out, &gpu.device, &gpu.slug);
    render_qualifiers(
        out,
        gpu.has_native,
        &gpu.configs,
        (&gpu.enforcement, &bypasses),
    );
    let failed: Vec<Finding> = findings::command_findings(&gpu.commands)
        .into_iter()
        .map(|(_, finding)| finding)
        .collect();
    render_findings(out, &failed);
    for table in &gpu.metrics {
        render_table(out, table, &gpu.configs);
        render_findings(out, &findings::table_findings(table, &gpu.configs));
    }
    for scenario in &gpu.scenarios {
        render_scenario(out, scenario);
    }
    super::isolation::render_probes(out, &gpu.probes);
}

/// One isolation scenario: a row per tenant with its IS figures.
fn render_scenario(out: &mut String, s: &ScenarioRecord) {
    let _ = writeln!(
        out,
        "### Isolation: {} ({}, {} s per phase)
",
        cell(&s.scenario),
        s.pod.describe(),
        s.secs
    );
    let _ = writeln!(
        out,
        "Kernel shape (IS-003): {} ({}).\n",
        s.shape.name(),
        s.shape.describe()
    );
    let _ = writeln!(
        out,
        "Reference: one native tenant alone, {} kernels/s. IS-008 Jain's index of the tenants' throughputs: {}.\n",
        number(s.reference.kernels_per_s),
        s.jain_index.map_or_else(|| NONE.to_owned(), |j| format!("{j:.3}"))
    );
    out.push_str(
        "| Tenant | Config | Role | Share of native beside the others | Share alone | Windows within ±10 pts of limit (IS-003) | Settling (IS-004) | CV (IS-007) | Interference (IS-006) | p99 latency growth (IS-009) | Memory usable / limit (IS-001) | Refusal (IS-002) |\n",
    );
    out.push_str("|---|---|---|---|---|---|---|---|---|---|---|---|\n");
    let pct = |v: Option<f64>| v.map_or_else(|| NONE.to_owned(), percent);
    for t in &s.tenants {
        let limit = t
            .tenant
            .sm_limit_pct
            .map_or_else(|| "no limit".to_owned(), |l| format!("limit {l} %"));
        let memory = match (&t.memory, t.tenant.mem_limit_mib) {
            (Some(m), Some(limit)) => format!(
                "{} / {limit} MiB ({})",
                m.usable_mib,
                pct(t.memory_accuracy)
            ),
            _ => NONE.to_owned(),
        };
        let refusal = t.memory.as_ref().map_or_else(
            || NONE.to_owned(),
            |m| match &m.refusal {
                Some(name) => format!("{name} in {} us", number(m.refusal_us)),
                None => "never refused".to_owned(),
            },
        );
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} ({limit}) | {} | {} | {} | {} | {} | {} | {memory} | {refusal} |",
            t.tenant.name,
            cell(&t.tenant.config),
            format!("{:?}", t.tenant.role).to_lowercase(),
            percent(t.share_mean),
            pct(t.alone_share_mean),
            pct(t.within_limit_band),
            t.settling_s
                .map_or_else(|| NONE.to_owned(), |v| format!("{v:.1} s")),
            t.qos_cv
                .map_or_else(|| NONE.to_owned(), |v| format!("{v:.3}")),
            pct(t.interference),
            pct(t.p99_growth),
        );
    }
    out.push('\n');
}

/// The GPU's heading and device line.
fn render_heading(out: &mut String, device: &DeviceFacts, slug: &str) {
    let _ = writeln!(out, "## {} ({})\n", cell(&device.name), cell(slug));
    let _ = writeln!(
        out,
        "Device: {}, compute capability {}, {} SMs, {} MiB, driver CUDA {}\n",
        device.name, device.cc, device.sms, device.memory_mib, device.driver
    );
}

/// One card per configuration other than native: whether its limits held, what it
/// costs, and what a neighbour did to it.
fn render_cards(out: &mut String, cards: &[VerdictCard]) {
    out.push_str("### At a glance\n\n");
    for card in cards {
        let status = if card.verified {
            "verified"
        } else {
            "**UNVERIFIED**"
        };
        let _ = writeln!(
            out,
            "#### {}: {}\n\n{}; {status}\n",
            card.config,
            emphasis(card.limits.word(), card.limits.tone()),
            glance::configured(card)
        );
        let _ = writeln!(
            out,
            "- Memory: {}",
            emphasis(&card.memory.to_string(), limits::memory_tone(card.memory))
        );
        let _ = writeln!(
            out,
            "- SM: {}",
            glance::sm_line(&card.sm, "; ", emphasis, str::to_owned)
        );
        let paths = match &card.paths {
            None => enforcement::NOT_PROBED.to_owned(),
            Some(tally) => {
                let mut line = glance::path_counts(tally);
                for (label, paths) in [("bypassed", &tally.bypassed), ("crashed", &tally.crashed)] {
                    if !paths.is_empty() {
                        let list: Vec<String> = paths.iter().map(glance::named_path).collect();
                        let _ = write!(line, "; **{label}**: {}", list.join(", "));
                    }
                }
                line
            }
        };
        let _ = writeln!(out, "- Paths: {paths}");
        let mut overhead = glance::overhead_line(&card.overhead);
        if let Overhead::Tested { largest, .. } = &card.overhead {
            let costs: Vec<String> = largest.iter().map(glance::cost).collect();
            if !costs.is_empty() {
                let _ = write!(overhead, " {}", costs.join("; "));
            }
        }
        let _ = writeln!(out, "- Overhead: {overhead}");
        let _ = writeln!(
            out,
            "- Neighbour: {}\n",
            glance::neighbour_line(&card.config, card.neighbour.as_ref())
        );
    }
    let _ = writeln!(out, "{}\n", glance::card_rule());
}

/// The forest plots' figures: per configuration, every metric variant's change
/// against native, largest first.
fn render_forests(out: &mut String, forests: &[Forest]) {
    out.push_str("### Change vs native, every metric variant\n\n");
    for forest in forests {
        let unverified = if forest.verified { "" } else { " (UNVERIFIED)" };
        let _ = writeln!(out, "#### {}{unverified}\n", forest.config);
        if forest.rows.is_empty() {
            out.push_str("No change against native.\n\n");
            continue;
        }
        out.push_str("| Metric variant | Change vs native [95 % interval] | Significant |\n");
        out.push_str("|---|---|---|\n");
        for row in &forest.rows {
            let _ = writeln!(
                out,
                "| {} {} | {} | {} |",
                row.id,
                cell(&row.variant),
                format::relative(row.change_mean, row.ci_low, row.ci_high),
                format::significance(row.verdict)
            );
        }
        out.push('\n');
    }
}

/// What qualifies every figure: the enforcement matrix with its findings, and the
/// verification.
fn render_qualifiers(
    out: &mut String,
    has_native: bool,
    configs: &[ConfigCheck],
    (matrix, found): (&EnforcementMatrix, &[Finding]),
) {
    render_enforcement(out, matrix, found);
    render_checks(out, configs);
    if !has_native {
        out.push_str(
            "> No native baseline: there is nothing to compare against, so no change or \
             significance is shown.\n\n",
        );
    }
}

/// One row per path, one column per probed configuration, then what the probes
/// left behind and what the matrix shows.
fn render_enforcement(out: &mut String, matrix: &EnforcementMatrix, found: &[Finding]) {
    out.push_str("### Enforcement\n\n");
    if matrix.is_empty() {
        let _ = writeln!(out, "{}\n", enforcement::NO_PROBES);
        return;
    }
    out.push_str("| Path | Kind |");
    for config in &matrix.configs {
        let _ = write!(out, " {} |", cell(config));
    }
    out.push_str("\n|---|---|");
    out.push_str(&"---|".repeat(matrix.configs.len()));
    out.push('\n');
    for row in &matrix.rows {
        let _ = write!(
            out,
            "| {} {} | {} |",
            row.id,
            cell(&row.path),
            enforcement::kind_word(row.kind)
        );
        for config in &matrix.configs {
            let text = row.cell(config).map_or_else(
                || enforcement::NOT_PROBED.to_owned(),
                |c| emphasis(&cell(&c.text), enforcement::tone(c)),
            );
            let _ = write!(out, " {text} |");
        }
        out.push('\n');
    }
    let _ = writeln!(out, "\n{}\n", enforcement::verdict_rule());
    out.push_str("Left behind by the probes:\n\n");
    for leak in &matrix.leaks {
        let _ = writeln!(
            out,
            "- {}: {}",
            leak.config,
            emphasis(&leak.text, enforcement::leak_tone(leak))
        );
    }
    out.push('\n');
    if let Some(line) = enforcement::unprobed_line(matrix) {
        let _ = writeln!(out, "{line}\n");
    }
    render_findings(out, found);
}

fn render_category(out: &mut String, category: &Category, configs: &[ConfigCheck]) {
    let _ = writeln!(out, "## {}\n", category_title(&category.name));
    render_findings(out, &category.findings);
    for table in &category.tables {
        render_table(out, &table.metric, configs);
    }
}

fn render_findings(out: &mut String, found: &[Finding]) {
    if found.is_empty() {
        return;
    }
    out.push_str("Findings:\n\n");
    for finding in found.iter().filter(|f| f.is_stated()) {
        let _ = writeln!(out, "- {}", finding.text);
    }
    for line in findings::unstated_by_config(found) {
        let _ = writeln!(out, "- {line}");
    }
    out.push('\n');
}
fn render_checks(out: &mut String, configs: &[ConfigCheck]) {
    out.push_str("### Verification\n\n");
    out.push_str(
        "| Configuration | Status | Interposer loaded | Memory limit | Memory reported / limit | \
         Over-limit allocation | SM limit | SM share per kernel shape |\n",
    );
    out.push_str("|---|---|---|---|---|---|---|---|\n");
    for check in configs {
        let v = &check.verification;
        let verdicts = v.limit_verdicts();
        let interposer = format::interposer(check);
        let over_limit = match v.over_limit_refused {
            Some(true) => match &v.over_limit_error {
                Some(error) => format!("refused ({error})"),
                None => "refused".to_owned(),
            },
            Some(false) => "**NOT REFUSED**".to_owned(),
            None => NONE.to_owned(),
        };
        let shapes = verdicts
            .sm
            .iter()
            .map(|shape| {
                format!(
                    "{}: {} — {}",
                    shape.shape,
                    emphasis(
                        &limits::shape_verdict_word(shape),
                        limits::sm_tone(shape.verdict)
                    ),
                    limits::shape_figure(shape)
                )
            })
            .collect::<Vec<_>>()
            .join("; ");
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} MiB / {} | {} | {} | {} |",
            cell(&check.config),
            status(check),
            cell(&interposer),
            emphasis(
                &verdicts.memory.to_string(),
                limits::memory_tone(verdicts.memory)
            ),
            v.mem_total_reported_mib,
            v.mem_limit_mib
                .map_or_else(|| "none".to_owned(), |mib| format!("{mib} MiB")),
            cell(&over_limit),
            v.sm_limit_pct
                .map_or_else(|| "none".to_owned(), |pct| format!("{pct} %")),
            cell(if shapes.is_empty() { NONE } else { &shapes }),
        );
    }
    let _ = writeln!(out, "\n{}\n", limits::verdict_rule());
    for check in configs {
        for problem in &check.verification.problems {
            let _ = writeln!(out, "- {}: {problem}", check.config);
        }
    }
    if configs.iter().any(|c| !c.verification.problems.is_empty()) {
        out.push('\n');
    }
}

/// A verdict word in bold where the limit was shown not to hold, so a failure
/// stands out in plain text as the page's red does.
fn emphasis(word: &str, tone: Tone) -> String {
    match tone {
        Tone::Fail => format!("**{word}**"),
        Tone::Pass | Tone::Caution | Tone::Neutral => word.to_owned(),
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
    if let Some(sources) = sources(table) {
        let _ = writeln!(out, "{sources}\n");
    }
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
        let _ = writeln!(out, "| {config} | {} |", row_figures(row).join(" | "));
    }
    out.push('\n');
}

/// Keeps a value from breaking out of its table cell.
fn cell(text: &str) -> String {
    text.replace('|', "\\|")
}
