//! Findings: the sentences a reader takes away, computed from the comparison so that
//! none is written by hand, and none on the metrics of a configuration whose checks
//! failed (what its enforcement probes found is stated all the same).

use super::compare::{CommandRuns, ConfigCheck, MetricRow, MetricTable, NATIVE};
use super::enforcement::{amount, excess_amount, EnforcementMatrix};
use super::format::{change, number, percent, significance, ONE_ROUND};
use super::limits::path_limit_findings;
pub use super::limits::sm_share_findings;
use super::stats::{Comparison, Verdict};
use crate::baseline::{ProbeKind, ProbeVerdict, ShapeVerdict, SmVerdict};
use crate::metrics::isolation::ScenarioRecord;
use serde::Serialize;

/// One thing the figures show about one configuration.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    pub config: String,
    /// The sentence the page and report.md show.
    pub text: String,
    #[serde(flatten)]
    pub kind: FindingKind,
}

impl Finding {
    /// Whether the finding is stated on its own rather than listed among the
    /// changes that are not significant or not tested.
    pub fn is_stated(&self) -> bool {
        !matches!(
            self.kind,
            FindingKind::NotSignificant { .. } | FindingKind::NotTested { .. }
        )
    }
}

/// What a finding is about, with its figures.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FindingKind {
    /// Tenants side by side in an isolation scenario: how evenly they shared (IS-008).
    Fairness {
        scenario: String,
        tenants: usize,
        jain_index: f64,
    },
    /// A victim's loss beside its neighbours (IS-006, IS-009).
    Interference {
        scenario: String,
        tenant: String,
        alone_share: f64,
        interference: f64,
        p99_growth: Option<f64>,
    },
    /// Throughput lost against native, 1 - rate(config) / rate(native), with its interval.
    Degradation {
        id: String,
        variant: String,
        degradation: f64,
        ci_low: f64,
        ci_high: f64,
        verdict: Verdict,
    },
    /// A significant change of a metric against native, as the absolute difference of
    /// the means in the metric's unit: the relative change and its interval, scaled by
    /// native's mean.
    Change {
        id: String,
        variant: String,
        unit: String,
        difference: f64,
        ci_low: f64,
        ci_high: f64,
        relative: f64,
        verdict: Verdict,
    },
    /// No change beyond chance or beyond the noise threshold.
    NotSignificant {
        id: String,
        variant: String,
        relative: f64,
        relative_ci_low: f64,
        relative_ci_high: f64,
        verdict: Verdict,
    },
    /// A change measured in one round: shown with its interval, never called
    /// significant, since one block per configuration cannot tell drift from cost.
    NotTested {
        id: String,
        variant: String,
        relative: f64,
        relative_ci_low: f64,
        relative_ci_high: f64,
    },
    /// What another tenant could read of a tenant's memory (IS-005).
    MemoryIsolation(super::isolation::MemoryFinding),
    /// Whether a tenant ran on, correctly, beside another's fault (IS-010).
    FaultIsolation(super::isolation::FaultFinding),
    /// A tensor-core throughput under an SM limit, as a share of native's, on the API
    /// path it took: our kernels through the driver API, cuBLAS through the runtime
    /// API. A limiter may hold on one path and not the other.
    PathLimit {
        id: String,
        variant: String,
        path: String,
        limit_pct: u32,
        /// Mean throughput over native's (1.0 = native), pooled over rounds.
        share: f64,
        /// Half the width of the share's 95 % interval.
        spread: f64,
        /// Judged as a verification shape is, with the interval's half-width as
        /// the spread.
        #[serde(flatten)]
        verdict: SmVerdict,
    },
    /// The SM limit's verdict on one kernel shape of the verification, with the
    /// figures it was judged on.
    SmShare(ShapeVerdict),
    /// An enforcement probe got more than the configured limit on its path, by
    /// `excess` in `unit`.
    EnforcementBypass {
        id: String,
        path: String,
        limit_kind: ProbeKind,
        excess: f64,
        figure: Option<f64>,
        limit: Option<f64>,
        unit: String,
    },
    /// An enforcement probe's path failed under the configuration where it works
    /// natively: a workload on that path breaks, limit or not.
    EnforcementRefused {
        id: String,
        path: String,
        limit_kind: ProbeKind,
        status: String,
    },
    /// The user's command (`exec`) failed in some of its runs under the
    /// configuration, with native's count beside it where native ran it.
    CommandFailed {
        category: String,
        runs: usize,
        failed: usize,
        exits: Vec<String>,
        native_runs: Option<usize>,
        native_failed: Option<usize>,
    },
}

