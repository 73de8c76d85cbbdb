//! The tenant side of the cross-tenant probes: what a serving child does when asked
//! (the operations of [`super::ops`] call here). Everything runs in the tenant's own
//! context.

use super::fault::{CheckedRun, CheckedWindow, FaultReport, TimedError};
use super::memory::{MemoryProbe, OwnerCheck, PathProbe, SharedBuffer, SUCCESS};
use super::pattern;
use super::shape::TenantShape;
use crate::cuda::{
    self, DeviceBuffer, IpcHandle, IpcMapping, IsolationKernels, LaunchKernels, Stream,
};
use crate::error::{Error, Result};
use crate::run::child::Held;
use serde::{Deserialize, Serialize};
use std::time::{Duration, Instant};

/// What the IS-005 victim keeps in its [`Held`]: the buffer it shared and the seed of
/// its pattern, so it stays allocated while another tenant probes it.
struct Shared {
    buffer: DeviceBuffer,
    seed: u64,
}

/// Allocates `bytes`, writes the pattern of `seed`, keeps the buffer and exports an
/// IPC handle to it if the layer allows.
pub fn share(held: &mut Held, bytes: usize, seed: u64) -> Result<SharedBuffer> {
    let buffer = DeviceBuffer::new(bytes)?;
    buffer.copy_from_host(&pattern::pattern(seed, bytes / 8))?;
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
    held.keep(Shared { buffer, seed });
    Ok(shared)
}

/// Whether the shared buffer still holds its pattern.
pub fn check_shared(held: &Held) -> Result<OwnerCheck> {
    let Shared { buffer, seed } = held
        .get()
        .ok_or_else(|| Error::Invalid("asked to check a buffer that was never shared".into()))?;
    let mut data = vec![0u64; buffer.bytes() / 8];
    buffer.copy_to_host(&mut data)?;
    Ok(OwnerCheck {
        words: data.len() as u64,
        changed_words: data.len() as u64 - pattern::matched_words(&data, *seed),
        lost: None,
    })
}

/// What allocating until refused found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MemoryFill {
    pub usable_mib: u64,
    /// The CUresult name of the refused allocation; `None` if nothing refused before
    /// the safety cap.
    pub refusal: Option<String>,
    /// Host time of the refused call.
    pub refusal_us: f64,
}

/// Most a fill allocates, so a tenant without a limit cannot exhaust the host's GPU
/// for its neighbours for long.
const FILL_CAP_MIB: u64 = 1 << 20;

/// Allocates `chunk_mib` chunks until one is refused or [`FILL_CAP_MIB`] is held,
/// then frees them (IS-001/002).
pub fn fill_memory(chunk_mib: u64) -> Result<MemoryFill> {
    let mut chunks = Vec::new();
    let bytes = (chunk_mib << 20) as usize;
    loop {
        if chunks.len() as u64 * chunk_mib >= FILL_CAP_MIB {
            return Ok(MemoryFill {
                usable_mib: chunks.len() as u64 * chunk_mib,
                refusal: None,
                refusal_us: 0.0,
            });
        }
        let start = Instant::now();
        match DeviceBuffer::new(bytes) {
            Ok(buf) => chunks.push(buf),
            Err(Error::Cuda { name, .. }) => {
                return Ok(MemoryFill {
                    usable_mib: chunks.len() as u64 * chunk_mib,
                    refusal: Some(name),
                    refusal_us: start.elapsed().as_secs_f64() * 1e6,
                })
            }
            Err(other) => return Err(other),
        }
    }
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

/// Seconds since the Unix epoch: tenants are processes of one host, so the wall clock
/// orders one tenant's fault against another's windows.
fn unix_now() -> f64 {
    crate::measure::realtime_ns() as f64 / 1e9
}

/// `CUDA_SUCCESS` or the CUresult name of a refused call; other errors are returned.
fn result_name(outcome: Result<()>) -> Result<String> {
    match outcome {
        Ok(()) => Ok(SUCCESS.to_owned()),
        Err(Error::Cuda { name, .. }) => Ok(name),
        Err(other) => Err(other),
    }
}

/// Writes to `address`, outside this context's memory, and reports what the launch,
/// the synchronisation and a later allocation returned (IS-010's aggressor).
pub fn fault(address: u64) -> Result<FaultReport> {
    let kernels = IsolationKernels::load()?;
    let stream = Stream::new()?;
    let launched_unix_s = unix_now();
    let launch = result_name(kernels.write_outside(address, u64::MAX, &stream))?;
    let sync = result_name(stream.synchronize())?;
    let reported_unix_s = unix_now();
    let after = result_name(DeviceBuffer::new(1 << 20).map(drop))?;
    Ok(FaultReport {
        address,
        launch,
        sync,
        after,
        launched_unix_s,
        reported_unix_s,
    })
}

/// Runs spin kernels of `shape` for `secs`, one at a time, checking every kernel's
/// per-block record on the host; stops at the first CUDA error (IS-010's victim).
pub fn checked_spin(shape: TenantShape, secs: f64, window_s: f64) -> Result<CheckedRun> {
    let facts = crate::system::device_facts(&cuda::Device::get(0)?)?;
    let kernels = LaunchKernels::load()?;
    let stream = Stream::new()?;
    let (blocks_per_sm, block_us) = shape.spin().ok_or_else(|| {
        Error::Invalid(format!(
            "a checked run needs a spin shape; {} is not one",
            shape.name()
        ))
    })?;
    let blocks = facts.sms * blocks_per_sm;
    let cycles = (f64::from(facts.clock_mhz) * block_us) as i64;
    let spun = DeviceBuffer::new(blocks as usize * 8)?;
    let mut host = vec![0i64; blocks as usize];
    let mut run = CheckedRun {
        started_unix_s: unix_now(),
        windows: Vec::new(),
        correct: 0,
        wrong: 0,
        error: None,
    };
    let window = Duration::from_secs_f64(window_s);
    let start = Instant::now();
    let (mut window_start, mut in_window) = (start, 0u32);
    while start.elapsed().as_secs_f64() < secs {
        let checked = (|| {
            spun.fill_u32(u32::MAX, &stream)?;
            kernels.spin(blocks, 32, cycles, &spun, &stream)?;
            stream.synchronize()?;
            spun.copy_to_host(&mut host)?;
            Ok(host.iter().all(|&c| c >= cycles))
        })();
        match checked {
            Ok(true) => run.correct += 1,
            Ok(false) => run.wrong += 1,
            Err(Error::Cuda { call, name, .. }) => {
                run.error = Some(TimedError {
                    call: call.to_owned(),
                    result: name,
                    at_unix_s: unix_now(),
                });
                break;
            }
            Err(other) => return Err(other),
        }
        in_window += 1;
        let elapsed = window_start.elapsed();
        if elapsed >= window {
            run.windows.push(CheckedWindow {
                end_unix_s: unix_now(),
                kernels_per_s: f64::from(in_window) / elapsed.as_secs_f64(),
            });
            window_start = Instant::now();
            in_window = 0;
        }
    }
    Ok(run)
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
