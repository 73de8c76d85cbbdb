//! The enforcement matrix as data: one row per path a tenant could take memory or
//! SMs by (the ENF probes), one column per configuration that was probed, each cell
//! the verdict with its figure. A configuration is only as strong as its weakest
//! path, so every rendering states this right after the first screen, whose cards
//! count each column's verdicts, and the cell's words are written here once for all
//! of them.

use super::discover::LoadedConfig;
use super::format::number;
use super::limits::Tone;
use crate::baseline::{
    EnforcementRecord, ProbeKind, ProbeOutcome, ProbeVerdict, LEAK_TOLERANCE_MIB,
};
use serde::Serialize;

use crate::baseline::{UNIT_BYTES as BYTES, UNIT_PERCENT_OF_NATIVE as PERCENT};

const GIB: f64 = (1u64 << 30) as f64;

/// Every probed path under every probed configuration of one GPU.
#[derive(Debug, Clone, Serialize)]
pub struct EnforcementMatrix {
    /// The configurations that have an enforcement.json, in report order: the
    /// matrix's columns.
    pub configs: Vec<String>,
    /// The configurations without one, in report order, so a reader sees which
    /// columns are missing rather than guessing.
    pub unprobed: Vec<String>,
    /// Paths bypassed somewhere first (each row sorts by its worst cell), then by id.
    pub rows: Vec<PathRow>,
    /// What each probed configuration left behind, in column order.
    pub leaks: Vec<LeakCheck>,
}

/// One path across the probed configurations.
#[derive(Debug, Clone, Serialize)]
pub struct PathRow {
    pub id: String,
    pub path: String,
    pub kind: ProbeKind,
    /// One per configuration that probed this path, in column order; a column
    /// without a cell did not probe it.
    pub cells: Vec<Cell>,
}

/// What one path gave the tenant under one configuration: the probe's entry less
/// the row's id, path and kind, with the text every rendering shows.
#[derive(Debug, Clone, Serialize)]
pub struct Cell {
    pub config: String,
    #[serde(flatten)]
    pub outcome: ProbeOutcome,
    /// The verdict and its figure in words, e.g. "bypassed +4.0 GiB (24.0 GiB held vs
    /// 20.0 GiB limit)".
    pub text: String,
}

/// Whether a configuration's probes left memory or processes behind (they may not).
#[derive(Debug, Clone, Serialize)]
pub struct LeakCheck {
    pub config: String,
    pub used_before_mib: u64,
    pub used_after_mib: u64,
    pub children_left: u32,
    /// No more memory in use after the probes than [`LEAK_TOLERANCE_MIB`] above what
    /// was before, and no child left: what the run itself fails on.
    pub clean: bool,
    /// The check in words, e.g. "1024 MiB in use before the probes, 1024 MiB after;
    /// no probe child left".
    pub text: String,
}

impl EnforcementMatrix {
    /// The matrix of `configs` (in report order), from round 1's enforcement.json:
    /// the export's own, as every other figure of a report is round 1's.
    pub fn build(configs: &[LoadedConfig]) -> Self {
        let probed: Vec<(&str, &EnforcementRecord)> = configs
            .iter()
            .filter_map(|config| Some((config.name(), config.baseline.enforcement.as_ref()?)))
            .collect();
        let mut rows: Vec<PathRow> = Vec::new();
        for (config, record) in &probed {
            for probe in &record.probes {
                let cell = cell(config, &probe.outcome);
                match rows.iter_mut().find(|row| row.id == probe.id) {
                    Some(row) => row.cells.push(cell),
                    None => rows.push(PathRow {
                        id: probe.id.clone(),
                        path: probe.path.clone(),
                        kind: probe.kind,
                        cells: vec![cell],
                    }),
                }
            }
        }
        rows.sort_by(|a, b| (a.worst(), &a.id).cmp(&(b.worst(), &b.id)));
        Self {
            configs: probed
                .iter()
                .map(|(config, _)| (*config).to_owned())
                .collect(),
            unprobed: configs
                .iter()
                .filter(|config| config.baseline.enforcement.is_none())
                .map(|config| config.name().to_owned())
                .collect(),
            rows,
            leaks: probed
                .iter()
                .map(|(config, record)| leak_check(config, record))
                .collect(),
        }
    }

