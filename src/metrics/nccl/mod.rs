//! Collective communication (NCCL) metrics: NCCL's all-reduce latency, all-gather,
//! point-to-point and broadcast bandwidth over every visible GPU, one rank process
//! per GPU, under each configuration, so what an interposer costs collectives shows.
//! Without libnccl they are not measured and the rest of the suite runs.

mod collectives;
mod figures;
mod link;
pub(super) mod ranks;

pub(super) use figures::slowest;
pub(super) use ranks::Ranks;

use super::bandwidth::figures::within_peak;
use super::{find, sampled, BenchEnv, Measured, MetricInfo, Selection, Variant};
use crate::cuda::{nccl_version_name, Context, Device, Nccl};
use crate::error::{Error, Result};
use crate::run::child::Handler;
use crate::system::Peak;
use collectives::Collective;
use criterion::Criterion;
use figures::Kind;

/// The operations of the rank processes.
pub(super) const OPERATIONS: &[Handler] = &[
    Handler::of::<ranks::NewUniqueId>(),
    Handler::of::<ranks::JoinComm>(),
    Handler::of::<Collective>(),
];

/// The bandwidth metrics and the collective each times.
const BANDWIDTH: [(&str, Kind); 3] = [
    ("NCCL-002", Kind::AllGather),
    ("NCCL-003", Kind::SendRecv),
    ("NCCL-004", Kind::Broadcast),
];

