//! The device's memory as no limit shows it: what caps every allocation the FRAG and
//! ERR metrics hold, so that even a limit that does not hold never takes the device's
//! last memory.

use crate::error::Result;
use crate::run::child::START_TIMEOUT;
use crate::run::ops::{MemInfo, ReadMemInfo};

/// Free and total memory as a native process sees them: read here where nothing
/// limits this process (no interposer mapped or configured, no MPS client), else by
/// a native child.
pub(crate) fn physical_memory() -> Result<MemInfo> {
    let limited = crate::system::mapped_interposer().is_some()
        || std::env::vars().any(|(var, _)| crate::run::is_interposer_var(&var))
        || std::env::var_os("CUDA_MPS_PIPE_DIRECTORY").is_some();
    if limited {
        crate::run::ask_native(&ReadMemInfo, START_TIMEOUT)
    } else {
        let (free, total) = crate::cuda::mem_info()?;
        Ok(MemInfo { free, total })
    }
}
