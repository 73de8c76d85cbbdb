// OH-001 (a) in plain C: the same loop as the harness (empty <<<1,1>>> kernel from the
// same PTX, host clock around each cuLaunchKernel, stream sync every 256 launches
// untimed), so the harness's own cost can be read off the difference. Also prints the
// p50 of each quarter of the launches and the CPU it ended on, to tell drift within a
// run from drift between runs.
// Build: gcc -O2 tools/launch_loop.c -I$CUDA_HOME/include -lcuda -o launch_loop
#define _GNU_SOURCE
#include <cuda.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#define N 200000
#define CK(x) do { CUresult r = (x); if (r) { fprintf(stderr, "%s: %d\n", #x, r); return 1; } } while (0)
static double now_ns(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec * 1e9 + t.tv_nsec; }
static int cmp(const void *a, const void *b) { double d = *(double *)a - *(double *)b; return (d > 0) - (d < 0); }
int main(int argc, char **argv) {
    static char ptx[1 << 20]; static double t[N];
    FILE *f = fopen(argc > 1 ? argv[1] : "kernels/ptx/launch.ptx", "r");
    if (!f) { perror("ptx"); return 1; }
    ptx[fread(ptx, 1, sizeof ptx - 1, f)] = 0; fclose(f);
    CUdevice dev; CUcontext ctx; CUmodule mod; CUfunction fn; CUstream s;
    CK(cuInit(0)); CK(cuDeviceGet(&dev, 0)); CK(cuDevicePrimaryCtxRetain(&ctx, dev)); CK(cuCtxSetCurrent(ctx));
    CK(cuModuleLoadData(&mod, ptx)); CK(cuModuleGetFunction(&fn, mod, "empty")); CK(cuStreamCreate(&s, CU_STREAM_NON_BLOCKING));
    for (int i = 0; i < 20000; i++) { CK(cuLaunchKernel(fn, 1, 1, 1, 1, 1, 1, 0, s, NULL, NULL)); if (i % 256 == 255) CK(cuStreamSynchronize(s)); }
    CK(cuStreamSynchronize(s));
    double sum = 0;
    for (int i = 0; i < N; i++) {
        double t0 = now_ns(); CUresult r = cuLaunchKernel(fn, 1, 1, 1, 1, 1, 1, 0, s, NULL, NULL); t[i] = now_ns() - t0; sum += t[i];
        CK(r); if (i % 256 == 255) CK(cuStreamSynchronize(s));
    }
    int cpu = sched_getcpu();
    double quarter[4];
    for (int q = 0; q < 4; q++) { qsort(t + q * (N / 4), N / 4, sizeof *t, cmp); quarter[q] = t[q * (N / 4) + N / 8] / 1e3; }
    qsort(t, N, sizeof *t, cmp);
    printf("c-launch-loop launch-call n=%d p50_us=%.3f mean_us=%.3f p99_us=%.3f quarters_p50=%.3f/%.3f/%.3f/%.3f cpu=%d\n", N, t[N / 2] / 1e3,
           sum / N / 1e3, t[N * 99 / 100] / 1e3, quarter[0], quarter[1], quarter[2], quarter[3], cpu);
    return 0;
}