    /// Whether no configuration of the GPU was probed at all.
    pub fn is_empty(&self) -> bool {
        self.configs.is_empty()
    }
}

impl PathRow {
    /// The row's cell of `config`, if that configuration probed the path.
    pub fn cell(&self, config: &str) -> Option<&Cell> {
        self.cells.iter().find(|cell| cell.config == config)
    }

    /// The severity of the row's worst cell: a path bypassed anywhere sorts first.
    fn worst(&self) -> u8 {
        self.cells
            .iter()
            .map(|cell| cell.outcome.verdict.severity())
            .min()
            .unwrap_or(u8::MAX)
    }
}

fn cell(config: &str, outcome: &ProbeOutcome) -> Cell {
    Cell {
        config: config.to_owned(),
        outcome: outcome.clone(),
        text: cell_text(outcome),
    }
}

/// A probe's verdict and figure in words: the one place a cell is worded.
pub fn cell_text(probe: &ProbeOutcome) -> String {
    let word = probe.verdict.word();
    let unit = probe.unit.as_str();
    match &probe.verdict {
        ProbeVerdict::Bypassed { excess } => {
            let against = match (probe.figure, probe.limit) {
                (Some(figure), Some(limit)) => format!(
                    " ({}{} vs {} limit)",
                    amount(figure, unit),
                    held(unit),
                    amount(limit, unit)
                ),
                _ => String::new(),
            };
            format!("{word} +{}{against}", excess_amount(*excess, unit))
        }
        ProbeVerdict::Enforced => match (probe.figure, probe.limit) {
            (Some(figure), Some(limit)) => format!(
                "{word} ({} of {})",
                amount(figure, unit),
                amount(limit, unit)
            ),
            (Some(figure), None) => format!("{word} ({})", amount(figure, unit)),
            (None, _) => word.to_owned(),
        },
        ProbeVerdict::RefusedUnlikeNative => format!("{word} ({})", probe.status),
        ProbeVerdict::Inconclusive { why } | ProbeVerdict::NotApplicable { why } => {
            format!("{word}: {why}")
        }
        ProbeVerdict::Crashed { signal, timed_out } => match (signal, timed_out) {
            (Some(signal), false) => format!("{word}: signal {signal}"),
            (Some(signal), true) => format!("{word}: timed out, killed by signal {signal}"),
            (None, true) => format!("{word}: timed out"),
            (None, false) => format!("{word}: died without a verdict"),
        },
    }
}

/// How a cell is coloured: a limit got around, or a probe that killed its child, is
/// a failure; a path that breaks only under the layer, or that proves nothing, is
/// worth a look, unless there was no limit to judge it by (native's column); only a
/// limit that held passes.
pub(super) fn tone(cell: &Cell) -> Tone {
    match &cell.outcome.verdict {
        ProbeVerdict::Bypassed { .. } | ProbeVerdict::Crashed { .. } => Tone::Fail,
        ProbeVerdict::Inconclusive { .. } if cell.outcome.limit.is_none() => Tone::Neutral,
        ProbeVerdict::RefusedUnlikeNative | ProbeVerdict::Inconclusive { .. } => Tone::Caution,
        ProbeVerdict::Enforced => Tone::Pass,
        ProbeVerdict::NotApplicable { .. } => Tone::Neutral,
    }
}

/// A probe's kind as its row shows it.
pub fn kind_word(kind: ProbeKind) -> &'static str {
    match kind {
        ProbeKind::Memory => "memory",
        ProbeKind::Sm => "SM",
        ProbeKind::Tamper => "tamper",
    }
}

