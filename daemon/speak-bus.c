/* speak-bus.c — Session1.Speak on the loop thread: argument validation, the output fd, the job, and the
 * SpeakingStarted / SpeechProgress / SpeakingFinished signals (see speak-job.h; docs/DBUS.md). */
#include "speak-impl.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "errors.h"
#include "log.h"
#include "paths.h"
#include "requests.h"
#include "voice.h"

static const unsigned speak_rates[] = {16000, 22050, 24000, 44100, 48000};

static int utf8_valid(const char *t)
{
    const unsigned char *p = (const unsigned char *)t;
    while (*p) {
        int n = *p < 0x80 ? 1 : (*p & 0xE0) == 0xC0 ? 2 : (*p & 0xF0) == 0xE0 ? 3 : (*p & 0xF8) == 0xF0 ? 4 : 0;
        if (n == 0 || (n == 2 && *p < 0xC2))
            return 0;
        for (int i = 1; i < n; i++)
            if ((p[i] & 0xC0) != 0x80)
                return 0;
        p += n;
    }
    return 1;
}

/* A voice name is a file stem in voices_dir: letters, digits, '_', '-', '.', not starting with '.'. */
static int voice_name_ok(const char *n)
{
    size_t len = strlen(n);
    if (len == 0 || len > SPEAK_MAX_VOICE_NAME || n[0] == '.')
        return 0;
    for (const char *p = n; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '_' ||
              *p == '-' || *p == '.'))
            return 0;
    return 1;
}

/* A number from any integer or double variant. */
static int read_num(sd_bus_message *m, const char *contents, double *v)
{
    union { uint8_t y; int16_t n; uint16_t q; int32_t i; uint32_t u; int64_t x; uint64_t t; double d; } u;
    char c = contents[0];
    if (!c || contents[1] || !strchr("ynqiuxtd", c))
        return -EINVAL;
    if (sd_bus_message_read_basic(m, c, &u) < 0)
        return -EINVAL;
    *v = c == 'y' ? u.y : c == 'n' ? u.n : c == 'q' ? u.q : c == 'i' ? u.i : c == 'u' ? u.u : c == 'x' ? (double)u.x
       : c == 't' ? (double)u.t : u.d;
    return 0;
}

typedef struct {
    char voice[SPEAK_MAX_VOICE_NAME + 1];
    char speaker[128];
    int has_speaker, fd, has_fd;
} SpeakArgs;

