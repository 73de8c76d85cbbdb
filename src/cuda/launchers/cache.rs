//! kernels/cache.cu: a working set filled with known words and read back repeatedly.

use super::{arg, buffer_holds};
use crate::cuda::{DeviceBuffer, Function, Module, Stream};
use crate::error::{Error, Result};
use crate::kernels;

/// Bytes of one load of `read_sum` (a uint4).
pub const READ_VECTOR_BYTES: usize = 16;

/// Threads per block of both kernels; the grid-stride loops cover any set.
const THREADS: u32 = 256;

/// kernels/cache.cu, loaded, its functions looked up once.
pub struct CacheKernels {
    fill_index: Function,
    read_sum: Function,
}

impl CacheKernels {
    pub fn load() -> Result<Self> {
        let module = Module::load("cache", kernels::CACHE)?;
        Ok(Self {
            fill_index: module.function("fill_index")?,
            read_sum: module.function("read_sum")?,
        })
    }

    /// Writes word i = i (mod 2^32) over the whole of `set`.
    pub fn fill_index(&self, blocks: u32, set: &DeviceBuffer, stream: &Stream) -> Result<()> {
        let mut ptr = set.device_ptr();
        let mut n = (set.bytes() / 4) as u64;
        // SAFETY: (unsigned int*, unsigned long long) as declared; n covers exactly the
        // buffer, which callers keep alive until `stream` is synchronised.
        unsafe {
            self.fill_index.launch(
                blocks,
                THREADS,
                0,
                stream,
                &mut [arg(&mut ptr), arg(&mut n)],
            )
        }
    }

    /// Reads all of `set` `passes` times and adds its words into the u64 at `sum`.
    pub fn read_sum(
        &self,
        blocks: u32,
        set: &DeviceBuffer,
        passes: u32,
        sum: &DeviceBuffer,
        stream: &Stream,
    ) -> Result<()> {
        if set.bytes() % READ_VECTOR_BYTES != 0 {
            return Err(Error::Invalid(format!(
                "read_sum: a set of {} bytes is no whole number of {READ_VECTOR_BYTES}-byte loads",
                set.bytes()
            )));
        }
        buffer_holds("read_sum", "sum", sum, 8)?;
        let mut ptr = set.device_ptr();
        let mut n_vec = (set.bytes() / READ_VECTOR_BYTES) as u64;
        let mut passes = passes as i32;
        let mut out = sum.device_ptr();
        let mut params = [
            arg(&mut ptr),
            arg(&mut n_vec),
            arg(&mut passes),
            arg(&mut out),
        ];
        // SAFETY: (const uint4*, unsigned long long, int, unsigned long long*) as
        // declared; n_vec covers exactly `set` and `sum` holds one u64, both kept alive
        // by callers until `stream` is synchronised.
        unsafe {
            self.read_sum
                .launch(blocks, THREADS, 0, stream, &mut params)
        }
    }
}