/// What the verdicts mean, in one paragraph.
pub fn verdict_rule() -> String {
    "Each path is probed in a fresh child process of the configuration, trying to get more \
     than its limit (memory: limit + 4 GiB; SMs: throughput-bound work), and natively as its \
     control. enforced: the path gave no more than the limit; bypassed: it gave more, by the \
     figure shown; refused-unlike-native: it fails under the configuration where it works \
     natively (a compatibility break); inconclusive: nothing can be concluded (e.g. the \
     native control failed); not-applicable: the path does not exist here; crashed: the \
     probe's child died or outlived its timeout. Rows with a path bypassed anywhere come \
     first."
        .to_owned()
}

/// A leak check's colour: anything left behind is a failure.
pub(super) fn leak_tone(leak: &LeakCheck) -> Tone {
    if leak.clean {
        Tone::Pass
    } else {
        Tone::Fail
    }
}

/// The cell of a column that did not probe the row's path.
pub const NOT_PROBED: &str = "not probed";

/// The line shown where a GPU's baselines hold no enforcement.json at all.
pub const NO_PROBES: &str = "No enforcement probes in this run.";

/// The configurations with no column, in a line; `None` where every one has one.
pub fn unprobed_line(matrix: &EnforcementMatrix) -> Option<String> {
    (!matrix.unprobed.is_empty())
        .then(|| format!("No enforcement probes for {}.", matrix.unprobed.join(", ")))
}

fn leak_check(config: &str, record: &EnforcementRecord) -> LeakCheck {
    let grown = record.grown_mib();
    let clean = record.left_behind().is_none();
    let memory = match grown {
        0 => String::new(),
        1..=LEAK_TOLERANCE_MIB => {
            format!(": {grown} MiB more, within the {LEAK_TOLERANCE_MIB} MiB tolerance")
        }
        _ => format!(": {grown} MiB left behind"),
    };
    let children = match record.children_left {
        0 => "no probe child left".to_owned(),
        1 => "1 probe child left running".to_owned(),
        n => format!("{n} probe children left running"),
    };
    LeakCheck {
        config: config.to_owned(),
        used_before_mib: record.used_before_mib,
        used_after_mib: record.used_after_mib,
        children_left: record.children_left,
        clean,
        text: format!(
            "{} MiB in use before the probes, {} MiB after{memory}; {children}",
            record.used_before_mib, record.used_after_mib
        ),
    }
}

/// A figure in its unit as a reader takes it in: bytes in GiB, shares in %.
pub(super) fn amount(value: f64, unit: &str) -> String {
    match unit {
        BYTES => format!("{:.1} GiB", value / GIB),
        PERCENT => format!("{value:.1} %"),
        other => format!("{} {other}", number(value)),
    }
}

/// How much more than the limit a path gave: a share's excess is in points of
/// native's throughput, not a percentage of the limit.
pub(super) fn excess_amount(excess: f64, unit: &str) -> String {
    match unit {
        PERCENT => format!("{excess:.1} pts"),
        other => amount(excess, other),
    }
}

