/* test-dot.c — the one-token (decode GEMV) kernels of every ISA level against the scalar ones, on raw random
 * blocks (every code and scale value; rows 0–1 all codes and scales at their maximum, Q6_K scales ±127/−128)
 * and activations with random codes or all ±127 (the int16 limits of the AVX-512 packs):
 *  - K-quant dots (quant_dot: Q4_K, Q5_K, Q6_K against Q8_K) for 1, 2, 3, 5 and 9 super-blocks (the
 *    two-super-block steps and their tail); |y − ref| ≤ 1e-5·Σ_k (|w_k| + |c_k|)·|x_k|, c_k the per-element
 *    offset (Q4_K / Q5_K: dmin·m; Q6_K: 32·d·s), since the integer sums are exact and only F32 rounding differs;
 *  - one-hot activations at each of the 256 positions of a super-block: checks that every element meets its
 *    own code, scale and min (a layout error is invisible in a sum of many random terms), tolerance 1e-6·…;
 *  - the Q8P GEMV (tile_p with one token: Q8_0, Q4_0, Q4_1) for 1–33 blocks (odd tail, unroll tail) and
 *    1, 3, 6 rows, against the scalar quant_dot on the bit-identical Q8_0 row; outputs past nr untouched.
 * Reference: quant.c's scalar kernels (themselves checked against gguf-py in test-quant).
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../test-util.h"
#include "quant-internal.h"
#include "quant.h"


static size_t block_bytes(DType dt)
{
    switch (dt) {
    case DTYPE_Q4_K: return sizeof(BlockQ4_K);
    case DTYPE_Q5_K: return sizeof(BlockQ5_K);
    case DTYPE_Q6_K: return sizeof(BlockQ6_K);
    case DTYPE_Q8_0: return sizeof(BlockQ8_0);
    case DTYPE_Q4_0: return sizeof(BlockQ4_0);
    default: return sizeof(BlockQ4_1);
    }
}

/* Raw blocks: random bytes (extreme: all 0xFF) with valid positive F16 scales. */
static void random_row(DType dt, uint8_t *w, size_t row_bytes, int extreme)
{
    size_t bsz = block_bytes(dt);
    for (size_t o = 0; o < row_bytes; o += bsz) {
        uint8_t *b = w + o;
        for (size_t i = 0; i < bsz; i++)
            b[i] = extreme ? 0xFF : (uint8_t)(test_rng_uniform() * 256.0);
        uint16_t d = (uint16_t)(0x1C00 | (int)(test_rng_uniform() * 0x7FF));
        uint16_t m = (uint16_t)(0x1800 | (int)(test_rng_uniform() * 0x7FF));
        if (dt == DTYPE_Q6_K) {
            BlockQ6_K *q = (BlockQ6_K *)b;
            if (extreme)
                for (int g = 0; g < 16; g++)
                    q->scales[g] = (int8_t)(g & 1 ? 127 : -128);
            memcpy(&q->d, &d, 2);
        } else {
            memcpy(b, &d, 2); /* every other type starts with d (then dmin / m for Q4_K, Q5_K, Q4_1) */
            if (dt == DTYPE_Q4_K || dt == DTYPE_Q5_K || dt == DTYPE_Q4_1)
                memcpy(b + 2, &m, 2);
        }
    }
}

/* The per-element offset magnitude |c_k| of a row (see the header): dequantize the row with codes that
 * decode to the offset alone. */
static void offsets(DType dt, const uint8_t *w, size_t row_bytes, int64_t n, float *cf)
{
    size_t bsz = block_bytes(dt);
    uint8_t *wz = malloc(row_bytes);
    memcpy(wz, w, row_bytes);
    for (size_t o = 0; o < row_bytes; o += bsz) {
        uint8_t *b = wz + o;
        if (dt == DTYPE_Q4_K || dt == DTYPE_Q5_K)
            memset(b + 16, 0, bsz - 16); /* codes 0: −dmin·m */
        else if (dt == DTYPE_Q6_K)
            memset(b, 0, offsetof(BlockQ6_K, scales)); /* codes 0: −32·d·s */
        else if (dt == DTYPE_Q8_0)
            memset(b + 2, 0x80, QK); /* −128·d, the offset of the unsigned codes */
        else if (dt == DTYPE_Q4_0)
            memset(b + 2, 0, QK / 2); /* −8·d */
        else
            memset(b + 4, 0, QK / 2); /* Q4_1: m */
    }
    quant_dequant_row(dt, wz, cf, n);
    free(wz);
}

