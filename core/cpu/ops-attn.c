/* cpu/ops-attn.c — scaled dot-product attention for the CPU backend (backend.h `attention`).
 *
 * out[:, h, t] = Σ_j softmax_j(scale · q[:, h, t]·k[:, g, j] + mask[j, t]) · v[:, g, j], g = h / (NH/NKV)
 * (GQA), j over the visible keys: all S, or with `causal` the first min(S, n_past + t + 1). Softmax is the
 * stable form (subtract the row max, exp, normalise once at the end). A row whose keys are all masked
 * (-INFINITY) yields zeros rather than NaN. K and V are F32 or F16 (converted on the fly, no copy); their
 * nb[1]/nb[2] strides are honoured so S may be a prefix of a larger cache.
 * Threaded over (kv head, query, chunk of ≤ HB query heads of that kv head's GQA group) items: the heads of
 * a chunk share every K/V row load, and neighbouring items share a KV head in cache.
 * Fast path (AVX-512, F16 K/V, HD a multiple of 64 — the KV cache of lm-model.c): scores with the K row
 * converted once for the HB heads, a vectorised exp (Cephes-style range reduction + degree-6 polynomial,
 * ≤ 2 ulp), and P·V accumulated in registers 64 dims at a time; the same math, one sum order.
 * Reference: Vaswani et al. 2017 eq. 1; HF LlamaAttention eager path (repeat_kv for GQA).
 * Not here: flash/tiled attention, paged caches.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cpu-features.h"
#include "ops.h"

#if defined(__x86_64__)
#include <immintrin.h>
#define HAVE_X86 1
#else
#define HAVE_X86 0
#endif

enum {
    HB = 4, /* query heads of one GQA group handled together: each K/V row is read once for all */
    ATTN_DECODE_INLINE = 1 << 20, /* element-ops below which one query's attention stays on the caller */
};

typedef struct {
    const Tensor *out, *q, *k, *v, *mask;
    float scale;
    int causal;
    int64_t n_past, hd, nh, nkv, t, s, s_pad, n_chunks;
    int fast;       /* attn_item_f16 applies */
    float *scratch; /* borrowed from CpuBackend, [scratch_len] per thread: HB × [s_pad] scores */
    size_t scratch_len;
} AttnCtx;

#if HAVE_X86
#define AVX512_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,fma,f16c")))

/* e^x for 16 floats: x = n·ln2 + r, |r| ≤ ln2/2, e^r by a degree-6 Taylor/minimax polynomial, scaled by
 * 2^n with vscalefps (underflows to 0 below about −103, as expf). */
