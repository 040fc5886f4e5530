/* test-daemon-api.c — mynad's D-Bus behaviour on a private bus with the deterministic test:echo engine
 * (no model file needed): streaming, stats, two clients, ownership (AccessDenied), Cancel within one token,
 * Reset, limits (Busy, TooLarge), hostile arguments (named errors, daemon keeps serving), a client that
 * leaves mid-stream (its session and request go away), context overflow, clean SIGTERM. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "test-util.h"

#define DEST "org.myna.Assistant1"

static Harness H;

static const char *err_of(sd_bus *b, const char *path, const char *method, const char *sig, ...)
{
    static char name[256];
    sd_bus_error e = SD_BUS_ERROR_NULL;
    sd_bus_message *m = NULL, *reply = NULL;
    va_list ap;
    const char *iface = strcmp(path, "/org/myna/Assistant1") ? "org.myna.Session1" : "org.myna.Assistant1";
    int r = sd_bus_message_new_method_call(b, &m, DEST, path, iface, method);
    if (r >= 0 && sig) {
        va_start(ap, sig);
        r = sd_bus_message_appendv(m, sig, ap);
        va_end(ap);
    }
    if (r >= 0)
        r = sd_bus_call(b, m, 0, &e, &reply);
    snprintf(name, sizeof(name), "%s", r >= 0 ? "ok" : e.name ? e.name : "?");
    if (r < 0 && e.message)
        fprintf(stderr, "  %s → %s: %s\n", method, e.name, e.message);
    sd_bus_error_free(&e);
    sd_bus_message_unref(m);
    sd_bus_message_unref(reply);
    return name;
}

static void test_stream_and_two_clients(void)
{
    sd_bus *a = harness_connect(&H), *b = harness_connect(&H);
    Collector ca = {0}, cb = {0};
    char pa[128], pb[128];
    sd_bus_error e = SD_BUS_ERROR_NULL;

    CHECK(a && b);
    CHECK(hc_create_session(a, NULL, 0, pa, sizeof(pa), &e) >= 0);
    CHECK(hc_create_session(b, NULL, 0, pb, sizeof(pb), &e) >= 0);
    CHECK(strcmp(pa, pb) != 0);
    hc_watch(a, &ca, pa);
    hc_watch(b, &cb, pb);
    CHECK(hc_ask(a, &ca, "the quick brown fox jumps", 0, &e) >= 0);
    CHECK(hc_ask(b, &cb, "over the lazy dog", 0, &e) >= 0);
    CHECK(ca.id != cb.id);
    sd_bus *buses[2] = {a, b};
    Collector *cs[2] = {&ca, &cb};
    CHECK_INT(hc_wait(buses, cs, 2, 10), 0);
    CHECK(ca.finished && cb.finished);
    CHECK(!strcmp(ca.text, "the quick brown fox jumps"));
    CHECK(!strcmp(cb.text, "over the lazy dog"));
    CHECK_INT(ca.n_tokens, 5);
    CHECK(!strcmp(ca.reason, "stop"));
    CHECK(ca.n_stats >= 5);
    CHECK_INT(ca.stats_generated_tokens, 5);
    CHECK(ca.stats_prompt_tokens > 0);
    CHECK(ca.stats_ttft_ms > 0);

    /* ownership: b may not use a's session */
    CHECK(!strcmp(err_of(b, pa, "Ask", "sa(sh)a{sv}", "hi", 0, 0), "org.myna.Error.AccessDenied"));
    CHECK(!strcmp(err_of(b, pa, "Cancel", "t", ca.id), "org.myna.Error.AccessDenied"));
    CHECK(!strcmp(err_of(b, pa, "Reset", NULL), "org.myna.Error.AccessDenied"));
    CHECK(!strcmp(err_of(b, pa, "Close", NULL), "org.myna.Error.AccessDenied"));
    /* a's session still works after b's attempts; follow-up turn in the same session */
    CHECK(hc_ask(a, &ca, "still mine", 0, &e) >= 0);
    CHECK_INT(hc_wait(buses, cs, 1, 10), 0);
    CHECK(!strcmp(ca.text, "still mine"));
    /* b's signals never reached a: a's collector only saw its own request ids (checked by id) */
    CHECK(!strcmp(err_of(a, pa, "Reset", NULL), "ok"));
    CHECK(!strcmp(err_of(a, pa, "Close", NULL), "ok"));
    CHECK(!strcmp(err_of(a, pa, "Reset", NULL), "org.freedesktop.DBus.Error.UnknownObject"));
    hc_unwatch(&ca);
    hc_unwatch(&cb);
    sd_bus_flush_close_unref(a);
    sd_bus_flush_close_unref(b);
}

