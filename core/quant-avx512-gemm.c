/* quant-avx512-gemm.c — prefill GEMM for 32-block weights (Q8_0, Q4_0, Q4_1) against Q8P activations,
 * on row panels repacked on the fly (AVX-512 VNNI).
 *
 * The tile kernels in quant-avx512.c put 64 consecutive K elements of ONE weight row in a zmm, so every
 * vpdpbusd must be followed by a convert and a scale per (row, token, block pair): 4 vector ops per 64
 * multiply-adds. Here a panel of 16 weight rows is first transposed (per 32-block, eight zmm of
 * [16 rows × 4 bytes]) into a small buffer that stays in L1, so the lanes of a vpdpbusd are 16 output
 * rows and its other operand is 4 activation bytes broadcast from memory. The integer sums then run
 * along K for the whole 32-block (8 vpdpbusd), and the per-block float work — convert, ×(d_w·d_x), the
 * offset / min term c·d_x·Σq — is done once per block for 16 rows: 12 vector ops per 512 multiply-adds.
 * The panel is repacked once per KC-element chunk and reused by every token, so the repack (gathers)
 * costs little when there are many tokens; matmul.c uses this path only for T ≥ GEMM_P_MIN_TOKENS.
 *
 * Panel layout per 32-block b (640 bytes): codes [8 groups of 4 K elements][16 rows][4 bytes] as u8
 * (Q8_0: w + 128, Q4_0 / Q4_1: the nibbles), then d_w[16] and c[16] as F32, where
 *   Σ_k w_k·x_k = d_w·d_x·Σ u_k·q_k + c·d_x·Σq,   c = −128·d_w (Q8_0), −8·d_w (Q4_0), m (Q4_1).
 * Numerics: integer dot products per block (exact), F32 scaling and accumulation across blocks — the same
 * quantities as quant_dot on Q8_0 activations, summed in a different order (results agree to F32 rounding).
 * Not here: one-token GEMV (quant-avx512.c p_gemv: bandwidth-bound, no repack), K-quants (tile[]).
 */
#include <immintrin.h>
#include <string.h>

#include "quant-internal.h"

enum {
    GP_ROWS = 16,          /* rows per panel: one int32 lane each */
    GP_TOKENS = 8,         /* tokens per register tile */
    GP_KC_BLOCKS = 32,     /* 32-blocks per repacked chunk: 32 × 640 B = 20 KiB, stays in L1 */
    GP_BLOCK_BYTES = 8 * 64 + 4 * 64, /* codes, d_w, c (, d_w and c of the second 16 elements: Q6_K) */
};

enum { GP_Q8_0, GP_Q4_0, GP_Q4_1, GP_Q4_K, GP_Q5_K, GP_Q6_K };

/* Transpose blocks [b0, b0 + nb) of 16 rows (row i at w + idx[i]) into the panel buffer. */
static void gp_repack(int kind, size_t bsz, const char *w, __m512i idx, int64_t b0, int nb, char *panel)
{
    const __m512i m4 = _mm512_set1_epi8(0x0F);
    for (int b = 0; b < nb; b++) {
        const char *blk = w + (size_t)(b0 + b) * bsz;
        char *out = panel + (size_t)b * GP_BLOCK_BYTES;
        /* first four bytes of each row's block: F16 d (and F16 m for Q4_1) */
        __m512i head = _mm512_i32gather_epi32(idx, (const void *)blk, 1);
        __m512 d = _mm512_cvtph_ps(_mm512_cvtepi32_epi16(head));
        __m512 c;
        if (kind == GP_Q8_0) {
            for (int g = 0; g < 8; g++) {
                __m512i v = _mm512_i32gather_epi32(idx, (const void *)(blk + 2 + 4 * g), 1);
                _mm512_store_si512((void *)(out + 64 * g), _mm512_xor_si512(v, _mm512_set1_epi8((char)0x80)));
            }
            c = _mm512_mul_ps(d, _mm512_set1_ps(-128.0f));
        } else {
            const size_t qoff = kind == GP_Q4_0 ? 2 : 4;
            for (int g = 0; g < 4; g++) {
                __m512i v = _mm512_i32gather_epi32(idx, (const void *)(blk + qoff + 4 * g), 1);
                _mm512_store_si512((void *)(out + 64 * g), _mm512_and_si512(v, m4));
                _mm512_store_si512((void *)(out + 64 * (g + 4)), _mm512_and_si512(_mm512_srli_epi16(v, 4), m4));
            }
            if (kind == GP_Q4_0)
                c = _mm512_mul_ps(d, _mm512_set1_ps(-8.0f));
            else
                c = _mm512_cvtph_ps(_mm512_cvtepi32_epi16(_mm512_srli_epi32(head, 16)));
        }
        _mm512_store_ps((float *)(out + 512), d);
        _mm512_store_ps((float *)(out + 576), c);
    }
}

