/* conv.cu — kernels for convolutional speech models (VITS / HiFi-GAN): the conv1d unfold in [C, L] layout,
 * grouped conv1d, the transposed conv's col2im sum, row bias, leaky ReLU / tanh / exp, the WaveNet gate
 * and relative-position self-attention (semantics: core/backend.h; host side: backend-cuda-conv.c).
 *
 * Grid-stride loops over flat arrays; the attention kernel runs one block per (head, query) with the T
 * scores in dynamic shared memory. Not here: the GEMMs (cuBLAS through the backend's matmul).
 */
#include "common.cuh"
#include "cuda-ops.h"

static unsigned grid_n(int64_t n)
{
    int64_t b = (n + 255) / 256;
    return (unsigned)(b < 65536 ? (b > 0 ? b : 1) : 65536);
}

#define GSTRIDE(i, n) \
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < (n); i += (int64_t)gridDim.x * blockDim.x)

static __device__ __forceinline__ float act_in(float v, int leaky, float slope)
{
    return leaky && v < 0.0f ? v * slope : v;
}

static __global__ void unfold_kernel(float *col, const float *x, int64_t Cin, int64_t L, int64_t K, int64_t t0,
                                     int64_t nt, int stride, int pad, int dil, int leaky, float slope)
{
    const int64_t row = Cin * K;
    GSTRIDE(e, nt * row) {
        const int64_t t = e / row, r = e % row, k = r / Cin, c = r % Cin;
        const int64_t src = (t0 + t) * stride - pad + k * dil;
        col[e] = src >= 0 && src < L ? act_in(x[src * Cin + c], leaky, slope) : 0.0f;
    }
}

extern "C" int cuk_conv_unfold(cudaStream_t s, float *col, const float *x, int64_t Cin, int64_t L, int64_t K,
                               int64_t t0, int64_t nt, int stride, int pad, int dil, int leaky, float slope)
{
    if (nt < 1)
        return 0;
    unfold_kernel<<<grid_n(nt * Cin * K), 256, 0, s>>>(col, x, Cin, L, K, t0, nt, stride, pad, dil, leaky, slope);
    return (int)cudaGetLastError();
}

static __global__ void grouped_kernel(float *y, const float *x, const float *w, const float *b, int64_t Cin,
                                      int64_t L, int64_t Cout, int64_t K, int64_t Lout, int stride, int pad,
                                      int dil, int groups, int leaky, float slope, int accumulate)
{
    const int64_t cpg = Cin / groups, opg = Cout / groups;
    GSTRIDE(e, Lout * Cout) {
        const int64_t t = e / Cout, o = e % Cout, g = o / opg;
        float acc = b ? b[o] : 0.0f;
        for (int64_t k = 0; k < K; k++) {
            const int64_t src = t * stride - pad + k * dil;
            if (src < 0 || src >= L)
                continue;
            const float *xs = x + src * Cin + g * cpg;
            for (int64_t c = 0; c < cpg; c++)
                acc += w[(k * cpg + c) * Cout + o] * act_in(xs[c], leaky, slope);
        }
        y[e] = accumulate ? y[e] + acc : acc;
    }
}

extern "C" int cuk_conv_grouped(cudaStream_t s, float *y, const float *x, const float *w, const float *b,
                                int64_t Cin, int64_t L, int64_t Cout, int64_t K, int64_t Lout, int stride, int pad,
                                int dil, int groups, int leaky, float slope, int accumulate)
{
    if (Lout < 1)
        return 0;
    grouped_kernel<<<grid_n(Lout * Cout), 256, 0, s>>>(y, x, w, b, Cin, L, Cout, K, Lout, stride, pad, dil, groups,
                                                        leaky, slope, accumulate);
    return (int)cudaGetLastError();
}

static __global__ void bias_kernel(float *y, const float *b, int64_t C, int64_t n)
{
    GSTRIDE(e, n * C) y[e] += b[e % C];
}

extern "C" int cuk_bias_rows(cudaStream_t s, float *y, const float *b, int64_t C, int64_t n)
{
    if (n < 1)
        return 0;
    bias_kernel<<<grid_n(n * C), 256, 0, s>>>(y, b, C, n);
    return (int)cudaGetLastError();
}

static __global__ void col2im_kernel(float *y, const float *z, const float *b, int64_t Cout, int64_t K, int64_t L,
                                     int64_t i0, int64_t j0, int64_t nj, int stride, int pad)
{
    GSTRIDE(e, nj * Cout) {
        const int64_t j = j0 + e / Cout, o = e % Cout;
        float acc = b ? b[o] : 0.0f;
        for (int64_t k = (j + pad) % stride; k < K; k += stride) {
            const int64_t i = (j + pad - k) / stride;
            if (i < 0)
                break;
            if (i < L)
                acc += z[(i - i0) * K * Cout + k * Cout + o];
        }
        y[j * Cout + o] = acc;
    }
}

