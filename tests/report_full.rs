//! The full report (index.html, report.md, report.json) of the fixture baselines:
//! tables, computed findings, verdicts, links to Criterion's pages, and nothing
//! stated for the unverified hami-50.

mod common;

use common::{
    fixture_copy, fixtures, section, two_round_fixture, unstable_report, written_report, GPU,
};
use gpu_virt_bench::baseline::{Inconclusive, MemoryVerdict, SmVerdict};
use gpu_virt_bench::report::document::{Report, ISOLATION};
use gpu_virt_bench::report::findings::FindingKind;
use gpu_virt_bench::report::{
    compare_markdown, full_reports, write_reports, HTML_FILE, JSON_FILE, MARKDOWN_FILE,
};
use gpu_virt_bench::Error;
use std::fs;
use std::path::Path;

/// The report of the baselines under `dir`, of one GPU.
fn report_of(dir: &Path) -> Report {
    let out = tempfile::tempdir().unwrap();
    let mut reports = full_reports(dir, out.path()).unwrap();
    assert_eq!(reports.len(), 1);
    reports.remove(0)
}

/// The report of the fixtures, one round each.
fn report() -> Report {
    report_of(&fixtures())
}

/// The report of the fixtures with a second round that agrees with the first, so
/// changes are tested.
fn two_round_report() -> Report {
    report_of(two_round_fixture().path())
}

fn texts(report: &Report) -> Vec<&str> {
    report
        .categories
        .iter()
        .flat_map(|c| &c.findings)
        .map(|f| f.text.as_str())
        .collect()
}

#[test]
fn categories_hold_the_tables_with_isolation_first() {
    let report = report();
    let names: Vec<&str> = report.categories.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, [ISOLATION, "overhead"]);
    let tables: Vec<String> = report.categories[1]
        .tables
        .iter()
        .map(|t| format!("{} {}", t.metric.id, t.metric.variant))
        .collect();
    assert_eq!(
        tables,
        ["OH-001 launch-call", "OH-002 small", "OH-002 large"]
    );
    assert_eq!(
        report.categories[1].tables[0].metric.name.as_deref(),
        Some("Kernel launch latency")
    );
    let shapes: Vec<&str> = report.categories[0]
        .sm_share
        .iter()
        .map(|s| s.shape.as_str())
        .collect();
    assert_eq!(shapes, ["short-blocks", "long-blocks"]);
    assert_eq!(report.categories[0].sm_share[0].series.len(), 3);
    let fairness = &report.categories[0].fairness;
    assert_eq!(fairness.len(), 1);
    assert_eq!(fairness[0].shape, "short");
}

#[test]
fn findings_are_computed_and_skip_the_unverified_configuration() {
    let report = two_round_report();
    let texts = texts(&report);
    let faster = texts
        .iter()
        .find(|t| t.contains("OH-002 small"))
        .expect("a finding on OH-002 small");
    assert!(
        faster.starts_with("hami-100 takes ")
            && faster.contains(" us (CI ")
            && faster.contains(" us) off OH-002 small (-1"),
        "{faster}"
    );
    assert!(
        texts
            .iter()
            .any(|t| t.starts_with("hami-100: OH-001 launch-call not significant (")),
        "{texts:#?}"
    );
    assert!(
        texts.contains(
            &"hami-100 short-blocks: inconclusive (4 windows, fewer than 8) — 99.0 % ± 1.0 % \
              of native over 4 windows vs 100 % SM limit"
        ),
        "{texts:#?}"
    );
    // hami-50 is slower on OH-001 but unverified: nothing is stated for its run (the
    // isolation scenario is a run of its own, with findings of its own).
    assert!(
        report
            .categories
            .iter()
            .flat_map(|c| &c.findings)
            .filter(|f| !matches!(
                f.kind,
                FindingKind::Fairness { .. }
                    | FindingKind::Interference { .. }
                    | FindingKind::MemoryIsolation(_)
                    | FindingKind::FaultIsolation(_)
            ))
            .all(|f| !f.text.contains("hami-50")),
        "{texts:#?}"
    );
    assert!(
        texts.iter().any(|t| t.starts_with(
            "hami-50-victim-native-aggressor (8 blocks per SM of 0.1 ms): victim t1 (hami-50) got 66.9 % alone and lost 65.2 %"
        )),
        "{texts:#?}"
    );
    assert!(
        texts.contains(
            &"memory-hami-50-vs-hami-50: isolated: t2 (hami-50) reading t1 (hami-50)'s memory by raw pointer: \
                copy refused (CUDA_ERROR_INVALID_VALUE from cuMemcpyDtoH), \
                kernel refused (CUDA_ERROR_ILLEGAL_ADDRESS from cuStreamSynchronize); \
                t1's data unchanged; IPC allowed: t2 read t1's data through its handle (explicit sharing, not a leak)"
        ),
        "{texts:#?}"
    );
    assert!(
        texts.contains(
            &"fault-hami-50-vs-hami-50: isolated, the victim kept running, all 35515 kernels correct: \
              t1 (hami-50)'s write to 0x10 got CUDA_ERROR_ILLEGAL_ADDRESS \
              (then CUDA_ERROR_ILLEGAL_ADDRESS from cuMemAlloc); t2 (hami-50) ran at 88.8 % of its rate before the fault"
        ),
        "{texts:#?}"
    );
    let skipped = report
        .verdicts
        .iter()
        .find(|v| v.config == "hami-50")
        .unwrap();
    assert_eq!(
        skipped.findings_skipped.as_deref(),
        Some("its run is unverified: long-blocks shape delivered 96.5 % of native throughput against a 50 % SM limit")
    );
}

