/* decoder.c — the Llama-3 decoder forward pass, its activations and the per-session KV cache.
 *
 * forward() reads like SPEC.md §1.10: every op goes through the Backend; prefill is one matmul per weight
 * over all T tokens of the chunk. Not here: config and weight binding (decoder-load.c), sessions (session.c).
 * Reference numerics: HF transformers LlamaForCausalLM (tools/ref/tiny_llama.py produces the goldens).
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "decoder.h"
#include "log.h"

static const char *const k_prof_names[LM_PROF_N] = {"embed", "rmsnorm", "matmul q/k/v", "rope", "kv store",
                                                    "attention", "matmul o", "add", "matmul gate/up", "swiglu",
                                                    "matmul down", "hooks", "logits"};

void lm_profile_print(const LmProfile *p, FILE *f)
{
    for (int m = 0; m < 2; m++) {
        double tot = 0;
        if (!p->calls[m])
            continue;
        for (int i = 0; i < LM_PROF_N; i++)
            tot += p->ms[m][i];
        fprintf(f, "myna profile, %s: %ld forward calls, %ld tokens, %.3f s in ops (%.3f ms/token)\n",
                m ? "prefill" : "decode", p->calls[m], p->tokens[m], tot / 1e3, tot / (double)p->tokens[m]);
        for (int i = 0; i < LM_PROF_N; i++)
            if (p->ms[m][i] > 0)
                fprintf(f, "  %-16s %8.3f ms/token %5.1f%%\n", k_prof_names[i], p->ms[m][i] / (double)p->tokens[m],
                        100.0 * p->ms[m][i] / tot);
    }
}

void lm_state_free(const LmDecoder *d, LmState *st)
{
    if (!st)
        return;
    Tensor *ts[] = {&st->x, &st->xn, &st->q, &st->k, &st->v, &st->att, &st->gate, &st->up, &st->logits};
    for (size_t i = 0; i < sizeof(ts) / sizeof(ts[0]); i++)
        backend_tensor_release(d->be, ts[i]);
    free(st->pos);
    free(st->logits_host);
    free(st);
}

int lm_state_new(const LmDecoder *d, int n_batch, LmState **ret)
{
    const LmConfig *c = &d->cfg;
    Backend *be = d->be;
    LmState *st = calloc(1, sizeof(*st));
    int r = -ENOMEM;

    if (!st)
        return -ENOMEM;
    if (n_batch < 1 || n_batch > LM_MAX_BATCH)
        n_batch = LM_MAX_BATCH;
    st->n_batch = n_batch;
    st->pos = malloc(sizeof(int32_t) * (size_t)n_batch);
    st->logits_host = malloc(sizeof(float) * (size_t)c->n_vocab * LM_LOGIT_ROWS);
    if (!st->pos || !st->logits_host)
        goto fail;
    if ((r = backend_tensor_new(be, &st->x, DTYPE_F32, 2, c->n_embd, n_batch, 1)) < 0 ||
        (r = backend_tensor_new(be, &st->xn, DTYPE_F32, 2, c->n_embd, n_batch, 1)) < 0 ||
        (r = backend_tensor_new(be, &st->q, DTYPE_F32, 3, c->head_dim, c->n_heads, n_batch)) < 0 ||
        (r = backend_tensor_new(be, &st->k, DTYPE_F32, 3, c->head_dim, c->n_kv_heads, n_batch)) < 0 ||
        (r = backend_tensor_new(be, &st->v, DTYPE_F32, 3, c->head_dim, c->n_kv_heads, n_batch)) < 0 ||
        (r = backend_tensor_new(be, &st->att, DTYPE_F32, 3, c->head_dim, c->n_heads, n_batch)) < 0 ||
        (r = backend_tensor_new(be, &st->gate, DTYPE_F32, 2, c->n_ff, n_batch, 1)) < 0 ||
        (r = backend_tensor_new(be, &st->up, DTYPE_F32, 2, c->n_ff, n_batch, 1)) < 0 ||
        (r = backend_tensor_new(be, &st->logits, DTYPE_F32, 2, c->n_vocab, LM_LOGIT_ROWS, 1)) < 0)
        goto fail;
    *ret = st;
    return 0;
fail:
    log_error("lm: cannot allocate activations for %d tokens on %s", n_batch, be->desc);
    lm_state_free(d, st);
    return r;
}

void lm_kv_free(const LmDecoder *d, LmKvCache *kv)
{
    if (!kv)
        return;
    for (int l = 0; l < kv->n_layers; l++) {
        if (kv->k)
            backend_tensor_release(d->be, &kv->k[l]);
        if (kv->v)
            backend_tensor_release(d->be, &kv->v[l]);
    }
    free(kv->k);
    free(kv->v);
    free(kv);
}

int lm_kv_new(const LmDecoder *d, int n_ctx, int f16, LmKvCache **ret)
{
    const LmConfig *c = &d->cfg;
    LmKvCache *kv = calloc(1, sizeof(*kv));
    int r = -ENOMEM;

    if (!kv)
        return -ENOMEM;
    kv->n_ctx = n_ctx;
    kv->n_layers = c->n_layers;
    kv->dtype = f16 ? DTYPE_F16 : DTYPE_F32;
    kv->k = calloc((size_t)c->n_layers, sizeof(Tensor));
    kv->v = calloc((size_t)c->n_layers, sizeof(Tensor));
    if (!kv->k || !kv->v)
        goto fail;
    for (int l = 0; l < c->n_layers; l++) {
        if ((r = backend_tensor_new(d->be, &kv->k[l], kv->dtype, 3, c->head_dim, c->n_kv_heads, n_ctx)) < 0 ||
            (r = backend_tensor_new(d->be, &kv->v[l], kv->dtype, 3, c->head_dim, c->n_kv_heads, n_ctx)) < 0)
            goto fail;
    }
    *ret = kv;
    return 0;
fail:
    log_error("lm: cannot allocate a KV cache of %d positions on %s", n_ctx, d->be->desc);
    lm_kv_free(d, kv);
    return r;
}

/* x[:, 0..T) = embeddings: token rows via get_rows, spliced rows (ids < 0) copied from host emb. */
static int embed(LmDecoder *d, Tensor *x, const int32_t *ids, const float *emb, int T)
{
    Backend *be = d->be;
    size_t row = sizeof(float) * (size_t)d->cfg.n_embd;
    int t0 = 0, r;

    while (t0 < T) {
        int t1 = t0;
        if (ids[t0] >= 0) {
            while (t1 < T && ids[t1] >= 0)
                t1++;
            Tensor xs = tensor_rows(x, t0, t1 - t0);
            if ((r = backend_get_rows(be, &xs, &d->w.tok_embd, ids + t0, t1 - t0)) < 0)
                return r;
        } else {
            if (!emb)
                return -EINVAL;
            while (t1 < T && ids[t1] < 0) {
                if ((r = backend_tensor_set(be, x, emb + (size_t)(-ids[t1] - 1) * d->cfg.n_embd,
                                             row * (size_t)t1, row)) < 0)
                    return r;
                t1++;
            }
        }
        t0 = t1;
    }
    return 0;
}

