//! The comparison report over the committed baselines of a fictitious GPU: native,
//! hami-100 (one metric faster, the rest unchanged; not probed for enforcement) and
//! hami-50 (unverified; launch slower, the large allocation 0.5 % slower, the small
//! one not measured; managed memory and long blocks bypass its limits).

use gpu_virt_bench::baseline::{Disagreement, Pass, Passes};
use gpu_virt_bench::report::compare::NATIVE;
use gpu_virt_bench::report::stats::Verdict;
use gpu_virt_bench::report::{compare_markdown, compare_report};
use gpu_virt_bench::Error;
use std::fs;
use std::path::{Path, PathBuf};

mod common;
use common::{edit_entry, fixture_copy, fixtures, section, GPU};

/// The table row of `config` in `text`.
fn row<'a>(text: &'a str, config: &str) -> &'a str {
    text.lines()
        .find(|line| line.starts_with(&format!("| {config} ")))
        .unwrap_or_else(|| panic!("no row for {config} in:\n{text}"))
}

fn configs_in_order(text: &str) -> Vec<&str> {
    text.lines()
        .filter_map(|line| line.strip_prefix("| ")?.split(' ').next())
        .filter(|cell| cell.starts_with("native") || cell.starts_with("hami-"))
        .collect()
}

fn corrupt_folder(err: Error) -> (PathBuf, String) {
    match err {
        Error::CorruptBaseline { path, reason } => (path, reason),
        other => panic!("expected CorruptBaseline, got {other:?}"),
    }
}

/// The verdict cell of a change measured in one round.
const NOT_TESTED: &str = "| not tested: 1 round (use --rounds 2 or more) |";

#[test]
fn the_verification_table_names_the_interposer_build_that_ran() {
    let markdown = compare_markdown(&fixtures()).unwrap();
    let verification = section(&markdown, "### Verification");
    assert!(
        verification.contains(
            "| hami-50 | **UNVERIFIED** | yes (/usr/local/lib/libvgpu.so; sha256 1a2b3c4d5e6f; \
             build id 0f1e2d3c; GIT_BRANCH_main; GIT_HASH_8f3a89c; debug info) |"
        ),
        "{verification}"
    );
    assert!(
        verification.contains("| hami-100 | verified | yes (/usr/local/lib/libvgpu.so) |"),
        "a run saved before the identity was kept shows the path alone: {verification}"
    );
}

#[test]
fn tables_show_figures_and_which_pass_they_come_from() {
    let markdown = compare_markdown(&fixtures()).unwrap();
    let launch = section(&markdown, "### OH-001 launch-call (us, lower is better)");
    assert!(
        launch.contains("| Configuration | Median | Mean | p99 | Change vs native | Significant |")
    );
    assert!(
        launch.contains(
            "Median, mean and change vs native: Criterion's samples; p99: the per-call pass"
        ),
        "{launch}"
    );
    assert!(!launch.contains("unstable"), "{launch}");
    assert!(
        row(launch, NATIVE).ends_with("| 6.400 | — | — |"),
        "{launch}"
    );
    let small = section(&markdown, "### OH-002 small (us, lower is better)");
    assert_eq!(
        row(small, "hami-50 (UNVERIFIED)"),
        "| hami-50 (UNVERIFIED) | not measured | — | — | — | — |"
    );
    let large = section(&markdown, "### OH-002 large (us, lower is better)");
    assert!(
        large.contains("\nMedian, mean and change vs native: Criterion's samples.\n"),
        "no per-call pass: {large}"
    );
}

#[test]
fn one_round_shows_each_change_and_its_interval_but_tests_none() {
    let markdown = compare_markdown(&fixtures()).unwrap();
    let launch = section(&markdown, "### OH-001 launch-call (us, lower is better)");
    let slower = row(launch, "hami-50 (UNVERIFIED)");
    assert!(slower.ends_with(NOT_TESTED), "{slower}");
    assert!(slower.contains("| +3"), "about +30 %: {slower}");
    assert!(
        !slower.contains(" rounds "),
        "no range of one round: {slower}"
    );
    let small = section(&markdown, "### OH-002 small (us, lower is better)");
    let faster = row(small, "hami-100");
    assert!(faster.ends_with(NOT_TESTED), "{faster}");
    assert!(faster.contains("| -10.2 % [-10.9, -9.6] |"), "{faster}");
    for line in markdown.lines().filter(|l| l.starts_with("| hami-")) {
        for verdict in ["yes, faster", "yes, slower", "within noise", "| no |"] {
            assert!(!line.contains(verdict), "{verdict} from one round: {line}");
        }
    }
    assert!(markdown.contains("With a single round no change is called significant"));
}

