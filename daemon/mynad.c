/* mynad.c — the Myna daemon's program: main() → run(): parse arguments, load the configuration, block
 * signals, build the sd-event loop (bus, signalfd for SIGTERM/SIGINT/SIGHUP, the worker's eventfd), start
 * the inference worker (it loads the model), connect the bus, add the objects, request the bus name LAST,
 * loop, tear down in reverse. SIGTERM/SIGINT finish cleanly (running requests get Failed(Cancelled));
 * SIGHUP reloads the reloadable configuration keys. Under systemd with WatchdogSec the loop pings
 * WATCHDOG=1 while the worker's heartbeat is fresh (service_watchdog_start).
 * Not here: the D-Bus objects (service.c), inference (worker.c), the configuration table (mynad-config.c).
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-daemon.h>
#include <systemd/sd-event.h>

#include "bus-open.h"
#include "config.h"
#include "log.h"
#include "mynad-config.h"
#include "service.h"
#include "worker.h"

typedef struct {
    const char *config_file;   /* --config */
    int system_bus, no_model, print_config;
    const char *address;       /* --address */
    int argc;                  /* the --key=value overrides, reapplied on SIGHUP */
    char **argv;
} Args;

typedef struct {
    Args args;
    Service svc;
    int service_up;
} Daemon;

static void usage(FILE *f)
{
    fprintf(f,
            "Usage: mynad [OPTIONS] [--KEY=VALUE...]\n"
            "The Myna assistant daemon: serves org.myna.Assistant1 on D-Bus (docs/DBUS.md).\n\n"
            "  --config=FILE       configuration file (default: $XDG_CONFIG_HOME/myna/mynad.conf, then\n"
            "                      /etc/myna/mynad.conf)\n"
            "  --system            use the system bus (default: the session bus)\n"
            "  --address=ADDRESS   connect to this D-Bus address instead\n"
            "  --no-model          do not load a model (State \"error\", Ask answers NoModel)\n"
            "  --print-config      print the effective configuration and exit\n"
            "  --version           print the version and exit\n"
            "  --help              this text\n\n"
            "Configuration keys (in the file as `key = value`, or here as --key=value):\n");
    config_print_help(f);
}

/* Returns 0 to run, 1 to exit successfully, -EINVAL on a usage error (already reported). */
static int parse_args(int argc, char **argv, Args *a)
{
    memset(a, 0, sizeof(*a));
    a->argv = calloc((size_t)argc + 1, sizeof(char *));
    if (!a->argv)
        return -ENOMEM;
    for (int i = 1; i < argc; i++) {
        const char *s = argv[i];
        if (!strcmp(s, "--help") || !strcmp(s, "-h")) {
            usage(stdout);
            return 1;
        } else if (!strcmp(s, "--version")) {
            printf("mynad %s\n", MYNA_VERSION);
            return 1;
        } else if (!strcmp(s, "--system")) {
            a->system_bus = 1;
        } else if (!strcmp(s, "--no-model")) {
            a->no_model = 1;
        } else if (!strcmp(s, "--print-config")) {
            a->print_config = 1;
        } else if (!strncmp(s, "--address=", 10)) {
            a->address = s + 10;
        } else if (!strncmp(s, "--config=", 9)) {
            a->config_file = s + 9;
        } else if (!strcmp(s, "--config") && i + 1 < argc) {
            a->config_file = argv[++i];
        } else if (!strncmp(s, "--", 2) && strchr(s, '=')) {
            a->argv[a->argc++] = argv[i];
        } else {
            fprintf(stderr, "mynad: unknown argument '%s' (try --help)\n", s);
            return -EINVAL;
        }
    }
    return 0;
}

/* Defaults, then the file, then the overrides. err: one readable line. */
static int load_config(const Args *a, Config *c, char *err, size_t err_len)
{
    char path[CONFIG_STR_MAX];
    const char *file = a->config_file;
    int r;

    config_defaults(c);
    if (!file)
        file = config_default_path(path, sizeof(path));
    if (file) {
        r = config_load_file(c, file, err, err_len);
        if (r < 0)
            return r;
    }
    for (int i = 0; i < a->argc; i++) {
        char key[128], msg[256];
        const char *s = a->argv[i] + 2, *eq = strchr(s, '=');
        size_t n = (size_t)(eq - s);
        if (n >= sizeof(key))
            return err_set(err, err_len, -EINVAL, "%s: option name too long", a->argv[i]);
        memcpy(key, s, n);
        key[n] = 0;
        for (char *k = key; *k; k++) /* --max-tokens-limit works as well as --max_tokens_limit */
            if (*k == '-')
                *k = '_';
        r = config_set(c, key, eq + 1, msg, sizeof(msg));
        if (r < 0)
            return err_set(err, err_len, r, "%s: %s", a->argv[i], msg);
    }
    return 0;
}

static void apply_log_level(const Config *c)
{
    if (getenv("MYNA_LOG"))
        return; /* the environment wins, for debugging */
    log_set_level(!strcmp(c->log_level, "error") ? LOG_LEVEL_ERROR : !strcmp(c->log_level, "warn") ? LOG_LEVEL_WARN
                  : !strcmp(c->log_level, "debug") ? LOG_LEVEL_DEBUG : LOG_LEVEL_INFO);
}

