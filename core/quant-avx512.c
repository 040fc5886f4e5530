/* quant-avx512.c — AVX-512 (F, BW, VL, VNNI) kernels, compiled with the AVX-512 flags and called only when
 * cpu-features.c detected F+BW+VL+VNNI. Int8 blocks use vpdpbusd (u8·s8 summed into i32) on 256-bit vectors
 * (one 32-block per vector, see quant-simd.h); float weights use 512-bit FMA with F32 activations.
 * BF16 weights are widened exactly (bits << 16) rather than using vdpbf16ps, which would round the F32
 * activations to BF16. Also here: the activation quantizers F32 → Q8_0 / Q8_K / Q8P (bit-identical to
 * quant.c's), the Q8P kernels for Q8_0 / Q4_0 / Q4_1 (two 32-blocks per 512-bit vpdpbusd; GEMV and 4×4
 * GEMM micro-tiles). Not here: the K-quant GEMM tiles (quant-avx512-k.c), weight quantizers (quant.c),
 * threading and tiling across rows and tokens (cpu/matmul.c).
 */
#include <immintrin.h>
#include <stdint.h>
#include <string.h>

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

/* ---- activation quantizers (F32 → Q8_0 / Q8_K / Q8P), bit-identical to the scalar ones in quant.c ---- */

/* round half away from zero (roundf) of 16 floats, as int32: t = trunc(v), v − t is exact. */
static inline __m512i round_away(__m512 v)
{
    __m512 t = _mm512_roundscale_ps(v, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
    __mmask16 up = _mm512_cmp_ps_mask(_mm512_abs_ps(_mm512_sub_ps(v, t)), _mm512_set1_ps(0.5f), _CMP_GE_OQ);
    __m512 one = _mm512_castsi512_ps(_mm512_or_si512(_mm512_castps_si512(_mm512_set1_ps(1.0f)),
                                                     _mm512_and_si512(_mm512_castps_si512(v),
                                                                      _mm512_set1_epi32(INT32_MIN))));
    t = _mm512_mask_add_ps(t, up, t, one);
    __m512i q = _mm512_cvttps_epi32(t);
    return _mm512_min_epi32(_mm512_max_epi32(q, _mm512_set1_epi32(-127)), _mm512_set1_epi32(127));
}

/* One 32-block: codes into qs, returns the F16 scale; *sum = Σq. */
static inline uint16_t q8_block32(const float *x, int8_t *qs, int *sum)
{
    __m512 x0 = _mm512_loadu_ps(x), x1 = _mm512_loadu_ps(x + 16);
    float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(x0), _mm512_abs_ps(x1)));
    float d = amax / 127.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
    __m512 vid = _mm512_set1_ps(id);
    __m512i q0 = round_away(_mm512_mul_ps(x0, vid)), q1 = round_away(_mm512_mul_ps(x1, vid));
    _mm_storeu_si128((__m128i *)qs, _mm512_cvtepi32_epi8(q0));
    _mm_storeu_si128((__m128i *)(qs + 16), _mm512_cvtepi32_epi8(q1));
    *sum = _mm512_reduce_add_epi32(_mm512_add_epi32(q0, q1));
    return (uint16_t)_cvtss_sh(d, _MM_FROUND_TO_NEAREST_INT);
}

static void qz512_q8_0(const float *x, void *dst, int64_t n)
{
    BlockQ8_0 *b = dst;
    int s;
    for (int64_t i = 0; i < n / QK; i++)
        b[i].d = q8_block32(x + QK * i, b[i].qs, &s);
}

static void qz512_q8p(const float *x, void *dst, int64_t n)
{
    int8_t *qs = dst;
    int64_t nb = n / QK;
    size_t codes = quant_q8p_codes_bytes(n);
    float *pr = (float *)((char *)dst + codes);
    memset(qs + n, 0, codes - (size_t)n);
    for (int64_t i = 0; i < nb; i++) {
        int s;
        float d = _cvtsh_ss(q8_block32(x + QK * i, qs + QK * i, &s));
        float *p = pr + 4 * (i / 2) + (i & 1);
        p[0] = d;
        p[2] = d * (float)s;
    }
    if (nb & 1) {
        float *p = pr + 4 * (nb / 2) + 1;
        p[0] = 0.0f;
        p[2] = 0.0f;
    }
    float *s16 = (float *)((char *)dst + quant_q8p_s16_offset(n));
    for (int64_t h = 0; h < n / 16; h++) {
        int sum = _mm512_reduce_add_epi32(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(qs + 16 * h))));
        s16[h] = pr[4 * (h / 4) + ((h / 2) & 1)] * (float)sum;
    }
}

