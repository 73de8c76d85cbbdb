use crate::baseline::Better;
use crate::error::{Error, Result};

/// A metric as `list` shows it and `--metrics` selects it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MetricInfo {
    pub id: &'static str,
    pub name: &'static str,
    pub category: &'static str,
    pub unit: &'static str,
    pub better: Better,
    /// Nanoseconds of Criterion's per-iteration figure per unit of the metric.
    pub ns_per_unit: f64,
    pub method: &'static str,
}

/// Every metric the suite implements, in report order. Ids follow the public
/// gpu-virt-bench numbering so results can be set side by side with it.
pub const METRICS: &[MetricInfo] = &[
    MetricInfo {
        id: "OH-001",
        name: "Kernel launch latency",
        category: "overhead",
        unit: "us",
        better: Better::Lower,
        ns_per_unit: 1e3,
        method: "host time of cuLaunchKernel of an empty <<<1,1>>> kernel (launch-call, stream sync every 256 untimed) and of launch + cuStreamSynchronize (launch-sync)",
    },
    MetricInfo {
        id: "OH-002",
        name: "Memory allocation latency",
        category: "overhead",
        unit: "us",
        better: Better::Lower,
        ns_per_unit: 1e3,
        method: "host time of cuMemAlloc of 4 KiB, 1 MiB, 64 MiB, 1 GiB; the free is untimed",
    },
    MetricInfo {
        id: "OH-003",
        name: "Memory free latency",
        category: "overhead",
        unit: "us",
        better: Better::Lower,
        ns_per_unit: 1e3,
        method: "host time of cuMemFree of 4 KiB, 1 MiB, 64 MiB, 1 GiB; the allocation is untimed",
    },
    MetricInfo {
        id: "OH-004",
        name: "Context creation",
        category: "overhead",
        unit: "ms",
        better: Better::Lower,
        ns_per_unit: 1e6,
        method: "cuCtxCreate + cuCtxDestroy in a live process (create-destroy); first cuInit + primary context in a fresh child process, as the child times it (cold-start)",
    },
    MetricInfo {
        id: "OH-005",
        name: "API interception overhead",
        category: "overhead",
        unit: "ns",
        better: Better::Lower,
        ns_per_unit: 1.0,
        method: "ns per call of cuDriverGetVersion, cuCtxGetDevice, cuDeviceGetAttribute, timed in batches of 1000 calls",
    },
    MetricInfo {
        id: "OH-006",
        name: "Shared-state contention",
        category: "overhead",
        unit: "us",
        better: Better::Lower,
        ns_per_unit: 1e3,
        method: "cuMemAlloc + cuMemFree of 4 KiB per pair, in 1, 2, 4, 8 processes of the same configuration at once (started behind a barrier); mean over processes per sample",
    },
    MetricInfo {
        id: "OH-007",
        name: "Memory tracking overhead",
        category: "overhead",
        unit: "ns",
        better: Better::Lower,
        ns_per_unit: 1.0,
        method: "host time of a cuMemAlloc + cuMemFree pair of 4 KiB",
    },
    MetricInfo {
        id: "OH-008",
        name: "Rate limiter overhead",
        category: "overhead",
        unit: "ns",
        better: Better::Lower,
        ns_per_unit: 1.0,
        method: "host time of cuLaunchKernel of an empty kernel on an idle GPU (launch timed, then synchronize untimed, repeat), so a limiter's check is paid but never waits",
    },
    MetricInfo {
        id: "OH-009",
        name: "Monitoring CPU overhead",
        category: "overhead",
        unit: "%",
        better: Better::Lower,
        ns_per_unit: 1.0,
        method: "CPU time (getrusage, user + system, all threads) of a child process holding an idle context, per 0.5 s window over 2 s, as % of one core",
    },
    MetricInfo {
        id: "OH-010",
        name: "Total throughput degradation",
        category: "overhead",
        unit: "us",
        better: Better::Lower,
        ns_per_unit: 1e3,
        method: "time per iteration of a fixed pipeline: cuMemAlloc 16 MiB, copy host to device, three kernels, copy back, cuMemFree (output checked before timing); degradation = 1 - native time / configuration time",
    },
    MetricInfo {
        id: "LLM-001",
        name: "Attention throughput",
        category: "llm",
        unit: "TFLOPS",
        better: Better::Higher,
        ns_per_unit: 1.0,
        method: "our flash-attention forward kernel (bf16 in, f32 accumulate on tensor cores, online softmax), B4 H16 S4096 (S1024 with --quick), head dim 64 and 128, causal and not, checked against a naive f32 kernel first; FLOPs = 4*B*H*S*S*D, half for causal; GPU-event timed; also as a share of the best bf16 GEMM measured in the same run (at LLM-008's size: 8192^3, 4096^3 with --quick)",
    },
    MetricInfo {
        id: "LLM-002",
        name: "KV-cache allocation speed",
        category: "llm",
        unit: "allocs/s",
        better: Better::Higher,
        ns_per_unit: 1.0,
        method: "64 KV blocks of 2 MiB allocated one by one (the frees untimed), with cuMemAlloc and from a stream-ordered pool (cuMemAllocFromPoolAsync, release threshold unbounded)",
    },
    MetricInfo {
        id: "LLM-003",
        name: "Batch size scaling",
        category: "llm",
        unit: "ratio",
        better: Better::Higher,
        ns_per_unit: 1.0,
        method: "our bf16 GEMM [b x 4096] x [4096 x 4096]^T for b = 1..256: tokens/s(b) / (b * tokens/s(1)), from GPU-event times of b and b = 1 measured in alternation",
    },
    MetricInfo {
        id: "LLM-004",
        name: "Token generation latency",
        category: "llm",
        unit: "us",
        better: Better::Lower,
        ns_per_unit: 1e3,
        method: "one decode step of a 4-layer bf16 transformer stack (d_model 2048, 16 heads of 128, MLP 8192; QKV, attention over a 1024-token KV cache, output and MLP GEMMs) with our kernels, batch 1, GPU-event timed, as launches and as a CUDA graph replay",
    },
    MetricInfo {
        id: "LLM-005",
        name: "Memory pool efficiency",
        category: "llm",
        unit: "%",
        better: Better::Lower,
        ns_per_unit: 1.0,
        method: "host time of 20 pool alloc+free pairs (cuMemAllocFromPoolAsync/cuMemFreeAsync, one stream sync) as % of 20 cuMemAlloc+cuMemFree pairs of the same size, measured in alternation, at 64 KiB, 2 MiB and 64 MiB",
    },
    MetricInfo {
        id: "LLM-006",
        name: "Multi-stream efficiency",
        category: "llm",
        unit: "%",
        better: Better::Higher,
        ns_per_unit: 1.0,
        method: "K = 1, 2, 4, 8 streams each running a 1 ms spin kernel on 1/K of the SMs: (sum of the kernels' solo times) / (K * time of all K at once); bounded by 100 % (above 103 % the run is invalid)",
    },
    MetricInfo {
        id: "LLM-007",
        name: "Large tensor allocation",
        category: "llm",
        unit: "ms",
        better: Better::Lower,
        ns_per_unit: 1e6,
        method: "cuMemAlloc of 1, 4 and 16 GiB and first touch (cuMemsetD32 of the whole buffer, synchronised); a size over 90 % of the free memory the configuration reports is skipped",
    },
    MetricInfo {
        id: "LLM-008",
        name: "Mixed precision",
        category: "llm",
        unit: "TFLOPS",
        better: Better::Higher,
        ns_per_unit: 1.0,
        method: "GEMM 8192^3 (4096^3 with --quick), C = A * B^T with f32 output, each checked against a naive f32 kernel first: our bf16 and fp16 tensor-core kernels, our f32 FMA kernel, and cuBLAS bf16 where libcublas loads; plus the ratios bf16/f32 and fp16/f32 from GPU-event times measured in alternation",
    },
    MetricInfo {
        id: "LLM-009",
        name: "Dynamic batching",
        category: "llm",
        unit: "CV",
        better: Better::Lower,
        ns_per_unit: 1.0,
        method: "decode steps of the LLM-004 stack at batch sizes drawn from a seeded uniform choice of 1, 2, 4, 8, 16, 32; coefficient of variation of step latency per block of 64 steps",
    },
    MetricInfo {
        id: "ENF-001",
        name: "Memory limit on cuMemAlloc",
        category: "enforcement",
        unit: "bytes",
        better: Better::Lower,
        ns_per_unit: 1.0,
        method: "cuMemAlloc; in a fresh child of the configuration (own state file) and natively as the control: a 64 MiB allocation first, then 1 GiB chunks up to limit + 4 GiB (at most 90 % of the native free memory), each written on the device; records the status, bytes obtained and written, cuMemGetInfo while held and whether a following 1 GiB cuMemAlloc is refused; verdict enforced, bypassed (bytes above the limit), refused-unlike-native, inconclusive or not-applicable, in enforcement.json",
    },
    MetricInfo {
        id: "ENF-002",
        name: "Memory limit on cudaMalloc",
        category: "enforcement",
        unit: "bytes",
        better: Better::Lower,
        ns_per_unit: 1.0,
        method: "cudaMalloc through libcudart opened at run time (not applicable where none loads); in a fresh child of the configuration (own state file) and natively as the control: a 64 MiB allocation first, then 1 GiB chunks up to limit + 4 GiB (at most 90 % of the native free memory), each written on the device; records the status, bytes obtained and written, cuMemGetInfo while held and whether a following 1 GiB cuMemAlloc is refused; verdict enforced, bypassed (bytes above the limit), refused-unlike-native, inconclusive or not-applicable, in enforcement.json",
    },
    MetricInfo {
        id: "ENF-003",
        name: "Memory limit on cuMemAllocPitch",
        category: "enforcement",
        unit: "bytes",
        better: Better::Lower,
        ns_per_unit: 1.0,
        method: "cuMemAllocPitch of 2 MiB rows; in a fresh child of the configuration (own state file) and natively as the control: a 64 MiB allocation first, then 1 GiB chunks up to limit + 4 GiB (at most 90 % of the native free memory), each written on the device; records the status, bytes obtained and written, cuMemGetInfo while held and whether a following 1 GiB cuMemAlloc is refused; verdict enforced, bypassed (bytes above the limit), refused-unlike-native, inconclusive or not-applicable, in enforcement.json",
    },
    MetricInfo {
        id: "ENF-004",
        name: "Memory limit on managed memory",
        category: "enforcement",
        unit: "bytes",
        better: Better::Lower,
        ns_per_unit: 1.0,
        method: "cuMemAllocManaged, pages prefetched to the device (cuMemPrefetchAsync) and written there; in a fresh child of the configuration (own state file) and natively as the control: a 64 MiB allocation first, then 1 GiB chunks up to limit + 4 GiB (at most 90 % of the native free memory), each written on the device; records the status, bytes obtained and written, cuMemGetInfo while held and whether a following 1 GiB cuMemAlloc is refused; verdict enforced, bypassed (bytes above the limit), refused-unlike-native, inconclusive or not-applicable, in enforcement.json",
    },
    MetricInfo {
        id: "ENF-005",
        name: "Memory limit on VMM",
        category: "enforcement",
        unit: "bytes",
        better: Better::Lower,
        ns_per_unit: 1.0,
        method: "cuMemCreate + cuMemAddressReserve + cuMemMap + cuMemSetAccess, written on the device; in a fresh child of the configuration (own state file) and natively as the control: a 64 MiB allocation first, then 1 GiB chunks up to limit + 4 GiB (at most 90 % of the native free memory), each written on the device; records the status, bytes obtained and written, cuMemGetInfo while held and whether a following 1 GiB cuMemAlloc is refused; verdict enforced, bypassed (bytes above the limit), refused-unlike-native, inconclusive or not-applicable, in enforcement.json",
    },
    MetricInfo {
        id: "ENF-006",
        name: "Memory limit on cuMemAllocAsync",
        category: "enforcement",
        unit: "bytes",
        better: Better::Lower,
        ns_per_unit: 1.0,
        method: "cuMemAllocAsync from the default pool; in a fresh child of the configuration (own state file) and natively as the control: a 64 MiB allocation first, then 1 GiB chunks up to limit + 4 GiB (at most 90 % of the native free memory), each written on the device; records the status, bytes obtained and written, cuMemGetInfo while held and whether a following 1 GiB cuMemAlloc is refused; verdict enforced, bypassed (bytes above the limit), refused-unlike-native, inconclusive or not-applicable, in enforcement.json",
    },
    MetricInfo {
        id: "ENF-007",
        name: "Memory limit on an own pool",
        category: "enforcement",
        unit: "bytes",
        better: Better::Lower,
        ns_per_unit: 1.0,
        method: "cuMemPoolCreate + cuMemAllocFromPoolAsync; in a fresh child of the configuration (own state file) and natively as the control: a 64 MiB allocation first, then 1 GiB chunks up to limit + 4 GiB (at most 90 % of the native free memory), each written on the device; records the status, bytes obtained and written, cuMemGetInfo while held and whether a following 1 GiB cuMemAlloc is refused; verdict enforced, bypassed (bytes above the limit), refused-unlike-native, inconclusive or not-applicable, in enforcement.json",
    },
    MetricInfo {
        id: "ENF-008",
        name: "Memory limit on cuArrayCreate",
        category: "enforcement",
        unit: "bytes",
        better: Better::Lower,
        ns_per_unit: 1.0,
        method: "cuArrayCreate of 2D arrays of 16-byte texels (not written: arrays have no address); in a fresh child of the configuration (own state file) and natively as the control: a 64 MiB allocation first, then 1 GiB chunks up to limit + 4 GiB (at most 90 % of the native free memory), each written on the device; records the status, bytes obtained and written, cuMemGetInfo while held and whether a following 1 GiB cuMemAlloc is refused; verdict enforced, bypassed (bytes above the limit), refused-unlike-native, inconclusive or not-applicable, in enforcement.json",
    },
    MetricInfo {
        id: "ENF-009",
        name: "Memory limit on cuArray3DCreate",
        category: "enforcement",
        unit: "bytes",
        better: Better::Lower,
        ns_per_unit: 1.0,
        method: "cuArray3DCreate of 3D arrays of 16-byte texels (not written); in a fresh child of the configuration (own state file) and natively as the control: a 64 MiB allocation first, then 1 GiB chunks up to limit + 4 GiB (at most 90 % of the native free memory), each written on the device; records the status, bytes obtained and written, cuMemGetInfo while held and whether a following 1 GiB cuMemAlloc is refused; verdict enforced, bypassed (bytes above the limit), refused-unlike-native, inconclusive or not-applicable, in enforcement.json",
    },
    MetricInfo {
        id: "ENF-010",
        name: "Memory limit on graph memory nodes",
        category: "enforcement",
        unit: "bytes",
        better: Better::Lower,
        ns_per_unit: 1.0,
        method: "a graph of one cuGraphAddMemAllocNode per chunk, launched; in a fresh child of the configuration (own state file) and natively as the control: a 64 MiB allocation first, then 1 GiB chunks up to limit + 4 GiB (at most 90 % of the native free memory), each written on the device; records the status, bytes obtained and written, cuMemGetInfo while held and whether a following 1 GiB cuMemAlloc is refused; verdict enforced, bypassed (bytes above the limit), refused-unlike-native, inconclusive or not-applicable, in enforcement.json",
    },
    MetricInfo {
        id: "ENF-011",
        name: "Memory limit on the device heap",
        category: "enforcement",
        unit: "bytes",
        better: Better::Lower,
        ns_per_unit: 1.0,
        method: "cuCtxSetLimit(CU_LIMIT_MALLOC_HEAP_SIZE) to the target + 1/16 (at least + 128 MiB) before the malloc module loads, the size the driver set read back with cuCtxGetLimit and recorded; then malloc in a kernel, one chunk of 64 MiB - 64 KiB per block, each written, the kernel relaunched over the refused chunks (at most 4 launches, until one gets nothing more); in a fresh child of the configuration (own state file) and natively as the control: a 64 MiB allocation first, then 1 GiB chunks up to limit + 4 GiB (at most 90 % of the native free memory), each written on the device; records the status, bytes obtained and written, cuMemGetInfo while held and whether a following 1 GiB cuMemAlloc is refused; verdict enforced, bypassed (bytes above the limit), refused-unlike-native, inconclusive or not-applicable, in enforcement.json",
    },
    MetricInfo {
        id: "ENF-012",
        name: "Limit variables removed",
        category: "enforcement",
        unit: "bytes",
        better: Better::Lower,
        ns_per_unit: 1.0,
        method: "a child of the tenant with CUDA_DEVICE_MEMORY_LIMIT and CUDA_DEVICE_SM_LIMIT removed, sharing the state file a child of the configuration holds; cuMemAlloc; in a fresh child of the configuration (own state file) and natively as the control: a 64 MiB allocation first, then 1 GiB chunks up to limit + 4 GiB (at most 90 % of the native free memory), each written on the device; records the status, bytes obtained and written, cuMemGetInfo while held and whether a following 1 GiB cuMemAlloc is refused; verdict enforced, bypassed (bytes above the limit), refused-unlike-native, inconclusive or not-applicable, in enforcement.json",
    },
    MetricInfo {
        id: "ENF-013",
        name: "Limit variables changed",
        category: "enforcement",
        unit: "bytes",
        better: Better::Lower,
        ns_per_unit: 1.0,
        method: "as ENF-012 with the memory limit doubled and the SM limit 100; in a fresh child of the configuration (own state file) and natively as the control: a 64 MiB allocation first, then 1 GiB chunks up to limit + 4 GiB (at most 90 % of the native free memory), each written on the device; records the status, bytes obtained and written, cuMemGetInfo while held and whether a following 1 GiB cuMemAlloc is refused; verdict enforced, bypassed (bytes above the limit), refused-unlike-native, inconclusive or not-applicable, in enforcement.json",
    },
    MetricInfo {
        id: "ENF-014",
        name: "Child without the preload",
        category: "enforcement",
        unit: "bytes",
        better: Better::Lower,
        ns_per_unit: 1.0,
        method: "as ENF-012 with LD_PRELOAD removed; in a fresh child of the configuration (own state file) and natively as the control: a 64 MiB allocation first, then 1 GiB chunks up to limit + 4 GiB (at most 90 % of the native free memory), each written on the device; records the status, bytes obtained and written, cuMemGetInfo while held and whether a following 1 GiB cuMemAlloc is refused; verdict enforced, bypassed (bytes above the limit), refused-unlike-native, inconclusive or not-applicable, in enforcement.json",
    },
    MetricInfo {
        id: "ENF-015",
        name: "cuMemAlloc from cuGetProcAddress",
        category: "enforcement",
        unit: "bytes",
        better: Better::Lower,
        ns_per_unit: 1.0,
        method: "cuMemAlloc called through the pointer cuGetProcAddress returns; in a fresh child of the configuration (own state file) and natively as the control: a 64 MiB allocation first, then 1 GiB chunks up to limit + 4 GiB (at most 90 % of the native free memory), each written on the device; records the status, bytes obtained and written, cuMemGetInfo while held and whether a following 1 GiB cuMemAlloc is refused; verdict enforced, bypassed (bytes above the limit), refused-unlike-native, inconclusive or not-applicable, in enforcement.json",
    },
    MetricInfo {
        id: "ENF-016",
        name: "cuMemAlloc from libcuda by path",
        category: "enforcement",
        unit: "bytes",
        better: Better::Lower,
        ns_per_unit: 1.0,
        method: "libcuda opened again by its full path (from /proc/self/maps), cuMemAlloc_v2 from dlsym on it; in a fresh child of the configuration (own state file) and natively as the control: a 64 MiB allocation first, then 1 GiB chunks up to limit + 4 GiB (at most 90 % of the native free memory), each written on the device; records the status, bytes obtained and written, cuMemGetInfo while held and whether a following 1 GiB cuMemAlloc is refused; verdict enforced, bypassed (bytes above the limit), refused-unlike-native, inconclusive or not-applicable, in enforcement.json",
    },
    MetricInfo {
        id: "ENF-017",
        name: "SM limit on cuLaunchKernel",
        category: "enforcement",
        unit: "%",
        better: Better::Lower,
        ns_per_unit: 1.0,
        method: "cuLaunchKernel of fma_work, 8 blocks of 100 us per SM (full occupancy, independent FMA chains); grids sized from the parent's native device facts; in a fresh child of the configuration and natively as the control; delivered share = the configuration's kernels/s as % of the native rate (the native control of a watched shape runs 5 s); verdict bypassed above the limit + 10 points (by share - limit), enforced otherwise, not-applicable (and not run) without an SM limit below 100 %, in enforcement.json",
    },
    MetricInfo {
        id: "ENF-018",
        name: "SM limit on cuLaunchKernelEx",
        category: "enforcement",
        unit: "%",
        better: Better::Lower,
        ns_per_unit: 1.0,
        method: "as ENF-017 through cuLaunchKernelEx; grids sized from the parent's native device facts; in a fresh child of the configuration and natively as the control; delivered share = the configuration's kernels/s as % of the native rate (the native control of a watched shape runs 5 s); verdict bypassed above the limit + 10 points (by share - limit), enforced otherwise, not-applicable (and not run) without an SM limit below 100 %, in enforcement.json",
    },
    MetricInfo {
        id: "ENF-019",
        name: "SM limit on cooperative launch",
        category: "enforcement",
        unit: "%",
        better: Better::Lower,
        ns_per_unit: 1.0,
        method: "cuLaunchCooperativeKernel of fma_work, one 1024-thread block of 100 us per SM; grids sized from the parent's native device facts; in a fresh child of the configuration and natively as the control; delivered share = the configuration's kernels/s as % of the native rate (the native control of a watched shape runs 5 s); verdict bypassed above the limit + 10 points (by share - limit), enforced otherwise, not-applicable (and not run) without an SM limit below 100 %, in enforcement.json",
    },
    MetricInfo {
        id: "ENF-020",
        name: "SM limit on CUDA graphs",
        category: "enforcement",
        unit: "%",
        better: Better::Lower,
        ns_per_unit: 1.0,
        method: "as ENF-017, each 2 ms batch captured once into a CUDA graph and replayed with cuGraphLaunch; grids sized from the parent's native device facts; in a fresh child of the configuration and natively as the control; delivered share = the configuration's kernels/s as % of the native rate (the native control of a watched shape runs 5 s); verdict bypassed above the limit + 10 points (by share - limit), enforced otherwise, not-applicable (and not run) without an SM limit below 100 %, in enforcement.json",
    },
    MetricInfo {
        id: "ENF-021",
        name: "SM limit over several streams",
        category: "enforcement",
        unit: "%",
        better: Better::Lower,
        ns_per_unit: 1.0,
        method: "as ENF-017, each kernel split over 4 streams at once; grids sized from the parent's native device facts; in a fresh child of the configuration and natively as the control; delivered share = the configuration's kernels/s as % of the native rate (the native control of a watched shape runs 5 s); verdict bypassed above the limit + 10 points (by share - limit), enforced otherwise, not-applicable (and not run) without an SM limit below 100 %, in enforcement.json",
    },
    MetricInfo {
        id: "ENF-022",
        name: "SM limit on 1 ms blocks",
        category: "enforcement",
        unit: "%",
        better: Better::Lower,
        ns_per_unit: 1.0,
        method: "one 1 ms block per SM, watched 120 s (20 s with --quick); reports the time to the first throttled 0.5 s window; grids sized from the parent's native device facts; in a fresh child of the configuration and natively as the control; delivered share = the configuration's kernels/s as % of the native rate (the native control of a watched shape runs 5 s); verdict bypassed above the limit + 10 points (by share - limit), enforced otherwise, not-applicable (and not run) without an SM limit below 100 %, in enforcement.json",
    },
    MetricInfo {
        id: "ENF-023",
        name: "SM limit on 10 ms blocks",
        category: "enforcement",
        unit: "%",
        better: Better::Lower,
        ns_per_unit: 1.0,
        method: "as ENF-022 with 10 ms blocks; grids sized from the parent's native device facts; in a fresh child of the configuration and natively as the control; delivered share = the configuration's kernels/s as % of the native rate (the native control of a watched shape runs 5 s); verdict bypassed above the limit + 10 points (by share - limit), enforced otherwise, not-applicable (and not run) without an SM limit below 100 %, in enforcement.json",
    },
    MetricInfo {
        id: "ENF-024",
        name: "cuLaunchKernel from cuGetProcAddress",
        category: "enforcement",
        unit: "%",
        better: Better::Lower,
        ns_per_unit: 1.0,
        method: "as ENF-017, cuLaunchKernel called through the pointer cuGetProcAddress returns; grids sized from the parent's native device facts; in a fresh child of the configuration and natively as the control; delivered share = the configuration's kernels/s as % of the native rate (the native control of a watched shape runs 5 s); verdict bypassed above the limit + 10 points (by share - limit), enforced otherwise, not-applicable (and not run) without an SM limit below 100 %, in enforcement.json",
    },
    MetricInfo {
        id: "ENF-025",
        name: "SM limit on cudaLaunchKernel",
        category: "enforcement",
        unit: "%",
        better: Better::Lower,
        ns_per_unit: 1.0,
        method: "as ENF-017 through the runtime API: fma_work loaded from the same PTX by cudaLibraryLoadData + cudaLibraryGetKernel of libcudart opened at run time, launched by cudaLaunchKernel with the cudaKernel_t (not applicable where no libcudart with that API loads); grids sized from the parent's native device facts; in a fresh child of the configuration and natively as the control; delivered share = the configuration's kernels/s as % of the native rate; verdict bypassed above the limit + 10 points (by share - limit), enforced otherwise, not-applicable (and not run) without an SM limit below 100 %, in enforcement.json",
    },
    MetricInfo {
        id: "ENF-026",
        name: "State file limits rewritten",
        category: "enforcement",
        unit: "bytes",
        better: Better::Lower,
        ns_per_unit: 1.0,
        method: "a child of the configuration (fresh state file) maps the file CUDA_DEVICE_MEMORY_SHARED_CACHE names read-write and, knowing nothing of its layout, rewrites every 8-byte little-endian word equal to the memory limit in bytes to limit + 8 GiB (and every aligned 4-byte word equal to the SM limit to 100, only where they are as many as the memory words and evenly spaced 4 or 8 bytes apart in one run), keeping the file in use; then a new child of the configuration sharing the file: cuMemAlloc, a 64 MiB allocation first, then 1 GiB chunks up to limit + 4 GiB (at most 90 % of the native free memory), each written on the device, natively as the control; records the words found and rewritten, the status, bytes obtained and written, cuMemGetInfo while held and whether a following 1 GiB cuMemAlloc is refused; verdict bypassed (bytes above the limit), enforced, inconclusive where no word equalled the limit or the rewrite failed, not-applicable without a state file or memory limit, in enforcement.json",
    },
];