/// Why no finding is stated on a configuration's metrics, when none is.
pub fn skipped_because(check: &ConfigCheck) -> Option<String> {
    if !check.unverified {
        return None;
    }
    let problems = &check.verification.problems;
    Some(if problems.is_empty() {
        "its run is unverified".to_owned()
    } else {
        format!("its run is unverified: {}", problems.join("; "))
    })
}

/// What the enforcement matrix shows: every path bypassed under each configuration,
/// then every path that breaks only under the layer, configurations in column order.
/// Stated for unverified configurations too: a probe is read against its own native
/// control and the configured limit, not against the run's other figures, and a
/// failed check is often the very limit a probe gets around.
pub fn enforcement_findings(matrix: &EnforcementMatrix) -> Vec<Finding> {
    let cells = || {
        matrix.configs.iter().flat_map(|config| {
            matrix
                .rows
                .iter()
                .filter_map(move |row| Some((row, row.cell(config)?)))
        })
    };
    let bypasses = cells().filter_map(|(row, cell)| {
        let ProbeVerdict::Bypassed { excess } = cell.outcome.verdict else {
            return None;
        };
        let limit = cell.outcome.limit.map_or_else(String::new, |limit| {
            format!("{} ", amount(limit, &cell.outcome.unit))
        });
        let limit_name = match row.kind {
            ProbeKind::Memory => "memory limit",
            ProbeKind::Sm => "SM limit",
            ProbeKind::Tamper => "limit",
        };
        Some(Finding {
            config: cell.config.clone(),
            text: format!(
                "{}: {} bypassed the {limit}{limit_name} by {}",
                cell.config,
                row.path,
                excess_amount(excess, &cell.outcome.unit)
            ),
            kind: FindingKind::EnforcementBypass {
                id: row.id.clone(),
                path: row.path.clone(),
                limit_kind: row.kind,
                excess,
                figure: cell.outcome.figure,
                limit: cell.outcome.limit,
                unit: cell.outcome.unit.clone(),
            },
        })
    });
    let refusals = cells()
        .filter(|(_, cell)| cell.outcome.verdict == ProbeVerdict::RefusedUnlikeNative)
        .map(|(row, cell)| Finding {
            config: cell.config.clone(),
            text: format!(
                "{}: {} fails where it works natively ({})",
                cell.config, row.path, cell.outcome.status
            ),
            kind: FindingKind::EnforcementRefused {
                id: row.id.clone(),
                path: row.path.clone(),
                limit_kind: row.kind,
                status: cell.outcome.status.clone(),
            },
        });
    bypasses.chain(refusals).collect()
}

/// Every configuration under which the user's command failed in a run, with the
/// category its finding belongs to. Stated for unverified configurations too: a
/// command that breaks under the layer breaks, whatever its figures are worth.
pub fn command_findings(commands: &[CommandRuns]) -> Vec<(String, Finding)> {
    let native = commands.iter().find(|c| c.config == NATIVE);
    commands
        .iter()
        .filter(|c| c.failed > 0)
        .map(|c| {
            let baseline = native.filter(|n| n.config != c.config && n.category == c.category);
            let beside = match baseline {
                Some(n) => format!("; natively in {} of {}", n.failed, n.runs),
                None if c.config == NATIVE => String::new(),
                None => "; not run natively".to_owned(),
            };
            let finding = Finding {
                config: c.config.clone(),
                text: format!(
                    "{}: {} failed in {} of {} runs ({}){beside}",
                    c.config,
                    c.category,
                    c.failed,
                    c.runs,
                    c.exits.join("; ")
                ),
                kind: FindingKind::CommandFailed {
                    category: c.category.clone(),
                    runs: c.runs,
                    failed: c.failed,
                    exits: c.exits.clone(),
                    native_runs: baseline.map(|n| n.runs),
                    native_failed: baseline.map(|n| n.failed),
                },
            };
            (c.category.clone(), finding)
        })
        .collect()
}

