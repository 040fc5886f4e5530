/* quant-avx512.c — AVX-512 (F, BW, VL, VNNI) kernels, compiled with the AVX-512 flags and called only when
 * cpu-features.c detected F+BW+VL+VNNI. Int8 blocks use vpdpbusd (u8·s8 summed into i32) on 256-bit vectors
 * (one 32-block per vector, see quant-simd.h); float weights use 512-bit FMA with F32 activations.
 * BF16 weights are widened exactly (bits << 16) rather than using vdpbf16ps, which would round the F32
 * activations to BF16. Also here: the activation quantizers F32 → Q8_0 / Q8_K / Q8P (bit-identical to
 * quant.c's), the Q8P kernels for Q8_0 / Q4_0 / Q4_1 (two 32-blocks per 512-bit vpdpbusd; GEMV and 4×4
 * GEMM micro-tiles), and the one-token Q4_K / Q5_K / Q6_K dots (64 codes per vpdpbusd, integer super-block sums
 * via vpackssdw + vpdpwssd). Not here: the K-quant GEMM tiles (quant-avx512-k.c), weight quantizers (quant.c),
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

/* ---- one-token K-quant dots: one weight row against one Q8_K row (the decode GEMV) ----
 * A zmm holds 64 consecutive codes of the row (u8: Q4_K nibbles, Q5_K 5-bit, Q6_K 6-bit codes), matching
 * one 64-byte load of the Q8_K codes:
 *   p_v = vpdpbusd(0, codes_v, x_v)       int32 per 4 elements, |p| ≤ 4·63·128 < 2^15
 *   isum = vpdpwssd(isum, vpackssdw(p_2u, p_2u+1), s_u)   u = 0, 1
 * s_u holds each int16's sub-block scale (Q4_K / Q5_K: 32-element sub-block, zero-extended; Q6_K: 16-element
 * group, sign-extended), built with one vpshufb from the scale bytes broadcast to every 128-bit lane. The packs
 * never saturate and |isum| < 2^31, so the super-block sum is exact; then one convert and one FMA with d_w·d_x.
 * Q4_K / Q5_K: the mins term dmin·d_x·Σ_j m_j·(bsums_2j + bsums_2j+1) is one vpmaddwd (256-bit) and one FMA
 * into a second accumulator. Q6_K: the −32 offset enters the integer sum as −32·Σ_g s_g·bsums_g (one vpdpwssd).
 * Two super-blocks per step, with separate accumulators, so that neither the dependency chain of one
 * super-block nor the F32 accumulation bounds the loop. Measured on Zen 4 (one core, 32 rows of 4096 in L2,
 * thread CPU time, medians): Q4_K 22 → 25 GB/s of weights (previous kernel: 256-bit loads + insert, vpermd +
 * vpmulld per 64), Q5_K 20 → 24 and Q6_K 22 → 32 (the 256-bit kernels of quant-simd.h before); vpmaddubsw +
 * vpdpwssd per 64 instead of the pack was slower; GFNI nibble extraction (vgf2p8affineqb) gained ≤ 5 %
 * (within the noise here, and it needs its own CPUID check); one FMA for sums and mins, or the mins of two
 * super-blocks in one zmm, nothing. Numerics: quant.c's dot_q4_k / dot_q5_k / dot_q6_k (exact integer sub-block
 * sums; F32 scaling and accumulation, only the summation order differs). */

/* pack(p_2u, p_2u+1), 128-bit lane L: dwords 0–1 hold lanes 4L..4L+3 of p_2u, dwords 2–3 those of p_2u+1.
 * Q4_K: lane m of p_v belongs to sub-block 2v + m/8 → dword sub-blocks {0,0,2,2, 0,0,2,2, 1,1,3,3, 1,1,3,3} + 4u;
 * each dword as the vpshufb control {j, zero, j, zero}: the scale byte zero-extended into both int16. */
