/* test-daemon-speak.c — Session1.Speak on a private bus (issue 13). The Voices property lists the voice
 * from its .json. Into a pipe, at the voice's rate in s16le, the samples are the ones `myna-run --say`
 * writes offline for the same text (same scales, seed 0 per sentence) byte for byte; f32le at 16 kHz gives
 * the resampled count (n·16000/22050, ±2); signals SpeakingStarted, SpeechProgress (rising, ending at the
 * text's length) and SpeakingFinished "done" with the sample count. Cancel once the first window arrived
 * stops the output within one window (what comes after the Cancel reply is at most a pipe buffer plus one
 * decoder window) and ends "cancelled"; another session's Ask finishes while a long Speak is still running
 * (not starved); hostile options each give their named error; without an output fd the daemon's speaker
 * (config speaker = file:PATH, the device layer's file twin) gets the same samples (±1 LSB of scaling),
 * plays one request at a time (a second → Busy) and stops on Cancel; a reader that closes its pipe fails the
 * request, one that stops reading fails it with TooLarge after the writer's 10 s deadline; `myna say -o
 * FILE` writes the same samples as a WAV; Ask with speak=true (test:echo) speaks the answer's clauses into
 * a pipe, the samples of Speak per clause byte for byte, stops on Cancel within one window, names bad speech
 * options, and `myna ask --speak -o FILE` writes them as a WAV. Skips (77) without the voice en_US-joe-medium or a myna-run that
 * can --say (espeak-ng).
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "paths.h"
#include "test-util.h"

static const char *TEXT = "Hello there. The door is open, and the light is on.";
static const char *LONG_TEXT =
    "This is a long paragraph for the cancel test. It goes on for several sentences, so that synthesis takes "
    "a while. Each sentence is decoded in windows. The first window is small, the next ones are larger. "
    "A cancel should stop the output within one window. Nothing more should arrive after that.";

enum { WINDOW_BYTES_S16 = 128 * 256 * 2 }; /* VITS_SAY_WINDOW frames × hop 256 × 2 bytes */

typedef struct {
    int fd;
    uint8_t *buf;
    size_t len, cap;
    size_t at_mark;       /* len when mark was set */
    volatile int mark;
    pthread_mutex_t mu;
} Reader;

static void *reader_main(void *arg)
{
    Reader *r = arg;
    uint8_t b[8192];
    ssize_t k;
    while ((k = read(r->fd, b, sizeof(b))) > 0) {
        pthread_mutex_lock(&r->mu);
        if (r->len + (size_t)k > r->cap) {
            r->cap = (r->len + (size_t)k) * 2;
            r->buf = realloc(r->buf, r->cap);
        }
        memcpy(r->buf + r->len, b, (size_t)k);
        r->len += (size_t)k;
        pthread_mutex_unlock(&r->mu);
    }
    return NULL;
}

static size_t reader_len(Reader *r)
{
    pthread_mutex_lock(&r->mu);
    size_t n = r->len;
    pthread_mutex_unlock(&r->mu);
    return n;
}

typedef struct {
    uint64_t id;
    int started, finished, failed, n_progress, progress_monotonic;
    uint32_t last_chars;
    char reason[32], error[128], message[256];
    uint64_t samples;
    uint32_t rate;
} SpeakWatch;