/* Q8_K row: mode 0 random codes in [−127, 127], 1 all +127, 2 all −127; bsums consistent. */
static void random_q8k(BlockQ8_K *x, int64_t nsb, int mode)
{
    for (int64_t i = 0; i < nsb; i++) {
        x[i].d = (float)(0.01 + test_rng_uniform() * 0.05);
        for (int k = 0; k < QKK; k++)
            x[i].qs[k] = (int8_t)(mode == 1 ? 127 : mode == 2 ? -127 : (int)(test_rng_uniform() * 255.0) - 127);
        for (int g = 0; g < QKK / 16; g++) {
            int sum = 0;
            for (int k = 0; k < 16; k++)
                sum += x[i].qs[16 * g + k];
            x[i].bsums[g] = (int16_t)sum;
        }
    }
}

/* Σ_k (|w_k| + |c_k|)·|x_k| with x a Q8_K row. */
static double abs_sum_k(DType dt, const uint8_t *w, size_t rb, const BlockQ8_K *x, int64_t n)
{
    float *wf = malloc(sizeof(float) * (size_t)n), *cf = malloc(sizeof(float) * (size_t)n);
    double a = 0;
    quant_dequant_row(dt, w, wf, n);
    offsets(dt, w, rb, n, cf);
    for (int64_t k = 0; k < n; k++)
        a += (fabs((double)wf[k]) + fabs((double)cf[k])) * fabs((double)x[k / QKK].d * x[k / QKK].qs[k % QKK]);
    free(wf);
    free(cf);
    return a;
}

static int n_levels(void)
{
    int levels = 0;
    for (int level = ISA_SCALAR; level <= ISA_AVX512; level++)
        if (quant_force_isa(level) == 0)
            levels = level + 1;
    quant_force_isa(-1);
    return levels;
}

static void check_k_dots(DType dt, int levels)
{
    static const int64_t nsbs[] = {1, 2, 3, 5, 9};
    for (size_t s = 0; s < sizeof nsbs / sizeof nsbs[0]; s++) {
        int64_t nsb = nsbs[s], n = nsb * QKK;
        size_t rb;
        CHECK_INT(dtype_row_bytes(dt, n, &rb), 0);
        uint8_t *w = malloc(rb);
        BlockQ8_K *x = malloc(sizeof(BlockQ8_K) * (size_t)nsb);
        for (int row = 0; row < 4; row++)
            for (int mode = 0; mode < 3; mode++) {
                random_row(dt, w, rb, row < 2);
                random_q8k(x, nsb, mode);
                double tol = 1e-5 * abs_sum_k(dt, w, rb, x, n);
                CHECK_INT(quant_force_isa(ISA_SCALAR), 0);
                float ref = quant_dot(dt, w, x, n);
                for (int level = 1; level < levels; level++) {
                    CHECK_INT(quant_force_isa(level), 0);
                    float got = quant_dot(dt, w, x, n);
                    if (!(fabs((double)got - ref) <= tol))
                        fprintf(stderr, "%s level %d nsb %lld row %d act %d: %.9g, ref %.9g (tol %.3g)\n",
                                dtype_name(dt), level, (long long)nsb, row, mode, got, ref, tol);
                    CHECK_NEAR(got, ref, tol);
                }
            }
        free(w);
        free(x);
    }
    quant_force_isa(-1);
}

/* One-hot activations: the dot is element k's weight (and offset) times x_k, for each k of a super-block. */
static void check_k_one_hot(DType dt, int levels)
{
    size_t rb;
    CHECK_INT(dtype_row_bytes(dt, QKK, &rb), 0);
    uint8_t *w = malloc(rb);
    float wf[QKK], cf[QKK];
    BlockQ8_K x;
    int bad = 0;
    random_row(dt, w, rb, 0);
    quant_dequant_row(dt, w, wf, QKK);
    offsets(dt, w, rb, QKK, cf);
    for (int k = 0; k < QKK; k++) {
        memset(&x, 0, sizeof x);
        x.d = 0.03125f;
        x.qs[k] = (int8_t)(k & 1 ? -113 : 97);
        x.bsums[k / 16] = x.qs[k];
        double want = (double)wf[k] * x.d * x.qs[k];
        double tol = 1e-6 * (fabs((double)wf[k]) + fabs((double)cf[k])) * fabs((double)x.d * x.qs[k]) + 1e-30;
        for (int level = 0; level < levels; level++) {
            CHECK_INT(quant_force_isa(level), 0);
            float got = quant_dot(dt, w, &x, QKK);
            g_test_checks++;
            if (!(fabs((double)got - want) <= tol) && !bad++) {
                g_test_failures++;
                fprintf(stderr, "%s one-hot level %d k %d: %.9g, expected %.9g (tol %.3g)\n", dtype_name(dt), level, k,
                        got, want, tol);
            }
        }
    }
    quant_force_isa(-1);
    free(w);
}

