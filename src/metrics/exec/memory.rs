//! Peak device memory of a command, sampled from this process while it runs: NVML's
//! figure of each process of the command's tree where NVML lists them, else the
//! device's used memory above its level before the run.

use crate::baseline::{MemorySource, PeakMemory};
use crate::cuda::{self, Context, Nvml};
use crate::error::Result;
use std::time::Duration;

/// Time between two samples: a peak held for less may be missed.
pub const SAMPLE: Duration = Duration::from_millis(20);
/// Parents followed from a process before it is taken for no descendant.
const MAX_DEPTH: usize = 64;

/// What samples device memory while a command runs.
pub trait MemoryProbe {
    /// Starts a run: forgets the last run's peak and reads the level before this one.
    fn begin(&mut self) -> Result<()>;
    /// One sample while process `root` (and whatever it started) runs.
    fn sample(&mut self, root: u32) -> Result<()>;
    /// The run's peak; `None` where no sample saw memory held for the command.
    fn peak(&self) -> Option<PeakMemory>;
}

/// Where the samples come from.
enum Source {
    Nvml(Nvml),
    /// The primary context of device 0, kept for cuMemGetInfo.
    MemInfo(Context),
}

/// The probe `exec` uses: NVML where it loads, else cuMemGetInfo in this process.
pub struct DeviceMemory {
    source: Source,
    before: u64,
    process_peak: Option<u64>,
    device_peak: u64,
}

impl DeviceMemory {
    /// Opens NVML, or, where it cannot be loaded, a context of this process's own on
    /// device 0 (the driver must be initialised).
    pub fn open() -> Result<Self> {
        let source = match Nvml::load() {
            Some(nvml) => Source::Nvml(nvml),
            None => Source::MemInfo(Context::primary(0)?),
        };
        Ok(Self {
            source,
            before: 0,
            process_peak: None,
            device_peak: 0,
        })
    }

    /// Where this probe's figures come from, before any run.
    pub fn describe(&self) -> &'static str {
        match self.source {
            Source::Nvml(_) => "NVML (per process where listed, else device used)",
            Source::MemInfo(_) => "cuMemGetInfo of device 0 (NVML not loadable)",
        }
    }

    fn device_used(&self) -> Result<u64> {
        match &self.source {
            Source::Nvml(nvml) => nvml.used_memory(),
            Source::MemInfo(ctx) => {
                ctx.make_current()?;
                let (free, total) = cuda::mem_info()?;
                Ok(total.saturating_sub(free))
            }
        }
    }
}

impl MemoryProbe for DeviceMemory {
    fn begin(&mut self) -> Result<()> {
        self.before = self.device_used()?;
        self.process_peak = None;
        self.device_peak = 0;
        Ok(())
    }

    fn sample(&mut self, root: u32) -> Result<()> {
        if let Source::Nvml(nvml) = &self.source {
            let listed = nvml.process_memory()?;
            let tree: Vec<u64> = listed
                .iter()
                .filter(|(pid, _)| descends_from(*pid, root, parent_pid))
                .map(|(_, bytes)| *bytes)
                .collect();
            if !tree.is_empty() {
                let held = tree.iter().sum::<u64>();
                self.process_peak = Some(self.process_peak.unwrap_or(0).max(held));
            }
        }
        let used = self.device_used()?;
        self.device_peak = self.device_peak.max(used.saturating_sub(self.before));
        Ok(())
    }

    fn peak(&self) -> Option<PeakMemory> {
        let (bytes, source) = match (&self.source, self.process_peak) {
            (Source::Nvml(_), Some(bytes)) => (bytes, MemorySource::NvmlProcess),
            (Source::Nvml(_), None) => (self.device_peak, MemorySource::NvmlDevice),
            (Source::MemInfo(_), _) => (self.device_peak, MemorySource::CuMemGetInfo),
        };
        (bytes > 0).then_some(PeakMemory {
            bytes,
            source,
            sample_ms: SAMPLE.as_millis() as u64,
        })
    }
}

/// A probe for tests without a GPU: counts its samples and reports a peak of 3 MiB
/// held by the command's processes.
#[cfg(test)]
#[derive(Default)]
pub(crate) struct Counting {
    pub begun: u32,
    pub samples: u32,
    pub roots: Vec<u32>,
}

#[cfg(test)]
impl MemoryProbe for Counting {
    fn begin(&mut self) -> Result<()> {
        self.begun += 1;
        Ok(())
    }

    fn sample(&mut self, root: u32) -> Result<()> {
        self.samples += 1;
        self.roots.push(root);
        Ok(())
    }

    fn peak(&self) -> Option<PeakMemory> {
        Some(PeakMemory {
            bytes: 3 << 20,
            source: MemorySource::NvmlProcess,
            sample_ms: SAMPLE.as_millis() as u64,
        })
    }
}

/// Whether `pid` is `root` or a descendant of it, following `parent` up.
fn descends_from(mut pid: u32, root: u32, parent: impl Fn(u32) -> Option<u32>) -> bool {
    for _ in 0..MAX_DEPTH {
        if pid == root {
            return true;
        }
        match parent(pid) {
            Some(up) if up != pid && up != 0 => pid = up,
            _ => return false,
        }
    }
    false
}

/// A process's parent, from /proc; `None` once it is gone.
fn parent_pid(pid: u32) -> Option<u32> {
    crate::system::proc_stat(pid).map(|s| s.parent)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descendants_are_found_up_the_tree_and_others_are_not() {
        // 1 <- 10 (root) <- 11 <- 12; 20 is a sibling of the root.
        let parent = |pid: u32| match pid {
            12 => Some(11),
            11 => Some(10),
            10 => Some(1),
            20 => Some(1),
            1 => Some(0),
            _ => None,
        };
        assert!(descends_from(10, 10, parent));
        assert!(descends_from(12, 10, parent));
        assert!(!descends_from(20, 10, parent));
        assert!(!descends_from(99, 10, parent), "gone from /proc");
        assert!(!descends_from(5, 10, Some), "a loop ends");
    }

    #[test]
    fn this_process_descends_from_its_parent_in_proc() {
        let me = std::process::id();
        let parent = parent_pid(me).expect("this process has a parent");
        assert!(descends_from(me, parent, parent_pid));
        assert!(!descends_from(parent, me, parent_pid));
    }
}