/// Changes of one metric variant against native, for verified configurations.
fn metric_findings(table: &MetricTable, configs: &[ConfigCheck]) -> Vec<Finding> {
    let Some(native_mean) = table
        .rows
        .iter()
        .find(|row| row.config == NATIVE)
        .and_then(|row| row.measured.as_ref())
        .map(|measured| measured.mean)
    else {
        return Vec::new();
    };
    trusted_changes(table, configs)
        .map(|(row, comparison)| {
            let subject = format!("{} {}", table.id, table.variant);
            let (id, variant) = (table.id.clone(), table.variant.clone());
            let (text, kind) = match comparison.verdict {
                Verdict::Regressed | Verdict::Improved => {
                    let difference = comparison.change_mean * native_mean;
                    let (low, high) = (
                        comparison.ci_low * native_mean,
                        comparison.ci_high * native_mean,
                    );
                    let unit = &table.unit;
                    let text = if difference >= 0.0 {
                        format!(
                            "{} adds {} {unit} (CI {}..{} {unit}) to {subject} ({:+.1} %)",
                            row.config,
                            number(difference),
                            number(low),
                            number(high),
                            comparison.change_mean * 100.0
                        )
                    } else {
                        format!(
                            "{} takes {} {unit} (CI {}..{} {unit}) off {subject} ({:+.1} %)",
                            row.config,
                            number(-difference),
                            number(-high),
                            number(-low),
                            comparison.change_mean * 100.0
                        )
                    };
                    let kind = FindingKind::Change {
                        id,
                        variant,
                        unit: unit.clone(),
                        difference,
                        ci_low: low,
                        ci_high: high,
                        relative: comparison.change_mean,
                        verdict: comparison.verdict,
                    };
                    (text, kind)
                }
                Verdict::NoChange | Verdict::WithinNoise => {
                    let why = if comparison.verdict == Verdict::WithinNoise {
                        "within noise"
                    } else {
                        "not significant"
                    };
                    let text = format!("{}: {subject} {why} ({})", row.config, change(&comparison));
                    let kind = FindingKind::NotSignificant {
                        id,
                        variant,
                        relative: comparison.change_mean,
                        relative_ci_low: comparison.ci_low,
                        relative_ci_high: comparison.ci_high,
                        verdict: comparison.verdict,
                    };
                    (text, kind)
                }
                Verdict::NotTested => {
                    let text = format!(
                        "{}: {subject} {}, {}",
                        row.config,
                        change(&comparison),
                        significance(comparison.verdict)
                    );
                    let kind = FindingKind::NotTested {
                        id,
                        variant,
                        relative: comparison.change_mean,
                        relative_ci_low: comparison.ci_low,
                        relative_ci_high: comparison.ci_high,
                    };
                    (text, kind)
                }
            };
            Finding {
                config: row.config.clone(),
                text,
                kind,
            }
        })
        .collect()
}

/// What an isolation scenario showed: how evenly its tenants shared the GPU, and
/// what each victim lost beside the others; each names the kernel shape (IS-003),
/// which decides whether a block-counting limiter bites.
pub fn scenario_findings(s: &ScenarioRecord) -> Vec<Finding> {
    let label = format!("{} ({})", s.scenario, s.shape.describe());
    let shares: Vec<String> = s
        .tenants
        .iter()
        .map(|t| format!("{} {}", t.tenant.config, percent(t.share_mean)))
        .collect();
    let mut out: Vec<Finding> = s
        .jain_index
        .map(|jain| Finding {
            config: s.scenario.clone(),
            text: format!(
                "{label}: Jain's index {jain:.3} over {} tenants; each got, of one native tenant alone: {}",
                s.tenants.len(),
                shares.join(", ")
            ),
            kind: FindingKind::Fairness {
                scenario: s.scenario.clone(),
                tenants: s.tenants.len(),
                jain_index: jain,
            },
        })
        .into_iter()
        .collect();
    out.extend(s.tenants.iter().filter_map(|t| {
        let (loss, alone) = (t.interference?, t.alone_share_mean?);
        Some(Finding {
            config: s.scenario.clone(),
            text: format!(
                "{label}: victim {} ({}) got {} alone and lost {} of that beside the others; its p99 kernel latency grew {}",
                t.tenant.name,
                t.tenant.config,
                percent(alone),
                percent(loss),
                t.p99_growth.map_or_else(|| "—".to_owned(), percent)
            ),
            kind: FindingKind::Interference {
                scenario: s.scenario.clone(),
                tenant: t.tenant.name.clone(),
                alone_share: alone,
                interference: loss,
                p99_growth: t.p99_growth,
            },
        })
    }));
    out
}

