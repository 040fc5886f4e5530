/* speech-adapter.c — LLaMA-Omni's speech projector (frame stacking + two-layer MLP) spliced into the token
 * embeddings, its prompt, and the gated cross-attention variant run as LmLayerHooks (speech-adapter.h).
 *
 * Numerics: ICTNLP LLaMA-Omni EncoderProjectorConcat (SPEC.md §6.2): x[:, :F − F mod k] viewed as
 * [F/k, k·C_enc] → linear1 → ReLU → linear2, in F32 with F32/F16/BF16 weights. The cross layers are HF
 * MllamaCrossAttentionDecoderLayer (adapters/cross-attn.c). Reference: tools/ref/omni_adapter_ref.py.
 * Not here: the Whisper encoder, the decoder, the daemon.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cross-attn.h"
#include "log.h"
#include "speech-adapter.h"
#include "weights.h"

struct SpeechAdapter {
    HfModel *hf_owned;            /* owned when loaded from a path */
    const HfModel *hf;            /* borrowed */
    Backend *be;                  /* borrowed */
    WeightStore *ws;              /* owned: weights and fixed scratch */
    int host;                     /* backend_is_host(be) */
    SpeechAdapterConfig cfg;
    Tensor w1, b1;                /* [C_enc·k, H], [H] F32 */
    Tensor w2, b2;                /* [H, C], [C] F32 */
    /* grow-only projector scratch for up to n_cap rows */
    int n_cap;
    Tensor in, hid, out;          /* [C_enc·k, n] (host input uploads), [H, n], [C, n] */
    float *hid_host;              /* host [H, n] when the backend is not on the host */
    /* cross_attention only */
    LmConfig lc;                  /* geometry of the cross layers */
    CrossAttnLayer cross[SPEECH_MAX_CROSS];
    CrossAttnScratch xs;          /* [*, LM_MAX_BATCH] */
};

static const char OMNI_SYSTEM[] = "You are a helpful language and speech assistant. You are able to understand the "
                                  "speech content that the user provides, and assist the user with a variety of "
                                  "tasks using natural language.";
static const char OMNI_INSTRUCTION[] = "Please directly answer the questions in the user's speech.";

/* ---- loading ------------------------------------------------------------------------------------------- */

static int cfg_int(const json_t *cfg, const char *key, int64_t def, int64_t lo, int64_t hi, int *ret, char *err,
                   size_t err_len)
{
    int64_t v = def;
    int r = hf_config_int(cfg, key, &v);

    if ((r < 0 && r != -ENOENT) || (r == -ENOENT && def < 0) || v < lo || v > hi)
        return err_set(err, err_len, -EBADMSG, "config.json: %s %s (expected an integer in [%lld, %lld])", key,
                       r == -ENOENT ? "missing" : "invalid", (long long)lo, (long long)hi);
    *ret = (int)v;
    return 0;
}

