/* myna-say.c — `myna say [-o FILE|-] [--voice=NAME] [--rate=X] TEXT...`: the daemon speaks TEXT with a
 * Piper voice (Session1.Speak, docs/DBUS.md). The audio streams back through a pipe the daemon writes
 * s16le PCM into: -o FILE writes it as a 16-bit mono WAV as it arrives (the header is completed at the
 * end), -o - writes the raw s16le samples to stdout. Without -o the daemon's speaker plays it (mynad's
 * config key speaker) and this waits for SpeakingFinished. TEXT '-' reads stdin.
 */
#include <errno.h>
#include <math.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "myna-client.h"

typedef struct {
    uint64_t id;
    int finished, failed;
    char reason[32], error[128], message[256];
    uint32_t sample_rate;
    uint64_t samples;
    double first_audio_ms, total_ms;
} SayState;

static int on_signal(sd_bus_message *m, void *userdata, sd_bus_error *e)
{
    SayState *st = userdata;
    const char *member = sd_bus_message_get_member(m), *a, *b, *key;
    uint64_t id;
    (void)e;
    if (!member || sd_bus_message_read(m, "t", &id) < 0 || id != st->id)
        return 0;
    if (!strcmp(member, "Failed") && sd_bus_message_read(m, "ss", &a, &b) >= 0) {
        snprintf(st->error, sizeof(st->error), "%s", a);
        snprintf(st->message, sizeof(st->message), "%s", b);
        st->failed = 1;
    } else if (!strcmp(member, "SpeakingFinished") && sd_bus_message_read(m, "s", &a) >= 0) {
        snprintf(st->reason, sizeof(st->reason), "%s", a);
        if (sd_bus_message_enter_container(m, 'a', "{sv}") >= 0) {
            while (sd_bus_message_enter_container(m, 'e', "sv") > 0) {
                if (sd_bus_message_read(m, "s", &key) < 0)
                    break;
                if (!strcmp(key, "sample_rate"))
                    sd_bus_message_read(m, "v", "u", &st->sample_rate);
                else if (!strcmp(key, "samples"))
                    sd_bus_message_read(m, "v", "t", &st->samples);
                else if (!strcmp(key, "first_audio_ms"))
                    sd_bus_message_read(m, "v", "d", &st->first_audio_ms);
                else if (!strcmp(key, "total_ms"))
                    sd_bus_message_read(m, "v", "d", &st->total_ms);
                else
                    sd_bus_message_skip(m, "v");
                sd_bus_message_exit_container(m);
            }
            sd_bus_message_exit_container(m);
        }
        st->finished = 1;
    }
    return 0;
}

static void put32(unsigned char *b, uint32_t v)
{
    b[0] = (unsigned char)v, b[1] = (unsigned char)(v >> 8), b[2] = (unsigned char)(v >> 16);
    b[3] = (unsigned char)(v >> 24);
}

/* 16-bit mono PCM WAV header for `bytes` of data. */
int myna_wav_header(FILE *f, uint32_t rate, uint64_t bytes)
{
    unsigned char h[44];
    uint32_t data = bytes > 0xFFFFFFD0u ? 0xFFFFFFD0u : (uint32_t)bytes;
    memcpy(h, "RIFF", 4), put32(h + 4, 36 + data), memcpy(h + 8, "WAVEfmt ", 8);
    put32(h + 16, 16), h[20] = 1, h[21] = 0, h[22] = 1, h[23] = 0;
    put32(h + 24, rate), put32(h + 28, rate * 2), h[32] = 2, h[33] = 0, h[34] = 16, h[35] = 0;
    memcpy(h + 36, "data", 4), put32(h + 40, data);
    return fwrite(h, 1, 44, f) == 44 ? 0 : -EIO;
}