#[test]
fn two_rounds_that_agree_test_each_change() {
    let root = common::two_round_fixture();
    let markdown = compare_markdown(root.path()).unwrap();

    let launch = section(&markdown, "### OH-001 launch-call (us, lower is better)");
    assert!(row(launch, "hami-100").ends_with("| no |"), "{launch}");
    let slower = row(launch, "hami-50 (UNVERIFIED)");
    assert!(slower.ends_with("| yes, slower |"), "{slower}");
    assert!(slower.contains("| +3"), "about +30 %: {slower}");
    assert!(slower.contains("; 2 rounds +3"), "{slower}");

    let small = section(&markdown, "### OH-002 small (us, lower is better)");
    let faster = row(small, "hami-100");
    assert!(faster.ends_with("| yes, faster |"), "{faster}");
    assert!(faster.contains("| -1"), "about -10 %: {faster}");

    let large = section(&markdown, "### OH-002 large (us, lower is better)");
    let noise = row(large, "hami-50 (UNVERIFIED)");
    assert!(noise.ends_with("| within noise |"), "{noise}");
    assert!(noise.contains("| — | +0.5 % ["), "no p99, +0.5 %: {noise}");
}

#[test]
fn header_shows_device_and_verification() {
    let markdown = compare_markdown(&fixtures()).unwrap();
    assert!(markdown.contains(&format!("## NVIDIA Test GPU ({GPU})")));
    assert!(markdown.contains(
        "Device: NVIDIA Test GPU, compute capability 8.0, 108 SMs, 40960 MiB, driver CUDA 12.8"
    ));
    let checks = section(&markdown, "### Verification");
    let native = row(checks, NATIVE);
    assert!(
        native.contains("| verified | no | not configured | 40960 MiB / none | — | none |"),
        "{native}"
    );
    assert!(
        native.contains("short-blocks: not configured — 100.0 % ± 0.7 % of native over 4 windows;"),
        "{native}"
    );
    let hami100 = row(checks, "hami-100");
    assert!(
        hami100.contains(
            "short-blocks: inconclusive (4 windows, fewer than 8) — 99.0 % ± 1.0 % of native \
             over 4 windows vs 100 % SM limit"
        ),
        "{hami100}"
    );
    let hami50 = row(checks, "hami-50");
    for expected in [
        "**UNVERIFIED**",
        "| enforced | 20480 MiB / 20480 MiB |",
        "refused (CUDA_ERROR_OUT_OF_MEMORY)",
        "| 50 % |",
        "short-blocks: enforced — 50.9 % ± 0.1 % of native over 10 windows vs 50 % SM limit",
        "long-blocks: **exceeded** — 96.5 % ± 0.2 % of native over 10 windows vs 50 % SM limit",
    ] {
        assert!(hami50.contains(expected), "{expected} not in {hami50}");
    }
    assert!(checks.contains("Verified means the configuration ran as configured"));
    assert!(checks.contains("- hami-50: long-blocks shape delivered 96.5 %"));
}

#[test]
fn metrics_by_id_then_native_variant_order_and_configs_by_limit() {
    let markdown = compare_markdown(&fixtures()).unwrap();
    let headings: Vec<&str> = markdown
        .lines()
        .filter(|line| line.starts_with("### OH-"))
        .collect();
    assert_eq!(
        headings,
        [
            "### OH-001 launch-call (us, lower is better)",
            "### OH-002 small (us, lower is better)",
            "### OH-002 large (us, lower is better)",
        ]
    );
    for heading in headings.iter().chain(&["### Verification"]) {
        assert_eq!(
            configs_in_order(section(&markdown, heading)),
            [NATIVE, "hami-100", "hami-50"],
            "{heading}"
        );
    }
}

fn verdicts(dir: &Path) -> Vec<Vec<Option<Verdict>>> {
    let report = compare_report(dir).unwrap();
    assert!(report.gpus[0].has_native);
    report.gpus[0]
        .metrics
        .iter()
        .map(|table| {
            table
                .rows
                .iter()
                .map(|row| row.measured.as_ref()?.change.map(|c| c.verdict))
                .collect()
        })
        .collect()
}

#[test]
fn report_data_carries_the_verdicts() {
    let root = common::two_round_fixture();
    assert_eq!(
        verdicts(root.path()),
        [
            vec![None, Some(Verdict::NoChange), Some(Verdict::Regressed)],
            vec![None, Some(Verdict::Improved), None],
            vec![None, Some(Verdict::NoChange), Some(Verdict::WithinNoise)],
        ]
    );
    let json = serde_json::to_value(compare_report(root.path()).unwrap()).unwrap();
    assert_eq!(
        json["gpus"][0]["metrics"][0]["rows"][2]["measured"]["change"]["verdict"],
        "regressed"
    );
}

