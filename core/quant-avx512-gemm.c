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
    GP_BLOCK_BYTES = 8 * 64 + 2 * 64,
};

enum { GP_Q8_0, GP_Q4_0, GP_Q4_1 };

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

/* acc[j] (16 rows) += Σ over blocks [0, nb) of the panel against token j's blocks [b0, b0 + nb);
 * nt ≤ GP_TOKENS (a compile-time constant after inlining). */
__attribute__((always_inline)) static inline void gp_tile(const char *panel, const char *const *xr, size_t codes,
                                                          int64_t b0, int nb, int nt, __m512 *acc)
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

static void gp_gemm(int kind, size_t bsz, const void *w, size_t wstride, const void *x, size_t xstride, float *y,
                    size_t ys, int nr, int nt, int64_t n)
{
    _Alignas(64) char panel[GP_KC_BLOCKS * GP_BLOCK_BYTES];
    const int64_t nb = n / QK;
    const size_t codes = quant_q8p_codes_bytes(n);
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
            gp_repack(kind, bsz, wp, idx, kb, cb, panel);
            for (int t0 = 0; t0 < nt; t0 += GP_TOKENS) {
                int tt = nt - t0 < GP_TOKENS ? nt - t0 : GP_TOKENS;
                const char *xr[GP_TOKENS];
                __m512 acc[GP_TOKENS];
                for (int j = 0; j < GP_TOKENS; j++)
                    xr[j] = (const char *)x + (size_t)(t0 + (j < tt ? j : tt - 1)) * xstride;
                if (tt == GP_TOKENS)
                    gp_tile(panel, xr, codes, kb, cb, GP_TOKENS, acc);
                else if (tt >= 4)
                    gp_tile(panel, xr, codes, kb, cb, 4, acc);
                else
                    gp_tile(panel, xr, codes, kb, cb, 1, acc);
                if (tt == GP_TOKENS || tt == 1) {
                    gp_store(y, ys, t0, tt, r0, m, kb == 0, acc);
                } else { /* 2..7 tokens: in steps of 4 / 1 */
                    int done = tt >= 4 ? 4 : 1;
                    gp_store(y, ys, t0, done, r0, m, kb == 0, acc);
                    for (int j = done; j < tt; j++) {
                        const char *one[1] = {xr[j]};
                        gp_tile(panel, one, codes, kb, cb, 1, acc);
                        gp_store(y, ys, t0 + j, 1, r0, m, kb == 0, acc);
                    }
                }
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

void quant_kernels_avx512_gemm(QuantKernels *k)
{
    k->gemm_p[DTYPE_Q8_0] = gemm512p_q8_0;
    k->gemm_p[DTYPE_Q4_0] = gemm512p_q4_0;
    k->gemm_p[DTYPE_Q4_1] = gemm512p_q4_1;
}
