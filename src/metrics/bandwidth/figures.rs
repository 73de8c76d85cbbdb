//! The bandwidth figures as plain functions of measured rates, so each is tested on
//! known inputs and computed the same way for memory and for PCIe.

use crate::error::{Error, Result};
use crate::system::Peak;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// How far past its bound a fraction may lie and still count as timing noise.
pub const NOISE: f64 = 0.05;
/// BW-003's knee: the first tenant count whose total is within this fraction of the
/// largest total.
pub const KNEE_WITHIN: f64 = 0.05;

/// Bytes moved over GPU time, as a tenant or a timed loop reports it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Rate {
    pub bytes: f64,
    pub gpu_s: f64,
}

impl Rate {
    pub fn new(bytes: f64, gpu: Duration) -> Self {
        Self {
            bytes,
            gpu_s: gpu.as_secs_f64(),
        }
    }

    /// In GB/s (10^9 bytes); zero GPU time (an empty loop) is no rate.
    pub fn gbps(&self) -> Result<f64> {
        if self.gpu_s > 0.0 && self.bytes.is_finite() {
            Ok(self.bytes / self.gpu_s / 1e9)
        } else {
            Err(Error::Invalid(format!(
                "{} bytes in {} s of GPU time is no rate",
                self.bytes, self.gpu_s
            )))
        }
    }
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
    if (-NOISE..=1.0 + NOISE).contains(&fraction) {
        Ok(fraction)
    } else {
        Err(Error::Invalid(format!(
            "{what}: {fraction:.4} lies outside [0, 1] by more than the noise of {NOISE}, which is not physical; the run is invalid"
        )))
    }
}

/// A victim's loss beside a neighbour, as a fraction of its rate alone: 0 when the
/// neighbour costs nothing, 1 when the victim is stopped.
pub fn loss(alone: f64, beside: f64) -> f64 {
    1.0 - beside / alone
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
        assert_eq!(loss(100.0, 100.0), 0.0);
        assert_eq!(loss(100.0, 25.0), 0.75);
        assert_eq!(loss(100.0, 0.0), 1.0);
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
