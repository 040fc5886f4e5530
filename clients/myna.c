/* myna.c — the command-line client of mynad: `myna ask`, `myna chat`, `myna status`, `myna models`,
 * `myna config`, `myna transcribe`, `myna listen`. Speaks D-Bus only (org.myna.Assistant1, docs/DBUS.md);
 * the bus starts mynad through D-Bus activation when it is not running. This file: usage, the command line,
 * status/models/config and dispatch; ask/chat are in myna-chat.c, transcribe/listen in myna-listen.c (listen
 * captures and segments audio there and sends each utterance to the daemon's Transcribe as a memfd), error
 * mapping in myna-bus.c. Not here: any model code — the daemon runs Whisper.
 * Exit codes: 0 ok, 1 error (the request failed or the daemon reported an error), 2 usage, 3 daemon
 * unavailable (no bus, cannot be activated, or no model), 4 cancelled (Ctrl-C), 5 request rejected
 * (InvalidArgument, TooLarge, UnsupportedMedia, Busy, AccessDenied).
 */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-bus.h>

#include "bus-open.h"
#include "config.h"
#include "myna-client.h"

static void usage(FILE *f)
{
    fprintf(f,
            "Usage: myna [--address=ADDR | --system] [--json] COMMAND [ARGS]\n"
            "Talk to the Myna assistant daemon (mynad) over D-Bus.\n\n"
            "Commands:\n"
            "  ask [OPTIONS] TEXT...   ask one question; the answer streams to stdout (TEXT '-' reads stdin)\n"
            "  chat [OPTIONS]          conversation with history; Ctrl-C stops an answer, Ctrl-D exits,\n"
            "                          /reset forgets the history\n"
            "  status                  daemon version, state, backend\n"
            "  models                  the loaded model(s)\n"
            "  config                  the daemon's effective configuration\n"
            "  transcribe FILE|-       speech to text by the daemon's Whisper (- reads stdin); any audio\n"
            "                          format FFmpeg decodes (WAV, FLAC, MP3, Ogg, …)\n"
            "  listen [OPTIONS]        capture from the microphone, cut utterances with VAD and print each\n"
            "                          one's transcript as you speak; Ctrl-C stops\n"
            "  say [-o FILE|-] [--voice=NAME] [--rate=X] TEXT...\n"
            "                          the daemon speaks TEXT with a Piper voice: -o FILE writes a 16-bit WAV\n"
            "                          streamed from the daemon, -o - raw s16le to stdout (TEXT '-' reads\n"
            "                          stdin); without -o the daemon's speaker plays it\n"
            "  talk --input FILE --output FILE [--voice=NAME] [--duplex=auto|half|full] [--speed=X]\n"
            "                          a voice conversation from a recording: prints listening / thinking /\n"
            "                          speaking / interrupted, what was heard and said; the answers go to\n"
            "                          FILE (16 kHz WAV); --speed: times real time (0 = as fast as possible)\n\n"
            "Request options:\n"
            "  --max-tokens=N  --temperature=X  --top-p=X  --top-k=N  --min-p=X  --seed=N\n"
            "  --system-prompt=TEXT\n"
            "  --speak [-o FILE]  (ask, chat) the answer is also spoken while it streams: by the daemon's\n"
            "                  speaker, or with -o into FILE as a 16-bit WAV (answers appended)\n"
            "  --image FILE    (ask) attach an image; repeatable; needs a vision model in mynad\n"
            "  --video FILE    (ask) attach a video (the daemon samples video_frames frames)\n"
            "  --audio FILE    (ask) attach audio: the daemon transcribes it with Whisper; the transcript is\n"
            "                  the question (TEXT may then be left out) or follows TEXT after a blank line\n\n"
            "Speech options (transcribe, listen):\n"
            "  --language=CODE   spoken language for multilingual models (default en)\n"
            "  --no-timestamps   decode without timestamp tokens\n"
            "  --device=NAME     (listen) PortAudio input device (name substring; default device)\n"
            "  --input=FILE      (listen) read 16 kHz mono s16 WAV or raw s16le from FILE instead of a device\n"
            "  --speed=X         (listen --input) pace: 1 = real time (default), 0 = as fast as possible\n\n"
            "  --json          machine-readable output\n"
            "  --address=ADDR  connect to this D-Bus address; --system: the system bus (default: session)\n"
            "  --help, --version\n\n"
            "Exit codes: 0 ok, 1 error, 2 usage, 3 daemon unavailable or no model, 4 cancelled,\n"
            "5 request rejected (invalid, too large, busy, unsupported media, access denied).\n");
}

