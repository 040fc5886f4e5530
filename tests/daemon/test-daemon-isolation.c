/* test-daemon-isolation.c — issue 12, RELIABILITY.md 4 and 4a: no client can stall mynad. A hostile client
 * (this process, root) does its worst while ANOTHER Unix user's client (a forked child running as the test
 * user myna-test2, on a private bus that admits every user) asks a short question five times; the median
 * time to its first token must stay within 2 s, and each hostile request must end with a named error or
 * Cancelled within its deadline:
 *   F0  an image attachment that is a socket which never sends EOF; a video from a pipe held open (Cancel
 *       ends it at once); a silent socket as a Transcribe fd;
 *   F1  20 bus connections of one user each asking (per-user queue and running limits, Busy naming
 *       max_queued_per_user); 4 × 599 s of audio in one Ask (transcribed a window at a time; the watchdog
 *       keeps pinging; the audio budget refuses a second such Ask with Busy naming it; Cancel stops it) —
 *       this part needs Whisper tiny.en and skips without it;
 *   F5  Transcribe on a write-only fd, a pipe's write end, a directory → InvalidArgument at once; Cancel of
 *       another session's request id answers like an unknown id (no AccessDenied) and does not cancel it.
 * Afterwards the daemon's open fds are back to the baseline and its RSS near it. Times go to stderr
 * (docs/PERFORMANCE.md records them). Skips (77) when not root (the second user needs root to create).
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "test-util.h"

static Harness h;
static uid_t g_uid2;
static gid_t g_gid2;
static int g_notify = -1;          /* our NOTIFY_SOCKET (datagrams from mynad) */
static double g_last_ping, g_max_gap;
static char g_tmp[512];

/* Read mynad's sd_notify datagrams; track the longest gap between WATCHDOG=1 pings. */
static void drain_notify(void)
{
    char buf[512];
    ssize_t k;
    while (g_notify >= 0 && (k = recv(g_notify, buf, sizeof(buf) - 1, MSG_DONTWAIT)) > 0) {
        buf[k] = 0;
        if (strstr(buf, "WATCHDOG=1")) {
            double now = harness_now_s();
            if (g_last_ping > 0 && now - g_last_ping > g_max_gap)
                g_max_gap = now - g_last_ping;
            g_last_ping = now;
        }
    }
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* The other user's client: CreateSession, then n times a short Ask; its median time to first token in
 * seconds, or -1. Runs in a child as myna-test2; the parent keeps its own buses moving meanwhile. */
static double victim_ttft(int n, sd_bus **keep, int n_keep)
{
    int p[2];
    double med = -1;

    if (pipe(p) < 0)
        return -1;
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        close(p[0]);
        if (setgroups(0, NULL) < 0 || setgid(g_gid2) < 0 || setuid(g_uid2) < 0)
            _exit(2);
        sd_bus *b = harness_connect(&h);
        sd_bus_error e = SD_BUS_ERROR_NULL;
        Collector c;
        char path[128];
        double t[16], r = -1;
        memset(&c, 0, sizeof(c));
        if (!b || hc_create_session(b, NULL, 0, path, sizeof(path), &e) < 0 || hc_watch(b, &c, path) < 0) {
            fprintf(stderr, "victim: cannot start: %s\n", e.message ? e.message : "connect");
            _exit(3);
        }
        int k = 0;
        for (; k < n && k < 16; k++) {
            double t0 = harness_now_s();
            if (hc_ask(b, &c, "say hi", 4, &e) < 0) {
                fprintf(stderr, "victim: Ask refused: %s\n", e.message);
                break;
            }
            Collector *cs[1] = {&c};
            if (hc_wait(&b, cs, 1, 60) < 0 || !c.finished || c.t_first <= 0) {
                fprintf(stderr, "victim: no answer (%s %s)\n", c.error, c.message);
                break;
            }
            t[k] = c.t_first - t0;
        }
        if (k == n) {
            qsort(t, (size_t)n, sizeof(double), cmp_double);
            r = t[n / 2];
        }
        if (write(p[1], &r, sizeof(r)) < 0)
            _exit(4);
        _exit(0);
    }
    close(p[1]);
    for (;;) {
        struct pollfd pf = {p[0], POLLIN, 0};
        for (int i = 0; i < n_keep; i++)
            while (keep[i] && sd_bus_process(keep[i], NULL) > 0) {
            }
        drain_notify();
        if (poll(&pf, 1, 20) > 0) {
            if (read(p[0], &med, sizeof(med)) != sizeof(med))
                med = -1;
            break;
        }
    }
    close(p[0]);
    waitpid(pid, NULL, 0);
    return med;
}

