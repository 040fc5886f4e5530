/* matmul.cu — quantized/float GEMV for few tokens, weight dequantization for the cuBLAS path, get_rows.
 *
 * GEMV: one warp per output row n; lanes walk the row in units of 8 elements (common.cuh deq8), so a
 * warp reads 32 consecutive units (a contiguous span of blocks) per step; each weight unit is dotted with
 * all T <= 8 activation rows while in registers, then a shuffle reduction per token. Not here: the
 * many-token GEMM (cuBLAS, backend-cuda-ops.c). Numerics: dequantize-then-multiply in F32, like
 * quant_dot_f32 (core/quant.h); summation order differs from the CPU, hence parity tolerances.
 */
#include "common.cuh"
#include "cuda-ops.h"

enum { GEMV_WARPS = 4 };

template <int DT, int NT>
static __global__ void __launch_bounds__(GEMV_WARPS * 32)
gemv_unit(float *__restrict__ y, const uint8_t *__restrict__ w, size_t w_stride, const float *__restrict__ x,
          int64_t K, int64_t N)
{
    constexpr int UPB = QTraits<DT>::QK / 8, BS = QTraits<DT>::BS;
    const int lane = threadIdx.x & 31;
    const int64_t n = (int64_t)blockIdx.x * GEMV_WARPS + (threadIdx.x >> 5);
    if (n >= N)
        return;
    const uint8_t *row = w + (size_t)n * w_stride;
    const int64_t n_units = K / 8;
    float acc[NT];
#pragma unroll
    for (int t = 0; t < NT; t++)
        acc[t] = 0.0f;
    /* Unrolled so several independent weight loads per lane are in flight (decode is latency-bound per
     * warp, bandwidth-bound overall). */
#pragma unroll 4
    for (int64_t u = lane; u < n_units; u += 32) {
        float v[8];
        deq8<DT>(row + (size_t)(u / UPB) * BS, (int)(u % UPB), v);
#pragma unroll
        for (int t = 0; t < NT; t++) {
            const float4 *xp = (const float4 *)(x + t * K + u * 8);
            float4 a = __ldg(xp), b = __ldg(xp + 1);
            acc[t] += v[0] * a.x + v[1] * a.y + v[2] * a.z + v[3] * a.w + v[4] * b.x + v[5] * b.y +
                      v[6] * b.z + v[7] * b.w;
        }
    }
#pragma unroll
    for (int t = 0; t < NT; t++) {
        float s = warp_sum(acc[t]);
        if (lane == 0)
            y[t * N + n] = s;
    }
}

/* Any alignment, any K (float dtypes) or K % QK == 0 (quantized): element-wise, scalar x loads. */
template <int DT>
static __global__ void __launch_bounds__(GEMV_WARPS * 32)
gemv_any(float *__restrict__ y, const uint8_t *__restrict__ w, size_t w_stride, const float *__restrict__ x,
         int64_t K, int64_t N, int T)
{
    constexpr int UPB = QTraits<DT>::QK / 8, BS = QTraits<DT>::BS;
    constexpr bool FLOAT = DT == CT_F32 || DT == CT_F16 || DT == CT_BF16;
    const int lane = threadIdx.x & 31;
    const int64_t n = (int64_t)blockIdx.x * GEMV_WARPS + (threadIdx.x >> 5);
    if (n >= N)
        return;
    const uint8_t *row = w + (size_t)n * w_stride;
    for (int t = 0; t < T; t++) {
        const float *xt = x + t * K;
        float acc = 0.0f;
        if (FLOAT) {
            for (int64_t k = lane; k < K; k += 32)
                acc += deq1<FLOAT ? DT : CT_F32>(row, k) * xt[k];
        } else {
            for (int64_t u = lane; u < K / 8; u += 32) {
                float v[8];
                deq8<DT>(row + (size_t)(u / UPB) * BS, (int)(u % UPB), v);
                for (int i = 0; i < 8; i++)
                    acc += v[i] * xt[u * 8 + i];
            }
        }
        acc = warp_sum(acc);
        if (lane == 0)
            y[t * N + n] = acc;
    }
}

