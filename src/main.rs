//! The `gpu-virt-bench` command line. Errors are reported here, once, as one line.

use clap::{Parser, Subcommand};
use gpu_virt_bench::baseline::read_json;
use gpu_virt_bench::cuda::{self, Context};
use gpu_virt_bench::metrics::{self, isolation, Selection, METRICS};
use gpu_virt_bench::run::{
    self, Config, ExecOptions, Plan, RunOptions, Workload, DEFAULT_HAMI_LIB,
};
use gpu_virt_bench::{system, Error, Result};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "gpu-virt-bench",
    version,
    about = "What a GPU virtualization layer costs, and whether it enforces its limits"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Device facts, and whether an interposer is loaded here and which limits it shows.
    Info,
    /// Metric ids, names, units and which way is better.
    List,
    /// Run the metrics under each configuration and export one baseline per configuration.
    Run {
        #[command(flatten)]
        setup: Setup,
        /// Comma-separated metric ids (default: all); IS ids are measured in the
        /// default tenant scenarios the configurations make up.
        #[arg(long)]
        metrics: Option<String>,
        /// Shorter sampling, for a first look.
        #[arg(long)]
        quick: bool,
        /// Export root; each run lands in <out>/<gpu>/<config>/.
        #[arg(long, default_value = "criterion-baselines")]
        out: PathBuf,
        /// Seconds per kernel shape of the SM-share check, run where an SM limit is
        /// configured [default: 5; 4.5 with --quick: nine 0.5 s windows, one more than
        /// an SM verdict needs].
        #[arg(long)]
        verify_secs: Option<f64>,
    },
    /// Run your own command under each configuration, K times per round, and export its
    /// wall time, peak device memory and printed figures as one baseline per configuration.
    Exec {
        #[command(flatten)]
        setup: Setup,
        /// Runs of the command per configuration per round: the samples each round's
        /// figures are compared with.
        #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(2..=100))]
        runs: u32,
        /// A figure read off the command's stdout or stderr, line by line:
        /// NAME[,UNIT[,higher|lower]]=REGEX, the regex's first group capturing the
        /// number (unit "value" and lower is better unless given); repeatable.
        #[arg(long = "metric", value_name = "NAME=REGEX")]
        metric: Vec<String>,
        /// The workload's name, which names its category exec/<name> [default: the
        /// command's basename].
        #[arg(long)]
        name: Option<String>,
        /// Export root; each configuration lands in <out>/<gpu>/<config>/ [default:
        /// exec-baselines/<name>].
        #[arg(long)]
        out: Option<PathBuf>,
        /// Seconds per kernel shape of the SM-share check, run where an SM limit is
        /// configured.
        #[arg(long, default_value_t = 5.0)]
        verify_secs: f64,
        /// The command and its arguments, after `--`.
        #[arg(last = true, value_name = "CMD")]
        command: Vec<String>,
    },
    /// Run tenants side by side on one GPU (the IS metrics): one scenario.json per scenario.
    Isolate {
        /// Comma-separated scenario names (default: all but the MPS ones, which run
        /// where asked for: mps-50-x2, mps-25-x4, mps-50-victim-native-aggressor,
        /// memory-mps-50-vs-mps-50, fault-mps-50-vs-mps-50).
        #[arg(long)]
        scenarios: Option<String>,
        /// HAMi-core's libvgpu.so, as installed.
        #[arg(long, default_value = DEFAULT_HAMI_LIB)]
        hami_lib: PathBuf,
        /// Export root; scenarios land in <out>/<gpu>/isolation/<scenario>/.
        #[arg(long, default_value = "criterion-baselines")]
        out: PathBuf,
        /// Seconds each tenant runs per phase.
        #[arg(long, default_value_t = 10.0)]
        secs: f64,
        /// HAMi-core state files: one per tenant (separate pods) or one per scenario (shared).
        #[arg(long)]
        pod: Option<isolation::Pod>,
        /// Comma-separated kernel shapes of the share scenarios: short (8 blocks per SM of
        /// 0.1 ms), 1ms and 10ms (one block per SM), gemm (our bf16 GEMM, one block per
        /// tile), gemm-persistent (the same on the Hopper kernel's persistent grid, one
        /// block per SM; compute capability 9.0 only) and gemm-cublas (cuBLAS's);
        /// default: short,1ms,gemm.
        #[arg(long)]
        shapes: Option<String>,
        /// Replace existing exports of the same scenarios.
        #[arg(long)]
        force: bool,
        /// Also show on the terminal what the tenants print, which is otherwise only
        /// kept in each scenario's output.log; progress is then plain lines.
        #[arg(long)]
        verbose: bool,
    },
    /// Compare exported baselines: one Markdown table per metric, one row per configuration.
    Compare {
        /// Export root or one GPU's folder.
        #[arg(default_value = "criterion-baselines")]
        dir: PathBuf,
        /// Also write the output to this file.
        #[arg(long)]
        out: Option<PathBuf>,
        /// md: one table per metric; csv and json: one row per metric variant,
        /// configuration and round, with the change and its interval.
        #[arg(long, value_enum, default_value_t = Format::Md)]
        format: Format,
    },
    /// Write the report of exported baselines: index.html, report.md and report.json per GPU.
    Report {
        /// Export root or one GPU's folder.
        #[arg(default_value = "criterion-baselines")]
        dir: PathBuf,
        /// Report root; each GPU's report lands in <out>/<gpu>/.
        #[arg(long, default_value = "report")]
        out: PathBuf,
    },
    /// Internal: runs inside one configuration's process.
    #[command(hide = true)]
    Worker {
        #[arg(long)]
        job: PathBuf,
    },
}