static int parse_num(const char *s, double *v)
{
    char *end;
    errno = 0;
    *v = strtod(s, &end);
    return errno || end == s || *end || !isfinite(*v) ? -EINVAL : 0;
}

/* Parse a request option; 1 if it was one, 0 if not, -EINVAL when its value is bad. */
static int parse_request_opt(const char *a, Opts *o)
{
    double v;
    const char *eq = strchr(a, '=');
    if (!eq)
        return 0;
    size_t n = (size_t)(eq - a);
#define IS(name) (n == strlen(name) && !strncmp(a, name, n))
    if (IS("--system-prompt")) {
        o->system_prompt = eq + 1;
        return 1;
    }
    if (!(IS("--max-tokens") || IS("--temperature") || IS("--top-p") || IS("--top-k") || IS("--min-p") || IS("--seed")))
        return 0;
    if (parse_num(eq + 1, &v) < 0) {
        fprintf(stderr, "myna: %.*s: '%s' is not a number\n", (int)n, a, eq + 1);
        return -EINVAL;
    }
    if (IS("--max-tokens")) o->max_tokens = (long)v;
    else if (IS("--temperature")) o->temperature = v;
    else if (IS("--top-p")) o->top_p = v;
    else if (IS("--top-k")) o->top_k = (long)v;
    else if (IS("--min-p")) o->min_p = v;
    else o->seed = (long long)v;
#undef IS
    return 1;
}

static int get_props(sd_bus *bus, char **version, char **state, char **backend, sd_bus_message **models,
                     sd_bus_error *e)
{
    int r = sd_bus_get_property_string(bus, BUS_NAME, OBJ_PATH, IFACE, "Version", e, version);
    if (r >= 0)
        r = sd_bus_get_property_string(bus, BUS_NAME, OBJ_PATH, IFACE, "State", e, state);
    if (r >= 0)
        r = sd_bus_get_property_string(bus, BUS_NAME, OBJ_PATH, IFACE, "Backend", e, backend);
    if (r >= 0)
        r = sd_bus_get_property(bus, BUS_NAME, OBJ_PATH, IFACE, "Models", e, models, "a(ssttsu)");
    return r;
}

