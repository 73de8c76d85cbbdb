//! One GPU's report as a single self-contained HTML page: inline CSS and SVG, no
//! script and no network, so it opens from a file, an artifact store or a forge's
//! raw view alike. The only links are relative ones to Criterion's own pages.

use super::compare::{ConfigCheck, MetricTable};
use super::document::{Category, ConfigVerdict, Enforcement, Report, ISOLATION};
use super::enforcement;
use super::findings::{self, Finding};
use super::format::{category_title, interposer, method, row_figures, sources, NONE};
use super::glance::{self, Forest, Overhead, VerdictCard};
use super::limits::{self, Tone};
use super::plots;
use super::stats::Verdict;
use crate::baseline::Better;
use crate::error::Result;
use std::fmt::Write;

const STYLE: &str = "\
body{margin:0;background:#f3f4f6;color:#111827;font:14px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif}
main{max-width:1240px;margin:0 auto;padding:20px 20px 40px}
h1{font-size:24px;margin:0 0 4px}
h2{font-size:19px;margin:28px 0 10px;padding-bottom:4px;border-bottom:2px solid #d1d5db}
#glance h2{margin-top:10px}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(280px,1fr));gap:10px}
.vcard{background:#fff;border:1px solid #e5e7eb;border-top:5px solid;border-bottom:5px solid;border-radius:6px;padding:8px 10px;font-size:12.5px;line-height:1.35}
.vcard h3{font-size:15px;margin:0}
.vcard .set{color:#4b5563;margin:0 0 4px}
.vcard dl{display:grid;grid-template-columns:max-content 1fr;gap:3px 8px;margin:0}
.vcard dt{font-weight:600;color:#374151}
.vcard dd{margin:0}
.vcard ol{margin:2px 0 0;padding-left:18px}
.forests{display:flex;flex-wrap:wrap;gap:12px}
figure.forest{margin:0}
figure.forest figcaption{font-weight:600;margin:0 0 4px}
details.category{margin:18px 0}
details.category>summary{cursor:pointer;font-size:19px;font-weight:600;padding-bottom:4px;border-bottom:2px solid #d1d5db}
details.category>summary span{font-size:14px;font-weight:normal;color:#6b7280}
h3{font-size:15px;margin:0 0 8px}
h3 span{font-weight:normal;color:#6b7280}
.device{font-size:15px;margin:0 0 6px}
.method,.note{color:#4b5563;margin:6px 0}
.legend{margin:4px 0 10px}
.card{background:#fff;border:1px solid #e5e7eb;border-radius:6px;padding:14px 16px;margin:12px 0}
table{border-collapse:collapse;background:#fff}
th,td{padding:4px 8px;border-bottom:1px solid #e5e7eb;text-align:right;white-space:nowrap}
th{background:#f9fafb;font-weight:600}
th:first-child,td:first-child{text-align:left}
td.text{text-align:left;white-space:normal}
.swatch{display:inline-block;width:10px;height:10px;border-radius:2px;margin-right:6px}
.ok{color:#15803d;font-weight:600}
.bad{color:#b91c1c;font-weight:600}
.warn{color:#b45309;font-weight:600}
small.bad{font-size:11px;text-transform:uppercase;margin-left:4px}
.slower{color:#b91c1c}
.faster{color:#15803d}
.pair{display:flex;flex-wrap:wrap;gap:16px;align-items:flex-start}
.plots{display:flex;flex-wrap:wrap;gap:12px}
svg{max-width:100%;height:auto;border:1px solid #e5e7eb;border-radius:4px}
ul{margin:6px 0;padding-left:20px}
li.quiet{color:#6b7280}
a{color:#1d4ed8}
footer{color:#6b7280;margin-top:28px}
";

/// Renders the page.
pub fn render(report: &Report) -> Result<String> {
    let names: Vec<String> = report.configs.iter().map(|c| c.config.clone()).collect();
    let device = &report.device;
    let mut page = String::new();
    let _ = write!(
        page,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>GPU virtualization report: {}</title>\n<style>\n{STYLE}</style>\n</head>\n<body>\n<main>\n",
        esc(&device.name)
    );
    let _ = write!(
        page,
        "<header>\n<h1>GPU virtualization report</h1>\n<p class=\"device\"><strong>{}</strong> \
         ({}): compute capability {}, {} SMs, {} MiB, SM clock {} MHz, driver CUDA {}</p>\n\
         </header>\n",
        esc(&device.name),
        esc(&report.slug),
        esc(&device.cc),
        device.sms,
        device.memory_mib,
        device.clock_mhz,
        esc(&device.driver),
    );
    render_cards(&mut page, &report.cards, &names);
    render_forests(&mut page, &report.forests, &names)?;
    render_enforcement(&mut page, &report.enforcement, &names);
    let _ = writeln!(page, "<p class=\"method\">{}</p>", esc(&method()));
    render_verdicts(&mut page, report, &names);
    for category in &report.categories {
        render_category(&mut page, category, &report.configs, &names)?;
    }
    let _ = write!(
        page,
        "<footer>Built by gpu-virt-bench {} from the exported baselines; report.md and \
         report.json beside this page hold the same tables, verdicts and findings.</footer>\n\
         </main>\n</body>\n</html>\n",
        esc(&report.tool_version)
    );
    Ok(page)
}

/// The first screen: one card per configuration other than native, bordered in its
/// colour, saying whether its limits held, what it costs and what a neighbour did.
fn render_cards(page: &mut String, cards: &[VerdictCard], names: &[String]) {
    page.push_str("<section id=\"glance\">\n<h2>At a glance</h2>\n<div class=\"cards\">\n");
    if cards.is_empty() {
        page.push_str("<p class=\"note\">No configuration besides native.</p>\n");
    }
    for card in cards {
        let colour = hex(plots::color(&card.config, names));
        let _ = writeln!(
            page,
            "<article class=\"vcard\" id=\"card-{}\" \
             style=\"border-top-color:{colour};border-bottom-color:{colour}\">\n<h3>{} {}</h3>",
            esc(&card.config),
            config_label(&card.config, names),
            toned(card.limits.word(), card.limits.tone()),
        );
        let status = if card.verified {
            "verified".to_owned()
        } else {
            "<span class=\"bad\">UNVERIFIED</span>".to_owned()
        };
        let _ = writeln!(
            page,
            "<p class=\"set\">{}; {status}</p>\n<dl>",
            esc(&glance::configured(card))
        );
        let _ = writeln!(
            page,
            "<dt>Memory</dt><dd>{}</dd>",
            toned(&card.memory.to_string(), limits::memory_tone(card.memory))
        );
        let _ = writeln!(
            page,
            "<dt>SM</dt><dd>{}</dd>",
            glance::sm_line(&card.sm, "<br>", toned, esc)
        );
        let paths = match &card.paths {
            None => enforcement::NOT_PROBED.to_owned(),
            Some(tally) => {
                let counts = tally
                    .counts
                    .iter()
                    .map(|c| {
                        let tone = match c.verdict.as_str() {
                            "bypassed" | "crashed" => Tone::Fail,
                            _ => Tone::Neutral,
                        };
                        toned(&format!("{} {}", c.count, c.verdict), tone)
                    })
                    .collect::<Vec<_>>()
                    .join(", ");
                let named = |label: &str, paths: &[glance::NamedPath]| {
                    if paths.is_empty() {
                        return String::new();
                    }
                    let list = paths
                        .iter()
                        .map(|p| esc(&glance::named_path(p)))
                        .collect::<Vec<_>>()
                        .join("; ");
                    format!("<br>{label}: {list}")
                };
                format!(
                    "{counts}{}{}",
                    named("bypassed", &tally.bypassed),
                    named("crashed", &tally.crashed)
                )
            }
        };
        let _ = writeln!(page, "<dt>Paths</dt><dd>{paths}</dd>");
        let costs = match &card.overhead {
            Overhead::Tested { largest, .. } if !largest.is_empty() => format!(
                "<ol>{}</ol>",
                largest
                    .iter()
                    .map(|row| format!("<li>{}</li>", esc(&glance::cost(row))))
                    .collect::<String>()
            ),
            _ => String::new(),
        };
        let _ = writeln!(
            page,
            "<dt>Overhead</dt><dd>{}{costs}</dd>",
            esc(&glance::overhead_line(&card.overhead))
        );
        let _ = writeln!(
            page,
            "<dt>Neighbour</dt><dd>{}</dd>\n</dl>\n</article>",
            esc(&glance::neighbour_line(
                &card.config,
                card.neighbour.as_ref()
            ))
        );
    }
    let _ = writeln!(
        page,
        "</div>\n<p class=\"note\">{}</p>\n</section>",
        esc(&glance::card_rule())
    );
}

/// One forest plot per configuration other than native, two side by side.
fn render_forests(page: &mut String, forests: &[Forest], names: &[String]) -> Result<()> {
    page.push_str(
        "<section id=\"forest\">\n<h2>Change vs native, every metric variant</h2>\n\
         <p class=\"note\">Each configuration's mean over native's, with the 95 % interval, \
         on one log scale, largest change at the top: a filled mark is significant (red a \
         cost, green a gain), a hollow grey one is not, or was not tested. The tables \
         below hold each figure.</p>\n<div class=\"forests\">\n",
    );
    for forest in forests {
        let unverified = if forest.verified {
            ""
        } else {
            " <small class=\"bad\">unverified</small>"
        };
        let _ = writeln!(
            page,
            "<figure class=\"forest\" id=\"forest-{}\" data-marks=\"{}\">\n<figcaption>{}{unverified} \
             <span class=\"note\">({} metric variants)</span></figcaption>",
            esc(&forest.config),
            forest.rows.len(),
            config_label(&forest.config, names),
            forest.rows.len()
        );
        match plots::forest(forest) {
            Some(svg) => page.push_str(&svg?),
            None => page.push_str("<p class=\"note\">No change against native to draw.</p>"),
        }
        page.push_str("\n</figure>\n");
    }
    page.push_str("</div>\n</section>\n");
    Ok(())
}

/// The enforcement matrix, the first thing under the first screen: one row per path,
/// one column per probed configuration, each cell coloured by its verdict and
/// carrying the probe's status and detail as its tooltip.
fn render_enforcement(page: &mut String, enforcement: &Enforcement, names: &[String]) {
    let matrix = &enforcement.matrix;
    page.push_str("<section id=\"enforcement\">\n<h2>Enforcement</h2>\n<div class=\"card\">\n");
    if matrix.is_empty() {
        let _ = writeln!(
            page,
            "<p class=\"note\">{}</p>",
            esc(enforcement::NO_PROBES)
        );
        page.push_str("</div>\n</section>\n");
        return;
    }
    page.push_str("<table>\n<thead><tr><th>Path</th><th>Kind</th>");
    for config in &matrix.configs {
        let _ = write!(page, "<th>{}</th>", config_label(config, names));
    }
    page.push_str("</tr></thead>\n<tbody>\n");
    for row in &matrix.rows {
        let _ = write!(
            page,
            "<tr><td>{} {}</td><td>{}</td>",
            esc(&row.id),
            esc(&row.path),
            enforcement::kind_word(row.kind)
        );
        for config in &matrix.configs {
            match row.cell(config) {
                Some(cell) => {
                    let tip = [cell.outcome.status.as_str(), cell.outcome.detail.as_str()]
                        .into_iter()
                        .filter(|part| !part.is_empty())
                        .collect::<Vec<_>>()
                        .join("; ");
                    let _ = write!(
                        page,
                        "<td class=\"text\" title=\"{}\">{}</td>",
                        esc(&tip),
                        toned(&cell.text, enforcement::tone(cell))
                    );
                }
                None => {
                    let _ = write!(page, "<td class=\"text\">{}</td>", enforcement::NOT_PROBED);
                }
            }
        }
        page.push_str("</tr>\n");
    }
    page.push_str("</tbody>\n</table>\n");
    let _ = writeln!(
        page,
        "<p class=\"note\">{}</p>",
        esc(&enforcement::verdict_rule())
    );
    page.push_str("<h3>Left behind by the probes</h3>\n<ul>\n");
    for leak in &matrix.leaks {
        let _ = writeln!(
            page,
            "<li>{}: {}</li>",
            esc(&leak.config),
            toned(&leak.text, enforcement::leak_tone(leak))
        );
    }
    page.push_str("</ul>\n");
    if let Some(line) = enforcement::unprobed_line(matrix) {
        let _ = writeln!(page, "<p class=\"note\">{}</p>", esc(&line));
    }
    page.push_str("</div>\n");
    render_findings(page, &enforcement.findings);
    page.push_str("</section>\n");
}

fn render_verdicts(page: &mut String, report: &Report, names: &[String]) {
    page.push_str("<section id=\"verdicts\">\n<h2>Verdicts</h2>\n<div class=\"card\">\n");
    page.push_str(
        "<table>\n<thead><tr><th>Configuration</th><th>Status</th><th>Interposer loaded</th>\
         <th>Memory limit</th><th>SM limit</th>\
         <th>SM share per kernel shape (± window std. dev.)</th><th>Criterion</th></tr></thead>\n<tbody>\n",
    );
    for (verdict, check) in report.verdicts.iter().zip(&report.configs) {
        let _ = writeln!(
            page,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"text\">{}</td><td>{}</td></tr>",
            config_label(&verdict.config, names),
            // Ran as configured, no more: never coloured as a pass.
            if verdict.verified {
                "verified"
            } else {
                "<span class=\"bad\">UNVERIFIED</span>"
            },
            esc(&interposer(check)),
            memory(verdict, check),
            verdict
                .sm_limit_pct
                .map_or_else(|| "none".to_owned(), |pct| format!("{pct} %")),
            sm_verdicts(verdict),
            link(verdict.criterion_report.as_deref(), "overview"),
        );
    }
    page.push_str("</tbody>\n</table>\n");
    let _ = writeln!(
        page,
        "<p class=\"note\">{}</p>",
        esc(&limits::verdict_rule())
    );
    let problems: Vec<String> = report
        .configs
        .iter()
        .flat_map(|check| {
            check
                .verification
                .problems
                .iter()
                .map(move |problem| format!("{}: {}", esc(&check.config), esc(problem)))
        })
        .chain(report.verdicts.iter().filter_map(|verdict| {
            let why = verdict.findings_skipped.as_ref()?;
            Some(format!(
                "<strong>No findings on the metrics of {}</strong>: {}.",
                esc(&verdict.config),
                esc(why)
            ))
        }))
        .collect();
    if !problems.is_empty() {
        page.push_str("<ul>\n");
        for problem in problems {
            let _ = writeln!(page, "<li>{problem}</li>");
        }
        page.push_str("</ul>\n");
    }
    if !report.has_native {
        page.push_str(
            "<p class=\"note\">No native baseline: there is nothing to compare against, so no \
             change, significance or finding is shown.</p>\n",
        );
    }
    for absent in &report.absent {
        let _ = writeln!(page, "<p class=\"note\">Not shown: {}</p>", esc(absent));
    }
    page.push_str("</div>\n</section>\n");
}

fn memory(verdict: &ConfigVerdict, check: &ConfigCheck) -> String {
    let limit = check
        .verification
        .mem_limit_mib
        .map_or_else(String::new, |mib| format!(" ({mib} MiB)"));
    format!(
        "{}{limit}",
        toned(
            &verdict.memory.to_string(),
            limits::memory_tone(verdict.memory)
        )
    )
}

fn sm_verdicts(verdict: &ConfigVerdict) -> String {
    if verdict.sm.is_empty() {
        return NONE.to_owned();
    }
    verdict
        .sm
        .iter()
        .map(|shape| {
            format!(
                "{}: {} — {}",
                esc(&shape.shape),
                toned(
                    &limits::shape_verdict_word(shape),
                    limits::sm_tone(shape.verdict)
                ),
                esc(&limits::shape_figure(shape))
            )
        })
        .collect::<Vec<_>>()
        .join("<br>")
}

/// A verdict word in its colour: green only for a limit that held, red only for one
/// shown not to hold, amber where it is worth a look, plain where nothing is judged.
fn toned(word: &str, tone: Tone) -> String {
    let class = match tone {
        Tone::Pass => "ok",
        Tone::Fail => "bad",
        Tone::Caution => "warn",
        Tone::Neutral => return esc(word),
    };
    format!("<span class=\"{class}\">{}</span>", esc(word))
}

fn render_category(
    page: &mut String,
    category: &Category,
    configs: &[ConfigCheck],
    names: &[String],
) -> Result<()> {
    let stated = category.findings.iter().filter(|f| f.is_stated()).count();
    let _ = writeln!(
        page,
        "<section id=\"{}\">\n<details class=\"category\"{}>\n<summary>{} \
         <span>({} metric variants, {stated} findings)</span></summary>",
        esc(&category.name),
        if category.name == ISOLATION {
            " open"
        } else {
            ""
        },
        esc(&category_title(&category.name)),
        category.tables.len(),
    );
    render_findings(page, &category.findings);
    if !category.sm_share.is_empty() {
        page.push_str(
            "<div class=\"card\">\n<h3>Delivered SM share over time <span>(dashed: the \
             configured limit)</span></h3>\n",
        );
        let _ = writeln!(page, "<p class=\"legend\">{}</p>", legend(category, names));
        page.push_str("<div class=\"plots\">\n");
        for shape in &category.sm_share {
            page.push_str(&plots::sm_share(shape, names)?);
            page.push('\n');
        }
        page.push_str("</div>\n</div>\n");
    }
    if !category.fairness.is_empty() {
        page.push_str(
            "<div class=\"card\">\n<h3>Tenants side by side <span>(throughput beside the \
             others, % of one native tenant alone)</span></h3>\n<div class=\"plots\">\n",
        );
        for series in &category.fairness {
            page.push_str(&plots::fairness_bars(series, names)?);
            page.push('\n');
        }
        page.push_str("</div>\n</div>\n");
    }
    for table in &category.tables {
        render_table(
            page,
            &table.metric,
            &table.criterion_reports,
            configs,
            names,
        )?;
    }
    page.push_str("</details>\n</section>\n");
    Ok(())
}

fn render_findings(page: &mut String, found: &[Finding]) {
    if found.is_empty() {
        return;
    }
    page.push_str("<div class=\"card\">\n<h3>Findings</h3>\n<ul>\n");
    for finding in found.iter().filter(|f| f.is_stated()) {
        let _ = writeln!(page, "<li>{}</li>", esc(&finding.text));
    }
    for line in findings::unstated_by_config(found) {
        let _ = writeln!(page, "<li class=\"quiet\">{}</li>", esc(&line));
    }
    page.push_str("</ul>\n</div>\n");
}

fn render_table(
    page: &mut String,
    table: &MetricTable,
    criterion_reports: &[Option<String>],
    configs: &[ConfigCheck],
    names: &[String],
) -> Result<()> {
    let better = match table.better {
        Better::Lower => "lower is better",
        Better::Higher => "higher is better",
    };
    let name = table
        .name
        .as_deref()
        .map_or_else(String::new, |name| format!(" {}:", esc(name)));
    let sources = sources(table).map_or_else(String::new, |sources| {
        format!("<p class=\"note\">{}</p>\n", esc(&sources))
    });
    let _ = write!(
        page,
        "<div class=\"card\">\n<h3>{}{name} {} <span>({}, {better})</span></h3>\n{sources}<div class=\"pair\">\n\
         <table>\n<thead><tr><th>Configuration</th><th>Median</th><th>Mean</th><th>p99</th>\
         <th>Change vs native</th><th>Significant</th><th>Criterion</th></tr></thead>\n<tbody>\n",
        esc(&table.id),
        esc(&table.variant),
        esc(&table.unit)
    );
    for (row, criterion) in table.rows.iter().zip(criterion_reports) {
        let unverified = configs
            .iter()
            .any(|check| check.config == row.config && check.unverified);
        let mut label = config_label(&row.config, names);
        if unverified {
            label.push_str("<small class=\"bad\">unverified</small>");
        }
        let class = match row
            .measured
            .as_ref()
            .and_then(|m| m.change)
            .map(|c| c.verdict)
        {
            Some(Verdict::Regressed) => " class=\"slower\"",
            Some(Verdict::Improved) => " class=\"faster\"",
            _ => "",
        };
        let [median, mean, p99, change, significant] = row_figures(row);
        let _ = writeln!(
            page,
            "<tr><td>{label}</td><td>{}</td><td>{}</td><td>{}</td><td{class}>{}</td>\
             <td{class}>{}</td><td>{}</td></tr>",
            esc(&median),
            esc(&mean),
            esc(&p99),
            esc(&change),
            esc(&significant),
            link(criterion.as_deref(), "report")
        );
    }
    page.push_str("</tbody>\n</table>\n");
    page.push_str(&plots::mean_bars(table, names)?);
    if let Some(peak) = plots::peak_bars(table, names) {
        page.push_str(&peak?);
    }
    page.push_str("\n</div>\n</div>\n");
    Ok(())
}

/// One entry per configuration of the SM-share plots, with its limit.
fn legend(category: &Category, names: &[String]) -> String {
    let Some(shape) = category.sm_share.first() else {
        return String::new();
    };
    shape
        .series
        .iter()
        .map(|series| {
            let limit = series.limit_pct.map_or_else(
                || " (no limit)".to_owned(),
                |pct| format!(" (limit {pct} %)"),
            );
            format!("{}{limit}", config_label(&series.config, names))
        })
        .collect::<Vec<_>>()
        .join(" &nbsp; ")
}

/// A configuration's name with the colour its plots use.
fn config_label(config: &str, names: &[String]) -> String {
    format!(
        "<span class=\"swatch\" style=\"background:{}\"></span>{}",
        hex(plots::color(config, names)),
        esc(config)
    )
}

/// A colour as CSS writes it, e.g. "#2563eb".
fn hex(colour: plotters::style::RGBColor) -> String {
    format!("#{:02x}{:02x}{:02x}", colour.0, colour.1, colour.2)
}

fn link(href: Option<&str>, text: &str) -> String {
    href.map_or_else(
        || NONE.to_owned(),
        |href| format!("<a href=\"{}\">{text}</a>", esc(href)),
    )
}

/// Escapes text for HTML element content and quoted attribute values.
fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_covers_markup_and_quotes() {
        assert_eq!(
            esc("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }
}
