/* whisper-load.c — Whisper config, special tokens, suppress lists and weight binding from an HF Whisper
 * folder (SPEC.md §5.3 HF names), with a shape check per tensor.
 *
 * Also loads whisper.cpp .bin files (parsed by whisper-bin.c; OpenAI tensor names, mapped from the HF
 * ones below). Not here: the forward pass (whisper.c), transcription (whisper-transcribe.c).
 * Names and config keys follow transformers' WhisperForConditionalGeneration / WhisperConfig; the output
 * projection is tied to model.decoder.embed_tokens (proj_out.weight, when present, is ignored as HF does).
 */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "quant.h"
#include "hf-model.h"
#include "weights.h"
#include "whisper-impl.h"

/* HF name → OpenAI / whisper.cpp name (SPEC.md §5.3), by ordered substring rewrites. */
static void openai_name(const char *hf, char *out, size_t cap)
{
    static const char *const k_map[][2] = {
        {"model.", ""}, {"embed_positions.weight", "positional_embedding"}, {"embed_tokens", "token_embedding"},
        {".layers.", ".blocks."}, {"encoder_attn_layer_norm", "cross_attn_ln"}, {"self_attn_layer_norm", "attn_ln"},
        {"encoder_attn.", "cross_attn."}, {"self_attn.", "attn."}, {"q_proj", "query"}, {"k_proj", "key"},
        {"v_proj", "value"}, {"out_proj", "out"}, {"final_layer_norm", "mlp_ln"}, {"fc1", "mlp.0"},
        {"fc2", "mlp.2"}, {"encoder.layer_norm", "encoder.ln_post"}, {"decoder.layer_norm", "decoder.ln"},
    };
    char tmp[256];

    snprintf(out, cap, "%s", hf);
    for (size_t i = 0; i < sizeof(k_map) / sizeof(k_map[0]); i++) {
        char *p = strstr(out, k_map[i][0]);
        if (!p)
            continue;
        snprintf(tmp, sizeof(tmp), "%.*s%s%s", (int)(p - out), out, k_map[i][1], p + strlen(k_map[i][0]));
        snprintf(out, cap, "%s", tmp);
    }
}

/* The weight-store source of a whisper.cpp .bin: HF names mapped to OpenAI ones. */
static int find_bin(void *src, const char *name, Tensor *t, char *err, size_t err_len)
{
    char on[256];
    const WggmlTensor *gt;

    openai_name(name, on, sizeof(on));
    if (!(gt = wggml_find(src, on)))
        return -ENOENT;
    *t = gt->t;
    if (t->n_dims == 2 && t->ne[0] == 1) { /* conv biases are stored as [1, C] */
        int64_t ne = t->ne[1];
        tensor_init(t, t->dtype, 1, &ne, gt->t.data);
    }
    t->name = gt->name;
    return 0;
}

enum { AS_IS = 0, AS_F32 = 1, CONV_PERMUTE = 2 };

/* Bind tensor `name` expecting ggml shape [ne0, ne1, ne2] (ne2/ne1 = 0: fewer dims), then view it as 2-D
 * [ne0·ne1, ne2] for convolution kernels. mode AS_F32 converts to F32; CONV_PERMUTE reorders a
 * [KW, Cin, Cout] kernel to [Cin, KW, Cout] (K index k·Cin + c) for whisper.c's time-major conv2. */
