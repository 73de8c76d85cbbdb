//! Which scenarios `isolate` knows and how a command line picks among them.

use super::record::{Pod, Role, ScenarioKind};
use super::shape::TenantShape;
use crate::error::{Error, Result};
use crate::metrics::{MetricInfo, Needs};
use crate::run::{Config, DEFAULT_HAMI_LIB};
use std::path::Path;

/// What a scenario's tenants do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Workload {
    /// Every tenant runs the spin kernel of this shape, side by side.
    Share(TenantShape),
    /// IS-005: the victim writes a pattern into its memory, the aggressor tries to
    /// read it by raw pointer and through an IPC handle.
    Memory,
    /// IS-010: the aggressor writes to an illegal address while the victim runs
    /// checked kernels.
    Fault,
}

impl Workload {
    /// The kind of record the workload's scenario saves.
    pub fn kind(self) -> ScenarioKind {
        match self {
            Self::Share(_) => ScenarioKind::Share,
            Self::Memory => ScenarioKind::Memory,
            Self::Fault => ScenarioKind::Fault,
        }
    }
}

/// A scenario: which tenants run side by side, whether they share one HAMi-core
/// state file (one pod) or each has its own (separate pods), and what they run.
#[derive(Debug, Clone, PartialEq)]
pub struct Scenario {
    pub name: String,
    pub tenants: Vec<(String, Role)>,
    pub pod: Pod,
    pub workload: Workload,
}

impl Scenario {
    /// The name its record and folder get: a share scenario's carries its shape, and
    /// one whose tenants share a pod says so, so both pod layouts keep their records.
    pub fn run_name(&self) -> String {
        let name = match self.workload {
            Workload::Share(shape) => shape.scenario_name(&self.name),
            Workload::Memory | Workload::Fault => self.name.clone(),
        };
        match self.pod {
            Pod::Separate => name,
            Pod::Shared => format!("{name}-shared-pod"),
        }
    }

    fn new(name: &str, tenants: &[(&str, Role)], workload: Workload) -> Self {
        Self {
            name: name.to_owned(),
            tenants: tenants
                .iter()
                .map(|(config, role)| ((*config).to_owned(), *role))
                .collect(),
            pod: Pod::Separate,
            workload,
        }
    }
}

/// The default scenarios: fairness natively and under two limits, limited victims
/// (measured alone first, which is where IS-003/004 read the limit) beside a limited
/// neighbour and beside an unlimited aggressor; then IS-005 and IS-010 between two
/// limited tenants, so the interposer is on both sides, and between two native ones
/// as the reference of what the driver alone does.
pub fn default_scenarios() -> Vec<Scenario> {
    use Role::{Aggressor, Peer, Victim};
    let share = Workload::Share(TenantShape::Short);
    vec![
        Scenario::new("native-x2", &[("native", Peer); 2], share),
        Scenario::new("hami-50-x2", &[("hami-50", Peer); 2], share),
        Scenario::new("hami-25-x4", &[("hami-25", Peer); 4], share),
        Scenario::new(
            "hami-25-victim-hami-25-neighbour",
            &[("hami-25", Victim), ("hami-25", Peer)],
            share,
        ),
        Scenario::new(
            "hami-50-victim-native-aggressor",
            &[("hami-50", Victim), ("native", Aggressor)],
            share,
        ),
        Scenario::new(
            "memory-hami-50-vs-hami-50",
            &[("hami-50", Victim), ("hami-50", Aggressor)],
            Workload::Memory,
        ),
        Scenario::new(
            "memory-native-vs-native",
            &[("native", Victim), ("native", Aggressor)],
            Workload::Memory,
        ),
        Scenario::new(
            "fault-hami-50-vs-hami-50",
            &[("hami-50", Aggressor), ("hami-50", Victim)],
            Workload::Fault,
        ),
        Scenario::new(
            "fault-native-vs-native",
            &[("native", Aggressor), ("native", Victim)],
            Workload::Fault,
        ),
    ]
}

