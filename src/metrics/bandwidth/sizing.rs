//! How much memory the streaming figures use and the bound they are held to, both
//! from the device's attributes, never from a named GPU.

use crate::cuda::{CUdevice_attribute as Attr, Device};
use crate::error::{Error, Result};

const MIB: u64 = 1 << 20;
/// A buffer at least this many times the L2, so every pass comes from DRAM.
pub const L2_MULTIPLE: u64 = 8;
/// The smallest buffer, for a device with a small L2: the copy must be long enough
/// that its launch is noise beside it.
const MIN_BUFFER: u64 = 64 * MIB;

/// Bytes of each of `buffers` streaming buffers: [`L2_MULTIPLE`] times `l2` (at least
/// [`MIN_BUFFER`]), in whole MiB, and no more than `share` of `free` between them. An
/// error where that share cannot hold even [`L2_MULTIPLE`] times the L2 in all, since
/// the figure would then measure the cache.
pub fn buffer_bytes(l2: u64, free: u64, buffers: u64, share: f64) -> Result<u64> {
    let target = (L2_MULTIPLE * l2).max(MIN_BUFFER).div_ceil(MIB) * MIB;
    let cap = (free as f64 * share / buffers as f64) as u64 / MIB * MIB;
    let bytes = target.min(cap);
    if bytes == 0 || bytes * buffers < L2_MULTIPLE * l2 {
        return Err(Error::Invalid(format!(
            "{} MiB of free device memory cannot hold {buffers} streaming buffers of {L2_MULTIPLE} x the {} MiB L2 between them; free memory and run again",
            free / MIB,
            l2 / MIB
        )));
    }
    Ok(bytes)
}

/// The L2's size in bytes.
pub fn l2_bytes(device: &Device) -> Result<u64> {
    Ok(device
        .attribute(Attr::CU_DEVICE_ATTRIBUTE_L2_CACHE_SIZE)?
        .max(0) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GIB: u64 = 1 << 30;

    #[test]
    fn a_buffer_is_eight_l2s_in_whole_mib_when_memory_allows() {
        // H200: 50 MiB of L2 and some 140 GiB free.
        assert_eq!(
            buffer_bytes(50 * MIB, 140 * GIB, 2, 0.8).unwrap(),
            400 * MIB
        );
        // An L2 of 40 MB (not whole MiB) rounds up.
        let odd = buffer_bytes(40_000_000, 80 * GIB, 2, 0.8).unwrap();
        assert_eq!(odd, 306 * MIB);
        assert!(odd >= 8 * 40_000_000);
        // A small L2 still gets the minimum buffer.
        assert_eq!(buffer_bytes(MIB, 8 * GIB, 2, 0.8).unwrap(), 64 * MIB);
    }

    #[test]
    fn free_memory_caps_the_buffers_and_too_little_is_refused() {
        // 16 buffers in half of 4 GiB: 128 MiB each, 2 GiB in all, still 40 x the L2.
        assert_eq!(buffer_bytes(50 * MIB, 4 * GIB, 16, 0.5).unwrap(), 128 * MIB);
        let err = buffer_bytes(50 * MIB, 600 * MIB, 2, 0.5).unwrap_err();
        assert!(
            err.to_string().contains("cannot hold 2 streaming buffers"),
            "{err}"
        );
        assert!(buffer_bytes(50 * MIB, 0, 2, 0.5).is_err());
    }
}
