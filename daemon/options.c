/* options.c — a{sv} option validation (see options.h). Integer options accept any integer D-Bus type
 * (y n q i u x t) so that `busctl call … max_tokens i 16` and `u 16` both work; floats accept d or integers. */
#include "options.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

void options_defaults(RequestOptions *o, const Config *cfg)
{
    memset(o, 0, sizeof(*o));
    o->speak = -1;
    lm_sampling_default(&o->sampling);
    o->sampling.temperature = (float)cfg->default_temperature;
    o->sampling.top_p = (float)cfg->default_top_p;
    o->sampling.top_k = cfg->default_top_k;
    o->sampling.min_p = (float)cfg->default_min_p;
    o->sampling.max_tokens = cfg->default_max_tokens;
    o->sampling.seed = 0;
}

void options_clear(RequestOptions *o)
{
    free(o->system_prompt);
    o->system_prompt = NULL;
}

/* Read a variant holding any integer type into *v (as a wide signed value; t above INT64_MAX saturates). */
static int read_int(sd_bus_message *m, const char *contents, long double *v)
{
    union { uint8_t y; int16_t n; uint16_t q; int32_t i; uint32_t u; int64_t x; uint64_t t; } u;
    int r;
    char c = contents[0];

    if (!contents[0] || contents[1] || !strchr("ynqiuxt", c))
        return -EINVAL;
    r = sd_bus_message_read_basic(m, c, &u);
    if (r < 0)
        return r;
    switch (c) {
    case 'y': *v = u.y; break;
    case 'n': *v = u.n; break;
    case 'q': *v = u.q; break;
    case 'i': *v = u.i; break;
    case 'u': *v = u.u; break;
    case 'x': *v = (long double)u.x; break;
    default: *v = (long double)u.t; break;
    }
    return 0;
}

static int read_num(sd_bus_message *m, const char *contents, double *v)
{
    long double l;
    int r;

    if (!strcmp(contents, "d")) {
        r = sd_bus_message_read_basic(m, 'd', v);
        return r < 0 ? r : 0;
    }
    r = read_int(m, contents, &l);
    if (r == 0)
        *v = (double)l;
    return r;
}

static int parse_one(sd_bus_message *m, const char *key, const char *contents, int session, const Config *cfg,
                     RequestOptions *o, char *err, size_t err_len)
{
    LmSampling *sp = &o->sampling;
    long double iv;
    double d;
    int r;

#define WANT_INT()                                                                                          \
    do {                                                                                                    \
        if (read_int(m, contents, &iv) < 0)                                                                 \
            return err_set(err, err_len, -EINVAL, "option '%s': expected an integer, got type '%s'", key,   \
                           contents);                                                                       \
    } while (0)
#define WANT_NUM()                                                                                          \
    do {                                                                                                    \
        if (read_num(m, contents, &d) < 0)                                                                  \
            return err_set(err, err_len, -EINVAL, "option '%s': expected a number (d), got type '%s'", key, \
                           contents);                                                                       \
        if (!isfinite(d))                                                                                   \
            return err_set(err, err_len, -EINVAL, "option '%s': %g is not a finite number", key, d);        \
    } while (0)

    if (!strcmp(key, "max_tokens")) {
        WANT_INT();
        if (iv < 1)
            return err_set(err, err_len, -EINVAL, "option 'max_tokens': %.0Lf is not positive", iv);
        if (iv > cfg->max_tokens_limit)
            return err_set(err, err_len, -E2BIG, "option 'max_tokens': %.0Lf is over the limit %d", iv,
                           cfg->max_tokens_limit);
        sp->max_tokens = (int)iv;
    } else if (!strcmp(key, "temperature")) {
        WANT_NUM();
        if (d < 0 || d > 10)
            return err_set(err, err_len, -EINVAL, "option 'temperature': %g is outside [0, 10]", d);
        sp->temperature = (float)d;
    } else if (!strcmp(key, "top_p")) {
        WANT_NUM();
        if (!((float)d > 0) || d > 1) /* the float it becomes must stay positive (1e-300 does not) */
            return err_set(err, err_len, -EINVAL, "option 'top_p': %g is outside (0, 1]", d);
        sp->top_p = (float)d;
    } else if (!strcmp(key, "min_p")) {
        WANT_NUM();
        if (d < 0 || d > 1)
            return err_set(err, err_len, -EINVAL, "option 'min_p': %g is outside [0, 1]", d);
        sp->min_p = (float)d;
    } else if (!strcmp(key, "repeat_penalty")) {
        WANT_NUM();
        if (d < 0.5 || d > 4)
            return err_set(err, err_len, -EINVAL, "option 'repeat_penalty': %g is outside [0.5, 4]", d);
        sp->repeat_penalty = (float)d;
    } else if (!strcmp(key, "top_k")) {
        WANT_INT();
        if (iv < 0 || iv > 1000000)
            return err_set(err, err_len, -EINVAL, "option 'top_k': %.0Lf is outside [0, 1000000]", iv);
        sp->top_k = (int)iv;
    } else if (!strcmp(key, "seed")) {
        WANT_INT();
        if (iv < 0)
            return err_set(err, err_len, -EINVAL, "option 'seed': %.0Lf is negative", iv);
        sp->seed = (uint64_t)iv;
    } else if (session && !strcmp(key, "system_prompt")) {
        const char *s;
        if (strcmp(contents, "s"))
            return err_set(err, err_len, -EINVAL, "option 'system_prompt': expected a string (s), got '%s'",
                           contents);
        r = sd_bus_message_read_basic(m, 's', &s);
        if (r < 0)
            return err_set(err, err_len, -EINVAL, "option 'system_prompt': %s", strerror(-r));
        size_t n = strlen(s);
        if (n > OPTIONS_SYSTEM_PROMPT_MAX || (int)n > cfg->max_prompt_bytes)
            return err_set(err, err_len, -E2BIG, "option 'system_prompt': %zu bytes is over the limit", n);
        free(o->system_prompt);
        o->system_prompt = strdup(s);
        if (!o->system_prompt)
            return -ENOMEM;
    } else if (!strcmp(key, "speak")) {
        int b;
        if (strcmp(contents, "b"))
            return err_set(err, err_len, -EINVAL, "option 'speak': expected a boolean (b), got '%s'", contents);
        r = sd_bus_message_read_basic(m, 'b', &b);
        if (r < 0)
            return r;
        o->speak = !!b;
    } else if (session && !strcmp(key, "voice")) {
        return err_set(err, err_len, -EINVAL, "option 'voice': give it with speak on Ask (CreateSession takes "
                       "speak only)");
    } else if (!session && (!strcmp(key, "voice") || !strcmp(key, "output") || !strcmp(key, "format") ||
                            !strcmp(key, "sample_rate") || !strcmp(key, "rate") || !strcmp(key, "speaker") ||
                            !strcmp(key, "noise_scale") || !strcmp(key, "noise_w"))) {
        /* the spoken answer's: checked by speak_prepare_ask as for Speak */
        r = sd_bus_message_skip(m, contents);
        if (r < 0)
            return err_set(err, err_len, -EINVAL, "option '%s': malformed value", key);
        o->speech_keys = 1;
    } else {
        return err_set(err, err_len, -EINVAL, "unknown option '%s'", key);
    }
    return 0;
#undef WANT_INT
#undef WANT_NUM
}

