/* test-conv-ops.c — the CPU backend's conv1d and conv_transpose1d (core/cpu/ops-conv.c) against float64
 * NumPy outputs (tools/ref/tiny_vits.py → tests/fixtures/conv-ops; vits_ref.conv1d / conv_transpose1d
 * implement torch's definitions, and vits_ref matches onnxruntime on a real Piper voice). Weights are
 * stored in PyTorch layouts and repacked here into the op layouts of core/backend.h, as speech/tts/vits.c
 * does. Limit: max |error| <= 1e-4 · (1 + |ref|) (float32 sums of ≤ 56 products of O(1) values). */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "test-util.h"

static float *load(const char *name, const char *ext)
{
    char f[96];
    size_t n;
    snprintf(f, sizeof(f), "%s.%s", name, ext);
    return test_read_fixture("conv-ops", f, &n);
}

static int ival(json_t *o, const char *k)
{
    return (int)json_integer_value(json_object_get(o, k));
}

int main(void)
{
    Backend *be = NULL;
    size_t n;
    char *js = test_read_fixture("conv-ops", "cases.json", &n);
    json_t *cases = js ? json_loadb(js, n, 0, NULL) : NULL;
    free(js);
    CHECK(cases != NULL);
    CHECK_INT(backend_cpu_new(2, &be), 0);
    if (!cases || !be)
        return test_exit();
    for (size_t i = 0; i < json_array_size(cases); i++) {
        json_t *c = json_array_get(cases, i);
        const char *name = json_string_value(json_object_get(c, "name"));
        const int cin = ival(c, "cin"), cout = ival(c, "cout"), L = ival(c, "L"), K = ival(c, "K");
        const int lout = ival(c, "lout"), s = ival(c, "stride"), p = ival(c, "pad");
        const int tr = strcmp(json_string_value(json_object_get(c, "op")), "conv_transpose1d") == 0;
        const int g = tr ? 1 : ival(c, "groups"), d = tr ? 1 : ival(c, "dilation"), cpg = cin / g;
        float *x = load(name, "x"), *w = load(name, "w"), *b = load(name, "b"), *ref = load(name, "y");
        CHECK(x && w && b && ref);
        if (!x || !w || !b || !ref)
            continue;
        /* fixture arrays are PyTorch-layout: x [Cin][L], y [Cout][Lout]; the op wants [C, L] (time outer) */
        float *xt = malloc((size_t)cin * L * 4), *wt = malloc((size_t)cin * cout * K * 4), *y = calloc((size_t)cout * lout, 4);
        for (int t = 0; t < L; t++)
            for (int ch = 0; ch < cin; ch++)
                xt[t * cin + ch] = x[ch * L + t];
        Tensor X, W, B, Y;
        tensor_init(&X, DTYPE_F32, 2, (int64_t[]){cin, L}, xt);
        tensor_init(&B, DTYPE_F32, 1, (int64_t[]){cout}, b);
        tensor_init(&Y, DTYPE_F32, 2, (int64_t[]){cout, lout}, y);
        int r;
        if (tr) { /* PyTorch [Cin][Cout][K] → [Cin][K][Cout] */
            for (int k = 0; k < K; k++)
                for (int o = 0; o < cout; o++)
                    for (int ch = 0; ch < cin; ch++)
                        wt[(ch * K + k) * cout + o] = w[(ch * cout + o) * K + k];
            tensor_init(&W, DTYPE_F32, 3, (int64_t[]){cout, K, cin}, wt);
            r = be->ops->conv_transpose1d(be, &Y, &X, &W, &B, s, p);
        } else { /* PyTorch [Cout][Cin/g][K] → [K][Cin/g][Cout] */
            for (int o = 0; o < cout; o++)
                for (int k = 0; k < K; k++)
                    for (int ch = 0; ch < cpg; ch++)
                        wt[(k * cpg + ch) * cout + o] = w[(o * cpg + ch) * K + k];
            tensor_init(&W, DTYPE_F32, 3, (int64_t[]){cout, cpg, K}, wt);
            Conv1dParams cp = {s, p, d, g, 0, 0.0f, NULL};
            r = be->ops->conv1d(be, &Y, &X, &W, &B, &cp);
        }
        CHECK_INT(r, 0);
        double worst = 0;
        for (int t = 0; t < lout; t++)
            for (int o = 0; o < cout; o++) {
                const double rv = ref[o * lout + t];
                worst = fmax(worst, fabs(y[t * cout + o] - rv) / (1 + fabs(rv)));
            }
        fprintf(stderr, "%s: worst error %.3g\n", name, worst);
        CHECK(worst <= 1e-4);
        free(x), free(w), free(b), free(ref), free(xt), free(wt), free(y);
    }
    /* wrong shapes are refused */
    float buf[64] = {0};
    Tensor X, W, Y;
    tensor_init(&X, DTYPE_F32, 2, (int64_t[]){4, 8}, buf);
    tensor_init(&W, DTYPE_F32, 3, (int64_t[]){2, 4, 3}, buf);
    tensor_init(&Y, DTYPE_F32, 2, (int64_t[]){2, 7}, buf);
    Conv1dParams cp = {1, 1, 1, 1, 0, 0.0f, NULL}; /* Lout would be 8, not 7 */
    CHECK_INT(be->ops->conv1d(be, &Y, &X, &W, NULL, &cp), -EINVAL);
    json_decref(cases);
    backend_free(be);
    return test_exit();
}
