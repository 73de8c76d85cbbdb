// gemm_sm90.cu -- Hopper GEMM for gpu-virt-bench: C = A * B^T as gemm.cu computes it.
//
// Built to PTX for compute_90a (wgmma, setmaxnreg and tensor-map copies exist only in
// the architecture-specific target), loaded on compute capability 9.0 alone; other GPUs
// run gemm.cu's sm_80 kernels. No runtime API, no printf.
//
// Layout as gemm.cu: A [M x K] and B [N x K] row-major 16-bit (bf16 or fp16; K-major
// operands of wgmma), C [M x N] row-major float32. A and B are read through 2D tensor
// maps over [rows][K] with 128-byte swizzle (CU_TENSOR_MAP_SWIZZLE_128B) and boxes of
// [128 rows][64 columns] (A) and [256 rows][64 columns] (B): one box row is one 128-byte
// swizzle row, rows past M read as zeros.
//
// Kernels (exact launch configuration in the comment above each one):
//   gemm_sm90_bf16 / gemm_sm90_f16   grid (any, 1, 1), block 384, dyn smem 197696 B,
//                                    N % 256 == 0, K % 64 == 0, M >= 1
// Signature: (CUtensorMap a, CUtensorMap b, float* C, int M, int N, int K), the maps by
// value (__grid_constant__). The launcher must raise
// CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES.
//
// Structure (CUTLASS's warp-specialised cooperative kernel, simplified: no clusters, no
// TMA store):
//   tiles            C in 128 x 256 tiles; block b computes tiles b, b + gridDim.x, ...
//                    (a persistent grid of one block per SM, or one block per tile),
//                    in groups of GROUP_M tile rows so that concurrent blocks share
//                    their A and B tiles in L2.
//   warpgroup 0      producer: one thread issues the tensor copies of each 64-wide K
//                    step of A and B into a 4-stage ring, each stage guarded by
//                    mbarriers (full: bytes landed; empty: both consumers done with it);
//                    setmaxnreg.dec gives its registers to the consumers.
//   warpgroups 1, 2  consumers, 64 rows of the tile each: acc (64 x 256 f32, 128
//                    registers) += A B^T with wgmma m64n256k16, both from shared memory;
//                    one K step stays in flight while the next one is issued, then the
//                    tile is stored from registers while the producer fills the ring
//                    with the next tile's first steps.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <stdint.h>

#include "sm90.cuh"

namespace gvb_gemm90 {

using namespace gvb_sm90;

constexpr int BM = 128;      // rows of a C tile: 2 consumer warpgroups x wgmma's M = 64
constexpr int BN = 256;      // columns of a C tile: wgmma's largest N
constexpr int BK = COLS;     // K of one stage: one 128-byte swizzle row of 16-bit values
constexpr int STAGES = 4;
constexpr int GROUP_M = 8;   // tile rows walked together (L2 reuse of B)
constexpr uint32_t A_BYTES = BM * ROW_BYTES;  // one stage of A: 16 KiB
constexpr uint32_t B_BYTES = BN * ROW_BYTES;  // one stage of B: 32 KiB
constexpr uint32_t WARPS_PER_STAGE = 2 * WG / 32;  // consumer warps that free a stage

// Shared memory, from a 1024-byte aligned base:
//   A stages [STAGES] | B stages [STAGES] | mbarriers full[STAGES], empty[STAGES]
struct Smem {
    static constexpr uint32_t A = 0;
    static constexpr uint32_t B = STAGES * A_BYTES;
    static constexpr uint32_t FULL = B + STAGES * B_BYTES;
    static constexpr uint32_t EMPTY = FULL + 8 * STAGES;
    // + 1024: the base is rounded up to the next 1024 bytes should the loader place it lower
    static constexpr uint32_t BYTES = EMPTY + 8 * STAGES + 1024;
};
static_assert(Smem::BYTES == 197696, "launcher's shared size");

// The tile walk every warpgroup of a block follows in the same order.
struct Tiles {
    int rows, cols;  // tiles along M and along N