static inline __m512i gp_byte(__m512i v, int k) { return _mm512_and_si512(_mm512_srli_epi32(v, 8 * k), _mm512_set1_epi32(0xFF)); }
static inline __m512i gp_shr(__m512i v, int k) { return _mm512_srlv_epi32(v, _mm512_set1_epi32(k)); }

static inline void gp_put(char *panel, int64_t blk, int g, __m512i v)
{
    _mm512_store_si512((void *)(panel + (size_t)blk * GP_BLOCK_BYTES + 64 * g), v);
}

static inline void gp_put_scales(char *panel, int64_t blk, __m512 dw, __m512 c)
{
    _mm512_store_ps((float *)(panel + (size_t)blk * GP_BLOCK_BYTES + 512), dw);
    _mm512_store_ps((float *)(panel + (size_t)blk * GP_BLOCK_BYTES + 576), c);
}

/* Q4_K / Q5_K super-blocks [b0/8, (b0 + nb)/8): sub-block s of 32 has d_w = d·sc_s and c = −dmin·m_s;
 * chunk c of 64 elements holds sub-blocks 2c (low nibbles) and 2c+1 (high nibbles); Q5_K's fifth bit of
 * element l of sub-block s is bit s of qh[l]. */
static void gp_repack_k45(int q5, size_t bsz, const char *w, __m512i idx, int64_t b0, int nb, char *panel)
{
    const __m512i m4 = _mm512_set1_epi8(0x0F), one = _mm512_set1_epi8(1);
    const size_t qoff = q5 ? 48 : 16;
    for (int64_t sb = 0; sb < nb / 8; sb++) {
        const char *blk = w + (size_t)(b0 / 8 + sb) * bsz;
        __m512i head = _mm512_i32gather_epi32(idx, (const void *)blk, 1);
        __m512 d = _mm512_cvtph_ps(_mm512_cvtepi32_epi16(head));
        __m512 dmin = _mm512_cvtph_ps(_mm512_cvtepi32_epi16(_mm512_srli_epi32(head, 16)));
        __m512i A = _mm512_i32gather_epi32(idx, (const void *)(blk + 4), 1);
        __m512i B = _mm512_i32gather_epi32(idx, (const void *)(blk + 8), 1);
        __m512i C = _mm512_i32gather_epi32(idx, (const void *)(blk + 12), 1);
        for (int s = 0; s < 8; s++) {
            __m512i sc, mn;
            if (s < 4) {
                sc = _mm512_and_si512(gp_byte(A, s), _mm512_set1_epi32(63));
                mn = _mm512_and_si512(gp_byte(B, s), _mm512_set1_epi32(63));
            } else {
                __m512i c = gp_byte(C, s - 4);
                sc = _mm512_or_si512(_mm512_and_si512(c, _mm512_set1_epi32(0xF)),
                                     _mm512_slli_epi32(_mm512_srli_epi32(gp_byte(A, s - 4), 6), 4));
                mn = _mm512_or_si512(_mm512_srli_epi32(c, 4), _mm512_slli_epi32(_mm512_srli_epi32(gp_byte(B, s - 4), 6), 4));
            }
            gp_put_scales(panel, 8 * sb + s, _mm512_mul_ps(d, _mm512_cvtepi32_ps(sc)),
                          _mm512_mul_ps(_mm512_sub_ps(_mm512_setzero_ps(), dmin), _mm512_cvtepi32_ps(mn)));
        }
        __m512i qh[8];
        for (int g = 0; q5 && g < 8; g++)
            qh[g] = _mm512_i32gather_epi32(idx, (const void *)(blk + 16 + 4 * g), 1);
        for (int c = 0; c < 4; c++)
            for (int g = 0; g < 8; g++) {
                __m512i v = _mm512_i32gather_epi32(idx, (const void *)(blk + qoff + 32 * c + 4 * g), 1);
                __m512i lo = _mm512_and_si512(v, m4), hi = _mm512_and_si512(_mm512_srli_epi16(v, 4), m4);
                if (q5) {
                    lo = _mm512_or_si512(lo, _mm512_slli_epi16(_mm512_and_si512(gp_shr(qh[g], 2 * c), one), 4));
                    hi = _mm512_or_si512(hi, _mm512_slli_epi16(_mm512_and_si512(gp_shr(qh[g], 2 * c + 1), one), 4));
                }
                gp_put(panel, 8 * sb + 2 * c, g, lo);
                gp_put(panel, 8 * sb + 2 * c + 1, g, hi);
            }
    }
}

