/* whisper-load.c — Whisper config, special tokens, suppress lists and weight binding from an HF Whisper
 * folder (SPEC.md §5.3 HF names), with a shape check per tensor.
 *
 * Not here: the forward pass (whisper.c), transcription (whisper-decode.c).
 * Names and config keys follow transformers' WhisperForConditionalGeneration / WhisperConfig; the output
 * projection is tied to model.decoder.embed_tokens (proj_out.weight, when present, is ignored as HF does).
 */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "safetensors.h"
#include "whisper-impl.h"

static int push_host_buf(Whisper *w, void *p)
{
    if (w->n_host_bufs == w->cap_host_bufs) {
        int cap = w->cap_host_bufs ? 2 * w->cap_host_bufs : 64;
        void **n = realloc(w->host_bufs, sizeof(*n) * (size_t)cap);
        if (!n)
            return -ENOMEM;
        w->host_bufs = n;
        w->cap_host_bufs = cap;
    }
    w->host_bufs[w->n_host_bufs++] = p;
    return 0;
}

static int to_f32(const Tensor *t, float *f, int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        switch (t->dtype) {
        case DTYPE_F32: f[i] = ((const float *)t->data)[i]; break;
        case DTYPE_F16: f[i] = fp16_to_f32(((const uint16_t *)t->data)[i]); break;
        case DTYPE_BF16: f[i] = bf16_to_f32(((const uint16_t *)t->data)[i]); break;
        default: return -ENOTSUP;
        }
    }
    return 0;
}

/* Make t usable by the backend: host backends use it in place; others get an uploaded copy. */
static int place(Whisper *w, Tensor *t, const char *name, char *err, size_t err_len)
{
    Tensor dev;
    int r;

    t->name = name;
    t->mem = MEM_HOST;
    if (w->host)
        return 0;
    if (w->n_uploads == w->cap_uploads) {
        int cap = w->cap_uploads ? 2 * w->cap_uploads : 256;
        Tensor *n = realloc(w->uploads, sizeof(*n) * (size_t)cap);
        if (!n)
            return -ENOMEM;
        w->uploads = n;
        w->cap_uploads = cap;
    }
    if ((r = tensor_init(&dev, t->dtype, t->n_dims, t->ne, NULL)) < 0)
        return r;
    if ((r = w->be->ops->tensor_alloc(w->be, &dev)) < 0)
        return err_set(err, err_len, r, "tensor %s: cannot allocate %zu bytes on %s", name, tensor_nbytes(t),
                       w->be->ops->name);
    w->uploads[w->n_uploads++] = dev;
    if ((r = w->be->ops->tensor_set(w->be, &dev, t->data, 0, tensor_nbytes(t))) < 0)
        return err_set(err, err_len, r, "tensor %s: upload failed", name);
    dev.name = name;
    *t = dev;
    return 0;
}

enum { AS_IS = 0, AS_F32 = 1, CONV_PERMUTE = 2 };

/* Bind tensor `name` expecting ggml shape [ne0, ne1, ne2] (ne2/ne1 = 0: fewer dims), then view it as 2-D
 * [ne0·ne1, ne2] for convolution kernels. mode AS_F32 converts to F32; CONV_PERMUTE reorders a
 * [KW, Cin, Cout] kernel to [Cin, KW, Cout] (K index k·Cin + c) for whisper.c's time-major conv2. */