static int load_config(SpeechAdapter *a, char *err, size_t err_len)
{
    const json_t *cfg = hf_model_config(a->hf);
    SpeechAdapterConfig *c = &a->cfg;
    const char *s;
    int r;

    if (hf_config_str(cfg, "speech_projector_type", &s) == 0 && strcmp(s, "linear") != 0)
        return err_set(err, err_len, -ENOTSUP, "config.json: speech_projector_type \"%s\" (only \"linear\")", s);
    c->kind = SPEECH_ADAPTER_SPLICE;
    if (hf_config_str(cfg, "speech_adapter", &s) == 0) {
        if (strcmp(s, "cross_attention") == 0)
            c->kind = SPEECH_ADAPTER_CROSS;
        else if (strcmp(s, "splice") != 0)
            return err_set(err, err_len, -ENOTSUP, "config.json: speech_adapter \"%s\" (splice | cross_attention)", s);
    }
    if ((r = cfg_int(cfg, "speech_encoder_ds_rate", 5, 1, 64, &c->ds_rate, err, err_len)) < 0 ||
        (r = cfg_int(cfg, "speech_encoder_hidden_size", 1280, 1, 16384, &c->n_enc, err, err_len)) < 0 ||
        (r = cfg_int(cfg, "hidden_size", -1, 1, 65536, &c->n_embd, err, err_len)) < 0)
        return r;
    if (c->kind != SPEECH_ADAPTER_CROSS)
        return 0;
    const json_t *cl = json_object_get(cfg, "speech_cross_attention_layers");
    if (!json_is_array(cl) || json_array_size(cl) < 1 || json_array_size(cl) > SPEECH_MAX_CROSS)
        return err_set(err, err_len, -EBADMSG, "config.json: speech_cross_attention_layers must be an array of 1..%d",
                       SPEECH_MAX_CROSS);
    c->n_cross = (int)json_array_size(cl);
    for (int i = 0; i < c->n_cross; i++) {
        json_t *e = json_array_get(cl, (size_t)i);
        if (!json_is_integer(e) || json_integer_value(e) < 0 || json_integer_value(e) > LM_MAX_LAYERS ||
            (i > 0 && json_integer_value(e) <= c->cross_layer[i - 1]))
            return err_set(err, err_len, -EBADMSG, "config.json: speech_cross_attention_layers[%d] invalid", i);
        c->cross_layer[i] = (int)json_integer_value(e);
    }
    double eps = 1e-5;
    if ((r = cfg_int(cfg, "num_attention_heads", -1, 1, 1024, &c->n_heads, err, err_len)) < 0 ||
        (r = cfg_int(cfg, "num_key_value_heads", c->n_heads, 1, c->n_heads, &c->n_kv_heads, err, err_len)) < 0 ||
        (r = cfg_int(cfg, "head_dim", c->n_embd / c->n_heads, 1, 1024, &c->head_dim, err, err_len)) < 0 ||
        (r = cfg_int(cfg, "intermediate_size", -1, 1, 1 << 20, &c->n_ff, err, err_len)) < 0)
        return r;
    if (c->n_heads % c->n_kv_heads != 0)
        return err_set(err, err_len, -EBADMSG, "config.json: num_attention_heads %d not a multiple of "
                       "num_key_value_heads %d", c->n_heads, c->n_kv_heads);
    if (hf_config_float(cfg, "rms_norm_eps", &eps) == -EINVAL || !(eps > 0 && eps < 1))
        return err_set(err, err_len, -EBADMSG, "config.json: rms_norm_eps invalid");
    c->norm_eps = (float)eps;
    a->lc = (LmConfig){.n_embd = c->n_embd, .n_heads = c->n_heads, .n_kv_heads = c->n_kv_heads,
                       .head_dim = c->head_dim, .n_ff = c->n_ff, .norm_eps = c->norm_eps};
    return 0;
}

static int load_projector(SpeechAdapter *a, char *err, size_t err_len)
{
    SpeechAdapterConfig *c = &a->cfg;
    const char *n1 = "model.speech_projector.linear1.weight";
    const StTensor *st = hf_model_find(a->hf, n1);
    const int64_t KC = (int64_t)c->n_enc * c->ds_rate;
    int r;

    if (!st)
        return err_set(err, err_len, -EBADMSG, "tensor %s missing", n1);
    if (st->n_dims != 2 || st->shape[1] != KC || st->shape[0] < 1 || st->shape[0] > 1 << 20)
        return err_set(err, err_len, -EBADMSG, "tensor %s: shape %lld×%lld, expected H×%lld (C_enc·k)", n1,
                       (long long)st->shape[0], (long long)(st->n_dims > 1 ? st->shape[1] : 0), (long long)KC);
    c->n_hidden = (int)st->shape[0];
    if ((r = weights_bind2(a->ws, n1, KC, c->n_hidden, 0, &a->w1)) < 0 ||
        (r = weights_bind1(a->ws, "model.speech_projector.linear1.bias", c->n_hidden, WEIGHTS_F32, &a->b1)) < 0 ||
        (r = weights_bind2(a->ws, "model.speech_projector.linear2.weight", c->n_hidden, c->n_embd, 0, &a->w2)) < 0 ||
        (r = weights_bind1(a->ws, "model.speech_projector.linear2.bias", c->n_embd, WEIGHTS_F32, &a->b2)) < 0)
        return r;
    return 0;
}

static int load_cross(SpeechAdapter *a, char *err, size_t err_len)
{
    const SpeechAdapterConfig *c = &a->cfg;
    const int64_t C = c->n_embd, QD = (int64_t)c->n_heads * c->head_dim;
    const int64_t FF = c->n_ff, B = LM_MAX_BATCH;
    char name[192];
    int r;

    for (int i = 0; i < c->n_cross; i++) {
        snprintf(name, sizeof(name), "model.speech_cross_layers.%d", i);
        if ((r = cross_attn_load(&a->cross[i], a->ws, &a->lc, name, 1)) < 0)
            return r;
    }
    if ((r = weights_alloc(a->ws, &a->xs.xn, DTYPE_F32, 2, C, B, 1)) < 0 ||
        (r = weights_alloc(a->ws, &a->xs.o, DTYPE_F32, 2, C, B, 1)) < 0 ||
        (r = weights_alloc(a->ws, &a->xs.q, DTYPE_F32, 2, QD, B, 1)) < 0 ||
        (r = weights_alloc(a->ws, &a->xs.att, DTYPE_F32, 2, QD, B, 1)) < 0 ||
        (r = weights_alloc(a->ws, &a->xs.gate, DTYPE_F32, 2, FF, B, 1)) < 0 ||
        (r = weights_alloc(a->ws, &a->xs.up, DTYPE_F32, 2, FF, B, 1)) < 0)
        return r;
    return 0;
}

