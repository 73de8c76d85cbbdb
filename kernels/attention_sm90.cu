// attention_sm90.cu -- Hopper flash-attention forward for gpu-virt-bench.
//
// Built to PTX for compute_90a (wgmma, setmaxnreg and tensor-map copies exist only in
// the architecture-specific target), loaded on compute capability 9.0 alone; other GPUs
// run attention.cu's sm_80 kernels. No runtime API, no printf.
//
// Layout: Q, K, V, O are [B, H, S, D] contiguous bf16, as for attention.cu. Q, K and V
// are read through three 2D tensor maps over [B*H*S rows][D columns] bf16, each with
// box [128 rows][64 columns] and 128-byte swizzle (CU_TENSOR_MAP_SWIZZLE_128B): one box
// row is one 128-byte swizzle row, so a 128-key tile of D = 128 is two boxes.
//
// Kernels (exact launch configuration in the comment above each one):
//   flash_attn_sm90_d128  grid (S/128, B*H), block 384, dyn smem 230480 B, S % 128 == 0
//   flash_attn_sm90_d64   grid (S/128, B*H), block 384, dyn smem 115792 B, S % 128 == 0
// Signature: (CUtensorMap q, CUtensorMap k, CUtensorMap v, bf16* O, int S, float scale,
// int causal), the maps by value (__grid_constant__); causal = 1 masks keys after the
// query. The launcher must raise CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES.
//
// Structure (FlashAttention-3's, simplified: no persistent scheduler, no TMA store):
//   warpgroup 0      producer: one thread issues the tensor copies of Q once and of
//                    (K, V) tiles into a 3-stage ring, each stage guarded by mbarriers
//                    (full: bytes landed; empty: both consumers done with the stage);
//                    setmaxnreg.dec gives its registers to the consumers.
//   warpgroups 1, 2  consumers, 64 query rows each: S = Q K^T with wgmma m64n128k16
//                    (Q, K from shared memory), online softmax in f32 in the log2 domain,
//                    then O += P V with wgmma m64nDk16 (P in registers as bf16, V from
//                    shared memory, N-major).
//   ping-pong        the two consumers take turns at the tensor cores (named barriers),
//                    so one warpgroup's softmax runs while the other's GEMMs do.
//   overlap          within a consumer, softmax of tile j runs while P_{j-1} V_{j-1}
//                    (issued together with S_j) is still on the tensor cores.
#include <cuda_bf16.h>
#include <stdint.h>

#include "sm90.cuh"

namespace gvb_attn90 {

using namespace gvb_sm90;

typedef __nv_bfloat16 bf16;

constexpr int BM = 128;       // query rows per block: 2 consumer warpgroups x wgmma's M = 64
constexpr int BN = 128;       // keys per tile: the N of S = Q K^T (m64n128k16)
constexpr uint32_t BOX_BYTES = 128 * ROW_BYTES;  // one box: 128 rows (BM = BN = 128)
constexpr uint32_t CONSUMERS = 2 * WG;           // arrivals that free a stage
static_assert(BM == BN, "the causal tile count and the shared box shape assume BM == BN");

// Shared memory, from a 1024-byte aligned base (the swizzle pattern of a tensor copy and
// of a wgmma descriptor is anchored at 1024-byte boundaries):
//   Q tile | K tiles [NS] | V tiles [NS] | mbarriers q_full, k_full[NS], v_full[NS], empty[NS]
// A tile is D/64 boxes of [128 rows][64 columns]; box h holds columns [64h, 64h+64).
template <int D, int NS>
struct Smem {
    static constexpr int BOXES = D / COLS;
    static constexpr uint32_t TILE = BOXES * BOX_BYTES;
    static constexpr uint32_t Q = 0;
    static constexpr uint32_t K = TILE;
    static constexpr uint32_t V = K + NS * TILE;
    static constexpr uint32_t BARS = V + NS * TILE;
    static constexpr uint32_t Q_FULL = BARS;
    static constexpr uint32_t K_FULL = BARS + 8;
    static constexpr uint32_t V_FULL = K_FULL + 8 * NS;
    static constexpr uint32_t EMPTY = V_FULL + 8 * NS;
    // + 1024: the base is rounded up to the next 1024 bytes should the loader place it lower
    static constexpr uint32_t BYTES = EMPTY + 8 * NS + 1024;
    static_assert(D % COLS == 0, "D must be a multiple of 64");
};

// N-major operand (V as B of P V, keys along K, head dim along N): groups of 8 keys are
// ATOM_BYTES apart (stride byte offset); the next 64 head-dim columns are the next box
// (leading byte offset).
__device__ __forceinline__ uint64_t desc_n_major(uint32_t addr) {
    return smem_desc(addr, BOX_BYTES, ATOM_BYTES);
}

// 2^x (MUFU.EX2). ex2(-inf) = +0.
__device__ __forceinline__ float fast_exp2(float x) {
    float y;
    asm("ex2.approx.ftz.f32 %0, %1;\n" : "=f"(y) : "f"(x));
    return y;
}
__device__ __forceinline__ uint32_t pack_bf16(float lo, float hi) {
    __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);  // .x = lo (low 16 bits)
    return *reinterpret_cast<uint32_t*>(&v);
}

