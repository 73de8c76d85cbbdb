//! SCHED-002: how long a launched kernel waits before its first block runs, from the
//! host's submit to the block's start on the device's global clock, alone and while
//! another tenant keeps the GPU busy.

use super::fill::Fill;
use super::record::{extent, Timeline};
use super::{probes, Device, LEAD, REPLY_TIMEOUT};
use crate::cuda::{SchedKernels, Stream, TimelineShape};
use crate::error::{Error, Result};
use crate::measure::{realtime_ns, Span};
use crate::metrics::{find, sampled, BenchEnv, Measured};
use crate::run::child;

/// One launch as both clocks saw it: host realtime right before cuLaunchKernel and
/// right after the synchronisation that followed, and the first block's start on
/// the device's global timer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Stamp {
    pub before_ns: u64,
    pub start_ns: u64,
    pub after_ns: u64,
}

impl Stamp {
    /// Microseconds from submit to start, on the assumption the two clocks agree.
    fn latency_us(&self) -> f64 {
        (self.start_ns as f64 - self.before_ns as f64) / 1e3
    }
}

/// What the launches say of the device clock's offset from host realtime: every
/// first block started after its submit and before the host saw it done, so the
/// offset (device minus host) lies in [`low_ns`, `high_ns`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Calibration {
    pub low_ns: i64,
    pub high_ns: i64,
}

impl Calibration {
    pub fn of(stamps: &[Stamp]) -> Option<Self> {
        let diff = |a: u64, b: u64| a as i64 - b as i64;
        Some(Self {
            low_ns: stamps.iter().map(|s| diff(s.start_ns, s.after_ns)).max()?,
            high_ns: stamps.iter().map(|s| diff(s.start_ns, s.before_ns)).min()?,
        })
    }

    /// Whether the device's clock is host realtime as far as the launches can tell:
    /// an offset of 0 fits every launch. The launches cannot tell an offset inside
    /// [`low_ns`, `high_ns`] from none: that is the figure's uncertainty.
    pub fn aligned(&self) -> bool {
        self.low_ns <= 0 && 0 <= self.high_ns
    }
}

/// A probe: one 32-thread block per SM that ends at once; only its first start counts.
fn probe_shape(device: &Device) -> TimelineShape {
    TimelineShape {
        blocks: device.sms,
        threads: 32,
        ns: 0,
        gap_ns: u64::MAX,
        max_gaps: 0,
    }
}

/// `n` probes, each launched on an idle stream and waited for.
fn stamps(kernels: &SchedKernels, device: &Device, n: usize) -> Result<Vec<Stamp>> {
    let stream = Stream::new()?;
    (0..n)
        .map(|_| {
            let timeline = Timeline::new(probe_shape(device), &stream)?;
            stream.synchronize()?;
            let before_ns = realtime_ns();
            timeline.launch(kernels, &stream)?;
            stream.synchronize()?;
            let after_ns = realtime_ns();
            let first = extent(&timeline.records()?).expect("one block per SM");
            Ok(Stamp {
                before_ns,
                start_ns: first.start_ns,
                after_ns,
            })
        })
        .collect()
}

/// The stamps whose kernel started inside `span` of the device's clock; an error
/// when fewer than half did, since the neighbour was then mostly gone.
pub(super) fn inside(what: &str, stamps: Vec<Stamp>, span: &Span) -> Result<Vec<Stamp>> {
    let n = stamps.len();
    let kept: Vec<Stamp> = stamps
        .into_iter()
        .filter(|s| span.start_ns <= s.start_ns && s.start_ns <= span.end_ns)
        .collect();
    if kept.len() * 2 < n {
        return Err(Error::Invalid(format!(
            "{what}: only {} of {n} probes started while the neighbour ran ({span:?})",
            kept.len()
        )));
    }
    Ok(kept)
}

