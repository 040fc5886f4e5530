/* bench-attention.c — CPU attention op benchmark (not a test): wall time per backend_attention call for
 *  - ViT-like (mllama vision encoder): HD 80, NH = NKV = 16, T = S = 1601 and 6404, F32 K/V, no mask;
 *  - prefill-like (LM prompt): HD 64, NH 9, NKV 3, T = S = 512, causal, F16 K/V;
 *  - decode (T = 1) over S = 4096, HD 64, NH 9, NKV 3, F16 K/V, for reference.
 * Usage: bench-attention [-t threads] [-q]   (-q: the 6404 shape is skipped). Results in docs/PERFORMANCE.md.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backend.h"
#include "bench-util.h"

static uint32_t rng = 12345u;
static float frand(void)
{
    rng = rng * 1664525u + 1013904223u;
    return (float)(rng >> 8) / 16777216.0f * 2.0f - 1.0f;
}

static int alloc(Backend *be, Tensor *t, DType dt, int64_t a, int64_t b, int64_t c)
{
    int64_t ne[3] = {a, b, c};
    int r = tensor_init(t, dt, 3, ne, NULL);
    if (r < 0 || (r = be->ops->tensor_alloc(be, t)) < 0)
        return r;
    int64_t n = a * b * c;
    if (dt == DTYPE_F32) {
        for (int64_t i = 0; i < n; i++)
            ((float *)t->data)[i] = frand();
    } else {
        /* F16 values in [-1, 1): exponent 14 or 15 with a random mantissa */
        for (int64_t i = 0; i < n; i++) {
            float f = frand();
            uint16_t sgn = f < 0 ? 0x8000 : 0, mant = (uint16_t)(rng >> 22);
            ((uint16_t *)t->data)[i] = (uint16_t)(sgn | (uint16_t)((14u - (rng & 1u)) << 10) | mant);
        }
    }
    return 0;
}

static int run(Backend *be, const char *name, int64_t hd, int64_t nh, int64_t nkv, int64_t t, int64_t s,
               int causal, DType kvt, int reps)
{
    Tensor q, k, v, o;
    AttnParams ap = {.scale = 1.0f / sqrtf((float)hd), .causal = causal, .n_past = s - t, .mask = NULL};
    int r;

    if ((r = alloc(be, &q, DTYPE_F32, hd, nh, t)) < 0 || (r = alloc(be, &o, DTYPE_F32, hd, nh, t)) < 0 ||
        (r = alloc(be, &k, kvt, hd, nkv, s)) < 0 || (r = alloc(be, &v, kvt, hd, nkv, s)) < 0) {
        fprintf(stderr, "bench-attention: alloc: %d\n", r);
        return r;
    }
    if ((r = backend_attention(be, &o, &q, &k, &v, &ap)) < 0) { /* warm-up (scratch growth) */
        fprintf(stderr, "bench-attention: attention: %d\n", r);
        return r;
    }
    double best = 1e30;
    for (int i = 0; i < reps; i++) {
        double t0 = bench_now_s();
        backend_attention(be, &o, &q, &k, &v, &ap);
        double dt = bench_now_s() - t0;
        best = dt < best ? dt : best;
    }
    double flop = 4.0 * (double)hd * (double)nh * (double)t * (double)s * (causal && t > 1 ? 0.5 : 1.0);
    printf("%-28s HD %3lld NH %2lld NKV %2lld T %5lld S %5lld %-6s %s: %9.2f ms  %6.1f GFLOP/s\n", name,
           (long long)hd, (long long)nh, (long long)nkv, (long long)t, (long long)s, causal ? "causal" : "full",
           kvt == DTYPE_F16 ? "F16" : "F32", best * 1e3, flop / best * 1e-9);
    be->ops->tensor_free(be, &q);
    be->ops->tensor_free(be, &o);
    be->ops->tensor_free(be, &k);
    be->ops->tensor_free(be, &v);
    return 0;
}

int main(int argc, char **argv)
{
    int threads = 1, quick = 0;
    Backend *be = NULL;

    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-t") && i + 1 < argc)
            threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "-q"))
            quick = 1;
        else {
            fprintf(stderr, "usage: bench-attention [-t threads] [-q]\n");
            return 2;
        }
    }
    if (backend_cpu_new(threads, &be) < 0) {
        fprintf(stderr, "bench-attention: no CPU backend\n");
        return 1;
    }
    printf("%s\n", be->desc);
    int r = run(be, "vit (mllama 448px tile)", 80, 16, 16, 1601, 1601, 0, DTYPE_F32, 3);
    if (!r && !quick)
        r = run(be, "vit (mllama 4 tiles)", 80, 16, 16, 6404, 6404, 0, DTYPE_F32, 1);
    if (!r)
        r = run(be, "prefill (lm-tiny-like)", 64, 9, 3, 512, 512, 1, DTYPE_F16, 5);
    if (!r)
        r = run(be, "decode", 64, 9, 3, 1, 4096, 1, DTYPE_F16, 50);
    be->ops->destroy(be);
    return r < 0 ? 1 : 0;
}