// ---------------------------------------------------------------------------
// wgmma. Accumulator fragment of m64nN (f32, N/2 registers per thread): warp w of the
// warpgroup holds rows [16w, 16w+16); register 4i+e of lane (g = lane/4, t = lane%4)
// is row g + 8*(e/2), column 8i + 2t + e%2 -- mma.sync's m16n8 C fragment per 8
// columns. A from registers (4 x bf16x2) is mma.sync's m16n8k16 A fragment.
// ---------------------------------------------------------------------------
// S (64x128 f32) = [S +] A (64x16 bf16, smem, K-major) * B (16x128 bf16, smem, K-major).
__device__ __forceinline__ void wgmma_ss_n128(float (&d)[64], uint64_t a, uint64_t b, int acc) {
    asm volatile(
        "{\n.reg .pred p;\nsetp.ne.b32 p, %66, 0;\n"
        "wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16 {"
        "%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, "
        "%16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, "
        "%32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, "
        "%48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63"
        "}, %64, %65, p, 1, 1, 0, 0;\n}\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]),
          "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]),
          "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]),
          "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31]),
          "+f"(d[32]), "+f"(d[33]), "+f"(d[34]), "+f"(d[35]), "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]),
          "+f"(d[40]), "+f"(d[41]), "+f"(d[42]), "+f"(d[43]), "+f"(d[44]), "+f"(d[45]), "+f"(d[46]), "+f"(d[47]),
          "+f"(d[48]), "+f"(d[49]), "+f"(d[50]), "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), "+f"(d[54]), "+f"(d[55]),
          "+f"(d[56]), "+f"(d[57]), "+f"(d[58]), "+f"(d[59]), "+f"(d[60]), "+f"(d[61]), "+f"(d[62]), "+f"(d[63])
        : "l"(a), "l"(b), "r"(acc));
}

// O (64x128 f32) = [O +] P (64x16 bf16, registers) * V (16x128 bf16, smem, N-major).
__device__ __forceinline__ void wgmma_rs_n128(float (&d)[64], const uint32_t (&a)[4], uint64_t b, int acc) {
    asm volatile(
        "{\n.reg .pred p;\nsetp.ne.b32 p, %69, 0;\n"
        "wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16 {"
        "%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, "
        "%16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, "
        "%32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, "
        "%48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63"
        "}, {%64, %65, %66, %67}, %68, p, 1, 1, 1;\n}\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]),
          "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]),
          "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]),
          "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31]),
          "+f"(d[32]), "+f"(d[33]), "+f"(d[34]), "+f"(d[35]), "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]),
          "+f"(d[40]), "+f"(d[41]), "+f"(d[42]), "+f"(d[43]), "+f"(d[44]), "+f"(d[45]), "+f"(d[46]), "+f"(d[47]),
          "+f"(d[48]), "+f"(d[49]), "+f"(d[50]), "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), "+f"(d[54]), "+f"(d[55]),
          "+f"(d[56]), "+f"(d[57]), "+f"(d[58]), "+f"(d[59]), "+f"(d[60]), "+f"(d[61]), "+f"(d[62]), "+f"(d[63])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(b), "r"(acc));
}