#[test]
fn a_significant_change_is_the_absolute_difference_of_the_means() {
    let report = two_round_report();
    let table = &report.categories[1].tables[1].metric;
    let mean = |config: &str| {
        table
            .rows
            .iter()
            .find(|r| r.config == config)
            .and_then(|r| r.measured.as_ref())
            .unwrap()
            .mean
    };
    let change = report.categories[1]
        .findings
        .iter()
        .find_map(|f| match &f.kind {
            FindingKind::Change {
                variant,
                difference,
                ci_low,
                ci_high,
                ..
            } if variant == "small" => Some((*difference, *ci_low, *ci_high)),
            _ => None,
        })
        .unwrap();
    let (difference, low, high) = change;
    assert!(
        (difference - (mean("hami-100") - mean("native"))).abs() < 1e-9,
        "{change:?}"
    );
    assert!(
        low < difference && difference < high && high < 0.0,
        "{change:?}"
    );
}

#[test]
fn verdicts_say_what_held() {
    let report = report();
    let by_config = |name: &str| report.verdicts.iter().find(|v| v.config == name).unwrap();
    let native = by_config("native");
    assert!(native.verified && !native.interposer_loaded);
    assert_eq!(native.memory, MemoryVerdict::NotConfigured);
    assert!(native
        .sm
        .iter()
        .all(|s| s.verdict == SmVerdict::NotConfigured));
    let hami100 = by_config("hami-100");
    let too_few = SmVerdict::Inconclusive {
        reason: Inconclusive::TooFewWindows,
    };
    assert!(hami100
        .sm
        .iter()
        .all(|s| s.verdict == too_few && s.windows == 4));
    let hami50 = by_config("hami-50");
    assert!(!hami50.verified && hami50.interposer_loaded);
    assert_eq!(hami50.memory, MemoryVerdict::Enforced);
    assert_eq!(hami50.sm_limit_pct, Some(50));
    let [short, long] = &hami50.sm[..] else {
        panic!("{:?}", hami50.sm)
    };
    assert_eq!(
        (short.shape.as_str(), short.verdict, short.windows),
        ("short-blocks", SmVerdict::Enforced, 10)
    );
    assert!((short.share_mean - 0.5094).abs() < 1e-9);
    assert!(short.spread > 0.0 && short.spread < 0.01, "{short:?}");
    assert_eq!(
        (long.shape.as_str(), long.verdict, long.limit_pct),
        ("long-blocks", SmVerdict::Exceeded, Some(50))
    );
    assert!(report
        .absent
        .iter()
        .any(|a| a.starts_with("Throughput as % of peak")));
    // The fixtures hold an isolation scenario, so fairness is not absent.
    assert!(!report
        .absent
        .iter()
        .any(|a| a.starts_with("Tenant fairness")));
}

