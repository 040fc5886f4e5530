/* test-cpu-ops.c — CPU backend ops against NumPy float64 references (tools/ref/ops_ref.py →
 * tests/fixtures/ops/ops.bin), with 1 and 2 threads; plus backend selection, memory ops and argument
 * validation. Matmul is tested by test-matmul (quant engineer).
 *
 * Tolerances (max over elements of |got − ref| / max(1, |ref|)): 1e-5 for F32 ops (float32 arithmetic
 * against float64 on O(1)–O(10) data), 2e-5 for RoPE (positions up to 1e5: angles are computed in double,
 * only cos/sin are rounded), 1e-4 for attention (F32 and F16 KV — the F16 fixture values are exactly
 * representable, so F16 adds no error; a looser 2e-3 relative would be the bound for arbitrary F16 data),
 * 0 for im2col, F16/BF16 conversions (bit exact) and get_rows of F32/F16/BF16; 1e-5 for quantized rows.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "cpu/ops.h" /* private to the CPU backend: cpu_vec_force_scalar, parallel_min_cost */
#include "quant.h"
#include "tensor.h"
#include "test-util.h"

/* ---- fixture reader (format documented in tools/ref/ops_ref.py) ------------------------------------- */

typedef struct {
    char name[64];
    uint32_t kind; /* 0 f32, 1 i32, 2 u8 */
    uint64_t n;
    void *data;
} Array;

static Array g_arr[512];
static int g_verbose; /* print every measured error once (first configuration) */
static int g_n_arr;

static int load_fixture(void)
{
    char path[1024];
    FILE *f;
    char magic[8];
    uint32_t count;

    test_fixture_path(path, sizeof(path), "ops", "ops.bin");
    f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "cannot open %s\n", path);
        return -1;
    }
    if (fread(magic, 1, 8, f) != 8 || memcmp(magic, "MYNAOPS1", 8) || fread(&count, 4, 1, f) != 1 || count > 512)
        goto bad;
    for (uint32_t i = 0; i < count; i++) {
        Array *a = &g_arr[g_n_arr];
        uint32_t len;
        if (fread(&len, 4, 1, f) != 1 || len >= sizeof(a->name) || fread(a->name, 1, len, f) != len)
            goto bad;
        a->name[len] = 0;
        if (fread(&a->kind, 4, 1, f) != 1 || fread(&a->n, 8, 1, f) != 1 || a->kind > 2 || a->n > (1u << 24))
            goto bad;
        size_t bytes = (size_t)a->n * (a->kind == 2 ? 1 : 4);
        a->data = malloc(bytes ? bytes : 1);
        if (!a->data || fread(a->data, 1, bytes, f) != bytes)
            goto bad;
        g_n_arr++;
    }
    fclose(f);
    return 0;
bad:
    fprintf(stderr, "malformed fixture %s\n", path);
    fclose(f);
    return -1;
}

static const Array *arr(const char *c, const char *field)
{
    char name[64];
    snprintf(name, sizeof(name), "%s.%s", c, field);
    for (int i = 0; i < g_n_arr; i++)
        if (strcmp(g_arr[i].name, name) == 0)
            return &g_arr[i];
    return NULL;
}

static const float *f32(const char *c, const char *field)
{
    const Array *a = arr(c, field);
    if (!a)
        fprintf(stderr, "fixture array %s.%s missing\n", c, field);
    return a ? a->data : NULL;
}

/* Optional array: NULL when the case has none. */
static const float *opt_f32(const char *c, const char *field)
{
    const Array *a = arr(c, field);
    return a ? a->data : NULL;
}

static float *dup_f32(const char *c, const char *field)
{
    const Array *a = arr(c, field);
    float *p = a ? malloc(a->n * 4) : NULL;
    if (p)
        memcpy(p, a->data, a->n * 4);
    return p;
}

