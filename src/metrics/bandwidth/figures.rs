//! The bandwidth figures as plain functions of measured rates, so each is tested on
//! known inputs and computed the same way for memory and for PCIe.

use crate::error::{Error, Result};
use crate::measure::Span;
use crate::system::Peak;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// How far past its bound a fraction may lie and still count as timing noise.
pub const NOISE: f64 = 0.05;
/// BW-003's knee: the first tenant count whose total is within this fraction of the
/// largest total.
pub const KNEE_WITHIN: f64 = 0.05;

/// Bytes moved over GPU time, as a tenant or a timed loop reports it, with the
/// host's realtime span of a tenant's loop: tenants that share the GPU by time
/// slices each see their own batches' GPU time, so their rates do not add up to
/// what memory delivered to all of them; their bytes over the span they ran in do.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Rate {
    pub bytes: f64,
    pub gpu_s: f64,
    pub wall: Option<Span>,
}

impl Rate {
    pub fn new(bytes: f64, gpu: Duration) -> Self {
        Self {
            bytes,
            gpu_s: gpu.as_secs_f64(),
            wall: None,
        }
    }

    /// In GB/s (10^9 bytes): over the realtime span where a tenant reported one
    /// (what it got while others shared the GPU), else over the GPU time; zero time
    /// (an empty loop) is no rate.
    pub fn gbps(&self) -> Result<f64> {
        let secs = self.wall.map_or(self.gpu_s, |w| w.ns() as f64 * 1e-9);
        if secs > 0.0 && self.bytes.is_finite() {
            Ok(self.bytes / secs / 1e9)
        } else {
            Err(Error::Invalid(format!(
                "{} bytes in {secs} s is no rate",
                self.bytes
            )))
        }
    }
}

/// What memory delivered to `rates`' tenants together, in GB/s: all their bytes
/// over the realtime span from the first one's start to the last one's end. The
/// span holds each loop's start-up and the tenants' skew, so this errs low, never
/// high.
pub fn aggregate_gbps(rates: &[Rate]) -> Result<f64> {
    let walls: Option<Vec<Span>> = rates.iter().map(|r| r.wall).collect();
    let span = walls
        .filter(|w| !w.is_empty())
        .map(|w| Span {
            start_ns: w.iter().map(|s| s.start_ns).min().unwrap_or(0),
            end_ns: w.iter().map(|s| s.end_ns).max().unwrap_or(0),
        })
        .filter(|s| s.ns() > 0)
        .ok_or_else(|| Error::Invalid("tenants without a realtime span give no total".into()))?;
    let bytes: f64 = rates.iter().map(|r| r.bytes).sum();
    Ok(bytes / (span.ns() as f64 * 1e-9) / 1e9)
}

/// Bytes a copy of `bytes` moves through memory: each byte is read once and written
/// once, by a kernel and by the copy engine alike.
pub fn copy_traffic(bytes: u64) -> f64 {
    2.0 * bytes as f64
}

/// `gbps` unless it is above `peak`: a rate past the physical bound is a wrong count
/// or a broken timer, refused rather than averaged into a figure.
pub fn within_peak(what: &str, gbps: f64, peak: Option<&Peak>) -> Result<f64> {
    match peak {
        Some(p) if gbps.is_nan() || gbps > p.value => Err(Error::AbovePeak {
            what: what.to_string(),
            value: gbps,
            unit: "GB/s".into(),
            peak: p.value,
            source_: p.source.clone(),
        }),
        _ => Ok(gbps),
    }
}

/// `fraction` unless it lies outside [0, 1] by more than [`NOISE`]: such a value is
/// not physical and is refused, never clamped.
pub fn bounded(what: &str, fraction: f64) -> Result<f64> {
    crate::stats::bounded(what, fraction, -NOISE, 1.0 + NOISE)
}