#[test]
fn criterion_pages_are_linked_relatively_where_they_exist() {
    let (_guard, folder) = written_report();
    let json: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(folder.join(JSON_FILE)).unwrap()).unwrap();
    let launch = &json["categories"][1]["tables"][0];
    assert_eq!(
        launch["rows"][0]["measured"]["passes"],
        serde_json::json!({"median_mean": "criterion", "percentiles": "per_call"})
    );
    assert!(launch["rows"][0]["measured"]["unstable"].is_null());
    let link = launch["criterion_reports"][0]
        .as_str()
        .expect("native's page");
    assert!(
        link.starts_with("../")
            && link.ends_with("/native/criterion/overhead/OH-001/launch-call/report/index.html"),
        "{link}"
    );
    assert!(folder.join(link).is_file(), "{link} does not resolve");
    assert!(launch["criterion_reports"][1].is_null());
    let html = fs::read_to_string(folder.join(HTML_FILE)).unwrap();
    assert!(html.contains(&format!("<a href=\"{link}\">report</a>")));
}

#[test]
fn the_page_is_self_contained_with_tables_and_plots() {
    let (_guard, folder) = written_report();
    let html = fs::read_to_string(folder.join(HTML_FILE)).unwrap();
    // The enforcement matrix, verdicts, then three metric tables.
    assert_eq!(html.matches("<table>").count(), 5);
    // A forest plot per configuration besides native, one bar chart per metric
    // table, one SM-share chart per shape, and one chart of the isolation scenario's
    // tenants.
    assert_eq!(html.matches("<svg").count(), 8);
    assert!(html.contains("Tenants side by side"));
    assert!(html.contains(
        "<p class=\"note\">Median, mean and change vs native: Criterion&#39;s samples; p99: the per-call pass"
    ));
    assert!(html.contains("<span class=\"bad\">UNVERIFIED</span>"));
    assert!(html.contains("<strong>No findings on the metrics of hami-50</strong>"));
    for external in ["<script", "<link", " src=", "url(", "https://"] {
        assert!(!html.contains(external), "{external} in the page");
    }
    let without_svg_namespace = html.replace("xmlns=\"http://www.w3.org/2000/svg\"", "");
    assert!(!without_svg_namespace.contains("http://"));
}

#[test]
fn one_round_states_no_change_as_significant() {
    let report = report();
    let found: Vec<_> = report.categories.iter().flat_map(|c| &c.findings).collect();
    assert!(
        !found.iter().any(|f| matches!(
            f.kind,
            FindingKind::Change { .. } | FindingKind::NotSignificant { .. }
        )),
        "{:#?}",
        texts(&report)
    );
    let untested: Vec<&str> = found
        .iter()
        .filter(|f| matches!(f.kind, FindingKind::NotTested { .. }))
        .map(|f| f.text.as_str())
        .collect();
    assert_eq!(
        untested.len(),
        3,
        "hami-100's three; hami-50 is unverified: {untested:#?}"
    );
    assert!(
        untested.contains(
            &"hami-100: OH-002 small -10.2 % [-10.9, -9.6], not tested: 1 round (use --rounds 2 or more)"
        ),
        "{untested:#?}"
    );
    assert!(found.iter().filter(|f| !f.is_stated()).count() >= 3);

    let (_guard, folder) = written_report();
    let markdown = fs::read_to_string(folder.join(MARKDOWN_FILE)).unwrap();
    let overhead = section(&markdown, "## Overhead");
    assert!(
        overhead.contains(
            "- hami-100: not tested for OH-001 launch-call, OH-002 small, OH-002 large: 1 round (use --rounds 2 or more)\n"
        ),
        "{overhead}"
    );
    assert!(!overhead.contains(" takes "), "{overhead}");
    let html = fs::read_to_string(folder.join(HTML_FILE)).unwrap();
    assert!(html.contains("<li class=\"quiet\">hami-100: not tested for OH-001 launch-call"));
    assert!(!html.contains("class=\"faster\"") && !html.contains("class=\"slower\""));
    let json: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(folder.join(JSON_FILE)).unwrap()).unwrap();
    assert_eq!(
        json["categories"][1]["findings"][0]["kind"], "not_tested",
        "{}",
        json["categories"][1]["findings"]
    );
}

#[test]
fn report_md_reuses_the_comparison_tables_and_adds_findings() {
    let root = two_round_fixture();
    let out = tempfile::tempdir().unwrap();
    let folder = write_reports(root.path(), out.path()).unwrap().remove(0);
    let markdown = fs::read_to_string(folder.join(MARKDOWN_FILE)).unwrap();
    let compare = compare_markdown(root.path()).unwrap();
    for heading in [
        "### Verification",
        "### OH-001 launch-call (us, lower is better)",
        "### OH-002 small (us, lower is better)",
    ] {
        // compare adds the derived lines under each table; report.md states them per
        // category instead.
        let table = section(&compare, heading);
        let table = table.split("\n\nFindings:").next().unwrap().trim_end();
        assert!(section(&markdown, heading).starts_with(table), "{heading}");
    }
    let overhead = section(&markdown, "## Overhead");
    assert!(overhead.contains("- hami-100 takes "), "{overhead}");
    assert!(
        overhead.contains("- hami-100: not significant for OH-001 launch-call, OH-002 large"),
        "{overhead}"
    );
    assert!(markdown.contains("- No findings on the metrics of hami-50: its run is unverified: "));
}