static int on_signal(sd_bus_message *m, void *userdata, sd_bus_error *e)
{
    SpeakWatch *w = userdata;
    const char *member = sd_bus_message_get_member(m);
    uint64_t id;
    (void)e;
    if (!member || sd_bus_message_read(m, "t", &id) < 0 || id != w->id)
        return 0;
    if (!strcmp(member, "SpeakingStarted"))
        w->started++;
    else if (!strcmp(member, "SpeechProgress")) {
        uint32_t c;
        if (sd_bus_message_read(m, "u", &c) >= 0) {
            if (c <= w->last_chars)
                w->progress_monotonic = 0;
            w->last_chars = c;
            w->n_progress++;
        }
    } else if (!strcmp(member, "SpeakingFinished")) {
        const char *reason, *key;
        if (sd_bus_message_read(m, "s", &reason) >= 0)
            snprintf(w->reason, sizeof(w->reason), "%s", reason);
        if (sd_bus_message_enter_container(m, 'a', "{sv}") >= 0) {
            while (sd_bus_message_enter_container(m, 'e', "sv") > 0) {
                sd_bus_message_read(m, "s", &key);
                if (!strcmp(key, "samples"))
                    sd_bus_message_read(m, "v", "t", &w->samples);
                else if (!strcmp(key, "sample_rate"))
                    sd_bus_message_read(m, "v", "u", &w->rate);
                else
                    sd_bus_message_skip(m, "v");
                sd_bus_message_exit_container(m);
            }
            sd_bus_message_exit_container(m);
        }
        w->finished = 1;
    } else if (!strcmp(member, "Failed")) {
        const char *err, *msg;
        if (sd_bus_message_read(m, "ss", &err, &msg) >= 0) {
            snprintf(w->error, sizeof(w->error), "%s", err);
            snprintf(w->message, sizeof(w->message), "%s", msg);
        }
        w->failed = 1;
    }
    return 0;
}

/* Speak (ask 0) or Ask (ask 1, no attachments) text with options given as (key, sig, value) triples; sig
 * "s", "u", "d", "h" or "b". */
static int call_v(sd_bus *b, const char *path, int ask, const char *text, uint64_t *id, sd_bus_error *e, int n,
                  va_list ap)
{
    sd_bus_message *m = NULL, *reply = NULL;
    int r = sd_bus_message_new_method_call(b, &m, "org.myna.Assistant1", path, "org.myna.Session1",
                                           ask ? "Ask" : "Speak");
    if (r >= 0)
        r = sd_bus_message_append(m, "s", text);
    if (r >= 0 && ask)
        r = sd_bus_message_append(m, "a(sh)", 0);
    if (r >= 0)
        r = sd_bus_message_open_container(m, 'a', "{sv}");
    for (int i = 0; i < n && r >= 0; i++) {
        const char *key = va_arg(ap, const char *), *sig = va_arg(ap, const char *);
        if (!strcmp(sig, "s"))
            r = sd_bus_message_append(m, "{sv}", key, "s", va_arg(ap, const char *));
        else if (!strcmp(sig, "d"))
            r = sd_bus_message_append(m, "{sv}", key, "d", va_arg(ap, double));
        else if (!strcmp(sig, "h"))
            r = sd_bus_message_append(m, "{sv}", key, "h", va_arg(ap, int));
        else if (!strcmp(sig, "b"))
            r = sd_bus_message_append(m, "{sv}", key, "b", va_arg(ap, int));
        else
            r = sd_bus_message_append(m, "{sv}", key, "u", va_arg(ap, uint32_t));
    }
    if (r >= 0)
        r = sd_bus_message_close_container(m);
    if (r >= 0)
        r = sd_bus_call(b, m, 30ULL * 1000000ULL, e, &reply);
    if (r >= 0 && id)
        r = sd_bus_message_read(reply, "t", id);
    sd_bus_message_unref(m);
    sd_bus_message_unref(reply);
    return r;
}

static int speak(sd_bus *b, const char *path, const char *text, uint64_t *id, sd_bus_error *e, int n, ...)
{
    va_list ap;
    va_start(ap, n);
    int r = call_v(b, path, 0, text, id, e, n, ap);
    va_end(ap);
    return r;
}

static int ask(sd_bus *b, const char *path, const char *text, uint64_t *id, sd_bus_error *e, int n, ...)
{
    va_list ap;
    va_start(ap, n);
    int r = call_v(b, path, 1, text, id, e, n, ap);
    va_end(ap);
    return r;
}

static void pump_until(sd_bus *b, const int *flag, double timeout_s)
{
    double t0 = harness_now_s();
    while (!*flag && harness_now_s() - t0 < timeout_s) {
        int r = sd_bus_process(b, NULL);
        if (r == 0)
            sd_bus_wait(b, 100000);
    }
}

