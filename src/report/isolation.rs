//! Isolation in reports: the cross-tenant probes (IS-005, IS-010), one finding per
//! scenario computed from its record and its Markdown section for `compare`; and the
//! worst a neighbour did to each configuration's victims (IS-006, IS-009).

use super::findings::{Finding, FindingKind};
use super::format::{metric_title, number, percent, NONE};
use crate::metrics::isolation::fault::{FaultRecord, FaultVerdict};
use crate::metrics::isolation::memory::{Access, MemoryRecord, MemoryVerdict, PathRecord};
use crate::metrics::isolation::{ProbeRecords, ScenarioRecord, TenantRecord};
use serde::Serialize;
use std::fmt::Write;

/// What another tenant could read of a tenant's memory (IS-005).
#[derive(Debug, Clone, Serialize)]
pub struct MemoryFinding {
    pub scenario: String,
    pub verdict: MemoryVerdict,
    pub raw_copy: Access,
    pub raw_kernel: Access,
    /// The explicit sharing path: what the layer allowed, not a leak.
    pub ipc: Access,
    pub owner_changed_words: u64,
}

/// Whether a tenant ran on, correctly, beside another's fault (IS-010).
#[derive(Debug, Clone, Serialize)]
pub struct FaultFinding {
    pub scenario: String,
    pub verdict: FaultVerdict,
    /// CUresult name the faulting tenant's synchronisation returned.
    pub fault_result: String,
    /// CUresult name of the victim's first error, if it met one.
    pub victim_error: Option<String>,
    pub victim_wrong: u64,
    /// The victim's throughput after the fault over before it.
    pub after_over_before: Option<f64>,
}

/// The worst a neighbour did to a victim of one configuration, over every scenario.
#[derive(Debug, Clone, Serialize)]
pub struct Neighbour {
    /// The largest IS-006 loss: throughput lost beside the others, of alone.
    pub interference: Option<WorstFigure>,
    /// The largest IS-009 growth of the p99 kernel latency beside the others.
    pub p99_growth: Option<WorstFigure>,
}

/// A figure (a fraction) with the scenario and tenant it was measured on.
#[derive(Debug, Clone, Serialize)]
pub struct WorstFigure {
    pub scenario: String,
    pub tenant: String,
    pub value: f64,
}

/// The largest IS-006 and IS-009 figures of the tenants of `config` that were
/// measured alone and beside others (the victims); `None` where no scenario has one.
pub fn worst_neighbour(scenarios: &[ScenarioRecord], config: &str) -> Option<Neighbour> {
    let victims: Vec<_> = scenarios
        .iter()
        .flat_map(|s| s.tenants.iter().map(move |t| (s, t)))
        .filter(|(_, t)| t.tenant.config == config && t.interference.is_some())
        .collect();
    let worst = |figure: &dyn Fn(&TenantRecord) -> Option<f64>| {
        victims
            .iter()
            .filter_map(|(s, t)| {
                Some(WorstFigure {
                    scenario: s.scenario.clone(),
                    tenant: t.tenant.name.clone(),
                    value: figure(t)?,
                })
            })
            .max_by(|a, b| a.value.total_cmp(&b.value))
    };
    (!victims.is_empty()).then(|| Neighbour {
        interference: worst(&|t| t.interference),
        p99_growth: worst(&|t| t.p99_growth),
    })
}

/// One finding per probe scenario.
pub fn probe_findings(probes: &ProbeRecords) -> Vec<Finding> {
    probes
        .memory
        .iter()
        .map(memory_finding)
        .chain(probes.fault.iter().map(fault_finding))
        .collect()
}

fn fault_finding(f: &FaultRecord) -> Finding {
    let verdict = fault_word(f.verdict);
    Finding {
        config: f.scenario.clone(),
        text: format!(
            "{}: {verdict}, {}: {}'s write to {:#x} got {} (then {} from cuMemAlloc); {} ran at {} of its rate before the fault",
            f.scenario,
            f.reason,
            who(&f.faulting.name, &f.faulting.config),
            f.fault.address,
            f.fault.sync,
            f.fault.after,
            who(&f.victim.name, &f.victim.config),
            f.after_over_before.map_or_else(|| NONE.to_owned(), percent),
        ),
        kind: FindingKind::FaultIsolation(FaultFinding {
            scenario: f.scenario.clone(),
            verdict: f.verdict,
            fault_result: f.fault.sync.clone(),
            victim_error: f.victim_run.error.as_ref().map(|e| e.result.clone()),
            victim_wrong: f.victim_run.wrong,
            after_over_before: f.after_over_before,
        }),
    }
}

fn memory_finding(m: &MemoryRecord) -> Finding {
    let verdict = memory_word(m.verdict);
    let (owner, reader) = (&m.owner.name, &m.reader.name);
    let ipc = match m.ipc.access {
        Access::Refused => format!("IPC refused ({})", reading(&m.ipc)),
        Access::ReadVictimData => format!(
            "IPC allowed: {reader} read {owner}'s data through its handle (explicit sharing, not a leak)"
        ),
        Access::ReadOther => format!("IPC opened but gave {reader} other data"),
    };
    let changed = match (&m.owner_check.lost, m.owner_check.changed_words) {
        (Some(error), _) => format!("{owner} LOST its context ({error})"),
        (None, 0) => format!("{owner}'s data unchanged"),
        (None, n) => format!("{n} of {owner}'s words CHANGED"),
    };
    Finding {
        config: m.scenario.clone(),
        text: format!(
            "{}: {verdict}: {} reading {}'s memory by raw pointer: copy {}, kernel {}; {changed}; {ipc}",
            m.scenario,
            who(reader, &m.reader.config),
            who(owner, &m.owner.config),
            reading(&m.raw_copy),
            reading(&m.raw_kernel),
        ),
        kind: FindingKind::MemoryIsolation(MemoryFinding {
            scenario: m.scenario.clone(),
            verdict: m.verdict,
            raw_copy: m.raw_copy.access,
            raw_kernel: m.raw_kernel.access,
            ipc: m.ipc.access,
            owner_changed_words: m.owner_check.changed_words,
        }),
    }
}

