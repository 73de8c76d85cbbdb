// attention.cu -- attention kernels for gpu-virt-bench.
//
// Built to PTX with `nvcc -ptx -O3 -std=c++17 -arch=sm_80` and JIT-compiled by the
// driver (H100 / sm_90). Tensor-core kernels use mma.sync m16n8k16 (bf16 in, f32
// accumulate), ldmatrix (.trans for V) and cp.async double buffering; no wgmma, no
// runtime API, no printf. Exported kernels are extern "C"; templates are internal.
//
// Layouts: Q, K, V, O are [B, H, S, D] contiguous (row = one token, D elements).
// Decode: q/out [B, H, D], k_cache/v_cache [B, H, n, D] contiguous.
//
// Kernels (exact launch configuration in the comment above each one):
//   flash_attn_d128  FlashAttention-2 forward, bf16 in/out, D = 128
//                    grid (S/128, B*H), block 256, dyn smem 163840 B, S % 128 == 0
//   flash_attn_d64   FlashAttention-2 forward, bf16 in/out, D = 64
//                    grid (S/128, B*H), block 128, dyn smem 49152 B, S % 128 == 0
//   attn_ref         naive reference, f32 out: grid (S, B*H), block 128, dyn smem S*4 B
//   attn_decode      one query token per (b,h) over a KV cache, bf16 out, D in {64,128}:
//                    grid (B*H), block 512, dyn smem 0, any n >= 1
//   attn_decode_ref  naive decode reference, f32 out: grid (B*H), block 128, dyn smem n*4 B
// Flash signature: (Q, K, V, O, int S, float scale, int causal); causal = 1 masks keys
// after the query. The launcher must raise CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES
// for flash_attn_d128 (163840 B > 48 KB); flash_attn_d64 needs exactly 48 KB.
#include <cuda_bf16.h>
#include <stdint.h>