int speech_adapter_load_hf(const HfModel *hf, Backend *be, SpeechAdapter **ret, char *err, size_t err_len)
{
    SpeechAdapter *a = calloc(1, sizeof(*a));
    int r;

    if (!a)
        return -ENOMEM;
    a->hf = hf;
    a->be = be;
    a->host = backend_is_host(be);
    if ((r = weights_new(be, &a->ws)) < 0 || (r = weights_add_hf(a->ws, hf)) < 0)
        goto fail;
    weights_set_err(a->ws, err, err_len);
    if ((r = load_config(a, err, err_len)) < 0 || (r = load_projector(a, err, err_len)) < 0 ||
        (a->cfg.kind == SPEECH_ADAPTER_CROSS && (r = load_cross(a, err, err_len)) < 0))
        goto fail;
    weights_set_err(a->ws, NULL, 0);
    *ret = a;
    return 0;
fail:
    speech_adapter_free(a);
    return r;
}

int speech_adapter_load(const char *dir, Backend *be, SpeechAdapter **ret, char *err, size_t err_len)
{
    HfModel *hf;
    SpeechAdapter *a;
    int r = hf_model_open(dir, &hf, err, err_len);

    if (r < 0)
        return r;
    if ((r = speech_adapter_load_hf(hf, be, &a, err, err_len)) < 0) {
        hf_model_free(hf);
        return r;
    }
    a->hf_owned = hf;
    *ret = a;
    return 0;
}

void speech_adapter_free(SpeechAdapter *a)
{
    if (!a)
        return;
    backend_tensor_release(a->be, &a->in);
    backend_tensor_release(a->be, &a->hid);
    backend_tensor_release(a->be, &a->out);
    free(a->hid_host);
    weights_free(a->ws);
    hf_model_free(a->hf_owned);
    free(a);
}

const SpeechAdapterConfig *speech_adapter_config(const SpeechAdapter *a) { return &a->cfg; }

int speech_adapter_check_lm(const SpeechAdapter *a, const LmModel *lm, char *err, size_t err_len)
{
    const LmInfo *li = lm_model_info(lm);

    if (li->n_embd != a->cfg.n_embd)
        return err_set(err, err_len, -EINVAL, "speech adapter: output width %d, the LM's is %d", a->cfg.n_embd,
                       li->n_embd);
    if (a->cfg.kind == SPEECH_ADAPTER_CROSS && a->cfg.cross_layer[a->cfg.n_cross - 1] > li->n_layers)
        return err_set(err, err_len, -EINVAL, "speech adapter: cross layer before decoder layer %d, the LM has %d",
                       a->cfg.cross_layer[a->cfg.n_cross - 1], li->n_layers);
    return 0;
}

/* ---- projector ----------------------------------------------------------------------------------------- */

int speech_adapter_n_out(const SpeechAdapter *a, int n_frames)
{
    return n_frames < 0 ? 0 : n_frames / a->cfg.ds_rate;
}

static int grow(SpeechAdapter *a, int n)
{
    const SpeechAdapterConfig *c = &a->cfg;
    int r;

    if (n <= a->n_cap)
        return 0;
    backend_tensor_release(a->be, &a->in);
    backend_tensor_release(a->be, &a->hid);
    backend_tensor_release(a->be, &a->out);
    free(a->hid_host);
    a->hid_host = NULL;
    a->n_cap = 0;
    if ((r = backend_tensor_new(a->be, &a->hid, DTYPE_F32, 2, c->n_hidden, n, 1)) < 0 || (r = backend_tensor_new(a->be, &a->out, DTYPE_F32, 2, c->n_embd, n, 1)) < 0)
        return r;
    if (!a->host) {
        if ((r = backend_tensor_new(a->be, &a->in, DTYPE_F32, 2, (int64_t)c->n_enc * c->ds_rate, n, 1)) < 0)
            return r;
        if (!(a->hid_host = malloc(sizeof(float) * (size_t)c->n_hidden * (size_t)n)))
            return -ENOMEM;
    }
    a->n_cap = n;
    return 0;
}