AVX512_TARGET static inline __m512 exp512(__m512 x)
{
    x = _mm512_max_ps(x, _mm512_set1_ps(-104.0f));
    x = _mm512_min_ps(x, _mm512_set1_ps(88.7f));
    __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                    _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
    __m512 p = _mm512_set1_ps(1.3981999507e-3f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
    p = _mm512_fmadd_ps(p, _mm512_mul_ps(r, r), _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
    return _mm512_scalef_ps(p, n);
}

/* One work item of attn_task for F16 K/V with hd % 64 == 0: the heads qr[0..nb) over keys [0, n_vis). */
AVX512_TARGET static void attn_item_f16(const AttnCtx *c, const char *kb, const char *vb, const float *mrow,
                                        const float *const *qr, float *const *o, float *const *sc, int64_t nb,
                                        int64_t n_vis)
{
    const int64_t hd = c->hd;
    const size_t ks = c->k->nb[2], vs = c->v->nb[2];
    float mx[HB], inv[HB];

    /* scores = scale · q·k + mask */
    for (int64_t b = 0; b < nb; b++)
        mx[b] = -INFINITY;
    for (int64_t d0 = 0; d0 < hd; d0 += 64) {
        /* 64 dims of the HB queries stay in registers; partial dot products accumulate in sc */
        __m512 q[HB][4];
        for (int b = 0; b < HB; b++)
            for (int i = 0; i < 4; i++)
                q[b][i] = _mm512_loadu_ps(qr[b < nb ? b : 0] + d0 + 16 * i);
        for (int64_t j = 0; j < n_vis; j++) {
            const uint16_t *kr = (const uint16_t *)(kb + (size_t)j * ks) + d0;
            __m512 k0 = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)kr));
            __m512 k1 = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(kr + 16)));
            __m512 k2 = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(kr + 32)));
            __m512 k3 = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(kr + 48)));
            for (int b = 0; b < HB; b++)
                if (b < nb) {
                    __m512 a = _mm512_mul_ps(k0, q[b][0]);
                    a = _mm512_fmadd_ps(k1, q[b][1], a);
                    a = _mm512_fmadd_ps(k2, q[b][2], a);
                    a = _mm512_fmadd_ps(k3, q[b][3], a);
                    float v = _mm512_reduce_add_ps(a);
                    sc[b][j] = d0 ? sc[b][j] + v : v;
                }
        }
    }
    for (int64_t b = 0; b < nb; b++) {
        float m0 = -INFINITY;
        for (int64_t j = 0; j < n_vis; j++) {
            float v = sc[b][j] * c->scale + (mrow ? mrow[j] : 0.0f);
            sc[b][j] = v;
            m0 = v > m0 ? v : m0;
        }
        mx[b] = m0;
    }
    /* unnormalised probabilities */
    for (int64_t b = 0; b < nb; b++) {
        if (mx[b] == -INFINITY || isnan(mx[b])) {
            memset(o[b], 0, (size_t)hd * sizeof(float));
            inv[b] = 0.0f;
            memset(sc[b], 0, (size_t)n_vis * sizeof(float));
            continue;
        }
        __m512 vm = _mm512_set1_ps(mx[b]), sum = _mm512_setzero_ps();
        for (int64_t j = 0; j < n_vis; j += 16) {
            __mmask16 k = n_vis - j >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (n_vis - j)) - 1);
            __m512 e = exp512(_mm512_sub_ps(_mm512_maskz_loadu_ps(k, sc[b] + j), vm));
            e = _mm512_maskz_mov_ps(k, e);
            _mm512_mask_storeu_ps(sc[b] + j, k, e);
            sum = _mm512_add_ps(sum, e);
        }
        float s = _mm512_reduce_add_ps(sum);
        inv[b] = s > 0.0f ? 1.0f / s : 0.0f;
    }
    /* out = Σ_j p_j · v_j / Σ p, 64 dims at a time in registers */
    for (int64_t d0 = 0; d0 < hd; d0 += 64) {
        __m512 acc[HB][4];
        for (int b = 0; b < HB; b++)
            for (int i = 0; i < 4; i++)
                acc[b][i] = _mm512_setzero_ps();
        for (int64_t j = 0; j < n_vis; j++) {
            const uint16_t *vr = (const uint16_t *)(vb + (size_t)j * vs) + d0;
            __m512 v0 = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)vr));
            __m512 v1 = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(vr + 16)));
            __m512 v2 = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(vr + 32)));
            __m512 v3 = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(vr + 48)));
            for (int b = 0; b < HB; b++)
                if (b < nb) {
                    __m512 e = _mm512_set1_ps(sc[b][j]);
                    acc[b][0] = _mm512_fmadd_ps(e, v0, acc[b][0]);
                    acc[b][1] = _mm512_fmadd_ps(e, v1, acc[b][1]);
                    acc[b][2] = _mm512_fmadd_ps(e, v2, acc[b][2]);
                    acc[b][3] = _mm512_fmadd_ps(e, v3, acc[b][3]);
                }
        }
        for (int b = 0; b < HB; b++)
            if (b < nb) {
                __m512 vi = _mm512_set1_ps(inv[b]);
                for (int i = 0; i < 4; i++)
                    _mm512_storeu_ps(o[b] + d0 + 16 * i, _mm512_mul_ps(acc[b][i], vi));
            }
    }
}
#endif