/* max |got − ref| / max(1, |ref|); NaN anywhere → huge. */
static double max_err(const float *got, const float *ref, int64_t n)
{
    double m = 0;
    for (int64_t i = 0; i < n; i++) {
        double d = fabs((double)got[i] - (double)ref[i]) / fmax(1.0, fabs((double)ref[i]));
        if (isnan(got[i]) != isnan(ref[i]) || isnan(d))
            return 1e30;
        if (d > m)
            m = d;
    }
    return m;
}

static Tensor tens(DType dt, int64_t ne0, int64_t ne1, int64_t ne2, void *data)
{
    Tensor t;
    int64_t ne[3] = {ne0, ne1, ne2};
    tensor_init(&t, dt, 3, ne, data);
    return t;
}

#define REPORT(label, err, tol)                                                                              \
    do {                                                                                                     \
        double _e = (err);                                                                                   \
        if (!(_e <= (tol)))                                                                                  \
            fprintf(stderr, "%s: max err %.3g > tol %.3g\n", (label), _e, (double)(tol));                   \
        else if (g_verbose)                                                                                  \
            printf("  %-28s max err %.3g (tol %.3g)\n", (label), _e, (double)(tol));                       \
        CHECK(_e <= (tol));                                                                                  \
    } while (0)

/* ---- cases ------------------------------------------------------------------------------------------- */

static void test_norms(Backend *be)
{
    const char *cases[] = {"rms_a", "rms_b", "ln_a", "ln_b", "ln_c"};
    for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
        const char *c = cases[i];
        const float *p = f32(c, "p");
        if (!p) {
            CHECK(0);
            continue;
        }
        int64_t C = (int64_t)p[0], T = (int64_t)p[1];
        float *x = dup_f32(c, "x"), *y = calloc((size_t)(C * T), 4);
        Tensor tx = tens(DTYPE_F32, C, T, 1, x), ty = tens(DTYPE_F32, C, T, 1, y);
        Tensor tw = tens(DTYPE_F32, C, 1, 1, (void *)opt_f32(c, "w")), tb = tens(DTYPE_F32, C, 1, 1, (void *)opt_f32(c, "b"));
        const Tensor *w = p[3] != 0 ? &tw : NULL, *b = p[4] != 0 ? &tb : NULL;
        int r = c[0] == 'r' ? backend_rmsnorm(be, &ty, &tx, w, p[2]) : backend_layernorm(be, &ty, &tx, w, b, p[2]);
        CHECK_INT(r, 0);
        REPORT(c, max_err(y, f32(c, "y"), C * T), 1e-5);
        /* in place (y aliases x) */
        r = c[0] == 'r' ? backend_rmsnorm(be, &tx, &tx, w, p[2]) : backend_layernorm(be, &tx, &tx, w, b, p[2]);
        CHECK_INT(r, 0);
        REPORT(c, max_err(x, f32(c, "y"), C * T), 1e-5);
        free(x);
        free(y);
    }
}

static void test_rope(Backend *be)
{
    const char *cases[] = {"rope_a", "rope_b", "rope_c", "rope_d"};
    for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
        const char *c = cases[i];
        const float *p = f32(c, "p");
        const Array *pos = arr(c, "pos");
        if (!p || !pos) {
            CHECK(0);
            continue;
        }
        int64_t HD = (int64_t)p[0], NH = (int64_t)p[1], T = (int64_t)p[2];
        float *x = dup_f32(c, "x");
        Tensor tx = tens(DTYPE_F32, HD, NH, T, x);
        RopeParams rp = {.mode = (RopeMode)(int)p[3], .n_rot = (int)p[4], .freq_base = p[5], .freq_scale = p[6],
                         .freq_factors = p[7] != 0 ? f32(c, "ff") : NULL};
        CHECK_INT(backend_rope(be, &tx, pos->data, &rp), 0);
        REPORT(c, max_err(x, f32(c, "y"), HD * NH * T), 2e-5);
        free(x);
    }
}