/* Process the buses until c ends or timeout_s; returns seconds waited, or -1 on timeout. */
static double wait_end(sd_bus *b, Collector *c, double timeout_s)
{
    double t0 = harness_now_s();
    while (!c->finished && !c->failed) {
        if (harness_now_s() - t0 > timeout_s)
            return -1;
        while (sd_bus_process(b, NULL) > 0) {
        }
        drain_notify();
        sd_bus_wait(b, 20000);
    }
    return harness_now_s() - t0;
}

static int ask_one(sd_bus *b, Collector *c, const char *text, uint32_t max_tokens, const char *hint, int fd,
                   sd_bus_error *e)
{
    const char *hints[1] = {hint};
    int fds[1] = {fd};
    return hc_ask_media(b, c, text, max_tokens, hints, fds, fd >= 0, e);
}

static char g_reply[128];
static double g_t_reply;

static int on_reply(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
    const sd_bus_error *e = sd_bus_message_get_error(m);
    snprintf(g_reply, sizeof(g_reply), "%s", e && e->name ? e->name : "ok");
    if (e && e->message)
        fprintf(stderr, "  (%s)\n", e->message);
    g_t_reply = harness_now_s();
    return 0;
}

static int transcribe_error(sd_bus *b, int fd, char *name, size_t name_len)
{
    sd_bus_error e = SD_BUS_ERROR_NULL;
    sd_bus_message *reply = NULL;
    int r = sd_bus_call_method(b, "org.myna.Assistant1", "/org/myna/Assistant1", "org.myna.Assistant1",
                               "Transcribe", &e, &reply, "ha{sv}", fd, 0);
    snprintf(name, name_len, "%s", r < 0 && e.name ? e.name : "ok");
    if (r < 0 && e.message)
        fprintf(stderr, "  Transcribe: %s: %s\n", e.name, e.message);
    sd_bus_error_free(&e);
    sd_bus_message_unref(reply);
    return r;
}

/* A 16 kHz mono 16-bit WAV of n_s seconds of silence. */
static int write_silence(const char *path, int n_s)
{
    uint32_t data = (uint32_t)n_s * 16000u * 2u;
    uint8_t hdr[44] = {'R', 'I', 'F', 'F', 0, 0, 0, 0, 'W', 'A', 'V', 'E', 'f', 'm', 't', ' ', 16, 0, 0, 0, 1, 0, 1, 0,
                       0x80, 0x3e, 0, 0, 0, 0x7d, 0, 0, 2, 0, 16, 0, 'd', 'a', 't', 'a'};
    uint32_t riff = data + 36;
    memcpy(hdr + 4, &riff, 4);
    memcpy(hdr + 40, &data, 4);
    FILE *f = fopen(path, "wb");
    if (!f)
        return -errno;
    fwrite(hdr, 1, sizeof(hdr), f);
    static uint8_t zeros[32000]; /* one second */
    for (int i = 0; i < n_s; i++)
        fwrite(zeros, 1, sizeof(zeros), f);
    fclose(f);
    return 0;
}

static int whisper_installed(void)
{
    char p[1024];
    const char *d = getenv("MYNA_MODELS_DIR"), *home = getenv("HOME");
    if (d && *d)
        snprintf(p, sizeof(p), "%s/whisper-tiny.en", d);
    else
        snprintf(p, sizeof(p), "%s/.local/share/myna/models/whisper-tiny.en", home ? home : "");
    return access(p, R_OK) == 0;
}

