//! The tenants' kernel shape (IS-003's axis). A limiter that charges per launched
//! block throttles many short blocks but lets a few long ones through (GPU.md), so
//! the same scenario is run once per shape and the shape is saved with it.

use super::ops::Work;
use crate::baseline::DeviceFacts;
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};

/// What each tenant runs, one kernel at a time. New shapes (e.g. a GEMM) are a new
/// variant here: [`TenantShape::request`] is the one place that turns a shape into
/// work for a tenant.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
pub enum TenantShape {
    /// 8 blocks per SM of ~0.1 ms: what a block-counting limiter sees most of. The
    /// default, also of scenarios saved before the shape was recorded.
    #[default]
    #[serde(rename = "short")]
    Short,
    /// One block per SM of ~1 ms.
    #[serde(rename = "1ms")]
    OneMs,
    /// One block per SM of ~10 ms, as persistent kernels run.
    #[serde(rename = "10ms")]
    TenMs,
    /// Our bf16 GEMM of 4096³ through the driver API: a real kernel's few, long blocks.
    #[serde(rename = "gemm")]
    Gemm,
    /// cuBLAS's bf16 GEMM of 4096³, which reaches the driver through the runtime API.
    #[serde(rename = "gemm-cublas")]
    GemmCublas,
}

impl TenantShape {
    /// Every shape, in the order `isolate` runs them.
    pub const ALL: [Self; 5] = [
        Self::Short,
        Self::OneMs,
        Self::TenMs,
        Self::Gemm,
        Self::GemmCublas,
    ];
    /// The shapes `isolate` runs without `--shapes`: the short blocks a limiter
    /// throttles, long blocks it may let through, and a real GEMM, within the five
    /// minutes the default scenarios are held to.
    pub const DEFAULT: [Self; 3] = [Self::Short, Self::OneMs, Self::Gemm];

    /// The name used on the command line, in scenario names and in scenario.json.
    pub fn name(self) -> &'static str {
        match self {
            Self::Short => "short",
            Self::OneMs => "1ms",
            Self::TenMs => "10ms",
            Self::Gemm => "gemm",
            Self::GemmCublas => "gemm-cublas",
        }
    }

    /// What the shape is, for a reader of the report.
    pub fn describe(self) -> String {
        match (self, self.spin()) {
            (_, Some((blocks_per_sm, block_us))) => {
                let per_sm = if blocks_per_sm == 1 {
                    "1 block per SM".to_owned()
                } else {
                    format!("{blocks_per_sm} blocks per SM")
                };
                format!("{per_sm} of {} ms", block_us / 1000.0)
            }
            (Self::GemmCublas, None) => "cuBLAS bf16 GEMM of 4096^3, runtime API".to_owned(),
            (_, None) => "our bf16 GEMM of 4096^3, driver API".to_owned(),
        }
    }

    /// Blocks per SM and the nominal time of each block, in us, for the shapes of
    /// fixed FMA work (`fma_work`).
    pub(crate) fn spin(self) -> Option<(u32, f64)> {
        match self {
            Self::Short => Some((8, 100.0)),
            Self::OneMs => Some((1, 1_000.0)),
            Self::TenMs => Some((1, 10_000.0)),
            Self::Gemm | Self::GemmCublas => None,
        }
    }

    /// The work a tenant of this shape runs for `secs`, its grid sized from `device`
    /// (the physical facts, read natively).
    pub fn request(self, secs: f64, device: &DeviceFacts) -> Work {
        match (self, self.spin()) {
            (_, Some((blocks_per_sm, block_us))) => Work::Spin {
                blocks_per_sm,
                block_us,
                secs,
                device: device.clone(),
            },
            (shape, None) => Work::Gemm {
                cublas: shape == Self::GemmCublas,
                secs,
            },
        }
    }

    /// The folder and record name of `scenario` run with this shape: the short shape
    /// keeps the bare name, so scenarios saved before the axis existed still match.
    pub fn scenario_name(self, scenario: &str) -> String {
        match self {
            Self::Short => scenario.to_owned(),
            other => format!("{scenario}-{}", other.name()),
        }
    }

    /// The shapes of a comma-separated list, in its order and each once; an unknown
    /// name is an error naming the known ones.
    pub fn parse_list(list: &str) -> Result<Vec<Self>> {
        let mut shapes = Vec::new();
        for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            let shape = name.parse()?;
            if !shapes.contains(&shape) {
                shapes.push(shape);
            }
        }
        if shapes.is_empty() {
            return Err(Error::Invalid(format!(
                "no kernel shape given; the shapes are {}",
                Self::known()
            )));
        }
        Ok(shapes)
    }

    fn known() -> String {
        Self::ALL.map(Self::name).join(", ")
    }
}

impl std::str::FromStr for TenantShape {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|shape| shape.name() == s)
            .ok_or_else(|| {
                Error::Invalid(format!(
                    "unknown kernel shape '{s}'; the shapes are {}",
                    Self::known()
                ))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_parse_in_order_once_each_and_unknown_names_are_named() {
        assert_eq!(
            TenantShape::parse_list("10ms, short,10ms").unwrap(),
            [TenantShape::TenMs, TenantShape::Short]
        );
        let err = TenantShape::parse_list("short,2ms")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("'2ms'") && err.contains("short, 1ms, 10ms, gemm, gemm-cublas"),
            "{err}"
        );
        assert!(TenantShape::parse_list(" , ").is_err());
    }

    #[test]
    fn names_round_trip_through_json_and_the_short_shape_is_the_default() {
        for shape in TenantShape::ALL {
            let json = serde_json::to_string(&shape).unwrap();
            assert_eq!(json, format!("\"{}\"", shape.name()));
            assert_eq!(serde_json::from_str::<TenantShape>(&json).unwrap(), shape);
        }
        assert_eq!(TenantShape::default(), TenantShape::Short);
    }

    #[test]
    fn long_shapes_run_one_block_per_sm_and_name_their_scenarios() {
        assert_eq!(TenantShape::Short.describe(), "8 blocks per SM of 0.1 ms");
        assert_eq!(TenantShape::TenMs.describe(), "1 block per SM of 10 ms");
        let device = DeviceFacts::h200();
        match TenantShape::OneMs.request(2.0, &device) {
            Work::Spin {
                blocks_per_sm,
                block_us,
                secs,
                device: sized_from,
            } => {
                assert_eq!((blocks_per_sm, block_us, secs), (1, 1000.0, 2.0));
                assert_eq!(sized_from, device);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(TenantShape::Short.scenario_name("native-x2"), "native-x2");
        assert_eq!(
            TenantShape::TenMs.scenario_name("native-x2"),
            "native-x2-10ms"
        );
    }

    #[test]
    fn gemm_shapes_ask_for_a_gemm_on_their_api_path() {
        for (shape, cublas) in [(TenantShape::Gemm, false), (TenantShape::GemmCublas, true)] {
            match shape.request(3.0, &DeviceFacts::h200()) {
                Work::Gemm { cublas: c, secs } => assert_eq!((c, secs), (cublas, 3.0)),
                other => panic!("{other:?}"),
            }
            assert!(shape.spin().is_none());
            assert!(shape.describe().contains("GEMM"));
        }
        assert_eq!(
            TenantShape::Gemm.scenario_name("hami-50-x2"),
            "hami-50-x2-gemm"
        );
        assert!(TenantShape::DEFAULT
            .iter()
            .all(|s| TenantShape::ALL.contains(s)));
    }
}
