/* harness.c — see harness.h. */
#include "harness.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

double harness_now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void harness_trim(char *s)
{
    size_t n = strlen(s);
    while (n && (s[n - 1] == '\n' || s[n - 1] == ' '))
        s[--n] = 0;
}

int harness_sh(const char *cmd, char *out, size_t out_len)
{
    FILE *p = popen(cmd, "r");
    if (out)
        out[0] = 0;
    if (!p)
        return -1;
    if (out) {
        size_t n = fread(out, 1, out_len - 1, p);
        out[n] = 0;
    } else {
        char buf[4096];
        while (fread(buf, 1, sizeof(buf), p) > 0) {
        }
    }
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

int harness_wait_ready(sd_bus *b, double timeout_s)
{
    double t0 = harness_now_s();
    while (harness_now_s() - t0 < timeout_s) {
        char *s = NULL;
        if (sd_bus_get_property_string(b, "org.myna.Assistant1", "/org/myna/Assistant1", "org.myna.Assistant1",
                                       "State", NULL, &s) >= 0) {
            int ready = !strcmp(s, "ready"), err = !strncmp(s, "error", 5);
            if (err)
                fprintf(stderr, "daemon: %s\n", s);
            free(s);
            if (ready)
                return 0;
            if (err)
                return -1;
        }
        usleep(20000);
    }
    return -1;
}

int harness_start_bus(Harness *h)
{
    int p[2];
    char tmpl[] = "/tmp/myna-test-XXXXXX";

    memset(h, 0, sizeof(*h));
    if (!mkdtemp(tmpl))
        return -errno;
    snprintf(h->dir, sizeof(h->dir), "%s", tmpl);
    const char *root = getenv("MYNA_BUILD_ROOT");
    snprintf(h->mynad, sizeof(h->mynad), "%s/daemon/mynad", root ? root : ".");
    if (pipe2(p, O_CLOEXEC) < 0)
        return -errno;
    h->bus_pid = fork();
    if (h->bus_pid < 0)
        return -errno;
    if (h->bus_pid == 0) {
        dup2(p[1], 3);
        int devnull = open("/dev/null", O_RDWR);
        dup2(devnull, 2); /* "Failed to set fd limit" noise */
        execlp("dbus-daemon", "dbus-daemon", "--session", "--nofork", "--print-address=3", (char *)NULL);
        _exit(127);
    }
    close(p[1]);
    size_t n = 0;
    while (n < sizeof(h->address) - 1) {
        ssize_t k = read(p[0], h->address + n, 1);
        if (k <= 0 || h->address[n] == '\n')
            break;
        n++;
    }
    h->address[n] = 0;
    close(p[0]);
    return n ? 0 : -EIO;
}

int harness_start_bus_all_users(Harness *h)
{
    char tmpl[] = "/tmp/myna-test-XXXXXX", conf[512], sock[400];

    memset(h, 0, sizeof(*h));
    if (!mkdtemp(tmpl))
        return -errno;
    snprintf(h->dir, sizeof(h->dir), "%s", tmpl);
    chmod(h->dir, 0755);
    const char *root = getenv("MYNA_BUILD_ROOT");
    snprintf(h->mynad, sizeof(h->mynad), "%s/daemon/mynad", root ? root : ".");
    snprintf(conf, sizeof(conf), "%s/bus.conf", h->dir);
    snprintf(sock, sizeof(sock), "%s/bus", h->dir);
    FILE *f = fopen(conf, "w");
    if (!f)
        return -errno;
    fprintf(f, "<!DOCTYPE busconfig PUBLIC \"-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN\"\n"
               " \"http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd\">\n"
               "<busconfig><type>session</type><listen>unix:path=%s</listen><auth>EXTERNAL</auth>\n"
               "<policy context=\"default\"><allow user=\"*\"/><allow send_destination=\"*\" eavesdrop=\"true\"/>"
               "<allow eavesdrop=\"true\"/><allow own=\"*\"/></policy></busconfig>\n", sock);
    fclose(f);
    h->bus_pid = fork();
    if (h->bus_pid < 0)
        return -errno;
    if (h->bus_pid == 0) {
        int devnull = open("/dev/null", O_RDWR);
        dup2(devnull, 2);
        umask(0);
        execlp("dbus-daemon", "dbus-daemon", "--nofork", "--config-file", conf, (char *)NULL);
        _exit(127);
    }
    snprintf(h->address, sizeof(h->address), "unix:path=%s", sock);
    for (int i = 0; i < 500; i++) { /* until the socket exists */
        if (access(sock, F_OK) == 0) {
            chmod(sock, 0777);
            return 0;
        }
        usleep(10000);
    }
    return -ETIMEDOUT;
}

int harness_test_user(uid_t *uid, gid_t *gid)
{
    if (geteuid() != 0)
        return -EPERM;
    struct passwd *pw = getpwnam("myna-test2");
    if (!pw) {
        if (harness_sh("useradd --system --no-create-home --shell /usr/sbin/nologin myna-test2 2>&1", NULL, 0))
            return -EIO;
        pw = getpwnam("myna-test2");
    }
    if (!pw)
        return -ENOENT;
    *uid = pw->pw_uid;
    *gid = pw->pw_gid;
    return 0;
}

sd_bus *harness_connect(const Harness *h)
{
    sd_bus *b = NULL;
    if (sd_bus_new(&b) < 0)
        return NULL;
    if (sd_bus_set_address(b, h->address) < 0 || sd_bus_set_bus_client(b, 1) < 0 || sd_bus_start(b) < 0) {
        sd_bus_unref(b);
        return NULL;
    }
    return b;
}

int harness_start_daemon(Harness *h, const char *config_text, const char *const *extra)
{
    char conf[512], addr_arg[600], conf_arg[600];
    const char *argv[32];
    int n = 0;

    snprintf(conf, sizeof(conf), "%s/mynad.conf", h->dir);
    FILE *f = fopen(conf, "w");
    if (!f)
        return -errno;
    fputs(config_text ? config_text : "", f);
    fclose(f);
    snprintf(addr_arg, sizeof(addr_arg), "--address=%s", h->address);
    snprintf(conf_arg, sizeof(conf_arg), "--config=%s", conf);
    argv[n++] = h->mynad;
    argv[n++] = addr_arg;
    argv[n++] = conf_arg;
    for (int i = 0; extra && extra[i] && n < 30; i++)
        argv[n++] = extra[i];
    argv[n] = NULL;
    h->daemon_pid = fork();
    if (h->daemon_pid < 0)
        return -errno;
    if (h->daemon_pid == 0) {
        execv(h->mynad, (char *const *)argv);
        _exit(127);
    }
    sd_bus *b = harness_connect(h);
    if (!b)
        return -ECONNREFUSED;
    double t0 = harness_now_s();
    int r = -ETIMEDOUT;
    while (harness_now_s() - t0 < 20) {
        sd_bus_message *reply = NULL;
        int has = 0;
        if (sd_bus_call_method(b, "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
                               "NameHasOwner", NULL, &reply, "s", "org.myna.Assistant1") >= 0)
            sd_bus_message_read(reply, "b", &has);
        sd_bus_message_unref(reply);
        if (has) {
            r = 0;
            break;
        }
        int status;
        if (waitpid(h->daemon_pid, &status, WNOHANG) == h->daemon_pid) {
            h->daemon_pid = 0;
            r = -ECHILD;
            break;
        }
        usleep(20000);
    }
    sd_bus_flush_close_unref(b);
    return r;
}

int harness_stop_daemon(Harness *h)
{
    int status = 0;
    if (h->daemon_pid <= 0)
        return -1;
    kill(h->daemon_pid, SIGTERM);
    for (int i = 0; i < 1000; i++) {
        if (waitpid(h->daemon_pid, &status, WNOHANG) == h->daemon_pid) {
            h->daemon_pid = 0;
            return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        }
        usleep(10000);
    }
    kill(h->daemon_pid, SIGKILL);
    waitpid(h->daemon_pid, &status, 0);
    h->daemon_pid = 0;
    return -1;
}

void harness_stop(Harness *h)
{
    char conf[512];
    harness_stop_daemon(h);
    if (h->bus_pid > 0) {
        kill(h->bus_pid, SIGTERM);
        waitpid(h->bus_pid, NULL, 0);
        h->bus_pid = 0;
    }
    if (h->dir[0]) {
        static const char *const files[] = {"mynad.conf", "bus.conf", "bus"};
        for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
            snprintf(conf, sizeof(conf), "%s/%s", h->dir, files[i]);
            unlink(conf);
        }
        rmdir(h->dir);
    }
}

