/* norm.cu — row-wise RMSNorm, LayerNorm and softmax: one thread block per row, block reductions.
 *
 * Not here: fused norm+matmul (a later optimisation). Numerics: RMSNorm as HF LlamaRMSNorm (F32 mean of
 * squares), LayerNorm as torch.nn.LayerNorm (mean first, then the mean of squared deviations: two passes,
 * no E[x²]−E[x]² cancellation), softmax with max subtraction; a row whose entries are all −inf yields 0s.
 */
#include "common.cuh"
#include "cuda-ops.h"

static int norm_threads(int64_t C)
{
    if (C >= 1024)
        return 1024;
    int t = 32;
    while (t < C && t < 1024)
        t *= 2;
    return t;
}

static __global__ void rmsnorm_kernel(float *y, const float *x, const float *__restrict__ w, int64_t C, float eps)
{
    __shared__ float sh[32];
    const float *xr = x + (int64_t)blockIdx.x * C;
    float *yr = y + (int64_t)blockIdx.x * C;
    float ss = 0.0f;
    for (int64_t i = threadIdx.x; i < C; i += blockDim.x)
        ss += xr[i] * xr[i];
    ss = block_sum(ss, sh);
    const float r = rsqrtf(ss / (float)C + eps);
    for (int64_t i = threadIdx.x; i < C; i += blockDim.x)
        yr[i] = xr[i] * r * (w ? w[i] : 1.0f);
}

static __global__ void layernorm_kernel(float *y, const float *x, const float *__restrict__ w,
                                        const float *__restrict__ b, int64_t C, float eps)
{
    __shared__ float sh[32];
    const float *xr = x + (int64_t)blockIdx.x * C;
    float *yr = y + (int64_t)blockIdx.x * C;
    float s = 0.0f;
    for (int64_t i = threadIdx.x; i < C; i += blockDim.x)
        s += xr[i];
    const float mean = block_sum(s, sh) / (float)C;
    float v = 0.0f;
    for (int64_t i = threadIdx.x; i < C; i += blockDim.x) {
        float d = xr[i] - mean;
        v += d * d;
    }
    const float r = rsqrtf(block_sum(v, sh) / (float)C + eps);
    for (int64_t i = threadIdx.x; i < C; i += blockDim.x)
        yr[i] = (xr[i] - mean) * r * (w ? w[i] : 1.0f) + (b ? b[i] : 0.0f);
}

static __global__ void softmax_kernel(float *x, const float *__restrict__ mask, int64_t mask_rows, int64_t N,
                                      float scale)
{
    __shared__ float sh[32];
    float *xr = x + (int64_t)blockIdx.x * N;
    const float *mr = mask ? mask + (mask_rows == 1 ? 0 : (int64_t)blockIdx.x) * N : NULL;
    float mx = -INFINITY;
    for (int64_t i = threadIdx.x; i < N; i += blockDim.x) {
        float v = xr[i] * scale + (mr ? mr[i] : 0.0f);
        xr[i] = v;
        mx = fmaxf(mx, v);
    }
    mx = block_max(mx, sh);
    float s = 0.0f;
    for (int64_t i = threadIdx.x; i < N; i += blockDim.x) {
        float e = mx == -INFINITY ? 0.0f : expf(xr[i] - mx);
        xr[i] = e;
        s += e;
    }
    s = block_sum(s, sh);
    const float inv = s > 0.0f ? 1.0f / s : 0.0f;
    for (int64_t i = threadIdx.x; i < N; i += blockDim.x)
        xr[i] *= inv;
}

extern "C" int cuk_rmsnorm(cudaStream_t s, float *y, const float *x, const float *w, int64_t C, int64_t R,
                           float eps)
{
    if (R < 1 || C < 1)
        return 0;
    rmsnorm_kernel<<<(unsigned)R, norm_threads(C), 0, s>>>(y, x, w, C, eps);
    return (int)cudaGetLastError();
}

extern "C" int cuk_layernorm(cudaStream_t s, float *y, const float *x, const float *w, const float *b,
                             int64_t C, int64_t R, float eps)
{
    if (R < 1 || C < 1)
        return 0;
    layernorm_kernel<<<(unsigned)R, norm_threads(C), 0, s>>>(y, x, w, b, C, eps);
    return (int)cudaGetLastError();
}

extern "C" int cuk_softmax(cudaStream_t s, float *x, const float *mask, int64_t mask_rows, int64_t N,
                           int64_t R, float scale)
{
    if (R < 1 || N < 1)
        return 0;
    softmax_kernel<<<(unsigned)R, norm_threads(N), 0, s>>>(x, mask, mask_rows, N, scale);
    return (int)cudaGetLastError();
}