/* ask: Ask's options, whose other keys options.c has validated (skipped here). */
static int parse_options(sd_bus_message *m, SpeakJob *sj, SpeakArgs *a, int ask, char *err, size_t n)
{
    int r = sd_bus_message_enter_container(m, 'a', "{sv}");
    if (r < 0)
        return err_set(err, n, -EINVAL, "options: expected a{sv}");
    while ((r = sd_bus_message_enter_container(m, 'e', "sv")) > 0) {
        const char *key, *contents, *str;
        double d;
        if (sd_bus_message_read(m, "s", &key) < 0 || sd_bus_message_peek_type(m, NULL, &contents) < 0 ||
            sd_bus_message_enter_container(m, 'v', contents) < 0)
            return err_set(err, n, -EINVAL, "options: malformed entry");
        int is_s = !strcmp(contents, "s");
        if (!strcmp(key, "voice") || !strcmp(key, "speaker") || !strcmp(key, "format")) {
            if (!is_s || sd_bus_message_read_basic(m, 's', &str) < 0)
                return err_set(err, n, -EINVAL, "option '%s': expected a string (s), got '%s'", key, contents);
            if (!strcmp(key, "voice")) {
                if (!voice_name_ok(str))
                    return err_set(err, n, -EINVAL, "option 'voice': '%.60s' is not a voice name (a file stem in "
                                   "voices_dir: letters, digits, _ - .)", str);
                snprintf(a->voice, sizeof(a->voice), "%s", str);
            } else if (!strcmp(key, "speaker")) {
                if (strlen(str) == 0 || strlen(str) >= sizeof(a->speaker))
                    return err_set(err, n, -EINVAL, "option 'speaker': empty or longer than %zu bytes",
                                   sizeof(a->speaker) - 1);
                snprintf(a->speaker, sizeof(a->speaker), "%s", str);
                a->has_speaker = 1;
            } else if (!strcmp(str, "s16le") || !strcmp(str, "f32le")) {
                sj->format = str[0] == 's' ? SPEAK_S16LE : SPEAK_F32LE;
            } else {
                return err_set(err, n, -EINVAL, "option 'format': '%.40s' is not s16le or f32le", str);
            }
        } else if (!strcmp(key, "output")) {
            if (strcmp(contents, "h") || sd_bus_message_read_basic(m, 'h', &a->fd) < 0)
                return err_set(err, n, -EINVAL, "option 'output': expected a file descriptor (h), got '%s'",
                               contents);
            a->has_fd = 1;
        } else if (!strcmp(key, "rate") || !strcmp(key, "noise_scale") || !strcmp(key, "noise_w")) {
            if (read_num(m, contents, &d) < 0)
                return err_set(err, n, -EINVAL, "option '%s': expected a number (d), got '%s'", key, contents);
            if (key[0] == 'r') {
                if (!(d >= 0.25 && d <= 4.0))
                    return err_set(err, n, -EINVAL, "option 'rate': %g is outside 0.25 … 4 (1 = the voice's pace)",
                                   d);
                sj->rate = d;
            } else {
                if (!(d >= 0 && d <= 2.0))
                    return err_set(err, n, -EINVAL, "option '%s': %g is outside 0 … 2", key, d);
                *(key[6] == 's' ? &sj->noise_scale : &sj->noise_w) = d;
            }
        } else if (!strcmp(key, "sample_rate")) {
            if (read_num(m, contents, &d) < 0 || !strcmp(contents, "d"))
                return err_set(err, n, -EINVAL, "option 'sample_rate': expected an integer (u), got '%s'",
                               contents);
            int ok = 0;
            for (size_t i = 0; i < sizeof(speak_rates) / sizeof(speak_rates[0]); i++)
                ok |= d == speak_rates[i];
            if (!ok)
                return err_set(err, n, -EINVAL, "option 'sample_rate': %.0f Hz is not one of 16000, 22050, 24000, "
                               "44100, 48000", d);
            sj->out_rate = (int)d;
        } else if (ask) {
            if (sd_bus_message_skip(m, contents) < 0)
                return err_set(err, n, -EINVAL, "option '%.60s': malformed value", key);
        } else {
            return err_set(err, n, -EINVAL, "unknown option '%.60s' (Speak takes voice, rate, speaker, output, "
                           "format, sample_rate, noise_scale, noise_w)", key);
        }
        if (sd_bus_message_exit_container(m) < 0 || sd_bus_message_exit_container(m) < 0)
            return err_set(err, n, -EINVAL, "options: malformed entry");
    }
    if (r < 0 || sd_bus_message_exit_container(m) < 0)
        return err_set(err, n, -EINVAL, "options: malformed");
    return 0;
}

/* The output: writable, a pipe, socket or regular file; a pipe gets its own non-blocking open file
 * description (the client's keeps its flags), a socket is written with MSG_DONTWAIT. */
static int open_output(int fd, SpeakJob *sj, char *err, size_t n)
{
    struct stat st;
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fstat(fd, &st) < 0)
        return err_set(err, n, -EBADF, "output: not an open file descriptor");
    if ((fl & O_ACCMODE) == O_RDONLY || (fl & O_PATH))
        return err_set(err, n, -EINVAL, "output: not open for writing (pass a pipe's write end)");
    if (S_ISFIFO(st.st_mode)) {
        char p[64];
        snprintf(p, sizeof(p), "/proc/self/fd/%d", fd);
        sj->fd = open(p, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
    } else if (S_ISSOCK(st.st_mode) || S_ISREG(st.st_mode)) {
        sj->sock = S_ISSOCK(st.st_mode);
        sj->fd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
    } else {
        return err_set(err, n, -EINVAL, "output: a pipe, socket or regular file is needed");
    }
    if (sj->fd < 0)
        return err_set(err, n, -EBADF, "output: could not keep the file descriptor (%s)", strerror(errno));
    return 0;
}

