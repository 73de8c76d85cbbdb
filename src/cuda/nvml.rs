//! NVML (libnvidia-ml), opened at run time like cuBLAS: it ships with the driver, so
//! the crate still builds and runs its CPU tests where there is none. It reads what
//! a process of another program holds on the device, which no CUDA call of ours can.

use crate::error::{Error, Result};
use std::ffi::{c_char, c_void};

type Status = i32;
type DeviceHandle = *mut c_void;

const SUCCESS: Status = 0;
const ERROR_INSUFFICIENT_SIZE: Status = 7;
/// `usedGpuMemory` where NVML cannot tell (e.g. without the privilege to).
const VALUE_NOT_AVAILABLE: u64 = u64::MAX;

/// `nvmlProcessInfo_t` (the layout of the `_v2` and `_v3` process queries).
#[repr(C)]
#[derive(Clone, Copy, Default)]
struct ProcessInfo {
    pid: u32,
    used_gpu_memory: u64,
    _gpu_instance_id: u32,
    _compute_instance_id: u32,
}

/// `nvmlMemory_t`.
#[repr(C)]
#[derive(Default)]
struct MemoryInfo {
    _total: u64,
    _free: u64,
    used: u64,
}

type InitFn = unsafe extern "C" fn() -> Status;
type ShutdownFn = unsafe extern "C" fn() -> Status;
type CountFn = unsafe extern "C" fn(*mut u32) -> Status;
type HandleFn = unsafe extern "C" fn(u32, *mut DeviceHandle) -> Status;
type ProcessesFn = unsafe extern "C" fn(DeviceHandle, *mut u32, *mut ProcessInfo) -> Status;
type MemoryFn = unsafe extern "C" fn(DeviceHandle, *mut MemoryInfo) -> Status;
type ErrorStringFn = unsafe extern "C" fn(Status) -> *const c_char;
type HandleByBusFn = unsafe extern "C" fn(*const c_char, *mut DeviceHandle) -> Status;
type LinkFn = unsafe extern "C" fn(DeviceHandle, *mut u32) -> Status;
type NvLinkStateFn = unsafe extern "C" fn(DeviceHandle, u32, *mut u32) -> Status;

/// `NVML_NVLINK_MAX_LINKS`: the most NVLinks a device of any current generation has.
const NVLINK_MAX_LINKS: u32 = 18;

/// The PCIe link of one device as NVML reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PcieLink {
    /// The highest generation the device and the system allow: the link may train
    /// down when idle, so the current one would bound a busy copy too low.
    pub max_generation: u32,
    pub current_generation: u32,
    /// Lanes the link trained to.
    pub width: u32,
}

/// NVML's PCIe link queries, absent from drivers too old to have them.
#[derive(Clone, Copy)]
struct LinkFns {
    handle_by_bus: HandleByBusFn,
    max_generation: LinkFn,
    current_generation: LinkFn,
    width: LinkFn,
}

/// An initialised NVML with a handle of every device; shut down when dropped.
pub struct Nvml {
    shutdown: ShutdownFn,
    processes: ProcessesFn,
    memory: MemoryFn,
    error_string: ErrorStringFn,
    link: Option<LinkFns>,
    nvlink_state: Option<NvLinkStateFn>,
    devices: Vec<DeviceHandle>,
    /// Keeps the entry points above valid; dropped last.
    _lib: libloading::Library,
}

impl Nvml {
    /// `None` where libnvidia-ml.so.1 cannot be opened or initialised, or has neither
    /// the `_v3` nor the `_v2` process query (older drivers).
    pub fn load() -> Option<Self> {
        // SAFETY: opening libnvidia-ml runs only its initialisers.
        let lib = unsafe { libloading::Library::new("libnvidia-ml.so.1") }.ok()?;
        // SAFETY: the symbols have these C signatures in nvml.h.
        let (init, shutdown, count, handle, processes, memory, error_string) = unsafe {
            let processes = lib
                .get::<ProcessesFn>(b"nvmlDeviceGetComputeRunningProcesses_v3\0")
                .or_else(|_| lib.get::<ProcessesFn>(b"nvmlDeviceGetComputeRunningProcesses_v2\0"))
                .ok()?;
            (
                *lib.get::<InitFn>(b"nvmlInit_v2\0").ok()?,
                *lib.get::<ShutdownFn>(b"nvmlShutdown\0").ok()?,
                *lib.get::<CountFn>(b"nvmlDeviceGetCount_v2\0").ok()?,
                *lib.get::<HandleFn>(b"nvmlDeviceGetHandleByIndex_v2\0")
                    .ok()?,
                *processes,
                *lib.get::<MemoryFn>(b"nvmlDeviceGetMemoryInfo\0").ok()?,
                *lib.get::<ErrorStringFn>(b"nvmlErrorString\0").ok()?,
            )
        };
        // SAFETY: the symbols have these C signatures in nvml.h.
        let link = unsafe {
            (|| {
                Some(LinkFns {
                    handle_by_bus: *lib
                        .get::<HandleByBusFn>(b"nvmlDeviceGetHandleByPciBusId_v2\0")
                        .ok()?,
                    max_generation: *lib
                        .get::<LinkFn>(b"nvmlDeviceGetMaxPcieLinkGeneration\0")
                        .ok()?,
                    current_generation: *lib
                        .get::<LinkFn>(b"nvmlDeviceGetCurrPcieLinkGeneration\0")
                        .ok()?,
                    width: *lib
                        .get::<LinkFn>(b"nvmlDeviceGetCurrPcieLinkWidth\0")
                        .ok()?,
                })
            })()
        };
        // SAFETY: the symbol has this C signature in nvml.h.
        let nvlink_state = unsafe { lib.get::<NvLinkStateFn>(b"nvmlDeviceGetNvLinkState\0") }
            .ok()
            .map(|f| *f);
        // SAFETY: no preconditions; balanced by nvmlShutdown in Drop.
        if unsafe { init() } != SUCCESS {
            return None;
        }
        let mut nvml = Self {
            shutdown,
            processes,
            memory,
            error_string,
            link,
            nvlink_state,
            devices: Vec::new(),
            _lib: lib,
        };
        let mut devices = 0;
        // SAFETY: writes one unsigned int.
        if unsafe { count(&mut devices) } != SUCCESS {
            return None;
        }
        for index in 0..devices {
            let mut device = std::ptr::null_mut();
            // SAFETY: index is below the count; writes one handle.
            if unsafe { handle(index, &mut device) } != SUCCESS {
                return None;
            }
            nvml.devices.push(device);
        }
        Some(nvml)
    }