/* Q8P GEMV: tile_p with one token (ys = 1) against quant_dot on the Q8_0 row of the same numbers. */
static void check_q8p_gemv(DType dt)
{
    static const int nbs[] = {1, 2, 3, 7, 8, 9, 17, 33}, nrs[] = {1, 3, 6};
    enum { MAXR = 6 };
    if (quant_force_isa(ISA_AVX512) < 0 || !quant_kernels()->tile_p[dt] || !quant_kernels()->quantize_p) {
        quant_force_isa(-1);
        return;
    }
    for (size_t a = 0; a < sizeof nbs / sizeof nbs[0]; a++) {
        int64_t n = (int64_t)nbs[a] * QK;
        size_t rb, pb = quant_q8p_row_bytes(n);
        CHECK_INT(dtype_row_bytes(dt, n, &rb), 0);
        uint8_t *w = malloc(rb * MAXR), *xp = aligned_alloc(64, pb);
        BlockQ8_0 *x8 = malloc(sizeof(BlockQ8_0) * (size_t)nbs[a]);
        float *xf = malloc(sizeof(float) * (size_t)n), *wf = malloc(sizeof(float) * (size_t)n);
        float *cf = malloc(sizeof(float) * (size_t)n), *xd = malloc(sizeof(float) * (size_t)n);
        float ref[MAXR], tol[MAXR], y[MAXR + 2];
        for (int mode = 0; mode < 2; mode++) {
            for (int64_t k = 0; k < n; k++) /* mode 1: one sign per block, so some blocks quantize to ±127 */
                xf[k] = mode ? (float)((k / QK) & 1 ? -1.0 : 1.0) : (float)(test_rng_uniform() * 2.0 - 1.0);
            for (int r = 0; r < MAXR; r++)
                random_row(dt, w + (size_t)r * rb, rb, r < 2);
            CHECK_INT(quant_force_isa(ISA_SCALAR), 0);
            CHECK_INT(quant_quantize_row(DTYPE_Q8_0, xf, x8, n), 0);
            quant_dequant_row(DTYPE_Q8_0, x8, xd, n);
            for (int r = 0; r < MAXR; r++) {
                double s = 0;
                quant_dequant_row(dt, w + (size_t)r * rb, wf, n);
                offsets(dt, w + (size_t)r * rb, rb, n, cf);
                for (int64_t k = 0; k < n; k++)
                    s += (fabs((double)wf[k]) + fabs((double)cf[k])) * fabs((double)xd[k]);
                ref[r] = quant_dot(dt, w + (size_t)r * rb, x8, n);
                tol[r] = (float)(1e-5 * s);
            }
            CHECK_INT(quant_force_isa(ISA_AVX512), 0);
            quant_kernels()->quantize_p(xf, xp, n);
            for (int i = 0; i < nbs[a]; i++) /* the same codes as the Q8_0 row */
                CHECK(memcmp(xp + (size_t)QK * (size_t)i, x8[i].qs, QK) == 0);
            for (size_t b = 0; b < sizeof nrs / sizeof nrs[0]; b++) {
                int nr = nrs[b], bad = 0;
                for (int r = 0; r < MAXR + 2; r++)
                    y[r] = NAN;
                quant_kernels()->tile_p[dt](w, rb, xp, pb, y, 1, nr, 1, n);
                for (int r = 0; r < MAXR + 2; r++) {
                    int ok = r < nr ? fabsf(y[r] - ref[r]) <= tol[r] : isnan(y[r]);
                    g_test_checks++;
                    if (!ok && !bad++) {
                        g_test_failures++;
                        fprintf(stderr, "%s Q8P GEMV nb %d nr %d act %d: y[%d] = %.9g, ref %.9g (tol %.3g)\n",
                                dtype_name(dt), nbs[a], nr, mode, r, y[r], r < nr ? ref[r] : NAN,
                                r < nr ? tol[r] : 0.0f);
                    }
                }
            }
        }
        free(w);
        free(xp);
        free(x8);
        free(xf);
        free(wf);
        free(cf);
        free(xd);
    }
    quant_force_isa(-1);
}

int main(void)
{
    static const DType ktypes[] = {DTYPE_Q4_K, DTYPE_Q5_K, DTYPE_Q6_K};
    static const DType ptypes[] = {DTYPE_Q8_0, DTYPE_Q4_0, DTYPE_Q4_1};
    int levels = n_levels();
    CHECK(levels >= 1);
    fprintf(stderr, "ISA levels: %d\n", levels);
    for (size_t i = 0; i < sizeof ktypes / sizeof ktypes[0]; i++) {
        check_k_dots(ktypes[i], levels);
        check_k_one_hot(ktypes[i], levels);
    }
    for (size_t i = 0; i < sizeof ptypes / sizeof ptypes[0]; i++)
        check_q8p_gemv(ptypes[i]);
    return test_exit();
}
