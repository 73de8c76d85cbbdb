//! The report's first screen as data: for each configuration other than native, a
//! verdict card (do its limits hold, what does it cost, what does a neighbour do to
//! it) and the rows of its forest plot (every metric variant's change against
//! native). Everything here is read off the comparison, the verification's verdicts,
//! the enforcement matrix and the isolation scenarios, so the first screen can never
//! say more than the sections below it.

use super::compare::{ConfigCheck, MetricTable, NATIVE};
use super::enforcement::{self, excess_amount, EnforcementMatrix};
use super::format::{percent, relative, ONE_ROUND};
use super::isolation::{worst_neighbour, Neighbour};
use super::limits::{memory_tone, sm_tone, Tone};
use super::stats::Verdict;
use crate::baseline::{Better, MemoryVerdict, ProbeVerdict, ShapeVerdict, SmVerdict};
use crate::metrics::isolation::ScenarioRecord;
use serde::Serialize;

/// How many of a configuration's significant costs its card names.
pub const LARGEST_COSTS: usize = 3;
/// Why an unverified configuration's card states no cost, as its findings state none.
const UNVERIFIED: &str = "its run is unverified";

/// One configuration's answer to "does it hold, what does it cost, what does a
/// neighbour do", in the few lines a card has.
#[derive(Debug, Clone, Serialize)]
pub struct VerdictCard {
    pub config: String,
    /// The run went on although a check failed (`run --allow-unverified`).
    pub verified: bool,
    /// The worst of the verdicts below.
    pub limits: LimitsVerdict,
    pub mem_limit_mib: Option<u64>,
    pub memory: MemoryVerdict,
    pub sm_limit_pct: Option<u32>,
    /// The SM limit's verdict per kernel shape of the verification.
    pub sm: Vec<ShapeVerdict>,
    /// The enforcement probes' verdicts; `None` where the configuration was not probed.
    pub paths: Option<PathTally>,
    pub overhead: Overhead,
    /// The worst a neighbour did to a victim of this configuration; `None` where no
    /// isolation scenario has one.
    pub neighbour: Option<Neighbour>,
}

/// Whether a configuration's limits held on everything that tried them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LimitsVerdict {
    /// A limit was shown not to hold: memory not enforced, an SM share above its
    /// limit, or a path bypassed or crashed.
    NotEnforced,
    /// Every configured limit held in the verification and on every probed path.
    Enforced,
    /// Nothing failed, but something was not shown to hold: too few windows, a wide
    /// spread, a path that breaks only under the layer, or paths not probed at all.
    NotShown,
    /// No limit is configured, so there is nothing to hold.
    NoLimit,
}

impl LimitsVerdict {
    pub fn word(self) -> &'static str {
        match self {
            Self::NotEnforced => "limits not enforced",
            Self::Enforced => "limits enforced",
            Self::NotShown => "limits not shown to hold",
            Self::NoLimit => "no limit configured",
        }
    }

    pub(super) fn tone(self) -> Tone {
        match self {
            Self::NotEnforced => Tone::Fail,
            Self::Enforced => Tone::Pass,
            Self::NotShown => Tone::Caution,
            Self::NoLimit => Tone::Neutral,
        }
    }
}

/// A configuration's column of the enforcement matrix, counted.
#[derive(Debug, Clone, Serialize)]
pub struct PathTally {
    /// How many paths got each verdict, most severe first; verdicts no path got are
    /// left out.
    pub counts: Vec<VerdictCount>,
    /// The paths that gave more than the limit, each with its excess.
    pub bypassed: Vec<NamedPath>,
    /// The paths whose probe's child died or outlived its timeout.
    pub crashed: Vec<NamedPath>,
}

#[derive(Debug, Clone, Serialize)]
pub struct VerdictCount {
    /// The verdict's word, as the matrix shows it (e.g. "bypassed").
    pub verdict: String,
    pub count: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct NamedPath {
    pub id: String,
    pub path: String,
    /// What it gave beyond the limit (e.g. "+4.0 GiB"), or how its probe died.
    pub figure: String,
}

/// What a configuration costs against native.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Overhead {
    /// Changes were tested across rounds: the largest significant costs, of
    /// `significant` in all.
    Tested {
        significant: usize,
        largest: Vec<ForestRow>,
    },
    /// Every change was measured in one round, so none is called significant.
    NotTested,
    /// No cost is stated, and why: no native baseline, or an unverified run.
    NotStated { why: String },
}