/// Which tenant of a scenario an IS figure is read from: a scenario without one
/// does not measure it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subject {
    /// Any tenant, or the scenario as a whole.
    Any,
    /// A victim, measured alone before it runs beside the others.
    Victim,
    /// A victim under an SM limit, whose share alone is read against the limit.
    SmLimitedVictim,
    /// A tenant under a memory limit, which fills its memory alone.
    MemoryLimited,
}

impl Subject {
    fn admits(self, config: &Config, role: Role) -> bool {
        match self {
            Self::Any => true,
            Self::Victim => role == Role::Victim,
            Self::SmLimitedVictim => role == Role::Victim && config.expect.sm_limit_pct.is_some(),
            Self::MemoryLimited => config.expect.mem_limit_mib.is_some(),
        }
    }
}

impl Scenario {
    /// Whether a figure of `kind`, read from a tenant of `subject`, comes out of this
    /// scenario.
    fn measures(&self, kind: ScenarioKind, subject: Subject) -> Result<bool> {
        if self.workload.kind() != kind {
            return Ok(false);
        }
        for (name, role) in &self.tenants {
            // As preflight resolves them: the limits' presence, not their size.
            let config = Config::parse(name, Path::new(DEFAULT_HAMI_LIB), 1)?;
            if subject.admits(&config, *role) {
                return Ok(true);
            }
        }
        Ok(false)
    }
}

/// The names of the default scenarios of `kind` with a tenant of `subject`: those
/// that measure a metric, for a user who asked another command for it.
pub fn scenarios_of(kind: ScenarioKind, subject: Subject) -> Result<Vec<String>> {
    let mut names = Vec::new();
    for scenario in default_scenarios() {
        if scenario.measures(kind, subject)? {
            names.push(scenario.name.clone());
        }
    }
    Ok(names)
}

