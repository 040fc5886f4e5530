/* test-quant.c — quant.h row kernels against the gguf-py / NumPy float64 fixtures written by
 * tools/ref/quant_ref.py (tests/fixtures/quant/<DTYPE>.bin), under every ISA level this CPU has.
 *
 * Tolerances (stated per check):
 *  - dequantize: |got − ref| ≤ 1e-6·|ref| + 1e-7·max|row| (same formula, float rounding order may differ).
 *  - quant_dot_f32 and quant_dot: |got − ref| ≤ 2e-5 · Σ|w·x| (F32 accumulation over 512 products).
 *  - ISA levels against scalar: the same 2e-5 · Σ|w·x| bound.
 *  - activation quantizers: Q8 bytes equal to the fixture's (gguf rounding) except ±1 on exact ties, and
 *    dot error ≤ Σ|w|·(block amax/254) + 2e-5·Σ|w·x| (the quantization bound).
 *  - weight round trip quantize→dequantize on normal data: RMS error / RMS ≤ a per-type bound.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../test-util.h"
#include "cpu-features.h"
#include "quant.h"

enum { MAX_ROWS = 8 };

typedef struct {
    DType dt, partner;
    int n, rows;
    size_t wrow, xrow;
    uint8_t *w;
    float *deq, *x;
    uint8_t *xq;
    double dot_f32[MAX_ROWS], abs_f32[MAX_ROWS], dot_q8[MAX_ROWS], abs_q8[MAX_ROWS];
    uint8_t *blob;
} Fixture;

static int load_fixture(const char *name, Fixture *fx)
{
    char file[256], path[1024];
    size_t len, off = 24, need;
    uint32_t hdr[5];

    memset(fx, 0, sizeof *fx);
    snprintf(file, sizeof file, "%s.bin", name);
    fx->blob = test_read_file(test_fixture_path(path, sizeof path, "quant", file), &len);
    if (!fx->blob || len < 24 || memcmp(fx->blob, "MYQF", 4)) {
        fprintf(stderr, "cannot read fixture %s\n", path);
        return -1;
    }
    memcpy(hdr, fx->blob + 4, sizeof hdr);
    fx->dt = (DType)hdr[1];
    fx->partner = (DType)hdr[2];
    fx->n = (int)hdr[3];
    fx->rows = (int)hdr[4];
    if (hdr[0] != 1 || fx->rows > MAX_ROWS || dtype_row_bytes(fx->dt, fx->n, &fx->wrow) < 0)
        return -1;
    fx->xrow = 0;
    if (fx->partner != DTYPE_F32 && dtype_row_bytes(fx->partner, fx->n, &fx->xrow) < 0)
        return -1;
    need = off + fx->wrow * (size_t)fx->rows + (size_t)fx->rows * fx->n * 4 + (size_t)fx->n * 4 + fx->xrow +
           (size_t)fx->rows * 8 * 4;
    if (need != len)
        return -1;
    fx->w = fx->blob + off;
    off += fx->wrow * (size_t)fx->rows;
    fx->deq = malloc((size_t)fx->rows * fx->n * 4);
    fx->x = malloc((size_t)fx->n * 4);
    memcpy(fx->deq, fx->blob + off, (size_t)fx->rows * fx->n * 4);
    off += (size_t)fx->rows * fx->n * 4;
    memcpy(fx->x, fx->blob + off, (size_t)fx->n * 4);
    off += (size_t)fx->n * 4;
    fx->xq = fx->blob + off;
    off += fx->xrow;
    memcpy(fx->dot_f32, fx->blob + off, (size_t)fx->rows * 8);
    off += (size_t)fx->rows * 8;
    memcpy(fx->abs_f32, fx->blob + off, (size_t)fx->rows * 8);
    off += (size_t)fx->rows * 8;
    memcpy(fx->dot_q8, fx->blob + off, (size_t)fx->rows * 8);
    off += (size_t)fx->rows * 8;
    memcpy(fx->abs_q8, fx->blob + off, (size_t)fx->rows * 8);
    return 0;
}

static void free_fixture(Fixture *fx)
{
    free(fx->blob);
    free(fx->deq);
    free(fx->x);
}

/* Results of one ISA level, compared across levels. */
typedef struct { float dot_f32[MAX_ROWS], dot_q[MAX_ROWS], dot_own[MAX_ROWS]; } LevelResult;

