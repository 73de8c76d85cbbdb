//! What a probe's figures mean: pure functions of what the children reported, so
//! every verdict is tested without a GPU.

use super::memory::{DeviceHeap, MemoryOutcome};
use super::state_file::Tampered;
use crate::baseline::ProbeVerdict;

const GIB: u64 = 1 << 30;
/// How far past the limit a memory probe tries to go.
pub const BEYOND_LIMIT: u64 = 4 * GIB;
/// A tenant with no limit is asked for this much, so its figure is still recorded.
const UNLIMITED_TARGET: u64 = 4 * GIB;

/// How much a memory probe asks for, and why it asks for less than limit + 4 GiB.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    pub bytes: u64,
    /// Set where limit + 4 GiB exceeds what the device can safely give (90 % of the
    /// physical free memory, read natively): holding no more than the limit then
    /// proves nothing.
    pub capped: Option<String>,
}

/// limit + 4 GiB, never more than 90 % of `physical_free` (managed memory beyond the
/// free memory can hang the GPU, and device memory beyond it fails natively too).
pub fn target(limit: Option<u64>, physical_free: u64) -> Target {
    let cap = physical_free / 10 * 9;
    let wanted = limit.map_or(UNLIMITED_TARGET, |l| l + BEYOND_LIMIT);
    if wanted <= cap {
        Target {
            bytes: wanted,
            capped: None,
        }
    } else {
        Target {
            bytes: cap,
            capped: Some(format!(
                "the limit + 4 GiB ({} MiB) exceeds 90 % of the physical free memory ({} MiB)",
                wanted >> 20,
                cap >> 20
            )),
        }
    }
}

/// How the native control of a probe ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Control {
    Reported(MemoryOutcome),
    /// The control child failed, crashed or hung: what happened.
    Failed(String),
}

/// A memory (or tamper) probe's verdict, read against its native control:
/// control failed -> inconclusive; no limit -> not applicable; the small allocation
/// refused under the configuration where it works natively -> refused-unlike-native;
/// more obtained than the limit -> bypassed by the excess; a capped target that
/// stayed within the limit -> inconclusive; else enforced.
pub fn memory_verdict(
    limit: Option<u64>,
    target: &Target,
    probe: &MemoryOutcome,
    control: &Control,
) -> ProbeVerdict {
    if let Some(why) = &probe.absent {
        return ProbeVerdict::NotApplicable { why: why.clone() };
    }
    let control = match control {
        Control::Failed(what) => return native_failed(what),
        Control::Reported(c) => c,
    };
    if let Some(why) = &control.absent {
        return ProbeVerdict::NotApplicable {
            why: format!("natively: {why}"),
        };
    }
    if let Some(status) = &control.small_refused {
        return native_failed(&format!("the 64 MiB allocation returned {status}"));
    }
    if control.obtained < target.bytes {
        let heap = control
            .heap
            .map(|h| format!(", {}", heap_words(&h)))
            .unwrap_or_default();
        return native_failed(&format!(
            "it obtained {} of {} MiB ({}){heap}",
            control.obtained >> 20,
            target.bytes >> 20,
            control.status
        ));
    }
    let Some(limit) = limit else {
        return ProbeVerdict::NotApplicable {
            why: "no memory limit configured".into(),
        };
    };
    if probe.small_refused.is_some() {
        return ProbeVerdict::RefusedUnlikeNative;
    }
    if probe.obtained > limit {
        return ProbeVerdict::Bypassed {
            excess: (probe.obtained - limit) as f64,
        };
    }
    match &target.capped {
        Some(why) => ProbeVerdict::Inconclusive { why: why.clone() },
        None => ProbeVerdict::Enforced,
    }
}

/// The state-file tamper's verdict, from what the rewrite did and the verdict of the
/// child that followed it: nothing to rewrite (no state file, no limit) -> not
/// applicable; the rewrite failed -> inconclusive, unless the following child
/// crashed; no word equal to the limit found and the following child held no more
/// than it -> inconclusive (nothing was tampered with); else the following child's.
pub fn state_file_verdict(
    tampered: &Result<Tampered, String>,
    following: ProbeVerdict,
) -> ProbeVerdict {
    match tampered {
        Ok(Tampered {
            absent: Some(why), ..
        }) => ProbeVerdict::NotApplicable { why: why.clone() },
        Err(what) if !matches!(following, ProbeVerdict::Crashed { .. }) => {
            ProbeVerdict::Inconclusive {
                why: format!("the state file could not be rewritten: {what}"),
            }
        }
        Ok(Tampered {
            memory_words: 0, ..
        }) if following == ProbeVerdict::Enforced => ProbeVerdict::Inconclusive {
            why: "no 8-byte word of the state file equals the memory limit, so nothing was \
                  rewritten"
                .into(),
        },
        _ => following,
    }
}