namespace gvb_attn {

typedef __nv_bfloat16 bf16;

// ---------------------------------------------------------------------------
// PTX helpers
// ---------------------------------------------------------------------------
__device__ __forceinline__ uint32_t smem_u32(const void* p) {
    return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}
__device__ __forceinline__ void cp_async16(uint32_t dst, const void* src) {
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16;\n" ::"r"(dst), "l"(src));
}
__device__ __forceinline__ void cp_async_commit() {
    asm volatile("cp.async.commit_group;\n" ::);
}
template <int N>
__device__ __forceinline__ void cp_async_wait() {
    asm volatile("cp.async.wait_group %0;\n" ::"n"(N));
}
__device__ __forceinline__ void ldsm_x4(uint32_t& r0, uint32_t& r1, uint32_t& r2, uint32_t& r3,
                                        uint32_t addr) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r0), "=r"(r1), "=r"(r2), "=r"(r3)
                 : "r"(addr));
}
__device__ __forceinline__ void ldsm_x4_t(uint32_t& r0, uint32_t& r1, uint32_t& r2, uint32_t& r3,
                                          uint32_t addr) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r0), "=r"(r1), "=r"(r2), "=r"(r3)
                 : "r"(addr));
}
// D(16x8 f32) += A(16x16 bf16, row) * B(16x8 bf16, col)
__device__ __forceinline__ void mma_bf16(float* c, const uint32_t* a, uint32_t b0, uint32_t b1) {
    asm("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 "
        "{%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
        : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}
// 2^x (MUFU.EX2; what exp2f becomes under fast-math). ex2(-inf) = +0.
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
// FlashAttention-2 forward.
//
// Shared-memory tiles are [rows][D] bf16 with the 16-byte chunks of each row
// XOR-swizzled by (row & 7): conflict-free for cp.async stores and ldmatrix loads.
// Warp w owns query rows [w*16*MT, (w+1)*16*MT) of the block tile (MT m16 tiles).
// Pipeline: NS stages of (K tile, V tile); one __syncthreads per key tile.
// ---------------------------------------------------------------------------
template <int D>
__device__ __forceinline__ uint32_t swz(int row, int chunk) {
    return (uint32_t)(row * (D * 2) + ((chunk ^ (row & 7)) << 4));
}

// Copy a [ROWS][D] bf16 tile (global rows contiguous, stride D) into swizzled smem.
template <int D, int ROWS, int NT>
__device__ __forceinline__ void load_tile(uint32_t s, const bf16* g, int tid) {
    constexpr int CPR = D / 8;  // 16-byte chunks per row
    constexpr int TOTAL = ROWS * CPR;
    static_assert(TOTAL % NT == 0, "tile chunks must divide the block");
#pragma unroll
    for (int i = 0; i < TOTAL / NT; ++i) {
        int idx = i * NT + tid;
        int r = idx / CPR, c = idx % CPR;
        cp_async16(s + swz<D>(r, c), g + (size_t)r * D + c * 8);
    }
}

// Template parameters:
//   D      head dim; BM query rows per block; BN keys per tile; NW warps (NW*16*MT = BM)
//   NS     smem stages of (K tile, V tile)
//   QREG   keep the warp's Q fragments in registers (else re-read Q from smem per tile)
//   PIPE   software pipelining: S(j+1) = Q K(j+1)^T is issued before softmax(j) and
//          O += P(j) V(j), so tensor-core work overlaps the softmax ALU/MUFU work
//          (needs NS >= 3: K(j+1) and V(j) resident while tile j+NS-1 loads)
//   RTH    lazy rescaling (as in FlashAttention-3/4): the running max m of a row is only
//          raised when a new score exceeds it by more than 2^8 (log2 domain); then
//          P <= 256, O and l keep the same stale m, result is unchanged mathematically.
//          The O/l rescale is skipped warp-uniformly when no row of the warp needs it.
template <int D, int BM, int BN, int NW, int NS, bool QREG, bool PIPE, bool RTH>
struct FlashCfg {
    static constexpr int NT = NW * 32;
    static constexpr int MT = BM / (16 * NW);
    static constexpr int SMEM = BM * D * 2 + NS * 2 * BN * D * 2;
    static_assert(MT >= 1 && MT * 16 * NW == BM, "BM must be 16*NW*MT");
    static_assert(BN % 16 == 0 && D % 16 == 0, "tile shapes");
    static_assert(NS >= (PIPE ? 3 : 2), "stages");
};

template <int D, int BM, int BN, int NW, int NS, bool QREG, bool PIPE, bool RTH>
struct Flash {
    static constexpr int NT = NW * 32;
    static constexpr int MT = BM / (16 * NW);
    static constexpr int KD = D / 16;   // k-steps of Q*K^T
    static constexpr int NN = BN / 8;   // n8 tiles of S
    static constexpr int ND = D / 8;    // n8 tiles of O
    static constexpr int KN = BN / 16;  // k-steps of P*V
    static constexpr uint32_t TILE_KV = BN * D * 2;
    typedef float Sacc[MT][NN][4];
    typedef float Oacc[MT][ND][4];
    typedef uint32_t Qfrag[QREG ? MT : 1][QREG ? KD : 1][4];

    // S = Q K^T for the key tile at sK
    static __device__ __forceinline__ void qk(Sacc& s, const Qfrag& qf, uint32_t sQ, uint32_t sK,
                                              int warp, int lane) {
        const int a_row = lane & 15, a_chk = lane >> 4;
        const int k_row = (lane & 7) + ((lane >> 4) << 3), k_chk = (lane >> 3) & 1;
#pragma unroll
        for (int mt = 0; mt < MT; ++mt)
#pragma unroll
            for (int nn = 0; nn < NN; ++nn)
#pragma unroll
                for (int e = 0; e < 4; ++e) s[mt][nn][e] = 0.f;
#pragma unroll
        for (int kk = 0; kk < KD; ++kk) {
            uint32_t a[MT][4];
#pragma unroll
            for (int mt = 0; mt < MT; ++mt) {
                if constexpr (QREG) {
#pragma unroll
                    for (int e = 0; e < 4; ++e) a[mt][e] = qf[mt][kk][e];
                } else {
                    ldsm_x4(a[mt][0], a[mt][1], a[mt][2], a[mt][3],
                            sQ + swz<D>(warp * MT * 16 + mt * 16 + a_row, kk * 2 + a_chk));
                }
            }
#pragma unroll
            for (int np = 0; np < NN / 2; ++np) {
                uint32_t b0, b1, b2, b3;
                ldsm_x4(b0, b1, b2, b3, sK + swz<D>(np * 16 + k_row, kk * 2 + k_chk));
#pragma unroll
                for (int mt = 0; mt < MT; ++mt) {
                    mma_bf16(s[mt][2 * np], a[mt], b0, b1);
                    mma_bf16(s[mt][2 * np + 1], a[mt], b2, b3);
                }
            }
        }
    }

    // causal mask of key tile starting at k0 (call only for tiles crossing the diagonal)
    static __device__ __forceinline__ void mask(Sacc& s, int q_row0, int k0, int lane) {
        const int g = lane >> 2, t = lane & 3;
#pragma unroll
        for (int mt = 0; mt < MT; ++mt)
#pragma unroll
            for (int nn = 0; nn < NN; ++nn)
#pragma unroll
                for (int e = 0; e < 4; ++e) {
                    const int qi = q_row0 + mt * 16 + g + ((e >> 1) << 3);
                    const int ki = k0 + nn * 8 + 2 * t + (e & 1);
                    if (ki > qi) s[mt][nn][e] = -INFINITY;
                }
    }

    // online softmax (log2 domain); P packed into bf16 A fragments
    static __device__ __forceinline__ void softmax(Sacc& s, uint32_t (&p)[MT][KN][4], Oacc& o,
                                                   float (&m)[MT][2], float (&l)[MT][2],
                                                   float sl2) {
        float mx[MT][2];
        bool need = false;
#pragma unroll
        for (int mt = 0; mt < MT; ++mt)
#pragma unroll
            for (int h = 0; h < 2; ++h) {
                float v = -INFINITY;
#pragma unroll
                for (int nn = 0; nn < NN; ++nn)
                    v = fmaxf(v, fmaxf(s[mt][nn][2 * h], s[mt][nn][2 * h + 1]));
                v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, 1));
                v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, 2));
                mx[mt][h] = v * sl2;
                need |= mx[mt][h] > m[mt][h] + 8.0f;  // -inf + 8 = -inf: first tile always
            }
        if (!RTH || __any_sync(0xffffffffu, need)) {
#pragma unroll
            for (int mt = 0; mt < MT; ++mt)
#pragma unroll
                for (int h = 0; h < 2; ++h) {
                    const float mnew = fmaxf(m[mt][h], mx[mt][h]);
                    const float corr = fast_exp2(m[mt][h] - (mnew == -INFINITY ? 0.f : mnew));
                    m[mt][h] = mnew;
                    l[mt][h] *= corr;
#pragma unroll
                    for (int nd = 0; nd < ND; ++nd) {
                        o[mt][nd][2 * h] *= corr;
                        o[mt][nd][2 * h + 1] *= corr;
                    }
                }
        }