/// NCCL is loaded where the suite runs, or the metrics say why they are not
/// measured; any other error is the run's.
pub(super) fn loaded(ids: &str) -> Result<Option<&'static Nccl>> {
    match Nccl::load() {
        Ok(nccl) => Ok(Some(nccl)),
        Err(Error::NoNccl(why)) => {
            eprintln!("{ids}: not measured: no libnccl ({why})");
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// One variant to measure: its metric, collective, size and name.
struct Planned {
    info: &'static MetricInfo,
    kind: Kind,
    bytes: u64,
    name: String,
}

/// The selected variants of `n` ranks, each collective's sizes (the bandwidths'
/// those `free` bytes hold).
fn plan(env: &BenchEnv, selection: &Selection, n: usize, free: u64) -> Result<Vec<Planned>> {
    let latency = figures::latency_sizes(env.quick)
        .into_iter()
        .map(|b| ("NCCL-001", Kind::AllReduce, b, None));
    let bandwidth = BANDWIDTH.into_iter().flat_map(|(id, kind)| {
        figures::bandwidth_sizes(env.quick, free)
            .into_iter()
            .map(move |b| (id, kind, b, Some(kind)))
    });
    let mut out = Vec::new();
    for (id, kind, bytes, bandwidth) in latency.chain(bandwidth) {
        let info = find(id)?;
        let name = figures::variant(bytes, n, bandwidth);
        if selection.contains(id) && env.selects(&Variant::new(info, &name).path()) {
            out.push(Planned {
                info,
                kind,
                bytes,
                name,
            });
        }
    }
    Ok(out)
}

pub(super) fn bench(
    _: &mut Criterion,
    env: &BenchEnv,
    selection: &Selection,
    ctx: &Context,
) -> Result<Vec<Measured>> {
    if !env.benchmarking {
        return Ok(Vec::new());
    }
    let n = Device::count()? as usize;
    let free = crate::cuda::mem_info()?.0;
    let planned = plan(env, selection, n, free)?;
    if planned.is_empty() {
        return Ok(Vec::new());
    }
    let bandwidths = BANDWIDTH.iter().any(|(id, _)| selection.contains(id));
    if bandwidths && figures::bandwidth_sizes(env.quick, free).is_empty() {
        eprintln!(
            "nccl/NCCL-002..004: not measured: {} MiB free hold no buffers of 64 MiB",
            free >> 20
        );
    }
    let Some(nccl) = loaded("nccl/NCCL-001..004")? else {
        return Ok(Vec::new());
    };
    eprintln!(
        "nccl: NCCL {} from {}, {n} rank(s), one process per visible GPU",
        nccl_version_name(nccl.version),
        nccl.origin
    );
    let peak = match collective_peak(n, ctx) {
        Ok(p) => {
            eprintln!("nccl: bandwidth bound {:.1} GB/s ({})", p.value, p.source);
            Some(p)
        }
        Err(why) => {
            eprintln!("nccl: {why}; bandwidths carry no fraction of a link's rate");
            None
        }
    };
    let mut ranks = Ranks::start(n)?;
    let measured = ranks.join(n).and_then(|()| {
        planned
            .iter()
            .filter(|p| env.wants(&Variant::new(p.info, &p.name)))
            .map(|p| measure(&mut ranks, env, n, p, peak.as_ref()))
            .collect()
    });
    ranks.end();
    measured
}

/// The bound of `n` ranks' bandwidth: the slowest rank's link for bus bandwidth;
/// for one rank, whose collectives are a copy inside the device (every byte read and
/// written once), half the DRAM rate the device's attributes state.
fn collective_peak(n: usize, ctx: &Context) -> std::result::Result<Peak, String> {
    if n >= 2 {
        return link::collective_peak(n);
    }
    let dram = crate::system::device_dram_peak(&ctx.device())
        .map_err(|e| e.to_string())?
        .ok_or("no peer link, and the device states no DRAM rate")?;
    Ok(one_rank_peak(dram))
}

/// One rank's bound: a copy inside the device moves each byte through DRAM twice.
fn one_rank_peak(dram: Peak) -> Peak {
    Peak {
        value: dram.value / 2.0,
        source: format!(
            "one rank, a copy inside the device: half the {}",
            dram.source
        ),
    }
}

/// One planned variant: the latency in microseconds, or the bandwidth in GB/s held
/// to `peak` (bus bandwidth with peers, algorithm bandwidth of one rank).
fn measure(
    ranks: &mut Ranks,
    env: &BenchEnv,
    n: usize,
    p: &Planned,
    peak: Option<&Peak>,
) -> Result<Measured> {
    let (id, name) = (p.info.id, &p.name);
    let times = timed(ranks, p.kind, p.bytes, env.paired_samples())?;
    if id == "NCCL-001" {
        let us: Vec<f64> = times.iter().map(|t| t * 1e6).collect();
        eprintln!(
            "nccl/{id}/{name}: median {:.2} us",
            crate::stats::median(&us)
        );
        return Ok(sampled(p.info, name, us, None));
    }
    let moved = figures::algorithm_bytes(p.kind, p.bytes, n);
    let factor = p.kind.bus_factor(n);
    let rates = times
        .iter()
        .map(|&t| {
            let gbps = figures::gbps(moved, t, factor.unwrap_or(1.0));
            within_peak(&format!("{id}/{name}"), gbps, peak)
        })
        .collect::<Result<Vec<f64>>>()?;
    let median = crate::stats::median(&rates);
    match (factor, peak) {
        (Some(f), Some(peak)) => eprintln!(
            "nccl/{id}/{name}: busbw {median:.1} GB/s (algbw x {f:.3}), {:.0} % of {:.1} GB/s",
            100.0 * median / peak.value,
            peak.value
        ),
        (Some(f), None) => {
            eprintln!("nccl/{id}/{name}: busbw {median:.1} GB/s (algbw x {f:.3}); no link bound")
        }
        (None, peak) => eprintln!(
            "nccl/{id}/{name}: algbw {median:.1} GB/s{}; one rank moves no byte over a link, so there is no bus bandwidth (it needs 2+ GPUs)",
            peak.map(|p| format!(", {:.0} % of {:.1} GB/s ({})", 100.0 * median / p.value, p.value, p.source)).unwrap_or_default()
        ),
    }
    Ok(Measured {
        peak: peak.cloned(),
        ..sampled(p.info, name, rates, None)
    })
}

/// Checks `kind` of `bytes` on every rank, then times it on every rank; seconds per
/// collective of each sample, the slowest rank's.
fn timed(ranks: &mut Ranks, kind: Kind, bytes: u64, samples: usize) -> Result<Vec<f64>> {
    let request = |samples| Collective {
        kind,
        bytes,
        samples,
        reps: figures::reps(bytes),
    };
    ranks.each(|_| request(0))?;
    figures::slowest(&ranks.each(|_| request(samples))?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_rank_is_held_to_half_the_dram_rate() {
        let dram = crate::system::dram_peak(2_619_000, 6144).unwrap();
        let peak = one_rank_peak(dram.clone());
        assert_eq!(peak.value, dram.value / 2.0);
        assert!(peak.source.contains("one rank") && peak.source.contains(&dram.source));
    }
}
