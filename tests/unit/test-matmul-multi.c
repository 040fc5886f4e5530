/* test-matmul-multi.c — the decode/prefill fast paths of cpu/matmul.c that test-matmul's shapes do not reach:
 *  - cpu_matmul_multi (several weights sharing one quantized x, one pool dispatch) must give exactly the
 *    cpu_matmul result of each weight (bitwise: the same kernels on the same rows);
 *  - the packed Q8P kernels for Q8_0 / Q4_0 / Q4_1 with an odd number of 32-blocks (K = 544, 17 blocks: the
 *    odd tail of the two-blocks-per-vector loop), T = 1, 5, 9, and the repacked-panel GEMM (gemm_p, T ≥ 16)
 *    with K = 1376 (43 blocks: two K chunks, odd), N = 23 (a partial 16-row panel), T = 16, 23, 64 (token
 *    tails of 7), against quant_dot on Q8_0-quantized activations (the same numbers in another layout):
 *    |y − ref| ≤ 1e-5·Σ|w·x| + 1e-6 (F32 sum order);
 *  - the repacked-panel GEMM for K-quants (Q4_K, Q5_K, Q6_K; T ≥ 16, Q8_0-precision activations): K = 1280
 *    (5 super-blocks: two K chunks), N = 23, T = 16, 23, 64, against Σ dequant(w)·dequant(Q8_0(x)) in double,
 *    |y − ref| ≤ 1e-5·Σ|w·x| + 1e-6;
 *  - argument errors (n out of range, mixed dtypes, K mismatch).
 */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../test-util.h"
#include "cpu/matmul.h" /* private to the CPU backend */
#include "quant.h"
#include "threadpool.h"

