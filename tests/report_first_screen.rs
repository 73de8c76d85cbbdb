//! The report's first screen: a verdict card and a forest plot per configuration
//! besides native, in the page and in report.md, from the fixtures and from the
//! committed H200 evidence; and what moved below it (categories that fold away, spelled
//! as their ids are, and short series drawn as points).

mod common;

use common::{fixtures, section, two_round_fixture, written_report};
use gpu_virt_bench::baseline::{Baseline, MemoryVerdict, SmVerdict};
use gpu_virt_bench::report::document::Report;
use gpu_virt_bench::report::glance::{LimitsVerdict, Overhead};
use gpu_virt_bench::report::stats::Verdict;
use gpu_virt_bench::report::{full_reports, html, markdown, HTML_FILE, MARKDOWN_FILE};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The committed H200 evidence: native, hami-100, hami-50 and hami-25, three rounds.
fn h200() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("criterion-baselines/nvidia-h200")
}

/// The report of the baselines under `dir`, of one GPU, with its page and report.md.
fn built(dir: &Path) -> (Report, String, String) {
    let out = tempfile::tempdir().unwrap();
    let mut reports = full_reports(dir, out.path()).unwrap();
    assert_eq!(reports.len(), 1);
    let report = reports.remove(0);
    let page = html::render(&report).unwrap();
    let md = markdown::render_report(&report);
    (report, page, md)
}

/// The H200 report, built once for the tests that read it: resampling every
/// comparison of three rounds takes a while in a debug build.
fn h200_report() -> &'static (Report, String, String) {
    static BUILT: OnceLock<(Report, String, String)> = OnceLock::new();
    BUILT.get_or_init(|| built(&h200()))
}

/// The text from the first `start` on to the `end` after it.
fn between<'a>(html: &'a str, start: &str, end: &str) -> &'a str {
    let from = html
        .find(start)
        .unwrap_or_else(|| panic!("no {start} in the page"));
    let rest = &html[from..];
    &rest[..rest
        .find(end)
        .unwrap_or_else(|| panic!("no {end} after {start}"))]
}

fn card<'a>(html: &'a str, config: &str) -> &'a str {
    between(
        html,
        &format!("<article class=\"vcard\" id=\"card-{config}\""),
        "</article>",
    )
}

fn forest_plot<'a>(html: &'a str, config: &str) -> &'a str {
    between(
        html,
        &format!("<figure class=\"forest\" id=\"forest-{config}\""),
        "</figure>",
    )
}

/// The words of every green span.
fn passes(html: &str) -> Vec<&str> {
    html.split("<span class=\"ok\">")
        .skip(1)
        .map(|rest| &rest[..rest.find("</span>").unwrap()])
        .collect()
}

