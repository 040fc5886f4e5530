/* test-backend-parity.c — every CUDA op against the CPU backend (the oracle) on the same inputs.
 *
 * Exit 77 when backend_cuda_new() reports -ENODEV (no GPU, no driver, or a build without CUDA).
 * Inputs are seeded pseudo-random; each case compares the two outputs by NMSE = Σ(gpu − cpu)² / Σ cpu².
 * Limits (why):
 *   exact ops (im2col, get_rows of float tables, F16/BF16 bit copies)               0
 *   F32 elementwise, norms, softmax, RoPE, attention, F32 matmul                  1e-9 (summation order,
 *                                                                                      libm vs CUDA ulps)
 *   F16 / BF16 weights                                                            1e-5 / 1e-4 (the GPU GEMM
 *                                                                                      rounds activations)
 *   quantized weights                                                             2e-3 (the CPU quantizes
 *                 activations to Q8_0/Q8_K: ~1e-5 NMSE; a layout bug gives ~1)
 *   F32 → Q8_0 copy (dequantized)                                                 1e-9 (ties may round apart)
 * backend_matmul_n (the CPU's matmul_multi op vs the other backend's op or its fallback) has the limits of
 * matmul for each weight's dtype.
 * A case the CPU backend rejects (-ENOTSUP, e.g. a dtype it cannot quantize) is reported and skipped.
 * MYNA_PARITY_SELFTEST=1 runs the harness CPU-vs-CPU (1 thread vs all): meson test 'backend-parity-selftest'.
 */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "quant.h"
#include "test-util.h"

static Backend *g_cpu, *g_gpu;
static uint64_t g_rng = 0x9E3779B97F4A7C15ull;

static float frand(void) /* uniform in [-1, 1) */
{
    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 7;
    g_rng ^= g_rng << 17;
    return (float)((g_rng >> 40) & 0xFFFFFF) / 8388608.0f - 1.0f;
}

static float *rand_vec(int64_t n, float amp)
{
    float *v = malloc((size_t)n * sizeof(float));
    for (int64_t i = 0; i < n; i++)
        v[i] = frand() * amp;
    return v;
}

/* A tensor on both backends with identical contents. */
typedef struct {
    Tensor c, g;
} Pair;

static int pair_new(Pair *p, DType dt, int n_dims, const int64_t *ne, const void *host)
{
    int r;
    memset(p, 0, sizeof(*p));
    if ((r = tensor_init(&p->c, dt, n_dims, ne, NULL)) < 0)
        return r;
    p->g = p->c;
    if ((r = g_cpu->ops->tensor_alloc(g_cpu, &p->c)) < 0 || (r = g_gpu->ops->tensor_alloc(g_gpu, &p->g)) < 0)
        return r;
    if (host) {
        size_t n = tensor_nbytes(&p->c);
        if ((r = g_cpu->ops->tensor_set(g_cpu, &p->c, host, 0, n)) < 0 ||
            (r = g_gpu->ops->tensor_set(g_gpu, &p->g, host, 0, n)) < 0)
            return r;
    }
    return 0;
}

static void pair_free(Pair *p)
{
    g_cpu->ops->tensor_free(g_cpu, &p->c);
    g_gpu->ops->tensor_free(g_gpu, &p->g);
}

static Pair pair_f32(int n_dims, const int64_t *ne, const float *host)
{
    Pair p;
    CHECK_INT(pair_new(&p, DTYPE_F32, n_dims, ne, host), 0);
    return p;
}

/* Compare the F32 contents of a pair; returns NMSE, prints the case on failure. */
static double pair_compare(const Pair *p, const char *what, double limit)
{
    int64_t n = tensor_nelements(&p->c);
    float *a = malloc((size_t)n * 4), *b = malloc((size_t)n * 4);
    double num = 0, den = 0, nmse;
    int bad = 0;

    CHECK_INT(g_gpu->ops->synchronize(g_gpu), 0);
    CHECK_INT(g_cpu->ops->tensor_get(g_cpu, &p->c, a, 0, (size_t)n * 4), 0);
    CHECK_INT(g_gpu->ops->tensor_get(g_gpu, &p->g, b, 0, (size_t)n * 4), 0);
    for (int64_t i = 0; i < n; i++) {
        double d = (double)b[i] - (double)a[i];
        if (isnan(a[i]) != isnan(b[i]))
            bad = 1;
        if (!isnan(a[i]) && !isnan(b[i])) {
            num += d * d;
            den += (double)a[i] * a[i];
        }
    }
    nmse = den > 0 ? num / den : num;
    g_test_checks++;
    if (bad || !(nmse <= limit)) {
        g_test_failures++;
        fprintf(stderr, "FAIL %s: nmse %.3g > %.3g%s (first: cpu %g gpu %g)\n", what, nmse, limit,
                bad ? ", NaN mismatch" : "", n ? a[0] : 0.0, n ? b[0] : 0.0);
    } else if (getenv("MYNA_TEST_VERBOSE")) {
        fprintf(stderr, "ok   %-48s nmse %.3g\n", what, nmse);
    }
    free(a);
    free(b);
    return nmse;
}

/* Both backends must agree on success; a CPU rejection skips the case. Returns 1 if outputs should be
 * compared. */
static int both_ok(int rc_cpu, int rc_gpu, const char *what)
{
    if (rc_cpu == -ENOTSUP) {
        fprintf(stderr, "skip %s: the CPU backend does not support it\n", what);
        return 0;
    }
    CHECK_INT(rc_cpu, 0);
    if (rc_gpu != 0)
        fprintf(stderr, "FAIL %s: gpu returned %d\n", what, rc_gpu);
    CHECK_INT(rc_gpu, 0);
    return rc_cpu == 0 && rc_gpu == 0;
}

#define BOTH(expr_c, expr_g, what) both_ok((expr_c), (expr_g), (what))

