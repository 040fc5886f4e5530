/* quant-simd.h — 256-bit dot-product kernels shared by quant-avx2.c and quant-avx512.c (included once by
 * each, compiled with that file's ISA flags). The including file defines, before including:
 *   MUL_SUM(u, s)              __m256i: 8 int32, each the sum of 4 adjacent u8·s8 products
 *   MUL_SUM_SC(u, s, a, b)     the same, lanes 0–3 multiplied by int a, lanes 4–7 by int b
 * (AVX2: vpmaddubsw + vpmaddwd; AVX-512 VNNI: vpdpbusd). Weights are fed as unsigned bytes (nibbles,
 * 5/6-bit codes, |q8|) and activations as signed bytes; the offsets (−8, −16, −32) come back through
 * sums of the activations (Q8_K bsums). Numerics match the scalar kernels in quant.c: exact integer
 * block sums, F32 scaling and accumulation (only the summation order differs).
 * Not a public header.
 */
#ifndef MYNA_QUANT_SIMD_H
#define MYNA_QUANT_SIMD_H

#include <immintrin.h>
#include <string.h>

#include "quant-internal.h"

static inline float simd_hsum8(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

static inline float simd_h2f(uint16_t h) { return _cvtsh_ss(h); }

/* 16 packed nibbles → 32 unsigned bytes: low nibbles first, then high nibbles (Q4_0 / Q5_0 order). */
static inline __m256i simd_nibbles32(const uint8_t *qs)
{
    __m128i q = _mm_loadu_si128((const __m128i *)qs), m = _mm_set1_epi8(0x0F);
    return _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(q, 4), m), _mm_and_si128(q, m));
}

/* Q5 fifth bits: 32 bits → 32 bytes of 0x10 or 0. */
static inline __m256i simd_bits32(uint32_t h)
{
    const __m256i shuf = _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2,
                                          2, 3, 3, 3, 3, 3, 3, 3, 3);
    const __m256i bit = _mm256_set1_epi64x((long long)0x8040201008040201ull);
    __m256i v = _mm256_shuffle_epi8(_mm256_set1_epi32((int)h), shuf);
    v = _mm256_cmpeq_epi8(_mm256_and_si256(v, bit), bit);
    return _mm256_and_si256(v, _mm256_set1_epi8(0x10));
}

static float simd_dot_q8_0(const void *w, const void *x, int64_t n)
{
    const BlockQ8_0 *a = w, *b = x;
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    int64_t nb = n / QK, i = 0;
    for (; i + 1 < nb; i += 2) {
        __m256i qa0 = _mm256_loadu_si256((const __m256i *)a[i].qs), qb0 = _mm256_loadu_si256((const __m256i *)b[i].qs);
        __m256i qa1 = _mm256_loadu_si256((const __m256i *)a[i + 1].qs);
        __m256i qb1 = _mm256_loadu_si256((const __m256i *)b[i + 1].qs);
        __m256i p0 = MUL_SUM(_mm256_abs_epi8(qa0), _mm256_sign_epi8(qb0, qa0));
        __m256i p1 = MUL_SUM(_mm256_abs_epi8(qa1), _mm256_sign_epi8(qb1, qa1));
        acc0 = _mm256_fmadd_ps(_mm256_set1_ps(simd_h2f(a[i].d) * simd_h2f(b[i].d)), _mm256_cvtepi32_ps(p0), acc0);
        acc1 = _mm256_fmadd_ps(_mm256_set1_ps(simd_h2f(a[i + 1].d) * simd_h2f(b[i + 1].d)),
                               _mm256_cvtepi32_ps(p1), acc1);
    }
    for (; i < nb; i++) {
        __m256i qa = _mm256_loadu_si256((const __m256i *)a[i].qs), qb = _mm256_loadu_si256((const __m256i *)b[i].qs);
        __m256i p = MUL_SUM(_mm256_abs_epi8(qa), _mm256_sign_epi8(qb, qa));
        acc0 = _mm256_fmadd_ps(_mm256_set1_ps(simd_h2f(a[i].d) * simd_h2f(b[i].d)), _mm256_cvtepi32_ps(p), acc0);
    }
    return simd_hsum8(_mm256_add_ps(acc0, acc1));
}

/* Σ(q − off)·y for one 32-block with unsigned codes q: MUL_SUM(q, y) − off·MUL_SUM(1, y). */
#define SIMD_BLOCK32_OFFSET(q, y, off) \
    _mm256_sub_epi32(MUL_SUM(q, y), MUL_SUM(_mm256_set1_epi8(off), y))

