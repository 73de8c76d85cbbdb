//! What runs inside a configuration's own process: verify, then measure, then run the
//! enforcement probes (each in a child of its own), then write the baseline files into
//! the staging folder the parent gave it. For `exec` it only verifies, and the user's
//! command then runs in processes of its own.

use crate::baseline::{
    write_json_atomic, ConfigRecord, DeviceFacts, RunRecord, ENFORCEMENT_FILE, RUN_FILE,
    SUMMARY_FILE,
};
use crate::cuda::Context;
use crate::error::{Error, Result};
use crate::metrics::{self, BenchEnv, Selection};
use crate::progress::report_step;
use crate::system::{self, Expect, Reference};
use chrono::Utc;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Everything a measuring worker needs, passed as one JSON file so the command line
/// stays short and nothing is lost in quoting.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Job {
    /// Device facts read by the parent, outside any interposer: HAMi-core rewrites
    /// cuDeviceTotalMem too, so the worker cannot learn the physical size itself.
    pub device: DeviceFacts,
    pub config: ConfigRecord,
    /// What the configuration promises, for its verification.
    pub expect: Expect,
    pub metrics: Vec<String>,
    pub quick: bool,
    pub allow_unverified: bool,
    pub verify_secs: f64,
    pub reference: Reference,
    pub staging: PathBuf,
    /// Verify and write run.json, measuring nothing (`exec`: the user's command is
    /// what is measured, after this).
    pub verify_only: bool,
}

/// Seconds each phase of a worker took, in order, so a slow round can be read off
/// its run.json.
struct Phases {
    secs: Vec<(String, f64)>,
    since: std::time::Instant,
}

impl Phases {
    fn start() -> Self {
        Self {
            secs: Vec::new(),
            since: std::time::Instant::now(),
        }
    }

    /// Ends the phase that began where the last one ended.
    fn end(&mut self, name: &str) {
        let now = std::time::Instant::now();
        self.secs
            .push((name.to_owned(), (now - self.since).as_secs_f64()));
        self.since = now;
    }
}

/// `context 0.3 s, verification 5.1 s, ...`: a run.json's `phase_secs` as the
/// runner shows them when a round ends.
pub(super) fn describe_phases(secs: &[(String, f64)]) -> String {
    secs.iter()
        .map(|(name, secs)| format!("{name} {secs:.1} s"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Verifies the configuration, refuses to go on if its limits are not in force
/// (unless allowed), then (unless the job only verifies) runs the selected metrics as
/// a Criterion baseline named after the configuration and writes summary.json; writes
/// run.json last. Each phase and each metric is reported as a step to the runner
/// watching it.
pub fn run_job(job: &Job) -> Result<()> {
    let started_at = Utc::now();
    let mut phases = Phases::start();
    let ctx = Context::primary(0)?;
    phases.end("context");
    let seen = ctx.device().name()?;
    if seen != job.device.name {
        return Err(Error::Invalid(format!(
            "the worker sees device '{seen}', the runner '{}'",
            job.device.name
        )));
    }
    let facts = job.device.clone();
    let expect = job.expect.clone();
    report_step("verification");
    let verification = system::verify(&facts, &expect, &job.reference, job.verify_secs)?;
    phases.end("verification");
    let blocking = system::blocking_problem(&expect, &verification);
    if let (Some(detail), false) = (&blocking, job.allow_unverified) {
        return Err(Error::LimitNotInForce {
            config: job.config.name.clone(),
            detail: detail.clone(),
        });
    }
    let measured = if job.verify_only {
        Vec::new()
    } else {
        measure(job, &ctx, &mut phases)?
    };
    let interposer = verification
        .interposer_path
        .as_deref()
        .map(|path| system::identify(Path::new(path)))
        .transpose()?;
    let record = RunRecord {
        tool_version: env!("CARGO_PKG_VERSION").to_string(),
        started_at,
        finished_at: Utc::now(),
        device: facts,
        config: job.config.clone(),
        verification,
        unverified: blocking.is_some(),
        quick: job.quick,
        metrics: measured,
        interposer,
        mps: super::mps::client_of(),
        phase_secs: phases.secs,
    };
    write_json_atomic(&job.staging.join(RUN_FILE), &record)
}

/// The selected metrics into summary.json, then the enforcement probes into
/// enforcement.json; returns the ids measured.
fn measure(job: &Job, ctx: &Context, phases: &mut Phases) -> Result<Vec<String>> {
    let selection = Selection::parse(&job.metrics.join(","))?;
    let env = BenchEnv {
        criterion_dir: job.staging.join(crate::baseline::CRITERION_DIR),
        baseline: job.config.name.clone(),
        quick: job.quick,
        benchmarking: true,
        filter: None,
    };
    let mut criterion = env.criterion();
    let measured = metrics::run_benches(&mut criterion, &env, &selection, ctx)?;
    let summary = metrics::summarize(&env, &measured)?;
    write_json_atomic(&job.staging.join(SUMMARY_FILE), &summary)?;
    phases.end("metrics");
    report_step("enforcement");
    let enforcement = metrics::enforcement::run(&metrics::enforcement::EnforcementJob {
        config: &job.config,
        device: &job.device,
        selection: &selection,
        quick: job.quick,
    })?;
    if let Some(record) = enforcement {
        write_json_atomic(&job.staging.join(ENFORCEMENT_FILE), &record)?;
    }
    phases.end("enforcement");
    Ok(selection.ids().iter().map(|s| s.to_string()).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phases_are_timed_one_after_another_in_order() {
        let mut phases = Phases::start();
        std::thread::sleep(std::time::Duration::from_millis(20));
        phases.end("context");
        phases.end("verification");
        let names: Vec<&str> = phases.secs.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["context", "verification"]);
        assert!(
            phases.secs[0].1 >= 0.02 && phases.secs[1].1 < 0.02,
            "{:?}",
            phases.secs
        );
        assert_eq!(
            describe_phases(&phases.secs),
            format!("context {:.1} s, verification 0.0 s", phases.secs[0].1)
        );
    }
}
