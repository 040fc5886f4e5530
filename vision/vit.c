/* vit.c — the Llama 3.2 Vision encoder (HF MllamaVisionModel / Meta VisionEncoder, SPEC.md §4.3).
 *
 * Reads top to bottom like SPEC.md §4.3 on backend ops only (im2col_2d, matmul, layernorm, attention, gelu,
 * add, scale, copy); the small position/tile embedding sums are formed on the host per image. Not here:
 * preprocessing, projector, text cross-attention. Numerics: exact-erf GELU, LayerNorm eps from the config,
 * attention scale 1/sqrt(HD); intermediate states = inputs of the listed layers (Meta; see
 * tools/ref/tiny_mllama.py for the transformers 5.x difference).
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "log.h"
#include "vit.h"
#include "weights.h"

/* ---- config ---------------------------------------------------------------------------------------------- */

static int cfg_int(const json_t *cfg, const char *key, int64_t def, int lo, int hi, int *ret, char *err,
                   size_t err_len)
{
    int64_t v;
    int r = hf_config_int(cfg, key, &v);

    if (r == -ENOENT && def >= 0)
        v = def;
    else if (r < 0)
        return err_set(err, err_len, -EBADMSG, "config.json: %s missing or not an integer", key);
    if (v < lo || v > hi)
        return err_set(err, err_len, -EBADMSG, "config.json: %s = %lld out of range %d..%d", key, (long long)v,
                       lo, hi);
    *ret = (int)v;
    return 0;
}

int mllama_vit_config_from_hf(const HfModel *hf, MllamaVitConfig *c, char *err, size_t err_len)
{
    const json_t *cfg = hf_model_config(hf);
    const json_t *idx = json_object_get(json_object_get(cfg, "vision_config"), "intermediate_layers_indices");
    double eps = 1e-5;
    int r;

    memset(c, 0, sizeof(*c));
    if ((r = cfg_int(cfg, "vision_config.hidden_size", -1, 1, 16384, &c->n_embd, err, err_len)) < 0 ||
        (r = cfg_int(cfg, "vision_config.attention_heads", -1, 1, 1024, &c->n_heads, err, err_len)) < 0 ||
        (r = cfg_int(cfg, "vision_config.intermediate_size", -1, 1, 1 << 20, &c->n_ff, err, err_len)) < 0 ||
        (r = cfg_int(cfg, "vision_config.num_hidden_layers", -1, 1, MLLAMA_MAX_VIT_LAYERS, &c->n_layers, err,
                     err_len)) < 0 ||
        (r = cfg_int(cfg, "vision_config.num_global_layers", -1, 0, MLLAMA_MAX_VIT_LAYERS, &c->n_global_layers,
                     err, err_len)) < 0 ||
        (r = cfg_int(cfg, "vision_config.image_size", -1, 1, 4096, &c->image_size, err, err_len)) < 0 ||
        (r = cfg_int(cfg, "vision_config.patch_size", -1, 1, 256, &c->patch_size, err, err_len)) < 0 ||
        (r = cfg_int(cfg, "vision_config.max_num_tiles", 4, 1, MLLAMA_MAX_TILES, &c->max_tiles, err,
                     err_len)) < 0)
        return r;
    if (hf_config_float(cfg, "vision_config.norm_eps", &eps) == -EINVAL || !(eps > 0 && eps < 1))
        return err_set(err, err_len, -EBADMSG, "config.json: vision_config.norm_eps invalid");
    c->norm_eps = (float)eps;
    if (c->n_embd % c->n_heads || c->image_size % c->patch_size)
        return err_set(err, err_len, -EBADMSG, "config.json: hidden %d / heads %d or image %d / patch %d",
                       c->n_embd, c->n_heads, c->image_size, c->patch_size);
    c->head_dim = c->n_embd / c->n_heads;
    c->n_side = c->image_size / c->patch_size;
    c->n_patches = c->n_side * c->n_side;
    c->n_pos = c->n_patches + 1;
    c->n_pos_pad = (c->n_pos + 7) / 8 * 8;
    if (!json_is_array(idx) || json_array_size(idx) < 1 || json_array_size(idx) > MLLAMA_MAX_INTER)
        return err_set(err, err_len, -EBADMSG, "config.json: vision_config.intermediate_layers_indices invalid");
    c->n_inter = (int)json_array_size(idx);
    for (int k = 0; k < c->n_inter; k++) {
        json_t *e = json_array_get(idx, (size_t)k);
        if (!json_is_integer(e) || json_integer_value(e) < 0 || json_integer_value(e) >= c->n_layers)
            return err_set(err, err_len, -EBADMSG, "config.json: intermediate layer index %d invalid", k);
        c->inter_idx[k] = (int)json_integer_value(e);
    }
    int ar[64][2];
    c->n_aspect = mllama_aspect_ratios(c->max_tiles, ar, 64);
    c->out_dim = c->n_embd * (1 + c->n_inter);
    int64_t od;
    if (hf_config_int(cfg, "vision_config.vision_output_dim", &od) == 0 && od != c->out_dim)
        return err_set(err, err_len, -EBADMSG, "config.json: vision_output_dim %lld, expected %d", (long long)od,
                       c->out_dim);
    return 0;
}