#define KD_Q4_DW(j) ((int)(0x80008000u | (unsigned)(j) * 0x10001u))
#define KD_Q4_IDX(u)                                                                                         \
    _mm512_setr_epi32(KD_Q4_DW(4 * (u)), KD_Q4_DW(4 * (u)), KD_Q4_DW(4 * (u) + 2), KD_Q4_DW(4 * (u) + 2),        \
                      KD_Q4_DW(4 * (u)), KD_Q4_DW(4 * (u)), KD_Q4_DW(4 * (u) + 2), KD_Q4_DW(4 * (u) + 2),        \
                      KD_Q4_DW(4 * (u) + 1), KD_Q4_DW(4 * (u) + 1), KD_Q4_DW(4 * (u) + 3), KD_Q4_DW(4 * (u) + 3), \
                      KD_Q4_DW(4 * (u) + 1), KD_Q4_DW(4 * (u) + 1), KD_Q4_DW(4 * (u) + 3), KD_Q4_DW(4 * (u) + 3))
/* Q6_K: lane m of p_v belongs to group 4v + m/4 → {0,0,4,4, 1,1,5,5, 2,2,6,6, 3,3,7,7} + 8u; the control
 * {g, g, g, g} then an arithmetic shift right by 8 gives the signed scale in both int16. */
#define KD_Q6_DW(g) ((int)((unsigned)(g) * 0x01010101u))
#define KD_Q6_IDX(u)                                                                                         \
    _mm512_setr_epi32(KD_Q6_DW(8 * (u)), KD_Q6_DW(8 * (u)), KD_Q6_DW(8 * (u) + 4), KD_Q6_DW(8 * (u) + 4),        \
                      KD_Q6_DW(8 * (u) + 1), KD_Q6_DW(8 * (u) + 1), KD_Q6_DW(8 * (u) + 5), KD_Q6_DW(8 * (u) + 5), \
                      KD_Q6_DW(8 * (u) + 2), KD_Q6_DW(8 * (u) + 2), KD_Q6_DW(8 * (u) + 6), KD_Q6_DW(8 * (u) + 6), \
                      KD_Q6_DW(8 * (u) + 3), KD_Q6_DW(8 * (u) + 3), KD_Q6_DW(8 * (u) + 7), KD_Q6_DW(8 * (u) + 7))

static inline __m512i kd_pair(__m512i c0, __m512i x0, __m512i c1, __m512i x1)
{
    return _mm512_packs_epi32(_mm512_dpbusd_epi32(_mm512_setzero_si512(), c0, x0),
                              _mm512_dpbusd_epi32(_mm512_setzero_si512(), c1, x1));
}

/* Q4_K / Q5_K codes of elements 64v .. 64v+63 from the 32 bytes qs + 32v: low nibbles (sub-block 2v), then
 * high nibbles (2v + 1); Q5_K adds 16 where bit 2v (low half) / 2v + 1 (high half) of qh[l] is set (qh: the
 * 32 qh bytes in both halves). */
__attribute__((always_inline)) static inline __m512i kd_q45_codes(const uint8_t *qs, __m512i qh, int v, int q5)
{
    const __m512i sh = _mm512_setr_epi64(0, 0, 0, 0, 0x0004000400040004ll, 0x0004000400040004ll,
                                         0x0004000400040004ll, 0x0004000400040004ll);
    __m512i c = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)qs));
    c = _mm512_and_si512(_mm512_srlv_epi16(c, sh), _mm512_set1_epi8(0x0F));
    if (q5) {
        __m512i sel = _mm512_inserti64x4(_mm512_set1_epi8((char)(1 << (2 * v))),
                                         _mm256_set1_epi8((char)(1 << (2 * v + 1))), 1);
        c = _mm512_mask_add_epi8(c, _mm512_test_epi8_mask(qh, sel), c, _mm512_set1_epi8(0x10));
    }
    return c;
}