// O (64x64 f32) = [O +] P (64x16 bf16, registers) * V (16x64 bf16, smem, N-major).
__device__ __forceinline__ void wgmma_rs_n64(float (&d)[32], const uint32_t (&a)[4], uint64_t b, int acc) {
    asm volatile(
        "{\n.reg .pred p;\nsetp.ne.b32 p, %37, 0;\n"
        "wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 {"
        "%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, "
        "%16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31"
        "}, {%32, %33, %34, %35}, %36, p, 1, 1, 1;\n}\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]),
          "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]),
          "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]),
          "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(b), "r"(acc));
}

// ---------------------------------------------------------------------------
// Consumer warpgroup: 64 query rows, the whole key range of the block.
// ---------------------------------------------------------------------------
template <int D, int NS>
struct Consumer {
    typedef Smem<D, NS> L;
    static constexpr int OREGS = D / 2;  // m64nD accumulator registers per thread
    static constexpr int KSTEPS = D / 16;  // k16 steps of Q K^T
    static constexpr int PSTEPS = BN / 16;  // k16 steps of P V

    // S = Q K^T of the stage's K tile. Q rows of this warpgroup start `q_rows` bytes into
    // each Q box; k-step kk is box kk/4 (64 columns) plus 32 bytes (16 bf16) per step.
    static __device__ __forceinline__ void issue_qk(float (&s)[64], uint32_t sQ, uint32_t sK) {
#pragma unroll
        for (int kk = 0; kk < KSTEPS; ++kk) {
            const uint32_t off = (kk / 4) * BOX_BYTES + (kk % 4) * 32;
            wgmma_ss_n128(s, desc_k_major(sQ + off), desc_k_major(sK + off), kk > 0);
        }
    }

    // O += P V of the stage's V tile; key step kn is 16 rows of 128 bytes further.
    static __device__ __forceinline__ void issue_pv(float (&o)[OREGS],
                                                    const uint32_t (&p)[PSTEPS][4],
                                                    uint32_t sV) {
#pragma unroll
        for (int kn = 0; kn < PSTEPS; ++kn) {
            const uint64_t b = desc_n_major(sV + kn * 16 * ROW_BYTES);
            if constexpr (D == 128)
                wgmma_rs_n128(o, p[kn], b, 1);
            else
                wgmma_rs_n64(o, p[kn], b, 1);
        }
    }

    // Keys after the query get -inf (only the diagonal tile has any).
    static __device__ __forceinline__ void mask(float (&s)[64], int q0, int k0, int lane) {
        const int g = lane >> 2, t = lane & 3;
#pragma unroll
        for (int i = 0; i < 16; ++i)
#pragma unroll
            for (int e = 0; e < 4; ++e)
                if (k0 + 8 * i + 2 * t + (e & 1) > q0 + g + 8 * (e >> 1)) s[4 * i + e] = -INFINITY;
    }

    // Online softmax of one tile in place (s becomes 2^(s*sl2 - m)); `corr` is the factor
    // the rows' earlier O must be scaled by. The row max and sums reduce over the 4 lanes
    // of a quad, which hold one row's 128 columns between them.
    static __device__ __forceinline__ void softmax(float (&s)[64], float (&m)[2], float (&l)[2],
                                                   float (&corr)[2], float sl2) {
#pragma unroll
        for (int h = 0; h < 2; ++h) {
            float mx = -INFINITY;
#pragma unroll
            for (int i = 0; i < 16; ++i) mx = fmaxf(mx, fmaxf(s[4 * i + 2 * h], s[4 * i + 2 * h + 1]));
            mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
            mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 2));
            const float mnew = fmaxf(m[h], mx * sl2);
            const float mref = mnew == -INFINITY ? 0.f : mnew;  // a row with no key yet
            corr[h] = fast_exp2(m[h] - mref);  // m = -inf: 0
            m[h] = mnew;
            float rs = 0.f;
#pragma unroll
            for (int i = 0; i < 16; ++i)
#pragma unroll
                for (int e = 0; e < 2; ++e) {
                    const float p = fast_exp2(fmaf(s[4 * i + 2 * h + e], sl2, -mref));
                    s[4 * i + 2 * h + e] = p;
                    rs += p;
                }
            l[h] = fmaf(l[h], corr[h], rs);  // per-lane partial sum, reduced at the end
        }
    }

    static __device__ __forceinline__ void rescale(float (&o)[OREGS], const float (&corr)[2]) {
#pragma unroll
        for (int i = 0; i < OREGS / 4; ++i)
#pragma unroll
            for (int e = 0; e < 4; ++e) o[4 * i + e] *= corr[e >> 1];
    }

    // P as wgmma A fragments: k-step kn is S columns [16kn, 16kn+16), i.e. the
    // accumulator's 8-column groups 2kn (registers 0, 1) and 2kn+1 (registers 2, 3).
    static __device__ __forceinline__ void to_p(const float (&s)[64], uint32_t (&p)[PSTEPS][4]) {
#pragma unroll
        for (int kn = 0; kn < PSTEPS; ++kn) {
            p[kn][0] = pack_bf16(s[8 * kn + 0], s[8 * kn + 1]);
            p[kn][1] = pack_bf16(s[8 * kn + 2], s[8 * kn + 3]);
            p[kn][2] = pack_bf16(s[8 * kn + 4], s[8 * kn + 5]);
            p[kn][3] = pack_bf16(s[8 * kn + 6], s[8 * kn + 7]);
        }
    }

    // Ping-pong: warpgroup c issues its GEMMs of a tile after named barrier 1 + c
    // completes, and then arrives on the other's, so the two take turns at the tensor
    // cores and each one's softmax runs under the other's GEMMs. 256 = both warpgroups.
    static __device__ __forceinline__ void my_turn(int c) { bar_sync(1 + c, CONSUMERS); }
    static __device__ __forceinline__ void your_turn(int c) { bar_arrive(2 - c, CONSUMERS); }

    // Masks and exponentiates S_j in place; `corr` rescales the O of tiles < j.
    static __device__ __forceinline__ void scores(float (&s)[64], float (&m)[2], float (&l)[2],
                                                  float (&corr)[2], bool diagonal, int q0,
                                                  int k0, int lane, float sl2) {
        pin(s);
        if (diagonal) mask(s, q0, k0, lane);
        softmax(s, m, l, corr, sl2);
    }

    // Tile j's K is used by S_j, its V by P_j V_j, issued in the next iteration with
    // S_{j+1}: per iteration the warpgroup issues S_j and P_{j-1} V_{j-1}, passes the
    // turn, runs softmax_j under both, then frees stage j-1. Tile 0 is peeled so that
    // no wgmma or wgmma wait sits under a condition (ptxas would serialize them).
    static __device__ __forceinline__ void run(uint32_t base, int c, int mb, int n_tiles,
                                               bool causal, bf16* __restrict__ O, int row0,
                                               float sl2) {
        const int tid = threadIdx.x % WG, warp = tid / 32, lane = tid % 32;
        const int q0 = mb * BM + c * 64 + warp * 16;  // first query row of this warp
        const uint32_t sQ = base + L::Q + c * 64 * ROW_BYTES;
        float o[OREGS], s[64];
        uint32_t p[PSTEPS][4];
        float m[2] = {-INFINITY, -INFINITY}, l[2] = {0.f, 0.f}, corr[2];
#pragma unroll
        for (int i = 0; i < OREGS; ++i) o[i] = 0.f;
#pragma unroll
        for (int i = 0; i < 64; ++i) s[i] = 0.f;
        // the last turn of warpgroup 1 passes to nobody, so every bar.sync is matched
        const auto pass = [&](int j) {
            if (c == 0 || j + 1 < n_tiles) your_turn(c);
        };
        if (c == 1) your_turn(c);  // warpgroup 0 goes first
        mbar_wait(base + L::Q_FULL, 0);

        mbar_wait(base + L::K_FULL, 0);
        my_turn(c);
        pin(s);
        wgmma_fence();
        issue_qk(s, sQ, base + L::K);
        wgmma_commit();
        pass(0);
        wgmma_wait<0>();
        scores(s, m, l, corr, causal && n_tiles == 1, q0, 0, lane, sl2);
        to_p(s, p);

        for (int j = 1; j < n_tiles; ++j) {
            const int st = j % NS, prev = (j - 1) % NS;
            mbar_wait(base + L::K_FULL + 8 * st, (j / NS) & 1);
            mbar_wait(base + L::V_FULL + 8 * prev, ((j - 1) / NS) & 1);
            my_turn(c);
            pin(s);
            pin(p);
            pin(o);
            wgmma_fence();
            issue_qk(s, sQ, base + L::K + st * L::TILE);
            wgmma_commit();
            issue_pv(o, p, base + L::V + prev * L::TILE);
            wgmma_commit();
            pass(j);
            wgmma_wait<1>();  // S_j done; P_{j-1} V_{j-1} may still run
            scores(s, m, l, corr, causal && j == n_tiles - 1, q0, j * BN, lane, sl2);
            wgmma_wait<0>();
            pin(o);
            pin(p);
            mbar_arrive(base + L::EMPTY + 8 * prev);
            rescale(o, corr);
            to_p(s, p);
        }
        const int last = (n_tiles - 1) % NS;
        mbar_wait(base + L::V_FULL + 8 * last, ((n_tiles - 1) / NS) & 1);
        pin(p);
        pin(o);
        wgmma_fence();
        issue_pv(o, p, base + L::V + last * L::TILE);
        wgmma_commit();
        wgmma_wait<0>();
        pin(o);

        const int g = lane >> 2, t = lane & 3;
#pragma unroll
        for (int h = 0; h < 2; ++h) {
            float lt = l[h];
            lt += __shfl_xor_sync(0xffffffffu, lt, 1);
            lt += __shfl_xor_sync(0xffffffffu, lt, 2);
            const float inv = 1.f / lt;
            bf16* orow = O + (size_t)(row0 + q0 + g + 8 * h) * D + 2 * t;
#pragma unroll
            for (int i = 0; i < OREGS / 4; ++i)
                *reinterpret_cast<uint32_t*>(orow + 8 * i) =
                    pack_bf16(o[4 * i + 2 * h] * inv, o[4 * i + 2 * h + 1] * inv);
        }
    }
};