static void voices_dir_of(const Config *c, char *dir, size_t n)
{
    if (c->voices_dir[0])
        snprintf(dir, n, "%s", c->voices_dir);
    else
        paths_models_dir(dir, n);
}

/* The .json of dir/name.onnx as a config-only Voice (NULL when missing or malformed; why in err). */
static Voice *voice_config_of(const char *dir, const char *name, char *err, size_t n)
{
    char jpath[4400];
    snprintf(jpath, sizeof(jpath), "%.4000s/%s.onnx.json", dir, name);
    FILE *f = fopen(jpath, "rb");
    if (!f) {
        snprintf(err, n, "no %s.onnx.json", name);
        return NULL;
    }
    char *json = malloc(1 << 20);
    size_t len = json ? fread(json, 1, 1 << 20, f) : 0;
    fclose(f);
    Voice *v = NULL;
    if (!json || voice_load_config(json, len, name, &v, err, n) < 0)
        v = NULL;
    free(json);
    return v;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

int speak_prop_voices(sd_bus_message *reply, const Config *cfg)
{
    char dir[CONFIG_STR_MAX], why[200];
    char *names[256];
    int n = 0, r;
    voices_dir_of(cfg, dir, sizeof(dir));
    DIR *d = opendir(dir);
    for (struct dirent *de; d && (de = readdir(d)) && n < 256;) {
        size_t len = strlen(de->d_name);
        if (len > 5 && len - 5 <= SPEAK_MAX_VOICE_NAME && !strcmp(de->d_name + len - 5, ".onnx") &&
            (names[n] = strndup(de->d_name, len - 5)) && voice_name_ok(names[n]))
            n++;
    }
    if (d)
        closedir(d);
    qsort(names, (size_t)n, sizeof(names[0]), cmp_str);
    r = sd_bus_message_open_container(reply, 'a', "(sssuu)");
    for (int i = 0; i < n; i++) {
        Voice *v = r >= 0 ? voice_config_of(dir, names[i], why, sizeof(why)) : NULL;
        if (v)
            r = sd_bus_message_append(reply, "(sssuu)", names[i], v->cfg.language,
                                      voice_quality_name(v->cfg.quality), (uint32_t)v->cfg.sample_rate,
                                      (uint32_t)(v->cfg.n_speakers > 0 ? v->cfg.n_speakers : 1));
        voice_free(v);
        free(names[i]);
    }
    return r < 0 ? r : sd_bus_message_close_container(reply);
}

/* The voice's .onnx path and its .json's rate and speakers: speaker → id. */
static int resolve_voice(const Config *c, const SpeakArgs *a, SpeakJob *sj, char *err, size_t n)
{
    char dir[CONFIG_STR_MAX], why[200] = "";
    const char *name = a->voice[0] ? a->voice : c->voice;
    int r = 0;
    voices_dir_of(c, dir, sizeof(dir));
    if (!voice_name_ok(name))
        return err_set(err, n, -EINVAL, "config 'voice': '%.60s' is not a voice name", name);
    snprintf(sj->voice_path, sizeof(sj->voice_path), "%.3900s/%s.onnx", dir, name);
    Voice *v = access(sj->voice_path, R_OK) == 0 ? voice_config_of(dir, name, why, sizeof(why)) : NULL;
    if (!v && access(sj->voice_path, R_OK) < 0)
        return err_set(err, n, -ENODEV, "voice '%s' is not installed in %.150s (run scripts/fetch-models)", name,
                       dir);
    if (!v)
        return err_set(err, n, -ENODEV, "voice '%s': %s", name, why);
    sj->native_rate = v->cfg.sample_rate;
    sj->speaker = 0;
    if (a->has_speaker) {
        char *end;
        long id = strtol(a->speaker, &end, 10);
        if (v->cfg.n_speakers <= 1)
            r = err_set(err, n, -EINVAL, "option 'speaker': voice '%s' has one speaker", name);
        else if ((r = voice_speaker_id(v, a->speaker)) >= 0)
            sj->speaker = r;
        else if (*end == 0 && end != a->speaker && id >= 0 && id < v->cfg.n_speakers)
            sj->speaker = (int)id, r = 0;
        else
            r = err_set(err, n, -EINVAL, "option 'speaker': voice '%s' has no speaker '%.60s' (a name from its "
                        "speaker_id_map or an id below %d)", name, a->speaker, v->cfg.n_speakers);
    }
    voice_free(v);
    return r < 0 ? r : 0;
}

int speak_method(Service *s, sd_bus_message *m, WorkerSession *ws, void *user, uid_t uid, sd_bus_error *e)
{
    const char *text, *owner = sd_bus_message_get_sender(m);
    char err[256];
    SpeakArgs a = {.fd = -1};
    int r;

    if (sd_bus_message_read(m, "s", &text) < 0)
        return sd_bus_error_set(e, error_dbus_name(-EINVAL), "text: expected a string (s)");
#if !HAVE_ESPEAK
    if (1) /* the rest stays compiled (and checked) */
        return sd_bus_error_set(e, error_dbus_name(-ENODEV), "this mynad was built without espeak-ng: no speech out");
#endif
    SpeakJob *sj = calloc(1, sizeof(*sj));
    if (!sj)
        return sd_bus_error_set(e, error_dbus_name(-ENOMEM), "out of memory");
    sj->fd = -1;
    sj->rate = 1.0;
    sj->noise_scale = sj->noise_w = -1;
    pthread_mutex_init(&sj->mu, NULL);
    pthread_cond_init(&sj->cond, NULL);
    size_t len = strlen(text);
    if ((r = parse_options(m, sj, &a, 0, err, sizeof(err))) < 0)
        goto fail;
    if (len == 0 || !utf8_valid(text)) {
        r = err_set(err, sizeof(err), -EINVAL, "text: %s", len ? "not valid UTF-8" : "empty");
        goto fail;
    }
    if (len > (size_t)s->cfg.max_prompt_bytes) {
        r = err_set(err, sizeof(err), -E2BIG, "text: %zu bytes is over max_prompt_bytes %d", len,
                    s->cfg.max_prompt_bytes);
        goto fail;
    }
    if (!a.has_fd && !strcmp(s->cfg.speaker, "none")) {
        r = err_set(err, sizeof(err), -EMEDIUMTYPE, "no speaker (config speaker = none); pass an output fd "
                    "(option 'output')");
        goto fail;
    }
    if ((r = resolve_voice(&s->cfg, &a, sj, err, sizeof(err))) < 0 ||
        (a.has_fd && (r = open_output(a.fd, sj, err, sizeof(err))) < 0) ||
        (r = requests_check(s, owner ? owner : "", uid, err, sizeof(err))) < 0)
        goto fail;
    if (!a.has_fd) { /* the daemon's speaker: f32 at the voice's rate into the audio device */
        int zero = 0;
        if (!atomic_compare_exchange_strong(&speak_speaker_busy, &zero, 1)) {
            r = err_set(err, sizeof(err), -EBUSY, "the speaker is playing another request; wait or pass an "
                        "output fd");
            goto fail;
        }
        sj->to_speaker = 1;
        sj->format = SPEAK_F32LE;
        sj->out_rate = 0;
        snprintf(sj->speaker_spec, sizeof(sj->speaker_spec), "%s", s->cfg.speaker);
    }
    if (!(sj->text = strdup(text))) {
        r = err_set(err, sizeof(err), -ENOMEM, "out of memory");
        goto fail;
    }
    Job *j = calloc(1, sizeof(*j));
    if (!j) {
        r = err_set(err, sizeof(err), -ENOMEM, "out of memory");
        goto fail;
    }
    j->kind = JOB_SPEAK;
    j->t_request = sj->t_request = worker_now_ms();
    j->ws = ws;
    j->id = ++s->next_request;
    j->user = user;
    atomic_init(&j->cancel, 0);
    sj->cancel = &j->cancel;
    j->speak = sj;
    j->svc = s;
    j->uid = uid;
    r = sd_bus_reply_method_return(m, "t", j->id);
    if (r < 0) {
        job_free(j);
        return r;
    }
    requests_add(s, j);
    log_debug("speak %llu (%zu bytes, %s) from %s", (unsigned long long)j->id, len, sj->voice_path, owner);
    return 1;
fail:
    speak_job_free(sj);
    return sd_bus_error_set(e, error_dbus_name(r), err);
}

int speak_prepare_ask(Service *s, sd_bus_message *m, SpeakJob **out, char *err, size_t n)
{
    SpeakArgs a = {.fd = -1};
    SpeakJob *sj = calloc(1, sizeof(*sj));
    int r;

    *out = NULL;
    if (!sj)
        return err_set(err, n, -ENOMEM, "out of memory");
    sj->fd = -1;
    sj->rate = 1.0;
    sj->noise_scale = sj->noise_w = -1;
    pthread_mutex_init(&sj->mu, NULL);
    pthread_cond_init(&sj->cond, NULL);
#if !HAVE_ESPEAK
    r = err_set(err, n, -ENODEV, "option 'speak': this mynad was built without espeak-ng: no speech out");
    goto fail;
#endif
    if ((r = parse_options(m, sj, &a, 1, err, n)) < 0)
        goto fail;
    if (!a.has_fd && !strcmp(s->cfg.speaker, "none")) {
        r = err_set(err, n, -EMEDIUMTYPE, "option 'speak': no speaker (config speaker = none); pass an output fd "
                    "(option 'output')");
        goto fail;
    }
    if ((r = resolve_voice(&s->cfg, &a, sj, err, n)) < 0 || (a.has_fd && (r = open_output(a.fd, sj, err, n)) < 0))
        goto fail;
    if (!a.has_fd) {
        int zero = 0;
        if (!atomic_compare_exchange_strong(&speak_speaker_busy, &zero, 1)) {
            r = err_set(err, n, -EBUSY, "option 'speak': the speaker is playing another request; wait or pass an "
                        "output fd");
            goto fail;
        }
        sj->to_speaker = 1;
        sj->format = SPEAK_F32LE;
        sj->out_rate = 0;
        snprintf(sj->speaker_spec, sizeof(sj->speaker_spec), "%s", s->cfg.speaker);
    }
    *out = sj;
    return 0;
fail:
    speak_job_free(sj);
    return r;
}

int speak_deliver(sd_bus *bus, const char *path, const char *owner, const Event *ev)
{
    sd_bus_message *msg = NULL;
    const SpeakStats *st = &ev->speak;
    const char *member = ev->kind == EV_SPEAKING_STARTED ? "SpeakingStarted"
                       : ev->kind == EV_SPEECH_PROGRESS  ? "SpeechProgress"
                       : ev->kind == EV_FINISHED         ? "SpeakingFinished" : NULL;
    if (!member)
        return 0;
    int r = sd_bus_message_new_signal(bus, &msg, path, "org.myna.Session1", member);
    if (r >= 0)
        r = sd_bus_message_set_destination(msg, owner);
    if (r >= 0)
        r = sd_bus_message_append(msg, "t", ev->job->id);
    if (r >= 0 && ev->kind == EV_SPEECH_PROGRESS)
        r = sd_bus_message_append(msg, "u", st->chars_played);
    if (r >= 0 && ev->kind == EV_FINISHED) {
        double audio_s = st->sample_rate > 0 ? (double)st->samples / st->sample_rate : 0;
        r = sd_bus_message_append(msg, "s", ev->reason ? ev->reason : "done");
        if (r >= 0)
            r = sd_bus_message_append(msg, "a{sv}", 10, "samples", "t", (uint64_t)st->samples, "sample_rate", "u",
                                      (uint32_t)st->sample_rate, "audio_s", "d", audio_s, "sentences", "u",
                                      (uint32_t)st->sentences, "chars_played", "u", st->chars_played,
                                      "first_audio_ms", "d", st->first_audio_ms, "synth_ms", "d", st->synth_ms,
                                      "queue_ms", "d", st->queue_ms, "total_ms", "d", st->total_ms, "rtf", "d",
                                      audio_s > 0 ? st->synth_ms / 1000.0 / audio_s : 0.0);
    }
    if (r >= 0)
        r = sd_bus_send(bus, msg, NULL);
    sd_bus_message_unref(msg);
    if (r < 0)
        log_warn("%s: could not send %s to %s: %s", path, member, owner, strerror(-r));
    return 1;
}
