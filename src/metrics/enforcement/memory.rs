//! The child side of a memory probe: take memory on one path, chunk by chunk, until
//! the target is held or the path refuses; write what was obtained so it is backed;
//! see what the driver reports and whether a plain allocation is still refused; give
//! everything back.

use crate::cuda::{
    self, trim_graph_memory, Chunk, Context, DeviceBuffer, EntryPoint, HeapKernels, MemPool,
    Runtime, Stream,
};
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};

/// The first allocation on every path: one that any limit leaves room for, so a
/// refusal of it is a path broken by the configuration, not a limit held.
pub const SMALL_BYTES: u64 = 64 << 20;
/// The plain cuMemAlloc tried after the path holds its memory: refused if the
/// interposer counted what the path took.
pub const FOLLOW_UP_BYTES: u64 = 1 << 30;

/// A way to take device memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MemPath {
    MemAlloc,
    Runtime,
    Pitch,
    Managed,
    Mapped,
    StreamOrdered,
    OwnPool,
    Array2d,
    Array3d,
    GraphNode,
    DeviceHeap,
    ProcAddress,
    FullPath,
}

/// What a probe child is asked: hold `target` bytes on `path`, `chunk` at a time.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MemoryRequest {
    pub path: MemPath,
    pub target: u64,
    pub chunk: u64,
}

/// What the child saw.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MemoryOutcome {
    /// Why the path does not exist in this process (no libcudart, no libcuda mapped).
    pub absent: Option<String>,
    /// Status of the [`SMALL_BYTES`] allocation: `None` where it succeeded.
    pub small_refused: Option<String>,
    /// Status of the call that ended the taking: "CUDA_SUCCESS" when the target was
    /// reached.
    pub status: String,
    pub obtained: u64,
    pub written: u64,
    /// cuMemGetInfo while the memory was held, as this process sees it.
    pub free_after: u64,
    pub total_after: u64,
    /// Status of the plain 1 GiB cuMemAlloc that followed: `None` where it succeeded.
    pub follow_up_refused: Option<String>,
    /// First failure while giving the memory back, if any.
    pub release: Option<String>,
    /// The device heap of a heap probe; `None` on every other path.
    #[serde(default)]
    pub heap: Option<DeviceHeap>,
}

/// The device heap behind a heap probe's figures: what was asked for, what the driver
/// set (it may round or clamp), how many launches of the taking kernel ran, and how
/// much of the figure device malloc gave (the rest came from cuMemAlloc).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceHeap {
    pub asked: u64,
    pub set: u64,
    pub rounds: u32,
    /// Absent in baselines of earlier releases, which took everything from the heap.
    #[serde(default)]
    pub from_heap: u64,
}

/// The status an error stands for in a probe's record.
fn status_of(e: &Error) -> String {
    match e {
        Error::Cuda { call, name, .. } => format!("{name} from {call}"),
        other => other.to_string(),
    }
}

/// Runs one memory probe in this process, which holds `ctx`.
pub fn probe(ctx: &Context, request: &MemoryRequest) -> Result<MemoryOutcome> {
    let stream = Stream::new()?;
    if request.path == MemPath::DeviceHeap {
        return heap(request, &stream);
    }
    let device = ctx.device();
    let pool = match request.path {
        MemPath::OwnPool => Some(MemPool::new(&device)?),
        _ => None,
    };
    let entry = match request.path {
        MemPath::ProcAddress => Some(EntryPoint::proc_address()?),
        MemPath::FullPath => match EntryPoint::full_path()? {
            Some((entry, _)) => Some(entry),
            None => {
                return Ok(nothing(
                    Some("no libcuda.so in /proc/self/maps".into()),
                    "not run",
                ))
            }
        },
        _ => None,
    };
    let runtime = match request.path {
        MemPath::Runtime => match Runtime::load() {
            Some(runtime) => Some(runtime),
            None => {
                return Ok(nothing(
                    Some("no libcudart on the loader's path".into()),
                    "not run",
                ))
            }
        },
        _ => None,
    };
    let alloc = |bytes: usize| -> Result<Chunk> {
        match request.path {
            MemPath::MemAlloc => Chunk::mem_alloc(bytes),
            MemPath::Runtime => Chunk::runtime(runtime.expect("loaded above"), bytes),
            MemPath::Pitch => Chunk::pitch(bytes),
            MemPath::Managed => Chunk::managed(bytes, &device, &stream),
            MemPath::Mapped => Chunk::mapped(bytes, &device),
            MemPath::StreamOrdered => Chunk::stream_ordered(bytes, &stream),
            MemPath::OwnPool => {
                Chunk::from_pool(pool.as_ref().expect("created above"), bytes, &stream)
            }
            MemPath::Array2d => Chunk::array_2d(bytes),
            MemPath::Array3d => Chunk::array_3d(bytes),
            MemPath::GraphNode => Chunk::graph_node(bytes, &device, &stream),
            MemPath::ProcAddress | MemPath::FullPath => {
                Chunk::entry_point(entry.as_ref().expect("resolved above"), bytes)
            }
            MemPath::DeviceHeap => unreachable!("the heap is taken by kernels"),
        }
    };
    // A refused free (HAMi-core answers -1 for some stream-ordered memory) is no
    // refused allocation: it goes with the other frees' status.
    let (small_refused, small_release) = match alloc(SMALL_BYTES as usize)
        .and_then(|chunk| written(&chunk, &stream).map(|_| chunk))
    {
        Ok(chunk) => (None, chunk.free().and_then(|()| cuda::synchronize()).err()),
        Err(e) => (Some(status_of(&e)), None),
    };
    let Taken {
        chunks,
        obtained,
        written: wrote,
        status,
    } = take_until(request.target, request.chunk, &stream, alloc);
    let held = Held {
        obtained,
        written: wrote,
        status,
        small_refused,
    };
    let release = |chunks: Vec<Chunk>| -> Option<String> {
        let first = chunks.into_iter().find_map(|c| c.free().err());
        let synced = cuda::synchronize().err();
        let trimmed = (request.path == MemPath::GraphNode)
            .then(|| trim_graph_memory(&device).err())
            .flatten();
        small_release
            .or(first)
            .or(synced)
            .or(trimmed)
            .map(|e| status_of(&e))
    };
    let outcome = held.observe(move || release(chunks))?;
    drop(pool);
    Ok(outcome)
}

