// Enforcement (ENF) probe of the device heap: memory a kernel takes with malloc never
// passes through a host allocation call, so an interposer that only hooks those
// cannot count it. Each block takes one chunk and writes all of it, so what is
// obtained is backed; `heap_give` returns the chunks.

// One chunk of `chunk_bytes` per block whose slot out[blockIdx.x] is still 0; its
// address (0 where malloc refused) goes to that slot. A block whose slot already
// holds a chunk takes nothing, so launching again retries only the refused ones.
extern "C" __global__ void heap_take(unsigned long long chunk_bytes, unsigned long long* out) {
    __shared__ unsigned int* chunk;
    if (threadIdx.x == 0) {
        chunk = nullptr;
        if (out[blockIdx.x] == 0) {
            chunk = static_cast<unsigned int*>(malloc(chunk_bytes));
            out[blockIdx.x] = reinterpret_cast<unsigned long long>(chunk);
        }
    }
    __syncthreads();
    if (chunk == nullptr) {
        return;
    }
    const unsigned long long words = chunk_bytes / 4;
    for (unsigned long long i = threadIdx.x; i < words; i += blockDim.x) {
        chunk[i] = static_cast<unsigned int>(i);
    }
}

// Frees the chunk of each block that `heap_take` obtained.
extern "C" __global__ void heap_give(const unsigned long long* chunks) {
    if (threadIdx.x == 0 && chunks[blockIdx.x] != 0) {
        free(reinterpret_cast<void*>(chunks[blockIdx.x]));
    }
}
