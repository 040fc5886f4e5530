/* mllama.c — Llama 3.2 Vision's wiring (SPEC.md §4.4–4.6): the vision tower, the projector (its columns
 * permuted once to the encoder's block order), the text decoder whose file layers skip the cross-attention
 * ones, those cross-attention layers, image encoding to per-layer K/V, and per-session contexts with HF's
 * image visibility rule (CROSS_SEE_LATEST_RUN).
 *
 * Not here: the cross-attention math and its mask (cross-attn.c: HF MllamaCrossAttentionDecoderLayer), the
 * encoder (vision/vit.c), preprocessing, sessions, the daemon.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "clock.h"
#include "cross-attn.h"
#include "log.h"
#include "mllama.h"
#include "weights.h"

struct Mllama {
    HfModel *hf;                 /* owned; weights are mmapped from it */
    Backend *be;                 /* borrowed */
    WeightStore *ws;             /* owned: cross layers, projector, scratch */
    MllamaVit *vit;              /* owned */
    MllamaPreprocessConfig pre;
    LmDecoder *dec;              /* owned; self-attention layers (its own store) */
    int n_cross;
    int cross_full[MLLAMA_MAX_CROSS];  /* index in the full text stack */
    int cross_hook[MLLAMA_MAX_CROSS];  /* self-attention layer it runs before */
    CrossAttnLayer cross[MLLAMA_MAX_CROSS];
    int image_token;
    float *image_embd;           /* host [C] */
    Tensor proj_w;               /* [out_dim, C] columns permuted to the encoder's block order */
    Tensor proj_b;               /* [C] */
    int64_t n_vis;               /* vision tokens per image: n_pos · max_tiles */
    Tensor xs;                   /* [C, n_vis] projected states of the last image */
    CrossAttnScratch scratch;    /* cross-attention activations for up to LM_MAX_BATCH tokens */
    double enc_ms, kv_ms;
};

struct MllamaImage {
    Backend *be;                 /* borrowed */
    int n_cross, n_tiles;
    int64_t n_vis, n_valid;      /* key rows; the first n_tiles · n_pos are real tiles */
    Tensor k[MLLAMA_MAX_CROSS], v[MLLAMA_MAX_CROSS]; /* [HD, NKV, n_vis] owned */
};

/* ---- loading ------------------------------------------------------------------------------------------- */

