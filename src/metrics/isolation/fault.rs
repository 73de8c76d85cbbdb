//! IS-010, fault isolation: the victim runs spin kernels whose every output is checked,
//! while the aggressor, halfway through, writes to an address no allocation covers and
//! reports the error it gets (its context is then unusable). The victim reports its
//! windows on the wall clock, which orders them against the fault across processes.

use super::memory::SUCCESS;
use super::ops::{CheckedSpin, Fault};
use super::record::{Pod, Role, ScenarioKind, Tenant};
use super::shape::TenantShape;
use super::{spawn_pair, tenant_of, Scenario, Setting};
use crate::baseline::DeviceFacts;
use crate::run::Config;
use crate::stats::mean;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Duration;

/// Where the aggressor writes: the null page, which no allocation covers.
pub const FAULT_ADDRESS: u64 = 0x10;
/// The victim's kernels: the short shape, so a window holds thousands of checks.
pub const VICTIM_SHAPE: TenantShape = TenantShape::Short;
/// When the aggressor faults, as a fraction of the victim's run.
const FAULT_AT: f64 = 0.5;

/// What the aggressor's illegal write returned.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FaultReport {
    pub address: u64,
    /// CUresult names of the launch, of the synchronisation that reports the fault,
    /// and of an allocation after it (is the context still usable?).
    pub launch: String,
    pub sync: String,
    pub after: String,
    pub launched_unix_s: f64,
    pub reported_unix_s: f64,
}

/// The victim's throughput over one window, ending at `end_unix_s`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckedWindow {
    pub end_unix_s: f64,
    pub kernels_per_s: f64,
}

/// A CUDA error the victim met, and when.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimedError {
    pub call: String,
    pub result: String,
    pub at_unix_s: f64,
}

/// The victim's run: every kernel's output checked on the host.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckedRun {
    pub started_unix_s: f64,
    pub windows: Vec<CheckedWindow>,
    /// Kernels whose output was complete and correct.
    pub correct: u64,
    /// Kernels that completed with a wrong output.
    pub wrong: u64,
    /// The first CUDA error; the run stops there.
    pub error: Option<TimedError>,
}

/// What IS-010 concludes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultVerdict {
    /// The aggressor faulted; the victim ran on after it with every result correct.
    Isolated,
    /// The victim met an error after the aggressor's fault, or a wrong result.
    NotIsolated,
    /// Nothing to judge: no fault was raised, the victim failed before it, or its run
    /// ended before it.
    Inconclusive,
}

/// The verdict and why, from what both tenants reported.
pub fn fault_verdict(fault: &FaultReport, run: &CheckedRun) -> (FaultVerdict, String) {
    if fault.launch == SUCCESS && fault.sync == SUCCESS {
        return (
            FaultVerdict::Inconclusive,
            format!("the write to {:#x} raised no error", fault.address),
        );
    }
    if let Some(e) = &run.error {
        return if e.at_unix_s < fault.launched_unix_s {
            (
                FaultVerdict::Inconclusive,
                format!(
                    "the victim failed before the fault ({} from {})",
                    e.result, e.call
                ),
            )
        } else {
            (
                FaultVerdict::NotIsolated,
                format!(
                    "the victim got {} from {} after the fault",
                    e.result, e.call
                ),
            )
        };
    }
    if run.wrong > 0 {
        return (
            FaultVerdict::NotIsolated,
            format!("{} of the victim's kernels gave wrong results", run.wrong),
        );
    }
    let (_, after) = split_windows(&run.windows, fault.launched_unix_s);
    if after.is_empty() {
        return (
            FaultVerdict::Inconclusive,
            "the victim's run ended before the fault".to_owned(),
        );
    }
    (
        FaultVerdict::Isolated,
        format!(
            "the victim kept running, all {} kernels correct",
            run.correct
        ),
    )
}

/// Throughputs of the windows that ended before `at`, and of those that ended after
/// (the window in which it happened counts as after, so a stall shows).
pub fn split_windows(windows: &[CheckedWindow], at: f64) -> (Vec<f64>, Vec<f64>) {
    let (before, after): (Vec<&CheckedWindow>, Vec<&CheckedWindow>) =
        windows.iter().partition(|w| w.end_unix_s <= at);
    let rates = |ws: Vec<&CheckedWindow>| ws.iter().map(|w| w.kernels_per_s).collect();
    (rates(before), rates(after))
}

