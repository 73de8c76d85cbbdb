//! ERR-003's named recovery checks and how each attempt is judged: pure functions of
//! what was observed, so every verdict is tested without a GPU.

use super::ops::Recovery;
use std::time::Duration;

/// One recovery check, reported by its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    /// An over-limit allocation is refused, then a 1 GiB allocation and a kernel over
    /// it work.
    OomThenWork,
    /// After an illegal-address fault, a reset primary context works (ERR-002).
    FaultThenNewContext,
    /// A neighbour process faults; this process's kernel works and its data holds.
    NeighbourFault,
    /// A neighbour holding memory is killed; this process's free memory returns to
    /// what it was within [`RETURN_WITHIN`].
    KilledNeighbourMemory,
}

/// How long a killed neighbour's memory may take to come back.
pub const RETURN_WITHIN: Duration = Duration::from_secs(5);

impl Check {
    /// The name the report shows, also the variant's.
    pub fn name(self) -> &'static str {
        match self {
            Self::OomThenWork => "oom-then-work",
            Self::FaultThenNewContext => "fault-then-new-context",
            Self::NeighbourFault => "neighbour-fault",
            Self::KilledNeighbourMemory => "killed-neighbour-memory",
        }
    }
}

/// One attempt at a check, with what it saw.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Pass(String),
    Fail(String),
    /// The attempt could not judge (no fault was raised, the memory never showed).
    Inconclusive(String),
}

impl Outcome {
    /// The attempt as a sample of the share passed: 1 or 0; none where inconclusive.
    pub fn sample(&self) -> Option<f64> {
        match self {
            Self::Pass(_) => Some(1.0),
            Self::Fail(_) => Some(0.0),
            Self::Inconclusive(_) => None,
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Self::Pass(why) => format!("pass: {why}"),
            Self::Fail(why) => format!("FAIL: {why}"),
            Self::Inconclusive(why) => format!("inconclusive: {why}"),
        }
    }
}

/// `refusal`: the CUresult name of the over-limit allocation, `None` where it
/// succeeded; `work`: why the 1 GiB checked work failed, `None` where it ran.
pub fn oom_then_work(refusal: Option<&str>, work: Option<&str>) -> Outcome {
    match (refusal, work) {
        (None, _) => Outcome::Fail("the over-limit allocation succeeded".into()),
        (Some(code), Some(why)) => {
            Outcome::Fail(format!("refused with {code}, then the work failed: {why}"))
        }
        (Some(code), None) => Outcome::Pass(format!(
            "refused with {code}, then 1 GiB allocated and a checked kernel ran"
        )),
    }
}

pub fn fault_then_new_context(r: &Recovery) -> Outcome {
    if !r.faulted() {
        return Outcome::Inconclusive("the illegal write raised no error".into());
    }
    match &r.failed {
        Some(why) => Outcome::Fail(format!(
            "after {} (then {}), no new context worked: {why}",
            r.fault, r.after_fault
        )),
        None => Outcome::Pass(format!(
            "after {} (then {}), a reset context ran checked work {:.1} ms later",
            r.fault, r.after_fault, r.recovery_ms
        )),
    }
}

/// `mine`: why this process's kernel or data check failed after the neighbour's
/// fault, `None` where both held.
pub fn neighbour_fault(r: &Recovery, mine: Option<&str>) -> Outcome {
    if !r.faulted() {
        return Outcome::Inconclusive("the neighbour's illegal write raised no error".into());
    }
    match mine {
        Some(why) => Outcome::Fail(format!("after the neighbour's {}: {why}", r.fault)),
        None => Outcome::Pass(format!(
            "after the neighbour's {}, this process's data held and its kernel ran",
            r.fault
        )),
    }
}

/// Free memory within this much of before counts as returned: the driver's own
/// bookkeeping moves it by a few MiB.
pub const RETURN_TOLERANCE: u64 = 64 << 20;