/// Everything a metric table's rows say: significant changes, what is not
/// significant, throughput degradation (OH-010), and throughputs against SM limits.
pub fn table_findings(table: &MetricTable, configs: &[ConfigCheck]) -> Vec<Finding> {
    let mut found = metric_findings(table, configs);
    found.extend(degradation_findings(table, configs));
    found.extend(path_limit_findings(table, configs));
    found
}

/// Each row of a verified configuration that has a change against native.
pub(super) fn trusted_changes<'a>(
    table: &'a MetricTable,
    configs: &'a [ConfigCheck],
) -> impl Iterator<Item = (&'a MetricRow, Comparison)> + 'a {
    table
        .rows
        .iter()
        .filter(|row| is_trusted(&row.config, configs))
        .filter_map(|row| Some((row, row.measured.as_ref()?.change?)))
}

/// OH-010 is timed per iteration, but what a tenant loses is throughput:
/// degradation = 1 - rate(config) / rate(native) = c / (1 + c) for a relative time
/// change c, a monotonic map, so the interval maps endpoint by endpoint.
fn degradation_findings(table: &MetricTable, configs: &[ConfigCheck]) -> Vec<Finding> {
    if table.id != DEGRADATION_METRIC {
        return Vec::new();
    }
    let degradation = |c: f64| c / (1.0 + c);
    trusted_changes(table, configs)
        .map(|(row, comparison)| {
            let (value, low, high) = (
                degradation(comparison.change_mean),
                degradation(comparison.ci_low),
                degradation(comparison.ci_high),
            );
            let why = match comparison.verdict {
                Verdict::Regressed | Verdict::Improved => String::new(),
                Verdict::NoChange => ", not significant".to_owned(),
                Verdict::WithinNoise | Verdict::NotTested => {
                    format!(", {}", significance(comparison.verdict))
                }
            };
            Finding {
                config: row.config.clone(),
                text: format!(
                    "{}: throughput degradation of {} {} {} [{}, {}]{why}",
                    row.config,
                    table.id,
                    table.variant,
                    percent(value),
                    percent(low),
                    percent(high)
                ),
                kind: FindingKind::Degradation {
                    id: table.id.clone(),
                    variant: table.variant.clone(),
                    degradation: value,
                    ci_low: low,
                    ci_high: high,
                    verdict: comparison.verdict,
                },
            }
        })
        .collect()
}

/// The metric whose comparison is stated as a throughput degradation.
const DEGRADATION_METRIC: &str = "OH-010";

/// The metric variants each configuration did not change significantly, or changed
/// in one round only, one sentence per configuration and reason, so that a page lists
/// them in a line instead of one per figure: e.g. "hami-100: not significant for
/// OH-001 launch-call, OH-002 large".
pub fn unstated_by_config(findings: &[Finding]) -> Vec<String> {
    let mut groups: Vec<(&str, bool, Vec<String>)> = Vec::new();
    for finding in findings {
        let (id, variant, untested) = match &finding.kind {
            FindingKind::NotSignificant { id, variant, .. } => (id, variant, false),
            FindingKind::NotTested { id, variant, .. } => (id, variant, true),
            _ => continue,
        };
        let subject = format!("{id} {variant}");
        match groups
            .iter_mut()
            .find(|(config, u, _)| *config == finding.config && *u == untested)
        {
            Some((_, _, subjects)) => subjects.push(subject),
            None => groups.push((&finding.config, untested, vec![subject])),
        }
    }
    groups
        .into_iter()
        .map(|(config, untested, subjects)| {
            let subjects = subjects.join(", ");
            if untested {
                format!("{config}: not tested for {subjects}: {ONE_ROUND}")
            } else {
                format!("{config}: not significant for {subjects}")
            }
        })
        .collect()
}

fn is_trusted(config: &str, configs: &[ConfigCheck]) -> bool {
    configs
        .iter()
        .any(|check| check.config == config && !check.unverified)
}