static int bind(Whisper *w, const char *name, int64_t ne0, int64_t ne1, int64_t ne2, int mode, Tensor *dst,
                char *err, size_t err_len)
{
    const StTensor *st = hf_model_find(w->src, name);
    int64_t want[3] = {ne0, ne1, ne2}, n;
    int nd = ne2 ? 3 : ne1 ? 2 : 1, r;
    Tensor t;

    if (!st)
        return err_set(err, err_len, -EBADMSG, "tensor %s missing", name);
    if ((r = st_tensor_view(st, &t)) < 0 ||
        (t.dtype != DTYPE_F32 && t.dtype != DTYPE_F16 && t.dtype != DTYPE_BF16))
        return err_set(err, err_len, -ENOTSUP, "tensor %s: dtype %s is not supported", name, st->dtype_str);
    if (t.n_dims != nd || t.ne[0] != want[0] || (nd > 1 && t.ne[1] != want[1]) || (nd > 2 && t.ne[2] != want[2]))
        return err_set(err, err_len, -EBADMSG, "tensor %s: shape %lld×%lld×%lld, expected %lld×%lld×%lld", name,
                       (long long)t.ne[0], (long long)t.ne[1], (long long)t.ne[2], (long long)ne0,
                       (long long)(ne1 ? ne1 : 1), (long long)(ne2 ? ne2 : 1));
    n = tensor_nelements(&t);
    if (mode == AS_F32 && t.dtype != DTYPE_F32) {
        float *f = malloc(sizeof(float) * (size_t)n);
        if (!f || push_host_buf(w, f) < 0) {
            free(f);
            return -ENOMEM;
        }
        to_f32(&t, f, n);
        int64_t ne[3] = {t.ne[0], t.ne[1], t.ne[2]};
        if ((r = tensor_init(&t, DTYPE_F32, nd, ne, f)) < 0)
            return r;
    } else if (mode == CONV_PERMUTE) {
        size_t es = (size_t)dtype_info(t.dtype)->type_size;
        char *p = malloc(es * (size_t)n);
        if (!p || push_host_buf(w, p) < 0) {
            free(p);
            return -ENOMEM;
        }
        for (int64_t o = 0; o < ne2; o++)
            for (int64_t c = 0; c < ne1; c++)
                for (int64_t k = 0; k < ne0; k++)
                    memcpy(p + es * (size_t)((o * ne0 + k) * ne1 + c),
                           (const char *)t.data + es * (size_t)((o * ne1 + c) * ne0 + k), es);
        t.data = p;
    }
    if (nd == 3) { /* kernels as matmul weights [KW·Cin, Cout] */
        int64_t ne[2] = {ne0 * ne1, ne2};
        void *data = t.data;
        DType dt = t.dtype;
        if ((r = tensor_init(&t, dt, 2, ne, data)) < 0)
            return r;
    }
    *dst = t;
    return place(w, dst, st->name, err, err_len);
}

static int bind_ln(Whisper *w, const char *prefix, int64_t c, Tensor *wt, Tensor *b, char *err, size_t err_len)
{
    char n[256];
    int r;

    snprintf(n, sizeof(n), "%s.weight", prefix);
    if ((r = bind(w, n, c, 0, 0, AS_F32, wt, err, err_len)) < 0)
        return r;
    snprintf(n, sizeof(n), "%s.bias", prefix);
    return bind(w, n, c, 0, 0, AS_F32, b, err, err_len);
}

/* Linear layer prefix.weight [k, n] (+ prefix.bias [n] when b != NULL). */
static int bind_lin(Whisper *w, const char *prefix, int64_t k, int64_t n, Tensor *wt, Tensor *b, char *err,
                    size_t err_len)
{
    char s[256];
    int r;

    snprintf(s, sizeof(s), "%s.weight", prefix);
    if ((r = bind(w, s, k, n, 0, AS_IS, wt, err, err_len)) < 0 || !b)
        return r;
    snprintf(s, sizeof(s), "%s.bias", prefix);
    return bind(w, s, n, 0, 0, AS_F32, b, err, err_len);
}

