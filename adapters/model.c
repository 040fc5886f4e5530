/* model.c — text LM or Llama 3.2 Vision behind one type, and user turns with images (see model.h).
 *
 * mllama wiring: the LmModel is built around mllama's self-attention decoder
 * (lm_model_new_with_decoder), <|image|> (image_token_index, beyond the logits vocabulary) is registered as
 * an extra token whose input embedding is the converter's row (lm_model_set_extra_token), and each session
 * registers the MllamaCtx's cross-attention layers as layer hooks. An image is attached at the absolute
 * position of its <|image|> token (HF processing_mllama: the cross-attention mask starts there).
 * Not here: numerics (mllama.c, vit.c, preprocess.c).
 */
#include "model.h"

#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "lm-adapter.h"
#include "log.h"
#include "mllama.h"

#define IMAGE_TAG "<|image|>"

struct MynaModel {
    LmModel *lm;      /* owned */
    Mllama *mllama;   /* owned; NULL for text-only models */
    char name[128];
};

struct MynaSession {
    MynaModel *m;     /* borrowed */
    LmSession *ls;    /* owned */
    MllamaCtx *ctx;   /* owned; NULL for text-only models */
    int n_encoded;
};

int myna_model_is_mllama(const char *path)
{
    char buf[PATH_MAX];
    struct stat sb;
    json_t *root;
    int yes = 0;

    if (!path || stat(path, &sb) < 0 || !S_ISDIR(sb.st_mode))
        return 0;
    if (snprintf(buf, sizeof(buf), "%s/config.json", path) >= (int)sizeof(buf))
        return 0;
    root = json_load_file(buf, 0, NULL);
    if (!root)
        return 0;
    json_t *mt = json_object_get(root, "model_type"), *ar = json_object_get(root, "architectures"), *v;
    size_t i;
    if (json_is_string(mt) && !strcmp(json_string_value(mt), "mllama"))
        yes = 1;
    json_array_foreach(ar, i, v)
        if (json_is_string(v) && !strcmp(json_string_value(v), "MllamaForConditionalGeneration"))
            yes = 1;
    json_decref(root);
    return yes;
}

static int load_mllama(MynaModel *m, const char *path, Backend *be, const LmLoadOptions *opt, char *err,
                       size_t err_len)
{
    int32_t ids[4];
    int r;

    if ((r = mllama_load(path, be, &m->mllama, err, err_len)) < 0)
        return r;
    r = lm_model_new_with_decoder(mllama_decoder(m->mllama), path, NULL, opt->n_ctx, opt->kv_f16,
                                  opt->chat_template, &m->lm, err, err_len);
    if (r < 0)
        return r;
    /* a folder without a chat template (e.g. the tiny test model): Llama 3's, when the tokenizer has it */
    if (!opt->chat_template && !strcmp(lm_model_info(m->lm)->chat_family, "none") &&
        lm_tokenize(m->lm, "<|start_header_id|>", 0, 1, ids, 4) == 1 &&
        lm_tokenize(m->lm, "<|eot_id|>", 0, 1, ids, 4) == 1) {
        lm_model_free(m->lm);
        m->lm = NULL;
        if ((r = lm_model_new_with_decoder(mllama_decoder(m->mllama), path, NULL, opt->n_ctx, opt->kv_f16,
                                           "llama3", &m->lm, err, err_len)) < 0)
            return r;
    }
    if (lm_tokenize(m->lm, IMAGE_TAG, 0, 1, ids, 4) != 1 || ids[0] != mllama_image_token(m->mllama))
        return err_set(err, err_len, -EBADMSG, "%s: tokenizer.json has no <|image|> token with id %d", path,
                       mllama_image_token(m->mllama));
    r = lm_model_set_extra_token(m->lm, mllama_image_token(m->mllama), mllama_image_token_embedding(m->mllama));
    if (r < 0)
        return err_set(err, err_len, r, "%s: cannot register <|image|> (id %d)", path,
                       mllama_image_token(m->mllama));
    return 0;
}

int myna_model_load(const char *path, Backend *be, const LmLoadOptions *opt, MynaModel **ret, char *err,
                    size_t err_len)
{
    LmLoadOptions def = {0, 1, NULL, 0};
    MynaModel *m;
    int r;

    if (!path || !be || !ret)
        return err_set(err, err_len, -EINVAL, "no model path");
    if (!opt)
        opt = &def;
    if (!(m = calloc(1, sizeof(*m))))
        return -ENOMEM;
    if (myna_model_is_mllama(path))
        r = load_mllama(m, path, be, opt, err, err_len);
    else
        r = lm_model_load(path, be, opt, &m->lm, err, err_len);
    if (r < 0) {
        myna_model_free(m);
        return r;
    }
    snprintf(m->name, sizeof(m->name), "%s", lm_model_info(m->lm)->name);
    *ret = m;
    return 0;
}