#[test]
fn a_corrupt_baseline_fails_the_report_and_writes_nothing() {
    let root = fixture_copy();
    let folder = root.path().join(GPU).join("hami-100");
    fs::remove_file(folder.join("summary.json")).unwrap();
    let out = tempfile::tempdir().unwrap();
    match write_reports(root.path(), out.path()).unwrap_err() {
        Error::CorruptBaseline { path, .. } => assert_eq!(path, folder),
        other => panic!("expected CorruptBaseline, got {other:?}"),
    }
    assert_eq!(fs::read_dir(out.path()).unwrap().count(), 0);
}

#[test]
fn the_command_writes_the_three_files_per_gpu() {
    let out = tempfile::tempdir().unwrap();
    assert_cmd::Command::cargo_bin("gpu-virt-bench")
        .unwrap()
        .arg("report")
        .arg(fixtures())
        .arg("--out")
        .arg(out.path())
        .assert()
        .success()
        .stdout(predicates::str::contains(GPU));
    for file in [HTML_FILE, MARKDOWN_FILE, JSON_FILE] {
        assert!(out.path().join(GPU).join(file).is_file(), "{file}");
    }

    let root = fixture_copy();
    fs::write(root.path().join(GPU).join("native/run.json"), "{").unwrap();
    let output = assert_cmd::Command::cargo_bin("gpu-virt-bench")
        .unwrap()
        .arg("report")
        .arg(root.path())
        .arg("--out")
        .arg(out.path().join("again"))
        .assert()
        .failure()
        .get_output()
        .clone();
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("is not a usable baseline"), "{stderr}");
}

#[test]
fn every_rendering_marks_an_unstable_row_with_both_passes_figures() {
    let (_out, folder) = unstable_report();
    let marker = "3.998 (unstable: per-call p50 3.960, p99 3.500)";
    let html = fs::read_to_string(folder.join(HTML_FILE)).unwrap();
    assert!(
        html.contains(&format!("<td>{marker}</td>")),
        "not on the page"
    );
    let markdown = fs::read_to_string(folder.join(MARKDOWN_FILE)).unwrap();
    assert!(
        markdown.contains(&format!("| hami-100 | {marker} |")),
        "not in report.md"
    );
    let json: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(folder.join(JSON_FILE)).unwrap()).unwrap();
    let unstable = &json["categories"][1]["tables"][0]["rows"][1]["measured"]["unstable"];
    assert_eq!(
        unstable["criterion_median"],
        json["categories"][1]["tables"][0]["rows"][1]["measured"]["median"]
    );
    assert_eq!(unstable["per_call_p50"], 3.96);
}

/// The row of `config` in the page's verdicts table.
fn verdict_row<'a>(html: &'a str, config: &str) -> &'a str {
    let verdicts = &html[html.find("<section id=\"verdicts\">").unwrap()..];
    let verdicts = &verdicts[..verdicts.find("</section>").unwrap()];
    verdicts
        .lines()
        .find(|line| {
            line.starts_with("<tr><td>") && line.contains(&format!("</span>{config}</td>"))
        })
        .unwrap_or_else(|| panic!("no row for {config} in {verdicts}"))
}