pub(super) fn bench(env: &BenchEnv, device: &Device) -> Result<Vec<Measured>> {
    let info = find("SCHED-002")?;
    let kernels = SchedKernels::load()?;
    let n = probes(env);
    stamps(&kernels, device, 4)?;
    let alone = stamps(&kernels, device, n)?;
    let mut neighbours = child::spawn_servers(1)?;
    let neighbour = &mut neighbours[0];
    let fill = Fill {
        device: *device,
        ms: LEAD.as_millis() as u64 + 10 * n as u64,
        low_priority: false,
    };
    neighbour.send(&fill)?;
    std::thread::sleep(LEAD);
    let busy = stamps(&kernels, device, n)?;
    let span: Span = neighbour.reply(REPLY_TIMEOUT)?;
    child::end_all(neighbours);
    let busy = inside("SCHED-002", busy, &span)?;
    let calibration = Calibration::of(&alone).expect("probes were taken");
    let us = |s: &[Stamp]| s.iter().map(Stamp::latency_us).collect::<Vec<_>>();
    let mut out = vec![sampled(
        info,
        ADDED_VARIANT,
        added_us(&us(&alone), &us(&busy)),
        None,
    )];
    if calibration.aligned() {
        eprintln!(
            "sched/SCHED-002: device clock within [{}, {}] ns of host realtime (the figures' uncertainty)",
            calibration.low_ns, calibration.high_ns
        );
        out.push(sampled(info, "alone", us(&alone), None));
        out.push(sampled(info, "beside-busy-tenant", us(&busy), None));
    } else {
        eprintln!(
            "sched/SCHED-002: alone and beside-busy-tenant not saved: the device's global timer is not host realtime here (its offset lies in [{}, {}] ns), so a start on it cannot be set against a host submit; {ADDED_VARIANT}, which the offset cancels out of, is",
            calibration.low_ns, calibration.high_ns
        );
    }
    Ok(out)
}

/// What a busy neighbour adds to the wait: each probe beside it less the median
/// probe alone. Both read the two clocks the same way, so their offset cancels.
const ADDED_VARIANT: &str = "added-beside-busy-tenant";

fn added_us(alone: &[f64], busy: &[f64]) -> Vec<f64> {
    let base = crate::stats::median(alone);
    busy.iter().map(|b| b - base).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stamp(before_ns: u64, start_ns: u64, after_ns: u64) -> Stamp {
        Stamp {
            before_ns,
            start_ns,
            after_ns,
        }
    }

    #[test]
    fn the_offset_is_bounded_by_every_launch_and_zero_must_fit() {
        let s = [stamp(1000, 1008, 1030), stamp(2000, 2005, 2012)];
        let c = Calibration::of(&s).unwrap();
        // Device minus host: at least 1008-1030 = -22 and 2005-2012 = -7, at most
        // 8 and 5.
        assert_eq!((c.low_ns, c.high_ns), (-7, 5));
        assert!(c.aligned());
        assert!((s[0].latency_us() - 0.008).abs() < 1e-12);
        // A device clock 1 us behind: a block "started" before its submit.
        let behind = [stamp(1000, 990, 1030), stamp(2000, 1999, 2012)];
        assert!(!Calibration::of(&behind).unwrap().aligned());
        // A device clock ahead: a block "started" after the host saw it done.
        let ahead = [stamp(1000, 1040, 1030)];
        assert!(!Calibration::of(&ahead).unwrap().aligned());
        assert_eq!(Calibration::of(&[]), None);
    }

    #[test]
    fn a_busy_neighbour_adds_its_wait_whatever_the_clocks_offset() {
        let offset = 450.0;
        let alone = [10.0 + offset, 12.0 + offset, 11.0 + offset];
        let busy = [40.0 + offset, 61.0 + offset];
        assert_eq!(added_us(&alone, &busy), [29.0, 50.0]);
    }

    #[test]
    fn only_probes_that_started_beside_the_neighbour_count() {
        let span = Span {
            start_ns: 100,
            end_ns: 200,
        };
        let s = vec![stamp(0, 150, 0), stamp(0, 190, 0), stamp(0, 250, 0)];
        assert_eq!(inside("x", s.clone(), &span).unwrap().len(), 2);
        assert!(inside("x", s[2..].to_vec(), &span).is_err());
    }
}