/* x: [C_enc·k, n] in backend memory → a->out rows [C, n] → host ret. */
static int project_rows(SpeechAdapter *a, const Tensor *x, int n, float *ret)
{
    Backend *be = a->be;
    Tensor hid = tensor_rows(&a->hid, 0, n), out = tensor_rows(&a->out, 0, n);
    const size_t nh = (size_t)a->cfg.n_hidden * (size_t)n;
    int r;

    TRY_RET(backend_matmul(be, &hid, &a->w1, x));
    TRY_RET(backend_add(be, &hid, &hid, &a->b1));
    /* ReLU on the host (the backend table has no ReLU; [H, n] is small next to the matmuls) */
    float *h = a->host ? hid.data : a->hid_host;
    if (!a->host)
        TRY_RET(backend_tensor_get(be, &hid, h, 0, sizeof(float) * nh));
    else
        backend_synchronize(be);
    for (size_t i = 0; i < nh; i++)
        h[i] = h[i] > 0.0f ? h[i] : 0.0f;
    if (!a->host)
        TRY_RET(backend_tensor_set(be, &hid, h, 0, sizeof(float) * nh));
    TRY_RET(backend_matmul(be, &out, &a->w2, &hid));
    TRY_RET(backend_add(be, &out, &out, &a->b2));
    TRY_RET(backend_tensor_get(be, &out, ret, 0, sizeof(float) * (size_t)a->cfg.n_embd * (size_t)n));
    return n;
}

static int check_rows(const SpeechAdapter *a, int n_frames, int cap_rows)
{
    int n = speech_adapter_n_out(a, n_frames);

    if (n < 1)
        return -EINVAL;
    if (n > SPEECH_MAX_ROWS)
        return -E2BIG;
    return n > cap_rows ? -ENOSPC : n;
}

int speech_adapter_project(SpeechAdapter *a, const Tensor *enc, float *ret, int cap_rows)
{
    const SpeechAdapterConfig *c = &a->cfg;
    int n = enc ? check_rows(a, (int)(enc->ne[1] < 0 || enc->ne[1] > INT32_MAX ? -1 : enc->ne[1]), cap_rows) : -EINVAL;
    int r;

    if (n < 0)
        return n;
    if (enc->dtype != DTYPE_F32 || enc->ne[0] != c->n_enc || enc->ne[2] != 1 || enc->ne[3] != 1 ||
        !tensor_is_contiguous(enc))
        return -EINVAL;
    if ((r = grow(a, n)) < 0)
        return r;
    /* frames t·k … t·k+k−1 are adjacent rows of [C_enc, F]: the stacked input is the same memory viewed as
     * [C_enc·k, F/k]; the trailing F mod k frames are simply not covered */
    Tensor x = *enc;
    x.ne[0] = (int64_t)c->n_enc * c->ds_rate;
    x.ne[1] = n;
    x.nb[1] = x.nb[0] * (size_t)x.ne[0];
    x.nb[2] = x.nb[3] = x.nb[1] * (size_t)n;
    return project_rows(a, &x, n, ret);
}

int speech_adapter_project_host(SpeechAdapter *a, const float *enc, int n_frames, float *ret, int cap_rows)
{
    const SpeechAdapterConfig *c = &a->cfg;
    int n = enc ? check_rows(a, n_frames, cap_rows) : -EINVAL, r;

    if (n < 0)
        return n;
    if (a->host) {
        Tensor t;
        int64_t ne[2] = {c->n_enc, n_frames};
        TRY_RET(tensor_init(&t, DTYPE_F32, 2, ne, (void *)enc));
        return speech_adapter_project(a, &t, ret, cap_rows);
    }
    if ((r = grow(a, n)) < 0)
        return r;
    Tensor x = tensor_rows(&a->in, 0, n);
    TRY_RET(backend_tensor_set(a->be, &x, enc, 0, sizeof(float) * (size_t)x.ne[0] * (size_t)n));
    return project_rows(a, &x, n, ret);
}


/* ---- LLaMA-Omni prompt ------------------------------------------------------------------------------------ */

void speech_prompt_default(SpeechPrompt *p)
{
    *p = (SpeechPrompt){.system = NULL, .instruction = NULL, .double_bos = 1};
}