static void test_softmax(Backend *be)
{
    const char *cases[] = {"sm_a", "sm_b", "sm_c"};
    for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
        const char *c = cases[i];
        const float *p = f32(c, "p");
        if (!p) {
            CHECK(0);
            continue;
        }
        int64_t N = (int64_t)p[0], R = (int64_t)p[1], MR = (int64_t)p[3];
        float *x = dup_f32(c, "x");
        Tensor tx = tens(DTYPE_F32, N, R, 1, x), tm = tens(DTYPE_F32, N, MR ? MR : 1, 1, (void *)opt_f32(c, "m"));
        CHECK_INT(backend_softmax(be, &tx, p[2], MR ? &tm : NULL), 0);
        REPORT(c, max_err(x, f32(c, "y"), N * R), 1e-5);
        free(x);
    }
}

/* K or V [HD, NKV, S] from the fixture, either contiguous or scattered into a strided cache laid out
 * [HD, SMAX, NKV] (per-head blocks, as some caches are) with NaN in the unused positions. */
static Tensor make_kv(const float *src, int64_t HD, int64_t NKV, int64_t S, int f16, int strided, void **owned)
{
    int64_t smax = strided ? S + 9 : S;
    size_t es = f16 ? 2 : 4, total = (size_t)(HD * NKV * smax);
    char *buf = malloc(total * es);
    Tensor t = tens(f16 ? DTYPE_F16 : DTYPE_F32, HD, NKV, S, buf);

    for (size_t i = 0; i < total; i++) {
        if (f16)
            ((uint16_t *)buf)[i] = 0x7e00; /* NaN */
        else
            ((float *)buf)[i] = NAN;
    }
    if (strided) {
        t.nb[1] = (size_t)(HD * smax) * es;
        t.nb[2] = (size_t)HD * es;
    }
    for (int64_t s = 0; s < S; s++)
        for (int64_t g = 0; g < NKV; g++)
            for (int64_t d = 0; d < HD; d++) {
                float v = src[(s * NKV + g) * HD + d];
                char *dst = buf + s * t.nb[2] + g * t.nb[1] + d * (int64_t)es;
                if (f16) {
                    uint16_t h = f32_to_fp16(v);
                    memcpy(dst, &h, 2);
                } else {
                    memcpy(dst, &v, 4);
                }
            }
    *owned = buf;
    return t;
}

static void test_attention(Backend *be)
{
    const char *cases[] = {"att_a", "att_b", "att_c", "att_d", "att_e", "att_f", "att_g"};
    for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
        const char *c = cases[i];
        const float *p = f32(c, "p");
        if (!p) {
            CHECK(0);
            continue;
        }
        int64_t HD = (int64_t)p[0], NH = (int64_t)p[1], NKV = (int64_t)p[2], T = (int64_t)p[3], S = (int64_t)p[4];
        int f16 = p[7] != 0;
        for (int strided = 0; strided <= 1; strided++) {
            void *kb, *vb;
            float *out = malloc((size_t)(HD * NH * T) * 4);
            Tensor tq = tens(DTYPE_F32, HD, NH, T, (void *)f32(c, "q")), to = tens(DTYPE_F32, HD, NH, T, out);
            Tensor tk = make_kv(f32(c, "k"), HD, NKV, S, f16, strided, &kb);
            Tensor tv = make_kv(f32(c, "v"), HD, NKV, S, f16, strided, &vb);
            Tensor tm = tens(DTYPE_F32, S, T, 1, (void *)opt_f32(c, "m"));
            AttnParams ap = {.scale = p[9], .causal = p[5] != 0, .n_past = (int64_t)p[6],
                             .mask = p[8] != 0 ? &tm : NULL};
            char label[64];
            snprintf(label, sizeof(label), "%s%s%s", c, f16 ? " f16" : "", strided ? " strided" : "");
            CHECK_INT(backend_attention(be, &to, &tq, &tk, &tv, &ap), 0);
            REPORT(label, max_err(out, f32(c, "y"), HD * NH * T), 1e-4);
            free(out);
            free(kb);
            free(vb);
        }
    }
}