void myna_model_free(MynaModel *m)
{
    if (!m)
        return;
    lm_model_free(m->lm); /* before mllama: its decoder is borrowed from there */
    mllama_free(m->mllama);
    free(m);
}

LmModel *myna_model_lm(MynaModel *m) { return m->lm; }
Mllama *myna_model_mllama(MynaModel *m) { return m->mllama; }
const char *myna_model_name(const MynaModel *m) { return m->name; }

int myna_model_accepts(const MynaModel *m, MediaKind kind)
{
    return (kind == MEDIA_IMAGE || kind == MEDIA_VIDEO) && m->mllama != NULL;
}

void myna_model_media_error(const MynaModel *m, MediaKind kind, char *err, size_t err_len)
{
    if (kind == MEDIA_IMAGE || kind == MEDIA_VIDEO)
        err_set(err, err_len, -EMEDIUMTYPE, "this model (%s) cannot see images; load a Llama 3.2 Vision model "
                "(mllama HF folder)", m->name);
    else if (kind == MEDIA_AUDIO)
        err_set(err, err_len, -EMEDIUMTYPE, "this model takes no audio attachments; transcribe the audio first "
                "(Transcribe, myna-run --audio)");
    else
        err_set(err, err_len, -EMEDIUMTYPE, "unknown media type");
}

int myna_session_new(MynaModel *m, MynaSession **ret)
{
    MynaSession *s = calloc(1, sizeof(*s));
    LmLayerHook hooks[LM_MAX_HOOKS];
    int r;

    if (!s)
        return -ENOMEM;
    s->m = m;
    if ((r = lm_session_new(m->lm, &s->ls)) < 0)
        goto fail;
    if (m->mllama) {
        if ((r = mllama_ctx_new(m->mllama, &s->ctx)) < 0)
            goto fail;
        int n = mllama_ctx_hooks(s->ctx, hooks, LM_MAX_HOOKS);
        for (int i = 0; i < n; i++)
            if ((r = lm_session_add_layer_hook(s->ls, &hooks[i])) < 0)
                goto fail;
    }
    *ret = s;
    return 0;
fail:
    myna_session_free(s);
    return r;
}

void myna_session_free(MynaSession *s)
{
    if (!s)
        return;
    lm_session_free(s->ls);
    mllama_ctx_free(s->ctx);
    free(s);
}

int myna_session_reset(MynaSession *s)
{
    if (s->ctx)
        mllama_ctx_reset(s->ctx);
    return lm_session_reset(s->ls);
}

LmSession *myna_session_lm(MynaSession *s) { return s->ls; }
int myna_session_images_encoded(const MynaSession *s) { return s->n_encoded; }
int myna_session_n_images(const MynaSession *s) { return s->ctx ? mllama_ctx_n_images(s->ctx) : 0; }

static int count_tags(const char *text)
{
    int n = 0;
    for (const char *p = strstr(text, IMAGE_TAG); p; p = strstr(p + strlen(IMAGE_TAG), IMAGE_TAG))
        n++;
    return n;
}

static int queue_text(MynaSession *s, const char *role, const char *text)
{
    return role ? lm_session_add_message(s->ls, role, text) : lm_session_add_text(s->ls, text, 1);
}

/* The checks of myna_session_add before anything is encoded; sets *ret_n_img and *ret_n_tags. */
static int check_media(MynaSession *s, const char *text, const MediaItem *media, int n_media, int *ret_n_img,
                       int *ret_n_tags, char *err, size_t err_len)
{
    int n_img = 0, n_tags;

    if (!text || n_media < 0 || (n_media > 0 && !media))
        return err_set(err, err_len, -EINVAL, "no text");
    for (int i = 0; i < n_media; i++) {
        if (!myna_model_accepts(s->m, media[i].kind)) {
            myna_model_media_error(s->m, media[i].kind, err, err_len);
            return -EMEDIUMTYPE;
        }
        if (media[i].n_frames < 1 || media[i].n_frames > MLLAMA_MAX_IMAGES || !media[i].frames)
            return err_set(err, err_len, -EINVAL, "attachment %d has %d frames", i + 1, media[i].n_frames);
        n_img += media[i].n_frames;
    }
    n_tags = s->ctx ? count_tags(text) : 0;
    *ret_n_img = n_img;
    *ret_n_tags = n_tags;
    if (n_img == 0 && n_tags == 0)
        return 0;
    if (n_tags != 0 && n_tags != n_img)
        return err_set(err, err_len, -EINVAL, "the text has %d <|image|> tags but %d images (frames) are attached",
                       n_tags, n_img);
    if (mllama_ctx_n_images(s->ctx) + n_img > MLLAMA_MAX_IMAGES)
        return err_set(err, err_len, -E2BIG, "%d images in one conversation is over the limit of %d; Reset() the "
                       "session first", mllama_ctx_n_images(s->ctx) + n_img, MLLAMA_MAX_IMAGES);
    return 0;
}

