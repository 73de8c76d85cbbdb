//! Reports over exported baselines: what each virtualization configuration costs
//! against native on the same GPU, and whether its limits were shown to hold.
//!
//! [`discover`] loads the baselines, [`compare`] decides every row and verdict (with
//! [`stats`] doing what Criterion does for significance), and renderers such as
//! [`markdown`] only lay the result out.

pub mod compare;
pub mod discover;
pub mod markdown;
pub mod stats;

use crate::error::Result;
use std::path::Path;

/// The comparison of every configuration under `dir` (one GPU folder, or a folder
/// of them), for renderers that need the data rather than a document.
pub fn compare_report(dir: &Path) -> Result<compare::CompareReport> {
    compare::build(&discover::discover(dir)?)
}

/// The comparison under `dir` as a Markdown document.
pub fn compare_markdown(dir: &Path) -> Result<String> {
    Ok(markdown::render(&compare_report(dir)?))
}
