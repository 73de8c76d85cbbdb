//! Finding and loading every exported configuration under a folder, so a report
//! works whether it is pointed at one GPU's folder or at a folder of GPU folders,
//! and so a partial export stops the report instead of quietly shrinking it.

use crate::baseline::{
    read_json, Baseline, SummaryEntry, CRITERION_DIR, ROUNDS_DIR, RUN_FILE, SUMMARY_FILE,
};
use crate::error::{io_at, Error, Result};
use crate::metrics::isolation::{
    ProbeRecords, SavedScenario, ScenarioRecord, ISOLATION_DIR, SCENARIO_FILE,
};
use serde::Deserialize;
use std::cmp::Reverse;
use std::path::{Path, PathBuf};

/// Criterion's `sample.json`, the raw material of its significance test.
#[derive(Debug, Deserialize)]
struct CriterionSample {
    iters: Vec<f64>,
    times: Vec<f64>,
}

impl CriterionSample {
    /// Per-iteration time of each sample: Criterion compares these, not the totals.
    fn per_iteration(&self) -> std::result::Result<Vec<f64>, String> {
        if self.iters.len() != self.times.len() {
            return Err(format!(
                "{} iteration counts but {} times",
                self.iters.len(),
                self.times.len()
            ));
        }
        if self.iters.len() < 2 {
            return Err(format!(
                "{} sample(s); at least 2 are needed",
                self.iters.len()
            ));
        }
        self.iters
            .iter()
            .zip(&self.times)
            .map(|(&iters, &time)| {
                if iters > 0.0 && time > 0.0 && time.is_finite() {
                    Ok(time / iters)
                } else {
                    Err(format!("sample of {iters} iterations taking {time} ns"))
                }
            })
            .collect()
    }
}

/// One configuration with the per-iteration times behind each of its summary entries.
#[derive(Debug, Clone)]
pub struct LoadedConfig {
    pub baseline: Baseline,
    /// One per entry of `baseline.summary.entries`, in the same order.
    pub samples: Vec<Vec<f64>>,
    /// Rounds 2.. of an interleaved run (`run --rounds N`), from `rounds/<k>/`.
    pub later_rounds: Vec<LoadedConfig>,
}

impl LoadedConfig {
    /// The configuration's name, which is also its folder's and its Criterion baseline's.
    pub fn name(&self) -> &str {
        &self.baseline.run.config.name
    }

    /// A metric variant's summary entry and samples, if this configuration measured it.
    pub fn find(&self, id: &str, variant: &str) -> Option<(&SummaryEntry, &[f64])> {
        self.baseline
            .summary
            .entries
            .iter()
            .zip(&self.samples)
            .find(|(entry, _)| entry.id == id && entry.variant == variant)
            .map(|(entry, samples)| (entry, samples.as_slice()))
    }

    /// A metric variant's samples in every round that measured it, round 1 first.
    pub fn round_samples(&self, id: &str, variant: &str) -> Vec<&[f64]> {
        std::iter::once(self)
            .chain(&self.later_rounds)
            .filter_map(|round| round.find(id, variant).map(|(_, samples)| samples))
            .collect()
    }
}

/// What was measured on one GPU: configurations, isolation scenarios, or both.
#[derive(Debug, Clone)]
pub struct GpuBaselines {
    /// The GPU folder's name, e.g. "nvidia-h100-80gb-hbm3".
    pub slug: String,
    pub dir: PathBuf,
    /// In report order: native, then hami-N by descending N, then the rest by name.
    pub configs: Vec<LoadedConfig>,
    /// Isolation scenarios under `isolation/`, in name order.
    pub scenarios: Vec<ScenarioRecord>,
    /// Cross-tenant probes (IS-005, IS-010) under `isolation/`, in name order.
    pub probes: ProbeRecords,
}