static void test_elementwise(Backend *be)
{
    const float *p = f32("ew", "p");
    if (!p) {
        CHECK(0);
        return;
    }
    int64_t C = (int64_t)p[0], R = (int64_t)p[1], n = C * R;
    float *y = malloc((size_t)n * 4), *xa = dup_f32("ew", "x");
    Tensor tx = tens(DTYPE_F32, C, R, 1, (void *)f32("ew", "x")), tu = tens(DTYPE_F32, C, R, 1, (void *)f32("ew", "u"));
    Tensor tb = tens(DTYPE_F32, C, 1, 1, (void *)f32("ew", "brow")), ty = tens(DTYPE_F32, C, R, 1, y);
    Tensor txa = tens(DTYPE_F32, C, R, 1, xa);

    CHECK_INT(backend_silu(be, &ty, &tx), 0);
    REPORT("silu", max_err(y, f32("ew", "silu"), n), 1e-5);
    CHECK_INT(backend_gelu(be, &ty, &tx), 0);
    REPORT("gelu", max_err(y, f32("ew", "gelu"), n), 1e-5);
    CHECK_INT(be->ops->gelu_tanh(be, &ty, &tx), 0);
    REPORT("gelu_tanh", max_err(y, f32("ew", "gelu_tanh"), n), 1e-5);
    CHECK_INT(backend_swiglu(be, &ty, &tx, &tu), 0);
    REPORT("swiglu", max_err(y, f32("ew", "swiglu"), n), 1e-5);
    CHECK_INT(backend_add(be, &ty, &tx, &tu), 0);
    REPORT("add", max_err(y, f32("ew", "add"), n), 1e-6);
    CHECK_INT(backend_mul(be, &ty, &tx, &tu), 0);
    REPORT("mul", max_err(y, f32("ew", "mul"), n), 1e-6);
    CHECK_INT(backend_add(be, &ty, &tx, &tb), 0);
    REPORT("add_row", max_err(y, f32("ew", "add_row"), n), 1e-6);
    CHECK_INT(backend_mul(be, &ty, &tx, &tb), 0);
    REPORT("mul_row", max_err(y, f32("ew", "mul_row"), n), 1e-6);
    CHECK_INT(backend_scale(be, &ty, &tx, -0.37f), 0);
    REPORT("scale", max_err(y, f32("ew", "scale"), n), 1e-6);
    /* y aliasing an input */
    CHECK_INT(backend_silu(be, &txa, &txa), 0);
    REPORT("silu in place", max_err(xa, f32("ew", "silu"), n), 1e-5);
    free(y);
    free(xa);
}

static void test_get_rows(Backend *be)
{
    const char *cases[] = {"gr_f32", "gr_f16", "gr_bf16", "gr_q8_0", "gr_q4_k", "gr_q6_k"};
    for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
        const char *c = cases[i];
        const float *p = f32(c, "p");
        const Array *ids = arr(c, "ids"), *raw = arr(c, "raw");
        if (!p || !ids || !raw) {
            CHECK(0);
            continue;
        }
        int64_t C = (int64_t)p[0], V = (int64_t)p[1], n_ids = (int64_t)p[3];
        DType dt = (DType)(int)p[2];
        float *y = malloc((size_t)(C * n_ids) * 4);
        Tensor tt = tens(dt, C, V, 1, raw->data), ty = tens(DTYPE_F32, C, n_ids, 1, y);
        CHECK_INT(tensor_nbytes(&tt), raw->n);
        CHECK_INT(backend_get_rows(be, &ty, &tt, ids->data, n_ids), 0);
        REPORT(c, max_err(y, f32(c, "y"), C * n_ids), dt == DTYPE_F32 || dt == DTYPE_F16 || dt == DTYPE_BF16 ? 0 : 1e-5);
        free(y);
    }
}

