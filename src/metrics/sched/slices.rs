//! SCHED-001: two tenants' long kernels started together; where the GPU time-slices
//! their contexts, each block's log of its pauses shows the slices one tenant got and
//! the gaps in which neither ran (the context switch).

use super::record::{BlockRecord, Timeline};
use super::{Device, REPLY_TIMEOUT};
use crate::cuda::{Context, SchedKernels, Stream, TimelineShape};
use crate::error::{Error, Result};
use crate::measure::Span;
use crate::metrics::{find, sampled, BenchEnv, Measured};
use crate::run::child::{self, Held, Operation};
use serde::{Deserialize, Serialize};

/// Two clock reads of a spinning block further apart than this are a pause: the
/// loop itself reads the clock every few tens of nanoseconds.
const PAUSE_NS: u64 = 10_000;
/// Pauses logged per block: room for slices down to 100 us over the whole kernel.
fn max_pauses(kernel_ns: u64) -> u32 {
    (kernel_ns / 100_000).max(16) as u32
}

/// Run one `timeline` kernel of one 32-thread block per SM spinning `ns`, logging
/// its pauses; the reply is block 0's record, every block's checked first. The
/// blocks are small so that where contexts may run at once (MPS) they fit beside
/// the other tenant's.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Slices {
    pub sms: u32,
    pub ns: u64,
}

impl Slices {
    fn shape(&self) -> TimelineShape {
        TimelineShape {
            blocks: self.sms,
            threads: 32,
            ns: self.ns,
            gap_ns: PAUSE_NS,
            max_gaps: max_pauses(self.ns),
        }
    }
}

impl Operation for Slices {
    const NAME: &'static str = "sched-slices";
    type Reply = BlockRecord;
    fn serve(self, _: &Context, _: &mut Held) -> Result<BlockRecord> {
        let kernels = SchedKernels::load()?;
        let stream = Stream::new()?;
        let timeline = Timeline::new(self.shape(), &stream)?;
        stream.synchronize()?;
        timeline.launch(&kernels, &stream)?;
        stream.synchronize()?;
        let records = timeline.records()?;
        if let Some(full) = records.iter().find(|r| r.seen > r.pauses.len() as u64) {
            return Err(Error::Invalid(format!(
                "sched-slices: a block paused {} times, more than the {} its log holds",
                full.seen,
                full.pauses.len()
            )));
        }
        Ok(records.into_iter().next().expect("at least one block"))
    }
}

/// What two tenants' records say about how the GPU shared itself between them.
#[derive(Debug, Clone, PartialEq)]
pub struct Slicing {
    /// Nanoseconds of each run of progress bounded by pauses on both sides, while
    /// both kernels ran (a first or last run is cut by the kernel's start or end).
    pub slices_ns: Vec<u64>,
    /// Nanoseconds from one tenant's run ending to the other's next run starting,
    /// where neither made progress.
    pub switches_ns: Vec<u64>,
}

/// The slices and switches of two tenants' block records on the one device clock.
pub fn slicing(a: &BlockRecord, b: &BlockRecord) -> Slicing {
    let both = Span {
        start_ns: a.span.start_ns.max(b.span.start_ns),
        end_ns: a.span.end_ns.min(b.span.end_ns),
    };
    let mut slices_ns = Vec::new();
    let mut merged = Vec::new();
    for (tenant, rec) in [a, b].into_iter().enumerate() {
        let runs = rec.runs();
        let last = runs.len() - 1;
        for (i, run) in runs.into_iter().enumerate() {
            if both.overlap_ns(&run) > 0 || (run.ns() == 0 && both.contains(&run)) {
                merged.push((run, tenant));
            }
            if i > 0 && i < last && both.contains(&run) {
                slices_ns.push(run.ns());
            }
        }
    }
    merged.sort_by_key(|(run, _)| run.start_ns);
    let switches_ns = merged
        .windows(2)
        .filter(|w| w[0].1 != w[1].1 && w[1].0.start_ns >= w[0].0.end_ns)
        .map(|w| w[1].0.start_ns - w[0].0.end_ns)
        .collect();
    Slicing {
        slices_ns,
        switches_ns,
    }
}

/// Nanoseconds each tenant's kernel spins.
fn kernel_ns(env: &BenchEnv) -> u64 {
    if env.quick {
        200_000_000
    } else {
        1_000_000_000
    }
}

pub(super) fn bench(env: &BenchEnv, device: &Device) -> Result<Vec<Measured>> {
    let info = find("SCHED-001")?;
    let request = Slices {
        sms: device.sms,
        ns: kernel_ns(env),
    };
    let mut tenants = child::spawn_servers(2)?;
    let (mut slices, mut switches) = (Vec::new(), Vec::new());
    for _ in 0..env.process_samples() {
        let records = child::broadcast(&mut tenants, &request, REPLY_TIMEOUT)?;
        let seen = slicing(&records[0], &records[1]);
        slices.extend(seen.slices_ns.iter().map(|&ns| ns as f64 / 1e6));
        switches.extend(seen.switches_ns.iter().map(|&ns| ns as f64 / 1e3));
    }
    child::end_all(tenants);
    if slices.len() < 2 || switches.len() < 2 {
        eprintln!(
            "sched/SCHED-001: not saved: the two tenants' kernels showed {} time slice(s) and {} switch(es), fewer than 2 (a slice is a run of one bounded by pauses while the other ran): the GPU ran them at once, one after the other, or in slices longer than the kernels",
            slices.len(),
            switches.len()
        );
        return Ok(Vec::new());
    }
    Ok(vec![
        sampled(info, "slice", slices, None),
        Measured {
            unit: "us",
            ..sampled(info, "switch", switches, None)
        },
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(start_ns: u64, end_ns: u64) -> Span {
        Span { start_ns, end_ns }
    }

    fn record(start: u64, end: u64, pauses: &[(u64, u64)]) -> BlockRecord {
        BlockRecord {
            span: span(start, end),
            pauses: pauses.iter().map(|&(a, b)| span(a, b)).collect(),
            seen: pauses.len() as u64,
        }
    }

    #[test]
    fn alternating_tenants_give_their_slices_and_the_switches_between() {
        // A runs 0-100, 120-220, 240-340; B runs 100-105, 225-235, 345-400.
        let a = record(0, 340, &[(100, 120), (220, 240)]);
        let b = record(100, 400, &[(105, 225), (235, 345)]);
        let s = slicing(&a, &b);
        // A's middle run 120-220 and B's middle run 225-235 lie wholly in 100..340.
        assert_eq!(s.slices_ns, [100, 10]);
        // While both ran (100-340): B 100-105 -> A 120, A 120-220 -> B 225,
        // B 225-235 -> A 240.
        assert_eq!(s.switches_ns, [15, 5, 5]);
    }

    #[test]
    fn tenants_that_run_at_once_show_no_slices_and_no_switches() {
        let a = record(0, 1000, &[]);
        let b = record(5, 1005, &[]);
        let s = slicing(&a, &b);
        assert!(s.slices_ns.is_empty() && s.switches_ns.is_empty(), "{s:?}");
    }

    #[test]
    fn the_log_has_room_for_short_slices() {
        assert_eq!(max_pauses(200_000_000), 2000);
        assert_eq!(max_pauses(0), 16);
        let shape = Slices {
            sms: 132,
            ns: 200_000_000,
        }
        .shape();
        assert_eq!(
            (shape.blocks, shape.threads, shape.gap_ns),
            (132, 32, PAUSE_NS)
        );
    }
}
