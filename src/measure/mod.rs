//! Host-side timing: a stopwatch that sums (for Criterion's mean and CI) and, when
//! recording, also puts each timed call into an HDR histogram (for p50/p99, which
//! Criterion's per-sample means cannot give). Criterion samples through a recording
//! stopwatch, so the percentiles and its estimate describe the same calls.

use crate::baseline::Percentiles;
use crate::cuda::{Event, Stream};
use crate::error::{Error, Result};
use hdrhistogram::Histogram;
use std::time::{Duration, Instant};

/// Records are kept in picoseconds: a batch of 1000 calls of a few nanoseconds each
/// divided down to whole nanoseconds would round every call by up to 1 ns (15 % of a
/// 6 ns call).
const PS_PER_NS: u64 = 1000;

/// Times only what runs inside [`Stopwatch::time`]; set-up and clean-up around it in
/// the same iteration stay out of the figure.
pub struct Stopwatch {
    total: Duration,
    hist: Option<Histogram<u64>>,
    calls_per_record: u32,
}

impl Stopwatch {
    /// Sums elapsed time only; for untimed warm-up.
    pub fn summing() -> Self {
        Self {
            total: Duration::ZERO,
            hist: None,
            calls_per_record: 1,
        }
    }

    /// Sums, and records each timed region divided by `calls_per_record`.
    pub fn recording(calls_per_record: u32) -> Self {
        let hist =
            Histogram::new_with_bounds(1, 60_000_000_000 * PS_PER_NS, 3).expect("static bounds");
        Self {
            total: Duration::ZERO,
            hist: Some(hist),
            calls_per_record: calls_per_record.max(1),
        }
    }

    /// Times `f` as one operation.
    pub fn time<T>(&mut self, f: impl FnOnce() -> T) -> T {
        let start = Instant::now();
        let out = f();
        self.record(start.elapsed());
        out
    }

    /// Adds a duration measured elsewhere (by a child process, or as CPU time), for
    /// figures this process cannot time around a closure.
    pub fn record(&mut self, elapsed: Duration) {
        self.record_ops(&[elapsed], 1);
    }

    /// Records durations of `ops` operations each, done at once in several processes
    /// (or one batch timed as a whole, e.g. on GPU events): each duration goes into the
    /// histogram as its per-operation mean, their mean into the total, so Criterion
    /// sees the time one process took while the others competed.
    pub fn record_ops(&mut self, elapsed: &[Duration], ops: u64) {
        if elapsed.is_empty() || ops == 0 {
            return;
        }
        self.total += elapsed.iter().sum::<Duration>() / elapsed.len() as u32;
        if let Some(hist) = &mut self.hist {
            let per_record = u64::from(self.calls_per_record) * ops;
            for d in elapsed {
                let ps = d.as_nanos() as u64 * PS_PER_NS / per_record;
                hist.saturating_record(ps.max(1));
            }
        }
    }

    pub fn total(&self) -> Duration {
        self.total
    }

    /// Percentiles of what was recorded; an error if nothing was, since an empty
    /// histogram would print zeros that look like measurements.
    pub fn percentiles(&self) -> Result<Percentiles> {
        let hist = self
            .hist
            .as_ref()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| Error::Invalid("no calls were recorded".into()))?;
        let ns = |ps: u64| ps as f64 / PS_PER_NS as f64;
        let q = |p: f64| ns(hist.value_at_quantile(p));
        Ok(Percentiles {
            count: hist.len(),
            calls_per_record: self.calls_per_record,
            min_ns: ns(hist.min()),
            p1_ns: Some(q(0.01)),
            p50_ns: q(0.50),
            mean_ns: hist.mean() / PS_PER_NS as f64,
            p90_ns: q(0.90),
            p99_ns: q(0.99),
            max_ns: ns(hist.max()),
            harness_floor_ns: None,
        })
    }
}

/// Records of an empty timed body [`harness_floor_ns`] takes: enough for a stable
/// median, a few milliseconds at most.
const FLOOR_RECORDS: usize = 10_000;

/// What the harness itself costs per call of a variant timed `calls_per_record` calls
/// at a time: the median of an empty body timed exactly as a call is (two clock reads,
/// the loop around the calls, the histogram), so a per-call figure can be read
/// against the floor it stands on.
pub fn harness_floor_ns(calls_per_record: u32) -> Result<f64> {
    let mut sw = Stopwatch::recording(calls_per_record);
    for _ in 0..FLOOR_RECORDS {
        sw.time(|| {
            for _ in 0..calls_per_record {
                std::hint::black_box(());
            }
        });
    }
    Ok(sw.percentiles()?.p50_ns)
}