/* Q6_K: 32-element panel block p = quarter q of half h (p = 4h + q): code = ql nibble | 2 qh bits << 4,
 * value d·scale[2p or 2p+1]·(code − 32); the second 16 elements have their own scale (sub16 layout). */
static void gp_repack_q6_k(const char *w, size_t bsz, __m512i idx, int64_t b0, int nb, char *panel)
{
    const __m512i m4 = _mm512_set1_epi8(0x0F), m2 = _mm512_set1_epi8(0x03);
    for (int64_t sb = 0; sb < nb / 8; sb++) {
        const char *blk = w + (size_t)(b0 / 8 + sb) * bsz;
        /* bytes 206..209 = scales[14], scales[15], d: no read past the block */
        __m512 d = _mm512_cvtph_ps(_mm512_cvtepi32_epi16(
            _mm512_srli_epi32(_mm512_i32gather_epi32(idx, (const void *)(blk + 206), 1), 16)));
        __m512i S[4];
        for (int k = 0; k < 4; k++)
            S[k] = _mm512_i32gather_epi32(idx, (const void *)(blk + 192 + 4 * k), 1);
        for (int p = 0; p < 8; p++) {
            char *out = panel + (size_t)(8 * sb + p) * GP_BLOCK_BYTES;
            for (int e = 0; e < 2; e++) {
                int i = 2 * p + e;
                __m512i sc = _mm512_srai_epi32(_mm512_sllv_epi32(S[i / 4], _mm512_set1_epi32(24 - 8 * (i % 4))), 24);
                __m512 dw = _mm512_mul_ps(d, _mm512_cvtepi32_ps(sc));
                _mm512_store_ps((float *)(out + 512 + 128 * e), dw);
                _mm512_store_ps((float *)(out + 576 + 128 * e), _mm512_mul_ps(dw, _mm512_set1_ps(-32.0f)));
            }
        }
        /* each ql dword feeds quarters q and q + 2 (low / high nibbles), each qh dword all four quarters */
        for (int h = 0; h < 2; h++)
            for (int g = 0; g < 8; g++) {
                __m512i qh = _mm512_i32gather_epi32(idx, (const void *)(blk + 128 + 32 * h + 4 * g), 1);
                for (int odd = 0; odd < 2; odd++) {
                    __m512i ql = _mm512_i32gather_epi32(idx, (const void *)(blk + 64 * h + 32 * odd + 4 * g), 1);
                    for (int hi = 0; hi < 2; hi++) {
                        int q = odd + 2 * hi;
                        __m512i lo = _mm512_and_si512(gp_shr(ql, 4 * hi), m4);
                        __m512i hb = _mm512_slli_epi16(_mm512_and_si512(gp_shr(qh, 2 * q), m2), 4);
                        gp_put(panel, 8 * sb + 4 * h + q, g, _mm512_or_si512(lo, hb));
                    }
                }
            }
    }
}

/* acc[j] (16 rows) += Σ over blocks [0, nb) of the panel against token j's blocks [b0, b0 + nb);
 * nt ≤ GP_TOKENS and sub16 (scales per 16 elements, Q6_K) are compile-time constants after inlining. */
