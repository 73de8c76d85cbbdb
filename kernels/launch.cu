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