static void test_copy(Backend *be)
{
    const float *x = f32("cp", "x"), *f16ref = f32("cp", "f16"), *bf16ref = f32("cp", "bf16");
    const float *q8ref = f32("cp", "q8_0_deq");
    enum { W = 128, R = 5, N = W * R };
    uint16_t h[N], b[N];
    float back[N];
    int bad_f16 = 0, bad_bf16 = 0;

    if (!x || !f16ref || !bf16ref || !q8ref) {
        CHECK(0);
        return;
    }
    Tensor tx = tens(DTYPE_F32, W, R, 1, (void *)x), th = tens(DTYPE_F16, W, R, 1, h);
    Tensor tbf = tens(DTYPE_BF16, W, R, 1, b), tback = tens(DTYPE_F32, W, R, 1, back);
    CHECK_INT(backend_copy(be, &th, &tx), 0);
    CHECK_INT(backend_copy(be, &tbf, &tx), 0);
    for (int i = 0; i < N; i++) {
        bad_f16 += h[i] != (uint16_t)f16ref[i];
        bad_bf16 += b[i] != (uint16_t)bf16ref[i];
    }
    CHECK_INT(bad_f16, 0);
    CHECK_INT(bad_bf16, 0);
    CHECK_INT(backend_copy(be, &tback, &th), 0);
    bad_f16 = 0;
    for (int i = 0; i < N; i++)
        bad_f16 += back[i] != fp16_to_f32(h[i]);
    CHECK_INT(bad_f16, 0);
    CHECK_INT(backend_copy(be, &tback, &tbf), 0);
    REPORT("copy bf16->f32", max_err(back, x, N), 4e-3);

    /* F32 → Q8_0; dequantized with gguf-py semantics: round-half differences cost at most one quantum */
    {
        uint8_t q[R * (W / 32) * 34];
        Tensor tq = tens(DTYPE_Q8_0, W, R, 1, q);
        CHECK_INT(backend_copy(be, &tq, &tx), 0);
        for (int r = 0; r < R; r++)
            quant_dequant_row(DTYPE_Q8_0, q + (size_t)r * (W / 32) * 34, back + r * W, W);
        REPORT("copy f32->q8_0", max_err(back, q8ref, N), 0.03);
    }

    /* strided destination: x as [HD·NKV = 128, T = 5] into an F16 cache [HD = 64, NKV = 2, SMAX = 16] at
     * n_past = 3, i.e. the view [64, 2, 5] with the cache's strides and offset 3·nb[2]. */
    {
        enum { HD = 64, NKV = 2, SMAX = 16, NP = 3 };
        uint16_t cache[HD * NKV * SMAX];
        int bad = 0;
        for (int i = 0; i < HD * NKV * SMAX; i++)
            cache[i] = 0xabcd;
        Tensor tc = tens(DTYPE_F16, HD, NKV, SMAX, cache);
        Tensor view = tc;
        view.ne[2] = R;
        view.data = (char *)cache + NP * tc.nb[2];
        CHECK_INT(backend_copy(be, &view, &tx), 0);
        for (int s = 0; s < SMAX; s++)
            for (int i = 0; i < HD * NKV; i++) {
                uint16_t want = s >= NP && s < NP + R ? (uint16_t)f16ref[(s - NP) * W + i] : 0xabcd;
                bad += cache[s * HD * NKV + i] != want;
            }
        CHECK_INT(bad, 0);
        /* and back out through a strided source */
        Tensor tout = tens(DTYPE_F32, HD * NKV, R, 1, back);
        CHECK_INT(backend_copy(be, &tout, &view), 0);
        REPORT("copy cache view f16->f32", max_err(back, x, N), 1e-3);
        /* a truly strided source (every other cache position) into contiguous rows of another width */
        Tensor every2 = view;
        every2.nb[2] *= 2;
        every2.ne[2] = 2;
        Tensor t2 = tens(DTYPE_F32, HD * NKV, 2, 1, back);
        CHECK_INT(backend_copy(be, &t2, &every2), 0);
        REPORT("copy strided f16->f32 a", max_err(back, x, W), 1e-3);
        REPORT("copy strided f16->f32 b", max_err(back + W, x + 2 * W, W), 1e-3);
        /* the side with the longer rows must be contiguous: a strided [128, 2] source is refused */
        Tensor xs = tens(DTYPE_F32, W, 2, 1, (void *)x);
        xs.nb[1] *= 2;
        Tensor t3 = tens(DTYPE_F32, HD, NKV, 2, back);
        CHECK_INT(backend_copy(be, &t3, &xs), -EINVAL);
    }
}

