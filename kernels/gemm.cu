// gemm.cu -- GEMM kernels for gpu-virt-bench.
//
// C = A * B^T  (like y = x * W^T of a linear layer)
//   A: [M x K] row-major, B: [N x K] row-major, C: [M x N] row-major float32.
//
// Built to PTX with `nvcc -ptx -O3 -std=c++17 -arch=sm_80` and JIT-compiled by the
// driver (H100 / sm_90): tensor-core kernels use mma.sync m16n8k16 (f32 accumulate),
// ldmatrix and cp.async multi-stage pipelines; no wgmma, no runtime API, no printf.
// Exported kernels are extern "C"; templates are used internally only.
//
// Kernels (all: grid = (N / BN, ceil(M / BM)), fixed block size; M >= 1 arbitrary,
// rows >= M are zero-filled on load and not stored):
//   gemm_bf16 / gemm_f16   tensor cores, BM=128 BN=256 BK=64, 4 stages, 8 warps of 64x64
//                          block 256, dyn smem 196608 B, N % 256 == 0, K % 64 == 0
//   gemm_f32               SIMT FFMA, BM=128 BN=128 BK=8, double-buffered smem
//                          block 256, dyn smem 0 (static 16896 B), N % 128 == 0, K % 8 == 0
//   gemm_ref_bf16/f16/f32  naive, one thread per C element, block (16,16),
//                          grid (ceil(N/16), ceil(M/16)), dyn smem 0, any M, N, K >= 1
// A, B, C must be 16-byte aligned (cudaMalloc / cuMemAlloc pointers are). 196608 B of
// dynamic shared memory fits Hopper (227 KB opt-in); for A100 (163 KB) set TC_STAGES = 3
// (147456 B), for sm_86/89 (99 KB) TC_BK = 32, TC_STAGES = 4 (98304 B): see NOTES.md.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <stdint.h>

namespace gvb_gemm {

// ---------------------------------------------------------------------------
// PTX helpers
// ---------------------------------------------------------------------------
__device__ __forceinline__ uint32_t smem_u32(const void* p) {
    return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}

// 16-byte async copy global -> shared; src_bytes = 0 zero-fills the destination.
__device__ __forceinline__ void cp_async16(uint32_t dst, const void* src, int src_bytes) {
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n"
                 :: "r"(dst), "l"(src), "r"(src_bytes));
}
__device__ __forceinline__ void cp_async_commit() {
    asm volatile("cp.async.commit_group;\n" ::);
}
template <int N>
__device__ __forceinline__ void cp_async_wait() {
    asm volatile("cp.async.wait_group %0;\n" :: "n"(N));
}

__device__ __forceinline__ void ldmatrix_x4(uint32_t& r0, uint32_t& r1, uint32_t& r2, uint32_t& r3,
                                            uint32_t addr) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r0), "=r"(r1), "=r"(r2), "=r"(r3) : "r"(addr));
}

