/* decoder-load.c — Llama config from GGUF `llama.*` keys or HF config.json, and weight binding with a shape
 * check per tensor (SPEC.md §1.6, §1.8, §2.4, §3.4).
 *
 * Not here: the forward pass (decoder.c), tokenizer and chat template (session.c).
 * GGUF llama weights keep Meta's Q/K row order and use ROPE_NORMAL; HF weights are used as stored (HF
 * rotate_half order) with ROPE_NEOX (SPEC.md §1.9). llama3 rope factors follow HF
 * `_compute_llama3_parameters` / Meta `apply_scaling`.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "decoder.h"
#include "log.h"
#include "weights.h"

/* ---- config ------------------------------------------------------------------------------------------ */

void lm_rope_llama3_factors(float *r, int n_rot, double base, double factor, double low, double high,
                            double orig_ctx)
{
    double low_wavelen = orig_ctx / low, high_wavelen = orig_ctx / high;

    for (int i = 0; i < n_rot / 2; i++) {
        double f = 1.0 / pow(base, (2.0 * i) / n_rot), wavelen = 2.0 * M_PI / f, fs;
        if (wavelen < high_wavelen) {
            fs = f;
        } else if (wavelen > low_wavelen) {
            fs = f / factor;
        } else {
            double smooth = (orig_ctx / wavelen - low) / (high - low);
            fs = (1.0 - smooth) * f / factor + smooth * f;
        }
        r[i] = (float)(f / fs);
    }
}

static int check_config(LmConfig *c, char *err, size_t err_len)
{
    if (c->n_layers < 1 || c->n_layers > LM_MAX_LAYERS)
        return err_set(err, err_len, -EBADMSG, "block_count %d out of range 1..%d", c->n_layers, LM_MAX_LAYERS);
    if (c->n_embd < 1 || c->n_embd > 65536 || c->n_heads < 1 || c->n_heads > 1024 || c->n_kv_heads < 1 ||
        c->n_kv_heads > c->n_heads || c->n_heads % c->n_kv_heads)
        return err_set(err, err_len, -EBADMSG, "bad dims: embedding %d, heads %d, kv heads %d", c->n_embd,
                       c->n_heads, c->n_kv_heads);
    if (c->head_dim < 2 || c->head_dim > LM_MAX_ROPE_DIMS || c->head_dim % 2)
        return err_set(err, err_len, -EBADMSG, "head dim %d out of range", c->head_dim);
    if (c->n_rot <= 0)
        c->n_rot = c->head_dim;
    if (c->n_rot > c->head_dim || c->n_rot % 2)
        return err_set(err, err_len, -EBADMSG, "rope dimension %d (head dim %d)", c->n_rot, c->head_dim);
    if (c->n_ff < 1 || c->n_ff > 1 << 20)
        return err_set(err, err_len, -EBADMSG, "feed_forward_length %d out of range", c->n_ff);
    if (c->n_vocab < 1 || c->n_vocab > 1 << 22)
        return err_set(err, err_len, -EBADMSG, "vocab size %d out of range", c->n_vocab);
    if (!(c->norm_eps > 0 && c->norm_eps < 1) || !(c->rope_base > 1) || !(c->rope_freq_scale > 0))
        return err_set(err, err_len, -EBADMSG, "bad eps %g / rope base %g / scale %g", (double)c->norm_eps,
                       (double)c->rope_base, (double)c->rope_freq_scale);
    if (c->n_ctx_train <= 0)
        c->n_ctx_train = 4096;
    return 0;
}

static int gguf_int(const GgufFile *gf, const char *arch, const char *key, int def, int *ret, char *err,
                    size_t err_len)
{
    char k[128];
    uint64_t v;
    int r;

    snprintf(k, sizeof(k), "%s.%s", arch, key);
    r = gguf_get_uint(gf, k, &v);
    if (r == -ENOENT && def >= 0) {
        *ret = def;
        return 0;
    }
    if (r < 0)
        return err_set(err, err_len, r == -ENOENT ? -EBADMSG : r, "key %s: %s", k,
                       r == -ENOENT ? "missing" : "not a single unsigned integer");
    if (v > (uint64_t)1 << 30)
        return err_set(err, err_len, -EBADMSG, "key %s: value %llu too large", k, (unsigned long long)v);
    *ret = (int)v;
    return 0;
}