#[test]
fn report_data_of_one_round_carries_changes_not_tested() {
    let tested = Some(Verdict::NotTested);
    assert_eq!(
        verdicts(&fixtures()),
        [
            vec![None, tested, tested],
            vec![None, tested, None],
            vec![None, tested, tested],
        ]
    );
    let json = serde_json::to_value(compare_report(&fixtures()).unwrap()).unwrap();
    let change = &json["gpus"][0]["metrics"][0]["rows"][2]["measured"]["change"];
    assert_eq!(change["verdict"], "not_tested");
    assert!(change["change_mean"].as_f64().unwrap() > 0.25, "{change}");
    assert!(change["ci_low"].as_f64().unwrap() > 0.0, "{change}");
}

#[test]
fn a_configuration_with_one_round_beside_a_native_with_two_is_not_tested() {
    let root = fixture_copy();
    common::add_round(&root.path().join(GPU), NATIVE, 1.0);
    let markdown = compare_markdown(root.path()).unwrap();
    let small = section(&markdown, "### OH-002 small (us, lower is better)");
    assert!(row(small, "hami-100").ends_with(NOT_TESTED), "{small}");
}

#[test]
fn a_gpu_folder_and_its_parent_give_the_same_report() {
    assert_eq!(
        compare_markdown(&fixtures()).unwrap(),
        compare_markdown(&fixtures().join(GPU)).unwrap()
    );
}

#[test]
fn damaged_configurations_are_errors_naming_the_folder() {
    type Damage = fn(&Path);
    let cases: [(&str, &str, Damage); 5] = [
        ("hami-50", "sample", |dir| {
            fs::remove_file(dir.join("criterion/overhead/OH-001/launch-call/hami-50/sample.json"))
                .unwrap()
        }),
        ("native", "run.json", |dir| {
            let run = fs::read_to_string(dir.join("run.json")).unwrap();
            fs::write(dir.join("run.json"), &run[..run.len() / 2]).unwrap()
        }),
        ("hami-100", "run.json", |dir| {
            fs::remove_file(dir.join("run.json")).unwrap()
        }),
        ("hami-100", "summary.json is for 'hami-25'", |dir| {
            let summary = fs::read_to_string(dir.join("summary.json")).unwrap();
            fs::write(
                dir.join("summary.json"),
                summary.replace("\"config\": \"hami-100\"", "\"config\": \"hami-25\""),
            )
            .unwrap()
        }),
        (
            "hami-50",
            "Criterion sample of OH-002/large is unusable",
            |dir| {
                fs::write(
                    dir.join("criterion/overhead/OH-002/large/hami-50/sample.json"),
                    r#"{"sampling_mode":"Linear","iters":[1.0,2.0],"times":[5.0]}"#,
                )
                .unwrap()
            },
        ),
    ];
    for (config, expected, damage) in cases {
        let root = fixture_copy();
        let folder = root.path().join(GPU).join(config);
        damage(&folder);
        let (path, reason) = corrupt_folder(compare_markdown(root.path()).unwrap_err());
        assert_eq!(path, folder);
        assert!(reason.contains(expected), "{expected} not in {reason}");
    }
}

#[test]
fn a_folder_renamed_away_from_its_configuration_is_an_error() {
    let root = fixture_copy();
    let gpu = root.path().join(GPU);
    fs::rename(gpu.join("hami-50"), gpu.join("hami-40")).unwrap();
    let (path, reason) = corrupt_folder(compare_markdown(root.path()).unwrap_err());
    assert_eq!(path, gpu.join("hami-40"));
    assert!(
        reason.contains("'hami-40' but run.json is for 'hami-50'"),
        "{reason}"
    );
}

#[test]
fn an_empty_folder_asks_for_a_run_first() {
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir(dir.path().join("isolation")).unwrap();
    match compare_markdown(dir.path()).unwrap_err() {
        Error::Invalid(message) => assert!(message.contains("run `gpu-virt-bench run` first")),
        other => panic!("expected Invalid, got {other:?}"),
    }
}

#[test]
fn a_configuration_folder_is_not_a_report_root() {
    match compare_markdown(&fixtures().join(GPU).join("hami-50")).unwrap_err() {
        Error::Invalid(message) => assert!(message.contains("point the report at the GPU folder")),
        other => panic!("expected Invalid, got {other:?}"),
    }
}