__attribute__((always_inline)) static inline void gp_tile(const char *panel, const char *const *xr, size_t codes,
                                                          size_t s16, int sub16, int64_t b0, int nb, int nt,
                                                          __m512 *acc)
{
    for (int j = 0; j < nt; j++)
        acc[j] = _mm512_setzero_ps();
    for (int b = 0; b < nb; b++) {
        const char *p = panel + (size_t)b * GP_BLOCK_BYTES;
        __m512i wv[8];
        for (int g = 0; g < 8; g++)
            wv[g] = _mm512_load_si512((const void *)(p + 64 * g));
        __m512 dw = _mm512_load_ps((const float *)(p + 512)), cw = _mm512_load_ps((const float *)(p + 576));
        int64_t bb = b0 + b;
        if (sub16) {
            __m512 dw2 = _mm512_load_ps((const float *)(p + 640)), cw2 = _mm512_load_ps((const float *)(p + 704));
            for (int j = 0; j < nt; j++) {
                const int32_t *xq = (const int32_t *)(xr[j] + 32 * bb);
                const float *xs = (const float *)(xr[j] + codes) + 4 * (bb / 2) + (bb & 1);
                const float *xh = (const float *)(xr[j] + s16) + 2 * bb;
                __m512i s1 = _mm512_dpbusd_epi32(_mm512_setzero_si512(), wv[0], _mm512_set1_epi32(xq[0]));
                __m512i s2 = _mm512_dpbusd_epi32(_mm512_setzero_si512(), wv[4], _mm512_set1_epi32(xq[4]));
                for (int g = 1; g < 4; g++) {
                    s1 = _mm512_dpbusd_epi32(s1, wv[g], _mm512_set1_epi32(xq[g]));
                    s2 = _mm512_dpbusd_epi32(s2, wv[g + 4], _mm512_set1_epi32(xq[g + 4]));
                }
                __m512 dx = _mm512_set1_ps(xs[0]);
                acc[j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s1), _mm512_mul_ps(dw, dx), acc[j]);
                acc[j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s2), _mm512_mul_ps(dw2, dx), acc[j]);
                acc[j] = _mm512_fmadd_ps(cw, _mm512_set1_ps(xh[0]), acc[j]);
                acc[j] = _mm512_fmadd_ps(cw2, _mm512_set1_ps(xh[1]), acc[j]);
            }
            continue;
        }
        for (int j = 0; j < nt; j++) {
            const int32_t *xq = (const int32_t *)(xr[j] + 32 * bb);
            const float *xs = (const float *)(xr[j] + codes) + 4 * (bb / 2) + (bb & 1);
            __m512i s = _mm512_dpbusd_epi32(_mm512_setzero_si512(), wv[0], _mm512_set1_epi32(xq[0]));
            for (int g = 1; g < 8; g++)
                s = _mm512_dpbusd_epi32(s, wv[g], _mm512_set1_epi32(xq[g]));
            acc[j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s), _mm512_mul_ps(dw, _mm512_set1_ps(xs[0])), acc[j]);
            acc[j] = _mm512_fmadd_ps(cw, _mm512_set1_ps(xs[2]), acc[j]);
        }
    }
}

static void gp_store(float *y, size_t ys, int64_t t0, int nt, int r0, __mmask16 m, int first, const __m512 *acc)
{
    for (int j = 0; j < nt; j++) {
        float *dst = y + (size_t)(t0 + j) * ys + (size_t)r0;
        __m512 v = first ? acc[j] : _mm512_add_ps(acc[j], _mm512_maskz_loadu_ps(m, dst));
        _mm512_mask_storeu_ps(dst, m, v);
    }
}