static void test_cancel(void)
{
    sd_bus *a = harness_connect(&H);
    Collector c = {0};
    char p[128];
    sd_bus_error e = SD_BUS_ERROR_NULL;
    Collector *cs[1] = {&c};

    CHECK(hc_create_session(a, NULL, 0, p, sizeof(p), &e) >= 0);
    hc_watch(a, &c, p);
    CHECK(hc_ask(a, &c, "forever", 1000, &e) >= 0);
    /* let a few tokens stream */
    double t0 = harness_now_s();
    while (c.n_tokens < 3 && harness_now_s() - t0 < 5) {
        sd_bus_process(a, NULL);
        sd_bus_wait(a, 10000);
    }
    CHECK(c.n_tokens >= 3);
    CHECK(!strcmp(err_of(a, p, "Cancel", "t", c.id), "ok"));
    int at_cancel = c.n_tokens; /* tokens processed before the Cancel reply */
    CHECK_INT(hc_wait(&a, cs, 1, 5), 0);
    CHECK(c.finished);
    CHECK(!strcmp(c.reason, "cancelled"));
    /* 20 ms per token: at most the token being decoded plus one already queued on the bus */
    CHECK(c.n_tokens - at_cancel <= 2);
    fprintf(stderr, "  cancel: %d tokens before, %d after\n", at_cancel, c.n_tokens - at_cancel);
    /* Cancel of a finished request is not an error; an id never issued is */
    CHECK(!strcmp(err_of(a, p, "Cancel", "t", c.id), "ok"));
    CHECK(!strcmp(err_of(a, p, "Cancel", "t", (uint64_t)1 << 60), "org.myna.Error.InvalidArgument"));
    /* the next Ask works */
    CHECK(hc_ask(a, &c, "after cancel", 0, &e) >= 0);
    CHECK_INT(hc_wait(&a, cs, 1, 5), 0);
    CHECK(!strcmp(c.text, "after cancel"));
    /* max_tokens ends with reason length */
    CHECK(hc_ask(a, &c, "forever", 3, &e) >= 0);
    CHECK_INT(hc_wait(&a, cs, 1, 5), 0);
    CHECK(!strcmp(c.reason, "length"));
    CHECK_INT(c.n_tokens, 3);
    hc_unwatch(&c);
    sd_bus_flush_close_unref(a);
}

