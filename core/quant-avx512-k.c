/* quant-avx512-k.c — prefill GEMM tiles for the K-quants (Q4_K, Q5_K, Q6_K weights × Q8_K activations) on
 * AVX-512 VNNI; compiled with the AVX-512 flags, installed by quant_kernels_avx512 when it is detected.
 *
 * A zmm holds 64 consecutive codes of one weight row (u8: Q4_K nibbles, Q5_K 5-bit, Q6_K 6-bit codes),
 * matching one 64-byte load of a token's Q8_K codes. Per (row, token, 128 elements), three integer ops:
 *   p0, p1 = vpdpbusd(0, w, x)     int32 per 4 elements, |p| ≤ 4·63·127 = 32004 < 2^15
 *   isum = vpdpwssd(isum, vpackssdw(p0, p1), s)
 * s holds each int16's sub-block scale (Q6_K: 16-group scale) twice per dword; the packs never saturate,
 * so isum is exact, and it lives for the whole 256-element super-block (|isum| < 2^31). Then one convert
 * and one FMA with d_w·d_x per super-block. The Q6_K offset −32 enters the same integer sum
 * (−32·Σ_g s_g·bsums_g, one vpdpwssd); the Q4_K / Q5_K mins term dmin·d_x·Σ m·bsums is one FMA of two
 * float vectors (16 lanes, one per Q8_K 16-element group). Each weight super-block is decoded once per
 * KT_TT tokens, each token's codes loaded once per KT_RT rows. Measured on Zen 4 (one thread, 4096×1024,
 * gemm_rows blocking): vpdpbusd + convert + FMA per 64 (the previous Q4_K tile) and vpmaddubsw + vpdpwssd
 * per 64 run at the same speed (both two multiply-pipe ops per 64); the pack saves one in four; 2×8 beat
 * 2×4, 1×8 and 4×4. Numerics: those of quant.c's dot_q4_k / dot_q5_k / dot_q6_k (exact integer sub-block
 * sums, F32 scaling and accumulation; only the F32 summation order differs). Block layouts: SPEC.md §1.5.
 * Not here: the Q8_K quantizer and the Q4_K GEMV dot (quant-avx512.c), the repacked-panel GEMM for many
 * tokens (quant-avx512-gemm.c), threading (cpu/matmul.c).
 */
#include <immintrin.h>
#include <stdint.h>
#include <string.h>

#include "quant-internal.h"

enum { KQ4, KQ5, KQ6 };
enum { KT_RT = 2, KT_TT = 8 }; /* rows × tokens per micro-tile */

static inline float k_h2f(uint16_t h) { return _cvtsh_ss(h); }

/* Q4_K / Q5_K 6-bit scales and mins of the 8 sub-blocks, one byte each (see quant_k_scale_min). */
static inline void k_scales_mins(const uint8_t *s12, uint64_t *sc, uint64_t *mn)
{
    uint32_t u0, u1, u2;
    memcpy(&u0, s12, 4);
    memcpy(&u1, s12 + 4, 4);
    memcpy(&u2, s12 + 8, 4);
    *sc = (uint64_t)(u0 & 0x3f3f3f3fu) | (uint64_t)((u2 & 0x0f0f0f0fu) | (((u0 >> 6) & 0x03030303u) << 4)) << 32;
    *mn = (uint64_t)(u1 & 0x3f3f3f3fu) | (uint64_t)(((u2 >> 4) & 0x0f0f0f0fu) | (((u1 >> 6) & 0x03030303u) << 4)) << 32;
}

static inline __m512i k_bcast256(const uint8_t *p)
{
    return _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)p));
}

/* One weight row's super-block, unpacked once for all tokens of the micro-tile. */
typedef struct {
    __m512i sdw;  /* scale in both int16 halves of a dword: Q4/Q5 lane j = sub-block j, Q6 lane g = group g */
    __m512i aux;  /* Q5_K: the 32 qh bytes twice; Q6_K: −32·scale per 16-group as int16 (low 256 bits) */
    __m512 mf;    /* Q4_K / Q5_K: dmin·m of the group's sub-block, lane g = 16-element group g */
    __m512 d;     /* d_w broadcast */
} KRow;