static int bind(Whisper *w, const char *name, int64_t ne0, int64_t ne1, int64_t ne2, int mode, Tensor *dst,
                char *err, size_t err_len)
{
    int64_t want[3] = {ne0, ne1, ne2};
    int nd = ne2 ? 3 : ne1 ? 2 : 1, r;
    Tensor t;

    if (mode != CONV_PERMUTE) {
        if ((r = weights_bind(w->ws, name, nd, want, mode == AS_F32 ? WEIGHTS_F32 : 0, &t)) < 0)
            return r;
    } else {
        if ((r = weights_bind(w->ws, name, nd, want, WEIGHTS_FLOAT | WEIGHTS_NO_PLACE, &t)) < 0)
            return r;
        size_t es = (size_t)dtype_info(t.dtype)->type_size;
        char *p = weights_host_alloc(w->ws, es * (size_t)tensor_nelements(&t));
        if (!p)
            return -ENOMEM;
        for (int64_t o = 0; o < ne2; o++)
            for (int64_t c = 0; c < ne1; c++)
                for (int64_t k = 0; k < ne0; k++)
                    memcpy(p + es * (size_t)((o * ne0 + k) * ne1 + c),
                           (const char *)t.data + es * (size_t)((o * ne1 + c) * ne0 + k), es);
        t.data = p;
        if ((r = weights_place(w->ws, &t)) < 0)
            return r;
    }
    if (nd == 3) { /* kernels as matmul weights [KW·Cin, Cout] */
        const char *nm = t.name;
        t = tensor_view(&t, 0, ne0 * ne1, ne2, 1);
        t.name = nm;
    }
    *dst = t;
    return 0;
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
        if ((r = bind_attn(w, s, C, &d->xq, &d->xbq, &d->xk, &d->xv, &d->xbv, &d->xo, &d->xbo, 1, err, err_len)) < 0)
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
    if (w->tokenizer)
        return tokenizer_find_token(w->tokenizer, text);
    if (w->ggml) {
        size_t len = strlen(text);
        for (int32_t i = 0; i < w->ggml->n_tokens; i++)
            if (w->ggml->tok_off[i + 1] - w->ggml->tok_off[i] == len &&
                !memcmp(w->ggml->tok_bytes + w->ggml->tok_off[i], text, len))
                return i;
    }
    return -1;
}

/* whisper.cpp's fixed ids for .bin files whose vocabulary lists no special tokens (convert-pt-to-ggml.py
 * writes only the BPE ranks): English-only 50256.., multilingual shifted by one and by the number of
 * language tokens beyond 98 (large-v3: 100). */
static void ggml_default_tokens(Whisper *w)
{
    WhisperTokens *t = &w->tok;
    int nv = w->cfg.n_vocab, multi = nv >= 51865, dt = multi ? (nv - 51765 - 1) - 98 : 0;

    if (t->sot >= 0 || nv < 51864)
        return;
#define DEF(field, id) if (t->field < 0) t->field = (id)
    DEF(eot, 50256 + multi); /* convert-h5-to-ggml.py's HF vocab.json has <|endoftext|>, nothing after it */
    DEF(sot, 50257 + multi);
    DEF(lang_begin, multi ? t->sot + 1 : -1);
    DEF(translate, 50357 + dt);
    DEF(transcribe, 50358 + dt);
    DEF(sot_lm, 50359 + dt);
    DEF(sot_prev, 50360 + dt);
    DEF(no_speech, 50361 + dt);
    DEF(no_timestamps, 50362 + dt);
    DEF(timestamp_begin, 50363 + dt);
#undef DEF
}