/* ---- model ------------------------------------------------------------------------------------------------ */

typedef struct {
    Tensor ln1_w, ln1_b, wq, wk, wv, wo, ln2_w, ln2_b, fc1_w, fc1_b, fc2_w, fc2_b; /* [C], [C, N] … */
    float gate_attn, gate_ffn;   /* tanh applied; 1 for local layers */
} VitLayer;

struct MllamaVit {
    MllamaVitConfig cfg;
    WeightStore *ws;             /* owned: weights and activations */
    Backend *be;                 /* borrowed */
    Tensor patch_w;              /* [3·P·P, C] */
    Tensor ln_pre_w, ln_pre_b, ln_post_w, ln_post_b; /* [C] */
    float *cls;                  /* host [C] */
    float *pos;                  /* host [C, n_pos] */
    float *tile_pos;             /* host [C, n_pos, max_tiles, n_aspect + 1] */
    float *pre_tile, *post_tile; /* host [C, max_tiles, n_aspect + 1] */
    float gate_pos, gate_pre, gate_post; /* tanh applied */
    VitLayer *layers;            /* [n_layers + n_global_layers] owned */
    /* activations, N = max_tiles · n_pos_pad tokens in internal order */
    Tensor x, h, q, k, v, a;     /* [C, N] */
    Tensor f;                    /* [FF, N] */
    Tensor inter[MLLAMA_MAX_INTER]; /* [C, N] */
    Tensor emb;                  /* [C, n_pos, max_tiles] host-formed additive terms */
    Tensor post;                 /* [C, max_tiles] post-tile terms */
    Tensor zero;                 /* [C, n_pos_pad − n_pos] zeros */
    Tensor px;                   /* [S, S, 3] one tile */
    Tensor cols;                 /* [3·P·P, n_patches] */
    Tensor out;                  /* [out_dim, n_pos, max_tiles] */
    float *host_emb;             /* host [C, n_pos, max_tiles] */
    int64_t n_calls;
};

/* tanh of a one-element gate tensor */
static int gate(WeightStore *s, const char *name, float *ret)
{
    float *g;
    int r = weights_host_f32(s, name, 1, &g);

    if (r == 0)
        *ret = tanhf(g[0]);
    return r;
}

static int load_layer(MllamaVit *v, const char *pfx, int l, int gated, VitLayer *L)
{
    const MllamaVitConfig *c = &v->cfg;
    int64_t C = c->n_embd, FF = c->n_ff;
    struct { const char *n; Tensor *t; int64_t ne0, ne1; } tab[] = {
        {"input_layernorm.weight", &L->ln1_w, C, 0}, {"input_layernorm.bias", &L->ln1_b, C, 0},
        {"self_attn.q_proj.weight", &L->wq, C, C}, {"self_attn.k_proj.weight", &L->wk, C, C},
        {"self_attn.v_proj.weight", &L->wv, C, C}, {"self_attn.o_proj.weight", &L->wo, C, C},
        {"post_attention_layernorm.weight", &L->ln2_w, C, 0}, {"post_attention_layernorm.bias", &L->ln2_b, C, 0},
        {"mlp.fc1.weight", &L->fc1_w, C, FF}, {"mlp.fc1.bias", &L->fc1_b, FF, 0},
        {"mlp.fc2.weight", &L->fc2_w, FF, C}, {"mlp.fc2.bias", &L->fc2_b, C, 0},
    };
    char name[192];
    int r;

    for (size_t i = 0; i < sizeof(tab) / sizeof(tab[0]); i++) {
        snprintf(name, sizeof(name), "%s.layers.%d.%s", pfx, l, tab[i].n);
        r = tab[i].ne1 ? weights_bind2(v->ws, name, tab[i].ne0, tab[i].ne1, WEIGHTS_RESHAPE, tab[i].t)
                       : weights_bind1(v->ws, name, tab[i].ne0, WEIGHTS_RESHAPE | WEIGHTS_F32, tab[i].t);
        if (r < 0)
            return r;
    }
    L->gate_attn = L->gate_ffn = 1.0f;
    if (gated) {
        snprintf(name, sizeof(name), "%s.layers.%d.gate_attn", pfx, l);
        if ((r = gate(v->ws, name, &L->gate_attn)) < 0)
            return r;
        snprintf(name, sizeof(name), "%s.layers.%d.gate_ffn", pfx, l);
        return gate(v->ws, name, &L->gate_ffn);
    }
    return 0;
}