static int gguf_float(const GgufFile *gf, const char *arch, const char *key, float def, float *ret, char *err,
                      size_t err_len)
{
    char k[128];
    int r;

    snprintf(k, sizeof(k), "%s.%s", arch, key);
    r = gguf_get_f32(gf, k, ret);
    if (r == -ENOENT && !isnan(def)) {
        *ret = def;
        return 0;
    }
    if (r < 0)
        return err_set(err, err_len, -EBADMSG, "key %s: %s", k, r == -ENOENT ? "missing" : "not a float32");
    return 0;
}

int lm_config_from_gguf(const GgufFile *gf, LmConfig *c, char *err, size_t err_len)
{
    const char *arch = NULL, *stype = NULL;
    const GgufTensorInfo *ti;
    char k[128];
    float factor = 0;
    int r;

    memset(c, 0, sizeof(*c));
    if (gguf_get_str(gf, "general.architecture", &arch, NULL) < 0)
        return err_set(err, err_len, -EBADMSG, "key general.architecture missing");
    if (strcmp(arch, "llama") != 0)
        return err_set(err, err_len, -ENOTSUP, "architecture '%s' is not supported (llama only)", arch);
    if ((r = gguf_int(gf, arch, "block_count", -1, &c->n_layers, err, err_len)) < 0 ||
        (r = gguf_int(gf, arch, "embedding_length", -1, &c->n_embd, err, err_len)) < 0 ||
        (r = gguf_int(gf, arch, "feed_forward_length", -1, &c->n_ff, err, err_len)) < 0 ||
        (r = gguf_int(gf, arch, "attention.head_count", -1, &c->n_heads, err, err_len)) < 0 ||
        (r = gguf_int(gf, arch, "attention.head_count_kv", c->n_heads, &c->n_kv_heads, err, err_len)) < 0 ||
        (r = gguf_int(gf, arch, "context_length", 4096, &c->n_ctx_train, err, err_len)) < 0)
        return r;
    if (c->n_heads < 1)
        return err_set(err, err_len, -EBADMSG, "key %s.attention.head_count is 0", arch);
    if ((r = gguf_int(gf, arch, "attention.key_length", c->n_embd / c->n_heads, &c->head_dim, err, err_len)) < 0 ||
        (r = gguf_int(gf, arch, "rope.dimension_count", c->head_dim, &c->n_rot, err, err_len)) < 0 ||
        (r = gguf_float(gf, arch, "attention.layer_norm_rms_epsilon", NAN, &c->norm_eps, err, err_len)) < 0 ||
        (r = gguf_float(gf, arch, "rope.freq_base", 10000.0f, &c->rope_base, err, err_len)) < 0)
        return r;
    ti = gguf_find_tensor(gf, "token_embd.weight");
    if (!ti || ti->n_dims != 2)
        return err_set(err, err_len, -EBADMSG, "tensor token_embd.weight missing or not 2-D");
    if ((r = gguf_int(gf, arch, "vocab_size", (int)ti->ne[1], &c->n_vocab, err, err_len)) < 0)
        return r;
    c->rope_freq_scale = 1.0f;
    snprintf(k, sizeof(k), "%s.rope.scaling.type", arch);
    if (gguf_get_str(gf, k, &stype, NULL) < 0 || strcmp(stype, "none") != 0) {
        snprintf(k, sizeof(k), "%s.rope.scaling.factor", arch);
        if (gguf_get_f32(gf, k, &factor) < 0) {
            snprintf(k, sizeof(k), "%s.rope.scale_linear", arch);
            if (gguf_get_f32(gf, k, &factor) < 0)
                factor = 0;
        }
        if (stype && strcmp(stype, "linear") != 0 && factor > 1)
            return err_set(err, err_len, -ENOTSUP, "rope scaling type '%s' is not supported", stype);
        if (factor > 0)
            c->rope_freq_scale = 1.0f / factor;
    }
    c->rope_mode = ROPE_NORMAL;
    if ((r = check_config(c, err, err_len)) < 0)
        return r;
    ti = gguf_find_tensor(gf, "rope_freqs.weight");
    if (ti) {
        if (ti->dtype != DTYPE_F32 || ti->ne[0] != c->n_rot / 2 || ti->n_dims != 1)
            return err_set(err, err_len, -EBADMSG, "tensor rope_freqs.weight: %s [%lld], expected F32 [%d]",
                           dtype_name(ti->dtype), (long long)ti->ne[0], c->n_rot / 2);
        memcpy(c->rope_factors, ti->data, sizeof(float) * (size_t)(c->n_rot / 2));
        c->has_rope_factors = 1;
    }
    return 0;
}

