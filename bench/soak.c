/* soak.c — mynad under churn, and its D-Bus latency. Starts a private dbus-daemon and mynad.
 *
 *   soak [--seconds S] [--clients N] [--model M] [--max-growth-kb K]
 *     N client processes loop for S seconds: connect, create a session, ask, then at random wait for the
 *     answer, Cancel it, or disconnect mid-stream. Every 0.5 s it prints mynad's RSS and open fds. Exit 1
 *     when RSS grew more than K kB (default 8192) between the end of the first second and the end, or the
 *     fd count grew, or the daemon died. Default model: test:echo:2 (no weights).
 *   soak --bench [--model M]
 *     With the real model: time to first token seen by a D-Bus client vs the daemon's own ttft_ms (the
 *     difference is the bus's cost), and aggregate decode tokens/s with 1, 2, 4 concurrent clients.
 * Not a test by itself; tests/daemon runs a short soak as `daemon-soak`.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

static Harness H;

static void client_loop(double seconds, unsigned seed)
{
    double t_end = harness_now_s() + seconds;
    srand(seed);
    while (harness_now_s() < t_end) {
        sd_bus *b = harness_connect(&H);
        char p[128];
        Collector c = {0};
        Collector *cs[1] = {&c};
        if (!b)
            _exit(2);
        if (hc_create_session(b, rand() % 2 ? "be brief" : NULL, 0, p, sizeof(p), NULL) < 0) {
            sd_bus_unref(b);
            usleep(10000);
            continue;
        }
        hc_watch(b, &c, p);
        int mode = rand() % 3;
        if (hc_ask(b, &c, mode == 0 ? "a short answer of several words" : "forever", 5 + (uint32_t)(rand() % 30),
                   NULL) >= 0) {
            if (mode == 0) {
                hc_wait(&b, cs, 1, 10);
            } else {
                int want = 1 + rand() % 5;
                double t0 = harness_now_s();
                while (c.n_tokens < want && !c.finished && !c.failed && harness_now_s() - t0 < 5) {
                    sd_bus_process(b, NULL);
                    sd_bus_wait(b, 5000);
                }
                if (mode == 1) {
                    hc_call_simple(b, p, "Cancel", c.id, NULL);
                    hc_wait(&b, cs, 1, 5);
                    hc_call_simple(b, p, "Close", 0, NULL);
                } /* mode 2: leave without a word */
            }
        }
        hc_unwatch(&c);
        sd_bus_flush_close_unref(b);
    }
    _exit(0);
}

static int soak(double seconds, int n_clients, const char *model, long max_growth_kb)
{
    char conf[4200];
    pid_t kids[64];
    long rss_base = -1, rss = 0;
    int fds_base = -1, fds = 0;

    snprintf(conf, sizeof(conf), "model = %s\nmax_sessions_per_client = 4\nmax_queued_total = 256\n", model);
    if (harness_start_daemon(&H, conf, NULL) < 0) {
        fprintf(stderr, "soak: mynad did not start\n");
        return 1;
    }
    if (n_clients > 64)
        n_clients = 64;
    int fds_start = harness_nfds(H.daemon_pid);
    for (int i = 0; i < n_clients; i++) {
        kids[i] = fork();
        if (kids[i] == 0)
            client_loop(seconds, (unsigned)getpid());
    }
    double t0 = harness_now_s();
    printf("%8s %10s %6s\n", "t_s", "rss_kB", "fds");
    while (harness_now_s() - t0 < seconds) {
        usleep(500000);
        rss = harness_rss_kb(H.daemon_pid);
        fds = harness_nfds(H.daemon_pid);
        printf("%8.1f %10ld %6d\n", harness_now_s() - t0, rss, fds);
        fflush(stdout);
        if (rss_base < 0 && harness_now_s() - t0 >= 1.0)
            rss_base = rss;
        if (rss < 0)
            break;
    }
    for (int i = 0; i < n_clients; i++)
        waitpid(kids[i], NULL, 0);
    usleep(300000); /* let NameOwnerChanged for the last clients arrive */
    rss = harness_rss_kb(H.daemon_pid);
    fds = harness_nfds(H.daemon_pid);
    /* fd baseline: the daemon at rest (bus, eventfd, signalfd, epoll, stdio) */
    sd_bus *b = harness_connect(&H);
    char p[128];
    int alive = b && hc_create_session(b, NULL, 0, p, sizeof(p), NULL) >= 0;
    sd_bus_flush_close_unref(b);
    usleep(200000);
    fds_base = harness_nfds(H.daemon_pid);
    printf("end: rss %ld kB (after 1 s: %ld kB, growth %ld kB), fds %d at start, %d at the end, %d at rest, "
           "daemon %s\n", rss, rss_base, rss - rss_base, fds_start, fds, fds_base, alive ? "serving" : "NOT serving");
    int st = harness_stop_daemon(&H);
    int ok = alive && rss_base > 0 && rss - rss_base <= max_growth_kb && fds_base <= fds_start && st == 0;
    if (!ok)
        fprintf(stderr, "soak: FAILED (exit status of mynad %d)\n", st);
    return ok ? 0 : 1;
}

