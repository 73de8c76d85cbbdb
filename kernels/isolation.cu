// Kernels of the cross-tenant probes: IS-005 reads another tenant's memory through
// an address it was given, IS-010 makes a tenant fault on purpose.

// Copies n 64-bit words from src to dst (grid-stride). With src an address this
// context never allocated, the read is what IS-005 probes: the GPU should fault.
extern "C" __global__ void copy_words(const unsigned long long *src, unsigned long long *dst,
                                      unsigned long long n) {
    unsigned long long stride = (unsigned long long)gridDim.x * blockDim.x;
    for (unsigned long long i = (unsigned long long)blockIdx.x * blockDim.x + threadIdx.x; i < n;
         i += stride) {
        dst[i] = src[i];
    }
}

// Writes value to target from one thread. Given an address no allocation covers, the
// store raises an illegal-address fault in this context (IS-010's aggressor).
extern "C" __global__ void write_word(unsigned long long *target, unsigned long long value) {
    if (blockIdx.x == 0 && threadIdx.x == 0) {
        *target = value;
    }
}
