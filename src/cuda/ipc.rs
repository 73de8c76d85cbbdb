//! CUDA IPC: one process exports a handle to its allocation, another maps it. This is
//! the driver's explicit sharing path, which IS-005 checks an interposer lets through
//! or blocks, as opposed to a raw pointer, which must never work.

use super::{check, DeviceBuffer};
use crate::error::{Error, Result};
use cudarc::driver::sys;

/// An exported allocation, sent to another process as 128 hex digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(into = "String", try_from = "String")]
pub struct IpcHandle([u8; 64]);

impl IpcHandle {
    /// Exports `buffer` (`cuIpcGetMemHandle`).
    pub fn export(buffer: &DeviceBuffer) -> Result<Self> {
        let mut raw = sys::CUipcMemHandle { reserved: [0; 64] };
        // SAFETY: writes one handle; the pointer came from cuMemAlloc.
        check(
            unsafe { sys::cuIpcGetMemHandle(&mut raw, buffer.device_ptr()) },
            "cuIpcGetMemHandle",
        )?;
        Ok(Self(raw.reserved.map(|c| c as u8)))
    }
}

impl From<IpcHandle> for String {
    fn from(handle: IpcHandle) -> Self {
        handle.0.iter().map(|b| format!("{b:02x}")).collect()
    }
}

impl TryFrom<String> for IpcHandle {
    type Error = Error;

    fn try_from(hex: String) -> Result<Self> {
        let bad = || Error::Invalid(format!("an IPC handle is 128 hex digits, not '{hex}'"));
        if hex.len() != 128 || !hex.is_ascii() {
            return Err(bad());
        }
        let mut bytes = [0u8; 64];
        for (byte, pair) in bytes.iter_mut().zip(hex.as_bytes().chunks(2)) {
            let pair = std::str::from_utf8(pair).map_err(|_| bad())?;
            *byte = u8::from_str_radix(pair, 16).map_err(|_| bad())?;
        }
        Ok(Self(bytes))
    }
}

/// Another process's allocation mapped into the current context; unmapped on drop.
pub struct IpcMapping {
    ptr: sys::CUdeviceptr,
}

impl IpcMapping {
    /// Maps the allocation behind `handle` (`cuIpcOpenMemHandle`).
    pub fn open(handle: &IpcHandle) -> Result<Self> {
        let raw = sys::CUipcMemHandle {
            reserved: handle.0.map(|b| b as std::ffi::c_char),
        };
        let mut ptr = 0;
        // SAFETY: writes one CUdeviceptr; the handle is passed by value.
        check(
            unsafe {
                sys::cuIpcOpenMemHandle_v2(
                    &mut ptr,
                    raw,
                    sys::CUipcMem_flags::CU_IPC_MEM_LAZY_ENABLE_PEER_ACCESS as u32,
                )
            },
            "cuIpcOpenMemHandle",
        )?;
        Ok(Self { ptr })
    }

    /// The mapped address in this context.
    pub fn device_ptr(&self) -> u64 {
        self.ptr
    }
}

impl Drop for IpcMapping {
    fn drop(&mut self) {
        // SAFETY: ptr came from cuIpcOpenMemHandle and is closed once.
        let _ = unsafe { sys::cuIpcCloseMemHandle(self.ptr) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handles_travel_as_hex_and_malformed_ones_are_refused() {
        let mut bytes = [0u8; 64];
        bytes[0] = 0xab;
        bytes[63] = 0x01;
        let handle = IpcHandle(bytes);
        let json = serde_json::to_string(&handle).unwrap();
        assert!(
            json.starts_with("\"ab00") && json.ends_with("01\""),
            "{json}"
        );
        assert_eq!(serde_json::from_str::<IpcHandle>(&json).unwrap(), handle);
        for bad in ["\"ab\"".to_owned(), format!("\"{}\"", "zz".repeat(64))] {
            assert!(serde_json::from_str::<IpcHandle>(&bad).is_err(), "{bad}");
        }
    }
}