#pragma unroll
        for (int mt = 0; mt < MT; ++mt) {
#pragma unroll
            for (int h = 0; h < 2; ++h) {
                const float mref = (m[mt][h] == -INFINITY) ? 0.f : m[mt][h];
                float rs = 0.f;
#pragma unroll
                for (int nn = 0; nn < NN; ++nn) {
                    const float p0 = fast_exp2(fmaf(s[mt][nn][2 * h], sl2, -mref));
                    const float p1 = fast_exp2(fmaf(s[mt][nn][2 * h + 1], sl2, -mref));
                    s[mt][nn][2 * h] = p0;
                    s[mt][nn][2 * h + 1] = p1;
                    rs += p0 + p1;
                }
                l[mt][h] += rs;  // per-thread partial row sum (reduced in the epilogue)
            }
#pragma unroll
            for (int kn = 0; kn < KN; ++kn) {
                p[mt][kn][0] = pack_bf16(s[mt][2 * kn][0], s[mt][2 * kn][1]);
                p[mt][kn][1] = pack_bf16(s[mt][2 * kn][2], s[mt][2 * kn][3]);
                p[mt][kn][2] = pack_bf16(s[mt][2 * kn + 1][0], s[mt][2 * kn + 1][1]);
                p[mt][kn][3] = pack_bf16(s[mt][2 * kn + 1][2], s[mt][2 * kn + 1][3]);
            }
        }
    }

    // O += P V for the value tile at sV
    static __device__ __forceinline__ void pv(Oacc& o, const uint32_t (&p)[MT][KN][4], uint32_t sV,
                                              int lane) {
        const int v_row = lane & 15, v_chk = lane >> 4;
#pragma unroll
        for (int kn = 0; kn < KN; ++kn) {
#pragma unroll
            for (int dp = 0; dp < ND / 2; ++dp) {
                uint32_t b0, b1, b2, b3;
                ldsm_x4_t(b0, b1, b2, b3, sV + swz<D>(kn * 16 + v_row, dp * 2 + v_chk));
#pragma unroll
                for (int mt = 0; mt < MT; ++mt) {
                    mma_bf16(o[mt][2 * dp], p[mt][kn], b0, b1);
                    mma_bf16(o[mt][2 * dp + 1], p[mt][kn], b2, b3);
                }
            }
        }
    }

    static __device__ __forceinline__ void load_kv(uint32_t sKV, const bf16* Kg, const bf16* Vg,
                                                   int j, int tid) {
        const uint32_t st = sKV + (j % NS) * 2 * TILE_KV;
        load_tile<D, BN, NT>(st, Kg + (size_t)j * BN * D, tid);
        load_tile<D, BN, NT>(st + TILE_KV, Vg + (size_t)j * BN * D, tid);
    }

    static __device__ __forceinline__ void run(const bf16* __restrict__ Q,
                                               const bf16* __restrict__ K,
                                               const bf16* __restrict__ V, bf16* __restrict__ O,
                                               int S, float scale, int causal) {
        extern __shared__ __align__(128) uint8_t smem[];
        const uint32_t sQ = smem_u32(smem);
        const uint32_t sKV = sQ + BM * D * 2;

        const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
        // causal: heaviest query tiles first (they have the most key tiles)
        const int mb = causal ? (int)(gridDim.x - 1 - blockIdx.x) : (int)blockIdx.x;
        const size_t bh = blockIdx.y;
        const bf16* Qg = Q + (bh * S + (size_t)mb * BM) * D;
        const bf16* Kg = K + bh * S * D;
        const bf16* Vg = V + bh * S * D;
        bf16* Og = O + (bh * S + (size_t)mb * BM) * D;

        const int n_tiles = causal ? min(S / BN, ((mb + 1) * BM + BN - 1) / BN) : S / BN;
        const int q_row0 = mb * BM + warp * MT * 16;  // first query row of this warp
        const int q_rowL = q_row0 + MT * 16 - 1;      // last query row of this warp
        const float sl2 = scale * 1.4426950408889634f;  // scale * log2(e)

        // prologue: Q, then NS-1 key/value tiles, one commit group each
        load_tile<D, BM, NT>(sQ, Qg, tid);
        cp_async_commit();
#pragma unroll
        for (int s = 0; s < NS - 1; ++s) {
            if (s < n_tiles) load_kv(sKV, Kg, Vg, s, tid);
            cp_async_commit();
        }

        Oacc o;
        float m[MT][2], l[MT][2];
#pragma unroll
        for (int mt = 0; mt < MT; ++mt) {
#pragma unroll
            for (int nd = 0; nd < ND; ++nd)
#pragma unroll
                for (int e = 0; e < 4; ++e) o[mt][nd][e] = 0.f;
            m[mt][0] = m[mt][1] = -INFINITY;
            l[mt][0] = l[mt][1] = 0.f;
        }
        Qfrag qf;
        uint32_t p[MT][KN][4];

        if constexpr (!PIPE) {
            for (int j = 0; j < n_tiles; ++j) {
                cp_async_wait<NS - 2>();
                __syncthreads();  // tile j (and Q) visible; stage (j-1)%NS free
                if constexpr (QREG) {
                    if (j == 0) load_q(qf, sQ, warp, lane);
                }
                if (j + NS - 1 < n_tiles) load_kv(sKV, Kg, Vg, j + NS - 1, tid);
                cp_async_commit();
                const int k0 = j * BN;
                if (causal && k0 > q_rowL) continue;  // tile fully masked for this warp
                const uint32_t sK = sKV + (j % NS) * 2 * TILE_KV;
                Sacc s;
                qk(s, qf, sQ, sK, warp, lane);
                if (causal && k0 + BN - 1 > q_row0) mask(s, q_row0, k0, lane);
                softmax(s, p, o, m, l, sl2);
                pv(o, p, sK + TILE_KV, lane);
            }
        } else {
            // S(0) first; then iteration j: S(j+1) = Q K(j+1)^T, softmax(j), O += P(j) V(j).
            // Stage use: iteration j reads K(j+1), V(j); loads tile j+NS-1 into the stage of
            // tile j-1 (K(j-1) last read in iteration j-2, V(j-1) in iteration j-1).
            cp_async_wait<NS - 2>();
            __syncthreads();
            if constexpr (QREG) load_q(qf, sQ, warp, lane);
            Sacc s_cur, s_nxt;
            qk(s_cur, qf, sQ, sKV, warp, lane);
            for (int j = 0; j < n_tiles; ++j) {
                cp_async_wait<NS - 3>();
                __syncthreads();  // tiles <= j+1 visible; stage (j-1)%NS free
                if (j + NS - 1 < n_tiles) load_kv(sKV, Kg, Vg, j + NS - 1, tid);
                cp_async_commit();
                const int k0 = j * BN;
                // rows of a fully masked tile get p = 0 (m stays finite from tile 0)
                if (causal && k0 + BN - 1 > q_row0) mask(s_cur, q_row0, k0, lane);
                // for j+1 == n_tiles this reads a stale stage; the result is discarded
                qk(s_nxt, qf, sQ, sKV + ((j + 1) % NS) * 2 * TILE_KV, warp, lane);
                softmax(s_cur, p, o, m, l, sl2);
                pv(o, p, sKV + (j % NS) * 2 * TILE_KV + TILE_KV, lane);
#pragma unroll
                for (int mt = 0; mt < MT; ++mt)
#pragma unroll
                    for (int nn = 0; nn < NN; ++nn)
#pragma unroll
                        for (int e = 0; e < 4; ++e) s_cur[mt][nn][e] = s_nxt[mt][nn][e];
            }
        }
        cp_async_wait<0>();

        // ---- epilogue: O / l -> bf16 ----
        const int g = lane >> 2, t = lane & 3;
#pragma unroll
        for (int mt = 0; mt < MT; ++mt) {
#pragma unroll
            for (int h = 0; h < 2; ++h) {
                float lt = l[mt][h];
                lt += __shfl_xor_sync(0xffffffffu, lt, 1);
                lt += __shfl_xor_sync(0xffffffffu, lt, 2);
                const float inv = 1.f / lt;
                bf16* orow = Og + (size_t)(warp * MT * 16 + mt * 16 + g + h * 8) * D + 2 * t;
#pragma unroll
                for (int nd = 0; nd < ND; ++nd)
                    *reinterpret_cast<uint32_t*>(orow + nd * 8) =
                        pack_bf16(o[mt][nd][2 * h] * inv, o[mt][nd][2 * h + 1] * inv);
            }
        }
    }

    static __device__ __forceinline__ void load_q(Qfrag& qf, uint32_t sQ, int warp, int lane) {
        const int a_row = lane & 15, a_chk = lane >> 4;
#pragma unroll
        for (int mt = 0; mt < MT; ++mt)
#pragma unroll
            for (int kk = 0; kk < KD; ++kk)
                ldsm_x4(qf[mt][kk][0], qf[mt][kk][1], qf[mt][kk][2], qf[mt][kk][3],
                        sQ + swz<D>(warp * MT * 16 + mt * 16 + a_row, kk * 2 + a_chk));
    }
};