int myna_session_check_media(MynaSession *s, const char *text, const MediaItem *media, int n_media, char *err,
                             size_t err_len)
{
    int n_img, n_tags;
    return check_media(s, text, media, n_media, &n_img, &n_tags, err, err_len);
}

int myna_session_encode_frame(MynaSession *s, const Image *im, int index, MllamaImage **ret, char *err,
                              size_t err_len)
{
    int r;

    if (!s->m->mllama)
        return err_set(err, err_len, -EMEDIUMTYPE, "this model (%s) cannot see images", myna_model_name(s->m));
    if ((r = mllama_encode_image(s->m->mllama, im->rgb, im->width, im->height, (size_t)im->width * 3, ret)) < 0)
        return err_set(err, err_len, r, "cannot encode image %d (%dx%d): %s", index + 1, im->width, im->height,
                       strerror(-r));
    s->n_encoded++;
    return 0;
}

int myna_session_add_encoded(MynaSession *s, const char *role, const char *text, const MediaItem *media,
                             int n_media, MllamaImage *const *imgs, char *err, size_t err_len)
{
    int pos[MLLAMA_MAX_IMAGES + 64];
    char *buf = NULL;
    int n_img, n_tags, r, n_pos;

    if ((r = check_media(s, text, media, n_media, &n_img, &n_tags, err, err_len)) < 0)
        return r;
    if (n_img == 0 && n_tags == 0) {
        r = queue_text(s, role, text);
        return r < 0 ? err_set(err, err_len, r, "%s", r == -E2BIG ? "the turn does not fit the context"
                                                                     : strerror(-r)) : 0;
    }
    for (int k = 0; k < n_img; k++)
        if (!imgs || !imgs[k])
            return err_set(err, err_len, -EINVAL, "image %d is not encoded", k + 1);
    if (n_tags == 0) {
        size_t len = strlen(text), tl = strlen(IMAGE_TAG);
        if (!(buf = malloc(tl * (size_t)n_img + len + 1)))
            return -ENOMEM;
        for (int k = 0; k < n_img; k++)
            memcpy(buf + tl * (size_t)k, IMAGE_TAG, tl);
        memcpy(buf + tl * (size_t)n_img, text, len + 1);
        text = buf;
    }
    int n_before = lm_session_pending_positions(s->ls, mllama_image_token(s->m->mllama), pos, 0);
    if ((r = queue_text(s, role, text)) < 0) {
        err_set(err, err_len, r, "%s", r == -E2BIG ? "the turn with its images does not fit the context"
                                                    : strerror(-r));
        goto out;
    }
    n_pos = lm_session_pending_positions(s->ls, mllama_image_token(s->m->mllama), pos, (int)(sizeof(pos) / sizeof(pos[0])));
    if (n_pos - n_before != n_img || n_pos > (int)(sizeof(pos) / sizeof(pos[0]))) {
        /* the template dropped or split a tag: cannot happen with the built-in templates */
        r = err_set(err, err_len, -EINVAL, "found %d <|image|> tokens for %d images", n_pos - n_before, n_img);
        goto out;
    }
    for (int k = 0; k < n_img; k++)
        if ((r = mllama_ctx_add_image(s->ctx, imgs[k], pos[n_before + k])) < 0) {
            err_set(err, err_len, r, "cannot attach image %d: %s", k + 1, strerror(-r));
            goto out;
        }
    r = 0;
out:
    free(buf);
    return r;
}

int myna_session_add(MynaSession *s, const char *role, const char *text, const MediaItem *media, int n_media,
                     char *err, size_t err_len)
{
    MllamaImage *imgs[MLLAMA_MAX_IMAGES] = {0};
    int n_img = 0, n_tags, r;

    if ((r = check_media(s, text, media, n_media, &n_img, &n_tags, err, err_len)) < 0)
        return r;
    /* encode everything first: a failure leaves the session untouched */
    for (int i = 0, k = 0; i < n_media && r == 0; i++)
        for (int f = 0; f < media[i].n_frames && r == 0; f++, k++)
            r = myna_session_encode_frame(s, &media[i].frames[f], k, &imgs[k], err, err_len);
    if (r == 0)
        r = myna_session_add_encoded(s, role, text, media, n_media, imgs, err, err_len);
    for (int k = 0; k < n_img; k++)
        mllama_image_free(imgs[k]);
    return r;
}

void myna_image_free(MllamaImage *img) { mllama_image_free(img); }
