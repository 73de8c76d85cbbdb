use super::isolation::{self, ScenarioKind, Subject};
use crate::baseline::Better;
use crate::error::{Error, Result};

/// A metric as `list` shows it and `--metrics` selects it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MetricInfo {
    pub id: &'static str,
    pub name: &'static str,
    pub category: &'static str,
    /// The processes it is measured in, which decides the command that measures it.
    pub needs: Needs,
    pub unit: &'static str,
    /// Which figure is best; its [`Goal::direction`] is what summary.json saves.
    pub better: Goal,
    /// Nanoseconds of Criterion's per-iteration figure per unit of the metric (1 where
    /// Criterion does not time it).
    pub ns_per_unit: f64,
    pub method: &'static str,
}

/// The process layout a metric is measured in. `run` measures each configuration in
/// a process of its own, so it cannot give a figure that only exists between
/// tenants; the layout says which command to use instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Needs {
    /// One process of a configuration at a time, as `run` measures it.
    Process,
    /// Tenant processes side by side, as `isolate` runs them in scenarios of this
    /// kind; the figure is read from a tenant of this subject.
    Tenants(ScenarioKind, Subject),
}

impl Needs {
    /// The word `list` shows.
    pub fn word(self) -> &'static str {
        match self {
            Self::Process => "process",
            Self::Tenants(..) => "tenants",
        }
    }
}

/// Which figure of a metric is best. Not every metric ranks by a direction: an
/// accuracy is best at the configured limit, and a verdict either holds or not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Goal {
    Lower,
    Higher,
    /// Nearest the configured limit: below it the tenant gets less than it was
    /// given, above it the limit did not hold.
    Limit,
    /// A verdict, pass or fail; the method names the verdicts.
    Pass,
}

impl Goal {
    /// The direction a change vs native is judged in, as summary.json saves it;
    /// `None` where the goal is no direction.
    pub fn direction(self) -> Option<Better> {
        match self {
            Self::Lower => Some(Better::Lower),
            Self::Higher => Some(Better::Higher),
            Self::Limit | Self::Pass => None,
        }
    }

    /// The word `list` shows.
    pub fn word(self) -> &'static str {
        match self {
            Self::Lower => "lower",
            Self::Higher => "higher",
            Self::Limit => "limit",
            Self::Pass => "pass",
        }
    }
}