static void qz512_q8_k(const float *x, void *dst, int64_t n)
{
    BlockQ8_K *b = dst;
    for (int64_t i = 0; i < n / QKK; i++, x += QKK) {
        __m512 am = _mm512_setzero_ps();
        for (int g = 0; g < 16; g++)
            am = _mm512_max_ps(am, _mm512_abs_ps(_mm512_loadu_ps(x + 16 * g)));
        float amax = _mm512_reduce_max_ps(am), id = amax != 0.0f ? 127.0f / amax : 0.0f;
        __m512 vid = _mm512_set1_ps(id);
        b[i].d = amax != 0.0f ? amax / 127.0f : 0.0f;
        for (int g = 0; g < 16; g++) {
            __m512i q = round_away(_mm512_mul_ps(_mm512_loadu_ps(x + 16 * g), vid));
            _mm_storeu_si128((__m128i *)(b[i].qs + 16 * g), _mm512_cvtepi32_epi8(q));
            b[i].bsums[g] = (int16_t)_mm512_reduce_add_epi32(q);
        }
    }
}

/* ---- 32-block weights (Q8_0, Q4_0, Q4_1) against Q8P activations, two blocks per 512-bit vector ----
 * Weight codes enter vpdpbusd as unsigned bytes u (Q8_0: w + 128, Q4_0/Q4_1: the nibbles), so
 *   Σ w·x = d_w·d_x·Σ u·q  +  c·d_x·Σq   with c = −128·d_w (Q8_0), −8·d_w (Q4_0), m (Q4_1),
 * and d_x·Σq comes precomputed with the activations. Each weight pair is decoded once per TT tokens. */
enum { P_Q8_0, P_Q4_0, P_Q4_1, P_TT = 4 };

static inline __m512i p_codes(int kind, const char *b0, const char *b1)
{
    if (kind == P_Q8_0) {
        const BlockQ8_0 *a0 = (const BlockQ8_0 *)b0, *a1 = (const BlockQ8_0 *)b1;
        __m512i v = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)a0->qs)),
                                       _mm256_loadu_si256((const __m256i *)a1->qs), 1);
        return _mm512_xor_si512(v, _mm512_set1_epi8((char)0x80));
    }
    const uint8_t *q0 = kind == P_Q4_0 ? ((const BlockQ4_0 *)b0)->qs : ((const BlockQ4_1 *)b0)->qs;
    const uint8_t *q1 = kind == P_Q4_0 ? ((const BlockQ4_0 *)b1)->qs : ((const BlockQ4_1 *)b1)->qs;
    __m512i v = _mm512_inserti64x4(
        _mm512_castsi256_si512(_mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)q0))),
        _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)q1)), 1);
    /* 128-bit lanes: low nibbles of block i, high nibbles of i, low of i+1, high of i+1 */
    const __m512i sh = _mm512_setr_epi64(0, 0, 0x0004000400040004ll, 0x0004000400040004ll, 0, 0,
                                          0x0004000400040004ll, 0x0004000400040004ll);
    return _mm512_and_si512(_mm512_srlv_epi16(v, sh), _mm512_set1_epi8(0x0F));
}

/* {d_i, d_i+1, c_i, c_i+1} with c as above but without the −128/−8 factor (applied at the end). */
static inline __m128 p_scales(int kind, const char *b0, const char *b1)
{
    uint16_t d0, d1;
    if (kind == P_Q4_1) {
        uint32_t u0, u1;
        memcpy(&u0, b0, 4);
        memcpy(&u1, b1, 4);
        __m128 f = _mm_cvtph_ps(_mm_insert_epi32(_mm_cvtsi32_si128((int)u0), (int)u1, 1));
        return _mm_shuffle_ps(f, f, _MM_SHUFFLE(3, 1, 2, 0));
    }
    memcpy(&d0, b0, 2);
    memcpy(&d1, b1, 2);
    __m128 f = _mm_cvtph_ps(_mm_cvtsi32_si128((int)((uint32_t)d0 | (uint32_t)d1 << 16)));
    return _mm_movelh_ps(f, f);
}