#[test]
fn hidden_staging_and_unrelated_folders_are_passed_over() {
    let root = fixture_copy();
    let gpu = root.path().join(GPU);
    let staging = gpu.join(".staging-hami-25");
    fs::create_dir_all(staging.join("criterion")).unwrap();
    fs::write(staging.join("run.json"), "{").unwrap();
    fs::create_dir_all(gpu.join("isolation")).unwrap();
    fs::write(gpu.join("isolation/notes.txt"), "not a configuration").unwrap();
    fs::create_dir_all(root.path().join(".staging/other-gpu/native")).unwrap();
    fs::write(root.path().join(".staging/other-gpu/native/run.json"), "{").unwrap();

    let markdown = compare_markdown(root.path()).unwrap();
    assert_eq!(markdown, compare_markdown(&fixtures()).unwrap());
    assert!(!markdown.contains("hami-25"));
}

#[test]
fn without_native_there_is_nothing_to_compare_against() {
    let root = fixture_copy();
    fs::remove_dir_all(root.path().join(GPU).join(NATIVE)).unwrap();
    let markdown = compare_markdown(root.path()).unwrap();
    assert!(markdown.contains("No native baseline"));
    let launch = section(&markdown, "### OH-001 launch-call (us, lower is better)");
    assert_eq!(configs_in_order(launch), ["hami-100", "hami-50"]);
    assert!(row(launch, "hami-100").ends_with("| — | — |"), "{launch}");
}

#[test]
fn isolation_scenarios_alone_are_compared_with_the_device_they_ran_on() {
    let root = fixture_copy();
    let gpu = root.path().join(GPU);
    for config in fs::read_dir(&gpu).unwrap() {
        let path = config.unwrap().path();
        if path.file_name().unwrap() != "isolation" {
            fs::remove_dir_all(path).unwrap();
        }
    }
    let markdown = compare_markdown(root.path()).unwrap();
    assert!(markdown.contains("Device: NVIDIA"), "{markdown}");
    assert!(
        markdown.contains("### Isolation: memory-hami-50-vs-hami-50"),
        "{markdown}"
    );
    assert!(!markdown.contains("### OH-001"), "{markdown}");
}

/// hami-100's OH-002 small row after a second round of native and of hami-100, with
/// their times scaled by `native` and `hami_100` against round 1.
fn small_row_with_round_two(native: f64, hami_100: f64) -> String {
    let tmp = fixture_copy();
    let gpu = tmp.path().join(GPU);
    common::add_round(&gpu, NATIVE, native);
    common::add_round(&gpu, "hami-100", hami_100);
    let markdown = compare_markdown(&gpu).unwrap();
    row(
        section(&markdown, "### OH-002 small (us, lower is better)"),
        "hami-100",
    )
    .to_owned()
}

#[test]
fn rounds_that_agree_keep_the_change_and_show_their_range() {
    let small = small_row_with_round_two(1.0, 1.0);
    assert!(small.ends_with("| yes, faster |"), "{small}");
    assert!(small.contains("; 2 rounds -1"), "{small}");
}

#[test]
fn rounds_that_disagree_in_sign_make_the_change_not_significant() {
    let small = small_row_with_round_two(1.0, 1.25);
    assert!(small.ends_with("| no |"), "{small}");
    assert!(small.contains("; 2 rounds -1"), "{small}");
    assert!(small.contains("..+1"), "round 2 is about +12 %: {small}");
}

#[test]
fn rounds_that_agree_in_sign_but_scatter_make_the_change_not_significant() {
    let small = small_row_with_round_two(1.0, 0.7);
    assert!(small.ends_with("| no |"), "{small}");
    assert!(
        small.contains("; 2 rounds -3"),
        "round 2 is about -37 %: {small}"
    );
    assert!(small.contains("..-1"), "round 1 is about -10 %: {small}");
}

#[test]
fn a_round_of_another_configuration_is_an_error() {
    let tmp = fixture_copy();
    let gpu = tmp.path().join(GPU);
    common::copy_dir(
        &gpu.join("hami-100"),
        &gpu.join(NATIVE).join("rounds").join("2"),
    );
    let (path, reason) = corrupt_folder(compare_markdown(&gpu).unwrap_err());
    assert!(path.ends_with("native/rounds/2"), "{}", path.display());
    assert!(reason.contains("hami-100"), "{reason}");
}