static void check_fixture(const Fixture *fx, int level, LevelResult *res)
{
    int n = fx->n;
    float *out = malloc((size_t)n * sizeof(float));
    uint8_t *own = malloc(fx->xrow ? fx->xrow : 1);
    int bad_deq = 0, ties = 0;

    /* our own activation quantizer against gguf's (fixture) bytes */
    if (fx->partner != DTYPE_F32) {
        CHECK_INT(quant_quantize_row(fx->partner, fx->x, own, n), 0);
        for (size_t i = 0; i < fx->xrow; i++)
            if (own[i] != fx->xq[i])
                ties++;
        CHECK(ties <= 2); /* only exact .5 ties may round differently */
    }
    for (int r = 0; r < fx->rows; r++) {
        const uint8_t *w = fx->w + (size_t)r * fx->wrow;
        const float *ref = fx->deq + (size_t)r * n;
        float rmax = 0;
        for (int i = 0; i < n; i++)
            rmax = fabsf(ref[i]) > rmax ? fabsf(ref[i]) : rmax;
        quant_dequant_row(fx->dt, w, out, n);
        for (int i = 0; i < n; i++)
            if (!(fabsf(out[i] - ref[i]) <= 1e-6f * fabsf(ref[i]) + 1e-7f * rmax)) {
                if (!bad_deq++)
                    fprintf(stderr, "%s isa %d row %d [%d]: dequant %.9g, expected %.9g\n",
                            dtype_name(fx->dt), level, r, i, out[i], ref[i]);
            }
        res->dot_f32[r] = quant_dot_f32(fx->dt, w, fx->x, n);
        CHECK_NEAR(res->dot_f32[r], fx->dot_f32[r], 2e-5 * fx->abs_f32[r]);
        res->dot_q[r] = quant_dot(fx->dt, w, fx->partner == DTYPE_F32 ? (const void *)fx->x : fx->xq, n);
        CHECK_NEAR(res->dot_q[r], fx->dot_q8[r], 2e-5 * fx->abs_q8[r]);
        if (fx->partner != DTYPE_F32) {
            /* dot with our own quantized x: within the Q8 rounding bound of the exact F32 dot */
            int blk = fx->partner == DTYPE_Q8_0 ? 32 : 256;
            double bound = 2e-5 * fx->abs_f32[r];
            for (int b = 0; b < n; b += blk) {
                float amax = 0;
                double wsum = 0;
                for (int i = b; i < b + blk; i++) {
                    amax = fabsf(fx->x[i]) > amax ? fabsf(fx->x[i]) : amax;
                    wsum += fabs((double)ref[i]);
                }
                bound += wsum * amax / 254.0 * 1.01;
            }
            res->dot_own[r] = quant_dot(fx->dt, w, own, n);
            CHECK_NEAR(res->dot_own[r], fx->dot_f32[r], bound);
        } else {
            res->dot_own[r] = res->dot_q[r];
        }
    }
    CHECK_INT(bad_deq, 0);
    free(out);
    free(own);
}


