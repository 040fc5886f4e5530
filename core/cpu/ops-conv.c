/* cpu/ops-conv.c — the CPU backend's ops for convolutional speech models (VITS / HiFi-GAN): conv1d with
 * stride, dilation, groups and zero padding; transposed conv1d; leaky ReLU, tanh, exp; the WaveNet gate;
 * relative-position self-attention (core/backend.h documents each op).
 *
 * Layout [C, L]: a time step is one contiguous row of C channels; weights have the output channel
 * innermost. conv1d with groups = 1 is the conv GEMM of ops-conv-gemm.c over a zero-padded copy of x
 * (which also applies the optional leaky ReLU); one output channel (conv_post) is a dot product per step.
 * Grouped (depthwise) convs are a direct loop. The transposed conv multiplies each input step by
 * w: [Cin][K·Cout] and then sums, per output step j, the taps k = (j + pad) mod s, + s, … in ascending k;
 * output chunks recompute the few input steps they share, so y[j] does not depend on how the work was cut
 * (streamed decoding gives the same bits as one call).
 * Scratch: CpuBackend.conv_scratch, grow-only; nothing here logs.
 * References: torch.nn.functional.conv1d / conv_transpose1d semantics (definitions in core/backend.h),
 * tanh / exp from libm (the WaveNet gate: exp512-based tanh and sigmoid with AVX-512), sigmoid 1/(1+e^−x);
 * attention as in VITS attentions.MultiHeadAttention with window_size and heads_share (Kim et al. 2021).
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cpu-features.h"
#include "ops-conv.h"
#include "ops.h"
#if defined(__x86_64__)
#include "exp512.h"
#endif

enum {
    CONV_SCRATCH_FLOATS = 1 << 20, /* unfolded columns per chunk (4 MiB) */
};

static int f32c(const Tensor *t)
{
    return t && t->data && t->dtype == DTYPE_F32 && tensor_is_contiguous(t);
}

static int64_t rows_of(const Tensor *t)
{
    return t->ne[1] * t->ne[2] * t->ne[3];
}

static int conv_scratch(CpuBackend *cb, size_t n)
{
    if (n <= cb->conv_scratch_len)
        return 0;
    float *p = aligned_alloc(64, (n * sizeof(float) + 63) / 64 * 64);
    if (!p)
        return -ENOMEM;
    free(cb->conv_scratch);
    cb->conv_scratch = p;
    cb->conv_scratch_len = n;
    return 0;
}

static int bias_ok(const Tensor *b, int64_t c)
{
    return !b || (f32c(b) && tensor_nelements(b) == c);
}

/* ---- the conv GEMM over threads -------------------------------------------------------------------------- */

typedef struct {
    ConvGemm g;
    int64_t t0, nt;
} GemmJob;

static void gemm_task(void *ctx, int ith, int nth)
{
    const GemmJob *j = ctx;
    /* split in whole 12-row tiles (ops-conv-gemm.c ROWS) */
    const int64_t tiles = (j->nt + 11) / 12;
    int64_t a, e;
    cpu_split(tiles, ith, nth, &a, &e);
    a = j->t0 + a * 12;
    e = j->t0 + e * 12 < j->t0 + j->nt ? j->t0 + e * 12 : j->t0 + j->nt;
    if (a < e)
        conv_gemm_rows(&j->g, a, e);
}

/* The input copy into the padded buffer, optionally through leaky ReLU (max(x, 0) + slope·min(x, 0): the
 * same value as the branch, in a form the compiler vectorises). */
typedef struct {
    float *dst;
    const float *src;
    int64_t n;
    int leaky;
    float slope;
} PadJob;

static void pad_task(void *ctx, int ith, int nth)
{
    const PadJob *j = ctx;
    int64_t a, e;
    cpu_split(j->n / 16, ith, nth, &a, &e);
    a *= 16;
    e = ith == nth - 1 ? j->n : e * 16;
    if (!j->leaky) {
        memcpy(j->dst + a, j->src + a, (size_t)(e - a) * sizeof(float));
        return;
    }
    conv_leaky_copy(j->dst + a, j->src + a, e - a, j->slope);
}