/// The scenarios in which `run` over the configurations `configs` measures
/// `metrics`: the default and MPS scenarios whose tenants all run configurations of
/// the run and that measure one of the metrics, in their listed order; and the
/// metrics none of them measures.
pub fn scenarios_for_run(
    configs: &[&str],
    metrics: &[&'static MetricInfo],
) -> Result<(Vec<String>, Vec<&'static MetricInfo>)> {
    let candidates: Vec<Scenario> = default_scenarios()
        .into_iter()
        .chain(mps_scenarios())
        .filter(|s| {
            s.tenants
                .iter()
                .all(|(name, _)| configs.contains(&name.as_str()))
        })
        .collect();
    let mut wanted = vec![false; candidates.len()];
    let mut unmeasured = Vec::new();
    for &info in metrics {
        let Needs::Tenants(kind, subject) = info.needs else {
            continue;
        };
        let mut measured = false;
        for (scenario, wanted) in candidates.iter().zip(wanted.iter_mut()) {
            if scenario.measures(kind, subject)? {
                (measured, *wanted) = (true, true);
            }
        }
        if !measured {
            unmeasured.push(info);
        }
    }
    let names = candidates
        .into_iter()
        .zip(wanted)
        .filter_map(|(s, wanted)| wanted.then_some(s.name))
        .collect();
    Ok((names, unmeasured))
}

/// Scenarios whose tenants are clients of one private MPS daemon (one GPU shared
/// under MPS), picked by name only: the default set must run where no MPS control
/// program is installed.
pub fn mps_scenarios() -> Vec<Scenario> {
    use Role::{Aggressor, Peer, Victim};
    let share = Workload::Share(TenantShape::Short);
    vec![
        Scenario::new("mps-50-x2", &[("mps-50", Peer); 2], share),
        Scenario::new("mps-25-x4", &[("mps-25", Peer); 4], share),
        Scenario::new(
            "mps-50-victim-native-aggressor",
            &[("mps-50", Victim), ("native", Aggressor)],
            share,
        ),
        Scenario::new(
            "memory-mps-50-vs-mps-50",
            &[("mps-50", Victim), ("mps-50", Aggressor)],
            Workload::Memory,
        ),
        Scenario::new(
            "fault-mps-50-vs-mps-50",
            &[("mps-50", Aggressor), ("mps-50", Victim)],
            Workload::Fault,
        ),
    ]
}

/// The default scenarios named in `list` (comma-separated), all of them for `None`;
/// MPS ones are found by name too. An unknown name is an error naming the known ones. With `pod`, every selected
/// scenario runs its tenants in that pod layout. Each share scenario is run once per
/// shape of `shapes` (comma-separated; [`TenantShape::DEFAULT`] for `None`).
pub fn select_scenarios(
    list: Option<&str>,
    pod: Option<Pod>,
    shapes: Option<&str>,
) -> Result<Vec<Scenario>> {
    let shapes = match shapes {
        Some(list) => TenantShape::parse_list(list)?,
        None => TenantShape::DEFAULT.to_vec(),
    };
    let mut all = default_scenarios();
    let defaults = all.len();
    all.extend(mps_scenarios());
    if let Some(pod) = pod {
        for scenario in &mut all {
            scenario.pod = pod;
        }
    }
    let picked = match list {
        None => all.into_iter().take(defaults).collect(),
        Some(list) => list
            .split(',')
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .map(|name| {
                all.iter().find(|s| s.name == name).cloned().ok_or_else(|| {
                    Error::Invalid(format!(
                        "unknown scenario '{name}'; the scenarios are {}",
                        all.iter()
                            .map(|s| s.name.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ))
                })
            })
            .collect::<Result<Vec<_>>>()?,
    };
    Ok(picked
        .into_iter()
        .flat_map(|scenario| match scenario.workload {
            Workload::Share(_) => shapes
                .iter()
                .map(|&shape| Scenario {
                    workload: Workload::Share(shape),
                    ..scenario.clone()
                })
                .collect(),
            Workload::Memory | Workload::Fault => vec![scenario],
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(scenarios: &[Scenario]) -> Vec<String> {
        scenarios.iter().map(Scenario::run_name).collect()
    }

    #[test]
    fn a_run_measures_a_metric_in_the_scenarios_its_configurations_make_up() {
        let ids = |list: &[&str]| -> Vec<&'static MetricInfo> {
            list.iter()
                .map(|id| crate::metrics::find(id).unwrap())
                .collect()
        };
        let (names, unmeasured) =
            scenarios_for_run(&["native"], &ids(&["IS-001", "IS-007", "IS-005"])).unwrap();
        assert_eq!(names, ["native-x2", "memory-native-vs-native"]);
        assert_eq!(
            unmeasured.iter().map(|m| m.id).collect::<Vec<_>>(),
            ["IS-001"]
        );
        let (names, unmeasured) =
            scenarios_for_run(&["native", "hami-50"], &ids(&["IS-003"])).unwrap();
        assert_eq!(names, ["hami-50-victim-native-aggressor"]);
        assert!(unmeasured.is_empty());
        let (names, _) = scenarios_for_run(&["mps-50", "native"], &ids(&["IS-010"])).unwrap();
        assert_eq!(names, ["fault-native-vs-native", "fault-mps-50-vs-mps-50"]);
    }

    #[test]
    fn the_scenarios_of_a_metric_are_those_with_its_subject() {
        let of = |kind, subject| scenarios_of(kind, subject).unwrap();
        assert_eq!(
            of(ScenarioKind::Share, Subject::SmLimitedVictim),
            [
                "hami-25-victim-hami-25-neighbour",
                "hami-50-victim-native-aggressor"
            ]
        );
        assert_eq!(
            of(ScenarioKind::Share, Subject::MemoryLimited),
            [
                "hami-50-x2",
                "hami-25-x4",
                "hami-25-victim-hami-25-neighbour",
                "hami-50-victim-native-aggressor"
            ]
        );
        assert_eq!(of(ScenarioKind::Share, Subject::Any).len(), 5);
        assert_eq!(
            of(ScenarioKind::Fault, Subject::Any),
            ["fault-hami-50-vs-hami-50", "fault-native-vs-native"]
        );
    }

    #[test]
    fn a_shared_pod_is_in_the_name_so_both_layouts_keep_their_records() {
        let shared =
            select_scenarios(Some("hami-50-x2"), Some(Pod::Shared), Some("short,gemm")).unwrap();
        assert_eq!(
            names(&shared),
            ["hami-50-x2-shared-pod", "hami-50-x2-gemm-shared-pod"]
        );
        let separate =
            select_scenarios(Some("hami-50-x2"), Some(Pod::Separate), Some("short")).unwrap();
        assert_eq!(names(&separate), ["hami-50-x2"]);
    }

    #[test]
    fn unknown_scenarios_are_named_with_the_known_ones() {
        let err = select_scenarios(Some("native-x2,bogus"), None, None).unwrap_err();
        assert!(
            err.to_string().contains("'bogus'") && err.to_string().contains("hami-25-x4"),
            "{err}"
        );
    }

    #[test]
    fn share_scenarios_run_once_per_shape_and_the_others_once() {
        let picked = select_scenarios(
            Some("native-x2,memory-native-vs-native,fault-native-vs-native"),
            None,
            Some("short,10ms"),
        )
        .unwrap();
        assert_eq!(
            names(&picked),
            [
                "native-x2",
                "native-x2-10ms",
                "memory-native-vs-native",
                "fault-native-vs-native"
            ]
        );
        assert_eq!(picked[1].workload, Workload::Share(TenantShape::TenMs));
        let err = select_scenarios(None, None, Some("short,gemm-cutlass")).unwrap_err();
        assert!(
            err.to_string()
                .contains("unknown kernel shape 'gemm-cutlass'"),
            "{err}"
        );
    }

    #[test]
    fn by_default_every_scenario_runs_and_share_ones_in_every_default_shape() {
        let defaults = default_scenarios();
        let all = select_scenarios(None, None, None).unwrap();
        let shares = defaults
            .iter()
            .filter(|s| matches!(s.workload, Workload::Share(_)))
            .count();
        assert_eq!(
            all.len(),
            defaults.len() + shares * (TenantShape::DEFAULT.len() - 1)
        );
        let mut unique = names(&all);
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), all.len(), "every run has a folder of its own");
    }

    #[test]
    fn mps_scenarios_are_picked_by_name_only() {
        let all = select_scenarios(None, None, None).unwrap();
        assert!(all
            .iter()
            .all(|s| !s.name.starts_with("mps")
                && s.tenants.iter().all(|(c, _)| !c.starts_with("mps"))));
        let picked = select_scenarios(
            Some("mps-25-x4,fault-mps-50-vs-mps-50"),
            None,
            Some("short"),
        )
        .unwrap();
        assert_eq!(names(&picked), ["mps-25-x4", "fault-mps-50-vs-mps-50"]);
        assert_eq!(
            picked[0].tenants,
            vec![("mps-25".to_owned(), Role::Peer); 4]
        );
        let err = select_scenarios(Some("mps-10-x2"), None, None).unwrap_err();
        assert!(err.to_string().contains("mps-50-x2"), "{err}");
    }

    #[test]
    fn memory_and_fault_scenarios_have_one_victim_and_one_aggressor() {
        for scenario in default_scenarios()
            .iter()
            .chain(&mps_scenarios())
            .filter(|s| !matches!(s.workload, Workload::Share(_)))
        {
            let mut roles: Vec<Role> = scenario.tenants.iter().map(|(_, r)| *r).collect();
            roles.sort_by_key(|r| *r as u8);
            assert_eq!(roles, [Role::Victim, Role::Aggressor], "{}", scenario.name);
        }
    }
}