#[test]
fn a_verified_configuration_whose_sm_limit_was_exceeded_is_no_pass() {
    // hami-50 as if it had run as configured: interposer mapped, memory limit in
    // force, and its long blocks at 96.5 % of native against a 50 % SM limit.
    let root = fixture_copy();
    let run = root.path().join(GPU).join("hami-50/run.json");
    let text = fs::read_to_string(&run).unwrap();
    fs::write(
        &run,
        text.replace("\"unverified\": true", "\"unverified\": false"),
    )
    .unwrap();
    let out = tempfile::tempdir().unwrap();
    let folder = write_reports(root.path(), out.path()).unwrap().remove(0);

    let html = fs::read_to_string(folder.join(HTML_FILE)).unwrap();
    let row = verdict_row(&html, "hami-50");
    assert!(row.contains("<td>verified</td>"), "{row}");
    assert!(
        row.contains("<span class=\"ok\">enforced</span> (20480 MiB)"),
        "{row}"
    );
    assert!(
        row.contains("short-blocks: <span class=\"ok\">enforced</span> — 50.9 %"),
        "{row}"
    );
    assert!(
        row.contains("long-blocks: <span class=\"bad\">exceeded</span> — 96.5 % ± 0.2 % of native over 10 windows vs 50 % SM limit"),
        "{row}"
    );
    assert_eq!(row.matches("class=\"ok\"").count(), 2, "{row}");
    // Nothing else in the table is green: "verified" is not a pass, and neither is
    // hami-100's share from too few windows.
    let hami100 = verdict_row(&html, "hami-100");
    assert!(!hami100.contains("class=\"ok\""), "{hami100}");
    assert!(
        hami100.contains("<span class=\"warn\">inconclusive (4 windows, fewer than 8)</span>"),
        "{hami100}"
    );
    assert!(!verdict_row(&html, "native").contains("class=\"ok\""));

    let json: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(folder.join(JSON_FILE)).unwrap()).unwrap();
    let verdict = &json["verdicts"][2];
    assert_eq!(verdict["config"], "hami-50");
    assert_eq!(verdict["verified"], true);
    assert_eq!(verdict["memory"], "enforced");
    assert_eq!(verdict["sm"][1]["shape"], "long-blocks");
    assert_eq!(verdict["sm"][1]["verdict"], "exceeded");
    assert_eq!(verdict["sm"][1]["windows"], 10);
    assert_eq!(
        json["configs"][2]["verification"]["verdicts"],
        serde_json::json!({"memory": verdict["memory"], "sm": verdict["sm"]}),
        "run.json's verification carries the same verdicts"
    );

    let markdown = fs::read_to_string(folder.join(MARKDOWN_FILE)).unwrap();
    let isolation = section(&markdown, "## Isolation");
    assert!(
        isolation.contains(
            "- hami-50 long-blocks: exceeded — 96.5 % ± 0.2 % of native over 10 windows vs 50 % SM limit"
        ),
        "{isolation}"
    );
    assert!(
        isolation.contains("- hami-50 short-blocks: enforced — 50.9 %"),
        "{isolation}"
    );
}

#[test]
fn committed_baselines_without_stored_verdicts_get_them_on_load() {
    let committed = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("criterion-baselines");
    let mut loaded = Vec::new();
    for gpu in fs::read_dir(&committed).unwrap() {
        for config in fs::read_dir(gpu.unwrap().path()).unwrap() {
            let dir = config.unwrap().path();
            if dir.join("run.json").is_file() {
                loaded.push(gpu_virt_bench::baseline::Baseline::load(&dir).unwrap());
            }
        }
    }
    assert!(loaded.len() >= 8, "both GPUs' four configurations");
    for baseline in &loaded {
        let verification = &baseline.run.verification;
        assert_eq!(
            verification.verdicts.as_ref(),
            Some(&gpu_virt_bench::baseline::judge(verification)),
            "{}",
            baseline.dir.display()
        );
    }
    // The H100 evidence: two windows per shape at most, so no SM limit is enforced
    // on it, however close its mean.
    let hami25 = loaded
        .iter()
        .find(|b| b.dir.ends_with("nvidia-h100-80gb-hbm3/hami-25"))
        .unwrap();
    let verdicts = hami25.run.verification.limit_verdicts();
    assert_eq!(verdicts.memory, MemoryVerdict::Enforced);
    assert!(
        verdicts.sm.iter().all(|s| s.verdict
            == SmVerdict::Inconclusive {
                reason: Inconclusive::TooFewWindows
            }),
        "{verdicts:?}"
    );
}

/// The enforcement matrix's row of path `id` on the page.
fn matrix_row<'a>(html: &'a str, id: &str) -> &'a str {
    let start = html
        .find(&format!("<tr><td>{id} "))
        .unwrap_or_else(|| panic!("no row for {id}"));
    &html[start..start + html[start..].find("</tr>").unwrap()]
}