static int load_text(Mllama *m, char *err, size_t err_len)
{
    const json_t *cfg = hf_model_config(m->hf);
    const json_t *tc = json_object_get(cfg, "text_config");
    const json_t *cl = json_object_get(tc, "cross_attention_layers");
    int64_t n_total, img;
    LmConfig lc;
    char name[192];
    int r;

    if (!json_is_object(tc) || hf_config_int(cfg, "text_config.num_hidden_layers", &n_total) < 0 ||
        n_total < 1 || n_total > LM_MAX_LAYERS)
        return err_set(err, err_len, -EBADMSG, "config.json: text_config.num_hidden_layers missing or invalid");
    if (!json_is_array(cl) || json_array_size(cl) > MLLAMA_MAX_CROSS || json_array_size(cl) >= (size_t)n_total)
        return err_set(err, err_len, -EBADMSG, "config.json: text_config.cross_attention_layers invalid");
    m->n_cross = (int)json_array_size(cl);
    for (int i = 0; i < m->n_cross; i++) {
        json_t *e = json_array_get(cl, (size_t)i);
        if (!json_is_integer(e) || json_integer_value(e) < 0 || json_integer_value(e) >= n_total ||
            (i > 0 && json_integer_value(e) <= m->cross_full[i - 1]))
            return err_set(err, err_len, -EBADMSG, "config.json: cross_attention_layers[%d] invalid", i);
        m->cross_full[i] = (int)json_integer_value(e);
        m->cross_hook[i] = m->cross_full[i] - i;
    }
    img = 128256;
    if (hf_config_int(cfg, "image_token_index", &img) == -EINVAL || img < 0)
        return err_set(err, err_len, -EBADMSG, "config.json: image_token_index invalid");
    m->image_token = (int)img;

    /* the self-attention stack is a Llama decoder whose file layers skip the cross-attention ones */
    if ((r = lm_config_from_hf_text(tc, &lc, err, err_len)) < 0)
        return r;
    lc.n_layers = (int)n_total - m->n_cross;
    lc.tied_embeddings = 0;
    int64_t C = lc.n_embd, V = lc.n_vocab;
    if (m->image_token < V || m->image_token >= V + LM_MAX_EXTRA_TOKENS)
        return err_set(err, err_len, -EBADMSG, "config.json: image_token_index %d outside [%lld, %lld)",
                       m->image_token, (long long)V, (long long)V + LM_MAX_EXTRA_TOKENS);
    LmLayout lay = {.hf = 1, .prefix = "language_model.", .skip = m->cross_full, .n_skip = m->n_cross,
                    .extra_vocab_rows = LM_MAX_EXTRA_TOKENS};
    if ((r = lm_decoder_new(&lc, m->be, &m->dec)) < 0 || (r = weights_add_hf(lm_decoder_store(m->dec), m->hf)) < 0 ||
        (r = lm_decoder_bind(m->dec, &lay, err, err_len)) < 0)
        return r;
    /* <|image|> (past the logits vocabulary) is spliced as a host embedding row */
    Tensor t;
    if (weights_find(m->ws, "language_model.model.embed_tokens.weight", &t) < 0)
        return err_set(err, err_len, -EBADMSG, "tensor language_model.model.embed_tokens.weight missing");
    Tensor row = tensor_rows(&t, img, 1);
    if (!(m->image_embd = weights_host_alloc(m->ws, sizeof(float) * (size_t)C)) ||
        (r = tensor_to_f32(&row, m->image_embd)) < 0)
        return err_set(err, err_len, m->image_embd ? r : -ENOMEM, "embed_tokens: dtype %s", dtype_name(t.dtype));
    for (int i = 0; i < m->n_cross; i++) {
        snprintf(name, sizeof(name), "language_model.model.layers.%d", m->cross_full[i]);
        if ((r = cross_attn_load(&m->cross[i], m->ws, &m->dec->cfg, name, 0)) < 0)
            return r;
    }
    return 0;
}

/* Projector with its input columns reordered from HF's interleaved intermediates (d·K + k) to the encoder's
 * block order (k·C + d), once at load. */
static int load_projector(Mllama *m, char *err, size_t err_len)
{
    const MllamaVitConfig *vc = mllama_vit_config(m->vit);
    const int64_t D = vc->out_dim, Cv = vc->n_embd, K = vc->n_inter, C = m->dec->cfg.n_embd;
    const char *pn = "multi_modal_projector.weight";
    Tensor t;
    int r;

    if (weights_find(m->ws, pn, &t) < 0)
        return err_set(err, err_len, -EBADMSG, "tensor %s missing", pn);
    if (!(t.dtype == DTYPE_F32 || t.dtype == DTYPE_F16 || t.dtype == DTYPE_BF16))
        return err_set(err, err_len, -ENOTSUP, "%s: dtype %s not supported", pn, dtype_name(t.dtype));
    if (t.n_dims != 2 || t.ne[0] != D || t.ne[1] != C)
        return err_set(err, err_len, -EBADMSG, "%s: shape %lld×%lld, expected %lld×%lld", pn,
                       (long long)t.ne[0], (long long)t.ne[1], (long long)D, (long long)C);
    size_t es = (size_t)dtype_info(t.dtype)->type_size;
    char *w = weights_host_alloc(m->ws, es * (size_t)(D * C));
    if (!w)
        return -ENOMEM;
    for (int64_t n = 0; n < C; n++) {
        const char *src = (const char *)t.data + es * (size_t)(n * D);
        char *dst = w + es * (size_t)(n * D);
        memcpy(dst, src, es * (size_t)Cv);
        for (int64_t k = 0; k < K; k++)
            for (int64_t d = 0; d < Cv; d++)
                memcpy(dst + es * (size_t)(Cv + k * Cv + d), src + es * (size_t)(Cv + d * K + k), es);
    }
    t.data = w;
    t.name = "multi_modal_projector.weight (block order)";
    if ((r = weights_place(m->ws, &t)) < 0)
        return r;
    m->proj_w = t;
    return weights_bind1(m->ws, "multi_modal_projector.bias", C, WEIGHTS_F32 | WEIGHTS_RESHAPE, &m->proj_b);
}