/// Memory taken in pieces, each written on the device, up to a target or the first
/// refusal.
struct Taken {
    chunks: Vec<Chunk>,
    obtained: u64,
    written: u64,
    /// CUDA_SUCCESS, or the status of the refusal that ended the taking.
    status: String,
}

/// Takes `target` bytes with `alloc` in pieces of at most `chunk`, writing each;
/// a piece obtained but not written counts as obtained.
fn take_until(
    target: u64,
    chunk: u64,
    stream: &Stream,
    alloc: impl Fn(usize) -> Result<Chunk>,
) -> Taken {
    let mut taken = Taken {
        chunks: Vec::new(),
        obtained: 0,
        written: 0,
        status: "CUDA_SUCCESS".to_string(),
    };
    while taken.obtained < target {
        let bytes = chunk.min(target - taken.obtained) as usize;
        let outcome = alloc(bytes).and_then(|piece| {
            taken.obtained += piece.bytes() as u64;
            let outcome = written(&piece, stream);
            taken.chunks.push(piece);
            outcome
        });
        match outcome {
            Ok(bytes) => taken.written += bytes,
            Err(e) => {
                taken.status = status_of(&e);
                break;
            }
        }
    }
    taken
}

/// Writes `chunk` on the device and waits: the bytes written, 0 where the memory
/// has no address to write through (an array).
fn written(chunk: &Chunk, stream: &Stream) -> Result<u64> {
    let wrote = chunk.write(stream)?;
    stream.synchronize()?;
    Ok(if wrote { chunk.bytes() as u64 } else { 0 })
}

/// What a probe holds when it looks at the driver's figures.
struct Held {
    obtained: u64,
    written: u64,
    status: String,
    small_refused: Option<String>,
}

impl Held {
    /// cuMemGetInfo and the follow-up allocation while the memory is held; then
    /// `release` (given the memory back) names the first failure of the frees.
    fn observe(self, release: impl FnOnce() -> Option<String>) -> Result<MemoryOutcome> {
        let (free_after, total_after) = cuda::mem_info()?;
        let follow_up_refused = match DeviceBuffer::new(FOLLOW_UP_BYTES as usize) {
            Ok(buffer) => {
                drop(buffer);
                None
            }
            Err(e) => Some(status_of(&e)),
        };
        Ok(MemoryOutcome {
            absent: None,
            small_refused: self.small_refused,
            status: self.status,
            obtained: self.obtained,
            written: self.written,
            free_after,
            total_after,
            follow_up_refused,
            release: release(),
            heap: None,
        })
    }
}

/// An outcome with nothing taken: the path is `absent`, or refused at once with
/// `status`.
fn nothing(absent: Option<String>, status: &str) -> MemoryOutcome {
    MemoryOutcome {
        small_refused: absent.is_none().then(|| status.to_string()),
        absent,
        status: status.to_string(),
        obtained: 0,
        written: 0,
        free_after: 0,
        total_after: 0,
        follow_up_refused: None,
        release: None,
        heap: None,
    }
}