/// One configuration's changes against native, largest first.
#[derive(Debug, Clone, Serialize)]
pub struct Forest {
    pub config: String,
    pub verified: bool,
    pub rows: Vec<ForestRow>,
}

/// One metric variant's relative change of the mean against native, with its
/// interval (fractions: 0.032 = +3.2 %).
#[derive(Debug, Clone, Serialize)]
pub struct ForestRow {
    pub id: String,
    pub variant: String,
    pub better: Better,
    pub change_mean: f64,
    pub ci_low: f64,
    pub ci_high: f64,
    pub verdict: Verdict,
}

impl ForestRow {
    /// Significant either way: the rounds agreed beyond their scatter and the
    /// interval lies outside the noise threshold.
    pub fn is_significant(&self) -> bool {
        matches!(self.verdict, Verdict::Regressed | Verdict::Improved)
    }

    /// The change's size on the log scale the forest plot draws it on, so that a
    /// halving and a doubling weigh alike.
    pub fn size(&self) -> f64 {
        (1.0 + self.change_mean).max(f64::MIN_POSITIVE).ln().abs()
    }
}

/// Every configuration's forest rows, native left out, in report order.
pub fn forests(configs: &[ConfigCheck], metrics: &[MetricTable]) -> Vec<Forest> {
    configs
        .iter()
        .filter(|check| check.config != NATIVE)
        .map(|check| {
            let mut rows: Vec<ForestRow> = metrics
                .iter()
                .filter_map(|table| forest_row(table, &check.config))
                .collect();
            rows.sort_by(|a, b| b.size().total_cmp(&a.size()));
            Forest {
                config: check.config.clone(),
                verified: !check.unverified,
                rows,
            }
        })
        .collect()
}

fn forest_row(table: &MetricTable, config: &str) -> Option<ForestRow> {
    let change = table
        .rows
        .iter()
        .find(|row| row.config == config)?
        .measured
        .as_ref()?
        .change?;
    Some(ForestRow {
        id: table.id.clone(),
        variant: table.variant.clone(),
        better: table.better,
        change_mean: change.change_mean,
        ci_low: change.ci_low,
        ci_high: change.ci_high,
        verdict: change.verdict,
    })
}

/// One card per configuration other than native, in report order, from the
/// configurations' forests (as [`forests`] built them).
pub fn cards(
    configs: &[ConfigCheck],
    forests: &[Forest],
    matrix: &EnforcementMatrix,
    scenarios: &[ScenarioRecord],
    has_native: bool,
) -> Vec<VerdictCard> {
    configs
        .iter()
        .filter(|check| check.config != NATIVE)
        .map(|check| {
            let verdicts = check.verification.limit_verdicts();
            let paths = path_tally(matrix, &check.config);
            let rows = forests
                .iter()
                .find(|forest| forest.config == check.config)
                .map_or(&[][..], |forest| &forest.rows);
            VerdictCard {
                config: check.config.clone(),
                verified: !check.unverified,
                limits: limits_verdict(
                    verdicts.memory,
                    &verdicts.sm,
                    path_tones(matrix, &check.config).as_deref(),
                ),
                mem_limit_mib: check.verification.mem_limit_mib,
                memory: verdicts.memory,
                sm_limit_pct: check.verification.sm_limit_pct,
                sm: verdicts.sm,
                paths,
                overhead: overhead(check, rows, has_native),
                neighbour: worst_neighbour(scenarios, &check.config),
            }
        })
        .collect()
}