__attribute__((always_inline)) static inline void k_row_setup(int kind, const char *blk, KRow *r)
{
    if (kind == KQ6) {
        const BlockQ6_K *b = (const BlockQ6_K *)blk;
        __m256i s16 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)b->scales));
        r->sdw = _mm512_cvtepu16_epi32(s16);
        r->sdw = _mm512_or_si512(r->sdw, _mm512_slli_epi32(r->sdw, 16));
        r->aux = _mm512_zextsi256_si512(_mm256_sub_epi16(_mm256_setzero_si256(), _mm256_slli_epi16(s16, 5)));
        r->d = _mm512_set1_ps(k_h2f(b->d));
        r->mf = _mm512_setzero_ps();
        return;
    }
    /* Q4_K and Q5_K share d, dmin, scales[12] at the start of the block */
    const BlockQ4_K *b = (const BlockQ4_K *)blk;
    uint64_t sc, mn;
    k_scales_mins(b->scales, &sc, &mn);
    __m128i m8 = _mm_cvtsi64_si128((long long)mn);
    r->sdw = _mm512_cvtepu8_epi32(_mm_cvtsi64_si128((long long)sc));
    r->sdw = _mm512_or_si512(r->sdw, _mm512_slli_epi32(r->sdw, 16));
    r->mf = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_unpacklo_epi8(m8, m8))),
                          _mm512_set1_ps(k_h2f(b->dmin)));
    r->d = _mm512_set1_ps(k_h2f(b->d));
    r->aux = kind == KQ5 ? k_bcast256(((const BlockQ5_K *)blk)->qh) : _mm512_setzero_si512();
}

/* Codes of elements 64v .. 64v+63 of the super-block (u8). */
__attribute__((always_inline)) static inline __m512i k_codes(int kind, const char *blk, const KRow *r, int v)
{
    if (kind == KQ6) {
        const BlockQ6_K *b = (const BlockQ6_K *)blk;
        const int h = v / 2;
        /* bytes 0–31: ql[l] (+ qh bits 0–1 / 4–5), bytes 32–63: ql[32 + l] (+ qh bits 2–3 / 6–7) */
        __m512i l = _mm512_loadu_si512((const void *)(b->ql + 64 * h));
        __m512i qh = k_bcast256(b->qh + 32 * h), lo, hi;
        if (v % 2 == 0) {
            lo = l;
            hi = _mm512_sllv_epi16(qh, _mm512_setr_epi64(0x0004000400040004ll, 0x0004000400040004ll,
                                                         0x0004000400040004ll, 0x0004000400040004ll,
                                                         0x0002000200020002ll, 0x0002000200020002ll,
                                                         0x0002000200020002ll, 0x0002000200020002ll));
        } else {
            lo = _mm512_srli_epi16(l, 4);
            hi = _mm512_srlv_epi16(qh, _mm512_setr_epi64(0, 0, 0, 0, 0x0002000200020002ll, 0x0002000200020002ll,
                                                         0x0002000200020002ll, 0x0002000200020002ll));
        }
        /* bits 0–3 from lo, 4–5 from hi */
        return _mm512_and_si512(_mm512_ternarylogic_epi32(_mm512_set1_epi8(0x0F), lo, hi, 0xCA),
                                _mm512_set1_epi8(0x3F));
    }
    const BlockQ4_K *b = (const BlockQ4_K *)blk;
    const uint8_t *qs = kind == KQ5 ? ((const BlockQ5_K *)blk)->qs : b->qs;
    /* bytes 0–31: low nibbles (sub-block 2v), 32–63: high nibbles (2v + 1) */
    __m512i q = _mm512_and_si512(_mm512_srlv_epi16(k_bcast256(qs + 32 * v),
                                                   _mm512_setr_epi64(0, 0, 0, 0, 0x0004000400040004ll,
                                                                     0x0004000400040004ll, 0x0004000400040004ll,
                                                                     0x0004000400040004ll)),
                                 _mm512_set1_epi8(0x0F));
    if (kind == KQ5) { /* fifth bit: qh bit 2v (low half), 2v + 1 (high half) */
        __m512i sel = _mm512_inserti64x4(_mm512_set1_epi8((char)(1 << (2 * v))),
                                         _mm256_set1_epi8((char)(1 << (2 * v + 1))), 1);
        q = _mm512_mask_add_epi8(q, _mm512_test_epi8_mask(r->aux, sel), q, _mm512_set1_epi8(0x10));
    }
    return q;
}

