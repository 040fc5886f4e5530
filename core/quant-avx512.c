/* quant-avx512.c — AVX-512 (F, BW, VL, VNNI) kernels, compiled with the AVX-512 flags and called only when
 * cpu-features.c detected F+BW+VL+VNNI. Int8 blocks use vpdpbusd (u8·s8 summed into i32) on 256-bit vectors
 * (one 32-block per vector, see quant-simd.h); float weights use 512-bit FMA with F32 activations.
 * BF16 weights are widened exactly (bits << 16) rather than using vdpbf16ps, which would round the F32
 * activations to BF16. Not here: quantizers (quant.c), threading/tiling (cpu/matmul.c).
 */
#include <immintrin.h>

#include "quant-internal.h"

static inline __m256i vnni_mul_sum(__m256i u, __m256i s)
{
    return _mm256_dpbusd_epi32(_mm256_setzero_si256(), u, s);
}

static inline __m256i vnni_mul_sum_sc(__m256i u, __m256i s, int a, int b)
{
    __m256i sc = _mm256_set_m128i(_mm_set1_epi32(b), _mm_set1_epi32(a));
    return _mm256_mullo_epi32(_mm256_dpbusd_epi32(_mm256_setzero_si256(), u, s), sc);
}

#define MUL_SUM(u, s) vnni_mul_sum((u), (s))
#define MUL_SUM_SC(u, s, a, b) vnni_mul_sum_sc((u), (s), (a), (b))
#include "quant-simd.h"

static inline __m512 load_f16x16(const uint16_t *p) { return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)p)); }
static inline __m512 load_bf16x16(const uint16_t *p)
{
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)p)), 16));
}

#define FLOAT_DOT512(name, T, LOAD, SCALAR)                                                            \
    static float name(const void *w, const void *x, int64_t n)                                         \
    {                                                                                                  \
        const T *a = w;                                                                                \
        const float *b = x;                                                                            \
        __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps(), s2 = _mm512_setzero_ps(),           \
               s3 = _mm512_setzero_ps();                                                               \
        int64_t i = 0;                                                                                 \
        for (; i + 64 <= n; i += 64) {                                                                 \
            s0 = _mm512_fmadd_ps(LOAD(a + i), _mm512_loadu_ps(b + i), s0);                             \
            s1 = _mm512_fmadd_ps(LOAD(a + i + 16), _mm512_loadu_ps(b + i + 16), s1);                   \
            s2 = _mm512_fmadd_ps(LOAD(a + i + 32), _mm512_loadu_ps(b + i + 32), s2);                   \
            s3 = _mm512_fmadd_ps(LOAD(a + i + 48), _mm512_loadu_ps(b + i + 48), s3);                   \
        }                                                                                              \
        for (; i + 16 <= n; i += 16)                                                                   \
            s0 = _mm512_fmadd_ps(LOAD(a + i), _mm512_loadu_ps(b + i), s0);                             \
        float s = _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(s0, s1), _mm512_add_ps(s2, s3)));  \
        for (; i < n; i++)                                                                             \
            s += SCALAR(a[i]) * b[i];                                                                  \
        return s;                                                                                      \
    }

FLOAT_DOT512(dot512_f32, float, _mm512_loadu_ps, simd_f32_id)
FLOAT_DOT512(dot512_f16, uint16_t, load_f16x16, simd_h2f)
FLOAT_DOT512(dot512_bf16, uint16_t, load_bf16x16, simd_bf16_f32)

/* Float GEMM tile: 4 weight rows × 4 tokens per micro-tile, 16 zmm accumulators; each weight vector is
 * converted once and used for 4 tokens. Partial tiles repeat the last valid row/token and drop the extra
 * results. The K tail (n % 16) uses masked loads. y[t*ys + r] = Σ_k w[r][k]·x[t][k]. */
static inline __m512 load_f32_mask(const float *p, __mmask16 m) { return _mm512_maskz_loadu_ps(m, p); }
static inline __m512 load_f16_mask(const uint16_t *p, __mmask16 m)
{
    return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, p));
}
static inline __m512 load_bf16_mask(const uint16_t *p, __mmask16 m)
{
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(m, p)), 16));
}

