/* test-matmul.c — cpu_matmul (y: [N, T] = x: [K, T] · wᵀ) for every weight dtype against a float64
 * reference built from dequantized weight rows (quant_dequant_row, itself checked against gguf-py in
 * test-quant), for odd shapes (N not a multiple of 8/16, T = 1, 3, 17, 64), 1 and 2 threads, every ISA
 * level. Tolerance per output: quantized weights use Q8 activations, so
 *   |y − ref| ≤ Σ_blocks Σ|w|·amax(x_block)/254 + 2e-5·Σ|w·x|   (Q8 rounding bound + F32 accumulation),
 * float weights: 2e-5·Σ|w·x|. Threaded and single-threaded results must agree to 1e-6 relative.
 * T = 8 and 13 (fewer than the panel GEMM's minimum) reach the per-ISA K-quant tile kernels through matmul.
 * check_k_tiles() also calls each ISA level's K-quant tile kernel directly on raw random blocks (every code
 * and scale value, including all-maximum codes against ±127 activations: the int16 limits of the AVX-512
 * tiles) for every nr ≤ 19 / nt ≤ 21 shape class, against the scalar quant_dot of the same Q8_K rows:
 * |y − ref| ≤ 1e-5·Σ_k (|w_k| + |dmin·m_k|)·|x_k| (the integer sums are exact; F32 rounding only), and
 * entries outside the nr × nt tile stay untouched.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../test-util.h"
#include "cpu/matmul.h" /* private to the CPU backend */
#include "quant-internal.h"
#include "quant.h"
#include "threadpool.h"


static int run_case(CpuMatmul *mm, DType dt, int64_t K, int64_t N, int64_t T, const char *what, float *keep,
                    const float *prev)
{
    size_t row_bytes;
    Tensor w, x, y;
    int failures_before = g_test_failures, rc;

    if (dtype_row_bytes(dt, K, &row_bytes) < 0)
        return -1;
    uint8_t *wq = malloc(row_bytes * (size_t)N);
    float *wf = malloc(sizeof(float) * (size_t)(K * N)), *src = malloc(sizeof(float) * (size_t)K);
    float *xf = malloc(sizeof(float) * (size_t)(K * T)), *yf = malloc(sizeof(float) * (size_t)(N * T));
    DType xdt = quant_vec_dot_type(dt);
    int blk = xdt == DTYPE_Q8_0 ? 32 : xdt == DTYPE_Q8_K ? 256 : 0;

    for (int64_t n = 0; n < N; n++) {
        for (int64_t k = 0; k < K; k++)
            src[k] = test_rng_normal() * 0.05f;
        CHECK_INT(quant_quantize_row(dt, src, wq + (size_t)n * row_bytes, K), 0);
        quant_dequant_row(dt, wq + (size_t)n * row_bytes, wf + n * K, K);
    }
    for (int64_t i = 0; i < K * T; i++)
        xf[i] = test_rng_normal();
    for (int64_t i = 0; i < N * T; i++)
        yf[i] = NAN;
    CHECK_INT(tensor_init(&w, dt, 2, (int64_t[]){K, N}, wq), 0);
    CHECK_INT(tensor_init(&x, DTYPE_F32, 2, (int64_t[]){K, T}, xf), 0);
    CHECK_INT(tensor_init(&y, DTYPE_F32, 2, (int64_t[]){N, T}, yf), 0);
    rc = cpu_matmul(mm, &y, &w, &x);
    CHECK_INT(rc, 0);

    for (int64_t t = 0; t < T; t++)
        for (int64_t n = 0; n < N; n++) {
            const float *wr = wf + n * K, *xr = xf + t * K;
            double ref = 0, abs_sum = 0, qbound = 0;
            for (int64_t k = 0; k < K; k++) {
                ref += (double)wr[k] * xr[k];
                abs_sum += fabs((double)wr[k] * xr[k]);
            }
            for (int64_t b = 0; blk && b < K; b += blk) {
                double wsum = 0, amax = 0;
                for (int64_t k = b; k < b + blk; k++) {
                    wsum += fabs((double)wr[k]);
                    amax = fabs((double)xr[k]) > amax ? fabs((double)xr[k]) : amax;
                }
                qbound += wsum * amax / 254.0 * 1.01;
            }
            float got = yf[t * N + n];
            if (!(fabs(got - ref) <= qbound + 2e-5 * abs_sum)) {
                if (g_test_failures == failures_before)
                    fprintf(stderr, "%s %s K=%lld N=%lld T=%lld: y[%lld][%lld] = %.7g, ref %.7g (tol %.3g)\n",
                            dtype_name(dt), what, (long long)K, (long long)N, (long long)T, (long long)t,
                            (long long)n, got, ref, qbound + 2e-5 * abs_sum);
                g_test_failures++;
            }
            g_test_checks++;
            if (prev) /* same inputs in another configuration: results agree */
                CHECK_NEAR(got, prev[t * N + n], 1e-6 * abs_sum + 1e-30);
        }
    if (keep)
        memcpy(keep, yf, sizeof(float) * (size_t)(N * T));
    free(wq);
    free(wf);
    free(src);
    free(xf);
    free(yf);
    return g_test_failures == failures_before ? 0 : -1;
}

