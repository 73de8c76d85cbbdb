//! CUtensorMap: the descriptor through which Hopper kernels' tensor-copy engine reads
//! a 2D tile of global memory into shared memory, swizzled for wgmma.

use super::{check, DeviceBuffer};
use crate::error::{Error, Result};
use cudarc::driver::sys;
use std::ffi::c_void;

/// 16-bit element types a map reads; the type matters to the driver only for the
/// element size and the value of out-of-bounds fill (zero for both).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Element16 {
    Bf16,
    F16,
}

/// A tensor map, built by the driver and passed by value as a `__grid_constant__`
/// kernel parameter (the launch copies it from this 64-byte-aligned value).
pub struct TensorMap(sys::CUtensorMap);

impl TensorMap {
    /// The map over `buf` seen as `rows` rows of `cols` 16-bit values (row-major), read
    /// in boxes of `box_rows` rows by one 128-byte swizzle row (64 values): the shared
    /// layout kernels/sm90.cuh's wgmma descriptors describe. Rows past `rows` read as
    /// zeros.
    pub fn rows_16bit(
        buf: &DeviceBuffer,
        element: Element16,
        rows: usize,
        cols: usize,
        box_rows: u32,
    ) -> Result<Self> {
        let geometry = Geometry::new(rows, cols, box_rows)?;
        if buf.bytes() < rows * cols * 2 {
            return Err(Error::Invalid(format!(
                "tensor map: the buffer holds {} bytes, {rows} x {cols} 16-bit values need {}",
                buf.bytes(),
                rows * cols * 2
            )));
        }
        let data_type = match element {
            Element16::Bf16 => sys::CUtensorMapDataType::CU_TENSOR_MAP_DATA_TYPE_BFLOAT16,
            Element16::F16 => sys::CUtensorMapDataType::CU_TENSOR_MAP_DATA_TYPE_FLOAT16,
        };
        // SAFETY: CUtensorMap is plain bytes the driver overwrites.
        let mut map: sys::CUtensorMap = unsafe { std::mem::zeroed() };
        let (strides, element_strides) = ([geometry.row_stride], [1u32, 1]);
        // SAFETY: the arrays hold rank (2) entries, rank - 1 for the strides; the
        // address is a live allocation holding the rows (checked above).
        check(
            unsafe {
                sys::cuTensorMapEncodeTiled(
                    &mut map,
                    data_type,
                    2,
                    buf.device_ptr() as *mut c_void,
                    geometry.dims.as_ptr(),
                    strides.as_ptr(),
                    geometry.boxes.as_ptr(),
                    element_strides.as_ptr(),
                    sys::CUtensorMapInterleave::CU_TENSOR_MAP_INTERLEAVE_NONE,
                    sys::CUtensorMapSwizzle::CU_TENSOR_MAP_SWIZZLE_128B,
                    sys::CUtensorMapL2promotion::CU_TENSOR_MAP_L2_PROMOTION_L2_128B,
                    sys::CUtensorMapFloatOOBfill::CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE,
                )
            },
            "cuTensorMapEncodeTiled",
        )?;
        Ok(Self(map))
    }

    /// The kernel argument: a pointer to the map, as cuLaunchKernel takes every one.
    pub(crate) fn arg(&mut self) -> *mut c_void {
        (&mut self.0 as *mut sys::CUtensorMap).cast()
    }
}

/// 16-bit values per 128-byte swizzle row: a box's inner extent.
const SWIZZLE_COLS: u32 = 64;

/// The encoding's arrays: dims innermost first, the row stride in bytes, the box.
#[derive(Debug, PartialEq, Eq)]
struct Geometry {
    dims: [u64; 2],
    row_stride: u64,
    boxes: [u32; 2],
}

impl Geometry {
    /// What the driver accepts: strides in multiples of 16 bytes, boxes of at most 256
    /// rows, a row at least one swizzle row wide.
    fn new(rows: usize, cols: usize, box_rows: u32) -> Result<Self> {
        let row_stride = cols as u64 * 2;
        if rows == 0 || cols < SWIZZLE_COLS as usize || row_stride % 16 != 0 {
            return Err(Error::Invalid(format!(
                "tensor map: {rows} rows of {cols} 16-bit values; rows must be non-empty and \
                 at least {SWIZZLE_COLS} values, in multiples of 8"
            )));
        }
        if box_rows == 0 || box_rows > 256 {
            return Err(Error::Invalid(format!(
                "tensor map: a box of {box_rows} rows; 1 to 256 are encodable"
            )));
        }
        Ok(Self {
            dims: [cols as u64, rows as u64],
            row_stride,
            boxes: [SWIZZLE_COLS, box_rows],
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_of_one_token_with_a_swizzle_row_wide_box() {
        let g = Geometry::new(4 * 16 * 1024, 128, 128).unwrap();
        assert_eq!(g.dims, [128, 65_536]);
        assert_eq!(g.row_stride, 256);
        // the box's inner extent is one 128-byte swizzle row
        assert_eq!(g.boxes, [64, 128]);
        assert_eq!(g.boxes[0] * 2, 128);
    }

    #[test]
    fn refuses_what_the_driver_would() {
        for (rows, cols, box_rows) in [
            (0, 128, 128),
            (16, 32, 128),
            (16, 100, 128),
            (16, 128, 0),
            (16, 128, 257),
        ] {
            assert!(
                Geometry::new(rows, cols, box_rows).is_err(),
                "{rows} x {cols}, box {box_rows}"
            );
        }
        assert!(Geometry::new(1, 64, 256).is_ok());
    }
}