/* ---- matmul and get_rows over every weight dtype --------------------------------------------------- */

static const DType k_wtypes[] = {DTYPE_F32, DTYPE_F16, DTYPE_BF16, DTYPE_Q8_0, DTYPE_Q4_0, DTYPE_Q4_1,
                                 DTYPE_Q5_0, DTYPE_Q5_1, DTYPE_Q4_K, DTYPE_Q5_K, DTYPE_Q6_K};

static double wtype_limit(DType dt)
{
    return dt == DTYPE_F32 ? 1e-9 : dt == DTYPE_F16 ? 1e-5 : dt == DTYPE_BF16 ? 1e-4 : 2e-3;
}

/* Quantize a random [K, N] matrix into dt; NULL if the quantizer does not produce dt. */
static void *make_weight(DType dt, int64_t K, int64_t N, size_t *ret_row)
{
    size_t row;
    float *src = rand_vec(K * N, 1.0f);
    uint8_t *q;
    if (dtype_row_bytes(dt, K, &row) < 0) {
        free(src);
        return NULL;
    }
    q = malloc(row * (size_t)N);
    for (int64_t n = 0; n < N; n++) {
        if (quant_quantize_row(dt, src + n * K, q + (size_t)n * row, K) < 0) {
            free(src);
            free(q);
            return NULL;
        }
    }
    free(src);
    *ret_row = row;
    return q;
}

static void test_matmul_case(DType dt, int64_t K, int64_t N, int64_t T)
{
    char what[96];
    size_t row;
    void *wq = make_weight(dt, K, N, &row);
    snprintf(what, sizeof(what), "matmul %s K=%lld N=%lld T=%lld", dtype_name(dt), (long long)K, (long long)N,
             (long long)T);
    if (!wq) {
        fprintf(stderr, "skip %s: cannot quantize to %s\n", what, dtype_name(dt));
        return;
    }
    Pair w, x, y;
    float *xs = rand_vec(K * T, 1.0f);
    CHECK_INT(pair_new(&w, dt, 2, (int64_t[]){K, N}, wq), 0);
    x = pair_f32(2, (int64_t[]){K, T}, xs);
    y = pair_f32(2, (int64_t[]){N, T}, NULL);
    if (BOTH(backend_matmul(g_cpu, &y.c, &w.c, &x.c), backend_matmul(g_gpu, &y.g, &w.g, &x.g), what))
        pair_compare(&y, what, wtype_limit(dt));
    pair_free(&w);
    pair_free(&x);
    pair_free(&y);
    free(wq);
    free(xs);
}

static void test_matmul(void)
{
    static const int64_t Ts[] = {1, 3, 8, 9, 64};
    for (size_t i = 0; i < sizeof(k_wtypes) / sizeof(k_wtypes[0]); i++) {
        DType dt = k_wtypes[i];
        int blk = dtype_info(dt)->block;
        for (size_t t = 0; t < sizeof(Ts) / sizeof(Ts[0]); t++) {
            if (blk == 1) {
                test_matmul_case(dt, 64, 37, Ts[t]);
                test_matmul_case(dt, 67, 5, Ts[t]); /* odd K: per-element GEMV, unaligned rows */
            } else if (blk == 32) {
                test_matmul_case(dt, 96, 37, Ts[t]);
            } else {
                test_matmul_case(dt, 512, 37, Ts[t]);
            }
        }
    }
    test_matmul_case(DTYPE_Q4_K, 2048, 300, 1); /* a decode-sized GEMV */
    test_matmul_case(DTYPE_Q8_0, 2048, 300, 100);
}

/* backend_matmul_n: the CPU's matmul_multi op against the other backend's (or the one-matmul-per-weight
 * fallback), three weights sharing K (Q/K/V-like widths), then a mixed-dtype set (fallback on both). */
static void test_matmul_n_case(const DType *dts, int64_t K, int64_t T)
{
    static const int64_t Ns[3] = {64, 32, 40};
    Pair w[3], x, y[3];
    Tensor *yc[3], *yg[3];
    const Tensor *wc[3], *wg[3];
    void *wq[3] = {0};
    size_t row;
    char what[96];
    int ok = 1;

    snprintf(what, sizeof(what), "matmul_n %s/%s/%s K=%lld T=%lld", dtype_name(dts[0]), dtype_name(dts[1]),
             dtype_name(dts[2]), (long long)K, (long long)T);
    for (int i = 0; i < 3; i++)
        ok &= (wq[i] = make_weight(dts[i], K, Ns[i], &row)) != NULL;
    if (!ok) {
        fprintf(stderr, "skip %s: cannot quantize\n", what);
        for (int i = 0; i < 3; i++)
            free(wq[i]);
        return;
    }
    float *xs = rand_vec(K * T, 1.0f);
    x = pair_f32(2, (int64_t[]){K, T}, xs);
    for (int i = 0; i < 3; i++) {
        CHECK_INT(pair_new(&w[i], dts[i], 2, (int64_t[]){K, Ns[i]}, wq[i]), 0);
        y[i] = pair_f32(2, (int64_t[]){Ns[i], T}, NULL);
        yc[i] = &y[i].c, yg[i] = &y[i].g, wc[i] = &w[i].c, wg[i] = &w[i].g;
    }
    if (BOTH(backend_matmul_n(g_cpu, 3, yc, wc, &x.c), backend_matmul_n(g_gpu, 3, yg, wg, &x.g), what))
        for (int i = 0; i < 3; i++) {
            double lim = wtype_limit(dts[i]);
            pair_compare(&y[i], what, lim);
        }
    for (int i = 0; i < 3; i++) {
        pair_free(&w[i]);
        pair_free(&y[i]);
        free(wq[i]);
    }
    pair_free(&x);
    free(xs);
}