int speech_prompt_format(const SpeechPrompt *p, int first_turn, char *before, size_t before_len, char *after,
                         size_t after_len)
{
    const char *sys = p->system ? p->system : OMNI_SYSTEM;
    const char *ins = p->instruction ? p->instruction : OMNI_INSTRUCTION;
    size_t ni = strlen(ins);
    int n;

    /* the template strips the user message: trailing white space of the instruction goes */
    while (ni > 0 && strchr(" \t\r\n", ins[ni - 1]))
        ni--;
    if (!first_turn)
        n = snprintf(before, before_len, "<|start_header_id|>user<|end_header_id|>\n\n");
    else if (*sys)
        n = snprintf(before, before_len, "%s<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n%s"
                     "<|eot_id|><|start_header_id|>user<|end_header_id|>\n\n", p->double_bos ? "<|begin_of_text|>" : "",
                     sys);
    else
        n = snprintf(before, before_len, "%s<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\n",
                     p->double_bos ? "<|begin_of_text|>" : "");
    if (n < 0 || (size_t)n >= before_len)
        return -ENOSPC;
    n = snprintf(after, after_len, "%s%.*s<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n",
                 ni ? "\n" : "", (int)ni, ins);
    return n < 0 || (size_t)n >= after_len ? -ENOSPC : 0;
}

/* Token ids of text (special tokens parsed, no automatic BOS) in a malloc'd array; returns the count. */
static int tokenize_alloc(const LmModel *m, const char *text, int32_t **ret)
{
    int cap = 256, n;
    int32_t *ids = malloc(sizeof(int32_t) * (size_t)cap);

    if (!ids)
        return -ENOMEM;
    n = lm_tokenize(m, text, 0, 1, ids, cap);
    if (n > cap) {
        int32_t *p = realloc(ids, sizeof(int32_t) * (size_t)n);
        if (!p) {
            free(ids);
            return -ENOMEM;
        }
        ids = p;
        n = lm_tokenize(m, text, 0, 1, ids, n);
    }
    if (n < 0) {
        free(ids);
        return n;
    }
    *ret = ids;
    return n;
}

int speech_adapter_queue_prompt(LmSession *s, const SpeechPrompt *p, const float *emb, int n, int *ret_pos)
{
    size_t blen = 256 + strlen(p->system ? p->system : OMNI_SYSTEM);
    size_t alen = 256 + strlen(p->instruction ? p->instruction : OMNI_INSTRUCTION);
    int used = lm_session_n_past(s) + lm_session_n_pending(s), nb = 0, na = 0, r;
    char *before = malloc(blen), *after = malloc(alen);
    int32_t *ib = NULL, *ia = NULL;

    if (!before || !after) {
        r = -ENOMEM;
        goto out;
    }
    if (n < 0 || (n > 0 && !emb)) {
        r = -EINVAL;
        goto out;
    }
    if ((r = speech_prompt_format(p, used == 0, before, blen, after, alen)) < 0 ||
        (r = nb = tokenize_alloc(lm_session_model(s), before, &ib)) < 0 ||
        (r = na = tokenize_alloc(lm_session_model(s), after, &ia)) < 0)
        goto out;
    /* all or nothing: check the room before queuing any of the three parts */
    if ((int64_t)used + nb + n + na > lm_session_n_ctx(s)) {
        r = -E2BIG;
        goto out;
    }
    if ((r = lm_session_add_tokens(s, ib, nb)) < 0 || (n > 0 && (r = lm_session_add_embeddings(s, emb, n)) < 0) ||
        (r = lm_session_add_tokens(s, ia, na)) < 0)
        goto out;
    if (ret_pos)
        *ret_pos = used + nb;
    r = 0;
out:
    free(ib);
    free(ia);
    free(before);
    free(after);
    return r;
}

/* ---- cross_attention variant: the shared CrossAttn, every clip attached at or before a position visible --- */

int speech_cross_ctx_new(SpeechAdapter *a, SpeechCrossCtx **ret)
{
    CrossAttnSpec sp = {.be = a->be, .cfg = &a->lc, .layers = a->cross, .hook_layer = a->cfg.cross_layer,
                        .n_layers = a->cfg.n_cross, .scratch = &a->xs, .vis = CROSS_SEE_ALL_BEFORE,
                        .max_sources = SPEECH_MAX_CLIPS, .max_rows = SPEECH_MAX_ROWS};

    return a->cfg.kind == SPEECH_ADAPTER_CROSS ? cross_ctx_new(&sp, ret) : -EINVAL;
}

void speech_cross_ctx_free(SpeechCrossCtx *c) { cross_ctx_free(c); }
void speech_cross_ctx_reset(SpeechCrossCtx *c) { cross_ctx_reset(c); }
int speech_cross_ctx_n_clips(const SpeechCrossCtx *c) { return cross_ctx_n_sources(c); }
int speech_cross_ctx_hooks(SpeechCrossCtx *c, LmLayerHook *hooks, int cap) { return cross_ctx_hooks(c, hooks, cap); }

int speech_cross_ctx_add_clip(SpeechCrossCtx *c, const float *states, int n, int pos)
{
    return cross_ctx_add_states(c, states, n, pos);
}