// Producer: Q once, then (K, V) of every tile the block needs into the stage ring.
template <int D, int NS>
__device__ __forceinline__ void produce(uint32_t base, const TensorMap& tq, const TensorMap& tk,
                                        const TensorMap& tv, int q_row, int kv_row,
                                        int n_tiles) {
    typedef Smem<D, NS> L;
    mbar_expect_tx(base + L::Q_FULL, L::TILE);
#pragma unroll
    for (int b = 0; b < L::BOXES; ++b)
        tma_load(base + L::Q + b * BOX_BYTES, tq, b * COLS, q_row, base + L::Q_FULL);
    for (int j = 0; j < n_tiles; ++j) {
        const int st = j % NS;
        mbar_wait(base + L::EMPTY + 8 * st, ((j / NS) & 1) ^ 1);
        const uint32_t kf = base + L::K_FULL + 8 * st, vf = base + L::V_FULL + 8 * st;
        mbar_expect_tx(kf, L::TILE);
#pragma unroll
        for (int b = 0; b < L::BOXES; ++b)
            tma_load(base + L::K + st * L::TILE + b * BOX_BYTES, tk, b * COLS, kv_row + j * BN, kf);
        mbar_expect_tx(vf, L::TILE);
#pragma unroll
        for (int b = 0; b < L::BOXES; ++b)
            tma_load(base + L::V + st * L::TILE + b * BOX_BYTES, tv, b * COLS, kv_row + j * BN, vf);
    }
}

