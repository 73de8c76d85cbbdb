//! The operations ENF's probe children are asked for. Every one replies with a
//! [`Probed`], so the runner reads each probe's child, and its crash, one way.

use super::memory::{self, MemoryOutcome, MemoryRequest};
use super::state_file::{self, Tampered};
use crate::baseline::DeviceFacts;
use crate::cuda::{Context, LaunchKernels};
use crate::error::Result;
use crate::run::child::{Handler, Held, Operation};
use crate::system::{GemmPath, Launch, ShapeRun, VerifyShape};
use serde::{Deserialize, Serialize};

/// The operations of ENF's probe children.
pub const OPERATIONS: &[Handler] = &[
    Handler::of::<MemoryRequest>(),
    Handler::of::<TamperStateFile>(),
    Handler::of::<SmProbe>(),
    Handler::of::<GemmProbe>(),
];

/// What a probe child reports; `Absent` says why the path asked for does not exist
/// in this process.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Probed {
    Memory(MemoryOutcome),
    Spin(ShapeRun),
    Tampered(Tampered),
    Absent { why: String },
}

/// The memory probe: hold memory on one path, then give it all back.
impl Operation for MemoryRequest {
    const NAME: &'static str = "memory";
    type Reply = Probed;
    fn serve(self, ctx: &Context, _: &mut Held) -> Result<Probed> {
        memory::probe(ctx, &self).map(Probed::Memory)
    }
}

/// The state-file tamper: rewrite the limits in the state file this child's
/// environment names, which its own interposer has mapped too.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TamperStateFile {
    pub limit: Option<u64>,
    pub sm_pct: Option<u32>,
}

impl Operation for TamperStateFile {
    const NAME: &'static str = "tamper-state-file";
    type Reply = Probed;
    fn serve(self, _: &Context, _: &mut Held) -> Result<Probed> {
        state_file::tamper(self.limit, self.sm_pct).map(Probed::Tampered)
    }
}

/// The SM probe: blocks of fixed work on all SMs for `secs`, its kernels launched by
/// `launch`. The grid is sized from `device`, the facts the parent read natively, as
/// an IS tenant's spin is.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SmProbe {
    pub launch: Launch,
    pub blocks_per_sm: u32,
    pub block_us: f64,
    pub batch_us: f64,
    pub secs: f64,
    pub device: DeviceFacts,
}

impl Operation for SmProbe {
    const NAME: &'static str = "sm-probe";
    type Reply = Probed;
    fn serve(self, _: &Context, _: &mut Held) -> Result<Probed> {
        if let Some(why) = self.launch.missing() {
            return Ok(Probed::Absent { why });
        }
        let shape = VerifyShape {
            name: "enforcement",
            blocks_per_sm: self.blocks_per_sm,
            block_us: self.block_us,
        };
        let kernels = LaunchKernels::load()?;
        crate::system::run_shape_via(
            &kernels,
            &self.device,
            &shape,
            self.secs,
            self.batch_us,
            self.launch,
        )
        .map(Probed::Spin)
    }
}

/// The GEMM probe: our bf16 GEMM of 4096³ on `path` for `secs`, checked against the
/// naive kernel first; absent where the path cannot run on this device (the
/// persistent grid off Hopper), never run in another shape in its place.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GemmProbe {
    pub path: GemmPath,
    pub secs: f64,
}

impl Operation for GemmProbe {
    const NAME: &'static str = "gemm-probe";
    type Reply = Probed;
    fn serve(self, _: &Context, _: &mut Held) -> Result<Probed> {
        Ok(match crate::system::try_run_gemm(self.path, self.secs)? {
            Ok(run) => Probed::Spin(run),
            Err(why) => Probed::Absent { why },
        })
    }
}
