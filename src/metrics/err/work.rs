//! The small checked work that says a context works: a buffer of known values, the
//! `affine` kernel over it, every value read back and compared exactly.

use crate::cuda::{DeviceBuffer, PipelineKernels, Stream};
use crate::error::{Error, Result};

/// 1.0f32, the buffer's first value.
const ONE: u32 = 0x3f80_0000;

/// A buffer whose every f32 is known, advanced by `x = x + 1` one kernel at a time
/// (exact in f32 for far more steps than any check takes).
pub struct CheckedBuffer {
    buffer: DeviceBuffer,
    kernels: PipelineKernels,
    stream: Stream,
    expected: f32,
}

impl CheckedBuffer {
    pub fn new(bytes: usize) -> Result<Self> {
        let stream = Stream::new()?;
        let buffer = DeviceBuffer::new(bytes)?;
        buffer.fill_u32(ONE, &stream)?;
        stream.synchronize()?;
        Ok(Self {
            buffer,
            kernels: PipelineKernels::load()?,
            stream,
            expected: 1.0,
        })
    }

    /// One kernel over the whole buffer.
    pub fn step(&mut self) -> Result<()> {
        self.kernels.affine(&self.buffer, 1.0, 1.0, &self.stream)?;
        self.stream.synchronize()?;
        self.expected += 1.0;
        Ok(())
    }

    /// Every value read back equals what the steps so far make of it.
    pub fn verify(&self) -> Result<()> {
        let mut host = vec![0f32; self.buffer.bytes() / 4];
        self.buffer.copy_to_host(&mut host)?;
        match first_wrong(&host, self.expected) {
            Some((i, got)) => Err(Error::Incorrect {
                kernel: "affine",
                detail: format!("element {i} is {got}, expected {}", self.expected),
            }),
            None => Ok(()),
        }
    }

    pub fn free(self) -> Result<()> {
        self.buffer.free()
    }
}

/// The first element that is not `expected`, with its value.
fn first_wrong(values: &[f32], expected: f32) -> Option<(usize, f32)> {
    values
        .iter()
        .enumerate()
        .find(|(_, &v)| v != expected)
        .map(|(i, &v)| (i, v))
}

/// Allocates `bytes`, runs one checked kernel over them and frees them.
pub fn checked_work(bytes: usize) -> Result<()> {
    let mut buffer = CheckedBuffer::new(bytes)?;
    buffer.step()?;
    buffer.verify()?;
    buffer.free()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_wrong_value_is_found_and_one_is_the_start() {
        assert_eq!(f32::from_bits(ONE), 1.0);
        assert_eq!(first_wrong(&[3.0, 3.0], 3.0), None);
        assert_eq!(first_wrong(&[3.0, 2.0, 0.0], 3.0), Some((1, 2.0)));
    }
}
