/* cpu/ops-conv-gemm.c — the F32 GEMM behind the CPU backend's conv ops (ops-conv.c), in the form convs
 * need: y[t][n] = b[n] + Σ_k Σ_c xp[(t·s + k·d)·Cin + c] · wt[(k·Cin + c)·N + n], with xp a zero-padded
 * copy of the input ([C, L] layout) and wt the weights with the output channel innermost.
 *
 * AVX-512 (when cpu_features() has it): a 12-step × 32-channel register tile (24 accumulators), the weight
 * row of each (k, c) loaded once per tile and every input value broadcast; channel tails use masked loads.
 * Every y element has one accumulator summed in the same (k, c) order whatever the tile, thread split or
 * window, so a streamed decode gives the same bits as a whole one. Portable C otherwise (same order).
 */
#include <stdint.h>
#include <string.h>

#include "cpu-features.h"
#include "ops-conv.h"

#if defined(__x86_64__)
#include <immintrin.h>

#define AVX512 __attribute__((target("avx512f,fma")))

enum { ROWS = 12 }; /* output steps per register tile: 24 accumulators + 2 weight vectors of 32 zmm */

/* Full tile: ROWS output steps from t, channels [n0, n0 + 32) masked by m0/m1; 24 named accumulators so
 * they live in registers (an indexed array of them was spilled to the stack). */