template <int D, int BM, int BN, int NW, int NS, bool QREG, bool PIPE, bool RTH>
__device__ __forceinline__ void flash_fwd(const bf16* Q, const bf16* K, const bf16* V, bf16* O,
                                          int S, float scale, int causal) {
    Flash<D, BM, BN, NW, NS, QREG, PIPE, RTH>::run(Q, K, V, O, S, scale, causal);
}

// Configurations of the exported kernels.
#define GVB_FA_D128 128, 128, 128, 8, 2, true, false, true
#define GVB_FA_D64 64, 128, 64, 4, 2, true, false, false

// ---------------------------------------------------------------------------
// Decode: one query per (b, h) over n cached keys. Warp w takes a contiguous
// chunk of keys; each lane owns D/32 elements of q / acc; a key's score is a
// warp butterfly sum. Per-warp online softmax, merged across warps in smem.
// ---------------------------------------------------------------------------

template <int D>
struct DecVec;
template <>
struct DecVec<64> {
    __device__ static void load(const bf16* p, float* f) {
        uint32_t u = *reinterpret_cast<const uint32_t*>(p);
        __nv_bfloat162 h = *reinterpret_cast<__nv_bfloat162*>(&u);
        float2 v = __bfloat1622float2(h);
        f[0] = v.x; f[1] = v.y;
    }
};
template <>
struct DecVec<128> {
    __device__ static void load(const bf16* p, float* f) {
        uint2 u = *reinterpret_cast<const uint2*>(p);
        __nv_bfloat162 h0 = *reinterpret_cast<__nv_bfloat162*>(&u.x);
        __nv_bfloat162 h1 = *reinterpret_cast<__nv_bfloat162*>(&u.y);
        float2 a = __bfloat1622float2(h0), b = __bfloat1622float2(h1);
        f[0] = a.x; f[1] = a.y; f[2] = b.x; f[3] = b.y;
    }
};