static float simd_dot_q4_0(const void *w, const void *x, int64_t n)
{
    const BlockQ4_0 *a = w;
    const BlockQ8_0 *b = x;
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    int64_t nb = n / QK, i = 0;
    for (; i + 1 < nb; i += 2) {
        __m256i y0 = _mm256_loadu_si256((const __m256i *)b[i].qs);
        __m256i y1 = _mm256_loadu_si256((const __m256i *)b[i + 1].qs);
        __m256i p0 = SIMD_BLOCK32_OFFSET(simd_nibbles32(a[i].qs), y0, 8);
        __m256i p1 = SIMD_BLOCK32_OFFSET(simd_nibbles32(a[i + 1].qs), y1, 8);
        acc0 = _mm256_fmadd_ps(_mm256_set1_ps(simd_h2f(a[i].d) * simd_h2f(b[i].d)), _mm256_cvtepi32_ps(p0), acc0);
        acc1 = _mm256_fmadd_ps(_mm256_set1_ps(simd_h2f(a[i + 1].d) * simd_h2f(b[i + 1].d)),
                               _mm256_cvtepi32_ps(p1), acc1);
    }
    for (; i < nb; i++) {
        __m256i y = _mm256_loadu_si256((const __m256i *)b[i].qs);
        __m256i p = SIMD_BLOCK32_OFFSET(simd_nibbles32(a[i].qs), y, 8);
        acc0 = _mm256_fmadd_ps(_mm256_set1_ps(simd_h2f(a[i].d) * simd_h2f(b[i].d)), _mm256_cvtepi32_ps(p), acc0);
    }
    return simd_hsum8(_mm256_add_ps(acc0, acc1));
}

static float simd_dot_q4_1(const void *w, const void *x, int64_t n)
{
    const BlockQ4_1 *a = w;
    const BlockQ8_0 *b = x;
    __m256 acc = _mm256_setzero_ps(), accm = _mm256_setzero_ps();
    const __m256i one = _mm256_set1_epi8(1);
    for (int64_t i = 0; i < n / QK; i++) {
        __m256i y = _mm256_loadu_si256((const __m256i *)b[i].qs);
        float dx = simd_h2f(b[i].d);
        acc = _mm256_fmadd_ps(_mm256_set1_ps(simd_h2f(a[i].d) * dx),
                              _mm256_cvtepi32_ps(MUL_SUM(simd_nibbles32(a[i].qs), y)), acc);
        accm = _mm256_fmadd_ps(_mm256_set1_ps(simd_h2f(a[i].m) * dx), _mm256_cvtepi32_ps(MUL_SUM(one, y)), accm);
    }
    return simd_hsum8(_mm256_add_ps(acc, accm));
}

static float simd_dot_q5_0(const void *w, const void *x, int64_t n)
{
    const BlockQ5_0 *a = w;
    const BlockQ8_0 *b = x;
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / QK; i++) {
        uint32_t h;
        memcpy(&h, a[i].qh, 4);
        __m256i q = _mm256_or_si256(simd_nibbles32(a[i].qs), simd_bits32(h));
        __m256i y = _mm256_loadu_si256((const __m256i *)b[i].qs);
        acc = _mm256_fmadd_ps(_mm256_set1_ps(simd_h2f(a[i].d) * simd_h2f(b[i].d)),
                              _mm256_cvtepi32_ps(SIMD_BLOCK32_OFFSET(q, y, 16)), acc);
    }
    return simd_hsum8(acc);
}

static float simd_dot_q5_1(const void *w, const void *x, int64_t n)
{
    const BlockQ5_1 *a = w;
    const BlockQ8_0 *b = x;
    __m256 acc = _mm256_setzero_ps(), accm = _mm256_setzero_ps();
    const __m256i one = _mm256_set1_epi8(1);
    for (int64_t i = 0; i < n / QK; i++) {
        uint32_t h;
        memcpy(&h, a[i].qh, 4);
        __m256i q = _mm256_or_si256(simd_nibbles32(a[i].qs), simd_bits32(h));
        __m256i y = _mm256_loadu_si256((const __m256i *)b[i].qs);
        float dx = simd_h2f(b[i].d);
        acc = _mm256_fmadd_ps(_mm256_set1_ps(simd_h2f(a[i].d) * dx), _mm256_cvtepi32_ps(MUL_SUM(q, y)), acc);
        accm = _mm256_fmadd_ps(_mm256_set1_ps(simd_h2f(a[i].m) * dx), _mm256_cvtepi32_ps(MUL_SUM(one, y)), accm);
    }
    return simd_hsum8(_mm256_add_ps(acc, accm));
}

