//! A rank's side of NCCL-001..004: buffers filled with what its rank contributes,
//! one collective whose output is checked against what every rank sent, then the
//! timed collectives, each sample between two events on the collective's stream.

use super::figures::{gather_block, Kind};
use super::ranks;
use crate::cuda::{
    pattern_mismatches, BandwidthKernels, CUdevice_attribute as Attr, Comm, Context, DeviceBuffer,
    Stream,
};
use crate::error::{Error, Result};
use crate::measure::gpu_time;
use crate::run::child::{Held, Operation};
use serde::{Deserialize, Serialize};

/// The pattern seed of rank r's data is SEED + r (the broadcast's is rank 0's).
const SEED: u32 = 0x4cc1_0001;
/// Collectives run untimed before the first sample, at least.
const WARM_UP: u64 = 5;

/// One size of one collective on every rank: checked, then `samples` samples of
/// `reps` collectives each (none: the check alone). The reply is seconds per
/// collective of each sample.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Collective {
    pub kind: Kind,
    pub bytes: u64,
    pub samples: usize,
    pub reps: u64,
}

/// The value every element of rank `rank`'s all-reduce input holds.
fn reduce_input(rank: usize) -> f32 {
    (rank + 1) as f32
}

/// What every element of the all-reduce's output holds over `n` ranks: 1 + ... + n,
/// exact in f32 for any rank count a host has.
pub fn reduce_sum(n: usize) -> f32 {
    (n * (n + 1) / 2) as f32
}

/// The ranks a rank sends to and receives from in the send/receive ring.
pub fn ring_peers(rank: usize, n: usize) -> (usize, usize) {
    ((rank + 1) % n, (rank + n - 1) % n)
}

/// A rank's buffers of one collective and size.
struct Buffers {
    send: DeviceBuffer,
    recv: DeviceBuffer,
    /// Bytes one rank sends: the all-gather's block, else the size.
    bytes: usize,
}

impl Buffers {
    fn new(kind: Kind, bytes: u64, n: usize) -> Result<Self> {
        let (send, recv) = match kind {
            Kind::AllGather => {
                let block = gather_block(bytes, n);
                (block, block * n as u64)
            }
            Kind::AllReduce | Kind::SendRecv | Kind::Broadcast => (bytes, bytes),
        };
        if send == 0 {
            return Err(Error::Invalid(format!(
                "{} of {bytes} bytes over {n} ranks sends nothing",
                kind.call()
            )));
        }
        Ok(Self {
            send: DeviceBuffer::new(send as usize)?,
            recv: DeviceBuffer::new(recv as usize)?,
            bytes: send as usize,
        })
    }

    /// Fills the send buffer with rank `rank`'s data and poisons the output.
    fn fill(&self, kind: Kind, comm: &Comm, k: &BandwidthKernels, s: &Stream) -> Result<()> {
        match kind {
            Kind::AllReduce => {
                self.send.fill_u32(reduce_input(comm.rank).to_bits(), s)?;
                self.recv.fill_u32(f32::NAN.to_bits(), s)
            }
            Kind::AllGather | Kind::SendRecv | Kind::Broadcast => {
                k.fill(&self.send, SEED + comm.rank as u32, s)?;
                self.recv.fill_u32(0, s)
            }
        }
    }

    fn run(&self, kind: Kind, comm: &Comm, s: &Stream) -> Result<()> {
        match kind {
            Kind::AllReduce => comm.all_reduce_sum(&self.send, &self.recv, self.bytes / 4, s),
            Kind::AllGather => comm.all_gather(&self.send, &self.recv, self.bytes, s),
            Kind::Broadcast => comm.broadcast(&self.send, &self.recv, self.bytes, 0, s),
            Kind::SendRecv => {
                let (to, from) = ring_peers(comm.rank, comm.nranks);
                comm.exchange(&self.send, to, &self.recv, from, self.bytes, s)
            }
        }
    }

    /// Checks this rank's output against what the ranks sent; synchronises `s`.
    fn check(&self, kind: Kind, comm: &Comm, k: &BandwidthKernels, s: &Stream) -> Result<()> {
        let what = kind.call();
        match kind {
            Kind::AllReduce => {
                s.synchronize()?;
                let mut got = vec![0f32; self.recv.bytes() / 4];
                self.recv.copy_to_host(&mut got)?;
                let want = reduce_sum(comm.nranks);
                let wrong = got.iter().filter(|&&v| v != want).count();
                if wrong > 0 {
                    return Err(Error::Incorrect {
                        kernel: what,
                        detail: format!(
                            "{wrong} of {} sums are not {want} (1 + ... + {} ranks)",
                            got.len(),
                            comm.nranks
                        ),
                    });
                }
                Ok(())
            }
            Kind::AllGather => {
                s.synchronize()?;
                let mut got = vec![0u8; self.recv.bytes()];
                self.recv.copy_to_host(&mut got)?;
                got.chunks_exact(self.bytes)
                    .enumerate()
                    .try_for_each(|(rank, block)| {
                        pattern_mismatches(what, block, SEED + rank as u32)
                    })
            }
            Kind::Broadcast => k.verify(what, &self.recv, SEED, s),
            Kind::SendRecv => {
                let (_, from) = ring_peers(comm.rank, comm.nranks);
                k.verify(what, &self.recv, SEED + from as u32, s)
            }
        }
    }
}

impl Operation for Collective {
    const NAME: &'static str = "nccl-collective";
    type Reply = Vec<f64>;
    fn serve(self, ctx: &Context, held: &mut Held) -> Result<Vec<f64>> {
        ctx.make_current()?;
        let comm = ranks::comm(held)?;
        let sms = ctx
            .device()
            .attribute(Attr::CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT)?;
        let kernels = BandwidthKernels::load(sms as u32)?;
        let stream = Stream::new()?;
        let buffers = Buffers::new(self.kind, self.bytes, comm.nranks)?;
        buffers.fill(self.kind, comm, &kernels, &stream)?;
        buffers.run(self.kind, comm, &stream)?;
        buffers.check(self.kind, comm, &kernels, &stream)?;
        if self.samples == 0 {
            return Ok(Vec::new());
        }
        let reps = self.reps.max(1);
        gpu_time(&stream, reps.max(WARM_UP), || {
            buffers.run(self.kind, comm, &stream)
        })?;
        (0..self.samples)
            .map(|_| {
                let t = gpu_time(&stream, reps, || buffers.run(self.kind, comm, &stream))?;
                Ok(t.as_secs_f64() / reps as f64)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_all_reduce_sums_one_to_n() {
        assert_eq!(reduce_sum(1), 1.0);
        assert_eq!(reduce_sum(8), 36.0);
        let n = 8;
        assert_eq!((0..n).map(reduce_input).sum::<f32>(), reduce_sum(n));
    }

    #[test]
    fn the_ring_sends_to_the_next_rank_and_receives_from_the_previous() {
        assert_eq!(ring_peers(0, 1), (0, 0));
        assert_eq!(ring_peers(0, 4), (1, 3));
        assert_eq!(ring_peers(3, 4), (0, 2));
        for n in 1..9 {
            for r in 0..n {
                let (to, _) = ring_peers(r, n);
                assert_eq!(ring_peers(to, n).1, r, "rank {r} of {n}");
            }
        }
    }
}