#[test]
fn isolation_scenarios_get_a_table_of_tenants() {
    let markdown = compare_markdown(&fixtures()).unwrap();
    let scenario = section(
        &markdown,
        "### Isolation: hami-50-victim-native-aggressor (separate pods, 10 s per phase)",
    );
    assert!(scenario.contains("IS-008 Jain's index of the tenants' throughputs: 1.000"));
    assert!(
        scenario.contains("Kernel shape (IS-003): short (8 blocks per SM of 0.1 ms)."),
        "saved before the shape axis, so the short shape: {scenario}"
    );
    let victim = row(scenario, "t1");
    assert!(
        victim.starts_with("| t1 | hami-50 | victim | 23.3 % (limit 50 %) | 66.9 % |"),
        "{victim}"
    );
    assert!(victim.contains("| 65.2 % |"), "interference: {victim}");
    assert!(victim.contains("40000 / 40539 MiB (98.7 %)"), "{victim}");
    assert!(
        victim.ends_with("CUDA_ERROR_OUT_OF_MEMORY in 95.40 us |"),
        "{victim}"
    );
    let aggressor = row(scenario, "t2");
    assert!(aggressor.contains("| native | aggressor |"), "{aggressor}");
}

#[test]
fn a_damaged_scenario_is_an_error_naming_its_folder() {
    let tmp = fixture_copy();
    let scenario = tmp
        .path()
        .join(GPU)
        .join("isolation/hami-50-victim-native-aggressor");
    fs::write(scenario.join("scenario.json"), "{\"scenario\":").unwrap();
    let (path, reason) = corrupt_folder(compare_markdown(tmp.path()).unwrap_err());
    assert_eq!(path, scenario);
    assert!(reason.contains("scenario.json"), "{reason}");
}

#[test]
fn a_memory_probe_shows_what_each_path_returned() {
    let markdown = compare_markdown(&fixtures()).unwrap();
    let memory = section(
        &markdown,
        "### Isolation: memory-hami-50-vs-hami-50 (IS-005 Cross-tenant memory isolation, separate pods)",
    );
    assert!(memory.contains("Verdict: **isolated**"), "{memory}");
    assert!(
        memory.contains("0 of 1048576 words of t1 were changed"),
        "{memory}"
    );
    let path = |name: &str| {
        memory
            .lines()
            .find(|line| line.starts_with(&format!("| {name} |")))
            .unwrap_or_else(|| panic!("no row for {name} in:\n{memory}"))
    };
    assert!(
        path("raw pointer, cuMemcpyDtoH")
            .contains("| CUDA_ERROR_INVALID_VALUE | cuMemcpyDtoH | 0 | 0 |"),
        "{memory}"
    );
    assert!(
        path("raw pointer, kernel").contains("| CUDA_ERROR_ILLEGAL_ADDRESS |"),
        "{memory}"
    );
    assert!(
        path("IPC handle (explicit sharing)").ends_with(
            "| CUDA_SUCCESS | — | 8388608 | 1048576 | read 1048576 words of the victim's data |"
        ),
        "{memory}"
    );
}

#[test]
fn a_scenario_of_an_unknown_kind_is_an_error_naming_its_folder() {
    let tmp = fixture_copy();
    let scenario = tmp
        .path()
        .join(GPU)
        .join("isolation/memory-hami-50-vs-hami-50");
    let file = scenario.join("scenario.json");
    let text = fs::read_to_string(&file)
        .unwrap()
        .replace("\"kind\": \"memory\"", "\"kind\": \"telepathy\"");
    fs::write(&file, text).unwrap();
    let (path, reason) = corrupt_folder(compare_markdown(tmp.path()).unwrap_err());
    assert_eq!(path, scenario);
    assert!(reason.contains("telepathy"), "{reason}");
}

#[test]
fn a_fault_probe_shows_the_fault_and_the_victim_before_and_after() {
    let markdown = compare_markdown(&fixtures()).unwrap();
    let fault = section(
        &markdown,
        "### Isolation: fault-hami-50-vs-hami-50 (IS-010 Fault isolation, separate pods, 10 s)",
    );
    assert!(
        fault.contains("t1 (hami-50) wrote to 0x10: launch CUDA_SUCCESS, synchronize CUDA_ERROR_ILLEGAL_ADDRESS"),
        "{fault}"
    );
    assert!(fault.contains("Verdict: **isolated**"), "{fault}");
    assert_eq!(
        row(fault, "t2"),
        "| t2 | 35515 | 0 | — | 3973 | 3528 | 1904 | 88.8 % |"
    );
}

