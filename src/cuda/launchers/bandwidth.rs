//! kernels/bandwidth.cu: the streaming copy and the pattern that verifies every copy
//! (kernel, copy engine or PCIe) before it is timed, on the device or on the host.

use super::arg;
use crate::cuda::{DeviceBuffer, Function, Module, Stream};
use crate::error::{Error, Result};
use crate::kernels;

/// Threads per block of every kernel here.
const THREADS: u32 = 256;
/// Bytes each thread of `stream_copy` moves per element (a `uint4`).
const VECTOR_BYTES: usize = 16;

/// kernels/bandwidth.cu, loaded, its grid sized once: a lookup or an occupancy query
/// per launch would be timed with the copy.
pub struct BandwidthKernels {
    copy: Function,
    fill: Function,
    check: Function,
    /// Blocks that fill every SM at once: a grid-stride loop over a buffer larger
    /// than L2 needs every SM's loads in flight to reach the DRAM rate.
    grid: u32,
}

impl BandwidthKernels {
    /// Loads the module and sizes the grid for `sms` SMs at full occupancy.
    pub fn load(sms: u32) -> Result<Self> {
        let module = Module::load("bandwidth", kernels::BANDWIDTH)?;
        let copy = module.function("stream_copy")?;
        let grid = sms.max(1) * copy.max_active_blocks_per_sm(THREADS)?;
        Ok(Self {
            copy,
            fill: module.function("fill_pattern")?,
            check: module.function("check_pattern")?,
            grid,
        })
    }

    /// Blocks of each launch.
    pub fn grid(&self) -> u32 {
        self.grid
    }

    /// `stream_copy`: all of `src` into `dst`, 16 bytes per load and store.
    pub fn copy(&self, src: &DeviceBuffer, dst: &DeviceBuffer, stream: &Stream) -> Result<()> {
        if src.bytes() % VECTOR_BYTES != 0 || dst.bytes() < src.bytes() {
            return Err(Error::Invalid(format!(
                "stream_copy: {} bytes into {}: the source must be whole 16-byte vectors and fit",
                src.bytes(),
                dst.bytes()
            )));
        }
        let (mut s, mut d) = (src.device_ptr(), dst.device_ptr());
        let mut n = (src.bytes() / VECTOR_BYTES) as u64;
        let mut params = [arg(&mut s), arg(&mut d), arg(&mut n)];
        // SAFETY: (const uint4*, uint4*, unsigned long long) as declared; n vectors lie
        // in both buffers, which callers keep until `stream` is synchronised.
        unsafe { self.copy.launch(self.grid, THREADS, 0, stream, &mut params) }
    }

    /// `fill_pattern`: every 32-bit word of `buf` set to the pattern of `seed`.
    pub fn fill(&self, buf: &DeviceBuffer, seed: u32, stream: &Stream) -> Result<()> {
        let mut ptr = buf.device_ptr();
        let mut n = (buf.bytes() / 4) as u64;
        let mut seed = seed;
        let mut params = [arg(&mut ptr), arg(&mut n), arg(&mut seed)];
        // SAFETY: (unsigned*, unsigned long long, unsigned) as declared; n words lie in
        // the buffer, which callers keep until `stream` is synchronised.
        unsafe { self.fill.launch(self.grid, THREADS, 0, stream, &mut params) }
    }

    /// Checks on the device that every word of `buf` holds the pattern of `seed`,
    /// after `what` wrote it; synchronises `stream`.
    pub fn verify(
        &self,
        what: &'static str,
        buf: &DeviceBuffer,
        seed: u32,
        stream: &Stream,
    ) -> Result<()> {
        let counter = DeviceBuffer::new(8)?;
        counter.fill_u32(0, stream)?;
        let (mut ptr, mut c) = (buf.device_ptr(), counter.device_ptr());
        let mut n = (buf.bytes() / 4) as u64;
        let mut seed = seed;
        let mut params = [arg(&mut ptr), arg(&mut n), arg(&mut seed), arg(&mut c)];
        // SAFETY: (const unsigned*, unsigned long long, unsigned, unsigned long long*)
        // as declared; n words lie in `buf`; both live until the synchronise below.
        unsafe {
            self.check
                .launch(self.grid, THREADS, 0, stream, &mut params)
        }?;
        stream.synchronize()?;
        let mut wrong = [0u64];
        counter.copy_to_host(&mut wrong)?;
        mismatch_error(what, wrong[0], n)
    }
}

/// The error for `wrong` of `words` words not holding the pattern, if any.
fn mismatch_error(what: &'static str, wrong: u64, words: u64) -> Result<()> {
    if wrong == 0 {
        return Ok(());
    }
    Err(Error::Incorrect {
        kernel: what,
        detail: format!("{wrong} of {words} 32-bit words do not hold the pattern written"),
    })
}

/// The 32-bit word at index `j` of the pattern of `seed`, as kernels/bandwidth.cu's
/// `pattern_word` computes it: distinct neighbours, so a shifted or partial copy shows.
fn pattern_word(j: u64, seed: u32) -> u32 {
    ((j ^ (j >> 32)) as u32)
        .wrapping_mul(2_654_435_761)
        .wrapping_add(seed)
}

/// Writes the pattern of `seed` into host memory (whole words; a tail is left).
pub fn write_pattern(host: &mut [u8], seed: u32) {
    for (j, word) in host.chunks_exact_mut(4).enumerate() {
        word.copy_from_slice(&pattern_word(j as u64, seed).to_le_bytes());
    }
}

/// Checks host memory against the pattern of `seed`, after `what` wrote it.
pub fn pattern_mismatches(what: &'static str, host: &[u8], seed: u32) -> Result<()> {
    let words = host.chunks_exact(4);
    let n = words.len() as u64;
    let wrong = words
        .enumerate()
        .filter(|(j, w)| {
            u32::from_le_bytes([w[0], w[1], w[2], w[3]]) != pattern_word(*j as u64, seed)
        })
        .count() as u64;
    mismatch_error(what, wrong, n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pattern_differs_between_neighbours_and_seeds() {
        assert_ne!(pattern_word(0, 1), pattern_word(1, 1));
        assert_ne!(pattern_word(5, 1), pattern_word(5, 2));
        // Indices past 2^32 fold their high half in, so they do not repeat the low ones.
        assert_ne!(pattern_word(1 << 32, 7), pattern_word(0, 7));
        assert_eq!(pattern_word(3, 0), 3u32.wrapping_mul(2_654_435_761));
    }

    #[test]
    fn a_host_copy_of_the_pattern_checks_and_a_changed_word_is_counted() {
        let mut host = vec![0u8; 64];
        write_pattern(&mut host, 9);
        assert!(pattern_mismatches("test", &host, 9).is_ok());
        host[5] ^= 1;
        host[60] ^= 1;
        match pattern_mismatches("test", &host, 9) {
            Err(Error::Incorrect { detail, .. }) => {
                assert!(detail.starts_with("2 of 16 "), "{detail}")
            }
            other => panic!("expected Incorrect, got {other:?}"),
        }
        assert!(pattern_mismatches("test", &host, 10).is_err());
    }
}