/// Only a limit shown to hold everywhere it was tried is enforced; one failure
/// anywhere is a limit not enforced. `paths` are the tones of the configuration's
/// probed paths, `None` where it was not probed.
fn limits_verdict(
    memory: MemoryVerdict,
    sm: &[ShapeVerdict],
    paths: Option<&[Tone]>,
) -> LimitsVerdict {
    if memory == MemoryVerdict::NotEnforced
        || sm.iter().any(|s| s.verdict == SmVerdict::Exceeded)
        || paths.is_some_and(|tones| tones.contains(&Tone::Fail))
    {
        return LimitsVerdict::NotEnforced;
    }
    let memory_set = memory != MemoryVerdict::NotConfigured;
    let sm_set = sm.iter().any(|s| s.verdict != SmVerdict::NotConfigured);
    if !memory_set && !sm_set {
        return LimitsVerdict::NoLimit;
    }
    let held = |tone: Tone| matches!(tone, Tone::Pass | Tone::Neutral);
    if held(memory_tone(memory))
        && sm.iter().all(|s| held(sm_tone(s.verdict)))
        && paths.is_some_and(|tones| tones.iter().all(|&t| held(t)))
    {
        LimitsVerdict::Enforced
    } else {
        LimitsVerdict::NotShown
    }
}

/// How each path the configuration's probes tried is coloured in the matrix, `None`
/// where it was not probed.
fn path_tones(matrix: &EnforcementMatrix, config: &str) -> Option<Vec<Tone>> {
    matrix.configs.iter().any(|c| c == config).then(|| {
        matrix
            .rows
            .iter()
            .filter_map(|row| row.cell(config))
            .map(enforcement::tone)
            .collect()
    })
}