/* Few output channels (conv_post), stride 1, dilation 1: the K taps of step t are K·Cin contiguous floats
 * of the padded input, so each output is one dot product with the (k, c)-ordered weight row. */
typedef struct {
    const float *xp, *w, *b, *res;
    float *y;
    int64_t lout, cin, cout, row; /* row = K·Cin */
} DotJob;

static void dot_task(void *ctx, int ith, int nth)
{
    const DotJob *j = ctx;
    int64_t a, e;
    cpu_split(j->lout, ith, nth, &a, &e);
    for (int64_t t = a; t < e; t++)
        for (int64_t o = 0; o < j->cout; o++) {
            const float v = (j->b ? j->b[o] : 0.0f) +
                            conv_dot(j->w + (size_t)(o * j->row), j->xp + (size_t)(t * j->cin), j->row);
            j->y[t * j->cout + o] = j->res ? j->res[t * j->cout + o] + v : v;
        }
}

/* ---- conv1d ------------------------------------------------------------------------------------------ */

typedef struct {
    const float *x, *w, *b, *res;
    float *y, *col;
    int64_t Cin, L, Cout, K, t0, nt;
    int stride, pad, dil, groups, leaky;
    float slope;
} ConvJob;

static inline float act(const ConvJob *j, float v)
{
    return j->leaky && v < 0.0f ? v * j->slope : v;
}

/* Grouped conv, direct: y[t][o] = b[o] + Σ_k Σ_c w[k][c][o] · x[t·s − pad + k·d][g·cpg + c]. */
static void grouped_task(void *ctx, int ith, int nth)
{
    const ConvJob *j = ctx;
    const int64_t cpg = j->Cin / j->groups, opg = j->Cout / j->groups;
    int64_t a, e;
    cpu_split(j->nt, ith, nth, &a, &e);
    if (cpg == 1 && opg == 1 && !j->leaky) { /* depthwise: vector over channels, taps in ascending k */
        for (int64_t t = a; t < e; t++) {
            float *restrict y = j->y + (size_t)t * (size_t)j->Cout;
            const int64_t base = t * j->stride - j->pad;
            for (int64_t o = 0; o < j->Cout; o++)
                y[o] = j->b ? j->b[o] : 0.0f;
            for (int64_t k = 0; k < j->K; k++) {
                const int64_t src = base + k * j->dil;
                if (src < 0 || src >= j->L)
                    continue;
                const float *restrict xs = j->x + (size_t)src * (size_t)j->Cin;
                const float *restrict w = j->w + (size_t)k * (size_t)j->Cout;
                for (int64_t o = 0; o < j->Cout; o++)
                    y[o] += w[o] * xs[o];
            }
            if (j->res)
                for (int64_t o = 0; o < j->Cout; o++)
                    y[o] = j->res[(size_t)t * (size_t)j->Cout + (size_t)o] + y[o];
        }
        return;
    }
    for (int64_t t = a; t < e; t++) {
        float *y = j->y + (size_t)t * (size_t)j->Cout;
        const int64_t base = t * j->stride - j->pad;
        for (int64_t o = 0; o < j->Cout; o++) {
            const int64_t g = o / opg;
            float acc = j->b ? j->b[o] : 0.0f;
            for (int64_t k = 0; k < j->K; k++) {
                const int64_t src = base + k * j->dil;
                if (src < 0 || src >= j->L)
                    continue;
                const float *xs = j->x + (size_t)src * (size_t)j->Cin + (size_t)(g * cpg);
                for (int64_t c = 0; c < cpg; c++)
                    acc += j->w[(size_t)(k * cpg + c) * (size_t)j->Cout + (size_t)o] * act(j, xs[c]);
            }
            y[o] = j->res ? j->res[(size_t)t * (size_t)j->Cout + (size_t)o] + acc : acc;
        }
    }
}

