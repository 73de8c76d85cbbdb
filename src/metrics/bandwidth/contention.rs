//! BW-002..004: tenant processes of this configuration streaming at once, each on
//! its own buffers, each reporting its own GPU-timed rate.

use super::figures::{aggregate_gbps, bounded, knee, within_peak, Rate};
use super::sizing::buffer_bytes;
use super::tenants::{losses, round, rounds, span_ms, StreamFor};
use crate::error::{Error, Result};
use crate::metrics::isolation::figures::jain_index;
use crate::metrics::{find, sampled, BenchEnv, Measured, Selection, Variant};
use crate::run::child::{self, Child};
use crate::system::Peak;

/// BW-003's tenant counts, and BW-002's.
const COUNTS: [usize; 4] = [1, 2, 4, 8];
const FAIR_TENANTS: usize = 4;
/// Of the free memory the parent sees, what the tenants' buffers may take: each
/// tenant's context needs some of the rest.
const TENANT_SHARE: f64 = 0.5;
/// Each tenant's first request allocates and checks its buffers, untimed.
const WARM_MS: u64 = 100;
const SEED: u32 = 0xb002;

/// What the selection asks for, so only as many tenants start as are needed.
struct Wanted {
    counts: Vec<usize>,
    fairness: bool,
    interference: bool,
}

impl Wanted {
    fn of(env: &BenchEnv, selection: &Selection) -> Result<Self> {
        let wants = |id: &str, name: &str| -> Result<bool> {
            Ok(selection.contains(id) && env.wants(&Variant::new(find(id)?, name)))
        };
        let mut counts = Vec::new();
        for n in COUNTS {
            if wants("BW-003", &tenants_variant(n))? {
                counts.push(n);
            }
        }
        Ok(Self {
            counts,
            fairness: wants("BW-002", &tenants_variant(FAIR_TENANTS))?,
            interference: wants("BW-004", INTERFERENCE_VARIANT)?,
        })
    }

    fn tenants(&self) -> usize {
        let pair = if self.interference { 2 } else { 0 };
        let fair = if self.fairness { FAIR_TENANTS } else { 0 };
        self.counts
            .iter()
            .copied()
            .chain([pair, fair])
            .max()
            .unwrap_or(0)
    }
}

fn tenants_variant(n: usize) -> String {
    format!("{n}-tenants")
}

const INTERFERENCE_VARIANT: &str = "beside-streamer";

pub(super) fn bench(
    env: &BenchEnv,
    selection: &Selection,
    l2: u64,
    dram: Option<&Peak>,
    copy_engine: &Peak,
) -> Result<Vec<Measured>> {
    let wanted = Wanted::of(env, selection)?;
    let tenants = wanted.tenants();
    if tenants == 0 {
        return Ok(Vec::new());
    }
    let (free, _) = crate::cuda::mem_info()?;
    let bytes = buffer_bytes(l2, free, 2 * tenants as u64, TENANT_SHARE)?;
    let mut children = child::spawn_servers(tenants)?;
    let request = StreamFor {
        bytes,
        ms: span_ms(env),
        seed: SEED,
    };
    round(
        &mut children,
        &StreamFor {
            ms: WARM_MS,
            ..request.clone()
        },
        WARM_MS,
    )?;
    eprintln!(
        "bandwidth: {tenants} tenants, each streaming {} MiB",
        bytes >> 20
    );
    let check = |what: &str, rate: &Rate| within_peak(what, rate.gbps()?, dram);
    let mut out = Vec::new();
    if !wanted.counts.is_empty() {
        out.extend(saturation(
            env,
            &mut children,
            &request,
            &wanted.counts,
            &check,
            dram,
            copy_engine,
        )?);
    }
    if wanted.fairness {
        let info = find("BW-002")?;
        let samples = (0..rounds(env))
            .map(|_| {
                let rates = round(&mut children[..FAIR_TENANTS], &request, request.ms)?
                    .iter()
                    .map(|r| check("BW-002 tenant", r))
                    .collect::<Result<Vec<_>>>()?;
                let index = jain_index(&rates).ok_or_else(|| {
                    Error::Invalid("BW-002: every tenant streamed 0 bytes".into())
                })?;
                bounded("BW-002 Jain's index", index)
            })
            .collect::<Result<Vec<_>>>()?;
        out.push(sampled(info, &tenants_variant(FAIR_TENANTS), samples, None));
    }
    if wanted.interference {
        let info = find("BW-004")?;
        // No bound of its own: each rate is held under the DRAM peak by `check`, and a
        // limiter that duty-cycles a tenant alone may let it stream faster beside a
        // neighbour (hami-25 on the H200: -24 %), a finding, not an error.
        let fractions = losses(&mut children, &request, request.ms, rounds(env), check)?;
        let samples = fractions.iter().map(|f| 100.0 * f).collect();
        out.push(sampled(info, INTERFERENCE_VARIANT, samples, None));
    }
    child::end_all(children);
    Ok(out)
}

/// BW-003: the total of `counts` tenants streaming at once, each count once per
/// round so drift falls on all alike; prints where the total stops growing.
fn saturation(
    env: &BenchEnv,
    children: &mut [Child],
    request: &StreamFor,
    counts: &[usize],
    check: &dyn Fn(&str, &Rate) -> Result<f64>,
    dram: Option<&Peak>,
    copy_engine: &Peak,
) -> Result<Vec<Measured>> {
    let info = find("BW-003")?;
    let mut totals = vec![Vec::new(); counts.len()];
    for _ in 0..rounds(env) {
        for (i, &n) in counts.iter().enumerate() {
            let rates = round(&mut children[..n], request, request.ms)?;
            for rate in &rates {
                check("BW-003 tenant", rate)?;
            }
            totals[i].push(within_peak("BW-003 total", aggregate_gbps(&rates)?, dram)?);
        }
    }
    let medians: Vec<(usize, f64)> = counts
        .iter()
        .zip(&totals)
        .map(|(&n, t)| (n, crate::stats::median(t)))
        .collect();
    if counts == COUNTS {
        if let Some(n) = knee(&medians) {
            eprintln!(
                "bandwidth/BW-003: total bandwidth stops growing at {n} tenant(s) (medians {medians:?} GB/s)"
            );
        }
    }
    Ok(counts
        .iter()
        .zip(totals)
        .map(|(&n, samples)| Measured {
            peak: dram.cloned(),
            measured_peak: Some(copy_engine.clone()),
            ..sampled(info, &tenants_variant(n), samples, None)
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn as_many_tenants_start_as_the_largest_figure_asked_for_needs() {
        let wanted = |counts: &[usize], fairness, interference| Wanted {
            counts: counts.to_vec(),
            fairness,
            interference,
        };
        assert_eq!(wanted(&COUNTS, true, true).tenants(), 8);
        assert_eq!(wanted(&[1, 2], false, true).tenants(), 2);
        assert_eq!(wanted(&[1], true, false).tenants(), FAIR_TENANTS);
        assert_eq!(wanted(&[], false, true).tenants(), 2);
        assert_eq!(wanted(&[], false, false).tenants(), 0);
        assert_eq!(tenants_variant(4), "4-tenants");
    }
}