/// A group of metrics as METRICS.md names it: the folder its benchmarks live in,
/// the prefix of its ids, and its heading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CategoryInfo {
    pub name: &'static str,
    pub prefix: &'static str,
    pub title: &'static str,
}

/// Every category, in METRICS.md's order.
pub const CATEGORIES: &[CategoryInfo] = &[
    CategoryInfo {
        name: "overhead",
        prefix: "OH",
        title: "Overhead",
    },
    CategoryInfo {
        name: "llm",
        prefix: "LLM",
        title: "LLM workloads",
    },
    CategoryInfo {
        name: "isolation",
        prefix: "IS",
        title: "Isolation",
    },
    CategoryInfo {
        name: "enforcement",
        prefix: "ENF",
        title: "Enforcement",
    },
];

/// A category by its folder name, e.g. "llm".
pub fn category(name: &str) -> Option<&'static CategoryInfo> {
    CATEGORIES.iter().find(|c| c.name == name)
}

/// Looks up a metric by id (case-insensitive).
pub fn find(id: &str) -> Result<&'static MetricInfo> {
    METRICS
        .iter()
        .find(|m| m.id.eq_ignore_ascii_case(id.trim()))
        .ok_or_else(|| Error::UnknownMetric(id.trim().to_string()))
}

/// Which metrics a run measures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selection(Vec<&'static str>);