/* One Q4_K / Q5_K super-block (they share d, dmin, scales[12] at the start; qs follows scales or qh). */
__attribute__((always_inline)) static inline void kd_q45_k_sb(const char *blk, int q5, const BlockQ8_K *b, __m512 *acc,
                                                              __m256 *accm)
{
    const __m256i midx = _mm256_setr_epi32(KD_Q4_DW(0), KD_Q4_DW(1), KD_Q4_DW(2), KD_Q4_DW(3), KD_Q4_DW(4),
                                           KD_Q4_DW(5), KD_Q4_DW(6), KD_Q4_DW(7));
    const BlockQ4_K *a = (const BlockQ4_K *)blk;
    const uint8_t *qs = q5 ? ((const BlockQ5_K *)blk)->qs : a->qs;
    __m512i qh = q5 ? _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)((const BlockQ5_K *)blk)->qh))
                    : _mm512_setzero_si512();
    uint64_t sc, mn;
    simd_k_scales(a->scales, &sc, &mn);
    __m512i bsc = _mm512_set1_epi64((long long)sc);
    __m512i p01 = kd_pair(kd_q45_codes(qs, qh, 0, q5), _mm512_loadu_si512((const void *)b->qs),
                          kd_q45_codes(qs + 32, qh, 1, q5), _mm512_loadu_si512((const void *)(b->qs + 64)));
    __m512i p23 = kd_pair(kd_q45_codes(qs + 64, qh, 2, q5), _mm512_loadu_si512((const void *)(b->qs + 128)),
                          kd_q45_codes(qs + 96, qh, 3, q5), _mm512_loadu_si512((const void *)(b->qs + 192)));
    __m512i isum = _mm512_dpwssd_epi32(_mm512_setzero_si512(), p01, _mm512_shuffle_epi8(bsc, KD_Q4_IDX(0)));
    isum = _mm512_dpwssd_epi32(isum, p23, _mm512_shuffle_epi8(bsc, KD_Q4_IDX(1)));
    /* mins: dword j of bsums = (bsums_2j, bsums_2j+1), times (m_j, m_j) */
    __m256i m16 = _mm256_shuffle_epi8(_mm256_set1_epi64x((long long)mn), midx);
    __m256i msum = _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)b->bsums), m16);
    float dx = b->d;
    *acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), _mm512_set1_ps(simd_h2f(a->d) * dx), *acc);
    *accm = _mm256_fmadd_ps(_mm256_cvtepi32_ps(msum), _mm256_set1_ps(simd_h2f(a->dmin) * dx), *accm);
}

__attribute__((always_inline)) static inline float kd_q45_k(const void *w, const void *x, int64_t n, int q5)
{
    const size_t bsz = q5 ? sizeof(BlockQ5_K) : sizeof(BlockQ4_K);
    const char *a = w;
    const BlockQ8_K *b = x;
    const int64_t nsb = n / QKK;
    __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
    __m256 accm0 = _mm256_setzero_ps(), accm1 = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 2 <= nsb; i += 2) {
        kd_q45_k_sb(a + (size_t)i * bsz, q5, b + i, &acc0, &accm0);
        kd_q45_k_sb(a + (size_t)(i + 1) * bsz, q5, b + i + 1, &acc1, &accm1);
    }
    if (i < nsb)
        kd_q45_k_sb(a + (size_t)i * bsz, q5, b + i, &acc0, &accm0);
    __m512 s = _mm512_add_ps(acc0, acc1);
    __m256 s8 = _mm256_add_ps(_mm512_castps512_ps256(s),
                              _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(s), 1)));
    return simd_hsum8(_mm256_sub_ps(s8, _mm256_add_ps(accm0, accm1)));
}

static float dot512_q4_k(const void *w, const void *x, int64_t n) { return kd_q45_k(w, x, n, 0); }
static float dot512_q5_k(const void *w, const void *x, int64_t n) { return kd_q45_k(w, x, n, 1); }