int mllama_load(const char *dir, Backend *be, Mllama **ret, char *err, size_t err_len)
{
    Mllama *m = calloc(1, sizeof(*m));
    const char *mt;
    int r;

    if (!m)
        return -ENOMEM;
    m->be = be;
    if ((r = hf_model_open(dir, &m->hf, err, err_len)) < 0 || (r = weights_new(be, &m->ws)) < 0 ||
        (r = weights_add_hf(m->ws, m->hf)) < 0)
        goto fail;
    weights_set_err(m->ws, err, err_len);
    if (hf_config_str(hf_model_config(m->hf), "model_type", &mt) < 0 || strcmp(mt, "mllama") != 0) {
        r = err_set(err, err_len, -ENOTSUP, "%s: config.json model_type is not \"mllama\"", dir);
        goto fail;
    }
    if ((r = mllama_vit_load(m->hf, be, &m->vit, err, err_len)) < 0 || (r = load_text(m, err, err_len)) < 0 ||
        (r = load_projector(m, err, err_len)) < 0)
        goto fail;
    const MllamaVitConfig *vc = mllama_vit_config(m->vit);
    const LmConfig *c = &m->dec->cfg;
    mllama_preprocess_config_default(&m->pre, vc->image_size, vc->max_tiles);
    m->n_vis = (int64_t)vc->n_pos * vc->max_tiles;
    int64_t B = LM_MAX_BATCH, QD = (int64_t)c->n_heads * c->head_dim;
    if ((r = weights_alloc(m->ws, &m->xs, DTYPE_F32, 2, c->n_embd, m->n_vis, 1)) < 0 ||
        (r = weights_alloc(m->ws, &m->scratch.xn, DTYPE_F32, 2, c->n_embd, B, 1)) < 0 ||
        (r = weights_alloc(m->ws, &m->scratch.o, DTYPE_F32, 2, c->n_embd, B, 1)) < 0 ||
        (r = weights_alloc(m->ws, &m->scratch.q, DTYPE_F32, 2, QD, B, 1)) < 0 ||
        (r = weights_alloc(m->ws, &m->scratch.att, DTYPE_F32, 2, QD, B, 1)) < 0 ||
        (r = weights_alloc(m->ws, &m->scratch.gate, DTYPE_F32, 2, c->n_ff, B, 1)) < 0 ||
        (r = weights_alloc(m->ws, &m->scratch.up, DTYPE_F32, 2, c->n_ff, B, 1)) < 0)
        goto fail;
    weights_set_err(m->ws, NULL, 0);
    *ret = m;
    return 0;
fail:
    mllama_free(m);
    return r;
}

void mllama_free(Mllama *m)
{
    if (!m)
        return;
    lm_decoder_free(m->dec);
    mllama_vit_free(m->vit);
    weights_free(m->ws);
    hf_model_free(m->hf);
    free(m);
}

LmDecoder *mllama_decoder(Mllama *m) { return m->dec; }
MllamaVit *mllama_vit(Mllama *m) { return m->vit; }
const MllamaPreprocessConfig *mllama_preprocess_config(const Mllama *m) { return &m->pre; }
int mllama_image_token(const Mllama *m) { return m->image_token; }
const float *mllama_image_token_embedding(const Mllama *m) { return m->image_embd; }
int mllama_n_cross(const Mllama *m) { return m->n_cross; }
const Tensor *mllama_last_states(const Mllama *m) { return &m->xs; }
int mllama_image_n_tiles(const MllamaImage *img) { return img->n_tiles; }

void mllama_last_timing(const Mllama *m, double *ret_encoder_ms, double *ret_kv_ms)
{
    *ret_encoder_ms = m->enc_ms;
    *ret_kv_ms = m->kv_ms;
}

