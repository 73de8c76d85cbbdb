//! SCHED-003 and SCHED-004: streams of one tenant. Kernels on several streams that
//! together fill the GPU should run at once; a high-priority stream's kernel should
//! get the SMs ahead of a low-priority stream's queue, and across tenants priorities
//! do not reach.

use super::fill::{fill_shape, Fill, Filling};
use super::record::{extent, Timeline};
use super::{probes, Device, LEAD, REPLY_TIMEOUT};
use crate::cuda::{stream_priorities, SchedKernels, Stream, TimelineShape};
use crate::error::Result;
use crate::measure::Span;
use crate::metrics::{find, sampled, BenchEnv, Measured};
use crate::run::child;
use crate::stats;
use std::time::Instant;

/// Streams of SCHED-003, each given 1/STREAMS of the SMs.
const STREAMS: u32 = 4;
/// Microseconds each block of a SCHED-003 kernel spins.
const CONCURRENT_US: u64 = 2000;
/// Concurrency cannot pass 100 %; beyond this, the clocks or the count are broken.
const MAX_CONCURRENCY_PCT: f64 = 103.0;

/// Percent of the ideal overlap of `kernels` (each one's span on the device's clock):
/// the sum of their durations over `kernels.len()` times the span of all of them.
/// All at once gives 100 %; one after another 100 / n %.
pub(super) fn concurrency_pct(kernels: &[Span]) -> Option<f64> {
    let all = Span {
        start_ns: kernels.iter().map(|k| k.start_ns).min()?,
        end_ns: kernels.iter().map(|k| k.end_ns).max()?,
    };
    let busy: u64 = kernels.iter().map(Span::ns).sum();
    (all.ns() > 0).then(|| 100.0 * busy as f64 / (kernels.len() as f64 * all.ns() as f64))
}

pub(super) fn concurrency(env: &BenchEnv, device: &Device) -> Result<Vec<Measured>> {
    let info = find("SCHED-003")?;
    let kernels = SchedKernels::load()?;
    let streams = (0..STREAMS)
        .map(|_| Stream::new())
        .collect::<Result<Vec<_>>>()?;
    let shape = fill_shape(device, device.sms / STREAMS, 1, CONCURRENT_US);
    let run = || -> Result<f64> {
        let timelines = streams
            .iter()
            .map(|s| Timeline::new(shape, s))
            .collect::<Result<Vec<_>>>()?;
        streams.iter().try_for_each(Stream::synchronize)?;
        for (timeline, stream) in timelines.iter().zip(&streams) {
            timeline.launch(&kernels, stream)?;
        }
        streams.iter().try_for_each(Stream::synchronize)?;
        let spans = timelines
            .iter()
            .map(|t| Ok(extent(&t.records()?).expect("blocks were launched")))
            .collect::<Result<Vec<_>>>()?;
        let pct = concurrency_pct(&spans).expect("kernels were launched");
        stats::bounded("SCHED-003 concurrency (%)", pct, 0.0, MAX_CONCURRENCY_PCT)
    };
    run()?;
    let samples = (0..env.paired_samples())
        .map(|_| run())
        .collect::<Result<Vec<_>>>()?;
    Ok(vec![sampled(
        info,
        &format!("{STREAMS}-streams"),
        samples,
        None,
    )])
}

/// A short kernel on `stream`: one 32-thread block that ends at once.
fn short_shape() -> TimelineShape {
    TimelineShape {
        blocks: 1,
        threads: 32,
        ns: 0,
        gap_ns: u64::MAX,
        max_gaps: 0,
    }
}

/// One short kernel's host time from submit to the end of its synchronisation (us),
/// and its start on the device's clock.
fn short(kernels: &SchedKernels, stream: &Stream) -> Result<(f64, u64)> {
    let timeline = Timeline::new(short_shape(), stream)?;
    stream.synchronize()?;
    let start = Instant::now();
    timeline.launch(kernels, stream)?;
    stream.synchronize()?;
    let us = start.elapsed().as_secs_f64() * 1e6;
    let first = extent(&timeline.records()?).expect("one block");
    Ok((us, first.start_ns))
}

