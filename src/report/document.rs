//! The report of one GPU as data: the first screen (a verdict card and a forest plot
//! per configuration), the enforcement matrix, verdicts per configuration, metrics grouped by category with their findings, the SM share over
//! time, and links to Criterion's pages. The page, report.md and report.json are three renderings of it, and
//! report.json is this structure as it stands (described by schema/report.schema.json).

use super::compare::{ConfigCheck, GpuComparison, MetricTable};
use super::discover::GpuBaselines;
use super::enforcement::EnforcementMatrix;
use super::findings::{self, Finding};
use super::glance::{self, Forest, VerdictCard};
use super::links::CriterionLinks;
use crate::baseline::{DeviceFacts, LimitVerdicts, MemoryVerdict, ShapeVerdict};
use crate::error::Result;
use serde::Serialize;

/// Bumped whenever report.json changes shape, so readers can tell.
pub const SCHEMA_VERSION: u32 = 4;
/// The category that holds the SM-limit checks, whether or not metrics belong to it.
pub const ISOLATION: &str = "isolation";
/// Length of one verification window, as run.json's SM-share windows are recorded.
pub const WINDOW_SECS: f64 = 0.5;

/// Everything one GPU's report shows.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub schema_version: u32,
    /// Version of the tool that built the report.
    pub tool_version: String,
    pub slug: String,
    pub device: DeviceFacts,
    /// False when there is no native configuration, so no change can be computed.
    pub has_native: bool,
    /// What the page opens with: per configuration other than native, whether its
    /// limits held, its largest costs and the worst a neighbour did to it.
    pub cards: Vec<VerdictCard>,
    /// Per configuration other than native, every metric variant's change against
    /// native, largest first.
    pub forests: Vec<Forest>,
    /// Whether each limit held on every path the probes tried: what the report leads
    /// with, since a configuration is only as strong as its weakest path.
    pub enforcement: Enforcement,
    /// Each configuration's recorded verification, in report order.
    pub configs: Vec<ConfigCheck>,
    /// What the verification means for each configuration, in report order.
    pub verdicts: Vec<ConfigVerdict>,
    pub categories: Vec<Category>,
    /// What the baselines do not measure, so the page says why a plot is missing.
    pub absent: Vec<String>,
}

/// The enforcement matrix with what it shows, stated before any other finding.
#[derive(Debug, Clone, Serialize)]
pub struct Enforcement {
    #[serde(flatten)]
    pub matrix: EnforcementMatrix,
    pub findings: Vec<Finding>,
}

/// Whether a configuration ran as configured, and each of its limits' verdict.
#[derive(Debug, Clone, Serialize)]
pub struct ConfigVerdict {
    pub config: String,
    /// The configuration ran as configured: the interposer mapped where one is
    /// expected and the memory limit in force (false when the run went on under
    /// --allow-unverified although a check failed). Says nothing of the SM limit:
    /// `sm` does.
    pub verified: bool,
    pub interposer_loaded: bool,
    /// Whether the memory limit held.
    pub memory: MemoryVerdict,
    pub sm_limit_pct: Option<u32>,
    /// The SM limit's verdict per kernel shape, with the delivered share it was
    /// judged on (1.0 = native).
    pub sm: Vec<ShapeVerdict>,
    /// Criterion's overview page of this configuration, relative to the report.
    pub criterion_report: Option<String>,
    /// Why no finding is stated on this configuration's metrics, when none is (its
    /// enforcement findings are stated all the same).
    pub findings_skipped: Option<String>,
}

/// One group of metrics (e.g. overhead), with what they show.
#[derive(Debug, Clone, Serialize)]
pub struct Category {
    pub name: String,
    pub findings: Vec<Finding>,
    pub tables: Vec<Table>,
    /// SM share over time per kernel shape; only the isolation category has it.
    pub sm_share: Vec<ShapeSeries>,
    /// Tenants' shares side by side per scenario; only the isolation category has it.
    pub fairness: Vec<FairnessSeries>,
}

/// One isolation scenario's tenants and what each got beside the others (IS-008).
#[derive(Debug, Clone, Serialize)]
pub struct FairnessSeries {
    pub scenario: String,
    /// The tenants' kernel shape (IS-003's axis).
    pub shape: String,
    pub jain_index: Option<f64>,
    pub tenants: Vec<TenantShare>,
}

/// A tenant's throughput beside the others, as a share of one native tenant alone.
#[derive(Debug, Clone, Serialize)]
pub struct TenantShare {
    pub tenant: String,
    pub config: String,
    pub share: f64,
}

/// A metric table with links to Criterion's page of each row's benchmark.
#[derive(Debug, Clone, Serialize)]
pub struct Table {
    #[serde(flatten)]
    pub metric: MetricTable,
    /// One per row, relative to the report; `None` where Criterion wrote no page.
    pub criterion_reports: Vec<Option<String>>,
}

/// Every configuration's per-window SM share of one kernel shape.
#[derive(Debug, Clone, Serialize)]
pub struct ShapeSeries {
    pub shape: String,
    pub window_secs: f64,
    pub series: Vec<ShareSeries>,
}

/// One configuration's per-window SM share and its configured limit.
#[derive(Debug, Clone, Serialize)]
pub struct ShareSeries {
    pub config: String,
    pub limit_pct: Option<u32>,
    pub windows: Vec<f64>,
}