/* v_f32: the value weight as F32 (the encoder uses it as a matmul activation operand, see whisper.c). */
static int bind_attn(Whisper *w, const char *p, int64_t C, Tensor *q, Tensor *bq, Tensor *k, Tensor *v,
                     Tensor *bv, Tensor *o, Tensor *bo, int v_f32, char *err, size_t err_len)
{
    char s[200];
    int r;

    snprintf(s, sizeof(s), "%s.q_proj", p);
    if ((r = bind_lin(w, s, C, C, q, bq, err, err_len)) < 0)
        return r;
    snprintf(s, sizeof(s), "%s.k_proj", p);
    if ((r = bind_lin(w, s, C, C, k, NULL, err, err_len)) < 0)
        return r;
    snprintf(s, sizeof(s), "%s.v_proj.weight", p);
    if ((r = bind(w, s, C, C, 0, v_f32 ? AS_F32 : AS_IS, v, err, err_len)) < 0)
        return r;
    snprintf(s, sizeof(s), "%s.v_proj.bias", p);
    if ((r = bind(w, s, C, 0, 0, AS_F32, bv, err, err_len)) < 0)
        return r;
    snprintf(s, sizeof(s), "%s.out_proj", p);
    return bind_lin(w, s, C, C, o, bo, err, err_len);
}

static int bind_weights(Whisper *w, char *err, size_t err_len)
{
    const WhisperConfig *c = &w->cfg;
    WhisperWeights *ww = &w->w;
    int64_t C = c->n_audio_state, M = c->n_mels;
    char p[96], s[160];
    int r;

    ww->enc = calloc((size_t)c->n_audio_layer, sizeof(*ww->enc));
    ww->dec = calloc((size_t)c->n_text_layer, sizeof(*ww->dec));
    if (!ww->enc || !ww->dec)
        return -ENOMEM;
    if ((r = bind(w, "model.encoder.conv1.weight", 3, M, C, AS_IS, &ww->conv1_w, err, err_len)) < 0 ||
        (r = bind(w, "model.encoder.conv1.bias", C, 0, 0, AS_F32, &ww->conv1_b, err, err_len)) < 0 ||
        (r = bind(w, "model.encoder.conv2.weight", 3, C, C, CONV_PERMUTE, &ww->conv2_w, err, err_len)) < 0 ||
        (r = bind(w, "model.encoder.conv2.bias", C, 0, 0, AS_F32, &ww->conv2_b, err, err_len)) < 0 ||
        (r = bind(w, "model.encoder.embed_positions.weight", C, c->n_audio_ctx, 0, AS_F32, &ww->enc_pos, err,
                  err_len)) < 0)
        return r;
    for (int l = 0; l < c->n_audio_layer; l++) {
        WhisperEncLayer *e = &ww->enc[l];
        snprintf(p, sizeof(p), "model.encoder.layers.%d", l);
        snprintf(s, sizeof(s), "%s.self_attn_layer_norm", p);
        if ((r = bind_ln(w, s, C, &e->ln1_w, &e->ln1_b, err, err_len)) < 0)
            return r;
        snprintf(s, sizeof(s), "%s.self_attn", p);
        if ((r = bind_attn(w, s, C, &e->wq, &e->bq, &e->wk, &e->wv, &e->bv, &e->wo, &e->bo, 1, err, err_len)) < 0)
            return r;
        snprintf(s, sizeof(s), "%s.final_layer_norm", p);
        if ((r = bind_ln(w, s, C, &e->ln2_w, &e->ln2_b, err, err_len)) < 0)
            return r;
        snprintf(s, sizeof(s), "%s.fc1", p);
        if ((r = bind_lin(w, s, C, c->n_audio_ff, &e->fc1, &e->fc1_b, err, err_len)) < 0)
            return r;
        snprintf(s, sizeof(s), "%s.fc2", p);
        if ((r = bind_lin(w, s, c->n_audio_ff, C, &e->fc2, &e->fc2_b, err, err_len)) < 0)
            return r;
    }
    if ((r = bind_ln(w, "model.encoder.layer_norm", C, &ww->enc_ln_w, &ww->enc_ln_b, err, err_len)) < 0)
        return r;

    C = c->n_text_state;
    if ((r = bind(w, "model.decoder.embed_tokens.weight", C, c->n_vocab, 0, AS_IS, &ww->tok_emb, err,
                  err_len)) < 0 ||
        (r = bind(w, "model.decoder.embed_positions.weight", C, c->n_text_ctx, 0, AS_F32, &ww->dec_pos, err,
                  err_len)) < 0)
        return r;
    for (int l = 0; l < c->n_text_layer; l++) {
        WhisperDecLayer *d = &ww->dec[l];
        snprintf(p, sizeof(p), "model.decoder.layers.%d", l);
        snprintf(s, sizeof(s), "%s.self_attn_layer_norm", p);
        if ((r = bind_ln(w, s, C, &d->ln1_w, &d->ln1_b, err, err_len)) < 0)
            return r;
        snprintf(s, sizeof(s), "%s.self_attn", p);
        if ((r = bind_attn(w, s, C, &d->wq, &d->bq, &d->wk, &d->wv, &d->bv, &d->wo, &d->bo, 0, err, err_len)) < 0)
            return r;
        snprintf(s, sizeof(s), "%s.encoder_attn_layer_norm", p);
        if ((r = bind_ln(w, s, C, &d->lnx_w, &d->lnx_b, err, err_len)) < 0)
            return r;
        snprintf(s, sizeof(s), "%s.encoder_attn", p);
        if ((r = bind_attn(w, s, C, &d->xq, &d->xbq, &d->xk, &d->xv, &d->xbv, &d->xo, &d->xbo, 0, err, err_len)) < 0)
            return r;
        snprintf(s, sizeof(s), "%s.final_layer_norm", p);
        if ((r = bind_ln(w, s, C, &d->ln2_w, &d->ln2_b, err, err_len)) < 0)
            return r;
        snprintf(s, sizeof(s), "%s.fc1", p);
        if ((r = bind_lin(w, s, C, c->n_text_ff, &d->fc1, &d->fc1_b, err, err_len)) < 0)
            return r;
        snprintf(s, sizeof(s), "%s.fc2", p);
        if ((r = bind_lin(w, s, c->n_text_ff, C, &d->fc2, &d->fc2_b, err, err_len)) < 0)
            return r;
    }
    return bind_ln(w, "model.decoder.layer_norm", C, &ww->dec_ln_w, &ww->dec_ln_b, err, err_len);
}

