//! FRAG's seeded churn: allocations of mixed sizes up to a cap, a random half freed,
//! for a few rounds, so the heap is left with holes of every size between survivors.
//! The plan draws only from a fixed seed, so every run and configuration churns alike.

use crate::error::Result;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const MIB: u64 = 1 << 20;
/// The smallest and largest allocation of the churn, drawn log-uniform between them.
pub const MIN_BYTES: u64 = 2 * MIB;
pub const MAX_BYTES: u64 = 1024 * MIB;
/// Allocation sizes are multiples of this: the driver's large-page granularity.
const GRANULE: u64 = 2 * MIB;
/// The churn never holds more than this share of the memory it was given.
pub const CAP_SHARE: f64 = 0.9;
/// Fill-and-free rounds of one churn.
pub const ROUNDS: usize = 4;

/// What one churn held at its fullest and at its end, and how many allocations it made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChurnStats {
    pub peak_held: u64,
    pub allocations: usize,
    /// An allocation below the cap was refused: the heap was full before the plan said.
    pub refused: bool,
}

/// A seeded churn over at most `cap` bytes.
pub struct Churn {
    rng: ChaCha8Rng,
    cap: u64,
}

/// The most FRAG and ERR hold of `available` bytes: [`CAP_SHARE`] of it.
pub fn cap_of(available: u64) -> u64 {
    (available as f64 * CAP_SHARE) as u64
}

impl Churn {
    pub fn new(seed: u64, cap: u64) -> Self {
        Self {
            rng: ChaCha8Rng::seed_from_u64(seed),
            cap,
        }
    }

    /// The next allocation size: log-uniform in [MIN_BYTES, MAX_BYTES], a multiple of
    /// the granule.
    pub fn size(&mut self) -> u64 {
        let (lo, hi) = ((MIN_BYTES as f64).ln(), (MAX_BYTES as f64).ln());
        let bytes = self.rng.random_range(lo..=hi).exp() as u64;
        (bytes / GRANULE * GRANULE).clamp(MIN_BYTES, MAX_BYTES)
    }

    /// Runs `rounds` rounds on `live` (the survivors, with their sizes): allocate with
    /// `alloc` until the next size would pass the cap or is refused (`None`), then
    /// free a random half with `free`. What survives stays in `live`.
    pub fn run<B>(
        &mut self,
        rounds: usize,
        live: &mut Vec<(u64, B)>,
        alloc: &mut dyn FnMut(u64) -> Result<Option<B>>,
        free: &mut dyn FnMut(B) -> Result<()>,
    ) -> Result<ChurnStats> {
        let mut stats = ChurnStats {
            peak_held: 0,
            allocations: 0,
            refused: false,
        };
        let mut held: u64 = live.iter().map(|(bytes, _)| bytes).sum();
        for _ in 0..rounds {
            loop {
                let bytes = self.size();
                if held + bytes > self.cap {
                    break;
                }
                match alloc(bytes)? {
                    Some(buffer) => {
                        live.push((bytes, buffer));
                        held += bytes;
                        stats.allocations += 1;
                    }
                    None => {
                        stats.refused = true;
                        break;
                    }
                }
            }
            stats.peak_held = stats.peak_held.max(held);
            let mut order: Vec<usize> = (0..live.len()).collect();
            order.shuffle(&mut self.rng);
            let mut doomed: Vec<usize> = order[..live.len() / 2].to_vec();
            doomed.sort_unstable_by(|a, b| b.cmp(a));
            for i in doomed {
                let (bytes, buffer) = live.swap_remove(i);
                held -= bytes;
                free(buffer)?;
            }
        }
        Ok(stats)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs a churn on a heap that never refuses; returns the sizes allocated, the
    /// survivors' sizes and the stats.
    fn simulate(seed: u64, cap: u64) -> (Vec<u64>, Vec<u64>, ChurnStats) {
        let mut sizes = Vec::new();
        let mut live = Vec::new();
        let stats = Churn::new(seed, cap)
            .run(
                ROUNDS,
                &mut live,
                &mut |bytes| {
                    sizes.push(bytes);
                    Ok(Some(()))
                },
                &mut |()| Ok(()),
            )
            .unwrap();
        (sizes, live.into_iter().map(|(b, ())| b).collect(), stats)
    }

    #[test]
    fn the_plan_is_the_same_for_the_same_seed_and_differs_for_another() {
        let cap = cap_of(140 << 30);
        assert_eq!(simulate(7, cap), simulate(7, cap));
        assert_ne!(simulate(7, cap).0, simulate(8, cap).0);
    }

    #[test]
    fn sizes_are_granules_between_the_bounds_and_span_them() {
        let mut churn = Churn::new(1, u64::MAX);
        let sizes: Vec<u64> = (0..2000).map(|_| churn.size()).collect();
        assert!(sizes
            .iter()
            .all(|&s| (MIN_BYTES..=MAX_BYTES).contains(&s) && s % GRANULE == 0));
        assert!(sizes.iter().any(|&s| s <= 8 * MIB));
        assert!(sizes.iter().any(|&s| s >= 512 * MIB));
    }

    #[test]
    fn the_churn_stays_under_its_cap_and_fills_close_to_it() {
        let available = 80u64 << 30;
        let cap = cap_of(available);
        assert!(cap <= available / 10 * 9 + 1);
        let (sizes, survivors, stats) = simulate(3, cap);
        assert!(stats.peak_held <= cap, "{stats:?}");
        assert!(stats.peak_held + MAX_BYTES > cap, "{stats:?}");
        assert_eq!(stats.allocations, sizes.len());
        assert!(!stats.refused);
        let kept: u64 = survivors.iter().sum();
        assert!(kept > 0 && kept < cap);
    }

    #[test]
    fn a_refusal_ends_the_round_and_is_reported() {
        let mut live = Vec::new();
        let mut n = 0;
        let stats = Churn::new(1, 100 << 30)
            .run(
                1,
                &mut live,
                &mut |_| {
                    n += 1;
                    Ok((n <= 3).then_some(()))
                },
                &mut |()| Ok(()),
            )
            .unwrap();
        assert!(stats.refused);
        assert_eq!(stats.allocations, 3);
        assert_eq!(live.len(), 2, "half of the three freed, rounded down");
    }
}
