/* cpu/ops.c — the CPU backend's non-matmul, non-attention ops (backend.h documents each one).
 *
 * Norms, RoPE, softmax, activations, elementwise add/mul/scale, get_rows, copy/convert and im2col, on host
 * F32 tensors, threaded over rows via cpu_parallel when the tensor is big enough to pay for a wake-up.
 * Inner loops are plain counted loops over contiguous floats so gcc/clang vectorise them; reductions keep
 * several partial sums for the same reason. Nothing here allocates or logs.
 * References: RMSNorm (Zhang & Sennrich 2019; HF LlamaRMSNorm), LayerNorm (torch.nn.LayerNorm, biased
 * variance), RoPE (SPEC.md §1.9; ggml rope NORMAL/NEOX with freq_factors; angles in double), GELU (erf,
 * torch.nn.GELU) and tanh approximation (torch approximate="tanh"), SiLU x·σ(x), SwiGLU silu(g)·u.
 * Not here: matmul (matmul.c), attention (ops-attn.c), quantized block formats (core/quant.c).
 */
#include <errno.h>
#include <math.h>
#include <stdatomic.h>
#include <string.h>

#include "cpu-features.h"
#include "ops.h"
#include "quant.h"

#if defined(__x86_64__)
#include <immintrin.h>
#define HAVE_X86 1
#else
#define HAVE_X86 0
#endif

enum { LANES = 16, ROPE_MAX_PAIRS = 1024 };

/* ---- validation helpers ---------------------------------------------------------------------------- */

static int is_f32_contig(const Tensor *t)
{
    return t && t->data && t->dtype == DTYPE_F32 && tensor_is_contiguous(t);
}

static int same_shape(const Tensor *a, const Tensor *b)
{
    for (int d = 0; d < TENSOR_MAX_DIMS; d++)
        if (a->ne[d] != b->ne[d])
            return 0;
    return 1;
}

static int check_unary(const Tensor *y, const Tensor *x)
{
    if (!y || !x)
        return -EINVAL;
    if (y->dtype != DTYPE_F32 || x->dtype != DTYPE_F32)
        return -ENOTSUP;
    if (!is_f32_contig(y) || !is_f32_contig(x) || !same_shape(y, x))
        return -EINVAL;
    return 0;
}

/* Optional per-channel vector [C] F32. */
static int check_vec(const Tensor *w, int64_t c)
{
    if (!w)
        return 0;
    if (w->dtype != DTYPE_F32)
        return -ENOTSUP;
    return is_f32_contig(w) && tensor_nelements(w) == c ? 0 : -EINVAL;
}

/* ---- rows helper: run a per-row kernel over [C, R] with threading ----------------------------------- */

typedef struct {
    int kind;
    float *y;
    const float *x, *w, *b;
    int64_t c, rows;
    float eps;
} RowCtx;

enum { ROW_RMSNORM, ROW_LAYERNORM };

static float sum_lanes(const float *x, int64_t n)
{
    float acc[LANES] = {0}, s = 0;
    int64_t i = 0;
    for (; i + LANES <= n; i += LANES)
        for (int j = 0; j < LANES; j++)
            acc[j] += x[i + j];
    for (int j = 0; j < LANES; j++)
        s += acc[j];
    for (; i < n; i++)
        s += x[i];
    return s;
}

static float sumsq_lanes(const float *x, float mean, int64_t n)
{
    float acc[LANES] = {0}, s = 0;
    int64_t i = 0;
    for (; i + LANES <= n; i += LANES)
        for (int j = 0; j < LANES; j++) {
            float d = x[i + j] - mean;
            acc[j] += d * d;
        }
    for (int j = 0; j < LANES; j++)
        s += acc[j];
    for (; i < n; i++) {
        float d = x[i] - mean;
        s += d * d;
    }
    return s;
}

static void norm_task(void *p, int ith, int nth)
{
    const RowCtx *c = p;
    int64_t r0, r1, n = c->c;
    cpu_split(c->rows, ith, nth, &r0, &r1);
    for (int64_t r = r0; r < r1; r++) {
        const float *x = c->x + r * n;
        float *y = c->y + r * n;
        float mean = c->kind == ROW_LAYERNORM ? sum_lanes(x, n) / (float)n : 0.0f;
        float rs = 1.0f / sqrtf(sumsq_lanes(x, mean, n) / (float)n + c->eps);
        if (c->w && c->b)
            for (int64_t i = 0; i < n; i++)
                y[i] = (x[i] - mean) * rs * c->w[i] + c->b[i];
        else if (c->w)
            for (int64_t i = 0; i < n; i++)
                y[i] = (x[i] - mean) * rs * c->w[i];
        else if (c->b)
            for (int64_t i = 0; i < n; i++)
                y[i] = (x[i] - mean) * rs + c->b[i];
        else
            for (int64_t i = 0; i < n; i++)
                y[i] = (x[i] - mean) * rs;
    }
}