/// What `run` and `exec` share: the configurations and how they run.
#[derive(clap::Args)]
struct Setup {
    /// Comma-separated: native, hami-<percent> (e.g. native,hami-100,hami-50,hami-25),
    /// mps-<percent>[-<GiB>], current, current-uncontrolled, and names defined in the
    /// --config-file.
    #[arg(long, default_value = "native")]
    configs: String,
    /// HAMi-core's libvgpu.so, as installed.
    #[arg(long, default_value = DEFAULT_HAMI_LIB)]
    hami_lib: PathBuf,
    /// More configurations, as `[[config]]` tables of a TOML file (configs/ has
    /// examples).
    #[arg(long)]
    config_file: Option<PathBuf>,
    /// Replace existing exports of the same configurations (after the new run completes).
    #[arg(long)]
    force: bool,
    /// Keep a configuration whose limits were not shown to be in force, marked unverified.
    #[arg(long)]
    allow_unverified: bool,
    /// Run every configuration this many times, interleaved, every other round in
    /// reverse (A B C C B A ...), so machine drift between blocks does not pass
    /// for a configuration's cost; a change vs native is only tested with two or
    /// more [default: 2 with two or more configurations, else 1].
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=20))]
    rounds: Option<u32>,
    /// Also show on the terminal what the workers print (Criterion's per-benchmark
    /// lines included), which is otherwise only kept in each round's output.log
    /// (exec's command keeps its own in logs/); progress is then plain lines.
    #[arg(long)]
    verbose: bool,
}

impl Setup {
    /// The configuration file's entries, with every name checked and everything that
    /// needs no GPU verified, before the driver is touched: a typo fails fast even on
    /// a machine without one.
    fn check(&self) -> Result<Vec<run::ConfigEntry>> {
        let file = match &self.config_file {
            Some(path) => run::load_config_file(path)?,
            None => Vec::new(),
        };
        run::preflight(&Config::parse_list(
            &self.configs,
            &self.hami_lib,
            &[1],
            &file,
        )?)?;
        Ok(file)
    }

    /// The plan on this machine's visible devices, whose memory sizes the limits
    /// (device 0's the verified one).
    fn plan(&self, file: &[run::ConfigEntry], out: PathBuf, verify_secs: f64) -> Result<Plan> {
        let devices = (0..cuda::Device::count()?)
            .map(|i| Ok(cuda::Device::get(i)?.total_mem()? >> 20))
            .collect::<Result<Vec<u64>>>()?;
        if devices.is_empty() {
            return Err(Error::NoDevice);
        }
        let configs = Config::parse_list(&self.configs, &self.hami_lib, &devices, file)?;
        Ok(Plan {
            rounds: self
                .rounds
                .unwrap_or_else(|| run::default_rounds(configs.len())),
            configs,
            out,
            force: self.force,
            allow_unverified: self.allow_unverified,
            verify_secs,
            verbose: self.verbose,
        })
    }
}

