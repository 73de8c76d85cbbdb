// The glue of one decode step of a small transformer stack (LLM-004, LLM-009): the
// matrix-vector products of a batch of new tokens against the weights, the split of
// the fused QKV projection into the KV cache, residual adds and the MLP activation.
// Attention over the cache is kernels/attention.cu's attn_decode.
#include <cuda_bf16.h>

// Elements each lane loads at a time: 8 bf16 are one 16-byte load.
#define GEMV_VEC 8
// 16-byte loads of W each lane has in flight before it uses the first. On the H100,
// 2 beat 4 for every batch bound (batch 1: 2.17 vs 1.99 TB/s on 24 MiB of W): the
// bytes in flight come from resident warps, and fewer registers keep more of them.
#define GEMV_UNROLL 2

// Adds x[b, k..k+8] . w8 into acc[b] for every sequence b < batch.
template <int MAXB>
__device__ __forceinline__ void gemv_accumulate(float (&acc)[MAXB], const float (&w8)[GEMV_VEC],
                                                const __nv_bfloat16 *x, int batch, int k_dim, int k) {
#pragma unroll
    for (int b = 0; b < MAXB; ++b) {
        if (b < batch) {
            const uint4 x_raw = __ldg(reinterpret_cast<const uint4 *>(x + (size_t)b * k_dim + k));
            const __nv_bfloat162 *x2 = reinterpret_cast<const __nv_bfloat162 *>(&x_raw);
#pragma unroll
            for (int i = 0; i < GEMV_VEC / 2; ++i) {
                const float2 f = __bfloat1622float2(x2[i]);
                acc[b] = fmaf(w8[2 * i], f.x, acc[b]);
                acc[b] = fmaf(w8[2 * i + 1], f.y, acc[b]);
            }
        }
    }
}

// y[b, n] = sum_k x[b, k] * W[n, k] for b < batch <= MAXB, n < N: y = x * W^T, the
// linear layer of a decode step. One warp per output row n streams W's row once with
// 16-byte loads, GEMV_UNROLL of them in flight per lane, and applies it to every
// sequence of the batch, so the weights (the bytes that bound a decode step) are read
// once per step whatever the batch. Each lane holds one accumulator per sequence it
// may get, so the bound is a template: gemv_bf16_b1 uses 30 registers where the
// 32-sequence kernel uses 71, and streams W at 2.17 TB/s against 1.06 on the H100.
template <int MAXB>
__device__ __forceinline__ void gemv_impl(const __nv_bfloat16 *x, const __nv_bfloat16 *w, float *y,
                                          int batch, int n_rows, int k_dim) {
    const int warp = threadIdx.x / 32;
    const int lane = threadIdx.x % 32;
    const int row = blockIdx.x * (blockDim.x / 32) + warp;
    if (row >= n_rows) {
        return;
    }
    float acc[MAXB];
#pragma unroll
    for (int b = 0; b < MAXB; ++b) {
        acc[b] = 0.0f;
    }
    const __nv_bfloat16 *w_row = w + (size_t)row * k_dim;
    const int step = 32 * GEMV_VEC;
    for (int k0 = lane * GEMV_VEC; k0 < k_dim; k0 += step * GEMV_UNROLL) {
        uint4 w_raw[GEMV_UNROLL];
#pragma unroll
        for (int u = 0; u < GEMV_UNROLL; ++u) {
            const int k = k0 + u * step;
            w_raw[u] = k < k_dim ? __ldg(reinterpret_cast<const uint4 *>(w_row + k))
                                 : make_uint4(0, 0, 0, 0);
        }
#pragma unroll
        for (int u = 0; u < GEMV_UNROLL; ++u) {
            const int k = k0 + u * step;
            if (k < k_dim) {
                const __nv_bfloat162 *w2 = reinterpret_cast<const __nv_bfloat162 *>(&w_raw[u]);
                float w8[GEMV_VEC];
#pragma unroll
                for (int i = 0; i < GEMV_VEC / 2; ++i) {
                    const float2 f = __bfloat1622float2(w2[i]);
                    w8[2 * i] = f.x;
                    w8[2 * i + 1] = f.y;
                }
                gemv_accumulate<MAXB>(acc, w8, x, batch, k_dim, k);
            }
        }
    }
#pragma unroll
    for (int b = 0; b < MAXB; ++b) {
        if (b < batch) {
            float v = acc[b];
#pragma unroll
            for (int offset = 16; offset > 0; offset /= 2) {
                v += __shfl_xor_sync(0xffffffffu, v, offset);
            }
            if (lane == 0) {
                y[(size_t)b * n_rows + row] = v;
            }
        }
    }
}

// gemv_bf16_b<MAXB>(x, w, y, batch, n_rows, k_dim) for batch <= MAXB.
// Launch: grid ceil(N / 8), block 256 (8 warps), no shared memory; K % 256 == 0.
#define GEMV_ENTRY(MAXB)                                                                          \
    extern "C" __global__ void gemv_bf16_b##MAXB(const __nv_bfloat16 *x, const __nv_bfloat16 *w, \
                                                 float *y, int batch, int n_rows, int k_dim) {    \
        gemv_impl<MAXB>(x, w, y, batch, n_rows, k_dim);                                           \
    }
GEMV_ENTRY(1)
GEMV_ENTRY(2)
GEMV_ENTRY(4)
GEMV_ENTRY(8)
GEMV_ENTRY(16)
GEMV_ENTRY(32)

// Splits the fused projection qkv [B, 3, H, D] (f32) into q [B, H, D] (bf16) and writes
// k and v into slot `pos` of the caches [B, H, n_ctx, D] (bf16).
// Launch: grid ceil(B * H * D / 256), block 256.
extern "C" __global__ void qkv_split(const float *qkv, __nv_bfloat16 *q, __nv_bfloat16 *k_cache,
                                     __nv_bfloat16 *v_cache, int batch, int heads, int head_dim,
                                     int n_ctx, int pos) {
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    const int per_seq = heads * head_dim;
    if (i >= batch * per_seq) {
        return;
    }
    const int b = i / per_seq;
    const int hd = i % per_seq;
    const int h = hd / head_dim;
    const int d = hd % head_dim;
    const float *src = qkv + (size_t)b * 3 * per_seq;
    const size_t slot = (((size_t)b * heads + h) * n_ctx + pos) * head_dim + d;
    q[i] = __float2bfloat16(src[hd]);
    k_cache[slot] = __float2bfloat16(src[per_seq + hd]);
    v_cache[slot] = __float2bfloat16(src[2 * per_seq + hd]);
}

// The residual stream: resid += y, and out = bf16(resid) as the next layer's input.
// Launch: grid ceil(n / 256), block 256.
extern "C" __global__ void residual_add(const float *y, float *resid, __nv_bfloat16 *out, int n) {
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) {
        const float r = resid[i] + y[i];
        resid[i] = r;
        out[i] = __float2bfloat16(r);
    }
}

// out = bf16(gelu(y)), tanh approximation, the MLP's activation.
// Launch: grid ceil(n / 256), block 256.
extern "C" __global__ void gelu_bf16(const float *y, __nv_bfloat16 *out, int n) {
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) {
        const float v = y[i];
        const float inner = 0.7978845608f * (v + 0.044715f * v * v * v);
        out[i] = __float2bfloat16(0.5f * v * (1.0f + tanhf(inner)));
    }
}