    /// Device memory each compute process uses, by pid, summed over the devices;
    /// processes whose use NVML does not report are left out.
    pub fn process_memory(&self) -> Result<Vec<(u32, u64)>> {
        let mut used: Vec<(u32, u64)> = Vec::new();
        for &device in &self.devices {
            let mut infos = vec![ProcessInfo::default(); 64];
            let listed = loop {
                let mut count = infos.len() as u32;
                // SAFETY: `infos` holds `count` entries; NVML writes at most that many
                // and sets `count` to what it wrote, or to what it needs.
                let status = unsafe { (self.processes)(device, &mut count, infos.as_mut_ptr()) };
                match status {
                    SUCCESS => break count as usize,
                    ERROR_INSUFFICIENT_SIZE => {
                        infos.resize(count as usize + 16, ProcessInfo::default())
                    }
                    other => return Err(self.error("nvmlDeviceGetComputeRunningProcesses", other)),
                }
            };
            for info in infos[..listed.min(infos.len())]
                .iter()
                .filter(|info| info.used_gpu_memory != VALUE_NOT_AVAILABLE)
            {
                match used.iter_mut().find(|(pid, _)| *pid == info.pid) {
                    Some((_, bytes)) => *bytes += info.used_gpu_memory,
                    None => used.push((info.pid, info.used_gpu_memory)),
                }
            }
        }
        Ok(used)
    }

    /// Used memory of every device, summed.
    pub fn used_memory(&self) -> Result<u64> {
        let mut total = 0;
        for &device in &self.devices {
            let mut info = MemoryInfo::default();
            // SAFETY: writes one nvmlMemory_t.
            let status = unsafe { (self.memory)(device, &mut info) };
            if status != SUCCESS {
                return Err(self.error("nvmlDeviceGetMemoryInfo", status));
            }
            total += info.used;
        }
        Ok(total)
    }

    /// The PCIe link of the device at `bus_id` (as `cuDeviceGetPCIBusId` gives it);
    /// `None` where this NVML has no link queries.
    pub fn pcie_link(&self, bus_id: &str) -> Result<Option<PcieLink>> {
        let Some(link) = self.link else {
            return Ok(None);
        };
        let device = self.by_bus(link, bus_id)?;
        let read = |f: LinkFn, call: &'static str| {
            let mut value = 0;
            // SAFETY: `device` is a live handle; writes one unsigned int.
            match unsafe { f(device, &mut value) } {
                SUCCESS => Ok(value),
                status => Err(self.error(call, status)),
            }
        };
        Ok(Some(PcieLink {
            max_generation: read(link.max_generation, "nvmlDeviceGetMaxPcieLinkGeneration")?,
            current_generation: read(
                link.current_generation,
                "nvmlDeviceGetCurrPcieLinkGeneration",
            )?,
            width: read(link.width, "nvmlDeviceGetCurrPcieLinkWidth")?,
        }))
    }

    /// How many of the NVLinks of the device at `bus_id` are active: 0 where it has
    /// none or this NVML cannot tell (a link NVML does not support counts as absent).
    pub fn active_nvlinks(&self, bus_id: &str) -> Result<u32> {
        let (Some(link), Some(state)) = (self.link, self.nvlink_state) else {
            return Ok(0);
        };
        let device = self.by_bus(link, bus_id)?;
        Ok((0..NVLINK_MAX_LINKS)
            .filter(|&l| {
                let mut active = 0;
                // SAFETY: `device` is a live handle; writes one nvmlEnableState_t.
                unsafe { state(device, l, &mut active) == SUCCESS && active != 0 }
            })
            .count() as u32)
    }

    /// The handle of the device at `bus_id`.
    fn by_bus(&self, link: LinkFns, bus_id: &str) -> Result<DeviceHandle> {
        let id = std::ffi::CString::new(bus_id)
            .map_err(|_| Error::Invalid(format!("PCI bus id {bus_id:?} holds a NUL byte")))?;
        let mut device = std::ptr::null_mut();
        // SAFETY: `id` is NUL-terminated; writes one handle.
        let status = unsafe { (link.handle_by_bus)(id.as_ptr(), &mut device) };
        if status != SUCCESS {
            return Err(self.error("nvmlDeviceGetHandleByPciBusId", status));
        }
        Ok(device)
    }

    fn error(&self, call: &'static str, status: Status) -> Error {
        // SAFETY: nvmlErrorString returns a static string for any value.
        let name = unsafe { std::ffi::CStr::from_ptr((self.error_string)(status)) };
        Error::Cuda {
            call,
            name: name.to_string_lossy().into_owned(),
            code: status as u32,
        }
    }
}

impl Drop for Nvml {
    fn drop(&mut self) {
        // SAFETY: balanced with the successful nvmlInit_v2 in `load`.
        let _ = unsafe { (self.shutdown)() };
    }
}