/* ---- images ---------------------------------------------------------------------------------------------- */

void mllama_image_free(MllamaImage *img)
{
    if (!img)
        return;
    for (int i = 0; i < img->n_cross; i++) {
        backend_tensor_release(img->be, &img->k[i]);
        backend_tensor_release(img->be, &img->v[i]);
    }
    free(img);
}


int mllama_encode_pixels(Mllama *m, const MllamaPixels *px, MllamaImage **ret)
{
    const LmConfig *c = &m->dec->cfg;
    const int64_t HD = c->head_dim, NKV = c->n_kv_heads, S = m->n_vis;
    MllamaImage *img = calloc(1, sizeof(*img));
    Tensor *vis;
    double t0 = clock_now_ms();
    int r;

    if (!img)
        return -ENOMEM;
    img->be = m->be;
    img->n_cross = m->n_cross;
    img->n_tiles = px->n_tiles;
    img->n_vis = S;
    img->n_valid = (int64_t)px->n_tiles * mllama_vit_config(m->vit)->n_pos;
    TRY_GOTO(mllama_vit_forward(m->vit, px, &vis), fail);
    Tensor vis2 = tensor_view(vis, 0, vis->ne[0], S, 1);
    TRY_GOTO(backend_matmul(m->be, &m->xs, &m->proj_w, &vis2), fail);
    TRY_GOTO(backend_add(m->be, &m->xs, &m->xs, &m->proj_b), fail);
    backend_synchronize(m->be);
    double t1 = clock_now_ms();
    for (int i = 0; i < m->n_cross; i++) {
        const CrossAttnLayer *x = &m->cross[i];
        TRY_GOTO(backend_tensor_new(m->be, &img->k[i], DTYPE_F32, 3, HD, NKV, S), fail);
        TRY_GOTO(backend_tensor_new(m->be, &img->v[i], DTYPE_F32, 3, HD, NKV, S), fail);
        TRY_GOTO(cross_attn_kv(m->be, c, x, &m->xs, &img->k[i], &img->v[i]), fail);
    }
    backend_synchronize(m->be);
    m->enc_ms = t1 - t0;
    m->kv_ms = clock_now_ms() - t1;
    *ret = img;
    return 0;
fail:
    mllama_image_free(img);
    return r;
}

int mllama_encode_image(Mllama *m, const uint8_t *rgb, int w, int h, size_t stride, MllamaImage **ret)
{
    MllamaPixels px;
    int r = mllama_preprocess(&m->pre, rgb, w, h, stride, &px);

    if (r < 0)
        return r;
    r = mllama_encode_pixels(m, &px, ret);
    mllama_pixels_free(&px);
    return r;
}

/* ---- per-session context: the shared CrossAttn with HF's image visibility rule ------------------------------ */

int mllama_ctx_new(Mllama *m, MllamaCtx **ret)
{
    CrossAttnSpec sp = {.be = m->be, .cfg = &m->dec->cfg, .layers = m->cross, .hook_layer = m->cross_hook,
                        .n_layers = m->n_cross, .scratch = &m->scratch, .vis = CROSS_SEE_LATEST_RUN,
                        .max_sources = MLLAMA_MAX_IMAGES, .max_rows = MLLAMA_MAX_IMAGES * m->n_vis};
    return cross_ctx_new(&sp, ret);
}

void mllama_ctx_free(MllamaCtx *c) { cross_ctx_free(c); }
void mllama_ctx_reset(MllamaCtx *c) { cross_ctx_reset(c); }
int mllama_ctx_n_images(const MllamaCtx *c) { return cross_ctx_n_sources(c); }
int mllama_ctx_hooks(MllamaCtx *c, LmLayerHook *hooks, int cap) { return cross_ctx_hooks(c, hooks, cap); }

int mllama_ctx_add_image(MllamaCtx *c, const MllamaImage *img, int pos)
{
    return img ? cross_ctx_add(c, img->k, img->v, img->n_vis, img->n_valid, pos) : -EINVAL;
}