static void test_hostile(void)
{
    sd_bus *a = harness_connect(&H);
    char p[128], big[3000];
    sd_bus_error e = SD_BUS_ERROR_NULL;
    const char *o = "/org/myna/Assistant1";

    CHECK(hc_create_session(a, NULL, 0, p, sizeof(p), &e) >= 0);
    CHECK(!strcmp(err_of(a, p, "Ask", "s", "wrong signature"), "org.freedesktop.DBus.Error.InvalidArgs"));
    CHECK(!strcmp(err_of(a, p, "Ask", "sa(sh)a{sv}", "x", 0, 1, "temperature", "d", NAN),
                  "org.myna.Error.InvalidArgument"));
    CHECK(!strcmp(err_of(a, p, "Ask", "sa(sh)a{sv}", "x", 0, 1, "temperature", "d", INFINITY),
                  "org.myna.Error.InvalidArgument"));
    CHECK(!strcmp(err_of(a, p, "Ask", "sa(sh)a{sv}", "x", 0, 1, "temperature", "s", "hot"),
                  "org.myna.Error.InvalidArgument"));
    CHECK(!strcmp(err_of(a, p, "Ask", "sa(sh)a{sv}", "x", 0, 1, "max_tokens", "i", -5),
                  "org.myna.Error.InvalidArgument"));
    CHECK(!strcmp(err_of(a, p, "Ask", "sa(sh)a{sv}", "x", 0, 1, "max_tokens", "u", 1000000000u),
                  "org.myna.Error.TooLarge"));
    CHECK(!strcmp(err_of(a, p, "Ask", "sa(sh)a{sv}", "x", 0, 1, "top_p", "d", 0.0), "org.myna.Error.InvalidArgument"));
    CHECK(!strcmp(err_of(a, p, "Ask", "sa(sh)a{sv}", "x", 0, 1, "no_such_key", "b", 1),
                  "org.myna.Error.InvalidArgument"));
    CHECK(!strcmp(err_of(a, p, "Ask", "sa(sh)a{sv}", "", 0, 0), "org.myna.Error.InvalidArgument"));
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = 0;
    CHECK(!strcmp(err_of(a, p, "Ask", "sa(sh)a{sv}", big, 0, 0), "org.myna.Error.TooLarge"));
    int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    CHECK(!strcmp(err_of(a, p, "Ask", "sa(sh)a{sv}", "see this", 1, "image/png", fd, 0),
                  "org.myna.Error.UnsupportedMedia"));
    close(fd);
    CHECK(!strcmp(err_of(a, o, "CreateSession", "a{sv}", 1, "speak", "s", "yes"), "org.myna.Error.InvalidArgument"));
    CHECK(!strcmp(err_of(a, o, "CreateSession", "a{sv}", 1, "voice", "s", "x"), "org.myna.Error.InvalidArgument"));
    CHECK(!strcmp(err_of(a, o, "CreateSession", "a{sv}", 1, "system_prompt", "u", 3),
                  "org.myna.Error.InvalidArgument"));
    CHECK(!strcmp(err_of(a, o, "CreateSession", "a{sv}", 1, "bogus", "s", "x"), "org.myna.Error.InvalidArgument"));
    CHECK(!strcmp(err_of(a, o, "CreateSession", "s", "x"), "org.freedesktop.DBus.Error.InvalidArgs"));
    /* still serving */
    Collector c = {0};
    Collector *cs[1] = {&c};
    hc_watch(a, &c, p);
    CHECK(hc_ask(a, &c, "still alive", 0, &e) >= 0);
    CHECK_INT(hc_wait(&a, cs, 1, 5), 0);
    CHECK(!strcmp(c.text, "still alive"));
    /* context overflow (n_ctx = 200 in the config): Failed TooLarge before any token */
    char words[2000] = "";
    for (int i = 0; i < 250; i++)
        strcat(words, "w ");
    CHECK(hc_ask(a, &c, words, 0, &e) >= 0);
    CHECK_INT(hc_wait(&a, cs, 1, 5), 0);
    CHECK(c.failed);
    CHECK(!strcmp(c.error, "org.myna.Error.TooLarge"));
    CHECK_INT(c.n_tokens, 0);
    /* intake (issue 12): a pipe is read to its end, then decoded (10 bytes of junk → UnsupportedMedia); a 2 MiB
     * file is over this user's max_intake_mb_per_user (1 in the config) → Busy naming it */
    int pp[2];
    CHECK_INT(pipe2(pp, O_CLOEXEC), 0);
    CHECK(write(pp[1], "0123456789", 10) == 10);
    close(pp[1]);
    const char *hint[1] = {"audio/wav"};
    CHECK(hc_ask_media(a, &c, "", 0, hint, &pp[0], 1, &e) >= 0);
    CHECK_INT(hc_wait(&a, cs, 1, 10), 0);
    fprintf(stderr, "junk from a pipe: %s: %s\n", c.error, c.message);
    CHECK(c.failed && !strcmp(c.error, "org.myna.Error.UnsupportedMedia") && strstr(c.message, "attachment 1"));
    close(pp[0]);
    char tmp[] = "/tmp/myna-test-big-XXXXXX";
    int big_fd = mkstemp(tmp);
    CHECK(big_fd >= 0 && ftruncate(big_fd, 2 << 20) == 0);
    unlink(tmp);
    CHECK(hc_ask_media(a, &c, "", 0, hint, &big_fd, 1, &e) >= 0);
    CHECK_INT(hc_wait(&a, cs, 1, 10), 0);
    fprintf(stderr, "2 MiB with max_intake_mb_per_user 1: %s: %s\n", c.error, c.message);
    CHECK(c.failed && !strcmp(c.error, "org.myna.Error.Busy") && strstr(c.message, "max_intake_mb_per_user"));
    close(big_fd);
    hc_unwatch(&c);
    sd_bus_flush_close_unref(a);
}