typedef int (*ParseOneFn)(sd_bus_message *m, const char *key, const char *contents, void *ctx, char *err,
                          size_t err_len);

/* Walk an a{sv}: each entry's variant is entered and handed to fn, which must read exactly its value. */
static int parse_dict(sd_bus_message *m, ParseOneFn fn, void *ctx, char *err, size_t err_len)
{
    int r, n = 0;

    r = sd_bus_message_enter_container(m, 'a', "{sv}");
    if (r < 0)
        return err_set(err, err_len, -EINVAL, "options: expected a{sv}");
    while ((r = sd_bus_message_enter_container(m, 'e', "sv")) > 0) {
        const char *key, *contents;
        if (++n > 64)
            return err_set(err, err_len, -E2BIG, "options: more than 64 entries");
        r = sd_bus_message_read_basic(m, 's', &key);
        if (r < 0)
            return err_set(err, err_len, -EINVAL, "options: bad key");
        r = sd_bus_message_peek_type(m, NULL, &contents);
        if (r < 0)
            return err_set(err, err_len, -EINVAL, "options: bad value of '%s'", key);
        r = sd_bus_message_enter_container(m, 'v', contents);
        if (r < 0)
            return err_set(err, err_len, -EINVAL, "option '%s': bad variant", key);
        r = fn(m, key, contents, ctx, err, err_len);
        if (r < 0)
            return r;
        r = sd_bus_message_exit_container(m);
        if (r < 0)
            return err_set(err, err_len, -EINVAL, "option '%s': value of unexpected type '%s'", key, contents);
        r = sd_bus_message_exit_container(m);
        if (r < 0)
            return err_set(err, err_len, -EINVAL, "options: bad entry '%s'", key);
    }
    if (r < 0)
        return err_set(err, err_len, -EINVAL, "options: malformed dictionary");
    r = sd_bus_message_exit_container(m);
    if (r < 0)
        return err_set(err, err_len, -EINVAL, "options: malformed dictionary");
    return 0;
}

typedef struct {
    int session;
    const Config *cfg;
    RequestOptions *o;
} RequestCtx;

static int parse_request_one(sd_bus_message *m, const char *key, const char *contents, void *ctx, char *err,
                             size_t err_len)
{
    RequestCtx *c = ctx;
    return parse_one(m, key, contents, c->session, c->cfg, c->o, err, err_len);
}

int options_parse(sd_bus_message *m, int session, const Config *cfg, RequestOptions *o, char *err,
                  size_t err_len)
{
    RequestCtx c = {session, cfg, o};
    return parse_dict(m, parse_request_one, &c, err, err_len);
}