/// Loads every configuration under `dir`, GPU folders in name order.
///
/// `dir` is one GPU folder when it holds configuration folders itself; otherwise each
/// subfolder that holds them is a GPU folder. Hidden folders (staging areas of an
/// export in progress) and folders that are no configuration (e.g. `isolation/`) are
/// passed over; a configuration folder that is incomplete is an error.
pub fn discover(dir: &Path) -> Result<Vec<GpuBaselines>> {
    if looks_like_config(dir) {
        return Err(Error::Invalid(format!(
            "{} is a single configuration's folder; point the report at the GPU folder that holds it, so it has native to compare against",
            dir.display()
        )));
    }
    let gpu_dirs = if looks_like_gpu(dir)? {
        vec![dir.to_path_buf()]
    } else {
        let mut gpu_dirs = Vec::new();
        for child in visible_subdirs(dir)? {
            if looks_like_gpu(&child)? {
                gpu_dirs.push(child);
            }
        }
        gpu_dirs
    };
    if gpu_dirs.is_empty() {
        return Err(Error::Invalid(format!(
            "no baselines under {}; run `gpu-virt-bench run` first, then point the report at its --out folder",
            dir.display()
        )));
    }
    gpu_dirs.into_iter().map(|gpu| load_gpu(&gpu)).collect()
}

/// A GPU folder holds configuration exports, isolation scenarios, or both.
fn looks_like_gpu(dir: &Path) -> Result<bool> {
    let isolation = dir.join(ISOLATION_DIR);
    Ok(
        isolation.is_dir() && !visible_subdirs(&isolation)?.is_empty()
            || visible_subdirs(dir)?
                .iter()
                .any(|child| looks_like_config(child)),
    )
}

fn load_gpu(dir: &Path) -> Result<GpuBaselines> {
    let mut configs = visible_subdirs(dir)?
        .into_iter()
        .filter(|child| looks_like_config(child))
        .map(|child| load_config(&child))
        .collect::<Result<Vec<_>>>()?;
    configs.sort_by(|a, b| config_order(a.name()).cmp(&config_order(b.name())));
    let (scenarios, probes) = load_scenarios(&dir.join(ISOLATION_DIR))?;
    Ok(GpuBaselines {
        slug: folder_name(dir),
        dir: dir.to_path_buf(),
        configs,
        scenarios,
        probes,
    })
}

/// Every scenario folder's scenario.json, by kind; one without a readable file is an
/// error.
fn load_scenarios(dir: &Path) -> Result<(Vec<ScenarioRecord>, ProbeRecords)> {
    let (mut shares, mut probes) = (Vec::new(), ProbeRecords::default());
    if !dir.is_dir() {
        return Ok((shares, probes));
    }
    for scenario in visible_subdirs(dir)? {
        let saved = SavedScenario::read(&scenario.join(SCENARIO_FILE)).map_err(|e| {
            Error::CorruptBaseline {
                path: scenario.clone(),
                reason: e.to_string(),
            }
        })?;
        match saved {
            SavedScenario::Share(record) => shares.push(*record),
            SavedScenario::Memory(record) => probes.memory.push(*record),
            SavedScenario::Fault(record) => probes.fault.push(*record),
        }
    }
    Ok((shares, probes))
}

fn load_config(dir: &Path) -> Result<LoadedConfig> {
    load_config_as(dir, &folder_name(dir))
}

/// Loads the export in `dir`, which must be of configuration `expected`.
fn load_config_as(dir: &Path, expected: &str) -> Result<LoadedConfig> {
    let corrupt = |reason: String| Error::CorruptBaseline {
        path: dir.to_path_buf(),
        reason,
    };
    let baseline = Baseline::load(dir)?;
    let name = &baseline.run.config.name;
    if expected != name {
        return Err(corrupt(format!(
            "the folder is for '{expected}' but run.json is for '{name}'"
        )));
    }
    let samples = baseline
        .summary
        .entries
        .iter()
        .map(|entry| {
            let Some(path) = &entry.criterion_path else {
                return Ok(entry.samples.clone().unwrap_or_default());
            };
            let file = dir
                .join(CRITERION_DIR)
                .join(path)
                .join(name)
                .join("sample.json");
            let sample: CriterionSample =
                read_json(&file).map_err(|e| corrupt(format!("Criterion sample: {e}")))?;
            let times = sample.per_iteration().map_err(|reason| {
                corrupt(format!(
                    "Criterion sample of {}/{} is unusable: {reason}",
                    entry.id, entry.variant
                ))
            })?;
            Ok(in_unit(times, entry.work_per_iteration))
        })
        .collect::<Result<Vec<_>>>()?;
    let later_rounds = load_rounds(dir, name)?;
    Ok(LoadedConfig {
        baseline,
        samples,
        later_rounds,
    })
}