extern "C" int cuk_col2im(cudaStream_t s, float *y, const float *z, const float *b, int64_t Cout, int64_t K,
                          int64_t L, int64_t i0, int64_t j0, int64_t nj, int stride, int pad)
{
    if (nj < 1)
        return 0;
    col2im_kernel<<<grid_n(nj * Cout), 256, 0, s>>>(y, z, b, Cout, K, L, i0, j0, nj, stride, pad);
    return (int)cudaGetLastError();
}

static __global__ void act_kernel(int op, float *y, const float *x, int64_t n, float a)
{
    GSTRIDE(i, n) {
        const float v = x[i];
        y[i] = op == CUK_LRELU ? (v >= 0.0f ? v : v * a) : op == CUK_TANH ? tanhf(v) : expf(v);
    }
}

extern "C" int cuk_act(cudaStream_t s, CukAct op, float *y, const float *x, int64_t n, float a)
{
    if (n < 1)
        return 0;
    act_kernel<<<grid_n(n), 256, 0, s>>>((int)op, y, x, n, a);
    return (int)cudaGetLastError();
}

static __global__ void gate_kernel(float *y, const float *x, int64_t C, int64_t T)
{
    GSTRIDE(e, C * T) {
        const int64_t t = e / C, c = e % C;
        const float a = x[t * 2 * C + c], g = x[t * 2 * C + C + c];
        y[e] = tanhf(a) * (1.0f / (1.0f + expf(-g)));
    }
}

extern "C" int cuk_gated_tanh(cudaStream_t s, float *y, const float *x, int64_t C, int64_t T)
{
    if (C * T < 1)
        return 0;
    gate_kernel<<<grid_n(C * T), 256, 0, s>>>(y, x, C, T);
    return (int)cudaGetLastError();
}

/* One block (128 threads) per (query i, head h); p: T scores in shared memory. */
static __global__ void attn_rel_kernel(float *out, const float *q, const float *k, const float *v, const float *ek,
                                       const float *ev, int64_t HD, int64_t NH, int64_t T, int W, float scale)
{
    extern __shared__ float p[];
    __shared__ float red[32];
    const int64_t i = blockIdx.x, h = blockIdx.y, row = HD * NH;
    const float *qi = q + i * row + h * HD;
    for (int64_t t = threadIdx.x; t < T; t += blockDim.x) {
        const float *kt = k + t * row + h * HD;
        const int64_t rel = t - i;
        const float *e = rel >= -W && rel <= W ? ek + (rel + W) * HD : NULL;
        float sc = 0.0f, se = 0.0f;
        for (int64_t d = 0; d < HD; d++) {
            sc += qi[d] * kt[d];
            if (e)
                se += qi[d] * e[d];
        }
        p[t] = (sc + se) * scale;
    }
    __syncthreads();
    float mx = -INFINITY;
    for (int64_t t = threadIdx.x; t < T; t += blockDim.x)
        mx = fmaxf(mx, p[t]);
    mx = block_max(mx, red);
    float sum = 0.0f;
    for (int64_t t = threadIdx.x; t < T; t += blockDim.x) {
        p[t] = expf(p[t] - mx);
        sum += p[t];
    }
    sum = block_sum(sum, red);
    const float inv = 1.0f / sum;
    for (int64_t d = threadIdx.x; d < HD; d += blockDim.x) {
        float acc = 0.0f;
        for (int64_t t = 0; t < T; t++) {
            const int64_t rel = t - i;
            float vv = v[t * row + h * HD + d];
            if (rel >= -W && rel <= W)
                vv += ev[(rel + W) * HD + d];
            acc += p[t] * vv;
        }
        out[i * row + h * HD + d] = acc * inv;
    }
}

extern "C" int cuk_attention_rel(cudaStream_t s, float *out, const float *q, const float *k, const float *v,
                                 const float *ek, const float *ev, int64_t HD, int64_t NH, int64_t T, int W,
                                 float scale)
{
    if (T < 1)
        return 0;
    if (T > CUK_ATTN_REL_MAX_T || NH > 65535)
        return (int)cudaErrorInvalidValue;
    attn_rel_kernel<<<dim3((unsigned)T, (unsigned)NH), 128, (size_t)T * sizeof(float), s>>>(out, q, k, v, ek, ev, HD,
                                                                                           NH, T, W, scale);
    return (int)cudaGetLastError();
}