static int norm_common(Backend *be, int kind, Tensor *y, const Tensor *x, const Tensor *w, const Tensor *b,
                       float eps)
{
    int r = check_unary(y, x);
    if (r < 0)
        return r;
    if ((r = check_vec(w, x->ne[0])) < 0 || (r = check_vec(b, x->ne[0])) < 0)
        return r;
    if (!(eps >= 0.0f) || x->ne[0] == 0)
        return x->ne[0] == 0 ? 0 : -EINVAL;
    RowCtx c = {.kind = kind, .y = y->data, .x = x->data, .w = w ? w->data : NULL, .b = b ? b->data : NULL,
                .c = x->ne[0], .rows = tensor_nelements(x) / x->ne[0], .eps = eps};
    cpu_parallel(cpu_backend(be), tensor_nelements(x) * 3, norm_task, &c);
    return 0;
}

int cpu_op_rmsnorm(Backend *be, Tensor *y, const Tensor *x, const Tensor *w, float eps)
{
    return norm_common(be, ROW_RMSNORM, y, x, w, NULL, eps);
}

int cpu_op_layernorm(Backend *be, Tensor *y, const Tensor *x, const Tensor *w, const Tensor *b, float eps)
{
    return norm_common(be, ROW_LAYERNORM, y, x, w, b, eps);
}

/* ---- RoPE ------------------------------------------------------------------------------------------------ */

typedef struct {
    const Tensor *x;
    const int32_t *pos;
    const RopeParams *p;
    double inv_freq[ROPE_MAX_PAIRS]; /* freq_scale · base^(−2i/n_rot) / ff_i */
} RopeCtx;

static void rope_task(void *arg, int ith, int nth)
{
    const RopeCtx *c = arg;
    const Tensor *x = c->x;
    int64_t r0, r1, t_have = -1, half = c->p->n_rot / 2;
    float cs[ROPE_MAX_PAIRS], sn[ROPE_MAX_PAIRS];
    int neox = c->p->mode == ROPE_NEOX;

    /* rows (head h, token t), t outermost; cos/sin recomputed when t changes */
    cpu_split(x->ne[1] * x->ne[2], ith, nth, &r0, &r1);
    for (int64_t r = r0; r < r1; r++) {
        int64_t t = r / x->ne[1], h = r % x->ne[1];
        if (t != t_have) {
            for (int64_t i = 0; i < half; i++) {
                double th = (double)c->pos[t] * c->inv_freq[i];
                cs[i] = (float)cos(th);
                sn[i] = (float)sin(th);
            }
            t_have = t;
        }
        float *v = (float *)((char *)x->data + h * x->nb[1] + t * x->nb[2]);
        if (neox) {
            for (int64_t i = 0; i < half; i++) {
                float a = v[i], b = v[i + half];
                v[i] = a * cs[i] - b * sn[i];
                v[i + half] = a * sn[i] + b * cs[i];
            }
        } else {
            for (int64_t i = 0; i < half; i++) {
                float a = v[2 * i], b = v[2 * i + 1];
                v[2 * i] = a * cs[i] - b * sn[i];
                v[2 * i + 1] = a * sn[i] + b * cs[i];
            }
        }
    }
}

int cpu_op_rope(Backend *be, Tensor *x, const int32_t *pos, const RopeParams *p)
{
    RopeCtx c;

    if (!x || !p || (!pos && x->ne[2] > 0) || !x->data)
        return -EINVAL;
    if (x->dtype != DTYPE_F32)
        return -ENOTSUP;
    if (p->mode != ROPE_NORMAL && p->mode != ROPE_NEOX)
        return -ENOTSUP;
    if (x->nb[0] != 4 || x->ne[3] != 1 || p->n_rot <= 0 || p->n_rot % 2 || p->n_rot > x->ne[0] ||
        p->n_rot / 2 > ROPE_MAX_PAIRS || !(p->freq_base > 0.0f) || !isfinite(p->freq_scale))
        return -EINVAL;
    c.x = x;
    c.pos = pos;
    c.p = p;
    for (int i = 0; i < p->n_rot / 2; i++) {
        double ff = p->freq_factors ? (double)p->freq_factors[i] : 1.0;
        if (!(ff > 0.0))
            return -EINVAL;
        c.inv_freq[i] = (double)p->freq_scale * pow((double)p->freq_base, -2.0 * i / p->n_rot) / ff;
    }
    cpu_parallel(cpu_backend(be), x->ne[1] * x->ne[2] * p->n_rot * 4, rope_task, &c);
    return 0;
}

