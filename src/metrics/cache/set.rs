//! A working set on the device as every CACHE figure reads it: filled with known
//! words, checked to sum right, then read kernel after kernel on the reader's own
//! events.

use crate::cuda::{CacheKernels, DeviceBuffer, Event, Stream, READ_VECTOR_BYTES};
use crate::error::{Error, Result};

/// Blocks of the read kernel per SM: 8 blocks of 256 threads keep 2048 loads in
/// flight per SM, as many threads as an SM of recent generations holds.
const BLOCKS_PER_SM: u32 = 8;
/// Bytes one read kernel moves, in L2 sizes: enough that a kernel of an L2-resident
/// set runs some 100 us, so the events' resolution (0.5 us) and the kernel's ramp are
/// noise beside it.
const L2S_PER_KERNEL: usize = 32;

/// Set sizes of the sweep as fractions of the L2: from well inside it to four
/// times it, where a set can only come from DRAM.
pub(super) const LADDER: [f64; 6] = [0.125, 0.25, 0.5, 1.0, 2.0, 4.0];

/// A set of `fraction` of an L2 of `l2_bytes`, rounded down to whole loads of every
/// thread of one pass (so no thread reads a partial vector).
pub(super) fn set_bytes(l2_bytes: usize, fraction: f64) -> usize {
    let bytes = (l2_bytes as f64 * fraction) as usize;
    bytes - bytes % (READ_VECTOR_BYTES * 64)
}

/// Passes over a set of `set` bytes that one kernel makes.
pub(super) fn passes(l2_bytes: usize, set: usize) -> u32 {
    (L2S_PER_KERNEL * l2_bytes).div_ceil(set.max(1)) as u32
}

/// The sum `read_sum` must find after `passes` passes over `words` words filled with
/// word i = i (mod 2^32), all mod 2^64 as the kernel adds.
pub(super) fn expected_sum(words: u64, passes: u32) -> u64 {
    const CYCLE: u128 = 1 << 32;
    let (cycles, rest) = (u128::from(words) / CYCLE, u128::from(words) % CYCLE);
    let one_pass = cycles * (CYCLE * (CYCLE - 1) / 2) + rest * rest.saturating_sub(1) / 2;
    (one_pass * u128::from(passes)) as u64
}

/// A filled set and what reads it, on a stream of its own.
pub(super) struct Reader {
    kernels: CacheKernels,
    stream: Stream,
    set: DeviceBuffer,
    sum: DeviceBuffer,
    blocks: u32,
    passes: u32,
}

impl Reader {
    /// Allocates and fills a set of `bytes`, then checks that one read of it sums to
    /// what the fill put there: a kernel that reads less is never timed.
    pub fn new(bytes: usize, l2_bytes: usize, sms: u32) -> Result<Self> {
        let stream = Stream::new()?;
        let reader = Self {
            kernels: CacheKernels::load()?,
            set: DeviceBuffer::new(bytes)?,
            sum: DeviceBuffer::new(8)?,
            blocks: sms * BLOCKS_PER_SM,
            passes: passes(l2_bytes, bytes),
            stream,
        };
        reader
            .kernels
            .fill_index(reader.blocks, &reader.set, &reader.stream)?;
        reader.check()?;
        Ok(reader)
    }

    pub fn bytes(&self) -> usize {
        self.set.bytes()
    }

    /// Bytes one kernel reads.
    pub fn bytes_per_kernel(&self) -> f64 {
        self.set.bytes() as f64 * f64::from(self.passes)
    }

    fn check(&self) -> Result<()> {
        self.sum.fill_u32(0, &self.stream)?;
        self.launch()?;
        self.stream.synchronize()?;
        let mut got = [0u64];
        self.sum.copy_to_host(&mut got)?;
        let want = expected_sum((self.set.bytes() / 4) as u64, self.passes);
        if got[0] != want {
            return Err(Error::Incorrect {
                kernel: "read_sum",
                detail: format!(
                    "{} passes over {} bytes summed to {}, the fill gives {want}",
                    self.passes,
                    self.set.bytes(),
                    got[0]
                ),
            });
        }
        Ok(())
    }

    fn launch(&self) -> Result<()> {
        self.kernels
            .read_sum(self.blocks, &self.set, self.passes, &self.sum, &self.stream)
    }

    /// Milliseconds of each of `n` read kernels queued back to back, each between
    /// two events on this reader's stream: the queue never runs dry between them, and
    /// host scheduling stays out of every figure.
    pub fn time_kernels(&self, n: usize) -> Result<Vec<f64>> {
        let events = (0..=n).map(|_| Event::new()).collect::<Result<Vec<_>>>()?;
        events[0].record(&self.stream)?;
        for event in &events[1..] {
            self.launch()?;
            event.record(&self.stream)?;
        }
        events[n].synchronize()?;
        events
            .windows(2)
            .map(|w| w[1].elapsed_ms_since(&w[0]).map(f64::from))
            .collect()
    }

    /// GB/s of a kernel that took `ms`.
    pub fn gbps(&self, ms: f64) -> f64 {
        gbps(self.bytes_per_kernel(), ms)
    }
}

/// GB/s of `bytes` read in `ms`.
pub(super) fn gbps(bytes: f64, ms: f64) -> f64 {
    bytes / (ms * 1e-3) / 1e9
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ladder_runs_from_an_eighth_to_four_l2s_in_whole_loads() {
        let l2 = 50 << 20;
        let sizes: Vec<usize> = LADDER.iter().map(|&f| set_bytes(l2, f)).collect();
        assert_eq!(sizes.first(), Some(&(l2 / 8)));
        assert_eq!(sizes.last(), Some(&(4 * l2)));
        assert!(sizes.windows(2).all(|w| w[0] < w[1]), "{sizes:?}");
        assert!(sizes.iter().all(|s| s % (READ_VECTOR_BYTES * 64) == 0));
        // An L2 of no round size still gives whole loads, just under the fraction.
        let odd = set_bytes(40_000_000, 0.6);
        assert!(odd <= 24_000_000 && odd > 24_000_000 - 1024 && odd % 1024 == 0);
    }

    #[test]
    fn every_kernel_reads_about_the_same_bytes() {
        let l2 = 50 << 20;
        assert_eq!(passes(l2, l2 / 8), 256);
        assert_eq!(passes(l2, 4 * l2), 8);
        assert_eq!(passes(l2, 3 * l2), 11, "rounded up");
    }

    #[test]
    fn the_expected_sum_is_the_fill_added_mod_2_64() {
        assert_eq!(expected_sum(0, 5), 0);
        assert_eq!(expected_sum(1, 5), 0);
        assert_eq!(expected_sum(4, 1), 6);
        assert_eq!(expected_sum(4, 3), 18);
        let brute = |words: u64, passes: u32| {
            (0..words)
                .fold(0u64, |acc, i| acc.wrapping_add(i & 0xffff_ffff))
                .wrapping_mul(u64::from(passes))
        };
        assert_eq!(expected_sum(100_000, 7), brute(100_000, 7));
        // Past 2^32 words the fill wraps to 0 and the sum wraps mod 2^64.
        let cycle = 1u64 << 32;
        let one = ((1u128 << 32) * ((1u128 << 32) - 1) / 2) as u64;
        assert_eq!(expected_sum(cycle + 3, 1), one.wrapping_add(3));
        assert_eq!(expected_sum(cycle, 1u32 << 31), one.wrapping_mul(1 << 31));
    }
}