    __device__ __forceinline__ int count() const { return rows * cols; }
    // Tile t as (tile row, tile column): GROUP_M tile rows are walked column by column,
    // so the blocks running at one time read few distinct A and B tiles.
    __device__ __forceinline__ void coords(int t, int& tm, int& tn) const {
        const int per_group = GROUP_M * cols;
        const int first = (t / per_group) * GROUP_M;
        const int height = min(rows - first, GROUP_M);
        const int r = t % per_group;
        tm = first + r % height;
        tn = r / height;
    }
};

#define GVB_D128 \
    "%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, " \
    "%16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, " \
    "%32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, " \
    "%48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63, " \
    "%64, %65, %66, %67, %68, %69, %70, %71, %72, %73, %74, %75, %76, %77, %78, %79, " \
    "%80, %81, %82, %83, %84, %85, %86, %87, %88, %89, %90, %91, %92, %93, %94, %95, " \
    "%96, %97, %98, %99, %100, %101, %102, %103, %104, %105, %106, %107, %108, %109, %110, %111, " \
    "%112, %113, %114, %115, %116, %117, %118, %119, %120, %121, %122, %123, %124, %125, %126, %127"
#define GVB_ACC128(d) \
    "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), \
    "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), \
    "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), \
    "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31]), \
    "+f"(d[32]), "+f"(d[33]), "+f"(d[34]), "+f"(d[35]), "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]), \
    "+f"(d[40]), "+f"(d[41]), "+f"(d[42]), "+f"(d[43]), "+f"(d[44]), "+f"(d[45]), "+f"(d[46]), "+f"(d[47]), \
    "+f"(d[48]), "+f"(d[49]), "+f"(d[50]), "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), "+f"(d[54]), "+f"(d[55]), \
    "+f"(d[56]), "+f"(d[57]), "+f"(d[58]), "+f"(d[59]), "+f"(d[60]), "+f"(d[61]), "+f"(d[62]), "+f"(d[63]), \
    "+f"(d[64]), "+f"(d[65]), "+f"(d[66]), "+f"(d[67]), "+f"(d[68]), "+f"(d[69]), "+f"(d[70]), "+f"(d[71]), \
    "+f"(d[72]), "+f"(d[73]), "+f"(d[74]), "+f"(d[75]), "+f"(d[76]), "+f"(d[77]), "+f"(d[78]), "+f"(d[79]), \
    "+f"(d[80]), "+f"(d[81]), "+f"(d[82]), "+f"(d[83]), "+f"(d[84]), "+f"(d[85]), "+f"(d[86]), "+f"(d[87]), \
    "+f"(d[88]), "+f"(d[89]), "+f"(d[90]), "+f"(d[91]), "+f"(d[92]), "+f"(d[93]), "+f"(d[94]), "+f"(d[95]), \
    "+f"(d[96]), "+f"(d[97]), "+f"(d[98]), "+f"(d[99]), "+f"(d[100]), "+f"(d[101]), "+f"(d[102]), "+f"(d[103]), \
    "+f"(d[104]), "+f"(d[105]), "+f"(d[106]), "+f"(d[107]), "+f"(d[108]), "+f"(d[109]), "+f"(d[110]), "+f"(d[111]), \
    "+f"(d[112]), "+f"(d[113]), "+f"(d[114]), "+f"(d[115]), "+f"(d[116]), "+f"(d[117]), "+f"(d[118]), "+f"(d[119]), \
    "+f"(d[120]), "+f"(d[121]), "+f"(d[122]), "+f"(d[123]), "+f"(d[124]), "+f"(d[125]), "+f"(d[126]), "+f"(d[127])

// acc (64x256 f32) = [acc +] A (64x16, smem, K-major) * B (16x256, smem, K-major)^T.
// Accumulator fragment (128 registers per thread): warp w of the warpgroup holds rows
// [16w, 16w+16); register 4i+e of lane (g = lane/4, t = lane%4) is row g + 8*(e/2),
// column 8i + 2t + e%2.
#define GVB_WGMMA_SS_N256(TYPE)                                                    \
    asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %130, 0;\n"                   \
                 "wgmma.mma_async.sync.aligned.m64n256k16.f32." TYPE "." TYPE " {" \
                 GVB_D128 "}, %128, %129, p, 1, 1, 0, 0;\n}\n"                     \
                 : GVB_ACC128(d)                                                   \
                 : "l"(a), "l"(b), "r"(acc))

template <typename T>
__device__ __forceinline__ void wgmma_n256(float (&d)[128], uint64_t a, uint64_t b, int acc) {
    if constexpr (__is_same(T, __half))
        GVB_WGMMA_SS_N256("f16");
    else
        GVB_WGMMA_SS_N256("bf16");
}

// Producer: every K step of every tile of this block into the ring, in the consumers'
// order; `it` counts K steps over all tiles, so stage and phase follow from it.
__device__ __forceinline__ void produce(uint32_t base, const TensorMap& ta, const TensorMap& tb,
                                        Tiles tiles, int k_steps) {
    int it = 0;
    for (int t = blockIdx.x; t < tiles.count(); t += gridDim.x) {
        int tm, tn;
        tiles.coords(t, tm, tn);
        for (int ks = 0; ks < k_steps; ++ks, ++it) {
            const int st = it % STAGES;
            const uint32_t full = base + Smem::FULL + 8 * st;
            mbar_wait(base + Smem::EMPTY + 8 * st, ((it / STAGES) & 1) ^ 1);
            mbar_expect_tx(full, A_BYTES + B_BYTES);
            tma_load(base + Smem::A + st * A_BYTES, ta, ks * BK, tm * BM, full);
            tma_load(base + Smem::B + st * B_BYTES, tb, ks * BK, tn * BN, full);
        }
    }
}