static int bench(const char *model)
{
    char conf[4200];
    snprintf(conf, sizeof(conf), "model = %s\nbackend = cpu\nn_ctx = 1024\n", model);
    if (harness_start_daemon(&H, conf, NULL) < 0)
        return 1;
    sd_bus *bs[4];
    Collector cs[4];
    Collector *cp[4];
    char paths[4][128];
    for (int i = 0; i < 4; i++) {
        bs[i] = harness_connect(&H);
        memset(&cs[i], 0, sizeof(cs[i]));
        cp[i] = &cs[i];
        if (!bs[i] || hc_create_session(bs[i], NULL, 0, paths[i], sizeof(paths[i]), NULL) < 0)
            return 1;
        hc_watch(bs[i], &cs[i], paths[i]);
    }
    for (int tries = 0; tries < 600; tries++) { /* wait for the model */
        char *s = NULL;
        sd_bus_get_property_string(bs[0], "org.myna.Assistant1", "/org/myna/Assistant1", "org.myna.Assistant1",
                                   "State", NULL, &s);
        int ready = s && !strcmp(s, "ready");
        free(s);
        if (ready)
            break;
        usleep(100000);
    }
    /* TTFT: client-side (Ask sent → first Token processed) vs the daemon's ttft_ms; fresh session each */
    printf("ttft over D-Bus vs inside mynad (same prompt, greedy, 5 runs):\n");
    for (int run = 0; run < 5; run++) {
        hc_call_simple(bs[0], paths[0], "Reset", 0, NULL);
        double t0 = harness_now_s(), t_first = 0;
        if (hc_ask(bs[0], &cs[0], "What is the capital of France?", 8, NULL) < 0)
            return 1;
        while (!cs[0].finished && !cs[0].failed) {
            sd_bus_process(bs[0], NULL);
            if (cs[0].n_tokens > 0 && t_first == 0)
                t_first = harness_now_s();
            sd_bus_wait(bs[0], 1000);
        }
        double client_ms = (t_first - t0) * 1e3;
        printf("  run %d: client %.2f ms, daemon %.2f ms, bus cost %.2f ms\n", run, client_ms, cs[0].stats_ttft_ms,
               client_ms - cs[0].stats_ttft_ms);
    }
    for (int n = 1; n <= 4; n *= 2) {
        double t0 = harness_now_s();
        int tokens = 0;
        for (int i = 0; i < n; i++) {
            hc_call_simple(bs[i], paths[i], "Reset", 0, NULL);
            hc_ask(bs[i], &cs[i], "Write a poem about the sea.", 48, NULL);
        }
        hc_wait(bs, cp, n, 300);
        double dt = harness_now_s() - t0;
        for (int i = 0; i < n; i++)
            tokens += cs[i].n_tokens;
        printf("%d concurrent client(s): %d tokens in %.2f s = %.1f tokens/s aggregate\n", n, tokens, dt,
               tokens / dt);
    }
    for (int i = 0; i < 4; i++) {
        hc_unwatch(&cs[i]);
        sd_bus_flush_close_unref(bs[i]);
    }
    harness_stop_daemon(&H);
    return 0;
}

int main(int argc, char **argv)
{
    double seconds = 10;
    int n_clients = 4, do_bench = 0, r;
    long max_growth_kb = 8192;
    const char *model = NULL;
    char path[2048];

    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--seconds") && i + 1 < argc)
            seconds = atof(argv[++i]);
        else if (!strcmp(argv[i], "--clients") && i + 1 < argc)
            n_clients = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--model") && i + 1 < argc)
            model = argv[++i];
        else if (!strcmp(argv[i], "--max-growth-kb") && i + 1 < argc)
            max_growth_kb = atol(argv[++i]);
        else if (!strcmp(argv[i], "--bench"))
            do_bench = 1;
        else {
            fprintf(stderr, "usage: soak [--seconds S] [--clients N] [--model M] [--max-growth-kb K] | --bench "
                            "[--model M]\n");
            return 2;
        }
    }
    if (!getenv("MYNA_BUILD_ROOT")) { /* the build dir is two levels above this program: build/bench/soak */
        char exe[4096];
        ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
        char *slash;
        exe[n > 0 ? n : 0] = '\0';
        for (int up = 0; up < 2 && (slash = strrchr(exe, '/')); up++)
            *slash = '\0';
        setenv("MYNA_BUILD_ROOT", exe[0] ? exe : ".", 1);
    }
    {
        char mynad[4200];
        snprintf(mynad, sizeof(mynad), "%s/daemon/mynad", getenv("MYNA_BUILD_ROOT"));
        if (access(mynad, X_OK) != 0) {
            fprintf(stderr, "soak: %s not found (set MYNA_BUILD_ROOT to the build directory)\n", mynad);
            return 2;
        }
    }
    if (harness_start_bus(&H) < 0) {
        fprintf(stderr, "soak: cannot start dbus-daemon\n");
        return 77;
    }
    if (do_bench) {
        if (!model) {
            if (harness_model_path(path, sizeof(path)) < 0) {
                fprintf(stderr, "soak --bench: model not installed (%s)\n", path);
                harness_stop(&H);
                return 77;
            }
            model = path;
        }
        r = bench(model);
    } else {
        r = soak(seconds, n_clients, model ? model : "test:echo:2", max_growth_kb);
    }
    harness_stop(&H);
    return r;
}