template <int DT>
static void launch_gemv(cudaStream_t s, float *y, const uint8_t *w, size_t ws, const float *x, int64_t K,
                        int64_t N, int T, int fast)
{
    dim3 grid((unsigned)((N + GEMV_WARPS - 1) / GEMV_WARPS)), block(GEMV_WARPS * 32);
    if (!fast) {
        gemv_any<DT><<<grid, block, 0, s>>>(y, w, ws, x, K, N, T);
        return;
    }
    switch (T) {
#define T_CASE(nt) case nt: gemv_unit<DT, nt><<<grid, block, 0, s>>>(y, w, ws, x, K, N); break;
    T_CASE(1) T_CASE(2) T_CASE(3) T_CASE(4) T_CASE(5) T_CASE(6) T_CASE(7) T_CASE(8)
#undef T_CASE
    default: break;
    }
}

extern "C" int cuk_dtype_supported(int dtype)
{
    switch (dtype) {
#define DT_CASE(dt) case dt: return 1;
    CUK_FOR_EACH_DTYPE(DT_CASE)
#undef DT_CASE
    default: return 0;
    }
}

extern "C" int cuk_gemv(cudaStream_t s, int dtype, float *y, const void *w, size_t w_stride, const float *x,
                        int64_t K, int64_t N, int T, int fast)
{
    const uint8_t *wb = (const uint8_t *)w;
    if (T < 1 || T > CUK_GEMV_MAX_T || N < 1)
        return (int)cudaErrorInvalidValue;
    switch (dtype) {
#define DT_CASE(dt) case dt: launch_gemv<dt>(s, y, wb, w_stride, x, K, N, T, fast); break;
    CUK_FOR_EACH_DTYPE(DT_CASE)
#undef DT_CASE
    default: return (int)cudaErrorInvalidValue;
    }
    return (int)cudaGetLastError();
}

/* Dequantize: one thread per unit of 8 elements; dst row-major [n_rows][K] halves. */
template <int DT, bool BF>
static __global__ void dequant_unit(void *dst, const uint8_t *__restrict__ w, size_t w_stride, int64_t K,
                                    int64_t n_rows)
{
    constexpr int UPB = QTraits<DT>::QK / 8, BS = QTraits<DT>::BS;
    const int64_t upr = K / 8, i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= upr * n_rows)
        return;
    const int64_t r = i / upr, u = i % upr;
    float v[8];
    deq8<DT>(w + (size_t)r * w_stride + (size_t)(u / UPB) * BS, (int)(u % UPB), v);
    if (BF) {
        __nv_bfloat16 *o = (__nv_bfloat16 *)dst + r * K + u * 8;
        for (int k = 0; k < 8; k++)
            o[k] = __float2bfloat16_rn(v[k]);
    } else {
        __half *o = (__half *)dst + r * K + u * 8;
        for (int k = 0; k < 8; k++)
            o[k] = __float2half_rn(v[k]);
    }
}

template <int DT, bool BF>
static __global__ void dequant_elem(void *dst, const uint8_t *__restrict__ w, size_t w_stride, int64_t K,
                                    int64_t n_rows)
{
    const int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= K * n_rows)
        return;
    float v = deq1<DT>(w + (size_t)(i / K) * w_stride, i % K);
    if (BF)
        ((__nv_bfloat16 *)dst)[i] = __float2bfloat16_rn(v);
    else
        ((__half *)dst)[i] = __float2half_rn(v);
}