template <int D, int DEC_WARPS, int DEC_UNROLL>
__device__ __forceinline__ void decode_impl(const bf16* __restrict__ q, const bf16* __restrict__ kc,
                                            const bf16* __restrict__ vc, bf16* __restrict__ out,
                                            int n, float scale) {
    constexpr int E = D / 32;  // elements per lane
    __shared__ float sm_m[DEC_WARPS], sm_l[DEC_WARPS];
    __shared__ float sm_acc[DEC_WARPS][D];

    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    const size_t bh = blockIdx.x;
    const bf16* kp = kc + bh * (size_t)n * D + lane * E;
    const bf16* vp = vc + bh * (size_t)n * D + lane * E;
    const float sl2 = scale * 1.4426950408889634f;

    float qv[E];
    DecVec<D>::load(q + bh * D + lane * E, qv);
#pragma unroll
    for (int e = 0; e < E; ++e) qv[e] *= sl2;

    float m = -INFINITY, l = 0.f, acc[E];
#pragma unroll
    for (int e = 0; e < E; ++e) acc[e] = 0.f;

    const int per = (n + DEC_WARPS - 1) / DEC_WARPS;
    const int kbeg = min(n, warp * per), kend = min(n, kbeg + per);
    int k = kbeg;
    for (; k + DEC_UNROLL <= kend; k += DEC_UNROLL) {
        float kv[DEC_UNROLL][E], vv[DEC_UNROLL][E], sc[DEC_UNROLL];
#pragma unroll
        for (int u = 0; u < DEC_UNROLL; ++u) {
            DecVec<D>::load(kp + (size_t)(k + u) * D, kv[u]);
            DecVec<D>::load(vp + (size_t)(k + u) * D, vv[u]);
        }
#pragma unroll
        for (int u = 0; u < DEC_UNROLL; ++u) {
            float d = 0.f;
#pragma unroll
            for (int e = 0; e < E; ++e) d = fmaf(qv[e], kv[u][e], d);
            sc[u] = d;
        }
#pragma unroll
        for (int off = 16; off > 0; off >>= 1)
#pragma unroll
            for (int u = 0; u < DEC_UNROLL; ++u) sc[u] += __shfl_xor_sync(0xffffffffu, sc[u], off);
        float mx = sc[0];
#pragma unroll
        for (int u = 1; u < DEC_UNROLL; ++u) mx = fmaxf(mx, sc[u]);
        const float mnew = fmaxf(m, mx);
        const float corr = exp2f(m - mnew);  // m = -inf -> 0
        m = mnew;
        l *= corr;
#pragma unroll
        for (int e = 0; e < E; ++e) acc[e] *= corr;
#pragma unroll
        for (int u = 0; u < DEC_UNROLL; ++u) {
            const float pu = exp2f(sc[u] - mnew);
            l += pu;
#pragma unroll
            for (int e = 0; e < E; ++e) acc[e] = fmaf(pu, vv[u][e], acc[e]);
        }
    }
    for (; k < kend; ++k) {
        float kv[E], vv[E];
        DecVec<D>::load(kp + (size_t)k * D, kv);
        DecVec<D>::load(vp + (size_t)k * D, vv);
        float d = 0.f;
#pragma unroll
        for (int e = 0; e < E; ++e) d = fmaf(qv[e], kv[e], d);
#pragma unroll
        for (int off = 16; off > 0; off >>= 1) d += __shfl_xor_sync(0xffffffffu, d, off);
        const float mnew = fmaxf(m, d);
        const float corr = exp2f(m - mnew);
        const float pu = exp2f(d - mnew);
        m = mnew;
        l = l * corr + pu;
#pragma unroll
        for (int e = 0; e < E; ++e) acc[e] = fmaf(pu, vv[e], acc[e] * corr);
    }

    if (lane == 0) { sm_m[warp] = m; sm_l[warp] = l; }
#pragma unroll
    for (int e = 0; e < E; ++e) sm_acc[warp][lane * E + e] = acc[e];
    __syncthreads();
    for (int d = threadIdx.x; d < D; d += blockDim.x) {
        float M = -INFINITY;
#pragma unroll
        for (int w = 0; w < DEC_WARPS; ++w) M = fmaxf(M, sm_m[w]);
        float L = 0.f, A = 0.f;
#pragma unroll
        for (int w = 0; w < DEC_WARPS; ++w) {
            const float f = (sm_m[w] == -INFINITY) ? 0.f : exp2f(sm_m[w] - M);
            L = fmaf(sm_l[w], f, L);
            A = fmaf(sm_acc[w][d], f, A);
        }
        out[bh * D + d] = __float2bfloat16(A / L);
    }
}

