//! CACHE-001: read rate against working-set size in one process, and what an
//! L2-resident set gains over one that must come from DRAM.

use super::set::{set_bytes, Reader, LADDER};
use super::Device;
use crate::error::{Error, Result};
use crate::metrics::{find, sampled, BenchEnv, Measured};
use crate::system::Peak;

/// The L2-resident set of the advantage: a quarter of the L2, well inside it even
/// where the L2 is split into partitions that each hold half.
const RESIDENT: f64 = 0.25;
/// The set of the advantage that can only come from DRAM.
const STREAMED: f64 = 4.0;
/// From this many L2s up a set is held to the DRAM peak: twice the L2 can still
/// partly hit under a replacement policy that is not strict LRU.
const DRAM_SIZED: f64 = 4.0;

/// The stated DRAM peak of `device`, or `None` where it reports no memory clock.
pub(super) fn dram_peak(device: &Device) -> Option<Peak> {
    crate::system::dram_peak(device.memory_khz, device.bus_bits)
}

/// The variant name of a set of `fraction` L2s.
pub(super) fn variant(fraction: f64) -> String {
    format!("l2x{fraction}")
}

/// A ratio of two rates must be positive and finite; anything else is a broken timer.
fn checked_ratio(resident: f64, streamed: f64) -> Result<f64> {
    let ratio = resident / streamed;
    if ratio.is_finite() && ratio > 0.0 {
        Ok(ratio)
    } else {
        Err(Error::Invalid(format!(
            "CACHE-001: rates of {resident} and {streamed} GB/s give no positive ratio"
        )))
    }
}

pub(super) fn bench(env: &BenchEnv, device: &Device) -> Result<Vec<Measured>> {
    let info = find("CACHE-001")?;
    let readers = LADDER
        .iter()
        .map(|&f| Reader::new(set_bytes(device.l2_bytes, f), device.l2_bytes, device.sms))
        .collect::<Result<Vec<_>>>()?;
    for reader in &readers {
        reader.time_kernels(1)?;
    }
    // Rounds over the whole ladder, so drift moves every size alike.
    let mut rates = vec![Vec::new(); LADDER.len()];
    for _ in 0..env.paired_samples() {
        for (reader, rates) in readers.iter().zip(&mut rates) {
            rates.push(reader.gbps(reader.time_kernels(1)?[0]));
        }
    }
    let at = |fraction: f64| {
        LADDER
            .iter()
            .position(|&f| f == fraction)
            .expect("on the ladder")
    };
    let advantage = rates[at(RESIDENT)]
        .iter()
        .zip(&rates[at(STREAMED)])
        .map(|(&r, &s)| checked_ratio(r, s))
        .collect::<Result<Vec<_>>>()?;
    let peak = dram_peak(device);
    let mut out = Vec::new();
    for (&fraction, rates) in LADDER.iter().zip(rates) {
        let name = variant(fraction);
        if env.selects(&format!("cache/CACHE-001/{name}")) {
            out.push(Measured {
                unit: "GB/s",
                peak: peak.clone().filter(|_| fraction >= DRAM_SIZED),
                ..sampled(info, &name, rates, None)
            });
        }
    }
    if env.selects("cache/CACHE-001/advantage") {
        out.push(sampled(info, "advantage", advantage, None));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_device_without_a_memory_clock_states_no_dram_peak() {
        let none = Device {
            sms: 1,
            l2_bytes: 1,
            memory_khz: 0,
            bus_bits: 5120,
        };
        assert!(dram_peak(&none).is_none());
    }

    #[test]
    fn the_advantage_and_the_ladder_names_are_what_the_report_shows() {
        assert_eq!(variant(0.125), "l2x0.125");
        assert_eq!(variant(4.0), "l2x4");
        assert!(LADDER.contains(&RESIDENT) && LADDER.contains(&STREAMED));
        assert!((checked_ratio(9000.0, 3000.0).unwrap() - 3.0).abs() < 1e-12);
        assert!(checked_ratio(1.0, 0.0).is_err());
        assert!(checked_ratio(0.0, 1.0).is_err());
    }
}
