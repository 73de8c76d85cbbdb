//! Fragmentation (FRAG): what a tenant's heap looks like after hours of allocations
//! of mixed sizes. After a seeded churn, does the largest allocation still match the
//! free memory reported (FRAG-001), do allocations get slower (FRAG-002), and does
//! memory freed return to the limit's accounting (FRAG-003)?

mod churn;
mod heap;
mod physical;
mod search;

pub(crate) use churn::cap_of;
pub(crate) use physical::physical_memory;

use super::{find, sampled, BenchEnv, Measured, MetricInfo, Selection, Variant};
use crate::cuda::{self, Context};
use crate::error::Result;
use crate::measure::Stopwatch;
use crate::stats;
use criterion::Criterion;
use heap::Churned;

/// The seed of the first churn; sample `i` churns with `SEED + i`.
const SEED: u64 = 0x46_52_41_47;
/// FRAG-002's allocation, and the pairs timed per sample.
const PAIR_BYTES: u64 = 2 << 20;
const PAIRS: usize = 200;
/// FRAG-003's chunk: what a pass obtains is known to within it.
const FILL_CHUNK: u64 = 256 << 20;
/// How far past the free memory reported FRAG-001's bisection looks, so a free
/// figure smaller than what can be allocated shows.
const BEYOND_FREE: f64 = 1.25;

pub(super) fn bench(
    _c: &mut Criterion,
    env: &BenchEnv,
    selection: &Selection,
    _ctx: &Context,
) -> Result<Vec<Measured>> {
    let mut out = Vec::new();
    if !env.benchmarking {
        return Ok(out);
    }
    let physical = physical_memory()?;
    if selection.contains("FRAG-001") || selection.contains("FRAG-002") {
        out.extend(churned(env, selection, churn::cap_of(physical.free))?);
    }
    if selection.contains("FRAG-003") {
        out.extend(refill(env, physical.free)?);
    }
    Ok(out)
}

/// How far FRAG-001's bisection looks: [`BEYOND_FREE`] of the free memory reported,
/// never past `cap` (90 % of the physical free memory), so even a limit that does
/// not hold never takes the device's last memory. Natively the cap binds on the
/// clean heap: its share is then a lower bound, and said.
fn search_upper(free: u64, cap: u64) -> u64 {
    ((free as f64 * BEYOND_FREE) as u64).min(cap)
}

/// What one churned sample showed.
struct ChurnSample {
    clean_share: Result<f64, String>,
    churned_share: Result<f64, String>,
    churned_largest: u64,
    clean_us: f64,
    churned_us: f64,
}

/// One sample of FRAG-001 and FRAG-002: the clean heap first, then the churn of
/// `seed`, measured with its survivors held, all freed at the end.
fn churn_sample(
    seed: u64,
    cap: u64,
    clean: &mut Stopwatch,
    churned: &mut Stopwatch,
) -> Result<ChurnSample> {
    let upper = |free: u64| search_upper(free, cap);
    let (free_before, _) = cuda::mem_info()?;
    let clean_us = heap::pair_latency_us(PAIR_BYTES, PAIRS, clean)?;
    let clean_largest = heap::largest_allocation(upper(free_before))?;
    if clean_largest + search::STEP > upper(free_before) {
        eprintln!(
            "frag/FRAG-001/clean: the largest allocation reached the search's cap of {} MiB (90 % of the physical free memory, or 125 % of the {} MiB reported free): a lower bound",
            upper(free_before) >> 20,
            free_before >> 20
        );
    }
    let clean_share = search::share_of_free(clean_largest, free_before);
    let survivors = Churned::new(seed, churn::cap_of(free_before))?;
    if survivors.stats.refused {
        eprintln!(
            "frag: an allocation was refused with {} MiB held, below the {:.0} % of the {} MiB reported free the churn may take",
            survivors.stats.peak_held >> 20,
            churn::CAP_SHARE * 100.0,
            free_before >> 20
        );
    }
    let (free_churned, _) = cuda::mem_info()?;
    let churned_largest = heap::largest_allocation(upper(free_churned))?;
    let churned_share = search::share_of_free(churned_largest, free_churned);
    let churned_us = heap::pair_latency_us(PAIR_BYTES, PAIRS, churned)?;
    eprintln!(
        "frag: churn of seed {seed}: {} allocations, {} MiB at most, {} MiB kept; largest allocation {} MiB of {} MiB free",
        survivors.stats.allocations,
        survivors.stats.peak_held >> 20,
        survivors.held() >> 20,
        churned_largest >> 20,
        free_churned >> 20
    );
    survivors.free()?;
    heap::check_returned(free_before)?;
    Ok(ChurnSample {
        clean_share,
        churned_share,
        churned_largest,
        clean_us,
        churned_us,
    })
}

