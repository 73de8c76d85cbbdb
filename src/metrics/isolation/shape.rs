//! The tenants' kernel shape (IS-003's axis). A limiter that charges per launched
//! block throttles many short blocks but lets a few long ones through (GPU.md), so
//! the same scenario is run once per shape and the shape is saved with it.

use super::ops::Work;
use crate::baseline::DeviceFacts;
use crate::error::{Error, Result};
use crate::system::GemmPath;
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
    /// Our newest bf16 GEMM of 4096³ through the driver API, one block per tile (512):
    /// a real kernel's few, long blocks.
    #[serde(rename = "gemm")]
    Gemm,
    /// The same GEMM on the Hopper kernel's persistent grid, one block per SM looping
    /// over the tiles: how production GEMMs run on Hopper, and what a block-counting
    /// limiter sees least of. Compute capability 9.0 only.
    #[serde(rename = "gemm-persistent")]
    GemmPersistent,
    /// cuBLAS's bf16 GEMM of 4096³, which reaches the driver through the runtime API.
    #[serde(rename = "gemm-cublas")]
    GemmCublas,
}

impl TenantShape {
    /// Every shape, in the order `isolate` runs them.
    pub const ALL: [Self; 6] = [
        Self::Short,
        Self::OneMs,
        Self::TenMs,
        Self::Gemm,
        Self::GemmPersistent,
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
            Self::GemmPersistent => "gemm-persistent",
            Self::GemmCublas => "gemm-cublas",
        }
    }

    /// What the shape is, for a reader of the report.
    pub fn describe(self) -> String {
        match self.load() {
            Load::Spin {
                blocks_per_sm,
                block_us,
            } => {
                let per_sm = if blocks_per_sm == 1 {
                    "1 block per SM".to_owned()
                } else {
                    format!("{blocks_per_sm} blocks per SM")
                };
                format!("{per_sm} of {} ms", block_us / 1000.0)
            }
            Load::Gemm(path) => path.describe().to_owned(),
        }
    }

    /// What a tenant of this shape runs.
    fn load(self) -> Load {
        let spin = |blocks_per_sm, block_us| Load::Spin {
            blocks_per_sm,
            block_us,
        };
        match self {
            Self::Short => spin(8, 100.0),
            Self::OneMs => spin(1, 1_000.0),
            Self::TenMs => spin(1, 10_000.0),
            Self::Gemm => Load::Gemm(GemmPath::Ours),
            Self::GemmPersistent => Load::Gemm(GemmPath::OursPersistent),
            Self::GemmCublas => Load::Gemm(GemmPath::Cublas),
        }
    }

    /// Blocks per SM and the nominal time of each block, in us, for the shapes of
    /// fixed FMA work (`fma_work`).
    pub(crate) fn spin(self) -> Option<(u32, f64)> {
        match self.load() {
            Load::Spin {
                blocks_per_sm,
                block_us,
            } => Some((blocks_per_sm, block_us)),
            Load::Gemm(_) => None,
        }
    }

    /// The GEMM of the GEMM shapes.
    #[cfg(test)]
    fn gemm(self) -> Option<GemmPath> {
        match self.load() {
            Load::Gemm(path) => Some(path),
            Load::Spin { .. } => None,
        }
    }

    /// The work a tenant of this shape runs for `secs`, its grid sized from `device`
    /// (the physical facts, read natively).
    pub fn request(self, secs: f64, device: &DeviceFacts) -> Work {
        match self.load() {
            Load::Spin {
                blocks_per_sm,
                block_us,
            } => Work::Spin {
                blocks_per_sm,
                block_us,
                secs,
                device: device.clone(),
            },
            Load::Gemm(path) => Work::Gemm { path, secs },
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

/// Fixed FMA work or a GEMM.
enum Load {
    Spin { blocks_per_sm: u32, block_us: f64 },
    Gemm(GemmPath),
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
            err.contains("'2ms'")
                && err.contains("short, 1ms, 10ms, gemm, gemm-persistent, gemm-cublas"),
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
    fn gemm_shapes_ask_for_a_gemm_on_their_path() {
        for (shape, path) in [
            (TenantShape::Gemm, GemmPath::Ours),
            (TenantShape::GemmPersistent, GemmPath::OursPersistent),
            (TenantShape::GemmCublas, GemmPath::Cublas),
        ] {
            match shape.request(3.0, &DeviceFacts::h200()) {
                Work::Gemm { path: p, secs } => assert_eq!((p, secs), (path, 3.0)),
                other => panic!("{other:?}"),
            }
            assert_eq!(shape.gemm(), Some(path));
            assert!(shape.spin().is_none());
            assert!(shape.describe().contains("GEMM"));
        }
        assert_eq!(
            TenantShape::Gemm.scenario_name("hami-50-x2"),
            "hami-50-x2-gemm"
        );
        assert_eq!(
            TenantShape::GemmPersistent.scenario_name("hami-50-x2"),
            "hami-50-x2-gemm-persistent"
        );
        assert!(TenantShape::Gemm.describe().contains("one block per tile"));
        assert!(TenantShape::GemmPersistent
            .describe()
            .contains("one block per SM"));
        assert!(TenantShape::DEFAULT
            .iter()
            .all(|s| TenantShape::ALL.contains(s)));
    }

    #[test]
    fn every_shape_spins_or_runs_a_gemm_and_parses_from_its_name() {
        for shape in TenantShape::ALL {
            assert_ne!(shape.spin().is_some(), shape.gemm().is_some(), "{shape:?}");
            assert_eq!(shape.name().parse::<TenantShape>().unwrap(), shape);
        }
        assert_eq!(
            TenantShape::parse_list("gemm-persistent,gemm").unwrap(),
            [TenantShape::GemmPersistent, TenantShape::Gemm]
        );
    }

    #[test]
    fn a_gemm_request_crosses_the_tenant_s_pipe_with_its_path() {
        for shape in [
            TenantShape::Gemm,
            TenantShape::GemmPersistent,
            TenantShape::GemmCublas,
        ] {
            let json = serde_json::to_string(&shape.request(2.0, &DeviceFacts::h200())).unwrap();
            match serde_json::from_str::<Work>(&json).unwrap() {
                Work::Gemm { path, secs } => {
                    assert_eq!((Some(path), secs), (shape.gemm(), 2.0), "{json}")
                }
                other => panic!("{other:?}"),
            }
        }
        let json =
            serde_json::to_string(&TenantShape::GemmPersistent.request(2.0, &DeviceFacts::h200()))
                .unwrap();
        assert_eq!(json, r#"{"Gemm":{"path":"ours-persistent","secs":2.0}}"#);
    }
}
