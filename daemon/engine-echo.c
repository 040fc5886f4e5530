/* engine-echo.c — the deterministic "test:echo" engine (see engine.h). It is not a model: each turn
 * answers the words of the last user message, one word per token ("hello world" → "hello", " world"),
 * then stops with LM_STOP_EOS; the message "forever" produces " tick" tokens until max_tokens or cancel.
 * Context: one token per word plus 4 per message; a turn that would not fit gives -E2BIG like lm.
 * "test:vision[:MS]" is the same engine taking image and video attachments: a turn with media answers
 * "[image WxH]" / "[video N×WxH]" per attachment, then the words (daemon tests of intake and decoding).
 */
#include "engine.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"

typedef struct {
    int delay_ms;
    int n_ctx;
} EchoModel;

static int echo_add_message(void *p, const char *role, const char *text);

typedef struct {
    EchoModel *m;
    int n_past;       /* "tokens" in the pretend cache */
    int n_pending;
    char *last;       /* owned: last user message */
    size_t pos;       /* next word in last */
    int forever;
    int n_images;     /* frames "encoded" (test:vision) */
} EchoSession;

static int count_words(const char *s)
{
    int n = 0, in = 0;
    for (; *s; s++) {
        int sp = (*s == ' ' || *s == '\n' || *s == '\t');
        if (!sp && !in)
            n++;
        in = !sp;
    }
    return n;
}

static int echo_session_new(Engine *e, void **ret)
{
    EchoSession *s = calloc(1, sizeof(*s));
    if (!s)
        return -ENOMEM;
    s->m = e->impl;
    *ret = s;
    return 0;
}

static void echo_session_free(void *p)
{
    EchoSession *s = p;
    if (!s)
        return;
    free(s->last);
    free(s);
}

static int echo_session_reset(void *p)
{
    EchoSession *s = p;
    s->n_past = s->n_pending = 0;
    free(s->last);
    s->last = NULL;
    return 0;
}

static int echo_add_message(void *p, const char *role, const char *text)
{
    EchoSession *s = p;
    int n = count_words(text) + 4;
    if (s->n_past + s->n_pending + n + 4 > s->m->n_ctx)
        return -E2BIG;
    s->n_pending += n;
    if (!strcmp(role, "user")) {
        char *c = strdup(text);
        if (!c)
            return -ENOMEM;
        free(s->last);
        s->last = c;
        s->pos = 0;
        s->forever = !strcmp(text, "forever");
    }
    return 0;
}

static int echo_prefill(void *p, LmStats *st)
{
    EchoSession *s = p;
    if (st) {
        memset(st, 0, sizeof(*st));
        st->n_prompt = s->n_pending;
    }
    s->n_past += s->n_pending;
    s->n_pending = 0;
    return 0;
}

