/* test-daemon-lifecycle.c — mynad under a service manager (test:echo engine, private buses):
 * 1. systemd watchdog: with NOTIFY_SOCKET and WATCHDOG_USEC set, mynad sends READY=1 and then WATCHDOG=1
 *    every half period (from the loop thread, while the worker's heartbeat is fresh);
 * 2. SIGHUP reload: a reloadable key (max_prompt_bytes) takes effect (GetConfig, and a prompt over the new
 *    limit is TooLarge); a non-reloadable one (threads) keeps its value and is reported as needing a restart
 *    (log line and sd_notify STATUS);
 * 3. D-Bus activation: a private bus whose services dir holds the generated org.myna.Assistant1.service
 *    (Exec pointed at the build tree) starts mynad on demand for `myna status`.
 */
#include <fcntl.h>
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

static int count_notify(int sock, double seconds, const char *what, char *all, size_t all_len)
{
    double t0 = harness_now_s();
    int n = 0;
    while (harness_now_s() - t0 < seconds) {
        char buf[1024];
        ssize_t k = recv(sock, buf, sizeof(buf) - 1, MSG_DONTWAIT);
        if (k <= 0) {
            usleep(10000);
            continue;
        }
        buf[k] = 0;
        n += strstr(buf, what) != NULL;
        if (all && strlen(all) + (size_t)k + 2 < all_len) {
            strcat(all, buf);
            strcat(all, "\n");
        }
    }
    return n;
}

static int get_config_int(sd_bus *b, const char *key)
{
    sd_bus_message *reply = NULL;
    int v = -1;
    if (sd_bus_call_method(b, "org.myna.Assistant1", "/org/myna/Assistant1", "org.myna.Assistant1", "GetConfig",
                           NULL, &reply, "") < 0)
        return -1;
    sd_bus_message_enter_container(reply, 'a', "{sv}");
    while (sd_bus_message_enter_container(reply, 'e', "sv") > 0) {
        const char *k, *contents;
        sd_bus_message_read(reply, "s", &k);
        sd_bus_message_peek_type(reply, NULL, &contents);
        if (!strcmp(k, key) && !strcmp(contents, "i"))
            sd_bus_message_read(reply, "v", "i", &v);
        else
            sd_bus_message_skip(reply, "v");
        sd_bus_message_exit_container(reply);
    }
    sd_bus_message_unref(reply);
    return v;
}