/// A verdict as the page states it: failures in capitals, so they stand out.
fn memory_word(verdict: MemoryVerdict) -> &'static str {
    match verdict {
        MemoryVerdict::Isolated => "isolated",
        MemoryVerdict::Leaked => "LEAKED",
        MemoryVerdict::Corrupted => "CORRUPTED",
        MemoryVerdict::VictimLost => "VICTIM LOST",
    }
}

fn fault_word(verdict: FaultVerdict) -> &'static str {
    match verdict {
        FaultVerdict::Isolated => "isolated",
        FaultVerdict::NotIsolated => "NOT ISOLATED",
        FaultVerdict::Inconclusive => "inconclusive",
    }
}

fn who(name: &str, config: &str) -> String {
    format!("{name} ({config})")
}

/// What one path gave, in a few words.
fn reading(path: &PathRecord) -> String {
    let p = &path.probe;
    match path.access {
        Access::Refused => format!(
            "refused ({} from {})",
            p.result,
            p.refused_by.as_deref().unwrap_or(NONE)
        ),
        Access::ReadOther => format!("read {} bytes, none of them the victim's", p.bytes_read),
        Access::ReadVictimData => format!("read {} words of the victim's data", p.matched_words),
    }
}

/// The Markdown sections of every probe scenario.
pub fn render_probes(out: &mut String, probes: &ProbeRecords) {
    for m in &probes.memory {
        render_memory(out, m);
    }
    for f in &probes.fault {
        render_fault(out, f);
    }
}

fn render_fault(out: &mut String, f: &FaultRecord) {
    let _ = writeln!(
        out,
        "### Isolation: {} ({}, {}, {} s)\n",
        f.scenario,
        metric_title("IS-010"),
        f.pod.describe(),
        f.secs
    );
    let verdict = fault_word(f.verdict);
    let _ = writeln!(
        out,
        "{} wrote to {:#x}: launch {}, synchronize {}, then cuMemAlloc {}. {} ran checked \
         spin kernels ({}) throughout. Verdict: **{verdict}** ({}).\n",
        who(&f.faulting.name, &f.faulting.config),
        f.fault.address,
        f.fault.launch,
        f.fault.sync,
        f.fault.after,
        who(&f.victim.name, &f.victim.config),
        f.victim_shape.describe(),
        f.reason,
    );
    out.push_str(
        "| Victim | Correct kernels | Wrong | Error | Kernels/s before the fault | After | Slowest window after | After / before |\n",
    );
    out.push_str("|---|---|---|---|---|---|---|---|\n");
    let run = &f.victim_run;
    let rate = |v: Option<f64>| v.map_or_else(|| NONE.to_owned(), number);
    let _ = writeln!(
        out,
        "| {} | {} | {} | {} | {} | {} | {} | {} |\n",
        f.victim.name,
        run.correct,
        run.wrong,
        run.error.as_ref().map_or_else(
            || NONE.to_owned(),
            |e| format!("{} from {}", e.result, e.call)
        ),
        rate(f.before_per_s),
        rate(f.after_per_s),
        rate(f.slowest_after_per_s),
        f.after_over_before.map_or_else(|| NONE.to_owned(), percent),
    );
}

fn render_memory(out: &mut String, m: &MemoryRecord) {
    let _ = writeln!(
        out,
        "### Isolation: {} ({}, {})\n",
        m.scenario,
        metric_title("IS-005"),
        m.pod.describe()
    );
    let verdict = memory_word(m.verdict);
    let after = match &m.owner_check.lost {
        Some(error) => format!(
            "After the probes {} could not read its own data back ({error})",
            m.owner.name
        ),
        None => format!(
            "After the probes {} of {} words of {} were changed",
            m.owner_check.changed_words, m.owner_check.words, m.owner.name
        ),
    };
    let _ = writeln!(
        out,
        "{} wrote a pattern of {} MiB at {:#x}; {} tried to read it. Verdict: **{verdict}**. \
         {after}. The address lies in {}'s own memory: {}.\n",
        who(&m.owner.name, &m.owner.config),
        m.bytes >> 20,
        m.address,
        who(&m.reader.name, &m.reader.config),
        m.reader.name,
        if m.reader_owns_address { "yes" } else { "no" },
    );
    out.push_str("| Path | Result | Refused by | Bytes read | Words of the pattern | Reading |\n");
    out.push_str("|---|---|---|---|---|---|\n");
    for (path, record) in [
        ("raw pointer, cuMemcpyDtoH", &m.raw_copy),
        ("raw pointer, kernel", &m.raw_kernel),
        ("IPC handle (explicit sharing)", &m.ipc),
    ] {
        let p = &record.probe;
        let _ = writeln!(
            out,
            "| {path} | {} | {} | {} | {} | {} |",
            p.result,
            p.refused_by.as_deref().unwrap_or(NONE),
            p.bytes_read,
            p.matched_words,
            reading(record),
        );
    }
    out.push('\n');
}