int cpu_op_conv1d(Backend *be, Tensor *y, const Tensor *x, const Tensor *w, const Tensor *b,
                  const Conv1dParams *p)
{
    CpuBackend *cb = cpu_backend(be);
    int r;

    if (!p || !f32c(y) || !f32c(x) || !f32c(w) || !bias_ok(b, y ? y->ne[0] : 0))
        return -EINVAL;
    const int64_t Cin = x->ne[0], L = rows_of(x), Cout = y->ne[0];
    const int64_t K = w->ne[2];
    if (p->stride < 1 || p->dilation < 1 || p->groups < 1 || p->pad < 0 || K < 1)
        return -EINVAL;
    if (Cin % p->groups || Cout % p->groups || w->ne[1] != Cin / p->groups || w->ne[0] != Cout || w->ne[3] != 1)
        return -EINVAL;
    const int64_t span = (int64_t)p->dilation * (K - 1) + 1;
    if (L + 2 * (int64_t)p->pad < span || rows_of(y) != (L + 2 * (int64_t)p->pad - span) / p->stride + 1)
        return -EINVAL;
    const int64_t Lout = rows_of(y);
    const Tensor *rt = p->residual;
    if (y->data == x->data || (rt && (!f32c(rt) || rt->ne[0] != Cout || rows_of(rt) != Lout)))
        return -EINVAL;
    ConvJob j = {.x = x->data, .w = w->data, .b = b ? b->data : NULL, .res = rt ? rt->data : NULL, .y = y->data,
                 .Cin = Cin, .L = L,
                 .Cout = Cout, .K = K, .stride = p->stride, .pad = p->pad, .dil = p->dilation,
                 .groups = p->groups, .nt = Lout, .leaky = p->leaky_in, .slope = p->slope};

    if (p->groups > 1) {
        cpu_parallel(cb, Lout * Cout * K * (Cin / p->groups), grouped_task, &j);
        return 0;
    }
    /* the input with pad zero rows on both ends (through leaky ReLU when asked), unless it can be used as is */
    const int64_t nw = K * Cin * Cout, Lp = L + 2 * (int64_t)p->pad;
    const int copy = p->pad || p->leaky_in;
    if (copy && (r = conv_scratch(cb, (size_t)(Lp * Cin))) < 0)
        return r;
    float *xp = copy ? cb->conv_scratch : (float *)x->data;
    if (copy) {
        memset(xp, 0, (size_t)(p->pad * Cin) * sizeof(float));
        PadJob pj = {xp + p->pad * Cin, x->data, L * Cin, p->leaky_in, p->slope};
        cpu_parallel(cb, L * Cin, pad_task, &pj);
        memset(xp + (p->pad + L) * Cin, 0, (size_t)(p->pad * Cin) * sizeof(float));
    }
    if (Cout == 1 && p->stride == 1 && p->dilation == 1) {
        DotJob dj = {xp, w->data, j.b, j.res, y->data, Lout, Cin, Cout, K * Cin};
        cpu_parallel(cb, Lout * nw, dot_task, &dj);
        return 0;
    }
    GemmJob gj = {{.xp = xp, .wt = w->data, .b = j.b, .res = j.res, .y = y->data, .cin = Cin, .k = K, .n = Cout, .t_base = 0,
                   .ystride = (size_t)Cout, .stride = p->stride, .dil = p->dilation},
                  0, Lout};
    cpu_parallel(cb, Lout * nw, gemm_task, &gj);
    return 0;
}

/* ---- transposed conv1d ------------------------------------------------------------------------------- */

typedef struct {
    const float *z, *b; /* z: [K·Cout, ni] for input steps i0 …; b may be NULL */
    float *y;           /* output steps j0 … j0 + nj − 1 */
    int64_t Cout, K, L, i0, j0, nj;
    int stride, pad;
} ColJob;

