/* test-matmul.c — cpu_matmul (y: [N, T] = x: [K, T] · wᵀ) for every weight dtype against a float64
 * reference built from dequantized weight rows (quant_dequant_row, itself checked against gguf-py in
 * test-quant), for odd shapes (N not a multiple of 8/16, T = 1, 3, 17, 64), 1 and 2 threads, every ISA
 * level. Tolerance per output: quantized weights use Q8 activations, so
 *   |y − ref| ≤ Σ_blocks Σ|w|·amax(x_block)/254 + 2e-5·Σ|w·x|   (Q8 rounding bound + F32 accumulation),
 * float weights: 2e-5·Σ|w·x|. Threaded and single-threaded results must agree to 1e-6 relative.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../test-util.h"
#include "matmul.h"
#include "quant.h"
#include "threadpool.h"

static uint64_t rng_state = 0x2545F4914F6CDD1Dull;
static double rng_uniform(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return ((rng_state >> 11) + 0.5) * (1.0 / 9007199254740992.0);
}
static float rng_normal(void)
{
    double u = rng_uniform(), v = rng_uniform();
    return (float)(sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v));
}

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
            src[k] = rng_normal() * 0.05f;
        CHECK_INT(quant_quantize_row(dt, src, wq + (size_t)n * row_bytes, K), 0);
        quant_dequant_row(dt, wq + (size_t)n * row_bytes, wf + n * K, K);
    }
    for (int64_t i = 0; i < K * T; i++)
        xf[i] = rng_normal();
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

int main(void)
{
    static const DType types[] = {DTYPE_F32, DTYPE_F16, DTYPE_BF16, DTYPE_Q8_0, DTYPE_Q4_0, DTYPE_Q4_1,
                                  DTYPE_Q5_0, DTYPE_Q5_1, DTYPE_Q4_K, DTYPE_Q5_K, DTYPE_Q6_K};
    static const int64_t Ts[] = {1, 3, 17, 64};
    ThreadPool *tp = NULL;
    CpuMatmul *mm1 = NULL, *mm2 = NULL;

    CHECK_INT(threadpool_new(2, &tp), 0);
    CHECK_INT(cpu_matmul_new(NULL, &mm1), 0);
    CHECK_INT(cpu_matmul_new(tp, &mm2), 0);
    if (!tp || !mm1 || !mm2)
        return test_exit();
    check_errors(mm1);

    for (int level = 0; level <= ISA_AVX512; level++) {
        if (quant_force_isa(level) < 0)
            continue;
        for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
            for (size_t j = 0; j < sizeof Ts / sizeof Ts[0]; j++) {
                /* the same seed for both thread counts → identical inputs */
                uint64_t seed = rng_state;
                int64_t N = Ts[j] == 64 ? 37 : 45;
                float *y1 = malloc(sizeof(float) * (size_t)(N * Ts[j]));
                run_case(mm1, types[i], 512, N, Ts[j], "1 thread", y1, NULL);
                rng_state = seed;
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
