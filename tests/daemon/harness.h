/* harness.h — daemon test harness: a private dbus-daemon, a mynad on it (from the build tree, with a
 * config written into a temp dir), sd-bus client helpers that collect a request's Token/Finished/Failed
 * signals, and /proc readers (RSS, open fds). Used by tests/daemon/ and bench/soak.c.
 */
#ifndef MYNA_TEST_DAEMON_HARNESS_H
#define MYNA_TEST_DAEMON_HARNESS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <systemd/sd-bus.h>

typedef struct {
    pid_t bus_pid, daemon_pid;
    char address[512];
    char dir[256];       /* temp dir with mynad.conf */
    char mynad[1024];    /* path of the mynad binary */
} Harness;

/* Start dbus-daemon --session --nofork --print-address on a fresh socket. */
int harness_start_bus(Harness *h);
/* The same with a bus configuration that lets every Unix user connect (the socket and its directory are
 * world-accessible): tests with a second user (harness_test_user). */
int harness_start_bus_all_users(Harness *h);
/* uid/gid of the second test user "myna-test2", created with useradd when missing (root only). 0, -EPERM
 * when not root (skip), other negative errno when it cannot be made. */
int harness_test_user(uid_t *uid, gid_t *gid);
/* Write config_text to dir/mynad.conf and start mynad --address=… --config=… plus extra args (NULL-ended);
 * wait (up to 20 s) until it owns org.myna.Assistant1. */
int harness_start_daemon(Harness *h, const char *config_text, const char *const *extra);
/* SIGTERM mynad and wait up to 10 s; returns its exit status (or -1 when it had to be killed). */
int harness_stop_daemon(Harness *h);
void harness_stop(Harness *h); /* daemon, bus, temp dir */
sd_bus *harness_connect(const Harness *h);

long harness_rss_kb(pid_t pid);
int harness_nfds(pid_t pid);
/* The default model path when the file exists (0), else -ENOENT. */
int harness_model_path(char *buf, size_t len);
double harness_now_s(void);
/* Remove trailing newlines and spaces in place. */
void harness_trim(char *s);
/* Run cmd through the shell; its stdout (at most out_len - 1 bytes, NUL-terminated) into out, or read and
 * dropped when out is NULL. Returns the exit status: 128 when it did not exit normally, -1 when it could not
 * be started. */
int harness_sh(const char *cmd, char *out, size_t out_len);
/* Poll the daemon's State until "ready" (0) or "error…" (-1, printed) or timeout_s (-1). */
int harness_wait_ready(sd_bus *b, double timeout_s);

typedef struct {
    char path[128];
    uint64_t id;
    sd_bus_slot *slot;
    char text[65536];
    size_t len;
    int n_tokens;
    int finished, failed;
    char reason[32];
    char error[128], message[256];
    double stats_ttft_ms;
    uint32_t stats_prompt_tokens, stats_generated_tokens;
    uint32_t stats_images_encoded;
    int n_stats;
    double t_done;
    double t_first;      /* harness_now_s() of the first Token */
} Collector;

/* CreateSession with an optional system prompt and max_tokens (0 = not given). */
int hc_create_session(sd_bus *b, const char *system_prompt, uint32_t max_tokens, char *path, size_t path_len,
                      sd_bus_error *e);
/* Watch a session's signals into c (call once per session path before asking). */
int hc_watch(sd_bus *b, Collector *c, const char *path);
/* Ask text with options: max_tokens (0 = not given) and seed; clears c's text, sets c->id. */
int hc_ask(sd_bus *b, Collector *c, const char *text, uint32_t max_tokens, sd_bus_error *e);
/* The same with n attachments (hints[i], fds[i]; the fds stay the caller's). */
int hc_ask_media(sd_bus *b, Collector *c, const char *text, uint32_t max_tokens, const char *const *hints,
                 const int *fds, int n, sd_bus_error *e);
/* Process messages on the given buses until every collector is finished or failed, or timeout_s. */
int hc_wait(sd_bus **buses, Collector **cs, int n, double timeout_s);
int hc_call_simple(sd_bus *b, const char *path, const char *method, uint64_t arg, sd_bus_error *e);
void hc_unwatch(Collector *c);

#endif