/// GPU time of `iters` runs of `enqueue` on `stream`, between two events: kernels
/// are timed on the device's clock, so host scheduling stays out of the figure.
pub fn gpu_time(
    stream: &Stream,
    iters: u64,
    mut enqueue: impl FnMut() -> Result<()>,
) -> Result<Duration> {
    let (start, stop) = (Event::new()?, Event::new()?);
    start.record(stream)?;
    for _ in 0..iters {
        enqueue()?;
    }
    stop.record(stream)?;
    stop.synchronize()?;
    let ms = stop.elapsed_ms_since(&start)?;
    Ok(Duration::from_secs_f64(f64::from(ms) / 1e3))
}

/// Nanoseconds since the Unix epoch on the host's realtime clock: one clock for every
/// process of the host, so windows timed in different tenants can be set side by
/// side, and the clock the driver aligns the device's global timer with.
pub fn realtime_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// An interval on one nanosecond clock (the host's realtime clock, or the device's
/// global timer), to tell whether work in one process ran while another's did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Span {
    pub start_ns: u64,
    pub end_ns: u64,
}

impl Span {
    pub fn ns(&self) -> u64 {
        self.end_ns.saturating_sub(self.start_ns)
    }

    /// Whether `inner` lies wholly within this span.
    pub fn contains(&self, inner: &Span) -> bool {
        self.start_ns <= inner.start_ns && inner.end_ns <= self.end_ns
    }

    /// Nanoseconds both spans cover.
    pub fn overlap_ns(&self, other: &Span) -> u64 {
        self.end_ns
            .min(other.end_ns)
            .saturating_sub(self.start_ns.max(other.start_ns))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_contain_and_overlap_on_one_clock() {
        let outer = Span {
            start_ns: 100,
            end_ns: 200,
        };
        assert!(outer.contains(&Span {
            start_ns: 100,
            end_ns: 150
        }));
        assert!(!outer.contains(&Span {
            start_ns: 90,
            end_ns: 150
        }));
        assert_eq!(
            outer.overlap_ns(&Span {
                start_ns: 150,
                end_ns: 300
            }),
            50
        );
        assert_eq!(
            outer.overlap_ns(&Span {
                start_ns: 250,
                end_ns: 300
            }),
            0
        );
        assert_eq!(outer.ns(), 100);
        let now = realtime_ns();
        assert!(now > 1_700_000_000_000_000_000, "{now}");
    }

    #[test]
    fn summing_adds_only_timed_regions() {
        let mut sw = Stopwatch::summing();
        std::thread::sleep(Duration::from_millis(20));
        sw.time(|| std::thread::sleep(Duration::from_millis(5)));
        assert!(sw.total() >= Duration::from_millis(5));
        assert!(sw.total() < Duration::from_millis(20));
        assert!(
            sw.percentiles().is_err(),
            "a summing stopwatch keeps no histogram"
        );
    }

    #[test]
    fn recording_divides_by_calls_per_record() {
        let mut sw = Stopwatch::recording(10);
        for _ in 0..5 {
            sw.time(|| std::thread::sleep(Duration::from_millis(2)));
        }
        let p = sw.percentiles().unwrap();
        assert_eq!(p.count, 5);
        assert_eq!(p.calls_per_record, 10);
        // 2 ms per record / 10 calls = at least 200 us per call.
        assert!(p.p50_ns >= 200_000.0, "{p:?}");
        let p1 = p.p1_ns.expect("recorded");
        assert!(p.min_ns <= p1 && p1 <= p.p50_ns && p.p50_ns <= p.p99_ns && p.p99_ns <= p.max_ns);
    }

    #[test]
    fn the_floor_is_the_cost_of_an_empty_body() {
        let floor = harness_floor_ns(1).unwrap();
        // Two monotonic clock reads take nanoseconds, never a millisecond.
        assert!((1.0..1e6).contains(&floor), "{floor}");
        assert!(
            harness_floor_ns(1000).unwrap() <= floor,
            "batching spreads the clock's cost"
        );
    }

    #[test]
    fn empty_recording_is_an_error() {
        assert!(Stopwatch::recording(1).percentiles().is_err());
    }
}
