//! NCCL (libnccl), opened at run time like NVML: it ships with frameworks (pip's
//! nvidia-nccl wheels) rather than with the driver, often off the loader's path, so
//! its path may be named and its absence is a typed error the collective metrics
//! report as not measured while the rest of the suite runs. cudarc's own loader is
//! not used: it tries no `libnccl.so.2` and takes no explicit path.

use super::{DeviceBuffer, Stream};
use crate::error::{Error, Result};
use std::ffi::{c_char, c_int, c_void};
use std::sync::OnceLock;

/// Names the library file to open instead of searching the loader's path.
pub const LIBNCCL_VAR: &str = "GPU_VIRT_BENCH_LIBNCCL";
/// The entry point `name` of `lib`, as the function type `F` its C signature is.
fn symbol<F: Copy>(
    lib: &'static libloading::Library,
    origin: &str,
    name: &[u8],
) -> std::result::Result<F, String> {
    // SAFETY: every caller names a symbol whose C signature in nccl.h is `F`; the
    // library is never unloaded, so the pointer stays valid.
    unsafe { lib.get::<F>(name) }
        .map(|s| *s)
        .map_err(|e| format!("{origin}: {e}"))
}

/// The names tried on the loader's path, the versioned one first.
const NAMES: [&str; 2] = ["libnccl.so.2", "libnccl.so"];
/// `NCCL_UNIQUE_ID_BYTES`.
pub const UNIQUE_ID_BYTES: usize = 128;

type Status = c_int;
type CommHandle = *mut c_void;
type CuStream = cudarc::driver::sys::CUstream;

/// `ncclUniqueId`, passed by value to `ncclCommInitRank`.
#[repr(C)]
#[derive(Clone, Copy)]
struct RawId {
    internal: [c_char; UNIQUE_ID_BYTES],
}

/// `ncclDataType_t` values the suite sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DataType {
    Uint8 = 1,
    Float32 = 7,
}

/// `ncclSum`.
const SUM: c_int = 0;

type GetUniqueIdFn = unsafe extern "C" fn(*mut RawId) -> Status;
type CommInitRankFn = unsafe extern "C" fn(*mut CommHandle, c_int, RawId, c_int) -> Status;
type CommDestroyFn = unsafe extern "C" fn(CommHandle) -> Status;
type AllReduceFn = unsafe extern "C" fn(
    *const c_void,
    *mut c_void,
    usize,
    c_int,
    c_int,
    CommHandle,
    CuStream,
) -> Status;
type AllGatherFn =
    unsafe extern "C" fn(*const c_void, *mut c_void, usize, c_int, CommHandle, CuStream) -> Status;
type BroadcastFn = unsafe extern "C" fn(
    *const c_void,
    *mut c_void,
    usize,
    c_int,
    c_int,
    CommHandle,
    CuStream,
) -> Status;
type SendFn =
    unsafe extern "C" fn(*const c_void, usize, c_int, c_int, CommHandle, CuStream) -> Status;
type RecvFn =
    unsafe extern "C" fn(*mut c_void, usize, c_int, c_int, CommHandle, CuStream) -> Status;
type GroupFn = unsafe extern "C" fn() -> Status;
type ErrorStringFn = unsafe extern "C" fn(Status) -> *const c_char;
type VersionFn = unsafe extern "C" fn(*mut c_int) -> Status;

/// The library's entry points the collective metrics call.
pub struct Nccl {
    get_unique_id: GetUniqueIdFn,
    comm_init_rank: CommInitRankFn,
    comm_destroy: CommDestroyFn,
    all_reduce: AllReduceFn,
    all_gather: AllGatherFn,
    broadcast: BroadcastFn,
    send: SendFn,
    recv: RecvFn,
    group_start: GroupFn,
    group_end: GroupFn,
    error_string: ErrorStringFn,
    /// Where it was opened from, for the run's log.
    pub origin: String,
    /// `ncclGetVersion`, e.g. 22703 for 2.27.3.
    pub version: i32,
}

/// Where to look for the library: the named file alone, else the usual names.
fn candidates(named: Option<&str>) -> Vec<String> {
    match named.filter(|p| !p.is_empty()) {
        Some(path) => vec![path.to_string()],
        None => NAMES.iter().map(|n| n.to_string()).collect(),
    }
}

/// "2.27.3" from `ncclGetVersion`'s integer (major*10000 + minor*100 + patch since
/// 2.9; major*1000 + minor*100 + patch before).
pub fn version_name(code: i32) -> String {
    if code >= 10000 {
        format!("{}.{}.{}", code / 10000, code / 100 % 100, code % 100)
    } else {
        format!("{}.{}.{}", code / 1000, code / 100 % 10, code % 100)
    }
}