static int read_bool(sd_bus_message *m, const char *key, const char *contents, int *ret, char *err,
                     size_t err_len)
{
    int b;
    if (strcmp(contents, "b"))
        return err_set(err, err_len, -EINVAL, "option '%s': expected a boolean (b), got '%s'", key, contents);
    if (sd_bus_message_read_basic(m, 'b', &b) < 0)
        return err_set(err, err_len, -EINVAL, "option '%s': bad boolean", key);
    *ret = !!b;
    return 0;
}

static int parse_transcribe_one(sd_bus_message *m, const char *key, const char *contents, void *ctx, char *err,
                                size_t err_len)
{
    SpeechOptions *o = ctx;
    long double iv;
    double d;

    if (!strcmp(key, "language")) {
        const char *s;
        if (strcmp(contents, "s"))
            return err_set(err, err_len, -EINVAL, "option 'language': expected a string (s), got '%s'", contents);
        if (sd_bus_message_read_basic(m, 's', &s) < 0)
            return err_set(err, err_len, -EINVAL, "option 'language': bad string");
        size_t n = strlen(s);
        if (n < 2 || n >= sizeof(o->language))
            return err_set(err, err_len, -EINVAL, "option 'language': '%.32s' is not a language code (en, de, …)", s);
        for (size_t i = 0; i < n; i++)
            if (!((s[i] >= 'a' && s[i] <= 'z') || s[i] == '-' || s[i] == '_'))
                return err_set(err, err_len, -EINVAL, "option 'language': '%.32s' is not a language code", s);
        memcpy(o->language, s, n + 1);
        return 0;
    }
    if (!strcmp(key, "timestamps"))
        return read_bool(m, key, contents, &o->whisper.timestamps, err, err_len);
    if (!strcmp(key, "translate"))
        return read_bool(m, key, contents, &o->whisper.translate, err, err_len);
    if (!strcmp(key, "temperature") || !strcmp(key, "no_speech_threshold")) {
        if (read_num(m, contents, &d) < 0)
            return err_set(err, err_len, -EINVAL, "option '%s': expected a number (d), got type '%s'", key,
                           contents);
        if (!isfinite(d) || d < 0 || d > 1)
            return err_set(err, err_len, -EINVAL, "option '%s': %g is outside [0, 1]", key, d);
        if (key[0] == 't')
            o->whisper.temperature_inc = (float)d;
        else
            o->whisper.no_speech_threshold = (float)d;
        return 0;
    }
    if (!strcmp(key, "max_tokens") || !strcmp(key, "seed")) {
        if (read_int(m, contents, &iv) < 0)
            return err_set(err, err_len, -EINVAL, "option '%s': expected an integer, got type '%s'", key, contents);
        if (key[0] == 's') {
            if (iv < 0)
                return err_set(err, err_len, -EINVAL, "option 'seed': %.0Lf is negative", iv);
            o->whisper.seed = (uint64_t)iv;
        } else {
            if (iv < 1 || iv > 224)
                return err_set(err, err_len, -EINVAL, "option 'max_tokens': %.0Lf is outside [1, 224]", iv);
            o->whisper.max_tokens = (int)iv;
        }
        return 0;
    }
    return err_set(err, err_len, -EINVAL, "unknown option '%s'", key);
}

int options_parse_transcribe(sd_bus_message *m, SpeechOptions *o, char *err, size_t err_len)
{
    return parse_dict(m, parse_transcribe_one, o, err, err_len);
}

int options_read_ask(sd_bus_message *m, const Config *cfg, AskArgs *a, char *err, size_t err_len)
{
    int r, limit = cfg->max_attachments < JOB_MAX_ATTACHMENTS ? cfg->max_attachments : JOB_MAX_ATTACHMENTS;

    memset(a, 0, sizeof(*a));
    r = sd_bus_message_read(m, "s", &a->text);
    if (r < 0)
        return err_set(err, err_len, -EINVAL, "text: expected a string");
    r = sd_bus_message_enter_container(m, 'a', "(sh)");
    if (r < 0)
        return err_set(err, err_len, -EINVAL, "attachments: expected a(sh)");
    for (int i = 0;; i++) {
        const char *hint;
        int fd;
        r = sd_bus_message_read(m, "(sh)", &hint, &fd);
        if (r < 0)
            return err_set(err, err_len, -EINVAL, "attachments: malformed (sh) entry");
        if (r == 0)
            break;
        if (a->att_err)
            continue;
        if (a->n_att >= limit) {
            a->att_err = err_set(a->att_msg, sizeof(a->att_msg), -E2BIG,
                                 "more than max_attachments (%d) attachments", limit);
            continue;
        }
        MediaKind kind = media_kind_from_hint(hint);
        if (kind == MEDIA_NONE) {
            a->att_err = err_set(a->att_msg, sizeof(a->att_msg), -EMEDIUMTYPE, "attachment %d: unknown media "
                                 "type '%.64s' (use image, image/png, video, video/mp4, audio, audio/wav, …)",
                                 i + 1, hint);
            continue;
        }
        a->kind[a->n_att] = kind;
        a->fd[a->n_att++] = fd;
    }
    r = sd_bus_message_exit_container(m);
    if (r < 0)
        return err_set(err, err_len, -EINVAL, "attachments: malformed array");
    return 0;
}