static int cmd_status(const Opts *o, sd_bus *bus, int models_only)
{
    sd_bus_error e = SD_BUS_ERROR_NULL;
    sd_bus_message *models = NULL;
    char *version = NULL, *state = NULL, *backend = NULL;
    json_t *jm = json_array();
    int r = get_props(bus, &version, &state, &backend, &models, &e);
    if (r < 0) {
        int code = myna_report(&e, r, "daemon unavailable");
        sd_bus_error_free(&e);
        json_decref(jm);
        return code == EXIT_ERROR ? EXIT_UNAVAILABLE : code;
    }
    r = sd_bus_message_enter_container(models, 'a', "(ssttsu)");
    for (;;) {
        const char *name, *path, *family;
        uint64_t params, bytes;
        uint32_t n_ctx;
        if (r < 0 || sd_bus_message_read(models, "(ssttsu)", &name, &path, &params, &bytes, &family, &n_ctx) <= 0)
            break;
        json_array_append_new(jm, json_pack("{s:s, s:s, s:I, s:I, s:s, s:i}", "name", name, "path", path, "params",
                                            (json_int_t)params, "weight_bytes", (json_int_t)bytes, "chat_family",
                                            family, "n_ctx", (int)n_ctx));
        if (!o->json && models_only)
            printf("%s\t%s\t%.1fM params\t%.1f MiB\t%s\tctx %u\n", name, path, (double)params / 1e6,
                   (double)bytes / 1048576.0, family, n_ctx);
    }
    if (o->json) {
        json_t *j = models_only ? json_incref(jm)
                                : json_pack("{s:s, s:s, s:s, s:O}", "version", version, "state", state, "backend",
                                            backend, "models", jm);
        myna_print_json(j);
        json_decref(j);
    } else if (!models_only) {
        printf("mynad %s\nstate: %s\nbackend: %s\n", version, state, backend);
        for (size_t i = 0; i < json_array_size(jm); i++)
            printf("model: %s (%s)\n", json_string_value(json_object_get(json_array_get(jm, i), "name")),
                   json_string_value(json_object_get(json_array_get(jm, i), "path")));
    }
    int code = !strncmp(state, "error", 5) ? EXIT_UNAVAILABLE : EXIT_OK;
    json_decref(jm);
    sd_bus_message_unref(models);
    free(version);
    free(state);
    free(backend);
    return code;
}

static int cmd_config(const Opts *o, sd_bus *bus)
{
    sd_bus_error e = SD_BUS_ERROR_NULL;
    sd_bus_message *reply = NULL;
    json_t *j = json_object();
    int r = sd_bus_call_method(bus, BUS_NAME, OBJ_PATH, IFACE, "GetConfig", &e, &reply, "");
    if (r < 0) {
        int code = myna_report(&e, r, "GetConfig");
        sd_bus_error_free(&e);
        json_decref(j);
        return code;
    }
    sd_bus_message_enter_container(reply, 'a', "{sv}");
    while (sd_bus_message_enter_container(reply, 'e', "sv") > 0) {
        const char *k, *contents, *s;
        int32_t i;
        double d;
        sd_bus_message_read(reply, "s", &k);
        sd_bus_message_peek_type(reply, NULL, &contents);
        if (!strcmp(contents, "s") && sd_bus_message_read(reply, "v", "s", &s) >= 0)
            json_object_set_new(j, k, json_string(s));
        else if (!strcmp(contents, "i") && sd_bus_message_read(reply, "v", "i", &i) >= 0)
            json_object_set_new(j, k, json_integer(i));
        else if (!strcmp(contents, "d") && sd_bus_message_read(reply, "v", "d", &d) >= 0)
            json_object_set_new(j, k, json_real(d));
        else
            sd_bus_message_skip(reply, "v");
        sd_bus_message_exit_container(reply);
    }
    if (o->json) {
        myna_print_json(j);
    } else {
        const char *k;
        json_t *v;
        json_object_foreach(j, k, v) {
            if (json_is_string(v))
                printf("%s = %s\n", k, json_string_value(v));
            else if (json_is_integer(v))
                printf("%s = %lld\n", k, (long long)json_integer_value(v));
            else
                printf("%s = %g\n", k, json_real_value(v));
        }
    }
    json_decref(j);
    sd_bus_message_unref(reply);
    return EXIT_OK;
}