static inline void p_tile(int kind, size_t bsz, const void *w, size_t wstride, const void *x, size_t xstride,
                          float *y, size_t ys, int nr, int nt, int64_t n)
{
    const int64_t nb = n / QK, np = (nb + 1) / 2;
    const size_t codes = quant_q8p_codes_bytes(n);
    const __m512i sel = _mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1);
    const float coef = kind == P_Q8_0 ? -128.0f : kind == P_Q4_0 ? -8.0f : 1.0f;
    for (int r = 0; r < nr; r++) {
        const char *wr = (const char *)w + (size_t)r * wstride;
        for (int t0 = 0; t0 < nt; t0 += P_TT) {
            int tt = nt - t0 < P_TT ? nt - t0 : P_TT;
            const char *xr[P_TT];
            __m512 acc[P_TT];
            __m128 accc[P_TT];
            for (int j = 0; j < P_TT; j++) {
                xr[j] = (const char *)x + (size_t)(t0 + (j < tt ? j : 0)) * xstride;
                acc[j] = _mm512_setzero_ps();
                accc[j] = _mm_setzero_ps();
            }
            for (int64_t p = 0; p < np; p++) {
                const char *b0 = wr + (size_t)(2 * p) * bsz;
                const char *b1 = 2 * p + 1 < nb ? b0 + bsz : b0; /* odd tail: codes × zero activations */
                __m512i u = p_codes(kind, b0, b1);
                __m128 f = p_scales(kind, b0, b1);
                for (int j = 0; j < P_TT; j++) {
                    if (j >= tt)
                        break;
                    __m512i q = _mm512_loadu_si512((const void *)(xr[j] + 64 * p));
                    __m128 prod = _mm_mul_ps(f, _mm_loadu_ps((const float *)(xr[j] + codes) + 4 * p));
                    __m512 sc = _mm512_permutexvar_ps(sel, _mm512_castps128_ps512(prod));
                    __m512i dp = _mm512_dpbusd_epi32(_mm512_setzero_si512(), u, q);
                    acc[j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dp), sc, acc[j]);
                    accc[j] = _mm_add_ps(accc[j], prod);
                }
            }
            for (int j = 0; j < tt; j++) {
                __m128 c = _mm_movehl_ps(accc[j], accc[j]);
                float corr = _mm_cvtss_f32(_mm_add_ss(c, _mm_movehdup_ps(c)));
                y[(size_t)(t0 + j) * ys + (size_t)r] = _mm512_reduce_add_ps(acc[j]) + coef * corr;
            }
        }
    }
}

/* GEMV (one token), one weight row at a time so that each thread reads its slice of the weights as one
 * sequential stream (interleaving rows halves the bandwidth reached here). Per pair: prod = {d_w·d_x,
 * d_w'·d_x', c·d_xΣq, c'·d_x'Σq'} (one 128-bit multiply), lanes 0–1 spread over the two blocks' eight int32
 * lanes scale the vpdpbusd sums, lanes 2–3 accumulate the offset / min term. G_UN pairs per step into
 * separate accumulators, so the loop is bound by throughput rather than by one FMA / add latency chain.
 * (Software prefetch 1–4 KB ahead on the row made no measurable difference here: the stream prefetcher
 * keeps up with one sequential stream per thread.) */
enum { G_UN = 4 };

static inline void p_gemv_pair(int kind, size_t bsz, const char *b0, const char *x, const float *xf, __m512 *acc,
                               __m128 *accc, int odd)
{
    const __m512i sel = _mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1);
    __m512i u = p_codes(kind, b0, odd ? b0 : b0 + bsz);
    __m128 prod = _mm_mul_ps(p_scales(kind, b0, odd ? b0 : b0 + bsz), _mm_loadu_ps(xf));
    __m512 sc = _mm512_permutexvar_ps(sel, _mm512_castps128_ps512(prod));
    __m512i dp = _mm512_dpbusd_epi32(_mm512_setzero_si512(), u, _mm512_loadu_si512((const void *)x));
    *acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dp), sc, *acc);
    *accc = _mm_add_ps(*accc, prod);
}