/// The tenant scenarios `run` measures `tenants` in: those its configurations make
/// up (with --quick only the short kernel shape). A metric none of them measures is
/// an error where `asked` for by id; with the default selection it is left out, and
/// the line returned beside the scenarios says so.
fn tenant_scenarios(
    configs: &str,
    tenants: &[&'static metrics::MetricInfo],
    asked: bool,
    quick: bool,
) -> Result<(Vec<isolation::Scenario>, Option<String>)> {
    let names: Vec<&str> = configs.split(',').map(str::trim).collect();
    let (scenarios, unmeasured) = isolation::scenarios_for_run(&names, tenants)?;
    let why = format!("and no default scenario has its tenants among --configs ({configs})");
    let line = match unmeasured.first() {
        Some(info) if asked => return Err(metrics::between_tenants(info, &why)?),
        Some(_) => Some(format!(
            "not measured: {} ({why})",
            unmeasured
                .iter()
                .map(|m| m.id)
                .collect::<Vec<_>>()
                .join(", ")
        )),
        None => None,
    };
    let scenarios = if scenarios.is_empty() {
        Vec::new()
    } else {
        isolation::select_scenarios(Some(&scenarios.join(",")), None, quick.then_some("short"))?
    };
    Ok((scenarios, line))
}

fn info() -> Result<()> {
    let ctx = Context::primary(0)?;
    let facts = system::device_facts(&ctx.device())?;
    let (free, total) = cuda::mem_info()?;
    println!("device        {}", facts.name);
    println!("compute cap.  {}", facts.cc);
    println!("SMs           {}", facts.sms);
    println!("SM clock      {} MHz", facts.clock_mhz);
    println!("memory        {} MiB physical", facts.memory_mib);
    println!(
        "memory shown  {} MiB total, {} MiB free (cuMemGetInfo)",
        total >> 20,
        free >> 20
    );
    println!("driver        CUDA {}", facts.driver);
    match system::mapped_interposer() {
        Some(path) => println!("interposer    {path}"),
        None => println!("interposer    none mapped"),
    }
    for (var, v) in std::env::vars().filter(|(var, _)| run::is_interposer_var(var)) {
        println!("{var:<13} {v}");
    }
    Ok(())
}

/// Every metric, with the layout it needs: `process` ones are measured by `run`,
/// `tenants` ones by `isolate`.
fn list() {
    println!(
        "{:<9} {:<36} {:<8} {:<7} {:<8} method",
        "id", "name", "unit", "better", "needs"
    );
    for m in METRICS {
        println!(
            "{:<9} {:<36} {:<8} {:<7} {:<8} {}",
            m.id,
            m.name,
            m.unit,
            m.better.word(),
            m.needs.word(),
            m.method
        );
    }
}

fn main() -> ExitCode {
    if let Some(code) = metrics::serve_if_child() {
        return ExitCode::from(code as u8);
    }
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Info => info(),
        Command::List => {
            list();
            Ok(())
        }
        Command::Run {
            setup,
            metrics,
            quick,
            out,
            verify_secs,
        } => (|| {
            let asked = metrics.is_some();
            let (selection, tenants) = match metrics {
                Some(list) => metrics::split_list(&list)?,
                None => (Some(Selection::all()), metrics::tenant_metrics()),
            };
            let (scenarios, unmeasured) = tenant_scenarios(&setup.configs, &tenants, asked, quick)?;
            let file = setup.check()?;
            let verify_secs = verify_secs.unwrap_or(if quick { 4.5 } else { 5.0 });
            let plan = setup.plan(&file, out, verify_secs)?;
            if let Some(line) = unmeasured {
                eprintln!("{line}");
            }
            let tenants = isolation::IsolationOptions {
                scenarios,
                hami_lib: setup.hami_lib.clone(),
                out: plan.out.clone(),
                secs: if quick { 4.0 } else { 10.0 },
                force: setup.force,
                verbose: setup.verbose,
            };
            if let Some(selection) = selection {
                let opts = RunOptions {
                    plan,
                    selection,
                    quick,
                };
                for dir in run::run_all(&opts)? {
                    println!("exported {}", dir.display());
                }
            }
            if !tenants.scenarios.is_empty() {
                for dir in isolation::run_scenarios(&tenants)? {
                    println!("exported {}", dir.display());
                }
            }
            Ok(())
        })(),
        Command::Exec {
            setup,
            runs,
            metric,
            name,
            out,
            verify_secs,
            command,
        } => (|| {
            let file = setup.check()?;
            let workload = Workload::new(command, name, &metric)?;
            let out = out.unwrap_or_else(|| Path::new("exec-baselines").join(&workload.name));
            let opts = ExecOptions {
                plan: setup.plan(&file, out, verify_secs)?,
                workload,
                runs,
            };
            for dir in run::exec_all(&opts)? {
                println!("exported {}", dir.display());
            }
            Ok(())
        })(),
        Command::Isolate {
            scenarios,
            hami_lib,
            out,
            secs,
            pod,
            shapes,
            force,
            verbose,
        } => (|| {
            let scenarios =
                isolation::select_scenarios(scenarios.as_deref(), pod, shapes.as_deref())?;
            let opts = isolation::IsolationOptions {
                scenarios,
                hami_lib,
                out,
                secs,
                force,
                verbose,
            };
            for dir in isolation::run_scenarios(&opts)? {
                println!("exported {}", dir.display());
            }
            Ok(())
        })(),
        Command::Compare { dir, out, format } => compare(&dir, out.as_deref(), format),
        Command::Report { dir, out } => {
            gpu_virt_bench::report::write_reports(&dir, &out).map(|folders| {
                for folder in folders {
                    println!("wrote {}", folder.display());
                }
            })
        }
        Command::Worker { job } => read_json(&job).and_then(|job| run::run_job(&job)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(_) if run::interrupted() => {
            eprintln!("error: {}", Error::Interrupted);
            ExitCode::from(130)
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// What `compare` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Format {
    Md,
    Csv,
    Json,
}

fn compare(dir: &std::path::Path, out: Option<&std::path::Path>, format: Format) -> Result<()> {
    use gpu_virt_bench::report::{compare_markdown, compare_report, export};
    let text = match format {
        Format::Md => compare_markdown(dir)?,
        Format::Csv => export::csv(&compare_report(dir)?)?,
        Format::Json => export::json(&compare_report(dir)?)?,
    };
    if let Some(out) = out {
        std::fs::write(out, &text).map_err(gpu_virt_bench::error::io_at(out))?;
    }
    print!("{text}");
    Ok(())
}