/* Speak into a fresh pipe read by a thread until EOF; the watch collects the signals. */
static int speak_to_pipe(sd_bus *b, const char *path, SpeakWatch *w, Reader *rd, const char *text,
                         const char *format, uint32_t rate)
{
    int p[2];
    sd_bus_error e = SD_BUS_ERROR_NULL;
    pthread_t th;
    if (pipe(p) < 0)
        return -errno;
    memset(rd, 0, sizeof(*rd));
    pthread_mutex_init(&rd->mu, NULL);
    rd->fd = p[0];
    pthread_create(&th, NULL, reader_main, rd);
    memset(w, 0, sizeof(*w));
    w->progress_monotonic = 1;
    int r = rate ? speak(b, path, text, &w->id, &e, 3, "output", "h", p[1], "format", "s", format, "sample_rate",
                         "u", rate)
                 : speak(b, path, text, &w->id, &e, 2, "output", "h", p[1], "format", "s", format);
    close(p[1]); /* the daemon holds its own copy */
    if (r < 0)
        fprintf(stderr, "Speak: %s: %s\n", e.name, e.message);
    sd_bus_error_free(&e);
    pump_until(b, &w->finished, 120);
    pthread_join(th, NULL);
    close(p[0]);
    return r;
}

int main(void)
{
    Harness h;
    char cmd[8192], voice[1200], tmp[256], path[128], path2[128];
    const char *root = getenv("MYNA_BUILD_ROOT");
    sd_bus_error e = SD_BUS_ERROR_NULL;
    char models[1024];

    paths_models_dir(models, sizeof(models));
    paths_model_file("en_US-joe-medium.onnx", voice, sizeof(voice));
    if (access(voice, R_OK) < 0) {
        fprintf(stderr, "skip: needs %s (scripts/fetch-models)\n", voice);
        return 77;
    }
    snprintf(tmp, sizeof(tmp), "/tmp/myna-speak-XXXXXX");
    CHECK(mkdtemp(tmp) != NULL);
    /* the offline reference: myna-run --say (same voice, the .json's scales, seed 0) */
    snprintf(cmd, sizeof(cmd), "%s/clients/myna-run --say '%s' --voice %s -o %s/ref.wav 2>/dev/null",
             root ? root : ".", TEXT, voice, tmp);
    if (harness_sh(cmd, NULL, 0) != 0) {
        fprintf(stderr, "skip: myna-run --say failed (no espeak-ng in this build?)\n");
        return 77;
    }
    snprintf(cmd, sizeof(cmd), "%s/ref.wav", tmp);
    FILE *f = fopen(cmd, "rb");
    CHECK(f != NULL);
    static uint8_t ref[4 << 20];
    size_t ref_len = f ? fread(ref, 1, sizeof(ref), f) : 0;
    if (f)
        fclose(f);
    CHECK(ref_len > 44 + 22050);
    const uint8_t *ref_pcm = ref + 44;
    const size_t ref_bytes = ref_len - 44, ref_samples = ref_bytes / 2;

    if (harness_start_bus(&h) < 0)
        return 77;
    char conf[512];
    snprintf(conf, sizeof(conf), "model = test:echo\nspeaker = file:%s/speaker.raw\n", tmp);
    CHECK_INT(harness_start_daemon(&h, conf, NULL), 0);
    sd_bus *b = harness_connect(&h);
    CHECK(b != NULL);
    CHECK(hc_create_session(b, NULL, 0, path, sizeof(path), &e) >= 0);
    SpeakWatch w;
    sd_bus_slot *slot = NULL;
    CHECK(sd_bus_match_signal(b, &slot, "org.myna.Assistant1", path, "org.myna.Session1", NULL, on_signal, &w) >= 0);
    Reader rd;

    /* 0. property Voices lists the installed voice from its .json */
    {
        sd_bus_message *reply = NULL;
        const char *name, *lang, *quality;
        uint32_t rate, speakers;
        int found = 0;
        CHECK(sd_bus_get_property(b, "org.myna.Assistant1", "/org/myna/Assistant1", "org.myna.Assistant1", "Voices",
                                  &e, &reply, "a(sssuu)") >= 0);
        if (reply && sd_bus_message_enter_container(reply, 'a', "(sssuu)") >= 0) {
            while (sd_bus_message_read(reply, "(sssuu)", &name, &lang, &quality, &rate, &speakers) > 0)
                if (!strcmp(name, "en_US-joe-medium")) {
                    found = 1;
                    CHECK(!strcmp(lang, "en_US") && !strcmp(quality, "medium"));
                    CHECK_INT(rate, 22050);
                    CHECK_INT(speakers, 1);
                }
        }
        CHECK(found);
        sd_bus_message_unref(reply);
    }

    /* 1. s16le at the voice's rate: the offline samples, byte for byte */
    CHECK(speak_to_pipe(b, path, &w, &rd, TEXT, "s16le", 0) >= 0);
    fprintf(stderr, "s16le: %zu bytes (offline %zu), reason %s, %d progress, last %u chars\n", rd.len, ref_bytes,
            w.reason, w.n_progress, w.last_chars);
    CHECK(!strcmp(w.reason, "done"));
    CHECK_INT(w.started, 1);
    CHECK_INT(rd.len, ref_bytes);
    CHECK(rd.len == ref_bytes && memcmp(rd.buf, ref_pcm, ref_bytes) == 0);
    CHECK_INT(w.samples, ref_samples);
    CHECK_INT(w.rate, 22050);
    CHECK(w.n_progress >= 2 && w.progress_monotonic);
    CHECK_INT(w.last_chars, strlen(TEXT));
    free(rd.buf);

    /* 2. f32le resampled to 16 kHz: n·16000/22050 samples, ±2 */
    CHECK(speak_to_pipe(b, path, &w, &rd, TEXT, "f32le", 16000) >= 0);
    double want = (double)ref_samples * 16000.0 / 22050.0;
    fprintf(stderr, "f32le 16 kHz: %zu samples (expected %.1f)\n", rd.len / 4, want);
    CHECK(!strcmp(w.reason, "done"));
    CHECK_INT(rd.len % 4, 0);
    CHECK(fabs((double)(rd.len / 4) - want) <= 2.0);
    CHECK_INT(w.samples, rd.len / 4);
    CHECK_INT(w.rate, 16000);
    free(rd.buf);

    /* 3. Cancel once the first window arrived: at most a pipe buffer + one window follows */
    {
        int p[2];
        pthread_t th;
        CHECK(pipe(p) == 0);
        memset(&rd, 0, sizeof(rd));
        pthread_mutex_init(&rd.mu, NULL);
        rd.fd = p[0];
        pthread_create(&th, NULL, reader_main, &rd);
        memset(&w, 0, sizeof(w));
        CHECK(speak(b, path, LONG_TEXT, &w.id, &e, 1, "output", "h", p[1]) >= 0);
        close(p[1]);
        double t0 = harness_now_s();
        while (reader_len(&rd) == 0 && harness_now_s() - t0 < 60) {
            if (sd_bus_process(b, NULL) == 0)
                sd_bus_wait(b, 10000);
        }
        CHECK(hc_call_simple(b, path, "Cancel", w.id, &e) >= 0);
        size_t at_cancel = reader_len(&rd);
        pump_until(b, &w.finished, 60);
        pthread_join(th, NULL);
        close(p[0]);
        fprintf(stderr, "cancel: %zu bytes before the Cancel reply, %zu in all, reason %s\n", at_cancel, rd.len,
                w.reason);
        CHECK(!strcmp(w.reason, "cancelled"));
        CHECK(at_cancel > 0);
        CHECK(rd.len - at_cancel <= 65536 + WINDOW_BYTES_S16);
        CHECK(rd.len < 22050 * 2 * 10); /* the paragraph is well over 10 s of speech */
        free(rd.buf);
    }

    /* 4. another session's Ask is answered while a long Speak still runs */
    {
        sd_bus *b2 = harness_connect(&h);
        Collector c;
        CHECK(b2 != NULL);
        CHECK(hc_create_session(b2, NULL, 0, path2, sizeof(path2), &e) >= 0);
        memset(&c, 0, sizeof(c));
        CHECK(hc_watch(b2, &c, path2) >= 0);
        int p[2];
        pthread_t th;
        CHECK(pipe(p) == 0);
        memset(&rd, 0, sizeof(rd));
        pthread_mutex_init(&rd.mu, NULL);
        rd.fd = p[0];
        pthread_create(&th, NULL, reader_main, &rd);
        memset(&w, 0, sizeof(w));
        CHECK(speak(b, path, LONG_TEXT, &w.id, &e, 1, "output", "h", p[1]) >= 0);
        close(p[1]);
        double t0 = harness_now_s();
        while (reader_len(&rd) == 0 && harness_now_s() - t0 < 60) { /* the Speak is on the worker */
            if (sd_bus_process(b, NULL) == 0)
                sd_bus_wait(b, 10000);
        }
        CHECK(hc_ask(b2, &c, "hello there", 8, &e) >= 0);
        sd_bus *bs[] = {b2};
        Collector *cs[] = {&c};
        hc_wait(bs, cs, 1, 60);
        while (sd_bus_process(b, NULL) > 0) {
        }
        fprintf(stderr, "ask beside a speak: finished %d, speak finished %d, %zu bytes of speech so far\n",
                c.finished, w.finished, reader_len(&rd));
        CHECK(c.finished);
        CHECK(!w.finished);
        pump_until(b, &w.finished, 120);
        CHECK(!strcmp(w.reason, "done"));
        pthread_join(th, NULL);
        close(p[0]);
        free(rd.buf);
        hc_unwatch(&c);
        sd_bus_flush_close_unref(b2);
    }

    /* 5. hostile arguments: each a named error at the call */
    {
        int p[2];
        CHECK(pipe(p) == 0);
        struct {
            const char *what, *want;
            int r;
        } cases[16];
        int n = 0;
#define CASE(what_, want_, ...)                                                                                 \
    do {                                                                                                        \
        sd_bus_error_free(&e);                                                                                  \
        cases[n].what = what_, cases[n].want = want_;                                                           \
        cases[n].r = speak(b, path, __VA_ARGS__);                                                               \
        fprintf(stderr, "%-22s → %s: %s\n", what_, e.name ? e.name : "(ok)", e.message ? e.message : "");       \
        CHECK(cases[n].r < 0 && e.name && !strcmp(e.name, want_));                                              \
        n++;                                                                                                    \
    } while (0)
        CASE("empty text", "org.myna.Error.InvalidArgument", "", NULL, &e, 1, "output", "h", p[1]);
        CASE("format mp3", "org.myna.Error.InvalidArgument", "Hello.", NULL, &e, 2, "output", "h", p[1], "format",
             "s", "mp3");
        CASE("sample_rate 12345", "org.myna.Error.InvalidArgument", "Hello.", NULL, &e, 2, "output", "h", p[1],
             "sample_rate", "u", (uint32_t)12345);
        CASE("rate 0", "org.myna.Error.InvalidArgument", "Hello.", NULL, &e, 2, "output", "h", p[1], "rate", "d",
             0.0);
        CASE("rate nan", "org.myna.Error.InvalidArgument", "Hello.", NULL, &e, 2, "output", "h", p[1], "rate", "d",
             (double)NAN);
        CASE("voice ../x", "org.myna.Error.InvalidArgument", "Hello.", NULL, &e, 2, "output", "h", p[1], "voice",
             "s", "../etc/passwd");
        CASE("voice missing", "org.myna.Error.NoModel", "Hello.", NULL, &e, 2, "output", "h", p[1], "voice", "s",
             "xx_XX-nobody-low");
        CASE("speaker on 1-speaker", "org.myna.Error.InvalidArgument", "Hello.", NULL, &e, 2, "output", "h", p[1],
             "speaker", "s", "3");
        CASE("unknown option", "org.myna.Error.InvalidArgument", "Hello.", NULL, &e, 2, "output", "h", p[1],
             "volume", "d", 2.0);
        CASE("output read end", "org.myna.Error.InvalidArgument", "Hello.", NULL, &e, 1, "output", "h", p[0]);
        CASE("output as string", "org.myna.Error.InvalidArgument", "Hello.", NULL, &e, 1, "output", "s", "/tmp/x");
        close(p[0]);
        close(p[1]);
        sd_bus_error_free(&e);
    }

    /* 6. a reader that closes its end: Failed, and the daemon goes on */
    {
        int p[2];
        CHECK(pipe(p) == 0);
        memset(&w, 0, sizeof(w));
        CHECK(speak(b, path, LONG_TEXT, &w.id, &e, 1, "output", "h", p[1]) >= 0);
        close(p[1]);
        close(p[0]);
        pump_until(b, &w.failed, 60);
        fprintf(stderr, "reader closed: %s: %s\n", w.error, w.message);
        CHECK(w.failed);
        CHECK(strstr(w.message, "output") != NULL);
    }

    /* 6b. a reader that stops reading: after SPEAK_STALL_S (10 s) without progress, Failed TooLarge */
    {
        int p[2];
        CHECK(pipe(p) == 0);
        memset(&w, 0, sizeof(w));
        CHECK(speak(b, path, LONG_TEXT, &w.id, &e, 1, "output", "h", p[1]) >= 0);
        close(p[1]);
        pump_until(b, &w.failed, 90); /* never read p[0] */
        fprintf(stderr, "reader stalled: %s: %s\n", w.error, w.message);
        CHECK(w.failed);
        CHECK(!strcmp(w.error, "org.myna.Error.TooLarge"));
        close(p[0]);
    }

    /* 6c. no output: the daemon's speaker (here the file twin, s16le at the voice's rate) plays it */
    {
        memset(&w, 0, sizeof(w));
        CHECK(speak(b, path, TEXT, &w.id, &e, 0) >= 0);
        pump_until(b, &w.finished, 60);
        snprintf(cmd, sizeof(cmd), "%s/speaker.raw", tmp);
        FILE *sf = fopen(cmd, "rb");
        static int16_t spk[1 << 20];
        size_t ns = sf ? fread(spk, 2, sizeof(spk) / 2, sf) : 0;
        if (sf)
            fclose(sf);
        int maxd = 0;
        for (size_t i = 0; i < ns && i < ref_samples; i++) {
            int d = abs((int)spk[i] - (int)(int16_t)(ref_pcm[2 * i] | ref_pcm[2 * i + 1] << 8));
            maxd = d > maxd ? d : maxd;
        }
        fprintf(stderr, "speaker twin: %s, %zu samples (offline %zu), max |diff| %d LSB\n", w.reason, ns,
                ref_samples, maxd);
        CHECK(!strcmp(w.reason, "done"));
        CHECK_INT(ns, ref_samples);
        CHECK(maxd <= 2); /* the twin scales by 32768, myna-run by 32767 */
    }

    /* 6d. the speaker plays one request at a time (a second → Busy); Cancel flushes it */
    {
        memset(&w, 0, sizeof(w));
        CHECK(speak(b, path, LONG_TEXT, &w.id, &e, 0) >= 0);
        sd_bus_error_free(&e);
        CHECK(speak(b, path, "Hello.", NULL, &e, 0) < 0);
        fprintf(stderr, "second speaker request → %s: %s\n", e.name, e.message);
        CHECK(e.name && !strcmp(e.name, "org.myna.Error.Busy"));
        sd_bus_error_free(&e);
        pump_until(b, &w.started, 60);
        CHECK(hc_call_simple(b, path, "Cancel", w.id, &e) >= 0);
        pump_until(b, &w.finished, 60);
        struct stat sst;
        snprintf(cmd, sizeof(cmd), "%s/speaker.raw", tmp);
        CHECK(stat(cmd, &sst) == 0);
        fprintf(stderr, "speaker cancel: %s, %lld bytes played\n", w.reason, (long long)sst.st_size);
        CHECK(!strcmp(w.reason, "cancelled"));
        CHECK(sst.st_size < 22050 * 2 * 10); /* the paragraph is well over 10 s */
        memset(&w, 0, sizeof(w));
        CHECK(speak(b, path, "Hello.", &w.id, &e, 0) >= 0); /* free again */
        pump_until(b, &w.finished, 60);
        CHECK(!strcmp(w.reason, "done"));
    }

    /* 8. Ask with speak=true (test:echo answers the question's words): the answer's clauses ("Hello there."
     * and "The door is open, and the light is on.") are spoken into the pipe: the samples of Speak of each
     * clause, concatenated, byte for byte (within 1 % of Speak(TEXT)'s count); signals carry the Ask's id. Then Cancel once speech
     * arrived stops it within one window + a pipe buffer. Hostile speech options are named at the call. */
    {
        int p[2];
        pthread_t th;
        static uint8_t clauses[4 << 20];
        size_t clauses_len = 0;
        static const char *const clause_text[] = {"Hello there.", "The door is open, and the light is on."};
        for (int i = 0; i < 2; i++) {
            CHECK(speak_to_pipe(b, path, &w, &rd, clause_text[i], "s16le", 0) >= 0);
            CHECK(!strcmp(w.reason, "done"));
            if (clauses_len + rd.len <= sizeof(clauses))
                memcpy(clauses + clauses_len, rd.buf, rd.len), clauses_len += rd.len;
            free(rd.buf);
        }
        for (int round = 0; round < 2; round++) {
            CHECK(pipe(p) == 0);
            memset(&rd, 0, sizeof(rd));
            pthread_mutex_init(&rd.mu, NULL);
            rd.fd = p[0];
            pthread_create(&th, NULL, reader_main, &rd);
            memset(&w, 0, sizeof(w));
            w.progress_monotonic = 1;
            CHECK(ask(b, path, round ? LONG_TEXT : TEXT, &w.id, &e, 3, "speak", "b", 1, "output", "h", p[1],
                      "format", "s", "s16le") >= 0);
            close(p[1]);
            size_t at_cancel = 0;
            if (round) {
                double t0 = harness_now_s();
                while (reader_len(&rd) == 0 && harness_now_s() - t0 < 60)
                    if (sd_bus_process(b, NULL) == 0)
                        sd_bus_wait(b, 10000);
                CHECK(hc_call_simple(b, path, "Cancel", w.id, &e) >= 0);
                at_cancel = reader_len(&rd);
            }
            pump_until(b, &w.finished, 120);
            pthread_join(th, NULL);
            close(p[0]);
            fprintf(stderr, "ask speak=true%s: %zu bytes (Speak per clause %zu, whole %zu), reason %s, started %d, %d progress, last %u "
                    "chars, %llu samples\n", round ? " + cancel" : "", rd.len, clauses_len, ref_bytes, w.reason, w.started,
                    w.n_progress, w.last_chars, (unsigned long long)w.samples);
            CHECK_INT(w.started, 1);
            if (!round) {
                CHECK(!strcmp(w.reason, "done"));
                CHECK_INT(rd.len, clauses_len);
                CHECK(rd.len == clauses_len && memcmp(rd.buf, clauses, clauses_len) == 0);
                CHECK_INT(w.samples, clauses_len / 2);
                CHECK(fabs((double)rd.len - (double)ref_bytes) <= 0.01 * (double)ref_bytes);
                CHECK(w.n_progress >= 2 && w.progress_monotonic);
                CHECK_INT(w.last_chars, strlen(TEXT));
            } else {
                CHECK(!strcmp(w.reason, "cancelled"));
                CHECK(at_cancel > 0);
                CHECK(rd.len - at_cancel <= 65536 + WINDOW_BYTES_S16);
                CHECK(rd.len < 22050 * 2 * 10);
            }
            free(rd.buf);
        }
        CHECK(pipe(p) == 0);
        sd_bus_error_free(&e);
        CHECK(ask(b, path, "Hello.", NULL, &e, 2, "speak", "b", 1, "format", "s", "mp3") < 0);
        fprintf(stderr, "ask speak format mp3 → %s: %s\n", e.name, e.message);
        CHECK(e.name && !strcmp(e.name, "org.myna.Error.InvalidArgument") && strstr(e.message, "format"));
        sd_bus_error_free(&e);
        CHECK(ask(b, path, "Hello.", NULL, &e, 1, "output", "h", p[1]) < 0); /* output without speak */
        fprintf(stderr, "ask output without speak → %s: %s\n", e.name, e.message);
        CHECK(e.name && !strcmp(e.name, "org.myna.Error.InvalidArgument"));
        sd_bus_error_free(&e);
        close(p[0]);
        close(p[1]);
        /* no output: the daemon's speaker (file twin) plays the answer, held for the whole answer (a Speak
         * meanwhile → Busy) and free again after SpeakingFinished */
        memset(&w, 0, sizeof(w));
        CHECK(ask(b, path, TEXT, &w.id, &e, 1, "speak", "b", 1) >= 0);
        sd_bus_error_free(&e);
        CHECK(speak(b, path, "Hello.", NULL, &e, 0) < 0);
        CHECK(e.name && !strcmp(e.name, "org.myna.Error.Busy"));
        sd_bus_error_free(&e);
        pump_until(b, &w.finished, 60);
        fprintf(stderr, "ask speak=true on the speaker: %s, %llu samples\n", w.reason, (unsigned long long)w.samples);
        CHECK(!strcmp(w.reason, "done"));
        CHECK_INT(w.samples, clauses_len / 2);
        memset(&w, 0, sizeof(w));
        CHECK(speak(b, path, "Hello.", &w.id, &e, 0) >= 0);
        pump_until(b, &w.finished, 60);
        CHECK(!strcmp(w.reason, "done"));
        /* myna ask --speak -o FILE: the answer's text on stdout, its speech as a WAV of the same samples */
        snprintf(cmd, sizeof(cmd), "%s/clients/myna --address=%s ask --speak -o %s/ask.wav '%s' >/dev/null",
                 root ? root : ".", h.address, tmp, TEXT);
        CHECK_INT(harness_sh(cmd, NULL, 0), 0);
        snprintf(cmd, sizeof(cmd), "%s/ask.wav", tmp);
        FILE *af = fopen(cmd, "rb");
        static uint8_t awav[4 << 20];
        size_t an = af ? fread(awav, 1, sizeof(awav), af) : 0;
        if (af)
            fclose(af);
        fprintf(stderr, "myna ask --speak -o: %zu bytes (44 + %zu expected)\n", an, clauses_len);
        CHECK_INT(an, 44 + clauses_len);
        CHECK(an == 44 + clauses_len && !memcmp(awav, "RIFF", 4) && !memcmp(awav + 44, clauses, clauses_len));
        CHECK_INT(awav[24] | awav[25] << 8 | awav[26] << 16, 22050);
    }

    /* 7. myna say -o FILE: the same samples as the offline WAV */
    snprintf(cmd, sizeof(cmd), "%s/clients/myna --address=%s say -o %s/say.wav '%s' && cmp %s/say.wav %s/ref.wav",
             root ? root : ".", h.address, tmp, TEXT, tmp, tmp);
    CHECK_INT(harness_sh(cmd, NULL, 0), 0);

    sd_bus_slot_unref(slot);
    sd_bus_flush_close_unref(b);
    CHECK_INT(harness_stop_daemon(&h), 0);
    harness_stop(&h);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", tmp);
    harness_sh(cmd, NULL, 0);
    return test_exit();
}
