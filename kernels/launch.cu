// Kernels for launch-path metrics (OH-001, OH-008) and SM-share verification.

// Does nothing: a launch of it costs only the launch path, which is what OH-001 times.
extern "C" __global__ void empty() {}

// Busy-waits `cycles` SM clock cycles, then block thread 0 records the cycles it really
// spun, so the host can check every block ran (an unwritten slot stays at its poison).
extern "C" __global__ void spin(long long cycles, long long *spun) {
    long long start = clock64();
    long long now = start;
    while (now - start < cycles) {
        now = clock64();
    }
    if (threadIdx.x == 0) {
        spun[blockIdx.x] = now - start;
    }
}

// Throughput-bound work for every SM-share figure: each thread runs FMA_CHAINS
// independent chains of `iters` fused multiply-adds, so with the blocks the suite
// launches (256 threads x 8 per SM, or 1024 x 1) the SMs' f32 pipes, not a clock or a
// latency, bound the kernel. Its time then scales with the SMs the process is given
// (an MPS partition, a limiter that holds blocks back), and time-slicing cannot
// shorten it, unlike `spin`, whose block ends after so many clock cycles wherever it
// runs. Block thread 0 records `iters` for the host to check that every block ran
// (an unwritten slot stays at its poison).
#define FMA_CHAINS 8
extern "C" __global__ void __launch_bounds__(1024) fma_work(long long iters, long long *done) {
    float x[FMA_CHAINS];
#pragma unroll
    for (int c = 0; c < FMA_CHAINS; ++c) {
        x[c] = (float)threadIdx.x * 1e-3f + (float)c;
    }
#pragma unroll 4
    for (long long i = 0; i < iters; ++i) {
#pragma unroll
        for (int c = 0; c < FMA_CHAINS; ++c) {
            x[c] = fmaf(x[c], 0.999f, 0.001f);
        }
    }
    float sum = 0.0f;
#pragma unroll
    for (int c = 0; c < FMA_CHAINS; ++c) {
        sum += x[c];
    }
    if (threadIdx.x == 0) {
        // Each chain converges to 1 and is never NaN: the test only keeps them live.
        done[blockIdx.x] = sum == sum ? iters : -1;
    }
}
