//! `cargo bench --bench cache [-- --save-baseline NAME]`: the L2 cache metrics in
//! this process and tenants of its configuration.

fn main() {
    std::process::exit(gpu_virt_bench::metrics::bench_main("cache"));
}