template <int DT>
static void launch_dequant(cudaStream_t s, void *dst, int bf16, const uint8_t *w, size_t ws, int64_t K,
                           int64_t n_rows)
{
    constexpr bool FLOAT = DT == CT_F32 || DT == CT_F16 || DT == CT_BF16;
    if (FLOAT && (K % 8 || ws % 16 || (uintptr_t)w % 16)) {
        unsigned blocks = (unsigned)((K * n_rows + 255) / 256);
        if (bf16)
            dequant_elem<FLOAT ? DT : CT_F32, true><<<blocks, 256, 0, s>>>(dst, w, ws, K, n_rows);
        else
            dequant_elem<FLOAT ? DT : CT_F32, false><<<blocks, 256, 0, s>>>(dst, w, ws, K, n_rows);
        return;
    }
    unsigned blocks = (unsigned)((K / 8 * n_rows + 255) / 256);
    if (bf16)
        dequant_unit<DT, true><<<blocks, 256, 0, s>>>(dst, w, ws, K, n_rows);
    else
        dequant_unit<DT, false><<<blocks, 256, 0, s>>>(dst, w, ws, K, n_rows);
}

extern "C" int cuk_dequant_rows(cudaStream_t s, int dtype, void *dst, int bf16, const void *w,
                                size_t w_stride, int64_t K, int64_t n_rows)
{
    const uint8_t *wb = (const uint8_t *)w;
    if (n_rows < 1 || K < 1)
        return 0;
    switch (dtype) {
#define DT_CASE(dt) case dt: launch_dequant<dt>(s, dst, bf16, wb, w_stride, K, n_rows); break;
    CUK_FOR_EACH_DTYPE(DT_CASE)
#undef DT_CASE
    default: return (int)cudaErrorInvalidValue;
    }
    return (int)cudaGetLastError();
}

static __global__ void f32_to_half_kernel(void *dst, int bf16, const float *__restrict__ src, int64_t n)
{
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
        if (bf16)
            ((__nv_bfloat16 *)dst)[i] = __float2bfloat16_rn(src[i]);
        else
            ((__half *)dst)[i] = __float2half_rn(src[i]);
    }
}

extern "C" int cuk_f32_to_half(cudaStream_t s, void *dst, int bf16, const float *src, int64_t n)
{
    if (n < 1)
        return 0;
    int64_t blocks = (n + 255) / 256;
    f32_to_half_kernel<<<(unsigned)(blocks < 65536 ? blocks : 65536), 256, 0, s>>>(dst, bf16, src, n);
    return (int)cudaGetLastError();
}

/* get_rows: one block per token; float rows with C % 8 != 0 go element by element. */
template <int DT>
static __global__ void get_rows_kernel(float *y, const uint8_t *__restrict__ table, size_t nb1, int64_t C,
                                       const int32_t *__restrict__ ids, int unit)
{
    constexpr int UPB = QTraits<DT>::QK / 8, BS = QTraits<DT>::BS;
    constexpr bool FLOAT = DT == CT_F32 || DT == CT_F16 || DT == CT_BF16;
    const int64_t t = blockIdx.x;
    const uint8_t *row = table + (size_t)ids[t] * nb1;
    float *yt = y + t * C;
    if (FLOAT && !unit) {
        for (int64_t k = threadIdx.x; k < C; k += blockDim.x)
            yt[k] = deq1<FLOAT ? DT : CT_F32>(row, k);
        return;
    }
    for (int64_t u = threadIdx.x; u < C / 8; u += blockDim.x) {
        float v[8];
        deq8<DT>(row + (size_t)(u / UPB) * BS, (int)(u % UPB), v);
        for (int i = 0; i < 8; i++)
            yt[u * 8 + i] = v[i];
    }
}

extern "C" int cuk_get_rows(cudaStream_t s, int dtype, float *y, const void *table, size_t nb1, int64_t C,
                            const int32_t *ids, int64_t T)
{
    const uint8_t *tb = (const uint8_t *)table;
    int unit = C % 8 == 0 && nb1 % 16 == 0 && (uintptr_t)table % 16 == 0;
    if (T < 1)
        return 0;
    switch (dtype) {
#define DT_CASE(dt) case dt: get_rows_kernel<dt><<<(unsigned)T, 128, 0, s>>>(y, tb, nb1, C, ids, unit); break;
    CUK_FOR_EACH_DTYPE(DT_CASE)
#undef DT_CASE
    default: return (int)cudaErrorInvalidValue;
    }
    return (int)cudaGetLastError();
}