#[test]
fn an_old_row_whose_p99_is_below_its_median_is_marked_unstable_with_both_figures() {
    let tmp = fixture_copy();
    let gpu = tmp.path().join(GPU);
    // Written before passes were recorded: the report checks it from its figures.
    edit_entry(&gpu, "hami-100", "OH-001", "launch-call", |e| {
        e["p99"] = 3.5.into()
    });
    let markdown = compare_markdown(&gpu).unwrap();
    let launch = section(&markdown, "### OH-001 launch-call (us, lower is better)");
    let unstable = row(launch, "hami-100");
    assert!(
        unstable.starts_with(
            "| hami-100 | 3.998 (unstable: per-call p50 3.960, p99 3.500) | 4.003 | 3.500 |"
        ),
        "{unstable}"
    );
    assert!(!row(launch, NATIVE).contains("unstable"), "{launch}");

    let report = compare_report(&gpu).unwrap();
    let measured = report.gpus[0].metrics[0].rows[1].measured.as_ref().unwrap();
    let marker = measured.unstable.as_ref().expect("marked");
    assert_eq!(marker.disagreements, [Disagreement::MedianAboveP99]);
    assert_eq!(
        (marker.per_call_p1, marker.per_call_p50, marker.per_call_p99),
        (None, 3.96, 3.5)
    );
    assert_eq!(
        measured.passes,
        Passes {
            median_mean: Pass::Criterion,
            percentiles: Some(Pass::PerCall)
        }
    );
}

#[test]
fn a_recorded_marker_is_shown_as_recorded_with_the_per_call_p1() {
    let tmp = fixture_copy();
    let gpu = tmp.path().join(GPU);
    edit_entry(&gpu, "hami-100", "OH-002", "small", |e| {
        e["median"] = 30.0.into();
        e["p1"] = 8.1.into();
        e["passes"] = serde_json::json!({"median_mean": "criterion", "percentiles": "per_call"});
        e["unstable"] = serde_json::json!({
            "criterion_median": 30.0, "per_call_p50": 8.91, "per_call_p1": 8.1,
            "per_call_p99": 14.4, "disagreements": ["median_above_p99", "medians_apart"]
        });
    });
    let markdown = compare_markdown(&gpu).unwrap();
    let small = row(
        section(&markdown, "### OH-002 small (us, lower is better)"),
        "hami-100",
    );
    assert!(
        small.starts_with(
            "| hami-100 | 30.00 (unstable: per-call p1 8.100, p50 8.910, p99 14.40) |"
        ),
        "{small}"
    );
}

/// The enforcement matrix's row of path `id`.
fn path_row<'a>(matrix: &'a str, id: &str) -> &'a str {
    matrix
        .lines()
        .find(|line| line.starts_with(&format!("| {id} ")))
        .unwrap_or_else(|| panic!("no row for {id} in:\n{matrix}"))
}

#[test]
fn each_gpu_opens_with_the_enforcement_matrix_bypasses_first() {
    let markdown = compare_markdown(&fixtures()).unwrap();
    let device = markdown.find("\nDevice: NVIDIA Test GPU").unwrap();
    let matrix_at = markdown.find("### Enforcement").unwrap();
    let next_heading = markdown[device..].find("\n#").unwrap() + device;
    assert_eq!(
        next_heading + 1,
        matrix_at,
        "the matrix follows the device line"
    );
    assert!(matrix_at < markdown.find("### Verification").unwrap());

    let matrix = section(&markdown, "### Enforcement");
    assert!(
        matrix.contains("| Path | Kind | native | hami-50 |\n|---|---|---|---|\n"),
        "columns are the probed configurations in report order: {matrix}"
    );
    let ids: Vec<&str> = matrix
        .lines()
        .filter_map(|line| line.strip_prefix("| ENF-"))
        .map(|rest| &rest[..3])
        .collect();
    assert_eq!(
        ids,
        ["004", "016", "008", "007", "001", "003", "005", "006", "011", "020", "002"],
        "bypassed, crashed, refused, then by id; not-applicable everywhere last"
    );
    assert!(path_row(matrix, "ENF-004")
        .ends_with("| **bypassed +4.0 GiB (24.0 GiB held vs 20.0 GiB limit)** |"));
    assert!(path_row(matrix, "ENF-016").contains(
        "| SM | inconclusive: no SM limit is configured | **bypassed +49.8 pts (99.8 % of native vs 50.0 % limit)** |"
    ));
    assert!(path_row(matrix, "ENF-008").ends_with("| **crashed: signal 11** |"));
    assert!(path_row(matrix, "ENF-007").ends_with(
        "| refused-unlike-native (status -1, which is no CUresult (an interposer returned it)) |"
    ));
    assert!(path_row(matrix, "ENF-001").ends_with("| enforced (19.9 GiB of 20.0 GiB) |"));
    assert!(path_row(matrix, "ENF-002")
        .ends_with("| not-applicable: no libcudart | not-applicable: no libcudart |"));
    assert!(matrix.contains(
        "- hami-50: 612 MiB in use before the probes, 612 MiB after; no probe child left\n"
    ));
    assert!(
        matrix.contains("No enforcement probes for hami-100.\n"),
        "{matrix}"
    );
    let findings = matrix.split("Findings:\n\n").nth(1).expect("findings");
    let findings: Vec<&str> = findings.lines().take_while(|l| !l.is_empty()).collect();
    assert_eq!(
        findings,
        [
            "- hami-50: cuMemAllocManaged bypassed the 20.0 GiB memory limit by 4.0 GiB",
            "- hami-50: cuLaunchKernel, long blocks (1 ms) bypassed the 50.0 % SM limit by 49.8 pts",
            "- hami-50: cuMemAllocFromPoolAsync (own pool) fails where it works natively \
             (status -1, which is no CUresult (an interposer returned it))",
        ]
    );
}