#[test]
fn fixture_cards_say_which_limits_held_and_name_the_bypassed_paths() {
    let (report, _, _) = built(&fixtures());
    let configs: Vec<&str> = report.cards.iter().map(|c| c.config.as_str()).collect();
    assert_eq!(configs, ["hami-100", "hami-50"], "native has no card");

    let hami50 = &report.cards[1];
    assert_eq!(hami50.limits, LimitsVerdict::NotEnforced);
    assert!(!hami50.verified);
    assert_eq!(hami50.memory, MemoryVerdict::Enforced);
    let shapes: Vec<SmVerdict> = hami50.sm.iter().map(|s| s.verdict).collect();
    assert_eq!(shapes, [SmVerdict::Enforced, SmVerdict::Exceeded]);
    let paths = hami50.paths.as_ref().expect("hami-50 was probed");
    let bypassed: Vec<(&str, &str)> = paths
        .bypassed
        .iter()
        .map(|p| (p.id.as_str(), p.figure.as_str()))
        .collect();
    assert_eq!(
        bypassed,
        [("ENF-004", "+4.0 GiB"), ("ENF-016", "+49.8 pts")]
    );
    assert_eq!(paths.crashed[0].id, "ENF-008");
    assert!(
        matches!(&hami50.overhead, Overhead::NotStated { why } if why == "its run is unverified"),
        "no cost is stated on an unverified run: {:?}",
        hami50.overhead
    );
    let hami100 = &report.cards[0];
    assert_eq!(hami100.limits, LimitsVerdict::NotShown, "too few windows");
    assert!(hami100.paths.is_none());
    assert!(matches!(hami100.overhead, Overhead::NotTested));
    assert!(hami100.neighbour.is_none());

    let (_guard, folder) = written_report();
    let html = fs::read_to_string(folder.join(HTML_FILE)).unwrap();
    let card50 = card(&html, "hami-50");
    assert!(
        card50.contains("<span class=\"bad\">limits not enforced</span>"),
        "{card50}"
    );
    assert!(card50.contains("<span class=\"bad\">2 bypassed</span>"));
    assert!(card50.contains(
        "bypassed: ENF-004 cuMemAllocManaged +4.0 GiB; ENF-016 cuLaunchKernel, long blocks (1 ms) +49.8 pts"
    ), "{card50}");
    assert!(card50.contains("<span class=\"bad\">exceeded</span> 96.5 %"));
    assert!(card50.contains("IS-006 throughput -65.2 %, IS-009 p99 latency +250.9 % (hami-50-victim-native-aggressor)"), "{card50}");
    // Green only on the two limits that held: memory and the short blocks' SM share.
    assert_eq!(passes(card50), ["enforced", "enforced"], "{card50}");
    let card100 = card(&html, "hami-100");
    assert!(passes(card100).is_empty(), "{card100}");
    assert!(card100.contains("<span class=\"warn\">limits not shown to hold</span>"));
    assert!(card100.contains("not tested: 1 round (use --rounds 2 or more)"));

    let markdown = fs::read_to_string(folder.join(MARKDOWN_FILE)).unwrap();
    let glance = section(&markdown, "#### hami-50: ");
    assert!(glance.starts_with("**limits not enforced**"), "{glance}");
    assert!(
        glance.contains("- Paths: 2 bypassed, 1 crashed, 1 refused-unlike-native, 6 enforced, 1 not-applicable; **bypassed**: ENF-004 cuMemAllocManaged +4.0 GiB"),
        "{glance}"
    );
}

#[test]
fn h200_cards_follow_the_verdicts_of_its_runs() {
    let (report, html, markdown) = h200_report();
    let configs: Vec<&str> = report.cards.iter().map(|c| c.config.as_str()).collect();
    assert_eq!(configs, ["hami-100", "hami-50", "hami-25"]);
    for card in &report.cards {
        let run = Baseline::load(&h200().join(&card.config)).unwrap().run;
        let verdicts = run.verification.limit_verdicts();
        assert_eq!(card.memory, verdicts.memory, "{}", card.config);
        assert_eq!(card.sm, verdicts.sm, "{}", card.config);
        let failed = verdicts.memory == MemoryVerdict::NotEnforced
            || verdicts.sm.iter().any(|s| s.verdict == SmVerdict::Exceeded);
        // No path was probed in this set, so no card can say the limits held.
        let expected = if failed {
            LimitsVerdict::NotEnforced
        } else {
            LimitsVerdict::NotShown
        };
        assert_eq!(card.limits, expected, "{}", card.config);
        assert!(card.paths.is_none());
    }
    // The long blocks got the whole GPU under a 50 % and a 25 % limit.
    assert_eq!(report.cards[1].limits, LimitsVerdict::NotEnforced);
    assert_eq!(report.cards[2].limits, LimitsVerdict::NotEnforced);
    assert_eq!(report.cards[0].limits, LimitsVerdict::NotShown);

    for (card, forest) in report.cards.iter().zip(&report.forests) {
        let Overhead::Tested {
            significant,
            largest,
        } = &card.overhead
        else {
            panic!("three rounds are tested: {:?}", card.overhead)
        };
        let costs: Vec<_> = forest
            .rows
            .iter()
            .filter(|r| r.verdict == Verdict::Regressed)
            .collect();
        assert_eq!(*significant, costs.len());
        assert_eq!(largest.len(), 3, "{}", card.config);
        let biggest = costs.iter().map(|r| r.size()).fold(0.0, f64::max);
        assert_eq!(largest[0].size(), biggest);
        assert!(largest.windows(2).all(|w| w[0].size() >= w[1].size()));
        assert!(largest.iter().all(|r| r.verdict == Verdict::Regressed));
    }
    let hami25 = &report.cards[2];
    let Overhead::Tested { largest, .. } = &hami25.overhead else {
        unreachable!()
    };
    assert_eq!(
        (largest[0].id.as_str(), largest[0].variant.as_str()),
        ("OH-005", "cuDriverGetVersion")
    );

    let pct = |v: f64| format!("{:.1}", v * 100.0);
    let neighbour = |i: usize| report.cards[i].neighbour.as_ref();
    assert!(
        neighbour(0).is_none(),
        "no hami-100 victim in the scenarios"
    );
    let hami50 = neighbour(1).unwrap();
    let loss = hami50.interference.as_ref().unwrap();
    assert_eq!(
        (loss.scenario.as_str(), pct(loss.value)),
        ("hami-50-victim-native-aggressor", "64.9".to_owned())
    );
    assert_eq!(pct(hami50.p99_growth.as_ref().unwrap().value), "276.9");
    let hami25 = neighbour(2).unwrap();
    let loss = hami25.interference.as_ref().unwrap();
    assert_eq!(
        (loss.scenario.as_str(), pct(loss.value)),
        ("hami-25-victim-hami-25-neighbour-1ms", "47.8".to_owned())
    );
    assert_eq!(pct(hami25.p99_growth.as_ref().unwrap().value), "274.2");

    assert!(
        html.len() < 2 * 1024 * 1024,
        "index.html is {} bytes",
        html.len()
    );
    for config in ["hami-50", "hami-25"] {
        let card = card(html, config);
        assert!(
            card.contains("<span class=\"bad\">limits not enforced</span>"),
            "{card}"
        );
        assert_eq!(
            passes(card),
            ["enforced"],
            "only the memory limit held: {card}"
        );
    }
    assert!(!html.contains("<span class=\"ok\">limits"));
    assert!(markdown.contains("#### hami-25: **limits not enforced**"));
    assert!(markdown
        .contains("- Overhead: 7 significant costs; largest 3: OH-005 cuDriverGetVersion +"));
}

