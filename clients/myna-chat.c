/* myna-chat.c — `myna ask` and `myna chat`: CreateSession, Ask with attachments (sent as fds, never
 * paths), the Token/Finished/Failed signals streamed to stdout (or one JSON object per answer), Ctrl-C as
 * Cancel, and chat's line-by-line stdin with /reset. Not here: option parsing (myna.c), speech
 * (myna-listen.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-bus.h>
#include <sys/stat.h>
#include <systemd/sd-event.h>
#include <unistd.h>

#include "myna-client.h"

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
    FILE *wav;               /* --speak -o FILE: the answers' speech, appended (header completed after each) */
    int lm_done, speech_done, lm_code; /* --speak: the request ends with both Finished and SpeakingFinished */
} Client;

/* out_fd (Ask with --speak -o FILE): the WAV's fd as the output, s16le; its file position is shared with
 * the daemon's copy, so the samples follow what is already there. */
static int append_options(sd_bus_message *m, const Opts *o, int session, int out_fd)
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
    if (r >= 0 && !session && o->speak)
        r = sd_bus_message_append(m, "{sv}", "speak", "b", 1);
    if (r >= 0 && !session && o->speak && out_fd >= 0)
        r = sd_bus_message_append(m, "{sv}{sv}", "output", "h", out_fd, "format", "s", "s16le");
    if (r >= 0)
        r = sd_bus_message_close_container(m);
    return r;
}

/* Read State (this also activates the daemon). 0 ready/loading, or an exit code. */
static int check_state(Client *c)
{
    sd_bus_error e = SD_BUS_ERROR_NULL;
    char *state = NULL;
    int r = sd_bus_get_property_string(c->bus, BUS_NAME, OBJ_PATH, IFACE, "State", &e, &state);
    if (r < 0) {
        int code = myna_report(&e, r, "daemon unavailable");
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
    if (c->o->speak && c->req && !(c->lm_done && c->speech_done)) { /* the other half is still coming */
        if (!c->lm_code)
            c->lm_code = code;
        return;
    }
    if (c->lm_code)
        code = c->lm_code;
    c->lm_done = c->speech_done = c->lm_code = 0;
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
            myna_print_json(j);
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
        c->lm_done = 1;
        request_done(c, !strcmp(reason, "cancelled") ? EXIT_CANCELLED : EXIT_OK);
    } else if (!strcmp(member, "SpeakingFinished")) {
        const char *reason = "";
        sd_bus_message_read(m, "s", &reason);
        json_t *st = stats_to_json(m);
        json_int_t rate = json_integer_value(json_object_get(st, "sample_rate"));
        json_decref(st);
        if (c->wav) { /* complete the header over everything written so far, go back to the end */
            fflush(c->wav);
            struct stat sb;
            if (fstat(fileno(c->wav), &sb) == 0 && sb.st_size >= 44 && fseek(c->wav, 0, SEEK_SET) == 0)
                myna_wav_header(c->wav, rate > 0 ? (uint32_t)rate : 22050, (uint64_t)sb.st_size - 44);
            fseek(c->wav, 0, SEEK_END);
            fflush(c->wav);
        }
        if (strcmp(reason, "done") && !c->o->quiet)
            fprintf(stderr, "myna: (speech %s)\n", reason);
        c->speech_done = 1;
        request_done(c, !strcmp(reason, "cancelled") ? EXIT_CANCELLED : EXIT_OK);
    } else if (!strcmp(member, "Failed")) {
        const char *name = "", *msg = "";
        sd_bus_message_read(m, "ss", &name, &msg);
        fprintf(stderr, "\nmyna: request failed: %s (%s)\n", msg, name);
        c->lm_done = c->speech_done = 1; /* no SpeakingFinished is waited for */
        request_done(c, myna_exit_code_for(name));
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
    if (r >= 0 && c->wav)
        fflush(c->wav);
    if (r >= 0)
        r = append_options(m, c->o, 0, c->wav ? fileno(c->wav) : -1);
    if (r >= 0)
        r = sd_bus_call(c->bus, m, 0, &e, &reply);
    if (r >= 0)
        r = sd_bus_message_read(reply, "t", &c->req);
    sd_bus_message_unref(m);
    sd_bus_message_unref(reply);
    for (int k = 0; k < n_fds; k++)
        close(fds[k]);
    if (r < 0) {
        int code = myna_report(&e, r, "Ask");
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
                myna_report(&e, r, "Reset");
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

int myna_cmd_converse(Opts *o, sd_bus *bus, const char *text, int chat)
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
    if (o->speak_out) {
        if (!(c.wav = fopen(o->speak_out, "w+b")) || myna_wav_header(c.wav, 22050, 0) < 0 || fflush(c.wav)) {
            fprintf(stderr, "myna: -o %s: %s\n", o->speak_out, strerror(errno));
            if (c.wav)
                fclose(c.wav);
            return EXIT_ERROR;
        }
    }
    r = sd_bus_message_new_method_call(bus, &m, BUS_NAME, OBJ_PATH, IFACE, "CreateSession");
    if (r >= 0)
        r = append_options(m, o, 1, -1);
    if (r >= 0)
        r = sd_bus_call(bus, m, 0, &e, &reply);
    if (r >= 0)
        r = sd_bus_message_read(reply, "o", &path);
    if (r < 0) {
        int code = myna_report(&e, r, "CreateSession");
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
    if (c.wav && fclose(c.wav) != 0 && !c.exit_code) {
        fprintf(stderr, "myna: -o %s: %s\n", o->speak_out, strerror(errno));
        c.exit_code = EXIT_ERROR;
    }
    return c.exit_code;
}
