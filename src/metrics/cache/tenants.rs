//! CACHE-002..004: working sets read in tenant processes of the configuration, alone
//! and beside one another, each window timed on the reading tenant's own events.

use super::set::{gbps, set_bytes, Reader};
use super::Device;
use crate::error::{Error, Result};
use crate::measure::{realtime_ns, Span};
use crate::metrics::isolation::figures::interference;
use crate::metrics::{find, sampled, BenchEnv, Measured};
use crate::run::child::{self, Child, Handler, Held, Operation};
use crate::stats;
use serde::{Deserialize, Serialize};
use std::time::{Duration, Instant};

/// The victim's set of CACHE-002/004: half the L2, resident when it is alone.
const VICTIM: f64 = 0.5;
/// The thrasher's set: four L2s streamed through, evicting whatever else is there.
const THRASHER: f64 = 4.0;
/// The control neighbour's set: small enough to sit in the L2 beside the victim's,
/// so it loads the GPU as the thrasher does without evicting the victim.
const QUIET: f64 = 1.0 / 16.0;
/// Each tenant's set of CACHE-003: 0.6 L2, so one fits and two do not.
const PAIR: f64 = 0.6;
// The sets must relate to the L2 as the metrics say: victim and quiet neighbour fit
// it together, one pair set fits and two do not, the thrasher cannot fit.
const _: () = assert!(VICTIM + QUIET < 1.0 && PAIR < 1.0 && 2.0 * PAIR > 1.0 && THRASHER >= 4.0);
/// CACHE-003's variant.
pub(super) const PAIR_VARIANT: &str = "two-0.6xL2";
/// Kernels queued between two synchronisations of a window.
const BATCH: usize = 16;
/// How long the neighbour runs before the victim's window opens, so its stream is
/// under way (its set is already allocated and checked by then).
const LEAD: Duration = Duration::from_millis(30);
/// A victim's loss is a fraction of what it had alone: it cannot pass 100 %, and
/// below 0 only by noise.
const LOSS_BOUNDS: (f64, f64) = (-5.0, 100.0);
/// CACHE-003's pair may deliver more together than one tenant alone, where one
/// alone leaves the GPU idle between its batches and the other fills those gaps (on
/// the H200 natively the pair's sum was 1.24 times one alone): at most both at their
/// full rate at once, -100 %, with the same noise. CACHE-002's victim against a
/// quiet neighbour is held to it too: that neighbour takes time slices as well, and
/// may take more of them than the thrasher (natively -5.2 % was seen).
const PAIR_BOUNDS: (f64, f64) = (-105.0, 100.0);
/// Two windows run "together" when each overlaps the other by at least this share.
const MIN_OVERLAP: f64 = 0.5;
const REPLY_TIMEOUT: Duration = Duration::from_secs(120);

/// The operations of CACHE's serving children.
pub const OPERATIONS: &[Handler] = &[Handler::of::<ReadSet>()];

/// Read a set of `bytes` kernel after kernel for at least `min_ms`, each kernel timed
/// on this tenant's events. The set is allocated, filled and checked on the first
/// request of its size and kept for the next, so a window measures reading only.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct ReadSet {
    bytes: usize,
    l2_bytes: usize,
    sms: u32,
    min_ms: u64,
}

/// One tenant's window: when it ran on the host's realtime clock, and each kernel's
/// milliseconds.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Window {
    span: Span,
    kernel_ms: Vec<f64>,
    bytes_per_kernel: f64,
}

impl Window {
    /// GB/s over the window's kernels, by their event times.
    fn gbps(&self) -> f64 {
        gbps(
            self.bytes_per_kernel * self.kernel_ms.len() as f64,
            self.kernel_ms.iter().sum(),
        )
    }

    fn median_us(&self) -> f64 {
        stats::median(&self.kernel_ms) * 1e3
    }
}

impl Operation for ReadSet {
    const NAME: &'static str = "cache-read-set";
    type Reply = Window;
    fn serve(self, _: &crate::cuda::Context, held: &mut Held) -> Result<Window> {
        if held.get::<Reader>().is_none_or(|r| r.bytes() != self.bytes) {
            held.keep(Reader::new(self.bytes, self.l2_bytes, self.sms)?);
        }
        let reader = held.get::<Reader>().expect("kept above");
        let start = (Instant::now(), realtime_ns());
        let mut kernel_ms = Vec::new();
        while kernel_ms.is_empty() || start.0.elapsed() < Duration::from_millis(self.min_ms) {
            kernel_ms.extend(reader.time_kernels(BATCH)?);
        }
        Ok(Window {
            span: Span {
                start_ns: start.1,
                end_ns: realtime_ns(),
            },
            kernel_ms,
            bytes_per_kernel: reader.bytes_per_kernel(),
        })
    }
}