static void col2im_task(void *ctx, int ith, int nth)
{
    const ColJob *c = ctx;
    int64_t a, e;
    cpu_split(c->nj, ith, nth, &a, &e);
    for (int64_t jj = a; jj < e; jj++) {
        const int64_t j = c->j0 + jj;
        float *y = c->y + (size_t)j * (size_t)c->Cout;
        if (c->b)
            memcpy(y, c->b, (size_t)c->Cout * sizeof(float));
        else
            memset(y, 0, (size_t)c->Cout * sizeof(float));
        for (int64_t k = (j + c->pad) % c->stride; k < c->K; k += c->stride) {
            const int64_t i = (j + c->pad - k) / c->stride;
            if (i < 0)
                break;
            if (i >= c->L)
                continue;
            const float *z = c->z + (size_t)(i - c->i0) * (size_t)(c->K * c->Cout) + (size_t)(k * c->Cout);
            for (int64_t o = 0; o < c->Cout; o++)
                y[o] += z[o];
        }
    }
}

int cpu_op_conv_transpose1d(Backend *be, Tensor *y, const Tensor *x, const Tensor *w, const Tensor *b, int stride,
                            int pad)
{
    CpuBackend *cb = cpu_backend(be);
    int r;

    if (!f32c(y) || !f32c(x) || !f32c(w) || stride < 1 || pad < 0)
        return -EINVAL;
    const int64_t Cin = x->ne[0], L = rows_of(x), Cout = y->ne[0], K = w->ne[1];
    if (w->ne[2] != Cin || w->ne[0] != Cout || w->ne[3] != 1 || K < 1 || !bias_ok(b, Cout) || L < 1)
        return -EINVAL;
    const int64_t Lout = (L - 1) * stride - 2 * (int64_t)pad + K;
    if (Lout < 1 || rows_of(y) != Lout)
        return -EINVAL;
    /* output chunk of nj steps needs inputs [(j0 + pad − K + 1) / s, (j0 + nj − 1 + pad) / s] */
    int64_t ni_max = CONV_SCRATCH_FLOATS / (K * Cout);
    if (ni_max < K / stride + 4)
        ni_max = K / stride + 4;
    const int64_t nj = (ni_max - K / stride - 3) * stride; /* needs at most ni_max input steps */
    if ((r = conv_scratch(cb, (size_t)(ni_max * K * Cout))) < 0)
        return r;
    ColJob c = {.z = cb->conv_scratch, .b = b ? b->data : NULL, .y = y->data, .Cout = Cout, .K = K, .L = L,
                .stride = stride, .pad = pad};
    for (int64_t j0 = 0; j0 < Lout; j0 += nj) {
        const int64_t n = Lout - j0 < nj ? Lout - j0 : nj;
        int64_t lo = j0 + pad - K + 1, hi = (j0 + n - 1 + pad) / stride;
        lo = lo <= 0 ? 0 : (lo + stride - 1) / stride;
        if (hi > L - 1)
            hi = L - 1;
        c.i0 = lo;
        c.j0 = j0;
        c.nj = n;
        if (hi >= lo) { /* z: [K·Cout, hi − lo + 1] = w [Cin, K·Cout] applied to each input step */
            GemmJob gj = {{.xp = x->data, .wt = w->data, .b = NULL, .y = cb->conv_scratch, .cin = Cin, .k = 1,
                           .n = K * Cout, .t_base = lo, .ystride = (size_t)(K * Cout), .stride = 1, .dil = 1},
                          lo, hi - lo + 1};
            cpu_parallel(cb, (hi - lo + 1) * Cin * K * Cout, gemm_task, &gj);
        }
        cpu_parallel(cb, n * Cout * (K / stride + 1), col2im_task, &c);
    }
    return 0;
}

/* ---- elementwise --------------------------------------------------------------------------------------- */

typedef struct {
    float *y;
    const float *x;
    int64_t n, C;
    float a;
    int op;
} EwJob;

enum { EW_LRELU, EW_TANH, EW_EXP };

