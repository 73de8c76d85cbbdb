use super::{
    EnforcementRecord, ExecRecord, RunRecord, Summary, CRITERION_DIR, ENFORCEMENT_FILE, EXEC_FILE,
    RUN_FILE, SUMMARY_FILE,
};
use crate::error::{io_at, Error, Result};
use serde::{de::DeserializeOwned, Serialize};
use std::path::{Path, PathBuf};

/// Writes JSON through a temporary file and a rename, so a crash never leaves a
/// half-written file where a complete one is expected.
pub fn write_json_atomic(path: &Path, value: &impl Serialize) -> Result<()> {
    let tmp = path.with_extension("json.tmp");
    let text = serde_json::to_string_pretty(value).map_err(|source| Error::Json {
        path: path.to_path_buf(),
        source,
    })?;
    std::fs::write(&tmp, text + "\n").map_err(io_at(&tmp))?;
    std::fs::rename(&tmp, path).map_err(io_at(path))
}

/// Reads and parses one JSON file, naming the file in any error.
pub fn read_json<T: DeserializeOwned>(path: &Path) -> Result<T> {
    let text = std::fs::read_to_string(path).map_err(io_at(path))?;
    serde_json::from_str(&text).map_err(|source| Error::Json {
        path: path.to_path_buf(),
        source,
    })
}

/// One exported configuration folder, read back and checked for completeness.
#[derive(Debug, Clone)]
pub struct Baseline {
    pub dir: PathBuf,
    pub run: RunRecord,
    pub summary: Summary,
    /// What the enforcement probes (ENF) found; `None` where the run did not probe,
    /// which is no fault: the baseline then simply has no enforcement matrix.
    pub enforcement: Option<EnforcementRecord>,
    /// How each run of the user's command ended, for an `exec` export; `None` for any
    /// other.
    pub exec: Option<ExecRecord>,
}

impl Baseline {
    /// Loads `dir`; a missing or unparsable run.json or summary.json, an unparsable
    /// enforcement.json or exec.json (both may be absent), or a summary entry whose Criterion
    /// folder is absent, is [`Error::CorruptBaseline`]: a partial baseline must never
    /// be compared as if it were complete. A run.json from before limit verdicts were
    /// stored gets them judged here, so every loaded baseline carries them.
    pub fn load(dir: &Path) -> Result<Self> {
        let corrupt = |reason: String| Error::CorruptBaseline {
            path: dir.to_path_buf(),
            reason,
        };
        let mut run: RunRecord =
            read_json(&dir.join(RUN_FILE)).map_err(|e| corrupt(e.to_string()))?;
        if run.verification.verdicts.is_none() {
            run.verification.verdicts = Some(run.verification.limit_verdicts());
        }
        let summary: Summary =
            read_json(&dir.join(SUMMARY_FILE)).map_err(|e| corrupt(e.to_string()))?;
        if summary.config != run.config.name {
            return Err(corrupt(format!(
                "summary.json is for '{}' but run.json for '{}'",
                summary.config, run.config.name
            )));
        }
        for entry in &summary.entries {
            let Some(path) = &entry.criterion_path else {
                if entry.samples.as_ref().is_none_or(|s| s.len() < 2) {
                    return Err(corrupt(format!(
                        "{}/{} has neither Criterion files nor samples",
                        entry.id, entry.variant
                    )));
                }
                continue;
            };
            let bench = dir.join(CRITERION_DIR).join(path);
            if !bench.join(&run.config.name).is_dir() {
                return Err(corrupt(format!(
                    "Criterion files of {}/{} are missing ({})",
                    entry.id,
                    entry.variant,
                    bench.display()
                )));
            }
        }
        let enforcement: Option<EnforcementRecord> = optional(dir, ENFORCEMENT_FILE)?;
        let exec: Option<ExecRecord> = optional(dir, EXEC_FILE)?;
        let records = [
            enforcement.as_ref().map(|r| (ENFORCEMENT_FILE, &r.config)),
            exec.as_ref().map(|r| (EXEC_FILE, &r.config)),
        ];
        for (file, config) in records.into_iter().flatten() {
            if *config != run.config.name {
                return Err(corrupt(format!(
                    "{file} is for '{config}' but run.json for '{}'",
                    run.config.name
                )));
            }
        }
        Ok(Self {
            dir: dir.to_path_buf(),
            run,
            summary,
            enforcement,
            exec,
        })
    }
}

/// `file` in `dir` where it exists; unparsable, it makes the folder no usable baseline.
fn optional<T: DeserializeOwned>(dir: &Path, file: &str) -> Result<Option<T>> {
    let path = dir.join(file);
    if !path.is_file() {
        return Ok(None);
    }
    read_json(&path)
        .map(Some)
        .map_err(|e| Error::CorruptBaseline {
            path: dir.to_path_buf(),
            reason: e.to_string(),
        })
}