/// Every `fraction`-L2 set request a tenant of `device` gets, for `min_ms`.
fn request(device: &Device, fraction: f64, min_ms: u64) -> ReadSet {
    ReadSet {
        bytes: set_bytes(device.l2_bytes, fraction),
        l2_bytes: device.l2_bytes,
        sms: device.sms,
        min_ms,
    }
}

/// The victim's window with `neighbour` reading `beside` meanwhile. The neighbour
/// starts [`LEAD`] ahead and runs well past the victim's window; the two windows are
/// checked on the host clock, so a figure is never taken with the neighbour gone.
fn beside(
    victim: &mut Child,
    neighbour: &mut Child,
    own: &ReadSet,
    beside: &ReadSet,
) -> Result<Window> {
    neighbour.send(beside)?;
    std::thread::sleep(LEAD);
    let window = victim.call(own, REPLY_TIMEOUT)?;
    let theirs: Window = neighbour.reply(REPLY_TIMEOUT)?;
    if !theirs.span.contains(&window.span) {
        return Err(Error::Invalid(format!(
            "CACHE: the neighbour read from {:?} and the victim from {:?}: the victim's window was not wholly beside it",
            theirs.span, window.span
        )));
    }
    Ok(window)
}

/// Whether two windows ran together: each overlaps the other by [`MIN_OVERLAP`].
fn together(a: &Span, b: &Span) -> bool {
    let overlap = a.overlap_ns(b) as f64;
    overlap >= MIN_OVERLAP * a.ns() as f64 && overlap >= MIN_OVERLAP * b.ns() as f64
}

/// Percent of `alone` lost at `now`.
fn loss_pct(alone: f64, now: f64) -> f64 {
    interference(alone, now).map_or(f64::NAN, |loss| 100.0 * loss)
}

/// `samples` of a loss, once their mean is checked to lie in `bounds`: one window
/// may stray by noise, the mean may not.
fn bounded_losses(what: &str, samples: Vec<f64>, bounds: (f64, f64)) -> Result<Vec<f64>> {
    stats::bounded(what, stats::mean(&samples), bounds.0, bounds.1)?;
    Ok(samples)
}

/// CACHE-003's slowdown: the two tenants' rates together, summed, against the mean of
/// their rates alone. Where the GPU time-slices the two, each gets about half of it,
/// so the sum, not either rate, is what the L2 sharing can lower.
fn pair_slowdown(alone: [f64; 2], together: [f64; 2]) -> f64 {
    loss_pct((alone[0] + alone[1]) / 2.0, together[0] + together[1])
}

/// Which of CACHE-002..004 to measure.
#[derive(Debug, Clone, Copy)]
pub(super) struct Wanted {
    pub thrashed: bool,
    pub shared: bool,
    pub per_kernel: bool,
}

/// Milliseconds of each victim window; the neighbour's runs longer.
fn window_ms(env: &BenchEnv) -> u64 {
    if env.quick {
        100
    } else {
        300
    }
}