/* Scales for packssdw(p_{2u}, p_{2u+1}) of the dpbusd sums of vectors 2u, 2u+1: in 128-bit lane L, dwords
 * 0–1 hold lanes 4L..4L+3 of p_{2u}, dwords 2–3 those of p_{2u+1} (as int16 pairs). */
__attribute__((always_inline)) static inline __m512i k_pair_scale(int kind, const KRow *r, int u)
{
    __m512i idx;
    if (kind == KQ6) /* lane m of p_v: group 4v + m/4 */
        idx = _mm512_add_epi32(_mm512_setr_epi32(0, 0, 4, 4, 1, 1, 5, 5, 2, 2, 6, 6, 3, 3, 7, 7), _mm512_set1_epi32(8 * u));
    else /* lane m of p_v: sub-block 2v + m/8 */
        idx = _mm512_add_epi32(_mm512_setr_epi32(0, 0, 2, 2, 0, 0, 2, 2, 1, 1, 3, 3, 1, 1, 3, 3), _mm512_set1_epi32(4 * u));
    return _mm512_permutexvar_epi32(idx, r->sdw);
}

/* KT_RT rows (blocks of bsz bytes) × tt tokens (tt = 1 or KT_TT, constant after inlining), nsb super-blocks:
 * res[i][j] = dot(row i, token j). */
__attribute__((always_inline)) static inline void k_micro(int kind, size_t bsz, const char *const *wr,
                                                          const BlockQ8_K *const *xr, int64_t nsb, int tt,
                                                          float res[KT_RT][KT_TT])
{
    __m512 facc[KT_RT][KT_TT];
    for (int i = 0; i < KT_RT; i++)
        for (int j = 0; j < tt; j++)
            facc[i][j] = _mm512_setzero_ps();
    for (int64_t sb = 0; sb < nsb; sb++) {
        KRow row[KT_RT];
        __m512i isum[KT_RT][KT_TT];
        for (int i = 0; i < KT_RT; i++) {
            k_row_setup(kind, wr[i] + (size_t)sb * bsz, &row[i]);
            for (int j = 0; j < tt; j++)
                isum[i][j] = _mm512_setzero_si512();
        }
        for (int u = 0; u < 2; u++) {
            __m512i q0[KT_RT], q1[KT_RT], s[KT_RT];
            for (int i = 0; i < KT_RT; i++) {
                q0[i] = k_codes(kind, wr[i] + (size_t)sb * bsz, &row[i], 2 * u);
                q1[i] = k_codes(kind, wr[i] + (size_t)sb * bsz, &row[i], 2 * u + 1);
                s[i] = k_pair_scale(kind, &row[i], u);
            }
            for (int j = 0; j < tt; j++) {
                __m512i x0 = _mm512_loadu_si512((const void *)(xr[j][sb].qs + 128 * u));
                __m512i x1 = _mm512_loadu_si512((const void *)(xr[j][sb].qs + 128 * u + 64));
                for (int i = 0; i < KT_RT; i++) {
                    __m512i p = _mm512_packs_epi32(_mm512_dpbusd_epi32(_mm512_setzero_si512(), q0[i], x0),
                                                   _mm512_dpbusd_epi32(_mm512_setzero_si512(), q1[i], x1));
                    isum[i][j] = _mm512_dpwssd_epi32(isum[i][j], p, s[i]);
                }
            }
        }
        for (int j = 0; j < tt; j++) {
            const BlockQ8_K *b = xr[j] + sb;
            __m512 dx = _mm512_set1_ps(b->d);
            __m256i bs = _mm256_loadu_si256((const __m256i *)b->bsums);
            if (kind == KQ6) {
                __m512i bs512 = _mm512_zextsi256_si512(bs);
                for (int i = 0; i < KT_RT; i++) {
                    __m512i t = _mm512_dpwssd_epi32(isum[i][j], bs512, row[i].aux);
                    facc[i][j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(t), _mm512_mul_ps(row[i].d, dx), facc[i][j]);
                }
            } else {
                __m512 bsf = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi16_epi32(bs)), dx);
                for (int i = 0; i < KT_RT; i++) {
                    facc[i][j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum[i][j]), _mm512_mul_ps(row[i].d, dx), facc[i][j]);
                    facc[i][j] = _mm512_fnmadd_ps(row[i].mf, bsf, facc[i][j]);
                }
            }
        }
    }
    for (int i = 0; i < KT_RT; i++)
        for (int j = 0; j < tt; j++)
            res[i][j] = _mm512_reduce_add_ps(facc[i][j]);
}