#[test]
fn every_configuration_has_a_forest_plot_with_one_mark_per_metric_variant() {
    let two_rounds = two_round_fixture();
    let fixture_reports = [built(&fixtures()), built(two_rounds.path())];
    for (report, html, _) in fixture_reports.iter().chain([h200_report()]) {
        let tables: Vec<_> = report.categories.iter().flat_map(|c| &c.tables).collect();
        assert_eq!(report.forests.len(), report.cards.len());
        for forest in &report.forests {
            let measured = tables
                .iter()
                .filter(|t| {
                    t.metric.rows.iter().any(|r| {
                        r.config == forest.config
                            && r.measured.as_ref().is_some_and(|m| m.change.is_some())
                    })
                })
                .count();
            assert_eq!(forest.rows.len(), measured, "{}", forest.config);
            assert!(forest.rows.windows(2).all(|w| w[0].size() >= w[1].size()));
            let figure = forest_plot(html, &forest.config);
            assert!(figure.contains(&format!("data-marks=\"{measured}\"")));
            assert_eq!(
                figure.matches("<circle").count(),
                measured,
                "{}",
                forest.config
            );
            let significant = forest.rows.iter().filter(|r| r.is_significant()).count();
            assert_eq!(
                figure
                    .split("<circle")
                    .skip(1)
                    .filter(|c| c[..c.find("/>").unwrap()].contains("stroke=\"none\""))
                    .count(),
                significant,
                "filled marks are the significant ones: {}",
                forest.config
            );
            assert!(figure.contains("1×"), "the native line's tick");
        }
    }
    // In the two-round fixture hami-100's OH-002 small is significantly faster.
    let first = &fixture_reports[1].0.forests[0].rows[0];
    assert_eq!(
        (first.id.as_str(), first.variant.as_str(), first.verdict),
        ("OH-002", "small", Verdict::Improved)
    );
}