static void test_matmul_n(void)
{
    static const DType same[][3] = {{DTYPE_F16, DTYPE_F16, DTYPE_F16}, {DTYPE_Q8_0, DTYPE_Q8_0, DTYPE_Q8_0},
                                    {DTYPE_Q4_K, DTYPE_Q4_K, DTYPE_Q4_K}, {DTYPE_Q8_0, DTYPE_F16, DTYPE_Q6_K}};
    for (size_t i = 0; i < sizeof(same) / sizeof(same[0]); i++) {
        test_matmul_n_case(same[i], 256, 1);
        test_matmul_n_case(same[i], 256, 9);
    }
}

static void test_get_rows(void)
{
    static const int32_t ids[] = {3, 0, 9, 3, 12};
    for (size_t i = 0; i < sizeof(k_wtypes) / sizeof(k_wtypes[0]); i++) {
        DType dt = k_wtypes[i];
        int blk = dtype_info(dt)->block;
        int64_t C = blk == 1 ? 67 : blk == 32 ? 96 : 256, V = 13;
        char what[64];
        size_t row;
        void *tq = make_weight(dt, C, V, &row);
        snprintf(what, sizeof(what), "get_rows %s C=%lld", dtype_name(dt), (long long)C);
        if (!tq) {
            fprintf(stderr, "skip %s: cannot quantize\n", what);
            continue;
        }
        Pair t, y;
        CHECK_INT(pair_new(&t, dt, 2, (int64_t[]){C, V}, tq), 0);
        y = pair_f32(2, (int64_t[]){C, 5}, NULL);
        if (BOTH(backend_get_rows(g_cpu, &y.c, &t.c, ids, 5), backend_get_rows(g_gpu, &y.g, &t.g, ids, 5), what))
            pair_compare(&y, what, blk == 1 ? 0.0 : 1e-12);
        /* An out-of-range id is the caller's error on both backends. */
        const int32_t bad = (int32_t)V;
        Tensor y1c = tensor_rows(&y.c, 0, 1), y1g = tensor_rows(&y.g, 0, 1);
        CHECK_INT(backend_get_rows(g_cpu, &y1c, &t.c, &bad, 1), -EINVAL);
        CHECK_INT(backend_get_rows(g_gpu, &y1g, &t.g, &bad, 1), -EINVAL);
        pair_free(&t);
        pair_free(&y);
        free(tq);
    }
}

/* ---- norms, softmax, activations, elementwise ------------------------------------------------------ */

static void test_norms(void)
{
    static const int64_t Cs[] = {64, 1000, 4097};
    for (size_t i = 0; i < 3; i++) {
        int64_t C = Cs[i], R = 3;
        float *xs = rand_vec(C * R, 3.0f), *ws = rand_vec(C, 1.0f), *bs = rand_vec(C, 1.0f);
        Pair x = pair_f32(2, (int64_t[]){C, R}, xs), w = pair_f32(1, (int64_t[]){C}, ws);
        Pair b = pair_f32(1, (int64_t[]){C}, bs), y = pair_f32(2, (int64_t[]){C, R}, NULL);
        char what[64];
        snprintf(what, sizeof(what), "rmsnorm C=%lld", (long long)C);
        if (BOTH(backend_rmsnorm(g_cpu, &y.c, &x.c, &w.c, 1e-5f), backend_rmsnorm(g_gpu, &y.g, &x.g, &w.g, 1e-5f), what))
            pair_compare(&y, what, 1e-9);
        snprintf(what, sizeof(what), "rmsnorm C=%lld no weight", (long long)C);
        if (BOTH(backend_rmsnorm(g_cpu, &y.c, &x.c, NULL, 1e-6f), backend_rmsnorm(g_gpu, &y.g, &x.g, NULL, 1e-6f), what))
            pair_compare(&y, what, 1e-9);
        snprintf(what, sizeof(what), "layernorm C=%lld", (long long)C);
        if (BOTH(backend_layernorm(g_cpu, &y.c, &x.c, &w.c, &b.c, 1e-5f),
                 backend_layernorm(g_gpu, &y.g, &x.g, &w.g, &b.g, 1e-5f), what))
            pair_compare(&y, what, 1e-9);
        snprintf(what, sizeof(what), "layernorm C=%lld in place, no affine", (long long)C);
        if (BOTH(backend_layernorm(g_cpu, &x.c, &x.c, NULL, NULL, 1e-5f),
                 backend_layernorm(g_gpu, &x.g, &x.g, NULL, NULL, 1e-5f), what))
            pair_compare(&x, what, 1e-9);
        pair_free(&x);
        pair_free(&w);
        pair_free(&b);
        pair_free(&y);
        free(xs);
        free(ws);
        free(bs);
    }
}

static void test_softmax(void)
{
    static const int64_t Ns[] = {7, 1000, 32000};
    for (size_t i = 0; i < 3; i++) {
        int64_t N = Ns[i], R = 3;
        float *xs = rand_vec(N * R, 4.0f), *ms = rand_vec(N * R, 1.0f);
        for (int64_t j = 0; j < N * R; j += 3)
            ms[j] = -INFINITY;
        for (int64_t j = 0; j < N; j++)
            ms[N + j] = -INFINITY; /* a fully masked row: zeros on both backends */
        Pair x = pair_f32(2, (int64_t[]){N, R}, xs), m = pair_f32(2, (int64_t[]){N, R}, ms);
        Pair m1 = pair_f32(1, (int64_t[]){N}, ms);
        char what[64];
        snprintf(what, sizeof(what), "softmax N=%lld", (long long)N);
        if (BOTH(backend_softmax(g_cpu, &x.c, 0.5f, NULL), backend_softmax(g_gpu, &x.g, 0.5f, NULL), what))
            pair_compare(&x, what, 1e-9);
        snprintf(what, sizeof(what), "softmax N=%lld mask", (long long)N);
        if (BOTH(backend_softmax(g_cpu, &x.c, 2.0f, &m.c), backend_softmax(g_gpu, &x.g, 2.0f, &m.g), what))
            pair_compare(&x, what, 1e-9);
        snprintf(what, sizeof(what), "softmax N=%lld mask row broadcast", (long long)N);
        if (BOTH(backend_softmax(g_cpu, &x.c, 1.0f, &m1.c), backend_softmax(g_gpu, &x.g, 1.0f, &m1.g), what))
            pair_compare(&x, what, 1e-9);
        pair_free(&x);
        pair_free(&m);
        pair_free(&m1);
        free(xs);
        free(ms);
    }
}