/* Q6_K codes of elements 128h + 64e .. +63 (e = 0, 1) from l = ql[64h .. 64h+63] and qh = the 32 bytes
 * qh[32h ..] in both halves: bits 0–3 from ql (low nibbles for e = 0, high for e = 1), bits 4–5 from qh bits
 * (0–1 | 2–3) for e = 0 and (4–5 | 6–7) for e = 1 (first | second 32 elements). */
__attribute__((always_inline)) static inline __m512i kd_q6_codes(__m512i l, __m512i qh, int e)
{
    const long long s4 = 0x0004000400040004ll, s2 = 0x0002000200020002ll;
    __m512i lo, hi;
    if (e == 0) {
        lo = l;
        hi = _mm512_sllv_epi16(qh, _mm512_setr_epi64(s4, s4, s4, s4, s2, s2, s2, s2));
    } else {
        lo = _mm512_srli_epi16(l, 4);
        hi = _mm512_srlv_epi16(qh, _mm512_setr_epi64(0, 0, 0, 0, s2, s2, s2, s2));
    }
    return _mm512_and_si512(_mm512_ternarylogic_epi32(_mm512_set1_epi8(0x0F), lo, hi, 0xCA), _mm512_set1_epi8(0x3F));
}

__attribute__((always_inline)) static inline void kd_q6_k_sb(const BlockQ6_K *a, const BlockQ8_K *b, __m512 *acc)
{
    __m512i bsc = _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)a->scales));
    __m512i isum = _mm512_setzero_si512();
    for (int h = 0; h < 2; h++) {
        __m512i l = _mm512_loadu_si512((const void *)(a->ql + 64 * h));
        __m512i qh = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(a->qh + 32 * h)));
        __m512i p = kd_pair(kd_q6_codes(l, qh, 0), _mm512_loadu_si512((const void *)(b->qs + 128 * h)),
                            kd_q6_codes(l, qh, 1), _mm512_loadu_si512((const void *)(b->qs + 128 * h + 64)));
        __m512i s = _mm512_srai_epi16(_mm512_shuffle_epi8(bsc, h ? KD_Q6_IDX(1) : KD_Q6_IDX(0)), 8);
        isum = _mm512_dpwssd_epi32(isum, p, s);
    }
    /* −32·Σ_g s_g·bsums_g in the low 8 dwords */
    __m256i s32 = _mm256_mullo_epi16(_mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)a->scales)),
                                     _mm256_set1_epi16(-32));
    isum = _mm512_dpwssd_epi32(isum, _mm512_zextsi256_si512(_mm256_loadu_si256((const __m256i *)b->bsums)),
                               _mm512_zextsi256_si512(s32));
    *acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), _mm512_set1_ps(simd_h2f(a->d) * b->d), *acc);
}

static float dot512_q6_k(const void *w, const void *x, int64_t n)
{
    const BlockQ6_K *a = w;
    const BlockQ8_K *b = x;
    const int64_t nsb = n / QKK;
    __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
    int64_t i = 0;
    for (; i + 2 <= nsb; i += 2) {
        kd_q6_k_sb(a + i, b + i, &acc0);
        kd_q6_k_sb(a + i + 1, b + i + 1, &acc1);
    }
    if (i < nsb)
        kd_q6_k_sb(a + i, b + i, &acc0);
    return _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));
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

/* The F16 scale fields of 8 blocks (4 pairs: 144 bytes of Q4_0, 160 of Q4_1) as the pair floats
 * {d_i, d_i+1, c_i, c_i+1} of the Q8P activations (c: d for Q4_0, m for Q4_1; see p_scales): the fields sit
 * at even byte offsets, so one two-table word permute over two 64-byte loads collects all 16. */