/// The smallest tenant count whose total bandwidth is within [`KNEE_WITHIN`] of the
/// largest: where adding tenants stops adding bandwidth. `totals` pairs each count
/// with its total, in increasing count.
pub fn knee(totals: &[(usize, f64)]) -> Option<usize> {
    let max = totals.iter().map(|&(_, t)| t).fold(f64::NAN, f64::max);
    totals
        .iter()
        .find(|&&(_, t)| t >= (1.0 - KNEE_WITHIN) * max)
        .map(|&(n, _)| n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peak(value: f64) -> Peak {
        Peak {
            source: "test".into(),
            value,
        }
    }

    #[test]
    fn a_rate_is_bytes_over_gpu_time_in_gigabytes() {
        let r = Rate::new(4e9, Duration::from_millis(500));
        assert!((r.gbps().unwrap() - 8.0).abs() < 1e-12);
        assert!(Rate::new(1.0, Duration::ZERO).gbps().is_err());
        // Two time-sliced tenants, each 4 GB in its own 0.5 s of GPU time, over the
        // one second they shared: 8 GB/s in all, not the 16 their rates add up to.
        let sliced = |start_ns| Rate {
            wall: Some(Span {
                start_ns,
                end_ns: start_ns + 1_000_000_000,
            }),
            ..Rate::new(4e9, Duration::from_millis(500))
        };
        assert!((sliced(0).gbps().unwrap() - 4.0).abs() < 1e-9);
        let total = aggregate_gbps(&[sliced(0), sliced(0)]).unwrap();
        assert!((total - 8.0).abs() < 1e-9, "{total}");
        let skewed = aggregate_gbps(&[sliced(0), sliced(1_000_000_000)]).unwrap();
        assert!((skewed - 4.0).abs() < 1e-9, "{skewed}");
        assert!(aggregate_gbps(&[r]).is_err());
    }

    #[test]
    fn a_copy_counts_its_bytes_read_and_written() {
        assert_eq!(copy_traffic(1 << 30), 2.0 * (1u64 << 30) as f64);
    }

    #[test]
    fn a_rate_above_its_peak_is_refused() {
        assert_eq!(within_peak("x", 99.0, Some(&peak(100.0))).unwrap(), 99.0);
        assert!(matches!(
            within_peak("BW-002/t1", 101.0, Some(&peak(100.0))),
            Err(Error::AbovePeak { ref what, .. }) if what == "BW-002/t1"
        ));
        assert!(within_peak("x", f64::NAN, Some(&peak(100.0))).is_err());
        assert_eq!(within_peak("x", 1e9, None).unwrap(), 1e9);
    }

    #[test]
    fn a_fraction_out_of_bounds_beyond_noise_is_an_error_not_clamped() {
        assert_eq!(bounded("x", 0.5).unwrap(), 0.5);
        assert_eq!(bounded("x", 1.04).unwrap(), 1.04);
        assert_eq!(bounded("x", -0.04).unwrap(), -0.04);
        assert!(bounded("x", 1.06).is_err());
        assert!(bounded("x", -0.2).is_err());
        assert!(bounded("x", f64::NAN).is_err());
    }

    #[test]
    fn loss_is_zero_alone_and_one_when_stopped() {
        use crate::metrics::isolation::figures::interference as loss;
        assert_eq!(loss(100.0, 100.0), Some(0.0));
        assert_eq!(loss(100.0, 25.0), Some(0.75));
        assert_eq!(loss(100.0, 0.0), Some(1.0));
    }

    #[test]
    fn the_knee_is_the_first_count_near_the_largest_total() {
        // One tenant saturates memory: the knee is 1.
        assert_eq!(
            knee(&[(1, 3900.0), (2, 3950.0), (4, 3960.0), (8, 3940.0)]),
            Some(1)
        );
        // A limited tenant cannot: totals grow until 4 tenants.
        assert_eq!(
            knee(&[(1, 1000.0), (2, 2000.0), (4, 3800.0), (8, 3900.0)]),
            Some(4)
        );
        assert_eq!(knee(&[(1, 10.0), (2, 20.0)]), Some(2));
        assert_eq!(knee(&[]), None);
    }
}
