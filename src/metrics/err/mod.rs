//! Error recovery (ERR): what a tenant meets when something goes wrong. How fast an
//! allocation past the limit or the device fails and with which code (ERR-001),
//! whether and how fast a process works again after a sticky fault (ERR-002), and a
//! fixed list of recovery checks, each reported by name (ERR-003).

mod checks;
mod ops;
mod work;

pub(super) use ops::OPERATIONS;

use super::frag::{cap_of, physical_memory};
use super::{find, sampled, BenchEnv, Measured, MetricInfo, Selection, Variant};
use crate::cuda::{self, Context, DeviceBuffer};
use crate::error::{Error, Result};
use crate::run::child::{self, Child};
use checks::{Check, Outcome, RETURN_TOLERANCE, RETURN_WITHIN};
use criterion::Criterion;
use ops::{FaultThenRecover, HoldMemory, Recovery};
use std::time::{Duration, Instant};
use work::CheckedBuffer;

const GIB: u64 = 1 << 30;
/// How far past the limit, or the device, ERR-001 asks.
const BEYOND: u64 = GIB;
/// What the killed neighbour holds at most, and the share of free memory it may take.
const NEIGHBOUR_BYTES: u64 = 4 * GIB;
const NEIGHBOUR_FREE_SHARE: f64 = 0.5;
/// This process's checked buffer beside a faulting neighbour.
const RESIDENT_BYTES: usize = 64 << 20;
/// Longest a child's fault and recovery may take.
const CHILD_TIMEOUT: Duration = Duration::from_secs(60);
/// How often free memory is read while a killed neighbour's memory comes back.
const POLL: Duration = Duration::from_millis(10);

pub(super) fn bench(
    _c: &mut Criterion,
    env: &BenchEnv,
    selection: &Selection,
    _ctx: &Context,
) -> Result<Vec<Measured>> {
    let mut out = Vec::new();
    if !env.benchmarking {
        return Ok(out);
    }
    let physical = physical_memory()?;
    let (_, total) = cuda::mem_info()?;
    let cap = cap_of(physical.free);
    let asks = failure_asks(total, physical.total, cap);
    if selection.contains("ERR-001") {
        out.extend(failure_latency(env, &asks)?);
    }
    let err3 = find("ERR-003")?;
    let wants3 =
        |check: Check| selection.contains(err3.id) && env.wants(&Variant::new(err3, check.name()));
    let mut outcomes: Vec<(Check, Vec<Outcome>)> = Vec::new();
    if wants3(Check::OomThenWork) {
        let attempts = (0..env.process_samples())
            .map(|_| oom_then_work(asks[0].1))
            .collect::<Result<Vec<_>>>()?;
        outcomes.push((Check::OomThenWork, attempts));
    }
    // Before the faults: a neighbour's fault may leave this process unable to go on.
    if wants3(Check::KilledNeighbourMemory) {
        let attempts = (0..env.process_samples())
            .map(|_| killed_neighbour())
            .collect::<Result<Vec<_>>>()?;
        outcomes.push((Check::KilledNeighbourMemory, attempts));
    }
    let want2 = selection.contains("ERR-002")
        && env.wants(&Variant::new(find("ERR-002")?, RECOVERY_VARIANT));
    let (want_new_context, want_neighbour) = (
        wants3(Check::FaultThenNewContext),
        wants3(Check::NeighbourFault),
    );
    if want2 || want_new_context || want_neighbour {
        let mut recoveries = Vec::new();
        let mut neighbour = Vec::new();
        for _ in 0..env.process_samples() {
            let (recovery, mine) = fault_beside_me()?;
            let broken = mine.is_some();
            neighbour.push(checks::neighbour_fault(&recovery, mine.as_deref()));
            recoveries.push(recovery);
            if broken {
                eprintln!("err: this process's own work failed after a neighbour's fault; no further fault is provoked beside it");
                break;
            }
        }
        if want2 {
            out.extend(recovery_time(find("ERR-002")?, &recoveries));
        }
        if want_new_context {
            let attempts = recoveries
                .iter()
                .map(checks::fault_then_new_context)
                .collect();
            outcomes.push((Check::FaultThenNewContext, attempts));
        }
        if want_neighbour {
            outcomes.push((Check::NeighbourFault, neighbour));
        }
    }
    for (check, attempts) in outcomes {
        for attempt in &attempts {
            eprintln!("err/ERR-003/{}: {}", check.name(), attempt.describe());
        }
        let samples: Vec<f64> = attempts.iter().filter_map(Outcome::sample).collect();
        if samples.len() < 2 {
            eprintln!(
                "err/ERR-003/{}: not saved, {} of {} attempts could judge",
                check.name(),
                samples.len(),
                attempts.len()
            );
            continue;
        }
        out.push(sampled(err3, check.name(), samples, None));
    }
    Ok(out)
}

