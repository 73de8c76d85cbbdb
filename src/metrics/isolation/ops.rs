//! The operations IS tenants are asked for, each a typed request with its reply; the
//! work itself is in [`super::tenant`], run in the tenant's own context.

use super::fault::{CheckedRun, FaultReport};
use super::memory::{MemoryProbe, OwnerCheck, SharedBuffer};
use super::shape::TenantShape;
use super::tenant::{self, MemoryFill};
use crate::baseline::DeviceFacts;
use crate::cuda::{Context, IpcHandle, LaunchKernels};
use crate::error::Result;
use crate::run::child::{Handler, Held, Operation};
use crate::system::{GemmPath, ShapeRun, VerifyShape};
use serde::{Deserialize, Serialize};

/// The operations of IS tenants.
pub const OPERATIONS: &[Handler] = &[
    Handler::of::<Work>(),
    Handler::of::<FillMemory>(),
    Handler::of::<ShareMemory>(),
    Handler::of::<ProbeMemory>(),
    Handler::of::<CheckShared>(),
    Handler::of::<Fault>(),
    Handler::of::<CheckedSpin>(),
];

/// The work of a tenant shape for `secs`, one kernel at a time.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Work {
    /// Blocks of fixed work on all SMs. The grid is sized from `device`, the facts
    /// the parent read natively: under an SM partition (MPS) the tenant's own device
    /// attribute shows only its share, and work sized from it would shrink with the
    /// partition and hide it.
    Spin {
        blocks_per_sm: u32,
        block_us: f64,
        secs: f64,
        device: DeviceFacts,
    },
    /// A bf16 GEMM of 4096³ on `path`: ours on one block per tile or on the persistent
    /// grid, or cuBLAS's (IS-003).
    Gemm { path: GemmPath, secs: f64 },
}

impl Operation for Work {
    const NAME: &'static str = "work";
    type Reply = ShapeRun;
    fn serve(self, _: &Context, _: &mut Held) -> Result<ShapeRun> {
        match self {
            Self::Spin {
                blocks_per_sm,
                block_us,
                secs,
                ref device,
            } => {
                let shape = VerifyShape {
                    name: "tenant",
                    blocks_per_sm,
                    block_us,
                };
                let kernels = LaunchKernels::load()?;
                crate::system::run_shape(&kernels, device, &shape, secs, block_us)
            }
            Self::Gemm { path, secs } => crate::system::run_gemm(path, secs),
        }
    }
}

/// Allocate `chunk_mib` chunks until one is refused, then free them (IS-001/002).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FillMemory {
    pub chunk_mib: u64,
}

impl Operation for FillMemory {
    const NAME: &'static str = "fill-memory";
    type Reply = MemoryFill;
    fn serve(self, _: &Context, _: &mut Held) -> Result<MemoryFill> {
        tenant::fill_memory(self.chunk_mib)
    }
}

/// IS-005 victim: allocate `bytes`, write the pattern of `seed`, keep it, export it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ShareMemory {
    pub bytes: usize,
    pub seed: u64,
}

impl Operation for ShareMemory {
    const NAME: &'static str = "share-memory";
    type Reply = SharedBuffer;
    fn serve(self, _: &Context, held: &mut Held) -> Result<SharedBuffer> {
        tenant::share(held, self.bytes, self.seed)
    }
}

/// IS-005 aggressor: try to read another tenant's memory.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProbeMemory {
    pub address: u64,
    pub bytes: usize,
    pub seed: u64,
    pub ipc_handle: Option<IpcHandle>,
}

impl Operation for ProbeMemory {
    const NAME: &'static str = "probe-memory";
    type Reply = MemoryProbe;
    fn serve(self, _: &Context, _: &mut Held) -> Result<MemoryProbe> {
        tenant::probe(self.address, self.bytes, self.seed, self.ipc_handle)
    }
}

/// IS-005 victim: does the shared buffer still hold its pattern?
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CheckShared;

impl Operation for CheckShared {
    const NAME: &'static str = "check-shared";
    type Reply = OwnerCheck;
    fn serve(self, _: &Context, held: &mut Held) -> Result<OwnerCheck> {
        tenant::check_shared(held)
    }
}

/// IS-010 aggressor: write to `address`, which no allocation covers.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Fault {
    pub address: u64,
}

impl Operation for Fault {
    const NAME: &'static str = "fault";
    type Reply = FaultReport;
    fn serve(self, _: &Context, _: &mut Held) -> Result<FaultReport> {
        tenant::fault(self.address)
    }
}

/// IS-010 victim: spin kernels of `shape` for `secs`, every one checked.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CheckedSpin {
    pub shape: TenantShape,
    pub secs: f64,
    pub window_s: f64,
}

impl Operation for CheckedSpin {
    const NAME: &'static str = "checked-spin";
    type Reply = CheckedRun;
    fn serve(self, _: &Context, _: &mut Held) -> Result<CheckedRun> {
        tenant::checked_spin(self.shape, self.secs, self.window_s)
    }
}
