/* cross-attn.c — the gated cross-attention layer on backend ops and the per-session CrossAttn context (see
 * cross-attn.h for the math, the HF reference and the visibility rules). Not here: which layers a model has
 * (mllama.c, speech-adapter.c).
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cross-attn.h"
#include "log.h"


int cross_attn_load(CrossAttnLayer *x, WeightStore *ws, const LmConfig *cfg, const char *prefix,
                    int norms_optional)
{
    const int64_t C = cfg->n_embd, QD = (int64_t)cfg->n_heads * cfg->head_dim;
    const int64_t KD = (int64_t)cfg->n_kv_heads * cfg->head_dim, FF = cfg->n_ff, HD = cfg->head_dim;
    struct { const char *n; Tensor *t; int64_t a, b; int optional; } tab[] = {
        {"input_layernorm.weight", &x->attn_norm, C, 0, 0}, {"cross_attn.q_proj.weight", &x->wq, C, QD, 0},
        {"cross_attn.k_proj.weight", &x->wk, C, KD, 0}, {"cross_attn.v_proj.weight", &x->wv, C, KD, 0},
        {"cross_attn.o_proj.weight", &x->wo, QD, C, 0}, {"cross_attn.q_norm.weight", &x->q_norm, HD, 0, 1},
        {"cross_attn.k_norm.weight", &x->k_norm, HD, 0, 1},
        {"post_attention_layernorm.weight", &x->ffn_norm, C, 0, 0}, {"mlp.gate_proj.weight", &x->w_gate, C, FF, 0},
        {"mlp.up_proj.weight", &x->w_up, C, FF, 0}, {"mlp.down_proj.weight", &x->w_down, FF, C, 0},
    };
    char name[192];
    float *g;
    int r;

    for (size_t j = 0; j < sizeof(tab) / sizeof(tab[0]); j++) {
        unsigned fl = WEIGHTS_RESHAPE | (norms_optional && tab[j].optional ? WEIGHTS_OPTIONAL : 0);
        snprintf(name, sizeof(name), "%s.%s", prefix, tab[j].n);
        r = tab[j].b ? weights_bind2(ws, name, tab[j].a, tab[j].b, fl, tab[j].t)
                     : weights_bind1(ws, name, tab[j].a, fl | WEIGHTS_F32, tab[j].t);
        if (r == -ENOENT)
            continue; /* optional and absent: data stays NULL */
        if (r < 0)
            return r;
    }
    snprintf(name, sizeof(name), "%s.cross_attn_attn_gate", prefix);
    if ((r = weights_host_f32(ws, name, 1, &g)) < 0)
        return r;
    x->gate_attn = tanhf(g[0]);
    snprintf(name, sizeof(name), "%s.cross_attn_mlp_gate", prefix);
    if ((r = weights_host_f32(ws, name, 1, &g)) < 0)
        return r;
    x->gate_mlp = tanhf(g[0]);
    return 0;
}

int cross_attn_kv(Backend *be, const LmConfig *cfg, const CrossAttnLayer *w, const Tensor *xs, Tensor *k,
                  Tensor *v)
{
    const int64_t HD = cfg->head_dim, NKV = cfg->n_kv_heads, S = xs->ne[1];
    Tensor k2 = tensor_view(k, 0, HD * NKV, S, 1), v2 = tensor_view(v, 0, HD * NKV, S, 1), kh = tensor_view(k, 0, HD, NKV * S, 1);
    int r;

    TRY_RET(backend_matmul(be, &k2, &w->wk, xs));
    if (w->k_norm.data)
        TRY_RET(backend_rmsnorm(be, &kh, &kh, &w->k_norm, cfg->norm_eps));
    TRY_RET(backend_matmul(be, &v2, &w->wv, xs));
    return 0;
}

