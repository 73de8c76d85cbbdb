//! kernels/random.cu: uniform random fills on the device.

use super::arg;
use crate::cuda::{DeviceBuffer, Function, Module, Precision, Stream};
use crate::error::Result;
use crate::kernels;

/// Blocks and threads of a fill: the grid-stride loop covers any size.
const GRID: (u32, u32) = (1024, 256);

pub struct RandomKernels {
    fills: [Function; 3],
}

impl RandomKernels {
    pub fn load() -> Result<Self> {
        let module = Module::load("random", kernels::RANDOM)?;
        Ok(Self {
            fills: [
                module.function("uniform_bf16")?,
                module.function("uniform_f16")?,
                module.function("uniform_f32")?,
            ],
        })
    }

    /// Fills `buf`, read as elements of `p`, with values uniform in
    /// [-amplitude, amplitude) that only `seed` decides.
    pub fn uniform(
        &self,
        buf: &DeviceBuffer,
        p: Precision,
        seed: u64,
        amplitude: f32,
        stream: &Stream,
    ) -> Result<()> {
        let f = &self.fills[p as usize];
        let mut ptr = buf.device_ptr();
        let mut n = (buf.bytes() / p.bytes()) as u64;
        let (mut seed, mut amplitude) = (seed, amplitude);
        let mut params = [
            arg(&mut ptr),
            arg(&mut n),
            arg(&mut seed),
            arg(&mut amplitude),
        ];
        // SAFETY: (T*, unsigned long long, unsigned long long, float) as declared; n
        // covers exactly the buffer, which callers keep until `stream` is synchronised.
        unsafe { f.launch(GRID.0, GRID.1, 0, stream, &mut params) }
    }
}