static void test_elementwise(void)
{
    const int64_t C = 1007, R = 3, n = C * R;
    float *as = rand_vec(n, 4.0f), *bs = rand_vec(n, 2.0f);
    Pair a = pair_f32(2, (int64_t[]){C, R}, as), b = pair_f32(2, (int64_t[]){C, R}, bs);
    Pair row = pair_f32(1, (int64_t[]){C}, bs), y = pair_f32(2, (int64_t[]){C, R}, NULL);

    if (BOTH(backend_silu(g_cpu, &y.c, &a.c), backend_silu(g_gpu, &y.g, &a.g), "silu"))
        pair_compare(&y, "silu", 1e-9);
    if (BOTH(backend_gelu(g_cpu, &y.c, &a.c), backend_gelu(g_gpu, &y.g, &a.g), "gelu"))
        pair_compare(&y, "gelu", 1e-9);
    if (BOTH(g_cpu->ops->gelu_tanh(g_cpu, &y.c, &a.c), g_gpu->ops->gelu_tanh(g_gpu, &y.g, &a.g), "gelu_tanh"))
        pair_compare(&y, "gelu_tanh", 1e-9);
    if (BOTH(backend_swiglu(g_cpu, &y.c, &a.c, &b.c), backend_swiglu(g_gpu, &y.g, &a.g, &b.g), "swiglu"))
        pair_compare(&y, "swiglu", 1e-9);
    if (BOTH(backend_add(g_cpu, &y.c, &a.c, &b.c), backend_add(g_gpu, &y.g, &a.g, &b.g), "add"))
        pair_compare(&y, "add", 0.0);
    if (BOTH(backend_mul(g_cpu, &y.c, &a.c, &row.c), backend_mul(g_gpu, &y.g, &a.g, &row.g), "mul row"))
        pair_compare(&y, "mul row broadcast", 0.0);
    if (BOTH(backend_add(g_cpu, &y.c, &a.c, &row.c), backend_add(g_gpu, &y.g, &a.g, &row.g), "add row"))
        pair_compare(&y, "add row broadcast", 0.0);
    if (BOTH(backend_scale(g_cpu, &a.c, &a.c, -0.37f), backend_scale(g_gpu, &a.g, &a.g, -0.37f), "scale"))
        pair_compare(&a, "scale in place", 0.0);
    if (BOTH(backend_mul(g_cpu, &a.c, &a.c, &b.c), backend_mul(g_gpu, &a.g, &a.g, &b.g), "mul in place"))
        pair_compare(&a, "mul in place", 0.0);
    /* Shape mismatches are rejected, not guessed at. */
    Pair bad = pair_f32(2, (int64_t[]){C - 1, R}, NULL);
    CHECK_INT(backend_add(g_gpu, &y.g, &a.g, &bad.g), -EINVAL);
    pair_free(&bad);
    pair_free(&a);
    pair_free(&b);
    pair_free(&row);
    pair_free(&y);
    free(as);
    free(bs);
}

/* ---- RoPE ---------------------------------------------------------------------------------------------- */

static void test_rope(void)
{
    const int64_t HD = 64, NH = 4, T = 5;
    const int32_t pos[5] = {0, 1, 17, 4095, 100000};
    float ff[32];
    for (int i = 0; i < 32; i++)
        ff[i] = 1.0f + (float)i * 0.25f;
    for (int mode = 0; mode <= 2; mode += 2) {
        for (int variant = 0; variant < 3; variant++) {
            RopeParams p = {.mode = (RopeMode)mode, .n_rot = variant == 1 ? 32 : 64,
                            .freq_base = variant == 2 ? 500000.0f : 10000.0f,
                            .freq_scale = variant == 1 ? 0.25f : 1.0f, .freq_factors = variant == 2 ? ff : NULL};
            float *xs = rand_vec(HD * NH * T, 1.0f);
            Pair x = pair_f32(3, (int64_t[]){HD, NH, T}, xs);
            char what[80];
            snprintf(what, sizeof(what), "rope %s n_rot=%d base=%g scale=%g ff=%s", mode ? "neox" : "normal",
                     p.n_rot, (double)p.freq_base, (double)p.freq_scale, p.freq_factors ? "yes" : "no");
            if (BOTH(backend_rope(g_cpu, &x.c, pos, &p), backend_rope(g_gpu, &x.g, pos, &p), what))
                pair_compare(&x, what, 1e-9);
            pair_free(&x);
            free(xs);
        }
    }
}

/* ---- attention ----------------------------------------------------------------------------------------- */

