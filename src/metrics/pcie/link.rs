//! The PCIe link's theoretical rate per direction, the bound every host-device
//! figure is held to: generation and width from NVML, else from sysfs, else unknown
//! (and then said, with no fraction claimed).

use crate::cuda::{Device, Nvml};
use crate::system::Peak;
use std::path::Path;

/// Per-lane transfer rate (GT/s) and the share of it that carries data, by
/// generation: 8b/10b for gen 1-2, 128b/130b for gen 3-5. Gen 6 sends FLITs with no
/// line encoding; their CRC and FEC bytes are not taken off, so its bound errs high.
fn lane(generation: u32) -> Option<(f64, f64)> {
    Some(match generation {
        1 => (2.5, 0.8),
        2 => (5.0, 0.8),
        3 => (8.0, 128.0 / 130.0),
        4 => (16.0, 128.0 / 130.0),
        5 => (32.0, 128.0 / 130.0),
        6 => (64.0, 1.0),
        _ => return None,
    })
}

/// The generation whose lanes run at `gts` GT/s.
fn generation_of(gts: f64) -> Option<u32> {
    (1..=6).find(|&g| lane(g).is_some_and(|(rate, _)| (rate - gts).abs() < 0.01))
}

/// GB/s one direction of a link of `generation` and `width` lanes carries.
fn link_gbps(generation: u32, width: u32) -> Option<f64> {
    let (gts, efficiency) = lane(generation)?;
    (width > 0).then(|| gts * f64::from(width) * efficiency / 8.0)
}

/// The GT/s of a sysfs `*_link_speed` file: "32.0 GT/s PCIe", "8 GT/s", or
/// "Unknown".
fn parse_speed(text: &str) -> Option<f64> {
    let number = text.split_whitespace().next()?;
    let gts: f64 = number.parse().ok()?;
    (text.contains("GT/s") && gts > 0.0).then_some(gts)
}

/// The lanes of a sysfs `*_link_width` file ("16").
fn parse_width(text: &str) -> Option<u32> {
    text.trim().parse().ok().filter(|&w| w > 0)
}

fn peak(generation: u32, width: u32, how: String) -> Option<Peak> {
    let (gts, efficiency) = lane(generation)?;
    Some(Peak {
        source: format!(
            "PCIe gen{generation} x{width} ({how}): {gts} GT/s x {width} lanes x {efficiency:.4} / 8, one direction"
        ),
        value: link_gbps(generation, width)?,
    })
}

/// The link's rate from the files of the device's folder under /sys/bus/pci/devices:
/// the highest speed the device supports (a link trains down when idle, so the
/// current speed would bound a busy copy too low) and the width it trained to.
fn from_sysfs(dir: &Path) -> Result<Peak, String> {
    let read = |name: &str| {
        std::fs::read_to_string(dir.join(name))
            .map_err(|e| format!("{}: {e}", dir.join(name).display()))
    };
    let speed = read("max_link_speed")?;
    let width = read("current_link_width")?;
    let gts =
        parse_speed(&speed).ok_or_else(|| format!("link speed {:?} is no rate", speed.trim()))?;
    let generation =
        generation_of(gts).ok_or_else(|| format!("{gts} GT/s is no PCIe generation"))?;
    let width = parse_width(&width)
        .ok_or_else(|| format!("link width {:?} is no lane count", width.trim()))?;
    peak(generation, width, format!("sysfs {}", dir.display()))
        .ok_or_else(|| format!("gen{generation} x{width} has no rate"))
}

/// The link's rate from NVML.
fn from_nvml(bus_id: &str) -> Result<Peak, String> {
    let nvml = Nvml::load().ok_or("NVML (libnvidia-ml.so.1) does not load")?;
    let link = nvml
        .pcie_link(bus_id)
        .map_err(|e| e.to_string())?
        .ok_or("this NVML has no PCIe link queries")?;
    peak(
        link.max_generation,
        link.width,
        format!(
            "NVML, highest generation; gen{} now",
            link.current_generation
        ),
    )
    .ok_or_else(|| {
        format!(
            "NVML reports gen{} x{}, which has no rate",
            link.max_generation, link.width
        )
    })
}

/// The theoretical rate of `device`'s link, or why it is unknown.
pub fn link_peak(device: &Device) -> Result<Peak, String> {
    let bus_id = device.pci_bus_id().map_err(|e| e.to_string())?;
    from_nvml(&bus_id).or_else(|nvml| {
        from_sysfs(&Path::new("/sys/bus/pci/devices").join(&bus_id))
            .map_err(|sysfs| format!("peak unknown: {nvml}; {sysfs}"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_rates_follow_the_generation_table() {
        // Gen5 x16: 32 GT/s x 16 x 128/130 / 8 = 63.0 GB/s per direction.
        assert!((link_gbps(5, 16).unwrap() - 63.015).abs() < 0.01);
        assert!((link_gbps(4, 16).unwrap() - 31.508).abs() < 0.01);
        assert!((link_gbps(3, 8).unwrap() - 7.877).abs() < 0.01);
        // Gen1 and gen2 lose a fifth to 8b/10b.
        assert_eq!(link_gbps(1, 16), Some(4.0));
        assert_eq!(link_gbps(2, 4), Some(2.0));
        assert_eq!(link_gbps(6, 16), Some(128.0));
        assert_eq!(link_gbps(7, 16), None);
        assert_eq!(link_gbps(5, 0), None);
    }

    #[test]
    fn sysfs_speeds_and_widths_parse() {
        assert_eq!(parse_speed("32.0 GT/s PCIe\n"), Some(32.0));
        assert_eq!(parse_speed("8 GT/s"), Some(8.0));
        assert_eq!(parse_speed("2.5 GT/s PCIe"), Some(2.5));
        assert_eq!(parse_speed("Unknown"), None);
        assert_eq!(parse_speed("16"), None);
        assert_eq!(parse_width("16\n"), Some(16));
        assert_eq!(parse_width("0"), None);
        assert_eq!(parse_width("x16"), None);
        assert_eq!(generation_of(32.0), Some(5));
        assert_eq!(generation_of(2.5), Some(1));
        assert_eq!(generation_of(10.0), None);
    }

    #[test]
    fn a_sysfs_folder_gives_the_peak_or_says_why_not() {
        let dir = tempfile::tempdir().unwrap();
        let err = from_sysfs(dir.path()).unwrap_err();
        assert!(err.contains("max_link_speed"), "{err}");
        std::fs::write(dir.path().join("max_link_speed"), "32.0 GT/s PCIe\n").unwrap();
        std::fs::write(dir.path().join("current_link_width"), "16\n").unwrap();
        let p = from_sysfs(dir.path()).unwrap();
        assert!((p.value - 63.015).abs() < 0.01);
        assert!(
            p.source.starts_with("PCIe gen5 x16 (sysfs "),
            "{}",
            p.source
        );
        std::fs::write(dir.path().join("max_link_speed"), "Unknown\n").unwrap();
        assert!(from_sysfs(dir.path()).unwrap_err().contains("no rate"));
    }
}