template <int D, int NS>
__device__ __forceinline__ void flash_fwd(const TensorMap& tq, const TensorMap& tk,
                                          const TensorMap& tv, bf16* O, int S, float scale,
                                          int causal) {
    typedef Smem<D, NS> L;
    extern __shared__ __align__(1024) uint8_t smem[];
    const uint32_t base = aligned_base(smem);
    // causal: heaviest query tiles first (they have the most key tiles)
    const int mb = causal ? (int)(gridDim.x - 1 - blockIdx.x) : (int)blockIdx.x;
    const int row0 = (int)blockIdx.y * S;  // first row of this (b, h) in the tensor maps
    const int n_tiles = causal ? mb + 1 : S / BN;
    if (threadIdx.x == 0) {
        mbar_init(base + L::Q_FULL, 1);
        for (int st = 0; st < NS; ++st) {
            mbar_init(base + L::K_FULL + 8 * st, 1);
            mbar_init(base + L::V_FULL + 8 * st, 1);
            mbar_init(base + L::EMPTY + 8 * st, CONSUMERS);
        }
        mbar_init_fence();
    }
    __syncthreads();
    const int wg = warpgroup();
    if (wg == 0) {
        producer_registers();
        if (threadIdx.x == 0) produce<D, NS>(base, tq, tk, tv, row0 + mb * BM, row0, n_tiles);
    } else {
        consumer_registers();
        // log2(e): softmax in the log2 domain, exp2 on MUFU
        Consumer<D, NS>::run(base, wg - 1, mb, n_tiles, causal != 0, O, row0,
                             scale * 1.4426950408889634f);
    }
}

