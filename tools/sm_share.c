// Kernels/s of the SM-share shapes with the suite's kernels (kernels/ptx/launch.ptx),
// for the same grid whatever partition the process is given: the clock-spin kernel
// (`spin`) against the throughput-bound one (`fma_work`) that verification and the
// tenants now run. Run it natively and as an MPS client with
// CUDA_MPS_ACTIVE_THREAD_PERCENTAGE set; the ratio of the two runs is the share each
// kernel can show. The grid comes from SMS (the physical count, read natively: under
// MPS the device attribute reports the partition), sizes as src/system/verify.rs
// does them: short = 8 blocks of 256 threads per SM for ~0.1 ms, long = 1 block of
// 1024 threads per SM for ~1 ms; `spin` blocks spin that long on the SM clock.
//
// Build: gcc -O2 tools/sm_share.c -I$CUDA_HOME/include -L$CUDA_HOME/lib64/stubs -lcuda -o sm_share
// Run:   sm_share kernels/ptx/launch.ptx SMS CLOCK_MHZ FMA_PER_SM_CLOCK [SECONDS]
// Prints `sm-share KERNEL SHAPE blocks=... kernels_per_s=... attribute_sms=...`.
#include <cuda.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define FMA_CHAINS 8
#define CK(x) do { CUresult r_ = (x); if (r_) { fprintf(stderr, "%s: CUresult %d\n", #x, r_); exit(1); } } while (0)

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv) {
    if (argc < 5) { fprintf(stderr, "usage: %s PTX SMS CLOCK_MHZ FMA_PER_SM_CLOCK [SECONDS]\n", argv[0]); return 2; }
    static char ptx[1 << 20];
    FILE *f = fopen(argv[1], "r");
    if (!f) { perror("ptx"); return 1; }
    ptx[fread(ptx, 1, sizeof ptx - 1, f)] = 0;
    fclose(f);
    int sms = atoi(argv[2]);
    double clock_mhz = atof(argv[3]), fma_per_clock = atof(argv[4]);
    double secs = argc > 5 ? atof(argv[5]) : 3.0;
    CUdevice dev; CUcontext ctx; CUmodule mod; CUfunction spin, work; CUstream s;
    CK(cuInit(0)); CK(cuDeviceGet(&dev, 0)); CK(cuDevicePrimaryCtxRetain(&ctx, dev)); CK(cuCtxSetCurrent(ctx));
    int attribute_sms;
    CK(cuDeviceGetAttribute(&attribute_sms, CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, dev));
    CK(cuModuleLoadData(&mod, ptx));
    CK(cuModuleGetFunction(&spin, mod, "spin")); CK(cuModuleGetFunction(&work, mod, "fma_work"));
    CK(cuStreamCreate(&s, CU_STREAM_NON_BLOCKING));
    struct { const char *name; int per_sm; int threads; double block_us; } shapes[] = {
        {"short-blocks", 8, 256, 100.0}, {"long-blocks", 1, 1024, 1000.0}};
    for (int k = 0; k < 2; k++) {
        unsigned blocks = sms * shapes[k].per_sm;
        CUdeviceptr slots;
        CK(cuMemAlloc(&slots, blocks * 8));
        for (int which = 0; which < 2; which++) {
            long long count = which == 0
                ? (long long)(clock_mhz * shapes[k].block_us)
                : (long long)(clock_mhz * shapes[k].block_us * fma_per_clock /
                              ((double)shapes[k].threads * shapes[k].per_sm * FMA_CHAINS) + 0.5);
            unsigned threads = which == 0 ? 32 : shapes[k].threads;
            void *params[] = {&count, &slots};
            CUfunction fn = which == 0 ? spin : work;
            CK(cuLaunchKernel(fn, blocks, 1, 1, threads, 1, 1, 0, s, params, NULL));
            CK(cuStreamSynchronize(s));
            long n = 0;
            double start = now_s();
            while (now_s() - start < secs) {
                for (int b = 0; b < 10; b++) CK(cuLaunchKernel(fn, blocks, 1, 1, threads, 1, 1, 0, s, params, NULL));
                CK(cuStreamSynchronize(s));
                n += 10;
            }
            double rate = n / (now_s() - start);
            printf("sm-share %s %s blocks=%u threads=%u count=%lld kernels_per_s=%.2f attribute_sms=%d\n",
                   which == 0 ? "spin" : "fma_work", shapes[k].name, blocks, threads, count, rate, attribute_sms);
            fflush(stdout);
        }
        CK(cuMemFree(slots));
    }
    return 0;
}
