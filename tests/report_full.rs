//! The full report (index.html, report.md, report.json) of the fixture baselines:
//! tables, computed findings, verdicts, links to Criterion's pages, and nothing
//! stated for the unverified hami-50.

mod common;

use common::{edit_entry, fixture_copy, fixtures, section, two_round_fixture, written_report, GPU};
use gpu_virt_bench::report::document::{MemoryLimit, Report, ISOLATION};
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
        texts.iter().any(|t| t
            .starts_with("hami-100, limit 100 %: short-blocks delivered 99.0 % ± ")
            && t.ends_with("of native, consistent with the limit")),
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
    assert_eq!(native.memory_limit, MemoryLimit::None);
    let hami50 = by_config("hami-50");
    assert!(!hami50.verified && hami50.interposer_loaded);
    assert_eq!(hami50.memory_limit, MemoryLimit::InForce);
    assert_eq!(hami50.sm_limit_pct, Some(50));
    let short = &hami50.sm_delivered[0];
    assert_eq!(short.shape, "short-blocks");
    assert!((short.mean - 0.5094).abs() < 1e-9);
    assert!(short.spread > 0.0 && short.spread < 0.01, "{short:?}");
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
    // Verdicts, then three metric tables.
    assert_eq!(html.matches("<table>").count(), 4);
    // One bar chart per metric table, one SM-share chart per shape, and one chart of
    // the isolation scenario's tenants.
    assert_eq!(html.matches("<svg").count(), 6);
    assert!(html.contains("Tenants side by side"));
    assert!(html.contains(
        "<p class=\"note\">Median, mean and change vs native: Criterion&#39;s samples; p99: the per-call pass"
    ));
    assert!(html.contains("<span class=\"bad\">UNVERIFIED</span>"));
    assert!(html.contains("<strong>No findings for hami-50</strong>"));
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
    assert!(markdown.contains("- No findings for hami-50: its run is unverified: "));
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
    let root = fixture_copy();
    edit_entry(
        &root.path().join(GPU),
        "hami-100",
        "OH-001",
        "launch-call",
        |e| e["p99"] = 3.5.into(),
    );
    let out = tempfile::tempdir().unwrap();
    let folder = write_reports(root.path(), out.path()).unwrap().remove(0);
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