static int run_hooks(LmDecoder *d, const LmLayerHook *hooks, int n_hooks, int layer, Tensor *x,
                     const int32_t *pos, int T)
{
    for (int i = 0; i < n_hooks; i++) {
        if (hooks[i].layer == layer && hooks[i].forward) {
            int r = hooks[i].forward(hooks[i].ctx, d->be, x, pos, T);
            if (r < 0)
                return r;
        }
    }
    return 0;
}

/* A failing op is reported once by the caller (session.c); TRY_RET names the op at debug level. */
/* TRY, timed under MYNA_PROFILE as op type `kind` */
#define OP(kind, call)                                                                                 \
    do {                                                                                               \
        double t0_ = prof ? clock_now_ms() : 0;                                                        \
        TRY_RET(call);                                                                                     \
        if (prof)                                                                                      \
            prof->ms[T > 1][kind] += clock_now_ms() - t0_;                                             \
    } while (0)

int lm_forward(LmDecoder *d, LmState *st, LmKvCache *kv, const int32_t *ids, const float *emb, int T,
               int n_past, const LmLayerHook *hooks, int n_hooks, float *logits_out, int all_rows)
{
    const LmConfig *c = &d->cfg;
    const LmWeights *w = &d->w;
    Backend *be = d->be;
    const int64_t HD = c->head_dim, NH = c->n_heads, NKV = c->n_kv_heads, V = c->n_vocab;
    RopeParams rp = {c->rope_mode, c->n_rot, c->rope_base, c->rope_freq_scale,
                     c->has_rope_factors ? c->rope_factors : NULL};
    AttnParams ap = {1.0f / sqrtf((float)HD), 1, n_past, NULL};
    LmProfile *prof = st->prof;
    int r;

    if (T < 1 || T > st->n_batch || n_past < 0 || n_past + T > kv->n_ctx)
        return -EINVAL;
    for (int t = 0; t < T; t++) {
        if (ids[t] >= V)
            return -EINVAL;
        st->pos[t] = n_past + t;
    }

    Tensor x = tensor_rows(&st->x, 0, T);            /* [C, T] */
    Tensor xn = tensor_rows(&st->xn, 0, T);          /* [C, T] */
    Tensor q3 = tensor_rows(&st->q, 0, T);           /* [HD, NH, T] */
    Tensor k3 = tensor_rows(&st->k, 0, T);           /* [HD, NKV, T] */
    Tensor v3 = tensor_rows(&st->v, 0, T);
    Tensor att3 = tensor_rows(&st->att, 0, T);       /* [HD, NH, T] */
    Tensor q2 = tensor_view(&q3, 0, HD * NH, T, 1);           /* the same memory as matmul outputs [N, T] */
    Tensor k2 = tensor_view(&k3, 0, HD * NKV, T, 1);
    Tensor v2 = tensor_view(&v3, 0, HD * NKV, T, 1);
    Tensor att2 = tensor_view(&att3, 0, HD * NH, T, 1);
    Tensor gate = tensor_rows(&st->gate, 0, T);      /* [FF, T] */
    Tensor up = tensor_rows(&st->up, 0, T);

    if (prof) {
        prof->calls[T > 1]++;
        prof->tokens[T > 1] += T;
    }
    OP(LM_PROF_EMBED, embed(d, &x, ids, emb, T));
    for (int l = 0; l < c->n_layers; l++) {
        const LmLayerWeights *lw = &w->layers[l];
        Tensor kc = tensor_rows(&kv->k[l], n_past, T);       /* cache rows for these positions */
        Tensor vc = tensor_rows(&kv->v[l], n_past, T);
        Tensor ka = tensor_rows(&kv->k[l], 0, n_past + T);   /* [HD, NKV, S] keys to attend over */
        Tensor va = tensor_rows(&kv->v[l], 0, n_past + T);
        Tensor *qkv_y[3] = {&q2, &k2, &v2}, *gu_y[2] = {&gate, &up};
        const Tensor *qkv_w[3] = {&lw->wq, &lw->wk, &lw->wv}, *gu_w[2] = {&lw->w_gate, &lw->w_up};

        OP(LM_PROF_HOOK, run_hooks(d, hooks, n_hooks, l, &x, st->pos, T));
        /* attention block */
        OP(LM_PROF_NORM, backend_rmsnorm(be, &xn, &x, &lw->attn_norm, c->norm_eps));
        OP(LM_PROF_QKV, backend_matmul_n(be, 3, qkv_y, qkv_w, &xn));
        OP(LM_PROF_ROPE, backend_rope(be, &q3, st->pos, &rp));
        OP(LM_PROF_ROPE, backend_rope(be, &k3, st->pos, &rp));
        OP(LM_PROF_KV, backend_copy(be, &kc, &k3));
        OP(LM_PROF_KV, backend_copy(be, &vc, &v3));
        OP(LM_PROF_ATTN, backend_attention(be, &att3, &q3, &ka, &va, &ap));
        OP(LM_PROF_WO, backend_matmul(be, &xn, &lw->wo, &att2));
        OP(LM_PROF_ADD, backend_add(be, &x, &x, &xn));
        /* feed-forward block */
        OP(LM_PROF_NORM, backend_rmsnorm(be, &xn, &x, &lw->ffn_norm, c->norm_eps));
        OP(LM_PROF_GATEUP, backend_matmul_n(be, 2, gu_y, gu_w, &xn));
        OP(LM_PROF_ACT, backend_swiglu(be, &gate, &gate, &up));
        OP(LM_PROF_DOWN, backend_matmul(be, &xn, &lw->w_down, &gate));
        OP(LM_PROF_ADD, backend_add(be, &x, &x, &xn));
    }
    OP(LM_PROF_HOOK, run_hooks(d, hooks, n_hooks, c->n_layers, &x, st->pos, T));
    if (!logits_out)
        return 0;

    /* final norm and logits: the last row only, or every row in chunks of LM_LOGIT_ROWS */
    int r0 = all_rows ? 0 : T - 1;
    Tensor xs = tensor_rows(&x, r0, T - r0), xns = tensor_rows(&xn, r0, T - r0);
    OP(LM_PROF_NORM, backend_rmsnorm(be, &xns, &xs, &w->out_norm, c->norm_eps));
    for (int t = r0; t < T; t += LM_LOGIT_ROWS) {
        int n = T - t < LM_LOGIT_ROWS ? T - t : LM_LOGIT_ROWS;
        Tensor in = tensor_rows(&xn, t, n), lg = tensor_rows(&st->logits, 0, n);
        OP(LM_PROF_OUT, backend_matmul(be, &lg, &w->output, &in));
        OP(LM_PROF_OUT, backend_tensor_get(be, &lg, logits_out + (size_t)(t - r0) * (size_t)V, 0,
                                         sizeof(float) * (size_t)V * (size_t)n));
    }
    return 0;
}