static void test_attention_case(int64_t HD, int64_t NH, int64_t NKV, int64_t T, int64_t n_past, DType kvt,
                                int mode /* 0 none, 1 causal, 2 mask, 3 causal + mask */)
{
    const int64_t S = n_past + T;
    float *qs = rand_vec(HD * NH * T, 1.0f), *ks = rand_vec(HD * NKV * S, 1.0f), *vs = rand_vec(HD * NKV * S, 1.0f);
    float *ms = rand_vec(S * T, 2.0f);
    void *kh = ks, *vh = vs;
    uint16_t *k16 = NULL, *v16 = NULL;
    char what[128];

    for (int64_t i = 0; i < S * T; i += 5)
        ms[i] = -INFINITY;
    if (T > 1)
        for (int64_t j = 0; j < S; j++)
            ms[S + j] = -INFINITY; /* query 1 sees nothing through the mask: zeros on both backends */
    if (kvt == DTYPE_F16) {
        k16 = malloc((size_t)(HD * NKV * S) * 2);
        v16 = malloc((size_t)(HD * NKV * S) * 2);
        for (int64_t i = 0; i < HD * NKV * S; i++) {
            k16[i] = f32_to_fp16(ks[i]);
            v16[i] = f32_to_fp16(vs[i]);
        }
        kh = k16;
        vh = v16;
    }
    Pair q = pair_f32(3, (int64_t[]){HD, NH, T}, qs), k, v, m = pair_f32(2, (int64_t[]){S, T}, ms);
    Pair o = pair_f32(3, (int64_t[]){HD, NH, T}, NULL);
    CHECK_INT(pair_new(&k, kvt, 3, (int64_t[]){HD, NKV, S}, kh), 0);
    CHECK_INT(pair_new(&v, kvt, 3, (int64_t[]){HD, NKV, S}, vh), 0);
    AttnParams pc = {.scale = 1.0f / sqrtf((float)HD), .causal = mode & 1, .n_past = n_past,
                     .mask = mode & 2 ? &m.c : NULL};
    AttnParams pg = pc;
    pg.mask = mode & 2 ? &m.g : NULL;
    snprintf(what, sizeof(what), "attention HD=%lld NH=%lld NKV=%lld T=%lld n_past=%lld %s %s", (long long)HD,
             (long long)NH, (long long)NKV, (long long)T, (long long)n_past, dtype_name(kvt),
             (const char *[]){"no mask", "causal", "mask", "causal+mask"}[mode]);
    if (BOTH(backend_attention(g_cpu, &o.c, &q.c, &k.c, &v.c, &pc), backend_attention(g_gpu, &o.g, &q.g, &k.g, &v.g, &pg),
             what))
        pair_compare(&o, what, 1e-9);
    pair_free(&q);
    pair_free(&k);
    pair_free(&v);
    pair_free(&m);
    pair_free(&o);
    free(qs);
    free(ks);
    free(vs);
    free(ms);
    free(k16);
    free(v16);
}

static void test_attention(void)
{
    static const int64_t ratios[] = {1, 3, 4, 8};
    for (size_t r = 0; r < 4; r++) {
        int64_t NKV = 2, NH = NKV * ratios[r];
        for (int kv = 0; kv < 2; kv++) {
            DType kvt = kv ? DTYPE_F16 : DTYPE_F32;
            test_attention_case(64, NH, NKV, 1, 0, kvt, 1);
            test_attention_case(128, NH, NKV, 1, 700, kvt, 1);  /* decode: flash-decoding splits */
            test_attention_case(64, NH, NKV, 7, 5, kvt, 1);     /* prefill continuing a cache */
            test_attention_case(80, NH, NKV, 6, 0, kvt, 2);     /* mask only (vision/cross style) */
            test_attention_case(64, NH, NKV, 3, 300, kvt, 3);
            test_attention_case(96, NH, NKV, 4, 0, kvt, 0);
        }
    }
}

/* Several queries at once (prefill): the tiled kernel of core/cuda/attention-prefill.cu takes T > 1 when
 * the launcher uses no key splits (every case here but the last). Every T, n_past and GQA ratio is crossed;
 * head dims, KV dtypes and masking modes cycle so each value meets each of the others' several times. */
static void test_attention_prefill(void)
{
    static const int64_t Ts[] = {2, 17, 64, 130}, pasts[] = {0, 37}, ratios[] = {1, 3, 4, 8};
    static const int64_t HDs[] = {64, 80, 128};
    static const int modes[] = {1, 3, 2, 0};
    int n = 0;
    for (size_t ti = 0; ti < 4; ti++)
        for (size_t pi = 0; pi < 2; pi++)
            for (size_t ri = 0; ri < 4; ri++, n++) {
                const int64_t NKV = ratios[ri] == 8 ? 1 : 2;
                test_attention_case(HDs[n % 3], NKV * ratios[ri], NKV, Ts[ti], pasts[pi],
                                    n % 2 ? DTYPE_F16 : DTYPE_F32, modes[(n / 2) % 4]);
            }
    test_attention_case(256, 8, 2, 33, 5, DTYPE_F16, 1);    /* largest tiled head dim (dynamic smem opt-in) */
    test_attention_case(256, 4, 4, 9, 0, DTYPE_F32, 3);
    test_attention_case(66, 6, 2, 40, 3, DTYPE_F32, 1);     /* HD not a multiple of 4: zero padding */
    test_attention_case(64, 32, 8, 64, 700, DTYPE_F16, 1);  /* Llama-3.2-1B shape, long cache: many tiles */
    test_attention_case(128, 32, 8, 31, 0, DTYPE_F16, 1);   /* Llama-3.1-8B shape, partial last row tile */
    test_attention_case(64, 2, 2, 3, 900, DTYPE_F32, 1);    /* few queries over a long cache: split kernel */
}

/* ---- copy / convert, im2col ---------------------------------------------------------------------------- */