/* ---- softmax --------------------------------------------------------------------------------------------- */

typedef struct {
    float *x;
    const float *mask;
    int64_t n, rows, mask_rows;
    float scale;
} SoftmaxCtx;

static void softmax_task(void *arg, int ith, int nth)
{
    const SoftmaxCtx *c = arg;
    int64_t r0, r1, n = c->n;
    cpu_split(c->rows, ith, nth, &r0, &r1);
    for (int64_t r = r0; r < r1; r++) {
        float *x = c->x + r * n, mx = -INFINITY, sum = 0;
        const float *m = c->mask ? c->mask + (r % c->mask_rows) * n : NULL;
        for (int64_t i = 0; i < n; i++) {
            x[i] = x[i] * c->scale + (m ? m[i] : 0.0f);
            mx = x[i] > mx ? x[i] : mx;
        }
        if (mx == -INFINITY) { /* every entry masked: zeros, not NaN */
            memset(x, 0, (size_t)n * sizeof(float));
            continue;
        }
        for (int64_t i = 0; i < n; i++) {
            x[i] = expf(x[i] - mx);
            sum += x[i];
        }
        float inv = 1.0f / sum;
        for (int64_t i = 0; i < n; i++)
            x[i] *= inv;
    }
}

int cpu_op_softmax(Backend *be, Tensor *x, float scale, const Tensor *mask)
{
    int64_t mrows = 1;
    if (!x || !is_f32_contig(x))
        return x && x->dtype != DTYPE_F32 ? -ENOTSUP : -EINVAL;
    if (x->ne[0] == 0)
        return 0;
    if (mask) {
        if (mask->dtype != DTYPE_F32)
            return -ENOTSUP;
        if (!is_f32_contig(mask) || mask->ne[0] != x->ne[0])
            return -EINVAL;
        mrows = tensor_nelements(mask) / mask->ne[0];
        if (mrows != 1 && !same_shape(mask, x))
            return -EINVAL;
    }
    SoftmaxCtx c = {.x = x->data, .mask = mask ? mask->data : NULL, .n = x->ne[0],
                    .rows = tensor_nelements(x) / x->ne[0], .mask_rows = mrows, .scale = scale};
    cpu_parallel(cpu_backend(be), tensor_nelements(x) * 8, softmax_task, &c);
    return 0;
}

/* ---- elementwise ------------------------------------------------------------------------------------------ */

typedef enum { EW_SILU, EW_GELU, EW_GELU_TANH, EW_SWIGLU, EW_ADD, EW_MUL, EW_SCALE } EwKind;

typedef struct {
    EwKind kind;
    float *y;
    const float *a, *b;
    int64_t n, nb; /* elements of y/a; elements of b (n, or one row broadcast) */
    float s;
} EwCtx;

static inline float silu1(float x)
{
    return x / (1.0f + expf(-x));
}

#if HAVE_X86
#define AVX512_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,fma")))
#include "exp512.h"

/* y = silu(a) (b NULL) or silu(a)·b over n floats, 16 at a time (masked tail). */
AVX512_TARGET static void silu_avx512(float *y, const float *a, const float *b, int64_t n)
{
    const __m512 one = _mm512_set1_ps(1.0f);
    for (int64_t i = 0; i < n; i += 16) {
        __mmask16 k = n - i >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (n - i)) - 1);
        __m512 x = _mm512_maskz_loadu_ps(k, a + i);
        __m512 v = _mm512_div_ps(x, _mm512_add_ps(one, exp512(_mm512_sub_ps(_mm512_setzero_ps(), x))));
        if (b)
            v = _mm512_mul_ps(v, _mm512_maskz_loadu_ps(k, b + i));
        _mm512_mask_storeu_ps(y + i, k, v);
    }
}

static int use_avx512(void)
{
    static atomic_int v = -1; /* every thread computes the same value */
    int r = atomic_load_explicit(&v, memory_order_relaxed);
    if (r < 0) {
        const CpuFeatures *f = cpu_features();
        r = f && f->avx512f && f->avx512bw && f->avx512vl && f->fma;
        atomic_store_explicit(&v, r, memory_order_relaxed);
    }
    return r;
}
#endif