static int on_signal(sd_event_source *src, const struct signalfd_siginfo *si, void *userdata)
{
    Daemon *d = userdata;

    if (si->ssi_signo == SIGHUP) {
        Config next;
        char err[512];
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        /* sd_notify(3): RELOADING=1 with the monotonic time, then READY=1 once the reload is done */
        sd_notifyf(0, "RELOADING=1\nMONOTONIC_USEC=%llu",
                   (unsigned long long)ts.tv_sec * 1000000ULL + (unsigned long long)ts.tv_nsec / 1000ULL);
        int r = load_config(&d->args, &next, err, sizeof(err));
        if (r < 0) {
            log_error("reload failed, keeping the old configuration: %s", err);
            sd_notify(0, "READY=1");
            return 0;
        }
        if (d->service_up)
            service_reload(&d->svc, &next);
        apply_log_level(&next);
        sd_notify(0, "READY=1");
        return 0;
    }
    log_info("signal %d: shutting down", (int)si->ssi_signo);
    sd_notify(0, "STOPPING=1");
    return sd_event_exit(sd_event_source_get_event(src), 0);
}

static int run(int argc, char **argv)
{
    Daemon d;
    Config cfg;
    WorkerConfig wc;
    sd_event *ev = NULL;
    sd_bus *bus = NULL;
    Worker *w = NULL;
    sigset_t ss;
    char err[512];
    const char *step = "?"; /* what run() was doing, for the one log line of a startup failure */
    int r;

    memset(&d, 0, sizeof(d));
    r = parse_args(argc, argv, &d.args);
    if (r != 0) {
        free(d.args.argv);
        return r > 0 ? 0 : 2;
    }
    r = load_config(&d.args, &cfg, err, sizeof(err));
    if (r < 0) {
        fprintf(stderr, "mynad: %s\n", err);
        free(d.args.argv);
        return 2;
    }
    if (d.args.print_config) {
        config_print(&cfg, stdout);
        free(d.args.argv);
        return 0;
    }
    apply_log_level(&cfg);

    sigemptyset(&ss);
    sigaddset(&ss, SIGTERM);
    sigaddset(&ss, SIGINT);
    sigaddset(&ss, SIGHUP);
    sigaddset(&ss, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &ss, NULL); /* before any thread starts: the worker inherits the mask */

    step = "creating the event loop";
    r = sd_event_default(&ev);
    if (r < 0)
        goto fail_msg;
    step = "adding the signal handlers";
    r = sd_event_add_signal(ev, NULL, SIGTERM, on_signal, &d);
    if (r >= 0)
        r = sd_event_add_signal(ev, NULL, SIGINT, on_signal, &d);
    if (r >= 0)
        r = sd_event_add_signal(ev, NULL, SIGHUP, on_signal, &d);
    if (r < 0)
        goto fail_msg;

    memset(&wc, 0, sizeof(wc));
    config_model_path(&cfg, wc.model_path, sizeof(wc.model_path));
    snprintf(wc.backend, sizeof(wc.backend), "%s", cfg.backend);
    wc.threads = cfg.threads;
    wc.n_ctx = cfg.n_ctx;
    wc.mmap = cfg.mmap;
    config_whisper_path(&cfg, wc.whisper_path, sizeof(wc.whisper_path));
    log_info("mynad %s: model %s, backend %s", MYNA_VERSION, d.args.no_model ? "(none)" : wc.model_path, wc.backend);
    step = "starting the inference worker";
    r = worker_start(&wc, d.args.no_model, &w);
    if (r < 0)
        goto fail_msg;

    r = bus_open(d.args.address, d.args.system_bus, &bus);
    if (r < 0) {
        log_error("cannot connect to the %s bus: %s", d.args.address ? d.args.address
                  : d.args.system_bus ? "system" : "session", strerror(-r));
        goto fail;
    }
    step = "attaching the bus to the event loop";
    r = sd_bus_attach_event(bus, ev, SD_EVENT_PRIORITY_NORMAL);
    if (r < 0)
        goto fail_msg;
    step = "registering the D-Bus objects and the decode pool";
    r = service_init(&d.svc, ev, bus, w, &cfg);
    d.service_up = 1; /* also when it failed half-way: service_done undoes what was set up */
    if (r < 0)
        goto fail_msg;
    r = sd_bus_request_name(bus, MYNA_BUS_NAME, 0); /* last: clients may call as soon as we own it */
    if (r < 0) {
        log_error("cannot own %s: %s (is another mynad running?)", MYNA_BUS_NAME, strerror(-r));
        goto fail;
    }
    step = "starting the watchdog timer";
    r = service_watchdog_start(&d.svc);
    if (r < 0)
        goto fail_msg;
    sd_notify(0, "READY=1\nSTATUS=serving " MYNA_BUS_NAME);
    log_info("serving %s", MYNA_BUS_NAME);

    step = "running the event loop";
    r = sd_event_loop(ev);
    if (r < 0)
        goto fail_msg;
    r = 0;
    goto out;

fail_msg:
    log_error("mynad: %s failed: %s", step, strerror(-r));
fail:
    r = -1;
out:
    /* reverse order: give the name up, stop the worker (it fails what was queued or running with
     * Cancelled), deliver that to the owners, close the sessions, flush the bus */
    if (bus && d.service_up)
        sd_bus_release_name(bus, MYNA_BUS_NAME);
    if (d.service_up)
        service_begin_shutdown(&d.svc); /* nothing more to the worker once it stops */
    worker_stop(w);
    if (d.service_up) {
        service_flush_events(&d.svc);
        service_done(&d.svc);
    }
    if (bus) {
        sd_bus_flush(bus);
        sd_bus_detach_event(bus);
    }
    sd_bus_flush_close_unref(bus);
    worker_free(w);
    sd_event_unref(ev);
    free(d.args.argv);
    return r < 0 ? 1 : 0;
}

int main(int argc, char **argv)
{
    return run(argc, argv);
}