// ---------------------------------------------------------------------------
// Naive references (f32 math, f32 output).
// ---------------------------------------------------------------------------
__device__ __forceinline__ float block_reduce(float v, bool is_max, float* red) {
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nw = (blockDim.x + 31) >> 5;
#pragma unroll
    for (int off = 16; off > 0; off >>= 1) {
        const float o = __shfl_xor_sync(0xffffffffu, v, off);
        v = is_max ? fmaxf(v, o) : v + o;
    }
    __syncthreads();  // red[] may still be read by a previous call
    if (lane == 0) red[warp] = v;
    __syncthreads();
    float r = red[0];
    for (int w = 1; w < nw; ++w) r = is_max ? fmaxf(r, red[w]) : r + red[w];
    return r;
}

// One block per query row: scores[k] over the visible keys, softmax, P*V.
__device__ __forceinline__ void ref_row(const bf16* __restrict__ q, const bf16* __restrict__ Kb,
                                        const bf16* __restrict__ Vb, float* __restrict__ o,
                                        int nk, int D, float scale) {
    extern __shared__ float sc[];  // nk floats
    __shared__ float red[32];
    float mx = -INFINITY;
    for (int k = threadIdx.x; k < nk; k += blockDim.x) {
        const bf16* kr = Kb + (size_t)k * D;
        float d = 0.f;
        for (int i = 0; i < D; ++i) d = fmaf(__bfloat162float(q[i]), __bfloat162float(kr[i]), d);
        d *= scale;
        sc[k] = d;
        mx = fmaxf(mx, d);
    }
    mx = block_reduce(mx, true, red);
    float sum = 0.f;
    for (int k = threadIdx.x; k < nk; k += blockDim.x) {
        const float e = expf(sc[k] - mx);
        sc[k] = e;
        sum += e;
    }
    sum = block_reduce(sum, false, red);  // also makes sc[] visible to all threads
    const float inv = 1.f / sum;
    for (int i = threadIdx.x; i < D; i += blockDim.x) {
        float a = 0.f;
        for (int k = 0; k < nk; ++k) a = fmaf(sc[k], __bfloat162float(Vb[(size_t)k * D + i]), a);
        o[i] = a * inv;
    }
}

}  // namespace gvb_attn