__attribute__((always_inline)) static inline void k_tile(int kind, size_t bsz, const void *w, size_t wstride,
                                                         const void *x, size_t xstride, float *y, size_t ys,
                                                         int nr, int nt, int64_t n)
{
    const int64_t nsb = n / QKK;
    for (int r0 = 0; r0 < nr; r0 += KT_RT) {
        const char *wr[KT_RT];
        for (int i = 0; i < KT_RT; i++)
            wr[i] = (const char *)w + (size_t)(r0 + i < nr ? r0 + i : nr - 1) * wstride;
        /* tokens in groups of KT_TT, the rest as 4 + 2 + 1 (each a compile-time count after inlining) */
        for (int t0 = 0; t0 < nt;) {
            int left = nt - t0, tt = left >= KT_TT ? KT_TT : left >= 4 ? 4 : left >= 2 ? 2 : 1;
            const BlockQ8_K *xr[KT_TT];
            float res[KT_RT][KT_TT];
            for (int j = 0; j < tt; j++)
                xr[j] = (const BlockQ8_K *)((const char *)x + (size_t)(t0 + j) * xstride);
            if (tt == KT_TT)
                k_micro(kind, bsz, wr, xr, nsb, KT_TT, res);
            else if (tt == 4)
                k_micro(kind, bsz, wr, xr, nsb, 4, res);
            else if (tt == 2)
                k_micro(kind, bsz, wr, xr, nsb, 2, res);
            else
                k_micro(kind, bsz, wr, xr, nsb, 1, res);
            for (int i = 0; i < KT_RT && r0 + i < nr; i++)
                for (int j = 0; j < tt; j++)
                    y[(size_t)(t0 + j) * ys + (size_t)(r0 + i)] = res[i][j];
            t0 += tt;
        }
    }
}

static void tile512_q4_k(const void *w, size_t wstride, const void *x, size_t xstride, float *y, size_t ys,
                         int nr, int nt, int64_t n)
{
    k_tile(KQ4, sizeof(BlockQ4_K), w, wstride, x, xstride, y, ys, nr, nt, n);
}

static void tile512_q5_k(const void *w, size_t wstride, const void *x, size_t xstride, float *y, size_t ys,
                         int nr, int nt, int64_t n)
{
    k_tile(KQ5, sizeof(BlockQ5_K), w, wstride, x, xstride, y, ys, nr, nt, n);
}

static void tile512_q6_k(const void *w, size_t wstride, const void *x, size_t xstride, float *y, size_t ys,
                         int nr, int nt, int64_t n)
{
    k_tile(KQ6, sizeof(BlockQ6_K), w, wstride, x, xstride, y, ys, nr, nt, n);
}

void quant_kernels_avx512_k(QuantKernels *k)
{
    k->tile[DTYPE_Q4_K] = tile512_q4_k;
    k->tile[DTYPE_Q5_K] = tile512_q5_k;
    k->tile[DTYPE_Q6_K] = tile512_q6_k;
}