impl Nccl {
    /// The library, once per process, or [`Error::NoNccl`] saying where it was
    /// looked for. It stays loaded for the process's life, so communicators and
    /// entry points stay valid.
    pub fn load() -> Result<&'static Self> {
        static NCCL: OnceLock<std::result::Result<Nccl, String>> = OnceLock::new();
        NCCL.get_or_init(|| {
            let named = std::env::var(LIBNCCL_VAR).ok();
            let tried = candidates(named.as_deref());
            let mut failures = Vec::new();
            for name in &tried {
                // SAFETY: opening libnccl runs only its initialisers.
                match unsafe { libloading::Library::new(name) } {
                    Ok(lib) => return Self::bind(Box::leak(Box::new(lib)), name),
                    Err(e) => failures.push(format!("{name}: {e}")),
                }
            }
            Err(format!(
                "{} (set {LIBNCCL_VAR}=/path/to/libnccl.so.2, e.g. site-packages/nvidia/nccl/lib/libnccl.so.2)",
                failures.join("; ")
            ))
        })
        .as_ref()
        .map_err(|why| Error::NoNccl(why.clone()))
    }

    fn bind(lib: &'static libloading::Library, origin: &str) -> std::result::Result<Self, String> {
        let version: VersionFn = symbol(lib, origin, b"ncclGetVersion\0")?;
        let mut code = 0;
        // SAFETY: writes one int.
        let status = unsafe { version(&mut code) };
        if status != 0 {
            return Err(format!("{origin}: ncclGetVersion returned {status}"));
        }
        Ok(Self {
            get_unique_id: symbol(lib, origin, b"ncclGetUniqueId\0")?,
            comm_init_rank: symbol(lib, origin, b"ncclCommInitRank\0")?,
            comm_destroy: symbol(lib, origin, b"ncclCommDestroy\0")?,
            all_reduce: symbol(lib, origin, b"ncclAllReduce\0")?,
            all_gather: symbol(lib, origin, b"ncclAllGather\0")?,
            broadcast: symbol(lib, origin, b"ncclBroadcast\0")?,
            send: symbol(lib, origin, b"ncclSend\0")?,
            recv: symbol(lib, origin, b"ncclRecv\0")?,
            group_start: symbol(lib, origin, b"ncclGroupStart\0")?,
            group_end: symbol(lib, origin, b"ncclGroupEnd\0")?,
            error_string: symbol(lib, origin, b"ncclGetErrorString\0")?,
            origin: origin.to_string(),
            version: code,
        })
    }

    /// A fresh communicator id, made by the process of rank 0 and handed to every
    /// rank as its bytes.
    pub fn unique_id(&self) -> Result<Vec<u8>> {
        let mut id = RawId {
            internal: [0; UNIQUE_ID_BYTES],
        };
        // SAFETY: writes one ncclUniqueId.
        self.check(unsafe { (self.get_unique_id)(&mut id) }, "ncclGetUniqueId")?;
        Ok(id.internal.iter().map(|&b| b as u8).collect())
    }

    fn check(&self, status: Status, call: &'static str) -> Result<()> {
        if status == 0 {
            return Ok(());
        }
        // SAFETY: ncclGetErrorString returns a static string for any value.
        let name = unsafe { std::ffi::CStr::from_ptr((self.error_string)(status)) };
        Err(Error::Cuda {
            call,
            name: name.to_string_lossy().into_owned(),
            code: status as u32,
        })
    }
}

/// One rank's communicator on the device of the current context; destroyed on drop.
pub struct Comm {
    nccl: &'static Nccl,
    raw: CommHandle,
    pub nranks: usize,
    pub rank: usize,
}

impl Comm {
    /// Joins the communicator `id` names as `rank` of `nranks`; blocks until every
    /// rank has joined, so the ranks' processes must call it concurrently.
    pub fn join(nccl: &'static Nccl, id: &[u8], nranks: usize, rank: usize) -> Result<Self> {
        let bytes: [u8; UNIQUE_ID_BYTES] = id.try_into().map_err(|_| {
            Error::Invalid(format!(
                "an NCCL unique id is {UNIQUE_ID_BYTES} bytes, not {}",
                id.len()
            ))
        })?;
        if rank >= nranks {
            return Err(Error::Invalid(format!("rank {rank} of {nranks} ranks")));
        }
        let raw_id = RawId {
            internal: bytes.map(|b| b as c_char),
        };
        let count = |v: usize| {
            c_int::try_from(v).map_err(|_| Error::Invalid(format!("{v} ranks is too many")))
        };
        let mut raw = std::ptr::null_mut();
        // SAFETY: writes one communicator handle; the current context's device is
        // the rank's, which callers made current.
        nccl.check(
            unsafe { (nccl.comm_init_rank)(&mut raw, count(nranks)?, raw_id, count(rank)?) },
            "ncclCommInitRank",
        )?;
        Ok(Self {
            nccl,
            raw,
            nranks,
            rank,
        })
    }