static void ew_task(void *ctx, int ith, int nth)
{
    const EwJob *j = ctx;
    int64_t a, e;
    cpu_split(j->n, ith, nth, &a, &e);
    switch (j->op) {
    case EW_LRELU:
        for (int64_t i = a; i < e; i++)
            j->y[i] = j->x[i] >= 0.0f ? j->x[i] : j->x[i] * j->a;
        break;
    case EW_TANH:
        for (int64_t i = a; i < e; i++)
            j->y[i] = tanhf(j->x[i]);
        break;
    default:
        for (int64_t i = a; i < e; i++)
            j->y[i] = expf(j->x[i]);
        break;
    }
}

static int ew(Backend *be, Tensor *y, const Tensor *x, int op, float a)
{
    if (!f32c(y) || !f32c(x))
        return -EINVAL;
    for (int d = 0; d < TENSOR_MAX_DIMS; d++)
        if (x->ne[d] != y->ne[d])
            return -EINVAL;
    EwJob j = {.y = y->data, .x = x->data, .n = tensor_nelements(x), .a = a, .op = op};
    cpu_parallel(cpu_backend(be), j.n * (op == EW_LRELU ? 1 : 8), ew_task, &j);
    return 0;
}

int cpu_op_leaky_relu(Backend *be, Tensor *y, const Tensor *x, float slope)
{
    return ew(be, y, x, EW_LRELU, slope);
}

int cpu_op_tanh(Backend *be, Tensor *y, const Tensor *x)
{
    return ew(be, y, x, EW_TANH, 0.0f);
}

int cpu_op_exp(Backend *be, Tensor *y, const Tensor *x)
{
    return ew(be, y, x, EW_EXP, 0.0f);
}

#if defined(__x86_64__)
/* tanh(a)·σ(g) for 16 lanes: tanh(a) = 1 − 2/(e^{2a} + 1), σ(g) = 1/(1 + e^{−g}) with exp512 (≤ 2 ulp);
 * absolute error of tanh ~1e-7 near 0 (the WaveNet gate's inputs are O(1)). */
__attribute__((target("avx512f,avx512bw,avx512vl,fma"))) static void gate_row_avx512(float *y, const float *a,
                                                                                      const float *g, int64_t n)
{
    const __m512 one = _mm512_set1_ps(1.0f), two = _mm512_set1_ps(2.0f);
    int64_t c = 0;
    for (; c + 16 <= n; c += 16) {
        const __m512 ea = exp512(_mm512_mul_ps(two, _mm512_loadu_ps(a + c)));
        const __m512 eg = exp512(_mm512_sub_ps(_mm512_setzero_ps(), _mm512_loadu_ps(g + c)));
        const __m512 th = _mm512_sub_ps(one, _mm512_div_ps(two, _mm512_add_ps(ea, one)));
        _mm512_storeu_ps(y + c, _mm512_div_ps(th, _mm512_add_ps(one, eg)));
    }
    for (; c < n; c++)
        y[c] = tanhf(a[c]) * (1.0f / (1.0f + expf(-g[c])));
}
#endif

static void gate_task(void *ctx, int ith, int nth)
{
    const EwJob *j = ctx;
    int64_t a, e;
    cpu_split(j->n, ith, nth, &a, &e);
#if defined(__x86_64__)
    const int v512 = cpu_features()->avx512f && cpu_features()->avx512bw && cpu_features()->avx512vl;
#else
    const int v512 = 0;
#endif
    for (int64_t t = a; t < e; t++) {
        const float *x = j->x + (size_t)t * (size_t)(2 * j->C);
        float *y = j->y + (size_t)t * (size_t)j->C;
#if defined(__x86_64__)
        if (v512) {
            gate_row_avx512(y, x, x + j->C, j->C);
            continue;
        }
#endif
        (void)v512;
        for (int64_t c = 0; c < j->C; c++)
            y[c] = tanhf(x[c]) * (1.0f / (1.0f + expf(-x[j->C + c])));
    }
}

int cpu_op_gated_tanh(Backend *be, Tensor *y, const Tensor *x)
{
    if (!f32c(y) || !f32c(x) || x->ne[0] != 2 * y->ne[0] || rows_of(x) != rows_of(y) || y->data == x->data)
        return -EINVAL;
    EwJob j = {.y = y->data, .x = x->data, .n = rows_of(y), .C = y->ne[0]};
    cpu_parallel(cpu_backend(be), j.n * j.C * 16, gate_task, &j);
    return 0;
}

