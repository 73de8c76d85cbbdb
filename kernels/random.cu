// Fresh random operands, drawn on the device: filling gigabytes of weights and KV
// cache from the host would cost seconds per run, for data only the seed decides.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

// SplitMix64's finaliser: a bijective mix, so consecutive indices give unrelated bits.
__device__ __forceinline__ unsigned long long mix(unsigned long long z) {
    z += 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

// Uniform in [-amplitude, amplitude) from the top 24 bits of the mixed (seed, index).
__device__ __forceinline__ float uniform(unsigned long long seed, unsigned long long i,
                                         float amplitude) {
    const float unit = (float)(mix(seed ^ mix(i)) >> 40) * (1.0f / 16777216.0f);
    return (2.0f * unit - 1.0f) * amplitude;
}

// out[i] = uniform(seed, i) for i < n, in the element type of each entry point.
// Launch: any grid (grid-stride loop), block 256.
template <typename T, typename Convert>
__device__ void fill(T *out, unsigned long long n, unsigned long long seed, float amplitude,
                     Convert convert) {
    const unsigned long long stride = (unsigned long long)gridDim.x * blockDim.x;
    for (unsigned long long i = (unsigned long long)blockIdx.x * blockDim.x + threadIdx.x; i < n;
         i += stride) {
        out[i] = convert(uniform(seed, i, amplitude));
    }
}

extern "C" __global__ void uniform_bf16(__nv_bfloat16 *out, unsigned long long n,
                                        unsigned long long seed, float amplitude) {
    fill(out, n, seed, amplitude, [](float v) { return __float2bfloat16(v); });
}

extern "C" __global__ void uniform_f16(__half *out, unsigned long long n, unsigned long long seed,
                                       float amplitude) {
    fill(out, n, seed, amplitude, [](float v) { return __float2half(v); });
}

extern "C" __global__ void uniform_f32(float *out, unsigned long long n, unsigned long long seed,
                                       float amplitude) {
    fill(out, n, seed, amplitude, [](float v) { return v; });
}
