//! The verdict of each configured limit, judged from what the verifier measured.
//! "Verified" only says a configuration ran as configured; whether its memory limit
//! and its SM limit on each kernel shape held is said here, limit by limit, so an SM
//! share that ran past its limit is never read as a pass.

use super::{ShapeShare, Verification};
use serde::{Deserialize, Serialize};
use std::fmt;

/// Percentage points, as a share of native, by which a delivered share may miss its
/// limit either way and still be the limit enforced: a limiter that settles at 33 %
/// under a 25 % limit holds it roughly; at 38 % it does not.
pub const SHARE_TOLERANCE: f64 = 0.10;
/// Windows (0.5 s each) a shape needs before its share is judged: with fewer, one
/// slow or fast window moves the mean past the tolerance. 8 windows take 4 s, so
/// `--verify-secs 5` (the default without `--quick`) gives enough.
pub const MIN_WINDOWS: usize = 8;
/// Largest standard deviation of the per-window shares (as a share of native, so
/// 0.10 is 10 points) for which a mean inside or near the tolerance band is judged:
/// a share that swings wider than the tolerance from one window to the next is no
/// steady share. Only a mean that lies past the band by more than its spread is
/// still judged exceeded or below.
pub const MAX_SPREAD: f64 = 0.10;

/// The verdict of every limit a configuration sets, as stored in run.json.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LimitVerdicts {
    pub memory: MemoryVerdict,
    /// One per kernel shape of the verification, in its order.
    pub sm: Vec<ShapeVerdict>,
}

/// How far past the memory limit the verifier's allocation reaches, in MiB.
pub const OVER_LIMIT_MIB: u64 = 1024;

/// Whether the configured memory limit held: `cuMemGetInfo` reported it and an
/// allocation past it was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MemoryVerdict {
    Enforced,
    NotEnforced,
    /// The checks passed, but the over-limit allocation was also larger than the
    /// physical memory, so the device would have refused it without any limit: a
    /// limit at (or near) the whole memory cannot be shown this way.
    Inconclusive,
    NotConfigured,
}

/// The SM limit's verdict on one kernel shape, with the figures it was judged on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShapeVerdict {
    pub shape: String,
    #[serde(flatten)]
    pub verdict: SmVerdict,
    /// The configured SM limit, in percent; `None` with no limit.
    pub limit_pct: Option<u32>,
    /// Delivered share over the whole run (1.0 = native).
    pub share_mean: f64,
    /// Sample standard deviation of the per-window shares; 0 for fewer than two.
    pub spread: f64,
    /// Number of 0.5 s windows measured.
    pub windows: usize,
}

/// Where a delivered share lies against the SM limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub enum SmVerdict {
    /// Within [`SHARE_TOLERANCE`] of the limit, from enough steady windows.
    Enforced,
    /// More than [`SHARE_TOLERANCE`] above the limit (by more than the spread too,
    /// if the spread is wide): the limit did not hold.
    Exceeded,
    /// More than [`SHARE_TOLERANCE`] below the limit, likewise: throttled past it.
    Below,
    /// Too little or too unsteady evidence to judge.
    Inconclusive { reason: Inconclusive },
    /// The configuration sets no SM limit.
    NotConfigured,
}

/// Why a share was not judged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Inconclusive {
    /// Fewer than [`MIN_WINDOWS`] windows.
    TooFewWindows,
    /// Window-to-window standard deviation above [`MAX_SPREAD`].
    SpreadTooWide,
}

impl fmt::Display for MemoryVerdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Enforced => "enforced",
            Self::NotEnforced => "not enforced",
            Self::Inconclusive => "inconclusive (limit + 1 GiB exceeds physical memory)",
            Self::NotConfigured => "not configured",
        })
    }
}

impl fmt::Display for SmVerdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Enforced => "enforced",
            Self::Exceeded => "exceeded",
            Self::Below => "below",
            Self::Inconclusive {
                reason: Inconclusive::TooFewWindows,
            } => "inconclusive (too few windows)",
            Self::Inconclusive {
                reason: Inconclusive::SpreadTooWide,
            } => "inconclusive (spread too wide)",
            Self::NotConfigured => "not configured",
        })
    }
}

impl Verification {
    /// The stored verdicts, or, for a run.json written before they were stored,
    /// the verdicts judged now from its figures.
    pub fn limit_verdicts(&self) -> LimitVerdicts {
        self.verdicts.clone().unwrap_or_else(|| judge(self))
    }
}