static inline __m512 p_scales8(int kind, const char *b0)
{
#define P_W2(a, b) ((int)((unsigned)(a) | (unsigned)(b) << 16))
    /* words of block i: Q4_0 d at 9i (second table from byte 64 = word 32); Q4_1 d at 10i, m at 10i + 1
     * (second table from byte 80 = word 40, index 32 + 10i − 40) */
    const __m512i i40 = _mm512_setr_epi32(P_W2(0, 9), P_W2(0, 9), P_W2(18, 27), P_W2(18, 27), P_W2(36, 45),
                                          P_W2(36, 45), P_W2(54, 63), P_W2(54, 63), 0, 0, 0, 0, 0, 0, 0, 0);
    const __m512i i41 = _mm512_setr_epi32(P_W2(0, 10), P_W2(1, 11), P_W2(20, 30), P_W2(21, 31), P_W2(32, 42),
                                          P_W2(33, 43), P_W2(52, 62), P_W2(53, 63), 0, 0, 0, 0, 0, 0, 0, 0);
#undef P_W2
    __m512i lo = _mm512_loadu_si512((const void *)b0);
    __m512i hi = _mm512_loadu_si512((const void *)(b0 + (kind == P_Q4_1 ? 80 : 64)));
    __m512i h = _mm512_permutex2var_epi16(lo, kind == P_Q4_1 ? i41 : i40, hi);
    return _mm512_cvtph_ps(_mm512_castsi512_si256(h));
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
 * Q4_0 / Q4_1 take the G_UN pairs' scales at once (p_scales8: one word permute, one F16 convert, one 512-bit
 * multiply for 8 blocks instead of two loads, insert, convert, shuffle, multiply per pair; the same floats
 * summed in the same order, so results are bit-identical). Measured (one core, 32 rows of 4096 in L2, thread
 * CPU time): Q4_1 23.4 → 25.5 GB/s, Q4_0 20 → 21.5; the streaming GEMV is memory-bound either way.
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
    const __m512i sel = _mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1);
    for (int r = 0; r < nr; r++) {
        const char *wr = (const char *)w + (size_t)r * wstride;
        __m512 acc[G_UN];
        __m128 accc[G_UN];
        int64_t p = 0;
        for (int k = 0; k < G_UN; k++) {
            acc[k] = _mm512_setzero_ps();
            accc[k] = _mm_setzero_ps();
        }
        if (kind == P_Q8_0) {
            for (; p + G_UN <= np; p += G_UN)
                for (int k = 0; k < G_UN; k++)
                    p_gemv_pair(kind, bsz, wr + (size_t)(2 * (p + k)) * bsz, xc + 64 * (p + k), xf + 4 * (p + k),
                                &acc[k], &accc[k], 0);
        } else {
            /* Q4_0 / Q4_1: the 16 scale floats of 4 pairs from one permute, one convert, one multiply;
             * acc8 holds accc[0..3] side by side */
            __m512 acc8 = _mm512_setzero_ps();
            for (; p + G_UN <= np; p += G_UN) {
                const char *g = wr + (size_t)(2 * p) * bsz;
                __m512 prod = _mm512_mul_ps(p_scales8(kind, g), _mm512_loadu_ps(xf + 4 * p));
                acc8 = _mm512_add_ps(acc8, prod);
                for (int k = 0; k < G_UN; k++) {
                    __m512i u = p_codes(kind, g + (size_t)(2 * k) * bsz, g + (size_t)(2 * k + 1) * bsz);
                    __m512 sc = _mm512_permutexvar_ps(_mm512_add_epi32(sel, _mm512_set1_epi32(4 * k)), prod);
                    __m512i dp = _mm512_dpbusd_epi32(_mm512_setzero_si512(), u,
                                                     _mm512_loadu_si512((const void *)(xc + 64 * (p + k))));
                    acc[k] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dp), sc, acc[k]);
                }
            }
            /* the same sums in the same order as the per-pair path (bit-identical results) */
            accc[0] = _mm512_extractf32x4_ps(acc8, 0);
            accc[1] = _mm512_extractf32x4_ps(acc8, 1);
            accc[2] = _mm512_extractf32x4_ps(acc8, 2);
            accc[3] = _mm512_extractf32x4_ps(acc8, 3);
        }
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
    k->dot[DTYPE_Q5_K] = dot512_q5_k;
    k->dot[DTYPE_Q6_K] = dot512_q6_k;
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
