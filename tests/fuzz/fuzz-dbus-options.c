/* fuzz-dbus-options.c — libFuzzer target for mynad's D-Bus argument validation (daemon/options.h): the
 * bytes are a small program that builds a well-formed sd-bus message of any shape (an a{sv} of CreateSession,
 * Ask or Transcribe with known and unknown keys and values of every basic type, nested variants, arrays
 * and structs; Ask's full (s, a(sh), a{sv}) with attachment hints and an fd; or a wrong top-level
 * signature), then runs exactly the functions the handlers run: options_read_ask, options_parse,
 * options_parse_transcribe. Invariants: no crash/leak/UB, every rejection has a message, results are in
 * range. The message is built on an unconnected bus (socketpair), sealed and rewound — no dbus-daemon.
 * Seeds: tests/fuzz/corpus/dbus-options/.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "errors.h"
#include "options.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct {
    const uint8_t *p;
    size_t n;
} In;

static unsigned take(In *in)
{
    if (!in->n)
        return 0;
    in->n--;
    return *in->p++;
}

static uint64_t take64(In *in, int bytes)
{
    uint64_t v = 0;
    for (int i = 0; i < bytes; i++)
        v = v << 8 | take(in);
    return v;
}

/* A printable ASCII string of up to 40 bytes (valid UTF-8 for sd-bus), or a long one. */
static void take_str(In *in, char *buf, size_t cap)
{
    unsigned len = take(in);
    size_t n = len == 255 ? cap - 1 : len % 41;
    for (size_t i = 0; i < n && i < cap - 1; i++)
        buf[i] = (char)(0x20 + take(in) % 95);
    buf[n < cap - 1 ? n : cap - 1] = 0;
}

static const char *const KEYS[] = {"max_tokens", "temperature", "top_p", "min_p", "repeat_penalty", "top_k",
                                   "seed", "system_prompt", "speak", "voice", "language", "timestamps",
                                   "translate", "no_speech_threshold", ""};
static const char *const HINTS[] = {"image", "image/png", "video", "video/mp4", "audio", "audio/wav", "AUDIO/X",
                                    "text/plain", ""};

static int append_value(sd_bus_message *m, In *in, int depth);

static int append_variant(sd_bus_message *m, In *in, int depth)
{
    unsigned t = take(in) % 13;
    char s[4200];
    int r;
    switch (t) {
    case 0: return sd_bus_message_append(m, "v", "y", (uint8_t)take(in));
    case 1: return sd_bus_message_append(m, "v", "n", (int16_t)take64(in, 2));
    case 2: return sd_bus_message_append(m, "v", "q", (uint16_t)take64(in, 2));
    case 3: return sd_bus_message_append(m, "v", "i", (int32_t)take64(in, 4));
    case 4: return sd_bus_message_append(m, "v", "u", (uint32_t)take64(in, 4));
    case 5: return sd_bus_message_append(m, "v", "x", (int64_t)take64(in, 8));
    case 6: return sd_bus_message_append(m, "v", "t", take64(in, 8));
    case 7: {
        uint64_t bits = take64(in, 8);
        double d;
        memcpy(&d, &bits, sizeof(d)); /* NaN, Inf, denormals, anything */
        return sd_bus_message_append(m, "v", "d", d);
    }
    case 8:
        take_str(in, s, sizeof(s));
        return sd_bus_message_append(m, "v", "s", s);
    case 9: return sd_bus_message_append(m, "v", "b", (int)(take(in) & 1));
    case 10: return sd_bus_message_append(m, "v", "as", 2, "a", "b");
    case 11: return sd_bus_message_append(m, "v", "(id)", (int32_t)take(in), 1.5);
    default:
        if (depth > 3)
            return sd_bus_message_append(m, "v", "i", 1);
        r = sd_bus_message_open_container(m, 'v', "v");
        if (r >= 0)
            r = append_value(m, in, depth + 1);
        if (r >= 0)
            r = sd_bus_message_close_container(m);
        return r;
    }
}

static int append_value(sd_bus_message *m, In *in, int depth) { return append_variant(m, in, depth); }

static int append_dict(sd_bus_message *m, In *in)
{
    int r = sd_bus_message_open_container(m, 'a', "{sv}");
    unsigned n = take(in) % 70; /* past the 64-entry cap sometimes */
    for (unsigned i = 0; r >= 0 && i < n && in->n; i++) {
        char key[64];
        unsigned k = take(in);
        if (k & 0x80)
            take_str(in, key, sizeof(key));
        else
            snprintf(key, sizeof(key), "%s", KEYS[k % (sizeof(KEYS) / sizeof(KEYS[0]))]);
        r = sd_bus_message_open_container(m, 'e', "sv");
        if (r >= 0)
            r = sd_bus_message_append(m, "s", key);
        if (r >= 0)
            r = append_variant(m, in, 0);
        if (r >= 0)
            r = sd_bus_message_close_container(m);
    }
    if (r >= 0)
        r = sd_bus_message_close_container(m);
    return r;
}