pub(super) fn preemption(env: &BenchEnv, device: &Device) -> Result<Vec<Measured>> {
    let info = find("SCHED-004")?;
    let kernels = SchedKernels::load()?;
    let (least, greatest) = stream_priorities()?;
    let high = Stream::with_priority(greatest)?;
    let low = Stream::with_priority(least)?;
    let n = probes(env);
    let fill_ms = LEAD.as_millis() as u64 + 10 * n as u64;
    short(&kernels, &high)?;
    let alone = (0..n)
        .map(|_| short(&kernels, &high).map(|(us, _)| us))
        .collect::<Result<Vec<_>>>()?;

    // The filler in this process: a probe counts while the filler was still queued
    // when it was submitted, as the filler's own end event says.
    let filling = Filling::start(&kernels, device, fill_ms, &low)?;
    std::thread::sleep(LEAD);
    let mut same = Vec::new();
    while same.len() < n && filling.running()? {
        same.push(short(&kernels, &high)?.0);
    }
    filling.span()?;

    // The filler in another tenant, on its own least-priority stream.
    let mut neighbours = child::spawn_servers(1)?;
    let fill = Fill {
        device: *device,
        ms: fill_ms,
        low_priority: true,
    };
    neighbours[0].send(&fill)?;
    std::thread::sleep(LEAD);
    let across = (0..n)
        .map(|_| short(&kernels, &high))
        .collect::<Result<Vec<_>>>()?;
    let span: Span = neighbours[0].reply(REPLY_TIMEOUT)?;
    child::end_all(neighbours);
    let started = |s: &(f64, u64)| span.start_ns <= s.1 && s.1 <= span.end_ns;
    let across: Vec<f64> = across.iter().filter(|s| started(s)).map(|s| s.0).collect();
    // A probe too slow to run while the filler did (a limiter that holds each launch
    // back) says so and leaves its variant out; the others still count.
    let mut out = vec![sampled(info, "alone", alone, None)];
    for (what, samples) in [
        ("beside-low-priority-stream", same),
        ("beside-tenant", across),
    ] {
        if samples.len() * 2 < n {
            eprintln!(
                "sched/SCHED-004/{what}: not measured, only {} of {n} short kernels ran while the filler did",
                samples.len()
            );
        } else {
            out.push(sampled(info, what, samples, None));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(start_ns: u64, end_ns: u64) -> Span {
        Span { start_ns, end_ns }
    }

    #[test]
    fn concurrency_is_the_overlap_of_the_kernels_over_the_ideal() {
        let at_once = [span(0, 100), span(0, 100), span(1, 100), span(0, 99)];
        assert!((concurrency_pct(&at_once).unwrap() - 99.5).abs() < 1e-9);
        let serial = [span(0, 100), span(100, 200), span(200, 300), span(300, 400)];
        assert!((concurrency_pct(&serial).unwrap() - 25.0).abs() < 1e-9);
        let halves = [span(0, 100), span(0, 100), span(100, 200), span(100, 200)];
        assert!((concurrency_pct(&halves).unwrap() - 50.0).abs() < 1e-9);
        assert_eq!(concurrency_pct(&[]), None);
        assert_eq!(concurrency_pct(&[span(5, 5)]), None);
    }

    #[test]
    fn the_kernels_of_the_streams_fill_the_sms_together() {
        let device = Device {
            sms: 132,
            blocks_per_sm: 2,
        };
        let shape = fill_shape(&device, device.sms / STREAMS, 1, CONCURRENT_US);
        assert_eq!(shape.blocks * STREAMS, 132 * 2);
        assert_eq!(short_shape().blocks, 1);
    }
}