static int cfg_int(const json_t *cfg, const char *key, int lo, int hi, int *ret, char *err, size_t err_len)
{
    int64_t v;
    int r = hf_config_int(cfg, key, &v);

    if (r < 0)
        return err_set(err, err_len, -EBADMSG, "config.json: %s %s", key, r == -ENOENT ? "missing" : "not an integer");
    if (v < lo || v > hi)
        return err_set(err, err_len, -EBADMSG, "config.json: %s = %lld out of range %d..%d", key, (long long)v, lo, hi);
    *ret = (int)v;
    return 0;
}

static int read_config(Whisper *w, const json_t *cfg, char *err, size_t err_len)
{
    WhisperConfig *c = &w->cfg;
    const char *mt = NULL;
    int r;

    if (hf_config_str(cfg, "model_type", &mt) == 0 && strcmp(mt, "whisper") != 0)
        return err_set(err, err_len, -ENOTSUP, "config.json: model_type '%s' is not whisper", mt);
    if ((r = cfg_int(cfg, "vocab_size", 1, 1 << 20, &c->n_vocab, err, err_len)) < 0 ||
        (r = cfg_int(cfg, "num_mel_bins", 1, 256, &c->n_mels, err, err_len)) < 0 ||
        (r = cfg_int(cfg, "d_model", 2, 8192, &c->n_audio_state, err, err_len)) < 0 ||
        (r = cfg_int(cfg, "encoder_layers", 1, 128, &c->n_audio_layer, err, err_len)) < 0 ||
        (r = cfg_int(cfg, "encoder_attention_heads", 1, 256, &c->n_audio_head, err, err_len)) < 0 ||
        (r = cfg_int(cfg, "encoder_ffn_dim", 1, 65536, &c->n_audio_ff, err, err_len)) < 0 ||
        (r = cfg_int(cfg, "decoder_layers", 1, 128, &c->n_text_layer, err, err_len)) < 0 ||
        (r = cfg_int(cfg, "decoder_attention_heads", 1, 256, &c->n_text_head, err, err_len)) < 0 ||
        (r = cfg_int(cfg, "decoder_ffn_dim", 1, 65536, &c->n_text_ff, err, err_len)) < 0 ||
        (r = cfg_int(cfg, "max_source_positions", 1, 1 << 16, &c->n_audio_ctx, err, err_len)) < 0 ||
        (r = cfg_int(cfg, "max_target_positions", 2, 1 << 16, &c->n_text_ctx, err, err_len)) < 0)
        return r;
    c->n_text_state = c->n_audio_state;
    if (c->n_audio_state % c->n_audio_head || c->n_text_state % c->n_text_head)
        return err_set(err, err_len, -EBADMSG, "config.json: d_model %d not divisible by the head counts",
                       c->n_audio_state);
    c->multilingual = c->n_vocab >= 51865;
    return 0;
}