int main(int argc, char **argv)
{
    Opts o = {.max_tokens = -1, .top_k = -1, .seed = -1, .temperature = NAN, .top_p = NAN, .min_p = NAN,
              .speed = -1};
    const char *cmd = NULL;
    char *text = NULL;
    size_t text_len = 0;
    sd_bus *bus = NULL;
    int i, r, code;

    for (i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (cmd && (!strcmp(cmd, "say") || !strcmp(cmd, "talk")))
            break; /* say and talk parse their own options (myna-say.c, myna-talk.c) */
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return EXIT_OK;
        } else if (!strcmp(a, "--version")) {
            printf("myna %s\n", MYNA_VERSION);
            return EXIT_OK;
        } else if (!strcmp(a, "--json")) {
            o.json = 1;
        } else if (!strcmp(a, "--quiet") || !strcmp(a, "-q")) {
            o.quiet = 1;
        } else if (!strcmp(a, "--system")) {
            o.system_bus = 1;
        } else if (!strncmp(a, "--address=", 10)) {
            o.address = a + 10;
        } else if (!strcmp(a, "--speak")) {
            o.speak = 1;
        } else if (!strcmp(a, "-o") && cmd && (!strcmp(cmd, "ask") || !strcmp(cmd, "chat"))) {
            if (i + 1 >= argc || !argv[i + 1][0] || !strcmp(argv[i + 1], "-")) {
                fprintf(stderr, "myna: -o needs a FILE (the spoken answers as a WAV)\n");
                return EXIT_USAGE;
            }
            o.speak_out = argv[++i];
        } else if (!strcmp(a, "--no-timestamps")) {
            o.no_timestamps = 1;
        } else if (!strncmp(a, "--language=", 11)) {
            o.language = a + 11;
        } else if (!strncmp(a, "--device=", 9)) {
            o.device = a + 9;
        } else if (!strncmp(a, "--input=", 8)) {
            o.input = a + 8;
        } else if (!strncmp(a, "--speed=", 8)) {
            if (parse_num(a + 8, &o.speed) < 0 || o.speed < 0 || o.speed > 100) {
                fprintf(stderr, "myna: --speed: '%s' is not a number in [0, 100]\n", a + 8);
                return EXIT_USAGE;
            }
        } else if (!strcmp(a, "--audio") || !strncmp(a, "--audio=", 8)) {
            const char *file = a[7] == '=' ? a + 8 : i + 1 < argc ? argv[++i] : NULL;
            if (!file || !*file || o.n_media == 16) {
                fprintf(stderr, "myna: --audio needs a FILE (at most 16 attachments)\n");
                return EXIT_USAGE;
            }
            o.media_hint[o.n_media] = "audio";
            o.media_path[o.n_media++] = file;
        } else if (!strcmp(a, "--image") || !strcmp(a, "--video") || !strncmp(a, "--image=", 8) ||
                   !strncmp(a, "--video=", 8)) {
            const char *file = a[7] == '=' ? a + 8 : i + 1 < argc ? argv[++i] : NULL;
            if (!file || !*file) {
                fprintf(stderr, "myna: %.7s needs a FILE\n", a);
                return EXIT_USAGE;
            }
            if (o.n_media == 16) {
                fprintf(stderr, "myna: at most 16 attachments\n");
                return EXIT_USAGE;
            }
            o.media_hint[o.n_media] = !strncmp(a, "--image", 7) ? "image" : "video";
            o.media_path[o.n_media++] = file;
        } else if ((r = parse_request_opt(a, &o)) != 0) {
            if (r < 0)
                return EXIT_USAGE;
        } else if (!strcmp(a, "--")) {
            i++;
            break;
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "myna: unknown option '%s' (try --help)\n", a);
            return EXIT_USAGE;
        } else if (!cmd) {
            cmd = a;
        } else {
            break; /* the question */
        }
    }
    if (!cmd) {
        usage(stderr);
        return EXIT_USAGE;
    }
    if ((o.speak || o.speak_out) && strcmp(cmd, "ask") && strcmp(cmd, "chat")) {
        fprintf(stderr, "myna: --speak goes with ask and chat\n");
        return EXIT_USAGE;
    }
    if (o.speak_out && !o.speak) {
        fprintf(stderr, "myna: -o FILE goes with --speak\n");
        return EXIT_USAGE;
    }
    if (o.n_media > 0 && strcmp(cmd, "ask")) {
        fprintf(stderr, "myna: --image/--video/--audio go with ask\n");
        return EXIT_USAGE;
    }
    const char *transcribe_file = NULL;
    int has_audio = 0;
    for (int k = 0; k < o.n_media; k++)
        has_audio |= !strcmp(o.media_hint[k], "audio");
    if (!strcmp(cmd, "ask") && i >= argc && has_audio) {
        text = strdup(""); /* the transcript is the question */
        if (!text)
            return EXIT_ERROR;
    } else if (!strcmp(cmd, "transcribe")) {
        if (i + 1 != argc) {
            fprintf(stderr, "myna: transcribe needs one FILE (or '-' for stdin)\n");
            return EXIT_USAGE;
        }
        transcribe_file = argv[i];
    } else if (!strcmp(cmd, "say") || !strcmp(cmd, "talk")) {
        /* myna_cmd_say / myna_cmd_talk read argv[i..] */
    } else if (!strcmp(cmd, "listen")) {
        if (i < argc) {
            fprintf(stderr, "myna: listen takes no arguments (use --input=FILE or --device=NAME)\n");
            return EXIT_USAGE;
        }
    } else if (!strcmp(cmd, "ask")) {
        if (i >= argc) {
            fprintf(stderr, "myna: ask needs the question (or '-' to read it from stdin)\n");
            return EXIT_USAGE;
        }
        for (; i < argc; i++) { /* the rest of the words, joined by spaces */
            size_t n = strlen(argv[i]);
            char *t = realloc(text, text_len + n + 2);
            if (!t) {
                free(text);
                return EXIT_ERROR;
            }
            text = t;
            if (text_len)
                text[text_len++] = ' ';
            memcpy(text + text_len, argv[i], n + 1);
            text_len += n;
        }
        if (!strcmp(text, "-")) {
            char buf[4096];
            size_t n;
            text_len = 0;
            text[0] = 0;
            while ((n = fread(buf, 1, sizeof(buf), stdin)) > 0) {
                char *t = realloc(text, text_len + n + 1);
                if (!t) {
                    free(text);
                    return EXIT_ERROR;
                }
                text = t;
                memcpy(text + text_len, buf, n);
                text_len += n;
                text[text_len] = 0;
            }
        }
    } else if (strcmp(cmd, "chat") && strcmp(cmd, "status") && strcmp(cmd, "models") && strcmp(cmd, "config")) {
        fprintf(stderr, "myna: unknown command '%s' (try --help)\n", cmd);
        return EXIT_USAGE;
    } else if (i < argc) {
        fprintf(stderr, "myna: %s takes no arguments\n", cmd);
        return EXIT_USAGE;
    }
    r = bus_open(o.address, o.system_bus, &bus);
    if (r < 0) {
        fprintf(stderr, "myna: cannot connect to the %s bus: %s\n",
                o.address ? o.address : o.system_bus ? "system" : "session", strerror(-r));
        free(text);
        return EXIT_UNAVAILABLE;
    }
    if (!strcmp(cmd, "ask"))
        code = myna_cmd_converse(&o, bus, text, 0);
    else if (transcribe_file)
        code = myna_cmd_transcribe(&o, bus, transcribe_file);
    else if (!strcmp(cmd, "listen"))
        code = myna_cmd_listen(&o, bus);
    else if (!strcmp(cmd, "say"))
        code = myna_cmd_say(&o, bus, argc - i, argv + i);
    else if (!strcmp(cmd, "talk"))
        code = myna_cmd_talk(&o, bus, argc - i, argv + i);
    else if (!strcmp(cmd, "chat"))
        code = myna_cmd_converse(&o, bus, NULL, 1);
    else if (!strcmp(cmd, "config"))
        code = cmd_config(&o, bus);
    else
        code = cmd_status(&o, bus, !strcmp(cmd, "models"));
    sd_bus_flush_close_unref(bus);
    free(text);
    return code;
}
