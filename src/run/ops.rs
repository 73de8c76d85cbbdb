//! The run's own operations on a serving child: what a native process sees of the
//! device, read before and after the metrics, by no metric in particular.

use super::child::{Handler, Held, Operation};
use crate::baseline::DeviceFacts;
use crate::cuda::Context;
use crate::error::Result;
use crate::system::Reference;
use serde::{Deserialize, Serialize};

/// The operations registered here.
pub const OPERATIONS: &[Handler] = &[
    Handler::of::<ReadMemInfo>(),
    Handler::of::<ReadDeviceFacts>(),
    Handler::of::<MeasureReference>(),
];

/// cuMemGetInfo as this process sees it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReadMemInfo;

/// Free and total device memory, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MemInfo {
    pub free: u64,
    pub total: u64,
}

impl Operation for ReadMemInfo {
    const NAME: &'static str = "mem-info";
    type Reply = MemInfo;
    fn serve(self, _: &Context, _: &mut Held) -> Result<MemInfo> {
        let (free, total) = crate::cuda::mem_info()?;
        Ok(MemInfo { free, total })
    }
}

/// The device's facts as this process sees them, its memory the larger of
/// cuDeviceTotalMem and cuMemGetInfo's total: where the loader preloads HAMi-core
/// into every process, a native child has it too, and with no limit set HAMi-core
/// answers cuDeviceTotalMem with 0 (seen on the H200) while passing cuMemGetInfo
/// through.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReadDeviceFacts;

impl Operation for ReadDeviceFacts {
    const NAME: &'static str = "device-facts";
    type Reply = DeviceFacts;
    fn serve(self, ctx: &Context, _: &mut Held) -> Result<DeviceFacts> {
        let facts = crate::system::device_facts(&ctx.device())?;
        let (_, total) = crate::cuda::mem_info()?;
        Ok(DeviceFacts {
            memory_mib: facts.memory_mib.max(total >> 20),
            ..facts
        })
    }
}

/// The native throughput of every SM-share shape, `secs` each, on `device` (the
/// facts the parent read): the reference a configuration's share is read against.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MeasureReference {
    pub secs: f64,
    pub device: DeviceFacts,
}

impl Operation for MeasureReference {
    const NAME: &'static str = "reference";
    type Reply = Reference;
    fn serve(self, _: &Context, _: &mut Held) -> Result<Reference> {
        crate::system::measure_reference(&self.device, self.secs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_without_fields_survives_the_wire() {
        let payload = serde_json::to_value(ReadMemInfo).unwrap();
        serde_json::from_value::<ReadMemInfo>(payload.clone()).unwrap();
        serde_json::from_value::<ReadDeviceFacts>(payload).unwrap();
    }
}
