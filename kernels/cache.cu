// Kernels of the L2 working-set metrics (CACHE): a set is filled with known words,
// then read over and over, so the time per byte shows where the set was served from.

// Writes word i = i (mod 2^32), so the sum of a set is known on the host without
// copying it back, and no set is read as zeros.
extern "C" __global__ void fill_index(unsigned int *data, unsigned long long n) {
    unsigned long long stride = (unsigned long long)gridDim.x * blockDim.x;
    for (unsigned long long i = (unsigned long long)blockIdx.x * blockDim.x + threadIdx.x; i < n;
         i += stride) {
        data[i] = (unsigned int)i;
    }
}

// Reads the `n_vec` 16-byte vectors of `data` `passes` times (grid-stride) and adds
// every 32-bit word into *sum (mod 2^64), so the host can check the reads happened and
// the compiler cannot drop them. The loads go through L2 but not L1 (ld.global.cg):
// a set of a few MiB spread over the SMs would otherwise sit in their L1s after the
// first pass and the figure would not be about L2.
extern "C" __global__ void read_sum(const uint4 *data, unsigned long long n_vec, int passes,
                                    unsigned long long *sum) {
    unsigned long long stride = (unsigned long long)gridDim.x * blockDim.x;
    unsigned long long first = (unsigned long long)blockIdx.x * blockDim.x + threadIdx.x;
    unsigned long long acc = 0;
    for (int p = 0; p < passes; ++p) {
        // Unrolled so each thread has several loads in flight, enough to cover the
        // latency of DRAM and of L2 alike.
#pragma unroll 4
        for (unsigned long long i = first; i < n_vec; i += stride) {
            uint4 v = __ldcg(data + i);
            acc += (unsigned long long)v.x + v.y + v.z + v.w;
        }
    }
    for (int offset = 16; offset > 0; offset /= 2) {
        acc += __shfl_down_sync(0xffffffffu, acc, offset);
    }
    if ((threadIdx.x & 31) == 0) {
        atomicAdd(sum, acc);
    }
}
