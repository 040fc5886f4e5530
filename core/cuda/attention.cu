/* attention.cu — scaled dot-product attention over a KV cache with GQA, causal and additive masks.
 *
 * One thread block (4 warps) per (query token t, head h, key split). Each warp walks every 4th key of the
 * split: a shuffle-reduced q·k score, then an online softmax (running max m, sum l, weighted V sum in
 * registers; lane owns dims lane + 32i). Warps merge in shared memory. With several splits
 * (flash-decoding, for T·NH too small to fill the GPU) each split writes (m, l, acc[HD]) partials and a
 * second kernel merges them. Several queries without splits (prefill) go to the tiled kernel of
 * attention-prefill.cu, which shares each K/V tile across 32 query rows; this kernel is its fallback (a
 * device without enough shared memory) and the decode path.
 * Numerics: softmax(q·kᵀ·scale + mask) · v in F32 with exp() rescaling (Milakov & Gimelshein 2018;
 * FlashAttention, Dao et al. 2022); queries whose keys are all masked produce zeros.
 */
#include "common.cuh"
#include "cuda-ops.h"

enum { ATTN_WARPS = 4, ATTN_NDL = CUK_ATTN_MAX_HD / 32 };

template <bool F16>
static __device__ __forceinline__ float kv_at(const void *base, size_t off_bytes, int d)
{
    const char *p = (const char *)base + off_bytes;
    return F16 ? h2f(((const uint16_t *)p)[d]) : ((const float *)p)[d];
}

template <bool F16>
static __global__ void __launch_bounds__(ATTN_WARPS * 32) attn_kernel(CukAttn a, int n_splits, float *partials)
{
    __shared__ float sh_m[ATTN_WARPS], sh_l[ATTN_WARPS], sh_acc[ATTN_WARPS][CUK_ATTN_MAX_HD];
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const int64_t row = blockIdx.x; /* t * NH + h */
    const int64_t h = row % a.NH, t = row / a.NH;
    const int64_t kvh = h / (a.NH / a.NKV);
    const int HD = (int)a.HD;

    int64_t s_end = a.S;
    if (a.causal && a.n_past + t + 1 < s_end)
        s_end = a.n_past + t + 1;
    const int64_t chunk = (a.S + n_splits - 1) / n_splits;
    const int64_t j0 = (int64_t)blockIdx.y * chunk;
    int64_t j1 = j0 + chunk;
    if (j1 > s_end)
        j1 = s_end;

    const float *q = (const float *)((const char *)a.q + (size_t)t * a.q_nb2 + (size_t)h * a.q_nb1);
    float qr[ATTN_NDL], acc[ATTN_NDL];
#pragma unroll
    for (int i = 0; i < ATTN_NDL; i++) {
        int d = lane + 32 * i;
        qr[i] = d < HD ? q[d] * a.scale : 0.0f;
        acc[i] = 0.0f;
    }
    const float *mrow = a.mask ? (const float *)((const char *)a.mask + (size_t)t * a.mask_nb1) : NULL;
    float m = -INFINITY, l = 0.0f;
    for (int64_t j = j0 + warp; j < j1; j += ATTN_WARPS) {
        const size_t koff = (size_t)j * a.k_nb2 + (size_t)kvh * a.k_nb1;
        float dot = 0.0f;
#pragma unroll
        for (int i = 0; i < ATTN_NDL; i++) {
            int d = lane + 32 * i;
            if (d < HD)
                dot += qr[i] * kv_at<F16>(a.k, koff, d);
        }
        float sc = warp_sum(dot) + (mrow ? mrow[j] : 0.0f);
        if (sc == -INFINITY)
            continue;
        const float mn = fmaxf(m, sc), corr = expf(m - mn), p = expf(sc - mn);
        l = l * corr + p;
        m = mn;
        const size_t voff = (size_t)j * a.v_nb2 + (size_t)kvh * a.v_nb1;
#pragma unroll
        for (int i = 0; i < ATTN_NDL; i++) {
            int d = lane + 32 * i;
            acc[i] = acc[i] * corr + (d < HD ? p * kv_at<F16>(a.v, voff, d) : 0.0f);
        }
    }
    if (lane == 0) {
        sh_m[warp] = m;
        sh_l[warp] = l;
    }
#pragma unroll
    for (int i = 0; i < ATTN_NDL; i++) {
        int d = lane + 32 * i;
        if (d < HD)
            sh_acc[warp][d] = acc[i];
    }
    __syncthreads();
    float M = -INFINITY;
    for (int w = 0; w < ATTN_WARPS; w++)
        M = fmaxf(M, sh_m[w]);
    float L = 0.0f, f[ATTN_WARPS];
    for (int w = 0; w < ATTN_WARPS; w++) {
        f[w] = sh_m[w] == -INFINITY ? 0.0f : expf(sh_m[w] - M);
        L += sh_l[w] * f[w];
    }
    if (n_splits == 1) {
        float *o = a.out + row * HD;
        const float inv = L > 0.0f ? 1.0f / L : 0.0f;
        for (int d = threadIdx.x; d < HD; d += blockDim.x) {
            float s = 0.0f;
            for (int w = 0; w < ATTN_WARPS; w++)
                s += sh_acc[w][d] * f[w];
            o[d] = s * inv;
        }
        return;
    }
    /* partials: [(row * n_splits + split)] × (HD + 2): m, l, acc[HD] (acc not normalised). */
    float *p = partials + ((size_t)row * n_splits + blockIdx.y) * (size_t)(HD + 2);
    if (threadIdx.x == 0) {
        p[0] = M;
        p[1] = L;
    }
    for (int d = threadIdx.x; d < HD; d += blockDim.x) {
        float s = 0.0f;
        for (int w = 0; w < ATTN_WARPS; w++)
            s += sh_acc[w][d] * f[w];
        p[2 + d] = s;
    }
}