static int hf_int(const json_t *cfg, const char *key, int def, int *ret, char *err, size_t err_len)
{
    int64_t v;
    int r = hf_config_int(cfg, key, &v);

    if (r == -ENOENT && def >= 0) {
        *ret = def;
        return 0;
    }
    if (r < 0 || v < 0 || v > (int64_t)1 << 30)
        return err_set(err, err_len, -EBADMSG, "config.json: %s %s", key,
                       r == -ENOENT ? "missing" : "is not an integer in range");
    *ret = (int)v;
    return 0;
}

/* A JSON number that may be written as an integer (rope_theta: 500000). */
static int hf_num(const json_t *cfg, const char *key, double *ret)
{
    int64_t i;
    int r = hf_config_float(cfg, key, ret);

    if (r == -EINVAL && hf_config_int(cfg, key, &i) == 0) {
        *ret = (double)i;
        return 0;
    }
    return r;
}

int lm_config_from_hf(const json_t *cfg, LmConfig *c, char *err, size_t err_len)
{
    const char *mt = NULL;

    if (hf_config_str(cfg, "model_type", &mt) < 0)
        return err_set(err, err_len, -EBADMSG, "config.json: model_type missing");
    if (strcmp(mt, "mllama") == 0)
        return err_set(err, err_len, -ENOTSUP, "config.json: model_type 'mllama' is Llama 3.2 Vision, not a text-only "
                       "model: load it with myna_model_load() (adapters/model.h), as myna-run and mynad do");
    /* LLaMA-Omni folders (omni_speech2s_llama / omni_speech_llama) hold a plain Llama text model plus
     * speech_encoder/speech_projector/speech_generator tensors: the LM is read as llama, the speech_*
     * tensors are never looked up here (adapters/speech-adapter.h loads the projector). */
    if (strcmp(mt, "llama") != 0 && strcmp(mt, "omni_speech2s_llama") != 0 && strcmp(mt, "omni_speech_llama") != 0)
        return err_set(err, err_len, -ENOTSUP, "config.json: model_type '%s' is not supported (llama only)", mt);
    return lm_config_from_hf_text(cfg, c, err, err_len);
}

