/* engine-lm.c — the real engine: a text LM or a Llama 3.2 Vision model (adapters/model.h) and its sessions
 * on a Backend chosen by name (see engine.h).
 * Not here: sampling, templates (lm/) or image encoding (adapters/); this file only adapts the table. */
#include "engine.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "log.h"
#include "model.h"

typedef struct {
    Backend *be;      /* owned */
    MynaModel *model; /* owned */
} LmEngine;

static int lme_session_new(Engine *e, void **ret)
{
    LmEngine *le = e->impl;
    MynaSession *s;
    int r = myna_session_new(le->model, &s);
    if (r < 0)
        return r;
    *ret = s;
    return 0;
}

static void lme_session_free(void *s) { myna_session_free(s); }
static int lme_session_reset(void *s) { return myna_session_reset(s); }
static int lme_add_message(void *s, const char *role, const char *text)
{
    return lm_session_add_message(myna_session_lm(s), role, text);
}
static int lme_prefill(void *s, LmStats *st) { return lm_session_prefill(myna_session_lm(s), st); }
static int lme_step(void *s, const LmSampling *sp, int n_generated, LmToken *tok)
{
    return lm_session_step(myna_session_lm(s), sp, n_generated, tok);
}
static int lme_add_user_media(void *s, const char *text, const MediaItem *media, int n_media, char *err,
                              size_t err_len)
{
    return myna_session_add(s, "user", text, media, n_media, err, err_len);
}
static int lme_images_encoded(void *s) { return myna_session_images_encoded(s); }
static int lme_check_media(void *s, const char *text, const MediaItem *media, int n_media, char *err,
                           size_t err_len)
{
    return myna_session_check_media(s, text, media, n_media, err, err_len);
}
static int lme_encode_frame(void *s, const Image *im, int index, void **ret, char *err, size_t err_len)
{
    struct MllamaImage *img = NULL;
    int r = myna_session_encode_frame(s, im, index, &img, err, err_len);
    *ret = img;
    return r;
}
static void lme_frame_free(void *frame) { myna_image_free(frame); }
static int lme_add_user_encoded(void *s, const char *text, const MediaItem *media, int n_media,
                                void *const *frames, char *err, size_t err_len)
{
    return myna_session_add_encoded(s, "user", text, media, n_media, (struct MllamaImage *const *)frames, err,
                                    err_len);
}

static void lme_destroy(Engine *e)
{
    LmEngine *le = e->impl;
    if (le) {
        myna_model_free(le->model);
        backend_free(le->be);
        free(le);
    }
    free(e);
}

static const EngineOps lm_ops = {lme_session_new, lme_session_free, lme_session_reset, lme_add_message,
                                 lme_prefill, lme_step, lme_destroy, lme_add_user_media, lme_images_encoded,
                                 lme_check_media, lme_encode_frame, lme_frame_free, lme_add_user_encoded};

int engine_lm_new(const char *path, const char *backend, int threads, int n_ctx, int mmap, Engine **ret, char *err,
                  size_t err_len)
{
    Engine *e = calloc(1, sizeof(*e));
    LmEngine *le = calloc(1, sizeof(*le));
    LmLoadOptions opt = {.n_ctx = n_ctx, .kv_f16 = 1, .chat_template = NULL, .mmap = mmap};
    int r;

    if (!e || !le) {
        free(e);
        free(le);
        return -ENOMEM;
    }
    e->ops = &lm_ops;
    e->impl = le;
    r = backend_new_by_name(backend, threads, &le->be, err, err_len);
    if (r < 0)
        goto fail;
    r = myna_model_load(path, le->be, &opt, &le->model, err, err_len);
    if (r < 0)
        goto fail;
    const LmInfo *info = lm_model_info(myna_model_lm(le->model));
    for (int k = MEDIA_IMAGE; k < MEDIA_N_KINDS; k++)
        if (myna_model_accepts(le->model, (MediaKind)k))
            e->media_kinds |= 1u << k;
    snprintf(e->name, sizeof(e->name), "%s", info->name);
    snprintf(e->path, sizeof(e->path), "%s", path);
    snprintf(e->chat_family, sizeof(e->chat_family), "%s", info->chat_family);
    snprintf(e->backend_desc, sizeof(e->backend_desc), "%s", le->be->desc);
    e->weight_bytes = info->weight_bytes;
    /* parameters: embeddings + per layer attention (q, o: C*C; k, v: C*NKV*HD) and MLP (3*C*FF) */
    uint64_t C = (uint64_t)info->n_embd, kv = (uint64_t)info->n_kv_heads * (uint64_t)info->head_dim;
    e->n_params = (uint64_t)info->n_vocab * C +
                  (uint64_t)info->n_layers * (2 * C * C + 2 * C * kv + 3 * C * (uint64_t)info->n_ff);
    /* the rule of LmLoadOptions.n_ctx, without allocating a probe session */
    e->n_ctx = n_ctx > 0 ? n_ctx : (info->n_ctx_train > 0 && info->n_ctx_train < 4096 ? info->n_ctx_train : 4096);
    *ret = e;
    return 0;
fail:
    lme_destroy(e);
    return r;
}