static char *join_text(int argc, char **argv)
{
    size_t len = 0;
    char *t = NULL;
    for (int i = 0; i < argc; i++) {
        size_t n = strlen(argv[i]);
        char *p = realloc(t, len + n + 2);
        if (!p) {
            free(t);
            return NULL;
        }
        t = p;
        if (len)
            t[len++] = ' ';
        memcpy(t + len, argv[i], n + 1);
        len += n;
    }
    if (t && !strcmp(t, "-")) { /* stdin */
        char buf[4096];
        size_t n;
        len = 0;
        t[0] = 0;
        while ((n = fread(buf, 1, sizeof(buf), stdin)) > 0) {
            char *p = realloc(t, len + n + 1);
            if (!p) {
                free(t);
                return NULL;
            }
            t = p;
            memcpy(t + len, buf, n);
            len += n;
            t[len] = 0;
        }
    }
    return t;
}

static int speak_call(sd_bus *bus, const char *path, const char *text, int fd, const char *voice, double rate,
                      uint64_t *id, sd_bus_error *e)
{
    sd_bus_message *m = NULL, *reply = NULL;
    int r = sd_bus_message_new_method_call(bus, &m, BUS_NAME, path, SESSION_IFACE, "Speak");
    if (r >= 0)
        r = sd_bus_message_append(m, "s", text);
    if (r >= 0)
        r = sd_bus_message_open_container(m, 'a', "{sv}");
    if (r >= 0 && fd >= 0)
        r = sd_bus_message_append(m, "{sv}{sv}", "output", "h", fd, "format", "s", "s16le");
    if (r >= 0 && voice)
        r = sd_bus_message_append(m, "{sv}", "voice", "s", voice);
    if (r >= 0 && !isnan(rate))
        r = sd_bus_message_append(m, "{sv}", "rate", "d", rate);
    if (r >= 0)
        r = sd_bus_message_close_container(m);
    if (r >= 0)
        r = sd_bus_call(bus, m, 0, e, &reply);
    if (r >= 0)
        r = sd_bus_message_read(reply, "t", id);
    sd_bus_message_unref(m);
    sd_bus_message_unref(reply);
    return r;
}

