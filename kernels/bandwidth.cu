// Streaming kernels of the BW and PCIE categories: a copy that can reach the DRAM
// rate, and a pattern fill and check so a copy's output is verified before it is timed.

// Vectors each thread keeps in flight per iteration: enough outstanding loads per SM
// to cover DRAM latency at full occupancy.
#define UNROLL 4

// dst[i] = src[i] for n 16-byte vectors (grid-stride, so any grid covers any n).
extern "C" __global__ void stream_copy(const uint4 *__restrict__ src, uint4 *__restrict__ dst,
                                       unsigned long long n) {
    unsigned long long stride = (unsigned long long)gridDim.x * blockDim.x;
    unsigned long long i = (unsigned long long)blockIdx.x * blockDim.x + threadIdx.x;
    for (; i + (UNROLL - 1) * stride < n; i += UNROLL * stride) {
        uint4 v[UNROLL];
#pragma unroll
        for (int u = 0; u < UNROLL; ++u) {
            v[u] = src[i + u * stride];
        }
#pragma unroll
        for (int u = 0; u < UNROLL; ++u) {
            dst[i + u * stride] = v[u];
        }
    }
    for (; i < n; i += stride) {
        dst[i] = src[i];
    }
}

// The 32-bit word at index j of the pattern of `seed`; src/cuda/launchers/bandwidth.rs
// computes the same on the host.
__device__ __forceinline__ unsigned int pattern_word(unsigned long long j, unsigned int seed) {
    return (unsigned int)(j ^ (j >> 32)) * 2654435761u + seed;
}

// x[j] = pattern_word(j, seed) for every j < n.
extern "C" __global__ void fill_pattern(unsigned int *x, unsigned long long n, unsigned int seed) {
    unsigned long long stride = (unsigned long long)gridDim.x * blockDim.x;
    for (unsigned long long j = (unsigned long long)blockIdx.x * blockDim.x + threadIdx.x; j < n;
         j += stride) {
        x[j] = pattern_word(j, seed);
    }
}

// Adds to *mismatches the number of j < n with x[j] != pattern_word(j, seed).
extern "C" __global__ void check_pattern(const unsigned int *x, unsigned long long n,
                                         unsigned int seed, unsigned long long *mismatches) {
    unsigned long long stride = (unsigned long long)gridDim.x * blockDim.x;
    unsigned long long wrong = 0;
    for (unsigned long long j = (unsigned long long)blockIdx.x * blockDim.x + threadIdx.x; j < n;
         j += stride) {
        wrong += x[j] != pattern_word(j, seed);
    }
    if (wrong != 0) {
        atomicAdd(mismatches, wrong);
    }
}
