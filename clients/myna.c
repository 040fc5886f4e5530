/* myna.c — the command-line client of mynad: `myna ask`, `myna chat`, `myna status`, `myna models`,
 * `myna config`, `myna transcribe`, `myna listen`. Speaks D-Bus only (org.myna.Assistant1, docs/DBUS.md);
 * the bus starts mynad through D-Bus activation when it is not running. Not here: any model code — listen
 * captures and segments audio here (speech/audio-device.h, speech/vad.h) and sends each utterance to the
 * daemon's Transcribe as a memfd; the daemon runs Whisper.
 * Exit codes: 0 ok, 1 error (the request failed or the daemon reported an error), 2 usage, 3 daemon
 * unavailable (no bus, cannot be activated, or no model), 4 cancelled (Ctrl-C), 5 request rejected
 * (InvalidArgument, TooLarge, UnsupportedMedia, Busy, AccessDenied).
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>
#include <unistd.h>

#include "audio-device.h"
#include "config.h"
#include "vad.h"

#define BUS_NAME "org.myna.Assistant1"
#define OBJ_PATH "/org/myna/Assistant1"
#define IFACE "org.myna.Assistant1"
#define SESSION_IFACE "org.myna.Session1"

enum { EXIT_OK = 0, EXIT_ERROR = 1, EXIT_USAGE = 2, EXIT_UNAVAILABLE = 3, EXIT_CANCELLED = 4, EXIT_REJECTED = 5 };

typedef struct {
    const char *address;
    int system_bus, json, quiet;
    /* request options (-1 / NAN = not given) */
    long max_tokens, top_k;
    long long seed;
    double temperature, top_p, min_p;
    const char *system_prompt;
    /* ask --image FILE / --video FILE: sent as (hint, fd) attachments, never as paths */
    const char *media_path[16], *media_hint[16];
    int n_media;
    /* transcribe / listen */
    const char *language, *device, *input;
    int no_timestamps;
    double speed;
} Opts;

typedef struct {
    Opts *o;
    sd_bus *bus;
    sd_event *ev;
    char session[256];
    uint64_t req;            /* running request, 0 = none */
    int cancel_sent;
    int exit_code;
    int chat;                /* chat mode: keep going after Finished */
    sd_event_source *stdin_src;
    char line[65536];
    size_t line_len;
    int eof;
    char *answer;            /* accumulated text for --json */
    size_t answer_len, answer_cap;
    json_t *last_stats;
    char reason[32];
} Client;

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
            "                          one's transcript as you speak; Ctrl-C stops\n\n"
            "Request options:\n"
            "  --max-tokens=N  --temperature=X  --top-p=X  --top-k=N  --min-p=X  --seed=N\n"
            "  --system-prompt=TEXT\n"
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

static int exit_code_for(const char *error_name)
{
    if (!error_name)
        return EXIT_ERROR;
    if (!strcmp(error_name, "org.myna.Error.NoModel") || !strncmp(error_name, "org.freedesktop.DBus.Error.Spawn", 32) ||
        !strcmp(error_name, "org.freedesktop.DBus.Error.ServiceUnknown") ||
        !strcmp(error_name, "org.freedesktop.DBus.Error.NameHasNoOwner") ||
        !strcmp(error_name, "org.freedesktop.DBus.Error.NoServer") ||
        !strcmp(error_name, "org.freedesktop.DBus.Error.Disconnected") ||
        !strcmp(error_name, "org.freedesktop.DBus.Error.NoReply") ||
        !strcmp(error_name, "org.freedesktop.DBus.Error.Timeout"))
        return EXIT_UNAVAILABLE;
    if (!strcmp(error_name, "org.myna.Error.Cancelled"))
        return EXIT_CANCELLED;
    if (!strcmp(error_name, "org.myna.Error.InvalidArgument") || !strcmp(error_name, "org.myna.Error.TooLarge") ||
        !strcmp(error_name, "org.myna.Error.UnsupportedMedia") || !strcmp(error_name, "org.myna.Error.Busy") ||
        !strcmp(error_name, "org.myna.Error.AccessDenied"))
        return EXIT_REJECTED;
    return EXIT_ERROR;
}