// Consumer warpgroup c: rows [64c, 64c + 64) of every tile of this block.
template <typename T>
__device__ __forceinline__ void consume(uint32_t base, int c, Tiles tiles, int k_steps,
                                        float* __restrict__ C, int M, int N) {
    const int tid = threadIdx.x % WG, warp = tid / 32, lane = tid % 32;
    const int g = lane >> 2, q = lane & 3;
    float acc[128];
#pragma unroll
    for (int i = 0; i < 128; ++i) acc[i] = 0.f;
    int it = 0;
    for (int t = blockIdx.x; t < tiles.count(); t += gridDim.x) {
        int tm, tn;
        tiles.coords(t, tm, tn);
        for (int ks = 0; ks < k_steps; ++ks, ++it) {
            const int st = it % STAGES;
            mbar_wait(base + Smem::FULL + 8 * st, (it / STAGES) & 1);
            const uint32_t sa = base + Smem::A + st * A_BYTES + c * 64 * ROW_BYTES;
            const uint32_t sb = base + Smem::B + st * B_BYTES;
            pin(acc);
            wgmma_fence();
#pragma unroll
            for (int kk = 0; kk < BK / 16; ++kk)
                wgmma_n256<T>(acc, desc_k_major(sa + kk * 32), desc_k_major(sb + kk * 32),
                              ks > 0 || kk > 0);
            wgmma_commit();
            // the previous step's wgmmas are done: its stage may be refilled
            wgmma_wait<1>();
            if (ks > 0 && lane == 0) mbar_arrive(base + Smem::EMPTY + 8 * ((it - 1) % STAGES));
        }
        wgmma_wait<0>();
        pin(acc);
        if (lane == 0) mbar_arrive(base + Smem::EMPTY + 8 * ((it - 1) % STAGES));
#pragma unroll
        for (int h = 0; h < 2; ++h) {
            const int row = tm * BM + c * 64 + warp * 16 + g + 8 * h;
            if (row < M) {
                float* crow = C + (size_t)row * N + tn * BN + 2 * q;
#pragma unroll
                for (int i = 0; i < 32; ++i)
                    *reinterpret_cast<float2*>(crow + 8 * i) =
                        make_float2(acc[4 * i + 2 * h], acc[4 * i + 2 * h + 1]);
            }
        }
    }
}

template <typename T>
__device__ __forceinline__ void gemm(const TensorMap& ta, const TensorMap& tb, float* C, int M,
                                     int N, int K) {
    extern __shared__ __align__(1024) uint8_t smem[];
    const uint32_t base = aligned_base(smem);
    const Tiles tiles = {(M + BM - 1) / BM, N / BN};
    const int k_steps = K / BK;
    if (threadIdx.x == 0) {
        for (int st = 0; st < STAGES; ++st) {
            mbar_init(base + Smem::FULL + 8 * st, 1);
            mbar_init(base + Smem::EMPTY + 8 * st, WARPS_PER_STAGE);
        }
        mbar_init_fence();
    }
    __syncthreads();
    const int wg = warpgroup();
    if (wg == 0) {
        producer_registers();
        if (threadIdx.x == 0) produce(base, ta, tb, tiles, k_steps);
    } else {
        consumer_registers();
        consume<T>(base, wg - 1, tiles, k_steps, C, M, N);
    }
}

}  // namespace gvb_gemm90

// ===========================================================================
// Exported kernels
// ===========================================================================

// gemm_sm90_bf16: C [M,N] f32 = A [M,K] bf16 * B [N,K]^T bf16; a, b: tensor maps over
// [M][K] and [N][K] bf16, boxes [128][64] and [256][64], 128B swizzle.
//   grid = (blocks, 1, 1) for any blocks >= 1 (the SM count: persistent; the tile count:
//   one tile each), block = 384 threads (producer + 2 consumer warpgroups)
//   dyn smem = 197696 B (4 stages x (A 16 KiB + B 32 KiB) + barriers + 1 KiB alignment
//   slack); constraints: N % 256 == 0, K % 64 == 0, M >= 1. 1 block / SM.
extern "C" __global__ void __launch_bounds__(gvb_sm90::THREADS, 1)
gemm_sm90_bf16(const __grid_constant__ gvb_sm90::TensorMap a,
               const __grid_constant__ gvb_sm90::TensorMap b, float* C, int M, int N, int K) {
    gvb_gemm90::gemm<__nv_bfloat16>(a, b, C, M, N, K);
}

// gemm_sm90_f16: as gemm_sm90_bf16 for fp16 A and B (maps over fp16).
extern "C" __global__ void __launch_bounds__(gvb_sm90::THREADS, 1)
gemm_sm90_f16(const __grid_constant__ gvb_sm90::TensorMap a,
              const __grid_constant__ gvb_sm90::TensorMap b, float* C, int M, int N, int K) {
    gvb_gemm90::gemm<__half>(a, b, C, M, N, K);
}