int cross_attn_forward(Backend *be, const LmConfig *cfg, const CrossAttnLayer *w, const CrossAttnScratch *s,
                       Tensor *x, int T, const Tensor *k, const Tensor *v, int64_t W, const Tensor *mask,
                       const uint8_t *row_ok)
{
    const int64_t C = cfg->n_embd, HD = cfg->head_dim, NH = cfg->n_heads, NKV = cfg->n_kv_heads, FF = cfg->n_ff;

    if (T < 1 || T > LM_MAX_BATCH || W < 1)
        return -EINVAL;
    Tensor xn = tensor_view(&s->xn, 0, C, T, 1), o = tensor_view(&s->o, 0, C, T, 1), q = tensor_view(&s->q, 0, NH * HD, T, 1);
    Tensor att = tensor_view(&s->att, 0, NH * HD, T, 1), gate = tensor_view(&s->gate, 0, FF, T, 1), up = tensor_view(&s->up, 0, FF, T, 1);
    Tensor qh = tensor_view(&s->q, 0, HD, NH * T, 1), q3 = tensor_view(&s->q, 0, HD, NH, T), a3 = tensor_view(&s->att, 0, HD, NH, T);
    Tensor k3 = tensor_view(k, 0, HD, NKV, W), v3 = tensor_view(v, 0, HD, NKV, W);
    AttnParams ap = {1.0f / sqrtf((float)HD), 0, 0, mask};
    int r;

    TRY_RET(backend_rmsnorm(be, &xn, x, &w->attn_norm, cfg->norm_eps));
    TRY_RET(backend_matmul(be, &q, &w->wq, &xn));
    if (w->q_norm.data)
        TRY_RET(backend_rmsnorm(be, &qh, &qh, &w->q_norm, cfg->norm_eps));
    TRY_RET(backend_attention(be, &a3, &q3, &k3, &v3, &ap));
    TRY_RET(backend_matmul(be, &o, &w->wo, &att));
    TRY_RET(backend_scale(be, &o, &o, w->gate_attn));
    TRY_RET(backend_add(be, x, x, &o));
    TRY_RET(backend_rmsnorm(be, &xn, x, &w->ffn_norm, cfg->norm_eps));
    TRY_RET(backend_matmul(be, &gate, &w->w_gate, &xn));
    TRY_RET(backend_matmul(be, &up, &w->w_up, &xn));
    TRY_RET(backend_swiglu(be, &gate, &gate, &up));
    TRY_RET(backend_matmul(be, &o, &w->w_down, &gate));
    /* full_text_row_masked_out_mask: zero the MLP output of rows that see nothing */
    for (int t0 = 0; row_ok && t0 < T;) {
        int t1 = t0;
        if (row_ok[t0]) {
            t0++;
            continue;
        }
        while (t1 < T && !row_ok[t1])
            t1++;
        Tensor z = o;
        z.data = (char *)o.data + (size_t)t0 * o.nb[1];
        z.ne[1] = t1 - t0;
        z.nb[2] = z.nb[3] = z.nb[1] * (size_t)(t1 - t0);
        TRY_RET(backend_scale(be, &z, &z, 0.0f));
        t0 = t1;
    }
    TRY_RET(backend_scale(be, &o, &o, w->gate_mlp));
    TRY_RET(backend_add(be, x, x, &o));
    return 0;
}

/* ---- per-session context ------------------------------------------------------------------------------- */

typedef struct {
    CrossAttn *c;
    int i;
} HookArg;

struct CrossAttn {
    CrossAttnSpec spec;
    int n_src;
    int pos[CROSS_MAX_SOURCES];
    int64_t start[CROSS_MAX_SOURCES + 1]; /* source j: key rows [start[j], start[j + 1]) */
    int64_t n_valid[CROSS_MAX_SOURCES];
    Tensor k[CROSS_MAX_LAYERS], v[CROSS_MAX_LAYERS]; /* [HD, NKV, W] owned, W = start[n_src] */
    Tensor mask;                  /* [W, LM_MAX_BATCH] owned */
    float *mask_host;             /* [W, LM_MAX_BATCH] */
    int mask_used;                /* this forward's mask masks some key (else attention gets none) */
    uint8_t row_ok[LM_MAX_BATCH];
    HookArg args[CROSS_MAX_LAYERS];
};

int cross_ctx_new(const CrossAttnSpec *spec, CrossAttn **ret)
{
    CrossAttn *c;

    if (spec->n_layers < 0 || spec->n_layers > CROSS_MAX_LAYERS || spec->max_sources < 1 ||
        spec->max_sources > CROSS_MAX_SOURCES)
        return -EINVAL;
    if (!(c = calloc(1, sizeof(*c))))
        return -ENOMEM;
    c->spec = *spec;
    for (int i = 0; i < spec->n_layers; i++)
        c->args[i] = (HookArg){c, i};
    *ret = c;
    return 0;
}

void cross_ctx_reset(CrossAttn *c)
{
    Backend *be = c->spec.be;

    for (int i = 0; i < c->spec.n_layers; i++) {
        backend_tensor_release(be, &c->k[i]);
        backend_tensor_release(be, &c->v[i]);
    }
    backend_tensor_release(be, &c->mask);
    free(c->mask_host);
    c->mask_host = NULL;
    c->n_src = 0;
    c->start[0] = 0;
}