/// The device heap is taken in chunks a little under 64 MiB: small enough that a
/// target is reached to within one chunk whatever size limit the device allocator
/// has for one malloc (CUDA documents none), and under a power of two so an allocator
/// that rounds a request and its header up to one wastes almost nothing.
const HEAP_CHUNK_BYTES: u64 = (64 << 20) - (64 << 10);
/// Launches of the taking kernel at most: each retries only the chunks malloc
/// refused before (device malloc may refuse under contention what it gives later),
/// and a launch that gets nothing more ends the taking.
const HEAP_ROUNDS: u32 = 4;

/// The device heap a probe asks the driver for to hold `target` in malloc chunks:
/// the target and a sixteenth more (at least 128 MiB) for the allocator's own
/// bookkeeping, which the heap holds beside the chunks.
fn heap_bytes(target: u64) -> u64 {
    target + (target / 16).max(2 * SMALL_BYTES)
}

/// The device heap: its size is asked for once, before the module that calls malloc
/// is loaded or run (the heap is laid out then, and cannot change after), and read
/// back; then one kernel takes the small chunk, and one as much of the heap as the
/// target asks in [`HEAP_CHUNK_BYTES`] chunks (the request's chunk is for host
/// calls), each block writing its chunk, relaunched over the refused chunks for up
/// to [`HEAP_ROUNDS`]; cuMemAlloc takes the rest of the target.
fn heap(request: &MemoryRequest, stream: &Stream) -> Result<MemoryOutcome> {
    let asked = heap_bytes(request.target);
    if let Err(e) = cuda::set_heap_limit(asked as usize) {
        return Ok(nothing(None, &status_of(&e)));
    }
    let set = cuda::heap_limit()? as u64;
    let kernels = HeapKernels::load()?;
    let take = |chunk: u64, count: u64| -> Result<(DeviceBuffer, u64, u32)> {
        let slots = DeviceBuffer::new((count * 8) as usize)?;
        slots.fill_u32(0, stream)?;
        let mut host = vec![0u64; count as usize];
        let (mut got, mut rounds) = (0, 0);
        while rounds < HEAP_ROUNDS && got < count {
            kernels.take(chunk, &slots, stream)?;
            stream.synchronize()?;
            slots.copy_to_host(&mut host)?;
            rounds += 1;
            let now = host.iter().filter(|&&p| p != 0).count() as u64;
            if now == got {
                break;
            }
            got = now;
        }
        Ok((slots, got, rounds))
    };
    let give = |slots: &DeviceBuffer| {
        kernels
            .give(slots, stream)
            .and_then(|()| stream.synchronize())
    };
    let small_refused = match take(SMALL_BYTES, 1) {
        Ok((slots, got, _)) => {
            give(&slots)?;
            (got == 0).then(|| "device malloc returned NULL".to_string())
        }
        Err(e) => Some(status_of(&e)),
    };
    let count = request.target.min(set).div_ceil(HEAP_CHUNK_BYTES).max(1);
    let (slots, from_heap, heap_status, rounds) = match take(HEAP_CHUNK_BYTES, count) {
        Ok((slots, got, rounds)) => (Some(slots), got * HEAP_CHUNK_BYTES, None, rounds),
        Err(e) => (None, 0, Some(status_of(&e)), 0),
    };
    // The rest by cuMemAlloc: the driver caps the heap below a large GPU's memory
    // (about 16.5 GiB on the H200) and device malloc hands out only part of a heap,
    // so the heap alone could never exceed such a limit. Whether the heap is counted
    // shows in whether the cuMemAlloc on top of it is refused early.
    let rest = match heap_status {
        Some(status) => Taken {
            chunks: Vec::new(),
            obtained: 0,
            written: 0,
            status,
        },
        None => take_until(
            request.target.saturating_sub(from_heap),
            request.chunk,
            stream,
            Chunk::mem_alloc,
        ),
    };
    let held = Held {
        obtained: from_heap + rest.obtained,
        written: from_heap + rest.written,
        status: rest.status,
        small_refused,
    };
    let chunks = rest.chunks;
    let outcome = held.observe(|| {
        let heap = slots.and_then(|s| give(&s).err());
        let first = chunks.into_iter().find_map(|c| c.free().err());
        heap.or(first).map(|e| status_of(&e))
    })?;
    Ok(MemoryOutcome {
        heap: Some(DeviceHeap {
            asked,
            set,
            rounds,
            from_heap,
        }),
        ..outcome
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_heap_asked_for_holds_the_target_in_chunks_and_a_margin() {
        let target = 39_884u64 << 20;
        let heap = heap_bytes(target);
        assert_eq!(heap, target + target / 16);
        assert!(heap >= target.div_ceil(HEAP_CHUNK_BYTES) * HEAP_CHUNK_BYTES);
        assert_eq!(heap_bytes(512 << 20), (512 << 20) + 2 * SMALL_BYTES);
    }
}