static void test_limits_and_disconnect(void)
{
    sd_bus *a = harness_connect(&H), *b = harness_connect(&H);
    char p[128], p2[128], pb[128];
    sd_bus_error e = SD_BUS_ERROR_NULL;
    Collector c1 = {0}, c2 = {0}, cb = {0};

    /* max_sessions_per_client = 3 */
    char extra[3][128];
    CHECK(hc_create_session(a, NULL, 0, p, sizeof(p), &e) >= 0);
    CHECK(hc_create_session(a, NULL, 0, p2, sizeof(p2), &e) >= 0);
    CHECK(hc_create_session(a, NULL, 0, extra[0], sizeof(extra[0]), &e) >= 0);
    CHECK(!strcmp(err_of(a, "/org/myna/Assistant1", "CreateSession", "a{sv}", 0), "org.myna.Error.Busy"));
    /* max_queued_per_client = 2 */
    hc_watch(a, &c1, p);
    hc_watch(a, &c2, p2);
    CHECK(hc_ask(a, &c1, "forever", 4000, &e) >= 0);
    CHECK(hc_ask(a, &c2, "forever", 4000, &e) >= 0);
    CHECK(!strcmp(err_of(a, p, "Ask", "sa(sh)a{sv}", "one more", 0, 0), "org.myna.Error.Busy"));
    /* b is served while a's two requests run (token-level interleaving; max_running_per_user 3) */
    CHECK(hc_create_session(b, NULL, 0, pb, sizeof(pb), &e) >= 0);
    hc_watch(b, &cb, pb);
    CHECK(hc_ask(b, &cb, "served meanwhile", 0, &e) >= 0);
    Collector *cs[1] = {&cb};
    CHECK_INT(hc_wait(&b, cs, 1, 5), 0);
    CHECK(!strcmp(cb.text, "served meanwhile"));
    /* a leaves mid-stream: its sessions disappear, its requests are cancelled (b can ask again at once) */
    hc_unwatch(&c1);
    hc_unwatch(&c2);
    sd_bus_flush_close_unref(a);
    double t0 = harness_now_s();
    const char *r = "";
    while (harness_now_s() - t0 < 5) {
        r = err_of(b, p, "Reset", NULL);
        if (strcmp(r, "org.myna.Error.AccessDenied"))
            break;
        usleep(20000);
    }
    CHECK(!strcmp(r, "org.freedesktop.DBus.Error.UnknownObject"));
    CHECK(hc_ask(b, &cb, "after a left", 0, &e) >= 0);
    CHECK_INT(hc_wait(&b, cs, 1, 5), 0);
    CHECK(!strcmp(cb.text, "after a left"));
    hc_unwatch(&cb);
    sd_bus_flush_close_unref(b);
}

static void test_properties(void)
{
    sd_bus *a = harness_connect(&H);
    char *s = NULL;
    sd_bus_error e = SD_BUS_ERROR_NULL;
    sd_bus_message *reply = NULL;

    CHECK_INT(harness_wait_ready(a, 10), 0); /* the name is owned before the worker has loaded (even test:echo) */
    CHECK(sd_bus_get_property_string(a, DEST, "/org/myna/Assistant1", "org.myna.Assistant1", "State", &e, &s) >= 0);
    CHECK(s && !strcmp(s, "ready"));
    free(s);
    s = NULL;
    CHECK(sd_bus_get_property_string(a, DEST, "/org/myna/Assistant1", "org.myna.Assistant1", "Version", &e, &s) >= 0);
    CHECK(s && strlen(s) > 0);
    free(s);
    CHECK(sd_bus_call_method(a, DEST, "/org/myna/Assistant1", "org.myna.Assistant1", "GetConfig", &e, &reply, "") >= 0);
    int n = 0, saw_limit = 0;
    sd_bus_message_enter_container(reply, 'a', "{sv}");
    while (sd_bus_message_enter_container(reply, 'e', "sv") > 0) {
        const char *k;
        sd_bus_message_read(reply, "s", &k);
        if (!strcmp(k, "max_queued_per_client")) {
            int32_t v = 0;
            sd_bus_message_read(reply, "v", "i", &v);
            saw_limit = v == 2;
        } else {
            sd_bus_message_skip(reply, "v");
        }
        sd_bus_message_exit_container(reply);
        n++;
    }
    CHECK(n >= 15);
    CHECK(saw_limit);
    sd_bus_message_unref(reply);
    sd_bus_flush_close_unref(a);
}

int main(void)
{
    static const char conf[] = "# test config\nmodel = test:echo:20\nn_ctx = 200\nmax_prompt_bytes = 2048\n"
                               "max_sessions_per_client = 3\nmax_queued_per_client = 2\nmax_tokens_limit = 5000\n"
                               /* both connections are this one Unix user: let all three requests run at once
                                * (the per-user limits are test-daemon-isolation's) */
                               "max_running_per_user = 3\nmax_intake_mb_per_user = 1\n";
    int r = harness_start_bus(&H);
    if (r < 0) {
        fprintf(stderr, "cannot start dbus-daemon: %s\n", strerror(-r));
        return 77;
    }
    r = harness_start_daemon(&H, conf, NULL);
    CHECK_INT(r, 0);
    if (r == 0) {
        test_properties();
        test_stream_and_two_clients();
        test_cancel();
        test_hostile();
        test_limits_and_disconnect();
        long rss = harness_rss_kb(H.daemon_pid);
        CHECK(rss > 0);
        CHECK_INT(harness_stop_daemon(&H), 0); /* SIGTERM: clean exit 0 */
    }
    harness_stop(&H);
    return test_exit();
}