void cross_ctx_free(CrossAttn *c)
{
    if (!c)
        return;
    cross_ctx_reset(c);
    free(c);
}

int cross_ctx_n_sources(const CrossAttn *c)
{
    return c->n_src;
}

/* dst rows [r0, r0 + n) = src rows [0, n), both seen as [HD·NKV, rows]. */
static int copy_rows(Backend *be, Tensor *dst, int64_t r0, const Tensor *src, int64_t n)
{
    const int64_t D = src->ne[0] * src->ne[1];
    Tensor d2 = tensor_view(dst, 0, D, dst->ne[2], 1), s2 = tensor_view(src, 0, D, n, 1);
    Tensor dr = tensor_rows(&d2, r0, n);

    return backend_copy(be, &dr, &s2);
}

/* The argument checks of an attach, in the order callers rely on: -EINVAL, -ENOSPC, -E2BIG. */
static int check_add(const CrossAttn *c, int64_t n_rows, int64_t n_valid, int pos)
{
    const int n = c->n_src;

    if (n_rows < 1 || n_valid < 1 || n_valid > n_rows || pos < 0 ||
        (n > 0 && (pos < c->pos[n - 1] || (c->spec.vis == CROSS_SEE_LATEST_RUN && pos == c->pos[n - 1]))))
        return -EINVAL;
    if (n >= c->spec.max_sources)
        return -ENOSPC;
    if (c->start[n] + n_rows > c->spec.max_rows)
        return -E2BIG;
    return 0;
}

int cross_ctx_add(CrossAttn *c, const Tensor *k, const Tensor *v, int64_t n_rows, int64_t n_valid, int pos)
{
    const CrossAttnSpec *sp = &c->spec;
    Backend *be = sp->be;
    const int64_t HD = sp->cfg->head_dim, NKV = sp->cfg->n_kv_heads, n = c->n_src, W0 = c->start[n];
    const int64_t W = W0 + n_rows;
    Tensor nk[CROSS_MAX_LAYERS] = {0}, nv[CROSS_MAX_LAYERS] = {0}, mask = {0};
    float *mh = NULL;
    int r;

    if (!k || !v || (r = check_add(c, n_rows, n_valid, pos)) < 0)
        return k && v ? r : -EINVAL;
    for (int i = 0; i < sp->n_layers; i++)
        if (k[i].ne[0] != HD || k[i].ne[1] != NKV || k[i].ne[2] < n_rows || v[i].ne[0] != HD ||
            v[i].ne[1] != NKV || v[i].ne[2] < n_rows)
            return -EINVAL;
    if (!(mh = malloc(sizeof(float) * (size_t)W * LM_MAX_BATCH)))
        goto fail_nomem;
    TRY_GOTO(backend_tensor_new(be, &mask, DTYPE_F32, 2, W, LM_MAX_BATCH, 1), fail);
    for (int i = 0; i < sp->n_layers; i++) {
        TRY_GOTO(backend_tensor_new(be, &nk[i], DTYPE_F32, 3, HD, NKV, W), fail);
        TRY_GOTO(backend_tensor_new(be, &nv[i], DTYPE_F32, 3, HD, NKV, W), fail);
        if (W0 > 0) {
            TRY_GOTO(copy_rows(be, &nk[i], 0, &c->k[i], W0), fail);
            TRY_GOTO(copy_rows(be, &nv[i], 0, &c->v[i], W0), fail);
        }
        TRY_GOTO(copy_rows(be, &nk[i], W0, &k[i], n_rows), fail);
        TRY_GOTO(copy_rows(be, &nv[i], W0, &v[i], n_rows), fail);
    }
    for (int i = 0; i < sp->n_layers; i++) {
        backend_tensor_release(be, &c->k[i]);
        backend_tensor_release(be, &c->v[i]);
        c->k[i] = nk[i];
        c->v[i] = nv[i];
    }
    backend_tensor_release(be, &c->mask);
    free(c->mask_host);
    c->mask = mask;
    c->mask_host = mh;
    c->pos[n] = pos;
    c->n_valid[n] = n_valid;
    c->start[n + 1] = W;
    c->n_src++;
    return 0;
fail_nomem:
    r = -ENOMEM;
fail:
    for (int i = 0; i < sp->n_layers; i++) {
        backend_tensor_release(be, &nk[i]);
        backend_tensor_release(be, &nv[i]);
    }
    backend_tensor_release(be, &mask);
    free(mh);
    cross_ctx_reset(c);
    return r;
}