/// Builds the report of one GPU from its baselines and their comparison, with links
/// as seen from the report's folder.
pub fn build(
    gpu: &GpuBaselines,
    comparison: GpuComparison,
    links: &CriterionLinks,
) -> Result<Report> {
    let GpuComparison {
        slug,
        device,
        enforcement,
        has_native,
        configs,
        metrics,
        scenarios,
        probes,
        commands,
    } = comparison;
    let forests = glance::forests(&configs, &metrics);
    let cards = glance::cards(&configs, &forests, &enforcement, &scenarios, has_native);
    let enforcement = Enforcement {
        findings: findings::enforcement_findings(&enforcement),
        matrix: enforcement,
    };
    let verdicts = configs
        .iter()
        .zip(&gpu.configs)
        .map(|(check, loaded)| {
            let LimitVerdicts { memory, sm } = check.verification.limit_verdicts();
            Ok(ConfigVerdict {
                config: check.config.clone(),
                verified: !check.unverified,
                interposer_loaded: check.verification.interposer_loaded,
                memory,
                sm_limit_pct: check.verification.sm_limit_pct,
                sm,
                criterion_report: links.overview(&loaded.baseline.dir)?,
                findings_skipped: findings::skipped_because(check),
            })
        })
        .collect::<Result<Vec<_>>>()?;

    let mut categories: Vec<Category> = Vec::new();
    for metric in metrics {
        let criterion_reports = gpu
            .configs
            .iter()
            .map(|loaded| match loaded.find(&metric.id, &metric.variant) {
                Some((entry, _)) => match &entry.criterion_path {
                    Some(path) => links.benchmark(&loaded.baseline.dir, path),
                    None => Ok(None),
                },
                None => Ok(None),
            })
            .collect::<Result<Vec<_>>>()?;
        let found = findings::table_findings(&metric, &configs);
        let category = category_mut(&mut categories, &metric.category);
        category.findings.extend(found);
        category.tables.push(Table {
            metric,
            criterion_reports,
        });
    }
    // A command that breaks under a configuration is stated before its figures.
    for (category, found) in findings::command_findings(&commands).into_iter().rev() {
        category_mut(&mut categories, &category)
            .findings
            .insert(0, found);
    }
    let isolation = category_mut(&mut categories, ISOLATION);
    isolation
        .findings
        .extend(findings::sm_share_findings(&configs));
    isolation.sm_share = sm_share_series(&configs);
    isolation.fairness = scenarios
        .iter()
        .map(|s| FairnessSeries {
            scenario: s.scenario.clone(),
            shape: s.shape.name().to_owned(),
            jain_index: s.jain_index,
            tenants: s
                .tenants
                .iter()
                .map(|t| TenantShare {
                    tenant: t.tenant.name.clone(),
                    config: t.tenant.config.clone(),
                    share: t.share_mean,
                })
                .collect(),
        })
        .collect();
    isolation
        .findings
        .extend(scenarios.iter().flat_map(findings::scenario_findings));
    isolation
        .findings
        .extend(super::isolation::probe_findings(&probes));
    // The limit checks qualify every other figure, so they come first.
    categories.sort_by_key(|category| category.name != ISOLATION);

    let absent = absent(&categories, !scenarios.is_empty());
    Ok(Report {
        schema_version: SCHEMA_VERSION,
        tool_version: env!("CARGO_PKG_VERSION").to_owned(),
        slug,
        device,
        has_native,
        cards,
        forests,
        enforcement,
        configs,
        verdicts,
        categories,
        absent,
    })
}

fn category_mut<'a>(categories: &'a mut Vec<Category>, name: &str) -> &'a mut Category {
    let index = match categories.iter().position(|c| c.name == name) {
        Some(index) => index,
        None => {
            categories.push(Category {
                name: name.to_owned(),
                findings: Vec::new(),
                tables: Vec::new(),
                sm_share: Vec::new(),
                fairness: Vec::new(),
            });
            categories.len() - 1
        }
    };
    &mut categories[index]
}

/// One series per shape, shapes in the order the configurations first name them.
fn sm_share_series(configs: &[ConfigCheck]) -> Vec<ShapeSeries> {
    let mut shapes: Vec<ShapeSeries> = Vec::new();
    for check in configs {
        for shape in &check.verification.shapes {
            let series = ShareSeries {
                config: check.config.clone(),
                limit_pct: check.verification.sm_limit_pct,
                windows: shape.windows.clone(),
            };
            match shapes.iter_mut().find(|s| s.shape == shape.shape) {
                Some(existing) => existing.series.push(series),
                None => shapes.push(ShapeSeries {
                    shape: shape.shape.clone(),
                    window_secs: WINDOW_SECS,
                    series: vec![series],
                }),
            }
        }
    }
    shapes
}

/// Kinds of figure the report can show but these baselines hold no data for.
fn absent(categories: &[Category], has_scenarios: bool) -> Vec<String> {
    let has_peak = categories
        .iter()
        .flat_map(|c| &c.tables)
        .flat_map(|t| &t.metric.rows)
        .any(|row| {
            row.measured
                .as_ref()
                .is_some_and(|m| m.peak_fraction.is_some())
        });
    let mut absent = Vec::new();
    if !has_peak {
        absent.push("Throughput as % of peak: no throughput metric in these baselines.".to_owned());
    }
    if !has_scenarios {
        absent.push(
            "Tenant fairness: no isolation scenario (tenants side by side) in these baselines."
                .to_owned(),
        );
    }
    absent
}