fn churned(env: &BenchEnv, selection: &Selection, cap: u64) -> Result<Vec<Measured>> {
    let (frag1, frag2) = (find("FRAG-001")?, find("FRAG-002")?);
    let want1 = selection.contains(frag1.id) && env.wants(&Variant::new(frag1, "after-churn"));
    let want2 = selection.contains(frag2.id) && env.wants(&Variant::new(frag2, "after-churn"));
    if !want1 && !want2 {
        return Ok(Vec::new());
    }
    let (mut clean, mut churned) = (Stopwatch::recording(1), Stopwatch::recording(1));
    let samples = (0..env.process_samples())
        .map(|i| churn_sample(SEED + i as u64, cap, &mut clean, &mut churned))
        .collect::<Result<Vec<_>>>()?;
    let mut out = Vec::new();
    if want1 {
        let shares = |pick: fn(&ChurnSample) -> &Result<f64, String>| -> Vec<f64> {
            samples
                .iter()
                .filter_map(|s| {
                    pick(s)
                        .as_ref()
                        .map_err(|why| {
                            eprintln!("frag/FRAG-001: not saved as a share of free memory: {why}")
                        })
                        .ok()
                        .copied()
                })
                .collect()
        };
        out.extend(saved(frag1, "clean", shares(|s| &s.clean_share)));
        out.extend(saved(frag1, "after-churn", shares(|s| &s.churned_share)));
        let largest = samples.iter().map(|s| s.churned_largest as f64).collect();
        out.extend(
            saved(frag1, "largest-after-churn", largest).map(|m| Measured { unit: "bytes", ..m }),
        );
    }
    if want2 {
        let (clean_us, churned_us): (Vec<f64>, Vec<f64>) =
            samples.iter().map(|s| (s.clean_us, s.churned_us)).unzip();
        let ratios: Vec<f64> = samples.iter().map(|s| s.churned_us / s.clean_us).collect();
        eprintln!(
            "frag/FRAG-002: 2 MiB alloc+free at {:.2}x the clean heap's time after the churn",
            stats::mean(&ratios)
        );
        out.push(sampled(
            frag2,
            "clean",
            clean_us,
            Some(clean.percentiles()?),
        ));
        out.push(sampled(
            frag2,
            "after-churn",
            churned_us,
            Some(churned.percentiles()?),
        ));
        out.extend(
            saved(frag2, "after-churn-over-clean", ratios).map(|m| Measured { unit: "ratio", ..m }),
        );
    }
    Ok(out)
}

/// A sampled variant where at least two samples were kept; otherwise says so.
fn saved(info: &'static MetricInfo, variant: &str, samples: Vec<f64>) -> Option<Measured> {
    if samples.len() < 2 {
        eprintln!(
            "{}/{}/{variant}: not saved, {} sample(s) kept of those taken",
            info.category,
            info.id,
            samples.len()
        );
        return None;
    }
    Some(sampled(info, variant, samples, None))
}

/// FRAG-003's bound: a second pass may obtain at most one chunk more than the first
/// (the first stopped one chunk short of the same place), beyond that the first pass
/// was cut short by something else and the ratio says nothing of the accounting.
fn refill_ratio(first: u64, second: u64) -> Result<f64, String> {
    if first == 0 {
        return Err("the first pass obtained nothing".into());
    }
    if second > first + FILL_CHUNK {
        return Err(format!(
            "the second pass obtained {} MiB, more than one chunk past the first's {} MiB",
            second >> 20,
            first >> 20
        ));
    }
    Ok(second as f64 / first as f64)
}

/// Whether the second pass obtained the same as the first, within one chunk.
fn refill_holds(first: u64, second: u64) -> bool {
    first.abs_diff(second) <= FILL_CHUNK
}

fn refill(env: &BenchEnv, physical_free: u64) -> Result<Vec<Measured>> {
    let info = find("FRAG-003")?;
    let variant = "second-over-first";
    if !env.wants(&Variant::new(info, variant)) {
        return Ok(Vec::new());
    }
    let cap = churn::cap_of(physical_free);
    let (free_before, _) = cuda::mem_info()?;
    let mut ratios = Vec::new();
    for _ in 0..env.process_samples() {
        let first = heap::fill_pass(FILL_CHUNK, cap)?;
        let second = heap::fill_pass(FILL_CHUNK, cap)?;
        eprintln!(
            "frag/FRAG-003: first pass {} MiB, second {} MiB (cap {} MiB, 90 % of the physical free): {}",
            first >> 20,
            second >> 20,
            cap >> 20,
            if refill_holds(first, second) {
                "the same within one chunk"
            } else {
                "NOT the same within one chunk"
            }
        );
        match refill_ratio(first, second) {
            Ok(r) => ratios.push(r),
            Err(why) => eprintln!("frag/FRAG-003: sample not saved: {why}"),
        }
    }
    heap::check_returned(free_before)?;
    Ok(saved(info, variant, ratios).into_iter().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bisection_looks_past_free_but_never_past_its_cap() {
        let gib = 1u64 << 30;
        assert_eq!(search_upper(40 * gib, 126 * gib), 50 * gib);
        assert_eq!(search_upper(130 * gib, 126 * gib), 126 * gib);
    }

    #[test]
    fn a_refill_within_one_chunk_holds_and_its_ratio_is_bounded() {
        let gib = 1u64 << 30;
        assert!(refill_holds(10 * gib, 10 * gib - FILL_CHUNK));
        assert!(!refill_holds(10 * gib, 9 * gib));
        assert_eq!(refill_ratio(10 * gib, 5 * gib), Ok(0.5));
        assert!(refill_ratio(10 * gib, 10 * gib + FILL_CHUNK).is_ok());
        assert!(refill_ratio(10 * gib, 11 * gib).is_err());
        assert!(refill_ratio(0, gib).is_err());
    }
}
