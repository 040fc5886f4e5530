/* test-daemon-cli.c — the `myna` client against mynad (test:echo engine) on a private bus: streamed
 * answers, --json output, chat with history commands, status/models/config, and the documented exit codes
 * (0 ok, 2 usage, 3 unavailable/no model, 4 cancelled, 5 rejected). */
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "test-util.h"

static char g_myna[1024];

/* Run "myna --address=ADDR ARGS" through the shell with stdin from `printf input` (or nothing); capture
 * stdout. Returns the exit code. */
static int run(const char *addr, const char *args, const char *input, char *out, size_t out_len)
{
    char cmd[4096];
    if (input)
        snprintf(cmd, sizeof(cmd), "printf '%s' | %s --address='%s' %s 2>/dev/null", input, g_myna, addr, args);
    else
        snprintf(cmd, sizeof(cmd), "%s --address='%s' %s 2>/dev/null </dev/null", g_myna, addr, args);
    return harness_sh(cmd, out, out_len);
}

int main(void)
{
    Harness h;
    char out[65536];
    const char *root = getenv("MYNA_BUILD_ROOT");
    snprintf(g_myna, sizeof(g_myna), "%s/clients/myna", root ? root : ".");

    if (harness_start_bus(&h) < 0)
        return 77;
    CHECK_INT(harness_start_daemon(&h, "model = test:echo:10\nmax_prompt_bytes = 100\n", NULL), 0);

    CHECK_INT(run(h.address, "ask hello there", NULL, out, sizeof(out)), 0);
    CHECK(!strcmp(out, "hello there\n"));
    CHECK_INT(run(h.address, "--json ask one two three", NULL, out, sizeof(out)), 0);
    json_error_t je;
    json_t *j = json_loads(out, 0, &je);
    CHECK(j != NULL);
    CHECK(j && !strcmp(json_string_value(json_object_get(j, "text")), "one two three"));
    CHECK(j && !strcmp(json_string_value(json_object_get(j, "reason")), "stop"));
    CHECK(j && json_integer_value(json_object_get(json_object_get(j, "stats"), "generated_tokens")) == 3);
    json_decref(j);
    CHECK_INT(run(h.address, "ask -", "from stdin", out, sizeof(out)), 0);
    CHECK(!strcmp(out, "from stdin\n"));
    CHECK_INT(run(h.address, "chat", "a b\\n/reset\\nc d e\\n", out, sizeof(out)), 0);
    CHECK(strstr(out, "a b\n") && strstr(out, "c d e\n"));
    CHECK_INT(run(h.address, "status", NULL, out, sizeof(out)), 0);
    CHECK(strstr(out, "state: ready") != NULL);
    CHECK_INT(run(h.address, "--json models", NULL, out, sizeof(out)), 0);
    j = json_loads(out, 0, &je);
    CHECK(j && json_is_array(j) && json_array_size(j) == 1);
    json_decref(j);
    CHECK_INT(run(h.address, "config", NULL, out, sizeof(out)), 0);
    CHECK(strstr(out, "max_prompt_bytes = 100") != NULL);

    /* exit codes */
    CHECK_INT(run(h.address, "", NULL, out, sizeof(out)), 2);
    CHECK_INT(run(h.address, "frobnicate", NULL, out, sizeof(out)), 2);
    CHECK_INT(run(h.address, "--temperature=warm ask x", NULL, out, sizeof(out)), 2);
    CHECK_INT(run(h.address, "--max-tokens=0 ask x", NULL, out, sizeof(out)), 5);
    CHECK_INT(run(h.address, "ask aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
                  NULL, out, sizeof(out)), 5);
    CHECK_INT(run("unix:path=/nonexistent/bus", "ask x", NULL, out, sizeof(out)), 3);

    /* Ctrl-C cancels the answer: exit 4 */
    char cmd[2048];
    snprintf(cmd, sizeof(cmd), "--address=%s", h.address);
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open("/dev/null", 1);
        dup2(fd, 1);
        execl(g_myna, g_myna, cmd, "--max-tokens=1000", "ask", "forever", (char *)NULL);
        _exit(127);
    }
    usleep(500000);
    kill(pid, SIGINT);
    int st = 0;
    waitpid(pid, &st, 0);
    CHECK(WIFEXITED(st));
    CHECK_INT(WEXITSTATUS(st), 4);

    /* a daemon without a model: 3 */
    CHECK_INT(harness_stop_daemon(&h), 0);
    CHECK_INT(harness_start_daemon(&h, "", (const char *const[]){"--no-model", NULL}), 0);
    CHECK_INT(run(h.address, "ask x", NULL, out, sizeof(out)), 3);
    CHECK_INT(run(h.address, "status", NULL, out, sizeof(out)), 3);
    CHECK(strstr(out, "state: error") != NULL);
    harness_stop(&h);
    return test_exit();
}