/// `held`: the bytes the neighbour held; `shown`: by how much this process's free
/// memory fell while it held them; `returned`: how long after the kill it came back
/// within [`RETURN_TOLERANCE`], `None` where it had not within `RETURN_WITHIN`
/// (`short` is then how far short it stayed).
pub fn killed_neighbour(held: u64, shown: u64, returned: Option<Duration>, short: u64) -> Outcome {
    if shown < held / 2 {
        return Outcome::Inconclusive(format!(
            "this process's free memory fell by {} MiB only while the neighbour held {} MiB: it does not show the neighbour's memory",
            shown >> 20,
            held >> 20
        ));
    }
    match returned {
        Some(t) if t <= RETURN_WITHIN => Outcome::Pass(format!(
            "the neighbour's {} MiB came back {:.0} ms after the kill",
            held >> 20,
            t.as_secs_f64() * 1e3
        )),
        _ => Outcome::Fail(format!(
            "{} s after the kill, free memory was still {} MiB short of before ({} MiB held)",
            RETURN_WITHIN.as_secs(),
            short >> 20,
            held >> 20
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recovery(fault: &str, failed: Option<&str>) -> Recovery {
        Recovery {
            fault: fault.into(),
            after_fault: fault.into(),
            failed: failed.map(str::to_owned),
            recovery_ms: 12.5,
        }
    }

    const ILLEGAL: &str = "CUDA_ERROR_ILLEGAL_ADDRESS";

    #[test]
    fn checks_have_distinct_names() {
        let all = [
            Check::OomThenWork,
            Check::FaultThenNewContext,
            Check::NeighbourFault,
            Check::KilledNeighbourMemory,
        ];
        let mut names: Vec<_> = all.iter().map(|c| c.name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), all.len());
    }

    #[test]
    fn a_pass_is_one_a_fail_zero_and_inconclusive_no_sample() {
        assert_eq!(Outcome::Pass(String::new()).sample(), Some(1.0));
        assert_eq!(Outcome::Fail(String::new()).sample(), Some(0.0));
        assert_eq!(Outcome::Inconclusive(String::new()).sample(), None);
    }

    #[test]
    fn oom_then_work_needs_the_refusal_and_the_work() {
        let oom = Some("CUDA_ERROR_OUT_OF_MEMORY");
        assert!(
            matches!(oom_then_work(oom, None), Outcome::Pass(ref w) if w.contains("OUT_OF_MEMORY"))
        );
        assert!(matches!(oom_then_work(None, None), Outcome::Fail(_)));
        assert!(matches!(
            oom_then_work(oom, Some("wrong")),
            Outcome::Fail(_)
        ));
    }

    #[test]
    fn a_child_lost_during_its_fault_did_not_recover() {
        let lost = Recovery::lost("child (serve) exited".into());
        assert!(
            matches!(fault_then_new_context(&lost), Outcome::Fail(ref w) if w.contains("exited"))
        );
    }

    #[test]
    fn a_fault_that_was_never_raised_judges_nothing() {
        let none = recovery("CUDA_SUCCESS", None);
        assert!(matches!(
            fault_then_new_context(&none),
            Outcome::Inconclusive(_)
        ));
        assert!(matches!(
            neighbour_fault(&none, None),
            Outcome::Inconclusive(_)
        ));
    }

    #[test]
    fn recovery_and_the_neighbours_data_decide_their_checks() {
        let ok = recovery(ILLEGAL, None);
        assert!(
            matches!(fault_then_new_context(&ok), Outcome::Pass(ref w) if w.contains("12.5 ms"))
        );
        let stuck = recovery(ILLEGAL, Some("cuMemAlloc failed"));
        assert!(
            matches!(fault_then_new_context(&stuck), Outcome::Fail(ref w) if w.contains("cuMemAlloc"))
        );
        assert!(matches!(neighbour_fault(&ok, None), Outcome::Pass(_)));
        assert!(matches!(
            neighbour_fault(&ok, Some("element 3")),
            Outcome::Fail(_)
        ));
    }

    #[test]
    fn a_killed_neighbours_memory_must_show_and_come_back_in_time() {
        let gib = 1u64 << 30;
        let fast = Some(Duration::from_millis(300));
        assert!(
            matches!(killed_neighbour(4 * gib, 4 * gib, fast, 0), Outcome::Pass(ref w) if w.contains("300 ms"))
        );
        assert!(matches!(
            killed_neighbour(4 * gib, gib, fast, 0),
            Outcome::Inconclusive(_)
        ));
        assert!(
            matches!(killed_neighbour(4 * gib, 4 * gib, None, 3 * gib), Outcome::Fail(ref w) if w.contains("3072 MiB"))
        );
        let late = Some(RETURN_WITHIN + Duration::from_millis(1));
        assert!(matches!(
            killed_neighbour(4 * gib, 4 * gib, late, 0),
            Outcome::Fail(_)
        ));
    }
}
