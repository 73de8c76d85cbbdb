//! `cargo bench --bench overhead [-- --save-baseline NAME]`: the overhead metrics in
//! this process, natively or under whatever LD_PRELOAD the shell set.

use gpu_virt_bench::metrics::{self, BenchEnv, Selection};
use gpu_virt_bench::{cuda::Context, Error};

fn main() {
    if let Some(code) = gpu_virt_bench::run::child::serve_if_child() {
        std::process::exit(code);
    }
    let env = BenchEnv::from_cargo_bench_args();
    let mut criterion = criterion::Criterion::default().configure_from_args();
    let outcome = Context::primary(0).and_then(|ctx| {
        let measured = metrics::run_benches(&mut criterion, &env, &Selection::all(), &ctx)?;
        if env.benchmarking {
            metrics::summarize(&env, &measured)?;
        }
        Ok(())
    });
    match outcome {
        Ok(()) => criterion.final_summary(),
        Err(Error::NoDriver) => println!("skipped: {}", Error::NoDriver),
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    }
}