int mllama_vit_load(const HfModel *hf, Backend *be, MllamaVit **ret, char *err, size_t err_len)
{
    MllamaVit *v = calloc(1, sizeof(*v));
    const MllamaVitConfig *c = &v->cfg;
    int r;

    if (!v)
        return -ENOMEM;
    v->be = be;
    if ((r = weights_new(be, &v->ws)) < 0 || (r = weights_add_hf(v->ws, hf)) < 0 ||
        (r = mllama_vit_config_from_hf(hf, &v->cfg, err, err_len)) < 0)
        goto fail;
    weights_set_err(v->ws, err, err_len);
    int64_t C = c->n_embd, T = c->max_tiles, NA = c->n_aspect + 1, NP = c->n_pos;
    int64_t N = T * c->n_pos_pad, PP = 3LL * c->patch_size * c->patch_size;
    WeightStore *s = v->ws;
    char name[160];
#define VNAME(x) (snprintf(name, sizeof(name), "vision_model.%s", x), name)
    if ((r = weights_bind2(s, VNAME("patch_embedding.weight"), PP, C, WEIGHTS_RESHAPE, &v->patch_w)) < 0 ||
        (r = weights_bind1(s, VNAME("layernorm_pre.weight"), C, WEIGHTS_F32, &v->ln_pre_w)) < 0 ||
        (r = weights_bind1(s, VNAME("layernorm_pre.bias"), C, WEIGHTS_F32, &v->ln_pre_b)) < 0 ||
        (r = weights_bind1(s, VNAME("layernorm_post.weight"), C, WEIGHTS_F32, &v->ln_post_w)) < 0 ||
        (r = weights_bind1(s, VNAME("layernorm_post.bias"), C, WEIGHTS_F32, &v->ln_post_b)) < 0 ||
        (r = weights_host_f32(s, VNAME("class_embedding"), C, &v->cls)) < 0 ||
        (r = weights_host_f32(s, VNAME("gated_positional_embedding.embedding"), C * NP, &v->pos)) < 0 ||
        (r = weights_host_f32(s, VNAME("gated_positional_embedding.tile_embedding.weight"), C * NP * T * NA,
                              &v->tile_pos)) < 0 ||
        (r = weights_host_f32(s, VNAME("pre_tile_positional_embedding.embedding.weight"), C * T * NA,
                              &v->pre_tile)) < 0 ||
        (r = weights_host_f32(s, VNAME("post_tile_positional_embedding.embedding.weight"), C * T * NA,
                              &v->post_tile)) < 0 ||
        (r = gate(s, VNAME("gated_positional_embedding.gate"), &v->gate_pos)) < 0 ||
        (r = gate(s, VNAME("pre_tile_positional_embedding.gate"), &v->gate_pre)) < 0 ||
        (r = gate(s, VNAME("post_tile_positional_embedding.gate"), &v->gate_post)) < 0)
        goto fail;
#undef VNAME
    v->layers = calloc((size_t)(c->n_layers + c->n_global_layers), sizeof(*v->layers));
    if (!v->layers) {
        r = -ENOMEM;
        goto fail;
    }
    for (int l = 0; l < c->n_layers; l++)
        if ((r = load_layer(v, "vision_model.transformer", l, 0, &v->layers[l])) < 0)
            goto fail;
    for (int l = 0; l < c->n_global_layers; l++)
        if ((r = load_layer(v, "vision_model.global_transformer", l, 1, &v->layers[c->n_layers + l])) < 0)
            goto fail;
    /* activations */
    int S = c->image_size;
    if ((r = weights_alloc(s, &v->x, DTYPE_F32, 2, C, N, 1)) < 0 ||
        (r = weights_alloc(s, &v->h, DTYPE_F32, 2, C, N, 1)) < 0 ||
        (r = weights_alloc(s, &v->q, DTYPE_F32, 2, C, N, 1)) < 0 ||
        (r = weights_alloc(s, &v->k, DTYPE_F32, 2, C, N, 1)) < 0 ||
        (r = weights_alloc(s, &v->v, DTYPE_F32, 2, C, N, 1)) < 0 ||
        (r = weights_alloc(s, &v->a, DTYPE_F32, 2, C, N, 1)) < 0 ||
        (r = weights_alloc(s, &v->f, DTYPE_F32, 2, c->n_ff, N, 1)) < 0 ||
        (r = weights_alloc(s, &v->emb, DTYPE_F32, 3, C, NP, T)) < 0 ||
        (r = weights_alloc(s, &v->post, DTYPE_F32, 2, C, T, 1)) < 0 ||
        (r = weights_alloc(s, &v->zero, DTYPE_F32, 2, C, c->n_pos_pad - c->n_pos > 0 ?
                           c->n_pos_pad - c->n_pos : 1, 1)) < 0 ||
        (r = weights_alloc(s, &v->px, DTYPE_F32, 3, S, S, 3)) < 0 ||
        (r = weights_alloc(s, &v->cols, DTYPE_F32, 2, PP, c->n_patches, 1)) < 0 ||
        (r = weights_alloc(s, &v->out, DTYPE_F32, 3, c->out_dim, NP, T)) < 0)
        goto fail;
    for (int k = 0; k < c->n_inter; k++)
        if ((r = weights_alloc(s, &v->inter[k], DTYPE_F32, 2, C, N, 1)) < 0)
            goto fail;
    v->host_emb = malloc(sizeof(float) * (size_t)(C * NP * T));
    float *z = calloc((size_t)tensor_nelements(&v->zero), sizeof(float));
    if (!v->host_emb || !z) {
        free(z);
        r = -ENOMEM;
        goto fail;
    }
    r = backend_tensor_set(be, &v->zero, z, 0, tensor_nbytes(&v->zero));
    free(z);
    if (r < 0)
        goto fail;
    weights_set_err(v->ws, NULL, 0);
    *ret = v;
    return 0;
fail:
    mllama_vit_free(v);
    return r;
}