static void test_copy(void)
{
    static const DType ft[] = {DTYPE_F32, DTYPE_F16, DTYPE_BF16};
    const int64_t C = 96, R = 5;
    float *xs = rand_vec(C * R, 2.0f);
    Pair src = pair_f32(2, (int64_t[]){C, R}, xs);
    for (int a = 0; a < 3; a++) {
        for (int b = 0; b < 3; b++) {
            /* src (F32) → mid (ft[a]) → out (ft[b]) → back (F32), compared in F32. */
            Pair mid, out, back = pair_f32(2, (int64_t[]){C, R}, NULL);
            char what[64];
            CHECK_INT(pair_new(&mid, ft[a], 2, (int64_t[]){C, R}, NULL), 0);
            CHECK_INT(pair_new(&out, ft[b], 2, (int64_t[]){C, R}, NULL), 0);
            snprintf(what, sizeof(what), "copy F32→%s→%s→F32", dtype_name(ft[a]), dtype_name(ft[b]));
            int rc = backend_copy(g_cpu, &mid.c, &src.c), rg = backend_copy(g_gpu, &mid.g, &src.g);
            if (BOTH(rc, rg, what) && BOTH(backend_copy(g_cpu, &out.c, &mid.c), backend_copy(g_gpu, &out.g, &mid.g), what) &&
                BOTH(backend_copy(g_cpu, &back.c, &out.c), backend_copy(g_gpu, &back.g, &out.g), what))
                pair_compare(&back, what, 0.0);
            pair_free(&mid);
            pair_free(&out);
            pair_free(&back);
        }
    }
    /* F32 → Q8_0, compared after dequantizing on the host. */
    Pair q8;
    CHECK_INT(pair_new(&q8, DTYPE_Q8_0, 2, (int64_t[]){C, R}, NULL), 0);
    if (BOTH(backend_copy(g_cpu, &q8.c, &src.c), backend_copy(g_gpu, &q8.g, &src.g), "copy F32→Q8_0")) {
        size_t nb = tensor_nbytes(&q8.c);
        uint8_t *qa = malloc(nb), *qb = malloc(nb);
        float *da = malloc((size_t)(C * R) * 4), *db = malloc((size_t)(C * R) * 4);
        double num = 0, den = 0;
        CHECK_INT(g_cpu->ops->tensor_get(g_cpu, &q8.c, qa, 0, nb), 0);
        CHECK_INT(g_gpu->ops->tensor_get(g_gpu, &q8.g, qb, 0, nb), 0);
        for (int64_t r = 0; r < R; r++) {
            quant_dequant_row(DTYPE_Q8_0, qa + (size_t)r * q8.c.nb[1], da + r * C, C);
            quant_dequant_row(DTYPE_Q8_0, qb + (size_t)r * q8.c.nb[1], db + r * C, C);
        }
        for (int64_t i = 0; i < C * R; i++) {
            num += ((double)da[i] - db[i]) * ((double)da[i] - db[i]);
            den += (double)da[i] * da[i];
        }
        CHECK(num <= 1e-9 * den);
        free(qa);
        free(qb);
        free(da);
        free(db);
    }
    pair_free(&q8);
    /* Strided destination: T = 3 rows of 16 written into columns 8..23 of a [64, 3] F16 cache. */
    Pair cache, small = pair_f32(2, (int64_t[]){16, 3}, xs), back = pair_f32(2, (int64_t[]){64, 3}, NULL);
    CHECK_INT(pair_new(&cache, DTYPE_F16, 2, (int64_t[]){64, 3}, NULL), 0);
    Tensor vc = cache.c, vg = cache.g;
    vc.ne[0] = vg.ne[0] = 16;
    vc.data = (char *)cache.c.data + 8 * 2;
    vg.data = (char *)cache.g.data + 8 * 2;
    if (BOTH(backend_copy(g_cpu, &vc, &small.c), backend_copy(g_gpu, &vg, &small.g), "copy into strided view") &&
        BOTH(backend_copy(g_cpu, &back.c, &cache.c), backend_copy(g_gpu, &back.g, &cache.g), "copy strided back"))
        pair_compare(&back, "copy F32→F16 strided view", 0.0);
    pair_free(&cache);
    pair_free(&small);
    pair_free(&back);
    pair_free(&src);
    free(xs);
}

static void test_im2col(void)
{
    const int64_t L = 50, Cin = 3, kw = 3, stride = 2, pad = 1, Lout = (L + 2 * pad - kw) / stride + 1;
    float *xs = rand_vec(L * Cin, 1.0f);
    Pair src = pair_f32(2, (int64_t[]){L, Cin}, xs), dst = pair_f32(2, (int64_t[]){Cin * kw, Lout}, NULL);
    if (BOTH(g_cpu->ops->im2col_1d(g_cpu, &dst.c, &src.c, 3, 2, 1), g_gpu->ops->im2col_1d(g_gpu, &dst.g, &src.g, 3, 2, 1),
             "im2col_1d"))
        pair_compare(&dst, "im2col_1d", 0.0);
    pair_free(&src);
    pair_free(&dst);
    free(xs);

    const int64_t W = 9, H = 7, kh = 3, Wo = (W + 2 - 3) / 2 + 1, Ho = (H + 2 - 3) / 2 + 1;
    xs = rand_vec(W * H * Cin, 1.0f);
    src = pair_f32(3, (int64_t[]){W, H, Cin}, xs);
    dst = pair_f32(2, (int64_t[]){Cin * kh * 3, Wo * Ho}, NULL);
    if (BOTH(g_cpu->ops->im2col_2d(g_cpu, &dst.c, &src.c, 3, 3, 2, 1), g_gpu->ops->im2col_2d(g_gpu, &dst.g, &src.g, 3, 3, 2, 1),
             "im2col_2d"))
        pair_compare(&dst, "im2col_2d", 0.0);
    pair_free(&src);
    pair_free(&dst);
    free(xs);
}

/* ---- speech conv ops (issue 13): conv1d, transposed conv1d, activations, WaveNet gate, rel attention ---- */