/// Every metric the suite implements, in report order. Ids follow the public
/// gpu-virt-bench numbering so results can be set side by side with it.
pub const METRICS: &[MetricInfo] = &[
    MetricInfo {
        id: "OH-001",
        name: "Kernel launch latency",
        category: "overhead",
        needs: Needs::Process,
        unit: "us",
        better: Goal::Lower,
        ns_per_unit: 1e3,
        method: "host time of cuLaunchKernel of an empty <<<1,1>>> kernel (launch-call, stream sync every 256 untimed) and of launch + cuStreamSynchronize (launch-sync)",
    },
    MetricInfo {
        id: "OH-002",
        name: "Memory allocation latency",
        category: "overhead",
        needs: Needs::Process,
        unit: "us",
        better: Goal::Lower,
        ns_per_unit: 1e3,
        method: "host time of cuMemAlloc of 4 KiB, 1 MiB, 64 MiB, 1 GiB; the free is untimed",
    },
    MetricInfo {
        id: "OH-003",
        name: "Memory free latency",
        category: "overhead",
        needs: Needs::Process,
        unit: "us",
        better: Goal::Lower,
        ns_per_unit: 1e3,
        method: "host time of cuMemFree of 4 KiB, 1 MiB, 64 MiB, 1 GiB; the allocation is untimed",
    },
    MetricInfo {
        id: "OH-004",
        name: "Context creation",
        category: "overhead",
        needs: Needs::Process,
        unit: "ms",
        better: Goal::Lower,
        ns_per_unit: 1e6,
        method: "cuCtxCreate + cuCtxDestroy in a live process (create-destroy); first cuInit + primary context in a fresh child process, as the child times it (cold-start)",
    },
    MetricInfo {
        id: "OH-005",
        name: "API interception overhead",
        category: "overhead",
        needs: Needs::Process,
        unit: "ns",
        better: Goal::Lower,
        ns_per_unit: 1.0,
        method: "ns per call of cuDriverGetVersion, cuCtxGetDevice, cuDeviceGetAttribute, timed in batches of 1000 calls",
    },
    MetricInfo {
        id: "OH-006",
        name: "Shared-state contention",
        category: "overhead",
        needs: Needs::Process,
        unit: "us",
        better: Goal::Lower,
        ns_per_unit: 1e3,
        method: "cuMemAlloc + cuMemFree of 4 KiB per pair, in 1, 2, 4, 8 processes of the same configuration at once (started behind a barrier); mean over processes per sample",
    },
    MetricInfo {
        id: "OH-007",
        name: "Memory tracking overhead",
        category: "overhead",
        needs: Needs::Process,
        unit: "ns",
        better: Goal::Lower,
        ns_per_unit: 1.0,
        method: "host time of a cuMemAlloc + cuMemFree pair of 4 KiB",
    },
    MetricInfo {
        id: "OH-008",
        name: "Rate limiter overhead",
        category: "overhead",
        needs: Needs::Process,
        unit: "ns",
        better: Goal::Lower,
        ns_per_unit: 1.0,
        method: "host time of cuLaunchKernel of an empty kernel on an idle GPU (launch timed, then synchronize untimed, repeat), so a limiter's check is paid but never waits",
    },
    MetricInfo {
        id: "OH-009",
        name: "Monitoring CPU overhead",
        category: "overhead",
        needs: Needs::Process,
        unit: "%",
        better: Goal::Lower,
        ns_per_unit: 1.0,
        method: "CPU time (getrusage, user + system, all threads) of a child process holding an idle context, per 0.5 s window over 2 s (1 s with --quick), as % of one core",
    },
    MetricInfo {
        id: "OH-010",
        name: "Total throughput degradation",
        category: "overhead",
        needs: Needs::Process,
        unit: "us",
        better: Goal::Lower,
        ns_per_unit: 1e3,
        method: "time per iteration of a fixed pipeline: cuMemAlloc 16 MiB, copy host to device, three kernels, copy back, cuMemFree (output checked before timing); degradation = 1 - native time / configuration time",
    },
    MetricInfo {
        id: "LLM-001",
        name: "Attention throughput",
        category: "llm",
        needs: Needs::Process,
        unit: "TFLOPS",
        better: Goal::Higher,
        ns_per_unit: 1.0,
        method: "our flash-attention forward kernel (bf16 in, f32 accumulate on tensor cores, online softmax), B4 H16 S4096 (S1024 with --quick), head dim 64 and 128, causal and not, checked against a naive f32 kernel first; FLOPs = 4*B*H*S*S*D, half for causal; GPU-event timed; also as a share of the best bf16 GEMM measured in the same run (at LLM-008's size: 8192^3, 4096^3 with --quick). Two kernel generations: the sm_80 one (mma.sync; variants d128, d64-causal, ...) on every GPU, and on compute capability 9.0 also the Hopper one (wgmma fed by tensor-map copies, warp-specialised; variants ending -sm90) unless GPU_VIRT_BENCH_KERNELS=sm80, each checked before it is timed. The figure is one kernel on one problem size: it cannot say what another attention implementation reaches on the device",
    },
    MetricInfo {
        id: "LLM-002",
        name: "KV-cache allocation speed",
        category: "llm",
        needs: Needs::Process,
        unit: "allocs/s",
        better: Goal::Higher,
        ns_per_unit: 1.0,
        method: "64 KV blocks of 2 MiB allocated one by one (the frees untimed), with cuMemAlloc and from a stream-ordered pool (cuMemAllocFromPoolAsync, release threshold unbounded)",
    },
    MetricInfo {
        id: "LLM-003",
        name: "Batch size scaling",
        category: "llm",
        needs: Needs::Process,
        unit: "ratio",
        better: Goal::Higher,
        ns_per_unit: 1.0,
        method: "our newest bf16 GEMM (on compute capability 9.0 the Hopper kernel on a persistent grid, else the sm_80 one; `kernel` names it) [b x 4096] x [4096 x 4096]^T for b = 1..256: tokens/s(b) / (b * tokens/s(1)), from GPU-event times of b and b = 1 measured in alternation",
    },
    MetricInfo {
        id: "LLM-004",
        name: "Token generation latency",
        category: "llm",
        needs: Needs::Process,
        unit: "us",
        better: Goal::Lower,
        ns_per_unit: 1e3,
        method: "one decode step of a 4-layer bf16 transformer stack (d_model 2048, 16 heads of 128, MLP 8192; QKV, attention over a 1024-token KV cache, output and MLP GEMMs) with our kernels, batch 1, GPU-event timed, as launches and as a CUDA graph replay",
    },
    MetricInfo {
        id: "LLM-005",
        name: "Memory pool efficiency",
        category: "llm",
        needs: Needs::Process,
        unit: "%",
        better: Goal::Lower,
        ns_per_unit: 1.0,
        method: "host time of 20 pool alloc+free pairs (cuMemAllocFromPoolAsync/cuMemFreeAsync, one stream sync) as % of 20 cuMemAlloc+cuMemFree pairs of the same size, measured in alternation, at 64 KiB, 2 MiB and 64 MiB",
    },
    MetricInfo {
        id: "LLM-006",
        name: "Multi-stream efficiency",
        category: "llm",
        needs: Needs::Process,
        unit: "%",
        better: Goal::Higher,
        ns_per_unit: 1.0,
        method: "K = 1, 2, 4, 8 streams each running a 1 ms spin kernel on 1/K of the SMs: (sum of the kernels' solo times) / (K * time of all K at once); bounded by 100 % (above 103 % the run is invalid)",
    },
    MetricInfo {
        id: "LLM-007",
        name: "Large tensor allocation",
        category: "llm",
        needs: Needs::Process,
        unit: "ms",
        better: Goal::Lower,
        ns_per_unit: 1e6,
        method: "cuMemAlloc of 1, 4 and 16 GiB and first touch (cuMemsetD32 of the whole buffer, synchronised); a size over 90 % of the free memory the configuration reports is skipped",
    },
    MetricInfo {
        id: "LLM-008",
        name: "Mixed precision",
        category: "llm",
        needs: Needs::Process,
        unit: "TFLOPS",
        better: Goal::Higher,
        ns_per_unit: 1.0,
        method: "GEMM 8192^3 (4096^3 with --quick), C = A * B^T with f32 output, each checked against a naive f32 kernel first: our bf16 and fp16 tensor-core kernels, our f32 FMA kernel, and cuBLAS bf16 where libcublas loads. Two generations of the 16-bit kernels: the sm_80 one (mma.sync; variants bf16, fp16) on every GPU, and on compute capability 9.0 also the Hopper one (wgmma fed by tensor-map copies, warp-specialised, one block per SM looping over 128x256 tiles; variants ending -sm90) unless GPU_VIRT_BENCH_KERNELS=sm80. Plus, from GPU-event times measured in alternation, the ratios bf16/f32 and fp16/f32 of the sm_80 kernels and our newest bf16 kernel's throughput as a share of cuBLAS's (bf16-sm90/cublas on Hopper: cuBLAS's time over ours)",
    },
    MetricInfo {
        id: "LLM-009",
        name: "Dynamic batching",
        category: "llm",
        needs: Needs::Process,
        unit: "CV",
        better: Goal::Lower,
        ns_per_unit: 1.0,
        method: "decode steps of the LLM-004 stack at batch sizes drawn from a seeded uniform choice of 1, 2, 4, 8, 16, 32; coefficient of variation of step latency per block of 64 steps",
    },
    MetricInfo {
        id: "LLM-010",
        name: "Multi-GPU scaling",
        category: "llm",
        needs: Needs::Process,
        unit: "ratio",
        better: Goal::Higher,
        ns_per_unit: 1.0,
        method: "a tensor-parallel MLP layer, [T x 4096] x a column-parallel [16384/N x 4096]^T bf16 GEMM, GELU to bf16, a row-parallel [4096 x 16384/N]^T bf16 GEMM and an f32 ncclAllReduce of the [T x 4096] partial sums (T = 4096, 2048 with --quick), one rank process per GPU of the configuration for N = 1, 2, 4 ... visible GPUs; each N's all-reduced output is first checked against the same layer computed whole on GPU 0 (and our GEMM against the naive kernel); GPU-event time per layer, the slowest rank's per sample; tpN/TFLOPS is the layer's FLOPs over that time (held to N devices' tensor-core peak), tpN/factor (N >= 2) throughput(N) / (N x throughput(1)) against the median of N = 1, refused above 1.03; with one GPU only tp1/TFLOPS is measured, as a factor needs 2+ GPUs; the figure says nothing of layers whose GEMMs are too small to hide the all-reduce",
    },
    MetricInfo {
        id: "IS-001",
        name: "Memory limit accuracy",
        category: "isolation",
        needs: Needs::Tenants(ScenarioKind::Share, Subject::MemoryLimited),
        unit: "%",
        better: Goal::Limit,
        ns_per_unit: 1.0,
        method: "each tenant with a memory limit, alone, once per share scenario: cuMemAlloc of 64 MiB chunks until one is refused (at most 1 TiB); usable MiB as % of the configured limit: 100 % is the limit exactly, above it the limit did not hold",
    },
    MetricInfo {
        id: "IS-002",
        name: "Memory limit enforcement",
        category: "isolation",
        needs: Needs::Tenants(ScenarioKind::Share, Subject::MemoryLimited),
        unit: "us",
        better: Goal::Lower,
        ns_per_unit: 1.0,
        method: "host time of the refused cuMemAlloc that ends IS-001's fill, with the CUresult it returned (a fill that reaches its cap is never refused, and says so)",
    },
    MetricInfo {
        id: "IS-003",
        name: "SM limit accuracy",
        category: "isolation",
        needs: Needs::Tenants(ScenarioKind::Share, Subject::SmLimitedVictim),
        unit: "%",
        better: Goal::Higher,
        ns_per_unit: 1.0,
        method: "per kernel shape (short: 8 blocks per SM of 0.1 ms; 1ms, 10ms: one block per SM, all fma_work at full occupancy on independent FMA chains; gemm: our newest bf16 GEMM of 4096^3, one block per 128 x 256 tile (512); gemm-persistent: the same on the Hopper kernel gemm_sm90_bf16's persistent grid, one block per SM looping over the tiles, on compute capability 9.0 only (an error elsewhere, never the per-tile kernel in its place); gemm-cublas: cuBLAS's bf16 GEMM of 4096^3), one kernel at a time, each victim with an SM limit alone for a phase (10 s by default): % of its 0.5 s windows whose kernels/s, as a share of one native tenant alone of the same shape, lie within 10 points of the limit; read alone, as beside others contention lowers the share whatever the limit",
    },
    MetricInfo {
        id: "IS-004",
        name: "SM limit response time",
        category: "isolation",
        needs: Needs::Tenants(ScenarioKind::Share, Subject::SmLimitedVictim),
        unit: "s",
        better: Goal::Lower,
        ns_per_unit: 1.0,
        method: "IS-003's windows: the start of the first window from which every later one lies within 10 points of the limit (0 where all do; none where the last does not)",
    },
    MetricInfo {
        id: "IS-005",
        name: "Cross-tenant memory isolation",
        category: "isolation",
        needs: Needs::Tenants(ScenarioKind::Memory, Subject::Any),
        unit: "verdict",
        better: Goal::Pass,
        ns_per_unit: 1.0,
        method: "the owner tenant writes a seeded pattern into 8 MiB of its memory and keeps it; the reader, another process in its own context, reads that address by raw pointer (cuMemcpyDtoH, and a kernel) and through the owner's IPC handle; then the owner reads its data back: verdict isolated, LEAKED (a raw path read the pattern), VICTIM LOST (the owner lost its context) or CORRUPTED (its data changed); what IPC gave is reported beside it as explicit sharing, never as a leak",
    },
    MetricInfo {
        id: "IS-006",
        name: "Cross-tenant compute interference",
        category: "isolation",
        needs: Needs::Tenants(ScenarioKind::Share, Subject::Victim),
        unit: "%",
        better: Goal::Lower,
        ns_per_unit: 1.0,
        method: "each victim's kernels/s alone and beside the scenario's other tenants, the same shape and phase length: 1 - together / alone",
    },
    MetricInfo {
        id: "IS-007",
        name: "QoS consistency",
        category: "isolation",
        needs: Needs::Tenants(ScenarioKind::Share, Subject::Any),
        unit: "CV",
        better: Goal::Lower,
        ns_per_unit: 1.0,
        method: "coefficient of variation of each tenant's kernels/s per 0.5 s window beside the others",
    },
    MetricInfo {
        id: "IS-008",
        name: "Fairness",
        category: "isolation",
        needs: Needs::Tenants(ScenarioKind::Share, Subject::Any),
        unit: "index",
        better: Goal::Higher,
        ns_per_unit: 1.0,
        method: "Jain's index of the tenants' kernels/s beside each other, per share scenario and shape: 1 when all are equal, 1/n when one tenant gets everything",
    },
    MetricInfo {
        id: "IS-009",
        name: "Noisy neighbour",
        category: "isolation",
        needs: Needs::Tenants(ScenarioKind::Share, Subject::Victim),
        unit: "%",
        better: Goal::Lower,
        ns_per_unit: 1.0,
        method: "each victim's p99 host time per kernel (launch to completion) alone and beside the others: together / alone - 1",
    },
    MetricInfo {
        id: "IS-010",
        name: "Fault isolation",
        category: "isolation",
        needs: Needs::Tenants(ScenarioKind::Fault, Subject::Any),
        unit: "verdict",
        better: Goal::Pass,
        ns_per_unit: 1.0,
        method: "the victim runs short-shape fma_work kernels, every output checked, for a phase; halfway through the other tenant writes to 0x10, which no allocation covers: verdict isolated (the fault was raised and the victim ran on after it, every result correct), NOT ISOLATED (a wrong result, or a victim error after the fault) or inconclusive (no fault raised, or the victim stopped before it); with the victim's kernels/s after the fault over before",
    },
    MetricInfo {
        id: "ENF-001",
        name: "Memory limit on cuMemAlloc",
        category: "enforcement",
        needs: Needs::Process,
        unit: "bytes",
        better: Goal::Lower,
        ns_per_unit: 1.0,
        method: "cuMemAlloc; in a fresh child of the configuration (own state file) and natively as the control: a 64 MiB allocation first, then 1 GiB chunks up to limit + 4 GiB (at most 90 % of the native free memory), each written on the device; records the status, bytes obtained and written, cuMemGetInfo while held and whether a following 1 GiB cuMemAlloc is refused; verdict enforced, bypassed (bytes above the limit), refused-unlike-native, inconclusive or not-applicable, in enforcement.json",
    },
    MetricInfo {
        id: "ENF-002",
        name: "Memory limit on cudaMalloc",
        category: "enforcement",
        needs: Needs::Process,
        unit: "bytes",
        better: Goal::Lower,
        ns_per_unit: 1.0,
        method: "cudaMalloc through libcudart opened at run time (not applicable where none loads); in a fresh child of the configuration (own state file) and natively as the control: a 64 MiB allocation first, then 1 GiB chunks up to limit + 4 GiB (at most 90 % of the native free memory), each written on the device; records the status, bytes obtained and written, cuMemGetInfo while held and whether a following 1 GiB cuMemAlloc is refused; verdict enforced, bypassed (bytes above the limit), refused-unlike-native, inconclusive or not-applicable, in enforcement.json",
    },
    MetricInfo {
        id: "ENF-003",
        name: "Memory limit on cuMemAllocPitch",
        category: "enforcement",
        needs: Needs::Process,
        unit: "bytes",
        better: Goal::Lower,
        ns_per_unit: 1.0,
        method: "cuMemAllocPitch of 2 MiB rows; in a fresh child of the configuration (own state file) and natively as the control: a 64 MiB allocation first, then 1 GiB chunks up to limit + 4 GiB (at most 90 % of the native free memory), each written on the device; records the status, bytes obtained and written, cuMemGetInfo while held and whether a following 1 GiB cuMemAlloc is refused; verdict enforced, bypassed (bytes above the limit), refused-unlike-native, inconclusive or not-applicable, in enforcement.json",
    },
    MetricInfo {
        id: "ENF-004",
        name: "Memory limit on managed memory",
        category: "enforcement",
        needs: Needs::Process,
        unit: "bytes",
        better: Goal::Lower,
        ns_per_unit: 1.0,
        method: "cuMemAllocManaged, pages prefetched to the device (cuMemPrefetchAsync) and written there; in a fresh child of the configuration (own state file) and natively as the control: a 64 MiB allocation first, then 1 GiB chunks up to limit + 4 GiB (at most 90 % of the native free memory), each written on the device; records the status, bytes obtained and written, cuMemGetInfo while held and whether a following 1 GiB cuMemAlloc is refused; verdict enforced, bypassed (bytes above the limit), refused-unlike-native, inconclusive or not-applicable, in enforcement.json",
    },
    MetricInfo {
        id: "ENF-005",
        name: "Memory limit on VMM",
        category: "enforcement",
        needs: Needs::Process,
        unit: "bytes",
        better: Goal::Lower,
        ns_per_unit: 1.0,
        method: "cuMemCreate + cuMemAddressReserve + cuMemMap + cuMemSetAccess, written on the device; in a fresh child of the configuration (own state file) and natively as the control: a 64 MiB allocation first, then 1 GiB chunks up to limit + 4 GiB (at most 90 % of the native free memory), each written on the device; records the status, bytes obtained and written, cuMemGetInfo while held and whether a following 1 GiB cuMemAlloc is refused; verdict enforced, bypassed (bytes above the limit), refused-unlike-native, inconclusive or not-applicable, in enforcement.json",
    },
    MetricInfo {
        id: "ENF-006",
        name: "Memory limit on cuMemAllocAsync",
        category: "enforcement",
        needs: Needs::Process,
        unit: "bytes",
        better: Goal::Lower,
        ns_per_unit: 1.0,
        method: "cuMemAllocAsync from the default pool; in a fresh child of the configuration (own state file) and natively as the control: a 64 MiB allocation first, then 1 GiB chunks up to limit + 4 GiB (at most 90 % of the native free memory), each written on the device; records the status, bytes obtained and written, cuMemGetInfo while held and whether a following 1 GiB cuMemAlloc is refused; verdict enforced, bypassed (bytes above the limit), refused-unlike-native, inconclusive or not-applicable, in enforcement.json",
    },
    MetricInfo {
        id: "ENF-007",
        name: "Memory limit on an own pool",
        category: "enforcement",
        needs: Needs::Process,
        unit: "bytes",
        better: Goal::Lower,
        ns_per_unit: 1.0,
        method: "cuMemPoolCreate + cuMemAllocFromPoolAsync; in a fresh child of the configuration (own state file) and natively as the control: a 64 MiB allocation first, then 1 GiB chunks up to limit + 4 GiB (at most 90 % of the native free memory), each written on the device; records the status, bytes obtained and written, cuMemGetInfo while held and whether a following 1 GiB cuMemAlloc is refused; verdict enforced, bypassed (bytes above the limit), refused-unlike-native, inconclusive or not-applicable, in enforcement.json",
    },
    MetricInfo {
        id: "ENF-008",
        name: "Memory limit on cuArrayCreate",
        category: "enforcement",
        needs: Needs::Process,
        unit: "bytes",
        better: Goal::Lower,
        ns_per_unit: 1.0,
        method: "cuArrayCreate of 2D arrays of 16-byte texels (not written: arrays have no address); in a fresh child of the configuration (own state file) and natively as the control: a 64 MiB allocation first, then 1 GiB chunks up to limit + 4 GiB (at most 90 % of the native free memory), each written on the device; records the status, bytes obtained and written, cuMemGetInfo while held and whether a following 1 GiB cuMemAlloc is refused; verdict enforced, bypassed (bytes above the limit), refused-unlike-native, inconclusive or not-applicable, in enforcement.json",
    },
    MetricInfo {
        id: "ENF-009",
        name: "Memory limit on cuArray3DCreate",
        category: "enforcement",
        needs: Needs::Process,
        unit: "bytes",
        better: Goal::Lower,
        ns_per_unit: 1.0,
        method: "cuArray3DCreate of 3D arrays of 16-byte texels (not written); in a fresh child of the configuration (own state file) and natively as the control: a 64 MiB allocation first, then 1 GiB chunks up to limit + 4 GiB (at most 90 % of the native free memory), each written on the device; records the status, bytes obtained and written, cuMemGetInfo while held and whether a following 1 GiB cuMemAlloc is refused; verdict enforced, bypassed (bytes above the limit), refused-unlike-native, inconclusive or not-applicable, in enforcement.json",
    },
    MetricInfo {
        id: "ENF-010",
        name: "Memory limit on graph memory nodes",
        category: "enforcement",
        needs: Needs::Process,
        unit: "bytes",
        better: Goal::Lower,
        ns_per_unit: 1.0,
        method: "a graph of one cuGraphAddMemAllocNode per chunk, launched; in a fresh child of the configuration (own state file) and natively as the control: a 64 MiB allocation first, then 1 GiB chunks up to limit + 4 GiB (at most 90 % of the native free memory), each written on the device; records the status, bytes obtained and written, cuMemGetInfo while held and whether a following 1 GiB cuMemAlloc is refused; verdict enforced, bypassed (bytes above the limit), refused-unlike-native, inconclusive or not-applicable, in enforcement.json",
    },
    MetricInfo {
        id: "ENF-011",
        name: "Memory limit on the device heap",
        category: "enforcement",
        needs: Needs::Process,
        unit: "bytes",
        better: Goal::Lower,
        ns_per_unit: 1.0,
        method: "cuCtxSetLimit(CU_LIMIT_MALLOC_HEAP_SIZE) to the target + 1/16 (at least + 128 MiB) before the malloc module loads, the size the driver set read back with cuCtxGetLimit and recorded; then malloc in a kernel, one chunk of 64 MiB - 64 KiB per block, each written, the kernel relaunched over the refused chunks (at most 4 launches, until one gets nothing more); in a fresh child of the configuration (own state file) and natively as the control: a 64 MiB allocation first, then 1 GiB chunks up to limit + 4 GiB (at most 90 % of the native free memory), each written on the device; records the status, bytes obtained and written, cuMemGetInfo while held and whether a following 1 GiB cuMemAlloc is refused; verdict enforced, bypassed (bytes above the limit), refused-unlike-native, inconclusive or not-applicable, in enforcement.json",
    },
    MetricInfo {
        id: "ENF-012",
        name: "Limit variables removed",
        category: "enforcement",
        needs: Needs::Process,
        unit: "bytes",
        better: Goal::Lower,
        ns_per_unit: 1.0,
        method: "a child of the tenant with CUDA_DEVICE_MEMORY_LIMIT and CUDA_DEVICE_SM_LIMIT removed, sharing the state file a child of the configuration holds; cuMemAlloc; in a fresh child of the configuration (own state file) and natively as the control: a 64 MiB allocation first, then 1 GiB chunks up to limit + 4 GiB (at most 90 % of the native free memory), each written on the device; records the status, bytes obtained and written, cuMemGetInfo while held and whether a following 1 GiB cuMemAlloc is refused; verdict enforced, bypassed (bytes above the limit), refused-unlike-native, inconclusive or not-applicable, in enforcement.json",
    },
    MetricInfo {
        id: "ENF-013",
        name: "Limit variables changed",
        category: "enforcement",
        needs: Needs::Process,
        unit: "bytes",
        better: Goal::Lower,
        ns_per_unit: 1.0,
        method: "as ENF-012 with the memory limit doubled and the SM limit 100; in a fresh child of the configuration (own state file) and natively as the control: a 64 MiB allocation first, then 1 GiB chunks up to limit + 4 GiB (at most 90 % of the native free memory), each written on the device; records the status, bytes obtained and written, cuMemGetInfo while held and whether a following 1 GiB cuMemAlloc is refused; verdict enforced, bypassed (bytes above the limit), refused-unlike-native, inconclusive or not-applicable, in enforcement.json",
    },
    MetricInfo {
        id: "ENF-014",
        name: "Child without the preload",
        category: "enforcement",
        needs: Needs::Process,
        unit: "bytes",
        better: Goal::Lower,
        ns_per_unit: 1.0,
        method: "as ENF-012 with LD_PRELOAD removed; in a fresh child of the configuration (own state file) and natively as the control: a 64 MiB allocation first, then 1 GiB chunks up to limit + 4 GiB (at most 90 % of the native free memory), each written on the device; records the status, bytes obtained and written, cuMemGetInfo while held and whether a following 1 GiB cuMemAlloc is refused; verdict enforced, bypassed (bytes above the limit), refused-unlike-native, inconclusive or not-applicable, in enforcement.json",
    },
    MetricInfo {
        id: "ENF-015",
        name: "cuMemAlloc from cuGetProcAddress",
        category: "enforcement",
        needs: Needs::Process,
        unit: "bytes",
        better: Goal::Lower,
        ns_per_unit: 1.0,
        method: "cuMemAlloc called through the pointer cuGetProcAddress returns; in a fresh child of the configuration (own state file) and natively as the control: a 64 MiB allocation first, then 1 GiB chunks up to limit + 4 GiB (at most 90 % of the native free memory), each written on the device; records the status, bytes obtained and written, cuMemGetInfo while held and whether a following 1 GiB cuMemAlloc is refused; verdict enforced, bypassed (bytes above the limit), refused-unlike-native, inconclusive or not-applicable, in enforcement.json",
    },
    MetricInfo {
        id: "ENF-016",
        name: "cuMemAlloc from libcuda by path",
        category: "enforcement",
        needs: Needs::Process,
        unit: "bytes",
        better: Goal::Lower,
        ns_per_unit: 1.0,
        method: "libcuda opened again by its full path (from /proc/self/maps), cuMemAlloc_v2 from dlsym on it; in a fresh child of the configuration (own state file) and natively as the control: a 64 MiB allocation first, then 1 GiB chunks up to limit + 4 GiB (at most 90 % of the native free memory), each written on the device; records the status, bytes obtained and written, cuMemGetInfo while held and whether a following 1 GiB cuMemAlloc is refused; verdict enforced, bypassed (bytes above the limit), refused-unlike-native, inconclusive or not-applicable, in enforcement.json",
    },
    MetricInfo {
        id: "ENF-017",
        name: "SM limit on cuLaunchKernel",
        category: "enforcement",
        needs: Needs::Process,
        unit: "%",
        better: Goal::Lower,
        ns_per_unit: 1.0,
        method: "cuLaunchKernel of fma_work, 8 blocks of 100 us per SM (full occupancy, independent FMA chains); grids sized from the parent's native device facts; in a fresh child of the configuration and natively as the control; delivered share = the configuration's kernels/s as % of the native rate (the native control of a watched shape runs 5 s); verdict bypassed above the limit + 10 points (by share - limit), enforced otherwise, not-applicable (and not run) without an SM limit below 100 %, in enforcement.json",
    },
    MetricInfo {
        id: "ENF-018",
        name: "SM limit on cuLaunchKernelEx",
        category: "enforcement",
        needs: Needs::Process,
        unit: "%",
        better: Goal::Lower,
        ns_per_unit: 1.0,
        method: "as ENF-017 through cuLaunchKernelEx; grids sized from the parent's native device facts; in a fresh child of the configuration and natively as the control; delivered share = the configuration's kernels/s as % of the native rate (the native control of a watched shape runs 5 s); verdict bypassed above the limit + 10 points (by share - limit), enforced otherwise, not-applicable (and not run) without an SM limit below 100 %, in enforcement.json",
    },
    MetricInfo {
        id: "ENF-019",
        name: "SM limit on cooperative launch",
        category: "enforcement",
        needs: Needs::Process,
        unit: "%",
        better: Goal::Lower,
        ns_per_unit: 1.0,
        method: "cuLaunchCooperativeKernel of fma_work, one 1024-thread block of 100 us per SM; grids sized from the parent's native device facts; in a fresh child of the configuration and natively as the control; delivered share = the configuration's kernels/s as % of the native rate (the native control of a watched shape runs 5 s); verdict bypassed above the limit + 10 points (by share - limit), enforced otherwise, not-applicable (and not run) without an SM limit below 100 %, in enforcement.json",
    },
    MetricInfo {
        id: "ENF-020",
        name: "SM limit on CUDA graphs",
        category: "enforcement",
        needs: Needs::Process,
        unit: "%",
        better: Goal::Lower,
        ns_per_unit: 1.0,
        method: "as ENF-017, each 2 ms batch captured once into a CUDA graph and replayed with cuGraphLaunch; grids sized from the parent's native device facts; in a fresh child of the configuration and natively as the control; delivered share = the configuration's kernels/s as % of the native rate (the native control of a watched shape runs 5 s); verdict bypassed above the limit + 10 points (by share - limit), enforced otherwise, not-applicable (and not run) without an SM limit below 100 %, in enforcement.json",
    },
    MetricInfo {
        id: "ENF-021",
        name: "SM limit over several streams",
        category: "enforcement",
        needs: Needs::Process,
        unit: "%",
        better: Goal::Lower,
        ns_per_unit: 1.0,
        method: "as ENF-017, each kernel split over 4 streams at once; grids sized from the parent's native device facts; in a fresh child of the configuration and natively as the control; delivered share = the configuration's kernels/s as % of the native rate (the native control of a watched shape runs 5 s); verdict bypassed above the limit + 10 points (by share - limit), enforced otherwise, not-applicable (and not run) without an SM limit below 100 %, in enforcement.json",
    },
    MetricInfo {
        id: "ENF-022",
        name: "SM limit on 1 ms blocks",
        category: "enforcement",
        needs: Needs::Process,
        unit: "%",
        better: Goal::Lower,
        ns_per_unit: 1.0,
        method: "one 1 ms block per SM, watched 120 s (20 s with --quick); reports the time to the first throttled 0.5 s window; grids sized from the parent's native device facts; in a fresh child of the configuration and natively as the control; delivered share = the configuration's kernels/s as % of the native rate (the native control of a watched shape runs 5 s); verdict bypassed above the limit + 10 points (by share - limit), enforced otherwise, not-applicable (and not run) without an SM limit below 100 %, in enforcement.json",
    },
    MetricInfo {
        id: "ENF-023",
        name: "SM limit on 10 ms blocks",
        category: "enforcement",
        needs: Needs::Process,
        unit: "%",
        better: Goal::Lower,
        ns_per_unit: 1.0,
        method: "as ENF-022 with 10 ms blocks; grids sized from the parent's native device facts; in a fresh child of the configuration and natively as the control; delivered share = the configuration's kernels/s as % of the native rate (the native control of a watched shape runs 5 s); verdict bypassed above the limit + 10 points (by share - limit), enforced otherwise, not-applicable (and not run) without an SM limit below 100 %, in enforcement.json",
    },
    MetricInfo {
        id: "ENF-024",
        name: "cuLaunchKernel from cuGetProcAddress",
        category: "enforcement",
        needs: Needs::Process,
        unit: "%",
        better: Goal::Lower,
        ns_per_unit: 1.0,
        method: "as ENF-017, cuLaunchKernel called through the pointer cuGetProcAddress returns; grids sized from the parent's native device facts; in a fresh child of the configuration and natively as the control; delivered share = the configuration's kernels/s as % of the native rate (the native control of a watched shape runs 5 s); verdict bypassed above the limit + 10 points (by share - limit), enforced otherwise, not-applicable (and not run) without an SM limit below 100 %, in enforcement.json",
    },
    MetricInfo {
        id: "ENF-025",
        name: "SM limit on cudaLaunchKernel",
        category: "enforcement",
        needs: Needs::Process,
        unit: "%",
        better: Goal::Lower,
        ns_per_unit: 1.0,
        method: "as ENF-017 through the runtime API: fma_work loaded from the same PTX by cudaLibraryLoadData + cudaLibraryGetKernel of libcudart opened at run time, launched by cudaLaunchKernel with the cudaKernel_t (not applicable where no libcudart with that API loads); grids sized from the parent's native device facts; in a fresh child of the configuration and natively as the control; delivered share = the configuration's kernels/s as % of the native rate; verdict bypassed above the limit + 10 points (by share - limit), enforced otherwise, not-applicable (and not run) without an SM limit below 100 %, in enforcement.json",
    },
    MetricInfo {
        id: "ENF-026",
        name: "State file limits rewritten",
        category: "enforcement",
        needs: Needs::Process,
        unit: "bytes",
        better: Goal::Lower,
        ns_per_unit: 1.0,
        method: "a child of the configuration (fresh state file) maps the file CUDA_DEVICE_MEMORY_SHARED_CACHE names read-write and, knowing nothing of its layout, rewrites every 8-byte little-endian word equal to the memory limit in bytes to limit + 8 GiB (and every aligned 4-byte word equal to the SM limit to 100, only where they are as many as the memory words and evenly spaced 4 or 8 bytes apart in one run), keeping the file in use; then a new child of the configuration sharing the file: cuMemAlloc, a 64 MiB allocation first, then 1 GiB chunks up to limit + 4 GiB (at most 90 % of the native free memory), each written on the device, natively as the control; records the words found and rewritten, the status, bytes obtained and written, cuMemGetInfo while held and whether a following 1 GiB cuMemAlloc is refused; verdict bypassed (bytes above the limit), enforced, inconclusive where no word equalled the limit or the rewrite failed, not-applicable without a state file or memory limit, in enforcement.json",
    },
    MetricInfo {
        id: "ENF-027",
        name: "SM limit on our GEMM (one block per tile)",
        category: "enforcement",
        needs: Needs::Process,
        unit: "%",
        better: Goal::Lower,
        ns_per_unit: 1.0,
        method: "a real kernel instead of fma_work: our newest bf16 GEMM of 4096^3 (C = A B^T, f32 accumulate on tensor cores; gemm_sm90_bf16 on compute capability 9.0, gemm_bf16 elsewhere) through cuLaunchKernel, one block per 128 x 256 tile of C (512 blocks), one kernel at a time for 5 s (3 s with --quick), its output checked once against the naive kernel first; in a fresh child of the configuration and natively as the control; delivered share = the configuration's kernels/s as % of the native rate; verdict bypassed above the limit + 10 points (by share - limit), enforced otherwise, not-applicable (and not run) without an SM limit below 100 %, in enforcement.json",
    },
    MetricInfo {
        id: "ENF-028",
        name: "SM limit on a persistent GEMM (one block per SM)",
        category: "enforcement",
        needs: Needs::Process,
        unit: "%",
        better: Goal::Lower,
        ns_per_unit: 1.0,
        method: "as ENF-027 with gemm_sm90_bf16 on its persistent grid: one block per SM (never more than the tiles), each looping over the tiles, as production GEMMs run on Hopper and the fewest blocks a block-counting limiter could charge; not applicable off compute capability 9.0 or with GPU_VIRT_BENCH_KERNELS=sm80 (never the per-tile kernel in its place); in a fresh child of the configuration and natively as the control; delivered share = the configuration's kernels/s as % of the native rate; verdict bypassed above the limit + 10 points (by share - limit), enforced otherwise, not-applicable (and not run) without an SM limit below 100 %, in enforcement.json",
    },
    MetricInfo {
        id: "BW-001",
        name: "Memory bandwidth",
        category: "bandwidth",
        needs: Needs::Process,
        unit: "GB/s",
        better: Goal::Higher,
        ns_per_unit: 1.0,
        method: "stream_copy (16-byte loads and stores, grid-stride, SMs x occupancy blocks of 256 threads) from one buffer to another, each 8 x the L2 (from CU_DEVICE_ATTRIBUTE_L2_CACHE_SIZE, at least 64 MiB, at most 80 % of free memory for both), its output checked against a pattern first (stream-kernel); cuMemcpyDtoDAsync of the same buffers (memcpy-d2d); GPU-event timed, bytes read + written; against the DRAM rate from memory clock x bus width x 2 (a figure above it is refused) and the kernel against the best device-to-device copy of the same run. Under a limit the process's own bandwidth, not how it shares with others (BW-002..004)",
    },
    MetricInfo {
        id: "BW-002",
        name: "Bandwidth fairness",
        category: "bandwidth",
        needs: Needs::Process,
        unit: "index",
        better: Goal::Higher,
        ns_per_unit: 1.0,
        method: "4 tenant processes of the configuration (serving children started together) each run stream_copy on buffers of their own (8 x the L2, checked once) for 0.5 s (2 s in full mode), each in batches of 16 copies; Jain's index (sum x)^2 / (n sum x^2) of their GB/s per round, each tenant's bytes over the realtime span of its own loop (under time slicing a tenant's GPU-event time holds only its own slices, so event rates would all look equal), 3 rounds (10); 1 is equal shares, 1/4 one tenant taking all. Says nothing of how much each got (BW-003), and a tenant above the DRAM rate is refused",
    },
    MetricInfo {
        id: "BW-003",
        name: "Bandwidth saturation",
        category: "bandwidth",
        needs: Needs::Process,
        unit: "GB/s",
        better: Goal::Higher,
        ns_per_unit: 1.0,
        method: "the bytes 1, 2, 4, 8 tenant processes moved with stream_copy (as BW-002, buffers sized so 8 tenants' fit in half of free memory) over the realtime span from the first tenant's start to the last one's end, each count once per round, 3 rounds (10); against the DRAM rate (refused above it) and the run's device-to-device copy; the knee, the first count within 5 % of the largest total, is printed. The span holds the loops' start-up and the tenants' skew, so the total errs low (on the H200 the sum of per-tenant GPU-event rates came out above the DRAM rate under time slicing, which is why it is not used)",
    },
    MetricInfo {
        id: "BW-004",
        name: "Bandwidth interference",
        category: "bandwidth",
        needs: Needs::Process,
        unit: "%",
        better: Goal::Lower,
        ns_per_unit: 1.0,
        method: "a victim tenant process's stream_copy rate (bytes over the realtime span of its loop) alone, then beside an aggressor tenant streaming the same way at once, alternated per round (3 pairs, 10 in full mode, 0.5 s or 2 s each) so drift cancels; loss = 1 - beside / alone in %, each rate refused above the DRAM peak; a negative loss (faster beside a neighbour) is kept, since an SM limiter that duty-cycles a tenant alone can give it more beside another. Both tenants are of the same configuration: a loss of about 50 % is an even share of saturated memory, not a fault",
    },
    MetricInfo {
        id: "PCIE-001",
        name: "Host-to-device bandwidth",
        category: "pcie",
        needs: Needs::Process,
        unit: "GB/s",
        better: Goal::Higher,
        ns_per_unit: 1.0,
        method: "cuMemcpyHtoDAsync from pinned host memory (cuMemHostAlloc) of 1 MiB, 16 MiB, 256 MiB, 1 GiB (1 GiB left out with --quick), the data checked on the device once, GPU-event timed over back-to-back copies; against the link's theoretical rate per direction (highest generation x trained width from NVML, else sysfs, with 8b/10b or 128b/130b encoding; refused above it; unknown is said and no fraction claimed). Event timing leaves out the host's call overhead, which small copies pay in an application",
    },
    MetricInfo {
        id: "PCIE-002",
        name: "Device-to-host bandwidth",
        category: "pcie",
        needs: Needs::Process,
        unit: "GB/s",
        better: Goal::Higher,
        ns_per_unit: 1.0,
        method: "cuMemcpyDtoHAsync into pinned host memory, as PCIE-001 (same sizes, the data checked on the host once, GPU-event timed, against the link's rate per direction)",
    },
    MetricInfo {
        id: "PCIE-003",
        name: "Host-to-device contention",
        category: "pcie",
        needs: Needs::Process,
        unit: "%",
        better: Goal::Lower,
        ns_per_unit: 1.0,
        method: "a victim tenant process's GPU-timed pinned host-to-device rate (256 MiB copies, 64 MiB with --quick, data checked once) alone, then beside a second tenant copying the same way at once, alternated per round (3 pairs, 10 in full mode, 0.5 s or 2 s each); loss = 1 - beside / alone in %, a mean outside 0..100 % beyond 5 points is refused. One link shared evenly by two copies loses about 50 %",
    },
    MetricInfo {
        id: "PCIE-004",
        name: "Pageable vs pinned",
        category: "pcie",
        needs: Needs::Process,
        unit: "ratio",
        better: Goal::Higher,
        ns_per_unit: 1.0,
        method: "cuMemcpyHtoDAsync of 256 MiB (64 MiB with --quick) from pageable memory (a plain Vec, staged by the driver) and from pinned memory, each checked once, alternated (10 pairs, 30 in full mode), each host-timed from the call to its stream's synchronize, as an application waits; pageable / pinned per pair (ratio, above 1 + 5 % refused) and each's GB/s (pinned, pageable) against the link's rate. The pageable figure depends on the host's memory and CPU as much as on the link",
    },
    MetricInfo {
        id: "CACHE-001",
        name: "L2 working-set sweep",
        category: "cache",
        needs: Needs::Process,
        unit: "ratio",
        better: Goal::Higher,
        ns_per_unit: 1.0,
        method: "a read kernel (16-byte ld.global.cg loads that bypass L1, grid-stride, 8 blocks of 256 threads per SM, its sum checked against the known fill first) over sets of 1/8, 1/4, 1/2, 1, 2 and 4 times the L2 (CU_DEVICE_ATTRIBUTE_L2_CACHE_SIZE), each kernel reading about 32 L2s and timed on events, the sizes interleaved per round: GB/s per set (l2x*), the 4 x L2 set held to the DRAM peak from memory clock x bus width x 2, smaller sets to no peak (an L2 hit may beat DRAM, twice the L2 may still partly hit, and no L2 bound is derived); advantage = rate of the L2/4 set over that of the 4 x L2 set, an inference from time, not a measured hit rate",
    },
    MetricInfo {
        id: "CACHE-002",
        name: "L2 thrashing neighbour",
        category: "cache",
        needs: Needs::Process,
        unit: "%",
        better: Goal::Lower,
        ns_per_unit: 1.0,
        method: "a victim tenant reads an L2/2 set in 100 ms windows (300 ms full), each kernel on its own events; the loss of its GB/s beside a tenant streaming a 4 x L2 set, against its windows alone (vs-alone) and against its windows beside a tenant reading an L2/16 set that fits beside its own (vs-quiet-neighbour); windows alternate, each checked on the host clock to lie inside the neighbour's; a mean loss outside [-5 %, 100 %] (vs-alone) or [-105 %, 100 %] (vs-quiet-neighbour, whose neighbour may take more time slices than the thrasher) fails the run. Where the GPU time-slices the two contexts (natively, HAMi-core) vs-alone includes the neighbour's slices; vs-quiet-neighbour keeps the slices and changes only the neighbour's footprint, so it is the cache's part; both are inferences from time, not hit rates",
    },
    MetricInfo {
        id: "CACHE-003",
        name: "L2 shared by two tenants",
        category: "cache",
        needs: Needs::Process,
        unit: "%",
        better: Goal::Lower,
        ns_per_unit: 1.0,
        method: "two tenants each read a 0.6 x L2 set (one fits, two do not) in 100 ms windows (300 ms full), each alone, then both at once (the windows checked to overlap by half of each); slowdown = 1 - (sum of their GB/s together) / (mean of their GB/s alone), so time slices shared evenly with no loss to the cache read 0 %, and a pair that together does more than one alone (one alone leaving gaps the other fills) reads below 0, down to -100 % for both at their full rate at once (a mean outside [-105 %, 100 %] fails the run); an inference from time, not a hit rate",
    },
    MetricInfo {
        id: "CACHE-004",
        name: "Per-kernel cost beside a thrasher",
        category: "cache",
        needs: Needs::Process,
        unit: "us",
        better: Goal::Lower,
        ns_per_unit: 1.0,
        method: "from CACHE-002's windows: the victim's median kernel time beside the 4 x L2 streamer minus its median alone (vs-alone) or beside the L2/16 reader (vs-quiet-neighbour), each kernel timed on the victim's own events; it cannot tell cache misses from other contention",
    },
    MetricInfo {
        id: "SCHED-001",
        name: "Time slice and context switch",
        category: "sched",
        needs: Needs::Process,
        unit: "ms",
        better: Goal::Lower,
        ns_per_unit: 1.0,
        method: "two tenants start a 200 ms kernel (1 s full) of one 32-thread block per SM at once, 3 times (10 full); each block spins on %globaltimer and logs every pause over 10 us; from block 0 of each, on the one device clock: slice = each run of progress bounded by pauses on both sides while both kernels ran (ms), switch = from one tenant's run ending to the other's next run starting (us); not saved where no slices show (contexts that run at once, as under MPS); a block that never ran or logged out of order fails the run",
    },
    MetricInfo {
        id: "SCHED-002",
        name: "Launch-to-start latency",
        category: "sched",
        needs: Needs::Process,
        unit: "us",
        better: Goal::Lower,
        ns_per_unit: 1.0,
        method: "host CLOCK_REALTIME right before cuLaunchKernel to the first block's %globaltimer start, of a kernel of one 32-thread block per SM on an idle stream, alone and while another tenant keeps every SM's thread slots busy (kernels of 8 waves of 250 us blocks; only probes that started inside its span count); alone and beside-busy-tenant only where every launch alone started after its submit and before the host saw it end (the device clock is then host realtime within the printed bounds, the figures' uncertainty), else not saved (on the H200 the global timer ran about 450 us off host realtime); added-beside-busy-tenant, each probe beside the busy tenant less the median probe alone, is saved always, since the clocks' offset cancels out of it",
    },
    MetricInfo {
        id: "SCHED-003",
        name: "Stream concurrency",
        category: "sched",
        needs: Needs::Process,
        unit: "%",
        better: Goal::Higher,
        ns_per_unit: 1.0,
        method: "4 streams each launch a kernel of 1024-thread blocks filling the thread slots of 1/4 of the SMs (the count the device attribute gives: a partition's under MPS) for 2 ms; concurrency = (sum of the kernels' spans) / (4 x span of all four), from the blocks' %globaltimer stamps; bounded by 100 % (above 103 % the run is invalid); it says whether the streams overlap, not how fast they compute",
    },
    MetricInfo {
        id: "SCHED-004",
        name: "Priority preemption",
        category: "sched",
        needs: Needs::Process,
        unit: "us",
        better: Goal::Lower,
        ns_per_unit: 1.0,
        method: "host time from cuLaunchKernel to the end of cuStreamSynchronize of a one-block kernel on a stream of the greatest priority (cuCtxGetStreamPriorityRange): alone; while a least-priority stream of the same process keeps every SM's thread slots busy with kernels of 8 waves of 250 us blocks (probes counted while the filler was still queued); and while another tenant does so on its own least-priority stream (probes that started inside its span). Where priorities hold, the short block takes the next free slot (a wait under 250 us); where they do not, it waits for the grid's remaining waves (up to 2 ms); blocks are not preempted mid-run, and priorities do not cross processes, so the last variant shows how the GPU shares itself between tenants instead",
    },
    MetricInfo {
        id: "FRAG-001",
        name: "Largest allocation after churn",
        category: "frag",
        needs: Needs::Process,
        unit: "ratio",
        better: Goal::Higher,
        ns_per_unit: 1.0,
        method: "a seeded churn (fixed seed per sample) of cuMemAlloc sizes drawn log-uniform from 2 MiB to 1 GiB, allocated until the next would pass 90 % of the free memory reported, then a random half freed, four rounds; with the survivors held, the largest single cuMemAlloc that succeeds is bisected to 64 MiB (each try freed at once, tries up to 125 % of the free reported, never past 90 % of the physical free memory read natively: natively that cap binds on the clean heap, whose share is then a lower bound near 0.9) and divided by cuMemGetInfo's free at that moment (after-churn), the same on the clean heap first (clean), and its bytes (largest-after-churn); a share above 1.05 is not saved but reported: an allocation larger than the free memory reported means the free figure (the limit's accounting under an interposer) is wrong, and the allocation, not the figure, is what a tenant gets; everything is freed after each sample and free memory must come back; says nothing of fragmentation inside a framework's own caching allocator",
    },
    MetricInfo {
        id: "FRAG-002",
        name: "Allocation latency after churn",
        category: "frag",
        needs: Needs::Process,
        unit: "us",
        better: Goal::Lower,
        ns_per_unit: 1e3,
        method: "host time of a cuMemAlloc + cuMemFree pair of 2 MiB, 200 pairs per sample, on the clean heap (clean) and with FRAG-001's churn survivors held (after-churn), per sample the ratio of the two (after-churn-over-clean); per-call percentiles of every timed pair; the churn is the driver's heap only, so the figure says nothing of a caching allocator above it",
    },
    MetricInfo {
        id: "FRAG-003",
        name: "Freed memory returned to the limit",
        category: "frag",
        needs: Needs::Process,
        unit: "ratio",
        better: Goal::Higher,
        ns_per_unit: 1.0,
        method: "cuMemAlloc of 256 MiB chunks until one is refused or 90 % of the physical free memory (read natively) is reached, all freed, then the same again: bytes of the second pass / bytes of the first; the second pass must obtain the same within one chunk (the verdict is printed with both passes' bytes); a second pass more than one chunk above the first is not saved; natively the passes stop at the 90 % cap, so only a configuration whose limit refuses earlier tests the accounting, and comparing with native is the report's",
    },
    MetricInfo {
        id: "ERR-001",
        name: "Allocation failure latency",
        category: "err",
        needs: Needs::Process,
        unit: "us",
        better: Goal::Lower,
        ns_per_unit: 1e3,
        method: "host time of one cuMemAlloc that must fail: of the limit this process sees (cuMemGetInfo's total) + 1 GiB where that is below the device's memory and within 90 % of its physical free memory (over-limit), and of the device's memory (read natively) + 1 GiB (over-physical); only refused calls are samples, the CUresult names are printed and an allocation that succeeds is reported and freed; says nothing of how an interposer fails an allocation that fits",
    },
    MetricInfo {
        id: "ERR-002",
        name: "Recovery after a sticky fault",
        category: "err",
        needs: Needs::Process,
        unit: "ms",
        better: Goal::Lower,
        ns_per_unit: 1.0,
        method: "in a fresh serving child of the configuration (never the measuring process), a kernel writes to an address no allocation covers and the synchronisation reports the fault (CUDA_ERROR_ILLEGAL_ADDRESS expected; its name and that of a following allocation are printed); then, timed in the child, cuDevicePrimaryCtxReset, a new primary context and a checked 1 MiB kernel: ms until work again; a child that cannot work again is printed and gives no sample (a process whose context stays poisoned must exit); one child per sample",
    },
    MetricInfo {
        id: "ERR-003",
        name: "Recovery checks",
        category: "err",
        needs: Needs::Process,
        unit: "ratio",
        better: Goal::Higher,
        ns_per_unit: 1.0,
        method: "named checks, each a variant, each attempt pass (1) or fail (0), the figure the share of attempts passed (inconclusive attempts, printed, give no sample): oom-then-work (ERR-001's first allocation, over-limit where asked, else over-physical, refused, then 1 GiB allocated and a checked kernel over it), fault-then-new-context (ERR-002's children worked again), neighbour-fault (while a child of the configuration faults, this process's checked 64 MiB keep their values and its kernel runs correctly), killed-neighbour-memory (a child of the configuration holds min(4 GiB, half the free memory), written, and is killed with SIGKILL; this process's cuMemGetInfo free must come back within 64 MiB of before within 5 s; inconclusive where its free did not show the child's memory); each attempt's finding and time is printed; not folded into a score",
    },
    MetricInfo {
        id: "NCCL-001",
        name: "All-reduce latency",
        category: "nccl",
        needs: Needs::Process,
        unit: "us",
        better: Goal::Lower,
        ns_per_unit: 1.0,
        method: "ncclAllReduce (f32 sum) of 8 B to 1 MiB by factors of 8 (8 B, 4 KiB, 1 MiB with --quick) over every visible GPU, one rank process per GPU of the configuration; the sums checked first on every rank (rank r gives r + 1); GPU-event time per collective on its stream over batches of up to 50, the slowest rank's per sample; one visible GPU gives the one-rank case (a local copy, no link)",
    },
    MetricInfo {
        id: "NCCL-002",
        name: "All-gather bus bandwidth",
        category: "nccl",
        needs: Needs::Process,
        unit: "GB/s",
        better: Goal::Higher,
        ns_per_unit: 1.0,
        method: "ncclAllGather of 64 MiB to 1 GiB of output (64 and 256 MiB with --quick; sizes over a quarter of the free memory left out) over every visible GPU, one rank process per GPU; each rank's block checked in rank order first; bus bandwidth as nccl-tests' PERFORMANCE.md: output bytes over the slowest rank's GPU-event time x (n-1)/n, held to the slowest rank's link (NVLink links x rate by architecture, else PCIe); with one rank there is no bus bandwidth: the -algbw variant is the algorithm bandwidth of a local copy, with no link fraction",
    },
    MetricInfo {
        id: "NCCL-003",
        name: "Point-to-point bandwidth",
        category: "nccl",
        needs: Needs::Process,
        unit: "GB/s",
        better: Goal::Higher,
        ns_per_unit: 1.0,
        method: "ncclSend to the next rank and ncclRecv from the previous in one group (nccl-tests' sendrecv ring), 64 MiB to 1 GiB per rank (64 and 256 MiB with --quick); the received pattern checked first; bytes over the slowest rank's GPU-event time (bus factor 1), held to the slowest rank's link; with one rank the send is to itself, an -algbw local copy with no link fraction",
    },
    MetricInfo {
        id: "NCCL-004",
        name: "Broadcast bus bandwidth",
        category: "nccl",
        needs: Needs::Process,
        unit: "GB/s",
        better: Goal::Higher,
        ns_per_unit: 1.0,
        method: "ncclBroadcast from rank 0, out of place, 64 MiB to 1 GiB (64 and 256 MiB with --quick); every rank's copy checked first; bytes over the slowest rank's GPU-event time (bus factor 1), held to the slowest rank's link; with one rank an -algbw local copy with no link fraction",
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
    CategoryInfo {
        name: "bandwidth",
        prefix: "BW",
        title: "Memory bandwidth",
    },
    CategoryInfo {
        name: "pcie",
        prefix: "PCIE",
        title: "Host-device transfers",
    },
    CategoryInfo {
        name: "cache",
        prefix: "CACHE",
        title: "L2 cache",
    },
    CategoryInfo {
        name: "sched",
        prefix: "SCHED",
        title: "Scheduling",
    },
    CategoryInfo {
        name: "frag",
        prefix: "FRAG",
        title: "Fragmentation",
    },
    CategoryInfo {
        name: "err",
        prefix: "ERR",
        title: "Error recovery",
    },
    CategoryInfo {
        name: "nccl",
        prefix: "NCCL",
        title: "Collective communication",
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

/// Which metrics a run measures: only those of one process per configuration
/// ([`Needs::Process`]), since that is all a run starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selection(Vec<&'static str>);

/// The metrics a run can measure, in report order.
fn measured_alone() -> impl Iterator<Item = &'static MetricInfo> {
    METRICS.iter().filter(|m| m.needs == Needs::Process)
}

impl Selection {
    pub fn all() -> Self {
        Self(measured_alone().map(|m| m.id).collect())
    }

    /// Every metric of one category (e.g. "llm"), for a `cargo bench` entry point.
    pub fn category(category: &str) -> Self {
        Self(
            measured_alone()
                .filter(|m| m.category == category)
                .map(|m| m.id)
                .collect(),
        )
    }

    /// Parses a comma-separated id list of metrics measured in one process; any
    /// unknown id is an error, so a typo never silently measures less than was asked
    /// for, and so is an id measured between tenants, named with the scenarios that
    /// measure it.
    pub fn parse(list: &str) -> Result<Self> {
        let (process, tenants) = split_list(list)?;
        if let Some(info) = tenants.first() {
            return Err(between_tenants(info, "which one process does not measure")?);
        }
        process.ok_or_else(|| {
            Error::Invalid("--metrics names no metric measured in one process".into())
        })
    }

    pub fn contains(&self, id: &str) -> bool {
        self.0.contains(&id)
    }

    /// Whether any selected metric is of `category`, so a category with nothing
    /// selected sets nothing up.
    pub fn has_category(&self, category: &str) -> bool {
        self.0
            .iter()
            .any(|id| find(id).is_ok_and(|m| m.category == category))
    }

    pub fn ids(&self) -> &[&'static str] {
        &self.0
    }
}

/// The metrics measured between tenant processes, which `run` measures in the
/// scenarios its configurations make up.
pub fn tenant_metrics() -> Vec<&'static MetricInfo> {
    METRICS
        .iter()
        .filter(|m| matches!(m.needs, Needs::Tenants(..)))
        .collect()
}

/// Splits a `--metrics` list of `run`: the ids measured in one process per
/// configuration (`None` where it names none), and those measured between tenants.
/// An unknown id, or a list naming nothing, is an error.
pub fn split_list(list: &str) -> Result<(Option<Selection>, Vec<&'static MetricInfo>)> {
    let (mut process, mut tenants) = (Vec::new(), Vec::<&'static MetricInfo>::new());
    for part in list.split(',').filter(|p| !p.trim().is_empty()) {
        let info = find(part)?;
        match info.needs {
            Needs::Process if !process.contains(&info.id) => process.push(info.id),
            Needs::Tenants(..) if !tenants.iter().any(|m| m.id == info.id) => tenants.push(info),
            _ => {}
        }
    }
    if process.is_empty() && tenants.is_empty() {
        return Err(Error::Invalid(
            "--metrics names no metric; `gpu-virt-bench list` shows the ids".into(),
        ));
    }
    Ok(((!process.is_empty()).then_some(Selection(process)), tenants))
}

/// The error for a metric measured between tenants that cannot be measured where it
/// was asked for (`why`), with the default scenarios that measure it.
pub fn between_tenants(info: &'static MetricInfo, why: &str) -> Result<Error> {
    let Needs::Tenants(kind, subject) = info.needs else {
        return Err(Error::Invalid(format!(
            "{} is measured in one process",
            info.id
        )));
    };
    Ok(Error::MeasuredBetweenTenants {
        id: info.id,
        why: why.to_owned(),
        scenarios: isolation::scenarios_of(kind, subject)?.join(","),
    })
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
        assert_eq!(llm.ids().len(), 10);
        assert!(llm.contains("LLM-001") && !llm.contains("OH-001"));
        assert!(Selection::category("nothing").ids().is_empty());
    }

    #[test]
    fn a_selection_knows_the_categories_of_its_metrics() {
        let s = Selection::parse("OH-001,ENF-004").unwrap();
        assert!(s.has_category("overhead") && s.has_category("enforcement"));
        assert!(!s.has_category("llm") && !s.has_category("nothing"));
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
            "us", "ns", "ms", "s", "%", "TFLOPS", "allocs/s", "ratio", "CV", "index", "bytes",
            "verdict", "GB/s"
        ]
        .contains(&m.unit)));
    }

    #[test]
    fn every_isolation_metric_is_registered_as_measured_between_tenants() {
        let ids: Vec<_> = METRICS
            .iter()
            .filter(|m| matches!(m.needs, Needs::Tenants(..)))
            .map(|m| m.id)
            .collect();
        let expected: Vec<String> = (1..=10).map(|i| format!("IS-{i:03}")).collect();
        assert_eq!(ids, expected);
        assert!(METRICS
            .iter()
            .all(|m| (m.category == "isolation") == matches!(m.needs, Needs::Tenants(..))));
        assert_eq!(
            find("is-005").unwrap().needs,
            Needs::Tenants(ScenarioKind::Memory, Subject::Any)
        );
        assert_eq!(
            find("IS-010").unwrap().needs,
            Needs::Tenants(ScenarioKind::Fault, Subject::Any)
        );
    }

    #[test]
    fn what_a_run_measures_has_a_direction_to_compare_with_native() {
        for m in METRICS.iter().filter(|m| m.needs == Needs::Process) {
            assert!(m.better.direction().is_some(), "{}", m.id);
        }
        assert_eq!(find("IS-001").unwrap().better, Goal::Limit);
        assert_eq!(find("IS-010").unwrap().better.direction(), None);
    }

    #[test]
    fn a_run_never_selects_a_metric_measured_between_tenants() {
        let all = Selection::all();
        assert!(all.contains("OH-001") && all.contains("ENF-028"));
        assert!(!all.ids().iter().any(|id| id.starts_with("IS-")));
        assert!(Selection::category("isolation").ids().is_empty());
    }

    #[test]
    fn an_id_measured_between_tenants_is_refused_with_the_scenarios_that_measure_it() {
        let err = Selection::parse("OH-001,is-003").unwrap_err();
        assert!(
            matches!(
                err,
                Error::MeasuredBetweenTenants { id: "IS-003", ref scenarios, .. }
                    if scenarios == "hami-25-victim-hami-25-neighbour,hami-50-victim-native-aggressor"
            ),
            "{err}"
        );
        assert!(err
            .to_string()
            .contains("gpu-virt-bench isolate --scenarios"));
    }

    #[test]
    fn a_run_list_splits_into_one_process_metrics_and_tenant_metrics() {
        let (process, tenants) = split_list("OH-001, is-003,IS-003,oh-001").unwrap();
        assert_eq!(process.unwrap().ids(), &["OH-001"]);
        assert_eq!(tenants.iter().map(|m| m.id).collect::<Vec<_>>(), ["IS-003"]);
        let (process, tenants) = split_list("IS-005").unwrap();
        assert!(process.is_none() && tenants.len() == 1);
        assert!(split_list(",").is_err());
        assert!(matches!(split_list("IS-099"), Err(Error::UnknownMetric(_))));
        assert!(tenant_metrics().iter().all(|m| m.id.starts_with("IS-")));
        assert_eq!(tenant_metrics().len(), 10);
    }
}