// Three stages: at iteration j a consumer holds V_{j-1} and K_j, so the third stage is
// what lets tile j+1 land while both compute. D = 128 then needs 225 KiB of the 227 KiB
// a Hopper block may opt into.
constexpr int STAGES = 3;
static_assert(Smem<128, STAGES>::BYTES == 230480, "launcher's shared size for D = 128");
static_assert(Smem<64, STAGES>::BYTES == 115792, "launcher's shared size for D = 64");

}  // namespace gvb_attn90

// ===========================================================================
// Exported kernels
// ===========================================================================

// flash_attn_sm90_d128: O [B,H,S,128] bf16 = softmax(scale * Q K^T [+ causal mask]) V;
// q, k, v: tensor maps over [B*H*S][128] bf16, box [128][64], 128B swizzle.
//   grid = (S / 128, B*H), block = 384 threads (producer + 2 consumer warpgroups)
//   dyn smem = 230480 B (Q 32 KiB + 3 stages x (K 32 KiB + V 32 KiB) + barriers + 1 KiB
//   alignment slack); constraints: S % 128 == 0, S >= 128. 1 block / SM.
extern "C" __global__ void __launch_bounds__(gvb_sm90::THREADS, 1)
flash_attn_sm90_d128(const __grid_constant__ gvb_attn90::TensorMap q,
                     const __grid_constant__ gvb_attn90::TensorMap k,
                     const __grid_constant__ gvb_attn90::TensorMap v, __nv_bfloat16* O, int S,
                     float scale, int causal) {
    gvb_attn90::flash_fwd<128, gvb_attn90::STAGES>(q, k, v, O, S, scale, causal);
}

// flash_attn_sm90_d64: as flash_attn_sm90_d128 for D = 64 (maps over [B*H*S][64]).
//   grid = (S / 128, B*H), block = 384 threads
//   dyn smem = 115792 B (Q 16 KiB + 3 stages x (K 16 KiB + V 16 KiB) + barriers + 1 KiB
//   alignment slack); constraints: S % 128 == 0, S >= 128. 1 block / SM.
extern "C" __global__ void __launch_bounds__(gvb_sm90::THREADS, 1)
flash_attn_sm90_d64(const __grid_constant__ gvb_attn90::TensorMap q,
                    const __grid_constant__ gvb_attn90::TensorMap k,
                    const __grid_constant__ gvb_attn90::TensorMap v, __nv_bfloat16* O, int S,
                    float scale, int causal) {
    gvb_attn90::flash_fwd<64, gvb_attn90::STAGES>(q, k, v, O, S, scale, causal);
}
