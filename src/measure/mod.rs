//! Host-side timing: a stopwatch that either sums (for Criterion's mean and CI) or
//! records each timed call into an HDR histogram (for p50/p99, which Criterion's
//! per-sample means cannot give). One timed operation serves both passes, so the
//! percentiles and Criterion's estimate describe the same code.

use crate::baseline::Percentiles;
use crate::cuda::{Event, Stream};
use crate::error::{Error, Result};
use hdrhistogram::Histogram;
use std::time::{Duration, Instant};

/// Times only what runs inside [`Stopwatch::time`]; set-up and clean-up around it in
/// the same iteration stay out of the figure.
pub struct Stopwatch {
    total: Duration,
    hist: Option<Histogram<u64>>,
    calls_per_record: u32,
}

impl Stopwatch {
    /// Sums elapsed time; for Criterion's `iter_custom`.
    pub fn summing() -> Self {
        Self {
            total: Duration::ZERO,
            hist: None,
            calls_per_record: 1,
        }
    }

    /// Records each timed region, divided by `calls_per_record`, in nanoseconds.
    pub fn recording(calls_per_record: u32) -> Self {
        let hist = Histogram::new_with_bounds(1, 60_000_000_000, 3).expect("static bounds");
        Self {
            total: Duration::ZERO,
            hist: Some(hist),
            calls_per_record: calls_per_record.max(1),
        }
    }

    pub fn time<T>(&mut self, f: impl FnOnce() -> T) -> T {
        let start = Instant::now();
        let out = f();
        self.record(start.elapsed());
        out
    }

    /// Adds a duration measured elsewhere (by a child process, or as CPU time), for
    /// figures this process cannot time around a closure.
    pub fn record(&mut self, elapsed: Duration) {
        self.record_parallel(&[elapsed]);
    }

    /// Records durations of work done at once in several processes: each goes into
    /// the histogram, their mean into the total, so Criterion sees the time one
    /// process took while the others competed.
    pub fn record_parallel(&mut self, elapsed: &[Duration]) {
        if elapsed.is_empty() {
            return;
        }
        self.total += elapsed.iter().sum::<Duration>() / elapsed.len() as u32;
        if let Some(hist) = &mut self.hist {
            for d in elapsed {
                let ns = (d.as_nanos() as u64 / u64::from(self.calls_per_record)).max(1);
                hist.saturating_record(ns);
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
        let q = |p: f64| hist.value_at_quantile(p) as f64;
        Ok(Percentiles {
            count: hist.len(),
            calls_per_record: self.calls_per_record,
            min_ns: hist.min() as f64,
            p1_ns: Some(q(0.01)),
            p50_ns: q(0.50),
            mean_ns: hist.mean(),
            p90_ns: q(0.90),
            p99_ns: q(0.99),
            max_ns: hist.max() as f64,
        })
    }
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

#[cfg(test)]
mod tests {
    use super::*;

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
    fn empty_recording_is_an_error() {
        assert!(Stopwatch::recording(1).percentiles().is_err());
    }
}
