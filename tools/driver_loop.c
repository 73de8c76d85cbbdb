// The suite's per-call metrics in plain C, so the harness's own cost can be read off
// the difference: OH-001 (a) launch call with a stream sync every 256 launches
// untimed, (b) launch + sync; OH-002 cuMemAlloc timed and cuMemFree untimed, OH-003
// the other way round, at each of the suite's sizes; OH-005 trivial hooked calls,
// 1000 per clock read, each entry point looked up once with dlsym on libcuda and
// called through its pointer as the suite does. Same empty kernel (the suite's
// PTX), same primary context, host monotonic clock around each timed region.
//
// Build: gcc -O2 tools/driver_loop.c -I$CUDA_HOME/include -L$CUDA_HOME/lib64/stubs -lcuda -ldl -o driver_loop
// Run:   [SETTLE_US=N] driver_loop kernels/ptx/launch.ptx [SECONDS_PER_OP] [OP ...]
// OPs: launch-call launch-sync alloc-4KiB ... alloc-1GiB free-4KiB ... free-1GiB
//      cuDriverGetVersion cuCtxGetDevice cuDeviceGetAttribute (default: all).
// Prints one line per OP: `c-loop OP n=... p50_ns=... mean_ns=... p99_ns=... p75_ns=...
// p90_ns=... quarters_p50_ns=a/b/c/d`, the quarters telling drift within the run.
#include <cuda.h>
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_RECORDS 200000
#define MIN_RECORDS 50
#define CALLS_PER_BATCH 1000
#define CK(x) do { CUresult r_ = (x); if (r_) { fprintf(stderr, "%s: CUresult %d\n", #x, r_); exit(1); } } while (0)

static CUfunction empty_fn;
static CUstream stream;
static CUdevice device;
static CUresult (*get_version)(int *);
static CUresult (*get_device)(CUdevice *);
static CUresult (*get_attribute)(int *, CUdevice_attribute, CUdevice);
static double t[MAX_RECORDS];
// SETTLE_US: after the untimed half of an alloc or free op, synchronise the context
// and sleep this long, so a timed call does not pay for deferred work of the last.
static long settle_us = -1;

static void settle(void) {
    if (settle_us < 0) return;
    CK(cuCtxSynchronize());
    if (settle_us > 0) {
        struct timespec ts = {settle_us / 1000000, (settle_us % 1000000) * 1000};
        nanosleep(&ts, NULL);
    }
}

static double now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static int cmp(const void *a, const void *b) {
    double d = *(const double *)a - *(const double *)b;
    return (d > 0) - (d < 0);
}

// One timed region of an OP; returns nanoseconds per call.
typedef double (*timed_fn)(long arg, long i);

static double launch_call(long arg, long i) {
    (void)arg;
    double t0 = now_ns();
    CUresult r = cuLaunchKernel(empty_fn, 1, 1, 1, 1, 1, 1, 0, stream, NULL, NULL);
    double dt = now_ns() - t0;
    CK(r);
    if (i % 256 == 255) CK(cuStreamSynchronize(stream));
    return dt;
}

static double launch_sync(long arg, long i) {
    (void)arg; (void)i;
    double t0 = now_ns();
    CUresult r = cuLaunchKernel(empty_fn, 1, 1, 1, 1, 1, 1, 0, stream, NULL, NULL);
    if (r == CUDA_SUCCESS) r = cuStreamSynchronize(stream);
    double dt = now_ns() - t0;
    CK(r);
    return dt;
}

static double alloc_timed(long bytes, long i) {
    (void)i;
    CUdeviceptr p;
    double t0 = now_ns();
    CUresult r = cuMemAlloc(&p, (size_t)bytes);
    double dt = now_ns() - t0;
    CK(r);
    CK(cuMemFree(p));
    settle();
    return dt;
}

static double free_timed(long bytes, long i) {
    (void)i;
    CUdeviceptr p;
    CK(cuMemAlloc(&p, (size_t)bytes));
    settle();
    double t0 = now_ns();
    CUresult r = cuMemFree(p);
    double dt = now_ns() - t0;
    CK(r);
    return dt;
}

// CALLS_PER_BATCH back-to-back calls of CALL per clock read, in ns per call.
#define HOOKED(name, call)                                                   \
    static double name(long arg, long i) {                                   \
        (void)arg; (void)i;                                                  \
        int v; CUdevice d; CUresult r = CUDA_SUCCESS;                        \
        double t0 = now_ns();                                                \
        for (int k = 0; k < CALLS_PER_BATCH; k++) r |= call;                 \
        double dt = now_ns() - t0;                                           \
        (void)v; (void)d;                                                    \
        CK(r);                                                               \
        return dt / CALLS_PER_BATCH;                                         \
    }
