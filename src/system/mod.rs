//! What is running: the device and its facts, whether an interposer is loaded in
//! this process, and whether a configuration's limits are really in force.

mod gemm_load;
mod interposer;
mod peaks;
mod process;
mod verify;

pub use gemm_load::{run_gemm, try_run_gemm, GemmPath};
pub use interposer::{identify, mapped_interposer, slug};
pub use peaks::{device_dram_peak, dram_peak, peak_tflops, Peak, Pipe};
pub use process::{alive, proc_stat, ProcStat};
pub use verify::{
    blocking_problem, measure_reference, run_shape, run_shape_via, verify, Expect, Launch,
    Reference, ShapeRun, VerifyShape, BATCH_US, VERIFY_SHAPES, WINDOW,
};

use crate::baseline::DeviceFacts;
use crate::cuda::{self, Device};
use crate::error::Result;
use cudarc::driver::sys::CUdevice_attribute as Attr;

const MIB: u64 = 1 << 20;

/// Facts of device 0 from attributes; needs only `cuInit`, no context, so the parent
/// runner can read them without holding GPU state while its children measure.
pub fn device_facts(device: &Device) -> Result<DeviceFacts> {
    Ok(DeviceFacts {
        name: device.name()?,
        cc: {
            let (major, minor) = device.compute_capability()?;
            format!("{major}.{minor}")
        },
        sms: device.attribute(Attr::CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT)? as u32,
        memory_mib: device.total_mem()? / MIB,
        driver: cuda::driver_version()?,
        clock_mhz: (device.attribute(Attr::CU_DEVICE_ATTRIBUTE_CLOCK_RATE)? / 1000) as u32,
    })
}