__attribute__((always_inline)) static inline void p_gemv(int kind, size_t bsz, const void *w, size_t wstride,
                                                         const void *x, float *y, int nr, int64_t n)
{
    const int64_t nb = n / QK, np = nb / 2;
    const char *xc = x;
    const float *xf = (const float *)(xc + quant_q8p_codes_bytes(n));
    const float coef = kind == P_Q8_0 ? -128.0f : kind == P_Q4_0 ? -8.0f : 1.0f;
    for (int r = 0; r < nr; r++) {
        const char *wr = (const char *)w + (size_t)r * wstride;
        __m512 acc[G_UN];
        __m128 accc[G_UN];
        int64_t p = 0;
        for (int k = 0; k < G_UN; k++) {
            acc[k] = _mm512_setzero_ps();
            accc[k] = _mm_setzero_ps();
        }
        for (; p + G_UN <= np; p += G_UN)
            for (int k = 0; k < G_UN; k++)
                p_gemv_pair(kind, bsz, wr + (size_t)(2 * (p + k)) * bsz, xc + 64 * (p + k), xf + 4 * (p + k),
                            &acc[k], &accc[k], 0);
        for (; p < np; p++)
            p_gemv_pair(kind, bsz, wr + (size_t)(2 * p) * bsz, xc + 64 * p, xf + 4 * p, &acc[0], &accc[0], 0);
        if (nb & 1) /* odd tail: the block paired with itself against zero activations */
            p_gemv_pair(kind, bsz, wr + (size_t)(2 * np) * bsz, xc + 64 * np, xf + 4 * np, &acc[1], &accc[1], 1);
        __m512 a = _mm512_add_ps(_mm512_add_ps(acc[0], acc[1]), _mm512_add_ps(acc[2], acc[3]));
        __m128 c = _mm_add_ps(_mm_add_ps(accc[0], accc[1]), _mm_add_ps(accc[2], accc[3]));
        c = _mm_movehl_ps(c, c);
        y[r] = _mm512_reduce_add_ps(a) + coef * _mm_cvtss_f32(_mm_add_ss(c, _mm_movehdup_ps(c)));
    }
}

/* Micro-tile of P_RT weight rows × tt tokens (tt = 1 or P_TT, a compile-time constant after inlining):
 * per block pair the activation vectors (codes, d_x lanes) are loaded once for all rows and each weight pair
 * is decoded once for all tokens; the inner step is vpdpbusd, convert, ×d_x, fma ×d_w. The offset / min term
 * Σ_b c_b·(d_x·Σq)_b is a separate small product over blocks (cw: c per block, laid out like the pair floats
 * with zeros in the d lanes), added at the end. Rows beyond nr repeat the last row and are not stored. */
enum { P_RT = 4, P_MAXPAIRS = 256 };

__attribute__((always_inline)) static inline void p_micro(int kind, size_t bsz, const char *const *wr,
                                                          const char *const *xr, size_t codes, int64_t nb,
                                                          int tt, __m512 acc[P_RT][P_TT])
{
    const int64_t np = (nb + 1) / 2;
    const __m512i sel = _mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1);
    for (int i = 0; i < P_RT; i++)
        for (int j = 0; j < tt; j++)
            acc[i][j] = _mm512_setzero_ps();
    for (int64_t p = 0; p < np; p++) {
        __m512i q[P_TT];
        __m512 xs[P_TT];
        for (int j = 0; j < tt; j++) {
            q[j] = _mm512_loadu_si512((const void *)(xr[j] + 64 * p));
            xs[j] = _mm512_permutexvar_ps(sel, _mm512_castps128_ps512(_mm_loadu_ps((const float *)(xr[j] + codes) + 4 * p)));
        }
        for (int i = 0; i < P_RT; i++) {
            const char *b0 = wr[i] + (size_t)(2 * p) * bsz;
            const char *b1 = 2 * p + 1 < nb ? b0 + bsz : b0;
            __m512i u = p_codes(kind, b0, b1);
            __m512 dw = _mm512_permutexvar_ps(sel, _mm512_castps128_ps512(p_scales(kind, b0, b1)));
            for (int j = 0; j < tt; j++) {
                __m512 v = _mm512_cvtepi32_ps(_mm512_dpbusd_epi32(_mm512_setzero_si512(), u, q[j]));
                acc[i][j] = _mm512_fmadd_ps(_mm512_mul_ps(v, xs[j]), dw, acc[i][j]);
            }
        }
    }
}