/// Points of share above the limit that still count as enforced: windowed rates
/// wobble by a few points, and a limiter is judged by what it lets through.
pub const SM_SLACK_PCT: f64 = 10.0;

/// An SM probe's verdict from the delivered share (% of the same work natively):
/// above limit + 10 points -> bypassed by share - limit; no SM limit -> not
/// applicable; else enforced. A failed control is read before this.
/// Why an SM probe need not run under `limit_pct`: no limit, or one no share can
/// exceed.
pub fn sm_probe_needless(limit_pct: Option<u32>) -> Option<String> {
    match limit_pct {
        None => Some("no SM limit configured, so the probe was not run".into()),
        Some(pct) if pct >= 100 => Some(format!(
            "an SM limit of {pct} % cannot be exceeded, so the probe was not run"
        )),
        Some(_) => None,
    }
}

pub fn sm_verdict(limit_pct: Option<u32>, share_pct: f64) -> ProbeVerdict {
    match limit_pct {
        None => ProbeVerdict::NotApplicable {
            why: "no SM limit configured".into(),
        },
        Some(limit) if share_pct > f64::from(limit) + SM_SLACK_PCT => ProbeVerdict::Bypassed {
            excess: share_pct - f64::from(limit),
        },
        Some(_) => ProbeVerdict::Enforced,
    }
}

/// Seconds from the start of a watched run to the end of the first window whose
/// rate was within the limit (+ the slack) of the native rate: a limiter that
/// throttles late shows here, not in the mean. `None` where no window was.
pub fn first_throttled(
    windows: &[f64],
    native_rate: f64,
    limit_pct: u32,
    window_s: f64,
) -> Option<f64> {
    let bound = native_rate * (f64::from(limit_pct) + SM_SLACK_PCT) / 100.0;
    windows
        .iter()
        .position(|&rate| rate <= bound)
        .map(|i| (i + 1) as f64 * window_s)
}

/// A heap probe's device heap in words, e.g. "12288 MiB by device malloc from a
/// device heap of 40960 MiB asked, 16862 MiB set by the driver, 2 launches of device
/// malloc, the rest by cuMemAlloc".
fn heap_words(heap: &DeviceHeap) -> String {
    format!(
        "{} MiB by device malloc from a device heap of {} MiB asked, {} MiB set by the \
         driver, {} launch{} of device malloc, the rest by cuMemAlloc",
        heap.from_heap >> 20,
        heap.asked >> 20,
        heap.set >> 20,
        heap.rounds,
        if heap.rounds == 1 { "" } else { "es" }
    )
}

fn native_failed(what: &str) -> ProbeVerdict {
    ProbeVerdict::Inconclusive {
        why: format!("the native control failed: {what}"),
    }
}