/// Judges every limit from what the verifier measured; pure, so a stored baseline
/// is judged the same way on load as a fresh run is.
pub fn judge(v: &Verification) -> LimitVerdicts {
    let past_physical = v
        .mem_limit_mib
        .is_some_and(|limit| limit + OVER_LIMIT_MIB > v.mem_physical_mib);
    let memory = match v.mem_limit_in_force {
        None => MemoryVerdict::NotConfigured,
        Some(true) if past_physical => MemoryVerdict::Inconclusive,
        Some(true) => MemoryVerdict::Enforced,
        Some(false) => MemoryVerdict::NotEnforced,
    };
    let sm = v
        .shapes
        .iter()
        .map(|shape| judge_shape(shape, v.sm_limit_pct))
        .collect();
    LimitVerdicts { memory, sm }
}

fn judge_shape(shape: &ShapeShare, limit_pct: Option<u32>) -> ShapeVerdict {
    let spread = std_dev(&shape.windows);
    let windows = shape.windows.len();
    ShapeVerdict {
        shape: shape.shape.clone(),
        verdict: sm_verdict(limit_pct, shape.share_mean, spread, windows),
        limit_pct,
        share_mean: shape.share_mean,
        spread,
        windows,
    }
}

/// The SM verdict of a mean share with its window spread: not configured without a
/// limit, inconclusive with fewer than [`MIN_WINDOWS`] windows, else
/// [`share_verdict`].
pub fn sm_verdict(limit_pct: Option<u32>, share: f64, spread: f64, windows: usize) -> SmVerdict {
    let Some(limit_pct) = limit_pct else {
        return SmVerdict::NotConfigured;
    };
    if windows < MIN_WINDOWS {
        return SmVerdict::Inconclusive {
            reason: Inconclusive::TooFewWindows,
        };
    }
    share_verdict(limit_pct, share, spread)
}

/// Where a share lies against a limit, [`SHARE_TOLERANCE`] either side counting as
/// at it, for evidence already found large enough. A mean past that band by more
/// than its spread is exceeded or below however wide the spread (85 % ± 12 % under
/// a 25 % limit did not hold); otherwise a spread above [`MAX_SPREAD`] is
/// inconclusive, and a steady mean is judged where it lies.
pub fn share_verdict(limit_pct: u32, share: f64, spread: f64) -> SmVerdict {
    let limit = f64::from(limit_pct) / 100.0;
    let (high, low) = (limit + SHARE_TOLERANCE, limit - SHARE_TOLERANCE);
    if share - spread > high {
        SmVerdict::Exceeded
    } else if share + spread < low {
        SmVerdict::Below
    } else if spread > MAX_SPREAD {
        SmVerdict::Inconclusive {
            reason: Inconclusive::SpreadTooWide,
        }
    } else if share > high {
        SmVerdict::Exceeded
    } else if share < low {
        SmVerdict::Below
    } else {
        SmVerdict::Enforced
    }
}