/* Int array `key` of a JSON object (ids < n_vocab kept); replaces *ret only when the key is present. */
static int read_ids(const json_t *obj, const char *key, int n_vocab, int32_t **ret, int *ret_n)
{
    const json_t *a = obj ? json_object_get(obj, key) : NULL;
    int32_t *ids;
    int n = 0;

    if (!a || !json_is_array(a))
        return 0;
    if (json_array_size(a) > (size_t)n_vocab)
        return -EBADMSG;
    ids = malloc(sizeof(int32_t) * (json_array_size(a) + 1));
    if (!ids)
        return -ENOMEM;
    for (size_t i = 0; i < json_array_size(a); i++) {
        json_int_t v = json_integer_value(json_array_get(a, i));
        if (json_is_integer(json_array_get(a, i)) && v >= 0 && v < n_vocab)
            ids[n++] = (int32_t)v;
    }
    free(*ret);
    *ret = ids;
    *ret_n = n;
    return 0;
}

static int32_t find_tok(const Whisper *w, const char *text)
{
    return w->tokenizer ? tokenizer_find_token(w->tokenizer, text) : -1;
}

static int read_tokens(Whisper *w, const json_t *cfg, const char *dir)
{
    WhisperTokens *t = &w->tok;
    char path[4096];
    int64_t v;
    int r;

    snprintf(path, sizeof(path), "%s/tokenizer.json", dir);
    if (access(path, R_OK) == 0) {
        char e[256] = "";
        if ((r = tokenizer_load_hf(path, &w->tokenizer, e, sizeof(e))) < 0) {
            log_error("whisper: %s: %s", path, e);
            return r;
        }
    }
    t->eot = find_tok(w, "<|endoftext|>");
    t->sot = find_tok(w, "<|startoftranscript|>");
    t->sot_prev = find_tok(w, "<|startofprev|>");
    t->sot_lm = find_tok(w, "<|startoflm|>");
    t->translate = find_tok(w, "<|translate|>");
    t->transcribe = find_tok(w, "<|transcribe|>");
    t->no_speech = find_tok(w, "<|nospeech|>");
    if (t->no_speech < 0)
        t->no_speech = find_tok(w, "<|nocaptions|>");
    t->no_timestamps = find_tok(w, "<|notimestamps|>");
    t->lang_begin = find_tok(w, "<|en|>");
    t->timestamp_begin = t->no_timestamps >= 0 ? t->no_timestamps + 1 : -1;
    if (t->eot < 0)
        t->eot = hf_config_int(cfg, "eos_token_id", &v) == 0 ? (int32_t)v : -1;
    if (t->sot < 0)
        t->sot = hf_config_int(cfg, "decoder_start_token_id", &v) == 0 ? (int32_t)v : -1;
    if (t->timestamp_begin >= w->cfg.n_vocab)
        t->timestamp_begin = -1;
    return 0;
}

