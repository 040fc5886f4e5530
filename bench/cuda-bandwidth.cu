/* cuda-bandwidth.cu — device memory bandwidth on this GPU, the yardstick for decode efficiency.
 *
 * Prints one line per measurement and a final machine-readable line:
 *   d2d_GBps=<cudaMemcpy device→device, counting read + write bytes> read_GBps=<read-only kernel>
 * Decode of a memory-bound LM streams every weight once per token, so decode tok/s × weight bytes divided
 * by these numbers is the fraction of attainable bandwidth (tests/gpu/check.sh reports it).
 * Not a test and not part of the library; built only with -Dcuda=enabled. Exit 0 on success, 1 on a CUDA
 * error (no GPU: "no usable CUDA device" on stderr).
 */
#include <stdio.h>
#include <stdlib.h>

#include <cuda_runtime_api.h>

#define CK(call) do { cudaError_t e_ = (call); if (e_ != cudaSuccess) { \
    fprintf(stderr, "cuda-bandwidth: %s: %s\n", #call, cudaGetErrorString(e_)); return 1; } } while (0)

/* Sum of uint4 words per thread; the result is written only when impossible so the loads stay live. */
static __global__ void read_kernel(const uint4 *__restrict__ p, size_t n, unsigned *sink)
{
    unsigned acc = 0;
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
        uint4 v = __ldg(p + i);
        acc ^= v.x ^ v.y ^ v.z ^ v.w;
    }
    if (acc == 0x12345678u)
        *sink = acc;
}

int main(int argc, char **argv)
{
    size_t bytes = (size_t)(argc > 1 ? atof(argv[1]) : 1024.0) * (1u << 20); /* MiB, default 1 GiB */
    int n_dev = 0, sms = 0, reps = 20;
    void *a = NULL, *b = NULL;
    unsigned *sink = NULL;
    cudaEvent_t e0, e1;
    float ms = 0;

    if (cudaGetDeviceCount(&n_dev) != cudaSuccess || n_dev < 1) {
        fprintf(stderr, "cuda-bandwidth: no usable CUDA device\n");
        return 1;
    }
    CK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, 0));
    CK(cudaMalloc(&a, bytes));
    CK(cudaMalloc(&b, bytes));
    CK(cudaMalloc((void **)&sink, sizeof(unsigned)));
    CK(cudaMemset(a, 1, bytes));
    CK(cudaEventCreate(&e0));
    CK(cudaEventCreate(&e1));

    CK(cudaMemcpy(b, a, bytes, cudaMemcpyDeviceToDevice)); /* warm-up */
    CK(cudaEventRecord(e0));
    for (int i = 0; i < reps; i++)
        CK(cudaMemcpyAsync(b, a, bytes, cudaMemcpyDeviceToDevice));
    CK(cudaEventRecord(e1));
    CK(cudaEventSynchronize(e1));
    CK(cudaEventElapsedTime(&ms, e0, e1));
    double d2d = 2.0 * (double)bytes * reps / (ms * 1e-3) / 1e9;
    printf("device-to-device copy: %.0f MiB x %d, %.3f ms each, %.1f GB/s (read + write)\n",
           (double)bytes / (1 << 20), reps, ms / reps, d2d);

    const size_t n4 = bytes / sizeof(uint4);
    read_kernel<<<sms * 8, 512>>>((const uint4 *)a, n4, sink);
    CK(cudaGetLastError());
    CK(cudaEventRecord(e0));
    for (int i = 0; i < reps; i++)
        read_kernel<<<sms * 8, 512>>>((const uint4 *)a, n4, sink);
    CK(cudaEventRecord(e1));
    CK(cudaEventSynchronize(e1));
    CK(cudaGetLastError());
    CK(cudaEventElapsedTime(&ms, e0, e1));
    double rd = (double)bytes * reps / (ms * 1e-3) / 1e9;
    printf("read-only kernel:      %.3f ms each, %.1f GB/s\n", ms / reps, rd);
    printf("d2d_GBps=%.1f read_GBps=%.1f\n", d2d, rd);

    cudaFree(a);
    cudaFree(b);
    cudaFree(sink);
    return 0;
}
