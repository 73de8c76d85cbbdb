//! `cargo bench --bench nccl [-- --save-baseline NAME]`: the collective metrics, one
//! rank process per visible GPU, natively or under whatever LD_PRELOAD the shell set.

fn main() {
    std::process::exit(gpu_virt_bench::metrics::bench_main("nccl"));
}