// ===========================================================================
// Exported kernels
// ===========================================================================

// flash_attn_d128: Q,K,V,O [B,H,S,128] bf16; O = softmax(scale * Q K^T [+ causal mask]) V.
//   grid  = (S / 128, B*H), block = 256 threads (8 warps x 16 query rows, Q in registers)
//   dyn smem = 163840 B (Q 128x128 + 2 stages x (K 128x128 + V 128x128), bf16)
//   constraints: S % 128 == 0 (BLOCK_M = 128, BLOCK_N = 128), S >= 128.
//   causal = 1: query i attends keys 0..i; fully masked key tiles are skipped.
//   1 block / SM (255 registers); lazy rescaling (RTH, see Flash).
extern "C" __global__ void __launch_bounds__(256, 1)
flash_attn_d128(const __nv_bfloat16* Q, const __nv_bfloat16* K, const __nv_bfloat16* V,
                __nv_bfloat16* O, int S, float scale, int causal) {
    gvb_attn::flash_fwd<GVB_FA_D128>(Q, K, V, O, S, scale, causal);
}

// flash_attn_d64: Q,K,V,O [B,H,S,64] bf16.
//   grid  = (S / 128, B*H), block = 128 threads (4 warps x 32 query rows, Q in registers)
//   dyn smem = 49152 B (Q 128x64 + 2 stages x (K 64x64 + V 64x64), bf16)
//   constraints: S % 128 == 0 (BLOCK_M = 128, BLOCK_N = 64), S >= 128.
//   causal as for flash_attn_d128. 2 blocks / SM (<= 255 registers).
extern "C" __global__ void __launch_bounds__(128, 2)
flash_attn_d64(const __nv_bfloat16* Q, const __nv_bfloat16* K, const __nv_bfloat16* V,
               __nv_bfloat16* O, int S, float scale, int causal) {
    gvb_attn::flash_fwd<GVB_FA_D64>(Q, K, V, O, S, scale, causal);
}

