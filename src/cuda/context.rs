use super::check;
use crate::error::{Error, Result};
use cudarc::driver::sys;

/// A device ordinal with the attributes the suite derives peaks and limits from.
#[derive(Debug, Clone, Copy)]
pub struct Device {
    raw: sys::CUdevice,
}

impl Device {
    /// How many devices this process sees (CUDA_VISIBLE_DEVICES applied).
    pub fn count() -> Result<i32> {
        super::init()?;
        let mut count = 0;
        // SAFETY: writes one int.
        check(
            unsafe { sys::cuDeviceGetCount(&mut count) },
            "cuDeviceGetCount",
        )?;
        Ok(count)
    }

    /// Device `ordinal`, after the driver has been initialised.
    pub fn get(ordinal: i32) -> Result<Self> {
        let count = Self::count()?;
        if ordinal >= count {
            return Err(Error::NoDevice);
        }
        let mut raw = 0;
        // SAFETY: ordinal checked against the count above.
        check(
            unsafe { sys::cuDeviceGet(&mut raw, ordinal) },
            "cuDeviceGet",
        )?;
        Ok(Self { raw })
    }

    /// The device of the calling thread's current context: what a launcher's kernels
    /// run on, whichever ordinal the caller made current.
    pub fn current() -> Result<Self> {
        let mut raw = 0;
        // SAFETY: writes one CUdevice; fails without a current context.
        check(unsafe { sys::cuCtxGetDevice(&mut raw) }, "cuCtxGetDevice")?;
        Ok(Self { raw })
    }

    pub fn compute_capability(&self) -> Result<(i32, i32)> {
        Ok((
            self.attribute(sys::CUdevice_attribute::CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR)?,
            self.attribute(sys::CUdevice_attribute::CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR)?,
        ))
    }

    pub fn ordinal(&self) -> i32 {
        self.raw
    }

    pub fn name(&self) -> Result<String> {
        let mut buf = [0 as std::ffi::c_char; 256];
        // SAFETY: the buffer length is passed.
        check(
            unsafe { sys::cuDeviceGetName(buf.as_mut_ptr(), buf.len() as i32, self.raw) },
            "cuDeviceGetName",
        )?;
        // SAFETY: the driver NUL-terminates within the given length.
        let name = unsafe { std::ffi::CStr::from_ptr(buf.as_ptr()) };
        Ok(name.to_string_lossy().trim().to_string())
    }

    pub fn attribute(&self, attr: sys::CUdevice_attribute) -> Result<i32> {
        let mut v = 0;
        // SAFETY: writes one int.
        check(
            unsafe { sys::cuDeviceGetAttribute(&mut v, attr, self.raw) },
            "cuDeviceGetAttribute",
        )?;
        Ok(v)
    }

    /// Physical memory in bytes; unlike `cuMemGetInfo` it is not rewritten by HAMi-core,
    /// which is what lets the verifier tell a configured limit from the real size.
    pub fn total_mem(&self) -> Result<u64> {
        let mut v = 0usize;
        // SAFETY: writes one size_t.
        check(
            unsafe { sys::cuDeviceTotalMem_v2(&mut v, self.raw) },
            "cuDeviceTotalMem",
        )?;
        Ok(v as u64)
    }

    /// Destroys every allocation and all state of the primary context, the one way a
    /// process can try to leave a sticky fault (illegal address) behind without
    /// exiting; the next retain starts it afresh.
    pub fn reset_primary(&self) -> Result<()> {
        // SAFETY: the device was obtained from cuDeviceGet; callers hold no buffer
        // of the primary context they use afterwards.
        check(
            unsafe { sys::cuDevicePrimaryCtxReset_v2(self.raw) },
            "cuDevicePrimaryCtxReset",
        )
    }