/// What the figure is of, after it: memory the tenant held, a share of native.
fn held(unit: &str) -> &'static str {
    match unit {
        BYTES => " held",
        PERCENT => " of native",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn probe(
        verdict: ProbeVerdict,
        unit: &str,
        figure: Option<f64>,
        limit: Option<f64>,
    ) -> ProbeOutcome {
        ProbeOutcome {
            verdict,
            figure,
            unit: unit.into(),
            limit,
            control: figure,
            status: "CUDA_SUCCESS".into(),
            detail: String::new(),
        }
    }

    #[test]
    fn cells_say_the_verdict_with_bytes_in_gib_and_shares_in_percent() {
        let gib = GIB;
        let cases = [
            (
                probe(
                    ProbeVerdict::Bypassed { excess: 4.0 * gib },
                    BYTES,
                    Some(75.0 * gib),
                    Some(71.0 * gib),
                ),
                "bypassed +4.0 GiB (75.0 GiB held vs 71.0 GiB limit)",
            ),
            (
                probe(
                    ProbeVerdict::Enforced,
                    BYTES,
                    Some(70.9 * gib),
                    Some(71.0 * gib),
                ),
                "enforced (70.9 GiB of 71.0 GiB)",
            ),
            (
                probe(
                    ProbeVerdict::Bypassed { excess: 49.8 },
                    PERCENT,
                    Some(99.8),
                    Some(50.0),
                ),
                "bypassed +49.8 pts (99.8 % of native vs 50.0 % limit)",
            ),
            (
                ProbeOutcome {
                    status: "CUDA_ERROR_NOT_SUPPORTED".into(),
                    ..probe(ProbeVerdict::RefusedUnlikeNative, BYTES, None, Some(gib))
                },
                "refused-unlike-native (CUDA_ERROR_NOT_SUPPORTED)",
            ),
            (
                probe(
                    ProbeVerdict::Inconclusive {
                        why: "the native control failed".into(),
                    },
                    BYTES,
                    None,
                    None,
                ),
                "inconclusive: the native control failed",
            ),
            (
                probe(
                    ProbeVerdict::NotApplicable {
                        why: "no libcudart".into(),
                    },
                    BYTES,
                    None,
                    None,
                ),
                "not-applicable: no libcudart",
            ),
            (
                probe(
                    ProbeVerdict::Crashed {
                        signal: Some(11),
                        timed_out: false,
                    },
                    BYTES,
                    None,
                    None,
                ),
                "crashed: signal 11",
            ),
            (
                probe(
                    ProbeVerdict::Crashed {
                        signal: Some(9),
                        timed_out: true,
                    },
                    BYTES,
                    None,
                    None,
                ),
                "crashed: timed out, killed by signal 9",
            ),
        ];
        for (outcome, expected) in cases {
            assert_eq!(cell_text(&outcome), expected);
        }
    }

    #[test]
    fn only_a_held_limit_is_green_and_only_a_bypass_or_crash_red() {
        let tone_of = |verdict: ProbeVerdict, limit: Option<f64>| {
            tone(&cell("hami-50", &probe(verdict, BYTES, Some(GIB), limit)))
        };
        let limit = Some(GIB);
        let tones = [
            tone_of(ProbeVerdict::Enforced, limit),
            tone_of(ProbeVerdict::Bypassed { excess: 1.0 }, limit),
            tone_of(
                ProbeVerdict::Crashed {
                    signal: None,
                    timed_out: true,
                },
                limit,
            ),
            tone_of(ProbeVerdict::RefusedUnlikeNative, limit),
            tone_of(
                ProbeVerdict::Inconclusive {
                    why: "the native control failed".into(),
                },
                limit,
            ),
            tone_of(
                ProbeVerdict::Inconclusive {
                    why: "no memory limit is configured".into(),
                },
                None,
            ),
            tone_of(
                ProbeVerdict::NotApplicable {
                    why: "no libcudart".into(),
                },
                limit,
            ),
        ];
        assert_eq!(
            tones,
            [
                Tone::Pass,
                Tone::Fail,
                Tone::Fail,
                Tone::Caution,
                Tone::Caution,
                Tone::Neutral,
                Tone::Neutral
            ]
        );
    }

    #[test]
    fn memory_or_a_child_left_behind_is_no_clean_check() {
        let record = |before, after, children| EnforcementRecord {
            config: "hami-50".into(),
            device: crate::baseline::DeviceFacts::h200(),
            probes: Vec::new(),
            used_before_mib: before,
            used_after_mib: after,
            children_left: children,
        };
        let clean = leak_check("hami-50", &record(512, 512, 0));
        assert!(clean.clean);
        assert_eq!(
            clean.text,
            "512 MiB in use before the probes, 512 MiB after; no probe child left"
        );
        let leaked = leak_check("hami-50", &record(512, 1536, 1));
        assert!(!leaked.clean);
        assert_eq!(
            leaked.text,
            "512 MiB in use before the probes, 1536 MiB after: 1024 MiB left behind; 1 probe child left running"
        );
        assert!(!leak_check("hami-50", &record(512, 512, 2)).clean);
        let noise = leak_check("hami-25", &record(1050, 1102, 0));
        assert!(noise.clean);
        assert_eq!(
            noise.text,
            "1050 MiB in use before the probes, 1102 MiB after: 52 MiB more, within the 256 MiB \
             tolerance; no probe child left"
        );
    }
}