/// An IS-010 scenario as run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FaultRecord {
    pub kind: ScenarioKind,
    pub scenario: String,
    pub pod: Pod,
    pub secs: f64,
    pub window_s: f64,
    pub device: DeviceFacts,
    pub tool_version: String,
    pub finished_at: DateTime<Utc>,
    /// Wrote to the illegal address (the aggressor).
    pub faulting: Tenant,
    /// Ran checked kernels throughout.
    pub victim: Tenant,
    pub victim_shape: TenantShape,
    pub fault: FaultReport,
    pub victim_run: CheckedRun,
    /// Mean kernels/s of the victim's windows before and after the fault.
    pub before_per_s: Option<f64>,
    pub after_per_s: Option<f64>,
    pub slowest_after_per_s: Option<f64>,
    pub after_over_before: Option<f64>,
    pub verdict: FaultVerdict,
    pub reason: String,
}

impl FaultRecord {
    pub fn new(
        scenario: &Scenario,
        device: &DeviceFacts,
        (secs, window_s): (f64, f64),
        (faulting, victim): (Tenant, Tenant),
        fault: FaultReport,
        victim_run: CheckedRun,
    ) -> Self {
        let (before, after) = split_windows(&victim_run.windows, fault.launched_unix_s);
        let average = |rates: &[f64]| (!rates.is_empty()).then(|| mean(rates));
        let (before_per_s, after_per_s) = (average(&before), average(&after));
        let (verdict, reason) = fault_verdict(&fault, &victim_run);
        Self {
            kind: ScenarioKind::Fault,
            scenario: scenario.run_name(),
            pod: scenario.pod,
            secs,
            window_s,
            device: device.clone(),
            tool_version: env!("CARGO_PKG_VERSION").to_owned(),
            finished_at: Utc::now(),
            faulting,
            victim,
            victim_shape: VICTIM_SHAPE,
            fault,
            victim_run,
            before_per_s,
            after_per_s,
            slowest_after_per_s: after.iter().copied().reduce(f64::min),
            after_over_before: before_per_s
                .zip(after_per_s)
                .filter(|(b, _)| *b > 0.0)
                .map(|(b, a)| a / b),
            verdict,
            reason,
        }
    }
}