AVX512 static void tile_full(const ConvGemm *g, int64_t t, int64_t n0, __mmask16 m0, __mmask16 m1)
{
    const __m512 b0 = g->b ? _mm512_maskz_loadu_ps(m0, g->b + n0) : _mm512_setzero_ps();
    const __m512 b1 = g->b ? _mm512_maskz_loadu_ps(m1, g->b + n0 + 16) : _mm512_setzero_ps();
#define DECL(r) __m512 a##r##0 = b0, a##r##1 = b1;
    DECL(0) DECL(1) DECL(2) DECL(3) DECL(4) DECL(5) DECL(6) DECL(7) DECL(8) DECL(9) DECL(10) DECL(11)
#undef DECL
    const size_t rs = (size_t)g->stride * (size_t)g->cin; /* floats between consecutive output steps */
    for (int64_t k = 0; k < g->k; k++) {
        const float *x = g->xp + (size_t)(t * g->stride + k * g->dil) * (size_t)g->cin;
        const float *w = g->wt + (size_t)(k * g->cin) * (size_t)g->n + (size_t)n0;
        for (int64_t c = 0; c < g->cin; c++, w += g->n, x++) {
            const __m512 w0 = _mm512_maskz_loadu_ps(m0, w), w1 = _mm512_maskz_loadu_ps(m1, w + 16);
#define ROW(r)                                                  \
    {                                                           \
        const __m512 xb = _mm512_set1_ps(x[(r) * rs]);          \
        a##r##0 = _mm512_fmadd_ps(xb, w0, a##r##0);             \
        a##r##1 = _mm512_fmadd_ps(xb, w1, a##r##1);             \
    }
            ROW(0) ROW(1) ROW(2) ROW(3) ROW(4) ROW(5) ROW(6) ROW(7) ROW(8) ROW(9) ROW(10) ROW(11)
#undef ROW
        }
    }
    float *y = g->y + (size_t)(t - g->t_base) * g->ystride + (size_t)n0;
    if (g->res) {
        const float *q = g->res + (size_t)(t - g->t_base) * g->ystride + (size_t)n0;
#define ADDRES(r)                                                                                 \
    a##r##0 = _mm512_add_ps(_mm512_maskz_loadu_ps(m0, q + (r) * g->ystride), a##r##0);            \
    a##r##1 = _mm512_add_ps(_mm512_maskz_loadu_ps(m1, q + (r) * g->ystride + 16), a##r##1);
        ADDRES(0) ADDRES(1) ADDRES(2) ADDRES(3) ADDRES(4) ADDRES(5) ADDRES(6) ADDRES(7) ADDRES(8) ADDRES(9)
        ADDRES(10) ADDRES(11)
#undef ADDRES
    }
#define STORE(r)                                                        \
    _mm512_mask_storeu_ps(y + (r) * g->ystride, m0, a##r##0);           \
    _mm512_mask_storeu_ps(y + (r) * g->ystride + 16, m1, a##r##1);
    STORE(0) STORE(1) STORE(2) STORE(3) STORE(4) STORE(5) STORE(6) STORE(7) STORE(8) STORE(9) STORE(10) STORE(11)
#undef STORE
}

/* Tail tile: rows < ROWS output steps (same per-element order as tile_full). */
AVX512 static void tile_tail(const ConvGemm *g, int64_t t, int rows, int64_t n0, __mmask16 m0, __mmask16 m1)
{
    __m512 acc[ROWS][2];
    const __m512 b0 = g->b ? _mm512_maskz_loadu_ps(m0, g->b + n0) : _mm512_setzero_ps();
    const __m512 b1 = g->b ? _mm512_maskz_loadu_ps(m1, g->b + n0 + 16) : _mm512_setzero_ps();
    const size_t rs = (size_t)g->stride * (size_t)g->cin;
    for (int r = 0; r < rows; r++)
        acc[r][0] = b0, acc[r][1] = b1;
    for (int64_t k = 0; k < g->k; k++) {
        const float *x = g->xp + (size_t)(t * g->stride + k * g->dil) * (size_t)g->cin;
        const float *w = g->wt + (size_t)(k * g->cin) * (size_t)g->n + (size_t)n0;
        for (int64_t c = 0; c < g->cin; c++, w += g->n, x++) {
            const __m512 w0 = _mm512_maskz_loadu_ps(m0, w), w1 = _mm512_maskz_loadu_ps(m1, w + 16);
            for (int r = 0; r < rows; r++) {
                const __m512 xb = _mm512_set1_ps(x[(size_t)r * rs]);
                acc[r][0] = _mm512_fmadd_ps(xb, w0, acc[r][0]);
                acc[r][1] = _mm512_fmadd_ps(xb, w1, acc[r][1]);
            }
        }
    }
    for (int r = 0; r < rows; r++) {
        float *y = g->y + (size_t)(t + r - g->t_base) * g->ystride + (size_t)n0;
        if (g->res) {
            const float *q = g->res + (size_t)(t + r - g->t_base) * g->ystride + (size_t)n0;
            acc[r][0] = _mm512_add_ps(_mm512_maskz_loadu_ps(m0, q), acc[r][0]);
            acc[r][1] = _mm512_add_ps(_mm512_maskz_loadu_ps(m1, q + 16), acc[r][1]);
        }
        _mm512_mask_storeu_ps(y, m0, acc[r][0]);
        _mm512_mask_storeu_ps(y + 16, m1, acc[r][1]);
    }
}

AVX512 static void gemm_avx512(const ConvGemm *g, int64_t t0, int64_t t1)
{
    for (int64_t n0 = 0; n0 < g->n; n0 += 32) {
        const int64_t left = g->n - n0;
        const __mmask16 m0 = left >= 16 ? 0xFFFF : (__mmask16)((1u << left) - 1);
        const __mmask16 m1 = left >= 32 ? 0xFFFF : left <= 16 ? 0 : (__mmask16)((1u << (left - 16)) - 1);
        int64_t t = t0;
        for (; t + ROWS <= t1; t += ROWS)
            tile_full(g, t, n0, m0, m1);
        if (t < t1)
            tile_tail(g, t, (int)(t1 - t), n0, m0, m1);
    }
}
#endif

static void gemm_c(const ConvGemm *g, int64_t t0, int64_t t1)
{
    float acc[256];
    for (int64_t t = t0; t < t1; t++)
        for (int64_t n0 = 0; n0 < g->n; n0 += 256) {
            const int64_t nn = g->n - n0 < 256 ? g->n - n0 : 256;
            for (int64_t n = 0; n < nn; n++)
                acc[n] = g->b ? g->b[n0 + n] : 0.0f;
            const float *xr = g->xp + (size_t)(t * g->stride) * (size_t)g->cin;
            for (int64_t k = 0; k < g->k; k++)
                for (int64_t c = 0; c < g->cin; c++) {
                    const float xv = xr[(size_t)(k * g->dil) * (size_t)g->cin + (size_t)c];
                    const float *w = g->wt + (size_t)(k * g->cin + c) * (size_t)g->n + (size_t)n0;
                    for (int64_t n = 0; n < nn; n++)
                        acc[n] = __builtin_fmaf(xv, w[n], acc[n]);
                }
            float *y = g->y + (size_t)(t - g->t_base) * g->ystride + (size_t)n0;
            const float *q = g->res ? g->res + (size_t)(t - g->t_base) * g->ystride + (size_t)n0 : NULL;
            for (int64_t n = 0; n < nn; n++)
                y[n] = q ? q[n] + acc[n] : acc[n];
        }
}


#if defined(__x86_64__)
AVX512 static void leaky_copy_avx512(float *dst, const float *src, int64_t n, float slope)
{
    const __m512 z = _mm512_setzero_ps(), s = _mm512_set1_ps(slope);
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        const __m512 v = _mm512_loadu_ps(src + i);
        _mm512_storeu_ps(dst + i, _mm512_add_ps(_mm512_max_ps(v, z), _mm512_mul_ps(s, _mm512_min_ps(v, z))));
    }
    for (; i < n; i++)
        dst[i] = (src[i] > 0.0f ? src[i] : 0.0f) + slope * (src[i] < 0.0f ? src[i] : 0.0f);
}

/* Sum of n products in 4 × 16 lanes, then a fixed reduction tree. */
AVX512 static float dot_avx512(const float *a, const float *b, int64_t n)
{
    __m512 s0 = _mm512_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
    int64_t i = 0;
    for (; i + 64 <= n; i += 64) {
        s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), s0);
        s1 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16), s1);
        s2 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 32), _mm512_loadu_ps(b + i + 32), s2);
        s3 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 48), _mm512_loadu_ps(b + i + 48), s3);
    }
    for (; i + 16 <= n; i += 16)
        s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), s0);
    if (i < n) {
        const __mmask16 m = (__mmask16)((1u << (n - i)) - 1);
        s1 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, a + i), _mm512_maskz_loadu_ps(m, b + i), s1);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(s0, s1), _mm512_add_ps(s2, s3)));
}
#endif

void conv_leaky_copy(float *dst, const float *src, int64_t n, float slope)
{
#if defined(__x86_64__)
    if (cpu_features()->avx512f) {
        leaky_copy_avx512(dst, src, n, slope);
        return;
    }
#endif
    for (int64_t i = 0; i < n; i++)
        dst[i] = (src[i] > 0.0f ? src[i] : 0.0f) + slope * (src[i] < 0.0f ? src[i] : 0.0f);
}

float conv_dot(const float *a, const float *b, int64_t n)
{
#if defined(__x86_64__)
    if (cpu_features()->avx512f)
        return dot_avx512(a, b, n);
#endif
    float s = 0.0f;
    for (int64_t i = 0; i < n; i++)
        s += a[i] * b[i];
    return s;
}

int conv_gemm_fast(void)
{
#if defined(__x86_64__)
    return cpu_features()->avx512f;
#else
    return 0;
#endif
}

void conv_gemm_rows(const ConvGemm *g, int64_t t0, int64_t t1)
{
#if defined(__x86_64__)
    if (cpu_features()->avx512f) {
        gemm_avx512(g, t0, t1);
        return;
    }
#endif
    gemm_c(g, t0, t1);
}