/// Criterion's per-iteration times as the entry compares them: a throughput as the
/// rate each sample achieved (work over time), so that "higher is better" reads the
/// right way round; anything else as the times themselves.
fn in_unit(times_ns: Vec<f64>, work_per_iteration: Option<f64>) -> Vec<f64> {
    match work_per_iteration {
        Some(work) => times_ns.iter().map(|ns| work / (ns * 1e-9)).collect(),
        None => times_ns,
    }
}

/// Rounds 2.. in round order; each must be a complete export of the same configuration.
fn load_rounds(dir: &Path, name: &str) -> Result<Vec<LoadedConfig>> {
    let rounds_dir = dir.join(ROUNDS_DIR);
    if !rounds_dir.is_dir() {
        return Ok(Vec::new());
    }
    let mut rounds = visible_subdirs(&rounds_dir)?
        .into_iter()
        .map(|round| {
            let number: u32 = folder_name(&round)
                .parse()
                .map_err(|_| Error::CorruptBaseline {
                    path: round.clone(),
                    reason: "a round folder must be named by its number".into(),
                })?;
            let loaded = load_config_as(&round, name)?;
            Ok((number, loaded))
        })
        .collect::<Result<Vec<_>>>()?;
    rounds.sort_by_key(|(number, _)| *number);
    Ok(rounds.into_iter().map(|(_, loaded)| loaded).collect())
}

/// Any trace of an export marks a configuration folder, so that one missing its
/// run.json is reported as broken rather than passed over as unrelated.
fn looks_like_config(dir: &Path) -> bool {
    dir.join(RUN_FILE).is_file()
        || dir.join(SUMMARY_FILE).is_file()
        || dir.join(CRITERION_DIR).is_dir()
}

fn visible_subdirs(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut subdirs = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io_at(dir))? {
        let path = entry.map_err(io_at(dir))?.path();
        if path.is_dir() && !folder_name(&path).starts_with('.') {
            subdirs.push(path);
        }
    }
    subdirs.sort();
    Ok(subdirs)
}

/// The last component of `dir`, resolving "." and the like to the real name.
fn folder_name(dir: &Path) -> String {
    dir.file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .or_else(|| {
            let resolved = dir.canonicalize().ok()?;
            Some(resolved.file_name()?.to_string_lossy().into_owned())
        })
        .unwrap_or_default()
}

/// Native is the reference and goes first; hami-N from the loosest limit to the
/// tightest, so overhead reads as growing down the table.
fn config_order(name: &str) -> (u8, Reverse<u32>, &str) {
    if name == "native" {
        return (0, Reverse(0), name);
    }
    match name.strip_prefix("hami-").and_then(|n| n.parse().ok()) {
        Some(percent) => (1, Reverse(percent), name),
        None => (2, Reverse(0), name),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configurations_order_native_then_loosest_limit_then_by_name() {
        let mut names = vec!["mps", "hami-25", "hami-100", "native", "hami-50", "custom"];
        names.sort_by_key(|name| config_order(name));
        assert_eq!(
            names,
            ["native", "hami-100", "hami-50", "hami-25", "custom", "mps"]
        );
    }

    #[test]
    fn per_iteration_time_divides_each_sample() {
        let sample = CriterionSample {
            iters: vec![1.0, 2.0, 4.0],
            times: vec![10.0, 22.0, 40.0],
        };
        assert_eq!(sample.per_iteration(), Ok(vec![10.0, 11.0, 10.0]));
    }

    #[test]
    fn throughput_samples_are_rates_and_others_stay_times() {
        assert_eq!(in_unit(vec![1e9, 2e9], Some(2.0)), [2.0, 1.0]);
        assert_eq!(in_unit(vec![1e9, 2e9], None), [1e9, 2e9]);
    }

    #[test]
    fn malformed_samples_are_refused() {
        let uneven = CriterionSample {
            iters: vec![1.0, 2.0],
            times: vec![10.0],
        };
        let single = CriterionSample {
            iters: vec![1.0],
            times: vec![10.0],
        };
        let zero_iters = CriterionSample {
            iters: vec![0.0, 1.0],
            times: vec![10.0, 10.0],
        };
        for sample in [uneven, single, zero_iters] {
            assert!(sample.per_iteration().is_err(), "{sample:?}");
        }
    }
}