/* Q4_K / Q5_K 6-bit scales and mins of the 8 sub-blocks, unpacked with 32-bit word operations into one
 * byte per sub-block (kept in registers: bytes stored and reloaded wider would stall store forwarding). */
static inline void simd_k_scales(const uint8_t *s12, uint64_t *sc, uint64_t *mn)
{
    uint32_t u0, u1, u2;
    memcpy(&u0, s12, 4);
    memcpy(&u1, s12 + 4, 4);
    memcpy(&u2, s12 + 8, 4);
    *sc = (uint64_t)(u0 & 0x3f3f3f3fu) | (uint64_t)((u2 & 0x0f0f0f0fu) | (((u0 >> 6) & 0x03030303u) << 4)) << 32;
    *mn = (uint64_t)(u1 & 0x3f3f3f3fu) | (uint64_t)(((u2 >> 4) & 0x0f0f0f0fu) | (((u1 >> 6) & 0x03030303u) << 4)) << 32;
}

static inline int simd_byte(uint64_t v, int i) { return (int)((v >> (8 * i)) & 0xFF); }

/* Σ_j m_j·(bsums[2j] + bsums[2j+1]) as 8 int32 lanes. */
static inline __m256i simd_k_mins(uint64_t mn, const int16_t *bsums)
{
    __m128i m8 = _mm_cvtsi64_si128((long long)mn);
    __m256i m16 = _mm256_cvtepu8_epi16(_mm_unpacklo_epi8(m8, m8));
    return _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)bsums), m16);
}

static float simd_dot_q4_k(const void *w, const void *x, int64_t n)
{
    const BlockQ4_K *a = w;
    const BlockQ8_K *b = x;
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    __m256 acc = _mm256_setzero_ps(), accm = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / QKK; i++) {
        uint64_t sc, mn;
        __m256i sumi = _mm256_setzero_si256();
        const uint8_t *q = a[i].qs;
        const int8_t *y = b[i].qs;
        simd_k_scales(a[i].scales, &sc, &mn);
        for (int c = 0; c < 4; c++, q += 32, y += 64) {
            __m256i qv = _mm256_loadu_si256((const __m256i *)q);
            __m256i lo = _mm256_and_si256(qv, m4), hi = _mm256_and_si256(_mm256_srli_epi16(qv, 4), m4);
            sumi = _mm256_add_epi32(sumi, MUL_SUM_SC(lo, _mm256_loadu_si256((const __m256i *)y), simd_byte(sc, 2 * c), simd_byte(sc, 2 * c)));
            sumi = _mm256_add_epi32(sumi, MUL_SUM_SC(hi, _mm256_loadu_si256((const __m256i *)(y + 32)),
                                                     simd_byte(sc, 2 * c + 1), simd_byte(sc, 2 * c + 1)));
        }
        float dx = b[i].d;
        acc = _mm256_fmadd_ps(_mm256_set1_ps(simd_h2f(a[i].d) * dx), _mm256_cvtepi32_ps(sumi), acc);
        accm = _mm256_fmadd_ps(_mm256_set1_ps(simd_h2f(a[i].dmin) * dx),
                               _mm256_cvtepi32_ps(simd_k_mins(mn, b[i].bsums)), accm);
    }
    return simd_hsum8(_mm256_sub_ps(acc, accm));
}