static inline void p_gemm(int kind, size_t bsz, const void *w, size_t wstride, const void *x, size_t xstride,
                          float *y, size_t ys, int nr, int nt, int64_t n)
{
    const int64_t nb = n / QK, np = (nb + 1) / 2, ng = (np + 3) / 4;
    const size_t codes = quant_q8p_codes_bytes(n);
    const float coef = kind == P_Q8_0 ? -128.0f : kind == P_Q4_0 ? -8.0f : 1.0f;
    _Alignas(64) float cw[P_RT][P_MAXPAIRS * 4 + 16];

    if (nt == 1 && ys == 1) {
        p_gemv(kind, bsz, w, wstride, x, y, nr, n);
        return;
    }
    if (np > P_MAXPAIRS || nt == 1) { /* GEMV: the in-loop correction is cheaper than building cw */
        p_tile(kind, bsz, w, wstride, x, xstride, y, ys, nr, nt, n);
        return;
    }
    for (int r0 = 0; r0 < nr; r0 += P_RT) {
        const char *wr[P_RT];
        for (int i = 0; i < P_RT; i++) {
            wr[i] = (const char *)w + (size_t)(r0 + i < nr ? r0 + i : nr - 1) * wstride;
            /* c per block: d (Q8_0, Q4_0) or m (Q4_1), in lanes 2, 3 of each pair's four floats */
            memset(cw[i], 0, sizeof(float) * (size_t)(ng * 16));
            for (int64_t b = 0; b < nb; b++) {
                uint16_t h;
                memcpy(&h, wr[i] + (size_t)b * bsz + (kind == P_Q4_1 ? 2 : 0), 2);
                cw[i][4 * (b / 2) + 2 + (b & 1)] = _cvtsh_ss(h);
            }
        }
        for (int t0 = 0; t0 < nt; t0 += P_TT) {
            int tt = nt - t0 < P_TT ? nt - t0 : P_TT;
            const char *xr[P_TT];
            __m512 acc[P_RT][P_TT];
            for (int j = 0; j < P_TT; j++)
                xr[j] = (const char *)x + (size_t)(t0 + (j < tt ? j : tt - 1)) * xstride;
            if (tt == P_TT)
                p_micro(kind, bsz, wr, xr, codes, nb, P_TT, acc);
            else if (tt == 1)
                p_micro(kind, bsz, wr, xr, codes, nb, 1, acc);
            else
                p_micro(kind, bsz, wr, xr, codes, nb, P_TT, acc); /* 2–3 tokens: the last one repeated */
            for (int j = 0; j < tt; j++) {
                const float *px = (const float *)(xr[j] + codes);
                for (int i = 0; i < P_RT && r0 + i < nr; i++) {
                    __m512 c = _mm512_setzero_ps();
                    for (int64_t g = 0; g < ng; g++) /* 4 pairs per step; the activation floats are padded */
                        c = _mm512_fmadd_ps(_mm512_load_ps(cw[i] + 16 * g),
                                            _mm512_maskz_loadu_ps(g * 4 + 4 <= np ? 0xFFFF : (__mmask16)((1u << (4 * (np - 4 * g))) - 1),
                                                                  px + 16 * g), c);
                    y[(size_t)(t0 + j) * ys + (size_t)(r0 + i)] =
                        _mm512_reduce_add_ps(acc[i][j]) + coef * _mm512_reduce_add_ps(c);
                }
            }
        }
    }
}

static void tile512p_q8_0(const void *w, size_t wstride, const void *x, size_t xstride, float *y, size_t ys,
                          int nr, int nt, int64_t n)
{
    p_gemm(P_Q8_0, sizeof(BlockQ8_0), w, wstride, x, xstride, y, ys, nr, nt, n);
}

static void tile512p_q4_0(const void *w, size_t wstride, const void *x, size_t xstride, float *y, size_t ys,
                          int nr, int nt, int64_t n)
{
    p_gemm(P_Q4_0, sizeof(BlockQ4_0), w, wstride, x, xstride, y, ys, nr, nt, n);
}

static void tile512p_q4_1(const void *w, size_t wstride, const void *x, size_t xstride, float *y, size_t ys,
                          int nr, int nt, int64_t n)
{
    p_gemm(P_Q4_1, sizeof(BlockQ4_1), w, wstride, x, xstride, y, ys, nr, nt, n);
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
    k->quantize_act[DTYPE_Q8_0] = qz512_q8_0;
    k->quantize_act[DTYPE_Q8_K] = qz512_q8_k;
    k->quantize_p = qz512_q8p;
    k->tile_p[DTYPE_Q8_0] = tile512p_q8_0;
    k->tile_p[DTYPE_Q4_0] = tile512p_q4_0;
    k->tile_p[DTYPE_Q4_1] = tile512p_q4_1;
    quant_kernels_avx512_k(k); /* K-quant GEMM tiles */
}
