//! The bound of a collective's bus bandwidth: the slowest rank's link to its peers,
//! its NVLinks where NVML reports any active, else its PCIe link, one direction.
//! A bus bandwidth above it is a wrong count or a broken timer.

use crate::cuda::{CUdevice_attribute as Attr, Device, Nvml};
use crate::metrics::pcie::link::link_peak;
use crate::system::Peak;

/// GB/s one NVLink carries per direction, by the compute capability's major version:
/// NVLink 1 (Pascal) 20, NVLink 2-4 (Volta, Ampere, Hopper) 25, NVLink 5 (Blackwell)
/// 50. Taken from the architecture rather than NVML's link version, whose encoding
/// changed between drivers (H100s have been reported as version 5).
fn per_link_gbps(cc_major: i32) -> Option<f64> {
    match cc_major {
        6 => Some(20.0),
        7..=9 => Some(25.0),
        10 => Some(50.0),
        _ => None,
    }
}

/// The NVLink bound of a device of `cc_major` with `links` active links.
fn nvlink_peak(cc_major: i32, links: u32) -> Option<Peak> {
    let per = per_link_gbps(cc_major)?;
    (links > 0).then(|| Peak {
        source: format!(
            "NVLink: {links} active links (NVML) x {per} GB/s per direction (compute capability {cc_major}.x)"
        ),
        value: f64::from(links) * per,
    })
}

/// The lowest of the ranks' bounds, named after its device.
fn lowest(peaks: Vec<(i32, Peak)>) -> Option<Peak> {
    peaks
        .into_iter()
        .min_by(|a, b| a.1.value.total_cmp(&b.1.value))
        .map(|(ordinal, p)| Peak {
            source: format!(
                "device {ordinal}'s link, the slowest of the ranks': {}",
                p.source
            ),
            value: p.value,
        })
}

/// One device's link to its peers, or why it is unknown.
fn device_peak(device: &Device, nvml: Option<&Nvml>) -> Result<Peak, String> {
    let cc_major = device
        .attribute(Attr::CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR)
        .map_err(|e| e.to_string())?;
    let bus = device.pci_bus_id().map_err(|e| e.to_string())?;
    let links = match nvml {
        Some(nvml) => nvml.active_nvlinks(&bus).map_err(|e| e.to_string())?,
        None => 0,
    };
    match nvlink_peak(cc_major, links) {
        Some(peak) => Ok(peak),
        None if links > 0 => Err(format!(
            "{links} NVLinks of compute capability {cc_major}.x, whose rate this build does not know"
        )),
        None => link_peak(device),
    }
}

/// The bound of a collective over devices `0..n`, or why there is none.
pub fn collective_peak(n: usize) -> Result<Peak, String> {
    let nvml = Nvml::load();
    let peaks = (0..n as i32)
        .map(|ordinal| {
            let device = Device::get(ordinal).map_err(|e| e.to_string())?;
            device_peak(&device, nvml.as_ref())
                .map(|p| (ordinal, p))
                .map_err(|why| format!("device {ordinal}: {why}"))
        })
        .collect::<Result<Vec<_>, String>>()?;
    lowest(peaks).ok_or_else(|| "no peer link: one rank".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nvlink_bounds_are_links_times_the_architectures_rate() {
        // H100/H200 SXM: 18 links, 450 GB/s per direction.
        let hopper = nvlink_peak(9, 18).unwrap();
        assert_eq!(hopper.value, 450.0);
        assert!(
            hopper.source.contains("18 active links"),
            "{}",
            hopper.source
        );
        assert_eq!(nvlink_peak(8, 12).unwrap().value, 300.0);
        assert_eq!(nvlink_peak(10, 18).unwrap().value, 900.0);
        assert!(nvlink_peak(9, 0).is_none());
        assert!(nvlink_peak(5, 4).is_none());
    }

    #[test]
    fn the_collectives_bound_is_its_slowest_rank() {
        let peak = |value| Peak {
            source: "test".into(),
            value,
        };
        let p = lowest(vec![(0, peak(450.0)), (1, peak(63.0)), (2, peak(450.0))]).unwrap();
        assert_eq!(p.value, 63.0);
        assert!(p.source.starts_with("device 1's link"), "{}", p.source);
        assert!(lowest(Vec::new()).is_none());
    }
}