int cross_ctx_add_states(CrossAttn *c, const float *states, int64_t n, int pos)
{
    const CrossAttnSpec *sp = &c->spec;
    Backend *be = sp->be;
    const int64_t C = sp->cfg->n_embd, HD = sp->cfg->head_dim, NKV = sp->cfg->n_kv_heads;
    Tensor xs = {0}, k[CROSS_MAX_LAYERS] = {0}, v[CROSS_MAX_LAYERS] = {0};
    int r;

    if (!states || (r = check_add(c, n, n, pos)) < 0)
        return states ? r : -EINVAL;
    TRY_GOTO(backend_tensor_new(be, &xs, DTYPE_F32, 2, C, n, 1), out);
    TRY_GOTO(backend_tensor_set(be, &xs, states, 0, sizeof(float) * (size_t)(C * n)), out);
    for (int i = 0; i < sp->n_layers; i++) {
        TRY_GOTO(backend_tensor_new(be, &k[i], DTYPE_F32, 3, HD, NKV, n), out);
        TRY_GOTO(backend_tensor_new(be, &v[i], DTYPE_F32, 3, HD, NKV, n), out);
        TRY_GOTO(cross_attn_kv(be, sp->cfg, &sp->layers[i], &xs, &k[i], &v[i]), out);
    }
    r = cross_ctx_add(c, k, v, n, n, pos);
out:
    for (int i = 0; i < sp->n_layers; i++) {
        backend_tensor_release(be, &k[i]);
        backend_tensor_release(be, &v[i]);
    }
    backend_tensor_release(be, &xs);
    return r;
}

/* Rows [T, W] of the additive mask for text positions pos[0..T) by the context's visibility rule; sets
 * row_ok and mask_used. */
static void build_mask(CrossAttn *c, const int32_t *pos, int T)
{
    const int64_t W = c->start[c->n_src];

    c->mask_used = 0;
    for (int t = 0; t < T; t++) {
        float *row = c->mask_host + (size_t)t * (size_t)W;
        int j = -1, j0 = 0;
        while (j + 1 < c->n_src && c->pos[j + 1] <= pos[t])
            j++;
        if (c->spec.vis == CROSS_SEE_LATEST_RUN)
            for (j0 = j; j0 > 0 && c->pos[j0 - 1] == c->pos[j0] - 1; j0--)
                ;
        c->row_ok[t] = j >= 0;
        if (j < 0) {
            memset(row, 0, sizeof(float) * (size_t)W);
            continue;
        }
        for (int64_t k = 0; k < W; k++)
            row[k] = -INFINITY;
        for (int i = j0; i <= j; i++)
            for (int64_t k = c->start[i]; k < c->start[i] + c->n_valid[i]; k++)
                row[k] = 0.0f;
        for (int64_t k = 0; k < W && !c->mask_used; k++)
            c->mask_used = row[k] != 0.0f;
    }
}

static int hook_forward(void *arg, Backend *be, Tensor *x, const int32_t *pos, int T)
{
    HookArg *ha = arg;
    CrossAttn *c = ha->c;
    const CrossAttnSpec *sp = &c->spec;
    const int64_t W = c->start[c->n_src];
    int r;

    if (c->n_src == 0)
        return 0; /* nothing attached: the cross layers are skipped, as HF's text-only path does */
    if (T < 1 || T > LM_MAX_BATCH || x->ne[0] != sp->cfg->n_embd)
        return -EINVAL;
    Tensor mask = tensor_view(&c->mask, 0, W, T, 1);
    if (ha->i == 0) { /* the first cross layer of this forward pass: one mask for all of them */
        build_mask(c, pos, T);
        if (c->mask_used)
            TRY_RET(backend_tensor_set(be, &mask, c->mask_host, 0, sizeof(float) * (size_t)W * (size_t)T));
    }
    return cross_attn_forward(be, sp->cfg, &sp->layers[ha->i], sp->scratch, x, T, &c->k[ha->i], &c->v[ha->i],
                              W, c->mask_used ? &mask : NULL, c->row_ok);
}

int cross_ctx_hooks(CrossAttn *c, LmLayerHook *hooks, int cap)
{
    int n = c->spec.n_layers < cap ? c->spec.n_layers : cap;

    for (int i = 0; i < n; i++)
        hooks[i] = (LmLayerHook){.layer = c->spec.hook_layer[i], .ctx = &c->args[i], .forward = hook_forward};
    return n;
}