template <typename T> struct Mma;
template <> struct Mma<__nv_bfloat16> {
    static __device__ __forceinline__ void run(float* c, const uint32_t* a, const uint32_t* b) {
        asm(
            "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 "
            "{%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
            : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
            : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
    }
};
template <> struct Mma<__half> {
    static __device__ __forceinline__ void run(float* c, const uint32_t* a, const uint32_t* b) {
        asm(
            "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 "
            "{%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
            : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
            : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
    }
};

__device__ __forceinline__ float to_f32(__nv_bfloat16 x) { return __bfloat162float(x); }
__device__ __forceinline__ float to_f32(__half x) { return __half2float(x); }
__device__ __forceinline__ float to_f32(float x) { return x; }

// Block-index remap (grid stays (N/BN, ceil(M/BM))): groups of GROUP_M block-rows are
// walked column by column so concurrently running blocks share A and B tiles in L2.
template <int GROUP_M>
__device__ __forceinline__ void block_coords(int& bm, int& bn) {
    const int num_n = gridDim.x, num_m = gridDim.y;
    const int pid = blockIdx.y * num_n + blockIdx.x;
    const int per_group = GROUP_M * num_n;
    const int group = pid / per_group;
    const int first_m = group * GROUP_M;
    const int gsz = min(num_m - first_m, GROUP_M);
    const int r = pid - group * per_group;
    bm = first_m + r % gsz;
    bn = r / gsz;
}

// ---------------------------------------------------------------------------
// Tensor-core GEMM (bf16 / f16 in, f32 accumulate and out)
// ---------------------------------------------------------------------------
// Shared memory: STAGES x ( A tile [BM][BK] , B tile [BN][BK] ), 16-byte chunks XOR-swizzled
// so that cp.async stores and ldmatrix reads are bank-conflict free.
template <int BK>
__device__ __forceinline__ int swz(int row, int chunk) {   // element offset in a [rows][BK] tile
    if constexpr (BK == 64) {
        return row * 64 + ((chunk ^ (row & 7)) << 3);
    } else {  // BK == 32: a 128-byte line holds two rows
        static_assert(BK == 32, "BK must be 32 or 64");
        return row * 32 + ((chunk ^ ((row >> 1) & 3)) << 3);
    }
}

template <int BM, int BN, int BK, int WM, int WN, int STAGES>
struct TcCfg {
    static constexpr int WARPS_M = BM / WM, WARPS_N = BN / WN;
    static constexpr int THREADS = WARPS_M * WARPS_N * 32;
    static constexpr int MI = WM / 16, NI = WN / 8;
    static constexpr int A_ELEMS = BM * BK, B_ELEMS = BN * BK;
    static constexpr int STAGE_ELEMS = A_ELEMS + B_ELEMS;
    static constexpr int SMEM_BYTES = STAGES * STAGE_ELEMS * 2;
    static constexpr int CHUNKS_ROW = BK / 8;
    static constexpr int A_CHUNKS = BM * CHUNKS_ROW / THREADS;
    static constexpr int B_CHUNKS = BN * CHUNKS_ROW / THREADS;
    static_assert(BM * CHUNKS_ROW % THREADS == 0 && BN * CHUNKS_ROW % THREADS == 0, "loader");
    static_assert(WM % 16 == 0 && WN % 16 == 0, "warp tile");
};

template <typename T, int BM, int BN, int BK, int WM, int WN, int STAGES>
__device__ __forceinline__ void gemm_tc_body(const T* __restrict__ A, const T* __restrict__ B,
                                             float* __restrict__ C, int M, int N, int K) {
    using Cfg = TcCfg<BM, BN, BK, WM, WN, STAGES>;
    constexpr int MI = Cfg::MI, NI = Cfg::NI, THREADS = Cfg::THREADS;
    extern __shared__ __align__(128) unsigned char smem_raw[];
    T* smem = reinterpret_cast<T*>(smem_raw);
    const uint32_t smem_base = smem_u32(smem);

    int bm, bn;
    block_coords<8>(bm, bn);
    const int m0 = bm * BM, n0 = bn * BN;
    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    const int wm0 = (warp / Cfg::WARPS_N) * WM;
    const int wn0 = (warp % Cfg::WARPS_N) * WN;

    // ---- global -> shared loader ----
    // Thread tid copies chunk (row0 + i*RPP, ch) for i < A_CHUNKS / B_CHUNKS; RPP is a multiple
    // of 8, so the swizzle pattern of every i is the same and the smem offset is dst0 + i*RPP*BK.
    constexpr int RPP = THREADS / Cfg::CHUNKS_ROW;
    static_assert(RPP % 8 == 0, "rows per pass");
    const int row0 = tid / Cfg::CHUNKS_ROW, ch0 = tid % Cfg::CHUNKS_ROW;
    const uint32_t dst0 = smem_base + swz<BK>(row0, ch0) * 2;
    const T* a_src0 = A + (size_t)(m0 + row0) * K + ch0 * 8;
    const T* b_src0 = B + (size_t)(n0 + row0) * K + ch0 * 8;
    uint32_t a_ok = 0;  // bit i: A row m0 + row0 + i*RPP < M
#pragma unroll
    for (int i = 0; i < Cfg::A_CHUNKS; ++i) a_ok |= (m0 + row0 + i * RPP < M) ? (1u << i) : 0u;
    auto load_stage = [&](int stage, int kt) {
        const uint32_t soff = stage * Cfg::STAGE_ELEMS * 2;
        const int koff = kt * BK;
#pragma unroll
        for (int i = 0; i < Cfg::A_CHUNKS; ++i) {
            const bool ok = (a_ok >> i) & 1u;  // rows >= M: zero-fill, source clamped to A
            cp_async16(dst0 + soff + i * RPP * BK * 2, ok ? a_src0 + (size_t)i * RPP * K + koff : A, ok ? 16 : 0);
        }
#pragma unroll
        for (int i = 0; i < Cfg::B_CHUNKS; ++i)
            cp_async16(dst0 + soff + (Cfg::A_ELEMS + i * RPP * BK) * 2, b_src0 + (size_t)i * RPP * K + koff, 16);
    };

    float acc[MI][NI][4];
#pragma unroll
    for (int i = 0; i < MI; ++i)
#pragma unroll
        for (int j = 0; j < NI; ++j)
#pragma unroll
            for (int r = 0; r < 4; ++r) acc[i][j][r] = 0.f;

    const int KT = K / BK;
#pragma unroll
    for (int s = 0; s < STAGES - 1; ++s) {
        if (s < KT) load_stage(s, s);
        cp_async_commit();
    }

    // ldmatrix lane roles
    const int a_row = wm0 + (lane & 15);            // + mi*16
    const int a_chk = lane >> 4;                    // + kk*2
    const int b_row = wn0 + ((lane >> 4) << 3) + (lane & 7);  // + j*16
    const int b_chk = (lane >> 3) & 1;              // + kk*2

    {
        auto ld_frags = [&](uint32_t (&af)[MI][4], uint32_t (&bf)[NI][2], int stage, int kk) {
            const uint32_t sA = smem_base + stage * Cfg::STAGE_ELEMS * 2;
            const uint32_t sB = sA + Cfg::A_ELEMS * 2;
#pragma unroll
            for (int mi = 0; mi < MI; ++mi)
                ldmatrix_x4(af[mi][0], af[mi][1], af[mi][2], af[mi][3],
                            sA + swz<BK>(a_row + mi * 16, kk * 2 + a_chk) * 2);
#pragma unroll
            for (int j = 0; j < NI / 2; ++j)
                ldmatrix_x4(bf[2 * j][0], bf[2 * j][1], bf[2 * j + 1][0], bf[2 * j + 1][1],
                            sB + swz<BK>(b_row + j * 16, kk * 2 + b_chk) * 2);
        };
        auto mmas = [&](const uint32_t (&af)[MI][4], const uint32_t (&bf)[NI][2]) {
#pragma unroll
            for (int mi = 0; mi < MI; ++mi)
#pragma unroll
                for (int ni = 0; ni < NI; ++ni) {
                    const int nn = (mi & 1) ? (NI - 1 - ni) : ni;  // serpentine order
                    Mma<T>::run(acc[mi][nn], af[mi], bf[nn]);
                }
        };
        constexpr int KK = BK / 16;
        // Register double-buffered fragments: the ldmatrix for step kk+1 (including the first
        // step of the next k-tile, across the barrier) is issued before the MMAs of step kk.
        // One __syncthreads per k-tile.
        uint32_t af[2][MI][4], bf[2][NI][2];
        cp_async_wait<STAGES - 2>();
        __syncthreads();
        ld_frags(af[0], bf[0], 0, 0);
        int stage = 0;
        for (int kt = 0; kt < KT; ++kt) {
            const int next_stage = (stage + 1 == STAGES) ? 0 : stage + 1;
#pragma unroll
            for (int kk = 0; kk < KK; ++kk) {
                if (kk == KK - 1) {
                    cp_async_wait<STAGES - 2>();  // k-tile kt+1 has landed
                    __syncthreads();              // ... for all threads; k-tile kt-1 is free
                }
                // (at kt == KT-1 this reads a stale slot; those fragments are never used)
                if (kk == KK - 1) ld_frags(af[(kk + 1) & 1], bf[(kk + 1) & 1], next_stage, 0);
                else ld_frags(af[(kk + 1) & 1], bf[(kk + 1) & 1], stage, kk + 1);
                if (kk == 0) {  // refill the slot of k-tile kt-1 (freed by the previous barrier)
                    const int nk = kt + STAGES - 1;
                    if (nk < KT) load_stage(nk % STAGES, nk);
                    cp_async_commit();
                }
                mmas(af[kk & 1], bf[kk & 1]);
            }
            stage = next_stage;
        }
    }
    cp_async_wait<0>();

    // ---- epilogue: accumulators -> C (float2 stores, rows >= M skipped) ----
    const int g = lane >> 2, t = lane & 3;
#pragma unroll
    for (int mi = 0; mi < MI; ++mi) {
        const int r0 = m0 + wm0 + mi * 16 + g;
#pragma unroll
        for (int ni = 0; ni < NI; ++ni) {
            const int col = n0 + wn0 + ni * 8 + 2 * t;
            if (r0 < M)
                *reinterpret_cast<float2*>(C + (size_t)r0 * N + col) = make_float2(acc[mi][ni][0], acc[mi][ni][1]);
            if (r0 + 8 < M)
                *reinterpret_cast<float2*>(C + (size_t)(r0 + 8) * N + col) = make_float2(acc[mi][ni][2], acc[mi][ni][3]);
        }
    }
}

// Production configuration of gemm_bf16 / gemm_f16.
constexpr int TC_BM = 128, TC_BN = 256, TC_BK = 64, TC_WM = 64, TC_WN = 64, TC_STAGES = 4;
using TcProd = TcCfg<TC_BM, TC_BN, TC_BK, TC_WM, TC_WN, TC_STAGES>;
static_assert(TcProd::THREADS == 256 && TcProd::SMEM_BYTES == 196608, "keep the launch comments in sync");

// ---------------------------------------------------------------------------
// SIMT f32 GEMM (FFMA): 128x128 block tile, BK = 8 or 16, 256 threads, 8x8 per thread
// ---------------------------------------------------------------------------
constexpr int F_BM = 128, F_BN = 128, F_PAD = 4;  // 256 threads

template <int BK>
__device__ __forceinline__ void gemm_f32_body(const float* __restrict__ A, const float* __restrict__ B,
                                              float* __restrict__ C, int M, int N, int K) {
    // sA[buf][k][m], sB[buf][k][n]: tiles stored k-major (transposed from global), padded rows.
    __shared__ __align__(16) float sA[2][BK][F_BM + F_PAD];
    __shared__ __align__(16) float sB[2][BK][F_BN + F_PAD];
    constexpr int V = BK / 8;  // float4 loads per thread per matrix and k-tile

    int bm, bn;
    block_coords<8>(bm, bn);
    const int m0 = bm * F_BM, n0 = bn * F_BN;
    const int tid = threadIdx.x;

    // loader: thread -> (row = tid / 2, k = (tid & 1) * BK/2 .. +BK/2), V float4 of A and of B
    const int lrow = tid >> 1, lk = (tid & 1) * (BK / 2);
    const bool a_ok = (m0 + lrow) < M;
    const float* a_ptr = A + (size_t)(a_ok ? m0 + lrow : 0) * K + lk;
    const float* b_ptr = B + (size_t)(n0 + lrow) * K + lk;

    // compute mapping: warp w covers a 32(m) x 64(n) region as 4 x 8 threads;
    // thread holds rows {tm*4..+3, 64+tm*4..+3} and cols {tn*4..+3, 64+tn*4..+3}
    const int warp = tid >> 5, lane = tid & 31;
    const int tm = (warp >> 1) * 4 + (lane >> 3);  // 0..15
    const int tn = (warp & 1) * 8 + (lane & 7);    // 0..15

    float acc[8][8];
#pragma unroll
    for (int i = 0; i < 8; ++i)
#pragma unroll
        for (int j = 0; j < 8; ++j) acc[i][j] = 0.f;

    float4 ra[V], rb[V];
    auto gload = [&](int koff) {
#pragma unroll
        for (int v = 0; v < V; ++v) {
            ra[v] = a_ok ? *reinterpret_cast<const float4*>(a_ptr + koff + 4 * v) : make_float4(0.f, 0.f, 0.f, 0.f);
            rb[v] = *reinterpret_cast<const float4*>(b_ptr + koff + 4 * v);
        }
    };
    auto store_tile = [&](int buf) {
#pragma unroll
        for (int v = 0; v < V; ++v) {
            const int k = lk + 4 * v;
            sA[buf][k + 0][lrow] = ra[v].x; sA[buf][k + 1][lrow] = ra[v].y;
            sA[buf][k + 2][lrow] = ra[v].z; sA[buf][k + 3][lrow] = ra[v].w;
            sB[buf][k + 0][lrow] = rb[v].x; sB[buf][k + 1][lrow] = rb[v].y;
            sB[buf][k + 2][lrow] = rb[v].z; sB[buf][k + 3][lrow] = rb[v].w;
        }
    };
    gload(0);
    store_tile(0);
    __syncthreads();

    const int KT = K / BK;
    for (int kt = 0; kt < KT; ++kt) {
        const int buf = kt & 1;
        if (kt + 1 < KT) gload((kt + 1) * BK);  // prefetch next tile into registers
#pragma unroll
        for (int k = 0; k < BK; ++k) {
            float a[8], b[8];
            const float4 a0 = *reinterpret_cast<const float4*>(&sA[buf][k][tm * 4]);
            const float4 a1 = *reinterpret_cast<const float4*>(&sA[buf][k][64 + tm * 4]);
            const float4 b0 = *reinterpret_cast<const float4*>(&sB[buf][k][tn * 4]);
            const float4 b1 = *reinterpret_cast<const float4*>(&sB[buf][k][64 + tn * 4]);
            a[0] = a0.x; a[1] = a0.y; a[2] = a0.z; a[3] = a0.w;
            a[4] = a1.x; a[5] = a1.y; a[6] = a1.z; a[7] = a1.w;
            b[0] = b0.x; b[1] = b0.y; b[2] = b0.z; b[3] = b0.w;
            b[4] = b1.x; b[5] = b1.y; b[6] = b1.z; b[7] = b1.w;
#pragma unroll
            for (int i = 0; i < 8; ++i)
#pragma unroll
                for (int j = 0; j < 8; ++j) acc[i][j] = fmaf(a[i], b[j], acc[i][j]);
        }
        if (kt + 1 < KT) {
            store_tile(buf ^ 1);  // other buffer: last read in iteration kt-1, fenced by its barrier
            __syncthreads();
        }
    }

#pragma unroll
    for (int i = 0; i < 8; ++i) {
        const int row = m0 + (i < 4 ? tm * 4 + i : 64 + tm * 4 + (i - 4));
        if (row < M) {
            float* crow = C + (size_t)row * N + n0;
            *reinterpret_cast<float4*>(crow + tn * 4) = make_float4(acc[i][0], acc[i][1], acc[i][2], acc[i][3]);
            *reinterpret_cast<float4*>(crow + 64 + tn * 4) = make_float4(acc[i][4], acc[i][5], acc[i][6], acc[i][7]);
        }
    }
}
constexpr int F_BK = 8;  // production k-tile of gemm_f32

// ---------------------------------------------------------------------------
// Naive reference: one thread per C element, f32 accumulate in k order.
// ---------------------------------------------------------------------------
template <typename T>
__device__ __forceinline__ void gemm_ref_body(const T* __restrict__ A, const T* __restrict__ B,
                                              float* __restrict__ C, int M, int N, int K) {
    const int n = blockIdx.x * blockDim.x + threadIdx.x;
    const int m = blockIdx.y * blockDim.y + threadIdx.y;
    if (m >= M || n >= N) return;
    const T* a = A + (size_t)m * K;
    const T* b = B + (size_t)n * K;
    float s = 0.f;
    for (int k = 0; k < K; ++k) s = fmaf(to_f32(a[k]), to_f32(b[k]), s);
    C[(size_t)m * N + n] = s;
}

}  // namespace gvb_gemm

// ===========================================================================
// Exported kernels
// ===========================================================================

// gemm_bf16: grid (N/256, ceil(M/128)), block 256, dynamic smem 196608 B (set
// CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES >= 196608). N % 256 == 0, K % 64 == 0, M >= 1.
extern "C" __global__ void __launch_bounds__(256, 1)
gemm_bf16(const __nv_bfloat16* A, const __nv_bfloat16* B, float* C, int M, int N, int K) {
    using namespace gvb_gemm;
    gemm_tc_body<__nv_bfloat16, TC_BM, TC_BN, TC_BK, TC_WM, TC_WN, TC_STAGES>(A, B, C, M, N, K);
}

// gemm_f16: same launch configuration and constraints as gemm_bf16 (fp16 inputs).
extern "C" __global__ void __launch_bounds__(256, 1)
gemm_f16(const __half* A, const __half* B, float* C, int M, int N, int K) {
    using namespace gvb_gemm;
    gemm_tc_body<__half, TC_BM, TC_BN, TC_BK, TC_WM, TC_WN, TC_STAGES>(A, B, C, M, N, K);
}

// gemm_f32: grid (N/128, ceil(M/128)), block 256, dynamic smem 0 (16896 B static).
// N % 128 == 0, K % 8 == 0, M >= 1. FFMA only (no TF32).
extern "C" __global__ void __launch_bounds__(256, 2)
gemm_f32(const float* A, const float* B, float* C, int M, int N, int K) {
    gvb_gemm::gemm_f32_body<gvb_gemm::F_BK>(A, B, C, M, N, K);
}

// gemm_ref_*: grid (ceil(N/16), ceil(M/16)), block (16, 16), dynamic smem 0. Any M, N, K >= 1.
extern "C" __global__ void gemm_ref_bf16(const __nv_bfloat16* A, const __nv_bfloat16* B, float* C,
                                         int M, int N, int K) {
    gvb_gemm::gemm_ref_body(A, B, C, M, N, K);
}
extern "C" __global__ void gemm_ref_f16(const __half* A, const __half* B, float* C, int M, int N, int K) {
    gvb_gemm::gemm_ref_body(A, B, C, M, N, K);
}
extern "C" __global__ void gemm_ref_f32(const float* A, const float* B, float* C, int M, int N, int K) {
    gvb_gemm::gemm_ref_body(A, B, C, M, N, K);
}
