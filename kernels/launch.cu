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

// Runs a dependent chain of `iters` fused multiply-adds per thread, then block thread
// 0 records `iters` for the host to check (an unwritten slot stays at its poison).
// Unlike `spin`, whose SM clock keeps counting while a time-sliced block is switched
// out, this does a fixed amount of work per block: tenants sharing the GPU by
// time-slicing cannot finish it early, so their throughputs add up to at most one GPU.
extern "C" __global__ void burn(long long iters, long long *done) {
    float x = (float)threadIdx.x;
    for (long long i = 0; i < iters; ++i) {
        x = fmaf(x, 0.999f, 0.001f);
    }
    if (threadIdx.x == 0) {
        // x converges to 1 and is never NaN: the test only makes the chain live.
        done[blockIdx.x] = x == x ? iters : -1;
    }
}
