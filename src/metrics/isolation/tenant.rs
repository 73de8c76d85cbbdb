//! The tenant side of the cross-tenant probes: what a serving child does when asked
//! (run/child.rs dispatches here). Everything runs in the tenant's own context.

use super::memory::{self, MemoryProbe, OwnerCheck, PathProbe, SharedBuffer, SUCCESS};
use crate::cuda::{self, DeviceBuffer, IpcHandle, IpcMapping, IsolationKernels, Stream};
use crate::error::{Error, Result};

/// What a serving child keeps between requests: the buffer it shared (IS-005), so it
/// stays allocated while another tenant probes it.
#[derive(Default)]
pub struct Held {
    shared: Option<(DeviceBuffer, u64)>,
}

/// Allocates `bytes`, writes the pattern of `seed`, keeps the buffer and exports an
/// IPC handle to it if the layer allows.
pub fn share(held: &mut Held, bytes: usize, seed: u64) -> Result<SharedBuffer> {
    let buffer = DeviceBuffer::new(bytes)?;
    buffer.copy_from_host(&memory::pattern(seed, bytes / 8))?;
    let (ipc_handle, ipc_export) = match IpcHandle::export(&buffer) {
        Ok(handle) => (Some(handle), SUCCESS.to_owned()),
        Err(Error::Cuda { name, .. }) => (None, name),
        Err(other) => return Err(other),
    };
    let shared = SharedBuffer {
        address: buffer.device_ptr(),
        bytes: bytes as u64,
        ipc_handle,
        ipc_export,
    };
    held.shared = Some((buffer, seed));
    Ok(shared)
}

/// Whether the shared buffer still holds its pattern.
pub fn check_shared(held: &Held) -> Result<OwnerCheck> {
    let (buffer, seed) = held
        .shared
        .as_ref()
        .ok_or_else(|| Error::Invalid("asked to check a buffer that was never shared".into()))?;
    let mut data = vec![0u64; buffer.bytes() / 8];
    buffer.copy_to_host(&mut data)?;
    Ok(OwnerCheck {
        words: data.len() as u64,
        changed_words: data.len() as u64 - memory::matched_words(&data, *seed),
    })
}

/// Tries to read another tenant's `bytes` at `address`: by copy, through `ipc_handle`,
/// then by kernel, last because a fault leaves this context unusable.
pub fn probe(
    address: u64,
    bytes: usize,
    seed: u64,
    ipc_handle: Option<IpcHandle>,
) -> Result<MemoryProbe> {
    let words = bytes / 8;
    let reader_owns_address = cuda::owns_address(address)?;
    let raw_copy = PathProbe::from_outcome(read_at(address, words), seed)?;
    let ipc = ipc_handle
        .map(|handle| {
            let outcome = IpcMapping::open(&handle).and_then(|m| read_at(m.device_ptr(), words));
            PathProbe::from_outcome(outcome, seed)
        })
        .transpose()?;
    let raw_kernel = PathProbe::from_outcome(kernel_read(address, bytes), seed)?;
    Ok(MemoryProbe {
        reader_owns_address,
        raw_copy,
        raw_kernel,
        ipc,
    })
}

fn read_at(address: u64, words: usize) -> Result<Vec<u64>> {
    let mut data = vec![0u64; words];
    cuda::copy_from_address(address, &mut data)?;
    Ok(data)
}

/// Allocations tried for a kernel's output before giving up on one that does not
/// overlap the probed range.
const SCRATCH_TRIES: usize = 4;

fn kernel_read(address: u64, bytes: usize) -> Result<Vec<u64>> {
    let kernels = IsolationKernels::load()?;
    let stream = Stream::new()?;
    // Fresh processes allocate at the same addresses, so the output may land on the
    // probed range; then the kernel would read the reader's own memory. Keep such
    // buffers and allocate again.
    let mut kept = Vec::new();
    let dst = loop {
        let buffer = DeviceBuffer::new(bytes)?;
        if !overlaps((buffer.device_ptr(), bytes as u64), (address, bytes as u64)) {
            break buffer;
        }
        kept.push(buffer);
        if kept.len() == SCRATCH_TRIES {
            return Err(Error::Invalid(format!(
                "{SCRATCH_TRIES} allocations all overlapped the probed range at {address:#x}"
            )));
        }
    };
    dst.fill_u32(0, &stream)?;
    kernels.copy_from_address(address, &dst, &stream)?;
    stream.synchronize()?;
    let mut data = vec![0u64; bytes / 8];
    dst.copy_to_host(&mut data)?;
    Ok(data)
}

/// Whether two (start, length) ranges share a byte.
fn overlaps(a: (u64, u64), b: (u64, u64)) -> bool {
    a.0 < b.0.saturating_add(b.1) && b.0 < a.0.saturating_add(a.1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_overlap_only_when_they_share_a_byte() {
        assert!(overlaps((100, 10), (105, 10)));
        assert!(overlaps((100, 10), (90, 11)));
        assert!(!overlaps((100, 10), (110, 10)));
        assert!(!overlaps((100, 10), (90, 10)));
    }

    #[test]
    fn checking_before_sharing_is_an_error() {
        let err = check_shared(&Held::default()).err().unwrap();
        assert!(err.to_string().contains("never shared"), "{err}");
    }
}