static void conv1d_case(int64_t Cin, int64_t Cout, int64_t L, int64_t K, Conv1dParams p, int bias)
{
    char what[96];
    const int64_t Lout = (L + 2 * p.pad - p.dilation * (K - 1) - 1) / p.stride + 1;
    float *xs = rand_vec(Cin * L, 1.0f), *ws = rand_vec(Cin / p.groups * K * Cout, 0.5f), *bs = rand_vec(Cout, 1.0f);
    Pair x = pair_f32(2, (int64_t[]){Cin, L}, xs), w = pair_f32(3, (int64_t[]){Cout, Cin / p.groups, K}, ws);
    Pair b = pair_f32(1, (int64_t[]){Cout}, bs), y = pair_f32(2, (int64_t[]){Cout, Lout}, NULL);
    snprintf(what, sizeof(what), "conv1d %lldx%lld L%lld K%lld s%d p%d d%d g%d%s%s", (long long)Cin, (long long)Cout,
             (long long)L, (long long)K, p.stride, p.pad, p.dilation, p.groups, bias ? " +b" : "",
             p.leaky_in ? " leaky" : "");
    if (BOTH(g_cpu->ops->conv1d(g_cpu, &y.c, &x.c, &w.c, bias ? &b.c : NULL, &p),
             g_gpu->ops->conv1d(g_gpu, &y.g, &x.g, &w.g, bias ? &b.g : NULL, &p), what))
        pair_compare(&y, what, 1e-9);
    pair_free(&x);
    pair_free(&w);
    pair_free(&b);
    pair_free(&y);
    free(xs);
    free(ws);
    free(bs);
}

/* y = residual + conv(x): residual a separate tensor, then y itself (in place), as the resblocks use it. */
static void conv1d_residual_case(int64_t C, int64_t L, int64_t K, int dil)
{
    const int pad = (int)(K - 1) * dil / 2;
    float *xs = rand_vec(C * L, 1.0f), *ws = rand_vec(C * C * K, 0.3f), *bs = rand_vec(C, 1.0f);
    float *rs = rand_vec(C * L, 1.0f);
    Pair x = pair_f32(2, (int64_t[]){C, L}, xs), w = pair_f32(3, (int64_t[]){C, C, K}, ws);
    Pair b = pair_f32(1, (int64_t[]){C}, bs), rr = pair_f32(2, (int64_t[]){C, L}, rs);
    Pair y = pair_f32(2, (int64_t[]){C, L}, NULL);
    Conv1dParams pc = {1, pad, dil, 1, 1, 0.1f, &rr.c}, pg = {1, pad, dil, 1, 1, 0.1f, &rr.g};
    if (BOTH(g_cpu->ops->conv1d(g_cpu, &y.c, &x.c, &w.c, &b.c, &pc), g_gpu->ops->conv1d(g_gpu, &y.g, &x.g, &w.g, &b.g, &pg),
             "conv1d residual"))
        pair_compare(&y, "conv1d + residual", 1e-9);
    pc.residual = &y.c, pg.residual = &y.g; /* in place: y += conv(x) */
    if (BOTH(g_cpu->ops->conv1d(g_cpu, &y.c, &x.c, &w.c, &b.c, &pc), g_gpu->ops->conv1d(g_gpu, &y.g, &x.g, &w.g, &b.g, &pg),
             "conv1d residual in place"))
        pair_compare(&y, "conv1d += (residual is y)", 1e-9);
    pc.residual = &x.c, pg.residual = &x.g; /* residual is the input: x + conv(x) */
    if (BOTH(g_cpu->ops->conv1d(g_cpu, &y.c, &x.c, &w.c, &b.c, &pc), g_gpu->ops->conv1d(g_gpu, &y.g, &x.g, &w.g, &b.g, &pg),
             "conv1d residual = x"))
        pair_compare(&y, "conv1d x + conv(x)", 1e-9);
    CHECK_INT(g_gpu->ops->conv1d(g_gpu, &x.g, &x.g, &w.g, &b.g, &pg), -EINVAL); /* y may not alias x */
    pair_free(&x), pair_free(&w), pair_free(&b), pair_free(&rr), pair_free(&y);
    free(xs), free(ws), free(bs), free(rs);
}

static void convt_case(int64_t Cin, int64_t Cout, int64_t L, int64_t K, int stride, int pad)
{
    char what[96];
    const int64_t Lout = (L - 1) * stride - 2 * pad + K;
    float *xs = rand_vec(Cin * L, 1.0f), *ws = rand_vec(Cin * Cout * K, 0.5f), *bs = rand_vec(Cout, 1.0f);
    Pair x = pair_f32(2, (int64_t[]){Cin, L}, xs), w = pair_f32(3, (int64_t[]){Cout, K, Cin}, ws);
    Pair b = pair_f32(1, (int64_t[]){Cout}, bs), y = pair_f32(2, (int64_t[]){Cout, Lout}, NULL);
    snprintf(what, sizeof(what), "conv_transpose1d %lldx%lld L%lld K%lld s%d p%d", (long long)Cin, (long long)Cout,
             (long long)L, (long long)K, stride, pad);
    if (BOTH(g_cpu->ops->conv_transpose1d(g_cpu, &y.c, &x.c, &w.c, &b.c, stride, pad),
             g_gpu->ops->conv_transpose1d(g_gpu, &y.g, &x.g, &w.g, &b.g, stride, pad), what))
        pair_compare(&y, what, 1e-9);
    pair_free(&x);
    pair_free(&w);
    pair_free(&b);
    pair_free(&y);
    free(xs);
    free(ws);
    free(bs);
}