static int read_suppress(Whisper *w, const json_t *cfg, const char *dir, char *err, size_t err_len)
{
    char path[4096];
    json_t *gen = NULL;
    int r;

    if ((r = read_ids(cfg, "suppress_tokens", w->cfg.n_vocab, &w->suppress, &w->n_suppress)) < 0 ||
        (r = read_ids(cfg, "begin_suppress_tokens", w->cfg.n_vocab, &w->suppress_begin, &w->n_suppress_begin)) < 0)
        return err_set(err, err_len, r, "config.json: bad suppress_tokens");
    snprintf(path, sizeof(path), "%s/generation_config.json", dir);
    if (access(path, R_OK) == 0) {
        json_error_t je;
        gen = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
        if (!gen)
            return err_set(err, err_len, -EBADMSG, "%s: %s (line %d)", path, je.text, je.line);
        if ((r = read_ids(gen, "suppress_tokens", w->cfg.n_vocab, &w->suppress, &w->n_suppress)) < 0 ||
            (r = read_ids(gen, "begin_suppress_tokens", w->cfg.n_vocab, &w->suppress_begin,
                          &w->n_suppress_begin)) < 0) {
            json_decref(gen);
            return err_set(err, err_len, r, "%s: bad suppress_tokens", path);
        }
        json_decref(gen);
    }
    return 0;
}

int whisper_load(const char *path, Backend *be, Whisper **ret, char *err, size_t err_len)
{
    Whisper *w;
    HfModel *hf = NULL;
    int r;

    if (!path || !be || !ret)
        return -EINVAL;
    w = calloc(1, sizeof(*w));
    if (!w)
        return -ENOMEM;
    w->be = be;
    w->host = strncmp(be->ops->name, "cpu", 3) == 0;
    if ((r = hf_model_open(path, &hf, err, err_len)) < 0)
        goto fail;
    w->src = hf;
    if ((r = read_config(w, hf_model_config(hf), err, err_len)) < 0 ||
        (r = read_tokens(w, hf_model_config(hf), path)) < 0 ||
        (r = read_suppress(w, hf_model_config(hf), path, err, err_len)) < 0 ||
        (r = bind_weights(w, err, err_len)) < 0)
        goto fail;
    if (w->tok.eot < 0 || w->tok.eot >= w->cfg.n_vocab || w->tok.sot < 0 || w->tok.sot >= w->cfg.n_vocab) {
        r = err_set(err, err_len, -EBADMSG, "no <|endoftext|>/<|startoftranscript|> token ids");
        goto fail;
    }
    if ((r = whisper_state_init(w)) < 0) {
        err_set(err, err_len, r, "cannot allocate activations on %s", be->ops->name);
        goto fail;
    }
    *ret = w;
    return 0;
fail:
    whisper_free(w);
    return r;
}

void whisper_free(Whisper *w)
{
    if (!w)
        return;
    whisper_state_free(w);
    for (int i = 0; i < w->n_uploads; i++)
        w->be->ops->tensor_free(w->be, &w->uploads[i]);
    for (int i = 0; i < w->n_host_bufs; i++)
        free(w->host_bufs[i]);
    free(w->uploads);
    free(w->host_bufs);
    free(w->w.enc);
    free(w->w.dec);
    free(w->suppress);
    free(w->suppress_begin);
    tokenizer_free(w->tokenizer);
    hf_model_free(w->src);
    free(w);
}

const WhisperConfig *whisper_config(const Whisper *w)
{
    return &w->cfg;
}

const WhisperTokens *whisper_tokens(const Whisper *w)
{
    return &w->tok;
}