    /// Sums `count` f32 of every rank's `send` into each rank's `recv`.
    pub fn all_reduce_sum(
        &self,
        send: &DeviceBuffer,
        recv: &DeviceBuffer,
        count: usize,
        stream: &Stream,
    ) -> Result<()> {
        holds("ncclAllReduce", &[(send, count * 4), (recv, count * 4)])?;
        // SAFETY: both buffers hold `count` f32 and outlive the call, callers
        // synchronising `stream` before dropping them.
        self.nccl.check(
            unsafe {
                (self.nccl.all_reduce)(
                    ptr(send),
                    ptr(recv).cast_mut(),
                    count,
                    DataType::Float32 as c_int,
                    SUM,
                    self.raw,
                    stream.raw(),
                )
            },
            "ncclAllReduce",
        )
    }

    /// Every rank's `bytes` of `send`, in rank order, into each rank's `recv`.
    pub fn all_gather(
        &self,
        send: &DeviceBuffer,
        recv: &DeviceBuffer,
        bytes: usize,
        stream: &Stream,
    ) -> Result<()> {
        holds(
            "ncclAllGather",
            &[(send, bytes), (recv, bytes * self.nranks)],
        )?;
        // SAFETY: sizes checked above; the buffers outlive the call as above.
        self.nccl.check(
            unsafe {
                (self.nccl.all_gather)(
                    ptr(send),
                    ptr(recv).cast_mut(),
                    bytes,
                    DataType::Uint8 as c_int,
                    self.raw,
                    stream.raw(),
                )
            },
            "ncclAllGather",
        )
    }

    /// Rank `root`'s `bytes` of `send` into every rank's `recv` (`send` is read on
    /// the root only).
    pub fn broadcast(
        &self,
        send: &DeviceBuffer,
        recv: &DeviceBuffer,
        bytes: usize,
        root: usize,
        stream: &Stream,
    ) -> Result<()> {
        holds("ncclBroadcast", &[(send, bytes), (recv, bytes)])?;
        // SAFETY: sizes checked above; the buffers outlive the call as above.
        self.nccl.check(
            unsafe {
                (self.nccl.broadcast)(
                    ptr(send),
                    ptr(recv).cast_mut(),
                    bytes,
                    DataType::Uint8 as c_int,
                    root as c_int,
                    self.raw,
                    stream.raw(),
                )
            },
            "ncclBroadcast",
        )
    }

    /// `bytes` of `send` to rank `to` and `bytes` from rank `from` into `recv`, in
    /// one group so neither waits for the other.
    pub fn exchange(
        &self,
        send: &DeviceBuffer,
        to: usize,
        recv: &DeviceBuffer,
        from: usize,
        bytes: usize,
        stream: &Stream,
    ) -> Result<()> {
        holds("ncclSend/ncclRecv", &[(send, bytes), (recv, bytes)])?;
        let n = &self.nccl;
        // SAFETY: no arguments; balanced by ncclGroupEnd below.
        n.check(unsafe { (n.group_start)() }, "ncclGroupStart")?;
        // SAFETY: sizes checked above; the buffers outlive the call as above.
        let sent = n.check(
            unsafe {
                (n.send)(
                    ptr(send),
                    bytes,
                    DataType::Uint8 as c_int,
                    to as c_int,
                    self.raw,
                    stream.raw(),
                )
            },
            "ncclSend",
        );
        // SAFETY: as above.
        let received = n.check(
            unsafe {
                (n.recv)(
                    ptr(recv).cast_mut(),
                    bytes,
                    DataType::Uint8 as c_int,
                    from as c_int,
                    self.raw,
                    stream.raw(),
                )
            },
            "ncclRecv",
        );
        // SAFETY: closes the group opened above, whatever its calls returned.
        let ended = n.check(unsafe { (n.group_end)() }, "ncclGroupEnd");
        sent.and(received).and(ended)
    }
}

impl Drop for Comm {
    fn drop(&mut self) {
        // SAFETY: raw came from ncclCommInitRank and is destroyed once.
        let _ = unsafe { (self.nccl.comm_destroy)(self.raw) };
    }
}

fn ptr(buf: &DeviceBuffer) -> *const c_void {
    buf.device_ptr() as *const c_void
}

/// Refuses a call whose buffers are smaller than it reads or writes.
fn holds(call: &str, buffers: &[(&DeviceBuffer, usize)]) -> Result<()> {
    match buffers.iter().find(|(buf, need)| buf.bytes() < *need) {
        Some((buf, need)) => Err(Error::Invalid(format!(
            "{call}: a buffer of {} bytes is too small for {need}",
            buf.bytes()
        ))),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_named_library_is_the_only_one_tried_else_the_usual_names() {
        assert_eq!(
            candidates(Some("/opt/nccl/libnccl.so.2")),
            vec!["/opt/nccl/libnccl.so.2"]
        );
        assert_eq!(candidates(None), vec!["libnccl.so.2", "libnccl.so"]);
        assert_eq!(candidates(Some("")), candidates(None));
    }

    #[test]
    fn versions_read_in_both_encodings() {
        assert_eq!(version_name(22703), "2.27.3");
        assert_eq!(version_name(21903), "2.19.3");
        assert_eq!(version_name(2804), "2.8.4");
    }
}