static void test_speech_conv(void)
{
    conv1d_case(192, 384, 37, 5, (Conv1dParams){1, 2, 1, 1, 0, 0.0f, NULL}, 1);   /* WaveNet in_layer */
    conv1d_case(32, 32, 300, 7, (Conv1dParams){1, 36, 12, 1, 0, 0.0f, NULL}, 1);  /* HiFi-GAN resblock, dilation 12 */
    conv1d_case(192, 192, 23, 3, (Conv1dParams){1, 9, 9, 192, 0, 0.0f, NULL}, 1); /* depthwise (DDSConv) */
    conv1d_case(12, 8, 40, 3, (Conv1dParams){2, 1, 1, 4, 0, 0.0f, NULL}, 0);      /* grouped, strided */
    conv1d_case(192, 29, 17, 1, (Conv1dParams){1, 0, 1, 1, 0, 0.0f, NULL}, 1);    /* 1×1 */
    conv1d_case(7, 5, 9, 4, (Conv1dParams){3, 2, 2, 1, 0, 0.0f, NULL}, 0);        /* odd everything */
    conv1d_case(64, 64, 90, 5, (Conv1dParams){1, 12, 6, 1, 1, 0.1f, NULL}, 1); /* leaky ReLU fused on the input */
    conv1d_case(32, 1, 50, 7, (Conv1dParams){1, 3, 1, 1, 1, 0.01f, NULL}, 0);  /* conv_post: one output channel */
    conv1d_case(16, 16, 30, 3, (Conv1dParams){1, 1, 1, 16, 1, 0.2f, NULL}, 1); /* depthwise + leaky */
    conv1d_residual_case(64, 70, 7, 3);
    conv1d_residual_case(32, 40, 1, 1); /* 1×1 (the WaveNet's res/skip layers) */
    convt_case(256, 128, 19, 16, 8, 4);
    convt_case(64, 32, 33, 8, 4, 2);
    convt_case(5, 3, 7, 5, 3, 0);

    const int64_t C = 96, T = 41, n = C * T;
    float *as = rand_vec(2 * n, 4.0f);
    Pair a = pair_f32(2, (int64_t[]){2 * C, T}, as), y = pair_f32(2, (int64_t[]){2 * C, T}, NULL);
    Pair h = pair_f32(2, (int64_t[]){C, T}, NULL);
    if (BOTH(g_cpu->ops->leaky_relu(g_cpu, &y.c, &a.c, 0.1f), g_gpu->ops->leaky_relu(g_gpu, &y.g, &a.g, 0.1f),
             "leaky_relu"))
        pair_compare(&y, "leaky_relu 0.1", 0.0);
    if (BOTH(g_cpu->ops->tanh(g_cpu, &y.c, &a.c), g_gpu->ops->tanh(g_gpu, &y.g, &a.g), "tanh"))
        pair_compare(&y, "tanh", 1e-9);
    if (BOTH(g_cpu->ops->exp(g_cpu, &y.c, &a.c), g_gpu->ops->exp(g_gpu, &y.g, &a.g), "exp"))
        pair_compare(&y, "exp", 1e-9);
    if (BOTH(g_cpu->ops->gated_tanh(g_cpu, &h.c, &a.c), g_gpu->ops->gated_tanh(g_gpu, &h.g, &a.g), "gated_tanh"))
        pair_compare(&h, "gated_tanh", 1e-9);
    CHECK_INT(g_gpu->ops->gated_tanh(g_gpu, &y.g, &a.g), -EINVAL); /* y must have half the channels */
    pair_free(&a);
    pair_free(&y);
    pair_free(&h);
    free(as);

    const int64_t HD = 48, NH = 2, TT = 29, W = 4;
    float *qs = rand_vec(HD * NH * TT, 1.0f), *ks = rand_vec(HD * NH * TT, 1.0f), *vs = rand_vec(HD * NH * TT, 1.0f);
    float *eks = rand_vec(HD * (2 * W + 1), 1.0f), *evs = rand_vec(HD * (2 * W + 1), 1.0f);
    Pair q = pair_f32(3, (int64_t[]){HD, NH, TT}, qs), k = pair_f32(3, (int64_t[]){HD, NH, TT}, ks);
    Pair v = pair_f32(3, (int64_t[]){HD, NH, TT}, vs), o = pair_f32(3, (int64_t[]){HD, NH, TT}, NULL);
    Pair ek = pair_f32(2, (int64_t[]){HD, 2 * W + 1}, eks), ev = pair_f32(2, (int64_t[]){HD, 2 * W + 1}, evs);
    if (BOTH(g_cpu->ops->attention_rel(g_cpu, &o.c, &q.c, &k.c, &v.c, &ek.c, &ev.c, (int)W, 0.144f),
             g_gpu->ops->attention_rel(g_gpu, &o.g, &q.g, &k.g, &v.g, &ek.g, &ev.g, (int)W, 0.144f), "attention_rel"))
        pair_compare(&o, "attention_rel", 1e-9);
    pair_free(&q);
    pair_free(&k);
    pair_free(&v);
    pair_free(&o);
    pair_free(&ek);
    pair_free(&ev);
    free(qs);
    free(ks);
    free(vs);
    free(eks);
    free(evs);
}
/* ---- end speech conv ops ------------------------------------------------------------------------------- */

int main(void)
{
    char err[256] = "";
    int r;
    /* MYNA_PARITY_SELFTEST=1: a second CPU backend stands in for the GPU, so the harness itself (shapes,
     * arguments, what the oracle accepts) is exercised on machines without a GPU. */
    if (getenv("MYNA_PARITY_SELFTEST"))
        r = backend_cpu_new(1, &g_gpu);
    else
        r = backend_cuda_new(0, &g_gpu, err, sizeof(err));
    if (r == -ENODEV) {
        fprintf(stderr, "skip: %s\n", err);
        return 77;
    }
    CHECK_INT(r, 0);
    if (r < 0)
        return test_exit();
    fprintf(stderr, "gpu: %s\n", g_gpu->desc);
    CHECK_INT(backend_cpu_new(0, &g_cpu), 0);
    if (!g_cpu)
        return test_exit();

    test_matmul();
    test_matmul_n();
    test_get_rows();
    test_norms();
    test_softmax();
    test_elementwise();
    test_rope();
    test_attention();
    test_attention_prefill();
    test_copy();
    test_im2col();
    test_speech_conv();

    backend_free(g_gpu);
    backend_free(g_cpu);
    return test_exit();
}
