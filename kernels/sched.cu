// Kernels of the scheduling metrics (SCHED): blocks that watch the device's global
// nanosecond clock while they spin, so when each block ran, and when it was kept
// from running, can be read after the fact on one clock shared by every process.

__device__ __forceinline__ unsigned long long global_ns() {
    unsigned long long t;
    asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t));
    return t;
}

// Thread 0 of each block spins until `ns` nanoseconds of the global clock have passed
// since the block started. Every time two consecutive clock reads lie more than
// `gap_ns` apart the block was not running (its context was switched out, or it was
// preempted), and the first `max_gaps` such gaps are logged. Block b's record, at
// log + b * (3 + 2 * max_gaps), is: start, end, number of gaps seen, then (from, to)
// per logged gap. The other threads wait at the barrier, so the block holds all the
// threads it was launched with until thread 0 is done.
extern "C" __global__ void timeline(unsigned long long ns, unsigned long long gap_ns,
                                    unsigned int max_gaps, unsigned long long *log) {
    if (threadIdx.x == 0) {
        unsigned long long *rec = log + (unsigned long long)blockIdx.x * (3 + 2 * max_gaps);
        unsigned long long start = global_ns();
        unsigned long long last = start;
        unsigned long long gaps = 0;
        unsigned long long now = start;
        while (now - start < ns) {
            now = global_ns();
            if (now - last > gap_ns) {
                if (gaps < max_gaps) {
                    rec[3 + 2 * gaps] = last;
                    rec[4 + 2 * gaps] = now;
                }
                ++gaps;
            }
            last = now;
        }
        rec[0] = start;
        rec[1] = now;
        rec[2] = gaps;
    }
    __syncthreads();
}