/// Sample standard deviation; 0 for fewer than two values.
fn std_dev(values: &[f64]) -> f64 {
    if values.len() < 2 {
        return 0.0;
    }
    crate::stats::sample_variance(values).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOO_FEW: SmVerdict = SmVerdict::Inconclusive {
        reason: Inconclusive::TooFewWindows,
    };
    const TOO_WIDE: SmVerdict = SmVerdict::Inconclusive {
        reason: Inconclusive::SpreadTooWide,
    };

    #[test]
    fn a_share_is_judged_against_the_band_around_its_limit() {
        let at = |limit, share| sm_verdict(Some(limit), share, 0.04, 12);
        assert_eq!(at(25, 0.38), SmVerdict::Exceeded);
        assert_eq!(at(25, 1.0), SmVerdict::Exceeded);
        assert_eq!(at(25, 0.33), SmVerdict::Enforced);
        assert_eq!(at(25, 0.25), SmVerdict::Enforced);
        assert_eq!(at(25, 0.16), SmVerdict::Enforced);
        assert_eq!(at(50, 0.38), SmVerdict::Below);
        assert_eq!(at(100, 1.05), SmVerdict::Enforced);
        assert_eq!(at(100, 0.85), SmVerdict::Below);
    }

    #[test]
    fn too_few_windows_or_too_wide_a_spread_is_inconclusive_and_says_which() {
        // hami-50 on the H200: 64.4 % ± 49.3 % from two windows.
        assert_eq!(sm_verdict(Some(50), 0.644, 0.493, 2), TOO_FEW);
        assert_eq!(sm_verdict(Some(25), 1.0, 0.001, MIN_WINDOWS - 1), TOO_FEW);
        assert_eq!(sm_verdict(Some(50), 0.644, 0.493, 20), TOO_WIDE);
        assert_eq!(sm_verdict(Some(50), 0.50, MAX_SPREAD + 0.001, 20), TOO_WIDE);
        assert_eq!(sm_verdict(Some(25), 0.40, 0.12, 20), TOO_WIDE);
        assert_eq!(
            sm_verdict(Some(50), 0.50, MAX_SPREAD, MIN_WINDOWS),
            SmVerdict::Enforced
        );
    }

    #[test]
    fn a_mean_past_the_band_by_more_than_its_spread_is_judged_however_wide() {
        assert_eq!(share_verdict(25, 0.857, 0.118), SmVerdict::Exceeded);
        assert_eq!(share_verdict(25, 0.50, 0.149), SmVerdict::Exceeded);
        assert_eq!(share_verdict(25, 0.50, 0.151), TOO_WIDE);
        assert_eq!(share_verdict(75, 0.30, 0.2), SmVerdict::Below);
        assert_eq!(share_verdict(75, 0.30, 0.4), TOO_WIDE);
    }

    #[test]
    fn without_a_limit_nothing_is_judged() {
        assert_eq!(sm_verdict(None, 1.0, 0.0, 0), SmVerdict::NotConfigured);
        assert_eq!(sm_verdict(None, 0.3, 0.5, 20), SmVerdict::NotConfigured);
    }

    fn verification(sm_limit_pct: Option<u32>, mem_in_force: Option<bool>) -> Verification {
        let shape = |name: &str, windows: Vec<f64>| ShapeShare {
            shape: name.to_owned(),
            blocks: 1056,
            block_us: 100.0,
            kernels_per_s: 1.0,
            reference_kernels_per_s: 1.0,
            share_mean: crate::stats::mean(&windows),
            windows,
        };
        Verification {
            interposer_loaded: true,
            interposer_path: None,
            mem_total_reported_mib: 1000,
            mem_physical_mib: 4000,
            mem_limit_mib: mem_in_force.map(|_| 1000),
            over_limit_refused: mem_in_force,
            over_limit_error: None,
            sm_limit_pct,
            sm_share_mean: 0.0,
            sm_share_windows: Vec::new(),
            shapes: vec![
                shape("short-blocks", [0.34, 0.42].repeat(6)),
                shape("long-blocks", vec![1.0; 3]),
            ],
            mem_limit_in_force: mem_in_force,
            sm_partition_seen: None,
            verdicts: None,
            problems: Vec::new(),
            devices: Vec::new(),
        }
    }

    #[test]
    fn every_limit_gets_its_own_verdict_with_its_figures() {
        let verdicts = judge(&verification(Some(25), Some(true)));
        assert_eq!(verdicts.memory, MemoryVerdict::Enforced);
        let [short, long] = &verdicts.sm[..] else {
            panic!("{verdicts:?}")
        };
        assert_eq!(
            (short.shape.as_str(), short.verdict, short.windows),
            ("short-blocks", SmVerdict::Exceeded, 12)
        );
        assert!((short.share_mean - 0.38).abs() < 1e-9, "{short:?}");
        assert!((short.spread - 0.0418).abs() < 1e-3, "{short:?}");
        assert_eq!(short.limit_pct, Some(25));
        assert_eq!((long.verdict, long.windows), (TOO_FEW, 3));

        let unlimited = judge(&verification(None, None));
        assert_eq!(unlimited.memory, MemoryVerdict::NotConfigured);
        let whole = Verification {
            mem_limit_mib: Some(4000),
            ..verification(Some(25), Some(true))
        };
        assert_eq!(
            judge(&whole).memory,
            MemoryVerdict::Inconclusive,
            "a refusal past the physical memory shows no limit"
        );
        assert!(unlimited
            .sm
            .iter()
            .all(|s| s.verdict == SmVerdict::NotConfigured));
        assert_eq!(
            judge(&verification(None, Some(false))).memory,
            MemoryVerdict::NotEnforced
        );
    }

    #[test]
    fn stored_verdicts_are_kept_and_absent_ones_judged() {
        let mut v = verification(Some(25), Some(true));
        assert_eq!(v.limit_verdicts(), judge(&v));
        let stored = LimitVerdicts {
            memory: MemoryVerdict::NotEnforced,
            sm: Vec::new(),
        };
        v.verdicts = Some(stored.clone());
        assert_eq!(v.limit_verdicts(), stored);
    }

    #[test]
    fn verdicts_serialize_flat_with_the_reason_of_an_inconclusive_one() {
        let verdicts = judge(&verification(Some(25), Some(true)));
        let json = serde_json::to_value(&verdicts).unwrap();
        assert_eq!(json["memory"], "enforced");
        assert_eq!(json["sm"][0]["verdict"], "exceeded");
        assert!(json["sm"][0].get("reason").is_none(), "{json}");
        assert_eq!(json["sm"][1]["verdict"], "inconclusive");
        assert_eq!(json["sm"][1]["reason"], "too_few_windows");
        let back: LimitVerdicts = serde_json::from_value(json).unwrap();
        assert_eq!(back, verdicts);
    }
}
