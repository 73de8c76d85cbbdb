// sm90.cuh -- the Hopper building blocks kernels/*_sm90.cu share: tensor-map copies
// completing on mbarriers, wgmma shared-memory descriptors for 128-byte swizzled tiles,
// wgmma fences, and the warp specialisation of a producer warpgroup feeding consumer
// warpgroups. Included, never compiled alone (build.rs compiles *.cu only).
#pragma once
#include <stdint.h>

namespace gvb_sm90 {

// The 128-byte CUtensorMap the driver encodes (cuTensorMapEncodeTiled); its bits are
// opaque here, only its size and 64-byte alignment matter.
struct alignas(64) TensorMap {
    uint64_t opaque[16];
};

constexpr int WG = 128;                          // threads of a warpgroup
constexpr int THREADS = 3 * WG;                  // producer + 2 consumer warpgroups
constexpr uint32_t ROW_BYTES = 128;              // one 128-byte swizzle row: 64 16-bit values
constexpr int COLS = 64;                         // 16-bit columns of one swizzle row (a box's width)
constexpr uint32_t ATOM_BYTES = 8 * ROW_BYTES;   // 128B swizzle repeats every 8 rows
// Registers per thread after setmaxnreg: 24 x 128 + 240 x 256 = 64512 = 168 x 384, the
// register file share __launch_bounds__(gvb_sm90::THREADS, 1) starts every thread with.
constexpr int PRODUCER_REGS = 24;
constexpr int CONSUMER_REGS = 240;

__device__ __forceinline__ uint32_t smem_u32(const void* p) {
    return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}
// The dynamic shared memory base rounded up to 1024 bytes: the swizzle pattern of a
// tensor copy and of a wgmma descriptor is anchored at 1024-byte boundaries.
__device__ __forceinline__ uint32_t aligned_base(const void* smem) {
    return (smem_u32(smem) + 1023u) & ~1023u;
}
__device__ __forceinline__ void mbar_init(uint32_t bar, uint32_t count) {
    asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;\n" ::"r"(bar), "r"(count) : "memory");
}
// Makes the initialised barriers visible to the tensor-copy engine before any use.
__device__ __forceinline__ void mbar_init_fence() {
    asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory");
}
// The producer's arrival, announcing the bytes the tensor copies will complete.
__device__ __forceinline__ void mbar_expect_tx(uint32_t bar, uint32_t bytes) {
    asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;\n" ::"r"(bar),
                 "r"(bytes)
                 : "memory");
}
__device__ __forceinline__ void mbar_arrive(uint32_t bar) {
    asm volatile("mbarrier.arrive.shared::cta.b64 _, [%0];\n" ::"r"(bar) : "memory");
}
// Waits until the phase of parity `parity` has completed. A fresh barrier counts its
// (virtual) phase before phase 0 as complete, so waiting on parity 1 passes at once.
__device__ __forceinline__ void mbar_wait(uint32_t bar, uint32_t parity) {
    uint32_t done;
    do {
        asm volatile(
            "{\n.reg .pred p;\n"
            "mbarrier.try_wait.parity.shared::cta.b64 p, [%1], %2;\n"
            "selp.u32 %0, 1, 0, p;\n}\n"
            : "=r"(done)
            : "r"(bar), "r"(parity)
            : "memory");
    } while (!done);
}
// One box of a tensor map at (column, row) into shared memory, completing on `bar`.
__device__ __forceinline__ void tma_load(uint32_t dst, const TensorMap& map, int col, int row,
                                         uint32_t bar) {
    asm volatile(
        "cp.async.bulk.tensor.2d.shared::cluster.global.tile.mbarrier::complete_tx::bytes"
        " [%0], [%1, {%2, %3}], [%4];\n" ::"r"(dst),
        "l"(reinterpret_cast<uint64_t>(&map)), "r"(col), "r"(row), "r"(bar)
        : "memory");
}
// Named barrier `id` (1..15; 0 is __syncthreads) over `count` threads.
__device__ __forceinline__ void bar_sync(int id, int count) {
    asm volatile("bar.sync %0, %1;\n" ::"r"(id), "r"(count) : "memory");
}
__device__ __forceinline__ void bar_arrive(int id, int count) {
    asm volatile("bar.arrive %0, %1;\n" ::"r"(id), "r"(count) : "memory");
}

// wgmma shared-memory matrix descriptor with 128-byte swizzle: start address >> 4 in
// bits 0-13, leading byte offset >> 4 in 16-29, stride byte offset >> 4 in 32-45,
// layout type 1 (128B swizzle) in bits 62-63; base offset 0 because every operand
// starts on a 1024-byte atom boundary plus at most the 96-byte k-step inside a row.
__device__ __forceinline__ uint64_t smem_desc(uint32_t addr, uint32_t lbo, uint32_t sbo) {
    return (uint64_t)((addr & 0x3FFFF) >> 4) | ((uint64_t)(lbo >> 4) << 16) |
           ((uint64_t)(sbo >> 4) << 32) | (1ull << 62);
}
// K-major operand (rows of 64 K values, one swizzle row each): 8-row groups are
// ATOM_BYTES apart (stride byte offset); the leading offset is unused for swizzled
// K-major layouts (1 by convention).
__device__ __forceinline__ uint64_t desc_k_major(uint32_t addr) {
    return smem_desc(addr, 16, ATOM_BYTES);
}

__device__ __forceinline__ void wgmma_fence() {
    asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory");
}
__device__ __forceinline__ void wgmma_commit() {
    asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory");
}
// Waits until at most N committed wgmma groups of this warpgroup are still running.
template <int N>
__device__ __forceinline__ void wgmma_wait() {
    asm volatile("wgmma.wait_group.sync.aligned %0;\n" ::"n"(N) : "memory");
}
// Pins registers at this point of the program: the compiler may not move their reads or
// writes across it, so regular instructions never touch a wgmma operand in flight.
template <int N>
__device__ __forceinline__ void pin(float (&r)[N]) {
#pragma unroll
    for (int i = 0; i < N; ++i) asm volatile("" : "+f"(r[i])::"memory");
}
template <int N>
__device__ __forceinline__ void pin(uint32_t (&r)[N][4]) {
#pragma unroll
    for (int i = 0; i < N; ++i)
#pragma unroll
        for (int e = 0; e < 4; ++e) asm volatile("" : "+r"(r[i][e])::"memory");
}

// This thread's warpgroup, broadcast from lane 0 so the compiler knows it is
// warp-uniform: wgmma in a branch it must treat as divergent is serialized (ptxas C7520).
__device__ __forceinline__ int warpgroup() {
    return __shfl_sync(0xffffffffu, (int)threadIdx.x / WG, 0);
}
// Warpgroup 0 produces and keeps few registers; the consumers take what it gives up.
__device__ __forceinline__ void producer_registers() {
    asm volatile("setmaxnreg.dec.sync.aligned.u32 %0;\n" ::"n"(PRODUCER_REGS));
}
__device__ __forceinline__ void consumer_registers() {
    asm volatile("setmaxnreg.inc.sync.aligned.u32 %0;\n" ::"n"(CONSUMER_REGS));
}

}  // namespace gvb_sm90