static float simd_dot_q5_k(const void *w, const void *x, int64_t n)
{
    const BlockQ5_K *a = w;
    const BlockQ8_K *b = x;
    const __m256i m4 = _mm256_set1_epi8(0x0F), b16 = _mm256_set1_epi8(0x10);
    __m256 acc = _mm256_setzero_ps(), accm = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / QKK; i++) {
        uint64_t sc, mn;
        __m256i sumi = _mm256_setzero_si256();
        __m256i qh = _mm256_loadu_si256((const __m256i *)a[i].qh);
        const uint8_t *q = a[i].qs;
        const int8_t *y = b[i].qs;
        simd_k_scales(a[i].scales, &sc, &mn);
        for (int c = 0; c < 4; c++, q += 32, y += 64) {
            __m256i qv = _mm256_loadu_si256((const __m256i *)q);
            /* bit 2c of qh → 0x10 for the low half, bit 2c+1 for the high half */
            __m256i hlo = _mm256_and_si256(_mm256_slli_epi16(_mm256_srli_epi16(qh, 2 * c), 4), b16);
            __m256i hhi = _mm256_and_si256(_mm256_slli_epi16(_mm256_srli_epi16(qh, 2 * c + 1), 4), b16);
            __m256i lo = _mm256_or_si256(_mm256_and_si256(qv, m4), hlo);
            __m256i hi = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(qv, 4), m4), hhi);
            sumi = _mm256_add_epi32(sumi, MUL_SUM_SC(lo, _mm256_loadu_si256((const __m256i *)y), simd_byte(sc, 2 * c), simd_byte(sc, 2 * c)));
            sumi = _mm256_add_epi32(sumi, MUL_SUM_SC(hi, _mm256_loadu_si256((const __m256i *)(y + 32)),
                                                     simd_byte(sc, 2 * c + 1), simd_byte(sc, 2 * c + 1)));
        }
        float dx = b[i].d;
        acc = _mm256_fmadd_ps(_mm256_set1_ps(simd_h2f(a[i].d) * dx), _mm256_cvtepi32_ps(sumi), acc);
        accm = _mm256_fmadd_ps(_mm256_set1_ps(simd_h2f(a[i].dmin) * dx),
                               _mm256_cvtepi32_ps(simd_k_mins(mn, b[i].bsums)), accm);
    }
    return simd_hsum8(_mm256_sub_ps(acc, accm));
}

static float simd_dot_q6_k(const void *w, const void *x, int64_t n)
{
    const BlockQ6_K *a = w;
    const BlockQ8_K *b = x;
    const __m256i m4 = _mm256_set1_epi8(0x0F), m2 = _mm256_set1_epi8(0x30);
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / QKK; i++) {
        const int8_t *s = a[i].scales;
        const int8_t *y = b[i].qs;
        __m256i sumi = _mm256_setzero_si256();
        /* the −32 offset: 32·Σ_g sc_g·bsums_g */
        __m256i off = _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)b[i].bsums),
                                        _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)s)));
        for (int h = 0; h < 2; h++, s += 8, y += 128) {
            const uint8_t *ql = a[i].ql + 64 * h, *qhp = a[i].qh + 32 * h;
            __m256i l0 = _mm256_loadu_si256((const __m256i *)ql), l1 = _mm256_loadu_si256((const __m256i *)(ql + 32));
            __m256i qh = _mm256_loadu_si256((const __m256i *)qhp);
            __m256i q1 = _mm256_or_si256(_mm256_and_si256(l0, m4), _mm256_and_si256(_mm256_slli_epi16(qh, 4), m2));
            __m256i q2 = _mm256_or_si256(_mm256_and_si256(l1, m4), _mm256_and_si256(_mm256_slli_epi16(qh, 2), m2));
            __m256i q3 = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), m4), _mm256_and_si256(qh, m2));
            __m256i q4 = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m4),
                                         _mm256_and_si256(_mm256_srli_epi16(qh, 2), m2));
            sumi = _mm256_add_epi32(sumi, MUL_SUM_SC(q1, _mm256_loadu_si256((const __m256i *)y), s[0], s[1]));
            sumi = _mm256_add_epi32(sumi, MUL_SUM_SC(q2, _mm256_loadu_si256((const __m256i *)(y + 32)), s[2], s[3]));
            sumi = _mm256_add_epi32(sumi, MUL_SUM_SC(q3, _mm256_loadu_si256((const __m256i *)(y + 64)), s[4], s[5]));
            sumi = _mm256_add_epi32(sumi, MUL_SUM_SC(q4, _mm256_loadu_si256((const __m256i *)(y + 96)), s[6], s[7]));
        }
        sumi = _mm256_sub_epi32(sumi, _mm256_slli_epi32(off, 5));
        acc = _mm256_fmadd_ps(_mm256_set1_ps(simd_h2f(a[i].d) * b[i].d), _mm256_cvtepi32_ps(sumi), acc);
    }
    return simd_hsum8(acc);
}