static void check_errors(CpuMatmul *mm)
{
    float wbuf[64], xbuf[8], ybuf[16];
    Tensor w, x, y;
    CHECK_INT(tensor_init(&w, DTYPE_F32, 2, (int64_t[]){8, 8}, wbuf), 0);
    CHECK_INT(tensor_init(&x, DTYPE_F32, 2, (int64_t[]){4, 2}, xbuf), 0);
    CHECK_INT(tensor_init(&y, DTYPE_F32, 2, (int64_t[]){8, 2}, ybuf), 0);
    CHECK_INT(cpu_matmul(mm, &y, &w, &x), -EINVAL); /* K mismatch */
    CHECK_INT(tensor_init(&x, DTYPE_F32, 2, (int64_t[]){8, 1}, xbuf), 0);
    CHECK_INT(cpu_matmul(mm, &y, &w, &x), -EINVAL); /* T mismatch */
    w.dtype = DTYPE_Q2_K;
    CHECK_INT(cpu_matmul(mm, &y, &w, &x), -ENOTSUP);
    CHECK_INT(cpu_matmul(NULL, &y, &w, &x), -EINVAL);
}

/* Raw K-quant blocks: random bytes with valid positive F16 d / dmin; rows 0–1 all codes and scales at
 * their maximum (Q6_K scales ±127/−128). */
static void k_random_rows(DType dt, uint8_t *w, size_t row_bytes, int nr)
{
    size_t bsz = dt == DTYPE_Q4_K ? sizeof(BlockQ4_K) : dt == DTYPE_Q5_K ? sizeof(BlockQ5_K) : sizeof(BlockQ6_K);
    for (int r = 0; r < nr; r++)
        for (size_t o = 0; o < row_bytes; o += bsz) {
            uint8_t *b = w + (size_t)r * row_bytes + o;
            for (size_t i = 0; i < bsz; i++)
                b[i] = r < 2 ? 0xFF : (uint8_t)(test_rng_uniform() * 256.0);
            uint16_t d = (uint16_t)(0x1C00 | (int)(test_rng_uniform() * 0x7FF)), dmin = (uint16_t)(0x1800 | (int)(test_rng_uniform() * 0x7FF));
            if (dt == DTYPE_Q6_K) {
                BlockQ6_K *q = (BlockQ6_K *)b;
                if (r < 2)
                    for (int g = 0; g < 16; g++)
                        q->scales[g] = (int8_t)(g & 1 ? 127 : -128);
                memcpy(&q->d, &d, 2);
            } else {
                memcpy(b, &d, 2); /* Q4_K / Q5_K: d, dmin first */
                memcpy(b + 2, &dmin, 2);
            }
        }
}

/* Q8_K rows: random codes, tokens 0 / 1 all +127 / −127; bsums consistent. */
static void k_random_act(BlockQ8_K *x, int64_t nsb, int nt)
{
    for (int t = 0; t < nt; t++)
        for (int64_t i = 0; i < nsb; i++) {
            BlockQ8_K *b = &x[t * nsb + i];
            b->d = (float)(0.01 + test_rng_uniform() * 0.05);
            for (int k = 0; k < QKK; k++)
                b->qs[k] = (int8_t)(t == 0 ? 127 : t == 1 ? -127 : (int)(test_rng_uniform() * 255.0) - 127);
            for (int g = 0; g < QKK / 16; g++) {
                int sum = 0;
                for (int k = 0; k < 16; k++)
                    sum += b->qs[16 * g + k];
                b->bsums[g] = (int16_t)sum;
            }
        }
}