fn path_tally(matrix: &EnforcementMatrix, config: &str) -> Option<PathTally> {
    if !matrix.configs.iter().any(|c| c == config) {
        return None;
    }
    let cells: Vec<_> = matrix
        .rows
        .iter()
        .filter_map(|row| Some((row, row.cell(config)?)))
        .collect();
    let mut severities: Vec<(u8, &'static str)> = cells
        .iter()
        .map(|(_, cell)| (cell.outcome.verdict.severity(), cell.outcome.verdict.word()))
        .collect();
    severities.sort();
    severities.dedup();
    let counts = severities
        .into_iter()
        .map(|(_, word)| VerdictCount {
            verdict: word.to_owned(),
            count: cells
                .iter()
                .filter(|(_, cell)| cell.outcome.verdict.word() == word)
                .count(),
        })
        .collect();
    let named = |figure: &dyn Fn(&ProbeVerdict, &str) -> Option<String>| {
        cells
            .iter()
            .filter_map(|(row, cell)| {
                Some(NamedPath {
                    id: row.id.clone(),
                    path: row.path.clone(),
                    figure: figure(&cell.outcome.verdict, &cell.outcome.unit)?,
                })
            })
            .collect()
    };
    Some(PathTally {
        counts,
        bypassed: named(&|verdict, unit| match verdict {
            ProbeVerdict::Bypassed { excess } => Some(format!("+{}", excess_amount(*excess, unit))),
            _ => None,
        }),
        crashed: named(&|verdict, _| match verdict {
            ProbeVerdict::Crashed {
                signal: Some(signal),
                timed_out: false,
            } => Some(format!("signal {signal}")),
            ProbeVerdict::Crashed { .. } => Some("timed out".to_owned()),
            _ => None,
        }),
    })
}

/// A cost is a significant change for the worse; the largest are the furthest from
/// native on the log scale.
fn overhead(check: &ConfigCheck, rows: &[ForestRow], has_native: bool) -> Overhead {
    if !has_native {
        return Overhead::NotStated {
            why: "no native baseline".to_owned(),
        };
    }
    if check.unverified {
        // The verdicts section says which check failed.
        return Overhead::NotStated {
            why: UNVERIFIED.to_owned(),
        };
    }
    if !rows.is_empty() && rows.iter().all(|row| row.verdict == Verdict::NotTested) {
        return Overhead::NotTested;
    }
    // The rows come largest first.
    let costs: Vec<&ForestRow> = rows
        .iter()
        .filter(|row| row.verdict == Verdict::Regressed)
        .collect();
    Overhead::Tested {
        significant: costs.len(),
        largest: costs.into_iter().take(LARGEST_COSTS).cloned().collect(),
    }
}

/// What a card's lines mean, in one paragraph under the cards.
pub fn card_rule() -> String {
    format!(
        "Limits enforced only where every configured limit held in the verification and \
         on every probed path; one limit shown not to hold anywhere is limits not \
         enforced. Overhead: the significant slowdowns against native (rounds agreeing), \
         the {LARGEST_COSTS} largest with their 95 % intervals. Neighbour: the worst \
         throughput loss (IS-006) and p99 kernel latency growth (IS-009) of this \
         configuration's victims beside a neighbour, against alone."
    )
}

/// The limits a card's configuration sets, e.g. "SM 50 %, memory 71577 MiB".
pub fn configured(card: &VerdictCard) -> String {
    let parts: Vec<String> = [
        card.sm_limit_pct.map(|pct| format!("SM {pct} %")),
        card.mem_limit_mib.map(|mib| format!("memory {mib} MiB")),
    ]
    .into_iter()
    .flatten()
    .collect();
    if parts.is_empty() {
        "no limit set".to_owned()
    } else {
        parts.join(", ")
    }
}

/// A card's SM line in a page's own markup: each shape with its verdict word (marked
/// by `mark` in its tone) and its figures (escaped by `text`), joined by `sep`; the
/// placeholder for no shapes.
pub(super) fn sm_line(
    shapes: &[ShapeVerdict],
    sep: &str,
    mark: impl Fn(&str, Tone) -> String,
    text: impl Fn(&str) -> String,
) -> String {
    if shapes.is_empty() {
        return super::format::NONE.to_owned();
    }
    shapes
        .iter()
        .map(|shape| {
            format!(
                "{}: {} {}",
                text(&shape.shape),
                mark(&shape.verdict.to_string(), sm_tone(shape.verdict)),
                text(&shape_brief(shape))
            )
        })
        .collect::<Vec<_>>()
        .join(sep)
}

/// The figures a shape's verdict was judged on, in a card's few words, e.g.
/// "100.1 % ± 0.1 % of native, 8 windows".
pub fn shape_brief(shape: &ShapeVerdict) -> String {
    format!(
        "{} ± {} of native, {} window{}",
        percent(shape.share_mean),
        percent(shape.spread),
        shape.windows,
        if shape.windows == 1 { "" } else { "s" }
    )
}

/// How many paths got each verdict, e.g. "9 enforced, 5 bypassed, 1 crashed".
pub fn path_counts(tally: &PathTally) -> String {
    tally
        .counts
        .iter()
        .map(|c| format!("{} {}", c.count, c.verdict))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A named path with its figure, e.g. "ENF-008 cuArrayCreate +4.0 GiB".
pub fn named_path(path: &NamedPath) -> String {
    format!("{} {} {}", path.id, path.path, path.figure)
}

/// A change against native with its interval, e.g. "OH-005 cuDriverGetVersion
/// +1336.8 % [+1290.2, +1383.0]".
pub fn cost(row: &ForestRow) -> String {
    format!(
        "{} {} {}",
        row.id,
        row.variant,
        relative(row.change_mean, row.ci_low, row.ci_high)
    )
}

/// What the overhead line says before (or instead of) its list of costs.
pub fn overhead_line(overhead: &Overhead) -> String {
    match overhead {
        Overhead::Tested { significant: 0, .. } => "no significant cost".to_owned(),
        Overhead::Tested {
            significant,
            largest,
        } => format!(
            "{significant} significant cost{}; largest {}:",
            if *significant == 1 { "" } else { "s" },
            largest.len()
        ),
        Overhead::NotTested => format!("not tested: {ONE_ROUND}"),
        Overhead::NotStated { why } => format!("not stated: {why}"),
    }
}

/// The worst a neighbour did, e.g. "IS-006 throughput -64.9 %, IS-009 p99 latency
/// +276.9 % (hami-50-victim-native-aggressor)", each figure with its scenario where
/// they differ.
pub fn neighbour_line(config: &str, neighbour: Option<&Neighbour>) -> String {
    let Some(neighbour) = neighbour else {
        return format!("no isolation scenario with a {config} victim");
    };
    let figures: Vec<(String, &str)> = [
        neighbour.interference.as_ref().map(|w| {
            (
                format!("IS-006 throughput -{}", percent(w.value)),
                w.scenario.as_str(),
            )
        }),
        neighbour.p99_growth.as_ref().map(|w| {
            (
                format!("IS-009 p99 latency +{}", percent(w.value)),
                w.scenario.as_str(),
            )
        }),
    ]
    .into_iter()
    .flatten()
    .collect();
    match &figures[..] {
        [(a, first), (b, second)] if first == second => format!("{a}, {b} ({first})"),
        _ => figures
            .iter()
            .map(|(figure, scenario)| format!("{figure} ({scenario})"))
            .collect::<Vec<_>>()
            .join("; "),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::baseline::Inconclusive;

    fn shape(verdict: SmVerdict) -> ShapeVerdict {
        ShapeVerdict {
            shape: "long-blocks".to_owned(),
            verdict,
            limit_pct: Some(50),
            share_mean: 0.5,
            spread: 0.01,
            windows: 10,
        }
    }

    #[test]
    fn one_failure_anywhere_is_a_limit_not_enforced() {
        let held = [shape(SmVerdict::Enforced)];
        // A path with no limit of its kind to judge by (e.g. memory probes under an
        // SM limit alone) is neutral, not a failure to hold.
        let enforced = [Tone::Pass, Tone::Neutral];
        assert_eq!(
            limits_verdict(MemoryVerdict::Enforced, &held, Some(&enforced)),
            LimitsVerdict::Enforced
        );
        assert_eq!(
            limits_verdict(
                MemoryVerdict::Enforced,
                &[shape(SmVerdict::Enforced), shape(SmVerdict::Exceeded)],
                Some(&enforced)
            ),
            LimitsVerdict::NotEnforced
        );
        assert_eq!(
            limits_verdict(MemoryVerdict::NotEnforced, &held, Some(&enforced)),
            LimitsVerdict::NotEnforced
        );
        assert_eq!(
            limits_verdict(
                MemoryVerdict::Enforced,
                &held,
                Some(&[Tone::Fail, Tone::Pass])
            ),
            LimitsVerdict::NotEnforced
        );
    }

    #[test]
    fn what_was_not_shown_to_hold_is_no_pass() {
        let held = [shape(SmVerdict::Enforced)];
        let too_few = [shape(SmVerdict::Inconclusive {
            reason: Inconclusive::TooFewWindows,
        })];
        let enforced = [Tone::Pass];
        let refused = [Tone::Caution, Tone::Pass];
        for (memory, sm, paths) in [
            (MemoryVerdict::Enforced, &held, None),
            (MemoryVerdict::Inconclusive, &held, Some(&enforced[..])),
            (MemoryVerdict::Enforced, &too_few, Some(&enforced[..])),
            (MemoryVerdict::Enforced, &held, Some(&refused[..])),
        ] {
            assert_eq!(
                limits_verdict(memory, sm, paths),
                LimitsVerdict::NotShown,
                "{memory:?} {sm:?} {paths:?}"
            );
        }
        assert_eq!(
            limits_verdict(
                MemoryVerdict::NotConfigured,
                &[shape(SmVerdict::NotConfigured)],
                None
            ),
            LimitsVerdict::NoLimit
        );
        assert_eq!(LimitsVerdict::NotShown.tone(), Tone::Caution);
        assert_eq!(LimitsVerdict::NotEnforced.tone(), Tone::Fail);
    }

    #[test]
    fn sizes_weigh_a_halving_as_a_doubling() {
        let row = |change_mean: f64| ForestRow {
            id: "OH-001".to_owned(),
            variant: "v".to_owned(),
            better: Better::Lower,
            change_mean,
            ci_low: change_mean,
            ci_high: change_mean,
            verdict: Verdict::NoChange,
        };
        assert!((row(1.0).size() - row(-0.5).size()).abs() < 1e-12);
        assert!(row(0.1).size() < row(-0.2).size());
        assert!(row(-1.0).size().is_finite());
    }
}
