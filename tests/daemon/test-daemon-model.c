/* test-daemon-model.c — mynad with the real default model (SmolLM2-135M-Instruct Q4_1; exit 77 when it is
 * not installed or this build has no LM): a greedy answer through D-Bus equals `myna-run --chat` for the
 * same prompt; two clients at once get the same answers they get alone; Cancel stops within one token and
 * the next Ask works; a client killed mid-stream has its request cancelled and RSS returns near baseline. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "test-util.h"

#define Q1 "What is the capital of France?"
#define Q2 "Name three colors."
#define N_TOK 12

static Harness H;

/* myna-run's answer (stdout) for one chat prompt, greedy. */
static int run_reference(const char *model, const char *prompt, char *out, size_t len)
{
    const char *root = getenv("MYNA_BUILD_ROOT");
    char cmd[4096];
    snprintf(cmd, sizeof(cmd), "%s/clients/myna-run -m '%s' --backend cpu --chat -p '%s' -n %d --temp 0 2>/dev/null",
             root ? root : ".", model, prompt, N_TOK);
    int st = harness_sh(cmd, out, len);
    harness_trim(out);
    return st == 0 ? 0 : -1;
}

static int ask_once(sd_bus *b, const char *q, char *out, size_t len)
{
    char p[128];
    Collector c = {0};
    Collector *cs[1] = {&c};
    if (hc_create_session(b, NULL, 0, p, sizeof(p), NULL) < 0)
        return -1;
    hc_watch(b, &c, p);
    int r = hc_ask(b, &c, q, N_TOK, NULL);
    if (r >= 0)
        r = hc_wait(&b, cs, 1, 60);
    snprintf(out, len, "%.8000s", c.text);
    harness_trim(out);
    hc_unwatch(&c);
    hc_call_simple(b, p, "Close", 0, NULL);
    return r < 0 || !c.finished ? -1 : 0;
}

int main(void)
{
    char model[2048], conf[4096], ref1[8192], ref2[8192], got1[8192], got2[8192];
    sd_bus_error e = SD_BUS_ERROR_NULL;

    if (harness_model_path(model, sizeof(model)) < 0) {
        fprintf(stderr, "model not installed (%s): skip\n", model);
        return 77;
    }
    if (harness_start_bus(&H) < 0)
        return 77;
    snprintf(conf, sizeof(conf), "model = %s\nbackend = cpu\nn_ctx = 1024\n", model);
    CHECK_INT(harness_start_daemon(&H, conf, NULL), 0);
    sd_bus *a = harness_connect(&H), *b = harness_connect(&H);
    if (!a || !b || harness_wait_ready(a, 60) < 0) {
        fprintf(stderr, "the daemon could not load the model: skip\n");
        harness_stop(&H);
        return 77;
    }

    /* 1. same text as myna-run */
    CHECK_INT(run_reference(model, Q1, ref1, sizeof(ref1)), 0);
    CHECK_INT(run_reference(model, Q2, ref2, sizeof(ref2)), 0);
    CHECK_INT(ask_once(a, Q1, got1, sizeof(got1)), 0);
    fprintf(stderr, "myna-run: [%s]\nmynad:    [%s]\n", ref1, got1);
    CHECK(strlen(got1) > 0);
    CHECK(!strcmp(ref1, got1));

    /* 2. two clients at once */
    char pa[128], pb[128];
    Collector ca = {0}, cb = {0};
    CHECK(hc_create_session(a, NULL, 0, pa, sizeof(pa), &e) >= 0);
    CHECK(hc_create_session(b, NULL, 0, pb, sizeof(pb), &e) >= 0);
    hc_watch(a, &ca, pa);
    hc_watch(b, &cb, pb);
    CHECK(hc_ask(a, &ca, Q1, N_TOK, &e) >= 0);
    CHECK(hc_ask(b, &cb, Q2, N_TOK, &e) >= 0);
    sd_bus *buses[2] = {a, b};
    Collector *cs[2] = {&ca, &cb};
    CHECK_INT(hc_wait(buses, cs, 2, 60), 0);
    harness_trim(ca.text);
    harness_trim(cb.text);
    CHECK(!strcmp(ca.text, ref1));
    CHECK(!strcmp(cb.text, ref2));
    CHECK(ca.stats_ttft_ms > 0 && ca.stats_prompt_tokens > 5);

    /* 3. cancel within one token, then the next Ask works (same session, history kept) */
    CHECK(hc_ask(a, &ca, "Write a long story about a dragon.", 400, &e) >= 0);
    double t0 = harness_now_s();
    while (ca.n_tokens < 2 && !ca.finished && harness_now_s() - t0 < 30) {
        sd_bus_process(a, NULL);
        sd_bus_wait(a, 10000);
    }
    CHECK(hc_call_simple(a, pa, "Cancel", ca.id, &e) >= 0);
    int at_cancel = ca.n_tokens;
    CHECK_INT(hc_wait(&a, cs, 1, 30), 0);
    CHECK(!strcmp(ca.reason, "cancelled"));
    CHECK(ca.n_tokens - at_cancel <= 2);
    CHECK(hc_ask(a, &ca, "Thanks. What is 2+2?", 8, &e) >= 0);
    CHECK_INT(hc_wait(&a, cs, 1, 30), 0);
    CHECK(ca.finished && ca.n_tokens > 0);

    /* 4. a client killed mid-stream */
    long rss0 = harness_rss_kb(H.daemon_pid);
    for (int round = 0; round < 2; round++) {
        pid_t pid = fork();
        if (pid == 0) {
            sd_bus *k = harness_connect(&H);
            char p[128];
            Collector c = {0};
            if (!k || hc_create_session(k, NULL, 0, p, sizeof(p), NULL) < 0)
                _exit(1);
            hc_watch(k, &c, p);
            hc_ask(k, &c, "Tell me everything about the history of Rome.", 1000, NULL);
            for (;;) { /* wait to be killed */
                sd_bus_process(k, NULL);
                sd_bus_wait(k, 100000);
            }
        }
        usleep(700000);
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
    }
    /* the killed clients' requests are cancelled: a fresh request is not queued behind 2000 tokens */
    CHECK_INT(ask_once(b, Q2, got2, sizeof(got2)), 0);
    CHECK(!strcmp(got2, ref2));
    long rss1 = harness_rss_kb(H.daemon_pid);
    fprintf(stderr, "RSS: %ld kB before kills, %ld kB after\n", rss0, rss1);
    CHECK(rss1 - rss0 < 32 * 1024);

    hc_unwatch(&ca);
    hc_unwatch(&cb);
    sd_bus_flush_close_unref(a);
    sd_bus_flush_close_unref(b);
    CHECK_INT(harness_stop_daemon(&H), 0);
    harness_stop(&H);
    return test_exit();
}