/// Runs one IS-010 scenario.
pub(super) fn run_fault(
    scenario: &Scenario,
    configs: &[(Config, Role)],
    envs: &[BTreeMap<String, String>],
    setting: &Setting,
    window_s: f64,
) -> crate::error::Result<FaultRecord> {
    let (faulting_i, faulting) = tenant_of(configs, envs, Role::Aggressor)?;
    let (victim_i, victim) = tenant_of(configs, envs, Role::Victim)?;
    let [mut faulting_child, mut victim_child] = spawn_pair(envs, faulting_i, victim_i)?;
    victim_child.send(&CheckedSpin {
        shape: VICTIM_SHAPE,
        secs: setting.secs,
        window_s,
    })?;
    std::thread::sleep(Duration::from_secs_f64(setting.secs * FAULT_AT));
    let fault = faulting_child.call(
        &Fault {
            address: FAULT_ADDRESS,
        },
        setting.timeout,
    )?;
    let run: CheckedRun = victim_child.reply(setting.timeout)?;
    Ok(FaultRecord::new(
        scenario,
        setting.facts,
        (setting.secs, window_s),
        (faulting, victim),
        fault,
        run,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fault(sync: &str) -> FaultReport {
        FaultReport {
            address: FAULT_ADDRESS,
            launch: SUCCESS.into(),
            sync: sync.into(),
            after: sync.into(),
            launched_unix_s: 100.0,
            reported_unix_s: 100.01,
        }
    }

    fn run(ends_and_rates: &[(f64, f64)], wrong: u64, error: Option<f64>) -> CheckedRun {
        CheckedRun {
            started_unix_s: 95.0,
            windows: ends_and_rates
                .iter()
                .map(|&(end_unix_s, kernels_per_s)| CheckedWindow {
                    end_unix_s,
                    kernels_per_s,
                })
                .collect(),
            correct: 1000,
            wrong,
            error: error.map(|at_unix_s| TimedError {
                call: "cuStreamSynchronize".into(),
                result: "CUDA_ERROR_ILLEGAL_ADDRESS".into(),
                at_unix_s,
            }),
        }
    }

    const ILLEGAL: &str = "CUDA_ERROR_ILLEGAL_ADDRESS";

    #[test]
    fn windows_split_at_the_fault_with_its_own_window_after() {
        let windows = run(
            &[(99.5, 10.0), (100.0, 12.0), (100.5, 4.0), (101.0, 11.0)],
            0,
            None,
        );
        let (before, after) = split_windows(&windows.windows, 100.0);
        assert_eq!(before, [10.0, 12.0]);
        assert_eq!(after, [4.0, 11.0]);
    }

    #[test]
    fn a_victim_that_runs_on_correctly_after_the_fault_is_isolated() {
        let ok = run(&[(99.5, 10.0), (100.5, 9.0)], 0, None);
        let (verdict, reason) = fault_verdict(&fault(ILLEGAL), &ok);
        assert_eq!(verdict, FaultVerdict::Isolated, "{reason}");
        assert!(reason.contains("all 1000 kernels correct"), "{reason}");
    }

    #[test]
    fn errors_or_wrong_results_after_the_fault_are_not_isolation() {
        let failed = run(&[(99.5, 10.0)], 0, Some(100.2));
        let (verdict, reason) = fault_verdict(&fault(ILLEGAL), &failed);
        assert_eq!(verdict, FaultVerdict::NotIsolated);
        assert!(
            reason.contains(ILLEGAL) && reason.contains("after the fault"),
            "{reason}"
        );
        let wrong = run(&[(99.5, 10.0), (100.5, 9.0)], 3, None);
        assert_eq!(
            fault_verdict(&fault(ILLEGAL), &wrong).0,
            FaultVerdict::NotIsolated
        );
    }

    #[test]
    fn no_fault_an_earlier_failure_or_no_window_after_is_inconclusive() {
        let ok = run(&[(99.5, 10.0), (100.5, 9.0)], 0, None);
        let (verdict, reason) = fault_verdict(&fault(SUCCESS), &ok);
        assert_eq!(verdict, FaultVerdict::Inconclusive);
        assert!(reason.contains("raised no error"), "{reason}");
        let early = run(&[(99.5, 10.0)], 0, Some(99.7));
        assert_eq!(
            fault_verdict(&fault(ILLEGAL), &early).0,
            FaultVerdict::Inconclusive
        );
        let short = run(&[(99.5, 10.0)], 0, None);
        let (verdict, reason) = fault_verdict(&fault(ILLEGAL), &short);
        assert_eq!(verdict, FaultVerdict::Inconclusive);
        assert!(reason.contains("ended before the fault"), "{reason}");
    }

    #[test]
    fn the_record_compares_the_victim_before_and_after_and_round_trips() {
        let scenario = super::super::select_scenarios(Some("fault-native-vs-native"), None, None)
            .unwrap()
            .remove(0);
        let config =
            Config::parse("native", std::path::Path::new("/opt/libvgpu.so"), 1000).unwrap();
        let tenant = |name: &str, role| Tenant::new(name.into(), &config, role, BTreeMap::new());
        let device = DeviceFacts {
            name: "NVIDIA Test GPU".into(),
            cc: "8.0".into(),
            sms: 108,
            memory_mib: 1000,
            driver: "13.0".into(),
            clock_mhz: 1410,
        };
        let record = FaultRecord::new(
            &scenario,
            &device,
            (2.0, 0.5),
            (tenant("t1", Role::Aggressor), tenant("t2", Role::Victim)),
            fault(ILLEGAL),
            run(
                &[(99.5, 10.0), (100.0, 12.0), (100.5, 4.0), (101.0, 8.0)],
                0,
                None,
            ),
        );
        assert_eq!(record.before_per_s, Some(11.0));
        assert_eq!(record.after_per_s, Some(6.0));
        assert_eq!(record.slowest_after_per_s, Some(4.0));
        assert_eq!(record.after_over_before, Some(6.0 / 11.0));
        assert_eq!(record.verdict, FaultVerdict::Isolated);
        let json = serde_json::to_value(&record).unwrap();
        assert_eq!(json["kind"], "fault");
        assert_eq!(json["victim_shape"], "short");
        assert_eq!(json["faulting"]["role"], "aggressor");
        assert_eq!(serde_json::from_value::<FaultRecord>(json).unwrap(), record);
    }
}