static void test_im2col(Backend *be)
{
    const char *cases[] = {"i1_a", "i1_b", "i2_a", "i2_b"};
    for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
        const char *c = cases[i];
        const float *p = f32(c, "p");
        if (!p) {
            CHECK(0);
            continue;
        }
        int64_t W = (int64_t)p[0], H = (int64_t)p[1], CI = (int64_t)p[2];
        int kh = (int)p[3], kw = (int)p[4], st = (int)p[5], pad = (int)p[6];
        int64_t wo = (W + 2 * pad - kw) / st + 1, ho = c[1] == '2' ? (H + 2 * pad - kh) / st + 1 : 1;
        int64_t K = CI * kh * kw, n = K * wo * ho;
        float *y = malloc((size_t)n * 4);
        Tensor ty = tens(DTYPE_F32, K, wo * ho, 1, y);
        int r;
        if (c[1] == '1') {
            Tensor tx = tens(DTYPE_F32, W, CI, 1, (void *)f32(c, "x"));
            r = be->ops->im2col_1d(be, &ty, &tx, kw, st, pad);
        } else {
            Tensor tx = tens(DTYPE_F32, W, H, CI, (void *)f32(c, "x"));
            r = be->ops->im2col_2d(be, &ty, &tx, kh, kw, st, pad);
        }
        CHECK_INT(r, 0);
        REPORT(c, max_err(y, f32(c, "y"), n), 0);
        free(y);
    }
}

static void test_validation(Backend *be)
{
    float a[64 * 4] = {0}, b[64 * 4] = {0};
    int32_t ids[2] = {0, 9}, pos[4] = {0, 1, 2, 3};
    Tensor x = tens(DTYPE_F32, 64, 4, 1, a), y = tens(DTYPE_F32, 64, 4, 1, b), y3 = tens(DTYPE_F32, 64, 3, 1, b);
    Tensor xi = tens(DTYPE_I32, 64, 4, 1, a), w5 = tens(DTYPE_F32, 5, 1, 1, a);

    CHECK_INT(backend_rmsnorm(be, &y3, &x, NULL, 1e-5f), -EINVAL);
    CHECK_INT(backend_rmsnorm(be, &y, &x, &w5, 1e-5f), -EINVAL);
    CHECK_INT(backend_softmax(be, &xi, 1.0f, NULL), -ENOTSUP);
    CHECK_INT(backend_add(be, &y, &x, &y3), -EINVAL);
    CHECK_INT(backend_copy(be, &y3, &x), -EINVAL);
    {
        Tensor tab = tens(DTYPE_F32, 64, 4, 1, a), gy = tens(DTYPE_F32, 64, 2, 1, b);
        CHECK_INT(backend_get_rows(be, &gy, &tab, ids, 2), -EINVAL); /* id 9 out of range */
    }
    {
        Tensor q = tens(DTYPE_F32, 16, 3, 1, a), o = tens(DTYPE_F32, 16, 3, 1, b), kv = tens(DTYPE_F32, 16, 2, 4, a);
        AttnParams ap = {.scale = 0.25f};
        CHECK_INT(backend_attention(be, &o, &q, &kv, &kv, &ap), -EINVAL); /* 3 heads over 2 kv heads */
        Tensor kb = tens(DTYPE_BF16, 16, 1, 4, a), q1 = tens(DTYPE_F32, 16, 2, 1, a), o1 = tens(DTYPE_F32, 16, 2, 1, b);
        CHECK_INT(backend_attention(be, &o1, &q1, &kb, &kb, &ap), -ENOTSUP);
    }
    {
        Tensor r4 = tens(DTYPE_F32, 16, 4, 4, a);
        RopeParams rp = {.mode = ROPE_NORMAL, .n_rot = 15, .freq_base = 10000, .freq_scale = 1};
        CHECK_INT(backend_rope(be, &r4, pos, &rp), -EINVAL);
        rp.n_rot = 32;
        CHECK_INT(backend_rope(be, &r4, pos, &rp), -EINVAL);
        rp.n_rot = 16;
        rp.mode = (RopeMode)1;
        CHECK_INT(backend_rope(be, &r4, pos, &rp), -ENOTSUP);
    }
    {
        Tensor src = tens(DTYPE_F32, 4, 3, 1, a), dst = tens(DTYPE_F32, 3 * 5, 2, 1, b);
        CHECK_INT(be->ops->im2col_1d(be, &dst, &src, 5, 1, 0), -EINVAL); /* window longer than input */
    }
}

