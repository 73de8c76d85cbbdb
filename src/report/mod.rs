//! Reports over exported baselines: what each virtualization configuration costs
//! against native on the same GPU, and whether its limits were shown to hold.
//!
//! [`discover`] loads the baselines, [`compare`] decides every row and verdict (with
//! [`stats`] doing what Criterion does for significance, and [`enforcement`] laying
//! out the probes' matrix), [`document`] adds the verdicts, [`findings`], links and
//! the first screen's cards and forest plots ([`glance`]) of a full report, and
//! renderers such as
//! [`markdown`] and [`html`] only lay the result out.

pub mod compare;
pub mod discover;
pub mod document;
pub mod enforcement;
pub mod export;
pub mod findings;
mod format;
pub mod glance;
pub mod html;
pub mod isolation;
mod limits;
mod links;
pub mod markdown;
mod plots;
pub mod stats;

use crate::baseline::write_json_atomic;
use crate::error::{io_at, Result};
use std::path::{Path, PathBuf};

/// The files a report folder holds.
pub const HTML_FILE: &str = "index.html";
pub const MARKDOWN_FILE: &str = "report.md";
pub const JSON_FILE: &str = "report.json";

/// The comparison of every configuration under `dir` (one GPU folder, or a folder
/// of them), for renderers that need the data rather than a document.
pub fn compare_report(dir: &Path) -> Result<compare::CompareReport> {
    compare::build(&discover::discover(dir)?)
}

/// The comparison under `dir` as a Markdown document.
pub fn compare_markdown(dir: &Path) -> Result<String> {
    Ok(markdown::render(&compare_report(dir)?))
}

/// The full report of every GPU under `dir`, each with its links to Criterion's
/// pages as seen from its own folder `<out>/<gpu>/`.
pub fn full_reports(dir: &Path, out: &Path) -> Result<Vec<document::Report>> {
    let gpus = discover::discover(dir)?;
    let comparison = compare::build(&gpus)?;
    gpus.iter()
        .zip(comparison.gpus)
        .map(|(gpu, compared)| {
            let links = links::CriterionLinks::from(&out.join(&gpu.slug))?;
            document::build(gpu, compared, &links)
        })
        .collect()
}

/// Writes index.html, report.md and report.json of every GPU under `dir` into
/// `<out>/<gpu>/`, and returns those folders. Everything is rendered before the
/// first file is written, so a broken baseline writes nothing.
pub fn write_reports(dir: &Path, out: &Path) -> Result<Vec<PathBuf>> {
    let rendered = full_reports(dir, out)?
        .into_iter()
        .map(|report| {
            let html = html::render(&report)?;
            let markdown = markdown::render_report(&report);
            Ok((report, html, markdown))
        })
        .collect::<Result<Vec<_>>>()?;
    let mut folders = Vec::new();
    for (report, html, markdown) in rendered {
        let folder = out.join(&report.slug);
        std::fs::create_dir_all(&folder).map_err(io_at(&folder))?;
        let page = folder.join(HTML_FILE);
        std::fs::write(&page, html).map_err(io_at(&page))?;
        let md = folder.join(MARKDOWN_FILE);
        std::fs::write(&md, markdown).map_err(io_at(&md))?;
        write_json_atomic(&folder.join(JSON_FILE), &report)?;
        folders.push(folder);
    }
    Ok(folders)
}