/// The entry's detail: everything the probe saw beside the figure.
pub fn memory_detail(target: &Target, probe: &MemoryOutcome) -> String {
    let mib = |b: u64| b >> 20;
    let mut parts = vec![format!(
        "asked {} MiB; obtained {} MiB, written {} MiB",
        mib(target.bytes),
        mib(probe.obtained),
        mib(probe.written)
    )];
    if let Some(status) = &probe.small_refused {
        parts.push(format!("the 64 MiB allocation returned {status}"));
    }
    parts.push(format!(
        "cuMemGetInfo while held: {} MiB free of {} MiB",
        mib(probe.free_after),
        mib(probe.total_after)
    ));
    parts.push(match &probe.follow_up_refused {
        Some(status) => format!("a following 1 GiB cuMemAlloc was refused ({status})"),
        None => "a following 1 GiB cuMemAlloc succeeded".into(),
    });
    if let Some(heap) = &probe.heap {
        parts.push(heap_words(heap));
    }
    if let Some(status) = &probe.release {
        parts.push(format!("giving the memory back failed: {status}"));
    }
    if let Some(why) = &target.capped {
        parts.push(why.clone());
    }
    parts.join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMIT: u64 = 70 * GIB;

    fn outcome(obtained: u64) -> MemoryOutcome {
        MemoryOutcome {
            absent: None,
            small_refused: None,
            status: "CUDA_SUCCESS".into(),
            obtained,
            written: obtained,
            free_after: 0,
            total_after: 0,
            follow_up_refused: None,
            release: None,
            heap: None,
        }
    }

    fn uncapped() -> Target {
        target(Some(LIMIT), 140 * GIB)
    }

    #[test]
    fn the_target_is_the_limit_plus_4_gib_within_90_percent_of_free() {
        assert_eq!(
            uncapped(),
            Target {
                bytes: LIMIT + 4 * GIB,
                capped: None
            }
        );
        let capped = target(Some(130 * GIB), 140 * GIB);
        assert_eq!(capped.bytes, 126 * GIB);
        assert!(capped.capped.unwrap().contains("90 %"));
        assert_eq!(target(None, 140 * GIB).bytes, 4 * GIB);
        assert_eq!(target(None, 2 * GIB).bytes, 2 * GIB / 10 * 9);
    }

    #[test]
    fn a_failed_control_makes_the_probe_inconclusive() {
        let t = uncapped();
        for control in [
            Control::Failed("exited with signal 11".into()),
            Control::Reported(outcome(LIMIT)),
            Control::Reported(MemoryOutcome {
                small_refused: Some("CUDA_ERROR_NOT_SUPPORTED".into()),
                ..outcome(t.bytes)
            }),
        ] {
            let v = memory_verdict(Some(LIMIT), &t, &outcome(t.bytes), &control);
            assert!(
                matches!(&v, ProbeVerdict::Inconclusive { why } if why.starts_with("the native control failed")),
                "{v:?}"
            );
        }
    }

    #[test]
    fn more_than_the_limit_is_a_bypass_by_the_excess() {
        let t = uncapped();
        let native = Control::Reported(outcome(t.bytes));
        assert_eq!(
            memory_verdict(Some(LIMIT), &t, &outcome(t.bytes), &native),
            ProbeVerdict::Bypassed {
                excess: (4 * GIB) as f64
            }
        );
        assert_eq!(
            memory_verdict(Some(LIMIT), &t, &outcome(LIMIT - GIB), &native),
            ProbeVerdict::Enforced
        );
    }

    #[test]
    fn a_refused_small_allocation_that_works_natively_is_a_compatibility_break() {
        let t = uncapped();
        let probe = MemoryOutcome {
            small_refused: Some("status -1, which is no CUresult".into()),
            ..outcome(0)
        };
        assert_eq!(
            memory_verdict(
                Some(LIMIT),
                &t,
                &probe,
                &Control::Reported(outcome(t.bytes))
            ),
            ProbeVerdict::RefusedUnlikeNative
        );
    }

    #[test]
    fn no_limit_or_no_path_is_not_applicable_and_a_capped_hold_inconclusive() {
        let t = target(None, 140 * GIB);
        let native = Control::Reported(outcome(t.bytes));
        let v = memory_verdict(None, &t, &outcome(t.bytes), &native);
        assert_eq!(
            v,
            ProbeVerdict::NotApplicable {
                why: "no memory limit configured".into()
            }
        );
        let missing = MemoryOutcome {
            absent: Some("no libcudart".into()),
            ..outcome(0)
        };
        assert!(matches!(
            memory_verdict(Some(LIMIT), &t, &missing, &native),
            ProbeVerdict::NotApplicable { .. }
        ));
        let capped = target(Some(130 * GIB), 140 * GIB);
        let native = Control::Reported(outcome(capped.bytes));
        assert!(matches!(
            memory_verdict(Some(130 * GIB), &capped, &outcome(120 * GIB), &native),
            ProbeVerdict::Inconclusive { .. }
        ));
        let bigger_limit = target(Some(100 * GIB), 110 * GIB);
        let native = Control::Reported(outcome(bigger_limit.bytes));
        assert!(matches!(
            memory_verdict(
                Some(90 * GIB),
                &bigger_limit,
                &outcome(bigger_limit.bytes),
                &native
            ),
            ProbeVerdict::Bypassed { .. }
        ));
    }

    #[test]
    fn a_share_above_the_limit_plus_10_points_is_a_bypass() {
        assert_eq!(sm_verdict(Some(50), 58.0), ProbeVerdict::Enforced);
        assert!(sm_probe_needless(None).is_some());
        assert!(sm_probe_needless(Some(100))
            .unwrap()
            .contains("cannot be exceeded"));
        assert_eq!(sm_probe_needless(Some(50)), None);
        assert_eq!(
            sm_verdict(Some(50), 95.0),
            ProbeVerdict::Bypassed { excess: 45.0 }
        );
        assert!(matches!(
            sm_verdict(None, 100.0),
            ProbeVerdict::NotApplicable { .. }
        ));
    }

    #[test]
    fn a_rewritten_state_file_is_judged_by_the_child_that_followed_it() {
        let rewrote = |memory_words| Tampered {
            absent: None,
            file_bytes: 4096,
            memory_words,
            sm_words: 0,
            sm_rewritten: false,
        };
        let bypassed = ProbeVerdict::Bypassed {
            excess: (4 * GIB) as f64,
        };
        assert_eq!(
            state_file_verdict(&Ok(rewrote(16)), bypassed.clone()),
            bypassed
        );
        assert_eq!(
            state_file_verdict(&Ok(rewrote(16)), ProbeVerdict::Enforced),
            ProbeVerdict::Enforced
        );
        assert!(matches!(
            state_file_verdict(&Ok(rewrote(0)), ProbeVerdict::Enforced),
            ProbeVerdict::Inconclusive { why } if why.contains("nothing was rewritten")
        ));
        let no_file = Tampered {
            absent: Some("no state file".into()),
            ..rewrote(0)
        };
        assert_eq!(
            state_file_verdict(&Ok(no_file), ProbeVerdict::Enforced),
            ProbeVerdict::NotApplicable {
                why: "no state file".into()
            }
        );
        assert!(matches!(
            state_file_verdict(&Err("Permission denied".into()), bypassed),
            ProbeVerdict::Inconclusive { why } if why.contains("Permission denied")
        ));
        let crashed = ProbeVerdict::Crashed {
            signal: Some(11),
            timed_out: false,
        };
        assert_eq!(
            state_file_verdict(&Err("died".into()), crashed.clone()),
            crashed
        );
    }

    #[test]
    fn a_late_throttle_is_timed_from_its_first_window() {
        let windows = [100.0, 99.0, 98.0, 30.0, 25.0];
        assert_eq!(first_throttled(&windows, 100.0, 25, 0.5), Some(2.0));
        assert_eq!(first_throttled(&windows[..3], 100.0, 25, 0.5), None);
    }

    #[test]
    fn a_heap_the_native_control_could_not_fill_is_named_with_the_size_the_driver_set() {
        let t = uncapped();
        let heap = DeviceHeap {
            asked: 78 * GIB,
            set: 40 * GIB,
            rounds: 2,
            from_heap: 30 * GIB,
        };
        let short = MemoryOutcome {
            status: "device malloc returned NULL for 600 of 1200 chunks".into(),
            heap: Some(heap),
            ..outcome(37 * GIB)
        };
        let v = memory_verdict(
            Some(LIMIT),
            &t,
            &outcome(t.bytes),
            &Control::Reported(short),
        );
        assert_eq!(
            v,
            ProbeVerdict::Inconclusive {
                why: "the native control failed: it obtained 37888 of 75776 MiB (device malloc \
                      returned NULL for 600 of 1200 chunks), 30720 MiB by device malloc from \
                      a device heap of 79872 MiB asked, 40960 MiB set by the driver, 2 \
                      launches of device malloc, the rest by cuMemAlloc"
                    .into()
            }
        );
        let held = MemoryOutcome {
            heap: Some(DeviceHeap { rounds: 1, ..heap }),
            ..outcome(LIMIT)
        };
        assert!(memory_detail(&t, &held).contains("40960 MiB set by the driver, 1 launch of"));
        assert!(!memory_detail(&t, &outcome(LIMIT)).contains("device heap"));
    }

    #[test]
    fn the_detail_says_whether_the_memory_was_counted() {
        let t = uncapped();
        let counted = MemoryOutcome {
            follow_up_refused: Some("CUDA_ERROR_OUT_OF_MEMORY from cuMemAlloc".into()),
            ..outcome(LIMIT)
        };
        assert!(memory_detail(&t, &counted).contains("1 GiB cuMemAlloc was refused"));
        assert!(memory_detail(&t, &outcome(LIMIT)).contains("1 GiB cuMemAlloc succeeded"));
    }
}