static void test_selection(void)
{
    Backend *be = NULL;
    char err[256] = "";
    Tensor t;
    int64_t ne[2] = {3, 5};
    float src[15], dst[15];

    CHECK_INT(backend_new_by_name("cpu", 2, &be, err, sizeof(err)), 0);
    CHECK(be && strncmp(be->desc, "cpu: 2 threads", 14) == 0);
    if (be) {
        for (int i = 0; i < 15; i++)
            src[i] = (float)i * 0.5f;
        CHECK_INT(tensor_init(&t, DTYPE_F32, 2, ne, NULL), 0);
        CHECK_INT(be->ops->tensor_alloc(be, &t), 0);
        CHECK(((uintptr_t)t.data & 63) == 0);
        CHECK_INT(be->ops->tensor_set(be, &t, src, 0, sizeof(src)), 0);
        CHECK_INT(be->ops->tensor_set(be, &t, src, 8, sizeof(src)), -EINVAL);
        CHECK_INT(be->ops->tensor_get(be, &t, dst, 4, 8), 0);
        CHECK(dst[0] == 0.5f && dst[1] == 1.0f);
        CHECK_INT(be->ops->synchronize(be), 0);
        be->ops->tensor_free(be, &t);
        CHECK(t.data == NULL);
    }
    backend_free(be);
    be = NULL;

    err[0] = 0;
    CHECK_INT(backend_new_by_name("bogus", 1, &be, err, sizeof(err)), -EINVAL);
    CHECK(err[0] != 0);
    CHECK_INT(backend_new_by_name("cuda:x", 1, &be, err, sizeof(err)), -EINVAL);
    CHECK_INT(backend_new_by_name("cuda:", 1, &be, err, sizeof(err)), -EINVAL);
    /* auto always yields a backend: CUDA where usable, else the CPU */
    CHECK_INT(backend_new_by_name("auto", 1, &be, err, sizeof(err)), 0);
    CHECK(be != NULL);
    backend_free(be);
    be = NULL;
    int r = backend_new_by_name("cuda:0", 1, &be, err, sizeof(err));
    CHECK(r == 0 || r == -ENODEV);
    backend_free(be);
    backend_free(NULL);
}

int main(void)
{
    if (load_fixture() < 0)
        return 1;
    /* 1 and 2 threads with the AVX2/F16C row helpers (where the CPU has them), then 2 threads portable C */
    for (int cfg = 0; cfg < 3; cfg++) {
        Backend *be = NULL;
        int nt = cfg == 0 ? 1 : 2;
        g_verbose = cfg == 0;
        CHECK_INT(backend_cpu_new(nt, &be), 0);
        if (!be)
            break;
        cpu_vec_force_scalar(cfg == 2);
        if (cfg > 0) /* every op through the pool, even the tiny fixture shapes */
            ((CpuBackend *)be->impl)->parallel_min_cost = 0;
        printf("backend: %s%s\n", be->desc, cfg == 2 ? " (row helpers forced to portable C)" : "");
        test_norms(be);
        test_rope(be);
        test_softmax(be);
        test_attention(be);
        test_elementwise(be);
        test_get_rows(be);
        test_copy(be);
        test_im2col(be);
        test_validation(be);
        backend_free(be);
    }
    cpu_vec_force_scalar(0);
    test_selection();
    for (int i = 0; i < g_n_arr; i++)
        free(g_arr[i].data);
    return test_exit();
}
