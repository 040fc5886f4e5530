/* cpu/ops-conv-gemm.c — the F32 GEMM behind the CPU backend's conv ops (ops-conv.c), in the form convs
 * need: y[t][n] = b[n] + Σ_k Σ_c xp[(t·s + k·d)·Cin + c] · wt[(k·Cin + c)·N + n], with xp a zero-padded
 * copy of the input ([C, L] layout) and wt the weights with the output channel innermost.
 *
 * AVX-512 (when cpu_features() has it): a 6-step × 32-channel register tile (12 accumulators), the weight
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

/* rows (<= 6) output steps from t, channels [n0, n0 + 32) masked by m0/m1. */
AVX512 static void tile(const ConvGemm *g, int64_t t, int rows, int64_t n0, __mmask16 m0, __mmask16 m1)
{
    __m512 acc[6][2];
    const __m512 b0 = g->b ? _mm512_maskz_loadu_ps(m0, g->b + n0) : _mm512_setzero_ps();
    const __m512 b1 = g->b ? _mm512_maskz_loadu_ps(m1, g->b + n0 + 16) : _mm512_setzero_ps();
    const float *xr[6];
    for (int r = 0; r < 6; r++) {
        acc[r][0] = b0;
        acc[r][1] = b1;
        xr[r] = g->xp + (size_t)((t + (r < rows ? r : 0)) * g->stride) * (size_t)g->cin;
    }
    for (int64_t k = 0; k < g->k; k++) {
        const size_t xo = (size_t)(k * g->dil) * (size_t)g->cin;
        const float *w = g->wt + (size_t)(k * g->cin) * (size_t)g->n + (size_t)n0;
        if (rows == 6) {
            for (int64_t c = 0; c < g->cin; c++, w += g->n) {
                const __m512 w0 = _mm512_maskz_loadu_ps(m0, w), w1 = _mm512_maskz_loadu_ps(m1, w + 16);
#define ROW(r)                                                          \
    {                                                                   \
        const __m512 xb = _mm512_set1_ps(xr[r][xo + (size_t)c]);        \
        acc[r][0] = _mm512_fmadd_ps(xb, w0, acc[r][0]);                 \
        acc[r][1] = _mm512_fmadd_ps(xb, w1, acc[r][1]);                 \
    }
                ROW(0) ROW(1) ROW(2) ROW(3) ROW(4) ROW(5)
#undef ROW
            }
        } else {
            for (int64_t c = 0; c < g->cin; c++, w += g->n) {
                const __m512 w0 = _mm512_maskz_loadu_ps(m0, w), w1 = _mm512_maskz_loadu_ps(m1, w + 16);
                for (int r = 0; r < rows; r++) {
                    const __m512 xb = _mm512_set1_ps(xr[r][xo + (size_t)c]);
                    acc[r][0] = _mm512_fmadd_ps(xb, w0, acc[r][0]);
                    acc[r][1] = _mm512_fmadd_ps(xb, w1, acc[r][1]);
                }
            }
        }
    }
    for (int r = 0; r < rows; r++) {
        float *y = g->y + (size_t)(t + r - g->t_base) * g->ystride + (size_t)n0;
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
        for (int64_t t = t0; t < t1; t += 6)
            tile(g, t, (int)(t1 - t < 6 ? t1 - t : 6), n0, m0, m1);
    }
}
#endif

static void gemm_c(const ConvGemm *g, int64_t t0, int64_t t1)
{
    for (int64_t t = t0; t < t1; t++) {
        float *y = g->y + (size_t)(t - g->t_base) * g->ystride;
        for (int64_t n = 0; n < g->n; n++)
            y[n] = g->b ? g->b[n] : 0.0f;
        const float *xr = g->xp + (size_t)(t * g->stride) * (size_t)g->cin;
        for (int64_t k = 0; k < g->k; k++)
            for (int64_t c = 0; c < g->cin; c++) {
                const float xv = xr[(size_t)(k * g->dil) * (size_t)g->cin + (size_t)c];
                const float *w = g->wt + (size_t)(k * g->cin + c) * (size_t)g->n;
                for (int64_t n = 0; n < g->n; n++)
                    y[n] = __builtin_fmaf(xv, w[n], y[n]);
            }
    }
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
