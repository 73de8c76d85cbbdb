//! OH-005's trivial driver calls, each resolved once from libcuda and then called
//! through its own pointer: a per-call lookup (cudarc resolves lazily behind a
//! `OnceLock` on every call) would be timed as the interposer's cost.

use super::{check, Device};
use crate::error::{Error, Result};
use cudarc::driver::sys;
use std::ffi::c_int;

type GetVersion = unsafe extern "C" fn(*mut c_int) -> sys::CUresult;
type GetDevice = unsafe extern "C" fn(*mut sys::CUdevice) -> sys::CUresult;
type GetAttribute =
    unsafe extern "C" fn(*mut c_int, sys::CUdevice_attribute, sys::CUdevice) -> sys::CUresult;

/// A call with nothing to do in the driver, so what OH-005 times is the hook's cost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HookedCall {
    DriverGetVersion,
    CtxGetDevice,
    DeviceGetAttribute,
}

impl HookedCall {
    pub const ALL: [Self; 3] = [
        Self::DriverGetVersion,
        Self::CtxGetDevice,
        Self::DeviceGetAttribute,
    ];

    /// The entry point's name, also the metric's variant.
    pub fn name(self) -> &'static str {
        match self {
            Self::DriverGetVersion => "cuDriverGetVersion",
            Self::CtxGetDevice => "cuCtxGetDevice",
            Self::DeviceGetAttribute => "cuDeviceGetAttribute",
        }
    }
}

/// The entry points of [`HookedCall`], looked up by the same `dlsym` on the same
/// libcuda handle that every other driver call of the crate goes through, so an
/// interposer that hooks `dlsym` hands out its own functions here too.
pub struct HookedCalls {
    get_version: GetVersion,
    get_device: GetDevice,
    get_attribute: GetAttribute,
    device: sys::CUdevice,
}

/// One entry point of libcuda as the loader (or an interposer's `dlsym`) gives it.
fn resolve<F: Copy>(name: &str) -> Result<F> {
    super::init()?;
    // SAFETY: `F` is the entry point's C signature as the driver's header declares it.
    unsafe { sys::culib().get::<F>(name.as_bytes()) }
        .map(|symbol| *symbol)
        .map_err(|e| Error::Invalid(format!("libcuda has no {name}: {e}")))
}

impl HookedCalls {
    pub fn resolve(device: &Device) -> Result<Self> {
        Ok(Self {
            get_version: resolve("cuDriverGetVersion")?,
            get_device: resolve("cuCtxGetDevice")?,
            get_attribute: resolve("cuDeviceGetAttribute")?,
            device: device.raw(),
        })
    }

    /// Makes `calls` back-to-back calls of `call` and checks the last status; the
    /// loop holds nothing but the call.
    pub fn repeat(&self, call: HookedCall, calls: u32) -> Result<()> {
        let (mut int, mut dev) = (0, 0);
        // SAFETY: each pointer is the entry point of its declared signature; the
        // outputs are locals, `self.device` came from the driver, and callers hold a
        // current context (cuCtxGetDevice needs one).
        let last = unsafe {
            match call {
                HookedCall::DriverGetVersion => repeat(calls, || (self.get_version)(&mut int)),
                HookedCall::CtxGetDevice => repeat(calls, || (self.get_device)(&mut dev)),
                HookedCall::DeviceGetAttribute => repeat(calls, || {
                    (self.get_attribute)(
                        &mut int,
                        sys::CUdevice_attribute::CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT,
                        self.device,
                    )
                }),
            }
        };
        check(last, call.name())
    }
}

/// `calls` calls of `f`, monomorphised per call site so the loop body is the call.
#[inline(always)]
fn repeat(calls: u32, mut f: impl FnMut() -> sys::CUresult) -> sys::CUresult {
    let mut last = sys::CUresult::CUDA_SUCCESS;
    for _ in 0..calls {
        last = f();
    }
    last
}