int myna_cmd_say(const Opts *o, sd_bus *bus, int argc, char **argv)
{
    const char *out = NULL, *voice = NULL;
    double rate = NAN;
    int i = 0;
    for (; i < argc; i++) {
        const char *a = argv[i];
        if ((!strcmp(a, "-o") || !strcmp(a, "--output")) && i + 1 < argc)
            out = argv[++i];
        else if (!strncmp(a, "--output=", 9))
            out = a + 9;
        else if (!strncmp(a, "--voice=", 8))
            voice = a + 8;
        else if (!strncmp(a, "--rate=", 7)) {
            char *end;
            rate = strtod(a + 7, &end);
            if (end == a + 7 || *end || !isfinite(rate)) {
                fprintf(stderr, "myna: say --rate: '%s' is not a number\n", a + 7);
                return EXIT_USAGE;
            }
        } else if (!strcmp(a, "--"))
            break;
        else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "myna: say: unknown option '%s' (say [-o FILE|-] [--voice=NAME] [--rate=X] TEXT)\n", a);
            return EXIT_USAGE;
        } else
            break;
    }
    if (i < argc && !strcmp(argv[i], "--"))
        i++;
    if (i >= argc) {
        fprintf(stderr, "myna: say needs the text (or '-' to read it from stdin)\n");
        return EXIT_USAGE;
    }
    char *text = join_text(argc - i, argv + i);
    if (!text)
        return EXIT_ERROR;

    sd_bus_error e = SD_BUS_ERROR_NULL;
    sd_bus_message *reply = NULL;
    sd_bus_slot *slot = NULL;
    SayState st = {0};
    FILE *f = NULL;
    int p[2] = {-1, -1}, code = EXIT_OK, r;
    const char *path;
    char spath[256] = "";

    r = sd_bus_call_method(bus, BUS_NAME, OBJ_PATH, IFACE, "CreateSession", &e, &reply, "a{sv}", 0);
    if (r < 0) {
        code = myna_report(&e, r, "CreateSession");
        goto done;
    }
    if (sd_bus_message_read(reply, "o", &path) >= 0)
        snprintf(spath, sizeof(spath), "%s", path);
    r = sd_bus_match_signal(bus, &slot, BUS_NAME, spath, SESSION_IFACE, NULL, on_signal, &st);
    if (r < 0) {
        code = myna_report(&e, r, "watching the session");
        goto done;
    }
    if (out && pipe(p) < 0) {
        code = EXIT_ERROR;
        goto done;
    }
    r = speak_call(bus, spath, text, p[1], voice, rate, &st.id, &e);
    if (p[1] >= 0)
        close(p[1]), p[1] = -1;
    if (r < 0) {
        code = myna_report(&e, r, "Speak");
        goto done;
    }
    if (out) { /* opened once the daemon took the request: a refused one leaves no file behind */
        f = !strcmp(out, "-") ? stdout : fopen(out, "wb");
        if (!f) {
            fprintf(stderr, "myna: %s: %s\n", out, strerror(errno));
            code = EXIT_ERROR;
            goto done;
        }
        if (f != stdout && myna_wav_header(f, 22050, 0) < 0) { /* completed at the end */
            code = EXIT_ERROR;
            goto done;
        }
    }
    uint64_t bytes = 0;
    int eof = p[0] < 0;
    while (!eof || (!st.finished && !st.failed)) {
        while ((r = sd_bus_process(bus, NULL)) > 0) {
        }
        if (r < 0) {
            fprintf(stderr, "myna: lost the bus: %s\n", strerror(-r));
            code = EXIT_UNAVAILABLE;
            goto done;
        }
        if (eof && (st.finished || st.failed))
            break;
        struct pollfd pf[2] = {{.fd = sd_bus_get_fd(bus), .events = (short)sd_bus_get_events(bus)},
                               {.fd = eof ? -1 : p[0], .events = POLLIN}};
        if (poll(pf, 2, 1000) < 0 && errno != EINTR) {
            code = EXIT_ERROR;
            goto done;
        }
        if (!eof && (pf[1].revents & (POLLIN | POLLHUP | POLLERR))) {
            unsigned char buf[65536];
            ssize_t n = read(p[0], buf, sizeof(buf));
            if (n <= 0)
                eof = 1;
            else if (fwrite(buf, 1, (size_t)n, f) != (size_t)n) {
                fprintf(stderr, "myna: %s: write failed\n", out);
                code = EXIT_ERROR;
                goto done;
            } else
                bytes += (uint64_t)n;
        }
    }
    if (st.failed) {
        fprintf(stderr, "myna: Speak: %s (%s)\n", st.message, st.error);
        code = myna_exit_code_for(st.error);
    } else if (!strcmp(st.reason, "cancelled"))
        code = EXIT_CANCELLED;
    if (f && f != stdout && fseek(f, 0, SEEK_SET) == 0 && myna_wav_header(f, st.sample_rate ? st.sample_rate : 22050,
                                                                         bytes) < 0)
        code = EXIT_ERROR;
    if (!o->quiet && st.finished)
        fprintf(stderr, "say: %.2f s of audio at %u Hz (first audio %.0f ms, %.2f s in all)\n",
                st.sample_rate ? (double)st.samples / st.sample_rate : 0.0, st.sample_rate, st.first_audio_ms,
                st.total_ms / 1000.0);
    if (o->json && st.finished && strcmp(out ? out : "", "-")) {
        json_t *j = json_pack("{s:s, s:I, s:i, s:f, s:f}", "reason", st.reason, "samples", (json_int_t)st.samples,
                              "sample_rate", (int)st.sample_rate, "first_audio_ms", st.first_audio_ms, "total_ms",
                              st.total_ms);
        myna_print_json(j);
        json_decref(j);
    }
done:
    if (spath[0])
        sd_bus_call_method(bus, BUS_NAME, spath, SESSION_IFACE, "Close", NULL, NULL, "");
    if (f && f != stdout && fclose(f) != 0 && code == EXIT_OK)
        code = EXIT_ERROR;
    else if (f == stdout)
        fflush(stdout);
    if (p[0] >= 0)
        close(p[0]);
    if (p[1] >= 0)
        close(p[1]);
    sd_bus_slot_unref(slot);
    sd_bus_message_unref(reply);
    sd_bus_error_free(&e);
    free(text);
    return code;
}
