//! `cargo bench --bench sched [-- --save-baseline NAME]`: the scheduling metrics in
//! this process and tenants of its configuration.

fn main() {
    std::process::exit(gpu_virt_bench::metrics::bench_main("sched"));
}