// attn_ref: naive reference. Q,K,V [B,H,S,D] bf16, O [B,H,S,D] f32.
//   grid = (S, B*H), block = 128 threads (any multiple of 32 up to 1024 works),
//   dyn smem = S * 4 B (scores of one row). Any S >= 1, D >= 1.
extern "C" __global__ void attn_ref(const __nv_bfloat16* Q, const __nv_bfloat16* K,
                                    const __nv_bfloat16* V, float* O, int S, int D, float scale,
                                    int causal) {
    const int row = blockIdx.x;
    const size_t bh = blockIdx.y;
    const size_t base = bh * (size_t)S * D;
    const int nk = causal ? row + 1 : S;
    gvb_attn::ref_row(Q + base + (size_t)row * D, K + base, V + base, O + base + (size_t)row * D,
                      nk, D, scale);
}

// attn_decode: q [B,H,D], k_cache/v_cache [B,H,n,D], out [B,H,D], bf16; D in {64, 128}.
//   grid = (B*H), block = 512 threads (16 warps; fixed), dyn smem = 0
//   (static smem 12544 B for both D instantiations). Any n >= 1. Other D: the kernel
//   returns without writing.
extern "C" __global__ void __launch_bounds__(512)
attn_decode(const __nv_bfloat16* q, const __nv_bfloat16* k_cache, const __nv_bfloat16* v_cache,
            __nv_bfloat16* out, int n, int D, float scale) {
    if (D == 128)
        gvb_attn::decode_impl<128, 16, 8>(q, k_cache, v_cache, out, n, scale);
    else if (D == 64)
        gvb_attn::decode_impl<64, 16, 8>(q, k_cache, v_cache, out, n, scale);
}

// attn_decode_ref: naive decode reference, out [B,H,D] f32.
//   grid = (B*H), block = 128 threads (any multiple of 32 up to 1024 works),
//   dyn smem = n * 4 B. Any n >= 1, D >= 1.
extern "C" __global__ void attn_decode_ref(const __nv_bfloat16* q, const __nv_bfloat16* k_cache,
                                           const __nv_bfloat16* v_cache, float* out, int n, int D,
                                           float scale) {
    const size_t bh = blockIdx.x;
    gvb_attn::ref_row(q + bh * D, k_cache + bh * (size_t)n * D, v_cache + bh * (size_t)n * D,
                      out + bh * D, n, D, scale);
}
