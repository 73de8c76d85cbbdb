//! The device's arithmetic peaks from its attributes: the bound no throughput figure
//! may exceed. Datasheets quote the same product (SMs x clock x per-SM rate); the
//! clock attribute is the maximum boost clock, so the bound errs high, never low.

use crate::baseline::DeviceFacts;

/// A bound a throughput is held against, known when it is measured.
#[derive(Debug, Clone, PartialEq)]
pub struct Peak {
    pub source: String,
    /// In the unit of the figure it bounds (TFLOPS here).
    pub value: f64,
}

/// Which arithmetic unit a kernel's FLOPs run on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pipe {
    /// Tensor cores, bf16 or fp16 inputs with f32 accumulate (dense).
    Tensor16,
    /// CUDA cores, f32 fused multiply-add.
    Fp32,
}

/// Dense FLOPs per SM per clock, by compute capability. For 16-bit tensor cores the
/// figure is the architecture's highest (some GeForce parts run f32 accumulate at
/// half of it): an upper bound is what catches impossible figures.
pub(crate) fn flops_per_sm_clock(cc: &str, pipe: Pipe) -> Option<f64> {
    let (major, minor) = cc.split_once('.')?;
    let (major, minor): (u32, u32) = (major.parse().ok()?, minor.parse().ok()?);
    let per_clock = match (pipe, major, minor) {
        (Pipe::Tensor16, 7, _) | (Pipe::Tensor16, 8, 6..=9) | (Pipe::Tensor16, 12, _) => 1024,
        (Pipe::Tensor16, 8, 0) => 2048,
        (Pipe::Tensor16, 9, 0) => 4096,
        (Pipe::Tensor16, 10, _) => 8192,
        (Pipe::Fp32, 7, _) | (Pipe::Fp32, 8, 0) => 128,
        (Pipe::Fp32, 8, 6..=9) | (Pipe::Fp32, 9 | 10 | 12, _) => 256,
        _ => return None,
    };
    Some(f64::from(per_clock))
}

/// The peak in TFLOPS of `pipe` on this device, or `None` for an architecture this
/// build has no rate for (a throughput is then shown without a fraction of peak).
pub fn peak_tflops(device: &DeviceFacts, pipe: Pipe) -> Option<Peak> {
    let per_clock = flops_per_sm_clock(&device.cc, pipe)?;
    let what = match pipe {
        Pipe::Tensor16 => "16-bit tensor cores",
        Pipe::Fp32 => "f32 FMA",
    };
    Some(Peak {
        source: format!(
            "{what} from device attributes: {} SMs x {} MHz x {per_clock} FLOP/clock (cc {})",
            device.sms, device.clock_mhz, device.cc
        ),
        value: f64::from(device.sms) * f64::from(device.clock_mhz) * 1e6 * per_clock / 1e12,
    })
}

/// The DRAM's rate in GB/s (reads and writes together): memory clock x bus width x 2
/// for double data rate; `None` where the device reports no clock or width.
pub fn dram_peak(clock_khz: i32, bus_bits: i32) -> Option<Peak> {
    (clock_khz > 0 && bus_bits > 0).then(|| Peak {
        source: format!(
            "DRAM from device attributes: {} MHz x {bus_bits}-bit bus x 2 (double data rate)",
            clock_khz / 1000
        ),
        value: f64::from(clock_khz) * 1e3 * 2.0 * f64::from(bus_bits) / 8.0 / 1e9,
    })
}

/// [`dram_peak`] of `device`, read from its attributes.
pub fn device_dram_peak(device: &crate::cuda::Device) -> crate::error::Result<Option<Peak>> {
    use crate::cuda::CUdevice_attribute as Attr;
    Ok(dram_peak(
        device.attribute(Attr::CU_DEVICE_ATTRIBUTE_MEMORY_CLOCK_RATE)?,
        device.attribute(Attr::CU_DEVICE_ATTRIBUTE_GLOBAL_MEMORY_BUS_WIDTH)?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_dram_peak_is_clock_times_bus_times_two() {
        // H100 SXM: 2619 MHz, 5120-bit HBM3: 3.35 TB/s on the datasheet.
        let h100 = dram_peak(2_619_000, 5120).unwrap();
        assert!((h100.value - 3352.3).abs() < 0.1, "{}", h100.value);
        assert!(h100.source.contains("2619 MHz x 5120-bit"));
        assert!(dram_peak(0, 5120).is_none());
        assert!(dram_peak(2_619_000, 0).is_none());
    }

    fn device(cc: &str, sms: u32, clock_mhz: u32) -> DeviceFacts {
        DeviceFacts {
            name: "test".into(),
            cc: cc.into(),
            sms,
            memory_mib: 1,
            driver: "13.0".into(),
            clock_mhz,
        }
    }

    #[test]
    fn h100_matches_its_datasheet_at_boost_clock() {
        // 989 dense bf16 TFLOPS at 1830 MHz on the datasheet; the attribute's clock
        // is the 1980 MHz boost, so the bound is that figure scaled up.
        let h100 = device("9.0", 132, 1980);
        let tensor = peak_tflops(&h100, Pipe::Tensor16).unwrap().value;
        assert!((tensor - 989.4 * 1980.0 / 1830.0).abs() < 1.0, "{tensor}");
        let fp32 = peak_tflops(&h100, Pipe::Fp32).unwrap().value;
        assert!((fp32 - 66.9).abs() < 0.1, "{fp32}");
    }

    #[test]
    fn a100_and_rtx_3080_match_their_datasheets() {
        let a100 = device("8.0", 108, 1410);
        assert!((peak_tflops(&a100, Pipe::Tensor16).unwrap().value - 312.0).abs() < 1.0);
        // RTX 3080: 119 dense fp16 TFLOPS (fp16 accumulate) at 1710 MHz, so an
        // f32-accumulate figure of the published 599 "TFLOPS" is refused.
        let rtx = device("8.6", 68, 1710);
        assert!((peak_tflops(&rtx, Pipe::Tensor16).unwrap().value - 119.1).abs() < 0.5);
    }

    #[test]
    fn unknown_architecture_has_no_peak() {
        assert!(peak_tflops(&device("5.2", 24, 1000), Pipe::Tensor16).is_none());
        assert!(peak_tflops(&device("garbage", 1, 1), Pipe::Fp32).is_none());
    }
}