#[test]
fn the_page_shows_the_enforcement_matrix_after_the_first_screen_with_cells_coloured_by_verdict() {
    let (_guard, folder) = written_report();
    let html = fs::read_to_string(folder.join(HTML_FILE)).unwrap();
    let device = html.find("<p class=\"device\">").unwrap();
    let matrix = html.find("<section id=\"enforcement\">").unwrap();
    let verdicts = html.find("<section id=\"verdicts\">").unwrap();
    assert!(device < matrix && matrix < verdicts);
    let sections: Vec<&str> = html[device..matrix]
        .split("<section id=\"")
        .skip(1)
        .map(|rest| &rest[..rest.find('"').unwrap()])
        .collect();
    assert_eq!(
        sections,
        ["glance", "forest"],
        "only the first screen between device and matrix"
    );
    let matrix_html = &html[matrix..verdicts];
    assert!(
        matrix_row(matrix_html, "ENF-004").contains(
            "<span class=\"bad\">bypassed +4.0 GiB (24.0 GiB held vs 20.0 GiB limit)</span>"
        ),
        "{matrix_html}"
    );
    assert!(matrix_row(matrix_html, "ENF-008")
        .contains("<span class=\"bad\">crashed: signal 11</span>"));
    assert!(matrix_row(matrix_html, "ENF-007")
        .contains("<span class=\"warn\">refused-unlike-native (status -1, which is no CUresult"));
    assert!(matrix_row(matrix_html, "ENF-001")
        .contains("<span class=\"ok\">enforced (19.9 GiB of 20.0 GiB)</span>"));
    assert!(
        matrix_row(matrix_html, "ENF-001")
            .contains("<td class=\"text\" title=\"CUDA_SUCCESS; cuMemGetInfo afterwards: 16.0 GiB free of 40.0 GiB\">inconclusive: no memory limit is configured</td>"),
        "no limit to judge by: plain"
    );
    let unavailable = matrix_row(matrix_html, "ENF-002");
    assert!(
        unavailable.contains(">not-applicable: no libcudart</td>"),
        "{unavailable}"
    );
    assert!(!unavailable.contains("<span"), "plain: {unavailable}");
    assert!(
        matrix_row(matrix_html, "ENF-004").contains("title=\"CUDA_SUCCESS; pages prefetched"),
        "status and detail as the tooltip"
    );
    assert!(matrix_html.contains("<p class=\"note\">No enforcement probes for hami-100.</p>"));
    assert!(matrix_html.contains(
        "<li>hami-50: <span class=\"ok\">612 MiB in use before the probes, 612 MiB after; no probe child left</span></li>"
    ));
    let first_finding = matrix_html.find("<h3>Findings</h3>\n<ul>\n<li>").unwrap();
    assert!(matrix_html[first_finding..].contains(
        "<li>hami-50: cuMemAllocManaged bypassed the 20.0 GiB memory limit by 4.0 GiB</li>"
    ));
}

#[test]
fn report_json_carries_the_matrix_and_its_findings_lead() {
    let (_guard, folder) = written_report();
    let json: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(folder.join(JSON_FILE)).unwrap()).unwrap();
    let enforcement = &json["enforcement"];
    assert_eq!(
        enforcement["configs"],
        serde_json::json!(["native", "hami-50"])
    );
    assert_eq!(enforcement["unprobed"], serde_json::json!(["hami-100"]));
    let managed = &enforcement["rows"][0];
    assert_eq!(managed["id"], "ENF-004");
    assert_eq!(managed["kind"], "memory");
    let cell = &managed["cells"][1];
    assert_eq!(cell["config"], "hami-50");
    assert_eq!(cell["verdict"], "bypassed");
    assert_eq!(cell["excess"], 4.0 * (1u64 << 30) as f64);
    assert_eq!(cell["limit"], 20480.0 * (1u64 << 20) as f64);
    assert_eq!(cell["unit"], "bytes");
    let crashed = &enforcement["rows"][2]["cells"][1];
    assert_eq!(
        (crashed["signal"].as_i64(), crashed["timed_out"].as_bool()),
        (Some(11), Some(false))
    );
    assert_eq!(enforcement["leaks"][1]["clean"], true);
    let kinds: Vec<&str> = enforcement["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "enforcement_bypass",
            "enforcement_bypass",
            "enforcement_refused"
        ]
    );
    assert_eq!(enforcement["findings"][1]["limit_kind"], "sm");

    let report = report();
    assert!(
        report
            .verdicts
            .iter()
            .any(|v| v.config == "hami-50" && v.findings_skipped.is_some()),
        "hami-50 is unverified, and its bypasses are stated all the same"
    );
    assert!(
        !texts(&report).iter().any(|t| t.contains("bypassed")),
        "stated once, in the matrix"
    );
}