/* Float weights against F32 activations (256-bit; the AVX-512 file overrides with 512-bit versions). */
static inline __m256 simd_load_f16x8(const uint16_t *p) { return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p)); }
static inline __m256 simd_load_bf16x8(const uint16_t *p)
{
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)p)), 16));
}

#define SIMD_FLOAT_DOT256(name, T, LOAD, SCALAR)                                                       \
    static float name(const void *w, const void *x, int64_t n)                                         \
    {                                                                                                  \
        const T *a = w;                                                                                \
        const float *b = x;                                                                            \
        __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps(), s2 = _mm256_setzero_ps(),           \
               s3 = _mm256_setzero_ps();                                                               \
        int64_t i = 0;                                                                                 \
        for (; i + 32 <= n; i += 32) {                                                                 \
            s0 = _mm256_fmadd_ps(LOAD(a + i), _mm256_loadu_ps(b + i), s0);                             \
            s1 = _mm256_fmadd_ps(LOAD(a + i + 8), _mm256_loadu_ps(b + i + 8), s1);                     \
            s2 = _mm256_fmadd_ps(LOAD(a + i + 16), _mm256_loadu_ps(b + i + 16), s2);                   \
            s3 = _mm256_fmadd_ps(LOAD(a + i + 24), _mm256_loadu_ps(b + i + 24), s3);                   \
        }                                                                                              \
        for (; i + 8 <= n; i += 8)                                                                     \
            s0 = _mm256_fmadd_ps(LOAD(a + i), _mm256_loadu_ps(b + i), s0);                             \
        float s = simd_hsum8(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));            \
        for (; i < n; i++)                                                                             \
            s += SCALAR(a[i]) * b[i];                                                                  \
        return s;                                                                                      \
    }

static inline float simd_f32_id(float v) { return v; }
static inline float simd_bf16_f32(uint16_t v) { return bf16_to_f32(v); }

SIMD_FLOAT_DOT256(simd_dot_f32, float, _mm256_loadu_ps, simd_f32_id)
SIMD_FLOAT_DOT256(simd_dot_f16, uint16_t, simd_load_f16x8, simd_h2f)
SIMD_FLOAT_DOT256(simd_dot_bf16, uint16_t, simd_load_bf16x8, simd_bf16_f32)

/* GEMM tiles for the K-quants: each weight super-block is decoded once (codes into registers, scales
 * unpacked) and multiplied with SIMD_TT tokens' Q8_K blocks. y[t*ys + r] = dot(w row r, x row t). */
enum { SIMD_TT = 4 };

static void simd_tile_q4_k(const void *w, size_t wstride, const void *x, size_t xstride, float *y, size_t ys,
                           int nr, int nt, int64_t n)
{
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    for (int r = 0; r < nr; r++) {
        const BlockQ4_K *a = (const BlockQ4_K *)((const char *)w + (size_t)r * wstride);
        for (int t0 = 0; t0 < nt; t0 += SIMD_TT) {
            int tt = nt - t0 < SIMD_TT ? nt - t0 : SIMD_TT;
            __m256 acc[SIMD_TT];
            for (int j = 0; j < SIMD_TT; j++)
                acc[j] = _mm256_setzero_ps();
            for (int64_t i = 0; i < n / QKK; i++) {
                uint64_t sc, mn;
                __m256i q[8];
                simd_k_scales(a[i].scales, &sc, &mn);
                for (int c = 0; c < 4; c++) {
                    __m256i qv = _mm256_loadu_si256((const __m256i *)(a[i].qs + 32 * c));
                    q[2 * c] = _mm256_and_si256(qv, m4);
                    q[2 * c + 1] = _mm256_and_si256(_mm256_srli_epi16(qv, 4), m4);
                }
                float dw = simd_h2f(a[i].d), dm = simd_h2f(a[i].dmin);
                for (int j = 0; j < tt; j++) {
                    const BlockQ8_K *b = (const BlockQ8_K *)((const char *)x + (size_t)(t0 + j) * xstride) + i;
                    __m256i sumi = _mm256_setzero_si256();
                    for (int s = 0; s < 8; s++)
                        sumi = _mm256_add_epi32(sumi, MUL_SUM_SC(q[s], _mm256_loadu_si256((const __m256i *)(b->qs + 32 * s)),
                                                                 simd_byte(sc, s), simd_byte(sc, s)));
                    acc[j] = _mm256_fmadd_ps(_mm256_set1_ps(dw * b->d), _mm256_cvtepi32_ps(sumi), acc[j]);
                    acc[j] = _mm256_fnmadd_ps(_mm256_set1_ps(dm * b->d), _mm256_cvtepi32_ps(simd_k_mins(mn, b->bsums)),
                                              acc[j]);
                }
            }
            for (int j = 0; j < tt; j++)
                y[(size_t)(t0 + j) * ys + (size_t)r] = simd_hsum8(acc[j]);
        }
    }
}