int lm_config_from_hf_text(const json_t *cfg, LmConfig *c, char *err, size_t err_len)
{
    const char *rt = NULL;
    double d;
    int r, tied = 0;

    memset(c, 0, sizeof(*c));
    if ((r = hf_int(cfg, "hidden_size", -1, &c->n_embd, err, err_len)) < 0 ||
        (r = hf_int(cfg, "num_hidden_layers", -1, &c->n_layers, err, err_len)) < 0 ||
        (r = hf_int(cfg, "num_attention_heads", -1, &c->n_heads, err, err_len)) < 0 ||
        (r = hf_int(cfg, "num_key_value_heads", c->n_heads, &c->n_kv_heads, err, err_len)) < 0 ||
        (r = hf_int(cfg, "intermediate_size", -1, &c->n_ff, err, err_len)) < 0 ||
        (r = hf_int(cfg, "vocab_size", -1, &c->n_vocab, err, err_len)) < 0 ||
        (r = hf_int(cfg, "max_position_embeddings", 4096, &c->n_ctx_train, err, err_len)) < 0)
        return r;
    if (c->n_heads < 1)
        return err_set(err, err_len, -EBADMSG, "config.json: num_attention_heads is 0");
    if (hf_config_int(cfg, "head_dim", &(int64_t){0}) == 0) {
        if ((r = hf_int(cfg, "head_dim", -1, &c->head_dim, err, err_len)) < 0)
            return r;
    } else {
        c->head_dim = c->n_embd / c->n_heads;
    }
    c->n_rot = c->head_dim;
    d = 1e-6;
    if (hf_num(cfg, "rms_norm_eps", &d) == -EINVAL)
        return err_set(err, err_len, -EBADMSG, "config.json: rms_norm_eps is not a number");
    c->norm_eps = (float)d;
    d = 10000.0;
    if (hf_num(cfg, "rope_theta", &d) == -ENOENT) /* transformers 5 layout */
        hf_num(cfg, "rope_parameters.rope_theta", &d);
    if (!(d > 1))
        return err_set(err, err_len, -EBADMSG, "config.json: rope_theta is not a number > 1");
    c->rope_base = (float)d;
    c->rope_freq_scale = 1.0f;
    c->rope_mode = ROPE_NEOX;
    if (hf_config_bool(cfg, "tie_word_embeddings", &tied) < 0)
        tied = 0;
    c->tied_embeddings = tied;
    if ((r = check_config(c, err, err_len)) < 0)
        return r;
    const char *blk = "rope_scaling";
    char key[96];
    if (hf_config_str(cfg, "rope_scaling.rope_type", &rt) < 0 && hf_config_str(cfg, "rope_scaling.type", &rt) < 0) {
        blk = "rope_parameters";
        if (hf_config_str(cfg, "rope_parameters.rope_type", &rt) < 0)
            rt = NULL;
    }
#define BKEY(k) (snprintf(key, sizeof(key), "%s.%s", blk, k), key)
    if (rt && strcmp(rt, "default") != 0) {
        double factor = 1, low = 1, high = 4, orig = 8192;
        if (hf_num(cfg, BKEY("factor"), &factor) < 0 || !(factor >= 1))
            return err_set(err, err_len, -EBADMSG, "config.json: %s.factor missing or < 1", blk);
        if (strcmp(rt, "linear") == 0) {
            c->rope_freq_scale = (float)(1.0 / factor);
        } else if (strcmp(rt, "llama3") == 0) {
            if (hf_num(cfg, BKEY("low_freq_factor"), &low) < 0 ||
                hf_num(cfg, BKEY("high_freq_factor"), &high) < 0 ||
                hf_num(cfg, BKEY("original_max_position_embeddings"), &orig) < 0 ||
                !(low > 0) || !(high > low) || !(orig > 0))
                return err_set(err, err_len, -EBADMSG, "config.json: rope_scaling llama3 block incomplete");
            lm_rope_llama3_factors(c->rope_factors, c->n_rot, c->rope_base, factor, low, high, orig);
            c->has_rope_factors = 1;
        } else {
            return err_set(err, err_len, -ENOTSUP, "config.json: rope_scaling type '%s' is not supported", rt);
        }
    }
#undef BKEY
    return 0;
}

/* ---- weights ----------------------------------------------------------------------------------------- */

int lm_decoder_new(const LmConfig *cfg, Backend *be, LmDecoder **ret)
{
    LmDecoder *d = calloc(1, sizeof(*d));
    int r;

    if (!d)
        return -ENOMEM;
    d->cfg = *cfg;
    d->be = be;
    if ((r = weights_new(be, &d->ws)) < 0) {
        free(d);
        return r;
    }
    *ret = d;
    return 0;
}

WeightStore *lm_decoder_store(LmDecoder *d)
{
    return d->ws;
}

/* Names of the per-layer tensors in both conventions, in LmLayerWeights order, and the top-level ones
 * (embedding, final norm, output). */
static const char *const k_gguf_layer[9] = {
    "attn_norm.weight", "attn_q.weight", "attn_k.weight", "attn_v.weight", "attn_output.weight",
    "ffn_norm.weight", "ffn_gate.weight", "ffn_up.weight", "ffn_down.weight",
};
static const char *const k_hf_layer[9] = {
    "input_layernorm.weight", "self_attn.q_proj.weight", "self_attn.k_proj.weight",
    "self_attn.v_proj.weight", "self_attn.o_proj.weight", "post_attention_layernorm.weight",
    "mlp.gate_proj.weight", "mlp.up_proj.weight", "mlp.down_proj.weight",
};
static const char *const k_gguf_top[3] = {"token_embd.weight", "output_norm.weight", "output.weight"};
static const char *const k_hf_top[3] = {"model.embed_tokens.weight", "model.norm.weight", "lm_head.weight"};