impl Selection {
    pub fn all() -> Self {
        Self(METRICS.iter().map(|m| m.id).collect())
    }

    /// Every metric of one category (e.g. "llm"), for a `cargo bench` entry point.
    pub fn category(category: &str) -> Self {
        Self(
            METRICS
                .iter()
                .filter(|m| m.category == category)
                .map(|m| m.id)
                .collect(),
        )
    }

    /// Parses a comma-separated id list; any unknown id is an error, so a typo never
    /// silently measures less than was asked for.
    pub fn parse(list: &str) -> Result<Self> {
        let mut ids = Vec::new();
        for part in list.split(',').filter(|p| !p.trim().is_empty()) {
            let id = find(part)?.id;
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
        if ids.is_empty() {
            return Err(Error::Invalid(
                "--metrics names no metric; `gpu-virt-bench list` shows the ids".into(),
            ));
        }
        Ok(Self(ids))
    }

    pub fn contains(&self, id: &str) -> bool {
        self.0.contains(&id)
    }

    pub fn ids(&self) -> &[&'static str] {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_metric_belongs_to_a_category_whose_prefix_its_id_bears() {
        for metric in METRICS {
            let info = category(metric.category).expect(metric.id);
            assert!(
                metric.id.starts_with(&format!("{}-", info.prefix)),
                "{}",
                metric.id
            );
        }
        assert_eq!(category("isolation").map(|c| c.prefix), Some("IS"));
        assert_eq!(category("exec/train"), None);
    }

    #[test]
    fn parses_known_ids_in_any_case_without_duplicates() {
        let s = Selection::parse("oh-001, OH-005,OH-001").unwrap();
        assert_eq!(s.ids(), &["OH-001", "OH-005"]);
        assert!(s.contains("OH-005") && !s.contains("OH-002"));
    }

    #[test]
    fn unknown_id_is_named_in_the_error() {
        let err = Selection::parse("OH-001,XX-9").unwrap_err();
        assert!(
            matches!(err, Error::UnknownMetric(ref id) if id == "XX-9"),
            "{err}"
        );
        assert!(err.to_string().contains("gpu-virt-bench list"));
    }

    #[test]
    fn a_category_selects_its_metrics_only() {
        let llm = Selection::category("llm");
        assert_eq!(llm.ids().len(), 9);
        assert!(llm.contains("LLM-001") && !llm.contains("OH-001"));
        assert!(Selection::category("nothing").ids().is_empty());
    }

    #[test]
    fn empty_list_is_refused() {
        assert!(Selection::parse(" , ").is_err());
    }

    #[test]
    fn registry_ids_are_unique_and_units_known() {
        let mut ids: Vec<_> = METRICS.iter().map(|m| m.id).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), METRICS.len());
        assert!(METRICS.iter().all(|m| [
            "us", "ns", "ms", "%", "TFLOPS", "allocs/s", "ratio", "CV", "bytes"
        ]
        .contains(&m.unit)));
    }
}