pub(super) fn bench(env: &BenchEnv, device: &Device, ids: Wanted) -> Result<Vec<Measured>> {
    let mut out = Vec::new();
    let ms = window_ms(env);
    let neighbour_ms = 2 * ms + 2 * LEAD.as_millis() as u64 + 50;
    if ids.thrashed || ids.per_kernel {
        // CACHE-004 is read off CACHE-002's windows: the time is CACHE-002's.
        crate::progress::report_step(if ids.thrashed {
            "CACHE-002"
        } else {
            "CACHE-004"
        });
        // One neighbour per set, so each keeps its set allocated between windows.
        let mut tenants = child::spawn_servers(3)?;
        let [victim, thrasher, quiet] = tenants.as_mut_slice() else {
            unreachable!("three tenants were started")
        };
        let own = request(device, VICTIM, ms);
        let thrash = request(device, THRASHER, neighbour_ms);
        let calm = request(device, QUIET, neighbour_ms);
        // Each set is allocated and checked once, outside every window.
        for (child, set) in [
            (&mut *victim, &own),
            (&mut *thrasher, &thrash),
            (&mut *quiet, &calm),
        ] {
            child.call(
                &ReadSet {
                    min_ms: 0,
                    ..set.clone()
                },
                REPLY_TIMEOUT,
            )?;
        }
        let (mut loss, mut loss_quiet, mut per_kernel, mut per_kernel_quiet) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for _ in 0..env.paired_samples() {
            let alone = victim.call(&own, REPLY_TIMEOUT)?;
            let thrashed = beside(victim, thrasher, &own, &thrash)?;
            let calmed = beside(victim, quiet, &own, &calm)?;
            loss.push(loss_pct(alone.gbps(), thrashed.gbps()));
            loss_quiet.push(loss_pct(calmed.gbps(), thrashed.gbps()));
            per_kernel.push(thrashed.median_us() - alone.median_us());
            per_kernel_quiet.push(thrashed.median_us() - calmed.median_us());
        }
        child::end_all(tenants);
        if ids.thrashed {
            let info = find("CACHE-002")?;
            let loss = bounded_losses("CACHE-002 vs-alone mean loss (%)", loss, LOSS_BOUNDS)?;
            let loss_quiet = bounded_losses(
                "CACHE-002 vs-quiet-neighbour mean loss (%)",
                loss_quiet,
                PAIR_BOUNDS,
            )?;
            out.push(sampled(info, "vs-alone", loss, None));
            out.push(sampled(info, "vs-quiet-neighbour", loss_quiet, None));
        }
        if ids.per_kernel {
            let info = find("CACHE-004")?;
            out.push(sampled(info, "vs-alone", per_kernel, None));
            out.push(sampled(info, "vs-quiet-neighbour", per_kernel_quiet, None));
        }
    }
    if ids.shared {
        let info = find("CACHE-003")?;
        crate::progress::report_step(info.id);
        let mut tenants = child::spawn_servers(2)?;
        let set = request(device, PAIR, ms);
        child::broadcast(
            &mut tenants,
            &ReadSet {
                min_ms: 0,
                ..set.clone()
            },
            REPLY_TIMEOUT,
        )?;
        let mut slowdown = Vec::new();
        for _ in 0..env.paired_samples() {
            let mut alone = [0.0; 2];
            for (rate, tenant) in alone.iter_mut().zip(tenants.iter_mut()) {
                *rate = tenant.call(&set, REPLY_TIMEOUT)?.gbps();
            }
            let both = child::broadcast(&mut tenants, &set, REPLY_TIMEOUT)?;
            if !together(&both[0].span, &both[1].span) {
                return Err(Error::Invalid(format!(
                    "CACHE-003: the two tenants' windows {:?} and {:?} overlapped by less than {:.0} % of each",
                    both[0].span,
                    both[1].span,
                    MIN_OVERLAP * 100.0
                )));
            }
            slowdown.push(pair_slowdown(alone, [both[0].gbps(), both[1].gbps()]));
        }
        child::end_all(tenants);
        let slowdown = bounded_losses("CACHE-003 mean slowdown (%)", slowdown, PAIR_BOUNDS)?;
        out.push(sampled(info, PAIR_VARIANT, slowdown, None));
    }
    Ok(out
        .into_iter()
        .filter(|m| env.selects(&format!("cache/{}/{}", m.info.id, m.variant)))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(start_ns: u64, end_ns: u64) -> Span {
        Span { start_ns, end_ns }
    }

    #[test]
    fn a_window_rate_is_its_bytes_over_its_kernels_event_times() {
        let w = Window {
            span: span(0, 10),
            kernel_ms: vec![1.0, 1.0, 2.0],
            bytes_per_kernel: 4e9,
        };
        // 12 GB in 4 ms.
        assert!((w.gbps() - 3000.0).abs() < 1e-9);
        assert!((w.median_us() - 1000.0).abs() < 1e-9);
    }

    #[test]
    fn losses_are_bounded_fractions_of_the_rate_alone() {
        assert!((loss_pct(100.0, 75.0) - 25.0).abs() < 1e-12);
        assert!((loss_pct(100.0, 103.0) + 3.0).abs() < 1e-12);
        // One window may stray past the bound by noise; the mean may not.
        assert_eq!(
            bounded_losses("x", vec![-8.0, 4.0], LOSS_BOUNDS).unwrap(),
            [-8.0, 4.0]
        );
        assert!(
            bounded_losses("x", vec![-10.0, -9.0], LOSS_BOUNDS).is_err(),
            "faster beside a thrasher"
        );
        assert!(bounded_losses("x", vec![f64::NAN, 1.0], LOSS_BOUNDS).is_err());
        // A pair may together do up to twice what one does alone, not more.
        assert!(bounded_losses("x", vec![-24.0], PAIR_BOUNDS).is_ok());
        assert!(bounded_losses("x", vec![-110.0], PAIR_BOUNDS).is_err());
        // Time-sliced halves with no loss to the cache: no slowdown.
        assert!(pair_slowdown([100.0, 100.0], [50.0, 50.0]).abs() < 1e-12);
        assert!((pair_slowdown([100.0, 100.0], [30.0, 30.0]) - 40.0).abs() < 1e-12);
    }

    #[test]
    fn windows_run_together_only_when_each_overlaps_the_other_by_half() {
        assert!(together(&span(0, 100), &span(10, 110)));
        assert!(!together(&span(0, 100), &span(60, 160)));
        assert!(
            !together(&span(0, 100), &span(0, 300)),
            "the longer one mostly alone"
        );
    }

    #[test]
    fn a_request_is_sized_from_the_devices_l2() {
        let d = Device {
            sms: 132,
            l2_bytes: 50 << 20,
            memory_khz: 1,
            bus_bits: 1,
        };
        let r = request(&d, VICTIM, 100);
        assert_eq!((r.bytes, r.sms, r.min_ms), (25 << 20, 132, 100));
    }
}
