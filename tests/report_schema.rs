//! report.json against its documented schema (schema/report.schema.json), for the
//! fixture baselines and for every committed report, so the schema and the report
//! cannot drift apart unnoticed.

mod common;

use common::{unstable_report, written_report};
use gpu_virt_bench::report::JSON_FILE;
use serde_json::Value;
use std::fs;
use std::path::{Path, PathBuf};

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &Path) -> Value {
    serde_json::from_str(&fs::read_to_string(path).unwrap()).unwrap()
}

fn validator() -> jsonschema::Validator {
    let schema = read(&repo().join("schema/report.schema.json"));
    jsonschema::draft202012::meta::validate(&schema).expect("a valid draft 2020-12 schema");
    jsonschema::draft202012::new(&schema).unwrap()
}

fn errors(validator: &jsonschema::Validator, report: &Value) -> Vec<String> {
    validator
        .iter_errors(report)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect()
}

#[test]
fn the_fixture_report_matches_the_schema() {
    let (_guard, folder) = written_report();
    let report = read(&folder.join(JSON_FILE));
    assert_eq!(errors(&validator(), &report), Vec::<String>::new());
}

#[test]
fn a_report_with_an_unstable_row_matches_the_schema() {
    let (_out, folder) = unstable_report();
    let report = read(&folder.join(JSON_FILE));
    let unstable = &report["categories"][1]["tables"][0]["rows"][1]["measured"]["unstable"];
    assert_eq!(
        unstable["disagreements"][0], "median_above_p99",
        "{unstable}"
    );
    assert_eq!(errors(&validator(), &report), Vec::<String>::new());
}

#[test]
fn committed_reports_match_the_schema() {
    let reports: Vec<PathBuf> = fs::read_dir(repo().join("reports"))
        .unwrap()
        .map(|entry| entry.unwrap().path().join(JSON_FILE))
        .collect();
    assert!(!reports.is_empty());
    let validator = validator();
    for path in reports {
        assert_eq!(
            errors(&validator, &read(&path)),
            Vec::<String>::new(),
            "{}",
            path.display()
        );
    }
}

#[test]
fn the_schema_rejects_what_the_report_never_writes() {
    let (_guard, folder) = written_report();
    let report = read(&folder.join(JSON_FILE));
    let validator = validator();
    let mut missing = report.clone();
    missing["verdicts"][0]
        .as_object_mut()
        .unwrap()
        .remove("memory");
    let mut no_reason = report.clone();
    assert_eq!(no_reason["verdicts"][1]["sm"][0]["verdict"], "inconclusive");
    no_reason["verdicts"][1]["sm"][0]
        .as_object_mut()
        .unwrap()
        .remove("reason");
    let mut unknown_kind = report.clone();
    unknown_kind["categories"][0]["findings"][0]["kind"] = "guess".into();
    let mut extra = report;
    extra["categories"][1]["tables"][0]["rows"][0]["measured"]["typo"] = 1.into();
    for broken in [missing, no_reason, unknown_kind, extra] {
        assert!(!errors(&validator, &broken).is_empty());
    }
}

#[test]
fn the_schema_holds_the_enforcement_matrix_to_what_each_verdict_carries() {
    let (_guard, folder) = written_report();
    let report = read(&folder.join(JSON_FILE));
    let validator = validator();
    let verdict = |row: usize| report["enforcement"]["rows"][row]["cells"][1]["verdict"].clone();
    assert_eq!(
        [verdict(0), verdict(2), verdict(4)],
        ["bypassed", "crashed", "enforced"]
    );
    let with_cell = |row: usize, edit: fn(&mut serde_json::Map<String, Value>)| {
        let mut broken = report.clone();
        edit(
            broken["enforcement"]["rows"][row]["cells"][1]
                .as_object_mut()
                .unwrap(),
        );
        broken
    };
    let no_excess = with_cell(0, |c| {
        c.remove("excess");
    });
    let excess_on_enforced = with_cell(4, |c| {
        c.insert("excess".into(), 1.0.into());
    });
    let no_signal = with_cell(2, |c| {
        c.remove("signal");
    });
    let mut unknown_verdict = report.clone();
    unknown_verdict["enforcement"]["rows"][0]["cells"][1]["verdict"] = "leaky".into();
    let mut no_matrix = report;
    no_matrix.as_object_mut().unwrap().remove("enforcement");
    for broken in [
        no_excess,
        excess_on_enforced,
        no_signal,
        unknown_verdict,
        no_matrix,
    ] {
        assert!(!errors(&validator, &broken).is_empty());
    }
}
