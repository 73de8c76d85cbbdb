//! One error type for the library, so the CLI can report any failure in one line and
//! exit non-zero without each layer inventing its own message format.

use std::path::PathBuf;

/// Everything that can go wrong, each variant phrased as "what is wrong, what to do".
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("no CUDA driver: libcuda.so could not be loaded; install the NVIDIA driver or run on a machine with a GPU")]
    NoDriver,
    #[error("no CUDA device visible to the driver; check nvidia-smi and CUDA_VISIBLE_DEVICES")]
    NoDevice,
    #[error("no libnccl: {0}")]
    NoNccl(String),
    #[error("{call} failed with {name} ({code})")]
    Cuda {
        call: &'static str,
        name: String,
        code: u32,
    },
    #[error("the driver (CUDA {driver}) cannot load the PTX of kernels/{module}.cu ({name}); rebuild with an nvcc no newer than the driver (set NVCC=/path/to/nvcc and run cargo build again)")]
    PtxTooNew {
        module: &'static str,
        driver: String,
        name: String,
    },
    #[error("kernel {kernel} failed its correctness check: {detail}")]
    Incorrect {
        kernel: &'static str,
        detail: String,
    },
    #[error("{what} measured {value:.3} {unit}, above the device's peak of {peak:.3} {unit} ({source_}); the figure is physically impossible, so the run is invalid")]
    AbovePeak {
        what: String,
        value: f64,
        unit: String,
        peak: f64,
        source_: String,
    },
    #[error("unknown metric id '{0}'; `gpu-virt-bench list` shows the ids")]
    UnknownMetric(String),
    #[error("{id} is measured between tenant processes, {why}: run `gpu-virt-bench isolate --scenarios {scenarios}` (the default scenarios that measure it), or give `run` their configurations")]
    MeasuredBetweenTenants {
        id: &'static str,
        why: String,
        scenarios: String,
    },
    #[error(
        "unknown configuration '{0}'; use native, hami-<percent> with a percent from 1 to 100, mps-<percent> or mps-<percent>-<GiB>, current, current-uncontrolled, or a name defined in the --config-file"
    )]
    UnknownConfig(String),
    #[error("configuration '{config}': its {what} command {detail}; fix it in the --config-file")]
    Hook {
        config: String,
        what: &'static str,
        detail: String,
    },
    #[error("interrupted: MPS daemons stopped, state files removed, nothing of this run exported")]
    Interrupted,
    #[error("configuration '{config}': MPS: {detail}")]
    Mps { config: String, detail: String },
    #[error("configuration file {path}: {detail}; fix the file and run again (nothing ran)")]
    ConfigFile { path: PathBuf, detail: String },
    #[error("interposer library {0} does not exist; install HAMi-core's libvgpu.so and pass its path with --hami-lib")]
    MissingLibrary(PathBuf),
    #[error("{0} already holds an exported baseline; pass --force to replace it, or choose another --out")]
    BaselineExists(PathBuf),
    #[error("{path} is not a usable baseline: {reason}; re-run `gpu-virt-bench run` for that configuration")]
    CorruptBaseline { path: PathBuf, reason: String },
    #[error("configuration '{config}': {detail}; the limit is not in force, so its figures would be meaningless (pass --allow-unverified to keep them, marked)")]
    LimitNotInForce { config: String, detail: String },
    #[error("the enforcement probes left something behind: {0}; each export is kept, its enforcement.json says what was left: end it (nvidia-smi shows it) before measuring again")]
    LeftBehind(String),
    #[error("--metric '{spec}': {detail}; the form is NAME[,UNIT[,higher|lower]]=REGEX, the regex's first group capturing the number")]
    BadPattern { spec: String, detail: String },
    #[error("command '{0}' not found: no executable file at that path, nor of that name on PATH; check what follows `--`")]
    CommandNotFound(String),
    #[error("--metric '{spec}' matched no line of the command's output in {config}'s {runs} run(s) (its last line: {last}); fix the pattern, nothing was saved")]
    PatternUnmatched {
        spec: String,
        config: String,
        runs: u32,
        last: String,
    },
    #[error("worker for '{config}' {what}")]
    Worker { config: String, what: String },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Json {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("{0}")]
    Invalid(String),
}

/// Library-wide result.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Attaches the path to an I/O error, since a bare "No such file" says nothing useful.
pub fn io_at(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Error {
    let path = path.into();
    move |source| Error::Io { path, source }
}