static int report(const sd_bus_error *e, int r, const char *what)
{
    const char *name = e && sd_bus_error_is_set(e) ? e->name : NULL;
    const char *msg = e && e->message ? e->message : strerror(r < 0 ? -r : EIO);
    fprintf(stderr, "myna: %s: %s%s%s%s\n", what, msg, name ? " (" : "", name ? name : "", name ? ")" : "");
    return name ? exit_code_for(name) : EXIT_UNAVAILABLE;
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

static int append_options(sd_bus_message *m, const Opts *o, int session)
{
    int r = sd_bus_message_open_container(m, 'a', "{sv}");
    if (r >= 0 && o->max_tokens >= 0)
        r = sd_bus_message_append(m, "{sv}", "max_tokens", "u", (uint32_t)o->max_tokens);
    if (r >= 0 && o->top_k >= 0)
        r = sd_bus_message_append(m, "{sv}", "top_k", "u", (uint32_t)o->top_k);
    if (r >= 0 && o->seed >= 0)
        r = sd_bus_message_append(m, "{sv}", "seed", "t", (uint64_t)o->seed);
    if (r >= 0 && !isnan(o->temperature))
        r = sd_bus_message_append(m, "{sv}", "temperature", "d", o->temperature);
    if (r >= 0 && !isnan(o->top_p))
        r = sd_bus_message_append(m, "{sv}", "top_p", "d", o->top_p);
    if (r >= 0 && !isnan(o->min_p))
        r = sd_bus_message_append(m, "{sv}", "min_p", "d", o->min_p);
    if (r >= 0 && session && o->system_prompt)
        r = sd_bus_message_append(m, "{sv}", "system_prompt", "s", o->system_prompt);
    if (r >= 0)
        r = sd_bus_message_close_container(m);
    return r;
}

static int connect_bus(const Opts *o, sd_bus **ret)
{
    sd_bus *bus = NULL;
    int r;
    if (o->address) {
        r = sd_bus_new(&bus);
        if (r >= 0)
            r = sd_bus_set_address(bus, o->address);
        if (r >= 0)
            r = sd_bus_set_bus_client(bus, 1);
        if (r >= 0)
            r = sd_bus_start(bus);
        if (r < 0) {
            sd_bus_unref(bus);
            return r;
        }
        *ret = bus;
        return 0;
    }
    return o->system_bus ? sd_bus_open_system(ret) : sd_bus_open_user(ret);
}

/* Read State (this also activates the daemon). 0 ready/loading, or an exit code. */
static int check_state(Client *c)
{
    sd_bus_error e = SD_BUS_ERROR_NULL;
    char *state = NULL;
    int r = sd_bus_get_property_string(c->bus, BUS_NAME, OBJ_PATH, IFACE, "State", &e, &state);
    if (r < 0) {
        int code = report(&e, r, "daemon unavailable");
        sd_bus_error_free(&e);
        return code == EXIT_ERROR ? EXIT_UNAVAILABLE : code;
    }
    if (!strncmp(state, "error", 5)) {
        fprintf(stderr, "myna: the daemon has no model: %s\n", state);
        free(state);
        return EXIT_UNAVAILABLE;
    }
    if (!strcmp(state, "loading") && !c->o->quiet)
        fprintf(stderr, "myna: the daemon is loading the model, the answer starts when it is ready…\n");
    free(state);
    return 0;
}

static void answer_add(Client *c, const char *t)
{
    size_t n = strlen(t);
    if (!c->o->json)
        return;
    if (c->answer_len + n + 1 > c->answer_cap) {
        size_t cap = (c->answer_cap + n + 1) * 2;
        char *a = realloc(c->answer, cap);
        if (!a)
            return;
        c->answer = a;
        c->answer_cap = cap;
    }
    memcpy(c->answer + c->answer_len, t, n + 1);
    c->answer_len += n;
}

static void prompt(Client *c)
{
    if (c->chat && isatty(STDIN_FILENO)) {
        fputs("> ", stdout);
        fflush(stdout);
    }
}

static void process_input(Client *c);

static void request_done(Client *c, int code)
{
    c->req = 0;
    c->cancel_sent = 0;
    if (!c->chat) {
        c->exit_code = code;
        sd_event_exit(c->ev, 0);
        return;
    }
    prompt(c);
    if (c->stdin_src)
        process_input(c);
}

static json_t *stats_to_json(sd_bus_message *m)
{
    json_t *o = json_object();
    const char *k, *contents;
    if (sd_bus_message_enter_container(m, 'a', "{sv}") < 0)
        return o;
    while (sd_bus_message_enter_container(m, 'e', "sv") > 0) {
        if (sd_bus_message_read(m, "s", &k) < 0 || sd_bus_message_peek_type(m, NULL, &contents) < 0)
            break;
        if (!strcmp(contents, "u")) {
            uint32_t u;
            sd_bus_message_read(m, "v", "u", &u);
            json_object_set_new(o, k, json_integer(u));
        } else if (!strcmp(contents, "d")) {
            double d;
            sd_bus_message_read(m, "v", "d", &d);
            json_object_set_new(o, k, json_real(d));
        } else if (!strcmp(contents, "s")) {
            const char *t;
            sd_bus_message_read(m, "v", "s", &t);
            json_object_set_new(o, k, json_string(t));
        } else {
            sd_bus_message_skip(m, "v");
        }
        sd_bus_message_exit_container(m);
    }
    sd_bus_message_exit_container(m);
    return o;
}

static int on_session_signal(sd_bus_message *m, void *userdata, sd_bus_error *e)
{
    Client *c = userdata;
    const char *member = sd_bus_message_get_member(m);
    uint64_t id;

    if (!member || sd_bus_message_read(m, "t", &id) < 0 || id != c->req)
        return 0;
    if (!strcmp(member, "Token")) {
        const char *t;
        if (sd_bus_message_read(m, "s", &t) >= 0) {
            if (!c->o->json) {
                fputs(t, stdout);
                fflush(stdout);
            }
            answer_add(c, t);
        }
    } else if (!strcmp(member, "Finished")) {
        const char *reason = "";
        sd_bus_message_read(m, "s", &reason);
        snprintf(c->reason, sizeof(c->reason), "%s", reason);
        json_decref(c->last_stats);
        c->last_stats = stats_to_json(m);
        if (c->o->json) {
            json_t *j = json_pack("{s:I, s:s, s:s, s:O}", "request_id", (json_int_t)id, "text",
                                  c->answer ? c->answer : "", "reason", reason, "stats", c->last_stats);
            char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
            if (s)
                printf("%s\n", s);
            free(s);
            json_decref(j);
            c->answer_len = 0;
            if (c->answer)
                c->answer[0] = 0;
        } else {
            putchar('\n');
            const char *heard = json_string_value(json_object_get(c->last_stats, "transcript"));
            if (heard && !c->o->quiet)
                fprintf(stderr, "myna: (the question came from audio: \"%s\")\n", heard);
            if (!strcmp(reason, "length") && !c->o->quiet)
                fprintf(stderr, "myna: (stopped at max_tokens)\n");
        }
        fflush(stdout);
        request_done(c, !strcmp(reason, "cancelled") ? EXIT_CANCELLED : EXIT_OK);
    } else if (!strcmp(member, "Failed")) {
        const char *name = "", *msg = "";
        sd_bus_message_read(m, "ss", &name, &msg);
        fprintf(stderr, "\nmyna: request failed: %s (%s)\n", msg, name);
        request_done(c, exit_code_for(name));
    }
    return 0;
}

static int ask(Client *c, const char *text)
{
    sd_bus_message *m = NULL, *reply = NULL;
    sd_bus_error e = SD_BUS_ERROR_NULL;
    int r = sd_bus_message_new_method_call(c->bus, &m, BUS_NAME, c->session, SESSION_IFACE, "Ask");
    int fds[16], n_fds = 0;
    if (r >= 0)
        r = sd_bus_message_append(m, "s", text);
    if (r >= 0)
        r = sd_bus_message_open_container(m, 'a', "(sh)");
    for (int i = 0; r >= 0 && i < c->o->n_media; i++) {
        int fd = open(c->o->media_path[i], O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            fprintf(stderr, "myna: %s: %s\n", c->o->media_path[i], strerror(errno));
            for (int k = 0; k < n_fds; k++)
                close(fds[k]);
            sd_bus_message_unref(m);
            return EXIT_USAGE;
        }
        fds[n_fds++] = fd;
        r = sd_bus_message_append(m, "(sh)", c->o->media_hint[i], fd); /* sd-bus sends a dup */
    }
    if (r >= 0)
        r = sd_bus_message_close_container(m);
    if (r >= 0)
        r = append_options(m, c->o, 0);
    if (r >= 0)
        r = sd_bus_call(c->bus, m, 0, &e, &reply);
    if (r >= 0)
        r = sd_bus_message_read(reply, "t", &c->req);
    sd_bus_message_unref(m);
    sd_bus_message_unref(reply);
    for (int k = 0; k < n_fds; k++)
        close(fds[k]);
    if (r < 0) {
        int code = report(&e, r, "Ask");
        sd_bus_error_free(&e);
        return code;
    }
    return 0;
}

static int on_sigint(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata)
{
    Client *c = userdata;
    if (c->req && !c->cancel_sent) {
        sd_bus_call_method_async(c->bus, NULL, BUS_NAME, c->session, SESSION_IFACE, "Cancel", NULL, NULL, "t",
                                 c->req);
        c->cancel_sent = 1;
        return 0;
    }
    if (c->req || !c->chat || si->ssi_signo == SIGTERM) { /* second Ctrl-C: give up waiting */
        c->exit_code = EXIT_CANCELLED;
        return sd_event_exit(c->ev, 0);
    }
    fputs("\n(Ctrl-D exits)\n", stderr);
    prompt(c);
    return 0;
}

/* Handle the next complete line of chat input, if no answer is running. At EOF with nothing left: exit. */
static void process_input(Client *c)
{
    while (!c->req) {
        char *nl = memchr(c->line, '\n', c->line_len);
        if (!nl) {
            if (c->eof) {
                if (c->line_len == 0) {
                    if (!c->o->json)
                        putchar('\n');
                    c->exit_code = EXIT_OK;
                    sd_event_exit(c->ev, 0);
                    return;
                }
                nl = c->line + c->line_len; /* a last line without newline */
                c->line_len++;
            } else {
                sd_event_source_set_enabled(c->stdin_src, SD_EVENT_ON);
                return;
            }
        }
        *nl = 0;
        char text[sizeof(c->line)];
        snprintf(text, sizeof(text), "%s", c->line);
        size_t rest = c->line_len - (size_t)(nl + 1 - c->line);
        memmove(c->line, nl + 1, rest);
        c->line_len = rest;
        if (!text[0]) {
            prompt(c);
            continue;
        }
        if (!strcmp(text, "/reset")) {
            sd_bus_error e = SD_BUS_ERROR_NULL;
            int r = sd_bus_call_method(c->bus, BUS_NAME, c->session, SESSION_IFACE, "Reset", &e, NULL, "");
            if (r < 0)
                report(&e, r, "Reset");
            sd_bus_error_free(&e);
            fputs("(history cleared)\n", stderr);
            prompt(c);
            continue;
        }
        if (ask(c, text) != 0) {
            prompt(c);
            continue;
        }
        sd_event_source_set_enabled(c->stdin_src, SD_EVENT_OFF); /* one question at a time */
    }
}

static int on_stdin(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
    Client *c = userdata;
    if (c->line_len >= sizeof(c->line) - 1) {
        fprintf(stderr, "myna: line too long (max %zu bytes), dropped\n", sizeof(c->line) - 1);
        c->line_len = 0;
    }
    ssize_t n = read(fd, c->line + c->line_len, sizeof(c->line) - 1 - c->line_len);
    if (n < 0 && errno == EINTR)
        return 0;
    if (n <= 0) {
        c->eof = 1;
        sd_event_source_set_enabled(c->stdin_src, SD_EVENT_OFF);
    } else {
        c->line_len += (size_t)n;
    }
    process_input(c);
    return 0;
}

static int cmd_converse(Opts *o, sd_bus *bus, const char *text, int chat)
{
    Client c;
    sd_bus_error e = SD_BUS_ERROR_NULL;
    sd_bus_message *m = NULL, *reply = NULL;
    sd_bus_slot *slot = NULL;
    sigset_t ss;
    const char *path;
    int r;

    memset(&c, 0, sizeof(c));
    c.o = o;
    c.bus = bus;
    c.chat = chat;
    r = check_state(&c);
    if (r)
        return r;
    r = sd_bus_message_new_method_call(bus, &m, BUS_NAME, OBJ_PATH, IFACE, "CreateSession");
    if (r >= 0)
        r = append_options(m, o, 1);
    if (r >= 0)
        r = sd_bus_call(bus, m, 0, &e, &reply);
    if (r >= 0)
        r = sd_bus_message_read(reply, "o", &path);
    if (r < 0) {
        int code = report(&e, r, "CreateSession");
        sd_bus_error_free(&e);
        sd_bus_message_unref(m);
        sd_bus_message_unref(reply);
        return code;
    }
    snprintf(c.session, sizeof(c.session), "%s", path);
    sd_bus_message_unref(m);
    sd_bus_message_unref(reply);

    r = sd_bus_match_signal(bus, &slot, NULL, c.session, SESSION_IFACE, NULL, on_session_signal, &c);
    if (r >= 0)
        r = sd_event_default(&c.ev);
    if (r >= 0)
        r = sd_bus_attach_event(bus, c.ev, 0);
    sigemptyset(&ss);
    sigaddset(&ss, SIGINT);
    sigaddset(&ss, SIGTERM);
    sigprocmask(SIG_BLOCK, &ss, NULL);
    if (r >= 0)
        r = sd_event_add_signal(c.ev, NULL, SIGINT, on_sigint, &c);
    if (r >= 0)
        r = sd_event_add_signal(c.ev, NULL, SIGTERM, on_sigint, &c);
    if (r < 0) {
        fprintf(stderr, "myna: %s\n", strerror(-r));
        c.exit_code = EXIT_ERROR;
        goto out;
    }
    if (chat) {
        r = sd_event_add_io(c.ev, &c.stdin_src, STDIN_FILENO, EPOLLIN, on_stdin, &c);
        if (r < 0) {
            fprintf(stderr, "myna: cannot read stdin: %s\n", strerror(-r));
            c.exit_code = EXIT_ERROR;
            goto out;
        }
        prompt(&c);
    } else {
        r = ask(&c, text);
        if (r) {
            c.exit_code = r;
            goto out;
        }
    }
    r = sd_event_loop(c.ev);
    if (r < 0 && !c.exit_code)
        c.exit_code = EXIT_ERROR;
out:
    sd_bus_call_method(bus, BUS_NAME, c.session, SESSION_IFACE, "Close", NULL, NULL, "");
    sd_bus_slot_unref(slot);
    sd_event_source_unref(c.stdin_src);
    if (c.ev)
        sd_bus_detach_event(bus);
    sd_event_unref(c.ev);
    free(c.answer);
    json_decref(c.last_stats);
    return c.exit_code;
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
        int code = report(&e, r, "daemon unavailable");
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
        char *s = json_dumps(j, JSON_COMPACT);
        if (s)
            printf("%s\n", s);
        free(s);
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
        int code = report(&e, r, "GetConfig");
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
        char *s = json_dumps(j, JSON_COMPACT);
        if (s)
            printf("%s\n", s);
        free(s);
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

/* ---- speech: transcribe and listen ------------------------------------------------------------------- */

static int append_speech_options(sd_bus_message *m, const Opts *o)
{
    int r = sd_bus_message_open_container(m, 'a', "{sv}");
    if (r >= 0 && o->language)
        r = sd_bus_message_append(m, "{sv}", "language", "s", o->language);
    if (r >= 0 && o->no_timestamps)
        r = sd_bus_message_append(m, "{sv}", "timestamps", "b", 0);
    if (r >= 0)
        r = sd_bus_message_close_container(m);
    return r;
}

#define TRANSCRIBE_TIMEOUT_US (600ULL * 1000000ULL) /* long audio on a slow CPU */

static int cmd_transcribe(const Opts *o, sd_bus *bus, const char *file)
{
    sd_bus_message *m = NULL, *reply = NULL;
    sd_bus_error e = SD_BUS_ERROR_NULL;
    const char *text;
    int fd = !strcmp(file, "-") ? STDIN_FILENO : open(file, O_RDONLY | O_CLOEXEC);
    int r;

    if (fd < 0) {
        fprintf(stderr, "myna: %s: %s\n", file, strerror(errno));
        return EXIT_USAGE;
    }
    r = sd_bus_message_new_method_call(bus, &m, BUS_NAME, OBJ_PATH, IFACE, "Transcribe");
    if (r >= 0)
        r = sd_bus_message_append(m, "h", fd); /* sd-bus sends a dup: the daemon reads the fd, never a path */
    if (r >= 0)
        r = append_speech_options(m, o);
    if (r >= 0)
        r = sd_bus_call(bus, m, TRANSCRIBE_TIMEOUT_US, &e, &reply);
    if (r >= 0)
        r = sd_bus_message_read(reply, "s", &text);
    if (fd != STDIN_FILENO)
        close(fd);
    if (r < 0) {
        int code = report(&e, r, "Transcribe");
        sd_bus_error_free(&e);
        sd_bus_message_unref(m);
        sd_bus_message_unref(reply);
        return code;
    }
    if (o->json) {
        json_t *j = json_pack("{s:s}", "text", text);
        char *t = j ? json_dumps(j, JSON_COMPACT) : NULL;
        if (t)
            printf("%s\n", t);
        free(t);
        json_decref(j);
    } else {
        printf("%s\n", text);
    }
    sd_bus_message_unref(m);
    sd_bus_message_unref(reply);
    return EXIT_OK;
}

/* One utterance as a 16 kHz mono s16le WAV in a memfd (the daemon decodes it like any file), with 0.3 s of
 * silence on each side: Whisper tiny misreads speech that starts on the window's first frame. */
enum { UTT_PAD = VAD_SAMPLE_RATE * 3 / 10 };
static int utterance_memfd(const float *pcm, size_t n)
{
    unsigned char h[44];
    uint32_t data = (uint32_t)((n + 2 * UTT_PAD) * 2), v;
    int fd = memfd_create("myna-utterance", MFD_CLOEXEC);
    if (fd < 0)
        return -errno;
    memcpy(h, "RIFF", 4);
    v = 36 + data;
    memcpy(h + 4, &v, 4); /* little-endian host (x86-64, aarch64) */
    memcpy(h + 8, "WAVEfmt ", 8);
    v = 16;
    memcpy(h + 16, &v, 4);
    uint16_t fmt[2] = {1, 1};
    memcpy(h + 20, fmt, 4);
    v = 16000;
    memcpy(h + 24, &v, 4);
    v = 32000;
    memcpy(h + 28, &v, 4);
    uint16_t ba[2] = {2, 16};
    memcpy(h + 32, ba, 4);
    memcpy(h + 36, "data", 4);
    memcpy(h + 40, &data, 4);
    int ok = write(fd, h, sizeof(h)) == (ssize_t)sizeof(h);
    static const int16_t silence[UTT_PAD];
    ok = ok && write(fd, silence, sizeof(silence)) == (ssize_t)sizeof(silence);
    int16_t buf[4096];
    for (size_t i = 0; ok && i < n; i += 4096) {
        size_t k = n - i < 4096 ? n - i : 4096;
        for (size_t t = 0; t < k; t++) {
            float x = pcm[i + t] * 32768.0f;
            buf[t] = (int16_t)(x > 32767.0f ? 32767 : x < -32768.0f ? -32768 : lrintf(x));
        }
        ok = write(fd, buf, k * 2) == (ssize_t)(k * 2);
    }
    ok = ok && write(fd, silence, sizeof(silence)) == (ssize_t)sizeof(silence);
    if (!ok || lseek(fd, 0, SEEK_SET) < 0) {
        close(fd);
        return -EIO;
    }
    return fd;
}

typedef struct {
    const Opts *o;
    int pending, failed;
    double start_s[64], end_s[64];
    unsigned head, tail;     /* replies come in order (the daemon transcribes one queue in order) */
} Listener;

static int on_transcript(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
    Listener *l = userdata;
    const sd_bus_error *e = sd_bus_message_get_error(m);
    const char *text = "";
    unsigned k = l->head++ % 64;

    l->pending--;
    if (e) {
        fprintf(stderr, "myna: transcription failed: %s (%s)\n", e->message ? e->message : "", e->name);
        l->failed = exit_code_for(e->name);
        return 0;
    }
    if (sd_bus_message_read(m, "s", &text) < 0 || !text[0])
        return 0;
    if (l->o->json) {
        json_t *j = json_pack("{s:f, s:f, s:s}", "start_s", l->start_s[k], "end_s", l->end_s[k], "text", text);
        char *t = j ? json_dumps(j, JSON_COMPACT) : NULL;
        if (t)
            printf("%s\n", t);
        free(t);
        json_decref(j);
    } else {
        printf("%s\n", text);
    }
    fflush(stdout);
    return 0;
}

static volatile sig_atomic_t listen_stop;
static void on_listen_signal(int sig) { (void)sig; listen_stop = 1; }

/* Send samples [start, end) of the stream (hist holds the stream from sample base on) to Transcribe. */
static int send_utterance(sd_bus *bus, Listener *l, const float *hist, int64_t base, int64_t start, int64_t end)
{
    sd_bus_message *m = NULL;
    if (start < base)
        start = base;
    if (end - start < VAD_CHUNK || l->pending >= 63)
        return 0;
    int fd = utterance_memfd(hist + (start - base), (size_t)(end - start));
    if (fd < 0)
        return fd;
    int r = sd_bus_message_new_method_call(bus, &m, BUS_NAME, OBJ_PATH, IFACE, "Transcribe");
    if (r >= 0)
        r = sd_bus_message_append(m, "h", fd);
    if (r >= 0)
        r = append_speech_options(m, l->o);
    if (r >= 0)
        r = sd_bus_call_async(bus, NULL, m, on_transcript, l, TRANSCRIBE_TIMEOUT_US);
    close(fd);
    sd_bus_message_unref(m);
    if (r >= 0) {
        unsigned k = l->tail++ % 64;
        l->start_s[k] = (double)start / VAD_SAMPLE_RATE;
        l->end_s[k] = (double)end / VAD_SAMPLE_RATE;
        l->pending++;
    }
    return r;
}

/* Skip a WAV header (RIFF … "data") when the input has one: the file device reads raw s16le. */
static int open_listen_input(const char *path)
{
    unsigned char h[12], ck[8];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    if (read(fd, h, 12) != 12 || memcmp(h, "RIFF", 4) || memcmp(h + 8, "WAVE", 4))
        return lseek(fd, 0, SEEK_SET) < 0 ? (close(fd), -EIO) : fd;
    while (read(fd, ck, 8) == 8) {
        uint32_t len;
        memcpy(&len, ck + 4, 4);
        if (!memcmp(ck, "fmt ", 4)) {
            unsigned char f[16];
            uint16_t fmt, ch, bits;
            uint32_t rate;
            if (len < 16 || read(fd, f, 16) != 16)
                break;
            memcpy(&fmt, f, 2);
            memcpy(&ch, f + 2, 2);
            memcpy(&rate, f + 4, 4);
            memcpy(&bits, f + 14, 2);
            if (fmt != 1 || ch != 1 || rate != 16000 || bits != 16) {
                close(fd);
                return -EMEDIUMTYPE;
            }
            len -= 16;
        } else if (!memcmp(ck, "data", 4)) {
            return fd;
        }
        if (lseek(fd, (off_t)len + (len & 1), SEEK_CUR) < 0)
            break;
    }
    close(fd);
    return -EBADMSG;
}

static int cmd_listen(const Opts *o, sd_bus *bus)
{
    AudioDeviceConfig dc = {.name = o->device, .sample_rate = VAD_SAMPLE_RATE, .capture = 1, .ring_seconds = 10};
    AudioDevice *dev = NULL;
    Vad *vad = NULL;
    Listener l = {.o = o};
    char err[256] = "", models[4096];
    float *hist = NULL, chunk[VAD_CHUNK];
    size_t hist_len = 0, hist_cap = 0, chunk_len = 0;
    int64_t base = 0, pos = 0, seg_start = -1;
    const int64_t max_utt = 30 * VAD_SAMPLE_RATE, keep = VAD_SAMPLE_RATE; /* 30 s per utterance; 1 s pre-roll */
    int in_fd = -1, r, code = EXIT_OK;
    struct sigaction sa;

    if (o->input) {
        in_fd = open_listen_input(o->input);
        if (in_fd < 0) {
            fprintf(stderr, "myna: %s: %s\n", o->input, in_fd == -EMEDIUMTYPE ? "listen --input needs 16 kHz mono "
                    "16-bit WAV (ffmpeg -i IN -ar 16000 -ac 1 OUT.wav) or raw s16le" : strerror(-in_fd));
            return EXIT_USAGE;
        }
        AudioFileDeviceConfig fc = {.capture_path = NULL, .capture_fd = in_fd, .playback_fd = -1,
                                    .speed = o->speed < 0 ? 1.0 : o->speed};
        r = audio_device_open_file(&dc, &fc, &dev, err, sizeof(err));
    } else {
        r = audio_device_open_portaudio(&dc, &dev, err, sizeof(err));
    }
    if (r < 0) {
        fprintf(stderr, "myna: cannot open the audio input: %s\n", err[0] ? err : strerror(-r));
        if (in_fd >= 0)
            close(in_fd);
        return EXIT_ERROR;
    }
    const char *md = getenv("MYNA_MODELS_DIR"), *xdg = getenv("XDG_DATA_HOME"), *home = getenv("HOME");
    if (md && *md)
        snprintf(models, sizeof(models), "%s", md);
    else if (xdg && *xdg)
        snprintf(models, sizeof(models), "%s/myna/models", xdg);
    else
        snprintf(models, sizeof(models), "%s/.local/share/myna/models", home ? home : "");
    if ((r = vad_new_default(models, NULL, &vad)) < 0 || (r = audio_device_start(dev)) < 0) {
        fprintf(stderr, "myna: cannot start listening: %s\n", strerror(-r));
        code = EXIT_ERROR;
        goto out;
    }
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_listen_signal; /* no SA_RESTART: Ctrl-C ends the wait at once */
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    if (!o->quiet)
        fprintf(stderr, "myna: listening (%s VAD)%s; Ctrl-C stops\n", vad_is_silero(vad) ? "Silero" : "energy",
                o->input ? "" : " — speak");
    while (!listen_stop) {
        int64_t n = audio_device_read(dev, chunk + chunk_len, VAD_CHUNK - chunk_len, 100);
        while (sd_bus_process(bus, NULL) > 0) {
        }
        if (n < 0)
            break; /* -ENODEV: end of the input file, or the device is gone */
        chunk_len += (size_t)n;
        if (chunk_len < VAD_CHUNK)
            continue;
        chunk_len = 0;
        if (hist_len + VAD_CHUNK > hist_cap) {
            size_t cap = hist_cap ? 2 * hist_cap : (size_t)(8 * VAD_SAMPLE_RATE);
            float *nh = realloc(hist, cap * sizeof(float));
            if (!nh) {
                code = EXIT_ERROR;
                break;
            }
            hist = nh;
            hist_cap = cap;
        }
        memcpy(hist + hist_len, chunk, sizeof(chunk));
        hist_len += VAD_CHUNK;
        pos += VAD_CHUNK;
        float p;
        VadEvent ev;
        vad_process(vad, chunk, &p, &ev);
        if (ev.type == VAD_EVENT_START)
            seg_start = ev.sample;
        if (ev.type == VAD_EVENT_END || (seg_start >= 0 && pos - seg_start >= max_utt)) {
            int64_t end = ev.type == VAD_EVENT_END ? ev.sample : pos;
            if (send_utterance(bus, &l, hist, base, seg_start, end < pos ? end : pos) < 0)
                fprintf(stderr, "myna: could not send an utterance\n");
            seg_start = ev.type == VAD_EVENT_END ? -1 : pos;
        }
        /* keep only the open utterance, or a second of pre-roll for the next one's back-dated start */
        int64_t from = seg_start >= 0 ? seg_start : pos - keep;
        if (from - base > (int64_t)(4 * VAD_SAMPLE_RATE)) {
            size_t drop = (size_t)(from - base);
            memmove(hist, hist + drop, (hist_len - drop) * sizeof(float));
            hist_len -= drop;
            base = from;
        }
    }
    if (seg_start >= 0) { /* end of input or Ctrl-C inside an utterance */
        VadEvent ev;
        vad_flush(vad, &ev);
        send_utterance(bus, &l, hist, base, seg_start, ev.type == VAD_EVENT_END && ev.sample < pos ? ev.sample : pos);
    }
    listen_stop = 0;
    while (l.pending > 0 && !listen_stop) { /* the transcripts still on their way; Ctrl-C again gives up */
        r = sd_bus_process(bus, NULL);
        if (r < 0)
            break;
        if (r == 0 && sd_bus_wait(bus, 500000) < 0)
            break;
    }
    if (l.failed)
        code = l.failed;
out:
    audio_device_close(dev);
    if (in_fd >= 0)
        close(in_fd);
    vad_free(vad);
    free(hist);
    return code;
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
    r = connect_bus(&o, &bus);
    if (r < 0) {
        fprintf(stderr, "myna: cannot connect to the %s bus: %s\n",
                o.address ? o.address : o.system_bus ? "system" : "session", strerror(-r));
        free(text);
        return EXIT_UNAVAILABLE;
    }
    if (!strcmp(cmd, "ask"))
        code = cmd_converse(&o, bus, text, 0);
    else if (transcribe_file)
        code = cmd_transcribe(&o, bus, transcribe_file);
    else if (!strcmp(cmd, "listen"))
        code = cmd_listen(&o, bus);
    else if (!strcmp(cmd, "chat"))
        code = cmd_converse(&o, bus, NULL, 1);
    else if (!strcmp(cmd, "config"))
        code = cmd_config(&o, bus);
    else
        code = cmd_status(&o, bus, !strcmp(cmd, "models"));
    sd_bus_flush_close_unref(bus);
    free(text);
    return code;
}