static __global__ void attn_merge(float *out, const float *__restrict__ partials, int64_t HD, int n_splits)
{
    const int64_t row = blockIdx.x;
    const float *p = partials + (size_t)row * n_splits * (size_t)(HD + 2);
    float M = -INFINITY, L = 0.0f;
    for (int sp = 0; sp < n_splits; sp++)
        M = fmaxf(M, p[(size_t)sp * (HD + 2)]);
    for (int sp = 0; sp < n_splits; sp++) {
        float ms = p[(size_t)sp * (HD + 2)];
        if (ms != -INFINITY)
            L += p[(size_t)sp * (HD + 2) + 1] * expf(ms - M);
    }
    const float inv = L > 0.0f ? 1.0f / L : 0.0f;
    for (int64_t d = threadIdx.x; d < HD; d += blockDim.x) {
        float s = 0.0f;
        for (int sp = 0; sp < n_splits; sp++) {
            float ms = p[(size_t)sp * (HD + 2)];
            if (ms != -INFINITY)
                s += p[(size_t)sp * (HD + 2) + 2 + d] * expf(ms - M);
        }
        out[row * HD + d] = s * inv;
    }
}

extern "C" int cuk_attention_splits(const CukAttn *a, int n_sm)
{
    const int64_t rows = a->NH * a->T, want = 2 * (int64_t)(n_sm > 0 ? n_sm : 1);
    if (rows >= want || a->S < 256)
        return 1;
    int64_t sp = (want + rows - 1) / rows, max_sp = (a->S + 127) / 128;
    if (sp > max_sp)
        sp = max_sp;
    if (sp > 64)
        sp = 64;
    return sp < 1 ? 1 : (int)sp;
}

extern "C" size_t cuk_attention_scratch_floats(const CukAttn *a, int n_splits)
{
    return n_splits <= 1 ? 0 : (size_t)(a->NH * a->T) * (size_t)n_splits * (size_t)(a->HD + 2);
}

extern "C" int cuk_attention(cudaStream_t s, const CukAttn *a, int n_splits, float *partials)
{
    if (a->HD < 1 || a->HD > CUK_ATTN_MAX_HD || a->NKV < 1 || a->NH % a->NKV || n_splits < 1)
        return (int)cudaErrorInvalidValue;
    if (a->NH * a->T < 1)
        return 0;
    if (a->T > 1 && n_splits == 1) {
        int r = cuk_attention_tiled(s, a); /* -1: shape or device it cannot take */
        if (r >= 0)
            return r;
    }
    dim3 grid((unsigned)(a->NH * a->T), (unsigned)n_splits);
    if (a->kv_f16)
        attn_kernel<true><<<grid, ATTN_WARPS * 32, 0, s>>>(*a, n_splits, partials);
    else
        attn_kernel<false><<<grid, ATTN_WARPS * 32, 0, s>>>(*a, n_splits, partials);
    cudaError_t e = cudaGetLastError();
    if (e != cudaSuccess || n_splits == 1)
        return (int)e;
    attn_merge<<<(unsigned)(a->NH * a->T), 128, 0, s>>>(a->out, partials, a->HD, n_splits);
    return (int)cudaGetLastError();
}