static int read_tokens(Whisper *w, const json_t *cfg, const char *dir)
{
    WhisperTokens *t = &w->tok;
    char path[4096];
    int64_t v;
    int r;

    snprintf(path, sizeof(path), "%s/tokenizer.json", dir);
    if (!w->ggml && access(path, R_OK) == 0) {
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
    if (w->ggml)
        ggml_default_tokens(w);
    if (t->eot < 0)
        t->eot = cfg && hf_config_int(cfg, "eos_token_id", &v) == 0 ? (int32_t)v : -1;
    if (t->sot < 0)
        t->sot = cfg && hf_config_int(cfg, "decoder_start_token_id", &v) == 0 ? (int32_t)v : -1;
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

static int read_config_ggml(Whisper *w, char *err, size_t err_len)
{
    WhisperConfig *c = &w->cfg;
    const int32_t *hp = w->ggml->hp;

    c->n_vocab = hp[0];
    c->n_audio_ctx = hp[1];
    c->n_audio_state = hp[2];
    c->n_audio_head = hp[3];
    c->n_audio_layer = hp[4];
    c->n_text_ctx = hp[5];
    c->n_text_state = hp[6];
    c->n_text_head = hp[7];
    c->n_text_layer = hp[8];
    c->n_mels = hp[9];
    c->n_audio_ff = 4 * c->n_audio_state; /* whisper.cpp's assumption; the tensors say for sure */
    c->n_text_ff = 4 * c->n_text_state;
    const WggmlTensor *fe = wggml_find(w->ggml, "encoder.blocks.0.mlp.0.weight");
    const WggmlTensor *fd = wggml_find(w->ggml, "decoder.blocks.0.mlp.0.weight");
    if (fe && fe->t.n_dims == 2 && fe->t.ne[1] <= 65536)
        c->n_audio_ff = (int)fe->t.ne[1];
    if (fd && fd->t.n_dims == 2 && fd->t.ne[1] <= 65536)
        c->n_text_ff = (int)fd->t.ne[1];
    c->multilingual = c->n_vocab >= 51865;
    if (c->n_text_state != c->n_audio_state || c->n_audio_state % c->n_audio_head ||
        c->n_text_state % c->n_text_head || c->n_audio_layer > 128 || c->n_text_layer > 128 || c->n_mels > 256 ||
        c->n_text_ctx < 2 || c->n_audio_state > 8192)
        return err_set(err, err_len, -EBADMSG, "hparams: inconsistent dims (state %d/%d, heads %d/%d, layers %d/%d)",
                       c->n_audio_state, c->n_text_state, c->n_audio_head, c->n_text_head, c->n_audio_layer,
                       c->n_text_layer);
    /* whisper.cpp has no suppress lists in the file: blank and EOT at the start, specials always */
    w->suppress_begin = malloc(2 * sizeof(int32_t));
    if (!w->suppress_begin)
        return -ENOMEM;
    w->n_suppress_begin = 0;
    if (c->n_vocab > 220)
        w->suppress_begin[w->n_suppress_begin++] = 220; /* " " */
    return 0;
}

/* Q8_0 copy of a 2-D weight (rows must be whole 32-blocks; otherwise dst stays empty). */
static int make_q8(Whisper *w, const Tensor *t, Tensor *dst, const char *name)
{
    int64_t C = t->ne[0], V = t->ne[1], ne[2] = {C, V};
    size_t row;
    float *f;
    char *q;
    int r;

    if (C % 32 || t->n_dims != 2 || dtype_row_bytes(DTYPE_Q8_0, C, &row) < 0)
        return 0;
    f = malloc(sizeof(float) * (size_t)C);
    q = weights_host_alloc(w->ws, row * (size_t)V);
    if (!f || !q) {
        free(f);
        return -ENOMEM;
    }
    for (int64_t v = 0; v < V; v++) {
        Tensor tr = tensor_rows(t, v, 1);
        tensor_to_f32(&tr, f);
        if ((r = quant_quantize_row(DTYPE_Q8_0, f, q + row * (size_t)v, C)) < 0) {
            free(f);
            return r == -ENOTSUP ? 0 : r;
        }
    }
    free(f);
    if ((r = tensor_init(dst, DTYPE_Q8_0, 2, ne, q)) < 0)
        return r;
    dst->name = name;
    dst->mem = MEM_HOST;
    return 0;
}

/* The fast path's Q8_0 token embedding (CPU backend). Encoder matrices stay F16: Q8_0 copies of them
 * measured only ~5 % faster per window here, not worth the extra loss and memory. */
static int make_fast(Whisper *w)
{
    int r = make_q8(w, &w->w.tok_emb, &w->w.tok_q8, "token_embedding.q8_0");

    if (r == 0 && w->w.tok_q8.data)
        w->fast_ok = 1;
    return r;
}

void whisper_load_options_default(WhisperLoadOptions *o)
{
    const char *e = getenv("MYNA_WHISPER_FAST"); /* "on", "all"; A/B runs of tools and tests */

    memset(o, 0, sizeof(*o));
    o->fast = WHISPER_FAST_OFF; /* exact numerics by default (issue 17: the fast path changes ~1.7 % of words) */
    if (e && (!strcmp(e, "on") || !strcmp(e, "transcribe")))
        o->fast = WHISPER_FAST_TRANSCRIBE;
    else if (e && !strcmp(e, "all"))
        o->fast = WHISPER_FAST_ALL;
}

int whisper_load(const char *path, Backend *be, Whisper **ret, char *err, size_t err_len)
{
    return whisper_load_ex(path, be, NULL, ret, err, err_len);
}

int whisper_load_ex(const char *path, Backend *be, const WhisperLoadOptions *opt, Whisper **ret, char *err,
                    size_t err_len)
{
    WhisperLoadOptions def;
    Whisper *w;
    HfModel *hf = NULL;
    struct stat stt;
    int r;

    if (!opt) {
        whisper_load_options_default(&def);
        opt = &def;
    }
    if (!path || !be || !ret || (unsigned)opt->fast > WHISPER_FAST_ALL)
        return -EINVAL;
    w = calloc(1, sizeof(*w));
    if (!w)
        return -ENOMEM;
    w->be = be;
    w->fast = opt->fast;
    w->host = backend_is_host(be);
    if ((r = weights_new(be, &w->ws)) < 0)
        goto fail;
    if (stat(path, &stt) == 0 && S_ISREG(stt.st_mode)) { /* whisper.cpp .bin */
        if ((r = wggml_open(path, &w->ggml, err, err_len)) < 0 || (r = read_config_ggml(w, err, err_len)) < 0 ||
            (r = read_tokens(w, NULL, path)) < 0 || (r = weights_add_source(w->ws, find_bin, w->ggml)) < 0)
            goto fail;
        if (w->tok.eot >= 0 && w->tok.eot < w->cfg.n_vocab)
            w->suppress_begin[w->n_suppress_begin++] = w->tok.eot;
    } else {
        if ((r = hf_model_open(path, &hf, err, err_len)) < 0)
            goto fail;
        w->src = hf;
        if ((r = weights_add_hf(w->ws, hf)) < 0 || (r = read_config(w, hf_model_config(hf), err, err_len)) < 0 ||
            (r = read_tokens(w, hf_model_config(hf), path)) < 0 ||
            (r = read_suppress(w, hf_model_config(hf), path, err, err_len)) < 0)
            goto fail;
    }
    weights_set_err(w->ws, err, err_len);
    r = bind_weights(w, err, err_len);
    weights_set_err(w->ws, NULL, 0);
    if (r < 0)
        goto fail;
    if (w->tok.eot < 0 || w->tok.eot >= w->cfg.n_vocab || w->tok.sot < 0 || w->tok.sot >= w->cfg.n_vocab) {
        r = err_set(err, err_len, -EBADMSG, "no <|endoftext|>/<|startoftranscript|> token ids");
        goto fail;
    }
    if (w->host && w->fast != WHISPER_FAST_OFF && (r = make_fast(w)) < 0) {
        err_set(err, err_len, r, "cannot make the Q8_0 token embedding");
        goto fail;
    }
    if ((r = whisper_state_init(w)) < 0) {
        err_set(err, err_len, r, "cannot allocate activations on %s", be->desc);
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
    weights_free(w->ws);
    free(w->w.enc);
    free(w->w.dec);
    free(w->suppress);
    free(w->suppress_begin);
    tokenizer_free(w->tokenizer);
    hf_model_free(w->src);
    wggml_close(w->ggml);
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