static void check_sampling(const LmSampling *sp)
{
    if (!(sp->temperature >= 0 && sp->temperature <= 10) || !(sp->top_p > 0 && sp->top_p <= 1) ||
        sp->max_tokens < 1 || sp->top_k < 0)
        abort(); /* a value out of range got through validation */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static sd_bus *bus;
    static int devnull = -1;
    In in = {data, size};
    sd_bus_message *m = NULL;
    Config cfg;
    char err[256];
    int r;

    if (!bus) {
        int sv[2];
        if (sd_bus_new(&bus) < 0 || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0 ||
            sd_bus_set_fd(bus, sv[0], sv[0]) < 0 || sd_bus_start(bus) < 0)
            abort();
        devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
    }
    config_defaults(&cfg);
    cfg.max_attachments = 1 + (int)(take(&in) % 16);
    unsigned mode = take(&in) % 6;
    if (sd_bus_message_new_method_call(bus, &m, "org.myna.Assistant1", "/org/myna/Assistant1",
                                       "org.myna.Assistant1", "X") < 0)
        return 0;
    r = 0;
    if (mode == 3) { /* Ask: s a(sh) a{sv} */
        char text[4200];
        take_str(&in, text, sizeof(text));
        r = sd_bus_message_append(m, "s", text);
        if (r >= 0)
            r = sd_bus_message_open_container(m, 'a', "(sh)");
        unsigned n = take(&in) % 20;
        for (unsigned i = 0; r >= 0 && i < n; i++) {
            char hint[160];
            unsigned k = take(&in);
            if (k & 0x80)
                take_str(&in, hint, sizeof(hint));
            else
                snprintf(hint, sizeof(hint), "%s", HINTS[k % (sizeof(HINTS) / sizeof(HINTS[0]))]);
            r = sd_bus_message_append(m, "(sh)", hint, devnull);
        }
        if (r >= 0)
            r = sd_bus_message_close_container(m);
        if (r >= 0 && take(&in) % 8)
            r = append_dict(m, &in);
    } else if (mode == 4) { /* a wrong top-level shape */
        r = take(&in) & 1 ? sd_bus_message_append(m, "as", 1, "x") : sd_bus_message_append(m, "i", 7);
    } else if (mode != 5) { /* mode 5: nothing at all */
        r = append_dict(m, &in);
    }
    if (r < 0 || sd_bus_message_seal(m, 1, 0) < 0 || sd_bus_message_rewind(m, 1) < 0) {
        sd_bus_message_unref(m);
        return 0;
    }
    err[0] = 0;
    if (mode == 3) {
        AskArgs a;
        RequestOptions o;
        r = options_read_ask(m, &cfg, &a, err, sizeof(err));
        if (r == 0) {
            if (a.n_att > cfg.max_attachments || (a.att_err && !a.att_msg[0]))
                abort();
            for (int i = 0; i < a.n_att; i++)
                if (a.kind[i] == MEDIA_NONE || a.fd[i] < 0)
                    abort();
            options_defaults(&o, &cfg);
            r = options_parse(m, 0, &cfg, &o, err, sizeof(err));
            if (r == 0)
                check_sampling(&o.sampling);
            options_clear(&o);
        }
    } else if (mode == 2) {
        SpeechOptions so;
        speech_options_default(&so, cfg.max_audio_bytes, cfg.max_audio_seconds);
        r = options_parse_transcribe(m, &so, err, sizeof(err));
        if (r == 0 && (!(so.whisper.temperature_inc >= 0 && so.whisper.temperature_inc <= 1) ||
                       strlen(so.language) >= sizeof(so.language) || so.whisper.max_tokens < 0 ||
                       so.whisper.max_tokens > 224))
            abort();
    } else {
        RequestOptions o;
        options_defaults(&o, &cfg);
        r = options_parse(m, mode == 0, &cfg, &o, err, sizeof(err));
        if (r == 0) {
            check_sampling(&o.sampling);
            if (o.system_prompt && strlen(o.system_prompt) > OPTIONS_SYSTEM_PROMPT_MAX)
                abort();
        }
        options_clear(&o);
    }
    if (r < 0 && (!err[0] || !strncmp(error_dbus_name(r), "org.myna.Error.Internal", 23)) && r != -ENOMEM)
        abort(); /* every rejection names a client error and says why */
    sd_bus_message_unref(m);
    return 0;
}