static void attn_task(void *p, int ith, int nth)
{
    const AttnCtx *c = p;
    int64_t i0, i1, group = c->nh / c->nkv;
    float *scr = c->scratch + (size_t)ith * c->scratch_len;
    int k_f16 = c->k->dtype == DTYPE_F16, v_f16 = c->v->dtype == DTYPE_F16;

    /* items: (kv head g, query t, chunk of up to HB query heads of g), g outermost */
    cpu_split(c->nkv * c->t * c->n_chunks, ith, nth, &i0, &i1);
    for (int64_t w = i0; w < i1; w++) {
        int64_t chunk = w % c->n_chunks, t = (w / c->n_chunks) % c->t, g = w / (c->n_chunks * c->t);
        int64_t h0 = g * group + chunk * HB, nb = group - chunk * HB < HB ? group - chunk * HB : HB;
        const char *kb = (const char *)c->k->data + g * c->k->nb[1];
        const char *vb = (const char *)c->v->data + g * c->v->nb[1];
        const float *mrow = c->mask ? (const float *)((const char *)c->mask->data + t * c->mask->nb[1]) : NULL;
        const float *qr[HB];
        float *o[HB], *sc[HB], mx[HB], sum[HB];
        int64_t n_vis = c->s;

        if (c->causal && c->n_past + t + 1 < n_vis)
            n_vis = c->n_past + t + 1;
#if HAVE_X86
        if (c->fast) {
            for (int64_t b = 0; b < nb; b++) {
                qr[b] = (const float *)((const char *)c->q->data + (h0 + b) * c->q->nb[1] + t * c->q->nb[2]);
                o[b] = (float *)((char *)c->out->data + (h0 + b) * c->out->nb[1] + t * c->out->nb[2]);
                sc[b] = scr + b * c->s_pad;
            }
            attn_item_f16(c, kb, vb, mrow, qr, o, sc, nb, n_vis);
            continue;
        }
#endif
        for (int64_t b = 0; b < nb; b++) {
            qr[b] = (const float *)((const char *)c->q->data + (h0 + b) * c->q->nb[1] + t * c->q->nb[2]);
            o[b] = (float *)((char *)c->out->data + (h0 + b) * c->out->nb[1] + t * c->out->nb[2]);
            sc[b] = scr + b * c->s_pad;
            mx[b] = -INFINITY;
            sum[b] = 0;
            memset(o[b], 0, (size_t)c->hd * sizeof(float));
        }
        /* scores = scale · q·k + mask, and their row max */
        for (int64_t j = 0; j < n_vis; j++) {
            const void *kr = kb + j * c->k->nb[2];
            float m = mrow ? mrow[j] : 0.0f;
            for (int64_t b = 0; b < nb; b++) {
                float s = (k_f16 ? cpu_vec_dot_f16(kr, qr[b], c->hd) : cpu_vec_dot_f32(kr, qr[b], c->hd)) * c->scale + m;
                sc[b][j] = s;
                mx[b] = s > mx[b] ? s : mx[b];
            }
        }
        /* unnormalised probabilities; a head with nothing visible keeps sum 0 and output 0 */
        for (int64_t b = 0; b < nb; b++) {
            if (mx[b] == -INFINITY || isnan(mx[b])) {
                memset(sc[b], 0, (size_t)n_vis * sizeof(float));
                continue;
            }
            for (int64_t j = 0; j < n_vis; j++) {
                float e = expf(sc[b][j] - mx[b]);
                sc[b][j] = e;
                sum[b] += e;
            }
        }
        for (int64_t j = 0; j < n_vis; j++) {
            const void *vr = vb + j * c->v->nb[2];
            for (int64_t b = 0; b < nb; b++) {
                float e = sc[b][j];
                if (e == 0.0f)
                    continue;
                if (v_f16)
                    cpu_vec_axpy_f16(o[b], e, vr, c->hd);
                else
                    cpu_vec_axpy_f32(o[b], e, vr, c->hd);
            }
        }
        for (int64_t b = 0; b < nb; b++) {
            if (sum[b] == 0.0f)
                continue;
            float inv = 1.0f / sum[b];
            for (int64_t d = 0; d < c->hd; d++)
                o[b][d] *= inv;
        }
    }
}