long harness_rss_kb(pid_t pid)
{
    char path[64], line[256];
    long kb = -1;
    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    while (fgets(line, sizeof(line), f))
        if (!strncmp(line, "VmRSS:", 6))
            kb = strtol(line + 6, NULL, 10);
    fclose(f);
    return kb;
}

int harness_nfds(pid_t pid)
{
    char path[64];
    int n = 0;
    snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
    DIR *d = opendir(path);
    if (!d)
        return -1;
    struct dirent *e;
    while ((e = readdir(d)))
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

int harness_model_path(char *buf, size_t len)
{
    const char *d = getenv("MYNA_MODELS_DIR"), *xdg = getenv("XDG_DATA_HOME"), *home = getenv("HOME");
    if (d && *d)
        snprintf(buf, len, "%s/SmolLM2-135M-Instruct.Q4_1.gguf", d);
    else if (xdg && *xdg)
        snprintf(buf, len, "%s/myna/models/SmolLM2-135M-Instruct.Q4_1.gguf", xdg);
    else
        snprintf(buf, len, "%s/.local/share/myna/models/SmolLM2-135M-Instruct.Q4_1.gguf", home ? home : "");
    return access(buf, R_OK) == 0 ? 0 : -ENOENT;
}

int hc_create_session(sd_bus *b, const char *system_prompt, uint32_t max_tokens, char *path, size_t path_len,
                      sd_bus_error *e)
{
    sd_bus_message *m = NULL, *reply = NULL;
    const char *p;
    int n = (system_prompt != NULL) + (max_tokens > 0);
    int r = sd_bus_message_new_method_call(b, &m, "org.myna.Assistant1", "/org/myna/Assistant1",
                                           "org.myna.Assistant1", "CreateSession");
    if (r >= 0)
        r = sd_bus_message_open_container(m, 'a', "{sv}");
    if (r >= 0 && system_prompt)
        r = sd_bus_message_append(m, "{sv}", "system_prompt", "s", system_prompt);
    if (r >= 0 && max_tokens)
        r = sd_bus_message_append(m, "{sv}", "max_tokens", "u", max_tokens);
    (void)n;
    if (r >= 0)
        r = sd_bus_message_close_container(m);
    if (r >= 0)
        r = sd_bus_call(b, m, 0, e, &reply);
    if (r >= 0)
        r = sd_bus_message_read(reply, "o", &p);
    if (r >= 0)
        snprintf(path, path_len, "%s", p);
    sd_bus_message_unref(m);
    sd_bus_message_unref(reply);
    return r;
}

static int on_signal(sd_bus_message *m, void *userdata, sd_bus_error *e)
{
    Collector *c = userdata;
    const char *member = sd_bus_message_get_member(m);
    uint64_t id;

    if (!member || sd_bus_message_read(m, "t", &id) < 0 || id != c->id)
        return 0;
    if (!strcmp(member, "Token")) {
        const char *t;
        if (sd_bus_message_read(m, "s", &t) >= 0) {
            size_t n = strlen(t);
            if (c->len + n < sizeof(c->text)) {
                memcpy(c->text + c->len, t, n + 1);
                c->len += n;
            }
            if (c->n_tokens++ == 0)
                c->t_first = harness_now_s();
        }
    } else if (!strcmp(member, "Finished")) {
        const char *reason, *k;
        sd_bus_message_read(m, "s", &reason);
        snprintf(c->reason, sizeof(c->reason), "%s", reason);
        if (sd_bus_message_enter_container(m, 'a', "{sv}") >= 0) {
            while (sd_bus_message_enter_container(m, 'e', "sv") > 0) {
                const char *contents;
                sd_bus_message_read(m, "s", &k);
                sd_bus_message_peek_type(m, NULL, &contents);
                c->n_stats++;
                if (!strcmp(k, "ttft_ms") && !strcmp(contents, "d"))
                    sd_bus_message_read(m, "v", "d", &c->stats_ttft_ms);
                else if (!strcmp(k, "prompt_tokens") && !strcmp(contents, "u"))
                    sd_bus_message_read(m, "v", "u", &c->stats_prompt_tokens);
                else if (!strcmp(k, "generated_tokens") && !strcmp(contents, "u"))
                    sd_bus_message_read(m, "v", "u", &c->stats_generated_tokens);
                else if (!strcmp(k, "images_encoded") && !strcmp(contents, "u"))
                    sd_bus_message_read(m, "v", "u", &c->stats_images_encoded);
                else
                    sd_bus_message_skip(m, "v");
                sd_bus_message_exit_container(m);
            }
        }
        c->finished = 1;
        c->t_done = harness_now_s();
    } else if (!strcmp(member, "Failed")) {
        const char *name, *msg;
        if (sd_bus_message_read(m, "ss", &name, &msg) >= 0) {
            snprintf(c->error, sizeof(c->error), "%s", name);
            snprintf(c->message, sizeof(c->message), "%s", msg);
        }
        c->failed = 1;
        c->t_done = harness_now_s();
    }
    return 0;
}

int hc_watch(sd_bus *b, Collector *c, const char *path)
{
    snprintf(c->path, sizeof(c->path), "%s", path);
    return sd_bus_match_signal(b, &c->slot, NULL, path, "org.myna.Session1", NULL, on_signal, c);
}

void hc_unwatch(Collector *c)
{
    c->slot = sd_bus_slot_unref(c->slot);
}

int hc_ask(sd_bus *b, Collector *c, const char *text, uint32_t max_tokens, sd_bus_error *e)
{
    return hc_ask_media(b, c, text, max_tokens, NULL, NULL, 0, e);
}

int hc_ask_media(sd_bus *b, Collector *c, const char *text, uint32_t max_tokens, const char *const *hints,
                 const int *fds, int n_att, sd_bus_error *e)
{
    sd_bus_message *m = NULL, *reply = NULL;
    int r = sd_bus_message_new_method_call(b, &m, "org.myna.Assistant1", c->path, "org.myna.Session1", "Ask");

    c->len = 0;
    c->text[0] = 0;
    c->n_tokens = c->finished = c->failed = c->n_stats = 0;
    c->t_first = 0;
    c->stats_images_encoded = 0;
    c->reason[0] = c->error[0] = c->message[0] = 0;
    c->id = 0;
    if (r >= 0)
        r = sd_bus_message_append(m, "s", text);
    if (r >= 0)
        r = sd_bus_message_open_container(m, 'a', "(sh)");
    for (int i = 0; r >= 0 && i < n_att; i++)
        r = sd_bus_message_append(m, "(sh)", hints[i], fds[i]);
    if (r >= 0)
        r = sd_bus_message_close_container(m);
    if (r >= 0)
        r = sd_bus_message_open_container(m, 'a', "{sv}");
    if (r >= 0 && max_tokens)
        r = sd_bus_message_append(m, "{sv}", "max_tokens", "u", max_tokens);
    if (r >= 0)
        r = sd_bus_message_append(m, "{sv}", "seed", "t", (uint64_t)42);
    if (r >= 0)
        r = sd_bus_message_close_container(m);
    if (r >= 0)
        r = sd_bus_call(b, m, 0, e, &reply);
    if (r >= 0)
        r = sd_bus_message_read(reply, "t", &c->id);
    sd_bus_message_unref(m);
    sd_bus_message_unref(reply);
    return r;
}

int hc_wait(sd_bus **buses, Collector **cs, int n, double timeout_s)
{
    double t0 = harness_now_s();
    for (;;) {
        int done = 1, progressed = 0;
        for (int i = 0; i < n; i++)
            done &= cs[i]->finished || cs[i]->failed;
        if (done)
            return 0;
        if (harness_now_s() - t0 > timeout_s)
            return -ETIMEDOUT;
        for (int i = 0; i < n; i++) {
            int r;
            while ((r = sd_bus_process(buses[i], NULL)) > 0)
                progressed = 1;
            if (r < 0)
                return r;
        }
        if (!progressed)
            sd_bus_wait(buses[0], 2000); /* short waits: other buses may have traffic too */
    }
}

int hc_call_simple(sd_bus *b, const char *path, const char *method, uint64_t arg, sd_bus_error *e)
{
    if (!strcmp(method, "Cancel"))
        return sd_bus_call_method(b, "org.myna.Assistant1", path, "org.myna.Session1", method, e, NULL, "t", arg);
    return sd_bus_call_method(b, "org.myna.Assistant1", path, "org.myna.Session1", method, e, NULL, "");
}
