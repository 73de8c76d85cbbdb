// The CACHE category's read kernel (kernels/ptx/cache.ptx: fill_index, read_sum) over
// the sweep's set sizes, L2/8 to 4 x L2, as src/metrics/cache/set.rs sizes them: each
// set filled, read once and its sum checked, then five kernels timed on events. Run it
// under Nsight Compute to read the L2 hit rate of each set, which the CACHE figures
// only infer from time per byte:
//   ncu -k read_sum --metrics lts__t_sector_hit_rate.pct,dram__bytes_read.sum l2_read PTX
//
// Build: gcc -O2 tools/l2_read.c -I$CUDA_HOME/include -L$CUDA_HOME/lib64/stubs -lcuda -o l2_read
// Run:   l2_read kernels/ptx/cache.ptx
// Prints `l2-read fraction=F set_bytes=N passes=P sum=ok gbps=median-of-5`.
#include <cuda.h>
#include <stdio.h>
#include <stdlib.h>

#define CK(x) do { CUresult r_ = (x); if (r_) { fprintf(stderr, "%s: CUresult %d\n", #x, r_); exit(1); } } while (0)
#define VEC 16
#define THREADS 256
#define BLOCKS_PER_SM 8
#define L2S_PER_KERNEL 32
#define TIMED 5

static int cmp(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    if (argc < 2) { fprintf(stderr, "usage: %s PTX\n", argv[0]); return 2; }
    static char ptx[1 << 20];
    FILE *f = fopen(argv[1], "r");
    if (!f) { perror("ptx"); return 1; }
    ptx[fread(ptx, 1, sizeof ptx - 1, f)] = 0;
    fclose(f);
    CUdevice dev; CUcontext ctx; CUmodule mod; CUfunction fill, read; CUstream s;
    CK(cuInit(0)); CK(cuDeviceGet(&dev, 0)); CK(cuDevicePrimaryCtxRetain(&ctx, dev)); CK(cuCtxSetCurrent(ctx));
    int sms, l2;
    CK(cuDeviceGetAttribute(&sms, CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, dev));
    CK(cuDeviceGetAttribute(&l2, CU_DEVICE_ATTRIBUTE_L2_CACHE_SIZE, dev));
    CK(cuModuleLoadData(&mod, ptx));
    CK(cuModuleGetFunction(&fill, mod, "fill_index")); CK(cuModuleGetFunction(&read, mod, "read_sum"));
    CK(cuStreamCreate(&s, CU_STREAM_NON_BLOCKING));
    unsigned blocks = sms * BLOCKS_PER_SM;
    const double ladder[] = {0.125, 0.25, 0.5, 1.0, 2.0, 4.0};
    CUdeviceptr sum;
    CK(cuMemAlloc(&sum, 8));
    for (int k = 0; k < 6; k++) {
        unsigned long long bytes = (unsigned long long)(l2 * ladder[k]);
        bytes -= bytes % (VEC * 64);
        unsigned long long words = bytes / 4, n_vec = bytes / VEC;
        int passes = (int)((L2S_PER_KERNEL * (unsigned long long)l2 + bytes - 1) / bytes);
        CUdeviceptr set;
        CK(cuMemAlloc(&set, bytes));
        void *fill_args[] = {&set, &words};
        CK(cuLaunchKernel(fill, blocks, 1, 1, THREADS, 1, 1, 0, s, fill_args, NULL));
        CK(cuMemsetD32Async(sum, 0, 2, s));
        void *read_args[] = {&set, &n_vec, &passes, &sum};
        CK(cuLaunchKernel(read, blocks, 1, 1, THREADS, 1, 1, 0, s, read_args, NULL));
        CK(cuStreamSynchronize(s));
        unsigned long long got, want = 0;
        CK(cuMemcpyDtoH(&got, sum, 8));
        for (unsigned long long i = 0; i < words; i++) want += (unsigned int)i;
        want *= (unsigned long long)passes;
        if (got != want) { fprintf(stderr, "read_sum over %llu bytes: %llu, want %llu\n", bytes, got, want); return 1; }
        CUevent ev[TIMED + 1];
        for (int i = 0; i <= TIMED; i++) CK(cuEventCreate(&ev[i], CU_EVENT_DEFAULT));
        CK(cuEventRecord(ev[0], s));
        for (int i = 1; i <= TIMED; i++) {
            CK(cuLaunchKernel(read, blocks, 1, 1, THREADS, 1, 1, 0, s, read_args, NULL));
            CK(cuEventRecord(ev[i], s));
        }
        CK(cuEventSynchronize(ev[TIMED]));
        float ms[TIMED];
        for (int i = 0; i < TIMED; i++) CK(cuEventElapsedTime(&ms[i], ev[i], ev[i + 1]));
        qsort(ms, TIMED, sizeof *ms, cmp);
        printf("l2-read fraction=%.3f set_bytes=%llu passes=%d sum=ok gbps=%.1f\n", ladder[k], bytes, passes,
               (double)bytes * passes / (ms[TIMED / 2] * 1e-3) / 1e9);
        for (int i = 0; i <= TIMED; i++) CK(cuEventDestroy(ev[i]));
        CK(cuMemFree(set));
    }
    return 0;
}