static int kv_ok(const Tensor *x, int64_t hd, int64_t nkv, int64_t s)
{
    if (x->dtype != DTYPE_F32 && x->dtype != DTYPE_F16)
        return -ENOTSUP;
    if (x->ne[0] != hd || x->ne[1] != nkv || x->ne[2] != s || x->ne[3] != 1 ||
        x->nb[0] != (x->dtype == DTYPE_F32 ? 4u : 2u) || !x->data)
        return -EINVAL;
    return 0;
}

/* Make sure every thread has room for [S] scores; grows at most a few times over a process' life. */
static int scratch_reserve(CpuBackend *cb, int64_t s_pad)
{
    size_t need = (size_t)s_pad * HB;
    float *p;

    if (need <= cb->attn_scratch_len)
        return 0;
    if (need < cb->attn_scratch_len * 2)
        need = cb->attn_scratch_len * 2;
    if (need > SIZE_MAX / sizeof(float) / (size_t)cb->n_threads)
        return -ENOMEM;
    p = aligned_alloc(64, need * sizeof(float) * (size_t)cb->n_threads);
    if (!p)
        return -ENOMEM;
    free(cb->attn_scratch);
    cb->attn_scratch = p;
    cb->attn_scratch_len = need;
    return 0;
}

int cpu_op_attention(Backend *be, Tensor *out, const Tensor *q, const Tensor *k, const Tensor *v,
                     const AttnParams *p)
{
    CpuBackend *cb = cpu_backend(be);
    int64_t hd = q->ne[0], nh = q->ne[1], t = q->ne[2], nkv = k->ne[1], s = k->ne[2];
    AttnCtx c;
    int r;

    if (!p || q->dtype != DTYPE_F32 || out->dtype != DTYPE_F32)
        return !p ? -EINVAL : -ENOTSUP;
    if (q->nb[0] != 4 || out->nb[0] != 4 || q->ne[3] != 1 || !q->data || !out->data)
        return -EINVAL;
    for (int d = 0; d < TENSOR_MAX_DIMS; d++)
        if (out->ne[d] != q->ne[d])
            return -EINVAL;
    if (hd <= 0 || nkv <= 0 || nh % nkv || p->n_past < 0 || !isfinite(p->scale))
        return -EINVAL;
    if ((r = kv_ok(k, hd, nkv, s)) < 0 || (r = kv_ok(v, hd, nkv, s)) < 0)
        return r;
    if (p->mask) {
        const Tensor *m = p->mask;
        if (m->dtype != DTYPE_F32)
            return -ENOTSUP;
        if (m->ne[0] != s || m->ne[1] != t || m->ne[2] != 1 || m->ne[3] != 1 || m->nb[0] != 4 || !m->data)
            return -EINVAL;
    }
    if (nh == 0 || t == 0)
        return 0;
    int64_t s_pad = (s + 15) / 16 * 16, group = nh / nkv;
    r = scratch_reserve(cb, s_pad);
    if (r < 0)
        return r;
    c = (AttnCtx){.out = out, .q = q, .k = k, .v = v, .mask = p->mask, .scale = p->scale,
                  .causal = p->causal, .n_past = p->n_past, .hd = hd, .nh = nh, .nkv = nkv, .t = t, .s = s,
                  .s_pad = s_pad, .n_chunks = (group + HB - 1) / HB, .scratch = cb->attn_scratch,
                  .scratch_len = cb->attn_scratch_len};
#if HAVE_X86
    {
        const CpuFeatures *f = cpu_features();
        c.fast = f && f->avx512f && f->avx512bw && f->avx512vl && f->f16c && f->fma && hd % 64 == 0 &&
                 k->dtype == DTYPE_F16 && v->dtype == DTYPE_F16 && k->nb[0] == 2 && v->nb[0] == 2;
    }
#endif
    /* one query (decode) over a short cache: a pool round trip costs more than the whole op */
    int64_t cost = nh * t * (s + 1) * hd * 2;
    if (t == 1 && cost < ATTN_DECODE_INLINE && cb->parallel_min_cost > 0)
        attn_task(&c, 0, 1);
    else
        cpu_parallel(cb, cost, attn_task, &c);
    return 0;
}
