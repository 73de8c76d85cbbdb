//! `cargo bench --bench bandwidth [-- --save-baseline NAME]`: the bandwidth metrics in
//! this process, natively or under whatever LD_PRELOAD the shell set.

fn main() {
    std::process::exit(gpu_virt_bench::metrics::bench_main("bandwidth"));
}
