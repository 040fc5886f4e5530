/* cpu/ops-attn.c — scaled dot-product attention for the CPU backend (backend.h `attention`).
 *
 * out[:, h, t] = Σ_j softmax_j(scale · q[:, h, t]·k[:, g, j] + mask[j, t]) · v[:, g, j], g = h / (NH/NKV)
 * (GQA), j over the visible keys: all S, or with `causal` the first min(S, n_past + t + 1). Softmax is the
 * stable form (subtract the row max, exp, normalise once at the end). A row whose keys are all masked
 * (-INFINITY) yields zeros rather than NaN. K and V are F32 or F16 (converted on the fly, no copy); their
 * nb[1]/nb[2] strides are honoured so S may be a prefix of a larger cache.
 * Threaded over (kv head, query, chunk of ≤ HB query heads of that kv head's GQA group) items: the heads of
 * a chunk share every K/V row load, and neighbouring items share a KV head in cache.
 * Reference: Vaswani et al. 2017 eq. 1; HF LlamaAttention eager path (repeat_kv for GQA).
 * Not here: flash/tiled attention, paged caches.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ops.h"

enum { HB = 4 }; /* query heads of one GQA group handled together: each K/V row is read once for all */

typedef struct {
    const Tensor *out, *q, *k, *v, *mask;
    float scale;
    int causal;
    int64_t n_past, hd, nh, nkv, t, s, s_pad, n_chunks;
    float *scratch; /* borrowed from CpuBackend, [scratch_len] per thread: HB × [s_pad] scores */
    size_t scratch_len;
} AttnCtx;

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
    cpu_parallel(cb, nh * t * (s + 1) * hd * 2, attn_task, &c);
    return 0;
}