/* ---- relative-position attention ----------------------------------------------------------------------- */

typedef struct {
    const float *q, *k, *v, *ek, *ev;
    float *out, *scratch; /* scratch: T floats per thread */
    int64_t HD, NH, T;
    int W;
    float scale;
} RelJob;


static void rel_task(void *ctx, int ith, int nth)
{
    const RelJob *j = ctx;
    float *p = j->scratch + (size_t)ith * (size_t)j->T;
    int64_t a, e;
    cpu_split(j->NH * j->T, ith, nth, &a, &e);
    for (int64_t hi = a; hi < e; hi++) {
        const int64_t h = hi / j->T, i = hi % j->T;
        const size_t row = (size_t)j->HD * (size_t)j->NH;
        const float *q = j->q + (size_t)i * row + (size_t)(h * j->HD);
        float mx = -INFINITY, sum = 0.0f;
        for (int64_t t = 0; t < j->T; t++) {
            float s = conv_dot(q, j->k + (size_t)t * row + (size_t)(h * j->HD), j->HD);
            const int64_t rel = t - i;
            if (rel >= -j->W && rel <= j->W)
                s += conv_dot(q, j->ek + (size_t)(rel + j->W) * (size_t)j->HD, j->HD);
            p[t] = s * j->scale;
            mx = p[t] > mx ? p[t] : mx;
        }
        for (int64_t t = 0; t < j->T; t++) {
            p[t] = expf(p[t] - mx);
            sum += p[t];
        }
        float *o = j->out + (size_t)i * row + (size_t)(h * j->HD);
        memset(o, 0, (size_t)j->HD * sizeof(float));
        const float inv = 1.0f / sum;
        for (int64_t t = 0; t < j->T; t++) {
            const float pt = p[t] * inv;
            cpu_vec_axpy_f32(o, pt, j->v + (size_t)t * row + (size_t)(h * j->HD), j->HD);
            const int64_t rel = t - i;
            if (rel >= -j->W && rel <= j->W)
                cpu_vec_axpy_f32(o, pt, j->ev + (size_t)(rel + j->W) * (size_t)j->HD, j->HD);
        }
    }
}

int cpu_op_attention_rel(Backend *be, Tensor *out, const Tensor *q, const Tensor *k, const Tensor *v,
                         const Tensor *ek, const Tensor *ev, int window, float scale)
{
    CpuBackend *cb = cpu_backend(be);
    int r;
    if (!f32c(out) || !f32c(q) || !f32c(k) || !f32c(v) || !f32c(ek) || !f32c(ev) || window < 0)
        return -EINVAL;
    const int64_t HD = q->ne[0], NH = q->ne[1], T = q->ne[2];
    for (int d = 0; d < TENSOR_MAX_DIMS; d++)
        if (k->ne[d] != q->ne[d] || v->ne[d] != q->ne[d] || out->ne[d] != q->ne[d])
            return -EINVAL;
    if (q->ne[3] != 1 || T < 1 || ek->ne[0] != HD || ek->ne[1] != 2 * (int64_t)window + 1 ||
        tensor_nelements(ek) != HD * (2 * (int64_t)window + 1) || ev->ne[0] != HD || ev->ne[1] != ek->ne[1] ||
        tensor_nelements(ev) != tensor_nelements(ek) || out->data == q->data || out->data == k->data ||
        out->data == v->data)
        return -EINVAL;
    if ((r = conv_scratch(cb, (size_t)T * (size_t)cb->n_threads)) < 0)
        return r;
    RelJob j = {.q = q->data, .k = k->data, .v = v->data, .ek = ek->data, .ev = ev->data, .out = out->data,
                .scratch = cb->conv_scratch, .HD = HD, .NH = NH, .T = T, .W = window, .scale = scale};
    cpu_parallel(cb, NH * T * T * HD * 2, rel_task, &j);
    return 0;
}