__attribute__((always_inline)) static inline void gp_gemm(int kind, size_t bsz, const void *w, size_t wstride,
                                                          const void *x, size_t xstride, float *y, size_t ys, int nr,
                                                          int nt, int64_t n)
{
    _Alignas(64) char panel[GP_KC_BLOCKS * GP_BLOCK_BYTES];
    const int64_t nb = n / QK;
    const size_t codes = quant_q8p_codes_bytes(n), s16 = quant_q8p_s16_offset(n);
    const int sub16 = kind == GP_Q6_K;
    for (int r0 = 0; r0 < nr; r0 += GP_ROWS) {
        int rows = nr - r0 < GP_ROWS ? nr - r0 : GP_ROWS;
        __mmask16 m = (__mmask16)((1u << rows) - 1);
        /* rows past nr repeat the last one (results not stored) */
        __m512i idx = _mm512_mullo_epi32(_mm512_min_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11,
                                                                            12, 13, 14, 15),
                                                          _mm512_set1_epi32(rows - 1)),
                                         _mm512_set1_epi32((int)wstride));
        const char *wp = (const char *)w + (size_t)r0 * wstride;
        for (int64_t kb = 0; kb < nb; kb += GP_KC_BLOCKS) {
            int cb = nb - kb < GP_KC_BLOCKS ? (int)(nb - kb) : GP_KC_BLOCKS;
            if (kind == GP_Q4_K || kind == GP_Q5_K)
                gp_repack_k45(kind == GP_Q5_K, bsz, wp, idx, kb, cb, panel);
            else if (kind == GP_Q6_K)
                gp_repack_q6_k(wp, bsz, idx, kb, cb, panel);
            else
                gp_repack(kind, bsz, wp, idx, kb, cb, panel);
            for (int t0 = 0; t0 < nt; t0 += GP_TOKENS) {
                int tt = nt - t0 < GP_TOKENS ? nt - t0 : GP_TOKENS;
                const char *xr[GP_TOKENS];
                __m512 acc[GP_TOKENS];
                for (int j = 0; j < GP_TOKENS; j++)
                    xr[j] = (const char *)x + (size_t)(t0 + (j < tt ? j : tt - 1)) * xstride;
                /* a partial tile runs as 4 or 8 tokens with the last one repeated (results not stored):
                 * independent dpbusd chains per token, where one token alone would wait on a chain of 8 */
                if (tt > 4)
                    gp_tile(panel, xr, codes, s16, sub16, kb, cb, GP_TOKENS, acc);
                else
                    gp_tile(panel, xr, codes, s16, sub16, kb, cb, 4, acc);
                gp_store(y, ys, t0, tt, r0, m, kb == 0, acc);
            }
        }
    }
}

static void gemm512p_q8_0(const void *w, size_t wstride, const void *x, size_t xstride, float *y, size_t ys,
                          int nr, int nt, int64_t n)
{
    gp_gemm(GP_Q8_0, sizeof(BlockQ8_0), w, wstride, x, xstride, y, ys, nr, nt, n);
}

static void gemm512p_q4_0(const void *w, size_t wstride, const void *x, size_t xstride, float *y, size_t ys,
                          int nr, int nt, int64_t n)
{
    gp_gemm(GP_Q4_0, sizeof(BlockQ4_0), w, wstride, x, xstride, y, ys, nr, nt, n);
}

static void gemm512p_q4_1(const void *w, size_t wstride, const void *x, size_t xstride, float *y, size_t ys,
                          int nr, int nt, int64_t n)
{
    gp_gemm(GP_Q4_1, sizeof(BlockQ4_1), w, wstride, x, xstride, y, ys, nr, nt, n);
}

static void gemm512p_q4_k(const void *w, size_t wstride, const void *x, size_t xstride, float *y, size_t ys,
                          int nr, int nt, int64_t n)
{
    gp_gemm(GP_Q4_K, sizeof(BlockQ4_K), w, wstride, x, xstride, y, ys, nr, nt, n);
}

static void gemm512p_q5_k(const void *w, size_t wstride, const void *x, size_t xstride, float *y, size_t ys,
                          int nr, int nt, int64_t n)
{
    gp_gemm(GP_Q5_K, sizeof(BlockQ5_K), w, wstride, x, xstride, y, ys, nr, nt, n);
}

static void gemm512p_q6_k(const void *w, size_t wstride, const void *x, size_t xstride, float *y, size_t ys,
                          int nr, int nt, int64_t n)
{
    gp_gemm(GP_Q6_K, sizeof(BlockQ6_K), w, wstride, x, xstride, y, ys, nr, nt, n);
}

void quant_kernels_avx512_gemm(QuantKernels *k)
{
    k->gemm_p[DTYPE_Q4_K] = gemm512p_q4_k;
    k->gemm_p[DTYPE_Q5_K] = gemm512p_q5_k;
    k->gemm_p[DTYPE_Q6_K] = gemm512p_q6_k;
    k->gemm_p[DTYPE_Q8_0] = gemm512p_q8_0;
    k->gemm_p[DTYPE_Q4_0] = gemm512p_q4_0;
    k->gemm_p[DTYPE_Q4_1] = gemm512p_q4_1;
}