static void ew_task(void *arg, int ith, int nth)
{
    const EwCtx *c = arg;
    int64_t i0, i1;
    float *y = c->y;
    const float *a = c->a, *b = c->b;

    /* split on row boundaries of b so the broadcast loop below stays simple */
    int64_t unit = c->nb < c->n ? c->nb : 1, units = c->n / unit;
    cpu_split(units, ith, nth, &i0, &i1);
    i0 *= unit;
    i1 *= unit;
    switch (c->kind) {
    case EW_SILU:
#if HAVE_X86
        if (use_avx512()) {
            silu_avx512(y + i0, a + i0, NULL, i1 - i0);
            break;
        }
#endif
        for (int64_t i = i0; i < i1; i++)
            y[i] = silu1(a[i]);
        break;
    case EW_GELU:
        for (int64_t i = i0; i < i1; i++)
            y[i] = 0.5f * a[i] * (1.0f + erff(a[i] * (float)M_SQRT1_2));
        break;
    case EW_GELU_TANH: {
        const float k0 = 0.7978845608028654f /* sqrt(2/pi) */, k1 = 0.044715f;
        for (int64_t i = i0; i < i1; i++) {
            float x = a[i];
            y[i] = 0.5f * x * (1.0f + tanhf(k0 * (x + k1 * x * x * x)));
        }
        break;
    }
    case EW_SWIGLU:
#if HAVE_X86
        if (use_avx512()) {
            silu_avx512(y + i0, a + i0, b + i0, i1 - i0);
            break;
        }
#endif
        for (int64_t i = i0; i < i1; i++)
            y[i] = silu1(a[i]) * b[i];
        break;
    case EW_ADD:
    case EW_MUL:
        if (c->nb == c->n) {
            if (c->kind == EW_ADD)
                for (int64_t i = i0; i < i1; i++)
                    y[i] = a[i] + b[i];
            else
                for (int64_t i = i0; i < i1; i++)
                    y[i] = a[i] * b[i];
        } else {
            for (int64_t r = i0; r < i1; r += unit) {
                if (c->kind == EW_ADD)
                    for (int64_t i = 0; i < unit; i++)
                        y[r + i] = a[r + i] + b[i];
                else
                    for (int64_t i = 0; i < unit; i++)
                        y[r + i] = a[r + i] * b[i];
            }
        }
        break;
    case EW_SCALE:
        for (int64_t i = i0; i < i1; i++)
            y[i] = a[i] * c->s;
        break;
    }
}

static int ew_run(Backend *be, EwKind kind, Tensor *y, const Tensor *a, const Tensor *b, float s, int cost)
{
    int r = check_unary(y, a);
    int64_t n, nb;
    if (r < 0)
        return r;
    n = tensor_nelements(a);
    nb = n;
    if (b) {
        if (b->dtype != DTYPE_F32)
            return -ENOTSUP;
        if (!is_f32_contig(b))
            return -EINVAL;
        nb = tensor_nelements(b);
        if (!same_shape(a, b)) {
            /* one row [C] broadcast over the rows of a (add/mul only) */
            if ((kind != EW_ADD && kind != EW_MUL) || b->ne[0] != a->ne[0] || nb != a->ne[0])
                return -EINVAL;
        }
    }
    if (n == 0)
        return 0;
    EwCtx c = {.kind = kind, .y = y->data, .a = a->data, .b = b ? b->data : NULL, .n = n, .nb = nb, .s = s};
    cpu_parallel(cpu_backend(be), n * cost, ew_task, &c);
    return 0;
}

int cpu_op_silu(Backend *be, Tensor *y, const Tensor *x)
{
    return ew_run(be, EW_SILU, y, x, NULL, 0, 8);
}

int cpu_op_gelu(Backend *be, Tensor *y, const Tensor *x)
{
    return ew_run(be, EW_GELU, y, x, NULL, 0, 8);
}

int cpu_op_gelu_tanh(Backend *be, Tensor *y, const Tensor *x)
{
    return ew_run(be, EW_GELU_TANH, y, x, NULL, 0, 8);
}

int cpu_op_swiglu(Backend *be, Tensor *y, const Tensor *gate, const Tensor *up)
{
    if (!up || !gate || !same_shape(gate, up))
        return -EINVAL;
    return ew_run(be, EW_SWIGLU, y, gate, up, 0, 8);
}

int cpu_op_add(Backend *be, Tensor *y, const Tensor *a, const Tensor *b)
{
    return b ? ew_run(be, EW_ADD, y, a, b, 0, 1) : -EINVAL;
}

int cpu_op_mul(Backend *be, Tensor *y, const Tensor *a, const Tensor *b)
{
    return b ? ew_run(be, EW_MUL, y, a, b, 0, 1) : -EINVAL;
}

int cpu_op_scale(Backend *be, Tensor *y, const Tensor *x, float s)
{
    return ew_run(be, EW_SCALE, y, x, NULL, s, 1);
}