static void simd_tile_q6_k(const void *w, size_t wstride, const void *x, size_t xstride, float *y, size_t ys,
                           int nr, int nt, int64_t n)
{
    const __m256i m4 = _mm256_set1_epi8(0x0F), m2 = _mm256_set1_epi8(0x30);
    for (int r = 0; r < nr; r++) {
        const BlockQ6_K *a = (const BlockQ6_K *)((const char *)w + (size_t)r * wstride);
        for (int t0 = 0; t0 < nt; t0 += SIMD_TT) {
            int tt = nt - t0 < SIMD_TT ? nt - t0 : SIMD_TT;
            __m256 acc[SIMD_TT];
            for (int j = 0; j < SIMD_TT; j++)
                acc[j] = _mm256_setzero_ps();
            for (int64_t i = 0; i < n / QKK; i++) {
                __m256i q[8];
                const int8_t *s = a[i].scales;
                __m256i sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)s));
                for (int h = 0; h < 2; h++) {
                    const uint8_t *ql = a[i].ql + 64 * h;
                    __m256i l0 = _mm256_loadu_si256((const __m256i *)ql);
                    __m256i l1 = _mm256_loadu_si256((const __m256i *)(ql + 32));
                    __m256i qh = _mm256_loadu_si256((const __m256i *)(a[i].qh + 32 * h));
                    q[4 * h] = _mm256_or_si256(_mm256_and_si256(l0, m4), _mm256_and_si256(_mm256_slli_epi16(qh, 4), m2));
                    q[4 * h + 1] = _mm256_or_si256(_mm256_and_si256(l1, m4), _mm256_and_si256(_mm256_slli_epi16(qh, 2), m2));
                    q[4 * h + 2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), m4), _mm256_and_si256(qh, m2));
                    q[4 * h + 3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m4),
                                                   _mm256_and_si256(_mm256_srli_epi16(qh, 2), m2));
                }
                float dw = simd_h2f(a[i].d);
                for (int j = 0; j < tt; j++) {
                    const BlockQ8_K *b = (const BlockQ8_K *)((const char *)x + (size_t)(t0 + j) * xstride) + i;
                    __m256i sumi = _mm256_setzero_si256();
                    for (int g = 0; g < 8; g++)
                        sumi = _mm256_add_epi32(sumi, MUL_SUM_SC(q[g], _mm256_loadu_si256((const __m256i *)(b->qs + 32 * g)),
                                                                 s[2 * g], s[2 * g + 1]));
                    __m256i off = _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)b->bsums), sc16);
                    sumi = _mm256_sub_epi32(sumi, _mm256_slli_epi32(off, 5));
                    acc[j] = _mm256_fmadd_ps(_mm256_set1_ps(dw * b->d), _mm256_cvtepi32_ps(sumi), acc[j]);
                }
            }
            for (int j = 0; j < tt; j++)
                y[(size_t)(t0 + j) * ys + (size_t)r] = simd_hsum8(acc[j]);
        }
    }
}

static void simd_fill256(QuantKernels *k)
{
    k->dot[DTYPE_F32] = simd_dot_f32;
    k->dot[DTYPE_F16] = simd_dot_f16;
    k->dot[DTYPE_BF16] = simd_dot_bf16;
    k->dot[DTYPE_Q8_0] = simd_dot_q8_0;
    k->dot[DTYPE_Q4_0] = simd_dot_q4_0;
    k->dot[DTYPE_Q4_1] = simd_dot_q4_1;
    k->dot[DTYPE_Q5_0] = simd_dot_q5_0;
    k->dot[DTYPE_Q5_1] = simd_dot_q5_1;
    k->dot[DTYPE_Q4_K] = simd_dot_q4_k;
    k->dot[DTYPE_Q5_K] = simd_dot_q5_k;
    k->dot[DTYPE_Q6_K] = simd_dot_q6_k;
    k->tile[DTYPE_Q4_K] = simd_tile_q4_k;
    k->tile[DTYPE_Q6_K] = simd_tile_q6_k;
}

#endif