void mllama_vit_free(MllamaVit *v)
{
    if (!v)
        return;
    weights_free(v->ws);
    free(v->layers);
    free(v->host_emb);
    free(v);
}

const MllamaVitConfig *mllama_vit_config(const MllamaVit *v)
{
    return &v->cfg;
}

int64_t mllama_vit_n_calls(const MllamaVit *v)
{
    return v->n_calls;
}

/* ---- forward ---------------------------------------------------------------------------------------------- */

/* Rows [r0, r0+n) of [C, R] seen as [HD, NH, n]. */
static Tensor heads(const Tensor *t, int64_t r0, int64_t n, int64_t hd)
{
    return tensor_view(t, (size_t)(r0 * t->ne[0]), hd, t->ne[0] / hd, n);
}


/* One pre-LN layer over N tokens of which the first n_real are not padding (SPEC.md §4.3 steps 7–8, 11). */
static int layer_forward(MllamaVit *v, const VitLayer *L, int64_t N, int64_t n_real)
{
    const MllamaVitConfig *c = &v->cfg;
    Backend *be = v->be;
    int64_t HD = c->head_dim;
    Tensor x = tensor_rows(&v->x, 0, N), h = tensor_rows(&v->h, 0, N), q = tensor_rows(&v->q, 0, N), k = tensor_rows(&v->k, 0, N);
    Tensor vv = tensor_rows(&v->v, 0, N), a = tensor_rows(&v->a, 0, N), f = tensor_rows(&v->f, 0, N);
    AttnParams ap = {1.0f / sqrtf((float)HD), 0, 0, NULL};
    int r;

    TRY_RET(backend_layernorm(be, &h, &x, &L->ln1_w, &L->ln1_b, c->norm_eps));
    TRY_RET(backend_matmul(be, &q, &L->wq, &h));
    TRY_RET(backend_matmul(be, &k, &L->wk, &h));
    TRY_RET(backend_matmul(be, &vv, &L->wv, &h));
    /* real queries see every key; padding queries see only the real keys */
    Tensor qa = heads(&v->q, 0, n_real, HD), oa = heads(&v->a, 0, n_real, HD);
    Tensor ka = heads(&v->k, 0, N, HD), va = heads(&v->v, 0, N, HD);
    TRY_RET(backend_attention(be, &oa, &qa, &ka, &va, &ap));
    if (N > n_real) {
        Tensor qp = heads(&v->q, n_real, N - n_real, HD), op = heads(&v->a, n_real, N - n_real, HD);
        Tensor kr = heads(&v->k, 0, n_real, HD), vr = heads(&v->v, 0, n_real, HD);
        TRY_RET(backend_attention(be, &op, &qp, &kr, &vr, &ap));
    }
    TRY_RET(backend_matmul(be, &h, &L->wo, &a));
    if (L->gate_attn != 1.0f)
        TRY_RET(backend_scale(be, &h, &h, L->gate_attn));
    TRY_RET(backend_add(be, &x, &x, &h));
    TRY_RET(backend_layernorm(be, &h, &x, &L->ln2_w, &L->ln2_b, c->norm_eps));
    TRY_RET(backend_matmul(be, &f, &L->fc1_w, &h));
    TRY_RET(backend_add(be, &f, &f, &L->fc1_b));
    TRY_RET(backend_gelu(be, &f, &f));
    TRY_RET(backend_matmul(be, &h, &L->fc2_w, &f));
    TRY_RET(backend_add(be, &h, &h, &L->fc2_b));
    if (L->gate_ffn != 1.0f)
        TRY_RET(backend_scale(be, &h, &h, L->gate_ffn));
    TRY_RET(backend_add(be, &x, &x, &h));
    return 0;
}

