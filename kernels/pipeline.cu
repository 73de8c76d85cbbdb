// The compute step of OH-010's mixed pipeline.

// x[i] = a * x[i] + b for every i < n (grid-stride loop, so any grid covers any n).
extern "C" __global__ void affine(float *x, unsigned long long n, float a, float b) {
    unsigned long long stride = (unsigned long long)gridDim.x * blockDim.x;
    for (unsigned long long i = (unsigned long long)blockIdx.x * blockDim.x + threadIdx.x; i < n;
         i += stride) {
        x[i] = a * x[i] + b;
    }
}