/// cuMemAlloc of `bytes`: how long it took, and the CUresult name of its refusal,
/// `None` where it succeeded (the memory is freed at once).
fn timed_refusal(bytes: u64) -> Result<(Duration, Option<String>)> {
    let start = Instant::now();
    let result = DeviceBuffer::new(bytes as usize);
    let elapsed = start.elapsed();
    match result {
        Ok(buffer) => buffer.free().map(|()| (elapsed, None)),
        Err(Error::Cuda { name, .. }) => Ok((elapsed, Some(name))),
        Err(e) => Err(e),
    }
}

/// ERR-001's variants: past the limit this process sees where it is below the
/// device's memory, and past the device's memory.
fn failure_latency(env: &BenchEnv, asks: &[(&'static str, u64)]) -> Result<Vec<Measured>> {
    let info = find("ERR-001")?;
    let mut out = Vec::new();
    for &(name, bytes) in asks {
        if !env.wants(&Variant::new(info, name)) {
            continue;
        }
        let mut samples = Vec::new();
        let mut codes = Vec::new();
        for _ in 0..env.paired_samples() {
            let (elapsed, code) = timed_refusal(bytes)?;
            match code {
                Some(code) => {
                    samples.push(elapsed.as_secs_f64() * 1e9 / info.ns_per_unit);
                    if !codes.contains(&code) {
                        codes.push(code);
                    }
                }
                None => eprintln!(
                    "err/ERR-001/{name}: cuMemAlloc of {} MiB succeeded: nothing refused it",
                    bytes >> 20
                ),
            }
        }
        eprintln!(
            "err/ERR-001/{name}: cuMemAlloc of {} MiB refused with {}",
            bytes >> 20,
            if codes.is_empty() {
                "nothing".to_owned()
            } else {
                codes.join(", ")
            }
        );
        if samples.len() >= 2 {
            out.push(sampled(info, name, samples, None));
        }
    }
    Ok(out)
}

/// ERR-001's variants and what each asks for: past the device always; past the limit
/// (cuMemGetInfo's total) only where that stays within `cap` (90 % of the physical
/// free memory), so a limit that does not hold never gives away the device's last
/// memory, and where it lies below the device, else the two would be one ask.
fn failure_asks(total: u64, physical_total: u64, cap: u64) -> Vec<(&'static str, u64)> {
    let over_physical = ("over-physical", physical_total + BEYOND);
    if total + BEYOND < physical_total && total + BEYOND <= cap {
        vec![("over-limit", total + BEYOND), over_physical]
    } else {
        vec![over_physical]
    }
}

/// What the killed neighbour holds: [`NEIGHBOUR_BYTES`], at most
/// [`NEIGHBOUR_FREE_SHARE`] of the free memory.
fn neighbour_bytes(free: u64) -> u64 {
    NEIGHBOUR_BYTES.min((free as f64 * NEIGHBOUR_FREE_SHARE) as u64)
}

/// ERR-003 oom-then-work: an allocation of `over` bytes (ERR-001's first ask: past
/// the limit, or past the device) must be refused, then 1 GiB and checked work run.
fn oom_then_work(over: u64) -> Result<Outcome> {
    let (_, refusal) = timed_refusal(over)?;
    let work = match work::checked_work(GIB as usize) {
        Ok(()) => None,
        Err(e @ (Error::Cuda { .. } | Error::Incorrect { .. })) => Some(e.to_string()),
        Err(e) => return Err(e),
    };
    Ok(checks::oom_then_work(refusal.as_deref(), work.as_deref()))
}

const RECOVERY_VARIANT: &str = "reset-primary-context";

/// ERR-002 from the children's recoveries: the time of those that worked again.
fn recovery_time(info: &'static MetricInfo, recoveries: &[Recovery]) -> Option<Measured> {
    let samples: Vec<f64> = recoveries
        .iter()
        .filter(|r| r.faulted() && r.failed.is_none())
        .map(|r| r.recovery_ms)
        .collect();
    for r in recoveries {
        eprintln!(
            "err/ERR-002: {}",
            checks::fault_then_new_context(r).describe()
        );
    }
    if samples.len() < 2 {
        eprintln!(
            "err/ERR-002/{RECOVERY_VARIANT}: not saved, {} of {} faulted children worked again",
            samples.len(),
            recoveries.len()
        );
        return None;
    }
    Some(sampled(info, RECOVERY_VARIANT, samples, None))
}

/// A fresh child faults and tries to recover while this process holds checked data;
/// the child's report, and why this process's data or kernel failed after it.
fn fault_beside_me() -> Result<(Recovery, Option<String>)> {
    let mut mine = CheckedBuffer::new(RESIDENT_BYTES)?;
    mine.step()?;
    mine.verify()?;
    let mut children = child::spawn_servers(1)?;
    let recovery = match children[0].call(&FaultThenRecover, CHILD_TIMEOUT) {
        Ok(recovery) => recovery,
        Err(e @ Error::Worker { .. }) => Recovery::lost(e.to_string()),
        Err(e) => return Err(e),
    };
    child::end_all(children);
    let after = mine
        .verify()
        .and_then(|()| mine.step())
        .and_then(|()| mine.verify());
    let broken = match after {
        Ok(()) => None,
        Err(e @ (Error::Cuda { .. } | Error::Incorrect { .. })) => Some(e.to_string()),
        Err(e) => return Err(e),
    };
    if broken.is_none() {
        mine.free()?;
    }
    Ok((recovery, broken))
}

/// ERR-003 killed-neighbour-memory: a child of this configuration holds memory and is
/// killed (SIGKILL); how long until this process's free memory is back.
fn killed_neighbour() -> Result<Outcome> {
    let (before, _) = cuda::mem_info()?;
    let bytes = neighbour_bytes(before);
    let mut children: Vec<Child> = child::spawn_servers(1)?;
    children[0].call(&HoldMemory { bytes }, CHILD_TIMEOUT)?;
    let (holding, _) = cuda::mem_info()?;
    let killed = Instant::now();
    drop(children);
    let mut returned = None;
    let mut now_free = holding;
    while killed.elapsed() <= RETURN_WITHIN {
        now_free = cuda::mem_info()?.0;
        if now_free + RETURN_TOLERANCE >= before {
            returned = Some(killed.elapsed());
            break;
        }
        std::thread::sleep(POLL);
    }
    Ok(checks::killed_neighbour(
        bytes,
        before.saturating_sub(holding),
        returned,
        before.saturating_sub(now_free),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn over_limit_is_asked_only_where_a_limit_sits_below_the_device_and_the_cap() {
        let physical = 140 * GIB;
        let cap = 126 * GIB;
        assert_eq!(
            failure_asks(70 * GIB, physical, cap),
            [("over-limit", 71 * GIB), ("over-physical", 141 * GIB)]
        );
        assert_eq!(
            failure_asks(physical, physical, cap),
            [("over-physical", 141 * GIB)]
        );
        assert_eq!(failure_asks(physical - GIB, physical, cap).len(), 1);
        assert_eq!(
            failure_asks(130 * GIB, physical, cap).len(),
            1,
            "past the cap"
        );
    }

    #[test]
    fn the_neighbour_holds_four_gib_or_half_the_free_memory() {
        assert_eq!(neighbour_bytes(100 * GIB), 4 * GIB);
        assert_eq!(neighbour_bytes(6 * GIB), 3 * GIB);
        assert_eq!(neighbour_bytes(0), 0);
    }
}