#[test]
fn a_gpu_without_enforcement_probes_says_so() {
    let root = fixture_copy();
    let gpu = root.path().join(GPU);
    for config in [NATIVE, "hami-50"] {
        fs::remove_file(gpu.join(config).join("enforcement.json")).unwrap();
    }
    let markdown = compare_markdown(root.path()).unwrap();
    assert_eq!(
        section(&markdown, "### Enforcement"),
        "\n\nNo enforcement probes in this run.\n"
    );
    let report = compare_report(root.path()).unwrap();
    let matrix = &report.gpus[0].enforcement;
    assert!(matrix.rows.is_empty() && matrix.configs.is_empty());
    assert_eq!(matrix.unprobed, [NATIVE, "hami-100", "hami-50"]);
}

#[test]
fn a_damaged_enforcement_json_is_an_error_naming_the_file() {
    let root = fixture_copy();
    let folder = root.path().join(GPU).join("hami-50");
    let file = folder.join("enforcement.json");
    let text = fs::read_to_string(&file).unwrap();
    fs::write(&file, &text[..text.len() / 2]).unwrap();
    let err = compare_markdown(root.path()).unwrap_err();
    let line = err.to_string();
    assert_eq!(line.lines().count(), 1, "{line}");
    assert!(line.contains(&file.display().to_string()), "{line}");
    let (path, _) = corrupt_folder(err);
    assert_eq!(path, folder);

    fs::write(
        &file,
        text.replace("\"config\": \"hami-50\"", "\"config\": \"hami-25\""),
    )
    .unwrap();
    let (path, reason) = corrupt_folder(compare_markdown(root.path()).unwrap_err());
    assert_eq!(path, folder);
    assert_eq!(
        reason,
        "enforcement.json is for 'hami-25' but run.json for 'hami-50'"
    );
}

#[test]
fn the_matrix_shows_round_one_of_an_interleaved_run() {
    let root = common::two_round_fixture();
    let round_two = root
        .path()
        .join(GPU)
        .join("hami-50/rounds/2/enforcement.json");
    let text = fs::read_to_string(&round_two).unwrap();
    fs::write(
        &round_two,
        text.replace("\"bypassed\"", "\"enforced\"")
            .replace("\"excess\"", "\"unused\""),
    )
    .unwrap();
    let report = compare_report(root.path()).unwrap();
    let matrix = &report.gpus[0].enforcement;
    assert_eq!(matrix.rows[0].id, "ENF-004");
    assert_eq!(
        matrix.rows[0]
            .cell("hami-50")
            .unwrap()
            .outcome
            .verdict
            .word(),
        "bypassed"
    );
}

#[test]
fn a_path_one_configuration_did_not_probe_and_memory_left_behind_are_shown() {
    let root = fixture_copy();
    let file = root.path().join(GPU).join("hami-50/enforcement.json");
    let mut record: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(&file).unwrap()).unwrap();
    let probes = record["probes"].as_array_mut().unwrap();
    probes.retain(|p| p["id"] != "ENF-020");
    record["used_after_mib"] = 1636.into();
    record["children_left"] = 1.into();
    fs::write(&file, record.to_string()).unwrap();
    let markdown = compare_markdown(root.path()).unwrap();
    let matrix = section(&markdown, "### Enforcement");
    assert!(
        path_row(matrix, "ENF-020")
            .ends_with("| inconclusive: no memory limit is configured | not probed |"),
        "{matrix}"
    );
    assert!(matrix.contains(
        "- hami-50: **612 MiB in use before the probes, 1636 MiB after: 1024 MiB left behind; \
         1 probe child left running**\n"
    ));
}