#[test]
fn report_md_opens_with_the_cards_and_the_changes_largest_first() {
    let (_, _, markdown) = built(two_round_fixture().path());
    let at = |heading: &str| {
        markdown
            .find(heading)
            .unwrap_or_else(|| panic!("no {heading}"))
    };
    assert!(at("## NVIDIA Test GPU") < at("### At a glance"));
    assert!(at("### At a glance") < at("### Change vs native, every metric variant"));
    assert!(at("### Change vs native, every metric variant") < at("### Enforcement"));
    let changes = section(&markdown, "#### hami-100\n");
    let rows: Vec<&str> = changes.lines().filter(|l| l.starts_with("| OH-")).collect();
    assert_eq!(rows.len(), 3, "{changes}");
    assert!(
        rows[0].starts_with("| OH-002 small | -10.2 % [") && rows[0].ends_with("| yes, faster |"),
        "{changes}"
    );
    let card = section(&markdown, "#### hami-100: ");
    assert!(card.contains("- Overhead: no significant cost"), "{card}");
}

#[test]
fn categories_are_spelled_as_their_ids_and_fold_away() {
    let (report, html, markdown) = h200_report();
    for heading in ["Isolation (IS)", "LLM workloads (LLM)", "Overhead (OH)"] {
        assert!(
            html.contains(&format!("<summary>{heading} <span>")),
            "{heading}"
        );
        assert!(markdown.contains(&format!("\n## {heading}\n")), "{heading}");
    }
    assert!(!html.contains("Llm") && !markdown.contains("Llm"));
    assert!(!markdown.contains("\n## Overhead\n") && !markdown.contains("\n## Llm\n"));
    assert_eq!(
        html.matches("<details class=\"category\"").count(),
        report.categories.len()
    );
    assert_eq!(html.matches("</details>").count(), report.categories.len());
    // Every metric table is inside a category that folds away.
    let first = html.find("<details class=\"category\"").unwrap();
    assert!(!html[..first].contains("<th>Median</th>"));
    let tables = report
        .categories
        .iter()
        .map(|c| c.tables.len())
        .sum::<usize>();
    assert_eq!(html[first..].matches("<th>Median</th>").count(), tables);
    // The limit checks stay open; the rest are folded.
    assert!(html.contains("<details class=\"category\" open>\n<summary>Isolation (IS)"));
    assert!(html.contains("<details class=\"category\">\n<summary>Overhead (OH)"));
}

#[test]
fn a_series_of_fewer_than_five_windows_is_drawn_as_points_with_their_values() {
    let (_guard, folder) = written_report();
    let html = fs::read_to_string(folder.join(HTML_FILE)).unwrap();
    let shares = between(&html, "<h3>Delivered SM share over time", "</div>\n</div>");
    let plots: Vec<&str> = shares.split("<svg").skip(1).collect();
    assert_eq!(plots.len(), 2, "one per shape");
    // hami-100 (blue) and native (grey) have 4 windows; hami-50 (orange) has 10.
    let (blue, grey, orange) = ("#2563EB", "#6B7280", "#EA580C");
    let short = plots[0];
    // The longest line drawn in a colour, in points: a dashed limit line is drawn as
    // segments of two.
    let longest = |colour: &str| {
        short
            .split("<polyline")
            .skip(1)
            .map(|line| &line[..line.find("/>").unwrap()])
            .filter(|line| line.contains(&format!("stroke=\"{colour}\"")))
            .map(|line| {
                let points = line.split("points=\"").nth(1).unwrap();
                points[..points.find('"').unwrap()]
                    .split_whitespace()
                    .count()
            })
            .max()
            .unwrap_or(0)
    };
    assert!(
        longest(blue) <= 2 && longest(grey) <= 2,
        "no line through 4 windows"
    );
    assert_eq!(longest(orange), 10, "a line through hami-50's 10 windows");
    // Each label in its series' colour.
    let labels = |colour: &str| -> Vec<&str> {
        short
            .split("<text")
            .skip(1)
            .filter(|text| text[..text.find('>').unwrap()].contains(&format!("fill=\"{colour}\"")))
            .map(|text| text[text.find('>').unwrap() + 1..text.find("</text>").unwrap()].trim())
            .collect()
    };
    // hami-100's short blocks: 0.999, 0.9989, 0.9812, 0.9818 of native.
    assert_eq!(labels(blue), ["99.9", "99.9", "98.1", "98.2"]);
    assert_eq!(labels(grey), ["99.3", "100.7", "100.5", "99.5"]);
    assert!(
        labels(orange).is_empty(),
        "hami-50's 10 windows are a line, unlabelled"
    );
}