static void check_k_tiles(void)
{
    enum { K = 768, NSB = K / QKK, NR = 19, NT = 21, YS = NR + 3 };
    static const DType types[] = {DTYPE_Q4_K, DTYPE_Q5_K, DTYPE_Q6_K};
    static const int nrs[] = {1, 2, 3, 16, 19}, nts[] = {1, 2, 3, 4, 7, 8, 9, 16, 21};
    for (size_t ti = 0; ti < sizeof types / sizeof types[0]; ti++) {
        DType dt = types[ti];
        size_t rb;
        CHECK_INT(dtype_row_bytes(dt, K, &rb), 0);
        uint8_t *w = malloc(rb * NR), *wz = malloc(rb);
        BlockQ8_K *x = malloc(sizeof(BlockQ8_K) * NSB * NT);
        float *ref = malloc(sizeof(float) * NR * NT), *tol = malloc(sizeof(float) * NR * NT);
        float *wf = malloc(sizeof(float) * K), *mf = malloc(sizeof(float) * K);
        float *y = malloc(sizeof(float) * YS * NT);
        k_random_rows(dt, w, rb, NR);
        k_random_act(x, NSB, NT);
        CHECK_INT(quant_force_isa(0), 0);
        for (int r = 0; r < NR; r++) {
            quant_dequant_row(dt, w + (size_t)r * rb, wf, K);
            memcpy(wz, w + (size_t)r * rb, rb); /* codes zeroed: −dmin·m per element (Q6_K: −32·d·sc) */
            for (int64_t i = 0; dt != DTYPE_Q6_K && i < NSB; i++) {
                size_t bsz = rb / NSB, code0 = 4 + 12;
                memset(wz + (size_t)i * bsz + code0, 0, bsz - code0);
            }
            quant_dequant_row(dt, wz, mf, K);
            for (int t = 0; t < NT; t++) {
                double a = 0;
                for (int k = 0; k < K; k++)
                    a += (fabs((double)wf[k]) + (dt == DTYPE_Q6_K ? 0 : fabs((double)mf[k]))) *
                         fabs((double)x[t * NSB + k / QKK].d * x[t * NSB + k / QKK].qs[k % QKK]);
                ref[t * NR + r] = quant_dot(dt, w + (size_t)r * rb, &x[t * NSB], K);
                tol[t * NR + r] = (float)(1e-5 * a);
            }
        }
        for (int level = 1; level <= ISA_AVX512; level++) {
            if (quant_force_isa(level) < 0 || !quant_kernels()->tile[dt])
                continue;
            QuantTileFn tile = quant_kernels()->tile[dt];
            for (size_t a = 0; a < sizeof nrs / sizeof nrs[0]; a++)
                for (size_t b = 0; b < sizeof nts / sizeof nts[0]; b++) {
                    int nr = nrs[a], nt = nts[b], bad = 0;
                    for (int i = 0; i < YS * NT; i++)
                        y[i] = NAN;
                    tile(w, rb, x, sizeof(BlockQ8_K) * NSB, y, YS, nr, nt, K);
                    for (int t = 0; t < NT; t++)
                        for (int r = 0; r < YS; r++) {
                            float got = y[t * YS + r];
                            int inside = r < nr && t < nt;
                            int ok = inside ? fabsf(got - ref[t * NR + r]) <= tol[t * NR + r] : isnan(got);
                            g_test_checks++;
                            if (!ok && !bad++) {
                                g_test_failures++;
                                fprintf(stderr, "%s tile level %d nr=%d nt=%d: y[%d][%d] = %.8g, ref %.8g (tol %.3g)\n",
                                        dtype_name(dt), level, nr, nt, t, r, got, inside ? ref[t * NR + r] : NAN,
                                        inside ? tol[t * NR + r] : 0.0f);
                            }
                        }
                }
        }
        quant_force_isa(-1);
        free(w);
        free(wz);
        free(x);
        free(ref);
        free(tol);
        free(wf);
        free(mf);
        free(y);
    }
}

int main(void)
{
    static const DType types[] = {DTYPE_F32, DTYPE_F16, DTYPE_BF16, DTYPE_Q8_0, DTYPE_Q4_0, DTYPE_Q4_1,
                                  DTYPE_Q5_0, DTYPE_Q5_1, DTYPE_Q4_K, DTYPE_Q5_K, DTYPE_Q6_K};
    static const int64_t Ts[] = {1, 3, 8, 13, 17, 64};
    ThreadPool *tp = NULL;
    CpuMatmul *mm1 = NULL, *mm2 = NULL;

    *test_rng_state() = 0x2545F4914F6CDD1Dull; /* the inputs these tolerances were set on */
    CHECK_INT(threadpool_new(2, &tp), 0);
    CHECK_INT(cpu_matmul_new(NULL, &mm1), 0);
    CHECK_INT(cpu_matmul_new(tp, &mm2), 0);
    if (!tp || !mm1 || !mm2)
        return test_exit();
    check_errors(mm1);
    check_k_tiles();

    for (int level = 0; level <= ISA_AVX512; level++) {
        if (quant_force_isa(level) < 0)
            continue;
        for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
            for (size_t j = 0; j < sizeof Ts / sizeof Ts[0]; j++) {
                /* the same seed for both thread counts → identical inputs */
                uint64_t seed = *test_rng_state();
                int64_t N = Ts[j] == 64 ? 37 : 45;
                float *y1 = malloc(sizeof(float) * (size_t)(N * Ts[j]));
                run_case(mm1, types[i], 512, N, Ts[j], "1 thread", y1, NULL);
                *test_rng_state() = seed;
                run_case(mm2, types[i], 512, N, Ts[j], "2 threads", NULL, y1);
                free(y1);
            }
        fprintf(stderr, "isa level %d done\n", level);
    }
    quant_force_isa(-1);
    cpu_matmul_free(mm1);
    cpu_matmul_free(mm2);
    cpu_matmul_free(NULL);
    threadpool_free(tp);
    return test_exit();
}