#[test]
fn csv_and_json_exports_carry_one_row_per_variant_configuration_and_round() {
    let root = common::two_round_fixture();
    let report = compare_report(root.path()).unwrap();
    let rows = gpu_virt_bench::report::export::rows(&report);
    let expected: usize = report.gpus[0]
        .metrics
        .iter()
        .flat_map(|t| &t.rows)
        .filter_map(|r| r.measured.as_ref())
        .map(|m| 1 + m.round_changes.len())
        .sum();
    assert_eq!(
        rows.len(),
        expected,
        "a pooled row and one per round of each change"
    );
    assert!(
        rows.len() > 8,
        "two rounds of the configurations compared with native"
    );

    let csv = gpu_virt_bench::report::export::csv(&report).unwrap();
    let mut lines = csv.lines();
    assert_eq!(
        lines.next().unwrap(),
        "gpu,id,variant,unit,better,config,round,median,mean,p99,change,change_ci_low,\
         change_ci_high,verdict,unstable"
    );
    assert_eq!(lines.count(), rows.len());
    let pooled = csv
        .lines()
        .find(|l| {
            l.starts_with(&format!(
                "{GPU},OH-001,launch-call,us,lower,hami-50,pooled,"
            ))
        })
        .unwrap();
    let fields: Vec<&str> = pooled.split(',').collect();
    let change: f64 = fields[10].parse().unwrap();
    let (low, high): (f64, f64) = (fields[11].parse().unwrap(), fields[12].parse().unwrap());
    assert!(low <= change && change <= high, "{pooled}");
    assert!(
        csv.lines().any(|l| l.contains(",hami-50,2,,,,")),
        "a row per round, its change alone"
    );

    let json: serde_json::Value =
        serde_json::from_str(&gpu_virt_bench::report::export::json(&report).unwrap()).unwrap();
    assert_eq!(json.as_array().unwrap().len(), rows.len());
    let hami = |round: serde_json::Value| {
        json.as_array()
            .unwrap()
            .iter()
            .any(|row| row["config"] == "hami-50" && row["round"] == round)
    };
    assert!(
        hami("pooled".into()) && hami(1.into()) && hami(2.into()),
        "{json}"
    );
}

#[test]
fn compare_writes_the_format_it_is_asked_for() {
    let out = tempfile::tempdir().unwrap();
    let file = out.path().join("comparison.csv");
    let run = assert_cmd::Command::cargo_bin("gpu-virt-bench")
        .unwrap()
        .env_remove(gpu_virt_bench::run::child::CHILD_VAR)
        .args(["compare", "--format", "csv", "--out"])
        .arg(&file)
        .arg(fixtures())
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let printed = String::from_utf8(run.stdout).unwrap();
    assert!(printed.starts_with("gpu,id,variant"), "{printed}");
    assert_eq!(fs::read_to_string(&file).unwrap(), printed);
    let bad = assert_cmd::Command::cargo_bin("gpu-virt-bench")
        .unwrap()
        .args(["compare", "--format", "xlsx"])
        .arg(fixtures())
        .output()
        .unwrap();
    assert_eq!(
        bad.status.code(),
        Some(2),
        "an unknown format is a usage error"
    );
}

#[test]
fn metrics_follow_the_registry_and_a_throughput_names_its_measured_ceiling() {
    let tmp = fixture_copy();
    for (config, scale) in [("native", 1.0), ("hami-100", 0.97), ("hami-50", 0.9)] {
        let path = tmp.path().join(GPU).join(config).join("summary.json");
        let mut summary: serde_json::Value =
            serde_json::from_str(&fs::read_to_string(&path).unwrap()).unwrap();
        let samples: Vec<f64> = (0..5).map(|i| 3884.0 * scale + f64::from(i)).collect();
        let median = samples[2];
        summary["entries"]
            .as_array_mut()
            .unwrap()
            .push(serde_json::json!({
                "id": "BW-001", "variant": "stream-kernel", "unit": "GB/s", "better": "higher",
                "median": median, "mean": median, "ci_low": samples[0], "ci_high": samples[4],
                "samples": samples,
                "peak": {"source": "DRAM from device attributes", "value": 4814.0,
                         "fraction": median / 4814.0},
                "measured_peak": {
                    "source": "cuMemcpyDtoDAsync of 480 MiB in this run, read + write",
                    "value": 4249.0, "fraction": median / 4249.0
                }
            }));
        fs::write(&path, summary.to_string()).unwrap();
    }
    let markdown = compare_markdown(tmp.path()).unwrap();
    let at = |heading: &str| {
        markdown
            .find(heading)
            .unwrap_or_else(|| panic!("{heading}"))
    };
    // The registry lists OH before BW; by name BW would come first.
    assert!(at("### OH-002 large") < at("### BW-001 stream-kernel"));
    let stream = section(
        &markdown,
        "### BW-001 stream-kernel (GB/s, higher is better)",
    );
    assert!(
        row(stream, NATIVE).contains("(80.7 % of peak, 91.5 % of cuMemcpyDtoDAsync of 480 MiB)"),
        "{stream}"
    );
}