    /// The PCI address (domain:bus:device.function, lower case as sysfs names it),
    /// by which NVML and /sys/bus/pci find the link this device sits on.
    pub fn pci_bus_id(&self) -> Result<String> {
        let mut buf = [0 as std::ffi::c_char; 32];
        // SAFETY: the buffer length is passed.
        check(
            unsafe { sys::cuDeviceGetPCIBusId(buf.as_mut_ptr(), buf.len() as i32, self.raw) },
            "cuDeviceGetPCIBusId",
        )?;
        // SAFETY: the driver NUL-terminates within the given length.
        let id = unsafe { std::ffi::CStr::from_ptr(buf.as_ptr()) };
        Ok(id.to_string_lossy().trim().to_lowercase())
    }

    pub(crate) fn raw(&self) -> sys::CUdevice {
        self.raw
    }
}

/// A context made current on the calling thread for its lifetime. The primary
/// context is used, as the runtime API (and so every framework) does, so the
/// interposer sees the same path a real tenant takes.
pub struct Context {
    device: Device,
    raw: sys::CUcontext,
    primary: bool,
}

impl Context {
    /// Retains device `ordinal`'s primary context and makes it current.
    pub fn primary(ordinal: i32) -> Result<Self> {
        let device = Device::get(ordinal)?;
        let mut raw = std::ptr::null_mut();
        // SAFETY: device obtained from cuDeviceGet.
        check(
            unsafe { sys::cuDevicePrimaryCtxRetain(&mut raw, device.raw()) },
            "cuDevicePrimaryCtxRetain",
        )?;
        let ctx = Self {
            device,
            raw,
            primary: true,
        };
        ctx.make_current()?;
        Ok(ctx)
    }

    /// Creates a fresh, non-primary context (what OH-004 (a) times) and makes it current.
    pub fn create(device: Device) -> Result<Self> {
        let mut raw = std::ptr::null_mut();
        // SAFETY: device obtained from cuDeviceGet; flags 0 = default scheduling.
        check(
            unsafe { sys::cuCtxCreate_v2(&mut raw, 0, device.raw()) },
            "cuCtxCreate",
        )?;
        Ok(Self {
            device,
            raw,
            primary: false,
        })
    }

    pub fn make_current(&self) -> Result<()> {
        // SAFETY: raw is a live context owned by self.
        check(unsafe { sys::cuCtxSetCurrent(self.raw) }, "cuCtxSetCurrent")
    }

    pub fn device(&self) -> Device {
        self.device
    }

    /// Releases the context now and reports failure, which `Drop` cannot.
    pub fn destroy(self) -> Result<()> {
        let this = std::mem::ManuallyDrop::new(self);
        this.release()
    }

    fn release(&self) -> Result<()> {
        if self.primary {
            // SAFETY: balanced with the retain in `primary`.
            check(
                unsafe { sys::cuDevicePrimaryCtxRelease_v2(self.device.raw()) },
                "cuDevicePrimaryCtxRelease",
            )
        } else {
            // SAFETY: raw was created by cuCtxCreate and is destroyed once.
            check(unsafe { sys::cuCtxDestroy_v2(self.raw) }, "cuCtxDestroy")
        }
    }
}

/// Runs `f` with device `ordinal`'s primary context current on this thread, then
/// makes the context that was current before current again: the verifier checks
/// each device's limit in that device's own context without letting go of the
/// context the rest of the process works in.
pub fn on_device<T>(ordinal: i32, f: impl FnOnce(&Device) -> Result<T>) -> Result<T> {
    let mut before = std::ptr::null_mut();
    // SAFETY: writes one context handle (null where none is current).
    check(
        unsafe { sys::cuCtxGetCurrent(&mut before) },
        "cuCtxGetCurrent",
    )?;
    let ctx = Context::primary(ordinal)?;
    let outcome = f(&ctx.device);
    // SAFETY: `before` is the caller's context, which its owner still holds (or null).
    let restored = check(unsafe { sys::cuCtxSetCurrent(before) }, "cuCtxSetCurrent");
    drop(ctx);
    outcome.and_then(|v| restored.map(|()| v))
}

impl Drop for Context {
    fn drop(&mut self) {
        let _ = self.release();
    }
}
