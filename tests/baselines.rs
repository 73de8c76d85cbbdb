//! The committed baselines under criterion-baselines/, every GPU, configuration and
//! round: no row may show a p99 below its median unless it is marked unstable. Old
//! summaries carry no marker; they are checked from their figures, as the report
//! checks them (`SummaryEntry::instability`).

use gpu_virt_bench::baseline::{read_json, Summary, SUMMARY_FILE};
use std::fs;
use std::path::{Path, PathBuf};

/// Every summary.json under `dir`, at any depth (rounds/<k>/ included).
fn summaries(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            found.extend(summaries(&path));
        } else if path.file_name().is_some_and(|name| name == SUMMARY_FILE) {
            found.push(path);
        }
    }
    found
}

#[test]
fn no_committed_row_shows_a_p99_below_its_median_unless_marked_unstable() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("criterion-baselines");
    let files = summaries(&root);
    assert!(
        files
            .iter()
            .any(|f| f.components().any(|c| c.as_os_str() == "rounds")),
        "later rounds are walked too: {files:?}"
    );
    let mut unmarked = Vec::new();
    for file in &files {
        let summary: Summary = read_json(file).unwrap();
        for entry in &summary.entries {
            let Some(p99) = entry.p99 else { continue };
            if p99 < entry.median && entry.instability().is_none() {
                unmarked.push(format!(
                    "{}: {} {} median {} > p99 {p99}",
                    file.display(),
                    entry.id,
                    entry.variant,
                    entry.median
                ));
            }
        }
    }
    assert!(unmarked.is_empty(), "{unmarked:#?}");
}