HOOKED(driver_version, get_version(&v))
HOOKED(ctx_get_device, get_device(&d))
HOOKED(device_attribute, get_attribute(&v, CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, device))

struct op { const char *name; timed_fn fn; long arg; };

static const struct op OPS[] = {
    {"launch-call", launch_call, 0},
    {"launch-sync", launch_sync, 0},
    {"alloc-4KiB", alloc_timed, 4L << 10},
    {"alloc-1MiB", alloc_timed, 1L << 20},
    {"alloc-64MiB", alloc_timed, 64L << 20},
    {"alloc-1GiB", alloc_timed, 1L << 30},
    {"free-4KiB", free_timed, 4L << 10},
    {"free-1MiB", free_timed, 1L << 20},
    {"free-64MiB", free_timed, 64L << 20},
    {"free-1GiB", free_timed, 1L << 30},
    {"cuDriverGetVersion", driver_version, 0},
    {"cuCtxGetDevice", ctx_get_device, 0},
    {"cuDeviceGetAttribute", device_attribute, 0},
};
#define N_OPS (sizeof OPS / sizeof OPS[0])

// Warms the OP up for a tenth of the budget, then records it for the budget.
static void run(const struct op *op, double secs) {
    double end = now_ns() + secs * 0.1e9;
    for (long i = 0; now_ns() < end || i < 10; i++) op->fn(op->arg, i);
    CK(cuStreamSynchronize(stream));
    long n = 0;
    double sum = 0;
    end = now_ns() + secs * 1e9;
    while (n < MAX_RECORDS && (n < MIN_RECORDS || now_ns() < end)) {
        t[n] = op->fn(op->arg, n);
        sum += t[n];
        n++;
    }
    CK(cuStreamSynchronize(stream));
    double quarter[4];
    for (int q = 0; q < 4; q++) {
        qsort(t + q * (n / 4), n / 4, sizeof *t, cmp);
        quarter[q] = t[q * (n / 4) + n / 8];
    }
    qsort(t, n, sizeof *t, cmp);
    printf("c-loop %s n=%ld p50_ns=%.1f mean_ns=%.1f p99_ns=%.1f p75_ns=%.1f p90_ns=%.1f quarters_p50_ns=%.1f/%.1f/%.1f/%.1f\n",
           op->name, n, t[n / 2], sum / n, t[n * 99 / 100], t[n * 3 / 4], t[n * 9 / 10], quarter[0], quarter[1], quarter[2],
           quarter[3]);
    fflush(stdout);
}

int main(int argc, char **argv) {
    static char ptx[1 << 20];
    FILE *f = fopen(argc > 1 ? argv[1] : "kernels/ptx/launch.ptx", "r");
    if (!f) { perror("ptx"); return 1; }
    ptx[fread(ptx, 1, sizeof ptx - 1, f)] = 0;
    fclose(f);
    double secs = argc > 2 ? atof(argv[2]) : 0.5;
    if (getenv("SETTLE_US")) settle_us = atol(getenv("SETTLE_US"));
    CUcontext ctx;
    CUmodule mod;
    CK(cuInit(0));
    CK(cuDeviceGet(&device, 0));
    CK(cuDevicePrimaryCtxRetain(&ctx, device));
    CK(cuCtxSetCurrent(ctx));
    CK(cuModuleLoadData(&mod, ptx));
    CK(cuModuleGetFunction(&empty_fn, mod, "empty"));
    CK(cuStreamCreate(&stream, CU_STREAM_NON_BLOCKING));
    void *lib = dlopen("libcuda.so.1", RTLD_NOW);
    if (!lib) { fprintf(stderr, "dlopen libcuda.so.1: %s\n", dlerror()); return 1; }
    *(void **)&get_version = dlsym(lib, "cuDriverGetVersion");
    *(void **)&get_device = dlsym(lib, "cuCtxGetDevice");
    *(void **)&get_attribute = dlsym(lib, "cuDeviceGetAttribute");
    if (!get_version || !get_device || !get_attribute) { fprintf(stderr, "dlsym: %s\n", dlerror()); return 1; }
    for (size_t k = 0; k < N_OPS; k++) {
        int wanted = argc <= 3;
        for (int a = 3; a < argc; a++) wanted |= strcmp(argv[a], OPS[k].name) == 0;
        if (wanted) run(&OPS[k], secs);
    }
    return 0;
}
