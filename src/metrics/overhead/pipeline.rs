//! OH-010: a fixed mixed pipeline, the figure a tenant feels when every layer's
//! small costs add up.

use crate::cuda::{DeviceBuffer, PipelineKernels, Stream};
use crate::error::{Error, Result};
use crate::metrics::{bench_variant, find, BenchEnv, Measured, Selection, Variant};
use criterion::measurement::WallTime;
use criterion::BenchmarkGroup;
use rand::{Rng, SeedableRng};

/// Floats moved each way per iteration (16 MiB).
const ELEMENTS: usize = 4 << 20;
/// The three kernel steps, `x = a * x + b`.
const STEPS: [(f32, f32); 3] = [(1.5, 0.25), (0.5, -1.0), (2.0, 0.125)];
/// Relative error allowed against the host: the device may fuse each step into one
/// fma, which rounds once where the host rounds twice.
const TOLERANCE: f64 = 1e-6;

struct Pipeline {
    kernels: PipelineKernels,
    stream: Stream,
    input: Vec<f32>,
    output: Vec<f32>,
}

impl Pipeline {
    /// One iteration: allocate, copy in, three kernels, copy out, free.
    fn run(&mut self) -> Result<()> {
        let buf = DeviceBuffer::new(ELEMENTS * 4)?;
        buf.copy_from_host(&self.input)?;
        for (a, b) in STEPS {
            self.kernels.affine(&buf, a, b, &self.stream)?;
        }
        self.stream.synchronize()?;
        buf.copy_to_host(&mut self.output)?;
        buf.free()
    }

    /// Runs once on fresh random input and compares with the host's result.
    fn check(&mut self) -> Result<()> {
        self.output.fill(f32::NAN);
        self.run()?;
        let rel =
            crate::stats::relative_error(self.input.iter().zip(&self.output).map(|(&x, &got)| {
                let want = STEPS
                    .iter()
                    .fold(f64::from(x), |v, &(a, b)| f64::from(a) * v + f64::from(b));
                (f64::from(got), want)
            }));
        if rel.is_nan() || rel > TOLERANCE {
            return Err(Error::Incorrect {
                kernel: "affine",
                detail: format!("relative error {rel:e} against the host (limit {TOLERANCE:e})"),
            });
        }
        Ok(())
    }
}

pub(super) fn bench(
    group: &mut BenchmarkGroup<'_, WallTime>,
    env: &BenchEnv,
    selection: &Selection,
) -> Result<Vec<Measured>> {
    if !selection.contains("OH-010") {
        return Ok(Vec::new());
    }
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(10);
    let mut pipeline = Pipeline {
        kernels: PipelineKernels::load()?,
        stream: Stream::new()?,
        input: (0..ELEMENTS).map(|_| rng.random_range(-1.0..1.0)).collect(),
        output: vec![0.0; ELEMENTS],
    };
    pipeline.check()?;
    let info = find("OH-010")?;
    Ok(bench_variant(
        group,
        env,
        Variant::new(info, "16MiB-3-kernels"),
        &mut |sw| sw.time(|| pipeline.run()),
    )?
    .into_iter()
    .collect())
}