#define FLOAT_TILE512(name, T, LOADM)                                                                  \
    static void name(const void *w, size_t wstride, const void *x, size_t xstride, float *y, size_t ys, \
                     int nr, int nt, int64_t n)                                                        \
    {                                                                                                  \
        for (int r0 = 0; r0 < nr; r0 += 4)                                                             \
            for (int t0 = 0; t0 < nt; t0 += 4) {                                                       \
                const T *wr[4];                                                                        \
                const float *xt[4];                                                                    \
                __m512 acc[4][4];                                                                      \
                for (int i = 0; i < 4; i++) {                                                          \
                    int r = r0 + i < nr ? r0 + i : nr - 1, t = t0 + i < nt ? t0 + i : nt - 1;          \
                    wr[i] = (const T *)((const char *)w + (size_t)r * wstride);                        \
                    xt[i] = (const float *)((const char *)x + (size_t)t * xstride);                    \
                    for (int j = 0; j < 4; j++)                                                        \
                        acc[i][j] = _mm512_setzero_ps();                                               \
                }                                                                                      \
                for (int64_t k = 0; k < n; k += 16) {                                                  \
                    __mmask16 m = n - k >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (n - k)) - 1); \
                    __m512 a0 = LOADM(wr[0] + k, m), a1 = LOADM(wr[1] + k, m);                         \
                    __m512 a2 = LOADM(wr[2] + k, m), a3 = LOADM(wr[3] + k, m);                         \
                    for (int j = 0; j < 4; j++) {                                                      \
                        __m512 b = _mm512_maskz_loadu_ps(m, xt[j] + k);                                \
                        acc[0][j] = _mm512_fmadd_ps(a0, b, acc[0][j]);                                 \
                        acc[1][j] = _mm512_fmadd_ps(a1, b, acc[1][j]);                                 \
                        acc[2][j] = _mm512_fmadd_ps(a2, b, acc[2][j]);                                 \
                        acc[3][j] = _mm512_fmadd_ps(a3, b, acc[3][j]);                                 \
                    }                                                                                  \
                }                                                                                      \
                for (int i = 0; i < 4 && r0 + i < nr; i++)                                             \
                    for (int j = 0; j < 4 && t0 + j < nt; j++)                                         \
                        y[(size_t)(t0 + j) * ys + (size_t)(r0 + i)] = _mm512_reduce_add_ps(acc[i][j]); \
            }                                                                                          \
    }

FLOAT_TILE512(tile512_f32, float, load_f32_mask)
FLOAT_TILE512(tile512_f16, uint16_t, load_f16_mask)
FLOAT_TILE512(tile512_bf16, uint16_t, load_bf16_mask)

/* Q4_K · Q8_K with 512-bit vpdpbusd: one zmm holds a 64-element chunk (low nibbles = sub-block 2c in
 * lanes 0–7, high nibbles = 2c+1 in lanes 8–15), matching the 64 consecutive Q8_K bytes. */
static float dot512_q4_k(const void *w, const void *x, int64_t n)
{
    const BlockQ4_K *a = w;
    const BlockQ8_K *b = x;
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    const __m512i idx0 = _mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1);
    const __m512i two = _mm512_set1_epi32(2);
    __m256 acc = _mm256_setzero_ps(), accm = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / QKK; i++) {
        uint64_t sc, mn;
        simd_k_scales(a[i].scales, &sc, &mn);
        __m512i sc32 = _mm512_cvtepu8_epi32(_mm_cvtsi64_si128((long long)sc)), idx = idx0;
        __m512i sumi = _mm512_setzero_si512();
        for (int c = 0; c < 4; c++) {
            __m256i qv = _mm256_loadu_si256((const __m256i *)(a[i].qs + 32 * c));
            __m512i q = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_and_si256(qv, m4)),
                                           _mm256_and_si256(_mm256_srli_epi16(qv, 4), m4), 1);
            __m512i p = _mm512_dpbusd_epi32(_mm512_setzero_si512(), q,
                                            _mm512_loadu_si512((const void *)(b[i].qs + 64 * c)));
            sumi = _mm512_add_epi32(sumi, _mm512_mullo_epi32(p, _mm512_permutexvar_epi32(idx, sc32)));
            idx = _mm512_add_epi32(idx, two);
        }
        __m256i s8 = _mm256_add_epi32(_mm512_castsi512_si256(sumi), _mm512_extracti64x4_epi64(sumi, 1));
        float dx = b[i].d;
        acc = _mm256_fmadd_ps(_mm256_set1_ps(simd_h2f(a[i].d) * dx), _mm256_cvtepi32_ps(s8), acc);
        accm = _mm256_fmadd_ps(_mm256_set1_ps(simd_h2f(a[i].dmin) * dx),
                               _mm256_cvtepi32_ps(simd_k_mins(mn, b[i].bsums)), accm);
    }
    return simd_hsum8(_mm256_sub_ps(acc, accm));
}

void quant_kernels_avx512(QuantKernels *k)
{
    simd_fill256(k);
    k->dot[DTYPE_F32] = dot512_f32;
    k->dot[DTYPE_F16] = dot512_f16;
    k->dot[DTYPE_BF16] = dot512_bf16;
    k->dot[DTYPE_Q4_K] = dot512_q4_k;
    k->tile[DTYPE_F32] = tile512_f32;
    k->tile[DTYPE_F16] = tile512_f16;
    k->tile[DTYPE_BF16] = tile512_bf16;
}
