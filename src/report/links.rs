//! Relative links from a report's folder to Criterion's own HTML beside the
//! baselines, so the report and the baselines can be moved or published together
//! (e.g. both committed to a repository) and the links keep working.

use crate::baseline::CRITERION_DIR;
use crate::error::{io_at, Result};
use std::path::{Component, Path, PathBuf};

/// Criterion's report page inside a benchmark's (or the whole run's) folder.
const CRITERION_PAGE: &str = "report/index.html";

/// Links into the Criterion folders of one GPU's configurations, from one report folder.
pub struct CriterionLinks {
    report_dir: PathBuf,
}

impl CriterionLinks {
    /// Links as seen from `report_dir`, which need not exist yet.
    pub fn from(report_dir: &Path) -> Result<Self> {
        Ok(Self {
            report_dir: absolute(report_dir)?,
        })
    }

    /// Criterion's page of one benchmark of the configuration in `config_dir`
    /// (`bench` as in a summary entry's criterion_path), if Criterion wrote it.
    pub fn benchmark(&self, config_dir: &Path, bench: &str) -> Result<Option<String>> {
        self.link(&config_dir.join(CRITERION_DIR).join(bench))
    }

    /// Criterion's overview page of the configuration in `config_dir`, if written.
    pub fn overview(&self, config_dir: &Path) -> Result<Option<String>> {
        self.link(&config_dir.join(CRITERION_DIR))
    }

    fn link(&self, dir: &Path) -> Result<Option<String>> {
        let page = dir.join(CRITERION_PAGE);
        if !page.is_file() {
            return Ok(None);
        }
        let relative = relative(&self.report_dir, &absolute(&page)?);
        Ok(Some(
            relative
                .components()
                .map(|c| c.as_os_str().to_string_lossy())
                .collect::<Vec<_>>()
                .join("/"),
        ))
    }
}

/// `path` made absolute against the working directory, with `.` and `..` resolved
/// by name, since the report folder may not exist yet.
fn absolute(path: &Path) -> Result<PathBuf> {
    let absolute = std::path::absolute(path).map_err(io_at(path))?;
    let mut normal = PathBuf::new();
    for component in absolute.components() {
        match component {
            Component::ParentDir => {
                normal.pop();
            }
            Component::CurDir => {}
            other => normal.push(other),
        }
    }
    Ok(normal)
}

/// The path from folder `from` to `to`, both absolute and normalized.
fn relative(from: &Path, to: &Path) -> PathBuf {
    let from: Vec<Component> = from.components().collect();
    let to: Vec<Component> = to.components().collect();
    let common = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
    let mut path = PathBuf::new();
    for _ in common..from.len() {
        path.push("..");
    }
    for component in &to[common..] {
        path.push(component);
    }
    path
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_climbs_to_the_common_folder() {
        assert_eq!(
            relative(
                Path::new("/repo/reports/gpu"),
                Path::new("/repo/criterion-baselines/gpu/native/criterion/report/index.html")
            ),
            Path::new("../../criterion-baselines/gpu/native/criterion/report/index.html")
        );
        assert_eq!(
            relative(Path::new("/a/b"), Path::new("/a/b/c.html")),
            Path::new("c.html")
        );
    }

    #[test]
    fn absolute_resolves_dots_by_name() {
        let path = absolute(Path::new("/a/./b/../c")).unwrap();
        assert_eq!(path, Path::new("/a/c"));
    }
}