int lm_decoder_bind(LmDecoder *d, const LmLayout *lay, char *err, size_t err_len)
{
    const LmConfig *c = &d->cfg;
    const char *const *top = lay->hf ? k_hf_top : k_gguf_top, *const *layer = lay->hf ? k_hf_layer : k_gguf_layer;
    const char *pre = lay->prefix ? lay->prefix : "", *blk = lay->hf ? "model.layers." : "blk.";
    int64_t C = c->n_embd, QD = (int64_t)c->n_heads * c->head_dim, KD = (int64_t)c->n_kv_heads * c->head_dim;
    WeightStore *ws = d->ws;
    char name[192];
    int r;

#define NAME(...) (snprintf(name, sizeof(name), __VA_ARGS__), name)
    if (!(d->w.layers = calloc((size_t)c->n_layers, sizeof(*d->w.layers))))
        return -ENOMEM;
    if ((r = weights_bind2(ws, NAME("%s%s", pre, top[0]), C, c->n_vocab + lay->extra_vocab_rows, 0,
                           &d->w.tok_embd)) < 0 ||
        (r = weights_bind1(ws, NAME("%s%s", pre, top[1]), C, WEIGHTS_F32, &d->w.out_norm)) < 0)
        goto fail;
    /* rows past n_vocab (mllama's image tokens) are never looked up by id */
    d->w.tok_embd = tensor_rows(&d->w.tok_embd, 0, c->n_vocab);
    r = c->tied_embeddings ? -ENOENT
                           : weights_bind2(ws, NAME("%s%s", pre, top[2]), C, c->n_vocab, WEIGHTS_OPTIONAL, &d->w.output);
    if (r == -ENOENT) {
        d->cfg.tied_embeddings = 1;
        d->w.output = d->w.tok_embd;
    } else if (r < 0) {
        goto fail;
    }
    for (int l = 0, f = 0, k = 0; l < c->n_layers; l++, f++) {
        for (; k < lay->n_skip && lay->skip[k] == f; k++)
            f++;
        LmLayerWeights *lw = &d->w.layers[l];
        Tensor *dst[9] = {&lw->attn_norm, &lw->wq, &lw->wk, &lw->wv, &lw->wo,
                          &lw->ffn_norm, &lw->w_gate, &lw->w_up, &lw->w_down};
        const int64_t shp[9][2] = {{C, 0}, {C, QD}, {C, KD}, {C, KD}, {QD, C},
                                   {C, 0}, {C, c->n_ff}, {C, c->n_ff}, {c->n_ff, C}};
        for (int i = 0; i < 9; i++) {
            NAME("%s%s%d.%s", pre, blk, f, layer[i]);
            r = shp[i][1] ? weights_bind2(ws, name, shp[i][0], shp[i][1], 0, dst[i])
                          : weights_bind1(ws, name, shp[i][0], WEIGHTS_F32, dst[i]);
            if (r < 0)
                goto fail;
        }
    }
#undef NAME
    return 0;
fail:
    return err_set(err, err_len, r, "%s", weights_error(ws));
}

static int load(LmDecoder **ret, Backend *be, const LmConfig *cfg, const GgufFile *gf, const HfModel *hf,
                char *err, size_t err_len)
{
    LmLayout lay = {.hf = hf != NULL};
    LmDecoder *d;
    int r;

    if ((r = lm_decoder_new(cfg, be, &d)) < 0)
        return r;
    r = gf ? weights_add_gguf(d->ws, gf) : weights_add_hf(d->ws, hf);
    if (r < 0 || (r = lm_decoder_bind(d, &lay, err, err_len)) < 0) {
        lm_decoder_free(d);
        return r;
    }
    *ret = d;
    return 0;
}

int lm_decoder_load_gguf(GgufFile *gf, Backend *be, LmDecoder **ret, char *err, size_t err_len)
{
    LmConfig cfg;
    int r = lm_config_from_gguf(gf, &cfg, err, err_len);

    return r < 0 ? r : load(ret, be, &cfg, gf, NULL, err, err_len);
}

int lm_decoder_load_hf(HfModel *hf, Backend *be, LmDecoder **ret, char *err, size_t err_len)
{
    LmConfig cfg;
    int r = lm_config_from_hf(hf_model_config(hf), &cfg, err, err_len);

    return r < 0 ? r : load(ret, be, &cfg, NULL, hf, err, err_len);
}

void lm_decoder_free(LmDecoder *d)
{
    if (!d)
        return;
    weights_free(d->ws);
    free(d->w.layers);
    free(d);
}

const LmConfig *lm_decoder_config(const LmDecoder *d)
{
    return &d->cfg;
}

size_t lm_decoder_weight_bytes(const LmDecoder *d)
{
    return weights_bytes(d->ws);
}

Backend *lm_decoder_backend(const LmDecoder *d)
{
    return d->be;
}