int main(void)
{
    sd_bus_error e = SD_BUS_ERROR_NULL;
    char name[128], path[128], path2[128];
    Collector c, c2;
    int r = harness_test_user(&g_uid2, &g_gid2);

    if (r == -EPERM) {
        fprintf(stderr, "SKIP: needs root to run a second Unix user\n");
        return 77;
    }
    CHECK_INT(r, 0);
    if (r < 0)
        return test_exit();
    CHECK_INT(harness_start_bus_all_users(&h), 0);
    /* the watchdog: mynad pings our socket every second while the worker shows progress */
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/notify", h.dir) >= (int)sizeof(sa.sun_path))
        return 1;
    g_notify = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    CHECK(g_notify >= 0 && bind(g_notify, (struct sockaddr *)&sa, sizeof(sa)) == 0);
    setenv("NOTIFY_SOCKET", sa.sun_path, 1);
    setenv("WATCHDOG_USEC", "2000000", 1);
    /* MYNA_ISOLATION_MODEL: another language model for the measurements in docs/PERFORMANCE.md (the image and
     * video parts need test:vision and are skipped then) */
    const char *model = getenv("MYNA_ISOLATION_MODEL");
    int vision = !model || !*model;
    char conf[4600];
    snprintf(conf, sizeof(conf), "model = %s\nintake_item_s = 3\nintake_request_s = 5\n"
             "max_queued_audio_s_per_user = 3600\nmax_sessions_per_user = 32\nthreads = 2\n",
             vision ? "test:vision:5" : model);
    r = harness_start_daemon(&h, conf, NULL);
    unsetenv("NOTIFY_SOCKET");
    unsetenv("WATCHDOG_USEC");
    CHECK_INT(r, 0);
    if (r < 0) {
        harness_stop(&h);
        return test_exit();
    }
    sd_bus *a = harness_connect(&h);
    CHECK(a != NULL);
    CHECK_INT(harness_wait_ready(a, 20), 0);
    memset(&c, 0, sizeof(c));
    memset(&c2, 0, sizeof(c2));
    CHECK(hc_create_session(a, NULL, 0, path, sizeof(path), &e) >= 0);
    CHECK(hc_watch(a, &c, path) >= 0);

    double alone = victim_ttft(5, &a, 1);
    fprintf(stderr, "other user's TTFT alone: median %.1f ms\n", alone * 1e3);
    CHECK(alone >= 0 && alone <= 2.0);
    if (whisper_installed()) { /* the speech model loads on first use and stays: part of the baseline */
        snprintf(g_tmp, sizeof(g_tmp), "%s/short.wav", h.dir);
        CHECK_INT(write_silence(g_tmp, 1), 0);
        int sfd = open(g_tmp, O_RDONLY | O_CLOEXEC);
        CHECK(transcribe_error(a, sfd, name, sizeof(name)) >= 0);
        close(sfd);
        unlink(g_tmp);
    }
    int fds0 = harness_nfds(h.daemon_pid);
    long rss0 = harness_rss_kb(h.daemon_pid);

    int sv[2], pp[2];
    double t0, med;
    if (vision) {
        /* F0: an image attachment that is a socket which never sends EOF */
        CHECK_INT(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
        CHECK(send(sv[0], "\x89PNG", 4, 0) == 4);
        t0 = harness_now_s();
        CHECK(ask_one(a, &c, "what is this?", 8, "image/png", sv[1], &e) >= 0);
        med = victim_ttft(5, &a, 1);
        fprintf(stderr, "F0 never-closing socket image: other user's TTFT median %.1f ms\n", med * 1e3);
        CHECK(med >= 0 && med <= 2.0);
        CHECK(wait_end(a, &c, 10) >= 0);
        fprintf(stderr, "  hostile request: %s after %.1f s: %s\n", c.error, harness_now_s() - t0, c.message);
        CHECK(c.failed && !strcmp(c.error, "org.myna.Error.TooLarge") && strstr(c.message, "intake_item_s"));
        CHECK(harness_now_s() - t0 <= 3 + 3);
        close(sv[0]);
        close(sv[1]);

        /* F0: a video from a pipe whose writer stays; Cancel ends it at once, not at the deadline */
        CHECK_INT(pipe2(pp, O_CLOEXEC), 0);
        CHECK(write(pp[1], "RIFF", 4) == 4);
        CHECK(ask_one(a, &c, "and this?", 8, "video/mp4", pp[0], &e) >= 0);
        usleep(300000);
        t0 = harness_now_s();
        CHECK(hc_call_simple(a, path, "Cancel", c.id, &e) >= 0);
        CHECK(wait_end(a, &c, 5) >= 0);
        fprintf(stderr, "F0 pipe video cancelled: %s %s after %.0f ms\n", c.reason, c.error, (harness_now_s() - t0) * 1e3);
        CHECK(c.finished && !strcmp(c.reason, "cancelled"));
        CHECK(harness_now_s() - t0 < 1.0);
        close(pp[0]);
        close(pp[1]);
    }

    /* F1: a silent socket as the Transcribe fd (async: the reply comes at the deadline) */
    CHECK_INT(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    g_reply[0] = 0;
    CHECK(sd_bus_call_method_async(a, NULL, "org.myna.Assistant1", "/org/myna/Assistant1", "org.myna.Assistant1",
                                   "Transcribe", on_reply, NULL, "ha{sv}", sv[1], 0) >= 0);
    t0 = harness_now_s();
    med = victim_ttft(5, &a, 1);
    fprintf(stderr, "F1 silent socket Transcribe: other user's TTFT median %.1f ms\n", med * 1e3);
    CHECK(med >= 0 && med <= 2.0);
    while (!g_reply[0] && harness_now_s() - t0 < 10) {
        while (sd_bus_process(a, NULL) > 0) {
        }
        sd_bus_wait(a, 20000);
    }
    fprintf(stderr, "  hostile Transcribe after %.1f s: %s\n", g_t_reply - t0, g_reply);
    CHECK(!strcmp(g_reply, "org.myna.Error.TooLarge") && g_t_reply - t0 <= 3 + 3);
    close(sv[0]);
    close(sv[1]);

    /* F5: fds that cannot be read are refused at the call */
    snprintf(g_tmp, sizeof(g_tmp), "%s/wo.wav", h.dir);
    int wo = open(g_tmp, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    CHECK(wo >= 0);
    transcribe_error(a, wo, name, sizeof(name));
    CHECK(!strcmp(name, "org.myna.Error.InvalidArgument"));
    close(wo);
    unlink(g_tmp);
    CHECK_INT(pipe2(pp, O_CLOEXEC), 0);
    t0 = harness_now_s();
    transcribe_error(a, pp[1], name, sizeof(name));
    CHECK(!strcmp(name, "org.myna.Error.InvalidArgument") && harness_now_s() - t0 < 1.0);
    close(pp[0]);
    close(pp[1]);
    int dfd = open(h.dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    transcribe_error(a, dfd, name, sizeof(name));
    CHECK(!strcmp(name, "org.myna.Error.InvalidArgument"));
    close(dfd);

    /* F5: Cancel of another session's request: answered like an unknown id, and it keeps running */
    sd_bus *a2 = harness_connect(&h);
    CHECK(a2 != NULL);
    CHECK(hc_create_session(a2, NULL, 0, path2, sizeof(path2), &e) >= 0);
    CHECK(hc_ask(a, &c, "forever", 60, &e) >= 0);
    r = hc_call_simple(a2, path2, "Cancel", c.id, &e);
    CHECK(r >= 0);
    if (r < 0)
        fprintf(stderr, "  Cancel of another's id: %s\n", e.name);
    sd_bus_error_free(&e);
    CHECK(wait_end(a, &c, 20) >= 0);
    CHECK(c.finished && strcmp(c.reason, "cancelled") && (!vision || c.n_tokens == 60));

    /* F1: 20 connections of one user, each asking for a long answer */
    enum { NC = 20 };
    sd_bus *many[NC];
    Collector mc[NC];
    int accepted = 0, busy = 0;
    for (int i = 0; i < NC; i++) {
        char p[128];
        memset(&mc[i], 0, sizeof(mc[i]));
        many[i] = harness_connect(&h);
        CHECK(many[i] != NULL);
        if (!many[i] || hc_create_session(many[i], NULL, 0, p, sizeof(p), &e) < 0 || hc_watch(many[i], &mc[i], p) < 0)
            continue;
        if (hc_ask(many[i], &mc[i], "forever", 4000, &e) >= 0) {
            accepted++;
        } else {
            busy += sd_bus_error_has_name(&e, "org.myna.Error.Busy") && strstr(e.message, "max_queued_per_user");
            sd_bus_error_free(&e);
        }
    }
    fprintf(stderr, "F1 20 connections: %d accepted, %d Busy (max_queued_per_user)\n", accepted, busy);
    CHECK(accepted == 8 && busy == NC - 8);
    med = victim_ttft(5, many, NC);
    fprintf(stderr, "F1 20 connections: other user's TTFT median %.1f ms\n", med * 1e3);
    CHECK(med >= 0 && med <= 2.0);
    for (int i = 0; i < NC; i++) { /* leaving the bus cancels their work */
        hc_unwatch(&mc[i]);
        sd_bus_flush_close_unref(many[i]);
    }
    /* the daemon hears of the 20 departures from the bus (NameOwnerChanged): until then they still count */
    for (int i = 0; i < 100; i++) {
        CHECK(hc_ask(a, &c, "ping", 2, &e) >= 0 || sd_bus_error_has_name(&e, "org.myna.Error.Busy"));
        int ok = !sd_bus_error_is_set(&e);
        sd_bus_error_free(&e);
        if (ok) {
            CHECK(wait_end(a, &c, 10) >= 0);
            break;
        }
        usleep(50000);
    }

    /* F1: 4 × 599 s of audio in one Ask (needs Whisper) */
    if (whisper_installed()) {
        const char *hints[4] = {"audio/wav", "audio/wav", "audio/wav", "audio/wav"};
        int afd[4];
        snprintf(g_tmp, sizeof(g_tmp), "%s/long.wav", h.dir);
        CHECK_INT(write_silence(g_tmp, 599), 0);
        for (int i = 0; i < 4; i++)
            afd[i] = open(g_tmp, O_RDONLY | O_CLOEXEC);
        g_last_ping = 0;
        g_max_gap = 0;
        r = hc_ask_media(a, &c, "what was said?", 8, hints, afd, 4, &e);
        CHECK(r >= 0);
        if (r < 0)
            fprintf(stderr, "  4 × 599 s Ask refused: %s %s\n", e.name, e.message);
        sd_bus_error_free(&e);
        /* a second such Ask of the same user is over the audio budget (2 × 2396 s > 3600 s) */
        CHECK(hc_create_session(a, NULL, 0, path2, sizeof(path2), &e) >= 0);
        CHECK(hc_watch(a, &c2, path2) >= 0);
        CHECK(hc_ask_media(a, &c2, "and this?", 8, hints, afd, 4, &e) >= 0);
        /* both decode at once; whichever is admitted second is over the budget */
        t0 = harness_now_s();
        while (!c.failed && !c2.failed && harness_now_s() - t0 < 60) {
            while (sd_bus_process(a, NULL) > 0) {
            }
            drain_notify();
            sd_bus_wait(a, 20000);
        }
        Collector *refused = c.failed ? &c : &c2, *running = c.failed ? &c2 : &c;
        fprintf(stderr, "F1 second 4 × 599 s Ask: %s: %s\n", refused->error, refused->message);
        CHECK(refused->failed && !strcmp(refused->error, "org.myna.Error.Busy") &&
              strstr(refused->message, "max_queued_audio_s_per_user"));
        const char *run_path = running == &c ? path : path2;
        usleep(1500000); /* transcription under way */
        med = victim_ttft(5, &a, 1);
        fprintf(stderr, "F1 4 × 599 s audio: other user's TTFT median %.1f ms; longest watchdog gap %.2f s\n",
                med * 1e3, g_max_gap);
        CHECK(med >= 0 && med <= 2.0);
        CHECK(!running->finished && !running->failed); /* still transcribing: it was not simply refused */
        t0 = harness_now_s();
        CHECK(hc_call_simple(a, run_path, "Cancel", running->id, &e) >= 0);
        CHECK(wait_end(a, running, 10) >= 0);
        fprintf(stderr, "  cancelled after %.0f ms: %s %s\n", (harness_now_s() - t0) * 1e3, running->reason,
                running->error);
        CHECK(running->finished && !strcmp(running->reason, "cancelled"));
        /* pings every 1 s (WATCHDOG_USEC 2 s); the gap is seen when this process reads the datagram, so
         * 0.5 s for its own scheduling on a loaded machine */
        CHECK(g_max_gap > 0 && g_max_gap <= 2.0 + 0.5);
        for (int i = 0; i < 4; i++)
            close(afd[i]);
        unlink(g_tmp);
    } else {
        fprintf(stderr, "(4 × 599 s audio part skipped: Whisper tiny.en is not installed)\n");
    }

    /* back to the baseline: every hostile fd closed, memory returned */
    for (int i = 0; i < 100 && harness_nfds(h.daemon_pid) > fds0; i++) {
        while (sd_bus_process(a, NULL) > 0) {
        }
        usleep(50000);
    }
    int fds1 = harness_nfds(h.daemon_pid);
    long rss1 = harness_rss_kb(h.daemon_pid);
    for (int i = 0; i < 20; i++) { /* the last frees may still be under way on the worker */
        long r1 = harness_rss_kb(h.daemon_pid);
        fprintf(stderr, "  rss %ld kB\n", r1);
        rss1 = r1 < rss1 ? r1 : rss1;
        usleep(100000);
    }
    fprintf(stderr, "daemon fds %d → %d, RSS %ld → %ld kB\n", fds0, fds1, rss0, rss1);
    CHECK_INT(fds1, fds0);
    CHECK(rss1 <= rss0 + 48 * 1024);
    double after = victim_ttft(5, &a, 1);
    CHECK(after >= 0 && after <= 2.0);

    hc_unwatch(&c);
    hc_unwatch(&c2);
    sd_bus_flush_close_unref(a2);
    sd_bus_flush_close_unref(a);
    CHECK_INT(harness_stop_daemon(&h), 0);
    unlink(sa.sun_path);
    close(g_notify);
    harness_stop(&h);
    return test_exit();
}