int mllama_vit_forward(MllamaVit *v, const MllamaPixels *px, Tensor **ret_out)
{
    const MllamaVitConfig *c = &v->cfg;
    Backend *be = v->be;
    const int64_t C = c->n_embd, T = c->max_tiles, NP = c->n_pos, NPP = c->n_pos_pad, NPAD = NPP - NP;
    const int64_t N = T * NPP, S = c->image_size;
    int64_t nt, ar, main_off[MLLAMA_MAX_TILES], pad_off[MLLAMA_MAX_TILES], n_real;
    int r;

    if (!px || !px->pixels || px->tile_size != c->image_size || px->max_tiles != c->max_tiles ||
        px->aspect_ratio_id < 1 || px->aspect_ratio_id > c->n_aspect || px->n_tiles < 1 || px->n_tiles > T)
        return -EINVAL;
    nt = px->n_tiles;
    ar = px->aspect_ratio_id;
    v->n_calls++;
    /* internal token order: real tiles' NP tokens, then their pad tokens, then whole padding tiles */
    n_real = nt * NP;
    for (int64_t t = 0; t < T; t++) {
        if (t < nt) {
            main_off[t] = t * NP;
            pad_off[t] = n_real + t * NPAD;
        } else {
            main_off[t] = nt * NPP + (t - nt) * NPP;
            pad_off[t] = main_off[t] + NP;
        }
    }
    /* host: additive terms per tile/position (steps 2–4) */
    float tg = v->gate_pos;
    for (int64_t t = 0; t < T; t++) {
        const float *pre = v->pre_tile + (size_t)(ar * T + t) * C;
        const float *tile = v->tile_pos + ((size_t)ar * T + t) * NP * C;
        for (int64_t p = 0; p < NP; p++) {
            float *e = v->host_emb + ((size_t)t * NP + p) * C;
            for (int64_t d = 0; d < C; d++) {
                float base = p == 0 ? v->cls[d] : v->gate_pre * pre[d];
                e[d] = base + (1.0f - tg) * v->pos[p * C + d] + tg * tile[p * C + d];
            }
        }
    }
    TRY_RET(backend_tensor_set(be, &v->emb, v->host_emb, 0, tensor_nbytes(&v->emb)));
    float *post = v->host_emb; /* reuse: [C, T] post-tile terms */
    for (int64_t t = 0; t < T; t++)
        for (int64_t d = 0; d < C; d++)
            post[t * C + d] = v->gate_post * v->post_tile[(size_t)(ar * T + t) * C + d];
    TRY_RET(backend_tensor_set(be, &v->post, post, 0, tensor_nbytes(&v->post)));

    /* steps 1–6: patch embedding, CLS, embeddings, layernorm_pre, zero pad rows */
    Tensor emb2;
    int64_t ne_e[2] = {C, NP * T};
    tensor_init(&emb2, DTYPE_F32, 2, ne_e, v->emb.data);
    emb2.mem = v->emb.mem;
    for (int64_t t = 0; t < T; t++) {
        Tensor blk = tensor_rows(&v->x, main_off[t], NP), patches = tensor_rows(&v->x, main_off[t] + 1, NP - 1);
        Tensor e0 = tensor_rows(&emb2, t * NP, 1), e1 = tensor_rows(&emb2, t * NP + 1, NP - 1), cls = tensor_rows(&v->x, main_off[t], 1);
        TRY_RET(backend_tensor_set(be, &v->px, px->pixels + (size_t)t * 3 * S * S, 0, tensor_nbytes(&v->px)));
        TRY_RET(backend_im2col_2d(be, &v->cols, &v->px, c->patch_size, c->patch_size, c->patch_size, 0));
        TRY_RET(backend_matmul(be, &patches, &v->patch_w, &v->cols));
        TRY_RET(backend_add(be, &patches, &patches, &e1));
        TRY_RET(backend_copy(be, &cls, &e0));
        TRY_RET(backend_layernorm(be, &blk, &blk, &v->ln_pre_w, &v->ln_pre_b, c->norm_eps));
        if (NPAD > 0) {
            Tensor pz = tensor_rows(&v->x, pad_off[t], NPAD);
            TRY_RET(backend_copy(be, &pz, &v->zero));
        }
    }
    /* step 8: local layers, recording the input of the listed layers */
    for (int l = 0; l < c->n_layers; l++) {
        for (int k = 0; k < c->n_inter; k++)
            if (c->inter_idx[k] == l)
                TRY_RET(backend_copy(be, &v->inter[k], &v->x));
        TRY_RET(layer_forward(v, &v->layers[l], N, n_real));
    }
    /* steps 9–10 */
    TRY_RET(backend_layernorm(be, &v->x, &v->x, &v->ln_post_w, &v->ln_post_b, c->norm_eps));
    for (int64_t t = 0; t < T; t++) {
        Tensor pt = tensor_rows(&v->post, t, 1), blk = tensor_rows(&v->x, main_off[t], NP);
        TRY_RET(backend_add(be, &blk, &blk, &pt));
        if (NPAD > 0) {
            Tensor pz = tensor_rows(&v->x, pad_off[t], NPAD);
            TRY_RET(backend_add(be, &pz, &pz, &pt));
        }
    }
    /* step 11: gated global layers */
    for (int l = 0; l < c->n_global_layers; l++)
        TRY_RET(layer_forward(v, &v->layers[c->n_layers + l], N, n_real));
    /* steps 12–13: drop pad tokens, gather [final | intermediates] per tile in block channel order */
    Tensor out2;
    int64_t ne_o[2] = {c->out_dim, NP * T};
    tensor_init(&out2, DTYPE_F32, 2, ne_o, v->out.data);
    out2.mem = v->out.mem;
    for (int64_t t = 0; t < T; t++) {
        for (int k = -1; k < c->n_inter; k++) {
            Tensor src = tensor_rows(k < 0 ? &v->x : &v->inter[k], main_off[t], NP);
            Tensor dst = tensor_rows(&out2, t * NP, NP);
            dst.ne[0] = C;
            dst.data = (char *)dst.data + sizeof(float) * (size_t)(C * (k + 1));
            TRY_RET(backend_copy(be, &dst, &src));
        }
    }
    *ret_out = &v->out;
    return 0;
}

void mllama_vit_output_to_hf(const MllamaVitConfig *c, const float *block, float *hf, int64_t n_rows)
{
    int64_t C = c->n_embd, K = c->n_inter, D = c->out_dim;

    for (int64_t r = 0; r < n_rows; r++) {
        const float *b = block + r * D;
        float *o = hf + r * D;
        memcpy(o, b, sizeof(float) * (size_t)C);
        for (int64_t k = 0; k < K; k++)
            for (int64_t d = 0; d < C; d++)
                o[C + d * K + k] = b[C + k * C + d];
    }
}