static uint64_t g_rng = 0x9E3779B97F4A7C15ull;
static float frand(void)
{
    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 7;
    g_rng ^= g_rng << 17;
    return (float)((double)(g_rng >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

static void *make_w(DType dt, int64_t K, int64_t N, size_t *row)
{
    float *src = malloc(sizeof(float) * (size_t)K);
    uint8_t *w;
    if (dtype_row_bytes(dt, K, row) < 0 || !src)
        return NULL;
    w = malloc(*row * (size_t)N);
    for (int64_t n = 0; w && n < N; n++) {
        for (int64_t k = 0; k < K; k++)
            src[k] = frand() * 0.1f + (n % 3 == 0 ? 0.02f : 0.0f); /* some rows with a mean (Q4_1 mins) */
        CHECK_INT(quant_quantize_row(dt, src, w + (size_t)n * *row, K), 0);
    }
    free(src);
    return w;
}

/* Packed kernels (32-block types: against quant_dot on the Q8_0 row of the same activations) and the
 * K-quants' panel GEMM (q8_0_ref: against Σ dequant(w)·dequant(Q8_0(x)) in double, T ≥ 16 only). */
static void check_packed(CpuMatmul *mm, DType dt, int64_t K, int q8_0_ref)
{
    enum { KMAX = 1376 };
    static const int64_t all_T[] = {1, 5, 9, 16, 23, 64};
    const int64_t N = 23;
    size_t row, xrow;
    void *w = make_w(dt, K, N, &row);
    DType xdt = q8_0_ref ? DTYPE_Q8_0 : quant_vec_dot_type(dt);
    static float wf[KMAX], xd[KMAX];
    CHECK(w != NULL && K <= KMAX);
    CHECK_INT(dtype_row_bytes(xdt, K, &xrow), 0);
    for (size_t ti = q8_0_ref ? 3 : 0; w && K <= KMAX && ti < sizeof all_T / sizeof all_T[0]; ti++) {
        int64_t T = all_T[ti];
        float *x = malloc(sizeof(float) * (size_t)(K * T)), *y = malloc(sizeof(float) * (size_t)(N * T));
        uint8_t *xq = malloc(xrow);
        Tensor tw, tx, ty;
        for (int64_t i = 0; i < K * T; i++)
            x[i] = frand() * (i % 97 == 0 ? 8.0f : 1.0f);
        tensor_init(&tw, dt, 2, (int64_t[]){K, N}, w);
        tensor_init(&tx, DTYPE_F32, 2, (int64_t[]){K, T}, x);
        tensor_init(&ty, DTYPE_F32, 2, (int64_t[]){N, T}, y);
        CHECK_INT(cpu_matmul(mm, &ty, &tw, &tx), 0);
        for (int64_t t = 0; t < T; t++) {
            CHECK_INT(quant_quantize_row(xdt, x + t * K, xq, K), 0);
            if (q8_0_ref)
                quant_dequant_row(DTYPE_Q8_0, xq, xd, K);
            for (int64_t n = 0; n < N; n++) {
                const uint8_t *wr = (const uint8_t *)w + (size_t)n * row;
                double ref = q8_0_ref ? 0.0 : quant_dot(dt, wr, xq, K), mag = 0;
                quant_dequant_row(dt, wr, wf, K);
                for (int64_t k = 0; k < K; k++) {
                    ref += q8_0_ref ? (double)wf[k] * xd[k] : 0.0;
                    mag += fabs((double)wf[k] * x[t * K + k]);
                }
                CHECK_NEAR(y[t * N + n], ref, 1e-5 * mag + 1e-6);
            }
        }
        free(x);
        free(y);
        free(xq);
    }
    free(w);
}

/* multi == one cpu_matmul per weight, bitwise, for T = 1 and T = 12 */
static void check_multi(CpuMatmul *mm, DType dt)
{
    const int64_t K = 256, N[3] = {40, 8, 8};
    size_t row;
    void *w[3];
    for (int i = 0; i < 3; i++)
        w[i] = make_w(dt, K, N[i], &row);
    for (int64_t T = 1; T <= 12; T += 11) {
        float *x = malloc(sizeof(float) * (size_t)(K * T));
        float *ya[3], *yb[3];
        Tensor tw[3], ty[3], tx;
        Tensor *yp[3];
        const Tensor *wp[3];
        for (int64_t i = 0; i < K * T; i++)
            x[i] = frand();
        tensor_init(&tx, DTYPE_F32, 2, (int64_t[]){K, T}, x);
        for (int i = 0; i < 3; i++) {
            ya[i] = malloc(sizeof(float) * (size_t)(N[i] * T));
            yb[i] = malloc(sizeof(float) * (size_t)(N[i] * T));
            tensor_init(&tw[i], dt, 2, (int64_t[]){K, N[i]}, w[i]);
            tensor_init(&ty[i], DTYPE_F32, 2, (int64_t[]){N[i], T}, ya[i]);
            CHECK_INT(cpu_matmul(mm, &ty[i], &tw[i], &tx), 0);
            ty[i].data = yb[i];
            yp[i] = &ty[i];
            wp[i] = &tw[i];
        }
        CHECK_INT(cpu_matmul_multi(mm, 3, yp, wp, &tx), 0);
        for (int i = 0; i < 3; i++)
            CHECK(memcmp(ya[i], yb[i], sizeof(float) * (size_t)(N[i] * T)) == 0);
        /* errors: n out of range, mixed dtypes, K mismatch */
        CHECK_INT(cpu_matmul_multi(mm, 0, yp, wp, &tx), -EINVAL);
        CHECK_INT(cpu_matmul_multi(mm, 5, yp, wp, &tx), -EINVAL);
        Tensor other = tw[1];
        other.dtype = dt == DTYPE_F32 ? DTYPE_F16 : DTYPE_F32;
        wp[1] = &other;
        CHECK_INT(cpu_matmul_multi(mm, 3, yp, wp, &tx), -EINVAL);
        other = tw[1];
        other.ne[0] = K / 2;
        CHECK_INT(cpu_matmul_multi(mm, 3, yp, wp, &tx), -EINVAL);
        for (int i = 0; i < 3; i++) {
            free(ya[i]);
            free(yb[i]);
        }
        free(x);
    }
    for (int i = 0; i < 3; i++)
        free(w[i]);
}

int main(void)
{
    static const DType packed[] = {DTYPE_Q8_0, DTYPE_Q4_0, DTYPE_Q4_1};
    static const DType multi[] = {DTYPE_Q4_1, DTYPE_Q8_0, DTYPE_Q4_K, DTYPE_F16};
    static const DType kquants[] = {DTYPE_Q4_K, DTYPE_Q5_K, DTYPE_Q6_K};
    ThreadPool *tp = NULL;
    CpuMatmul *mm1 = NULL, *mm2 = NULL;

    CHECK_INT(threadpool_new(2, &tp), 0);
    CHECK_INT(cpu_matmul_new(NULL, &mm1), 0);
    CHECK_INT(cpu_matmul_new(tp, &mm2), 0);
    if (!tp || !mm1 || !mm2)
        return test_exit();
    for (int level = 0; level <= ISA_AVX512; level++) {
        if (quant_force_isa(level) < 0)
            continue;
        for (size_t i = 0; i < sizeof packed / sizeof packed[0]; i++) {
            for (int64_t K = 544; K <= 1376; K += 832) {
                check_packed(mm1, packed[i], K, 0);
                check_packed(mm2, packed[i], K, 0);
            }
        }
        for (size_t i = 0; i < sizeof multi / sizeof multi[0]; i++)
            check_multi(mm2, multi[i]);
        if (level == ISA_AVX512)
            for (size_t i = 0; i < sizeof kquants / sizeof kquants[0]; i++) {
                check_packed(mm1, kquants[i], 1280, 1);
                check_packed(mm2, kquants[i], 1280, 1);
            }
    }
    quant_force_isa(-1);
    cpu_matmul_free(mm1);
    cpu_matmul_free(mm2);
    threadpool_free(tp);
    return test_exit();
}
