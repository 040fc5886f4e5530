/* cross-attn.c — the gated cross-attention layer on backend ops (see cross-attn.h for the math and the HF
 * reference). Not here: masks and K/V caches of the callers (mllama.c, speech-adapter.c).
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
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