static int echo_step(void *p, const LmSampling *sp, int n_generated, LmToken *tok)
{
    EchoSession *s = p;
    memset(tok, 0, sizeof(*tok));
    if (s->m->delay_ms > 0) {
        struct timespec ts = {s->m->delay_ms / 1000, (long)(s->m->delay_ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
    }
    if (n_generated >= sp->max_tokens) {
        tok->stop = LM_STOP_LENGTH;
        return 0;
    }
    if (s->n_past + 1 > s->m->n_ctx) {
        tok->stop = LM_STOP_CONTEXT;
        return 0;
    }
    if (s->forever) {
        snprintf(tok->text, sizeof(tok->text), " tick");
    } else {
        const char *w = s->last ? s->last + s->pos : "";
        while (*w == ' ' || *w == '\n' || *w == '\t')
            w++;
        if (!*w) {
            tok->stop = LM_STOP_EOS;
            return 0;
        }
        size_t n = strcspn(w, " \n\t");
        if (n > sizeof(tok->text) - 2)
            n = sizeof(tok->text) - 2;
        snprintf(tok->text, sizeof(tok->text), "%s%.*s", n_generated ? " " : "", (int)n, w);
        s->pos = (size_t)(w - s->last) + n;
    }
    tok->len = strlen(tok->text);
    tok->id = 1;
    s->n_past++;
    return 0;
}

static int add_media_turn(void *p, const char *text, const MediaItem *media, int n_media, int count, char *err,
                          size_t err_len);
static int echo_add_user_media(void *p, const char *text, const MediaItem *media, int n_media, char *err,
                               size_t err_len)
{
    return add_media_turn(p, text, media, n_media, 1, err, err_len);
}

/* test:vision in units: a frame "encodes" into a copy of its size, after the per-token delay (so a test can
 * cancel between frames); the turn then reads as with add_user_media. */
static int echo_check_media(void *p, const char *text, const MediaItem *media, int n_media, char *err,
                            size_t err_len)
{
    (void)p;
    (void)media;
    return !text || n_media < 0 ? err_set(err, err_len, -EINVAL, "no text") : 0;
}
static int echo_encode_frame(void *p, const Image *im, int index, void **ret, char *err, size_t err_len)
{
    EchoSession *s = p;
    int *f = malloc(2 * sizeof(int));
    (void)index;
    if (!f)
        return err_set(err, err_len, -ENOMEM, "out of memory");
    if (s->m->delay_ms > 0) {
        struct timespec ts = {s->m->delay_ms / 1000, (long)(s->m->delay_ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
    }
    f[0] = im->width;
    f[1] = im->height;
    s->n_images++;
    *ret = f;
    return 0;
}
static int echo_add_user_encoded(void *p, const char *text, const MediaItem *media, int n_media,
                                 void *const *frames, char *err, size_t err_len)
{
    for (int i = 0, k = 0; i < n_media; i++)
        for (int f = 0; f < media[i].n_frames; f++, k++)
            if (!frames[k])
                return err_set(err, err_len, -EINVAL, "image %d is not encoded", k + 1);
    return add_media_turn(p, text, media, n_media, 0, err, err_len);
}

static int add_media_turn(void *p, const char *text, const MediaItem *media, int n_media, int count, char *err,
                          size_t err_len)
{
    EchoSession *s = p;
    char head[1024] = "";
    size_t k = 0;

    for (int i = 0; i < n_media && k < sizeof(head) - 64; i++) {
        const MediaItem *it = &media[i];
        int w = it->n_frames ? it->frames[0].width : 0, h = it->n_frames ? it->frames[0].height : 0;
        if (it->kind == MEDIA_VIDEO)
            k += (size_t)snprintf(head + k, sizeof(head) - k, "[video %dx%dx%d] ", it->n_frames, w, h);
        else
            k += (size_t)snprintf(head + k, sizeof(head) - k, "[image %dx%d] ", w, h);
        s->n_images += count ? it->n_frames : 0;
    }
    size_t n = k + strlen(text) + 1;
    char *all = malloc(n);
    if (!all)
        return err_set(err, err_len, -ENOMEM, "out of memory");
    snprintf(all, n, "%s%s", head, text);
    int r = echo_add_message(p, "user", all);
    free(all);
    if (r == -E2BIG)
        return err_set(err, err_len, r, "the turn would exceed the context length");
    return r;
}

static int echo_images_encoded(void *p)
{
    return ((EchoSession *)p)->n_images;
}

static void echo_destroy(Engine *e)
{
    free(e->impl);
    free(e);
}

static const EngineOps echo_ops = {echo_session_new, echo_session_free, echo_session_reset, echo_add_message,
                                   echo_prefill, echo_step, echo_destroy, NULL, NULL, NULL, NULL, NULL,
                                   NULL}; /* no media */
static const EngineOps vision_ops = {echo_session_new, echo_session_free, echo_session_reset, echo_add_message,
                                     echo_prefill, echo_step, echo_destroy, echo_add_user_media,
                                     echo_images_encoded, echo_check_media, echo_encode_frame, free,
                                     echo_add_user_encoded};

int engine_echo_new(const char *spec, int n_ctx, Engine **ret, char *err, size_t err_len)
{
    Engine *e = calloc(1, sizeof(*e));
    EchoModel *m = calloc(1, sizeof(*m));
    if (!e || !m) {
        free(e);
        free(m);
        return -ENOMEM;
    }
    int vision = !strncmp(spec, "test:vision", 11);
    const char *ms = vision ? (spec[11] == ':' ? spec + 12 : NULL) : !strncmp(spec, "test:echo:", 10) ? spec + 10 : NULL;
    if (ms) {
        char *end;
        long v = strtol(ms, &end, 10);
        if (*end || v < 0 || v > 10000) {
            free(e);
            free(m);
            return err_set(err, err_len, -EINVAL, "model '%s': expected test:echo:MS or test:vision:MS with MS in "
                           "[0, 10000]", spec);
        }
        m->delay_ms = (int)v;
    }
    m->n_ctx = n_ctx > 0 ? n_ctx : 4096;
    e->ops = vision ? &vision_ops : &echo_ops;
    e->impl = m;
    e->media_kinds = vision ? (1u << MEDIA_IMAGE) | (1u << MEDIA_VIDEO) : 0;
    snprintf(e->name, sizeof(e->name), vision ? "test-vision" : "test-echo");
    snprintf(e->path, sizeof(e->path), "%s", spec);
    snprintf(e->chat_family, sizeof(e->chat_family), "none");
    snprintf(e->backend_desc, sizeof(e->backend_desc), "test: echo engine, no compute");
    e->n_ctx = m->n_ctx;
    *ret = e;
    return 0;
}

int engine_load(const char *model_path, const char *backend, int threads, int n_ctx, int mmap, Engine **ret, char *err,
                size_t err_len)
{
    if (!strcmp(model_path, "test:echo") || !strncmp(model_path, "test:echo:", 10) ||
        !strcmp(model_path, "test:vision") || !strncmp(model_path, "test:vision:", 12))
        return engine_echo_new(model_path, n_ctx, ret, err, err_len);
    return engine_lm_new(model_path, backend, threads, n_ctx, mmap, ret, err, err_len);
}

void engine_media_error(const Engine *e, MediaKind kind, char *err, size_t err_len)
{
    if (kind == MEDIA_IMAGE || kind == MEDIA_VIDEO)
        err_set(err, err_len, -EMEDIUMTYPE, "this model (%s) cannot see images; load a Llama 3.2 Vision model "
                "(mllama HF folder)", e->name);
    else if (kind == MEDIA_AUDIO)
        err_set(err, err_len, -EMEDIUMTYPE, "audio attachments are not supported yet");
    else
        err_set(err, err_len, -EMEDIUMTYPE, "unknown media type");
}

void engine_free(Engine *e)
{
    if (e)
        e->ops->destroy(e);
}