/* Round trip on normal data: relative RMS error bound per type (measured ×~1.5). */
static void check_round_trip(DType dt, double max_rel_rms)
{
    enum { N = 1024 };
    static float x[N], y[N];
    static uint8_t buf[N * 4];
    double err = 0, ref = 0;

    for (int i = 0; i < N; i++)
        x[i] = test_rng_normal() * (i % 97 == 0 ? 4.0f : 1.0f); /* a few outliers, like real weights */
    CHECK_INT(quant_quantize_row(dt, x, buf, N), 0);
    quant_dequant_row(dt, buf, y, N);
    for (int i = 0; i < N; i++) {
        err += (double)(y[i] - x[i]) * (y[i] - x[i]);
        ref += (double)x[i] * x[i];
    }
    double rel = sqrt(err / ref);
    if (getenv("QUANT_VERBOSE") || !(rel <= max_rel_rms))
        fprintf(stderr, "%s round trip: rel rms %.4g (bound %.4g)\n", dtype_name(dt), rel, max_rel_rms);
    CHECK(rel <= max_rel_rms);
    /* the zero row stays zero (no NaN from 0/0 scales) */
    memset(x, 0, sizeof x);
    CHECK_INT(quant_quantize_row(dt, x, buf, N), 0);
    quant_dequant_row(dt, buf, y, N);
    int nonzero = 0;
    for (int i = 0; i < N; i++)
        nonzero += y[i] != 0.0f;
    CHECK_INT(nonzero, 0);
}

int main(void)
{
    static const char *names[] = {"F32", "F16", "BF16", "Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1",
                                  "Q4_K", "Q5_K", "Q6_K"};
    static const struct { DType dt; double bound; } rt[] = {
        {DTYPE_F16, 1e-3}, {DTYPE_BF16, 6e-3}, {DTYPE_Q8_0, 0.012}, {DTYPE_Q4_0, 0.16},
        {DTYPE_Q4_1, 0.13}, {DTYPE_Q5_0, 0.08}, {DTYPE_Q5_1, 0.065}, {DTYPE_Q4_K, 0.13},
        {DTYPE_Q5_K, 0.065}, {DTYPE_Q6_K, 0.04}, {DTYPE_Q8_K, 0.025},
    };
    const int n_types = (int)(sizeof names / sizeof names[0]);
    int levels = 0;

    fprintf(stderr, "cpu: %s\n", cpu_features_string());
    for (int level = ISA_SCALAR; level <= ISA_AVX512; level++)
        if (quant_force_isa(level) == 0)
            levels = level + 1;
    CHECK(levels >= 1);
    CHECK_INT(quant_force_isa(99), -ENOTSUP);

    for (int t = 0; t < n_types; t++) {
        Fixture fx;
        LevelResult res[3];
        if (load_fixture(names[t], &fx) < 0) {
            CHECK(!"fixture readable");
            continue;
        }
        CHECK_INT(quant_vec_dot_type(fx.dt), fx.partner);
        for (int level = 0; level < levels; level++) {
            CHECK_INT(quant_force_isa(level), 0);
            CHECK_INT(quant_isa(), level);
            check_fixture(&fx, level, &res[level]);
            for (int r = 0; r < fx.rows && level > 0; r++) {
                CHECK_NEAR(res[level].dot_f32[r], res[0].dot_f32[r], 2e-5 * fx.abs_f32[r]);
                CHECK_NEAR(res[level].dot_q[r], res[0].dot_q[r], 2e-5 * fx.abs_q8[r]);
                CHECK_NEAR(res[level].dot_own[r], res[0].dot_own[r], 2e-5 * fx.abs_q8[r]);
            }
        }
        fprintf(stderr, "%-5s ok under %d ISA level(s)\n", names[t], levels);
        free_fixture(&fx);
    }
    for (int level = 0; level < levels; level++) {
        CHECK_INT(quant_force_isa(level), 0);
        for (size_t i = 0; i < sizeof rt / sizeof rt[0]; i++)
            check_round_trip(rt[i].dt, rt[i].bound);
    }
    CHECK_INT(quant_quantize_row(DTYPE_Q2_K, NULL, NULL, 256), -ENOTSUP);
    CHECK_INT(quant_quantize_row(DTYPE_Q4_0, NULL, NULL, 33), -EINVAL);
    CHECK_INT(quant_force_isa(-1), 0);
    return test_exit();
}