static void test_watchdog_and_reload(const char *build)
{
    Harness h;
    char path[512], log_path[512], conf[600], notes[8192] = "";
    struct sockaddr_un sa = {.sun_family = AF_UNIX};

    if (harness_start_bus(&h) < 0) {
        CHECK(0);
        return;
    }
    snprintf(path, sizeof(path), "%s/notify", h.dir);
    if (strlen(path) >= sizeof(sa.sun_path)) {
        CHECK(0);
        harness_stop(&h);
        return;
    }
    memcpy(sa.sun_path, path, strlen(path) + 1);
    int sock = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    CHECK(sock >= 0 && bind(sock, (struct sockaddr *)&sa, sizeof(sa)) == 0);
    setenv("NOTIFY_SOCKET", path, 1);
    setenv("WATCHDOG_USEC", "400000", 1); /* pings every 0.2 s */
    unsetenv("WATCHDOG_PID");
    /* the daemon's stderr (its log) goes to a file we read back */
    snprintf(log_path, sizeof(log_path), "%s/mynad.log", h.dir);
    int saved = dup(2), logfd = open(log_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    dup2(logfd, 2);
    int r = harness_start_daemon(&h, "model = test:echo\nthreads = 1\nmax_prompt_bytes = 1000\n", NULL);
    dup2(saved, 2);
    close(saved);
    close(logfd);
    unsetenv("NOTIFY_SOCKET");
    unsetenv("WATCHDOG_USEC");
    CHECK_INT(r, 0);

    int pings = count_notify(sock, 1.5, "WATCHDOG=1", notes, sizeof(notes));
    fprintf(stderr, "watchdog pings in 1.5 s: %d\n", pings);
    CHECK(pings >= 4 && pings <= 12);
    CHECK(strstr(notes, "READY=1") != NULL);

    sd_bus *b = harness_connect(&h);
    CHECK(b != NULL);
    CHECK_INT(get_config_int(b, "max_prompt_bytes"), 1000);
    CHECK_INT(get_config_int(b, "threads"), 1);
    snprintf(conf, sizeof(conf), "%s/mynad.conf", h.dir);
    FILE *f = fopen(conf, "w");
    CHECK(f != NULL);
    if (f) {
        fputs("model = test:echo\nthreads = 2\nmax_prompt_bytes = 10\n", f);
        fclose(f);
    }
    notes[0] = 0;
    CHECK_INT(kill(h.daemon_pid, SIGHUP), 0);
    count_notify(sock, 0.6, "RELOADING=1", notes, sizeof(notes));
    CHECK(strstr(notes, "need a restart") != NULL);
    /* sd_notify(3): RELOADING=1 with MONOTONIC_USEC, then READY=1 when the reload is done */
    const char *rl = strstr(notes, "RELOADING=1");
    CHECK(rl != NULL && strstr(rl, "MONOTONIC_USEC=") != NULL && strstr(rl, "READY=1") != NULL);
    CHECK_INT(get_config_int(b, "max_prompt_bytes"), 10);  /* reloadable: applied */
    CHECK_INT(get_config_int(b, "threads"), 1);            /* not reloadable: kept */
    /* the new limit is enforced */
    Collector c;
    char spath[128];
    sd_bus_error e = SD_BUS_ERROR_NULL;
    memset(&c, 0, sizeof(c));
    CHECK(hc_create_session(b, NULL, 0, spath, sizeof(spath), &e) >= 0);
    sd_bus_error_free(&e);
    CHECK(hc_watch(b, &c, spath) >= 0);
    CHECK(hc_ask(b, &c, "this is longer than ten bytes", 4, &e) < 0);
    CHECK(sd_bus_error_has_name(&e, "org.myna.Error.TooLarge"));
    sd_bus_error_free(&e);
    hc_unwatch(&c);
    sd_bus_flush_close_unref(b);
    CHECK_INT(harness_stop_daemon(&h), 0);

    char log[16384] = "";
    FILE *lf = fopen(log_path, "r");
    if (lf) {
        size_t n = fread(log, 1, sizeof(log) - 1, lf);
        log[n] = 0;
        fclose(lf);
    }
    CHECK(strstr(log, "threads changed") && strstr(log, "needs a restart"));
    CHECK(strstr(log, "reload: max_prompt_bytes = 10") != NULL);
    CHECK(strstr(log, "watchdog") != NULL);
    close(sock);
    harness_stop(&h);
    (void)build;
}

static void test_activation(const char *build)
{
    char dir[] = "/tmp/myna-activation-XXXXXX", p[1024], line[4096], svc[8192] = "", out[4096] = "";
    CHECK(mkdtemp(dir) != NULL);
    snprintf(p, sizeof(p), "%s/services", dir);
    mkdir(p, 0700);
    /* the generated activation file, with Exec pointed at the build tree */
    snprintf(p, sizeof(p), "%s/daemon/org.myna.Assistant1.service", build);
    FILE *f = fopen(p, "r");
    CHECK(f != NULL);
    if (!f)
        return;
    int has_name = 0;
    while (fgets(line, sizeof(line), f)) {
        char l2[2048];
        if (!strncmp(line, "Exec=", 5)) {
            snprintf(l2, sizeof(l2), "Exec=%s/daemon/mynad --config=%s/mynad.conf\n", build, dir);
            strcat(svc, l2);
        } else if (strlen(svc) + strlen(line) < sizeof(svc) - 1) {
            has_name |= !strncmp(line, "Name=org.myna.Assistant1", 24);
            strcat(svc, line);
        }
    }
    fclose(f);
    CHECK(has_name);
    snprintf(p, sizeof(p), "%s/services/org.myna.Assistant1.service", dir);
    f = fopen(p, "w");
    fputs(svc, f);
    fclose(f);
    snprintf(p, sizeof(p), "%s/mynad.conf", dir);
    f = fopen(p, "w");
    fputs("model = test:echo\nidle_exit_s = 30\n", f);
    fclose(f);
    snprintf(p, sizeof(p), "%s/bus.conf", dir);
    f = fopen(p, "w");
    fprintf(f, "<!DOCTYPE busconfig PUBLIC \"-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN\" "
               "\"http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd\">\n<busconfig><type>session</type>"
               "<listen>unix:path=%s/bus</listen><servicedir>%s/services</servicedir><policy context=\"default\">"
               "<allow send_destination=\"*\" eavesdrop=\"true\"/><allow eavesdrop=\"true\"/><allow own=\"*\"/>"
               "</policy></busconfig>\n", dir, dir);
    fclose(f);
    char addr[600];
    snprintf(addr, sizeof(addr), "unix:path=%s/bus", dir);
    char cfg_arg[1100];
    snprintf(cfg_arg, sizeof(cfg_arg), "--config-file=%s", p);
    pid_t bus = fork();
    if (bus == 0) {
        setenv("DBUS_SESSION_BUS_ADDRESS", addr, 1);
        int dn = open("/dev/null", O_WRONLY);
        dup2(dn, 2);
        execlp("dbus-daemon", "dbus-daemon", "--nofork", cfg_arg, (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 200; i++) { /* wait for the socket */
        char s[1100];
        snprintf(s, sizeof(s), "%s/bus", dir);
        if (access(s, F_OK) == 0)
            break;
        usleep(20000);
    }
    char cmd[2048];
    snprintf(cmd, sizeof(cmd), "%s/clients/myna --address='%s' status 2>&1", build, addr);
    double t0 = harness_now_s();
    int st = harness_sh(cmd, out, sizeof(out));
    fprintf(stderr, "activation: `myna status` in %.2f s:\n%s", harness_now_s() - t0, out);
    CHECK(st == 0);
    /* activation returns as soon as the name is owned; the model may still be loading on the worker */
    CHECK(strstr(out, "state: ready") != NULL || strstr(out, "state: loading") != NULL);
    for (int i = 0; i < 250 && !strstr(out, "state: ready"); i++) {
        usleep(20000);
        st = harness_sh(cmd, out, sizeof(out));
    }
    CHECK(st == 0);
    CHECK(strstr(out, "state: ready") != NULL);
    /* stop the activated daemon (its pid from the bus) and the bus */
    sd_bus *b = NULL;
    uint32_t pid = 0;
    if (sd_bus_new(&b) >= 0 && sd_bus_set_address(b, addr) >= 0 && sd_bus_set_bus_client(b, 1) >= 0 &&
        sd_bus_start(b) >= 0) {
        sd_bus_message *reply = NULL;
        if (sd_bus_call_method(b, "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
                               "GetConnectionUnixProcessID", NULL, &reply, "s", "org.myna.Assistant1") >= 0)
            sd_bus_message_read(reply, "u", &pid);
        sd_bus_message_unref(reply);
    }
    sd_bus_flush_close_unref(b);
    CHECK(pid > 0);
    if (pid > 0) {
        kill((pid_t)pid, SIGTERM);
        for (int i = 0; i < 250 && kill((pid_t)pid, 0) == 0; i++)
            usleep(20000);
    }
    kill(bus, SIGTERM);
    waitpid(bus, NULL, 0);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
}

int main(void)
{
    const char *root = getenv("MYNA_BUILD_ROOT");
    char build[1024];
    snprintf(build, sizeof(build), "%s", root ? root : ".");
    if (system("command -v dbus-daemon >/dev/null") != 0)
        return 77;
    test_watchdog_and_reload(build);
    test_activation(build);
    return test_exit();
}
